"""The structures of a structure search, promoted or not: query them by composition and enthalpy, promote any of them
to ``StructureData`` on request, and the promotion of the minima that can pass the LAM hull at the end of a system
search.

A search job keeps **every** relaxed structure in its ``samples`` array node and the distinct minima of each
composition (within ``window_mev`` of its best) in its ``minima`` array node. Only the minima that can pass the LAM
hull become ``StructureData`` in the search group (:func:`promote_group_minima`, run by
:class:`~aiida_hydrides.workflows.search.system.SystemSearchWorkChain`); the others stay in the arrays, and the
functions here reach them all the same:

- :func:`search_minima`: the minima of a group or search node, with their E_hull among all the minima, filtered by
  composition, enthalpy above the best of their composition and E_hull; promoted or not;
- :func:`sampled_structures`: every relaxed structure (the samples), filtered the same way;
- :func:`promote`: some of those records as tagged ``StructureData`` (made by the calcfunction
  :func:`~aiida_hydrides.calculations.functions.search.extract_minima` from the job's array node, so the provenance
  leads from each structure to its job); a record that is already a ``StructureData`` gives that node back.

Each record is a :class:`SearchStructure`; its ``atoms()`` builds the ``ase.Atoms`` from the arrays on demand.

>>> from aiida_hydrides.workflows.search.minima import promote, search_minima
>>> rows = search_minima('hydrides/search/Ca-Y/200GPa', formula='CaYH12', max_relative_mev=150)  # doctest: +SKIP
>>> [(row.space_group_symbol, round(row.e_hull_mev), row.promoted) for row in rows]  # doctest: +SKIP
[('Fd-3m', 12, True), ('Pm-3m', 31, True), ('P2_1/m', 74, False)]
>>> structure, = promote(rows[2:])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.search.result import USABLE_FLAGS
from aiida_hydrides.extras import HYDRIDES_EXTRA, tag_node

__all__ = (
    'SearchQueryError',
    'SearchStructure',
    'search_jobs',
    'search_minima',
    'sampled_structures',
    'promote',
    'promote_group_minima',
    'group_search_structures',
)

#: the process types of the search job and of the work chains whose jobs are found
_CALC_TYPE = 'aiida.calculations:hydrides.search'
_SYSTEM_TYPE = 'aiida.workflows:hydrides.search.system'
#: kinds of the promoted structures: a minimum of a composition, any other relaxed structure
KIND_MINIMUM, KIND_SAMPLE = 'search_minimum', 'search_sample'
#: E_hull (meV/atom) within this much of the threshold still counts as within it (rounding of the enthalpies)
_TOLERANCE_MEV = 1e-6


class SearchQueryError(HydridesInputError):
    """A source that holds no search, or a filter that cannot be applied (the message says which)."""


@dataclasses.dataclass
class SearchStructure:
    """One relaxed structure of a search job, from its array nodes: a minimum (``rank`` and ``minimum_index`` set) or
    any sample.

    ``relative_mev`` is the enthalpy above the best usable structure of its composition in its job; ``e_hull_mev``
    (minima only, :func:`search_minima`) its E_hull among all the minima of the source, a lower bound when
    ``e_hull_exact`` is False (an element of the system has no elemental minimum yet). ``structure_pk`` is the
    ``StructureData`` it was promoted to, if any.
    """

    formula: str
    enthalpy_per_atom: float
    relative_mev: float
    natoms: int
    flag: str
    origin: str
    generation: int
    calc_uuid: str
    sample_index: int
    pressure_gpa: float | None = None
    rank: int | None = None
    minimum_index: int | None = None
    space_group_number: int | None = None
    space_group_symbol: str | None = None
    duplicates: int | None = None
    duplicate_of: int | None = None
    e_hull_mev: float | None = None
    e_hull_exact: bool | None = None
    structure_pk: int | None = None
    group_uuid: str | None = dataclasses.field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        """``(calc_uuid, sample_index)``: the identity of the structure, whichever array node it is read from."""
        return (self.calc_uuid, self.sample_index)

    @property
    def is_minimum(self) -> bool:
        return self.minimum_index is not None

    @property
    def promoted(self) -> bool:
        """Whether a ``StructureData`` of it exists."""
        return self.structure_pk is not None

    @property
    def structure(self) -> orm.StructureData | None:
        """The ``StructureData`` it was promoted to, or ``None`` (see :func:`promote`)."""
        return orm.load_node(self.structure_pk) if self.structure_pk is not None else None

    def _source(self) -> tuple[str, int]:
        """``(output name, index)`` of the array node the structure is read from: the minima at full precision."""
        if self.minimum_index is not None:
            return 'minima', self.minimum_index
        return 'samples', self.sample_index

    def atoms(self):
        """The structure as ``ase.Atoms``, built from the job's arrays (read once per array node and process)."""
        from aiida_hydrides.data.structure_batch import structures_at

        name, index = self._source()
        return structures_at(_structure_arrays(self.calc_uuid, name), [index])[0]

    def as_dict(self) -> dict:
        """The record as plain data (JSON-serialisable)."""
        data = dataclasses.asdict(self)
        data.pop('group_uuid')
        data['promoted'] = self.promoted
        return data


