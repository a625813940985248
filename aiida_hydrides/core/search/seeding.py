"""Seeds from known hydride prototypes by element substitution.

The templates are the prototypes of :mod:`aiida_hydrides.core.prototypes` marked ``search_template``, whose
heavy-atom sites can take any element: the CaH6-type sodalite MH6 (primitive and conventional cells), the H3S-type
XH3 (primitive and conventional) and the LaH10-type MH10 clathrate. A template fits a composition when its
H : heavy-atom ratio equals the composition's; its cell (or a small supercell, up to four times larger, within
``max_atoms``) is then filled with the composition's heavy elements in their proportions (random orderings from
``rng``; one ordering is enough when there is a single heavy element) and scaled to the volume of the additive model
(:mod:`.volumes`). Seeds that break the distance limits are dropped. CaYH12 (Pm-3m) appears as the ordered
conventional CaH6 cell.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from .. import prototypes
from ..elements import HYDROGEN
from .distances import DistanceLimits, satisfies_limits
from .generator import formula_unit
from .volumes import estimate_volume

__all__ = ('TEMPLATES', 'prototype_seeds')

#: name -> builder of the template cell (heavy sites hold a placeholder element): the ``search_template`` entries of
#: :data:`aiida_hydrides.core.prototypes.PROTOTYPES`, in its order.
TEMPLATES: dict[str, Callable] = prototypes.search_templates()

_REPEATS = [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2), (2, 2, 1), (3, 1, 1), (4, 1, 1)]


def prototype_seeds(
    composition,
    pressure_gpa: float = 200.0,
    max_atoms: int = 40,
    limits: DistanceLimits | None = None,
    rng: np.random.Generator | None = None,
    orderings: int = 2,
) -> list:
    """Prototype structures with the composition's stoichiometry (``info``: ``origin='prototype'``,
    ``prototype``, ``formula_units``), scaled to the model volume at ``pressure_gpa``."""
    unit = formula_unit(composition)
    limits = limits or DistanceLimits()
    rng = rng if rng is not None else np.random.default_rng(0)
    heavy = {symbol: count for symbol, count in unit.items() if symbol != HYDROGEN}
    hydrogen = unit.get(HYDROGEN, 0)
    heavy_total = sum(heavy.values())
    if not heavy or not hydrogen:
        return []
    seeds = []
    for name, build in TEMPLATES.items():
        template = build()
        is_h = template.numbers == 1
        if Fraction(int(is_h.sum()), int((~is_h).sum())) != Fraction(hydrogen, heavy_total):
            continue
        seen_sizes = set()
        for repeat in _REPEATS:
            cell = template.repeat(repeat)
            sites = np.flatnonzero(cell.numbers != 1)
            size = int(np.prod(repeat))
            if size in seen_sizes or len(sites) % heavy_total or len(cell) > max_atoms:
                continue
            seen_sizes.add(size)
            units = len(sites) // heavy_total
            pool = list(itertools.chain.from_iterable([symbol] * (count * units) for symbol, count in heavy.items()))
            for k in range(orderings if len(heavy) > 1 else 1):
                order = pool if k == 0 else list(rng.permutation(pool))
                seed = cell.copy()
                symbols = np.array(seed.get_chemical_symbols(), dtype=object)
                symbols[sites] = order
                seed.set_chemical_symbols(list(symbols))
                counts = {symbol: units * count for symbol, count in unit.items()}
                scale = (estimate_volume(counts, pressure_gpa) / seed.get_volume()) ** (1 / 3)
                seed.set_cell(seed.cell.array * scale, scale_atoms=True)
                seed = seed[np.argsort(seed.numbers == 1, kind='stable')]
                if not satisfies_limits(seed, limits):
                    continue
                seed.info.update(origin='prototype', prototype=name, formula_units=units)
                seeds.append(seed)
    return seeds
