"""The project's hydride Tc dataset through AiiDA: the structures of :mod:`aiida_hydrides.core.tc_dataset`, relaxed and
computed with ``hydrides.epc.batch``, resumable and written in pieces.

* The starting structures live in the group ``hydrides/tc-dataset`` (one ``StructureData`` per entry, tagged
  ``extras.hydrides.dataset_entry = <entry name>``), created once and reused.
* :func:`run_dataset` takes the entries that have no result yet with the chosen protocol, in the dataset's order (the
  cheapest first), and runs them in chunks of one pressure: each chunk is one ``hydrides.epc.batch`` work chain run in
  this interpreter (Ctrl-C stops it and its QE runs; what finished is kept, and the batch skips it next time).
* After every chunk the rows of all finished entries are written to ``data/tc_dataset/tc_dataset.json`` and the
  chunk's batch, with its relaxations and EPC work chains, to ``data/tc_dataset/archives/piece-XXX.aiida``; both are
  written to a temporary name and renamed, so a file is complete or absent.

A row holds what a Tc model or a user needs: the relaxed structure, its pressure and enthalpy, λ (ours and QE's own),
ω_log, ω̄2, N(E_F) and the hydrogen share of N(E_F), Tc by McMillan, Allen-Dynes and Eliashberg for μ* 0.10 and
0.13, dynamically stable or not (with the lowest frequency), the protocol and the wall times.
"""

from __future__ import annotations

import json
import os
import pathlib

from aiida_hydrides.core import tc_dataset as core
from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'DATASET_FILE',
    'DATASET_PROTOCOLS',
    'DEFAULT_PROTOCOL',
    'GROUP_LABEL',
    'REFERENCE_PROTOCOL',
    'dataset_rows',
    'dataset_structures',
    'default_data_dir',
    'entry_epc',
    'pending_entries',
    'run_dataset',
    'select_entries',
    'write_rows',
)

#: the group of the starting structures
GROUP_LABEL = 'hydrides/tc-dataset'
#: ``extras.hydrides.kind`` of a dataset group
GROUP_KIND = 'tc_dataset'
#: the rows, in ``data/tc_dataset``
DATASET_FILE = 'tc_dataset.json'
ARCHIVES_DIR = 'archives'
#: the ``hydrides.epc.batch`` protocol of the dataset
DEFAULT_PROTOCOL = 'screening'
#: the batch protocol of the reference subset, against which the dataset's error is measured
REFERENCE_PROTOCOL = 'moderate'
#: the protocols ``run_dataset`` computes: the dataset's and the reference's
DATASET_PROTOCOLS = (DEFAULT_PROTOCOL, REFERENCE_PROTOCOL)
#: ``extras.hydrides`` key naming the entry of a starting structure
ENTRY_KEY = 'dataset_entry'
#: statuses of the batch's ``epc`` record that are results (``skipped`` rows carry the reused status)
RESULT_STATUSES = ('done', 'unstable')
MUSTAR_LABELS = ('0_10', '0_13')
TC_FORMULAS = core.ROW_TC_FORMULAS


def default_data_dir() -> pathlib.Path:
    """``data/tc_dataset`` of the source checkout (``$HYDRIDES_TC_DATASET`` overrides it)."""
    if os.environ.get('HYDRIDES_TC_DATASET'):
        return pathlib.Path(os.environ['HYDRIDES_TC_DATASET'])
    return pathlib.Path(__file__).resolve().parent.parent / 'data' / 'tc_dataset'


def select_entries(names=None, limit: int | None = None) -> list[core.DatasetEntry]:
    """The entries called ``names`` (all when empty), in dataset order, at most ``limit``."""
    entries = [core.dataset_entry(name) for name in names] if names else list(core.DATASET_ENTRIES)
    order = {entry.name: index for index, entry in enumerate(core.DATASET_ENTRIES)}
    entries.sort(key=lambda entry: order[entry.name])
    if limit is not None:
        if limit < 1:
            raise HydridesInputError(f'the limit must be a positive number of entries, got {limit}')
        entries = entries[:limit]
    return entries


