"""``aiida-hydrides processes``: the processes of the profile that no runner holds any more."""

import click

from aiida_hydrides.core.text import count

from .params import options
from .utils import echo_json, load_profile


@click.group('processes')
def processes():
    """Processes left behind by a runner that is gone.

    A command that runs a work chain in its own process (without --daemon) records that process in the work chain's
    extras (`extras.hydrides.runner`). If the command is killed outright (SIGKILL, a crash, a reboot), its work chain
    and sub-processes stay Waiting or Running in the database and their jobs may still run; without a daemon holding
    them, `verdi process kill` cannot reach them. `aiida-hydrides processes clean` ends them.
    """


@processes.command('clean')
@click.option('--dry-run', is_flag=True, help='Only list the stale processes; change nothing.')
@click.option(
    '--unrecorded',
    is_flag=True,
    help='Also end the active processes without a runner record (launched by `verdi run`, a script, or before '
    'runners were recorded) when no daemon is running. Use it only when nothing else runs processes of this '
    'profile.',
)
@options.JSON(help='Print what was found and done as JSON.')
def clean(dry_run, unrecorded, as_json):
    """End the processes whose runner is gone: stop their jobs and mark them killed.

    A process tree is stale when the command that ran it in its own process (recorded in `extras.hydrides.runner`:
    host, PID, start time) no longer runs on this host. For each stale tree, the jobs of its active calculations are
    stopped (on a local computer: their processes, SIGTERM then SIGKILL; elsewhere: through the scheduler), and every
    active process of the tree is marked killed and sealed, so that nothing (`verdi process repair`, a daemon) runs
    it again. Processes of a living command, of the daemon, or of another host are left alone. Safe to run at any
    time: with nothing stale it changes nothing.
    """
    load_profile()
    from aiida_hydrides.processes import find_stale_processes, kill_process_tree

    from .console import console_output
    from .launch import daemon_is_running

    stale, kept = find_stale_processes(unrecorded=unrecorded, daemon_running=daemon_is_running())
    message = 'Killed by `aiida-hydrides processes clean`: the runner of this process is gone'
    results = []
    with console_output(progress=False):
        for tree in stale:
            entry = {
                'pk': tree.root.pk,
                'process_label': tree.root.process_label,
                'reason': tree.reason,
                'active': [node.pk for node in tree.active],
            }
            if not dry_run:
                report = kill_process_tree(tree.root, message)
                entry.update(killed=report.killed, jobs=report.jobs, errors=report.errors, summary=report.describe())
            results.append(entry)
    if as_json:
        echo_json(
            {
                'dry_run': dry_run,
                'stale': results,
                'kept': [{'pk': root.pk, 'process_label': root.process_label, 'reason': why} for root, why in kept],
            }
        )
        return
    if not results:
        click.echo('Nothing to clean: no active process of a runner that is gone.')
    for entry in results:
        if dry_run:
            click.echo(
                f'Stale: {entry["process_label"]}<{entry["pk"]}>, {count(len(entry["active"]), "active process")} '
                f'{entry["active"]}: {entry["reason"]}.'
            )
        else:
            click.echo(f'Cleaned: {entry["summary"]} ({entry["reason"]}).')
    for root, why in kept:
        click.echo(f'Left alone: {root.process_label}<{root.pk}>: {why}.')
