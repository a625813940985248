"""The Tc dataset through AiiDA: starting structures made once and queryable, pending entries, rows kept, the CLI."""

import json

import pytest

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.tc_dataset import DATASET_ENTRIES
from aiida_hydrides.extras import tag_node

#: entries computed last: never in the committed archives that other tests of the session import into the profile
#: (an imported entry with a result is adopted, and is no longer pending)
LAST = DATASET_ENTRIES[-3:]


@pytest.fixture
def dataset_group(aiida_profile, monkeypatch):
    """A group of its own for the test's starting structures (the profile is shared with the other tests)."""
    import uuid

    import aiida_hydrides.tc_dataset

    label = f'test/tc-dataset/{uuid.uuid4().hex[:8]}'
    monkeypatch.setattr(aiida_hydrides.tc_dataset, 'GROUP_LABEL', label)
    return label


def test_structures_made_once_tagged_and_grouped(dataset_group):
    from aiida import orm

    from aiida_hydrides.tc_dataset import dataset_structures

    entries = LAST
    first = dataset_structures(entries)
    again = dataset_structures(entries)
    assert {name: node.pk for name, node in first.items()} == {name: node.pk for name, node in again.items()}
    assert len(orm.load_group(dataset_group).nodes) == 3
    query = orm.QueryBuilder().append(orm.Group, filters={'label': dataset_group}, tag='group')
    query.append(orm.StructureData, with_group='group', filters={'extras.hydrides.dataset_entry': LAST[0].name})
    assert query.count() == 1
    (node,) = query.first()
    assert (
        node.get_formula(mode='hill_compact') == 'CaH12Mg' and node.base.extras.get('hydrides')['pressure_gpa'] == 200
    )


def test_pending_entries_follow_the_batch_records(dataset_group):
    from aiida_hydrides.tc_dataset import dataset_structures, pending_entries

    entries = LAST
    structures = dataset_structures(entries)
    assert pending_entries(entries) == list(entries)
    # an EPC of another protocol is not a result of this one; a skipped record carries the status it reused
    tag_node(structures[entries[0].name], epc={'status': 'done', 'protocol': {'name': 'fast'}})
    tag_node(
        structures[entries[1].name],
        epc={'status': 'skipped', 'reused_status': 'unstable', 'protocol': {'name': 'screening'}},
    )
    tag_node(structures[entries[2].name], epc={'status': 'failed', 'protocol': {'name': 'screening'}})
    assert pending_entries(entries) == [entries[0], entries[2]]


def test_rows_already_written_are_kept(dataset_group, tmp_path):
    from aiida_hydrides.tc_dataset import DATASET_FILE, dataset_rows, write_rows

    # the profile is the session's: it may hold entries imported from the committed archives by other tests
    in_profile = dataset_rows('screening')
    kept = {'name': LAST[1].name, 'status': 'stable'}
    (tmp_path / DATASET_FILE).write_text(json.dumps({'rows': [kept]}))
    content = json.loads(write_rows(tmp_path).read_text())
    assert kept in content['rows'] and content['rows_count'] == 1 + len(in_profile)
    assert content['stable'] == 1 + sum(row['status'] == 'stable' for row in in_profile)
    assert content['entries'] == len(DATASET_ENTRIES) and content['protocol'] == 'screening'


def test_select_entries_checks_names_and_limit():
    from aiida_hydrides.tc_dataset import select_entries

    assert select_entries(limit=2) == list(DATASET_ENTRIES[:2])
    names = [DATASET_ENTRIES[5].name, DATASET_ENTRIES[1].name]
    assert select_entries(names) == [DATASET_ENTRIES[1], DATASET_ENTRIES[5]]
    with pytest.raises(HydridesInputError, match='no dataset entry'):
        select_entries(['NotAnEntry'])
    with pytest.raises(HydridesInputError, match='limit'):
        select_entries(limit=0)


def test_cli_list_and_bad_name(dataset_group, invoke):
    result = invoke('dataset', 'list', '--json')
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [record['name'] for record in records] == [entry.name for entry in DATASET_ENTRIES]
    states = {record['name']: record['state'] for record in records}
    assert set(states.values()) <= {'pending', 'computed'} and {states[entry.name] for entry in LAST} == {'pending'}
    result = invoke('dataset', 'run', 'NotAnEntry', '--no-archive')
    assert result.exit_code != 0 and 'no dataset entry' in result.output
    assert 'Traceback' not in result.output


