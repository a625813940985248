"""Tc records from the graph (finished ``hydrides.epc`` work chains: the committed dataset archives and work chains
built like them) and from external files (extxyz, CIF + CSV table), stored and read back."""

import json
import pathlib
import uuid

import pytest

from aiida_hydrides.core.errors import HydridesInputError

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARCHIVES = ROOT / 'data' / 'tc_dataset' / 'archives'
DATASET = ROOT / 'data' / 'tc_dataset' / 'tc_dataset.json'
H3S_CIF = ROOT / 'tests' / 'data' / 'structures' / 'H3S_Im-3m.cif'


def _label(prefix: str) -> str:
    return f'test/{prefix}/{uuid.uuid4().hex[:8]}'


@pytest.fixture(scope='module')
def dataset_archives(aiida_profile):
    """The committed pieces of the dataset archive, imported once: a real stable H3S EPC (200 GPa) and an unstable one
    (150 GPa, exit status 410)."""
    from aiida.tools.archive import import_archive

    for path in sorted(ARCHIVES.glob('piece-*.aiida')):
        import_archive(path, create_group=False)
    return {row['name']: row for row in json.loads(DATASET.read_text())['rows']}


def test_records_from_the_dataset_archives(dataset_archives):
    from aiida_hydrides.tc_records import records_from_graph

    stable = dataset_archives['H3S-MH3-Im-3m-200GPa']
    unstable = dataset_archives['H3S-MH3-Im-3m-150GPa']
    skipped = []
    records = {record.name: record for record in records_from_graph(skipped=skipped)}
    record = records[f'epc:{stable["epc_uuid"]}']
    assert f'epc:{unstable["epc_uuid"]}' not in records  # exit status 410: not a finished-ok work chain
    assert record.source == f'graph:{stable["epc_uuid"]}'
    assert record.formula == 'H3S' and record.natoms == 4 and record.pressure_gpa == 200.0
    assert record.tc_k == pytest.approx(stable['tc_K']['allen_dynes_mu0_10'], abs=0.05)
    assert record.features['lambda'] == pytest.approx(stable['lambda'], abs=1e-3)
    assert record.features['omega_log_K'] == pytest.approx(stable['omega_log_K'], abs=0.1)
    assert record.features['hydrogen_share_of_dos_ef'] == pytest.approx(stable['hydrogen_share_of_dos_ef'], abs=1e-3)
    assert record.features['space_group_number'] == 229 and record.features['hydrogen_fraction'] == 0.75

    eliashberg = {r.name: r for r in records_from_graph('eliashberg', 0.13)}[record.name]
    assert eliashberg.tc_k == pytest.approx(stable['tc_K']['eliashberg_mu0_13'], abs=0.05)


def test_records_of_a_group_of_structures(dataset_archives):
    """A group of structures finds the EPC work chains a batch recorded on them, and those run on them."""
    from aiida import orm

    from aiida_hydrides.tc_records import records_from_graph

    stable = dataset_archives['H3S-MH3-Im-3m-200GPa']
    epc = orm.load_node(stable['epc_uuid'])
    group = orm.Group(label=_label('tc-records')).store()
    assert records_from_graph(group=group.label) == []
    group.add_nodes(epc.inputs.structure)  # the relaxed structure the EPC ran on
    # every finished EPC run on it: the dataset's (screening) and, where imported, its moderate reference
    query = orm.QueryBuilder().append(orm.StructureData, filters={'id': epc.inputs.structure.pk}, tag='structure')
    query.append(
        orm.WorkChainNode,
        with_incoming='structure',
        filters={'attributes.exit_status': 0, 'attributes.process_label': 'ElectronPhononWorkChain'},
        project='uuid',
    )
    expected = {f'epc:{uuid}' for uuid in query.all(flat=True)}
    names = [record.name for record in records_from_graph(group=group.label)]
    assert f'epc:{epc.uuid}' in names and set(names) == expected and len(names) == len(expected)
    with pytest.raises(HydridesInputError, match='no group'):
        records_from_graph(group='no/such/group/anywhere')


