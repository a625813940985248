"""``aiida-hydrides learn``: concurrent learning of an ensemble of DeePMD models on an A-B-H system over a pressure
window (``ConcurrentLearningWorkChain``, ``hydrides.lam.concurrent``), run in this process or on the daemon
(``--daemon``); prints the shares of accurate / candidate / failed frames of every iteration."""

import click

from .launch import launch
from .params import options, types
from .utils import bad_option, echo_json, fail, lam_code, load_code, load_computer, load_profile, qe_codes

ENTRY_POINT = 'hydrides.lam.concurrent'


@click.command('learn')
@click.argument('system', required=False)
@options.PRESSURE(
    type=types.PressureWindowType(),
    default=None,
    show_default=False,
    help='Pressures of the exploration in GPa: a window 150-250 (spread over --points pressures, both ends '
    "included), a list 150,200,250 or one pressure  [default: 150-250, or the parent run's].",
)
@click.option(
    '--points',
    type=click.IntRange(min=1),
    default=None,
    help="Pressures of a window  [default: the protocol's pressure_points, 3].",
)
@click.option(
    '-n', '--iterations', type=click.IntRange(min=1), default=None, help="Most iterations  [default: the protocol's]."
)
@click.option(
    '--compositions',
    '-c',
    default=None,
    help='Comma-separated formulas to explore (e.g. CaH6,YH6,CaYH12); default: elements, binary hydrides and every '
    'distinct ternary of the system whose formula unit fits in the atom budget of the protocol.',
)
@options.MODEL(
    required=False,
    multiple=True,
    help='A DeePMD model of the initial ensemble (frozen .pth); repeat for several. With fewer models than '
    '--ensemble-size the missing members are trained from the first  [default: the seed model, or the parent '
    "run's last ensemble].",
)
@click.option(
    '--from-scratch',
    is_flag=True,
    default=False,
    help='Start without models: label the first frames of the system (prototypes and random cells of its '
    'compositions, pristine and rattled) with pw.x and train the ensemble from scratch on them (or on '
    '--training-set). The default for a system the seed model does not cover.',
)
@click.option(
    '--pretrained',
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help='A pretrained DeePMD training checkpoint (.pt), e.g. a multi-head DPA model from `dp pretrained download` on '
    'a machine with internet: start without models and fine-tune every member from it on the first frames (or '
    '--training-set) instead of training from scratch.',
)
@options.HEAD(
    help='The head of a multi-task --pretrained model to fine-tune (RANDOM: a new fitting net on its descriptor).'
)
@click.option(
    '--training-set',
    'training_set_id',
    default=None,
    metavar='NODE',
    help='PK or UUID of the training set of the models (a hydrides.lam.training_set node)  [default: the seed '
    "labels without their held-out frames, or the parent run's last set].",
)
@click.option(
    '--parent',
    'parent_id',
    default=None,
    metavar='PK',
    help='Continue a previous `learn` run (finished or interrupted) from its last complete iteration: its ensemble, '
    'training set and stage; SYSTEM, --pressure and --compositions default to its own.',
)
@options.protocol_option(
    ENTRY_POINT,
    help='Protocol of the `hydrides.lam.concurrent` work chain: iterations, search budgets, labels per iteration, '
    'training steps (workflows/protocols/lam/concurrent.yaml).',
)
@click.option('--ensemble-size', type=click.IntRange(min=2), default=None, help='Models of the ensemble  [default: 4].')
@click.option(
    '--threshold',
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=None,
    help='A stage is converged when the share of candidate frames falls below this  [default: 0.05].',
)
@click.option(
    '--max-labels',
    type=click.IntRange(min=1),
    default=None,
    help="Most frames labelled with pw.x per iteration  [default: the protocol's].",
)
@click.option(
    '--trust',
    type=(click.FloatRange(min=0), click.FloatRange(min=0)),
    default=None,
    metavar='LO HI',
    help='Trust window of the maximum force deviation in eV/Å  [default: 0.05 0.30].',
)
@click.option(
    '--steps',
    type=click.IntRange(min=1),
    default=None,
    help="Training steps of each retraining  [default: the protocol's].",
)
@options.COMPUTER(help='Computer of the hydrides-lam, dp and pw.x codes (created when missing).')
@click.option(
    '--lam-code',
    'lam_code_id',
    default=None,
    metavar='CODE',
    help='hydrides-lam code instead of hydrides-lam@COMPUTER.',
)
@click.option('--dp-code', 'dp_code_id', default=None, metavar='CODE', help='dp code instead of dp@COMPUTER.')
@click.option('--pw-code', 'pw_code_id', default=None, metavar='CODE', help='pw.x code instead of pw@COMPUTER.')
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print machine-readable JSON (with --daemon: the submitted PK).')
def learn(
    system,
    pressure,
    points,
    iterations,
    compositions,
    model,
    from_scratch,
    pretrained,
    head,
    training_set_id,
    parent_id,
    protocol,
    ensemble_size,
    threshold,
    max_labels,
    trust,
    steps,
    computer,
    lam_code_id,
    dp_code_id,
    pw_code_id,
    daemon,
    verbose,
    as_json,
):
    """Learn an ensemble of DeePMD models for SYSTEM (e.g. Ca-Y) by concurrent learning, as DP-GEN does.

    Each iteration searches structures of the compositions at every pressure of the window with model 0, evaluates
    the model deviation of the ensemble on the frames, labels the candidates (frames whose maximum force deviation
    lies in the trust window) with pw.x and retrains every model on the grown training set. Frames along the
    relaxations come first, then the relaxed minima; the run stops when the share of candidates falls below
    --threshold in both, or after --iterations. Every step is in the provenance graph; `aiida-hydrides models` lists
    the models with their training data and errors.

    The inputs are checked before anything is stored. Ctrl-C stops the run cleanly; `--parent PK` continues it (or
    a finished run) from its last complete iteration.
    """
    from aiida_hydrides.core.units import parse_pressures
    from aiida_hydrides.workflows.lam.concurrent import ConcurrentLearningWorkChain

    formulas = None
    if compositions is not None:
        formulas = [item.strip() for item in compositions.split(',') if item.strip()]
        if not formulas:
            bad_option('compositions', 'no formula given: name the compositions separated by commas (e.g. CaH6,YH6)')
    if system is None and parent_id is None:
        raise click.UsageError('give the SYSTEM (e.g. Ca-Y), or --parent PK to continue a run')
    if trust is not None and not trust[0] < trust[1]:
        bad_option('trust', f'the trust window needs LO < HI, got {trust[0]:g} {trust[1]:g}')
    if from_scratch and (model or parent_id is not None):
        bad_option('from_scratch', 'a run from scratch starts without models: leave out --model and --parent')
    if pretrained is not None and (model or parent_id is not None):
        bad_option('pretrained', 'the members are fine-tuned from the pretrained model: leave out --model and --parent')
    if head is not None and pretrained is None:
        bad_option('head', 'choose a head of a --pretrained model')
    if pretrained is not None and not pretrained.lower().endswith('.pt'):
        bad_option('pretrained', f'{pretrained}: fine-tuning needs the training checkpoint (.pt), not a frozen model')

    overrides = {}
    if points is not None:
        overrides['pressure_points'] = points
    if iterations is not None:
        overrides['max_iterations'] = iterations
    if ensemble_size is not None:
        overrides['ensemble_size'] = ensemble_size
    if threshold is not None:
        overrides['candidate_threshold'] = threshold
    select = {}
    if max_labels is not None:
        select['max_candidates'] = max_labels
    if trust is not None:
        select.update(f_trust_lo=trust[0], f_trust_hi=trust[1])
    if select:
        overrides['select'] = {'parameters': select}
    if steps is not None:
        overrides['train'] = {'parameters': {'steps': steps}}
    try:
        protocol_inputs = ConcurrentLearningWorkChain.get_protocol_inputs(protocol, overrides)
    except ValueError as exc:
        fail(str(exc))

    pressures = None
    if pressure is not None:
        pressures = parse_pressures(pressure, protocol_inputs['pressure_points'])
    if system is not None:
        plan = _check_exploration(system, formulas, protocol_inputs, pressures, model)
        if not from_scratch and pretrained is None and not model and parent_id is None and not _seed_model_covers(plan):
            from_scratch = True
            click.echo(
                f'The seed model does not cover {plan.system}: starting from scratch (the first frames of the system '
                'are labelled with pw.x and the ensemble is trained on them from scratch).'
            )

    load_profile()
    parent = _load_parent(parent_id) if parent_id is not None else None
    if parent is not None and system is None:
        system = parent['system']
        _check_exploration(system, formulas or parent['compositions'], protocol_inputs, pressures, model)
    training_set = _load_training_set(training_set_id) if training_set_id is not None else None

    computer_node = load_computer(computer)
    lam = load_code(lam_code_id) if lam_code_id else lam_code(computer_node)
    dp = load_code(dp_code_id) if dp_code_id else _dp_code(computer_node)
    pw = load_code(pw_code_id) if pw_code_id else qe_codes(computer_node, ['pw'])['pw']
    try:
        builder = ConcurrentLearningWorkChain.get_builder_from_protocol(
            lam,
            dp,
            pw,
            system=system,
            pressures=pressures,
            models=list(model) or None,
            training_set=training_set,
            compositions=formulas,
            protocol=protocol,
            overrides=overrides,
            parent=parent_id,
            from_scratch=from_scratch,
            pretrained=pretrained,
            pretrained_head=head,
        )
    except ValueError as exc:
        fail(str(exc))
    _check_family(builder.label.settings.get_dict(), system)

    resume = (
        'Continue it with `aiida-hydrides learn --parent PK` (PK of the interrupted run, shown above and by `verdi '
        'process list -a`): it goes on from its last complete iteration.'
    )
    node = launch(builder, daemon=daemon, as_json=as_json, verbose=verbose, resume_hint=resume)
    if node is None:
        return

    if 'summary' not in node.outputs:
        fail(f'ConcurrentLearningWorkChain<{node.pk}> failed ({node.exit_status}): {node.exit_message}')
    data = node.outputs.summary.get_dict()
    data.update(workchain=node.pk, exit_status=node.exit_status)
    data['ensemble'] = {key: model_node.pk for key, model_node in node.outputs.ensemble.items()}
    data['training_set'] = node.outputs.training_set.pk
    if as_json:
        echo_json(data)
    else:
        _echo_table(data)
    if not node.is_finished_ok:
        fail(
            f'ConcurrentLearningWorkChain<{node.pk}> finished with exit status {node.exit_status}: {node.exit_message}'
        )


