"""Units and pressure validation of the LAM layer: pressures are GPa at every interface, energies eV, lengths Å."""
from __future__ import annotations

import math
import numbers

from .errors import InvalidPressureError

__all__ = ('EV_PER_A3_IN_GPA', 'gpa_to_ev_per_a3', 'ev_per_a3_to_gpa', 'check_pressure_gpa')

#: 1 eV/Å³ in GPa (CODATA; the same value as ``1 / ase.units.GPa``).
EV_PER_A3_IN_GPA = 160.21766208


def gpa_to_ev_per_a3(pressure_gpa: float) -> float:
    """Convert GPa to eV/Å³."""
    return pressure_gpa / EV_PER_A3_IN_GPA


def ev_per_a3_to_gpa(value):
    """Convert eV/Å³ (a number or an array) to GPa."""
    return value * EV_PER_A3_IN_GPA


def check_pressure_gpa(pressure, name: str = 'pressure_gpa') -> float:
    """Return ``pressure`` as a float in GPa, or raise :class:`InvalidPressureError`.

    Only plain real numbers are accepted: strings (``'200'``, ``'200 GPa'``), booleans, quantities with units attached
    and non-finite values are refused, so that a pressure in the wrong unit cannot slip through silently.
    """
    if isinstance(pressure, bool) or isinstance(pressure, (str, bytes)):
        raise InvalidPressureError(
            f'{name} must be a number in GPa (e.g. 200), got {type(pressure).__name__} {pressure!r}; '
            'strings and values with units are not accepted'
        )
    if not isinstance(pressure, numbers.Real):
        if hasattr(pressure, 'units') or hasattr(pressure, 'unit'):
            raise InvalidPressureError(
                f'{name} must be a plain number in GPa, got a quantity with units ({pressure!r}); convert it to GPa '
                'and pass the magnitude'
            )
        raise InvalidPressureError(f'{name} must be a number in GPa, got {type(pressure).__name__} {pressure!r}')
    value = float(pressure)
    if not math.isfinite(value):
        raise InvalidPressureError(f'{name} must be finite, got {value}')
    if abs(value) > 1.0e4:
        raise InvalidPressureError(
            f'{name}={value} GPa is beyond 10 TPa; the interface unit is GPa (QE kbar = 10 x GPa, 1 Mbar = 100 GPa)'
        )
    return value
