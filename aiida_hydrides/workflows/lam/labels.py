"""DFT labels in the concurrent-learning loop: candidate frames -> ``PwBaseWorkChain`` builders -> labelled frames.

The candidates of a model-deviation job (``hydrides.lam.deviation``, output ``candidates``: a structure batch) are
labelled with pw.x, one ``PwBaseWorkChain`` per frame, with exactly the DFT settings of the label set of the training
data (``workflows/protocols/lam/label.yaml`` points to them; by default the seed label set ``dft/labels.yaml``), so
that the new frames can be mixed with the frames the ensemble was trained on. The inputs of each pw.x calculation are
those of :func:`aiida_hydrides.labelling.get_label_builder` (the seed labelling), wrapped in a ``PwBaseWorkChain``
for its restarts; the labels of a finished calculation are read by
:func:`aiida_hydrides.labelling.frame_from_calculation` (energy eV, forces eV/Å, stress GPa; the DeePMD virial in eV
is :attr:`~aiida_hydrides.core.seed_configs.LabelledFrame.virial`).

Typical use in a work chain::

    settings = load_loop_label_settings()
    for frame_id, builder in get_label_builders(candidates, code, family, tag='it02', settings=settings).items():
        self.to_context(**{f'label_{frame_id}': self.submit(builder)})  # the builder's label is the frame id
    ...
    calculations = tag_label_calculations(finished_workchains, settings['label_set'])  # {frame id: PwCalculation}
    training = training_set_from_calculations(calculations.values(), type_map, settings['label_set'])
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping

import yaml

from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'LOOP_LABEL_FILE',
    'load_loop_label_settings',
    'candidate_frame_ids',
    'get_label_workchain_builder',
    'get_label_builders',
    'label_calculation',
    'labelled_frames',
    'tag_label_calculations',
)

PROTOCOLS_DIR = pathlib.Path(__file__).resolve().parent.parent / 'protocols'
#: the labelling protocol of the loop
LOOP_LABEL_FILE = PROTOCOLS_DIR / 'lam' / 'label.yaml'
_LOOP_KEYS = ('label_settings', 'max_iterations', 'clean_workdir', 'frame_prefix')


def load_loop_label_settings(path: str | os.PathLike | None = None, **overrides) -> dict:
    """The labelling settings of the loop: ``label.yaml`` (or ``path``) with ``overrides`` of its keys
    (``label_settings``, ``max_iterations``, ``clean_workdir``, ``frame_prefix``), plus ``dft``: the DFT settings of
    the label set (:func:`aiida_hydrides.labelling.load_label_settings` of ``label_settings``, a path relative to
    ``workflows/protocols/`` or absolute) and ``label_set``, its name.

    :raises HydridesInputError: unknown keys, a missing DFT settings file or one that lacks required keys.
    """
    from aiida_hydrides.labelling import load_label_settings

    path = pathlib.Path(path or LOOP_LABEL_FILE)
    settings = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(settings) - set(_LOOP_KEYS)) + sorted(set(overrides) - set(_LOOP_KEYS))
    if unknown:
        raise HydridesInputError(f'unknown labelling settings {unknown} in {path}; accepted: {list(_LOOP_KEYS)}')
    settings.update(overrides)
    missing = [key for key in _LOOP_KEYS if key not in settings]
    if missing:
        raise HydridesInputError(f'the labelling settings {path} lack {missing}')
    iterations = settings['max_iterations']
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise HydridesInputError(f'max_iterations must be a whole number >= 1, got {iterations!r}')
    if not isinstance(settings['clean_workdir'], bool):
        raise HydridesInputError(f'clean_workdir must be true or false, got {settings["clean_workdir"]!r}')
    dft_file = pathlib.Path(settings['label_settings'])
    if not dft_file.is_absolute():
        dft_file = PROTOCOLS_DIR / dft_file
    if not dft_file.is_file():
        raise HydridesInputError(f'the DFT settings file {dft_file} (label_settings of {path}) does not exist')
    settings['dft'] = load_label_settings(dft_file)
    settings['label_set'] = settings['dft']['label_set']
    return settings


def _candidate_arrays(candidates) -> dict:
    from aiida import orm

    if isinstance(candidates, orm.ArrayData):
        return {name: candidates.get_array(name) for name in candidates.get_arraynames()}
    if isinstance(candidates, Mapping):
        return dict(candidates)
    raise HydridesInputError(f'the candidates must be a structure-batch ArrayData or its arrays, got {candidates!r}')


def candidate_frame_ids(count: int, tag: str | None = None, prefix: str = 'cl') -> list[str]:
    """The ids of ``count`` candidate frames: ``<prefix>-<tag>-0000``, ... (``<prefix>-0000`` without a tag); unique
    across iterations when ``tag`` names the iteration. Ids are letters, digits, ``_`` and ``-``."""
    parts = [str(part) for part in (prefix, tag) if part not in (None, '')]
    for part in parts:
        if not part.replace('_', '').replace('-', '').isalnum():
            raise HydridesInputError(f'frame ids are made of letters, digits, _ and -; got {part!r}')
    stem = '-'.join(parts)
    return [f'{stem}-{index:04d}' for index in range(count)]


def get_label_workchain_builder(
    atoms,
    code,
    family,
    frame_id: str | None = None,
    settings: dict | None = None,
    options: dict | None = None,
    description: str | None = None,
):
    """The ``PwBaseWorkChain`` builder that labels ``atoms`` (energy, forces, stress) with the loop's DFT settings.

    The pw.x inputs are those of :func:`aiida_hydrides.labelling.get_label_builder` (parameters with
    ``conv_thr = conv_thr_per_atom * natoms``, the k mesh of ``kpoints_distance``, the family's pseudopotentials,
    ``mpiprocs`` processes and ``pools``, given as the ``parallelization`` input); ``settings``: :func:`load_loop_label_settings` (default: the protocol);
    ``options``: scheduler options replacing those of the settings (``resources``, ``max_wallclock_seconds``,
    ``queue_name``, ...). The builder's label is ``frame_id``.
    """
    from aiida import orm
    from aiida.plugins import WorkflowFactory

    from aiida_hydrides.codes import qe_parallelization
    from aiida_hydrides.labelling import get_label_builder

    settings = settings or load_loop_label_settings()
    calculation = get_label_builder(atoms, code, family, settings['dft'], frame_id)
    inputs = calculation._inputs(prune=True)  # noqa: SLF001 - the documented way to read a builder's inputs
    metadata = dict(inputs.pop('metadata', {}))
    kpoints = inputs.pop('kpoints')
    calc_options = dict(metadata.get('options', {}))
    calc_options.update(options or {})

    builder = WorkflowFactory('quantumespresso.pw.base').get_builder()
    # k-point pools through the `parallelization` input (aiida-quantumespresso deprecates `-nk` in CMDLINE for pw.x)
    inputs.pop('settings', None)
    dft = settings['dft']
    mpiprocs = int(dft.get('mpiprocs', 2))
    parallelization = qe_parallelization(mpiprocs, dft.get('pools', mpiprocs))
    if parallelization:
        inputs['parallelization'] = orm.Dict(parallelization)
    builder.pw = {**inputs, 'metadata': {'options': calc_options}}
    builder.kpoints = kpoints
    builder.max_iterations = orm.Int(settings['max_iterations'])
    builder.clean_workdir = orm.Bool(settings['clean_workdir'])
    if frame_id:
        builder.metadata.label = frame_id
    builder.metadata.description = description or (
        f'label {frame_id or ""} ({settings["label_set"]}): {atoms.get_chemical_formula(mode="metal")}'
    )
    return builder


def get_label_builders(
    candidates,
    code,
    family,
    tag: str | None = None,
    settings: dict | None = None,
    options: dict | None = None,
) -> dict:
    """One ``PwBaseWorkChain`` builder per candidate frame (``candidates``: the structure-batch ``ArrayData`` of a
    deviation job, or its arrays), keyed by frame id (:func:`candidate_frame_ids` with the settings' ``frame_prefix``
    and ``tag``, e.g. the iteration). Each description names where the frame came from (``source``, ``frame_kind``,
    ``frame_index`` and ``max_devi_f`` when the batch has them).

    :raises HydridesInputError: candidates that are not a structure batch.
    :raises aiida_hydrides.pseudos.MissingElementsError: elements the pseudopotential family lacks.
    """
    from aiida_hydrides.core.lam.batch import unpack_structures
    from aiida_hydrides.pseudos import check_family_covers

    settings = settings or load_loop_label_settings()
    arrays = _candidate_arrays(candidates)
    frames = unpack_structures(arrays)
    if not frames:
        return {}
    check_family_covers(family, sorted({symbol for atoms in frames for symbol in atoms.get_chemical_symbols()}))
    ids = candidate_frame_ids(len(frames), tag, settings['frame_prefix'])
    builders = {}
    for index, (frame_id, atoms) in enumerate(zip(ids, frames)):
        origin = []
        for name, label in (('source', 'from'), ('frame_kind', 'kind'), ('frame_index', 'frame'), ('max_devi_f', '')):
            if name in arrays:
                value = arrays[name][index]
                origin.append(f'max_devi_f {float(value):.3f} eV/A' if name == 'max_devi_f' else f'{label} {value}')
        description = f'label {frame_id} ({settings["label_set"]}): {atoms.get_chemical_formula(mode="metal")}' + (
            f', {", ".join(origin)}' if origin else ''
        )
        builders[frame_id] = get_label_workchain_builder(
            atoms, code, family, frame_id, settings, options, description=description
        )
    return builders


def label_calculation(node):
    """The ``PwCalculation`` that holds the labels of a finished ``PwBaseWorkChain`` (its last successful
    calculation); a ``PwCalculation`` is returned as it is.

    :raises HydridesInputError: the work chain did not finish successfully, or called no successful calculation.
    """
    from aiida import orm

    if isinstance(node, orm.CalcJobNode):
        return node
    if not node.is_finished_ok:
        raise HydridesInputError(
            f'the labelling work chain {node.pk} ({node.label}) did not finish successfully (exit status '
            f'{node.exit_status}: {node.exit_message})'
        )
    calculations = [child for child in node.called if isinstance(child, orm.CalcJobNode) and child.is_finished_ok]
    if not calculations:
        raise HydridesInputError(f'the labelling work chain {node.pk} ran no successful pw.x calculation')
    return max(calculations, key=lambda child: child.ctime)


def _by_id(nodes) -> dict:
    if isinstance(nodes, Mapping):
        return dict(nodes)
    return {node.label or node.uuid: node for node in nodes}


def labelled_frames(nodes: Mapping | Iterable) -> tuple[list, dict]:
    """The labelled frames of finished labelling work chains (or pw.x calculations): ``nodes`` maps frame ids to
    nodes (an iterable is keyed by each node's label, else its UUID). Returns the
    :class:`~aiida_hydrides.core.seed_configs.LabelledFrame` of every successful one (geometry, energy in eV, forces
    in eV/Å, stress in GPa, ``virial`` in eV), read by :func:`aiida_hydrides.labelling.frame_from_calculation`, and
    ``{frame id: reason}`` for the others (a failed SCF is left out of the training data, as in DP-GEN)."""
    from aiida_hydrides.labelling import frame_from_calculation

    frames, failed = [], {}
    for frame_id, node in _by_id(nodes).items():
        try:
            frames.append(frame_from_calculation(label_calculation(node), frame_id))
        except HydridesInputError as exc:
            failed[frame_id] = str(exc)
    return frames, failed


def tag_label_calculations(nodes: Mapping | Iterable, label_set: str) -> dict:
    """Mark the pw.x calculation of every successful labelling work chain with the extra ``hydrides`` =
    ``{'label_id': frame id, 'label_set': label_set}`` (as the seed labels are), so that
    :func:`aiida_hydrides.data.training_set.training_set_from_calculations` gives the frames their ids; returns
    ``{frame id: PwCalculation}``, the failed ones left out."""
    from aiida_hydrides.labelling import LABEL_EXTRA

    calculations = {}
    for frame_id, node in _by_id(nodes).items():
        try:
            calculation = label_calculation(node)
        except HydridesInputError:
            continue
        calculation.base.extras.set(LABEL_EXTRA, {'label_id': frame_id, 'label_set': label_set})
        calculations[frame_id] = calculation
    return calculations
