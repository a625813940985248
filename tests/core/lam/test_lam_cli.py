"""``aiida-hydrides relax`` / ``phonons`` (in-process engine, no AiiDA) and the ``hydrides-lam`` worker."""

import json

import numpy as np
from click.testing import CliRunner

from aiida_hydrides.cli.phonons import phonons
from aiida_hydrides.cli.relax import relax
from aiida_hydrides.core.lam import worker
from aiida_hydrides.core.lam.batch import pack_structures

from lam_test_structures import cah6_like_cells


def test_cli_relax_cif(tmp_path, tiny_model_path):
    import ase.io

    cif = tmp_path / 'CaH6.cif'
    ase.io.write(cif, cah6_like_cells(1)[0])
    out = tmp_path / 'relaxed.extxyz'
    result = CliRunner().invoke(
        relax, [str(cif), '--pressure', '200', '--model', str(tiny_model_path), '--output', str(out), '--json']
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    row = data['structures'][0]
    assert row['flag'] == 'converged' and row['formula'] == 'CaH6'
    assert abs(row['pressure_gpa'] - 200.0) < 0.5
    frames = ase.io.read(out, index=':')
    assert len(frames) == 1 and frames[0].info['flag'] == 'converged'
    assert abs(frames[0].info['enthalpy_per_atom'] - row['enthalpy_per_atom']) < 1e-9

    table = CliRunner().invoke(relax, [str(cif), '-p', '200', '-m', str(tiny_model_path), '--optimizer', 'fire'])
    assert table.exit_code == 0, table.output
    assert 'converged' in table.output and 'H/atom (eV)' in table.output


def test_cli_relax_errors(tmp_path, tiny_model_path):
    import ase.io
    from ase.build import bulk

    al = tmp_path / 'Al.cif'
    ase.io.write(al, bulk('Al', 'fcc', a=4.05))
    result = CliRunner().invoke(relax, [str(al), '--pressure', '200', '--model', str(tiny_model_path)])
    assert result.exit_code == 1
    assert 'Al, which the model does not know' in result.output
    result = CliRunner().invoke(relax, [str(al), '--pressure', '200 psi', '--model', str(tiny_model_path)])
    assert result.exit_code == 2 and "unknown pressure unit 'psi'" in result.output
    result = CliRunner().invoke(relax, [str(al), '--pressure', '2000', '--model', str(tiny_model_path)])
    assert result.exit_code == 2 and 'between 0 and 1000 GPa' in result.output
    fake = tmp_path / 'fake.pth'
    fake.write_text('nope')
    result = CliRunner().invoke(relax, [str(al), '--pressure', '200', '--model', str(fake)])
    assert result.exit_code == 1 and 'is not a DeePMD model' in result.output


def test_cli_phonons_runs(tmp_path, tiny_model_path):
    import ase.io

    cif = tmp_path / 'CaH6.cif'
    ase.io.write(cif, cah6_like_cells(1)[0])
    result = CliRunner().invoke(
        phonons,
        [str(cif), '--model', str(tiny_model_path), '--supercell', '1', '1', '1', '--mesh', '2', '2', '2', '--json'],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data['imaginary_threshold_thz'] == 3.0 and isinstance(data['passed'], bool)
    assert data['max_frequency_thz'] > 10.0  # hydrogen modes


def test_worker_relax_and_errors(tmp_path, tiny_model_path):
    batch = tmp_path / 'batch.npz'
    np.savez(batch, **pack_structures(cah6_like_cells(2)))
    params = tmp_path / 'params.json'
    params.write_text(json.dumps({'pressure_gpa': 200.0, 'fmax': 0.05, 'max_steps': 200}))
    out = tmp_path / 'out.npz'
    code = worker.main(
        [
            'relax',
            '--structures',
            str(batch),
            '--model',
            str(tiny_model_path),
            '--parameters',
            str(params),
            '--output',
            str(out),
        ]
    )
    assert code == 0
    with np.load(out) as data:
        assert data['flag'].tolist() == ['converged', 'converged']
        assert data['offsets'].tolist() == [0, 7, 14]
    summary = json.loads(out.with_suffix('.json').read_text())
    assert summary['counts']['converged'] == 2 and summary['model_type_map'] == ['H', 'Ca', 'Y']

    params.write_text(json.dumps({'pressure_gpa': '200 GPa'}))
    code = worker.main(
        [
            'relax',
            '--structures',
            str(batch),
            '--model',
            str(tiny_model_path),
            '--parameters',
            str(params),
            '--output',
            str(out),
            '--error-file',
            str(tmp_path / 'e.json'),
        ]
    )
    assert code == worker.EXIT_INPUT_ERROR
    assert json.loads((tmp_path / 'e.json').read_text())['error'] == 'input'
