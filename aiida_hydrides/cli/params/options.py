"""The options shared by the ``aiida-hydrides`` commands, defined once (in the style of ``aiida-pseudo`` and ``verdi``).

Each option is an :class:`OverridableOption`: ``@options.PRESSURE()`` applies it as defined here, and
``@options.PRESSURE(help='...')`` changes a keyword for one command. Values are checked by their click type, so a bad
value gives one line that names the option and exit status 2.

==================  ====================================================================================================
option              used by
==================  ====================================================================================================
``-p/--pressure``   dft-enthalpy, epc-batch, search, relax, discover, candidates (a number of GPa, or with a unit: 200, 200GPa, 2000kbar, 2Mbar);
                    learn (its own type: a window 150-250 or a list 150,200,250)
``--protocol``      dft-enthalpy, epc, epc-batch, search, learn, discover (choices read from the work chain's protocol file)
``-Y/--computer``   dft-enthalpy, epc, epc-batch, search, learn, discover, demo, setup, label run (computer of the codes)
``-X/--code``       dft-enthalpy (pw.x), search (hydrides-lam): a code instead of the one found on --computer
``--mpiprocs``      dft-enthalpy, epc, epc-batch, discover (MPI processes per calculation; default: the computer's default)
``-F/--family``     dft-enthalpy, epc, epc-batch, search, discover (pseudopotential family)
``--primitive``     dft-enthalpy, epc (reduce a structure file to its primitive cell; on by default)
``--projwfc``       epc, epc-batch (also run projwfc.x for N(E_F) per element; on by default)
``-d/--daemon``     dft-enthalpy, epc, epc-batch, search, learn, discover (submit to the daemon and return at once)
``-v/--verbose``    dft-enthalpy, epc, epc-batch, search, learn, discover, demo (all process reports and other packages' warnings)
``-m/--model``      search, relax, phonons, learn (repeatable), discover (DeePMD model file); with ``--head``, ``--threads``, ``--compress``
``--tc-formula``    candidates, report (the Tc formula shown: allen_dynes, mcmillan, eliashberg, xie_ml)
``--mustar``        candidates, report (μ* of that Tc: 0.10 or 0.13)
``--json``          every command with a result
==================  ====================================================================================================
"""

from __future__ import annotations

import click

from . import types

__all__ = (
    'CODE',
    'COMPRESS',
    'COMPUTER',
    'DAEMON',
    'FILE_FORMAT',
    'HEAD',
    'JSON',
    'MAX_STEPS',
    'MODEL',
    'MPIPROCS',
    'OverridableOption',
    'PRESSURE',
    'PRIMITIVE',
    'PROJWFC',
    'PSEUDO_FAMILY',
    'THREADS',
    'VERBOSE',
    'ProtocolOption',
    'protocol_option',
)

#: the default target pressure of every command (GPa)
DEFAULT_PRESSURE_GPA = 200.0
#: the default computer of every command that runs calculations
DEFAULT_COMPUTER = 'localhost'


