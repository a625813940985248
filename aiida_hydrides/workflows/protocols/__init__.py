"""Protocol support for the work chains of aiida-hydrides.

Every work chain keeps its protocols in a YAML file next to this module, ``<name>.yaml``, with the layout used by
aiida-quantumespresso: ``default_inputs``, ``default_protocol`` and ``protocols: {fast, moderate, precise}`` (each
with a ``description``), and optionally a ``meta_inputs_schema``. Our protocol names differ from aiida-quantumespresso's
(``fast``/``balanced``/``stringent``); :func:`qe_protocol` translates them for nested aiida-quantumespresso builders.
"""
from importlib.resources import files

from aiida_quantumespresso.workflows.protocols.utils import ProtocolMixin as _QeProtocolMixin
from aiida_quantumespresso.workflows.protocols.utils import recursive_merge

__all__ = ('PROTOCOLS', 'QE_PROTOCOL_MAP', 'ProtocolMixin', 'qe_protocol', 'recursive_merge')

#: The protocol names of aiida-hydrides, from cheapest to most precise.
PROTOCOLS = ('fast', 'moderate', 'precise')

#: aiida-hydrides protocol name -> aiida-quantumespresso protocol name.
QE_PROTOCOL_MAP = {'fast': 'fast', 'moderate': 'balanced', 'precise': 'stringent'}


def qe_protocol(protocol: str) -> str:
    """Return the aiida-quantumespresso protocol name that matches one of ours (``moderate`` -> ``balanced``)."""
    try:
        return QE_PROTOCOL_MAP[protocol]
    except KeyError as exception:
        raise ValueError(f'unknown protocol {protocol!r}; choose one of {", ".join(PROTOCOLS)}') from exception


class ProtocolMixin(_QeProtocolMixin):
    """aiida-quantumespresso's ``ProtocolMixin`` reading ``<_protocol_name>.yaml`` from this package.

    Subclasses set the class attribute ``_protocol_name``. Unknown protocol names raise ``ValueError`` listing the
    available ones.
    """

    _protocol_name: str = ''

    @classmethod
    def get_protocol_filepath(cls):
        """Return the path of the YAML file that defines the protocols of this work chain."""
        if not cls._protocol_name:
            raise NotImplementedError(f'{cls.__name__} does not set `_protocol_name`')
        return files(__name__) / f'{cls._protocol_name}.yaml'

    @classmethod
    def get_protocol_inputs(cls, protocol=None, overrides=None) -> dict:
        """Return the protocol inputs merged with ``overrides``; raise ``ValueError`` for an unknown protocol."""
        available = cls.get_available_protocols()
        if protocol is not None and protocol not in available:
            raise ValueError(f'unknown protocol {protocol!r}; choose one of {", ".join(available)}')
        return super().get_protocol_inputs(protocol, overrides)
