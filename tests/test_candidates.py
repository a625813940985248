"""The candidates of a campaign as a table (``aiida_hydrides.candidates`` and ``aiida-hydrides candidates``).

The campaign is small and made here: a Ca-Y-H search at 200 GPa (LAM minima with their screen records, DFT
relaxations of the survivors and of the elements, a Tc model's predictions and a selection), plus the real H3S EPC
batch of ``data/tc_dataset/archives/piece-000.aiida`` (relaxation, EPC work chain, α²F). No QE runs.

:func:`make_campaign` is shared with ``tests/test_report.py`` and ``tests/cli/test_export_roundtrip.py``.
"""

import json
import math
import pathlib
import uuid

import pytest
from aiida import orm

ROOT = pathlib.Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / 'data' / 'tc_dataset' / 'archives' / 'piece-000.aiida'
#: the nodes of piece-000.aiida: the EpcBatchWorkChain, its input H3S structure and the H3S EPC work chain
H3S_BATCH_UUID = '58034e4f-0957-40b6-a14d-264a64b4a2cf'
H3S_STRUCTURE_UUID = '8c0f89ee-1fea-4186-9af4-e9118f6498b3'
H3S_EPC_UUID = 'd6af9777-6087-4e6b-a2da-409ef5f77a5e'
PRESSURE = 200.0
#: elemental reference enthalpies (eV/atom) of the made-up LAM and DFT hulls
REFERENCES = {'lam': {'Ca': -1.0, 'Y': -2.0, 'H': -3.0}, 'dft': {'Ca': -1.5, 'Y': -2.5, 'H': -3.2}}
#: formula -> (formation enthalpy LAM, DFT in eV/atom or None, space group number, symbol)
PHASES = {
    'CaH6': (-0.150, -0.120, 229, 'Im-3m'),
    'YH6': (-0.200, -0.210, 229, 'Im-3m'),
    'CaYH12': (-0.190, -0.150, 221, 'Pm-3m'),
    'CaH4': (-0.080, None, 139, 'I4/mmm'),
    'YH4': (-0.180, None, 139, 'I4/mmm'),
}


def import_h3s_batch():
    """Import piece-000.aiida into the loaded profile once (a second call finds its batch and does nothing)."""
    from aiida.common.exceptions import NotExistent
    from aiida.tools.archive import import_archive

    try:
        orm.load_node(uuid=H3S_BATCH_UUID)
    except NotExistent:
        import_archive(ARCHIVE, create_group=False)
    return orm.load_node(uuid=H3S_BATCH_UUID)


def _structure(formula, scale=3.0):
    """A cubic cell with the atoms of ``formula`` (positions spread over the cell: never computed with)."""
    from ase import Atoms

    from aiida_hydrides.core.compositions import parse_formula

    symbols = [symbol for symbol, count in parse_formula(formula).counts.items() for _ in range(count)]
    positions = [((0.37 * i) % 1.0, (0.61 * i) % 1.0, (0.23 * i) % 1.0) for i in range(len(symbols))]
    atoms = Atoms(symbols, scaled_positions=positions, cell=[scale] * 3, pbc=True)
    return orm.StructureData(ase=atoms).store()


def _enthalpy(formula, formation, method):
    from aiida_hydrides.core.compositions import parse_formula

    counts = parse_formula(formula).counts
    total = sum(counts.values())
    return sum(REFERENCES[method][symbol] * count for symbol, count in counts.items()) / total + formation


