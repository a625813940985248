"""``aiida-hydrides models``: the DeePMD models of the profile with their training data and errors."""

import click

from .params import options
from .utils import echo_json, load_profile


@click.command('models')
@click.option('--system', default=None, help='Only the models of `learn` runs of this system (e.g. Ca-Y).')
@click.option(
    '--trained-only',
    is_flag=True,
    default=False,
    help='Leave out the model files that were only given to jobs (the seed model, files from elsewhere).',
)
@click.option(
    '--limit', type=click.IntRange(min=1), default=50, show_default=True, help='Show at most this many, newest first.'
)
@options.JSON(help='Print the records as JSON (training and validation sets, all errors, md5, run).')
def models(system, trained_only, limit, as_json):
    """List the DeePMD models of the profile, newest first, with their training data and errors.

    A trained model is the output of a `hydrides.lam.train` job (run by `aiida-hydrides learn`, or on its own): how
    it was trained (scratch, init = continued, finetune; steps), the frames and label set of its training set, its
    last training errors and the validation errors of `dp test` (energy in meV/atom, forces in meV/Å), and the learn
    run, iteration and member it belongs to. Model files given to jobs but not made by one (the seed model) are listed
    as `file`. Use the PK with `verdi node show PK`, or pass the file to other commands (`verdi node repo cat`).
    """
    from aiida_hydrides.core.compositions import parse_system, system_label
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.workflows.lam.models import list_models

    if system is not None:
        try:
            system = system_label(*parse_system(system))
        except HydridesInputError as exc:
            raise click.BadParameter(str(exc), param_hint="'--system'") from exc
    load_profile()
    records = list_models(limit=limit, system=system, include_external=not trained_only)
    if as_json:
        echo_json(records)
        return
    if not records:
        click.echo('No DeePMD model in this profile' + (f' for {system}' if system else '') + '.')
        return
    click.echo(
        f'{"PK":>6} {"model":<22} {"created":<19} {"origin":<13} {"mode":<8} {"steps":>6} {"frames":>7} '
        f'{"label set":<12} {"E val":>8} {"F val":>8}  run'
    )
    for record in records:
        training = record.get('training_set') or {}
        validation = record.get('validation_errors') or {}
        origin = f'job {record["training_job"]}' if record['origin'] == 'trained' else f'file ({record["jobs"]} jobs)'
        energy = validation.get('energy_rmse_mev_per_atom')
        force = validation.get('force_rmse_mev_per_angstrom')
        run = record.get('run')
        where = f'learn {run["pk"]} {run["iteration"]} {run["member"]}' if run else '-'
        click.echo(
            f'{record["pk"]:>6} {record["filename"][:22]:<22} {record["created"][:19]:<19} {origin:<13} '
            f'{record.get("mode") or "-":<8} {record.get("steps") or "-":>6} {training.get("nframes", "-"):>7} '
            f'{(training.get("label_set") or "-")[:12]:<12} {"-" if energy is None else f"{energy:.1f}":>8} '
            f'{"-" if force is None else f"{force:.1f}":>8}  {where}'
        )
    click.echo('E val: energy RMSE (meV/atom), F val: force RMSE (meV/Å) of dp test on the validation set.')
