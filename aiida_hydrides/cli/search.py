"""``aiida-hydrides search``: structure search of an A-B-H system at one pressure (``SystemSearchWorkChain``), run in
this process or on the daemon (``--daemon``), with provenance; the minima go to a group."""

import math
import pathlib

import click

from aiida_hydrides.core.text import count

from .launch import launch
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
    '--promote-ehull',
    'promote_ehull_mev',
    type=float,
    default=None,
    help='Minima that become StructureData in the group: the LAM hull vertices and the hydride minima whose E_hull '
    "among all the minima of the group is at most this many meV/atom (default: the screening's LAM-hull threshold, "
    '50); negative: every minimum. The others stay in the arrays of the jobs (`aiida-hydrides minima` lists and '
    'promotes them).',
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
@options.PSEUDO_FAMILY(
    help="Pseudopotential family of the DFT steps that follow; the system's elements must be in it  [default: the "
    'offline pslibrary family, when installed].'
)
@options.DAEMON()
@options.VERBOSE()
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
    promote_ehull_mev,
    per_job,
    max_jobs,
    group_label,
    computer,
    code,
    family,
    daemon,
    verbose,
    as_json,
):
    """Search the crystal structures of the compositions of SYSTEM (e.g. Ca-Y) at a target pressure.

    Each composition gets its own search (random symmetric cells and learned offspring relaxed with the DeePMD model);
    every relaxed structure and the distinct minima within --window of its best stay in the array outputs of the
    jobs. Then the minima that can pass the LAM hull (its vertices, and the hydrides whose E_hull among all the
    minima of the group is within --promote-ehull) become StructureData nodes in a group, tagged with the extra `hydrides` (method lam, formula,
    pressure_gpa, enthalpy_lam_ev, space group, ...); `aiida-hydrides minima GROUP` lists the others and promotes
    them on request. Running the command again for the same group skips the compositions already finished and
    never adds a minimum twice. Prints one line per finished
    job and a summary table; with --daemon the work chain is submitted and the command returns at once with its PK.

    The inputs (system, compositions, atom budget, model, pseudopotential family) are checked before anything is
    stored. Ctrl-C stops the search cleanly (its jobs are stopped, the work chain is marked killed); the same command
    resumes it.
    """
    formulas = None
    if compositions is not None:
        formulas = [item.strip() for item in compositions.split(',') if item.strip()]
        if not formulas:
            bad_option(
                'compositions',
                'no formula given: name the compositions separated by commas (e.g. CaH6,YH6), or leave out '
                '--compositions to search every composition of the system',
            )

    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain, default_group_label

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
    if promote_ehull_mev is not None:
        if not math.isfinite(promote_ehull_mev):
            bad_option('promote_ehull_mev', f'must be a number of meV/atom, got {promote_ehull_mev}')
        overrides['promote_ehull_mev'] = promote_ehull_mev
    if per_job is not None:
        overrides['compositions_per_job'] = per_job
    try:
        protocol_inputs = SystemSearchWorkChain.get_protocol_inputs(protocol, overrides)
    except ValueError as exc:
        fail(str(exc))
    protocol_parameters = protocol_inputs['parameters']
    if protocol_parameters.get('population', 1) > protocol_parameters.get('budget', 1):  # a small --budget
        overrides['parameters']['population'] = protocol_parameters['budget']
        protocol_parameters = {**protocol_parameters, 'population': protocol_parameters['budget']}
    plan = check_search(system, formulas, {**protocol_parameters, 'pressure_gpa': pressure}, model)

    load_profile()
    check_family_elements(family, plan.elements)
    if code is not None:
        lam = load_code(code)
    else:
        lam = lam_code(load_computer(computer))
    try:
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

    group = group_label or default_group_label(plan.system, pressure)
    resume = (
        f'Run the same command again to resume: the compositions finished in group {group!r} are skipped, '
        'the others are searched.'
    )
    node = launch(builder, daemon=daemon, as_json=as_json, verbose=verbose, resume_hint=resume)
    if node is None:
        return

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


