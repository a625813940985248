"""The input, commands and results of DeePMD training jobs (``aiida_hydrides.core.lam.training``), without DeePMD."""

import json

import numpy as np
import pytest

from aiida_hydrides.core import seed_configs
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam import training
from aiida_hydrides.models import SEED_MODEL

TYPE_MAP = ['H', 'Ca', 'Y']


def _plan(parameters=None, **kwargs):
    kwargs.setdefault('type_map', TYPE_MAP)
    kwargs.setdefault('elements', TYPE_MAP)
    return training.build_training_input(parameters, **kwargs)


def test_default_is_the_seed_input():
    seed = json.loads(SEED_MODEL.with_name('input.json').read_text())
    plan = _plan()
    config = plan.config
    assert config['model']['descriptor'] == seed['model']['descriptor']
    assert config['model']['fitting_net'] == seed['model']['fitting_net']
    assert config['learning_rate']['start_lr'] == seed_configs.SCRATCH_STAGE['learning_rate']['start_lr']
    assert config['loss'] == seed_configs.SCRATCH_STAGE['loss']
    assert config['training']['training_data'] == {'systems': 'training', 'batch_size': 'auto'}
    assert 'validation_data' not in config['training'] and config['training']['disp_avg'] is True
    assert not any(key.startswith('_') for key in config)  # the seed's comments and held-out list are dropped
    assert plan.compressible and plan.descriptor_type == 'se_e2_a' and not plan.use_pretrain_script
    assert _plan(mode='init', parameters={'model': seed['model']}).config['loss'] == seed_configs.CONTINUE_STAGE['loss']


def test_overrides_and_shortcuts():
    plan = _plan(
        {
            'steps': 600,
            'seed': 7,
            'fitting_net': {'neuron': [8]},
            'loss': {'start_pref_e': 1.0},
            'training': {'batch_size': 2},
            '_comment': 'kept',
        },
        validation_dir='validation',
    )
    config = plan.config
    assert config['training']['numb_steps'] == 600 and plan.steps == 600
    assert config['learning_rate']['decay_steps'] == 10 and config['training']['disp_freq'] == 3
    assert config['training']['save_freq'] == 30 and config['training']['seed'] == 7
    assert config['model']['descriptor']['seed'] == 7 and config['model']['fitting_net'] == {'neuron': [8], 'seed': 7}
    assert config['loss']['start_pref_e'] == 1.0 and config['loss']['limit_pref_e'] == 20.0  # merged key by key
    assert config['training']['training_data']['batch_size'] == 2 and 'batch_size' not in config['training']
    assert config['training']['validation_data']['systems'] == 'validation' and config['_comment'] == 'kept'
    # training.numb_steps without the shortcut scales the frequencies too
    scaled = _plan({'training': {'numb_steps': 400, 'disp_freq': 5}}).config
    assert scaled['training']['disp_freq'] == 5 and scaled['training']['save_freq'] == 20
    assert scaled['learning_rate']['decay_steps'] == 6


def test_descriptor_of_another_type_replaces_the_default():
    dpa3 = {'type': 'dpa3', 'repflow': {'n_dim': 8}}
    plan = _plan({'model': {'descriptor': dpa3}})
    assert plan.config['model']['descriptor'] == dpa3 and not plan.compressible
    # a smaller type map than the seed's: the seed's per-type sel no longer fits, DeePMD counts the neighbours
    plan = _plan(type_map=['H', 'Ca'], elements=['H', 'Ca'])
    assert plan.config['model']['descriptor']['sel'] == 'auto' and plan.config['model']['type_map'] == ['H', 'Ca']


def test_complete_input_is_used_as_it_is():
    complete = {
        'model': {'type_map': TYPE_MAP, 'descriptor': {'type': 'se_e2_a', 'sel': [4, 4, 4], 'rcut': 3.0}},
        'learning_rate': {'type': 'exp', 'start_lr': 1e-3},
        'loss': {'type': 'ener'},
        'training': {'numb_steps': 10},
    }
    config = _plan(complete).config
    assert config['model']['descriptor'] == complete['model']['descriptor'] and 'fitting_net' not in config['model']
    assert config['learning_rate'] == complete['learning_rate'] and config['training']['numb_steps'] == 10