class OverridableOption:
    """A click option defined once and applied to many commands; keywords given when applying it override the
    defaults (as ``aiida.cmdline.params.options.OverridableOption``)."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs

    def __call__(self, **kwargs):
        merged = {**self.kwargs, **kwargs}
        return click.option(*self.args, **merged)


class ProtocolOption(click.Option):
    """``--protocol`` whose choices and default come from the protocol file of a work chain, read on first use."""

    def get_default(self, ctx, call=True):
        default = super().get_default(ctx, call=call)
        if default is None and isinstance(self.type, types.ProtocolType):
            return self.type.default_protocol()
        return default


def protocol_option(entry_point: str, **kwargs):
    """The ``--protocol`` option of the work chain registered as ``entry_point`` (e.g. ``'hydrides.dft.enthalpy'``):
    its choices are the protocols of the work chain's protocol file, its default that file's ``default_protocol``."""
    settings = {
        'cls': ProtocolOption,
        'type': types.ProtocolType(entry_point),
        'default': None,
        'show_default': True,
        'help': f'Protocol of the `{entry_point}` work chain: cutoffs, k-point spacing, smearing, thresholds and '
        'budgets from its protocol file (workflows/protocols/).',
    }
    settings.update(kwargs)
    return click.option('--protocol', **settings)


PRESSURE = OverridableOption(
    '-p',
    '--pressure',
    'pressure',
    type=types.PressureType(),
    default=f'{DEFAULT_PRESSURE_GPA:g}',
    show_default=True,
    help='Target pressure in GPa; a unit may be appended: 200, "200GPa", "2000kbar", "2Mbar" (0 to 1000 GPa).',
)

COMPUTER = OverridableOption(
    '-Y',
    '--computer',
    'computer',
    default=DEFAULT_COMPUTER,
    show_default=True,
    metavar='LABEL',
    help='Computer whose codes run the calculations; its codes are found by their label (pw, ph, q2r, matdyn, '
    'projwfc, hydrides-lam), as `aiida-hydrides setup` creates them.',
)

CODE = OverridableOption(
    '-X',
    '--code',
    'code',
    default=None,
    metavar='CODE',
    help='Code to run instead of the one found on --computer: its label (e.g. pw@localhost), PK or UUID.',
)

MPIPROCS = OverridableOption(
    '--mpiprocs',
    type=click.IntRange(min=1),
    default=None,
    help='MPI processes per calculation (also the number of k-point pools)  [default: the default MPI processes '
    'per machine of the computer, set by `aiida-hydrides setup --mpiprocs`].',
)

PSEUDO_FAMILY = OverridableOption(
    '-F',
    '--family',
    'family',
    default=None,
    metavar='LABEL',
    help='Label of the pseudopotential family  [default: the offline pslibrary family of `aiida-hydrides setup`].',
)

PRIMITIVE = OverridableOption(
    '--primitive/--no-primitive',
    default=True,
    show_default=True,
    help='Reduce a structure file to its standardized primitive cell (spglib) first: fewer atoms, same physics. A '
    'stored StructureData is always used as is, so that the provenance graph links it.',
)

PROJWFC = OverridableOption(
    '--projwfc/--no-projwfc',
    default=True,
    show_default=True,
    help='Also run projwfc.x for N(E_F) projected on each element (the hydrogen share).',
)

DAEMON = OverridableOption(
    '-d',
    '--daemon',
    is_flag=True,
    default=False,
    help='Submit the work chain to the AiiDA daemon and return at once with its PK (follow it with `verdi process '
    'status PK`), instead of running it in this process.',
)

JSON = OverridableOption('--json', 'as_json', is_flag=True, help='Print machine-readable JSON.')

VERBOSE = OverridableOption(
    '-v',
    '--verbose',
    is_flag=True,
    default=False,
    help='Show the reports of every process with their logger prefixes, and the warnings of other packages '
    '(by default: the progress of the work chain and warnings only).',
)

MODEL = OverridableOption(
    '-m',
    '--model',
    required=True,
    type=types.ModelType(),
    help='DeePMD model file (.pth frozen, .pt checkpoint, .pb TensorFlow), or a shipped model: seed (the seed model '
    'of Ca-Y-H) or seed-fast (its fast architecture).',
)

HEAD = OverridableOption('--head', default=None, help='Head of a multi-head model.')

THREADS = OverridableOption(
    '--threads',
    type=click.IntRange(min=1),
    default=None,
    help='Threads for the model  [default: OMP_NUM_THREADS or 1].',
)

COMPRESS = OverridableOption(
    '--compress/--no-compress',
    default=True,
    show_default=True,
    help='Evaluate the compressed copy of a frozen .pth model (dp --pt compress, made once and cached): same results, '
    'faster.',
)

FILE_FORMAT = OverridableOption(
    '--format',
    'file_format',
    default=None,
    help="ASE format of the structure files (e.g. 'cif', 'vasp', 'extxyz'); guessed from the names by default.",
)

MAX_STEPS = OverridableOption(
    '--max-steps',
    type=click.IntRange(min=1),
    default=None,
    help='Relaxation step limit per structure.',
)

TC_FORMULA = OverridableOption(
    '--tc-formula',
    type=click.Choice(['allen_dynes', 'mcmillan', 'eliashberg', 'xie_ml']),
    default='allen_dynes',
    show_default=True,
    help='The Tc formula of the values shown.',
)

MUSTAR = OverridableOption(
    '--mustar',
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    default=0.10,
    show_default=True,
    help='Coulomb pseudopotential mu* of that Tc (every EPC computes 0.10 and 0.13).',
)
