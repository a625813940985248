"""``TcModelTrainCalculation`` (entry point ``hydrides.tc_model.train``): train an ensemble of DeePMD property models
of Tc, fine-tuned from a LAM (or from scratch with the LAM's descriptor architecture), with the ``dp`` code.

Inputs: the labelled records (``records``, a ``hydrides.tc_model.tc_set`` node), optional ``validation_records``, the
LAM (``lam_model``, a ``.pth`` or ``.pt`` file; default the shipped seed model, stored once and reused), ``settings``
(:class:`~aiida_hydrides.core.tc_model.training.TcModelSettings`), ``ensemble_size`` (overrides the settings') and,
for a multi-task model (``settings.multitask``), the LAM's energy data ``energy_set``.

The job writes the records as deepmd/npy property systems (``set.000/tc.npy``,
:mod:`aiida_hydrides.core.tc_model.deepmd_data`), one DeePMD input per member
(:func:`~aiida_hydrides.core.tc_model.training.member_input`) and runs, in one Python process with the Python of the
``dp`` code (:func:`~aiida_hydrides.core.tc_model.predict.launcher_shell`): the conversion of a frozen LAM to a
checkpoint (fine-tuning), ``dp --pt train`` and ``dp --pt freeze`` of every member, then the ensemble's prediction of
the training and validation records. Outputs: ``models`` (the frozen members, ``member_0`` ...),
``learning_curves`` (one ``ArrayData`` per member), ``validation`` (MAE of the ensemble mean on the validation
records, per-member MAE and the predictions, when validation records are given) and ``summary``.
"""

from __future__ import annotations

import contextlib
import json
import pathlib

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model import deepmd_data, predict, training
from aiida_hydrides.data.tc_set import TcSetData
from aiida_hydrides.data.training_set import TrainingSetData

__all__ = ('TcModelTrainCalculation', 'default_lam_model', 'make_plan')

#: the extra (``hydrides.kind``) of the stored node of the shipped LAM, found again instead of stored twice
SHIPPED_LAM_KIND = 'shipped_lam'


@contextlib.contextmanager
def _no_autoflush():
    """The storage session without autoflush, where the storage has one (SQLAlchemy storages)."""
    try:
        from aiida.manage import get_manager

        session = get_manager().get_profile_storage().get_session()
        context = session.no_autoflush
    except (AttributeError, NotImplementedError):
        context = contextlib.nullcontext()
    with context:
        yield


def default_lam_model() -> orm.SinglefileData:
    """The node of the shipped seed LAM (:data:`aiida_hydrides.models.SEED_MODEL`): the stored one with the same MD5
    when there is one, else a new stored node."""
    from aiida_hydrides.core.search.worker import file_md5
    from aiida_hydrides.extras import tag_node
    from aiida_hydrides.models import seed_model_path

    path = seed_model_path()
    md5 = file_md5(path)
    query = orm.QueryBuilder().append(
        orm.SinglefileData,
        filters={'extras.hydrides.kind': SHIPPED_LAM_KIND, 'extras.hydrides.md5': md5},
        project='*',
    )
    # called as the default of an input, while the job's node is being built (unstored): no autoflush of it
    with _no_autoflush():
        found = query.first()
    if found:
        return found[0]
    node = orm.SinglefileData(path, filename=path.name).store()
    tag_node(node, kind=SHIPPED_LAM_KIND, md5=md5, filename=path.name)
    return node


def _settings(inputs) -> training.TcModelSettings:
    settings = training.TcModelSettings.from_dict(inputs['settings'].get_dict() if 'settings' in inputs else None)
    if 'ensemble_size' in inputs:
        settings = settings.replace(ensemble_size=int(inputs['ensemble_size'].value))
    return settings


class TrainPlan:
    """What a job writes: settings, LAM parts, type map and the members' inputs."""

    def __init__(self, settings, lam_name, descriptor, type_map, inputs_by_member, records, validation):
        self.settings = settings
        self.lam_name = lam_name
        self.descriptor = descriptor
        self.type_map = type_map
        self.inputs_by_member = inputs_by_member
        self.records = records
        self.validation = validation


def _lam_name(node) -> str:
    return training.LAM_FILE + pathlib.PurePath(node.filename).suffix.lower()


