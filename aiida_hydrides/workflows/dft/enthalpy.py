"""DFT enthalpy of a crystal at a target pressure: pw.x vc-relax, then a final SCF on the relaxed cell.

Units at the interface: pressures in GPa (pw.x's ``press`` is in kbar, 1 GPa = 10 kbar), energies in eV, lengths
in Angstrom. The enthalpy per atom is ``H/N = (E + P_target * V) / N`` with ``E`` the total (free) energy and ``V``
the cell volume of the final SCF, and ``P_target`` the *target* pressure of the relaxation (not the residual pressure
of the SCF), so that enthalpies of different phases relaxed at the same target pressure are directly comparable.
"""

from __future__ import annotations

import copy
import math

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain
from aiida_quantumespresso.workflows.pw.base import PwBaseWorkChain
from aiida_quantumespresso.workflows.pw.relax import PwRelaxWorkChain

from aiida_hydrides.calculations.functions.enthalpy import compute_enthalpy
from aiida_hydrides.core.units import MAX_PRESSURE_GPA, gpa_to_kbar, parse_pressure
from aiida_hydrides.extras import get_tags, symmetry_tags, tag_node
from aiida_hydrides.workflows.common import CleanWorkdirMixin, validate_pressure
from aiida_hydrides.workflows.protocols import ProtocolMixin, qe_protocol, recursive_merge

__all__ = ('DftEnthalpyWorkChain', 'find_dft_relaxation', 'protocol_tag')


def protocol_tag(name: str | None, pseudo_family: str | None, overrides: dict | None = None) -> dict:
    """The ``protocol`` tag of a DFT-relaxed structure: protocol name, family and, where there were any, overrides."""
    tag = {'name': name, 'pseudo_family': pseudo_family}
    if overrides:
        tag['overrides'] = overrides
    return tag


def find_dft_relaxation(uuid: str, pressure: float, protocol: str, pseudo_family: str, overrides: dict | None = None):
    """The ``(relaxed StructureData, its hydrides tags)`` of a finished ``hydrides.dft.enthalpy`` run at ``pressure``
    (GPa) with these protocol, family and overrides on the structure ``uuid`` itself (e.g. ``aiida-hydrides
    dft-enthalpy PK``, a batch's relaxation) or on its symmetrized cell (the screen's DFT stage), or ``None``.

    The screen reuses it for its DFT hull; the EPC batch reuses it instead of relaxing the structure again."""
    from aiida_hydrides.extras import HYDRIDES_EXTRA

    wanted = protocol_tag(protocol, pseudo_family, overrides)
    kind = 'dft_relaxed'
    direct = orm.QueryBuilder().append(
        orm.StructureData,
        filters={f'extras.{HYDRIDES_EXTRA}.kind': kind, f'extras.{HYDRIDES_EXTRA}.source_uuid': uuid},
        project=['*', f'extras.{HYDRIDES_EXTRA}'],
        tag='relaxed',
    )
    direct.order_by({'relaxed': {'id': 'desc'}})
    symmetrized = orm.QueryBuilder()
    symmetrized.append(orm.StructureData, filters={'uuid': uuid}, tag='candidate')
    symmetrized.append(
        orm.CalcFunctionNode,
        with_incoming='candidate',
        filters={'attributes.process_label': 'symmetrize_structure'},
        tag='symmetrize',
    )
    symmetrized.append(orm.StructureData, with_incoming='symmetrize', tag='ideal')
    symmetrized.append(
        DftEnthalpyWorkChain, with_incoming='ideal', filters={'attributes.exit_status': 0}, tag='workchain'
    )
    symmetrized.append(
        orm.StructureData,
        with_incoming='workchain',
        edge_filters={'label': 'relaxed_structure'},
        project=['*', f'extras.{HYDRIDES_EXTRA}'],
        tag='relaxed',
    )
    symmetrized.order_by({'relaxed': {'id': 'desc'}})
    for query in (direct, symmetrized):
        for node, tags in query.iterall():
            tags = tags or {}
            if (
                tags.get('kind') == kind
                and tags.get('protocol') == wanted
                and abs(float(tags.get('pressure_gpa', -1)) - float(pressure)) < 1e-6
                and tags.get('enthalpy_dft_ev') is not None
            ):
                return node, tags
    return None


