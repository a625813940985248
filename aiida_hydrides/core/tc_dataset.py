"""The project's hydride Tc dataset: which structures it holds, how they are made, and the published values to compare.

Every entry is a known hydride prototype of :data:`~aiida_hydrides.core.prototypes.PROTOTYPES` with its metal sites
substituted by elements of the default element space, at a pressure of 150-250 GPa. The structures are starting
points: the dataset runner relaxes each with ``hydrides.dft.enthalpy`` at its pressure before the EPC calculation.

The entries are ordered by expected cost (atoms in the primitive cell, then the plane-wave cutoff of the elements), so
that a run that is stopped early has covered as many compounds as possible. Names are stable
(``<formula>-<prototype label>-<pressure>GPa``) and used as keys of the committed rows: never rename an entry.

:data:`LITERATURE` holds the published values of ``docs/superconductivity.md`` that the dataset can be compared with
(same formula, same μ*), one home for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ase import Atoms
from ase.data import atomic_numbers, covalent_radii

from .errors import HydridesInputError
from .prototypes import (
    clathrate_mh10,
    fcc_mh3,
    h3s_primitive,
    hexagonal_mh9,
    labh8_type,
    ordered_sodalite_abh12,
    sodalite_mh6_primitive,
    tetragonal_mh4,
)
from .superconductivity import mustar_label

__all__ = (
    'COMPARED_QUANTITIES',
    'DATASET_ENTRIES',
    'LITERATURE',
    'ROW_TC_FORMULAS',
    'DatasetEntry',
    'LiteratureValue',
    'compare_protocols',
    'compare_with_literature',
    'dataset_entry',
    'literature_for',
)

#: the element whose size the default lattice parameters of the prototypes were chosen for
_REFERENCE_METAL = {'sodalite': 'Ca', 'mh4': 'Ca', 'mh3': 'Y', 'mh10': 'La', 'mh9': 'Y', 'abh8': 'La'}


def _scaled(a: float, metal: str, reference: str, pressure_gpa: float, weight: float = 0.5) -> float:
    """A starting lattice parameter: ``a`` (chosen near 200 GPa for ``reference``) scaled by part of the difference of
    the covalent radii of ``metal`` and ``reference`` (the hydrogen framework dominates the volume) and by a soft
    pressure term (a few % per 50 GPa), within -12 % and +15 % of ``a``; the DFT relaxation makes it exact."""
    r_metal = covalent_radii[atomic_numbers[metal]]
    r_reference = covalent_radii[atomic_numbers[reference]]
    size = min(max(1.0 + weight * (r_metal - r_reference) / r_reference, 0.88), 1.15)
    pressure = (200.0 / pressure_gpa) ** 0.06
    return round(a * size * pressure, 3)


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """One structure of the dataset."""

    #: reduced formula, e.g. ``CaH6``
    formula: str
    #: prototype label (anonymous formula and space group), e.g. ``MH6-Im-3m``
    prototype: str
    #: target pressure, GPa
    pressure_gpa: float
    #: builds the starting structure
    builder: Callable[[], Atoms] = dataclasses.field(repr=False, compare=False)
    #: atoms in the cell the EPC runs on
    natoms: int = 0

    @property
    def name(self) -> str:
        """Stable key: ``<formula>-<prototype>-<pressure>GPa`` with ``/`` of the space group replaced by ``_``."""
        return f'{self.formula}-{self.prototype.replace("/", "_")}-{self.pressure_gpa:g}GPa'

    def build(self) -> Atoms:
        """The starting structure."""
        return self.builder()


def _entry(formula: str, prototype: str, pressure: float, builder: Callable[[], Atoms]) -> DatasetEntry:
    return DatasetEntry(formula, prototype, float(pressure), builder, natoms=len(builder()))


def _sodalite(metal: str, pressure: float) -> DatasetEntry:
    a = _scaled(3.45, metal, 'Ca', pressure, weight=0.3)
    return _entry(f'{metal}H6', 'MH6-Im-3m', pressure, lambda: sodalite_mh6_primitive(metal, a))


def _h3s(nonmetal: str, pressure: float) -> DatasetEntry:
    a = _scaled(2.985, nonmetal, 'S', pressure, weight=0.8)
    return _entry(f'H3{nonmetal}', 'MH3-Im-3m', pressure, lambda: h3s_primitive(nonmetal, a))


def _mh3(metal: str, pressure: float) -> DatasetEntry:
    a = _scaled(4.30, metal, 'Y', pressure, weight=0.8)
    return _entry(f'{metal}H3', 'MH3-Fm-3m', pressure, lambda: fcc_mh3(metal, a))


def _mh4(metal: str, pressure: float) -> DatasetEntry:
    scale = _scaled(1.0, metal, 'Ca', pressure, weight=0.6)
    return _entry(f'{metal}H4', 'MH4-I4/mmm', pressure, lambda: tetragonal_mh4(metal, 2.65 * scale, 5.30 * scale))


def _mh10(metal: str, pressure: float) -> DatasetEntry:
    a = _scaled(4.95, metal, 'La', pressure)
    return _entry(f'{metal}H10', 'MH10-Fm-3m', pressure, lambda: clathrate_mh10(metal, a))


def _mh9(metal: str, pressure: float) -> DatasetEntry:
    scale = _scaled(1.0, metal, 'Y', pressure)
    return _entry(f'{metal}H9', 'MH9-P6_3/mmc', pressure, lambda: hexagonal_mh9(metal, 3.40 * scale, 5.08 * scale))


def _abh12(metal_a: str, metal_b: str, pressure: float) -> DatasetEntry:
    a = 0.5 * (_scaled(3.45, metal_a, 'Ca', pressure) + _scaled(3.45, metal_b, 'Ca', pressure))
    return _entry(
        f'{metal_a}{metal_b}H12', 'ABH12-Pm-3m', pressure, lambda: ordered_sodalite_abh12(metal_a, metal_b, a)
    )


def _abh8(metal: str, center: str, pressure: float) -> DatasetEntry:
    a = _scaled(5.05, metal, 'La', pressure)
    return _entry(f'{metal}{center}H8', 'ABH8-Fm-3m', pressure, lambda: labh8_type(metal, center, a))


#: the dataset, cheapest first. 19 metals of the default element space appear (Th only where its 100 Ry cutoff is
#: worth it, in a small cell); S and P as the H3S-type non-metals.
DATASET_ENTRIES: tuple[DatasetEntry, ...] = (
    # 4 atoms: H3S type and fcc MH3
    _h3s('S', 200),
    _h3s('S', 150),
    _h3s('S', 250),
    _h3s('P', 200),
    _mh3('Y', 200),
    _mh3('Sc', 200),
    _mh3('Lu', 200),
    _mh3('Al', 200),
    # 5 atoms: I4/mmm MH4
    _mh4('Ca', 200),
    _mh4('Sr', 200),
    _mh4('Ba', 200),
    _mh4('Y', 150),
    _mh4('Zr', 200),
    _mh4('Th', 150),
    # 7 atoms: sodalite MH6
    _sodalite('Ca', 150),
    _sodalite('Ca', 200),
    _sodalite('Ca', 250),
    _sodalite('Y', 150),
    _sodalite('Y', 200),
    _sodalite('Mg', 200),
    _sodalite('Mg', 250),
    _sodalite('Sr', 200),
    _sodalite('Sc', 200),
    _sodalite('Zr', 200),
    _sodalite('Hf', 200),
    _sodalite('Lu', 200),
    _sodalite('Ba', 200),
    _sodalite('Ti', 200),
    _sodalite('Nb', 200),
    _sodalite('Na', 200),
    _sodalite('K', 200),
    _sodalite('Li', 200),
    _sodalite('Al', 200),
    _sodalite('Be', 200),
    _sodalite('Ce', 200),
    _sodalite('La', 200),
    # 10-11 atoms: LaBH8 type and MH10 clathrates
    _abh8('La', 'B', 150),
    _abh8('Ca', 'B', 200),
    _mh10('Y', 250),
    _mh10('Ca', 200),
    _mh10('Sr', 200),
    _mh10('La', 200),
    # 14 atoms: ordered ternary sodalites
    _abh12('Ca', 'Y', 200),
    _abh12('Mg', 'Y', 200),
    _abh12('Sr', 'Y', 200),
    _abh12('Ca', 'Sc', 200),
    _abh12('Ca', 'Mg', 200),
    _abh12('Ca', 'Y', 150),
    # 20 atoms: hexagonal MH9
    _mh9('Y', 150),
)


def dataset_entry(name: str) -> DatasetEntry:
    """The entry called ``name`` (:attr:`DatasetEntry.name`)."""
    for entry in DATASET_ENTRIES:
        if entry.name == name:
            return entry
    raise HydridesInputError(f'no dataset entry {name!r}; e.g. {", ".join(e.name for e in DATASET_ENTRIES[:3])}')


@dataclasses.dataclass(frozen=True)
class LiteratureValue:
    """A published λ / Tc of a hydride, with the formula and μ* it was computed with."""

    formula: str
    prototype: str
    pressure_gpa: float
    #: the Tc formula: ``mcmillan`` (Allen-Dynes-modified McMillan, no f1 f2), ``allen_dynes`` or ``eliashberg``;
    #: None where the paper's abstract does not say
    tc_formula: str | None
    #: (μ*, Tc in K) pairs
    tc_K: tuple[tuple[float, float], ...]  # noqa: N815 - unit suffix
    source: str
    lam: float | None = None
    omega_log_K: float | None = None  # noqa: N815 - unit suffix
    #: how far the values are verified (``docs/superconductivity.md``)
    status: str = 'abstract'


#: published values (see docs/superconductivity.md for their status); only those of compounds the dataset can hold
LITERATURE: tuple[LiteratureValue, ...] = (
    LiteratureValue(
        'H3S',
        'MH3-Im-3m',
        200.0,
        'mcmillan',
        ((0.13, 191.0), (0.10, 204.0)),
        'Duan et al., Sci. Rep. 4, 6968 (2014)',
        lam=2.19,
        omega_log_K=1335.0,
    ),
    LiteratureValue(
        'CaH6',
        'MH6-Im-3m',
        150.0,
        'eliashberg',
        ((0.13, 220.0), (0.10, 235.0)),
        'Wang et al., PNAS 109, 6463 (2012)',
        lam=2.69,
    ),
    LiteratureValue(
        'YH10',
        'MH10-Fm-3m',
        250.0,
        None,
        ((0.13, 305.0), (0.10, 326.0)),
        'Liu et al., PNAS 114, 6990 (2017)',
    ),
    LiteratureValue(
        'YH9',
        'MH9-P6_3/mmc',
        150.0,
        None,
        ((0.13, 253.0), (0.10, 276.0)),
        'Peng et al., PRL 119, 107001 (2017)',
        status='unverified',
    ),
    LiteratureValue(
        'LaH10',
        'MH10-Fm-3m',
        210.0,
        None,
        ((0.13, 274.0), (0.10, 286.0)),
        'Liu et al., PNAS 114, 6990 (2017)',
        lam=3.4,
    ),
)


def literature_for(formula: str, prototype: str, pressure_gpa: float, tolerance_gpa: float = 10.0):
    """The published values of ``formula`` in ``prototype`` within ``tolerance_gpa`` of ``pressure_gpa``."""
    return [
        value
        for value in LITERATURE
        if value.formula == formula
        and value.prototype == prototype
        and abs(value.pressure_gpa - pressure_gpa) <= tolerance_gpa
    ]


#: the quantities of a row compared between two protocols: name -> path in the row
COMPARED_QUANTITIES: dict[str, tuple[str, ...]] = {
    'lambda': ('lambda',),
    'omega_log_K': ('omega_log_K',),
    'tc_allen_dynes_K_mu0_10': ('tc_K', 'allen_dynes_mu0_10'),
    'tc_allen_dynes_K_mu0_13': ('tc_K', 'allen_dynes_mu0_13'),
}


def _lookup(row: dict, path: tuple[str, ...]):
    value = row
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def compare_protocols(rows: list[dict], reference_rows: list[dict]) -> dict:
    """The rows of one protocol against those of a reference protocol, entry by entry (same ``name``).

    Per entry present in both: the signed relative error ``(value - reference) / reference`` of each of
    :data:`COMPARED_QUANTITIES` (where both are dynamically stable), whether the two agree on the stability, and the
    ratios of the EPC wall times and of the CPU times the QE programs printed (``epc_cpu_s``: unlike the wall time it
    does not grow when other jobs share the cores). ``summary`` holds, per quantity, the median and the largest
    absolute relative error over the entries, the median and largest time ratios and the number of entries whose
    stability agrees.
    """
    by_name = {row['name']: row for row in rows}
    entries = []
    for reference in reference_rows:
        row = by_name.get(reference['name'])
        if row is None:
            continue
        record: dict = {
            'name': reference['name'],
            'status': row.get('status'),
            'reference_status': reference.get('status'),
            'stability_agrees': row.get('status') == reference.get('status'),
        }
        for key, name in (('epc_wall_s', 'wall_time_ratio'), ('epc_cpu_s', 'cpu_time_ratio')):
            if row.get(key) and reference.get(key):
                record[name] = round(row[key] / reference[key], 4)
        if row.get('status') == reference.get('status') == 'stable':
            errors = {}
            for name, path in COMPARED_QUANTITIES.items():
                value, expected = _lookup(row, path), _lookup(reference, path)
                if isinstance(value, (int, float)) and isinstance(expected, (int, float)) and expected:
                    errors[name] = round((value - expected) / expected, 4)
            record['relative_errors'] = errors
            record['values'] = {name: _lookup(row, path) for name, path in COMPARED_QUANTITIES.items()}
            record['reference_values'] = {name: _lookup(reference, path) for name, path in COMPARED_QUANTITIES.items()}
        entries.append(record)
    summary: dict = {'entries': len(entries), 'stability_agrees': sum(entry['stability_agrees'] for entry in entries)}
    for name in COMPARED_QUANTITIES:
        errors = [abs(entry['relative_errors'][name]) for entry in entries if name in entry.get('relative_errors', {})]
        summary[name] = {
            'compared': len(errors),
            'median_abs_relative_error': _median(errors),
            'max_abs_relative_error': max(errors) if errors else None,
        }
    for name in ('wall_time_ratio', 'cpu_time_ratio'):
        ratios = [entry[name] for entry in entries if name in entry]
        summary[name] = {'median': _median(ratios), 'max': max(ratios) if ratios else None}
    return {'entries': entries, 'summary': summary}


#: the Tc formulas of a row's ``tc_K`` (keys ``<formula>_mu<μ* label>``), also the names of :class:`LiteratureValue`
ROW_TC_FORMULAS = ('mcmillan', 'allen_dynes', 'eliashberg')


def _relative(value, reference: float) -> float | None:
    """``(value - reference) / reference`` rounded to 4 decimals, None when ``value`` is not a number."""
    return round((value - reference) / reference, 4) if isinstance(value, (int, float)) else None


def compare_with_literature(rows: list[dict]) -> list[dict]:
    """Our values beside the published ones (:data:`LITERATURE`) for every row whose compound has one.

    The Tc is compared with the formula and μ* of the publication; where the publication does not say which formula
    (``tc_formula`` None), every formula of the row is listed beside it. λ and ω_log are listed where published.
    """
    comparisons = []
    for row in rows:
        for value in literature_for(row['formula'], row['prototype'], row['pressure_gpa']):
            record: dict = {
                'name': row['name'],
                'source': value.source,
                'literature_pressure_gpa': value.pressure_gpa,
                'literature_status': value.status,
                'status': row.get('status'),
                'tc_formula': value.tc_formula,
                'tc': [],
            }
            formulas = [value.tc_formula] if value.tc_formula else list(ROW_TC_FORMULAS)
            for mustar, published in value.tc_K:
                for formula in formulas:
                    ours = _lookup(row, ('tc_K', f'{formula}_mu{mustar_label(mustar)}'))
                    record['tc'].append(
                        {
                            'mustar': mustar,
                            'formula': formula,
                            'published_K': published,
                            'ours_K': ours,
                            'relative_difference': _relative(ours, published),
                        }
                    )
            for name, published in (('lambda', value.lam), ('omega_log_K', value.omega_log_K)):
                if published is not None:
                    ours = row.get(name)
                    record[name] = {
                        'published': published,
                        'ours': ours,
                        'relative_difference': _relative(ours, published),
                    }
            comparisons.append(record)
    return comparisons