def test_parent_model_section():
    plan = _plan({'steps': 10}, mode='finetune', type_map=['H', 'Ca'], elements=['H'])
    assert plan.use_pretrain_script and plan.config['model'] == {'type_map': ['H', 'Ca']}
    plan = _plan({'steps': 10}, mode='init', parent_descriptor='se_e2_a')
    assert plan.descriptor_type == 'se_e2_a' and plan.compressible
    # a model section given with a parent is used as it is, not completed from the seed's
    model = {'descriptor': {'type': 'dpa3', 'repflow': {}}, 'fitting_net': {'neuron': [8]}}
    plan = _plan({'steps': 10, 'model': model}, mode='init')
    assert not plan.use_pretrain_script and plan.config['model'] == {**model, 'type_map': TYPE_MAP}


@pytest.mark.parametrize(
    'parameters, kwargs, match',
    [
        ({'numb_steps': 5}, {}, "unknown parameters ['numb_steps']"),
        ({'model': 'se_e2_a'}, {}, "parameters['model'] must be a dictionary"),
        ({'model': {'model_dict': {}}}, {}, 'multi-task training (model_dict) is not supported'),
        ({'training': {'validation_data': {}}}, {}, 'validation_data is set by the job'),
        ({'steps': 0}, {}, 'steps must be a positive integer'),
        ({'steps': 2.5}, {}, 'steps must be a positive integer'),
        ({'steps': 10, 'training': {'numb_steps': 20}}, {}, 'disagree'),
        ({'seed': -1}, {}, 'seed must be a non-negative integer'),
        ({'model': {'type_map': ['H']}}, {}, "elements ['Ca', 'Y'] that are not in the model type map ['H']"),
        ({'descriptor': {'type': 'dpa3'}}, {'mode': 'finetune'}, "the model is the parent's"),
        ({'training': {'disp_file': 'x.out'}}, {}, "disp_file must be 'lcurve.out'"),
        ({}, {'mode': 'restart'}, 'one of init, finetune'),
    ],
)
def test_refused_parameters(parameters, kwargs, match):
    with pytest.raises(HydridesInputError) as error:
        _plan(parameters, **kwargs)
    assert match in str(error.value)


def test_commands():
    scratch = _plan({'steps': 10})
    assert training.train_command(scratch) == ['--pt', 'train', 'input.json']
    init = _plan({'steps': 10}, mode='init')
    assert training.train_command(init, 'parent.pth')[3:] == ['--init-frz-model', 'parent.pth', '--use-pretrain-script']
    assert training.train_command(init, 'parent.pt')[3:5] == ['--init-model', 'parent.pt']
    finetune = _plan({'steps': 10}, mode='finetune')
    assert training.train_command(finetune, 'parent.pt', 'MP_traj')[3:] == [
        '--finetune',
        'parent.pt',
        '--model-branch',
        'MP_traj',
        '--use-pretrain-script',
    ]
    with pytest.raises(HydridesInputError, match='starts from a .pt training checkpoint'):
        training.train_command(finetune, 'parent.pth')
    with pytest.raises(HydridesInputError, match='only used in mode finetune'):
        training.train_command(init, 'parent.pth', 'head')
    with pytest.raises(HydridesInputError, match='only used with a parent model'):
        training.train_command(scratch, None, 'head')
    assert training.freeze_command() == ['--pt', 'freeze', '-o', 'model.pth']
    assert training.compress_command()[-2:] == ['-o', 'model-compressed.pth']
    assert training.test_command() == ['--pt', 'test', '-m', 'model.pth', '-s', 'validation', '-d', 'validation']


