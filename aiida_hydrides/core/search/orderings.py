"""Ordered derivatives of a prototype: every symmetrically distinct way to put several elements on its heavy sites.

A ternary superhydride is often an ordering of two metals on the metal sublattice of a known binary prototype (CaYH12,
Pm-3m, is Ca and Y in the CsCl pattern on the bcc metal lattice of sodalite CaH6). :func:`enumerate_orderings` lists
all such orderings of a prototype for a composition with derivative-structure enumeration (Hart & Forcade, PRB 77,
224115 (2008) and PRB 80, 014120 (2009)) as implemented by icet's ``enumerate_structures``: for every supercell
size ``n`` (number of primitive cells) whose heavy-site count is a multiple of the composition's and whose full
cell fits ``max_atoms``, the heavy sites may take any of the composition's heavy elements, at exactly the
composition's proportions, and the hydrogen sites stay hydrogen. The enumeration runs on the whole primitive
template, H sites included, so two orderings count as the same exactly when a symmetry operation of the prototype
(not merely of its bare metal lattice) maps one onto the other. Orderings that repeat in a smaller cell are listed at
that smaller size only, so the list holds no structure twice.

Each ordering is rebuilt from the template as ``ase.build.make_supercell(template, matrix)`` (the Niggli-reduced
supercell icet chose) with the heavy sites, in that supercell's order, given the elements of :attr:`Ordering.heavy`
(:func:`build_ordering`); :attr:`Ordering.label` writes the three down. The template's geometry is kept: scaling to
a volume and checking distances is the caller's business (:mod:`.seeding`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction

import numpy as np
from ase import Atoms

from ..elements import HYDROGEN
from ..errors import HydridesInputError

__all__ = ('Ordering', 'ordering_sizes', 'build_ordering', 'enumerate_orderings')

#: Largest distance (Å) between an enumerated site and its site in the rebuilt supercell.
_MATCH_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class Ordering:
    """One ordering of heavy elements on a template's heavy sites."""

    #: the template with the ordering, in the cell ``matrix @ template.cell`` (template geometry, not scaled)
    atoms: Atoms = dataclasses.field(repr=False)
    #: number of primitive template cells in the cell
    size: int
    #: integer supercell matrix (rows: the new cell vectors in units of the template's)
    matrix: tuple[tuple[int, int, int], ...]
    #: element on each heavy site of ``make_supercell(template, matrix)``, in order
    heavy: tuple[str, ...]

    @property
    def label(self) -> str:
        """``'n=2 P=[[a,b,c],[d,e,f],[g,h,i]] heavy=Ca,Y'``: enough to rebuild it with :func:`build_ordering`."""
        matrix = ','.join('[' + ','.join(str(int(v)) for v in row) + ']' for row in self.matrix)
        return f'n={self.size} P=[{matrix}] heavy={",".join(self.heavy)}'


def _heavy_mask(atoms: Atoms) -> np.ndarray:
    return atoms.numbers != 1


