"""Inference copies of DeePMD models: compressed (``dp --pt compress``) and float32, made once and cached by the
model's content hash.

Compression tabulates the embedding networks of se_e2_a-type descriptors with fifth-order polynomials: the
compressed model gives the same energies, forces and virials (to about 1e-9 eV/atom for the seed model) at a
fraction of the cost of the forward and backward passes. A model that cannot be compressed (a checkpoint, a
TensorFlow graph, a descriptor without tabulation) is used as it is, with a warning.

A float32 copy (:func:`inference_model` with ``precision='float32'``) is the same model rebuilt by deepmd-kit from
the model definition stored in the frozen file, with ``precision`` float32 in the descriptor and the fitting network
and the weights rounded to float32; the output statistics (energy bias) stay float64. On the seed model it changes
energies by about 0.01 meV/atom and forces by about 2 meV/Å, far below the model's own error (tens of meV/atom,
hundreds of meV/Å), and a call costs up to a quarter less. It is not the search's default (:data:`SEARCH_PRECISION`):
near convergence the force changes between optimizer steps are of the size of float32 rounding, and L-BFGS then
needs more steps (the campaign benchmark, same searches, one thread: 7117 steps in float32 against 5849 in float64,
at the same cost per call), so a search in float32 takes longer and ends in other minima.

The cache is ``$HYDRIDES_MODEL_CACHE`` or ``~/.cache/aiida-hydrides/models``; entries are named by the SHA-256 of
the model file, the tabulation stride and the precision, so a changed model is converted again and concurrent workers
on one machine share one file (written to a temporary name and moved into place).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from .errors import LamModelError

LOGGER = logging.getLogger(__name__)

DEFAULT_STRIDE = 0.01
#: Whether the workers and the CLI evaluate the compressed copy when the parameters do not say.
COMPRESS_BY_DEFAULT = True
#: Floating-point precisions a model can be evaluated in (``float64``: as trained and shipped).
PRECISIONS = ('float64', 'float32')
#: The precision of the structure search's model calls when its parameters do not say (float32 takes more optimizer
#: steps per relaxation than it saves per call; see the module docstring).
SEARCH_PRECISION = 'float64'


def cache_dir() -> pathlib.Path:
    """Folder of the compressed models."""
    configured = os.environ.get('HYDRIDES_MODEL_CACHE')
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path(os.environ.get('XDG_CACHE_HOME', '~/.cache')).expanduser() / 'aiida-hydrides' / 'models'


def file_digest(path: str | os.PathLike, algorithm: str = 'sha256') -> str:
    """Hex digest of a file's content (``hashlib`` algorithm name), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    return file_digest(path, 'sha256')


def dp_command() -> list[str]:
    """The ``dp`` command of this Python environment."""
    beside = pathlib.Path(sys.executable).with_name('dp')
    if beside.exists():
        return [str(beside)]
    found = shutil.which('dp')
    if found:
        return [found]
    raise LamModelError('the DeePMD command `dp` is not installed beside this Python; install deepmd-kit 3.x')


