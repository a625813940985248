"""Cost of one model call per atom and step, side by side for the ways the search can evaluate its model.

The figure of merit of a LAM structure search is the model call: it is most of the wall time of every relaxation.
This benchmark relaxes N 28-atom Ca-Y-H cells at 200 GPa with the shipped model (CaH6, YH6, CaYH12 and Ca3YH24 cells
of 28 atoms, random symmetric starts, 60 steps of the batched relaxer so that the cells look like those of a search),
then times the model call on that batch (all frames in one call, as the relaxer makes it) for:

- ``float64-native``: the compressed model as shipped, with deepmd-kit's dense all-pairs neighbour list (the
  setting of earlier releases);
- ``float64-vesin``: the same model with the O(N) cell-list neighbour list of vesin (deepmd-kit's own
  ``nlist_backend='auto'`` once vesin is installed; now a dependency): what the search evaluates;
- ``float32-vesin``: the float32 copy of the compressed model (``aiida_hydrides.core.lam.compress``), cheaper per
  call but not the search's default (more optimizer steps per relaxation, see ``campaign_projection.py``).

Each configuration runs in a fresh process with the given number of threads (default 1); every configuration's
figure is the median of ``--repeats`` timed calls after one untimed call. Reported: milliseconds per frame and per
atom-step (call time / frames / atoms), and the largest energy, force and virial differences from the float64 model.
With ``--accuracy`` the float32 copy's held-out errors and its ranking of the search minima against DFT are measured
too (``seed_model_heldout.py`` and ``search_minima_dft.py`` on the float32 copy, results
``seed_model_heldout_float32*.json`` and ``search_minima_dft_float32.json``) and compared with the float64 model's
committed figures (the target: no worse than 10 %).

With ``--fast MODEL`` a trained model of a cheaper architecture (e.g. ``ARCH=fast scripts/train_seed_model.sh``: a
4 Å cut-off and a narrower embedding) is timed the same way (``fast-float32-vesin``), and both models' held-out errors
(``seed_model_heldout.py``, the same held-out frames) and rankings of the search minima against DFT
(``search_minima_dft.py``) are measured in the same run; the figures are reported under ``fast`` with their relative
changes (the target: no worse than 10 %).

Writes ``results/lam_model_cost.json`` (value: ms per atom-step at the given threads in the configuration the search
evaluates, ``SEARCH_PRECISION``-vesin; with ``--fast`` ``fast_value``, the fast model's in the same configuration).

Usage: python benchmarks/lam_model_cost.py [--n 24] [--threads 1] [--repeats 7] [--accuracy] [--fast MODEL]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--n', type=int, default=24, help='number of 28-atom cells in the batch')
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--repeats', type=int, default=7)
parser.add_argument('--model', default=None, help='model file (default: the shipped model)')
parser.add_argument(
    '--probe',
    default=None,
    help='another frozen model of the same type map timed as float32-vesin for its cost only (e.g. a smaller cut-off '
    'architecture, untrained); reported under probe',
)
parser.add_argument('--accuracy', action='store_true', help='also the float32 copy held-out and ranking figures')
parser.add_argument(
    '--fast',
    default=None,
    help='a trained model of a cheaper architecture (same type map): timed as fast-float32-vesin, and its held-out '
    'and ranking figures measured beside those of the model',
)
parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)  # one configuration, in its own process
parser.add_argument('--cells', default=None, help=argparse.SUPPRESS)
args = parser.parse_args()

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

CONFIGS = {
    'float64-native': {'precision': 'float64', 'nlist': 'native'},
    'float64-vesin': {'precision': 'float64', 'nlist': 'auto'},
    'float32-vesin': {'precision': 'float32', 'nlist': 'auto'},
}
TARGET_MS_PER_ATOM_STEP = 0.12
BASELINE_MS_PER_ATOM_STEP = 0.27


def make_cells(model: str, path: pathlib.Path) -> None:
    """The batch: N relaxed-looking 28-atom cells, written as extended XYZ (made once per run, float64 model)."""
    import ase.io
    import numpy as np

    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.relax import relax_structures
    from aiida_hydrides.core.search.generator import RandomStructureGenerator, formula_unit

    rng = np.random.default_rng(2026)
    generators = [
        RandomStructureGenerator(formula_unit(f), pressure_gpa=200.0, max_atoms=28, formula_units=(n,))
        for f, n in (('CaH6', 4), ('YH6', 4), ('CaYH12', 2), ('Ca3YH24', 1))
    ]
    cells = []
    while len(cells) < args.n:
        atoms = generators[len(cells) % len(generators)].generate(rng)
        if len(atoms) == 28:
            cells.append(atoms)
    evaluator = load_model(model, compress=True)
    relaxed = relax_structures(cells, evaluator, pressure_gpa=200.0, max_steps=60, fmax=0.05)
    ase.io.write(path, [r.atoms for r in relaxed], format='extxyz')


def worker() -> None:
    """Time one configuration (this process only) and print its figures as JSON."""
    import statistics
    import time

    import ase.io
    import numpy as np

    from aiida_hydrides.core.lam.model import NLIST_BACKEND_VARIABLE, load_model

    config = CONFIGS[args.worker]
    os.environ[NLIST_BACKEND_VARIABLE] = config['nlist']
    cells = ase.io.read(args.cells, index=':')
    evaluator = load_model(args.model, threads=args.threads, compress=True, precision=config['precision'])
    numbers = [a.numbers for a in cells]
    positions = [a.positions for a in cells]
    boxes = [np.asarray(a.cell) for a in cells]
    raw = evaluator.compute(numbers, positions, boxes)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        evaluator.compute(numbers, positions, boxes)
        times.append(time.perf_counter() - start)
    call = statistics.median(times)
    atoms = sum(len(a) for a in cells)
    print(
        json.dumps(
            {
                'ms_per_frame': 1000 * call / len(cells),
                'ms_per_atom_step': 1000 * call / atoms,
                'call_s': times,
                'model_file': evaluator.path.name,
                'energies': raw.energies.tolist(),
                'forces': np.concatenate(raw.forces).tolist(),
                'virials': raw.virials.tolist(),
            }
        )
    )


def run_config(name: str, model: str, cells: pathlib.Path) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(args.threads),
        DP_INTRA_OP_PARALLELISM_THREADS=str(args.threads),
        DP_INTER_OP_PARALLELISM_THREADS='1',
    )
    command = [sys.executable, __file__, '--worker', name, '--cells', str(cells), '--model', model]
    command += ['--threads', str(args.threads), '--repeats', str(args.repeats), '--n', str(args.n)]
    process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if process.returncode != 0:
        sys.exit(f'{name} failed: {process.stderr[-2000:]}')
    return json.loads(process.stdout.strip().splitlines()[-1])


def accuracy(model: str) -> dict:
    """Held-out and ranking figures of the float32 copy beside the committed float64 ones."""
    from aiida_hydrides.core.lam.compress import inference_model

    copy = inference_model(model, compress=True, precision='float32')
    results = HERE / 'results'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    subprocess.run(
        [sys.executable, str(HERE / 'seed_model_heldout.py'), '--model', str(copy), '--rounds', '1,2', '--no-results',
         '--report', str(results / 'seed_model_heldout_float32.json')],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(HERE / 'search_minima_dft.py'), '--model', str(copy), '--name',
         'search_minima_dft_float32'],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    heldout64 = json.loads((results / 'seed_model_heldout.json').read_text())
    heldout32 = json.loads((results / 'seed_model_heldout_float32.json').read_text())
    ranking64 = json.loads((results / 'search_minima_dft_source_model.json').read_text())
    ranking32 = json.loads((results / 'search_minima_dft_float32.json').read_text())

    def pair(a, b):
        return {'float64': a, 'float32': b, 'relative_change': (b - a) / a if a else None}

    figures = {
        'heldout_energy_mae_mev_per_atom': pair(heldout64['value'], heldout32['energy_mae_mev_per_atom']),
        'heldout_force_mae_mev_per_angstrom': pair(
            heldout64['force_mae_mev_per_angstrom'], heldout32['force_mae_mev_per_angstrom']
        ),
        'search_minima_relative_enthalpy_mae_mev_per_atom': pair(ranking64['value'], ranking32['value']),
    }
    figures['within_10_percent'] = all(
        item['relative_change'] is None or item['relative_change'] <= 0.10
        for key, item in figures.items()
        if isinstance(item, dict)
    )
    return figures


def model_figures(model: str, work: pathlib.Path) -> dict:
    """Held-out energy and force MAE (all label rounds) and the search-minima ranking MAE of ``model`` (float64)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', HYDRIDES_BENCHMARK_RESULTS=str(work))
    report = work / 'heldout.json'
    for command in (
        [str(HERE / 'seed_model_heldout.py'), '--model', model, '--rounds', '1,2,3', '--no-results', '--report',
         str(report)],
        [str(HERE / 'search_minima_dft.py'), '--model', model, '--name', 'ranking'],
    ):  # fmt: skip
        process = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True, check=False)
        if process.returncode != 0:
            sys.exit(f'{command[0]} failed for {model}: {process.stderr[-2000:]}')
    heldout = json.loads(report.read_text())
    ranking = json.loads((work / 'ranking.json').read_text())
    return {
        'heldout_energy_mae_mev_per_atom': round(heldout['energy_mae_mev_per_atom'], 2),
        'heldout_force_mae_mev_per_angstrom': round(heldout['force_mae_mev_per_angstrom'], 1),
        'heldout_frames': heldout['nheldout'],
        'search_minima_relative_enthalpy_mae_mev_per_atom': ranking['value'],
        'search_minima_inversions_over_10_mev': len(ranking.get('inversions_over_10_meV') or []),
    }


