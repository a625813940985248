"""Superconductivity from the Eliashberg function: QE file readers, spectral moments, Tc formulas and solver.

Pure Python (numpy, scipy); no AiiDA. Temperatures and phonon energies at the interfaces ending in ``_K`` are in
kelvin; QE's files use Rydberg (``RY_TO_K`` of :mod:`aiida_hydrides.core.units` converts).

>>> spectrum = read_a2f_dos('a2F.dos5')
>>> summary = summarize_spectrum(spectrum, mustars=(0.10, 0.13))
>>> summary['lambda'], summary['tc_allen_dynes_K_mu0_10']
"""

from ..units import CM1_TO_K, MEV_TO_K, RY_TO_CM1, RY_TO_K, RY_TO_MEV, RY_TO_THZ, THZ_TO_K  # re-exported
from .eliashberg import EliashbergResult, eliashberg_tc, solve_eliashberg_tc
from .errors import SpectrumError
from .formulas import (
    FORMULAS,
    allen_dynes_factors,
    allen_dynes_tc,
    mcmillan_tc,
    tc_undefined_reason,
    xie_ml_factors,
    xie_ml_tc,
)
from .qe_files import A2fSpectrum, LambdaRow, read_a2f_dos, read_lambda_file, validate_spectrum
from .spectral import lambda_cumulative, spectral_moments
from .summary import (
    CLIPPING_TOLERANCE,
    DEFAULT_MUSTARS,
    lambda_file_agreement,
    mustar_label,
    parse_tc_key,
    summarize_spectrum,
    tc_key,
)

__all__ = (
    'A2fSpectrum',
    'CLIPPING_TOLERANCE',
    'CM1_TO_K',
    'DEFAULT_MUSTARS',
    'EliashbergResult',
    'FORMULAS',
    'LambdaRow',
    'MEV_TO_K',
    'RY_TO_CM1',
    'RY_TO_K',
    'RY_TO_MEV',
    'RY_TO_THZ',
    'SpectrumError',
    'THZ_TO_K',
    'allen_dynes_factors',
    'allen_dynes_tc',
    'eliashberg_tc',
    'lambda_cumulative',
    'lambda_file_agreement',
    'mcmillan_tc',
    'mustar_label',
    'parse_tc_key',
    'read_a2f_dos',
    'read_lambda_file',
    'solve_eliashberg_tc',
    'spectral_moments',
    'summarize_spectrum',
    'tc_key',
    'tc_undefined_reason',
    'validate_spectrum',
    'xie_ml_factors',
    'xie_ml_tc',
)
