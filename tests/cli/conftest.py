"""Fixtures of the CLI tests: a click runner, and a profile with the ZeroMQ broker whose daemon can be started."""

import os
import pathlib
import shutil
import sys
import time

import pytest
from click.testing import CliRunner

DATA_DIR = pathlib.Path(__file__).resolve().parents[1] / 'data'
TINY_MODEL = DATA_DIR / 'lam' / 'tiny_se_e2_a.pth'
H3S_CIF = DATA_DIR / 'structures' / 'H3S_Im-3m.cif'


@pytest.fixture
def invoke():
    """Invoke ``aiida-hydrides ARGS...`` in click's runner; return the result (stdout and stderr kept apart)."""
    from aiida_hydrides.cli import cli

    runner = CliRunner()

    def _invoke(*args):
        return runner.invoke(cli, [str(arg) for arg in args])

    return _invoke


@pytest.fixture
def tiny_model():
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    return TINY_MODEL


@pytest.fixture
def daemon_profile(aiida_config, aiida_profile_factory, monkeypatch):
    """A temporary profile like the default one of aiida-hydrides (SQLite storage, aiida-core's ZeroMQ broker, which
    the daemon runs), loaded for the test, with its ``localhost`` computer; the previous profile is restored after.

    The daemon is not started: use :func:`started_daemon`.
    """
    from aiida_hydrides.profile import ensure_localhost

    # the daemon starts `verdi` by the path found when aiida was imported: the one of this virtual environment
    bin_dir = pathlib.Path(sys.executable).parent
    monkeypatch.setenv('PATH', f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}')
    verdi = bin_dir / 'verdi' if (bin_dir / 'verdi').exists() else shutil.which('verdi')
    if verdi is None:
        pytest.fail('the `verdi` executable of aiida-core is not installed')
    monkeypatch.setattr('aiida.engine.daemon.client.VERDI_BIN', str(verdi))

    with aiida_profile_factory(aiida_config, broker_backend='core.zeromq') as profile:
        aiida_config.set_option('runner.poll.interval', 1, scope=profile.name)
        aiida_config.store()
        ensure_localhost('localhost', mpiprocs=1)
        yield profile


@pytest.fixture
def started_daemon(daemon_profile):
    """The daemon client of :func:`daemon_profile` with one worker running; the daemon is stopped at the end."""
    from aiida.engine.daemon.client import DaemonException, get_daemon_client

    client = get_daemon_client(daemon_profile.name)
    client.start_daemon(number_workers=1)
    try:
        deadline = time.monotonic() + 60
        while not client.is_daemon_running and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.is_daemon_running, f'the daemon did not start; see {client.daemon_log_file}'
        yield client
    finally:
        try:
            client.stop_daemon(wait=True)
        except DaemonException:
            pass
        deadline = time.monotonic() + 60
        while client.is_daemon_running and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not client.is_daemon_running, 'the daemon did not stop'
