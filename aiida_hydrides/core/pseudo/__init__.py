"""Offline pseudopotentials: the pslibrary parameter table, ld1.x generation and the high-pressure cutoff rule.

Pure Python (no AiiDA); the AiiDA family lives in :mod:`aiida_hydrides.pseudos`.
"""

from .cutoffs import DEFAULT_STRINGENCY, DUAL, STRINGENCIES, family_cutoffs, recommended_cutoffs
from .generate import ElementResult, GenerationResult, Ld1NotFoundError, find_ld1, generate_pseudo, generate_pseudos
from .ld1_input import Ld1InputError, format_ld1_input, parse_ld1_input
from .table import KINDS, PseudoTableError, available_elements, check_kind, get_entry, load_table
from .upf import UpfError, read_upf_header

__all__ = (
    'DEFAULT_STRINGENCY',
    'DUAL',
    'KINDS',
    'STRINGENCIES',
    'ElementResult',
    'GenerationResult',
    'Ld1InputError',
    'Ld1NotFoundError',
    'PseudoTableError',
    'UpfError',
    'available_elements',
    'check_kind',
    'family_cutoffs',
    'find_ld1',
    'format_ld1_input',
    'generate_pseudo',
    'generate_pseudos',
    'get_entry',
    'load_table',
    'parse_ld1_input',
    'read_upf_header',
    'recommended_cutoffs',
)
