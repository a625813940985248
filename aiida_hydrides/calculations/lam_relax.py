"""``LamRelaxCalculation``: run the batched LAM relaxation (``hydrides-lam relax``) on any AiiDA computer.

One job relaxes a whole batch of structures (one ``ArrayData``, see :mod:`aiida_hydrides.data.structure_batch`) with
one DeePMD model, so the LAM work can be sent to a GPU node as a single job. The model file travels as a
``SinglefileData`` and keeps its suffix (``.pth``/``.pt``/``.pb``), which DeePMD uses to choose the backend.
"""

from __future__ import annotations

import numpy as np
from aiida import orm

from aiida_hydrides.calculations.base import LamWorkerCalculation
from aiida_hydrides.core.lam.batch import check_batch_arrays

__all__ = ('LamRelaxCalculation',)


def _validate_structures(node, _):
    try:
        check_batch_arrays({name: node.get_array(name) for name in node.get_arraynames()})
    except ValueError as exc:
        return str(exc)
    if len(node.get_array('offsets')) < 2:
        return 'the structure batch is empty'
    return None


def _validate_parameters(node, _):
    """The parameters are parsed here exactly as the worker parses them (names derived from ``RelaxSettings``)."""
    from aiida_hydrides.core.lam.relax import relax_settings_from_parameters

    try:
        relax_settings_from_parameters(node.get_dict())
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


class LamRelaxCalculation(LamWorkerCalculation):
    """Relax a batch of structures at a target pressure with a DeePMD model (``hydrides-lam relax``)."""

    _COMMAND = 'relax'
    _PARSER_NAME = 'hydrides.lam.relax'
    _INPUT_STRUCTURES = 'structures.npz'
    _OUTPUT_FILE = 'relaxed.npz'
    _SUMMARY_FILE = 'relaxed.json'
    _RETRIEVE_FILES = (_OUTPUT_FILE, _SUMMARY_FILE)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structures',
            valid_type=orm.ArrayData,
            validator=_validate_structures,
            help='The structures to relax, packed in one ArrayData (numbers, positions, cells, offsets).',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=_validate_parameters,
            required=False,
            help='pressure_gpa (GPa), fmax (eV/Å), stress_tol_gpa (GPa), max_steps, optimizer '
            "('lbfgs' or 'fire'), head (multi-head models), batch_size, relax_cell, threads, compress "
            '(evaluate the compressed copy of a frozen .pth model, made once on the computer; default '
            'True).',
        )

        spec.output(
            'relaxed_structures',
            valid_type=orm.ArrayData,
            help='Final structures packed as the input, with per-structure arrays: enthalpy_per_atom (eV), '
            'energy (eV), volume (Å³), pressure_gpa, n_steps, fmax, stress_residual_gpa and flag '
            '(converged / max_steps / exploded / collapsed).',
        )
        spec.output('summary', valid_type=orm.Dict, help='Counts per flag, settings, timing and per-structure values.')
        spec.default_output_node = 'summary'

        spec.exit_code(
            410, 'ERROR_NONE_CONVERGED', message='No structure of the batch converged ({counts}); outputs are attached.'
        )

    def write_inputs(self, folder) -> list[str]:
        arrays = {name: self.inputs.structures.get_array(name) for name in self.inputs.structures.get_arraynames()}
        keep = {key: arrays[key] for key in ('numbers', 'positions', 'cells', 'offsets', 'pbc') if key in arrays}
        with folder.open(self._INPUT_STRUCTURES, 'wb') as handle:
            np.savez(handle, **keep)
        return ['--structures', self._INPUT_STRUCTURES, '--output', self._OUTPUT_FILE, '--summary', self._SUMMARY_FILE]
