"""The demo command: its pure-Python steps run without an AiiDA profile and print the expected figures."""

from click.testing import CliRunner

from aiida_hydrides.cli.demo import demo


def test_demo_pure_python_steps():
    result = CliRunner().invoke(demo, ['--skip-qe'])
    assert result.exit_code == 0, result.output
    assert '576 compositions' in result.output and '473 distinct' in result.output
    assert 'Im-3m (229)' in result.output  # CaH6 prototype
    assert 'Convex hull at 200 GPa' in result.output and 'on the hull' in result.output
    assert 'Quantum ESPRESSO' not in result.output.split('3. Convex hull')[1]


def test_demo_search_step(aiida_localhost, capsys):
    """Step 7: a real search of CaH6 and YH6 with the seed model; the minima are found by their extras, and a second
    run of the step skips the finished compositions."""
    from aiida import orm

    from aiida_hydrides.cli.demo import DEMO_SEARCH_GROUP, _show_search

    _show_search(200.0, computer=aiida_localhost)
    output = capsys.readouterr().out
    assert 'CaH6' in output and 'YH6' in output and 'QueryBuilder, minima with space group > 75' in output
    group = orm.load_group(DEMO_SEARCH_GROUP)
    formulas = {node.base.extras.get('hydrides')['formula'] for node in group.nodes}
    assert formulas == {'CaH6', 'YH6'}
    count = len(group.nodes)
    _show_search(200.0, computer=aiida_localhost)
    assert 'skipped' in capsys.readouterr().out
    assert len(orm.load_group(DEMO_SEARCH_GROUP).nodes) == count