def test_parent_descriptor_type():
    single = {'type_map': TYPE_MAP, 'descriptor': {'type': 'se_e2_a'}}
    multi = {
        'shared_dict': {'d': {'type': 'dpa3'}},
        'model_dict': {
            'Omat': {'descriptor': 'd', 'model_branch_alias': ['O']},
            'MP': {'descriptor': {'type': 'dpa3'}},
        },
    }
    assert training.parent_descriptor_type(single, 'init', None) == 'se_e2_a'
    assert training.parent_descriptor_type(None, 'finetune', 'x') is None
    assert training.parent_descriptor_type(multi, 'finetune', 'O') == 'dpa3'
    assert training.parent_descriptor_type(multi, 'finetune', 'RANDOM') == 'dpa3'
    for head, mode, match in (
        (None, 'finetune', "heads ['Omat', 'MP']: choose one"),
        ('X', 'finetune', "no head 'X'"),
        ('MP', 'init', 'continuing it as a whole is not supported'),
    ):
        with pytest.raises(HydridesInputError, match=match.replace('[', '\\[').replace(']', '\\]')):
            training.parent_descriptor_type(multi, mode, head)
    with pytest.raises(HydridesInputError, match='single head'):
        training.parent_descriptor_type(single, 'finetune', 'MP')


LCURVE = """#  step  rmse_val  rmse_trn  rmse_e_val  rmse_e_trn  rmse_f_val  rmse_f_trn  rmse_v_trn  lr
# If there is no available reference data, rmse_*_{val,trn} will print nan
      1   3.0e+00   4.0e+00   1.0e+00   1.2e+00   1.0e+00   1.1e+00   nan   1.0e-03
     10   2.0e+00   2.5e+00   5.0e-01   6.0e-01   9.0e-01   8.0e-01   nan   5.0e-04
"""


def test_read_lcurve_and_divergence():
    columns, rows = training.read_lcurve(LCURVE)
    assert columns[:3] == ['step', 'rmse_val', 'rmse_trn'] and rows.shape == (2, 9)
    assert training.diverged(columns, rows) == []  # a column without reference data (nan throughout) is fine
    rows[-1, columns.index('rmse_trn')] = np.nan
    assert training.diverged(columns, rows) == ['rmse_trn']
    rows[-1, columns.index('rmse_trn')] = 1e35
    assert training.diverged(columns, rows) == ['rmse_trn']
    for text, match in (('', 'no header'), ('# step a\n', 'no rows'), ('# step a\n1 2 3\n', 'rows of [3] values')):
        with pytest.raises(HydridesInputError, match=match.replace('[', '\\[').replace(']', '\\]')):
            training.read_lcurve(text)


def test_test_metrics(tmp_path):
    prefix = tmp_path / 'validation'
    pathlib_write = lambda suffix, text: (tmp_path / f'validation.{suffix}.out').write_text(text)  # noqa: E731
    pathlib_write('e_peratom', '# data_e pred_e\n-3.0 -3.01\n-2.0 -1.98\n')
    pathlib_write('f', '# f\n' + '0.1 0 0 0.2 0 0\n' * 3)
    metrics = training.test_metrics(prefix)
    assert metrics['nframes'] == 2 and metrics['natoms_total'] == 3
    assert metrics['energy_mae_mev_per_atom'] == pytest.approx(15.0)
    assert metrics['energy_rmse_mev_per_atom'] == pytest.approx(np.sqrt((0.01**2 + 0.02**2) / 2) * 1000)
    assert metrics['force_mae_mev_per_angstrom'] == pytest.approx(100.0 / 3)
    assert 'virial_mae_mev_per_atom' not in metrics
    pathlib_write('v_peratom', '# v\n' + ' '.join(['1'] * 9 + ['1.5'] * 9) + '\n')
    assert training.test_metrics(prefix)['virial_mae_mev_per_atom'] == pytest.approx(500.0)
    # the seed scripts' held-out figures are the same numbers
    held = seed_configs.heldout_metrics(prefix)
    assert held == {key: value for key, value in training.test_metrics(prefix).items() if 'virial' not in key}
    with pytest.raises(HydridesInputError, match='no detail files'):
        training.test_metrics(tmp_path / 'missing')


