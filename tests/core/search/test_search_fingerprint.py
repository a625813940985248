"""Fingerprints and the deduplicator: invariances, duplicates dropped, different structures kept."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6
from aiida_hydrides.core.search.fingerprint import Deduplicator, cosine_distance, cosine_distances, fingerprint

SPECIES = ['Ca', 'Y', 'H']


def moved_copy(atoms, seed=1):
    """Rotated, translated, re-ordered copy of ``atoms``."""
    copy = atoms.copy()
    copy.rotate(37, (1, 2, 3), rotate_cell=True)
    copy.translate([0.31, -0.17, 0.52])
    copy.wrap()
    return copy[np.random.default_rng(seed).permutation(len(copy))]


def distorted_cayh12():
    """CaYH12 with the H atoms pushed towards H2 pairs: a different structure of the same composition."""
    atoms = ordered_sodalite_abh12()
    atoms.positions[2:] += np.random.default_rng(4).normal(0, 0.35, (12, 3))
    return atoms


def test_fingerprint_is_invariant_to_rotation_translation_order_and_supercell():
    atoms = ordered_sodalite_abh12()
    reference = fingerprint(atoms, SPECIES)
    assert cosine_distance(reference, fingerprint(moved_copy(atoms), SPECIES)) < 1e-10
    assert cosine_distance(reference, fingerprint(atoms.repeat((2, 1, 1)), SPECIES)) < 1e-10
    assert cosine_distance(reference, fingerprint(distorted_cayh12(), SPECIES)) > 0.05


def test_cosine_distance_matrix():
    vectors = np.array([fingerprint(a, SPECIES) for a in (ordered_sodalite_abh12(), distorted_cayh12())])
    matrix = cosine_distances(vectors)
    assert matrix.shape == (2, 2)
    np.testing.assert_allclose(np.diag(matrix), 0.0, atol=1e-12)
    np.testing.assert_allclose(matrix, matrix.T)
    assert matrix[0, 1] == pytest.approx(cosine_distance(vectors[0], vectors[1]))


def test_deduplicator_drops_copies_and_keeps_different_structures():
    atoms = ordered_sodalite_abh12()
    dedup = Deduplicator(SPECIES, threshold=0.01)
    structures = [atoms, moved_copy(atoms), atoms.repeat((1, 2, 1)), distorted_cayh12(), moved_copy(atoms, seed=3)]
    assert dedup.unique(structures) == [0, 3]
    assert len(dedup) == 2 and dedup.labels == [0, 3]


def test_deduplicator_uses_the_enthalpy_tolerance():
    atoms = ordered_sodalite_abh12()
    dedup = Deduplicator(SPECIES, threshold=0.01, enthalpy_tol=0.005)
    assert dedup.check_and_add(atoms, -5.000, label='a') is None
    assert dedup.check_and_add(moved_copy(atoms), -5.003, label='b') == 'a'
    assert dedup.check_and_add(moved_copy(atoms), -5.100, label='c') is None  # same geometry, other enthalpy


def test_fingerprint_rejects_foreign_elements_and_bad_thresholds():
    with pytest.raises(HydridesInputError, match='La'):
        fingerprint(sodalite_mh6('La'), SPECIES)
    with pytest.raises(HydridesInputError):
        Deduplicator(SPECIES, threshold=2.0)
