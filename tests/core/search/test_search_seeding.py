"""Prototype seeds: stoichiometry matched, symmetry of the prototype, volume model, distance limits (the ordered
seeds of several heavy elements are tested further in test_search_orderings.py)."""

import numpy as np
import pytest

from aiida_hydrides.core.descriptors import space_group
from aiida_hydrides.core.search.seeding import prototype_seeds
from aiida_hydrides.core.search.volumes import estimate_volume

from search_helpers import assert_limits


def test_cayh12_seeds_include_the_ordered_sodalite():
    seeds = prototype_seeds({'Ca': 1, 'Y': 1, 'H': 12}, max_atoms=14)
    assert seeds
    groups = set()
    for atoms in seeds:
        symbols = atoms.get_chemical_symbols()
        units = symbols.count('Ca')
        assert symbols.count('Y') == units and symbols.count('H') == 12 * units and len(atoms) <= 14
        assert atoms.get_volume() == pytest.approx(estimate_volume({'Ca': units, 'Y': units, 'H': 12 * units}))
        assert atoms.info['origin'] == 'ordering' and atoms.info['prototype'] == 'CaH6-primitive'
        assert_limits(atoms)
        groups.add(space_group(atoms)[0])
    assert 221 in groups  # Pm-3m CaYH12


@pytest.mark.parametrize(
    'composition, prototype, number',
    [('CaH6', 'CaH6-primitive', 229), ('SH3', 'H3S-primitive', 229), ('LaH10', 'LaH10', 225)],
)
def test_binary_seeds_keep_the_prototype_symmetry(composition, prototype, number):
    seeds = [s for s in prototype_seeds(composition, max_atoms=16) if s.info['prototype'] == prototype]
    assert seeds and space_group(seeds[0])[0] == number
    assert_limits(seeds[0])


def test_no_seed_for_a_stoichiometry_without_prototype():
    assert prototype_seeds('CaYH7') == []
    assert prototype_seeds('CaY') == []


def test_seeds_are_reproducible():
    first = prototype_seeds('CaY3H24', rng=np.random.default_rng(3))
    second = prototype_seeds('CaY3H24', rng=np.random.default_rng(3))
    assert len(first) == len(second) > 0
    for a, b in zip(first, second):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