def test_logs():
    log = (
        '[2026-01-01 10:00:00,000] DEEPMD INFO    start\n'
        '[2026-01-01 10:01:02,500] DEEPMD INFO    average training time: 0.0525 s/batch (20 batches excluded)\n'
    )
    assert training.training_log_summary(log) == {'wall_s': 62.5, 's_per_step': 0.0525}
    assert training.training_log_summary('nothing') == {}
    error = (
        'Traceback (most recent call last):\n  File "x"\nValueError: No model branch named gamma\nTriton not found\n'
    )
    assert training.log_error(error) == 'ValueError: No model branch named gamma'
    assert training.log_error('last words\n') == 'last words' and training.log_error('') == 'no output'


# ----------------------------------------------------------------------------------------------------------------------
# the steps of a job in one process (a stand-in for deepmd-kit: no torch)

#: ``deepmd/main.py`` of a stand-in deepmd-kit: prints, logs on stderr through a handler made at the first call (as
#: deepmd-kit does), writes below Python (fd 1, C stdio), and fails as its argument says
FAKE_DEEPMD_MAIN = """
import ctypes
import logging
import os
import sys


def main(args=None):
    args = list(sys.argv[1:] if args is None else args)
    log = logging.getLogger('deepmd')
    if not log.handlers:
        log.addHandler(logging.StreamHandler())
        log.setLevel(logging.INFO)
    print('stdout', ' '.join(args), 'argv0', sys.argv[0])
    log.info('logging %s', args[1])
    os.write(1, b'fd level\\n')
    ctypes.CDLL(None).printf(b'C stdio %d\\n', 7)
    if args[1] == 'freeze':
        raise SystemExit(3)
    if args[1] == 'compress':
        raise RuntimeError('cannot compress this model')
    if args[1] == 'test':
        sys.exit('test message')
"""
STEPS = [
    (['--pt', 'train', 'input.json'], 'train.log'),
    (['--pt', 'freeze', '-o', 'model.pth'], 'freeze.log'),
    (['--pt', 'compress', '-i', 'model.pth'], 'compress.log'),
    (['--pt', 'test', '-m', 'model.pth'], 'test.log'),
    (['--pt', 'show', 'model.pth'], 'show.log'),
]


def _fake_deepmd(root):
    (root / 'deepmd').mkdir(parents=True)
    (root / 'deepmd' / '__init__.py').write_text('')
    (root / 'deepmd' / 'main.py').write_text(FAKE_DEEPMD_MAIN)
    return root


def _check_logs(folder):
    train = (folder / 'train.log').read_text()
    for text in ('stdout --pt train input.json argv0 dp', 'logging train', 'fd level', 'C stdio 7'):
        assert text in train, (text, train)
    assert 'logging freeze' in (folder / 'freeze.log').read_text()
    compress = (folder / 'compress.log').read_text()
    assert 'Traceback' in compress and training.log_error(compress) == 'RuntimeError: cannot compress this model'
    assert (folder / 'test.log').read_text().endswith('test message\n')
    assert 'logging show' in (folder / 'show.log').read_text()  # the failures did not stop the last step


def test_run_steps_in_one_process(tmp_path, monkeypatch, capfd):
    import importlib.util
    import io
    import sys

    path = _fake_deepmd(tmp_path / 'fake') / 'deepmd' / 'main.py'
    spec = importlib.util.spec_from_file_location('fake_deepmd_main', path)
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    monkeypatch.chdir(tmp_path)
    # Python streams on the descriptors 1 and 2, as in a job (pytest's own streams bypass them)
    for name, descriptor in (('stdout', 1), ('stderr', 2)):
        stream = io.TextIOWrapper(io.FileIO(descriptor, 'w', closefd=False), write_through=False)
        monkeypatch.setattr(sys, name, stream)
    report = io.StringIO()
    argv = list(sys.argv)
    assert training.run_steps(STEPS, main=fake.main, report=report) == [0, 3, 1, 1, 0]
    _check_logs(tmp_path)
    assert sys.argv == argv
    lines = report.getvalue().splitlines()
    assert len(lines) == 5 and lines[1].startswith('dp --pt freeze -o model.pth > freeze.log: exit code 3, ')
    # nothing of the steps went to this process's own output, which works as before
    print('after the steps', flush=True)
    out, err = capfd.readouterr()
    assert out == 'after the steps\n' and err == ''
    # deepmd-kit that cannot be imported is the failure of each step, in its log
    monkeypatch.setitem(sys.modules, 'deepmd', None)
    assert training.run_steps([(['--pt', 'train'], 'a.log'), (['--pt', 'freeze'], 'b.log')]) == [1, 1]
    error = training.log_error((tmp_path / 'b.log').read_text())
    assert error.startswith('ModuleNotFoundError') and 'deepmd' in error


