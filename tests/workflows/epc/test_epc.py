"""Tests of the ``hydrides.epc`` work chain: protocol builder, grid validation, Tc calcfunction, exit-code paths.

The fast tests need no Quantum ESPRESSO run; the ``slow`` test runs the real chain on fcc Al (PHonon example03).
"""

import math
import pathlib
import types

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_hydrides.calculations.functions.tc import EXIT_NO_ELIGIBLE_SIGMA, EXIT_NO_STATES_AT_FERMI_LEVEL, compute_tc
from aiida_hydrides.core.units import BOHR_TO_ANGSTROM
from aiida_hydrides.workflows.epc.base import (
    EL_PH_NSIGMA,
    ElectronPhononWorkChain,
    GridError,
    check_grids,
    commensurate_grids,
)

AL_UPF = pathlib.Path('/usr/share/espresso/pseudo/Al.pz-vbc.UPF')
BOHR = BOHR_TO_ANGSTROM


def h3s_structure(a: float = 2.985) -> orm.StructureData:
    """Im-3m H3S, bcc primitive cell in QE's ibrav=3 convention (conventional cubic edge ``a`` in Å)."""
    cell = 0.5 * a * np.array([[1, 1, 1], [-1, 1, 1], [-1, -1, 1]], dtype=float)
    structure = orm.StructureData(cell=cell.tolist())
    for symbol, frac in (('S', (0, 0, 0)), ('H', (0.5, 0.5, 0)), ('H', (0.5, 0, 0.5)), ('H', (0, 0.5, 0.5))):
        structure.append_atom(position=(np.array(frac) @ cell).tolist(), symbols=symbol)
    return structure


def al_structure(celldm: float = 7.5) -> orm.StructureData:
    """fcc Al in QE's ibrav=2 convention (PHonon example03: celldm(1) = 7.5 bohr)."""
    a = celldm * BOHR
    structure = orm.StructureData(cell=(0.5 * a * np.array([[-1, 0, 1], [0, 1, 1], [-1, 1, 0]])).tolist())
    structure.append_atom(position=(0.0, 0.0, 0.0), symbols='Al')
    return structure


@pytest.fixture
def al_pseudos():
    from aiida_pseudo.data.pseudo import UpfData

    return {'Al': UpfData.get_or_create(AL_UPF)}


def _folder_from_files(paths: dict) -> orm.FolderData:
    folder = orm.FolderData()
    for name, content in paths.items():
        import io

        folder.base.repository.put_object_from_filelike(io.BytesIO(content.encode()), name)
    return folder


@pytest.fixture
def al_matdyn_retrieved(data_dir):
    """The recorded matdyn.x el-ph outputs of fcc Al as a ``retrieved`` FolderData."""
    source = data_dir / 'qe_al_elph'
    files = {f'a2F.dos{i}': (source / f'a2F.dos{i}').read_text() for i in range(1, EL_PH_NSIGMA + 1)}
    files['lambda'] = (source / 'lambda').read_text()
    return _folder_from_files(files)


def _insulator_folder(data_dir) -> orm.FolderData:
    """matdyn.x outputs of a system with no states at E_F: zero α²F, and N(E_F) = 0, λ = 0, ω_ln = NaN."""
    source = data_dir / 'qe_al_elph'
    files = {}
    for i in range(1, EL_PH_NSIGMA + 1):
        lines = []
        for line in (source / f'a2F.dos{i}').read_text().splitlines():
            fields = line.split()
            if len(fields) == 5 and not line.lstrip().startswith('#'):
                line = f'  {fields[0]}' + '    0.000000E+00' * 4
            elif 'lambda =' in line:
                line = '  lambda =   0.0000000000000000         Delta =    1.5245160283735608E-005'
            lines.append(line)
        files[f'a2F.dos{i}'] = '\n'.join(lines) + '\n'
    rows = [
        f' Broadening {0.005 * i:8.4f} lambda       0.0000 dos(Ef)  0.0000 omega_ln [K]         NaN'
        for i in range(1, EL_PH_NSIGMA + 1)
    ]
    files['lambda'] = '\n  Electron-phonon coupling constant, lambda \n\n' + '\n'.join(rows) + '\n'
    return _folder_from_files(files)


