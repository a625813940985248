"""Minimum interatomic distances of a hydride search: the limits, the check and a small repair.

The defaults suit hydrides near 200 GPa: H-H >= 0.8 Å (shorter than any H-H contact of a clathrate, longer than a
compressed H2 bond is allowed to collapse to), M-H >= 1.4 Å and M-M >= 1.9 Å, where M is any element other than
hydrogen. ``pairs`` overrides single element pairs, e.g. ``{('La', 'H'): 1.6}``.

Light metals are denser than 1.9 Å allows: at the volume model's 4.8 Å³ per atom (150 GPa) even bcc Li has its
nearest neighbours at 1.84 Å. :func:`fitted_limits` lowers the M-M limit of such a pair to
:data:`CLOSE_PACKING_FRACTION` of the nearest-neighbour distance of a bcc lattice at the pair's model volume, so that
the structures the volume model asks for can be made (Ca, Y and heavier metals at 150-250 GPa keep 1.9 Å, within
1 %).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from ..elements import HYDROGEN, validate_symbol
from ..errors import HydridesInputError

__all__ = (
    'CLOSE_PACKING_FRACTION',
    'DistanceLimits',
    'distance_violations',
    'fitted_limits',
    'pair_distances',
    'repair_distances',
    'satisfies_limits',
)

#: a pair of non-hydrogen elements may come this close, as a fraction of the nearest-neighbour distance of a bcc lattice
#: at the pair's mean volume of the volume model (:func:`fitted_limits`)
CLOSE_PACKING_FRACTION = 0.9


@dataclasses.dataclass(frozen=True)
class DistanceLimits:
    """Smallest allowed distances in Å: ``hh`` (H-H), ``mh`` (non-H to H), ``mm`` (non-H to non-H), and per-pair
    overrides in ``pairs`` (keys are pairs of symbols in any order)."""

    hh: float = 0.8
    mh: float = 1.4
    mm: float = 1.9
    pairs: Mapping[tuple[str, str], float] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ('hh', 'mh', 'mm'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10:
                raise HydridesInputError(f'the {name} distance limit must be a number in (0, 10) Å, got {value!r}')
        normalised = {}
        for key, value in dict(self.pairs).items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise HydridesInputError(f'distance limit keys are pairs of element symbols, got {key!r}')
            a, b = (validate_symbol(symbol) for symbol in key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10:
                raise HydridesInputError(f'the {a}-{b} distance limit must be a number in (0, 10) Å, got {value!r}')
            normalised[tuple(sorted((a, b)))] = float(value)
        object.__setattr__(self, 'pairs', normalised)

    def limit(self, a: str, b: str) -> float:
        """The smallest allowed distance between elements ``a`` and ``b``."""
        key = tuple(sorted((a, b)))
        if key in self.pairs:
            return self.pairs[key]
        hydrogens = (a == HYDROGEN) + (b == HYDROGEN)
        return (self.mm, self.mh, self.hh)[hydrogens]

    def matrix(self, symbols) -> np.ndarray:
        """Limits between the elements ``symbols``, shape (len, len)."""
        return np.array([[self.limit(a, b) for b in symbols] for a in symbols])

    @property
    def largest(self) -> float:
        """The largest limit (the cutoff needed to check all of them)."""
        return max([self.hh, self.mh, self.mm, *self.pairs.values()])

    def tuples(self, symbols) -> list[tuple[str, str, float]]:
        """``(a, b, limit)`` for every pair of ``symbols``, the form PyXtal's ``Tol_matrix`` takes."""
        symbols = list(dict.fromkeys(symbols))
        return [(a, b, self.limit(a, b)) for i, a in enumerate(symbols) for b in symbols[i:]]


