"""Throughput and storage of a whole system search: ``hydrides.search.system`` on Ca-Y at 200 GPa, run in a fresh
SQLite + ZeroMQ profile of its own (a temporary ``AIIDA_PATH``), through the same path as ``aiida-hydrides search``.

Figures: structures relaxed per hour on this machine (every sampled structure is relaxed; wall time of the whole work
chain, with ``--max-jobs`` SearchCalculations at a time, one core each), nodes created per 1000 sampled structures, and
database size (SQLite file + file repository) per 1000 sampled structures. The model file is stored before the
measurement (one input shared by every search of a campaign; its size is reported as ``model_bytes``).

Storage targets (the issue "a lean database for searches"): <= 20 nodes per 1000 sampled structures and <= 1 KB of
database per sampled structure. The samples live in one array node per job and only the minima that can pass the LAM
hull become ``StructureData``, so the nodes are a fixed part per system search, a part per job and the promoted
minima. A small run cannot reach 20 per 1000 with its fixed part (about 20 nodes for any size), so the benchmark
also reports both figures projected to campaign size (``projected``: ``--project-compositions`` compositions of
``--project-per-composition`` structures, ``--project-per-job`` compositions per job, the study's 167 structures per
composition by default) from the parts it measured: fixed nodes and bytes, nodes and bytes per job, array bytes per
sampled structure, and promoted minima (and their bytes) per sampled structure, measured per stratum (elements,
binaries, ternaries) and weighted by the strata of the default list at ``--project-max-atoms``. ``--sample N`` searches
the elements and N compositions drawn at random from the default list, the campaign's mix (the committed storage
figures: ``--sample 11 --budget 167 --max-jobs 2 --per-job 7 --storage-only``). Results:
``results/search_throughput.json`` (rate) and ``results/search_storage_nodes.json``,
``results/search_storage_size.json``.

Side by side (``--compare``, the default): the same search runs first with the settings of the release before the
issue "search at campaign scale" (float64 model calls, deepmd-kit's dense neighbour list, every relaxation to its end,
PyXtal's tolerance matrix built on every image check: parameters ``precision=float64``, ``hopeless_mev=0`` and
``HYDRIDES_NLIST_BACKEND=native``, ``HYDRIDES_PYXTAL_TOLERANCES=per-call`` for the jobs) into a group
of its own, then with the current settings; ``search_throughput.json`` holds the current rate, the earlier one and
their ratio (``search_throughput_speedup.json``, target 2). Storage figures are the current run's.

Usage: python benchmarks/search_throughput.py [--compositions CaH6,YH6,...] [--budget 48] [--max-jobs 2] [--no-compare]
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
parser.add_argument(
    '--sample',
    type=int,
    default=None,
    help='instead of --compositions: the elements and N more compositions drawn at random (--sample-seed) from the '
    "system's default list at --max-atoms, references and ternaries in the campaign's proportion",
)
parser.add_argument('--sample-seed', type=int, default=0, help='seed of the random draw of --sample')
parser.add_argument(
    '--storage-only',
    action='store_true',
    help='write only the storage figures (search_storage_*.json), not the rate (for runs beside other work)',
)
parser.add_argument('--budget', type=int, default=48, help='relaxations per composition')
parser.add_argument('--population', type=int, default=12)
parser.add_argument('--max-atoms', type=int, default=24)
parser.add_argument('--max-steps', type=int, default=200)
parser.add_argument('--per-job', type=int, default=5, help='compositions per SearchCalculation')
parser.add_argument('--max-jobs', type=int, default=2, help='SearchCalculations at a time (one core each)')
parser.add_argument('--model', default=None, help='model file (default: the seed model if present, else the tiny one)')
parser.add_argument(
    '--no-compare', dest='compare', action='store_false', help='only the current settings (no earlier-settings run)'
)
parser.add_argument(
    '--promote-ehull',
    type=float,
    default=None,
    help="promotion threshold of the minima, meV/atom (default: the work chain's, the screening's LAM-hull threshold)",
)
parser.add_argument(
    '--project-compositions',
    type=int,
    default=None,
    help='compositions of the projected campaign-size search (default: those of the default Ca-Y list at '
    '--project-max-atoms, 371 at 40)',
)
parser.add_argument(
    '--project-max-atoms',
    type=int,
    default=40,
    help="the projected search's atom budget: its default composition list gives the shares of references and "
    'ternaries of the projection',
)
parser.add_argument(
    '--project-per-composition', type=int, default=167, help='structures per composition of the projection (study: 167)'
)
parser.add_argument(
    '--project-per-job', type=int, default=10, help='compositions per job of the projection (moderate protocol: 10)'
)
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


def repository_bytes(node) -> int:
    """Bytes of the files of ``node`` in the repository."""
    total = 0
    for root, _, files in node.base.repository.walk():
        for name in files:
            with node.base.repository.open(str(root / name), mode='rb') as handle:
                total += len(handle.read())
    return total


def storage_parts(workchain, sqlite_bytes: int, nodes_created: list) -> dict:
    """Where the nodes and bytes of a system search go: per node type (count, repository bytes), the part per job
    (each SearchBaseWorkChain with its compositions, its jobs and their outputs), the arrays, the promoted minima and
    the fixed rest; SQLite bytes are shared out evenly over the nodes."""
    from aiida import orm

    by_type, repository = {}, {}
    for node in nodes_created:
        size = repository_bytes(node)
        repository[node.pk] = size
        name = node.node_type.rstrip('.').split('.')[-1]
        entry = by_type.setdefault(name, {'nodes': 0, 'repository_bytes': 0})
        entry['nodes'] += 1
        entry['repository_bytes'] += size
    sqlite_per_node = sqlite_bytes / max(len(nodes_created), 1)
    job_nodes, array_nodes = set(), set()
    batches = [child for child in workchain.called if child.process_type == 'aiida.workflows:hydrides.search.base']
    for batch in batches:
        job_nodes.add(batch.pk)
        job_nodes.update(
            link.node.pk for link in batch.base.links.get_incoming().all() if isinstance(link.node, orm.List)
        )
        for calc in batch.called:
            job_nodes.add(calc.pk)
            job_nodes.update(
                link.node.pk for link in calc.base.links.get_incoming().all() if isinstance(link.node, orm.List)
            )
            for link in calc.base.links.get_outgoing().all():
                job_nodes.add(link.node.pk)
                if isinstance(link.node, orm.ArrayData):
                    array_nodes.add(link.node.pk)
    created = {node.pk for node in nodes_created}
    promoted = {node.pk for node in nodes_created if isinstance(node, orm.StructureData)}
    job_nodes &= created
    fixed = created - job_nodes - promoted

    def part(pks, arrays_apart=False):
        pks = set(pks) - (array_nodes if arrays_apart else set())
        return {'nodes': len(pks), 'bytes': round(sum(repository[pk] for pk in pks) + sqlite_per_node * len(pks))}

    return {
        'by_type': dict(sorted(by_type.items())),
        'sqlite_bytes_per_node': round(sqlite_per_node),
        'jobs': len(batches),
        'per_job': part(job_nodes, arrays_apart=True),
        'arrays': {
            'nodes': len(array_nodes),
            'repository_bytes': sum(repository[pk] for pk in array_nodes),
        },
        'promoted': part(promoted),
        'fixed': part(fixed),
    }


#: the strata of a system's compositions: the elements, the binary hydrides (and alloys), the ternaries
STRATA = ('elements', 'binaries', 'ternaries')


def stratum(formula: str) -> str:
    """The stratum of a composition: ``elements``, ``binaries`` or ``ternaries`` (by its number of elements)."""
    from aiida_hydrides.core.compositions import Composition

    return STRATA[min(len(Composition.from_formula(formula).elements), 3) - 1]


def campaign_strata(max_atoms: int) -> dict:
    """Number of compositions per stratum of the default Ca-Y list at ``max_atoms``."""
    from aiida_hydrides.workflows.search.system import default_compositions

    formulas, _ = default_compositions('Ca-Y', max_atoms=max_atoms)
    counts = dict.fromkeys(STRATA, 0)
    for formula in formulas:
        counts[stratum(formula)] += 1
    return counts


def sample_compositions(count: int, seed: int, max_atoms: int) -> list:
    """The elements and ``count`` other compositions drawn at random from the default Ca-Y list at ``max_atoms``:
    the campaign's mix of binaries and ternaries (the hull needs the elements, so they are always in)."""
    import random

    from aiida_hydrides.workflows.search.system import default_compositions

    formulas, _ = default_compositions('Ca-Y', max_atoms=max_atoms)
    elements = [formula for formula in formulas if stratum(formula) == 'elements']
    others = [formula for formula in formulas if stratum(formula) != 'elements']
    return elements + random.Random(seed).sample(others, min(count, len(others)))


