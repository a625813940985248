"""Tests for the hydride descriptors on constructed structures with known values."""

import math

import numpy as np
import pytest
from ase import Atoms

from aiida_hydrides.core.descriptors import (
    DEFAULT_SYMPREC,
    atomic_h_fraction,
    count_h2_units,
    describe,
    hydrogen_nearest_neighbours,
    shortest_hh_distance,
    space_group,
)
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.structures import read_structure


@pytest.fixture(scope='module')
def structures(data_dir):
    folder = data_dir / 'structures'
    names = [
        'CaH6_Im-3m.cif',
        'YH6_Im-3m.cif',
        'H3S_Im-3m.cif',
        'CaYH12_Pm-3m.cif',
        'H2_molecular.extxyz',
        'LaH10_Fm-3m.POSCAR',
    ]
    return {name.split('_')[0]: read_structure(folder / name) for name in names}


def test_cah6_sodalite(structures):
    result = describe(structures['CaH6'])
    a = 3.5
    assert result['space_group_number'] == 229 and result['space_group_symbol'] == 'Im-3m'
    assert result['symprec'] == DEFAULT_SYMPREC == 0.1
    assert result['atomic_h_fraction'] == 1.0
    # nearest H-H in the 12d cage: (1/4, 0, 1/2) to (1/2, 0, 1/4), i.e. a*sqrt(2)/4
    assert result['shortest_hh_distance'] == pytest.approx(a * math.sqrt(2) / 4, abs=1e-9)
    assert result['num_h2_units'] == 0
    assert result['formula'] == 'Ca2H12' and result['reduced_formula'] == 'CaH6'
    assert result['num_atoms'] == 14 and result['num_hydrogen'] == 12
    assert result['hydrogen_share'] == pytest.approx(12 / 14)
    assert result['volume_per_atom'] == pytest.approx(a**3 / 14)


def test_other_reference_hydrides(structures):
    h3s = describe(structures['H3S'])
    assert (h3s['space_group_number'], h3s['space_group_symbol']) == (229, 'Im-3m')
    assert h3s['shortest_hh_distance'] == pytest.approx(3.0 / 2)  # H at 6b: a/2
    assert h3s['atomic_h_fraction'] == 1.0 and h3s['reduced_formula'] == 'SH3'
    assert describe(structures['YH6'])['space_group_number'] == 229
    cayh12 = describe(structures['CaYH12'])
    assert (cayh12['space_group_number'], cayh12['space_group_symbol']) == (221, 'Pm-3m')
    assert cayh12['shortest_hh_distance'] == pytest.approx(3.45 * math.sqrt(2) / 4)
    lah10 = describe(structures['LaH10'])
    assert (lah10['space_group_number'], lah10['space_group_symbol']) == (225, 'Fm-3m')
    # 8c-32f distance sqrt(3)*a*(x - 1/4) with a = 5.1, x = 0.38 (La-H 2.12 A)
    assert lah10['shortest_hh_distance'] == pytest.approx(math.sqrt(3) * 5.1 * 0.13)
    assert lah10['num_atoms'] == 11 and lah10['atomic_h_fraction'] == 1.0


def test_molecular_hydrogen(structures):
    atoms = structures['H2']
    result = describe(atoms)
    assert result['num_h2_units'] == 2
    assert result['atomic_h_fraction'] == pytest.approx(1 / 5)
    assert result['shortest_hh_distance'] == pytest.approx(0.74)
    assert count_h2_units(atoms) == 2 and atomic_h_fraction(atoms) == pytest.approx(0.2)
    # with a threshold below the bond length, every H counts as atomic and no H2 unit remains
    assert atomic_h_fraction(atoms, threshold=0.7) == 1.0
    assert count_h2_units(atoms, threshold=0.7) == 0


def test_threshold_changes_the_atomic_fraction(structures):
    result = describe(structures['CaH6'], h_threshold=1.3)
    assert result['atomic_h_fraction'] == 0.0 and result['h_threshold'] == 1.3


