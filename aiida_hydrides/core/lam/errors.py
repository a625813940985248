"""Errors of the LAM layer; all are :class:`~aiida_hydrides.core.errors.HydridesInputError` (a ``ValueError``)."""
from ..errors import HydridesInputError, UnknownElementError

__all__ = ('LamModelError', 'InvalidPressureError', 'UnknownElementError', 'HydridesInputError')


class LamModelError(HydridesInputError):
    """A model file that is missing, not a DeePMD model, needs an unavailable backend, or lacks the chosen head."""


class InvalidPressureError(HydridesInputError):
    """A pressure that is not a plain finite number in GPa (for example a string such as ``'200 GPa'``)."""
