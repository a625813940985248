"""``hydrides.epc.batch``: relax (``hydrides.dft.enthalpy``) and then compute the electron-phonon coupling and Tc
(``hydrides.epc``) of every structure of a group, a limited number at a time.

Per structure: ``DftEnthalpyWorkChain`` at the target pressure (unless ``run_relax`` is false), then
``ElectronPhononWorkChain`` on the relaxed structure. The work chain launches its sub-processes in rounds of at most
``max_concurrent`` (relaxations and EPC work chains together; an EPC of a structure relaxed in an earlier round goes
first) and waits for the round to end before launching the next, so that never more than ``max_concurrent`` run at a
time.

Every structure ends in one status (:mod:`aiida_hydrides.core.epc_batch`): ``done`` (λ, ω_log, Tc), ``unstable``
(``hydrides.epc`` exit 410, with the imaginary modes: a result, not a failure), ``failed`` (the exit status and message
of the relaxation or EPC, or why the structure could not be prepared) or ``skipped``.

**Skipping what is done.** A structure is skipped, and its earlier result reused, when an ``ElectronPhononWorkChain``
launched by a batch for that same input structure (its UUID) with the same settings ended ``done`` or ``unstable``.
The batch tags each of its EPC work chains with the ``hydrides`` extra ``{kind: 'epc', source_uuid, settings_hash,
status, ...}``; ``settings_hash`` is the fingerprint (:func:`aiida_hydrides.core.epc_batch.settings_hash`) of the
settings that change the result: the pressure, whether the structure is relaxed, the relaxation and EPC protocols and
overrides, the pseudopotential family and explicit cutoffs (not the codes, resources or ``max_concurrent``). A failed
EPC is computed again; its relaxation, when it succeeded, is reused (the relaxed structure is tagged with the
``relax_settings_hash`` of the relaxation's settings and the ``source_uuid`` of the input structure). A structure
that any ``hydrides.dft.enthalpy`` run relaxed at the same pressure with the same protocol, overrides and family is not
relaxed again either: e.g. the survivors of ``hydrides.screen``, whose DFT stage relaxed their symmetrized cells (the
discovery's EPC rounds, when the batch's relaxation protocol is the screen's DFT protocol).
An EPC run outside a batch (``aiida-hydrides epc``) is never reused: it records neither its protocol nor how its
structure was relaxed.

**Tags.** Every input structure gets an ``epc`` record in its ``hydrides`` extra (status, λ, ω_log, Tc(Allen-Dynes,
μ* = 0.10), lowest phonon frequency, settings hash, the UUIDs of the EPC work chain and of the batch), so that
``{'extras.hydrides.epc.status': 'done', 'extras.hydrides.epc.lambda': {'>': 1.0}}`` finds the strong couplers of a
group.
"""

from __future__ import annotations

import copy

from aiida import orm
from aiida.engine import ToContext, WorkChain, while_

from aiida_hydrides.core.epc_batch import (
    FINISHED_STATUSES,
    REUSABLE_STATUSES,
    count_statuses,
    epc_settings,
    relax_settings,
    settings_hash,
)
from aiida_hydrides.core.units import MAX_PRESSURE_GPA
from aiida_hydrides.extras import HYDRIDES_EXTRA, get_tags, tag_node
from aiida_hydrides.workflows.common import overrides_validator, validate_positive_int, validate_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin, recursive_merge

__all__ = ('EpcBatchWorkChain',)

#: the codes of the batch: short name -> (calculation plugin, required)
CODES = {
    'pw': ('quantumespresso.pw', True),
    'ph': ('quantumespresso.ph', True),
    'q2r': ('quantumespresso.q2r', True),
    'matdyn': ('quantumespresso.matdyn', True),
    'projwfc': ('quantumespresso.projwfc', False),
}
#: the ``kind`` tag of the EPC work chains a batch launches
EPC_KIND = 'epc'
#: the keys of an EPC ``tc`` output copied into the summary and the tags, besides the ``tc_*`` temperatures
TC_KEYS = ('lambda', 'omega_log_K', 'omega_2_K', 'el_ph_sigma_ry')


def _wall_s(node) -> float | None:
    """Seconds from the creation of the process ``node`` to its last change (its run time once it ended)."""
    if node is None:
        return None
    return round((node.mtime - node.ctime).total_seconds(), 1)


def _load(uuid):
    try:
        return orm.load_node(uuid=uuid)
    except Exception:  # noqa: BLE001 - a node that cannot be loaded is no result
        return None


