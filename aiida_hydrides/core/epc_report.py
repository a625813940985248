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

**The clipping test.** The histogram λ is integrated from α²F with its negative values (tetrahedron and interpolation
noise) clipped to 0. A σ is *eligible* only when clipping changes λ by at most ``clipping_tolerance`` (default 2 %,
:data:`~aiida_hydrides.core.superconductivity.CLIPPING_TOLERANCE`): ``lambda_clipped / lambda_unclipped ≤
clipping_tolerance``, where ``lambda_unclipped`` = 2∫α²F/ω dω with the negative values kept (QE's own histogram
integral, equal to the ``lambda =`` footer of ``a2F.dos<i>``) and ``lambda_clipped`` = 2∫|α²F₋|/ω dω, the part that
clipping adds. Refused σ still count as neighbours for the plateau test, but are never chosen. When no σ is eligible,
:class:`NoEligibleSigmaError` is raised: no λ or Tc is reported.

Tc, λ, ω_log and ω̄2 at the chosen σ all come from the α²F histogram, so that they are mutually consistent. Beside our
λ every σ records QE's own values: ``lambda_qe_a2f`` (the ``a2F.dos<i>`` footer) and ``lambda_qsum`` (the q-sum of the
``lambda`` file).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence

from aiida_hydrides.core import superconductivity as sc
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.units import RY_TO_MEV

__all__ = (
    'DEFAULT_TC_PARAMETERS',
    'NoEligibleSigmaError',
    'NoStatesAtFermiLevelError',
    'SigmaChoice',
    'choose_sigma',
    'build_tc_report',
    'check_tc_parameters',
    'RY_TO_MEV',  # re-exported from core.units for aiida_hydrides.calculations.functions.tc
    'storable_key',
)

DEFAULT_MUSTARS = sc.DEFAULT_MUSTARS
#: defaults of the σ rule: λ plateau, α²F-vs-q-sum agreement and clipping tolerances (relative).
PLATEAU_TOLERANCE = 0.05
AGREEMENT_TOLERANCE = 0.05
CLIPPING_TOLERANCE = sc.CLIPPING_TOLERANCE
#: the options of the Tc analysis (``tc_parameters`` of the EPC work chain, ``parameters`` of ``compute_tc``).
DEFAULT_TC_PARAMETERS = {
    'mustars': list(DEFAULT_MUSTARS),
    'eliashberg': True,
    'plateau_tolerance': PLATEAU_TOLERANCE,
    'agreement_tolerance': AGREEMENT_TOLERANCE,
    'clipping_tolerance': CLIPPING_TOLERANCE,
}
#: a q-sum N(E_F) below this (states/spin/Ry/cell) counts as zero.
DOS_EF_ZERO = 1.0e-6
#: a λ below this counts as zero coupling.
LAMBDA_ZERO = 1.0e-6


class NoStatesAtFermiLevelError(HydridesInputError):
    """N(E_F) = 0 or λ = 0 at every σ: an insulator (or a broken el-ph run); Tc is undefined, not zero."""


class NoEligibleSigmaError(HydridesInputError):
    """Clipping the negative α²F changes λ by more than the tolerance at every σ: no λ can be trusted."""


def check_tc_parameters(parameters: Mapping | None = None) -> dict:
    """Return :data:`DEFAULT_TC_PARAMETERS` updated with ``parameters``, after checking every key and value.

    :raises HydridesInputError: an unknown key, ``mustars`` that is not a non-empty list of numbers, ``eliashberg``
        that is not a bool, or a tolerance that is not a fraction in (0, 1] (0.02 means 2 %).
    """
    options = copy.deepcopy(DEFAULT_TC_PARAMETERS)
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - set(options))
    if unknown:
        raise HydridesInputError(f'unknown Tc parameters {unknown}; known: {sorted(options)}')
    options.update(parameters)
    mustars = options['mustars']
    if (
        not isinstance(mustars, (list, tuple))
        or not mustars
        or not all(isinstance(mu, (int, float)) and not isinstance(mu, bool) for mu in mustars)
    ):
        raise HydridesInputError(f'`mustars` must be a non-empty list of numbers (e.g. [0.10, 0.13]), got {mustars!r}')
    options['mustars'] = [float(mu) for mu in mustars]
    if not isinstance(options['eliashberg'], bool):
        raise HydridesInputError(f'`eliashberg` must be true or false, got {options["eliashberg"]!r}')
    for key in ('plateau_tolerance', 'agreement_tolerance', 'clipping_tolerance'):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise HydridesInputError(
                f'`{key}` must be a relative tolerance in (0, 1] (e.g. {DEFAULT_TC_PARAMETERS[key]} for '
                f'{DEFAULT_TC_PARAMETERS[key]:.0%}), got {value!r}'
            )
        options[key] = float(value)
    return options


