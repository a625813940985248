"""``aiida-hydrides label``: the seed DFT label set of the DeePMD model (generate, run, status, split)."""

import click

from .params import options
from .utils import bad_option, echo_json, fail, load_computer


def _data_dir(value):
    from aiida_hydrides.labelling import default_data_dir

    return value or default_data_dir()


@click.group('label')
def label():
    """Seed DFT labels (Ca-Y-H, 150-250 GPa) for the DeePMD model, labelled with pw.x through AiiDA.

    \b
    Typical use:
      aiida-hydrides label generate             # candidate frames + manifest (once; committed)
      aiida-hydrides label run --chunk 20       # label them, one piece per chunk; resumable
      aiida-hydrides label extend --round 2     # append the frames of a later round (new ids)
      aiida-hydrides label status               # progress
      aiida-hydrides label pack                 # merge the piece archives into one (set complete)
      aiida-hydrides label split OUT            # train/held-out deepmd/npy systems for training
    """


_DATA_DIR = click.option(
    '--data-dir',
    type=click.Path(file_okay=False),
    default=None,
    help='Folder of the label set (candidates, manifest, pieces, archives)  [default: data/seed of the checkout].',
)


@label.command('generate')
@_DATA_DIR
@click.option(
    '--seed', type=click.IntRange(min=0), default=None, help='Random seed of the candidate frames  [default: 20260607].'
)
@click.option('--force', is_flag=True, help='Overwrite existing candidates (only if no piece refers to them).')
def generate(data_dir, seed, force):
    """Generate the candidate frames (candidates.extxyz) and their manifest (manifest.json, with the held-out flags)."""
    import pathlib

    from aiida_hydrides.core import seed_configs
    from aiida_hydrides.labelling import CANDIDATES_FILE, MANIFEST_FILE

    data_dir = pathlib.Path(_data_dir(data_dir))
    target = data_dir / CANDIDATES_FILE
    if target.exists() and not force:
        fail(f'{target} exists; the labels refer to it. Use --force to regenerate it (only before labelling).')
    if target.exists() and seed_configs.list_pieces(data_dir):
        fail(f'{data_dir} has label pieces that refer to the current candidates; regenerate into another --data-dir')
    seed = seed_configs.DEFAULT_SEED if seed is None else seed
    frames = seed_configs.generate_seed_frames(seed)
    seed_configs.write_candidates(frames, target)
    manifest = seed_configs.build_manifest(frames, seed)
    seed_configs.write_manifest(manifest, data_dir / MANIFEST_FILE)
    echo_json(
        {
            'candidates': str(target),
            'frames': len(frames),
            'heldout': sum(record['heldout'] for record in manifest['frames']),
        }
    )


@label.command('extend')
@_DATA_DIR
@click.option(
    '--round',
    'round_number',
    type=int,
    default=2,
    show_default=True,
    help='Extension round to append (seed_configs.EXTENSION_ROUNDS).',
)
def extend(data_dir, round_number):
    """Append the frames of an extension round to the candidates and the manifest (new ids, held-out by the id hash).

    The existing frames and their labels are untouched; `label run` then labels the new frames.
    """
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.labelling import extend_candidates

    try:
        echo_json(extend_candidates(_data_dir(data_dir), round_number))
    except HydridesInputError as exception:
        fail(str(exception))