def test_structures_imported_from_the_committed_archive_are_adopted(dataset_group, monkeypatch):
    """After ``verdi archive import`` of a committed piece, its entry counts as computed: the imported starting
    structure (with its batch record) joins the group instead of a new one being made."""
    import pathlib

    from aiida import orm
    from aiida.tools.archive import import_archive

    from aiida_hydrides.tc_dataset import dataset_structures, pending_entries, select_entries

    archive = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'tc_dataset' / 'archives' / 'piece-000.aiida'
    import_archive(archive)
    query = orm.QueryBuilder().append(
        orm.StructureData,
        filters={'extras.hydrides.dataset_entry': 'H3S-MH3-Im-3m-200GPa', 'extras.hydrides.epc.status': 'done'},
    )
    (node,) = query.first()
    # as just imported: the profile is the session's, and the dataset groups of other tests may have adopted it
    others = orm.QueryBuilder().append(orm.StructureData, filters={'id': node.pk}, tag='structure')
    others.append(orm.Group, with_node='structure', filters={'extras.hydrides.kind': 'tc_dataset'})
    for (group,) in others.all():
        group.remove_nodes(node)
    # a campaign that took the imported structure in does not make it another dataset's
    orm.Group(label=f'test/campaign/{dataset_group}').store().add_nodes(node)
    entries = select_entries(['H3S-MH3-Im-3m-200GPa', 'H3S-MH3-Im-3m-250GPa'])
    structures = dataset_structures(entries)
    imported = structures['H3S-MH3-Im-3m-200GPa']
    assert imported.base.extras.get('hydrides')['epc']['status'] == 'done'
    assert imported.pk in {node.pk for node in orm.load_group(dataset_group).nodes}
    assert [entry.name for entry in pending_entries(entries)] == ['H3S-MH3-Im-3m-250GPa']
    # a structure of another dataset group is not one of this dataset's
    import aiida_hydrides.tc_dataset

    monkeypatch.setattr(aiida_hydrides.tc_dataset, 'GROUP_LABEL', f'{dataset_group}-other')
    assert dataset_structures(entries)['H3S-MH3-Im-3m-200GPa'].pk != imported.pk


def test_a_reference_run_does_not_hide_the_dataset_result(dataset_group, tmp_path):
    """The structure's record names the latest batch: after a reference (moderate) batch, the screening result is
    found through the EPC work chain its batch tagged, and the file gets both, with their comparison."""
    from aiida import orm

    from aiida_hydrides.tc_dataset import DATASET_FILE, dataset_structures, entry_epc, pending_entries, write_rows

    entries = LAST[:1]
    (structure,) = dataset_structures(entries).values()
    epc = orm.WorkChainNode().store()
    tag_node(
        epc,
        kind='epc',
        source_uuid=structure.uuid,
        structure_uuid=structure.uuid,
        status='unstable',
        protocol={'name': 'screening', 'relax': 'moderate'},
        min_frequency_cm=-250.0,
    )
    tag_node(structure, epc={'status': 'failed', 'protocol': {'name': 'moderate'}})
    assert pending_entries(entries, 'screening') == [] and pending_entries(entries, 'moderate') == list(entries)
    assert entry_epc(LAST[0].name, 'screening').pk == epc.pk and entry_epc(LAST[0].name, 'moderate') is None
    tag_node(structure, epc={'status': 'unstable', 'protocol': {'name': 'moderate'}, 'epc_uuid': epc.uuid})
    assert pending_entries(entries, 'moderate') == []
    content = json.loads(write_rows(tmp_path).read_text())
    assert content['protocol'] == 'screening' and content['reference']['protocol'] == 'moderate'
    assert LAST[0].name in {row['name'] for row in content['rows']}
    assert LAST[0].name in {row['name'] for row in content['reference']['rows']}
    (compared,) = [e for e in content['reference']['comparison']['entries'] if e['name'] == LAST[0].name]
    assert compared['stability_agrees'] and 'relative_errors' not in compared
    assert (tmp_path / DATASET_FILE).exists()


def test_cli_run_names_a_protocol_outside_the_dataset(dataset_group, invoke):
    result = invoke('dataset', 'run', LAST[0].name, '--protocol', 'fast', '--no-archive')
    assert result.exit_code != 0 and '--protocol' in result.output and 'Traceback' not in result.output
