"""Allow ``python -m aiida_hydrides.cli``."""
from aiida_hydrides.cli import cli

cli()  # pylint: disable=no-value-for-parameter
