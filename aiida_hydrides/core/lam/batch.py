"""Compact array form of many structures: concatenated positions and numbers, one cell per structure, offsets.

The same layout is used in the worker's ``.npz`` files and in the AiiDA ``ArrayData`` of a structure batch:

``numbers`` (N,) int, ``positions`` (N, 3) Å, ``cells`` (S, 3, 3) Å (rows are lattice vectors), ``offsets`` (S+1,)
int with structure ``i`` spanning ``offsets[i]:offsets[i+1]``, and optionally ``pbc`` (S, 3) bool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from .errors import HydridesInputError

__all__ = ('pack_structures', 'unpack_structures', 'batch_size_of', 'check_batch_arrays')

BATCH_KEYS = ('numbers', 'positions', 'cells', 'offsets')


def pack_structures(structures: Iterable) -> dict[str, np.ndarray]:
    """Pack :class:`ase.Atoms` objects into the compact arrays (see the module docstring)."""
    structures = list(structures)
    counts = [len(atoms) for atoms in structures]
    offsets = np.zeros(len(structures) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(counts)
    if not structures:
        return {
            'numbers': np.zeros(0, np.int64),
            'positions': np.zeros((0, 3)),
            'cells': np.zeros((0, 3, 3)),
            'offsets': offsets,
            'pbc': np.zeros((0, 3), bool),
        }
    return {
        'numbers': np.concatenate([np.asarray(atoms.numbers, dtype=np.int64) for atoms in structures]),
        'positions': np.concatenate([np.asarray(atoms.positions, dtype=float) for atoms in structures]),
        'cells': np.array([np.asarray(atoms.cell, dtype=float) for atoms in structures]).reshape(-1, 3, 3),
        'offsets': offsets,
        'pbc': np.array([np.asarray(atoms.pbc, dtype=bool) for atoms in structures]).reshape(-1, 3),
    }


def check_batch_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`HydridesInputError` unless ``arrays`` is a consistent structure batch."""
    missing = [key for key in BATCH_KEYS if key not in arrays]
    if missing:
        raise HydridesInputError(f'structure batch lacks the arrays {missing}; expected {list(BATCH_KEYS)}')
    offsets = np.asarray(arrays['offsets'])
    numbers, positions, cells = (np.asarray(arrays[key]) for key in ('numbers', 'positions', 'cells'))
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        raise HydridesInputError('structure batch: offsets must start at 0 and never decrease')
    if numbers.shape != (offsets[-1],) or positions.shape != (offsets[-1], 3):
        raise HydridesInputError(
            f'structure batch: {offsets[-1]} atoms in offsets but numbers {numbers.shape}, positions {positions.shape}'
        )
    if cells.shape != (offsets.size - 1, 3, 3):
        raise HydridesInputError(f'structure batch: {offsets.size - 1} structures but cells of shape {cells.shape}')


def batch_size_of(arrays: Mapping[str, np.ndarray]) -> int:
    """Number of structures in a batch."""
    return int(np.asarray(arrays['offsets']).size - 1)


def unpack_structures(arrays: Mapping[str, np.ndarray]) -> list:
    """Rebuild the list of :class:`ase.Atoms` from the compact arrays."""
    from ase import Atoms

    check_batch_arrays(arrays)
    offsets = np.asarray(arrays['offsets'])
    pbc = np.asarray(arrays['pbc']) if 'pbc' in arrays else np.ones((offsets.size - 1, 3), bool)
    return [
        Atoms(
            numbers=np.asarray(arrays['numbers'])[start:stop],
            positions=np.asarray(arrays['positions'])[start:stop],
            cell=np.asarray(arrays['cells'])[i],
            pbc=pbc[i],
        )
        for i, (start, stop) in enumerate(zip(offsets[:-1], offsets[1:]))
    ]
