"""Benchmark: accuracy of the seed DeePMD model on the held-out seed DFT labels.

The held-out frames (10 % of the seed set, chosen by a hash of the frame id before any training, flagged in
``data/seed/manifest.json``) are never used in training. This script merges the committed label pieces into train /
held-out systems, runs ``dp --pt test`` with the frozen model on every held-out system and writes:

* ``benchmarks/results/seed_model_heldout.json``: energy MAE in meV/atom, target 20;
* ``benchmarks/results/seed_model_heldout_force.json``: force MAE in meV/Angstrom, target 200;
* with ``--report FILE``, the full report (also written by ``scripts/train_seed_model.sh`` to
  ``aiida_hydrides/models/seed/heldout.json``).

A model is tested on the held-out frames of the label rounds it was trained with (``--rounds``; by default the
``rounds`` recorded in the ``heldout.json`` report beside the model, else every round): frames of a later round were
chosen where that model fails (a concurrent-learning round labels its own search minima), so they test the next
model, not this one. Their errors under this model are reported as ``later_rounds``, outside the figure.

Usage: ``.venv/bin/python benchmarks/seed_model_heldout.py [--model PATH] [--data data/seed] [--rounds 1,2]
[--report FILE]``.
"""

import argparse
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
sys.path.insert(0, str(ROOT))
from aiida_hydrides.core import seed_configs  # noqa: E402

from _common import write_result  # noqa: E402

MODEL = ROOT / 'aiida_hydrides' / 'models' / 'seed' / 'seed_se_e2_a.pth'
DP = pathlib.Path(sys.executable).parent / 'dp'


def evaluate(model: pathlib.Path, data: pathlib.Path, work: pathlib.Path, rounds=None) -> dict:
    """Split the pieces (of ``rounds``, default all), run ``dp --pt test`` on each held-out system, and return the
    metrics over all their frames."""
    split = seed_configs.collect_split(data, work / 'data', rounds=rounds)
    if not split['heldout']:
        raise SystemExit(f'Error: no held-out frame among the label pieces of {data}')
    env = dict(
        os.environ, OMP_NUM_THREADS='1', DP_INTRA_OP_PARALLELISM_THREADS='1', DP_INTER_OP_PARALLELISM_THREADS='1'
    )
    for index, system in enumerate(split['heldout']):
        subprocess.run(
            [str(DP), '--pt', 'test', '-m', str(model), '-s', system, '-d', str(work / f'detail{index}')],
            check=True,
            capture_output=True,
            env=env,
        )
    merged = work / 'all'
    for suffix in ('.e_peratom.out', '.f.out'):
        rows = [np.atleast_2d(np.loadtxt(path)) for path in sorted(glob.glob(str(work / f'detail*{suffix}')))]
        np.savetxt(str(merged) + suffix, np.concatenate(rows))
    metrics = seed_configs.heldout_metrics(merged)
    return {
        'ntrain': split['ntrain'],
        'nheldout': split['nheldout'],
        'rounds': split['rounds'],
        'heldout_ids': split['ids']['heldout'],
        **metrics,
    }


def model_rounds(model: pathlib.Path):
    """The label rounds recorded in the held-out report beside ``model`` (``None`` when there is none)."""
    report = model.parent / 'heldout.json'
    if report.is_file():
        rounds = json.loads(report.read_text()).get('rounds')
        return [int(r) for r in rounds] if rounds else None
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=pathlib.Path, default=MODEL, help='frozen model (.pth)')
    parser.add_argument('--data', type=pathlib.Path, default=ROOT / 'data' / 'seed', help='seed label set folder')
    parser.add_argument(
        '--rounds',
        default=None,
        help='label rounds whose held-out frames test the model (e.g. 1,2); '
        'default: the rounds of the report beside the model, else all',
    )
    parser.add_argument('--report', type=pathlib.Path, default=None, help='also write the full report here')
    parser.add_argument('--no-results', action='store_true', help='do not write benchmarks/results/*.json')
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f'Error: no model {args.model}; train it with scripts/train_seed_model.sh')
    rounds = [int(r) for r in args.rounds.split(',') if r.strip()] if args.rounds else model_rounds(args.model)
    every = sorted(set(seed_configs.frame_rounds(args.data).values()))
    later = sorted(set(every) - set(rounds)) if rounds else []
    with tempfile.TemporaryDirectory(prefix='seed-heldout-') as work:
        report = evaluate(args.model, args.data, pathlib.Path(work) / 'main', rounds)
        if later:
            try:
                other = evaluate(args.model, args.data, pathlib.Path(work) / 'later', later)
            except SystemExit:  # no held-out frame labelled yet in the later rounds
                other = None
            if other:
                report['later_rounds'] = {
                    key: other[key]
                    for key in ('rounds', 'nheldout', 'energy_mae_mev_per_atom', 'force_mae_mev_per_angstrom')
                }
    report = {
        'model': str(args.model.relative_to(ROOT)) if args.model.is_relative_to(ROOT) else str(args.model),
        'type_map': list(seed_configs.TYPE_MAP),
        **report,
        'targets': {'energy_mae_mev_per_atom': 20.0, 'force_mae_mev_per_angstrom': 200.0},
    }
    if args.report:
        args.report.write_text(json.dumps(report, indent=1) + '\n')
    common = {
        'model': report['model'],
        'ntrain': report['ntrain'],
        'nheldout': report['nheldout'],
        'rounds': report['rounds'],
    }
    if report.get('later_rounds'):
        common['later_rounds'] = report['later_rounds']
    if not args.no_results:
        write_result(
            'seed_model_heldout',
            metric='held-out energy MAE',
            value=round(report['energy_mae_mev_per_atom'], 2),
            unit='meV/atom',
            target=20.0,
            higher_is_better=False,
            energy_rmse=round(report['energy_rmse_mev_per_atom'], 2),
            force_mae_mev_per_angstrom=round(report['force_mae_mev_per_angstrom'], 1),
            **common,
        )
        write_result(
            'seed_model_heldout_force',
            metric='held-out force MAE',
            value=round(report['force_mae_mev_per_angstrom'], 1),
            unit='meV/Angstrom',
            target=200.0,
            higher_is_better=False,
            force_rmse=round(report['force_rmse_mev_per_angstrom'], 1),
            **common,
        )
    print(json.dumps({key: value for key, value in report.items() if key != 'heldout_ids'}, indent=1))


if __name__ == '__main__':
    main()
