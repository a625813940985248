"""The filter cascade of hydride candidates: its thresholds, its stages and their verdicts, the LAM-vs-DFT comparison.

A structure search leaves many minima; five filters, from cheapest to dearest, keep the candidates worth an
electron-phonon calculation (the values of the 2025 study of ternary superhydrides at 200 GPa are the defaults):

================  =========================================================  ==========================================
stage             value                                                       kept when
================  =========================================================  ==========================================
``lam_hull``      E_hull with LAM enthalpies against every phase of the      ``value <= ehull_lam_max_mev`` (50 meV/atom)
                  system (meV/atom)
``symmetry``      space group number (spglib, ``symprec`` 0.1 Å)             ``value > space_group_min`` (75: tetragonal
                                                                             and above)
``atomic_h``      share of H atoms whose nearest H is farther than           ``value > atomic_h_min`` (0.75)
                  ``h_threshold`` (0.9 Å)
``lam_phonons``   largest imaginary frequency of the LAM phonons (THz)       ``value <= imaginary_max_thz`` (3 THz)
``dft_hull``      E_hull with DFT enthalpies against the DFT phases of the   ``value <= ehull_dft_max_mev`` (50 meV/atom)
                  LAM hull (meV/atom)
================  =========================================================  ==========================================

Pure Python (with pymatgen through :mod:`aiida_hydrides.core.hull` and scipy for the rank correlation); the work chain
``hydrides.screen`` runs the stages and stores the verdicts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from .descriptors import DEFAULT_H_THRESHOLD, DEFAULT_SYMPREC
from .errors import HydridesInputError
from .settings import split_parameters

__all__ = (
    'STAGES',
    'STAGE_UNITS',
    'STAGE_RULES',
    'describe_rule',
    'CHEAP_STAGES',
    'ScreenThresholds',
    'thresholds_from_parameters',
    'stage_passes',
    'stage_record',
    'first_failed_stage',
    'missing_elements',
    'is_hydride',
    'compare_methods',
)

#: the stages of the cascade, in the order they run
STAGES = ('lam_hull', 'symmetry', 'atomic_h', 'lam_phonons', 'dft_hull')
#: the stages computed from the structure and the LAM hull alone: evaluated for every candidate
CHEAP_STAGES = ('lam_hull', 'symmetry', 'atomic_h')
#: unit of the value of each stage
STAGE_UNITS = {
    'lam_hull': 'meV/atom',
    'symmetry': 'space group number',
    'atomic_h': 'fraction',
    'lam_phonons': 'THz',
    'dft_hull': 'meV/atom',
}


@dataclasses.dataclass(frozen=True)
class ScreenThresholds:
    """The thresholds of the filter cascade, with the study's values as defaults."""

    #: largest E_hull with LAM enthalpies kept, meV/atom
    ehull_lam_max_mev: float = 50.0
    #: a candidate is kept when its space group number is larger than this (75 = P4, the first tetragonal group)
    space_group_min: int = 75
    #: tolerance of spglib for the space group, Angstrom
    symprec: float = DEFAULT_SYMPREC
    #: a candidate is kept when its atomic-H fraction is larger than this
    atomic_h_min: float = 0.75
    #: H-H distance (Angstrom) above which a hydrogen atom counts as atomic
    h_threshold: float = DEFAULT_H_THRESHOLD
    #: largest imaginary LAM phonon frequency kept, THz
    imaginary_max_thz: float = 3.0
    #: largest E_hull with DFT enthalpies kept, meV/atom
    ehull_dft_max_mev: float = 50.0

    def validated(self) -> ScreenThresholds:
        """Check the ranges; return ``self``."""
        for name in ('ehull_lam_max_mev', 'ehull_dft_max_mev', 'imaginary_max_thz'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise HydridesInputError(f'{name} must be a number >= 0, got {value!r}')
        for name in ('symprec', 'h_threshold'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise HydridesInputError(f'{name} must be a number > 0 (Angstrom), got {value!r}')
        if not 0 <= self.atomic_h_min <= 1:
            raise HydridesInputError(f'atomic_h_min must lie between 0 and 1, got {self.atomic_h_min!r}')
        if not 0 <= self.space_group_min <= 230:
            raise HydridesInputError(f'space_group_min must lie between 0 and 230, got {self.space_group_min!r}')
        return self

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: stage -> (field of ScreenThresholds, comparison written for people)
STAGE_RULES = {
    'lam_hull': ('ehull_lam_max_mev', '<='),
    'symmetry': ('space_group_min', '>'),
    'atomic_h': ('atomic_h_min', '>'),
    'lam_phonons': ('imaginary_max_thz', '<='),
    'dft_hull': ('ehull_dft_max_mev', '<='),
}


def thresholds_from_parameters(parameters: Mapping | None) -> ScreenThresholds:
    """:class:`ScreenThresholds` from a dictionary; an unknown name raises :class:`HydridesInputError` naming it and
    the accepted ones."""
    fields, _ = split_parameters(ScreenThresholds, parameters)
    return ScreenThresholds(**fields).validated()


def stage_passes(stage: str, value, thresholds: ScreenThresholds) -> bool:
    """Whether ``value`` passes ``stage``; ``None`` (no value, e.g. a failed calculation) never passes."""
    if value is None:
        return False
    field, comparison = STAGE_RULES[stage]
    limit = getattr(thresholds, field)
    return bool(value <= limit) if comparison == '<=' else bool(value > limit)


def stage_record(stage: str, value, thresholds: ScreenThresholds, **extra) -> dict:
    """The verdict of ``stage`` on one candidate, as stored in its extras: ``value``, ``threshold``, ``rule``
    (e.g. ``'<= 50'``), ``unit`` and ``passed``, plus ``extra`` (e.g. an ``error``)."""
    if stage not in STAGE_RULES:
        raise HydridesInputError(f'unknown stage {stage!r}; the stages are {", ".join(STAGES)}')
    field, comparison = STAGE_RULES[stage]
    limit = getattr(thresholds, field)
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {
        'value': value,
        'threshold': limit,
        'rule': f'{comparison} {limit:g}',
        'unit': STAGE_UNITS[stage],
        'passed': stage_passes(stage, value, thresholds),
        **extra,
    }


#: what each stage measures, for people
_QUANTITIES = {
    'lam_hull': 'E_hull(LAM)',
    'symmetry': 'space group',
    'atomic_h': 'atomic-H fraction',
    'lam_phonons': 'imaginary mode',
    'dft_hull': 'E_hull(DFT)',
}


def describe_rule(stage: str, thresholds: ScreenThresholds | Mapping) -> str:
    """The rule of ``stage`` for people, e.g. ``'E_hull(LAM) <= 50 meV/atom'`` or ``'space group > 75'``."""
    if isinstance(thresholds, Mapping):
        thresholds = ScreenThresholds(**thresholds)
    field, comparison = STAGE_RULES[stage]
    unit = STAGE_UNITS[stage] if STAGE_UNITS[stage] in ('meV/atom', 'THz') else ''
    return f'{_QUANTITIES[stage]} {comparison} {getattr(thresholds, field):g} {unit}'.rstrip()


def first_failed_stage(records: Mapping[str, Mapping]) -> str | None:
    """The first stage, in cascade order, whose record did not pass (``None`` when all recorded stages passed)."""
    for stage in STAGES:
        record = records.get(stage)
        if record is not None and not record.get('passed'):
            return stage
    return None


def is_hydride(elements: Iterable[str]) -> bool:
    """Whether a structure made of ``elements`` can be a candidate of the cascade: hydrogen and at least one other
    element. Elements and alloys without hydrogen enter the LAM hull as its references only, through its vertices."""
    from .compositions import HYDROGEN

    elements = set(elements)
    return HYDROGEN in elements and len(elements) >= 2


def missing_elements(elements: Iterable[str], formulas: Iterable[str]) -> list[str]:
    """The ``elements`` that no formula of ``formulas`` is made of alone (the elemental references a hull needs)."""
    from .compositions import parse_formula

    present = set()
    for formula in formulas:
        composition = parse_formula(formula)
        if len(composition.elements) == 1:
            present.add(composition.elements[0])
    return [symbol for symbol in elements if symbol not in present]


def compare_methods(pairs: Mapping[str, tuple[float, float]], worst: int = 5) -> dict:
    """Agreement of two estimates of E_hull (meV/atom) over the same structures: ``pairs`` maps a key to
    ``(lam, dft)``.

    Returns ``n``, ``mae_mev`` (mean absolute difference), ``max_abs_mev``, ``spearman`` (rank correlation, ``None``
    with fewer than 3 structures or constant values), ``spearman_pvalue`` and ``worst`` (the ``worst`` largest
    differences, each ``{key, lam_mev, dft_mev, diff_mev}`` with diff = lam - dft).
    """
    keys = [key for key, (lam, dft) in pairs.items() if lam is not None and dft is not None]
    if not keys:
        return {'n': 0, 'mae_mev': None, 'max_abs_mev': None, 'spearman': None, 'spearman_pvalue': None, 'worst': []}
    lam = [float(pairs[key][0]) for key in keys]
    dft = [float(pairs[key][1]) for key in keys]
    diffs = [a - b for a, b in zip(lam, dft, strict=True)]
    spearman = pvalue = None
    if len(keys) >= 3 and len(set(lam)) > 1 and len(set(dft)) > 1:
        from scipy.stats import spearmanr

        result = spearmanr(lam, dft)
        spearman, pvalue = float(result.statistic), float(result.pvalue)
    order = sorted(range(len(keys)), key=lambda index: -abs(diffs[index]))[:worst]
    return {
        'n': len(keys),
        'mae_mev': sum(abs(d) for d in diffs) / len(diffs),
        'max_abs_mev': max(abs(d) for d in diffs),
        'spearman': spearman,
        'spearman_pvalue': pvalue,
        'worst': [{'key': keys[i], 'lam_mev': lam[i], 'dft_mev': dft[i], 'diff_mev': diffs[i]} for i in order],
    }
