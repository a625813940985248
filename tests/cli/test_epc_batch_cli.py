"""``aiida-hydrides epc-batch``: a group that is missing, empty or has an element the pseudopotential family lacks is
refused before anything is launched (a clear message, no node more in the database); ``--daemon`` submits the work
chain built from the options and returns. (The batch runs for real in tests/workflows/epc/test_batch.py.)"""

import json
import types

import numpy as np
import pytest
from aiida import orm


def _structure(symbol: str = 'Al', a: float = 2.7):
    structure = orm.StructureData(cell=(a * np.eye(3)).tolist())
    structure.append_atom(position=(0.0, 0.0, 0.0), symbols=symbol)
    return structure.store()


def _group(label, *nodes):
    group, _ = orm.Group.collection.get_or_create(label)
    group.add_nodes(list(nodes))
    return group


def _count():
    return orm.QueryBuilder().append(orm.Node).count()


@pytest.mark.parametrize(
    ('case', 'message'),
    [
        ('missing', "no group 'test/cli/epc-batch/none'"),
        ('empty', "the group 'test/cli/epc-batch/empty' holds no structure"),
        ('element', 'has no pseudopotential for Au'),
    ],
)
def test_epc_batch_refuses_before_launch(invoke, aiida_localhost, pseudo_family, case, message):
    _group('test/cli/epc-batch/empty')
    _group('test/cli/epc-batch/element', _structure('Al'), _structure('Au'))
    before = _count()
    result = invoke('epc-batch', f'test/cli/epc-batch/{"none" if case == "missing" else case}')
    assert result.exit_code == 1, result.output
    assert message in result.stderr and 'Traceback' not in result.output
    assert _count() == before


def test_epc_batch_daemon_submits(invoke, aiida_localhost, pseudo_family, monkeypatch):
    """``--daemon``: the work chain is submitted with the options' settings and the command returns its PK."""
    import aiida.engine

    group = _group('test/cli/epc-batch/daemon', _structure('Al'))
    submitted = []

    def fake_submit(builder, **_):
        submitted.append(builder)
        return types.SimpleNamespace(pk=4242, uuid='not-a-real-uuid')

    monkeypatch.setattr(aiida.engine, 'submit', fake_submit)
    result = invoke(
        'epc-batch', group.label, '-p', '150', '--no-relax', '--max-concurrent', 3, '--no-projwfc', '--daemon', '--json'
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)['pk'] == 4242
    (builder,) = submitted
    assert builder.group.value == group.label and builder.pressure.value == 150.0
    assert builder.run_relax.value is False and builder.max_concurrent.value == 3
    assert builder.relax.protocol.value == 'moderate' and builder.epc.protocol.value == 'screening'
    assert 'projwfc' not in builder.codes and builder.codes.pw.label == 'pw'


def test_format_batch_summary():
    from aiida_hydrides.cli.epc_batch import format_batch_summary

    summary = {
        'group': 'g',
        'pressure_gpa': 200.0,
        'run_relax': True,
        'protocol': {'name': 'fast'},
        'counts': {'done': 1, 'unstable': 1, 'failed': 1, 'skipped': 1},
        'structures': [
            {'key': 'pk1', 'formula': 'H3S', 'status': 'done', 'wall_s': 600.0, 'lambda': 2.1, 'omega_log_K': 1300.0,
             'tc_allen_dynes_K_mu0_10': 190.0},
            {'key': 'pk2', 'formula': 'Al', 'status': 'unstable', 'wall_s': 60.0, 'n_imaginary_modes': 3,
             'min_frequency_cm': -157.9},
            {'key': 'pk3', 'formula': 'CaH6', 'status': 'failed', 'stage': 'relax', 'error': 'exit status 401'},
            {'key': 'pk4', 'formula': 'YH6', 'status': 'skipped', 'reused_status': 'done', 'wall_s': 10.0,
             'lambda': 1.5, 'omega_log_K': 900.0, 'tc_allen_dynes_K_mu0_10': None},
        ],
    }  # fmt: skip
    text = format_batch_summary(summary, pk=7)
    assert "group 'g' (relaxed at 200 GPa, fast protocol): 1 done, 1 unstable, 1 failed, 1 skipped" in text
    assert 'lambda 2.100, omega_log 1300.0 K, Tc(AD, mu* 0.10) 190.00 K' in text
    assert '3 imaginary mode(s), lowest -157.9 cm^-1' in text
    assert 'relax: exit status 401' in text
    assert 'skipped (done)' in text and 'Tc(AD, mu* 0.10) -' in text
