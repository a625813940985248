"""Readers of matdyn.x's a2F.dos/lambda files and the Tc summary, on recorded fcc Al data.

The data were made by scripts/record_al_elph.sh.
"""

import json
import math

import numpy as np
import pytest

from aiida_hydrides.core.superconductivity import (
    RY_TO_K,
    SpectrumError,
    lambda_file_agreement,
    read_a2f_dos,
    read_lambda_file,
    spectral_moments,
    summarize_spectrum,
    tc_key,
)


@pytest.fixture(scope='module')
def al_dir(data_dir):
    return data_dir / 'qe_al_elph'


@pytest.fixture(scope='module')
def al_rows(al_dir):
    return read_lambda_file(al_dir / 'lambda')


def test_read_a2f_dos(al_dir):
    spectrum = read_a2f_dos(al_dir / 'a2F.dos5')
    assert spectrum.sigma_index == 5
    assert spectrum.omega_ry.shape == spectrum.a2f.shape == (200,)
    assert spectrum.a2f_modes.shape == (200, 3)  # 3 branches for one atom
    assert np.all(np.diff(spectrum.omega_ry) > 0)
    assert spectrum.a2f.min() == 0.0  # the negative tetrahedron tail is clipped ...
    assert spectrum.n_clipped > 0  # ... and counted
    assert 0 < spectrum.lambda_clipped < 0.05 * spectrum.lambda_footer
    assert spectrum.lambda_footer == pytest.approx(0.36323205719291779)
    # the highest phonon of Al is ~ 480 K (~10 THz)
    assert 400 < spectrum.omega_K.max() < 550
    assert spectrum.omega_K.max() == pytest.approx(spectrum.omega_ry.max() * RY_TO_K)
    assert spectrum.source.endswith('a2F.dos5')


def test_read_a2f_dos_from_text(al_dir):
    text = (al_dir / 'a2F.dos3').read_text()
    from_text = read_a2f_dos(text)
    from_file = read_a2f_dos(al_dir / 'a2F.dos3')
    assert from_text.sigma_index is None and from_text.source is None
    np.testing.assert_array_equal(from_text.a2f, from_file.a2f)
    assert read_a2f_dos(str(al_dir / 'a2F.dos3')).sigma_index == 3  # a str path is a path, not text


def test_read_lambda_file(al_rows):
    assert len(al_rows) == 10
    assert [row.sigma_ry for row in al_rows] == pytest.approx([0.005 * i for i in range(1, 11)])
    assert al_rows[4].lam == pytest.approx(0.3619)
    assert al_rows[4].dos_ef == pytest.approx(2.3298)
    assert al_rows[4].omega_log_K == pytest.approx(346.7829)


@pytest.mark.parametrize('index', range(1, 11))
def test_histogram_footer_matches_integral_without_clipping(al_dir, index):
    """QE's own footer lambda is the plain histogram integral (negative values included)."""
    spectrum = read_a2f_dos(al_dir / f'a2F.dos{index}')
    unclipped = spectral_moments(spectrum.omega_ry, spectrum.a2f)['lambda'] - spectrum.lambda_clipped
    assert unclipped == pytest.approx(spectrum.lambda_footer, rel=2e-3)
    assert spectrum.lambda_unclipped == pytest.approx(unclipped, rel=1e-12)


@pytest.mark.parametrize('index', range(4, 11))
def test_integral_agrees_with_qsum_on_the_plateau(al_dir, al_rows, index):
    """At sigma >= 0.02 Ry, lambda and omega_log from the a2F.dos histogram (ndos = 200) agree with QE's q-sum within
    5 % (3.4 % / -4.3 % at 0.02 Ry, <= 2 % / -2.6 % from 0.025 Ry on)."""
    agreement = lambda_file_agreement(read_a2f_dos(al_dir / f'a2F.dos{index}'), al_rows)
    assert agreement['sigma_ry'] >= 0.02
    assert abs(agreement['lambda_deviation']) < 0.05
    assert abs(agreement['omega_log_deviation']) < 0.05


def test_small_sigma_disagrees(al_dir, al_rows):
    """At sigma = 0.005 Ry the histogram is dominated by interpolation noise: the integral is far from the q-sum."""
    agreement = lambda_file_agreement(read_a2f_dos(al_dir / 'a2F.dos1'), al_rows)
    assert abs(agreement['lambda_deviation']) > 0.2


def test_al_is_a_weak_coupling_superconductor_near_1K(al_dir):
    summary = summarize_spectrum(read_a2f_dos(al_dir / 'a2F.dos6'))
    assert 0.33 < summary['lambda'] < 0.45  # literature ~0.4 (experiment 0.38-0.43)
    assert 300 < summary['omega_log_K'] < 380
    assert summary['omega_log_K'] <= summary['omega_2_K']
    for formula in ('mcmillan', 'allen_dynes', 'xie_ml', 'eliashberg'):
        assert 0.2 < summary[tc_key(formula, 0.10)] < 3.0  # experiment 1.18 K
        assert summary[tc_key(formula, 0.13)] < summary[tc_key(formula, 0.10)]
    assert summary['tc_mcmillan_K_mu0_10'] == pytest.approx(0.676, rel=0.02)


