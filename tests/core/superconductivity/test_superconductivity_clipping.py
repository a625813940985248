"""Clipping of the negative alpha^2F: how much it changes lambda, on the recorded fcc Al data and on a synthetic
spectrum whose integrals are known in closed form."""

import math

import numpy as np
import pytest

from aiida_hydrides.core.superconductivity import (
    CLIPPING_TOLERANCE,
    read_a2f_dos,
    spectral_moments,
    summarize_spectrum,
)

HEADER = (
    '\n # Eliashberg function a2F (per both spin)\n #  frequencies in Rydberg\n'
    ' # DOS normalized to E in Rydberg: a2F_total, a2F(mode)\n\n'
)
#: the synthetic grid: omega_1 = 0.0005 Ry is the upper end of the negative region, omega_max = 0.004 Ry
OMEGA_1, OMEGA_MAX, N_POINTS = 0.0005, 0.004, 4001


def synthetic_a2f_text(change: float, lambda_positive: float = 1.0) -> tuple[str, float]:
    """An a2F.dos text with a2F = c*w above OMEGA_1 and -b*w below it (a negative tetrahedron-like tail).

    Closed form: the positive part gives 2c(w_max - w_1) = ``lambda_positive``, the negative part -2b*w_1, chosen so
    that clipping changes lambda by ``change`` relative to the unclipped integral. Returns the text and the unclipped
    lambda, written in the footer as QE does.
    """
    lambda_negative = change * lambda_positive / (1.0 + change)  # lambda_clipped / (lambda_pos - lambda_clipped)
    c = lambda_positive / (2.0 * (OMEGA_MAX - OMEGA_1))
    b = lambda_negative / (2.0 * OMEGA_1)
    omega = np.linspace(OMEGA_MAX / (N_POINTS - 1), OMEGA_MAX, N_POINTS - 1)
    a2f = np.where(omega > OMEGA_1 + 1e-12, c * omega, -b * omega)
    unclipped = lambda_positive - lambda_negative
    rows = '\n'.join(f'  {w:.10E}  {f:.10E}  {f:.10E}' for w, f in zip(omega, a2f))
    return f'{HEADER}{rows}\n  lambda = {unclipped:.12f}    Delta = 1.5E-005\n', unclipped


@pytest.mark.parametrize('change', [0.0, 0.01, 0.02, 0.05, 0.5])
def test_synthetic_clipping_change(change):
    text, unclipped = synthetic_a2f_text(change)
    spectrum = read_a2f_dos(text)
    lam = spectral_moments(spectrum.omega_ry, spectrum.a2f)['lambda']
    # closed-form values, to the trapezoid error of the one grid cell where a2F jumps sign
    assert spectrum.lambda_unclipped == pytest.approx(unclipped, rel=2e-3)
    assert spectrum.lambda_unclipped == pytest.approx(spectrum.lambda_footer, rel=2e-3)
    assert lam == pytest.approx(1.0, rel=2e-3)
    assert spectrum.lambda_clipping_change == pytest.approx(change, abs=1e-3)
    # the defining identity: our (clipped) lambda = unclipped + what clipping added
    assert lam == pytest.approx(spectrum.lambda_unclipped + spectrum.lambda_clipped, rel=1e-12)
    assert (spectrum.n_clipped > 0) == (change > 0)


def test_synthetic_summary_keys_and_note():
    summary = summarize_spectrum(read_a2f_dos(synthetic_a2f_text(0.05)[0]), eliashberg=False)
    assert summary['lambda_clipping_change'] == pytest.approx(0.05, abs=1e-3)
    assert summary['lambda_qe_a2f'] == pytest.approx(1 / 1.05, rel=1e-9)
    assert summary['lambda_unclipped'] == pytest.approx(summary['lambda_qe_a2f'], rel=2e-3)
    assert any('5.0% of the unclipped' in note and 'more than 2%' in note for note in summary['notes'])

    quiet = summarize_spectrum(read_a2f_dos(synthetic_a2f_text(0.01)[0]), eliashberg=False)
    assert not any('clipping' in note for note in quiet['notes'])
    # the tolerance of the note is a parameter
    loose = summarize_spectrum(read_a2f_dos(synthetic_a2f_text(0.05)[0]), eliashberg=False, clipping_tolerance=0.1)
    assert not any('clipping' in note for note in loose['notes'])


