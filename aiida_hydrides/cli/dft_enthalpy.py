"""``aiida-hydrides dft-enthalpy``: relax a structure at a pressure with pw.x and print its enthalpy per atom."""

import click

from aiida_hydrides.cli.console import console_output
from aiida_hydrides.cli.launch import run_or_submit
from aiida_hydrides.cli.params import arguments, options
from aiida_hydrides.cli.utils import (
    calculation_options,
    check_family,
    echo_json,
    fail,
    load_code,
    load_computer,
    load_profile,
    qe_codes,
    structure_node,
    structure_source,
)


@click.command('dft-enthalpy')
@arguments.STRUCTURE()
@options.PRESSURE()
@options.protocol_option('hydrides.dft.enthalpy')
@options.COMPUTER()
@options.CODE(help='pw.x code to run instead of pw@COMPUTER: its label (e.g. pw@localhost), PK or UUID.')
@options.PSEUDO_FAMILY()
@options.MPIPROCS()
@options.PRIMITIVE()
@options.DAEMON()
@options.VERBOSE()
@options.JSON(help='Print the results (with --daemon: the submitted PK) as JSON instead of a table.')
def dft_enthalpy(structure, pressure, protocol, computer, code, family, mpiprocs, primitive, daemon, verbose, as_json):
    """Relax STRUCTURE at the target pressure (pw.x vc-relax) and compute its enthalpy per atom.

    Runs the `hydrides.dft.enthalpy` work chain: a vc-relax at the target pressure followed by a final SCF;
    H = E + P_target V per atom. Without --daemon it runs in this process and prints the results and the PK of the
    work chain; with --daemon it is submitted and the command returns at once.

    STRUCTURE is a structure file (any format ASE reads: CIF, POSCAR, extxyz, pw.x input) or a stored StructureData
    given by PK, UUID or label, e.g. a search minimum; a stored one is used as is, so that the provenance graph links
    it to this run (the relaxed structure is tagged with its `source_uuid`).
    """
    load_profile()

    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    if code is not None:
        pw_code = load_code(code, plugins=('quantumespresso.pw',))
        computer_node = pw_code.computer
    else:
        computer_node = load_computer(computer)
        pw_code = qe_codes(computer_node, ['pw'])['pw']
    check_family(family)
    node = structure_node(structure, primitive)
    options = calculation_options(computer_node, mpiprocs)
    try:
        builder = DftEnthalpyWorkChain.get_builder_from_protocol(
            pw_code, node, pressure=pressure, protocol=protocol, options=options, pseudo_family=family
        )
    except ValueError as exception:
        fail(str(exception))

    if not as_json:
        where = f' ({structure_source(structure)})' if node.is_stored else ''
        click.echo(
            f'{"Submitting" if daemon else "Running"} DftEnthalpyWorkChain for {node.get_formula()}{where} at '
            f'{pressure:g} GPa ({protocol} protocol)...'
        )
    with console_output(verbose, progress=not as_json):
        result = run_or_submit(builder, daemon=daemon, as_json=as_json)
    if result is None:
        return

    data = _summarise(result)
    if as_json:
        echo_json(data)
    else:
        _echo_table(data)
    if not result.is_finished_ok:
        fail(f'DftEnthalpyWorkChain<{result.pk}> failed with exit status {result.exit_status}: {result.exit_message}')


def _summarise(node):
    """Return the results of a finished work chain as a plain dictionary."""
    data = {'pk': node.pk, 'exit_status': node.exit_status, 'exit_message': node.exit_message}
    if 'output_parameters' in node.outputs:
        data.update(node.outputs.output_parameters.get_dict())
    if 'relaxed_structure' in node.outputs:
        structure = node.outputs.relaxed_structure
        atoms = structure.get_ase()
        data['relaxed_structure_pk'] = structure.pk
        data['cell_lengths_A'] = [round(float(x), 5) for x in atoms.cell.cellpar()[:3]]
        data['cell_angles_deg'] = [round(float(x), 3) for x in atoms.cell.cellpar()[3:]]
    return data


def _fixed(value, digits: int):
    """``value`` with ``digits`` decimals (a string), or ``None``."""
    return None if value is None else f'{float(value):.{digits}f}'


def _echo_table(data):
    rows = [
        ('formula', data.get('formula'), ''),
        ('target pressure', _fixed(data.get('target_pressure_GPa'), 1), 'GPa'),
        ('final pressure', _fixed(data.get('final_pressure_GPa'), 2), 'GPa'),
        ('enthalpy per atom', _fixed(data.get('enthalpy_per_atom_eV'), 6), 'eV/atom'),
        ('energy per atom', _fixed(data.get('energy_per_atom_eV'), 6), 'eV/atom'),
        ('volume per atom', _fixed(data.get('volume_per_atom_A3'), 4), 'A^3/atom'),
        ('cell lengths', data.get('cell_lengths_A'), 'A'),
        ('cell angles', data.get('cell_angles_deg'), 'deg'),
        ('protocol', data.get('protocol'), ''),
        ('pseudo family', data.get('pseudo_family'), ''),
        ('work chain PK', data['pk'], ''),
        ('exit status', data['exit_status'], ''),
    ]
    for name, value, unit in rows:
        if value is None:
            continue
        if isinstance(value, float):
            value = f'{value:.6f}'
        click.echo(f'{name:<20} {value} {unit}'.rstrip())
