"""``LamRelaxCalculation``: run the batched LAM relaxation (``hydrides-lam relax``) on any AiiDA computer.

One job relaxes a whole batch of structures (one ``ArrayData``, see :mod:`aiida_hydrides.data.structure_batch`) with
one DeePMD model, so the LAM work can be sent to a GPU node as a single job. The model file travels as a
``SinglefileData`` and keeps its suffix (``.pth``/``.pt``/``.pb``), which DeePMD uses to choose the backend.
"""
from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.core.lam.batch import check_batch_arrays
from aiida_hydrides.core.lam.compress import COMPRESS_BY_DEFAULT
from aiida_hydrides.core.lam.model import MODEL_SUFFIXES

__all__ = ('LamRelaxCalculation',)

#: Parameters accepted in ``parameters`` and their defaults in the worker.
ALLOWED_PARAMETERS = {
    'pressure_gpa': 0.0, 'fmax': 0.05, 'stress_tol_gpa': 0.5, 'max_steps': 300, 'optimizer': 'lbfgs', 'head': None,
    'batch_size': None, 'relax_cell': True, 'maxstep': 0.2, 'min_volume_per_atom': 0.5, 'max_volume_per_atom': 100.0,
    'min_distance': 0.4, 'threads': None, 'compress': COMPRESS_BY_DEFAULT,
}


def _validate_structures(node, _):
    try:
        check_batch_arrays({name: node.get_array(name) for name in node.get_arraynames()})
    except ValueError as exc:
        return str(exc)
    if len(node.get_array('offsets')) < 2:
        return 'the structure batch is empty'
    return None


def _validate_parameters(node, _):
    params = node.get_dict()
    unknown = sorted(set(params) - set(ALLOWED_PARAMETERS))
    if unknown:
        return f'unknown parameters {unknown}; accepted: {sorted(ALLOWED_PARAMETERS)}'
    pressure = params.get('pressure_gpa', 0.0)
    if isinstance(pressure, (bool, str)) or not isinstance(pressure, (int, float)):
        return f'pressure_gpa must be a number in GPa, got {pressure!r}'
    if params.get('optimizer', 'lbfgs') not in ('lbfgs', 'fire'):
        return f"optimizer must be 'lbfgs' or 'fire', got {params.get('optimizer')!r}"
    return None


def _validate_model(node, _):
    name = node.filename
    if not name.lower().endswith(MODEL_SUFFIXES):
        return f'the model file {name!r} must end in one of {MODEL_SUFFIXES}'
    return None


class LamRelaxCalculation(CalcJob):
    """Relax a batch of structures at a target pressure with a DeePMD model (``hydrides-lam relax``)."""

    _INPUT_STRUCTURES = 'structures.npz'
    _INPUT_PARAMETERS = 'parameters.json'
    _OUTPUT_FILE = 'relaxed.npz'
    _SUMMARY_FILE = 'relaxed.json'
    _ERROR_FILE = 'lam_error.json'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structures', valid_type=orm.ArrayData, validator=_validate_structures,
                   help='The structures to relax, packed in one ArrayData (numbers, positions, cells, offsets).')
        spec.input('model', valid_type=orm.SinglefileData, validator=_validate_model,
                   help='The DeePMD model file (.pth frozen, .pt checkpoint or .pb).')
        spec.input('parameters', valid_type=orm.Dict, validator=_validate_parameters, required=False,
                   help='pressure_gpa (GPa), fmax (eV/Å), stress_tol_gpa (GPa), max_steps, optimizer '
                        "('lbfgs' or 'fire'), head (multi-head models), batch_size, relax_cell, threads, compress "
                        '(evaluate the compressed copy of a frozen .pth model, made once on the computer; default True).')
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['parser_name'].default = 'hydrides.lam.relax'
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.output('relaxed_structures', valid_type=orm.ArrayData,
                    help='Final structures packed as the input, with per-structure arrays: enthalpy_per_atom (eV), '
                         'energy (eV), volume (Å³), pressure_gpa, n_steps, fmax, stress_residual_gpa and flag '
                         '(converged / max_steps / exploded / collapsed).')
        spec.output('summary', valid_type=orm.Dict, help='Counts per flag, settings, timing and per-structure values.')
        spec.default_output_node = 'summary'

        spec.exit_code(300, 'ERROR_OUTPUT_MISSING', message='The worker wrote no results file `{filename}`.')
        spec.exit_code(301, 'ERROR_OUTPUT_UNREADABLE', message='The results file could not be read: {message}')
        spec.exit_code(320, 'ERROR_MODEL', message='The model could not be used: {message}')
        spec.exit_code(321, 'ERROR_UNKNOWN_ELEMENT',
                       message='A structure contains an element the model does not know: {message}')
        spec.exit_code(322, 'ERROR_INVALID_INPUT', message='The worker rejected the input: {message}')
        spec.exit_code(410, 'ERROR_NONE_CONVERGED',
                       message='No structure of the batch converged ({counts}); outputs are attached.')

    def prepare_for_submission(self, folder):
        arrays = {name: self.inputs.structures.get_array(name) for name in self.inputs.structures.get_arraynames()}
        keep = {key: arrays[key] for key in ('numbers', 'positions', 'cells', 'offsets', 'pbc') if key in arrays}
        with folder.open(self._INPUT_STRUCTURES, 'wb') as handle:
            np.savez(handle, **keep)
        params = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        params = {key: value for key, value in params.items() if value is not None}
        with folder.open(self._INPUT_PARAMETERS, 'w') as handle:
            json.dump(params, handle, indent=2)

        model_name = self.inputs.model.filename
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            'relax', '--structures', self._INPUT_STRUCTURES, '--model', model_name,
            '--parameters', self._INPUT_PARAMETERS, '--output', self._OUTPUT_FILE, '--summary', self._SUMMARY_FILE,
            '--error-file', self._ERROR_FILE,
        ]
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = [(self.inputs.model.uuid, model_name, model_name)]
        calcinfo.retrieve_list = [self._OUTPUT_FILE, self._SUMMARY_FILE, self._ERROR_FILE]
        return calcinfo
