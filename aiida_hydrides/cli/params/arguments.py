"""The arguments shared by the ``aiida-hydrides`` commands."""

import click

from . import types

__all__ = ('STRUCTURE',)


def STRUCTURE(**kwargs):  # noqa: N802 - named like the options
    """The ``STRUCTURE`` argument: a structure file, or a stored StructureData by PK, UUID or label."""
    settings = {'type': types.StructureType(), 'metavar': 'STRUCTURE'}
    settings.update(kwargs)
    return click.argument('structure', **settings)
