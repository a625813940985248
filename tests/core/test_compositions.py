"""Tests for composition enumeration, parsing and reference phases."""

import types

import pytest

from aiida_hydrides.core.compositions import (
    Composition,
    CompositionRules,
    ReferenceRules,
    count_compositions,
    count_space_compositions,
    enumerate_compositions,
    iter_compositions,
    iter_space_compositions,
    parse_formula,
    parse_system,
    reference_compositions,
)
from aiida_hydrides.core.elements import ElementSpace
from aiida_hydrides.core.errors import CompositionRuleError, UnknownElementError


def test_counts_per_system_match_the_study():
    items = enumerate_compositions('Ca-Y')
    assert len(items) == count_compositions('Ca-Y') == 576
    assert len(set(items)) == 576
    reduced = {item.reduced() for item in items}
    assert len(reduced) == count_compositions('Ca-Y', distinct=True) == 473
    distinct = enumerate_compositions('Ca-Y', distinct=True)
    assert len(distinct) == 473 and set(distinct) == reduced
    assert items[0].formula == 'CaYH6' and items[-1].formula == 'Ca4Y4H80'
    for item in items:
        assert 1 <= item.m <= 4 and 1 <= item.n <= 4
        assert 3 * (item.m + item.n) <= item.x <= 10 * (item.m + item.n)
    # 7(m+n)+1 values of x for every (m, n)
    for m in range(1, 5):
        for n in range(1, 5):
            assert sum(1 for item in items if (item.m, item.n) == (m, n)) == 7 * (m + n) + 1
    formulas = {item.formula for item in items}
    assert {'CaYH12', 'Ca2Y2H24', 'Ca3YH24'} <= formulas
    assert 'Ca2Y2H24' not in {item.formula for item in distinct}


def test_whole_default_space():
    assert count_space_compositions() == 217728 == 378 * 576
    assert count_space_compositions(distinct=True) == 378 * 473
    stream = iter_space_compositions()
    assert isinstance(stream, types.GeneratorType)
    first = next(stream)
    assert first.formula == 'LiNaH6'
    small = ElementSpace(['Ca', 'Y', 'La'])
    assert sum(1 for _ in iter_space_compositions(small)) == count_space_compositions(small) == 3 * 576


def test_custom_rules():
    rules = CompositionRules(max_m=2, max_n=1, min_h_ratio=2, max_h_ratio=4)
    # (m, n) = (1, 1): x in 4..8 (5); (2, 1): x in 6..12 (7)
    assert rules.count() == 12
    assert [c.formula for c in iter_compositions('La-Y', rules)][:2] == ['LaYH4', 'LaYH5']
    with pytest.raises(CompositionRuleError, match='min_h_ratio'):
        CompositionRules(min_h_ratio=5, max_h_ratio=4)
    with pytest.raises(CompositionRuleError, match='max_m'):
        CompositionRules(max_m=0)


def test_composition_value_object():
    comp = parse_formula('Ca3YH24')
    assert (comp.m, comp.n, comp.x) == (3, 1, 24)
    assert comp.num_atoms == 28
    assert comp.hydrogen_share == pytest.approx(24 / 28)
    assert comp.counts == {'Ca': 3, 'Y': 1, 'H': 24}
    assert comp.formula == 'Ca3YH24' and comp.reduced_formula == 'Ca3YH24'
    big = Composition.from_formula('Ca2Y2H24')
    assert big.reduced_formula == 'CaYH12' and big.factor == 2 and big.reduced() == parse_formula('CaYH12')
    assert Composition({'H': 12, 'Ca': 1, 'Y': 1}).formula == 'CaYH12'  # hydrogen last, others in order given
    assert parse_formula('H12CaY') == parse_formula('CaYH12')
    assert hash(parse_formula('YCaH12')) == hash(parse_formula('CaYH12'))
    assert Composition.ternary('Ca', 'Y', 1, 1, 12).as_dict()['hydrogen_share'] == pytest.approx(12 / 14)
    assert parse_formula('H').formula == 'H' and parse_formula('CaH6').n == 0


