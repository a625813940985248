"""``aiida-hydrides candidates``: the candidate structures of a campaign (or of any group, or of the whole profile) as
a table, CSV or JSON, filtered and sorted (:func:`aiida_hydrides.candidates.candidates`)."""

import math

import click

from .params import options
from .utils import bad_option, echo_json, load_profile


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_table(frame) -> str:
    """The rows of a candidates ``DataFrame`` as an aligned text table (E_hull in meV/atom); the columns that no
    row has a value for are left out."""
    from aiida_hydrides.candidates import DISPLAY, NUMERIC

    specs = [(name, short, fmt) for name, (short, _, fmt) in DISPLAY.items()]  # in the order of the columns
    shown = [spec for spec in specs if spec[0] in frame.columns and not frame[spec[0]].map(_missing).all()]
    cells = [[header for _, header, _ in shown]]
    for record in frame.to_dict('records'):
        cells.append(['-' if _missing(record[name]) else fmt(record[name]) for name, _, fmt in shown])
    widths = [max(len(row[index]) for row in cells) for index in range(len(shown))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if name in NUMERIC else cell.ljust(width)
            for cell, width, (name, _, _) in zip(row, widths, shown, strict=True)
        ]
        lines.append('  '.join(parts).rstrip())
    return '\n'.join(lines)


def records(frame) -> list:
    """The rows as JSON-ready dictionaries (missing values as ``None``)."""
    result = []
    for record in frame.to_dict('records'):
        row = {}
        for name, value in record.items():
            if _missing(value):
                value = None
            elif hasattr(value, 'item'):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            row[name] = value
        result.append(row)
    return result


def _system(ctx, param, value):
    if value is None:
        return None
    from aiida_hydrides.candidates import CandidatesError, parse_system_elements

    try:
        parse_system_elements(value)
    except CandidatesError as exception:
        raise click.BadParameter(str(exception), ctx=ctx, param=param) from None
    return value


def _finite(ctx, param, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f'must be a finite number, got {value}', ctx=ctx, param=param)
    return value


@click.command('candidates')
@click.argument('group', required=False)
@click.option(
    '--tc-min',
    type=float,
    default=None,
    callback=_finite,
    help='Only the candidates with a computed Tc (--tc-formula, --mustar) of at least this many K.',
)
@click.option(
    '--ehull-max',
    type=float,
    default=None,
    callback=_finite,
    help='Only the candidates with E_hull at most this many meV/atom (DFT where computed, else LAM; see '
    '--ehull-method).',
)
@click.option(
    '--system',
    default=None,
    callback=_system,
    help='Only the candidates made of these elements (and H): Ca-Y keeps CaH6, YH6 and CaYH12.',
)
@options.PRESSURE(default=None, show_default=False, help='Only the candidates at this pressure (GPa, or with a unit).')
@click.option(
    '--sort',
    type=click.Choice(['tc', 'ehull', 'formula', 'rank', 'tc_pred']),
    default='tc',
    show_default=True,
    help='Order of the rows: Tc (highest first), E_hull (lowest first), formula, selection rank or predicted Tc.',
)
@click.option('--limit', type=click.IntRange(min=1), default=None, help='Show at most this many rows.')
@click.option(
    '--format',
    'output_format',
    type=click.Choice(['table', 'csv', 'json']),
    default='table',
    show_default=True,
    help='Output: an aligned table, CSV or JSON (every column, full UUIDs).',
)
@options.TC_FORMULA(help='The Tc shown and filtered.')
@options.MUSTAR()
@click.option(
    '--ehull-method',
    type=click.Choice(['auto', 'lam', 'dft']),
    default='auto',
    show_default=True,
    help='The E_hull of --ehull-max and --sort ehull: DFT where computed else LAM (auto), LAM or DFT.',
)
def candidates(
    group, tc_min, ehull_max, system, pressure, sort, limit, output_format, tc_formula, mustar, ehull_method
):
    """List the candidate structures of GROUP (a campaign group, a screen's survivors, any group of structures), or of
    the whole profile without GROUP.

    One row per candidate hydride: formula, system, pressure, space group, atoms, E_hull with LAM and DFT enthalpies
    (meV/atom), the computed Tc, lambda and omega_log of its electron-phonon coupling, the Tc model's prediction with
    its spread, the selection rank and its status. The same table from Python:
    `aiida_hydrides.candidates.candidates(GROUP)` returns it as a pandas DataFrame.
    """
    load_profile()
    from aiida_hydrides.candidates import CandidatesError
    from aiida_hydrides.candidates import candidates as get_candidates

    try:
        frame = get_candidates(
            group,
            tc_min=tc_min,
            ehull_max=ehull_max,
            system=system,
            pressure=pressure,
            tc_formula=tc_formula,
            mu_star=mustar,
            sort=sort,
            method=ehull_method,
        )
    except CandidatesError as exception:
        bad_option('group', str(exception))  # the options were checked by click: what is left is GROUP
    if limit is not None:
        frame = frame.head(limit)
    if output_format == 'json':
        echo_json(records(frame))
    elif output_format == 'csv':
        click.echo(frame.to_csv(index=False), nl=False)
    elif frame.empty:
        where = f'group {group!r}' if group is not None else 'the profile'
        click.echo(f'No candidate in {where} matches.')
    else:
        click.echo(format_table(frame))
        click.echo(f'{len(frame)} candidate(s); E_hull in meV/atom; Tc: {tc_formula}, mu* {mustar:g}.')
