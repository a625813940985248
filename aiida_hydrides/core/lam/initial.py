"""The first frames of a system that has no model: prototypes and random structures, pristine and rattled.

Concurrent learning needs an ensemble to start from. For a system without one (no pretrained model covers its
elements, no labels exist), the loop starts as DP-GEN's ``init`` step does: a few hundred small cells near the
structures of interest, labelled with DFT, and an ensemble trained on them from scratch
(``hydrides.lam.concurrent`` without models, ``docs/concurrent_learning.md``). This module chooses those cells,
without AiiDA:

- for every composition of the exploration and every pressure of the window, the **prototype seeds** of the
  structure search (:func:`aiida_hydrides.core.search.seeding.prototype_seeds` with ``known``: element substitution
  into every known hydride prototype of the table whose ratio fits, ordered derivatives for two metals; a metal on its
  own in its fcc cell), then **random symmetric structures** of the search's own
  generator (:class:`aiida_hydrides.core.search.generator.RandomStructureGenerator`), all scaled to the search's
  volume model at that pressure;
- each structure **pristine** and in ``rattles`` **rattled copies** (Gaussian displacements of ``rattle_sigma`` Å and
  a random strain of up to ``strain``), so that the labels hold forces and stresses away from equilibrium;
- the (composition, pressure) groups take turns in a seeded random order (the elements, the references of every
  formation enthalpy, first), one structure (with its copies) each, the
  prototype seeds up to half of ``max_frames``, then the random structures, then prototypes again while room is
  left: the known structure types and random cells share the labels, and every composition and pressure gets its
  share before any gets more.

Deterministic for a seed: each group draws from its own random stream, so the frames of one group do not depend on
the others (only on which of them the cap keeps).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.seed_configs import random_stream

__all__ = ('INITIAL_ORIGINS', 'InitialFrameSettings', 'frame_limits', 'initial_frames')

#: where a frame's structure comes from (``info['origin']``)
INITIAL_ORIGINS = ('prototype', 'ordering', 'random')
#: rattled frames may come this much closer than the search's distance limits allow
RATTLE_LIMIT_SCALE = 0.9


@dataclasses.dataclass(frozen=True)
class InitialFrameSettings:
    """How the first frames of a system are chosen (see the module docstring)."""

    #: random symmetric structures per composition and pressure (after its prototype seeds)
    random: int = 2
    #: include the prototype seeds of each composition
    prototypes: bool = True
    #: rattled copies of each structure, besides the structure itself
    rattles: int = 2
    #: standard deviation of the Gaussian displacements of a rattled copy (Å)
    rattle_sigma: float = 0.1
    #: largest component of the random symmetric strain of a rattled copy
    strain: float = 0.03
    #: largest cell (atoms); compositions whose formula unit is larger are left out
    max_atoms: int = 12
    #: frames in all (the labels of the first iteration)
    max_frames: int = 100

    def __post_init__(self):
        for name in ('random', 'rattles'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise HydridesInputError(f'initial frames: {name} must be a whole number >= 0, got {value!r}')
        for name in ('max_atoms', 'max_frames'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise HydridesInputError(f'initial frames: {name} must be a whole number >= 1, got {value!r}')
        if not isinstance(self.prototypes, bool):
            raise HydridesInputError(f'initial frames: prototypes must be true or false, got {self.prototypes!r}')
        if not self.prototypes and not self.random:
            raise HydridesInputError('initial frames: with prototypes false, random must be at least 1')
        if not 0 < float(self.rattle_sigma) <= 0.5:
            raise HydridesInputError(f'initial frames: rattle_sigma must be in (0, 0.5] Å, got {self.rattle_sigma!r}')
        if not 0 <= float(self.strain) <= 0.2:
            raise HydridesInputError(f'initial frames: strain must be in [0, 0.2], got {self.strain!r}')

    @classmethod
    def from_parameters(cls, parameters: Mapping | None) -> InitialFrameSettings:
        """The settings of a parameters dictionary; unknown keys are refused, naming them."""
        parameters = dict(parameters or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise HydridesInputError(f'initial frames: unknown parameters {unknown}; known: {sorted(known)}')
        return cls(**parameters)


def _rattled(atoms, rng: np.random.Generator, settings: InitialFrameSettings, limits, attempts: int = 20):
    """A copy of ``atoms`` strained and rattled within the distance limits ``limits`` (the displacements shrink on
    each failed attempt); ``None`` when none fits."""
    from aiida_hydrides.core.search.distances import satisfies_limits

    sigma = float(settings.rattle_sigma)
    for _ in range(attempts):
        copy = atoms.copy()
        strain = rng.uniform(-settings.strain, settings.strain, size=(3, 3))
        strain = 0.5 * (strain + strain.T)
        copy.set_cell(copy.cell.array @ (np.eye(3) + strain), scale_atoms=True)
        copy.positions += rng.normal(0.0, sigma, size=copy.positions.shape)
        copy.wrap()
        if satisfies_limits(copy, limits):
            return copy
        sigma *= 0.8
    return None


def _prototype_structures(formula: str, pressure: float, settings: InitialFrameSettings) -> Iterator:
    """The prototype seeds of one (composition, pressure) group; for a metal on its own, its fcc cell at the volume
    of the volume model. Both within the search's distance limits (metal-metal fitted to the volume model)."""
    from aiida_hydrides.core.prototypes import build_prototype
    from aiida_hydrides.core.search.generator import formula_unit
    from aiida_hydrides.core.search.seeding import prototype_seeds, scale_to_model_volume

    unit = formula_unit(formula)
    limits = _limits(formula, pressure)
    if len(unit) == 1 and 'H' not in unit:
        (symbol,) = unit
        atoms = scale_to_model_volume(build_prototype('fcc', symbol), unit, 1, pressure, limits)  # one atom per cell
        if atoms is not None:
            atoms.info.update(origin='prototype', prototype='fcc')
            yield atoms
        return
    yield from prototype_seeds(formula, pressure, settings.max_atoms, limits=limits, known=True)


