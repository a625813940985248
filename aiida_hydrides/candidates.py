"""The candidates of a discovery campaign as one table: :func:`candidates` returns a pandas ``DataFrame`` with one row
per candidate structure, read with QueryBuilder from the ``hydrides`` extras (:mod:`aiida_hydrides.extras`).

A **candidate** is a ``StructureData`` tagged with a ``hydrides`` extra whose composition is a hydride (hydrogen and at
least one other element) and that is not derived from another tagged structure of the selection: the DFT relaxation of
a LAM minimum (``kind == 'dft_relaxed'``, ``source_uuid``) or its symmetrized cell belong to the row of the minimum,
whose E_hull(DFT) they give; the literature structures of the Tc records (``kind == 'external_tc'``) are not
candidates either. The selection is the structures of a group (a campaign group, a screen's survivors, any
group) or, without a group, every tagged structure of the profile.

What a row holds, and where it comes from:

======================  ===============================================================================================
column                  source
======================  ===============================================================================================
``uuid``                the structure (a PK differs from profile to profile: the UUID identifies it everywhere)
``formula``             ``formula`` tag, else the reduced formula of the cell
``system``              ``system`` tag (``Ca-Y``), else the elements other than H
``pressure_gpa``        ``pressure_gpa`` tag, else that of the ``epc`` record
``space_group``         ``space_group_symbol`` / ``space_group_number`` tags, else the screen's ``symmetry`` record,
                        else the tags of its DFT relaxation
``natoms``              ``natoms`` tag, else the atoms of the cell
``method``              ``lam`` or ``dft``
``ehull_lam_mev``       the screen's ``lam_hull`` value; without a screen record, the convex hull of the selection's
                        LAM enthalpies at the same pressure (when every element has a reference), meV/atom
``ehull_dft_mev``       the screen's ``dft_hull`` value; else the hull of the DFT enthalpies of the selection (the
                        structure's own, or the lowest of its DFT relaxations) at the same pressure
``tc_K``                Tc of ``tc_formula`` at ``mu_star`` of a ``done`` EPC (``epc`` record, or the tags of its EPC
                        work chain for another formula or mu*)
``lambda``,             λ and ω_log (K) of that EPC
``omega_log_K``
``tc_pred_K``,          ``tc_model.tc_mean_K`` and ``tc_model.tc_spread_K``: the Tc model's prediction
``tc_pred_spread_K``
``rank``, ``stage``     ``selection.rank`` and ``selection.stage`` of the selection helper
``status``              ``epc done`` / ``epc unstable`` / ``epc failed`` (the EPC record), else ``survivor`` (passed the
                        screen), ``failed <stage>`` (the first screen stage it failed), ``screening`` or
                        ``not screened``
======================  ===============================================================================================
"""

from __future__ import annotations

import math
from collections import Counter

from aiida_hydrides.extras import HYDRIDES_EXTRA

__all__ = (
    'COLUMNS',
    'DISPLAY',
    'NUMERIC',
    'EHULL_METHODS',
    'SORT_KEYS',
    'CandidatesError',
    'candidates',
    'TaggedStructure',
    'ehull_column',
    'epc_record',
    'parse_system_elements',
    'resolve_group',
    'root_enthalpies',
    'select_structures',
    'structure_roots',
)

