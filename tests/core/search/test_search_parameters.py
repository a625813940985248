"""Search parameters: the accepted names come from SearchSettings, bad values are refused with the field's name."""

import dataclasses

import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.compress import SEARCH_PRECISION
from aiida_hydrides.core.search.engine import SearchSettings
from aiida_hydrides.core.search.worker import (
    SEARCH_FIELDS,
    SEARCH_PARAMETERS,
    WORKER_PARAMETERS,
    settings_from_parameters,
)
from aiida_hydrides.core.units import InvalidPressureError


def test_fields_are_derived_from_the_dataclass():
    assert SEARCH_FIELDS == tuple(field.name for field in dataclasses.fields(SearchSettings))
    assert SEARCH_PARAMETERS == SEARCH_FIELDS + WORKER_PARAMETERS


def test_parameters_become_settings():
    settings, options = settings_from_parameters(
        {
            'pressure_gpa': 150,
            'budget': 8,
            'seed': None,
            'fmax': None,
            'learning': False,
            'window_mev': None,
            'head': 'h',
        }
    )
    assert settings.pressure_gpa == 150 and settings.budget == 8 and settings.seed is None
    assert settings.fmax == SearchSettings().fmax and settings.learning is False
    assert options == {'window_mev': 100.0, 'head': 'h', 'precision': SEARCH_PRECISION}


@pytest.mark.parametrize(
    'parameters, message',
    [
        ({'precision': 'float16'}, 'precision must be one of'),
        ({'hopeless_mev': -1}, 'hopeless_mev must be'),
        ({'hopeless_after': 1.5}, 'hopeless_after must be'),
        ({'stagnation_generations': -2}, 'stagnation_generations must be'),
    ],
)
def test_budget_options_are_checked(parameters, message):
    with pytest.raises(HydridesInputError, match=message):
        settings_from_parameters(parameters)


@pytest.mark.parametrize(
    'parameters, error, message',
    [
        ({'pressure': 200}, HydridesInputError, 'unknown parameters'),
        ({'pressure_gpa': '200 GPa'}, InvalidPressureError, 'pressure_gpa must be a number in GPa'),
        ({'pressure_gpa': 2000}, InvalidPressureError, 'between 0 and 1000 GPa'),
        ({'pressure_gpa': -1}, InvalidPressureError, 'between 0 and 1000 GPa'),
        ({'budget': 1.5}, HydridesInputError, 'budget must be a whole number'),
        ({'budget': 0}, HydridesInputError, 'budget must be a whole number >= 1'),
        ({'max_steps': 0}, HydridesInputError, 'max_steps must be a whole number >= 1'),
        ({'fmax': '0.05'}, HydridesInputError, 'fmax must be a number'),
        ({'learning': 'yes'}, HydridesInputError, 'learning must be true or false'),
        ({'use_prototypes': 1}, HydridesInputError, 'use_prototypes must be true or false'),
        ({'optimizer': 'bfgs'}, HydridesInputError, 'optimizer must be one of'),
        ({'window_mev': -1}, HydridesInputError, 'window_mev'),
    ],
)
def test_bad_parameters(parameters, error, message):
    with pytest.raises(error, match=message):
        settings_from_parameters(parameters)
