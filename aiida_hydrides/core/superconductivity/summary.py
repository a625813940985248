"""One flat, JSON-able summary of a spectrum: moments and Tc for every formula and mu*.

Every Tc is stored under a key that names its formula and mu*, ``tc_<formula>_K_mu<mu*>`` with ``_`` for the decimal
point (``tc_allen_dynes_K_mu0_10``; see :func:`tc_key`), so two numbers are only ever compared for the same formula and
mu*, and the dict can be stored as an AiiDA ``Dict`` as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from .eliashberg import solve_eliashberg_tc
from .errors import SpectrumError
from .formulas import FORMULAS, allen_dynes_factors, allen_dynes_tc, mcmillan_tc, tc_undefined_reason, xie_ml_tc
from .qe_files import A2fSpectrum, LambdaRow
from .spectral import spectral_moments

__all__ = (
    'CLIPPING_TOLERANCE',
    'DEFAULT_MUSTARS',
    'mustar_label',
    'tc_key',
    'parse_tc_key',
    'summarize_spectrum',
    'lambda_file_agreement',
)

_TC_KEY = re.compile(r'^tc_(?P<formula>[a-z_]+?)_K_mu(?P<mu>\d+(?:_\d+)?)$')

#: the two customary values of the Coulomb pseudopotential.
DEFAULT_MUSTARS = (0.10, 0.13)

#: the largest relative change of lambda that clipping the negative alpha^2F may cause for the result to be trusted:
#: ``A2fSpectrum.lambda_clipping_change`` = lambda_clipped / lambda_unclipped. Above it the summary carries a note and
#: the EPC work chain does not choose that smearing (its ``tc_parameters['clipping_tolerance']`` defaults to this).
CLIPPING_TOLERANCE = 0.02


def mustar_label(mustar: float) -> str:
    """The mu* part of result keys: ``'0_10'`` for 0.1, ``'0_13'`` for 0.13, ``'0_125'`` for 0.125.

    Two decimals unless more are needed, with ``_`` for the decimal point: AiiDA Dict keys (and QueryBuilder attribute
    paths) cannot contain dots, and the same keys are used everywhere (JSON, Dict outputs, queries).
    """
    mustar = float(mustar)
    label = f'{mustar:.2f}'
    if float(label) != mustar:
        label = f'{mustar:g}'
    return label.replace('.', '_')


def tc_key(formula: str, mustar: float) -> str:
    """The summary key of a Tc: ``tc_<formula>_K_mu<mu*>``, e.g. ``tc_allen_dynes_K_mu0_10`` for mu* = 0.10."""
    if formula not in FORMULAS:
        raise ValueError(f'unknown Tc formula {formula!r}; known: {", ".join(FORMULAS)}')
    return f'tc_{formula}_K_mu{mustar_label(mustar)}'


def parse_tc_key(key: str) -> tuple[str, float] | None:
    """``'tc_allen_dynes_K_mu0_10'`` -> ``('allen_dynes', 0.1)``; ``None`` for keys that are not Tc keys."""
    match = _TC_KEY.match(key)
    if not match:
        return None
    return match['formula'], float(match['mu'].replace('_', '.', 1))


def _check_mustars(mustars: Iterable[float]) -> list[float]:
    values = [float(mu) for mu in mustars]
    if not values:
        raise SpectrumError('give at least one value of mu*')
    for mu in values:
        if not 0 <= mu < 1:
            raise SpectrumError(f'mu* = {mu} is outside [0, 1); typical values are 0.10-0.13')
    labels = [mustar_label(mu) for mu in values]
    if len(set(labels)) != len(labels):
        raise SpectrumError(f'duplicate mu* values: {values}')
    return values


def summarize_spectrum(
    spectrum: A2fSpectrum,
    mustars: Sequence[float] = DEFAULT_MUSTARS,
    eliashberg: bool = True,
    omega_c_K: float | None = None,  # noqa: N803 - unit suffix
    clipping_tolerance: float = CLIPPING_TOLERANCE,
) -> dict:
    """Return the moments of ``spectrum`` and Tc for each formula and mu* as one flat JSON-able dict.

    Keys: ``lambda``, ``omega_log_K``, ``omega_2_K``, ``mustars``, ``formulas`` (the names used in the keys),
    ``tc_<formula>_K_mu<mu*>`` for ``mcmillan``, ``allen_dynes``, ``xie_ml`` and (if ``eliashberg``) ``eliashberg``,
    ``allen_dynes_f1_mu<mu*>``/``allen_dynes_f2_mu<mu*>``, the Eliashberg cutoff ``eliashberg_omega_c_K`` with the
    number of Matsubara frequencies and effective mu* at Tc, the provenance of the spectrum (``sigma_index``,
    ``lambda_qe_a2f``: QE's own lambda from the file's footer, ``lambda_unclipped``: our integral with the negative
    alpha^2F kept, ``n_clipped``, ``lambda_clipped``, ``lambda_clipping_change`` = lambda_clipped / lambda_unclipped,
    ``source``) and ``notes``: why a Tc is 0 or was rescaled, and when clipping changed lambda by more than
    ``clipping_tolerance``. mu* is written in keys as by :func:`mustar_label` (``mu0_10``).

    :raises SpectrumError: the spectrum is unusable (lambda <= 0, non-finite values, ...) or a mu* is invalid.
    """
    values = _check_mustars(mustars)
    omega_K = spectrum.omega_K  # noqa: N806
    moments = spectral_moments(omega_K, spectrum.a2f)
    lam, omega_log, omega_2 = moments['lambda'], moments['omega_log'], moments['omega_2']
    formulas = ['mcmillan', 'allen_dynes', 'xie_ml'] + (['eliashberg'] if eliashberg else [])
    notes = []
    summary = {
        'lambda': lam,
        'omega_log_K': omega_log,
        'omega_2_K': omega_2,
        'mustars': values,
        'formulas': formulas,
    }
    for mu in values:
        label = mustar_label(mu)
        reason = tc_undefined_reason(lam, mu)
        if reason:
            notes.append(f'mu* = {mu:g}: {reason}')
        summary[tc_key('mcmillan', mu)] = mcmillan_tc(lam, omega_log, mu)
        summary[tc_key('allen_dynes', mu)] = allen_dynes_tc(lam, omega_log, omega_2, mu)
        f1, f2 = allen_dynes_factors(lam, omega_log, omega_2, mu)
        summary[f'allen_dynes_f1_mu{label}'] = f1
        summary[f'allen_dynes_f2_mu{label}'] = f2
        try:
            summary[tc_key('xie_ml', mu)] = xie_ml_tc(lam, omega_log, omega_2, mu)
        except SpectrumError as exc:
            summary[tc_key('xie_ml', mu)] = 0.0
            notes.append(f'mu* = {mu:g}: {exc}')
        if eliashberg:
            result = solve_eliashberg_tc(omega_K, spectrum.a2f, mu, omega_c_K=omega_c_K)
            summary[tc_key('eliashberg', mu)] = result.tc_K
            summary['eliashberg_omega_c_K'] = result.omega_c_K
            summary[f'eliashberg_n_matsubara_mu{label}'] = result.n_matsubara
            summary[f'eliashberg_mustar_effective_mu{label}'] = result.mustar_effective
            if result.note:
                notes.append(f'Eliashberg, mu* = {mu:g}: {result.note}')
    change = spectrum.lambda_clipping_change
    if change > clipping_tolerance:
        share = (
            f'{change:.1%} of the unclipped {spectrum.lambda_unclipped:.3g}'
            if math.isfinite(change)
            else 'the unclipped lambda is <= 0'
        )
        notes.append(
            f'clipping {spectrum.n_clipped} negative alpha^2F values raised lambda by {spectrum.lambda_clipped:.3g} '
            f'({share}; more than {100 * clipping_tolerance:g}% is not trusted): the smearing is too small or the '
            f'grids are not converged'
        )
    summary.update(
        {
            'sigma_index': spectrum.sigma_index,
            'lambda_qe_a2f': spectrum.lambda_footer,
            'lambda_unclipped': spectrum.lambda_unclipped,
            'n_clipped': spectrum.n_clipped,
            'n_negative_omega': spectrum.n_negative_omega,
            'lambda_clipped': spectrum.lambda_clipped,
            'lambda_clipping_change': change if math.isfinite(change) else None,
            'source': spectrum.source,
            'notes': notes,
        }
    )
    return summary


def lambda_file_agreement(spectrum: A2fSpectrum, rows: Sequence[LambdaRow], sigma_index: int | None = None) -> dict:
    """Compare lambda and omega_log integrated from ``spectrum`` with QE's q-sum in the ``lambda`` file.

    ``sigma_index`` (1-based) defaults to the spectrum's own. Returns the QE values and the relative deviations
    (integral / q-sum - 1); a few % is expected at converged smearings, more at small sigma.
    """
    index = spectrum.sigma_index if sigma_index is None else sigma_index
    if index is None:
        raise SpectrumError('the sigma index of the spectrum is unknown (file not named a2F.dos<i>): give it')
    if not 1 <= index <= len(rows):
        raise SpectrumError(f'sigma index {index} is outside the {len(rows)} rows of the lambda file')
    row = rows[index - 1]
    moments = spectral_moments(spectrum.omega_K, spectrum.a2f)
    return {
        'sigma_index': index,
        'sigma_ry': row.sigma_ry,
        'lambda_qe': row.lam,
        'omega_log_qe_K': row.omega_log_K,
        'dos_ef_qe': row.dos_ef,
        'lambda_deviation': moments['lambda'] / row.lam - 1.0 if row.lam > 0 else None,
        'omega_log_deviation': moments['omega_log'] / row.omega_log_K - 1.0 if row.omega_log_K > 0 else None,
    }
