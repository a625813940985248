"""Linearized isotropic Eliashberg solver: reference table of docs/physics.md §5 and internal consistency."""

import math

import numpy as np
import pytest

from aiida_hydrides.core.superconductivity import SpectrumError, eliashberg_tc, solve_eliashberg_tc
from aiida_hydrides.core.superconductivity.eliashberg import _Spectrum, largest_eigenvalue, matsubara_count


def einstein(lam, omega=1000.0, width=10.0, points=801):
    """A narrow Gaussian at ``omega`` (K) normalised to coupling ``lam``."""
    grid = np.linspace(omega - 8 * width, omega + 8 * width, points)
    a2f = np.exp(-0.5 * ((grid - omega) / width) ** 2)
    a2f *= lam / (2.0 * np.trapezoid(a2f / grid, grid))
    return grid, a2f


@pytest.mark.parametrize(
    'lam, mustar, expected', [(1.0, 0.10, 80.6), (2.0, 0.10, 173.1), (3.0, 0.10, 235.1), (100.0, 0.0, 1818.8)]
)
def test_einstein_reference_table(lam, mustar, expected):
    """Einstein mode at 1000 K, omega_c = 10 Omega (physics.md §5)."""
    tc = eliashberg_tc(*einstein(lam), mustar, omega_c_K=10000.0)
    assert tc == pytest.approx(expected, rel=1e-2)


def test_strong_coupling_limit():
    """At lambda = 100 Tc approaches the Allen-Dynes limit 0.1827 sqrt(lambda) omega_2."""
    result = solve_eliashberg_tc(*einstein(100.0), 0.0, omega_c_K=10000.0)
    assert result.tc_K == pytest.approx(0.1827 * math.sqrt(100.0) * 1000.0, rel=1e-2)
    assert result.n_matsubara >= 4  # pi Tc is close to omega_c: the cutoff was raised (mu* = 0 is unaffected)
    assert result.mustar_effective == 0.0


def test_default_cutoff_is_ten_times_the_highest_phonon():
    grid, a2f = einstein(1.0)
    result = solve_eliashberg_tc(grid, a2f, 0.1)
    top = grid[a2f > 1e-8 * a2f.max()].max()
    assert result.omega_c_K == pytest.approx(10 * top)
    assert result.tc_K > 0 and result.note is None


def _brute_force_rho(spectrum, temperature, mustar, n, m_z=4000):
    """Largest eigenvalue of the linearized gap equation on all Matsubara frequencies -n ... n-1, Z from a long sum."""
    nu_max = 2 * m_z + 2 * n
    kernel = spectrum.kernel(temperature, nu_max)
    indices = np.arange(-n, n)
    omega = (2 * indices + 1) * math.pi * temperature
    z_sum_m = np.arange(-m_z, m_z)
    z = np.array(
        [
            1.0 + math.pi * temperature / w * np.sum(kernel[np.abs(i - z_sum_m)] * np.sign(2 * z_sum_m + 1))
            for i, w in zip(indices, omega)
        ]
    )
    matrix = math.pi * temperature * (kernel[np.abs(indices[:, None] - indices[None, :])] - mustar) / np.abs(omega)
    matrix /= z[:, None]
    return float(np.max(np.linalg.eigvals(matrix).real))


@pytest.mark.parametrize('temperature, n', [(60.0, 12), (150.0, 5)])
def test_reduced_matrix_matches_brute_force(temperature, n):
    """The symmetric N x N form (D_n, A_nm) has the same top eigenvalue as the full 2N x 2N gap equation."""
    spectrum = _Spectrum(*einstein(1.5))
    kernel = spectrum.kernel(temperature, 2 * n)
    rho = largest_eigenvalue(kernel, 0.12, n)
    assert rho == pytest.approx(_brute_force_rho(spectrum, temperature, 0.12, n), rel=1e-5)


@pytest.mark.parametrize('n', [5, 80, 300])
def test_fft_lanczos_matches_dense(n):
    spectrum = _Spectrum(*einstein(2.0))
    kernel = spectrum.kernel(10000.0 / (2 * math.pi * n), 2 * n)
    dense = largest_eigenvalue(kernel, 0.1, n, dense=True)
    iterative = largest_eigenvalue(kernel, 0.1, n, dense=False)
    assert iterative == pytest.approx(dense, rel=1e-9)


def test_tc_increases_with_lambda_and_decreases_with_mustar():
    tcs = [eliashberg_tc(*einstein(lam), 0.1, omega_c_K=10000.0) for lam in (0.8, 1.2, 1.6)]
    assert tcs[0] < tcs[1] < tcs[2]
    grid, a2f = einstein(1.2)
    assert eliashberg_tc(grid, a2f, 0.15, omega_c_K=10000.0) < tcs[1] < eliashberg_tc(grid, a2f, 0.05, 10000.0)


def test_matsubara_count():
    assert matsubara_count(100.0, 10000.0) == 16  # (2n+1) pi 100 <= 10000 for n <= 15
    assert matsubara_count(5000.0, 10000.0) == 1


def test_few_matsubara_frequencies_rescale_mustar():
    """With n_max small, the cutoff is lowered and mu* rescaled (Morel-Anderson): result stays close, note says so."""
    grid, a2f = einstein(1.0)
    full = solve_eliashberg_tc(grid, a2f, 0.1, omega_c_K=10000.0)
    small = solve_eliashberg_tc(grid, a2f, 0.1, omega_c_K=10000.0, n_max=6)
    assert small.n_matsubara == 6
    assert small.mustar_effective < 0.1
    assert small.omega_c_effective_K < 10000.0
    assert 'Morel-Anderson' in small.note
    assert small.tc_K == pytest.approx(full.tc_K, rel=0.1)


def test_tc_below_search_range_is_zero_with_reason():
    grid, a2f = einstein(0.3)
    result = solve_eliashberg_tc(grid, a2f, 0.13, t_min_K=5.0)
    assert result.tc_K == 0.0
    assert 'Tc < T_min' in result.note


@pytest.mark.parametrize(
    'kwargs, match',
    [({'mustar': float('nan')}, 'mu'), ({'mustar': -0.1}, 'mu'), ({'mustar': 0.1, 'omega_c_K': 500.0}, 'cutoff')],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(SpectrumError, match=match):
        solve_eliashberg_tc(*einstein(1.0), **kwargs)


def test_invalid_spectrum():
    grid = np.linspace(10.0, 100.0, 20)
    with pytest.raises(SpectrumError, match='zero everywhere'):
        eliashberg_tc(grid, np.zeros_like(grid), 0.1)
    with pytest.raises(SpectrumError, match='non-finite'):
        eliashberg_tc(grid, np.full_like(grid, np.inf), 0.1)
