"""``aiida-hydrides minima``: the minima (or every relaxed structure) of a search, promoted to ``StructureData`` or
still in the jobs' arrays, filtered by composition and enthalpy; ``--promote`` makes the listed ones
``StructureData`` (:mod:`aiida_hydrides.workflows.search.minima`)."""

import math

import click

from .params import options
from .utils import bad_option, echo_json, load_profile


def _limit(name, value):
    if value is not None and not math.isfinite(value):
        bad_option(name, f'must be a number of meV/atom, got {value}')


@click.command('minima')
@click.argument('source')
@click.option(
    '--formula',
    '-f',
    'formulas',
    default=None,
    help='Comma-separated compositions to list (any form of the formula: CaYH12 or Ca2Y2H24); default: all.',
)
@click.option(
    '--max-relative',
    'max_relative_mev',
    type=float,
    default=None,
    help='Only the structures within this many meV/atom of the best of their composition.',
)
@click.option(
    '--max-ehull',
    'max_ehull_mev',
    type=float,
    default=None,
    help='Only the minima whose E_hull among all the minima of the search is at most this many meV/atom '
    '(a lower bound, marked >=, while an element has no elemental minimum).',
)
@click.option(
    '--unpromoted',
    is_flag=True,
    help='Only the structures that are not StructureData yet (still in the arrays of the jobs).',
)
@click.option(
    '--samples',
    is_flag=True,
    help='Every usable relaxed structure, not only the distinct minima (no E_hull then).',
)
@click.option(
    '--promote',
    is_flag=True,
    help='Make the listed structures StructureData (minima go to the search group); those that are already '
    'StructureData are left as they are.',
)
@options.JSON()
def minima(source, formulas, max_relative_mev, max_ehull_mev, unpromoted, samples, promote, as_json):
    """List the minima of a structure search, promoted or not: SOURCE is a search group (e.g.
    hydrides/search/Ca-Y/200GPa), or the PK or UUID of a system search work chain or of a search job.

    A system search promotes to StructureData only the minima that can pass the LAM hull (`aiida-hydrides search
    --promote-ehull`); the others stay in the array nodes of the jobs, listed here all the same (E_hull among all
    the minima of the search, meV/atom above the best of their composition). With --promote the listed structures
    become StructureData, e.g. one above the threshold that you want to screen or relax with DFT.
    """
    from aiida_hydrides.core.errors import HydridesInputError

    _limit('max_relative_mev', max_relative_mev)
    _limit('max_ehull_mev', max_ehull_mev)
    if samples and max_ehull_mev is not None:
        bad_option('max_ehull_mev', 'E_hull is known for the minima only: leave out --samples')
    selected = None
    if formulas is not None:
        selected = [item.strip() for item in formulas.split(',') if item.strip()]
        if not selected:
            bad_option('formulas', 'no formula given: name the compositions separated by commas, e.g. CaH6,YH6')
        from aiida_hydrides.core.compositions import parse_formula

        for item in selected:
            try:
                parse_formula(item)
            except HydridesInputError as exc:
                bad_option('formulas', str(exc))

    load_profile()
    from aiida_hydrides.workflows.search.minima import SearchQueryError, sampled_structures, search_minima
    from aiida_hydrides.workflows.search.minima import promote as promote_records

    source_value = int(source) if source.isdigit() else source
    try:
        if samples:
            rows = sampled_structures(source_value, formula=selected, max_relative_mev=max_relative_mev)
            if unpromoted:
                rows = [row for row in rows if not row.promoted]
        else:
            rows = search_minima(
                source_value,
                formula=selected,
                max_relative_mev=max_relative_mev,
                max_ehull_mev=max_ehull_mev,
                promoted=False if unpromoted else None,
            )
    except SearchQueryError as exc:
        raise click.BadParameter(str(exc), param_hint="'SOURCE'") from None
    made = []
    if promote and rows:
        before = {row.key for row in rows if row.promoted}
        structures = promote_records(rows)
        for row, structure in zip(rows, structures, strict=True):
            row.structure_pk = structure.pk
            if row.key not in before:
                made.append(structure.pk)
    if as_json:
        echo_json({'structures': [row.as_dict() for row in rows], 'promoted_now': made})
        return
    _echo_table(rows, samples)
    promoted = sum(1 for row in rows if row.promoted)
    click.echo(
        f'{len(rows)} structures, {promoted} of them StructureData' + (f' ({len(made)} made now)' if promote else '')
    )


def _echo_table(rows, samples):
    from aiida import orm

    jobs = {}
    header = f'{"composition":<12} {"space group":<14} {"natoms":>6} {"H (eV/atom)":>13} {"above best":>10} '
    header += ('' if samples else f'{"E_hull":>9} ') + f'{"StructureData":>13} {"job":>7} {"sample":>6}'
    click.echo(header)
    for row in rows:
        if row.calc_uuid not in jobs:
            jobs[row.calc_uuid] = orm.load_node(row.calc_uuid).pk
        group = f'{row.space_group_symbol} ({row.space_group_number})' if row.space_group_symbol else '-'
        line = (
            f'{row.formula:<12} {group:<14} {row.natoms:>6} {row.enthalpy_per_atom:>13.5f} {row.relative_mev:>10.1f} '
        )
        if not samples:
            ehull = '-' if row.e_hull_mev is None else f'{"" if row.e_hull_exact else ">="}{row.e_hull_mev:.1f}'
            line += f'{ehull:>9} '
        line += f'{row.structure_pk or "-":>13} {jobs[row.calc_uuid]:>7} {row.sample_index:>6}'
        click.echo(line)
