"""Density of states at the Fermi level, total and projected on one element (hydrogen), from projwfc.x data.

A large hydrogen share of N(E_F) is the usual quick indicator of strong electron-phonon coupling in hydrides, so it
is used to choose which candidates get an electron-phonon calculation first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from aiida_hydrides.core.errors import HydridesInputError

__all__ = ('dos_at_energy', 'projected_dos_at_fermi')

#: default half-width (eV) of the Gaussian window that averages the DOS around E_F
DEFAULT_WINDOW_EV = 0.1


def dos_at_energy(
    energies: Sequence[float], dos: Sequence[float], energy: float, window_ev: float = DEFAULT_WINDOW_EV
) -> float:
    """The DOS at ``energy`` averaged with a normalised Gaussian of standard deviation ``window_ev`` (states/eV)."""
    grid = np.asarray(energies, dtype=float)
    values = np.asarray(dos, dtype=float)
    if grid.ndim != 1 or grid.shape != values.shape or grid.size < 2:
        raise HydridesInputError(
            f'energies and DOS must be 1-D arrays of the same length, got {grid.shape} and {values.shape}'
        )
    if not grid[0] <= energy <= grid[-1]:
        raise HydridesInputError(
            f'E = {energy:.3f} eV lies outside the DOS energy range [{grid[0]:.3f}, {grid[-1]:.3f}] eV'
        )
    if window_ev <= 0:
        return float(np.interp(energy, grid, values))
    weights = np.exp(-0.5 * ((grid - energy) / window_ev) ** 2)
    norm = np.trapezoid(weights, grid) if hasattr(np, 'trapezoid') else np.trapz(weights, grid)
    integral = np.trapezoid(weights * values, grid) if hasattr(np, 'trapezoid') else np.trapz(weights * values, grid)
    return float(integral / norm)


def projected_dos_at_fermi(
    energies: Sequence[float],
    total: Sequence[float],
    projected: Mapping[str, Sequence[float]],
    fermi_energy: float,
    natoms: int,
    window_ev: float = DEFAULT_WINDOW_EV,
) -> dict:
    """N(E_F) in states/eV/cell, per atom, and per element from per-element projected DOS on the same grid.

    :param projected: element -> summed projected DOS over all its atoms and orbitals (states/eV).
    :return: ``dos_total_states_per_ev``, ``dos_per_atom_states_per_ev``, ``dos_<El>_states_per_ev`` and
        ``fraction_<El>`` (share of the summed projections; projections miss the spilled charge, so the shares are
        normalised to their sum), the window and E_F.
    """
    total_at_ef = dos_at_energy(energies, total, fermi_energy, window_ev)
    result = {
        'fermi_energy_ev': float(fermi_energy),
        'window_ev': float(window_ev),
        'dos_total_states_per_ev': total_at_ef,
        'dos_per_atom_states_per_ev': total_at_ef / max(int(natoms), 1),
    }
    per_element = {
        element: dos_at_energy(energies, values, fermi_energy, window_ev) for element, values in projected.items()
    }
    projected_sum = sum(per_element.values())
    for element, value in sorted(per_element.items()):
        result[f'dos_{element}_states_per_ev'] = value
        result[f'fraction_{element}'] = value / projected_sum if projected_sum > 1e-6 else 0.0
    result['metallic'] = bool(total_at_ef > 1e-3 * max(int(natoms), 1))
    return result
