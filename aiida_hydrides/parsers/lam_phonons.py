"""Parser of :class:`~aiida_hydrides.calculations.lam_phonons.LamPhononsCalculation`: the worker's per-candidate
files become one ``results`` Dict, one aiida-phonopy ``ForceConstantsData`` per finished candidate and a ``summary``
Dict."""

from __future__ import annotations

import pathlib

import numpy as np
from aiida import orm

from aiida_hydrides.parsers.base import LamWorkerParser, _finite

__all__ = ('LamPhononsParser', 'force_constants_node')

#: per-candidate fields of the worker's files that are not copied into ``results``
_FILE_ONLY = ('key', 'force_constants_file')


def force_constants_node(arrays: dict):
    """An unstored ``ForceConstantsData`` built from the arrays the worker writes per candidate (``numbers``,
    ``positions``, ``cell``, ``masses``, ``supercell_matrix``, ``primitive_matrix``, ``force_constants``,
    ``symprec``)."""
    from aiida_phonopy.data import ForceConstantsData
    from phonopy.structure.atoms import PhonopyAtoms

    unitcell = PhonopyAtoms(
        numbers=np.asarray(arrays['numbers']).tolist(),
        positions=np.asarray(arrays['positions'], dtype=float),
        cell=np.asarray(arrays['cell'], dtype=float),
        masses=np.asarray(arrays['masses'], dtype=float) if 'masses' in arrays else None,
    )
    node = ForceConstantsData(
        phonopy_atoms=unitcell,
        supercell_matrix=np.asarray(arrays['supercell_matrix']).astype(int).tolist(),
        primitive_matrix=np.asarray(arrays['primitive_matrix'], dtype=float).tolist(),
        symprec=float(arrays['symprec']) if 'symprec' in arrays else 1e-5,
    )
    node.set_force_constants(np.asarray(arrays['force_constants'], dtype=float))
    return node


class LamPhononsParser(LamWorkerParser):
    """Turn ``phonons.json`` and the files of ``phonons/`` (or ``lam_error.json``) into outputs or an exit code.

    The per-candidate ``KEY.json`` files are read from the retrieved folder and the force constants ``KEY.npz`` from
    the temporary retrieved folder (they are stored once, in the ``ForceConstantsData`` nodes).
    """

    REQUIRED_FILES = ('_SUMMARY_FILE',)

    def parse(self, **kwargs):
        self._temporary = kwargs.get('retrieved_temporary_folder')
        return super().parse(**kwargs)

    def read_outputs(self, calc, names):
        summary = self.load_file(calc._SUMMARY_FILE)
        results, constants = {}, {}
        for entry in summary['structures']:
            key = entry['key']
            if entry['status'] not in ('finished', 'failed'):
                continue
            record = self.load_file(f'{calc._OUTPUT_DIR}/{key}.json')
            results[key] = {name: value for name, value in record.items() if name not in _FILE_ONLY}
            if record.get('error'):
                continue
            if self._temporary is None:
                raise FileNotFoundError('no temporary retrieved folder with the force constants')
            path = pathlib.Path(self._temporary) / calc._OUTPUT_DIR / f'{key}.npz'
            with np.load(path, allow_pickle=False) as data:
                node = force_constants_node({name: data[name] for name in data.files})
            node.label = key
            node.description = f'LAM force constants of {record.get("formula", key)}'
            constants[key] = node
        return {'summary': summary, 'results': results, 'constants': constants}

    def attach_outputs(self, data):
        results = data['results']
        self.out('results', orm.Dict(_finite(results)))
        for key, node in data['constants'].items():
            self.out(f'force_constants.{key}', node)
        self.out('summary', orm.Dict(_finite(data['summary'])))
        if results and not data['constants']:
            errors = '; '.join(f'{key}: {value["error"]}' for key, value in results.items())
            return self.exit_codes.ERROR_ALL_FAILED.format(message=errors)
        return None
