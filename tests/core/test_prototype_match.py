"""Element-agnostic prototypes: anonymous formulas, labels, grouping and the comparison with the known prototypes."""

import dataclasses
import json
import time

import numpy as np
import pytest
from ase import Atoms

from aiida_hydrides.core import prototype_match
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.prototype_match import (
    PrototypeGroup,
    anonymous_formula,
    group_prototypes,
    match_known_prototype,
    prototype_label,
    same_prototype,
    to_pymatgen,
)
from aiida_hydrides.core.prototypes import (
    PROTOTYPES,
    build_prototype,
    clathrate_mh10,
    fcc_mh3,
    h3s_primitive,
    h3s_type,
    hexagonal_mh9,
    labh8_type,
    li2mgh16_type,
    ordered_sodalite_abh12,
    sodalite_mh6,
    sodalite_mh6_primitive,
)


def _strained(atoms, seed: int, strain: float = 0.02, noise: float = 0.02) -> Atoms:
    """A copy with a random strain of up to ``strain`` on every cell component and Gaussian noise of ``noise`` Å."""
    rng = np.random.default_rng(seed)
    copy = atoms.copy()
    copy.set_cell(copy.cell.array @ (np.eye(3) + rng.uniform(-strain, strain, (3, 3))), scale_atoms=True)
    copy.positions += rng.normal(0.0, noise, copy.positions.shape)
    return copy


def _random_mh6(seed: int, min_distance: float = 1.0) -> Atoms:
    """Seven atoms (one Ca, six H) at random positions in a random triclinic cell, no two closer than
    ``min_distance`` Å."""
    rng = np.random.default_rng(seed)
    while True:
        cell = np.diag([3.0, 3.2, 3.4]) + rng.uniform(-0.4, 0.4, (3, 3))
        atoms = Atoms(['Ca'] + ['H'] * 6, scaled_positions=rng.random((7, 3)), cell=cell, pbc=True)
        distances = atoms.get_all_distances(mic=True)
        np.fill_diagonal(distances, np.inf)
        if distances.min() > min_distance:
            return atoms


def _nias(metal: str = 'Ca', hydrogen_on_hcp_sites: bool = True, a: float = 3.0, c: float = 4.8) -> Atoms:
    """MH in the NiAs structure (P6_3/mmc): 2a (0, 0, 0), (0, 0, 1/2) and 2c (1/3, 2/3, 1/4), (2/3, 1/3, 3/4).

    With ``hydrogen_on_hcp_sites`` H is on 2c and the metal on 2a; otherwise the other way round (anti-NiAs). The
    two are the same structure once H and the metal are swapped, and different structures otherwise.
    """
    sites_a = [(0, 0, 0), (0, 0, 0.5)]
    sites_c = [(1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)]
    symbols = [metal, metal, 'H', 'H'] if hydrogen_on_hcp_sites else ['H', 'H', metal, metal]
    cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
    return Atoms(symbols, scaled_positions=sites_a + sites_c, cell=cell, pbc=True)


@pytest.fixture(autouse=True)
def _fresh_known_references():
    """Tests that change the table must not leak cached references into others."""
    prototype_match._known_references.cache_clear()
    yield
    prototype_match._known_references.cache_clear()


@pytest.mark.parametrize(
    ('atoms', 'expected'),
    [
        (sodalite_mh6('Ca'), 'MH6'),
        (sodalite_mh6_primitive('Y'), 'MH6'),
        (ordered_sodalite_abh12('Ca', 'Y'), 'ABH12'),
        (ordered_sodalite_abh12('Y', 'Ca'), 'ABH12'),
        (li2mgh16_type('Mg', 'Li'), 'AB2H16'),
        (labh8_type('La', 'B'), 'ABH8'),
        (h3s_type('S'), 'MH3'),
        (Atoms('LaH'), 'MH'),
        (Atoms('Li2KNaH8'), 'ABC2H8'),
        (Atoms('Al4'), 'M'),
        (Atoms('NaCl'), 'AB'),
        (Atoms('Mg2B4'), 'AB2'),
        (Atoms('H4'), 'H'),
    ],
)
def test_anonymous_formula(atoms, expected):
    assert anonymous_formula(atoms) == expected


