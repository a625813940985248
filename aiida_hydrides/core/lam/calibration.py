"""Does the ensemble's deviation predict its error? The frames a concurrent-learning iteration labels were chosen by the
deviation of the ensemble and never trained on: once pw.x has labelled them, the error of the models on them is known,
and it can be set against the deviation that chose them.

For each labelled frame (the candidates of :func:`aiida_hydrides.core.lam.deviation.deviation_report` carry the
predictions of every model, :data:`~aiida_hydrides.core.lam.deviation.PREDICTION_KEYS`):

- ``max_force_error``: the largest error of an atom's force, ``max_j |F_j - F_j(DFT)|`` (eV/Å), of the first model
  (``m0``, the member a search uses after the loop) and of the ensemble mean; this is what ``max_devi_f`` estimates
  (DP-GEN's trust window is a window on it);
- ``rms_force_error`` (eV/Å) and ``energy_error`` (eV/atom, signed) of the same two predictions;
- the frame's ``max_devi_f`` (eV/Å) and ``devi_e`` (eV/atom).

Over the frames (:func:`calibration_summary`): the Spearman and Pearson correlation of ``max_devi_f`` with the
first model's ``max_force_error`` (a deviation that predicts the error ranks the frames as the error does), the median
ratio of error to deviation (models that differ only in their seeds tend to agree more than they are right: the ratio
says by how much), the mean error of the frames below and above the median deviation, and the class the
true error gives each frame against the trust window (``accurate``: below ``f_trust_lo``, ``failed``: at least
``f_trust_hi``). A frame chosen as a candidate whose true error is below ``f_trust_lo`` was labelled in vain; one above
``f_trust_hi`` was further from the training data than the deviation said. The energies are compared the same way
(``devi_e`` against ``|energy_error|``).

Only candidates are labelled, so the comparison covers the deviations of the trust window, not those the ensemble
called accurate or failed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import HydridesInputError
from .deviation import PREDICTION_KEYS, STATUSES

__all__ = ('FrameLabels', 'calibration_line', 'calibration_records', 'calibration_summary')

#: fewest frames for a correlation coefficient
MIN_FRAMES = 3


class FrameLabels:
    """The DFT labels of one frame: ``energy`` (eV), ``forces`` (atoms, 3) eV/Å, ``virial`` (3, 3) eV or ``None``."""

    __slots__ = ('energy', 'forces', 'virial', 'frame_id')

    def __init__(self, energy: float, forces, virial=None, frame_id: str | None = None):
        self.energy = float(energy)
        self.forces = np.asarray(forces, dtype=float).reshape(-1, 3)
        self.virial = None if virial is None else np.asarray(virial, dtype=float).reshape(3, 3)
        self.frame_id = frame_id


def calibration_records(candidates: Mapping[str, np.ndarray], labels: Mapping[int, FrameLabels]) -> list[dict]:
    """One record per labelled frame (``labels``: candidate index -> its :class:`FrameLabels`), in index order: the
    deviations of the frame and the errors of the first model and of the ensemble mean (see the module docstring).

    :raises HydridesInputError: candidates without the models' predictions, an index outside the candidates, or labels
        whose number of atoms differs from the frame's.
    """
    missing = [key for key in (*PREDICTION_KEYS, 'offsets', 'max_devi_f', 'devi_e') if key not in candidates]
    if missing:
        raise HydridesInputError(
            f'the candidates lack {missing}: they come from a deviation job that kept no predictions'
        )
    offsets = np.asarray(candidates['offsets'], dtype=np.int64)
    count = offsets.size - 1
    energies = np.asarray(candidates['model_energy'], dtype=float)
    forces = np.asarray(candidates['model_forces'], dtype=float)
    virials = np.asarray(candidates['model_virial'], dtype=float)
    records = []
    for index in sorted(labels):
        if not 0 <= int(index) < count:
            raise HydridesInputError(f'candidate {index} does not exist: there are {count}')
        label = labels[index]
        start, stop = int(offsets[index]), int(offsets[index + 1])
        natoms = stop - start
        if label.forces.shape != (natoms, 3):
            raise HydridesInputError(
                f'candidate {index}: the labels have {len(label.forces)} forces for a frame of {natoms} atoms'
            )
        predicted = forces[start:stop]  # (atoms, models, 3)
        record = {
            'index': int(index),
            'frame_id': label.frame_id,
            'natoms': natoms,
            'max_devi_f': float(candidates['max_devi_f'][index]),
            'devi_e': float(candidates['devi_e'][index]),
        }
        for name, frame_forces, energy, virial in (
            ('m0', predicted[:, 0], energies[index, 0], virials[index, 0]),
            ('mean', predicted.mean(axis=1), energies[index].mean(), virials[index].mean(axis=0)),
        ):
            error = np.linalg.norm(frame_forces - label.forces, axis=1)
            record[name] = {
                'max_force_error': float(error.max()),
                'rms_force_error': float(np.sqrt(np.mean(error**2) / 3)),
                'energy_error': float((energy - label.energy) / natoms),
            }
            if label.virial is not None:
                record[name]['virial_error'] = float(np.abs(virial - label.virial).max() / natoms)
        records.append(record)
    return records


def _correlations(x, y) -> dict:
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < MIN_FRAMES or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {'spearman': None, 'pearson': None}
    return {'spearman': float(stats.spearmanr(x, y)[0]), 'pearson': float(stats.pearsonr(x, y)[0])}


def _true_status(error: np.ndarray, f_trust_lo: float, f_trust_hi: float) -> dict:
    status = np.where(error < f_trust_lo, 'accurate', np.where(error >= f_trust_hi, 'failed', 'candidate'))
    return {name: int(np.count_nonzero(status == name)) for name in STATUSES}


def calibration_summary(records: list[dict], f_trust_lo: float | None = None, f_trust_hi: float | None = None) -> dict:
    """The figures over the frames of :func:`calibration_records` (see the module docstring); ``f_trust_lo`` and
    ``f_trust_hi`` (eV/Å), the trust window the frames were chosen with, give each frame the class of its true error.
    Errors in meV/Å and meV/atom."""
    summary: dict = {'n_frames': len(records)}
    if not records:
        return summary
    deviation = np.array([record['max_devi_f'] for record in records])
    devi_e = np.array([record['devi_e'] for record in records])
    for name in ('m0', 'mean'):
        error = np.array([record[name]['max_force_error'] for record in records])
        rms = np.array([record[name]['rms_force_error'] for record in records])
        energy = np.abs([record[name]['energy_error'] for record in records])
        entry = {
            'max_force_error_mev_per_angstrom': {
                'median': 1000 * float(np.median(error)),
                'mean': 1000 * float(error.mean()),
                'max': 1000 * float(error.max()),
            },
            'force_rmse_mev_per_angstrom': 1000 * float(np.sqrt(np.mean(rms**2))),
            'energy_mae_mev_per_atom': 1000 * float(energy.mean()),
            'force': _correlations(deviation, error),
            'energy': _correlations(devi_e, energy),
        }
        positive = deviation > 0
        if positive.any():
            entry['error_over_deviation_median'] = float(np.median(error[positive] / deviation[positive]))
        if len(records) >= 2:
            order = np.argsort(deviation, kind='stable')
            low, high = order[: len(order) // 2], order[len(order) // 2 :]
            entry['max_force_error_by_deviation_mev_per_angstrom'] = {
                'lower_half': 1000 * float(error[low].mean()),
                'upper_half': 1000 * float(error[high].mean()),
            }
        if f_trust_lo is not None and f_trust_hi is not None:
            entry['true_status'] = _true_status(error, f_trust_lo, f_trust_hi)
        summary[name] = entry
    summary['max_devi_f_mev_per_angstrom'] = {
        'median': 1000 * float(np.median(deviation)),
        'min': 1000 * float(deviation.min()),
        'max': 1000 * float(deviation.max()),
    }
    if f_trust_lo is not None and f_trust_hi is not None:
        summary['trust_window_ev_per_angstrom'] = [float(f_trust_lo), float(f_trust_hi)]
    return summary


def calibration_line(summary: Mapping) -> str:
    """One line of the figures of :func:`calibration_summary` for a report."""
    count = summary.get('n_frames', 0)
    first = summary.get('m0')
    if not count or not first:
        return 'no labelled frame to set against the deviation'
    error = first['max_force_error_mev_per_angstrom']['median']
    deviation = summary['max_devi_f_mev_per_angstrom']['median']
    rho = first['force'].get('spearman')
    rho_text = f'Spearman {rho:.2f}' if rho is not None else f'no rank correlation with {count} frames'
    return (
        f'on the {count} labelled frames the largest force error of m0 is {error:.0f} meV/A (median) against a '
        f'deviation of {deviation:.0f} meV/A; {rho_text}'
    )
