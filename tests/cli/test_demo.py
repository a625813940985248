"""The demo command: its pure-Python steps run without an AiiDA profile and print the expected figures; its QE steps
reuse finished calculations on a second run; its nodes go to the demo group; their graphs render."""

import pathlib

import pytest
from click.testing import CliRunner

from aiida_hydrides.cli.demo import demo


def test_demo_pure_python_steps():
    result = CliRunner().invoke(demo, ['--skip-qe'])
    assert result.exit_code == 0, result.output
    assert '576 compositions' in result.output and '473 distinct' in result.output
    assert 'Im-3m (229)' in result.output  # CaH6 prototype
    assert 'Convex hull at 200 GPa' in result.output and 'on the hull' in result.output
    assert 'illustrative' in result.output.split('3. Convex hull')[1]  # the enthalpies are not calculated ones
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


def _qe_calculations():
    """The QE calculations of the profile: (all, those that ran, not copied from the cache)."""
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.CalcJobNode, filters={'process_type': {'like': 'aiida.calculations:quantumespresso.%'}}
    )
    nodes = query.all(flat=True)
    return len(nodes), sum(1 for node in nodes if not node.base.caching.is_created_from_cache)


@pytest.mark.slow
def test_demo_qe_step_reuses_finished_calculations(aiida_localhost, pseudo_family, require_qe, capsys):
    """Step 5 twice: the second run creates no QE calculation that runs (each is reused from the cache), and every
    node of both runs, the input structures included, is in the demo group."""
    from aiida import orm

    from aiida_hydrides.cli.demo import DEMO_GROUP, _show_dft_enthalpy
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    _show_dft_enthalpy(200.0, computer=aiida_localhost)
    first = orm.QueryBuilder().append(DftEnthalpyWorkChain).order_by({DftEnthalpyWorkChain: {'id': 'desc'}}).first()[0]
    assert first.is_finished_ok
    total, ran = _qe_calculations()
    capsys.readouterr()

    _show_dft_enthalpy(200.0, computer=aiida_localhost)
    output = capsys.readouterr().out
    second = orm.QueryBuilder().append(DftEnthalpyWorkChain).order_by({DftEnthalpyWorkChain: {'id': 'desc'}}).first()[0]
    assert second.pk != first.pk and second.is_finished_ok
    assert _qe_calculations()[1] == ran, 'the second run ran a QE calculation again'
    assert _qe_calculations()[0] > total
    assert 'QE calculations reused from earlier runs' in output
    assert second.outputs.enthalpy_per_atom.value == pytest.approx(first.outputs.enthalpy_per_atom.value)

    group = {node.pk for node in orm.load_group(DEMO_GROUP).nodes}
    for workchain in (first, second):
        assert workchain.pk in group and workchain.inputs.structure.pk in group
        assert {node.pk for node in workchain.called_descendants} <= group
        assert workchain.outputs.relaxed_structure.pk in group
    assert pseudo_family.get_pseudo('S').pk not in group  # made before the demo


def test_verdi_node_graph_renders_a_demo_work_chain(aiida_localhost, tmp_path):
    """`verdi node graph generate` renders the provenance graph of a demo work chain (the search of step 7 on a small
    budget) with Graphviz, which `make setup` installs."""
    import os
    import shutil
    import subprocess
    import sys

    from aiida import get_profile, orm

    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.models import seed_model_path
    from aiida_hydrides.processes import run_interruptible
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    if shutil.which('dot') is None:
        pytest.skip('the Graphviz `dot` program is not installed (make setup installs it)')
    aiida_localhost.set_minimum_job_poll_interval(1.0)
    builder = SystemSearchWorkChain.get_builder_from_protocol(
        ensure_lam_code(aiida_localhost),
        'Ca-Y',
        str(seed_model_path()),
        protocol='fast',
        overrides={'parameters': {'budget': 2, 'population': 2, 'max_atoms': 7, 'max_steps': 5}},
        compositions=['YH6'],
        group_label='test/demo/graph',
    )
    node = run_interruptible(builder)
    assert node.is_finished_ok, node.exit_message

    output = tmp_path / 'graph.png'
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    result = subprocess.run(
        [str(verdi), '-p', get_profile().name, 'node', 'graph', 'generate', str(node.pk), '-f', 'png', '-O', output],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.is_file() and output.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert orm.load_node(node.pk).is_finished_ok
