"""``aiida-hydrides analyze``: the hydride descriptors of a structure file (space group, atomic-H fraction, ...)."""

import click

from .utils import echo_json, fail


@click.command('analyze')
@click.argument('file', type=click.Path(dir_okay=False, path_type=str))
@click.option('--json', 'as_json', is_flag=True, help='Print machine-readable JSON.')
@click.option('--symprec', type=float, default=0.1, show_default=True, help='Symmetry tolerance of spglib in Angstrom.')
@click.option(
    '--h-threshold',
    type=float,
    default=0.9,
    show_default=True,
    help='H-H distance in Angstrom below which two H atoms are bonded (H2 unit); above it an H atom is atomic.',
)
@click.option(
    '--format',
    'file_format',
    default=None,
    help="ASE format of FILE (e.g. 'cif', 'vasp', 'espresso-in', 'espresso-out', 'extxyz'); guessed from the name "
    'by default.',
)
def analyze(file, as_json, symprec, h_threshold, file_format):
    """Print the hydride descriptors of the structure in FILE (CIF, POSCAR, extxyz, QE input or output, ...)."""
    from aiida_hydrides.core.descriptors import describe
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.structures import read_structure

    try:
        atoms = read_structure(file, format=file_format)
        result = describe(atoms, symprec=symprec, h_threshold=h_threshold)
    except HydridesInputError as exc:
        fail(str(exc))
    result = {'file': file, **result}
    if as_json:
        echo_json(result)
        return
    for label, value in _rows(result):
        click.echo(f'{label:<22} {value}')


def _number(value, digits=3, unit=''):
    return 'n/a' if value is None else f'{value:.{digits}f}{unit}'


def _rows(result):
    formula = result['formula']
    if result['reduced_formula'] != formula:
        formula = f'{formula} ({result["reduced_formula"]})'
    group = 'n/a'
    if result['space_group_number'] is not None:
        group = f'{result["space_group_number"]} ({result["space_group_symbol"]}), symprec {result["symprec"]:g} A'
    return [
        ('File', result['file']),
        ('Formula', formula),
        ('Atoms', result['num_atoms']),
        ('Space group', group),
        ('H share (N_H/N)', _number(result['hydrogen_share'])),
        ('Atomic-H fraction', f'{_number(result["atomic_h_fraction"])} (nearest H-H > {result["h_threshold"]:g} A)'),
        ('Shortest H-H', _number(result['shortest_hh_distance'], unit=' A')),
        ('H2 units', result['num_h2_units']),
        ('Volume per atom', _number(result['volume_per_atom'], unit=' A^3')),
    ]