def test_summary_keys_and_json(al_dir):
    summary = summarize_spectrum(read_a2f_dos(al_dir / 'a2F.dos5'), mustars=(0.10, 0.13, 0.125))
    assert summary['mustars'] == [0.10, 0.13, 0.125]
    assert summary['formulas'] == ['mcmillan', 'allen_dynes', 'xie_ml', 'eliashberg']
    for key in (
        'tc_mcmillan_K_mu0_10',
        'tc_allen_dynes_K_mu0_13',
        'tc_eliashberg_K_mu0_125',
        'tc_xie_ml_K_mu0_10',
        'allen_dynes_f1_mu0_10',
        'eliashberg_omega_c_K',
        'eliashberg_n_matsubara_mu0_13',
        'sigma_index',
        'lambda_qe_a2f',
        'lambda_unclipped',
        'lambda_clipping_change',
        'n_clipped',
        'notes',
    ):
        assert key in summary, key
    assert summary['eliashberg_omega_c_K'] > 4000
    text = json.dumps(summary, allow_nan=False)  # no NaN anywhere
    assert json.loads(text)['sigma_index'] == 5
    assert summary['tc_eliashberg_K_mu0_10'] > summary['tc_allen_dynes_K_mu0_10'] > summary['tc_mcmillan_K_mu0_10']


def test_summary_without_eliashberg_and_coulomb_note(al_dir):
    summary = summarize_spectrum(read_a2f_dos(al_dir / 'a2F.dos5'), mustars=(0.35,), eliashberg=False)
    assert 'tc_eliashberg_K_mu0_35' not in summary
    assert summary['tc_mcmillan_K_mu0_35'] == 0.0 and summary['tc_allen_dynes_K_mu0_35'] == 0.0
    assert any('Coulomb' in note for note in summary['notes'])
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in summary.values())


def test_summary_rejects_bad_mustar(al_dir):
    spectrum = read_a2f_dos(al_dir / 'a2F.dos5')
    with pytest.raises(SpectrumError, match='mu'):
        summarize_spectrum(spectrum, mustars=(1.5,))
    with pytest.raises(SpectrumError, match='at least one'):
        summarize_spectrum(spectrum, mustars=())


HEADER = '\n # Eliashberg function a2F (per both spin)\n #  frequencies in Rydberg\n # DOS normalized\n\n'


@pytest.mark.parametrize(
    'text, match',
    [
        ('', 'empty spectrum'),
        (HEADER + '  lambda = 0.0 Delta = 1e-5\n', 'empty spectrum'),
        (HEADER + '0.001 0.0 0.0\n0.002 0.0 0.0\n0.003 0.0 0.0\n', 'zero everywhere'),
        (HEADER + '0.001 -0.5 0.0\n0.002 -0.5 0.0\n0.003 0.1 0.0\n', 'dominated by negative'),
        (HEADER + '0.001 0.1 0.0\n0.002 NaN 0.0\n0.003 0.1 0.0\n', 'non-finite'),
        (HEADER + '0.001 0.1 0.0\n0.002 0.2\n', 'columns'),
        (HEADER + '0.002 0.1 0.0\n0.001 0.2 0.0\n', 'not strictly increasing'),
        ('&input\n  asr = "simple"\n/\n', 'not an a2F.dos file'),
    ],
)
def test_bad_a2f_text(text, match):
    with pytest.raises(SpectrumError, match=match):
        read_a2f_dos(text)


def test_bad_files_name_the_file(al_dir, tmp_path):
    with pytest.raises(SpectrumError, match='does not exist'):
        read_a2f_dos(tmp_path / 'a2F.dos1')
    with pytest.raises(SpectrumError, match="not an a2F.dos file in '.*lambda'"):
        read_a2f_dos(al_dir / 'lambda')
    with pytest.raises(SpectrumError, match='not a QE lambda file'):
        read_lambda_file(al_dir / 'a2F.dos1')
    empty = tmp_path / 'a2F.dos2'
    empty.write_text('')
    with pytest.raises(SpectrumError, match=r'empty spectrum.*a2F\.dos2'):
        read_a2f_dos(empty)


def test_agreement_needs_a_sigma_index(al_dir, al_rows):
    spectrum = read_a2f_dos((al_dir / 'a2F.dos5').read_text())
    with pytest.raises(SpectrumError, match='sigma index'):
        lambda_file_agreement(spectrum, al_rows)
    assert lambda_file_agreement(spectrum, al_rows, sigma_index=5)['lambda_qe'] == pytest.approx(0.3619)


def _with_first_row(text: str, omega_ry: float, weight: float) -> str:
    """The a2F.dos text with one extra data row at ``omega_ry`` carrying ``weight`` in every column."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith('#'))
    columns = len(lines[first].split())
    row = f'  {omega_ry:.6E}' + f'  {weight:.6E}' * (columns - 1)
    return '\n'.join(lines[:first] + [row] + lines[first:]) + '\n'


def test_negative_frequency_rows_of_matdyn(al_dir):
    """matdyn.x writes a first row just below omega = 0 when acoustic modes dip under zero: dropped and counted;
    a deep imaginary part that carries weight is refused."""
    from aiida_hydrides.core.superconductivity import SpectrumError, read_a2f_dos

    text = (al_dir / 'a2F.dos3').read_text()
    reference = read_a2f_dos(text)
    shallow = read_a2f_dos(_with_first_row(text, -4.6e-5, 1e-6))  # -10 cm^-1, as in an H3S run
    assert shallow.n_negative_omega == 1 and reference.n_negative_omega == 0
    assert len(shallow.omega_ry) == len(reference.omega_ry) and shallow.omega_ry[0] >= 0
    with pytest.raises(SpectrumError, match='imaginary phonon frequencies'):
        read_a2f_dos(_with_first_row(text, -1e-3, 10.0))  # -110 cm^-1 with a large weight
