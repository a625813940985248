"""Protocols of the work chains: ``<stage>/<name>.yaml`` beside the module ``workflows/<stage>/<name>.py``."""

from .utils import (
    PROTOCOLS,
    QE_PROTOCOL_MAP,
    ProtocolMixin,
    UnknownOverrideError,
    check_overrides,
    protocol_choices,
    qe_protocol,
    recursive_merge,
)

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
