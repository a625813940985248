"""The exception raised on unusable spectra and coupling data."""

from aiida_hydrides.core.errors import HydridesInputError

__all__ = ('SpectrumError',)


class SpectrumError(HydridesInputError):
    """An Eliashberg spectrum or el-ph file that cannot give a physical result (wrong format, empty, non-finite, ...).

    It is a :class:`ValueError`; the message names the problem and, when known, the file.
    """
