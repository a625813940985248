"""The Tc dataset's entries: enough distinct structures, in range, built with the symmetry their label names."""

import pytest
import spglib

from aiida_hydrides.core.elements import DEFAULT_ELEMENTS, DEFAULT_METALS
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_dataset import DATASET_ENTRIES, LITERATURE, dataset_entry, literature_for


def test_at_least_forty_distinct_entries_in_the_pressure_window():
    names = [entry.name for entry in DATASET_ENTRIES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert all(150 <= entry.pressure_gpa <= 250 for entry in DATASET_ENTRIES)


def test_binaries_and_ternaries_over_the_metals_of_the_element_space():
    metals = set()
    ternaries = 0
    for entry in DATASET_ENTRIES:
        symbols = set(entry.build().get_chemical_symbols())
        assert symbols <= set(DEFAULT_ELEMENTS), entry.name
        metals |= symbols & set(DEFAULT_METALS)
        ternaries += len(symbols) == 3
    assert metals == set(DEFAULT_METALS)
    assert ternaries >= 5


@pytest.mark.parametrize('entry', DATASET_ENTRIES, ids=lambda entry: entry.name)
def test_entry_has_the_space_group_of_its_prototype(entry):
    atoms = entry.build()
    symbol, _ = spglib.get_spacegroup((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), symprec=0.1).split()
    assert entry.prototype.endswith(symbol)
    assert entry.natoms == len(atoms)


def test_entries_are_ordered_by_cell_size():
    sizes = [entry.natoms for entry in DATASET_ENTRIES]
    assert sizes == sorted(sizes)


def test_lookup_by_name_and_literature():
    entry = dataset_entry('CaH6-MH6-Im-3m-150GPa')
    assert entry.formula == 'CaH6'
    (value,) = literature_for(entry.formula, entry.prototype, entry.pressure_gpa)
    assert value.tc_formula == 'eliashberg'
    covered = {(e.formula, e.prototype) for e in DATASET_ENTRIES}
    assert sum((value.formula, value.prototype) in covered for value in LITERATURE) >= 4
    with pytest.raises(HydridesInputError, match='no dataset entry'):
        dataset_entry('XH6')


def _row(name, status='stable', lam=2.0, omega=1000.0, tc10=200.0, tc13=180.0, wall=100.0, cpu=None):
    return {
        'epc_cpu_s': cpu if cpu is not None else wall,
        'name': name,
        'status': status,
        'lambda': lam,
        'omega_log_K': omega,
        'tc_K': {'allen_dynes_mu0_10': tc10, 'allen_dynes_mu0_13': tc13},
        'epc_wall_s': wall,
    }


def test_protocols_compared_entry_by_entry():
    from aiida_hydrides.core.tc_dataset import compare_protocols

    rows = [
        _row('a', lam=1.8, omega=1100.0, wall=25.0, cpu=20.0),
        _row('b', status='unstable'),
        _row('c'),
        _row('only-ours'),
    ]
    reference = [_row('a'), _row('b', status='unstable'), _row('c', status='unstable')]
    comparison = compare_protocols(rows, reference)
    by_name = {entry['name']: entry for entry in comparison['entries']}
    assert set(by_name) == {'a', 'b', 'c'}
    assert by_name['a']['relative_errors'] == pytest.approx(
        {'lambda': -0.1, 'omega_log_K': 0.1, 'tc_allen_dynes_K_mu0_10': 0.0, 'tc_allen_dynes_K_mu0_13': 0.0}
    )
    assert by_name['a']['wall_time_ratio'] == 0.25 and by_name['a']['cpu_time_ratio'] == 0.2
    assert by_name['b']['stability_agrees'] and 'relative_errors' not in by_name['b']
    assert not by_name['c']['stability_agrees']
    summary = comparison['summary']
    assert summary['entries'] == 3 and summary['stability_agrees'] == 2
    assert summary['lambda'] == {'compared': 1, 'median_abs_relative_error': 0.1, 'max_abs_relative_error': 0.1}


def test_literature_compared_with_its_own_formula_and_mustar():
    from aiida_hydrides.core.tc_dataset import compare_with_literature

    row = {
        'name': 'H3S-MH3-Im-3m-200GPa',
        'formula': 'H3S',
        'prototype': 'MH3-Im-3m',
        'pressure_gpa': 200.0,
        'status': 'stable',
        'lambda': 2.19,
        'tc_K': {'mcmillan_mu0_10': 204.0, 'mcmillan_mu0_13': 172.0, 'allen_dynes_mu0_10': 230.0},
    }
    (record,) = compare_with_literature([row, {**row, 'name': 'x', 'formula': 'NaH6', 'prototype': 'MH6-Im-3m'}])
    assert record['tc_formula'] == 'mcmillan' and {t['formula'] for t in record['tc']} == {'mcmillan'}
    by_mustar = {t['mustar']: t for t in record['tc']}
    assert by_mustar[0.10]['relative_difference'] == 0.0
    assert by_mustar[0.13]['relative_difference'] == pytest.approx((172.0 - 191.0) / 191.0, abs=1e-4)
    assert record['lambda']['relative_difference'] == 0.0


def test_cpu_seconds_of_a_qe_output():
    from aiida_hydrides.core.qe_timing import clock_seconds, cpu_seconds

    assert clock_seconds('1h 2m 3.5s') == 3723.5 and clock_seconds('16.40s') == 16.4
    output = 'PWSCF        :      1.20s CPU      2.00s WALL\n...\n     PHONON       :   9m30.21s CPU  22m23.35s WALL\n'
    assert cpu_seconds(output) == pytest.approx(570.21)
    assert cpu_seconds('stopped before the end') is None