# ----------------------------------------------------------------------------------------------- grids
def test_commensurate_grids_h3s_moderate():
    grids = commensurate_grids(h3s_structure().cell, 0.8, 0.3, 0.15, 2)
    assert grids == {'qpoints': [4, 4, 4], 'kpoints': [12, 12, 12], 'kpoints_dense': [24, 24, 24]}


@pytest.mark.parametrize('a', [2.6, 2.985, 3.3, 4.5])
def test_commensurate_grids_always_multiples(a):
    grids = commensurate_grids(h3s_structure(a).cell, 0.8, 0.3, 0.15, 2)
    check_grids(grids['kpoints_dense'], grids['kpoints'], grids['qpoints'])
    assert all(d >= 2 * c for d, c in zip(grids['kpoints_dense'], grids['kpoints']))


def test_grids_keep_the_lattice_symmetry():
    """The bct primitive cell of I4/mmm CaH4 at 200 GPa: equal primitive vectors, unequal reciprocal ones, and a 4 4 5
    q grid made ph.x stop ("q-mesh breaks symmetry"); the grids are equal on the three axes. A hexagonal cell keeps
    its own c subdivision."""
    from aiida_hydrides.core.prototypes import tetragonal_mh4

    bct = tetragonal_mh4('Ca', a=2.649, c=4.878).cell.array
    grids = commensurate_grids(bct, 0.8, 0.3, 0.15, 2)
    for key, grid in grids.items():
        assert len(set(grid)) == 1, (key, grid)
    check_grids(grids['kpoints_dense'], grids['kpoints'], grids['qpoints'])
    hexagonal = [[3.4, 0.0, 0.0], [-1.7, 1.7 * 3**0.5, 0.0], [0.0, 0.0, 5.1]]
    grids = commensurate_grids(hexagonal, 0.8, 0.3, 0.15, 2)
    assert grids['qpoints'][0] == grids['qpoints'][1] != grids['qpoints'][2]


def test_check_grids_rejects_incommensurate_and_shifted():
    with pytest.raises(GridError, match='not an integer multiple of the q grid'):
        check_grids([18, 18, 18], [9, 9, 9], [4, 4, 4])
    with pytest.raises(GridError, match='not an integer multiple of the coarse k grid'):
        check_grids([20, 20, 20], [12, 12, 12], [4, 4, 4])
    with pytest.raises(GridError, match='unshifted'):
        check_grids([24] * 3, [12] * 3, [4] * 3, {'coarse k': [0.5, 0.5, 0.5]})


# ----------------------------------------------------------------------------------------------- builder
def test_builder_h3s_moderate(fake_codes, pseudo_family):
    builder = ElectronPhononWorkChain.get_builder_from_protocol(
        fake_codes, h3s_structure(), pseudo_family=pseudo_family
    )
    assert builder.scf_dense.kpoints.get_kpoints_mesh() == ([24, 24, 24], [0.0, 0.0, 0.0])
    assert builder.scf.kpoints.get_kpoints_mesh() == ([12, 12, 12], [0.0, 0.0, 0.0])
    assert builder.ph.qpoints.get_kpoints_mesh() == ([4, 4, 4], [0.0, 0.0, 0.0])
    assert builder.matdyn.matdyn.kpoints.get_kpoints_mesh()[0] == [20, 20, 20]

    dense = builder.scf_dense.pw.parameters.get_dict()
    coarse = builder.scf.pw.parameters.get_dict()
    assert dense['SYSTEM']['la2f'] is True
    assert 'la2f' not in coarse['SYSTEM']
    assert dense['SYSTEM'].get('ibrav', 0) == 0  # aiida-qe's q2r force-constants parser reads ibrav=0 files only
    assert dense['SYSTEM']['ecutwfc'] == coarse['SYSTEM']['ecutwfc'] >= 50.0
    assert dense['SYSTEM']['ecutrho'] >= 4 * dense['SYSTEM']['ecutwfc']
    assert dense['SYSTEM'].get('nbnd') == coarse['SYSTEM'].get('nbnd')
    assert set(builder.scf.pw.pseudos) == {'S', 'H'}

    inputph = builder.ph.ph.parameters.get_dict()['INPUTPH']
    assert inputph['electron_phonon'] == 'interpolated'
    assert inputph['el_ph_nsigma'] == EL_PH_NSIGMA == 10
    assert inputph['el_ph_sigma'] == pytest.approx(0.005)
    assert builder.ph.ph.settings.get_dict()['PREPARE_FOR_EPW'] is True
    for namespace in ('q2r', 'matdyn'):
        parameters = builder[namespace][namespace].parameters.get_dict()['INPUT']
        assert parameters['la2f'] is True and parameters['el_ph_nsigma'] == 10
    assert builder.matdyn.matdyn.parameters.get_dict()['INPUT']['ndos'] >= 200
    assert builder.imaginary_threshold_cm.value == pytest.approx(20.0)


