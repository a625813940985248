"""Running work chains in this interpreter so that an interruption stops them cleanly, and ending processes whose
runner is gone.

:func:`run_interruptible` runs a process in the current interpreter like :func:`aiida.engine.run_get_node`, and
records the interpreter (host name, PID and start time) in the ``runner`` key of the ``hydrides`` extra of the process
node. SIGINT (Ctrl-C) or SIGTERM stop its event loop at the next turn (a step that waits for a calcfunction is cut
short there, and what it had not committed is rolled back); then the jobs that the process and its descendants
started are stopped (:func:`stop_job`), every process of the tree that has not terminated is marked killed and sealed
(:func:`mark_killed`), and :class:`ProcessInterrupted` is raised.

A runner that died without that clean-up (SIGKILL, a crash, a reboot) leaves its processes *Waiting* or *Running* in
the database, held by nobody: no daemon worker has them and, without a daemon, ``verdi process kill`` cannot reach
them. :func:`find_stale_processes` finds them by their root's runner record (an interpreter that no longer runs), and
:func:`kill_process_tree` ends them the same way, without ever running them again.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading

from aiida_hydrides.core.text import count
from aiida_hydrides.extras import get_tags, tag_node

__all__ = (
    'ACTIVE_STATES',
    'ProcessInterrupted',
    'StaleTree',
    'TreeReport',
    'find_stale_processes',
    'kill_process_tree',
    'mark_killed',
    'run_interruptible',
    'runner_record',
    'runner_is_alive',
    'stop_job',
)

#: process states of a process that has not terminated
ACTIVE_STATES = ('created', 'waiting', 'running')
#: seconds a job's processes get to exit after SIGTERM before they are sent SIGKILL
TERMINATE_GRACE_S = 10.0


class ProcessInterrupted(KeyboardInterrupt):
    """A process run by :func:`run_interruptible` was stopped by a signal; its tree was killed and its jobs stopped.

    :ivar node: the process node.
    :ivar signum: the signal number (``signal.SIGINT`` or ``signal.SIGTERM``).
    :ivar report: the :class:`TreeReport` of the clean-up.
    """

    def __init__(self, node, signum: int, report: TreeReport):
        super().__init__(f'{node.process_label}<{node.pk}> interrupted by {signal.Signals(signum).name}')
        self.node = node
        self.signum = signum
        self.report = report

    @property
    def exit_code(self) -> int:
        """The shell's exit status of a command ended by the signal: 128 + its number (130 for SIGINT)."""
        return 128 + int(self.signum)


@dataclasses.dataclass
class TreeReport:
    """What :func:`kill_process_tree` did: the processes marked killed and the jobs stopped."""

    root_pk: int
    root_label: str
    killed: list = dataclasses.field(default_factory=list)
    jobs: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        """One line: how many processes were marked killed and which jobs were stopped."""
        others = len([pk for pk in self.killed if pk != self.root_pk])
        text = f'{self.root_label}<{self.root_pk}>'
        if others:
            text += f' and {count(others, "sub-process")}'
        text += ' marked killed' if self.killed else ': nothing left to kill'
        if self.jobs:
            text += f'; stopped the job of {"; ".join(self.jobs)}'
        if self.errors:
            text += f'; not stopped: {"; ".join(self.errors)}'
        return text


# --------------------------------------------------------------------------------------------------------------------
# the runner record


def runner_record() -> dict:
    """The record of this interpreter: host name, PID and the start time of the process (seconds since the epoch)."""
    import psutil

    return {
        'hostname': socket.gethostname(),
        'pid': os.getpid(),
        'started': round(psutil.Process().create_time(), 3),
    }


def runner_is_alive(record: dict | None) -> bool | None:
    """Whether the interpreter of a runner ``record`` still runs: ``None`` when that cannot be told (no record, or a
    record of another host)."""
    import psutil

    if not record or 'pid' not in record:
        return None
    if record.get('hostname') != socket.gethostname():
        return None
    try:
        process = psutil.Process(int(record['pid']))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - float(record.get('started', 0.0))) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


# --------------------------------------------------------------------------------------------------------------------
# running in this interpreter


