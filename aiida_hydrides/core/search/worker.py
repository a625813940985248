"""``hydrides-lam search``: structure searches of several compositions with one DeePMD model, in one process.

Input: a JSON list of compositions (formulas such as ``"CaYH12"`` or element -> count objects such as
``{"Ca": 1, "Y": 1, "H": 12}``; each is searched with its reduced formula as the formula unit), the model file and
a JSON object of parameters (the fields of :class:`~aiida_hydrides.core.search.engine.SearchSettings` plus
``window_mev``, ``head``, ``threads``, ``rules``, ``compress``, ``precision`` (``float64`` by default, see
:mod:`aiida_hydrides.core.lam.compress`) and ``max_wall_s``).

Output:

- ``--output`` (``samples.npz``): EVERY relaxed structure of every composition in the batch layout of
  :mod:`aiida_hydrides.core.lam.batch` (``numbers``, ``positions``, ``cells``, ``offsets``, ``pbc``), the starting
  structures (``initial_positions``, ``initial_cells``), and per structure ``composition_index``, ``formula``,
  ``local_index`` (relaxation number within its composition), ``enthalpy_per_atom`` (eV/atom), ``energy`` (eV),
  ``volume`` (Å³), ``flag``, ``generation``, ``origin``, ``n_steps``, ``natoms`` and ``duplicate_of`` (index, in this
  file, of the earlier structure it repeats; -1 for distinct or unusable ones); plus ``composition_formulas`` (one
  entry per composition); with ``trajectory_every`` > 0, also the frames along the relaxations (``trajectory_*``
  arrays, ``trajectory_sample`` indexing this file, see :meth:`~aiida_hydrides.core.search.result.SearchResult.arrays`);
- ``--minima`` (``minima.npz``): the distinct minima within ``window_mev`` (default 100 meV/atom) above the best
  enthalpy of each composition, lowest first per composition, in the same batch layout, with ``composition_index``,
  ``formula``, ``sample_index`` (index in ``samples.npz``), ``rank`` (0 = best of its composition),
  ``enthalpy_per_atom``, ``relative_mev``, ``space_group_number``, ``space_group_symbol``, ``natoms``,
  ``generation``, ``origin``, ``flag`` and ``duplicates``;
- ``--summary`` (JSON): per composition the best enthalpy and space group, the number of relaxations, counts per
  outcome and origin, the number of distinct minima, timing and a status (``finished``, ``failed`` with the error,
  or, when the worker stopped early, ``interrupted`` / ``not_started``); plus the settings, the model, ``stopped``
  (``null``, or the reason and message of an early stop) and ``unfinished`` (the formulas to search again).

Stopping early keeps what finished. With ``max_wall_s`` (seconds from the worker's start) the worker does not start
a composition once the time used plus the longest composition so far would exceed it (the first composition is
always started); SIGTERM or SIGINT (a scheduler's notice before its walltime kill) interrupts the composition in
progress; an out-of-memory error (``MemoryError``, or a torch allocation failure) stops after the composition that
hit it. In each case the files above are written for the finished compositions, and ``hydrides-lam`` writes the
error file with kind ``walltime``, ``signal`` or ``memory`` and ``"partial": true`` (see
:func:`aiida_hydrides.core.lam.worker.main`).

Every composition is checked before any compute: unknown element (exit 3), malformed composition or one that breaks
the composition rules (exit 5), a formula unit larger than ``max_atoms`` (exit 6), an element outside the model's
type map (exit 3), an unusable model (exit 2). A search that fails later (for instance no random structure fits the
distance limits) is recorded as ``failed`` for its composition and the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import time

from ..errors import CompositionRuleError, HydridesInputError, UnknownElementError
from ..lam.compress import COMPRESS_BY_DEFAULT, PRECISIONS, SEARCH_PRECISION, file_digest
from ..lam.model_definition import stored_list_values

__all__ = (
    'AtomBudgetError',
    'WORKER_PARAMETERS',
    'SEARCH_FIELDS',
    'SEARCH_PARAMETERS',
    'settings_from_parameters',
    'settings_to_json',
    'check_composition',
    'check_compositions',
    'read_type_map',
    'file_md5',
    'run_search_command',
    'add_search_parser',
)

#: Parameters of ``hydrides-lam search`` that are not :class:`SearchSettings` fields.
WORKER_PARAMETERS = ('window_mev', 'head', 'threads', 'rules', 'compress', 'precision', 'max_wall_s')
# SEARCH_FIELDS (the fields of SearchSettings, derived from the dataclass in .engine) and SEARCH_PARAMETERS
# (SEARCH_FIELDS + WORKER_PARAMETERS: every accepted name) are loaded on first use, see __getattr__: this module must
# import nothing heavy, since ``hydrides-lam`` builds its parser before it configures the threads.
DEFAULT_WINDOW_MEV = 100.0


class AtomBudgetError(HydridesInputError):
    """A composition whose formula unit has more atoms than the atom budget ``max_atoms``."""


def _pair_key(key) -> tuple[str, str]:
    if isinstance(key, str):
        parts = [part for part in re.split(r'[-,\s]+', key) if part]
    else:
        parts = list(key)
    if len(parts) != 2:
        raise HydridesInputError(f"min_pairs keys are element pairs such as 'La-H', got {key!r}")
    return str(parts[0]), str(parts[1])


def settings_from_parameters(parameters: dict | None):
    """Split ``parameters`` (names of :data:`SEARCH_PARAMETERS`) into validated :class:`SearchSettings` and the worker
    options (``window_mev``, ``head``, ``threads``, ``rules``, ``compress``, ``precision``, ``max_wall_s``). JSON forms are
    accepted: ``space_groups`` as a list, ``min_pairs`` as ``{"La-H": 1.6}`` or ``[["La", "H", 1.6]]``. The plain
    types of the fields come from the dataclass (:func:`~aiida_hydrides.core.settings.split_parameters`), their
    ranges from :meth:`SearchSettings.validated`.

    Raises :class:`HydridesInputError` for unknown names or bad values.
    """
    from ..settings import split_parameters
    from .engine import SearchSettings

    params, options = split_parameters(SearchSettings, parameters, WORKER_PARAMETERS, unchecked=('pressure_gpa',))
    if 'space_groups' in params:
        groups = params['space_groups']
        if isinstance(groups, (str, bytes)) or not hasattr(groups, '__iter__'):
            raise HydridesInputError(f'space_groups must be a list of space-group numbers, got {groups!r}')
        try:
            params['space_groups'] = tuple(int(number) for number in groups)
        except (TypeError, ValueError) as exc:
            raise HydridesInputError(f'space_groups must be a list of space-group numbers, got {groups!r}') from exc
    if params.get('formula_units') is not None:
        from .generator import check_formula_units

        params['formula_units'] = check_formula_units(params['formula_units'])
    if 'min_pairs' in params:
        pairs = params['min_pairs']
        if isinstance(pairs, dict):
            try:
                params['min_pairs'] = {_pair_key(key): float(value) for key, value in pairs.items()}
            except (TypeError, ValueError) as exc:
                raise HydridesInputError(f'min_pairs distances must be numbers in Å, got {pairs!r}') from exc
        elif isinstance(pairs, (list, tuple)):
            try:
                params['min_pairs'] = {(str(a), str(b)): float(d) for a, b, d in pairs}
            except (TypeError, ValueError) as exc:
                raise HydridesInputError(f'min_pairs must be {{"A-B": distance}} or [[A, B, distance]]: {exc}') from exc
        else:
            raise HydridesInputError(f'min_pairs must be {{"A-B": distance}} or [[A, B, distance]], got {pairs!r}')
    if 'operator_weights' in params and not isinstance(params['operator_weights'], dict):
        raise HydridesInputError(f'operator_weights must map operators to weights, got {params["operator_weights"]!r}')
    settings = SearchSettings(**params).validated()
    window = options.get('window_mev', DEFAULT_WINDOW_MEV)
    if window is None:
        window = DEFAULT_WINDOW_MEV
    if isinstance(window, (bool, str)) or not isinstance(window, (int, float)) or not window >= 0:
        raise HydridesInputError(f'window_mev must be a number >= 0 (meV/atom), got {window!r}')
    options['window_mev'] = float(window)
    limit = options.get('max_wall_s')
    if limit is not None and (isinstance(limit, (bool, str)) or not isinstance(limit, (int, float)) or not limit > 0):
        raise HydridesInputError(f'max_wall_s must be a number of seconds > 0, got {limit!r}')
    precision = options.get('precision')
    if precision is None:
        precision = SEARCH_PRECISION
    if precision not in PRECISIONS:
        raise HydridesInputError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    options['precision'] = precision
    rules = options.get('rules')
    if rules is not None:
        from ..compositions import CompositionRules

        if not isinstance(rules, dict):
            raise HydridesInputError(f'rules must be an object of CompositionRules fields, got {rules!r}')
        try:
            options['rules'] = CompositionRules(**rules)
        except TypeError as exc:
            raise HydridesInputError(f'bad composition rules {rules!r}: {exc}') from exc
    return settings, options


def __getattr__(name):
    if name == 'SEARCH_FIELDS':
        from .engine import SEARCH_FIELDS

        return SEARCH_FIELDS
    if name == 'SEARCH_PARAMETERS':
        from .engine import SEARCH_FIELDS

        return SEARCH_FIELDS + WORKER_PARAMETERS
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def settings_to_json(settings) -> dict:
    """The settings as a JSON-serialisable dictionary (``min_pairs`` keys written ``'A-B'``, space groups as a list
    or, when they are the default 2-230, as ``'2-230'``)."""
    data = dataclasses.asdict(settings)
    data['min_pairs'] = {f'{a}-{b}': value for (a, b), value in dict(settings.min_pairs).items()}
    groups = list(settings.space_groups)
    data['space_groups'] = '2-230' if groups == list(range(2, 231)) else groups
    data['operator_weights'] = dict(settings.operator_weights)
    return data


def check_composition(item, max_atoms: int | None = None, rules=None, formula_units=None):
    """Parse one composition (a formula or an element -> count mapping) and check it; return the reduced
    :class:`~aiida_hydrides.core.compositions.Composition`.

    Ternary hydrides A_mB_nH_x must obey ``rules`` (default: the enumeration rules, 1 <= m, n <= 4 and
    3(m+n) <= x <= 10(m+n), checked on the reduced formula); binary hydrides the reference rules (1 <= H/A <= 10, at
    most 4 A per formula unit); alloys at most 4 of each element; elements are always accepted; nothing with more
    than two elements besides hydrogen. With ``max_atoms``, the formula unit must fit in it, and with
    ``formula_units`` (allowed formula units per cell) the smallest allowed cell must fit in it.

    :raises UnknownElementError: an unknown element symbol.
    :raises CompositionRuleError: malformed input or a composition that breaks the rules.
    :raises AtomBudgetError: a formula unit larger than ``max_atoms``.
    """
    from ..compositions import DEFAULT_REFERENCE_RULES, DEFAULT_RULES, Composition, parse_formula

    if isinstance(item, str):
        composition = parse_formula(item)
    elif isinstance(item, dict):
        composition = Composition(item)
    else:
        raise CompositionRuleError(f'a composition is a formula such as "CaYH12" or an object of counts, got {item!r}')
    reduced = composition.reduced()
    partners = reduced.partners
    if len(partners) > 2:
        raise CompositionRuleError(
            f"'{composition.formula}' has {len(partners)} elements besides hydrogen; at most two are searched"
        )
    if len(partners) == 2 and reduced.x:
        (rules or DEFAULT_RULES).check_composition(reduced)
    elif len(partners) == 1 and reduced.x:
        allowed = {comp.formula for comp in DEFAULT_REFERENCE_RULES.hydrides(partners[0])}
        if reduced.formula not in allowed:
            raise CompositionRuleError(
                f"'{composition.formula}' breaks the rules of binary hydrides A_kH_y: 1 <= k <= "
                f'{DEFAULT_REFERENCE_RULES.max_hydride_k} and {DEFAULT_REFERENCE_RULES.min_hydride_ratio:g} <= y/k <= '
                f'{DEFAULT_REFERENCE_RULES.max_hydride_ratio:g} (reduced formula)'
            )
    elif len(partners) == 2:
        limit = DEFAULT_REFERENCE_RULES.max_alloy_k
        if max(reduced.m, reduced.n) > limit:
            raise CompositionRuleError(
                f"'{composition.formula}' breaks the rules of alloys A_kB_l: 1 <= k, l <= {limit} (reduced formula)"
            )
    if max_atoms is not None and reduced.num_atoms > max_atoms:
        raise AtomBudgetError(
            f'the atom budget max_atoms={max_atoms} is smaller than one formula unit of {reduced.formula} '
            f'({reduced.num_atoms} atoms); raise max_atoms or leave this composition out'
        )
    if max_atoms is not None and formula_units is not None:
        from .generator import check_formula_units

        units = check_formula_units(formula_units)
        if min(units) * reduced.num_atoms > max_atoms:
            raise AtomBudgetError(
                f'{reduced.formula} has {reduced.num_atoms} atoms per formula unit: none of formula_units='
                f'{list(units)} fits the atom budget max_atoms={max_atoms}; raise '
                f'max_atoms, allow fewer formula units or leave this composition out'
            )
    return reduced


def check_compositions(items, max_atoms: int | None = None, rules=None, formula_units=None) -> list:
    """Check a list of compositions (see :func:`check_composition`); the reduced formulas must all differ."""
    if isinstance(items, (str, dict)) or not isinstance(items, (list, tuple)):
        raise CompositionRuleError(f'the compositions must be a list of formulas, got {items!r}')
    if not items:
        raise CompositionRuleError('the list of compositions is empty')
    compositions, seen = [], {}
    for item in items:
        try:
            reduced = check_composition(item, max_atoms, rules, formula_units)
        except CompositionRuleError as exc:
            text = item if isinstance(item, str) else json.dumps(item)
            if text in str(exc):
                raise
            raise type(exc)(f'{text}: {exc}') from exc
        if reduced.formula in seen:
            raise CompositionRuleError(
                f'{item!r} and {seen[reduced.formula]!r} are the same composition ({reduced.formula}); give it once'
            )
        seen[reduced.formula] = item
        compositions.append(reduced)
    return compositions


def read_type_map(path: str | os.PathLike) -> list[str] | None:
    """The type map of a frozen DeePMD PyTorch model (``.pth``) read from its model definition, without loading
    torch or deepmd; ``None`` when it cannot be read that way (other formats, several different type maps)."""
    found = stored_list_values(path, 'type_map')
    if not found or len(found) != 1:
        return None
    return list(found[0])


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file (a content fingerprint, not security)."""
    return file_digest(path, 'md5')


