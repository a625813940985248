"""Ground-state recovery of the structure search at 200 GPa: learning (PSO / heredity / mutation) against pure random
symmetric search, same generator, same relaxer, same model, in one run.

Targets: CaH6 Im-3m and YH6 Im-3m (sodalite clathrates, 7-atom primitive cells) and the ordered ternary CaYH12 Pm-3m
(CaH6 type, 14 atoms). For every target and every seed (default 10), both searches run with the same budget of
relaxations and the same settings, with prototype seeding switched OFF (the seeds would hand both searches the answer
in generation 0). The cells hold two formula units (``--formula-units 2``: 14 atoms for CaH6 and YH6, 28 for
CaYH12), so that the known structure is a supercell the search has to assemble: with one formula unit per primitive
cell, symmetric random generation draws Im-3m CaH6 or YH6 directly in most first generations, which both searches
share, and the comparison says nothing. A hit is the first usable relaxed structure that pymatgen's
``StructureMatcher`` (default tolerances, volumes scaled) matches to the known structure; the relaxation number of the
first hit (1-based) is recorded; a miss counts as more than the budget.

Both searches start with a first generation of ``--initial-population`` (3) random structures and go on in
generations of ``--population`` (6): the random search draws the same structures either way, and the learning search
starts breeding after 3 relaxations instead of 6 (with a first generation of 6, the first offspring is relaxation 7,
which caps the learning median near 7 and the ratio near random search's median over 7; see docs/search.md).

Figures per target: success rate of each method within the budget, the median relaxations to the first hit of each
(a miss counts as infinite, so the median is finite only when more than half of the seeds hit), and their ratio
random / learning (target >= 2).

The known structure need not be the lowest minimum of the model. Every search therefore runs its whole budget
(``--stop-at-hit`` ends it at the first hit instead, which gives the same first hits, faster) and records its
running lowest enthalpy; the second figure, ``model_ground_state``, counts the relaxations until a search comes
within ``--ground-tol`` (2 meV/atom) of the lowest enthalpy that any run of either method or the relaxed known
structure reached: the same ratio for the search problem the model poses. ``model_landscape`` says where that
lowest structure lies against the known one, with its space group and cell (``search_landscape_dft.py`` asks
DFT which of the two is lower). Results: ``results/search_recovery_<target>.json`` and ``results/search_recovery.json``
(the smallest ratio over the targets). The model is the committed seed model when present (else the tiny test model,
for a trial of the script only: set ``HYDRIDES_BENCHMARK_RESULTS`` to write elsewhere).

Usage: python benchmarks/search_recovery.py [--seeds 10] [--budget 48] [--population 6] [--initial-population 3]
       [--targets CaH6,YH6,CaYH12]
       [--stop-at-hit] [--ground-tol 0.002]
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--seeds', type=int, default=10)
parser.add_argument('--budget', type=int, default=48, help='relaxations per search (a search stops at its hit)')
parser.add_argument(
    '--population',
    type=int,
    default=6,
    help='structures per generation (6: learning starts after 6 relaxations; 12 gave lower ratios)',
)
parser.add_argument(
    '--initial-population',
    type=int,
    default=3,
    help='size of the first generation of both searches (3: learning starts after 3 relaxations; 0: the population)',
)
parser.add_argument('--max-atoms', type=int, default=28, help='atom budget per cell (formula units chosen within it)')
parser.add_argument(
    '--formula-units',
    default='2',
    help="formula units per primitive cell, comma-separated ('' = any within the atom budget)",
)
parser.add_argument('--max-steps', type=int, default=200)
parser.add_argument(
    '--min-volume-fraction',
    type=float,
    default=0.65,
    help='density floor of the search (fraction of the additive-model volume; 0: off)',
)
parser.add_argument('--targets', default='CaH6,YH6,CaYH12')
parser.add_argument(
    '--stop-at-hit', action='store_true', help='end each search at its first hit (no model_ground_state figure)'
)
parser.add_argument(
    '--ground-tol',
    type=float,
    default=0.002,
    help='eV/atom: a search has found the model ground state within this of the lowest enthalpy',
)
parser.add_argument('--pressure', type=float, default=200.0)
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--model', default=None, help='model file (default: the seed model if present, else the tiny one)')
parser.add_argument(
    '--precision',
    default=None,
    help="float32 or float64 (default: the search jobs' own, aiida_hydrides.core.lam.compress.SEARCH_PRECISION)",
)
parser.add_argument(
    '--hopeless-mev',
    type=float,
    default=None,
    help="stop relaxations this far above the best so far after a few steps (default: the search's; 0: off)",
)
parser.add_argument(
    '--no-compress',
    dest='compress',
    action='store_false',
    help='evaluate the model as it is (default: its compressed copy, same numbers, faster)',
)
args = parser.parse_args()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS_DIR, pick_model, set_model_threads, write_result  # noqa: E402

set_model_threads(args.threads)

import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def known_structures():
    """The known ground states at 200 GPa, by formula."""
    from aiida_hydrides.core.prototypes import ordered_sodalite_abh12, sodalite_mh6

    return {
        'CaH6': ('Im-3m', sodalite_mh6('Ca')),
        'YH6': ('Im-3m', sodalite_mh6('Y')),
        'CaYH12': ('Pm-3m', ordered_sodalite_abh12('Ca', 'Y')),
    }


def median_to_first_hit(hits, budget):
    """Median relaxations to the first hit, a miss counting as infinite (``None`` when half or more missed)."""
    values = np.sort([np.inf if hit is None else hit for hit in hits])
    median = float(np.median(values))
    return None if not np.isfinite(median) else median


class _Hit(Exception):
    """Raised by the generation callback to end a search at its first hit."""


def search_once(formula, reference, evaluator, settings, learning, seed, stop_at_hit=False) -> dict:
    """One search with the known structure ``reference`` checked after every generation (new structures only):
    the first hit (1-based, or ``None``), the relaxations run, the running lowest usable enthalpy after each
    relaxation (eV/atom, ``None`` before the first usable one) and the lowest structure found."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    from aiida_hydrides.core.search.engine import run_search

    matcher, known = StructureMatcher(), AseAtomsAdaptor.get_structure(reference)
    state = {'checked': 0, 'hit': None, 'result': None}

    def check(_, result):
        usable = result.usable()
        for index in range(state['checked'], len(result)):
            if (
                state['hit'] is None
                and usable[index]
                and matcher.fit(known, AseAtomsAdaptor.get_structure(result.structure(index)))
            ):
                state['hit'] = index + 1
        state['checked'], state['result'] = len(result), result
        if stop_at_hit and state['hit'] is not None:
            raise _Hit

    try:
        run_search(formula, evaluator, settings, callback=check, learning=learning, seed=seed)
    except _Hit:
        pass
    result = state['result']
    enthalpies = np.where(result.usable(), np.array(result.enthalpy_per_atom, dtype=float), np.inf)
    running = np.minimum.accumulate(enthalpies)
    trace = [None if not np.isfinite(h) else round(float(h), 5) for h in running]
    best = None
    if result.best_index is not None:
        atoms = result.structure(result.best_index)
        best = {
            'relaxation': result.best_index + 1,
            'enthalpy_per_atom': result.enthalpy_per_atom[result.best_index],
            'space_group': space_group(atoms),
            'known': bool(matcher.fit(known, AseAtomsAdaptor.get_structure(atoms))),
            'structure': {
                'symbols': atoms.get_chemical_symbols(),
                'cell': atoms.cell.array.round(6).tolist(),
                'scaled_positions': atoms.get_scaled_positions().round(6).tolist(),
            },
        }
    return {'first_hit': state['hit'], 'relaxations': len(result), 'trace': trace, 'best': best}


