"""Interrupted and repeated searches, run as a user runs them: ``aiida-hydrides search`` in a subprocess on a profile
like the default one (SQLite, ZeroMQ broker, no daemon), stopped with SIGINT (Ctrl-C) or SIGKILL while its first
``hydrides-lam`` job runs, then (after SIGKILL) ``aiida-hydrides processes clean``, then the same command again.

Afterwards no process is left Waiting or Running, no worker process is left running, every composition was searched
by exactly one finished job, and the group holds each composition's minima once, from the job its record names.
"""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from aiida import orm

from aiida_hydrides.models import seed_model_path

COMPOSITIONS = ['CaH6', 'YH6']
#: two jobs of one composition each, a few seconds of relaxations each with the seed model
SEARCH_ARGS = ['--protocol', 'fast', '--budget', 4, '--max-atoms', 14, '--max-steps', 30, '--per-job', 1]
TIMEOUT = 300


def _command(profile, *args):
    return [sys.executable, '-m', 'aiida_hydrides.cli', *map(str, args)]


def _environment(profile):
    return {**os.environ, 'AIIDA_PROFILE': profile.name, 'PYTHONUNBUFFERED': '1'}


def _search_args(group):
    return ['search', 'Ca-Y', '-m', seed_model_path(), '-c', ','.join(COMPOSITIONS), *SEARCH_ARGS, '--group', group]


def _workers(workdir):
    """The running ``hydrides-lam`` processes of jobs in the working directory of the test computer."""
    found = []
    for process in psutil.process_iter(['cmdline']):
        try:
            cmdline = process.info['cmdline'] or []
            if any(part.endswith('hydrides-lam') for part in cmdline) and process.cwd().startswith(workdir):
                if process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def _wait_for_worker(workdir, command):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if command.poll() is not None:
            pytest.fail(f'the search ended before its first job ran:\n{command.communicate()}')
        if _workers(workdir):
            return
        time.sleep(0.2)
    command.kill()
    pytest.fail('no hydrides-lam job started within 120 s')


def _no_workers_left(workdir, timeout=15.0):
    deadline = time.monotonic() + timeout
    while _workers(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _workers(workdir)


def _refresh():
    """Read the database anew: the commands under test write it from other processes."""
    from aiida.manage import get_manager

    session = get_manager().get_profile_storage().get_session()
    session.expire_all()
    session.commit()


def _active_processes():
    _refresh()
    query = orm.QueryBuilder().append(
        orm.ProcessNode,
        filters={'attributes.process_state': {'in': ['created', 'waiting', 'running']}},
        project=['id', 'attributes.process_label', 'attributes.process_state'],
    )
    return query.all()


def _start(profile, group):
    return subprocess.Popen(
        _command(profile, *_search_args(group)),
        env=_environment(profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _rerun_and_check(profile, group, workdir):
    """Run the search again to the end; check processes, workers, jobs per composition and the group."""
    result = subprocess.run(
        _command(profile, *_search_args(group)),
        env=_environment(profile),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Traceback' not in result.stdout + result.stderr
    assert _active_processes() == []
    assert _no_workers_left(workdir)

    _refresh()
    finished_by = {}
    for calc in (
        orm.QueryBuilder()
        .append(orm.CalcJobNode, filters={'process_type': 'aiida.calculations:hydrides.search'})
        .all(flat=True)
    ):
        if calc.is_finished_ok:
            for entry in calc.outputs.summary.get_dict()['compositions']:
                if entry['status'] == 'finished':
                    finished_by.setdefault(entry['formula'], []).append(calc.uuid)
    assert sorted(finished_by) == sorted(COMPOSITIONS)
    assert all(len(uuids) == 1 for uuids in finished_by.values()), finished_by  # each searched once

    group_node = orm.load_group(group)
    record = group_node.base.extras.get('hydrides')['finished']
    minima = [node.base.extras.get('hydrides') for node in group_node.nodes]
    assert len({node.uuid for node in group_node.nodes}) == len(minima)
    for formula in COMPOSITIONS:
        sources = {tags['calc_uuid'] for tags in minima if tags['formula'] == formula}
        assert sources == {record[formula]['calc_uuid']} == set(finished_by[formula])
        ranks = [tags['rank'] for tags in minima if tags['formula'] == formula]
        assert len(ranks) == len(set(ranks)) and 1 <= len(ranks) <= record[formula]['n_minima']  # no minimum twice
    return result


@pytest.fixture
def search_profile(daemon_profile):
    """The ZeroMQ test profile with its localhost computer; the working directory of the jobs."""
    computer = orm.load_computer('localhost')
    computer.set_minimum_job_poll_interval(1.0)
    return daemon_profile, computer.get_workdir().split('{')[0].rstrip('/')


@pytest.mark.slow
def test_sigint_stops_the_search_cleanly_and_the_rerun_resumes(search_profile):
    profile, workdir = search_profile
    group = 'test/interrupt/sigint'
    command = _start(profile, group)
    _wait_for_worker(workdir, command)
    command.send_signal(signal.SIGINT)
    stdout, stderr = command.communicate(timeout=120)

    assert command.returncode == 130, stdout + stderr
    assert 'Traceback' not in stdout + stderr and 'KilledError' not in stdout + stderr
    lines = [line for line in stderr.splitlines() if line.startswith('Interrupted:')]
    assert len(lines) == 1, stderr
    assert 'SystemSearchWorkChain<' in lines[0] and 'marked killed' in lines[0] and 'hydrides-lam pid' in lines[0]
    assert 'Run the same command again to resume' in lines[0] and group in lines[0]
    assert _no_workers_left(workdir), 'a hydrides-lam worker survived the interruption'
    assert _active_processes() == []
    root = orm.QueryBuilder().append(orm.WorkflowNode, filters={'attributes.process_label': 'SystemSearchWorkChain'})
    killed = root.all(flat=True)
    assert len(killed) == 1 and killed[0].is_killed and killed[0].is_sealed
    assert killed[0].base.extras.get('hydrides')['runner']['pid'] == command.pid

    _rerun_and_check(profile, group, workdir)


@pytest.mark.slow
def test_sigkill_then_processes_clean_then_the_rerun_resumes(search_profile):
    profile, workdir = search_profile
    group = 'test/interrupt/sigkill'
    command = _start(profile, group)
    _wait_for_worker(workdir, command)
    command.send_signal(signal.SIGKILL)
    command.communicate(timeout=60)
    assert command.returncode == -signal.SIGKILL
    stale = _active_processes()
    assert stale, 'the killed command left no active process'

    clean = subprocess.run(
        _command(profile, 'processes', 'clean'), env=_environment(profile), capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert 'Traceback' not in clean.stdout + clean.stderr
    assert 'Cleaned: SystemSearchWorkChain<' in clean.stdout and 'marked killed' in clean.stdout
    assert f'process {command.pid}, no longer runs' in clean.stdout
    assert _no_workers_left(workdir), 'processes clean left a hydrides-lam worker running'
    assert _active_processes() == []
    for pk, _, _ in stale:
        node = orm.load_node(pk)
        assert node.is_killed and node.is_sealed and node.checkpoint is None

    again = subprocess.run(
        _command(profile, 'processes', 'clean'), env=_environment(profile), capture_output=True, text=True, check=False
    )
    assert again.returncode == 0 and 'Nothing to clean' in again.stdout, again.stdout + again.stderr

    _rerun_and_check(profile, group, workdir)
