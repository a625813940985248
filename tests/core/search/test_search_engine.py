"""The search loop: budget, batched relaxation, learning vs random-only, determinism, records, minima, first hit."""

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError, UnknownElementError
from aiida_hydrides.core.search.distances import DistanceLimits, fitted_limits
from aiida_hydrides.core.search.engine import SearchSettings, run_search
from aiida_hydrides.core.search.result import ORIGINS

from search_helpers import FAST_GROUPS, assert_limits

FAST = dict(max_atoms=8, max_steps=20, space_groups=FAST_GROUPS, population=6)


@pytest.fixture(scope='module')
def learning_run(emt_evaluator):
    generations = []
    result = run_search(
        'AlH3',
        emt_evaluator,
        SearchSettings(budget=14, seed=3, **FAST),
        callback=lambda number, res: generations.append((number, len(res))),
    )
    return result, generations


AL_LIMITS = fitted_limits(DistanceLimits(), ['Al', 'H'], SearchSettings().pressure_gpa)


def test_budget_generations_and_records(learning_run):
    result, generations = learning_run
    assert len(result) == 14
    assert result.generation_sizes == [6, 6, 2]
    assert generations == [(0, 6), (1, 12), (2, 14)]
    arrays = result.arrays()
    assert arrays['offsets'][-1] == len(arrays['numbers']) == len(arrays['positions'])
    assert len(arrays['cells']) == len(arrays['enthalpy_per_atom']) == len(arrays['origin']) == 14
    assert set(arrays['origin']) <= set(ORIGINS)
    assert list(arrays['generation']) == [0] * 6 + [1] * 6 + [2] * 2
    for index in range(len(result)):
        atoms = result.structure(index)
        assert atoms.get_chemical_symbols().count('H') == 3 * atoms.get_chemical_symbols().count('Al')
        assert len(atoms) <= 8
        # Al-Al fitted to the volume model at the search's pressure (below the default 1.9 A)
        assert_limits(result.structure(index, initial=True), mm=AL_LIMITS.limit('Al', 'Al'))


def test_learning_produces_offspring_after_the_first_generation(learning_run):
    result, _ = learning_run
    origins = np.array(result.origins)
    generations = np.array(result.generations)
    assert set(origins[generations == 0]) <= {'random', 'prototype'}
    assert set(origins[generations > 0]) & {'pso', 'heredity', 'mutation'}


def test_one_batched_relaxation_call_per_generation(emt_evaluator, monkeypatch):
    import aiida_hydrides.core.lam.relax as relax

    calls = []
    original = relax.relax_structures

    def counting(structures, evaluator, **kwargs):
        calls.append(len(structures))
        return original(structures, evaluator, **kwargs)

    monkeypatch.setattr(relax, 'relax_structures', counting)
    result = run_search('AlH3', emt_evaluator, SearchSettings(budget=7, seed=1, **{**FAST, 'max_steps': 5}))
    assert calls == [6, 1] and len(result) == 7


def test_random_only_search_uses_no_learning(emt_evaluator):
    result = run_search(
        'AlH3', emt_evaluator, SearchSettings(budget=12, seed=3, learning=False, use_prototypes=False, **FAST)
    )
    assert set(result.origins) == {'random'}
    assert len(result) == 12


def test_search_is_deterministic_with_a_seed(emt_evaluator, learning_run):
    again = run_search('AlH3', emt_evaluator, SearchSettings(budget=14, seed=3, **FAST))
    first, second = learning_run[0].arrays(), again.arrays()
    for key in first:
        assert np.array_equal(first[key], second[key], equal_nan=first[key].dtype.kind == 'f'), key


def test_minima_and_first_hit(learning_run):
    result, _ = learning_run
    minima = result.minima(window_mev=1e6)
    assert minima and minima[0].index == result.best_index and minima[0].relative_mev == 0.0
    assert all(a.enthalpy_per_atom <= b.enthalpy_per_atom for a, b in zip(minima, minima[1:]))
    assert len({m.index for m in minima}) == len(minima)
    assert sum(m.duplicates + 1 for m in minima) == int(result.usable().sum())
    assert all(1 <= m.space_group_number <= 230 and m.formula.startswith('Al') for m in minima)
    narrow = result.minima(window_mev=0.0)
    assert [m.index for m in narrow] == [result.best_index]
    target = minima[-1].index
    hit = result.first_hit(result.structure(target))
    assert hit is not None and hit <= target
    from ase.build import bulk

    assert result.first_hit(bulk('Al', 'fcc', a=3.6)) is None


