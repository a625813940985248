"""The ``aiida-hydrides`` command line, in the style of ``verdi``.

Sub-commands are imported lazily, so that ``aiida-hydrides compositions`` starts fast and never loads AiiDA.
"""

import importlib

import click

#: command name -> "module:attribute"; one module per command in this package.
COMMANDS = {
    'compositions': 'aiida_hydrides.cli.compositions:compositions',
    'analyze': 'aiida_hydrides.cli.analyze:analyze',
    'tc': 'aiida_hydrides.cli.tc:tc',
    'setup': 'aiida_hydrides.cli.setup:setup',
    'dft-enthalpy': 'aiida_hydrides.cli.dft_enthalpy:dft_enthalpy',
    'epc': 'aiida_hydrides.cli.epc:epc',
    'epc-batch': 'aiida_hydrides.cli.epc_batch:epc_batch',
    'relax': 'aiida_hydrides.cli.relax:relax',
    'search': 'aiida_hydrides.cli.search:search',
    'minima': 'aiida_hydrides.cli.minima:minima',
    'phonons': 'aiida_hydrides.cli.phonons:phonons',
    'screen': 'aiida_hydrides.cli.screen:screen',
    'label': 'aiida_hydrides.cli.label:label',
    'learn': 'aiida_hydrides.cli.learn:learn',
    'models': 'aiida_hydrides.cli.models:models',
    'processes': 'aiida_hydrides.cli.processes:processes',
    'dataset': 'aiida_hydrides.cli.dataset:dataset',
    'rank': 'aiida_hydrides.cli.rank:rank',
    'discover': 'aiida_hydrides.cli.discover:discover',
    'status': 'aiida_hydrides.cli.discover:status',
    'demo': 'aiida_hydrides.cli.demo:demo',
    'candidates': 'aiida_hydrides.cli.candidates:candidates',
    'report': 'aiida_hydrides.cli.report:report',
    'export': 'aiida_hydrides.cli.export:export',
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command only when it is invoked or its help is shown."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, cmd_name):
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(':')
        return getattr(importlib.import_module(module_name), attribute)


@click.group(cls=LazyGroup, context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='aiida-hydrides')
def cli():
    """Discover high-Tc superconducting hydrides under pressure, with AiiDA provenance.

    Pure analysis commands (compositions, analyze, tc on files) need no AiiDA profile; commands that run
    calculations use the default AiiDA profile, or the one named by the AIIDA_PROFILE variable.
    """