def _screen(lam_hull_mev, passed_cheap=True, dft_hull_mev=None, phonons=True):
    """A screen record as ``hydrides.screen`` writes it (the stages that matter here)."""
    record = {
        'lam_hull': {'value': lam_hull_mev, 'passed': lam_hull_mev <= 50.0, 'unit': 'meV/atom'},
        'symmetry': {'value': 229, 'symbol': 'Im-3m', 'passed': passed_cheap},
        'atomic_h': {'value': 1.0, 'passed': passed_cheap},
    }
    stages = ['lam_hull', 'symmetry', 'atomic_h']
    if passed_cheap and lam_hull_mev <= 50.0:
        record['lam_phonons'] = {'value': 0.0 if phonons else 4.2, 'passed': phonons}
        stages.append('lam_phonons')
    if dft_hull_mev is not None:
        record['dft_hull'] = {'value': dft_hull_mev, 'passed': dft_hull_mev <= 50.0}
        stages.append('dft_hull')
    failed = next((stage for stage in stages if not record[stage]['passed']), None)
    record.update(failed_stage=failed, passed=failed is None and 'dft_hull' in record)
    return record


def make_campaign(label=None, with_h3s=True):
    """A finished small campaign in the group ``label`` (a new unique one by default); returns ``(group, nodes)``
    with ``nodes``: formula -> the LAM StructureData (and ``'H3S'`` -> the real EPC input structure)."""
    from aiida_hydrides.extras import tag_node

    label = label or f'test/campaign/{uuid.uuid4().hex[:10]}'
    group = orm.Group(label=label).store()
    nodes, members = {}, []
    for symbol in ('Ca', 'Y', 'H'):
        count = 2 if symbol == 'H' else 1
        node = _structure(f'{symbol}{count}')
        tag_node(
            node,
            kind='search_minimum',
            method='lam',
            formula=symbol if symbol != 'H' else 'H2',
            system='Ca-Y',
            pressure_gpa=PRESSURE,
            enthalpy_lam_ev=REFERENCES['lam'][symbol],
            space_group_number=225,
            space_group_symbol='Fm-3m',
            natoms=count,
        )
        relaxed = _structure(f'{symbol}{count}')
        tag_node(
            relaxed,
            kind='dft_relaxed',
            method='dft',
            pressure_gpa=PRESSURE,
            enthalpy_dft_ev=REFERENCES['dft'][symbol],
            source_uuid=node.uuid,
        )
        nodes[symbol] = node
        members += [node, relaxed]
    # E_hull of the LAM phases (meV/atom), as the screen would record them
    lam_hull = {'CaH6': 0.0, 'YH6': 0.0, 'CaYH12': 0.0, 'CaH4': 60.0, 'YH4': 8.6}
    for formula, (formation_lam, formation_dft, number, symbol) in PHASES.items():
        node = _structure(formula)
        screen = _screen(lam_hull[formula], dft_hull_mev=None, phonons=formula != 'YH4')
        tag_node(
            node,
            kind='search_minimum',
            method='lam',
            formula=formula,
            system='Ca-Y',
            pressure_gpa=PRESSURE,
            enthalpy_lam_ev=_enthalpy(formula, formation_lam, 'lam'),
            space_group_number=number,
            space_group_symbol=symbol,
            natoms=len(node.sites),
            screen=screen,
        )
        members.append(node)
        nodes[formula] = node
        if formation_dft is not None:
            relaxed = _structure(formula)
            tag_node(
                relaxed,
                kind='dft_relaxed',
                method='dft',
                formula=formula,
                pressure_gpa=PRESSURE,
                enthalpy_dft_ev=_enthalpy(formula, formation_dft, 'dft'),
                source_uuid=node.uuid,
            )
            members.append(relaxed)
    # the survivors: the DFT hull of the screen for two of them (CaYH12's is left to the selection's own DFT hull)
    for formula, value in (('CaH6', 10.0), ('YH6', 0.0)):
        tags = dict(nodes[formula].base.extras.get('hydrides'))
        tags['screen']['dft_hull'] = {'value': value, 'passed': True}
        tags['screen']['passed'] = True
        nodes[formula].base.extras.set('hydrides', tags)
    # EPC results: YH6 done (its α²F is the real H3S EPC's), CaH6 unstable, CaYH12 done without its work chain
    tag_node(
        nodes['YH6'],
        epc={
            'status': 'done',
            'lambda': 2.05,
            'omega_log_K': 1193.1,
            'tc_allen_dynes_K_mu0_10': 205.0,
            'epc_uuid': H3S_EPC_UUID,
            'pressure_gpa': PRESSURE,
        },
    )
    tag_node(nodes['CaH6'], epc={'status': 'unstable', 'n_imaginary_modes': 2, 'pressure_gpa': PRESSURE})
    tag_node(
        nodes['CaYH12'],
        epc={
            'status': 'skipped',
            'reused_status': 'done',
            'lambda': 1.6,
            'omega_log_K': 1000.0,
            'tc_allen_dynes_K_mu0_10': 150.0,
            'epc_uuid': '00000000-0000-4000-8000-000000000000',
        },
    )
    # the Tc model and the selection helper
    for rank, (formula, mean, spread) in enumerate(
        (('YH6', 190.0, 20.0), ('CaYH12', 140.0, 30.0), ('CaH6', 90.0, 25.0))
    ):
        tag_node(
            nodes[formula],
            tc_model={'tc_mean_K': mean, 'tc_spread_K': spread, 'model': 'test'},
            selection={'stage': 'epc_round_1', 'rank': rank + 1, 'rule': 'ucb', 'score': mean + spread},
        )
    if with_h3s:
        batch = import_h3s_batch()
        h3s = orm.load_node(uuid=H3S_STRUCTURE_UUID)
        members += [batch, h3s]
        nodes['H3S'] = h3s
    group.add_nodes(members)
    return group, nodes


