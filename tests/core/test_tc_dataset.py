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
