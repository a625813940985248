"""Structure search of a whole A-B-H system at one pressure: ``SearchCalculation`` jobs over its compositions (each
batch in a :class:`~aiida_hydrides.workflows.search.base.SearchBaseWorkChain`, which restarts a job on what it did
not finish), then the minima that can pass the LAM hull promoted to ``StructureData`` nodes in a group, restartable.

Compositions: the ``compositions`` input, or by default the elements A, B and H, the binary hydrides of A and of B
(the reference phases of the convex hull, :func:`~aiida_hydrides.core.compositions.reference_compositions`; alloys
with ``include_alloys``) and every distinct ternary A_mB_nH_x of the enumeration rules, leaving out those whose
formula unit does not fit in ``max_atoms`` (listed in the summary as ``excluded``).

Every relaxed structure stays in the ``samples`` array node of its job and the distinct minima of each composition
(within ``window_mev`` of its best) in its ``minima`` array node. When the jobs are done, the LAM convex hull is built
over the minima of every composition the group records (this search's and earlier ones', same model), and its
vertices and the hydride minima whose E_hull is at most ``promote_ehull_mev`` (by default the screening's LAM-hull
threshold, :attr:`~aiida_hydrides.core.screening.ScreenThresholds.ehull_lam_max_mev`; negative: every minimum) become
``StructureData`` (made by the calcfunction
:func:`~aiida_hydrides.calculations.functions.search.extract_minima` from the job's ``minima`` output, so the provenance
graph leads from each structure to its job), tagged with the ``hydrides`` extra (:mod:`aiida_hydrides.extras`: method
``lam``, formula, system, pressure_gpa, enthalpy_lam_ev, e_above_best_mev, space group, natoms, model, calc_uuid,
...) and added to the group ``hydrides/search/<A-B>/<P>GPa``
(:func:`~aiida_hydrides.workflows.search.minima.promote_group_minima`). The hull vertices and the elemental
references are always among them, so the screening's LAM hull over the group is the hull over all the minima. The
others stay in the arrays: :func:`~aiida_hydrides.workflows.search.minima.search_minima` and
:func:`~aiida_hydrides.workflows.search.minima.sampled_structures` query them by composition and enthalpy,
:func:`~aiida_hydrides.workflows.search.minima.promote` makes any of them a ``StructureData`` on request.

The group's own ``hydrides`` extra records every finished composition with the uuid of its job and the model's md5:
a work chain launched again for the same group skips them (for the same model), so an interrupted search resumes
where it stopped, and its promotion step brings the group up to date (the minima of a composition always come from
the one job its record names, and none twice). Within a batch, every job of its base work chain counts: a job stopped
at its walltime keeps the compositions it finished, and the restart searches only the others.
"""

from __future__ import annotations

import dataclasses

from aiida import orm
from aiida.engine import WorkChain, while_

from aiida_hydrides.calculations.functions.search import collect_search_summary
from aiida_hydrides.calculations.search import validate_search_parameters
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.screening import ScreenThresholds
from aiida_hydrides.core.text import count
from aiida_hydrides.core.units import MAX_PRESSURE_GPA, parse_pressure
from aiida_hydrides.extras import HYDRIDES_EXTRA, tag_node
from aiida_hydrides.workflows.common import validate_non_negative, validate_positive_int, validate_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin
from aiida_hydrides.workflows.search.base import SearchBaseWorkChain, load_model_node
from aiida_hydrides.workflows.search.minima import promote_group_minima

__all__ = (
    'SearchInputError',
    'SearchPlan',
    'SystemSearchWorkChain',
    'DEFAULT_PROMOTE_EHULL_MEV',
    'check_model_elements',
    'default_compositions',
    'default_group_label',
    'plan_search',
)


#: minima promoted to StructureData by default: those within the screening's LAM-hull threshold (meV/atom)
DEFAULT_PROMOTE_EHULL_MEV = ScreenThresholds().ehull_lam_max_mev