def test_builder_protocols_scale(fake_codes, pseudo_family):
    meshes = {}
    for protocol in ('fast', 'moderate', 'precise'):
        builder = ElectronPhononWorkChain.get_builder_from_protocol(
            fake_codes, h3s_structure(), protocol=protocol, pseudo_family=pseudo_family
        )
        meshes[protocol] = (
            builder.scf.kpoints.get_kpoints_mesh()[0][0],
            builder.ph.qpoints.get_kpoints_mesh()[0][0],
            builder.scf.pw.parameters['SYSTEM']['ecutwfc'],
        )
    assert meshes['fast'] < meshes['moderate'] < meshes['precise']


def test_builder_rejects_incommensurate_user_grids(fake_codes, al_pseudos):
    overrides = {
        'meta_parameters': {'kpoints_mesh': [8, 8, 8], 'kpoints_dense_mesh': [12, 12, 12], 'qpoints_mesh': [4, 4, 4]}
    }
    with pytest.raises(GridError, match='incommensurate grids'):
        ElectronPhononWorkChain.get_builder_from_protocol(
            fake_codes, al_structure(), overrides=overrides, pseudos=al_pseudos, cutoffs=(15, 60)
        )
    with pytest.raises(ValueError, match='explicit `cutoffs'):
        ElectronPhononWorkChain.get_builder_from_protocol(fake_codes, al_structure(), pseudos=al_pseudos)


def _al_builder(codes, pseudos, **meta):
    overrides = {
        'meta_parameters': {
            'kpoints_mesh': [8, 8, 8],
            'kpoints_dense_mesh': [16, 16, 16],
            'qpoints_mesh': [4, 4, 4],
            'matdyn_kpoints_mesh': [16, 16, 16],
            **meta,
        },
        'scf': {'pw': {'parameters': {'SYSTEM': {'degauss': 0.05}}}},
        'ph': {'ph': {'parameters': {'INPUTPH': {'tr2_ph': 1.0e-12}}}},
    }
    return ElectronPhononWorkChain.get_builder_from_protocol(
        codes, al_structure(), protocol='fast', overrides=overrides, pseudos=pseudos, cutoffs=(15, 60)
    )


def test_spec_validator_rejects_bad_inputs(fake_codes, al_pseudos):
    builder = _al_builder(fake_codes, al_pseudos)
    shifted = orm.KpointsData()
    shifted.set_kpoints_mesh([16, 16, 16], offset=[0.5, 0.5, 0.5])
    builder.scf_dense.kpoints = shifted
    with pytest.raises(ValueError, match='unshifted'):
        run_get_node(builder)

    builder = _al_builder(fake_codes, al_pseudos)
    incommensurate = orm.KpointsData()
    incommensurate.set_kpoints_mesh([12, 12, 12])
    builder.scf_dense.kpoints = incommensurate
    with pytest.raises(ValueError, match='not an integer multiple'):
        run_get_node(builder)

    builder = _al_builder(fake_codes, al_pseudos)
    parameters = builder.ph.ph.parameters.get_dict()
    parameters['INPUTPH']['el_ph_nsigma'] = 20
    builder.ph.ph.parameters = orm.Dict(parameters)
    with pytest.raises(ValueError, match='el_ph_nsigma'):
        run_get_node(builder)

    builder = _al_builder(fake_codes, al_pseudos)
    parameters = builder.scf.pw.parameters.get_dict()
    parameters['SYSTEM']['nbnd'] = 12
    builder.scf.pw.parameters = orm.Dict(parameters)
    dense = builder.scf_dense.pw.parameters.get_dict()
    dense['SYSTEM']['nbnd'] = 10
    builder.scf_dense.pw.parameters = orm.Dict(dense)
    with pytest.raises(ValueError, match='nbnd'):
        run_get_node(builder)

    builder = _al_builder(fake_codes, al_pseudos)
    parameters = builder.scf.pw.parameters.get_dict()
    parameters['SYSTEM']['ibrav'] = 2
    builder.scf.pw.parameters = orm.Dict(parameters)
    with pytest.raises(ValueError, match='ibrav'):
        run_get_node(builder)