@dataclasses.dataclass(frozen=True)
class SigmaChoice:
    """The σ chosen by the plateau rule (0-based ``index`` into the σ list) and why.

    ``eligible`` holds, per σ of the list, whether it passed the clipping test.
    """

    index: int
    sigma_ry: float
    plateau_found: bool
    agreement_ok: bool | None
    reason: str
    eligible: tuple[bool, ...] = ()


def _relative_changes(values: Sequence[float], index: int) -> float:
    """Largest relative change of ``values[index]`` towards its two neighbours."""
    centre = values[index]
    return max(abs(values[index - 1] - centre), abs(values[index + 1] - centre)) / abs(centre)


def _is_eligible(change: float | None, tolerance: float) -> bool:
    """Whether a σ whose clipping changes λ by ``change`` (``None``: unknown or λ_unclipped ≤ 0) passes the test."""
    return change is not None and math.isfinite(change) and change <= tolerance


def _describe_change(change: float | None) -> str:
    return f'{change:.1%}' if change is not None and math.isfinite(change) else 'unclipped λ ≤ 0'


def choose_sigma(
    sigmas: Sequence[float],
    lambdas: Sequence[float],
    lambdas_a2f: Sequence[float] | None = None,
    plateau_tolerance: float = PLATEAU_TOLERANCE,
    agreement_tolerance: float = AGREEMENT_TOLERANCE,
    clipping_changes: Sequence[float | None] | None = None,
    clipping_tolerance: float = CLIPPING_TOLERANCE,
) -> SigmaChoice:
    """Apply the σ plateau rule of this module to the q-sum ``lambdas`` (and the α²F ``lambdas_a2f``) per σ.

    ``clipping_changes`` (per σ, ``lambda_clipped / lambda_unclipped``; ``None`` or ``inf`` when the unclipped λ is
    ≤ 0) enables the clipping test: a σ whose change exceeds ``clipping_tolerance`` is never chosen.

    :raises NoEligibleSigmaError: no σ passes the clipping test.
    """
    if len(sigmas) != len(lambdas) or not sigmas:
        raise HydridesInputError(f'need one λ per σ, got {len(sigmas)} σ and {len(lambdas)} λ')
    if lambdas_a2f is not None and len(lambdas_a2f) != len(lambdas):
        raise HydridesInputError(f'need one α²F λ per σ, got {len(lambdas_a2f)} for {len(lambdas)} σ')
    if clipping_changes is not None and len(clipping_changes) != len(lambdas):
        raise HydridesInputError(f'need one clipping change per σ, got {len(clipping_changes)} for {len(lambdas)} σ')
    if clipping_changes is None:
        eligible = tuple(True for _ in sigmas)
    else:
        eligible = tuple(_is_eligible(change, clipping_tolerance) for change in clipping_changes)
        if not any(eligible):
            changes_text = ', '.join(
                f'{sigma:g} Ry: {_describe_change(change)}' for sigma, change in zip(sigmas, clipping_changes)
            )
            raise NoEligibleSigmaError(
                f'clipping the negative alpha^2F changes lambda by more than {100 * clipping_tolerance:g}% at every '
                f'smearing ({changes_text}), so no lambda or Tc can be trusted: use a larger el_ph_sigma or denser '
                f'dense-k and matdyn.x grids'
            )
    refused = [sigma for sigma, ok in zip(sigmas, eligible) if not ok]
    refused_text = (
        f'; σ = {", ".join(f"{sigma:g}" for sigma in refused)} Ry refused: clipping changes their λ by more than '
        f'{100 * clipping_tolerance:g}%'
        if refused
        else ''
    )

    def choice(i, plateau_found, agreement_ok, reason):
        return SigmaChoice(i, sigmas[i], plateau_found, agreement_ok, reason + refused_text, eligible)

    if len(sigmas) < 3:
        index = max(i for i in range(len(sigmas)) if eligible[i])
        return choice(
            index, False, None, f'only {len(sigmas)} smearing(s): no plateau can be assessed, took the largest σ'
        )

    def agrees(i):
        if lambdas_a2f is None:
            return None
        return abs(lambdas_a2f[i] - lambdas[i]) <= agreement_tolerance * abs(lambdas[i])

    interior = range(1, len(sigmas) - 1)
    changes = {i: _relative_changes(lambdas, i) for i in interior}
    flat = [i for i in interior if changes[i] <= plateau_tolerance]
    plateau = [i for i in flat if eligible[i]]
    for i in plateau:
        if agrees(i) in (True, None):
            return choice(
                i,
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
        return choice(
            plateau[0],
            True,
            False,
            f'smallest σ on the λ plateau (≤ {plateau_tolerance:.0%}); no plateau σ has α²F and q-sum '
            f'λ within {agreement_tolerance:.0%}: use a larger ndos in matdyn.x',
        )
    candidates = [i for i in interior if eligible[i]]
    if candidates:
        i = min(candidates, key=lambda j: changes[j])
        why = (
            f'the λ plateau (≤ {plateau_tolerance:.0%}) lies only at σ refused by the clipping test'
            if flat
            else f'no λ plateau within {plateau_tolerance:.0%} (dense k grid too coarse)'
        )
        return choice(
            i,
            False,
            agrees(i),
            f'{why}; took the σ with the smallest change of λ towards its neighbours ({changes[i]:.1%})',
        )
    i = max(i for i in range(len(sigmas)) if eligible[i])
    return choice(
        i,
        False,
        agrees(i),
        'no σ inside the list passes the clipping test; took the largest eligible σ (no plateau can be assessed)',
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
    plateau_tolerance: float = PLATEAU_TOLERANCE,
    agreement_tolerance: float = AGREEMENT_TOLERANCE,
    clipping_tolerance: float = CLIPPING_TOLERANCE,
) -> tuple[dict, dict]:
    """Analyse matdyn.x's ``a2F.dos<i>`` texts (keyed by i ≥ 1) and ``lambda`` text.

    :return: ``(report, spectrum)``. ``report`` is a flat, JSON-serialisable dict with the Tc values at the chosen σ at
        top level (``lambda``, ``omega_log_K``, ``omega_2_K``, ``tc_<formula>_K_mu<μ*>`` with the dot of μ* written
        as ``_`` so that the dict can be stored in AiiDA, e.g. ``tc_allen_dynes_K_mu0_10``, ``el_ph_sigma_ry``,
        ``formula``, ...) and the per-σ table under ``per_sigma``. Our ``lambda`` stands beside QE's own values,
        ``lambda_qe_a2f`` (footer of ``a2F.dos<i>``) and ``lambda_qsum`` (``lambda`` file), with ``lambda_unclipped``
        and ``lambda_clipping_change`` (the clipping test) and, per σ, ``sigma_eligible``. ``spectrum`` holds
        ``omega_ry`` and ``a2f`` (α²F total, negative tetrahedron noise clipped to 0) at the chosen σ.
    :raises NoStatesAtFermiLevelError: when N(E_F) = 0 or λ = 0 at every σ.
    :raises NoEligibleSigmaError: when clipping changes λ by more than ``clipping_tolerance`` at every usable σ.
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
            'lambda_qe_a2f': _finite(spectrum.lambda_footer),
            'lambda_unclipped': _finite(spectrum.lambda_unclipped),
            'lambda_clipping_change': _finite(spectrum.lambda_clipping_change),
            'sigma_eligible': False,
            'dos_ef': _finite(row.dos_ef),
            'omega_log_K_qsum': _finite(row.omega_log_K),
        }
        if i in coupled:
            try:
                summary = sc.summarize_spectrum(
                    spectrum, mustars=tuple(mustars), eliashberg=False, clipping_tolerance=clipping_tolerance
                )
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
        [per_sigma[i]['lambda_clipping_change'] for i in usable],
        clipping_tolerance,
    )
    for i, eligible in zip(usable, choice.eligible):
        per_sigma[i]['sigma_eligible'] = eligible
    chosen = usable[choice.index]
    spectrum = spectra[chosen]
    summary = sc.summarize_spectrum(
        spectrum, mustars=tuple(mustars), eliashberg=eliashberg, clipping_tolerance=clipping_tolerance
    )
    row = per_sigma[chosen]
    lam = _finite(summary.get('lambda'))
    agreement = abs(lam - row['lambda_qsum']) / row['lambda_qsum'] if lam is not None else None

    report = {
        'lambda': lam,
        'omega_log_K': _finite(summary.get('omega_log_K')),
        'omega_2_K': _finite(summary.get('omega_2_K')),
        'dos_ef': row['dos_ef'],
        'lambda_qsum': row['lambda_qsum'],
        'lambda_qe_a2f': row['lambda_qe_a2f'],
        'lambda_unclipped': row['lambda_unclipped'],
        'lambda_clipping_change': row['lambda_clipping_change'],
        'omega_log_K_qsum': row['omega_log_K_qsum'],
        'lambda_a2f_vs_qsum_relative_difference': _finite(agreement),
        'el_ph_sigma_ry': row['sigma_ry'],
        'el_ph_sigma_index': row['index'],
        'sigma_plateau_found': choice.plateau_found,
        'sigma_agreement_ok': choice.agreement_ok,
        'sigma_choice_reason': choice.reason,
        'sigma_refused_by_clipping': [per_sigma[i]['sigma_ry'] for i, ok in zip(usable, choice.eligible) if not ok],
        'clipping_tolerance': float(clipping_tolerance),
        'sigma_rule': (
            f'smallest sigma with |dlambda| <= {plateau_tolerance:g} lambda towards both neighbours and '
            f'|lambda_a2F - lambda_qsum| <= {agreement_tolerance:g} lambda_qsum, among the sigma where '
            f'lambda_clipped / lambda_unclipped <= {clipping_tolerance:g}'
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