def test_cayh12_search_with_the_tiny_deepmd_model(tiny_evaluator):
    settings = SearchSettings(budget=8, population=8, seed=0, max_atoms=14, max_steps=10, space_groups=FAST_GROUPS)
    result = run_search({'Ca': 1, 'Y': 1, 'H': 12}, tiny_evaluator, settings)
    assert len(result) == 8 and 'ordering' in result.origins and 'random' in result.origins
    assert np.isfinite(result.best_enthalpy_per_atom)
    for index in range(len(result)):
        assert sorted(set(result.structure(index).get_chemical_symbols())) == ['Ca', 'H', 'Y']
    best = result.minima(window_mev=100)[0]
    assert best.formula == 'CaYH12' and best.natoms == 14


@pytest.mark.parametrize(
    'overrides, error, text',
    [
        ({'budget': 0}, HydridesInputError, 'budget'),
        ({'random_fraction': 1.5}, HydridesInputError, 'random_fraction'),
        ({'operator_weights': {'crossover': 1.0}}, HydridesInputError, 'operator_weights'),
        ({'pressure_gpa': '200 GPa'}, HydridesInputError, 'pressure'),
        ({'min_hh': 0}, HydridesInputError, 'hh'),
        ({'max_atoms': 3}, HydridesInputError, 'formula unit'),
        ({'seed': 1.5}, HydridesInputError, 'seed'),
        ({'parent_selection': 'roulette'}, HydridesInputError, 'parent_selection'),
        ({'min_volume_fraction': -0.1}, HydridesInputError, 'min_volume_fraction'),
        ({'symmetry_breaking': 0.5}, HydridesInputError, 'symmetry_breaking'),
        ({'initial_population': 0}, HydridesInputError, 'initial_population'),
    ],
)
def test_bad_settings_are_rejected(emt_evaluator, overrides, error, text):
    with pytest.raises(error, match=text):
        run_search('AlH3', emt_evaluator, SearchSettings(**{**FAST, **overrides}))


def test_rank_parent_selection_favours_the_best(emt_evaluator):
    from aiida_hydrides.core.search.engine import _Search

    search = _Search('AlH3', emt_evaluator, SearchSettings(parent_selection='rank', seed=0, **FAST))
    counts = np.bincount([search._parent_position(4) for _ in range(8000)], minlength=4) / 8000
    assert np.allclose(counts, [0.4, 0.3, 0.2, 0.1], atol=0.02)
    uniform = _Search('AlH3', emt_evaluator, SearchSettings(seed=0, **FAST))
    counts = np.bincount([uniform._parent_position(4) for _ in range(8000)], minlength=4) / 8000
    assert np.allclose(counts, 0.25, atol=0.02)
    result = run_search('AlH3', emt_evaluator, SearchSettings(budget=12, seed=3, parent_selection='rank', **FAST))
    assert len(result) == 12 and set(result.origins) & {'pso', 'heredity', 'mutation'}


def test_elements_outside_the_model_are_rejected(tiny_evaluator):
    with pytest.raises(UnknownElementError, match='La'):
        run_search('LaH10', tiny_evaluator, SearchSettings(budget=2))


