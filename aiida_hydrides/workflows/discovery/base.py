"""``DiscoveryWorkChain`` (``hydrides.discovery``): from a chemical system and a pressure to ranked superconductor
candidates, composing the other work chains of aiida-hydrides.

The stages, each with its own exposed inputs (and protocol) in a namespace of the same name:

1. ``learn`` (optional): without a model that knows the system's elements, ``hydrides.lam.concurrent`` grows one
   from DFT labels (only when ``learn`` inputs are given; otherwise exit 203 before anything runs).
2. ``search``: ``hydrides.search.system`` over the system's compositions at the pressure, with the model; its minima
   go to the group ``<campaign>/minima``.
3. ``screen``: ``hydrides.screen``, the filter cascade from the LAM hull to the DFT hull; its survivors go to
   ``<campaign>/survivors``.
4. ``epc_round1``: ``hydrides.epc.batch`` for the survivors chosen by the stage-1 priority rules
   (:mod:`aiida_hydrides.core.tc_model.selection`: symmetry, few atoms, hydrogen share of N(E_F) where known), at most
   ``round1_size`` of them.
5. ``epc_round2`` (when a Tc model is given in ``tc_model``): the remaining survivors are ranked by predicted Tc
   (upper confidence bound, mean + ``kappa`` x spread) and E_hull, and the best ``round2_size`` are computed.

Every choice is recorded on the candidate (``extras.hydrides.selection``), every structure and work chain the
campaign made is put in the campaign group (``campaign``, default ``hydrides/discovery/<A-B>/<P>GPa``), so that
``aiida-hydrides candidates``, ``report`` and ``export`` work on it.

Launched again with the same campaign, nothing done is done twice: the search skips the compositions already searched
in the minima group, the cascade reuses its phonons and DFT enthalpies, and the EPC batch skips the structures it has
computed with the same settings.

Exit codes: 201 invalid input, 203 no model for the system and no learning inputs; 401 learning failed, 402 search
failed, 403 screening failed, 404 an EPC round computed nothing, 405 the Tc prediction failed.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from aiida_hydrides.extras import get_tags, tag_node
from aiida_hydrides.workflows.common import validate_non_negative, validate_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin

__all__ = ('DiscoveryWorkChain', 'default_campaign_label')


def default_campaign_label(system: str, pressure: float) -> str:
    """``hydrides/discovery/<A-B>/<P>GPa``, e.g. ``hydrides/discovery/Ca-Y/200GPa``."""
    from aiida_hydrides.core.compositions import parse_system, system_label

    return f'hydrides/discovery/{system_label(*parse_system(system))}/{float(pressure):g}GPa'


def _validate_system(node, _):
    from aiida_hydrides.core.compositions import parse_system
    from aiida_hydrides.core.errors import HydridesInputError

    try:
        parse_system(node.value)
    except (HydridesInputError, ValueError) as exc:
        return f'the system {node.value!r} is not valid: {exc}'
    return None


def _sub_workchains():
    from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain
    from aiida_hydrides.workflows.lam.concurrent import ConcurrentLearningWorkChain
    from aiida_hydrides.workflows.screen.base import ScreenWorkChain
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    return ConcurrentLearningWorkChain, SystemSearchWorkChain, ScreenWorkChain, EpcBatchWorkChain


class DiscoveryWorkChain(ProtocolMixin, WorkChain):
    """From a chemical system and a pressure to ranked superconductor candidates (see the module docstring)."""

    _protocol_name = 'discovery/base'
    _protocol_free_keys = ('search.overrides', 'screen.overrides', 'epc.overrides')

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        from aiida_hydrides.core.units import MAX_PRESSURE_GPA

        super().define(spec)
        learn, search, screen, batch = _sub_workchains()
        spec.input('system', valid_type=orm.Str, validator=_validate_system, help="The A-B-H system, e.g. 'Ca-Y'.")
        spec.input(
            'pressure',
            valid_type=orm.Float,
            validator=validate_pressure,
            help=f'The pressure in GPa (0 to {MAX_PRESSURE_GPA:g}).',
        )
        spec.input(
            'campaign',
            valid_type=orm.Str,
            required=False,
            help='Label of the campaign group (default hydrides/discovery/<A-B>/<P>GPa).',
        )
        spec.input(
            'model',
            valid_type=orm.SinglefileData,
            required=False,
            help='The LAM (DeePMD model); default: the shipped model, if it knows the elements, else the one learned.',
        )
        spec.input('lam_code', valid_type=orm.AbstractCode, help='The hydrides-lam code (searches, LAM phonons).')
        spec.input(
            'round1_size',
            valid_type=orm.Int,
            default=lambda: orm.Int(2),
            validator=validate_non_negative,
            help='Survivors computed in the first EPC round (chosen by the stage-1 priority rules); 0: no EPC.',
        )
        spec.input(
            'round2_size',
            valid_type=orm.Int,
            default=lambda: orm.Int(2),
            validator=validate_non_negative,
            help='Survivors computed in the second EPC round (ranked by predicted Tc; needs `tc_model`); 0: none.',
        )
        spec.input(
            'kappa',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.0),
            help='Upper-confidence weight of round 2: score = predicted Tc + kappa x its spread.',
        )
        spec.input_namespace(
            'tc_model',
            valid_type=orm.SinglefileData,
            dynamic=True,
            required=False,
            help='The Tc model ensemble (frozen DeePMD property models) that ranks round 2; without it round 2 is '
            'skipped.',
        )
        spec.input(
            'tc_model_code',
            valid_type=orm.AbstractCode,
            required=False,
            help='The dp code of the Tc predictions (default: the local dp code of this Python environment).',
        )
        spec.expose_inputs(
            learn,
            namespace='learn',
            exclude=('system', 'lam_code'),
            namespace_options={'required': False, 'populate_defaults': False, 'help': 'Concurrent learning.'},
        )
        spec.expose_inputs(
            search,
            namespace='search',
            exclude=('system', 'pressure', 'model', 'code', 'group_label'),
            namespace_options={'help': 'The system search (`hydrides.search.system`).'},
        )
        spec.expose_inputs(
            screen,
            namespace='screen',
            exclude=('group', 'pressure', 'model', 'lam_code', 'survivors_group'),
            namespace_options={'help': 'The filter cascade (`hydrides.screen`).'},
        )
        spec.expose_inputs(
            batch,
            namespace='epc',
            exclude=('group', 'structures', 'pressure'),
            namespace_options={'help': 'The EPC rounds (`hydrides.epc.batch`).'},
        )
        # the batch's own check (a group or structures) does not apply: the discovery gives the structures
        spec.inputs['epc'].validator = None
        spec.outline(
            cls.setup,
            if_(cls.should_learn)(cls.learn, cls.inspect_learn),
            cls.search,
            cls.inspect_search,
            cls.screen,
            cls.inspect_screen,
            cls.select_round1,
            if_(cls.has_selection)(cls.run_epc, cls.inspect_epc),
            if_(cls.should_run_round2)(
                cls.predict_tc,
                cls.inspect_predictions,
                cls.select_round2,
                if_(cls.has_selection)(cls.run_epc, cls.inspect_epc),
            ),
            cls.results,
        )
        spec.output(
            'candidates', valid_type=orm.Dict, help='The candidates, ranked: computed Tc first, then predicted.'
        )
        spec.output('funnel', valid_type=orm.Dict, help='Counts per stage, from sampled structures to EPC results.')
        spec.default_output_node = 'candidates'
        spec.exit_code(201, 'ERROR_INVALID_INPUT', message='{message}')
        spec.exit_code(203, 'ERROR_NO_MODEL', message='{message}')
        spec.exit_code(401, 'ERROR_LEARNING_FAILED', message='the concurrent learning failed: {message}')
        spec.exit_code(402, 'ERROR_SEARCH_FAILED', message='the system search failed: {message}')
        spec.exit_code(403, 'ERROR_SCREEN_FAILED', message='the screening cascade failed: {message}')
        spec.exit_code(404, 'ERROR_EPC_FAILED', message='EPC round {round} computed nothing: {message}')
        spec.exit_code(405, 'ERROR_PREDICTION_FAILED', message='the Tc prediction failed: {message}')

    # ------------------------------------------------------------------------------------------------ protocols
    @classmethod
    def get_builder_from_protocol(
        cls,
        codes: dict,
        system: str,
        pressure=200.0,
        protocol: str | None = None,
        overrides: dict | None = None,
        model=None,
        compositions=None,
        campaign: str | None = None,
        pseudo_family: str | None = None,
        options: dict | None = None,
    ):
        """Return a builder prepopulated with the inputs of ``protocol`` (``workflows/protocols/discovery/base.yaml``).

        :param codes: ``{'lam', 'pw', 'ph', 'q2r', 'matdyn'}`` (optionally ``'projwfc'``, and ``'dp'`` for learning)
            -> code or code label.
        :param system: the system, e.g. ``'Ca-Y'``.
        :param pressure: GPa, or a string with a unit.
        :param protocol: ``fast`` (default) or ``moderate``.
        :param overrides: e.g. ``{'round1_size': 3, 'search': {'overrides': {'parameters': {'budget': 20}}}}``.
        :param model: the LAM (node or path); default: the shipped model.
        :param compositions: the formulas to search (default: the whole system).
        :param options: ``metadata.options`` of the QE calculations (resources).
        :raises ValueError: for an unknown protocol, a bad pressure, a missing code.
        """
        from aiida_hydrides.core.units import parse_pressure
        from aiida_hydrides.workflows.search.base import load_model_node

        _, search, screen, batch = _sub_workchains()
        pressure = parse_pressure(pressure)
        codes = {key: orm.load_code(code) if isinstance(code, str) else code for key, code in codes.items()}
        for key in ('lam', 'pw', 'ph', 'q2r', 'matdyn'):
            if key not in codes:
                raise ValueError(f'the discovery needs a {key!r} code')
        inputs = cls.get_protocol_inputs(protocol, overrides)
        if model is None:
            from aiida_hydrides.models import seed_model_path

            model = seed_model_path()
        model = load_model_node(model)
        builder = cls.get_builder()
        builder.system = orm.Str(system)
        builder.pressure = orm.Float(pressure)
        builder.lam_code = codes['lam']
        builder.model = model
        if campaign:
            builder.campaign = orm.Str(campaign)
        for key in ('round1_size', 'round2_size'):
            builder[key] = orm.Int(inputs[key])
        builder.kappa = orm.Float(inputs['kappa'])

        sub = search.get_builder_from_protocol(
            codes['lam'],
            system,
            model,
            pressure=pressure,
            protocol=inputs['search']['protocol'],
            overrides=inputs['search'].get('overrides'),
            compositions=compositions,
        )
        builder.search = {
            key: sub[key]
            for key in sub
            if key not in ('system', 'pressure', 'model', 'code', 'group_label', 'metadata')
        }
        sub = screen.get_builder_from_protocol(
            codes['lam'],
            'placeholder',
            pw_code=codes['pw'],
            pressure=pressure,
            model=model,
            protocol=inputs['screen']['protocol'],
            overrides=inputs['screen'].get('overrides'),
            dft_options=options,
            pseudo_family=pseudo_family,
        )
        builder.screen = {
            key: sub[key]
            for key in sub
            if key not in ('group', 'pressure', 'model', 'lam_code', 'survivors_group', 'metadata')
        }
        parameters = (inputs['search'].get('overrides') or {}).get('parameters')
        if parameters and builder.screen.search_missing.value and 'search_parameters' not in builder.screen:
            # the hull references the cascade searches get the search settings of the discovery
            builder.screen.search_parameters = orm.Dict(parameters)
        sub = batch.get_builder_from_protocol(
            {key: codes[key] for key in ('pw', 'ph', 'q2r', 'matdyn', 'projwfc') if key in codes},
            structures={'placeholder': orm.StructureData(cell=[[3, 0, 0], [0, 3, 0], [0, 0, 3]])},
            pressure=pressure,
            protocol=inputs['epc']['protocol'],
            overrides=inputs['epc'].get('overrides'),
            options=options,
            pseudo_family=pseudo_family,
        )
        builder.epc = {key: sub[key] for key in sub if key not in ('group', 'structures', 'pressure', 'metadata')}
        return builder

    # ------------------------------------------------------------------------------------------------ stages
    def setup(self):
        """Check the system and the model; create the campaign group."""
        from aiida_hydrides.core.compositions import parse_system, system_label
        from aiida_hydrides.core.lam.model import model_type_map

        elements = parse_system(self.inputs.system.value)
        self.ctx.system = system_label(*elements)
        self.ctx.pressure = self.inputs.pressure.value
        label = self.inputs.campaign.value if 'campaign' in self.inputs else None
        self.ctx.campaign = label or default_campaign_label(self.ctx.system, self.ctx.pressure)
        group, _ = orm.Group.collection.get_or_create(self.ctx.campaign)
        tag_node(group, kind='campaign', system=self.ctx.system, pressure_gpa=self.ctx.pressure)
        group.add_nodes(self.node)
        self.ctx.funnel = {}
        self.ctx.epc_batches = []
        self.ctx.selected_uuids = []
        self.ctx.round = 0
        self.ctx.model_uuid = None
        needed = set(elements) | {'H'}
        if 'model' in self.inputs:
            model = self.inputs.model
            with model.as_path() as path:
                try:
                    type_map = model_type_map(path)
                except Exception as exc:  # noqa: BLE001 - any unreadable model file
                    return self.exit_codes.ERROR_NO_MODEL.format(message=f'the model {model.filename!r}: {exc}')
            missing = sorted(needed - set(type_map))
            if not missing:
                self.ctx.model_uuid = model.uuid
            elif 'learn' not in self.inputs:
                return self.exit_codes.ERROR_NO_MODEL.format(
                    message=f'the model {model.filename!r} does not know {", ".join(missing)} and no `learn` inputs '
                    'were given to grow one'
                )
        elif 'learn' not in self.inputs:
            return self.exit_codes.ERROR_NO_MODEL.format(message='no model and no `learn` inputs')
        self.report(f'campaign {self.ctx.campaign!r}: {self.ctx.system}-H at {self.ctx.pressure:g} GPa')
        return None

    def should_learn(self):
        return self.ctx.model_uuid is None

    def learn(self):
        learn, *_ = _sub_workchains()
        inputs = self.exposed_inputs(learn, namespace='learn')
        inputs.update(system=orm.Str(self.ctx.system), lam_code=self.inputs.lam_code)
        inputs['metadata'] = {'call_link_label': 'learn'}
        node = self.submit(learn, **inputs)
        self.report(f'no model knows {self.ctx.system}-H: launching ConcurrentLearningWorkChain<{node.pk}>')
        return ToContext(learning=node)

    def inspect_learn(self):
        node = self.ctx.learning
        self._add(node)
        if not node.is_finished_ok or 'ensemble' not in node.outputs:
            return self.exit_codes.ERROR_LEARNING_FAILED.format(message=f'exit {node.exit_status}: {node.exit_message}')
        first = sorted(node.outputs.ensemble)[0]
        self.ctx.model_uuid = node.outputs.ensemble[first].uuid
        return None

    def search(self):
        _, search, _, _ = _sub_workchains()
        inputs = self.exposed_inputs(search, namespace='search')
        inputs.update(
            system=orm.Str(self.ctx.system),
            pressure=orm.Float(self.ctx.pressure),
            model=orm.load_node(self.ctx.model_uuid),
            code=self.inputs.lam_code,
            group_label=orm.Str(f'{self.ctx.campaign}/minima'),
        )
        inputs['metadata'] = {'call_link_label': 'search'}
        node = self.submit(search, **inputs)
        self.report(f'launching SystemSearchWorkChain<{node.pk}>')
        return ToContext(search=node)

    def inspect_search(self):
        node = self.ctx.search
        self._add(node)
        if 'summary' not in node.outputs:
            return self.exit_codes.ERROR_SEARCH_FAILED.format(message=f'exit {node.exit_status}: {node.exit_message}')
        summary = node.outputs.summary.get_dict()
        entries = [entry for entry in (summary.get('compositions') or {}).values() if isinstance(entry, dict)]
        self.ctx.funnel['search'] = {
            'compositions': len(entries),
            'relaxations': sum(int(entry.get('n_relaxations') or 0) for entry in entries),
            'minima': sum(int(entry.get('n_minima') or 0) for entry in entries),
            'promoted': len(orm.load_group(f'{self.ctx.campaign}/minima').nodes),
        }
        if not node.is_finished_ok:
            self.report(
                f'the search finished with exit {node.exit_status} ({node.exit_message}): going on with its minima'
            )
        return None

    def screen(self):
        _, _, screen, _ = _sub_workchains()
        inputs = self.exposed_inputs(screen, namespace='screen')
        inputs.update(
            group=orm.Str(f'{self.ctx.campaign}/minima'),
            pressure=orm.Float(self.ctx.pressure),
            model=orm.load_node(self.ctx.model_uuid),
            lam_code=self.inputs.lam_code,
            survivors_group=orm.Str(f'{self.ctx.campaign}/survivors'),
        )
        inputs['metadata'] = {'call_link_label': 'screen'}
        node = self.submit(screen, **inputs)
        self.report(f'launching ScreenWorkChain<{node.pk}>')
        return ToContext(screening=node)

    def inspect_screen(self):
        node = self.ctx.screening
        self._add(node)
        if 'funnel' not in node.outputs:
            return self.exit_codes.ERROR_SCREEN_FAILED.format(message=f'exit {node.exit_status}: {node.exit_message}')
        self.ctx.funnel['screen'] = node.outputs.funnel.get_dict()
        survivors = dict(node.outputs.survivors) if 'survivors' in node.outputs else {}
        self.ctx.survivors = {key: structure.uuid for key, structure in survivors.items()}
        self._add(*survivors.values())
        # the campaign holds every minimum the cascade saw (the hull references too), so that its report and queries
        # find the whole hull
        self._add(*orm.load_group(f'{self.ctx.campaign}/minima').nodes)
        self.report(f'{len(survivors)} survivors of the cascade')
        return None

    def select_round1(self):
        """The survivors chosen by the stage-1 priority rules, each choice recorded on its structure."""
        self.ctx.round = 1
        self.ctx.selected_uuids = self._select(stage=1, budget=self.inputs.round1_size.value)
        self.report(
            f'EPC round 1: {len(self.ctx.selected_uuids)} of {len(self.ctx.survivors)} survivors by the stage-1 rules'
        )

    def _select(self, stage: int, budget: int, kappa: float = 0.0) -> list:
        """UUIDs of the survivors that :func:`aiida_hydrides.selection.rank_group` selects (none if it refuses)."""
        from aiida_hydrides.core.errors import HydridesInputError
        from aiida_hydrides.selection import rank_group

        if not self.ctx.survivors or budget == 0:
            return []
        try:
            ranking = rank_group(f'{self.ctx.campaign}/survivors', stage=stage, kappa=kappa, budget=budget)
        except HydridesInputError as exc:
            self.report(f'stage-{stage} selection: {exc}')
            return []
        survivors = set(self.ctx.survivors.values())
        return [row['name'] for row in ranking['rows'] if row['selected'] and row['name'] in survivors]

    def has_selection(self):
        return bool(self.ctx.selected_uuids)

    def run_epc(self):
        _, _, _, batch = _sub_workchains()
        inputs = self.exposed_inputs(batch, namespace='epc')
        inputs['structures'] = {f's{index}': orm.load_node(uuid) for index, uuid in enumerate(self.ctx.selected_uuids)}
        inputs['pressure'] = orm.Float(self.ctx.pressure)
        inputs['metadata'] = {'call_link_label': f'epc_round{self.ctx.round}'}
        node = self.submit(batch, **inputs)
        self.report(f'launching EpcBatchWorkChain<{node.pk}> (round {self.ctx.round})')
        return ToContext(epc=node)

    def inspect_epc(self):
        node = self.ctx.epc
        self._add(node)
        self.ctx.epc_batches.append(node.uuid)
        if 'summary' not in node.outputs:
            return self.exit_codes.ERROR_EPC_FAILED.format(
                round=self.ctx.round, message=f'exit {node.exit_status}: {node.exit_message}'
            )
        summary = node.outputs.summary.get_dict()
        self.ctx.funnel[f'epc_round{self.ctx.round}'] = summary.get('counts', {})
        for record in summary.get('structures') or []:
            for key in ('relaxed_structure_uuid', 'structure_uuid', 'epc_uuid'):
                if record.get(key):
                    self._add(orm.load_node(record[key]))
        return None

    def should_run_round2(self):
        remaining = set(self.ctx.survivors.values()) - self._computed_uuids()
        if 'tc_model' not in self.inputs or not self.inputs.tc_model:
            self.report('no Tc model given: EPC round 2 skipped')
            return False
        if not remaining:
            self.report('every survivor was computed in round 1: EPC round 2 skipped')
            return False
        return True

    def predict_tc(self):
        """Predict Tc and its spread on the survivors not computed yet (``hydrides.tc_model.predict``)."""
        from aiida_hydrides.tc_model import prediction_builder

        remaining = [orm.load_node(uuid) for uuid in sorted(set(self.ctx.survivors.values()) - self._computed_uuids())]
        code = self.inputs.tc_model_code if 'tc_model_code' in self.inputs else None
        builder, self.ctx.prediction_plan = prediction_builder(remaining, dict(self.inputs.tc_model), code=code)
        builder.metadata.call_link_label = 'tc_predict'
        node = self.submit(builder)
        self.report(f'launching TcModelPredictCalculation<{node.pk}> for {len(remaining)} survivors')
        return ToContext(prediction=node)

    def inspect_predictions(self):
        """Store the predictions on the survivors (``extras.hydrides.tc_model``)."""
        from aiida_hydrides.core.errors import HydridesInputError
        from aiida_hydrides.tc_model import store_predictions

        node = self.ctx.prediction
        self._add(node)
        try:
            store_predictions(node, self.ctx.prediction_plan)
        except HydridesInputError as exc:
            return self.exit_codes.ERROR_PREDICTION_FAILED.format(message=str(exc))
        return None

    def select_round2(self):
        """The remaining survivors ranked by predicted Tc (+ kappa x spread), each choice recorded."""
        self.ctx.round = 2
        self.ctx.selected_uuids = self._select(
            stage=2, budget=self.inputs.round2_size.value, kappa=self.inputs.kappa.value
        )
        self.report(f'EPC round 2: {len(self.ctx.selected_uuids)} survivors by predicted Tc')

    def results(self):
        """The ranked candidates and the funnel, from the search's sampled structures to the EPC results."""
        from aiida_hydrides.calculations.functions.discovery import collect_discovery

        inputs = {f'survivor_{index}': orm.load_node(uuid) for index, uuid in enumerate(self.ctx.survivors.values())}
        for index, uuid in enumerate(self.ctx.epc_batches, start=1):
            inputs[f'round{index}'] = orm.load_node(uuid).outputs.summary
        inputs['stages'] = orm.Dict(
            {
                'campaign': self.ctx.campaign,
                'system': self.ctx.system,
                'pressure_gpa': self.ctx.pressure,
                **self.ctx.funnel,
            }
        )
        outputs = collect_discovery(**inputs, metadata={'call_link_label': 'candidates'})
        rows = outputs['candidates'].get_dict()['candidates']
        funnel = outputs['funnel'].get_dict()
        self.out('candidates', outputs['candidates'])
        self.out('funnel', outputs['funnel'])
        self._add(outputs['candidates'], outputs['funnel'])
        best = next((row for row in rows if row.get('status') == 'done'), None)
        self.report(
            f'{funnel["epc_done"]} of {len(rows)} survivors computed'
            + (
                f'; best {best["formula"]}, Tc {best["tc_allen_dynes_K_mu0_10"]:.0f} K'
                if best and best.get('tc_allen_dynes_K_mu0_10') is not None
                else ''
            )
            + f'; campaign group {self.ctx.campaign!r}'
        )

    # ------------------------------------------------------------------------------------------------ helpers
    def _computed_uuids(self) -> set:
        """Survivors (their source uuids) that an EPC batch of this campaign has computed or tried."""
        done = set()
        for node in self.ctx.survivors.values():
            record = get_tags(orm.load_node(node)).get('epc') or {}
            if record.get('status') in ('done', 'unstable', 'failed', 'skipped'):
                done.add(node)
        return done

    def _add(self, *nodes):
        """Put ``nodes`` into the campaign group."""
        group = orm.load_group(self.ctx.campaign)
        group.add_nodes([node for node in nodes if node.is_stored])
