"""``hydrides.epc``: electron-phonon coupling and Tc with Quantum ESPRESSO (interpolated el-ph, PHonon example03).

Outline: dense-k scf with ``la2f`` (→ optional projwfc.x: N(E_F) per element) → coarse-k scf on top of it → ph.x with ``electron_phonon='interpolated'`` on a q
grid → dynamical-stability gate on the ph.x frequencies → q2r.x → matdyn.x (α²F, λ per σ) → ``compute_tc``.

The work chain enforces the conditions the recipe needs and that QE only reports deep inside a failed run: unshifted k
and q grids, a dense k grid that is an integer multiple of the coarse k grid and of the q grid, the same ``nbnd`` in both
scf runs, ``fildvscf`` for ph.x (through the ``PREPARE_FOR_EPW`` setting) and ``el_ph_nsigma = 10`` in ph.x, q2r.x and
matdyn.x.
"""

from __future__ import annotations

import copy
import math

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import ToContext, WorkChain, if_
from aiida.plugins import CalculationFactory, WorkflowFactory

from aiida_hydrides.calculations.functions.phonon_stability import analyse_phonon_stability
from aiida_hydrides.calculations.functions.projected_dos import projected_dos_at_fermi_level
from aiida_hydrides.calculations.functions.tc import EXIT_NO_ELIGIBLE_SIGMA, EXIT_NO_STATES_AT_FERMI_LEVEL, compute_tc
from aiida_hydrides.core.epc_report import check_tc_parameters
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.workflows.common import CleanWorkdirMixin
from aiida_hydrides.workflows.protocols import ProtocolMixin, recursive_merge

PwBaseWorkChain = WorkflowFactory('quantumespresso.pw.base')
PhBaseWorkChain = WorkflowFactory('quantumespresso.ph.base')
Q2rBaseWorkChain = WorkflowFactory('quantumespresso.q2r.base')
MatdynBaseWorkChain = WorkflowFactory('quantumespresso.matdyn.base')
ProjwfcCalculation = CalculationFactory('quantumespresso.projwfc')

__all__ = ('ElectronPhononWorkChain', 'EL_PH_NSIGMA', 'GridError', 'check_grids', 'commensurate_grids')

#: number of double-delta smearings; aiida-qe retrieves a2F.dos1..10 only, lambda.x 6.7 overflows above 20.
EL_PH_NSIGMA = 10


#: The settings of QE's PHonon example03 (fcc Al): overrides of the ``fast`` protocol and the cutoffs (Ry), the
#: cheapest real el-ph calculation, used by the demo and the example (``examples/run_epc.py``).
AL_EXAMPLE03_OVERRIDES = {
    'meta_parameters': {
        'kpoints_mesh': [8, 8, 8],
        'kpoints_dense_mesh': [16, 16, 16],
        'qpoints_mesh': [4, 4, 4],
        'matdyn_kpoints_mesh': [16, 16, 16],
    },
    'scf': {'pw': {'parameters': {'SYSTEM': {'degauss': 0.05}}}},
}
AL_EXAMPLE03_CUTOFFS = (30.0, 240.0)


class GridError(ValueError):
    """Incompatible k/q grids for the interpolated el-ph recipe."""


def _mesh_and_offset(kpoints: orm.KpointsData, name: str) -> tuple[list[int], list[float]]:
    try:
        mesh, offset = kpoints.get_kpoints_mesh()
    except AttributeError:
        raise GridError(
            f'`{name}` must be a k-point mesh (KpointsData.set_kpoints_mesh), not an explicit list'
        ) from None
    return [int(n) for n in mesh], [float(o) for o in offset]


def check_grids(dense: list[int], coarse: list[int], qgrid: list[int], offsets: dict[str, list[float]] | None = None):
    """Raise :class:`GridError` unless the grids are unshifted and ``dense`` is a multiple of ``coarse`` and ``qgrid``."""
    for name, offset in (offsets or {}).items():
        if any(abs(o) > 1e-10 for o in offset):
            raise GridError(
                f'the {name} grid must be unshifted (offset 0 0 0), got offset {offset}: the el-ph '
                f'interpolation needs every k+q on the dense grid'
            )
    for name, grid in (('dense k', dense), ('coarse k', coarse), ('q', qgrid)):
        if len(grid) != 3 or any(int(n) < 1 for n in grid):
            raise GridError(f'the {name} grid must be three positive integers, got {grid}')
    for name, grid in (('coarse k', coarse), ('q', qgrid)):
        if any(d % g for d, g in zip(dense, grid)):
            raise GridError(
                f'incommensurate grids: the dense k grid {"x".join(map(str, dense))} is not an integer multiple of the '
                f'{name} grid {"x".join(map(str, grid))}; ph.x would stop with "elphsum: q is not a vector in the '
                f'dense grid". Use e.g. a dense grid of {"x".join(str(math.lcm(c, q)) for c, q in zip(coarse, qgrid))} '
                f'or a multiple of it'
            )


