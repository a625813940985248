"""Tc training sets from the provenance graph and from external files, as
:class:`~aiida_hydrides.core.tc_model.records.TcRecord` objects.

* :func:`records_from_graph`: one record per finished (exit status 0) ``hydrides.epc`` work chain, queried with
  QueryBuilder, its Tc for one formula and μ*; dynamically unstable ones (no Tc) are skipped. Name ``epc:<uuid>``,
  source ``graph:<uuid>``; features from the outputs (λ, ω_log, the hydrogen share of N(E_F)) and from the
  structure (space group, atoms, E_hull when the screening recorded one).
* :func:`import_external`: an external set, a structure file that ASE reads (extxyz, CIF, POSCAR; one or many
  frames) with the Tc and pressure of each frame in a CSV table (``name``, ``tc_K``, ``pressure_gpa``, optional
  ``formula``) or in the extxyz ``info`` of each frame; optionally stored as ``StructureData`` in a group, tagged
  ``extras.hydrides = {kind: 'external_tc', tc_K, pressure_gpa, source, external_name, ...}``, read back with
  :func:`external_records`.

The format of an external set is described in ``docs/tc_selection.md``.
"""

from __future__ import annotations

import csv
import math
import pathlib

from aiida_hydrides.core.errors import HydridesInputError, StructureReadError
from aiida_hydrides.core.tc_model.records import TcRecord
from aiida_hydrides.tc_dataset import MUSTAR_LABELS, TC_FORMULAS

__all__ = (
    'EPC_PROCESS_TYPE',
    'EXTERNAL_KIND',
    'external_records',
    'import_external',
    'read_external',
    'records_from_graph',
)

#: process type of the ``hydrides.epc`` work chain
EPC_PROCESS_TYPE = 'aiida.workflows:hydrides.epc'
#: ``extras.hydrides.kind`` of the structures of an imported external set
EXTERNAL_KIND = 'external_tc'
#: the columns of an external table
NAME_COLUMN, TC_COLUMN, PRESSURE_COLUMN, FORMULA_COLUMN = 'name', 'tc_K', 'pressure_gpa', 'formula'


def _reduced_formula(symbols) -> str:
    """Reduced formula, elements by atomic number with hydrogen last (``CaYH12``), as the descriptors write it."""
    from ase.data import atomic_numbers

    from aiida_hydrides.core.compositions import Composition

    counts: dict[str, int] = {}
    for symbol in symbols:
        counts[symbol] = counts.get(symbol, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: atomic_numbers[item[0]])
    return Composition(ordered).reduced_formula


def _space_group_number(atoms) -> int | None:
    from aiida_hydrides.core.descriptors import space_group

    try:
        return space_group(atoms)[0]
    except HydridesInputError:
        return None


def _record(name, atoms, pressure_gpa, tc_k, features, source, formula=None) -> TcRecord:
    record = TcRecord(
        name=name,
        formula=formula or _reduced_formula(atoms.get_chemical_symbols()),
        symbols=tuple(atoms.get_chemical_symbols()),
        cell=tuple(tuple(float(x) for x in vector) for vector in atoms.cell[:]),
        positions=tuple(tuple(float(x) for x in position) for position in atoms.positions),
        pressure_gpa=float(pressure_gpa),
        tc_k=None if tc_k is None else float(tc_k),
        features=dict(features),
        source=source,
    )
    record.features.setdefault('natoms', record.natoms)
    record.features.setdefault('hydrogen_fraction', record.hydrogen_fraction)
    return record


# ---------------------------------------------------------------------------------------------------- the graph
def _tc_key(tc_formula: str, mu_star: float) -> str:
    """The key of the EPC ``tc`` output for ``tc_formula`` and ``mu_star``, checked."""
    from aiida_hydrides.core.superconductivity.summary import tc_key

    if tc_formula not in TC_FORMULAS:
        raise HydridesInputError(
            f'unknown Tc formula {tc_formula!r}; the dataset formulas are {", ".join(TC_FORMULAS)}'
        )
    try:
        mu = float(mu_star)
    except (TypeError, ValueError):
        raise HydridesInputError(f'mu* must be a number, got {mu_star!r}') from None
    if not 0 <= mu < 1:
        raise HydridesInputError(f'mu* must be within [0, 1), got {mu}; the EPC computes {", ".join(MUSTAR_LABELS)}')
    return tc_key(tc_formula, mu)


