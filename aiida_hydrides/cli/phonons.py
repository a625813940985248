"""``aiida-hydrides phonons``: LAM finite-displacement phonons of a structure file and the imaginary-mode rule."""
import click

from .utils import echo_json, fail


@click.command('phonons')
@click.argument('file', type=click.Path(dir_okay=False, path_type=str))
@click.option('--model', '-m', required=True, type=click.Path(dir_okay=False, path_type=str),
              help='DeePMD model file (.pth frozen, .pt checkpoint, .pb TensorFlow).')
@click.option('--head', default=None, help='Head of a multi-head model.')
@click.option('--supercell', type=int, nargs=3, default=(2, 2, 2), show_default=True,
              help='Supercell repetitions along the three lattice vectors.')
@click.option('--mesh', type=int, nargs=3, default=(8, 8, 8), show_default=True, help='q-point mesh (Gamma-centred).')
@click.option('--threshold', 'threshold_thz', type=float, default=3.0, show_default=True,
              help='Largest tolerated imaginary frequency in THz: the structure fails beyond it.')
@click.option('--displacement', type=float, default=0.01, show_default=True, help='Displacement in Angstrom.')
@click.option('--threads', type=int, default=None, help='Threads for the model (default: OMP_NUM_THREADS or 1).')
@click.option('--compress/--no-compress', default=True, show_default=True,
              help='Evaluate the compressed copy of a frozen .pth model (dp --pt compress, made once and cached): '
                   'same results, faster.')
@click.option('--format', 'file_format', default=None, help='ASE format of FILE; guessed from the name by default.')
@click.option('--json', 'as_json', is_flag=True, help='Print machine-readable JSON.')
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
        result = lam_phonons(atoms, evaluator, supercell=supercell, mesh=mesh, displacement=displacement,
                             imaginary_threshold_thz=threshold_thz)
    except HydridesInputError as exc:
        fail(str(exc))
    data = {'file': file, 'formula': atoms.get_chemical_formula(mode='metal'), 'model': model, **result.as_dict()}
    if as_json:
        echo_json(data)
        return
    verdict = 'PASS' if result.passed else 'FAIL'
    click.echo(f"{data['formula']}: {verdict} (largest imaginary frequency {result.max_imaginary_thz:.3f} THz, "
               f'threshold {threshold_thz:g} THz; frequencies {result.min_frequency_thz:.3f} .. '
               f'{result.max_frequency_thz:.3f} THz on a {"x".join(map(str, mesh))} mesh, '
               f'{result.n_displacements} displaced supercells)')
