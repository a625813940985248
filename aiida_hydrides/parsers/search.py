"""Parser of :class:`~aiida_hydrides.calculations.search.SearchCalculation`: ``samples.npz`` and ``minima.npz``
become one ``ArrayData`` each (whatever the number of structures), ``search.json`` a ``Dict`` summary. A worker
that stopped early (time limit, SIGTERM, out of memory) has its finished compositions attached all the same, and the
job ends with ``ERROR_OUT_OF_WALLTIME`` or ``ERROR_OUT_OF_MEMORY`` (see :mod:`aiida_hydrides.parsers.base`).

The three files are retrieved into a temporary folder only: the outputs hold their content, so the database does
not store it twice. The arrays are stored compactly (:func:`compact_arrays`), and the summary without the list of
each composition's minima (the ``minima`` output has them).
"""

from __future__ import annotations

import numpy as np
from aiida import orm

from aiida_hydrides.data.structure_batch import arrays_to_arraydata
from aiida_hydrides.parsers.base import LamWorkerParser, _finite

__all__ = ('SearchParser', 'compact_arrays')

#: arrays of the worker's samples that are not stored: the initial structure of every relaxation (the search draws
#: it again from its seed, and nothing downstream reads it)
DROPPED_SAMPLE_ARRAYS = ('initial_positions', 'initial_cells')


def compact_arrays(arrays: dict, single_precision_geometry: bool = False) -> dict:
    """The arrays of a search file as they are stored: the same names and values in smaller types.

    Atomic numbers as ``uint8``, the other integers as ``int32`` (indices, counts, steps; ``offsets`` stays
    ``int64``), strings as wide as the longest one, and with ``single_precision_geometry`` the positions and cells (also
    those of the frames along the relaxations, ``trajectory_*``) as ``float32``: 6e-8 relative, a few 1e-6 Å in cells of some 10 Å, far below what a relaxation moves an atom (the
    stored samples are for querying and for relaxing again; the minima, which become ``StructureData``, keep double
    precision). Enthalpies, energies and volumes keep double precision.
    """
    result = {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if name in ('numbers', 'trajectory_numbers'):
            value = value.astype(np.uint8)
        elif name in ('positions', 'cells', 'trajectory_positions', 'trajectory_cells') and single_precision_geometry:
            value = value.astype(np.float32)
        elif value.dtype.kind in 'iu' and name != 'offsets' and value.dtype.itemsize > 4:
            if value.size == 0 or (value.min() >= np.iinfo(np.int32).min and value.max() <= np.iinfo(np.int32).max):
                value = value.astype(np.int32)
        elif value.dtype.kind == 'U':
            width = max((len(item) for item in value.ravel().tolist()), default=1)
            value = value.astype(f'U{max(width, 1)}')
        result[name] = value
    return result


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
        stored = {key: value for key, value in samples.items() if key not in DROPPED_SAMPLE_ARRAYS}
        return {
            'summary': summary,
            'samples': samples,
            'minima': minima,
            'samples_node': arrays_to_arraydata(compact_arrays(stored, single_precision_geometry=True)),
            'minima_node': arrays_to_arraydata(compact_arrays(minima)),
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
        for entry in summary.get('compositions', []):  # the list of each composition's minima: in `minima` already
            entry.pop('minima', None)
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
