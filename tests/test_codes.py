"""Quantum ESPRESSO codes: idempotent creation, clear errors, and a real pw.x run through AiiDA."""

import pathlib
import re

import pytest
from aiida import orm

from aiida_hydrides.codes import (
    QE_EXECUTABLES,
    MissingCodeError,
    MissingExecutableError,
    ensure_codes,
    get_code,
    qe_parallelization,
    qe_pool_settings,
)

AL_PSEUDO = pathlib.Path('/usr/share/espresso/pseudo/Al.pz-vbc.UPF')


def test_ensure_codes_is_idempotent(qe_codes, aiida_localhost):
    assert set(qe_codes) == set(QE_EXECUTABLES)
    again = ensure_codes(computer=aiida_localhost.label, mpiprocs=2)
    assert {short: code.pk for short, code in again.items()} == {short: code.pk for short, code in qe_codes.items()}
    assert qe_codes['pw'].label == 'pw'
    assert qe_codes['pw'].default_calc_job_plugin == 'quantumespresso.pw'
    assert qe_codes['pw'].with_mpi is True
    assert qe_codes['ld1'].with_mpi is False
    assert aiida_localhost.get_default_mpiprocs_per_machine() == 2
    assert get_code('pw', aiida_localhost).pk == qe_codes['pw'].pk
    assert get_code('ph').pk == qe_codes['ph'].pk


def test_missing_code_names_the_fix(aiida_localhost):
    with pytest.raises(MissingCodeError, match='aiida-hydrides setup'):
        get_code('pw', computer='no-such-computer')


def test_missing_executable_names_the_fix(aiida_computer_local, tmp_path):
    computer = aiida_computer_local(label='empty-bin')
    with pytest.raises(MissingExecutableError, match=r'pw\.x.*apt-get install quantum-espresso'):
        ensure_codes(computer=computer, executables_dir=tmp_path)
    assert (
        not orm.QueryBuilder()
        .append(orm.InstalledCode, filters={'label': 'pw'})
        .append(orm.Computer, with_node=orm.InstalledCode, filters={'label': 'empty-bin'})
        .count()
    )


def test_pool_settings():
    assert qe_parallelization(2) == {'npool': 2}
    assert qe_parallelization(1) == {}
    assert qe_pool_settings(2) == {'CMDLINE': ['-nk', '2']}
    assert qe_pool_settings(1) == {}
    assert qe_pool_settings(4, pools=2) == {'CMDLINE': ['-nk', '2']}
    with pytest.raises(ValueError, match='pools'):
        qe_pool_settings(4, pools=3)


def test_pw_runs_on_localhost(qe_codes):
    """A real two-process pw.x SCF of fcc Al through AiiDA on the local computer (root-safe MPI)."""
    from aiida.engine import run_get_node
    from aiida.plugins import CalculationFactory
    from aiida_pseudo.data.pseudo import UpfData

    if not AL_PSEUDO.is_file():
        pytest.fail(f'{AL_PSEUDO} is missing; `apt-get install quantum-espresso-data`')
    alat = 4.04
    structure = orm.StructureData(cell=[[0, alat / 2, alat / 2], [alat / 2, 0, alat / 2], [alat / 2, alat / 2, 0]])
    structure.append_atom(position=(0.0, 0.0, 0.0), symbols='Al')
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([4, 4, 4])
    with AL_PSEUDO.open('rb') as handle:
        pseudo = UpfData.get_or_create(handle)
    inputs = {
        'code': qe_codes['pw'],
        'structure': structure,
        'kpoints': kpoints,
        'pseudos': {'Al': pseudo},
        'parameters': orm.Dict(
            {
                'CONTROL': {'calculation': 'scf'},
                'SYSTEM': {'ecutwfc': 15.0, 'occupations': 'smearing', 'smearing': 'mv', 'degauss': 0.02},
            }
        ),
        'parallelization': orm.Dict(qe_parallelization(2)),
        # two processes, whatever the computer's default (1 while the tests run in parallel)
        'metadata': {
            'options': {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 2}, 'max_wallclock_seconds': 300}
        },
    }
    _, node = run_get_node(CalculationFactory('quantumespresso.pw'), **inputs)
    assert node.is_finished_ok, node.exit_message
    output = node.outputs.output_parameters.get_dict()
    assert output['energy'] == pytest.approx(-56.5, abs=1.0)  # eV, fcc Al with the PZ vbc pseudopotential
    assert node.get_option('resources')['num_mpiprocs_per_machine'] == 2
    stdout = node.outputs.retrieved.base.repository.get_object_content('aiida.out')
    assert re.search(r'npool\s*=\s*2', stdout)  # two k-point pools
