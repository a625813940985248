"""``LamTrainCalculation`` (entry point ``hydrides.lam.train``): train a DeePMD model with ``dp --pt train`` on any
computer, e.g. a GPU node of a cluster.

The job writes its training set (and validation set) as deepmd/npy folders, the DeePMD input (``input.json``, built by
:func:`aiida_hydrides.core.lam.training.build_training_input` from ``parameters`` and a default taken from the seed
model's input) and runs, with the ``dp`` code (:func:`aiida_hydrides.codes.ensure_dp_code`), one after another:

1. ``dp --pt train input.json`` from scratch, or from ``parent_model``: ``mode`` ``init`` continues it
   (``--init-frz-model`` for a frozen ``.pth``, ``--init-model`` for a ``.pt`` checkpoint), ``finetune`` fine-tunes a
   pretrained ``.pt`` checkpoint (``--finetune``, ``--model-branch finetune_head`` to choose the head of a multi-task
   model); without a ``model`` section in ``parameters`` the parent's model definition is used
   (``--use-pretrain-script``);
2. ``dp --pt freeze -o model.pth``;
3. ``dp --pt compress`` (``compress``; by default when the descriptor is known to be tabulated, e.g. se_e2_a);
4. ``dp --pt test`` of the frozen model on the validation set (when one is given).

Each writes its log (``train.log``, ``freeze.log``, ``compress.log``, ``test.log``), which is retrieved with
``lcurve.out`` and DeePMD's normalised input ``out.json``. The model files and the test's detail files are read from a
temporary retrieval and stored only as outputs. The data folders are not stored with the job (the training-set nodes
hold them).

**One process.** The steps run in one Python process, so that deepmd-kit and torch are imported once (7-20 s each
time) instead of once per step: the job writes the steps (``dp_steps.json``) and a self-contained launcher
(``run_dp_steps.py``, :func:`aiida_hydrides.core.lam.training.launcher_script`, which calls deepmd-kit's own
``deepmd.main.main`` per step with its output sent to the step's log) and the job script runs the launcher with the
Python of the ``dp`` code (:func:`~aiida_hydrides.core.lam.training.steps_shell`: the launcher gets the first lines of
the ``dp`` script, its ``#!`` line), or one ``dp`` process per step when ``dp`` is not a Python console script. An
AiiDA ``CodeInfo`` always runs the code's own executable (``'/path/dp' ARGS``), so these lines are the job's
``append_text`` and the job has no ``CodeInfo``: the computer's and the code's prepend texts and the job's
``metadata.options.prepend_text`` come before them, the code's and the computer's append texts after them, but the
job's ``metadata.options.append_text`` before them (AiiDA writes it before the plugin's). A code that is not an
``InstalledCode`` (portable, containerized) or that runs with MPI runs each step as its own ``dp`` process, one
``CodeInfo`` each, as before.
"""

from __future__ import annotations

import json
import pathlib

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.calculations.base import validate_model
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam import training
from aiida_hydrides.data.training_set import TrainingSetData

__all__ = ('LamTrainCalculation',)


def _validate_set(node, _):
    if not node.systems:
        return f'the training-set node {node.pk or ""} holds no systems'
    return None


def _validate_mode(node, _):
    if node.value not in training.MODES:
        return f'mode must be one of {", ".join(training.MODES)}, got {node.value!r}'
    return None


def _validate_threads(node, _):
    if node.value < 1:
        return f'threads must be a positive integer, got {node.value}'
    return None


def _parent_info(node, mode: str | None, head: str | None) -> tuple[str | None, list | None]:
    """The descriptor type and type map of a parent model, read from the file (``None`` where unknown); a head that
    a ``.pt`` checkpoint lacks is refused here, before the job runs."""
    from aiida_hydrides.core.lam.model_definition import (
        checkpoint_model_params,
        stored_descriptor_type,
        stored_list_values,
    )

    name = node.filename.lower()
    with node.as_path() as path:
        if name.endswith('.pth'):
            type_maps = stored_list_values(path, 'type_map') or []
            return stored_descriptor_type(path), (type_maps[0] if len(type_maps) == 1 else None)
        if name.endswith('.pt'):
            params = checkpoint_model_params(path)
            descriptor = training.parent_descriptor_type(params, mode, head)
            type_map = params.get('type_map') if params and 'model_dict' not in params else None
            return descriptor, (list(type_map) if isinstance(type_map, list) else None)
    return None, None


def _parent_name(node) -> str:
    return 'parent' + pathlib.PurePath(node.filename).suffix.lower()