@pytest.mark.parametrize(
    'args, message',
    [
        ((5, 1, 20), r'm=5 is outside the rules: 1 <= m <= 4'),
        ((1, 0, 6), r'n=0 is outside the rules'),
        ((1, 1, 21), r'x=21 is outside the hydrogen range for m=1, n=1: 6 <= x <= 20'),
        ((1, 1, 5), r'x=5 is outside'),
        ((1.5, 1, 8), r'm must be a whole number'),
    ],
)
def test_rule_violations(args, message):
    with pytest.raises(CompositionRuleError, match=message):
        Composition.ternary('Ca', 'Y', *args)


def test_check_composition_against_rules():
    rules = CompositionRules()
    assert rules.check_composition('CaYH12').x == 12
    with pytest.raises(CompositionRuleError, match='x=40'):
        rules.check_composition('CaYH40')
    with pytest.raises(CompositionRuleError, match='not a ternary hydride'):
        rules.check_composition('CaH6')


@pytest.mark.parametrize('text', ['Ca-Y', 'CaY', 'Ca Y', 'Ca,Y', 'Ca-Y-H', ' Ca_Y '])
def test_parse_system(text):
    assert parse_system(text) == ('Ca', 'Y')


@pytest.mark.parametrize(
    'text, error, message',
    [
        ('Xx-Y', UnknownElementError, "'Xx'"),
        ('ca-y', UnknownElementError, "did you mean 'Ca'"),
        ('Ca-Ca', CompositionRuleError, 'two different elements'),
        ('CaYH12', CompositionRuleError, 'looks like a formula'),
        ('Ca', CompositionRuleError, 'exactly two elements'),
        ('Ca-Y-La', CompositionRuleError, 'exactly two elements'),
        ('H-Ca', CompositionRuleError, 'must not be hydrogen'),
    ],
)
def test_parse_system_errors(text, error, message):
    with pytest.raises(error, match=message):
        parse_system(text)


def test_system_restricted_to_a_space():
    with pytest.raises(UnknownElementError, match="'Fe' is not in the element space"):
        parse_system('Fe-Y', space=ElementSpace.default())


@pytest.mark.parametrize(
    'text, error, message',
    [
        ('CaXxH3', UnknownElementError, "'Xx'"),
        ('cah6', CompositionRuleError, 'cannot parse'),
        ('CaH0', CompositionRuleError, 'zero count'),
        ('', CompositionRuleError, 'cannot parse'),
        ('Ca(H2)3', CompositionRuleError, 'cannot parse'),
    ],
)
def test_parse_formula_errors(text, error, message):
    with pytest.raises(error, match=message):
        parse_formula(text)


def test_reference_phases():
    phases = reference_compositions('Ca-Y')
    assert [c.formula for c in phases.elements] == ['Ca', 'Y', 'H']
    assert len(phases.hydrides) == 110 and len(phases.alloys) == 11 and len(phases) == 124
    hydrides = {c.formula for c in phases.hydrides}
    assert {'CaH', 'CaH2', 'CaH6', 'CaH10', 'YH3', 'YH6', 'YH9', 'Ca3H8', 'Y4H15'} <= hydrides
    assert 'CaH11' not in hydrides and 'Ca2H4' not in hydrides
    assert [c.formula for c in phases.alloys] == [
        'Ca4Y',
        'Ca3Y',
        'Ca2Y',
        'Ca3Y2',
        'Ca4Y3',
        'CaY',
        'Ca3Y4',
        'Ca2Y3',
        'CaY2',
        'CaY3',
        'CaY4',
    ]
    small = reference_compositions('Ca-Y', ReferenceRules(max_hydride_k=1, max_hydride_ratio=6, include_alloys=False))
    assert [c.formula for c in small.hydrides] == [f'CaH{i}'.replace('H1', 'H') for i in range(1, 7)] + [
        f'YH{i}'.replace('H1', 'H') for i in range(1, 7)
    ]
    assert small.alloys == ()
    assert small.as_dict()['system'] == 'Ca-Y'