def _read_compositions(path) -> list:
    path = pathlib.Path(path)
    if not path.exists():
        raise HydridesInputError(f'compositions file not found: {path}')
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HydridesInputError(f'the compositions file {path} is not valid JSON: {exc}') from exc


def _check_type_map(compositions, type_map) -> None:
    if type_map is None:
        return
    known = set(type_map)
    for composition in compositions:
        unknown = [symbol for symbol in composition.elements if symbol not in known]
        if unknown:
            raise UnknownElementError(
                f'{composition.formula} contains {", ".join(unknown)}, which the model does not know; its type map '
                f'is {list(type_map)}'
            )


def _pack_search(results, compositions):
    """Samples and minima arrays of all searches (``results``: composition index -> (SearchResult, minima))."""
    import numpy as np

    from ..lam.batch import pack_structures

    sample_parts, minima_atoms, minima_rows = [], [], []
    start = 0
    starts = {}
    for index, (result, minima) in results.items():
        arrays = result.arrays()
        count = len(result)
        starts[index] = start
        duplicate = arrays['duplicate_of']
        arrays['duplicate_of'] = np.where(duplicate >= 0, duplicate + start, -1)
        arrays['composition_index'] = np.full(count, index, dtype=np.int64)
        arrays['formula'] = np.array([compositions[index].formula] * count, dtype='U32')
        arrays['local_index'] = np.arange(count, dtype=np.int64)
        if 'trajectory_sample' in arrays:  # frames along the relaxations: indices into this file
            arrays['trajectory_sample'] = arrays['trajectory_sample'] + start
        sample_parts.append(arrays)
        for rank, minimum in enumerate(minima):
            minima_atoms.append(minimum.atoms)
            minima_rows.append(
                dict(
                    composition_index=index,
                    formula=compositions[index].formula,
                    sample_index=start + minimum.index,
                    rank=rank,
                    enthalpy_per_atom=minimum.enthalpy_per_atom,
                    relative_mev=minimum.relative_mev,
                    space_group_number=minimum.space_group_number,
                    space_group_symbol=minimum.space_group_symbol,
                    natoms=minimum.natoms,
                    generation=minimum.generation,
                    origin=minimum.origin,
                    flag=minimum.flag,
                    duplicates=minimum.duplicates,
                )
            )
        start += count

    samples = _concatenate_samples(sample_parts)
    samples['composition_formulas'] = np.array([c.formula for c in compositions], dtype='U32')
    minima = pack_structures(minima_atoms)
    dtypes = {
        'composition_index': np.int64,
        'formula': 'U32',
        'sample_index': np.int64,
        'rank': np.int64,
        'enthalpy_per_atom': float,
        'relative_mev': float,
        'space_group_number': np.int64,
        'space_group_symbol': 'U16',
        'natoms': np.int64,
        'generation': np.int64,
        'origin': 'U16',
        'flag': 'U16',
        'duplicates': np.int64,
    }
    for key, dtype in dtypes.items():
        minima[key] = np.array([row[key] for row in minima_rows], dtype=dtype)
    minima['composition_formulas'] = samples['composition_formulas']
    return samples, minima, starts


