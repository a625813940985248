"""The labelling step of the concurrent-learning loop: the protocol, PwBaseWorkChain builders from candidate frames,
and labelled frames from finished work chains (a real pw.x run of a 2-atom H cell, marked slow)."""

import numpy as np
import pytest
import yaml
from aiida import orm
from ase import Atoms

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.batch import pack_structures
from aiida_hydrides.labelling import PROTOCOL_FILE, get_label_builder, load_label_settings
from aiida_hydrides.workflows.lam.labels import (
    LOOP_LABEL_FILE,
    candidate_frame_ids,
    get_label_builders,
    label_calculation,
    labelled_frames,
    load_loop_label_settings,
    tag_label_calculations,
)


def _cah6(a=3.5, sigma=0.03, seed=0):
    rng = np.random.default_rng(seed)
    prim = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    positions = [(0, 0, 0), (0.25 * a, 0, 0.5 * a), (0.75 * a, 0, 0.5 * a), (0.5 * a, 0.25 * a, 0)]
    positions += [(0.5 * a, 0.75 * a, 0), (0, 0.5 * a, 0.25 * a), (0, 0.5 * a, 0.75 * a)]
    atoms = Atoms(['Ca'] + ['H'] * 6, positions=positions, cell=prim, pbc=True)
    atoms.positions += rng.normal(0.0, sigma, atoms.positions.shape)
    return atoms


def _candidates(structures):
    arrays = pack_structures(structures)
    arrays['source'] = np.array(['p200'] * len(structures))
    arrays['frame_kind'] = np.array(['trajectory'] * len(structures))
    arrays['frame_index'] = np.arange(len(structures))
    arrays['max_devi_f'] = np.linspace(0.1, 0.2, len(structures))
    return arrays


@pytest.fixture
def pw_code(aiida_localhost, require_qe):
    from aiida_hydrides.codes import ensure_codes

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    return ensure_codes(computer=aiida_localhost, mpiprocs=2, shorts=['pw'])['pw']


def test_loop_settings_are_those_of_the_label_set(tmp_path):
    settings = load_loop_label_settings()
    assert settings['dft'] == load_label_settings(PROTOCOL_FILE)  # the seed label set, not a copy of it
    assert settings['label_set'] == 'seed-v1'
    assert (settings['max_iterations'], settings['clean_workdir'], settings['frame_prefix']) == (3, True, 'cl')
    assert load_loop_label_settings(max_iterations=5)['max_iterations'] == 5
    with pytest.raises(HydridesInputError, match='unknown labelling settings'):
        load_loop_label_settings(kpoints_distance=0.3)
    bad = tmp_path / 'label.yaml'
    bad.write_text(LOOP_LABEL_FILE.read_text().replace('dft/labels.yaml', 'dft/missing.yaml'))
    with pytest.raises(HydridesInputError, match='does not exist'):
        load_loop_label_settings(bad)
    with pytest.raises(HydridesInputError, match='max_iterations'):
        load_loop_label_settings(max_iterations=0)


def test_candidate_frame_ids():
    assert candidate_frame_ids(2, 'it03') == ['cl-it03-0000', 'cl-it03-0001']
    assert candidate_frame_ids(1, prefix='x') == ['x-0000']
    with pytest.raises(HydridesInputError, match='letters, digits'):
        candidate_frame_ids(1, 'it 3')