# ----------------------------------------------------------------------------------------------- compute_tc
def test_compute_tc_recorded_al(al_matdyn_retrieved):
    results, node = compute_tc.run_get_node(al_matdyn_retrieved)
    assert node.is_finished_ok, node.exit_message
    tc = results['tc'].get_dict()
    assert 0.30 < tc['lambda'] < 0.50
    assert abs(tc['lambda'] - tc['lambda_qsum']) / tc['lambda_qsum'] < 0.05
    assert tc['lambda_a2f_vs_qsum_relative_difference'] < 0.05
    assert 250 < tc['omega_log_K'] < 450
    assert tc['sigma_plateau_found'] is True
    assert 0.01 <= tc['el_ph_sigma_ry'] <= 0.05
    for key in ('tc_mcmillan_K_mu0_10', 'tc_allen_dynes_K_mu0_10', 'tc_allen_dynes_K_mu0_13', 'tc_eliashberg_K_mu0_10'):
        assert tc[key] is not None and math.isfinite(tc[key]), key
    assert 0.2 < tc['tc_mcmillan_K_mu0_10'] < 3.0  # Al: ~1 K
    assert 0.2 < tc['tc_allen_dynes_K_mu0_10'] < 3.0
    assert tc['tc_allen_dynes_K_mu0_13'] < tc['tc_allen_dynes_K_mu0_10']
    assert tc['formula'] == 'allen_dynes' and tc['mustars'] == [0.10, 0.13]
    assert len(tc['per_sigma']) == EL_PH_NSIGMA
    assert all(row['lambda_qsum'] > 0 for row in tc['per_sigma'])

    # QE's own lambda beside ours, per sigma and at the chosen sigma
    for row in [tc, *tc['per_sigma']]:
        for key in ('lambda', 'lambda_qe_a2f', 'lambda_qsum', 'lambda_unclipped', 'lambda_clipping_change'):
            assert isinstance(row[key], float), key
    # sigma = 0.005 Ry is refused: clipping raises lambda from QE's 0.210 to 0.347 (+65 %)
    smallest = tc['per_sigma'][0]
    assert smallest['sigma_ry'] == pytest.approx(0.005) and smallest['sigma_eligible'] is False
    assert smallest['lambda'] == pytest.approx(0.347, abs=1e-3)
    assert smallest['lambda_qe_a2f'] == pytest.approx(0.210, abs=1e-3)
    assert smallest['lambda_clipping_change'] == pytest.approx(0.648, abs=1e-3)
    assert tc['sigma_refused_by_clipping'] == pytest.approx([0.005, 0.010, 0.015, 0.020])
    assert [row['sigma_eligible'] for row in tc['per_sigma']] == [False] * 4 + [True] * 6
    # the chosen sigma passes the test, and its lambda is within 2 % of QE's a2F.dos footer
    assert tc['clipping_tolerance'] == 0.02 and tc['lambda_clipping_change'] <= 0.02
    assert abs(tc['lambda'] / tc['lambda_qe_a2f'] - 1) < 0.02
    assert tc['el_ph_sigma_ry'] == pytest.approx(0.030)

    a2f = results['a2f']
    omega = a2f.get_x()[1]
    assert a2f.get_x()[2] == 'meV' and omega.max() == pytest.approx(45, abs=10)  # Al phonons end near 40 meV
    names = [name for name, _, _ in a2f.get_y()]
    assert names == ['a2F', 'lambda_cumulative']
    assert a2f.get_y()[1][1][-1] == pytest.approx(tc['lambda'], rel=0.02)
    assert np.all(a2f.get_y()[0][1] >= 0)


