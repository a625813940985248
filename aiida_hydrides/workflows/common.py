"""Port validators shared by the work chains: each input is validated once, at its port, with one message."""
from __future__ import annotations

from aiida_hydrides.core.units import pressure_error

__all__ = ('validate_pressure', 'validate_positive_int', 'validate_non_negative')


def validate_pressure(node, _):
    """Validate a ``pressure`` input (``Float``, GPa) with the project's one pressure range and message."""
    if node is not None:
        return pressure_error(float(node.value))
    return None


def validate_positive_int(node, _):
    """Validate an ``Int`` input that must be a whole number >= 1."""
    if node is not None and node.value < 1:
        return f'must be a whole number >= 1, got {node.value}'
    return None


def validate_non_negative(node, _):
    """Validate a ``Float`` input that must be >= 0."""
    if node is not None and not node.value >= 0:
        return f'must be >= 0, got {node.value}'
    return None
