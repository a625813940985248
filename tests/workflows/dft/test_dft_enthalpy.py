"""Tests of the `hydrides.dft.enthalpy` work chain: protocol builders, input validation and real pw.x runs."""

import math
import shutil

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import WorkflowFactory

from aiida_hydrides.calculations.functions.enthalpy import compute_enthalpy
from aiida_hydrides.core import prototypes
from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain


def h3s_primitive(a: float = 3.0) -> orm.StructureData:
    """Im-3m H3S in its 4-atom bcc primitive cell (conventional lattice parameter ``a``, Angstrom)."""
    return orm.StructureData(ase=prototypes.h3s_primitive('S', a=a))


def fcc_al(a: float = 4.04) -> orm.StructureData:
    """fcc Al in its 1-atom primitive cell."""
    from ase.build import bulk

    return orm.StructureData(ase=bulk('Al', 'fcc', a=a))


def bcc_a_from_primitive(structure: orm.StructureData) -> float:
    """Conventional bcc lattice parameter of a 1-lattice-point primitive cell, from its volume (V = a^3 / 2)."""
    return (2.0 * structure.get_cell_volume()) ** (1.0 / 3.0)


@pytest.fixture
def pw_code(aiida_localhost):
    """A pw.x code for building inputs only (nothing is run with it)."""
    label = 'pw-builder'
    existing = orm.QueryBuilder().append(orm.InstalledCode, filters={'label': label}).first(flat=True)
    if existing is not None:
        return existing
    aiida_localhost.set_default_mpiprocs_per_machine(2)
    return orm.InstalledCode(
        label=label,
        computer=aiida_localhost,
        filepath_executable=shutil.which('pw.x') or '/usr/bin/pw.x',
        default_calc_job_plugin='quantumespresso.pw',
    ).store()


def test_entry_point():
    assert WorkflowFactory('hydrides.dft.enthalpy') is DftEnthalpyWorkChain
    assert set(DftEnthalpyWorkChain.get_available_protocols()) == {'fast', 'moderate', 'precise'}
    assert DftEnthalpyWorkChain.get_default_protocol() == 'moderate'


def test_builder_h3s_fast(pw_code, pseudo_family):
    """The fast builder for H3S at 200 GPa: press in kbar, family cutoffs, k-points, pools and smearing."""
    structure = h3s_primitive()
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        pw_code, structure, pressure=200.0, protocol='fast', pseudo_family=pseudo_family.label
    )
    assert builder.pressure.value == 200.0
    assert builder.pseudo_family.value == pseudo_family.label
    assert builder.protocol.value == 'fast'
    assert 'parameters' not in builder.relax.base_init_relax.pw  # no initial relax with `fast`

    ecutwfc, ecutrho = pseudo_family.get_recommended_cutoffs(structure=structure, stringency='low', unit='Ry')
    relax = builder.relax.base_relax
    parameters = relax.pw.parameters.get_dict()
    assert parameters['CONTROL']['calculation'] == 'vc-relax'
    assert parameters['CELL']['press'] == pytest.approx(2000.0)
    assert parameters['CELL']['cell_dofree'] == 'all'
    assert parameters['CELL']['press_conv_thr'] == pytest.approx(5.0)
    assert parameters['SYSTEM']['ecutwfc'] == pytest.approx(ecutwfc)
    assert parameters['SYSTEM']['ecutrho'] == pytest.approx(ecutrho)
    assert parameters['SYSTEM']['smearing'] == 'mv'
    assert parameters['SYSTEM']['degauss'] == pytest.approx(0.02)
    assert parameters['ELECTRONS']['conv_thr'] == pytest.approx(4 * 1.0e-8)
    assert relax.kpoints_distance.value == pytest.approx(0.30)
    assert relax.pw.parallelization.get_dict() == {'npool': 2}
    assert sorted(relax.pw.pseudos) == ['H', 'S']

    scf = builder.scf.pw.parameters.get_dict()
    assert scf['CONTROL']['calculation'] == 'scf'
    assert scf['CONTROL']['tstress'] is True
    assert 'CELL' not in scf
    assert scf['SYSTEM']['ecutwfc'] == pytest.approx(ecutwfc)
    assert builder.scf.kpoints_distance.value == pytest.approx(0.30)