def _load_group(group):
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    if isinstance(group, orm.Group):
        return group
    try:
        return orm.load_group(group)
    except (NotExistent, MultipleObjectsError, ValueError):
        raise HydridesInputError(f'no group {group!r} (label, PK or UUID); `verdi group list -a` lists them') from None


def _epc_uuids_of_group(group) -> set:
    """The ``hydrides.epc`` work chains of a group: its members, those run on a member structure, and those that a
    batch recorded on a member (``extras.hydrides.epc.epc_uuid``)."""
    from aiida import orm

    from aiida_hydrides.extras import get_tags

    uuids = set()
    members = orm.QueryBuilder().append(orm.Group, filters={'id': group.pk}, tag='group')
    members.append(orm.Node, with_group='group', project='*')
    structures = []
    for (node,) in members.iterall():
        if isinstance(node, orm.WorkChainNode) and node.process_type == EPC_PROCESS_TYPE:
            uuids.add(node.uuid)
        elif isinstance(node, orm.StructureData):
            structures.append(node.pk)
            epc_uuid = (get_tags(node).get('epc') or {}).get('epc_uuid')
            if epc_uuid:
                uuids.add(epc_uuid)
    if structures:
        query = orm.QueryBuilder().append(orm.StructureData, filters={'id': {'in': structures}}, tag='structure')
        query.append(
            orm.WorkChainNode,
            with_incoming='structure',
            filters={'process_type': EPC_PROCESS_TYPE},
            project='uuid',
        )
        uuids.update(uuid for (uuid,) in query.iterall())
    return uuids


def _tags_chain(node, depth: int = 3) -> list[dict]:
    """The ``hydrides`` extras of ``node`` and of the structures it was made from (``source_uuid``), nearest first."""
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    from aiida_hydrides.extras import get_tags

    chain = [get_tags(node)]
    while len(chain) < depth and chain[-1].get('source_uuid'):
        try:
            chain.append(get_tags(orm.load_node(chain[-1]['source_uuid'])))
        except NotExistent:
            break
    return chain


def e_hull_from_tags(tags: dict) -> tuple[float | None, str | None]:
    """E_hull (meV/atom) recorded on a structure by the screening (the DFT value first, then the LAM one) or as
    ``e_hull_mev``, with where it came from."""
    screen = tags.get('screen') or {}
    for stage in ('dft_hull', 'lam_hull'):
        value = (screen.get(stage) or {}).get('value')
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value), stage
    value = tags.get('e_hull_mev')
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value), 'e_hull_mev'
    return None, None


def _pressure(chain: list[dict], epc_tags: dict, node) -> float | None:
    for tags in (*chain, epc_tags):
        if isinstance(tags.get('pressure_gpa'), (int, float)):
            return float(tags['pressure_gpa'])
    if 'scf_parameters' in node.outputs:
        parameters = node.outputs.scf_parameters.get_dict()
        if isinstance(parameters.get('pressure'), (int, float)) and parameters.get('pressure_units', 'kbar') == 'kbar':
            return float(parameters['pressure']) / 10.0
    return None


