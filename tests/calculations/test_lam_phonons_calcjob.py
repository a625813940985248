"""``LamPhononsCalculation`` on localhost: ``hydrides-lam phonons`` run by AiiDA on a few candidates with the seed
model; force constants as aiida-phonopy data, the early stop, failed candidates and the input checks."""

import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, ParserFactory

SEED_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'aiida_hydrides' / 'models' / 'seed' / 'seed_se_e2_a.pth'
#: small supercells (CaH6 2x2x2, Ca4 1x1x1) and a coarse mesh keep each job at a few seconds
PARAMETERS = {'mesh': [4, 4, 4], 'supercell_min_length': 4.0, 'compress': False}


@pytest.fixture
def lam_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    return ensure_lam_code(aiida_localhost)


@pytest.fixture
def model_node():
    return orm.SinglefileData(SEED_MODEL)


def cah6():
    from aiida_hydrides.core.prototypes import sodalite_mh6_primitive

    return orm.StructureData(ase=sodalite_mh6_primitive('Ca', a=3.4))


def ca4():
    from ase.build import bulk

    return orm.StructureData(ase=bulk('Ca', 'fcc', a=4.0, cubic=True))


def overlapping():
    """A cell with two atoms on one site: phonopy refuses it."""
    from ase import Atoms

    atoms = Atoms('CaH2', positions=[(0, 0, 0), (1, 1, 1), (1, 1, 1)], cell=np.eye(3) * 3.0, pbc=True)
    return orm.StructureData(ase=atoms)


def _builder(code, structures, model, parameters=PARAMETERS):
    builder = CalculationFactory('hydrides.lam.phonons').get_builder()
    builder.code = code
    builder.structures = structures
    builder.model = model
    builder.parameters = orm.Dict(parameters)
    builder.metadata.options.max_wallclock_seconds = 600
    return builder


def test_entry_points():
    from aiida_hydrides.calculations.lam_phonons import LamPhononsCalculation
    from aiida_hydrides.parsers.lam_phonons import LamPhononsParser

    assert CalculationFactory('hydrides.lam.phonons') is LamPhononsCalculation
    assert ParserFactory('hydrides.lam.phonons') is LamPhononsParser
    spec = LamPhononsCalculation.spec()
    assert spec.inputs['metadata']['options']['parser_name'].default == 'hydrides.lam.phonons'
    assert spec.exit_codes.ERROR_ALL_FAILED.status == 410


def test_lam_phonons_round_trip(aiida_profile, lam_code, model_node):
    from aiida_phonopy.data import ForceConstantsData

    structures = {'c_1': cah6(), 'c_2': ca4(), 'c_3': overlapping()}
    results, node = run_get_node(_builder(lam_code, structures, model_node))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    table = results['results'].get_dict()
    assert sorted(table) == ['c_1', 'c_2', 'c_3']
    assert 'too close' in table['c_3']['error']  # phonopy's refusal, the others go on
    assert table['c_1']['supercell_matrix'] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
    assert table['c_2']['supercell_matrix'] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert table['c_1']['mesh'] == [4, 4, 4] and table['c_1']['formula'] == 'CaH6'
    assert table['c_1']['max_frequency_thz'] > 10.0  # hydrogen modes

    constants = results['force_constants']
    assert sorted(constants) == ['c_1', 'c_2']
    for key, fc in constants.items():
        assert isinstance(fc, ForceConstantsData) and fc.is_stored
        phonon = fc.get_phonopy_instance()
        phonon.run_mesh([4, 4, 4], is_gamma_center=True)
        frequencies = phonon.get_mesh_dict()['frequencies']
        assert frequencies.min() == pytest.approx(table[key]['min_frequency_thz'], abs=1e-6)
        assert frequencies.max() == pytest.approx(table[key]['max_frequency_thz'], abs=1e-6)

    summary = results['summary'].get_dict()
    assert summary['finished'] == ['c_1', 'c_2'] and summary['failed'] == ['c_3'] and summary['unfinished'] == []
    assert summary['max_wall_s'] == pytest.approx(540.0)  # 600 s less the margin
    names = node.outputs.retrieved.base.repository.list_object_names('phonons')
    assert sorted(names) == ['c_1.json', 'c_2.json', 'c_3.json']  # the force constants are stored once, in the nodes


def test_lam_phonons_stops_at_max_wall(aiida_profile, lam_code, model_node):
    parameters = {**PARAMETERS, 'max_wall_s': 0.001}
    results, node = run_get_node(_builder(lam_code, {'c_1': cah6(), 'c_2': ca4()}, model_node, parameters))
    assert node.exit_status == 400, node.exit_message
    assert 'not finished: c_2' in node.exit_message
    assert sorted(results['force_constants']) == ['c_1']
    assert sorted(results['results'].get_dict()) == ['c_1']
    summary = results['summary'].get_dict()
    assert summary['unfinished'] == ['c_2'] and summary['stopped']['reason'] == 'walltime'


def test_lam_phonons_all_failed(aiida_profile, lam_code, model_node):
    results, node = run_get_node(_builder(lam_code, {'bad': overlapping()}, model_node))
    assert node.exit_status == 410, node.exit_message
    assert 'bad: SpglibCppError' in node.exit_message
    assert 'force_constants' not in results and 'error' in results['results']['bad']


def test_lam_phonons_unknown_element(aiida_profile, lam_code, model_node):
    from ase.build import bulk

    structures = {'c_1': cah6(), 'c_2': orm.StructureData(ase=bulk('Al', 'fcc', a=4.05))}
    results, node = run_get_node(_builder(lam_code, structures, model_node))
    assert node.exit_status == 321
    assert "structure 'c_2' (Al) contains Al" in node.exit_message and 'type map' in node.exit_message
    assert not {'results', 'force_constants', 'summary'} & set(results)


def test_lam_phonons_input_validation(aiida_profile, lam_code, model_node):
    with pytest.raises(ValueError, match="unknown parameters \\['supercel'\\]"):
        run_get_node(_builder(lam_code, {'c_1': cah6()}, model_node, {'supercel': 'auto'}))
    with pytest.raises(ValueError, match='mesh must be 3 positive integers'):
        run_get_node(_builder(lam_code, {'c_1': cah6()}, model_node, {'mesh': [4, 4]}))
    with pytest.raises(ValueError, match="supercell must be 3 positive integers, a 3x3 integer matrix or 'auto'"):
        run_get_node(_builder(lam_code, {'c_1': cah6()}, model_node, {'supercell': 'big'}))