def fast_comparison(model: str, fast: str, timed: dict, table: dict) -> dict:
    """The fast model against ``model``: cost per configuration (beside the model's own in ``table``), held-out
    errors and ranking, measured now for both."""
    import tempfile

    from _common import model_md5

    with tempfile.TemporaryDirectory(prefix='hydrides-fast-model-') as work:
        (pathlib.Path(work) / 'model').mkdir()
        (pathlib.Path(work) / 'fast').mkdir()
        shipped = model_figures(model, pathlib.Path(work) / 'model')
        candidate = model_figures(fast, pathlib.Path(work) / 'fast')
    changes = {
        key: (candidate[key] - shipped[key]) / shipped[key] if shipped[key] else None
        for key in shipped
        if key.endswith(('atom', 'angstrom'))
    }
    return {
        'model': fast,
        'model_md5': model_md5(fast),
        'configurations': {
            name: {
                'ms_per_frame': round(item['ms_per_frame'], 3),
                'ms_per_atom_step': round(item['ms_per_atom_step'], 4),
                'speedup_vs_model': round(table[name]['ms_per_atom_step'] / item['ms_per_atom_step'], 3),
            }
            for name, item in timed.items()
        },
        'figures': {'model': shipped, 'fast': candidate},
        'relative_change': {key: round(value, 4) if value is not None else None for key, value in changes.items()},
        'within_10_percent': all(value is None or value <= 0.10 for value in changes.values()),
    }


