"""Allow ``python -m aiida_hydrides.cli``."""

from aiida_hydrides.cli import cli

if __name__ == '__main__':
    cli()
