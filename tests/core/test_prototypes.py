"""The one prototype table: builders, descriptions and the templates the structure search seeds from."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototypes import PROTOTYPES, build_prototype, search_templates, sodalite_mh6
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
