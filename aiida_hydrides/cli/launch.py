"""Launching work chains from the command line: in this process (``run``), or on the AiiDA daemon (``--daemon``).

A work chain run in this process stops cleanly on Ctrl-C (SIGINT) or SIGTERM: its process tree is marked killed, the
jobs it started are stopped, one line says so and how to go on, and the command exits with status 128 + the signal
number (130 for Ctrl-C), without a traceback (:func:`aiida_hydrides.processes.run_interruptible`).
"""

from __future__ import annotations

import sys

import click

from .utils import echo_json, fail

__all__ = (
    'daemon_is_running',
    'exit_interrupted',
    'follow_commands',
    'launch',
    'run_in_process',
    'run_or_submit',
    'submit_to_daemon',
)

#: what to do after an interruption, unless the command says more
DEFAULT_RESUME_HINT = 'Run the same command again to start it anew.'


def run_or_submit(builder, daemon: bool = False, as_json: bool = False, resume_hint: str | None = None):
    """Run ``builder`` in this process and return its node, or with ``daemon`` submit it, print how to follow it and
    return ``None`` (the caller then returns at once).

    In this process, an interruption (Ctrl-C, SIGTERM) ends the command as :func:`exit_interrupted` says, with
    ``resume_hint`` (what running the command again does) in its message.
    """
    if daemon:
        submit_to_daemon(builder, as_json=as_json)
        return None
    return run_in_process(builder, resume_hint=resume_hint)


def launch(builder, daemon: bool = False, as_json: bool = False, verbose: bool = False, resume_hint: str | None = None):
    """What every launching command does: with ``daemon``, submit ``builder``, print how to follow it and return
    ``None`` (the caller then returns at once); otherwise run it in this process with the console output of
    :func:`~aiida_hydrides.cli.console.console_output` (progress lines unless ``as_json``) and return its node.

    Invalid inputs caught by the port validators end the command with their message (:func:`fail`), before anything
    runs.
    """
    from .console import console_output

    if daemon:
        try:
            submit_to_daemon(builder, as_json=as_json)
        except ValueError as exc:
            fail(str(exc))
        return None
    with console_output(verbose, progress=not as_json):
        try:
            return run_in_process(builder, resume_hint=resume_hint)
        except ValueError as exc:
            fail(str(exc))


def run_in_process(builder, resume_hint: str | None = None):
    """Run ``builder`` in this process with :func:`aiida_hydrides.processes.run_interruptible` and return its node;
    on an interruption, exit as :func:`exit_interrupted` says."""
    from aiida_hydrides.processes import ProcessInterrupted, run_interruptible

    try:
        return run_interruptible(builder)
    except ProcessInterrupted as interruption:
        exit_interrupted(interruption, resume_hint)


def exit_interrupted(interruption, resume_hint: str | None = None):
    """Print one line on stderr, what was stopped and how to go on, and exit with status 128 + the signal number."""
    click.secho(
        f'Interrupted: {interruption.report.describe()}. {resume_hint or DEFAULT_RESUME_HINT}', fg='yellow', err=True
    )
    sys.exit(interruption.exit_code)


def daemon_is_running(profile=None) -> bool:
    """Whether the daemon of ``profile`` (default: the loaded one) is running."""
    from aiida import get_profile
    from aiida.engine.daemon.client import get_daemon_client

    profile = profile or get_profile()
    try:
        return bool(get_daemon_client(profile.name).is_daemon_running)
    except Exception:  # noqa: BLE001 - a profile without a daemon set-up: not running
        return False


def _verdi(profile) -> str:
    """``verdi``, or ``verdi -p NAME`` when ``profile`` is not the default profile."""
    from aiida.manage.configuration import get_config

    try:
        default = get_config().default_profile_name
    except Exception:  # noqa: BLE001
        default = None
    return 'verdi' if profile.name == default else f'verdi -p {profile.name}'


def follow_commands(pk: int, profile=None) -> list[str]:
    """The ``verdi`` commands that follow the process ``pk``."""
    from aiida import get_profile

    verdi = _verdi(profile or get_profile())
    return [f'{verdi} process status {pk}', f'{verdi} process show {pk}', f'{verdi} process report {pk}']


def submit_to_daemon(builder, as_json: bool = False):
    """Submit ``builder`` to the daemon with :func:`aiida.engine.submit`, print its PK and the commands to follow it,
    and return its node. A daemon that is not running is reported (with ``verdi daemon start``); the process is
    submitted anyway when the profile's broker can queue it (RabbitMQ). With the ZeroMQ broker, which runs inside
    the daemon, submission needs a running daemon: the command then fails with the fix, and nothing is stored."""
    from aiida import get_profile
    from aiida.common.exceptions import InvalidOperation
    from aiida.engine import submit

    profile = get_profile()
    verdi = _verdi(profile)
    running = daemon_is_running(profile)
    process_label = builder.process_class.__name__
    if not running:
        click.secho(
            f"Warning: the daemon of profile '{profile.name}' is not running; start it with `{verdi} daemon start`.",
            fg='yellow',
            err=True,
        )
    try:
        node = submit(builder)
    except (InvalidOperation, ConnectionError) as exception:
        if not running and profile.process_control_backend == 'core.zeromq':
            fail(
                f'{process_label} was not submitted: the ZeroMQ broker of profile {profile.name!r} runs inside the '
                f'daemon, so submitting needs a running daemon. Start it with `{verdi} daemon start` and run this '
                'command again, or leave out --daemon to run the work chain in this process.'
            )
        fail(f'{process_label} was not submitted: {exception}')

    commands = follow_commands(node.pk, profile)
    if as_json:
        echo_json(
            {
                'pk': node.pk,
                'uuid': node.uuid,
                'process_label': process_label,
                'profile': profile.name,
                'submitted': True,
                'daemon_running': running,
                'follow': commands,
            }
        )
        return node
    click.echo(f"Submitted {process_label}<{node.pk}> to the daemon of profile '{profile.name}'.")
    if not running:
        click.echo(f'It waits in the queue until the daemon starts: `{verdi} daemon start`.')
    click.echo('Follow it with:')
    for command in commands:
        click.echo(f'  {command}')
    return node
