"""Physical constants, unit conversions and the one pressure parser of aiida-hydrides (pure Python, no AiiDA).

Conventions at every interface of the project: pressures in GPa, energies in eV, lengths in Å, temperatures and
phonon frequencies in K (``k_B = 1``) where a name ends in ``_K``. Quantum ESPRESSO's own units (Ry, kbar, Bohr) are
converted with the constants below and nowhere else. Values are CODATA 2018.

Pressure: :func:`parse_pressure` reads what a user types (``200``, ``'200 GPa'``, ``'2000 kbar'``, ``'2 Mbar'``);
:func:`check_pressure` validates a number that a program passes (strings and quantities with units are refused, so a
wrong unit cannot slip through). Both accept one range, :data:`MIN_PRESSURE_GPA` to :data:`MAX_PRESSURE_GPA`, and give
one error message, :class:`InvalidPressureError`. Ports validate once with them; the code below trusts the value.
:func:`parse_pressures` reads a window (``'150-250'``, spread over :func:`pressure_points`) or a list
(``'150,200,250'``).
"""

from __future__ import annotations

import math
import numbers
import re

from .errors import HydridesInputError

__all__ = (
    'BOHR_TO_ANGSTROM',
    'BOLTZMANN_EV_PER_K',
    'CM1_TO_K',
    'EV_PER_A3_IN_GPA',
    'GPA_PER_KBAR',
    'InvalidPressureError',
    'MAX_PRESSURE_GPA',
    'MEV_TO_K',
    'MIN_PRESSURE_GPA',
    'PRESSURE_UNITS',
    'RY_IN_EV',
    'RY_TO_CM1',
    'RY_TO_K',
    'RY_TO_MEV',
    'RY_TO_THZ',
    'THZ_TO_K',
    'check_pressure',
    'ev_per_a3_to_gpa',
    'gpa_to_ev_per_a3',
    'gpa_to_kbar',
    'parse_pressure',
    'parse_pressures',
    'pressure_error',
    'pressure_points',
)

# -- constants (CODATA 2018) ---------------------------------------------------------------------------------------
#: 1 Rydberg in eV.
RY_IN_EV = 13.605693122994
#: Boltzmann constant in eV/K.
BOLTZMANN_EV_PER_K = 8.617333262e-5
#: Planck constant in eV s.
_PLANCK_EV_S = 4.135667696e-15
#: 1 cm^-1 in eV (h c).
_CM1_IN_EV = 1.239841984e-4
#: 1 eV/Å³ in GPa (the same value as ``1 / ase.units.GPa``).
EV_PER_A3_IN_GPA = 160.21766208
#: 1 Bohr in Å.
BOHR_TO_ANGSTROM = 0.529177210903
#: 1 kbar in GPa (pw.x's ``press`` is in kbar).
GPA_PER_KBAR = 0.1

#: 1 Rydberg in meV.
RY_TO_MEV = RY_IN_EV * 1.0e3
#: 1 Rydberg in kelvin.
RY_TO_K = RY_IN_EV / BOLTZMANN_EV_PER_K
#: 1 Rydberg in THz.
RY_TO_THZ = RY_IN_EV / _PLANCK_EV_S * 1.0e-12
#: 1 Rydberg in cm^-1.
RY_TO_CM1 = RY_IN_EV / _CM1_IN_EV
#: 1 THz in kelvin.
THZ_TO_K = _PLANCK_EV_S * 1.0e12 / BOLTZMANN_EV_PER_K
#: 1 meV in kelvin.
MEV_TO_K = 1.0e-3 / BOLTZMANN_EV_PER_K
#: 1 cm^-1 in kelvin.
CM1_TO_K = _CM1_IN_EV / BOLTZMANN_EV_PER_K


def gpa_to_ev_per_a3(pressure_gpa):
    """Convert GPa (a number or an array) to eV/Å³."""
    return pressure_gpa / EV_PER_A3_IN_GPA


def ev_per_a3_to_gpa(value):
    """Convert eV/Å³ (a number or an array) to GPa."""
    return value * EV_PER_A3_IN_GPA


def gpa_to_kbar(pressure_gpa):
    """Convert GPa to kbar (the unit of pw.x's ``press``)."""
    return pressure_gpa / GPA_PER_KBAR


# -- pressure --------------------------------------------------------------------------------------------------------
#: The range of target pressures accepted everywhere (GPa).
MIN_PRESSURE_GPA = 0.0
MAX_PRESSURE_GPA = 1000.0
#: The pressure units :func:`parse_pressure` reads, as factors to GPa (the default unit is GPa).
PRESSURE_UNITS = {'gpa': 1.0, 'kbar': GPA_PER_KBAR, 'mbar': 100.0, 'tpa': 1000.0}

_PRESSURE_PATTERN = re.compile(r'^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*$')


class InvalidPressureError(HydridesInputError):
    """A pressure that is not a finite number of GPa within the accepted range, or a string that is not one."""