def make_plan(inputs) -> training.TrainingPlan:
    """The training plan of a job's inputs (raises :class:`HydridesInputError` naming what cannot be used)."""
    parent = inputs.get('parent_model')
    mode = inputs['mode'].value if 'mode' in inputs else None
    if parent is not None and mode is None:
        raise HydridesInputError("a parent_model needs a mode: 'init' (continue it) or 'finetune'")
    if parent is None and mode is not None:
        raise HydridesInputError(f'mode {mode!r} needs a parent_model')
    train_set = inputs['training_set']
    validation_set = inputs.get('validation_set')
    elements = list(train_set.elements)
    if validation_set is not None:
        elements += [element for element in validation_set.elements if element not in elements]
    head = inputs['finetune_head'].value if 'finetune_head' in inputs else None
    parent_descriptor, parent_type_map = _parent_info(parent, mode, head) if parent is not None else (None, None)
    plan = training.build_training_input(
        inputs['parameters'].get_dict() if 'parameters' in inputs else None,
        type_map=train_set.type_map,
        elements=elements,
        validation_dir=training.VALIDATION_DIR if validation_set is not None else None,
        mode=mode,
        parent_descriptor=parent_descriptor,
    )
    if plan.use_pretrain_script and mode == 'init' and parent_type_map is not None:
        missing = [element for element in elements if element not in parent_type_map]
        if missing:
            raise HydridesInputError(
                f'the data have elements {missing} that the parent model does not know (type map {parent_type_map}); '
                'fine-tune it instead (mode finetune, from a .pt checkpoint), which can extend the type map'
            )
    training.train_command(plan, _parent_name(parent) if parent is not None else None, head)  # checks the flags
    if plan.config.get('loss', {}).get('type', 'ener') == 'ener':
        for label, node in (('training_set', train_set), ('validation_set', validation_set)):
            if node is None:
                continue
            for record in node.systems:
                missing = sorted({'energy', 'force'} - set(record['keys']))
                if missing:
                    raise HydridesInputError(
                        f'{label}: system {record["name"]} has no {" and ".join(missing)} labels, which an energy '
                        'model (loss type ener) is trained on'
                    )
    return plan


def _validate_inputs(inputs, _):
    if 'training_set' not in inputs:  # a partial namespace (exposed in a work chain): checked when complete
        return None
    try:
        make_plan(inputs)
    except HydridesInputError as exc:
        return str(exc)
    return None


def compress_wanted(inputs, plan: training.TrainingPlan) -> bool:
    """``compress`` if given, else whether the model's descriptor is known to be compressible."""
    if 'compress' in inputs:
        return bool(inputs['compress'].value)
    return plan.compressible