def records_from_graph(
    tc_formula: str = 'allen_dynes', mu_star: float = 0.10, group=None, skipped: list | None = None
) -> list[TcRecord]:
    """One record per finished (exit status 0), dynamically stable ``hydrides.epc`` work chain with a Tc for
    ``tc_formula`` and ``mu_star``, oldest first.

    :param tc_formula: ``mcmillan``, ``allen_dynes`` or ``eliashberg``
    :param mu_star: the Coulomb pseudopotential of the label (the EPC computes 0.10 and 0.13)
    :param group: only the EPC work chains of this group (label, PK, UUID or ``Group``): its members, those run on a
        member structure, and those a batch recorded on a member (``extras.hydrides.epc.epc_uuid``)
    :param skipped: a list that receives ``{uuid, reason}`` of every work chain left out (unstable, no such Tc, no
        pressure)
    :raises HydridesInputError: for an unknown formula, a mu* out of range, an unknown group, or when work chains
        exist but none has a Tc for ``tc_formula`` and ``mu_star``
    """
    from aiida import orm

    from aiida_hydrides.extras import get_tags

    key = _tc_key(tc_formula, mu_star)
    skipped = skipped if skipped is not None else []
    filters = {
        'process_type': EPC_PROCESS_TYPE,
        'attributes.process_state': 'finished',
        'attributes.exit_status': 0,
    }
    if group is not None:
        uuids = _epc_uuids_of_group(_load_group(group))
        if not uuids:
            return []
        filters['uuid'] = {'in': sorted(uuids)}
    query = orm.QueryBuilder().append(orm.WorkChainNode, filters=filters, project='*')
    query.order_by({orm.WorkChainNode: {'ctime': 'asc'}})
    records, keys_seen = [], set()
    for (node,) in query.iterall():
        if 'tc' not in node.outputs:
            skipped.append({'uuid': node.uuid, 'reason': 'no tc output'})
            continue
        stability = node.outputs.phonon_stability.get_dict() if 'phonon_stability' in node.outputs else {}
        if stability.get('stable') is False:
            skipped.append({'uuid': node.uuid, 'reason': 'dynamically unstable'})
            continue
        tc = node.outputs.tc.get_dict()
        keys_seen.update(name for name in tc if name.startswith('tc_'))
        value = tc.get(key)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            skipped.append({'uuid': node.uuid, 'reason': f'no {key}'})
            continue
        structure = node.inputs.structure
        atoms = structure.get_ase()
        chain = _tags_chain(structure)
        epc_tags = get_tags(node)
        pressure = _pressure(chain, epc_tags, node)
        if pressure is None:
            skipped.append({'uuid': node.uuid, 'reason': 'no pressure (extras or scf output)'})
            continue
        features = {name: tc[name] for name in ('lambda', 'omega_log_K') if tc.get(name) is not None}
        if 'projected_dos' in node.outputs:
            share = node.outputs.projected_dos.get_dict().get('fraction_H')
            if share is not None:
                features['hydrogen_share_of_dos_ef'] = float(share)
        number = next((tags['space_group_number'] for tags in chain[:1] if tags.get('space_group_number')), None)
        features['space_group_number'] = number or _space_group_number(atoms)
        for tags in chain:
            e_hull, _ = e_hull_from_tags(tags)
            if e_hull is not None:
                features['e_hull_mev'] = e_hull
                break
        formula = next((tags['formula'] for tags in chain if tags.get('formula')), None)
        records.append(
            _record(
                f'epc:{node.uuid}',
                atoms,
                pressure,
                max(0.0, float(value)),
                features,
                f'graph:{node.uuid}',
                formula=formula,
            )
        )
    if not records and keys_seen and key not in keys_seen:
        raise HydridesInputError(f'no EPC work chain has {key!r}; their Tc keys are {sorted(keys_seen)}')
    return records