def dataset_structures(entries) -> dict:
    """``{entry name: StructureData}`` of the starting structures, created (stored, tagged, grouped) where missing."""
    from aiida import orm

    from aiida_hydrides.extras import HYDRIDES_EXTRA, get_tags, tag_node

    group, _ = orm.Group.collection.get_or_create(GROUP_LABEL)
    if get_tags(group).get('kind') != GROUP_KIND:
        tag_node(group, kind=GROUP_KIND)
    # the tagged starting structures of these entries: those of this group, and those of no other dataset group, e.g.
    # imported from the committed archives (``verdi archive import``: they carry their tags but not the group) or added
    # to a campaign's group since. One with a result wins, so that an imported entry is not computed again; then the
    # oldest.
    query = orm.QueryBuilder().append(
        orm.StructureData,
        filters={
            f'extras.{HYDRIDES_EXTRA}.kind': 'tc_dataset_structure',
            f'extras.{HYDRIDES_EXTRA}.{ENTRY_KEY}': {'in': [entry.name for entry in entries]},
        },
        project=['*', f'extras.{HYDRIDES_EXTRA}.{ENTRY_KEY}'],
        tag='structure',
    )
    query.append(orm.Group, with_node='structure', project=['id', f'extras.{HYDRIDES_EXTRA}.kind'], outerjoin=True)
    query.order_by({'structure': {'id': 'asc'}})
    memberships: dict = {}
    for node, name, group_id, group_kind in query.iterall():
        # only the groups of a dataset count: a structure of another dataset group is not one of ours
        memberships.setdefault(node.pk, (node, name, set()))[2].add(group_id if group_kind == GROUP_KIND else None)
    found = {}
    for node, name, group_ids in memberships.values():
        if group_ids - {None, group.pk}:
            continue  # a structure of another dataset group
        if name not in found or ('epc' in get_tags(node) and 'epc' not in get_tags(found[name])):
            found[name] = node
    adopted = [
        node for node, _, group_ids in memberships.values() if group.pk not in group_ids and node in found.values()
    ]
    if adopted:
        group.add_nodes(adopted)
    structures = {}
    for entry in entries:
        node = found.get(entry.name)
        if node is None:
            node = orm.StructureData(ase=entry.build())
            node.label = entry.name
            node.store()
            tag_node(
                node,
                kind='tc_dataset_structure',
                formula=entry.formula,
                prototype=entry.prototype,
                pressure_gpa=entry.pressure_gpa,
                natoms=entry.natoms,
                **{ENTRY_KEY: entry.name},
            )
            group.add_nodes(node)
        structures[entry.name] = node
    return structures


def _epc_record(structure, protocol: str) -> dict | None:
    """The result record (``done`` or ``unstable``) of ``structure`` with the EPC protocol ``protocol``, or None.

    The structure's own ``epc`` record is the latest batch's; when that batch ran another protocol (a reference run
    with ``moderate`` after the ``screening`` one), the latest EPC work chain of ``protocol`` that a batch launched for
    this structure and tagged with its result is taken instead.
    """
    from aiida_hydrides.extras import get_tags

    record = get_tags(structure).get('epc') or {}
    if (record.get('protocol') or {}).get('name') == protocol:
        status = record.get('reused_status') if record.get('status') == 'skipped' else record.get('status')
        if status in RESULT_STATUSES:
            return {**record, 'status': status}
    return _tagged_epc_record(structure, protocol)


