"""``SearchCalculation`` on localhost: ``hydrides-lam search`` run by AiiDA on several compositions, with the tiny
DeePMD model; and the worker's checks of compositions, atom budget and model, mapped to exit codes."""

import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, ParserFactory

TINY_MODEL = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'lam' / 'tiny_se_e2_a.pth'
#: a few high-symmetry space groups that PyXtal fills quickly
FAST_GROUPS = [75, 99, 123, 139, 191, 200, 221, 225, 229]
PARAMETERS = {
    'pressure_gpa': 200.0,
    'budget': 6,
    'population': 6,
    'max_atoms': 14,
    'max_steps': 10,
    'seed': 0,
    'space_groups': FAST_GROUPS,
}


@pytest.fixture
def lam_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)  # the default 10 s would dominate these short jobs
    return ensure_lam_code(aiida_localhost)


@pytest.fixture
def model_node():
    if not TINY_MODEL.exists():
        pytest.fail(f'{TINY_MODEL} is missing; run scripts/make_tiny_test_model.sh')
    return orm.SinglefileData(TINY_MODEL)


def _builder(code, compositions, model, parameters):
    builder = CalculationFactory('hydrides.search').get_builder()
    builder.code = code
    builder.compositions = orm.List(compositions)
    builder.model = model
    builder.parameters = orm.Dict(parameters)
    builder.metadata.options.max_wallclock_seconds = 600
    return builder


def test_entry_points_and_fields():
    import dataclasses

    from aiida_hydrides.calculations.search import SearchCalculation
    from aiida_hydrides.core.search.engine import SearchSettings
    from aiida_hydrides.core.search.worker import SEARCH_FIELDS
    from aiida_hydrides.parsers.search import SearchParser

    assert CalculationFactory('hydrides.search') is SearchCalculation
    assert ParserFactory('hydrides.search') is SearchParser
    assert SEARCH_FIELDS == tuple(field.name for field in dataclasses.fields(SearchSettings))
    spec = SearchCalculation.spec()
    assert spec.inputs['metadata']['options']['withmpi'].default is False
    assert spec.inputs['metadata']['options']['parser_name'].default == 'hydrides.search'


def test_search_round_trip(aiida_profile, lam_code, model_node):
    results, node = run_get_node(_builder(lam_code, ['CaH6', {'Y': 1, 'H': 6}], model_node, PARAMETERS))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)

    # compact: one ArrayData for all samples and one for the minima, not one node per structure
    created = node.base.links.get_outgoing(link_type=LinkType.CREATE).all()
    labels = sorted(link.link_label for link in created)
    assert labels == ['minima', 'remote_folder', 'retrieved', 'samples', 'summary']
    assert not [link for link in created if isinstance(link.node, orm.StructureData)]

    samples, minima, summary = results['samples'], results['minima'], results['summary'].get_dict()
    assert samples.base.attributes.get('n_structures') == 12
    assert samples.base.attributes.get('compositions') == ['CaH6', 'YH6']
    index = samples.get_array('composition_index')
    assert np.bincount(index).tolist() == [6, 6]
    assert samples.get_array('formula').tolist() == ['CaH6'] * 6 + ['YH6'] * 6
    assert samples.get_array('offsets')[-1] == len(samples.get_array('numbers'))
    # stored compactly: no initial structures, positions in single precision, small integers; the minima in double
    assert 'initial_positions' not in samples.get_arraynames() and 'initial_cells' not in samples.get_arraynames()
    assert samples.get_array('positions').dtype == np.float32 and samples.get_array('numbers').dtype == np.uint8
    assert samples.get_array('cells').dtype == np.float32
    assert samples.get_array('duplicate_of').dtype == np.int32 and samples.get_array('offsets').dtype == np.int64
    assert minima.get_array('positions').dtype == np.float64
    # the worker's files are read from a temporary folder, not stored a second time beside the arrays
    kept = node.outputs.retrieved.base.repository.list_object_names()
    assert not {'samples.npz', 'minima.npz', 'search.json'} & set(kept), kept
    for key in ('enthalpy_per_atom', 'flag', 'generation', 'origin', 'duplicate_of', 'local_index', 'n_steps'):
        assert len(samples.get_array(key)) == 12, key
    duplicates = samples.get_array('duplicate_of')
    assert all(d < i and index[d] == index[i] for i, d in enumerate(duplicates) if d >= 0)

    from aiida_hydrides.core.compositions import parse_formula
    from aiida_hydrides.data.structure_batch import array_to_structures

    structures = array_to_structures(samples)
    reduced = [parse_formula(a.get_chemical_formula(mode='metal')).reduced_formula for a in structures]
    assert reduced == ['CaH6'] * 6 + ['YH6'] * 6

    # minima: the best of each composition first, pointing at its sample
    enthalpies = samples.get_array('enthalpy_per_atom')
    mins = {name: minima.get_array(name) for name in minima.get_arraynames()}
    assert minima.base.attributes.get('n_structures') == len(mins['rank']) >= 2
    for k, sample in enumerate(mins['sample_index']):
        assert mins['enthalpy_per_atom'][k] == pytest.approx(enthalpies[sample])
        assert 0 <= mins['relative_mev'][k] <= 100.0
    for c, formula in enumerate(['CaH6', 'YH6']):
        rows = np.flatnonzero(mins['composition_index'] == c)
        assert mins['rank'][rows[0]] == 0 and mins['relative_mev'][rows[0]] == 0.0
        entry = summary['compositions'][c]
        assert entry['formula'] == formula and entry['status'] == 'finished'
        assert entry['n_relaxations'] == 6
        usable = np.isin(samples.get_array('flag')[index == c], ['converged', 'max_steps'])
        assert entry['best_enthalpy_per_atom'] == pytest.approx(enthalpies[index == c][usable].min())
        assert entry['best_space_group_symbol'] == mins['space_group_symbol'][rows[0]]
        assert entry['n_minima'] == len(rows)
    assert summary['n_structures'] == 12
    assert not any('minima' in entry for entry in summary['compositions'])  # they are in the minima output
    assert summary['model'] == 'tiny_se_e2_a.pth' and len(summary['model_md5']) == 32
    assert summary['settings']['budget'] == 6 and summary['window_mev'] == 100.0
    # the worker's time limit: the job's walltime less the margin
    assert summary['max_wall_s'] == 540.0 and summary['stopped'] is None and summary['unfinished'] == []