def test_builder_protocols_are_ordered(pw_code, pseudo_family):
    """Precise is denser and tighter than moderate, which is denser than fast; precise keeps the initial relax."""
    structure = h3s_primitive()
    settings = {}
    for protocol in ('fast', 'moderate', 'precise'):
        builder = DftEnthalpyWorkChain.get_builder_from_protocol(
            pw_code, structure, pressure='2000 kbar', protocol=protocol, pseudo_family=pseudo_family.label
        )
        parameters = builder.relax.base_relax.pw.parameters.get_dict()
        settings[protocol] = (
            parameters['SYSTEM']['ecutwfc'],
            -builder.relax.base_relax.kpoints_distance.value,
            -parameters['CELL']['press_conv_thr'],
        )
        assert parameters['CELL']['press'] == pytest.approx(2000.0)
    assert all(f < m < p for f, m, p in zip(settings['fast'], settings['moderate'], settings['precise']))
    assert builder.relax.base_init_relax.pw.parameters['CELL']['press'] == pytest.approx(2000.0)


def test_builder_overrides(pw_code, pseudo_family):
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        pw_code,
        h3s_primitive(),
        pressure=150,
        protocol='fast',
        pseudo_family=pseudo_family.label,
        overrides={'kpoints_distance': 0.5, 'pressure_tolerance': 2.0, 'scf': {'max_iterations': 1}},
        options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}},
    )
    assert builder.relax.base_relax.kpoints_distance.value == pytest.approx(0.5)
    assert builder.pressure_tolerance.value == pytest.approx(2.0)
    assert builder.scf.max_iterations.value == 1
    assert 'parallelization' not in builder.relax.base_relax.pw
    assert builder.relax.base_relax.pw.parameters['CELL']['press'] == pytest.approx(1500.0)