def default_group_label(system: str, pressure: float) -> str:
    """``hydrides/search/<A-B>/<P>GPa``, e.g. ``hydrides/search/Ca-Y/200GPa``."""
    from aiida_hydrides.core.compositions import parse_system, system_label

    return f'hydrides/search/{system_label(*parse_system(system))}/{float(pressure):g}GPa'


def default_compositions(system: str, max_atoms: int | None = None, include_alloys: bool = False, formula_units=None):
    """The default compositions of a system search and those left out because their formula unit (times the
    smallest of ``formula_units``, when given) exceeds ``max_atoms``: ``(formulas, excluded)``; elements, binary
    hydrides (and alloys), then the distinct ternaries."""
    from aiida_hydrides.core.compositions import enumerate_compositions, reference_compositions
    from aiida_hydrides.core.search.generator import check_formula_units

    smallest = min(check_formula_units(formula_units)) if formula_units is not None else 1

    references = reference_compositions(system)
    candidates = [
        *references.elements,
        *references.hydrides,
        *(references.alloys if include_alloys else ()),
        *enumerate_compositions(system, distinct=True),
    ]
    formulas, excluded, seen = [], [], set()
    for composition in candidates:
        reduced = composition.reduced()
        if reduced.formula in seen:
            continue
        seen.add(reduced.formula)
        if max_atoms is not None and smallest * reduced.num_atoms > max_atoms:
            excluded.append(reduced.formula)
        else:
            formulas.append(reduced.formula)
    return formulas, excluded


class SearchInputError(HydridesInputError):
    """An input of a system search that :func:`plan_search` refuses.

    :ivar field: the input at fault: ``system``, ``compositions``, ``parameters`` or ``model``.
    :ivar exit_code: the label of the work chain's exit code for it (``ERROR_INVALID_SYSTEM``, ...).
    :ivar values: the values that format the exit code's message.
    """

    def __init__(self, text: str, field: str, exit_code: str, **values):
        super().__init__(text)
        self.field = field
        self.exit_code = exit_code
        self.values = values or {'message': text}


@dataclasses.dataclass
class SearchPlan:
    """The checked inputs of a system search: the system label (``Ca-Y``), the reduced formulas to search, those left
    out for the atom budget, the search settings and worker options, and the elements of the system."""

    system: str
    formulas: list
    excluded: list
    settings: object
    options: dict
    elements: list


def plan_search(
    system: str,
    compositions=None,
    parameters: dict | None = None,
    include_alloys: bool = False,
    type_map=None,
    model_name: str = 'the model',
) -> SearchPlan:
    """Check the inputs of a system search as the work chain does before any job, without AiiDA: the system, the
    search parameters, the compositions (given, or the default ones of the system; each within the rules, the atom
    budget and the system) and, with ``type_map``, that the model knows every element. The command line calls it
    before it creates anything, the work chain in its first step.

    :raises SearchInputError: naming the input at fault and the work chain's exit code.
    """
    from aiida_hydrides.core.compositions import HYDROGEN, parse_system, system_label
    from aiida_hydrides.core.errors import CompositionRuleError, UnknownElementError
    from aiida_hydrides.core.search.worker import AtomBudgetError, check_compositions, settings_from_parameters

    try:
        pair = parse_system(system)
    except UnknownElementError as exc:
        raise SearchInputError(str(exc), 'system', 'ERROR_UNKNOWN_ELEMENT') from exc
    except CompositionRuleError as exc:
        raise SearchInputError(
            f'the system {system!r} is not valid: {exc}',
            'system',
            'ERROR_INVALID_SYSTEM',
            system=system,
            message=str(exc),
        ) from exc
    label = system_label(*pair)
    try:
        settings, options = settings_from_parameters(parameters or {})
    except HydridesInputError as exc:
        raise SearchInputError(str(exc), 'parameters', 'ERROR_INVALID_COMPOSITION') from exc

    excluded = []
    if compositions is None:
        compositions, excluded = default_compositions(label, settings.max_atoms, include_alloys, settings.formula_units)
    elif not list(compositions):
        raise SearchInputError('the list of compositions is empty', 'compositions', 'ERROR_INVALID_COMPOSITION')
    try:
        checked = check_compositions(
            list(compositions), settings.max_atoms, options.get('rules'), settings.formula_units
        )
    except UnknownElementError as exc:
        raise SearchInputError(str(exc), 'compositions', 'ERROR_UNKNOWN_ELEMENT') from exc
    except AtomBudgetError as exc:
        raise SearchInputError(str(exc), 'max_atoms', 'ERROR_ATOM_BUDGET') from exc
    except CompositionRuleError as exc:
        raise SearchInputError(str(exc), 'compositions', 'ERROR_INVALID_COMPOSITION') from exc
    allowed = {*pair, HYDROGEN}
    for composition in checked:
        outside = [symbol for symbol in composition.elements if symbol not in allowed]
        if outside:
            message = f'{composition.formula} contains {", ".join(outside)}, which is not part of the system {label}'
            raise SearchInputError(message, 'compositions', 'ERROR_INVALID_COMPOSITION')
    elements = sorted({*pair, HYDROGEN, *(symbol for composition in checked for symbol in composition.elements)})
    plan = SearchPlan(label, [c.formula for c in checked], excluded, settings, options, elements)
    if type_map is not None:
        check_model_elements(plan, type_map, model_name)
    return plan


