"""``LamWorkerParser``: the common base of the parsers of the ``hydrides-lam`` worker jobs
(:class:`~aiida_hydrides.calculations.base.LamWorkerCalculation`).

The order of the checks:

1. the worker's error file: a refused input (``{"error": kind, "message": ...}``) gives the exit code of its kind
   (:attr:`LamWorkerParser.ERROR_KINDS`) and no outputs;
2. the results files: missing ones give ``ERROR_OUTPUT_MISSING``, or the scheduler's own exit code (110 out of memory,
   120 out of walltime) when a scheduler reported one, unreadable ones ``ERROR_OUTPUT_UNREADABLE``;
3. the outputs are attached (:meth:`LamWorkerParser.read_outputs` then :meth:`LamWorkerParser.attach_outputs`);
4. an early stop that kept partial results (error kinds ``walltime``, ``signal``, ``memory`` with ``"partial":
   true``) then gives ``ERROR_OUT_OF_WALLTIME`` / ``ERROR_OUT_OF_MEMORY``; otherwise the exit code of
   :meth:`LamWorkerParser.attach_outputs`.
"""

from __future__ import annotations

import io
import json
import pathlib

import numpy as np
from aiida.parsers import Parser

__all__ = ('LamWorkerParser', 'TrainingParser')

#: the scheduler's exit codes (set on the node before the parser runs) that the parser keeps when there are no results
SCHEDULER_EXIT_CODES = ('ERROR_SCHEDULER_OUT_OF_MEMORY', 'ERROR_SCHEDULER_OUT_OF_WALLTIME')