def test_anonymous_formula_orders_by_count_then_atomic_number():
    # Y (Z=39) and Ca (Z=20) both count 1: Ca is A; Sr2 counts 2 and comes last
    assert anonymous_formula(Atoms('YCaSr2H10')) == 'ABC2H10'
    assert anonymous_formula(Atoms('Li2MgH16')) == anonymous_formula(Atoms('Na2CaH16')) == 'AB2H16'
    with pytest.raises(HydridesInputError, match='no atoms'):
        anonymous_formula(Atoms())


def test_labels_of_the_shipped_builders():
    expected = {
        'CaH6': 'MH6-Im-3m',
        'CaH6-primitive': 'MH6-Im-3m',
        'CaYH12': 'ABH12-Pm-3m',
        'H3S': 'MH3-Im-3m',
        'H3S-primitive': 'MH3-Im-3m',
        'LaH10': 'MH10-Fm-3m',
        'YH9': 'MH9-P6_3/mmc',
        'CaH4': 'MH4-I4/mmm',
        'LaBH8': 'ABH8-Fm-3m',
        'Li2MgH16': 'AB2H16-Fd-3m',
        'YH3': 'MH3-Fm-3m',
        'LaH': 'MH-Fm-3m',
        'fcc': 'M-Fm-3m',
    }
    for name, label in expected.items():
        assert prototype_label(build_prototype(name)) == label
    for name, entry in PROTOTYPES.items():
        assert entry.label == prototype_label(build_prototype(name)), name


def test_every_known_prototype_matches_itself_with_other_elements():
    other = {
        'CaH6': ('Y', 3.3),
        'CaYH12': ('Sr', 'Y'),
        'H3S': ('Se', 3.1),
        'LaH10': ('Y', 4.9),
        'YH9': ('Ce', 3.71, 5.54),
        'CaH4': ('Y', 2.7, 5.2),
        'LaBH8': ('La', 'Be', 5.4),
        'Li2MgH16': ('Ca', 'Na', 7.0),
        'YH3': ('La', 4.6),
        'LaH': ('Li', 3.4),
    }
    known = [name for name, entry in PROTOTYPES.items() if entry.known]
    assert sorted(known) == sorted(other)
    for name, arguments in other.items():
        assert match_known_prototype(build_prototype(name, *arguments)) == name


def test_sodalite_cah6_and_yh6_group_together_and_match_the_known_entry():
    structures = [sodalite_mh6('Ca'), sodalite_mh6('Y', a=3.3), sodalite_mh6_primitive('Mg', a=3.2)]
    (group,) = group_prototypes(structures)
    assert group.members == [0, 1, 2] and group.representative == 0
    assert group.label == 'MH6-Im-3m'
    assert group.known == 'CaH6' and group.source == PROTOTYPES['CaH6'].source and 'doi:' in group.source
    assert group.novel is False


def test_primitive_and_conventional_cells_group_together():
    groups = group_prototypes([sodalite_mh6_primitive('Ca'), h3s_primitive(), sodalite_mh6('Ca'), h3s_type()])
    assert [group.members for group in groups] == [[0, 2], [1, 3]]
    assert [group.known for group in groups] == ['CaH6', 'H3S']


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_a_strained_noisy_copy_still_matches(seed):
    for original in (sodalite_mh6('Ca'), clathrate_mh10('La'), hexagonal_mh9('Y'), li2mgh16_type()):
        copy = _strained(original, seed)
        assert same_prototype(original, copy)
        assert match_known_prototype(copy) is not None
        assert len(group_prototypes([original, copy])) == 1


def test_ordered_sodalite_is_not_grouped_with_cah6():
    groups = group_prototypes(
        [sodalite_mh6('Ca'), ordered_sodalite_abh12('Ca', 'Y'), ordered_sodalite_abh12('Y', 'Sr')]
    )
    assert [group.members for group in groups] == [[0], [1, 2]]
    assert [group.label for group in groups] == ['MH6-Im-3m', 'ABH12-Pm-3m']
    assert [group.known for group in groups] == ['CaH6', 'CaYH12']
    assert not same_prototype(sodalite_mh6('Ca'), ordered_sodalite_abh12('Ca', 'Y'))


def test_a_random_p1_mh6_is_novel():
    random = _random_mh6(seed=7)
    assert anonymous_formula(random) == 'MH6' and prototype_label(random) == 'MH6-P1'
    assert match_known_prototype(random) is None
    groups = group_prototypes([sodalite_mh6('Ca'), random])
    assert [group.members for group in groups] == [[0], [1]]
    assert groups[1].novel and groups[1].known is None and groups[1].source is None