def fitted_limits(limits: DistanceLimits, symbols, pressure_gpa: float) -> DistanceLimits:
    """``limits`` with the metal-metal limit of every pair of the non-hydrogen ``symbols`` lowered (never raised) to
    :data:`CLOSE_PACKING_FRACTION` of the nearest-neighbour distance of a bcc lattice at the pair's mean volume per
    atom of the volume model at ``pressure_gpa``; pairs with a limit of their own in ``limits.pairs`` keep it."""
    from .volumes import atomic_volume

    heavy = sorted({symbol for symbol in symbols if symbol != HYDROGEN})
    pairs = dict(limits.pairs)
    for index, a in enumerate(heavy):
        for b in heavy[index:]:
            key = (a, b)
            if key in pairs:
                continue
            volume = 0.5 * (atomic_volume(a, pressure_gpa) + atomic_volume(b, pressure_gpa))
            nearest = np.sqrt(3.0) / 2.0 * (2.0 * volume) ** (1.0 / 3.0)
            fitted = CLOSE_PACKING_FRACTION * nearest
            if fitted < limits.mm:
                pairs[key] = round(float(fitted), 3)
    if pairs == dict(limits.pairs):
        return limits
    return dataclasses.replace(limits, pairs=pairs)


def pair_distances(atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All pairs closer than ``cutoff`` with periodic images: ``(i, j, distance, vector j - i)``, each pair once
    per image."""
    from ase.neighborlist import primitive_neighbor_list

    return primitive_neighbor_list(
        'ijdD',
        np.asarray(atoms.pbc),
        np.asarray(atoms.cell.array, dtype=float),
        np.asarray(atoms.positions, dtype=float),
        cutoff,
        self_interaction=False,
        use_scaled_positions=False,
    )


def _violations(atoms, limits: DistanceLimits):
    first, second, lengths, vectors = pair_distances(atoms, limits.largest)
    symbols = list(dict.fromkeys(atoms.get_chemical_symbols()))
    species = np.array([symbols.index(s) for s in atoms.get_chemical_symbols()], dtype=int)
    needed = limits.matrix(symbols)[species[first], species[second]]
    bad = lengths < needed - 1e-9
    return first[bad], second[bad], lengths[bad], vectors[bad], needed[bad]


def distance_violations(atoms, limits: DistanceLimits) -> list[tuple[int, int, float, float]]:
    """Pairs closer than allowed: ``(i, j, distance, limit)`` with ``i <= j`` (a self-image has ``i == j``)."""
    first, second, lengths, _, needed = _violations(atoms, limits)
    found = {}
    for i, j, d, lim in zip(first, second, lengths, needed):
        key = (int(min(i, j)), int(max(i, j)))
        if key not in found or d < found[key][0]:
            found[key] = (float(d), float(lim))
    return [(i, j, d, lim) for (i, j), (d, lim) in sorted(found.items())]


def satisfies_limits(atoms, limits: DistanceLimits) -> bool:
    """Whether no two atoms (periodic images included) are closer than ``limits`` allow."""
    cell = np.asarray(atoms.cell.array, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-6:
        return False
    return len(_violations(atoms, limits)[0]) == 0


def repair_distances(atoms, limits: DistanceLimits, max_iterations: int = 30, step: float = 0.5):
    """Push apart the atoms that are too close, a few sweeps at most; return the repaired copy or ``None``.

    Each sweep moves both atoms of every violating pair apart along their bond; the neighbour list holds each pair
    twice, so ``step=0.5`` opens the pair by its whole deficit (plus 2 mÅ).
    """
    atoms = atoms.copy()
    for _ in range(max_iterations):
        first, second, lengths, vectors, needed = _violations(atoms, limits)
        if len(first) == 0:
            return atoms
        keep = first != second
        if not keep.any():
            return None  # an atom too close to its own image: the cell is too small
        first, second, lengths, vectors, needed = (a[keep] for a in (first, second, lengths, vectors, needed))
        units = vectors / np.maximum(lengths, 1e-6)[:, None]
        push = (0.5 * step * (needed - lengths) + 1e-3)[:, None] * units
        shift = np.zeros_like(atoms.positions)
        np.add.at(shift, first, -push)
        np.add.at(shift, second, push)
        atoms.positions += shift
    return atoms if satisfies_limits(atoms, limits) else None
