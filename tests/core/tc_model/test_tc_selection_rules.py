"""The two-stage selection (pure): stage-1 priority rules, stage-2 ranking by predicted Tc, the exact random baseline,
the replay, and the selection benchmark script on synthetic inputs."""

import itertools
import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model.records import TcRecord
from aiida_hydrides.core.tc_model.selection import (
    Candidate,
    Stage1Rules,
    expected_random_share,
    random_at_least_probability,
    rank_stage1,
    rank_stage2,
    replay,
    top_names,
    two_stage,
)

ROOT = pathlib.Path(__file__).resolve().parents[3]
BENCHMARK = ROOT / 'benchmarks' / 'tc_selection.py'


def test_rules_have_strict_priorities():
    candidates = [
        # passes symmetry and few atoms (2 + 1) but not the H share
        Candidate('small-cubic', natoms=4, space_group_number=229, hydrogen_share_of_dos_ef=0.2),
        # passes only the H share (4): it comes first
        Candidate('big-triclinic', natoms=40, space_group_number=1, hydrogen_share_of_dos_ef=0.6),
        Candidate('nothing', natoms=40, space_group_number=12, hydrogen_share_of_dos_ef=0.1),
    ]
    choices = rank_stage1(candidates)
    assert [choice.name for choice in choices] == ['big-triclinic', 'small-cubic', 'nothing']
    assert [choice.rank for choice in choices] == [1, 2, 3]
    assert [choice.rule for choice in choices] == ['h_dos_share', 'symmetry+few_atoms', 'none']
    assert {choice.stage for choice in choices} == {1}
    assert choices[0].score == pytest.approx(4 + 0.6 * 0.999)
    assert choices[1].score == pytest.approx(3 + 0.2 * 0.999)
    assert set(choices[0].as_dict()) == {'name', 'stage', 'rule', 'score', 'rank', 'details'}


def test_unknown_values_do_not_pass_and_are_reported():
    known = Candidate('known', natoms=7, space_group_number=229, hydrogen_share_of_dos_ef=0.45)
    unknown = Candidate('unknown', natoms=7, space_group_number=229, hydrogen_fraction=0.9)
    choices = rank_stage1([unknown, known])
    assert [choice.name for choice in choices] == ['known', 'unknown']
    assert choices[1].rule == 'symmetry+few_atoms'
    assert choices[1].details['unknown'] == ['h_dos_share']
    # the share of the atoms that are H breaks ties where N(E_F) is unknown
    assert choices[1].details['tie_break'] == 'hydrogen_fraction'
    assert choices[1].score == pytest.approx(3 + 0.9 * 0.999)


def test_thresholds_and_ties():
    rules = Stage1Rules(h_dos_share_min=0.3, space_group_min=75, natoms_max=4)
    a = Candidate('a', natoms=5, space_group_number=139, hydrogen_share_of_dos_ef=0.3)
    b = Candidate('b', natoms=4, space_group_number=139, hydrogen_share_of_dos_ef=0.3)
    choices = rank_stage1([a, b], rules)
    assert [choice.name for choice in choices] == ['b', 'a']
    assert choices[0].rule == 'h_dos_share+symmetry+few_atoms' and choices[1].rule == 'h_dos_share+symmetry'
    with pytest.raises(HydridesInputError, match='space_group_min'):
        Stage1Rules(space_group_min=300)
    with pytest.raises(HydridesInputError, match='unique'):
        rank_stage1([a, a])


def test_stage2_ranks_by_upper_confidence_and_e_hull():
    candidates = [
        Candidate('sure', tc_mean_k=150.0, tc_spread_k=5.0, e_hull_mev=10.0),
        Candidate('unsure', tc_mean_k=120.0, tc_spread_k=60.0, e_hull_mev=20.0),
        Candidate('tie-low-hull', tc_mean_k=150.0, tc_spread_k=5.0, e_hull_mev=0.0),
        Candidate('unstable', tc_mean_k=300.0, tc_spread_k=5.0, e_hull_mev=80.0),
        Candidate('unpredicted'),
    ]
    choices, left_out = rank_stage2(candidates, kappa=0.0, e_hull_max_mev=50.0)
    assert [choice.name for choice in choices] == ['tie-low-hull', 'sure', 'unsure']
    assert choices[0].rule == 'tc_mean' and choices[0].score == 150.0
    assert {item['name']: item['reason'] for item in left_out} == {
        'unstable': 'E_hull 80 > 50 meV/atom',
        'unpredicted': 'no Tc prediction',
    }
    choices, _ = rank_stage2(candidates, kappa=1.0, e_hull_max_mev=50.0)
    assert [choice.name for choice in choices] == ['unsure', 'tie-low-hull', 'sure']
    assert choices[0].rule == 'tc_mean+1*tc_spread' and choices[0].score == 180.0
    assert choices[0].details['kappa'] == 1.0
    # without a limit the high-E_hull one comes first
    choices, _ = rank_stage2(candidates, kappa=0.0, exclude={'sure'})
    assert [choice.name for choice in choices] == ['unstable', 'tie-low-hull', 'unsure']


