"""The one home of physical constants and of the pressure parser: values, accepted forms, refused forms."""

import math

import ase.units
import numpy as np
import pytest

from aiida_hydrides.core import units
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.units import InvalidPressureError, check_pressure, parse_pressure


@pytest.mark.parametrize(
    'text, expected',
    [
        ('200', 200.0),
        ('200 GPa', 200.0),
        ('200gpa', 200.0),
        ('2000kbar', 200.0),
        ('2 Mbar', 200.0),
        ('0.2 TPa', 200.0),
        (' 1e2 ', 100.0),
        (150, 150.0),
        (0, 0.0),
        (1000, 1000.0),
    ],
)
def test_parse_pressure(text, expected):
    assert parse_pressure(text) == pytest.approx(expected)
    assert isinstance(parse_pressure(text), float)


@pytest.mark.parametrize(
    'value, message',
    [
        ('-5', 'between 0 and 1000 GPa'),
        ('1e6', 'did you give kbar'),
        ('abc', 'cannot read the pressure'),
        ('200 psi', "unknown pressure unit 'psi'"),
        ('', 'cannot read the pressure'),
        (True, 'must be a number in GPa'),
        (None, 'must be a number in GPa'),
        (float('inf'), 'between 0 and 1000 GPa'),
    ],
)
def test_parse_pressure_refuses(value, message):
    with pytest.raises(InvalidPressureError, match=message):
        parse_pressure(value)


@pytest.mark.parametrize('value', ['200', '200 GPa', b'200', True, None, [200], float('nan'), -0.1, 1000.1])
def test_check_pressure_refuses(value):
    with pytest.raises(InvalidPressureError):
        check_pressure(value)


def test_check_pressure_accepts_numbers():
    assert check_pressure(200) == 200.0 and isinstance(check_pressure(200), float)
    assert check_pressure(np.float32(150.5)) == pytest.approx(150.5)
    assert check_pressure(np.int64(0)) == 0.0
    assert check_pressure(units.MAX_PRESSURE_GPA) == 1000.0


def test_check_pressure_refuses_quantities_with_units():
    class Quantity:
        units = 'GPa'

    with pytest.raises(InvalidPressureError, match='quantity with units'):
        check_pressure(Quantity())


def test_one_range_and_one_error_class():
    assert (units.MIN_PRESSURE_GPA, units.MAX_PRESSURE_GPA) == (0.0, 1000.0)
    assert issubclass(InvalidPressureError, HydridesInputError) and issubclass(InvalidPressureError, ValueError)
    assert units.pressure_error(500.0) is None
    assert 'did you give kbar' in units.pressure_error(2000.0)
    with pytest.raises(InvalidPressureError, match='pressure_gpa: the pressure must be between 0 and 1000 GPa'):
        check_pressure(-1, 'pressure_gpa')


def test_constants_agree_with_ase():
    rel = 1e-6  # ase's defaults are CODATA 2014, ours CODATA 2018
    h_ev_s = ase.units._hplanck / ase.units._e
    assert units.EV_PER_A3_IN_GPA == pytest.approx(1 / ase.units.GPa, rel=1e-9)
    assert units.RY_IN_EV == pytest.approx(ase.units.Ry, rel=rel)
    assert units.RY_TO_MEV == pytest.approx(ase.units.Ry * 1000, rel=rel)
    assert units.BOLTZMANN_EV_PER_K == pytest.approx(ase.units.kB, rel=rel)
    assert units.RY_TO_K == pytest.approx(ase.units.Ry / ase.units.kB, rel=rel)
    assert units.MEV_TO_K == pytest.approx(1e-3 / ase.units.kB, rel=rel)
    assert units.RY_TO_THZ == pytest.approx(ase.units.Ry / h_ev_s * 1e-12, rel=rel)
    assert units.THZ_TO_K == pytest.approx(h_ev_s * 1e12 / ase.units.kB, rel=rel)
    assert units.CM1_TO_K == pytest.approx(ase.units.invcm / ase.units.kB, rel=rel)
    assert units.RY_TO_CM1 == pytest.approx(ase.units.Ry / ase.units.invcm, rel=rel)


def test_conversions_are_consistent():
    assert units.RY_TO_THZ * units.THZ_TO_K == pytest.approx(units.RY_TO_K, rel=1e-12)
    assert units.RY_TO_MEV * units.MEV_TO_K == pytest.approx(units.RY_TO_K, rel=1e-12)
    assert units.RY_TO_CM1 * units.CM1_TO_K == pytest.approx(units.RY_TO_K, rel=1e-12)
    assert units.ev_per_a3_to_gpa(units.gpa_to_ev_per_a3(200.0)) == pytest.approx(200.0)
    assert units.gpa_to_kbar(200.0) == pytest.approx(2000.0)
    np.testing.assert_allclose(units.gpa_to_ev_per_a3(np.array([0.0, 160.21766208])), [0.0, 1.0])
    assert math.isclose(units.gpa_to_ev_per_a3(200.0), 200.0 * ase.units.GPa, rel_tol=1e-9)


def test_other_modules_reexport_the_same_objects():
    from aiida_hydrides.core import epc_report, superconductivity
    from aiida_hydrides.core.lam import errors as lam_errors

    for name in ('RY_TO_K', 'RY_TO_THZ', 'THZ_TO_K', 'MEV_TO_K', 'CM1_TO_K', 'RY_TO_MEV', 'RY_TO_CM1'):
        assert getattr(superconductivity, name) is getattr(units, name)
    assert epc_report.RY_TO_MEV is units.RY_TO_MEV
    assert lam_errors.InvalidPressureError is InvalidPressureError
