"""Inputs that the commands refuse before they create anything: one clear message naming the argument or option,
exit status 2, no traceback, and the profile unchanged (same number of nodes and groups, no new profile)."""

import pathlib

import pytest
from aiida import orm

from aiida_hydrides.models import seed_model_path

SEED_DATA = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'seed'


def _counts():
    return orm.QueryBuilder().append(orm.Node).count(), orm.QueryBuilder().append(orm.Group).count()


@pytest.fixture
def unchanged(aiida_localhost):
    """Check that the profile has as many nodes and groups after the test as before it."""
    before = _counts()
    yield
    assert _counts() == before, 'the refused command stored something'


@pytest.fixture
def not_a_model(tmp_path):
    path = tmp_path / 'model.pth'
    path.write_text('not a model\n')
    return path


@pytest.mark.parametrize(
    ('args', 'where', 'message'),
    [
        (['Ca-Y', '-c', ''], "'--compositions'", 'no formula given'),
        (['Ca-Y', '-c', ' , '], "'--compositions'", 'no formula given'),
        (['Ca-Xx'], "'SYSTEM'", "unknown element symbol 'Xx'"),
        (['CaYH12'], "'SYSTEM'", 'looks like a formula, not a system'),
        (['Ca-Y', '-c', 'CaXxH6'], "'--compositions'", "unknown element symbol 'Xx' in the formula 'CaXxH6'"),
        (['Ca-Y', '-c', 'CaH6,LaH10'], "'--compositions'", 'LaH10 contains La, which is not part of the system Ca-Y'),
        (['Ca-Y', '-c', 'CaYH40'], "'--compositions'", 'x=40 is outside the hydrogen range'),
        (['Ca-Y', '-c', 'CaYH12', '--max-atoms', '10'], "'--max-atoms'", 'smaller than one formula unit of CaYH12'),
        (['Ca-U'], "'--model'", "does not know U (its type map is ['H', 'Ca', 'Y'])"),
        (['Ca-U', '-c', 'CaH6'], "'--model'", 'does not know U'),
        (['Ca-Y', '--pressure', '2000'], "'--pressure'", 'between 0 and 1000 GPa'),
        (['Ca-Y', '--window', '-5'], "'--window'", '-5'),
        (['Ca-Y', '--budget', '0'], "'--budget'", '0'),
    ],
)
def test_search_refuses_bad_input_before_storing_anything(invoke, unchanged, args, where, message):
    result = invoke('search', *args, '--model', seed_model_path())
    assert result.exit_code == 2, result.output
    assert where in result.output and message in result.output, result.output
    assert 'Traceback' not in result.output
    assert orm.QueryBuilder().append(orm.Group, filters={'label': {'like': 'hydrides/search/Ca-U/%'}}).count() == 0


def test_search_refuses_a_file_that_is_not_a_model(invoke, unchanged, not_a_model, tmp_path):
    result = invoke('search', 'Ca-Y', '-c', 'CaH6', '--model', not_a_model)
    assert result.exit_code == 2 and "'--model'" in result.output, result.output
    assert 'is not a DeePMD model' in result.output

    renamed = tmp_path / 'model.txt'
    renamed.write_bytes(seed_model_path().read_bytes())
    result = invoke('search', 'Ca-Y', '-c', 'CaH6', '--model', renamed)
    assert result.exit_code == 2 and 'is not a DeePMD model file: the name must end in .pth' in result.output


def test_search_refuses_a_pseudo_family_without_the_elements(invoke, pseudo_family, tmp_path):
    from aiida_pseudo.groups.family import PseudoPotentialFamily

    only_h = PseudoPotentialFamily(label='test/refused/only-H').store()
    only_h.add_nodes([pseudo_family.get_pseudo('H')])
    before = _counts()
    result = invoke('search', 'Ca-Y', '-c', 'CaH6', '--model', seed_model_path(), '--family', only_h.label)
    assert result.exit_code == 2 and "'--family'" in result.output, result.output
    assert 'has no pseudopotential for Ca, Y' in result.output
    result = invoke('search', 'Ca-Y', '-c', 'CaH6', '--model', seed_model_path(), '--family', 'no/such/family')
    assert result.exit_code == 2 and "'--family'" in result.output and 'not installed' in result.output
    assert _counts() == before


@pytest.mark.parametrize(
    ('args', 'where', 'message'),
    [
        (['--ids', 'nosuch'], "'--ids'", 'unknown frame id nosuch'),
        (['--ids', 'seed-0001,nosuch,other'], "'--ids'", 'unknown frame ids nosuch, other'),
        (['--ids', ','], "'--ids'", 'no frame id given'),
        (['--computer', 'nowhere'], "'--computer'", 'does not exist yet'),
    ],
)
def test_label_run_checks_its_arguments_before_any_profile(invoke, unchanged, args, where, message):
    from aiida.manage.configuration import get_config

    profiles = list(get_config().profile_names)
    result = invoke('label', 'run', '--data-dir', SEED_DATA, '--profile-name', 'test-refused-labels', *args)
    assert result.exit_code == 2, result.output
    assert where in result.output and message in result.output, result.output
    assert get_config().profile_names == profiles, 'a profile was created'


def test_label_run_refuses_a_data_dir_without_candidates(invoke, unchanged, tmp_path):
    from aiida.manage.configuration import get_config

    profiles = list(get_config().profile_names)
    result = invoke('label', 'run', '--data-dir', tmp_path, '--profile-name', 'test-refused-labels')
    assert result.exit_code == 2 and "'--data-dir'" in result.output and 'does not exist' in result.output
    assert get_config().profile_names == profiles
