"""Shared helpers for benchmark scripts: every result is one JSON file in benchmarks/results/."""

import json
import os
import pathlib
import platform
import subprocess

#: where results go; ``HYDRIDES_BENCHMARK_RESULTS`` redirects them (trial runs that must not replace committed figures)
RESULTS_DIR = pathlib.Path(
    os.environ.get('HYDRIDES_BENCHMARK_RESULTS') or pathlib.Path(__file__).resolve().parent / 'results'
)
REQUIRED = ('metric', 'value', 'unit', 'target', 'higher_is_better')


def machine_description() -> str:
    """A one-line description of the machine the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(
            next(
                line for line in pathlib.Path('/proc/meminfo').read_text().splitlines() if line.startswith('MemTotal')
            ).split()[1]
        )
        mem = f'{mem_kb / 1024**2:.0f} GiB'
    except (OSError, StopIteration, ValueError):
        mem = '? GiB'
    gpu = ''
    try:
        gpu = subprocess.run(
            ['nvidia-smi', '--query-gpu=name', '--format=csv,noheader'],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    text = f'{os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.system()} {platform.release()}'
    return f'{text}, GPU: {gpu}' if gpu else text


def command_line() -> str:
    """The command that runs this benchmark again: ``python benchmarks/<script>.py`` and its arguments."""
    import sys

    script = pathlib.Path(sys.argv[0]).resolve()
    root = pathlib.Path(__file__).resolve().parent.parent
    shown = script.relative_to(root) if script.is_relative_to(root) else script
    return ' '.join(['python', str(shown), *sys.argv[1:]])


def write_result(name: str, **fields) -> pathlib.Path:
    """Write ``benchmarks/results/<name>.json`` with the required keys plus any extra fields; return the path."""
    missing = [key for key in REQUIRED if key not in fields]
    if missing:
        raise ValueError(f'benchmark result {name!r} lacks {missing}')
    fields.setdefault('machine', machine_description())
    fields.setdefault('command', command_line())
    if isinstance(fields.get('model'), str) and 'model_md5' not in fields:
        fields['model_md5'] = model_md5(fields['model'])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f'{name}.json'
    path.write_text(json.dumps(fields, indent=2) + '\n')
    return path


def model_md5(model: str) -> str | None:
    """MD5 of a benchmark's model file, given as a path (absolute or from the repository root) or as the name of a
    file of ``aiida_hydrides/models/seed``; ``None`` when no such file exists. Results record it because the seed
    model's file name stays the same when it is retrained."""
    import sys

    root = pathlib.Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from aiida_hydrides.core.search.worker import file_md5

    for path in (pathlib.Path(model), root / model, root / 'aiida_hydrides' / 'models' / 'seed' / model):
        if path.is_file():
            return file_md5(path)
    return None


def pick_model(given=None):
    """The model of a LAM benchmark and its kind: ``given`` if set, else the committed seed model
    (``aiida_hydrides/models/seed/*.pth``), else the tiny test model; kind is ``given``, ``seed`` or ``tiny``."""
    root = pathlib.Path(__file__).resolve().parent.parent
    if given:
        return pathlib.Path(given), 'given'
    seeds = sorted((root / 'aiida_hydrides' / 'models' / 'seed').glob('*.pth'))
    if seeds:
        return seeds[0], 'seed'
    return root / 'tests' / 'data' / 'lam' / 'tiny_se_e2_a.pth', 'tiny'


def set_model_threads(threads: int) -> None:
    """Pin the DeePMD / PyTorch / BLAS thread counts; call before the model libraries are imported."""
    for name in ('OMP_NUM_THREADS', 'DP_INTRA_OP_PARALLELISM_THREADS'):
        os.environ[name] = str(threads)
    os.environ.update(
        {
            'DP_INTER_OP_PARALLELISM_THREADS': '1',
            'NUM_WORKERS': '0',
            'OPENBLAS_NUM_THREADS': '1',
            'MKL_NUM_THREADS': '1',
        }
    )


def load_json(path: pathlib.Path, what: str):
    """The content of the JSON file ``path`` (the ``what`` of the benchmark, named in the message); a missing or
    unreadable file raises :class:`aiida_hydrides.core.errors.HydridesInputError`."""
    from aiida_hydrides.core.errors import HydridesInputError

    if not path.is_file():
        raise HydridesInputError(f'the {what} {path} is missing')
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exception:
        raise HydridesInputError(f'cannot read the {what} {path}: {exception}') from None


def run_reporting_input_errors(run, args, describe) -> int:
    """``run(args)`` (which writes a result and returns its path), then print ``describe(path, result)``; an input
    error (:class:`~aiida_hydrides.core.errors.HydridesInputError`) is printed as ``Error: ...`` and gives exit
    status 1 instead of a traceback."""
    import sys

    from aiida_hydrides.core.errors import HydridesInputError

    try:
        path = run(args)
    except HydridesInputError as exception:
        print(f'Error: {exception}', file=sys.stderr)
        return 1
    print(describe(path, json.loads(path.read_text())))
    return 0
