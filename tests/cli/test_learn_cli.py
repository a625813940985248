"""``aiida-hydrides learn`` and ``aiida-hydrides models``: bad inputs refused before anything is stored (one line, no
traceback), ``--daemon`` submits the work chain built from the options, and the models of a profile listed with their
training data and errors. (One real iteration runs in tests/workflows/lam/test_concurrent.py.)"""

import json
import pathlib
import types

import pytest
from aiida import orm
from aiida.common.links import LinkType

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / 'tests' / 'data' / 'lam' / 'tiny_se_e2_a.pth'


def _count():
    return orm.QueryBuilder().append(orm.Node).count()


def _training_set():
    from aiida_hydrides.core.lam.dataset import TrainingSet
    from aiida_hydrides.data.training_set import TrainingSetData

    data = ROOT / 'data' / 'seed'
    return TrainingSetData(TrainingSet.from_pieces(data, pieces=['piece-001'], heldout=False, label_set='seed-v1'))


def test_learn_help(invoke):
    result = invoke('learn', '--help')
    assert result.exit_code == 0, result.output
    for option in ('--pressure', '--iterations', '--daemon', '--parent', '--max-labels', '--trust', '--model'):
        assert option in result.output


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['Ca-Y', '-p', '250-150'], 'reversed'),
        (['Ca-Y', '-p', '150-2500'], 'between 0 and 1000 GPa'),
        (['Ca-Q'], "unknown element symbol 'Q'"),
        (['Ca-Y', '-c', 'LaH2'], 'not part of the system Ca-Y'),
        (['Ca-La', '-c', 'LaH2', '-m', TINY_MODEL], 'does not know La'),
        (['Ca-Y', '--trust', '0.3', '0.1'], 'LO < HI'),
        (['Ca-Y', '--threshold', '0'], '0<x<=1'),
        ([], 'give the SYSTEM'),
        (['Ca-Y', '--protocol', 'huge'], "'huge' is not one of"),
    ],
)
def test_learn_refuses_before_launch(invoke, aiida_profile, args, message):
    before = _count()
    result = invoke('learn', *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and 'Traceback' not in result.output
    assert _count() == before


def test_learn_refuses_bad_nodes(invoke, aiida_localhost):
    node = orm.Int(3).store()
    result = invoke('learn', 'Ca-Y', '--training-set', node.pk)
    assert result.exit_code == 2 and 'not a hydrides.lam.training_set' in result.output, result.output
    result = invoke('learn', '--parent', node.pk)
    assert result.exit_code == 2 and 'not a hydrides.lam.concurrent run' in result.output, result.output
    assert 'Traceback' not in result.output


def test_learn_daemon_submits(invoke, aiida_localhost, pseudo_family, monkeypatch):
    """``--daemon``: the work chain is submitted with the options' settings and the command returns its PK."""
    import aiida.engine

    submitted = []

    def fake_submit(builder, **_):
        submitted.append(builder)
        return types.SimpleNamespace(pk=4242, uuid='not-a-real-uuid')

    monkeypatch.setattr(aiida.engine, 'submit', fake_submit)
    training = _training_set().store()
    result = invoke(
        'learn', 'Ca-Y', '-p', '150-250', '--points', 5, '-n', 2, '-c', 'CaH6,YH6', '-m', TINY_MODEL, '-m', TINY_MODEL,
        '--training-set', training.pk, '--protocol', 'fast', '--ensemble-size', 3, '--threshold', 0.1,
        '--max-labels', 7, '--trust', 0.04, 0.4, '--steps', 100, '--daemon', '--json',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)['pk'] == 4242
    (builder,) = submitted
    assert builder.system.value == 'Ca-Y' and builder.pressures.get_list() == [150.0, 175.0, 200.0, 225.0, 250.0]
    assert builder.compositions.get_list() == ['CaH6', 'YH6'] and sorted(builder.models) == ['m0', 'm1']
    assert builder.training_set.pk == training.pk and builder.max_iterations.value == 2
    assert builder.ensemble_size.value == 3 and builder.candidate_threshold.value == 0.1
    parameters = builder.select.parameters.get_dict()
    assert (parameters['max_candidates'], parameters['f_trust_lo'], parameters['f_trust_hi']) == (7, 0.04, 0.4)
    assert builder.train.parameters['steps'] == 100 and builder.explore.parameters['budget'] == 6  # fast
    assert builder.lam_code.label == 'hydrides-lam' and builder.dp_code.label == 'dp' and builder.pw_code.label == 'pw'
    assert builder.label.settings['label_set'] == 'seed-v1'


def test_learn_from_scratch(invoke, aiida_localhost, pseudo_family, monkeypatch):
    """A system the seed model does not cover starts from scratch (said on the terminal): no models, no training set,
    the initial frames of the protocol; ``--from-scratch`` with a model is refused naming the option."""
    import aiida.engine

    submitted = []

    def fake_submit(builder, **_):
        submitted.append(builder)
        return types.SimpleNamespace(pk=4343, uuid='not-a-real-uuid')

    monkeypatch.setattr(aiida.engine, 'submit', fake_submit)
    result = invoke('learn', 'Li-Mg', '-p', '150-250', '--protocol', 'fast', '--daemon')
    assert result.exit_code == 0, result.output
    assert 'The seed model does not cover Li-Mg: starting from scratch' in result.output
    (builder,) = submitted
    assert not builder.get('models') and builder.get('training_set') is None
    assert builder.initial.parameters['max_frames'] == 30 and builder.train.scratch_parameters['steps'] == 10000

    before = _count()
    refused = invoke('learn', 'Li-Mg', '--from-scratch', '-m', TINY_MODEL)
    assert refused.exit_code == 2 and "'--from-scratch'" in refused.output and 'without models' in refused.output
    for args, option, message in (
        (['--head', 'beta'], '--head', 'choose a head of a --pretrained model'),
        (['--pretrained', TINY_MODEL], '--pretrained', 'needs the training checkpoint (.pt)'),
    ):
        result = invoke('learn', 'Li-Mg', *args)
        assert result.exit_code == 2 and f"'{option}'" in result.output and message in result.output, result.output
        assert 'Traceback' not in result.output
    assert _count() == before


def _trained_model(run=None, member='m1'):
    """The nodes of a finished training job: its training set, model, summary and validation errors; called by
    ``run`` (a concurrent-learning work chain node) when given."""
    from aiida_hydrides.data.training_set import TrainingSetData  # noqa: F401 - the node class of the input

    training = _training_set().store()
    calc = orm.CalcJobNode(process_type='aiida.calculations:hydrides.lam.train')
    calc.set_process_state('finished')
    calc.set_exit_status(0)
    calc.base.links.add_incoming(training, link_type=LinkType.INPUT_CALC, link_label='training_set')
    if run is not None:
        calc.base.links.add_incoming(run, link_type=LinkType.CALL_CALC, link_label=f'train_it02_{member}')
    calc.store()
    model = orm.SinglefileData(TINY_MODEL, filename='model.pth')
    summary = orm.Dict({'mode': 'init', 'steps': 200, 'final': {'rmse_e_trn': 0.01, 'rmse_f_trn': 0.3}})
    errors = orm.Dict({'energy_rmse_mev_per_atom': 12.5, 'force_rmse_mev_per_angstrom': 321.0, 'nframes': 3})
    for label, node in (('model', model), ('summary', summary), ('validation_errors', errors)):
        node.base.links.add_incoming(calc, link_type=LinkType.CREATE, link_label=label)
        node.store()
    return model, training


def test_models_lists_trained_and_external_models(invoke, aiida_localhost):
    system = orm.Str('Ca-Y').store()
    run = orm.WorkflowNode(process_type='aiida.workflows:hydrides.lam.concurrent')
    run.base.links.add_incoming(system, link_type=LinkType.INPUT_WORK, link_label='system')
    run.store()
    model, training = _trained_model(run)
    # the seed model given to a search job: listed as a file
    seed = orm.SinglefileData(TINY_MODEL, filename='seed_se_e2_a.pth').store()
    search = orm.CalcJobNode(process_type='aiida.calculations:hydrides.search')
    search.base.links.add_incoming(seed, link_type=LinkType.INPUT_CALC, link_label='model')
    search.store()

    result = invoke('models', '--json')
    assert result.exit_code == 0, result.output
    records = {record['pk']: record for record in json.loads(result.stdout)}
    trained = records[model.pk]
    assert trained['origin'] == 'trained' and trained['mode'] == 'init' and trained['steps'] == 200
    assert trained['training_set'] == {'pk': training.pk, 'nframes': training.nframes, 'label_set': 'seed-v1',
                                       'systems': len(training.systems)}  # fmt: skip
    assert trained['validation_errors']['force_rmse_mev_per_angstrom'] == 321.0
    assert trained['training_errors'] == {'rmse_e_trn': 0.01, 'rmse_f_trn': 0.3}
    assert trained['run'] == {'pk': run.pk, 'system': 'Ca-Y', 'iteration': 'it02', 'member': 'm1'}
    assert len(trained['md5']) == 32
    assert records[seed.pk]['origin'] == 'file' and records[seed.pk]['jobs'] == 1

    table = invoke('models')
    assert table.exit_code == 0, table.output
    line = next(line for line in table.stdout.splitlines() if line.split()[0] == str(model.pk))
    assert 'init' in line and '321.0' in line and f'learn {run.pk} it02 m1' in line
    assert 'seed_se_e2_a.pth' in table.stdout

    only = json.loads(invoke('models', '--system', 'Ca-Y', '--trained-only', '--json').stdout)
    # models trained by other tests of the session may be listed too: those of Ca-Y, never a model file
    assert model.pk in [record['pk'] for record in only] and seed.pk not in [record['pk'] for record in only]
    assert all(record['origin'] == 'trained' for record in only), only
    assert json.loads(invoke('models', '--system', 'Y-Ca', '--json').stdout) == []
    bad = invoke('models', '--system', 'Ca-Q')
    assert bad.exit_code == 2 and "unknown element symbol 'Q'" in bad.output


def test_learn_table(capsys):
    """The table `learn` prints: one line per stage evaluated in each iteration."""
    from aiida_hydrides.cli.learn import _echo_table

    shares = {'accurate': 0.61, 'candidate': 0.312, 'failed': 0.078}
    summary = {
        'workchain': 12, 'iteration': 2, 'stage': 'minima', 'converged': False, 'ensemble': {'m0': 101, 'm1': 102},
        'training_set': 99,
        'iterations': [
            {'iteration': 1, 'stage': 'trajectory', 'labelled': 20, 'labels': {'pw_wall_hours': 3.1},
             'stages': {'trajectory': {'n_frames': 1530, 'shares': shares}},
             'models': {'m0': {'validation': {'force_rmse_mev_per_angstrom': 180.0}},
                        'm1': {'validation': {'force_rmse_mev_per_angstrom': 184.8}}},
             'deviation_vs_error': {'n_frames': 20, 'm0': {'max_force_error_mev_per_angstrom': {'median': 412.4},
                                                           'force': {'spearman': 0.634}}}},
            {'iteration': 2, 'stage': 'minima', 'labelled': 5, 'labels': {'pw_wall_hours': 1.0},
             'stages': {'trajectory': {'n_frames': 1498, 'shares': {**shares, 'candidate': 0.01}},
                        'minima': {'n_frames': 40, 'shares': shares}},
             'models': {}},
        ],
    }  # fmt: skip
    _echo_table(summary)
    lines = capsys.readouterr().out.splitlines()
    assert 'Concurrent learning <12>: not converged after iteration 2; next stage minima' in lines[1]
    first = ['1', 'trajectory', '1530', '61.0%', '31.2%', '7.8%', '20', '3.10', '182.4', '412', '0.63']
    assert lines[3].split() == first
    assert lines[4].split() == ['2', 'trajectory', '1498', '61.0%', '1.0%', '7.8%', '-', '-', '-', '-', '-']
    assert lines[5].split() == ['2', 'minima', '40', '61.0%', '31.2%', '7.8%', '5', '1.00', '-', '-', '-']
    assert lines[6].startswith('max F err: median over the labelled frames')
    assert lines[7] == 'ensemble: m0 <101>, m1 <102>; training set <99>'