@pytest.fixture
def campaign():
    return make_campaign()


def test_one_row_per_candidate_hydride(campaign):
    from aiida_hydrides.candidates import COLUMNS, candidates

    group, nodes = campaign
    frame = candidates(group)
    assert list(frame.columns) == list(COLUMNS)
    # the hydrides; not the elements, not the DFT relaxations (they are part of their minimum's row)
    assert sorted(frame['formula']) == sorted([*PHASES, 'H3S'])
    assert set(frame['uuid']) == {nodes[formula].uuid for formula in [*PHASES, 'H3S']}
    # sorted by Tc, highest first; rows without a computed Tc come last, by predicted Tc
    assert list(frame['formula'][:3]) == ['H3S', 'YH6', 'CaYH12']
    rows = frame.set_index('formula')
    assert rows.loc['YH6', 'tc_K'] == pytest.approx(205.0)
    assert rows.loc['YH6', 'lambda'] == pytest.approx(2.05)
    assert rows.loc['YH6', 'space_group'] == 'Im-3m' and rows.loc['YH6', 'space_group_number'] == 229
    assert rows.loc['YH6', 'natoms'] == 7 and rows.loc['CaYH12', 'natoms'] == 14
    assert rows.loc['YH6', 'system'] == 'Ca-Y' and rows.loc['H3S', 'system'] == 'S'
    assert rows.loc['YH6', 'status'] == 'epc done'
    assert rows.loc['CaYH12', 'status'] == 'epc done'  # a skipped record stands for the result it reuses
    assert rows.loc['CaH6', 'status'] == 'epc unstable' and math.isnan(rows.loc['CaH6', 'tc_K'])
    assert rows.loc['YH4', 'status'] == 'failed lam_phonons'
    assert rows.loc['CaH4', 'status'] == 'failed lam_hull'
    # the screen's E_hull first; the DFT hull of the selection where the screen has none (CaYH12)
    assert rows.loc['CaH6', 'ehull_lam_mev'] == 0.0 and rows.loc['CaH4', 'ehull_lam_mev'] == 60.0
    assert rows.loc['CaH6', 'ehull_dft_mev'] == 10.0
    expected = 1000 * (-0.15 - (-0.12 - 0.21) / 2)  # above the CaH6-YH6 tie line of the DFT formation enthalpies
    assert rows.loc['CaYH12', 'ehull_dft_mev'] == pytest.approx(expected) == pytest.approx(15.0)
    assert math.isnan(rows.loc['CaH4', 'ehull_dft_mev'])
    # the Tc model and the selection
    assert rows.loc['YH6', 'tc_pred_K'] == 190.0 and rows.loc['YH6', 'tc_pred_spread_K'] == 20.0
    assert rows.loc['CaYH12', 'rank'] == 2 and rows.loc['CaYH12', 'stage'] == 'epc_round_1'
    # the real H3S EPC batch of the archive
    assert rows.loc['H3S', 'tc_K'] == pytest.approx(209.762, abs=1e-3)
    assert rows.loc['H3S', 'omega_log_K'] == pytest.approx(1193.06, abs=0.01)
    assert rows.loc['H3S', 'pressure_gpa'] == 200.0
    assert rows.loc['H3S', 'space_group'] == 'Im-3m'  # that of its relaxation by the EPC batch