@functools.lru_cache(maxsize=8)
def _structure_arrays(calc_uuid: str, name: str) -> dict:
    node = orm.load_node(calc_uuid).outputs[name]
    return {key: node.get_array(key) for key in ('numbers', 'positions', 'cells', 'offsets')}


# -- the jobs of a source ------------------------------------------------------------------------------------------
def _load_source(source):
    if isinstance(source, (orm.Group, orm.Node)):
        return source
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    if isinstance(source, int) and not isinstance(source, bool):
        try:
            return orm.load_node(source)
        except NotExistent:
            raise SearchQueryError(f'there is no node with PK {source}') from None
    if isinstance(source, str):
        try:
            return orm.load_group(label=source)
        except NotExistent:
            pass
        try:
            return orm.load_node(source)
        except (NotExistent, MultipleObjectsError, ValueError):
            raise SearchQueryError(f'there is no group {source!r} (nor a node with that UUID)') from None
    raise SearchQueryError(f'a search is a group, a group label or a search node, got {source!r}')


def _finished_in(calc) -> list:
    summary = calc.outputs.summary.get_dict() if 'summary' in calc.outputs else {}
    return [entry['formula'] for entry in summary.get('compositions', []) if entry.get('status') == 'finished']


def search_jobs(source, model_md5: str | None = None) -> tuple[dict, str | None]:
    """The job whose result counts for each composition of ``source``: ``({formula: calc uuid}, group uuid)``.

    ``source``: a search group (or its label; its ``finished`` record names the jobs), a
    ``SystemSearchWorkChain`` node (its summary names the jobs of the compositions it searched or skipped, and its
    group), any other work chain (the ``hydrides.search`` jobs it ran, each for the compositions it finished) or a
    ``SearchCalculation``. ``model_md5`` keeps the compositions of a group searched with that model only.

    :raises SearchQueryError: for a source that is none of those.
    """
    node = _load_source(source)
    if isinstance(node, orm.Group):
        extras = node.base.extras.get(HYDRIDES_EXTRA, None) or {}
        if extras.get('kind') != 'search':
            raise SearchQueryError(f'group {node.label!r} is not a search group (made by `aiida-hydrides search`)')
        jobs = {
            formula: record['calc_uuid']
            for formula, record in extras.get('finished', {}).items()
            if record.get('calc_uuid') and (model_md5 is None or record.get('model_md5') == model_md5)
        }
        return jobs, node.uuid
    if node.process_type == _CALC_TYPE:
        return {formula: node.uuid for formula in _finished_in(node)}, None
    if node.process_type == _SYSTEM_TYPE and 'summary' in node.outputs:
        summary = node.outputs.summary.get_dict()
        jobs = {
            formula: entry['calc_uuid']
            for formula, entry in summary.get('compositions', {}).items()
            if entry.get('status') in ('finished', 'skipped') and entry.get('calc_uuid')
        }
        return jobs, summary.get('group_uuid')
    if isinstance(node, orm.WorkflowNode):
        jobs = {}
        calcs = [child for child in node.called_descendants if child.process_type == _CALC_TYPE]
        for calc in sorted(calcs, key=lambda calc: calc.ctime):
            for formula in _finished_in(calc):
                jobs.setdefault(formula, calc.uuid)
        return jobs, None
    raise SearchQueryError(f'{node.__class__.__name__}<{node.pk}> is not a search (group, work chain or job)')


