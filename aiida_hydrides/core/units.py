"""Physical constants, unit conversions and the one pressure parser of aiida-hydrides (pure Python, no AiiDA).

Conventions at every interface of the project: pressures in GPa, energies in eV, lengths in Å, temperatures and
phonon frequencies in K (``k_B = 1``) where a name ends in ``_K``. Quantum ESPRESSO's own units (Ry, kbar, Bohr) are
converted with the constants below and nowhere else. Values are CODATA 2018.

Pressure: :func:`parse_pressure` reads what a user types (``200``, ``'200 GPa'``, ``'2000 kbar'``, ``'2 Mbar'``);
:func:`check_pressure` validates a number that a program passes (strings and quantities with units are refused, so a
wrong unit cannot slip through). Both accept one range, :data:`MIN_PRESSURE_GPA` to :data:`MAX_PRESSURE_GPA`, and give
one error message, :class:`InvalidPressureError`. Ports validate once with them; the code below trusts the value.
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
    'pressure_error',
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
