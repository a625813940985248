"""Click parameter types shared by the ``aiida-hydrides`` commands.

Every type reports a bad value with :meth:`click.ParamType.fail`, so that click prints one line that names the option
(``Invalid value for '-p' / '--pressure': ...``) and exits with status 2, never a traceback. None of them imports AiiDA
at module level: the AiiDA profile is loaded only when a value needs it (a stored node given by PK, UUID or label).
"""

from __future__ import annotations

import pathlib
import re

import click

__all__ = (
    'IntegerListType',
    'ModelType',
    'PressureType',
    'PressureWindowType',
    'ProtocolType',
    'StructureType',
    'load_workflow',
)

#: what a full or a partial (at least 4 hexadecimal digits) node UUID looks like
_UUID_PATTERN = re.compile(r'^[0-9a-fA-F]{4,32}$|^[0-9a-fA-F]{8}-[0-9a-fA-F-]{0,27}$')


class PressureType(click.ParamType):
    """A target pressure: a number of GPa, or a string with a unit (``200``, ``'200GPa'``, ``'2000kbar'``,
    ``'2 Mbar'``), read by :func:`aiida_hydrides.core.units.parse_pressure`; converted to a float of GPa."""

    name = 'pressure'

    def get_metavar(self, param, ctx=None):  # noqa: ARG002 - click's signature
        return 'PRESSURE'

    def convert(self, value, param, ctx):
        from aiida_hydrides.core.units import parse_pressure

        try:
            return parse_pressure(value)
        except ValueError as exception:  # InvalidPressureError is a ValueError
            self.fail(str(exception), param, ctx)


class PressureWindowType(click.ParamType):
    """Pressures in GPa: a window ``150-250`` (spread over a number of points by the command), a list ``150,200,250``
    or one pressure ``200``; units may be appended to each (``1.5Mbar-2.5Mbar``). Checked with
    :func:`aiida_hydrides.core.units.parse_pressures`; the text is returned as given (stripped)."""

    name = 'pressures'

    def get_metavar(self, param, ctx=None):  # noqa: ARG002 - click's signature
        return 'PMIN-PMAX|P1,P2,...'

    def convert(self, value, param, ctx):
        from aiida_hydrides.core.units import parse_pressures

        try:
            parse_pressures(value)
        except ValueError as exception:  # InvalidPressureError is a ValueError
            self.fail(str(exception), param, ctx)
        return str(value).strip()


class ModelType(click.ParamType):
    """A DeePMD model: a file, or the name of a model shipped with aiida-hydrides (``seed``, the default seed model,
    or ``seed-fast``, its fast architecture; :data:`aiida_hydrides.models.SHIPPED_MODEL_NAMES`). Converted to the
    path as a string."""

    name = 'model'

    def get_metavar(self, param, ctx=None):  # noqa: ARG002 - click's signature
        return 'FILE|seed|seed-fast'

    def convert(self, value, param, ctx):
        if isinstance(value, pathlib.Path):
            value = str(value)
        from aiida_hydrides.models import SHIPPED_MODEL_NAMES, seed_model_path

        if value in SHIPPED_MODEL_NAMES:
            try:
                return str(seed_model_path(SHIPPED_MODEL_NAMES[value]))
            except FileNotFoundError as exception:
                self.fail(str(exception), param, ctx)
        path = pathlib.Path(value)
        if path.is_dir():
            self.fail(f'{value!r} is a folder, not a model file', param, ctx)
        if not path.is_file():
            self.fail(
                f'{value!r} does not exist, and it is not the name of a shipped model ({", ".join(SHIPPED_MODEL_NAMES)})',
                param,
                ctx,
            )
        return str(path)


class IntegerListType(click.ParamType):
    """Whole numbers separated by commas, e.g. ``1,2,4``; each at least ``minimum``. Converted to a list of ints."""

    name = 'integer list'

    def __init__(self, minimum: int = 1):
        self.minimum = minimum

    def get_metavar(self, param, ctx=None):  # noqa: ARG002 - click's signature
        return 'N[,N...]'

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [item.strip() for item in str(value).split(',') if item.strip()]
        try:
            numbers = [int(item) for item in items]
        except (TypeError, ValueError):
            self.fail(f'takes whole numbers separated by commas, got {value!r}', param, ctx)
        if not numbers or min(numbers) < self.minimum:
            self.fail(f'takes whole numbers >= {self.minimum} separated by commas, got {value!r}', param, ctx)
        return numbers


def load_workflow(entry_point: str):
    """The work chain class registered under ``entry_point`` (``aiida.workflows`` group), e.g. ``'hydrides.epc'``."""
    from aiida.plugins import WorkflowFactory

    return WorkflowFactory(entry_point)


class ProtocolType(click.Choice):
    """The protocol names of a work chain, read (on first use) from its protocol file with
    :func:`aiida_hydrides.workflows.protocols.utils.protocol_choices`.

    The work chain is imported only when the choices are needed (parsing ``--protocol`` or showing the help), so the
    command line starts fast.
    """

    name = 'protocol'

    def __init__(self, entry_point: str):
        self.entry_point = entry_point
        self._choices = None
        super().__init__((), case_sensitive=True)

    @property
    def choices(self):
        if self._choices is None:
            from aiida_hydrides.workflows.protocols.utils import protocol_choices

            self._choices = tuple(protocol_choices(load_workflow(self.entry_point)))
        return self._choices

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ assigns the (empty) static choices; they are read lazily instead
        if value:
            self._choices = tuple(value)

    def default_protocol(self) -> str:
        """The ``default_protocol`` of the work chain's protocol file."""
        return load_workflow(self.entry_point).get_default_protocol()