# ---------------------------------------------------------------------------------------------------- external sets
def _number(value, what: str, where: str, minimum: float | None = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HydridesInputError(f'{where}: {what} {value!r} is not a number') from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise HydridesInputError(f'{where}: {what} must be a finite number >= {minimum:g}, got {value!r}')
    return number


def _read_table(table) -> dict:
    """name -> ``{tc_K, pressure_gpa, formula}`` of a CSV table, checked."""
    path = pathlib.Path(table)
    if not path.is_file():
        raise HydridesInputError(
            f'the Tc table {path} does not exist (a CSV file with columns name, tc_K, pressure_gpa)'
        )
    try:
        with path.open(newline='', encoding='utf-8-sig') as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exception:
        raise HydridesInputError(f'cannot read the Tc table {path}: {exception}') from None
    if not rows:
        raise HydridesInputError(f'the Tc table {path} has no rows (a header line, then one line per structure)')
    columns = {(name or '').strip(): name for name in header}
    missing = [name for name in (NAME_COLUMN, TC_COLUMN, PRESSURE_COLUMN) if name not in columns]
    if missing:
        raise HydridesInputError(
            f'the Tc table {path} lacks the column(s) {", ".join(missing)}; it has {", ".join(sorted(columns))} '
            f'(needed: {NAME_COLUMN}, {TC_COLUMN}, {PRESSURE_COLUMN}; optional: {FORMULA_COLUMN})'
        )
    result = {}
    for line, row in enumerate(rows, start=2):
        where = f'{path.name} line {line}'
        name = (row.get(columns[NAME_COLUMN]) or '').strip()
        if not name:
            raise HydridesInputError(f'{where}: empty name')
        if name in result:
            raise HydridesInputError(f'{where}: the name {name!r} appears twice')
        formula = (row.get(columns[FORMULA_COLUMN]) or '').strip() if FORMULA_COLUMN in columns else ''
        result[name] = {
            'tc_K': _number(row.get(columns[TC_COLUMN]), TC_COLUMN, where),
            'pressure_gpa': _number(row.get(columns[PRESSURE_COLUMN]), PRESSURE_COLUMN, where),
            'formula': formula or None,
        }
    return result


def _read_frames(path, format=None) -> list:  # noqa: A002 - the name ASE users know
    """Every frame of a structure file, validated."""
    import ase.io

    from aiida_hydrides.core.structures import guess_format, validate_structure

    path = pathlib.Path(path)
    if not path.is_file():
        raise StructureReadError(f'structure file not found: {path}')
    fmt = format or guess_format(path)
    try:
        frames = ase.io.read(str(path), index=':', format=fmt)
    except Exception as exception:  # noqa: BLE001 - ASE readers raise anything on malformed content
        text = str(exception).strip() or type(exception).__name__
        raise StructureReadError(
            f'could not read {path} ({fmt or "format guessed by ASE"}): {text}; give an extxyz, CIF or POSCAR file'
        ) from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise StructureReadError(f'{path} holds no structure')
    for index, atoms in enumerate(frames):
        validate_structure(atoms, source=f'{path} frame {index}')
    return frames


def _same_composition(formula: str, symbols) -> bool:
    from ase.formula import Formula

    try:
        given = Formula(formula).reduce()[0].count()
    except ValueError:
        return False
    return given == Formula.from_list(list(symbols)).reduce()[0].count()


def read_external(path, table=None, format=None, source: str | None = None) -> list[TcRecord]:  # noqa: A002
    """The records of an external set, without AiiDA.

    :param path: a structure file ASE reads (extxyz, CIF, POSCAR, ...), one or many frames. A frame is named by its
        ``name`` info (extxyz), else by the file name (one frame) or ``<file stem>-<index>`` (0-based).
    :param table: a CSV file with the columns ``name``, ``tc_K``, ``pressure_gpa`` and optionally ``formula``, one row
        per frame, matched by name (a file of one frame matches a table of one row whatever their names). Without a
        table, every frame needs ``tc_K`` and ``pressure_gpa`` in its extxyz info.
    :param format: the ASE format, when the file name does not tell it
    :raises HydridesInputError: for an unreadable file or table, missing columns or values, names that do not match,
        a ``formula`` that disagrees with the structure
    """
    path = pathlib.Path(path)
    frames = _read_frames(path, format)
    source = source or f'file:{path.name}'
    names = []
    for index, atoms in enumerate(frames):
        name = str(atoms.info.get('name') or '').strip()
        names.append(name or (path.stem if len(frames) == 1 else f'{path.stem}-{index}'))
    if len(set(names)) != len(names):
        repeated = sorted({name for name in names if names.count(name) > 1})
        raise HydridesInputError(f'{path}: frames must have unique names; repeated: {repeated[:5]}')
    if table is not None:
        rows = _read_table(table)
        if len(frames) == 1 and len(rows) == 1:
            names = list(rows)
        unmatched_rows = [name for name in rows if name not in names]
        unmatched_frames = [name for name in names if name not in rows]
        if unmatched_rows or unmatched_frames:
            raise HydridesInputError(
                f'the names of {pathlib.Path(table).name} and {path.name} do not match: table rows without a frame '
                f'{unmatched_rows[:5]}, frames without a row {unmatched_frames[:5]} (frames are named by their extxyz '
                "'name' info, else by the file name or <stem>-<index>)"
            )
    else:
        rows = {}
        for name, atoms in zip(names, frames):
            where = f'{path.name} frame {name!r}'
            missing = [key for key in (TC_COLUMN, PRESSURE_COLUMN) if key not in atoms.info]
            if missing:
                raise HydridesInputError(
                    f'{where} has no {", ".join(missing)} in its info: give a CSV table (name, tc_K, pressure_gpa) or '
                    f'write them in the extxyz comment line (name=... tc_K=... pressure_gpa=...)'
                )
            rows[name] = {
                'tc_K': _number(atoms.info[TC_COLUMN], TC_COLUMN, where),
                'pressure_gpa': _number(atoms.info[PRESSURE_COLUMN], PRESSURE_COLUMN, where),
                'formula': atoms.info.get(FORMULA_COLUMN),
            }
    records = []
    for name, atoms in zip(names, frames):
        row = rows[name]
        formula = row.get('formula')
        if formula and not _same_composition(str(formula), atoms.get_chemical_symbols()):
            raise HydridesInputError(
                f'{name!r}: the formula {formula!r} of the table does not match its structure '
                f'({atoms.get_chemical_formula(mode="hill")})'
            )
        features = {'space_group_number': _space_group_number(atoms)}
        records.append(
            _record(name, atoms, row['pressure_gpa'], row['tc_K'], features, source, formula=formula or None)
        )
    return records


def import_external(path, table=None, format=None, group: str | None = None) -> list[TcRecord]:  # noqa: A002
    """Read an external set (:func:`read_external`) and, with ``group``, store it: one ``StructureData`` per record,
    labelled with its name, tagged ``extras.hydrides = {kind: 'external_tc', external_name, tc_K, pressure_gpa,
    formula, source, natoms, space_group_number}`` and put in the group (created if needed). A structure of the same
    name and source already in the group is kept, not stored again.

    :return: the records (source ``file:<file name>``)
    """
    records = read_external(path, table, format)
    if group is None:
        return records
    from aiida import orm

    from aiida_hydrides.extras import HYDRIDES_EXTRA, tag_node

    group_node, _ = orm.Group.collection.get_or_create(group)
    query = orm.QueryBuilder().append(orm.Group, filters={'id': group_node.pk}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        filters={f'extras.{HYDRIDES_EXTRA}.kind': EXTERNAL_KIND},
        project=[f'extras.{HYDRIDES_EXTRA}.external_name', f'extras.{HYDRIDES_EXTRA}.source'],
    )
    present = {tuple(row) for row in query.all()}
    new = []
    for record in records:
        if (record.name, record.source) in present:
            continue
        node = orm.StructureData(ase=record.to_atoms())
        node.label = record.name
        node.store()
        tag_node(
            node,
            kind=EXTERNAL_KIND,
            external_name=record.name,
            tc_K=record.tc_k,
            pressure_gpa=record.pressure_gpa,
            formula=record.formula,
            source=record.source,
            natoms=record.natoms,
            space_group_number=record.features.get('space_group_number'),
        )
        new.append(node)
    if new:
        group_node.add_nodes(new)
    return records


def external_records(group) -> list[TcRecord]:
    """The records of the external structures (``kind == 'external_tc'``) stored in ``group`` by
    :func:`import_external`."""
    from aiida import orm

    from aiida_hydrides.extras import HYDRIDES_EXTRA

    group_node = _load_group(group)
    query = orm.QueryBuilder().append(orm.Group, filters={'id': group_node.pk}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        filters={f'extras.{HYDRIDES_EXTRA}.kind': EXTERNAL_KIND},
        project=['*', f'extras.{HYDRIDES_EXTRA}'],
    )
    query.order_by({orm.StructureData: {'ctime': 'asc'}})
    records = []
    for node, tags in query.iterall():
        features = {'space_group_number': tags.get('space_group_number')}
        records.append(
            _record(
                tags['external_name'],
                node.get_ase(),
                tags['pressure_gpa'],
                tags.get('tc_K'),
                features,
                tags.get('source', ''),
                formula=tags.get('formula'),
            )
        )
    return records
