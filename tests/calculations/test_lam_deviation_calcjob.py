"""``LamDeviationCalculation`` on localhost: ``hydrides-lam deviation`` run by AiiDA with a small ensemble (the tiny
test model twice and the seed model), frames of two sources (a batch of structures and search samples with their
relaxation frames); the worker's refusals and the parser on bad files."""

import io
import json
import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory, ParserFactory

from aiida_hydrides.core.lam.batch import pack_structures
from aiida_hydrides.core.lam.deviation import take_frames
from aiida_hydrides.data.structure_batch import arrays_to_arraydata, batch_arrays, structures_to_array

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_MODEL = ROOT / 'tests' / 'data' / 'lam' / 'tiny_se_e2_a.pth'
SEED_MODEL = ROOT / 'aiida_hydrides' / 'models' / 'seed' / 'seed_se_e2_a.pth'


def cells(count=4, seed=11):
    """Rattled primitive Im-3m CaH6 and YH6 cells near 200 GPa density."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    result = []
    for k in range(count):
        a = 3.5
        prim = 0.5 * a * np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
        positions = [(0, 0, 0), (0.25 * a, 0, 0.5 * a), (0.75 * a, 0, 0.5 * a), (0.5 * a, 0.25 * a, 0)]
        positions += [(0.5 * a, 0.75 * a, 0), (0, 0.5 * a, 0.25 * a), (0, 0.5 * a, 0.75 * a)]
        atoms = Atoms(['Ca' if k % 2 == 0 else 'Y'] + ['H'] * 6, positions=positions, cell=prim, pbc=True)
        atoms.wrap()
        atoms.positions += rng.normal(0.0, 0.03 * (k + 1), atoms.positions.shape)
        result.append(atoms)
    return result


def search_samples(structures):
    """Arrays shaped like a search's ``samples`` (single precision geometry) with two frames per relaxation."""
    arrays = pack_structures(structures)
    arrays['positions'] = arrays['positions'].astype(np.float32)
    arrays['n_steps'] = np.full(len(structures), 7)
    rng = np.random.default_rng(len(structures))
    frames = []
    for atoms in structures:
        for sigma in (0.08, 0.02):  # the first frame of each relaxation further from the minimum than the second
            frame = atoms.copy()
            frame.positions += rng.normal(0.0, sigma, frame.positions.shape)
            frames.append(frame)
    trajectory = pack_structures(frames)
    for key in ('numbers', 'positions', 'cells', 'offsets'):
        arrays[f'trajectory_{key}'] = trajectory[key]
    arrays['trajectory_sample'] = np.repeat(np.arange(len(structures)), 2)
    arrays['trajectory_step'] = np.tile([0, 5], len(structures))
    arrays['composition_formulas'] = np.array(['CaH6', 'YH6'])
    return arrays


@pytest.fixture
def lam_code(aiida_localhost):
    from aiida_hydrides.codes import ensure_lam_code

    aiida_localhost.set_minimum_job_poll_interval(1.0)
    return ensure_lam_code(aiida_localhost)


@pytest.fixture
def ensemble():
    for path in (TINY_MODEL, SEED_MODEL):
        if not path.exists():
            pytest.fail(f'{path} is missing')
    return {
        'm0': orm.SinglefileData(TINY_MODEL),
        'm1': orm.SinglefileData(TINY_MODEL),
        'm2': orm.SinglefileData(SEED_MODEL),
    }


def _builder(code, models, frames, parameters):
    builder = CalculationFactory('hydrides.lam.deviation').get_builder()
    builder.code = code
    builder.models = models
    builder.frames = frames
    builder.parameters = orm.Dict(parameters)
    builder.metadata.options.max_wallclock_seconds = 600
    return builder


def test_entry_points():
    from aiida_hydrides.calculations.lam_deviation import LamDeviationCalculation
    from aiida_hydrides.parsers.lam_deviation import LamDeviationParser

    assert CalculationFactory('hydrides.lam.deviation') is LamDeviationCalculation
    assert ParserFactory('hydrides.lam.deviation') is LamDeviationParser
    spec = LamDeviationCalculation.spec()
    assert 'model' not in spec.inputs and 'models' in spec.inputs
    assert spec.inputs['metadata']['options']['parser_name'].default == 'hydrides.lam.deviation'


