"""Ordered-derivative seeds: the enumeration against known counts, the CaYH12 seeds, determinism."""

import ast
import collections
import itertools
import re

import numpy as np
import pytest
from ase.build import bulk, make_supercell

from aiida_hydrides.core.descriptors import space_group
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototypes import sodalite_mh6, sodalite_mh6_primitive
from aiida_hydrides.core.search.orderings import build_ordering, enumerate_orderings, ordering_sizes
from aiida_hydrides.core.search.seeding import TEMPLATES, ordering_templates, prototype_seeds
from aiida_hydrides.core.search.volumes import estimate_volume

from search_helpers import assert_limits

#: Binary derivative structures of the fcc and of the bcc lattice with n = 2, 3, 4 sites per cell, pure elements left
#: out (they only have n = 1). icet's own regression test counts 29 binary fcc structures for n = 1-4 ('FCC, small
#: set' in tests/unittest/tools/test_structure_enumeration.py of icet: 2 pure + 2 + 6 + 19), Hart & Forcade
#: (PRB 77, 224115 (2008)) point out that fcc and bcc give the same numbers (same point group), and a brute-force
#: count (every Hermite-normal-form supercell with every labelling, reduced with pymatgen's StructureMatcher) gives
#: 2, 6, 19 for both lattices; test_brute_force_count_of_a_small_case repeats that for bcc, n = 4, A2B2.
KNOWN_BINARY_COUNTS = {2: 2, 3: 6, 4: 19}


def binary_counts(lattice: str) -> dict:
    """Mixed binary orderings per cell size n <= 4 of the one-atom primitive ``lattice``, summed over compositions."""
    primitive = bulk('Au', lattice, a=4.0)
    counts = collections.Counter()
    for a, b in [(1, 1), (1, 2), (2, 1), (1, 3), (3, 1)]:  # every reduced A_a B_b with a + b dividing some n <= 4
        for ordering in enumerate_orderings(primitive, {'Au': a, 'Pd': b}, max_atoms=4):
            counts[ordering.size] += 1
    return dict(counts)


@pytest.mark.parametrize('lattice', ['fcc', 'bcc'])
def test_binary_counts_match_the_literature(lattice):
    assert binary_counts(lattice) == KNOWN_BINARY_COUNTS


