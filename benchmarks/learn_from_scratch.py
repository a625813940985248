"""Concurrent learning of a system (``hydrides.lam.concurrent``), from nothing or from the seed model: what a user
pays and gets.

Runs the loop on the system (default Li-Mg at 150 and 250 GPa) in the default profile. From nothing (the default),
iteration 0 labels the first frames (prototypes and random cells, pristine and rattled) with pw.x at the seed label
set's DFT settings and trains the ensemble from scratch; with ``--from-seed`` (Ca-Y: the shipped seed model and its
labels without their held-out frames) the missing members are trained from the seed model first. Then the iterations
explore, select, label and retrain. ``--parent PK`` continues a run (finished or interrupted) from its last complete
iteration, so a long campaign can be run in pieces (on another machine after ``verdi archive import`` of the run);
the result file always describes the whole lineage.

Writes ``results/learn_<system>.json``: per iteration the stage, the frames labelled and the failed labels, the pw.x
wall hours (``labels.pw_wall_hours``), the candidate shares, the training wall time, the validation errors of
every member (``dp test`` on the frames held out by frame id) and the labelled frames against the ensemble that chose
them (``deviation_vs_error``: its true force error on frames it was never trained on, and the rank correlation of
that error with the deviation); ``value`` is the mean validation force RMSE of the last ensemble (target: the issue's
150 meV/Å held-out force error for the shipped model).

    python benchmarks/learn_from_scratch.py --iterations 1
    python benchmarks/learn_from_scratch.py --parent 1234 --iterations 1
    python benchmarks/learn_from_scratch.py --from-seed --system Ca-Y --compositions CaH6,YH6,CaYH12 --max-atoms 16
"""

import argparse
import statistics
import sys
import time

from _common import write_result

#: the compositions of the default run: the elements, the known Li-H and Mg-H superhydride ratios and a ternary
DEFAULT_COMPOSITIONS = ['Li', 'Mg', 'H', 'LiH', 'LiH6', 'MgH6', 'MgH4', 'LiMgH6']


def _members_mean(models: dict, key: str):
    values = [entry['validation'][key] for entry in models.values() if key in (entry.get('validation') or {})]
    return statistics.fmean(values) if values else None


def iteration_rows(summary: dict) -> list:
    """One row per iteration of the lineage's summary."""
    rows = []
    for entry in summary.get('iterations', []):
        labels = entry.get('labels') or {}
        models = entry.get('models') or {}
        rows.append(
            {
                'iteration': entry['iteration'],
                'stage': entry.get('stage'),
                'stages': {
                    name: {
                        'n_frames': stage.get('n_frames'),
                        'shares': stage.get('shares'),
                        'decision': stage.get('decision'),
                    }
                    for name, stage in (entry.get('stages') or {}).items()
                },
                'labelled': entry.get('labelled', 0),
                'label_failures': entry.get('label_failures', 0),
                'pw_wall_hours': labels.get('pw_wall_hours'),
                'training_frames': max((m.get('training_frames') or 0 for m in models.values()), default=None),
                'training_wall_s': max((m.get('training_wall_s') or 0 for m in models.values()), default=None),
                'validation_energy_rmse_mev_per_atom': _members_mean(models, 'energy_rmse_mev_per_atom'),
                'validation_force_rmse_mev_per_angstrom': _members_mean(models, 'force_rmse_mev_per_angstrom'),
                'validation_energy_mae_mev_per_atom': _members_mean(models, 'energy_mae_mev_per_atom'),
                'validation_force_mae_mev_per_angstrom': _members_mean(models, 'force_mae_mev_per_angstrom'),
                'validation_frames': max(
                    ((m.get('validation') or {}).get('nframes') or 0 for m in models.values()), default=None
                ),
                'deviation_vs_error': _calibration(entry.get('deviation_vs_error')),
            }
        )
    return rows


def _calibration(calibration) -> dict | None:
    """The figures of the labelled frames against the ensemble that chose them, without the per-frame records."""
    if not calibration:
        return None
    return {key: value for key, value in calibration.items() if key != 'records'}


