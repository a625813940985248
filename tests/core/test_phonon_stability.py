"""Imaginary-mode detection on ph.x dynamical matrices and standard output (recorded fcc Al, and unstable variants)."""

import math

import pytest

from aiida_hydrides.core.phonon_stability import (
    find_imaginary_modes,
    parse_dyn_file,
    parse_ph_stdout,
    stability_summary,
)


@pytest.fixture
def al_dyn_text(data_dir):
    return (data_dir / 'epc' / 'al.dyn2').read_text()


def _make_unstable(text: str, q_from: str, q_to: str, freq_cm: float) -> str:
    """Move the diagonalized q-point and make its first mode imaginary (as ph.x prints it: a negative number)."""
    head, tail = text.split('Diagonalizing the dynamical matrix')
    tail = tail.replace(q_from, q_to, 1)
    lines = tail.splitlines()
    for index, line in enumerate(lines):
        if 'freq (    1)' in line:
            lines[index] = f'     freq (    1) = {freq_cm * 0.0299792458:14.6f} [THz] = {freq_cm:14.6f} [cm-1]'
            break
    return head + 'Diagonalizing the dynamical matrix' + '\n'.join(lines)


def test_parse_recorded_dyn_file(al_dyn_text):
    qpoint = parse_dyn_file(al_dyn_text, label='al.dyn2')
    assert qpoint.q_cart == (-0.25, 0.25, -0.25)
    assert qpoint.frequencies_cm == pytest.approx((117.18, 117.18, 211.39), abs=0.01)
    assert qpoint.frequencies_thz[2] == pytest.approx(211.386744 * 0.0299792458, rel=1e-5)
    assert qpoint.alat_angstrom == pytest.approx(7.5 * 0.529177, rel=1e-5)
    assert find_imaginary_modes([qpoint]) == []


def test_parse_recorded_ph_stdout(data_dir):
    qpoints = parse_ph_stdout(data_dir / 'qe_al_elph' / 'ph.out')
    assert len(qpoints) == 8  # the 8 irreducible q of the 4x4x4 grid of fcc Al
    assert qpoints[0].q_norm == pytest.approx(0.0)
    assert all(len(q.frequencies_cm) == 3 for q in qpoints)
    summary = stability_summary(qpoints)
    assert summary['stable'] is True
    assert summary['number_of_qpoints'] == 8
    assert summary['min_frequency_cm'] > -1.0  # only the (near-zero) acoustic modes at Gamma


def test_imaginary_mode_named_with_q_and_frequency(al_dyn_text):
    text = _make_unstable(
        al_dyn_text, '-0.250000000   0.250000000  -0.250000000', ' 0.000000000  -0.250000000   0.250000000', -403.2
    )
    qpoint = parse_dyn_file(text)
    modes = find_imaginary_modes([qpoint], threshold_cm=20.0)
    assert len(modes) == 1
    mode = modes[0]
    assert mode.frequency_cm == pytest.approx(-403.2)
    assert mode.frequency_thz == pytest.approx(-403.2 * 0.0299792458, rel=1e-5)
    assert mode.q_cart == (0.0, -0.25, 0.25)
    text = mode.describe()
    assert '-403.2 cm^-1' in text and 'THz' in text and '(0.0000, -0.2500, 0.2500)' in text
    summary = stability_summary([qpoint])
    assert summary['stable'] is False
    assert summary['imaginary_modes'][0]['frequency_cm'] == pytest.approx(-403.2)


def test_threshold_and_gamma_exemption(al_dyn_text):
    slightly_soft = parse_dyn_file(_make_unstable(al_dyn_text, 'x', 'x', -15.0))
    assert find_imaginary_modes([slightly_soft], threshold_cm=20.0) == []
    assert len(find_imaginary_modes([slightly_soft], threshold_cm=10.0)) == 1
    near_gamma = parse_dyn_file(
        _make_unstable(
            al_dyn_text, '-0.250000000   0.250000000  -0.250000000', ' 0.010000000   0.010000000   0.000000000', -300.0
        )
    )
    assert near_gamma.q_norm < 0.05
    assert find_imaginary_modes([near_gamma]) == []
    assert len(find_imaginary_modes([near_gamma], gamma_radius=0.0)) == 1


def test_overflowing_frequency_is_flagged(al_dyn_text):
    text = al_dyn_text.replace('117.177649 [cm-1]', '********** [cm-1]', 1)
    qpoint = parse_dyn_file(text)
    assert math.isnan(qpoint.frequencies_cm[0])
    modes = find_imaginary_modes([qpoint])
    assert len(modes) == 1 and 'unreadable' in modes[0].describe()


def test_rejects_non_dyn_files(data_dir):
    with pytest.raises(ValueError, match='not a ph.x dynamical-matrix file'):
        parse_dyn_file(data_dir / 'qe_al_elph' / 'lambda')
    with pytest.raises(ValueError, match='no "Diagonalizing'):
        parse_dyn_file('Dynamical matrix file\nheader\n')
    with pytest.raises(ValueError):
        find_imaginary_modes([], threshold_cm=-1.0)