def hermite_normal_forms(n: int):
    """Lower-triangular Hermite normal forms of determinant n (one per sublattice of index n)."""
    for a in range(1, n + 1):
        for c in range(1, n // a + 1):
            if n % (a * c):
                continue
            f = n // (a * c)
            for b, d, e in itertools.product(range(c), range(f), range(f)):
                yield np.array([[a, 0, 0], [b, c, 0], [d, e, f]])


def test_brute_force_count_of_a_small_case():
    """Independent of icet: all A2B2 labellings of all 4-site bcc supercells, reduced with StructureMatcher."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    primitive = bulk('Au', 'bcc', a=4.0)
    structures = []
    for hnf in hermite_normal_forms(4):
        cell = make_supercell(primitive, hnf.T)
        for pair in itertools.combinations(range(4), 2):
            atoms = cell.copy()
            atoms.set_chemical_symbols(['Pd' if i in pair else 'Au' for i in range(4)])
            structure = AseAtomsAdaptor.get_structure(atoms)
            if len(structure.get_primitive_structure()) == 4:  # not a repeat of a 2-site ordering
                structures.append(structure)
    distinct = len(StructureMatcher(scale=False).group_structures(structures))
    enumerated = [o for o in enumerate_orderings(primitive, {'Au': 1, 'Pd': 1}, max_atoms=4) if o.size == 4]
    assert distinct == len(enumerated) == 5


def test_hydrogen_sites_keep_the_metal_lattice_counts():
    # sodalite MH6 is Im-3m, the point group of its bcc metal lattice: the same number of orderings
    sizes = collections.Counter(o.size for o in enumerate_orderings(sodalite_mh6_primitive(), {'Ca': 1, 'Y': 1}, 28))
    assert dict(sizes) == {2: 2, 4: 5}
    assert ordering_sizes(sodalite_mh6_primitive(), 2, 40) == [2, 4]
    assert ordering_sizes(sodalite_mh6_primitive(), 3, 40) == [3]


def test_enumeration_needs_a_primitive_template_and_two_elements():
    with pytest.raises(HydridesInputError, match='primitive'):
        enumerate_orderings(sodalite_mh6(), {'Ca': 1, 'Y': 1}, 28)
    with pytest.raises(HydridesInputError, match='two heavy elements'):
        enumerate_orderings(sodalite_mh6_primitive(), {'Ca': 2}, 28)


def test_one_template_per_prototype():
    templates = ordering_templates()
    assert set(templates) == {'CaH6-primitive', 'H3S-primitive', 'LaH10'}
    assert set(templates) <= set(TEMPLATES)


@pytest.fixture(scope='module')
def cayh12_seeds():
    return prototype_seeds({'Ca': 1, 'Y': 1, 'H': 12}, max_atoms=40)


def parse_label(label: str):
    match = re.fullmatch(r'n=(\d+) P=(\[.*\]) heavy=([A-Za-z,]+)', label)
    assert match, label
    return int(match[1]), ast.literal_eval(match[2]), match[3].split(',')


def test_cayh12_seeds(cayh12_seeds):
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.io.ase import AseAtomsAdaptor

    assert len(cayh12_seeds) == 7  # 2 orderings in 14-atom cells, 5 in 28-atom cells
    groups = set()
    for atoms in cayh12_seeds:
        symbols = atoms.get_chemical_symbols()
        units = atoms.info['formula_units']
        assert symbols.count('Ca') == symbols.count('Y') == units and symbols.count('H') == 12 * units
        assert len(atoms) == 14 * units <= 40
        assert atoms.info['origin'] == 'ordering' and atoms.info['prototype'] == 'CaH6-primitive'
        assert atoms.get_volume() == pytest.approx(estimate_volume({'Ca': units, 'Y': units, 'H': 12 * units}))
        assert_limits(atoms)
        # the label rebuilds the seed (before scaling): same cell shape, same heavy elements in the same order
        size, matrix, heavy = parse_label(atoms.info['ordering'])
        assert size == 2 * units and round(abs(np.linalg.det(matrix))) == size
        rebuilt = build_ordering(TEMPLATES['CaH6-primitive'](), matrix, heavy)
        assert symbols[: 2 * units] == heavy
        assert np.allclose(rebuilt.cell.cellpar()[3:], atoms.cell.cellpar()[3:])
        groups.add(space_group(atoms)[0])
    assert 221 in groups  # the CsCl-type ordering: Pm-3m CaYH12
    structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in cayh12_seeds]
    assert len(StructureMatcher().group_structures(structures)) == len(structures)


def test_seeds_are_deterministic_and_capped(cayh12_seeds):
    again = prototype_seeds({'Ca': 1, 'Y': 1, 'H': 12}, max_atoms=40, rng=np.random.default_rng(123))
    assert [a.info['ordering'] for a in again] == [a.info['ordering'] for a in cayh12_seeds]
    for a, b in zip(again, cayh12_seeds):
        assert a.get_chemical_symbols() == b.get_chemical_symbols()
        assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell.array, b.cell.array)
    capped = prototype_seeds({'Ca': 1, 'Y': 1, 'H': 12}, max_atoms=40, orderings=3)
    assert [a.info['ordering'] for a in capped] == [a.info['ordering'] for a in cayh12_seeds[:3]]
    assert prototype_seeds('CaYH12', orderings=0) == []
    with pytest.raises(HydridesInputError):
        prototype_seeds('CaYH12', orderings=-1)


def test_three_metals_per_formula_unit():
    seeds = prototype_seeds('CaY2H18', max_atoms=40)
    assert len(seeds) == 3  # the three A2B orderings of a 3-site bcc cell
    for atoms in seeds:
        assert sorted(atoms.get_chemical_symbols()[:3]) == ['Ca', 'Y', 'Y'] and len(atoms) == 21
