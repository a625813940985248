"""``aiida-hydrides screen``: the filter cascade over the LAM minima of a group (``ScreenWorkChain``), run in this
process or on the daemon (``--daemon``); prints the funnel."""

import click

from .launch import launch
from .params import options
from .utils import bad_option, echo_json, fail, lam_code, load_code, load_computer, load_profile, qe_codes


def _parse_thresholds(values) -> dict:
    """``NAME=VALUE`` pairs of ``--threshold`` as a dictionary, checked against the threshold names."""
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.screening import thresholds_from_parameters

    thresholds = {}
    for item in values:
        name, sep, value = item.partition('=')
        if not sep:
            bad_option('thresholds', f'{item!r} is not NAME=VALUE')
        try:
            number = float(value)
        except ValueError:
            bad_option('thresholds', f'the value of {name} must be a number, got {value!r}')
        thresholds[name.strip()] = int(number) if name.strip() == 'space_group_min' and number.is_integer() else number
    try:
        thresholds_from_parameters(thresholds)
    except HydridesInputError as exc:
        bad_option('thresholds', str(exc))
    return thresholds


@click.command('screen')
@click.argument('group')
@options.PRESSURE(
    default=None,
    show_default=False,
    help='Pressure of the structures in GPa (checked against theirs); a unit may be appended. Default: theirs.',
)
@options.protocol_option(
    'hydrides.screen',
    help='Protocol of the `hydrides.screen` work chain: phonon supercells and q-mesh, DFT protocol '
    '(workflows/protocols/screen/base.yaml).',
)
@click.option(
    '--threshold',
    'thresholds',
    multiple=True,
    metavar='NAME=VALUE',
    help='Override a threshold, e.g. ehull_lam_max_mev=100; repeatable. Names: ehull_lam_max_mev, space_group_min, '
    'symprec, atomic_h_min, h_threshold, imaginary_max_thz, ehull_dft_max_mev.',
)
@click.option(
    '--candidates',
    type=click.Choice(['hydrides', 'ternaries']),
    default=None,
    help='Screen every hydride (default) or ternaries only; all structures enter the convex hull.',
)
@options.MODEL(
    required=False,
    default=None,
    help='DeePMD model of the phonons  [default: the model of the search that filled GROUP].',
)
@click.option('--no-dft', is_flag=True, default=False, help='Stop after the LAM phonons (no pw.x).')
@click.option('--max-dft', type=click.IntRange(min=1), default=None, help='DFT work chains running at a time.')
@click.option(
    '--search-missing', is_flag=True, default=False, help='Search the elements GROUP lacks first (fast protocol).'
)
@click.option('--survivors-group', default=None, help='Group of the survivors (default hydrides/screen/<A-B>/<P>GPa).')
@options.COMPUTER(help='Computer of the hydrides-lam and pw.x codes (created when missing).')
@click.option(
    '--lam-code',
    'lam_code_id',
    default=None,
    metavar='CODE',
    help='hydrides-lam code instead of hydrides-lam@COMPUTER.',
)
@click.option('--pw-code', 'pw_code_id', default=None, metavar='CODE', help='pw.x code instead of pw@COMPUTER.')
@options.PSEUDO_FAMILY()
@options.MPIPROCS()
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print the funnel as JSON (with --daemon: the submitted PK).')
def screen(
    group,
    pressure,
    protocol,
    thresholds,
    candidates,
    model,
    no_dft,
    max_dft,
    search_missing,
    survivors_group,
    computer,
    lam_code_id,
    pw_code_id,
    family,
    mpiprocs,
    daemon,
    verbose,
    as_json,
):
    """Screen the LAM minima of GROUP: LAM hull -> symmetry -> atomic H -> LAM phonons -> DFT hull.

    GROUP is a group of search minima at one pressure, e.g. hydrides/search/Ca-Y/200GPa as `aiida-hydrides search`
    fills it. Every candidate gets its verdicts in its `hydrides` extra (`screen`: per stage the value, threshold and
    whether it passed); the survivors go to a group. Running the command again reuses the phonons and DFT enthalpies
    already computed. Prints the funnel.
    """
    overrides = {}
    if thresholds:
        overrides['thresholds'] = _parse_thresholds(thresholds)
    if candidates:
        overrides['candidates'] = candidates
    if max_dft:
        overrides['dft'] = {'max_concurrent': max_dft}
    if search_missing:
        overrides['search_missing'] = True

    load_profile()
    from aiida_hydrides.cli.utils import calculation_options
    from aiida_hydrides.workflows.screen.base import ScreenWorkChain
    from aiida_hydrides.workflows.screen.candidates import (
        ScreenInputError,
        check_family_elements,
        check_model_elements,
        find_model,
        load_screen_group,
    )

    # Everything that can be checked is checked before the work chain exists: nothing is stored for bad input.
    try:
        found = load_screen_group(group, pressure, candidates or 'hydrides')
        elements = found.elements
    except ScreenInputError as exc:
        if not (search_missing and exc.exit_code == 'ERROR_MISSING_REFERENCES'):
            fail(str(exc))
        found, elements = None, None
    try:
        if model is not None:
            if elements is not None:
                check_model_elements(model, elements)
        else:
            find_model(group)
        if not no_dft and elements is not None:
            check_family_elements(family, elements)
    except ScreenInputError as exc:
        fail(str(exc))

    computer_node = None
    if lam_code_id is not None:
        lam = load_code(lam_code_id)
    else:
        computer_node = load_computer(computer)
        lam = lam_code(computer_node)
    pw = None
    if not no_dft:
        if pw_code_id is not None:
            pw = load_code(pw_code_id, plugins=('quantumespresso.pw',))
            computer_node = pw.computer
        else:
            computer_node = computer_node or load_computer(computer)
            pw = qe_codes(computer_node, ['pw'])['pw']
    try:
        builder = ScreenWorkChain.get_builder_from_protocol(
            lam,
            group,
            pw_code=pw,
            pressure=pressure,
            model=model,
            protocol=protocol,
            overrides=overrides or None,
            dft_options=calculation_options(pw.computer, mpiprocs) if pw is not None else None,
            pseudo_family=family,
        )
    except ValueError as exc:
        fail(str(exc))
    if survivors_group:
        from aiida import orm

        builder.survivors_group = orm.Str(survivors_group)

    resume = (
        'Run the same command again to go on: the phonons and DFT enthalpies already computed are reused, the rest is '
        'computed.'
    )
    node = launch(builder, daemon=daemon, as_json=as_json, verbose=verbose, resume_hint=resume)
    if node is None:
        return
    if 'funnel' not in node.outputs:
        fail(f'ScreenWorkChain<{node.pk}> failed ({node.exit_status}): {node.exit_message}')
    data = summarise(node)
    if as_json:
        echo_json(data)
    else:
        echo_funnel(data)
    if not node.is_finished_ok:
        fail(f'ScreenWorkChain<{node.pk}> finished with exit status {node.exit_status}: {node.exit_message}')