def test_stage2_errors():
    with pytest.raises(HydridesInputError, match='no Tc prediction|none of the'):
        rank_stage2([Candidate('a'), Candidate('b')])
    with pytest.raises(HydridesInputError, match='kappa'):
        rank_stage2([Candidate('a', tc_mean_k=1.0)], kappa=-1)
    choices, _ = rank_stage2([Candidate('a', tc_mean_k=10.0)], kappa=2.0)
    assert choices[0].details['note'] == 'no spread: counted as 0' and choices[0].score == 10.0


def test_two_stage_splits_the_budget():
    candidates = [
        Candidate('rules-1', natoms=4, space_group_number=229, hydrogen_share_of_dos_ef=0.5, tc_mean_k=10.0),
        Candidate('rules-2', natoms=4, space_group_number=229, hydrogen_share_of_dos_ef=0.45, tc_mean_k=20.0),
        Candidate('model-1', natoms=40, space_group_number=2, tc_mean_k=200.0),
        Candidate('model-2', natoms=40, space_group_number=2, tc_mean_k=150.0),
        Candidate('model-3', natoms=40, space_group_number=2, tc_mean_k=100.0),
    ]
    choices = two_stage(candidates, budget=3)
    assert [(choice.name, choice.stage, choice.rank) for choice in choices] == [
        ('rules-1', 1, 1),
        ('rules-2', 1, 2),
        ('model-1', 2, 3),
    ]
    choices = two_stage(candidates, budget=4, stage1_fraction=0.25)
    assert [choice.name for choice in choices] == ['rules-1', 'model-1', 'model-2', 'model-3']
    assert len(two_stage(candidates, budget=5, stage1_fraction=0.0)) == 5
    with pytest.raises(HydridesInputError, match='budget'):
        two_stage(candidates, budget=0)


def test_top_names_and_exact_random_baseline():
    truth = {'a': 300.0, 'b': 250.0, 'c': 250.0, 'd': 10.0, 'e': 5.0}
    assert top_names(truth, 0.1) == {'a'}
    assert top_names(truth, 0.4) == {'a', 'b', 'c'}  # a tie at the threshold counts
    assert expected_random_share(10, 5) == 0.5
    # the hypergeometric tail against brute-force enumeration of every choice
    n, top, budget = 8, 3, 4
    subsets = list(itertools.combinations(range(n), budget))
    for found in range(top + 1):
        count = sum(len(set(subset) & set(range(top))) >= found for subset in subsets)
        assert random_at_least_probability(n, top, budget, found) == pytest.approx(count / len(subsets))
    assert random_at_least_probability(n, top, budget, 0) == pytest.approx(1.0)


def _record(index: int, tc: float, share: float, space_group: int, natoms: int = 4) -> TcRecord:
    symbols = ('S',) + ('H',) * (natoms - 1)
    positions = tuple((0.5 * atom, 0.0, 0.0) for atom in range(natoms))
    return TcRecord(
        name=f'r{index:02d}',
        formula=f'X{index}H3',
        symbols=symbols,
        cell=((3.0, 0, 0), (0, 3.0, 0), (0, 0, 3.0)),
        positions=positions,
        pressure_gpa=200.0,
        tc_k=tc,
        features={'hydrogen_share_of_dos_ef': share, 'space_group_number': space_group, 'natoms': natoms},
    )


def _synthetic(n: int = 20):
    """Tc rises with the index; the H share follows it loosely; predictions are good but noisy."""
    records, predictions = [], {}
    for index in range(n):
        tc = 10.0 * index
        share = 0.2 + 0.3 * ((index * 7) % n) / n  # weakly related to Tc
        records.append(_record(index, tc, share, 229 if index % 2 else 139))
        predictions[f'r{index:02d}'] = {
            'tc_true_K': tc,
            'tc_mean_K': tc + (15.0 if index % 3 else -15.0),
            'tc_spread_K': 5.0,
        }
    return records, predictions


