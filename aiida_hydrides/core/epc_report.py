"""Tc report from the matdyn.x el-ph outputs: λ(σ) table, the σ plateau rule, and Tc at the chosen σ.

Inputs are the texts of matdyn.x's ``a2F.dos1..N`` (α²F per double-delta smearing σ_i = i·``el_ph_sigma``) and its
``lambda`` file (λ, N(E_F) and ω_log as a direct sum over the interpolated q grid, per σ).

**The σ plateau rule.** λ(σ) is noisy at small σ (the dense k grid cannot resolve the double delta) and biased at
large σ (over-smoothing). With λ_i the q-sum λ at σ_i, a σ_i (not the first nor the last) is *on the plateau* when λ
changes by at most ``plateau_tolerance`` (default 5 %) relative to λ_i towards both neighbours σ_{i−1} and σ_{i+1}.
The chosen σ is the smallest σ on the plateau at which the α²F-histogram λ also agrees with the q-sum λ within
``agreement_tolerance`` (default 5 %). Fallbacks, recorded in ``sigma_choice_reason``: the smallest plateau σ when no
plateau σ meets the agreement test; the σ with the smallest change to its neighbours when there is no plateau at all
(``sigma_plateau_found = False``: the dense k grid is too coarse).

Tc, λ, ω_log and ω̄2 at the chosen σ all come from the α²F histogram, so that they are mutually consistent.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence

from aiida_hydrides.core import superconductivity as sc
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.units import RY_TO_MEV

__all__ = (
    'NoStatesAtFermiLevelError',
    'SigmaChoice',
    'choose_sigma',
    'build_tc_report',
    'RY_TO_MEV',  # re-exported from core.units for aiida_hydrides.calculations.functions.tc
    'storable_key',
)

DEFAULT_MUSTARS = (0.10, 0.13)
#: a q-sum N(E_F) below this (states/spin/Ry/cell) counts as zero.
DOS_EF_ZERO = 1.0e-6
#: a λ below this counts as zero coupling.
LAMBDA_ZERO = 1.0e-6


class NoStatesAtFermiLevelError(HydridesInputError):
    """N(E_F) = 0 or λ = 0 at every σ: an insulator (or a broken el-ph run); Tc is undefined, not zero."""


@dataclasses.dataclass(frozen=True)
class SigmaChoice:
    """The σ chosen by the plateau rule (0-based ``index`` into the σ list) and why."""

    index: int
    sigma_ry: float
    plateau_found: bool
    agreement_ok: bool | None
    reason: str


def _relative_changes(values: Sequence[float], index: int) -> float:
    """Largest relative change of ``values[index]`` towards its two neighbours."""
    centre = values[index]
    return max(abs(values[index - 1] - centre), abs(values[index + 1] - centre)) / abs(centre)


def choose_sigma(
    sigmas: Sequence[float],
    lambdas: Sequence[float],
    lambdas_a2f: Sequence[float] | None = None,
    plateau_tolerance: float = 0.05,
    agreement_tolerance: float = 0.05,
) -> SigmaChoice:
    """Apply the σ plateau rule of this module to the q-sum ``lambdas`` (and the α²F ``lambdas_a2f``) per σ."""
    if len(sigmas) != len(lambdas) or not sigmas:
        raise HydridesInputError(f'need one λ per σ, got {len(sigmas)} σ and {len(lambdas)} λ')
    if lambdas_a2f is not None and len(lambdas_a2f) != len(lambdas):
        raise HydridesInputError(f'need one α²F λ per σ, got {len(lambdas_a2f)} for {len(lambdas)} σ')
    if len(sigmas) < 3:
        index = len(sigmas) - 1
        return SigmaChoice(
            index,
            sigmas[index],
            False,
            None,
            f'only {len(sigmas)} smearing(s): no plateau can be assessed, took the largest σ',
        )

    def agrees(i):
        if lambdas_a2f is None:
            return None
        return abs(lambdas_a2f[i] - lambdas[i]) <= agreement_tolerance * abs(lambdas[i])

    interior = range(1, len(sigmas) - 1)
    changes = {i: _relative_changes(lambdas, i) for i in interior}
    plateau = [i for i in interior if changes[i] <= plateau_tolerance]
    for i in plateau:
        if agrees(i) in (True, None):
            return SigmaChoice(
                i,
                sigmas[i],
                True,
                agrees(i),
                f'smallest σ whose λ changes by ≤ {plateau_tolerance:.0%} towards both neighbouring σ '
                f'(here {changes[i]:.1%})'
                + (
                    ''
                    if lambdas_a2f is None
                    else f' and whose α²F λ agrees with the q-sum λ within {agreement_tolerance:.0%}'
                ),
            )
    if plateau:
        i = plateau[0]
        return SigmaChoice(
            i,
            sigmas[i],
            True,
            False,
            f'smallest σ on the λ plateau (≤ {plateau_tolerance:.0%}); no plateau σ has α²F and q-sum '
            f'λ within {agreement_tolerance:.0%}: use a larger ndos in matdyn.x',
        )
    i = min(interior, key=lambda j: changes[j])
    return SigmaChoice(
        i,
        sigmas[i],
        False,
        agrees(i),
        f'no λ plateau within {plateau_tolerance:.0%} (dense k grid too coarse); took the σ with the '
        f'smallest change of λ towards its neighbours ({changes[i]:.1%})',
    )


def _finite(value):
    """``value`` as a float, or None for NaN/inf/None (JSON and AiiDA Dicts cannot hold NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def storable_key(key: str) -> str:
    """``tc_allen_dynes_K_mu0.10`` -> ``tc_allen_dynes_K_mu0_10``: AiiDA Dict keys (and QueryBuilder paths) forbid dots."""
    return key.replace('.', '_')


def _storable_keys(value):
    if isinstance(value, dict):
        return {storable_key(str(key)): _storable_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable_keys(item) for item in value]
    return value


def _tc_entries(summary: Mapping, mustars: Sequence[float], eliashberg: bool) -> dict:
    """Pick the Tc values of ``summarize_spectrum`` for every formula and μ* (None where undefined)."""
    result = {}
    formulas = ['mcmillan', 'allen_dynes', 'xie_ml'] + (['eliashberg'] if eliashberg else [])
    for mustar in mustars:
        for formula in formulas:
            key = sc.tc_key(formula, mustar)
            result[key] = _finite(summary.get(key))
    return result


_LAMBDA_ROW = re.compile(r'Broadening\s+(\S+)\s+lambda\s+(\S+)\s+dos\(Ef\)\s+(\S+)\s+omega_ln\s*\[K\]\s+(\S+)')


def _read_lambda_rows(text: str) -> list:
    """matdyn.x's ``lambda`` rows; rows with NaN (what matdyn.x writes when N(E_F) = 0) are kept as NaN."""
    try:
        return sc.read_lambda_file(text)
    except ValueError:
        rows = []
        for match in _LAMBDA_ROW.finditer(text):
            values = []
            for token in match.groups():
                try:
                    values.append(float(token.replace('D', 'E')))
                except ValueError:
                    values.append(math.nan)
            rows.append(sc.LambdaRow(sigma_ry=values[0], lam=values[1], dos_ef=values[2], omega_log_K=values[3]))
        if not rows or any(math.isnan(row.sigma_ry) for row in rows):
            raise
        return rows


def build_tc_report(
    a2f_texts: Mapping[int, str],
    lambda_text: str,
    mustars: Sequence[float] = DEFAULT_MUSTARS,
    eliashberg: bool = True,
    plateau_tolerance: float = 0.05,
    agreement_tolerance: float = 0.05,
) -> tuple[dict, dict]:
    """Analyse matdyn.x's ``a2F.dos<i>`` texts (keyed by i ≥ 1) and ``lambda`` text.

    :return: ``(report, spectrum)``. ``report`` is a flat, JSON-serialisable dict with the Tc values at the chosen σ at
        top level (``lambda``, ``omega_log_K``, ``omega_2_K``, ``tc_<formula>_K_mu<μ*>`` with the dot of μ* written
        as ``_`` so that the dict can be stored in AiiDA, e.g. ``tc_allen_dynes_K_mu0_10``, ``el_ph_sigma_ry``,
        ``formula``, ...) and the per-σ table under ``per_sigma``. ``spectrum`` holds ``omega_ry`` and ``a2f`` (α²F
        total, negative tetrahedron noise clipped to 0) at the chosen σ.
    :raises NoStatesAtFermiLevelError: when N(E_F) = 0 or λ = 0 at every σ.
    :raises HydridesInputError: when files are missing or inconsistent.
    """
    rows = _read_lambda_rows(lambda_text)
    if not rows:
        raise HydridesInputError('the matdyn.x `lambda` file holds no "Broadening" line')
    missing = [i for i in range(1, len(rows) + 1) if i not in a2f_texts]
    if missing:
        raise HydridesInputError(f'a2F.dos files missing for σ index {missing} (the `lambda` file lists {len(rows)} σ)')

    coupled = [
        i
        for i, row in enumerate(rows)
        if _finite(row.dos_ef) and row.dos_ef > DOS_EF_ZERO and _finite(row.lam) and row.lam > LAMBDA_ZERO
    ]
    if not coupled:
        raise NoStatesAtFermiLevelError(
            'no electronic states at the Fermi level: N(E_F) = 0 or lambda = 0 at every smearing in the matdyn.x '
            '`lambda` file (an insulator or semiconductor); Tc is undefined'
        )

    spectra = {}
    per_sigma = []
    for i, row in enumerate(rows):
        spectrum = sc.read_a2f_dos(a2f_texts[i + 1])
        spectra[i] = spectrum
        entry = {
            'index': i + 1,
            'sigma_ry': float(row.sigma_ry),
            'lambda_qsum': _finite(row.lam),
            'dos_ef': _finite(row.dos_ef),
            'omega_log_K_qsum': _finite(row.omega_log_K),
        }
        if i in coupled:
            try:
                summary = sc.summarize_spectrum(spectrum, mustars=tuple(mustars), eliashberg=False)
            except (ValueError, ZeroDivisionError):
                summary = {}
        else:
            summary = {}
        entry['lambda'] = _finite(summary.get('lambda'))
        entry['omega_log_K'] = _finite(summary.get('omega_log_K'))
        entry['omega_2_K'] = _finite(summary.get('omega_2_K'))
        entry.update(_tc_entries(summary, mustars, eliashberg=False))
        per_sigma.append(entry)

    usable = [i for i in coupled if per_sigma[i]['lambda'] and per_sigma[i]['lambda'] > LAMBDA_ZERO]
    if not usable:
        raise NoStatesAtFermiLevelError(
            'the α²F spectra integrate to lambda = 0 at every smearing with N(E_F) > 0: no electron-phonon coupling at '
            'the Fermi level; Tc is undefined'
        )

    choice = choose_sigma(
        [per_sigma[i]['sigma_ry'] for i in usable],
        [per_sigma[i]['lambda_qsum'] for i in usable],
        [per_sigma[i]['lambda'] for i in usable],
        plateau_tolerance,
        agreement_tolerance,
    )
    chosen = usable[choice.index]
    spectrum = spectra[chosen]
    summary = sc.summarize_spectrum(spectrum, mustars=tuple(mustars), eliashberg=eliashberg)
    row = per_sigma[chosen]
    lam = _finite(summary.get('lambda'))
    agreement = abs(lam - row['lambda_qsum']) / row['lambda_qsum'] if lam is not None else None

    report = {
        'lambda': lam,
        'omega_log_K': _finite(summary.get('omega_log_K')),
        'omega_2_K': _finite(summary.get('omega_2_K')),
        'dos_ef': row['dos_ef'],
        'lambda_qsum': row['lambda_qsum'],
        'omega_log_K_qsum': row['omega_log_K_qsum'],
        'lambda_a2f_vs_qsum_relative_difference': _finite(agreement),
        'el_ph_sigma_ry': row['sigma_ry'],
        'el_ph_sigma_index': row['index'],
        'sigma_plateau_found': choice.plateau_found,
        'sigma_agreement_ok': choice.agreement_ok,
        'sigma_choice_reason': choice.reason,
        'sigma_rule': (
            f'smallest sigma with |dlambda| <= {plateau_tolerance:g} lambda towards both neighbours and '
            f'|lambda_a2F - lambda_qsum| <= {agreement_tolerance:g} lambda_qsum'
        ),
        'mustars': [float(m) for m in mustars],
        'formula': 'allen_dynes',
        'formulas': {
            'mcmillan': 'McMillan as modified by Dynes: omega_log/1.2 exp[-1.04(1+l)/(l-mu*(1+0.62l))] (no f1 f2)',
            'allen_dynes': 'Allen-Dynes 1975 with f1 f2 strong-coupling and shape corrections',
            'xie_ml': 'Xie et al. npj Comput. Mater. 8, 14 (2022) machine-learned correction of McMillan',
            **({'eliashberg': 'isotropic linearized Migdal-Eliashberg on the imaginary axis'} if eliashberg else {}),
        },
        'notes': list(summary.get('notes', [])),
    }
    for mustar in mustars:
        label = sc.mustar_label(mustar)
        for factor in ('f1', 'f2'):
            report[f'allen_dynes_{factor}_mu{label}'] = _finite(summary.get(f'allen_dynes_{factor}_mu{label}'))
    report.update(_tc_entries(summary, mustars, eliashberg))
    if eliashberg:
        report['eliashberg_omega_c_K'] = _finite(summary.get('eliashberg_omega_c_K'))
    report['per_sigma'] = per_sigma
    report = _storable_keys(report)
    omega = [float(x) for x in spectrum.omega_ry]
    a2f = [max(0.0, float(y)) for y in spectrum.a2f]
    return report, {'omega_ry': omega, 'a2f': a2f}
