"""One iteration of concurrent learning of Ca-Y-H (CaH6 and YH6, 150 and 250 GPa): ``hydrides.lam.concurrent``.

Starts from the seed model alone: 3 more members of the ensemble are first trained from it on the seed labels (500
steps each, their own seeds), then one iteration explores (4 relaxations per composition and pressure with model 0,
every 10th frame of each relaxation kept), evaluates the model deviation of the 4 models on those frames, labels at
most 4 candidates with pw.x using the DFT settings of the seed labels (so that they can be mixed with them) and
retrains the 4 models 500 steps on the grown set. About 30 minutes on 2 cores, most of it pw.x. The
``hydrides-lam``, ``dp`` and ``pw`` codes on ``localhost`` are created when missing; the pseudopotential family of
the seed labels must be installed (``aiida-hydrides setup``). Continue the run with ``aiida-hydrides learn --parent
PK``.

    verdi run examples/run_concurrent.py
"""

from aiida import load_profile
from aiida.engine import run_get_node

from aiida_hydrides.codes import ensure_codes, ensure_dp_code, ensure_lam_code
from aiida_hydrides.workflows.lam.concurrent import ConcurrentLearningWorkChain

load_profile()  # no-op under `verdi run`, which has loaded the profile already
overrides = {
    'max_iterations': 1,
    'pressure_points': 2,
    'explore': {'parameters': {'budget': 4, 'population': 4, 'max_atoms': 14, 'formula_units': [2]}},
    'select': {'parameters': {'max_candidates': 4}},
    'label': {'max_concurrent': 1},
    'train': {'parameters': {'steps': 500}, 'bootstrap_parameters': {'steps': 500}},
}
builder = ConcurrentLearningWorkChain.get_builder_from_protocol(
    ensure_lam_code('localhost'),
    ensure_dp_code('localhost'),
    ensure_codes('localhost', mpiprocs=None, shorts=['pw'])['pw'],
    system='Ca-Y',
    pressures='150-250',
    compositions=['CaH6', 'YH6'],
    protocol='fast',
    overrides=overrides,
)
print('ConcurrentLearningWorkChain: Ca-Y at 150 and 250 GPa, one iteration from the seed model ...')
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
    print(f'  {entry["labelled"]} frames labelled, {entry["labels"].get("pw_wall_hours", 0.0):.2f} h of pw.x')
    for member, model in entry['models'].items():
        errors = model.get('validation') or {}
        print(
            f'  {member}: {model["steps"]} steps on {model["training_frames"]} frames, validation force RMSE '
            f'{errors.get("force_rmse_mev_per_angstrom", float("nan")):.1f} meV/A'
        )
print(f'ensemble: {", ".join(f"{key} <{model.pk}>" for key, model in results["ensemble"].items())}')
