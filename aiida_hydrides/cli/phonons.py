"""``aiida-hydrides phonons``: LAM finite-displacement phonons of a structure file and the imaginary-mode rule."""

import click

from .params import options
from .utils import echo_json, fail


@click.command('phonons')
@click.argument('file', type=click.Path(dir_okay=False, path_type=str))
@options.MODEL()
@options.HEAD()
@click.option(
    '--supercell',
    type=click.IntRange(min=1),
    nargs=3,
    default=(2, 2, 2),
    show_default=True,
    help='Supercell repetitions along the three lattice vectors.',
)
@click.option(
    '--mesh',
    type=click.IntRange(min=1),
    nargs=3,
    default=(8, 8, 8),
    show_default=True,
    help='q-point mesh (Gamma-centred).',
)
@click.option(
    '--threshold',
    'threshold_thz',
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help='Largest tolerated imaginary frequency in THz: the structure fails beyond it.',
)
@click.option(
    '--displacement',
    type=click.FloatRange(min=0, min_open=True),
    default=0.01,
    show_default=True,
    help='Displacement in Angstrom.',
)
@options.THREADS()
@options.COMPRESS()
@options.FILE_FORMAT(help='ASE format of FILE; guessed from the name by default.')
@options.JSON()
def phonons(file, model, head, supercell, mesh, threshold_thz, displacement, threads, compress, file_format, as_json):
    """Phonons of the structure in FILE with a DeePMD model (phonopy finite displacements, evaluated in batches).

    The structure should be relaxed with the same model first (`aiida-hydrides relax`). It passes when no mode on the
    q-mesh is imaginary beyond the threshold; the exit status is 0 either way, the verdict is printed.
    """
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.lam.threads import configure_threads

    configure_threads(threads)
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.phonons import lam_phonons
    from aiida_hydrides.core.structures import read_structure

    try:
        atoms = read_structure(file, format=file_format)
        evaluator = load_model(model, head=head, compress=compress)
        result = lam_phonons(
            atoms,
            evaluator,
            supercell=supercell,
            mesh=mesh,
            displacement=displacement,
            imaginary_threshold_thz=threshold_thz,
        )
    except HydridesInputError as exc:
        fail(str(exc))
    data = {'file': file, 'formula': atoms.get_chemical_formula(mode='metal'), 'model': model, **result.as_dict()}
    if as_json:
        echo_json(data)
        return
    verdict = 'PASS' if result.passed else 'FAIL'
    click.echo(
        f'{data["formula"]}: {verdict} (largest imaginary frequency {result.max_imaginary_thz:.3f} THz, '
        f'threshold {threshold_thz:g} THz; frequencies {result.min_frequency_thz:.3f} .. '
        f'{result.max_frequency_thz:.3f} THz on a {"x".join(map(str, mesh))} mesh, '
        f'{result.n_displacements} displaced supercells)'
    )