def run_interruptible(process, inputs: dict | None = None):
    """Run ``process`` (a process class or a builder) in this interpreter until it terminates and return its node.

    The node records this interpreter in ``extras.hydrides.runner``. SIGINT and SIGTERM stop the run at the next turn
    of the event loop (what the step in progress had not committed is rolled back); the process tree is then killed
    with :func:`kill_process_tree` and :class:`ProcessInterrupted` is raised. A second signal during the
    clean-up is ignored. The signal handlers in place before are restored on return.
    """
    from aiida.engine import utils as engine_utils
    from aiida.manage import get_manager

    runner = get_manager().create_runner(communicator=None)
    received: list[int] = []

    def on_signal(signum, _frame):
        if received:
            return
        received.append(signum)
        runner.loop.call_soon_threadsafe(runner.loop.stop)

    # signal handlers can only be set in the main thread; elsewhere the run is not interruptible by signals
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    previous = {signum: signal.getsignal(signum) for signum in signals}
    with engine_utils.loop_scope(runner.loop):
        try:
            for signum in previous:
                signal.signal(signum, on_signal)
            instance = runner.instantiate_process(process, **(inputs or {}))
            tag_node(instance.node, runner=runner_record())
            try:
                if not received:
                    instance.execute()
            except RuntimeError:
                if not received:  # the loop was stopped by something else than the signal handler
                    raise
            if received:
                for signum in previous:
                    signal.signal(signum, signal.SIG_IGN)
                _silence_abandoned_tasks()
                _rollback()  # the step the signal cut short may have left a transaction open
                message = f'Killed: the command that ran it was interrupted ({signal.Signals(received[0]).name})'
                report = kill_process_tree(instance.node, message)
                raise ProcessInterrupted(instance.node, received[0], report)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return instance.node


def _rollback():
    """Roll back the storage session of this interpreter: what a step cut short had not committed is dropped, and a
    session left unusable by a failed commit (e.g. SQLite's "database is locked") can be used again."""
    from aiida.manage import get_manager

    try:
        get_manager().get_profile_storage().get_session().rollback()
    except Exception:  # noqa: BLE001 - a storage without a session has nothing to roll back
        pass


def _retrying(action, attempts: int = 10, pause: float = 1.0):
    """``action()``, tried again after a rollback when the database is busy (SQLite locked by another process)."""
    import time

    from sqlalchemy.exc import OperationalError, PendingRollbackError

    for attempt in range(attempts):
        try:
            return action()
        except (OperationalError, PendingRollbackError):
            _rollback()
            if attempt == attempts - 1:
                raise
            time.sleep(pause)
    return None


def _silence_abandoned_tasks():
    """The event loop of an interrupted run is left with the pending steps of its processes, which are never run:
    keep asyncio from logging them as destroyed when the interpreter exits."""
    import logging

    logging.getLogger('asyncio').setLevel(logging.CRITICAL)


# --------------------------------------------------------------------------------------------------------------------
# ending a process tree


def _active(node) -> bool:
    state = node.process_state
    return state is not None and state.value in ACTIVE_STATES


def mark_killed(node, message: str) -> bool:
    """Mark the process ``node`` killed in the database, as a kill in its runner would, without running it again:
    process state ``killed``, ``message`` as its status, no checkpoint, sealed. Return whether it was changed (a
    terminated process is left as it is)."""
    from aiida.engine.utils import set_process_state_change_timestamp
    from aiida.manage import get_manager
    from plumpy.process_states import ProcessState

    if not _active(node):
        return False
    with get_manager().get_profile_storage().transaction():  # all of it or nothing
        if node.paused:
            node.unpause()
        node.set_process_state(ProcessState.KILLED)
        node.set_process_status(message)
        node.delete_checkpoint()
        node.seal()
    set_process_state_change_timestamp(node)
    node.logger.report(message)
    return True


def kill_process_tree(root, message: str) -> TreeReport:
    """Stop the jobs of the active calculations of ``root`` and its descendants, then mark every active process of
    the tree killed (deepest first), with ``message`` as status. Safe on a tree that has already terminated."""
    nodes = _retrying(lambda: [root, *root.called_descendants])
    report = TreeReport(root_pk=root.pk, root_label=root.process_label or type(root).__name__)
    from aiida import orm

    for node in nodes:
        if _active(node) and isinstance(node, orm.CalcJobNode):
            stopped, error = stop_job(node)
            if stopped:
                report.jobs.append(f'{node.process_label}<{node.pk}> ({", ".join(stopped)})')
            if error:
                report.errors.append(error)
    for node in reversed(nodes):
        if _retrying(lambda node=node: mark_killed(node, message)):
            report.killed.append(node.pk)
    return report


# --------------------------------------------------------------------------------------------------------------------
# stopping the job of a calculation


