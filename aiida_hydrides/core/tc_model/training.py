"""Training a Tc model: the settings, the DeePMD input of every ensemble member and the steps of a training job.

The Tc model is a DeePMD *property* model (a fitting net ``{"type": "property", "property_name": "tc", "task_dim": 1,
"intensive": true}``: Tc is the mean of atomic contributions) on the descriptor of a large atomic model (LAM):

- ``mode='finetune'`` (default): the descriptor starts from the LAM's weights, ``dp --pt train input.json --finetune
  lam.pt --model-branch RANDOM`` (a new fitting net; without ``RANDOM`` DeePMD fails with a state-dict size mismatch).
  DeePMD fine-tunes from a ``.pt`` training checkpoint only: a frozen ``.pth`` LAM (the shipped seed model) is first
  turned into a checkpoint of its weights and model definition in the job (:func:`~.predict.pth_to_checkpoint`,
  step :data:`CONVERT`). The model's descriptor section is the LAM's, copied as it is (its ``sel``, ``rcut``,
  ``neuron`` must fit the weights), and its type map starts with the LAM's
  (:func:`~.deepmd_data.tc_type_map`);
- ``mode='scratch'``: the same descriptor architecture (read from the LAM), randomly initialised: the control that
  shows what the LAM's pretraining brings;
- ``multitask=True`` (with ``mode='finetune'`` and energy data): a two-head model, ``energy`` (the LAM's fitting net,
  ``finetune_head: Default``) and ``tc`` (``RANDOM``) on one shared descriptor, trained on the LAM's energy data and
  the Tc data together (``model_prob``), frozen with ``--head tc``.

An ensemble of ``ensemble_size`` members differs only by the seeds (:func:`member_seed`); the spread of their
predictions is the model's uncertainty. One job trains the whole ensemble in one process: each member has its own
folder (``member_0``, ...: its input and checkpoints) and its files in the job's folder (``lcurve_0.out``, the frozen
``tc_0.pth``, ``train_0.log``, :func:`member_files`).

:class:`TcModelSettings` is the one home of the settings (steps, learning rate, ensemble size, ...). Pure Python;
never imports AiiDA, deepmd-kit or torch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pathlib
import re
import zipfile
from collections.abc import Mapping, Sequence

from ..errors import HydridesInputError
from .deepmd_data import PROPERTY_NAME

__all__ = (
    'CONVERT',
    'MODES',
    'PREDICT',
    'TcModelSettings',
    'lam_model_params',
    'lam_parts',
    'member_dir',
    'member_files',
    'member_input',
    'member_seed',
    'run_training_folder',
    'training_steps',
    'write_training_folder',
)

#: how the descriptor starts: from the LAM's weights or from random weights (same architecture)
MODES = ('finetune', 'scratch')
#: the pseudo-commands of a job's launcher that are not ``dp`` commands (see :mod:`.predict`)
CONVERT = '@pth-to-pt'
PREDICT = '@predict'
#: file names in a job's folder
TRAIN_DIR = 'tc_training'
VALIDATION_DIR = 'tc_validation'
ENERGY_DIR = 'energy_training'
LAM_FILE = 'lam'  # + the LAM's suffix (.pth or .pt)
LAM_CHECKPOINT = 'lam.pt'
CONVERT_LOG = 'convert.log'
PREDICT_LOG = 'predict.log'
PREDICT_INPUT = 'predict_input.json'
PREDICT_OUTPUT = 'predictions.json'
INPUT_FILE = 'input.json'
#: the head names of a multi-task model
ENERGY_HEAD = 'energy'
TC_HEAD = PROPERTY_NAME


@dataclasses.dataclass(frozen=True)
class TcModelSettings:
    """Every setting of a Tc model's training (the ``settings`` input of ``hydrides.tc_model.train``).

    :param mode: ``finetune`` (descriptor from the LAM's weights) or ``scratch`` (same architecture, random weights)
    :param ensemble_size: members of the ensemble (their spread is the uncertainty)
    :param steps: training steps of each member
    :param start_lr: learning rate at the start (exponential decay to ``stop_lr`` at the last step)
    :param stop_lr: learning rate at the end
    :param seed: seed of member 0 (member ``i``: :func:`member_seed`)
    :param fitting_neuron: hidden layers of the property fitting net
    :param loss_func: DeePMD's property loss (``smooth_mae``, ``mae``, ``mse``, ``rmse``, ``mape``)
    :param batch_size: frames per batch (``'auto'``: DeePMD's choice per system)
    :param disp_freq: steps between learning-curve rows (default: steps/20)
    :param multitask: train the energy head on the LAM's energy data too (needs energy data, ``finetune``)
    :param energy_prob: sampling weight of the energy head per step, against 1 for the Tc head (``multitask``)
    :param threads: CPU threads of DeePMD and torch, and no data-loader worker processes (``None``: left to the
        computer)
    """

    mode: str = 'finetune'
    ensemble_size: int = 4
    steps: int = 2000
    start_lr: float = 1.0e-3
    stop_lr: float = 1.0e-5
    seed: int = 1
    fitting_neuron: tuple = (64, 64)
    loss_func: str = 'smooth_mae'
    batch_size: int | str = 'auto'
    disp_freq: int | None = None
    multitask: bool = False
    energy_prob: float = 1.0
    threads: int | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise HydridesInputError(f'settings.mode must be one of {", ".join(MODES)}, got {self.mode!r}')
        for name in ('ensemble_size', 'steps', 'seed'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == 'seed' else 1):
                raise HydridesInputError(
                    f'settings.{name} must be a {"non-negative" if name == "seed" else "positive"} integer, got {value!r}'
                )
        for name in ('start_lr', 'stop_lr', 'energy_prob'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise HydridesInputError(f'settings.{name} must be a positive number, got {value!r}')
        if self.stop_lr > self.start_lr:
            raise HydridesInputError(f'settings.stop_lr ({self.stop_lr}) is above start_lr ({self.start_lr})')
        neurons = tuple(self.fitting_neuron)
        if not neurons or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in neurons):
            raise HydridesInputError(f'settings.fitting_neuron must be positive integers, got {self.fitting_neuron!r}')
        object.__setattr__(self, 'fitting_neuron', neurons)
        if self.batch_size != 'auto' and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise HydridesInputError(
                f"settings.batch_size must be 'auto' or a positive integer, got {self.batch_size!r}"
            )
        for name in ('disp_freq', 'threads'):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise HydridesInputError(f'settings.{name} must be a positive integer, got {value!r}')
        if self.multitask and self.mode != 'finetune':
            raise HydridesInputError(
                'settings.multitask trains the LAM energy head with the Tc head: it needs mode finetune'
            )

    @classmethod
    def from_dict(cls, values: Mapping | None) -> TcModelSettings:
        """Settings from a mapping (e.g. the ``settings`` Dict); unknown keys are refused, naming the known ones."""
        values = dict(values or {})
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(key for key in values if key not in known)
        if unknown:
            raise HydridesInputError(f'unknown Tc model settings {unknown}; known: {", ".join(known)}')
        if 'fitting_neuron' in values and isinstance(values['fitting_neuron'], list):
            values['fitting_neuron'] = tuple(values['fitting_neuron'])
        return cls(**values)

    def to_dict(self) -> dict:
        """The settings as a JSON-able dictionary."""
        values = dataclasses.asdict(self)
        values['fitting_neuron'] = list(self.fitting_neuron)
        return values

    def replace(self, **changes) -> TcModelSettings:
        return dataclasses.replace(self, **changes)

    @property
    def display_every(self) -> int:
        return self.disp_freq or max(self.steps // 20, 1)


def member_seed(seed: int, member: int) -> int:
    """The seed of ensemble member ``member`` (descriptor, fitting net and data order)."""
    return int(seed) + 1000 * int(member)


def member_dir(member: int) -> str:
    """The folder of ensemble member ``member`` in a job (its input, normalised input and checkpoints)."""
    return f'member_{int(member)}'


def member_files(member: int) -> dict[str, str]:
    """The files of ensemble member ``member`` in the job's folder that the job retrieves: ``lcurve``
    (``lcurve_<i>.out``), ``model`` (the frozen ``tc_<i>.pth``), ``train_log`` and ``freeze_log``."""
    member = int(member)
    return {
        'lcurve': f'lcurve_{member}.out',
        'model': f'tc_{member}.pth',
        'train_log': f'train_{member}.log',
        'freeze_log': f'freeze_{member}.log',
    }


# --------------------------------------------------------------------------------------------------------------------
# the LAM's model definition


def _frozen_model_params(path) -> dict | None:
    """The model definition stored in a frozen DeePMD PyTorch ``.pth`` (``model_def_script``, a JSON string in the
    archive's ``data.pkl``), read without torch; ``None`` when not found."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith('/data.pkl') or name == 'data.pkl']
            texts = [archive.read(name) for name in names]
    except (OSError, zipfile.BadZipFile):
        return None
    for data in texts:
        start = data.find(b'model_def_script')
        while start >= 0:
            for match in re.finditer(rb'X(.{4})\{', data[start : start + 64], flags=re.DOTALL):
                length = int.from_bytes(match.group(1), 'little')
                begin = start + match.start() + 5
                try:
                    params = json.loads(data[begin : begin + length].decode('utf-8'))
                except (UnicodeDecodeError, ValueError):
                    continue
                if isinstance(params, dict):
                    return params
            start = data.find(b'model_def_script', start + 1)
    return None


def lam_model_params(path: str | os.PathLike) -> dict:
    """The model section of the LAM at ``path`` (a frozen ``.pth`` or a ``.pt`` training checkpoint).

    :raises HydridesInputError: the file is missing, not a PyTorch DeePMD model, or its definition cannot be read.
    """
    from ..lam.model_definition import checkpoint_model_params

    path = pathlib.Path(path)
    if not path.is_file():
        raise HydridesInputError(f'the LAM model file {path} does not exist')
    suffix = path.suffix.lower()
    if suffix == '.pth':
        params = _frozen_model_params(path)
    elif suffix == '.pt':
        params = checkpoint_model_params(path)
    else:
        raise HydridesInputError(
            f'the LAM must be a PyTorch DeePMD model (.pth frozen or .pt checkpoint), not {path.name}'
        )
    if not params:
        raise HydridesInputError(f'the model definition of {path.name} cannot be read; is it a DeePMD PyTorch model?')
    return params


def lam_parts(params: Mapping, head: str | None = None) -> tuple[dict, list[str], dict]:
    """(descriptor, type map, energy fitting net) of a LAM's model section; for a multi-task LAM those of ``head``
    (default: its first head), the shared descriptor and type map resolved."""
    params = dict(params)
    if 'model_dict' in params:
        branches = params['model_dict']
        name = head or next(iter(branches))
        if name not in branches:
            raise HydridesInputError(f'the LAM has no head {name!r}; its heads are {list(branches)}')
        branch = branches[name]
        shared = params.get('shared_dict', {})
        descriptor = branch.get('descriptor')
        descriptor = shared.get(descriptor) if isinstance(descriptor, str) else descriptor
        type_map = branch.get('type_map')
        type_map = shared.get(type_map) if isinstance(type_map, str) else type_map
        fitting = branch.get('fitting_net', {})
    else:
        descriptor, type_map, fitting = params.get('descriptor'), params.get('type_map'), params.get('fitting_net', {})
    if not isinstance(descriptor, Mapping) or 'type' not in descriptor:
        raise HydridesInputError('the LAM has no descriptor with a type')
    if not isinstance(type_map, list) or not type_map:
        raise HydridesInputError('the LAM has no type map')
    return copy.deepcopy(dict(descriptor)), [str(t) for t in type_map], copy.deepcopy(dict(fitting or {}))


# --------------------------------------------------------------------------------------------------------------------
# the DeePMD input of one member


def _property_fitting(settings: TcModelSettings, seed: int, precision: str) -> dict:
    return {
        'type': 'property',
        'property_name': PROPERTY_NAME,
        'task_dim': 1,
        'intensive': True,
        'neuron': list(settings.fitting_neuron),
        'resnet_dt': True,
        'precision': precision,
        'seed': seed,
    }


def member_input(
    settings: TcModelSettings,
    descriptor: Mapping,
    type_map: Sequence[str],
    member: int,
    train_dir: str = TRAIN_DIR,
    validation_dir: str | None = None,
    energy_dir: str | None = None,
    energy_fitting: Mapping | None = None,
) -> dict:
    """The DeePMD input of ensemble member ``member`` (paths relative to the job's folder; its outputs in
    :func:`member_dir`).

    :param descriptor: the LAM's descriptor section (copied; its ``seed`` set to the member's)
    :param type_map: the model's type map (:func:`~.deepmd_data.tc_type_map`)
    :param validation_dir: Tc systems shown as validation in the learning curve, or ``None``
    :param energy_dir: the energy data of a multi-task model (``settings.multitask``)
    :param energy_fitting: the LAM's energy fitting net (the energy head of a multi-task model)
    """
    seed = member_seed(settings.seed, member)
    folder = member_dir(member)
    descriptor = copy.deepcopy(dict(descriptor))
    descriptor['seed'] = seed
    sel = descriptor.get('sel')
    if isinstance(sel, list) and len(sel) < len(type_map):
        # a per-type descriptor (se_*) from scratch on more elements than the LAM knows: the new types get the
        # largest neighbour count of the LAM's (fine-tuning refuses such elements, tc_type_map)
        descriptor['sel'] = list(sel) + [max(sel)] * (len(type_map) - len(sel))
    precision = str(descriptor.get('precision', 'float64'))
    if precision == 'default':
        precision = 'float64'
    steps = settings.steps
    # the exponential decay reaches stop_lr at the last step: decay every steps/20 (at least 1)
    learning_rate = {
        'type': 'exp',
        'start_lr': settings.start_lr,
        'stop_lr': settings.stop_lr,
        'decay_steps': max(steps // 20, 1),
    }
    property_loss = {'type': 'property', 'loss_func': settings.loss_func, 'metric': ['mae', 'rmse']}
    tc_data = {'training_data': {'systems': train_dir, 'batch_size': settings.batch_size}}
    if validation_dir is not None:
        tc_data['validation_data'] = {'systems': validation_dir, 'batch_size': settings.batch_size, 'numb_btch': 1}
    training = {
        'numb_steps': steps,
        'seed': seed,
        'disp_file': member_files(member)['lcurve'],
        'disp_freq': settings.display_every,
        'save_freq': steps,
        'save_ckpt': f'{folder}/model.ckpt',
        'disp_avg': True,
    }
    multitask = settings.multitask
    if multitask:
        if settings.mode != 'finetune' or energy_dir is None:
            raise HydridesInputError('a multi-task Tc model needs mode finetune and the LAM energy data')
        fitting = copy.deepcopy(dict(energy_fitting or {}))
        fitting.pop('type', None)
        fitting['seed'] = seed
        model = {
            'shared_dict': {'type_map_all': list(type_map), 'shared_descriptor': descriptor},
            'model_dict': {
                ENERGY_HEAD: {
                    'type_map': 'type_map_all',
                    'descriptor': 'shared_descriptor',
                    'fitting_net': fitting,
                    'finetune_head': 'Default',
                },
                TC_HEAD: {
                    'type_map': 'type_map_all',
                    'descriptor': 'shared_descriptor',
                    'fitting_net': _property_fitting(settings, seed, precision),
                    'finetune_head': 'RANDOM',
                },
            },
        }
        config = {
            'model': model,
            'learning_rate': learning_rate,
            'loss_dict': {
                ENERGY_HEAD: {
                    'type': 'ener',
                    'start_pref_e': 0.2,
                    'limit_pref_e': 20.0,
                    'start_pref_f': 100.0,
                    'limit_pref_f': 60.0,
                },
                TC_HEAD: property_loss,
            },
            'training': {
                **training,
                # DeePMD 3.2 divides by zero averaging the errors of a head not drawn in a display interval
                'disp_avg': False,
                'model_prob': {ENERGY_HEAD: float(settings.energy_prob), TC_HEAD: 1.0},
                'data_dict': {
                    ENERGY_HEAD: {'training_data': {'systems': energy_dir, 'batch_size': 'auto'}},
                    TC_HEAD: tc_data,
                },
            },
        }
    else:
        config = {
            'model': {
                'type_map': list(type_map),
                'descriptor': descriptor,
                'fitting_net': _property_fitting(settings, seed, precision),
            },
            'learning_rate': learning_rate,
            'loss': property_loss,
            'training': {**training, **tc_data},
        }
    config['_comment'] = f'aiida-hydrides Tc model, ensemble member {member} ({settings.mode}), seed {seed}'
    return config


def training_steps(settings: TcModelSettings, lam_name: str | None, predict_args: Sequence[str] | None = None) -> list:
    """The steps of a training job, ``(argv, log)`` pairs for the launcher (:func:`.predict.launcher_script`): the
    conversion of a frozen LAM to a checkpoint (fine-tuning from a ``.pth``), then per member ``dp --pt train`` and
    ``dp --pt freeze``, then the prediction of the ensemble (``predict_args``, e.g. on the validation records).

    :param lam_name: the LAM's file in the job's folder (``lam.pth`` or ``lam.pt``); ``None`` from scratch.
    """
    steps = []
    parent = None
    if settings.mode == 'finetune':
        if lam_name is None:
            raise HydridesInputError('fine-tuning needs the LAM model file')
        if lam_name.lower().endswith('.pth'):
            steps.append(([CONVERT, lam_name, LAM_CHECKPOINT], CONVERT_LOG))
            parent = LAM_CHECKPOINT
        else:
            parent = lam_name
    for member in range(settings.ensemble_size):
        folder = member_dir(member)
        files = member_files(member)
        argv = ['--pt', 'train', f'{folder}/{INPUT_FILE}', '-o', f'{folder}/out.json', '--skip-neighbor-stat']
        if parent is not None:
            argv += ['--finetune', parent]
            if not settings.multitask:
                argv += ['--model-branch', 'RANDOM']
        steps.append((argv, files['train_log']))
        freeze = ['--pt', 'freeze', '-c', f'{folder}/model.ckpt.pt', '-o', files['model']]
        if settings.multitask:
            freeze += ['--head', TC_HEAD]
        steps.append((freeze, files['freeze_log']))
    if predict_args:
        steps.append(([PREDICT, *predict_args], PREDICT_LOG))
    return steps


# --------------------------------------------------------------------------------------------------------------------
# a training folder outside AiiDA (cross-validation, benchmarks)


def write_training_folder(
    folder: str | os.PathLike,
    records: Sequence,
    settings: TcModelSettings,
    lam_path: str | os.PathLike,
    predict_records: Sequence = (),
    validation: Sequence = (),
) -> list:
    """Write everything a Tc training needs into ``folder``, as the ``hydrides.tc_model.train`` job does: the Tc
    systems, the members' inputs, the LAM (copied; fine-tuning), the steps and the launcher; the last step predicts
    ``records``, ``validation`` and ``predict_records`` with the ensemble (:data:`PREDICT_OUTPUT`). Returns the steps.
    Run them with :func:`run_training_folder`."""
    import shutil

    from . import deepmd_data, predict

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lam_path = pathlib.Path(lam_path)
    descriptor, lam_type_map, energy_fitting = lam_parts(lam_model_params(lam_path))
    if settings.multitask:
        raise HydridesInputError('a multi-task Tc model needs energy data: train it with hydrides.tc_model.train')
    every = [*records, *validation, *predict_records]
    type_map = deepmd_data.tc_type_map(
        every, lam_type_map, descriptor.get('type') if settings.mode == 'finetune' else None
    )
    deepmd_data.write_tc_systems(records, folder / TRAIN_DIR, type_map)
    if validation:
        deepmd_data.write_tc_systems(validation, folder / VALIDATION_DIR, type_map)
    for member in range(settings.ensemble_size):
        config = member_input(
            settings, descriptor, type_map, member, validation_dir=VALIDATION_DIR if validation else None
        )
        (folder / member_dir(member)).mkdir(exist_ok=True)
        (folder / member_dir(member) / INPUT_FILE).write_text(json.dumps(config, indent=2))
    lam_name = LAM_FILE + lam_path.suffix.lower()
    if settings.mode == 'finetune':
        shutil.copyfile(lam_path, folder / lam_name)
    models = [member_files(member)['model'] for member in range(settings.ensemble_size)]
    unique = {record.name: record for record in every}
    (folder / PREDICT_INPUT).write_text(json.dumps(predict.prediction_input(models, list(unique.values()))))
    steps = training_steps(settings, lam_name if settings.mode == 'finetune' else None, [PREDICT_INPUT, PREDICT_OUTPUT])
    (folder / predict.STEPS_FILE).write_text(predict.steps_json(steps))
    (folder / predict.LAUNCHER_FILE).write_text(predict.launcher_script())
    return steps


def run_training_folder(folder: str | os.PathLike, python: str | None = None, threads: int | None = None) -> dict:
    """Run the launcher of a folder written by :func:`write_training_folder` with ``python`` (default: this
    interpreter, which must have deepmd-kit) and return its predictions (``{name: [Tc per member]}``).

    :raises HydridesInputError: a failed step, with DeePMD's error from its log.
    """
    import subprocess
    import sys

    from ..lam.training import log_error
    from . import predict

    folder = pathlib.Path(folder)
    env = dict(os.environ)
    if threads:
        env.update(
            OMP_NUM_THREADS=str(threads),
            DP_INTRA_OP_PARALLELISM_THREADS=str(threads),
            DP_INTER_OP_PARALLELISM_THREADS='1',
            NUM_WORKERS='0',
        )
    result = subprocess.run(
        [python or sys.executable, predict.LAUNCHER_FILE, predict.STEPS_FILE],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not (folder / PREDICT_OUTPUT).is_file():
        steps = json.loads((folder / predict.STEPS_FILE).read_text())
        for step in steps:
            log = folder / step['log']
            if not log.is_file():
                continue
            text = log.read_text(errors='replace')
            if 'Traceback' in text or 'Error' in text:
                raise HydridesInputError(f'{" ".join(step["argv"])} failed in {folder}: {log_error(text)}')
        raise HydridesInputError(f'the Tc training in {folder} failed: {result.stdout[-500:]} {result.stderr[-500:]}')
    return json.loads((folder / PREDICT_OUTPUT).read_text())['predictions']
