"""Parser of :class:`~aiida_hydrides.calculations.lam_relax.LamRelaxCalculation`: the worker's ``.npz`` results
become one ``ArrayData`` of final structures with per-structure arrays, plus a ``Dict`` summary."""
from __future__ import annotations

import io
import json

import numpy as np
from aiida import orm
from aiida.parsers import Parser

from aiida_hydrides.data.structure_batch import arrays_to_arraydata

__all__ = ('LamRelaxParser',)


def _finite(value):
    """``value`` with non-finite floats replaced by ``None`` (a ``Dict`` must be valid JSON)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class LamRelaxParser(Parser):
    """Turn ``relaxed.npz``/``relaxed.json`` (or ``lam_error.json``) into outputs or an exit code."""

    def parse(self, **kwargs):
        calc = self.node.process_class
        names = self.retrieved.base.repository.list_object_names()

        if calc._ERROR_FILE in names:
            report = json.loads(self.retrieved.base.repository.get_object_content(calc._ERROR_FILE))
            kind, message = report.get('error'), report.get('message', '')
            code = {'model': 'ERROR_MODEL', 'element': 'ERROR_UNKNOWN_ELEMENT'}.get(kind, 'ERROR_INVALID_INPUT')
            return self.exit_codes[code].format(message=message)
        if calc._OUTPUT_FILE not in names:
            return self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=calc._OUTPUT_FILE)
        try:
            content = self.retrieved.base.repository.get_object_content(calc._OUTPUT_FILE, mode='rb')
            with np.load(io.BytesIO(content), allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            node = arrays_to_arraydata(arrays)
        except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
            return self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(message=str(exc))

        summary = {}
        if calc._SUMMARY_FILE in names:
            summary = json.loads(self.retrieved.base.repository.get_object_content(calc._SUMMARY_FILE))
        flags = [str(flag) for flag in arrays['flag']]
        counts = {flag: flags.count(flag) for flag in ('converged', 'max_steps', 'exploded', 'collapsed')}
        summary['counts'] = counts
        summary['n_structures'] = len(flags)
        summary = _finite(summary)

        self.out('relaxed_structures', node)
        self.out('summary', orm.Dict(summary))
        if counts['converged'] == 0:
            return self.exit_codes.ERROR_NONE_CONVERGED.format(counts=counts)
        return None
