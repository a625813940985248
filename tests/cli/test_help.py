"""Every command of the ``aiida-hydrides`` CLI has working ``--help`` text."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from aiida_hydrides.cli import COMMANDS, cli


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(cli, ['--help'])
    assert result.exit_code == 0, result.output
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_command_help(name):
    result = CliRunner().invoke(cli, [name, '--help'])
    assert result.exit_code == 0, result.output
    assert 'Usage:' in result.output
    # every option carries a help text
    command = cli.get_command(None, name)
    for param in command.params:
        if param.param_type_name == 'option' and param.name != 'help':
            assert param.help, f'option {param.name} of `{name}` has no help text'


def test_console_script_runs():
    """The installed entry point works as a program, not only inside click's runner."""
    result = subprocess.run(
        [sys.executable, '-m', 'aiida_hydrides.cli', '--help'], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert 'compositions' in result.stdout