def _reciprocal_lengths(cell) -> list[float]:
    """|b_i| in 1/Å (2π included) of the lattice ``cell`` (rows = lattice vectors in Å)."""
    import numpy as np

    reciprocal = 2.0 * np.pi * np.linalg.inv(np.asarray(cell, dtype=float)).T
    return [float(np.linalg.norm(b)) for b in reciprocal]


def _symmetric_lengths(cell) -> list[float]:
    """|b_i| of :func:`_reciprocal_lengths`, each raised to the largest of the axes that a rotation of the lattice
    maps onto it, so that grids made from them are invariant under the lattice's point group. ph.x stops with "q-mesh
    breaks symmetry" otherwise: the primitive vectors of a body-centred tetragonal cell (I4/mmm MH4) have equal
    lengths, their reciprocal vectors do not, yet a symmetry maps each onto the others."""
    import numpy as np
    import spglib

    lengths = _reciprocal_lengths(cell)
    symmetry = spglib.get_symmetry((np.asarray(cell, dtype=float), [[0.0, 0.0, 0.0]], [1]), symprec=1e-4)
    group = list(range(3))

    def root(index):
        while group[index] != index:
            index = group[index]
        return index

    for rotation in (symmetry or {}).get('rotations', []):
        reciprocal = np.rint(np.linalg.inv(rotation).T).astype(int)  # the rotation on fractional q coordinates
        for i in range(3):
            for j in range(3):
                if i != j and reciprocal[i, j] != 0:
                    group[root(i)] = root(j)
    largest = {}
    for index, length in enumerate(lengths):
        largest[root(index)] = max(largest.get(root(index), 0.0), length)
    return [largest[root(index)] for index in range(3)]


def _ceil(value: float) -> int:
    return max(1, math.ceil(round(value, 8)))


def commensurate_grids(
    cell, qpoints_distance: float, kpoints_distance: float, kpoints_dense_distance: float, dense_min_factor: int = 2
) -> dict[str, list[int]]:
    """Unshifted q, coarse k and dense k grids from k-point spacings (1/Å), made commensurate.

    q_i = ⌈|b_i|/dq⌉; coarse_i = the smallest multiple of q_i ≥ ⌈|b_i|/dk⌉; dense_i = the smallest multiple of
    coarse_i that is ≥ ⌈|b_i|/d_dense⌉ and ≥ ``dense_min_factor``·coarse_i. The dense grid is then a multiple of both.
    Axes that a rotation of the lattice maps onto each other get the same subdivisions (:func:`_symmetric_lengths`).
    """
    grids = {'qpoints': [], 'kpoints': [], 'kpoints_dense': []}
    for length in _symmetric_lengths(cell):
        q = _ceil(length / qpoints_distance)
        coarse = q * _ceil(_ceil(length / kpoints_distance) / q)
        dense = coarse * max(int(dense_min_factor), _ceil(_ceil(length / kpoints_dense_distance) / coarse))
        grids['qpoints'].append(q)
        grids['kpoints'].append(coarse)
        grids['kpoints_dense'].append(dense)
    return grids


def validate_inputs(value, _):
    """Validate the top-level inputs: explicit, unshifted, commensurate grids and the el-ph settings."""
    try:
        dense, dense_offset = _mesh_and_offset(value['scf_dense']['kpoints'], 'scf_dense.kpoints')
        coarse, coarse_offset = _mesh_and_offset(value['scf']['kpoints'], 'scf.kpoints')
        qgrid, q_offset = _mesh_and_offset(value['ph']['qpoints'], 'ph.qpoints')
    except KeyError as exception:
        return (
            f'the input {exception} is required: give explicit meshes for `scf_dense.kpoints`, `scf.kpoints` and '
            f'`ph.qpoints` (get_builder_from_protocol computes commensurate ones)'
        )
    except GridError as exception:
        return str(exception)
    try:
        check_grids(dense, coarse, qgrid, {'dense k': dense_offset, 'coarse k': coarse_offset, 'q': q_offset})
    except GridError as exception:
        return str(exception)

    systems = [value[ns]['pw']['parameters'].get_dict().get('SYSTEM', {}) for ns in ('scf_dense', 'scf')]
    if any(system.get('ibrav', 0) != 0 for system in systems):
        return (
            '`ibrav` must be 0: aiida-quantumespresso parses the q2r.x force constants of ibrav=0 runs only; give '
            'the cell vectors in the structure instead'
        )
    nbnd = [system.get('nbnd') for system in systems]
    if None not in nbnd and nbnd[0] != nbnd[1]:
        return f'`nbnd` differs between the dense ({nbnd[0]}) and coarse ({nbnd[1]}) scf; ph.x needs the same value'

    inputph = value['ph']['ph']['parameters'].get_dict().get('INPUTPH', {})
    if inputph.get('el_ph_nsigma', EL_PH_NSIGMA) != EL_PH_NSIGMA:
        return f'`el_ph_nsigma` is fixed to {EL_PH_NSIGMA} (q2r.x, matdyn.x and the retrieved a2F.dos1..10 use it)'
    if inputph.get('electron_phonon', 'interpolated') != 'interpolated':
        return "`electron_phonon` must be 'interpolated' (it is set by the work chain)"
    if 'fildvscf' in inputph:
        return '`fildvscf` is set by the work chain through the PREPARE_FOR_EPW setting; do not set it in INPUTPH'
    if not inputph.get('el_ph_sigma', 0.005) > 0:
        return f'`el_ph_sigma` must be > 0 Ry, got {inputph.get("el_ph_sigma")}'
    for namespace, calc in (('q2r', 'q2r'), ('matdyn', 'matdyn')):
        parameters = value[namespace][calc].get('parameters')
        nsigma = parameters.get_dict().get('INPUT', {}).get('el_ph_nsigma') if parameters else None
        if nsigma not in (None, EL_PH_NSIGMA):
            return f'`{namespace}` el_ph_nsigma must be {EL_PH_NSIGMA}, got {nsigma}'
    if 'imaginary_threshold_cm' in value and value['imaginary_threshold_cm'].value < 0:
        return '`imaginary_threshold_cm` must be >= 0'
    if 'tc_parameters' in value:
        try:
            check_tc_parameters(value['tc_parameters'].get_dict())
        except HydridesInputError as exception:
            return f'`tc_parameters`: {exception}'
    return None


