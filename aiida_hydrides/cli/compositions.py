"""``aiida-hydrides compositions``: enumerate the ternary hydrides A_mB_nH_x of a system or an element space."""

import click

from .utils import echo_json, fail


@click.command('compositions')
@click.argument('system', required=False)
@click.option('--count', is_flag=True, help='Print only the number of compositions (and of distinct reduced formulas).')
@click.option('--json', 'as_json', is_flag=True, help='Print machine-readable JSON.')
@click.option(
    '--references',
    is_flag=True,
    help='List the reference phases of the hull instead: elements, binary hydrides and A-B alloys.',
)
@click.option('--distinct', is_flag=True, help='List each reduced formula once (473 per system with the defaults).')
@click.option(
    '--all',
    'whole_space',
    is_flag=True,
    help='Enumerate every A-B pair of the element space instead of one SYSTEM (378 pairs by default).',
)
@click.option(
    '--elements',
    default=None,
    metavar='SYMBOLS',
    help="Element space for --all, e.g. 'Ca,Y,La,Mg' (hydrogen is always included); default: the 29-element space.",
)
@click.option('--max-m', type=int, default=4, show_default=True, help='Largest number of A atoms m.')
@click.option('--max-n', type=int, default=4, show_default=True, help='Largest number of B atoms n.')
@click.option(
    '--min-h-ratio', type=float, default=3, show_default=True, help='Smallest x/(m+n), hydrogen atoms per partner atom.'
)
@click.option(
    '--max-h-ratio', type=float, default=10, show_default=True, help='Largest x/(m+n), hydrogen atoms per partner atom.'
)
def compositions(
    system, count, as_json, references, distinct, whole_space, elements, max_m, max_n, min_h_ratio, max_h_ratio
):
    """Enumerate the compositions A_mB_nH_x of SYSTEM (e.g. 'Ca-Y' or 'CaY').

    The default rules are 1 <= m, n <= 4 and 3(m+n) <= x <= 10(m+n): 576 compositions per system, 473 distinct
    reduced formulas. With --all, the whole element space (378 pairs, 217728 compositions by default).
    """
    from aiida_hydrides.core import compositions as comps
    from aiida_hydrides.core.elements import ElementSpace
    from aiida_hydrides.core.errors import HydridesInputError

    try:
        rules = comps.CompositionRules(max_m=max_m, max_n=max_n, min_h_ratio=min_h_ratio, max_h_ratio=max_h_ratio)
        if whole_space:
            if system:
                fail('give either a SYSTEM or --all, not both')
            if references:
                fail('--references needs a SYSTEM, not --all')
            space = ElementSpace(elements) if elements else ElementSpace.default()
            _whole_space(space, rules, count, as_json, distinct)
            return
        if elements:
            fail('--elements only applies with --all')
        if not system:
            fail("give a SYSTEM such as 'Ca-Y', or --all for the whole element space")
        pair = comps.parse_system(system)
        if references:
            _references(pair, count, as_json)
        else:
            _system(pair, rules, count, as_json, distinct)
    except HydridesInputError as exc:
        fail(str(exc))


def _system(pair, rules, count, as_json, distinct):
    from aiida_hydrides.core import compositions as comps

    label = comps.system_label(*pair)
    total, unique = rules.count(), rules.count(distinct=True)
    if count:
        if as_json:
            echo_json({'system': label, 'rules': rules.as_dict(), 'count': total, 'distinct_count': unique})
        else:
            click.echo(str(total))
            click.echo(f'{unique} distinct reduced formulas')
        return
    items = comps.enumerate_compositions(pair, rules, distinct=distinct)
    if as_json:
        echo_json(
            {
                'system': label,
                'rules': rules.as_dict(),
                'count': total,
                'distinct_count': unique,
                'distinct': distinct,
                'compositions': [item.as_dict() for item in items],
            }
        )
        return
    click.echo(f'{"formula":<14} {"reduced":<12} {"m":>2} {"n":>2} {"x":>3} {"atoms":>5} {"H share":>8}')
    for item in items:
        click.echo(
            f'{item.formula:<14} {item.reduced_formula:<12} {item.m:>2} {item.n:>2} {item.x:>3} {item.num_atoms:>5} '
            f'{item.hydrogen_share:>8.3f}'
        )
    click.echo(f'# {len(items)} compositions of {label} ({unique} distinct reduced formulas)', err=True)


def _references(pair, count, as_json):
    from aiida_hydrides.core import compositions as comps

    phases = comps.reference_compositions(pair)
    rules = comps.DEFAULT_REFERENCE_RULES
    if as_json:
        data = {'rules': rules.as_dict(), 'count': len(phases), **phases.as_dict()}
        if count:
            data = {key: (len(value) if isinstance(value, list) else value) for key, value in data.items()}
        echo_json(data)
        return
    if count:
        click.echo(str(len(phases)))
        click.echo(
            f'{len(phases.elements)} elements, {len(phases.hydrides)} binary hydrides, {len(phases.alloys)} alloys'
        )
        return
    for title, items in (
        ('elements', phases.elements),
        ('binary hydrides', phases.hydrides),
        ('alloys', phases.alloys),
    ):
        click.echo(f'# {title} ({len(items)})')
        for item in items:
            click.echo(item.formula)


def _whole_space(space, rules, count, as_json, distinct):
    from aiida_hydrides.core import compositions as comps

    total = comps.count_space_compositions(space, rules)
    unique = comps.count_space_compositions(space, rules, distinct=True)
    summary = {
        'elements': list(space.elements),
        'num_pairs': space.num_pairs,
        'rules': rules.as_dict(),
        'count': total,
        'distinct_count': unique,
    }
    if count:
        if as_json:
            echo_json(summary)
        else:
            click.echo(str(total))
            click.echo(f'{unique} distinct reduced formulas')
            click.echo(f'{space.num_pairs} pairs of {len(space.partners)} elements (plus H)')
        return
    if as_json:
        summary['distinct'] = distinct
        summary['compositions'] = [item.formula for item in comps.iter_space_compositions(space, rules, distinct)]
        echo_json(summary)
        return
    for item in comps.iter_space_compositions(space, rules, distinct):
        click.echo(item.formula)
