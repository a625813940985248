"""``LamWorkerCalculation``: the common base of the CalcJobs that run the ``hydrides-lam`` worker.

A worker job copies one DeePMD model file (a ``SinglefileData``, which keeps its suffix: DeePMD chooses the backend
from it), writes its inputs and a JSON file of parameters, and runs ``hydrides-lam <command> ... --model <file>
--parameters parameters.json --error-file lam_error.json``. The worker reports a refused input or a failure as
``{"error": kind, "message": ...}`` in the error file; :class:`~aiida_hydrides.parsers.base.LamWorkerParser` maps the
kind to an exit code.

Exit codes shared by every worker job (subclasses add their own):

- 300 ``ERROR_OUTPUT_MISSING`` / 301 ``ERROR_OUTPUT_UNREADABLE``: no results, or results that cannot be read;
- 320 ``ERROR_MODEL``, 321 ``ERROR_UNKNOWN_ELEMENT``, 322 ``ERROR_INVALID_INPUT``: the worker refused the input
  before any compute (error kinds ``model``, ``element``, ``input``);
- 400 ``ERROR_OUT_OF_WALLTIME``: the worker stopped at its time limit or on the scheduler's SIGTERM (kinds
  ``walltime``, ``signal``); what it finished is attached where the worker supports partial results (``search``);
- 401 ``ERROR_OUT_OF_MEMORY``: the worker ran out of memory (kind ``memory``; same partial results).

They are ours, not AiiDA's scheduler codes 110 (``ERROR_SCHEDULER_OUT_OF_MEMORY``) and 120
(``ERROR_SCHEDULER_OUT_OF_WALLTIME``), because they come with the worker's message and, for a search, with outputs;
the parser keeps the scheduler's 110/120 when a scheduler reports them and the worker wrote nothing.
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_hydrides.core.lam.model import MODEL_SUFFIXES

__all__ = ('LamWorkerCalculation', 'validate_model', 'worker_time_limit')


def worker_time_limit(walltime: float) -> float:
    """The worker's ``max_wall_s`` for a job of ``walltime`` seconds: a margin of 10 % (at least 60 s, at most half
    the walltime) is left for starting the interpreter and writing the results."""
    return walltime - min(max(60.0, 0.1 * walltime), 0.5 * walltime)


def validate_model(node, _):
    """Validate a ``model`` input: a DeePMD model file whose name ends in a suffix DeePMD knows."""
    name = node.filename
    if not name.lower().endswith(MODEL_SUFFIXES):
        return f'the model file {name!r} must end in one of {MODEL_SUFFIXES}'
    return None


class LamWorkerCalculation(CalcJob):
    """Base of the ``hydrides-lam`` worker jobs: the model file, the parameters file, the error file, the shared exit
    codes and defaults (one process, no MPI). Subclasses set the class attributes below, define their own inputs and
    outputs and implement :meth:`write_inputs`."""

    #: the ``hydrides-lam`` sub-command
    _COMMAND = ''
    #: the default parser (entry point name)
    _PARSER_NAME = ''
    _INPUT_PARAMETERS = 'parameters.json'
    _ERROR_FILE = 'lam_error.json'
    #: the files the worker writes (retrieved with the error file)
    _RETRIEVE_FILES: tuple[str, ...] = ()
    #: files the worker writes that the parser reads and turns into outputs, retrieved into a temporary folder only
    #: (not stored twice: the outputs hold their content)
    _RETRIEVE_TEMPORARY_FILES: tuple[str, ...] = ()
    #: where the worker's standard output goes (``None``: the scheduler's file)
    _STDOUT_FILE: str | None = None
    #: parameters written even when ``None`` (``None`` means something other than the worker's default)
    _KEEP_NONE: tuple[str, ...] = ()
    #: the worker stops before its time limit, ``max_wall_s``: unless given, the job's ``max_wallclock_seconds`` less
    #: a margin (:func:`worker_time_limit`)
    _STOPS_BEFORE_WALLTIME = False

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'model',
            valid_type=orm.SinglefileData,
            validator=validate_model,
            help='The DeePMD model file (.pth frozen, .pt checkpoint or .pb).',
        )
        spec.inputs['metadata']['options']['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        if cls._PARSER_NAME:
            spec.inputs['metadata']['options']['parser_name'].default = cls._PARSER_NAME
        spec.inputs['metadata']['options']['withmpi'].default = False

        spec.exit_code(300, 'ERROR_OUTPUT_MISSING', message='The worker wrote no results file `{filename}`.')
        spec.exit_code(301, 'ERROR_OUTPUT_UNREADABLE', message='The results could not be read: {message}')
        spec.exit_code(320, 'ERROR_MODEL', message='The model could not be used: {message}')
        spec.exit_code(
            321, 'ERROR_UNKNOWN_ELEMENT', message='An element is unknown, or the model does not know it: {message}'
        )
        spec.exit_code(322, 'ERROR_INVALID_INPUT', message='The worker rejected the input: {message}')
        spec.exit_code(
            400,
            'ERROR_OUT_OF_WALLTIME',
            message='The worker stopped early for lack of time ({message}); the results it finished are attached.',
        )
        spec.exit_code(
            401,
            'ERROR_OUT_OF_MEMORY',
            message='The worker ran out of memory ({message}); the results it finished are attached.',
        )

    def write_inputs(self, folder) -> list[str]:
        """Write the input files of the worker (besides the parameters) into ``folder``; return the arguments of the
        sub-command (input and output file options)."""
        raise NotImplementedError

    def worker_parameters(self) -> dict:
        """The parameters written to the parameters file: the ``parameters`` input without the ``None`` values."""
        params = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        params = {key: value for key, value in params.items() if value is not None or key in self._KEEP_NONE}
        walltime = self.node.get_option('max_wallclock_seconds')
        if self._STOPS_BEFORE_WALLTIME and params.get('max_wall_s') is None and walltime:
            params['max_wall_s'] = worker_time_limit(walltime)
        return params

    def prepare_for_submission(self, folder):
        arguments = self.write_inputs(folder)
        with folder.open(self._INPUT_PARAMETERS, 'w') as handle:
            json.dump(self.worker_parameters(), handle, indent=2)

        model_name = self.inputs.model.filename
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            self._COMMAND,
            *arguments,
            '--model',
            model_name,
            '--parameters',
            self._INPUT_PARAMETERS,
            '--error-file',
            self._ERROR_FILE,
        ]
        if self._STDOUT_FILE:
            codeinfo.stdout_name = self._STDOUT_FILE
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.local_copy_list = [(self.inputs.model.uuid, model_name, model_name)]
        calcinfo.retrieve_list = [
            *self._RETRIEVE_FILES,
            self._ERROR_FILE,
            *([self._STDOUT_FILE] if self._STDOUT_FILE else []),
        ]
        calcinfo.retrieve_temporary_list = list(self._RETRIEVE_TEMPORARY_FILES)
        return calcinfo