class ElectronPhononWorkChain(CleanWorkdirMixin, ProtocolMixin, WorkChain):
    """Electron-phonon coupling λ, α²F and Tc of a metal with Quantum ESPRESSO (dense/coarse scf, ph, q2r, matdyn)."""

    _protocol_name = 'epc/base'
    _protocol_extra_keys = tuple(
        f'meta_parameters.{key}'
        for key in ('kpoints_mesh', 'kpoints_dense_mesh', 'qpoints_mesh', 'matdyn_kpoints_mesh')
    ) + ('scf_dense',)

    @classmethod
    def define(cls, spec):
        """Define the process specification."""
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, help='The crystal structure (already relaxed).')
        spec.expose_inputs(
            PwBaseWorkChain,
            namespace='scf_dense',
            exclude=('clean_workdir', 'pw.structure', 'pw.parent_folder'),
            namespace_options={'help': 'The dense-k scf; `la2f` is set by the work chain.'},
        )
        spec.expose_inputs(
            PwBaseWorkChain,
            namespace='scf',
            exclude=('clean_workdir', 'pw.structure', 'pw.parent_folder'),
            namespace_options={'help': 'The coarse-k scf (restarts from the dense-k scf folder).'},
        )
        spec.expose_inputs(
            PhBaseWorkChain,
            namespace='ph',
            exclude=('clean_workdir', 'ph.parent_folder', 'only_initialization'),
            namespace_options={'help': 'ph.x on the q grid; el-ph keys are set by the work chain.'},
        )
        spec.expose_inputs(
            Q2rBaseWorkChain,
            namespace='q2r',
            exclude=('clean_workdir', 'q2r.parent_folder'),
            namespace_options={'help': 'q2r.x; `la2f` is set by the work chain.'},
        )
        spec.expose_inputs(
            MatdynBaseWorkChain,
            namespace='matdyn',
            exclude=('clean_workdir', 'matdyn.force_constants', 'matdyn.parent_folder'),
            namespace_options={'help': 'matdyn.x; `kpoints` is the α²F interpolation mesh.'},
        )
        spec.expose_inputs(
            ProjwfcCalculation,
            namespace='projwfc',
            exclude=('parent_folder',),
            namespace_options={
                'required': False,
                'populate_defaults': False,
                'help': 'Optional projwfc.x on the dense-k scf: N(E_F) total and '
                'projected on each element (the hydrogen share).',
            },
        )
        spec.input(
            'tc_parameters',
            valid_type=orm.Dict,
            required=False,
            help='Options of `compute_tc`: mustars, eliashberg, plateau_tolerance, agreement_tolerance, '
            'clipping_tolerance.',
        )
        spec.input(
            'imaginary_threshold_cm',
            valid_type=orm.Float,
            default=lambda: orm.Float(20.0),
            help='A mode with ω below minus this value (cm^-1) away from Γ makes the structure unstable.',
        )
        spec.input(
            'gamma_radius',
            valid_type=orm.Float,
            default=lambda: orm.Float(0.05),
            help='q-points with |q| below this (2π/alat) are exempt from the stability test.',
        )
        spec.input(
            'clean_workdir',
            valid_type=orm.Bool,
            default=lambda: orm.Bool(False),
            help='Clean the remote folders of all calculations once the work chain terminates.',
        )
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            cls.run_scf_dense,
            cls.inspect_scf_dense,
            if_(cls.should_run_projwfc)(
                cls.run_projwfc,
                cls.inspect_projwfc,
            ),
            cls.run_scf,
            cls.inspect_scf,
            cls.run_ph,
            cls.inspect_ph,
            cls.check_stability,
            cls.run_q2r,
            cls.inspect_q2r,
            cls.run_matdyn,
            cls.inspect_matdyn,
            cls.run_tc,
            cls.results,
        )

        spec.output('tc', valid_type=orm.Dict, help='λ, ω_log, ω̄2, N(E_F) and Tc per formula and μ*, per σ.')
        spec.output('a2f', valid_type=orm.XyData, help='α²F(ω) (ω in meV) and cumulative λ at the chosen σ.')
        spec.output('phonon_stability', valid_type=orm.Dict, help='Lowest ph.x frequency per q and imaginary modes.')
        spec.output('force_constants', required=False, help='Real-space force constants from q2r.x.')
        spec.output('phonon_dos', valid_type=orm.XyData, required=False, help='Phonon DOS from matdyn.x.')
        spec.output('scf_parameters', valid_type=orm.Dict, required=False, help='Output of the coarse-k scf.')
        spec.output(
            'projected_dos',
            valid_type=orm.Dict,
            required=False,
            help='N(E_F) total, per atom and per element with the hydrogen share (projwfc.x, optional).',
        )

        spec.exit_code(
            401,
            'ERROR_SUB_PROCESS_FAILED_SCF_DENSE',
            message='The dense-k scf PwBaseWorkChain<{pk}> failed with exit status {status}: {message}',
        )
        spec.exit_code(
            402,
            'ERROR_SUB_PROCESS_FAILED_SCF',
            message='The coarse-k scf PwBaseWorkChain<{pk}> failed with exit status {status}: {message}',
        )
        spec.exit_code(
            403,
            'ERROR_SUB_PROCESS_FAILED_PH',
            message='The ph.x PhBaseWorkChain<{pk}> failed with exit status {status}: {message}',
        )
        spec.exit_code(
            404,
            'ERROR_SUB_PROCESS_FAILED_Q2R',
            message='The q2r.x Q2rBaseWorkChain<{pk}> failed with exit status {status}: {message}',
        )
        spec.exit_code(
            405,
            'ERROR_SUB_PROCESS_FAILED_MATDYN',
            message='The matdyn.x MatdynBaseWorkChain<{pk}> failed with exit status {status}: {message}',
        )
        spec.exit_code(
            406, 'ERROR_SUB_PROCESS_FAILED_TC', message='compute_tc<{pk}> failed with exit status {status}: {message}'
        )
        spec.exit_code(
            407, 'ERROR_PHONON_FREQUENCIES_UNREADABLE', message='The ph.x frequencies could not be read: {message}'
        )
        spec.exit_code(
            408,
            'ERROR_MISSING_ELPH_FILES',
            message='matdyn.x did not retrieve the a2F.dos1..10 and lambda files: {message}',
        )
        spec.exit_code(
            410,
            'ERROR_DYNAMICALLY_UNSTABLE',
            message='The structure is dynamically unstable, Tc not computed: {message}',
        )
        spec.exit_code(
            411,
            'ERROR_NO_STATES_AT_FERMI_LEVEL',
            message='No electron-phonon coupling at the Fermi level (insulator?), Tc undefined: {message}',
        )
        spec.exit_code(
            412,
            'ERROR_NO_ELIGIBLE_SIGMA',
            message='No smearing gives a lambda that clipping the negative alpha^2F leaves intact, Tc not computed: '
            '{message}',
        )

    # ------------------------------------------------------------------------------------------------ protocols
    @classmethod
    def get_builder_from_protocol(
        cls,
        codes: dict,
        structure: orm.StructureData,
        protocol: str | None = None,
        overrides: dict | None = None,
        options: dict | None = None,
        pseudo_family=None,
        pseudos: dict | None = None,
        cutoffs: tuple[float, float] | None = None,
        npool: int | None = None,
        **_,
    ):
        """Return a builder with commensurate grids, cutoffs and el-ph settings chosen by ``protocol``.

        :param codes: ``{'pw': ..., 'ph': ..., 'q2r': ..., 'matdyn': ...}``: codes or code labels; add
            ``'projwfc'`` for the optional N(E_F) per element (hydrogen share) from projwfc.x.
        :param structure: the structure.
        :param protocol: 'fast', 'moderate' (default) or 'precise'.
        :param overrides: a nested dict merged onto the protocol inputs (same nesting as the inputs, plus
            ``meta_parameters``, e.g. ``{'meta_parameters': {'kpoints_mesh': [8, 8, 8]}}``).
        :param options: ``metadata.options`` merged into every calculation.
        :param pseudo_family: a pseudopotential family or its label (default: the offline pslibrary family).
        :param pseudos: explicit ``{kind: UpfData}`` instead of a family; then ``cutoffs`` is required.
        :param cutoffs: ``(ecutwfc, ecutrho)`` in Ry; overrides the family's recommended cutoffs and floors.
        :param npool: k-point pools (``-nk``) of pw.x and ph.x; default: the MPI processes per machine.
        :raises GridError: for user grids that are not commensurate.
        """
        inputs = cls.get_protocol_inputs(protocol, overrides)
        meta = inputs['meta_parameters']
        codes = {key: orm.load_code(code) if isinstance(code, (str, int)) else code for key, code in codes.items()}
        missing = [key for key in ('pw', 'ph', 'q2r', 'matdyn') if key not in codes]
        if missing:
            raise ValueError(
                f'codes for {missing} are missing; pass codes={{"pw": ..., "ph": ..., "q2r": ..., "matdyn": ...}}'
            )

        pseudos, (ecutwfc, ecutrho) = cls._pseudos_and_cutoffs(structure, meta, pseudo_family, pseudos, cutoffs)

        grids = commensurate_grids(
            structure.cell,
            meta['qpoints_distance'],
            meta['kpoints_distance'],
            meta['kpoints_dense_distance'],
            meta.get('dense_min_factor', 2),
        )
        for key in ('qpoints', 'kpoints', 'kpoints_dense'):
            if meta.get(f'{key}_mesh'):
                grids[key] = [int(n) for n in meta[f'{key}_mesh']]
        check_grids(grids['kpoints_dense'], grids['kpoints'], grids['qpoints'])
        if meta.get('matdyn_kpoints_mesh'):
            matdyn_mesh = [int(n) for n in meta['matdyn_kpoints_mesh']]
        else:
            matdyn_mesh = [
                _ceil(length / meta['matdyn_kpoints_distance']) for length in _symmetric_lengths(structure.cell)
            ]

        def mesh(values):
            kpoints = orm.KpointsData()
            kpoints.set_cell_from_structure(structure)
            kpoints.set_kpoints_mesh(values, offset=[0, 0, 0])
            return kpoints

        def calc_options(code, namespace_options):
            merged = recursive_merge(namespace_options, options or {})
            return cls.set_default_resources(merged, code.computer.scheduler_type)

        if npool is None:
            npool = codes['pw'].computer.get_default_mpiprocs_per_machine() or 1
            npool = int((options or {}).get('resources', {}).get('num_mpiprocs_per_machine', npool))
        cmdline = ['-nk', str(npool)] if npool > 1 else []

        builder = cls.get_builder()
        builder.structure = structure
        natoms = len(structure.sites)
        for namespace, grid in (('scf_dense', grids['kpoints_dense']), ('scf', grids['kpoints'])):
            scf = copy.deepcopy(recursive_merge(inputs['scf'], inputs.get(namespace, {})))
            parameters = scf['pw']['parameters']
            parameters['SYSTEM']['ecutwfc'] = ecutwfc
            parameters['SYSTEM']['ecutrho'] = ecutrho
            parameters['ELECTRONS'].setdefault('conv_thr', meta['conv_thr_per_atom'] * natoms)
            if namespace == 'scf_dense':
                parameters['SYSTEM']['la2f'] = True
            target = builder[namespace]
            target.pw.code = codes['pw']
            target.pw.pseudos = pseudos
            target.pw.parameters = orm.Dict(parameters)
            target.pw.metadata = {'options': calc_options(codes['pw'], scf['pw']['metadata']['options'])}
            if npool > 1:
                target.pw.parallelization = orm.Dict({'npool': npool})
            target.kpoints = mesh(grid)
            target.max_iterations = orm.Int(scf['max_iterations'])

        ph_parameters = inputs['ph']['ph']['parameters']
        ph_parameters['INPUTPH'].update(
            {
                'electron_phonon': 'interpolated',
                'el_ph_sigma': meta['el_ph_sigma'],
                'el_ph_nsigma': EL_PH_NSIGMA,
                'trans': True,
            }
        )
        builder.ph.ph.code = codes['ph']
        builder.ph.ph.parameters = orm.Dict(ph_parameters)
        builder.ph.ph.metadata = {'options': calc_options(codes['ph'], inputs['ph']['ph']['metadata']['options'])}
        builder.ph.ph.settings = orm.Dict({'PREPARE_FOR_EPW': True, **({'CMDLINE': cmdline} if cmdline else {})})
        builder.ph.qpoints = mesh(grids['qpoints'])
        builder.ph.max_iterations = orm.Int(inputs['ph']['max_iterations'])

        for namespace in ('q2r', 'matdyn'):
            inputs[namespace][namespace]['parameters']['INPUT'].update({'la2f': True, 'el_ph_nsigma': EL_PH_NSIGMA})
        inputs['matdyn']['matdyn']['parameters']['INPUT']['dos'] = True
        builder.q2r.q2r.code = codes['q2r']
        builder.q2r.q2r.parameters = orm.Dict(inputs['q2r']['q2r']['parameters'])
        builder.q2r.q2r.metadata = {'options': calc_options(codes['q2r'], inputs['q2r']['q2r']['metadata']['options'])}
        builder.q2r.max_iterations = orm.Int(inputs['q2r']['max_iterations'])

        builder.matdyn.matdyn.code = codes['matdyn']
        builder.matdyn.matdyn.parameters = orm.Dict(inputs['matdyn']['matdyn']['parameters'])
        builder.matdyn.matdyn.metadata = {
            'options': calc_options(codes['matdyn'], inputs['matdyn']['matdyn']['metadata']['options'])
        }
        builder.matdyn.matdyn.kpoints = mesh(matdyn_mesh)
        builder.matdyn.max_iterations = orm.Int(inputs['matdyn']['max_iterations'])

        if codes.get('projwfc') is not None:
            projwfc = inputs['projwfc']['projwfc']
            builder.projwfc.code = codes['projwfc']
            builder.projwfc.parameters = orm.Dict(projwfc['parameters'])
            builder.projwfc.metadata = {'options': calc_options(codes['projwfc'], projwfc['metadata']['options'])}
            if cmdline:
                builder.projwfc.settings = orm.Dict({'CMDLINE': cmdline})

        builder.tc_parameters = orm.Dict(inputs['tc_parameters'])
        builder.imaginary_threshold_cm = orm.Float(inputs['imaginary_threshold_cm'])
        builder.gamma_radius = orm.Float(inputs['gamma_radius'])
        builder.clean_workdir = orm.Bool(inputs['clean_workdir'])
        return builder

    @staticmethod
    def _pseudos_and_cutoffs(structure, meta, pseudo_family, pseudos, cutoffs):
        """Pseudopotentials and ``(ecutwfc, ecutrho)`` from a family (with floors) or from explicit inputs."""
        if pseudos is not None:
            if cutoffs is None:
                raise ValueError('explicit `pseudos` need explicit `cutoffs=(ecutwfc, ecutrho)` in Ry')
            missing = sorted(set(structure.get_kind_names()) - set(pseudos))
            if missing:
                raise ValueError(f'no pseudopotential given for the kinds {missing}')
            return dict(pseudos), (float(cutoffs[0]), float(cutoffs[1]))

        if pseudo_family is None or isinstance(pseudo_family, str):
            from aiida_hydrides.pseudos import ensure_pseudo_family

            family = ensure_pseudo_family(pseudo_family, elements=structure)
        else:
            family = pseudo_family
        family_pseudos = family.get_pseudos(structure=structure)
        if cutoffs is not None:
            return family_pseudos, (float(cutoffs[0]), float(cutoffs[1]))
        try:
            ecutwfc, ecutrho = family.get_recommended_cutoffs(
                structure=structure, stringency=meta.get('pseudo_stringency'), unit='Ry'
            )
        except (ValueError, AttributeError):
            ecutwfc, ecutrho = family.get_recommended_cutoffs(structure=structure, unit='Ry')
        floor = float(meta.get('ecutwfc_min', 0.0))
        if 'H' in structure.get_symbols_set():
            floor = max(floor, float(meta.get('hydride_ecutwfc_min', 0.0)))
        if ecutwfc < floor:
            ecutrho = ecutrho * floor / ecutwfc
            ecutwfc = floor
        return family_pseudos, (float(ecutwfc), float(ecutrho))

    # ------------------------------------------------------------------------------------------------ steps
    def setup(self):
        """Read the grids and the el-ph settings."""
        self.ctx.el_ph_sigma = self.inputs.ph.ph.parameters.get_dict().get('INPUTPH', {}).get('el_ph_sigma', 0.005)

    def _report_grids(self):
        dense = self.inputs.scf_dense.kpoints.get_kpoints_mesh()[0]
        coarse = self.inputs.scf.kpoints.get_kpoints_mesh()[0]
        qgrid = self.inputs.ph.qpoints.get_kpoints_mesh()[0]
        self.report(
            f'grids: dense k {dense}, coarse k {coarse}, q {qgrid}; el_ph_sigma {self.ctx.el_ph_sigma} Ry '
            f'x {EL_PH_NSIGMA}'
        )

    def run_scf_dense(self):
        """Run the dense-k scf with ``la2f``: it writes the eigenvalues on the dense grid (``<prefix>.a2Fsave``)."""
        self._report_grids()
        inputs = AttributeDict(self.exposed_inputs(PwBaseWorkChain, namespace='scf_dense'))
        inputs.pw.structure = self.inputs.structure
        parameters = inputs.pw.parameters.get_dict()
        parameters.setdefault('SYSTEM', {})['la2f'] = True
        parameters['SYSTEM'].pop('la2F', None)
        parameters.setdefault('CONTROL', {})['calculation'] = 'scf'
        inputs.pw.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'scf_dense'
        return ToContext(scf_dense=self.submit(PwBaseWorkChain, **inputs))

    def inspect_scf_dense(self):
        """Stop with a sub-process exit code if the dense-k scf failed."""
        node = self.ctx.scf_dense
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_SCF_DENSE, node)
        self.ctx.nbnd = node.outputs.output_parameters.get('number_of_bands')

    def should_run_projwfc(self):
        """Whether projwfc.x inputs were given."""
        return 'projwfc' in self.inputs and 'code' in self.inputs.projwfc

    def run_projwfc(self):
        """Project the dense-k scf states on atomic orbitals (projwfc.x) for N(E_F) per element."""
        inputs = AttributeDict(self.exposed_inputs(ProjwfcCalculation, namespace='projwfc'))
        inputs.parent_folder = self.ctx.scf_dense.outputs.remote_folder
        inputs.metadata.call_link_label = 'projwfc'
        return ToContext(projwfc=self.submit(ProjwfcCalculation, **inputs))

    def inspect_projwfc(self):
        """Attach N(E_F) per element; a failure here is reported and does not stop the el-ph calculation."""
        node = self.ctx.projwfc
        if not node.is_finished_ok or 'projections' not in node.outputs:
            self.report(
                f'projwfc.x {node.process_label}<{node.pk}> failed ({node.exit_status}: {node.exit_message}); '
                f'continuing without the projected DOS at E_F'
            )
            return
        _, calc = projected_dos_at_fermi_level.run_get_node(
            node.outputs.Dos,
            node.outputs.projections,
            self.ctx.scf_dense.outputs.output_parameters,
            self.inputs.structure,
            metadata={'call_link_label': 'projected_dos'},
        )
        if not calc.is_finished_ok:
            self.report(f'projected DOS at E_F not computed: {calc.exit_message}')
            return
        result = calc.outputs.result
        self.out('projected_dos', result)
        self.report(
            f'N(E_F) = {result["dos_total_states_per_ev"]:.3f} states/eV/cell, hydrogen share '
            f'{result.get("fraction_H", 0.0):.2f}'
        )

    def run_scf(self):
        """Run the coarse-k scf in a copy of the dense-k folder (``a2Fsave`` survives), with the same ``nbnd``."""
        inputs = AttributeDict(self.exposed_inputs(PwBaseWorkChain, namespace='scf'))
        inputs.pw.structure = self.inputs.structure
        inputs.pw.parent_folder = self.ctx.scf_dense.outputs.remote_folder
        parameters = inputs.pw.parameters.get_dict()
        parameters.setdefault('SYSTEM', {}).pop('la2f', None)
        parameters['SYSTEM'].pop('la2F', None)
        parameters.setdefault('CONTROL', {})['calculation'] = 'scf'
        parameters['CONTROL']['restart_mode'] = 'from_scratch'
        if self.ctx.nbnd:
            parameters['SYSTEM']['nbnd'] = self.ctx.nbnd
        inputs.pw.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'scf'
        return ToContext(scf=self.submit(PwBaseWorkChain, **inputs))

    def inspect_scf(self):
        """Stop with a sub-process exit code if the coarse-k scf failed."""
        node = self.ctx.scf
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_SCF, node)
        nbnd = node.outputs.output_parameters.get('number_of_bands')
        if self.ctx.nbnd and nbnd != self.ctx.nbnd:
            return self._failed(
                self.exit_codes.ERROR_SUB_PROCESS_FAILED_SCF,
                node,
                f'nbnd {nbnd} differs from the dense-k scf ({self.ctx.nbnd})',
            )
        self.out('scf_parameters', node.outputs.output_parameters)

    def run_ph(self):
        """Run ph.x with interpolated el-ph on the q grid (``fildvscf`` through ``PREPARE_FOR_EPW``)."""
        inputs = AttributeDict(self.exposed_inputs(PhBaseWorkChain, namespace='ph'))
        inputs.ph.parent_folder = self.ctx.scf.outputs.remote_folder
        parameters = inputs.ph.parameters.get_dict()
        inputph = parameters.setdefault('INPUTPH', {})
        inputph['electron_phonon'] = 'interpolated'
        inputph['el_ph_nsigma'] = EL_PH_NSIGMA
        inputph.setdefault('el_ph_sigma', self.ctx.el_ph_sigma)
        inputph['trans'] = True
        inputs.ph.parameters = orm.Dict(parameters)
        settings = inputs.ph.settings.get_dict() if 'settings' in inputs.ph else {}
        settings['PREPARE_FOR_EPW'] = True
        inputs.ph.settings = orm.Dict(settings)
        inputs.metadata.call_link_label = 'ph'
        return ToContext(ph=self.submit(PhBaseWorkChain, **inputs))

    def inspect_ph(self):
        """Stop with a sub-process exit code if ph.x failed."""
        node = self.ctx.ph
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_PH, node)

    def check_stability(self):
        """Read the frequencies of every irreducible q; stop with ``ERROR_DYNAMICALLY_UNSTABLE`` naming each mode."""
        _, node = analyse_phonon_stability.run_get_node(
            self.ctx.ph.outputs.retrieved,
            self.inputs.imaginary_threshold_cm,
            self.inputs.gamma_radius,
            metadata={'call_link_label': 'phonon_stability'},
        )
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_PHONON_FREQUENCIES_UNREADABLE.format(message=node.exit_message)
        stability = node.outputs.phonon_stability
        self.out('phonon_stability', stability)
        modes = stability.get('imaginary_modes', [])
        lowest = stability.get('min_frequency_cm')
        self.report(
            f'lowest ph.x frequency {"-" if lowest is None else f"{lowest:.1f}"} cm^-1 over '
            f'{stability.get("number_of_qpoints")} irreducible q-points'
        )
        if modes:
            descriptions = '; '.join(mode['description'] for mode in modes[:6])
            more = f' (and {len(modes) - 6} more)' if len(modes) > 6 else ''
            threshold = self.inputs.imaginary_threshold_cm.value
            return self.exit_codes.ERROR_DYNAMICALLY_UNSTABLE.format(
                message=f'{len(modes)} mode(s) below -{threshold:g} cm^-1 away from Gamma: {descriptions}{more}'
            )
        return None

    def run_q2r(self):
        """Fourier-transform the dynamical matrices and the el-ph data (``la2f``) to real space."""
        inputs = AttributeDict(self.exposed_inputs(Q2rBaseWorkChain, namespace='q2r'))
        inputs.q2r.parent_folder = self.ctx.ph.outputs.remote_folder
        parameters = inputs.q2r.parameters.get_dict() if 'parameters' in inputs.q2r else {}
        parameters.setdefault('INPUT', {})['la2f'] = True
        parameters['INPUT'].pop('la2F', None)
        parameters['INPUT']['el_ph_nsigma'] = EL_PH_NSIGMA
        inputs.q2r.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'q2r'
        return ToContext(q2r=self.submit(Q2rBaseWorkChain, **inputs))

    def inspect_q2r(self):
        """Stop with a sub-process exit code if q2r.x failed."""
        node = self.ctx.q2r
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_Q2R, node)
        self.out('force_constants', node.outputs.force_constants)

    def run_matdyn(self):
        """Interpolate the phonons and the el-ph linewidths: α²F per σ (``a2F.dos1..10``) and ``lambda``."""
        inputs = AttributeDict(self.exposed_inputs(MatdynBaseWorkChain, namespace='matdyn'))
        inputs.matdyn.force_constants = self.ctx.q2r.outputs.force_constants
        inputs.matdyn.parent_folder = self.ctx.q2r.outputs.remote_folder
        parameters = inputs.matdyn.parameters.get_dict() if 'parameters' in inputs.matdyn else {}
        parameters.setdefault('INPUT', {})['la2f'] = True
        parameters['INPUT'].pop('la2F', None)
        parameters['INPUT']['dos'] = True
        parameters['INPUT']['el_ph_nsigma'] = EL_PH_NSIGMA
        parameters['INPUT']['ndos'] = max(int(parameters['INPUT'].get('ndos', 200)), 200)
        inputs.matdyn.parameters = orm.Dict(parameters)
        inputs.metadata.call_link_label = 'matdyn'
        return ToContext(matdyn=self.submit(MatdynBaseWorkChain, **inputs))

    def inspect_matdyn(self):
        """Stop with a sub-process exit code if matdyn.x failed or did not retrieve the el-ph files."""
        node = self.ctx.matdyn
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_MATDYN, node)
        names = set(node.outputs.retrieved.base.repository.list_object_names())
        missing = sorted({'lambda', *(f'a2F.dos{i}' for i in range(1, EL_PH_NSIGMA + 1))} - names)
        if missing:
            return self.exit_codes.ERROR_MISSING_ELPH_FILES.format(message=f'missing {missing}')
        if 'output_phonon_dos' in node.outputs:
            self.out('phonon_dos', node.outputs.output_phonon_dos)

    def run_tc(self):
        """Compute λ, ω_log and Tc from the retrieved α²F files; no coupling (insulator) and no σ passing the
        clipping test get their own exit codes."""
        kwargs = {'metadata': {'call_link_label': 'compute_tc'}}
        if 'tc_parameters' in self.inputs:
            kwargs['parameters'] = self.inputs.tc_parameters
        _, node = compute_tc.run_get_node(self.ctx.matdyn.outputs.retrieved, **kwargs)
        if node.exit_status == EXIT_NO_STATES_AT_FERMI_LEVEL:
            return self.exit_codes.ERROR_NO_STATES_AT_FERMI_LEVEL.format(message=node.exit_message)
        if node.exit_status == EXIT_NO_ELIGIBLE_SIGMA:
            return self.exit_codes.ERROR_NO_ELIGIBLE_SIGMA.format(message=node.exit_message)
        if not node.is_finished_ok:
            return self._failed(self.exit_codes.ERROR_SUB_PROCESS_FAILED_TC, node)
        self.ctx.tc_node = node

    def results(self):
        """Attach λ, ω_log and Tc, and report them."""
        outputs = self.ctx.tc_node.outputs
        self.out('tc', outputs.tc)
        self.out('a2f', outputs.a2f)
        tc = outputs.tc.get_dict()
        allen_dynes = tc.get('tc_allen_dynes_K_mu0_10')
        qe = ', '.join(
            f'{name} {tc[key]:.3f}' for key, name in (('lambda_qe_a2f', 'a2F'), ('lambda_qsum', 'q-sum')) if tc.get(key)
        )
        self.report(
            f'lambda = {tc["lambda"]:.3f}'
            + (f' (QE: {qe})' if qe else '')
            + f', omega_log = {tc["omega_log_K"]:.1f} K at sigma = '
            f'{tc["el_ph_sigma_ry"]} Ry; Tc(Allen-Dynes, mu* 0.10) = '
            + ('-' if allen_dynes is None else f'{allen_dynes:.2f} K')
        )

    # ------------------------------------------------------------------------------------------------ helpers
    def _failed(self, exit_code, node, message=None):
        self.report(
            f'{node.process_label}<{node.pk}> failed with exit status {node.exit_status}: '
            f'{message or node.exit_message}'
        )
        return exit_code.format(pk=node.pk, status=node.exit_status, message=message or node.exit_message)
