"""Cross-validation of Tc models without deepmd-kit: grouped folds, the mean and physics baselines, MAE over folds,
the out-of-fold predictions, the settings and the DeePMD inputs of the members."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model import evaluation, training
from aiida_hydrides.core.tc_model.records import TcRecord


def _record(name, formula, tc, share=None, h=3, metal='Y'):
    symbols = (metal,) + ('H',) * h
    positions = tuple((0.5 * i, 0.0, 0.0) for i in range(len(symbols)))
    features = {'hydrogen_fraction': h / (h + 1)}
    if share is not None:
        features['hydrogen_share_of_dos_ef'] = share
    cell = ((3.0, 0.0, 0.0), (0.0, 3.0, 0.0), (0.0, 0.0, 3.0))
    return TcRecord(name, formula, symbols, cell, positions, 200.0, tc, features)


def _dataset(n_formulas=8, per_formula=2, share=True):
    records = []
    rng = np.random.default_rng(0)
    for f in range(n_formulas):
        h = 2 + f
        for k in range(per_formula):
            s = 0.2 + 0.05 * f + 0.01 * k
            tc = 30.0 + 200.0 * s + 10.0 * h / (h + 1) + rng.normal(0, 0.1)
            records.append(_record(f'F{f}-{k}', f'YH{h}', tc, s if share else None, h=h))
    return records


def test_folds_are_grouped_deterministic_and_balanced():
    records = _dataset(n_formulas=9, per_formula=2)
    folds = evaluation.grouped_folds(records)
    assert len(folds) == evaluation.DEFAULT_FOLDS == 4
    assert sorted(i for fold in folds for i in fold) == list(range(len(records)))
    formulas = [{records[i].formula for i in fold} for fold in folds]
    for a in range(4):
        for b in range(a + 1, 4):
            assert not formulas[a] & formulas[b]  # one formula never in two folds
    assert max(map(len, folds)) - min(map(len, folds)) <= 2
    # the folds do not depend on the order of the records
    shuffled = list(reversed(records))
    again = evaluation.grouped_folds(shuffled)
    assert sorted(sorted(shuffled[i].name for i in fold) for fold in again) == sorted(
        sorted(records[i].name for i in fold) for fold in folds
    )


def test_too_few_formulas_is_a_clear_error():
    records = _dataset(n_formulas=3)
    with pytest.raises(HydridesInputError, match='at least 4 distinct formulas.*have 3'):
        evaluation.grouped_folds(records)
    with pytest.raises(HydridesInputError, match='integer >= 2'):
        evaluation.grouped_folds(records, 1)


def test_mae_and_baselines():
    assert evaluation.mae([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    with pytest.raises(HydridesInputError):
        evaluation.mae([1.0], [1.0, 2.0])
    records = _dataset()
    train, test = records[:10], records[10:]
    mean = evaluation.mean_predictor(train, test)
    assert mean == [pytest.approx(np.mean([r.tc_k for r in train]))] * len(test)
    # the labels are linear in the two features: the physics baseline recovers them
    physics = evaluation.physics_baseline(train, test)
    assert evaluation.mae([r.tc_k for r in test], physics) < 1.0
    assert evaluation.physics_features(records) == ('hydrogen_share_of_dos_ef', 'hydrogen_fraction')


def test_physics_falls_back_to_the_hydrogen_fraction_and_says_so():
    records = _dataset()
    records[3] = _record('F1-1', 'YH3', 100.0, None, h=3)
    assert evaluation.physics_features(records) == ('hydrogen_fraction',)
    result = evaluation.cross_validate(records, None)
    assert any('hydrogen_fraction only' in note and 'F1-1' in note for note in result.notes)


def test_cross_validate_runs_every_method_on_the_same_folds():
    records = _dataset()
    calls = []

    def perfect(train, test):
        calls.append((len(train), len(test)))
        assert not {r.formula for r in train} & {r.formula for r in test}
        return [(r.tc_k + 1.0, 0.5) for r in test]

    result = evaluation.cross_validate(records, perfect, others={'scratch': lambda tr, te: [r.tc_k + 3 for r in te]})
    assert len(calls) == 4 and sum(n for _, n in calls) == len(records)
    assert list(result.methods) == ['model', 'scratch', 'mean', 'physics']
    model = result.methods['model']
    assert model.mae == pytest.approx(1.0) and model.std == pytest.approx(0.0)
    assert result.methods['scratch'].mae == pytest.approx(3.0)
    assert result.methods['mean'].mae > result.methods['physics'].mae  # the physics baseline fits these labels
    assert set(model.predictions) == {r.name for r in records}
    assert model.predictions['F0-0'] == (pytest.approx(records[0].tc_k + 1.0), 0.5)
    assert result.methods['mean'].predictions['F0-0'][1] is None
    summary = json.loads(json.dumps(result.summary()))
    assert summary['n_folds'] == 4 and summary['n_records'] == 16
    assert summary['methods']['model']['fold_mae'] == pytest.approx([1.0] * 4)


def test_cross_validate_checks_the_predictions():
    records = _dataset()
    with pytest.raises(HydridesInputError, match='returned 1 predictions'):
        evaluation.cross_validate(records, lambda train, test: [1.0])
    with pytest.raises(HydridesInputError, match='non-finite'):
        evaluation.cross_validate(records, lambda train, test: [float('nan')] * len(test))
    unlabelled = [*records, _record('x', 'YH2', None)]
    with pytest.raises(HydridesInputError, match='without a Tc label'):
        evaluation.cross_validate(unlabelled, None)


def test_settings_and_member_inputs():
    settings = training.TcModelSettings.from_dict({'steps': 300, 'ensemble_size': 2, 'fitting_neuron': [8, 8]})
    assert settings.fitting_neuron == (8, 8) and settings.to_dict()['fitting_neuron'] == [8, 8]
    with pytest.raises(HydridesInputError, match="unknown Tc model settings \\['step'\\]"):
        training.TcModelSettings.from_dict({'step': 3})
    with pytest.raises(HydridesInputError, match='mode'):
        training.TcModelSettings(mode='init')
    with pytest.raises(HydridesInputError, match='multitask'):
        training.TcModelSettings(mode='scratch', multitask=True)
    with pytest.raises(HydridesInputError, match='stop_lr'):
        training.TcModelSettings(start_lr=1e-5, stop_lr=1e-3)

    from aiida_hydrides.models import SEED_MODEL

    descriptor, type_map, fitting = training.lam_parts(training.lam_model_params(SEED_MODEL))
    assert descriptor['type'] == 'se_e2_a' and type_map == ['H', 'Ca', 'Y'] and fitting['neuron'] == [64, 64, 64]
    first = training.member_input(settings, descriptor, type_map, 0)
    second = training.member_input(settings, descriptor, type_map, 1, validation_dir='val')
    assert first['model']['descriptor']['sel'] == descriptor['sel']  # the LAM's architecture, as it is
    fit = first['model']['fitting_net']
    assert fit['type'] == 'property' and fit['property_name'] == 'tc' and fit['intensive'] and fit['task_dim'] == 1
    assert first['training']['seed'] != second['training']['seed']
    assert first['training']['disp_file'] == 'lcurve_0.out' and second['training']['save_ckpt'] == 'member_1/model.ckpt'
    assert 'validation_data' in second['training'] and 'validation_data' not in first['training']

    steps = training.training_steps(settings, 'lam.pth', ['in.json', 'out.json'])
    assert steps[0] == ([training.CONVERT, 'lam.pth', 'lam.pt'], 'convert.log')
    assert steps[1][0][-4:] == ['--finetune', 'lam.pt', '--model-branch', 'RANDOM']
    assert [log for _, log in steps[1:]] == [
        'train_0.log',
        'freeze_0.log',
        'train_1.log',
        'freeze_1.log',
        'predict.log',
    ]
    scratch = training.training_steps(settings.replace(mode='scratch'), None)
    assert all('--finetune' not in argv for argv, _ in scratch) and len(scratch) == 4

    multi = training.member_input(
        settings.replace(multitask=True), descriptor, type_map, 0, energy_dir='energy', energy_fitting=fitting
    )
    heads = multi['model']['model_dict']
    assert heads['energy']['finetune_head'] == 'Default' and heads['tc']['finetune_head'] == 'RANDOM'
    assert set(multi['loss_dict']) == {'energy', 'tc'} and 'model_prob' in multi['training']
    multi_steps = training.training_steps(settings.replace(multitask=True), 'lam.pt')
    assert '--model-branch' not in multi_steps[0][0] and multi_steps[1][0][-2:] == ['--head', 'tc']


def test_benchmark_stops_cleanly_with_too_few_records(tmp_path):
    """benchmarks/tc_model_cv.py on a dataset of too few usable records: a message, exit status 2, nothing written."""
    root = pathlib.Path(__file__).resolve().parents[3]
    rows = json.loads((root / 'data' / 'tc_dataset' / 'tc_dataset.json').read_text())['rows'][:2]
    dataset = tmp_path / 'tc_dataset.json'
    dataset.write_text(json.dumps({'rows': rows}))
    result = subprocess.run(
        [sys.executable, str(root / 'benchmarks' / 'tc_model_cv.py'), '--dataset', str(dataset)]
        + ['--oof', str(tmp_path / 'oof.json')],
        capture_output=True,
        text=True,
        env={**os.environ, 'HYDRIDES_BENCHMARK_RESULTS': str(tmp_path / 'results')},
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr and 'needs at least 4 formulas' in result.stderr
    assert not (tmp_path / 'results').exists() and not (tmp_path / 'oof.json').exists()


def test_scratch_model_on_more_elements_than_the_lam():
    from aiida_hydrides.models import SEED_MODEL

    descriptor, type_map, _ = training.lam_parts(training.lam_model_params(SEED_MODEL))
    config = training.member_input(training.TcModelSettings(mode='scratch'), descriptor, [*type_map, 'S'], 0)
    assert config['model']['descriptor']['sel'] == [*descriptor['sel'], max(descriptor['sel'])]
    with pytest.raises(HydridesInputError, match='does not exist'):
        training.lam_model_params('/nonexistent/model.pth')
    with pytest.raises(HydridesInputError, match='PyTorch DeePMD model'):
        training.lam_model_params(__file__)