def make_plan(inputs) -> TrainPlan:
    """The plan of a job's inputs (raises :class:`HydridesInputError` naming what cannot be used)."""
    settings = _settings(inputs)
    records = inputs['records'].get_records()
    unlabelled = [record.name for record in records if record.tc_k is None]
    if unlabelled:
        raise HydridesInputError(f'records without a Tc label cannot be trained on: {unlabelled[:5]}')
    validation = inputs['validation_records'].get_records() if 'validation_records' in inputs else []
    unlabelled = [record.name for record in validation if record.tc_k is None]
    if unlabelled:
        raise HydridesInputError(f'validation records without a Tc label: {unlabelled[:5]}')
    overlap = sorted({r.name for r in records} & {r.name for r in validation})
    if overlap:
        raise HydridesInputError(f'records both in the training and the validation set: {overlap[:5]}')
    lam = inputs.get('lam_model')
    if lam is None:
        raise HydridesInputError('no LAM model (lam_model) to take the descriptor from')
    if not lam.filename.lower().endswith(('.pth', '.pt')):
        raise HydridesInputError(f'the LAM must be a .pth or .pt DeePMD PyTorch model, not {lam.filename!r}')
    with lam.as_path() as path:
        params = training.lam_model_params(path)
    descriptor, lam_type_map, energy_fitting = training.lam_parts(params)
    if settings.mode == 'finetune':
        type_map = deepmd_data.tc_type_map([*records, *validation], lam_type_map, descriptor.get('type'))
    else:
        type_map = deepmd_data.tc_type_map([*records, *validation], lam_type_map, None)
    energy_dir = None
    if settings.multitask:
        if 'energy_set' not in inputs:
            raise HydridesInputError('settings.multitask needs the LAM energy data (energy_set)')
        unknown = sorted(set(inputs['energy_set'].elements) - set(type_map))
        if unknown:
            raise HydridesInputError(f'the energy data have elements {unknown} outside the type map {type_map}')
        energy_dir = training.ENERGY_DIR
    elif 'energy_set' in inputs:
        raise HydridesInputError('energy_set is only used by a multi-task model (settings.multitask = True)')
    members = [
        training.member_input(
            settings,
            descriptor,
            type_map,
            member,
            validation_dir=training.VALIDATION_DIR if validation else None,
            energy_dir=energy_dir,
            energy_fitting=energy_fitting,
        )
        for member in range(settings.ensemble_size)
    ]
    return TrainPlan(settings, _lam_name(lam), descriptor, type_map, members, records, validation)


def _validate_inputs(inputs, _):
    if 'records' not in inputs:
        return None
    try:
        make_plan(inputs)
    except HydridesInputError as exc:
        return str(exc)
    return None


def _validate_positive(node, _):
    if node.value < 1:
        return f'must be a positive integer, got {node.value}'
    return None