def test_search_samples_keep_their_trajectory_compactly():
    """The search parser stores the frames along the relaxations like the structures (float32 geometry, uint8
    numbers), and the deviation job reads them back."""
    from aiida_hydrides.core.lam.deviation import frame_batch
    from aiida_hydrides.parsers.search import compact_arrays

    arrays = search_samples(cells(2))
    stored = compact_arrays(arrays, single_precision_geometry=True)
    assert stored['trajectory_positions'].dtype == np.float32 and stored['trajectory_cells'].dtype == np.float32
    assert stored['trajectory_numbers'].dtype == np.uint8 and stored['trajectory_offsets'].tolist() == [
        0,
        7,
        14,
        21,
        28,
    ]
    frames = frame_batch(stored, 'trajectory')
    np.testing.assert_allclose(frames['positions'], arrays['trajectory_positions'], atol=1e-5)
    assert frames['numbers'].dtype == np.int64


def _window(values):
    """A trust window with the two smallest deviations below it and the largest above, at the middle of the gaps."""
    values = np.sort(values)
    return float((values[1] + values[2]) / 2), float((values[-2] + values[-1]) / 2)


def test_deviation_round_trip(aiida_profile, lam_code, ensemble):
    """Real run: the numbers equal the in-process evaluation, statuses follow the window, candidates are spread."""
    from aiida_hydrides.core.lam.deviation import evaluate_deviation, frame_batch
    from aiida_hydrides.core.lam.model import load_model

    evaluators = [load_model(TINY_MODEL), load_model(TINY_MODEL), load_model(SEED_MODEL)]
    structures = cells()
    frames = {'p150': structures_to_array(structures[:2]), 'p250': arrays_to_arraydata(search_samples(structures[2:]))}
    # 'both' needs frames along the relaxations in every batch: refused at submission
    with pytest.raises(ValueError, match='trajectory_every > 0'):
        run_get_node(_builder(lam_code, ensemble, frames, {'frames': 'both'}))

    frames['p150'] = arrays_to_arraydata(search_samples(structures[:2]))
    expected = np.concatenate(
        [evaluate_deviation(evaluators, frame_batch(batch_arrays(frames[key]), 'both')).max_devi_f for key in frames]
    )
    lo, hi = _window(expected)  # 2 accurate, 1 failed, 9 candidates
    parameters = {
        'f_trust_lo': lo,
        'f_trust_hi': hi,
        'max_candidates': 3,
        'frames': 'both',
        'dedup_threshold': 0.0,
        'compress': False,
    }
    results, node = run_get_node(_builder(lam_code, ensemble, frames, parameters))
    assert node.is_finished_ok, (node.exit_status, node.exit_message)
    deviations, candidates, summary = results['deviations'], results['candidates'], results['summary'].get_dict()
    assert deviations.get_array('source').tolist() == ['p150'] * 6 + ['p250'] * 6
    assert deviations.get_array('frame_kind').tolist() == (['structure'] * 2 + ['trajectory'] * 4) * 2
    assert deviations.get_array('sample_index').tolist() == [0, 1, 0, 0, 1, 1] * 2
    np.testing.assert_allclose(deviations.get_array('max_devi_f'), expected, rtol=1e-6, atol=1e-8)
    assert summary['counts'] == {'accurate': 2, 'candidate': 9, 'failed': 1}
    assert summary['shares']['candidate'] == pytest.approx(0.75)
    assert summary['n_chosen'] == 3 and summary['n_models'] == 3 and summary['n_frames'] == 12
    assert set(summary['sources']) == {'p150', 'p250'} and set(summary['formulas']) == {'CaH6', 'YH6'}
    assert summary['settings']['f_trust_lo'] == pytest.approx(lo)
    assert deviations.base.attributes.get('shares')['candidate'] == pytest.approx(0.75)
    # candidates: a structure batch of the chosen frames, one per group (source and formula)
    assert candidates.base.attributes.get('n_structures') == 3
    chosen = candidates.get_array('deviation_index')
    assert np.all(deviations.get_array('status')[chosen] == 'candidate') and deviations.get_array('chosen').sum() == 3
    groups = {
        (source, formula) for source, formula in zip(candidates.get_array('source'), candidates.get_array('formula'))
    }
    assert len(groups) == 3
    assert set(candidates.get_arraynames()) >= {'numbers', 'positions', 'cells', 'offsets', 'max_devi_f', 'step'}


