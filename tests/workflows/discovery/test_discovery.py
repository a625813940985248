"""``hydrides.discovery`` for real on the smallest slice of a system: YH6 at 200 GPa searched with the seed model (a
few relaxations, its hull references Y and H searched by the cascade), the LAM stages of the cascade (no DFT stage:
no pw.x code given), one survivor through ``hydrides.epc.batch`` at tiny grids and cutoffs; then launched again, it
computes nothing twice."""

import pytest
from aiida import orm
from aiida.engine import run_get_node


def _count(process_label) -> int:
    return orm.QueryBuilder().append(orm.ProcessNode, filters={'attributes.process_label': process_label}).count()


@pytest.mark.slow
@pytest.mark.qe
def test_discovery_end_to_end_then_resumed(aiida_localhost, qe_codes, pseudo_family, tiny_discovery_builder):
    from aiida_hydrides.codes import ensure_lam_code
    from aiida_hydrides.discovery import campaign_status

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    codes = {**qe_codes, 'lam': ensure_lam_code(aiida_localhost)}
    campaign = 'test/discovery/Y-H/200GPa'
    _, node = run_get_node(tiny_discovery_builder(codes, pseudo_family, campaign))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    funnel = node.outputs.funnel.get_dict()
    rows = node.outputs.candidates.get_dict()['candidates']
    assert funnel['search']['relaxations'] >= 8 and funnel['survivors'] == len(rows) >= 1, funnel
    assert funnel['epc_round1']['done'] + funnel['epc_round1']['unstable'] == 1, funnel
    first = rows[0]
    assert first['rank'] == 1 and first['formula'] == 'YH6' and first['status'] in ('done', 'unstable'), first
    assert first['selection']['stage'] == 1 and first['selection']['selected'] is True
    if first['status'] == 'done':
        assert first['lambda'] > 0 and first['tc_allen_dynes_K_mu0_10'] >= 0

    # one campaign group holds the work chain, its sub-processes, the survivors and what the EPC made
    members = {member.uuid for member in orm.load_group(campaign).nodes}
    assert node.uuid in members and first['uuid'] in members
    assert all(sub.uuid in members for sub in node.called if sub.process_label != 'collect_discovery')
    assert first['epc_uuid'] in members

    status = campaign_status(campaign)
    assert status['state'] == 'done' and [stage['name'] for stage in status['stages']][:3] == [
        'search',
        'screen',
        'epc_round1',
    ]
    assert all(stage['state'] == 'done' for stage in status['stages'][:3]), status

    # launched again: every stage reuses what is done
    searches, phonons, phs = _count('SearchCalculation'), _count('LamPhononsCalculation'), _count('PhCalculation')
    _, again = run_get_node(tiny_discovery_builder(codes, pseudo_family, campaign))
    assert again.is_finished_ok, (again.exit_status, again.exit_message)
    assert (_count('SearchCalculation'), _count('LamPhononsCalculation'), _count('PhCalculation')) == (
        searches,
        phonons,
        phs,
    )
    assert again.outputs.candidates.get_dict()['candidates'][0]['uuid'] == first['uuid']


def test_discovery_refuses_a_model_without_the_elements(aiida_localhost, pseudo_family, tmp_path):
    """A model that does not know the system's elements and no learning inputs: exit 203 before anything runs."""
    from aiida_hydrides.codes import ensure_codes, ensure_lam_code
    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain

    codes = ensure_codes(aiida_localhost, shorts=['pw', 'ph', 'q2r', 'matdyn'])
    codes['lam'] = ensure_lam_code(aiida_localhost)
    builder = DiscoveryWorkChain.get_builder_from_protocol(codes, 'Ca-Y', compositions=['CaH6'])
    builder.system = orm.Str('La-Sc')
    _, node = run_get_node(builder)
    assert node.exit_status == 203, node.exit_message
    assert 'does not know La, Sc' in node.exit_message
    assert not node.called
