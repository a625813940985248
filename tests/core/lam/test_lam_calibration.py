"""The deviation of labelled candidates against the error of the ensemble that chose them."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.calibration import FrameLabels, calibration_line, calibration_records, calibration_summary


def _candidates(sizes=(2, 3, 4, 2), models=2, seed=0):
    """Candidates whose models' forces are the labels plus an error that grows with the frame's deviation."""
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    natoms = int(offsets[-1])
    deviation = np.array([0.06, 0.12, 0.2, 0.28])[: len(sizes)]
    labels, forces = {}, np.zeros((natoms, models, 3))
    energies = np.zeros((len(sizes), models))
    for index, (start, stop) in enumerate(zip(offsets[:-1], offsets[1:])):
        true = rng.normal(0, 1, (stop - start, 3))
        labels[index] = FrameLabels(-10.0 * (stop - start), true, np.eye(3), frame_id=f'cl-{index}')
        for model in range(models):
            error = np.zeros((stop - start, 3))
            error[0, 0] = 2 * deviation[index] * (1 if model == 0 else 0.5)  # the first atom is the worst
            forces[start:stop, model] = true + error
            energies[index, model] = -10.0 * (stop - start) + 0.01 * (index + 1) * (stop - start)
    candidates = {
        'offsets': offsets,
        'max_devi_f': deviation,
        'devi_e': 0.005 * np.arange(1, len(sizes) + 1),
        'model_energy': energies,
        'model_forces': forces,
        'model_virial': np.repeat(np.eye(3)[None, None], len(sizes), 0).repeat(models, 1),
    }
    return candidates, labels


def test_records_and_summary():
    candidates, labels = _candidates()
    records = calibration_records(candidates, labels)
    assert [record['index'] for record in records] == [0, 1, 2, 3]
    assert records[2]['frame_id'] == 'cl-2' and records[2]['natoms'] == 4
    assert records[2]['m0']['max_force_error'] == pytest.approx(0.4)
    assert records[2]['mean']['max_force_error'] == pytest.approx(0.3)  # (2 + 1) / 2 times the deviation
    assert records[1]['m0']['energy_error'] == pytest.approx(0.02)
    assert records[1]['m0']['virial_error'] == pytest.approx(0.0)

    summary = calibration_summary(records, 0.05, 0.3)
    first = summary['m0']
    assert summary['n_frames'] == 4
    assert first['force']['spearman'] == pytest.approx(1.0) and first['force']['pearson'] == pytest.approx(1.0)
    assert first['error_over_deviation_median'] == pytest.approx(2.0)
    halves = first['max_force_error_by_deviation_mev_per_angstrom']
    assert halves['lower_half'] == pytest.approx(180.0) and halves['upper_half'] == pytest.approx(480.0)
    # true errors 0.12, 0.24, 0.4, 0.56 eV/A against the window 0.05-0.3
    assert first['true_status'] == {'accurate': 0, 'candidate': 2, 'failed': 2}
    assert first['energy_mae_mev_per_atom'] == pytest.approx(25.0)
    assert summary['trust_window_ev_per_angstrom'] == [0.05, 0.3]
    assert 'Spearman 1.00' in calibration_line(summary) and '4 labelled frames' in calibration_line(summary)


def test_too_few_frames_give_no_correlation():
    candidates, labels = _candidates()
    summary = calibration_summary(calibration_records(candidates, {0: labels[0], 1: labels[1]}))
    assert summary['m0']['force'] == {'spearman': None, 'pearson': None}
    assert 'true_status' not in summary['m0']
    assert 'no rank correlation with 2 frames' in calibration_line(summary)
    assert calibration_summary([]) == {'n_frames': 0}
    assert calibration_line({'n_frames': 0}).startswith('no labelled frame')


def test_refusals():
    candidates, labels = _candidates()
    without = {key: value for key, value in candidates.items() if key != 'model_forces'}
    with pytest.raises(HydridesInputError, match='kept no predictions'):
        calibration_records(without, labels)
    with pytest.raises(HydridesInputError, match='candidate 7 does not exist'):
        calibration_records(candidates, {7: labels[0]})
    with pytest.raises(HydridesInputError, match='2 forces for a frame of 3 atoms'):
        calibration_records(candidates, {1: labels[0]})
