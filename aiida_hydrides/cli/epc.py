"""``aiida-hydrides epc``: run the electron-phonon / Tc work chain on a structure file or a stored structure."""

import click

from aiida_hydrides.cli.console import console_output
from aiida_hydrides.cli.launch import run_or_submit
from aiida_hydrides.cli.params import arguments, options
from aiida_hydrides.cli.utils import (
    calculation_options,
    check_family,
    echo_json,
    fail,
    load_computer,
    load_profile,
    qe_codes,
    structure_node,
    structure_source,
)


def format_epc_summary(tc: dict) -> str:
    """λ, ω_log and the Tc table of an EPC ``tc`` output, with the σ choice and N(E_F) (states/eV/cell, both spins,
    the unit of every N(E_F) the commands print)."""
    from aiida_hydrides.cli.tc import format_tc_table
    from aiida_hydrides.core.units import RY_IN_EV

    lines = [format_tc_table(tc), '']
    if tc.get('dos_ef') is not None:  # ph.x gives states/spin/Ry/cell
        lines.append(f'N(E_F)    = {2 * tc["dos_ef"] / RY_IN_EV:.3f} states/eV/cell (ph.x, both spins)')
    if tc.get('sigma_choice_reason'):
        lines.append(f'sigma rule: {tc["sigma_choice_reason"]}')
    return '\n'.join(lines)


@click.command('epc')
@arguments.STRUCTURE()
@options.protocol_option(
    'hydrides.epc',
    help='Protocol of the `hydrides.epc` work chain: grids, cutoffs, smearing, '
    'ph.x threshold (workflows/protocols/epc/base.yaml).',
)
@options.COMPUTER(
    help='Computer whose Quantum ESPRESSO codes (pw, ph, q2r, matdyn, projwfc) run the calculations; '
    'missing codes are created from the executables on the PATH of a local computer.'
)
@options.PSEUDO_FAMILY(
    help='Label of the pseudopotential family  [default: the offline pslibrary family, generated if needed].'
)
@options.MPIPROCS()
@options.PRIMITIVE()
@options.PROJWFC()
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print the full Tc dictionary (with --daemon: the submitted PK) as JSON.')
def epc(structure, protocol, computer, family, mpiprocs, primitive, projwfc, daemon, verbose, as_json):
    """Compute the electron-phonon coupling and Tc of STRUCTURE with Quantum ESPRESSO.

    Runs dense and coarse scf, ph.x (interpolated el-ph), q2r.x and matdyn.x, then λ, ω_log and Tc (McMillan,
    Allen-Dynes, Eliashberg; μ* 0.10 and 0.13). Stops with a clear message if the structure is dynamically unstable or
    has no states at the Fermi level. With --daemon the work chain is submitted and the command returns at once.

    STRUCTURE is a structure file (any format ASE reads: CIF, POSCAR, extxyz, ...) or a stored StructureData given
    by PK, UUID or label, which is used as is so that the provenance graph links it.
    """
    load_profile()
    from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain, GridError

    computer_node = load_computer(computer)
    codes = qe_codes(computer_node, ['pw', 'ph', 'q2r', 'matdyn', *(['projwfc'] if projwfc else [])])
    check_family(family)
    node = structure_node(structure, primitive)
    if not all(node.pbc):
        fail(f'{structure_source(structure)} is not a periodic 3D crystal (pbc = {list(node.pbc)})')
    try:
        builder = ElectronPhononWorkChain.get_builder_from_protocol(
            codes, node, protocol=protocol, pseudo_family=family, options=calculation_options(computer_node, mpiprocs)
        )
    except (GridError, ValueError, RuntimeError) as exception:
        fail(str(exception))

    with console_output(verbose, progress=not as_json):
        node = run_or_submit(builder, daemon=daemon, as_json=as_json)
    if node is None:
        return
    if not node.is_finished_ok:
        fail(f'ElectronPhononWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
    tc = node.outputs.tc.get_dict()
    dos = node.outputs.projected_dos.get_dict() if 'projected_dos' in node.outputs else None
    if as_json:
        echo_json({'pk': node.pk, **tc, **({'projected_dos': dos} if dos else {})})
        return
    click.echo(f'ElectronPhononWorkChain<{node.pk}> finished ({protocol} protocol)')
    click.echo(format_epc_summary(tc))
    if dos:
        shares = ', '.join(
            f'{key[len("fraction_") :]} {value:.2f}' for key, value in dos.items() if key.startswith('fraction_')
        )
        click.echo(
            f'N(E_F)    = {dos["dos_total_states_per_ev"]:.3f} states/eV/cell (projwfc.x, both spins); shares: {shares}'
        )
