"""A lean search group: only the minima that can pass the LAM hull become ``StructureData``; the others stay in the
jobs' arrays, where :mod:`aiida_hydrides.workflows.search.minima` queries them and promotes any of them on request;
a search run again brings the group up to its own threshold without a job and without adding anything twice."""

import json

import numpy as np
import pytest
import test_search_system as system_tests
from aiida import orm
from aiida.engine import run_get_node
from click.testing import CliRunner

lam_code, model_node = system_tests.lam_code, system_tests.model_node  # the fixtures of the system search tests
LABEL = 'test/search/promotion/Ca/200GPa'
COMPOSITIONS = ['Ca', 'H', 'CaH6', 'CaH2']
#: without the density floor the tiny model gives usable Ca cells: every element has its minima, the hull is exact
PARAMETERS = {**system_tests.PARAMETERS, 'min_volume_fraction': 0}


def _keys(group):
    tags = [node.base.extras.get('hydrides') for node in group.nodes]
    keys = [(tag['calc_uuid'], tag['sample_index']) for tag in tags]
    assert len(keys) == len(set(keys)), 'a structure is in the group twice'
    return set(keys)


def _run(lam_code, model_node, promote_ehull_mev):
    builder = system_tests._builder(
        lam_code,
        model_node,
        COMPOSITIONS,
        system='Ca-Y',
        group_label=LABEL,
        parameters=PARAMETERS,
        compositions_per_job=2,
        max_concurrent_jobs=2,
        promote_ehull_mev=orm.Float(promote_ehull_mev),
    )
    results, node = run_get_node(builder)
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    return results['summary'].get_dict(), node


