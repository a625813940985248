"""``LamPhononsCalculation``: LAM phonons of many candidate structures in one job (``hydrides-lam phonons``).

One job computes the finite-displacement phonons of a set of candidates with one DeePMD model, one candidate after
the other, so that the phonon filter of many candidates is a single job on a GPU node. The model file travels as a
``SinglefileData`` and keeps its suffix, which DeePMD uses to choose the backend.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida_phonopy.data import ForceConstantsData

from aiida_hydrides.calculations.base import LamWorkerCalculation

__all__ = ('LamPhononsCalculation', 'validate_phonon_parameters')


def validate_phonon_parameters(parameters: dict) -> str | None:
    """The reason why ``parameters`` are not valid phonon parameters, or ``None``: they are parsed as the worker
    parses them (:func:`aiida_hydrides.core.lam.worker.phonon_parameters`)."""
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.lam.worker import phonon_parameters

    try:
        phonon_parameters(parameters)
    except (HydridesInputError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def _validate_parameters(node, _):
    return validate_phonon_parameters(node.get_dict())


def _validate_structures(value, _):
    if not value:
        return 'give at least one structure in the `structures` namespace'
    for key, node in value.items():
        if not all(node.pbc):
            return f'structure {key!r} is not periodic in three dimensions; phonons need a 3-D crystal'
    return None


class LamPhononsCalculation(LamWorkerCalculation):
    """Finite-displacement phonons of many candidate structures with a DeePMD model (``hydrides-lam phonons``).

    Each candidate of the ``structures`` namespace is computed in turn; the worker writes its results to the folder
    ``phonons`` as soon as it is done (``KEY.json``, and ``KEY.npz`` with the force constants), which the job
    retrieves: the JSON files into ``retrieved``, the force constants only for the parser, which stores them as one
    ``ForceConstantsData`` per candidate (``fc.get_phonopy_instance()`` gives a ``phonopy.Phonopy`` object with the
    force constants set, ready for ``run_mesh`` or ``run_band_structure``). A candidate whose phonons fail (for
    instance exploded forces) gets its error in ``results`` and does not stop the others; when every candidate fails
    the job ends with ``ERROR_ALL_FAILED`` (410).

    Walltime: the worker's ``max_wall_s`` (a parameter) is, unless given, ``metadata.options.max_wallclock_seconds``
    less a safety margin (:func:`~aiida_hydrides.calculations.base.worker_time_limit`); past it the worker starts
    no further candidate (it estimates a candidate's time by the slowest one so far), and after a SIGTERM it drops
    the candidate in progress. The job then ends with ``ERROR_OUT_OF_WALLTIME`` (400), the finished candidates
    attached and ``summary['unfinished']`` listing the keys of the others.

    Resuming: a job never repeats a candidate, and a later job does not see an earlier job's folder, so a caller
    resumes by submitting a new job whose ``structures`` namespace holds only the ``unfinished`` candidates of the
    stopped one (same keys, model and parameters), with more walltime or fewer candidates, and merging the
    ``results`` and ``force_constants`` of both jobs. Within one folder the worker itself skips the candidates whose
    ``KEY.json`` exists, so a rerun there (by hand, or with the remote folder copied in) resumes too.
    """

    _COMMAND = 'phonons'
    _STOPS_BEFORE_WALLTIME = True
    _PARSER_NAME = 'hydrides.lam.phonons'
    _INPUT_STRUCTURES = 'structures.npz'
    _OUTPUT_FILE = 'phonons.npz'
    _SUMMARY_FILE = 'phonons.json'
    _OUTPUT_DIR = 'phonons'
    _RETRIEVE_FILES = (_OUTPUT_FILE, _SUMMARY_FILE)
    _STDOUT_FILE = 'phonons.log'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            validator=_validate_structures,
            help='The candidate structures, keyed by candidate (keys are link labels such as c_1234); each should be '
            'relaxed with the same model first.',
        )
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            validator=_validate_parameters,
            required=False,
            help="supercell (3 integers or 'auto', default 'auto': the smallest diagonal supercell whose widths "
            'reach supercell_min_length), supercell_min_length (Å, default 6.0), mesh (q-point mesh, default '
            '8 8 8), displacement (Å, default 0.01), imaginary_threshold_thz (default 3.0), head (multi-head '
            'models), batch_size (displaced supercells per model call, default 64), threads, compress (evaluate '
            'the compressed copy of a frozen .pth model; default True) and max_wall_s (seconds after which no '
            'further candidate is started; default: max_wallclock_seconds less a margin).',
        )

        spec.output(
            'results',
            valid_type=orm.Dict,
            help='One entry per candidate done: max_imaginary_thz, min_frequency_thz, max_frequency_thz (THz), '
            'passed, imaginary_threshold_thz, mesh, supercell_matrix, primitive_matrix, n_displacements, '
            'n_imaginary_qpoints, formula, natoms, wall_s; or error for a candidate whose phonons failed.',
        )
        spec.output_namespace(
            'force_constants',
            valid_type=ForceConstantsData,
            dynamic=True,
            required=False,
            help='One aiida-phonopy ForceConstantsData per finished candidate (its unit cell, supercell and '
            'primitive matrices and force constants).',
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Per candidate: status (finished, failed, or interrupted / not_started when the worker stopped '
            'early) and results; plus the settings, the model, finished, failed, unfinished and stopped.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(
            410, 'ERROR_ALL_FAILED', message='The phonons failed for every candidate: {message}; results are attached.'
        )

    def write_inputs(self, folder) -> list[str]:
        from aiida_hydrides.core.lam.batch import pack_structures

        keys = sorted(self.inputs.structures)
        arrays = pack_structures([self.inputs.structures[key].get_ase() for key in keys])
        arrays['keys'] = np.array(keys, dtype=str)
        with folder.open(self._INPUT_STRUCTURES, 'wb') as handle:
            np.savez(handle, **arrays)
        return [
            '--structures',
            self._INPUT_STRUCTURES,
            '--output',
            self._OUTPUT_FILE,
            '--summary',
            self._SUMMARY_FILE,
            '--output-dir',
            self._OUTPUT_DIR,
        ]

    def prepare_for_submission(self, folder):
        calcinfo = super().prepare_for_submission(folder)
        calcinfo.retrieve_list.append((f'{self._OUTPUT_DIR}/*.json', '.', 2))
        calcinfo.retrieve_temporary_list = [(f'{self._OUTPUT_DIR}/*.npz', '.', 2)]
        return calcinfo
