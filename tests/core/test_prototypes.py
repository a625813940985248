"""The one prototype table: builders, descriptions and the templates the structure search seeds from."""

import numpy as np
import pytest

from aiida_hydrides.core.descriptors import describe, shortest_hh_distance, space_group
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototypes import (
    PROTOTYPES,
    build_prototype,
    fcc_mh3,
    hexagonal_mh9,
    labh8_type,
    li2mgh16_type,
    rocksalt_mh,
    search_templates,
    sodalite_mh6,
    tetragonal_mh4,
)
from aiida_hydrides.core.search.seeding import TEMPLATES


def test_search_templates_come_from_the_table():
    assert list(TEMPLATES) == ['CaH6-primitive', 'CaH6', 'H3S-primitive', 'H3S', 'LaH10']
    assert list(search_templates()) == list(TEMPLATES)
    assert all(PROTOTYPES[name].builder is builder for name, builder in TEMPLATES.items())


def test_primitive_sodalite_is_half_the_conventional_cell():
    primitive = build_prototype('CaH6-primitive', 'Y')
    conventional = sodalite_mh6('Y')
    assert primitive.get_chemical_formula() == 'H6Y' and len(conventional) == 2 * len(primitive)
    assert primitive.get_volume() == pytest.approx(conventional.get_volume() / 2)
    distances = primitive.get_all_distances(mic=True)[0, 1:]
    assert np.all(distances > 1.5)


def test_every_prototype_builds():
    for name, entry in PROTOTYPES.items():
        atoms = build_prototype(name)
        assert len(atoms) > 0 and entry.description
    with pytest.raises(HydridesInputError, match='unknown prototype'):
        build_prototype('NaCl')


@pytest.mark.parametrize(
    ('name', 'number', 'formula'),
    [
        ('CaH6-primitive', 229, 'CaH6'),
        ('CaH6', 229, 'CaH6'),
        ('CaYH12', 221, 'CaYH12'),
        ('H3S-primitive', 229, 'SH3'),
        ('H3S', 229, 'SH3'),
        ('LaH10', 225, 'LaH10'),
        ('fcc', 225, 'Al'),
        ('YH9', 194, 'YH9'),
        ('CaH4', 139, 'CaH4'),
        ('LaBH8', 225, 'BLaH8'),
        ('Li2MgH16', 227, 'Li2MgH16'),
        ('YH3', 225, 'YH3'),
        ('LaH', 225, 'LaH'),
    ],
)
def test_every_builder_gives_its_space_group_and_composition(name, number, formula):
    atoms = build_prototype(name)
    info = describe(atoms)
    assert space_group(atoms)[0] == number and space_group(atoms, symprec=1e-4)[0] == number
    assert info['reduced_formula'] == formula
    shortest = shortest_hh_distance(atoms)
    assert name == 'fcc' or shortest > 0.9


def test_builders_take_other_elements_and_cells():
    cases = [
        (hexagonal_mh9('Ce', 3.711, 5.543), 194, 'CeH9'),
        (tetragonal_mh4('Y', 2.8, 5.4), 139, 'YH4'),
        (labh8_type('La', 'Be', 5.45), 225, 'BeLaH8'),
        (li2mgh16_type('Ca', 'Na', 7.2), 227, 'Na2CaH16'),
        (fcc_mh3('La', 4.7), 225, 'LaH3'),
        (rocksalt_mh('Li', 3.3), 225, 'LiH'),
    ]
    for atoms, number, formula in cases:
        assert space_group(atoms)[0] == number
        assert describe(atoms)['reduced_formula'] == formula
        assert shortest_hh_distance(atoms) is None or shortest_hh_distance(atoms) > 0.9


def test_known_entries_carry_label_source_and_compounds():
    known = {name: entry for name, entry in PROTOTYPES.items() if entry.known}
    assert {'CaH6', 'H3S', 'LaH10', 'CaYH12', 'YH9', 'CaH4', 'LaBH8', 'Li2MgH16', 'YH3'} <= set(known)
    for name, entry in known.items():
        assert entry.label and entry.compounds and 'doi:10.' in entry.source, name
    # the primitive cells are the same prototypes as their conventional cells
    assert PROTOTYPES['CaH6-primitive'].label == PROTOTYPES['CaH6'].label
    assert PROTOTYPES['H3S-primitive'].label == PROTOTYPES['H3S'].label
    assert not PROTOTYPES['fcc'].known and not PROTOTYPES['fcc'].search_template
