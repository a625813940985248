"""Tc from the linearized isotropic Migdal-Eliashberg equations on the imaginary (Matsubara) axis.

With omega_n = (2n+1) pi T, the kernel lambda(k) = int 2 w a2F(w) / (w^2 + (2 pi T k)^2) dw and the even symmetry of
the gap, the linearized gap equation at temperature T reads  sum_m A_nm x_m = D_n x_n  for n, m = 0 ... N-1, with::

    D_n  = (2n+1) + lambda(0) + 2 sum_{r=1..n} lambda(r)
    A_nm = lambda(|n-m|) + lambda(n+m+1) - 2 mu*

and omega_{N-1} <= omega_c. Tc is the temperature where the largest eigenvalue rho(T) of A_nm / sqrt(D_n D_m) is 1;
rho decreases with T, so Tc is found by bracketing and bisection (Brent's method) on log T.

The top eigenvalue comes from a dense eigen-solve for small N and, for large N, from Lanczos iterations on a
matrix-free operator: A is a Toeplitz plus a Hankel matrix minus a constant, so each product costs O(N log N) with
FFTs and the memory stays O(N). At very low T, where more than ``n_max`` Matsubara frequencies would be needed, the
cutoff is lowered to the last kept frequency and mu* is rescaled to it with the Morel-Anderson relation
1/mu*(w_c') = 1/mu*(w_c) + ln(w_c/w_c').
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.optimize
import scipy.sparse.linalg

from .errors import SpectrumError
from .formulas import allen_dynes_tc
from .qe_files import validate_spectrum

__all__ = ('EliashbergResult', 'eliashberg_tc', 'solve_eliashberg_tc', 'largest_eigenvalue', 'matsubara_count')

#: Matsubara frequencies up to which the dense eigen-solver is used.
DENSE_LIMIT = 64
#: default largest number of positive Matsubara frequencies.
N_MAX_DEFAULT = 20000
#: default smallest number of positive Matsubara frequencies.
N_MIN_DEFAULT = 4
#: chunk of kernel rows evaluated at once (bounds the memory of the kernel to CHUNK x n_omega).
_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class EliashbergResult:
    """The outcome of :func:`solve_eliashberg_tc`.

    :ivar tc_K: the critical temperature in K (0.0 when none was found above ``t_min_K``; ``note`` says why).
    :ivar mustar: the Coulomb pseudopotential at the cutoff ``omega_c_K``.
    :ivar omega_c_K: the Matsubara cutoff in K.
    :ivar n_matsubara: positive Matsubara frequencies used at Tc.
    :ivar mustar_effective: mu* used at Tc (differs from ``mustar`` only when the cutoff had to be lowered).
    :ivar omega_c_effective_K: the cutoff used at Tc.
    :ivar t_min_K: the lowest temperature searched.
    :ivar note: why Tc is 0 or the cutoff was rescaled, else ``None``.
    """

    tc_K: float  # noqa: N815
    mustar: float
    omega_c_K: float  # noqa: N815
    n_matsubara: int
    mustar_effective: float
    omega_c_effective_K: float  # noqa: N815
    t_min_K: float  # noqa: N815
    note: str | None = None

    def as_dict(self) -> dict:
        """Return the fields as a JSON-able dict."""
        return dataclasses.asdict(self)


def matsubara_count(temperature: float, omega_c: float) -> int:
    """Number of positive fermionic Matsubara frequencies (2n+1) pi T that do not exceed ``omega_c`` (at least 1)."""
    return max(1, int(math.floor((omega_c / (math.pi * temperature) - 1.0) / 2.0)) + 1)


class _Spectrum:
    """alpha^2F on its positive-frequency grid, with the trapezoid weights for the kernel integrals."""

    def __init__(self, omega, a2f):
        validate_spectrum(omega, a2f)
        omega = np.asarray(omega, dtype=float)
        a2f = np.clip(np.asarray(a2f, dtype=float), 0.0, None)
        mask = omega > 0
        self.omega = omega[mask]
        if self.omega.size < 2:
            raise SpectrumError('the spectrum has fewer than 2 points at omega > 0')
        weights = np.zeros_like(self.omega)
        steps = np.diff(self.omega)
        weights[:-1] += 0.5 * steps
        weights[1:] += 0.5 * steps
        # 2 w a2F(w) dw: the numerator of the kernel, with the integration weights folded in.
        self.numerator = 2.0 * self.omega * a2f[mask] * weights
        self.omega_sq = self.omega**2
        self.lam = float(np.sum(self.numerator / self.omega_sq))
        if not (math.isfinite(self.lam) and self.lam > 0):
            raise SpectrumError(f'lambda = {self.lam:.4g} <= 0: the spectrum carries no electron-phonon coupling')
        significant = a2f[mask] > 1e-8 * a2f[mask].max()
        self.omega_max = float(self.omega[significant].max())

    def kernel(self, temperature: float, count: int) -> np.ndarray:
        """lambda(k) for the bosonic Matsubara frequencies nu_k = 2 pi T k, k = 0 ... count-1."""
        result = np.empty(count)
        for start in range(0, count, _CHUNK):
            nu = 2.0 * math.pi * temperature * np.arange(start, min(count, start + _CHUNK))
            result[start : start + nu.size] = (self.numerator / (self.omega_sq + nu[:, None] ** 2)).sum(axis=1)
        return result


def _rescale_mustar(mustar: float, omega_c: float, cutoff: float) -> float:
    """mu* at ``cutoff`` from mu* at ``omega_c``: 1/mu*(w') = 1/mu*(w_c) + ln(w_c/w') (Morel-Anderson)."""
    if mustar == 0 or cutoff == omega_c:
        return mustar
    denominator = 1.0 + mustar * math.log(omega_c / cutoff)
    if denominator <= 0:
        raise SpectrumError(f'cannot rescale mu* = {mustar} from {omega_c:.4g} K to a cutoff of {cutoff:.4g} K')
    return mustar / denominator


def _fft_length(n: int) -> int:
    return scipy.fft.next_fast_len(n, real=True)


def largest_eigenvalue(kernel: np.ndarray, mustar: float, n: int, dense: bool | None = None) -> float:
    """Largest eigenvalue of A_nm / sqrt(D_n D_m) built from ``kernel`` = lambda(0 ... 2n-1).

    ``dense=None`` picks the dense solver for ``n <= DENSE_LIMIT`` and FFT-based Lanczos iterations above.
    """
    lam = kernel[: 2 * n]
    index = np.arange(n)
    diagonal = (2 * index + 1) + lam[0] + 2.0 * np.concatenate([[0.0], np.cumsum(lam[1:n])])[:n]
    scale = 1.0 / np.sqrt(diagonal)
    if dense is None:
        dense = n <= DENSE_LIMIT
    if n == 1:
        return float((lam[0] + lam[1] - 2.0 * mustar) * scale[0] ** 2)
    if dense:
        matrix = scipy.linalg.toeplitz(lam[:n]) + scipy.linalg.hankel(lam[1 : n + 1], lam[n : 2 * n]) - 2.0 * mustar
        matrix *= scale[:, None]
        matrix *= scale[None, :]
        return float(scipy.linalg.eigh(matrix, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])

    # Toeplitz part: embed lambda(|n-m|) in a circulant of length L >= 2n-1.
    length_t = _fft_length(2 * n)
    circulant = np.zeros(length_t)
    circulant[:n] = lam[:n]
    circulant[length_t - n + 1 :] = lam[1:n][::-1]
    toeplitz_hat = scipy.fft.rfft(circulant)
    # Hankel part: (H x)_i = sum_j lambda(i+j+1) x_j = (h * reversed x)[i+n-1], with h = lambda(1 ... 2n-1).
    length_h = _fft_length(3 * n)
    hankel_hat = scipy.fft.rfft(lam[1 : 2 * n], length_h)

    def matvec(vector):
        y = scale * np.ravel(vector)
        toeplitz = scipy.fft.irfft(toeplitz_hat * scipy.fft.rfft(y, length_t), length_t)[:n]
        hankel = scipy.fft.irfft(hankel_hat * scipy.fft.rfft(y[::-1], length_h), length_h)[n - 1 : 2 * n - 1]
        return scale * (toeplitz + hankel - 2.0 * mustar * y.sum())

    operator = scipy.sparse.linalg.LinearOperator((n, n), matvec=matvec, dtype=float)
    start = np.sqrt(scale)  # a positive vector, close to the top eigenvector
    values = scipy.sparse.linalg.eigsh(operator, k=1, which='LA', v0=start, tol=1e-10, return_eigenvectors=False)
    return float(values[0])


def solve_eliashberg_tc(
    omega_K,  # noqa: N803 - unit suffix
    a2f,
    mustar: float,
    omega_c_K: float | None = None,  # noqa: N803
    n_max: int = N_MAX_DEFAULT,
    n_min: int = N_MIN_DEFAULT,
    t_min_K: float | None = None,  # noqa: N803
    rtol: float = 1e-4,
) -> EliashbergResult:
    """Solve the linearized isotropic Eliashberg equations for Tc (see the module docstring).

    :param omega_K: phonon frequencies of the spectrum in K (``omega_ry * RY_TO_K`` for QE files).
    :param a2f: alpha^2F on that grid (negative values are clipped to 0).
    :param mustar: Coulomb pseudopotential at the cutoff ``omega_c_K``.
    :param omega_c_K: Matsubara cutoff in K; default 10 x the highest frequency with non-zero alpha^2F.
    :param n_max: the largest number of positive Matsubara frequencies; below the temperature that would need more,
        the cutoff is lowered to 2 n_max pi T and mu* rescaled (Morel-Anderson).
    :param n_min: the smallest number of positive Matsubara frequencies; when fewer lie below omega_c (pi Tc close to
        omega_c, extreme coupling), the cutoff is raised to 2 n_min pi T and mu* rescaled (Morel-Anderson).
    :param t_min_K: lowest temperature searched (default omega_max / (pi n_max), where the lowered cutoff reaches
        2 omega_max); below it Tc is reported as 0.
    :param rtol: relative tolerance on Tc.
    :raises SpectrumError: invalid spectrum or parameters.
    """
    spectrum = _Spectrum(omega_K, a2f)
    mustar = float(mustar)
    if not (math.isfinite(mustar) and mustar >= 0):
        raise SpectrumError(f'mu* must be a finite number >= 0, got {mustar}')
    omega_c = 10.0 * spectrum.omega_max if omega_c_K is None else float(omega_c_K)
    if not (math.isfinite(omega_c) and omega_c > spectrum.omega_max):
        raise SpectrumError(
            f'the Matsubara cutoff omega_c = {omega_c:.4g} K must exceed the highest phonon frequency '
            f'{spectrum.omega_max:.4g} K (use about 10 x)'
        )
    if not 1 <= n_min <= n_max:
        raise SpectrumError(f'need 1 <= n_min <= n_max, got n_min = {n_min}, n_max = {n_max}')
    t_min = spectrum.omega_max / (math.pi * n_max) if t_min_K is None else float(t_min_K)

    def settings(temperature):
        """(N, cutoff, mu*) at ``temperature``."""
        count = matsubara_count(temperature, omega_c)
        if n_min <= count <= n_max:
            return count, omega_c, mustar
        count = min(max(count, n_min), n_max)
        cutoff = (2 * count) * math.pi * temperature
        return count, cutoff, _rescale_mustar(mustar, omega_c, cutoff)

    def rho(temperature):
        count, _, mu = settings(temperature)
        return largest_eigenvalue(spectrum.kernel(temperature, 2 * count), mu, count)

    def result(tc, note=None):
        count, cutoff, mu = settings(tc if tc > 0 else t_min)
        if note is None and cutoff < omega_c:
            note = (
                f'Tc needs more than n_max = {n_max} Matsubara frequencies: cutoff lowered to {cutoff:.4g} K '
                f'and mu* rescaled to {mu:.4g} (Morel-Anderson)'
            )
        elif note is None and cutoff > omega_c:
            note = (
                f'pi Tc is close to omega_c: {n_min} Matsubara frequencies kept, cutoff raised to {cutoff:.4g} K '
                f'and mu* rescaled to {mu:.4g} (Morel-Anderson)'
            )
        return EliashbergResult(
            tc_K=float(tc),
            mustar=mustar,
            omega_c_K=omega_c,
            n_matsubara=count,
            mustar_effective=mu,
            omega_c_effective_K=cutoff,
            t_min_K=t_min,
            note=note,
        )

    # Bracket Tc around the Allen-Dynes estimate (Eliashberg is usually 1-3 x larger at weak coupling), else start
    # above the strong-coupling limit 0.1827 sqrt(lambda) omega_2 and step down.
    omega_2 = math.sqrt(float(np.sum(spectrum.numerator)) / spectrum.lam)
    omega_log = math.exp(float(np.sum(np.log(spectrum.omega) * spectrum.numerator / spectrum.omega_sq)) / spectrum.lam)
    estimate = allen_dynes_tc(spectrum.lam, omega_log, omega_2, mustar)
    if estimate > t_min:
        t_high, t_low = 4.0 * estimate, max(0.5 * estimate, t_min)
    else:
        t_high = 0.25 * math.sqrt(spectrum.lam) * omega_2 + spectrum.omega_max
        t_low = max(t_high / 4.0, t_min)
    while rho(t_high) >= 1.0:
        t_low, t_high = t_high, 2.0 * t_high
        if t_high > 1e3 * omega_c:
            raise SpectrumError('the Eliashberg solver found no upper bound for Tc')
    while rho(t_low) <= 1.0:
        if t_low <= t_min:
            return result(0.0, note=f'no superconducting solution above T_min = {t_min:.3g} K (Tc < T_min)')
        t_low, t_high = max(t_low / 4.0, t_min), t_low

    log_tc = scipy.optimize.brentq(
        lambda log_t: rho(math.exp(log_t)) - 1.0, math.log(t_low), math.log(t_high), xtol=rtol, rtol=1e-12
    )
    return result(math.exp(log_tc))


def eliashberg_tc(omega_K, a2f, mustar: float, omega_c_K: float | None = None) -> float:  # noqa: N803
    """Tc in K from the linearized isotropic Eliashberg equations (0.0 when below the search range).

    ``omega_K`` is the frequency grid of alpha^2F in K; ``omega_c_K`` defaults to 10 x the highest phonon frequency.
    See :func:`solve_eliashberg_tc` for the details (cutoff, Matsubara count, mu* rescaling).
    """
    return solve_eliashberg_tc(omega_K, a2f, mustar, omega_c_K=omega_c_K).tc_K