def _concatenate_samples(parts):
    import numpy as np

    if not parts:
        empty_int, empty_float = np.zeros(0, np.int64), np.zeros(0)
        return {
            'numbers': empty_int,
            'positions': np.zeros((0, 3)),
            'cells': np.zeros((0, 3, 3)),
            'offsets': np.zeros(1, np.int64),
            'pbc': np.zeros((0, 3), bool),
            'initial_positions': np.zeros((0, 3)),
            'initial_cells': np.zeros((0, 3, 3)),
            'enthalpy_per_atom': empty_float,
            'energy': empty_float,
            'volume': empty_float,
            'flag': np.zeros(0, 'U16'),
            'generation': empty_int,
            'origin': np.zeros(0, 'U16'),
            'n_steps': empty_int,
            'duplicate_of': empty_int,
            'natoms': empty_int,
            'composition_index': empty_int,
            'formula': np.zeros(0, 'U32'),
            'local_index': empty_int,
        }
    samples = {}
    for key in parts[0]:
        if key in ('offsets', 'trajectory_offsets'):
            continue
        samples[key] = np.concatenate([part[key] for part in parts])
    if 'trajectory_offsets' in parts[0]:
        sizes = np.concatenate([np.diff(part['trajectory_offsets']) for part in parts])
        samples['trajectory_offsets'] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    natoms = samples['natoms']
    offsets = np.zeros(len(natoms) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(natoms)
    samples['offsets'] = offsets
    samples['pbc'] = np.ones((len(natoms), 3), dtype=bool)
    return samples


#: statuses of the compositions that a stopped worker did not finish (to search again)
UNFINISHED = ('interrupted', 'not_started')


class WorkerStopped(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT: the scheduler's notice before it kills the job (not an
    ``Exception``, so that the per-composition error handling does not swallow it)."""


def _raise_stop(signum, _frame):
    import signal

    raise WorkerStopped(signal.Signals(signum).name)


def _stop_on_signals(handler):
    """Set the handler of SIGTERM and SIGINT (``None``: ignore them; a dict from an earlier call: restore those);
    return the previous handlers. Outside the main thread nothing changes."""
    import signal

    previous = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        new = handler.get(number, signal.SIG_DFL) if isinstance(handler, dict) else handler or signal.SIG_IGN
        try:
            previous[number] = signal.signal(number, new)
        except (ValueError, OSError):  # not the main thread
            pass
    return previous


def run_search_command(args) -> dict:
    """The ``search`` sub-command of ``hydrides-lam``; returns the summary (checks everything before any compute)."""
    import numpy as np

    from ..lam.errors import LamModelError
    from ..lam.model import check_model_file, load_model
    from ..lam.threads import configure_threads
    from ..lam.worker import is_out_of_memory
    from .engine import run_search
    from .generator import formula_unit

    clock = time.perf_counter()
    params = {}
    if args.parameters:
        path = pathlib.Path(args.parameters)
        if not path.exists():
            raise HydridesInputError(f'parameters file not found: {path}')
        params = json.loads(path.read_text())
        if not isinstance(params, dict):
            raise HydridesInputError(f'the parameters file {path} must hold a JSON object')
    for name in ('pressure_gpa', 'budget', 'window_mev', 'seed', 'max_atoms', 'max_wall_s'):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    settings, options = settings_from_parameters(params)
    compositions = check_compositions(
        _read_compositions(args.compositions), settings.max_atoms, options.get('rules'), settings.formula_units
    )
    check_model_file(args.model)
    configure_threads(options.get('threads'))
    head = args.head or options.get('head')
    type_map = read_type_map(args.model)
    _check_type_map(compositions, type_map)  # before the model is loaded, when the file tells
    evaluator = load_model(
        args.model,
        head=head,
        compress=bool(options.get('compress', COMPRESS_BY_DEFAULT)),
        precision=options['precision'],
    )
    if not getattr(evaluator, 'type_map', None):
        raise LamModelError(f'{args.model} has no type map')
    _check_type_map(compositions, evaluator.type_map)

    window, limit = options['window_mev'], options.get('max_wall_s')
    entries = [
        {
            'index': index,
            'formula': composition.formula,
            'formula_unit': formula_unit(composition),
            'status': 'not_started',
            'error': None,
            'n_relaxations': 0,
        }
        for index, composition in enumerate(compositions)
    ]
    results, stopped, spare = {}, None, 0
    total_start = time.perf_counter()
    previous = _stop_on_signals(_raise_stop)
    try:
        for index, composition in enumerate(compositions):
            entry = entries[index]
            used = time.perf_counter() - clock
            longest = max((item['wall_s'] for item in entries[:index]), default=0.0)
            if limit is not None and index and used + longest > limit:
                stopped = {
                    'reason': 'walltime',
                    'message': f'{used:.0f} s used of max_wall_s={limit:g} s, and a '
                    f'composition has taken up to {longest:.0f} s',
                }
                break
            start = time.perf_counter()
            entry['status'] = 'interrupted'
            print(f'[{index + 1}/{len(compositions)}] {composition.formula}: searching', flush=True)
            # budget left by compositions that stagnated goes to the ones after them, in equal shares
            bonus = spare // (len(compositions) - index)
            spare -= bonus
            budget = settings.budget + bonus
            entry['budget'] = budget
            try:
                result = run_search(composition, evaluator, dataclasses.replace(settings, budget=budget))
                if result.stop_reason == 'stagnated':
                    spare += budget - len(result)
                minima = result.minima(window_mev=window)
            except Exception as exc:  # noqa: BLE001 - one failed composition must not lose the others
                message = str(exc) if isinstance(exc, HydridesInputError) else f'{type(exc).__name__}: {exc}'
                entry.update(error=message, wall_s=time.perf_counter() - start)
                if is_out_of_memory(exc):
                    stopped = {'reason': 'memory', 'message': f'{composition.formula}: {message}'}
                    print(f'  out of memory: {message}', flush=True)
                    break
                entry['status'] = 'failed'
                print(f'  failed: {message}', flush=True)
                continue
            wall = time.perf_counter() - start
            results[index] = (result, minima)
            best = minima[0] if minima else None
            entry.update(
                status='finished',
                best_enthalpy_per_atom=best.enthalpy_per_atom if best else None,
                best_space_group_number=best.space_group_number if best else None,
                best_space_group_symbol=best.space_group_symbol if best else None,
                best_natoms=best.natoms if best else None,
                best_local_index=best.index if best else None,
                n_relaxations=len(result),
                n_generations=len(result.generation_sizes),
                stop_reason=result.stop_reason,
                counts=result.counts('flags'),
                origins=result.counts('origins'),
                n_usable=int(np.count_nonzero(result.usable())),
                n_distinct=len(result.distinct()),
                n_minima=len(minima),
                minima=[m.as_dict() for m in minima],
                wall_s=wall,
                relaxations_per_s=len(result) / wall if wall > 0 else None,
            )
            print(
                f'  {len(result)} relaxations in {wall:.1f} s; '
                + (
                    f'best {best.enthalpy_per_atom:.5f} eV/atom ({best.space_group_symbol}), {len(minima)} minima'
                    if best
                    else 'no usable relaxation'
                ),
                flush=True,
            )
    except WorkerStopped as exc:
        stopped = {'reason': 'signal', 'message': f'stopped by {exc}'}
    finally:
        _stop_on_signals(None)  # what finished is written even if the scheduler insists
    try:
        wall = time.perf_counter() - total_start
        unfinished = [entry['formula'] for entry in entries if entry['status'] in UNFINISHED]
        if stopped:
            print(
                f'stopped early ({stopped["reason"]}: {stopped["message"]}); not finished: {", ".join(unfinished)}',
                flush=True,
            )

        samples, minima, starts = _pack_search(results, compositions)
        for entry in entries:
            start = starts.get(entry['index'])
            entry['sample_start'] = start
            entry['sample_stop'] = None if start is None else start + entry['n_relaxations']
            if start is not None and entry.get('best_local_index') is not None:
                entry['best_sample_index'] = start + entry['best_local_index']
        output = pathlib.Path(args.output)
        np.savez_compressed(output, **samples)
        minima_path = pathlib.Path(args.minima) if args.minima else output.parent / 'minima.npz'
        np.savez_compressed(minima_path, **minima)
        flags = [str(flag) for flag in samples['flag']]
        return {
            'command': 'search',
            'model': pathlib.Path(args.model).name,
            'model_md5': file_md5(args.model),
            'model_type_map': list(evaluator.type_map),
            'head': head,
            'compressed': bool(getattr(evaluator, 'compressed', False)),
            'precision': getattr(evaluator, 'precision', 'float64'),
            'settings': settings_to_json(settings),
            'window_mev': window,
            'n_compositions': len(compositions),
            'n_structures': len(flags),
            'n_minima': int(len(minima['offsets']) - 1),
            'counts': {flag: flags.count(flag) for flag in dict.fromkeys(flags)},
            'n_failed': sum(entry['status'] == 'failed' for entry in entries),
            'wall_s': wall,
            'relaxations_per_s': len(flags) / wall if wall > 0 else None,
            'compositions': entries,
            'max_wall_s': limit,
            'stopped': stopped,
            'unfinished': unfinished,
        }
    finally:
        _stop_on_signals(previous)


def add_search_parser(commands) -> None:
    """Add the ``search`` sub-command to the ``hydrides-lam`` argument parser."""
    search = commands.add_parser('search', help='structure searches of several compositions (samples, minima, summary)')
    search.add_argument(
        '--compositions', required=True, help='JSON list of compositions ("CaYH12" or {"Ca": 1, "Y": 1, "H": 12})'
    )
    search.add_argument('--model', required=True, help='DeePMD model file (.pth, .pt, .pb)')
    search.add_argument('--head', default=None, help='head of a multi-head model')
    search.add_argument(
        '--parameters', default=None, help='JSON file of SearchSettings fields plus window_mev, head, threads, rules'
    )
    search.add_argument('--output', required=True, help='output .npz of every sampled structure')
    search.add_argument(
        '--minima', default=None, help='output .npz of the distinct minima (default: minima.npz beside OUTPUT)'
    )
    search.add_argument('--summary', default=None, help='summary JSON (default: OUTPUT with .json suffix)')
    search.add_argument(
        '--error-file', default=None, help='where to write a JSON error report (default: lam_error.json beside OUTPUT)'
    )
    search.add_argument('--threads', type=int, default=None, help='threads for the model (default 1)')
    search.add_argument('--pressure', dest='pressure_gpa', type=float, default=None, help='target pressure in GPa')
    search.add_argument('--budget', type=int, default=None, help='relaxations per composition')
    search.add_argument('--max-atoms', dest='max_atoms', type=int, default=None, help='atom budget per cell')
    search.add_argument('--seed', type=int, default=None, help='random seed (the same for every composition)')
    search.add_argument(
        '--window',
        dest='window_mev',
        type=float,
        default=None,
        help='keep minima within this many meV/atom of the best (default 100)',
    )
    search.add_argument(
        '--max-wall',
        dest='max_wall_s',
        type=float,
        default=None,
        help='seconds from the start after which no further composition is started (the finished '
        'ones are written, the others listed as not started)',
    )
