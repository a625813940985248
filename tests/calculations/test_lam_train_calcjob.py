"""``LamTrainCalculation`` (``hydrides.lam.train``) on localhost: real ``dp --pt train`` runs of a few hundred steps of a
tiny se_e2_a model on a subset of the seed labels (from scratch, then continued; a two-head model fine-tuned on one
head), the parser on damaged outputs and the input checks."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, DataFactory, ParserFactory

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEED_DATA = ROOT / 'data' / 'seed'
#: two pieces of the seed labels without the held-out frames: 37 frames of 1-14 atoms
PIECES = ('piece-001', 'piece-002')
#: a tiny se_e2_a model (rcut 4 Å: up to 112 H neighbours in these frames) trained fast on one thread
TINY = {
    'steps': 200,
    'seed': 1,
    'descriptor': {
        'type': 'se_e2_a',
        'sel': [128, 24, 24],
        'rcut': 4.0,
        'rcut_smth': 0.5,
        'neuron': [4, 8, 16],
        'axis_neuron': 4,
        'type_one_side': True,
        'precision': 'float64',
    },
    'fitting_net': {'neuron': [16, 16], 'resnet_dt': True, 'precision': 'float64'},
    'learning_rate': {'start_lr': 3.0e-3, 'stop_lr': 1.0e-4},
    'loss': {'start_pref_e': 1.0, 'limit_pref_e': 20.0, 'start_pref_f': 10.0, 'limit_pref_f': 1.0},
    'training': {'disp_freq': 20, 'save_freq': 200},
}


@pytest.fixture
def dp_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_dp_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    return ensure_dp_code(aiida_localhost)


@pytest.fixture(scope='module')
def seed_sets(aiida_profile):
    """(training, validation) nodes: the non-held-out frames of two seed pieces, split 80/20 by frame id."""
    from aiida_hydrides.calculations.functions.lam_train import split_training_set
    from aiida_hydrides.data.training_set import training_set_from_pieces

    full = training_set_from_pieces(SEED_DATA, pieces=PIECES, heldout=False)
    result = split_training_set(full, orm.Float(0.2))
    return result['train'], result['validation']


def _builder(code, train, validation=None, parameters=TINY, **inputs):
    builder = CalculationFactory('hydrides.lam.train').get_builder()
    builder.code = code
    builder.training_set = train
    if validation is not None:
        builder.validation_set = validation
    if parameters is not None:
        builder.parameters = orm.Dict(parameters)
    builder.threads = orm.Int(1)
    for key, value in inputs.items():
        setattr(builder, key, value)
    builder.metadata.options.max_wallclock_seconds = 900
    return builder


def _curve(node, column):
    return node.outputs.learning_curve.get_array(column)


def test_entry_points():
    from aiida_hydrides.calculations.lam_train import LamTrainCalculation
    from aiida_hydrides.data.training_set import TrainingSetData
    from aiida_hydrides.parsers.lam_train import LamTrainParser

    assert CalculationFactory('hydrides.lam.train') is LamTrainCalculation
    assert ParserFactory('hydrides.lam.train') is LamTrainParser
    assert DataFactory('hydrides.lam.training_set') is TrainingSetData


def test_ensure_dp_code_is_idempotent(aiida_localhost):
    from aiida_hydrides.codes import ensure_dp_code

    first = ensure_dp_code(aiida_localhost)
    assert first.get_executable().name == 'dp' and first.default_calc_job_plugin == 'hydrides.lam.train'
    assert ensure_dp_code(aiida_localhost).pk == first.pk


def test_job_runs_its_steps_in_one_process(aiida_profile, dp_code, seed_sets, tmp_path, monkeypatch):
    """The job script runs the steps of dp_steps.json with the launcher, after the thread settings (a dry run)."""
    from aiida_hydrides.core.lam import training

    monkeypatch.chdir(tmp_path)  # a dry run writes into ./submit_test
    train, validation = seed_sets
    builder = _builder(dp_code, train, validation)
    builder.metadata.dry_run = True
    builder.metadata.store_provenance = False
    _, node = run_get_node(builder)
    folder = pathlib.Path(node.dry_run_info['folder'])
    steps = json.loads((folder / 'dp_steps.json').read_text())
    assert [step['log'] for step in steps] == ['train.log', 'freeze.log', 'compress.log', 'test.log']
    assert steps[0]['argv'] == ['--pt', 'train', 'input.json'] and steps[3]['argv'][:2] == ['--pt', 'test']
    assert (folder / 'run_dp_steps.py').read_text() == training.launcher_script()
    script = (folder / node.dry_run_info['script_filename']).read_text()
    assert f'hydrides_dp={dp_code.get_executable()}' in script
    assert script.index('export OMP_NUM_THREADS=1') < script.index('./run_dp_steps dp_steps.json')
    assert script.count("'--pt'") == 0 and script.count('--pt freeze -o model.pth > freeze.log 2>&1') == 1  # fallback


def _pw_like(computer, atoms, energy, forces, stress, label_id=None):
    """A finished calculation node shaped like a pw.x label (input structure, output_parameters, trajectory)."""
    from aiida.engine import ProcessState

    structure = orm.StructureData(ase=atoms).store()
    node = orm.CalcJobNode(computer=computer, process_type='aiida.calculations:quantumespresso.pw')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.base.links.add_incoming(structure, link_type=LinkType.INPUT_CALC, link_label='structure')
    node.store()
    parameters = orm.Dict({'energy': energy, 'energy_units': 'eV'})
    trajectory = orm.ArrayData()
    trajectory.set_array('forces', np.asarray(forces)[None])
    trajectory.set_array('stress', np.asarray(stress)[None])
    for label, output in (('output_parameters', parameters), ('output_trajectory', trajectory)):
        output.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label=label)
        output.store()
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(0)
    if label_id:
        node.base.extras.set('hydrides', {'label_id': label_id, 'label_set': 'toy'})
    return node


def test_training_set_from_calculations(aiida_localhost):
    from ase import Atoms

    from aiida_hydrides.core.seed_configs import LabelledFrame
    from aiida_hydrides.data.training_set import training_set_from_calculations

    atoms = Atoms(
        'YH2Ca', positions=[(0, 0, 0), (1.0, 0, 0), (0, 1.0, 0), (1.5, 1.5, 1.5)], cell=np.eye(3) * 3.2, pbc=True
    )
    forces = np.arange(12, dtype=float).reshape(4, 3) * 0.1
    stress = np.diag([200.0, 210.0, 190.0])  # GPa, pw.x sign (compressive positive)
    first = _pw_like(aiida_localhost, atoms, -500.0, forces, stress, label_id='toy-1')
    second = _pw_like(aiida_localhost, atoms, -501.0, forces * 2, stress)
    node = training_set_from_calculations([first, second], label_set='toy')
    assert node.type_map == ['H', 'Ca', 'Y'] and node.frame_counts == {'H2Ca1Y1': 2} and node.label_set == 'toy'
    assert node.base.attributes.get('source_calculations') == [first.uuid, second.uuid]
    node.store()
    system = node.get_training_set().systems[0]
    assert system.ids == ['toy-1', second.uuid] and system.types.tolist() == [0, 0, 1, 2]
    np.testing.assert_allclose(system.data['energy'], [-500.0, -501.0])
    # atoms sorted by type (H H Ca Y), forces with their atoms, the virial of the stress
    np.testing.assert_allclose(system.data['force'][0].reshape(4, 3), forces[[1, 2, 3, 0]])
    expected = LabelledFrame('x', list('YHHC'), atoms.cell[:], atoms.positions, -500.0, forces, stress).virial
    np.testing.assert_allclose(system.data['virial'][0].reshape(3, 3), expected)
    assert expected[0, 0] > 0  # positive under compression
    with pytest.raises(ValueError, match='not a calculation node'):
        training_set_from_calculations([orm.Int(1)])


@pytest.mark.slow
def test_train_from_scratch_then_continue(dp_code, seed_sets):
    train, validation = seed_sets
    _, node = run_get_node(_builder(dp_code, train, validation))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    outputs = node.outputs
    assert set(outputs) >= {'model', 'compressed_model', 'checkpoint', 'learning_curve', 'validation_errors', 'summary'}
    assert outputs.model.filename == 'model.pth' and outputs.compressed_model.filename == 'model-compressed.pth'
    assert outputs.checkpoint.filename == 'model.ckpt.pt'

    # the learning curve (training errors averaged over each display interval) falls
    assert _curve(node, 'step')[0] == 1 and _curve(node, 'step')[-1] == 200
    assert outputs.learning_curve.base.attributes.get('columns')[:3] == ['step', 'rmse_val', 'rmse_trn']
    energy = _curve(node, 'rmse_e_trn')
    assert np.all(np.isfinite(energy)) and np.all(np.isfinite(_curve(node, 'rmse_f_val')))
    assert energy[-3:].mean() < 0.8 * energy[:3].mean(), energy

    errors = outputs.validation_errors.get_dict()
    assert errors['nframes'] == validation.nframes
    for key in (
        'energy_mae_mev_per_atom',
        'energy_rmse_mev_per_atom',
        'force_mae_mev_per_angstrom',
        'force_rmse_mev_per_angstrom',
        'virial_mae_mev_per_atom',
    ):
        assert np.isfinite(errors[key]) and errors[key] > 0, key
    summary = outputs.summary.get_dict()
    assert summary['steps'] == 200 and summary['last_step'] == 200 and summary['mode'] == 'scratch'
    assert summary['compressed'] is True and summary['descriptor'] == 'se_e2_a'
    assert summary['training_frames'] == train.nframes and summary['validation_frames'] == validation.nframes
    assert summary['training_wall_s'] > 0 and summary['training_s_per_step'] > 0
    config = json.loads(node.base.repository.get_object_content('input.json'))
    assert config['training']['training_data']['systems'] == 'training'
    assert config['model']['type_map'] == ['H', 'Ca', 'Y'] and config['model']['descriptor']['neuron'] == [4, 8, 16]
    assert 'training' not in node.base.repository.list_object_names()  # the data are not stored twice
    assert {'lcurve.out', 'train.log', 'freeze.log', 'compress.log', 'test.log', 'out.json'} <= set(
        outputs.retrieved.base.repository.list_object_names()
    )
    # the four steps ran in one process (the launcher's report), each with its own log
    report = outputs.retrieved.base.repository.get_object_content('_scheduler-stdout.txt')
    assert report.count(': exit code 0, ') == 4, report
    assert 'DEEPMD INFO' in outputs.retrieved.base.repository.get_object_content('freeze.log')

    # continue it on the same data (mode init: --init-frz-model, the parent's model definition)
    parameters = {'steps': 40, 'training': {'disp_freq': 10, 'save_freq': 40}}
    builder = _builder(dp_code, train, parameters=parameters, parent_model=outputs.model, mode=orm.Str('init'))
    builder.compress = orm.Bool(False)
    _, more = run_get_node(builder)
    assert more.is_finished_ok, (more.exit_status, more.exit_message)
    assert 'compressed_model' not in more.outputs and 'validation_errors' not in more.outputs
    summary = more.outputs.summary.get_dict()
    assert summary['mode'] == 'init' and summary['last_step'] == 40 and summary['parent_model'] == 'model.pth'
    normalised = json.loads(more.outputs.retrieved.base.repository.get_object_content('out.json'))
    assert normalised['model']['descriptor']['neuron'] == [4, 8, 16]  # the parent's model, not the seed default
    assert normalised['learning_rate']['start_lr'] == pytest.approx(3.0e-5)  # the continuation stage's
    # the run starts where the first one ended, not from a fresh model
    assert _curve(more, 'rmse_e_trn')[:3].mean() < _curve(node, 'rmse_e_trn')[:3].mean()


def _multitask_input(steps=20):
    """A tiny two-head energy model: one shared descriptor, heads 'alpha' (fitting 16x16) and 'beta' (8x8)."""
    descriptor = {key: value for key, value in TINY['descriptor'].items()}
    descriptor['seed'] = 1
    data = {'training_data': {'systems': 'training', 'batch_size': 'auto'}}
    return {
        'model': {
            'shared_dict': {'tm': ['H', 'Ca', 'Y'], 'desc': descriptor},
            'model_dict': {
                'alpha': {'type_map': 'tm', 'descriptor': 'desc', 'fitting_net': {'neuron': [16, 16], 'seed': 1}},
                'beta': {'type_map': 'tm', 'descriptor': 'desc', 'fitting_net': {'neuron': [8, 8], 'seed': 2}},
            },
        },
        'learning_rate': {'type': 'exp', 'start_lr': 1.0e-3, 'stop_lr': 1.0e-4, 'decay_steps': 10},
        'loss_dict': {'alpha': {'type': 'ener'}, 'beta': {'type': 'ener'}},
        'training': {
            'model_prob': {'alpha': 1.0, 'beta': 1.0},
            'data_dict': {'alpha': data, 'beta': data},
            'numb_steps': steps,
            'seed': 1,
            'disp_freq': steps,
            'save_freq': steps,
        },
    }


@pytest.mark.slow
def test_finetune_one_head_of_a_multitask_model(dp_code, seed_sets, tmp_path):
    train, _ = seed_sets
    train.write_npy(tmp_path / 'training')
    (tmp_path / 'multi.json').write_text(json.dumps(_multitask_input()))
    env = dict(
        os.environ, OMP_NUM_THREADS='1', DP_INTRA_OP_PARALLELISM_THREADS='1', DP_INTER_OP_PARALLELISM_THREADS='1'
    )
    dp = pathlib.Path(sys.executable).with_name('dp')
    process = subprocess.run(
        [str(dp), '--pt', 'train', 'multi.json'], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == 0, process.stderr[-3000:]
    pretrained = orm.SinglefileData(tmp_path / 'model.ckpt.pt')
    parameters = {'steps': 40, 'training': {'disp_freq': 10, 'save_freq': 40}}

    # the heads are read from the checkpoint: a missing or unknown head is refused before the job runs
    for head, match in ((None, "heads ['alpha', 'beta']: choose one"), ('gamma', "no head 'gamma'")):
        builder = _builder(dp_code, train, parameters=parameters, parent_model=pretrained, mode=orm.Str('finetune'))
        if head:
            builder.finetune_head = orm.Str(head)
        with pytest.raises(ValueError, match=re.escape(match)):
            run_get_node(builder)
    with pytest.raises(ValueError, match='continuing it as a whole is not supported'):
        run_get_node(_builder(dp_code, train, parameters=parameters, parent_model=pretrained, mode=orm.Str('init')))

    builder = _builder(dp_code, train, parameters=parameters, parent_model=pretrained, mode=orm.Str('finetune'))
    builder.finetune_head = orm.Str('beta')
    # the descriptor is read from the checkpoint (se_e2_a): compressed by default; not here, to save time
    from aiida_hydrides.calculations.lam_train import compress_wanted, make_plan

    inputs = {key: builder[key] for key in ('training_set', 'parameters', 'parent_model', 'mode', 'finetune_head')}
    assert compress_wanted(inputs, make_plan(inputs)) is True
    builder.compress = orm.Bool(False)
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    summary = node.outputs.summary.get_dict()
    assert summary['mode'] == 'finetune' and summary['finetune_head'] == 'beta' and summary['last_step'] == 40
    normalised = json.loads(node.outputs.retrieved.base.repository.get_object_content('out.json'))
    assert 'model_dict' not in normalised['model']  # a single-head model
    assert normalised['model']['fitting_net']['neuron'] == [8, 8]  # the fitting net of head 'beta'
    log = node.outputs.retrieved.base.repository.get_object_content('train.log')
    assert "pretrained branch 'beta'" in log


# ----------------------------------------------------------------------------------------------------------------------
# parser on damaged or missing outputs (no DeePMD run)

LCURVE = """#  step  rmse_val  rmse_trn  rmse_e_val  rmse_e_trn  rmse_f_val  rmse_f_trn  lr
# If there is no available reference data, rmse_*_{val,trn} will print nan
      1   3.0e+00   4.0e+00   1.0e+00   1.2e+00   1.0e+00   1.1e+00   1.0e-03
     10   2.0e+00   2.5e+00   5.0e-01   6.0e-01   9.0e-01   8.0e-01   5.0e-04
     20   1.5e+00   1.8e+00   3.0e-01   4.0e-01   8.0e-01   7.0e-01   1.0e-04
