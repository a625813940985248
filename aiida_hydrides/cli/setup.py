"""``aiida-hydrides setup``: AiiDA profile, local computer, Quantum ESPRESSO codes and the pseudopotential family."""

import click

from .params import options
from .utils import fail


def _parse_elements(text):
    from aiida_hydrides.core.elements import DEFAULT_ELEMENTS, validate_symbol

    if not text:
        return list(DEFAULT_ELEMENTS)
    symbols = [symbol.strip() for symbol in text.replace(' ', ',').split(',') if symbol.strip()]
    return list(dict.fromkeys(validate_symbol(symbol) for symbol in symbols))


@click.command('setup')
@click.option(
    '--create-profile',
    is_flag=True,
    help='Create an AiiDA profile (SQLite storage, built-in ZeroMQ broker) if none is configured.',
)
@click.option(
    '--profile-name',
    '--profile',
    'profile_name',
    default=None,
    help='Name of the profile that --create-profile or --production creates  [default: hydrides, with --production: '
    'hydrides-prod].',
)
@click.option(
    '--production',
    is_flag=True,
    help='Set up a production profile: PostgreSQL storage + RabbitMQ broker (started, or installed with apt-get, when '
    'missing), the codes and the family in it, and its daemon with --workers workers (docs/scale-out.md).',
)
@click.option(
    '--workers',
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help='With --production: daemon workers to start (0: do not start the daemon).',
)
@click.option(
    '--process-slots',
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help='With --production: processes each daemon worker runs at once (daemon.worker_process_slots).',
)
@click.option(
    '--database-name',
    default=None,
    metavar='NAME',
    help='With --production: the PostgreSQL database to create  [default: aiida_PROFILE].',
)
@click.option(
    '--database-user',
    default=None,
    metavar='USER',
    help='With --production: the PostgreSQL user that owns it  [default: the database name].',
)
@click.option(
    '--configure-rabbitmq',
    is_flag=True,
    help='With --production: disable consumer_timeout of a RabbitMQ found running too (advanced.config and the '
    'running server; root needed). One that the set-up starts gets it anyway.',
)
@click.option(
    '--no-install',
    is_flag=True,
    help='With --production: never run apt-get; fail with a message when PostgreSQL or RabbitMQ is not installed.',
)
@options.COMPUTER(help='Computer for the codes; `localhost` is created when missing.')
@options.MPIPROCS(
    default=2,
    show_default=True,
    help='Default MPI processes per machine of the local computer (what --mpiprocs of the other commands defaults to).',
)
@click.option(
    '--pools',
    type=click.IntRange(min=1),
    default=None,
    help='Default k-point pools (-nk) for pw.x, ph.x and projwfc.x  [default: MPIPROCS].',
)
@click.option(
    '--executables-dir',
    default=None,
    metavar='DIR',
    help='Folder holding pw.x, ph.x, ...  [default: the PATH of the local machine].',
)
@click.option(
    '--family',
    default=None,
    metavar='LABEL',
    help='Pseudopotential family. Default: the offline pslibrary family of --kind, generated with ld1.x. An installed '
    'family (e.g. from `aiida-pseudo install sssp`) can be named instead; then nothing is generated.',
)
@click.option(
    '--elements',
    default=None,
    metavar='SYMBOLS',
    help="Elements the family must cover, e.g. 'H,La,Y'  [default: the 29 elements of the search space].",
)
@click.option(
    '--kind',
    type=click.Choice(['us', 'paw']),
    default='us',
    show_default=True,
    help='Ultrasoft or PAW pseudopotentials for a generated family.',
)
def setup(
    create_profile,
    profile_name,
    production,
    workers,
    process_slots,
    database_name,
    database_user,
    configure_rabbitmq,
    no_install,
    computer,
    mpiprocs,
    pools,
    executables_dir,
    family,
    elements,
    kind,
):
    """Prepare everything the calculations need; safe to run again (existing things are reused).

    \b
    1. the AiiDA profile (the default one, or a new one with --create-profile);
    2. the computer (`localhost`: core.local + core.direct; OpenMPI allowed to run as root);
    3. the codes pw, ph, q2r, matdyn, projwfc and ld1 on that computer;
    4. the pseudopotential family with high-pressure cutoffs (see docs/pseudopotentials.md).

    \b
    With --production: PostgreSQL and RabbitMQ (started or installed when missing), the database, a profile on them
    (set as the default one), the codes (hydrides-lam and dp too) and the family in it, and the daemon.
    """
    from aiida_hydrides.core.errors import HydridesInputError

    try:
        element_list = _parse_elements(elements)
    except HydridesInputError as exc:
        fail(str(exc))

    if production:
        _setup_production(
            profile_name,
            workers=workers,
            process_slots=process_slots,
            database_name=database_name,
            database_user=database_user,
            configure_rabbitmq=configure_rabbitmq,
            install=not no_install,
            computer=computer,
            mpiprocs=mpiprocs,
            pools=pools,
            executables_dir=executables_dir,
            family=family,
            elements=element_list,
            kind=kind,
        )
        return
    profile_name = profile_name or 'hydrides'

    from aiida_hydrides.profile import ProfileSetupError, ensure_localhost, ensure_profile

    report = []
    try:
        ensure_profile(profile_name, create=create_profile, report=report)
    except ProfileSetupError as exc:
        fail(f'{exc}; or pass --create-profile')
    _flush(report)

    from aiida_hydrides.codes import CodeSetupError, ensure_codes
    from aiida_hydrides.pseudos import (
        MissingPseudoFamilyError,
        PseudoFamilyError,
        default_family_label,
        ensure_pseudo_family,
        get_pseudo_family,
    )

    try:
        target = ensure_localhost(computer, mpiprocs, report=report) if computer == 'localhost' else computer
        ensure_codes(target, mpiprocs=mpiprocs, executables_dir=executables_dir, pools=pools or mpiprocs, report=report)
    except CodeSetupError as exc:
        _flush(report)
        fail(str(exc))
    _flush(report)

    label = family or default_family_label(kind)
    try:
        get_pseudo_family(label)
        click.echo(f'family {label}: exists')
    except MissingPseudoFamilyError:
        click.echo(
            f'family {label}: creating it for {len(element_list)} elements (UPF files not yet cached are '
            'generated with ld1.x, a few seconds each)'
        )
    try:
        pseudo_family = ensure_pseudo_family(label, elements=element_list, kind=kind)
    except (PseudoFamilyError, FileNotFoundError) as exc:
        fail(str(exc))
    _echo_family(pseudo_family, element_list)
    click.secho('setup: done', fg='green')