def test_small_cells_use_periodic_images_of_the_atom_itself():
    lone = Atoms('H', positions=[(0.3, 0.2, 0.1)], cell=[2.0, 2.5, 3.0], pbc=True)
    indices, distances = hydrogen_nearest_neighbours(lone)
    assert indices.tolist() == [0] and distances[0] == pytest.approx(2.0)
    assert atomic_h_fraction(lone) == 1.0 and count_h2_units(lone) == 0
    chain = Atoms('H', positions=[(0, 0, 0)], cell=[0.8, 4.0, 4.0], pbc=True)
    assert atomic_h_fraction(chain) == 0.0 and count_h2_units(chain) == 0
    assert shortest_hh_distance(chain) == pytest.approx(0.8)


def test_primitive_cell_gives_the_same_answers(structures):
    import spglib

    atoms = structures['CaH6']
    cell, positions, numbers = spglib.standardize_cell(
        (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), to_primitive=True, symprec=1e-3
    )
    primitive = Atoms(numbers=numbers, scaled_positions=positions, cell=cell, pbc=True)
    assert len(primitive) == 7
    result = describe(primitive)
    assert result['space_group_number'] == 229
    assert result['shortest_hh_distance'] == pytest.approx(3.5 * math.sqrt(2) / 4)
    assert result['atomic_h_fraction'] == 1.0


def test_skewed_cell_matches_brute_force():
    rng = np.random.default_rng(7)
    cell = np.array([[3.1, 0.0, 0.0], [2.6, 1.2, 0.0], [1.9, 0.8, 1.4]])  # strongly sheared
    scaled = rng.random((9, 3))
    atoms = Atoms('H9', scaled_positions=scaled, cell=cell, pbc=True)
    shifts = np.array([(i, j, k) for i in range(-4, 5) for j in range(-4, 5) for k in range(-4, 5)]) @ cell
    positions = atoms.positions
    expected = []
    for i in range(len(atoms)):
        vectors = positions[None, :, :] + shifts[:, None, :] - positions[i]
        lengths = np.linalg.norm(vectors, axis=-1)
        lengths[np.all(shifts == 0, axis=1).nonzero()[0], i] = np.inf  # the atom itself
        expected.append(lengths.min())
    _, distances = hydrogen_nearest_neighbours(atoms)
    assert np.allclose(distances, expected)


def test_symprec_is_a_parameter(structures):
    atoms = structures['CaH6'].copy()
    atoms.positions[2] += (0.03, 0.02, 0.0)
    assert space_group(atoms, symprec=0.1)[0] == 229
    assert space_group(atoms, symprec=0.001)[0] < 229
    with pytest.raises(HydridesInputError, match='symprec'):
        space_group(atoms, symprec=0)


def test_structure_without_hydrogen():
    aluminium = Atoms('Al', scaled_positions=[(0, 0, 0)], cell=[[0, 2, 2], [2, 0, 2], [2, 2, 0]], pbc=True)
    result = describe(aluminium)
    assert result['space_group_number'] == 225
    assert result['atomic_h_fraction'] is None and result['shortest_hh_distance'] is None
    assert result['num_h2_units'] == 0 and result['hydrogen_share'] == 0.0


def test_bad_threshold(structures):
    with pytest.raises(HydridesInputError, match='threshold'):
        describe(structures['CaH6'], h_threshold=-1)


def test_non_periodic_molecule_and_mixed_boundaries():
    from aiida_hydrides.core.descriptors import nearest_neighbour_distances

    molecule = Atoms('H3', positions=[(0, 0, 0), (0.74, 0, 0), (4.0, 0, 0)])
    indices, distances = nearest_neighbour_distances(molecule)
    assert indices.tolist() == [1, 0, 1]
    assert distances == pytest.approx([0.74, 0.74, 3.26])
    assert count_h2_units(molecule) == 1
    lone = Atoms('H', positions=[(0, 0, 0)])
    assert nearest_neighbour_distances(lone)[0].tolist() == [-1]
    assert shortest_hh_distance(lone) is None
    slab = Atoms('H2', positions=[(0, 0, 0), (0, 0, 3.0)], cell=[1.5, 1.5, 10.0], pbc=[True, True, False])
    assert nearest_neighbour_distances(slab)[1] == pytest.approx([1.5, 1.5])
