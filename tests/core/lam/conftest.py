"""Fixtures of the LAM tests: the tiny DeePMD test model, its evaluator, small EMT and Ca-Y-H cells."""

import os
import pathlib

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('DP_INTRA_OP_PARALLELISM_THREADS', '1')
os.environ.setdefault('DP_INTER_OP_PARALLELISM_THREADS', '1')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lam_test_structures import cah6_like_cells  # noqa: E402

TINY_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'lam' / 'tiny_se_e2_a.pth'


@pytest.fixture(scope='session')
def tiny_model_path() -> pathlib.Path:
    """The tiny se_e2_a model (type map H, Ca, Y) made by scripts/make_tiny_test_model.sh."""
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    return TINY_MODEL


@pytest.fixture(scope='session')
def tiny_evaluator(tiny_model_path):
    """The process-wide DeePMD evaluator of the tiny model."""
    from aiida_hydrides.core.lam.model import load_model

    return load_model(tiny_model_path)


@pytest.fixture
def emt_cells():
    """Three small, strained and rattled fcc cells for EMT: Al4, Cu4 and an Al-Cu mixture of 8 atoms."""
    from ase.build import bulk

    rng = np.random.default_rng(7)
    cells = []
    for symbol, a, repeat in (('Al', 4.10, (1, 1, 1)), ('Cu', 3.70, (1, 1, 1)), ('Al', 4.00, (2, 1, 1))):
        atoms = bulk(symbol, 'fcc', a=a, cubic=True).repeat(repeat)
        atoms.positions += rng.normal(0.0, 0.04, atoms.positions.shape)
        strain = rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell @ (np.eye(3) + strain), scale_atoms=True)
        cells.append(atoms)
    cells[2].numbers[::3] = 29
    return cells


@pytest.fixture
def cah6_cells():
    return cah6_like_cells()