class TcModelTrainCalculation(CalcJob):
    """Train an ensemble of DeePMD property models of Tc (fine-tuned from a LAM, or from scratch)."""

    _PARSER_NAME = 'hydrides.tc_model.train'
    DATA_EXCLUDE = (training.TRAIN_DIR, training.VALIDATION_DIR, training.ENERGY_DIR)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('records', valid_type=TcSetData, help='The labelled Tc records to train on.')
        spec.input(
            'validation_records',
            valid_type=TcSetData,
            required=False,
            help='Labelled records to validate on (learning curve and the validation output); never trained on.',
        )
        spec.input(
            'lam_model',
            valid_type=orm.SinglefileData,
            default=default_lam_model,
            help='The LAM whose descriptor is fine-tuned, or whose architecture is trained from scratch (a frozen .pth '
            'or a .pt checkpoint); default: the shipped seed model (stored once, found again by its MD5).',
        )
        spec.input(
            'settings',
            valid_type=orm.Dict,
            required=False,
            help='TcModelSettings: mode (finetune or scratch), ensemble_size, steps, start_lr, stop_lr, seed, '
            'fitting_neuron, loss_func, batch_size, disp_freq, multitask, energy_prob, threads (CPU threads of '
            'DeePMD and torch, and no data-loader worker processes).',
        )
        spec.input(
            'ensemble_size',
            valid_type=orm.Int,
            required=False,
            validator=_validate_positive,
            help='Members of the ensemble (overrides settings.ensemble_size).',
        )
        spec.input(
            'energy_set',
            valid_type=TrainingSetData,
            required=False,
            help='The LAM energy data of a multi-task model (settings.multitask).',
        )
        spec.inputs.validator = _validate_inputs
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['parser_name'].default = cls._PARSER_NAME
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.output_namespace(
            'models', valid_type=orm.SinglefileData, dynamic=True, help='The frozen members: member_0, member_1, ...'
        )
        spec.output_namespace(
            'learning_curves',
            valid_type=orm.ArrayData,
            dynamic=True,
            help="Each member's lcurve.out, one array per column (step, mae_trn / rmse_trn, ..., lr), in K.",
        )
        spec.output(
            'validation',
            valid_type=orm.Dict,
            required=False,
            help='On the validation records: mae_K and rmse_K of the ensemble mean, member_mae_K, mean spread, and '
            'the predictions {name: {tc_true_K, tc_mean_K, tc_spread_K}}.',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Settings, type map, descriptor, LAM, record counts, the training MAE of the ensemble mean, wall '
            'times.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(
            300, 'ERROR_TRAINING_FAILED', message='member {member}: dp train wrote no learning curve: {message}'
        )
        spec.exit_code(301, 'ERROR_LEARNING_CURVE_UNREADABLE', message='member {member}: {message}')
        spec.exit_code(302, 'ERROR_MODEL_MISSING', message='member {member}: dp freeze wrote no model: {message}')
        spec.exit_code(
            303, 'ERROR_CONVERSION_FAILED', message='the LAM could not be converted to a checkpoint: {message}'
        )
        spec.exit_code(
            310, 'ERROR_TRAINING_DIVERGED', message='member {member}: the training diverged (non-finite {columns})'
        )
        spec.exit_code(
            420,
            'ERROR_PREDICTION_FAILED',
            message='the ensemble prediction failed ({message}); the models are attached',
        )

    def prepare_for_submission(self, folder):
        code = self.inputs.code
        if not isinstance(code, orm.InstalledCode) or isinstance(code, orm.ContainerizedCode) or code.with_mpi:
            raise HydridesInputError('hydrides.tc_model.train runs with an installed dp code without MPI')
        lam = self.inputs.lam_model
        plan = make_plan(self.inputs)
        root = pathlib.Path(folder.abspath)
        deepmd_data.write_tc_systems(plan.records, root / training.TRAIN_DIR, plan.type_map)
        if plan.validation:
            deepmd_data.write_tc_systems(plan.validation, root / training.VALIDATION_DIR, plan.type_map)
        if plan.settings.multitask:
            self.inputs.energy_set.write_npy(root / training.ENERGY_DIR)
        for member, config in enumerate(plan.inputs_by_member):
            (root / training.member_dir(member)).mkdir(exist_ok=True)
            with folder.open(f'{training.member_dir(member)}/{training.INPUT_FILE}', 'w') as handle:
                json.dump(config, handle, indent=2)
        models = [training.member_files(member)['model'] for member in range(plan.settings.ensemble_size)]
        with folder.open(training.PREDICT_INPUT, 'w') as handle:
            json.dump(predict.prediction_input(models, [*plan.records, *plan.validation]), handle)
        steps = training.training_steps(
            plan.settings,
            plan.lam_name if plan.settings.mode == 'finetune' else None,
            [training.PREDICT_INPUT, training.PREDICT_OUTPUT],
        )
        with folder.open(predict.STEPS_FILE, 'w') as handle:
            handle.write(predict.steps_json(steps))
        with folder.open(predict.LAUNCHER_FILE, 'w') as handle:
            handle.write(predict.launcher_script())

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = []
        calcinfo.codes_run_mode = datastructures.CodeRunMode.SERIAL
        calcinfo.append_text = predict.launcher_shell(str(code.get_executable()))
        if plan.settings.mode == 'finetune':
            calcinfo.local_copy_list = [(lam.uuid, lam.filename, plan.lam_name)]
        if plan.settings.threads:
            threads = int(plan.settings.threads)
            calcinfo.prepend_text = (
                f'export OMP_NUM_THREADS={threads} DP_INTRA_OP_PARALLELISM_THREADS={threads} '
                'DP_INTER_OP_PARALLELISM_THREADS=1 NUM_WORKERS=0'
            )
        retrieve = [training.PREDICT_OUTPUT, training.PREDICT_LOG]
        if plan.settings.mode == 'finetune' and plan.lam_name.endswith('.pth'):
            retrieve.append(training.CONVERT_LOG)
        temporary = []
        for member in range(plan.settings.ensemble_size):
            files = training.member_files(member)
            retrieve += [files['lcurve'], files['train_log'], files['freeze_log']]
            temporary.append(files['model'])
        calcinfo.retrieve_list = retrieve
        calcinfo.retrieve_temporary_list = temporary
        calcinfo.provenance_exclude_list = list(self.DATA_EXCLUDE)
        return calcinfo