def test_fallback_lam_hull_without_screen_records():
    """A group of LAM minima that was never screened: E_hull(LAM) from the group's own hull."""
    from aiida_hydrides.candidates import candidates

    group, nodes = make_campaign(with_h3s=False)
    for formula in PHASES:
        tags = dict(nodes[formula].base.extras.get('hydrides'))
        tags.pop('screen')
        nodes[formula].base.extras.set('hydrides', tags)
    rows = candidates(group).set_index('formula')
    assert rows.loc['CaH6', 'ehull_lam_mev'] == pytest.approx(0.0, abs=1e-6)
    assert rows.loc['CaH4', 'ehull_lam_mev'] == pytest.approx(1000 * (-0.08 + 0.15 * 0.8 / (6 / 7)), abs=1e-6)
    assert rows.loc['CaH4', 'status'] == 'not screened'


def test_literature_structures_are_not_candidates(campaign):
    from aiida_hydrides.candidates import candidates
    from aiida_hydrides.extras import tag_node

    group, _ = campaign
    external = _structure('LaH10')
    tag_node(external, kind='external_tc', tc_K=250.0, pressure_gpa=PRESSURE, source='test')
    group.add_nodes(external)
    assert external.uuid not in set(candidates(group)['uuid'])
    assert len(candidates(group)) == 6


def test_other_tc_formula_is_read_from_the_epc_work_chain(campaign):
    from aiida_hydrides.candidates import candidates

    group, _ = campaign
    epc = orm.load_node(uuid=H3S_EPC_UUID)
    expected = epc.base.extras.get('hydrides')['tc_eliashberg_K_mu0_13']
    rows = candidates(group, tc_formula='eliashberg', mu_star=0.13).set_index('formula')
    assert rows.loc['H3S', 'tc_K'] == pytest.approx(expected)
    assert rows.loc['YH6', 'tc_K'] == pytest.approx(expected)  # its record points to the same work chain
    assert math.isnan(rows.loc['CaYH12', 'tc_K'])  # its work chain is not in the profile


@pytest.mark.parametrize(
    ('options', 'formulas'),
    [
        ({'tc_min': 200}, ['H3S', 'YH6']),
        ({'ehull_max': 12}, ['YH6', 'CaH6', 'YH4']),  # DFT where computed (CaH6 10, CaYH12 15), else LAM (YH4)
        ({'ehull_max': 50, 'method': 'lam'}, ['YH6', 'CaYH12', 'CaH6', 'YH4']),
        ({'system': 'Y-Ca', 'sort': 'formula'}, ['CaH4', 'CaH6', 'CaYH12', 'YH4', 'YH6']),
        ({'system': 'Y', 'sort': 'formula'}, ['YH4', 'YH6']),
        ({'system': 'S'}, ['H3S']),
        ({'pressure': '2Mbar', 'tc_min': 100}, ['H3S', 'YH6', 'CaYH12']),
        ({'pressure': 150}, []),
        ({'sort': 'rank'}, ['YH6', 'CaYH12', 'CaH6']),
        ({'sort': 'tc_pred', 'system': 'Ca-Y'}, ['YH6', 'CaYH12', 'CaH6']),
    ],
)
def test_filters_and_sorting(campaign, options, formulas):
    from aiida_hydrides.candidates import candidates

    group, _ = campaign
    frame = candidates(group.label, **options)
    assert list(frame['formula'][: len(formulas)]) == formulas
    if 'sort' not in options or options.get('sort') == 'formula':
        assert len(frame) == len(formulas)


