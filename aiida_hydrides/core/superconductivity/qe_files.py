"""Readers for the electron-phonon files of Quantum ESPRESSO's ``matdyn.x`` (``la2F=.true.``).

* ``a2F.dos<i>``: the Eliashberg function alpha^2F(omega) for the i-th double-delta smearing sigma_i = i * el_ph_sigma;
  five header lines, then ``E[Ry] a2F_total a2F_mode1 ... a2F_mode3nat`` and a last line ``lambda = ... Delta = ...``.
* ``lambda``: one line per smearing, ``Broadening sigma lambda lam dos(Ef) N omega_ln [K] w`` (a direct sum over the
  interpolated q grid, not an integral of the histogram).

Both readers accept a path or the text of the file itself.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re

import numpy as np

from ..units import RY_TO_CM1, RY_TO_K
from .errors import SpectrumError

__all__ = ('A2fSpectrum', 'LambdaRow', 'read_a2f_dos', 'read_lambda_file', 'validate_spectrum')

_FOOTER_RE = re.compile(r'lambda\s*=\s*([-+0-9.eEdD]+)')
_SIGMA_INDEX_RE = re.compile(r'a2F\.dos(\d+)$')
_LAMBDA_ROW_RE = re.compile(
    r'Broadening\s+(?P<sigma>\S+)\s+lambda\s+(?P<lam>\S+)\s+dos\(Ef\)\s+(?P<dos>\S+)\s+omega_ln\s*\[K\]\s+(?P<wlog>\S+)'
)


@dataclasses.dataclass(frozen=True)
class A2fSpectrum:
    """An Eliashberg spectral function read from ``a2F.dos<i>``.

    :ivar omega_ry: frequencies in Ry, shape ``(n,)``, strictly increasing.
    :ivar a2f: total alpha^2F (dimensionless), shape ``(n,)``, the small negative tetrahedron tail clipped to 0.
    :ivar a2f_modes: alpha^2F per phonon branch as written by QE (not clipped), shape ``(n, nmodes)``.
    :ivar sigma_index: ``i`` of ``a2F.dos<i>`` (smearing sigma_i = i * el_ph_sigma), when known from the file name.
    :ivar lambda_footer: the ``lambda =`` value of the last line, when present.
    :ivar n_clipped: how many negative values of the total alpha^2F were set to 0.
    :ivar lambda_clipped: the coupling ``2 int |a2F|/w dw`` of the clipped negative values: how much clipping raised
        lambda.
    :ivar source: the file the spectrum came from, or ``None`` for text.
    :ivar n_negative_omega: rows at omega < 0 dropped from the file (interpolated acoustic modes just below zero).
    :ivar lambda_unclipped: ``2 int a2F/w dw`` of the total alpha^2F as QE wrote it, negative values kept (QE's own
        histogram integral: it matches ``lambda_footer`` to < 0.2 %). The lambda of the clipped spectrum is
        ``lambda_unclipped + lambda_clipped``; both integrals use the trapezoidal rule on the points at w > 0, like
        :func:`~aiida_hydrides.core.superconductivity.spectral.spectral_moments`.
    """

    omega_ry: np.ndarray
    a2f: np.ndarray
    a2f_modes: np.ndarray
    sigma_index: int | None = None
    lambda_footer: float | None = None
    n_clipped: int = 0
    lambda_clipped: float = 0.0
    source: str | None = None
    n_negative_omega: int = 0
    lambda_unclipped: float | None = None

    @property
    def omega_K(self) -> np.ndarray:  # noqa: N802 - unit suffix
        """Frequencies in kelvin."""
        return self.omega_ry * RY_TO_K

    @property
    def lambda_clipping_change(self) -> float:
        """How much clipping the negative alpha^2F changed lambda, relative to the unclipped integral:
        ``lambda_clipped / lambda_unclipped`` (0.0 when nothing was clipped; ``inf`` when ``lambda_unclipped <= 0`` or
        is unknown while values were clipped)."""
        if self.lambda_clipped <= 0:
            return 0.0
        if self.lambda_unclipped is None or self.lambda_unclipped <= 0:
            return math.inf
        return self.lambda_clipped / self.lambda_unclipped


@dataclasses.dataclass(frozen=True)
class LambdaRow:
    """One line of QE's ``lambda`` file: the q-sum lambda and omega_log at one double-delta smearing."""

    sigma_ry: float
    lam: float
    dos_ef: float
    omega_log_K: float  # noqa: N815 - unit suffix


