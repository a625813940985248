"""``aiida-hydrides screen``: a group that cannot be screened, a bad threshold or a model that lacks an element is
refused before anything is launched: a clear message, and not one node more in the database. (The cascade itself runs
for real in tests/workflows/screen/test_screen.py.)"""

import pytest
from aiida import orm

from aiida_hydrides.models import seed_model_path


def _minimum(formula_cell, enthalpy, pressure=200.0):
    """A stored structure tagged as a LAM search minimum (these tests never compute with it)."""
    from ase import Atoms

    from aiida_hydrides.extras import tag_node

    symbols, a = formula_cell
    positions = [(i / len(symbols), 0.5 * (i % 2), 0.3) for i in range(len(symbols))]
    atoms = Atoms(symbols, scaled_positions=positions, cell=[a, a, a], pbc=True)
    node = orm.StructureData(ase=atoms).store()
    tag_node(node, method='lam', kind='search_minimum', pressure_gpa=pressure, enthalpy_lam_ev=enthalpy)
    return node


def _group(label, nodes):
    group, _ = orm.Group.collection.get_or_create(label)
    group.add_nodes(nodes)
    return group


def _count():
    return orm.QueryBuilder().append(orm.Node).count()


@pytest.fixture
def elements():
    return [_minimum((['Ca'], 2.5), -1000.0), _minimum((['H', 'H'], 2.0), -12.0)]


@pytest.mark.parametrize(
    ('case', 'message'),
    [
        ('missing', "there is no group 'test/cli/screen/none'"),
        ('mixed', 'different pressures: 150 GPa (1), 200 GPa (3)'),
        ('no_hydrides', 'holds no hydride to screen'),
        ('no_reference', 'has none of Ca'),
        ('pressure', 'not at the requested 150 GPa'),
    ],
)
def test_screen_refuses_before_launch(invoke, aiida_localhost, elements, case, message):
    hydride = _minimum((['Ca'] + ['H'] * 6, 3.0), -150.0)
    label = f'test/cli/screen/{case}'
    args = []
    if case == 'missing':
        label = 'test/cli/screen/none'
    elif case == 'mixed':
        _group(label, [*elements, hydride, _minimum((['Ca'] + ['H'] * 6, 3.0), -150.0, pressure=150.0)])
    elif case == 'no_hydrides':
        _group(label, elements)
    elif case == 'no_reference':
        _group(label, [elements[1], hydride])
    else:
        _group(label, [*elements, hydride])
        args = ['--pressure', '150']
    before = _count()
    result = invoke('screen', label, '--model', seed_model_path(), '--no-dft', *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert 'Traceback' not in result.output
    assert _count() == before


def test_screen_refuses_a_model_without_the_element(invoke, aiida_localhost, elements):
    lithium = [_minimum((['Li'], 2.5), -200.0), _minimum((['Li'] + ['H'] * 6, 3.0), -20.0)]
    _group('test/cli/screen/lithium', [*elements, *lithium])
    before = _count()
    result = invoke('screen', 'test/cli/screen/lithium', '--model', seed_model_path(), '--no-dft')
    assert result.exit_code == 1, result.output
    assert 'does not know Li' in result.output
    assert _count() == before


@pytest.mark.parametrize(
    ('threshold', 'message'),
    [
        ('ehull_max=10', "unknown parameters ['ehull_max']"),
        ('atomic_h_min=2', 'atomic_h_min must lie between 0 and 1'),
        ('symprec', "'symprec' is not NAME=VALUE"),
        ('imaginary_max_thz=soft', 'the value of imaginary_max_thz must be a number'),
    ],
)
def test_screen_refuses_bad_thresholds(invoke, aiida_localhost, elements, threshold, message):
    _group('test/cli/screen/thresholds', [*elements, _minimum((['Ca'] + ['H'] * 6, 3.0), -150.0)])
    before = _count()
    result = invoke('screen', 'test/cli/screen/thresholds', '--threshold', threshold, '--no-dft')
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--threshold'" in result.output and message in result.output
    assert _count() == before
