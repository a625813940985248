"""DeePMD training runs: the ``dp --pt train`` input of a job, the commands around it, and reading what they write.

Used by the ``hydrides.lam.train`` CalcJob (:mod:`aiida_hydrides.calculations.lam_train`); pure Python, never imports
AiiDA, deepmd-kit or torch.

**The input.** :func:`build_training_input` merges the user's ``parameters`` into a default taken from the seed
model's ``input.json`` (``aiida_hydrides/models/seed``: its model and training sections) with the loss and learning
rate of the stage (:data:`~aiida_hydrides.core.seed_configs.SCRATCH_STAGE` from scratch and for fine-tuning,
:data:`~aiida_hydrides.core.seed_configs.CONTINUE_STAGE` when continuing a model). ``parameters`` may hold:

- the DeePMD sections ``model``, ``learning_rate``, ``loss``, ``training``, ``optimizer``: merged key by key into the
  default (a dictionary whose ``type`` differs from the default's replaces it whole; lists replace); with all four of
  ``model``, ``learning_rate``, ``loss`` and ``training`` the parameters are a complete input and replace the default;
- shortcuts: ``steps`` (``training.numb_steps``; the learning-rate decay, display and save frequencies follow it
  unless given), ``seed`` (every ``seed``), ``descriptor`` and ``fitting_net`` (replace the model's);
- keys starting with ``_`` (comments), kept as they are.

The data systems are never given: they are the job's training (and validation) set. The model's ``type_map`` is the
training set's unless given; every element of the data must be in it. With a parent model and no ``model`` section the
model is the parent's (``--use-pretrain-script``), only its ``type_map`` is set for fine-tuning; a ``model`` section
given with a parent is used as it is (not completed from the seed's).

**The commands** (:func:`train_command` etc.): ``dp --pt train input.json [--init-frz-model P.pth | --init-model
P.pt | --finetune P.pt [--model-branch HEAD]] [--use-pretrain-script]``, ``dp --pt freeze -o model.pth``,
``dp --pt compress -i model.pth -o model-compressed.pth``, ``dp --pt test -m model.pth -s validation -d
validation``.

**One process for all steps.** Importing deepmd-kit and torch takes 7-20 s, more than a small training's freeze,
compression and test together, so a job runs its steps in one Python process: :func:`run_steps` calls deepmd-kit's
own entry point (``deepmd.main.main``, what the ``dp`` script calls) once per step, with the step's stdout and stderr
(Python's, deepmd's logging, C-level output) sent to the step's log at the file-descriptor level; a failed step does
not stop the later ones (the parser reports the first failure from the logs, as with separate processes). The job's
folder holds the steps (:data:`STEPS_FILE`, :func:`steps_json`) and the launcher (:data:`LAUNCHER_FILE`,
:func:`launcher_script`: the source of :func:`run_steps` and a ``main``; it needs no aiida-hydrides on the computer),
and the job script runs them with :func:`steps_shell`: the launcher gets the first lines of the ``dp`` script (its
``#!`` line, or pip's ``#!/bin/sh`` form for long paths), so it runs with the Python that runs ``dp``, in the same
environment; when ``dp`` is not a Python console script (e.g. a wrapper of a container) each step runs as its own
``dp`` process, as before.

**The results**: :func:`read_lcurve` (the learning curve), :func:`test_metrics` (errors of ``dp test``'s detail files),
:func:`training_log_summary` (training time), :func:`log_error` (DeePMD's error message), :func:`diverged`.
"""

from __future__ import annotations

import copy
import datetime
import inspect
import json
import math
import pathlib
import re
import shlex
from collections.abc import Mapping, Sequence

import numpy as np

from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'COMPRESSIBLE_DESCRIPTORS',
    'MODES',
    'TrainingPlan',
    'build_training_input',
    'compress_command',
    'default_training_input',
    'diverged',
    'freeze_command',
    'launcher_script',
    'log_error',
    'parent_descriptor_type',
    'read_lcurve',
    'run_steps',
    'steps_json',
    'steps_shell',
    'test_command',
    'test_metrics',
    'train_command',
    'training_log_summary',
)

