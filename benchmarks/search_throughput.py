"""Throughput and storage of a whole system search: ``hydrides.search.system`` on Ca-Y at 200 GPa, run in a fresh
SQLite + ZeroMQ profile of its own (a temporary ``AIIDA_PATH``), through the same path as ``aiida-hydrides search``.

Figures: structures relaxed per hour on this machine (every sampled structure is relaxed; wall time of the whole work
chain, with ``--max-jobs`` SearchCalculations at a time, one core each), nodes created per 1000 sampled structures, and
database size (SQLite file + file repository) per 1000 sampled structures. The storage targets follow the brief: the
samples live in one array node per job, so nodes per 1000 samples must stay far below 1000 (target <= 50) and the
database small (target <= 10 MB per 1000 samples). Results: ``results/search_throughput.json`` (rate) and
``results/search_storage_nodes.json``, ``results/search_storage_size.json``.

Usage: python benchmarks/search_throughput.py [--compositions CaH6,YH6,...] [--budget 48] [--max-jobs 2]
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument(
    '--compositions',
    default='Ca,Y,H,CaH6,YH6,CaH4,YH4,YH9,CaYH12,CaY2H18',
    help='formulas of the Ca-Y system to search',
)
parser.add_argument('--budget', type=int, default=48, help='relaxations per composition')
parser.add_argument('--population', type=int, default=12)
parser.add_argument('--max-atoms', type=int, default=24)
parser.add_argument('--max-steps', type=int, default=200)
parser.add_argument('--per-job', type=int, default=5, help='compositions per SearchCalculation')
parser.add_argument('--max-jobs', type=int, default=2, help='SearchCalculations at a time (one core each)')
parser.add_argument('--model', default=None, help='model file (default: the seed model if present, else the tiny one)')
parser.add_argument('--keep', action='store_true', help='keep the temporary profile folder')
args = parser.parse_args()

import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import pick_model, write_result  # noqa: E402

workdir = pathlib.Path(tempfile.mkdtemp(prefix='hydrides-search-bench-'))
os.environ['AIIDA_PATH'] = str(workdir)
os.environ.pop('AIIDA_PROFILE', None)
os.environ.setdefault('OMP_NUM_THREADS', '1')


def folder_size(path: pathlib.Path) -> int:
    return sum(item.stat().st_size for item in path.rglob('*') if item.is_file())


def main():
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.profile import ensure_localhost, ensure_profile
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    model_path, model_kind = pick_model(args.model)
    profile = ensure_profile(name='search-benchmark')
    ensure_localhost()
    code = ensure_lam_code('localhost')
    nodes_before = orm.QueryBuilder().append(orm.Node).count()
    storage = pathlib.Path(profile.storage_config['filepath'])
    size_before = folder_size(storage)

    formulas = [item.strip() for item in args.compositions.split(',') if item.strip()]
    overrides = {
        'parameters': {
            'budget': args.budget,
            'population': args.population,
            'max_atoms': args.max_atoms,
            'max_steps': args.max_steps,
            'seed': 0,
        },
        'max_concurrent_jobs': args.max_jobs,
        'compositions_per_job': args.per_job,
    }
    model = orm.SinglefileData(model_path).store()
    builder = SystemSearchWorkChain.get_builder_from_protocol(
        code, 'Ca-Y', model, pressure=200.0, protocol='fast', overrides=overrides, compositions=formulas
    )
    start = time.perf_counter()
    _, node = run_get_node(builder)
    wall = time.perf_counter() - start
    if not node.is_finished_ok:
        raise SystemExit(f'SystemSearchWorkChain<{node.pk}> failed: {node.exit_status} {node.exit_message}')

    summary = node.outputs.summary.get_dict()
    sampled = sum(entry.get('n_relaxations') or 0 for entry in summary['compositions'].values())
    nodes = orm.QueryBuilder().append(orm.Node).count() - nodes_before
    by_type = {}
    for (node_type,) in orm.QueryBuilder().append(orm.Node, project='node_type').iterall():
        by_type[node_type] = by_type.get(node_type, 0) + 1
    size = folder_size(storage) - size_before
    per_hour = sampled / wall * 3600
    common = dict(
        model=str(model_path.relative_to(HERE.parent)) if model_path.is_relative_to(HERE.parent) else str(model_path),
        model_kind=model_kind,
        system='Ca-Y',
        pressure_gpa=200.0,
        compositions=formulas,
        settings={
            **overrides['parameters'],
            'max_jobs': args.max_jobs,
            'per_job': args.per_job,
            'fmax': 0.1,
            'stress_tol_gpa': 1.0,
            'protocol': 'fast',
        },
        sampled_structures=sampled,
        wall_s=round(wall, 1),
        nodes_created=nodes,
        minima=summary['n_minima'],
        database_bytes=size,
        node_types=by_type,
        per_composition={
            formula: {
                key: entry.get(key)
                for key in ('n_relaxations', 'n_minima', 'best_space_group_symbol', 'best_enthalpy_per_atom', 'wall_s')
            }
            for formula, entry in summary['compositions'].items()
        },
    )
    outputs = [
        write_result(
            'search_throughput',
            metric='structures relaxed per hour (whole system search)',
            value=round(per_hour, 1),
            unit='structures/hour',
            target=None,
            higher_is_better=True,
            note=f'{args.max_jobs} jobs at a time, one core each; the issue sets no figure',
            **common,
        ),
        write_result(
            'search_storage_nodes',
            metric='nodes created per 1000 sampled structures',
            value=round(nodes / sampled * 1000, 2),
            unit='nodes/1000 structures',
            target=50,
            higher_is_better=False,
            **common,
        ),
        write_result(
            'search_storage_size',
            metric='database size per 1000 sampled structures',
            value=round(size / sampled * 1000 / 1e6, 3),
            unit='MB/1000 structures',
            target=10,
            higher_is_better=False,
            **common,
        ),
    ]
    print(
        json.dumps(
            {
                'sampled': sampled,
                'wall_s': round(wall, 1),
                'per_hour': round(per_hour, 1),
                'nodes': nodes,
                'bytes': size,
                'minima': summary['n_minima'],
            },
            indent=1,
        )
    )
    for path in outputs:
        print('wrote', path)


try:
    main()
finally:
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
