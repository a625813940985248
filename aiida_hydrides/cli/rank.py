"""``aiida-hydrides rank``: the two-stage selection of the structures of a group for electron-phonon calculations,
every choice recorded on its structure (``extras.hydrides.selection``)."""

import csv
import io

import click

from .utils import echo_json, fail, load_profile

FORMATS = ('table', 'csv', 'json')


def _score(value) -> str:
    return '-' if value is None else f'{value:.3f}'


def format_table(result: dict) -> str:
    """The ranking as text: one line per ranked structure, then those left out."""
    stage = result['stage']
    how = f'kappa {result["kappa"]:g}' if stage == 2 else '; '.join(result['rules'].values())
    budget = 'all' if result['budget'] is None else result['budget']
    lines = [f'Stage {stage} ranking of group {result["group"]!r} ({how}), budget {budget}']
    lines.append(f'{"rank":>4}  {"pk":>7}  {"formula":<12} {"score":>9}  {"selected":<8}  rule')
    for row in result['rows']:
        selected = 'yes' if row['selected'] else 'no'
        lines.append(
            f'{row["rank"]:>4}  {row["pk"]:>7}  {row["formula"]:<12} {_score(row["score"]):>9}  {selected:<8}  '
            f'{row["rule"]}'
        )
    for item in result['left_out']:
        lines.append(
            f'{"-":>4}  {item["pk"]:>7}  {item["formula"]:<12} {"-":>9}  {"no":<8}  left out: {item["reason"]}'
        )
    if result['recorded']:
        lines.append(f'Recorded on {result["recorded"]} structure(s) as extras.hydrides.selection.')
    else:
        lines.append('Dry run: nothing recorded.')
    return '\n'.join(lines)


def format_csv(result: dict) -> str:
    """The ranking as CSV, the structures left out last (empty rank)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(['rank', 'stage', 'pk', 'uuid', 'formula', 'rule', 'score', 'selected'])
    for row in result['rows']:
        writer.writerow(
            [
                row['rank'],
                row['stage'],
                row['pk'],
                row['name'],
                row['formula'],
                row['rule'],
                row['score'],
                row['selected'],
            ]
        )
    for item in result['left_out']:
        writer.writerow(['', result['stage'], item['pk'], item['name'], item['formula'], item['reason'], '', False])
    return buffer.getvalue().rstrip('\n')


@click.command('rank')
@click.argument('group')
@click.option(
    '--stage',
    type=click.Choice(['1', '2']),
    default='1',
    show_default=True,
    help='1: priority rules (H share of N(E_F), symmetry, few atoms); 2: the structures stage 1 did not select and '
    'without an EPC result, by predicted Tc (mean + kappa * spread; needs `hydrides.tc_model.predict`).',
)
@click.option(
    '--kappa',
    type=click.FloatRange(min=0, max=100),
    default=0.0,
    show_default=True,
    help='Stage 2: weight of the ensemble spread in the score mean + kappa * spread (0: the predicted mean alone).',
)
@click.option(
    '--budget',
    type=click.IntRange(min=1),
    default=None,
    help='How many structures the stage selects (the first ones ranked)  [default: all].',
)
@click.option(
    '--e-hull-max',
    type=click.FloatRange(min=0),
    default=None,
    help='Stage 2: leave out structures whose recorded E_hull is above this (meV/atom).',
)
@click.option(
    '--h-dos-share-min',
    type=click.FloatRange(min=0, max=1),
    default=0.4,
    show_default=True,
    help='Stage 1: the hydrogen share of N(E_F) that passes the first rule.',
)
@click.option(
    '--space-group-min',
    type=click.IntRange(min=1, max=230),
    default=195,
    show_default=True,
    help='Stage 1: the smallest space group number that passes the symmetry rule (195: cubic).',
)
@click.option(
    '--natoms-max',
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help='Stage 1: the most atoms in the cell that pass the few-atoms rule.',
)
@click.option(
    '--format',
    'output_format',
    type=click.Choice(FORMATS),
    default='table',
    show_default=True,
    help='Output: a table, CSV or JSON.',
)
@click.option('--dry-run', is_flag=True, help='Rank and print, but record nothing on the structures.')
def rank(group, stage, kappa, budget, e_hull_max, h_dos_share_min, space_group_min, natoms_max, output_format, dry_run):
    """Rank the structures of GROUP for electron-phonon calculations and record every choice.

    \b
    Stage 1 ranks every structure by priority rules, highest first:
      h_dos_share  hydrogen share of N(E_F) >= --h-dos-share-min (from a cheap SCF or an EPC; unknown: not passed)
      symmetry     space group >= --space-group-min
      few_atoms    atoms in the cell <= --natoms-max
    Stage 2 ranks the structures stage 1 did not select (and without an EPC result) by the predicted Tc of
    hydrides.tc_model.predict, mean + kappa * spread, lower E_hull first among equals.

    Each ranked structure gets extras.hydrides.selection = {stage, rank, rule, score, kappa, selected, ...};
    the first --budget are selected.
    """
    from click.core import ParameterSource

    stage = int(stage)
    ctx = click.get_current_context()
    if stage == 1:
        ignored = [
            f'--{name.replace("_", "-")}'
            for name in ('kappa', 'e_hull_max')
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
        ]
        if ignored:
            click.echo(f'Note: {", ".join(ignored)} apply to stage 2 only; ignored.', err=True)
    load_profile()
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.tc_model.selection import Stage1Rules
    from aiida_hydrides.selection import rank_group

    try:
        rules = Stage1Rules(h_dos_share_min=h_dos_share_min, space_group_min=space_group_min, natoms_max=natoms_max)
        result = rank_group(
            group,
            stage=stage,
            kappa=kappa,
            budget=budget,
            e_hull_max_mev=e_hull_max,
            rules=rules,
            record=not dry_run,
        )
    except HydridesInputError as exception:
        fail(str(exception))
    if output_format == 'json':
        echo_json(result)
    elif output_format == 'csv':
        click.echo(format_csv(result))
    else:
        click.echo(format_table(result))