#: how a parent model is used: ``init`` continues it (same model, new data or more steps), ``finetune`` fine-tunes a
#: pretrained model (optionally one head of a multi-task model)
MODES = ('init', 'finetune')
#: descriptors that ``dp --pt compress`` tabulates (compression is on by default for them)
COMPRESSIBLE_DESCRIPTORS = ('se_e2_a', 'se_a', 'se_e2_r', 'se_r', 'se_e3', 'se_at', 'se_a_3be', 'se_atten_v2', 'dpa1')
#: DeePMD input sections ``parameters`` may hold
SECTIONS = ('model', 'learning_rate', 'loss', 'training', 'optimizer')
#: the sections that make ``parameters`` a complete input (no default merged)
COMPLETE_SECTIONS = ('model', 'learning_rate', 'loss', 'training')
#: shortcut keys of ``parameters``
SHORTCUTS = ('steps', 'seed', 'descriptor', 'fitting_net')
#: file names in the job's folder
INPUT_FILE = 'input.json'
TRAIN_DIR = 'training'
VALIDATION_DIR = 'validation'
MODEL_FILE = 'model.pth'
COMPRESSED_FILE = 'model-compressed.pth'
CHECKPOINT_FILE = 'model.ckpt.pt'
LCURVE_FILE = 'lcurve.out'
DETAIL_PREFIX = 'validation'
#: the steps of a job (JSON, :func:`steps_json`) and the launcher that runs them in one process (:func:`launcher_script`)
STEPS_FILE = 'dp_steps.json'
LAUNCHER_FILE = 'run_dp_steps.py'
#: the launcher with the first lines of the dp script, made by the job script (:func:`steps_shell`)
LAUNCHER_EXECUTABLE = 'run_dp_steps'
#: training steps from scratch unless given (the seed model's first stage)
DEFAULT_STEPS = 60000


def _seed_input_path() -> pathlib.Path:
    from aiida_hydrides.models import SEED_MODEL

    return SEED_MODEL.with_name('input.json')


def default_training_input(stage: str = 'scratch', steps: int | None = None) -> dict:
    """The default DeePMD input: the seed model's ``input.json`` (model and training sections, without its data
    systems and comments) with the loss and learning rate of ``stage`` (``'scratch'``, ``'finetune'`` or ``'init'``)
    and ``steps`` (default: the seed's, 60000 from scratch and 10000 for a further stage)."""
    from aiida_hydrides.core import seed_configs

    if stage not in ('scratch', *MODES):
        raise HydridesInputError(f'the training stage is scratch, init or finetune, got {stage!r}')
    path = _seed_input_path()
    if not path.is_file():
        raise HydridesInputError(f'the seed training input {path} is missing; reinstall aiida-hydrides')
    seed = json.loads(path.read_text())
    config = {key: copy.deepcopy(value) for key, value in seed.items() if not key.startswith('_')}
    config['model'].pop('type_map', None)  # the training set's, unless the parameters give one
    config['training'].pop('training_data', None)
    config['training'].pop('validation_data', None)
    stage_settings = seed_configs.CONTINUE_STAGE if stage == 'init' else seed_configs.SCRATCH_STAGE
    config['learning_rate'] = copy.deepcopy(stage_settings['learning_rate'])
    config['loss'] = copy.deepcopy(stage_settings['loss'])
    # the learning curve shows the training errors averaged over each display interval, not one batch's
    config['training']['disp_avg'] = True
    # from scratch as long as the seed's first stage, further stages as long as its continuation (its input.json)
    default_steps = DEFAULT_STEPS if stage == 'scratch' else int(config['training'].get('numb_steps') or DEFAULT_STEPS)
    _set_steps(config, int(steps or default_steps), stage, {})
    return config


