"""Tests of the seed DFT labelling through AiiDA: inputs, pieces from real pw.x labels, resumability, failures."""

import json

import numpy as np
import pytest
import yaml
from ase import Atoms
from click.testing import CliRunner

from aiida_hydrides.core import seed_configs
from aiida_hydrides.labelling import (
    LABEL_EXTRA,
    PROTOCOL_FILE,
    finished_label_calculations,
    get_label_builder,
    label_status,
    load_label_settings,
    run_labels,
)


def _tiny_frames():
    """Two 2-atom H cells at megabar density (cheap for pw.x), one rattled, and a third one for failures."""
    frames = []
    rng = np.random.default_rng(5)
    for index, (a, shift) in enumerate(((1.70, 0.00), (1.75, 0.06), (1.72, 0.03)), start=1):
        atoms = Atoms('H2', scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5)], cell=np.eye(3) * a, pbc=True)
        atoms.positions += rng.normal(0, shift, atoms.positions.shape) if shift else 0
        frames.append(seed_configs.SeedFrame(f'seed-{index:04d}', atoms, 'test-H2', 'rattle', 300.0))
    return frames


def _tiny_settings(tmp_path, **electrons):
    settings = yaml.safe_load(PROTOCOL_FILE.read_text())
    settings['kpoints_distance'] = 0.8
    settings['parameters']['SYSTEM'].update(ecutwfc=25.0, ecutrho=200.0)
    settings['parameters']['ELECTRONS'].update(electrons)
    path = tmp_path / f'labels-{len(electrons)}.yaml'
    path.write_text(yaml.safe_dump(settings))
    return path


def test_label_settings_are_the_documented_ones():
    settings = load_label_settings()
    assert settings['label_set'] == 'seed-v1'
    assert settings['pseudo_family'] == 'PSL/1.0.0/PBE/US/hydrides'
    assert settings['kpoints_distance'] == pytest.approx(0.45)
    system = settings['parameters']['SYSTEM']
    assert (system['ecutwfc'], system['ecutrho'], system['smearing'], system['degauss']) == (45.0, 360.0, 'mv', 0.02)
    control = settings['parameters']['CONTROL']
    assert control['tprnfor'] and control['tstress'] and control['calculation'] == 'scf'


def test_label_settings_error(tmp_path):
    path = tmp_path / 'bad.yaml'
    path.write_text('label_set: x\n')
    with pytest.raises(ValueError, match='lack'):
        load_label_settings(path)


def test_label_builder(aiida_localhost, pseudo_family):
    from aiida_hydrides.codes import ensure_codes

    code = ensure_codes(computer=aiida_localhost, mpiprocs=2, shorts=['pw'])['pw']
    frame = seed_configs.generate_seed_frames(include_random=False)[1]  # CaH6, 7 atoms, 200 GPa
    builder = get_label_builder(frame.atoms, code, pseudo_family, frame_id=frame.id)
    parameters = builder.parameters.get_dict()
    assert parameters['ELECTRONS']['conv_thr'] == pytest.approx(7e-8)
    assert parameters['SYSTEM']['ecutwfc'] == 45.0
    assert builder.kpoints.get_kpoints_mesh() == ([6, 6, 6], [0.0, 0.0, 0.0])
    assert builder.settings.get_dict() == {'CMDLINE': ['-nk', '2']}
    assert builder.metadata.options.resources == {'num_machines': 1, 'num_mpiprocs_per_machine': 2}
    assert builder.metadata.label == frame.id
    assert set(builder.pseudos) == {'Ca', 'H'}


