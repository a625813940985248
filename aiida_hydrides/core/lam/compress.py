"""Compressed copies of DeePMD models (``dp --pt compress``), made once and cached by the model's content hash.

Compression tabulates the embedding networks of se_e2_a-type descriptors with fifth-order polynomials: the
compressed model gives the same energies, forces and virials (to about 1e-9 eV/atom for the seed model) at a
fraction of the cost of the forward and backward passes. A model that cannot be compressed (a checkpoint, a
TensorFlow graph, a descriptor without tabulation) is used as it is, with a warning.

The cache is ``$HYDRIDES_MODEL_CACHE`` or ``~/.cache/aiida-hydrides/models``; entries are named by the SHA-256 of
the model file and the tabulation stride, so a changed model is compressed again and concurrent workers on one
machine share one file (written to a temporary name and moved into place).
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
    folder = pathlib.Path(directory) if directory is not None else cache_dir()
    target = folder / f'{path.stem}-{file_sha256(path)[:16]}-s{stride:g}.pth'
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=folder, prefix=f'.{path.stem}-', suffix='.pth')
    os.close(handle)
    os.unlink(scratch)
    try:
        compress_model(path, scratch, stride)
        os.replace(scratch, target)
    except LamModelError as exc:
        LOGGER.warning('%s; using the model uncompressed', exc)
        return path
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return target