def ordering_sizes(template: Atoms, heavy_per_unit: int, max_atoms: int) -> list[int]:
    """Supercell sizes ``n`` (in primitive template cells) whose heavy-site count ``n * k`` is a multiple of
    ``heavy_per_unit`` (heavy atoms per formula unit) and whose ``n * len(template)`` atoms fit ``max_atoms``."""
    per_cell = int(_heavy_mask(template).sum())
    if per_cell == 0 or heavy_per_unit <= 0:
        return []
    return [n for n in range(1, max_atoms // len(template) + 1) if (n * per_cell) % heavy_per_unit == 0]


def build_ordering(template: Atoms, matrix, heavy: Sequence[str]) -> Atoms:
    """The supercell ``matrix`` of ``template`` (``ase.build.make_supercell``) with its heavy sites, in order, given
    the elements ``heavy``: the inverse of :attr:`Ordering.label`."""
    from ase.build import make_supercell

    atoms = make_supercell(template, np.asarray(matrix, dtype=int))
    sites = np.flatnonzero(_heavy_mask(atoms))
    if len(sites) != len(heavy):
        raise HydridesInputError(f'the supercell has {len(sites)} heavy sites, {len(heavy)} elements were given')
    symbols = np.array(atoms.get_chemical_symbols(), dtype=object)
    symbols[sites] = list(heavy)
    atoms.set_chemical_symbols(list(symbols))
    return atoms


def _check_primitive(template: Atoms, symprec: float) -> None:
    """icet needs the primitive cell: a larger one would list translated copies of one ordering as distinct."""
    import spglib

    cell = (template.cell.array, template.get_scaled_positions(), template.numbers)
    primitive = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=symprec)
    if primitive is not None and len(primitive[2]) != len(template):
        raise HydridesInputError(
            f'ordered derivatives are enumerated from a primitive cell; this template has {len(template)} atoms, its '
            f'primitive cell {len(primitive[2])}'
        )


def _heavy_order(enumerated: Atoms, rebuilt: Atoms) -> tuple[str, ...]:
    """The element of ``enumerated`` (icet's structure) on each heavy site of ``rebuilt`` (same lattice, other atom
    order), matched by position."""
    sites = np.flatnonzero(_heavy_mask(rebuilt))
    others = np.flatnonzero(_heavy_mask(enumerated))
    frac_a = rebuilt.get_scaled_positions()[sites]
    frac_b = rebuilt.cell.scaled_positions(enumerated.positions[others])
    delta = frac_a[:, None, :] - frac_b[None, :, :]
    delta -= np.round(delta)
    distances = np.linalg.norm(delta @ rebuilt.cell.array, axis=-1)
    nearest = np.argmin(distances, axis=1)
    if np.any(distances[np.arange(len(sites)), nearest] > _MATCH_TOLERANCE) or len(set(nearest)) != len(sites):
        raise RuntimeError('an enumerated ordering does not map onto the supercell of its template')
    symbols = enumerated.get_chemical_symbols()
    return tuple(symbols[others[i]] for i in nearest)


def enumerate_orderings(
    template: Atoms, heavy: Mapping[str, int], max_atoms: int, symprec: float = 1e-5
) -> Iterator[Ordering]:
    """Every symmetrically distinct ordering of the elements ``heavy`` (element -> atoms per formula unit, at least
    two elements) on the heavy (non-H) sites of the primitive ``template``, in cells of at most ``max_atoms`` atoms
    with exactly the proportions of ``heavy``; smallest cells first, in icet's order within a size (deterministic).
    """
    heavy = {symbol: int(count) for symbol, count in heavy.items() if symbol != HYDROGEN and count}
    if len(heavy) < 2:
        raise HydridesInputError(f'orderings need at least two heavy elements, got {sorted(heavy)}')
    _check_primitive(template, symprec)
    return _enumerate(template, heavy, ordering_sizes(template, sum(heavy.values()), max_atoms), symprec)


def _enumerate(template: Atoms, heavy: dict, sizes: list[int], symprec: float) -> Iterator[Ordering]:
    """The generator behind :func:`enumerate_orderings` (its arguments checked)."""
    if not sizes:
        return
    from icet.tools import enumerate_structures

    total = sum(heavy.values())
    mask = _heavy_mask(template)
    elements = list(heavy)
    allowed = [elements if is_heavy else [symbol] for is_heavy, symbol in zip(mask, template.get_chemical_symbols())]
    # icet's concentrations are fractions of all atoms of the cell, hydrogen included; they do not depend on n
    per_cell = Fraction(int(mask.sum()), len(template))
    restrictions = {}
    for symbol, count in heavy.items():
        fraction = float(Fraction(count, total) * per_cell)
        restrictions[symbol] = (fraction, fraction)
    inverse = np.linalg.inv(template.cell.array)
    for structure in enumerate_structures(template, sizes, allowed, restrictions, symprec=symprec):
        matrix = np.rint(structure.cell.array @ inverse).astype(int)
        if np.linalg.det(matrix) < 0:  # keep the cell right-handed
            matrix = -matrix
        yield _ordering(template, structure, matrix)


def _ordering(template: Atoms, structure: Atoms, matrix: np.ndarray) -> Ordering:
    """The :class:`Ordering` of icet's ``structure``, rebuilt from ``template`` and ``matrix``."""
    from ase.build import make_supercell

    heavy = _heavy_order(structure, make_supercell(template, matrix))
    size = int(round(abs(np.linalg.det(matrix))))
    return Ordering(
        atoms=build_ordering(template, matrix, heavy),
        size=size,
        matrix=tuple(tuple(int(v) for v in row) for row in matrix),
        heavy=heavy,
    )
