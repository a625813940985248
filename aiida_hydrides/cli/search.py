"""``aiida-hydrides search``: structure search of an A-B-H system at one pressure (``SystemSearchWorkChain``), run in
this process or on the daemon (``--daemon``), with provenance; the minima go to a group."""

import click

from .launch import run_or_submit
from .params import options, types
from .utils import bad_option, echo_json, fail, lam_code, load_code, load_computer, load_profile


@click.command('search')
@click.argument('system')
@options.PRESSURE()
@options.MODEL()
@click.option(
    '--compositions',
    '-c',
    default=None,
    help='Comma-separated formulas to search (e.g. CaYH12,Ca3YH24); default: elements, binary hydrides and '
    'every distinct ternary of the system that fits in --max-atoms.',
)
@options.protocol_option(
    'hydrides.search.system',
    help='Search budgets of the `hydrides.search.system` work chain (workflows/protocols/search/system.yaml).',
)
@click.option(
    '--budget', type=click.IntRange(min=1), default=None, help='Relaxations per composition (overrides the protocol).'
)
@click.option(
    '--population',
    type=click.IntRange(min=1),
    default=None,
    help='Relaxations per generation (overrides the protocol).',
)
@click.option(
    '--max-atoms', type=click.IntRange(min=1), default=None, help='Atom budget per cell (overrides the protocol).'
)
@click.option(
    '--formula-units',
    type=types.IntegerListType(minimum=1),
    default=None,
    help='Allowed formula units per cell, e.g. 2 or 1,2,4 (default: any that fits --max-atoms).',
)
@options.MAX_STEPS(help='Relaxation step limit (overrides the protocol).')
@click.option('--seed', type=click.IntRange(min=0), default=None, help='Random seed of every composition (default 0).')
@click.option(
    '--window',
    'window_mev',
    type=click.FloatRange(min=0),
    default=None,
    help="Keep minima within this many meV/atom of each composition's best (default 100).",
)
@click.option(
    '--per-job', 'per_job', type=click.IntRange(min=1), default=None, help='Compositions per SearchCalculation.'
)
@click.option(
    '--max-jobs',
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help='SearchCalculations running at the same time (each uses one core).',
)
@click.option(
    '--group',
    'group_label',
    default=None,
    help='Group of the minima (default hydrides/search/<A-B>/<P>GPa); finished compositions in it are skipped.',
)
@options.COMPUTER(help='Computer that runs the searches with its hydrides-lam code (created when missing).')
@options.CODE(help='hydrides-lam code to run instead of hydrides-lam@COMPUTER: its label, PK or UUID.')
@options.DAEMON()
@options.JSON(help='Print machine-readable JSON (with --daemon: the submitted PK).')
def search(
    system,
    pressure,
    model,
    compositions,
    protocol,
    budget,
    population,
    max_atoms,
    formula_units,
    max_steps,
    seed,
    window_mev,
    per_job,
    max_jobs,
    group_label,
    computer,
    code,
    daemon,
    as_json,
):
    """Search the crystal structures of the compositions of SYSTEM (e.g. Ca-Y) at a target pressure.

    Each composition gets its own search (random symmetric cells and learned offspring relaxed with the DeePMD model);
    the distinct minima within --window of its best become StructureData nodes in a group, tagged with the extra
    `hydrides` (method lam, formula, pressure_gpa, enthalpy_lam_ev, space group, ...). Running the command again for
    the same group skips the compositions already finished. Prints one line per finished job and a summary table; with
    --daemon the work chain is submitted and the command returns at once with its PK.
    """
    import logging

    formulas = None
    if compositions:
        formulas = [item.strip() for item in compositions.split(',') if item.strip()]
        if not formulas:
            bad_option('compositions', 'no formula given')

    load_profile()
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    if code is not None:
        lam = load_code(code)
    else:
        lam = lam_code(load_computer(computer))
    parameters = {
        key: value
        for key, value in (
            ('budget', budget),
            ('population', population),
            ('max_atoms', max_atoms),
            ('max_steps', max_steps),
            ('seed', seed),
        )
        if value is not None
    }
    if formula_units is not None:
        parameters['formula_units'] = formula_units
    overrides = {'parameters': parameters, 'max_concurrent_jobs': max_jobs}
    if window_mev is not None:
        overrides['window_mev'] = window_mev
    if per_job is not None:
        overrides['compositions_per_job'] = per_job
    try:
        protocol_parameters = SystemSearchWorkChain.get_protocol_inputs(protocol, overrides)['parameters']
        if protocol_parameters.get('population', 1) > protocol_parameters.get('budget', 1):  # a small --budget
            overrides['parameters']['population'] = protocol_parameters['budget']
        builder = SystemSearchWorkChain.get_builder_from_protocol(
            lam,
            system,
            model,
            pressure=pressure,
            protocol=protocol,
            overrides=overrides,
            compositions=formulas,
            group_label=group_label,
        )
    except ValueError as exc:
        fail(str(exc))

    if daemon:
        try:
            run_or_submit(builder, daemon=True, as_json=as_json)
        except ValueError as exc:  # invalid inputs caught by the port validators
            fail(str(exc))
        return

    handler = _ProgressHandler(quiet=as_json)
    logger = logging.getLogger('aiida')
    consoles = {h: h.level for h in logger.handlers if type(h) is logging.StreamHandler}
    for console in consoles:  # the progress handler prints the work chain's reports instead
        console.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        node = run_or_submit(builder)
    except ValueError as exc:  # invalid inputs caught by the port validators
        fail(str(exc))
    finally:
        logger.removeHandler(handler)
        for console, level in consoles.items():
            console.setLevel(level)

    if not node.is_finished_ok and 'summary' not in node.outputs:
        fail(f'SystemSearchWorkChain<{node.pk}> failed ({node.exit_status}): {node.exit_message}')
    data = node.outputs.summary.get_dict()
    data['workchain'] = node.pk
    data['exit_status'] = node.exit_status
    if as_json:
        echo_json(data)
    else:
        _echo_table(data)
    if not node.is_finished_ok:
        fail(f'SystemSearchWorkChain<{node.pk}> finished with exit status {node.exit_status}: {node.exit_message}')