def _finite(value):
    """``value`` with non-finite floats replaced by ``None`` (a ``Dict`` must be valid JSON)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def scheduler_exit_code(parser: Parser):
    """The exit code a scheduler reported for the job of ``parser`` (out of memory or walltime), if any: the scheduler
    sets it on the node before the parser runs."""
    status = parser.node.exit_status
    for label in SCHEDULER_EXIT_CODES:
        if status is not None and status == parser.exit_codes[label].status:
            return parser.exit_codes[label]
    return None


class LamWorkerParser(Parser):
    """Base parser of the worker jobs: error file -> exit code, results files -> outputs (see the module docstring).

    Subclasses list the results files that must exist (:attr:`REQUIRED_FILES`, names of class attributes of the
    CalcJob), extend :attr:`ERROR_KINDS` and implement :meth:`read_outputs` and :meth:`attach_outputs`.
    """

    #: error kind in the worker's error file -> exit code label (any other kind: ERROR_INVALID_INPUT)
    ERROR_KINDS = {
        'model': 'ERROR_MODEL',
        'element': 'ERROR_UNKNOWN_ELEMENT',
        'input': 'ERROR_INVALID_INPUT',
        'walltime': 'ERROR_OUT_OF_WALLTIME',
        'signal': 'ERROR_OUT_OF_WALLTIME',
        'memory': 'ERROR_OUT_OF_MEMORY',
    }
    #: the CalcJob attributes naming the results files that must all exist
    REQUIRED_FILES: tuple[str, ...] = ('_OUTPUT_FILE',)

    def parse(self, **kwargs):
        calc = self.node.process_class
        self._temporary = kwargs.get('retrieved_temporary_folder')
        names = set(self.retrieved.base.repository.list_object_names())
        if self._temporary is not None:
            names |= {path.name for path in pathlib.Path(self._temporary).iterdir() if path.is_file()}
        error = self.read_error(calc._ERROR_FILE, names)
        if error is not None and not error.get('partial'):
            return self.error_exit_code(error)
        for name in (getattr(calc, attribute) for attribute in self.REQUIRED_FILES):
            if name not in names:
                if error is not None:
                    return self.error_exit_code(error)
                return self.scheduler_exit_code() or self.exit_codes.ERROR_OUTPUT_MISSING.format(filename=name)
        try:
            data = self.read_outputs(calc, names)
        except Exception as exc:  # noqa: BLE001 - any failure means unusable files
            return self.exit_codes.ERROR_OUTPUT_UNREADABLE.format(message=f'{type(exc).__name__}: {exc}')
        exit_code = self.attach_outputs(data)
        if error is not None:
            return self.error_exit_code(error)
        return exit_code

    def read_outputs(self, calc, names: set) -> dict:
        """Read the results files (any exception: ``ERROR_OUTPUT_UNREADABLE``, nothing attached)."""
        raise NotImplementedError

    def attach_outputs(self, data: dict):
        """Attach the outputs made from ``data``; return an exit code or ``None``."""
        raise NotImplementedError

    def read_error(self, filename: str, names: set) -> dict | None:
        """The worker's error report (``error`` kind, ``message``, maybe ``partial``, ``unfinished``) or ``None``."""
        if filename not in names:
            return None
        try:
            report = json.loads(self.read_bytes(filename))
        except ValueError as exc:
            return {'error': 'input', 'message': f'unreadable error file {filename}: {exc}'}
        return report if isinstance(report, dict) else {'error': 'input', 'message': str(report)}

    def error_exit_code(self, error: dict):
        """The exit code of the worker's error report."""
        message = error.get('message', '')
        if error.get('unfinished'):
            message = f'{message}; not finished: {", ".join(error["unfinished"])}'
        return self.exit_codes[self.ERROR_KINDS.get(error.get('error'), 'ERROR_INVALID_INPUT')].format(message=message)

    def scheduler_exit_code(self):
        """The exit code a scheduler reported for the job (out of memory or walltime), if any."""
        return scheduler_exit_code(self)

    def read_bytes(self, name: str) -> bytes:
        """The content of a retrieved file: from the temporary folder (``_RETRIEVE_TEMPORARY_FILES`` of the CalcJob)
        when it is there, otherwise from the ``retrieved`` node."""
        temporary = getattr(self, '_temporary', None)
        if temporary is not None and (pathlib.Path(temporary) / name).is_file():
            return (pathlib.Path(temporary) / name).read_bytes()
        return self.retrieved.base.repository.get_object_content(name, mode='rb')

    def load_file(self, name: str):
        """A retrieved JSON file."""
        return json.loads(self.read_bytes(name))

    def load_npz(self, name: str) -> dict:
        """The arrays of a retrieved ``.npz`` file."""
        content = self.read_bytes(name)
        with np.load(io.BytesIO(content), allow_pickle=False) as data:
            return {key: data[key] for key in data.files}

    @staticmethod
    def flag_counts(flags) -> dict:
        """Counts of the relaxation outcomes."""
        from ..core.lam.relax import FLAGS

        flags = [str(flag) for flag in flags]
        return {flag: flags.count(flag) for flag in FLAGS}


class TrainingParser(Parser):
    """Common helpers of the parsers of the DeePMD training jobs (``hydrides.lam.train``, ``hydrides.tc_model.train``):
    the logs come with the ``retrieved`` node, the models and checkpoints through the temporary folder."""

    def open_temporary(self, kwargs: dict) -> None:
        """Keep the temporary folder of the retrieved files (``None`` when the CalcJob listed none)."""
        temporary = kwargs.get('retrieved_temporary_folder')
        self._temporary = pathlib.Path(temporary) if temporary is not None else None

    def _text(self, name: str) -> str:
        return self.retrieved.base.repository.get_object_content(name, mode='r')

    def _temporary_file(self, name: str) -> pathlib.Path | None:
        """A non-empty file of the temporary folder, or ``None``."""
        if self._temporary is None:
            return None
        path = self._temporary / name
        return path if path.is_file() and path.stat().st_size > 0 else None

    def _log_error(self, log: str, names: set) -> str:
        """DeePMD's error in the log ``log`` (or that there is no such log)."""
        from ..core.lam.training import log_error

        if log not in names:
            return f'no {log}'
        return log_error(self._text(log))

    def scheduler_exit_code(self):
        """The exit code a scheduler reported for the job (out of memory or walltime), if any."""
        return scheduler_exit_code(self)