def _tagged_epc_record(structure, protocol: str) -> dict | None:
    """The record of the latest EPC work chain of ``protocol`` tagged by a batch with a result for ``structure``."""
    from aiida import orm

    from aiida_hydrides.extras import HYDRIDES_EXTRA, get_tags
    from aiida_hydrides.workflows.epc.batch import EPC_KIND

    query = orm.QueryBuilder().append(
        orm.WorkChainNode,
        filters={
            f'extras.{HYDRIDES_EXTRA}.kind': EPC_KIND,
            f'extras.{HYDRIDES_EXTRA}.source_uuid': structure.uuid,
            f'extras.{HYDRIDES_EXTRA}.protocol.name': protocol,
            f'extras.{HYDRIDES_EXTRA}.status': {'in': list(RESULT_STATUSES)},
        },
        tag='epc',
    )
    query.order_by({'epc': {'ctime': 'desc'}})
    found = query.first(flat=True)
    if found is None:
        return None
    tags = get_tags(found)
    return {
        'status': tags['status'],
        'protocol': tags.get('protocol'),
        'batch_uuid': tags.get('batch_uuid'),
        'epc_uuid': found.uuid,
        'relaxed_structure_uuid': tags.get('structure_uuid'),
        'min_frequency_cm': tags.get('min_frequency_cm'),
    }


def entry_epc(name: str, protocol: str = DEFAULT_PROTOCOL):
    """The ``hydrides.epc`` work chain of the result of entry ``name`` with the batch protocol ``protocol``, or None."""
    from aiida import orm

    (entry,) = select_entries([name])
    record = _epc_record(dataset_structures([entry])[name], _epc_protocol(protocol))
    return orm.load_node(record['epc_uuid']) if record and record.get('epc_uuid') else None


def _epc_protocol(batch_protocol: str) -> str:
    """The ``hydrides.epc`` protocol that the batch protocol ``batch_protocol`` uses."""
    from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain

    return EpcBatchWorkChain.get_protocol_inputs(batch_protocol)['epc']['protocol']


def pending_entries(entries, protocol: str = DEFAULT_PROTOCOL) -> list:
    """The entries without a result (done or unstable) of the batch protocol ``protocol``."""
    epc_protocol = _epc_protocol(protocol)
    structures = dataset_structures(entries)
    return [entry for entry in entries if _epc_record(structures[entry.name], epc_protocol) is None]


def _round(value, digits=4):
    return round(float(value), digits) if isinstance(value, (int, float)) else value


def _row(entry, structure, record: dict) -> dict:
    """The committed row of ``entry`` from its EPC work chain."""
    import spglib
    from aiida import orm

    from aiida_hydrides.extras import get_tags
    from aiida_hydrides.timing import qe_cpu_seconds

    epc = orm.load_node(record['epc_uuid'])
    relaxed = orm.load_node(record['relaxed_structure_uuid']) if record.get('relaxed_structure_uuid') else structure
    atoms = relaxed.get_ase()
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    symbol, number = (spglib.get_spacegroup(cell, symprec=0.1) or '? (0)').split()
    tags = get_tags(epc)
    row = {
        'name': entry.name,
        'formula': entry.formula,
        'prototype': entry.prototype,
        'pressure_gpa': entry.pressure_gpa,
        'status': 'stable' if record['status'] == 'done' else 'unstable',
        'space_group': {'symbol': symbol, 'number': int(number.strip('()'))},
        'natoms': len(atoms),
        'structure': {
            'cell': [[round(float(x), 6) for x in vector] for vector in atoms.cell[:]],
            'symbols': atoms.get_chemical_symbols(),
            'scaled_positions': [[round(float(x), 6) for x in position] for position in atoms.get_scaled_positions()],
        },
        'volume_per_atom_A3': round(float(atoms.get_volume()) / len(atoms), 4),
        'enthalpy_dft_ev_per_atom': _round(tags.get('enthalpy_dft_ev'), 6),
        'min_phonon_frequency_cm': _round(record.get('min_frequency_cm'), 1),
        'protocol': tags.get('protocol'),
        'relax_wall_s': tags.get('relax_wall_s'),
        'epc_wall_s': tags.get('epc_wall_s'),
        'epc_cpu_s': qe_cpu_seconds(epc),
        'epc_uuid': epc.uuid,
        'relaxed_structure_uuid': relaxed.uuid,
    }
    if 'phonon_stability' in epc.outputs:
        modes = epc.outputs.phonon_stability.get_dict().get('imaginary_modes', [])
        row['imaginary_modes'] = [mode.get('description', mode) for mode in modes]
    if record['status'] != 'done':
        return row
    tc = epc.outputs.tc.get_dict()
    row.update(
        {
            'lambda': _round(tc.get('lambda')),
            'lambda_qe_a2f': _round(tc.get('lambda_qe_a2f')),
            'lambda_qsum': _round(tc.get('lambda_qsum')),
            'omega_log_K': _round(tc.get('omega_log_K'), 1),
            'omega_2_K': _round(tc.get('omega_2_K'), 1),
            'dos_ef': _round(tc.get('dos_ef')),
            'el_ph_sigma_ry': tc.get('el_ph_sigma_ry'),
            'sigma_plateau_found': tc.get('sigma_plateau_found'),
            'tc_K': {
                f'{formula}_mu{mu}': _round(tc.get(f'tc_{formula}_K_mu{mu}'), 1)
                for formula in TC_FORMULAS
                for mu in MUSTAR_LABELS
            },
        }
    )
    if 'projected_dos' in epc.outputs:
        dos = epc.outputs.projected_dos.get_dict()
        row['dos_ef_states_per_ev_cell'] = _round(dos.get('dos_total_states_per_ev'))
        row['hydrogen_share_of_dos_ef'] = _round(dos.get('fraction_H'))
    return row


