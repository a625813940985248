"""Moments of the Eliashberg function (Allen & Dynes, PRB 12, 905 (1975)).

lambda    = 2 int a2F(w)/w dw
omega_log = exp[(2/lambda) int ln(w) a2F(w)/w dw]
omega_2   = [(2/lambda) int w a2F(w) dw]^(1/2)

The integrals use the trapezoidal rule on the given grid; points with w <= 0 do not contribute. omega_log and omega_2
come out in the unit of ``omega``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SpectrumError
from .qe_files import validate_spectrum

__all__ = ('spectral_moments', 'lambda_cumulative')


def _integrate(y, x) -> float:
    return float(np.trapezoid(y, x))


def _positive_part(omega, a2f):
    omega = np.asarray(omega, dtype=float)
    a2f = np.asarray(a2f, dtype=float)
    validate_spectrum(omega, a2f)
    return omega, np.clip(a2f, 0.0, None)


def spectral_moments(omega, a2f) -> dict:
    """Return ``{'lambda', 'omega_log', 'omega_2'}`` of alpha^2F on the grid ``omega``.

    Negative alpha^2F values are clipped to 0. ``omega_log`` and ``omega_2`` are in the unit of ``omega``.

    :raises SpectrumError: the spectrum is invalid (see :func:`validate_spectrum`) or gives lambda <= 0.
    """
    omega, a2f = _positive_part(omega, a2f)
    mask = omega > 0
    w, f = omega[mask], a2f[mask]
    if w.size < 2:
        raise SpectrumError('the spectrum has fewer than 2 points at omega > 0')
    lam = 2.0 * _integrate(f / w, w)
    if not (math.isfinite(lam) and lam > 0):
        raise SpectrumError(f'lambda = {lam:.4g} <= 0: the spectrum carries no electron-phonon coupling')
    omega_log = math.exp(2.0 / lam * _integrate(np.log(w) * f / w, w))
    omega_2 = math.sqrt(2.0 / lam * _integrate(w * f, w))
    return {'lambda': lam, 'omega_log': omega_log, 'omega_2': omega_2}


def lambda_cumulative(omega, a2f) -> np.ndarray:
    """Return the running integral lambda(w) = 2 int_0^w a2F(w')/w' dw' on the grid (0 where omega <= 0)."""
    omega, a2f = _positive_part(omega, a2f)
    integrand = np.where(omega > 0, a2f / np.where(omega > 0, omega, 1.0), 0.0)
    steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(omega)
    return 2.0 * np.concatenate([[0.0], np.cumsum(steps)])