def _limits(formula: str, pressure: float):
    """The search's distance limits for ``formula`` at ``pressure`` (metal-metal limits fitted to the volume model)."""
    from aiida_hydrides.core.search.distances import DistanceLimits, fitted_limits
    from aiida_hydrides.core.search.generator import formula_unit

    return fitted_limits(DistanceLimits(), list(formula_unit(formula)), pressure)


def frame_limits(formula: str, pressure: float):
    """What a rattled frame of ``formula`` at ``pressure`` must keep: the search's limits (metal-metal fitted to the
    volume model) times :data:`RATTLE_LIMIT_SCALE`."""
    return _loose_limits(_limits(formula, pressure))


def _loose_limits(limits):
    """``limits`` times :data:`RATTLE_LIMIT_SCALE`."""
    scale = RATTLE_LIMIT_SCALE
    return dataclasses.replace(
        limits,
        hh=limits.hh * scale,
        mh=limits.mh * scale,
        mm=limits.mm * scale,
        pairs={key: value * scale for key, value in limits.pairs.items()},
    )


def _random_structures(formula: str, pressure: float, settings: InitialFrameSettings, seed: int) -> Iterator:
    """``settings.random`` random structures of one group, drawn lazily (none when the composition does not fit)."""
    from aiida_hydrides.core.search.generator import RandomStructureGenerator

    rng = random_stream(seed, f'random:{formula}:{pressure:g}')
    try:
        generator = RandomStructureGenerator(formula, pressure, settings.max_atoms, limits=_limits(formula, pressure))
    except HydridesInputError:
        return
    for _ in range(settings.random):
        try:
            atoms = generator.generate(rng)
        except HydridesInputError:
            return
        atoms.info['origin'] = 'random'
        yield atoms


def _with_copies(atoms, formula: str, pressure: float, index: int, rng, settings: InitialFrameSettings, limits) -> list:
    """The structure and its rattled copies, each with its ``info``."""
    info = {
        'formula': formula,
        'pressure_gpa': float(pressure),
        'origin': str(atoms.info.get('origin', 'random')),
        'prototype': str(atoms.info.get('prototype', '')),
        'structure_index': index,
    }
    pristine = atoms.copy()
    pristine.info = {**info, 'rattle': 0}
    frames = [pristine]
    for rattle in range(1, settings.rattles + 1):
        copy = _rattled(atoms, rng, settings, limits)
        if copy is not None:
            copy.info = {**info, 'rattle': rattle}
            frames.append(copy)
    return frames


def initial_frames(
    formulas: Sequence[str], pressures: Sequence[float], settings: InitialFrameSettings | None = None, seed: int = 0
) -> list:
    """The first frames of a system (ASE ``Atoms``; see the module docstring): the groups (composition, pressure)
    take turns, one structure and its rattled copies each, prototypes before random structures, until
    ``settings.max_frames``.

    ``info`` of each frame: ``formula``, ``pressure_gpa``, ``origin`` (:data:`INITIAL_ORIGINS`), ``prototype`` (the
    template name, or ``''``), ``structure_index`` (within its group) and ``rattle`` (0 for the structure itself).

    :raises HydridesInputError: no composition or pressure, or no structure for any of them.
    """
    settings = settings or InitialFrameSettings()
    formulas = list(formulas)
    pressures = [float(pressure) for pressure in pressures]
    if not formulas or not pressures:
        raise HydridesInputError('initial frames: give at least one composition and one pressure')
    from aiida_hydrides.core.search.generator import formula_unit

    keys = [(formula, pressure) for pressure in pressures for formula in formulas]
    shuffled = [keys[index] for index in random_stream(seed, 'order').permutation(len(keys))]
    # the elements first (the references of every formation enthalpy), then the others in the seeded order
    order = sorted(shuffled, key=lambda key: len(formula_unit(key[0])) > 1)
    rattle_streams = {key: random_stream(seed, f'rattle:{key[0]}:{key[1]:g}') for key in keys}
    counters = dict.fromkeys(keys, 0)
    frames: list = []
    prototype_groups = {key: _prototype_structures(*key, settings) for key in order} if settings.prototypes else {}
    random_groups = {key: _random_structures(*key, settings, seed) for key in order}
    # prototypes up to half the frames, random structures up to all of them, then prototypes again if room is left
    for groups, limit in (
        (prototype_groups, settings.max_frames // 2 if settings.random else settings.max_frames),
        (random_groups, settings.max_frames),
        (prototype_groups, settings.max_frames),
    ):
        while groups and len(frames) < limit:
            for key in list(groups):
                atoms = next(groups[key], None)
                if atoms is None:
                    del groups[key]
                    continue
                limits = frame_limits(*key)
                copies = _with_copies(atoms, *key, counters[key], rattle_streams[key], settings, limits)
                counters[key] += 1
                frames.extend(copies[: settings.max_frames - len(frames)])
                if len(frames) >= limit:
                    break
    if not frames:
        raise HydridesInputError(
            f'initial frames: no structure of {", ".join(formulas)} fits max_atoms={settings.max_atoms}'
        )
    return frames