def validate_pressure_tolerance(value, _):
    """Validate the ``pressure_tolerance`` input (GPa)."""
    if value is not None and not (math.isfinite(value.value) and value.value > 0):
        return f'the pressure tolerance must be a positive number of GPa; got {value.value}'


class DftEnthalpyWorkChain(CleanWorkdirMixin, ProtocolMixin, WorkChain):
    """Relax a structure at a target pressure with pw.x (vc-relax) and compute its enthalpy per atom from a final SCF.

    The ``pressure`` input (GPa) is authoritative: the work chain writes ``press = 10 * pressure`` (kbar),
    ``calculation = 'vc-relax'`` and, unless given, ``cell_dofree = 'all'`` into the relax parameters. The relaxed
    structure is tagged with the ``hydrides`` extra of :mod:`aiida_hydrides.extras` (``kind = 'dft_relaxed'``,
    ``method = 'dft'``, ``pressure_gpa``, ``enthalpy_dft_ev``, ``protocol``, space group, ``source_uuid`` of the input
    structure), so that ``QueryBuilder`` filters such as ``{'extras.hydrides.enthalpy_dft_ev': {'<': -3.0}}`` find
    it and never mix it with LAM enthalpies.
    """

    _protocol_name = 'dft/enthalpy'
    _protocol_free_keys = ('relax', 'scf')

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The structure to relax.')
        spec.input(
            'pressure',
            valid_type=orm.Float,
            validator=validate_pressure,
            help=f'Target pressure in GPa (0 to {MAX_PRESSURE_GPA:g}); pw.x gets press = 10 x pressure kbar.',
        )
        spec.input(
            'pressure_tolerance',
            valid_type=orm.Float,
            default=lambda: orm.Float(5.0),
            validator=validate_pressure_tolerance,
            help='Largest accepted |final SCF pressure - target pressure| in GPa; beyond it the work chain exits 403.',
        )
        spec.input(
            'pseudo_family',
            valid_type=orm.Str,
            required=False,
            help='Label of the pseudopotential family the pseudos come from: checked to cover every element before '
            'anything runs, and recorded in `output_parameters`.',
        )
        spec.input(
            'protocol',
            valid_type=orm.Str,
            required=False,
            help='Name of the protocol the inputs were built with, recorded in `output_parameters`.',
        )
        spec.input(
            'protocol_overrides',
            valid_type=orm.Dict,
            required=False,
            help='The overrides the inputs were built with (`get_builder_from_protocol`), recorded with the protocol '
            'on the relaxed structure, so that a relaxation is reused only where its settings are the same.',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='If `True`, clean the work directories of all calculations once the work chain terminates.',
        )
        spec.expose_inputs(
            PwRelaxWorkChain,
            namespace='relax',
            exclude=('structure', 'clean_workdir'),
            namespace_options={'help': 'Inputs of the `PwRelaxWorkChain` (vc-relax at the target pressure).'},
        )
        spec.expose_inputs(
            PwBaseWorkChain,
            namespace='scf',
            exclude=('clean_workdir', 'pw.structure', 'pw.parent_folder'),
            namespace_options={'help': 'Inputs of the final SCF `PwBaseWorkChain` on the relaxed structure.'},
        )
        spec.outline(
            cls.setup,
            cls.run_relax,
            cls.inspect_relax,
            cls.run_scf,
            cls.inspect_scf,
            cls.results,
        )
        spec.output(
            'relaxed_structure', valid_type=orm.StructureData, help='The structure relaxed at the target pressure.'
        )
        spec.output('enthalpy_per_atom', valid_type=orm.Float, help='Enthalpy H = E + P_target V per atom, eV/atom.')
        spec.output('pressure', valid_type=orm.Float, help='Pressure of the final SCF (trace of the stress / 3), GPa.')
        spec.output('stress', valid_type=orm.ArrayData, help='Stress tensor of the final SCF (array `stress`), GPa.')
        spec.output('output_parameters', valid_type=orm.Dict, help='Summary: enthalpy, energy, volume, pressures.')
        spec.exit_code(
            401, 'ERROR_SUB_PROCESS_FAILED_RELAX', message='the vc-relax `PwRelaxWorkChain` failed or did not converge'
        )
        spec.exit_code(402, 'ERROR_SUB_PROCESS_FAILED_SCF', message='the final SCF `PwBaseWorkChain` failed')
        spec.exit_code(
            403,
            'ERROR_PRESSURE_OFF_TARGET',
            message='the final SCF pressure {final:.2f} GPa is off the target {target:.2f} GPa by more than '
            '{tolerance:.2f} GPa',
        )
        spec.exit_code(
            201,
            'ERROR_PSEUDO_FAMILY_INCOMPLETE',
            message='no pseudopotential for {elements} in the pseudopotential family `{family}`',
        )
        spec.exit_code(
            301, 'ERROR_SCF_OUTPUT_INCOMPLETE', message='the final SCF lacks the total energy or the stress tensor'
        )

    @classmethod
    def get_builder_from_protocol(
        cls,
        code,
        structure,
        pressure=200.0,
        protocol=None,
        overrides=None,
        options=None,
        pseudo_family=None,
        **kwargs,
    ):
        """Return a builder prepopulated with the inputs of ``protocol``.

        :param code: the ``quantumespresso.pw`` code (a code instance or its label, e.g. ``'pw@localhost'``).
        :param structure: the ``StructureData`` to relax.
        :param pressure: target pressure in GPa (a number, or a string such as ``'200GPa'`` or ``'2000kbar'``).
        :param protocol: ``fast``, ``moderate`` (default) or ``precise``.
        :param overrides: dictionary overriding the protocol; top-level meta keys (``kpoints_distance``, ``degauss``,
            ``press_conv_thr``, ...) and the ``relax``/``scf`` namespaces, passed on as the overrides of the nested
            aiida-quantumespresso builders.
        :param options: ``metadata.options`` for every pw.x calculation (``resources``, ``max_wallclock_seconds``);
            with more than one MPI process per machine, k-point pools (``-npool``) are set to that number.
        :param pseudo_family: label of the pseudopotential family (default: the offline pslibrary family).
        :param kwargs: passed on to the nested ``get_builder_from_protocol`` (e.g. ``electronic_type``).
        :raises ValueError: for a bad pressure, an unknown protocol, a missing family or an element it does not cover.
        """
        from aiida_hydrides.pseudos import DEFAULT_FAMILY_LABEL, check_family_covers, get_pseudo_family

        if isinstance(code, str):
            code = orm.load_code(code)
        pressure = parse_pressure(pressure)
        protocol = protocol or cls.get_default_protocol()
        inputs = cls.get_protocol_inputs(protocol, overrides)

        family = get_pseudo_family(pseudo_family or DEFAULT_FAMILY_LABEL)
        check_family_covers(family, structure)
        stringency, scaling = inputs['cutoff_stringency'], inputs['cutoff_scaling']
        ecutwfc, ecutrho = cls._get_cutoffs(family, structure, stringency, scaling)

        parameters = {
            'CONTROL': {'forc_conv_thr': inputs['forc_conv_thr'], 'tstress': True, 'tprnfor': True},
            'SYSTEM': {
                'ecutwfc': ecutwfc,
                'ecutrho': ecutrho,
                'occupations': 'smearing',
                'smearing': inputs['smearing'],
                'degauss': inputs['degauss'],
            },
            'ELECTRONS': {'mixing_beta': inputs['mixing_beta'], 'electron_maxstep': inputs['electron_maxstep']},
        }
        base = {
            'pseudo_family': family.label,
            'kpoints_distance': inputs['kpoints_distance'],
            'meta_parameters': {
                'conv_thr_per_atom': inputs['conv_thr_per_atom'],
                'etot_conv_thr_per_atom': inputs['etot_conv_thr_per_atom'],
            },
            'pw': {'parameters': parameters},
        }
        npool = cls._get_number_of_pools(code, options)
        if npool > 1:
            base['pw']['parallelization'] = {'npool': npool}

        cell = dict(inputs['bfgs']['CELL'], press=gpa_to_kbar(pressure), press_conv_thr=inputs['press_conv_thr'])
        relax_parameters = {'CONTROL': {'calculation': 'vc-relax'}, 'IONS': inputs['bfgs']['IONS'], 'CELL': cell}
        base_relax = recursive_merge(copy.deepcopy(base), {'pw': {'parameters': copy.deepcopy(relax_parameters)}})
        # The initial relax keeps aiida-quantumespresso's coarse k-points and loose thresholds.
        base_init_relax = copy.deepcopy({key: base[key] for key in ('pseudo_family', 'pw')})
        init_parameters = recursive_merge(copy.deepcopy(parameters), copy.deepcopy(relax_parameters))
        base_init_relax['pw']['parameters'] = init_parameters
        base_init_relax['pw']['parameters']['CELL']['press_conv_thr'] = max(2.0, inputs['press_conv_thr'])
        relax_overrides = recursive_merge(
            {
                'max_meta_convergence_iterations': inputs['max_meta_convergence_iterations'],
                'base_relax': base_relax,
                'base_init_relax': base_init_relax,
            },
            inputs.get('relax', {}),
        )
        scf_overrides = recursive_merge(
            recursive_merge(copy.deepcopy(base), {'pw': {'parameters': {'CONTROL': {'calculation': 'scf'}}}}),
            inputs.get('scf', {}),
        )

        qe_name = qe_protocol(protocol)
        relax = PwRelaxWorkChain.get_builder_from_protocol(
            code, structure, protocol=qe_name, overrides=relax_overrides, options=options, **kwargs
        )
        relax.pop('structure', None)
        relax.pop('clean_workdir', None)
        if not inputs['init_relax']:
            relax.pop('base_init_relax', None)

        scf = PwBaseWorkChain.get_builder_from_protocol(
            code, structure, protocol=qe_name, overrides=scf_overrides, options=options, **kwargs
        )
        scf['pw'].pop('structure', None)
        scf.pop('clean_workdir', None)

        builder = cls.get_builder()
        builder.structure = structure
        builder.pressure = orm.Float(pressure)
        builder.pressure_tolerance = orm.Float(inputs['pressure_tolerance'])
        builder.pseudo_family = orm.Str(family.label)
        builder.protocol = orm.Str(protocol)
        if overrides:
            builder.protocol_overrides = orm.Dict(overrides)
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        builder.relax = relax
        builder.scf = scf
        return builder

    @staticmethod
    def _get_cutoffs(family, structure, stringency, scaling):
        """Return the recommended (ecutwfc, ecutrho) in Ry: max over the elements, times ``scaling``."""
        if stringency not in family.get_cutoff_stringencies():
            stringency = family.get_default_stringency()
        ecutwfc, ecutrho = family.get_recommended_cutoffs(structure=structure, stringency=stringency, unit='Ry')
        return round(ecutwfc * scaling, 1), round(ecutrho * scaling, 1)

    @staticmethod
    def _get_number_of_pools(code, options) -> int:
        """Return the number of k-point pools.

        One pool per MPI process of ``options`` if given; otherwise the code's default pools (``aiida-hydrides setup
        --pools``) when they divide the computer's default MPI processes, else one pool per such process.
        """
        resources = (options or {}).get('resources', {})
        nprocs = resources.get('num_mpiprocs_per_machine') or resources.get('tot_num_mpiprocs')
        if nprocs is not None:
            return max(1, int(nprocs))
        nprocs = max(1, int(code.computer.get_default_mpiprocs_per_machine() or 1))
        try:
            from aiida_hydrides.codes import default_pools
        except ImportError:
            return nprocs
        pools = default_pools(code)
        return pools if nprocs % pools == 0 else nprocs

    def setup(self):
        """Check that the pseudopotentials cover every element before launching anything."""
        from aiida_hydrides.pseudos import MissingElementsError, check_family_covers, get_pseudo_family

        structure = self.inputs.structure
        if 'pseudo_family' in self.inputs:
            label = self.inputs.pseudo_family.value
            try:
                check_family_covers(get_pseudo_family(label), structure)
            except MissingElementsError as exception:
                self.report(str(exception))
                return self.exit_codes.ERROR_PSEUDO_FAMILY_INCOMPLETE.format(
                    elements=', '.join(exception.missing), family=label
                )
            except ValueError as exception:
                self.report(str(exception))
                return self.exit_codes.ERROR_PSEUDO_FAMILY_INCOMPLETE.format(
                    elements=', '.join(sorted(structure.get_symbols_set())), family=label
                )

        for namespace in ('base_relax', 'base_init_relax'):
            if namespace not in self.inputs.relax:
                continue
            pseudos = self.inputs.relax[namespace]['pw'].get('pseudos', {})
            missing = sorted({kind.symbol for kind in structure.kinds if kind.name not in pseudos})
            if missing:
                return self.exit_codes.ERROR_PSEUDO_FAMILY_INCOMPLETE.format(
                    elements=', '.join(missing), family=f'relax.{namespace}.pw.pseudos'
                )
        self.ctx.target_pressure = self.inputs.pressure.value

    def run_relax(self):
        """Run the `PwRelaxWorkChain` (vc-relax) at the target pressure."""
        inputs = AttributeDict(self.exposed_inputs(PwRelaxWorkChain, namespace='relax'))
        inputs.structure = self.inputs.structure
        press = gpa_to_kbar(self.ctx.target_pressure)
        for namespace in ('base_relax', 'base_init_relax'):
            if namespace not in inputs:
                continue
            parameters = inputs[namespace]['pw']['parameters'].get_dict()
            control = parameters.setdefault('CONTROL', {})
            cell = parameters.setdefault('CELL', {})
            if control.get('calculation') == 'vc-relax' and cell.get('press') == press:
                continue
            if cell.get('press') not in (None, press):
                self.report(f'overriding `{namespace}` CELL.press = {cell["press"]} kbar with {press} kbar')
            control['calculation'] = 'vc-relax'
            cell['press'] = press
            cell.setdefault('cell_dofree', 'all')
            inputs[namespace]['pw']['parameters'] = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'relax'
        running = self.submit(PwRelaxWorkChain, **inputs)
        self.report(f'launching PwRelaxWorkChain<{running.pk}> at {self.ctx.target_pressure} GPa ({press} kbar)')
        return ToContext(workchain_relax=running)

    def inspect_relax(self):
        """Check the relaxation and attach the relaxed structure.

        A ``PwRelaxWorkChain`` that stops at its maximum of meta-convergence iterations (exit 400) because each
        vc-relax changed the cell enough to change the k-point mesh still ends with a converged vc-relax: its structure
        is taken, and the final SCF (with the mesh of that cell) and its pressure check decide whether it is relaxed.
        """
        workchain = self.ctx.workchain_relax
        if workchain.is_finished_ok and 'output_structure' in workchain.outputs:
            self.ctx.relaxed_structure = workchain.outputs.output_structure
        else:
            last = self._last_converged_relax(workchain)
            if last is None:
                self.report(f'PwRelaxWorkChain<{workchain.pk}> failed with exit status {workchain.exit_status}')
                return self.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX
            self.report(
                f'PwRelaxWorkChain<{workchain.pk}> reached its maximum of meta-convergence iterations; taking the '
                f'structure of its last converged vc-relax PwBaseWorkChain<{last.pk}> (the final SCF checks it)'
            )
            self.ctx.relaxed_structure = last.outputs.output_structure
        self.out('relaxed_structure', self.ctx.relaxed_structure)

    @staticmethod
    def _last_converged_relax(workchain):
        """The last vc-relax ``PwBaseWorkChain`` of ``workchain`` when it stopped at its maximum of meta-convergence
        iterations and that vc-relax finished well with a structure; ``None`` otherwise."""
        if workchain.exit_status != PwRelaxWorkChain.exit_codes.ERROR_MAX_ITERATIONS_EXCEEDED.status:
            return None
        children = [child for child in workchain.called if child.process_class is PwBaseWorkChain]
        if not children:
            return None
        last = max(children, key=lambda child: child.ctime)
        if last.is_finished_ok and 'output_structure' in last.outputs:
            return last
        return None

    def run_scf(self):
        """Run the final SCF on the relaxed structure, with the stress tensor."""
        inputs = AttributeDict(self.exposed_inputs(PwBaseWorkChain, namespace='scf'))
        inputs.pw.structure = self.ctx.relaxed_structure
        parameters = inputs.pw.parameters.get_dict()
        control = parameters.setdefault('CONTROL', {})
        if control.get('calculation', 'scf') != 'scf' or not control.get('tstress', False):
            control.update(calculation='scf', tstress=True)
            inputs.pw.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'scf'
        running = self.submit(PwBaseWorkChain, **inputs)
        self.report(f'launching PwBaseWorkChain<{running.pk}> for the final SCF')
        return ToContext(workchain_scf=running)

    def inspect_scf(self):
        """Check the final SCF."""
        workchain = self.ctx.workchain_scf
        if not workchain.is_finished_ok:
            self.report(f'final SCF PwBaseWorkChain<{workchain.pk}> failed with exit status {workchain.exit_status}')
            return self.exit_codes.ERROR_SUB_PROCESS_FAILED_SCF
        outputs = workchain.outputs
        if (
            'output_trajectory' not in outputs
            or 'stress' not in outputs.output_trajectory.get_arraynames()
            or 'energy' not in outputs.output_parameters.get_dict()
        ):
            return self.exit_codes.ERROR_SCF_OUTPUT_INCOMPLETE

    def results(self):
        """Compute the enthalpy, attach the outputs, tag the relaxed structure and check the final pressure."""
        scf = self.ctx.workchain_scf
        metadata_inputs = {key: self.inputs[key] for key in ('protocol', 'pseudo_family') if key in self.inputs}
        results = compute_enthalpy(
            parameters=scf.outputs.output_parameters,
            trajectory=scf.outputs.output_trajectory,
            structure=self.ctx.relaxed_structure,
            pressure=self.inputs.pressure,
            **metadata_inputs,
        )
        self.out_many(results)

        summary = results['output_parameters'].get_dict()
        self._tag_relaxed_structure(summary)
        self.report(
            f'{summary["formula"]}: H = {summary["enthalpy_per_atom_eV"]:.6f} eV/atom at '
            f'{summary["target_pressure_GPa"]} GPa, final pressure {summary["final_pressure_GPa"]:.2f} GPa'
        )

        tolerance = self.inputs.pressure_tolerance.value
        if abs(summary['final_pressure_GPa'] - summary['target_pressure_GPa']) > tolerance:
            return self.exit_codes.ERROR_PRESSURE_OFF_TARGET.format(
                final=summary['final_pressure_GPa'], target=summary['target_pressure_GPa'], tolerance=tolerance
            )

    def _tag_relaxed_structure(self, summary):
        """Tag the relaxed structure with the ``hydrides`` extra (``method = 'dft'``)."""
        from aiida_hydrides.core.compositions import parse_formula
        from aiida_hydrides.core.descriptors import formula

        structure = self.ctx.relaxed_structure
        source = get_tags(self.inputs.structure)
        reduced = source.get('formula') or parse_formula(formula(structure.get_ase())).reduced().formula
        tags = {
            'kind': 'dft_relaxed',
            'method': 'dft',
            'formula': reduced,
            'pressure_gpa': summary['target_pressure_GPa'],
            'enthalpy_dft_ev': summary['enthalpy_per_atom_eV'],
            'protocol': protocol_tag(
                summary.get('protocol'),
                summary.get('pseudo_family'),
                self.inputs.protocol_overrides.get_dict() if 'protocol_overrides' in self.inputs else None,
            ),
            'source_uuid': self.inputs.structure.uuid,
            'workchain_uuid': self.node.uuid,
            **symmetry_tags(structure),
        }
        if source.get('system'):
            tags['system'] = source['system']
        tag_node(structure, replace=True, **tags)
