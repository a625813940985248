"""Tc records as deepmd/npy property systems: one system per atom-type sequence, ``tc.npy`` labels, the type map of
a fine-tuned model, and the ensemble statistics and prediction files of :mod:`aiida_hydrides.core.tc_model.predict`."""

import json

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.dataset import TrainingSet
from aiida_hydrides.core.tc_model import deepmd_data, predict
from aiida_hydrides.core.tc_model.records import TcRecord

CELL = ((3.0, 0.0, 0.0), (0.0, 3.0, 0.0), (0.0, 0.0, 3.0))


def _record(name, symbols, tc=100.0, shift=0.0):
    positions = tuple((0.4 * i + shift, 0.1 * i, 0.0) for i in range(len(symbols)))
    return TcRecord(name, 'X', tuple(symbols), CELL, positions, 200.0, tc)


def test_one_system_per_atom_type_sequence(tmp_path):
    records = [
        _record('a', ['H', 'Ca', 'H'], 50.0),
        _record('b', ['Ca', 'H', 'H'], 60.0, shift=0.2),  # same sorted types as a
        _record('c', ['Y', 'H', 'H', 'H'], 70.0),
    ]
    type_map = deepmd_data.tc_type_map(records, ['H', 'Ca', 'Y'], 'se_e2_a')
    assert type_map == ['H', 'Ca', 'Y']
    folders = deepmd_data.write_tc_systems(records, tmp_path, type_map)
    assert sorted(folder.name for folder in folders) == ['H2Ca1', 'H3Y1']
    system = tmp_path / 'H2Ca1'
    assert (system / 'type.raw').read_text().split() == ['0', '0', '1']
    assert (system / 'type_map.raw').read_text().split() == type_map
    assert (system / 'frame_ids.raw').read_text().split() == ['a', 'b']
    tc = np.load(system / 'set.000' / 'tc.npy')
    assert tc.shape == (2, 1) and tc[:, 0].tolist() == [50.0, 60.0]
    coord = np.load(system / 'set.000' / 'coord.npy')
    assert coord.shape == (2, 9)
    # atoms sorted by type: a's Ca (its atom 1) is last
    np.testing.assert_allclose(coord[0].reshape(3, 3)[2], records[0].positions[1])
    np.testing.assert_allclose(np.load(system / 'set.000' / 'box.npy')[0], np.ravel(CELL))
    back = TrainingSet.read_npy(tmp_path)
    assert back.nframes == 3 and sorted(back.frame_ids()) == ['a', 'b', 'c']


def test_type_map_of_a_fine_tuned_model():
    records = [_record('a', ['S', 'H', 'H', 'H']), _record('b', ['La', 'H'])]
    assert deepmd_data.tc_type_map(records) == ['H', 'S', 'La']  # from scratch: by atomic number
    # a mixed-type descriptor can be extended: the LAM's map first, in its order
    assert deepmd_data.tc_type_map(records, ['H', 'Ca', 'Y'], 'dpa3') == ['H', 'Ca', 'Y', 'S', 'La']
    with pytest.raises(HydridesInputError, match=r"elements \['S', 'La'\].*se_e2_a descriptor cannot be extended"):
        deepmd_data.tc_type_map(records, ['H', 'Ca', 'Y'], 'se_e2_a')


def test_labels_are_required_for_training(tmp_path):
    records = [_record('a', ['H', 'Ca'], None)]
    with pytest.raises(HydridesInputError, match="'a' has no Tc label"):
        deepmd_data.write_tc_systems(records, tmp_path, ['H', 'Ca'])
    deepmd_data.write_tc_systems(records, tmp_path, ['H', 'Ca'], require_labels=False)
    assert np.load(tmp_path / 'H1Ca1' / 'set.000' / 'tc.npy').tolist() == [[0.0]]
    with pytest.raises(HydridesInputError, match=r"elements \['Ca'\] are not in the type map"):
        deepmd_data.write_tc_systems([_record('b', ['H', 'Ca'])], tmp_path, ['H'])
    with pytest.raises(HydridesInputError, match='repeat'):
        deepmd_data.write_tc_systems([_record('b', ['H']), _record('b', ['H'])], tmp_path, ['H'])


def test_ensemble_statistics_and_prediction_files():
    values = np.array([[10.0, 20.0], [14.0, 20.0]])
    mean, spread = predict.ensemble_statistics(values)
    assert mean.tolist() == [12.0, 20.0] and spread.tolist() == [2.0, 0.0]
    records = [_record('a', ['H', 'Ca']), _record('b', ['H', 'Y'])]
    request = predict.prediction_input(['m0.pth', 'm1.pth'], records)
    assert request['models'] == ['m0.pth', 'm1.pth'] and request['frames'][1]['symbols'] == ['H', 'Y']
    json.dumps(request)
    result = {'predictions': {'a': [1.0, 3.0], 'b': [2.0, 2.0]}}
    assert predict.read_predictions(result, ['b', 'a']).tolist() == [[2.0, 1.0], [2.0, 3.0]]
    with pytest.raises(HydridesInputError, match='no prediction'):
        predict.read_predictions(result, ['c'])
    script = predict.launcher_script()
    compile(script, 'run_tc_steps.py', 'exec')
    assert 'def run_steps' in script and 'def pth_to_checkpoint' in script and 'def predict_file' in script
