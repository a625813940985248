"""``aiida-hydrides rank``: stage 1 by the priority rules, stage 2 by the predicted Tc, every choice recorded on its
structure and found again with QueryBuilder; bad input gives a message, not a traceback."""

import csv
import io
import json
import pathlib
import uuid

import pytest

H3S_CIF = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'structures' / 'H3S_Im-3m.cif'


def _structure(atoms, group, **tags):
    from aiida import orm

    from aiida_hydrides.extras import tag_node

    node = orm.StructureData(ase=atoms)
    node.store()
    if tags:
        tag_node(node, **tags)
    group.add_nodes(node)
    return node


@pytest.fixture
def candidates(aiida_profile):
    """A group of its own: a cubic 4-atom H3S with a high H share of N(E_F) (cheap SCF), a cubic 4-atom one whose
    share is unknown, and a 20-atom low-symmetry one with a low share."""
    import ase.io
    from aiida import orm
    from ase.build import bulk

    from aiida_hydrides.core.structures import primitive_cell

    group = orm.Group(label=f'test/rank/{uuid.uuid4().hex[:8]}').store()
    h3s = primitive_cell(ase.io.read(H3S_CIF))
    big = bulk('Al', 'fcc', a=4.05, cubic=True).repeat((1, 1, 5))
    big.rattle(0.05, seed=1)
    nodes = {
        'h3s': _structure(h3s, group, hydrogen_share_of_dos_ef=0.48, screen={'dft_hull': {'value': 5.0}}),
        'unknown': _structure(h3s, group, screen={'lam_hull': {'value': 30.0}}),
        'big': _structure(big, group, hydrogen_share_of_dos_ef=0.1),
    }
    return group, nodes


def _selection(node):
    from aiida import orm

    return orm.load_node(node.pk).base.extras.get('hydrides', {}).get('selection')


def test_stage1_ranks_records_and_is_queryable(candidates, invoke):
    from aiida import orm

    group, nodes = candidates
    result = invoke('rank', group.label, '--budget', '1', '--format', 'json')
    assert result.exit_code == 0, result.output
    content = json.loads(result.stdout)
    assert [row['pk'] for row in content['rows']] == [nodes['h3s'].pk, nodes['unknown'].pk, nodes['big'].pk]
    assert [row['rule'] for row in content['rows']] == ['h_dos_share+symmetry+few_atoms', 'symmetry+few_atoms', 'none']
    assert [row['selected'] for row in content['rows']] == [True, False, False]
    assert content['rows'][0]['details']['h_dos_share_from'] == 'cheap_scf'
    first = _selection(nodes['h3s'])
    assert first['stage'] == 1 and first['rank'] == 1 and first['selected'] is True and first['kappa'] is None
    assert first['rule'] == 'h_dos_share+symmetry+few_atoms' and first['score'] == pytest.approx(7 + 0.48 * 0.999)
    assert first['rules']['symmetry'] == 'space group >= 195' and content['recorded'] == 3
    assert _selection(nodes['unknown'])['details']['unknown'] == ['h_dos_share']

    query = orm.QueryBuilder().append(orm.Group, filters={'label': group.label}, tag='group')
    query.append(
        orm.StructureData,
        with_group='group',
        filters={'extras.hydrides.selection.stage': 1, 'extras.hydrides.selection.selected': True},
        project='id',
    )
    assert query.all(flat=True) == [nodes['h3s'].pk]

    table = invoke('rank', group.label, '--dry-run')
    assert table.exit_code == 0 and 'Dry run' in table.stdout and 'h_dos_share+symmetry+few_atoms' in table.stdout
    assert _selection(nodes['h3s'])['budget'] == 1  # the dry run recorded nothing


def test_stage2_needs_predictions_then_ranks_the_rest(candidates, invoke):
    from aiida_hydrides.extras import tag_node

    group, nodes = candidates
    assert invoke('rank', group.label, '--budget', '1').exit_code == 0
    result = invoke('rank', group.label, '--stage', '2')
    assert result.exit_code == 1
    assert 'hydrides.tc_model.predict' in result.output and 'Traceback' not in result.output

    tag_node(nodes['unknown'], tc_model={'tc_mean_K': 150.0, 'tc_spread_K': 5.0, 'tc_formula': 'allen_dynes'})
    tag_node(nodes['big'], tc_model={'tc_mean_K': 120.0, 'tc_spread_K': 50.0, 'tc_formula': 'allen_dynes'})
    tag_node(nodes['h3s'], tc_model={'tc_mean_K': 500.0, 'tc_spread_K': 0.0})  # selected by stage 1: left out
    result = invoke('rank', group.label, '--stage', '2', '--kappa', '1', '--budget', '1', '--format', 'csv')
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(row['pk'], row['rank'], row['rule'], row['selected']) for row in rows] == [
        (str(nodes['big'].pk), '1', 'tc_mean+1*tc_spread', 'True'),
        (str(nodes['unknown'].pk), '2', 'tc_mean+1*tc_spread', 'False'),
        (str(nodes['h3s'].pk), '', 'selected by stage 1', 'False'),
    ]
    second = _selection(nodes['big'])
    assert second == {**second, 'stage': 2, 'rank': 1, 'score': 170.0, 'kappa': 1.0, 'selected': True}
    assert _selection(nodes['h3s'])['stage'] == 1  # the stage-1 choice is kept

    result = invoke('rank', group.label, '--stage', '2', '--e-hull-max', '10')
    assert result.exit_code == 0, result.output
    assert 'left out: E_hull 30 > 10 meV/atom' in result.stdout
    assert 'Recorded on 2 structure(s)' in result.stdout  # the ranked one and the one left out for its E_hull
    assert _selection(nodes['unknown'])['rank'] is None


def test_bad_input_is_refused_clearly(candidates, invoke):
    group, _ = candidates
    result = invoke('rank', 'no/such/group/anywhere')
    assert result.exit_code == 1 and 'no group' in result.output and 'Traceback' not in result.output
    result = invoke('rank', group.label, '--stage', '3')
    assert result.exit_code == 2 and "'--stage'" in result.output
    result = invoke('rank', group.label, '--kappa', '-1')
    assert result.exit_code == 2 and "'--kappa'" in result.output
    result = invoke('rank', group.label, '--budget', '0')
    assert result.exit_code == 2 and "'--budget'" in result.output
    result = invoke('rank', group.label, '--kappa', '2', '--dry-run')
    assert result.exit_code == 0 and 'apply to stage 2 only' in result.output


def test_empty_group(aiida_profile, invoke):
    from aiida import orm

    group = orm.Group(label=f'test/rank/{uuid.uuid4().hex[:8]}').store()
    result = invoke('rank', group.label)
    assert result.exit_code == 1 and 'holds no structure' in result.output