def test_bcc_and_fcc_mh3_are_different_prototypes():
    assert not same_prototype(h3s_type(), fcc_mh3())
    assert match_known_prototype(fcc_mh3('La', 4.7)) == 'YH3'
    assert match_known_prototype(h3s_type('Y')) == 'H3S'


def test_hydrogen_is_never_mapped_onto_a_metal():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    nias, anti_nias = _nias(hydrogen_on_hcp_sites=True), _nias(hydrogen_on_hcp_sites=False)
    assert anonymous_formula(nias) == anonymous_formula(anti_nias) == 'MH'
    # a free anonymous mapping (H -> Ca, Ca -> H) fits them ...
    assert StructureMatcher(attempt_supercell=True).fit_anonymous(to_pymatgen(nias), to_pymatgen(anti_nias))
    # ... the prototype match does not
    assert not same_prototype(nias, anti_nias)
    assert [group.members for group in group_prototypes([nias, anti_nias])] == [[0], [1]]
    # the metal is still free: NiAs-type YH matches NiAs-type CaH
    assert same_prototype(nias, _nias('Y', hydrogen_on_hcp_sites=True, a=3.2, c=5.1))


def test_novelty_does_not_depend_on_which_cell_of_a_pair_is_marked_known(monkeypatch):
    structures = [sodalite_mh6('Y', a=3.3), sodalite_mh6_primitive('Ca')]
    assert all(group.known == 'CaH6' for group in group_prototypes(structures))
    monkeypatch.setitem(PROTOTYPES, 'CaH6', dataclasses.replace(PROTOTYPES['CaH6'], known=False))
    monkeypatch.setitem(PROTOTYPES, 'CaH6-primitive', dataclasses.replace(PROTOTYPES['CaH6-primitive'], known=True))
    prototype_match._known_references.cache_clear()
    groups = group_prototypes(structures)
    assert [group.known for group in groups] == ['CaH6-primitive'] and not groups[0].novel


def test_groups_partition_the_input_in_order_of_first_member():
    structures = [
        _random_mh6(1),
        sodalite_mh6('Ca'),
        ordered_sodalite_abh12(),
        _strained(sodalite_mh6('Y'), 3),
        _random_mh6(2),
        labh8_type('La', 'Be'),
    ]
    groups = group_prototypes(structures)
    members = [index for group in groups for index in group.members]
    assert sorted(members) == list(range(len(structures)))
    assert [group.representative for group in groups] == sorted(group.members[0] for group in groups)
    assert [group.members for group in groups] == [[0], [1, 3], [2], [4], [5]]
    assert [group.novel for group in groups] == [True, False, False, True, False]
    assert all(isinstance(group, PrototypeGroup) for group in groups)
    record = json.loads(json.dumps(groups[1].as_dict()))
    assert record == {
        'label': 'MH6-Im-3m',
        'members': [1, 3],
        'representative': 1,
        'known': 'CaH6',
        'source': PROTOTYPES['CaH6'].source,
        'novel': False,
    }
    assert group_prototypes([]) == []


def test_bad_input():
    with pytest.raises(HydridesInputError, match='periodic'):
        match_known_prototype(Atoms('CaH6'))
    with pytest.raises(HydridesInputError, match='symprec'):
        group_prototypes([sodalite_mh6()], symprec=0)


def test_matching_two_hundred_structures_against_the_known_list_is_fast():
    makers = [
        lambda i: _strained(sodalite_mh6(['Ca', 'Y', 'Mg', 'Sr'][i % 4], 3.4), i),
        lambda i: _random_mh6(i),
        lambda i: _strained(clathrate_mh10('Y', 5.0), i),
        lambda i: _strained(hexagonal_mh9('Ce', 3.6, 5.4), i),
        lambda i: _strained(ordered_sodalite_abh12('Sr', 'Y'), i),
    ]
    structures = [makers[i % len(makers)](i) for i in range(200)]
    match_known_prototype(structures[0])  # builds the cached references
    start = time.perf_counter()
    names = [match_known_prototype(atoms) for atoms in structures]
    elapsed = time.perf_counter() - start
    assert names.count(None) == 40 and names.count('CaH6') == 40 and names.count('YH9') == 40
    assert elapsed < 15.0, f'{elapsed:.1f} s for 200 structures'
