"""``hydrides-lam``: the LAM worker, a long-lived-model process that relaxes or phonon-checks a batch of structures.

It reads one structure batch (``.npz`` with the compact arrays of :mod:`aiida_hydrides.core.lam.batch`, or the same
keys in a ``.json`` file), runs the batched relaxation or the LAM phonons with one DeePMD model, and writes an ``.npz``
with the results plus a JSON summary. Parameters come from ``--parameters params.json`` and/or command-line options
(options win). On bad input (not a DeePMD model, an element outside the type map, an invalid pressure) it writes
``{"error": kind, "message": ...}`` to the error file, prints ``Error: ...`` on stderr and exits with a non-zero code
(2 model, 3 element, 4 other input, 5 composition, 6 atom budget), before any compute. Out of memory (a
``MemoryError`` or a torch allocation failure) gives kind ``memory`` and exit code 8. A ``search`` or ``phonons``
run that stops early (its ``max_wall_s``, SIGTERM/SIGINT, out of memory) writes its results for what it finished and
then the error file with kind ``walltime``, ``signal`` or ``memory``, ``"partial": true`` and the ``unfinished``
formulas (``search``) or structure keys (``phonons``), and exits with 7 (time or signal) or 8 (memory).

``phonons`` computes the phonons of every structure of the batch in turn (:func:`run_phonons`): the batch may
hold a ``keys`` array (one string per structure, default ``'0'``, ``'1'``, ...), and each structure's results go to
``KEY.json`` and ``KEY.npz`` (force constants with their cell and matrices) in the output folder as soon as it is
done. Structures already there are skipped, so a rerun in the same folder resumes; a failed structure is recorded
with its error and the others go on.

``search`` runs structure searches of several compositions (:mod:`aiida_hydrides.core.search.worker`): every
sampled structure goes to one ``.npz``, the distinct low-enthalpy minima to another, and a JSON summary.

``deviation`` evaluates an ensemble of models (``--models``, at least 2) on a batch of frames and writes the model
deviation of every frame, the accurate / candidate / failed classes by the trust window and the candidates chosen
for labelling (:func:`run_deviation`, :mod:`aiida_hydrides.core.lam.deviation`).

Examples::

    hydrides-lam relax --structures batch.npz --model model.pth --pressure 200 --output relaxed.npz
    hydrides-lam phonons --structures batch.npz --model model.pth --mesh 8 8 8 --output ph.npz --output-dir ph/
    hydrides-lam search --compositions comps.json --model model.pth --parameters search.json --output samples.npz
    hydrides-lam deviation --frames frames.npz --models m0.pth m1.pth m2.pth m3.pth --output deviation.npz
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

from .compress import COMPRESS_BY_DEFAULT

EXIT_MODEL_ERROR = 2
EXIT_ELEMENT_ERROR = 3
EXIT_INPUT_ERROR = 4
EXIT_COMPOSITION_ERROR = 5
EXIT_BUDGET_ERROR = 6
EXIT_STOPPED = 7
EXIT_MEMORY_ERROR = 8

#: Parameter names accepted in ``--parameters`` for ``phonons`` (all optional, see :func:`phonon_parameters`). Those
#: of ``relax`` are :data:`aiida_hydrides.core.lam.relax.RELAX_PARAMETERS` (derived from ``RelaxSettings``; imported
#: lazily so that this module loads nothing heavy before the threads are configured).
PHONON_PARAMETERS = (
    'supercell',
    'supercell_min_length',
    'mesh',
    'displacement',
    'imaginary_threshold_thz',
    'head',
    'batch_size',
    'threads',
    'compress',
    'max_wall_s',
)
#: Defaults of the ``phonons`` parameters that :func:`phonon_parameters` fills in (``supercell_min_length``,
#: ``imaginary_threshold_thz``: the constants of :mod:`aiida_hydrides.core.lam.phonons`, 6.0 Å and 3.0 THz;
#: ``compress``: :data:`~aiida_hydrides.core.lam.compress.COMPRESS_BY_DEFAULT`; ``head``, ``threads``,
#: ``max_wall_s``: ``None``).
PHONON_DEFAULTS = {'supercell': 'auto', 'mesh': (8, 8, 8), 'displacement': 0.01, 'batch_size': 64}
#: the characters of a structure key (it names the files of the structure in the output folder)
_KEY_CHARACTERS = frozenset('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-')


def _number(name, value, minimum=0.0, strict=True, integer=False):
    from .errors import HydridesInputError

    kind = 'an integer' if integer else 'a number'
    bound = f'{">" if strict else ">="} {minimum:g}'
    valid = not isinstance(value, (bool, str, bytes)) and isinstance(value, int if integer else (int, float))
    if not valid and integer and isinstance(value, float) and value.is_integer():
        value, valid = int(value), True
    if not valid or not (value > minimum if strict else value >= minimum):
        raise HydridesInputError(f'{name} must be {kind} {bound}, got {value!r}')
    return int(value) if integer else float(value)


def phonon_parameters(parameters: dict | None) -> tuple[dict, dict]:
    """Split the parameters of ``hydrides-lam phonons`` (names of :data:`PHONON_PARAMETERS`) into the keyword
    arguments of :func:`~aiida_hydrides.core.lam.phonons.lam_phonons` and the worker options, checked and with the
    defaults filled in. ``None`` stands for the default.

    Settings: ``supercell`` (three positive integers, a 3x3 integer matrix or ``'auto'``, default ``'auto'``: see
    :func:`~aiida_hydrides.core.lam.phonons.supercell_for`), ``supercell_min_length`` (Å, default 6.0),
    ``mesh`` (three positive integers, default 8 8 8), ``displacement`` (Å, default 0.01),
    ``imaginary_threshold_thz`` (THz, default 3.0), ``batch_size`` (displaced supercells per model call, default
    64). Options: ``head`` (multi-head models), ``threads``, ``compress`` (default
    :data:`~aiida_hydrides.core.lam.compress.COMPRESS_BY_DEFAULT`), ``max_wall_s`` (seconds, default none).

    :raises HydridesInputError: unknown names (all listed, with the accepted ones) or bad values.
    """
    from .errors import HydridesInputError
    from .phonons import DEFAULT_IMAGINARY_THRESHOLD_THZ, DEFAULT_SUPERCELL_MIN_LENGTH

    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise HydridesInputError(f'the phonon parameters must be a JSON object, got {parameters!r}')
    unknown = sorted(set(parameters) - set(PHONON_PARAMETERS))
    if unknown:
        raise HydridesInputError(f'unknown parameters {unknown}; accepted: {list(PHONON_PARAMETERS)}')
    given = {key: value for key, value in parameters.items() if value is not None}

    supercell = given.get('supercell', PHONON_DEFAULTS['supercell'])
    if isinstance(supercell, str):
        if supercell != 'auto':
            raise HydridesInputError(
                f"supercell must be 3 positive integers, a 3x3 integer matrix or 'auto', got {supercell!r}"
            )
    else:
        try:
            rows = list(supercell)
            if len(rows) == 3 and all(isinstance(row, (list, tuple)) for row in rows):
                supercell = [[_number('supercell', v, -1e9, integer=True) for v in row] for row in rows]
                if any(len(row) != 3 for row in supercell):
                    raise ValueError
            elif len(rows) == 3:
                supercell = [_number('supercell', value, 0, integer=True) for value in rows]
            else:
                raise ValueError
        except (TypeError, ValueError, HydridesInputError) as exc:
            raise HydridesInputError(
                f"supercell must be 3 positive integers, a 3x3 integer matrix or 'auto', got {supercell!r}"
            ) from exc
    mesh = given.get('mesh', PHONON_DEFAULTS['mesh'])
    try:
        mesh = [_number('mesh', value, 0, integer=True) for value in mesh]
        if len(mesh) != 3:
            raise ValueError
    except (TypeError, ValueError, HydridesInputError) as exc:
        raise HydridesInputError(f'mesh must be 3 positive integers, got {mesh!r}') from exc
    settings = {
        'supercell': supercell,
        'supercell_min_length': _number(
            'supercell_min_length', given.get('supercell_min_length', DEFAULT_SUPERCELL_MIN_LENGTH)
        ),
        'mesh': mesh,
        'displacement': _number('displacement', given.get('displacement', PHONON_DEFAULTS['displacement'])),
        'imaginary_threshold_thz': _number(
            'imaginary_threshold_thz',
            given.get('imaginary_threshold_thz', DEFAULT_IMAGINARY_THRESHOLD_THZ),
            strict=False,
        ),
        'batch_size': _number('batch_size', given.get('batch_size', PHONON_DEFAULTS['batch_size']), integer=True),
    }
    head = given.get('head')
    if head is not None and not isinstance(head, str):
        raise HydridesInputError(f'head must be the name of a head of the model, got {head!r}')
    compress = given.get('compress', COMPRESS_BY_DEFAULT)
    if not isinstance(compress, bool):
        raise HydridesInputError(f'compress must be true or false, got {compress!r}')
    options = {
        'head': head,
        'threads': _number('threads', given['threads'], integer=True) if 'threads' in given else None,
        'compress': compress,
        'max_wall_s': _number('max_wall_s', given['max_wall_s']) if 'max_wall_s' in given else None,
    }
    return settings, options


def structure_keys(arrays: dict, count: int) -> list[str]:
    """The keys of the structures of a batch: the array ``keys`` when the batch has one, else ``'0'``, ``'1'``, ...

    :raises HydridesInputError: keys that are not ``count`` distinct non-empty strings of letters, digits, ``_`` and
        ``-`` (each names the files of its structure).
    """
    from .errors import HydridesInputError

    if 'keys' not in arrays:
        return [str(index) for index in range(count)]
    keys = [str(key) for key in arrays['keys'].tolist()]
    if len(keys) != count:
        raise HydridesInputError(f'the batch has {count} structures but {len(keys)} keys')
    bad = [key for key in keys if not key or not set(key) <= _KEY_CHARACTERS]
    if bad:
        raise HydridesInputError(f'structure keys must be letters, digits, _ and -; got {bad}')
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise HydridesInputError(f'structure keys must differ; repeated: {repeated}')
    return keys


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` reports an exhausted memory: ``MemoryError``, torch's ``OutOfMemoryError`` (GPU) or its
    ``RuntimeError`` of a failed CPU allocation."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == 'OutOfMemoryError':
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ('out of memory' in text or "can't allocate memory" in text)


def read_batch(path: str | os.PathLike) -> dict:
    """Read a structure batch from ``.npz`` or ``.json``."""
    import numpy as np

    from .batch import check_batch_arrays
    from .errors import HydridesInputError

    path = pathlib.Path(path)
    if not path.exists():
        raise HydridesInputError(f'structure batch file not found: {path}')
    if path.suffix.lower() == '.json':
        raw = json.loads(path.read_text())
        arrays = {
            key: np.asarray(value)
            for key, value in raw.items()
            if key in ('numbers', 'positions', 'cells', 'offsets', 'pbc')
        }
        if 'positions' in arrays:
            arrays['positions'] = arrays['positions'].reshape(-1, 3).astype(float)
        if 'cells' in arrays:
            arrays['cells'] = arrays['cells'].reshape(-1, 3, 3).astype(float)
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as exc:  # noqa: BLE001
            raise HydridesInputError(f'cannot read the structure batch {path}: {exc}') from exc
    check_batch_arrays(arrays)
    return arrays


def _parameters(args, names) -> dict:
    params = {}
    if args.parameters:
        params = json.loads(pathlib.Path(args.parameters).read_text())
        unknown = sorted(set(params) - set(names))
        if unknown:
            from .errors import HydridesInputError

            raise HydridesInputError(f'unknown parameters {unknown}; accepted: {list(names)}')
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    return params


def run_relax(args) -> dict:
    """The ``relax`` sub-command; returns the summary."""
    import numpy as np

    from .batch import pack_structures, unpack_structures
    from .model import configure_threads, load_model
    from .relax import FLAGS, RELAX_PARAMETERS, relax_settings_from_parameters, relax_structures

    settings, options = relax_settings_from_parameters(_parameters(args, RELAX_PARAMETERS))
    structures = unpack_structures(read_batch(args.structures))
    configure_threads(options['threads'])
    head, compress = options['head'], options['compress']
    evaluator = load_model(args.model, head=head, compress=compress)
    evaluator.check_structures(structures)
    start = time.perf_counter()
    results = relax_structures(
        structures, evaluator, **{f.name: getattr(settings, f.name) for f in settings.__dataclass_fields__.values()}
    )
    wall = time.perf_counter() - start
    arrays = pack_structures([r.atoms for r in results])
    for key in ('energy', 'enthalpy', 'enthalpy_per_atom', 'volume', 'pressure_gpa', 'fmax', 'stress_residual_gpa'):
        arrays[key] = np.array([getattr(r, key) for r in results], dtype=float)
    arrays['n_steps'] = np.array([r.n_steps for r in results], dtype=np.int64)
    arrays['flag'] = np.array([r.flag for r in results], dtype='U16')
    np.savez(args.output, **arrays)
    counts = {flag: sum(r.flag == flag for r in results) for flag in FLAGS}
    return {
        'command': 'relax',
        'model': str(args.model),
        'model_type_map': evaluator.type_map,
        'head': head,
        'compressed': evaluator.compressed,
        'n_structures': len(results),
        'counts': counts,
        'settings': {
            key: getattr(settings, key)
            for key in ('pressure_gpa', 'fmax', 'stress_tol_gpa', 'max_steps', 'optimizer', 'relax_cell', 'batch_size')
        },
        'wall_s': wall,
        'relaxations_per_s': len(results) / wall if wall > 0 else None,
        'structures': [r.as_dict() for r in results],
    }


def _write_atomically(path: pathlib.Path, write, data) -> None:
    """Write ``data`` to ``path`` with ``write(path, data)`` through a temporary file in the same folder, moved into
    place when complete."""
    temporary = path.with_name(f'.{path.name}.part')
    try:
        write(temporary, data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _save_npz(path: pathlib.Path, arrays: dict) -> None:
    import numpy as np

    with open(path, 'wb') as handle:
        np.savez(handle, **arrays)


def _save_json(path: pathlib.Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + '\n')


def _check_elements(keys, structures, type_map) -> None:
    """Raise :class:`UnknownElementError` naming the first structure with an element outside ``type_map``."""
    from ase.data import chemical_symbols

    from .errors import UnknownElementError

    if not type_map:
        return
    for key, atoms in zip(keys, structures):
        unknown = sorted({chemical_symbols[int(z)] for z in set(atoms.numbers.tolist())} - set(type_map))
        if unknown:
            raise UnknownElementError(
                f'structure {key!r} ({atoms.get_chemical_formula(mode="metal")}) contains {", ".join(unknown)}, '
                f'which the model does not know; its type map is {list(type_map)}'
            )


def _phonon_record(key: str, atoms, result=None, error: str | None = None, wall: float = 0.0) -> dict:
    record = {'key': key, 'formula': atoms.get_chemical_formula(mode='metal'), 'natoms': len(atoms), 'wall_s': wall}
    if result is not None:
        record.update(result.as_dict())
        record['primitive_matrix'] = result.primitive_matrix
        record['force_constants_file'] = f'{key}.npz'
    else:
        record['error'] = error
    return record


def run_phonons(args) -> dict:
    """The ``phonons`` sub-command: phonons of every structure of the batch, one after the other, each written to the
    output folder as soon as it is done; returns the summary.

    Per structure ``KEY`` the output folder (``--output-dir``, default ``phonons`` beside ``--output``) receives
    ``KEY.npz`` (:meth:`~aiida_hydrides.core.lam.phonons.LamPhononResult.force_constant_arrays`) and then
    ``KEY.json`` (the result summary with ``key``, ``formula``, ``natoms``, ``wall_s`` and ``primitive_matrix``;
    or ``error`` for a structure whose phonons failed). A structure whose ``KEY.json`` exists is not computed again,
    so a rerun in the same folder resumes. ``--output`` gets per structure ``keys``, ``status`` (``finished``,
    ``failed``, ``interrupted``, ``not_started``), ``max_imaginary_thz``, ``min_frequency_thz``,
    ``max_frequency_thz`` (NaN when not finished) and ``passed``.

    With ``max_wall_s`` (seconds from the worker's start) no structure is started once the time used plus the
    slowest structure so far would exceed it (the first structure computed is always started). SIGTERM or SIGINT
    interrupts the structure in progress, whose files are then not written; one that comes while the files are
    written waits until they are complete. The summary then has ``stopped`` (reason and message) and ``unfinished``
    (the keys to compute again).
    """
    import numpy as np

    from ..search.worker import WorkerStopped, _stop_on_signals, read_type_map
    from .batch import unpack_structures
    from .errors import HydridesInputError
    from .model import configure_threads, load_model
    from .phonons import lam_phonons

    clock = time.perf_counter()
    settings, options = phonon_parameters(_parameters(args, PHONON_PARAMETERS))
    arrays = read_batch(args.structures)
    structures = unpack_structures(arrays)
    keys = structure_keys(arrays, len(structures))
    if not structures:
        raise HydridesInputError('the structure batch is empty')
    _check_elements(keys, structures, read_type_map(args.model))  # before the model is loaded, when the file tells
    configure_threads(options['threads'])
    head = options['head']
    evaluator = load_model(args.model, head=head, compress=options['compress'])
    _check_elements(keys, structures, evaluator.type_map)
    output = pathlib.Path(args.output)
    folder = pathlib.Path(args.output_dir) if getattr(args, 'output_dir', None) else output.parent / 'phonons'
    folder.mkdir(parents=True, exist_ok=True)

    limit = options['max_wall_s']
    entries = [
        {'key': key, 'formula': atoms.get_chemical_formula(mode='metal'), 'status': 'not_started'}
        for key, atoms in zip(keys, structures)
    ]
    state = {'writing': False, 'pending': None}

    def on_signal(signum, _frame):
        import signal

        name = signal.Signals(signum).name
        if state['writing']:  # the files of the structure just done are completed first
            state['pending'] = name
            return
        raise WorkerStopped(name)

    stopped, slowest = None, None
    previous = _stop_on_signals(on_signal)
    try:
        for index, (key, atoms) in enumerate(zip(keys, structures)):
            entry = entries[index]
            record_file = folder / f'{key}.json'
            if record_file.exists():
                record = json.loads(record_file.read_text())
                entry.update(record, status='failed' if record.get('error') else 'finished', resumed=True)
                print(f'[{index + 1}/{len(keys)}] {key}: done earlier ({record_file.name})', flush=True)
                continue
            used = time.perf_counter() - clock
            if limit is not None and slowest is not None and used + slowest > limit:
                stopped = {
                    'reason': 'walltime',
                    'message': f'{used:.0f} s used of max_wall_s={limit:g} s, and a structure has taken up to '
                    f'{slowest:.0f} s',
                }
                break
            entry['status'] = 'interrupted'
            print(f'[{index + 1}/{len(keys)}] {key} ({entry["formula"]}, {len(atoms)} atoms): phonons', flush=True)
            start = time.perf_counter()
            try:
                result = lam_phonons(atoms, evaluator, **settings)
                constants = result.force_constant_arrays()
                error = None
            except Exception as exc:  # noqa: BLE001 - one failed structure must not lose the others
                if is_out_of_memory(exc):
                    message = f'{type(exc).__name__}: {exc}'
                    stopped = {'reason': 'memory', 'message': f'{key}: {message}'}
                    print(f'  out of memory: {message}', flush=True)
                    break
                result = None
                error = str(exc) if isinstance(exc, HydridesInputError) else f'{type(exc).__name__}: {exc}'
            wall = time.perf_counter() - start
            slowest = max(slowest or 0.0, wall)
            record = _phonon_record(key, atoms, result, error, wall)
            state['writing'] = True
            if result is not None:
                _write_atomically(folder / f'{key}.npz', _save_npz, constants)
            _write_atomically(record_file, _save_json, record)
            state['writing'] = False
            entry.update(record, status='failed' if error else 'finished')
            if error:
                print(f'  failed: {error}', flush=True)
            else:
                print(
                    f'  {"pass" if result.passed else "FAIL"}: largest imaginary {result.max_imaginary_thz:.3f} THz, '
                    f'supercell {result.supercell_matrix}, {result.n_displacements} displacements, {wall:.1f} s',
                    flush=True,
                )
            if state['pending']:
                raise WorkerStopped(state['pending'])
    except WorkerStopped as exc:
        stopped = {'reason': 'signal', 'message': f'stopped by {exc}'}
    finally:
        state['writing'] = False
        _stop_on_signals(None)  # what finished is written even if the scheduler insists
    try:
        unfinished = [entry['key'] for entry in entries if entry['status'] in ('interrupted', 'not_started')]
        if stopped:
            print(
                f'stopped early ({stopped["reason"]}: {stopped["message"]}); not finished: {", ".join(unfinished)}',
                flush=True,
            )

        def column(name):
            return np.array([entry.get(name, np.nan) if entry['status'] == 'finished' else np.nan for entry in entries])

        np.savez(
            output,
            keys=np.array(keys, dtype=str),
            status=np.array([entry['status'] for entry in entries], dtype='U16'),
            max_imaginary_thz=column('max_imaginary_thz'),
            min_frequency_thz=column('min_frequency_thz'),
            max_frequency_thz=column('max_frequency_thz'),
            passed=np.array([bool(entry.get('passed', False)) for entry in entries]),
        )
        statuses = [entry['status'] for entry in entries]
        return {
            'command': 'phonons',
            'model': str(args.model),
            'model_type_map': list(evaluator.type_map or []),
            'head': head,
            'compressed': bool(getattr(evaluator, 'compressed', False)),
            'settings': settings,
            'output_dir': str(folder),
            'n_structures': len(entries),
            'counts': {status: statuses.count(status) for status in dict.fromkeys(statuses)},
            'wall_s': time.perf_counter() - clock,
            'max_wall_s': limit,
            'structures': entries,
            'finished': [entry['key'] for entry in entries if entry['status'] == 'finished'],
            'failed': [entry['key'] for entry in entries if entry['status'] == 'failed'],
            'unfinished': unfinished,
            'stopped': stopped,
        }
    finally:
        _stop_on_signals(previous)


def run_deviation(args) -> dict:
    """The ``deviation`` sub-command: the model deviation of an ensemble on a batch of frames; returns the summary.

    ``--frames``: a structure batch (``.npz`` or ``.json``), or the ``samples.npz`` of a search (with
    ``frames='trajectory'`` or ``'both'`` its frames along the relaxations are used); a batch with a ``frame_kind``
    array is taken as it is. ``--output`` gets per frame the deviations, ``status``, ``chosen``, ``duplicate_of``,
    ``natoms``, ``formula`` and the batch's own per-frame arrays; ``--candidates`` (default ``candidates.npz`` beside
    the output) the chosen frames as a structure batch (see
    :func:`~aiida_hydrides.core.lam.deviation.deviation_report`). Every element of every frame must be in the type
    map of every model.
    """
    import numpy as np

    from .deviation import DEVIATION_PARAMETERS, deviation_report, deviation_settings_from_parameters
    from .errors import HydridesInputError, UnknownElementError
    from .model import check_model_file, configure_threads, load_model

    clock = time.perf_counter()
    settings, options = deviation_settings_from_parameters(_parameters(args, DEVIATION_PARAMETERS))
    models = [pathlib.Path(path) for path in args.models]
    if len(models) < 2:
        raise HydridesInputError(f'a model deviation needs an ensemble of at least 2 models, got {len(models)}')
    for path in models:
        check_model_file(path)
    arrays = read_batch(args.frames_file)
    numbers = [
        np.unique(np.asarray(arrays[key], dtype=np.int64)) for key in ('numbers', 'trajectory_numbers') if key in arrays
    ]
    head = options['head'] or getattr(args, 'head', None)

    def check_elements(path, type_map):
        from ase.data import chemical_symbols

        present = {chemical_symbols[int(z)] for part in numbers for z in part.tolist()}
        unknown = sorted(present - set(type_map))
        if unknown:
            raise UnknownElementError(
                f'the frames contain {", ".join(unknown)}, which the model {path.name} does not know; its type map is '
                f'{list(type_map)}'
            )

    from ..search.worker import read_type_map

    for path in models:  # before any model is loaded, where the file tells
        type_map = read_type_map(path)
        if type_map:
            check_elements(path, type_map)
    configure_threads(options['threads'])
    evaluators = [load_model(path, head=head, compress=options['compress']) for path in models]
    for path, evaluator in zip(models, evaluators):
        if evaluator.type_map:
            check_elements(path, evaluator.type_map)
    report = deviation_report(evaluators, arrays, settings)
    output = pathlib.Path(args.output)
    np.savez(output, **report['deviations'])
    candidates = pathlib.Path(args.candidates) if args.candidates else output.parent / 'candidates.npz'
    np.savez(candidates, **report['candidates'])
    from ..search.worker import file_md5

    summary = report['summary']
    summary.update(
        command='deviation',
        models=[
            {'name': path.name, 'md5': file_md5(path), 'type_map': list(e.type_map or [])}
            for path, e in zip(models, evaluators)
        ],
        head=head,
        compressed=[bool(getattr(e, 'compressed', False)) for e in evaluators],
        n_structures=summary['n_frames'],
        wall_s=time.perf_counter() - clock,
    )
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='hydrides-lam', description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest='command', required=True)

    def common(sub):
        sub.add_argument('--structures', required=True, help='structure batch (.npz or .json)')
        sub.add_argument('--model', required=True, help='DeePMD model file (.pth, .pt, .pb)')
        sub.add_argument('--head', default=None, help='head of a multi-head model')
        sub.add_argument('--parameters', default=None, help='JSON file of parameters (options override it)')
        sub.add_argument('--output', required=True, help='output .npz')
        sub.add_argument('--summary', default=None, help='summary JSON (default: OUTPUT with .json suffix)')
        sub.add_argument(
            '--error-file',
            default=None,
            help='where to write a JSON error report (default: lam_error.json beside OUTPUT)',
        )
        sub.add_argument('--threads', type=int, default=None, help='threads for the model (default 1)')

    relax = commands.add_parser('relax', help='batched variable-cell relaxation at a target pressure')
    common(relax)
    relax.add_argument('--pressure', dest='pressure_gpa', type=float, default=None, help='target pressure in GPa')
    relax.add_argument('--fmax', type=float, default=None, help='force tolerance in eV/Å (default 0.05)')
    relax.add_argument(
        '--stress-tol', dest='stress_tol_gpa', type=float, default=None, help='stress tolerance in GPa (default 0.5)'
    )
    relax.add_argument('--max-steps', type=int, default=None, help='step limit per structure (default 300)')
    relax.add_argument('--optimizer', choices=('lbfgs', 'fire'), default=None, help='optimizer (default lbfgs)')
    relax.add_argument('--batch-size', type=int, default=None, help='structures in flight (default: all)')

    phonons = commands.add_parser(
        'phonons', help='finite-displacement phonons of each structure and the imaginary-mode rule (resumable)'
    )
    common(phonons)
    phonons.add_argument(
        '--output-dir',
        dest='output_dir',
        default=None,
        help='folder of the per-structure results KEY.json and KEY.npz (default: phonons beside OUTPUT); structures '
        'whose KEY.json is there already are skipped',
    )
    phonons.add_argument(
        '--supercell', type=int, nargs=3, default=None, help='supercell repetitions (default: auto, see the docs)'
    )
    phonons.add_argument(
        '--supercell-min-length',
        dest='supercell_min_length',
        type=float,
        default=None,
        help='smallest supercell width in Å of the automatic supercell (default 6.0)',
    )
    phonons.add_argument('--mesh', type=int, nargs=3, default=None, help='q-point mesh (default 8 8 8)')
    phonons.add_argument(
        '--threshold',
        dest='imaginary_threshold_thz',
        type=float,
        default=None,
        help='largest tolerated imaginary frequency in THz (default 3.0)',
    )
    phonons.add_argument(
        '--max-wall',
        dest='max_wall_s',
        type=float,
        default=None,
        help='seconds from the start after which no further structure is started',
    )

    deviation = commands.add_parser(
        'deviation', help='model deviation of an ensemble on a batch of frames, and the candidates to label'
    )
    deviation.add_argument(
        '--frames', dest='frames_file', required=True, help='frames: a structure batch or a search samples.npz'
    )
    deviation.add_argument('--models', required=True, nargs='+', help='the DeePMD model files of the ensemble (>= 2)')
    deviation.add_argument('--head', default=None, help='head of multi-head models (the same for every model)')
    deviation.add_argument('--parameters', default=None, help='JSON file of parameters (options override it)')
    deviation.add_argument('--output', required=True, help='output .npz of the per-frame deviations')
    deviation.add_argument(
        '--candidates',
        default=None,
        help='output .npz of the chosen candidates (default: candidates.npz beside OUTPUT)',
    )
    deviation.add_argument('--summary', default=None, help='summary JSON (default: OUTPUT with .json suffix)')
    deviation.add_argument(
        '--error-file', default=None, help='where to write a JSON error report (default: lam_error.json beside OUTPUT)'
    )
    deviation.add_argument('--threads', type=int, default=None, help='threads for the models (default 1)')
    deviation.add_argument('--f-trust-lo', dest='f_trust_lo', type=float, default=None, help='eV/Å (default 0.05)')
    deviation.add_argument('--f-trust-hi', dest='f_trust_hi', type=float, default=None, help='eV/Å (default 0.30)')
    deviation.add_argument(
        '--max-candidates', dest='max_candidates', type=int, default=None, help='at most this many candidates'
    )

    from ..search.worker import add_search_parser

    add_search_parser(commands)
    return parser


def main(argv=None) -> int:
    """Entry point of ``hydrides-lam``."""
    args = build_parser().parse_args(argv)
    output = pathlib.Path(args.output)
    error_file = pathlib.Path(args.error_file) if args.error_file else output.parent / 'lam_error.json'
    summary_file = pathlib.Path(args.summary) if args.summary else output.with_suffix('.json')
    from .threads import configure_threads

    configure_threads(args.threads)  # before deepmd is imported
    from ..errors import CompositionRuleError
    from ..search.worker import AtomBudgetError, run_search_command
    from .errors import HydridesInputError, LamModelError, UnknownElementError

    commands = {'relax': run_relax, 'phonons': run_phonons, 'search': run_search_command, 'deviation': run_deviation}
    try:
        summary = commands[args.command](args)
    except Exception as exc:  # noqa: BLE001 - the known kinds below are reported, anything else is raised again
        if is_out_of_memory(exc):
            kind, code = 'memory', EXIT_MEMORY_ERROR
        elif isinstance(exc, LamModelError):
            kind, code = 'model', EXIT_MODEL_ERROR
        elif isinstance(exc, UnknownElementError):
            kind, code = 'element', EXIT_ELEMENT_ERROR
        elif isinstance(exc, CompositionRuleError):
            kind, code = 'composition', EXIT_COMPOSITION_ERROR
        elif isinstance(exc, AtomBudgetError):
            kind, code = 'budget', EXIT_BUDGET_ERROR
        elif isinstance(exc, (HydridesInputError, json.JSONDecodeError, TypeError)):
            kind, code = 'input', EXIT_INPUT_ERROR
        else:
            raise
        error_file.write_text(json.dumps({'error': kind, 'message': str(exc)}, indent=2) + '\n')
        print(f'Error: {exc}', file=sys.stderr)
        return code
    summary_file.write_text(json.dumps(summary, indent=2, default=_json_default) + '\n')
    stopped = summary.get('stopped')
    if stopped:  # partial results: the error file tells why, and what is left
        report = {
            'error': stopped['reason'],
            'message': stopped['message'],
            'partial': True,
            'unfinished': summary.get('unfinished', []),
        }
        error_file.write_text(json.dumps(report, indent=2) + '\n')
        print(f'Stopped early ({stopped["reason"]}): {stopped["message"]}', file=sys.stderr)
        return EXIT_MEMORY_ERROR if stopped['reason'] == 'memory' else EXIT_STOPPED
    counts = summary.get('counts')
    print(f'hydrides-lam {args.command}: {summary["n_structures"]} structures' + (f', {counts}' if counts else ''))
    return 0


def _json_default(value):
    if hasattr(value, 'tolist'):
        return value.tolist()
    if hasattr(value, 'item'):
        return value.item()
    raise TypeError(f'cannot serialise {type(value).__name__}')


if __name__ == '__main__':
    sys.exit(main())
