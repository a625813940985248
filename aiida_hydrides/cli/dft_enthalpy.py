"""``aiida-hydrides dft-enthalpy``: relax a structure at a pressure with pw.x and print its enthalpy per atom."""
import click

from aiida_hydrides.cli.utils import echo_json, fail, load_profile


@click.command('dft-enthalpy')
@click.argument('structure_file', type=click.Path(exists=True, dir_okay=False))
@click.option(
    '-p',
    '--pressure',
    default='200',
    show_default=True,
    help='Target pressure in GPa. A unit may be appended: "200GPa", "2000kbar" or "2Mbar".',
)
@click.option(
    '--protocol',
    type=click.Choice(['fast', 'moderate', 'precise']),
    default='moderate',
    show_default=True,
    help='Protocol: cutoffs, k-point spacing, smearing and convergence thresholds.',
)
@click.option(
    '--code',
    'code_label',
    default=None,
    help='Label of the pw.x code, e.g. "pw@localhost" [default: the code registered by `aiida-hydrides setup`].',
)
@click.option(
    '--family',
    'family_label',
    default=None,
    help='Label of the pseudopotential family [default: the offline pslibrary family].',
)
@click.option(
    '--mpiprocs',
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help='MPI processes per pw.x run (also the number of k-point pools).',
)
@click.option(
    '--primitive/--no-primitive',
    default=False,
    show_default=True,
    help='Reduce the structure to its primitive cell (spglib) before relaxing.',
)
@click.option('--json', 'as_json', is_flag=True, help='Print the results as JSON instead of a table.')
def dft_enthalpy(structure_file, pressure, protocol, code_label, family_label, mpiprocs, primitive, as_json):
    """Relax STRUCTURE_FILE at the target pressure (pw.x vc-relax) and compute its enthalpy per atom.

    Runs the `hydrides.dft.enthalpy` work chain in this process (no daemon needed): a vc-relax at the target
    pressure followed by a final SCF; H = E + P_target V per atom. Prints the results and the PK of the work chain.
    STRUCTURE_FILE is any format ASE reads (CIF, POSCAR, extxyz, pw.x input).
    """
    from aiida_hydrides.core.units import parse_pressure

    try:
        pressure_gpa = parse_pressure(pressure)
    except ValueError as exception:
        fail(str(exception))

    atoms = _read_atoms(structure_file)
    if primitive:
        atoms = _primitive(atoms)

    load_profile()

    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    code = _load_pw_code(code_label)
    structure = orm.StructureData(ase=atoms)
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}}
    try:
        builder = DftEnthalpyWorkChain.get_builder_from_protocol(
            code, structure, pressure=pressure_gpa, protocol=protocol, options=options, pseudo_family=family_label
        )
    except ValueError as exception:
        fail(str(exception))

    if not as_json:
        formula = structure.get_formula()
        click.echo(f'Running DftEnthalpyWorkChain for {formula} at {pressure_gpa:g} GPa ({protocol} protocol)...')
    _, node = run_get_node(builder)

    data = _summarise(node)
    if as_json:
        echo_json(data)
    else:
        _echo_table(data)
    if not node.is_finished_ok:
        fail(f'DftEnthalpyWorkChain<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')


def _read_atoms(path):
    """Read a structure file as ``ase.Atoms``, with a clear message when it cannot be read."""
    try:
        from aiida_hydrides.core.structures import read_structure
    except ImportError:  # pragma: no cover - the core module is part of the package
        read_structure = None
    try:
        if read_structure is not None:
            return read_structure(path)
        import ase.io

        return ase.io.read(path)
    except Exception as exception:  # noqa: BLE001 - any reader failure is a user-facing input error
        fail(f'cannot read the structure file {path}: {exception}')


def _primitive(atoms):
    """Return the spglib primitive cell of ``atoms``."""
    import ase
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    lattice, positions, numbers = spglib.standardize_cell(cell, to_primitive=True, symprec=1e-3)
    return ase.Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)


def _load_pw_code(label):
    """Load the pw.x code ``label`` or, without a label, the one registered by ``aiida-hydrides setup``."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    if label is None:
        try:
            from aiida_hydrides.codes import get_code

            return get_code('pw')
        except Exception as exception:  # noqa: BLE001
            fail(f'no pw.x code is registered ({exception}); run `aiida-hydrides setup` or pass --code LABEL')
    try:
        return orm.load_code(label)
    except (NotExistent, MultipleObjectsError, ValueError) as exception:
        fail(f'cannot load the code {label!r}: {exception}. List the codes with `verdi code list`.')


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


def _echo_table(data):
    rows = [
        ('formula', data.get('formula'), ''),
        ('target pressure', data.get('target_pressure_GPa'), 'GPa'),
        ('final pressure', data.get('final_pressure_GPa'), 'GPa'),
        ('enthalpy per atom', data.get('enthalpy_per_atom_eV'), 'eV/atom'),
        ('energy per atom', data.get('energy_per_atom_eV'), 'eV/atom'),
        ('volume per atom', data.get('volume_per_atom_A3'), 'A^3/atom'),
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
