"""What the commands that run work chains in this process show on the terminal.

By default (:func:`console_output`): one line per report of the aiida-hydrides work chain that the command runs (its
progress, on stdout, without logger prefixes), warnings and errors of any logger as ``Warning: ...`` /
``Error: ...`` on stderr, and no Python warnings of other packages (aiida-quantumespresso's input notes, for
example). With ``--verbose`` (``options.VERBOSE``) nothing is filtered: AiiDA's own console output, with the reports of
every process and its logger prefixes, and every Python warning.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings

import click

__all__ = ('console_output',)


#: a process report: ``[PK|ProcessLabel|step]: message``
_REPORT = re.compile(r'^\[(\d+)\|([^|\]]*)\|[^\]]*\]: (.*)$', re.DOTALL)
#: process types of the work chains of this package
_OWN_PROCESS_TYPE = 'aiida.workflows:hydrides.'


class _ShortFormatter(logging.Formatter):
    """``Warning: message`` (the level name, then the message): no time, process or logger name."""

    def format(self, record):
        message = record.getMessage()
        match = _REPORT.match(message)
        if match:
            message = f'{match.group(2)}<{match.group(1)}>: {match.group(3)}'
        return f'{record.levelname.capitalize()}: {message}'


class _ProgressHandler(logging.Handler):
    """Echoes the reports of the top-level aiida-hydrides work chains on stdout, without their prefix."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self._shown: dict[int, bool] = {}

    def _is_shown(self, pk: int) -> bool:
        if pk not in self._shown:
            from aiida import orm

            try:
                node = orm.load_node(pk)
                self._shown[pk] = node.caller is None and (node.process_type or '').startswith(_OWN_PROCESS_TYPE)
            except Exception:  # noqa: BLE001 - a report of a node that cannot be loaded is not shown
                self._shown[pk] = False
        return self._shown[pk]

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            return  # the console handler shows those
        match = _REPORT.match(record.getMessage())
        if match and self._is_shown(int(match.group(1))):
            click.echo(match.group(3))


@contextlib.contextmanager
def console_output(verbose: bool = False, progress: bool = True):
    """Within the context, the terminal shows what the module docstring describes; ``progress=False`` (machine-
    readable output) leaves out the progress lines. Call it after the AiiDA profile is loaded (loading a profile
    configures AiiDA's logging anew)."""
    if verbose:
        yield
        return
    from aiida.manage import get_manager

    if get_manager().get_profile() is not None:
        get_manager().get_profile_storage()  # loading the storage configures AiiDA's logging: do it first
    logger = logging.getLogger('aiida')
    consoles = [
        handler
        for handler in logger.handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    saved = [(handler, handler.level, handler.formatter) for handler in consoles]
    for handler in consoles:
        handler.setLevel(max(handler.level, logging.WARNING))
        handler.setFormatter(_ShortFormatter())
    handler = _ProgressHandler() if progress else None
    if handler is not None:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore')
            warnings.filterwarnings('default', module=r'aiida_hydrides(\.|$)')
            yield
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        for console, level, formatter in saved:
            console.setLevel(level)
            console.setFormatter(formatter)
