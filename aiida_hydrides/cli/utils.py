"""Helpers shared by the CLI commands."""
import json
import sys

import click


def echo_json(data):
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=_json_default))


def _json_default(value):
    if hasattr(value, 'tolist'):
        return value.tolist()
    if hasattr(value, 'item'):
        return value.item()
    raise TypeError(f'cannot serialise {type(value).__name__} to JSON')


def fail(message: str, code: int = 1):
    """Print a clear error message on stderr and exit with ``code``."""
    click.secho(f'Error: {message}', fg='red', err=True)
    sys.exit(code)


def load_profile(profile: str | None = None):
    """Load the AiiDA profile (the default one, or ``profile``) with a clear message when none exists."""
    import os

    from aiida import load_profile as _load
    from aiida.common.exceptions import ProfileConfigurationError

    try:
        return _load(profile or os.environ.get('AIIDA_PROFILE') or None, allow_switch=True)
    except (ProfileConfigurationError, Exception) as exc:  # noqa: BLE001 - any failure here means: no usable profile
        fail(f'no usable AiiDA profile ({exc}). Run `make setup` or `aiida-hydrides setup --create-profile` first.')