def test_replay_compares_the_policies():
    records, predictions = _synthetic(20)
    result = replay(records, predictions, budget=10, kappa=0.0, random_draws=2000, seed=1)
    assert result['n'] == 20 and result['budget'] == 10 and result['stage1_budget'] == 5
    assert result['top']['count'] == 2 and result['top']['names'] == ['r19', 'r18']
    assert result['random']['expected_share'] == 0.5
    assert abs(result['random']['mean_share_of_draws'] - 0.5) < 0.05
    # good predictions find the whole top with the model's half of the budget
    assert result['two_stage']['share'] == 1.0 and result['stage2_only']['share'] == 1.0
    assert 0 <= result['stage1_only']['share'] <= 1
    picks = result['two_stage']['picks']
    assert [pick['stage'] for pick in picks] == [1] * 5 + [2] * 5 and [pick['rank'] for pick in picks] == list(
        range(1, 11)
    )
    expected = random_at_least_probability(20, 2, 10, 2)
    assert result['random']['p_at_least_two_stage'] == pytest.approx(expected)


def test_replay_refuses_bad_inputs():
    records, predictions = _synthetic(12)
    del predictions['r03']
    with pytest.raises(HydridesInputError, match='no prediction'):
        replay(records, predictions, budget=6)
    records, predictions = _synthetic(12)
    with pytest.raises(HydridesInputError, match='budget'):
        replay(records, predictions, budget=13)


def _dataset_row(record: TcRecord, stable: bool = True) -> dict:
    return {
        'name': record.name,
        'formula': record.formula,
        'pressure_gpa': record.pressure_gpa,
        'status': 'stable' if stable else 'unstable',
        'space_group': {'number': record.features['space_group_number']},
        'natoms': record.natoms,
        'structure': {
            'cell': [list(vector) for vector in record.cell],
            'symbols': list(record.symbols),
            'scaled_positions': [[x / 3.0 for x in position] for position in record.positions],
        },
        'hydrogen_share_of_dos_ef': record.features['hydrogen_share_of_dos_ef'],
        'tc_K': {'allen_dynes_mu0_10': record.tc_k, 'eliashberg_mu0_10': record.tc_k + 20},
    }


def _run_benchmark(tmp_path, *args):
    env = {**os.environ, 'HYDRIDES_BENCHMARK_RESULTS': str(tmp_path / 'results')}
    return subprocess.run(
        [sys.executable, str(BENCHMARK), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_benchmark_on_synthetic_inputs(tmp_path):
    records, predictions = _synthetic(20)
    rows = [_dataset_row(record) for record in records] + [_dataset_row(_record(99, 0.0, 0.1, 2), stable=False)]
    dataset = tmp_path / 'tc_dataset.json'
    dataset.write_text(json.dumps({'rows': rows}))
    oof = tmp_path / 'tc_model_oof.json'
    oof.write_text(json.dumps(predictions))
    result = _run_benchmark(tmp_path, '--dataset', dataset, '--predictions', oof, '--random-draws', 100)
    assert result.returncode == 0, result.stderr
    content = json.loads((tmp_path / 'results' / 'tc_selection.json').read_text())
    for key in ('metric', 'value', 'unit', 'target', 'target_note', 'higher_is_better', 'machine', 'command'):
        assert key in content
    assert content['unit'] == 'fraction' and content['higher_is_better'] is True
    assert content['n_records'] == 20 and content['budget'] == 10
    assert content['value'] == content['two_stage']['share'] == 1.0
    assert content['target'] == content['random']['expected_share'] == 0.5
    assert 'random' in content['target_note']
    assert 0 <= content['stage1_only'] <= 1 and math.isfinite(content['random']['p_at_least_two_stage'])
    assert content['command'].startswith('python benchmarks/tc_selection.py')


def test_benchmark_stops_on_missing_or_small_inputs(tmp_path):
    result = _run_benchmark(tmp_path, '--dataset', tmp_path / 'nothing.json', '--predictions', tmp_path / 'no.json')
    assert result.returncode == 1 and 'is missing' in result.stderr and 'Traceback' not in result.stderr
    records, predictions = _synthetic(5)
    dataset = tmp_path / 'tc_dataset.json'
    dataset.write_text(json.dumps({'rows': [_dataset_row(record) for record in records]}))
    oof = tmp_path / 'tc_model_oof.json'
    oof.write_text(json.dumps(predictions))
    result = _run_benchmark(tmp_path, '--dataset', dataset, '--predictions', oof)
    assert result.returncode == 1 and 'at least 10' in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'results' / 'tc_selection.json').exists()
