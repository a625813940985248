"""One labelled structure of a Tc training or evaluation set: the record every part of the Tc model works on.

Records come from finished ``hydrides.epc`` work chains (QueryBuilder), from the committed hydride Tc dataset
(``data/tc_dataset/tc_dataset.json``) or from an imported external set; the model, its cross-validation and the
selection benchmark only see records.
"""

from __future__ import annotations

import dataclasses
import math

from ..errors import HydridesInputError

__all__ = ('TcRecord', 'records_from_dataset_rows')


@dataclasses.dataclass(frozen=True)
class TcRecord:
    """A structure with its Tc label.

    :param name: unique key (a dataset entry name, ``epc:<uuid>`` or an external set's own name)
    :param formula: reduced formula; cross-validation folds never split one formula between train and test
    :param symbols: chemical symbols, one per atom
    :param cell: lattice vectors (Å), 3 x 3
    :param positions: Cartesian positions (Å), natoms x 3
    :param pressure_gpa: pressure of the structure
    :param tc_k: the label, Tc in K for one formula and μ* (``None`` for a structure to predict)
    :param features: physics features for baselines and selection rules, when known: ``hydrogen_share_of_dos_ef``,
        ``hydrogen_fraction`` (share of atoms that are H), ``lambda``, ``omega_log_K``, ``space_group_number``,
        ``natoms``, ``e_hull_mev``
    :param source: where the record comes from (``dataset:<file>``, ``graph:<uuid>``, ``file:<path>``)
    """

    name: str
    formula: str
    symbols: tuple
    cell: tuple
    positions: tuple
    pressure_gpa: float
    tc_k: float | None
    features: dict = dataclasses.field(default_factory=dict, hash=False, compare=False)
    source: str = ''

    def __post_init__(self):
        if len(self.symbols) != len(self.positions) or not self.symbols:
            raise HydridesInputError(
                f'record {self.name!r}: {len(self.symbols)} symbols for {len(self.positions)} positions'
            )
        if len(self.cell) != 3 or any(len(vector) != 3 for vector in self.cell):
            raise HydridesInputError(f'record {self.name!r}: the cell must be 3 x 3')
        if self.tc_k is not None and not (math.isfinite(self.tc_k) and self.tc_k >= 0):
            raise HydridesInputError(f'record {self.name!r}: Tc must be a finite number >= 0 K, got {self.tc_k!r}')

    @property
    def natoms(self) -> int:
        return len(self.symbols)

    @property
    def hydrogen_fraction(self) -> float:
        """Share of the atoms that are hydrogen."""
        return sum(symbol == 'H' for symbol in self.symbols) / self.natoms

    def to_atoms(self):
        """The structure as an ASE ``Atoms`` (periodic)."""
        from ase import Atoms

        return Atoms(symbols=list(self.symbols), positions=list(self.positions), cell=list(self.cell), pbc=True)


def records_from_dataset_rows(rows, tc_key: str = 'allen_dynes_mu0_10', source: str = 'dataset') -> list[TcRecord]:
    """Records of the stable rows of the hydride Tc dataset (``tc_dataset.json``'s ``rows``).

    :param tc_key: which Tc of a row is the label, a key of its ``tc_K`` mapping (``<formula>_mu<mu*>``, e.g.
        ``allen_dynes_mu0_10``, ``eliashberg_mu0_13``)
    """
    import numpy as np

    records = []
    for row in rows:
        if row.get('status') != 'stable':
            continue
        tc = (row.get('tc_K') or {}).get(tc_key)
        if tc is None:
            known = sorted(row.get('tc_K') or {})
            raise HydridesInputError(f'dataset row {row["name"]!r} has no Tc {tc_key!r}; it has {known}')
        structure = row['structure']
        cell = np.asarray(structure['cell'], dtype=float)
        positions = np.asarray(structure['scaled_positions'], dtype=float) @ cell
        features = {
            key: row[key]
            for key in ('hydrogen_share_of_dos_ef', 'lambda', 'omega_log_K', 'natoms')
            if row.get(key) is not None
        }
        features['space_group_number'] = (row.get('space_group') or {}).get('number')
        record = TcRecord(
            name=row['name'],
            formula=row['formula'],
            symbols=tuple(structure['symbols']),
            cell=tuple(tuple(float(x) for x in vector) for vector in cell),
            positions=tuple(tuple(float(x) for x in position) for position in positions),
            pressure_gpa=float(row['pressure_gpa']),
            tc_k=max(0.0, float(tc)),
            features=features,
            source=source,
        )
        record.features['hydrogen_fraction'] = record.hydrogen_fraction
        records.append(record)
    return records