def _structure(tags=None):
    from aiida import orm
    from ase.build import bulk

    from aiida_hydrides.extras import tag_node

    node = orm.StructureData(ase=bulk('Al', 'fcc', a=4.05))
    node.store()
    if tags:
        tag_node(node, **tags)
    return node


def _epc(structure, tc: dict, stable=True, exit_status=0, share=0.25, group=None):
    """A ``hydrides.epc`` work chain node as the engine leaves it: its structure input, its outputs returned."""
    from aiida import orm
    from aiida.common.links import LinkType
    from plumpy import ProcessState

    node = orm.WorkChainNode()
    node.set_process_type('aiida.workflows:hydrides.epc')
    node.base.links.add_incoming(structure, LinkType.INPUT_WORK, 'structure')
    node.set_process_state(ProcessState.FINISHED)
    node.set_exit_status(exit_status)
    node.store()
    outputs = {'tc': tc, 'phonon_stability': {'stable': stable}}
    if share is not None:
        outputs['projected_dos'] = {'fraction_H': share}
    for label, content in outputs.items():
        output = orm.Dict(content).store()
        output.base.links.add_incoming(node, LinkType.RETURN, label)
    node.seal()
    if group is not None:
        group.add_nodes(node)
    return node


def test_records_skip_unstable_failed_and_missing(aiida_profile):
    from aiida import orm

    from aiida_hydrides.tc_records import records_from_graph

    group = orm.Group(label=_label('tc-records')).store()
    source = _structure(
        {'kind': 'search_minimum', 'formula': 'Al', 'screen': {'dft_hull': {'value': 12.5}, 'lam_hull': {'value': 3}}}
    )
    relaxed = _structure({'kind': 'dft_relaxed', 'pressure_gpa': 150.0, 'source_uuid': source.uuid})
    tc = {'lambda': 0.4, 'omega_log_K': 300.0, 'tc_allen_dynes_K_mu0_10': 1.5, 'tc_allen_dynes_K_mu0_13': 0.8}
    good = _epc(relaxed, tc, group=group)
    _epc(relaxed, tc, stable=False, group=group)
    _epc(relaxed, tc, exit_status=410, group=group)
    no_tc = _epc(relaxed, {'lambda': 0.1, 'tc_allen_dynes_K_mu0_10': None}, share=None, group=group)
    skipped = []
    records = records_from_graph(group=group.label, skipped=skipped)
    assert [record.name for record in records] == [f'epc:{good.uuid}']
    record = records[0]
    assert record.pressure_gpa == 150.0 and record.tc_k == 1.5
    assert record.formula == 'Al'  # the nearest tagged formula (of the source structure)
    assert record.features['e_hull_mev'] == 12.5  # the DFT hull of the screening, through source_uuid
    assert record.features['space_group_number'] == 225 and record.features['hydrogen_share_of_dos_ef'] == 0.25
    reasons = sorted(item['reason'] for item in skipped)
    assert reasons == ['dynamically unstable', 'no tc_allen_dynes_K_mu0_10']
    assert no_tc.uuid in {item['uuid'] for item in skipped}
    assert records_from_graph('allen_dynes', 0.13, group=group.label)[0].tc_k == 0.8
    with pytest.raises(HydridesInputError, match='tc_eliashberg_K_mu0_10'):
        records_from_graph('eliashberg', group=group.label)
    with pytest.raises(HydridesInputError, match='unknown Tc formula'):
        records_from_graph('bcs')
    with pytest.raises(HydridesInputError, match='mu'):
        records_from_graph(mu_star=1.5)


# ---------------------------------------------------------------------------------------------------- external sets
def _write_extxyz(path, frames):
    import ase.io

    ase.io.write(path, frames, format='extxyz')
    return path