def test_compute_tc_no_states_at_fermi_level(data_dir):
    _, node = compute_tc.run_get_node(_insulator_folder(data_dir))
    assert node.exit_status == EXIT_NO_STATES_AT_FERMI_LEVEL
    assert 'Fermi level' in node.exit_message
    assert 'tc' not in node.outputs


def test_compute_tc_no_eligible_sigma(al_matdyn_retrieved):
    """A clipping tolerance no Al smearing meets: exit code 412 naming the change at every sigma, no `tc` output."""
    parameters = orm.Dict({'clipping_tolerance': 1e-6, 'eliashberg': False})
    _, node = compute_tc.run_get_node(al_matdyn_retrieved, parameters)
    assert node.exit_status == EXIT_NO_ELIGIBLE_SIGMA == 412
    assert 'at every smearing (0.005 Ry: 64.8%' in node.exit_message
    assert 'tc' not in node.outputs


def test_compute_tc_invalid_parameters(al_matdyn_retrieved):
    _, node = compute_tc.run_get_node(al_matdyn_retrieved, orm.Dict({'clipping_tolerance': 2}))
    assert node.exit_status == 312
    assert 'invalid Tc parameters: `clipping_tolerance` must be a relative tolerance in (0, 1]' in node.exit_message


def test_protocol_tc_parameters_are_the_defaults():
    import yaml

    from aiida_hydrides.core.epc_report import DEFAULT_TC_PARAMETERS

    path = pathlib.Path(ElectronPhononWorkChain.get_protocol_filepath())
    assert yaml.safe_load(path.read_text())['default_inputs']['tc_parameters'] == DEFAULT_TC_PARAMETERS


def test_compute_tc_missing_files():
    _, node = compute_tc.run_get_node(_folder_from_files({'a2F.dos1': 'x'}))
    assert not node.is_finished_ok
    assert 'lambda' in node.exit_message


# ----------------------------------------------------------------------------------------------- exit-code paths
def _instantiate(builder):
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    return instantiate_process(get_manager().get_runner(), ElectronPhononWorkChain, **builder._inputs(prune=True))


def test_workchain_no_states_exit_code(fake_codes, al_pseudos, data_dir):
    process = _instantiate(_al_builder(fake_codes, al_pseudos))
    process.ctx.matdyn = types.SimpleNamespace(outputs=types.SimpleNamespace(retrieved=_insulator_folder(data_dir)))
    exit_code = process.run_tc()
    assert exit_code.status == ElectronPhononWorkChain.exit_codes.ERROR_NO_STATES_AT_FERMI_LEVEL.status == 411
    assert 'Fermi level' in exit_code.message


def test_workchain_no_eligible_sigma_exit_code(fake_codes, al_pseudos, al_matdyn_retrieved):
    builder = _al_builder(fake_codes, al_pseudos)
    builder.tc_parameters = orm.Dict({'clipping_tolerance': 1e-6, 'eliashberg': False})
    process = _instantiate(builder)
    process.ctx.matdyn = types.SimpleNamespace(outputs=types.SimpleNamespace(retrieved=al_matdyn_retrieved))
    exit_code = process.run_tc()
    assert exit_code.status == ElectronPhononWorkChain.exit_codes.ERROR_NO_ELIGIBLE_SIGMA.status == 412
    assert 'changes lambda by more than 0.0001% at every smearing (0.005 Ry: 64.8%' in exit_code.message


def test_spec_validator_rejects_bad_tc_parameters(fake_codes, al_pseudos):
    builder = _al_builder(fake_codes, al_pseudos)
    builder.tc_parameters = orm.Dict({'clipping_tolerance': 2})
    with pytest.raises(ValueError, match=r'`tc_parameters`: `clipping_tolerance` must be a relative tolerance'):
        run_get_node(builder)