def summarise(node) -> dict:
    """The funnel of a screening work chain with its survivors' values, the LAM-vs-DFT agreement and prototypes."""
    from aiida import orm

    from aiida_hydrides.extras import get_tags

    data = node.outputs.funnel.get_dict()
    data['workchain'] = node.pk
    data['exit_status'] = node.exit_status
    survivors = []
    for entry in data.get('survivors', []):
        tags = get_tags(orm.load_node(entry['uuid']))
        screen = tags.get('screen', {})
        survivors.append(
            {
                **entry,
                'space_group': screen.get('symmetry', {}).get('symbol'),
                'ehull_lam_mev': screen.get('lam_hull', {}).get('value'),
                'ehull_dft_mev': (screen.get('dft_hull') or {}).get('value'),
                'max_imaginary_thz': (screen.get('lam_phonons') or {}).get('value'),
                'prototype': screen.get('prototype'),
                'known_prototype': screen.get('known_prototype'),
                'novel': screen.get('novel'),
            }
        )
    data['survivors'] = survivors
    if 'lam_vs_dft' in node.outputs:
        comparison = node.outputs.lam_vs_dft.get_dict()
        data['lam_vs_dft'] = {key: comparison[key] for key in ('n', 'mae_mev', 'max_abs_mev', 'spearman', 'worst')}
    if 'prototypes' in node.outputs:
        groups = node.outputs.prototypes.get_dict()['groups']
        data['prototypes'] = [
            {key: group[key] for key in ('label', 'known', 'novel')} | {'members': len(group['members'])}
            for group in groups
        ]
    return data


def echo_funnel(data: dict):
    """Print the funnel table, the survivors and the LAM-vs-DFT agreement."""
    from aiida_hydrides.core.screening import describe_rule

    thresholds = data['thresholds']
    click.echo(
        f'\nScreening of {data["system"]}-H at {data["pressure_gpa"]:g} GPa, group {data["group"]!r}: '
        f'{data["n_structures"]} LAM structures, {data["stages"][0]["entering"]} candidates ({data["candidates"]})'
    )
    click.echo(f'{"stage":<12} {"kept when":<30} {"in":>6} {"out":>6} {"time":>9}')
    for stage in data['stages']:
        rule = describe_rule(stage['stage'], thresholds)
        wall = '-' if stage.get('wall_s') is None else f'{stage["wall_s"]:.1f} s'
        click.echo(f'{stage["stage"]:<12} {rule:<30} {stage["entering"]:>6} {stage["leaving"]:>6} {wall:>9}')
    if data['stages'][-1]['stage'] != 'dft_hull':
        click.echo('The DFT stage did not run (--no-dft): the survivors passed the LAM stages.')
    errors = next((s.get('dft_errors') for s in data['stages'] if s['stage'] == 'dft_hull'), None)
    for formula, message in (errors or {}).items():
        click.echo(f'  DFT failed for {formula}: {message}')
    survivors = data['survivors']
    noun = 'survivor' if len(survivors) == 1 else 'survivors'
    click.echo(f'\n{len(survivors)} {noun} in group {data["survivors_group"]!r}')
    if survivors:
        click.echo(
            f'{"formula":<12} {"space group":<12} {"E_hull LAM":>11} {"E_hull DFT":>11} {"imag. THz":>9}  prototype'
        )
    for entry in survivors:
        dft = entry['ehull_dft_mev']
        known = entry['known_prototype']
        prototype = f'{entry["prototype"]} ({"known: " + known if known else "new"})' if entry['prototype'] else '-'
        click.echo(
            f'{entry["formula"]:<12} {entry["space_group"] or "-":<12} {entry["ehull_lam_mev"]:>11.1f} '
            f'{"-" if dft is None else f"{dft:.1f}":>11} {entry["max_imaginary_thz"] or 0.0:>9.2f}  {prototype}'
        )
    comparison = data.get('lam_vs_dft')
    if comparison and comparison['n']:
        spearman = '-' if comparison['spearman'] is None else f'{comparison["spearman"]:.2f}'
        click.echo(
            f'\nLAM vs DFT E_hull on {comparison["n"]} structures: MAE {comparison["mae_mev"]:.1f} meV/atom, largest '
            f'{comparison["max_abs_mev"]:.1f} meV/atom, Spearman {spearman}'
        )
    click.echo(f'Work chain PK {data["workchain"]}; E_hull values in meV/atom.')