def _read_source(path_or_text, kind: str) -> tuple[str, str | None]:
    """Return ``(text, source)`` where ``source`` is the file name, or ``None`` when text was given."""
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and path_or_text.strip() and '\n' not in path_or_text and len(path_or_text) < 4096
    ):
        path = pathlib.Path(path_or_text)
        if not path.is_file():
            raise SpectrumError(f'{kind} file {str(path)!r} does not exist or is not a file')
        try:
            return path.read_text(errors='replace'), str(path)
        except OSError as exc:
            raise SpectrumError(f'cannot read {kind} file {str(path)!r}: {exc}') from exc
    if isinstance(path_or_text, bytes):
        return path_or_text.decode(errors='replace'), None
    if isinstance(path_or_text, str):
        return path_or_text, None
    raise TypeError(f'expected a path or the text of a {kind} file, got {type(path_or_text).__name__}')


def _where(source: str | None) -> str:
    return f' in {source!r}' if source else ''


def _to_float(token: str) -> float:
    return float(token.replace('D', 'E').replace('d', 'e'))


def read_a2f_dos(path_or_text) -> A2fSpectrum:
    """Read an ``a2F.dos<i>`` file of ``matdyn.x`` into an :class:`A2fSpectrum`.

    Header lines (``#``) and the ``lambda = ... Delta = ...`` footer are skipped; the footer's lambda is kept. Negative
    values of the total alpha^2F (tetrahedron artefacts at the lowest energies) are clipped to 0 and counted.

    :raises SpectrumError: the text is not an ``a2F.dos`` file, is empty, holds non-finite values, or its spectrum is
        zero or dominated by negative values.
    """
    text, source = _read_source(path_or_text, 'a2F.dos')
    rows: list[list[float]] = []
    lambda_footer = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        match = _FOOTER_RE.search(line)
        if match:
            try:
                lambda_footer = _to_float(match.group(1))
            except ValueError:
                lambda_footer = None
            continue
        try:
            values = [_to_float(token) for token in line.split()]
        except ValueError:
            raise SpectrumError(
                f'not an a2F.dos file{_where(source)}: line {lineno} is not a row of numbers: {line[:80]!r}'
            ) from None
        if len(values) < 2:
            raise SpectrumError(f'not an a2F.dos file{_where(source)}: line {lineno} has fewer than 2 columns')
        if rows and len(values) != len(rows[0]):
            raise SpectrumError(
                f'not an a2F.dos file{_where(source)}: line {lineno} has {len(values)} columns, expected {len(rows[0])}'
            )
        rows.append(values)

    if not rows:
        raise SpectrumError(f'empty spectrum: no data rows found{_where(source)} (is this an a2F.dos file?)')

    data = np.asarray(rows, dtype=float)
    omega, total, modes = data[:, 0], data[:, 1].copy(), data[:, 2:]
    if not np.all(np.isfinite(data)):
        raise SpectrumError(f'non-finite values (NaN or Inf) in the spectrum{_where(source)}')
    if lambda_footer is not None and not math.isfinite(lambda_footer):
        lambda_footer = None

    match = _SIGMA_INDEX_RE.search(source) if source else None
    sigma_index = int(match.group(1)) if match else None

    omega, total, modes, n_negative_omega = _drop_negative_frequencies(omega, total, modes, source)
    negative = total < 0
    validate_spectrum(omega, total, source=source)
    lambda_unclipped = _coupling_integral(omega, total)
    lambda_clipped = _coupling_integral(omega, np.where(negative, -total, 0.0))
    total[negative] = 0.0
    return A2fSpectrum(
        omega_ry=omega,
        a2f=total,
        a2f_modes=modes,
        sigma_index=sigma_index,
        lambda_footer=lambda_footer,
        n_clipped=int(negative.sum()),
        lambda_clipped=lambda_clipped,
        source=source,
        n_negative_omega=n_negative_omega,
        lambda_unclipped=lambda_unclipped,
    )


def _coupling_integral(omega: np.ndarray, values: np.ndarray) -> float:
    """``2 int values/w dw`` by the trapezoidal rule on the points at w > 0 (the rule of ``spectral_moments``)."""
    positive = omega > 0
    w = omega[positive]
    return 2.0 * float(np.trapezoid(values[positive] / w, w)) if w.size >= 2 else 0.0