def first_within(trace, level: float):
    """1-based relaxation at which the running lowest enthalpy ``trace`` first reaches ``level`` (``None``: never)."""
    for index, value in enumerate(trace):
        if value is not None and value <= level:
            return index + 1
    return None


def speedup(learned, random, budget):
    """random / learning median (a random median of ``None``, half the seeds or more missing, counts as budget + 1)."""
    if learned is None:
        return 0.0 if random is not None else None
    return (random if random is not None else float(budget + 1)) / learned


def space_group(atoms, symprec: float = 0.1) -> str:
    """Space group symbol and number (spglib, ``symprec`` Å)."""
    import spglib

    return spglib.get_spacegroup((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)


#: the ratios of the release before float32 model calls (float64, every relaxation to its end)
EARLIER_RATIOS = {'CaH6': 2.444, 'YH6': 2.75, 'CaYH12': 2.0}


def known_enthalpy(reference, evaluator, settings) -> float:
    """Enthalpy per atom (eV) of the known structure relaxed with the model and the search's settings."""
    from aiida_hydrides.core.lam.relax import relax_structures

    outcome = relax_structures([reference], evaluator, **settings.relax_kwargs())[0]
    return float(outcome.enthalpy_per_atom)


def main():
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.search.engine import SearchSettings
    from aiida_hydrides.core.search.worker import file_md5

    model_path, model_kind = pick_model(args.model)
    model_md5 = file_md5(model_path)
    from aiida_hydrides.core.lam.compress import SEARCH_PRECISION

    precision = args.precision or SEARCH_PRECISION
    evaluator = load_model(model_path, threads=args.threads, compress=args.compress, precision=precision)
    targets = known_structures()
    chosen = [t.strip() for t in args.targets.split(',') if t.strip()]
    unknown = sorted(set(chosen) - set(targets))
    if unknown:
        sys.exit(f'unknown targets {unknown}; choose from {sorted(targets)}')
    units = tuple(int(u) for u in args.formula_units.split(',') if u.strip()) or None
    initial = args.initial_population or None
    settings = SearchSettings(
        pressure_gpa=args.pressure,
        budget=args.budget,
        population=args.population,
        initial_population=initial,
        max_atoms=args.max_atoms,
        max_steps=args.max_steps,
        use_prototypes=False,
        formula_units=units,
        min_volume_fraction=args.min_volume_fraction,
        **({} if args.hopeless_mev is None else {'hopeless_mev': args.hopeless_mev}),
    )
    print(
        f'model {model_path.name} ({model_kind}); budget {args.budget}, population {args.population}, '
        f'{args.seeds} seeds',
        flush=True,
    )
    ratios, ground_ratios, started = {}, {}, time.time()
    for formula in chosen:
        symbol, reference = targets[formula]
        # finished searches are kept in build/ and reused by a rerun with the same settings (resumable)
        partial = HERE.parent / 'build' / 'benchmarks' / f'search_recovery_{formula.lower()}.partial.json'
        key = {
            'model_md5': model_md5,
            'budget': args.budget,
            'population': args.population,
            'initial_population': initial,
            'max_atoms': args.max_atoms,
            'max_steps': args.max_steps,
            'pressure': args.pressure,
            'formula_units': list(units) if units else None,
            'min_volume_fraction': args.min_volume_fraction,
            'stop_at_hit': args.stop_at_hit,
            'precision': precision,
            'hopeless_mev': settings.hopeless_mev,
        }
        runs = {'learning': [], 'random': []}
        if partial.exists():
            saved = json.loads(partial.read_text())
            if saved.get('key') == key:
                runs = saved['runs']
                print(f'{formula}: resuming after {len(runs["random"])} seeds', flush=True)
        for seed in range(args.seeds):
            for method, learning in (('learning', True), ('random', False)):
                if any(row['seed'] == seed for row in runs[method]):
                    continue
                start = time.time()
                row = search_once(formula, reference, evaluator, settings, learning, seed, args.stop_at_hit)
                runs[method].append({'seed': seed, **row, 'wall_s': round(time.time() - start, 1)})
                print(
                    f'{formula} seed {seed} {method:8s}: first hit {row["first_hit"]} ({row["relaxations"]} '
                    f'relaxed, {runs[method][-1]["wall_s"]} s)',
                    flush=True,
                )
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({'key': key, 'runs': runs}, indent=1) + '\n')
        runs = {method: [row for row in rows if row['seed'] < args.seeds] for method, rows in runs.items()}
        figures = {}
        for method, rows in runs.items():
            hits = [row['first_hit'] for row in rows]
            figures[method] = {
                'success_rate': sum(hit is not None for hit in hits) / len(hits),
                'median_relaxations_to_first_hit': median_to_first_hit(hits, args.budget),
                'first_hits': hits,
            }
        # what the searches found lowest, against the known structure relaxed with the same model: a search that
        # ends below the known structure has found a lower minimum of the MODEL's landscape (see docs/search.md)
        reference_h = known_enthalpy(reference, evaluator, settings)
        lowest = min(
            (row['best'] for rows in runs.values() for row in rows if row.get('best')),
            key=lambda best: best['enthalpy_per_atom'],
            default=None,
        )
        for method, rows in runs.items():
            bests = [row.get('best') for row in rows]
            figures[method]['best_below_known'] = sum(
                1 for best in bests if best and not best['known'] and best['enthalpy_per_atom'] < reference_h - 1e-3
            )
            figures[method]['best_space_groups'] = [best and best['space_group'] for best in bests]
        model_landscape = {
            'known_enthalpy_per_atom': reference_h,
            'lowest_found_enthalpy_per_atom': lowest and lowest['enthalpy_per_atom'],
            'lowest_found_minus_known_meV': lowest and round(1000 * (lowest['enthalpy_per_atom'] - reference_h), 1),
            'lowest_found_space_group': lowest and lowest['space_group'],
            'lowest_found_is_known': lowest and lowest['known'],
            'lowest_found_structure': lowest and lowest['structure'],
        }
        print(
            f'{formula}: known {reference_h:.4f} eV/atom; lowest found '
            f'{model_landscape["lowest_found_minus_known_meV"]} '
            f'meV/atom from it ({model_landscape["lowest_found_space_group"]})',
            flush=True,
        )
        learned, random = (figures[m]['median_relaxations_to_first_hit'] for m in ('learning', 'random'))
        ratio = speedup(learned, random, args.budget)
        ratios[formula] = ratio
        ground = None
        if not args.stop_at_hit:
            level = (
                min(
                    [reference_h]
                    + [
                        row['trace'][-1]
                        for rows in runs.values()
                        for row in rows
                        if row['trace'] and row['trace'][-1] is not None
                    ]
                )
                + args.ground_tol
            )
            ground = {'tolerance_eV_per_atom': args.ground_tol, 'enthalpy_per_atom': level - args.ground_tol}
            for method, rows in runs.items():
                hits = [first_within(row['trace'], level) for row in rows]
                ground[method] = {
                    'success_rate': sum(hit is not None for hit in hits) / len(hits),
                    'median_relaxations': median_to_first_hit(hits, args.budget),
                    'first': hits,
                }
            ground['ratio'] = speedup(
                ground['learning']['median_relaxations'], ground['random']['median_relaxations'], args.budget
            )
            ground_ratios[formula] = ground['ratio']
            print(
                f'{formula}: model ground state {ground["enthalpy_per_atom"]:.4f} eV/atom, ratio {ground["ratio"]}',
                flush=True,
            )
        write_result(
            f'search_recovery_{formula.lower()}',
            metric=f'first_hit_speedup_{formula}',
            value=None if ratio is None else round(ratio, 3),
            unit='ratio',
            target=2.0,
            higher_is_better=True,
            target_criterion='median relaxations to the first hit: random search / learning search >= 2',
            known_structure=f'{formula} {symbol}',
            pressure_GPa=args.pressure,
            model=model_path.name,
            model_kind=model_kind,
            budget=args.budget,
            population=args.population,
            initial_population=initial,
            seeds=args.seeds,
            max_atoms=args.max_atoms,
            formula_units=list(units) if units else None,
            prototype_seeding=False,
            min_volume_fraction=args.min_volume_fraction,
            precision=precision,
            hopeless_mev=settings.hopeless_mev,
            stop_at_hit=args.stop_at_hit,
            lower_bound=ratio is not None and random is None,
            learning=figures['learning'],
            random=figures['random'],
            model_landscape=model_landscape,
            model_ground_state=ground,
            runs=runs,
        )
    # the summary covers every target measured with the same settings, so targets can run in separate processes
    for path in sorted(RESULTS_DIR.glob('search_recovery_*.json')):
        other = json.loads(path.read_text())
        name = other.get('known_structure', '').split(' ')[0]
        same = all(
            other.get(key) == value
            for key, value in (
                ('model', model_path.name),
                ('budget', args.budget),
                ('seeds', args.seeds),
                ('population', args.population),
                ('initial_population', initial),
                ('max_atoms', args.max_atoms),
                ('formula_units', list(units) if units else None),
                ('min_volume_fraction', args.min_volume_fraction),
                ('precision', precision),
                ('hopeless_mev', settings.hopeless_mev),
            )
        )
        if name and name not in ratios and same:
            ratios[name] = other.get('value')
            if other.get('model_ground_state') and not args.stop_at_hit:
                ground_ratios[name] = other['model_ground_state'].get('ratio')
    finite = [r for r in ratios.values() if r is not None]
    write_result(
        'search_recovery',
        metric='first_hit_speedup_min_over_targets',
        value=round(min(finite), 3) if finite else None,
        unit='ratio',
        target=2.0,
        higher_is_better=True,
        per_target=ratios,
        earlier_release=EARLIER_RATIOS,
        no_worse_than_earlier=all(
            ratios.get(name) is not None and ratios[name] >= value
            for name, value in EARLIER_RATIOS.items()
            if name in ratios
        ),
        precision=precision,
        hopeless_mev=settings.hopeless_mev,
        model=model_path.name,
        model_kind=model_kind,
        budget=args.budget,
        seeds=args.seeds,
        wall_time_s=round(time.time() - started, 1),
        target_criterion='for every target, median relaxations to the first hit of random search / learning >= 2',
        population=args.population,
        initial_population=initial,
    )
    finite = [r for r in ground_ratios.values() if r is not None]
    if ground_ratios:
        write_result(
            'search_recovery_model_ground_state',
            metric='model_ground_state_speedup_min_over_targets',
            value=round(min(finite), 3) if finite else None,
            unit='ratio',
            target=2.0,
            higher_is_better=True,
            per_target=ground_ratios,
            model=model_path.name,
            model_kind=model_kind,
            budget=args.budget,
            seeds=args.seeds,
            population=args.population,
            tolerance_eV_per_atom=args.ground_tol,
            target_criterion='for every target, median relaxations until the running lowest enthalpy is within the '
            'tolerance of the lowest reached by any run: random search / learning >= 2 (the '
            "project's analogue of the issue's figure for the model's own ground state)",
        )
    print(json.dumps(ratios), json.dumps(ground_ratios), f'results in {RESULTS_DIR}')


if __name__ == '__main__':
    main()