class LamTrainCalculation(CalcJob):
    """Train, freeze, compress and test a DeePMD model (``dp --pt train / freeze / compress / test``)."""

    _PARSER_NAME = 'hydrides.lam.train'
    TRAIN_LOG = 'train.log'
    FREEZE_LOG = 'freeze.log'
    COMPRESS_LOG = 'compress.log'
    TEST_LOG = 'test.log'
    NORMALISED_INPUT = 'out.json'
    DETAIL_FILES = tuple(f'{training.DETAIL_PREFIX}.{kind}.out' for kind in ('e_peratom', 'f', 'v_peratom'))

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'training_set',
            valid_type=TrainingSetData,
            validator=_validate_set,
            help='The frames to train on (a hydrides.lam.training_set node).',
        )
        spec.input(
            'validation_set',
            valid_type=TrainingSetData,
            required=False,
            help='Frames to validate on: shown in the learning curve during training and tested with dp test at '
            'the end (the validation_errors output). See the calcfunction hydrides.lam.split_training_set.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            help='The DeePMD input, or overrides merged into the default taken from the seed model (sections model, '
            'learning_rate, loss, training, optimizer; shortcuts steps, seed, descriptor, fitting_net).',
        )
        spec.input(
            'parent_model',
            valid_type=orm.SinglefileData,
            required=False,
            validator=validate_model,
            help='A model to start from: a frozen .pth or a .pt checkpoint (mode init), a .pt checkpoint (finetune).',
        )
        spec.input(
            'mode',
            valid_type=orm.Str,
            required=False,
            validator=_validate_mode,
            help="With parent_model: 'init' continues the model, 'finetune' fine-tunes a pretrained model.",
        )
        spec.input(
            'finetune_head',
            valid_type=orm.Str,
            required=False,
            help="The head of a multi-task parent model to fine-tune (dp --model-branch), or 'RANDOM' for a new "
            'fitting net.',
        )
        spec.input(
            'compress',
            valid_type=orm.Bool,
            required=False,
            help='Compress the frozen model (dp --pt compress); default: when the descriptor is tabulated (se_e2_a).',
        )
        spec.input(
            'threads',
            valid_type=orm.Int,
            required=False,
            validator=_validate_threads,
            help='CPU threads of DeePMD and torch (OMP_NUM_THREADS, DP_INTRA_OP_PARALLELISM_THREADS); default: '
            'left to the computer.',
        )
        spec.inputs.validator = _validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['parser_name'].default = cls._PARSER_NAME
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.output('model', valid_type=orm.SinglefileData, help='The frozen model (model.pth).')
        spec.output(
            'compressed_model',
            valid_type=orm.SinglefileData,
            required=False,
            help='The compressed frozen model (model-compressed.pth), when compressed.',
        )
        spec.output(
            'checkpoint',
            valid_type=orm.SinglefileData,
            required=False,
            help='The last training checkpoint (model.ckpt.pt): the parent of a later fine-tuning.',
        )
        spec.output(
            'learning_curve',
            valid_type=orm.ArrayData,
            help='lcurve.out: one array per column (step, rmse_trn, rmse_e_trn, rmse_f_trn, ..., lr); errors in '
            'DeePMD units (eV per atom, eV/Å), nan where a reference is missing.',
        )
        spec.output(
            'validation_errors',
            valid_type=orm.Dict,
            required=False,
            help='dp test on the validation set: energy per atom (meV/atom), force (meV/Å), virial per atom '
            '(meV/atom) MAE and RMSE, frame and atom counts.',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Steps, training time (wall_s, s_per_step), mode, descriptor, data sizes, the last row of the '
            'learning curve.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(300, 'ERROR_TRAINING_FAILED', message='dp train wrote no learning curve: {message}')
        spec.exit_code(301, 'ERROR_LEARNING_CURVE_UNREADABLE', message='The learning curve cannot be read: {message}')
        spec.exit_code(302, 'ERROR_MODEL_MISSING', message='dp freeze wrote no model: {message}')
        spec.exit_code(
            303, 'ERROR_TRAINING_INCOMPLETE', message='The training stopped at step {step} of {steps}: {message}'
        )
        spec.exit_code(
            310,
            'ERROR_TRAINING_DIVERGED',
            message='The training diverged: non-finite {columns} in the learning curve (attached); lower the '
            'learning rate or check the labels.',
        )
        spec.exit_code(
            410,
            'ERROR_COMPRESSION_FAILED',
            message='dp compress failed ({message}); the uncompressed model is attached.',
        )
        spec.exit_code(
            420,
            'ERROR_VALIDATION_FAILED',
            message='dp test failed on the validation set ({message}); the model is attached.',
        )

    @classmethod
    def _in_one_process(cls, code, withmpi) -> bool:
        """Whether the steps run in one process (see the module docstring): an ``InstalledCode`` (not in a container)
        run without MPI."""
        return (
            isinstance(code, orm.InstalledCode)
            and not isinstance(code, orm.ContainerizedCode)
            and not code.with_mpi
            and not withmpi
        )

    def _codeinfo(self, arguments, log):
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = list(arguments)
        codeinfo.stdout_name = log
        codeinfo.join_files = True
        return codeinfo

    def prepare_for_submission(self, folder):
        plan = make_plan(self.inputs)
        root = pathlib.Path(folder.abspath)
        self.inputs.training_set.write_npy(root / training.TRAIN_DIR)
        validation = 'validation_set' in self.inputs
        if validation:
            self.inputs.validation_set.write_npy(root / training.VALIDATION_DIR)
        with folder.open(training.INPUT_FILE, 'w') as handle:
            json.dump(plan.config, handle, indent=2)

        parent = self.inputs.get('parent_model')
        head = self.inputs['finetune_head'].value if 'finetune_head' in self.inputs else None
        steps = [
            (training.train_command(plan, _parent_name(parent) if parent is not None else None, head), self.TRAIN_LOG),
            (training.freeze_command(), self.FREEZE_LOG),
        ]
        compress = compress_wanted(self.inputs, plan)
        if compress:
            steps.append((training.compress_command(), self.COMPRESS_LOG))
        if validation:
            steps.append((training.test_command(), self.TEST_LOG))

        calcinfo = datastructures.CalcInfo()
        code = self.inputs.code
        if self._in_one_process(code, self.node.get_option('withmpi')):
            with folder.open(training.STEPS_FILE, 'w') as handle:
                handle.write(training.steps_json(steps))
            with folder.open(training.LAUNCHER_FILE, 'w') as handle:
                handle.write(training.launcher_script())
            calcinfo.codes_info = []
            calcinfo.append_text = training.steps_shell(str(code.get_executable()), steps)
        else:
            calcinfo.codes_info = [self._codeinfo(arguments, log) for arguments, log in steps]
        calcinfo.codes_run_mode = datastructures.CodeRunMode.SERIAL
        if parent is not None:
            calcinfo.local_copy_list = [(parent.uuid, parent.filename, _parent_name(parent))]
        if 'threads' in self.inputs:
            threads = int(self.inputs.threads.value)
            calcinfo.prepend_text = (
                f'export OMP_NUM_THREADS={threads} DP_INTRA_OP_PARALLELISM_THREADS={threads} '
                'DP_INTER_OP_PARALLELISM_THREADS=1'
            )
        calcinfo.retrieve_list = [
            training.LCURVE_FILE,
            self.NORMALISED_INPUT,
            self.TRAIN_LOG,
            self.FREEZE_LOG,
            *([self.COMPRESS_LOG] if compress else []),
            *([self.TEST_LOG] if validation else []),
        ]
        calcinfo.retrieve_temporary_list = [
            training.MODEL_FILE,
            training.CHECKPOINT_FILE,
            *([training.COMPRESSED_FILE] if compress else []),
            *(self.DETAIL_FILES if validation else []),
        ]
        # the data are stored in the training-set nodes already
        calcinfo.provenance_exclude_list = [training.TRAIN_DIR, training.VALIDATION_DIR]
        return calcinfo