"""
TRAIN_LOG = """[2026-01-01 10:00:00,000] DEEPMD INFO    DeePMD version: 3.2.0
[2026-01-01 10:00:12,500] DEEPMD INFO    average training time: 0.0400 s/batch (2 batches excluded)
"""


def _detail(rows, columns):
    return ('# sys: ' + ' '.join(columns) + '\n' + '\n'.join(' '.join(map(str, row)) for row in rows) + '\n').encode()


def _good(with_test=True):
    retrieved = {'lcurve.out': LCURVE.encode(), 'train.log': TRAIN_LOG.encode(), 'freeze.log': b'done\n'}
    temporary = {'model.pth': b'PK frozen', 'model.ckpt.pt': b'PK checkpoint'}
    if with_test:
        retrieved['test.log'] = b'ok\n'
        temporary['validation.e_peratom.out'] = _detail([[-3.0, -3.01], [-2.0, -1.98]], ['data_e', 'pred_e'])
        temporary['validation.f.out'] = _detail([[0.1, 0.0, 0.0, 0.2, 0.0, 0.0]] * 3, ['data_fx'] * 6)
        temporary['validation.v_peratom.out'] = _detail([[0.0] * 9 + [0.01] * 9] * 2, ['v'] * 18)
    return retrieved, temporary


def _parse(aiida_localhost, tmp_path, retrieved_files, temporary_files, inputs=None):
    from aiida_hydrides.parsers.lam_train import LamTrainParser

    node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:hydrides.lam.train')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.base.repository.put_object_from_bytes(
        json.dumps({'training': {'numb_steps': 20, 'disp_freq': 10}}).encode(), 'input.json'
    )
    for label, value in (inputs or {}).items():
        node.base.links.add_incoming(value.store(), link_type=LinkType.INPUT_CALC, link_label=label)
    node.store()
    retrieved = orm.FolderData()
    for name, content in retrieved_files.items():
        retrieved.base.repository.put_object_from_bytes(content, name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    temporary = tmp_path / 'temporary'
    temporary.mkdir()
    for name, content in temporary_files.items():
        (temporary / name).write_bytes(content)
    return LamTrainParser.parse_from_node(node, store_provenance=False, retrieved_temporary_folder=str(temporary))


def test_parser_good_files(aiida_profile, aiida_localhost, tmp_path):
    results, calcfunction = _parse(aiida_localhost, tmp_path, *_good())
    assert calcfunction.exit_status == 0, calcfunction.exit_message
    assert results['learning_curve'].get_array('rmse_e_trn').tolist() == [1.2, 0.6, 0.4]
    errors = results['validation_errors'].get_dict()
    assert errors['nframes'] == 2 and errors['energy_mae_mev_per_atom'] == pytest.approx(15.0)
    assert errors['force_mae_mev_per_angstrom'] == pytest.approx(100.0 / 3)
    assert errors['virial_mae_mev_per_atom'] == pytest.approx(10.0)
    summary = results['summary'].get_dict()
    assert summary['training_wall_s'] == pytest.approx(12.5) and summary['training_s_per_step'] == 0.04
    assert summary['last_step'] == 20 and summary['compressed'] is False
    assert results['model'].filename == 'model.pth' and results['checkpoint'].filename == 'model.ckpt.pt'


@pytest.mark.parametrize(
    'damage, status, match',
    [
        (lambda r, t: r.pop('lcurve.out'), 300, 'KeyError: "No model branch'),
        (lambda r, t: r.update({'lcurve.out': b''}), 300, 'No model branch'),
        (lambda r, t: r.update({'lcurve.out': b'1 2 3\n'}), 301, 'no header'),
        (
            lambda r, t: r.update({'lcurve.out': LCURVE.replace('4.0e-01   8.0e-01', 'nan   8.0e-01').encode()}),
            310,
            'rmse_e_trn',
        ),
        (lambda r, t: r.update({'lcurve.out': LCURVE.rsplit('\n', 2)[0].encode()}), 303, 'step 10 of 20'),
        (lambda r, t: t.pop('model.pth'), 302, 'no checkpoint'),
        (lambda r, t: t.pop('validation.f.out'), 420, 'model is attached'),
        (lambda r, t: r.update({'compress.log': b'RuntimeError: cannot compress dpa3\n'}), 410, 'cannot compress'),
    ],
)
def test_parser_bad_files(aiida_profile, aiida_localhost, tmp_path, damage, status, match):
    retrieved, temporary = _good()
    retrieved['train.log'] += b'Traceback (most recent call last):\nKeyError: "No model branch named gamma"\n'
    retrieved['freeze.log'] = b'FileNotFoundError: no checkpoint in the folder\n'
    damage(retrieved, temporary)
    results, calcfunction = _parse(aiida_localhost, tmp_path, retrieved, temporary)
    assert calcfunction.exit_status == status, calcfunction.exit_message
    assert match in calcfunction.exit_message
    if status < 400:
        assert 'model' not in results
    else:
        assert 'model' in results and 'summary' in results
    if status in (303, 310):
        assert 'learning_curve' in results


# ----------------------------------------------------------------------------------------------------------------------
# input checks (refused before any job runs)


def _bad_set():
    from aiida_hydrides.core.lam.dataset import TrainingSet, TrainingSystem
    from aiida_hydrides.data.training_set import TrainingSetData

    system = TrainingSystem(
        'H2', [0, 0], {'coord': np.zeros((1, 6)), 'box': np.eye(3).reshape(1, 9) * 3, 'energy': np.zeros(1)}
    )
    return TrainingSetData(TrainingSet(['H', 'Ca', 'Y'], [system]))


@pytest.mark.parametrize(
    'change, match',
    [
        ({'parameters': {'numb_steps': 10}}, "unknown parameters ['numb_steps']"),
        ({'parameters': {'steps': -5}}, 'steps must be a positive integer'),
        ({'parameters': {'training': {'training_data': {'systems': ['x']}}}}, 'training_data is set by the job'),
        ({'parameters': {'model': {'type_map': ['H', 'Ca']}}}, "elements ['Y'] that are not in the model type map"),
        ({'parameters': {'model': {'model_dict': {}}}}, 'multi-task training'),
        ({'mode': 'init'}, 'needs a parent_model'),
        ({'parent': 'model.pth'}, 'a parent_model needs a mode'),
        ({'parent': 'model.pth', 'mode': 'finetune'}, 'fine-tuning starts from a .pt training checkpoint'),
        (
            {'parent': 'model.pth', 'mode': 'init', 'finetune_head': 'beta'},
            'finetune_head is only used in mode finetune',
        ),
        (
            {'parent': 'model.pth', 'mode': 'init', 'parameters': {'descriptor': {'type': 'dpa3'}}},
            "the model is the parent's",
        ),
        ({'mode': 'restart', 'parent': 'model.pth'}, 'mode must be one of init, finetune'),
        ({'parent': 'model.txt', 'mode': 'init'}, 'must end in one of'),
        ({'training_set': 'no-forces'}, 'system H2 has no force labels'),
    ],
)
def test_input_validation(aiida_profile, dp_code, seed_sets, tmp_path, change, match):
    train, validation = seed_sets
    if change.get('training_set') == 'no-forces':
        train = _bad_set()
    default = {'steps': 10} if 'parent' in change else TINY
    builder = _builder(dp_code, train, validation, parameters=change.get('parameters', default))
    with pytest.raises(ValueError) as error:  # a bad mode or file name is refused by the builder already
        if 'parent' in change:
            path = tmp_path / change['parent']
            path.write_bytes(b'PK not really a model')
            builder.parent_model = orm.SinglefileData(path)
        if 'mode' in change:
            builder.mode = orm.Str(change['mode'])
        if 'finetune_head' in change:
            builder.finetune_head = orm.Str(change['finetune_head'])
        run_get_node(builder)
    assert match in str(error.value)


def test_continuing_needs_the_parents_elements(aiida_profile, dp_code):
    from aiida_hydrides.core.lam.dataset import TrainingSet, TrainingSystem
    from aiida_hydrides.data.training_set import TrainingSetData
    from aiida_hydrides.models import SEED_MODEL

    data = {
        'coord': np.zeros((1, 6)),
        'box': np.eye(3).reshape(1, 9) * 3,
        'energy': np.zeros(1),
        'force': np.zeros((1, 6)),
    }
    lanthanum = TrainingSetData(TrainingSet(['H', 'La'], [TrainingSystem('H1La1', [0, 1], data)]))
    builder = _builder(dp_code, lanthanum, parameters={'steps': 10}, mode=orm.Str('init'))
    builder.parent_model = orm.SinglefileData(SEED_MODEL)
    with pytest.raises(ValueError, match=re.escape("elements ['La'] that the parent model does not know")):
        run_get_node(builder)
