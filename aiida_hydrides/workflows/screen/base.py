"""``ScreenWorkChain`` (``hydrides.screen``): the filter cascade over the LAM minima of a group, from the LAM convex
hull to the DFT convex hull, every decision stored on the candidate it concerns.

The stages (:mod:`aiida_hydrides.core.screening`), cheapest first:

1. ``lam_hull``: E_hull of every LAM structure of the group against all of them (pymatgen phase diagram, the
   calcfunction :func:`~aiida_hydrides.calculations.functions.screen.build_phase_diagram`); kept: E_hull <=
   ``ehull_lam_max_mev``.
2. ``symmetry``: space group number (spglib at ``symprec``); kept: > ``space_group_min``.
3. ``atomic_h``: atomic-H fraction (nearest H farther than ``h_threshold``); kept: > ``atomic_h_min``.
4. ``lam_phonons``: the survivors' phonons in ``hydrides.lam.phonons`` jobs (many candidates per job; a job stopped
   at its walltime is followed by one for the candidates it did not finish); kept: no imaginary mode beyond
   ``imaginary_max_thz``. The force constants are stored as aiida-phonopy ``ForceConstantsData``.
5. ``dft_hull``: ``hydrides.dft.enthalpy`` for the survivors and for the vertices of the LAM hull (the lowest
   structure of each stable composition, elements included) within the chemical subsystem of a survivor (the
   E_hull of a Ca-H survivor depends on the Ca-H phases only), at most ``dft.max_concurrent`` at a time; kept:
   E_hull with DFT enthalpies <= ``ehull_dft_max_mev``. pw.x relaxes the standardized primitive cell of each
   structure with the exact symmetry found at ``symprec`` (the calcfunction ``symmetrize_structure``): the
   symmetry the candidate was kept for, with fewer atoms and k-points.

The three cheap stages are evaluated for every candidate (so that a query finds candidates failing one stage only);
the phonons for the candidates that passed them, the DFT for the survivors of the phonons.

A candidate's verdicts are stored in its ``hydrides`` extra under ``screen`` (one record per stage: ``value``,
``threshold``, ``rule``, ``unit``, ``passed``; plus ``failed_stage``, ``passed``, ``prototype``, ``novel``,
``workchain_uuid``), e.g. ``{'extras.hydrides.screen.failed_stage': 'lam_phonons'}`` finds those that failed only
the phonons.

Running the work chain again on the same group reuses what is done: the phonons of a candidate with the same model and
phonon parameters, and the DFT enthalpy of any structure already relaxed with ``hydrides.dft.enthalpy`` at the same
pressure, protocol and pseudopotential family (found by the ``source_uuid`` of its relaxed structure).
"""

from __future__ import annotations

import time

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from aiida_hydrides.calculations.functions.screen import (
    build_phase_diagram,
    classify_prototypes,
    collect_funnel,
    compare_phase_diagrams,
    symmetrize_structure,
)
from aiida_hydrides.core.screening import CHEAP_STAGES
from aiida_hydrides.core.units import MAX_PRESSURE_GPA
from aiida_hydrides.extras import HYDRIDES_EXTRA, get_tags, symmetry_tags, tag_node
from aiida_hydrides.workflows.common import overrides_validator, validate_positive_int, validate_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin
from aiida_hydrides.workflows.screen.candidates import (
    CANDIDATE_KINDS,
    ScreenInputError,
    check_family_elements,
    check_model_elements,
    find_model,
    load_screen_group,
)

__all__ = ('ScreenWorkChain', 'default_survivors_group')

#: the DFT-relaxed structures made by ``hydrides.dft.enthalpy`` carry this kind in their tags
DFT_KIND = 'dft_relaxed'


def _process_time(uuid) -> float | None:
    """Seconds from the creation of the process ``uuid`` to its last change (its run time once it ended)."""
    if not uuid:
        return None
    try:
        node = orm.load_node(uuid=uuid)
    except Exception:  # noqa: BLE001 - a process that cannot be loaded has no time to give
        return None
    return (node.mtime - node.ctime).total_seconds()


def default_survivors_group(system: str, pressure: float) -> str:
    """``hydrides/screen/<A-B>/<P>GPa``, e.g. ``hydrides/screen/Ca-Y/200GPa``."""
    return f'hydrides/screen/{system}/{float(pressure):g}GPa'


def _validate_thresholds(node, _):
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.screening import thresholds_from_parameters

    if node is None:
        return None
    try:
        thresholds_from_parameters(node.get_dict())
    except HydridesInputError as exc:
        return f'thresholds: {exc}'
    return None


def _validate_candidates(node, _):
    if node is not None and node.value not in CANDIDATE_KINDS:
        return f'candidates must be one of {", ".join(CANDIDATE_KINDS)}, got {node.value!r}'
    return None


def _validate_dft_protocol(node, _):
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    if node is not None and node.value not in DftEnthalpyWorkChain.get_available_protocols():
        return f'unknown DFT protocol {node.value!r}; choose one of {", ".join(DftEnthalpyWorkChain.get_available_protocols())}'
    return None


def _validate_search_parameters(node, _):
    from aiida_hydrides.calculations.search import validate_search_parameters

    if node is None:
        return None
    return validate_search_parameters(node.get_dict())


def _validate_phonon_parameters(node, _):
    from aiida_hydrides.calculations.lam_phonons import validate_phonon_parameters

    if node is None:
        return None
    return validate_phonon_parameters(node.get_dict())


