"""Convex hull of formation enthalpy at a fixed pressure, built with pymatgen's :class:`PhaseDiagram`.

Entries are compositions with an enthalpy per atom (eV/atom, H = E + PV at the pressure of the hull). The hull gives,
for every entry, its distance above the hull E_hull (0 for stable phases), the phases it decomposes into and its
formation enthalpy per atom relative to the lowest elemental entries. Any number of elements works (1, 2, 3, ...);
every element needs at least one elemental entry.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence

from .compositions import Composition, parse_formula
from .elements import validate_symbol
from .errors import HydridesInputError, MissingReferenceError

__all__ = ('HullEntry', 'DecompositionPart', 'HullPoint', 'ConvexHull', 'build_hull', 'HullBound', 'e_hull_bounds')

#: Values of E_hull closer to zero than this (eV/atom) are reported as exactly zero.
_ZERO = 1e-9


@dataclasses.dataclass(frozen=True)
class HullEntry:
    """A phase for the hull: its composition, enthalpy per atom in eV/atom and an optional identifier."""

    composition: Composition
    enthalpy_per_atom: float
    entry_id: str | None = None

    def __post_init__(self):
        object.__setattr__(self, 'composition', parse_formula(self.composition))
        try:
            value = float(self.enthalpy_per_atom)
        except (TypeError, ValueError):
            raise HydridesInputError(
                f'the enthalpy of {self.composition.formula} must be a number, got {self.enthalpy_per_atom!r}'
            ) from None
        if not math.isfinite(value):
            raise HydridesInputError(f'the enthalpy of {self.composition.formula} is not finite ({value})')
        object.__setattr__(self, 'enthalpy_per_atom', value)
        if self.entry_id is not None:
            object.__setattr__(self, 'entry_id', str(self.entry_id))

    @classmethod
    def coerce(cls, value) -> HullEntry:
        """Accept a :class:`HullEntry`, a ``(formula, enthalpy_per_atom[, entry_id])`` tuple, or a mapping with keys
        ``formula``/``composition``, ``enthalpy_per_atom`` and optionally ``entry_id``/``id``.
        """
        if isinstance(value, HullEntry):
            return value
        if isinstance(value, Mapping):
            formula = value.get('formula', value.get('composition'))
            if formula is None or 'enthalpy_per_atom' not in value:
                raise HydridesInputError(f"a hull entry needs 'formula' and 'enthalpy_per_atom', got {dict(value)}")
            return cls(formula, value['enthalpy_per_atom'], value.get('entry_id', value.get('id')))
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) in (2, 3):
            return cls(*value)
        raise HydridesInputError(f'cannot make a hull entry from {value!r}')

    @property
    def formula(self) -> str:
        """Formula as given, e.g. ``'Ca2H12'``."""
        return self.composition.formula

    @property
    def enthalpy(self) -> float:
        """Total enthalpy of the formula as written, in eV."""
        return self.enthalpy_per_atom * self.composition.num_atoms


@dataclasses.dataclass(frozen=True)
class DecompositionPart:
    """One product of a decomposition: its entry and its share of the atoms (fractions sum to 1)."""

    formula: str
    entry_id: str | None
    index: int
    fraction: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class HullPoint:
    """The verdict of the hull on one composition and enthalpy.

    ``e_hull`` is the enthalpy above the hull in eV/atom: 0 on the hull, positive above it and, for a candidate that
    is not part of the hull, negative when it lies below. ``index`` is the position of the entry in the hull's input
    (``None`` for a candidate checked against the hull).
    """

    formula: str
    reduced_formula: str
    entry_id: str | None
    index: int | None
    enthalpy_per_atom: float
    formation_enthalpy_per_atom: float
    e_hull: float
    stable: bool
    decomposition: tuple[DecompositionPart, ...]

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data['decomposition'] = [part.as_dict() for part in self.decomposition]
        return data


class ConvexHull:
    """Convex hull of ``entries`` (see :meth:`HullEntry.coerce` for the accepted forms).

    ``elements`` fixes the chemical system (default: the elements of the entries); ``pressure`` (GPa) is recorded
    only. Raises :class:`MissingReferenceError` when an element has no elemental entry.

    >>> hull = ConvexHull([('Ca', 0.0), ('H', 0.0), ('CaH2', -0.5), ('CaH6', -0.2)])
    >>> [round(point.e_hull, 6) for point in hull.points]
    [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, entries: Iterable, elements: Iterable[str] | None = None, pressure: float | None = None):
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition as PmgComposition

        self.entries: tuple[HullEntry, ...] = tuple(HullEntry.coerce(entry) for entry in entries)
        if not self.entries:
            raise HydridesInputError('a convex hull needs at least one entry')
        present = list(dict.fromkeys(symbol for entry in self.entries for symbol in entry.composition.elements))
        if elements is None:
            self.elements = tuple(present)
        else:
            self.elements = tuple(dict.fromkeys(validate_symbol(symbol) for symbol in elements))
            outside = [symbol for symbol in present if symbol not in self.elements]
            if outside:
                raise HydridesInputError(
                    f"entries contain {', '.join(outside)}, outside the hull's elements {'-'.join(self.elements)}"
                )
        references = {entry.composition.elements[0] for entry in self.entries if len(entry.composition.elements) == 1}
        missing = [symbol for symbol in self.elements if symbol not in references]
        if missing:
            raise MissingReferenceError(
                f'the hull of {"-".join(self.elements)} has no elemental reference for {", ".join(missing)}: '
                f'add an entry of the pure element ({", ".join(repr(symbol) for symbol in missing)}) with its '
                'enthalpy per atom at the same pressure'
            )
        self.pressure = pressure
        self._pmg_composition = PmgComposition
        self._pd_entries = [
            PDEntry(PmgComposition(entry.composition.counts), entry.enthalpy, name=entry.formula, attribute=index)
            for index, entry in enumerate(self.entries)
        ]
        self._diagram = PhaseDiagram(self._pd_entries, elements=None)
        self.points: tuple[HullPoint, ...] = tuple(
            self._evaluate(pd_entry, entry, index)
            for index, (pd_entry, entry) in enumerate(zip(self._pd_entries, self.entries, strict=True))
        )

    @property
    def phase_diagram(self):
        """The underlying :class:`pymatgen.analysis.phase_diagram.PhaseDiagram`."""
        return self._diagram

    @property
    def stable(self) -> list[HullPoint]:
        """The points on the hull, one per entry with E_hull = 0."""
        return [point for point in self.points if point.stable]

    def _part(self, pd_entry, fraction: float) -> DecompositionPart:
        index = pd_entry.attribute
        entry_id = self.entries[index].entry_id if isinstance(index, int) else None
        return DecompositionPart(pd_entry.name, entry_id, index, float(fraction))

    def _evaluate(self, pd_entry, entry: HullEntry, index: int | None) -> HullPoint:
        decomposition, e_hull = self._diagram.get_decomp_and_e_above_hull(
            pd_entry, allow_negative=True, check_stable=index is not None
        )
        e_hull = float(e_hull)
        if abs(e_hull) < _ZERO:
            e_hull = 0.0
        parts = sorted(
            (self._part(product, amount) for product, amount in decomposition.items() if amount > _ZERO),
            key=lambda part: -part.fraction,
        )
        return HullPoint(
            formula=entry.formula,
            reduced_formula=entry.composition.reduced_formula,
            entry_id=entry.entry_id,
            index=index,
            enthalpy_per_atom=entry.enthalpy_per_atom,
            formation_enthalpy_per_atom=float(self._diagram.get_form_energy_per_atom(pd_entry)),
            e_hull=e_hull,
            stable=index is not None and e_hull == 0.0,
            decomposition=tuple(parts),
        )

    def check(self, composition, enthalpy_per_atom: float, entry_id: str | None = None) -> HullPoint:
        """Place a candidate that is not part of the hull: E_hull is negative when it lies below the hull."""
        from pymatgen.analysis.phase_diagram import PDEntry

        entry = HullEntry(composition, enthalpy_per_atom, entry_id)
        outside = [symbol for symbol in entry.composition.elements if symbol not in self.elements]
        if outside:
            raise HydridesInputError(
                f"{entry.formula} contains {', '.join(outside)}, outside the hull's elements {'-'.join(self.elements)}"
            )
        pd_entry = PDEntry(self._pmg_composition(entry.composition.counts), entry.enthalpy, name=entry.formula)
        return self._evaluate(pd_entry, entry, None)

    def hull_enthalpy(self, composition) -> float:
        """Enthalpy per atom of the hull at ``composition`` (eV/atom)."""
        counts = parse_formula(composition).counts
        outside = [symbol for symbol in counts if symbol not in self.elements]
        if outside:
            raise HydridesInputError(f"{', '.join(outside)} outside the hull's elements {'-'.join(self.elements)}")
        return float(self._diagram.get_hull_energy_per_atom(self._pmg_composition(counts)))

    def as_dict(self) -> dict:
        """JSON-serialisable summary: elements, pressure and one record per entry."""
        return {
            'elements': list(self.elements),
            'pressure': self.pressure,
            'points': [point.as_dict() for point in self.points],
        }