def test_workchain_unstable_exit_code(fake_codes, al_pseudos, data_dir):
    text = (data_dir / 'epc' / 'al.dyn2').read_text()
    head, tail = text.split('Diagonalizing the dynamical matrix')
    tail = tail.replace('3.512898 [THz] =     117.177649', '-12.087503 [THz] =    -403.200000', 1)
    retrieved = _folder_from_files(
        {
            'aiida.out': 'ph.x stdout',
            'DYN_MAT/dynamical-matrix-0': 'q list',
            'DYN_MAT/dynamical-matrix-1': text,
            'DYN_MAT/dynamical-matrix-2': head + 'Diagonalizing the dynamical matrix' + tail,
        }
    )
    process = _instantiate(_al_builder(fake_codes, al_pseudos))
    process.ctx.ph = types.SimpleNamespace(outputs=types.SimpleNamespace(retrieved=retrieved))
    exit_code = process.check_stability()
    assert exit_code.status == 410
    assert '-403.2 cm^-1' in exit_code.message and 'THz' in exit_code.message
    assert '(-0.2500, 0.2500, -0.2500)' in exit_code.message


# ----------------------------------------------------------------------------------------------- real chain
@pytest.mark.slow
def test_al_chain_real_qe(qe_codes, al_pseudos):
    """fcc Al, PHonon example03 settings: the whole chain with Debian QE (about a minute on 2 free cores)."""
    builder = _al_builder(qe_codes, al_pseudos)
    assert 'projwfc' in builder and builder.projwfc.code.label == qe_codes['projwfc'].label
    results, node = run_get_node(builder)
    assert node.is_finished_ok, f'{node.exit_status}: {node.exit_message}'
    # projwfc.x on the dense scf: free-electron-like Al has ~0.4 states/eV/atom at E_F, all of it on Al
    dos = results['projected_dos'].get_dict()
    assert 0.2 < dos['dos_per_atom_states_per_ev'] < 0.7
    assert dos['fraction_Al'] == pytest.approx(1.0) and dos['metallic'] is True
    tc = results['tc'].get_dict()
    assert abs(tc['lambda'] - tc['lambda_qsum']) / tc['lambda_qsum'] < 0.05
    assert 0.3 < tc['lambda'] < 0.5
    assert 0.2 < tc['tc_mcmillan_K_mu0_10'] < 3.0
    assert 0.2 < tc['tc_allen_dynes_K_mu0_10'] < 3.0
    stability = results['phonon_stability'].get_dict()
    assert stability['stable'] is True and stability['number_of_qpoints'] == 8
    assert all(row['lambda_qsum'] > 0 for row in tc['per_sigma'])


# ----------------------------------------------------------------------------------------------- sigma rule (pure)
def test_choose_sigma_plateau_rule():
    from aiida_hydrides.core.epc_report import choose_sigma

    sigmas = [0.005 * i for i in range(1, 11)]
    recorded_al = [0.2030, 0.3905, 0.4031, 0.3816, 0.3619, 0.3523, 0.3505, 0.3530, 0.3570, 0.3608]
    choice = choose_sigma(sigmas, recorded_al)
    assert choice.sigma_ry == pytest.approx(0.030) and choice.plateau_found is True

    # the histogram disagrees with the q-sum at 0.030 Ry: the next plateau sigma that agrees is taken
    a2f = list(recorded_al)
    a2f[5] *= 1.10
    choice = choose_sigma(sigmas, recorded_al, a2f)
    assert choice.sigma_ry == pytest.approx(0.035) and choice.agreement_ok is True

    # no plateau at all (lambda keeps falling by 20 % per step): flagged, smallest change taken
    falling = [4.88 * 0.8**i for i in range(10)]
    choice = choose_sigma(sigmas, falling)
    assert choice.plateau_found is False and 'no λ plateau' in choice.reason


def test_build_tc_report_never_nan(data_dir):
    from aiida_hydrides.core.epc_report import build_tc_report

    source = data_dir / 'qe_al_elph'
    report, spectrum = build_tc_report(
        {i: (source / f'a2F.dos{i}').read_text() for i in range(1, 11)},
        (source / 'lambda').read_text(),
        eliashberg=False,
    )
    values = [value for key, value in report.items() if key.startswith('tc_')]
    assert values and all(value is not None and math.isfinite(value) for value in values)
    assert all('.' not in key for key in report)  # storable in an AiiDA Dict
    assert len(spectrum['omega_ry']) == len(spectrum['a2f']) >= 200