def test_launcher_script(tmp_path):
    import os
    import subprocess
    import sys

    fake = _fake_deepmd(tmp_path / 'fake')
    (tmp_path / training.LAUNCHER_FILE).write_text(training.launcher_script())
    (tmp_path / training.STEPS_FILE).write_text(training.steps_json(STEPS))
    assert json.loads((tmp_path / training.STEPS_FILE).read_text())[1] == {
        'argv': ['--pt', 'freeze', '-o', 'model.pth'],
        'log': 'freeze.log',
    }
    # only the standard library and (a stand-in for) deepmd-kit: no site-packages (-S), no aiida-hydrides
    env = dict(os.environ, PYTHONPATH=str(fake))
    process = subprocess.run(
        [sys.executable, '-S', training.LAUNCHER_FILE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 3, process.stderr  # the first failure's code
    assert process.stdout.count('exit code') == 5 and process.stderr == ''
    _check_logs(tmp_path)


def _dp_scripts(root, python, spaced_python):
    """A pip console script, pip's form for long or spaced interpreter paths, and a wrapper (not a Python script)."""
    plain = root / 'plain' / 'dp'
    long_form = root / 'long' / 'dp'
    wrapper = root / 'wrapper' / 'dp'
    body = "# -*- coding: utf-8 -*-\nimport sys\nfrom deepmd.main import main\nif __name__ == '__main__':\n    sys.exit(main())\n"
    for path, text in (
        (plain, f'#!{python}\n{body}'),
        (long_form, f"#!/bin/sh\n'''exec' \"{spaced_python}\" \"$0\" \"$@\"\n' '''\n{body}"),
        (wrapper, '#!/bin/sh\n# runs dp in a container, with python inside\necho "wrapped dp $*"\n'),
    ):
        path.parent.mkdir(parents=True)
        path.write_text(text)
        path.chmod(0o755)
    return plain, long_form, wrapper


def test_steps_shell(tmp_path):
    import os
    import subprocess
    import sys

    fake = _fake_deepmd(tmp_path / 'fake')
    spaced = tmp_path / 'an env' / 'bin' / 'python'  # a path with a space: pip writes the #!/bin/sh form then
    spaced.parent.mkdir(parents=True)
    spaced.symlink_to(sys.executable)
    for dp in _dp_scripts(tmp_path / 'dp', sys.executable, str(spaced)):
        job = tmp_path / 'jobs' / dp.parent.name
        job.mkdir(parents=True)
        (job / training.LAUNCHER_FILE).write_text(training.launcher_script())
        (job / training.STEPS_FILE).write_text(training.steps_json(STEPS))
        script = training.steps_shell(str(dp), STEPS)
        env = dict(os.environ, PYTHONPATH=str(fake))
        process = subprocess.run(['sh', '-c', script], cwd=job, env=env, capture_output=True, text=True, timeout=60)
        if dp.parent.name == 'wrapper':
            assert 'not a Python console script' in process.stderr
            assert (job / 'freeze.log').read_text() == 'wrapped dp --pt freeze -o model.pth\n'
            assert not (job / training.LAUNCHER_EXECUTABLE).exists()
        else:
            assert process.returncode == 3, (dp, process.stdout, process.stderr)
            assert process.stdout.count('exit code') == 5, process.stdout
            _check_logs(job)
            launcher = (job / training.LAUNCHER_EXECUTABLE).read_text()
            assert launcher.startswith(dp.read_text().split('import sys')[0])
