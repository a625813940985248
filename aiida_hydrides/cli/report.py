"""``aiida-hydrides report``: the HTML report of a campaign group, with its figures as PNG and SVG
(:func:`aiida_hydrides.report.write_report`)."""

import pathlib
import re

import click

from .params import options
from .utils import bad_option, echo_json, fail, load_profile


@click.command('report')
@click.argument('group')
@click.option(
    '-o',
    '--output',
    'output',
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=None,
    help='Folder of the report (index.html and figures/); default: hydrides-report-<group label> here.',
)
@options.TC_FORMULA(help='The Tc of the figures and the table.')
@options.MUSTAR()
@options.JSON(help='Print the page, the figures and the notes on the figures left out as JSON.')
def report(group, output, tc_formula, mustar, as_json):
    """Write the HTML report of GROUP (a campaign group, or any group of tagged structures): the convex hull at the
    pressure with LAM and DFT enthalpies, Tc against E_hull, alpha^2F and lambda(omega) of every computed candidate,
    the funnel with the counts per stage, and the table of candidates.

    The page (index.html) and its figures (figures/*.png, *.svg) use relative paths: open index.html in a browser, or
    move the folder as it is. A figure without data (no EPC yet, say) is left out with a line saying why.
    """
    load_profile()
    from aiida_hydrides.candidates import CandidatesError, resolve_group
    from aiida_hydrides.report import write_report

    try:
        group_node = resolve_group(group)
    except CandidatesError as exception:
        bad_option('group', str(exception))
    if output is None:
        output = pathlib.Path(f'hydrides-report-{re.sub(r"[^A-Za-z0-9.+-]+", "_", group_node.label).strip("_")}')
    if output.exists() and not output.is_dir():
        bad_option('output', f'{output} exists and is not a folder')
    try:
        result = write_report(group_node, output, tc_formula=tc_formula, mu_star=mustar)
    except OSError as exception:
        fail(f'cannot write the report into {output}: {exception}')
    if as_json:
        echo_json(
            {
                'index': str(result.index),
                'candidates': result.candidates,
                'figures': result.figures,
                'skipped': result.skipped,
            }
        )
        return
    click.echo(
        f'Report of group {group_node.label!r}: {result.candidates} candidate(s), {len(result.figures)} figure(s).'
    )
    for note in result.skipped:
        click.echo(f'  {note}')
    click.echo(f'Open {result.index.resolve()}')
