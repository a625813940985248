"""Cheap structural descriptors of hydrides, each a function of an :class:`ase.Atoms`.

Hydrogen neighbours are found with periodic images (including an atom's own images in small cells), so the values
are right for any cell size. :func:`describe` collects them all in one dictionary.
"""

from __future__ import annotations

import math

import numpy as np

from .compositions import Composition
from .errors import HydridesInputError

__all__ = (
    'DEFAULT_SYMPREC',
    'DEFAULT_H_THRESHOLD',
    'space_group',
    'nearest_neighbour_distances',
    'hydrogen_nearest_neighbours',
    'atomic_h_fraction',
    'shortest_hh_distance',
    'count_h2_units',
    'hydrogen_share',
    'formula',
    'describe',
)

#: Default symmetry tolerance of spglib in Angstrom, suited to relaxed structures from a structure search.
DEFAULT_SYMPREC = 0.1

#: H-H distance in Angstrom below which two hydrogen atoms count as bonded (an H2 unit); above it an H is atomic.
DEFAULT_H_THRESHOLD = 0.9

_INITIAL_CUTOFF = 3.0


def _hydrogen_mask(atoms) -> np.ndarray:
    return np.asarray(atoms.numbers) == 1


def _cell_is_3d(atoms) -> bool:
    return bool(np.all(atoms.pbc)) and abs(atoms.cell.volume) > 1e-8


def nearest_neighbour_distances(atoms, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest neighbour of each selected atom among the selected atoms, with periodic images.

    Returns ``(indices, distances)``: for each selected atom, the index (into the selection) of its nearest
    neighbour and the distance to it in Angstrom. In a periodic cell an atom's own image can be its nearest
    neighbour (its index is then its own). Atoms without any neighbour (a lone atom in a non-periodic cell) get
    index -1 and distance ``inf``.
    """
    from ase.neighborlist import primitive_neighbor_list

    positions = np.asarray(atoms.positions, dtype=float)
    if mask is not None:
        positions = positions[np.asarray(mask, dtype=bool)]
    count = len(positions)
    indices = np.full(count, -1, dtype=int)
    distances = np.full(count, np.inf)
    if count == 0:
        return indices, distances

    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=float)
    if pbc.all():
        return _periodic_nearest(positions, cell)
    if pbc.any():
        vectors = cell[pbc]
        if abs(np.linalg.det(vectors @ vectors.T)) < 1e-12:
            raise HydridesInputError('the cell has zero volume along its periodic directions')
        # An atom's own image along the shortest periodic lattice vector bounds every nearest-neighbour distance.
        longest_needed = min(np.linalg.norm(cell[axis]) for axis in range(3) if pbc[axis])
    else:
        span = positions.max(axis=0) - positions.min(axis=0)
        longest_needed = float(np.linalg.norm(span)) if count > 1 else 0.0

    cutoff = min(_INITIAL_CUTOFF, longest_needed * 1.0001 + 1e-6)
    while True:
        first, second, lengths = primitive_neighbor_list(
            'ijd', pbc, cell, positions, cutoff, self_interaction=False, use_scaled_positions=False
        )
        if len(first):
            order = np.lexsort((lengths, first))
            first, second, lengths = first[order], second[order], lengths[order]
            starts = np.concatenate(([True], first[1:] != first[:-1]))
            indices[first[starts]] = second[starts]
            distances[first[starts]] = lengths[starts]
        if np.all(indices >= 0) or cutoff >= longest_needed * 1.0001:
            break
        indices[:] = -1
        distances[:] = np.inf
        cutoff = min(cutoff * 2.0, longest_needed * 1.0001 + 1e-6)
    return indices, distances


def _periodic_nearest(positions: np.ndarray, cell: np.ndarray, chunk_elements: int = 4_000_000):
    """Exact nearest periodic neighbour for a fully periodic cell, vectorised with numpy.

    Differences are wrapped into the cell, an upper bound ``R`` on every nearest-neighbour distance is taken from
    the wrapped differences and the shortest lattice vector, and then all image shifts that can lie within ``R``
    (``|s_k| <= R/h_k + 1/2`` with ``h_k`` the interplanar spacings) are searched.
    """
    volume = abs(np.linalg.det(cell))
    if volume < 1e-8:
        raise HydridesInputError('the cell has zero volume')
    inverse = np.linalg.inv(cell)
    scaled = positions @ inverse
    count = len(positions)
    diff = scaled[None, :, :] - scaled[:, None, :]
    diff -= np.round(diff)
    wrapped = np.linalg.norm(diff @ cell, axis=-1)
    np.fill_diagonal(wrapped, np.inf)
    bound = min(float(np.linalg.norm(cell, axis=1).min()), float(wrapped.min(axis=1).max()))
    spacings = volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    reach = np.floor(bound / spacings + 0.5 + 1e-9).astype(int)
    grids = np.meshgrid(*(np.arange(-k, k + 1) for k in reach), indexing='ij')
    shifts = np.stack([grid.ravel() for grid in grids], axis=1)
    zero = int(np.flatnonzero(~shifts.any(axis=1))[0])
    shift_vectors = shifts @ cell

    indices = np.empty(count, dtype=int)
    distances = np.empty(count)
    rows = max(1, chunk_elements // max(1, count * len(shifts)))
    for start in range(0, count, rows):
        stop = min(count, start + rows)
        vectors = (diff[start:stop] @ cell)[:, :, None, :] + shift_vectors[None, None, :, :]
        lengths = np.einsum('ijsk,ijsk->ijs', vectors, vectors)
        own = np.arange(start, stop)
        lengths[np.arange(stop - start), own, zero] = np.inf
        flat = lengths.reshape(stop - start, -1)
        best = flat.argmin(axis=1)
        indices[start:stop] = best // len(shifts)
        distances[start:stop] = np.sqrt(flat[np.arange(stop - start), best])
    return indices, distances


def hydrogen_nearest_neighbours(atoms) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hydrogen neighbour of every hydrogen atom: ``(indices among the H atoms, distances in Angstrom)``."""
    return nearest_neighbour_distances(atoms, _hydrogen_mask(atoms))


def atomic_h_fraction(atoms, threshold: float = DEFAULT_H_THRESHOLD) -> float | None:
    """Share of hydrogen atoms whose nearest hydrogen neighbour is farther than ``threshold`` (Angstrom).

    ``None`` when the structure has no hydrogen.
    """
    _, distances = hydrogen_nearest_neighbours(atoms)
    if len(distances) == 0:
        return None
    return float(np.count_nonzero(distances > threshold) / len(distances))


def shortest_hh_distance(atoms) -> float | None:
    """Shortest H-H distance in Angstrom, periodic images included; ``None`` with fewer than two H (or images)."""
    _, distances = hydrogen_nearest_neighbours(atoms)
    if len(distances) == 0 or not np.isfinite(distances.min()):
        return None
    return float(distances.min())


def count_h2_units(atoms, threshold: float = DEFAULT_H_THRESHOLD) -> int:
    """Number of H2 units: pairs of distinct H atoms that are each other's nearest H neighbour, closer than
    ``threshold`` (Angstrom).
    """
    indices, distances = hydrogen_nearest_neighbours(atoms)
    return _count_h2(indices, distances, threshold)


def _count_h2(indices: np.ndarray, distances: np.ndarray, threshold: float) -> int:
    own = np.arange(len(indices))
    valid = (indices >= 0) & (indices != own) & (distances < threshold)
    partner = np.where(valid, indices, 0)
    mutual = valid & (indices[partner] == own)
    return int(np.count_nonzero(mutual & (own < partner)))


def hydrogen_share(atoms) -> float:
    """N_H / N, the share of hydrogen atoms (not the atomic-H fraction)."""
    if len(atoms) == 0:
        raise HydridesInputError('the structure has no atoms')
    return float(np.count_nonzero(_hydrogen_mask(atoms)) / len(atoms))


def formula(atoms) -> str:
    """Formula of the cell, hydrogen last, e.g. ``'Ca2H12'``."""
    return _composition(atoms).formula


def _composition(atoms) -> Composition:
    if len(atoms) == 0:
        raise HydridesInputError('the structure has no atoms')
    symbols, counts = np.unique(np.asarray(atoms.get_chemical_symbols()), return_counts=True)
    numbers = {symbol: number for symbol, number in zip(atoms.get_chemical_symbols(), atoms.numbers)}
    order = sorted(range(len(symbols)), key=lambda index: numbers[symbols[index]])
    return Composition([(str(symbols[index]), int(counts[index])) for index in order])


def space_group(atoms, symprec: float = DEFAULT_SYMPREC, angle_tolerance: float = -1.0) -> tuple[int, str]:
    """Space group ``(number, international symbol)`` found by spglib with tolerance ``symprec`` (Angstrom)."""
    import spglib

    if not symprec > 0:
        raise HydridesInputError(f'symprec must be positive, got {symprec}')
    if not _cell_is_3d(atoms):
        raise HydridesInputError('the space group needs a periodic structure with a 3-D cell')
    cell = (np.asarray(atoms.cell.array), np.asarray(atoms.get_scaled_positions()), np.asarray(atoms.numbers))
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec, angle_tolerance=angle_tolerance)
    if dataset is None:
        raise HydridesInputError(f'spglib found no symmetry for this structure (symprec={symprec})')
    return int(dataset.number), str(dataset.international)