def compress_model(model: str | os.PathLike, output: str | os.PathLike, stride: float = DEFAULT_STRIDE) -> None:
    """Run ``dp --pt compress`` on a frozen PyTorch model; raises :class:`LamModelError` with DeePMD's message."""
    env = dict(os.environ, DP_BACKEND='pytorch')
    env.setdefault('OMP_NUM_THREADS', '1')
    with tempfile.TemporaryDirectory(prefix='hydrides-compress-') as work:
        process = subprocess.run(
            [
                *dp_command(),
                '--pt',
                'compress',
                '-i',
                str(pathlib.Path(model).resolve()),
                '-o',
                str(pathlib.Path(output).resolve()),
                '-s',
                str(stride),
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if process.returncode != 0 or not pathlib.Path(output).exists():
        lines = [
            line for line in (process.stderr + process.stdout).splitlines() if line.strip() and 'Triton' not in line
        ]
        raise LamModelError(f'`dp --pt compress` failed on {model}: ' + ' | '.join(lines[-3:])[:600])


def compressed_model(
    model: str | os.PathLike, stride: float = DEFAULT_STRIDE, directory: str | os.PathLike | None = None
) -> pathlib.Path:
    """Path of the compressed copy of ``model`` (made on first use), or ``model`` itself where it cannot be
    compressed (not a frozen ``.pth`` model, or DeePMD refuses it; a warning says why)."""
    path = pathlib.Path(model).resolve()
    if path.suffix != '.pth':
        LOGGER.warning('%s is not a frozen PyTorch model (.pth); using it uncompressed', path.name)
        return path
    name = f'{path.stem}-{file_sha256(path)[:16]}-s{stride:g}.pth'
    made = _cached_copy(path, name, lambda scratch: compress_model(path, scratch, stride), directory)
    if made is None:
        LOGGER.warning('using the model uncompressed')
        return path
    return made


def _cached_copy(path: pathlib.Path, name: str, make, directory=None) -> pathlib.Path | None:
    """The cached file ``name`` made from ``path`` by ``make(scratch)`` (once: written to a temporary name and moved
    into place, so concurrent workers share it); ``None`` when ``make`` raises LamModelError (logged)."""
    folder = pathlib.Path(directory) if directory is not None else cache_dir()
    target = folder / name
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=f'.{path.stem}-', suffix='.pth')
    os.close(handle)
    os.unlink(scratch)
    try:
        make(scratch)
        os.replace(scratch, target)
    except LamModelError as exc:
        LOGGER.warning('%s', exc)
        return None
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return target


def convert_precision(
    model: str | os.PathLike, output: str | os.PathLike, precision: str, stride: float | None
) -> None:
    """Write ``model`` rebuilt in ``precision`` (and compressed with ``stride`` unless ``None``) to ``output``, in a
    separate Python process (deepmd-kit and torch state stay out of the caller); raises :class:`LamModelError`."""
    env = dict(os.environ, DP_BACKEND='pytorch')
    env.setdefault('OMP_NUM_THREADS', '1')
    command = [sys.executable, '-m', __name__, str(pathlib.Path(model).resolve()), str(pathlib.Path(output).resolve())]
    command += ['--precision', precision] + ([] if stride is None else ['--stride', str(stride)])
    process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if process.returncode != 0 or not pathlib.Path(output).exists():
        lines = [
            line for line in (process.stderr + process.stdout).splitlines() if line.strip() and 'Triton' not in line
        ]
        raise LamModelError(f'cannot make a {precision} copy of {model}: ' + ' | '.join(lines[-3:])[:600])


def _rebuild(source: str, output: str, precision: str, stride: float | None) -> None:
    """Body of :func:`convert_precision` (runs in its own process)."""
    import json

    import torch
    from deepmd.pt.model.model import get_model

    saved = torch.jit.load(source, map_location='cpu')
    definition = json.loads(saved.model_def_script)
    if 'model_dict' in definition:
        raise LamModelError('multi-head models are evaluated in their own precision')

    def set_precision(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'precision':
                    node[key] = precision
                else:
                    set_precision(value)
        elif isinstance(node, list):
            for value in node:
                set_precision(value)

    for part in ('descriptor', 'fitting_net'):
        set_precision(definition.get(part, {}))
    model = get_model(definition)
    target = model.state_dict()
    model.load_state_dict(
        {
            name: value.to(target[name].dtype) if value.is_floating_point() else value
            for name, value in saved.state_dict().items()
        }
    )
    if stride is not None:
        if model.get_min_nbor_dist() is None:
            raise LamModelError('the model stores no minimum neighbour distance, which compression needs')
        model.enable_compression(5, stride, stride * 10, -1)
    torch.jit.save(torch.jit.script(model), output)


def inference_model(
    model: str | os.PathLike,
    compress: bool = COMPRESS_BY_DEFAULT,
    precision: str = 'float64',
    stride: float = DEFAULT_STRIDE,
    directory: str | os.PathLike | None = None,
) -> pathlib.Path:
    """Path of the copy of ``model`` to evaluate: compressed (``compress``) and/or in ``precision``, made on first
    use and cached; ``model`` itself when no copy is asked for or it cannot be made (a warning says why)."""
    if precision not in PRECISIONS:
        raise LamModelError(f'unknown precision {precision!r}; choose one of {PRECISIONS}')
    if precision == 'float64':
        return compressed_model(model, stride, directory) if compress else pathlib.Path(model).resolve()
    path = pathlib.Path(model).resolve()
    if path.suffix != '.pth':
        LOGGER.warning('%s is not a frozen PyTorch model (.pth); evaluating it as it is', path.name)
        return path
    label = f's{stride:g}-' if compress else ''
    made = _cached_copy(
        path,
        f'{path.stem}-{file_sha256(path)[:16]}-{label}{precision}.pth',
        lambda scratch: convert_precision(path, scratch, precision, stride if compress else None),
        directory,
    )
    if made is None:
        LOGGER.warning('evaluating the model in float64')
        return compressed_model(path, stride, directory) if compress else path
    return made


if __name__ == '__main__':  # pragma: no cover - run by convert_precision in its own process
    import argparse

    parser = argparse.ArgumentParser(description='Rebuild a frozen DeePMD model in another precision.')
    parser.add_argument('source')
    parser.add_argument('output')
    parser.add_argument('--precision', choices=PRECISIONS, required=True)
    parser.add_argument('--stride', type=float, default=None)
    arguments = parser.parse_args()
    try:
        _rebuild(arguments.source, arguments.output, arguments.precision, arguments.stride)
    except LamModelError as error:
        sys.exit(f'Error: {error}')