def pressure_error(pressure: float) -> str | None:
    """The one message for a number of GPa outside the accepted range (``None`` when it is inside)."""
    if not math.isfinite(pressure) or not MIN_PRESSURE_GPA <= pressure <= MAX_PRESSURE_GPA:
        hint = (
            ' (did you give kbar? 200 GPa = 2000 kbar)'
            if math.isfinite(pressure) and pressure > MAX_PRESSURE_GPA
            else ''
        )
        return (
            f'the pressure must be between {MIN_PRESSURE_GPA:g} and {MAX_PRESSURE_GPA:g} GPa, got {pressure:g} GPa'
            f'{hint}'
        )
    return None


def check_pressure(pressure, name: str = 'pressure') -> float:
    """Return ``pressure`` (a plain real number of GPa) as a float, or raise :class:`InvalidPressureError`.

    Strings, booleans and quantities with units attached are refused: a program passes numbers in GPa; text typed by
    a user goes through :func:`parse_pressure`.
    """
    if isinstance(pressure, bool) or isinstance(pressure, (str, bytes)) or not isinstance(pressure, numbers.Real):
        if hasattr(pressure, 'units') or hasattr(pressure, 'unit'):
            raise InvalidPressureError(
                f'{name} must be a plain number in GPa, got a quantity with units ({pressure!r})'
            )
        raise InvalidPressureError(
            f'{name} must be a number in GPa (e.g. 200), got {type(pressure).__name__} {pressure!r}'
        )
    value = float(pressure)
    message = pressure_error(value)
    if message:
        raise InvalidPressureError(f'{name}: {message}' if name != 'pressure' else message)
    return value


def parse_pressure(value) -> float:
    """Return a pressure in GPa from a number (GPa) or a string such as ``'200'``, ``'200 GPa'``, ``'2000kbar'``.

    :raises InvalidPressureError: for an unknown unit, text that is not a number, or a value outside the range.
    """
    if hasattr(value, 'value') and not isinstance(value, (str, bytes, numbers.Real)):  # an AiiDA Float or Int node
        value = value.value
    if isinstance(value, str):
        match = _PRESSURE_PATTERN.match(value)
        if not match:
            raise InvalidPressureError(
                f'cannot read the pressure {value!r}: give a number in GPa, e.g. 200 or "200GPa"'
            )
        number, unit = match.groups()
        factor = PRESSURE_UNITS.get(unit.lower() or 'gpa')
        if factor is None:
            raise InvalidPressureError(
                f'unknown pressure unit {unit!r} in {value!r}: use GPa (the default), kbar, Mbar or TPa, e.g. "200GPa"'
            )
        value = float(number) * factor
    return check_pressure(value)


def pressure_points(low: float, high: float | None = None, count: int = 3) -> list[float]:
    """``count`` evenly spaced pressures from ``low`` to ``high`` in GPa (both included, rounded to 0.01 GPa); one
    pressure when ``high`` is ``None`` or equals ``low``, the middle of the window when ``count`` is 1.

    :raises InvalidPressureError: a pressure outside the range, a reversed window or a ``count`` below 1.
    """
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise InvalidPressureError(f'the number of pressures must be a whole number >= 1, got {count!r}')
    low = check_pressure(low)
    if high is None or high == low:
        return [low]
    high = check_pressure(high)
    if high < low:
        raise InvalidPressureError(
            f'the pressure window {low:g}-{high:g} GPa is reversed: give the lower pressure first'
        )
    if count == 1:
        return [round((low + high) / 2, 2)]
    step = (high - low) / (count - 1)
    return [round(low + index * step, 2) for index in range(count)]


def parse_pressures(value, count: int = 3) -> list[float]:
    """The pressures (GPa, ascending, distinct) of a window or list typed by a user: ``'150-250'`` (or
    ``'150:250'``, units allowed on each end: ``'1.5Mbar-2.5Mbar'``) gives :func:`pressure_points` of the window,
    ``'150,200,250'`` those pressures, ``'200'`` or a number one pressure; a list or tuple of values is read item by
    item.

    :raises InvalidPressureError: text that is not a pressure, window or list of pressures, or one out of range.
    """
    if isinstance(value, (list, tuple)):
        values = [parse_pressure(item) for item in value]
    elif isinstance(value, str) and ',' in value:
        values = [parse_pressure(item) for item in value.split(',') if item.strip()]
    elif isinstance(value, str):
        text = value.strip()
        # a window: two pressures joined by '-' or ':' (a pressure is never negative, so '-' cannot be a sign here)
        match = re.match(r'^([^:]+?[0-9A-Za-z.])\s*[-:]\s*([0-9.+].*)$', text)
        if match:
            return pressure_points(parse_pressure(match.group(1)), parse_pressure(match.group(2)), count)
        values = [parse_pressure(text)]
    else:
        values = [parse_pressure(value)]
    if not values:
        raise InvalidPressureError(f'no pressure in {value!r}: give e.g. 200, 150-250 or 150,200,250')
    return sorted(set(values))
