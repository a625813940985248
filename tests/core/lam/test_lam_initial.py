"""The first frames of a system without a model (``core/lam/initial.py``): prototypes before random structures,
rattled copies within looser distance limits, every composition and pressure served in turn, reproducible for a
seed, refusals naming the setting."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.initial import INITIAL_ORIGINS, InitialFrameSettings, frame_limits, initial_frames
from aiida_hydrides.core.search.distances import DistanceLimits, satisfies_limits
from aiida_hydrides.core.search.volumes import estimate_volume


def test_prototypes_random_and_rattles():
    settings = InitialFrameSettings(random=1, rattles=2, max_atoms=8, max_frames=40)
    frames = initial_frames(['Li', 'LiH', 'LiH6', 'LiMgH12'], [150.0, 250.0], settings, seed=3)
    assert len(frames) <= 40
    origins = {atoms.info['origin'] for atoms in frames}
    assert origins <= set(INITIAL_ORIGINS) and {'prototype', 'random'} <= origins
    # the sodalite LiH6 and the rocksalt LiH are among the prototypes, at both pressures
    prototypes = {
        (a.info['formula'], a.info['prototype'], a.info['pressure_gpa']) for a in frames if a.info['rattle'] == 0
    }
    assert ('LiH6', 'CaH6-primitive', 150.0) in prototypes and ('LiH6', 'CaH6-primitive', 250.0) in prototypes
    assert ('Li', 'fcc', 150.0) in prototypes  # a metal on its own: its fcc cell
    for atoms in frames:
        assert len(atoms) <= 8 and atoms.info['rattle'] in (0, 1, 2)
        assert satisfies_limits(atoms, frame_limits(atoms.info['formula'], atoms.info['pressure_gpa']))
    # Li at the volume model is closer than the default 1.9 Å: its limit is fitted (0.9 of bcc's nearest neighbours)
    assert frame_limits('Li', 150.0).limit('Li', 'Li') == pytest.approx(0.9 * 0.9 * 1.842, abs=0.01)
    assert frame_limits('CaH6', 200.0).limit('Ca', 'Ca') == pytest.approx(0.9 * DistanceLimits().mm)
    # a structure comes first, its rattled copies after it: same atoms, moved, the volume near the model's
    pristine = next(a for a in frames if a.info['formula'] == 'LiH6' and a.info['rattle'] == 0)
    copies = [
        a
        for a in frames
        if a.info['rattle'] > 0
        and (a.info['formula'], a.info['pressure_gpa'], a.info['structure_index'])
        == (pristine.info['formula'], pristine.info['pressure_gpa'], pristine.info['structure_index'])
    ]
    assert copies and all(a.get_chemical_formula() == pristine.get_chemical_formula() for a in copies)
    assert all(not np.allclose(a.positions, pristine.positions) for a in copies)
    model = estimate_volume({'Li': 1, 'H': 6}, pristine.info['pressure_gpa'])
    assert pristine.get_volume() == pytest.approx(model, rel=1e-6)
    assert all(abs(a.get_volume() / model - 1) < 0.15 for a in copies)


def test_reproducible_and_capped():
    settings = InitialFrameSettings(random=2, rattles=1, max_atoms=6, max_frames=7)
    first = initial_frames(['MgH2', 'LiH'], [200.0], settings, seed=1)
    again = initial_frames(['MgH2', 'LiH'], [200.0], settings, seed=1)
    other = initial_frames(['MgH2', 'LiH'], [200.0], settings, seed=2)
    assert len(first) == 7
    assert [a.info for a in first] == [a.info for a in again]
    assert all(np.allclose(a.positions, b.positions) and np.allclose(a.cell, b.cell) for a, b in zip(first, again))
    assert any(not np.allclose(a.positions, b.positions) for a, b in zip(first, other) if len(a) == len(b))
    # the rocksalt LiH first (a known prototype), then a random cell of each before either gets a second one
    assert [(a.info['formula'], a.info['origin'], a.info['rattle']) for a in first[:2]] == [
        ('LiH', 'prototype', 0),
        ('LiH', 'prototype', 1),
    ]
    randoms = [(a.info['formula'], a.info['structure_index']) for a in first if a.info['origin'] == 'random']
    assert {formula for formula, _ in randoms[:4]} == {'MgH2', 'LiH'}


def test_elements_first():
    """The elements (the references of the formation enthalpies) take their turn before the other compositions."""
    settings = InitialFrameSettings(random=1, rattles=0, prototypes=False, max_atoms=4, max_frames=3)
    frames = initial_frames(['LiH2', 'Mg', 'H', 'MgH4'], [200.0], settings, seed=0)
    assert [a.info['formula'] for a in frames[:2]] in (['Mg', 'H'], ['H', 'Mg'])


@pytest.mark.parametrize(
    'parameters, match',
    [
        ({'random': -1}, 'random must be a whole number >= 0'),
        ({'max_frames': 0}, 'max_frames must be a whole number >= 1'),
        ({'rattle_sigma': 0.0}, 'rattle_sigma must be in (0, 0.5]'),
        ({'strain': 0.5}, 'strain must be in [0, 0.2]'),
        ({'prototypes': False, 'random': 0}, 'random must be at least 1'),
        ({'rattels': 2}, "unknown parameters ['rattels']"),
    ],
)
def test_settings_refused(parameters, match):
    with pytest.raises(HydridesInputError) as error:
        InitialFrameSettings.from_parameters(parameters)
    assert match in str(error.value)


def test_nothing_fits():
    with pytest.raises(HydridesInputError, match='no structure of CaYH12 fits max_atoms=4'):
        initial_frames(['CaYH12'], [200.0], InitialFrameSettings(max_atoms=4))
    with pytest.raises(HydridesInputError, match='at least one composition'):
        initial_frames([], [200.0])
