"""``aiida-hydrides relax``: batched variable-cell relaxation of structure files with a DeePMD model, in-process."""

import click

from .params import options
from .utils import echo_json, fail


@click.command('relax')
@click.argument('files', nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@options.MODEL()
@options.PRESSURE()
@options.HEAD()
@click.option(
    '--fmax',
    type=click.FloatRange(min=0, min_open=True),
    default=0.05,
    show_default=True,
    help='Force tolerance in eV/Angstrom.',
)
@click.option(
    '--stress-tol',
    'stress_tol_gpa',
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help='Stress tolerance in GPa (every component of stress + pressure).',
)
@options.MAX_STEPS(default=300, show_default=True)
@click.option(
    '--optimizer',
    type=click.Choice(['lbfgs', 'fire']),
    default='lbfgs',
    show_default=True,
    help='Optimizer (ASE-equivalent L-BFGS or FIRE in FrechetCellFilter coordinates).',
)
@click.option(
    '--batch-size', type=click.IntRange(min=1), default=None, help='Structures in flight at once (default: all).'
)
@options.THREADS()
@options.COMPRESS()
@click.option(
    '--output',
    '-o',
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help='Write the relaxed structures to this file (extxyz recommended; enthalpies in the info fields).',
)
@options.FILE_FORMAT()
@options.JSON()
def relax(
    files,
    model,
    pressure,
    head,
    fmax,
    stress_tol_gpa,
    max_steps,
    optimizer,
    batch_size,
    threads,
    compress,
    output,
    file_format,
    as_json,
):
    """Relax the structures in FILES (cell and positions) at the target pressure with a DeePMD model.

    All structures are relaxed together, one model call per step; every frame of a multi-frame extxyz or trajectory
    file is relaxed. Prints per structure the outcome (converged / max_steps / exploded / collapsed), the enthalpy per
    atom H = E + PV in eV, the volume per atom and the final pressure.
    """
    pressure_gpa = pressure
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.core.lam.threads import configure_threads

    configure_threads(threads)
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.relax import RelaxSettings, relax_structures

    try:
        settings = RelaxSettings(
            pressure_gpa=pressure_gpa,
            fmax=fmax,
            stress_tol_gpa=stress_tol_gpa,
            max_steps=max_steps,
            optimizer=optimizer,
            batch_size=batch_size,
        ).validated()
        structures, sources = read_structures(files, file_format)
        evaluator = load_model(model, head=head, compress=compress)
        evaluator.check_structures(structures)
        results = relax_structures(
            structures,
            evaluator,
            **{
                key: getattr(settings, key)
                for key in ('pressure_gpa', 'fmax', 'stress_tol_gpa', 'max_steps', 'optimizer', 'batch_size')
            },
        )
    except HydridesInputError as exc:
        fail(str(exc))

    if output:
        import ase.io

        frames = []
        for result, source in zip(results, sources):
            atoms = result.atoms.copy()
            atoms.info.update(
                {
                    'source': source,
                    'flag': result.flag,
                    'n_steps': result.n_steps,
                    'energy': result.energy,
                    'enthalpy_per_atom': result.enthalpy_per_atom,
                    'pressure_gpa': result.pressure_gpa,
                    'target_pressure_gpa': pressure_gpa,
                }
            )
            frames.append(atoms)
        ase.io.write(output, frames)
    rows = [
        {'source': source, **result.as_dict(), 'volume_per_atom': result.volume_per_atom}
        for result, source in zip(results, sources)
    ]
    if as_json:
        echo_json(
            {'model': model, 'pressure_gpa': pressure_gpa, 'optimizer': optimizer, 'output': output, 'structures': rows}
        )
        return
    click.echo(
        f'{"#":>3} {"source":<28} {"formula":<12} {"flag":<10} {"steps":>5} {"H/atom (eV)":>12} '
        f'{"V/atom (A^3)":>12} {"P (GPa)":>9}'
    )
    for row in rows:
        enthalpy = 'n/a' if row['enthalpy_per_atom'] is None else f'{row["enthalpy_per_atom"]:.5f}'
        pressure = 'n/a' if row['pressure_gpa'] is None else f'{row["pressure_gpa"]:.2f}'
        click.echo(
            f'{row["index"]:>3} {row["source"][-28:]:<28} {row["formula"]:<12} {row["flag"]:<10} '
            f'{row["n_steps"]:>5} {enthalpy:>12} {row["volume_per_atom"]:>12.4f} {pressure:>9}'
        )
    if output:
        click.echo(f'relaxed structures written to {output}')


def read_structures(files, file_format=None):
    """All structures of ``files`` (every frame of multi-frame files), validated, and a source label for each."""
    import ase.io

    from aiida_hydrides.core.errors import StructureReadError
    from aiida_hydrides.core.structures import guess_format, read_structure, validate_structure

    structures, sources = [], []
    for path in files:
        fmt = file_format or guess_format(path)
        if fmt in ('extxyz', 'traj'):
            read_structure(path, format=fmt, validate=False)  # clear errors for missing or unreadable files
            try:
                frames = ase.io.read(path, index=':', format=fmt)
            except Exception as exc:  # noqa: BLE001
                raise StructureReadError(f'could not read {path}: {exc}') from exc
            for k, atoms in enumerate(frames):
                structures.append(validate_structure(atoms, source=f'{path}@{k}'))
                sources.append(f'{path}@{k}' if len(frames) > 1 else path)
        else:
            structures.append(read_structure(path, format=fmt))
            sources.append(path)
    return structures, sources
