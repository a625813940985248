"""Closed-form Tc formulas and spectral moments: reference numbers of docs/physics.md §4-§5."""

import math

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.superconductivity import (
    RY_TO_K,
    SpectrumError,
    allen_dynes_factors,
    allen_dynes_tc,
    mcmillan_tc,
    spectral_moments,
    tc_undefined_reason,
    xie_ml_factors,
    xie_ml_tc,
)


def einstein(lam, omega=1000.0, width=10.0, points=801):
    """A narrow Gaussian at ``omega`` (K) normalised to coupling ``lam``."""
    grid = np.linspace(omega - 8 * width, omega + 8 * width, points)
    a2f = np.exp(-0.5 * ((grid - omega) / width) ** 2)
    a2f *= lam / (2.0 * np.trapezoid(a2f / grid, grid))
    return grid, a2f


@pytest.mark.parametrize('mustar, expected', [(0.10, 203.7), (0.13, 191.1)])
def test_mcmillan_h3s_duan(mustar, expected):
    """H3S at 200 GPa (Duan et al. 2014): lambda 2.19, omega_log 1335 K."""
    assert mcmillan_tc(2.19, 1335.0, mustar) == pytest.approx(expected, rel=5e-3)


def test_allen_dynes_scalar_check():
    lam, omega_log, omega_2, mustar = 3.246, 727.0, 1059.0, 0.1
    assert mcmillan_tc(lam, omega_log, mustar) == pytest.approx(135.2, rel=5e-3)
    f1, f2 = allen_dynes_factors(lam, omega_log, omega_2, mustar)
    assert f1 == pytest.approx(1.246, abs=2e-3)
    assert f2 == pytest.approx(1.165, abs=2e-3)
    assert allen_dynes_tc(lam, omega_log, omega_2, mustar) == pytest.approx(196.3, rel=5e-3)


@pytest.mark.parametrize(
    'lam, mustar, mcmillan, allen_dynes',
    [(1.0, 0.10, 69.6, 73.2), (2.0, 0.10, 143.8, 162.9), (3.0, 0.10, 179.9, 220.1), (100.0, 0.0, 291.5, 1860.9)],
)
def test_einstein_table_closed_forms(lam, mustar, mcmillan, allen_dynes):
    moments = spectral_moments(*einstein(lam))
    assert moments['lambda'] == pytest.approx(lam, rel=1e-6)
    assert moments['omega_log'] == pytest.approx(1000.0, rel=1e-3)
    assert moments['omega_2'] == pytest.approx(1000.0, rel=1e-3)
    assert mcmillan_tc(moments['lambda'], moments['omega_log'], mustar) == pytest.approx(mcmillan, rel=5e-3)
    tc = allen_dynes_tc(moments['lambda'], moments['omega_log'], moments['omega_2'], mustar)
    assert tc == pytest.approx(allen_dynes, rel=5e-3)


def test_moments_are_unit_consistent():
    """Moments scale with the unit of omega; lambda does not."""
    omega_K, a2f = einstein(1.5, omega=800.0)  # noqa: N806
    in_kelvin = spectral_moments(omega_K, a2f)
    in_rydberg = spectral_moments(omega_K / RY_TO_K, a2f)
    assert in_rydberg['lambda'] == pytest.approx(in_kelvin['lambda'], rel=1e-12)
    assert in_rydberg['omega_log'] * RY_TO_K == pytest.approx(in_kelvin['omega_log'], rel=1e-12)
    assert in_rydberg['omega_2'] * RY_TO_K == pytest.approx(in_kelvin['omega_2'], rel=1e-12)


def test_two_peak_moments_analytic():
    """Two narrow peaks of weights l1, l2 at w1, w2: omega_log is the lambda-weighted geometric mean."""
    grid1, peak1 = einstein(0.6, omega=300.0, width=2.0)
    grid2, peak2 = einstein(0.4, omega=1200.0, width=2.0)
    grid = np.concatenate([[1.0], grid1, grid2])
    a2f = np.concatenate([[0.0], peak1, peak2])
    moments = spectral_moments(grid, a2f)
    assert moments['lambda'] == pytest.approx(1.0, rel=1e-3)
    assert moments['omega_log'] == pytest.approx(math.exp(0.6 * math.log(300) + 0.4 * math.log(1200)), rel=1e-3)
    assert moments['omega_2'] == pytest.approx(math.sqrt(0.6 * 300**2 + 0.4 * 1200**2), rel=1e-3)


def test_tc_is_zero_when_coulomb_wins():
    """lambda - mu*(1 + 0.62 lambda) <= 0 has no solution: 0.0 (never NaN or negative), with a reason."""
    assert mcmillan_tc(0.1, 300.0, 0.13) == 0.0
    assert allen_dynes_tc(0.1, 300.0, 350.0, 0.13) == 0.0
    assert xie_ml_tc(0.1, 300.0, 350.0, 0.13) == 0.0
    assert 'Coulomb' in tc_undefined_reason(0.1, 0.13)
    assert tc_undefined_reason(1.0, 0.13) is None


def test_mustar_zero_and_monotonic():
    values = [mcmillan_tc(1.2, 500.0, mu) for mu in (0.0, 0.05, 0.10, 0.13, 0.2)]
    assert all(a > b > 0 for a, b in zip(values, values[1:]))
    f_omega, f_mu = xie_ml_factors(1.2, 500.0, 600.0, 0.0)
    assert f_mu == 1.0 and f_omega > 0


def test_xie_ml_is_a_modest_correction_in_its_range():
    """For typical strong coupling (lambda 1-3) the ML formula lies near Allen-Dynes, far from 0 or infinity."""
    for lam in (1.0, 2.0, 3.0):
        mcmillan = mcmillan_tc(lam, 1000.0, 0.1)
        ml = xie_ml_tc(lam, 1000.0, 1100.0, 0.1)
        assert 0.8 * mcmillan < ml < 2.0 * mcmillan


@pytest.mark.parametrize(
    'args',
    [
        (0.0, 300.0, 0.1),
        (-0.5, 300.0, 0.1),
        (1.0, 0.0, 0.1),
        (1.0, float('nan'), 0.1),
        (float('inf'), 300, 0.1),
        (1.0, 300.0, -0.1),
    ],
)
def test_invalid_arguments_raise(args):
    with pytest.raises(SpectrumError) as info:
        mcmillan_tc(*args)
    assert isinstance(info.value, HydridesInputError) and isinstance(info.value, ValueError)


def test_moments_errors():
    grid = np.linspace(100, 1000, 50)
    with pytest.raises(SpectrumError, match='zero everywhere'):
        spectral_moments(grid, np.zeros_like(grid))
    with pytest.raises(SpectrumError, match='negative values'):
        spectral_moments(grid, -np.ones_like(grid))
    with pytest.raises(SpectrumError, match='non-finite'):
        spectral_moments(grid, np.where(grid > 500, np.nan, 1.0))
    with pytest.raises(SpectrumError, match='same length'):
        spectral_moments(grid, np.ones(10))
    with pytest.raises(SpectrumError, match='fewer than 2'):
        spectral_moments([100.0], [1.0])
