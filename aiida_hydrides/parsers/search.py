"""Parser of :class:`~aiida_hydrides.calculations.search.SearchCalculation`: ``samples.npz`` and ``minima.npz``
become one ``ArrayData`` each (whatever the number of structures), ``search.json`` a ``Dict`` summary. A worker
that stopped early (time limit, SIGTERM, out of memory) has its finished compositions attached all the same, and the
job ends with ``ERROR_OUT_OF_WALLTIME`` or ``ERROR_OUT_OF_MEMORY`` (see :mod:`aiida_hydrides.parsers.base`)."""

from __future__ import annotations

from aiida import orm

from aiida_hydrides.data.structure_batch import arrays_to_arraydata
from aiida_hydrides.parsers.base import LamWorkerParser, _finite

__all__ = ('SearchParser',)


class SearchParser(LamWorkerParser):
    """Turn ``samples.npz``/``minima.npz``/``search.json`` (or ``lam_error.json``) into outputs or an exit code."""

    ERROR_KINDS = {
        **LamWorkerParser.ERROR_KINDS,
        'composition': 'ERROR_INVALID_COMPOSITION',
        'budget': 'ERROR_ATOM_BUDGET',
    }
    REQUIRED_FILES = ('_OUTPUT_FILE', '_MINIMA_FILE', '_SUMMARY_FILE')

    def read_outputs(self, calc, names):
        summary = self.load_file(calc._SUMMARY_FILE)
        samples = self.load_npz(calc._OUTPUT_FILE)
        minima = self.load_npz(calc._MINIMA_FILE)
        return {
            'summary': summary,
            'samples': samples,
            'minima': minima,
            'samples_node': arrays_to_arraydata(samples),
            'minima_node': arrays_to_arraydata(minima),
        }

    def attach_outputs(self, data):
        summary, samples, minima = data['summary'], data['samples'], data['minima']
        formulas = [str(formula) for formula in samples.get('composition_formulas', [])]
        pressure = summary.get('settings', {}).get('pressure_gpa')
        for node in (data['samples_node'], data['minima_node']):
            node.base.attributes.set('compositions', formulas)
            node.base.attributes.set('pressure_gpa', pressure)
        counts = self.flag_counts(samples['flag'])
        summary['counts'] = counts
        summary['n_structures'] = len(samples['flag'])
        self.out('samples', data['samples_node'])
        self.out('minima', data['minima_node'])
        self.out('summary', orm.Dict(_finite(summary)))

        failed = [entry for entry in summary.get('compositions', []) if entry.get('status') == 'failed']
        if failed:
            return self.exit_codes.ERROR_COMPOSITIONS_FAILED.format(
                formulas=', '.join(entry['formula'] for entry in failed),
                message='; '.join(str(entry.get('error')) for entry in failed),
            )
        if len(minima['offsets']) < 2:
            return self.exit_codes.ERROR_NO_USABLE_RELAXATION.format(counts=counts)
        return None