def _from_seed(runs: list) -> bool:
    """Whether the first run of the lineage started from models (the seed model) rather than from nothing."""
    from aiida import orm

    links = orm.load_node(runs[0]).base.links.get_incoming().all_link_labels()
    return any(label.startswith('models__') for label in links)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--system', default='Li-Mg')
    parser.add_argument('--pressure', default='150-250')
    parser.add_argument('--points', type=int, default=2)
    parser.add_argument('--compositions', default=','.join(DEFAULT_COMPOSITIONS))
    parser.add_argument('--iterations', type=int, default=1, help='iterations of this run (after iteration 0)')
    parser.add_argument('--protocol', default='fast')
    parser.add_argument('--initial-frames', type=int, default=24)
    parser.add_argument('--initial-max-atoms', type=int, default=8)
    parser.add_argument('--scratch-steps', type=int, default=4000)
    parser.add_argument('--steps', type=int, default=1000, help='training steps of each retraining')
    parser.add_argument('--max-labels', type=int, default=8, help='frames labelled per iteration')
    parser.add_argument('--budget', type=int, default=4, help='relaxations per composition and pressure')
    parser.add_argument('--max-atoms', type=int, default=8, help='largest cell of the exploration')
    parser.add_argument(
        '--from-seed',
        action='store_true',
        help='start from the shipped seed model and its labels (Ca-Y) instead of from nothing',
    )
    parser.add_argument(
        '--bootstrap-steps', type=int, default=4000, help='with --from-seed: training steps of the members made from it'
    )
    parser.add_argument('--parent', default=None, help='continue this run (PK or UUID)')
    parser.add_argument('--report', default=None, help='only write the result of this finished run (PK or UUID)')
    parser.add_argument(
        '--run-command',
        action='append',
        default=[],
        help='with --report: a command that made the runs of the lineage (repeat; recorded in the result)',
    )
    args = parser.parse_args(argv)

    from aiida import load_profile, orm
    from aiida.engine import run_get_node

    load_profile()

    def _pk(identifier):
        return None if identifier is None else orm.load_node(int(identifier) if identifier.isdigit() else identifier).pk

    args.parent, args.report = _pk(args.parent), _pk(args.report)
    from aiida_hydrides.codes import ensure_codes, ensure_dp_code, ensure_lam_code
    from aiida_hydrides.workflows.lam.concurrent import ConcurrentLearningWorkChain

    overrides = {
        'max_iterations': args.iterations,
        'pressure_points': args.points,
        'explore': {'parameters': {'budget': args.budget, 'population': args.budget, 'max_atoms': args.max_atoms}},
        'select': {'parameters': {'max_candidates': args.max_labels}},
        'label': {'max_concurrent': 1},
        'train': {'parameters': {'steps': args.steps}},
    }
    if args.parent is None and args.from_seed:
        overrides['train']['bootstrap_parameters'] = {'steps': args.bootstrap_steps}
    elif args.parent is None:
        overrides['initial'] = {
            'parameters': {
                'random': 1,
                'rattles': 1,
                'max_atoms': args.initial_max_atoms,
                'max_frames': args.initial_frames,
            }
        }
        overrides['train']['scratch_parameters'] = {'steps': args.scratch_steps}
    codes = (
        ensure_lam_code('localhost'),
        ensure_dp_code('localhost'),
        ensure_codes('localhost', mpiprocs=None, shorts=['pw'])['pw'],
    )
    builder = ConcurrentLearningWorkChain.get_builder_from_protocol(
        *codes,
        system=None if args.parent else args.system,
        pressures=None if args.parent else args.pressure,
        compositions=None if args.parent else args.compositions.split(','),
        protocol=args.protocol,
        overrides=overrides,
        parent=args.parent,
        from_scratch=args.parent is None and not args.from_seed,
    )
    if args.report is not None:
        node, wall = orm.load_node(args.report), None
        args.parent = node.inputs.previous_summary.creator.caller.pk if 'previous_summary' in node.inputs else None
    else:
        start = time.monotonic()
        _, node = run_get_node(builder)
        wall = time.monotonic() - start
    if wall is not None:
        print(f'ConcurrentLearningWorkChain<{node.pk}>: exit status {node.exit_status} in {wall / 3600:.2f} h')
    if 'summary' not in node.outputs:
        print(f'no summary: {node.exit_message}', file=sys.stderr)
        return 1
    summary = node.outputs.summary.get_dict()
    rows = iteration_rows(summary)
    final = rows[-1] if rows else {}
    runs = [node.pk]
    parent = args.parent
    while parent is not None:  # the lineage, oldest first
        runs.insert(0, parent)
        previous = orm.load_node(parent)
        summary_input = previous.inputs.previous_summary if 'previous_summary' in previous.inputs else None
        creator = summary_input.creator if summary_input is not None else None
        parent = creator.caller.pk if creator is not None and creator.caller is not None else None
    name = f'learn_{node.inputs.system.value.lower().replace("-", "_")}'
    path = write_result(
        name,
        metric=f'validation force RMSE of the last ensemble of {node.inputs.system.value}-H learned '
        + ('from the seed model' if _from_seed(runs) else 'from nothing'),
        value=final.get('validation_force_rmse_mev_per_angstrom'),
        unit='meV/Angstrom',
        target=150.0,
        higher_is_better=False,
        note='frames held out of training by frame id (train.validation_fraction), labelled with the seed label '
        "set's DFT settings; the mean over the members of the ensemble",
        system=node.inputs.system.value,
        pressures_gpa=node.inputs.pressures.get_list(),
        compositions=node.inputs.compositions.get_list() if 'compositions' in node.inputs else None,
        protocol=args.protocol,
        settings=None
        if args.report is not None
        else {key: value for key, value in vars(args).items() if key not in ('parent', 'report', 'run_command')},
        label_set=node.inputs.label.settings['label_set'],
        iterations=rows,
        frames_labelled=sum(row['labelled'] for row in rows),
        pw_wall_hours=sum(row['pw_wall_hours'] or 0.0 for row in rows),
        converged=summary.get('converged'),
        workchains=runs,
        run_commands=args.run_command or None,
        wall_hours_this_run=round(wall / 3600, 3) if wall is not None else None,
        ranking='not measured: relaxing the minima of fresh searches with pw.x is the next step',
    )
    print(f'wrote {path}')
    return 0 if node.is_finished_ok else 1


if __name__ == '__main__':
    sys.exit(main())
