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