def _reduced_formula(structure) -> str:
    from aiida_hydrides.core.compositions import parse_formula
    from aiida_hydrides.core.descriptors import formula

    tags = get_tags(structure)
    if tags.get('formula'):
        return tags['formula']
    try:
        return parse_formula(formula(structure.get_ase())).reduced().formula
    except ValueError:
        return structure.get_formula(mode='hill_compact')


# ---------------------------------------------------------------------------------------------------- validators
def _validate_group(node, _):
    if node is None:
        return None
    label = node.value
    query = orm.QueryBuilder().append(orm.Group, filters={'label': label}, tag='group')
    if not query.count():
        return f'no group labelled {label!r}; `verdi group list -a` lists the groups'
    query.append(orm.StructureData, with_group='group')
    if not query.count():
        return f'the group {label!r} holds no structure (StructureData)'
    return None


def _validate_protocol(workchain_name):
    def validator(node, _):
        from aiida.plugins import WorkflowFactory

        if node is None:
            return None
        available = list(WorkflowFactory(workchain_name).get_available_protocols())
        if node.value not in available:
            return f'unknown protocol {node.value!r} of `{workchain_name}`; choose one of {", ".join(available)}'
        return None

    return validator


def _validate_cutoffs(node, _):
    if node is None:
        return None
    values = node.get_list()
    try:
        ecutwfc, ecutrho = (float(value) for value in values)
    except (TypeError, ValueError):
        return f'cutoffs must be two numbers of Ry, [ecutwfc, ecutrho]; got {values}'
    if not 0 < ecutwfc or ecutrho < 4 * ecutwfc:
        return f'cutoffs must be ecutwfc > 0 and ecutrho >= 4 x ecutwfc (Ry); got {values}'
    return None


def _validate_pseudo_family(node, _):
    from aiida_hydrides.pseudos import PseudoFamilyError, get_pseudo_family

    if node is None:
        return None
    try:
        get_pseudo_family(node.value)
    except PseudoFamilyError as exception:
        return str(exception)
    return None


def _validate_code(short):
    plugin = CODES[short][0]

    def validator(node, _):
        if node is not None and node.default_calc_job_plugin != plugin:
            return (
                f'the `{short}` code must run the `{plugin}` plugin; {node.full_label} runs '
                f'`{node.default_calc_job_plugin}`'
            )
        return None

    return validator


def validate_inputs(inputs, _):
    """Exactly one of ``group`` and ``structures``."""
    has_group = 'group' in inputs
    has_structures = bool(inputs.get('structures'))
    if has_group == has_structures:
        return 'give either `group` (the label of a group of structures) or `structures`, not both and not neither'
    return None


