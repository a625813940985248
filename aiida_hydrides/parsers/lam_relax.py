"""Parser of :class:`~aiida_hydrides.calculations.lam_relax.LamRelaxCalculation`: the worker's ``.npz`` results
become one ``ArrayData`` of final structures with per-structure arrays, plus a ``Dict`` summary."""

from __future__ import annotations

from aiida import orm

from aiida_hydrides.data.structure_batch import arrays_to_arraydata
from aiida_hydrides.parsers.base import LamWorkerParser, _finite

__all__ = ('LamRelaxParser',)


class LamRelaxParser(LamWorkerParser):
    """Turn ``relaxed.npz``/``relaxed.json`` (or ``lam_error.json``) into outputs or an exit code."""

    def read_outputs(self, calc, names):
        arrays = self.load_npz(calc._OUTPUT_FILE)
        summary = self.load_file(calc._SUMMARY_FILE) if calc._SUMMARY_FILE in names else {}
        return {'arrays': arrays, 'node': arrays_to_arraydata(arrays), 'summary': summary}

    def attach_outputs(self, data):
        summary = data['summary']
        counts = self.flag_counts(data['arrays']['flag'])
        summary['counts'] = counts
        summary['n_structures'] = len(data['arrays']['flag'])
        self.out('relaxed_structures', data['node'])
        self.out('summary', orm.Dict(_finite(summary)))
        if counts['converged'] == 0:
            return self.exit_codes.ERROR_NONE_CONVERGED.format(counts=counts)
        return None
