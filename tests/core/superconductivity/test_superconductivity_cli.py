"""``aiida-hydrides tc`` on recorded fcc Al files, and on a node that carries a ``tc`` output."""

import json

import pytest
from click.testing import CliRunner

from aiida_hydrides.cli import cli


@pytest.fixture(scope='module')
def al_dir(data_dir):
    return data_dir / 'qe_al_elph'


def invoke(*args):
    return CliRunner().invoke(cli, ['tc', *map(str, args)])


def test_table_with_lambda_file(al_dir):
    result = invoke(al_dir / 'a2F.dos6', '--lambda-file', al_dir / 'lambda')
    assert result.exit_code == 0, result.output
    output = result.output
    assert 'lambda    = 0.3563   (QE a2F.dos footer 0.3533)' in output
    assert 'clipping  = lambda +0.8% from setting the negative alpha^2F to 0' in output
    assert 'omega_log = 335.2 K' in output
    assert 'mu*=0.10' in output and 'mu*=0.13' in output
    for title in ('McMillan (Dynes)', 'Allen-Dynes f1 f2', 'Xie ML 2022', 'Eliashberg'):
        assert title in output
    assert '0.3523' in output and '<- this a2F.dos' in output  # the q-sum row of sigma = 0.03 Ry
    assert 'a2F integral vs q-sum at sigma = 0.03 Ry: lambda +1.1%' in output


def test_json_single_mustar_without_eliashberg(al_dir):
    result = invoke(al_dir / 'a2F.dos6', '--mustar', '0.1', '--no-eliashberg', '--json')
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['mustars'] == [0.1]
    assert data['tc_mcmillan_K_mu0_10'] == pytest.approx(0.676, rel=0.02)
    assert 'tc_eliashberg_K_mu0_10' not in data and 'tc_mcmillan_K_mu0_13' not in data


def test_repeated_mustar(al_dir):
    result = invoke(al_dir / 'a2F.dos6', '-m', '0.08', '-m', '0.12', '--no-eliashberg')
    assert result.exit_code == 0, result.output
    assert 'mu*=0.08' in result.output and 'mu*=0.12' in result.output and 'mu*=0.10' not in result.output


@pytest.mark.parametrize('name, message', [('lambda', 'not an a2F.dos file'), ('ph.in', 'not an a2F.dos file')])
def test_bad_file(al_dir, name, message):
    result = invoke(al_dir / name)
    assert result.exit_code == 1
    assert 'Error:' in result.output and message in result.output


def test_missing_file_that_is_no_identifier(tmp_path):
    result = invoke(tmp_path / 'nothing.dos')
    assert result.exit_code == 1
    assert 'Error:' in result.output and 'neither an existing a2F.dos file nor an AiiDA node' in result.output


def test_node_with_tc_output(aiida_profile, al_dir):
    from aiida import orm
    from aiida.common.links import LinkType

    from aiida_hydrides.core.superconductivity import read_a2f_dos, summarize_spectrum

    summary = summarize_spectrum(read_a2f_dos(al_dir / 'a2F.dos6'), eliashberg=False)
    workflow = orm.WorkflowNode().store()
    tc = orm.Dict(summary).store()
    tc.base.links.add_incoming(workflow, link_type=LinkType.RETURN, link_label='tc')

    result = invoke(workflow.pk)
    assert result.exit_code == 0, result.output
    assert 'lambda    = 0.3563' in result.output and 'Allen-Dynes f1 f2' in result.output

    result = invoke(workflow.uuid, '--json', '-m', '0.13')
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data['pk'] == workflow.pk and 'tc_mcmillan_K_mu0_13' in data and 'tc_mcmillan_K_mu0_10' not in data

    result = invoke(workflow.pk, '-m', '0.2')
    assert result.exit_code == 1 and 'no Tc for mu* = 0.2;' in result.output


def test_node_without_tc_output(aiida_profile):
    from aiida import orm

    node = orm.Int(5).store()
    result = invoke(node.pk)
    assert result.exit_code == 1
    assert 'Error:' in result.output and 'has no `tc` output' in result.output
    result = invoke(10**9)
    assert result.exit_code == 1 and 'neither an existing a2F.dos file nor an AiiDA node' in result.output
