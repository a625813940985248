"""``aiida-hydrides discover``: from a chemical system to ranked superconductor candidates (``DiscoveryWorkChain``,
``hydrides.discovery``), in this process or on the daemon (``--daemon``); ``aiida-hydrides status``: where a campaign
stands."""

import click

from .launch import launch
from .params import options
from .utils import calculation_options, echo_json, fail, lam_code, load_computer, load_profile, qe_codes


@click.command('discover')
@click.argument('system')
@options.PRESSURE()
@options.MODEL(
    required=False,
    help='The LAM (DeePMD model file) of the search and the cascade  [default: the shipped model].',
)
@click.option(
    '--compositions',
    '-c',
    default=None,
    help='Comma-separated formulas to search (e.g. CaH6,YH6,CaYH12); default: the whole system.',
)
@options.protocol_option(
    'hydrides.discovery',
    help='Protocol of the discovery: those of the search, the cascade and the EPC, and the sizes of the EPC rounds '
    '(workflows/protocols/discovery/base.yaml).',
)
@click.option('--budget', type=click.IntRange(min=1), default=None, help='Search relaxations per composition.')
@click.option('--max-atoms', type=click.IntRange(min=1), default=None, help='Atom budget per cell of the search.')
@click.option(
    '--round1',
    type=click.IntRange(min=0),
    default=None,
    help='Survivors through the EPC in round 1 (priority rules); 0: no EPC.',
)
@click.option(
    '--round2', type=click.IntRange(min=0), default=None, help='Survivors through the EPC in round 2 (Tc model).'
)
@click.option('--kappa', type=float, default=None, help='Round 2 score: predicted Tc + KAPPA x spread.')
@click.option(
    '--tc-model',
    'tc_models',
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    help='A frozen Tc model of the ensemble that ranks round 2 (repeatable); without it round 2 is skipped.',
)
@click.option('--campaign', default=None, help='Label of the campaign group (default hydrides/discovery/<A-B>/<P>GPa).')
@options.COMPUTER(help='Computer of the hydrides-lam and Quantum ESPRESSO codes (created when missing on localhost).')
@options.PSEUDO_FAMILY()
@options.MPIPROCS()
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print the ranked candidates (with --daemon: the submitted PK) as JSON.')
def discover(
    system,
    pressure,
    model,
    compositions,
    protocol,
    budget,
    max_atoms,
    round1,
    round2,
    kappa,
    tc_models,
    campaign,
    computer,
    family,
    mpiprocs,
    daemon,
    verbose,
    as_json,
):
    """Find the superconducting hydrides of SYSTEM (e.g. Ca-Y) at a pressure, end to end.

    The LAM searches the structures of the system's compositions (hydrides.search.system), the filter cascade keeps
    the promising ones (hydrides.screen), the electron-phonon coupling of the best by priority rules is computed
    (hydrides.epc.batch, round 1), then, with a Tc model, of the best by predicted Tc (round 2). Everything goes into
    the campaign group; `aiida-hydrides candidates CAMPAIGN`, `report CAMPAIGN` and `export CAMPAIGN` read it.
    Running the same command again goes on where it stopped: nothing done is done twice.
    """
    from aiida_hydrides.models import seed_model_path

    from .search import check_family_elements, check_search

    formulas = [item.strip() for item in compositions.split(',') if item.strip()] if compositions else None
    overrides: dict = {}
    search_parameters = {key: value for key, value in (('budget', budget), ('max_atoms', max_atoms)) if value}
    if budget is not None:
        search_parameters['population'] = min(budget, 12)
    if search_parameters:
        overrides['search'] = {'overrides': {'parameters': search_parameters}}
    for key, value in (('round1_size', round1), ('round2_size', round2), ('kappa', kappa)):
        if value is not None:
            overrides[key] = value
    model = model or str(seed_model_path())

    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain
    from aiida_hydrides.workflows.search.system import SystemSearchWorkChain

    try:
        inputs = DiscoveryWorkChain.get_protocol_inputs(protocol, overrides or None)
        search_inputs = SystemSearchWorkChain.get_protocol_inputs(
            inputs['search']['protocol'], inputs['search'].get('overrides')
        )
    except ValueError as exc:
        fail(str(exc))
    # the system, the compositions, the atom budget and the model, checked before anything is stored
    plan = check_search(system, formulas, {**search_inputs['parameters'], 'pressure_gpa': pressure}, model)

    load_profile()
    from aiida import orm

    check_family_elements(family, plan.elements)
    computer_node = load_computer(computer)
    codes = qe_codes(computer_node, ['pw', 'ph', 'q2r', 'matdyn'])
    codes['lam'] = lam_code(computer_node)
    tc_nodes = {}
    for index, path in enumerate(tc_models):
        tc_nodes[f'm{index}'] = orm.SinglefileData(click.format_filename(path))
    try:
        builder = DiscoveryWorkChain.get_builder_from_protocol(
            codes,
            system,
            pressure=pressure,
            protocol=protocol,
            overrides=overrides or None,
            model=model,
            compositions=formulas,
            campaign=campaign,
            pseudo_family=family,
            options=calculation_options(computer_node, mpiprocs),
        )
    except ValueError as exc:
        fail(str(exc))
    if tc_nodes:
        builder.tc_model = tc_nodes

    resume = 'Run the same command again to go on: what the campaign has done is reused, the rest is computed.'
    node = launch(builder, daemon=daemon, as_json=as_json, verbose=verbose, resume_hint=resume)
    if node is None:
        return
    if 'candidates' not in node.outputs:
        fail(f'DiscoveryWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
    rows = node.outputs.candidates.get_dict()['candidates']
    funnel = node.outputs.funnel.get_dict()
    if as_json:
        echo_json({'pk': node.pk, 'exit_status': node.exit_status, 'funnel': funnel, 'candidates': rows})
    else:
        click.echo(format_candidates(rows))
        click.echo(f'campaign group {funnel.get("campaign")!r}: `aiida-hydrides candidates`, `report`, `export`')
    if not node.is_finished_ok:
        fail(f'DiscoveryWorkChain<{node.pk}> finished with exit status {node.exit_status}: {node.exit_message}')


#: the fields of a discovery's ranked candidates shown under the columns of ``aiida-hydrides candidates``
_CANDIDATE_COLUMNS = {
    'tc_allen_dynes_K_mu0_10': 'tc_K',
    'tc_predicted_K': 'tc_pred_K',
    'tc_spread_K': 'tc_pred_spread_K',
}


def format_candidates(rows) -> str:
    """The ranked candidates of a discovery as the text table of ``aiida-hydrides candidates`` (Tc: Allen-Dynes,
    μ* 0.10)."""
    import pandas as pd

    from .candidates import format_table

    columns = ['uuid', 'formula', 'space_group', 'natoms', 'ehull_lam_mev', 'ehull_dft_mev', *_CANDIDATE_COLUMNS]
    columns += ['lambda', 'omega_log_K', 'rank', 'status']
    frame = pd.DataFrame(list(rows), columns=columns).rename(columns=_CANDIDATE_COLUMNS)
    return format_table(frame)  # missing values (NaN) show as '-'


@click.command('status')
@click.argument('campaign', required=False)
@options.JSON(help='Print the status as JSON.')
def status(campaign, as_json):
    """Where a discovery campaign stands: its stages with their counts, running and failed jobs, elapsed time.

    CAMPAIGN is the label of a campaign group (default: the latest campaign).
    """
    load_profile()
    from aiida_hydrides.discovery import CampaignNotFound, campaign_status

    try:
        data = campaign_status(campaign)
    except CampaignNotFound as exc:
        fail(str(exc))
    if as_json:
        echo_json(data)
        return
    click.echo(f'campaign {data["campaign"]!r}: {data["system"]}-H at {data["pressure_gpa"]:g} GPa, {data["state"]}')
    click.echo(
        f'elapsed {data["elapsed_s"] / 60:.1f} min'
        + (f', about {data["remaining_s"] / 60:.0f} min left' if data.get('remaining_s') is not None else '')
    )
    for stage in data['stages']:
        counts = ', '.join(f'{value} {key}' for key, value in stage['counts'].items() if value)
        click.echo(f'  {stage["name"]:<12} {stage["state"]:<10} {counts}')
    for job in data['running']:
        click.echo(f'  running: {job}')
    for job in data['failed']:
        click.echo(f'  failed:  {job}')
