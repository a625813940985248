"""Calcfunctions of the concurrent-learning loop (``hydrides.lam.concurrent``): the first frames of a system without a
model, the training set grown by (or started from) the frames labelled in an iteration, and the iteration's summary.
They keep the provenance graph whole: a set is made from the pw.x outputs it holds, the summary from the deviation,
training and validation outputs it reports."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ExitCode, calcfunction

from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'add_labelled_frames',
    'compare_with_labels',
    'label_inputs',
    'make_initial_frames',
    'start_training_set',
    'summarize_iteration',
)

#: the three outputs of a labelling pw.x calculation (or its input geometry) given per frame
_FRAME_PARTS = ('structure', 'parameters', 'trajectory')


def label_inputs(calculations: dict) -> tuple[list[str], dict]:
    """The inputs of :func:`add_labelled_frames` for ``{frame id: PwCalculation}``: the frame ids in order and, per
    frame ``f0000``, ``f0000_structure`` (its input geometry), ``f0000_parameters`` and ``f0000_trajectory`` (its
    ``output_parameters`` and ``output_trajectory``: energy, forces, stress)."""
    ids, nodes = [], {}
    for index, (frame_id, calculation) in enumerate(calculations.items()):
        ids.append(frame_id)
        stem = f'f{index:04d}'
        nodes[f'{stem}_structure'] = calculation.inputs.structure
        nodes[f'{stem}_parameters'] = calculation.outputs.output_parameters
        nodes[f'{stem}_trajectory'] = calculation.outputs.output_trajectory
    return ids, nodes


@calcfunction
def add_labelled_frames(training_set, frame_ids, label_set, **frames):
    """The training set ``training_set`` grown by the frames labelled with pw.x.

    :param training_set: a ``hydrides.lam.training_set`` node (its type map is kept).
    :param frame_ids: ``List`` of the frame ids, in the order of the ``f0000``, ``f0001``, ... inputs.
    :param label_set: ``Str``, the name of the DFT settings of the new labels (the set's own must match).
    :param frames: per frame ``fNNNN_structure``, ``fNNNN_parameters``, ``fNNNN_trajectory``: the input geometry and
        the ``output_parameters`` and ``output_trajectory`` of its pw.x calculation (see :func:`label_inputs`); the
        labels are read as :func:`aiida_hydrides.labelling.frame_from_calculation` reads them.
    :return: ``training_set``, the grown set; exit status 300 naming the problem when a frame cannot be added (labels
        missing, an element outside the type map, a frame id already in the set).
    """
    from aiida_hydrides.core.lam.dataset import TrainingSet
    from aiida_hydrides.data.training_set import TrainingSetData

    ids = list(frame_ids.get_list())
    try:
        existing = training_set.get_training_set()
        if existing.label_set and existing.label_set != label_set.value:
            raise HydridesInputError(
                f'the training set holds labels of {existing.label_set!r}, the new frames are labelled with '
                f'{label_set.value!r}: labels of different DFT settings cannot be mixed'
            )
        known = set(existing.frame_ids())
        repeated = sorted(frame_id for frame_id in ids if frame_id in known)
        if repeated:
            raise HydridesInputError(f'the frame ids {repeated[:5]} are already in the training set')
        labelled = _labelled_frames(ids, frames)
        new = TrainingSet.from_frames(labelled, existing.type_map, label_set=label_set.value)
        grown = TrainingSet.merge([existing, new], label_set=label_set.value)
        node = TrainingSetData(grown)
    except HydridesInputError as exc:
        return ExitCode(300, f'the labelled frames cannot be added to the training set: {exc}')
    return {'training_set': node}


def _labelled_frames(ids: list, frames: dict) -> list:
    """The labelled frames of the ``fNNNN_*`` inputs (:func:`label_inputs`), checked to come from one pw.x
    calculation each."""
    from aiida_hydrides.labelling import frame_from_calculation

    if set(frames) != {f'f{index:04d}_{part}' for index in range(len(ids)) for part in _FRAME_PARTS}:
        raise HydridesInputError(f'expected the three inputs {_FRAME_PARTS} for each of the {len(ids)} frames')
    labelled = []
    for index, frame_id in enumerate(ids):
        calculation = frames[f'f{index:04d}_parameters'].creator
        if calculation is None or frames[f'f{index:04d}_trajectory'].creator.uuid != calculation.uuid:
            raise HydridesInputError(f'the outputs of frame {frame_id} do not come from one pw.x calculation')
        if calculation.inputs.structure.uuid != frames[f'f{index:04d}_structure'].uuid:
            raise HydridesInputError(f'the structure of frame {frame_id} is not the input of its calculation')
        labelled.append(frame_from_calculation(calculation, frame_id))
    return labelled


@calcfunction
def compare_with_labels(candidates, deviation, frame_ids, indices, **frames):
    """The deviation of the labelled candidates against the error of the ensemble that chose them
    (:mod:`aiida_hydrides.core.lam.calibration`): does a high deviation predict a high error?

    :param candidates: the ``candidates`` structure batch of the deviation job, with the predictions of every model.
    :param deviation: the ``summary`` of that job (its trust window).
    :param frame_ids: ``List`` of the frame ids, in the order of the ``f0000``, ``f0001``, ... inputs.
    :param indices: ``List``, the index of each frame among the candidates.
    :param frames: per frame ``fNNNN_structure``, ``fNNNN_parameters``, ``fNNNN_trajectory`` (:func:`label_inputs`).
    :return: ``calibration``, the figures of :func:`~aiida_hydrides.core.lam.calibration.calibration_summary` with the
        per-frame ``records``; exit status 300 naming the problem when the frames cannot be compared.
    """
    from aiida_hydrides.core.lam.calibration import FrameLabels, calibration_records, calibration_summary

    ids, positions = list(frame_ids.get_list()), [int(index) for index in indices.get_list()]
    if len(ids) != len(positions):
        return ExitCode(300, f'{len(ids)} frame ids for {len(positions)} candidate indices')
    settings = deviation.get_dict().get('settings', {})
    try:
        labelled = _labelled_frames(ids, frames)
        labels = {
            index: FrameLabels(frame.energy, frame.forces, frame.virial, frame_id=frame.id)
            for index, frame in zip(positions, labelled)
        }
        arrays = {name: candidates.get_array(name) for name in candidates.get_arraynames()}
        records = calibration_records(arrays, labels)
    except HydridesInputError as exc:
        return ExitCode(300, f'the labelled frames cannot be compared with the ensemble: {exc}')
    summary = calibration_summary(records, settings.get('f_trust_lo'), settings.get('f_trust_hi'))
    return {'calibration': orm.Dict({**summary, 'records': records})}


@calcfunction
def make_initial_frames(formulas, pressures, parameters, seed):
    """The first frames of a system that has no model (:func:`aiida_hydrides.core.lam.initial.initial_frames`):
    prototypes and random structures of ``formulas`` at ``pressures``, pristine and rattled.

    :param formulas: ``List`` of the compositions; ``pressures``: ``List`` of pressures (GPa).
    :param parameters: ``Dict`` of :class:`~aiida_hydrides.core.lam.initial.InitialFrameSettings` fields.
    :param seed: ``Int``, the seed of the random structures, the order of the compositions and the rattles.
    :return: ``frames``, a structure batch (``ArrayData``) with per frame ``formula``, ``pressure_gpa``,
        ``origin``, ``prototype``, ``rattle``, ``frame_kind`` (``'initial'``), ``frame_index`` and ``source``
        (``p<pressure>``); exit status 300 naming the problem when no frame can be made.
    """
    from aiida_hydrides.core.lam.initial import InitialFrameSettings, initial_frames
    from aiida_hydrides.data.structure_batch import structures_to_array

    try:
        settings = InitialFrameSettings.from_parameters(parameters.get_dict())
        frames = initial_frames(formulas.get_list(), pressures.get_list(), settings, seed.value)
    except HydridesInputError as exc:
        return ExitCode(300, f'no initial frames: {exc}')
    node = structures_to_array(
        frames,
        formula=[atoms.info['formula'] for atoms in frames],
        pressure_gpa=[atoms.info['pressure_gpa'] for atoms in frames],
        origin=[atoms.info['origin'] for atoms in frames],
        prototype=[atoms.info['prototype'] for atoms in frames],
        rattle=[atoms.info['rattle'] for atoms in frames],
        frame_kind=['initial'] * len(frames),
        frame_index=list(range(len(frames))),
        source=[f'p{atoms.info["pressure_gpa"]:g}' for atoms in frames],
    )
    return {'frames': node}


@calcfunction
def start_training_set(frame_ids, label_set, type_map, **frames):
    """A new training set of the frames labelled with pw.x (the first labels of a system without one).

    :param frame_ids: ``List`` of the frame ids, in the order of the ``f0000``, ``f0001``, ... inputs.
    :param label_set: ``Str``, the name of the DFT settings of the labels.
    :param type_map: ``List`` of the elements of the set, in the order of the models' types.
    :param frames: per frame ``fNNNN_structure``, ``fNNNN_parameters``, ``fNNNN_trajectory`` (:func:`label_inputs`).
    :return: ``training_set``; exit status 300 naming the problem when a frame cannot be read.
    """
    from aiida_hydrides.core.lam.dataset import TrainingSet
    from aiida_hydrides.data.training_set import TrainingSetData

    try:
        labelled = _labelled_frames(list(frame_ids.get_list()), frames)
        node = TrainingSetData(TrainingSet.from_frames(labelled, type_map.get_list(), label_set=label_set.value))
    except HydridesInputError as exc:
        return ExitCode(300, f'the labelled frames cannot make a training set: {exc}')
    return {'training_set': node}


@calcfunction
def summarize_iteration(info, previous=None, **nodes):
    """The summary of one iteration of the loop, appended to the history of the run (``previous``).

    :param info: ``Dict`` with ``iteration``, ``stage`` (whose candidates were labelled), ``decisions`` (per stage
        evaluated: ``label``, ``next_stage`` or ``converged``), ``next_stage``, ``threshold`` and ``labels``
        (``n_candidates``, ``n_labelled``, ``n_failed``, ``failed``, ``pw_wall_hours``).
    :param previous: ``Dict``, the summary of the previous iteration (or of the run this one continues).
    :param nodes: ``deviation_<stage>`` (the ``summary`` of each deviation job), ``train_<member>`` (the ``summary`` of
        each training job), ``validation_<member>`` (its ``validation_errors``) and ``calibration_labels`` (the
        labelled candidates against the ensemble's error, :func:`compare_with_labels`).
    :return: the summary (:func:`aiida_hydrides.core.lam.concurrent.append_iteration`).
    """
    from aiida_hydrides.core.lam.concurrent import append_iteration, iteration_record

    data = info.get_dict()
    deviations, training, validation, calibration = {}, {}, {}, {}
    for key, node in nodes.items():
        kind, _, name = key.partition('_')
        target = {'deviation': deviations, 'train': training, 'validation': validation, 'calibration': calibration}.get(
            kind
        )
        if target is None:
            return ExitCode(300, f'unexpected input {key!r}')
        target[name] = node.get_dict()
    record = iteration_record(
        data['iteration'],
        data['stage'],
        deviations,
        data.get('decisions', {}),
        labels=data.get('labels'),
        training=training,
        validation=validation,
        threshold=data.get('threshold'),
        calibration=calibration.get('labels'),
    )
    return orm.Dict(
        append_iteration(previous.get_dict() if previous is not None else None, record, data.get('next_stage'))
    )
