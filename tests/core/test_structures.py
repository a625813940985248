"""Tests for reading and validating structure files."""

import collections

import pytest

from aiida_hydrides.core.errors import HydridesInputError, StructureReadError
from aiida_hydrides.core.structures import guess_format, read_structure, validate_structure


@pytest.fixture(scope='module')
def folder(data_dir):
    return data_dir / 'structures'


@pytest.mark.parametrize(
    'name, counts',
    [
        ('CaH6_Im-3m.cif', {'Ca': 2, 'H': 12}),
        ('CaH6_Im-3m.pwi', {'Ca': 2, 'H': 12}),
        ('YH6_Im-3m.cif', {'Y': 2, 'H': 12}),
        ('H3S_Im-3m.cif', {'S': 2, 'H': 6}),
        ('CaYH12_Pm-3m.cif', {'Ca': 1, 'Y': 1, 'H': 12}),
        ('H2_molecular.extxyz', {'Li': 1, 'H': 5}),
        ('LaH10_Fm-3m.POSCAR', {'La': 1, 'H': 10}),
    ],
)
def test_read_test_structures(folder, name, counts):
    structure = read_structure(folder / name)
    assert collections.Counter(structure.get_chemical_symbols()) == counts
    assert all(structure.pbc)


@pytest.mark.parametrize(
    'name, expected',
    [
        ('POSCAR', 'vasp'),
        ('CONTCAR', 'vasp'),
        ('relax.POSCAR', 'vasp'),
        ('x.cif', 'cif'),
        ('x.CIF', 'cif'),
        ('x.xyz', 'extxyz'),
        ('x.extxyz', 'extxyz'),
        ('scf.in', 'espresso-in'),
        ('scf.pwi', 'espresso-in'),
        ('scf.pwo', 'espresso-out'),
        ('x.unknown', None),
    ],
)
def test_guess_format_from_name(name, expected):
    assert guess_format(name) == expected


def test_guess_qe_output_from_content(tmp_path):
    path = tmp_path / 'aiida.out'
    path.write_text('\n     Program PWSCF v.6.7MaX starts on ...\n')
    assert guess_format(path) == 'espresso-out'
    other = tmp_path / 'job.out'
    other.write_text('something else\n')
    assert guess_format(other) is None


def test_poscar_named_file(tmp_path, folder):
    path = tmp_path / 'POSCAR'
    path.write_text((folder / 'LaH10_Fm-3m.POSCAR').read_text())
    assert len(read_structure(path)) == 11


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(StructureReadError, match='structure file not found'):
        read_structure(tmp_path / 'nothere.cif')
    empty = tmp_path / 'empty.cif'
    empty.write_text('')
    with pytest.raises(StructureReadError, match='is empty'):
        read_structure(empty)
    with pytest.raises(StructureReadError, match='is a directory'):
        read_structure(tmp_path)


def test_malformed_content(tmp_path):
    garbage = tmp_path / 'garbage.cif'
    garbage.write_text('this is not a crystal\n')
    with pytest.raises(StructureReadError, match="could not read .*garbage.cif as 'cif'"):
        read_structure(garbage)
    broken = tmp_path / 'POSCAR'
    broken.write_text('broken\n1.0\n3 0 0\n0 3\n')
    with pytest.raises(StructureReadError, match='could not read'):
        read_structure(broken)


def test_unknown_format(tmp_path):
    path = tmp_path / 'structure.weird'
    path.write_text('1 2 3\n')
    with pytest.raises(StructureReadError, match='format'):
        read_structure(path)


def test_unknown_element(tmp_path):
    path = tmp_path / 'POSCAR'
    path.write_text('Xx\n1.0\n3 0 0\n0 3 0\n0 0 3\nXx\n1\nDirect\n0 0 0\n')
    with pytest.raises(StructureReadError, match="unknown element 'Xx'|unknown element"):
        read_structure(path)


def test_overlapping_atoms(tmp_path):
    path = tmp_path / 'overlap.xyz'
    path.write_text('2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\nCa 0 0 0\nH 0.1 0 0\n')
    with pytest.raises(StructureReadError, match=r'overlapping atoms: .* 0\.100 A apart'):
        read_structure(path)
    # across the periodic boundary too
    path.write_text('2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\nCa 0 0 0\nH 3.95 0 0\n')
    with pytest.raises(StructureReadError, match='overlapping atoms'):
        read_structure(path)
    assert len(read_structure(path, validate=False)) == 2


def test_zero_volume_cell(tmp_path):
    path = tmp_path / 'molecule.xyz'
    path.write_text('2\nmolecule without a cell\nH 0 0 0\nH 0.74 0 0\n')
    with pytest.raises(StructureReadError, match='no 3-D periodic cell'):
        read_structure(path)


def test_validate_empty_structure():
    from ase import Atoms

    with pytest.raises(StructureReadError, match='has no atoms'):
        validate_structure(Atoms(cell=[3, 3, 3], pbc=True))
    assert issubclass(StructureReadError, HydridesInputError)
