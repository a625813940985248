"""``SystemSearchWorkChain``: searches of a system's compositions in SearchCalculation jobs (run by
SearchBaseWorkChains), the minima that can pass the LAM hull promoted to tagged StructureData in a group (here without
elemental references: by the lower bound of E_hull, their enthalpy above the best of their composition), restart
without redoing finished compositions (across work chains and across the jobs of one batch), checks before any job;
and the CLI. The promotion by the hull itself: ``test_search_promotion.py``."""

import json
import pathlib

import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import WorkflowFactory

TINY_MODEL = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'lam' / 'tiny_se_e2_a.pth'
FAST_GROUPS = [75, 99, 123, 139, 191, 200, 221, 225, 229]
PARAMETERS = {'budget': 6, 'population': 6, 'max_atoms': 14, 'max_steps': 10, 'seed': 0, 'space_groups': FAST_GROUPS}


@pytest.fixture
def lam_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    return ensure_lam_code(aiida_localhost)


@pytest.fixture
def model_node():
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    return orm.SinglefileData(TINY_MODEL).store()


def _builder(code, model, compositions, system='Ca-Y', group_label=None, parameters=None, **inputs):
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    builder = SystemSearchWorkChain.get_builder()
    builder.system = orm.Str(system)
    builder.pressure = orm.Float(200.0)
    builder.model = model
    builder.code = code
    builder.parameters = orm.Dict(parameters or PARAMETERS)
    if compositions is not None:
        builder.compositions = orm.List(compositions)
    if group_label:
        builder.group_label = orm.Str(group_label)
    for key, value in inputs.items():
        builder[key] = value
    return builder


def _search_calcs(workchain):
    """The SearchCalculations of a system search (called by its SearchBaseWorkChains), oldest first."""
    calcs = [node for node in workchain.called_descendants if node.process_type == 'aiida.calculations:hydrides.search']
    return sorted(calcs, key=lambda calc: calc.ctime)


def test_entry_point_and_default_compositions():
    from aiida_hydrides.core.compositions import enumerate_compositions, parse_formula
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain, default_compositions, default_group_label

    assert WorkflowFactory('hydrides.search.system') is SystemSearchWorkChain
    assert default_group_label('Ca-Y', 200) == 'hydrides/search/Ca-Y/200GPa'
    formulas, excluded = default_compositions('Ca-Y', max_atoms=40)
    assert formulas[:3] == ['Ca', 'Y', 'H']
    assert {'CaH', 'CaH6', 'CaH10', 'Ca4H15', 'YH3', 'YH6', 'YH10', 'CaYH12', 'Ca3YH24'} <= set(formulas)
    assert 'CaY' not in formulas  # alloys only with include_alloys
    assert 'CaY' in default_compositions('Ca-Y', max_atoms=40, include_alloys=True)[0]
    ternaries = enumerate_compositions('Ca-Y', distinct=True)
    assert len(formulas) + len(excluded) == 3 + 2 * 55 + len(ternaries) == 586
    assert excluded and all(parse_formula(formula).num_atoms > 40 for formula in excluded)
    assert all(parse_formula(formula).num_atoms <= 40 for formula in formulas)
    assert len(set(formulas)) == len(formulas)
    # with two formula units per cell at least, a formula unit of more than 20 atoms does not fit 40
    paired, left_out = default_compositions('Ca-Y', max_atoms=40, formula_units=[2, 3])
    assert set(paired) | set(left_out) == set(formulas) | set(excluded)
    assert all(parse_formula(formula).num_atoms <= 20 for formula in paired)
    assert 'CaYH12' in paired and 'Ca3YH24' in left_out