def build_hull(entries: Iterable, elements: Iterable[str] | None = None, pressure: float | None = None) -> ConvexHull:
    """Build the :class:`ConvexHull` of ``entries``; see :class:`ConvexHull`."""
    return ConvexHull(entries, elements=elements, pressure=pressure)


@dataclasses.dataclass(frozen=True)
class HullBound:
    """E_hull of an entry among a set of entries, or a lower bound of it: ``e_hull`` in eV/atom, ``exact`` False when
    an element of the entry has no elemental entry (then ``e_hull`` is its enthalpy above the lowest entry of the same
    reduced composition, which the hull can only exceed)."""

    e_hull: float
    exact: bool


def e_hull_bounds(entries: Iterable) -> list[HullBound]:
    """E_hull of every entry against all of them where the hull can place it, a lower bound where it cannot.

    An entry whose elements all have an elemental entry gets its exact E_hull: the hull at a composition involves only
    the phases made of its own elements, so the hull over the entries of the referenced elements gives the same value
    as the hull of a complete set. An entry with an element lacking a reference gets its enthalpy above the lowest
    entry of its reduced composition, which is the E_hull it would have if that lowest entry were on the hull.

    Either value can only grow when entries are added (the hull only goes down), so an entry whose bound exceeds a
    threshold never comes within it, however many compositions are added later: the promotion of search minima
    (:mod:`aiida_hydrides.workflows.search.minima`) relies on that. ``entries`` as for :class:`ConvexHull`; the
    result follows their order.
    """
    entries = [HullEntry.coerce(entry) for entry in entries]
    if not entries:
        return []
    references = {entry.composition.elements[0] for entry in entries if len(entry.composition.elements) == 1}
    lowest: dict[str, float] = {}
    for entry in entries:
        key = entry.composition.reduced_formula
        lowest[key] = min(lowest.get(key, math.inf), entry.enthalpy_per_atom)
    placed = [entry for entry in entries if set(entry.composition.elements) <= references]
    hull_enthalpy: dict[str, float] = {}
    if placed:
        # the lowest entry of each composition makes the same hull as all of them, with far fewer points
        best = {}
        for entry in placed:
            key = entry.composition.reduced_formula
            if key not in best or entry.enthalpy_per_atom < best[key].enthalpy_per_atom:
                best[key] = entry
        hull = ConvexHull(best.values())
        hull_enthalpy = {key: hull.hull_enthalpy(entry.composition) for key, entry in best.items()}
    bounds = []
    for entry in entries:
        key = entry.composition.reduced_formula
        if key in hull_enthalpy:
            value = entry.enthalpy_per_atom - hull_enthalpy[key]
            bounds.append(HullBound(0.0 if abs(value) < _ZERO else max(value, 0.0), True))
        else:
            bounds.append(HullBound(max(entry.enthalpy_per_atom - lowest[key], 0.0), False))
    return bounds
