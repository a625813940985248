"""Tests of ``hydrides.epc.batch``: port validation, the rounds of at most ``max_concurrent`` sub-processes, and a real
batch with pw.x and ph.x on two one-atom Al cells at a tiny protocol: fcc Al (stable: done, with λ) and simple-cubic
Al (imaginary modes at X and M: recorded as unstable, not as a failure); run again, both are skipped.
"""

import math
import types

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_hydrides.core.epc_batch import count_statuses, settings_hash
from aiida_hydrides.core.prototypes import fcc_element
from aiida_hydrides.extras import get_tags
from aiida_hydrides.workflows.epc.batch import EpcBatchWorkChain

#: the cheapest settings that still tell the two cells apart: cutoffs 20/160 Ry, relaxation k spacing 0.5/Å,
#: EPC k 4³ / dense 8³, q 2³ (Γ, X, M, R for simple cubic), matdyn 8³; without projwfc.x
TINY_CUTOFFS = (20.0, 160.0)
TINY_OVERRIDES = {
    'max_concurrent': 2,
    # one vc-relax (no meta-convergence restart), and a final SCF whose Pulay stress at 20 Ry is no failure
    'relax': {'overrides': {'kpoints_distance': 0.5, 'pressure_tolerance': 50.0, 'relax': {'meta_convergence': False}}},
    'epc': {
        'overrides': {
            'meta_parameters': {
                'kpoints_mesh': [4, 4, 4],
                'kpoints_dense_mesh': [8, 8, 8],
                'qpoints_mesh': [2, 2, 2],
                'matdyn_kpoints_mesh': [8, 8, 8],
            },
            'scf': {'pw': {'parameters': {'SYSTEM': {'degauss': 0.05}}}},
        }
    },
}
ONE_PROCESS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}}


def fcc_al() -> orm.StructureData:
    return orm.StructureData(ase=fcc_element('Al', a=4.04))


def sc_al(a: float = 2.70) -> orm.StructureData:
    """Simple-cubic Al: dynamically unstable (ω ≈ -100 cm⁻¹ at X, -160 cm⁻¹ at M with PBE)."""
    structure = orm.StructureData(cell=(a * np.eye(3)).tolist())
    structure.append_atom(position=(0.0, 0.0, 0.0), symbols='Al')
    return structure


def make_group(label, *structures) -> orm.Group:
    group, _ = orm.Group.collection.get_or_create(label)
    group.add_nodes([structure.store() for structure in structures])
    return group


def tiny_builder(codes, pseudo_family, **kwargs):
    return EpcBatchWorkChain.get_builder_from_protocol(
        codes,
        pressure=0.0,
        protocol='fast',
        overrides=TINY_OVERRIDES,
        options=ONE_PROCESS,
        pseudo_family=pseudo_family.label,
        cutoffs=TINY_CUTOFFS,
        **kwargs,
    )


# ----------------------------------------------------------------------------------------------- pure logic
def test_settings_hash_is_canonical():
    first = {'relax': {'protocol': 'fast', 'pressure_gpa': 200.0}, 'epc': {'protocol': 'fast', 'cutoffs': (20, 160)}}
    second = {'epc': {'cutoffs': [20, 160], 'protocol': 'fast'}, 'relax': {'pressure_gpa': 200.0, 'protocol': 'fast'}}
    assert settings_hash(first) == settings_hash(second)
    assert len(settings_hash(first)) == 16
    assert settings_hash(first) != settings_hash({**first, 'relax': {'protocol': 'fast', 'pressure_gpa': 150.0}})


def test_count_statuses():
    assert count_statuses(['done', 'unstable', 'done']) == {'done': 2, 'unstable': 1, 'failed': 0, 'skipped': 0}
    with pytest.raises(ValueError, match='unknown batch status'):
        count_statuses(['excepted'])