def _check_exploration(system, formulas, protocol_inputs, pressures, models):
    """The system, compositions and search parameters (as the first step of the work chain checks them) and the
    model files, before anything is stored; a bad one fails naming its argument or option."""
    import pathlib

    from aiida_hydrides.core.lam.errors import LamModelError
    from aiida_hydrides.core.lam.model import model_type_map
    from aiida_hydrides.workflows.search.system import SearchInputError, check_model_elements, plan_search

    parameters = {**protocol_inputs['explore']['parameters'], 'pressure_gpa': (pressures or [200.0])[0]}
    try:
        plan = plan_search(system, formulas, parameters)
    except SearchInputError as exc:
        if exc.field == 'system':
            raise click.BadParameter(str(exc), param_hint="'SYSTEM'") from exc
        if exc.field in ('compositions', 'max_atoms'):
            bad_option('compositions', str(exc))
        raise click.UsageError(str(exc)) from exc
    for path in models or ():
        try:
            type_map = model_type_map(path)
            check_model_elements(plan, type_map, pathlib.Path(path).name)
        except (LamModelError, SearchInputError) as exc:
            bad_option('model', str(exc))
    return plan


def _seed_model_covers(plan) -> bool:
    """Whether the seed model's type map holds every element of the exploration."""
    from aiida_hydrides.core.lam.model import model_type_map
    from aiida_hydrides.models import seed_model_path

    return set(plan.elements) <= set(model_type_map(seed_model_path()))


