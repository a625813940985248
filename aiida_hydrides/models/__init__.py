"""Models shipped with aiida-hydrides: the seed DeePMD model of Ca-Y-H and its fast variant (see
``docs/seed_data.md``)."""

from __future__ import annotations

import pathlib

__all__ = ('SEED_FAST_MODEL', 'SEED_MODEL', 'SHIPPED_MODELS', 'SHIPPED_MODEL_NAMES', 'seed_model_path')

_HERE = pathlib.Path(__file__).resolve().parent
#: The frozen seed model (se_e2_a, type map H Ca Y), trained by ``scripts/train_seed_model.sh`` on ``data/seed``.
SEED_MODEL = _HERE / 'seed' / 'seed_se_e2_a.pth'
#: The seed model's ``fast`` architecture (``seed_configs.SEED_ARCHITECTURES``: 4 Å cut-off, narrower embedding),
#: trained on the same frames by ``ARCH=fast scripts/train_seed_model.sh``: cheaper model calls for large searches.
SEED_FAST_MODEL = _HERE / 'seed-fast' / 'seed_se_e2_a.pth'
#: the shipped models by architecture name
SHIPPED_MODELS = {'standard': SEED_MODEL, 'fast': SEED_FAST_MODEL}
#: the names the command line takes for the shipped models (``--model seed``) -> their architecture
SHIPPED_MODEL_NAMES = {'seed': 'standard', 'seed-fast': 'fast'}


def seed_model_path(architecture: str = 'standard') -> pathlib.Path:
    """The path of the shipped seed model of ``architecture`` (``standard``, the default, or ``fast``); a clear error
    when the name is unknown or the installation lacks the file."""
    if architecture not in SHIPPED_MODELS:
        raise ValueError(f'no shipped seed model {architecture!r}; choose one of {", ".join(SHIPPED_MODELS)}')
    path = SHIPPED_MODELS[architecture]
    if not path.is_file():
        raise FileNotFoundError(
            f'the seed model {path} is missing; reinstall aiida-hydrides or train it with '
            f'{"ARCH=fast " if architecture == "fast" else ""}scripts/train_seed_model.sh'
        )
    return path
