"""The supercell rule of the LAM phonons, the force-constant arrays, and ``hydrides-lam phonons`` on several
structures: per-structure files, failures, early stops (time, signal) and the resume in one output folder."""

import json
import os
import signal

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from aiida_hydrides.core.lam import worker
from aiida_hydrides.core.lam.ase_backend import AseEvaluator
from aiida_hydrides.core.lam.batch import pack_structures
from aiida_hydrides.core.lam.errors import HydridesInputError
from aiida_hydrides.core.lam.phonons import DEFAULT_SUPERCELL_MIN_LENGTH, lam_phonons, supercell_for
from aiida_hydrides.core.prototypes import sodalite_mh6_primitive

#: CaH6 in a 2x2x2 supercell, Ca4 in its cell: a fraction of a second each with the tiny model
PARAMETERS = {'mesh': [4, 4, 4], 'supercell_min_length': 4.0, 'compress': False}


def test_supercell_for_cubic_cells():
    cubic = Atoms('Ca', cell=np.eye(3) * 4.0, pbc=True)
    assert DEFAULT_SUPERCELL_MIN_LENGTH == 6.0
    assert supercell_for(cubic) == (2, 2, 2)
    assert supercell_for(cubic, 8.0) == (2, 2, 2)  # a width of exactly min_length is enough
    assert supercell_for(cubic, 8.01) == (3, 3, 3)
    assert supercell_for(cubic, 3.0) == (1, 1, 1)
    # the bcc primitive cell: its widths are the (110) spacing a/sqrt(2) = 2.40 Å, not the vector length 2.94 Å
    assert supercell_for(sodalite_mh6_primitive('Ca', a=3.4)) == (3, 3, 3)
    assert supercell_for(sodalite_mh6_primitive('Ca', a=3.4), 4.0) == (2, 2, 2)


def test_supercell_for_elongated_cells():
    assert supercell_for(np.diag([3.0, 3.0, 12.0])) == (2, 2, 1)
    assert supercell_for(np.diag([2.0, 7.0, 3.1])) == (3, 1, 2)
    # hexagonal a = 3, c = 10: the widths in the basal plane are a*sin(60°) = 2.6 Å, so 3 repetitions, not 2
    hexagonal = bulk('Mg', 'hcp', a=3.0, c=10.0)
    assert supercell_for(hexagonal) == (3, 3, 1)
    with pytest.raises(HydridesInputError, match='supercell_min_length'):
        supercell_for(hexagonal, 0.0)
    with pytest.raises(HydridesInputError, match='no volume'):
        supercell_for(np.zeros((3, 3)))


def test_auto_supercell_and_force_constant_arrays():
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    result = lam_phonons(bulk('Al', 'fcc', a=4.05, cubic=True), AseEvaluator(EMT()), supercell='auto', mesh=(4, 4, 4))
    assert result.supercell_matrix == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]  # 4.05 Å < 6 Å <= 8.1 Å
    arrays = result.force_constant_arrays()
    assert arrays['force_constants'].shape == (1, 32, 3, 3)  # compact: the one atom of the primitive fcc cell
    unitcell = PhonopyAtoms(numbers=arrays['numbers'], positions=arrays['positions'], cell=arrays['cell'])
    phonon = Phonopy(unitcell, supercell_matrix=arrays['supercell_matrix'], primitive_matrix=arrays['primitive_matrix'])
    phonon.force_constants = arrays['force_constants']
    phonon.run_mesh((4, 4, 4), is_gamma_center=True)
    np.testing.assert_allclose(phonon.get_mesh_dict()['frequencies'], result.frequencies, atol=1e-8)
    with pytest.raises(HydridesInputError, match="'auto'"):
        lam_phonons(bulk('Al', 'fcc', a=4.05), AseEvaluator(EMT()), supercell='big')


def test_phonon_parameters():
    settings, options = worker.phonon_parameters({})
    assert settings == {
        'supercell': 'auto',
        'supercell_min_length': 6.0,
        'mesh': [8, 8, 8],
        'displacement': 0.01,
        'imaginary_threshold_thz': 3.0,
        'batch_size': 64,
    }
    assert options == {'head': None, 'threads': None, 'compress': True, 'max_wall_s': None}
    settings, _ = worker.phonon_parameters({'supercell': [2, 2, 1], 'mesh': [4.0, 4, 4], 'threads': None})
    assert settings['supercell'] == [2, 2, 1] and settings['mesh'] == [4, 4, 4]
    for parameters, message in (
        ({'supercel': 'auto'}, r"unknown parameters \['supercel'\]"),
        ({'supercell': [2, 0, 2]}, 'supercell must be'),
        ({'supercell_min_length': -1}, 'supercell_min_length must be a number > 0'),
        ({'max_wall_s': '1 h'}, 'max_wall_s must be a number > 0'),
        ({'compress': 'yes'}, 'compress must be true or false'),
        ({'imaginary_threshold_thz': -0.1}, 'imaginary_threshold_thz must be a number >= 0'),
    ):
        with pytest.raises(HydridesInputError, match=message):
            worker.phonon_parameters(parameters)


def _cells():
    overlapping = Atoms('CaH2', positions=[(0, 0, 0), (1, 1, 1), (1, 1, 1)], cell=np.eye(3) * 3.0, pbc=True)
    return [sodalite_mh6_primitive('Ca', a=3.4), overlapping, bulk('Ca', 'fcc', a=4.0, cubic=True)]


