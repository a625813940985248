"""Fixtures of the structure-search tests: cheap evaluators."""

import os
import pathlib

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('DP_INTRA_OP_PARALLELISM_THREADS', '1')
os.environ.setdefault('DP_INTER_OP_PARALLELISM_THREADS', '1')

import pytest  # noqa: E402

TINY_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'lam' / 'tiny_se_e2_a.pth'


@pytest.fixture(scope='session')
def tiny_evaluator():
    """The tiny DeePMD model (type map H, Ca, Y)."""
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    from aiida_hydrides.core.lam.model import load_model

    return load_model(TINY_MODEL)


@pytest.fixture(scope='session')
def emt_evaluator():
    """ASE's EMT (knows Al and H) behind the batch interface."""
    from ase.calculators.emt import EMT

    from aiida_hydrides.core.lam.ase_backend import AseEvaluator

    return AseEvaluator(EMT())
