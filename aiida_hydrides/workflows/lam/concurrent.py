"""``ConcurrentLearningWorkChain`` (``hydrides.lam.concurrent``): DP-GEN's concurrent learning of an ensemble of DeePMD
models on an A-B-H system over a pressure window, one iteration at a time, every step a node of the provenance graph.

An iteration:

1. **explore**: structure searches (``SearchBaseWorkChain``, one per pressure and batch of compositions) with model 0
   of the ensemble, with new seeds every iteration; in the ``trajectory`` stage the searches keep every k-th frame
   along each relaxation (``trajectory_every``);
2. **select**: the model deviation of the ensemble (``hydrides.lam.deviation``) on the frames of the stage (the
   frames along the relaxations, or the searches' distinct minima); the shares of accurate / candidate / failed
   frames are reported; the candidates inside the trust window are chosen (at most ``max_candidates``);
3. **label**: one ``PwBaseWorkChain`` per chosen frame with the DFT settings of the training data (energy, forces,
   stress; ``workflows/protocols/lam/label.yaml``); the frames are added to the training set (a calcfunction);
4. **retrain**: every member of the ensemble is trained further from its previous version (``hydrides.lam.train``,
   mode ``init`` from the frozen model, or ``finetune`` from its checkpoint) on the grown set, validated on a
   deterministic split of it; the members differ only in their seeds;
5. a summary of the iteration (``summarize_iteration``), appended to the run's history.

**Stages** (:mod:`aiida_hydrides.core.lam.concurrent`): ``trajectory`` first, then ``minima``. When the candidate
share of a stage falls below ``candidate_threshold`` the stage is converged and the next one is evaluated at once on
the same exploration; the run stops when the last stage is converged, or after ``max_iterations`` iterations.

**Ensemble**: at least ``ensemble_size`` (>= 2, DP-GEN: 4) models. When fewer are given (e.g. the seed model alone),
the missing members are first trained from model 0 on the initial training set with their own seeds and the
``train.bootstrap_parameters`` (a higher learning rate than the retraining, so that they spread).

**From nothing**: without models, the run starts as DP-GEN's ``init`` step does (iteration 0, ``it00``): the first
frames of the system (prototypes and random structures of its compositions at every pressure, pristine and rattled,
``initial.parameters``, :mod:`aiida_hydrides.core.lam.initial`) are labelled with pw.x into a new training set, and
every member is trained on it from scratch (``train.scratch_parameters``) with its own seed. Given a training set and
no models, the members are trained from scratch on that set. Given a ``pretrained_model`` (a ``.pt`` checkpoint, e.g.
a multi-head DPA model, with ``pretrained_head``), every member is fine-tuned from it on that data instead, as the
study refined its pretrained model.

**Continuing**: a run continues another (:meth:`ConcurrentLearningWorkChain.get_builder_from_protocol` with
``parent``): the parent's last ensemble, checkpoints and training set are the inputs, and its last summary is
``previous_summary``, so the iterations are numbered on and the stage is kept. Within a run, the daemon resumes the
work chain after a restart as any AiiDA process.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain, if_, while_

from aiida_hydrides.calculations.functions.lam_concurrent import (
    add_labelled_frames,
    compare_with_labels,
    label_inputs,
    make_initial_frames,
    start_training_set,
    summarize_iteration,
)
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam import concurrent as rules
from aiida_hydrides.data.training_set import TrainingSetData
from aiida_hydrides.workflows.common import validate_positive_int
from aiida_hydrides.workflows.protocols import ProtocolMixin

__all__ = ('ConcurrentLearningWorkChain', 'LABEL_SETTINGS_KEYS', 'load_parent', 'resolve_label_settings')

#: keys of the ``label.settings`` input (:func:`aiida_hydrides.workflows.lam.labels.load_loop_label_settings`)
LABEL_SETTINGS_KEYS = ('label_settings', 'max_iterations', 'clean_workdir', 'frame_prefix', 'dft', 'label_set')
#: the process type of the work chain's nodes
PROCESS_TYPE = 'aiida.workflows:hydrides.lam.concurrent'
#: the parts of ``options`` of :meth:`ConcurrentLearningWorkChain.get_builder_from_protocol`
OPTION_PARTS = ('explore', 'select', 'label', 'train')


def resolve_label_settings(settings: dict | None = None, dft: dict | None = None) -> dict:
    """The labelling settings of the loop: ``label.yaml`` with ``settings`` (its keys: ``label_settings``,
    ``max_iterations``, ``clean_workdir``, ``frame_prefix``) and the DFT settings of the label set with ``dft``
    merged in. Changing DFT settings makes a new label set: ``dft`` must then name it (``label_set``).

    :raises HydridesInputError: unknown keys, a missing file, DFT changes without a new ``label_set``.
    """
    from aiida_hydrides.workflows.lam.labels import load_loop_label_settings
    from aiida_hydrides.workflows.protocols import recursive_merge

    resolved = load_loop_label_settings(**(settings or {}))
    if dft:
        if not dft.get('label_set') or dft['label_set'] == resolved['label_set']:
            raise HydridesInputError(
                f'the DFT settings of the labels differ from those of the label set {resolved["label_set"]!r}: give '
                'them a new label_set name (the training set must hold labels of one set of DFT settings)'
            )
        resolved['dft'] = recursive_merge(resolved['dft'], dft)
        resolved['label_set'] = resolved['dft']['label_set']
    return resolved


def load_parent(parent) -> dict:
    """What a run continues from its ``parent`` (a ``hydrides.lam.concurrent`` node, or its PK/UUID), finished or
    not: the ensemble, checkpoints, training set and summary of its last complete iteration, and its system,
    pressures and compositions.

    :raises HydridesInputError: not such a work chain, or one without a complete iteration.
    """
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    try:
        node = parent if isinstance(parent, orm.Node) else orm.load_node(parent)
    except (NotExistent, MultipleObjectsError, ValueError) as exc:
        raise HydridesInputError(f'cannot load the parent run {parent!r}: {exc}') from exc
    if getattr(node, 'process_type', None) != PROCESS_TYPE:
        what = getattr(node, 'process_label', None) or type(node).__name__
        raise HydridesInputError(f'the parent <{node.pk}> is a {what}, not a hydrides.lam.concurrent run')
    outputs = node.outputs
    if 'summary' in outputs:
        result = {
            'models': dict(outputs.ensemble),
            'checkpoints': dict(outputs.checkpoints) if 'checkpoints' in outputs else {},
            'training_set': outputs.training_set,
            'previous_summary': outputs.summary,
        }
    else:
        iterations = outputs.iterations if 'iterations' in outputs else {}
        complete = sorted(key for key in iterations if 'summary' in iterations[key])
        if not complete:
            raise HydridesInputError(
                f'the parent <{node.pk}> completed no iteration (it may have failed in its first one): start a new run'
            )
        last = iterations[complete[-1]]
        result = {
            'models': dict(last.ensemble),
            'checkpoints': dict(last.checkpoints) if 'checkpoints' in last else {},
            'training_set': last.training_set,
            'previous_summary': last.summary,
        }
    result.update(
        system=node.inputs.system.value,
        pressures=node.inputs.pressures.get_list(),
        compositions=node.inputs.compositions.get_list() if 'compositions' in node.inputs else None,
    )
    return result


def _natural_key(key: str) -> list:
    """Sort key of model names: the numbers in them compared as numbers (``m2`` before ``m10``)."""
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', key)]


# -- port validators -------------------------------------------------------------------------------------------------


def _validate_pressures(node, _):
    from aiida_hydrides.core.units import InvalidPressureError, check_pressure

    values = node.get_list()
    if not values:
        return 'give at least one pressure (GPa)'
    try:
        for value in values:
            check_pressure(value)
    except InvalidPressureError as exc:
        return str(exc)
    if len(set(values)) != len(values):
        return f'a pressure is repeated in {values}'
    return None


def _validate_compositions(node, _):
    items = node.get_list()
    if not items:
        return 'the list of compositions is empty'
    if not all(isinstance(item, str) and item.strip() for item in items):
        return 'compositions are formulas such as "CaH6" or "CaYH12"'
    return None


def _validate_models(namespace, _):
    from aiida_hydrides.calculations.base import validate_model

    for key, node in (namespace or {}).items():
        message = validate_model(node, None)
        if message:
            return f'{key}: {message}'
    return None


def _validate_threshold(node, _):
    if node is not None and not 0 < node.value <= 1:
        return f'the candidate share below which a stage is converged must be in (0, 1], got {node.value}'
    return None


def _validate_stages(node, _):
    stages = node.get_list()
    try:
        rules.check_loop_settings(1, 0.5, 2, stages)
    except HydridesInputError as exc:
        return str(exc)
    return None


def _validate_ensemble_size(node, _):
    if node.value < rules.MIN_ENSEMBLE:
        return f'an ensemble needs at least {rules.MIN_ENSEMBLE} models (DP-GEN uses 4), got {node.value}'
    return None


def _validate_search_parameters(node, _):
    from aiida_hydrides.calculations.search import validate_search_parameters

    parameters = node.get_dict()
    fixed = sorted({'pressure_gpa', 'seed'} & set(parameters))
    if fixed:
        return f'{fixed} are set by the work chain (the pressures input, the seed input per iteration)'
    return validate_search_parameters(parameters)


def _validate_deviation_parameters(node, _):
    from aiida_hydrides.core.lam.deviation import deviation_settings_from_parameters

    parameters = node.get_dict()
    if 'frames' in parameters:
        return "frames is set by the stage of each iteration ('trajectory' or 'structures' of the minima)"
    try:
        deviation_settings_from_parameters(parameters)
    except (HydridesInputError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def _validate_label_settings(node, _):
    settings = node.get_dict()
    missing = [key for key in LABEL_SETTINGS_KEYS if key not in settings]
    if missing:
        return f'the labelling settings lack {missing}; make them with resolve_label_settings()'
    return None


def _validate_mode(node, _):
    if node.value not in rules.RETRAIN_MODES:
        return f'the retraining mode is one of {list(rules.RETRAIN_MODES)}, got {node.value!r}'
    return None


def _validate_fraction(node, _):
    if not 0 <= node.value < 1:
        return f'the validation fraction must be in [0, 1), got {node.value}'
    return None


def _validate_initial_parameters(node, _):
    from aiida_hydrides.core.lam.initial import InitialFrameSettings

    try:
        InitialFrameSettings.from_parameters(node.get_dict())
    except (HydridesInputError, TypeError) as exc:
        return str(exc)
    return None


def _validate_train_parameters(node, _):
    parameters = node.get_dict()
    if 'seed' in parameters:
        return 'seed is set per member by the work chain (the seed input)'
    return None


class ConcurrentLearningWorkChain(ProtocolMixin, WorkChain):
    """Concurrent learning (explore, select, label, retrain) of an ensemble of DeePMD models on an A-B-H system over
    a pressure window, until the share of candidate frames falls below a threshold in every stage."""

    _protocol_name = 'lam/concurrent'
    #: keys of the protocol that the builder reads (not inputs of the work chain)
    _protocol_free_keys = ('label.settings', 'label.dft', 'train.bootstrap_parameters', 'train.scratch_parameters')

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input('system', valid_type=orm.Str, help="The A-B-H system, written 'A-B', e.g. 'Ca-Y'.")
        spec.input(
            'pressures',
            valid_type=orm.List,
            validator=_validate_pressures,
            help='The pressures (GPa) of the exploration, e.g. [150, 200, 250]: every iteration searches at each.',
        )
        spec.input(
            'compositions',
            valid_type=orm.List,
            required=False,
            validator=_validate_compositions,
            help="Formulas to explore; default: the search's default compositions of the system (elements, binary "
            'hydrides and the distinct ternaries whose formula unit fits in explore.parameters.max_atoms).',
        )
        spec.input_namespace(
            'models',
            valid_type=orm.SinglefileData,
            dynamic=True,
            required=False,
            validator=_validate_models,
            help='The initial ensemble (frozen DeePMD models), in key order; with fewer than ensemble_size models the '
            'missing members are trained from the first one; none: the members are trained from scratch (on the '
            'training set, or on the first frames of the system labelled with pw.x).',
        )
        spec.input_namespace(
            'checkpoints',
            valid_type=orm.SinglefileData,
            dynamic=True,
            required=False,
            help='Training checkpoints (.pt) of the models, same keys: the parents of train.mode finetune.',
        )
        spec.input(
            'training_set',
            valid_type=TrainingSetData,
            required=False,
            help='The frames the models were trained on (e.g. the seed labels); the labelled frames are added to it. '
            'Required with models; without models and without it the run labels the first frames of the system.',
        )
        spec.input(
            'pretrained_model',
            valid_type=orm.SinglefileData,
            required=False,
            help='A pretrained DeePMD training checkpoint (.pt), e.g. a multi-head DPA model (`dp pretrained download` on '
            'a machine with internet): a run without models fine-tunes every member from it, instead of training '
            'from scratch.',
        )
        spec.input(
            'pretrained_head',
            valid_type=orm.Str,
            required=False,
            help='The head of a multi-task pretrained model to fine-tune (RANDOM: a new fitting net on its descriptor).',
        )
        spec.input(
            'previous_summary',
            valid_type=orm.Dict,
            required=False,
            help='The summary of the run this one continues: iterations are numbered on, its stage is kept.',
        )
        spec.input('lam_code', valid_type=orm.AbstractCode, help='The hydrides-lam code (searches, model deviation).')
        spec.input('dp_code', valid_type=orm.AbstractCode, help='The dp code (training).')
        spec.input('pw_code', valid_type=orm.AbstractCode, help='The pw.x code (labels).')
        spec.input(
            'max_iterations',
            valid_type=orm.Int,
            default=lambda: orm.Int(5),
            validator=validate_positive_int,
            help='Most iterations of this run.',
        )
        spec.input(
            'candidate_threshold',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.05),
            validator=_validate_threshold,
            help='A stage is converged when the share of candidate frames falls below this.',
        )
        spec.input(
            'ensemble_size',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            validator=_validate_ensemble_size,
            help='Members of the ensemble (they differ only in their training seeds).',
        )
        spec.input(
            'stages',
            valid_type=orm.List,
            default=lambda: orm.List(list(rules.STAGES)),
            validator=_validate_stages,
            help="The stages in order: 'trajectory' (frames along relaxations), 'minima' (relaxed minima).",
        )
        spec.input(
            'seed',
            valid_type=orm.Int,
            default=lambda: orm.Int(0),
            help='Base seed of the searches, the choice of candidates and the members of the ensemble.',
        )
        spec.input_namespace('initial', help='The first frames of a run that starts without models.')
        spec.input(
            'initial.parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_initial_parameters,
            help='InitialFrameSettings: random structures per composition and pressure, rattles, rattle_sigma, '
            'strain, max_atoms, max_frames (the labels of iteration 0); the seed is the seed input.',
        )
        spec.input_namespace('explore', help='The searches of each iteration.')
        spec.input(
            'explore.parameters',
            valid_type=orm.Dict,
            validator=_validate_search_parameters,
            help='Search settings (SearchSettings fields: budget, population, max_atoms, max_steps, fmax, '
            'trajectory_every, ...); the pressure and seed are set per search.',
        )
        spec.input(
            'explore.compositions_per_job',
            valid_type=orm.Int,
            default=lambda: orm.Int(20),
            validator=validate_positive_int,
            help='Compositions per search job (one SearchBaseWorkChain per pressure and batch).',
        )
        spec.input(
            'explore.options', valid_type=dict, non_db=True, required=False, help='metadata.options of the searches.'
        )
        spec.input_namespace('select', help='The model deviation of each iteration.')
        spec.input(
            'select.parameters',
            valid_type=orm.Dict,
            validator=_validate_deviation_parameters,
            help='Deviation parameters: trust window f_trust_lo / f_trust_hi (eV/Å), max_candidates (the most '
            'frames labelled per iteration), selection, dedup_threshold, ...; frames and seed are set per stage.',
        )
        spec.input('select.options', valid_type=dict, non_db=True, required=False, help='metadata.options of the jobs.')
        spec.input_namespace('label', help='The DFT labels of the candidates.')
        spec.input(
            'label.settings',
            valid_type=orm.Dict,
            validator=_validate_label_settings,
            help='The labelling settings with the DFT settings of the label set (resolve_label_settings()).',
        )
        spec.input(
            'label.max_concurrent',
            valid_type=orm.Int,
            default=lambda: orm.Int(8),
            validator=validate_positive_int,
            help='Most PwBaseWorkChains running at a time.',
        )
        spec.input(
            'label.options',
            valid_type=dict,
            non_db=True,
            required=False,
            help='metadata.options of pw.x replacing those of the settings.',
        )
        spec.input_namespace('train', help='The training of the ensemble.')
        spec.input(
            'train.parameters',
            valid_type=orm.Dict,
            validator=_validate_train_parameters,
            help='hydrides.lam.train parameters of the retraining each iteration (steps, learning_rate, loss, ...).',
        )
        spec.input(
            'train.bootstrap_parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_train_parameters,
            help='Parameters of the training of missing members from model 0 (default: train.parameters).',
        )
        spec.input(
            'train.scratch_parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_train_parameters,
            help="Parameters of the training from scratch of a run without models (default: the seed model's recipe "
            "with train.parameters' steps).",
        )
        spec.input(
            'train.mode',
            valid_type=orm.Str,
            default=lambda: orm.Str('init'),
            validator=_validate_mode,
            help="'init': continue each member's frozen model; 'finetune': fine-tune its checkpoint (.pt).",
        )
        spec.input(
            'train.validation_fraction',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.1),
            validator=_validate_fraction,
            help='Share of the frames held out for validation (split by frame id); 0: no validation.',
        )
        spec.input(
            'train.compress',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Also compress the trained models (the workers compress their own copies when they evaluate).',
        )
        spec.input(
            'train.threads',
            valid_type=orm.Int,
            required=False,
            validator=validate_positive_int,
            help='CPU threads of each training job.',
        )
        spec.input(
            'train.options', valid_type=dict, non_db=True, required=False, help='metadata.options of the trainings.'
        )

        spec.outline(
            cls.setup,
            if_(cls.should_start_from_scratch)(
                if_(cls.should_label_initial)(
                    cls.initial_frames,
                    while_(cls.should_submit_labels)(cls.submit_labels),
                    cls.collect_labels,
                ),
                cls.train_from_scratch,
                cls.inspect_from_scratch,
            ),
            if_(cls.should_bootstrap)(cls.bootstrap, cls.inspect_bootstrap),
            while_(cls.should_iterate)(
                cls.explore,
                cls.inspect_explore,
                while_(cls.should_select)(cls.select, cls.inspect_select),
                if_(cls.should_label)(
                    while_(cls.should_submit_labels)(cls.submit_labels),
                    cls.collect_labels,
                    cls.retrain,
                    cls.inspect_retrain,
                ),
                cls.finish_iteration,
            ),
            cls.results,
        )

        spec.output_namespace(
            'ensemble', valid_type=orm.SinglefileData, dynamic=True, help='The final ensemble (m0, m1, ...).'
        )
        spec.output_namespace(
            'checkpoints', valid_type=orm.SinglefileData, dynamic=True, required=False, help='Their checkpoints.'
        )
        spec.output('training_set', valid_type=TrainingSetData, help='The final training set.')
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Per iteration: shares of accurate / candidate / failed frames per stage, frames labelled, pw.x '
            'hours, validation errors of every model; the stage to go on with and whether the run converged.',
        )
        spec.output_namespace(
            'iterations',
            dynamic=True,
            help='Per iteration (it01, it02, ...; it00: the members trained first): ensemble, checkpoints, '
            'training_set, summary.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(201, 'ERROR_INVALID_EXPLORATION', message='the exploration cannot run: {message}')
        spec.exit_code(202, 'ERROR_MODEL', message='the ensemble cannot be used: {message}')
        spec.exit_code(203, 'ERROR_TRAINING_SET', message='the training set cannot be used: {message}')
        spec.exit_code(204, 'ERROR_PSEUDO_FAMILY', message='the labels cannot be computed: {message}')
        spec.exit_code(205, 'ERROR_INVALID_SETTINGS', message='invalid settings: {message}')
        spec.exit_code(301, 'ERROR_NO_FRAMES', message='iteration {iteration}: the searches gave no {stage} frames')
        spec.exit_code(304, 'ERROR_NO_INITIAL_FRAMES', message='the first frames of the system: {message}')
        spec.exit_code(302, 'ERROR_NO_LABELS', message='iteration {iteration}: every labelling failed: {message}')
        spec.exit_code(303, 'ERROR_TRAINING_SET_GROWTH', message='iteration {iteration}: {message}')
        spec.exit_code(401, 'ERROR_BOOTSTRAP_FAILED', message='the training of the first members failed: {message}')
        spec.exit_code(
            402, 'ERROR_EXPLORATION_FAILED', message='iteration {iteration}: every search failed without results'
        )
        spec.exit_code(
            403, 'ERROR_DEVIATION_FAILED', message='iteration {iteration}: the model deviation job failed: {message}'
        )
        spec.exit_code(404, 'ERROR_TRAINING_FAILED', message='iteration {iteration}: training failed: {message}')

    # -- builder -------------------------------------------------------------------------------------------------------
    @classmethod
    def get_builder_from_protocol(
        cls,
        lam_code,
        dp_code,
        pw_code,
        system=None,
        pressures=None,
        models=None,
        training_set=None,
        compositions=None,
        protocol=None,
        overrides=None,
        options=None,
        parent=None,
        from_scratch=False,
        pretrained=None,
        pretrained_head=None,
        **_,
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param lam_code: the ``hydrides-lam`` code (instance or label), ``dp_code`` the ``dp`` code, ``pw_code``
            pw.x.
        :param system: e.g. ``'Ca-Y'`` (default: the parent's).
        :param pressures: a window ``'150-250'`` (spread over the protocol's ``pressure_points``), a list of
            pressures in GPa or a string ``'150,200,250'`` (default: the parent's, else 150, 200 and 250 GPa).
        :param models: the initial ensemble: model files or ``SinglefileData`` (a list, or a mapping of keys to
            them); default: the parent's last ensemble, else the seed model (the missing members are trained).
        :param training_set: a ``hydrides.lam.training_set`` node; default: the parent's, else the seed labels
            without their held-out frames.
        :param compositions: formulas to explore (default: the parent's, else the system's defaults).
        :param protocol: ``fast``, ``moderate`` (default) or ``precise`` (see ``lam/concurrent.yaml``).
        :param overrides: dictionary overriding the protocol, e.g. ``{'max_iterations': 3, 'select': {'parameters':
            {'max_candidates': 20}}}``; ``label.settings`` overrides ``label.yaml``, ``label.dft`` the DFT settings
            (then with a new ``label_set``).
        :param options: ``metadata.options`` per part: ``{'explore': {...}, 'select': ..., 'label': ..., 'train':
            ...}``, merged over the protocol's.
        :param parent: a ``hydrides.lam.concurrent`` node (or PK) to continue: its last ensemble, checkpoints,
            training set and summary.
        :param from_scratch: start without models: the members are trained from scratch on ``training_set``, or,
            without one, on the first frames of the system labelled with pw.x (``initial.parameters``); for a
            system no model covers.
        :param pretrained: a pretrained training checkpoint (``.pt`` file or ``SinglefileData``), e.g. a multi-head
            DPA model: as ``from_scratch``, but every member is fine-tuned from it (``pretrained_head``: the head of a
            multi-task model, or ``RANDOM``).
        :raises ValueError: for an unknown protocol or override, a bad pressure, a missing file or a bad parent.
        """
        from aiida_hydrides.core.units import parse_pressures
        from aiida_hydrides.workflows.protocols import recursive_merge
        from aiida_hydrides.workflows.search.base import load_model_node

        codes = []
        for code in (lam_code, dp_code, pw_code):
            codes.append(orm.load_code(code) if isinstance(code, (str, int)) else code)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        unknown = sorted(set(options or {}) - set(OPTION_PARTS))
        if unknown:
            raise ValueError(f'unknown parts {unknown} of options; accepted: {", ".join(OPTION_PARTS)}')

        continued = {}
        if parent is not None:
            try:
                continued = load_parent(parent)
            except HydridesInputError as exc:
                raise ValueError(str(exc)) from exc
        system = system or continued.get('system')
        if not system:
            raise ValueError('give the system (e.g. Ca-Y) or a parent run')
        if pressures is None:
            pressures = continued.get('pressures') or [150.0, 200.0, 250.0]
        pressures = parse_pressures(pressures, inputs['pressure_points'])
        if compositions is None:
            compositions = continued.get('compositions')

        if pretrained is not None:
            from_scratch = True
        elif pretrained_head is not None:
            raise ValueError('pretrained_head needs a pretrained model')
        if from_scratch:
            if models or continued:
                raise ValueError('a run from scratch starts without models: give no models and no parent')
            models = {}
        elif models is None:
            if continued:
                models = continued['models']
            else:
                from aiida_hydrides.models import seed_model_path

                models = [seed_model_path()]
        if not isinstance(models, dict):
            models = {f'm{index}': model for index, model in enumerate(models)}
        if not models and not from_scratch:
            raise ValueError('give at least one model (or start from scratch)')
        if training_set is None:
            training_set = continued.get('training_set')
        if training_set is None and not from_scratch:
            from aiida_hydrides.data.training_set import training_set_from_pieces

            training_set = training_set_from_pieces(heldout=False)

        builder = cls.get_builder()
        builder.system = orm.Str(system)
        builder.pressures = orm.List(pressures)
        if compositions is not None:
            builder.compositions = orm.List(list(compositions))
        if models:
            builder.models = {key: load_model_node(model) for key, model in models.items()}
        if continued.get('checkpoints'):
            builder.checkpoints = dict(continued['checkpoints'])
        if training_set is not None:
            builder.training_set = training_set
        if continued.get('previous_summary') is not None:
            builder.previous_summary = continued['previous_summary']
        builder.lam_code, builder.dp_code, builder.pw_code = codes
        for key in ('max_iterations', 'ensemble_size', 'seed'):
            builder[key] = orm.Int(inputs[key])
        builder.candidate_threshold = orm.Float(inputs['candidate_threshold'])
        builder.stages = orm.List(list(inputs['stages']))

        def merged_options(part):
            return recursive_merge(inputs[part].get('options', {}) or {}, (options or {}).get(part, {}) or {})

        if from_scratch and training_set is None:
            builder.initial.parameters = orm.Dict(inputs['initial']['parameters'])
        explore = inputs['explore']
        builder.explore.parameters = orm.Dict(explore['parameters'])
        builder.explore.compositions_per_job = orm.Int(explore['compositions_per_job'])
        builder.explore.options = merged_options('explore')
        builder.select.parameters = orm.Dict(inputs['select']['parameters'])
        builder.select.options = merged_options('select')
        label = inputs['label']
        try:
            settings = resolve_label_settings(label.get('settings'), label.get('dft'))
        except HydridesInputError as exc:
            raise ValueError(str(exc)) from exc
        builder.label.settings = orm.Dict(settings)
        builder.label.max_concurrent = orm.Int(label['max_concurrent'])
        if merged_options('label'):
            builder.label.options = merged_options('label')
        train = inputs['train']
        builder.train.parameters = orm.Dict(train['parameters'])
        if train.get('bootstrap_parameters'):
            builder.train.bootstrap_parameters = orm.Dict(train['bootstrap_parameters'])
        if pretrained is not None:
            if not isinstance(pretrained, orm.SinglefileData):
                import pathlib

                path = pathlib.Path(pretrained)
                if not path.is_file():
                    raise ValueError(f'the pretrained model {path} does not exist')
                pretrained = orm.SinglefileData(path)
            builder.pretrained_model = pretrained
            if pretrained_head is not None:
                builder.pretrained_head = orm.Str(pretrained_head)
        elif from_scratch and train.get('scratch_parameters'):
            builder.train.scratch_parameters = orm.Dict(train['scratch_parameters'])
        builder.train.mode = orm.Str(train['mode'])
        builder.train.validation_fraction = orm.Float(train['validation_fraction'])
        builder.train.compress = orm.Bool(train['compress'])
        if train.get('threads'):
            builder.train.threads = orm.Int(train['threads'])
        builder.train.options = merged_options('train')
        return builder

    # -- set-up --------------------------------------------------------------------------------------------------------
    def _fail(self, label: str, **values):
        exit_code = self.exit_codes[label].format(**values)
        self.report(exit_code.message)
        return exit_code

    def setup(self):
        """Check the inputs together (system and compositions, models and training set, labelling settings and the
        pseudopotential family, training parameters) and set the state of the first iteration."""
        from aiida_hydrides.core.lam.errors import LamModelError
        from aiida_hydrides.core.lam.model import model_type_map
        from aiida_hydrides.core.lam.training import build_training_input
        from aiida_hydrides.workflows.search.system import SearchInputError, check_model_elements, plan_search

        try:
            loop = rules.check_loop_settings(
                self.inputs.max_iterations.value,
                self.inputs.candidate_threshold.value,
                self.inputs.ensemble_size.value,
                self.inputs.stages.get_list(),
                self.inputs.train.mode.value,
            )
        except HydridesInputError as exc:
            return self._fail('ERROR_INVALID_SETTINGS', message=str(exc))
        self.ctx.stages = loop['stages']
        explore = self.inputs.explore.parameters.get_dict()
        if 'trajectory' in loop['stages'] and not explore.get('trajectory_every'):
            return self._fail(
                'ERROR_INVALID_SETTINGS',
                message='the trajectory stage needs explore.parameters.trajectory_every > 0 (every k-th frame of '
                'each relaxation)',
            )

        pressures = self.inputs.pressures.get_list()
        compositions = self.inputs.compositions.get_list() if 'compositions' in self.inputs else None
        try:
            plan = plan_search(self.inputs.system.value, compositions, {**explore, 'pressure_gpa': float(pressures[0])})
        except SearchInputError as exc:
            return self._fail('ERROR_INVALID_EXPLORATION', message=str(exc))
        self.ctx.system = plan.system
        self.ctx.formulas = plan.formulas
        if plan.excluded:
            self.report(f'{len(plan.excluded)} compositions left out (formula unit above max_atoms)')

        # the ensemble: models in key order, renamed m0, m1, ...; none: the members are trained from scratch
        keys = sorted(self.inputs.get('models', {}) or {}, key=_natural_key)  # m2 before m10
        size = loop['ensemble_size']
        if len(keys) > size:
            self.report(f'{len(keys)} models given for an ensemble of {size}: the first {size} are used')
            keys = keys[:size]
        training_set = self.inputs.get('training_set')
        if keys and training_set is None:
            return self._fail(
                'ERROR_TRAINING_SET',
                message='give the training set the models were trained on (training_set): the labelled frames are '
                'added to it',
            )
        data_elements = set(training_set.elements) if training_set is not None else set()
        # the types of the models: the training set's, or (from nothing) the system's elements, hydrogen first
        self.ctx.type_map = list(training_set.type_map) if training_set is not None else list(plan.elements)
        if not keys and training_set is not None:
            lacking = sorted(set(plan.elements) - set(training_set.type_map))
            if lacking:
                return self._fail(
                    'ERROR_TRAINING_SET',
                    message=f'its type map {training_set.type_map} lacks {lacking}: models trained on it from scratch '
                    f'could not treat {plan.system}',
                )
        for key in keys:
            node = self.inputs.models[key]
            try:
                with node.as_path() as path:
                    type_map = model_type_map(path)
            except LamModelError as exc:
                return self._fail('ERROR_MODEL', message=f'models.{key}: {exc}')
            try:
                check_model_elements(plan, type_map, node.filename)
            except SearchInputError as exc:
                return self._fail('ERROR_MODEL', message=str(exc))
            outside = sorted(data_elements - set(type_map))
            if outside:
                return self._fail(
                    'ERROR_TRAINING_SET',
                    message=f'the training set has {outside}, which the model {key} ({node.filename}) lacks',
                )
        self.ctx.ensemble = {f'm{index}': self.inputs.models[key].uuid for index, key in enumerate(keys)}
        checkpoints = self.inputs.get('checkpoints', {}) or {}
        self.ctx.checkpoints = {
            f'm{index}': checkpoints[key].uuid for index, key in enumerate(keys) if key in checkpoints
        }
        pretrained = self.inputs.get('pretrained_model')
        if pretrained is not None:
            message = self._check_pretrained(pretrained, bool(keys), plan.elements)
            if message:
                return self._fail('ERROR_MODEL', message=message)
        elif 'pretrained_head' in self.inputs:
            return self._fail('ERROR_INVALID_SETTINGS', message='pretrained_head needs pretrained_model')
        self.ctx.mode = loop['retrain_mode']
        if self.ctx.mode == 'finetune' and keys:
            missing = [f'm{index}' for index in range(len(keys)) if f'm{index}' not in self.ctx.checkpoints]
            if missing:
                return self._fail(
                    'ERROR_MODEL',
                    message=f'train.mode finetune starts from checkpoints (.pt); {missing} have none (give the '
                    "checkpoints input, or use mode 'init')",
                )

        # the labels: the label set of the training data, a family with every element
        settings = self.inputs.label.settings.get_dict()
        label_set = settings['label_set']
        if training_set is not None and training_set.label_set and training_set.label_set != label_set:
            return self._fail(
                'ERROR_TRAINING_SET',
                message=f'its labels come from the DFT settings {training_set.label_set!r}, the loop labels with '
                f'{label_set!r}: labels of different settings cannot be mixed in one training set',
            )
        try:
            from aiida_hydrides.pseudos import PseudoFamilyError, check_family_covers, get_pseudo_family

            family = get_pseudo_family(settings['dft']['pseudo_family'])
            check_family_covers(family, plan.elements)
        except (PseudoFamilyError, ValueError) as exc:
            return self._fail('ERROR_PSEUDO_FAMILY', message=str(exc))
        self.ctx.family_uuid = family.uuid

        # the training parameters, checked as the training jobs will check them
        elements = sorted(data_elements | set(plan.elements))
        fraction = self.inputs.train.validation_fraction.value
        checked = [('train.parameters', self.inputs.train.parameters, self.ctx.mode)]
        if keys:
            checked.append(('train.bootstrap_parameters', self.inputs.train.get('bootstrap_parameters'), 'init'))
        elif pretrained is None:
            checked.append(('train.scratch_parameters', self._scratch_parameters(), None))
        for label, parameters, mode in checked:
            if parameters is None:
                continue
            if isinstance(parameters, orm.Dict):
                parameters = parameters.get_dict()
            try:
                build_training_input(
                    {**parameters, 'seed': 0},
                    type_map=self.ctx.type_map,
                    elements=elements,
                    validation_dir='validation' if fraction > 0 else None,
                    mode=mode,
                )
            except HydridesInputError as exc:
                return self._fail('ERROR_INVALID_SETTINGS', message=f'{label}: {exc}')

        # where the run starts: a new one, or the continuation of a previous one
        previous = self.inputs.previous_summary.get_dict() if 'previous_summary' in self.inputs else {}
        self.ctx.iteration = int(previous.get('iteration', 0))
        stage = previous.get('stage') if previous else loop['stages'][0]
        if previous and stage is None:  # the previous run converged: check its last stage again
            stage = loop['stages'][-1]
        if stage not in loop['stages']:
            stage = loop['stages'][0]
        self.ctx.stage = stage
        self.ctx.summary = self.inputs.previous_summary.uuid if 'previous_summary' in self.inputs else None
        self.ctx.training_set = training_set.uuid if training_set is not None else None
        self.ctx.pretrained = pretrained.uuid if pretrained is not None else None
        self.ctx.labels = {}
        self.ctx.calibration = None
        self.ctx.done = 0
        self.ctx.converged = False
        self.ctx.threshold = loop['candidate_threshold']
        how = f'fine-tuned from {pretrained.filename}' if pretrained is not None else 'trained from scratch'
        if keys:
            start = f'{len(keys)} model(s) for an ensemble of {size}, {training_set.nframes} training frames'
        elif training_set is not None:
            start = f'{size} models {how} on {training_set.nframes} frames'
        else:
            start = f'{size} models {how} on the first frames of the system, labelled with pw.x'
        self.report(
            f'concurrent learning of {plan.system} at {", ".join(f"{p:g}" for p in pressures)} GPa over '
            f'{len(plan.formulas)} compositions: {start}, stage {stage}'
            + (f', continuing after iteration {self.ctx.iteration}' if previous else '')
        )
        return None

    def _check_pretrained(self, node, with_models: bool, elements) -> str | None:
        """What keeps ``pretrained_model`` from being fine-tuned into the members (``None`` when it can be): models
        given as well, not a ``.pt`` checkpoint, unreadable, or a head it lacks (a multi-task model needs one)."""
        from aiida_hydrides.core.lam.model_definition import checkpoint_model_params
        from aiida_hydrides.core.lam.training import parent_descriptor_type

        if with_models:
            return 'give either models (the ensemble to continue) or a pretrained_model to fine-tune, not both'
        if not node.filename.lower().endswith('.pt'):
            return (
                f'pretrained_model {node.filename}: fine-tuning needs the training checkpoint (.pt) of the pretrained '
                'model, not a frozen model'
            )
        with node.as_path() as path:
            params = checkpoint_model_params(path)
        if params is None:
            return f'pretrained_model {node.filename}: no model parameters could be read from the checkpoint'
        head = self.inputs.pretrained_head.value if 'pretrained_head' in self.inputs else None
        try:
            parent_descriptor_type(params, 'finetune', head)
        except HydridesInputError as exc:
            return f'pretrained_model {node.filename}: {exc}'
        return None

    # -- training helpers ------------------------------------------------------------------------------------------------
    def _split(self, training_set, tag: str):
        """(train, validation) of ``training_set``: the deterministic split by frame id, or the whole set and
        ``None`` without validation (fraction 0, or a set too small to split)."""
        from aiida_hydrides.calculations.functions.lam_train import split_training_set

        fraction = self.inputs.train.validation_fraction.value
        if fraction <= 0:
            return training_set, None
        _, node = split_training_set.run_get_node(
            training_set, orm.Float(fraction), metadata={'call_link_label': f'split_{tag}'}
        )
        if not node.is_finished_ok:
            self.report(f'no validation set in {tag}: {node.exit_message}')
            return training_set, None
        return node.outputs.train, node.outputs.validation

    def _submit_training(
        self, member: str, parent_uuid: str | None, mode: str | None, parameters: dict, seed: int, sets, tag: str
    ):
        from aiida.plugins import CalculationFactory

        train, validation = sets
        builder = CalculationFactory('hydrides.lam.train').get_builder()
        builder.code = self.inputs.dp_code
        builder.training_set = train
        if validation is not None:
            builder.validation_set = validation
        builder.parameters = orm.Dict({**parameters, 'seed': seed})
        if parent_uuid is not None:  # else from scratch
            builder.parent_model = orm.load_node(parent_uuid)
            builder.mode = orm.Str(mode)
            if parent_uuid == self.ctx.get('pretrained') and 'pretrained_head' in self.inputs:
                builder.finetune_head = self.inputs.pretrained_head
        builder.compress = self.inputs.train.compress
        if 'threads' in self.inputs.train:
            builder.threads = self.inputs.train.threads
        options = dict(self.inputs.train.get('options') or {})
        if options:
            builder.metadata.options = options
        builder.metadata.call_link_label = f'train_{tag}_{member}'
        builder.metadata.label = f'{self.ctx.system} {tag} {member}'
        return self.submit(builder)

    def _collect_training(self, members, tag: str):
        """The models of the finished training jobs of ``members`` into the ensemble; the names of those that
        failed without a model."""
        failed = []
        self.ctx.trainings = {}
        for member in members:
            node = self.ctx[f'train_{member}']
            if 'model' not in node.outputs:
                failed.append(f'{member} (TrainingCalculation<{node.pk}>: {node.exit_status} {node.exit_message})')
                continue
            if not node.is_finished_ok:
                self.report(f'{tag} {member}: {node.exit_message}; its model is used')
            self.ctx.ensemble[member] = node.outputs.model.uuid
            if 'checkpoint' in node.outputs:
                self.ctx.checkpoints[member] = node.outputs.checkpoint.uuid
            self.ctx.trainings[member] = node.uuid
        return failed

    def _training_nodes(self) -> dict:
        """The summaries and validation errors of the trainings just collected, keyed as ``summarize_iteration``
        takes them (``train_<member>``, ``validation_<member>``)."""
        nodes = {}
        for member, uuid in self.ctx.trainings.items():
            job = orm.load_node(uuid)
            if 'summary' in job.outputs:
                nodes[f'train_{member}'] = job.outputs.summary
            if 'validation_errors' in job.outputs:
                nodes[f'validation_{member}'] = job.outputs.validation_errors
        return nodes

    def _output_ensemble(self, prefix: str):
        for member, uuid in self.ctx.ensemble.items():
            self.out(f'{prefix}ensemble.{member}', orm.load_node(uuid))
        for member, uuid in self.ctx.checkpoints.items():
            self.out(f'{prefix}checkpoints.{member}', orm.load_node(uuid))

    # -- from scratch ----------------------------------------------------------------------------------------------------
    def _scratch_parameters(self) -> dict:
        """The parameters of the training from scratch: ``train.scratch_parameters``, or the seed model's recipe with
        the steps of ``train.parameters``."""
        node = self.inputs.train.get('scratch_parameters')
        if node is not None:
            return node.get_dict()
        steps = self.inputs.train.parameters.get('steps')
        return {'steps': steps} if steps else {}

    def should_start_from_scratch(self):
        """Whether the run starts without models (every member is trained from scratch)."""
        return not self.ctx.ensemble

    def should_label_initial(self):
        """Whether the run starts from nothing: no training set either, so the first frames are labelled."""
        return self.ctx.training_set is None

    def initial_frames(self):
        """The first frames of the system (a calcfunction): prototypes and random structures of every composition
        at every pressure, pristine and rattled; they are labelled as the candidates of an iteration are."""
        parameters = (self.inputs.get('initial') or {}).get('parameters')
        result, node = make_initial_frames.run_get_node(
            orm.List(list(self.ctx.formulas)),
            self.inputs.pressures,
            parameters if parameters is not None else orm.Dict({}),
            self.inputs.seed,
            metadata={'call_link_label': 'initial_frames'},
        )
        if not node.is_finished_ok:
            return self._fail('ERROR_NO_INITIAL_FRAMES', message=node.exit_message)
        frames = result['frames']
        self.ctx.candidates = frames.uuid
        self.ctx.label_ids = []
        self.ctx.label_stage = 'initial'
        origins = {}
        for origin in frames.get_array('origin'):
            origins[str(origin)] = origins.get(str(origin), 0) + 1
        self.report(
            f'{frames.base.attributes.get("n_structures")} first frames of {len(set(frames.get_array("formula")))} '
            f'compositions ({", ".join(f"{count} {origin}" for origin, count in sorted(origins.items()))}, rattled '
            'copies included)'
        )
        return None

    def train_from_scratch(self):
        """Train every member from scratch on the training set (or fine-tune it from ``pretrained_model``), each with
        its own seed."""
        size = self.inputs.ensemble_size.value
        members = [f'm{index}' for index in range(size)]
        pretrained = self.ctx.pretrained
        if pretrained is not None:  # the stage of fine-tuning: the retraining's parameters
            parameters, mode = self.inputs.train.parameters.get_dict(), 'finetune'
        else:
            parameters, mode = self._scratch_parameters(), None
        training_set = orm.load_node(self.ctx.training_set)
        sets = self._split(training_set, 'it00')
        base = self.inputs.seed.value
        jobs = {}
        for index, member in enumerate(members):
            try:
                jobs[f'train_{member}'] = self._submit_training(
                    member, pretrained, mode, parameters, rules.member_seed(base, index), sets, 'it00'
                )
            except ValueError as exc:  # the training job refused its inputs (e.g. elements the data lack)
                return self._fail('ERROR_BOOTSTRAP_FAILED', message=f'{member}: {exc}')
        self.ctx.members = members
        how = (
            f'fine-tuning {len(jobs)} members from the pretrained model'
            if pretrained
            else f'training {len(jobs)} members from scratch'
        )
        self.report(f'{how} on {training_set.nframes} frames')
        return self.to_context(**jobs)

    def inspect_from_scratch(self):
        """The members trained from scratch are the ensemble; iteration 0 (labels and training) is summarised."""
        failed = self._collect_training(self.ctx.members, 'it00')
        if failed:
            return self._fail('ERROR_BOOTSTRAP_FAILED', message='; '.join(failed))
        info = {
            'iteration': 0,
            'stage': 'initial',
            'decisions': {},
            'next_stage': self.ctx.stage,
            'threshold': self.ctx.threshold,
            'labels': dict(self.ctx.labels),
        }
        nodes = self._training_nodes()
        summary = summarize_iteration(orm.Dict(info), **nodes, metadata={'call_link_label': 'summary_it00'})
        self.ctx.summary = summary.uuid
        self._output_ensemble('iterations.it00.')
        self.out('iterations.it00.training_set', orm.load_node(self.ctx.training_set))
        self.out('iterations.it00.summary', summary)
        return None

    # -- bootstrap -------------------------------------------------------------------------------------------------------
    def should_bootstrap(self):
        """Whether members of the ensemble are missing."""
        return len(self.ctx.ensemble) < self.inputs.ensemble_size.value

    def bootstrap(self):
        """Train the missing members from model 0 on the initial training set, each with its own seed."""
        size = self.inputs.ensemble_size.value
        members = [f'm{index}' for index in range(len(self.ctx.ensemble), size)]
        node = self.inputs.train.get('bootstrap_parameters') or self.inputs.train.parameters
        parameters = node.get_dict()
        sets = self._split(orm.load_node(self.ctx.training_set), 'it00')
        base = self.inputs.seed.value
        jobs = {}
        for member in members:
            index = int(member[1:])
            jobs[f'train_{member}'] = self._submit_training(
                member, self.ctx.ensemble['m0'], 'init', parameters, rules.member_seed(base, index), sets, 'it00'
            )
        self.ctx.members = members
        self.report(f'training the members {", ".join(members)} from m0 ({len(jobs)} jobs)')
        return self.to_context(**jobs)

    def inspect_bootstrap(self):
        """Add the trained members to the ensemble."""
        failed = self._collect_training(self.ctx.members, 'it00')
        if failed:
            return self._fail('ERROR_BOOTSTRAP_FAILED', message='; '.join(failed))
        self._output_ensemble('iterations.it00.')
        return None

    # -- explore ---------------------------------------------------------------------------------------------------------
    def should_iterate(self):
        """Whether another iteration runs: not converged, and fewer than ``max_iterations`` done."""
        return not self.ctx.converged and self.ctx.done < self.inputs.max_iterations.value

    @property
    def _tag(self) -> str:
        return f'it{self.ctx.iteration:02d}'

    def explore(self):
        """Search every batch of compositions at every pressure with model 0 (new seeds each iteration)."""
        from aiida_hydrides.workflows.search.base import SearchBaseWorkChain

        self.ctx.iteration += 1
        self.ctx.decisions = {}
        self.ctx.deviations = {}
        self.ctx.label_ids = []
        self.ctx.trainings = {}
        self.ctx.labels = {}
        self.ctx.calibration = None
        self.ctx.select_pending = True
        self.ctx.label_stage = self.ctx.stage
        explore = self.inputs.explore.parameters.get_dict()
        if self.ctx.stage != 'trajectory':
            explore['trajectory_every'] = 0
        size = self.inputs.explore.compositions_per_job.value
        formulas = self.ctx.formulas
        batches = [formulas[start : start + size] for start in range(0, len(formulas), size)]
        restart = SearchBaseWorkChain.get_protocol_inputs()
        options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}
        options.update(self.inputs.explore.get('options') or {})
        model = orm.load_node(self.ctx.ensemble['m0'])
        jobs, self.ctx.searches = {}, {}
        for index, pressure in enumerate(self.inputs.pressures.get_list()):
            for batch_index, batch in enumerate(batches):
                key = rules.source_key(pressure, batch_index)
                seed = rules.search_seed(self.inputs.seed.value, self.ctx.iteration, index, batch_index)
                builder = SearchBaseWorkChain.get_builder()
                builder.search.code = self.inputs.lam_code
                builder.search.model = model
                builder.search.compositions = orm.List(batch)
                builder.search.parameters = orm.Dict({**explore, 'pressure_gpa': float(pressure), 'seed': seed})
                builder.search.metadata.options = options
                builder.max_iterations = orm.Int(restart['max_iterations'])
                builder.clean_workdir = orm.Bool(restart['clean_workdir'])
                builder.metadata.call_link_label = f'explore_{self._tag}_{key}'
                builder.metadata.label = f'{self.ctx.system} {self._tag} {pressure:g} GPa: {", ".join(batch[:4])}'
                jobs[f'search_{key}'] = self.submit(builder)
                self.ctx.searches[key] = float(pressure)
        self.report(
            f'iteration {self.ctx.iteration} (stage {self.ctx.stage}): {len(jobs)} searches of '
            f'{len(formulas)} compositions with model m0'
        )
        return self.to_context(**jobs)

    def inspect_explore(self):
        """Collect the ``samples`` and ``minima`` of every search job that produced them."""
        self.ctx.frames = {'samples': {}, 'minima': {}}
        failed = []
        for key in self.ctx.searches:
            node = self.ctx[f'search_{key}']
            if not node.is_finished_ok:
                self.report(f'SearchBaseWorkChain<{node.pk}> ({key}): {node.exit_status} {node.exit_message}')
            found = False
            for output in ('samples', 'minima'):
                for job, data in (node.outputs[output] if output in node.outputs else {}).items():
                    self.ctx.frames[output][f'{key}_{job}'] = data.uuid
                    found = True
            if not found:
                failed.append(key)
        if not self.ctx.frames['samples']:
            return self._fail('ERROR_EXPLORATION_FAILED', iteration=self.ctx.iteration)
        if failed:
            self.report(f'the searches {", ".join(failed)} gave no results; going on with the others')
        return None

    # -- select ----------------------------------------------------------------------------------------------------------
    def should_select(self):
        """Whether a stage is still to be evaluated in this iteration."""
        return self.ctx.select_pending

    @staticmethod
    def _count_frames(node, which: str) -> int:
        if which == 'trajectory':
            if 'trajectory_offsets' not in node.get_arraynames():
                return 0
            return max(len(node.get_array('trajectory_offsets')) - 1, 0)
        return int(node.base.attributes.get('n_structures', len(node.get_array('offsets')) - 1))

    def select(self):
        """The model deviation of the ensemble on the frames of the stage (skipped without frames)."""
        from aiida.plugins import CalculationFactory

        stage = self.ctx.stage
        which = rules.STAGE_FRAMES[stage]
        frames = {}
        for key, uuid in self.ctx.frames[rules.STAGE_OUTPUT[stage]].items():
            node = orm.load_node(uuid)
            if self._count_frames(node, which):
                frames[key] = node
        if not frames:
            return self._fail('ERROR_NO_FRAMES', iteration=self.ctx.iteration, stage=stage)
        parameters = self.inputs.select.parameters.get_dict()
        parameters.update(
            frames=which, seed=int(parameters.get('seed', 0)) + self.inputs.seed.value + self.ctx.iteration
        )
        builder = CalculationFactory('hydrides.lam.deviation').get_builder()
        builder.code = self.inputs.lam_code
        builder.models = {member: orm.load_node(uuid) for member, uuid in self.ctx.ensemble.items()}
        builder.frames = frames
        builder.parameters = orm.Dict(parameters)
        options = dict(self.inputs.select.get('options') or {})
        if options:
            builder.metadata.options = options
        builder.metadata.call_link_label = f'select_{self._tag}_{stage}'
        builder.metadata.label = f'{self.ctx.system} {self._tag} {stage}'
        return self.to_context(deviation=self.submit(builder))

    def inspect_select(self):
        """Record the shares of the stage and decide: label its candidates, evaluate the next stage, or stop."""
        node = self.ctx.deviation
        stage = self.ctx.stage
        if not node.is_finished_ok or 'summary' not in node.outputs:
            return self._fail(
                'ERROR_DEVIATION_FAILED',
                iteration=self.ctx.iteration,
                message=f'LamDeviationCalculation<{node.pk}> {node.exit_status}: {node.exit_message}',
            )
        summary = node.outputs.summary.get_dict()
        shares = summary.get('shares', {})
        decision, following = rules.stage_decision(stage, shares, self.ctx.threshold, self.ctx.stages)
        self.ctx.deviations[stage] = node.outputs.summary.uuid
        self.ctx.decisions[stage] = decision
        self.report(
            f'iteration {self.ctx.iteration}, {stage}: {summary.get("n_frames", 0)} frames, accurate '
            f'{shares.get("accurate", 0):.1%}, candidate {shares.get("candidate", 0):.1%}, failed '
            f'{shares.get("failed", 0):.1%}; '
            + {
                'label': f'{summary.get("n_chosen", 0)} candidates to label',
                'next_stage': f'converged (candidates < {self.ctx.threshold:.1%}): evaluating {following}',
                'converged': f'converged (candidates < {self.ctx.threshold:.1%}): the last stage',
            }[decision]
        )
        if shares.get('failed', 0) > 0.5:
            self.report(
                f'more than half of the {stage} frames are beyond f_trust_hi: widen the trust window or check the '
                'exploration'
            )
        if decision == 'label':
            self.ctx.select_pending = False
            self.ctx.label_stage = stage
            self.ctx.candidates = node.outputs.candidates.uuid
            self.ctx.n_chosen = int(summary.get('n_chosen', 0))
        elif decision == 'next_stage':
            self.ctx.stage = following
            self.ctx.label_stage = following
        else:
            self.ctx.select_pending = False
            self.ctx.converged = True
            self.ctx.n_chosen = 0
        return None

    # -- label -----------------------------------------------------------------------------------------------------------
    def should_label(self):
        """Whether candidates were chosen in this iteration."""
        if self.ctx.converged:
            return False
        if not self.ctx.n_chosen:
            self.report('no candidate was chosen (max_candidates 0?): nothing to label or retrain')
            return False
        return True

    def _label_builders(self) -> dict:
        from aiida_hydrides.workflows.lam.labels import get_label_builders

        settings = self.inputs.label.settings.get_dict()
        tag = f'{self.ctx.system.replace("-", "")}-{self._tag}'
        return get_label_builders(
            orm.load_node(self.ctx.candidates),
            self.inputs.pw_code,
            orm.load_group(uuid=self.ctx.family_uuid),
            tag=tag,
            settings=settings,
            options=dict(self.inputs.label.get('options') or {}) or None,
        )

    def should_submit_labels(self):
        """Whether labelling work chains remain to be submitted (the first call lists them)."""
        if not self.ctx.label_ids:
            self.ctx.label_ids = list(self._label_builders())
            self.ctx.label_next = 0
            self.report(f'labelling {len(self.ctx.label_ids)} frames with pw.x')
        return self.ctx.label_next < len(self.ctx.label_ids)

    def submit_labels(self):
        """Submit the next ``label.max_concurrent`` labelling work chains and wait for them."""
        builders = self._label_builders()
        size = self.inputs.label.max_concurrent.value
        jobs = {}
        for frame_id in self.ctx.label_ids[self.ctx.label_next : self.ctx.label_next + size]:
            builder = builders[frame_id]
            builder.metadata.call_link_label = f'label_{frame_id.replace("-", "_")}'
            jobs[f'label_{frame_id}'] = self.submit(builder)
        self.ctx.label_next += len(jobs)
        return self.to_context(**jobs)

    def collect_labels(self):
        """Add the labelled frames to the training set (a calcfunction); report the failed ones and the pw.x time."""
        from aiida_hydrides.workflows.lam.labels import labelled_frames, tag_label_calculations

        settings = self.inputs.label.settings.get_dict()
        nodes = {frame_id: self.ctx[f'label_{frame_id}'] for frame_id in self.ctx.label_ids}
        _, failed = labelled_frames(nodes)
        calculations = tag_label_calculations(nodes, settings['label_set'])
        wall = 0.0
        for node in nodes.values():
            for child in node.called:
                if isinstance(child, orm.CalcJobNode) and 'output_parameters' in child.outputs:
                    wall += float(child.outputs.output_parameters.get('wall_time_seconds', 0.0) or 0.0)
        self.ctx.labels = {
            'n_candidates': len(nodes),
            'n_labelled': len(calculations),
            'n_failed': len(failed),
            'failed': failed,
            'pw_wall_hours': wall / 3600.0,
        }
        for frame_id, reason in failed.items():
            self.report(f'{frame_id} left out: {reason}')
        if not calculations:
            return self._fail(
                'ERROR_NO_LABELS', iteration=self.ctx.iteration, message='; '.join(list(failed.values())[:3])
            )
        ids, inputs = label_inputs(calculations)
        if self.ctx.training_set is None:  # the first labels of a run from nothing
            result, node = start_training_set.run_get_node(
                orm.List(ids),
                orm.Str(settings['label_set']),
                orm.List(self.ctx.type_map),
                **inputs,
                metadata={'call_link_label': f'start_{self._tag}'},
            )
        else:
            result, node = add_labelled_frames.run_get_node(
                orm.load_node(self.ctx.training_set),
                orm.List(ids),
                orm.Str(settings['label_set']),
                **inputs,
                metadata={'call_link_label': f'grow_{self._tag}'},
            )
        if not node.is_finished_ok:
            return self._fail('ERROR_TRAINING_SET_GROWTH', iteration=self.ctx.iteration, message=node.exit_message)
        self.ctx.training_set = result['training_set'].uuid
        self.report(
            f'{len(calculations)} of {len(nodes)} frames labelled ({wall / 3600.0:.3g} h of pw.x); the training set '
            f'has {result["training_set"].nframes} frames'
        )
        self._compare_with_labels(ids, inputs)
        return None

    def _compare_with_labels(self, ids: list, inputs: dict) -> None:
        """Set the deviation of the labelled candidates against the error of the ensemble that chose them (a
        calcfunction; a diagnostic, so a failure is reported and the iteration goes on). Frames that no deviation
        chose (the first frames of a run from nothing) are not compared."""
        from aiida_hydrides.core.lam.calibration import calibration_line
        from aiida_hydrides.core.lam.deviation import PREDICTION_KEYS

        candidates = orm.load_node(self.ctx.candidates)
        deviation = (self.ctx.get('deviations') or {}).get(self.ctx.get('label_stage'))
        if deviation is None or not set(PREDICTION_KEYS) <= set(candidates.get_arraynames()):
            return
        indices = [self.ctx.label_ids.index(frame_id) for frame_id in ids]
        result, node = compare_with_labels.run_get_node(
            candidates,
            orm.load_node(deviation),
            orm.List(ids),
            orm.List(indices),
            **inputs,
            metadata={'call_link_label': f'calibration_{self._tag}'},
        )
        if not node.is_finished_ok:
            self.report(f'the labels could not be set against the ensemble: {node.exit_message}')
            return
        self.ctx.calibration = result['calibration'].uuid
        self.report(f'iteration {self.ctx.iteration}: {calibration_line(result["calibration"].get_dict())}')

    # -- retrain ---------------------------------------------------------------------------------------------------------
    def retrain(self):
        """Train every member further from its previous version on the grown set (seeds differ per member)."""
        sets = self._split(orm.load_node(self.ctx.training_set), self._tag)
        parameters = self.inputs.train.parameters.get_dict()
        mode = self.ctx.mode
        jobs = {}
        for member in self.ctx.ensemble:
            parent = self.ctx.checkpoints[member] if mode == 'finetune' else self.ctx.ensemble[member]
            seed = rules.member_seed(self.inputs.seed.value, int(member[1:]), self.ctx.iteration)
            jobs[f'train_{member}'] = self._submit_training(member, parent, mode, parameters, seed, sets, self._tag)
        self.ctx.members = list(self.ctx.ensemble)
        self.report(f'retraining the {len(jobs)} members ({mode}) on {sets[0].nframes} frames')
        return self.to_context(**jobs)

    def inspect_retrain(self):
        """The retrained members are the new ensemble."""
        failed = self._collect_training(self.ctx.members, self._tag)
        if failed:
            return self._fail('ERROR_TRAINING_FAILED', iteration=self.ctx.iteration, message='; '.join(failed))
        return None

    # -- summary ---------------------------------------------------------------------------------------------------------
    def finish_iteration(self):
        """The iteration's summary (a calcfunction over the deviation, training and validation outputs) and its
        outputs: ensemble, checkpoints, training set, summary."""
        stage = self.ctx.label_stage
        decision = self.ctx.decisions.get(stage)
        next_stage = None if decision == 'converged' else self.ctx.stage
        info = {
            'iteration': self.ctx.iteration,
            'stage': stage,
            'decisions': dict(self.ctx.decisions),
            'next_stage': next_stage,
            'threshold': self.ctx.threshold,
            'labels': dict(self.ctx.labels),
        }
        nodes = {f'deviation_{name}': orm.load_node(uuid) for name, uuid in self.ctx.deviations.items()}
        nodes.update(self._training_nodes())
        if self.ctx.calibration:
            nodes['calibration_labels'] = orm.load_node(self.ctx.calibration)
        previous = orm.load_node(self.ctx.summary) if self.ctx.summary else None
        inputs = {'previous': previous} if previous is not None else {}
        summary = summarize_iteration(
            orm.Dict(info), **inputs, **nodes, metadata={'call_link_label': f'summary_{self._tag}'}
        )
        self.ctx.summary = summary.uuid
        self.ctx.done += 1
        prefix = f'iterations.{self._tag}.'
        self._output_ensemble(prefix)
        self.out(f'{prefix}training_set', orm.load_node(self.ctx.training_set))
        self.out(f'{prefix}summary', summary)
        validation = summary['iterations'][-1].get('models', {})
        errors = [
            f'{member} {entry["validation"]["force_rmse_mev_per_angstrom"]:.1f} meV/A'
            for member, entry in validation.items()
            if 'validation' in entry
        ]
        if errors:
            self.report(f'iteration {self.ctx.iteration}: validation force RMSE {", ".join(errors)}')

    def results(self):
        """Attach the final ensemble, training set and summary."""
        self._output_ensemble('')
        self.out('training_set', orm.load_node(self.ctx.training_set))
        if self.ctx.summary:
            summary = orm.load_node(self.ctx.summary)
            self.out('summary', summary)
        state = 'converged' if self.ctx.converged else f'not converged after {self.ctx.done} iteration(s)'
        self.report(
            f'concurrent learning of {self.ctx.system} {state}; the final ensemble has {len(self.ctx.ensemble)} models'
        )
