"""``SearchCalculation``: structure searches of several compositions (``hydrides-lam search``) on any AiiDA computer.

One job searches a list of compositions with one DeePMD model and returns three nodes, whatever the budget:
``samples`` (one ``ArrayData`` with every relaxed structure of every composition, see
:mod:`aiida_hydrides.data.structure_batch`), ``minima`` (one ``ArrayData`` with the distinct minima within
``window_mev`` of each composition's best) and ``summary`` (a ``Dict``). The model file travels as a
``SinglefileData`` and keeps its suffix, which DeePMD uses to choose the backend.
"""
from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.core.lam.model import MODEL_SUFFIXES
from aiida_hydrides.core.search.worker import SEARCH_FIELDS, WORKER_PARAMETERS

__all__ = ('SearchCalculation', 'validate_search_parameters')


def _validate_compositions(node, _):
    items = node.get_list()
    if not items:
        return 'the list of compositions is empty'
    for item in items:
        if isinstance(item, str):
            if not item.strip():
                return 'a composition is an empty string'
        elif isinstance(item, dict):
            if not item or not all(isinstance(key, str) for key in item):
                return f'a composition object maps element symbols to counts, got {item!r}'
        else:
            return f'a composition is a formula such as "CaYH12" or an object of counts, got {item!r}'
    return None


def validate_search_parameters(parameters: dict) -> str | None:
    """The reason why ``parameters`` are not valid search parameters, or ``None``."""
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.search.worker import settings_from_parameters

    unknown = sorted(set(parameters) - set(SEARCH_FIELDS) - set(WORKER_PARAMETERS))
    if unknown:
        return f'unknown parameters {unknown}; accepted: {sorted((*SEARCH_FIELDS, *WORKER_PARAMETERS))}'
    pressure = parameters.get('pressure_gpa', 200.0)
    if isinstance(pressure, (bool, str)) or not isinstance(pressure, (int, float)):
        return f'pressure_gpa must be a number in GPa, got {pressure!r}'
    try:
        settings_from_parameters(parameters)
    except (HydridesInputError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def _validate_parameters(node, _):
    return validate_search_parameters(node.get_dict())


def _validate_model(node, _):
    name = node.filename
    if not name.lower().endswith(MODEL_SUFFIXES):
        return f'the model file {name!r} must end in one of {MODEL_SUFFIXES}'
    return None


class SearchCalculation(CalcJob):
    """Search the low-enthalpy structures of several compositions at a target pressure (``hydrides-lam search``)."""

    _INPUT_COMPOSITIONS = 'compositions.json'
    _INPUT_PARAMETERS = 'parameters.json'
    _OUTPUT_FILE = 'samples.npz'
    _MINIMA_FILE = 'minima.npz'
    _SUMMARY_FILE = 'search.json'
    _ERROR_FILE = 'lam_error.json'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('compositions', valid_type=orm.List, validator=_validate_compositions,
                   help='The compositions to search: formulas such as "CaYH12" (the reduced formula is the formula '
                        'unit) or objects of counts such as {"Ca": 1, "Y": 1, "H": 12}.')
        spec.input('model', valid_type=orm.SinglefileData, validator=_validate_model,
                   help='The DeePMD model file (.pth frozen, .pt checkpoint or .pb).')
        spec.input('parameters', valid_type=orm.Dict, validator=_validate_parameters, required=False,
                   help='Fields of SearchSettings (pressure_gpa in GPa, budget = relaxations per composition, '
                        'population, max_atoms, seed, max_steps, fmax, ...) plus window_mev (meV/atom above the best '
                        'for the minima, default 100), head, threads, rules (CompositionRules fields) and compress '
                        '(evaluate the compressed copy of a frozen .pth model; default True).')
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        spec.inputs['metadata']['options']['parser_name'].default = 'hydrides.search'
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.output('samples', valid_type=orm.ArrayData,
                    help='Every relaxed structure of every composition, packed (numbers, positions, cells, offsets, '
                         'initial_positions, initial_cells), with per-structure arrays composition_index, formula, '
                         'local_index, enthalpy_per_atom (eV), energy (eV), volume (Å³), flag, generation, origin, '
                         'n_steps, natoms and duplicate_of (index of the structure it repeats, -1 if none).')
        spec.output('minima', valid_type=orm.ArrayData,
                    help='The distinct minima within window_mev of the best of each composition, packed, with '
                         'composition_index, formula, sample_index, rank, enthalpy_per_atom, relative_mev, '
                         'space_group_number, space_group_symbol, natoms, generation, origin, flag, duplicates.')
        spec.output('summary', valid_type=orm.Dict,
                    help='Per composition: status, best enthalpy and space group, relaxations, counts, minima, '
                         'timing; plus the settings and the model (name, md5, type map).')
        spec.default_output_node = 'summary'

        spec.exit_code(300, 'ERROR_OUTPUT_MISSING', message='The worker wrote no results file `{filename}`.')
        spec.exit_code(301, 'ERROR_OUTPUT_UNREADABLE', message='The results files could not be read: {message}')
        spec.exit_code(320, 'ERROR_MODEL', message='The model could not be used: {message}')
        spec.exit_code(321, 'ERROR_UNKNOWN_ELEMENT',
                       message='A composition contains an unknown element or one the model does not know: {message}')
        spec.exit_code(322, 'ERROR_INVALID_INPUT', message='The worker rejected the input: {message}')
        spec.exit_code(323, 'ERROR_INVALID_COMPOSITION',
                       message='A composition is malformed or breaks the composition rules: {message}')
        spec.exit_code(324, 'ERROR_ATOM_BUDGET',
                       message='The atom budget max_atoms is smaller than a formula unit: {message}')
        spec.exit_code(410, 'ERROR_NO_USABLE_RELAXATION',
                       message='No composition gave a usable relaxation ({counts}); outputs are attached.')
        spec.exit_code(411, 'ERROR_COMPOSITIONS_FAILED',
                       message='The search failed for {formulas}: {message}; the outputs of the other compositions '
                               'are attached.')

    def prepare_for_submission(self, folder):
        with folder.open(self._INPUT_COMPOSITIONS, 'w') as handle:
            json.dump(self.inputs.compositions.get_list(), handle, indent=2)
        params = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        params = {key: value for key, value in params.items() if value is not None or key == 'seed'}
        with folder.open(self._INPUT_PARAMETERS, 'w') as handle:
            json.dump(params, handle, indent=2)

        model_name = self.inputs.model.filename
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            'search', '--compositions', self._INPUT_COMPOSITIONS, '--model', model_name,
            '--parameters', self._INPUT_PARAMETERS, '--output', self._OUTPUT_FILE, '--minima', self._MINIMA_FILE,
            '--summary', self._SUMMARY_FILE, '--error-file', self._ERROR_FILE,
        ]
        codeinfo.stdout_name = 'search.log'
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = [(self.inputs.model.uuid, model_name, model_name)]
        calcinfo.retrieve_list = [self._OUTPUT_FILE, self._MINIMA_FILE, self._SUMMARY_FILE, self._ERROR_FILE,
                                  'search.log']
        return calcinfo