def test_clipping_tolerance_default():
    assert CLIPPING_TOLERANCE == 0.02


@pytest.mark.parametrize(
    'index, change',
    [(1, 0.648), (2, 0.152), (3, 0.060), (4, 0.030), (5, 0.016), (6, 0.0083), (10, 0.0001)],
)
def test_al_clipping_change(al_dir, index, change):
    """fcc Al: clipping raises lambda by 65 % at sigma = 0.005 Ry (0.347 against QE's 0.210) and by < 2 % from
    sigma = 0.025 Ry on."""
    spectrum = read_a2f_dos(al_dir / f'a2F.dos{index}')
    assert spectrum.lambda_clipping_change == pytest.approx(change, abs=1e-3)
    assert (spectrum.lambda_clipping_change <= CLIPPING_TOLERANCE) == (index >= 5)


def test_al_small_sigma_summary(al_dir):
    summary = summarize_spectrum(read_a2f_dos(al_dir / 'a2F.dos1'), eliashberg=False)
    assert summary['lambda'] == pytest.approx(0.3467, abs=1e-4)
    assert summary['lambda_qe_a2f'] == pytest.approx(0.2104, abs=1e-4)
    assert summary['lambda_unclipped'] == pytest.approx(summary['lambda_qe_a2f'], rel=2e-3)
    assert any('64.8% of the unclipped 0.21' in note for note in summary['notes'])
    assert all(value is None or not (isinstance(value, float) and math.isnan(value)) for value in summary.values())


@pytest.fixture(scope='module')
def al_dir(data_dir):
    return data_dir / 'qe_al_elph'


# ----------------------------------------------------------------------------------------------- the sigma choice
SIGMAS = [0.005 * i for i in range(1, 11)]
#: q-sum lambda per sigma: no plateau below 0.025 Ry, flat from there on
QSUM = [1.5, 1.3, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]


def synthetic_elph_files(changes):
    """matdyn.x's a2F.dos1..10 and lambda texts: the synthetic spectrum with the given clipping change per sigma."""
    a2f = {i + 1: synthetic_a2f_text(change)[0] for i, change in enumerate(changes)}
    rows = '\n'.join(
        f' Broadening {sigma:8.4f} lambda {lam:12.4f} dos(Ef) {2.0:7.4f} omega_ln [K] {300.0:11.4f}'
        for sigma, lam in zip(SIGMAS, QSUM)
    )
    return a2f, f'\n  Electron-phonon coupling constant, lambda \n\n{rows}\n'


def test_synthetic_sigma_choice_skips_refused_plateau_sigma():
    """0.025 Ry starts the plateau, but clipping changes its lambda by 3 %: the choice moves to 0.030 Ry (1.5 %)."""
    from aiida_hydrides.core.epc_report import build_tc_report

    changes = [0.30, 0.20, 0.10, 0.05, 0.03, 0.015, 0.01, 0.005, 0.0, 0.0]
    report, _ = build_tc_report(*synthetic_elph_files(changes), eliashberg=False)
    assert report['el_ph_sigma_ry'] == pytest.approx(0.030)
    assert report['sigma_refused_by_clipping'] == pytest.approx(SIGMAS[:5])
    assert [row['sigma_eligible'] for row in report['per_sigma']] == [False] * 5 + [True] * 5
    assert report['sigma_plateau_found'] is True and 'refused' in report['sigma_choice_reason']
    assert report['lambda_clipping_change'] == pytest.approx(0.015, abs=1e-3)
    assert report['lambda'] == pytest.approx(1.0, rel=2e-3)
    assert report['lambda_qe_a2f'] == pytest.approx(1 / 1.015, rel=1e-9)
    assert abs(report['lambda'] / report['lambda_qe_a2f'] - 1) <= report['clipping_tolerance'] == 0.02
    for row, change in zip(report['per_sigma'], changes):
        assert row['lambda_clipping_change'] == pytest.approx(change, abs=1e-3)
        assert row['lambda_qe_a2f'] == pytest.approx(1 / (1 + change), rel=1e-9)
        assert row['lambda_qsum'] is not None and row['lambda'] is not None

    # a looser tolerance makes 0.025 Ry eligible again; the rule then takes it
    loose, _ = build_tc_report(*synthetic_elph_files(changes), eliashberg=False, clipping_tolerance=0.04)
    assert loose['el_ph_sigma_ry'] == pytest.approx(0.025) and loose['sigma_refused_by_clipping'] == pytest.approx(
        SIGMAS[:4]
    )