@label.command('run')
@_DATA_DIR
@click.option(
    '--profile-name',
    default='hydrides-labels',
    show_default=True,
    help='AiiDA profile of the label calculations; created (not as default) when missing.',
)
@click.option(
    '--max-frames',
    type=click.IntRange(min=0),
    default=None,
    help='Compute at most this many new frames in this run  [default: all remaining].',
)
@click.option(
    '--chunk',
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help='Frames per piece: a piece (deepmd/npy + archive) is written after every CHUNK new labels.',
)
@options.COMPUTER(help='Computer that runs pw.x (its pw code is created when missing).')
@click.option('--retry-failed', is_flag=True, help='Compute again the frames whose SCF failed before.')
@click.option('--no-archive', is_flag=True, help='Do not write the AiiDA archive of each piece.')
@click.option('--ids', default=None, metavar='IDS', help='Only these frame ids (comma separated).')
def run(data_dir, profile_name, max_frames, chunk, computer, retry_failed, no_archive, ids):
    """Label the remaining candidate frames with pw.x (labels.yaml settings), resumably.

    Frames stored in a piece or finished in the profile are skipped; finished calculations that are not yet in a
    piece go into the next one. Stop it at any time (Ctrl-C) and run it again to go on.
    """
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.labelling import check_label_frames, ensure_label_profile, run_labels
    from aiida_hydrides.processes import ProcessInterrupted

    from .launch import exit_interrupted

    # the arguments first: a bad one neither creates nor loads a profile
    only = None if ids is None else [i.strip() for i in ids.split(',') if i.strip()]
    try:
        check_label_frames(_data_dir(data_dir), only)
    except HydridesInputError as exception:
        bad_option('ids' if only is not None and 'frame id' in str(exception) else 'data_dir', str(exception))
    _check_label_computer(profile_name, computer)
    try:
        ensure_label_profile(profile_name)
        summary = run_labels(
            _data_dir(data_dir),
            max_frames=max_frames,
            chunk=chunk,
            computer=computer,
            retry_failed=retry_failed,
            archive=not no_archive,
            only_ids=only,
            log=lambda line: click.echo(line, err=True),
        )
    except HydridesInputError as exception:
        fail(str(exception))
    except ProcessInterrupted as interruption:
        exit_interrupted(
            interruption,
            'The frames finished so far are kept (in pieces, or in the profile for the next piece); run the same '
            'command again to go on.',
        )
    echo_json(dict(summary))


def _check_label_computer(profile_name: str, computer: str):
    """Fail naming ``--computer`` when the label profile cannot have that computer: a profile that does not exist yet
    gets only ``localhost``; an existing one must have it (looked up without changing the profile)."""
    from aiida.manage.configuration import get_config

    if profile_name not in get_config(create=True).profile_names:
        if computer != 'localhost':
            bad_option(
                'computer',
                f'the profile {profile_name!r} does not exist yet and is created with the computer localhost only; '
                f'run with --computer localhost, or set up {computer!r} in it first',
            )
        return
    from aiida import load_profile

    load_profile(profile_name, allow_switch=True)
    if computer != 'localhost':  # localhost is created when missing
        load_computer(computer)


@label.command('status')
@_DATA_DIR
def status(data_dir):
    """Progress of the label set: candidates, labelled frames, failures and pieces (no AiiDA profile needed)."""
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.labelling import label_status

    try:
        echo_json(label_status(_data_dir(data_dir)))
    except HydridesInputError as exception:
        fail(str(exception))


@label.command('pack')
@_DATA_DIR
@click.option('--name', default=None, help='Name of the merged archive  [default: the label set of labels.yaml].')
@click.option('--keep', is_flag=True, help='Keep the piece archives after merging.')
def pack(data_dir, name, keep):
    """Merge the piece archives into one archive of the whole label set (pseudopotentials and codes stored once).

    Uses a temporary in-memory profile: no AiiDA profile is needed or touched. Running it again after new pieces
    merges them into the same archive.
    """
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.labelling import pack_archives

    try:
        echo_json(pack_archives(_data_dir(data_dir), name=name, remove=not keep))
    except HydridesInputError as exception:
        fail(str(exception))


@label.command('split')
@click.argument('output_dir', type=click.Path(file_okay=False))
@_DATA_DIR
@click.option(
    '--rounds',
    default=None,
    metavar='N,M',
    help='Only the frames of these label rounds (e.g. 1,2)  [default: every round].',
)
def split(output_dir, data_dir, rounds):
    """Merge all pieces into OUTPUT_DIR/train and OUTPUT_DIR/heldout deepmd/npy systems (held-out: frame-id hash)."""
    from aiida_hydrides.core import seed_configs
    from aiida_hydrides.core.errors import HydridesInputError

    if not seed_configs.list_pieces(_data_dir(data_dir)):
        fail(f'no label pieces in {_data_dir(data_dir)}; run `aiida-hydrides label run` first')
    try:
        chosen = None if not rounds else [int(value) for value in rounds.split(',') if value.strip()]
    except ValueError:
        fail(f'--rounds takes round numbers separated by commas, got {rounds!r}')
    try:
        result = seed_configs.collect_split(_data_dir(data_dir), output_dir, rounds=chosen)
    except HydridesInputError as exception:
        fail(str(exception))
    echo_json({key: value for key, value in result.items() if key != 'ids'})