class _ProgressHandler:
    """A logging handler that echoes the work chain's progress lines (one per launched and finished job)."""

    def __new__(cls, quiet=False):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                message = record.getMessage()
                if quiet or '|SystemSearchWorkChain|' not in message:
                    return
                click.echo(message.split(']: ', 1)[-1], err=False)

        return Handler(level=logging.INFO)


def _echo_table(data):
    click.echo(
        f'\nSearch of {data["system"]} at {data["pressure_gpa"]:g} GPa: {data["n_searched"]} searched, '
        f'{data["n_skipped"]} skipped, {data["n_failed"]} failed; {data["n_minima"]} minima in group '
        f"'{data['group']}'"
    )
    if data.get('excluded'):
        click.echo(
            f'{len(data["excluded"])} compositions left out (their smallest allowed cell is larger than max_atoms)'
        )
    click.echo(
        f'{"composition":<14} {"status":<9} {"best H (eV/atom)":>17} {"space group":<14} {"natoms":>6} '
        f'{"relax":>6} {"minima":>6}'
    )
    for formula, entry in data['compositions'].items():
        best = entry.get('best_enthalpy_per_atom')
        symbol = entry.get('best_space_group_symbol')
        number = entry.get('best_space_group_number')
        group = f'{symbol} ({number})' if symbol else '-'
        click.echo(
            f'{formula:<14} {entry.get("status", "-"):<9} {"-" if best is None else f"{best:.5f}":>17} '
            f'{group:<14} {entry.get("best_natoms") or "-":>6} {entry.get("n_relaxations") or 0:>6} '
            f'{entry.get("n_minima") or 0:>6}'
        )