def test_builder_from_protocol(aiida_profile, lam_code):
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    budgets = []
    for protocol in ('fast', 'moderate', 'precise'):
        builder = SystemSearchWorkChain.get_builder_from_protocol(
            lam_code, 'Ca-Y', TINY_MODEL, pressure='200GPa', protocol=protocol
        )
        parameters = builder.parameters.get_dict()
        assert parameters['pressure_gpa'] == 200.0 and builder.pressure.value == 200.0
        budgets.append(parameters['budget'])
    assert budgets == sorted(budgets) and len(set(budgets)) == 3
    builder = SystemSearchWorkChain.get_builder_from_protocol(
        lam_code,
        'Ca-Y',
        TINY_MODEL,
        pressure=150,
        protocol='fast',
        compositions=['CaYH12'],
        overrides={'parameters': {'budget': 7}, 'compositions_per_job': 3},
        group_label='my/group',
        options={'max_wallclock_seconds': 100},
    )
    assert builder.parameters['budget'] == 7 and builder.compositions_per_job == 3
    assert 'promote_ehull_mev' not in builder  # the port's default applies
    spec = SystemSearchWorkChain.spec().inputs
    assert spec['promote_ehull_mev'].default().value == 50.0  # the screening's LAM-hull threshold
    for value, expected in ((100, 100.0), (None, -1.0)):  # None: every minimum
        other = SystemSearchWorkChain.get_builder_from_protocol(
            lam_code, 'Ca-Y', TINY_MODEL, overrides={'promote_ehull_mev': value}
        )
        assert other.promote_ehull_mev.value == expected
    assert builder.options == {'max_wallclock_seconds': 100}
    assert builder.compositions.get_list() == ['CaYH12'] and builder.group_label.value == 'my/group'
    with pytest.raises(ValueError, match='unknown protocol'):
        SystemSearchWorkChain.get_builder_from_protocol(lam_code, 'Ca-Y', TINY_MODEL, protocol='slow')
    with pytest.raises(ValueError, match='kbar'):
        SystemSearchWorkChain.get_builder_from_protocol(lam_code, 'Ca-Y', TINY_MODEL, pressure=2000)