# ----------------------------------------------------------------------------------------------- ports
def test_builder_from_protocol(fake_codes, pseudo_family):
    group = make_group('test/epc-batch/builder', fcc_al())
    builder = tiny_builder(fake_codes, pseudo_family, group=group)
    assert builder.group.value == 'test/epc-batch/builder'
    assert builder.max_concurrent.value == 2 and builder.run_relax.value is True
    assert builder.relax.protocol.value == 'fast' and builder.epc.protocol.value == 'fast'
    assert builder.epc.overrides['meta_parameters']['qpoints_mesh'] == [2, 2, 2]
    assert builder.cutoffs.get_list() == [20.0, 160.0]
    assert builder.codes.projwfc.label == 'epc-test-projwfc'
    precise = EpcBatchWorkChain.get_builder_from_protocol(fake_codes, group=group, protocol='precise')
    assert precise.max_concurrent.value == 2 and precise.epc.protocol.value == 'precise'


@pytest.mark.parametrize(
    ('overrides', 'message'),
    [
        ({'max_concurent': 2}, 'unknown override key `max_concurent`'),
        ({'relax': {'overrides': {'kpoint_distance': 0.3}}}, 'relax: unknown override key `kpoint_distance`'),
        ({'epc': {'overrides': {'meta_parameters': {'qmesh': [2, 2, 2]}}}}, 'epc: unknown override key'),
        ({'epc': {'protocol': 'tiny'}}, "epc: unknown protocol 'tiny'"),
    ],
)
def test_builder_refuses_bad_overrides(fake_codes, overrides, message):
    with pytest.raises(ValueError, match=message):
        EpcBatchWorkChain.get_builder_from_protocol(fake_codes, group='any', overrides=overrides)


@pytest.fixture
def refused(fake_codes, pseudo_family):
    """``refused(message, group=..., **inputs)``: the inputs are refused with ``message``, when they are set on the
    builder (the port validators run then) or at the latest when the work chain is launched (the validator of the
    whole input). ``namespace__port`` names a port of a namespace."""

    def check(message, group=None, structures=None, **inputs):
        with pytest.raises(ValueError, match=message):
            builder = tiny_builder(fake_codes, pseudo_family, group=group, structures=structures)
            for name, value in inputs.items():
                namespace, _, port = name.rpartition('__')
                (builder[namespace] if namespace else builder)[port] = value
            run_get_node(builder)

    return check


def test_ports_refuse_bad_inputs(refused, fake_codes):
    group = make_group('test/epc-batch/ports', fcc_al())
    make_group('test/epc-batch/empty')

    refused('give either `group`')
    refused('not both', group=group, structures={'al': fcc_al()})
    refused("no group labelled 'test/epc-batch/nosuch'", group='test/epc-batch/nosuch')
    refused('holds no structure', group='test/epc-batch/empty')
    refused('whole number >= 1', group=group, max_concurrent=orm.Int(0))
    refused("unknown protocol 'tiny' of `hydrides.dft.enthalpy`", group=group, relax__protocol=orm.Str('tiny'))
    refused(
        'overrides of `hydrides.epc`: unknown override key `meta_parameter`',
        group=group,
        epc__overrides=orm.Dict({'meta_parameter': {}}),
    )
    refused(r'ecutrho >= 4 x ecutwfc', group=group, cutoffs=orm.List([20.0, 40.0]))
    refused('the `ph` code must run the `quantumespresso.ph` plugin', group=group, codes__ph=fake_codes['pw'])
    refused("'no/such/family' is not installed", group=group, pseudo_family=orm.Str('no/such/family'))
    refused('did you give kbar', group=group, pressure=orm.Float(2000.0))


def test_rounds_never_exceed_max_concurrent(fake_codes, pseudo_family):
    """``launch`` submits at most ``max_concurrent`` sub-processes, the EPC of relaxed structures first; a structure
    whose inputs cannot be prepared is recorded as failed and its slot goes to the next one."""
    builder = tiny_builder(fake_codes, pseudo_family, structures={f's{index}': fcc_al() for index in range(5)})
    builder.max_concurrent = orm.Int(2)
    process = _instantiate(builder)
    assert process.setup() is None
    assert process.ctx.todo_relax == ['s0', 's1', 's2', 's3', 's4'] and process.ctx.todo_epc == []

    submitted = []

    def fake_submit(stage):
        def submit(key):
            if key == 's1':  # could not be prepared
                process._set_failed(key, stage, 'could not be prepared')
                return None
            submitted.append((stage, key))
            return types.SimpleNamespace(pk=len(submitted))

        return submit

    process._submit_relax = fake_submit('relax')
    process._submit_epc = fake_submit('epc')
    process.launch()
    assert process.ctx.running == [('relax', 's0'), ('relax', 's2')]
    assert process.ctx.records['s1']['status'] == 'failed'
    process.ctx.todo_epc = ['s0', 's2']  # relaxed in the first round
    process.launch()
    assert process.ctx.running == [('epc', 's0'), ('epc', 's2')]
    process.launch()
    assert process.ctx.running == [('relax', 's3'), ('relax', 's4')]
    assert not process.should_launch()