def main() -> None:
    import tempfile

    import numpy as np

    from aiida_hydrides.core.lam.compress import SEARCH_PRECISION

    from _common import pick_model, write_result

    model, kind = pick_model(args.model)
    with tempfile.TemporaryDirectory(prefix='hydrides-model-cost-') as work:
        cells = pathlib.Path(work) / 'cells.extxyz'
        make_cells(str(model), cells)
        figures = {name: run_config(name, str(model), cells) for name in CONFIGS}
        probe = run_config('float32-vesin', args.probe, cells) if args.probe else None
        fast = (
            {name: run_config(name, args.fast, cells) for name in ('float64-vesin', 'float32-vesin')}
            if args.fast
            else None
        )
    reference = figures['float64-native']
    natoms = 28
    table = {}
    for name, item in figures.items():
        table[name] = {
            'ms_per_frame': round(item['ms_per_frame'], 3),
            'ms_per_atom_step': round(item['ms_per_atom_step'], 4),
            'model_file': item['model_file'],
            'max_abs_energy_diff_mev_per_atom': float(
                np.abs(np.array(item['energies']) - reference['energies']).max() / natoms * 1000
            ),
            'max_abs_force_diff_mev_per_angstrom': float(
                np.abs(np.array(item['forces']) - reference['forces']).max() * 1000
            ),
            'max_abs_virial_diff_mev': float(np.abs(np.array(item['virials']) - reference['virials']).max() * 1000),
        }
    # the configuration the search jobs evaluate (their default precision, vesin neighbour lists)
    searched = f'{SEARCH_PRECISION}-vesin'
    value = table[searched]['ms_per_atom_step']
    extra = {'accuracy': accuracy(str(model))} if args.accuracy else {}
    if fast is not None:
        extra['fast'] = fast_comparison(str(model), args.fast, fast, table)
        extra['fast_value'] = extra['fast']['configurations'][searched]['ms_per_atom_step']
    if probe is not None:
        extra['probe'] = {
            'model': args.probe,
            'ms_per_frame': round(probe['ms_per_frame'], 3),
            'ms_per_atom_step': round(probe['ms_per_atom_step'], 4),
            'note': 'timed for its cost only (float32, compressed, vesin); its weights are not a trained model',
        }
    write_result(
        'lam_model_cost',
        metric=f'model call per atom-step ({searched}, as the search evaluates it), {args.threads} thread(s), 28-atom '
        'Ca-Y-H cells at 200 GPa',
        value=value,
        unit='ms',
        target=TARGET_MS_PER_ATOM_STEP,
        higher_is_better=False,
        baseline_issue_ms_per_atom_step=BASELINE_MS_PER_ATOM_STEP,
        configurations=table,
        speedup_vs_float64_native=table['float64-native']['ms_per_atom_step'] / value,
        n_frames=args.n,
        atoms_per_frame=natoms,
        threads=args.threads,
        repeats=args.repeats,
        model=str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        model_kind=kind,
        load_average=list(os.getloadavg()),
        note='each configuration timed in its own process, one after the other, in the same run',
        **extra,
    )


if __name__ == '__main__':
    if args.worker:
        sys.path.insert(0, str(ROOT))
        if args.model is None:
            sys.exit('--worker needs --model')
        worker()
    else:
        main()