def _by_job(jobs: dict) -> dict:
    """calc uuid -> (calc node, set of formulas), the jobs missing from the database left out."""
    from aiida.common.exceptions import NotExistent

    result = {}
    for formula, uuid in jobs.items():
        if uuid not in result:
            try:
                result[uuid] = (orm.load_node(uuid), set())
            except NotExistent:
                continue
        result[uuid][1].add(formula)
    return result


def _reduced(formula: str) -> str:
    from aiida_hydrides.core.compositions import parse_formula

    return parse_formula(formula).reduced_formula


def _promoted_structures(calc_uuids, group_uuid: str | None) -> dict:
    """``(calc_uuid, sample_index) -> pk`` of the StructureData promoted from these jobs (those in the group first)."""
    if not calc_uuids:
        return {}
    query = orm.QueryBuilder().append(
        orm.StructureData,
        filters={
            f'extras.{HYDRIDES_EXTRA}.calc_uuid': {'in': sorted(calc_uuids)},
            f'extras.{HYDRIDES_EXTRA}.kind': {'in': [KIND_MINIMUM, KIND_SAMPLE]},
        },
        project=['id', f'extras.{HYDRIDES_EXTRA}.calc_uuid', f'extras.{HYDRIDES_EXTRA}.sample_index'],
    )
    members = set()
    if group_uuid is not None:
        members_query = orm.QueryBuilder().append(orm.Group, filters={'uuid': group_uuid}, tag='group')
        members_query.append(orm.StructureData, with_group='group', project='id')
        members = set(members_query.all(flat=True))
    found = {}
    for pk, uuid, index in sorted(query.all(), key=lambda row: (row[0] not in members, row[0])):
        if index is not None:
            found.setdefault((uuid, int(index)), pk)
    return found


def _filters(rows, formula, max_relative_mev):
    if formula is not None:
        wanted = {_reduced(item) for item in ([formula] if isinstance(formula, str) else formula)}
        rows = [row for row in rows if _reduced(row.formula) in wanted]
    if max_relative_mev is not None:
        rows = [row for row in rows if row.relative_mev <= max_relative_mev + _TOLERANCE_MEV]
    return rows