def promoted_by_stratum(per_composition: dict) -> dict:
    """Per stratum of this run: compositions, sampled structures, promoted minima and their share."""
    strata = {name: {'compositions': 0, 'sampled': 0, 'promoted': 0} for name in STRATA}
    for formula, entry in per_composition.items():
        row = strata[stratum(formula)]
        row['compositions'] += 1
        row['sampled'] += entry.get('n_relaxations') or 0
        row['promoted'] += entry.get('n_promoted') or 0
    for row in strata.values():
        row['promoted_share'] = round(row['promoted'] / row['sampled'], 5) if row['sampled'] else None
    return strata


def project(parts: dict, sampled: int, compositions: int, per_composition: int, per_job: int, strata: dict) -> dict:
    """Nodes and bytes of a search of ``compositions`` x ``per_composition`` structures in jobs of ``per_job``
    compositions, from the parts measured on a run of ``sampled`` structures.

    The promoted minima per sampled structure are weighted by stratum (``strata``: ``{'run': promoted_by_stratum(...),
    'campaign': campaign_strata(...)}``): each stratum of the campaign gets the share measured on that stratum in this
    run (the run's overall share for a stratum it did not search)."""
    import math

    samples = compositions * per_composition
    jobs = math.ceil(compositions / per_job)
    batches = max(parts['jobs'], 1)
    per_job_nodes = parts['per_job']['nodes'] / batches
    per_job_bytes = parts['per_job']['bytes'] / batches
    array_bytes = (
        parts['arrays']['repository_bytes'] + parts['arrays']['nodes'] * parts['sqlite_bytes_per_node']
    ) / sampled
    run_share = parts['promoted']['nodes'] / sampled
    total = sum(strata['campaign'].values())
    promoted_share = sum(
        count / total * (strata['run'][name]['promoted_share'] if strata['run'][name]['sampled'] else run_share)
        for name, count in strata['campaign'].items()
    )
    promoted_bytes = parts['promoted']['bytes'] / max(parts['promoted']['nodes'], 1)
    overhead = parts['fixed']['nodes'] + jobs * (per_job_nodes + 2)
    nodes = overhead + promoted_share * samples
    size = (
        parts['fixed']['bytes']
        + jobs * (per_job_bytes + 2 * parts['sqlite_bytes_per_node'])
        + samples * (array_bytes + promoted_share * promoted_bytes)
    )
    return {
        'compositions': compositions,
        'structures_per_composition': per_composition,
        'compositions_per_job': per_job,
        'sampled_structures': samples,
        'jobs': jobs,
        'nodes_per_1000': round(1000 * nodes / samples, 2),
        'nodes_per_1000_overhead': round(1000 * overhead / samples, 2),
        'nodes_per_1000_promoted': round(1000 * promoted_share, 2),
        'promoted_share_within_target': round(max(20.0 - 1000 * overhead / samples, 0.0) / 1000, 4),
        'bytes_per_structure': round(size / samples, 1),
        'strata': strata,
        'assumptions': 'fixed part as measured; per job the measured nodes and bytes plus the two array nodes; array '
        'bytes per sampled structure as in this run (they grow with the atoms per cell); promoted minima per sampled '
        "structure per stratum (elements, binaries, ternaries) as in this run, weighted by the campaign list's "
        f'{strata["campaign"]}; promoted_share_within_target: the largest share of promoted structures that keeps '
        '20 nodes per 1000',
    }


