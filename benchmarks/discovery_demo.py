"""The demonstration discovery of ``make demo`` (``hydrides.discovery``, protocol ``demo``: CaH6 and YH6 of Ca-Y-H at
200 GPa, the fast cascade with pw.x, the best survivor through the EPC), run in a fresh SQLite + ZeroMQ profile of its
own (a temporary ``AIIDA_PATH``) through the same builder as the demo (:func:`aiida_hydrides.discovery.demo_builder`).

Figures (``results/discovery_demo.json``): wall time of the discovery (target: at most 30 minutes on 2 cores), the
funnel counts per stage, and the nodes and database bytes (SQLite file + file repository) per sampled structure (every
relaxation of the searches, those of the hull references included).

Usage: python benchmarks/discovery_demo.py [--mpiprocs 2] [--keep]
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--mpiprocs', type=int, default=2, help='MPI processes of each QE calculation')
parser.add_argument('--keep', action='store_true', help='keep the temporary profile folder')
args = parser.parse_args()

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from _common import write_result  # noqa: E402

workdir = pathlib.Path(tempfile.mkdtemp(prefix='hydrides-discovery-bench-'))
os.environ['AIIDA_PATH'] = str(workdir)
os.environ.pop('AIIDA_PROFILE', None)
os.environ.setdefault('OMP_NUM_THREADS', '1')

TARGET_MINUTES = 30.0


def folder_size(path: pathlib.Path) -> int:
    return sum(item.stat().st_size for item in path.rglob('*') if item.is_file())


def sampled_structures(workchain) -> int:
    """Relaxations of every search the discovery ran (the composition search and the hull references')."""
    from aiida import orm

    total = 0
    for node in workchain.called_descendants:
        if isinstance(node, orm.WorkChainNode) and node.process_label == 'SystemSearchWorkChain':
            if 'summary' in node.outputs:
                for entry in (node.outputs.summary.get_dict().get('compositions') or {}).values():
                    if isinstance(entry, dict) and entry.get('status') != 'skipped':
                        total += int(entry.get('n_relaxations') or 0)
    return total


def main():
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.discovery import DEMO_COMPOSITIONS, DEMO_PRESSURE_GPA, DEMO_SYSTEM, demo_builder
    from aiida_hydrides.profile import ensure_localhost, ensure_profile

    profile = ensure_profile(name='discovery-benchmark')
    ensure_localhost()
    builder = demo_builder('localhost', mpiprocs=args.mpiprocs)  # codes, pseudopotentials: not part of the figures
    nodes_before = orm.QueryBuilder().append(orm.Node).count()
    storage = pathlib.Path(profile.storage_config['filepath'])
    size_before = folder_size(storage)

    start = time.perf_counter()
    _, node = run_get_node(builder)
    wall = time.perf_counter() - start
    if 'funnel' not in node.outputs:
        raise SystemExit(f'DiscoveryWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')
    funnel = node.outputs.funnel.get_dict()
    nodes = orm.QueryBuilder().append(orm.Node).count() - nodes_before
    size = folder_size(storage) - size_before
    sampled = sampled_structures(node)
    candidates = node.outputs.candidates.get_dict()['candidates']
    # the EPC rounds start from the relaxations of the cascade's DFT stage (same settings): none is relaxed twice
    epc_records = [
        record
        for batch in node.called
        if batch.process_label == 'EpcBatchWorkChain' and 'summary' in batch.outputs
        for record in batch.outputs.summary.get_dict().get('structures') or []
    ]
    common = {
        'system': DEMO_SYSTEM,
        'compositions': list(DEMO_COMPOSITIONS),
        'pressure_gpa': DEMO_PRESSURE_GPA,
        'protocol': 'demo',
        'mpiprocs': args.mpiprocs,
        'exit_status': node.exit_status,
        'funnel': funnel,
        'sampled_structures': sampled,
        'epc_relaxations_reused': sum(bool(record.get('relax_reused')) for record in epc_records),
        'epc_structures': len(epc_records),
        'nodes_created': nodes,
        'database_bytes': size,
        'nodes_per_sampled_structure': round(nodes / sampled, 3) if sampled else None,
        'bytes_per_sampled_structure': round(size / sampled, 1) if sampled else None,
        'candidates': [
            {
                key: row.get(key)
                for key in (
                    'rank',
                    'formula',
                    'space_group',
                    'status',
                    'lambda',
                    'omega_log_K',
                    'tc_allen_dynes_K_mu0_10',
                )
            }
            for row in candidates
        ],
    }
    path = write_result(
        'discovery_demo',
        metric='wall time of the demonstration discovery (make demo)',
        value=round(wall / 60, 2),
        unit='min',
        target=TARGET_MINUTES,
        higher_is_better=False,
        **common,
    )
    print(f'{path}: {wall / 60:.1f} min, {sampled} sampled, {nodes} nodes, {size / 1e6:.2f} MB; funnel {funnel}')


try:
    main()
finally:
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
