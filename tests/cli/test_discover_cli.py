"""``aiida-hydrides discover`` and ``status``: bad input refused before anything is stored (a clear message naming the
argument or option, no traceback), the builder of the command's protocol, and the ranking of the candidates."""

import pytest
from aiida import orm

from aiida_hydrides.core.discovery import rank_candidates


def _counts():
    return orm.QueryBuilder().append(orm.Node).count(), orm.QueryBuilder().append(orm.Group).count()


@pytest.fixture
def unchanged(aiida_localhost):
    before = _counts()
    yield
    assert _counts() == before, 'the refused command stored something'


@pytest.mark.parametrize(
    ('args', 'where', 'message'),
    [
        (['Ca-Xx'], "'SYSTEM'", "unknown element symbol 'Xx'"),
        (['CaYH12'], "'SYSTEM'", 'looks like a formula, not a system'),
        (['Ca-U'], "'--model'", 'does not know U'),
        (['Ca-Y', '--pressure', '2000'], "'--pressure'", 'between 0 and 1000 GPa'),
        (['Ca-Y', '-c', 'CaH6,LaH10'], "'--compositions'", 'LaH10 contains La'),
        (['Ca-Y', '--round1', '-1'], "'--round1'", '-1'),
        (['Ca-Y', '--protocol', 'huge'], "'--protocol'", 'huge'),
        (['Ca-Y', '--family', 'no-such-family'], "'--family'", 'no-such-family'),
        (['Ca-Y', '--tc-model', '/no/such/tc.pth'], "'--tc-model'", 'does not exist'),
    ],
)
def test_discover_refuses_bad_input_before_storing_anything(invoke, unchanged, args, where, message):
    result = invoke('discover', *args)
    assert result.exit_code != 0, result.output
    assert where in result.output and message in result.output, result.output
    assert 'Traceback' not in result.output


def test_discover_refuses_a_missing_computer(invoke, unchanged):
    result = invoke('discover', 'Ca-Y', '-c', 'CaH6', '--computer', 'no-such-computer')
    assert result.exit_code != 0 and 'no-such-computer' in result.output, result.output
    assert 'Traceback' not in result.output


def test_status_without_a_campaign(invoke, aiida_localhost):
    result = invoke('status', 'hydrides/discovery/none/0GPa')
    assert result.exit_code == 1 and "no campaign group 'hydrides/discovery/none/0GPa'" in result.output, result.output


def test_discovery_builder_of_the_demo_protocol(aiida_localhost, pseudo_family):
    from aiida_hydrides.codes import ensure_codes, ensure_lam_code
    from aiida_hydrides.workflows.discovery.base import DiscoveryWorkChain

    codes = ensure_codes(aiida_localhost, shorts=['pw', 'ph', 'q2r', 'matdyn'])
    codes['lam'] = ensure_lam_code(aiida_localhost)
    builder = DiscoveryWorkChain.get_builder_from_protocol(
        codes, 'Ca-Y', pressure='200GPa', protocol='demo', compositions=['CaH6'], pseudo_family=pseudo_family.label
    )
    assert builder.pressure.value == 200.0 and builder.round1_size.value == 1
    assert builder.search.parameters.get_dict()['budget'] == 24
    assert builder.search.compositions.get_list() == ['CaH6']
    assert builder.screen.search_missing.value is True
    assert builder.epc.epc.protocol.value == 'fast' and builder.epc.max_concurrent.value == 1
    # the EPC round relaxes with the settings of the cascade's DFT stage: it reuses its relaxations
    assert builder.epc.relax.protocol.value == builder.screen.dft.protocol.value
    assert builder.epc.relax.overrides.get_dict() == builder.screen.dft.overrides.get_dict()
    # the composition search in cells of one formula unit, the hull references in cells of two atoms
    assert builder.search.parameters.get_dict()['formula_units'] == [1]
    assert builder.screen.search_parameters.get_dict()['formula_units'] == [2]
    assert builder.model.filename.endswith('.pth')
    with pytest.raises(ValueError, match="needs a 'ph' code"):
        DiscoveryWorkChain.get_builder_from_protocol({'lam': codes['lam'], 'pw': codes['pw']}, 'Ca-Y')


def test_candidates_ranked_computed_first():
    rows = [
        {'formula': 'A', 'status': 'not computed', 'tc_predicted_K': 100.0, 'ehull_dft_mev': 5.0},
        {'formula': 'B', 'status': 'done', 'tc_allen_dynes_K_mu0_10': 50.0},
        {'formula': 'C', 'status': 'done', 'tc_allen_dynes_K_mu0_10': 150.0},
        {'formula': 'D', 'status': 'unstable'},
        {'formula': 'E', 'status': 'not computed', 'tc_predicted_K': None, 'ehull_lam_mev': 1.0},
        {'formula': 'F', 'status': 'not computed', 'tc_predicted_K': None, 'ehull_dft_mev': 0.0},
    ]
    ranked = rank_candidates(rows)
    assert [row['formula'] for row in ranked] == ['C', 'B', 'A', 'F', 'E', 'D']
    assert [row['rank'] for row in ranked] == [1, 2, 3, 4, 5, 6]