def test_density_floor_reaches_the_relaxer(emt_evaluator, monkeypatch):
    """``min_volume_fraction`` becomes the relaxer's ``min_volume_per_atom`` (fraction x additive-model volume per
    atom at the search pressure); a floor above every start volume stops every relaxation as collapsed."""
    import aiida_hydrides.core.lam.relax as relax
    from aiida_hydrides.core.search.generator import formula_unit
    from aiida_hydrides.core.search.volumes import estimate_volume

    unit = formula_unit('AlH3')
    per_atom = estimate_volume(unit, 150.0) / 4
    assert SearchSettings(pressure_gpa=150.0, min_volume_fraction=0.65).relax_kwargs(unit)[
        'min_volume_per_atom'
    ] == pytest.approx(0.65 * per_atom)
    assert 'min_volume_per_atom' not in SearchSettings(min_volume_fraction=0).relax_kwargs(unit)
    assert 'min_volume_per_atom' not in SearchSettings().relax_kwargs()

    floors, original = [], relax.relax_structures

    def recording(structures, evaluator, **kwargs):
        floors.append(kwargs.get('min_volume_per_atom'))
        return original(structures, evaluator, **kwargs)

    monkeypatch.setattr(relax, 'relax_structures', recording)
    settings = SearchSettings(budget=6, seed=2, learning=False, use_prototypes=False, pressure_gpa=150.0, **FAST)
    normal = run_search('AlH3', emt_evaluator, settings)
    assert floors == [pytest.approx(0.65 * per_atom)] and normal.usable().any()
    # the random starts lie within 10 % of the additive-model volume, so a floor at 1.5 times it stops them all
    floored = run_search('AlH3', emt_evaluator, SearchSettings(**{**settings.__dict__, 'min_volume_fraction': 1.5}))
    assert set(floored.flags) == {'collapsed'} and not floored.usable().any() and floored.minima() == []


def test_symmetry_breaking_displaces_the_candidates(emt_evaluator):
    """With ``symmetry_breaking`` every candidate is relaxed from a copy moved by about that many Å (the recorded
    initial structure), within the distance limits; the run stays reproducible, and 0 leaves the candidates as
    generated (the same first generation as without the option)."""
    from aiida_hydrides.core.search.distances import satisfies_limits

    settings = SearchSettings(budget=6, seed=4, learning=False, use_prototypes=False, **FAST)
    plain = run_search('AlH3', emt_evaluator, settings)
    moved = run_search('AlH3', emt_evaluator, SearchSettings(**{**settings.__dict__, 'symmetry_breaking': 0.05}))
    again = run_search('AlH3', emt_evaluator, SearchSettings(**{**settings.__dict__, 'symmetry_breaking': 0.05}))
    shifts = []
    for index in range(len(plain)):
        first, second = plain.structure(index, initial=True), moved.structure(index, initial=True)
        np.testing.assert_allclose(first.cell[:], second.cell[:])
        shifts.append(np.abs(second.positions - first.positions).max())
        assert satisfies_limits(second, settings.limits())
        np.testing.assert_allclose(second.positions, again.structure(index, initial=True).positions)
    assert 0.01 < np.median(shifts) < 0.3
    np.testing.assert_allclose(moved.enthalpy_per_atom, again.enthalpy_per_atom)


def test_initial_population_sets_the_first_generation(emt_evaluator):
    """``initial_population`` is the size of generation 0 only; learning starts right after it."""
    result = run_search(
        'AlH3', emt_evaluator, SearchSettings(budget=11, seed=3, initial_population=2, use_prototypes=False, **FAST)
    )
    assert result.generation_sizes == [2, 6, 3]
    origins = np.array(result.origins)
    assert set(origins[:2]) == {'random'} and set(origins[2:8]) - {'random'}


def test_hopeless_relaxations_stop_early(emt_evaluator, monkeypatch):
    """From generation 1 on, every candidate gets the ceiling best-so-far + ``hopeless_mev``; a candidate above it
    after ``hopeless_after`` steps stops as ``hopeless`` (not a minimum); ``hopeless_mev=0`` gives no ceilings."""
    import aiida_hydrides.core.lam.relax as relax

    seen, original = [], relax.relax_structures

    def recording(structures, evaluator, **kwargs):
        seen.append(kwargs.get('ceilings'))
        return original(structures, evaluator, **kwargs)

    monkeypatch.setattr(relax, 'relax_structures', recording)
    base = dict(budget=12, seed=5, learning=False, use_prototypes=False, **FAST)
    # a ceiling below the best minimum: every relaxation of generation 1 that has not converged by then is hopeless
    result = run_search('AlH3', emt_evaluator, SearchSettings(hopeless_mev=1e-6, hopeless_after=2, **base))
    assert seen[0] is None and len(seen[1]) == 6
    best_after_first = min(
        h for h, f in zip(result.enthalpy_per_atom[:6], result.flags[:6]) if f in ('converged', 'max_steps')
    )
    assert seen[1] == [pytest.approx(best_after_first + 1e-9)] * 6
    later = result.flags[6:]
    assert 'hopeless' in later and not result.usable()[6:][np.array(later) == 'hopeless'].any()
    assert all(n >= 2 for n, f in zip(result.n_steps[6:], later) if f == 'hopeless')
    seen.clear()
    run_search('AlH3', emt_evaluator, SearchSettings(hopeless_mev=0, **base))
    assert seen == [None, None]