def test_search_group_query_and_restart(aiida_profile, lam_code, model_node):
    label = 'test/search/Ca-Y/200GPa'
    builder = _builder(
        lam_code,
        model_node,
        ['CaH6', 'YH6'],
        group_label=label,
        compositions_per_job=1,
        max_concurrent_jobs=2,
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    calcs = _search_calcs(node)
    assert len(calcs) == 2 and all(calc.is_finished_ok for calc in calcs)
    assert sorted(calc.inputs.compositions.get_list()[0] for calc in calcs) == ['CaH6', 'YH6']
    # one ArrayData of samples per job, with the whole budget of its composition
    for calc in calcs:
        assert calc.outputs.samples.base.attributes.get('n_structures') == PARAMETERS['budget']

    summary = results['summary'].get_dict()
    assert summary['group'] == label and summary['n_searched'] == 2 and summary['n_skipped'] == 0
    for formula in ('CaH6', 'YH6'):
        entry = summary['compositions'][formula]
        assert entry['status'] == 'finished' and entry['n_relaxations'] == 6
        assert entry['best_enthalpy_per_atom'] < 0 and entry['n_minima'] >= 1

    group = orm.load_group(label)
    minima = list(group.nodes)
    # no elemental reference: the minima within 50 meV/atom of the best of their composition (E_hull >= that)
    assert len(minima) == summary['n_promoted'] >= 2 and summary['n_minima'] >= summary['n_promoted']
    assert all(isinstance(structure, orm.StructureData) for structure in minima)
    assert all(structure.base.extras.get('hydrides')['e_above_best_mev'] <= 50.0 for structure in minima)
    for calc in calcs:
        relative = calc.outputs.minima.get_array('relative_mev')
        formula = calc.inputs.compositions.get_list()[0]
        assert summary['compositions'][formula]['n_promoted'] == int((relative <= 50.0).sum())
    extras = minima[0].base.extras.get('hydrides')
    for key in (
        'formula',
        'system',
        'pressure_gpa',
        'enthalpy_lam_ev',
        'space_group_number',
        'space_group_symbol',
        'natoms',
        'model',
        'e_above_best_mev',
        'calc_uuid',
    ):
        assert key in extras, key
    assert extras['system'] == 'Ca-Y' and extras['pressure_gpa'] == 200.0
    assert extras['model']['filename'] == 'tiny_se_e2_a.pth' and len(extras['model']['md5']) == 32
    # provenance: each minimum comes from the minima output of its job through the calcfunction
    creator = minima[0].creator
    assert creator.process_type == 'aiida.calculations:hydrides.search.minima'
    sources = [link.node for link in creator.base.links.get_incoming().all() if isinstance(link.node, orm.ArrayData)]
    assert extras['calc_uuid'] in {source.creator.uuid for source in sources}
    assert group.base.extras.get('hydrides')['finished'].keys() == {'CaH6', 'YH6'}

    # the minima are found by QueryBuilder on the extras, ordered by enthalpy
    query = orm.QueryBuilder().append(orm.Group, filters={'label': label}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        project=['extras.hydrides.formula', 'extras.hydrides.enthalpy_lam_ev'],
        filters={'extras.hydrides.pressure_gpa': 200.0, 'extras.hydrides.formula': 'CaH6'},
    )
    query.order_by({orm.StructureData: [{'extras.hydrides.enthalpy_lam_ev': {'order': 'asc', 'cast': 'f'}}]})
    rows = query.all()
    assert rows and all(formula == 'CaH6' for formula, _ in rows)
    assert [h for _, h in rows] == sorted(h for _, h in rows)
    assert rows[0][1] == pytest.approx(summary['compositions']['CaH6']['best_enthalpy_per_atom'])

    # restart: the finished compositions are skipped, only the new one is searched
    builder = _builder(
        lam_code, model_node, ['CaH6', 'YH6', 'CaYH12'], group_label=label, options={'max_wallclock_seconds': 900}
    )
    results, again = run_get_node(builder)
    assert again.is_finished_ok, (again.exit_status, again.exit_message)
    calcs = _search_calcs(again)
    assert len(calcs) == 1 and calcs[0].inputs.compositions.get_list() == ['CaYH12']
    assert calcs[0].get_option('max_wallclock_seconds') == 900
    summary2 = results['summary'].get_dict()
    assert summary2['skipped'] == ['CaH6', 'YH6'] and summary2['n_searched'] == 1
    assert summary2['compositions']['CaH6']['status'] == 'skipped'
    assert (
        summary2['compositions']['CaH6']['best_enthalpy_per_atom']
        == summary['compositions']['CaH6']['best_enthalpy_per_atom']
    )
    assert summary2['compositions']['CaYH12']['status'] == 'finished'
    assert (
        len(orm.load_group(label).nodes)
        == summary2['n_promoted']
        == summary['n_promoted'] + (summary2['compositions']['CaYH12']['n_promoted'])
    )


def test_batch_split_by_walltime_loses_and_redoes_nothing(aiida_profile, lam_code, model_node):
    """One batch whose job stops after each composition (max_wall_s tiny): every job's finished compositions are
    recorded and promoted, none is searched twice, and a new run skips them all."""
    label = 'test/search/Ca-Y/200GPa/walltime'
    builder = _builder(
        lam_code, model_node, ['CaH6', 'YH6'], group_label=label, parameters={**PARAMETERS, 'max_wall_s': 1e-3}
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    calcs = _search_calcs(node)
    assert [calc.inputs.compositions.get_list() for calc in calcs] == [['CaH6', 'YH6'], ['YH6']]
    assert [calc.exit_status for calc in calcs] == [400, 0]
    summary = results['summary'].get_dict()
    assert summary['n_searched'] == 2 and summary['n_failed'] == 0
    assert [summary['compositions'][formula]['calc_uuid'] for formula in ('CaH6', 'YH6')] == [
        calc.uuid for calc in calcs
    ]
    finished = orm.load_group(label).base.extras.get('hydrides')['finished']
    assert {formula: record['calc_uuid'] for formula, record in finished.items()} == {
        'CaH6': calcs[0].uuid,
        'YH6': calcs[1].uuid,
    }
    minima = orm.load_group(label).nodes
    assert len(minima) == summary['n_promoted'] >= 2
    assert sorted({structure.base.extras.get('hydrides')['formula'] for structure in minima}) == ['CaH6', 'YH6']

    _, again = run_get_node(_builder(lam_code, model_node, ['CaH6', 'YH6'], group_label=label))
    assert again.is_finished_ok and not _search_calcs(again)
    assert again.outputs.summary['skipped'] == ['CaH6', 'YH6']


@pytest.mark.parametrize(
    ('system', 'compositions', 'parameters', 'status', 'message'),
    [
        ('Xx-Y', ['YH6'], {}, 202, "'Xx'"),
        ('Ca-Y', ['XxH6'], {}, 202, "'Xx'"),
        ('Ca-Y', ['CaYH40'], {}, 203, 'x=40 is outside the hydrogen range'),
        ('Ca-Y', ['LaH10'], {}, 203, 'not part of the system Ca-Y'),
        ('Ca-Y', ['CaYH12'], {'max_atoms': 10}, 204, 'smaller than one formula unit of CaYH12'),
        ('Ca-Y', ['CaH6', 'CaYH12'], {'max_atoms': 24, 'formula_units': [2, 4]}, 204, 'none of formula_units=[2, 4]'),
        ('Ca-La', ['CaLaH12'], {}, 205, 'does not know La'),
        ('CaYH12', None, {}, 201, 'looks like a formula'),
        ('Ca-La', None, {}, 205, 'does not know La'),  # the default compositions of the system
    ],
)
def test_bad_inputs_exit_before_any_job(
    aiida_profile, lam_code, model_node, system, compositions, parameters, status, message
):
    builder = _builder(lam_code, model_node, compositions, system=system, parameters={**PARAMETERS, **parameters})
    _, node = run_get_node(builder)
    assert node.exit_status == status, node.exit_message
    assert message in node.exit_message
    assert not node.called


def test_port_validation(aiida_profile, lam_code, model_node):
    with pytest.raises(ValueError, match='unknown parameters'):
        run_get_node(_builder(lam_code, model_node, ['CaH6'], parameters={'bogus': 1}))
    with pytest.raises(ValueError, match='kbar'):
        builder = _builder(lam_code, model_node, ['CaH6'])
        builder.pressure = orm.Float(2000.0)
        run_get_node(builder)


def _cli(args):
    from click.testing import CliRunner

    from aiida_hydrides.cli.search import search

    return CliRunner().invoke(search, [str(arg) for arg in args])


def test_cli_search(aiida_profile, aiida_localhost):
    group = 'test/cli/Ca-Y/200GPa'
    result = _cli(
        [
            'Ca-Y',
            '--pressure',
            '200',
            '--model',
            TINY_MODEL,
            '--compositions',
            'YH6',
            '--budget',
            4,
            '--max-atoms',
            14,
            '--max-steps',
            10,
            '--group',
            group,
        ]
    )
    assert result.exit_code == 0, result.output
    assert 'launching SearchBaseWorkChain' in result.output and 'finished' in result.output
    assert 'composition' in result.output and 'best H (eV/atom)' in result.output
    line = next(row for row in result.output.splitlines() if row.startswith('YH6 '))
    assert 'finished' in line and line.split()[-3] == '4'  # relaxations, minima, minima in the group
    assert len(orm.load_group(group).nodes) >= 1

    # again, as JSON: nothing left to do
    result = _cli(
        [
            'Ca-Y',
            '--pressure',
            '200',
            '--model',
            TINY_MODEL,
            '--compositions',
            'YH6',
            '--budget',
            4,
            '--max-atoms',
            14,
            '--max-steps',
            10,
            '--group',
            group,
            '--json',
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['compositions']['YH6']['status'] == 'skipped' and data['n_searched'] == 0


def test_cli_errors(aiida_profile, aiida_localhost, tmp_path):
    result = _cli(['Ca-Y', '--model', tmp_path / 'missing.pth'])
    assert result.exit_code == 2 and 'does not exist' in result.output
    result = _cli(['Ca-Y', '--pressure', '2000', '--model', TINY_MODEL])
    assert result.exit_code == 2 and 'kbar' in result.output
    result = _cli(['Ca-La', '--model', TINY_MODEL, '--compositions', 'CaLaH12', '--budget', 2])
    assert result.exit_code == 2 and 'does not know La' in result.output and "'--model'" in result.output
    result = _cli(['Ca-Y', '--model', TINY_MODEL, '--formula-units', 'two'])
    assert result.exit_code == 2 and 'whole numbers' in result.output
    result = _cli(
        [
            'Ca-Y',
            '--model',
            TINY_MODEL,
            '--compositions',
            'CaYH12',
            '--max-atoms',
            20,
            '--formula-units',
            '2,4',
            '--budget',
            2,
        ]
    )
    assert (
        result.exit_code == 2 and 'none of formula_units=[2, 4]' in result.output and "'--max-atoms'" in result.output
    )