def dataset_rows(protocol: str = DEFAULT_PROTOCOL, entries=None) -> list[dict]:
    """The rows of every entry with a result of the batch protocol ``protocol``, in dataset order."""
    entries = list(entries or core.DATASET_ENTRIES)
    epc_protocol = _epc_protocol(protocol)
    structures = dataset_structures(entries)
    rows = []
    for entry in entries:
        record = _epc_record(structures[entry.name], epc_protocol)
        if record is not None and record.get('epc_uuid'):
            rows.append(_row(entry, structures[entry.name], record))
    return rows


def _merged_rows(computed: list[dict], kept: list[dict]) -> list[dict]:
    """The ``computed`` rows and those of ``kept`` whose entry has none, in dataset order."""
    rows = {row['name']: row for row in computed}
    for row in kept:
        rows.setdefault(row['name'], row)
    order = {entry.name: index for index, entry in enumerate(core.DATASET_ENTRIES)}
    return sorted(rows.values(), key=lambda row: order.get(row['name'], len(order)))


def write_rows(data_dir=None) -> pathlib.Path:
    """Write the rows of the profile's finished entries to ``<data_dir>/tc_dataset.json``; return the path.

    ``rows`` are the dataset's (batch protocol :data:`DEFAULT_PROTOCOL`); ``reference`` holds the entries computed
    again with :data:`REFERENCE_PROTOCOL` and the comparison of the two on them (the dataset's error bars). Rows
    already in the file whose entry has no result in this profile are kept (a dataset grown on several machines and
    imported from the archives keeps every row).
    """
    data_dir = pathlib.Path(data_dir or default_data_dir())
    path = data_dir / DATASET_FILE
    existing = json.loads(path.read_text()) if path.exists() else {}
    ordered = _merged_rows(dataset_rows(DEFAULT_PROTOCOL), existing.get('rows', []))
    reference = _merged_rows(dataset_rows(REFERENCE_PROTOCOL), (existing.get('reference') or {}).get('rows', []))
    content = {
        'description': 'Hydride Tc dataset of aiida-hydrides: known prototypes with substituted metals at 150-250 GPa, '
        'relaxed with hydrides.dft.enthalpy and computed with hydrides.epc (batch protocol '
        f'{DEFAULT_PROTOCOL!r}); made with `aiida-hydrides dataset run`',
        'protocol': DEFAULT_PROTOCOL,
        'entries': len(core.DATASET_ENTRIES),
        'rows_count': len(ordered),
        'stable': sum(row['status'] == 'stable' for row in ordered),
        'rows': ordered,
        'reference': {
            'description': f'entries computed again with the batch protocol {REFERENCE_PROTOCOL!r} '
            f'(`aiida-hydrides dataset run --protocol {REFERENCE_PROTOCOL}`) and the {DEFAULT_PROTOCOL!r} rows '
            'compared with them: signed relative errors (screening - reference) / reference',
            'protocol': REFERENCE_PROTOCOL,
            'rows_count': len(reference),
            'comparison': core.compare_protocols(ordered, reference),
            'rows': reference,
        },
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f'.{path.name}.tmp')
    temporary.write_text(json.dumps(content, indent=1) + '\n')
    temporary.rename(path)
    return path


