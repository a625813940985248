"""The offline pslibrary family in AiiDA: created once, reused, and clear errors for missing elements."""

import pytest

from aiida_hydrides.core.elements import DEFAULT_ELEMENTS
from aiida_hydrides.pseudos import (
    DEFAULT_FAMILY_LABEL,
    MissingElementsError,
    MissingPseudoFamilyError,
    check_family_covers,
    ensure_pseudo_family,
    get_pseudo_family,
    pseudo_cache_dir,
)


def test_family_covers_the_default_elements(pseudo_family):
    assert pseudo_family.label == DEFAULT_FAMILY_LABEL
    assert set(pseudo_family.elements) == set(DEFAULT_ELEMENTS)
    assert pseudo_family.get_default_stringency() == 'normal'
    assert set(pseudo_family.get_cutoff_stringencies()) == {'low', 'normal', 'high'}
    wfc, rho = pseudo_family.get_recommended_cutoffs(elements=('H', 'S'), unit='Ry')
    assert wfc >= 60 and rho >= 8 * wfc
    low, _ = pseudo_family.get_recommended_cutoffs(elements=('H',), stringency='low', unit='Ry')
    high, _ = pseudo_family.get_recommended_cutoffs(elements=('H',), stringency='high', unit='Ry')
    assert low < wfc < high
    assert pseudo_family.get_pseudo('H').z_valence == 1
    assert pseudo_family.get_pseudo('Ca').z_valence == 10


def test_ensure_is_idempotent_and_cached(pseudo_family):
    again = ensure_pseudo_family()
    assert again.pk == pseudo_family.pk
    cached = {path.name for path in (pseudo_cache_dir('us') / 'upf').iterdir()}
    assert {pseudo.filename for pseudo in pseudo_family.nodes} <= cached


def test_second_family_reuses_the_cached_files(pseudo_family):
    """A family with another label and a subset of elements takes the same UPF nodes (same md5): no regeneration."""
    subset = ensure_pseudo_family('hydrides-test/subset', elements=['H', 'S'])
    assert set(subset.elements) == {'H', 'S'}
    assert subset.get_pseudo('H').md5 == pseudo_family.get_pseudo('H').md5
    with pytest.raises(MissingElementsError, match='Ca'):
        ensure_pseudo_family('hydrides-test/subset', elements=['H', 'Ca'])


def test_missing_elements_are_named(pseudo_family):
    from aiida import orm

    structure = orm.StructureData(cell=[[3, 0, 0], [0, 3, 0], [0, 0, 3]])
    structure.append_atom(position=(0, 0, 0), symbols='Cs')
    structure.append_atom(position=(1.5, 1.5, 1.5), symbols='H')
    with pytest.raises(MissingElementsError, match=r'no pseudopotential for Cs\b') as error:
        check_family_covers(pseudo_family, structure)
    assert error.value.missing == ['Cs']
    check_family_covers(pseudo_family, ['H', 'S', 'La'])


def test_missing_family_names_the_fix(aiida_profile):
    with pytest.raises(MissingPseudoFamilyError, match='aiida-hydrides setup.*aiida-pseudo install'):
        get_pseudo_family('SSSP/1.3/PBE/efficiency')
    with pytest.raises(MissingPseudoFamilyError, match='aiida-pseudo install'):
        ensure_pseudo_family('SSSP/1.3/PBE/efficiency')


def test_paw_family_in_its_own_cache(aiida_profile, tmp_path):
    family = ensure_pseudo_family('hydrides-test/paw', elements=['H'], kind='paw', cache_dir=tmp_path)
    assert family.elements == ['H']
    assert 'kjpaw' in family.get_pseudo('H').filename
    assert (tmp_path / 'manifest.json').is_file() and len(list((tmp_path / 'upf').iterdir())) == 1
    assert family.get_recommended_cutoffs(elements=('H',), unit='Ry') == (60.0, 480.0)
