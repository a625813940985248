"""Helpers shared by the CLI commands."""

import json
import sys

import click

from aiida_hydrides.core.structures import primitive_cell


def echo_json(data):
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(value):
    if hasattr(value, 'tolist'):
        return value.tolist()
    if hasattr(value, 'item'):
        return value.item()
    raise TypeError(f'cannot serialise {type(value).__name__} to JSON')


def fail(message: str, code: int = 1):
    """Print a clear error message on stderr and exit with ``code``."""
    click.secho(f'Error: {message}', fg='red', err=True)
    sys.exit(code)


def load_profile(profile: str | None = None):
    """Load the AiiDA profile (the default one, or ``profile``) with a clear message when none exists."""
    import os

    from aiida import load_profile as _load
    from aiida.common.exceptions import ProfileConfigurationError

    from aiida_hydrides import sqlite

    sqlite.install()  # runners of one SQLite profile wait for each other's commits instead of failing
    try:
        return _load(profile or os.environ.get('AIIDA_PROFILE') or None, allow_switch=True)
    except (ProfileConfigurationError, Exception) as exc:  # noqa: BLE001 - any failure here means: no usable profile
        fail(f'no usable AiiDA profile ({exc}). Run `make setup` or `aiida-hydrides setup --create-profile` first.')


def bad_option(name: str, message: str):
    """Raise :class:`click.BadParameter` for the option ``name`` of the running command (click prints
    ``Invalid value for '--NAME': MESSAGE`` and exits with status 2). For values checked after parsing, e.g. a code
    or computer that needs the AiiDA profile to be looked up."""
    ctx = click.get_current_context(silent=True)
    param = None
    if ctx is not None:
        param = next((item for item in ctx.command.params if item.name == name), None)
    hint = None if param is not None else f"'--{name.replace('_', '-')}'"
    raise click.BadParameter(message, ctx=ctx, param=param, param_hint=hint)


def structure_node(structure, primitive: bool = True):
    """The ``StructureData`` for the value of a ``STRUCTURE`` argument (:class:`~.params.types.StructureType`).

    A stored ``StructureData`` is returned as is (not copied), so that the provenance graph links it to the work chain;
    ``primitive`` then does nothing (a note says so when ``--primitive`` was given on the command line). ``ase.Atoms``
    read from a file are first reduced to their primitive cell if ``primitive``, and become a new ``StructureData``.
    """
    from aiida import orm

    if isinstance(structure, orm.StructureData):
        ctx = click.get_current_context(silent=True)
        if primitive and ctx is not None and 'primitive' in ctx.params:
            from click.core import ParameterSource

            if ctx.get_parameter_source('primitive') is ParameterSource.COMMANDLINE:
                click.echo(
                    f'Note: {structure.__class__.__name__}<{structure.pk}> is used as is: --primitive applies '
                    'to structure files only.',
                    err=True,
                )
        return structure
    atoms = primitive_cell(structure) if primitive else structure
    return orm.StructureData(ase=atoms)


def structure_source(structure) -> str:
    """A short description of the value of a ``STRUCTURE`` argument, for messages."""
    if hasattr(structure, 'uuid') and hasattr(structure, 'pk'):
        return f'{structure.__class__.__name__}<{structure.pk}>'
    return str(getattr(structure, 'info', {}).get('source_file', 'structure file'))


def load_computer(label: str):
    """Load the computer ``label`` (or PK/UUID) of ``--computer``, or fail naming the option."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        return orm.load_computer(label)
    except (NotExistent, MultipleObjectsError, ValueError) as exception:
        hint = ' (`aiida-hydrides setup` creates localhost)' if label == 'localhost' else ''
        bad_option(
            'computer',
            f'cannot load the computer {label!r}: {exception}. List the computers with `verdi '
            f'computer list`, or set one up with `verdi computer setup`{hint}.',
        )


def load_code(identifier: str, plugins=()):
    """Load the code ``identifier`` (label, ``label@computer``, PK or UUID) of ``--code``, or fail naming the option.

    :param plugins: the accepted ``default_calc_job_plugin`` values of the code (none: any).
    """
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        code = orm.load_code(identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exception:
        bad_option('code', f'cannot load the code {identifier!r}: {exception}. List the codes with `verdi code list`.')
    plugin = getattr(code, 'default_calc_job_plugin', None)
    if plugins and plugin not in plugins:
        bad_option('code', f'the code {code.full_label} runs {plugin!r}, not {" or ".join(map(repr, plugins))}')
    return code


def qe_codes(computer, shorts):
    """The Quantum ESPRESSO codes ``shorts`` (``pw``, ``ph``, ...) on ``computer``, created when missing (executables on
    the PATH of a local computer); fail with a clear message when that is impossible."""
    from aiida_hydrides.codes import CodeSetupError, ensure_codes

    try:
        return ensure_codes(computer=computer, mpiprocs=None, shorts=list(shorts))
    except CodeSetupError as exception:
        fail(f'{exception}; or run `aiida-hydrides setup --computer {computer.label}`')


def lam_code(computer):
    """The ``hydrides-lam`` code on ``computer``, created when missing; fail with a clear message if impossible."""
    from aiida_hydrides.codes import CodeSetupError, ensure_lam_code

    try:
        return ensure_lam_code(computer)
    except CodeSetupError as exception:
        fail(str(exception))


def calculation_options(computer, mpiprocs: int | None = None) -> dict:
    """``metadata.options`` of the calculations: one machine with ``mpiprocs`` MPI processes, by default the
    computer's default MPI processes per machine (then left out, so that the work chain's pool defaults apply)."""
    resources = {'num_machines': 1}
    if mpiprocs is not None:
        resources['num_mpiprocs_per_machine'] = int(mpiprocs)
    elif not computer.get_default_mpiprocs_per_machine():
        resources['num_mpiprocs_per_machine'] = 1
    return {'resources': resources}


def check_family(label: str | None):
    """Fail naming ``--family`` when the pseudopotential family ``label`` is given and not installed."""
    if label is None:
        return
    from aiida_hydrides.pseudos import PseudoFamilyError, get_pseudo_family

    try:
        get_pseudo_family(label)
    except PseudoFamilyError as exception:
        bad_option('family', str(exception))