def _load_parent(identifier) -> dict:
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.workflows.lam.concurrent import load_parent

    try:
        return load_parent(int(identifier) if str(identifier).isdigit() else identifier)
    except HydridesInputError as exc:
        bad_option('parent_id', str(exc))


def _load_training_set(identifier):
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    from aiida_hydrides.data.training_set import TrainingSetData

    try:
        node = orm.load_node(int(identifier) if str(identifier).isdigit() else identifier)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        bad_option('training_set_id', f'cannot load the node {identifier!r}: {exc}')
    if not isinstance(node, TrainingSetData):
        bad_option('training_set_id', f'node <{node.pk}> is a {type(node).__name__}, not a hydrides.lam.training_set')
    return node


def _dp_code(computer):
    from aiida_hydrides.codes import CodeSetupError, ensure_dp_code

    try:
        return ensure_dp_code(computer)
    except CodeSetupError as exc:
        fail(str(exc))


def _check_family(settings, system):
    """Fail with the fix when the pseudopotential family of the labels is not installed or lacks an element."""
    from aiida_hydrides.core.compositions import HYDROGEN, parse_system
    from aiida_hydrides.pseudos import PseudoFamilyError, check_family_covers, get_pseudo_family

    label = settings['dft']['pseudo_family']
    try:
        family = get_pseudo_family(label)
        check_family_covers(family, [*parse_system(system), HYDROGEN])
    except (PseudoFamilyError, ValueError) as exc:
        fail(f'{exc}; the labels of {settings["label_set"]!r} need the family {label!r} (`aiida-hydrides setup`)')