class EpcBatchWorkChain(ProtocolMixin, WorkChain):
    """Relax and compute the EPC of every structure of a group, ``max_concurrent`` at a time, skipping those already
    done and recording dynamically unstable ones as such (see the module docstring)."""

    _protocol_name = 'epc/batch'
    _protocol_free_keys = ('relax.overrides', 'epc.overrides')

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input(
            'group',
            valid_type=orm.Str,
            required=False,
            validator=_validate_group,
            help='Label of the group whose structures (StructureData) are computed.',
        )
        spec.input_namespace(
            'structures',
            valid_type=orm.StructureData,
            dynamic=True,
            required=False,
            help='The structures, instead of a group (keys: names of your choice).',
        )
        spec.input(
            'pressure',
            valid_type=orm.Float,
            validator=validate_pressure,
            help=f'Target pressure of the relaxations in GPa (0 to {MAX_PRESSURE_GPA:g}).',
        )
        spec.input(
            'max_concurrent',
            valid_type=orm.Int,
            default=lambda: orm.Int(4),
            validator=validate_positive_int,
            help='Most sub-processes (relaxations and EPC work chains together) running at a time.',
        )
        spec.input(
            'run_relax',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(True),
            help='Relax every structure at the target pressure first (`hydrides.dft.enthalpy`); if false, the EPC '
            'runs on the structures as given.',
        )
        spec.input_namespace('codes', help='The Quantum ESPRESSO codes.')
        for short, (plugin, required) in CODES.items():
            spec.input(
                f'codes.{short}',
                valid_type=orm.AbstractCode,
                required=required,
                validator=_validate_code(short),
                help=f'The `{plugin}` code' + ('.' if required else ' (optional: N(E_F) per element).'),
            )
        spec.input(
            'pseudo_family',
            valid_type=orm.Str,
            required=False,
            validator=_validate_pseudo_family,
            help='Pseudopotential family of the relaxations and the EPC (default: the offline pslibrary family).',
        )
        spec.input(
            'cutoffs',
            valid_type=orm.List,
            required=False,
            validator=_validate_cutoffs,
            help='[ecutwfc, ecutrho] in Ry for the relaxations and the EPC instead of the family recommendations.',
        )
        spec.input_namespace('relax', help='The relaxations (`hydrides.dft.enthalpy`).')
        spec.input(
            'relax.protocol',
            valid_type=orm.Str,
            default=lambda: orm.Str('moderate'),
            validator=_validate_protocol('hydrides.dft.enthalpy'),
            help='Protocol of `hydrides.dft.enthalpy` (default `moderate`, as the batch protocol `screening`).',
        )
        spec.input(
            'relax.overrides',
            valid_type=orm.Dict,
            required=False,
            validator=overrides_validator('hydrides.dft.enthalpy'),
            help='Overrides of that protocol (keys of workflows/protocols/dft/enthalpy.yaml).',
        )
        spec.input_namespace('epc', help='The electron-phonon calculations (`hydrides.epc`).')
        spec.input(
            'epc.protocol',
            valid_type=orm.Str,
            default=lambda: orm.Str('screening'),
            validator=_validate_protocol('hydrides.epc'),
            help='Protocol of `hydrides.epc` (default `screening`, as the batch protocol `screening`).',
        )
        spec.input(
            'epc.overrides',
            valid_type=orm.Dict,
            required=False,
            validator=overrides_validator('hydrides.epc'),
            help='Overrides of that protocol (keys of workflows/protocols/epc/base.yaml).',
        )
        spec.input(
            'options',
            valid_type=dict,
            non_db=True,
            required=False,
            help='metadata.options of every calculation (resources, max_wallclock_seconds).',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Passed on to every sub-process: clean its remote folders once it terminates.',
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            while_(cls.should_launch)(cls.launch, cls.inspect),
            cls.results,
        )

        spec.output(
            'summary',
            valid_type=orm.Dict,
            help='Per structure: uuid, formula, status (done, unstable, failed, skipped), λ, ω_log, Tc, imaginary '
            'modes, exit status of a failure, wall times; counts per status; settings and their hash.',
        )
        spec.default_output_node = 'summary'

        spec.exit_code(201, 'ERROR_NO_STRUCTURES', message='{message}')
        spec.exit_code(202, 'ERROR_PSEUDO_FAMILY', message='{message}')
        spec.exit_code(
            401,
            'ERROR_NOTHING_COMPUTED',
            message='no structure could be computed (the summary says why for each): {message}',
        )

    # ------------------------------------------------------------------------------------------------ protocols
    @classmethod
    def get_builder_from_protocol(
        cls,
        codes: dict,
        group=None,
        structures: dict | None = None,
        pressure=200.0,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        pseudo_family: str | None = None,
        cutoffs=None,
        **_,
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param codes: ``{'pw', 'ph', 'q2r', 'matdyn'}`` (and optionally ``'projwfc'``) -> code or code label.
        :param group: a group or its label (or give ``structures``).
        :param structures: ``{name: StructureData}`` instead of a group.
        :param pressure: target pressure of the relaxations (GPa, or a string with a unit).
        :param protocol: ``screening`` (default), ``fast``, ``moderate`` or ``precise``
            (``workflows/protocols/epc/batch.yaml``).
        :param overrides: overrides of the protocol, e.g. ``{'max_concurrent': 2, 'relax': {'overrides':
            {'kpoints_distance': 0.4}}, 'epc': {'overrides': {'meta_parameters': {'qpoints_mesh': [2, 2, 2]}}}}``;
            the nested overrides are checked against the protocols of ``hydrides.dft.enthalpy`` and ``hydrides.epc``.
        :param options: ``metadata.options`` of every calculation.
        :param pseudo_family: label of the pseudopotential family (default: the offline pslibrary family).
        :param cutoffs: ``(ecutwfc, ecutrho)`` in Ry for every calculation instead of the family recommendations.
        :raises ValueError: for an unknown protocol or override key, a missing code, a bad pressure.
        """
        from aiida_hydrides.core.units import parse_pressure
        from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain
        from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain

        inputs = cls.get_protocol_inputs(protocol, overrides)
        for name, workchain in (('relax', DftEnthalpyWorkChain), ('epc', ElectronPhononWorkChain)):
            try:
                workchain.get_protocol_inputs(inputs[name]['protocol'], inputs[name].get('overrides'))
            except ValueError as exception:
                raise ValueError(f'{name}: {exception}') from None
        codes = {key: orm.load_code(code) if isinstance(code, (str, int)) else code for key, code in codes.items()}
        missing = [short for short, (_, required) in CODES.items() if required and codes.get(short) is None]
        if missing:
            raise ValueError(
                f'codes for {missing} are missing; pass codes={{"pw": ..., "ph": ..., "q2r": ..., "matdyn": ...}}'
            )

        builder = cls.get_builder()
        if group is not None:
            builder.group = orm.Str(group.label if isinstance(group, orm.Group) else str(group))
        if structures:
            builder.structures = dict(structures)
        builder.pressure = orm.Float(parse_pressure(pressure))
        builder.max_concurrent = orm.Int(inputs['max_concurrent'])
        builder.run_relax = orm.Bool(inputs['run_relax'])
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        for short in CODES:
            if codes.get(short) is not None:
                builder.codes[short] = codes[short]
        if pseudo_family is not None:
            builder.pseudo_family = orm.Str(getattr(pseudo_family, 'label', pseudo_family))
        if cutoffs is not None:
            builder.cutoffs = orm.List([float(value) for value in cutoffs])
        for name in ('relax', 'epc'):
            builder[name].protocol = orm.Str(inputs[name]['protocol'])
            if inputs[name].get('overrides'):
                builder[name].overrides = orm.Dict(inputs[name]['overrides'])
        if options:
            builder.options = dict(options)
        return builder

    # ------------------------------------------------------------------------------------------------ set-up
    def setup(self):
        """Load the structures and the family; skip those already done, queue the others."""
        from aiida_hydrides.pseudos import DEFAULT_FAMILY_LABEL, PseudoFamilyError, get_pseudo_family

        label = self.inputs.pseudo_family.value if 'pseudo_family' in self.inputs else DEFAULT_FAMILY_LABEL
        try:
            family = get_pseudo_family(label)
        except PseudoFamilyError as exception:
            self.report(str(exception))
            return self.exit_codes.ERROR_PSEUDO_FAMILY.format(message=str(exception))
        self.ctx.family = family.label

        structures = self._load_structures()
        if not structures:
            message = f'the group {self.inputs.group.value!r} holds no structure' if 'group' in self.inputs else ''
            return self.exit_codes.ERROR_NO_STRUCTURES.format(message=message or 'no structure given')

        pressure = self.inputs.pressure.value
        cutoffs = self.inputs.cutoffs.get_list() if 'cutoffs' in self.inputs else None
        relax = None
        if self.inputs.run_relax.value:
            relax = relax_settings(
                pressure, self.inputs.relax.protocol.value, self._overrides('relax'), self.ctx.family, cutoffs
            )
            self.ctx.relax_hash = settings_hash(relax)
        settings = epc_settings(relax, self.inputs.epc.protocol.value, self._overrides('epc'), self.ctx.family, cutoffs)
        self.ctx.settings = settings
        self.ctx.settings_hash = settings_hash(settings)

        self.ctx.records = {}
        self.ctx.order = list(structures)
        self.ctx.todo_relax = []
        self.ctx.todo_epc = []
        self.ctx.epc_input = {}
        elements = set(family.elements)
        for key, node in structures.items():
            record = {
                'key': key,
                'pk': node.pk,
                'uuid': node.uuid,
                'label': node.label,
                'formula': _reduced_formula(node),
                'cell_formula': node.get_formula(mode='hill_compact'),
                'status': None,
            }
            self.ctx.records[key] = record
            missing = sorted(node.get_symbols_set() - elements)
            if not all(node.pbc):
                self._set_failed(key, 'input', f'not a periodic 3D crystal (pbc = {list(node.pbc)})')
                continue
            if missing:
                self._set_failed(
                    key,
                    'input',
                    f'the pseudopotential family {self.ctx.family!r} has no pseudopotential for {", ".join(missing)}',
                )
                continue
            previous = self._find_previous_epc(node.uuid)
            if previous is not None:
                self._reuse(key, previous)
                continue
            if not self.inputs.run_relax.value:
                self.ctx.epc_input[key] = node.uuid
                self.ctx.todo_epc.append(key)
                continue
            relaxed = self._find_relaxed(node.uuid)
            if relaxed is not None:
                record.update(self._relaxed_fields(relaxed))
                record['relax_reused'] = True
                self.ctx.epc_input[key] = relaxed.uuid
                self.ctx.todo_epc.append(key)
            else:
                self.ctx.todo_relax.append(key)

        skipped = [key for key in self.ctx.order if self.ctx.records[key]['status'] == 'skipped']
        self.report(
            f'{len(structures)} structures at {pressure:g} GPa (settings {self.ctx.settings_hash}): '
            f'{len(skipped)} already done, {len(self.ctx.todo_relax)} to relax, {len(self.ctx.todo_epc)} ready for '
            f'the EPC; at most {self.inputs.max_concurrent.value} sub-processes at a time'
        )
        return None

    def _overrides(self, name) -> dict:
        namespace = self.inputs[name]
        return namespace.overrides.get_dict() if 'overrides' in namespace else {}

    def _load_structures(self) -> dict:
        """``{key: StructureData}``: the group's structures by PK (keys ``pk<PK>``) or the ``structures`` input."""
        if 'group' in self.inputs:
            query = orm.QueryBuilder().append(orm.Group, filters={'label': self.inputs.group.value}, tag='group')
            query.append(orm.StructureData, with_group='group', project='*', tag='structure')
            query.order_by({'structure': {'id': 'asc'}})
            nodes = {f'pk{node.pk}': node for (node,) in query.iterall()}
            others = orm.QueryBuilder().append(orm.Group, filters={'label': self.inputs.group.value}, tag='group')
            others.append(orm.Node, with_group='group', filters={'node_type': {'!like': 'data.core.structure.%'}})
            if others.count():
                self.report(f'{others.count()} nodes of the group that are not structures are left out')
            return nodes
        nodes, seen = {}, set()
        for key in sorted(self.inputs.structures):
            node = self.inputs.structures[key]
            if node.uuid in seen:
                self.report(f'structures.{key} is given twice: computed once')
                continue
            seen.add(node.uuid)
            nodes[key] = node
        return nodes

    def _find_previous_epc(self, uuid):
        """The latest EPC work chain that a batch with these settings ran on the structure ``uuid`` and that ended
        ``done`` or ``unstable``, or ``None``."""
        query = orm.QueryBuilder().append(
            orm.WorkChainNode,
            filters={
                f'extras.{HYDRIDES_EXTRA}.kind': EPC_KIND,
                f'extras.{HYDRIDES_EXTRA}.source_uuid': uuid,
                f'extras.{HYDRIDES_EXTRA}.settings_hash': self.ctx.settings_hash,
                f'extras.{HYDRIDES_EXTRA}.status': {'in': list(REUSABLE_STATUSES)},
            },
            tag='epc',
        )
        query.order_by({'epc': {'ctime': 'desc'}})
        found = query.first()
        return found[0] if found else None

    def _relax_overrides(self) -> dict | None:
        """The overrides of ``hydrides.dft.enthalpy`` for the relaxations: ``relax.overrides`` and the cutoffs."""
        overrides = self._overrides('relax')
        if 'cutoffs' in self.inputs:
            ecutwfc, ecutrho = self.inputs.cutoffs.get_list()
            system = {'pw': {'parameters': {'SYSTEM': {'ecutwfc': ecutwfc, 'ecutrho': ecutrho}}}}
            cutoff_overrides = {
                'relax': {'base_relax': copy.deepcopy(system), 'base_init_relax': copy.deepcopy(system)},
                'scf': copy.deepcopy(system),
            }
            overrides = recursive_merge(cutoff_overrides, overrides)
        return overrides or None

    def _find_relaxed(self, uuid):
        """A structure relaxed from the structure ``uuid`` with these relaxation settings, or ``None``: by a batch,
        or by any ``hydrides.dft.enthalpy`` run with the same protocol, overrides, family and pressure on the structure
        or on its symmetrized cell (the DFT stage of the screen that made the structure a survivor)."""
        from aiida_hydrides.workflows.dft.enthalpy import find_dft_relaxation

        query = orm.QueryBuilder().append(
            orm.StructureData,
            filters={
                f'extras.{HYDRIDES_EXTRA}.kind': 'dft_relaxed',
                f'extras.{HYDRIDES_EXTRA}.source_uuid': uuid,
                f'extras.{HYDRIDES_EXTRA}.relax_settings_hash': self.ctx.relax_hash,
            },
            tag='relaxed',
        )
        query.order_by({'relaxed': {'ctime': 'desc'}})
        found = query.first()
        # relaxed by a batch: its structures carry the hash, those relaxed before overrides were recorded too
        if found:
            return found[0]
        found = find_dft_relaxation(
            uuid, self.inputs.pressure.value, self.inputs.relax.protocol.value, self.ctx.family, self._relax_overrides()
        )
        return found[0] if found else None

    @staticmethod
    def _relaxed_fields(relaxed) -> dict:
        tags = get_tags(relaxed)
        relax_node = _load(tags.get('workchain_uuid')) if tags.get('workchain_uuid') else None
        return {
            'relaxed_structure_uuid': relaxed.uuid,
            'enthalpy_dft_ev': tags.get('enthalpy_dft_ev'),
            'relax_uuid': relax_node.uuid if relax_node is not None else None,
            'relax_wall_s': _wall_s(relax_node),
        }

    # ------------------------------------------------------------------------------------------------ rounds
    def should_launch(self):
        return bool(self.ctx.todo_relax or self.ctx.todo_epc)

    def launch(self):
        """Launch the next round: at most ``max_concurrent`` sub-processes, the EPC of relaxed structures first."""
        slots = self.inputs.max_concurrent.value
        todo_epc, todo_relax = list(self.ctx.todo_epc), list(self.ctx.todo_relax)
        running, launched = {}, []
        while slots and (todo_epc or todo_relax):
            if todo_epc:
                key, stage = todo_epc.pop(0), 'epc'
                node = self._submit_epc(key)
            else:
                key, stage = todo_relax.pop(0), 'relax'
                node = self._submit_relax(key)
            if node is None:
                continue
            running[f'sub_{stage}_{key}'] = node
            launched.append((stage, key))
            slots -= 1
        self.ctx.todo_epc, self.ctx.todo_relax = todo_epc, todo_relax
        self.ctx.running = launched
        if launched:
            names = {'relax': 'DftEnthalpyWorkChain', 'epc': 'ElectronPhononWorkChain'}
            self.report(
                'launching '
                + ', '.join(
                    f'{names[stage]}<{running[f"sub_{stage}_{key}"].pk}> ({self.ctx.records[key]["formula"]}, {key})'
                    for stage, key in launched
                )
            )
        return ToContext(**running)

    def _submit_relax(self, key):
        from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

        record = self.ctx.records[key]
        structure = orm.load_node(uuid=record['uuid'])
        try:
            builder = DftEnthalpyWorkChain.get_builder_from_protocol(
                self.inputs.codes.pw,
                structure,
                pressure=self.inputs.pressure.value,
                protocol=self.inputs.relax.protocol.value,
                overrides=self._relax_overrides(),
                options=self.inputs.get('options', None),
                pseudo_family=self.ctx.family,
            )
        except ValueError as exception:
            self._set_failed(key, 'relax', f'the relaxation could not be prepared: {exception}')
            return None
        builder.clean_workdir = self.inputs.clean_workdir
        builder.metadata.call_link_label = f'relax_{key}'
        builder.metadata.label = f'{record["formula"]} relaxation at {self.inputs.pressure.value:g} GPa'
        return self.submit(builder)

    def _submit_epc(self, key):
        from aiida_hydrides.pseudos import get_pseudo_family
        from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain

        record = self.ctx.records[key]
        structure = orm.load_node(uuid=self.ctx.epc_input[key])
        codes = {short: self.inputs.codes[short] for short in CODES if short in self.inputs.codes}
        try:
            builder = ElectronPhononWorkChain.get_builder_from_protocol(
                codes,
                structure,
                protocol=self.inputs.epc.protocol.value,
                overrides=self._overrides('epc') or None,
                options=self.inputs.get('options', None),
                pseudo_family=get_pseudo_family(self.ctx.family),
                cutoffs=self.inputs.cutoffs.get_list() if 'cutoffs' in self.inputs else None,
            )
        except ValueError as exception:
            self._set_failed(key, 'epc', f'the EPC could not be prepared: {exception}')
            return None
        if self.inputs.clean_workdir.value:
            builder.clean_workdir = self.inputs.clean_workdir
        builder.metadata.call_link_label = f'epc_{key}'
        builder.metadata.label = f'{record["formula"]} EPC'
        return self.submit(builder)

    def inspect(self):
        """Record the sub-processes of the round: a relaxed structure goes to the EPC; an EPC is done, unstable or
        failed."""
        for stage, key in self.ctx.running:
            node = self.ctx[f'sub_{stage}_{key}']
            if stage == 'relax':
                self._inspect_relax(key, node)
            else:
                self._inspect_epc(key, node)
        self.ctx.running = []

    def _inspect_relax(self, key, node):
        record = self.ctx.records[key]
        record['relax_uuid'] = node.uuid
        record['relax_wall_s'] = _wall_s(node)
        if not node.is_finished_ok or 'relaxed_structure' not in node.outputs:
            self._set_failed(
                key,
                'relax',
                f'DftEnthalpyWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}',
                exit_status=node.exit_status,
            )
            return
        relaxed = node.outputs.relaxed_structure
        tag_node(relaxed, relax_settings_hash=self.ctx.relax_hash)
        record['relaxed_structure_uuid'] = relaxed.uuid
        record['enthalpy_dft_ev'] = get_tags(relaxed).get('enthalpy_dft_ev')
        record['relax_reused'] = False
        self.ctx.epc_input[key] = relaxed.uuid
        self.ctx.todo_epc.append(key)

    def _inspect_epc(self, key, node):
        record = self.ctx.records[key]
        record['epc_wall_s'] = _wall_s(node)  # before the tags below change the node's mtime
        record.update(self._epc_result(node))
        record.pop('reused_status', None)
        record['wall_s'] = round((record.get('relax_wall_s') or 0.0) + (record['epc_wall_s'] or 0.0), 1)
        self._tag_epc(key, node)
        self._tag_structure(key)
        self._report_record(key)

    @staticmethod
    def _epc_result(node) -> dict:
        """Status and results of an ended ``ElectronPhononWorkChain``: λ, ω_log, Tc when done, the imaginary modes
        when unstable, the exit status and message when failed."""
        from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain

        result = {'epc_uuid': node.uuid, 'epc_exit_status': node.exit_status}
        stability = node.outputs.phonon_stability.get_dict() if 'phonon_stability' in node.outputs else {}
        if stability:
            result['min_frequency_cm'] = stability.get('min_frequency_cm')
        if node.is_finished_ok and 'tc' in node.outputs:
            tc = node.outputs.tc.get_dict()
            result['status'] = 'done'
            result.update({name: tc.get(name) for name in TC_KEYS})
            result.update({name: value for name, value in tc.items() if name.startswith('tc_')})
            return result
        if node.exit_status == ElectronPhononWorkChain.exit_codes.ERROR_DYNAMICALLY_UNSTABLE.status:
            modes = stability.get('imaginary_modes', [])
            result.update(status='unstable', imaginary_modes=modes, n_imaginary_modes=len(modes))
            return result
        result.update(
            status='failed',
            stage='epc',
            exit_status=node.exit_status,
            error=f'ElectronPhononWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}',
        )
        return result

    def _reuse(self, key, previous):
        """Record the earlier EPC ``previous`` (``done`` or ``unstable``) for ``key``: status ``skipped``."""
        record = self.ctx.records[key]
        tags = get_tags(previous)
        result = self._epc_result(previous)
        record.update(result)
        record.update(
            status='skipped',
            reused_status=result['status'],
            reused_batch_uuid=tags.get('batch_uuid'),
            relaxed_structure_uuid=tags.get('structure_uuid'),
            relax_wall_s=tags.get('relax_wall_s'),
            epc_wall_s=tags.get('epc_wall_s'),
            enthalpy_dft_ev=tags.get('enthalpy_dft_ev'),
        )
        record['wall_s'] = round((record['relax_wall_s'] or 0.0) + (record['epc_wall_s'] or 0.0), 1)
        self._tag_structure(key)

    def _set_failed(self, key, stage, message, exit_status=None):
        record = self.ctx.records[key]
        record.update(status='failed', stage=stage, exit_status=exit_status, error=message)
        self.report(f'{record["formula"]} ({key}): failed at the {stage} stage: {message}')
        self._tag_structure(key)

    # ------------------------------------------------------------------------------------------------ tags
    def _tag_epc(self, key, node):
        """Tag the EPC work chain: what a later batch looks for to skip the structure, and its results."""
        record = self.ctx.records[key]
        values = {
            'kind': EPC_KIND,
            'method': 'dft',
            'formula': record['formula'],
            'source_uuid': record['uuid'],
            'structure_uuid': self.ctx.epc_input[key],
            'settings_hash': self.ctx.settings_hash,
            'status': record['status'],
            'protocol': self._protocol_tag(),
            'batch_uuid': self.node.uuid,
            'relax_wall_s': record.get('relax_wall_s'),
            'epc_wall_s': record.get('epc_wall_s'),
            'enthalpy_dft_ev': record.get('enthalpy_dft_ev'),
            'min_frequency_cm': record.get('min_frequency_cm'),
        }
        if self.inputs.run_relax.value:
            values['pressure_gpa'] = self.inputs.pressure.value
        if record['status'] == 'done':
            values.update({name: record.get(name) for name in TC_KEYS})
            values.update({name: value for name, value in record.items() if name.startswith('tc_')})
        elif record['status'] == 'unstable':
            values['n_imaginary_modes'] = record['n_imaginary_modes']
        else:
            values['exit_status'] = record.get('exit_status')
        tag_node(node, **values)

    def _protocol_tag(self) -> dict:
        return {
            'name': self.inputs.epc.protocol.value,
            'relax': self.inputs.relax.protocol.value if self.inputs.run_relax.value else None,
            'pseudo_family': self.ctx.family,
        }

    def _tag_structure(self, key):
        """The ``epc`` record of the input structure's ``hydrides`` extra (the latest batch that computed it)."""
        record = self.ctx.records[key]
        status = record['status']
        epc = {
            'status': status,
            'settings_hash': self.ctx.settings_hash,
            'protocol': self._protocol_tag(),
            'batch_uuid': self.node.uuid,
            'epc_uuid': record.get('epc_uuid'),
            'relaxed_structure_uuid': record.get('relaxed_structure_uuid'),
            'min_frequency_cm': record.get('min_frequency_cm'),
        }
        if self.inputs.run_relax.value:
            epc['pressure_gpa'] = self.inputs.pressure.value
        if status == 'skipped':
            epc['reused_status'] = record.get('reused_status')
        if record.get('lambda') is not None:
            epc.update({name: record.get(name) for name in ('lambda', 'omega_log_K', 'tc_allen_dynes_K_mu0_10')})
        if record.get('n_imaginary_modes') is not None:
            epc['n_imaginary_modes'] = record['n_imaginary_modes']
        if status == 'failed':
            epc.update(stage=record.get('stage'), exit_status=record.get('exit_status'), error=record.get('error'))
        tag_node(orm.load_node(uuid=record['uuid']), epc=epc)

    def _report_record(self, key):
        record = self.ctx.records[key]
        name = f'{record["formula"]} ({key})'
        if record['status'] == 'done':
            tc = record.get('tc_allen_dynes_K_mu0_10')
            self.report(
                f'{name}: done, lambda = {record["lambda"]:.3f}, omega_log = {record["omega_log_K"]:.1f} K, '
                f'Tc(Allen-Dynes, mu* 0.10) = ' + ('-' if tc is None else f'{tc:.2f} K')
            )
        elif record['status'] == 'unstable':
            lowest = record.get('min_frequency_cm')
            self.report(
                f'{name}: dynamically unstable, {record["n_imaginary_modes"]} imaginary mode(s), lowest '
                + ('-' if lowest is None else f'{lowest:.1f} cm^-1')
            )
        elif record['status'] == 'failed':
            self.report(f'{name}: failed at the {record["stage"]} stage: {record["error"]}')

    # ------------------------------------------------------------------------------------------------ results
    def results(self):
        """The summary (per structure and counts) as output; exit 0 unless no structure could be computed."""
        from aiida_hydrides.calculations.functions.epc_batch import collect_epc_batch

        records = [self.ctx.records[key] for key in self.ctx.order]
        counts = count_statuses(record['status'] for record in records)
        summary = {
            'group': self.inputs.group.value if 'group' in self.inputs else None,
            'pressure_gpa': self.inputs.pressure.value,
            'run_relax': self.inputs.run_relax.value,
            'max_concurrent': self.inputs.max_concurrent.value,
            'protocol': self._protocol_tag(),
            'settings': self.ctx.settings,
            'settings_hash': self.ctx.settings_hash,
            'counts': counts,
            'structures': records,
        }
        node = collect_epc_batch(orm.Dict(summary), metadata={'call_link_label': 'summary'})
        self.out('summary', node)
        self.report(', '.join(f'{count} {status}' for status, count in counts.items()))
        if not any(record['status'] in FINISHED_STATUSES for record in records):
            failures = '; '.join(f'{record["formula"]} ({record["key"]}): {record["error"]}' for record in records[:3])
            more = f' (and {len(records) - 3} more)' if len(records) > 3 else ''
            return self.exit_codes.ERROR_NOTHING_COMPUTED.format(message=failures + more)
        return None