def test_builder_rejects_bad_input(pw_code, pseudo_family):
    """Missing elements, unknown families, bad pressures and unknown protocols fail before anything is launched."""
    xenon = orm.StructureData(cell=[[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
    xenon.append_atom(position=(0, 0, 0), symbols='Xe')
    xenon.append_atom(position=(1.5, 1.5, 1.5), symbols='H')
    with pytest.raises(ValueError, match=r'no pseudopotential for Xe'):
        DftEnthalpyWorkChain.get_builder_from_protocol(pw_code, xenon, pseudo_family=pseudo_family.label)
    with pytest.raises(ValueError, match='is not installed'):
        DftEnthalpyWorkChain.get_builder_from_protocol(pw_code, h3s_primitive(), pseudo_family='NO/SUCH/FAMILY')
    with pytest.raises(ValueError, match='did you give kbar'):
        DftEnthalpyWorkChain.get_builder_from_protocol(pw_code, h3s_primitive(), pressure=2000)
    with pytest.raises(ValueError, match="unknown protocol 'stringent'"):
        DftEnthalpyWorkChain.get_builder_from_protocol(pw_code, h3s_primitive(), protocol='stringent')


def test_pressure_validators():
    """The `pressure` and `pressure_tolerance` ports reject values that cannot be GPa."""
    builder = DftEnthalpyWorkChain.get_builder()
    with pytest.raises(ValueError, match='the pressure must be between 0 and 1000 GPa, got -10 GPa'):
        builder.pressure = orm.Float(-10.0)
    with pytest.raises(ValueError, match='did you give kbar'):
        builder.pressure = orm.Float(2000.0)
    with pytest.raises(ValueError, match='positive number of GPa'):
        builder.pressure_tolerance = orm.Float(0.0)
    builder.pressure = orm.Float(0.0)
    assert builder.pressure.value == 0.0


def test_missing_pseudo_exits_201_before_launch(pw_code, pseudo_family):
    """A family that lacks an element of the structure ends with 201 and launches no calculation."""
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        pw_code, h3s_primitive(), protocol='fast', pseudo_family=pseudo_family.label
    )
    builder.structure = fcc_al()
    builder.structure.append_atom(position=(1.0, 1.0, 1.0), symbols='Xe')
    # Keep the pseudos consistent with the new kinds so that the pw.x input validation passes.
    pseudos = dict(builder.relax.base_relax.pw.pseudos)
    builder.relax.base_relax.pw.pseudos = {'Al': pseudo_family.get_pseudo('Al'), 'Xe': pseudos['H']}
    builder.scf.pw.pseudos = {'Al': pseudo_family.get_pseudo('Al'), 'Xe': pseudos['H']}
    _, node = run_get_node(builder)
    assert node.exit_status == DftEnthalpyWorkChain.exit_codes.ERROR_PSEUDO_FAMILY_INCOMPLETE.status == 201
    assert 'Xe' in node.exit_message and pseudo_family.label in node.exit_message
    assert not node.called


def test_compute_enthalpy():
    """H = E + P_target V per atom, final pressure = trace(stress) / 3."""
    structure = h3s_primitive(3.0)
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=structure.get_ase().get_chemical_symbols(),
        positions=np.array([structure.get_ase().positions]),
        cells=np.array([structure.cell]),
    )
    trajectory.set_array('stress', np.array([np.diag([201.0, 199.0, 203.0])]))
    results = compute_enthalpy(
        parameters=orm.Dict({'energy': -1000.0}),
        trajectory=trajectory,
        structure=structure,
        pressure=orm.Float(200.0),
        protocol=orm.Str('fast'),
    )
    volume = 27.0 / 2.0
    expected = (-1000.0 + 200.0 * volume / 160.21766208) / 4
    assert results['enthalpy_per_atom'].value == pytest.approx(expected)
    assert results['pressure'].value == pytest.approx(201.0)
    summary = results['output_parameters'].get_dict()
    assert summary['formula'] == 'H3S'
    assert summary['volume_per_atom_A3'] == pytest.approx(volume / 4)
    assert summary['protocol'] == 'fast' and summary['pseudo_family'] is None
    assert results['stress'].get_array('stress').shape == (3, 3)


@pytest.mark.slow
def test_h3s_200gpa_fast(qe_codes, pseudo_family):
    """Real pw.x: Im-3m H3S relaxed at 200 GPa lands at a = 2.94-3.04 A with the pressure on target."""
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        qe_codes['pw'], h3s_primitive(3.05), pressure=200.0, protocol='fast', pseudo_family=pseudo_family.label
    )
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    relaxed = node.outputs.relaxed_structure
    a_conv = bcc_a_from_primitive(relaxed)
    assert 2.94 < a_conv < 3.04
    assert len(relaxed.sites) == 4

    summary = node.outputs.output_parameters.get_dict()
    assert abs(node.outputs.pressure.value - 200.0) < builder.pressure_tolerance.value
    assert summary['final_pressure_GPa'] == pytest.approx(node.outputs.pressure.value)
    assert summary['target_pressure_GPa'] == 200.0
    assert summary['formula'] == 'H3S'
    assert summary['protocol'] == 'fast' and summary['pseudo_family'] == pseudo_family.label
    enthalpy = node.outputs.enthalpy_per_atom.value
    assert math.isfinite(enthalpy)
    # pslibrary US (S: 6, H: 1 valence electrons): E is about -24 Ry per H3S, i.e. -82 eV/atom; PV adds ~4 eV/atom
    assert -90.0 < enthalpy < -70.0
    assert 1.0 < summary['pv_per_atom_eV'] < 5.0
    assert summary['enthalpy_per_atom_eV'] == pytest.approx(summary['energy_per_atom_eV'] + summary['pv_per_atom_eV'])
    stress = node.outputs.stress.get_array('stress')
    assert np.allclose(stress, np.diag(np.diag(stress)), atol=1.0)  # cubic: diagonal, isotropic
    tags = relaxed.base.extras.get('hydrides')
    assert tags['pressure_gpa'] == 200.0 and tags['formula'] == 'SH3'  # hydrogen last, as compositions are written
    assert tags['method'] == 'dft' and tags['kind'] == 'dft_relaxed' and tags['space_group_number'] == 229
    assert tags['enthalpy_dft_ev'] == pytest.approx(enthalpy)
    query = orm.QueryBuilder().append(
        orm.StructureData, filters={'extras.hydrides.pressure_gpa': {'>=': 100}}, project='extras.hydrides.formula'
    )
    assert 'SH3' in query.all(flat=True)


