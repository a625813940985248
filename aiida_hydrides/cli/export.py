"""``aiida-hydrides export``: an AiiDA archive of a campaign group with the full provenance of its nodes (aiida's
``create_archive``), to share a campaign or to move it to another profile (``verdi archive import``)."""

import pathlib

import click

from .utils import bad_option, fail, load_profile


def export_group(group, path, overwrite: bool = False) -> dict:
    """Write ``group`` (an ``orm.Group``) with the full provenance of its nodes to the archive ``path`` (first to a
    temporary name beside it, then renamed: the file is complete or absent); return ``{'group_nodes', 'nodes'}``, the
    nodes of the group and of the archive."""
    from aiida import orm
    from aiida.tools.archive import create_archive
    from aiida.tools.archive.abstract import get_format

    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f'{path} exists')
    temporary = path.with_name(f'.{path.name}.tmp')
    if temporary.exists():
        temporary.unlink()
    create_archive([group], filename=temporary, include_comments=True, include_logs=True)
    temporary.replace(path)
    with get_format().open(path, 'r') as reader:
        nodes = reader.querybuilder().append(orm.Node).count()
    return {'group_nodes': group.count(), 'nodes': nodes}


@click.command('export')
@click.argument('group')
@click.option(
    '-o',
    '--output',
    'output',
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    required=True,
    help='The archive file to write, e.g. campaign.aiida.',
)
@click.option('-f', '--force', is_flag=True, help='Overwrite the archive file if it exists.')
def export(group, output, force):
    """Write GROUP and everything its nodes were made from into an AiiDA archive.

    The archive holds the group, its nodes and their full provenance: the work chains and calculations that made them,
    with their inputs (codes, pseudopotentials, parameters) and the outputs of the processes they called; comments are
    kept. Import it into any profile with `verdi archive import FILE`; `aiida-hydrides candidates GROUP` then gives
    the same table there.
    """
    load_profile()
    from aiida_hydrides.candidates import CandidatesError, resolve_group

    try:
        group_node = resolve_group(group)
    except CandidatesError as exception:
        bad_option('group', str(exception))
    if output.exists() and not force:
        bad_option('output', f'{output} exists; give --force to overwrite it')
    if not output.parent.is_dir():
        bad_option('output', f'the folder {output.parent} does not exist')

    try:
        summary = export_group(group_node, output, overwrite=force)
    except OSError as exception:
        fail(f'cannot write {output}: {exception}')
    click.echo(
        f'Exported group {group_node.label!r} ({summary["group_nodes"]} nodes, {summary["nodes"]} with their '
        f'provenance) to {output}'
    )
