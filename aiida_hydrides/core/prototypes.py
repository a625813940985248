"""Known hydride prototypes under pressure, built from their Wyckoff positions: the one prototype table.

:data:`PROTOTYPES` is used by the demo, as validation cases, and (the entries marked ``search_template``) to seed
structure searches by element substitution (:mod:`aiida_hydrides.core.search.seeding`). Lattice parameters default to
values near 200 GPa; pass ``a`` to rescale. The entries marked ``known`` are hydride prototypes reported before 2025,
each with its element-agnostic ``label`` (:func:`aiida_hydrides.core.prototype_match.prototype_label` of the built
structure), a ``source`` and example ``compounds``; :mod:`aiida_hydrides.core.prototype_match` compares candidates with
them.
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


def _from_wyckoff(symbols, basis, spacegroup: int, cellpar, primitive: bool, setting: int = 1) -> Atoms:
    """The structure of ``spacegroup`` with one site of each Wyckoff orbit in ``basis`` (fractional coordinates of
    the conventional cell), in the primitive cell when ``primitive``."""
    from ase.spacegroup import crystal

    atoms = crystal(
        symbols, basis, spacegroup=spacegroup, setting=setting, cellpar=cellpar, primitive_cell=primitive, pbc=True
    )
    atoms.wrap()
    return atoms


def hexagonal_mh9(metal: str = 'Y', a: float = 3.40, c: float = 5.08) -> Atoms:
    """MH9, P6_3/mmc (YH9, CeH9 type): M at 2d (1/3, 2/3, 3/4); H at 2b (0, 0, 1/4), 4f (1/3, 2/3, z) with
    z = 0.1499 and 12k (x, 2x, z) with x = 0.1565, z = 0.4404, an H29 cage around each M; hexagonal cell, 20 atoms.

    The free parameters are those of a relaxed CeH9 cell (a = 3.711 Å, c = 5.543 Å near 100 GPa); the default cell is
    that cell scaled to a = 3.40 Å (c/a kept, near 200 GPa for YH9): shortest H-H 1.02 Å, M-H 1.89 Å.
    """
    basis = [(1 / 3, 2 / 3, 0.75), (0, 0, 0.25), (1 / 3, 2 / 3, 0.1499), (0.1565, 0.3130, 0.4404)]
    return _from_wyckoff([metal, 'H', 'H', 'H'], basis, 194, [a, a, c, 90, 90, 120], primitive=False)


def tetragonal_mh4(metal: str = 'Ca', a: float = 2.65, c: float = 5.30, z: float = 0.38) -> Atoms:
    """MH4, I4/mmm (ThCr2Si2 type; CaH4, YH4, BaH4): M at 2a (0, 0, 0), H at 4d (0, 1/2, 1/4) and 4e (0, 0, z);
    the 5-atom body-centred primitive cell.

    z = 0.38 and the cell (near 200 GPa for CaH4) are chosen, not taken from a refinement: the 4e pair along c is
    1.27 Å apart, the shortest M-H distance 1.87 Å.
    """
    basis = [(0, 0, 0), (0, 0.5, 0.25), (0, 0, z)]
    return _from_wyckoff([metal, 'H', 'H'], basis, 139, [a, a, c, 90, 90, 90], primitive=True)


def labh8_type(metal: str = 'La', center: str = 'B', a: float = 5.30, x: float = 0.36) -> Atoms:
    """ABH8, Fm-3m (LaBH8, LaBeH8 type): the metal at 4a (0, 0, 0), ``center`` at 4b (1/2, 1/2, 1/2) inside a cube
    of H at 32f (x, x, x); the 10-atom primitive fcc cell.

    x = 0.36 and a = 5.30 Å are chosen (not taken from a refinement): B-H 1.29 Å, H-H 1.48 Å within the cube and
    1.65 Å between cubes, La-H 2.18 Å.
    """
    basis = [(0, 0, 0), (0.5, 0.5, 0.5), (x, x, x)]
    return _from_wyckoff([metal, center, 'H'], basis, 225, [a, a, a, 90, 90, 90], primitive=True)


def li2mgh16_type(metal_a: str = 'Mg', metal_b: str = 'Li', a: float = 6.72) -> Atoms:
    """AB2H16, Fd-3m (Li2MgH16 type), origin choice 2: A at 8b (3/8, 3/8, 3/8) in H28 cages, B at 16c (0, 0, 0) in
    H18 cages, H at 32e (x, x, x) with x = 0.2081 and 96g (x, x, z) with x = 0.0603, z = 0.3706 (the type-II
    clathrate framework without its 8a sites); the 38-atom primitive fcc cell.

    The parameters are those of a relaxed Li2MgH16 cell near 250 GPa: shortest H-H 1.04 Å, Li-H 1.45 Å, Mg-H 1.76 Å.
    """
    basis = [(0.375, 0.375, 0.375), (0, 0, 0), (0.2081, 0.2081, 0.2081), (0.0603, 0.0603, 0.3706)]
    return _from_wyckoff([metal_a, metal_b, 'H', 'H'], basis, 227, [a, a, a, 90, 90, 90], primitive=True, setting=2)


def fcc_mh3(metal: str = 'Y', a: float = 4.30) -> Atoms:
    """MH3, Fm-3m (BiF3 type; fcc YH3, LaH3 at high pressure): M at 4a (0, 0, 0), H at 8c (1/4, 1/4, 1/4) and 4b
    (1/2, 1/2, 1/2); the 4-atom primitive fcc cell. a = 4.30 Å is chosen (H-H and M-H 1.86 Å)."""
    basis = [(0, 0, 0), (0.25, 0.25, 0.25), (0.5, 0.5, 0.5)]
    return _from_wyckoff([metal, 'H', 'H'], basis, 225, [a, a, a, 90, 90, 90], primitive=True)


def rocksalt_mh(metal: str = 'La', a: float = 4.60) -> Atoms:
    """MH, Fm-3m (NaCl type; LiH, NaH, LaH): M at 4a (0, 0, 0), H at 4b (1/2, 1/2, 1/2); the 2-atom primitive fcc
    cell. a = 4.60 Å is chosen (M-H 2.30 Å, H-H 3.25 Å)."""
    basis = [(0, 0, 0), (0.5, 0.5, 0.5)]
    return _from_wyckoff([metal, 'H'], basis, 225, [a, a, a, 90, 90, 90], primitive=True)


def fcc_element(symbol: str = 'Al', a: float = 4.04) -> Atoms:
    """An fcc element in its 1-atom primitive cell."""
    cell = 0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    return Atoms([symbol], positions=[(0, 0, 0)], cell=cell, pbc=True)


_WANG_2012 = 'H. Wang, J. S. Tse, K. Tanaka, T. Iitaka, Y. Ma, PNAS 109, 6463 (2012), doi:10.1073/pnas.1118168109'
_DUAN_2014 = 'D. Duan et al., Sci. Rep. 4, 6968 (2014), doi:10.1038/srep06968'
_PENG_2017 = 'F. Peng et al., PRL 119, 107001 (2017), doi:10.1103/PhysRevLett.119.107001'
_LIU_2017 = 'H. Liu et al., PNAS 114, 6990 (2017), doi:10.1073/pnas.1704505114'
_LIANG_2019 = 'X. Liang et al., PRB 99, 100505(R) (2019), doi:10.1103/PhysRevB.99.100505'
_LI_2015 = 'Y. Li et al., Sci. Rep. 5, 9948 (2015), doi:10.1038/srep09948'
_DI_CATALDO_2021 = (
    'S. Di Cataldo, C. Heil, W. von der Linden, L. Boeri, PRB 104, L020511 (2021), doi:10.1103/PhysRevB.104.L020511'
)
_SUN_2019 = 'Y. Sun, J. Lv, Y. Xie, H. Liu, Y. Ma, PRL 123, 097001 (2019), doi:10.1103/PhysRevLett.123.097001'
_KIM_2009 = 'D. Y. Kim, R. H. Scheicher, R. Ahuja, PRL 103, 077002 (2009), doi:10.1103/PhysRevLett.103.077002'
_MACHIDA_2012 = 'A. Machida et al., PRL 108, 205501 (2012), doi:10.1103/PhysRevLett.108.205501'


@dataclasses.dataclass(frozen=True)
class Prototype:
    """One entry of :data:`PROTOTYPES`."""

    #: builds the structure; positional arguments are the elements, ``a`` the lattice parameter (Å)
    builder: Callable[..., Atoms]
    #: one line for people
    description: str
    #: the structure search seeds from it by element substitution (built with the builder's default elements)
    search_template: bool = False
    #: element-agnostic prototype label of the built structure, ``'<anonymous formula>-<space group>'`` such as
    #: ``'MH6-Im-3m'`` (:func:`aiida_hydrides.core.prototype_match.prototype_label`)
    label: str | None = None
    #: a hydride prototype reported before 2025, compared with by the novelty check; of two cells of one structure
    #: (conventional and primitive) only one is marked
    known: bool = False
    #: short citation with DOI of the report
    source: str | None = None
    #: example compounds with this structure
    compounds: tuple[str, ...] = ()


#: name -> :class:`Prototype`; the search templates are taken in this order
PROTOTYPES: dict[str, Prototype] = {
    'CaH6-primitive': Prototype(
        sodalite_mh6_primitive,
        'MH6 Im-3m sodalite clathrate, 7-atom primitive cell',
        True,
        label='MH6-Im-3m',
        source=_WANG_2012,
        compounds=('CaH6', 'YH6', 'MgH6'),
    ),
    'CaH6': Prototype(
        sodalite_mh6,
        'MH6 Im-3m sodalite clathrate (CaH6, YH6, MgH6)',
        True,
        label='MH6-Im-3m',
        known=True,
        source=_WANG_2012,
        compounds=('CaH6', 'YH6', 'MgH6'),
    ),
    'CaYH12': Prototype(
        ordered_sodalite_abh12,
        'ABH12 Pm-3m ordered sodalite',
        label='ABH12-Pm-3m',
        known=True,
        source=_LIANG_2019,
        compounds=('CaYH12',),
    ),
    'H3S-primitive': Prototype(
        h3s_primitive,
        'XH3 Im-3m, 4-atom primitive cell',
        True,
        label='MH3-Im-3m',
        source=_DUAN_2014,
        compounds=('H3S', 'H3Se'),
    ),
    'H3S': Prototype(
        h3s_type, 'XH3 Im-3m (H3S)', True, label='MH3-Im-3m', known=True, source=_DUAN_2014, compounds=('H3S', 'H3Se')
    ),
    'LaH10': Prototype(
        clathrate_mh10,
        'MH10 Fm-3m sodalite-like clathrate (LaH10, YH10)',
        True,
        label='MH10-Fm-3m',
        known=True,
        source=f'{_LIU_2017}; {_PENG_2017}',
        compounds=('LaH10', 'YH10', 'CeH10'),
    ),
    'fcc': Prototype(fcc_element, 'fcc element, primitive cell', label='M-Fm-3m'),
    'YH9': Prototype(
        hexagonal_mh9,
        'MH9 P6_3/mmc clathrate with H29 cages (YH9, CeH9)',
        label='MH9-P6_3/mmc',
        known=True,
        source=_PENG_2017,
        compounds=('YH9', 'CeH9', 'PrH9'),
    ),
    'CaH4': Prototype(
        tetragonal_mh4,
        'MH4 I4/mmm, ThCr2Si2 type (CaH4, YH4, BaH4), primitive cell',
        label='MH4-I4/mmm',
        known=True,
        source=f'{_WANG_2012}; {_LI_2015}',
        compounds=('CaH4', 'YH4', 'BaH4'),
    ),
    'LaBH8': Prototype(
        labh8_type,
        'ABH8 Fm-3m, BH8 cubes in an fcc metal lattice (LaBH8, LaBeH8), primitive cell',
        label='ABH8-Fm-3m',
        known=True,
        source=_DI_CATALDO_2021,
        compounds=('LaBH8', 'LaBeH8'),
    ),
    'Li2MgH16': Prototype(
        li2mgh16_type,
        'AB2H16 Fd-3m clathrate, A in H28 and B in H18 cages (Li2MgH16), primitive cell',
        label='AB2H16-Fd-3m',
        known=True,
        source=_SUN_2019,
        compounds=('Li2MgH16',),
    ),
    'YH3': Prototype(
        fcc_mh3,
        'MH3 Fm-3m, BiF3 type (fcc YH3, LaH3), primitive cell',
        label='MH3-Fm-3m',
        known=True,
        source=_KIM_2009,
        compounds=('YH3', 'LaH3', 'ScH3'),
    ),
    'LaH': Prototype(
        rocksalt_mh,
        'MH Fm-3m, NaCl type (LiH, NaH, LaH), primitive cell',
        label='MH-Fm-3m',
        known=True,
        source=_MACHIDA_2012,
        compounds=('LiH', 'NaH', 'LaH'),
    ),
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