class StructureType(click.ParamType):
    """A crystal structure: the path of a structure file (any format ASE reads), or a stored ``StructureData`` given
    by its PK, UUID (or a unique UUID prefix) or label (which must be unique).

    A file is read and validated (:func:`aiida_hydrides.core.structures.read_structure`) and converted to
    ``ase.Atoms``; a stored node is returned as is (an ``orm.StructureData``), so that the provenance graph links it to
    the work chain that uses it. The AiiDA profile is loaded only for a value that is not an existing file.
    """

    name = 'structure'

    def get_metavar(self, param, ctx=None):  # noqa: ARG002 - click's signature
        return 'STRUCTURE'

    def convert(self, value, param, ctx):
        if not isinstance(value, (str, pathlib.Path)):
            try:
                from aiida import orm
            except ImportError:  # pragma: no cover - aiida-core is a dependency
                orm = None
            if orm is not None and isinstance(value, orm.StructureData):
                if not value.is_stored:
                    self.fail('an unstored StructureData cannot be used as is; store it first', param, ctx)
                return value
            if hasattr(value, 'get_scaled_positions'):  # already an ase.Atoms
                return value
            self.fail(f'expected a structure file or a StructureData, got {type(value).__name__}', param, ctx)

        path = pathlib.Path(value).expanduser()
        if path.is_file():
            return self._read_file(path, param, ctx)
        if path.is_dir():
            self.fail(f'{value} is a directory, not a structure file', param, ctx)
        return self._load_node(str(value), param, ctx)

    def _read_file(self, path, param, ctx):
        from aiida_hydrides.core.errors import HydridesInputError
        from aiida_hydrides.core.structures import read_structure

        try:
            atoms = read_structure(path)
        except (HydridesInputError, ValueError) as exception:
            self.fail(str(exception), param, ctx)
        atoms.info['source_file'] = str(path)
        return atoms

    def _load_node(self, identifier, param, ctx):
        message = _ensure_profile()
        if message:
            self.fail(
                f'{identifier!r} is not a file, and there is no AiiDA profile to look up a stored StructureData '
                f'by PK, UUID or label ({message})',
                param,
                ctx,
            )
        node, problem = find_structure(identifier)
        if problem:
            self.fail(problem, param, ctx)
        return node


def _ensure_profile() -> str | None:
    """Load the AiiDA profile if none is loaded yet; return an error message instead of raising."""
    from aiida import get_profile

    if get_profile() is not None:
        return None
    import os

    from aiida import load_profile

    try:
        load_profile(os.environ.get('AIIDA_PROFILE') or None, allow_switch=True)
    except Exception as exception:  # noqa: BLE001 - any failure means: no usable profile
        return f'{exception}; run `aiida-hydrides setup --create-profile`'
    return None


def find_structure(identifier: str):
    """Find the stored ``StructureData`` that ``identifier`` names: a PK, a UUID (or a unique prefix of at least 4
    hexadecimal digits) or a unique label, tried in that order.

    :returns: ``(node, None)``, or ``(None, message)`` saying why no single structure matches.
    """
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    text = identifier.strip()
    if text.isdigit():
        try:
            node = orm.load_node(pk=int(text))
        except NotExistent:
            node = None
        if node is not None:
            if not isinstance(node, orm.StructureData):
                return None, f'node {text} is a {type(node).__name__}, not a StructureData'
            return node, None

    wrong_type = None
    if _UUID_PATTERN.match(text):
        structures = [row[0] for row in _uuid_query(text, orm.StructureData).limit(11).iterall()]
        if len(structures) == 1:
            return structures[0], None
        if len(structures) > 1:
            pks = ', '.join(str(node.pk) for node in structures[:10]) + (', ...' if len(structures) > 10 else '')
            return None, (
                f'the UUID prefix {text!r} matches several StructureData nodes (PKs {pks}); give more digits or the PK'
            )
        matches = [row[0] for row in _uuid_query(text, orm.Node).limit(2).iterall()]
        if len(matches) == 1:
            wrong_type = f'node {matches[0].uuid} is a {type(matches[0]).__name__}, not a StructureData'

    query = orm.QueryBuilder().append(orm.StructureData, filters={'label': text}, project=['id'])
    pks = sorted(pk for (pk,) in query.iterall())
    if len(pks) == 1:
        return orm.load_node(pks[0]), None
    if len(pks) > 1:
        shown = ', '.join(map(str, pks[:10])) + (', ...' if len(pks) > 10 else '')
        return None, (
            f'the label {text!r} is not unique: {len(pks)} StructureData nodes carry it (PKs {shown}); '
            'give the PK or UUID instead'
        )
    if wrong_type:
        return None, wrong_type
    return None, (
        f'{text!r} is neither a structure file nor a stored StructureData (no PK, UUID or label matches); '
        'list stored structures with `verdi data core.structure list`'
    )


def _uuid_query(text: str, cls):
    """A query of the nodes of class ``cls`` whose UUID is ``text`` or starts with it (with or without dashes)."""
    import uuid

    from aiida import orm

    digits = text.replace('-', '').lower()
    canonical = digits
    for position in (20, 16, 12, 8):
        if len(canonical) > position:
            canonical = f'{canonical[:position]}-{canonical[position:]}'
    query = orm.QueryBuilder().append(cls, project='*', tag='node')
    try:
        uuid.UUID(canonical)
    except ValueError:
        query.add_filter('node', {'uuid': {'like': f'{canonical}%'}})
    else:
        query.add_filter('node', {'uuid': canonical})
    return query