def _set_steps(config: dict, steps: int, stage: str, given: Mapping) -> None:
    """``numb_steps`` and the frequencies that follow it (those not ``given`` by the user), as the seed script sets
    them: decay every steps/60 (from scratch) or steps/20 (further stages), display every steps/200, save every
    steps/20."""
    config.setdefault('training', {})['numb_steps'] = steps
    if 'decay_steps' not in given.get('learning_rate', {}):
        config.setdefault('learning_rate', {})['decay_steps'] = max(steps // (60 if stage == 'scratch' else 20), 1)
    training_given = given.get('training', {})
    if 'disp_freq' not in training_given:
        config['training']['disp_freq'] = max(steps // 200, 1)
    if 'save_freq' not in training_given:
        config['training']['save_freq'] = max(steps // 20, 1)


def _merge(default, override):
    """``override`` merged into ``default`` (dictionaries key by key; a dictionary with another ``type`` and any
    other value replace)."""
    if not isinstance(default, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    if 'type' in override and 'type' in default and override['type'] != default['type']:
        return copy.deepcopy(override)
    merged = copy.deepcopy(default)
    for key, value in override.items():
        merged[key] = _merge(default[key], value) if key in default else copy.deepcopy(value)
    return merged


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise HydridesInputError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


class TrainingPlan:
    """The DeePMD input and ``dp --pt train`` options of one training job (see :func:`build_training_input`)."""

    def __init__(self, config: dict, mode: str | None, use_pretrain_script: bool, descriptor_type: str | None):
        self.config = config
        self.mode = mode
        self.use_pretrain_script = use_pretrain_script
        #: the descriptor type when known before training (``None`` when it comes from a parent model)
        self.descriptor_type = descriptor_type

    @property
    def steps(self) -> int:
        return int(self.config['training']['numb_steps'])

    @property
    def compressible(self) -> bool:
        """Whether ``dp --pt compress`` can tabulate the model (its descriptor is known and tabulated)."""
        return self.descriptor_type in COMPRESSIBLE_DESCRIPTORS


def build_training_input(
    parameters: Mapping | None,
    type_map: Sequence[str],
    elements: Sequence[str],
    train_dir: str = TRAIN_DIR,
    validation_dir: str | None = None,
    mode: str | None = None,
    parent_descriptor: str | None = None,
) -> TrainingPlan:
    """The DeePMD input of a training job.

    :param parameters: the user's parameters (see the module docstring); ``None`` for the default.
    :param type_map: the training set's type map (the model's unless ``parameters`` give one).
    :param elements: the elements present in the training and validation data (must be in the model's type map).
    :param train_dir: folder of the training systems (relative to the job's folder), ``validation_dir`` of the
        validation systems (``None``: no validation during training).
    :param mode: ``None`` (from scratch), ``'init'`` or ``'finetune'`` (a parent model is given).
    :param parent_descriptor: the parent model's descriptor type, when known (a frozen ``.pth``).
    :raises HydridesInputError: a parameter that cannot be used, with the reason.
    """
    if mode is not None and mode not in MODES:
        raise HydridesInputError(f'the mode of a parent model is one of {", ".join(MODES)}, got {mode!r}')
    parameters = dict(parameters or {})
    unknown = sorted(key for key in parameters if key not in SECTIONS + SHORTCUTS and not key.startswith('_'))
    if unknown:
        raise HydridesInputError(
            f'unknown parameters {unknown}; use the DeePMD sections {", ".join(SECTIONS)} or the shortcuts '
            f'{", ".join(SHORTCUTS)}'
        )
    for key in SECTIONS + ('descriptor', 'fitting_net'):
        if key in parameters and not isinstance(parameters[key], Mapping):
            raise HydridesInputError(f'parameters[{key!r}] must be a dictionary, got {type(parameters[key]).__name__}')
    model = parameters.get('model', {})
    if 'model_dict' in model or 'shared_dict' in model:
        raise HydridesInputError(
            'multi-task training (model_dict) is not supported by this job; to fine-tune one head of a multi-task '
            'model give it as parent_model with mode finetune and finetune_head'
        )
    training = parameters.get('training', {})
    for key in ('training_data', 'validation_data', 'data_dict'):
        if key in training:
            raise HydridesInputError(
                f'parameters.training.{key} is set by the job from its training_set and validation_set inputs; '
                'remove it (batch_size: give it as parameters.training.batch_size)'
            )
    batch_size = training.get('batch_size')
    use_pretrain_script = mode is not None and 'model' not in parameters
    if use_pretrain_script and ('descriptor' in parameters or 'fitting_net' in parameters):
        raise HydridesInputError(
            "with a parent model the model is the parent's; to change its descriptor or fitting net give a complete "
            "'model' section (it must fit the parent's weights)"
        )

    stage = mode or 'scratch'
    complete = all(key in parameters for key in COMPLETE_SECTIONS)
    sections = {key: parameters[key] for key in SECTIONS if key in parameters}
    if complete:
        config = copy.deepcopy(sections)
    else:
        config = _merge(default_training_input(stage), sections)
        if mode is not None and 'model' in parameters:
            # the model of a parent: as given, never completed from the seed's (it must fit the parent's weights)
            config['model'] = copy.deepcopy(parameters['model'])
    for key, value in parameters.items():
        if key.startswith('_'):
            config[key] = copy.deepcopy(value)
    for key in ('descriptor', 'fitting_net'):
        if key in parameters:
            config.setdefault('model', {})[key] = copy.deepcopy(parameters[key])

    if 'steps' in parameters:
        steps = _positive_int(parameters['steps'], 'steps')
        if 'numb_steps' in training and training['numb_steps'] != steps:
            raise HydridesInputError(f'steps={steps} and training.numb_steps={training["numb_steps"]!r} disagree')
        _set_steps(config, steps, stage, sections)
    elif 'numb_steps' in training and not complete:
        _set_steps(config, _positive_int(training['numb_steps'], 'training.numb_steps'), stage, sections)
    config.setdefault('training', {})
    if 'numb_steps' not in config['training']:
        raise HydridesInputError('the number of training steps is not set: give steps or training.numb_steps')
    _positive_int(config['training']['numb_steps'], 'training.numb_steps')
    if 'seed' in parameters:
        seed = parameters['seed']
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise HydridesInputError(f'seed must be a non-negative integer, got {seed!r}')
        config['training']['seed'] = seed
        for part in ('descriptor', 'fitting_net'):
            if isinstance(config.get('model', {}).get(part), dict):
                config['model'][part]['seed'] = seed

    model = config.setdefault('model', {})
    if use_pretrain_script:
        # the parent's model section is used as it is; fine-tuning needs the new type map
        config['model'] = {'type_map': list(type_map)}
        model = config['model']
    model_type_map = list(model.get('type_map') or type_map)
    model['type_map'] = model_type_map
    missing = [element for element in elements if element not in model_type_map]
    if missing and not (use_pretrain_script and mode == 'init'):
        raise HydridesInputError(
            f'the data have elements {missing} that are not in the model type map {model_type_map}'
        )
    descriptor = model.get('descriptor')
    if not use_pretrain_script:
        if not isinstance(descriptor, dict) or 'type' not in descriptor:
            raise HydridesInputError("the model has no descriptor with a 'type'")
        sel = descriptor.get('sel')
        if isinstance(sel, list) and len(sel) != len(model_type_map) and descriptor['type'].startswith('se_'):
            # the default sel is per type of the seed type map: let DeePMD count the neighbours of this data
            descriptor['sel'] = 'auto'
    descriptor_type = descriptor.get('type') if isinstance(descriptor, dict) else parent_descriptor

    config['training']['training_data'] = {'systems': train_dir, 'batch_size': batch_size or 'auto'}
    if validation_dir is not None:
        config['training']['validation_data'] = {'systems': validation_dir, 'batch_size': 'auto', 'numb_btch': 1}
    config['training'].setdefault('disp_file', LCURVE_FILE)
    if config['training']['disp_file'] != LCURVE_FILE:
        raise HydridesInputError(f'training.disp_file must be {LCURVE_FILE!r} (the job reads it)')
    config['training'].pop('batch_size', None)
    return TrainingPlan(config, mode, use_pretrain_script, descriptor_type)


def parent_descriptor_type(params: Mapping | None, mode: str, head: str | None) -> str | None:
    """The descriptor type of the model a job starts from, given the parent checkpoint's model parameters
    (:func:`~aiida_hydrides.core.lam.model_definition.checkpoint_model_params`; ``None`` when unknown), and the check
    of the head: a multi-task parent needs ``head`` (one of its heads or aliases, or ``RANDOM``) and cannot be
    continued as a whole; a single-task parent has only the head ``Default``."""
    if params is None:
        return None
    if 'model_dict' in params:
        branches = params['model_dict']
        heads = list(branches)
        aliases = {alias: name for name, branch in branches.items() for alias in branch.get('model_branch_alias', [])}
        if mode == 'init':
            raise HydridesInputError(
                f'the parent model is a multi-task model (heads {heads}); continuing it as a whole is not supported: '
                'fine-tune one head (mode finetune, finetune_head)'
            )
        if not head:
            raise HydridesInputError(
                f'the parent model is a multi-task model with heads {heads}: choose one with finetune_head (or RANDOM '
                'for a new fitting net on its descriptor)'
            )
        if head != 'RANDOM' and head not in branches and head not in aliases:
            raise HydridesInputError(f'the parent model has no head {head!r}; its heads are {heads}')
        branch = branches[heads[0] if head == 'RANDOM' else aliases.get(head, head)]
        descriptor = branch.get('descriptor')
        if isinstance(descriptor, str):
            descriptor = params.get('shared_dict', {}).get(descriptor)
    else:
        if head not in (None, '', 'Default', 'RANDOM'):
            raise HydridesInputError(
                f'the parent model has a single head: finetune_head can be Default or RANDOM, not {head!r}'
            )
        descriptor = params.get('descriptor')
    return descriptor.get('type') if isinstance(descriptor, Mapping) else None


# --------------------------------------------------------------------------------------------------------------------
# commands (arguments after the `dp` executable)


def train_command(plan: TrainingPlan, parent: str | None = None, finetune_head: str | None = None) -> list[str]:
    """Arguments of ``dp --pt train``: ``--init-frz-model`` (a frozen ``.pth``) or ``--init-model`` (a ``.pt``
    checkpoint) to continue, ``--finetune`` (a ``.pt`` checkpoint) with ``--model-branch`` to fine-tune."""
    arguments = ['--pt', 'train', INPUT_FILE]
    if plan.mode is None:
        if parent is not None:
            raise HydridesInputError('a parent model needs a mode, init or finetune')
        if finetune_head:
            raise HydridesInputError('finetune_head is only used with a parent model in mode finetune')
        return arguments
    if parent is None:
        raise HydridesInputError(f'mode {plan.mode!r} needs a parent model')
    suffix = pathlib.PurePath(parent).suffix.lower()
    if plan.mode == 'init':
        if finetune_head:
            raise HydridesInputError('finetune_head is only used in mode finetune; mode init continues the whole model')
        if suffix == '.pth':
            arguments += ['--init-frz-model', parent]
        elif suffix == '.pt':
            arguments += ['--init-model', parent]
        else:
            raise HydridesInputError(f'a parent model to continue is a frozen .pth or a .pt checkpoint, not {parent!r}')
    else:
        if suffix != '.pt':
            raise HydridesInputError(
                f'fine-tuning starts from a .pt training checkpoint (DeePMD reads its model parameters), not {parent!r}; '
                'continue a frozen .pth model with mode init'
            )
        arguments += ['--finetune', parent]
        if finetune_head:
            arguments += ['--model-branch', str(finetune_head)]
    if plan.use_pretrain_script:
        arguments.append('--use-pretrain-script')
    return arguments


def freeze_command() -> list[str]:
    """Arguments of ``dp --pt freeze`` (the last checkpoint of the folder)."""
    return ['--pt', 'freeze', '-o', MODEL_FILE]


def compress_command() -> list[str]:
    """Arguments of ``dp --pt compress`` of the frozen model."""
    return ['--pt', 'compress', '-i', MODEL_FILE, '-o', COMPRESSED_FILE]


def test_command() -> list[str]:
    """Arguments of ``dp --pt test`` of the frozen model on the validation systems, detail files ``validation.*``."""
    return ['--pt', 'test', '-m', MODEL_FILE, '-s', VALIDATION_DIR, '-d', DETAIL_PREFIX]


# --------------------------------------------------------------------------------------------------------------------
# running the steps of a job in one process


def run_steps(steps, main=None, report=None):
    """Run ``dp`` command lines one after another in this Python process; return the exit code of each (0: success).

    Each step calls ``main(argv)`` (default: deepmd-kit's ``deepmd.main.main``, imported at the first step that needs
    it, so that a missing deepmd-kit is that step's error) with ``sys.argv`` set to ``['dp', *argv]``. Its output goes
    to its log file at the file-descriptor level (``os.dup2`` of 1 and 2, the Python streams flushed before and after,
    C stdio buffers too): Python's ``print``, the logging handler that deepmd-kit puts on ``sys.stderr``, warnings and
    the output of C++ code all land in the step's log; the descriptors are restored afterwards. A step that exits
    with a non-zero code (``SystemExit``) or raises (its traceback is written to its log) is recorded and the next
    steps still run, as separate ``dp`` processes would; ``KeyboardInterrupt`` (a signal) stops them all.

    This function is written as it is into a job's launcher (:func:`launcher_script`): it imports only the standard
    library, inside its body, and has no annotations.

    :param steps: ``(argv, log)`` pairs: the arguments of ``dp`` (e.g. ``['--pt', 'freeze', '-o', 'model.pth']``) and
        the file (created or truncated) its output goes to.
    :param main: the entry point to call with each ``argv`` (default: ``deepmd.main.main``).
    :param report: a text stream for one line per step (its arguments, exit code and time), or ``None``.
    """
    import ctypes
    import os
    import sys
    import time
    import traceback

    def flush():
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass
        try:
            ctypes.CDLL(None).fflush(None)  # the C stdio buffers (output of C++ code)
        except (OSError, AttributeError, TypeError):
            pass

    codes = []
    for argv, log in steps:
        argv = [str(argument) for argument in argv]
        start = time.time()
        flush()
        target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        saved = (os.dup(1), os.dup(2))
        saved_argv = sys.argv
        try:
            os.dup2(target, 1)
            os.dup2(target, 2)
            sys.argv = ['dp', *argv]
            try:
                entry = main
                if entry is None:
                    from deepmd.main import main as entry
                entry(argv)
                code = 0
            except SystemExit as exit_:
                code = exit_.code
                if code is None:
                    code = 0
                elif not isinstance(code, int):  # SystemExit('message'): the message and 1, as Python does
                    flush()
                    os.write(2, (str(code) + '\n').encode('utf-8', 'replace'))
                    code = 1
            except Exception:
                flush()
                os.write(2, traceback.format_exc().encode('utf-8', 'replace'))
                code = 1
        finally:
            flush()
            sys.argv = saved_argv
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in (target, *saved):
                os.close(descriptor)
        codes.append(code)
        if report is not None:
            print(
                f'dp {" ".join(argv)} > {log}: exit code {code}, {time.time() - start:.1f} s', file=report, flush=True
            )
    return codes


_LAUNCHER = '''"""Run the DeePMD steps of {steps_file} in this one Python process (written by the hydrides.lam.train job of
aiida-hydrides): each step is `dp ARGUMENTS`, run with deepmd-kit's own entry point (deepmd.main.main), its output
going to its log file; a step that fails does not stop the later ones. Usage: python {launcher} [{steps_file}].
The exit status is that of the first failed step (0 when all succeed).
"""

import json
import sys


{runner}

def _main(arguments):
    path = arguments[1] if len(arguments) > 1 else {steps_file!r}
    with open(path) as handle:
        steps = [(step['argv'], step['log']) for step in json.load(handle)]
    codes = run_steps(steps, report=sys.stdout)
    failed = [code for code in codes if code]
    return failed[0] if failed else 0


if __name__ == '__main__':
    sys.exit(_main(sys.argv))
'''


def launcher_script() -> str:
    """The source of the launcher :data:`LAUNCHER_FILE`: :func:`run_steps` and a ``main`` that runs the steps of the
    JSON file given as argument (default :data:`STEPS_FILE`, :func:`steps_json`) and exits with the code of the first
    failed step. It needs only the standard library and deepmd-kit."""
    return _LAUNCHER.format(
        steps_file=STEPS_FILE, launcher=LAUNCHER_FILE, runner=inspect.getsource(run_steps).rstrip() + '\n'
    )


def steps_json(steps: Sequence[tuple[Sequence[str], str]]) -> str:
    """The steps file of a job (:data:`STEPS_FILE`): ``[{"argv": [...], "log": "train.log"}, ...]``."""
    return json.dumps(
        [{'argv': [str(argument) for argument in argv], 'log': str(log)} for argv, log in steps], indent=2
    )


def steps_shell(executable: str, steps: Sequence[tuple[Sequence[str], str]]) -> str:
    """The lines of a job script (POSIX sh) that run ``steps`` (``(argv, log)`` pairs) with the ``dp`` script at
    ``executable``: in one process, the launcher (:data:`LAUNCHER_FILE`, with the steps in :data:`STEPS_FILE`) run by
    the interpreter of ``dp``, when ``dp`` is a Python console script; else one ``dp`` process per step.

    The launcher is copied after the first lines of ``dp`` (those before its first ``import``: the ``#!`` line and
    any coding comment of a pip or conda console script, or pip's ``#!/bin/sh`` + ``exec`` lines for interpreter
    paths too long for ``#!``) into :data:`LAUNCHER_EXECUTABLE`, which is run: the system starts it with the same
    interpreter, found the same way, as ``dp``.
    """
    dp = shlex.quote(str(executable))
    each = '\n'.join(
        f'    {dp} {" ".join(shlex.quote(str(argument)) for argument in argv)} > {shlex.quote(str(log))} 2>&1'
        for argv, log in steps
    )
    launcher, steps_file, executable_name = (
        shlex.quote(name) for name in (LAUNCHER_FILE, STEPS_FILE, LAUNCHER_EXECUTABLE)
    )
    return f"""# hydrides.lam.train: the dp steps of {STEPS_FILE} in one Python process, so that deepmd-kit and torch start
# once: {LAUNCHER_FILE} after the first lines of the dp script (those before its first import: its #! line), so that
# it runs with the Python of dp; one dp process per step when dp is not a Python console script (e.g. a wrapper)
hydrides_dp={dp}
hydrides_dp_header=$(sed -E -n '/^(import|from)[[:space:]]/q;p' "$hydrides_dp")
case "$hydrides_dp_header" in
    '#!'*python*) grep -E -q '^(import|from)[[:space:]]' "$hydrides_dp" || hydrides_dp_header='' ;;
    *) hydrides_dp_header='' ;;
esac
if [ -n "$hydrides_dp_header" ]; then
    {{ printf '%s\\n' "$hydrides_dp_header"; cat {launcher}; }} > {executable_name}
    chmod +x {executable_name}
    ./{executable_name} {steps_file}
else
    echo "hydrides.lam.train: $hydrides_dp is not a Python console script: one dp process per step" >&2
{each}
fi
"""


# --------------------------------------------------------------------------------------------------------------------
# results


def read_lcurve(text: str) -> tuple[list[str], np.ndarray]:
    """Column names and rows of DeePMD's ``lcurve.out`` (``nan`` where a reference is missing); raises
    :class:`HydridesInputError` when there is no header or no row."""
    columns = None
    rows = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith('#'):
            words = stripped.lstrip('#').split()
            if columns is None and words and words[0] == 'step':
                columns = words
            continue
        rows.append([float(word) for word in stripped.split()])
    if columns is None:
        raise HydridesInputError('the learning curve has no header line (# step ...)')
    if not rows:
        raise HydridesInputError('the learning curve has no rows')
    widths = {len(row) for row in rows}
    if widths != {len(columns)}:
        raise HydridesInputError(f'the learning curve has rows of {sorted(widths)} values for {len(columns)} columns')
    return columns, np.array(rows, dtype=float)


def diverged(columns: Sequence[str], rows: np.ndarray) -> list[str]:
    """The training-error columns (``*_trn``) that start finite and end non-finite (a diverged training)."""
    bad = []
    for index, name in enumerate(columns):
        if name.endswith('_trn') or name == 'loss':
            values = rows[:, index]
            if np.isfinite(values[0]) and not np.all(np.isfinite(values[-1:])):
                bad.append(name)
            elif np.isfinite(values[0]) and np.any(np.abs(values[np.isfinite(values)]) > 1e30):
                bad.append(name)
    return bad


def _load_detail(path: pathlib.Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    data = np.loadtxt(path, ndmin=2)
    return data if data.size else None


def test_metrics(detail_prefix) -> dict:
    """Errors from the detail files of ``dp --pt test -d PREFIX``: energy per atom (meV/atom), forces (meV/Å) and,
    where the data have virials, the virial per atom (meV/atom); MAE and RMSE each, with the frame and atom counts."""
    prefix = pathlib.Path(detail_prefix)
    energy = _load_detail(pathlib.Path(f'{prefix}.e_peratom.out'))
    force = _load_detail(pathlib.Path(f'{prefix}.f.out'))
    if energy is None or force is None:
        raise HydridesInputError(f'no detail files {prefix}.e_peratom.out / {prefix}.f.out of dp test')
    energy_error = energy[:, 1] - energy[:, 0]
    force_error = force[:, 3:6] - force[:, 0:3]
    metrics = {
        'nframes': int(energy.shape[0]),
        'natoms_total': int(force.shape[0]),
        'energy_mae_mev_per_atom': float(np.mean(np.abs(energy_error)) * 1000),
        'energy_rmse_mev_per_atom': float(np.sqrt(np.mean(energy_error**2)) * 1000),
        'force_mae_mev_per_angstrom': float(np.mean(np.abs(force_error)) * 1000),
        'force_rmse_mev_per_angstrom': float(np.sqrt(np.mean(force_error**2)) * 1000),
    }
    virial = _load_detail(pathlib.Path(f'{prefix}.v_peratom.out'))
    if virial is not None and virial.shape[1] == 18:
        virial_error = virial[:, 9:18] - virial[:, 0:9]
        metrics['virial_mae_mev_per_atom'] = float(np.mean(np.abs(virial_error)) * 1000)
        metrics['virial_rmse_mev_per_atom'] = float(np.sqrt(np.mean(virial_error**2)) * 1000)
    return metrics


_TIMESTAMP = re.compile(r'^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]')


def training_log_summary(text: str) -> dict:
    """What the log of ``dp --pt train`` says about time: ``wall_s`` (first to last time stamp, without the start-up
    of the interpreter), ``s_per_step`` (DeePMD's average training time per batch) when printed."""
    stamps = []
    for line in text.splitlines():
        match = _TIMESTAMP.match(line)
        if match:
            stamp = datetime.datetime.strptime(match.group(1), '%Y-%m-%d %H:%M:%S')
            stamps.append(stamp.timestamp() + int(match.group(2)) / 1000.0)
    summary = {}
    if len(stamps) >= 2:
        summary['wall_s'] = round(stamps[-1] - stamps[0], 3)
    found = re.findall(r'average training time:\s*([0-9.eE+-]+)\s*s/batch', text)
    if found:
        summary['s_per_step'] = float(found[-1])
    return summary


def log_error(text: str, limit: int = 600) -> str:
    """DeePMD's error message in a log: the last ``SomethingError: ...`` line (or the last non-empty line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and 'Triton' not in line]
    for line in reversed(lines):
        if re.match(r'^([\w.]+(Error|Exception|Exit)|RuntimeError|AssertionError)\b', line):
            return line[:limit]
    return (lines[-1] if lines else 'no output')[:limit]


def finite_or_none(value):
    """``value`` with non-finite floats replaced by ``None`` (for JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