def test_relaxer_ceilings_flag_hopeless(emt_evaluator):
    from aiida_hydrides.core.lam.relax import relax_structures
    from aiida_hydrides.core.search.generator import RandomStructureGenerator, formula_unit

    generator = RandomStructureGenerator(formula_unit('AlH3'), pressure_gpa=0.0, max_atoms=8, space_groups=FAST_GROUPS)
    rng = np.random.default_rng(0)
    structures = [generator.generate(rng) for _ in range(3)]
    kwargs = dict(pressure_gpa=0.0, fmax=0.01, max_steps=30, hopeless_after=3)
    free = relax_structures(structures, emt_evaluator, **kwargs)
    capped = relax_structures(structures, emt_evaluator, ceilings=[-np.inf, np.inf, -np.inf], **kwargs)
    assert capped[0].flag == capped[2].flag == 'hopeless' and capped[0].n_steps == 3
    assert capped[1].flag == free[1].flag and capped[1].enthalpy_per_atom == pytest.approx(free[1].enthalpy_per_atom)


def test_stagnating_search_stops_and_reports_it(emt_evaluator):
    """With ``stagnation_generations`` a composition stops once its best has not improved for that many
    generations, before its budget is spent."""
    settings = SearchSettings(budget=60, seed=1, learning=False, use_prototypes=False, stagnation_generations=1, **FAST)
    result = run_search('AlH3', emt_evaluator, settings)
    assert len(result) < 60 and result.stop_reason == 'stagnated'
    full = run_search('AlH3', emt_evaluator, SearchSettings(**{**settings.__dict__, 'stagnation_generations': 0}))
    assert len(full) == 60 and full.stop_reason is None


def test_every_ordering_is_seeded_in_generation_zero(tiny_evaluator, monkeypatch):
    """A composition of two metals gets every ordered derivative of its prototype in generation 0 (which grows to hold
    them, up to half the budget), each recorded with its prototype and ordering."""
    import aiida_hydrides.core.lam.relax as relax
    from aiida_hydrides.core.search.seeding import prototype_seeds

    def no_relaxation(structures, evaluator, **kwargs):  # the seeding is under test, not the model
        from aiida_hydrides.core.lam.relax import RelaxResult

        return [
            RelaxResult(i, atoms.copy(), 'collapsed', 0, *[np.nan] * 3, atoms.get_volume(), *[np.nan] * 3, 200.0)
            for i, atoms in enumerate(structures)
        ]

    monkeypatch.setattr(relax, 'relax_structures', no_relaxation)
    seeds = prototype_seeds('Ca3YH24', 200.0, 28)
    assert len(seeds) > 4
    result = run_search(
        'Ca3YH24', tiny_evaluator, SearchSettings(budget=20, population=4, max_atoms=28, seed=0, learning=False)
    )
    origins = np.array(result.origins)
    assert result.generation_sizes[0] == len(seeds) and list(origins[: len(seeds)]) == ['ordering'] * len(seeds)


def test_offspring_run_to_the_end(emt_evaluator, monkeypatch):
    """Only random candidates get a ceiling; offspring of the elite (pso, heredity, mutation) relax to the end."""
    import aiida_hydrides.core.lam.relax as relax

    pairs, original = [], relax.relax_structures

    def recording(structures, evaluator, **kwargs):
        ceilings = kwargs.get('ceilings') or [None] * len(structures)
        pairs.extend((atoms.info.get('origin', 'random'), ceiling) for atoms, ceiling in zip(structures, ceilings))
        return original(structures, evaluator, **kwargs)

    monkeypatch.setattr(relax, 'relax_structures', recording)
    run_search('AlH3', emt_evaluator, SearchSettings(budget=18, seed=3, use_prototypes=False, hopeless_mev=300, **FAST))
    later = pairs[6:]
    assert {origin for origin, _ in later} - {'random'}, 'no offspring made'
    assert all(np.isinf(c) for origin, c in later if origin != 'random')
    assert all(np.isfinite(c) for origin, c in later if origin == 'random')