def _next_piece(data_dir: pathlib.Path) -> int:
    pieces = sorted((data_dir / ARCHIVES_DIR).glob('piece-*.aiida'))
    return int(pieces[-1].stem.split('-')[1]) + 1 if pieces else 0


def run_dataset(
    names=None,
    limit: int | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    chunk: int = 1,
    max_concurrent: int = 1,
    computer: str = 'localhost',
    mpiprocs: int | None = None,
    data_dir=None,
    archive: bool = True,
    echo=print,
) -> dict:
    """Compute the pending entries (of ``names``, or all) in chunks of ``chunk`` structures of one pressure.

    :param mpiprocs: MPI processes (and k-point pools) per QE run (default: the computer's default, else 1).
    :return: ``{'ran': [...], 'pending_before': n, 'rows': path}``.
    """
    from aiida_hydrides.codes import ensure_codes
    from aiida_hydrides.labelling import write_archive
    from aiida_hydrides.processes import run_interruptible
    from aiida_hydrides.pseudos import ensure_pseudo_family
    from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain

    if chunk < 1:
        raise HydridesInputError(f'the chunk must hold at least one structure, got {chunk}')
    if protocol not in DATASET_PROTOCOLS:
        raise HydridesInputError(
            f'the dataset is computed with the protocol {DEFAULT_PROTOCOL!r} and checked with {REFERENCE_PROTOCOL!r}, '
            f'not {protocol!r}'
        )
    data_dir = pathlib.Path(data_dir or default_data_dir())
    entries = select_entries(names, limit=None)
    pending = pending_entries(entries, protocol)
    if limit is not None:
        pending = pending[:limit]
    structures = dataset_structures(pending)
    codes = ensure_codes(computer, mpiprocs=None, shorts=['pw', 'ph', 'q2r', 'matdyn', 'projwfc'])
    mpiprocs = mpiprocs or codes['pw'].computer.get_default_mpiprocs_per_machine() or 1
    family = ensure_pseudo_family()
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': mpiprocs}}
    chunks: list[list] = []
    for entry in pending:
        if chunks and len(chunks[-1]) < chunk and chunks[-1][0].pressure_gpa == entry.pressure_gpa:
            chunks[-1].append(entry)
        else:
            chunks.append([entry])
    ran = []
    for members in chunks:
        echo(f'{", ".join(entry.name for entry in members)}: relax + EPC ({protocol})')
        builder = EpcBatchWorkChain.get_builder_from_protocol(
            codes,
            structures={entry.name.replace('-', '_').replace('.', '_'): structures[entry.name] for entry in members},
            pressure=members[0].pressure_gpa,
            protocol=protocol,
            overrides={'max_concurrent': max_concurrent},
            options=options,
            pseudo_family=family.label,
        )
        node = run_interruptible(builder)
        counts = node.outputs.summary.get_dict().get('counts', {}) if 'summary' in node.outputs else {}
        echo(f'  EpcBatchWorkChain<{node.pk}>: exit {node.exit_status}, {counts}')
        piece = None
        if archive:
            piece = write_archive([node], data_dir / ARCHIVES_DIR / f'piece-{_next_piece(data_dir):03d}.aiida')
        write_rows(data_dir)
        ran.append(
            {
                'batch_uuid': node.uuid,
                'entries': [entry.name for entry in members],
                'exit_status': node.exit_status,
                'counts': counts,
                'archive': str(piece) if piece else None,
            }
        )
    return {'pending_before': len(pending), 'ran': ran, 'rows': str(data_dir / DATASET_FILE)}
