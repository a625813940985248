"""Closed-form Tc estimates from the moments of alpha^2F.

* :func:`mcmillan_tc`: McMillan's formula as modified by Dynes (omega_log/1.2 prefactor, no f1 f2), the form that
  lambda.x, EPW and most hydride papers call "Allen-Dynes-modified McMillan".
* :func:`allen_dynes_tc`: the same times the strong-coupling and shape corrections f1 f2 (Allen & Dynes, PRB 12, 905
  (1975), Eqs. 34-38).
* :func:`xie_ml_tc`: the machine-learned correction of Xie et al., npj Comput. Mater. 8, 14 (2022).

All temperatures and frequencies are in kelvin. A formula whose denominator is not positive has no superconducting
solution and returns 0.0; :func:`tc_undefined_reason` says why. Invalid input (lambda <= 0, omega <= 0, mu* < 0,
non-finite numbers) raises :class:`SpectrumError`; no function returns NaN.
"""

from __future__ import annotations

import math

from .errors import SpectrumError

__all__ = (
    'FORMULAS',
    'mcmillan_tc',
    'allen_dynes_factors',
    'allen_dynes_tc',
    'xie_ml_factors',
    'xie_ml_tc',
    'tc_undefined_reason',
)

#: formula name -> short description; the names are the ones used in result keys (``tc_<name>_K_mu0_10``).
FORMULAS = {
    'mcmillan': 'McMillan formula with the Dynes omega_log/1.2 prefactor (no f1 f2)',
    'allen_dynes': 'Allen-Dynes 1975 with strong-coupling and shape corrections f1 f2',
    'xie_ml': 'McMillan times the machine-learned f_omega f_mu of Xie et al. 2022',
    'eliashberg': 'linearized isotropic Migdal-Eliashberg equations on the Matsubara axis',
}


def _check(name: str, value: float, positive: bool = True) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise SpectrumError(f'{name} must be a number, got {value!r}') from None
    if not math.isfinite(value):
        raise SpectrumError(f'{name} must be finite, got {value}')
    if positive and value <= 0:
        raise SpectrumError(f'{name} must be > 0, got {value:.4g}')
    if not positive and value < 0:
        raise SpectrumError(f'{name} must be >= 0, got {value:.4g}')
    return value


def _mcmillan_denominator(lam: float, mustar: float) -> float:
    return lam - mustar * (1.0 + 0.62 * lam)


def tc_undefined_reason(lam: float, mustar: float) -> str | None:
    """Return why the McMillan-type formulas give Tc = 0 for ``(lam, mustar)``, or ``None`` when they are defined."""
    denominator = _mcmillan_denominator(float(lam), float(mustar))
    if denominator <= 0:
        return (
            f'lambda - mu*(1 + 0.62 lambda) = {denominator:.4g} <= 0 (lambda = {lam:.4g}, mu* = {mustar:.3g}): '
            'the coupling does not overcome the Coulomb repulsion, Tc = 0'
        )
    return None


def mcmillan_tc(lam: float, omega_log_K: float, mustar: float) -> float:  # noqa: N803 - unit suffix
    """McMillan-Dynes Tc in K: (omega_log/1.2) exp[-1.04(1+lambda) / (lambda - mu*(1+0.62 lambda))]; 0 if undefined."""
    lam = _check('lambda', lam)
    omega_log_K = _check('omega_log', omega_log_K)
    mustar = _check('mu*', mustar, positive=False)
    denominator = _mcmillan_denominator(lam, mustar)
    if denominator <= 0:
        return 0.0
    return omega_log_K / 1.2 * math.exp(-1.04 * (1.0 + lam) / denominator)


def allen_dynes_factors(
    lam: float,
    omega_log_K: float,
    omega_2_K: float,
    mustar: float,  # noqa: N803
) -> tuple[float, float]:
    """Return the Allen-Dynes corrections ``(f1, f2)``.

    f1 = [1 + (lambda/L1)^(3/2)]^(1/3),                     L1 = 2.46 (1 + 3.8 mu*)
    f2 = 1 + (w2/wlog - 1) lambda^2 / (lambda^2 + L2^2),     L2 = 1.82 (1 + 6.3 mu*) (w2/wlog)
    """
    lam = _check('lambda', lam)
    omega_log_K = _check('omega_log', omega_log_K)
    omega_2_K = _check('omega_2', omega_2_K)
    mustar = _check('mu*', mustar, positive=False)
    ratio = omega_2_K / omega_log_K
    big_lambda_1 = 2.46 * (1.0 + 3.8 * mustar)
    big_lambda_2 = 1.82 * (1.0 + 6.3 * mustar) * ratio
    f1 = (1.0 + (lam / big_lambda_1) ** 1.5) ** (1.0 / 3.0)
    f2 = 1.0 + (ratio - 1.0) * lam**2 / (lam**2 + big_lambda_2**2)
    return f1, f2


def allen_dynes_tc(lam: float, omega_log_K: float, omega_2_K: float, mustar: float) -> float:  # noqa: N803
    """Allen-Dynes Tc in K: f1 f2 times :func:`mcmillan_tc`; 0 if undefined."""
    f1, f2 = allen_dynes_factors(lam, omega_log_K, omega_2_K, mustar)
    return f1 * f2 * mcmillan_tc(lam, omega_log_K, mustar)


def xie_ml_factors(
    lam: float,
    omega_log_K: float,
    omega_2_K: float,
    mustar: float,  # noqa: N803
) -> tuple[float, float]:
    """Return the machine-learned corrections ``(f_omega, f_mu)`` of Xie et al. (2022).

    f_omega = 1.92 (lambda + wlog/w2 - mu*^(1/3)) / (sqrt(lambda) exp(wlog/w2)) - 0.08
    f_mu    = 6.86 exp(-lambda/mu*) / (1/lambda - mu* - wlog/w2) + 1          (f_mu = 1 for mu* = 0)
    """
    lam = _check('lambda', lam)
    omega_log_K = _check('omega_log', omega_log_K)
    omega_2_K = _check('omega_2', omega_2_K)
    mustar = _check('mu*', mustar, positive=False)
    ratio = omega_log_K / omega_2_K
    f_omega = 1.92 * (lam + ratio - mustar ** (1.0 / 3.0)) / (math.sqrt(lam) * math.exp(ratio)) - 0.08
    if mustar == 0:
        return f_omega, 1.0
    denominator = 1.0 / lam - mustar - ratio
    if denominator == 0:
        raise SpectrumError(f'the Xie f_mu correction is singular at lambda = {lam:.4g}, mu* = {mustar:.3g}')
    f_mu = 6.86 * math.exp(-lam / mustar) / denominator + 1.0
    return f_omega, f_mu


def xie_ml_tc(lam: float, omega_log_K: float, omega_2_K: float, mustar: float) -> float:  # noqa: N803
    """Tc in K from the machine-learned formula of Xie et al. (2022): f_omega f_mu times :func:`mcmillan_tc`.

    Returns 0 when the McMillan form is undefined or the corrected value is not positive.
    """
    f_omega, f_mu = xie_ml_factors(lam, omega_log_K, omega_2_K, mustar)
    return max(0.0, f_omega * f_mu * mcmillan_tc(lam, omega_log_K, mustar))
