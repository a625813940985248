"""Where the search's budget goes: each way of not wasting relaxations, switched on and off, in one run.

The structure search (``aiida_hydrides.core.search.run_search``, the engine of the search jobs) runs with the shipped
model at 200 GPa over Ca-Y-H compositions (protocol ``fast`` tolerances: fmax 0.1 eV/Å, 1 GPa, at most 200 steps),
the same seeds and budget, with:

- ``off``: every relaxation runs to its end, every composition spends its budget;
- ``hopeless``: random candidates still ``--hopeless-mev`` (300 meV/atom) above the composition's best after
  ``hopeless_after`` (20) steps stop (``SearchSettings.hopeless_mev``; off by default);
- ``stagnation``: ``hopeless`` plus compositions stop after ``--stagnation`` generations without a better minimum
  (``SearchSettings.stagnation_generations``; off by default in the protocols);

all with the float32 model copy the search jobs use. Per setting: wall time, relaxations, optimizer steps,
atom-steps, relaxations per hour and, per composition, the best enthalpy found and whether it is the best of the
``off`` run (within 2 meV/atom: the same answer for less). Writes ``results/search_budget.json``: value = relaxations
per hour with ``hopeless`` / ``off`` (the setting's speed-up at equal budget).

Usage: python benchmarks/search_budget.py [--budget 48] [--compositions CaH6,YH6,CaYH12,YH9,CaY2H18]
"""

import argparse
import json
import os
import pathlib
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--compositions', default='CaH6,YH6,CaH4,YH9,CaYH12,CaY2H18')
parser.add_argument('--budget', type=int, default=48)
parser.add_argument('--population', type=int, default=12)
parser.add_argument('--max-atoms', type=int, default=24)
parser.add_argument('--seeds', default='0,1', help='search seeds (each composition is searched once per seed)')
parser.add_argument('--stagnation', type=int, default=2, help='generations without improvement for "stagnation"')
parser.add_argument('--hopeless-mev', type=float, default=300.0, help='the ceiling of "hopeless" (meV/atom)')
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--model', default=None)
args = parser.parse_args()

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from _common import pick_model, set_model_threads, write_result  # noqa: E402

set_model_threads(args.threads)

import numpy as np  # noqa: E402

SETTINGS = {
    'off': {'hopeless_mev': 0.0, 'stagnation_generations': 0},
    'hopeless': {'hopeless_mev': args.hopeless_mev, 'stagnation_generations': 0},
    'stagnation': {'hopeless_mev': args.hopeless_mev, 'stagnation_generations': args.stagnation},
}
SAME_TOL_MEV = 2.0


def main():
    from aiida_hydrides.core.lam.compress import SEARCH_PRECISION
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.search.engine import SearchSettings, run_search
    from aiida_hydrides.core.search.generator import formula_unit

    model, kind = pick_model(args.model)
    evaluator = load_model(model, threads=args.threads, compress=True, precision=SEARCH_PRECISION)
    formulas = [item.strip() for item in args.compositions.split(',') if item.strip()]
    seeds = [int(item) for item in args.seeds.split(',') if item.strip()]
    runs = {}
    for name, overrides in SETTINGS.items():
        rows = []
        start_all = time.perf_counter()
        for seed in seeds:
            for formula in formulas:
                settings = SearchSettings(
                    pressure_gpa=200.0,
                    budget=args.budget,
                    population=args.population,
                    max_atoms=args.max_atoms,
                    fmax=0.1,
                    stress_tol_gpa=1.0,
                    max_steps=200,
                    seed=seed,
                    **overrides,
                )
                start = time.perf_counter()
                result = run_search(formula, evaluator, settings)
                wall = time.perf_counter() - start
                natoms = np.array([len(result.structure(i)) for i in range(len(result))])
                steps = np.array(result.n_steps)
                rows.append(
                    {
                        'formula': formula,
                        'seed': seed,
                        'relaxations': len(result),
                        'steps': int(steps.sum()),
                        'atom_steps': int((steps * natoms).sum()),
                        'wall_s': wall,
                        'flags': result.counts('flags'),
                        'stop_reason': result.stop_reason,
                        'best_enthalpy_per_atom': result.best_enthalpy_per_atom,
                        'atoms_per_unit': sum(formula_unit(formula).values()),
                    }
                )
                print(f'{name:10s} {formula:8s} seed {seed}: {len(result)} relaxations, {wall:.1f} s', flush=True)
        wall = time.perf_counter() - start_all
        relaxations = sum(r['relaxations'] for r in rows)
        runs[name] = {
            'settings': overrides,
            'wall_s': wall,
            'relaxations': relaxations,
            'steps': sum(r['steps'] for r in rows),
            'atom_steps': sum(r['atom_steps'] for r in rows),
            'relaxations_per_hour': relaxations / wall * 3600,
            'rows': rows,
        }
    reference = {(r['formula'], r['seed']): r['best_enthalpy_per_atom'] for r in runs['off']['rows']}
    for item in runs.values():
        same = [
            abs(r['best_enthalpy_per_atom'] - reference[(r['formula'], r['seed'])]) * 1000 <= SAME_TOL_MEV
            or r['best_enthalpy_per_atom'] < reference[(r['formula'], r['seed'])]
            for r in item['rows']
        ]
        item['searches_with_the_same_or_a_lower_best'] = f'{sum(same)}/{len(same)}'
        item['mean_best_difference_mev_per_atom'] = float(
            np.mean([(r['best_enthalpy_per_atom'] - reference[(r['formula'], r['seed'])]) * 1000 for r in item['rows']])
        )
    value = runs['hopeless']['relaxations_per_hour'] / runs['off']['relaxations_per_hour']
    write_result(
        'search_budget',
        metric='relaxations per hour with hopeless relaxations stopped / every relaxation to its end',
        value=round(value, 3),
        unit='x',
        target=None,
        higher_is_better=True,
        note='one part of the 2x structures-per-hour figure of search_throughput.json; the issue sets none for it',
        summary={
            name: {k: v for k, v in item.items() if k != 'rows'}
            | {'relaxations_per_hour': item['relaxations_per_hour']}
            for name, item in runs.items()
        },
        runs=runs,
        compositions=formulas,
        seeds=seeds,
        budget=args.budget,
        population=args.population,
        max_atoms=args.max_atoms,
        model=str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        model_kind=kind,
        load_average=list(os.getloadavg()),
    )
    print(json.dumps({name: item['relaxations_per_hour'] for name, item in runs.items()}))


if __name__ == '__main__':
    main()