def _run(tmp_path, model, parameters, keys=('c_1', 'bad', 'c_2'), cells=None):
    arrays = pack_structures(cells or _cells())
    if keys is not None:
        arrays['keys'] = np.array(keys)
    np.savez(tmp_path / 'batch.npz', **arrays)
    (tmp_path / 'params.json').write_text(json.dumps(parameters))
    args = ['phonons', '--structures', str(tmp_path / 'batch.npz'), '--model', str(model)]
    args += ['--parameters', str(tmp_path / 'params.json'), '--output', str(tmp_path / 'ph.npz')]
    code = worker.main(args)
    summary = tmp_path / 'ph.json'
    return code, json.loads(summary.read_text()) if summary.exists() else None


def test_worker_phonons_stop_and_resume(tmp_path, tiny_model_path):
    folder = tmp_path / 'phonons'
    # a tiny max_wall_s: the first structure is computed, then the worker stops
    code, summary = _run(tmp_path, tiny_model_path, {**PARAMETERS, 'max_wall_s': 1e-3})
    assert code == worker.EXIT_STOPPED
    assert summary['finished'] == ['c_1'] and summary['unfinished'] == ['bad', 'c_2']
    error = json.loads((tmp_path / 'lam_error.json').read_text())
    assert error['error'] == 'walltime' and error['partial'] and error['unfinished'] == ['bad', 'c_2']
    assert sorted(path.name for path in folder.iterdir()) == ['c_1.json', 'c_1.npz']
    first = (folder / 'c_1.json').stat().st_mtime_ns

    # the rerun in the same folder skips c_1, records the failure of 'bad' and goes on with c_2
    (tmp_path / 'lam_error.json').unlink()
    code, summary = _run(tmp_path, tiny_model_path, PARAMETERS)
    assert code == 0 and not (tmp_path / 'lam_error.json').exists()
    assert (folder / 'c_1.json').stat().st_mtime_ns == first
    entries = {entry['key']: entry for entry in summary['structures']}
    assert entries['c_1']['resumed'] and entries['c_1']['status'] == 'finished'
    assert 'resumed' not in entries['c_2'] and entries['c_2']['status'] == 'finished'
    assert entries['bad']['status'] == 'failed' and 'too close' in entries['bad']['error']
    assert summary['finished'] == ['c_1', 'c_2'] and summary['failed'] == ['bad'] and summary['unfinished'] == []
    assert sorted(path.name for path in folder.iterdir()) == ['bad.json', 'c_1.json', 'c_1.npz', 'c_2.json', 'c_2.npz']
    record = json.loads((folder / 'c_2.json').read_text())
    assert record['key'] == 'c_2' and record['formula'] == 'Ca4' and record['supercell_matrix'][0] == [1, 0, 0]
    with np.load(folder / 'c_1.npz') as data:
        assert data['force_constants'].shape == (7, 56, 3, 3) and data['supercell_matrix'].tolist()[2] == [0, 0, 2]
    with np.load(tmp_path / 'ph.npz') as data:
        assert data['keys'].tolist() == ['c_1', 'bad', 'c_2']
        assert data['status'].tolist() == ['finished', 'failed', 'finished']
        assert (
            np.isnan(data['min_frequency_thz'][1])
            and data['min_frequency_thz'][0] == entries['c_1']['min_frequency_thz']
        )

    # a third run has nothing left to do
    code, summary = _run(tmp_path, tiny_model_path, PARAMETERS)
    assert code == 0 and all(entry['resumed'] for entry in summary['structures'])


def test_worker_phonons_signal(tmp_path, tiny_model_path, monkeypatch):
    """SIGTERM during the second structure: it is dropped, the first is kept, the error file says ``signal``."""
    from aiida_hydrides.core.lam import phonons

    calls = []
    original = phonons.lam_phonons

    def interrupted(atoms, evaluator, **kwargs):
        calls.append(len(atoms))
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(atoms, evaluator, **kwargs)

    monkeypatch.setattr(phonons, 'lam_phonons', interrupted)
    cells = [sodalite_mh6_primitive('Ca', a=3.4), bulk('Ca', 'fcc', a=4.0, cubic=True)]
    code, summary = _run(tmp_path, tiny_model_path, PARAMETERS, keys=None, cells=cells)
    assert code == worker.EXIT_STOPPED
    assert [entry['status'] for entry in summary['structures']] == ['finished', 'interrupted']
    assert summary['stopped']['reason'] == 'signal' and summary['unfinished'] == ['1']  # default keys '0', '1'
    error = json.loads((tmp_path / 'lam_error.json').read_text())
    assert error == {'error': 'signal', 'message': 'stopped by SIGTERM', 'partial': True, 'unfinished': ['1']}
    assert sorted(path.name for path in (tmp_path / 'phonons').iterdir()) == ['0.json', '0.npz']
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are restored


def test_worker_phonons_bad_keys_and_elements(tmp_path, tiny_model_path):
    code, _ = _run(tmp_path, tiny_model_path, PARAMETERS, keys=('a', 'a/b', 'c'))
    assert code == worker.EXIT_INPUT_ERROR
    assert 'a/b' in json.loads((tmp_path / 'lam_error.json').read_text())['message']
    cells = [bulk('Ca', 'fcc', a=4.0, cubic=True), bulk('Al', 'fcc', a=4.05)]
    code = worker.main(
        ['phonons', '--structures', str(_batch(tmp_path, cells, ['ok', 'al'])), '--model', str(tiny_model_path)]
        + ['--output', str(tmp_path / 'ph.npz'), '--error-file', str(tmp_path / 'e.json')]
    )
    assert code == worker.EXIT_ELEMENT_ERROR
    assert "structure 'al' (Al) contains Al" in json.loads((tmp_path / 'e.json').read_text())['message']


def _batch(tmp_path, cells, keys):
    arrays = pack_structures(cells)
    arrays['keys'] = np.array(keys)
    path = tmp_path / 'elements.npz'
    np.savez(path, **arrays)
    return path
