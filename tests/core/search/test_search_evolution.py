"""Learning operators: composition kept, distance limits respected, impossible offspring discarded."""

from collections import Counter

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6
from aiida_hydrides.core.search.distances import DistanceLimits
from aiida_hydrides.core.search.evolution import (
    heredity,
    make_offspring,
    permutation_mutation,
    pso_move,
    strain_mutation,
)
from aiida_hydrides.core.search.generator import RandomStructureGenerator

from search_helpers import FAST_GROUPS, assert_limits


@pytest.fixture(scope='module')
def parents():
    generator = RandomStructureGenerator('CaYH12', max_atoms=14, space_groups=FAST_GROUPS)
    return generator.generate_many(3, np.random.default_rng(2)) + [ordered_sodalite_abh12()]


@pytest.mark.parametrize('operator', ['heredity', 'pso', 'mutation'])
def test_offspring_keep_composition_and_distances(parents, operator):
    rng = np.random.default_rng(9)
    made = 0
    for k in range(6):
        pair = [parents[k % 4], parents[(k + 1) % 4]]
        child = make_offspring(operator, pair if operator != 'mutation' else pair[:1], rng)
        if child is None:
            continue
        made += 1
        assert Counter(child.get_chemical_symbols()) == Counter(pair[0].get_chemical_symbols())
        assert child.info['origin'] == operator
        assert_limits(child)
    assert made >= 4


def test_raw_heredity_preserves_composition(parents):
    rng = np.random.default_rng(0)
    for k in range(10):
        child = heredity(parents[k % 4], parents[(k + 2) % 4], rng)
        assert Counter(child.numbers.tolist()) == Counter(parents[0].numbers.tolist())
        assert child.get_volume() == pytest.approx(
            np.interp(0.5, [0, 1], [parents[k % 4].get_volume(), parents[(k + 2) % 4].get_volume()]), rel=0.25
        )


def test_pso_move_towards_the_guide_itself_stays_close():
    atoms = ordered_sodalite_abh12()
    moved = pso_move(atoms, atoms.copy(), np.random.default_rng(0), inertia=0.0)
    assert moved.get_volume() == pytest.approx(atoms.get_volume())
    assert Counter(moved.numbers.tolist()) == Counter(atoms.numbers.tolist())


def test_mutations():
    atoms = ordered_sodalite_abh12()
    rng = np.random.default_rng(1)
    strained = strain_mutation(atoms, rng)
    assert strained.get_volume() == pytest.approx(atoms.get_volume())
    assert not np.allclose(strained.cell.array, atoms.cell.array)
    swapped = permutation_mutation(atoms, rng, swaps=1)
    assert swapped.get_chemical_symbols()[:2] == ['Y', 'Ca']
    assert swapped.get_chemical_symbols()[2:] == atoms.get_chemical_symbols()[2:]
    assert permutation_mutation(sodalite_mh6('Ca'), rng) is None  # one heavy element: nothing to swap


def test_impossible_offspring_is_discarded_and_bad_parents_rejected(parents):
    huge = DistanceLimits(hh=3.0, mh=3.0, mm=3.0)
    assert make_offspring('mutation', parents[:1], np.random.default_rng(0), huge, attempts=2) is None
    with pytest.raises(HydridesInputError):
        heredity(parents[0], sodalite_mh6('Ca'), np.random.default_rng(0))
    with pytest.raises(HydridesInputError):
        make_offspring('crossover', parents[:2], np.random.default_rng(0))