#: rows of a2F.dos below this frequency (Ry; 20 cm^-1) are imaginary modes, not interpolation noise around Gamma
NEGATIVE_OMEGA_TOLERANCE_RY = 20.0 / RY_TO_CM1
#: the largest share of the alpha^2F weight that may sit at omega < 0 in a usable spectrum
NEGATIVE_OMEGA_MAX_WEIGHT = 0.01


def _drop_negative_frequencies(omega, total, modes, source):
    """Drop the rows at omega < 0 that matdyn.x writes when interpolated acoustic modes dip just below zero.

    :raises SpectrumError: the negative-frequency rows reach below -20 cm^-1 and hold more than 1 % of the weight:
        the interpolated phonons are unstable (or the grids unconverged), so no Tc should be computed.
    """
    below = omega < 0
    if not below.any():
        return omega, total, modes, 0
    weight = float(np.abs(total[below]).sum())
    share = weight / max(float(np.abs(total).sum()), 1e-300)
    if omega.min() < -NEGATIVE_OMEGA_TOLERANCE_RY and share > NEGATIVE_OMEGA_MAX_WEIGHT:
        raise SpectrumError(
            f'imaginary phonon frequencies in the spectrum{_where(source)}: down to {omega.min() * RY_TO_CM1:.0f} '
            f'cm^-1 with {100 * share:.1f} % of the alpha^2F weight; the interpolated phonons are unstable or the '
            f'q grid is too coarse'
        )
    return omega[~below], total[~below], modes[~below], int(below.sum())


def validate_spectrum(omega, a2f, source: str | None = None) -> None:
    """Check that ``(omega, a2f)`` is a usable spectrum before negative values are clipped.

    :raises SpectrumError: on mismatched or empty arrays, non-finite values, a non-increasing or negative frequency
        grid, an all-zero spectrum, or one whose negative weight is larger than its positive weight.
    """
    omega = np.asarray(omega, dtype=float)
    a2f = np.asarray(a2f, dtype=float)
    where = _where(source)
    if omega.ndim != 1 or a2f.shape != omega.shape:
        raise SpectrumError(f'omega and a2F must be 1-D arrays of the same length{where}')
    if omega.size < 2:
        raise SpectrumError(f'empty spectrum: fewer than 2 frequency points{where}')
    if not (np.all(np.isfinite(omega)) and np.all(np.isfinite(a2f))):
        raise SpectrumError(f'non-finite values (NaN or Inf) in the spectrum{where}')
    if np.any(omega < 0):
        raise SpectrumError(f'negative frequencies in the spectrum{where}: alpha^2F is defined for omega >= 0')
    if np.any(np.diff(omega) <= 0):
        raise SpectrumError(f'the frequency grid is not strictly increasing{where}')
    positive = a2f[a2f > 0].sum()
    negative = -a2f[a2f < 0].sum()
    if negative > positive:
        raise SpectrumError(
            f'the spectrum is dominated by negative values{where} (negative weight {negative:.3g} > positive '
            f'{positive:.3g}): the el-ph calculation is not converged or the phonons are unstable'
        )
    if positive <= 0:
        raise SpectrumError(f'the spectrum is zero everywhere (no electron-phonon coupling){where}')


def read_lambda_file(path_or_text) -> list[LambdaRow]:
    """Read QE's ``lambda`` file (written by ``matdyn.x`` with ``la2F``): one :class:`LambdaRow` per smearing.

    :raises SpectrumError: no ``Broadening ... lambda ...`` row is found, or a row holds non-finite numbers.
    """
    text, source = _read_source(path_or_text, 'lambda')
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _LAMBDA_ROW_RE.search(line)
        if not match:
            continue
        try:
            values = [_to_float(match.group(key)) for key in ('sigma', 'lam', 'dos', 'wlog')]
        except ValueError:
            raise SpectrumError(f'malformed row at line {lineno} of the lambda file{_where(source)}') from None
        if not all(math.isfinite(value) for value in values):
            raise SpectrumError(f'non-finite values at line {lineno} of the lambda file{_where(source)}')
        rows.append(LambdaRow(sigma_ry=values[0], lam=values[1], dos_ef=values[2], omega_log_K=values[3]))
    if not rows:
        raise SpectrumError(f'not a QE lambda file{_where(source)}: no "Broadening ... lambda ..." rows')
    return rows
