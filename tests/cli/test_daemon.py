"""``--daemon``: the work chain is submitted to the AiiDA daemon, the command returns at once with the PK and the
``verdi process`` commands that follow it, and the daemon runs it to the end. The profile is like the default one of
aiida-hydrides: SQLite storage and aiida-core's ZeroMQ broker, which runs inside the daemon."""

import re
import time

import pytest
from aiida import orm

#: a cheap search: one composition, 4 relaxations of at most 10 steps with the tiny test model
SEARCH_ARGS = ['--protocol', 'fast', '--compositions', 'YH6', '--budget', 4, '--max-atoms', 14, '--max-steps', 10]
#: how long the daemon may take to run the search (seconds)
TIMEOUT = 600


def _process_state(pk):
    """The process state of ``pk`` read from the database now (the daemon worker writes it)."""
    from aiida.manage import get_manager

    storage = get_manager().get_profile_storage()
    session = getattr(storage, 'get_session', None)
    if session is not None:
        session().expire_all()
        session().commit()
    node = orm.load_node(pk)
    return node.process_state.value if node.process_state else None, node


def _daemon_log(client, lines=60):
    try:
        with open(client.daemon_log_file, encoding='utf-8', errors='replace') as handle:
            return ''.join(handle.readlines()[-lines:])
    except OSError as exception:
        return f'(no daemon log: {exception})'


@pytest.mark.slow
def test_search_daemon_returns_at_once_and_the_daemon_finishes(invoke, started_daemon, tiny_model):
    group = 'test/cli/daemon/Ca-Y/200GPa'
    start = time.monotonic()
    result = invoke(
        'search', 'Ca-Y', '--pressure', '200', '--model', tiny_model, *SEARCH_ARGS, '--group', group, '--daemon'
    )
    elapsed = time.monotonic() - start
    assert result.exit_code == 0, result.output
    assert 'Traceback' not in result.output and 'Warning' not in result.stderr
    match = re.search(r'Submitted SystemSearchWorkChain<(\d+)>', result.stdout)
    assert match, result.stdout
    pk = int(match.group(1))
    for command in ('status', 'show', 'report'):
        assert re.search(rf'verdi( -p \S+)? process {command} {pk}\b', result.stdout), result.stdout
    assert 'launching SearchCalculation' not in result.stdout  # no progress lines: nothing ran in this process

    state, node = _process_state(pk)
    assert elapsed < 60, f'the command took {elapsed:.0f} s to return'
    assert state in (None, 'created', 'waiting', 'running'), f'the work chain was {state} when the command returned'
    assert node.process_label == 'SystemSearchWorkChain'

    deadline = time.monotonic() + TIMEOUT
    while state not in ('finished', 'excepted', 'killed'):
        if time.monotonic() > deadline:
            pytest.fail(
                f'the daemon did not finish SystemSearchWorkChain<{pk}> in {TIMEOUT} s (state {state}); '
                f'daemon log:\n{_daemon_log(started_daemon)}'
            )
        time.sleep(2)
        state, node = _process_state(pk)

    assert node.is_finished_ok, f'exit status {node.exit_status}: {node.exit_message}\n{_daemon_log(started_daemon)}'
    summary = node.outputs.summary.get_dict()
    assert summary['compositions']['YH6']['status'] == 'finished'
    assert len(orm.load_group(group).nodes) >= 1


def test_search_daemon_not_running(invoke, daemon_profile, tiny_model):
    """With the ZeroMQ broker and no daemon: one message saying the daemon is not running and how to start it; no
    work chain is stored and no traceback is shown."""
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    result = invoke('search', 'Ca-Y', '--model', tiny_model, *SEARCH_ARGS, '--daemon')
    assert result.exit_code == 1, result.output
    assert f"the daemon of profile '{daemon_profile.name}' is not running" in result.stderr
    assert 'daemon start`' in result.stderr and 'ZeroMQ broker' in result.stderr
    assert 'Traceback' not in result.output
    assert orm.QueryBuilder().append(SystemSearchWorkChain).count() == 0
