"""Tests for ``aiida-hydrides compositions`` and ``aiida-hydrides analyze``."""

import json

import pytest
from click.testing import CliRunner

from aiida_hydrides.cli import cli


@pytest.fixture
def invoke():
    runner = CliRunner()

    def _invoke(*args):
        return runner.invoke(cli, [str(arg) for arg in args])

    return _invoke


def test_compositions_count(invoke):
    result = invoke('compositions', 'Ca-Y', '--count')
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == '576'
    assert lines[1] == '473 distinct reduced formulas'


def test_compositions_whole_space_count(invoke):
    result = invoke('compositions', '--all', '--count')
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == '217728'
    assert '378 pairs' in result.stdout
    data = json.loads(invoke('compositions', '--all', '--count', '--json').stdout)
    assert data['num_pairs'] == 378 and data['count'] == 217728 and len(data['elements']) == 29


def test_compositions_listing_and_json(invoke):
    result = invoke('compositions', 'CaY', '--distinct')
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert len(rows) == 1 + 473 and rows[1].split()[0] == 'CaYH6'
    data = json.loads(invoke('compositions', 'Ca-Y', '--json').stdout)
    assert data['count'] == 576 and data['distinct_count'] == 473 and len(data['compositions']) == 576
    assert data['compositions'][0]['formula'] == 'CaYH6'
    assert data['rules'] == {'max_m': 4, 'max_n': 4, 'min_h_ratio': 3, 'max_h_ratio': 10}


def test_compositions_custom_rules_and_space(invoke):
    result = invoke('compositions', 'Ca-Y', '--count', '--max-m', '1', '--max-n', '1')
    assert result.stdout.splitlines()[0] == '15'  # x = 6..20
    result = invoke('compositions', '--all', '--elements', 'Ca,Y,La', '--count')
    assert result.stdout.splitlines()[0] == str(3 * 576)


def test_compositions_references(invoke):
    data = json.loads(invoke('compositions', 'Ca-Y', '--references', '--json').stdout)
    assert data['elements'] == ['Ca', 'Y', 'H'] and len(data['hydrides']) == 110 and len(data['alloys']) == 11
    result = invoke('compositions', 'Ca-Y', '--references')
    assert result.exit_code == 0 and 'CaH6' in result.stdout.splitlines()


@pytest.mark.parametrize(
    'args, message',
    [
        (['Xx-Y', '--count'], "unknown element symbol 'Xx'"),
        (['CaYH12'], 'looks like a formula'),
        ([], 'give a SYSTEM'),
        (['Ca-Y', '--all'], 'not both'),
        (['Ca-Y', '--max-m', '0'], 'max_m must be a whole number >= 1'),
        (['Ca-Y', '--min-h-ratio', '11'], 'must not exceed'),
    ],
)
def test_compositions_bad_input(invoke, args, message):
    result = invoke('compositions', *args)
    assert result.exit_code == 1
    assert 'Error:' in result.stderr and message in result.stderr


def test_analyze_table_and_json(invoke, data_dir):
    path = data_dir / 'structures' / 'CaH6_Im-3m.cif'
    result = invoke('analyze', path)
    assert result.exit_code == 0, result.output
    assert '229 (Im-3m)' in result.stdout and 'Ca2H12 (CaH6)' in result.stdout
    data = json.loads(invoke('analyze', path, '--json').stdout)
    assert data['space_group_number'] == 229 and data['atomic_h_fraction'] == 1.0
    assert data['shortest_hh_distance'] == pytest.approx(1.2374, abs=1e-4)
    strict = json.loads(invoke('analyze', path, '--json', '--h-threshold', '1.3', '--symprec', '0.01').stdout)
    assert strict['atomic_h_fraction'] == 0.0 and strict['symprec'] == 0.01 and strict['h_threshold'] == 1.3


def test_analyze_molecular_and_format_option(invoke, data_dir, tmp_path):
    data = json.loads(invoke('analyze', data_dir / 'structures' / 'H2_molecular.extxyz', '--json').stdout)
    assert data['num_h2_units'] == 2 and data['atomic_h_fraction'] == pytest.approx(0.2)
    renamed = tmp_path / 'lah10.txt'
    renamed.write_text((data_dir / 'structures' / 'LaH10_Fm-3m.POSCAR').read_text())
    data = json.loads(invoke('analyze', renamed, '--format', 'vasp', '--json').stdout)
    assert data['space_group_number'] == 225


def test_analyze_bad_input(invoke, tmp_path):
    result = invoke('analyze', tmp_path / 'missing.cif')
    assert result.exit_code == 1 and 'Error: structure file not found' in result.stderr
    empty = tmp_path / 'empty.cif'
    empty.write_text('')
    result = invoke('analyze', empty)
    assert result.exit_code == 1 and 'is empty' in result.stderr
    garbage = tmp_path / 'garbage.cif'
    garbage.write_text('no crystal here\n')
    result = invoke('analyze', garbage)
    assert result.exit_code == 1 and 'Error: could not read' in result.stderr