@pytest.mark.slow
def test_unconverged_scf_exits_402(qe_codes, pseudo_family):
    """An SCF that cannot converge (one electronic step) ends the work chain with 402, after a good relax."""
    overrides = {
        'kpoints_distance': 0.5,
        'scf': {'max_iterations': 1, 'pw': {'parameters': {'ELECTRONS': {'electron_maxstep': 1}}}},
    }
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        qe_codes['pw'],
        fcc_al(),
        pressure=0.0,
        protocol='fast',
        pseudo_family=pseudo_family.label,
        overrides=overrides,
    )
    _, node = run_get_node(builder)
    assert node.exit_status == DftEnthalpyWorkChain.exit_codes.ERROR_SUB_PROCESS_FAILED_SCF.status == 402
    assert node.exit_message == 'the final SCF `PwBaseWorkChain` failed'
    relax = node.base.links.get_outgoing(link_label_filter='relax').one().node
    scf = node.base.links.get_outgoing(link_label_filter='scf').one().node
    assert relax.is_finished_ok
    assert scf.is_failed
    assert 'relaxed_structure' in node.outputs and 'enthalpy_per_atom' not in node.outputs
    assert all(child.is_stored for child in node.called_descendants)


@pytest.mark.slow
def test_unconverged_relax_exits_401(qe_codes, pseudo_family):
    """A relax whose SCF cannot converge ends the work chain with 401 and runs no final SCF."""
    overrides = {
        'kpoints_distance': 0.5,
        'relax': {'base_relax': {'max_iterations': 1, 'pw': {'parameters': {'ELECTRONS': {'electron_maxstep': 1}}}}},
    }
    builder = DftEnthalpyWorkChain.get_builder_from_protocol(
        qe_codes['pw'],
        fcc_al(),
        pressure=0.0,
        protocol='fast',
        pseudo_family=pseudo_family.label,
        overrides=overrides,
    )
    _, node = run_get_node(builder)
    assert node.exit_status == DftEnthalpyWorkChain.exit_codes.ERROR_SUB_PROCESS_FAILED_RELAX.status == 401
    assert not node.base.links.get_outgoing(link_label_filter='scf').all()
    assert 'relaxed_structure' not in node.outputs


def _cli(args):
    from click.testing import CliRunner

    from aiida_hydrides.cli.dft_enthalpy import dft_enthalpy

    return CliRunner().invoke(dft_enthalpy, [str(arg) for arg in args])


@pytest.mark.parametrize(('pressure', 'message'), [('2000', 'did you give kbar'), ('200 psi', 'unknown pressure unit')])
def test_cli_rejects_bad_pressure(data_dir, pressure, message):
    result = _cli([data_dir / 'structures' / 'H3S_Im-3m.cif', '--pressure', pressure])
    assert result.exit_code == 2 and "'--pressure'" in result.output
    assert message in result.output


def test_cli_rejects_missing_family_code_and_element(data_dir, tmp_path, pw_code, pseudo_family):
    """A family, a code or an element that is not there gives one clear line, and nothing runs."""
    cif = data_dir / 'structures' / 'H3S_Im-3m.cif'
    code = f'{pw_code.label}@{pw_code.computer.label}'
    result = _cli([cif, '--code', code, '--family', 'NO/SUCH/FAMILY'])
    assert result.exit_code == 2
    assert "the pseudopotential family 'NO/SUCH/FAMILY' is not installed" in result.output
    result = _cli([cif, '--code', 'no-such-code@localhost'])
    assert result.exit_code == 2
    assert "cannot load the code 'no-such-code@localhost'" in result.output
    xenon = tmp_path / 'XeH.xyz'
    header = 'Lattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 pbc="T T T"'
    xenon.write_text(f'2\n{header}\nXe 0 0 0\nH 1.5 1.5 1.5\n')
    result = _cli([xenon, '--code', code, '--family', pseudo_family.label])
    assert result.exit_code == 1
    assert 'no pseudopotential for Xe' in result.output


def test_cli_primitive_cell(data_dir):
    """`--primitive` reduces the 8-atom conventional H3S cell to the 4-atom bcc primitive cell."""
    from aiida_hydrides.cli.utils import primitive_cell
    from aiida_hydrides.core.structures import read_structure

    atoms = read_structure(data_dir / 'structures' / 'H3S_Im-3m.cif')
    primitive = primitive_cell(atoms)
    assert len(atoms) == 8 and len(primitive) == 4
    assert primitive.get_volume() == pytest.approx(atoms.get_volume() / 2)
