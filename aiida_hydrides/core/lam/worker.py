"""``hydrides-lam``: the LAM worker, a long-lived-model process that relaxes or phonon-checks a batch of structures.

It reads one structure batch (``.npz`` with the compact arrays of :mod:`aiida_hydrides.core.lam.batch`, or the same
keys in a ``.json`` file), runs the batched relaxation or the LAM phonons with one DeePMD model, and writes an ``.npz``
with the results plus a JSON summary. Parameters come from ``--parameters params.json`` and/or command-line options
(options win). On bad input (not a DeePMD model, an element outside the type map, an invalid pressure) it writes
``{"error": kind, "message": ...}`` to the error file, prints ``Error: ...`` on stderr and exits with a non-zero code
(2 model, 3 element, 4 other input, 5 composition, 6 atom budget), before any compute. Out of memory (a
``MemoryError`` or a torch allocation failure) gives kind ``memory`` and exit code 8. A ``search`` that stops early
(its ``max_wall_s``, SIGTERM/SIGINT, out of memory) writes its results for the finished compositions and then the
error file with kind ``walltime``, ``signal`` or ``memory``, ``"partial": true`` and the ``unfinished`` formulas, and
exits with 7 (time or signal) or 8 (memory).

``search`` runs structure searches of several compositions (:mod:`aiida_hydrides.core.search.worker`): every
sampled structure goes to one ``.npz``, the distinct low-enthalpy minima to another, and a JSON summary.

Examples::

    hydrides-lam relax --structures batch.npz --model model.pth --pressure 200 --output relaxed.npz
    hydrides-lam phonons --structures one.npz --model model.pth --supercell 2 2 2 --mesh 8 8 8 --output ph.npz
    hydrides-lam search --compositions comps.json --model model.pth --parameters search.json --output samples.npz
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

#: Parameter names accepted in ``--parameters`` for ``phonons`` (all optional). Those of ``relax`` are
#: :data:`aiida_hydrides.core.lam.relax.RELAX_PARAMETERS` (derived from ``RelaxSettings``; imported lazily so that
#: this module loads nothing heavy before the threads are configured).
PHONON_PARAMETERS = (
    'supercell',
    'mesh',
    'displacement',
    'imaginary_threshold_thz',
    'head',
    'batch_size',
    'threads',
    'compress',
)


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


def run_phonons(args) -> dict:
    """The ``phonons`` sub-command; returns the summary."""
    import numpy as np

    from .batch import unpack_structures
    from .model import configure_threads, load_model
    from .phonons import lam_phonons

    params = _parameters(args, PHONON_PARAMETERS)
    structures = unpack_structures(read_batch(args.structures))
    configure_threads(params.pop('threads', None))
    evaluator = load_model(
        args.model, head=params.pop('head', None), compress=bool(params.pop('compress', COMPRESS_BY_DEFAULT))
    )
    evaluator.check_structures(structures)
    results = [lam_phonons(atoms, evaluator, **params) for atoms in structures]
    np.savez(
        args.output,
        max_imaginary_thz=np.array([r.max_imaginary_thz for r in results]),
        min_frequency_thz=np.array([r.min_frequency_thz for r in results]),
        passed=np.array([r.passed for r in results]),
    )
    return {
        'command': 'phonons',
        'model': str(args.model),
        'n_structures': len(results),
        'structures': [r.as_dict() for r in results],
    }


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

    phonons = commands.add_parser('phonons', help='finite-displacement phonons and the imaginary-mode rule')
    common(phonons)
    phonons.add_argument('--supercell', type=int, nargs=3, default=None, help='supercell repetitions (default 2 2 2)')
    phonons.add_argument('--mesh', type=int, nargs=3, default=None, help='q-point mesh (default 8 8 8)')
    phonons.add_argument(
        '--threshold',
        dest='imaginary_threshold_thz',
        type=float,
        default=None,
        help='largest tolerated imaginary frequency in THz (default 3.0)',
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

    commands = {'relax': run_relax, 'phonons': run_phonons, 'search': run_search_command}
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