def test_search_stops_at_time_limit(aiida_profile, lam_code, model_node):
    """A worker past its max_wall_s starts no further composition: the finished one is attached, exit 400."""
    from aiida_hydrides.calculations.base import worker_time_limit
    from aiida_hydrides.calculations.search import SearchCalculation

    assert worker_time_limit(600) == 540.0 and worker_time_limit(3600 * 24) == 3600 * 24 * 0.9
    assert worker_time_limit(100) == 50.0  # at most half the walltime goes to the margin
    results, node = run_get_node(_builder(lam_code, ['CaH6', 'YH6'], model_node, {**PARAMETERS, 'max_wall_s': 1e-3}))
    assert node.exit_status == SearchCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status == 400
    assert 'not finished: YH6' in node.exit_message
    samples, summary = results['samples'], results['summary'].get_dict()
    assert samples.get_array('formula').tolist() == ['CaH6'] * 6  # the first composition is always started
    assert [(entry['formula'], entry['status']) for entry in summary['compositions']] == [
        ('CaH6', 'finished'),
        ('YH6', 'not_started'),
    ]
    assert summary['stopped']['reason'] == 'walltime' and summary['unfinished'] == ['YH6']
    assert summary['max_wall_s'] == 1e-3
    assert results['minima'].base.attributes.get('n_structures') >= 1
    with pytest.raises(ValueError, match='max_wall_s must be a number of seconds > 0'):
        run_get_node(_builder(lam_code, ['CaH6'], model_node, {**PARAMETERS, 'max_wall_s': 0}))


@pytest.mark.parametrize(
    ('compositions', 'parameters', 'status', 'message'),
    [
        (['XxH6'], {}, 321, "unknown element symbol 'Xx'"),
        (['LaH10'], {}, 321, 'type map'),
        (['CaYH40'], {}, 323, 'x=40 is outside the hydrogen range'),
        (['CaH6', 'Ca2H12'], {}, 323, 'same composition'),
        (['CaH6'], {'max_atoms': 5}, 324, 'smaller than one formula unit of CaH6'),
    ],
)
def test_search_rejects_bad_compositions(
    aiida_profile, lam_code, model_node, compositions, parameters, status, message
):
    _, node = run_get_node(_builder(lam_code, compositions, model_node, {**PARAMETERS, **parameters}))
    assert node.exit_status == status, node.exit_message
    assert message in node.exit_message
    assert 'samples' not in node.outputs


def test_search_bad_model(aiida_profile, lam_code, tmp_path):
    fake = tmp_path / 'fake.pth'
    fake.write_text('not a model')
    _, node = run_get_node(_builder(lam_code, ['CaH6'], orm.SinglefileData(fake), PARAMETERS))
    assert node.exit_status == 320
    assert 'not a DeePMD model' in node.exit_message


