"""``TcSetData`` (entry point ``hydrides.tc_model.tc_set``): a set of Tc records (structures and their Tc) in one node.

The records (:class:`~aiida_hydrides.core.tc_model.records.TcRecord`) of a training or evaluation set are kept in a
few arrays, not one node per structure: ``natoms`` (nrecords,), ``numbers`` (total atoms,) atomic numbers, ``positions``
(total atoms, 3) Å, ``cells`` (nrecords, 3, 3) Å, ``pressure_gpa`` (nrecords,) and ``tc_k`` (nrecords,; ``nan`` where
a record has no label); the attributes hold ``names``, ``formulas``, ``sources``, ``features`` (one dictionary per
record) and the summary ``nrecords``, ``labelled``, ``elements``, ``formula_counts`` and, when known, ``tc_key`` (which
Tc the labels are, e.g. ``allen_dynes_mu0_10``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_model.records import TcRecord

__all__ = ('TcSetData',)


def _json_value(value):
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


class TcSetData(orm.ArrayData):
    """Tc records in a few arrays (see the module docstring)."""

    def __init__(self, records: Iterable[TcRecord] | None = None, tc_key: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if records is not None:
            self.set_records(records, tc_key)

    def set_records(self, records: Iterable[TcRecord], tc_key: str | None = None) -> None:
        """Store ``records`` (names must be unique); ``tc_key`` names the label (``<formula>_mu<μ*>``, e.g.
        ``allen_dynes_mu0_10``), kept as the attribute ``tc_key``."""
        from ase.data import atomic_numbers

        records = list(records)
        if not records:
            raise HydridesInputError('a Tc set needs at least one record')
        names = [record.name for record in records]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise HydridesInputError(f'record names repeat: {duplicates[:5]}')
        self.set_array('natoms', np.array([record.natoms for record in records], dtype=np.int64))
        self.set_array(
            'numbers', np.array([atomic_numbers[s] for record in records for s in record.symbols], dtype=np.int64)
        )
        self.set_array('positions', np.concatenate([np.asarray(r.positions, dtype=float) for r in records]))
        self.set_array('cells', np.array([np.asarray(r.cell, dtype=float) for r in records]))
        self.set_array('pressure_gpa', np.array([r.pressure_gpa for r in records], dtype=float))
        self.set_array('tc_k', np.array([np.nan if r.tc_k is None else r.tc_k for r in records], dtype=float))
        self.base.attributes.set('names', names)
        self.base.attributes.set('formulas', [record.formula for record in records])
        self.base.attributes.set('sources', [record.source for record in records])
        self.base.attributes.set(
            'features', [{key: _json_value(value) for key, value in record.features.items()} for record in records]
        )
        self.base.attributes.set('nrecords', len(records))
        self.base.attributes.set('labelled', sum(record.tc_k is not None for record in records))
        elements = sorted({s for record in records for s in record.symbols}, key=lambda s: atomic_numbers[s])
        self.base.attributes.set('elements', elements)
        counts: dict[str, int] = {}
        for record in records:
            counts[record.formula] = counts.get(record.formula, 0) + 1
        self.base.attributes.set('formula_counts', counts)
        if tc_key is not None:
            self.base.attributes.set('tc_key', str(tc_key))

    def get_records(self) -> list[TcRecord]:
        """The records, in the order they were stored."""
        from ase.data import chemical_symbols

        natoms = self.get_array('natoms')
        numbers = self.get_array('numbers')
        positions = self.get_array('positions')
        cells = self.get_array('cells')
        pressures = self.get_array('pressure_gpa')
        labels = self.get_array('tc_k')
        attributes = self.base.attributes
        names, formulas = attributes.get('names'), attributes.get('formulas')
        sources, features = attributes.get('sources'), attributes.get('features')
        records, start = [], 0
        for index, count in enumerate(natoms):
            stop = start + int(count)
            records.append(
                TcRecord(
                    name=names[index],
                    formula=formulas[index],
                    symbols=tuple(chemical_symbols[int(z)] for z in numbers[start:stop]),
                    cell=tuple(tuple(float(x) for x in vector) for vector in cells[index]),
                    positions=tuple(tuple(float(x) for x in position) for position in positions[start:stop]),
                    pressure_gpa=float(pressures[index]),
                    tc_k=None if not np.isfinite(labels[index]) else float(labels[index]),
                    features={key: value for key, value in (features[index] or {}).items() if value is not None},
                    source=sources[index],
                )
            )
            start = stop
        return records

    @property
    def names(self) -> list[str]:
        return list(self.base.attributes.get('names', []))

    @property
    def nrecords(self) -> int:
        return int(self.base.attributes.get('nrecords', 0))

    @property
    def tc_key(self) -> str | None:
        """Which Tc the labels are (``allen_dynes_mu0_10``, ...), when known."""
        return self.base.attributes.get('tc_key', None)

    @property
    def elements(self) -> list[str]:
        return list(self.base.attributes.get('elements', []))
