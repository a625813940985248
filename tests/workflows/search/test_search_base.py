"""``SearchBaseWorkChain``: SearchCalculation jobs restarted on the compositions a job did not finish (here: a worker
time limit so short that each job finishes one composition), the outputs of every job exposed; and the protocol."""

import pytest
import test_search_system as system_tests
from aiida import orm
from aiida.engine import run_get_node
from aiida.plugins import WorkflowFactory

TINY_MODEL, PARAMETERS = system_tests.TINY_MODEL, system_tests.PARAMETERS
lam_code, model_node = system_tests.lam_code, system_tests.model_node  # the fixtures of the system search tests


def test_entry_point_and_protocol(aiida_profile, lam_code):
    from aiida_hydrides.workflows.search.base import SearchBaseWorkChain

    assert WorkflowFactory('hydrides.search.base') is SearchBaseWorkChain
    budgets = []
    for protocol in ('fast', 'moderate', 'precise'):
        builder = SearchBaseWorkChain.get_builder_from_protocol(
            lam_code, ['CaH6'], TINY_MODEL, pressure='150GPa', protocol=protocol
        )
        parameters = builder.search.parameters.get_dict()
        assert parameters['pressure_gpa'] == 150.0
        budgets.append(parameters['budget'])
    assert budgets == sorted(budgets) and len(set(budgets)) == 3
    builder = SearchBaseWorkChain.get_builder_from_protocol(
        lam_code,
        ['CaH6', {'Y': 1, 'H': 6}],
        TINY_MODEL,
        protocol='fast',
        overrides={'search': {'parameters': {'budget': 7}}, 'max_iterations': 3},
        options={'max_wallclock_seconds': 100},
    )
    assert builder.search.parameters['budget'] == 7 and builder.max_iterations.value == 3
    assert builder.search.compositions.get_list() == ['CaH6', {'Y': 1, 'H': 6}]
    assert builder.search.metadata.options.max_wallclock_seconds == 100
    assert builder.search.metadata.options.resources == {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    with pytest.raises(ValueError, match='unknown protocol'):
        SearchBaseWorkChain.get_builder_from_protocol(lam_code, ['CaH6'], TINY_MODEL, protocol='slow')
    with pytest.raises(ValueError, match='does not exist'):
        SearchBaseWorkChain.get_builder_from_protocol(lam_code, ['CaH6'], TINY_MODEL.with_name('missing.pth'))
    handlers = [handler.__name__ for handler in SearchBaseWorkChain.get_process_handlers()]
    assert {'handle_out_of_walltime', 'handle_out_of_memory', 'handle_unknown_failure'} <= set(handlers)


def test_restart_after_walltime_keeps_finished(aiida_profile, lam_code, model_node):
    """Each job stops after one composition (max_wall_s tiny): the restarts search only the compositions left, and
    the outputs of every job are exposed."""
    from aiida_hydrides.workflows.search.base import SearchBaseWorkChain

    builder = SearchBaseWorkChain.get_builder()
    builder.search.code = lam_code
    builder.search.model = model_node
    builder.search.compositions = orm.List(['CaH6', {'Y': 1, 'H': 6}, 'CaYH12'])
    builder.search.parameters = orm.Dict({**PARAMETERS, 'pressure_gpa': 200.0, 'max_wall_s': 1e-3})
    builder.search.metadata.options.max_wallclock_seconds = 600
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    calcs = sorted(node.called, key=lambda calc: calc.ctime)
    assert [calc.inputs.compositions.get_list() for calc in calcs] == [
        ['CaH6', {'Y': 1, 'H': 6}, 'CaYH12'],
        ['YH6', 'CaYH12'],
        ['CaYH12'],
    ]
    assert [calc.exit_status for calc in calcs] == [400, 400, 0]
    # each composition was searched by exactly one job, and its samples are in that job's output
    searched = [sorted(set(calc.outputs.samples.get_array('formula').tolist())) for calc in calcs]
    assert searched == [['CaH6'], ['YH6'], ['CaYH12']]
    statuses = [
        [(entry['formula'], entry['status']) for entry in calc.outputs.summary['compositions']] for calc in calcs
    ]
    assert statuses[0] == [('CaH6', 'finished'), ('YH6', 'not_started'), ('CaYH12', 'not_started')]
    assert statuses[1] == [('YH6', 'finished'), ('CaYH12', 'not_started')]
    assert statuses[2] == [('CaYH12', 'finished')]

    # the work chain exposes every job's samples, minima and summary under its call link label
    labels = [f'iteration_{n:02d}' for n in (1, 2, 3)]
    for name in ('samples', 'minima', 'summary'):
        assert sorted(results[name]) == labels
    assert [results['summary'][label].creator.uuid for label in labels] == [calc.uuid for calc in calcs]
    finished = [
        entry['formula']
        for label in labels
        for entry in results['summary'][label]['compositions']
        if entry['status'] == 'finished'
    ]
    assert finished == ['CaH6', 'YH6', 'CaYH12']
    assert sum(results['samples'][label].base.attributes.get('n_structures') for label in labels) == 18