def test_search_input_validation(aiida_profile, lam_code, model_node):
    with pytest.raises(ValueError, match='unknown parameters'):
        run_get_node(_builder(lam_code, ['CaH6'], model_node, {'pressure': 200}))
    with pytest.raises(ValueError, match='pressure_gpa must be a number in GPa'):
        run_get_node(_builder(lam_code, ['CaH6'], model_node, {'pressure_gpa': '200 GPa'}))
    with pytest.raises(ValueError, match='budget must be a whole number'):
        run_get_node(_builder(lam_code, ['CaH6'], model_node, {'budget': 0}))
    with pytest.raises(ValueError, match='list of compositions is empty'):
        run_get_node(_builder(lam_code, [], model_node, PARAMETERS))


def test_worker_checks_without_aiida(tmp_path):
    """The pure-Python checks of the worker: compositions, rules and the model's type map."""
    from aiida_hydrides.core.errors import CompositionRuleError, UnknownElementError
    from aiida_hydrides.core.search.worker import (
        AtomBudgetError,
        check_compositions,
        read_type_map,
        settings_from_parameters,
    )

    assert [c.formula for c in check_compositions(['Ca2Y2H24', {'Y': 1, 'H': 6}, 'H', 'Ca', 'CaY'])] == [
        'CaYH12',
        'YH6',
        'H',
        'Ca',
        'CaY',
    ]
    with pytest.raises(UnknownElementError):
        check_compositions(['XxH6'])
    with pytest.raises(CompositionRuleError, match='binary hydrides'):
        check_compositions(['CaH20'])
    with pytest.raises(AtomBudgetError):
        check_compositions(['CaYH12'], max_atoms=13)
    with pytest.raises(AtomBudgetError, match=r'none of formula_units=\[2\]'):
        check_compositions(['CaH6', 'CaYH12'], max_atoms=20, formula_units=2)
    assert [c.formula for c in check_compositions(['CaH6'], max_atoms=20, formula_units=[2, 3])] == ['CaH6']
    assert read_type_map(TINY_MODEL) == ['H', 'Ca', 'Y']
    fake = tmp_path / 'fake.pth'
    fake.write_text('x')
    assert read_type_map(fake) is None
    settings, options = settings_from_parameters(
        {'min_pairs': {'Ca-H': 1.5}, 'space_groups': [221, 229], 'window_mev': 50}
    )
    assert settings.min_pairs == {('Ca', 'H'): 1.5} and settings.space_groups == (221, 229)
    assert options['window_mev'] == 50.0


def test_worker_sigterm_keeps_finished(tmp_path):
    """SIGTERM (a scheduler's notice) during the second composition: the first is written, the others are listed as
    unfinished, the error file says why, exit status 7."""
    import json
    import shutil
    import signal
    import subprocess
    import sys

    from aiida_hydrides.core.lam.worker import EXIT_STOPPED, is_out_of_memory

    assert is_out_of_memory(MemoryError()) and is_out_of_memory(RuntimeError('CUDA out of memory. Tried to allocate'))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
    assert not is_out_of_memory(ValueError('out of memory')) and not is_out_of_memory(RuntimeError('bad shape'))

    worker = pathlib.Path(sys.executable).parent / 'hydrides-lam'
    worker = str(worker) if worker.exists() else shutil.which('hydrides-lam')
    (tmp_path / 'compositions.json').write_text(json.dumps(['CaH6', 'YH6', 'CaYH12']))
    (tmp_path / 'parameters.json').write_text(json.dumps(PARAMETERS))
    process = subprocess.Popen(
        [
            worker,
            'search',
            '--compositions',
            'compositions.json',
            '--model',
            str(TINY_MODEL),
            '--parameters',
            'parameters.json',
            '--output',
            'samples.npz',
            '--summary',
            'search.json',
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith('[2/3]'):
            process.send_signal(signal.SIGTERM)
            break
    lines.extend(process.stdout)
    assert process.wait(timeout=120) == EXIT_STOPPED, ''.join(lines)
    summary = json.loads((tmp_path / 'search.json').read_text())
    statuses = [entry['status'] for entry in summary['compositions']]
    assert statuses[0] == 'finished' and statuses[2] == 'not_started' and statuses[1] in ('interrupted', 'finished')
    assert summary['stopped'] == {'reason': 'signal', 'message': 'stopped by SIGTERM'}
    assert summary['unfinished'][-1] == 'CaYH12'
    error = json.loads((tmp_path / 'lam_error.json').read_text())
    assert error['error'] == 'signal' and error['partial'] and error['unfinished'] == summary['unfinished']
    with np.load(tmp_path / 'samples.npz') as samples:
        assert set(samples['formula'].tolist()) == {'CaH6'} | ({'YH6'} if statuses[1] == 'finished' else set())
