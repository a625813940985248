"""Concurrent learning of a system that no model covers: Li-Mg-H from nothing (``hydrides.lam.concurrent`` without
models).

Iteration 0 labels the first frames of Li, Mg, H, LiH, MgH6 and LiMgH6 at 150 and 250 GPa with pw.x (the prototypes of the
table whose ratio fits and random cells, each pristine and once rattled: 24 frames) and trains 4 models from scratch
on them (2000 steps each); iteration 1 then explores with them (4 relaxations per composition and pressure), evaluates
the model deviation, labels at most 4 candidates and retrains. About an hour on 2 cores, most of it pw.x. The
``hydrides-lam``, ``dp`` and ``pw`` codes on ``localhost`` are created when missing; the pseudopotential family of the
labels must be installed (``aiida-hydrides setup``). Continue the run with ``aiida-hydrides learn --parent PK``.

    verdi run examples/run_concurrent_from_scratch.py
"""

from aiida import load_profile
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes, ensure_dp_code, ensure_lam_code
from aiida_hydrides.workflows.lam.concurrent import ConcurrentLearningWorkChain

load_profile()  # no-op under `verdi run`, which has loaded the profile already
overrides = {
    'max_iterations': 1,
    'pressure_points': 2,
    'initial': {'parameters': {'random': 1, 'rattles': 1, 'max_atoms': 8, 'max_frames': 24}},
    'explore': {'parameters': {'budget': 4, 'population': 4, 'max_atoms': 8}},
    'select': {'parameters': {'max_candidates': 4}},
    'label': {'max_concurrent': 1},
    'train': {'parameters': {'steps': 500}, 'scratch_parameters': {'steps': 2000}},
}
builder = ConcurrentLearningWorkChain.get_builder_from_protocol(
    ensure_lam_code('localhost'),
    ensure_dp_code('localhost'),
    ensure_codes('localhost', mpiprocs=None, shorts=['pw'])['pw'],
    system='Li-Mg',
    pressures='150-250',
    compositions=['Li', 'Mg', 'H', 'LiH', 'MgH6', 'LiMgH6'],
    protocol='fast',
    overrides=overrides,
    from_scratch=True,
)
print('ConcurrentLearningWorkChain: Li-Mg at 150 and 250 GPa from nothing ...')
results, node = run_get_node(builder)
if 'summary' not in results:
    raise SystemExit(f'ConcurrentLearningWorkChain<{node.pk}> failed [{node.exit_status}]: {node.exit_message}')

summary = results['summary'].get_dict()
print(f'ConcurrentLearningWorkChain<{node.pk}> finished [{node.exit_status}]: iteration {summary["iteration"]}')
for entry in summary['iterations']:
    for stage, data in entry['stages'].items():
        shares = data['shares']
        print(
            f'  iteration {entry["iteration"]} {stage:<10} {data["n_frames"]} frames: accurate {shares["accurate"]:.1%}, '
            f'candidate {shares["candidate"]:.1%}, failed {shares["failed"]:.1%} ({data["decision"]})'
        )
    print(
        f'  iteration {entry["iteration"]} ({entry["stage"]}): {entry["labelled"]} frames labelled, '
        f'{entry["labels"].get("pw_wall_hours", 0.0):.2f} h of pw.x'
    )
    for member, model in entry['models'].items():
        errors = model.get('validation') or {}
        print(
            f'  {member}: {model["steps"]} steps on {model["training_frames"]} frames, validation force RMSE '
            f'{errors.get("force_rmse_mev_per_angstrom", float("nan")):.1f} meV/A'
        )
print(f'ensemble: {", ".join(f"{key} <{model.pk}>" for key, model in results["ensemble"].items())}')