def _job_processes(workdir: str | None, job_id: str | None) -> list:
    """The processes of a job on this machine: its job process (a PID, as the ``core.direct`` scheduler gives it)
    with its process group and descendants, provided it runs in the job's working directory, and every other process
    whose working directory is in it."""
    import psutil

    own = {os.getpid(), os.getpgrp()}
    found = {}

    def in_workdir(process) -> bool:
        try:
            cwd = process.cwd()
        except (psutil.Error, OSError):
            return False
        return bool(workdir) and (cwd == workdir or cwd.startswith(workdir.rstrip(os.sep) + os.sep))

    groups = set()
    if job_id and str(job_id).isdigit():
        try:
            leader = psutil.Process(int(job_id))
            if in_workdir(leader):
                found[leader.pid] = leader
                groups.add(os.getpgid(leader.pid))
                for child in leader.children(recursive=True):
                    found[child.pid] = child
        except (psutil.Error, OSError):
            pass
    if workdir or groups:
        for process in psutil.process_iter():
            if process.pid in found or process.pid in own:
                continue
            try:
                if os.getpgid(process.pid) in groups or in_workdir(process):
                    found[process.pid] = process
            except (psutil.Error, OSError):
                continue
    return [process for pid, process in found.items() if pid not in own and _group(pid) not in own]


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _describe(process) -> str | None:
    """``name pid N`` of a running process (a Python script by the script's name); ``None`` when it has ended."""
    import psutil

    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = process.cmdline()
        name = os.path.basename(cmdline[0]) if cmdline else process.name()
        if name.startswith('python') and len(cmdline) > 1:
            name = os.path.basename(cmdline[1])
    except (psutil.Error, OSError):
        return None
    return f'{name} pid {process.pid}'


def _terminate(processes, grace: float = TERMINATE_GRACE_S) -> list[str]:
    """SIGTERM to ``processes``, SIGKILL to those still running after ``grace`` seconds; the descriptions of those
    that ran."""
    import psutil

    described = []
    for process in processes:
        description = _describe(process)
        if description is None:
            continue
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
        except (psutil.Error, OSError):
            description += ' (could not be signalled)'
        described.append(description)
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2.0)
    return described


def stop_job(node) -> tuple[list[str], str | None]:
    """Stop the job of the calculation ``node``: on a computer with the ``core.local`` transport, its processes on
    this machine (see :func:`_job_processes`: SIGTERM, then SIGKILL); elsewhere through the computer's scheduler
    (``kill_job``). Return the descriptions of the stopped processes (or job) and an error message, if any."""
    computer = node.computer
    workdir = node.get_remote_workdir()
    job_id = node.get_job_id()
    if computer is None or (workdir is None and job_id is None):
        return [], None
    if computer.transport_type == 'core.local':
        return _terminate(_job_processes(workdir, job_id)), None
    if job_id is None:
        return [], None
    try:
        with computer.get_transport() as transport:
            scheduler = computer.get_scheduler()
            scheduler.set_transport(transport)
            scheduler.kill_job(job_id)
    except Exception as exception:  # noqa: BLE001 - any failure of a remote scheduler is reported, not raised
        return [], f'job {job_id} of {node.process_label}<{node.pk}> on {computer.label}: {exception}'
    return [f'job {job_id} on {computer.label}'], None


# --------------------------------------------------------------------------------------------------------------------
# finding stale processes


@dataclasses.dataclass
class StaleTree:
    """A root process whose tree holds active processes that nobody runs, and why they are considered stale."""

    root: object
    active: list
    reason: str


def _root_of(node):
    root = node
    while root.caller is not None:
        root = root.caller
    return root


def find_stale_processes(unrecorded: bool = False, daemon_running: bool = False) -> tuple[list[StaleTree], list]:
    """The process trees with active processes that no living runner holds, and the active trees left alone.

    A tree is stale when its root's runner record (``extras.hydrides.runner``) names an interpreter of this host that
    no longer runs. Trees without a record (launched with ``verdi run``, by a script, or submitted to the daemon) are
    stale only with ``unrecorded`` and when no daemon is running. Return ``(stale, kept)``: :class:`StaleTree`
    instances, and ``(root, reason)`` pairs of the active trees that are kept.
    """
    from aiida import orm

    query = orm.QueryBuilder().append(
        orm.ProcessNode, filters={'attributes.process_state': {'in': list(ACTIVE_STATES)}}, project='*'
    )
    trees: dict[int, tuple] = {}
    for (node,) in query.iterall():
        root = _root_of(node)
        trees.setdefault(root.pk, (root, []))[1].append(node)
    stale, kept = [], []
    for root, active in trees.values():
        record = (get_tags(root) or {}).get('runner')
        alive = runner_is_alive(record)
        if record and alive:
            kept.append((root, f'held by the living process {record["pid"]}'))
        elif record and alive is None:
            kept.append((root, f'run on host {record.get("hostname")!r}, which cannot be checked from here'))
        elif record:
            stale.append(StaleTree(root, active, f'its runner, process {record["pid"]}, no longer runs'))
        elif daemon_running:
            kept.append((root, 'no runner record; the daemon is running'))
        elif unrecorded:
            stale.append(StaleTree(root, active, 'no runner record and no daemon running'))
        else:
            kept.append((root, 'no runner record (launched by the daemon, `verdi run` or a script)'))
    return stale, kept
