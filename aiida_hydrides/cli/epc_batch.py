"""``aiida-hydrides epc-batch``: relax and compute the electron-phonon coupling and Tc of every structure of a group
(``EpcBatchWorkChain``), a few at a time, in this process or on the daemon (``--daemon``); prints one line per
structure."""

import click

from .console import console_output
from .launch import run_or_submit
from .params import options
from .utils import calculation_options, check_family, echo_json, fail, load_computer, load_profile, qe_codes


@click.command('epc-batch')
@click.argument('group')
@options.PRESSURE(help='Target pressure of the relaxations in GPa; a unit may be appended: 200, "200GPa", "2000kbar".')
@options.protocol_option(
    'hydrides.epc.batch',
    help='Protocol of the `hydrides.epc.batch` work chain: the protocols of the relaxations and of the EPC, and how '
    'many run at a time (workflows/protocols/epc/batch.yaml).',
)
@click.option(
    '--relax/--no-relax',
    default=None,
    help='Relax every structure at the pressure first (hydrides.dft.enthalpy)  [default: relax].',
)
@click.option(
    '--max-concurrent',
    type=click.IntRange(min=1),
    default=None,
    help="Most relaxations and EPC work chains running at a time  [default: the protocol's, 2 for screening].",
)
@options.COMPUTER(
    help='Computer whose Quantum ESPRESSO codes (pw, ph, q2r, matdyn, projwfc) run the calculations; missing codes '
    'are created from the executables on the PATH of a local computer.'
)
@options.PSEUDO_FAMILY()
@options.MPIPROCS()
@options.PROJWFC()
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print the summary (with --daemon: the submitted PK) as JSON.')
def epc_batch(
    group, pressure, protocol, relax, max_concurrent, computer, family, mpiprocs, projwfc, daemon, verbose, as_json
):
    """Relax every structure of GROUP and compute its electron-phonon coupling and Tc.

    GROUP is the label (or PK, UUID) of a group of structures, e.g. the survivors of `aiida-hydrides screen`. Each
    structure is relaxed at the pressure (hydrides.dft.enthalpy), then hydrides.epc computes lambda, omega_log and Tc.
    A dynamically unstable structure is recorded as such with its imaginary modes; a failure is recorded with its exit
    status and does not stop the others. Structures already computed with the same settings are skipped and their
    results reused, so running the command again goes on where it stopped. Every structure gets its result in its
    `hydrides` extra (`epc`).
    """
    load_profile()
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    from aiida_hydrides.pseudos import DEFAULT_FAMILY_LABEL, PseudoFamilyError, check_family_covers, get_pseudo_family
    from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain

    # Everything that can be checked is checked before the work chain exists: nothing is stored for bad input.
    try:
        group_node = orm.load_group(group)
    except (NotExistent, MultipleObjectsError, ValueError):
        fail(f'no group {group!r} (label, PK or UUID); `verdi group list -a` lists the groups')
    structures = [node for node in group_node.nodes if isinstance(node, orm.StructureData)]
    if not structures:
        fail(f'the group {group_node.label!r} holds no structure (StructureData)')
    check_family(family)
    try:
        elements = sorted({symbol for node in structures for symbol in node.get_symbols_set()})
        check_family_covers(get_pseudo_family(family or DEFAULT_FAMILY_LABEL), elements)
    except PseudoFamilyError as exception:
        fail(str(exception))

    computer_node = load_computer(computer)
    codes = qe_codes(computer_node, ['pw', 'ph', 'q2r', 'matdyn', *(['projwfc'] if projwfc else [])])
    overrides = {}
    if relax is not None:
        overrides['run_relax'] = relax
    if max_concurrent is not None:
        overrides['max_concurrent'] = max_concurrent
    try:
        builder = EpcBatchWorkChain.get_builder_from_protocol(
            codes,
            group=group_node,
            pressure=pressure,
            protocol=protocol,
            overrides=overrides or None,
            options=calculation_options(computer_node, mpiprocs),
            pseudo_family=family,
        )
    except ValueError as exception:
        fail(str(exception))

    resume = 'Run the same command again to go on: the structures already computed are skipped.'
    with console_output(verbose, progress=not as_json):
        node = run_or_submit(builder, daemon=daemon, as_json=as_json, resume_hint=resume)
    if node is None:
        return
    if 'summary' not in node.outputs:
        fail(f'EpcBatchWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
    summary = node.outputs.summary.get_dict()
    if as_json:
        echo_json({'pk': node.pk, 'exit_status': node.exit_status, **summary})
    else:
        click.echo(format_batch_summary(summary, node.pk))
    if not node.is_finished_ok:
        fail(f'EpcBatchWorkChain<{node.pk}> finished with exit status {node.exit_status}: {node.exit_message}')


def _describe(record: dict) -> str:
    """What a structure ended with, in a few words."""
    status = record['status']
    shown = record.get('reused_status') if status == 'skipped' else status
    if shown == 'done':
        tc = record.get('tc_allen_dynes_K_mu0_10')
        return f'lambda {record["lambda"]:.3f}, omega_log {record["omega_log_K"]:.1f} K, Tc(AD, mu* 0.10) ' + (
            '-' if tc is None else f'{tc:.2f} K'
        )
    if shown == 'unstable':
        lowest = record.get('min_frequency_cm')
        lowest = '-' if lowest is None else f'{lowest:.1f} cm^-1'
        return f'{record.get("n_imaginary_modes", 0)} imaginary mode(s), lowest {lowest}'
    return f'{record.get("stage")}: {record.get("error")}'


def format_batch_summary(summary: dict, pk: int | None = None) -> str:
    """The summary of an EPC batch as text: the counts, then one line per structure."""
    counts = ', '.join(f'{count} {status}' for status, count in summary['counts'].items())
    where = f'group {summary["group"]!r}' if summary.get('group') else 'structures'
    relax = f'relaxed at {summary["pressure_gpa"]:g} GPa' if summary.get('run_relax') else 'not relaxed'
    lines = [f'EPC batch of {where} ({relax}, {summary["protocol"]["name"]} protocol): {counts}']
    lines.append(f'{"structure":<12} {"formula":<10} {"status":<18} {"time":>8}  result')
    for record in summary['structures']:
        status = record['status'] + (f' ({record["reused_status"]})' if record['status'] == 'skipped' else '')
        wall = record.get('wall_s')
        wall = '-' if not wall else f'{wall:.0f} s'
        lines.append(f'{record["key"]:<12} {record["formula"]:<10} {status:<18} {wall:>8}  {_describe(record)}')
    if pk is not None:
        lines.append(
            f'Work chain PK {pk}; skipped structures reuse the results of an earlier batch with the same settings.'
        )
    return '\n'.join(lines)