def _check_limit(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SearchQueryError(f'{name} must be a number (meV/atom), got {value!r}')


# -- queries -------------------------------------------------------------------------------------------------------
def search_minima(
    source,
    formula=None,
    max_relative_mev: float | None = None,
    max_ehull_mev: float | None = None,
    promoted: bool | None = None,
    model_md5: str | None = None,
) -> list[SearchStructure]:
    """The distinct minima of a search (see :func:`search_jobs` for ``source``), promoted to ``StructureData`` or
    not, lowest enthalpy first within each composition.

    :param formula: keep this composition (a formula in any form, ``'CaYH12'`` or ``'Ca2Y2H24'``) or these.
    :param max_relative_mev: keep the minima within this many meV/atom of the best of their composition.
    :param max_ehull_mev: keep the minima whose E_hull (among all the minima of the source, or its lower bound when
        an element has no elemental minimum yet) is at most this many meV/atom.
    :param promoted: ``True``: only those that are ``StructureData``; ``False``: only those that are not.
    :param model_md5: with a group, only the compositions searched with this model.
    """
    from aiida_hydrides.core.hull import e_hull_bounds

    _check_limit('max_relative_mev', max_relative_mev)
    _check_limit('max_ehull_mev', max_ehull_mev)
    jobs, group_uuid = search_jobs(source, model_md5)
    rows = []
    for uuid, (calc, formulas) in _by_job(jobs).items():
        if 'minima' not in calc.outputs:
            continue
        node = calc.outputs.minima
        if node.base.attributes.get('n_structures', 0) == 0:
            continue
        names = ('formula', 'enthalpy_per_atom', 'relative_mev', 'natoms', 'flag', 'origin', 'generation')
        names += ('sample_index', 'rank', 'space_group_number', 'space_group_symbol', 'duplicates')
        arrays = {name: node.get_array(name) for name in names}
        pressure = node.base.attributes.get('pressure_gpa', None)
        for k in np.flatnonzero(np.isin(arrays['formula'], sorted(formulas))):
            rows.append(
                SearchStructure(
                    formula=str(arrays['formula'][k]),
                    enthalpy_per_atom=float(arrays['enthalpy_per_atom'][k]),
                    relative_mev=float(arrays['relative_mev'][k]),
                    natoms=int(arrays['natoms'][k]),
                    flag=str(arrays['flag'][k]),
                    origin=str(arrays['origin'][k]),
                    generation=int(arrays['generation'][k]),
                    calc_uuid=uuid,
                    sample_index=int(arrays['sample_index'][k]),
                    pressure_gpa=pressure,
                    rank=int(arrays['rank'][k]),
                    minimum_index=int(k),
                    space_group_number=int(arrays['space_group_number'][k]),
                    space_group_symbol=str(arrays['space_group_symbol'][k]),
                    duplicates=int(arrays['duplicates'][k]),
                    group_uuid=group_uuid,
                )
            )
    if rows:
        for row, bound in zip(rows, e_hull_bounds([(row.formula, row.enthalpy_per_atom) for row in rows]), strict=True):
            row.e_hull_mev, row.e_hull_exact = 1000.0 * bound.e_hull, bound.exact
    promoted_pks = _promoted_structures({row.calc_uuid for row in rows}, group_uuid)
    for row in rows:
        row.structure_pk = promoted_pks.get(row.key)
    rows = _filters(rows, formula, max_relative_mev)
    if max_ehull_mev is not None:
        rows = [row for row in rows if row.e_hull_mev <= max_ehull_mev + _TOLERANCE_MEV]
    if promoted is not None:
        rows = [row for row in rows if row.promoted == bool(promoted)]
    return sorted(rows, key=lambda row: (row.formula, row.enthalpy_per_atom, row.calc_uuid, row.sample_index))


def sampled_structures(
    source,
    formula=None,
    max_relative_mev: float | None = None,
    usable_only: bool = True,
    distinct_only: bool = False,
) -> list[SearchStructure]:
    """Every relaxed structure of a search (see :func:`search_jobs` for ``source``), lowest enthalpy first within each
    composition; the minima among them carry their ``rank``, ``minimum_index`` and space group.

    :param formula: keep this composition (a formula in any form) or these.
    :param max_relative_mev: keep the structures within this many meV/atom of the best of their composition.
    :param usable_only: leave out the relaxations that exploded or collapsed (and any without a finite enthalpy).
    :param distinct_only: leave out the structures that repeat an earlier one of their search (``duplicate_of``).
    """
    _check_limit('max_relative_mev', max_relative_mev)
    jobs, group_uuid = search_jobs(source)
    rows = []
    for uuid, (calc, formulas) in _by_job(jobs).items():
        if 'samples' not in calc.outputs:
            continue
        node = calc.outputs.samples
        names = set(node.get_arraynames())
        count = node.base.attributes.get('n_structures', 0)
        if count == 0:
            continue
        if 'formula' in names:
            formula_of = node.get_array('formula').astype(str)
        else:
            formula_of = node.get_array('composition_formulas').astype(str)[node.get_array('composition_index')]
        enthalpy = node.get_array('enthalpy_per_atom').astype(float)
        flags = node.get_array('flag').astype(str)
        natoms = np.diff(node.get_array('offsets'))
        origins, generations = node.get_array('origin').astype(str), node.get_array('generation')
        duplicate_of = node.get_array('duplicate_of')
        usable = np.isin(flags, USABLE_FLAGS) & np.isfinite(enthalpy)
        minima = {}
        if 'minima' in calc.outputs and calc.outputs.minima.base.attributes.get('n_structures', 0):
            m = calc.outputs.minima
            for k, (index, rank, number, symbol, duplicates) in enumerate(
                zip(
                    m.get_array('sample_index'),
                    m.get_array('rank'),
                    m.get_array('space_group_number'),
                    m.get_array('space_group_symbol'),
                    m.get_array('duplicates'),
                    strict=True,
                )
            ):
                minima[int(index)] = (k, int(rank), int(number), str(symbol), int(duplicates))
        pressure = node.base.attributes.get('pressure_gpa', None)
        for name in sorted(formulas):
            selected = formula_of == name
            best = enthalpy[selected & usable].min() if np.any(selected & usable) else math.nan
            for i in np.flatnonzero(selected):
                if usable_only and not usable[i]:
                    continue
                if distinct_only and duplicate_of[i] >= 0:
                    continue
                k, rank, number, symbol, duplicates = minima.get(int(i), (None, None, None, None, None))
                rows.append(
                    SearchStructure(
                        formula=name,
                        enthalpy_per_atom=float(enthalpy[i]),
                        relative_mev=float(1000.0 * (enthalpy[i] - best)),
                        natoms=int(natoms[i]),
                        flag=str(flags[i]),
                        origin=str(origins[i]),
                        generation=int(generations[i]),
                        calc_uuid=uuid,
                        sample_index=int(i),
                        pressure_gpa=pressure,
                        rank=rank,
                        minimum_index=k,
                        space_group_number=number,
                        space_group_symbol=symbol,
                        duplicates=duplicates,
                        duplicate_of=int(duplicate_of[i]),
                        group_uuid=group_uuid,
                    )
                )
    promoted_pks = _promoted_structures({row.calc_uuid for row in rows}, group_uuid)
    for row in rows:
        row.structure_pk = promoted_pks.get(row.key)
    rows = _filters(rows, formula, max_relative_mev)
    return sorted(
        rows,
        key=lambda row: (row.formula, not math.isfinite(row.enthalpy_per_atom), row.enthalpy_per_atom, row.calc_uuid),
    )


# -- promotion -----------------------------------------------------------------------------------------------------
def _tags(record: SearchStructure, calc, structure, system, workchain_uuid) -> dict:
    """The ``hydrides`` extra of a promoted structure (the schema of :mod:`aiida_hydrides.extras`)."""
    from aiida_hydrides.extras import symmetry_tags

    summary = calc.outputs.summary.get_dict() if 'summary' in calc.outputs else {}
    tags = dict(
        kind=KIND_MINIMUM if record.is_minimum else KIND_SAMPLE,
        formula=record.formula,
        cell_formula=structure.get_formula(mode='hill_compact'),
        method='lam',
        system=system,
        pressure_gpa=record.pressure_gpa,
        enthalpy_lam_ev=record.enthalpy_per_atom,
        e_above_best_mev=record.relative_mev,
        rank=record.rank,
        natoms=record.natoms,
        origin=record.origin,
        generation=record.generation,
        flag=record.flag,
        duplicates=record.duplicates,
        sample_index=record.sample_index,
        model={'filename': summary.get('model'), 'md5': summary.get('model_md5')},
        calc_uuid=record.calc_uuid,
        workchain_uuid=workchain_uuid,
    )
    if record.is_minimum:
        tags.update(space_group_number=record.space_group_number, space_group_symbol=record.space_group_symbol)
    else:
        symmetry = symmetry_tags(structure)
        tags.update(
            space_group_number=symmetry['space_group_number'], space_group_symbol=symmetry['space_group_symbol']
        )
    return tags


def _group_system(group) -> str | None:
    if group is None:
        return None
    return (group.base.extras.get(HYDRIDES_EXTRA, None) or {}).get('system')


def promote(
    records,
    group=None,
    workchain_uuid: str | None = None,
    metadata: dict | None = None,
) -> list[orm.StructureData]:
    """The structures of ``records`` (:class:`SearchStructure` from :func:`search_minima` or
    :func:`sampled_structures`) as tagged ``StructureData``, in their order; idempotent.

    A record already promoted gives its node back; the others are made in one call of the calcfunction
    :func:`~aiida_hydrides.calculations.functions.search.extract_minima` from the array nodes of their jobs and tagged
    with the ``hydrides`` extra (``kind`` ``search_minimum`` for a minimum, ``search_sample`` for another structure).
    Minima go to their search's group (that of the source they were queried from), which the screening reads; with
    ``group`` (a group or its label) every structure goes there instead.

    :param workchain_uuid: recorded in the tags (the work chain that promotes them; ``None`` on request).
    :param metadata: of the calcfunction (e.g. its ``call_link_label`` inside a work chain).
    """
    from aiida_hydrides.calculations.functions.search import extract_minima

    records = list(records)
    if not all(isinstance(record, SearchStructure) for record in records):
        raise SearchQueryError('promote takes the records of search_minima or sampled_structures')
    if group is not None and not isinstance(group, orm.Group):
        try:
            group = orm.load_group(label=str(group))
        except Exception:  # noqa: BLE001 - NotExistent or a malformed label
            raise SearchQueryError(f'there is no group {group!r}') from None
    groups = {}

    def search_group(record):
        """The search group the record was queried from, if any."""
        if record.group_uuid is None:
            return None
        if record.group_uuid not in groups:
            groups[record.group_uuid] = orm.load_group(uuid=record.group_uuid)
        return groups[record.group_uuid]

    def target(record):
        """The group a promoted record goes to: ``group``, else the search group of a minimum, else none."""
        if group is not None:
            return group
        return search_group(record) if record.is_minimum else None

    existing = _promoted_structures({record.calc_uuid for record in records}, group.uuid if group else None)
    result: dict = {}
    todo: dict = {}
    for record in records:
        pk = existing.get(record.key)
        if pk is not None:
            result[record.key] = orm.load_node(pk)
        else:
            todo.setdefault(record.key, record)
    if todo:
        calcs = {uuid: orm.load_node(uuid) for uuid in {record.calc_uuid for record in todo.values()}}
        selection, batches, labels = {}, {}, {}
        for record in todo.values():
            name, index = record._source()
            label = f'{name}_{calcs[record.calc_uuid].pk}'
            batches[label] = calcs[record.calc_uuid].outputs[name]
            selection.setdefault(label, []).append(index)
            labels[record.key] = f'{label}_{index}'
        made = extract_minima(orm.Dict(selection), **batches, metadata=metadata or {})
        for key, record in todo.items():
            structure = made[labels[key]]
            system = _group_system(search_group(record)) or _group_system(target(record))
            tag_node(structure, **_tags(record, calcs[record.calc_uuid], structure, system, workchain_uuid))
            result[key] = structure
    # into their groups: the new ones, and those found outside the group they belong to
    additions: dict = {}
    for record in records:
        home = target(record)
        if home is not None:
            additions.setdefault(home.uuid, (home, {}))[1][record.key] = result[record.key]
    for home, nodes in additions.values():
        members = orm.QueryBuilder().append(orm.Group, filters={'uuid': home.uuid}, tag='group')
        members.append(orm.StructureData, with_group='group', project='id')
        present = set(members.all(flat=True))
        new = [node for node in nodes.values() if node.pk not in present]
        if new:
            home.add_nodes(new)
            _remove_duplicates(home)
    return [result[record.key] for record in records]


def group_search_structures(group, model_md5: str | None = None) -> dict:
    """The structures of ``group`` promoted from search jobs: ``(calc_uuid, sample_index, formula) -> [pk, ...]``
    (lowest pk first); only those of ``model_md5`` when given. Structures without a job and sample (tagged by hand)
    are left out."""
    filters = {f'extras.{HYDRIDES_EXTRA}.kind': {'in': [KIND_MINIMUM, KIND_SAMPLE]}}
    if model_md5 is not None:
        filters[f'extras.{HYDRIDES_EXTRA}.model.md5'] = model_md5
    query = orm.QueryBuilder().append(orm.Group, filters={'uuid': group.uuid}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        filters=filters,
        project=[
            'id',
            f'extras.{HYDRIDES_EXTRA}.calc_uuid',
            f'extras.{HYDRIDES_EXTRA}.sample_index',
            f'extras.{HYDRIDES_EXTRA}.formula',
        ],
    )
    found: dict = {}
    for pk, uuid, index, formula in sorted(query.all(), key=lambda row: row[0]):
        if uuid is None or index is None:  # tagged by hand, not promoted from a job: not ours to manage
            continue
        found.setdefault((uuid, int(index), formula), []).append(pk)
    return found


def _remove_duplicates(group) -> int:
    """Remove from ``group`` every promoted structure that repeats one of lower PK (same job, same sample): two
    searches promoting the same minimum at the same time leave one. Return the number removed."""
    extra = [pk for pks in group_search_structures(group).values() for pk in pks[1:]]
    if extra:
        group.remove_nodes([orm.load_node(pk) for pk in extra])
    return len(extra)


def _promoted_by_hull(record: SearchStructure, max_ehull_mev: float | None) -> bool:
    """Whether the system search promotes the minimum ``record``: every minimum without a threshold; otherwise the
    vertices of the hull (E_hull 0: the elemental references among them) and the hydrides within the threshold (the
    screening's candidates; an element or alloy enters the hull only through its vertex)."""
    from aiida_hydrides.core.compositions import parse_formula
    from aiida_hydrides.core.screening import is_hydride

    if max_ehull_mev is None or max_ehull_mev < 0 or record.e_hull_mev == 0.0:
        return True
    return is_hydride(parse_formula(record.formula).elements) and record.e_hull_mev <= max_ehull_mev + _TOLERANCE_MEV


def promote_group_minima(
    group,
    model_md5: str,
    max_ehull_mev: float | None,
    workchain_uuid: str | None = None,
    metadata: dict | None = None,
) -> dict:
    """Bring the search group ``group`` to hold, as ``StructureData``, the minima (of the compositions searched with
    the model ``model_md5``, from the job each composition's record names) that can pass the screening's LAM hull:
    every vertex of the hull over all of them (the elemental references among them) and every hydride minimum whose
    E_hull is at most ``max_ehull_mev``. The other minima of the elements (and of alloys without hydrogen) are never
    candidates of the screening and stay in the arrays. ``None`` or a negative threshold: every minimum.

    Idempotent, and the same whichever run calls it: a minimum already in the group is not made again, one promoted
    outside it is added, minima of a job that the record of their composition does not name leave the group, and a
    minimum promoted twice by two runs at the same time keeps the lower PK. Where an element has no elemental minimum
    yet, the E_hull of the compositions with that element is bounded from below by their enthalpy above the best of
    their composition, and the minima within the threshold of that bound are promoted: E_hull only grows when
    compositions are added, so a minimum left out now never comes within the threshold later.

    Returns ``{'n_minima', 'n_promoted', 'n_added', 'n_removed', 'n_bounded', 'max_ehull_mev', 'per_formula',
    'structures'}``: minima of the group's compositions, of which in the group, made now, stale or repeated ones
    removed, minima placed by a bound only, the threshold, formula -> structures in the group, and the PKs of the
    structures made or added to the group now.
    """
    records = search_minima(group, model_md5=model_md5)
    jobs, _ = search_jobs(group, model_md5)
    wanted = [record for record in records if _promoted_by_hull(record, max_ehull_mev)]
    # minima of a job that the record of their composition does not name give way
    stale = [
        pk
        for (uuid, _, formula), pks in group_search_structures(group, model_md5).items()
        if formula in jobs and jobs[formula] != uuid
        for pk in pks
    ]
    if stale:
        group.remove_nodes([orm.load_node(pk) for pk in stale])
    members = orm.QueryBuilder().append(orm.Group, filters={'uuid': group.uuid}, tag='group')
    members.append(orm.StructureData, with_group='group', project='id')
    present = set(members.all(flat=True))
    missing = [record for record in wanted if record.structure_pk is None]
    # made now, or promoted already but outside the group (on request, or removed from it): into the group
    lacking = [record for record in wanted if record.structure_pk not in present]
    structures = promote(lacking, workchain_uuid=workchain_uuid, metadata=metadata) if lacking else []
    removed = _remove_duplicates(group)
    in_group = group_search_structures(group, model_md5)
    per_formula: dict = {}
    for uuid, _, formula in in_group:
        if jobs.get(formula) == uuid:
            per_formula[formula] = per_formula.get(formula, 0) + 1
    return {
        'n_minima': len(records),
        'n_promoted': sum(per_formula.values()),
        'n_added': len(missing),
        'n_removed': len(stale) + removed,
        'n_bounded': sum(1 for record in records if record.e_hull_exact is False),
        'max_ehull_mev': None if max_ehull_mev is None or max_ehull_mev < 0 else float(max_ehull_mev),
        'per_formula': per_formula,
        'structures': [structure.pk for structure in structures],
    }
