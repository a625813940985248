"""Protocol support for the work chains of aiida-hydrides.

The protocols of a work chain live in a YAML file that mirrors its module: ``workflows/<stage>/<name>.py`` has
``workflows/protocols/<stage>/<name>.yaml``, with the layout used by aiida-quantumespresso: ``default_inputs``,
``default_protocol`` and ``protocols: {fast, moderate, precise}`` (each with a ``description``). Our protocol names
differ from aiida-quantumespresso's (``fast``/``balanced``/``stringent``); :func:`qe_protocol` translates them for
nested aiida-quantumespresso builders.

Overrides are checked against the protocol: a key that is neither in the protocol nor declared by the work chain
(``_protocol_extra_keys``) is refused with a message that names it, instead of being silently dropped. Below the
paths in ``_protocol_free_keys`` (Fortran namelists, scheduler options, inputs handed on to other builders) any key
is accepted: the ports that receive them validate them.
"""

from __future__ import annotations

import fnmatch
from importlib.resources import files

from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin as _QeProtocolMixin
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

__all__ = (
    'PROTOCOLS',
    'QE_PROTOCOL_MAP',
    'ProtocolMixin',
    'UnknownOverrideError',
    'check_overrides',
    'protocol_choices',
    'qe_protocol',
    'recursive_merge',
)

#: The protocol names of aiida-hydrides, from cheapest to most precise.
PROTOCOLS = ('fast', 'moderate', 'precise')

#: aiida-hydrides protocol name -> aiida-quantumespresso protocol name.
QE_PROTOCOL_MAP = {'fast': 'fast', 'moderate': 'balanced', 'precise': 'stringent'}

#: Paths (``fnmatch`` patterns of dotted keys) below which any key is accepted in every work chain.
COMMON_FREE_KEYS = (
    'parameters',
    '*.parameters',
    '*.metadata',
    '*.settings',
    'options',
    '*.options',
    '*.parallelization',
)


class UnknownOverrideError(ValueError):
    """An override key that the protocol does not know."""


def qe_protocol(protocol: str) -> str:
    """Return the aiida-quantumespresso protocol name that matches one of ours (``moderate`` -> ``balanced``)."""
    try:
        return QE_PROTOCOL_MAP[protocol]
    except KeyError as exception:
        raise ValueError(f'unknown protocol {protocol!r}; choose one of {", ".join(PROTOCOLS)}') from exception


def check_overrides(overrides: dict, known: dict, extra_keys=(), free_keys=(), prefix: str = '') -> None:
    """Raise :class:`UnknownOverrideError` for the first key of ``overrides`` that ``known`` lacks.

    :param overrides: the nested overrides.
    :param known: the nested protocol inputs (every protocol merged) they may override.
    :param extra_keys: dotted keys accepted although the protocol files do not set them.
    :param free_keys: ``fnmatch`` patterns of dotted keys below which anything is accepted.
    """
    for key, value in overrides.items():
        path = f'{prefix}{key}'
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in free_keys):
            continue
        accepted = isinstance(known, dict) and key in known
        if not accepted and path not in extra_keys:
            choices = sorted(
                set(known if isinstance(known, dict) else ())
                | {item[len(prefix) :].split('.')[0] for item in extra_keys if item.startswith(prefix)}
            )
            where = f' in `{prefix[:-1]}`' if prefix else ''
            raise UnknownOverrideError(f'unknown override key `{path}`{where}; accepted keys: {", ".join(choices)}')
        if isinstance(value, dict) and isinstance(known, dict) and isinstance(known.get(key), dict):
            check_overrides(value, known[key], extra_keys, free_keys, prefix=f'{path}.')


class ProtocolMixin(_QeProtocolMixin):
    """aiida-quantumespresso's ``ProtocolMixin`` reading ``<_protocol_name>.yaml`` from this package.

    Subclasses set ``_protocol_name`` (the path of the YAML file below ``workflows/protocols`` without its suffix,
    e.g. ``'dft/enthalpy'``), and may set ``_protocol_extra_keys`` (dotted override keys accepted although no protocol
    sets them) and ``_protocol_free_keys`` (patterns below which any key is accepted). Unknown protocol names and
    unknown override keys raise ``ValueError``.
    """

    _protocol_name: str = ''
    _protocol_extra_keys: tuple[str, ...] = ()
    _protocol_free_keys: tuple[str, ...] = ()

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the YAML file that defines the protocols of this work chain."""
        if not cls._protocol_name:
            raise NotImplementedError(f'{cls.__name__} does not set `_protocol_name`')
        return files(__package__) / f'{cls._protocol_name}.yaml'

    @classmethod
    def get_protocol_inputs(cls, protocol=None, overrides=None) -> dict:
        """Return the protocol inputs merged with ``overrides``.

        :raises ValueError: for an unknown protocol, or an override key the protocol does not know.
        """
        available = cls.get_available_protocols()
        if protocol is not None and protocol not in available:
            raise ValueError(f'unknown protocol {protocol!r}; choose one of {", ".join(available)}')
        if overrides:
            cls.check_overrides(overrides)
        return super().get_protocol_inputs(protocol, overrides)

    @classmethod
    def check_overrides(cls, overrides: dict) -> None:
        """Raise :class:`UnknownOverrideError` (a ``ValueError``) naming the first override key no protocol knows."""
        data = cls._load_protocol_file()
        known = dict(data.get('default_inputs', {}))
        for values in data.get('protocols', {}).values():
            known = recursive_merge(known, {key: value for key, value in values.items() if key != 'description'})
        extra = (*cls._protocol_extra_keys, *(key for key in cls._protocol_free_keys if not set('*?[') & set(key)))
        check_overrides(overrides, known, extra, (*COMMON_FREE_KEYS, *cls._protocol_free_keys))


def protocol_choices(workflow_class) -> list[str]:
    """The protocol names of ``workflow_class`` read from its protocol file (for command-line choices)."""
    return list(workflow_class.get_available_protocols())
