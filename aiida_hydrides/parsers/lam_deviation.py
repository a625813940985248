"""Parser of :class:`~aiida_hydrides.calculations.lam_deviation.LamDeviationCalculation`: ``deviation.npz`` becomes
the ``deviations`` ``ArrayData`` (one entry per frame), ``candidates.npz`` the ``candidates`` structure batch and
``deviation.json`` the ``summary`` ``Dict`` with the accurate / candidate / failed shares.

A file that is missing gives ``ERROR_OUTPUT_MISSING`` (300), unless the worker reported why in its error file (320
model, 321 element, 322 input, see :mod:`aiida_hydrides.parsers.base`); files that cannot be read, or whose arrays
disagree (a number of frames other than the summary's, candidates that are not a structure batch, an unknown status),
give ``ERROR_OUTPUT_UNREADABLE`` (301) and no outputs.
"""

from __future__ import annotations

import numpy as np
from aiida import orm

from aiida_hydrides.data.structure_batch import arrays_to_arraydata
from aiida_hydrides.parsers.base import LamWorkerParser, _finite

__all__ = ('LamDeviationParser',)


def _compact(arrays: dict) -> dict:
    """Strings as wide as the longest one (numpy pads them to the widest of a concatenation)."""
    result = {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind == 'U':
            width = max((len(item) for item in value.ravel().tolist()), default=1)
            value = value.astype(f'U{max(width, 1)}')
        result[name] = value
    return result


class LamDeviationParser(LamWorkerParser):
    """Turn ``deviation.npz``/``candidates.npz``/``deviation.json`` (or ``lam_error.json``) into outputs or an exit
    code."""

    REQUIRED_FILES = ('_OUTPUT_FILE', '_CANDIDATES_FILE', '_SUMMARY_FILE')

    def read_outputs(self, calc, names):
        from aiida_hydrides.core.lam.deviation import DEVIATION_KEYS, STATUSES

        summary = self.load_file(calc._SUMMARY_FILE)
        deviations = self.load_npz(calc._OUTPUT_FILE)
        candidates = self.load_npz(calc._CANDIDATES_FILE)
        missing = [key for key in (*DEVIATION_KEYS, 'status', 'chosen') if key not in deviations]
        if missing:
            raise ValueError(f'{calc._OUTPUT_FILE} lacks {missing}')
        count = len(deviations['status'])
        if summary.get('n_frames') != count or any(len(deviations[key]) != count for key in DEVIATION_KEYS):
            raise ValueError(
                f'{calc._OUTPUT_FILE} has {count} frames, the summary {summary.get("n_frames")}, or its arrays differ '
                'in length'
            )
        unknown = sorted(set(deviations['status'].tolist()) - set(STATUSES))
        if unknown:
            raise ValueError(f'unknown frame status {unknown}')
        if len(candidates.get('offsets', [])) - 1 != int(np.count_nonzero(deviations['chosen'])):
            raise ValueError('the candidates do not match the frames marked as chosen')
        node = orm.ArrayData()
        for name, value in _compact(deviations).items():
            node.set_array(name, value)
        node.base.attributes.set('n_frames', count)
        return {'summary': summary, 'deviations': node, 'candidates': arrays_to_arraydata(_compact(candidates))}

    def attach_outputs(self, data):
        summary = data['summary']
        shares = summary.get('shares', {})
        for node in (data['deviations'], data['candidates']):
            node.base.attributes.set('shares', shares)
        self.out('deviations', data['deviations'])
        self.out('candidates', data['candidates'])
        self.out('summary', orm.Dict(_finite(summary)))
        return None