def _frames():
    import ase.io
    from ase.build import bulk

    h3s = ase.io.read(H3S_CIF)
    cah6 = bulk('Ca', 'bcc', a=3.5, cubic=True)
    frames = []
    for name, atoms, tc, pressure in (('A', h3s, 200.0, 200), ('B', cah6, 215.0, 172)):
        atoms = atoms.copy()
        atoms.info.update(name=name, tc_K=tc, pressure_gpa=pressure)
        frames.append(atoms)
    return frames


def test_external_extxyz_with_info(tmp_path):
    from aiida_hydrides.tc_records import read_external

    path = _write_extxyz(tmp_path / 'set.extxyz', _frames())
    records = read_external(path)
    assert [(record.name, record.tc_k, record.pressure_gpa) for record in records] == [
        ('A', 200.0, 200.0),
        ('B', 215.0, 172.0),
    ]
    assert records[0].source == 'file:set.extxyz' and records[0].features['space_group_number'] == 229


def test_external_cif_with_table(tmp_path):
    from aiida_hydrides.tc_records import read_external

    table = tmp_path / 'tc.csv'
    table.write_text('name,tc_K,pressure_gpa,formula\nH3S-200,203,200,H3S\n')
    (record,) = read_external(H3S_CIF, table)
    assert record.name == 'H3S-200' and record.tc_k == 203.0 and record.formula == 'H3S'
    assert record.natoms == 8 and record.features['hydrogen_fraction'] == 0.75


def test_external_errors(tmp_path):
    from aiida_hydrides.tc_records import read_external

    path = _write_extxyz(tmp_path / 'set.extxyz', _frames())
    table = tmp_path / 'tc.csv'
    table.write_text('name,tc_K\nA,200\nB,215\n')
    with pytest.raises(HydridesInputError, match='lacks the column.*pressure_gpa'):
        read_external(path, table)
    table.write_text('name,tc_K,pressure_gpa\nA,200,200\nC,215,172\n')
    with pytest.raises(HydridesInputError, match=r"do not match.*\['C'\].*\['B'\]"):
        read_external(path, table)
    table.write_text('name,tc_K,pressure_gpa\nA,hot,200\nB,215,172\n')
    with pytest.raises(HydridesInputError, match="line 2: tc_K 'hot' is not a number"):
        read_external(path, table)
    table.write_text('name,tc_K,pressure_gpa,formula\nA,200,200,CaH6\nB,215,172,\n')
    with pytest.raises(HydridesInputError, match="formula 'CaH6'"):
        read_external(path, table)
    with pytest.raises(HydridesInputError, match='does not exist'):
        read_external(path, tmp_path / 'missing.csv')
    bad = tmp_path / 'bad.extxyz'
    bad.write_text('this is not a structure\n')
    with pytest.raises(HydridesInputError, match='could not read'):
        read_external(bad)
    with pytest.raises(HydridesInputError, match='not found'):
        read_external(tmp_path / 'nothing.cif')
    with pytest.raises(HydridesInputError, match='no tc_K, pressure_gpa'):
        read_external(H3S_CIF)


def test_import_external_stores_once_and_reads_back(aiida_profile, tmp_path):
    from aiida import orm

    from aiida_hydrides.tc_records import external_records, import_external

    path = _write_extxyz(tmp_path / 'set.extxyz', _frames())
    label = _label('external')
    records = import_external(path, group=label)
    import_external(path, group=label)  # again: nothing new
    group = orm.load_group(label)
    assert len(group.nodes) == 2
    query = orm.QueryBuilder().append(orm.Group, filters={'label': label}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        filters={'extras.hydrides.kind': 'external_tc'},
        project='extras.hydrides',
    )
    tags = sorted((row[0] for row in query.all()), key=lambda tag: tag['external_name'])
    assert [(tag['external_name'], tag['tc_K'], tag['source']) for tag in tags] == [
        ('A', 200.0, 'file:set.extxyz'),
        ('B', 215.0, 'file:set.extxyz'),
    ]
    back = external_records(label)
    assert [(record.name, record.tc_k, record.formula) for record in back] == [
        (record.name, record.tc_k, record.formula) for record in records
    ]
