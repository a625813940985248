"""Helpers of the structure-search tests."""

import itertools

import numpy as np

#: Space groups that PyXtal fills quickly; keeps the tests fast.
FAST_GROUPS = tuple(range(75, 231))


def brute_force_pair_minimum(atoms, first: str, second: str) -> float:
    """Shortest distance between atoms of elements ``first`` and ``second`` over a 5x5x5 block of images."""
    symbols = np.array(atoms.get_chemical_symbols())
    a, b = atoms.positions[symbols == first], atoms.positions[symbols == second]
    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3))) @ atoms.cell.array
    delta = b[None, :, None, :] + shifts[None, None, :, :] - a[:, None, None, :]
    lengths = np.linalg.norm(delta, axis=-1)
    lengths[lengths < 1e-8] = np.inf
    return float(lengths.min()) if lengths.size else np.inf


def assert_limits(atoms, hh=0.8, mh=1.4, mm=1.9):
    """Check the default distance limits by brute force."""
    elements = sorted(set(atoms.get_chemical_symbols()))
    for x, y in itertools.combinations_with_replacement(elements, 2):
        hydrogens = (x == 'H') + (y == 'H')
        limit = (mm, mh, hh)[hydrogens]
        assert brute_force_pair_minimum(atoms, x, y) >= limit - 1e-6, (x, y)