@pytest.mark.slow
def test_label_run_pieces_resume_and_failures(aiida_localhost, pseudo_family, tmp_path):
    """Real pw.x labels of 2-atom H cells: pieces (deepmd/npy + archive), agreement with dpdata, resumability."""
    import dpdata

    data_dir = tmp_path / 'seed'
    frames = _tiny_frames()
    seed_configs.write_candidates(frames, data_dir / 'candidates.extxyz')
    settings = _tiny_settings(tmp_path)
    ids = ['seed-0001', 'seed-0002']

    summary = run_labels(data_dir, chunk=1, settings_file=settings, only_ids=ids, log=lambda _: None)
    assert summary['computed'] == 2 and summary['failed'] == 0
    assert [piece['piece'] for piece in summary['pieces']] == ['piece-001', 'piece-002']
    assert all(0 < piece['archive_bytes'] < 3e6 for piece in summary['pieces'])
    assert seed_configs.labelled_ids(data_dir) == set(ids)

    nodes = finished_label_calculations('seed-v1')['ok']
    for piece in seed_configs.list_pieces(data_dir):
        manifest = seed_configs.read_piece_manifest(piece)
        ((sysname, (frame_id,)),) = manifest['systems'].items()
        node = nodes[frame_id]
        assert node.base.extras.get(LABEL_EXTRA) == {'label_id': frame_id, 'label_set': 'seed-v1'}
        assert manifest['frames'][frame_id]['uuid'] == node.uuid
        mine = dpdata.LabeledSystem(str(piece / sysname), fmt='deepmd/npy')
        assert mine.get_atom_names() == ['H', 'Ca', 'Y']
        # reference: dpdata's own reader of the pw.x input and output files
        (tmp_path / 'aiida.in').write_text(node.base.repository.get_object_content('aiida.in'))
        (tmp_path / 'aiida.out').write_text(node.outputs.retrieved.base.repository.get_object_content('aiida.out'))
        reference = dpdata.LabeledSystem(
            [str(tmp_path / 'aiida.in'), str(tmp_path / 'aiida.out')], fmt='qe/pw/scf', type_map=['H', 'Ca', 'Y']
        )
        mine.rot_lower_triangular()
        np.testing.assert_allclose(mine['energies'], reference['energies'], rtol=1e-6)
        np.testing.assert_allclose(mine['forces'], reference['forces'], atol=2e-4)
        np.testing.assert_allclose(mine['virials'], reference['virials'], atol=2e-3)
        pressure = np.trace(node.outputs.output_trajectory.get_array('stress')[-1]) / 3
        assert pressure > 10  # compressed H (2.5 A^3/atom): positive pressure, and a positive virial trace
        assert np.trace(mine['virials'][0]) > 0
    assert np.abs(mine['forces']).max() > 0.05  # the rattled frame has forces

    # a second run finds everything in the pieces
    again = run_labels(data_dir, chunk=1, settings_file=settings, only_ids=ids, log=lambda _: None)
    assert (again['computed'], again['todo'], again['pieces']) == (0, 0, [])

    # a piece that was never committed: the finished calculation in the database goes into a new piece
    import shutil

    shutil.rmtree(data_dir / 'pieces' / 'piece-002')
    recovered = run_labels(data_dir, chunk=5, settings_file=settings, only_ids=ids, log=lambda _: None)
    assert (recovered['computed'], recovered['from_database']) == (0, 1)
    assert [piece['nframes'] for piece in recovered['pieces']] == [1]
    assert seed_configs.labelled_ids(data_dir) == set(ids)

    # a failing SCF is recorded with its exit status and skipped, nothing is written for it
    failing = _tiny_settings(tmp_path, electron_maxstep=1)
    broken = run_labels(data_dir, chunk=1, settings_file=failing, only_ids=['seed-0003'], log=lambda _: None)
    assert (broken['computed'], broken['failed'], broken['pieces']) == (0, 1, [])
    failed = json.loads((data_dir / 'failed.json').read_text())
    assert failed['seed-0003']['exit_status'] >= 300
    assert 'seed-0003' not in seed_configs.labelled_ids(data_dir)
    skipped = run_labels(data_dir, chunk=1, settings_file=failing, only_ids=['seed-0003'], log=lambda _: None)
    assert skipped['todo'] == 0
    status = label_status(data_dir)
    assert (status['candidates'], status['labelled'], status['failed'], status['remaining']) == (3, 2, 1, 0)
    assert not list(data_dir.rglob('*.tmp'))


def test_label_cli(tmp_path):
    from aiida_hydrides.cli import cli

    runner = CliRunner()
    data_dir = tmp_path / 'seed'
    seed_configs.write_candidates(_tiny_frames(), data_dir / 'candidates.extxyz')
    result = runner.invoke(cli, ['label', 'status', '--data-dir', str(data_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)['candidates'] == 3

    result = runner.invoke(cli, ['label', 'generate', '--data-dir', str(data_dir)])
    assert result.exit_code == 1 and 'exists' in result.output

    result = runner.invoke(cli, ['label', 'run', '--chunk', '0', '--data-dir', str(data_dir)])
    assert result.exit_code == 2 and 'chunk' in result.output

    result = runner.invoke(cli, ['label', 'split', str(tmp_path / 'out'), '--data-dir', str(data_dir)])
    assert result.exit_code == 1 and 'no label pieces' in result.output

    result = runner.invoke(cli, ['label', 'status', '--data-dir', str(tmp_path / 'nothing')])
    assert result.exit_code == 1 and 'does not exist' in result.output

    result = runner.invoke(cli, ['label', 'pack', '--data-dir', str(data_dir)])
    assert result.exit_code == 1 and 'no archives to pack' in result.output