def _setup_production(profile_name, **kwargs):
    from aiida_hydrides.production import DEFAULT_PRODUCTION_PROFILE, ProductionSetupError, setup_production_profile

    name = profile_name or DEFAULT_PRODUCTION_PROFILE
    try:
        setup_production_profile(name, report=click.echo, **kwargs)
    except ProductionSetupError as exc:
        fail(str(exc))
    click.secho(f'setup --production: done; profile {name} (PostgreSQL + RabbitMQ)', fg='green')


def _flush(report):
    for line in report:
        click.echo(line)
    report.clear()


def _echo_family(family, elements):
    click.echo(
        f'family {family.label}: {len(family.elements)} elements, covers {len(elements)} requested '
        f'({family.__class__.__name__})'
    )
    get_cutoffs = getattr(family, 'get_recommended_cutoffs', None)
    if get_cutoffs is None:
        return
    stringency = family.get_default_stringency()
    click.echo(f'recommended cutoffs (Ry, stringency {stringency}):')
    cells = []
    for element in elements:
        wfc, rho = get_cutoffs(elements=(element,), unit='Ry')
        cells.append(f'{element:>2} {wfc:5.0f}/{rho:<5.0f}')
    for start in range(0, len(cells), 6):
        click.echo('  ' + '   '.join(cells[start : start + 6]))