def test_hull_promotion_queries_on_demand_and_rerun(aiida_profile, lam_code, model_node):
    from aiida_hydrides.core.hull import ConvexHull
    from aiida_hydrides.workflows.search.minima import promote, sampled_structures, search_minima

    # threshold 0: only the vertices of the LAM hull over all the minima become StructureData
    summary, node = _run(lam_code, model_node, 0.0)
    group = orm.load_group(LABEL)
    minima = search_minima(LABEL)
    assert len(minima) == summary['n_minima'] and all(row.e_hull_exact for row in minima)
    vertices = {row.key for row in minima if row.e_hull_mev == 0.0}
    assert _keys(group) == vertices and summary['n_promoted'] == len(vertices)
    assert summary['promote_ehull_mev'] == 0.0
    for formula in ('Ca', 'H'):  # the elemental references are always there
        assert min((row for row in minima if row.formula == formula), key=lambda row: row.enthalpy_per_atom).promoted
    above = [row for row in minima if row.e_hull_mev > 0]
    assert above and not any(row.promoted for row in above)  # the others stay in the arrays
    assert group.base.extras.get('hydrides')['promotion']['max_ehull_mev'] == 0.0
    promoter = next(iter(group.nodes)).creator
    assert promoter.process_type == 'aiida.calculations:hydrides.search.minima'
    assert promoter.caller.uuid == node.uuid  # one calcfunction for all, called by the system search

    # the arrays: the unpromoted minima with their enthalpies, any composition written in any form
    calcs = {row.calc_uuid for row in minima}
    assert len(calcs) == 2
    for row in search_minima(LABEL, formula='Ca2H12', promoted=False):
        assert row.formula == 'CaH6' and not row.promoted and row.rank is not None
        arrays = orm.load_node(row.calc_uuid).outputs.minima
        assert row.enthalpy_per_atom == arrays.get_array('enthalpy_per_atom')[row.minimum_index]
        assert row.relative_mev == pytest.approx(arrays.get_array('relative_mev')[row.minimum_index])
        assert len(row.atoms()) == row.natoms
    near = search_minima(LABEL, max_relative_mev=20.0)
    assert near and all(row.relative_mev <= 20.0 for row in near)
    samples = sampled_structures(LABEL, formula='CaH6')
    assert samples and all(row.formula == 'CaH6' and row.relative_mev >= 0 for row in samples)
    assert [row.enthalpy_per_atom for row in samples] == sorted(row.enthalpy_per_atom for row in samples)
    assert {row.key for row in samples if row.minimum_index is not None} == {
        row.key for row in minima if row.formula == 'CaH6'
    }

    # on request: a minimum above the threshold, then again (the same node), and a sample that is not a minimum
    chosen = above[0]
    (structure,) = promote([chosen])
    tags = structure.base.extras.get('hydrides')
    assert tags['kind'] == 'search_minimum' and tags['enthalpy_lam_ev'] == pytest.approx(chosen.enthalpy_per_atom)
    assert tags['system'] == 'Ca-Y' and tags['pressure_gpa'] == 200.0 and tags['workchain_uuid'] is None
    assert structure.uuid in {n.uuid for n in group.nodes}
    assert np.allclose(structure.get_ase().positions, chosen.atoms().positions)
    assert promote([chosen])[0].pk == structure.pk  # found, not made again
    sample = next(row for row in sampled_structures(LABEL) if row.minimum_index is None)
    (made,) = promote([sample])
    assert made.base.extras.get('hydrides')['kind'] == 'search_sample'
    assert made.uuid not in {n.uuid for n in group.nodes}  # only minima go to the group by themselves
    assert np.allclose(made.get_ase().positions, sample.atoms().positions, atol=1e-4)  # stored in single precision

    # again with a higher threshold: no job, the group gains the hydride minima within it (the other minima of the
    # elements are no candidates of the screening: only their hull vertex is promoted), nothing twice
    threshold = max(row.e_hull_mev for row in above)
    before = {n.pk for n in group.nodes}
    summary, node = _run(lam_code, model_node, threshold)
    assert not system_tests._search_calcs(node) and summary['n_skipped'] == len(COMPOSITIONS)
    within = {row.key for row in minima if row.e_hull_mev == 0.0 or ('H' in row.formula and row.formula != 'H')}
    assert _keys(group) == within | {chosen.key}
    assert any(row.formula in ('Ca', 'H') and row.key not in _keys(group) for row in above)
    assert before <= {n.pk for n in group.nodes}
    # the screening's LAM hull over the group: the hull of all the minima, for every structure within the threshold
    records = {row.key: row for row in minima}
    entries = [(records[key].formula, records[key].enthalpy_per_atom, f'{key[0]}:{key[1]}') for key in _keys(group)]
    for point in ConvexHull(entries).points:
        uuid, index = point.entry_id.split(':')
        assert 1000 * point.e_hull == pytest.approx(records[(uuid, int(index))].e_hull_mev, abs=1e-6)

    # and once more: nothing added, nothing removed
    pks = {n.pk for n in group.nodes}
    _run(lam_code, model_node, threshold)
    assert {n.pk for n in group.nodes} == pks

    # the command line lists the unpromoted minima from the arrays and promotes one on request
    invoke = CliRunner().invoke
    from aiida_hydrides.cli import cli

    result = invoke(cli, ['minima', LABEL, '--unpromoted', '--json'])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)['structures']
    assert rows and not any(row['promoted'] for row in rows)
    assert {(row['calc_uuid'], row['sample_index']) for row in rows} == {
        row.key for row in minima if row.key not in _keys(group)
    }
    result = invoke(cli, ['minima', LABEL, '--formula', rows[0]['formula'], '--max-ehull', '1e9'])
    assert result.exit_code == 0 and 'E_hull' in result.output, result.output
    first = rows[0]
    result = invoke(
        cli,
        ['minima', LABEL, '--formula', first['formula'], '--max-relative', str(first['relative_mev']), '--promote'],
    )
    assert result.exit_code == 0 and 'made now' in result.output, result.output
    assert (first['calc_uuid'], first['sample_index']) in _keys(group)


def test_queries_refuse_bad_sources(aiida_profile):
    from aiida_hydrides.core.errors import HydridesInputError
    from aiida_hydrides.workflows.search.minima import SearchQueryError, promote, search_minima

    with pytest.raises(SearchQueryError, match='there is no group'):
        search_minima('no/such/group')
    orm.Group.collection.get_or_create('test/not-a-search')
    with pytest.raises(SearchQueryError, match='not a search group'):
        search_minima('test/not-a-search')
    with pytest.raises(SearchQueryError, match='max_relative_mev must be a number'):
        search_minima('test/not-a-search', max_relative_mev='ten')
    with pytest.raises(SearchQueryError, match='records of search_minima'):
        promote(['CaH6'])
    assert issubclass(SearchQueryError, HydridesInputError)
    result = CliRunner().invoke(__import__('aiida_hydrides.cli', fromlist=['cli']).cli, ['minima', 'no/such/group'])
    assert result.exit_code == 2 and 'there is no group' in result.output
