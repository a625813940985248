"""Random symmetric structures: composition, atom budget, distances, volume model, determinism, bad input."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError, UnknownElementError
from aiida_hydrides.core.search.distances import (
    DistanceLimits,
    distance_violations,
    fitted_limits,
    repair_distances,
)
from aiida_hydrides.core.search.generator import CRYSTAL_SYSTEMS, RandomStructureGenerator, crystal_system
from aiida_hydrides.core.search.volumes import atomic_volume, estimate_volume

from search_helpers import FAST_GROUPS, assert_limits


@pytest.fixture(scope='module')
def cayh12_generator():
    return RandomStructureGenerator({'Ca': 1, 'Y': 1, 'H': 12}, max_atoms=28, space_groups=FAST_GROUPS)


def test_random_structures_keep_composition_budget_and_distances(cayh12_generator):
    structures = cayh12_generator.generate_many(6, np.random.default_rng(11))
    for atoms in structures:
        symbols = atoms.get_chemical_symbols()
        units = symbols.count('Ca')
        assert units >= 1 and symbols.count('Y') == units and symbols.count('H') == 12 * units
        assert len(atoms) <= 28
        assert atoms.info['origin'] == 'random' and 75 <= atoms.info['space_group'] <= 230
        assert_limits(atoms)
        low, high = cayh12_generator.volume_range(units)
        assert low - 1e-6 <= atoms.get_volume() <= high + 1e-6


def test_generator_is_deterministic_with_a_seed(cayh12_generator):
    first = cayh12_generator.generate_many(2, np.random.default_rng(5))
    second = cayh12_generator.generate_many(2, np.random.default_rng(5))
    other = cayh12_generator.generate_many(2, np.random.default_rng(6))
    for a, b in zip(first, second):
        assert np.array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions)
        np.testing.assert_allclose(a.cell.array, b.cell.array)
    assert any(len(a) != len(c) or not np.allclose(a.positions, c.positions) for a, c in zip(first, other))


def test_space_group_weighting_is_uniform_over_crystal_systems(cayh12_generator):
    groups = cayh12_generator.compatible[1]
    weights = cayh12_generator._group_weights(groups)
    per_system = {}
    for number, weight in zip(groups, weights):
        per_system[crystal_system(number)] = per_system.get(crystal_system(number), 0.0) + weight
    assert np.isclose(weights.sum(), 1.0)
    assert np.allclose(list(per_system.values()), 1.0 / len(per_system))
    assert set(per_system) <= set(CRYSTAL_SYSTEMS)


def test_volume_model_values():
    assert atomic_volume('H', 200) == pytest.approx(2.3)
    assert estimate_volume({'Ca': 1, 'Y': 1, 'H': 12}, 200) == pytest.approx(7.5 + 7.5 + 12 * 2.3)
    assert atomic_volume('H', 100) > atomic_volume('H', 200) > atomic_volume('H', 300)
    assert atomic_volume('Rb', 200) == pytest.approx(8.0)  # a metal outside the table
    with pytest.raises(HydridesInputError):
        atomic_volume('H', -5)


def test_distance_limits_and_repair():
    from ase import Atoms

    limits = DistanceLimits()
    assert limits.limit('H', 'H') == 0.8 and limits.limit('Ca', 'H') == 1.4 and limits.limit('Y', 'Ca') == 1.9
    assert DistanceLimits(pairs={('H', 'La'): 1.6}).limit('La', 'H') == 1.6
    atoms = Atoms('CaH2', positions=[(0, 0, 0), (1.0, 0, 0), (1.3, 0.5, 0)], cell=[4, 4, 4], pbc=True)
    assert [(i, j) for i, j, _, _ in distance_violations(atoms, limits)] == [(0, 1), (0, 2), (1, 2)]
    repaired = repair_distances(atoms, limits)
    assert repaired is not None and distance_violations(repaired, limits) == []
    with pytest.raises(HydridesInputError):
        DistanceLimits(hh=-1)
    with pytest.raises(UnknownElementError):
        DistanceLimits(pairs={('Xx', 'H'): 1.0})


def test_limits_fitted_to_light_metals():
    """Light metals sit closer than the default 1.9 Å at the volume model: their metal-metal limit is lowered to 0.9 of
    the nearest-neighbour distance of bcc at the model volume, so that Li can be generated at all; Ca and Y at 200 GPa
    keep the defaults, and a pair given its own limit keeps it."""
    default = DistanceLimits()
    fitted = fitted_limits(default, ['Li', 'Mg', 'H'], 150.0)
    nearest = np.sqrt(3) / 2 * (2 * atomic_volume('Li', 150.0)) ** (1 / 3)
    assert nearest < default.mm  # even bcc Li at the model volume breaks the default limit
    assert fitted.limit('Li', 'Li') == pytest.approx(0.9 * nearest, abs=1e-3) and fitted.limit('Li', 'Li') < 1.7
    assert fitted.limit('Li', 'Mg') < 1.9 and fitted.limit('H', 'H') == default.hh and fitted.limit('Li', 'H') == 1.4
    atoms = RandomStructureGenerator('Li', 150.0, 8, limits=fitted, space_groups=FAST_GROUPS).generate(
        np.random.default_rng(0)
    )
    assert not distance_violations(atoms, fitted)
    assert fitted_limits(default, ['Ca', 'Y', 'H'], 200.0) is default
    own = DistanceLimits(pairs={('Li', 'Li'): 1.2})
    assert fitted_limits(own, ['Li'], 150.0).limit('Li', 'Li') == 1.2


@pytest.mark.parametrize(
    'composition, kwargs, error, text',
    [
        ({'Ca': 1, 'Y': 1, 'H': 12}, {'max_atoms': 10}, HydridesInputError, 'smaller than one formula unit'),
        ({'Xx': 1, 'H': 3}, {}, UnknownElementError, 'Xx'),
        ('CaYH12', {'weighting': 'favourite'}, HydridesInputError, 'weighting'),
        ('CaYH12', {'space_groups': [0, 300]}, HydridesInputError, 'space_groups'),
        ('CaYH12', {'max_atoms': 0}, HydridesInputError, 'max_atoms'),
        (42, {}, HydridesInputError, 'composition'),
    ],
)
def test_generator_rejects_bad_input(composition, kwargs, error, text):
    with pytest.raises(error, match=text):
        RandomStructureGenerator(composition, **kwargs)


def test_formula_units_restrict_the_cells():
    from aiida_hydrides.core.search.engine import SearchSettings
    from aiida_hydrides.core.search.worker import settings_from_parameters

    generator = RandomStructureGenerator('CaH6', max_atoms=28, formula_units=[4, 2], space_groups=FAST_GROUPS)
    assert generator.formula_units == (2, 4) and set(generator.compatible) <= {2, 4}
    sizes = {len(atoms) for atoms in generator.generate_many(6, np.random.default_rng(3))}
    assert sizes <= {14, 28} and sizes
    with pytest.raises(HydridesInputError, match=r'none of formula_units=\[5\] of CaH6 \(7 atoms each\) fits'):
        RandomStructureGenerator('CaH6', max_atoms=28, formula_units=[5])
    for bad in ([0], ['two'], [1.5], []):
        with pytest.raises(HydridesInputError, match='formula_units must be whole numbers'):
            SearchSettings(formula_units=bad).validated()
    settings, _ = settings_from_parameters({'formula_units': [2]})
    assert settings.formula_units == (2,)
    assert settings_from_parameters({'formula_units': 3})[0].formula_units == (3,)


def test_pyxtal_default_tolerances_are_built_once():
    """PyXtal's image checks get one shared default tolerance matrix (built once, with PyXtal's own values)."""
    import pyxtal.operations as operations
    from pyxtal.tolerance import Tol_matrix

    from aiida_hydrides.core.search.generator import _share_default_tolerances

    _share_default_tolerances()
    first, second = operations.Tol_matrix(prototype='atomic'), operations.Tol_matrix(prototype='atomic')
    assert first is second
    assert first.get_tol('Y', 'H') == Tol_matrix(prototype='atomic').get_tol('Y', 'H')
    assert operations.Tol_matrix(('H', 'H', 0.8)) is not first  # custom tolerances are never shared


def test_wyckoff_compatibility_is_cached_by_counts(tmp_path, monkeypatch):
    """The space groups that fit a composition's counts are computed once per counts, whatever the elements: in the
    process and in a file under the cache folder that another process reads; a broken file is computed again."""
    import json

    from aiida_hydrides.core.search import generator

    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    monkeypatch.setattr(generator, '_COMPATIBLE', {})
    groups = list(range(195, 231))  # the cubic groups
    first = generator.compatible_groups((1, 1, 12), groups)
    assert 221 in first and set(first) <= set(groups)  # Pm-3m holds the ordered sodalite CaYH12
    path = tmp_path / 'aiida-hydrides' / 'wyckoff' / '1-1-12.json'
    assert json.loads(path.read_text()) == {str(n): n in first for n in groups}

    monkeypatch.setattr(generator, '_COMPATIBLE', {})  # a new process: the file answers, PyXtal is not asked
    monkeypatch.setattr(generator, '_group', lambda number: pytest.fail(f'group {number} computed again'))
    assert generator.compatible_groups((1, 1, 12), groups) == first
    by_elements = RandomStructureGenerator('MgScH12', max_atoms=14, formula_units=[1], space_groups=groups)
    assert by_elements.compatible == {1: first}

    monkeypatch.undo()
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    monkeypatch.setattr(generator, '_COMPATIBLE', {})
    path.write_text('{not json')
    assert generator.compatible_groups((1, 1, 12), groups) == first
    assert json.loads(path.read_text()) == {str(n): n in first for n in groups}
