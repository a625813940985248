"""Pressure units, structure batches and settings of the LAM layer: bad input ends in clear errors."""

import numpy as np
import pytest

from aiida_hydrides.core.lam.batch import check_batch_arrays, pack_structures, unpack_structures
from aiida_hydrides.core.lam.errors import HydridesInputError, InvalidPressureError
from aiida_hydrides.core.lam.relax import RelaxSettings, min_interatomic_distance
from aiida_hydrides.core.units import EV_PER_A3_IN_GPA, check_pressure, gpa_to_ev_per_a3


def test_pressure_conversion():
    assert EV_PER_A3_IN_GPA == pytest.approx(160.2177, abs=1e-4)
    assert gpa_to_ev_per_a3(200.0) == pytest.approx(1.24830, abs=1e-5)
    assert check_pressure(200) == 200.0
    assert check_pressure(np.float32(150.5)) == pytest.approx(150.5)


@pytest.mark.parametrize(
    'value, message',
    [
        ('200', 'must be a number in GPa'),
        ('200 GPa', 'must be a number in GPa'),
        (True, 'must be a number in GPa'),
        (float('nan'), 'between 0 and 1000 GPa'),
        (None, 'must be a number in GPa'),
        (-5.0, 'between 0 and 1000 GPa'),
        (2.0e6, 'did you give kbar'),
    ],
)
def test_bad_pressures(value, message):
    with pytest.raises(InvalidPressureError, match=message):
        check_pressure(value)


def test_settings_validation():
    with pytest.raises(InvalidPressureError):
        RelaxSettings(pressure_gpa='200').validated()
    with pytest.raises(InvalidPressureError, match='between 0 and 1000 GPa'):
        RelaxSettings(pressure_gpa=2000.0).validated()
    with pytest.raises(HydridesInputError, match='unknown optimizer'):
        RelaxSettings(optimizer='bfgs').validated()
    with pytest.raises(HydridesInputError, match='fmax must be a positive number'):
        RelaxSettings(fmax=-1).validated()
    assert RelaxSettings(optimizer='FIRE').validated().optimizer == 'fire'


def test_batch_round_trip(emt_cells):
    arrays = pack_structures(emt_cells)
    assert arrays['offsets'].tolist() == [0, 4, 8, 16]
    assert arrays['positions'].shape == (16, 3) and arrays['cells'].shape == (3, 3, 3)
    back = unpack_structures(arrays)
    for original, atoms in zip(emt_cells, back):
        assert atoms.get_chemical_formula() == original.get_chemical_formula()
        np.testing.assert_allclose(atoms.positions, original.positions)
        np.testing.assert_allclose(atoms.cell, original.cell)


def test_batch_inconsistent():
    arrays = pack_structures([])
    check_batch_arrays(arrays)
    with pytest.raises(HydridesInputError, match='lacks the arrays'):
        check_batch_arrays({'numbers': np.zeros(2)})
    bad = {
        'numbers': np.ones(3, int),
        'positions': np.zeros((2, 3)),
        'cells': np.zeros((1, 3, 3)),
        'offsets': np.array([0, 3]),
    }
    with pytest.raises(HydridesInputError, match='3 atoms in offsets'):
        check_batch_arrays(bad)


def test_min_distance_periodic():
    cell = np.eye(3) * 3.0
    positions = np.array([[0.1, 0.0, 0.0], [2.8, 0.0, 0.0]])  # 0.3 A apart across the boundary
    assert min_interatomic_distance(positions, cell) == pytest.approx(0.3)
    assert min_interatomic_distance(positions[:1], cell) == pytest.approx(3.0)


def test_relax_parameters_come_from_the_settings():
    import dataclasses

    from aiida_hydrides.core.lam.relax import (
        RELAX_PARAMETER_DEFAULTS,
        RELAX_PARAMETERS,
        RELAX_WORKER_PARAMETERS,
        relax_settings_from_parameters,
    )

    fields = tuple(field.name for field in dataclasses.fields(RelaxSettings))
    assert RELAX_PARAMETERS == fields + RELAX_WORKER_PARAMETERS
    assert set(RELAX_PARAMETER_DEFAULTS) == set(RELAX_PARAMETERS)
    assert RELAX_PARAMETER_DEFAULTS['fmax'] == RelaxSettings().fmax
    settings, options = relax_settings_from_parameters(
        {'pressure_gpa': 200, 'max_steps': 20.0, 'optimizer': 'FIRE', 'batch_size': None, 'head': None, 'threads': 2}
    )
    assert settings.pressure_gpa == 200.0 and settings.max_steps == 20 and settings.optimizer == 'fire'
    assert settings.batch_size is None and options['head'] is None and options['threads'] == 2
    assert options['compress'] is RELAX_PARAMETER_DEFAULTS['compress']
    assert relax_settings_from_parameters(None)[0] == RelaxSettings().validated()


@pytest.mark.parametrize(
    'parameters, error, message',
    [
        ({'pressure': 200}, HydridesInputError, "unknown parameters \\['pressure'\\]"),
        ({'pressure_gpa': '200 GPa'}, InvalidPressureError, 'pressure_gpa must be a number in GPa'),
        ({'pressure_gpa': 2000}, InvalidPressureError, 'did you give kbar'),
        ({'fmax': '0.05'}, HydridesInputError, 'fmax must be a number'),
        ({'max_steps': 2.5}, HydridesInputError, 'max_steps must be a whole number'),
        ({'relax_cell': 'yes'}, HydridesInputError, 'relax_cell must be true or false'),
        ({'optimizer': 'bfgs'}, HydridesInputError, 'unknown optimizer'),
        ({'threads': 0}, HydridesInputError, 'threads must be a whole number >= 1'),
        ({'compress': 'no'}, HydridesInputError, 'compress must be true or false'),
    ],
)
def test_relax_parameters_refused(parameters, error, message):
    from aiida_hydrides.core.lam.relax import relax_settings_from_parameters

    with pytest.raises(error, match=message):
        relax_settings_from_parameters(parameters)
