"""The pslibrary parameter table and the ld1.x generation of pseudopotentials (pure Python, no AiiDA)."""

import copy
import shutil

import pytest

from aiida_hydrides.core.elements import DEFAULT_ELEMENTS
from aiida_hydrides.core.pseudo import (
    STRINGENCIES,
    PseudoTableError,
    available_elements,
    format_ld1_input,
    generate_pseudos,
    get_entry,
    load_table,
    parse_ld1_input,
    read_upf_header,
    recommended_cutoffs,
)
from aiida_hydrides.core.pseudo.generate import find_errors


@pytest.mark.parametrize('kind', ['us', 'paw'])
def test_table_covers_the_default_elements(kind):
    table = load_table()
    assert set(DEFAULT_ELEMENTS) <= set(available_elements(kind, table))
    tag = {'us': 'rrkjus', 'paw': 'kjpaw'}[kind]
    for element in DEFAULT_ELEMENTS:
        entry = get_entry(element, kind, table)
        assert entry['name'].startswith(f'{element}.pbe-') and tag in entry['name']
        assert entry['input']['iswitch'] == 3 and entry['input']['dft'] == 'PBE' and entry['input']['rel'] == 1
        assert entry['inputp']['pseudotype'] == 3 and entry['inputp']['lpaw'] is (kind == 'paw')
        assert entry['wavefunctions'] and all(wfc['rcut'] > 0 for wfc in entry['wavefunctions'])
        assert entry['ld1']['z_valence'] > 0 and entry['ld1']['wfc_cutoff'] > 0  # verified with ld1.x


def test_table_choices_follow_the_known_problems():
    assert get_entry('Cs', 'us')['name'] == 'Cs.pbe-spn-rrkjus_psl.1.0.0'  # spnl fails in ld1.x 6.7
    assert get_entry('Ce', 'us')['name'] == 'Ce.pbe-spdn-rrkjus_psl.1.0.0'  # 4f in the core
    assert get_entry('Lu', 'paw')['name'] == 'Lu.pbe-spdn-kjpaw_psl.1.0.0'
    assert get_entry('Li', 'us')['source'].startswith('us_ps_low/')  # recommended file of the low set
    assert get_entry('H', 'us')['ld1']['z_valence'] == 1
    with pytest.raises(PseudoTableError, match='Tc.*does not work with PBE'):
        get_entry('Tc', 'us')
    with pytest.raises(ValueError, match='kind'):
        get_entry('H', 'nc')


def test_ld1_input_round_trip():
    entry = get_entry('Ca', 'us')
    text = format_ld1_input(entry)
    assert "config='[Ar] 4s2 4p0 3d-1'" in text and 'lpaw=.false.' in text
    parsed = parse_ld1_input(text)
    assert parsed['input'] == entry['input'] and parsed['wavefunctions'] == entry['wavefunctions']


def test_scf_error_lines_are_not_errors():
    assert find_errors('     final scf error:  1.6E-15 reached in  21 iterations\n') == []
    assert find_errors('     warning: at least one error in KS equations\n') == [
        'warning: at least one error in KS equations'
    ]


def test_cutoff_rule():
    assert recommended_cutoffs(45.7, 220.9, 'normal') == {'cutoff_wfc': 60.0, 'cutoff_rho': 480.0}  # H: the floor
    assert recommended_cutoffs(74.8, 537.2, 'normal') == {'cutoff_wfc': 85.0, 'cutoff_rho': 680.0}  # La: the margin
    assert recommended_cutoffs(70.1, 710.1, 'normal') == {'cutoff_wfc': 80.0, 'cutoff_rho': 790.0}  # Be: hard rho
    assert recommended_cutoffs(45.7, 220.9, 'low')['cutoff_wfc'] == 50.0
    assert recommended_cutoffs(45.7, 220.9, 'high')['cutoff_wfc'] == 80.0
    assert set(STRINGENCIES) == {'low', 'normal', 'high'}
    with pytest.raises(ValueError, match='stringency'):
        recommended_cutoffs(40, 300, 'extreme')


@pytest.fixture(scope='module')
def ld1():
    if shutil.which('ld1.x') is None:
        pytest.fail('ld1.x is missing; `apt-get install quantum-espresso`')


def test_generate_valid_upfs(ld1, tmp_path):
    result = generate_pseudos(['H', 'S', 'Ca'], tmp_path, 'us')
    assert result.ok, result.summary()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        'Ca.pbe-spn-rrkjus_psl.1.0.0.UPF',
        'H.pbe-rrkjus_psl.1.0.0.UPF',
        'S.pbe-nl-rrkjus_psl.1.0.0.UPF',
    ]  # only the UPF files, no ld1.x scratch
    expected = {'H': 1.0, 'S': 6.0, 'Ca': 10.0}
    for element, outcome in result.results.items():
        header = read_upf_header(outcome.path)
        assert header['element'] == element
        assert header['z_valence'] == expected[element] == outcome.z_valence
        assert outcome.wfc_cutoff == pytest.approx(get_entry(element, 'us')['ld1']['wfc_cutoff'], abs=0.01)


def test_bad_entry_is_reported_not_raised(ld1, tmp_path):
    table = copy.deepcopy(load_table())
    table['elements']['S']['us']['inputp']['bogus_key'] = 1  # ld1.x stops reading &inputp
    del table['elements']['H']['us']['wavefunctions'][0]['rcut']
    result = generate_pseudos(['H', 'S', 'Xx'], tmp_path, 'us', table=table)
    assert not result.ok
    assert set(result.failed) == {'H', 'S', 'Xx'}
    assert 'invalid table entry' in result.failed['H'].reason
    assert 'Error in routine ld1_readin' in result.failed['S'].reason
    assert 'no US entry' in result.failed['Xx'].reason
    assert list(tmp_path.iterdir()) == []
    assert 'failed' in result.summary()


def test_table_is_derived_from_pslibrary(shared_dir, tmp_path):
    """The packaged table equals what scripts/derive_pslibrary_table.py derives from the pslibrary inputs."""
    import importlib.util
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[3] / 'scripts' / 'derive_pslibrary_table.py'
    spec = importlib.util.spec_from_file_location('derive_pslibrary_table', script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    output = tmp_path / 'table.json'
    assert module.main(['--pslibrary', str(shared_dir / 'reference' / 'pslibrary'), '--output', str(output)]) == 0

    import json

    derived, packaged = json.loads(output.read_text()), load_table()
    assert set(derived['elements']) == set(packaged['elements'])
    for element, entries in packaged['elements'].items():
        for kind, entry in entries.items():
            assert {key: value for key, value in entry.items() if key != 'ld1'} == derived['elements'][element][kind]
