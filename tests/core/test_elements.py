"""Tests for the element space."""

import pytest

from aiida_hydrides.core.elements import (
    DEFAULT_ELEMENTS,
    DEFAULT_METALS,
    DEFAULT_NONMETALS,
    ElementSpace,
    atomic_number,
    is_metal,
    validate_symbol,
)
from aiida_hydrides.core.errors import HydridesInputError, UnknownElementError

#: Metals named by the 2025 ternary-hydride study.
STUDY_METALS = {'Li', 'Na', 'K', 'Mg', 'Ca', 'Sr', 'Sc', 'Y', 'La', 'Ce', 'Lu', 'Th', 'Zr', 'Al', 'Be'}


def test_default_space_has_29_elements_and_378_pairs():
    space = ElementSpace.default()
    assert len(space) == 29
    assert space.elements[0] == 'H'
    assert len(space.partners) == 28
    assert len(DEFAULT_METALS) == 19 and len(DEFAULT_NONMETALS) == 9
    assert set(space.metals) == set(DEFAULT_METALS)
    assert set(space.nonmetals) == set(DEFAULT_NONMETALS)
    assert STUDY_METALS <= set(DEFAULT_METALS)
    assert {'Ba', 'Ti', 'Hf', 'Nb'} <= set(DEFAULT_METALS)
    pairs = space.pairs()
    assert space.num_pairs == len(pairs) == 378
    assert len({frozenset(pair) for pair in pairs}) == 378
    assert all('H' not in pair and pair[0] != pair[1] for pair in pairs)
    assert pairs[0] == ('Li', 'Na')
    assert tuple(DEFAULT_ELEMENTS) == space.elements


def test_custom_space_from_symbols_and_text():
    space = ElementSpace(['Ca', 'Y', 'La', 'Y'])
    assert space.elements == ('H', 'Ca', 'Y', 'La')
    assert space.pairs() == [('Ca', 'Y'), ('Ca', 'La'), ('Y', 'La')]
    assert ElementSpace('Ca, Y La') == ElementSpace(['La', 'Y', 'Ca', 'H'])
    assert 'Ca' in space and 'Fe' not in space
    assert space.validate('La') == 'La'


def test_unknown_symbols_are_named_with_a_suggestion():
    with pytest.raises(UnknownElementError, match="'Xx'"):
        validate_symbol('Xx')
    with pytest.raises(UnknownElementError, match="did you mean 'Ca'"):
        validate_symbol('ca')
    with pytest.raises(UnknownElementError, match="'Xx'"):
        ElementSpace(['Ca', 'Xx'])
    with pytest.raises(UnknownElementError, match="'Fe' is not in the element space"):
        ElementSpace.default().validate('Fe')
    with pytest.raises(UnknownElementError, match='at least one element'):
        ElementSpace(['H'])
    assert issubclass(UnknownElementError, HydridesInputError)
    assert issubclass(HydridesInputError, ValueError)


def test_element_data():
    assert atomic_number('H') == 1
    assert atomic_number('Ca') == 20
    assert atomic_number('Th') == 90
    assert is_metal('Al') and is_metal('Be') and not is_metal('B') and not is_metal('Si')