#: the columns of the table, in order
COLUMNS = (
    'uuid',
    'formula',
    'system',
    'pressure_gpa',
    'space_group',
    'space_group_number',
    'natoms',
    'method',
    'ehull_lam_mev',
    'ehull_dft_mev',
    'tc_K',
    'lambda',
    'omega_log_K',
    'tc_pred_K',
    'tc_pred_spread_K',
    'rank',
    'stage',
    'status',
)
#: how the columns are shown, in their order: column -> (short header of the text table, header of the report, format
#: of a value)
DISPLAY = {
    'uuid': ('uuid', 'UUID', lambda value: value[:8]),  # the report shows it whole
    'formula': ('formula', 'formula', str),
    'system': ('system', 'system', str),
    'pressure_gpa': ('P/GPa', 'P (GPa)', lambda value: f'{value:g}'),
    'space_group': ('SG', 'space group', str),
    'natoms': ('atoms', 'atoms', str),
    'ehull_lam_mev': ('Ehull LAM', 'E_hull LAM (meV/atom)', lambda value: f'{value:.1f}'),
    'ehull_dft_mev': ('Ehull DFT', 'E_hull DFT (meV/atom)', lambda value: f'{value:.1f}'),
    'tc_K': ('Tc/K', 'Tc (K)', lambda value: f'{value:.1f}'),
    'lambda': ('lambda', 'λ', lambda value: f'{value:.2f}'),
    'omega_log_K': ('wlog/K', 'ω_log (K)', lambda value: f'{value:.0f}'),
    'tc_pred_K': ('Tc pred/K', 'Tc predicted (K)', lambda value: f'{value:.0f}'),
    'tc_pred_spread_K': ('+-', '±', lambda value: f'{value:.0f}'),
    'rank': ('rank', 'rank', str),
    'stage': ('stage', 'stage', str),
    'status': ('status', 'status', str),
}
#: the numeric columns of :data:`DISPLAY` (right-aligned in a text table)
NUMERIC = frozenset(
    {'pressure_gpa', 'natoms', 'ehull_lam_mev', 'ehull_dft_mev', 'tc_K', 'lambda', 'omega_log_K', 'rank'}
    | {'tc_pred_K', 'tc_pred_spread_K'}
)
#: ``sort`` values: Tc (highest first), E_hull (lowest first), formula, selection rank, predicted Tc (highest first)
SORT_KEYS = ('tc', 'ehull', 'formula', 'rank', 'tc_pred')
#: which E_hull ``ehull_max`` and ``sort='ehull'`` use: DFT where known else LAM (``auto``), LAM only, DFT only
EHULL_METHODS = ('auto', 'lam', 'dft')
#: structures derived from another tagged structure (their ``source_uuid``): part of that structure's row
DERIVED_KINDS = ('dft_relaxed', 'symmetrized')
#: tagged structures that are never candidates: the literature structures of the Tc records (``tc_records``)
NOT_CANDIDATE_KINDS = ('external_tc',)
#: pressures closer than this (GPa) are the same
_PRESSURE_TOLERANCE = 1e-6


class CandidatesError(ValueError):
    """A group, system, formula or option that cannot give a table; the message says what is wrong."""


def resolve_group(group):
    """The ``orm.Group`` of ``group`` (a group, or its label, PK or UUID); ``None`` for ``None``.

    :raises CandidatesError: when there is no such group.
    """
    if group is None:
        return None
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    if isinstance(group, orm.Group):
        return group
    try:
        return orm.load_group(label=str(group))
    except (NotExistent, MultipleObjectsError):
        pass
    try:
        return orm.load_group(group)
    except (NotExistent, MultipleObjectsError, ValueError, TypeError):
        raise CandidatesError(
            f'no group {group!r} (a label, PK or UUID); `verdi group list -a` lists the groups'
        ) from None


def parse_system_elements(system) -> frozenset:
    """The elements other than hydrogen of a chemical system written ``Ca-Y``, ``Ca,Y``, ``CaY`` or ``S``.

    :raises CandidatesError: for a symbol that is not an element, or no element.
    """
    import re

    from aiida_hydrides.core.elements import validate_symbol
    from aiida_hydrides.core.errors import HydridesInputError

    text = str(system).strip()
    parts = [part for part in re.split(r'[\s,;/-]+', text) if part]
    if len(parts) == 1 and not re.fullmatch(r'[A-Z][a-z]?', parts[0]):
        parts = re.findall(r'[A-Z][a-z]?|[^A-Z]+', parts[0])
    try:
        elements = frozenset(validate_symbol(part) for part in parts) - {'H'}
    except HydridesInputError as exception:
        raise CandidatesError(f'cannot read the system {system!r}: {exception}') from None
    if not elements:
        raise CandidatesError(f'the system {system!r} names no element besides hydrogen; write it as A-B, e.g. Ca-Y')
    return elements


