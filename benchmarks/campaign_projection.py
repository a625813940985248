"""Cost model of the study's campaign: measured cost per relaxation against cell size, projected over the whole
composition space.

The study searched 217,728 ternary compositions A_mB_nH_x (29 elements, m, n <= 4, 3(m+n) <= x <= 10(m+n); this
project's ``count_space_compositions()``) with about 167 relaxed structures each (36.4 million). This benchmark:

1. runs the structure search (``aiida_hydrides.core.search.run_search``, the engine the search jobs run) with the
   shipped model at 200 GPa over Ca-Y-H cells of 7 to 84 atoms, a small
   budget each, with the search's settings as they are now and, side by side in the same run, with the settings of
   earlier releases (float64 model, deepmd-kit's dense neighbour list, no early stop of hopeless relaxations);
2. records for each composition the wall time, the relaxations, the optimizer steps and the atom-steps
   (steps x atoms), and fits the wall time per relaxation as ``a + b * atoms``, and the atom-steps per relaxation;
3. projects the campaign: for every composition of the study's space, ``167`` relaxations of a cell of one formula
   composition as the space writes it (A_mB_nH_x itself: 5 to 88 atoms, 41 on average), summed, on this machine
   with one search job per core.

Writes ``results/campaign_projection.json``: value = projected hours on this machine with the current settings (all
cores); the baseline's figure and the naive projection (36.4 M structures at the measured Ca-Y system-search rate)
beside it. No GPU projection is made on a machine without one (the field ``gpu`` says so).

``--float32`` adds the configuration ``float32``: the current settings with float32 model calls, which tells what
the float32 copy changes alone (the cost per call and the optimizer steps per relaxation). ``--fast MODEL`` adds a
configuration, ``fast``: the current settings with a model of the cheaper architecture
(``ARCH=fast scripts/train_seed_model.sh``, shipped as ``aiida_hydrides/models/seed-fast``); its projection is reported
under ``fast_hours``. ``--reuse`` takes the configurations already measured in the committed result (same model file,
budget, threads and step limit) instead of measuring them again.

Usage: python benchmarks/campaign_projection.py [--budget 12] [--threads 1] [--float32] [--fast MODEL] [--reuse]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--budget', type=int, default=12, help='relaxations per composition')
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--max-steps', type=int, default=200)
parser.add_argument('--model', default=None)
parser.add_argument('--fast', default=None, help='a model of the fast architecture, measured as the configuration fast')
parser.add_argument('--reuse', action='store_true', help='reuse the configurations of the committed result')
parser.add_argument(
    '--float32',
    action='store_true',
    help='also measure the current settings with float32 model calls (configuration float32)',
)
parser.add_argument('--configuration', default=None, help=argparse.SUPPRESS)  # one configuration in its own process
args = parser.parse_args()

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

#: cells measured, (reduced formula, formula units per cell): 7 to 84 atoms, the range of the study's compositions
COMPOSITIONS = (
    ('CaH6', 1),
    ('YH9', 1),
    ('CaYH12', 1),
    ('CaY2H18', 1),
    ('Ca3YH24', 1),
    ('Ca2Y3H30', 1),
    ('CaY4H40', 1),
    ('CaYH12', 4),
    ('Ca2Y3H30', 2),
    ('Ca3YH24', 3),
)
STRUCTURES_PER_COMPOSITION = 167
CONFIGURATIONS = {
    # the search's settings now: float64 model calls (SEARCH_PRECISION), vesin neighbour lists
    'current': {'precision': 'float64', 'nlist': 'auto', 'hopeless_mev': None},
    'earlier': {'precision': 'float64', 'nlist': 'native', 'hopeless_mev': 0.0},
    # the current settings with float32 model calls (--float32): what the float32 copy changes, alone
    'float32': {'precision': 'float32', 'nlist': 'auto', 'hopeless_mev': None},
    'fast': {'precision': 'float64', 'nlist': 'auto', 'hopeless_mev': None},  # with the --fast model
}


def measure(name: str) -> dict:
    """Run the searches of one configuration in this process; per composition: wall, relaxations, steps, atoms."""
    import time

    import numpy as np

    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.lam.model import NLIST_BACKEND_VARIABLE, load_model
    from aiida_hydrides.core.search.engine import SearchSettings, run_search
    from aiida_hydrides.core.search.generator import formula_unit

    config = CONFIGURATIONS[name]
    os.environ[NLIST_BACKEND_VARIABLE] = config['nlist']
    evaluator = load_model(args.model, threads=args.threads, compress=True, precision=config['precision'])
    overrides = {} if config['hopeless_mev'] is None else {'hopeless_mev': config['hopeless_mev']}
    rows = []
    for formula, units in COMPOSITIONS:
        natoms = units * sum(formula_unit(formula).values())
        settings = SearchSettings(
            pressure_gpa=200.0,
            budget=args.budget,
            population=max(2, args.budget // 2),
            max_atoms=natoms,
            formula_units=(units,),
            fmax=0.1,
            stress_tol_gpa=1.0,
            max_steps=args.max_steps,
            seed=0,
            **overrides,
        )
        start = time.perf_counter()
        model_before = evaluator.timings['model_s']
        try:
            result = run_search(formula, evaluator, settings)
        except HydridesInputError as error:  # a cell the random generator cannot fill: recorded, not fitted
            rows.append({'formula': formula, 'formula_units': units, 'atoms': natoms, 'skipped': str(error)})
            continue
        wall = time.perf_counter() - start
        steps = np.array(result.n_steps)
        rows.append(
            {
                'formula': formula,
                'formula_units': units,
                'atoms': natoms,
                'relaxations': len(result),
                'steps': int(steps.sum()),
                'atom_steps': int(steps.sum() * natoms),
                'wall_s': wall,
                'model_s': evaluator.timings['model_s'] - model_before,
                'flags': result.counts('flags'),
                'best_enthalpy_per_atom': result.best_enthalpy_per_atom,
            }
        )
    return {'rows': rows}


def fit(rows) -> dict:
    import numpy as np

    rows = [r for r in rows if 'skipped' not in r]

    atoms = np.array([r['atoms'] for r in rows], dtype=float)
    per_relax = np.array([r['wall_s'] / r['relaxations'] for r in rows])
    steps_per_relax = np.array([r['steps'] / r['relaxations'] for r in rows])
    slope, intercept = np.polyfit(atoms, per_relax, 1)
    step_slope, step_intercept = np.polyfit(atoms, steps_per_relax, 1)
    atom_steps = sum(r['atom_steps'] for r in rows)
    wall = sum(r['wall_s'] for r in rows)
    return {
        'wall_s_per_relaxation': {'a': float(intercept), 'b_per_atom': float(slope)},
        'steps_per_relaxation': {'a': float(step_intercept), 'b_per_atom': float(step_slope)},
        'ms_per_atom_step_whole_search': 1000 * wall / atom_steps,
        'ms_per_atom_step_model_call': 1000 * sum(r['model_s'] for r in rows) / atom_steps,
        'mean_steps_per_relaxation': float(steps_per_relax.mean()),
    }


def project(model: dict, cores: int) -> dict:
    from aiida_hydrides.core.compositions import count_space_compositions, iter_space_compositions

    a, b = model['wall_s_per_relaxation']['a'], model['wall_s_per_relaxation']['b_per_atom']
    total_s = 0.0
    atoms_sum = 0
    count = 0
    for composition in iter_space_compositions():
        natoms = composition.num_atoms
        atoms_sum += natoms
        count += 1
        total_s += STRUCTURES_PER_COMPOSITION * max(a + b * natoms, 0.0)
    assert count == count_space_compositions()
    return {
        'compositions': count,
        'structures': count * STRUCTURES_PER_COMPOSITION,
        'mean_atoms_per_cell': atoms_sum / count,
        'core_hours': total_s / 3600,
        'hours_on_this_machine': total_s / 3600 / cores,
    }


def reusable(model_files: dict) -> dict:
    """Measurements of the committed result that a run with the same settings would repeat, by configuration."""
    from _common import RESULTS_DIR, model_md5

    path = RESULTS_DIR / 'campaign_projection.json'
    if not path.is_file():
        return {}
    committed = json.loads(path.read_text())
    # results written before these fields were recorded ran with the defaults and one model for both configurations
    recorded = (
        committed.get('budget_per_composition'),
        committed.get('threads', parser.get_default('threads')),
        committed.get('max_steps', parser.get_default('max_steps')),
    )
    same = recorded == (args.budget, args.threads, args.max_steps)
    md5s = committed.get('model_md5_by_configuration') or dict.fromkeys(
        ('current', 'earlier'), committed.get('model_md5')
    )
    return {
        name: item
        for name, item in (committed.get('measurements') or {}).items()
        if same and name in model_files and md5s.get(name) == model_md5(str(model_files[name]))
    }


def main() -> None:
    from _common import model_md5, pick_model, write_result

    model, kind = pick_model(args.model)
    model_files = {name: model for name in ('current', 'earlier')}
    if args.float32:
        model_files['float32'] = model
    if args.fast:
        model_files['fast'] = pathlib.Path(args.fast).resolve()
    measured = reusable(model_files) if args.reuse else {}
    for name in model_files:
        if name in measured:
            print(f'{name}: measurements of the committed result reused', flush=True)
            continue
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), DP_INTRA_OP_PARALLELISM_THREADS=str(args.threads))
        command = [sys.executable, __file__, '--configuration', name, '--model', str(model_files[name])]
        command += ['--budget', str(args.budget), '--threads', str(args.threads), '--max-steps', str(args.max_steps)]
        process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if process.returncode != 0:
            sys.exit(f'{name} failed: {process.stderr[-3000:]}')
        measured[name] = json.loads(process.stdout.strip().splitlines()[-1])
    cores = os.cpu_count() or 1
    models = {name: fit(item['rows']) for name, item in measured.items()}
    projections = {name: project(models[name], cores) for name in models}
    throughput = HERE / 'results' / 'search_throughput.json'
    naive = None
    if throughput.exists():
        rate = json.loads(throughput.read_text())
        structures = projections['current']['structures']
        naive = {
            'structures_per_hour': rate['value'],
            'hours': structures / rate['value'],
            'note': 'the study campaign at the Ca-Y system-search rate (cells of 1-24 atoms, so an underestimate)',
        }
    write_result(
        'campaign_projection',
        metric="projected wall time of the study's campaign (217,728 compositions x 167 structures) on this machine",
        value=round(projections['current']['hours_on_this_machine'], 1),
        unit='hours',
        target=None,
        higher_is_better=False,
        note='the issue sets no figure; the projection is the deliverable',
        baseline_hours=round(projections['earlier']['hours_on_this_machine'], 1),
        speedup_vs_earlier_settings=projections['earlier']['hours_on_this_machine']
        / projections['current']['hours_on_this_machine'],
        cores=cores,
        jobs='one search job per core, one thread each',
        assumptions=[
            'one cell of the composition as written (A_mB_nH_x, 5-88 atoms) per structure, as the study counts them',
            f'{STRUCTURES_PER_COMPOSITION} relaxations per composition (36.4 M / 217,728), at fmax 0.1 eV/A, '
            f'stress 1 GPa, at most {args.max_steps} steps (the search protocol "fast")',
            'wall time per relaxation linear in the atoms per cell, fitted on Ca-Y-H at 200 GPa (7-84 atoms); '
            'the cost of other elements is taken to be the same per atom',
        ],
        cost_model=models,
        projection=projections,
        naive_projection=naive,
        gpu={'measured': False, 'note': 'no GPU on this machine; run this script on a GPU machine to add it'},
        fast_hours=round(projections['fast']['hours_on_this_machine'], 1) if 'fast' in projections else None,
        fast_speedup_vs_current=(
            projections['current']['hours_on_this_machine'] / projections['fast']['hours_on_this_machine']
            if 'fast' in projections
            else None
        ),
        float32_hours=round(projections['float32']['hours_on_this_machine'], 1) if 'float32' in projections else None,
        model_md5_by_configuration={name: model_md5(str(path)) for name, path in model_files.items()},
        threads=args.threads,
        max_steps=args.max_steps,
        measurements=measured,
        budget_per_composition=args.budget,
        model=str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        model_kind=kind,
        load_average=list(os.getloadavg()),
    )


if __name__ == '__main__':
    if args.configuration:
        print(json.dumps(measure(args.configuration)))
    else:
        main()
