"""``dft-enthalpy`` and ``epc`` take a stored StructureData (PK, UUID or label) and pass it on as is, so that the
provenance graph links it (e.g. a search minimum) to the DFT run; a structure file becomes a new node.

The work chains are submitted with ``--daemon`` to a stand-in for :func:`aiida.engine.submit` that creates the process
node with its input links but runs nothing (the real pw.x runs are tested in tests/workflows).
"""

import json
import pathlib

import pytest
from aiida import orm

DATA_DIR = pathlib.Path(__file__).resolve().parents[1] / 'data'
H3S_CIF = DATA_DIR / 'structures' / 'H3S_Im-3m.cif'


@pytest.fixture
def submitted(monkeypatch):
    """Replace ``aiida.engine.submit`` by one that stores the process node and its inputs and runs nothing; return
    the list of submitted nodes."""
    import aiida.engine

    nodes = []

    def fake_submit(builder, **kwargs):
        from aiida.engine.utils import instantiate_process
        from aiida.manage import get_manager

        process = instantiate_process(get_manager().get_runner(), builder, **kwargs)
        nodes.append(process.node)
        return process.node

    monkeypatch.setattr(aiida.engine, 'submit', fake_submit)
    monkeypatch.setattr('aiida_hydrides.cli.launch.daemon_is_running', lambda profile=None: True)
    return nodes


@pytest.fixture
def minimum(aiida_profile):
    """A stored H3S structure standing for a search minimum, with a label."""
    from aiida_hydrides.core.prototypes import h3s_primitive

    node = orm.StructureData(ase=h3s_primitive('S', a=3.0))
    node.label = f'H3S minimum {node.uuid[:8]}'
    return node.store()


@pytest.mark.parametrize('command', ['dft-enthalpy', 'epc'])
@pytest.mark.parametrize('by', ['pk', 'uuid', 'label'])
def test_stored_structure_is_passed_as_is(invoke, submitted, qe_codes, pseudo_family, minimum, command, by):
    result = invoke(command, getattr(minimum, by), '--daemon', '--protocol', 'fast', '--json')
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    node = orm.load_node(data['pk'])
    assert node.pk == submitted[-1].pk and data['uuid'] == node.uuid
    assert node.inputs.structure.uuid == minimum.uuid
    assert node.inputs.structure.pk == minimum.pk
    follow = ' '.join(data['follow'])
    assert f'process status {node.pk}' in follow and f'process report {node.pk}' in follow


def test_dft_enthalpy_stored_structure_table_output(invoke, submitted, qe_codes, pseudo_family, minimum):
    """The plain output names the PK and the `verdi process` commands; `--primitive` does not copy a stored node."""
    result = invoke('dft-enthalpy', minimum.pk, '--daemon', '--pressure', '2000kbar', '--primitive')
    assert result.exit_code == 0, result.output
    node = submitted[-1]
    assert f'Submitted DftEnthalpyWorkChain<{node.pk}>' in result.stdout
    for command in ('status', 'show', 'report'):
        assert f'verdi process {command} {node.pk}' in result.stdout
    assert f'StructureData<{minimum.pk}> is used as is' in result.stderr
    assert node.inputs.structure.uuid == minimum.uuid
    assert node.inputs.pressure.value == pytest.approx(200.0)
    assert node.inputs.structure.base.links.get_incoming().all() == []  # not made by the CLI: no copy, no calcfunction


def test_structure_file_becomes_a_new_primitive_node(invoke, submitted, qe_codes, pseudo_family):
    result = invoke('dft-enthalpy', H3S_CIF, '--daemon', '--json')
    assert result.exit_code == 0, result.output
    structure = submitted[-1].inputs.structure
    assert len(structure.sites) == 4  # the 8-atom conventional cell reduced to the bcc primitive cell (default)
    result = invoke('dft-enthalpy', H3S_CIF, '--daemon', '--json', '--no-primitive')
    assert result.exit_code == 0, result.output
    assert len(submitted[-1].inputs.structure.sites) == 8


def test_daemon_not_running_is_reported(invoke, qe_codes, pseudo_family, minimum):
    """Without a daemon (the test profile has no broker either) the command says how to start it, stores no work
    chain and shows no traceback."""
    from aiida_hydrides.workflows.dft.enthalpy import DftEnthalpyWorkChain

    before = orm.QueryBuilder().append(DftEnthalpyWorkChain).count()
    result = invoke('dft-enthalpy', minimum.pk, '--daemon')
    assert result.exit_code == 1, result.output
    assert 'is not running; start it with `verdi' in result.stderr and 'daemon start`' in result.stderr
    assert 'DftEnthalpyWorkChain was not submitted' in result.stderr
    assert 'Traceback' not in result.output
    assert orm.QueryBuilder().append(DftEnthalpyWorkChain).count() == before