#: structures per hour of this benchmark in the issue "search at campaign scale" (1 job, budget 100)
ISSUE_RATE = 2667.1
#: parameters and job environment of the release before that issue
EARLIER_PARAMETERS = {'precision': 'float64', 'hopeless_mev': 0.0}
EARLIER_ENVIRONMENT = {'HYDRIDES_NLIST_BACKEND': 'native', 'HYDRIDES_PYXTAL_TOLERANCES': 'per-call'}


def search_overrides(parameters=None) -> dict:
    """Protocol overrides of the benchmark's search (``parameters``: more search parameters)."""
    return {
        'parameters': {
            'budget': args.budget,
            'population': args.population,
            'max_atoms': args.max_atoms,
            'max_steps': args.max_steps,
            'seed': 0,
            **(parameters or {}),
        },
        'max_concurrent_jobs': args.max_jobs,
        'compositions_per_job': args.per_job,
    }


def run_earlier(code, model, formulas) -> dict:
    """The same search with the earlier settings, in a group of its own: rate and counts."""
    from aiida.engine import run_get_node

    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    overrides = search_overrides(EARLIER_PARAMETERS)
    builder = SystemSearchWorkChain.get_builder_from_protocol(
        code,
        'Ca-Y',
        model,
        pressure=200.0,
        protocol='fast',
        overrides=overrides,
        compositions=formulas,
        group_label='benchmark/earlier-settings/Ca-Y',
    )
    saved = {name: os.environ.get(name) for name in EARLIER_ENVIRONMENT}
    os.environ.update(EARLIER_ENVIRONMENT)  # the local jobs inherit it
    try:
        start = time.perf_counter()
        _, node = run_get_node(builder)
        wall = time.perf_counter() - start
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if not node.is_finished_ok:
        raise SystemExit(f'SystemSearchWorkChain<{node.pk}> (earlier settings) failed: {node.exit_status}')
    summary = node.outputs.summary.get_dict()
    sampled = sum(entry.get('n_relaxations') or 0 for entry in summary['compositions'].values())
    return {
        'parameters': EARLIER_PARAMETERS,
        'environment': EARLIER_ENVIRONMENT,
        'sampled_structures': sampled,
        'wall_s': round(wall, 1),
        'structures_per_hour': round(sampled / wall * 3600, 1),
        'best_enthalpy_per_atom': {
            formula: entry.get('best_enthalpy_per_atom') for formula, entry in summary['compositions'].items()
        },
    }


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
    model = orm.SinglefileData(model_path).store()  # shared by every search: not part of the figures
    pks_before = set(orm.QueryBuilder().append(orm.Node, project='id').all(flat=True))
    nodes_before = len(pks_before)
    storage = pathlib.Path(profile.storage_config['filepath'])
    size_before = folder_size(storage)
    sqlite_before = sum(item.stat().st_size for item in storage.glob('*.sqlite*'))

    if args.sample:
        formulas = sample_compositions(args.sample, args.sample_seed, args.max_atoms)
    else:
        formulas = [item.strip() for item in args.compositions.split(',') if item.strip()]
    print('compositions:', ', '.join(formulas), flush=True)
    earlier = None
    if args.compare and not args.storage_only:
        earlier = run_earlier(code, model, formulas)
        print(f'earlier settings: {earlier}', flush=True)
        pks_before = set(orm.QueryBuilder().append(orm.Node, project='id').all(flat=True))
        nodes_before = len(pks_before)
        size_before = folder_size(storage)
        sqlite_before = sum(item.stat().st_size for item in storage.glob('*.sqlite*'))
    overrides = search_overrides()
    if args.promote_ehull is not None:
        overrides['promote_ehull_mev'] = args.promote_ehull
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
    created = [
        node for (node,) in orm.QueryBuilder().append(orm.Node, filters={'id': {'!in': sorted(pks_before)}}).iterall()
    ]
    size = folder_size(storage) - size_before
    sqlite_bytes = sum(item.stat().st_size for item in storage.glob('*.sqlite*')) - sqlite_before
    parts = storage_parts(node, sqlite_bytes, created)
    strata = {
        'run': promoted_by_stratum(summary['compositions']),
        'campaign': campaign_strata(args.project_max_atoms),
    }
    projected = project(
        parts,
        sampled,
        args.project_compositions or sum(strata['campaign'].values()),
        args.project_per_composition,
        args.project_per_job,
        strata,
    )
    per_hour = sampled / wall * 3600
    common = dict(
        model=str(model_path.relative_to(HERE.parent)) if model_path.is_relative_to(HERE.parent) else str(model_path),
        model_kind=model_kind,
        system='Ca-Y',
        pressure_gpa=200.0,
        compositions=formulas,
        composition_sample=(
            {'drawn': args.sample, 'seed': args.sample_seed, 'from': f'default Ca-Y list at max_atoms {args.max_atoms}'}
            if args.sample
            else None
        ),
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
        promoted=summary.get('n_promoted'),
        promote_ehull_mev=summary.get('promote_ehull_mev'),
        database_bytes=size,
        sqlite_bytes=sqlite_bytes,
        model_bytes=model_path.stat().st_size,
        storage=parts,
        projected=projected,
        per_composition={
            formula: {
                key: entry.get(key)
                for key in (
                    'n_relaxations',
                    'n_minima',
                    'n_promoted',
                    'best_space_group_symbol',
                    'best_enthalpy_per_atom',
                    'wall_s',
                )
            }
            for formula, entry in summary['compositions'].items()
        },
    )
    comparison = {}
    if earlier is not None:
        comparison = {
            'earlier_settings': earlier,
            'speedup_vs_earlier_settings': round(per_hour / earlier['structures_per_hour'], 3),
        }
    outputs = []
    if not args.storage_only:
        outputs.append(
            write_result(
                'search_throughput',
                metric='structures relaxed per hour (whole system search)',
                value=round(per_hour, 1),
                unit='structures/hour',
                target=round(2 * max(ISSUE_RATE, earlier['structures_per_hour'] if earlier else 0.0), 1),
                higher_is_better=True,
                note=f'{args.max_jobs} jobs at a time, one core each; target: twice the earlier rate (the issue: '
                f'{ISSUE_RATE}/hour, and the earlier settings measured in this run)',
                load_average=list(os.getloadavg()),
                **comparison,
                **common,
            )
        )
    outputs += [
        write_result(
            'search_storage_nodes',
            metric='nodes created per 1000 sampled structures',
            value=round(nodes / sampled * 1000, 2),
            unit='nodes/1000 structures',
            target=20,
            higher_is_better=False,
            note=f'this run; at campaign size ({projected["sampled_structures"]} structures): '
            f'{projected["nodes_per_1000"]} (see projected)',
            **common,
        ),
        write_result(
            'search_storage_size',
            metric='database size per 1000 sampled structures',
            value=round(size / sampled * 1000 / 1e6, 3),
            unit='MB/1000 structures',
            target=1.0,
            higher_is_better=False,
            note=f'this run; at campaign size: {projected["bytes_per_structure"] / 1000:.3f} MB/1000 (see projected)',
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
                'promoted': summary.get('n_promoted'),
                'nodes_per_1000': round(nodes / sampled * 1000, 2),
                'bytes_per_structure': round(size / sampled, 1),
                'storage': parts,
                'projected': projected,
            },
            indent=1,
        )
    )
    if earlier is not None:
        outputs.append(
            write_result(
                'search_throughput_speedup',
                metric='structures per hour of a whole system search: current / earlier settings, same run',
                value=comparison['speedup_vs_earlier_settings'],
                unit='x',
                target=2.0,
                higher_is_better=True,
                current_structures_per_hour=round(per_hour, 1),
                earlier_structures_per_hour=earlier['structures_per_hour'],
                earlier_settings=earlier,
                load_average=list(os.getloadavg()),
                compositions=formulas,
            )
        )
    for path in outputs:
        print('wrote', path)


try:
    main()
finally:
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