def _calibration_columns(calibration) -> tuple[str, str]:
    """The median largest force error of m0 on the labelled frames and its rank correlation with their deviation."""
    first = (calibration or {}).get('m0')
    if not first:
        return '-', '-'
    rho = first.get('force', {}).get('spearman')
    return f'{first["max_force_error_mev_per_angstrom"]["median"]:.0f}', f'{rho:.2f}' if rho is not None else '-'


def _echo_table(data):
    state = 'converged' if data.get('converged') else 'not converged'
    click.echo(
        f'\nConcurrent learning <{data["workchain"]}>: {state} after iteration {data["iteration"]}'
        + (f'; next stage {data["stage"]}' if data.get('stage') else '')
    )
    click.echo(
        f'{"iter":>4} {"stage":<10} {"frames":>7} {"accurate":>9} {"candidate":>10} {"failed":>7} {"labelled":>8} '
        f'{"pw.x h":>7} {"F RMSE val (meV/A)":>19} {"max F err":>9} {"rho":>5}'
    )
    for entry in data.get('iterations', []):
        labels = entry.get('labels', {})
        error, rho = _calibration_columns(entry.get('deviation_vs_error'))
        errors = [
            model['validation']['force_rmse_mev_per_angstrom']
            for model in entry.get('models', {}).values()
            if 'validation' in model
        ]
        rmse = f'{sum(errors) / len(errors):.1f}' if errors else '-'
        for name, stage in entry.get('stages', {}).items():
            shares = stage.get('shares', {})
            labelled = entry.get('labelled', 0) if name == entry.get('stage') else '-'
            hours = f'{labels.get("pw_wall_hours", 0.0):.2f}' if name == entry.get('stage') and labels else '-'
            click.echo(
                f'{entry["iteration"]:>4} {name:<10} {stage.get("n_frames", 0):>7} '
                f'{shares.get("accurate", 0):>9.1%} {shares.get("candidate", 0):>10.1%} {shares.get("failed", 0):>7.1%} '
                f'{labelled:>8} {hours:>7} {rmse if name == entry.get("stage") else "-":>19} '
                f'{error if name == entry.get("stage") else "-":>9} {rho if name == entry.get("stage") else "-":>5}'
            )
        if not entry.get('stages'):  # iteration 0 of a run from scratch: the first frames, no deviation
            hours = f'{labels.get("pw_wall_hours", 0.0):.2f}' if labels else '-'
            frames = labels.get('n_candidates', '-') if labels else '-'
            click.echo(
                f'{entry["iteration"]:>4} {entry.get("stage", "initial"):<10} {frames:>7} {"-":>9} {"-":>10} {"-":>7} '
                f'{entry.get("labelled", 0):>8} {hours:>7} {rmse:>19} {"-":>9} {"-":>5}'
            )
    click.echo(
        'max F err: median over the labelled frames of the largest force error (meV/A) of m0 before retraining; '
        'rho: its rank correlation with the deviation that chose them'
    )
    ensemble = ', '.join(f'{key} <{pk}>' for key, pk in data.get('ensemble', {}).items())
    click.echo(f'ensemble: {ensemble}; training set <{data.get("training_set")}>')
