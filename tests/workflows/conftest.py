"""Fixtures shared by the work-chain tests."""

import pytest


@pytest.fixture
def fake_codes(aiida_code_installed):
    """The QE codes of the el-ph work chain, for the builder tests (never executed), keyed by short name."""
    plugins = {
        'pw': 'quantumespresso.pw',
        'ph': 'quantumespresso.ph',
        'q2r': 'quantumespresso.q2r',
        'matdyn': 'quantumespresso.matdyn',
        'projwfc': 'quantumespresso.projwfc',
    }
    return {
        short: aiida_code_installed(label=f'epc-test-{short}', default_calc_job_plugin=plugin, with_mpi=True)
        for short, plugin in plugins.items()
    }
