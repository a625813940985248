"""The search loop: generations of random and learned candidates, relaxed in one batch each, deduplicated.

Generation 0 holds the prototype seeds (:mod:`.seeding`, at most half the population), every ordered derivative of a
prototype for compositions of several metals (up to half the budget; generation 0 grows to hold them) and random
structures (:mod:`.generator`). Later generations, with ``learning=True``, make ``1 - random_fraction`` of their candidates
with the operators of :mod:`.evolution` (chosen by ``operator_weights``) from the elite: the best
``elite_fraction`` of the distinct minima found so far; the rest are random. With ``learning=False`` every
candidate is random (the baseline to compare learning against).

Candidates are fingerprinted (:mod:`.fingerprint`) and a candidate too close to any earlier candidate is replaced
before relaxation (threshold ``dedup_initial``). Each generation is relaxed with ONE call of
:func:`~aiida_hydrides.core.lam.relax.relax_structures`. Relaxed structures with a usable outcome are compared with
the distinct minima so far (threshold ``dedup_threshold`` and enthalpy tolerance ``dedup_enthalpy_tol``); a
duplicate records the index of the minimum it repeats. The search stops after ``budget`` relaxations.

Budget is not spent where it cannot help:

- ``hopeless_mev``: a relaxation of a random candidate whose enthalpy per atom is still that far above the
  composition's best minimum so far after ``hopeless_after`` optimizer steps stops with the flag ``hopeless`` (it
  counts as a relaxation, not as a minimum). Generation 0 has no best yet and runs to the end. Offspring of the elite
  always run to the end: they start from cut-and-spliced or displaced cells far above their minimum, and the ones
  that matter need many steps (a CaYH12 heredity child that relaxes to the known Pm-3m structure was stopped at step
  10 by a 300 meV/atom ceiling, which doubled the relaxations learning needed to find it).
- ``stagnation_generations``: a composition whose best enthalpy has not improved by more than
  ``dedup_enthalpy_tol`` for that many generations stops before its budget is spent (``SearchResult.stop_reason``
  ``'stagnated'``); the search worker hands the budget left to the compositions after it in the same job.

All randomness comes from one ``numpy.random.Generator`` seeded with ``seed``: the same settings, composition and
evaluator give the same search.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np

from ..errors import HydridesInputError
from ..settings import field_names
from ..units import check_pressure
from .distances import DistanceLimits, fitted_limits, repair_distances, satisfies_limits
from .evolution import OPERATORS, make_offspring
from .fingerprint import Deduplicator
from .generator import WEIGHTINGS, RandomStructureGenerator, check_formula_units, formula_unit
from .result import USABLE_FLAGS, SearchResult
from .seeding import prototype_seeds
from .volumes import estimate_volume

__all__ = ('PARENT_SELECTIONS', 'SEARCH_FIELDS', 'SearchSettings', 'run_search')

#: ways of drawing a parent from the elite (see ``SearchSettings.parent_selection``)
PARENT_SELECTIONS = ('uniform', 'rank')


@dataclasses.dataclass
class SearchSettings:
    """Settings of :func:`run_search`; pressure in GPa, lengths in Å, enthalpies in eV/atom."""

    pressure_gpa: float = 200.0
    budget: int = 200
    population: int = 20
    #: size of the first generation (``None``: ``population``), like USPEX's ``initialPopSize``: a smaller first
    #: generation lets the learning operators start sooner, a larger one samples more widely before they do
    initial_population: int | None = None
    random_fraction: float = 0.4
    learning: bool = True
    operator_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {'pso': 0.4, 'heredity': 0.3, 'mutation': 0.3}
    )
    elite_fraction: float = 0.6
    #: how parents are drawn from the elite: ``'uniform'``, or ``'rank'`` (weights n, n-1, ..., 1 from the best down)
    parent_selection: str = 'uniform'
    seed: int | None = 0
    max_atoms: int = 40
    #: allowed formula units per cell (the primitive cell of random structures), like CALYPSO's NumberOfFormula;
    #: ``None``: every number within ``max_atoms``
    formula_units: tuple[int, ...] | None = None
    space_groups: tuple[int, ...] = tuple(range(2, 231))
    weighting: str = 'crystal_system'
    volume_jitter: float = 0.1
    min_hh: float = 0.8
    min_mh: float = 1.4
    min_mm: float = 1.9
    min_pairs: Mapping[tuple[str, str], float] = dataclasses.field(default_factory=dict)
    use_prototypes: bool = True
    dedup_initial: float = 0.01
    dedup_threshold: float = 0.03
    dedup_enthalpy_tol: float = 0.005
    #: a relaxation that compresses the cell below this fraction of the additive-model volume of :mod:`.volumes` at
    #: the target pressure stops as ``collapsed``: such densities lie outside any LAM's training data (the densest
    #: frame of the seed label set is at 0.715), and the seed model has spurious minima there (molecular H packed
    #: at 0.4-0.6 of the estimate, about 0.8 eV/atom below sodalite CaH6 at 200 GPa) that would lead the learning
    #: operators astray and head the results; 0 switches the check off
    min_volume_fraction: float = 0.65
    #: standard deviation (Å) of random displacements given to every candidate just before its relaxation. Symmetric
    #: candidates relax under forces that keep their symmetry, so they can end on a symmetric saddle point that
    #: rounding alone does not leave (a Ca3YH9 cell of the LAM agreement benchmark stops 202 meV/atom above the
    #: minimum a 1e-9 Å nudge leads to); a small displacement lets them fall off it. 0 (the default) relaxes the
    #: candidates as generated
    symmetry_breaking: float = 0.0
    #: a relaxation of a random candidate still this far (meV/atom) above the composition's best minimum so far
    #: after ``hopeless_after`` steps stops as ``hopeless``; 0 (the default) switches it off (see the module
    #: docstring): it saves few steps where random generation and short relaxations dominate, and the recovery
    #: benchmark's first hits moved with it
    hopeless_mev: float = 0.0
    hopeless_after: int = 20
    #: stop a composition after this many generations without a better minimum (0: spend the whole budget)
    stagnation_generations: int = 0
    #: keep every k-th geometry along each relaxation (step 0 included) for concurrent learning
    #: (:mod:`aiida_hydrides.core.lam.deviation`): the ``trajectory_*`` arrays of :meth:`SearchResult.arrays`;
    #: 0 (the default) keeps none. It changes no result of the search
    trajectory_every: int = 0
    fmax: float = 0.05
    stress_tol_gpa: float = 0.5
    max_steps: int = 300
    optimizer: str = 'lbfgs'
    batch_size: int | None = None

    def validated(self) -> SearchSettings:
        """Check the settings; raises :class:`HydridesInputError` with the reason.

        The one place the search settings are validated (the pressure with
        :func:`~aiida_hydrides.core.units.check_pressure`): the search below trusts them.
        """
        for name in ('hopeless_after', 'stagnation_generations', 'trajectory_every'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise HydridesInputError(f'{name} must be a whole number >= 0, got {value!r}')
        hopeless = self.hopeless_mev
        if isinstance(hopeless, bool) or not isinstance(hopeless, (int, float)) or not hopeless >= 0:
            raise HydridesInputError(f'hopeless_mev must be a number of meV/atom >= 0 (0: off), got {hopeless!r}')
        for name in ('budget', 'population', 'max_atoms', 'max_steps'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise HydridesInputError(f'{name} must be a whole number >= 1, got {value!r}')
        initial = self.initial_population
        if initial is not None and (
            isinstance(initial, bool) or not isinstance(initial, (int, np.integer)) or initial < 1
        ):
            raise HydridesInputError(f'initial_population must be a whole number >= 1 or None, got {initial!r}')
        for name in ('random_fraction', 'elite_fraction'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise HydridesInputError(f'{name} must be a number in [0, 1], got {value!r}')
        fraction = self.min_volume_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 3:
            raise HydridesInputError(f'min_volume_fraction must be a number in [0, 3] (0: no floor), got {fraction!r}')
        breaking = self.symmetry_breaking
        if isinstance(breaking, bool) or not isinstance(breaking, (int, float)) or not 0 <= breaking <= 0.2:
            raise HydridesInputError(f'symmetry_breaking must be a number of Å in [0, 0.2] (0: off), got {breaking!r}')
        weights = dict(self.operator_weights)
        unknown = set(weights) - set(OPERATORS)
        if unknown or not weights or any(not w >= 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise HydridesInputError(
                f'operator_weights must map some of {OPERATORS} to non-negative weights, got {self.operator_weights!r}'
            )
        if self.parent_selection not in PARENT_SELECTIONS:
            raise HydridesInputError(
                f'unknown parent_selection {self.parent_selection!r}; choose one of {PARENT_SELECTIONS}'
            )
        if self.weighting not in WEIGHTINGS:
            raise HydridesInputError(f'unknown space-group weighting {self.weighting!r}; choose one of {WEIGHTINGS}')
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))):
            raise HydridesInputError(f'seed must be a whole number or None, got {self.seed!r}')
        from ..lam.relax import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise HydridesInputError(f'optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}')
        self.limits()
        check_pressure(self.pressure_gpa, 'pressure_gpa')
        check_formula_units(self.formula_units)
        return self

    def limits(self) -> DistanceLimits:
        """The minimum distances as :class:`.DistanceLimits`."""
        return DistanceLimits(hh=self.min_hh, mh=self.min_mh, mm=self.min_mm, pairs=dict(self.min_pairs))

    def relax_kwargs(self, unit: Mapping[str, int] | None = None) -> dict:
        """Keyword arguments of :func:`~aiida_hydrides.core.lam.relax.relax_structures`; with the formula ``unit``
        (element -> count), the density floor of ``min_volume_fraction`` as ``min_volume_per_atom``."""
        kwargs = dict(
            pressure_gpa=self.pressure_gpa,
            fmax=self.fmax,
            stress_tol_gpa=self.stress_tol_gpa,
            max_steps=self.max_steps,
            optimizer=self.optimizer,
            batch_size=self.batch_size,
            hopeless_after=self.hopeless_after,
        )
        if self.trajectory_every:
            kwargs['trajectory_every'] = self.trajectory_every
        if unit is not None and self.min_volume_fraction > 0:
            floor = self.min_volume_fraction * estimate_volume(unit, self.pressure_gpa) / sum(unit.values())
            kwargs['min_volume_per_atom'] = max(floor, 0.5)
        return kwargs


#: The fields of :class:`SearchSettings`, in order (derived from the dataclass).
SEARCH_FIELDS = field_names(SearchSettings)


class _Search:
    """State of one run: generator, deduplicators, elite, result."""

    def __init__(self, composition, evaluator, settings: SearchSettings):
        self.settings = settings
        self.evaluator = evaluator
        self.unit = formula_unit(composition)
        self.species = list(self.unit)
        # the metal-metal limits fitted to the volume model: light metals (Li, Be, Mg, ...) sit closer than 1.9 Å
        self.limits = fitted_limits(settings.limits(), self.species, settings.pressure_gpa)
        self.rng = np.random.default_rng(settings.seed)
        self.generator = RandomStructureGenerator(
            self.unit,
            pressure_gpa=settings.pressure_gpa,
            max_atoms=settings.max_atoms,
            limits=self.limits,
            space_groups=settings.space_groups,
            weighting=settings.weighting,
            volume_jitter=settings.volume_jitter,
            formula_units=settings.formula_units,
        )
        self.initial = Deduplicator(self.species, threshold=settings.dedup_initial, enthalpy_tol=0.0)
        self.relaxed = Deduplicator(
            self.species, threshold=settings.dedup_threshold, enthalpy_tol=settings.dedup_enthalpy_tol
        )
        self.result = SearchResult(self.unit, settings)
        self._cache: dict[int, object] = {}
        operators = [op for op in OPERATORS if settings.operator_weights.get(op, 0) > 0]
        weights = np.array([settings.operator_weights[op] for op in operators], dtype=float)
        self.operators, self.operator_p = operators, weights / weights.sum()

    def _accept(self, atoms, candidates: list) -> bool:
        if self.initial.check_and_add(atoms) is None:
            candidates.append(atoms)
            return True
        return False

    def elite(self) -> list[int]:
        """Best member of each of the best ``elite_fraction`` of the distinct minima so far, lowest first."""
        best = list(self.result.distinct())
        keep = max(2, int(np.ceil(self.settings.elite_fraction * len(best))))
        return best[:keep]

    def _structure(self, index: int):
        if index not in self._cache:
            self._cache[index] = self.result.structure(index)
        return self._cache[index]

    def _partner(self, index: int, elite: list[int], prefer_best: bool) -> int | None:
        counts = Counter(self._structure(index).numbers.tolist())
        options = [
            other for other in elite if other != index and Counter(self._structure(other).numbers.tolist()) == counts
        ]
        if not options:
            return None
        return options[0] if prefer_best else options[int(self.rng.integers(len(options)))]

    def _parent_position(self, size: int) -> int:
        if self.settings.parent_selection == 'rank':
            weights = np.arange(size, 0, -1, dtype=float)
            return int(self.rng.choice(size, p=weights / weights.sum()))
        return int(self.rng.integers(size))

    def learned(self, count: int, candidates: list) -> None:
        """Add up to ``count`` offspring of the elite to ``candidates``."""
        elite = self.elite()
        if not elite:
            return
        made = 0
        for _ in range(4 * count):
            if made >= count:
                break
            operator = self.operators[int(self.rng.choice(len(self.operators), p=self.operator_p))]
            parent = elite[self._parent_position(len(elite))]
            parents = [self._structure(parent)]
            if operator in ('pso', 'heredity'):
                partner = self._partner(parent, elite, prefer_best=operator == 'pso')
                if partner is None:
                    operator = 'mutation'
                else:
                    parents.append(self._structure(partner))
            child = make_offspring(operator, parents, self.rng, self.limits)
            if child is not None and self._accept(child, candidates):
                made += 1

    def _displaced(self, atoms, sigma: float):
        """A copy of ``atoms`` with Gaussian displacements of ``sigma`` Å (the search's random stream); kept within
        the distance limits by the repair sweeps, else the candidate as it was."""
        moved = atoms.copy()
        moved.positions += self.rng.normal(0.0, sigma, moved.positions.shape)
        if not satisfies_limits(moved, self.limits):
            moved = repair_distances(moved, self.limits)
            if moved is None or not satisfies_limits(moved, self.limits):
                return atoms
        return moved

    def random(self, count: int, candidates: list) -> None:
        """Add ``count`` random structures to ``candidates`` (duplicates replaced, a few tries each)."""
        made = 0
        for _ in range(3 * count):
            if made >= count:
                return
            if self._accept(self.generator.generate(self.rng), candidates):
                made += 1
        while made < count:  # a composition with few distinct structures: accept repeats
            candidates.append(self.generator.generate(self.rng))
            made += 1

    def generation(self, number: int, size: int, callback: Callable | None) -> None:
        from ..lam.relax import relax_structures

        settings = self.settings
        candidates: list = []
        if number == 0 and settings.use_prototypes:
            ordered_cap = max(size // 2, settings.budget // 2)
            seeds = prototype_seeds(
                self.unit, settings.pressure_gpa, settings.max_atoms, self.limits, self.rng, orderings=ordered_cap
            )
            ordered = plain = 0
            for seed in seeds:
                if settings.formula_units is not None and seed.info.get('formula_units') not in settings.formula_units:
                    continue
                if seed.info.get('origin') == 'ordering':
                    if ordered < ordered_cap and self._accept(seed, candidates):
                        ordered += 1
                elif plain < size // 2 and self._accept(seed, candidates):
                    plain += 1
            size = max(size, len(candidates))
        if settings.learning and number > 0:
            self.learned(size - len(candidates) - int(round(settings.random_fraction * size)), candidates)
        self.random(size - len(candidates), candidates)
        candidates = candidates[:size]
        if settings.symmetry_breaking > 0:
            candidates = [self._displaced(atoms, settings.symmetry_breaking) for atoms in candidates]
        kwargs = settings.relax_kwargs(self.unit)
        best = self.result.best_enthalpy_per_atom if len(self.result) else float('nan')
        if settings.hopeless_mev > 0 and np.isfinite(best):
            ceiling = best + settings.hopeless_mev / 1000.0
            kwargs['ceilings'] = [
                ceiling if atoms.info.get('origin', 'random') == 'random' else np.inf for atoms in candidates
            ]
        relaxed = relax_structures(candidates, self.evaluator, **kwargs)
        for initial, outcome in zip(candidates, relaxed):
            index = len(self.result)
            duplicate = -1
            if outcome.flag in USABLE_FLAGS and np.isfinite(outcome.enthalpy_per_atom):
                found = self.relaxed.check_and_add(outcome.atoms, outcome.enthalpy_per_atom, label=index)
                duplicate = -1 if found is None else int(found)
            self.result.add(initial, outcome, number, initial.info.get('origin', 'random'), duplicate)
        self.result.generation_sizes.append(len(candidates))
        if callback is not None:
            callback(number, self.result)


def run_search(
    composition, evaluator, settings: SearchSettings | None = None, callback: Callable | None = None, **overrides
) -> SearchResult:
    """Search the structures of ``composition`` (a formula, a mapping or a ``Composition``; its reduced formula is
    the formula unit) with ``evaluator`` (a LAM ``BatchEvaluator``: DeePMD or ``AseEvaluator``).

    ``overrides`` replace fields of ``settings``. ``callback(generation, result)`` runs after every generation.
    """
    settings = dataclasses.replace(settings or SearchSettings(), **overrides).validated()
    unit = formula_unit(composition)
    if hasattr(evaluator, 'check_numbers'):
        from ase.data import atomic_numbers

        evaluator.check_numbers([np.array([atomic_numbers[symbol] for symbol in unit])])
    search = _Search(unit, evaluator, settings)
    number, best, since = 0, np.inf, 0
    while len(search.result) < settings.budget:
        size = settings.population if number or settings.initial_population is None else settings.initial_population
        search.generation(number, min(size, settings.budget - len(search.result)), callback)
        number += 1
        current = search.result.best_enthalpy_per_atom
        if np.isfinite(current) and current < best - settings.dedup_enthalpy_tol:
            best, since = current, 0
        else:
            since += 1
        if settings.stagnation_generations and since >= settings.stagnation_generations:
            if len(search.result) < settings.budget:
                search.result.stop_reason = 'stagnated'
            break
    return search.result
