"""Models shipped with aiida-hydrides: the seed DeePMD model of Ca-Y-H (see ``docs/seed_data.md``)."""

from __future__ import annotations

import pathlib

__all__ = ('SEED_MODEL', 'seed_model_path')

#: The frozen seed model (se_e2_a, type map H Ca Y), trained by ``scripts/train_seed_model.sh`` on ``data/seed``.
SEED_MODEL = pathlib.Path(__file__).resolve().parent / 'seed' / 'seed_se_e2_a.pth'


def seed_model_path() -> pathlib.Path:
    """The path of the seed model; a clear error when the installation lacks it."""
    if not SEED_MODEL.is_file():
        raise FileNotFoundError(
            f'the seed model {SEED_MODEL} is missing; reinstall aiida-hydrides or train it with '
            'scripts/train_seed_model.sh'
        )
    return SEED_MODEL
