"""Additive volume model: the cell volume of a hydride at a target pressure as a sum of per-atom volumes.

``VOLUMES_200GPA`` holds per-atom volumes (Å³) at 200 GPa. Hydrogen's 2.3 Å³ and the metal values come from the
known superhydrides near that pressure (CaH6: Ca ~7.5 with H 2.3; LaH10: La ~10; H3S: S ~6.5). Elements not in
the table get 8 Å³ (metals) or 6 Å³ (non-metals). Other pressures scale every volume with one generic
Murnaghan-like law, ``V(P) = V(200) * ((1 + 4 P / B) / (1 + 800 / B)) ** (-1/4)`` with ``B = 50 GPa``, which gives
x1.17 at 100 GPa and x0.90 at 300 GPa. The estimate only sets the starting density; the relaxation finds the real one.

This is the volume model of the project; :mod:`aiida_hydrides.core.seed_configs` keeps its own only because the
committed seed label set was generated with it (frozen).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..elements import HYDROGEN, is_metal, validate_symbol
from ..units import check_pressure

__all__ = ('VOLUMES_200GPA', 'DEFAULT_METAL_VOLUME', 'DEFAULT_NONMETAL_VOLUME', 'atomic_volume', 'estimate_volume')

#: Per-atom volumes in Å³ at 200 GPa.
VOLUMES_200GPA: dict[str, float] = {
    HYDROGEN: 2.3,
    'Li': 4.5,
    'Na': 6.0,
    'K': 10.0,
    'Be': 3.5,
    'Mg': 5.5,
    'Ca': 7.5,
    'Sr': 9.0,
    'Ba': 11.0,
    'Sc': 6.5,
    'Y': 7.5,
    'La': 10.0,
    'Ce': 9.5,
    'Lu': 8.0,
    'Th': 10.0,
    'Ti': 6.0,
    'Zr': 7.5,
    'Hf': 7.5,
    'Nb': 7.0,
    'Al': 6.0,
    'B': 4.0,
    'C': 4.0,
    'N': 4.5,
    'O': 4.5,
    'F': 5.0,
    'Si': 7.0,
    'P': 7.0,
    'S': 6.5,
    'Cl': 8.0,
}
DEFAULT_METAL_VOLUME = 8.0
DEFAULT_NONMETAL_VOLUME = 6.0
_REFERENCE_PRESSURE = 200.0
_BULK_MODULUS = 50.0
_BULK_DERIVATIVE = 4.0


def _pressure_factor(pressure_gpa: float) -> float:
    """The Murnaghan-like factor of a checked pressure (GPa)."""
    ratio = (1 + _BULK_DERIVATIVE * pressure_gpa / _BULK_MODULUS) / (
        1 + _BULK_DERIVATIVE * _REFERENCE_PRESSURE / _BULK_MODULUS
    )
    return float(ratio ** (-1.0 / _BULK_DERIVATIVE))


def _volume_200gpa(symbol: str) -> float:
    validate_symbol(symbol)
    return VOLUMES_200GPA.get(symbol, DEFAULT_METAL_VOLUME if is_metal(symbol) else DEFAULT_NONMETAL_VOLUME)


def atomic_volume(symbol: str, pressure_gpa: float = 200.0) -> float:
    """Per-atom volume (Å³) of ``symbol`` at ``pressure_gpa`` (GPa, checked with
    :func:`~aiida_hydrides.core.units.check_pressure`)."""
    return _volume_200gpa(symbol) * _pressure_factor(check_pressure(pressure_gpa, 'pressure_gpa'))


def estimate_volume(counts: Mapping[str, int], pressure_gpa: float = 200.0) -> float:
    """Cell volume (Å³) of ``counts`` (element -> number of atoms) at ``pressure_gpa``: the sum of atomic volumes."""
    factor = _pressure_factor(check_pressure(pressure_gpa, 'pressure_gpa'))
    return float(sum(count * (_volume_200gpa(symbol) * factor) for symbol, count in counts.items()))