def test_label_builders(aiida_localhost, pseudo_family, pw_code):
    structures = [_cah6(seed=1), _cah6(a=3.45, seed=2)]
    candidates = orm.ArrayData()
    for name, value in _candidates(structures).items():
        candidates.set_array(name, value)
    builders = get_label_builders(candidates, pw_code, pseudo_family, tag='it01', options={'queue_name': 'gpu'})
    assert list(builders) == ['cl-it01-0000', 'cl-it01-0001']
    builder = builders['cl-it01-0001']
    reference = get_label_builder(structures[1], pw_code, pseudo_family, load_label_settings(), 'cl-it01-0001')
    # the pw.x inputs of the seed labelling, wrapped in a PwBaseWorkChain
    assert builder.pw.parameters.get_dict() == reference.parameters.get_dict()
    assert builder.pw.parameters['CONTROL']['tstress'] and builder.pw.parameters['CONTROL']['tprnfor']
    assert builder.kpoints.get_kpoints_mesh() == reference.kpoints.get_kpoints_mesh()
    assert set(builder.pw.pseudos) == {'Ca', 'H'}
    assert builder.pw.metadata.options.resources == {'num_machines': 1, 'num_mpiprocs_per_machine': 2}
    assert builder.pw.metadata.options.queue_name == 'gpu'
    assert builder.pw.parallelization.get_dict() == {'npool': 2} and 'settings' not in builder.pw
    assert builder.max_iterations.value == 3 and builder.clean_workdir.value is True
    assert builder.metadata.label == 'cl-it01-0001'
    assert 'from p200' in builder.metadata.description and 'max_devi_f 0.200' in builder.metadata.description
    np.testing.assert_allclose(builder.pw.structure.get_ase().positions, structures[1].positions)

    assert get_label_builders(pack_structures([]), pw_code, pseudo_family) == {}
    xenon = _cah6()
    xenon[0].symbol = 'Xe'
    with pytest.raises(ValueError, match='no pseudopotential for Xe'):
        get_label_builders(pack_structures([xenon]), pw_code, pseudo_family)


def test_unfinished_work_chains_are_reported(aiida_profile):
    node = orm.WorkflowNode(label='cl-it01-0000').store()
    frames, failed = labelled_frames([node])
    assert frames == [] and 'did not finish successfully' in failed['cl-it01-0000']
    assert tag_label_calculations({'x': node}, 'seed-v1') == {}


@pytest.mark.slow
def test_label_h2_frame_with_pw(aiida_localhost, pseudo_family, pw_code, tmp_path):
    """One real PwBaseWorkChain (2-atom H cell, cheap settings): frames, extras and a training set from it."""
    from aiida.engine import run_get_node

    from aiida_hydrides.data.training_set import training_set_from_calculations

    dft = yaml.safe_load(PROTOCOL_FILE.read_text())
    dft.update(label_set='test-cheap', kpoints_distance=0.8)
    dft['parameters']['SYSTEM'].update(ecutwfc=25.0, ecutrho=200.0)
    (tmp_path / 'labels.yaml').write_text(yaml.safe_dump(dft))
    settings = load_loop_label_settings(label_settings=str(tmp_path / 'labels.yaml'), clean_workdir=False)
    h2 = Atoms('H2', scaled_positions=[(0, 0, 0), (0.52, 0.5, 0.48)], cell=np.eye(3) * 1.75, pbc=True)
    builders = get_label_builders(pack_structures([h2]), pw_code, pseudo_family, tag='t', settings=settings)
    _, node = run_get_node(builders['cl-t-0000'])
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    frames, failed = labelled_frames({'cl-t-0000': node})
    assert failed == {} and len(frames) == 1
    frame = frames[0]
    assert frame.id == 'cl-t-0000' and frame.symbols == ['H', 'H']
    np.testing.assert_allclose(frame.positions, h2.positions)
    assert frame.forces.shape == (2, 3) and np.isfinite(frame.energy)
    volume = abs(np.linalg.det(frame.cell))
    np.testing.assert_allclose(np.trace(frame.virial) / 3, frame.pressure * volume / 160.21766208, rtol=1e-6)

    calculations = tag_label_calculations({'cl-t-0000': node}, settings['label_set'])
    calculation = calculations['cl-t-0000']
    assert (
        calculation.uuid == label_calculation(node).uuid
        and calculation.base.extras.get('hydrides')['label_id'] == 'cl-t-0000'
    )
    training = training_set_from_calculations(calculations.values(), ['H', 'Ca', 'Y'], settings['label_set'])
    assert training.nframes == 1 and training.label_set == 'test-cheap'
