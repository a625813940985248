"""``aiida-hydrides setup``: profile, computer, codes and pseudopotential family, idempotent."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from aiida_hydrides.cli import cli


def test_setup_help():
    result = CliRunner().invoke(cli, ['setup', '--help'])
    assert result.exit_code == 0, result.output
    for option in ('--create-profile', '--computer', '--mpiprocs', '--pools', '--family', '--elements', '--kind'):
        assert option in result.output


def test_setup_in_the_test_profile(pseudo_family, require_qe):
    """A real `setup` in the loaded test profile: the second run reuses everything it made the first time."""
    runner = CliRunner()
    first = runner.invoke(cli, ['setup', '--mpiprocs', '2'])
    assert first.exit_code == 0, first.output
    assert f'family {pseudo_family.label}: 29 elements, covers 29 requested' in first.output
    assert 'setup: done' in first.output
    second = runner.invoke(cli, ['setup', '--mpiprocs', '2'])
    assert second.exit_code == 0, second.output
    assert 'created' not in second.output
    for short in ('pw', 'ph', 'q2r', 'matdyn', 'projwfc', 'ld1'):
        assert f'code {short}@localhost exists' in second.output
    assert ' H    60/480' in second.output  # H: the 60 Ry high-pressure floor, dual 8

    from aiida_hydrides.codes import default_pools, get_code

    assert default_pools(get_code('pw', 'localhost')) == 2


@pytest.mark.parametrize(
    'arguments, message',
    [
        (['--elements', 'H,Xx'], "unknown element symbol 'Xx'"),
        (['--family', 'SSSP/1.3/PBE/efficiency'], 'aiida-pseudo install'),
        (['--elements', 'H,Tc'], 'no pseudopotential for Tc'),
        (['--family', 'hydrides-test/tc', '--elements', 'H,Tc'], 'Tc.pbe-spn 1.0.0 does not work with PBE'),
    ],
)
def test_setup_errors(aiida_profile, arguments, message):
    result = CliRunner().invoke(cli, ['setup', *arguments])
    assert result.exit_code == 1, result.output
    assert message in result.output


@pytest.mark.slow
def test_setup_creates_a_profile(tmp_path, pseudo_family):
    """The Makefile's `aiida-hydrides setup --create-profile` on a machine without any AiiDA profile."""
    env = dict(os.environ, AIIDA_PATH=str(tmp_path))
    env.pop('AIIDA_PROFILE', None)
    command = [sys.executable, '-m', 'aiida_hydrides.cli', 'setup', '--elements', 'H,S']
    refused = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert refused.returncode == 1
    assert '--create-profile' in refused.stderr
    created = subprocess.run([*command, '--create-profile'], capture_output=True, text=True, env=env, check=False)
    assert created.returncode == 0, created.stdout + created.stderr
    assert 'profile hydrides: created (SQLite storage, ZeroMQ broker)' in created.stdout
    assert 'computer localhost: created' in created.stdout
    assert 'family PSL/1.0.0/PBE/US/hydrides: 2 elements' in created.stdout
    assert 'family PSL/1.0.0/PBE/US/hydrides: creating it' in created.stdout
    config = (tmp_path / '.aiida' / 'config.json').read_text()
    assert '"default_profile": "hydrides"' in config and 'core.zeromq' in config
