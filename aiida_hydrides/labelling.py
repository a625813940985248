"""DFT labels of the seed set through AiiDA: one ``PwCalculation`` per frame, resumable, written in pieces.

The candidate frames (``data/seed/candidates.extxyz``, see :mod:`aiida_hydrides.core.seed_configs`) are labelled
with the fixed settings of ``workflows/protocols/dft/labels.yaml``. Each frame is one aiida-quantumespresso
``quantumespresso.pw`` calculation, run in the current interpreter (:func:`~aiida_hydrides.processes.run_interruptible`:
Ctrl-C kills the calculation and stops pw.x, the frames finished so far are kept) and tagged with the extra
``hydrides.label_id``. After every chunk of frames a new *piece* is written:

* ``data/seed/pieces/piece-XXX/``: deepmd/npy systems (eV, eV/Angstrom, virial in eV) and a manifest of the frame
  ids, written to a temporary folder and renamed, so a piece is complete or absent;
* ``data/seed/archives/piece-XXX.aiida``: an AiiDA archive of the calculations of the piece (full provenance).

When the set is complete, :func:`pack_archives` (``aiida-hydrides label pack``) merges the piece archives into one
archive of the whole set (``archives/<label set>.aiida``): the pseudopotentials and codes that every piece repeats are
then stored once, which halves the size that is committed.

A run can be stopped at any time and started again: frames stored in a piece, or already finished in the database
(they go into the next piece), are never recomputed. Failed SCFs are recorded in ``data/seed/failed.json`` (id,
exit status, message) and skipped, unless ``retry_failed`` is set.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import time

import numpy as np
import yaml

from aiida_hydrides.core import seed_configs
from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'DEFAULT_LABEL_PROFILE',
    'LABEL_EXTRA',
    'LabelRunSummary',
    'check_label_frames',
    'default_data_dir',
    'extend_candidates',
    'ensure_label_profile',
    'finished_label_calculations',
    'frame_from_calculation',
    'get_label_builder',
    'load_label_settings',
    'pack_archives',
    'run_labels',
    'write_archive',
    'write_calculation_piece',
)

#: extra of every label calculation: ``{'label_id': frame id, 'label_set': label set}``; query paths
#: ``extras.hydrides.label_id`` and ``extras.hydrides.label_set``
LABEL_EXTRA = 'hydrides'
#: the dedicated AiiDA profile of the labelling, so that test and user databases are never touched
DEFAULT_LABEL_PROFILE = 'hydrides-labels'
PROTOCOL_FILE = pathlib.Path(__file__).parent / 'workflows' / 'protocols' / 'dft' / 'labels.yaml'
CANDIDATES_FILE = 'candidates.extxyz'
MANIFEST_FILE = 'manifest.json'
FAILED_FILE = 'failed.json'
ARCHIVES_DIR = 'archives'
LOCK_FILE = '.label.lock'


def default_data_dir() -> pathlib.Path:
    """``data/seed`` of the source checkout (``$HYDRIDES_SEED_DATA`` overrides it)."""
    if os.environ.get('HYDRIDES_SEED_DATA'):
        return pathlib.Path(os.environ['HYDRIDES_SEED_DATA'])
    return pathlib.Path(__file__).resolve().parent.parent / 'data' / 'seed'


def load_label_settings(path: str | os.PathLike | None = None) -> dict:
    """The fixed DFT settings of the label set (``labels.yaml``)."""
    path = pathlib.Path(path or PROTOCOL_FILE)
    settings = yaml.safe_load(path.read_text())
    required = ('label_set', 'pseudo_family', 'kpoints_distance', 'conv_thr_per_atom', 'parameters')
    missing = [key for key in required if key not in settings]
    if missing:
        raise HydridesInputError(f'the label settings {path} lack {missing}')
    return settings


# --------------------------------------------------------------------------------------------------------------------
# profile


def ensure_label_profile(name: str = DEFAULT_LABEL_PROFILE, email: str = 'labels@aiida-hydrides'):
    """Load the AiiDA profile ``name``, creating it first if needed; it never becomes the default profile.

    A new profile is made like the one of :mod:`aiida_hydrides.profile` (SQLite storage, built-in ZeroMQ broker,
    polling every second) and gets the ``localhost`` computer of :func:`aiida_hydrides.profile.ensure_localhost`.
    """
    from aiida import load_profile
    from aiida.manage.configuration import create_profile, get_config
    from aiida.plugins import BrokerFactory

    from aiida_hydrides.profile import ensure_localhost

    config = get_config(create=True)
    if name not in config.profile_names:
        broker = 'core.zeromq'
        profile = create_profile(
            config,
            name=name,
            email=email,
            storage_backend='core.sqlite_dos',
            storage_config={},
            broker_backend=broker,
            broker_config=BrokerFactory(broker).get_default_config(),
        )
        config.set_option('runner.poll.interval', 1, scope=profile.name)
        config.store()
    profile = load_profile(name, allow_switch=True)
    ensure_localhost(mpiprocs=2)
    return profile


# --------------------------------------------------------------------------------------------------------------------
# inputs


def get_label_builder(atoms, code, family, settings: dict | None = None, frame_id: str | None = None):
    """The ``PwCalculation`` builder that labels ``atoms`` with the fixed settings."""
    from aiida import orm
    from aiida_quantumespresso.calculations.pw import PwCalculation

    from aiida_hydrides.codes import qe_pool_settings

    settings = settings or load_label_settings()
    structure = orm.StructureData(ase=atoms)
    parameters = json.loads(json.dumps(settings['parameters']))
    parameters.setdefault('ELECTRONS', {})['conv_thr'] = float(settings['conv_thr_per_atom']) * len(atoms)
    kpoints = orm.KpointsData()
    kpoints.set_cell_from_structure(structure)
    kpoints.set_kpoints_mesh_from_density(float(settings['kpoints_distance']), force_parity=False)
    mpiprocs = int(settings.get('mpiprocs', 2))

    builder = PwCalculation.get_builder()
    builder.code = code
    builder.structure = structure
    builder.parameters = orm.Dict(parameters)
    builder.kpoints = kpoints
    builder.pseudos = family.get_pseudos(structure=structure)
    cmdline = qe_pool_settings(mpiprocs, settings.get('pools', mpiprocs))
    if cmdline:
        builder.settings = orm.Dict(cmdline)
    builder.metadata.options.resources = {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}
    builder.metadata.options.max_wallclock_seconds = int(settings.get('max_wallclock_seconds', 7200))
    builder.metadata.options.withmpi = True
    if frame_id:
        builder.metadata.label = frame_id
        builder.metadata.description = f'seed label {frame_id} ({settings["label_set"]})'
    return builder


# --------------------------------------------------------------------------------------------------------------------
# outputs


def frame_from_calculation(node, frame_id: str | None = None) -> seed_configs.LabelledFrame:
    """The labelled frame of a finished ``PwCalculation``: input geometry, energy (eV), forces (eV/A), stress (GPa).

    The stress of the parser's ``output_trajectory`` has pw.x's sign (compressive positive, its trace / 3 is the
    printed pressure P); :attr:`LabelledFrame.virial` turns it into the DeePMD virial.
    """
    if not node.is_finished_ok:
        raise HydridesInputError(f'calculation {node.pk} did not finish successfully (exit status {node.exit_status})')
    structure = node.inputs.structure
    trajectory = node.outputs.output_trajectory
    arrays = set(trajectory.get_arraynames())
    for name in ('forces', 'stress'):
        if name not in arrays:
            raise HydridesInputError(f'calculation {node.pk} has no {name}; tprnfor and tstress must be set')
    energy = float(node.outputs.output_parameters['energy'])
    if node.outputs.output_parameters.get('energy_units', 'eV') != 'eV':
        raise HydridesInputError(f'calculation {node.pk}: unexpected energy units')
    return seed_configs.LabelledFrame(
        id=frame_id or node.base.extras.get(LABEL_EXTRA, {}).get('label_id', node.label),
        symbols=[site.kind_name for site in structure.sites],
        cell=np.array(structure.cell, dtype=float),
        positions=np.array([site.position for site in structure.sites], dtype=float),
        energy=energy,
        forces=np.array(trajectory.get_array('forces')[-1], dtype=float),
        stress=np.array(trajectory.get_array('stress')[-1], dtype=float),
        uuid=node.uuid,
    )


def finished_label_calculations(label_set: str | None = None) -> dict:
    """Label calculations in the loaded profile: ``{'ok': {id: node}, 'failed': {id: node}}`` (latest per id)."""
    from aiida import orm
    from aiida_quantumespresso.calculations.pw import PwCalculation

    # the extras are set when a calculation returns; label and description are stored before it runs, so a run
    # killed in between still finds its calculation
    if label_set:
        filters = {
            'or': [
                {f'extras.{LABEL_EXTRA}.label_set': label_set},
                {'label': {'like': 'seed-%'}, 'description': {'like': f'% ({label_set})'}},
            ]
        }
    else:
        filters = {'or': [{'extras': {'has_key': LABEL_EXTRA}}, {'label': {'like': 'seed-%'}}]}
    query = (
        orm.QueryBuilder()
        .append(PwCalculation, filters=filters, project='*', tag='calc')
        .order_by({'calc': {'ctime': 'asc'}})
    )
    result = {'ok': {}, 'failed': {}}
    for (node,) in query.iterall():
        if not node.is_finished:  # running, killed or excepted: computed again by the next run
            continue
        frame_id = node.base.extras.get(LABEL_EXTRA, {}).get('label_id') or node.label
        if LABEL_EXTRA not in node.base.extras.keys():
            node.base.extras.set(LABEL_EXTRA, {'label_id': frame_id, 'label_set': label_set})
        if node.is_finished_ok:
            result['ok'][frame_id] = node
            result['failed'].pop(frame_id, None)
        elif frame_id not in result['ok']:
            result['failed'][frame_id] = node
    return result


def write_calculation_piece(data_dir, nodes: dict, archive: bool = True, index: int | None = None) -> dict:
    """Write the finished calculations ``{frame_id: node}`` as a new piece (deepmd/npy + archive); returns a summary."""
    data_dir = pathlib.Path(data_dir)
    frames = [frame_from_calculation(node, frame_id) for frame_id, node in nodes.items()]
    index = index or seed_configs.next_piece_index(data_dir)
    summary = {'piece': f'piece-{index:03d}', 'nframes': len(frames)}
    archive_path = None
    if archive:
        try:
            archive_path = write_archive(list(nodes.values()), data_dir / ARCHIVES_DIR / f'piece-{index:03d}.aiida')
        except Exception as exception:  # noqa: BLE001 - the labels are written anyway; the archive can be redone
            summary['archive_error'] = f'{type(exception).__name__}: {exception}'
        else:
            summary['archive'] = str(archive_path)
            summary['archive_bytes'] = archive_path.stat().st_size
    extra = {'archive': f'{ARCHIVES_DIR}/{archive_path.name}' if archive_path else None}
    path = seed_configs.write_piece(data_dir, frames, index=index, extra=extra)
    summary['path'] = str(path)
    return summary


def write_archive(nodes, path: pathlib.Path) -> pathlib.Path:
    """An AiiDA archive of ``nodes`` and their provenance at ``path``, written to a temporary name and renamed (an
    archive is complete or absent)."""
    from aiida.tools.archive import create_archive

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f'.{path.name}.tmp')
    if temporary.exists():
        temporary.unlink()
    create_archive(nodes, filename=temporary, include_logs=False, compression=9, overwrite=True)
    temporary.rename(path)
    return path


def pack_archives(data_dir=None, name: str | None = None, remove: bool = True) -> dict:
    """Merge the piece archives of ``data_dir`` into one archive ``archives/<name>.aiida`` (default: the label set).

    The pieces are imported into a temporary in-memory profile and its label calculations (with everything they
    need: structures, parameters, pseudopotentials, codes, outputs) exported again. The merged archive is checked to
    hold one calculation per labelled frame before the piece archives are removed (``remove``) and the piece
    manifests are pointed at it. Returns a summary (frames, bytes before and after).
    """
    from aiida import load_profile, orm
    from aiida.manage import get_manager
    from aiida.storage.sqlite_temp import SqliteTempBackend
    from aiida.tools.archive import create_archive, import_archive
    from aiida.tools.archive.abstract import get_format

    data_dir = pathlib.Path(data_dir or default_data_dir())
    name = name or load_label_settings().get('label_set', 'labels')
    target = data_dir / ARCHIVES_DIR / f'{name}.aiida'
    pieces = seed_configs.list_pieces(data_dir)
    sources = [data_dir / ARCHIVES_DIR / f'{piece.name}.aiida' for piece in pieces]
    sources = [path for path in sources if path.exists()]
    if target.exists():
        sources.insert(0, target)
    if not sources:
        raise HydridesInputError(f'no archives to pack in {data_dir / ARCHIVES_DIR}')
    labelled = seed_configs.labelled_ids(data_dir)
    before = sum(path.stat().st_size for path in sources)

    previous = get_manager().get_profile()
    with _exclusive(data_dir):
        load_profile(SqliteTempBackend.create_profile(debug=False), allow_switch=True)
        try:
            for path in sources:
                import_archive(path, import_new_extras=True)
            query = orm.QueryBuilder().append(
                orm.CalcJobNode,
                filters={f'extras.{LABEL_EXTRA}.label_id': {'in': sorted(labelled)}},
                project=['*', f'extras.{LABEL_EXTRA}.label_id'],
            )
            nodes, ids = {}, set()
            for node, frame_id in query.iterall():
                if node.is_finished_ok:
                    nodes[node.pk] = node
                    ids.add(frame_id)
            missing = sorted(labelled - ids)
            if missing:
                raise HydridesInputError(
                    f'the archives lack the calculations of {len(missing)} labelled frames, e.g. '
                    f'{missing[:5]}; relabel them or keep the piece archives'
                )
            temporary = target.with_name(f'.{target.name}.tmp')
            create_archive(list(nodes.values()), filename=temporary, include_logs=False, compression=9, overwrite=True)
            with get_format().open(temporary, 'r') as archive:
                count = archive.querybuilder().append(orm.CalcJobNode).count()
            if count < len(labelled):
                raise HydridesInputError(f'the merged archive holds {count} calculations, expected {len(labelled)}')
            temporary.replace(target)
        finally:
            get_manager().unload_profile()
            if previous is not None:
                load_profile(previous.name, allow_switch=True)
    for piece in pieces:
        manifest_path = piece / MANIFEST_FILE
        manifest = json.loads(manifest_path.read_text())
        manifest['archive'] = f'{ARCHIVES_DIR}/{target.name}'
        manifest_path.write_text(json.dumps(manifest, indent=1) + '\n')
    removed = []
    if remove:
        for path in sources:
            if path != target:
                path.unlink()
                removed.append(path.name)
    return {
        'archive': str(target),
        'frames': len(labelled),
        'calculations': count,
        'bytes_before': before,
        'bytes': target.stat().st_size,
        'removed': removed,
    }


# --------------------------------------------------------------------------------------------------------------------
# the run


class LabelRunSummary(dict):
    """Counts of a label run (a dict, printable as JSON)."""


@contextlib.contextmanager
def _exclusive(data_dir: pathlib.Path):
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, 'w') as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HydridesInputError(f'another label run is writing to {data_dir}; wait for it to finish') from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_failed(data_dir: pathlib.Path) -> dict:
    try:
        return json.loads((data_dir / FAILED_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_failed(data_dir: pathlib.Path, failed: dict):
    temporary = data_dir / f'.{FAILED_FILE}.tmp'
    temporary.write_text(json.dumps(dict(sorted(failed.items())), indent=1) + '\n')
    temporary.replace(data_dir / FAILED_FILE)


def _same_geometry(structure, atoms, tolerance: float = 1e-5) -> bool:
    """Whether a ``StructureData`` holds exactly the frame ``atoms`` (same symbols, cell and positions)."""
    symbols = [site.kind_name for site in structure.sites]
    if symbols != atoms.get_chemical_symbols():
        return False
    positions = np.array([site.position for site in structure.sites])
    return bool(
        np.allclose(structure.cell, atoms.cell[:], atol=tolerance)
        and np.allclose(positions, atoms.positions, atol=tolerance)
    )


def _clean_remote(node):
    with contextlib.suppress(Exception):
        node.outputs.remote_folder._clean()  # noqa: SLF001 - the documented way to free the scratch folder


def check_label_frames(data_dir=None, only_ids=None) -> dict:
    """The candidate frames of ``data_dir`` to label (frame id -> frame), all of them or ``only_ids``; checked without
    an AiiDA profile, so that a label run refuses bad arguments before it creates or loads one.

    :raises HydridesInputError: no candidate file, an empty ``only_ids``, or ids that are not candidates.
    """
    data_dir = pathlib.Path(data_dir or default_data_dir())
    frames = {frame.id: frame for frame in seed_configs.read_candidates(data_dir / CANDIDATES_FILE)}
    if only_ids is None:
        return frames
    only_ids = list(dict.fromkeys(only_ids))
    if not only_ids:
        raise HydridesInputError('no frame id given')
    unknown = [frame_id for frame_id in only_ids if frame_id not in frames]
    if unknown:
        example = ', '.join(list(frames)[:3])
        raise HydridesInputError(
            f'unknown frame id{"s" if len(unknown) > 1 else ""} {", ".join(unknown[:5])}'
            f'{" ..." if len(unknown) > 5 else ""}: not in {data_dir / CANDIDATES_FILE} (ids such as {example}; '
            '`aiida-hydrides label status` counts them)'
        )
    return {frame_id: frames[frame_id] for frame_id in only_ids}


def run_labels(
    data_dir=None,
    max_frames: int | None = None,
    chunk: int = 20,
    computer: str = 'localhost',
    settings_file=None,
    retry_failed: bool = False,
    archive: bool = True,
    only_ids=None,
    log=print,
) -> LabelRunSummary:
    """Label the candidate frames of ``data_dir`` that have no label yet, writing a piece every ``chunk`` frames.

    The AiiDA profile must be loaded (see :func:`ensure_label_profile`). ``max_frames`` limits the number of new
    calculations of this run; ``only_ids`` restricts the run to those frame ids.
    """
    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.processes import run_interruptible
    from aiida_hydrides.pseudos import check_family_covers, ensure_pseudo_family

    if chunk < 1:
        raise HydridesInputError(f'the chunk size must be at least 1, got {chunk}')
    data_dir = pathlib.Path(data_dir or default_data_dir())
    settings = load_label_settings(settings_file)
    label_set = settings['label_set']
    frames = check_label_frames(data_dir, only_ids)

    summary = LabelRunSummary(candidates=len(frames), computed=0, failed=0, pieces=[])
    with _exclusive(data_dir):
        elements = sorted({s for frame in frames.values() for s in frame.atoms.get_chemical_symbols()})
        family = ensure_pseudo_family(settings['pseudo_family'])
        check_family_covers(family, elements)
        code = ensure_codes(computer=computer, mpiprocs=int(settings.get('mpiprocs', 2)), shorts=['pw'])['pw']

        in_pieces = seed_configs.labelled_ids(data_dir)
        database = finished_label_calculations(label_set)
        pending = {}
        for frame_id, node in database['ok'].items():
            if frame_id in in_pieces or frame_id not in frames:
                continue
            if _same_geometry(node.inputs.structure, frames[frame_id].atoms):
                pending[frame_id] = node
            else:
                log(f'ignoring calculation {node.pk} of {frame_id}: its structure is not the candidate frame')
        failed = _read_failed(data_dir)
        for frame_id, node in database['failed'].items():
            if frame_id not in frames or not _same_geometry(node.inputs.structure, frames[frame_id].atoms):
                continue
            failed.setdefault(frame_id, {'exit_status': node.exit_status, 'message': node.exit_message, 'pk': node.pk})
        # an SCF that failed with an exit status is skipped; a Python exception (exit status None) is retried
        final_failures = {i for i, record in failed.items() if record.get('exit_status') is not None}
        skip = set(in_pieces) | set(pending) | (set() if retry_failed else final_failures)
        todo = [i for i in seed_configs.labelling_order(frames) if i not in skip]
        if max_frames is not None:
            todo = todo[:max_frames]
        summary.update(in_pieces=len(in_pieces), from_database=len(pending), failed_before=len(failed), todo=len(todo))
        log(
            f'{len(frames)} candidates: {len(in_pieces)} in pieces, {len(pending)} finished in the database, '
            f'{len(failed)} failed before; {len(todo)} to compute now ({label_set}, profile data in {data_dir})'
        )

        def flush():
            if not pending:
                return
            piece = write_calculation_piece(data_dir, dict(pending), archive=archive)
            summary['pieces'].append(piece)
            log(
                f'wrote {piece["piece"]}: {piece["nframes"]} frames'
                + (f', archive {piece["archive_bytes"] / 1e6:.2f} MB' if 'archive_bytes' in piece else '')
                + (f', NO archive ({piece["archive_error"]})' if 'archive_error' in piece else '')
            )
            pending.clear()

        if len(pending) >= chunk:
            flush()
        for position, frame_id in enumerate(todo, start=1):
            frame = frames[frame_id]
            builder = get_label_builder(frame.atoms, code, family, settings, frame_id)
            start = time.time()
            try:
                node = run_interruptible(builder)
            except Exception as exception:  # noqa: BLE001 - one broken frame must not end the run
                failed[frame_id] = {'exit_status': None, 'message': f'{type(exception).__name__}: {exception}'}
                summary['failed'] += 1
                _write_failed(data_dir, failed)
                log(f'[{position}/{len(todo)}] {frame_id} excepted: {exception}')
                continue
            node.base.extras.set(LABEL_EXTRA, {'label_id': frame_id, 'label_set': label_set})
            elapsed = time.time() - start
            if node.is_finished_ok:
                pending[frame_id] = node
                failed.pop(frame_id, None)
                summary['computed'] += 1
                pressure = np.trace(node.outputs.output_trajectory.get_array('stress')[-1]) / 3
                log(
                    f'[{position}/{len(todo)}] {frame_id} {frame.formula} ({len(frame.atoms)} atoms) ok in '
                    f'{elapsed:.0f} s, P = {pressure:.0f} GPa (pk {node.pk})'
                )
            else:
                failed[frame_id] = {'exit_status': node.exit_status, 'message': node.exit_message, 'pk': node.pk}
                summary['failed'] += 1
                _write_failed(data_dir, failed)
                log(
                    f'[{position}/{len(todo)}] {frame_id} failed in {elapsed:.0f} s: [{node.exit_status}] '
                    f'{node.exit_message}'
                )
            _clean_remote(node)
            if len(pending) >= chunk:
                flush()
        flush()
        if failed:
            _write_failed(data_dir, failed)
    summary['finished_at'] = datetime.datetime.now().isoformat(timespec='seconds')
    return summary


def extend_candidates(data_dir=None, round_number: int = 2) -> dict:
    """Append the frames of extension round ``round_number`` (``seed_configs.EXTENSION_ROUNDS``) to the candidates
    and the manifest of ``data_dir``, with ids after the last one and held-out flags by the same id hash.

    The existing frames, their ids and their held-out flags are never changed; a round is added once.
    """
    data_dir = pathlib.Path(data_dir or default_data_dir())
    with _exclusive(data_dir):
        frames = seed_configs.read_candidates(data_dir / CANDIDATES_FILE)
        manifest_path = data_dir / MANIFEST_FILE
        manifest = json.loads(manifest_path.read_text())
        rounds = manifest.get(
            'rounds', [{'round': 1, 'first_id': frames[0].id, 'last_id': frames[-1].id, 'frames': len(frames)}]
        )
        if any(entry['round'] == round_number for entry in rounds):
            raise HydridesInputError(f'round {round_number} is already part of the candidates in {data_dir}')
        last = max(int(frame.id.split('-')[1]) for frame in frames)
        seed = manifest.get('seed', seed_configs.DEFAULT_SEED)
        new = seed_configs.generate_extension_frames(round_number, last + 1, seed, data_dir=data_dir)
        records = []
        for frame in new:
            record = frame.record()
            record.update(heldout=seed_configs.is_heldout(frame.id), round=round_number)
            records.append(record)
        rounds.append({'round': round_number, 'first_id': new[0].id, 'last_id': new[-1].id, 'frames': len(new)})
        seed_configs.write_candidates(frames + new, data_dir / CANDIDATES_FILE)
        manifest['frames'] = manifest['frames'] + records
        manifest['rounds'] = rounds
        seed_configs.write_manifest(manifest, manifest_path)
    return {
        'round': round_number,
        'added': len(new),
        'first_id': new[0].id,
        'last_id': new[-1].id,
        'heldout': sum(record['heldout'] for record in records),
        'candidates': len(frames) + len(new),
    }


def label_status(data_dir=None) -> dict:
    """Counts of the label set in ``data_dir`` (no profile needed): candidates, labelled, failed, held out."""
    data_dir = pathlib.Path(data_dir or default_data_dir())
    candidates = seed_configs.read_candidates(data_dir / CANDIDATES_FILE)
    labelled = seed_configs.labelled_ids(data_dir)
    failed = _read_failed(data_dir)
    ids = [frame.id for frame in candidates]
    return {
        'data_dir': str(data_dir),
        'candidates': len(ids),
        'labelled': len(labelled & set(ids)),
        'labelled_heldout': sum(seed_configs.is_heldout(i) for i in labelled),
        'failed': len(failed),
        'remaining': len(set(ids) - labelled - set(failed)),
        'pieces': [p.name for p in seed_configs.list_pieces(data_dir)],
    }
