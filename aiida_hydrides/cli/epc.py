"""``aiida-hydrides epc``: run the electron-phonon / Tc work chain on a structure file."""
import click

from aiida_hydrides.cli.utils import echo_json, fail, load_profile


def primitive_cell(atoms, symprec: float = 1e-3):
    """The standardized primitive cell of ``atoms`` (spglib), or ``atoms`` itself if spglib finds no symmetry."""
    import ase
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    reduced = spglib.standardize_cell(cell, to_primitive=True, symprec=symprec)
    if reduced is None:
        return atoms
    lattice, positions, numbers = reduced
    return ase.Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def format_epc_summary(tc: dict) -> str:
    """λ, ω_log and the Tc table of an EPC ``tc`` output, with the σ choice and N(E_F)."""
    from aiida_hydrides.cli.tc import format_tc_table

    lines = [format_tc_table(tc), '']
    if tc.get('dos_ef') is not None:
        lines.append(f'N(E_F)    = {tc["dos_ef"]:.4f} states/spin/Ry/cell')
    if tc.get('sigma_choice_reason'):
        lines.append(f'sigma rule: {tc["sigma_choice_reason"]}')
    return '\n'.join(lines)


@click.command('epc')
@click.argument('structure_file', type=click.Path(exists=True, dir_okay=False))
@click.option('--protocol', type=click.Choice(['fast', 'moderate', 'precise']), default='moderate', show_default=True,
              help='Accuracy protocol: grids, cutoffs, smearing, ph.x threshold.')
@click.option('--family', 'family', default=None,
              help='Label of the pseudopotential family (default: the offline pslibrary family, generated if needed).')
@click.option('--computer', default='localhost', show_default=True, help='Computer that runs Quantum ESPRESSO.')
@click.option('--mpiprocs', type=int, default=None, help='MPI processes per calculation (default: the computer\'s).')
@click.option('--primitive/--no-primitive', default=True, show_default=True,
              help='Reduce the structure to its standardized primitive cell (spglib) first: cheaper, same physics.')
@click.option('--projwfc/--no-projwfc', default=True, show_default=True,
              help='Also run projwfc.x for N(E_F) projected on each element (the hydrogen share).')
@click.option('--json', 'as_json', is_flag=True, help='Print the full Tc dictionary as JSON.')
def epc(structure_file, protocol, family, computer, mpiprocs, primitive, projwfc, as_json):
    """Compute the electron-phonon coupling and Tc of STRUCTURE_FILE with Quantum ESPRESSO.

    Runs dense and coarse scf, ph.x (interpolated el-ph), q2r.x and matdyn.x, then λ, ω_log and Tc (McMillan,
    Allen-Dynes, Eliashberg; μ* 0.10 and 0.13). Stops with a clear message if the structure is dynamically unstable or
    has no states at the Fermi level. Any format ASE reads (CIF, POSCAR, extxyz, ...) is accepted.
    """
    from aiida_hydrides.core.structures import read_structure

    try:
        atoms = read_structure(structure_file)
    except ValueError as exception:
        fail(str(exception))
    if not all(atoms.pbc):
        fail(f'{structure_file} is not a periodic 3D crystal (pbc = {list(atoms.pbc)})')
    if primitive:
        atoms = primitive_cell(atoms)

    load_profile()
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.workflows.epc.base import ElectronPhononWorkChain, GridError

    try:
        codes = ensure_codes(computer=computer, mpiprocs=mpiprocs, shorts=['pw', 'ph', 'q2r', 'matdyn', *(['projwfc'] if projwfc else [])])
        options = {'resources': {'num_machines': 1}}
        if mpiprocs:
            options['resources']['num_mpiprocs_per_machine'] = mpiprocs
        builder = ElectronPhononWorkChain.get_builder_from_protocol(
            codes, orm.StructureData(ase=atoms), protocol=protocol, pseudo_family=family, options=options)
    except (GridError, ValueError, RuntimeError) as exception:
        fail(str(exception))

    _, node = run_get_node(builder)
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
        shares = ', '.join(f'{key[len("fraction_"):]} {value:.2f}' for key, value in dos.items()
                           if key.startswith('fraction_'))
        click.echo(f'N(E_F)    = {dos["dos_total_states_per_ev"]:.3f} states/eV/cell (projwfc.x); shares: {shares}')
