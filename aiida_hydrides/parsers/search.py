"""Parser of :class:`~aiida_hydrides.calculations.search.SearchCalculation`: ``samples.npz`` and ``minima.npz``
become one ``ArrayData`` each (whatever the number of structures), ``search.json`` a ``Dict`` summary."""
from __future__ import annotations

import io
import json

import numpy as np
from aiida import orm
from aiida.parsers import Parser

from aiida_hydrides.data.structure_batch import arrays_to_arraydata
from aiida_hydrides.parsers.lam_relax import _finite

__all__ = ('SearchParser',)

#: error kind in the worker's error file -> exit code
ERROR_KINDS = {'model': 'ERROR_MODEL', 'element': 'ERROR_UNKNOWN_ELEMENT', 'composition': 'ERROR_INVALID_COMPOSITION',
               'budget': 'ERROR_ATOM_BUDGET'}


class SearchParser(Parser):
    """Turn ``samples.npz``/``minima.npz``/``search.json`` (or ``lam_error.json``) into outputs or an exit code."""

    def _load_npz(self, name):
        content = self.retrieved.base.repository.get_object_content(name, mode='rb')
        with np.load(io.BytesIO(content), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    def parse(self, **kwargs):
        calc = self.node.process_class
        names = self.retrieved.base.repository.list_object_names()

        if calc._ERROR_FILE in names:
            report = json.loads(self.retrieved.base.repository.get_object_content(calc._ERROR_FILE))
            kind, message = report.get('error'), report.get('message', '')
            return self.exit_codes[ERROR_KINDS.get(kind, 'ERROR_INVALID_INPUT')].format(message=message)
        for name in (calc._OUTPUT_FILE, calc._MINIMA_FILE, calc._SUMMARY_FILE):
            if name not in names:
                return self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=name)
        try:
            summary = json.loads(self.retrieved.base.repository.get_object_content(calc._SUMMARY_FILE))
            samples = self._load_npz(calc._OUTPUT_FILE)
            minima = self._load_npz(calc._MINIMA_FILE)
            samples_node = arrays_to_arraydata(samples)
            minima_node = arrays_to_arraydata(minima)
        except Exception as exc:  # noqa: BLE001 - any failure means unusable files
            return self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(message=str(exc))

        formulas = [str(formula) for formula in samples.get('composition_formulas', [])]
        pressure = summary.get('settings', {}).get('pressure_gpa')
        for node in (samples_node, minima_node):
            node.base.attributes.set('compositions', formulas)
            node.base.attributes.set('pressure_gpa', pressure)
        flags = [str(flag) for flag in samples['flag']]
        counts = {flag: flags.count(flag) for flag in ('converged', 'max_steps', 'exploded', 'collapsed')}
        summary['counts'] = counts
        summary['n_structures'] = len(flags)
        self.out('samples', samples_node)
        self.out('minima', minima_node)
        self.out('summary', orm.Dict(_finite(summary)))

        failed = [entry for entry in summary.get('compositions', []) if entry.get('status') == 'failed']
        if failed:
            return self.exit_codes.ERROR_COMPOSITIONS_FAILED.format(
                formulas=', '.join(entry['formula'] for entry in failed),
                message='; '.join(str(entry.get('error')) for entry in failed))
        if len(minima['offsets']) < 2:
            return self.exit_codes.ERROR_NO_USABLE_RELAXATION.format(counts=counts)
        return None
