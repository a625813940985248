"""Command-line parameters shared by every ``aiida-hydrides`` command: the click types (:mod:`.types`), options
(:mod:`.options`) and arguments (:mod:`.arguments`). Defined once, so that a value means the same and fails the same
way everywhere (``Invalid value for '-p' / '--pressure': ...``, exit status 2)."""

from . import arguments, options, types

__all__ = ('arguments', 'options', 'types')
