"""The thresholds, verdicts and LAM-vs-DFT comparison of the filter cascade (pure core)."""

import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.screening import (
    STAGES,
    ScreenThresholds,
    compare_methods,
    first_failed_stage,
    missing_elements,
    stage_passes,
    stage_record,
    thresholds_from_parameters,
)


def test_defaults_are_the_study_values():
    thresholds = thresholds_from_parameters({})
    assert thresholds == ScreenThresholds()
    assert (thresholds.ehull_lam_max_mev, thresholds.space_group_min, thresholds.atomic_h_min) == (50.0, 75, 0.75)
    assert (thresholds.imaginary_max_thz, thresholds.ehull_dft_max_mev, thresholds.h_threshold) == (3.0, 50.0, 0.9)


def test_unknown_and_bad_thresholds_are_named():
    with pytest.raises(HydridesInputError, match=r"unknown parameters \['ehull_max'\]"):
        thresholds_from_parameters({'ehull_max': 10})
    with pytest.raises(HydridesInputError, match='atomic_h_min must lie between 0 and 1'):
        thresholds_from_parameters({'atomic_h_min': 2})
    with pytest.raises(HydridesInputError, match='space_group_min must be a whole number'):
        thresholds_from_parameters({'space_group_min': 'high'})
    with pytest.raises(HydridesInputError, match='ehull_lam_max_mev must be a number >= 0'):
        thresholds_from_parameters({'ehull_lam_max_mev': -1.0})


@pytest.mark.parametrize(
    ('stage', 'value', 'passed'),
    [
        ('lam_hull', 50.0, True),
        ('lam_hull', 50.1, False),
        ('symmetry', 75, False),  # strictly above 75
        ('symmetry', 76, True),
        ('atomic_h', 0.75, False),
        ('atomic_h', 1.0, True),
        ('lam_phonons', 3.0, True),
        ('lam_phonons', 3.5, False),
        ('dft_hull', 0.0, True),
        ('dft_hull', None, False),  # no value (a failed calculation) never passes
    ],
)
def test_stage_rules(stage, value, passed):
    assert stage_passes(stage, value, ScreenThresholds()) is passed


def test_stage_record_and_first_failed_stage():
    thresholds = ScreenThresholds()
    records = {
        'lam_hull': stage_record('lam_hull', 12.0, thresholds),
        'symmetry': stage_record('symmetry', 229, thresholds, symbol='Im-3m'),
        'atomic_h': stage_record('atomic_h', 1.0, thresholds),
        'lam_phonons': stage_record('lam_phonons', 7.5, thresholds),
    }
    assert records['lam_hull'] == {
        'value': 12.0,
        'threshold': 50.0,
        'rule': '<= 50',
        'unit': 'meV/atom',
        'passed': True,
    }
    assert records['symmetry']['symbol'] == 'Im-3m'
    assert first_failed_stage(records) == 'lam_phonons'
    assert first_failed_stage({stage: records[stage] for stage in STAGES[:3]}) is None
    assert stage_record('lam_hull', float('nan'), thresholds)['value'] is None
    with pytest.raises(HydridesInputError, match='unknown stage'):
        stage_record('novelty', 1, thresholds)


def test_missing_elements():
    assert missing_elements(['Ca', 'Y', 'H'], ['Ca2', 'CaH6', 'H4']) == ['Y']
    assert missing_elements(['Ca', 'H'], ['Ca', 'H2']) == []


def test_compare_methods():
    pairs = {'a': (0.0, 5.0), 'b': (10.0, 20.0), 'c': (30.0, 25.0), 'd': (None, 1.0)}
    result = compare_methods(pairs, worst=2)
    assert result['n'] == 3
    assert result['mae_mev'] == pytest.approx((5 + 10 + 5) / 3)
    assert result['max_abs_mev'] == pytest.approx(10.0)
    assert result['spearman'] == pytest.approx(1.0)
    assert [case['key'] for case in result['worst']] == ['b', 'a']
    assert result['worst'][0]['diff_mev'] == pytest.approx(-10.0)
    assert compare_methods({'a': (1.0, 2.0)})['spearman'] is None
    assert compare_methods({})['n'] == 0


def test_describe_rule():
    from aiida_hydrides.core.screening import describe_rule

    assert describe_rule('lam_hull', ScreenThresholds()) == 'E_hull(LAM) <= 50 meV/atom'
    assert describe_rule('symmetry', {'space_group_min': 140}) == 'space group > 140'
    assert describe_rule('atomic_h', ScreenThresholds()) == 'atomic-H fraction > 0.75'
    assert describe_rule('lam_phonons', ScreenThresholds()) == 'imaginary mode <= 3 THz'