def _instantiate(builder):
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    return instantiate_process(get_manager().get_runner(), EpcBatchWorkChain, **builder._inputs(prune=True))


def test_setup_reuses_a_relaxation_but_not_a_failed_epc(fake_codes, pseudo_family):
    """A structure relaxed by an earlier batch with the same relaxation settings goes straight to the EPC; an earlier
    EPC that failed is no reason to skip; other settings (another pressure) reuse nothing."""
    from aiida_hydrides.extras import tag_node

    structure = fcc_al().store()
    first = _instantiate(tiny_builder(fake_codes, pseudo_family, structures={'al': structure}))
    first.setup()
    assert first.ctx.todo_relax == ['al']

    relaxed = fcc_al().store()
    tag_node(relaxed, kind='dft_relaxed', source_uuid=structure.uuid, relax_settings_hash=first.ctx.relax_hash)
    failed = orm.WorkChainNode().store()
    tag_node(failed, kind='epc', source_uuid=structure.uuid, settings_hash=first.ctx.settings_hash, status='failed')
    again = _instantiate(tiny_builder(fake_codes, pseudo_family, structures={'al': structure}))
    again.setup()
    assert again.ctx.settings_hash == first.ctx.settings_hash
    assert again.ctx.todo_relax == [] and again.ctx.todo_epc == ['al']
    assert again.ctx.epc_input['al'] == relaxed.uuid and again.ctx.records['al']['relax_reused'] is True

    builder = tiny_builder(fake_codes, pseudo_family, structures={'al': structure})
    builder.pressure = orm.Float(10.0)
    other = _instantiate(builder)
    other.setup()
    assert other.ctx.settings_hash != first.ctx.settings_hash and other.ctx.todo_relax == ['al']


def test_setup_reuses_a_relaxation_with_the_same_settings_from_outside_the_batch(fake_codes, pseudo_family):
    """A relaxation of the structure by any ``hydrides.dft.enthalpy`` run (e.g. the screen's DFT stage) with the
    batch's pressure, protocol, family and overrides (the cutoffs included) saves the batch its relaxation; one with
    other overrides does not."""
    from aiida_hydrides.extras import tag_node
    from aiida_hydrides.workflows.dft.enthalpy import protocol_tag

    structure = fcc_al().store()
    process = _instantiate(tiny_builder(fake_codes, pseudo_family, structures={'al': structure}))
    process.setup()
    assert process.ctx.todo_relax == ['al']
    overrides = process._relax_overrides()
    assert overrides['kpoints_distance'] == 0.5
    assert overrides['scf']['pw']['parameters']['SYSTEM']['ecutwfc'] == TINY_CUTOFFS[0]

    def relaxed_with(overrides):
        node = fcc_al().store()
        tags = {'kind': 'dft_relaxed', 'pressure_gpa': 0.0, 'enthalpy_dft_ev': -1.0, 'source_uuid': structure.uuid}
        tag_node(node, protocol=protocol_tag('fast', pseudo_family.label, overrides), **tags)
        return node

    relaxed_with({**overrides, 'kpoints_distance': 0.3})
    again = _instantiate(tiny_builder(fake_codes, pseudo_family, structures={'al': structure}))
    again.setup()
    assert again.ctx.todo_relax == ['al']

    relaxed = relaxed_with(overrides)
    again = _instantiate(tiny_builder(fake_codes, pseudo_family, structures={'al': structure}))
    again.setup()
    assert again.ctx.todo_relax == [] and again.ctx.todo_epc == ['al']
    assert again.ctx.epc_input['al'] == relaxed.uuid and again.ctx.records['al']['relax_reused'] is True


