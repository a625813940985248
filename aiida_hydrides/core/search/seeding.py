"""Seeds from known hydride prototypes by element substitution.

The templates are the prototypes of :mod:`aiida_hydrides.core.prototypes` marked ``search_template``, whose
heavy-atom sites can take any element: the CaH6-type sodalite MH6 (primitive and conventional cells), the H3S-type
XH3 (primitive and conventional) and the LaH10-type MH10 clathrate. A template fits a composition when its
H : heavy-atom ratio equals the composition's.

* One heavy element (``origin='prototype'``): the template cell, or a small supercell up to four times larger
  within ``max_atoms``, filled with that element.
* Several heavy elements (``origin='ordering'``): every symmetrically distinct ordering of them on the heavy sites of
  the prototype at the composition's proportions, in all cells within ``max_atoms`` (derivative-structure
  enumeration with icet, :mod:`.orderings`). Each prototype is enumerated once, from its smallest (primitive)
  template, so its primitive and conventional cells do not give the same ordering twice. CaYH12 (Pm-3m) is the
  CsCl-type ordering of the sodalite metal lattice. ``info['ordering']`` is the :attr:`.Ordering.label`.

Seeds are scaled to the volume of the additive model (:mod:`.volumes`) at the pressure; seeds that break the
distance limits are dropped. Heavy atoms come first in every seed.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np

from .. import prototypes
from ..elements import HYDROGEN
from ..errors import HydridesInputError
from .distances import DistanceLimits, satisfies_limits
from .generator import formula_unit
from .orderings import enumerate_orderings
from .volumes import estimate_volume

__all__ = ('TEMPLATES', 'ordering_templates', 'prototype_seeds', 'scale_to_model_volume')

#: name -> builder of the template cell (heavy sites hold a placeholder element): the ``search_template`` entries of
#: :data:`aiida_hydrides.core.prototypes.PROTOTYPES`, in its order.
TEMPLATES: dict[str, Callable] = prototypes.search_templates()

_REPEATS = [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2), (2, 2, 1), (3, 1, 1), (4, 1, 1)]


def ordering_templates() -> dict:
    """name -> template (``Atoms``) the orderings are enumerated from: of the templates of one prototype (one
    ``label`` of :data:`~aiida_hydrides.core.prototypes.PROTOTYPES`) the one with the fewest atoms, in table order."""
    chosen: dict = {}
    for name, build in TEMPLATES.items():
        template = build()
        key = prototypes.PROTOTYPES[name].label or name
        if key not in chosen or len(template) < len(chosen[key][1]):
            chosen[key] = (name, template)
    return dict(chosen.values())


def _fits(template, hydrogen: int, heavy_total: int) -> bool:
    is_h = template.numbers == 1
    return Fraction(int(is_h.sum()), int((~is_h).sum())) == Fraction(hydrogen, heavy_total)


def scale_to_model_volume(seed, unit: dict, units: int, pressure_gpa: float, limits: DistanceLimits):
    """``seed`` scaled to the model volume of ``units`` formula units, heavy atoms first; None if it breaks the
    distance limits."""
    counts = {symbol: units * count for symbol, count in unit.items()}
    scale = (estimate_volume(counts, pressure_gpa) / seed.get_volume()) ** (1 / 3)
    seed.set_cell(seed.cell.array * scale, scale_atoms=True)
    seed = seed[np.argsort(seed.numbers == 1, kind='stable')]
    return seed if satisfies_limits(seed, limits) else None


def prototype_seeds(
    composition,
    pressure_gpa: float = 200.0,
    max_atoms: int = 40,
    limits: DistanceLimits | None = None,
    rng: np.random.Generator | None = None,
    orderings: int | None = None,
    known: bool = False,
) -> list:
    """Prototype structures with the composition's stoichiometry, scaled to the model volume at ``pressure_gpa``.

    ``info``: ``origin`` (``'prototype'`` with one heavy element, ``'ordering'`` with several), ``prototype`` (the
    template name), ``formula_units`` and, for orderings, ``ordering`` (:attr:`.Ordering.label`). ``orderings`` caps
    the ordered seeds per prototype (the first ones: smallest cells first); ``None`` keeps all. With ``known``, a
    composition of one heavy element also gets, after the templates, the other known prototypes of the table with
    one heavy element whose ratio fits (e.g. the rocksalt MH, the BiF3-type MH3, the ThCr2Si2-type MH4, the MH9
    clathrate). The seeds are deterministic: ``rng`` is accepted for compatibility and not used.
    """
    unit = formula_unit(composition)
    limits = limits or DistanceLimits()
    if orderings is not None and (isinstance(orderings, bool) or not isinstance(orderings, int) or orderings < 0):
        raise HydridesInputError(f'orderings must be None or a non-negative integer, got {orderings!r}')
    heavy = {symbol: count for symbol, count in unit.items() if symbol != HYDROGEN}
    hydrogen = unit.get(HYDROGEN, 0)
    heavy_total = sum(heavy.values())
    if not heavy or not hydrogen:
        return []
    if len(heavy) > 1:
        return _ordered_seeds(unit, heavy, hydrogen, pressure_gpa, max_atoms, limits, orderings)
    (symbol,) = heavy
    seeds = []
    for name, build in TEMPLATES.items():
        template = build()
        if not _fits(template, hydrogen, heavy_total):
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
            symbols = np.array(cell.get_chemical_symbols(), dtype=object)
            symbols[sites] = symbol
            cell.set_chemical_symbols(list(symbols))
            seed = scale_to_model_volume(cell, unit, units, pressure_gpa, limits)
            if seed is not None:
                seed.info.update(origin='prototype', prototype=name, formula_units=units)
                seeds.append(seed)
    if known:
        seeds.extend(_known_seeds(symbol, unit, hydrogen, pressure_gpa, max_atoms, limits))
    return seeds


def _known_seeds(symbol, unit, hydrogen, pressure_gpa, max_atoms, limits) -> list:
    """The known prototypes of the table with one heavy element that are not search templates, the heavy sites filled
    with ``symbol``, when their ratio fits (one cell each, as built)."""
    seeds = []
    for name, entry in prototypes.PROTOTYPES.items():
        if entry.search_template or not entry.known:
            continue
        cell = entry.builder()
        heavy = cell.numbers != 1
        if len(set(cell.numbers[heavy].tolist())) != 1 or heavy.all() or len(cell) > max_atoms:
            continue
        if not _fits(cell, hydrogen, 1):
            continue
        sites = np.flatnonzero(heavy)
        symbols = np.array(cell.get_chemical_symbols(), dtype=object)
        symbols[sites] = symbol
        cell.set_chemical_symbols(list(symbols))
        seed = scale_to_model_volume(cell, unit, len(sites), pressure_gpa, limits)
        if seed is not None:
            seed.info.update(origin='prototype', prototype=name, formula_units=len(sites))
            seeds.append(seed)
    return seeds


def _ordered_seeds(unit, heavy, hydrogen, pressure_gpa, max_atoms, limits, cap) -> list:
    """The ordered-derivative seeds of a composition with several heavy elements (see the module docstring)."""
    heavy_total = sum(heavy.values())
    seeds = []
    for name, template in ordering_templates().items():
        if not _fits(template, hydrogen, heavy_total):
            continue
        kept = 0
        for ordering in enumerate_orderings(template, heavy, max_atoms):
            if cap is not None and kept >= cap:
                break
            units = len(ordering.heavy) // heavy_total
            seed = scale_to_model_volume(ordering.atoms.copy(), unit, units, pressure_gpa, limits)
            if seed is None:
                continue
            seed.info.update(origin='ordering', prototype=name, ordering=ordering.label, formula_units=units)
            seeds.append(seed)
            kept += 1
    return seeds