def test_synthetic_no_eligible_sigma():
    from aiida_hydrides.core.epc_report import NoEligibleSigmaError, build_tc_report

    with pytest.raises(
        NoEligibleSigmaError, match=r'more than 2% at every smearing \(0.005 Ry: 30.0%.*0.05 Ry: 2.5%\)'
    ):
        build_tc_report(*synthetic_elph_files([0.30, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03, 0.025, 0.025]))


def test_choose_sigma_clipping_fallbacks():
    from aiida_hydrides.core.epc_report import choose_sigma

    # the plateau lies only at refused sigma: the smallest-change eligible interior sigma is taken, flagged
    changes = [0.1] * 5 + [0.0] + [0.1] * 4
    lambdas = [1.5, 1.3, 1.1, 1.0, 1.0, 0.8, 0.6, 0.6, 0.6, 0.6]
    choice = choose_sigma(SIGMAS, lambdas, clipping_changes=changes)
    assert choice.index == 5 and choice.plateau_found is False
    assert 'lies only at σ refused by the clipping test' in choice.reason
    # only the last sigma passes
    choice = choose_sigma(SIGMAS, QSUM, clipping_changes=[0.1] * 9 + [0.01])
    assert choice.index == 9 and choice.plateau_found is False and 'largest eligible' in choice.reason
    # unknown change (unclipped lambda <= 0) is refused
    choice = choose_sigma(SIGMAS[:2], QSUM[:2], clipping_changes=[0.0, None])
    assert choice.index == 0 and choice.eligible == (True, False)
    # without changes every sigma is eligible: the rule is the plain plateau rule
    assert choose_sigma(SIGMAS, QSUM).sigma_ry == pytest.approx(0.025)


@pytest.mark.parametrize(
    'parameters, match',
    [
        (
            {'clipping_tolerance': 2},
            r'`clipping_tolerance` must be a relative tolerance in \(0, 1\] \(e.g. 0.02 for 2%\)',
        ),
        ({'clipping_tolerance': 0}, 'clipping_tolerance'),
        ({'plateau_tolerance': 'big'}, 'plateau_tolerance'),
        ({'clipping_tolerence': 0.02}, r"unknown Tc parameters \['clipping_tolerence'\]"),
        ({'mustars': []}, 'mustars'),
        ({'eliashberg': 'yes'}, 'eliashberg'),
    ],
)
def test_check_tc_parameters_rejects(parameters, match):
    from aiida_hydrides.core.epc_report import check_tc_parameters
    from aiida_hydrides.core.errors import HydridesInputError

    with pytest.raises(HydridesInputError, match=match):
        check_tc_parameters(parameters)


def test_check_tc_parameters_defaults():
    from aiida_hydrides.core.epc_report import DEFAULT_TC_PARAMETERS, check_tc_parameters

    options = check_tc_parameters({'clipping_tolerance': 0.05, 'mustars': [0.1]})
    assert options == {**DEFAULT_TC_PARAMETERS, 'clipping_tolerance': 0.05, 'mustars': [0.1]}
    assert check_tc_parameters(None) == DEFAULT_TC_PARAMETERS
    assert DEFAULT_TC_PARAMETERS['clipping_tolerance'] == CLIPPING_TOLERANCE
