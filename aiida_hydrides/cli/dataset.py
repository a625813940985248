"""``aiida-hydrides dataset``: the project's hydride Tc dataset (list, run, export)."""

import click

from .params import options
from .utils import echo_json, fail, load_computer, load_profile

_DATA_DIR = click.option(
    '--data-dir',
    type=click.Path(file_okay=False),
    default=None,
    help='Folder of the dataset (tc_dataset.json, archives/)  [default: data/tc_dataset of the checkout].',
)


@click.group('dataset')
def dataset():
    """The hydride Tc dataset: known prototypes with substituted metals at 150-250 GPa, relaxed and computed with
    hydrides.epc.batch (screening protocol), resumable and written in pieces.

    \b
    Typical use:
      aiida-hydrides dataset list                 # the entries and which have a result
      aiida-hydrides dataset run --limit 4        # compute the next 4 pending entries (cheapest first)
      aiida-hydrides dataset run CaH6-MH6-Im-3m-150GPa
      aiida-hydrides dataset run H3S-MH3-Im-3m-200GPa --protocol moderate   # the reference subset
      aiida-hydrides dataset export               # rewrite tc_dataset.json from the profile
    """


@dataset.command('list')
@options.JSON()
def list_entries(as_json):
    """The entries, their size and their state in the profile (pending or computed) with the dataset's protocol and
    with the reference protocol."""
    load_profile()
    from aiida_hydrides.core.tc_dataset import DATASET_ENTRIES
    from aiida_hydrides.tc_dataset import DEFAULT_PROTOCOL, REFERENCE_PROTOCOL, pending_entries

    pending = {entry.name for entry in pending_entries(DATASET_ENTRIES, DEFAULT_PROTOCOL)}
    reference = {entry.name for entry in pending_entries(DATASET_ENTRIES, REFERENCE_PROTOCOL)}
    records = [
        {
            'name': entry.name,
            'formula': entry.formula,
            'prototype': entry.prototype,
            'pressure_gpa': entry.pressure_gpa,
            'natoms': entry.natoms,
            'state': 'pending' if entry.name in pending else 'computed',
            'reference_state': 'pending' if entry.name in reference else 'computed',
        }
        for entry in DATASET_ENTRIES
    ]
    if as_json:
        echo_json(records)
        return
    click.echo(f'{"entry":<30} {"atoms":>5} {DEFAULT_PROTOCOL:<10} {REFERENCE_PROTOCOL:<10}')
    for record in records:
        click.echo(
            f'{record["name"]:<30} {record["natoms"]:>5} {record["state"]:<10} '
            + ('computed' if record['reference_state'] == 'computed' else '-')
        )
    click.echo(
        f'{len(records) - len(pending)} of {len(records)} computed; '
        f'{len(records) - len(reference)} computed again with {REFERENCE_PROTOCOL!r}'
    )


@dataset.command('run')
@click.argument('names', nargs=-1)
@click.option('--limit', type=click.IntRange(min=1), default=None, help='Compute at most this many pending entries.')
@click.option(
    '--chunk',
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help='Entries (of one pressure) per batch work chain; the rows and an archive piece are written after each.',
)
@click.option(
    '--max-concurrent',
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help='Relaxations and EPC work chains running at a time within a chunk.',
)
@click.option(
    '--protocol',
    default=None,
    help="Batch protocol: the dataset's (default, 'screening'), or the reference protocol ('moderate') to compute "
    "entries again and measure the dataset's error on them (the 'reference' section of tc_dataset.json).",
)
@options.COMPUTER()
@options.MPIPROCS()
@click.option('--no-archive', is_flag=True, help='Do not write an AiiDA archive piece per chunk.')
@_DATA_DIR
@options.VERBOSE()
def run(names, limit, chunk, max_concurrent, protocol, computer, mpiprocs, no_archive, data_dir, verbose):
    """Compute the pending entries NAMES (default: all), cheapest first; Ctrl-C stops, a new run goes on."""
    load_profile()
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.processes import ProcessInterrupted
    from aiida_hydrides.tc_dataset import DATASET_PROTOCOLS, DEFAULT_PROTOCOL, run_dataset, select_entries

    from .console import console_output

    protocol = protocol or DEFAULT_PROTOCOL
    if protocol not in DATASET_PROTOCOLS:
        raise click.BadParameter(
            f'{protocol!r} is not one of the dataset protocols: {", ".join(map(repr, DATASET_PROTOCOLS))}',
            param_hint='--protocol',
        )
    try:
        select_entries(list(names) or None, limit=limit)
    except HydridesInputError as exception:
        fail(str(exception))
    computer_node = load_computer(computer)
    try:
        with console_output(verbose, progress=True):
            summary = run_dataset(
                names=list(names) or None,
                limit=limit,
                protocol=protocol,
                chunk=chunk,
                max_concurrent=max_concurrent,
                computer=computer_node.label,
                mpiprocs=mpiprocs,
                data_dir=data_dir,
                archive=not no_archive,
                echo=click.echo,
            )
    except HydridesInputError as exception:
        fail(str(exception))
    except ProcessInterrupted:
        fail('interrupted: the entries finished so far are kept; run the same command again to go on')
    click.echo(f'{len(summary["ran"])} chunk(s) run; rows in {summary["rows"]}')


@dataset.command('export')
@_DATA_DIR
def export(data_dir):
    """Write the rows of the computed entries of the profile to tc_dataset.json (rows already there are kept)."""
    load_profile()
    from aiida_hydrides.tc_dataset import write_rows

    path = write_rows(data_dir)
    click.echo(str(path))
