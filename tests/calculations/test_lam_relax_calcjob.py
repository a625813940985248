"""``LamRelaxCalculation`` round trip on localhost: ``hydrides-lam relax`` run by AiiDA on a batch of structures."""

import pathlib
import shutil
import sys

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, ParserFactory

from aiida_hydrides.data.structure_batch import array_to_structures, batch_arrays, structures_to_array

TINY_MODEL = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'lam' / 'tiny_se_e2_a.pth'


def cah6_cells(count=2, seed=11):
    """Rattled primitive Im-3m CaH6 and YH6 cells near 200 GPa density."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    cells = []
    for k in range(count):
        a = 3.5
        prim = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
        positions = [
            (0, 0, 0),
            (0.25 * a, 0, 0.5 * a),
            (0.75 * a, 0, 0.5 * a),
            (0.5 * a, 0.25 * a, 0),
            (0.5 * a, 0.75 * a, 0),
            (0, 0.5 * a, 0.25 * a),
            (0, 0.5 * a, 0.75 * a),
        ]
        atoms = Atoms(['Ca' if k % 2 == 0 else 'Y'] + ['H'] * 6, positions=positions, cell=prim, pbc=True)
        atoms.wrap()
        atoms.positions += rng.normal(0.0, 0.04, atoms.positions.shape)
        cells.append(atoms)
    return cells


@pytest.fixture
def lam_code(aiida_localhost):
    """The code ``hydrides-lam@localhost``: the worker script installed beside this interpreter."""
    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    executable = pathlib.Path(sys.executable).parent / 'hydrides-lam'
    if not executable.exists():
        found = shutil.which('hydrides-lam')
        if found is None:
            pytest.fail('the hydrides-lam console script is not installed; run `pip install -e .`')
        executable = pathlib.Path(found)
    existing = orm.QueryBuilder().append(orm.InstalledCode, filters={'label': 'hydrides-lam'}).first(flat=True)
    if existing is not None:
        return existing
    return orm.InstalledCode(
        label='hydrides-lam',
        computer=aiida_localhost,
        filepath_executable=str(executable),
        default_calc_job_plugin='hydrides.lam.relax',
    ).store()


@pytest.fixture
def model_node():
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    return orm.SinglefileData(TINY_MODEL)


def _builder(code, structures, model, parameters):
    calculation = CalculationFactory('hydrides.lam.relax')
    builder = calculation.get_builder()
    builder.code = code
    builder.structures = structures
    builder.model = model
    builder.parameters = orm.Dict(parameters)
    builder.metadata.options.resources = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    builder.metadata.options.max_wallclock_seconds = 600
    return builder


def test_entry_points():
    from aiida_hydrides.calculations.lam_relax import LamRelaxCalculation
    from aiida_hydrides.parsers.lam_relax import LamRelaxParser

    assert CalculationFactory('hydrides.lam.relax') is LamRelaxCalculation
    assert ParserFactory('hydrides.lam.relax') is LamRelaxParser


def test_structure_batch_node(aiida_profile):
    cells = cah6_cells(3)
    node = structures_to_array(cells, tag=np.arange(3))
    assert node.base.attributes.get('n_structures') == 3
    assert batch_arrays(node)['offsets'].tolist() == [0, 7, 14, 21]
    back = array_to_structures(node)
    assert [a.get_chemical_formula() for a in back] == [a.get_chemical_formula() for a in cells]
    with pytest.raises(ValueError, match='extra array'):
        structures_to_array(cells, tag=np.arange(2))


def test_lam_relax_round_trip(aiida_profile, lam_code, model_node):
    cells = cah6_cells(2)
    builder = _builder(
        lam_code,
        structures_to_array(cells),
        model_node,
        {'pressure_gpa': 200.0, 'fmax': 0.05, 'stress_tol_gpa': 0.5, 'max_steps': 300, 'optimizer': 'lbfgs'},
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    relaxed = results['relaxed_structures']
    flags = relaxed.get_array('flag').tolist()
    assert flags == ['converged', 'converged']
    enthalpies = relaxed.get_array('enthalpy_per_atom')
    assert np.all(np.isfinite(enthalpies))
    np.testing.assert_allclose(relaxed.get_array('pressure_gpa'), 200.0, atol=0.5)
    structures = array_to_structures(relaxed)
    assert [a.get_chemical_formula(mode='metal') for a in structures] == ['CaH6', 'YH6']
    summary = results['summary'].get_dict()
    assert summary['counts']['converged'] == 2
    assert summary['settings']['pressure_gpa'] == 200.0

    # the same structures in-process give the same enthalpies
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.relax import relax_structures

    direct = relax_structures(cells, load_model(TINY_MODEL), pressure_gpa=200.0, fmax=0.05, stress_tol_gpa=0.5)
    np.testing.assert_allclose(enthalpies, [r.enthalpy_per_atom for r in direct], atol=1e-6)


def test_lam_relax_unknown_element(aiida_profile, lam_code, model_node):
    cells = cah6_cells(1)
    cells[0][0].symbol = 'La'
    builder = _builder(lam_code, structures_to_array(cells), model_node, {'pressure_gpa': 200.0})
    _, node = run_get_node(builder)
    assert node.exit_status == 321
    assert 'La' in node.exit_message and 'type map' in node.exit_message


def test_lam_relax_bad_model(aiida_profile, lam_code, tmp_path):
    fake = tmp_path / 'fake.pth'
    fake.write_text('not a model')
    builder = _builder(lam_code, structures_to_array(cah6_cells(1)), orm.SinglefileData(fake), {'pressure_gpa': 200.0})
    _, node = run_get_node(builder)
    assert node.exit_status == 320
    assert 'not a DeePMD model' in node.exit_message


def test_lam_relax_input_validation(aiida_profile, lam_code, model_node):
    with pytest.raises(ValueError, match='pressure_gpa must be a number in GPa'):
        run_get_node(_builder(lam_code, structures_to_array(cah6_cells(1)), model_node, {'pressure_gpa': '200'}))
    with pytest.raises(ValueError, match='unknown parameters'):
        run_get_node(_builder(lam_code, structures_to_array(cah6_cells(1)), model_node, {'pressure': 200}))