def check_search(system, formulas, parameters, model):
    """Check everything about a search that needs no AiiDA profile, before anything is stored: the system, the
    compositions, the search parameters and the atom budget
    (:func:`~aiida_hydrides.workflows.search.system.plan_search`), and the model file (a DeePMD model whose type map
    has every element of the system). A bad value fails naming its argument or option (exit status 2). Return the
    search plan."""
    from aiida_hydrides.core.lam.errors import LamModelError
    from aiida_hydrides.core.lam.model import model_type_map
    from aiida_hydrides.workflows.search.system import SearchInputError, check_model_elements, plan_search

    try:
        plan = plan_search(system, formulas, parameters)
    except SearchInputError as exc:
        _bad_search_input(exc)
    try:
        type_map = model_type_map(model)
    except LamModelError as exc:
        bad_option('model', str(exc))
    try:
        check_model_elements(plan, type_map, pathlib.Path(model).name)
    except SearchInputError as exc:
        _bad_search_input(exc)
    return plan


def _bad_search_input(exc):
    if exc.field == 'system':
        raise click.BadParameter(str(exc), ctx=click.get_current_context(silent=True), param_hint="'SYSTEM'")
    if exc.field == 'parameters':
        raise click.UsageError(str(exc))
    bad_option(exc.field, str(exc))


def check_family_elements(family, elements):
    """Fail naming ``--family`` when the pseudopotential family (``family``, or the default one when it is installed)
    lacks one of ``elements``: the DFT steps that follow a search need them."""
    from aiida_hydrides.pseudos import (
        DEFAULT_FAMILY_LABEL,
        MissingElementsError,
        MissingPseudoFamilyError,
        PseudoFamilyError,
        check_family_covers,
        get_pseudo_family,
    )

    try:
        installed = get_pseudo_family(family or DEFAULT_FAMILY_LABEL)
    except MissingPseudoFamilyError as exc:
        if family is None:
            return
        bad_option('family', str(exc))
    except PseudoFamilyError as exc:
        bad_option('family', str(exc))
    try:
        check_family_covers(installed, elements)
    except MissingElementsError as exc:
        bad_option('family', f'{exc} (the DFT steps of the minima need them; --family names another family)')


def _echo_table(data):
    threshold = data.get('promote_ehull_mev')
    rule = 'all' if threshold is None else f'E_hull <= {threshold:g} meV/atom'
    click.echo(
        f'\nSearch of {data["system"]} at {data["pressure_gpa"]:g} GPa: {data["n_searched"]} searched, '
        f'{data["n_skipped"]} skipped, {data["n_failed"]} failed; {count(data["n_minima"], "minimum")}, '
        f"{data.get('n_promoted', 0)} of them ({rule}) as StructureData in group '{data['group']}'"
    )
    if data.get('excluded'):
        click.echo(
            f'{len(data["excluded"])} compositions left out (their smallest allowed cell is larger than max_atoms)'
        )
    click.echo(
        f'{"composition":<14} {"status":<9} {"best H (eV/atom)":>17} {"space group":<14} {"natoms":>6} '
        f'{"relax":>6} {"minima":>6} {"in group":>8}'
    )
    for formula, entry in data['compositions'].items():
        best = entry.get('best_enthalpy_per_atom')
        symbol = entry.get('best_space_group_symbol')
        number = entry.get('best_space_group_number')
        group = f'{symbol} ({number})' if symbol else '-'
        click.echo(
            f'{formula:<14} {entry.get("status", "-"):<9} {"-" if best is None else f"{best:.5f}":>17} '
            f'{group:<14} {entry.get("best_natoms") or "-":>6} {entry.get("n_relaxations") or 0:>6} '
            f'{entry.get("n_minima") or 0:>6} {entry.get("n_promoted") or 0:>8}'
        )