# ----------------------------------------------------------------------------------------------- real QE
@pytest.mark.slow
def test_batch_real_qe(qe_codes, pseudo_family):
    """fcc Al is done (λ > 0, Tc), simple-cubic Al is unstable with its imaginary modes, the batch exits 0; a second
    batch with the same settings skips both and reuses their results."""
    group = make_group('test/epc-batch/al', fcc_al(), sc_al())
    fcc, sc = sorted(group.nodes, key=lambda node: node.pk)
    codes = {short: code for short, code in qe_codes.items() if short in ('pw', 'ph', 'q2r', 'matdyn')}
    results, node = run_get_node(tiny_builder(codes, pseudo_family, group=group))
    assert node.is_finished_ok, f'{node.exit_status}: {node.exit_message}'
    summary = results['summary'].get_dict()
    assert summary['counts'] == {'done': 1, 'unstable': 1, 'failed': 0, 'skipped': 0}, summary
    records = {record['uuid']: record for record in summary['structures']}

    done = records[fcc.uuid]
    assert done['status'] == 'done' and done['formula'] == 'Al'
    assert 0.1 < done['lambda'] < 1.5 and math.isfinite(done['omega_log_K'])
    assert done['tc_allen_dynes_K_mu0_10'] is not None and done['tc_allen_dynes_K_mu0_10'] >= 0
    assert done['relax_wall_s'] > 0 and done['epc_wall_s'] > 0
    assert done['relaxed_structure_uuid'] != fcc.uuid

    unstable = records[sc.uuid]
    assert unstable['status'] == 'unstable', unstable
    assert unstable['epc_exit_status'] == 410 and 'error' not in unstable
    assert unstable['n_imaginary_modes'] == len(unstable['imaginary_modes']) >= 1
    assert all(mode['frequency_cm'] < -20.0 for mode in unstable['imaginary_modes'])
    assert unstable['min_frequency_cm'] < -50.0

    # the sub-processes: a round of two relaxations, then a round of two EPC work chains (max_concurrent = 2)
    called = [child for child in node.called if isinstance(child, orm.WorkflowNode)]
    relaxations = [child for child in called if child.process_label == 'DftEnthalpyWorkChain']
    epcs = [child for child in called if child.process_label == 'ElectronPhononWorkChain']
    assert len(relaxations) == len(epcs) == 2 and len(called) == 4
    assert max(child.mtime for child in relaxations) <= min(child.ctime for child in epcs)

    # tags: the input structures and the EPC work chains are found by QueryBuilder
    assert get_tags(fcc)['epc']['status'] == 'done' and get_tags(fcc)['epc']['lambda'] == done['lambda']
    assert get_tags(sc)['epc']['status'] == 'unstable' and get_tags(sc)['epc']['n_imaginary_modes'] >= 1
    query = orm.QueryBuilder().append(
        orm.StructureData,
        filters={'extras.hydrides.epc.status': 'done', 'extras.hydrides.epc.lambda': {'>': 0.0}},
        project='uuid',
    )
    assert fcc.uuid in query.all(flat=True) and sc.uuid not in query.all(flat=True)
    epc = orm.load_node(done['epc_uuid'])
    assert get_tags(epc)['kind'] == 'epc' and get_tags(epc)['settings_hash'] == summary['settings_hash']

    # again: both are skipped, nothing runs, the results are reused
    results, again = run_get_node(tiny_builder(codes, pseudo_family, group=group))
    assert again.is_finished_ok, f'{again.exit_status}: {again.exit_message}'
    summary = results['summary'].get_dict()
    assert summary['counts'] == {'done': 0, 'unstable': 0, 'failed': 0, 'skipped': 2}
    records = {record['uuid']: record for record in summary['structures']}
    assert records[fcc.uuid]['reused_status'] == 'done' and records[fcc.uuid]['lambda'] == done['lambda']
    assert records[sc.uuid]['reused_status'] == 'unstable' and records[sc.uuid]['imaginary_modes']
    assert records[fcc.uuid]['reused_batch_uuid'] == node.uuid
    assert not [child for child in again.called if isinstance(child, orm.WorkflowNode)]
