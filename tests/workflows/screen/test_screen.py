"""``hydrides.screen`` for real on a small Ca-Y-H group: the LAM stages with the shipped seed model, the DFT stage with
pw.x (fast protocol) on the three structures of the Y-H subsystem of the survivor; then once more, reusing it all."""

import pytest
from aiida import orm
from aiida.engine import run_get_node


def _builder(lam_code, group, pw_code=None, mpiprocs=1, **overrides):
    from aiida_hydrides.models import seed_model_path
    from aiida_hydrides.workflows.screen.base import ScreenWorkChain

    return ScreenWorkChain.get_builder_from_protocol(
        lam_code,
        group,
        pw_code=pw_code,
        model=seed_model_path(),
        protocol='fast',
        # DFT at k spacing 0.5/Å: the cascade, not the enthalpies (YH6 stays on the hull of Y and H)
        overrides={'dft': {'max_concurrent': 1, 'overrides': {'kpoints_distance': 0.5}}, **overrides},
        dft_options={'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}},
    )


def _count(cls) -> int:
    return orm.QueryBuilder().append(cls).count()


@pytest.mark.slow
@pytest.mark.qe
def test_screen_cascade(aiida_localhost, qe_codes, qe_resources, pseudo_family, screen_cells, store_group):
    from aiida_hydrides.calculations.lam_phonons import LamPhononsCalculation
    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    lam_code = ensure_lam_code(aiida_localhost)
    nodes = store_group('test/screen/Ca-Y/200GPa', screen_cells)
    builder = _builder(lam_code, 'test/screen/Ca-Y/200GPa', qe_codes['pw'], qe_resources['num_mpiprocs_per_machine'])
    builder.survivors_group = orm.Str('test/screen/survivors')
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    funnel = node.outputs.funnel.get_dict()
    counts = [(stage['stage'], stage['entering'], stage['leaving']) for stage in funnel['stages']]
    assert counts == [
        ('lam_hull', 4, 3),
        ('symmetry', 3, 2),
        ('atomic_h', 2, 2),
        ('lam_phonons', 2, 1),
        ('dft_hull', 1, 1),
    ], counts
    assert funnel['stages'][3]['jobs'] == 1
    assert funnel['stages'][4]['dft_structures'] == 3  # H, Y and the survivor: Ca is outside its subsystem
    assert all(stage['wall_s'] is not None for stage in funnel['stages'])

    # every candidate carries its verdicts; QueryBuilder finds them by the stage they failed
    def screen(name):
        return orm.load_node(nodes[name].pk).base.extras.get('hydrides')['screen']

    assert screen('CaH6-mol')['failed_stage'] == 'lam_hull'
    assert screen('CaH6-mol')['atomic_h']['passed'] is False  # the cheap stages are evaluated for every candidate
    assert screen('CaYH12-P1')['failed_stage'] == 'symmetry'
    assert screen('CaH6-Im-3m')['failed_stage'] == 'lam_phonons'
    assert screen('CaH6-Im-3m')['lam_phonons']['value'] > 3.0
    survivor = screen('YH6-Im-3m')
    assert survivor['passed'] is True and survivor['failed_stage'] is None
    assert survivor['lam_phonons']['value'] <= 3.0
    assert survivor['dft_hull']['value'] <= 50.0
    # the relaxed structures record the overrides with the protocol (a relaxation is reused only with the same ones)
    relaxed = orm.load_node(uuid=screen('YH6-Im-3m')['dft_hull']['dft_structure_uuid'])
    assert relaxed.base.extras.get('hydrides')['protocol']['overrides'] == {'kpoints_distance': 0.5}
    assert survivor['lam_phonons']['force_constants_uuid']
    assert 'screen' not in (orm.load_node(nodes['Ca'].pk).base.extras.get('hydrides'))  # references are not screened
    failed_phonons = (  # among this test's structures: other tests of the session screen structures too
        orm.QueryBuilder()
        .append(orm.Group, filters={'label': 'test/screen/Ca-Y/200GPa'}, tag='group')
        .append(
            orm.StructureData,
            with_group='group',
            filters={'extras.hydrides.screen.failed_stage': 'lam_phonons'},
            project='uuid',
        )
        .all(flat=True)
    )
    assert failed_phonons == [nodes['CaH6-Im-3m'].uuid]

    # the survivors: an output namespace and a group
    assert [n.uuid for n in node.outputs.survivors.values()] == [nodes['YH6-Im-3m'].uuid]
    assert [n.uuid for n in orm.load_group('test/screen/survivors').nodes] == [nodes['YH6-Im-3m'].uuid]

    # both phase diagrams, the LAM-vs-DFT agreement and the prototypes
    lam = node.outputs.lam_phase_diagram.get_dict()
    assert lam['method'] == 'lam' and lam['n_entries'] == 7 and set(lam['vertices']) == {'H', 'Ca', 'Y', 'CaH6', 'YH6'}
    dft = node.outputs.dft_phase_diagram.get_dict()
    assert dft['method'] == 'dft' and dft['n_entries'] == 3
    comparison = node.outputs.lam_vs_dft.get_dict()
    assert comparison['n'] == 1 and comparison['mae_mev'] is not None  # YH6: the elements are 0 in both
    assert comparison['formation']['n'] == 1 and len(comparison['pairs']) == 3
    prototypes = node.outputs.prototypes.get_dict()
    labels = {prototypes['candidates'][key]['label'] for key in prototypes['candidates']}
    assert 'MH6-Im-3m' in labels
    for name in ('CaH6-Im-3m', 'YH6-Im-3m'):  # one prototype, whatever the metal
        sodalite = prototypes['candidates'][f'c{nodes[name].pk}']
        assert sodalite['label'] == 'MH6-Im-3m' and sodalite['known'] == 'CaH6' and sodalite['novel'] is False
    assert survivor['prototype'] == 'MH6-Im-3m' and survivor['novel'] is False

    # again: the phonons and DFT enthalpies are reused, the group does not grow
    phonon_jobs, dft_runs = _count(LamPhononsCalculation), _count(DftEnthalpyWorkChain)
    builder = _builder(lam_code, 'test/screen/Ca-Y/200GPa', qe_codes['pw'], qe_resources['num_mpiprocs_per_machine'])
    builder.survivors_group = orm.Str('test/screen/survivors')
    _, again = run_get_node(builder)
    assert again.is_finished_ok, (again.exit_status, again.exit_message)
    assert (_count(LamPhononsCalculation), _count(DftEnthalpyWorkChain)) == (phonon_jobs, dft_runs)
    again_counts = [(s['stage'], s['entering'], s['leaving']) for s in again.outputs.funnel.get_dict()['stages']]
    assert again_counts == counts
    assert again.outputs.funnel.get_dict()['stages'][3]['reused'] == 2
    assert len(orm.load_group('test/screen/survivors').nodes) == 1

    # the command line prints the funnel (the phonons reused: no job runs)
    from click.testing import CliRunner

    from aiida_hydrides.cli import cli
    from aiida_hydrides.models import seed_model_path

    args = ['screen', 'test/screen/Ca-Y/200GPa', '--no-dft', '--model', str(seed_model_path())]
    args += ['--survivors-group', 'test/screen/survivors-lam', '--computer', aiida_localhost.label]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert 'lam_phonons  imaginary mode <= 3 THz' in result.output
    assert '1 survivor in group' in result.output and 'MH6-Im-3m (known: CaH6)' in result.output
    assert _count(LamPhononsCalculation) == phonon_jobs


@pytest.mark.parametrize(
    ('setup', 'status', 'message'),
    [
        ('mixed', 203, 'different pressures: 150 GPa (1), 200 GPa (3)'),
        ('no_hydrides', 205, 'holds no hydride to screen'),
        ('no_references', 206, 'has none of Ca'),
        ('lithium', 209, 'does not know Li'),
        ('missing_group', 201, "there is no group 'test/screen/none'"),
    ],
)
def test_screen_refuses_bad_groups(aiida_localhost, screen_cells, store_group, setup, status, message):
    from aiida_hydrides.calculations.lam_phonons import LamPhononsCalculation
    from aiida_hydrides.codes import ensure_lam_code

    label = f'test/screen/bad/{setup}'
    cells = {name: screen_cells[name] for name in ('H', 'Ca', 'CaH6-Im-3m')}
    if setup == 'mixed':
        store_group(label, cells)
        store_group(label, {'CaH6-mol': screen_cells['CaH6-mol']}, pressure=150.0)
    elif setup == 'no_hydrides':
        store_group(label, {name: screen_cells[name] for name in ('H', 'Ca')})
    elif setup == 'no_references':
        store_group(label, {name: screen_cells[name] for name in ('H', 'CaH6-Im-3m')})
    elif setup == 'lithium':
        atoms, enthalpy = screen_cells['CaH6-Im-3m']
        lithium = atoms.copy()
        lithium.set_chemical_symbols(['Li'] + ['H'] * 6)
        store_group(label, {**cells, 'Li': (lithium[:1], -1.0), 'LiH6': (lithium, enthalpy)}, system='Ca-Li')
    else:
        label = 'test/screen/none'
    before = _count(LamPhononsCalculation)
    _, node = run_get_node(_builder(ensure_lam_code(aiida_localhost), label))
    assert node.exit_status == status
    assert message in node.exit_message
    assert _count(LamPhononsCalculation) == before


def test_unknown_threshold_and_dft_override_refused_at_the_port(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.workflows.screen.base import ScreenWorkChain

    builder = ScreenWorkChain.get_builder_from_protocol(ensure_lam_code(aiida_localhost), 'any')
    with pytest.raises(ValueError, match=r"thresholds: unknown parameters \['ehull_max'\]"):
        builder.thresholds = orm.Dict({'ehull_max': 10.0})
    with pytest.raises(ValueError, match='dft.overrides: .*kpoint_distance'):
        builder.dft.overrides = orm.Dict({'kpoint_distance': 0.4})
    overrides = {'dft': {'overrides': {'kpoints_distance': 0.4}}, 'search_parameters': {'formula_units': [2]}}
    builder = ScreenWorkChain.get_builder_from_protocol(ensure_lam_code(aiida_localhost), 'any', overrides=overrides)
    assert builder.dft.overrides.get_dict() == {'kpoints_distance': 0.4}
    assert builder.search_parameters.get_dict() == {'formula_units': [2]}


def test_screen_searches_missing_references_and_resumes_phonons(aiida_localhost, screen_cells, store_group):
    """LAM stages only (no pw.x code), on a group without Y: with ``search_missing`` the work chain searches Y into
    the group first; then phonon jobs that stop at their time limit after one candidate are followed by a job for the
    rest, and no candidate is computed twice."""
    from aiida_hydrides.calculations.lam_phonons import LamPhononsCalculation
    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    store_group('test/screen/walltime', {name: cell for name, cell in screen_cells.items() if name != 'Y'})
    phonons = {'parameters': {'max_wall_s': 0.001}}  # merged into the protocol's
    builder = _builder(ensure_lam_code(aiida_localhost), 'test/screen/walltime', phonons=phonons, search_missing=True)
    builder.search_parameters = orm.Dict({'budget': 6, 'population': 3, 'max_atoms': 2, 'max_steps': 60})
    _, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    searches = [child for child in node.called if child.process_class is SystemSearchWorkChain]
    assert len(searches) == 1 and searches[0].is_finished_ok
    assert searches[0].inputs.compositions.get_list() == ['Y']
    formulas = {n.base.extras.get('hydrides')['formula'] for n in orm.load_group('test/screen/walltime').nodes}
    assert 'Y' in formulas
    funnel = node.outputs.funnel.get_dict()
    assert [stage['stage'] for stage in funnel['stages']] == ['lam_hull', 'symmetry', 'atomic_h', 'lam_phonons']
    assert funnel['stages'][3]['entering'] == 2 and funnel['stages'][3]['leaving'] == 1
    assert funnel['stages'][3]['jobs'] == 2
    jobs = [child for child in node.called if child.process_class is LamPhononsCalculation]
    assert [job.exit_status for job in jobs] == [400, 0]
    computed = [key for job in jobs for key in job.outputs.results.get_dict()]
    assert sorted(computed) == sorted(set(computed)) and len(computed) == 2
    assert [n.label for n in node.outputs.survivors.values()] == ['YH6-Im-3m']
    assert 'dft_phase_diagram' not in node.outputs
