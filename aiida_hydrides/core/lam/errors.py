"""Errors of the LAM layer; all are :class:`~aiida_hydrides.core.errors.HydridesInputError` (a ``ValueError``)."""

from ..errors import HydridesInputError, UnknownElementError
from ..units import InvalidPressureError

__all__ = ('LamModelError', 'InvalidPressureError', 'UnknownElementError', 'HydridesInputError')


class LamModelError(HydridesInputError):
    """A model file that is missing, not a DeePMD model, needs an unavailable backend, or lacks the chosen head."""