def _counts(kinds, sites) -> Counter:
    """Element -> number of atoms of a ``StructureData`` from its ``kinds`` and ``sites`` attributes."""
    symbol_of = {}
    for kind in kinds or []:
        symbols = kind.get('symbols') or [kind.get('name')]
        symbol_of[kind['name']] = symbols[0] if len(symbols) == 1 else kind['name']
    return Counter(symbol_of.get(site['kind_name'], site['kind_name']) for site in sites or [])


def _reduced_formula(counts: Counter) -> str:
    from aiida_hydrides.core.compositions import Composition

    return Composition(counts).reduced_formula


def _float(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def _same_pressure(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) < _PRESSURE_TOLERANCE


class TaggedStructure:
    """A tagged structure of the selection."""

    __slots__ = ('uuid', 'tags', 'counts')

    def __init__(self, uuid, tags, kinds, sites):
        self.uuid = uuid
        self.tags = dict(tags or {})
        self.counts = _counts(kinds, sites)

    @property
    def elements(self) -> frozenset:
        return frozenset(self.counts)

    @property
    def is_hydride(self) -> bool:
        return 'H' in self.counts and len(self.counts) > 1

    @property
    def pressure(self):
        pressure = self.tags.get('pressure_gpa')
        if pressure is None:
            pressure = (self.tags.get('epc') or {}).get('pressure_gpa')
        return None if pressure is None else float(pressure)

    @property
    def formula(self) -> str:
        return self.tags.get('formula') or _reduced_formula(self.counts)


_PROJECT = ['uuid', f'extras.{HYDRIDES_EXTRA}', 'attributes.kinds', 'attributes.sites']


def select_structures(group) -> dict:
    """uuid -> :class:`TaggedStructure` of the tagged structures of ``group`` (of the profile when ``None``), plus the
    structures derived from them (their DFT relaxations), wherever they are."""
    from aiida import orm

    query = orm.QueryBuilder()
    if group is not None:
        query.append(orm.Group, filters={'id': group.pk}, tag='group')
        query.append(orm.StructureData, with_group='group', project=_PROJECT)
    else:
        query.append(orm.StructureData, filters={'extras': {'has_key': HYDRIDES_EXTRA}}, project=_PROJECT)
    structures = {}
    for uuid, tags, kinds, sites in query.iterall():
        if tags:
            structures[uuid] = TaggedStructure(uuid, tags, kinds, sites)
    if group is None:
        return structures
    # derived structures outside the group: a DFT relaxation of a LAM minimum, and that of its symmetrized cell
    sources = list(structures)
    for _ in range(2):
        found = []
        for chunk in _chunks(sources):
            query = orm.QueryBuilder().append(
                orm.StructureData,
                filters={f'extras.{HYDRIDES_EXTRA}.source_uuid': {'in': chunk}},
                project=_PROJECT,
            )
            for uuid, tags, kinds, sites in query.iterall():
                if uuid not in structures and tags:
                    structures[uuid] = TaggedStructure(uuid, tags, kinds, sites)
                    found.append(uuid)
        sources = found
    return structures


def _chunks(values, size: int = 500):
    """``values`` in lists of at most ``size`` (an ``in`` filter of SQLite takes a limited number of values)."""
    values = list(values)
    return [values[start : start + size] for start in range(0, len(values), size)]


def structure_roots(structures: dict) -> dict:
    """uuid -> uuid of the structure it derives from within the selection (itself for a root)."""
    roots = {}
    for uuid in structures:
        seen, current = {uuid}, uuid
        while True:
            source = structures[current].tags.get('source_uuid')
            if not source or source not in structures or source in seen:
                break
            seen.add(source)
            current = source
        roots[uuid] = current
    return roots


def _hull_values(entries: dict) -> dict:
    """uuid -> E_hull (meV/atom) of each ``(counts, enthalpy, pressure)`` entry against the entries at its pressure
    whose elements are a subset of its own; NaN where an element has no reference."""
    from aiida_hydrides.core.hull import ConvexHull

    by_pressure = {}
    for uuid, (counts, enthalpy, pressure) in entries.items():
        by_pressure.setdefault(round(pressure, 6), {})[uuid] = (counts, enthalpy)
    values = {}
    for members in by_pressure.values():
        references = {next(iter(c)) for c, _ in members.values() if len(c) == 1}
        hulls = {}
        for uuid, (counts, _enthalpy) in members.items():
            elements = frozenset(counts)
            if not elements <= references:
                values[uuid] = math.nan
                continue
            if elements not in hulls:
                keys = [key for key, (c, _) in members.items() if frozenset(c) <= elements]
                hull = ConvexHull([(_formula_of(members[key][0]), members[key][1], key) for key in keys])
                hulls[elements] = {point.entry_id: 1000.0 * point.e_hull for point in hull.points}
            values[uuid] = hulls[elements][uuid]
    return values


def _partners(formula: str) -> tuple:
    from aiida_hydrides.core.compositions import parse_formula

    return parse_formula(formula).partners


def _formula_of(counts) -> str:
    return ''.join(f'{symbol}{count}' for symbol, count in counts.items())


def root_enthalpies(structures: dict, roots: dict) -> tuple[dict, dict]:
    """The enthalpies of the root structures for a convex hull: ``(lam, dft)``, each uuid -> ``(counts, enthalpy per
    atom in eV, pressure in GPa)``; the LAM one of a LAM structure, the DFT one of the structure itself or the lowest
    of the structures derived from it (its DFT relaxations) at its pressure."""
    lam, dft = {}, {}
    for uuid, structure in structures.items():
        root = roots[uuid]
        pressure = structures[root].pressure
        if pressure is None:
            continue
        tags = structure.tags
        if uuid == root and tags.get('method') == 'lam' and tags.get('enthalpy_lam_ev') is not None:
            lam[uuid] = (structures[root].counts, float(tags['enthalpy_lam_ev']), pressure)
        value = tags.get('enthalpy_dft_ev')
        if value is not None and _same_pressure(tags.get('pressure_gpa', pressure), pressure):
            if root not in dft or float(value) < dft[root][1]:
                dft[root] = (structures[root].counts, float(value), pressure)
    return lam, dft


def _fallback_hulls(structures: dict, roots: dict) -> tuple[dict, dict]:
    """E_hull (meV/atom) with LAM and with DFT enthalpies of the root structures, from the selection itself."""
    lam, dft = root_enthalpies(structures, roots)
    return _hull_values(lam), _hull_values(dft)


def _epc_tags(uuids) -> dict:
    """epc uuid -> ``hydrides`` tags of those EPC work chains."""
    from aiida import orm

    found = {}
    for chunk in _chunks(sorted(set(uuids))):
        query = orm.QueryBuilder().append(
            orm.WorkflowNode, filters={'uuid': {'in': chunk}}, project=['uuid', f'extras.{HYDRIDES_EXTRA}']
        )
        found.update((uuid, tags or {}) for uuid, tags in query.iterall())
    return found


def epc_record(tags) -> dict:
    """The ``epc`` record with the status it stands for (a ``skipped`` record carries the reused one)."""
    record = dict(tags.get('epc') or {})
    if record.get('status') == 'skipped':
        record['status'] = record.get('reused_status') or 'skipped'
    return record


def _status(tags) -> str:
    record = epc_record(tags)
    if record.get('status'):
        return f'epc {record["status"]}'
    screen = tags.get('screen') or {}
    if not screen:
        return 'not screened'
    if screen.get('passed'):
        return 'survivor'
    if screen.get('failed_stage'):
        return f'failed {screen["failed_stage"]}'
    return 'screening'


def _stage_value(tags, stage):
    return _float(((tags.get('screen') or {}).get(stage) or {}).get('value'))


def _rows(structures: dict, tc_formula: str, mu_star: float) -> list[dict]:
    from aiida_hydrides.core.superconductivity import tc_key

    key = tc_key(tc_formula, mu_star)
    roots = structure_roots(structures)
    candidates = [
        uuid
        for uuid, structure in structures.items()
        if roots[uuid] == uuid and structure.is_hydride and structure.tags.get('kind') not in NOT_CANDIDATE_KINDS
    ]
    derived = {}
    for uuid, root in roots.items():
        if uuid != root:
            derived.setdefault(root, []).append(structures[uuid])
    lam_fallback, dft_fallback = _fallback_hulls(structures, roots)
    epc_uuids = [epc_record(structures[uuid].tags).get('epc_uuid') for uuid in candidates]
    epc_tags = _epc_tags(uuid for uuid in epc_uuids if uuid)
    rows = []
    for uuid in candidates:
        structure = structures[uuid]
        tags = structure.tags
        screen = tags.get('screen') or {}
        record = epc_record(tags)
        tc = lam = omega = math.nan
        if record.get('status') == 'done':
            lam, omega = _float(record.get('lambda')), _float(record.get('omega_log_K'))
            value = record.get(key)
            if value is None:
                value = epc_tags.get(record.get('epc_uuid'), {}).get(key)
            tc = _float(value)
        ehull_lam = _stage_value(tags, 'lam_hull')
        if math.isnan(ehull_lam):
            ehull_lam = lam_fallback.get(uuid, math.nan)
        ehull_dft = _stage_value(tags, 'dft_hull')
        if math.isnan(ehull_dft):
            ehull_dft = dft_fallback.get(uuid, math.nan)
        symmetry = dict(screen.get('symmetry') or {})
        if 'value' not in symmetry:  # no screen: the space group of its DFT relaxation (an EPC batch's input)
            for other in derived.get(uuid, ()):
                if other.tags.get('space_group_number') is not None:
                    symmetry = {
                        'value': other.tags['space_group_number'],
                        'symbol': other.tags.get('space_group_symbol'),
                    }
                    break
        number = tags.get('space_group_number', symmetry.get('value'))
        model = tags.get('tc_model') or {}
        selection = tags.get('selection') or {}
        rank = selection.get('rank')
        rows.append(
            {
                'uuid': uuid,
                'formula': structure.formula,
                'system': tags.get('system') or '-'.join(sorted(structure.elements - {'H'})),
                'pressure_gpa': _float(structure.pressure),
                'space_group': tags.get('space_group_symbol') or symmetry.get('symbol'),
                'space_group_number': None if number is None else int(number),
                'natoms': int(tags.get('natoms') or sum(structure.counts.values())),
                'method': tags.get('method'),
                'ehull_lam_mev': ehull_lam,
                'ehull_dft_mev': ehull_dft,
                'tc_K': tc,
                'lambda': lam,
                'omega_log_K': omega,
                'tc_pred_K': _float(model.get('tc_mean_K')),
                'tc_pred_spread_K': _float(model.get('tc_spread_K')),
                'rank': None if rank is None else int(rank),
                'stage': selection.get('stage'),
                'status': _status(tags),
            }
        )
    return rows


def _check_options(tc_formula, mu_star, sort, method, tc_min, ehull_max):
    from aiida_hydrides.core.superconductivity import FORMULAS

    if tc_formula not in FORMULAS:
        raise CandidatesError(f'unknown Tc formula {tc_formula!r}; choose one of {", ".join(FORMULAS)}')
    if not (isinstance(mu_star, (int, float)) and 0 <= float(mu_star) < 1):
        raise CandidatesError(f'mu* must be a number from 0 to 1, got {mu_star!r}')
    if sort not in SORT_KEYS:
        raise CandidatesError(f'cannot sort by {sort!r}; choose one of {", ".join(SORT_KEYS)}')
    if method not in EHULL_METHODS:
        raise CandidatesError(f'unknown E_hull method {method!r}; choose one of {", ".join(EHULL_METHODS)}')
    for name, value in (('tc_min', tc_min), ('ehull_max', ehull_max)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise CandidatesError(f'{name} must be a finite number, got {value!r}')


def ehull_column(frame, method: str = 'auto'):
    """The E_hull (meV/atom) that ``method`` stands for, as a Series: DFT where known, else LAM (``auto``)."""
    if method == 'lam':
        return frame['ehull_lam_mev']
    if method == 'dft':
        return frame['ehull_dft_mev']
    return frame['ehull_dft_mev'].fillna(frame['ehull_lam_mev'])


def candidates(
    group=None,
    *,
    tc_min: float | None = None,
    ehull_max: float | None = None,
    system=None,
    pressure=None,
    tc_formula: str = 'allen_dynes',
    mu_star: float = 0.10,
    sort: str = 'tc',
    method: str = 'auto',
):
    """The candidate structures of ``group`` (a group, its label, PK or UUID; the whole profile when ``None``) as a
    ``pandas.DataFrame`` with the columns :data:`COLUMNS` (see the module docstring), filtered and sorted.

    :param tc_min: keep the candidates with a computed Tc (``tc_formula``, ``mu_star``) of at least this many K.
    :param ehull_max: keep the candidates whose E_hull (``method``) is at most this many meV/atom.
    :param system: keep the candidates whose elements other than H are among those of ``system`` (``'Ca-Y'`` keeps
        CaH6, YH6 and CaYH12; the order does not matter).
    :param pressure: keep the candidates at this pressure (GPa, or a string with a unit such as ``'2Mbar'``).
    :param tc_formula: the Tc of the ``tc_K`` column: ``allen_dynes`` (default), ``mcmillan``, ``eliashberg``, ...
    :param mu_star: its Coulomb pseudopotential μ* (0.10 or 0.13 are computed by every EPC).
    :param sort: ``tc`` (highest first, then the predicted Tc), ``ehull`` (lowest first), ``formula``, ``rank`` or
        ``tc_pred``; rows without the value come last.
    :param method: the E_hull of ``ehull_max`` and ``sort='ehull'``: ``auto`` (DFT where computed, else LAM),
        ``lam`` or ``dft``.
    :raises CandidatesError: for a group that does not exist or an option that is not valid.
    """
    import pandas as pd

    from aiida_hydrides.core.units import parse_pressure

    _check_options(tc_formula, mu_star, sort, method, tc_min, ehull_max)
    elements = parse_system_elements(system) if system is not None else None
    if pressure is not None:
        try:
            pressure = parse_pressure(pressure)
        except ValueError as exception:
            raise CandidatesError(str(exception)) from None
    group = resolve_group(group)

    rows = _rows(select_structures(group), tc_formula, float(mu_star))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ('space_group_number', 'natoms', 'rank'):
        frame[column] = frame[column].astype('Int64')
    if elements is not None:
        frame = frame[[set(_partners(formula)) <= elements for formula in frame['formula']]]
    if pressure is not None:
        frame = frame[(frame['pressure_gpa'] - pressure).abs() < _PRESSURE_TOLERANCE]
    if tc_min is not None:
        frame = frame[frame['tc_K'] >= tc_min]
    if ehull_max is not None:
        frame = frame[ehull_column(frame, method) <= ehull_max]
    return _sorted(frame, sort, method).reset_index(drop=True)


def _sorted(frame, sort: str, method: str):
    if frame.empty:
        return frame
    frame = frame.assign(_ehull=ehull_column(frame, method))
    if sort == 'tc':
        frame = frame.sort_values(['tc_K', 'tc_pred_K', 'formula', 'uuid'], ascending=[False, False, True, True])
    elif sort == 'tc_pred':
        frame = frame.sort_values(['tc_pred_K', 'tc_K', 'formula', 'uuid'], ascending=[False, False, True, True])
    elif sort == 'ehull':
        frame = frame.sort_values(['_ehull', 'formula', 'uuid'])
    elif sort == 'rank':
        frame = frame.sort_values(['rank', 'formula', 'uuid'])
    else:
        frame = frame.sort_values(['formula', '_ehull', 'uuid'])
    return frame.drop(columns='_ehull')
