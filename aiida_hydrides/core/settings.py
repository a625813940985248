"""Settings dataclasses from JSON-like parameter dictionaries: the one parser of relaxation and search parameters.

The accepted names are the fields of the settings dataclass (:func:`field_names`) plus the options of the program that
runs it; the plain type of a field (``float``, ``int``, ``bool``, ``str``, optionally ``| None``) is read from its
annotation, so adding a field to the dataclass adds it to every parameter list and check. Range checks stay with the
dataclass (its ``validated()``); pure Python, no numpy.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping

from .errors import HydridesInputError

__all__ = ('field_names', 'field_defaults', 'split_parameters')


def field_names(cls) -> tuple[str, ...]:
    """The field names of the dataclass ``cls``, in order."""
    return tuple(field.name for field in dataclasses.fields(cls))


def field_defaults(cls) -> dict:
    """The defaults of the dataclass ``cls`` by field name (default factories are called)."""
    defaults = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return defaults


def _annotation(field) -> tuple[str, bool]:
    """The plain type of ``field`` (``'float'``, ``'int'``, ``'bool'``, ``'str'``, or ``''`` for anything else) and
    whether it may be ``None``."""
    text = field.type if isinstance(field.type, str) else getattr(field.type, '__name__', str(field.type))
    text = text.strip()
    if text.startswith('Optional[') and text.endswith(']'):
        text = f'{text[len("Optional[") : -1]} | None'
    parts = [part.strip() for part in text.split('|')]
    optional = 'None' in parts
    parts = [part for part in parts if part != 'None']
    kind = parts[0] if len(parts) == 1 and parts[0] in ('float', 'int', 'bool', 'str') else ''
    return kind, optional


def _check_type(name: str, value, kind: str):
    if kind == 'float':
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise HydridesInputError(f'{name} must be a number, got {value!r}')
    elif kind == 'int':
        if isinstance(value, bool) or not (
            isinstance(value, numbers.Integral) or isinstance(value, float) and value.is_integer()
        ):
            raise HydridesInputError(f'{name} must be a whole number, got {value!r}')
        return int(value)
    elif kind == 'bool':
        if not isinstance(value, bool):
            raise HydridesInputError(f'{name} must be true or false, got {value!r}')
    elif kind == 'str':
        if not isinstance(value, str):
            raise HydridesInputError(f'{name} must be a string, got {value!r}')
    return value


def split_parameters(
    cls, parameters: Mapping | None, options: Iterable[str] = (), unchecked: Iterable[str] = ()
) -> tuple[dict, dict]:
    """Split ``parameters`` into keyword arguments of the dataclass ``cls`` and the program ``options``.

    Names that are neither fields nor options raise :class:`HydridesInputError` listing the accepted names. A field
    given as ``None`` is left out (its default applies) unless its annotation allows ``None``. Fields annotated
    ``float``, ``int``, ``bool`` or ``str`` are type-checked (integral numbers become ``int``), except the
    ``unchecked`` ones, which ``cls.validated()`` checks itself (the pressure, with its own message). Options are
    returned as given.
    """
    params = dict(parameters or {})
    names = field_names(cls)
    options = tuple(options)
    unknown = sorted(set(params) - set(names) - set(options))
    if unknown:
        raise HydridesInputError(f'unknown parameters {unknown}; accepted: {sorted((*names, *options))}')
    extra = {name: params.pop(name) for name in options if name in params}
    unchecked = set(unchecked)
    fields = {}
    for field in dataclasses.fields(cls):
        if field.name not in params:
            continue
        value = params[field.name]
        kind, optional = _annotation(field)
        if value is None:
            if optional:
                fields[field.name] = None
            continue
        fields[field.name] = value if field.name in unchecked else _check_type(field.name, value, kind)
    return fields, extra