def check_model_elements(plan: SearchPlan, type_map, model_name: str = 'the model'):
    """Raise :class:`SearchInputError` when the model's ``type_map`` lacks an element of the system or of a
    composition of ``plan``."""
    missing = sorted(set(plan.elements) - set(type_map))
    if missing:
        elements = ', '.join(missing)
        raise SearchInputError(
            f'the model {model_name!r} does not know {elements} (its type map is {list(type_map)})',
            'model',
            'ERROR_MODEL_LACKS_ELEMENTS',
            model=model_name,
            elements=elements,
            type_map=list(type_map),
        )


def _validate_parameters(node, _):
    if node is None:
        return None
    return validate_search_parameters(node.get_dict())


def _validate_promote(node, _):
    import math

    if node is not None and not math.isfinite(node.value):
        return f'must be a number of meV/atom (negative: promote every minimum), got {node.value}'
    return None


def _validate_compositions(node, _):
    if node is None:
        return None
    items = node.get_list()
    if not items:
        return 'the list of compositions is empty'
    if not all(isinstance(item, (str, dict)) for item in items):
        return 'compositions must be formulas such as "CaYH12" or objects of counts'
    return None


class SystemSearchWorkChain(ProtocolMixin, WorkChain):
    """Search the structures of every composition of an A-B-H system at one pressure with a DeePMD model.

    Jobs (``SearchCalculation``, ``compositions_per_job`` compositions each, at most ``max_concurrent_jobs`` at a
    time, each batch in a ``SearchBaseWorkChain`` that restarts it on what it did not finish) run the searches and
    keep every structure in their array outputs; then the minima whose E_hull among all the minima of the group is at
    most ``promote_ehull_mev`` become ``StructureData`` nodes in the group (``group_label``, default
    ``hydrides/search/<A-B>/<P>GPa``), tagged with the ``hydrides`` extra, so ``QueryBuilder`` filters such as
    ``{'extras.hydrides.pressure_gpa': 200.0}`` find them; :mod:`aiida_hydrides.workflows.search.minima` queries and
    promotes the others. Compositions recorded as finished in the group (same model) are skipped.
    """

    _protocol_name = 'search/system'
    #: accepted as overrides although no protocol file sets them (``None`` or negative: promote every minimum)
    _protocol_extra_keys = ('promote_ehull_mev',)

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input('system', valid_type=orm.Str, help="The A-B-H system, written 'A-B', e.g. 'Ca-Y'.")
        spec.input(
            'pressure',
            valid_type=orm.Float,
            validator=validate_pressure,
            help=f'Target pressure in GPa (0 to {MAX_PRESSURE_GPA:g}); it overrides any pressure_gpa in `parameters`.',
        )
        spec.input('model', valid_type=orm.SinglefileData, help='The DeePMD model file (.pth, .pt or .pb).')
        spec.input('code', valid_type=orm.AbstractCode, help='The `hydrides-lam` code that runs the searches.')
        spec.input(
            'parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_parameters,
            help='Search settings (SearchSettings fields: budget = relaxations per composition, population, '
            'max_atoms, seed, max_steps, fmax, ...) for every composition.',
        )
        spec.input(
            'compositions',
            valid_type=orm.List,
            required=False,
            validator=_validate_compositions,
            help='The compositions to search (formulas); default: elements, binary hydrides and every '
            'distinct ternary of the system whose formula unit fits in max_atoms.',
        )
        spec.input(
            'include_alloys',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Add the A-B alloys of the reference phases to the default compositions.',
        )
        spec.input(
            'compositions_per_job',
            valid_type=int,
            non_db=True,
            default=10,
            validator=validate_positive_int,
            help='Compositions of one batch (one SearchBaseWorkChain). Scheduling only (a composition is searched '
            'the same in any batch), so not stored as a node.',
        )
        spec.input(
            'max_concurrent_jobs',
            valid_type=int,
            non_db=True,
            default=4,
            validator=validate_positive_int,
            help='Most batches (SearchBaseWorkChains) running at a time. Scheduling only, not stored as a node.',
        )
        spec.input(
            'window_mev',
            valid_type=orm.Float,
            default=lambda: orm.Float(100.0),
            validator=validate_non_negative,
            help='Minima kept per composition in the minima arrays: distinct structures within this many meV/atom '
            'of its best.',
        )
        spec.input(
            'promote_ehull_mev',
            valid_type=orm.Float,
            default=lambda: orm.Float(DEFAULT_PROMOTE_EHULL_MEV),
            validator=_validate_promote,
            help='Minima promoted to StructureData in the group: the hydride minima whose E_hull among all the '
            'minima of the group (a lower bound while an element lacks its elemental minimum) is at most this many '
            "meV/atom, and the hull vertices; default the screening's LAM-hull threshold "
            '(ScreenThresholds.ehull_lam_max_mev); negative: every minimum.',
        )
        spec.input(
            'group_label',
            valid_type=orm.Str,
            required=False,
            help='Group of the minima (created if needed); default hydrides/search/<A-B>/<P>GPa.',
        )
        spec.input(
            'options',
            valid_type=dict,
            non_db=True,
            required=False,
            help='metadata.options of every SearchCalculation (resources, max_wallclock_seconds, ...).',
        )
        spec.outline(
            cls.validate,
            cls.setup,
            while_(cls.should_run)(
                cls.run_jobs,
                cls.inspect_jobs,
            ),
            cls.promote,
            cls.results,
        )
        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Per composition: status (finished, skipped, failed), best enthalpy per atom, space group, '
            'relaxations, minima, minima promoted to the group, job uuid; plus the group, the model, the '
            'promotion threshold and the excluded compositions.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(201, 'ERROR_INVALID_SYSTEM', message='the system {system!r} is not valid: {message}')
        spec.exit_code(202, 'ERROR_UNKNOWN_ELEMENT', message='unknown element: {message}')
        spec.exit_code(203, 'ERROR_INVALID_COMPOSITION', message='invalid composition: {message}')
        spec.exit_code(204, 'ERROR_ATOM_BUDGET', message='atom budget too small: {message}')
        spec.exit_code(
            205,
            'ERROR_MODEL_LACKS_ELEMENTS',
            message='the model {model!r} does not know {elements} (its type map is {type_map})',
        )
        spec.exit_code(206, 'ERROR_INVALID_MODEL', message='the model {model!r} is not usable: {message}')
        spec.exit_code(
            401,
            'ERROR_SUB_PROCESS_FAILED',
            message='the SearchBaseWorkChain(s) {pks} failed without results; their compositions were not searched',
        )
        spec.exit_code(402, 'ERROR_COMPOSITIONS_FAILED', message='the search failed for {formulas}')

    @classmethod
    def get_builder_from_protocol(
        cls,
        code,
        system,
        model,
        pressure=200.0,
        protocol=None,
        overrides=None,
        options=None,
        compositions=None,
        group_label=None,
        **kwargs,
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param code: the ``hydrides-lam`` code (instance or label such as ``'hydrides-lam@localhost'``).
        :param system: the system, e.g. ``'Ca-Y'``.
        :param model: the DeePMD model, a ``SinglefileData`` or a file path.
        :param pressure: target pressure in GPa (a number or a string such as ``'200GPa'``).
        :param protocol: ``fast``, ``moderate`` (default) or ``precise`` (search budgets, see ``search.yaml``).
        :param overrides: dictionary overriding the protocol (``parameters`` holds the search settings, e.g.
            ``{'parameters': {'budget': 50}, 'compositions_per_job': 5}``; ``promote_ehull_mev`` the promotion
            threshold, ``None`` to promote every minimum).
        :param options: ``metadata.options`` of every ``SearchCalculation``.
        :param compositions: the formulas to search (default: the whole system, see the module docstring).
        :param group_label: the group of the minima (default ``hydrides/search/<A-B>/<P>GPa``).
        :raises ValueError: for a bad pressure or an unknown protocol.
        """
        if isinstance(code, str):
            code = orm.load_code(code)
        model = load_model_node(model)
        pressure = parse_pressure(pressure)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        parameters = dict(inputs.get('parameters', {}))
        parameters['pressure_gpa'] = pressure
        builder = cls.get_builder()
        builder.system = orm.Str(system)
        builder.pressure = orm.Float(pressure)
        builder.model = model
        builder.code = code
        builder.parameters = orm.Dict(parameters)
        builder.compositions_per_job = int(inputs['compositions_per_job'])
        builder.max_concurrent_jobs = int(inputs['max_concurrent_jobs'])
        builder.window_mev = orm.Float(inputs['window_mev'])
        if 'promote_ehull_mev' in inputs:  # not in the protocol files: the port's default is the screening's
            promote = inputs['promote_ehull_mev']
            builder.promote_ehull_mev = orm.Float(-1.0 if promote is None else promote)
        builder.include_alloys = orm.Bool(inputs.get('include_alloys', False))
        if compositions is not None:
            builder.compositions = orm.List(list(compositions))
        if group_label is not None:
            builder.group_label = orm.Str(group_label)
        if options:
            builder.options = dict(options)
        return builder

    # -- steps ---------------------------------------------------------------------------------------------------
    def validate(self):
        """Check the system, the compositions, the atom budget and the model's type map before any job."""
        from aiida_hydrides.core.lam.errors import LamModelError
        from aiida_hydrides.core.lam.model import check_model_file
        from aiida_hydrides.core.search.worker import file_md5, read_type_map

        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        pressure = self.inputs.pressure.value
        if parameters.get('pressure_gpa', pressure) != pressure:
            self.report(
                f'the pressure input ({pressure} GPa) overrides parameters.pressure_gpa '
                f'({parameters["pressure_gpa"]} GPa)'
            )
        parameters.update(pressure_gpa=pressure, window_mev=self.inputs.window_mev.value)
        self.ctx.parameters = parameters

        items = self.inputs.compositions.get_list() if 'compositions' in self.inputs else None
        model = self.inputs.model
        try:
            plan = plan_search(
                self.inputs.system.value, items, parameters, include_alloys=self.inputs.include_alloys.value
            )
            with model.as_path() as path:
                check_model_file(path)
                self.ctx.model_md5 = file_md5(path)
                type_map = read_type_map(path)
            if type_map is not None:
                check_model_elements(plan, type_map, model.filename)
        except SearchInputError as exc:
            return self.exit_codes[exc.exit_code].format(**exc.values)
        except (OSError, LamModelError) as exc:
            return self.exit_codes.ERROR_INVALID_MODEL.format(model=model.filename, message=str(exc))
        if model.filename.lower().endswith('.pth') and type_map is None:
            self.report(f'the type map of {model.filename} could not be read without loading it; the jobs check it')
        if plan.excluded:
            units = (
                ''
                if plan.settings.formula_units is None
                else f' (with formula_units={list(plan.settings.formula_units)})'
            )
            self.report(
                f'{len(plan.excluded)} compositions do not fit max_atoms={plan.settings.max_atoms}{units} and are '
                f'left out, e.g. {", ".join(plan.excluded[:3])}'
            )
        self.ctx.system = plan.system
        self.ctx.compositions = plan.formulas
        self.ctx.excluded = plan.excluded
        self.ctx.model_info = {
            'filename': model.filename,
            'md5': self.ctx.model_md5,
            'uuid': model.uuid,
            'type_map': type_map,
        }

    def setup(self):
        """Open the group, skip the compositions it records as finished (same model) and plan the jobs."""
        label = (
            self.inputs.group_label.value
            if 'group_label' in self.inputs
            else default_group_label(self.ctx.system, self.inputs.pressure.value)
        )
        group, created = orm.Group.collection.get_or_create(label)
        extras = dict(group.base.extras.get(HYDRIDES_EXTRA, None) or {})
        if created or not extras:
            extras.update(kind='search', system=self.ctx.system, pressure_gpa=self.inputs.pressure.value, finished={})
            group.base.extras.set(HYDRIDES_EXTRA, extras)
        elif extras.get('system') != self.ctx.system or extras.get('pressure_gpa') != self.inputs.pressure.value:
            self.report(
                f'group {label!r} was made for {extras.get("system")} at {extras.get("pressure_gpa")} GPa; '
                f'adding {self.ctx.system} at {self.inputs.pressure.value} GPa to it'
            )
        self.ctx.group_uuid = group.uuid
        self.ctx.group_label = label
        finished = extras.get('finished', {})
        skipped, todo = [], []
        for formula in self.ctx.compositions:
            record = finished.get(formula)
            if record is not None and record.get('model_md5') == self.ctx.model_md5:
                skipped.append(formula)
            else:
                todo.append(formula)
        self.ctx.skipped = skipped
        size = self.inputs.compositions_per_job
        self.ctx.batches = [todo[i : i + size] for i in range(0, len(todo), size)]
        self.ctx.next_batch = 0
        self.ctx.running = []
        self.ctx.job_pks = []
        self.ctx.failed_jobs = []
        self.ctx.failed_compositions = []
        self.ctx.sources = {}
        if skipped:
            self.report(
                f'{len(skipped)} of {len(self.ctx.compositions)} compositions are already finished in group '
                f'{label!r} and are skipped: {", ".join(skipped[:10])}{" ..." if len(skipped) > 10 else ""}'
            )
        self.report(
            f'{len(todo)} compositions to search in {len(self.ctx.batches)} job(s) of up to {size}; '
            f'minima go to group {label!r}'
        )
        self.ctx.shared_inputs = {}

    def should_run(self):
        """Whether jobs remain to be launched."""
        return self.ctx.next_batch < len(self.ctx.batches)

    def _shared_inputs(self) -> dict:
        """The inputs that every batch gets, as stored nodes made once (not one copy per batch): the job parameters and
        the restart settings of the base work chain (those of its protocol, ``search/base.yaml``)."""
        if not self.ctx.shared_inputs:
            restart = SearchBaseWorkChain.get_protocol_inputs()
            nodes = {
                'parameters': orm.Dict(self.ctx.parameters),
                'max_iterations': orm.Int(restart['max_iterations']),
                'clean_workdir': orm.Bool(restart['clean_workdir']),
            }
            self.ctx.shared_inputs = {name: node.store().uuid for name, node in nodes.items()}
        return {name: orm.load_node(uuid) for name, uuid in self.ctx.shared_inputs.items()}

    def run_jobs(self):
        """Launch the next ``max_concurrent_jobs`` batches, each a SearchBaseWorkChain."""
        options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}
        options.update(self.inputs.get('options', None) or {})
        shared = self._shared_inputs()
        running = {}
        for _ in range(self.inputs.max_concurrent_jobs):
            if not self.should_run():
                break
            number = self.ctx.next_batch
            batch = self.ctx.batches[number]
            self.ctx.next_batch += 1
            builder = SearchBaseWorkChain.get_builder()
            builder.search.code = self.inputs.code
            builder.search.model = self.inputs.model
            builder.search.compositions = orm.List(batch)
            builder.search.parameters = shared['parameters']
            builder.search.metadata.options = options
            builder.max_iterations = shared['max_iterations']
            builder.clean_workdir = shared['clean_workdir']
            builder.metadata.call_link_label = f'search_{number}'
            builder.metadata.label = f'search {self.ctx.system} {self.inputs.pressure.value:g} GPa: {", ".join(batch)}'
            node = self.submit(builder)
            self.report(
                f'launching SearchBaseWorkChain<{node.pk}> for {", ".join(batch)} '
                f'(batch {number + 1}/{len(self.ctx.batches)})'
            )
            running[f'job_{number}'] = node
        self.ctx.running = list(running)
        return self.to_context(**running)

    def inspect_jobs(self):
        """Record in the group the compositions each job of the finished batches finished (their minima are promoted
        once all jobs are done, :meth:`promote`)."""
        group = orm.load_group(uuid=self.ctx.group_uuid)
        for name in self.ctx.running:
            workchain = self.ctx[name]
            summaries = workchain.outputs.summary if 'summary' in workchain.outputs else {}
            if not workchain.is_finished_ok:
                self.report(
                    f'SearchBaseWorkChain<{workchain.pk}> ended with exit status {workchain.exit_status}: '
                    f'{workchain.exit_message}'
                )
            if not summaries:
                self.ctx.failed_jobs.append(workchain.pk)
                continue
            statuses = {}
            for label in sorted(summaries):
                statuses.update(self._record_job(summaries[label].creator, group))
            self.ctx.failed_compositions.extend(formula for formula, status in statuses.items() if status != 'finished')

    def _record_job(self, calc, group) -> dict:
        """Record the finished compositions of the job ``calc`` in the group; return the status of each composition
        it lists.

        Idempotent: a composition that the group already records as finished with the same model keeps the job
        recorded for it, whichever job reports it again (this job processed a second time, by a resumed or repaired
        run, or another job that searched it meanwhile). The minima of a composition in the group are promoted from
        the one job its record names (:meth:`promote`).
        """
        if calc.pk not in self.ctx.job_pks:
            self.ctx.job_pks.append(calc.pk)
        summary = calc.outputs.summary.get_dict()
        extras = dict(group.base.extras.get(HYDRIDES_EXTRA, None) or {})
        finished = dict(extras.get('finished', {}))
        statuses, lines = {}, []
        for entry in summary.get('compositions', []):
            formula, status = entry['formula'], entry.get('status')
            statuses[formula] = status
            self.ctx.sources[formula] = calc.uuid  # the latest job that lists a composition has its final status
            if status != 'finished':
                lines.append(f'{formula} {status}' + (f' ({entry["error"]})' if entry.get('error') else ''))
                continue
            record = finished.get(formula) or {}
            owner = record.get('calc_uuid') if record.get('model_md5') == self.ctx.model_md5 else None
            if owner is not None and owner != calc.uuid:
                self.ctx.sources[formula] = owner
                lines.append(
                    f'{formula} already finished in the group by SearchCalculation<{orm.load_node(owner).pk}>, '
                    'whose minima are kept'
                )
                continue
            finished[formula] = {
                'calc_uuid': calc.uuid,
                'model_md5': self.ctx.model_md5,
                'best_enthalpy_per_atom_ev': entry.get('best_enthalpy_per_atom'),
                'best_space_group_symbol': entry.get('best_space_group_symbol'),
                'n_relaxations': entry.get('n_relaxations'),
                'n_minima': entry.get('n_minima'),
            }
            best = entry.get('best_enthalpy_per_atom')
            lines.append(
                f'{formula} '
                + (
                    'no usable relaxation'
                    if best is None
                    else f'{best:.5f} eV/atom ({entry.get("best_space_group_symbol")}, '
                    f'{count(entry.get("n_minima") or 0, "minimum")})'
                )
            )
        extras['finished'] = finished
        group.base.extras.set(HYDRIDES_EXTRA, extras)
        self.report(f'SearchCalculation<{calc.pk}> finished: ' + '; '.join(lines))
        return statuses

    def promote(self):
        """Promote to StructureData in the group the minima (of every composition the group records with this model)
        whose E_hull among them all is within ``promote_ehull_mev``; remove stale or repeated ones; record the
        threshold in the group's extra (``promotion``)."""
        group = orm.load_group(uuid=self.ctx.group_uuid)
        threshold = self.inputs.promote_ehull_mev.value
        result = promote_group_minima(
            group,
            self.ctx.model_md5,
            None if threshold < 0 else threshold,
            workchain_uuid=self.node.uuid,
            metadata={'call_link_label': 'promote_minima'},
        )
        extras = dict(group.base.extras.get(HYDRIDES_EXTRA, None) or {})
        extras['promotion'] = {'max_ehull_mev': result['max_ehull_mev'], 'model_md5': self.ctx.model_md5}
        group.base.extras.set(HYDRIDES_EXTRA, extras)
        self.ctx.promoted = result['per_formula']
        rule = 'every minimum' if result['max_ehull_mev'] is None else f'E_hull <= {result["max_ehull_mev"]:g} meV/atom'
        bounded = (
            f'; {result["n_bounded"]} placed by a lower bound (an element lacks its elemental minimum)'
            if result['n_bounded']
            else ''
        )
        removed = f', {result["n_removed"]} stale or repeated removed' if result['n_removed'] else ''
        self.report(
            f'{result["n_promoted"]} of {count(result["n_minima"], "minimum")} of the group as StructureData '
            f'({rule}): {result["n_added"]} added now{removed}{bounded}; the others stay in the arrays'
        )

    def results(self):
        """Attach the summary (made by a calcfunction from the job summaries, including those of skipped
        compositions) and check for failures."""
        group = orm.load_group(uuid=self.ctx.group_uuid)
        finished = (group.base.extras.get(HYDRIDES_EXTRA, None) or {}).get('finished', {})
        summaries = {}
        for pk in self.ctx.job_pks:
            summaries[f'job_{pk}'] = orm.load_node(pk).outputs.summary
        sources = {**{formula: finished[formula]['calc_uuid'] for formula in self.ctx.skipped}, **self.ctx.sources}
        for uuid in set(sources.values()):
            calc = orm.load_node(uuid)
            summaries.setdefault(f'job_{calc.pk}', calc.outputs.summary)
        info = orm.Dict(
            {
                'system': self.ctx.system,
                'pressure_gpa': self.inputs.pressure.value,
                'group': self.ctx.group_label,
                'group_uuid': self.ctx.group_uuid,
                'model': self.ctx.model_info,
                'compositions': self.ctx.compositions,
                'skipped': self.ctx.skipped,
                'excluded': self.ctx.excluded,
                'failed_jobs': self.ctx.failed_jobs,
                'window_mev': self.inputs.window_mev.value,
                'promote_ehull_mev': None
                if self.inputs.promote_ehull_mev.value < 0
                else self.inputs.promote_ehull_mev.value,
                'promoted': self.ctx.promoted,
                'sources': sources,
            }
        )
        summary = collect_search_summary(info, **summaries, metadata={'call_link_label': 'summary'})
        self.out('summary', summary)
        extras = {'group': self.ctx.group_label, 'system': self.ctx.system, 'pressure_gpa': self.inputs.pressure.value}
        tag_node(self.node, **extras)
        data = summary.get_dict()
        self.report(
            f'{data["n_searched"]} compositions searched, {data["n_skipped"]} skipped, {data["n_failed"]} '
            f'failed; {count(data["n_minima"], "minimum")}, {data["n_promoted"]} of them in group '
            f'{self.ctx.group_label!r}'
        )
        if self.ctx.failed_jobs:
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED.format(pks=', '.join(map(str, self.ctx.failed_jobs)))
        if self.ctx.failed_compositions:
            return self.exit_codes.ERROR_COMPOSITIONS_FAILED.format(formulas=', '.join(self.ctx.failed_compositions))
        return None