class ScreenWorkChain(ProtocolMixin, WorkChain):
    """Screen the LAM minima of a group: LAM hull -> symmetry -> atomic H -> LAM phonons -> DFT hull (see the module
    docstring), with the survivors in a group, both phase diagrams, the LAM-vs-DFT agreement and the prototypes of the
    candidates as outputs."""

    _protocol_name = 'screen/base'
    _protocol_free_keys = ('thresholds', 'dft.overrides', 'search_parameters')

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input('group', valid_type=orm.Str, help='Label of the group of LAM minima (as filled by a system search).')
        spec.input(
            'pressure',
            valid_type=orm.Float,
            required=False,
            validator=validate_pressure,
            help=f'Pressure in GPa (0 to {MAX_PRESSURE_GPA:g}); default: the pressure of the structures, which must '
            'all share one.',
        )
        spec.input(
            'candidates',
            valid_type=orm.Str,
            default=lambda: orm.Str('hydrides'),
            validator=_validate_candidates,
            help="Which structures are screened: 'hydrides' (H with at least one other element) or 'ternaries'. "
            'Every LAM structure of the group enters the convex hull.',
        )
        spec.input(
            'thresholds',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_thresholds,
            help='Thresholds (ScreenThresholds fields): ehull_lam_max_mev, space_group_min, symprec, atomic_h_min, '
            'h_threshold, imaginary_max_thz, ehull_dft_max_mev; the study values by default.',
        )
        spec.input(
            'survivors_group',
            valid_type=orm.Str,
            required=False,
            help='Group of the candidates that pass every stage; default hydrides/screen/<A-B>/<P>GPa.',
        )
        spec.input('lam_code', valid_type=orm.AbstractCode, help='The `hydrides-lam` code of the phonon jobs.')
        spec.input(
            'model',
            valid_type=orm.SinglefileData,
            required=False,
            help='DeePMD model of the phonons; default: the model of the search jobs that made the structures.',
        )
        spec.input_namespace('phonons', help='The LAM phonon stage.')
        spec.input(
            'phonons.parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_phonon_parameters,
            help='Parameters of the `hydrides.lam.phonons` jobs (supercell rule, mesh, displacement, ...); the '
            'threshold comes from `thresholds`.',
        )
        spec.input(
            'phonons.candidates_per_job',
            valid_type=orm.Int,
            default=lambda: orm.Int(50),
            validator=validate_positive_int,
            help='Candidates per phonon job.',
        )
        spec.input(
            'phonons.max_jobs',
            valid_type=orm.Int,
            default=lambda: orm.Int(20),
            validator=validate_positive_int,
            help='Most phonon jobs in all (restarts after a walltime included).',
        )
        spec.input(
            'phonons.options', valid_type=dict, non_db=True, required=False, help='metadata.options of the jobs.'
        )
        spec.input_namespace('dft', help='The DFT stage (skipped without a code).')
        spec.input('dft.code', valid_type=orm.AbstractCode, required=False, help='The pw.x code.')
        spec.input(
            'dft.protocol',
            valid_type=orm.Str,
            default=lambda: orm.Str('fast'),
            validator=_validate_dft_protocol,
            help='Protocol of `hydrides.dft.enthalpy` for every DFT structure.',
        )
        spec.input(
            'dft.pseudo_family',
            valid_type=orm.Str,
            required=False,
            help='Pseudopotential family (default: the offline pslibrary family).',
        )
        spec.input(
            'dft.max_concurrent',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            validator=validate_positive_int,
            help='Most `hydrides.dft.enthalpy` work chains running at a time.',
        )
        spec.input(
            'dft.overrides',
            valid_type=orm.Dict,
            required=False,
            validator=overrides_validator('hydrides.dft.enthalpy', label='dft.overrides'),
            help='Overrides of that protocol (keys of workflows/protocols/dft/enthalpy.yaml), e.g. '
            '`{kpoints_distance: 0.4}`; recorded on the relaxed structures, which are reused only with the same ones.',
        )
        spec.input('dft.options', valid_type=dict, non_db=True, required=False, help='metadata.options of pw.x.')
        spec.input(
            'search_missing',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Search the elements the group lacks (hydrides.search.system, fast protocol) instead of stopping.',
        )
        spec.input(
            'search_parameters',
            valid_type=orm.Dict,
            required=False,
            validator=_validate_search_parameters,
            help='Search settings of that search (SearchSettings fields, e.g. budget), over the fast protocol.',
        )

        spec.outline(
            cls.setup,
            if_(cls.should_search_missing)(cls.run_missing_search, cls.inspect_missing_search),
            cls.lam_hull,
            cls.cheap_stages,
            while_(cls.should_run_phonons)(cls.run_phonons, cls.inspect_phonons),
            if_(cls.should_run_dft)(
                cls.plan_dft,
                while_(cls.should_submit_dft)(cls.run_dft, cls.inspect_dft),
                cls.dft_hull,
            ),
            cls.prototypes,
            cls.results,
        )

        spec.output(
            'funnel', valid_type=orm.Dict, help='Candidates entering and leaving each stage, thresholds, times.'
        )
        spec.output('lam_phase_diagram', valid_type=orm.Dict, help='Convex hull with LAM enthalpies.')
        spec.output('dft_phase_diagram', valid_type=orm.Dict, required=False, help='Convex hull with DFT enthalpies.')
        spec.output(
            'lam_vs_dft',
            valid_type=orm.Dict,
            required=False,
            help='E_hull of LAM and DFT on the structures computed with both: MAE, Spearman, worst cases.',
        )
        spec.output('prototypes', valid_type=orm.Dict, help='Prototype groups of the candidates within the LAM hull.')
        spec.output_namespace(
            'survivors', valid_type=orm.StructureData, dynamic=True, help='The candidates that passed every stage.'
        )
        spec.default_output_node = 'funnel'

        spec.exit_code(201, 'ERROR_GROUP_NOT_FOUND', message='{message}')
        spec.exit_code(202, 'ERROR_NO_STRUCTURES', message='{message}')
        spec.exit_code(203, 'ERROR_MIXED_PRESSURES', message='{message}')
        spec.exit_code(204, 'ERROR_PRESSURE_MISMATCH', message='{message}')
        spec.exit_code(205, 'ERROR_NO_HYDRIDES', message='{message}')
        spec.exit_code(206, 'ERROR_MISSING_REFERENCES', message='{message}')
        spec.exit_code(207, 'ERROR_NO_MODEL', message='{message}')
        spec.exit_code(208, 'ERROR_SEVERAL_MODELS', message='{message}')
        spec.exit_code(209, 'ERROR_MODEL_LACKS_ELEMENTS', message='{message}')
        spec.exit_code(210, 'ERROR_PSEUDO_FAMILY', message='{message}')
        spec.exit_code(211, 'ERROR_INVALID_INPUT', message='{message}')
        spec.exit_code(
            401, 'ERROR_SEARCH_FAILED', message='the search of the missing references {formulas} found no structure'
        )
        spec.exit_code(
            402,
            'ERROR_DFT_REFERENCES_FAILED',
            message='the DFT hull lacks the elements {elements}: their DFT enthalpies failed; the other outputs are '
            'attached',
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        lam_code,
        group,
        pw_code=None,
        pressure=None,
        model=None,
        protocol=None,
        overrides=None,
        lam_options=None,
        dft_options=None,
        pseudo_family=None,
        **_,
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param lam_code: the ``hydrides-lam`` code (instance or label).
        :param group: label of the group of LAM minima.
        :param pw_code: the pw.x code of the DFT stage (instance or label); without it the cascade stops after the
            phonons.
        :param pressure: pressure in GPa (default: that of the structures).
        :param model: the DeePMD model (node or file path; default: that of the search jobs).
        :param protocol: ``fast`` (default), ``moderate`` or ``precise`` (see ``screen/base.yaml``).
        :param overrides: dictionary overriding the protocol, e.g. ``{'thresholds': {'ehull_lam_max_mev': 100}}``.
        :param lam_options: ``metadata.options`` of the phonon jobs; ``dft_options``: of pw.x.
        :param pseudo_family: label of the pseudopotential family.
        """
        from aiida_hydrides.core.units import parse_pressure
        from aiida_hydrides.workflows.search.base import load_model_node

        if isinstance(lam_code, str):
            lam_code = orm.load_code(lam_code)
        if isinstance(pw_code, str):
            pw_code = orm.load_code(pw_code)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.group = orm.Str(group)
        builder.lam_code = lam_code
        if pressure is not None:
            builder.pressure = orm.Float(parse_pressure(pressure))
        if model is not None:
            builder.model = load_model_node(model)
        builder.candidates = orm.Str(inputs['candidates'])
        if inputs.get('thresholds'):
            builder.thresholds = orm.Dict(inputs['thresholds'])
        phonons = inputs['phonons']
        builder.phonons.parameters = orm.Dict(phonons['parameters'])
        builder.phonons.candidates_per_job = orm.Int(phonons['candidates_per_job'])
        builder.phonons.max_jobs = orm.Int(phonons['max_jobs'])
        if lam_options:
            builder.phonons.options = dict(lam_options)
        dft = inputs['dft']
        builder.dft.protocol = orm.Str(dft['protocol'])
        builder.dft.max_concurrent = orm.Int(dft['max_concurrent'])
        if dft.get('overrides'):
            builder.dft.overrides = orm.Dict(dft['overrides'])
        if pw_code is not None:
            builder.dft.code = pw_code
        if pseudo_family is not None:
            builder.dft.pseudo_family = orm.Str(pseudo_family)
        if dft_options:
            builder.dft.options = dict(dft_options)
        builder.search_missing = orm.Bool(inputs.get('search_missing', False))
        if inputs.get('search_parameters'):
            builder.search_parameters = orm.Dict(inputs['search_parameters'])
        return builder

    # -- set-up ----------------------------------------------------------------------------------------------------
    def _exit(self, error: ScreenInputError):
        self.report(str(error))
        return self.exit_codes[error.exit_code].format(message=str(error))

    def setup(self):
        """Load and check the group (one pressure, hydrides, elemental references), the model and the family."""
        from aiida_hydrides.core.screening import thresholds_from_parameters

        self.ctx.thresholds = thresholds_from_parameters(
            self.inputs.thresholds.get_dict() if 'thresholds' in self.inputs else {}
        ).as_dict()
        self.ctx.times = {}
        self.ctx.records = {}
        self.ctx.search_missing = False
        self.ctx.missing = []
        self.ctx.dft_missing_elements = []
        try:
            screen = self._load_group()
        except ScreenInputError as error:
            if error.exit_code == 'ERROR_MISSING_REFERENCES' and self.inputs.search_missing.value:
                self.ctx.search_missing = True
                self.ctx.missing = error.details['missing']
                self.report(f'searching the missing references {", ".join(self.ctx.missing)} first')
                return self._check_model_and_family(None)
            return self._exit(error)
        return self._check_model_and_family(screen)

    def _load_group(self):
        pressure = self.inputs.pressure.value if 'pressure' in self.inputs else None
        return load_screen_group(self.inputs.group.value, pressure, self.inputs.candidates.value)

    def _check_model_and_family(self, screen):
        """Find the model and check its type map and the family against the group's elements."""
        from aiida_hydrides.core.search.worker import file_md5

        if screen is None:  # references missing: the elements the group holds and those to search
            query = orm.QueryBuilder().append(orm.Group, filters={'label': self.inputs.group.value}, tag='g')
            query.append(orm.StructureData, with_group='g')
            elements = {symbol for (node,) in query.iterall() for symbol in node.get_symbols_set()}
            elements = sorted(elements | set(self.ctx.missing))
        else:
            elements = screen.elements
        try:
            model = self.inputs.model if 'model' in self.inputs else find_model(self.inputs.group.value)
            with model.as_path() as path:
                check_model_elements(path, elements, model.filename)
                self.ctx.model_md5 = file_md5(path)
            self.ctx.model_uuid = model.uuid
            self.ctx.family = None
            if 'code' in self.inputs.dft:
                label = self.inputs.dft.pseudo_family.value if 'pseudo_family' in self.inputs.dft else None
                self.ctx.family = check_family_elements(label, elements)
        except ScreenInputError as error:
            return self._exit(error)
        return None

    # -- the search of missing references --------------------------------------------------------------------------
    def should_search_missing(self):
        return self.ctx.search_missing

    def run_missing_search(self):
        """Search the missing elements with the fast protocol, into the same group."""
        from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

        query = orm.QueryBuilder().append(orm.Group, filters={'label': self.inputs.group.value}, tag='g')
        query.append(orm.StructureData, with_group='g', project=[f'extras.{HYDRIDES_EXTRA}'])
        tags = [extra or {} for (extra,) in query.iterall()]
        pressures = {t.get('pressure_gpa') for t in tags} - {None}
        pressure = self.inputs.pressure.value if 'pressure' in self.inputs else next(iter(pressures), None)
        systems = {t.get('system') for t in tags} - {None}
        system = next(iter(systems), None)
        if pressure is None or system is None:
            return self._exit(
                ScreenInputError(
                    'ERROR_NO_STRUCTURES', 'the group records neither its system nor its pressure: cannot search'
                )
            )
        builder = SystemSearchWorkChain.get_builder_from_protocol(
            self.inputs.lam_code,
            system,
            orm.load_node(self.ctx.model_uuid),
            pressure=pressure,
            protocol='fast',
            overrides={'parameters': self.inputs.search_parameters.get_dict()}
            if 'search_parameters' in self.inputs
            else None,
            compositions=self.ctx.missing,
            group_label=self.inputs.group.value,
        )
        if 'options' in self.inputs.phonons:
            builder.options = dict(self.inputs.phonons.options)
        builder.metadata.call_link_label = 'search_missing'
        node = self.submit(builder)
        self.report(f'launching SystemSearchWorkChain<{node.pk}> for {", ".join(self.ctx.missing)}')
        return ToContext(search=node)

    def inspect_missing_search(self):
        """Load the group again: the references must now be there."""
        try:
            screen = self._load_group()
        except ScreenInputError as error:
            if error.exit_code == 'ERROR_MISSING_REFERENCES':
                return self.exit_codes.ERROR_SEARCH_FAILED.format(formulas=', '.join(error.details['missing']))
            return self._exit(error)
        return self._check_model_and_family(screen)

    # -- stage 1: LAM hull ----------------------------------------------------------------------------------------
    def lam_hull(self):
        """E_hull with LAM enthalpies of every structure of the group; keep E_hull <= ehull_lam_max_mev."""
        from aiida_hydrides.core.screening import ScreenThresholds, stage_record

        start = time.time()
        screen = self._load_group()
        self.ctx.pressure = screen.pressure
        self.ctx.system = screen.system
        self.ctx.candidates = screen.candidates
        self.ctx.n_structures = len(screen.structures)
        self.ctx.uuids = {key: node.uuid for key, node in screen.structures.items()}
        self.ctx.formulas = {key: screen.formula(key) for key in screen.structures}
        self.ctx.previous = {key: dict(screen.tags[key].get('screen') or {}) for key in screen.candidates}
        entries = {
            key: {
                'formula': screen.formula(key),
                'enthalpy_per_atom': float(screen.tags[key]['enthalpy_lam_ev']),
                'uuid': node.uuid,
            }
            for key, node in screen.structures.items()
        }
        diagram = build_phase_diagram(
            orm.Dict(entries),
            orm.Float(screen.pressure),
            orm.Str('lam'),
            metadata={'call_link_label': 'lam_phase_diagram'},
        )
        self.out('lam_phase_diagram', diagram)
        self.ctx.lam_diagram_uuid = diagram.uuid
        points = diagram.get_dict()['points']
        self.ctx.lam_vertices = diagram.get_dict()['vertices']
        thresholds = ScreenThresholds(**self.ctx.thresholds)
        for key in screen.candidates:
            self.ctx.records[key] = {
                'lam_hull': stage_record(
                    'lam_hull',
                    points[key]['e_hull_mev'],
                    thresholds,
                    decomposition=[part['formula'] for part in points[key]['decomposition']],
                )
            }
        self.ctx.times['lam_hull'] = time.time() - start
        stable = ', '.join(sorted(self.ctx.lam_vertices))
        self.report(
            f'{len(screen.structures)} LAM structures of {screen.system}-H at {screen.pressure:g} GPa, '
            f'{len(screen.candidates)} candidates; on the LAM hull: {stable}'
        )
        if screen.ignored:
            self.report(f'{screen.ignored} structures of the group are not LAM minima with an enthalpy: left out')
        # a search promotes to the group only the minima within its own threshold of the LAM hull
        promotion = (orm.load_group(uuid=screen.uuid).base.extras.get(HYDRIDES_EXTRA, None) or {}).get('promotion')
        limit = (promotion or {}).get('max_ehull_mev')
        if limit is not None and thresholds.ehull_lam_max_mev > limit:
            self.report(
                f'the search put in the group only the minima within {limit:g} meV/atom of the LAM hull: those between '
                f'{limit:g} and {thresholds.ehull_lam_max_mev:g} meV/atom are not screened; promote them first with '
                f'`aiida-hydrides minima {screen.label} --max-ehull {thresholds.ehull_lam_max_mev:g} --promote`'
            )

    # -- stages 2 and 3: symmetry and atomic hydrogen --------------------------------------------------------------
    def cheap_stages(self):
        """Space group and atomic-H fraction of every candidate; then the candidates that passed all three stages
        go to the phonons."""
        from aiida_hydrides.core.descriptors import atomic_h_fraction, space_group
        from aiida_hydrides.core.errors import HydridesInputError
        from aiida_hydrides.core.screening import ScreenThresholds, stage_record

        thresholds = ScreenThresholds(**self.ctx.thresholds)
        cells = {key: orm.load_node(uuid=self.ctx.uuids[key]).get_ase() for key in self.ctx.candidates}
        start = time.time()
        for key, atoms in cells.items():
            try:
                number, symbol = space_group(atoms, thresholds.symprec)
            except HydridesInputError:
                number, symbol = 1, 'P1'
            self.ctx.records[key]['symmetry'] = stage_record('symmetry', number, thresholds, symbol=symbol)
        self.ctx.times['symmetry'] = time.time() - start
        start = time.time()
        for key, atoms in cells.items():
            fraction = atomic_h_fraction(atoms, thresholds.h_threshold)
            self.ctx.records[key]['atomic_h'] = stage_record('atomic_h', fraction, thresholds)
        self.ctx.times['atomic_h'] = time.time() - start
        self.ctx.phonon_todo = []
        self.ctx.phonon_reused = []
        parameters = self._phonon_parameters()
        for key in self.ctx.candidates:
            records = self.ctx.records[key]
            if not all(records[stage]['passed'] for stage in CHEAP_STAGES):
                continue
            previous = self.ctx.previous.get(key, {}).get('lam_phonons') or {}
            if (
                previous.get('value') is not None
                and previous.get('model_md5') == self.ctx.model_md5
                and previous.get('parameters') == parameters
            ):
                self._record_phonons(
                    key,
                    previous['value'],
                    wall_s=previous.get('wall_s', self._phonon_time(previous.get('calc_uuid'), key)),
                    **{k: previous[k] for k in ('calc_uuid', 'force_constants_uuid') if k in previous},
                )
                self.ctx.phonon_reused.append(key)
            else:
                self.ctx.phonon_todo.append(key)
        self._tag_candidates()  # after the reused phonons are recorded: an interrupted run must not lose them
        self.ctx.phonon_jobs = 0
        self.ctx.phonon_start = time.time()
        if not self.ctx.phonon_todo:
            self.ctx.times['lam_phonons'] = 0.0
        if self.ctx.phonon_reused:
            self.report(f'phonons of {len(self.ctx.phonon_reused)} candidates reused from an earlier run')
        self.report(f'{len(self.ctx.phonon_todo)} candidates go to the LAM phonons')

    @staticmethod
    def _phonon_time(calc_uuid, key):
        """The model time (s) of the phonons of ``key`` in the job ``calc_uuid``, or ``None``."""
        if not calc_uuid:
            return None
        try:
            results = orm.load_node(uuid=calc_uuid).outputs.results.get_dict()
        except Exception:  # noqa: BLE001 - a job that cannot be loaded has no time to give
            return None
        return (results.get(key) or {}).get('wall_s')

    def _phonon_parameters(self) -> dict:
        parameters = self.inputs.phonons.parameters.get_dict() if 'parameters' in self.inputs.phonons else {}
        parameters['imaginary_threshold_thz'] = self.ctx.thresholds['imaginary_max_thz']
        return parameters

    def _record_phonons(self, key, value, error=None, **extra):
        from aiida_hydrides.core.screening import ScreenThresholds, stage_record

        thresholds = ScreenThresholds(**self.ctx.thresholds)
        record = stage_record(
            'lam_phonons',
            value,
            thresholds,
            model_md5=self.ctx.model_md5,
            parameters=self._phonon_parameters(),
            **extra,
        )
        if error:
            record['error'] = error
        self.ctx.records[key]['lam_phonons'] = record

    # -- stage 4: LAM phonons ------------------------------------------------------------------------------------
    def should_run_phonons(self):
        return bool(self.ctx.phonon_todo) and self.ctx.phonon_jobs < self.inputs.phonons.max_jobs.value

    def run_phonons(self):
        """One ``hydrides.lam.phonons`` job per ``candidates_per_job`` candidates still to do."""
        from aiida_hydrides.calculations.lam_phonons import LamPhononsCalculation

        size = self.inputs.phonons.candidates_per_job.value
        todo = self.ctx.phonon_todo
        model = orm.load_node(self.ctx.model_uuid)
        parameters = orm.Dict(self._phonon_parameters())
        jobs = {}
        for start in range(0, len(todo), size):
            if self.ctx.phonon_jobs >= self.inputs.phonons.max_jobs.value:
                break
            chunk = todo[start : start + size]
            builder = LamPhononsCalculation.get_builder()
            builder.code = self.inputs.lam_code
            builder.model = model
            builder.parameters = parameters
            builder.structures = {key: orm.load_node(uuid=self.ctx.uuids[key]) for key in chunk}
            if 'options' in self.inputs.phonons:
                builder.metadata.options = dict(self.inputs.phonons.options)
            self.ctx.phonon_jobs += 1
            builder.metadata.call_link_label = f'phonons_{self.ctx.phonon_jobs}'
            builder.metadata.label = f'LAM phonons of {len(chunk)} candidates'
            node = self.submit(builder)
            self.report(f'launching LamPhononsCalculation<{node.pk}> for {len(chunk)} candidates')
            jobs[f'phonons_{self.ctx.phonon_jobs}'] = node
        self.ctx.phonon_running = list(jobs)
        return ToContext(**jobs)

    def inspect_phonons(self):
        """Record the verdict of every finished candidate; those a job did not finish (walltime) go to the next one;
        a job that failed otherwise records its error on its candidates."""
        todo = []
        for name in self.ctx.phonon_running:
            node = self.ctx[name]
            results = node.outputs.results.get_dict() if 'results' in node.outputs else {}
            fcs = node.outputs.force_constants if 'force_constants' in node.outputs else {}
            keys = list(node.inputs.structures.keys()) if 'structures' in node.inputs else []
            unfinished = []
            for key in keys:
                result = results.get(key)
                if result is None:
                    unfinished.append(key)
                    continue
                if result.get('error'):
                    self._record_phonons(key, None, error=result['error'], calc_uuid=node.uuid)
                    continue
                extra = {'calc_uuid': node.uuid, 'wall_s': result.get('wall_s')}
                if key in fcs:
                    extra['force_constants_uuid'] = fcs[key].uuid
                self._record_phonons(key, result['max_imaginary_thz'], **extra)
            if not unfinished:
                continue
            stopped_early = node.exit_status in (
                node.process_class.exit_codes.ERROR_OUT_OF_WALLTIME.status,
                node.process_class.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status,
            )
            if stopped_early and len(unfinished) < len(keys):
                self.report(
                    f'LamPhononsCalculation<{node.pk}> stopped at its walltime; {len(unfinished)} candidates go to '
                    'the next job'
                )
                todo.extend(unfinished)
            else:
                message = f'LamPhononsCalculation<{node.pk}> failed ({node.exit_status}: {node.exit_message})'
                self.report(message)
                for key in unfinished:
                    self._record_phonons(key, None, error=message, calc_uuid=node.uuid)
        self.ctx.phonon_todo = todo
        if todo and self.ctx.phonon_jobs >= self.inputs.phonons.max_jobs.value:
            message = f'no phonon job left (phonons.max_jobs = {self.inputs.phonons.max_jobs.value})'
            self.report(f'{message}: {len(todo)} candidates without phonons')
            for key in todo:
                self._record_phonons(key, None, error=message)
            self.ctx.phonon_todo = []
        if not self.ctx.phonon_todo:
            self.ctx.times['lam_phonons'] = time.time() - self.ctx.phonon_start
        self._tag_candidates()

    # -- stage 5: DFT hull --------------------------------------------------------------------------------------------
    def should_run_dft(self):
        if 'code' not in self.inputs.dft:
            self.report('no pw.x code given: the cascade stops after the LAM phonons')
            return False
        return True

    def plan_dft(self):
        """The DFT structures: the survivors of the phonons and the vertices of the LAM hull; reuse every one already
        relaxed at the same pressure, protocol and family."""
        from aiida_hydrides.core.compositions import parse_formula

        self.ctx.dft_start = time.time()
        survivors = [
            key for key in self.ctx.candidates if (self.ctx.records[key].get('lam_phonons') or {}).get('passed')
        ]
        # E_hull of a survivor depends only on the phases of its own elements: the vertices outside every survivor's
        # chemical subsystem are left out (none at all when nothing survived the phonons).
        subsystems = [set(parse_formula(self.ctx.formulas[key]).elements) for key in survivors]
        vertices = sorted(
            (
                key
                for formula, key in self.ctx.lam_vertices.items()
                if any(set(parse_formula(formula).elements) <= subsystem for subsystem in subsystems)
            ),
            key=lambda key: int(key[1:]),
        )
        self.ctx.dft_survivors = survivors
        self.ctx.dft_keys = list(dict.fromkeys([*vertices, *survivors]))
        self.ctx.dft_results = {}
        self.ctx.dft_errors = {}
        todo = []
        for key in self.ctx.dft_keys:
            found = self._find_dft(self.ctx.uuids[key])
            if found is not None:
                self.ctx.dft_results[key] = found
            else:
                todo.append(key)
        self.ctx.dft_todo = todo
        self.ctx.dft_batch = 0
        self.report(
            f'DFT for {len(self.ctx.dft_keys)} structures ({len(vertices)} LAM hull vertices, {len(survivors)} '
            f'survivors): {len(self.ctx.dft_results)} found done, {len(todo)} to run'
        )

    def _find_dft(self, uuid):
        """``{enthalpy_per_atom, structure_uuid}`` of an earlier ``hydrides.dft.enthalpy`` run at this pressure,
        protocol, overrides and family on the structure ``uuid`` itself (e.g. ``aiida-hydrides dft-enthalpy PK``) or on
        its symmetrized cell (an earlier screening), or ``None``."""
        from aiida_hydrides.workflows.dft.enthalpy import find_dft_relaxation

        found = find_dft_relaxation(
            uuid, self.ctx.pressure, self.inputs.dft.protocol.value, self.ctx.family, self._dft_overrides()
        )
        if found is None:
            return None
        node, tags = found
        return {
            'enthalpy_per_atom': float(tags['enthalpy_dft_ev']),
            'structure_uuid': node.uuid,
            'wall_s': _process_time(tags.get('workchain_uuid')),
        }

    def _dft_overrides(self) -> dict | None:
        return self.inputs.dft.overrides.get_dict() if 'overrides' in self.inputs.dft else None

    def should_submit_dft(self):
        return bool(self.ctx.dft_todo)

    def run_dft(self):
        """Launch the next ``dft.max_concurrent`` DFT enthalpies."""
        from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

        count = self.inputs.dft.max_concurrent.value
        batch, self.ctx.dft_todo = self.ctx.dft_todo[:count], self.ctx.dft_todo[count:]
        running = {}
        symprec = orm.Float(self.ctx.thresholds['symprec'])
        for key in batch:
            candidate = orm.load_node(uuid=self.ctx.uuids[key])
            structure = symmetrize_structure(candidate, symprec, metadata={'call_link_label': f'symmetrize_{key}'})
            source = get_tags(candidate)
            tag_node(
                structure,
                kind='symmetrized',
                source_uuid=candidate.uuid,
                symprec=symprec.value,
                pressure_gpa=self.ctx.pressure,
                **{name: source[name] for name in ('formula', 'system') if name in source},
                **symmetry_tags(structure),
            )
            builder = DftEnthalpyWorkChain.get_builder_from_protocol(
                self.inputs.dft.code,
                structure,
                pressure=self.ctx.pressure,
                protocol=self.inputs.dft.protocol.value,
                overrides=self._dft_overrides(),
                options=self.inputs.dft.get('options', None),
                pseudo_family=self.ctx.family,
            )
            builder.metadata.call_link_label = f'dft_{key}'
            builder.metadata.label = f'{self.ctx.formulas[key]} DFT enthalpy at {self.ctx.pressure:g} GPa'
            node = self.submit(builder)
            running[f'dft_{key}'] = node
        self.report(
            f'launching {len(running)} DftEnthalpyWorkChain(s): '
            + ', '.join(f'{self.ctx.formulas[key]}<{running[f"dft_{key}"].pk}>' for key in batch)
        )
        self.ctx.dft_running = batch
        return ToContext(**running)

    def inspect_dft(self):
        """Record each DFT enthalpy; a failure is recorded on its structure and does not stop the others."""
        for key in self.ctx.dft_running:
            node = self.ctx[f'dft_{key}']
            if node.is_finished_ok and 'enthalpy_per_atom' in node.outputs:
                self.ctx.dft_results[key] = {
                    'enthalpy_per_atom': node.outputs.enthalpy_per_atom.value,
                    'structure_uuid': node.outputs.relaxed_structure.uuid,
                    'wall_s': _process_time(node.uuid),
                }
            else:
                message = f'DftEnthalpyWorkChain<{node.pk}> failed ({node.exit_status}: {node.exit_message})'
                self.report(f'{self.ctx.formulas[key]}: {message}')
                self.ctx.dft_errors[key] = message

    def dft_hull(self):
        """The DFT hull of the DFT structures; E_hull(DFT) of the survivors; the LAM-vs-DFT comparison."""
        from aiida_hydrides.core.compositions import parse_formula
        from aiida_hydrides.core.screening import ScreenThresholds, stage_record

        thresholds = ScreenThresholds(**self.ctx.thresholds)
        entries = {
            key: {
                'formula': self.ctx.formulas[key],
                'enthalpy_per_atom': result['enthalpy_per_atom'],
                'uuid': self.ctx.uuids[key],
                'dft_structure_uuid': result['structure_uuid'],
            }
            for key, result in self.ctx.dft_results.items()
        }
        elemental = {
            parse_formula(entry['formula']).elements[0]
            for entry in entries.values()
            if len(parse_formula(entry['formula']).elements) == 1
        }
        needed = {symbol for key in self.ctx.dft_survivors for symbol in parse_formula(self.ctx.formulas[key]).elements}
        missing = sorted(needed - elemental)
        self.ctx.dft_missing_elements = missing
        # structures with an element whose reference failed cannot be placed on the DFT hull
        entries = {
            key: entry for key, entry in entries.items() if set(parse_formula(entry['formula']).elements) <= elemental
        }
        points = {}
        if entries:
            diagram = build_phase_diagram(
                orm.Dict(entries),
                orm.Float(self.ctx.pressure),
                orm.Str('dft'),
                metadata={'call_link_label': 'dft_phase_diagram'},
            )
            self.out('dft_phase_diagram', diagram)
            points = diagram.get_dict()['points']
        for key in self.ctx.dft_survivors:
            if key in points:
                self.ctx.records[key]['dft_hull'] = stage_record(
                    'dft_hull',
                    points[key]['e_hull_mev'],
                    thresholds,
                    enthalpy_dft_ev=points[key]['enthalpy_per_atom_ev'],
                    dft_structure_uuid=entries[key]['dft_structure_uuid'],
                    decomposition=[part['formula'] for part in points[key]['decomposition']],
                )
                continue
            lacking = sorted(set(parse_formula(self.ctx.formulas[key]).elements) - elemental)
            error = self.ctx.dft_errors.get(key) or f'no DFT enthalpy of the element(s) {", ".join(lacking)}'
            self.ctx.records[key]['dft_hull'] = stage_record('dft_hull', None, thresholds, error=error)
        if points:
            lam = orm.load_node(uuid=self.ctx.lam_diagram_uuid)
            comparison = compare_phase_diagrams(lam, diagram, metadata={'call_link_label': 'lam_vs_dft'})
            self.out('lam_vs_dft', comparison)
            data = comparison.get_dict()
            if data['n']:
                spearman = 'n/a' if data['spearman'] is None else f'{data["spearman"]:.2f}'
                self.report(
                    f'LAM vs DFT E_hull on {data["n"]} structures: MAE {data["mae_mev"]:.1f} meV/atom, '
                    f'Spearman {spearman}'
                )
        self.ctx.times['dft_hull'] = time.time() - self.ctx.dft_start
        self._tag_candidates()

    # -- prototypes and results -------------------------------------------------------------------------------------
    def prototypes(self):
        """Group the candidates within the LAM hull threshold by prototype; flag those unlike any known one."""
        keys = [key for key in self.ctx.candidates if self.ctx.records[key]['lam_hull']['passed']]
        structures = {key: orm.load_node(uuid=self.ctx.uuids[key]) for key in keys}
        result = classify_prototypes(**structures, metadata={'call_link_label': 'prototypes'})
        self.out('prototypes', result)
        for key, info in result.get_dict()['candidates'].items():
            self.ctx.records[key]['prototype'] = info

    def results(self):
        """The funnel, the survivors (outputs and group) and the final tags."""
        from aiida_hydrides.core.screening import STAGES

        survivors = [key for key in self.ctx.candidates if self._passed_all(key)]
        label = (
            self.inputs.survivors_group.value
            if 'survivors_group' in self.inputs
            else default_survivors_group(self.ctx.system, self.ctx.pressure)
        )
        group, _ = orm.Group.collection.get_or_create(label)
        nodes = [orm.load_node(uuid=self.ctx.uuids[key]) for key in survivors]
        present = {node.uuid for node in group.nodes}
        group.add_nodes([node for node in nodes if node.uuid not in present])
        extras = get_tags(group)
        extras.update(
            kind='screen', system=self.ctx.system, pressure_gpa=self.ctx.pressure, workchain_uuid=self.node.uuid
        )
        group.base.extras.set(HYDRIDES_EXTRA, extras)
        for key, node in zip(survivors, nodes, strict=True):
            self.out(f'survivors.{key}', node)

        stages, entering = [], list(self.ctx.candidates)
        times = {stage: self.ctx.times.get(stage) for stage in STAGES}
        for stage in STAGES:
            if stage == 'dft_hull' and 'code' not in self.inputs.dft:
                break  # the cascade stops after the phonons
            leaving = [key for key in entering if (self.ctx.records[key].get(stage) or {}).get('passed')]
            record = {'stage': stage, 'entering': len(entering), 'leaving': len(leaving), 'wall_s': times[stage]}
            if stage == 'lam_phonons':
                record['reused'] = len(self.ctx.phonon_reused)
                record['jobs'] = self.ctx.phonon_jobs
                # the model time of the phonons of these candidates, in this run or the one whose results it reused
                record['compute_s'] = sum(
                    (self.ctx.records[key].get('lam_phonons') or {}).get('wall_s') or 0.0 for key in entering
                )
            if stage == 'dft_hull':
                record['dft_structures'] = len(self.ctx.dft_keys)
                # the time of the DFT enthalpies of these structures, in this run or in the one that made them
                record['compute_s'] = sum(result.get('wall_s') or 0.0 for result in self.ctx.dft_results.values())
                record['dft_errors'] = {self.ctx.formulas[key]: message for key, message in self.ctx.dft_errors.items()}
            stages.append(record)
            entering = leaving
        funnel = {
            'group': self.inputs.group.value,
            'system': self.ctx.system,
            'pressure_gpa': self.ctx.pressure,
            'n_structures': self.ctx.n_structures,
            'candidates': self.inputs.candidates.value,
            'thresholds': self.ctx.thresholds,
            'stages': stages,
            'survivors': [
                {'key': key, 'uuid': self.ctx.uuids[key], 'formula': self.ctx.formulas[key]} for key in survivors
            ],
            'survivors_group': label,
            'model_md5': self.ctx.model_md5,
            'dft_protocol': self.inputs.dft.protocol.value if 'code' in self.inputs.dft else None,
            'pseudo_family': self.ctx.family,
        }
        node = collect_funnel(orm.Dict(funnel), metadata={'call_link_label': 'funnel'})
        self.out('funnel', node)
        self._tag_candidates(final=True)
        counts = ' -> '.join(str(stage['entering']) for stage in stages) + f' -> {len(survivors)}'
        self.report(f'funnel {counts}; survivors in group {label!r}')
        if self.ctx.dft_missing_elements:
            return self.exit_codes.ERROR_DFT_REFERENCES_FAILED.format(elements=', '.join(self.ctx.dft_missing_elements))
        return None

    def _passed_all(self, key) -> bool:
        from aiida_hydrides.core.screening import STAGES

        records = self.ctx.records[key]
        final = 'dft_hull' if 'code' in self.inputs.dft else 'lam_phonons'
        needed = STAGES[: STAGES.index(final) + 1]
        return all((records.get(stage) or {}).get('passed') for stage in needed)

    def _tag_candidates(self, final: bool = False):
        """Write the verdicts so far into the ``screen`` record of every candidate's ``hydrides`` extra."""
        from aiida_hydrides.core.screening import first_failed_stage

        for key in self.ctx.candidates:
            records = self.ctx.records[key]
            node = orm.load_node(uuid=self.ctx.uuids[key])
            stages = {stage: value for stage, value in records.items() if stage != 'prototype'}
            screen = {
                **stages,
                'failed_stage': first_failed_stage(stages),
                'n_failed': sum(not value.get('passed') for value in stages.values()),
                'workchain_uuid': self.node.uuid,
                'thresholds': self.ctx.thresholds,
            }
            if final:
                screen['passed'] = self._passed_all(key)
                prototype = records.get('prototype')
                if prototype:
                    screen.update(
                        prototype=prototype['label'], known_prototype=prototype['known'], novel=prototype['novel']
                    )
            tag_node(node, screen=screen)
