"""Element-agnostic prototypes: anonymous formulas, prototype labels, grouping of structures by prototype and the
comparison with the known hydride prototypes of :data:`aiida_hydrides.core.prototypes.PROTOTYPES`.

Two structures share a prototype when they have the same anonymous formula (:func:`anonymous_formula`) and
pymatgen's ``StructureMatcher`` (volumes scaled, primitive cells, supercells attempted; tolerances
:data:`LENGTH_TOLERANCE`, :data:`SITE_TOLERANCE` and :data:`ANGLE_TOLERANCE`) fits them under a mapping of the
species that keeps hydrogen on hydrogen: only non-hydrogen elements with the same count in the reduced formula are
swapped, so an H site never maps onto a metal site. Each structure is converted and reduced (Niggli, then primitive
cell) once; the known prototypes are built with their builders' defaults and reduced once per process.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import Counter
from collections.abc import Sequence

from .descriptors import DEFAULT_SYMPREC, space_group
from .errors import HydridesInputError

__all__ = (
    'LENGTH_TOLERANCE',
    'SITE_TOLERANCE',
    'ANGLE_TOLERANCE',
    'anonymous_formula',
    'prototype_label',
    'to_pymatgen',
    'same_prototype',
    'match_known_prototype',
    'PrototypeGroup',
    'group_prototypes',
)

#: ``StructureMatcher`` ``ltol``: fractional tolerance on the lattice lengths (pymatgen's default)
LENGTH_TOLERANCE = 0.2
#: ``StructureMatcher`` ``stol``: site tolerance, a fraction of the average free length per atom (V/N)^(1/3)
#: (pymatgen's default)
SITE_TOLERANCE = 0.3
#: ``StructureMatcher`` ``angle_tol``: tolerance on the lattice angles in degrees (pymatgen's default)
ANGLE_TOLERANCE = 5.0

_HYDROGEN = 'H'
# letters of the non-hydrogen elements, without 'H' (hydrogen keeps its symbol) and 'M' (the single-element letter)
_LETTERS = list('ABCDEFGIJKLNOPQRSTUVWXYZ')


def _reduced_counts(symbols: Sequence[str]) -> dict[str, int]:
    if not len(symbols):
        raise HydridesInputError('the structure has no atoms')
    counts = Counter(str(symbol) for symbol in symbols)
    divisor = math.gcd(*counts.values())
    return {symbol: count // divisor for symbol, count in counts.items()}


def _heavy_order(reduced: dict[str, int]) -> list[str]:
    """The non-hydrogen elements in order of increasing reduced count, ties by atomic number."""
    from ase.data import atomic_numbers

    heavy = [symbol for symbol in reduced if symbol != _HYDROGEN]
    return sorted(heavy, key=lambda symbol: (reduced[symbol], atomic_numbers.get(symbol, 0), symbol))


def _anonymous_formula(symbols: Sequence[str]) -> str:
    reduced = _reduced_counts(symbols)
    heavy = _heavy_order(reduced)
    if len(heavy) > len(_LETTERS):
        raise HydridesInputError(f'too many elements for an anonymous formula: {len(heavy)}')
    letters = ['M'] if len(heavy) == 1 else _LETTERS[: len(heavy)]
    parts = [letter + (str(reduced[symbol]) if reduced[symbol] > 1 else '') for letter, symbol in zip(letters, heavy)]
    hydrogen = reduced.get(_HYDROGEN, 0)
    if hydrogen:
        parts.append(_HYDROGEN + (str(hydrogen) if hydrogen > 1 else ''))
    return ''.join(parts)


def anonymous_formula(atoms) -> str:
    """Reduced formula with hydrogen kept as ``H`` and the other elements anonymised.

    One non-hydrogen element becomes ``M`` (``CaH6`` -> ``'MH6'``); several become ``A``, ``B``, ``C`` ... in order
    of increasing count in the reduced formula, ties broken by atomic number (``CaYH12`` -> ``'ABH12'``,
    ``Li2MgH16`` -> ``'AB2H16'``, ``LaBH8`` -> ``'ABH8'``). Counts of 1 are omitted. Without hydrogen: ``'M'``,
    ``'AB'``, ``'AB2'`` ...
    """
    return _anonymous_formula(atoms.get_chemical_symbols())


def prototype_label(atoms, symprec: float = DEFAULT_SYMPREC) -> str:
    """``'<anonymous formula>-<space group>'``, the international symbol as spglib gives it at ``symprec`` (Å),
    e.g. ``'MH6-Im-3m'``, ``'MH9-P6_3/mmc'``."""
    return f'{anonymous_formula(atoms)}-{space_group(atoms, symprec)[1]}'


def _check_periodic(atoms) -> None:
    if len(atoms) == 0:
        raise HydridesInputError('the structure has no atoms')
    if not (all(atoms.pbc) and abs(atoms.cell.volume) > 1e-8):
        raise HydridesInputError('prototype matching needs a periodic structure with a 3-D cell')


def to_pymatgen(atoms):
    """The :class:`pymatgen.core.Structure` of a periodic :class:`ase.Atoms` (species, cell and positions only)."""
    import numpy as np
    from ase import Atoms
    from pymatgen.io.ase import AseAtomsAdaptor

    _check_periodic(atoms)
    clean = Atoms(numbers=np.asarray(atoms.numbers), positions=atoms.positions, cell=atoms.cell.array, pbc=True)
    return AseAtomsAdaptor.get_structure(clean)


@functools.lru_cache(maxsize=1)
def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(
        ltol=LENGTH_TOLERANCE,
        stol=SITE_TOLERANCE,
        angle_tol=ANGLE_TOLERANCE,
        primitive_cell=True,
        scale=True,
        attempt_supercell=True,
    )


class _Entry:
    """One structure prepared for matching: its anonymous formula, the non-hydrogen elements by reduced count, and
    (on first use) its reduced pymatgen structure (Niggli cell, then primitive cell, as ``StructureMatcher`` does)."""

    def __init__(self, atoms):
        _check_periodic(atoms)
        self.atoms = atoms
        symbols = atoms.get_chemical_symbols()
        self.formula = _anonymous_formula(symbols)
        reduced = _reduced_counts(symbols)
        classes: dict[int, list[str]] = {}
        for symbol in _heavy_order(reduced):
            classes.setdefault(reduced[symbol], []).append(symbol)
        self.classes = classes
        self._structure = None

    @property
    def structure(self):
        if self._structure is None:
            structure = to_pymatgen(self.atoms)
            self._structure = structure.get_reduced_structure(reduction_algo='niggli').get_primitive_structure()
        return self._structure


def _species_mappings(reference: _Entry, candidate: _Entry):
    """Every mapping of the candidate's non-hydrogen elements onto the reference's that keeps the reduced counts;
    hydrogen maps onto itself."""
    counts = sorted(reference.classes)
    options = [itertools.permutations(candidate.classes[count]) for count in counts]
    for choice in itertools.product(*options):
        mapping = {}
        for count, permuted in zip(counts, choice):
            mapping.update(zip(permuted, reference.classes[count]))
        yield mapping


def _fits(reference: _Entry, candidate: _Entry) -> bool:
    """The two structures share a prototype under a species mapping that keeps H on H."""
    if reference.formula != candidate.formula:
        return False
    from pymatgen.core import Structure

    matcher = _matcher()
    target = reference.structure
    structure = candidate.structure
    symbols = [site.specie.symbol for site in structure]
    for mapping in _species_mappings(reference, candidate):
        relabelled = Structure(
            structure.lattice, [mapping.get(symbol, symbol) for symbol in symbols], structure.frac_coords
        )
        if matcher.fit(target, relabelled, skip_structure_reduction=True):
            return True
    return False


def same_prototype(atoms1, atoms2) -> bool:
    """Whether two structures share a prototype: the same anonymous formula and a structure fit under a species
    mapping that keeps hydrogen on hydrogen (see the module description)."""
    return _fits(_Entry(atoms1), _Entry(atoms2))


@functools.lru_cache(maxsize=1)
def _known_references() -> dict[str, tuple[tuple[str, _Entry], ...]]:
    """Anonymous formula -> ``(name, entry)`` of the known prototypes, in table order, built with their defaults."""
    from .prototypes import PROTOTYPES

    references: dict[str, list[tuple[str, _Entry]]] = {}
    for name, prototype in PROTOTYPES.items():
        if prototype.known:
            entry = _Entry(prototype.builder())
            references.setdefault(entry.formula, []).append((name, entry))
    return {formula: tuple(entries) for formula, entries in references.items()}


def _match_known(candidate: _Entry) -> str | None:
    for name, reference in _known_references().get(candidate.formula, ()):
        if _fits(reference, candidate):
            return name
    return None


def match_known_prototype(atoms) -> str | None:
    """Name of the first entry of :data:`~aiida_hydrides.core.prototypes.PROTOTYPES` marked ``known`` whose
    structure (built with its builder's defaults) matches ``atoms`` element-agnostically, or ``None``."""
    return _match_known(_Entry(atoms))


@dataclasses.dataclass
class PrototypeGroup:
    """Structures of one prototype, as found by :func:`group_prototypes`."""

    #: prototype label of the representative (:func:`prototype_label`)
    label: str
    #: indices of the members into the input, increasing
    members: list[int]
    #: index of the representative (the first member)
    representative: int
    #: name of the matching known entry of :data:`~aiida_hydrides.core.prototypes.PROTOTYPES`, or ``None``
    known: str | None
    #: source of that entry, or ``None``
    source: str | None
    #: no known prototype matches
    novel: bool

    def as_dict(self) -> dict:
        """JSON-serialisable dictionary of the fields."""
        return dataclasses.asdict(self)


def group_prototypes(structures: Sequence, symprec: float = DEFAULT_SYMPREC) -> list[PrototypeGroup]:
    """Group ``structures`` (:class:`ase.Atoms`) by prototype.

    Each structure joins the first group whose first member it matches, or starts a new group; every structure is in
    exactly one group and the groups come in the order of their first members. The most symmetric member (highest
    space group number at ``symprec`` Å, the first of equals) is the group's representative and names it; the group
    is compared once with the known prototypes.
    """
    from .prototypes import PROTOTYPES

    if not symprec > 0:
        raise HydridesInputError(f'symprec must be positive, got {symprec}')
    entries = [_Entry(atoms) for atoms in structures]
    representatives: dict[str, list[int]] = {}
    members: dict[int, list[int]] = {}
    for index, entry in enumerate(entries):
        same_formula = representatives.setdefault(entry.formula, [])
        for representative in same_formula:
            if _fits(entries[representative], entry):
                members[representative].append(index)
                break
        else:
            same_formula.append(index)
            members[index] = [index]

    groups = []
    for first in sorted(members):
        # the most symmetric member names the group (a strained copy listed first must not lower its label)
        labelled = [(_space_group_number(entries[index].atoms, symprec), index) for index in members[first]]
        representative = max(labelled, key=lambda item: (item[0], -item[1]))[1]
        entry = entries[representative]
        known = _match_known(entries[first])
        groups.append(
            PrototypeGroup(
                label=prototype_label(entry.atoms, symprec),
                members=members[first],
                representative=representative,
                known=known,
                source=PROTOTYPES[known].source if known else None,
                novel=known is None,
            )
        )
    return groups


def _space_group_number(atoms, symprec: float) -> int:
    """Space group number of ``atoms`` at ``symprec`` (1 where spglib finds none)."""
    try:
        return space_group(atoms, symprec)[0]
    except HydridesInputError:
        return 1