def test_ehull_sort_puts_missing_values_last(campaign):
    from aiida_hydrides.candidates import candidates

    group, _ = campaign
    frame = candidates(group, sort='ehull')
    assert list(frame['formula']) == ['YH6', 'YH4', 'CaH6', 'CaYH12', 'CaH4', 'H3S']


def test_whole_profile_without_group(campaign):
    from aiida_hydrides.candidates import candidates

    group, nodes = campaign
    frame = candidates(system='Ca-Y', pressure=200)
    assert {node.uuid for formula, node in nodes.items() if formula in PHASES} <= set(frame['uuid'])


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'group': 'test/campaign/no-such-group'}, "no group 'test/campaign/no-such-group'"),
        ({'system': 'Ca-Xx'}, "cannot read the system 'Ca-Xx'"),
        ({'system': 'H'}, 'names no element besides hydrogen'),
        ({'tc_formula': 'bcs'}, "unknown Tc formula 'bcs'"),
        ({'sort': 'volume'}, "cannot sort by 'volume'"),
        ({'pressure': '-5'}, 'between 0 and 1000 GPa'),
        ({'method': 'gw'}, "unknown E_hull method 'gw'"),
        ({'mu_star': 1.5}, 'mu* must be a number from 0 to 1'),
    ],
)
def test_bad_input_is_refused_with_a_message(kwargs, message):
    from aiida_hydrides.candidates import CandidatesError, candidates

    with pytest.raises(CandidatesError, match=message.replace('*', r'\*')):
        candidates(**kwargs)


def test_cli_table_csv_json(campaign):
    from click.testing import CliRunner

    from aiida_hydrides.cli import cli

    group, nodes = campaign
    runner = CliRunner()
    result = runner.invoke(cli, ['candidates', group.label, '--tc-min', '150'])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ['uuid', 'formula', 'system']
    assert 'Tc pred/K' in lines[0] and 'rank' in lines[0]
    assert [line.split()[1] for line in lines[1:4]] == ['H3S', 'YH6', 'CaYH12']
    assert nodes['YH6'].uuid[:8] in result.output
    assert '3 candidate(s)' in lines[-1]

    result = runner.invoke(cli, ['candidates', group.label, '--format', 'json', '--sort', 'formula', '--limit', '2'])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row['formula'] for row in rows] == ['CaH4', 'CaH6']
    assert rows[1]['uuid'] == nodes['CaH6'].uuid and rows[1]['tc_K'] is None and rows[1]['rank'] == 3

    result = runner.invoke(cli, ['candidates', group.label, '--format', 'csv', '--system', 'Ca-Y', '-p', '200GPa'])
    assert result.exit_code == 0, result.output
    header, *body = result.output.strip().splitlines()
    assert header.startswith('uuid,formula,system,pressure_gpa')
    assert len(body) == 5

    result = runner.invoke(cli, ['candidates', group.label, '--pressure', '150'])
    assert result.exit_code == 0 and 'No candidate' in result.output


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (['test/campaign/no-such-group'], "Invalid value for '[GROUP]': no group 'test/campaign/no-such-group'"),
        (['--system', 'Ca-Xx'], "Invalid value for '--system'"),
        (['--pressure', '-5'], "Invalid value for '-p' / '--pressure'"),
        (['--sort', 'volume'], "Invalid value for '--sort'"),
        (['--tc-min', 'nan'], "Invalid value for '--tc-min'"),
        (['--limit', '0'], "Invalid value for '--limit'"),
    ],
)
def test_cli_bad_input(args, message):
    from click.testing import CliRunner

    from aiida_hydrides.cli import cli

    result = CliRunner().invoke(cli, ['candidates', *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert 'Traceback' not in result.output
