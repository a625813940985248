"""Known hydride prototypes under pressure, built from their Wyckoff positions: the one prototype table.

:data:`PROTOTYPES` is used by the demo, as validation cases, and (the entries marked ``search_template``) to seed
structure searches by element substitution (:mod:`aiida_hydrides.core.search.seeding`). Lattice parameters default to
values near 200 GPa; pass ``a`` to rescale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from ase import Atoms

from aiida_hydrides.core.errors import HydridesInputError

# Im-3m 12d sites (1/4, 0, 1/2) and the other five of the orbit; the I-centring adds (1/2, 1/2, 1/2).
_SITES_12D = [(0.25, 0, 0.5), (0.75, 0, 0.5), (0.5, 0.25, 0), (0.5, 0.75, 0), (0, 0.5, 0.25), (0, 0.5, 0.75)]
_CENTRING = np.array([0.5, 0.5, 0.5])


def sodalite_mh6(metal: str = 'Ca', a: float = 3.5) -> Atoms:
    """MH6, Im-3m (CaH6 type): M at 2a, H at 12d forming H24 sodalite cages; conventional cell, 14 atoms."""
    metals = [(0, 0, 0), tuple(_CENTRING)]
    hydrogens = [tuple(np.mod(np.add(site, shift), 1.0)) for shift in ((0, 0, 0), _CENTRING) for site in _SITES_12D]
    return Atoms([metal] * 2 + ['H'] * 12, scaled_positions=metals + hydrogens, cell=[a, a, a], pbc=True)


def sodalite_mh6_primitive(metal: str = 'Ca', a: float = 3.5) -> Atoms:
    """MH6, Im-3m (CaH6 type) in its 7-atom bcc primitive cell: one metal and the six 12d hydrogens of its lattice
    point."""
    conventional = sodalite_mh6(metal, a)
    cell = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    keep = [0] + list(range(2, 8))
    atoms = Atoms(conventional.get_chemical_symbols(), positions=conventional.positions, cell=cell, pbc=True)[keep]
    atoms.wrap()
    return atoms


def ordered_sodalite_abh12(metal_a: str = 'Ca', metal_b: str = 'Y', a: float = 3.45) -> Atoms:
    """ABH12, Pm-3m: the CaH6-type cell with A at the corner and B at the body centre; 14 atoms."""
    atoms = sodalite_mh6(metal_a, a)
    symbols = atoms.get_chemical_symbols()
    symbols[1] = metal_b
    atoms.set_chemical_symbols(symbols)
    return atoms


def h3s_type(nonmetal: str = 'S', a: float = 2.99) -> Atoms:
    """XH3, Im-3m (H3S type): X at 2a, H at 6b; conventional cell, 8 atoms."""
    heavy = [(0, 0, 0), (0.5, 0.5, 0.5)]
    hydrogens = [(0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0), (0.5, 0, 0), (0, 0.5, 0), (0, 0, 0.5)]
    return Atoms([nonmetal] * 2 + ['H'] * 6, scaled_positions=heavy + hydrogens, cell=[a, a, a], pbc=True)


def h3s_primitive(nonmetal: str = 'S', a: float = 2.99) -> Atoms:
    """XH3, Im-3m, in the 4-atom bcc primitive cell (the cheapest cell for DFT)."""
    cell = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
    positions = [(0, 0, 0), (0.5 * a, 0, 0), (0, 0.5 * a, 0), (0, 0, 0.5 * a)]
    return Atoms([nonmetal] + ['H'] * 3, positions=positions, cell=cell, pbc=True)


def clathrate_mh10(metal: str = 'La', a: float = 5.1, x: float = 0.38) -> Atoms:
    """MH10, Fm-3m (LaH10 type): M at 4a, H at 8c and 32f (x, x, x), x = 0.38 (M-H 2.12 Å at a = 5.1 Å); the
    11-atom primitive fcc cell."""
    sites = [(metal, (0, 0, 0)), ('H', (0.25, 0.25, 0.25)), ('H', (0.75, 0.75, 0.75))]
    sites += [
        ('H', signs)
        for signs in [
            (x, x, x),
            (-x, -x, x),
            (-x, x, -x),
            (x, -x, -x),
            (x, x, -x),
            (-x, -x, -x),
            (x, -x, x),
            (-x, x, x),
        ]
    ]
    cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    atoms = Atoms([s for s, _ in sites], positions=[np.multiply(p, a) for _, p in sites], cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def fcc_element(symbol: str = 'Al', a: float = 4.04) -> Atoms:
    """An fcc element in its 1-atom primitive cell."""
    cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    return Atoms([symbol], positions=[(0, 0, 0)], cell=cell, pbc=True)


@dataclasses.dataclass(frozen=True)
class Prototype:
    """One entry of :data:`PROTOTYPES`."""

    #: builds the structure; positional arguments are the elements, ``a`` the lattice parameter (Å)
    builder: Callable[..., Atoms]
    #: one line for people
    description: str
    #: the structure search seeds from it by element substitution (built with the builder's default elements)
    search_template: bool = False


#: name -> :class:`Prototype`; the search templates are taken in this order
PROTOTYPES: dict[str, Prototype] = {
    'CaH6-primitive': Prototype(sodalite_mh6_primitive, 'MH6 Im-3m sodalite clathrate, 7-atom primitive cell', True),
    'CaH6': Prototype(sodalite_mh6, 'MH6 Im-3m sodalite clathrate (CaH6, YH6, MgH6)', True),
    'CaYH12': Prototype(ordered_sodalite_abh12, 'ABH12 Pm-3m ordered sodalite'),
    'H3S-primitive': Prototype(h3s_primitive, 'XH3 Im-3m, 4-atom primitive cell', True),
    'H3S': Prototype(h3s_type, 'XH3 Im-3m (H3S)', True),
    'LaH10': Prototype(clathrate_mh10, 'MH10 Fm-3m sodalite-like clathrate (LaH10, YH10)', True),
    'fcc': Prototype(fcc_element, 'fcc element, primitive cell'),
}


def search_templates() -> dict[str, Callable[[], Atoms]]:
    """name -> builder (no arguments) of the prototypes the structure search seeds from, in table order."""
    return {name: entry.builder for name, entry in PROTOTYPES.items() if entry.search_template}


def build_prototype(name: str, *args, **kwargs) -> Atoms:
    """Build the prototype ``name`` (a key of :data:`PROTOTYPES`) with the given elements and lattice parameter."""
    try:
        entry = PROTOTYPES[name]
    except KeyError as exc:
        raise HydridesInputError(f'unknown prototype {name!r}; known: {", ".join(PROTOTYPES)}') from exc
    return entry.builder(*args, **kwargs)