def describe(atoms, symprec: float = DEFAULT_SYMPREC, h_threshold: float = DEFAULT_H_THRESHOLD) -> dict:
    """All descriptors of ``atoms`` in one JSON-serialisable dictionary.

    Keys: ``formula``, ``reduced_formula``, ``num_atoms``, ``num_hydrogen``, ``hydrogen_share`` (N_H/N),
    ``volume_per_atom`` (Angstrom^3, ``None`` without a 3-D cell), ``space_group_number``, ``space_group_symbol``,
    ``symprec``, ``h_threshold``, ``atomic_h_fraction`` (``None`` without H), ``shortest_hh_distance`` (Angstrom,
    ``None`` without H pairs) and ``num_h2_units``.
    """
    if not h_threshold > 0:
        raise HydridesInputError(f'the H-H threshold must be positive, got {h_threshold}')
    composition = _composition(atoms)
    periodic = _cell_is_3d(atoms)
    number, symbol = space_group(atoms, symprec) if periodic else (None, None)
    indices, distances = hydrogen_nearest_neighbours(atoms)
    num_h = len(distances)
    shortest = float(distances.min()) if num_h and np.isfinite(distances.min()) else None
    return {
        'formula': composition.formula,
        'reduced_formula': composition.reduced_formula,
        'num_atoms': len(atoms),
        'num_hydrogen': num_h,
        'hydrogen_share': num_h / len(atoms),
        'volume_per_atom': float(abs(atoms.cell.volume) / len(atoms)) if periodic else None,
        'space_group_number': number,
        'space_group_symbol': symbol,
        'symprec': float(symprec),
        'h_threshold': float(h_threshold),
        'atomic_h_fraction': float(np.count_nonzero(distances > h_threshold) / num_h) if num_h else None,
        'shortest_hh_distance': None if shortest is None or math.isinf(shortest) else shortest,
        'num_h2_units': _count_h2(indices, distances, h_threshold),
    }