def test_deviation_refusals(aiida_profile, lam_code, ensemble):
    bad = cells(2)
    bad[0][0].symbol = 'La'
    _, node = run_get_node(_builder(lam_code, ensemble, {'a': structures_to_array(bad)}, {'compress': False}))
    assert node.exit_status == 321
    assert 'La' in node.exit_message and 'type map' in node.exit_message

    frames = {'a': structures_to_array(cells(1))}
    with pytest.raises(ValueError, match='at least 2 models'):
        run_get_node(_builder(lam_code, {'m0': ensemble['m0']}, frames, {}))
    with pytest.raises(ValueError, match='f_trust_lo < f_trust_hi'):
        run_get_node(_builder(lam_code, ensemble, frames, {'f_trust_lo': 0.5, 'f_trust_hi': 0.1}))
    with pytest.raises(ValueError, match='unknown parameters'):
        run_get_node(_builder(lam_code, ensemble, frames, {'trust_lo': 0.5}))


# -- the parser on files written by hand ------------------------------------------------------------------------------


def _npz(arrays) -> bytes:
    handle = io.BytesIO()
    np.savez(handle, **arrays)
    return handle.getvalue()


def _good_files():
    structures = cells(3)
    batch = pack_structures(structures)
    deviations = {key: np.array([0.01, 0.1, 0.5]) for key in ('max_devi_f', 'min_devi_f', 'avg_devi_f', 'devi_e')}
    deviations.update({key: np.zeros(3) for key in ('max_devi_v', 'min_devi_v', 'avg_devi_v')})
    deviations.update(status=np.array(['accurate', 'candidate', 'failed']), chosen=np.array([False, True, False]))
    candidates = take_frames(batch, [1])
    summary = {'n_frames': 3, 'counts': {'accurate': 1, 'candidate': 1, 'failed': 1}, 'shares': {'candidate': 1 / 3}}
    return {
        'deviation.npz': _npz(deviations),
        'candidates.npz': _npz(candidates),
        'deviation.json': json.dumps(summary).encode(),
    }


def _parse(aiida_localhost, tmp_path, files, retrieved_files=None):
    from aiida_hydrides.parsers.lam_deviation import LamDeviationParser

    node = orm.CalcJobNode(computer=aiida_localhost, process_type='aiida.calculations:hydrides.lam.deviation')
    node.set_option('resources', {'num_machines': 1, 'num_mpiprocs_per_machine': 1})
    node.store()
    retrieved = orm.FolderData()
    for name, content in (retrieved_files or {}).items():
        retrieved.base.repository.put_object_from_bytes(content, name)
    retrieved.base.links.add_incoming(node, link_type=LinkType.CREATE, link_label='retrieved')
    retrieved.store()
    temporary = tmp_path / 'temporary'
    temporary.mkdir()
    for name, content in files.items():
        (temporary / name).write_bytes(content)
    results, calcfunction = LamDeviationParser.parse_from_node(
        node, store_provenance=False, retrieved_temporary_folder=str(temporary)
    )
    return results, calcfunction


def test_parser_good_files(aiida_profile, aiida_localhost, tmp_path):
    results, calcfunction = _parse(aiida_localhost, tmp_path, _good_files())
    assert calcfunction.exit_status == 0, calcfunction.exit_message
    assert results['deviations'].get_array('status').tolist() == ['accurate', 'candidate', 'failed']
    assert results['candidates'].base.attributes.get('n_structures') == 1
    assert results['summary']['counts']['candidate'] == 1


@pytest.mark.parametrize(
    'damage, status, match',
    [
        (lambda files: files.pop('candidates.npz'), 300, 'candidates.npz'),
        (lambda files: files.update({'deviation.npz': b'not an npz'}), 301, 'could not be read'),
        (lambda files: files.update({'deviation.json': json.dumps({'n_frames': 5}).encode()}), 301, 'summary'),
        (lambda files: files.update({'candidates.npz': _npz({'offsets': np.array([0])})}), 301, 'chosen'),
    ],
)
def test_parser_bad_files(aiida_profile, aiida_localhost, tmp_path, damage, status, match):
    files = _good_files()
    damage(files)
    results, calcfunction = _parse(aiida_localhost, tmp_path, files)
    assert calcfunction.exit_status == status
    assert match in calcfunction.exit_message
    assert 'deviations' not in results and 'candidates' not in results


def test_parser_worker_error(aiida_profile, aiida_localhost, tmp_path):
    error = {'error': 'model', 'message': 'models/m1.pth is not a DeePMD model'}
    _, calcfunction = _parse(aiida_localhost, tmp_path, {}, {'lam_error.json': json.dumps(error).encode()})
    assert calcfunction.exit_status == 320 and 'not a DeePMD model' in calcfunction.exit_message
