"""Model deviation of an ensemble, the trust-window selection, the choice of candidates and the frames of a search
(:mod:`aiida_hydrides.core.lam.deviation`), plus the ``hydrides-lam deviation`` worker in-process."""

import json

import numpy as np
import pytest

from aiida_hydrides.core.errors import HydridesInputError, UnknownElementError
from aiida_hydrides.core.lam.batch import pack_structures
from aiida_hydrides.core.lam.deviation import (
    DEVIATION_KEYS,
    DEVIATION_PARAMETERS,
    DeviationSettings,
    ModelDeviation,
    choose_candidates,
    classify_frames,
    concatenate_batches,
    deduplicate_frames,
    deviation_report,
    deviation_settings_from_parameters,
    ensemble_predictions,
    evaluate_deviation,
    frame_batch,
    frame_formulas,
    model_deviation,
    select_frames,
    take_frames,
    trajectory_batch,
)
from aiida_hydrides.core.lam.model import BatchEvaluator, RawBatch


def _ragged_ensemble(models=4, sizes=(3, 5, 2), seed=0):
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    energies = rng.normal(-10, 0.1, (models, len(sizes)))
    forces = rng.normal(0, 1, (models, offsets[-1], 3))
    virials = rng.normal(0, 2, (models, len(sizes), 3, 3))
    return energies, forces, virials, offsets


# -- the formulas ----------------------------------------------------------------------------------------------------


def test_identical_models_give_zero_deviation():
    energies, forces, virials, offsets = _ragged_ensemble(models=1)
    same = model_deviation(
        np.repeat(energies, 3, 0), np.repeat(forces, 3, 0), np.repeat(virials, 3, 0), offsets, relative=None
    )
    for key in DEVIATION_KEYS:
        np.testing.assert_allclose(getattr(same, key), 0.0, atol=1e-12)
    assert len(same) == 3


def test_known_perturbation():
    """Two models, one atom of one frame off by (0.2, 0, 0) eV/Å: std = 0.1 on that atom, 0 elsewhere."""
    energies, forces, virials, offsets = _ragged_ensemble(models=1, sizes=(4, 2))
    forces = np.repeat(forces, 2, 0)
    forces[1, 1, 0] += 0.2  # frame 0, atom 1
    energies = np.repeat(energies, 2, 0)
    energies[1, 1] += 0.4  # frame 1 (2 atoms): 0.2 eV/atom apart, std 0.1
    virials = np.repeat(virials, 2, 0)
    virials[1, 0, 2, 2] += 0.8  # frame 0 (4 atoms): 0.2 eV/atom on one component, std 0.1
    devi = model_deviation(energies, forces, virials, offsets)
    np.testing.assert_allclose(devi.max_devi_f, [0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(devi.min_devi_f, [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(devi.avg_devi_f, [0.025, 0.0], atol=1e-12)
    np.testing.assert_allclose(devi.devi_e, [0.0, 0.1], atol=1e-12)
    np.testing.assert_allclose(devi.max_devi_v, [0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(devi.avg_devi_v, [0.1 / 3, 0.0], atol=1e-12)


@pytest.mark.parametrize('relative', [None, 0.5])
def test_formulas_match_deepmd(relative):
    """Frames of one size: the same numbers as deepmd-kit's calc_model_devi_f / _e / _v."""
    from deepmd.infer.model_devi import calc_model_devi_e, calc_model_devi_f, calc_model_devi_v

    energies, forces, virials, offsets = _ragged_ensemble(models=4, sizes=(5, 5, 5), seed=3)
    devi = model_deviation(energies, forces, virials, offsets, relative=relative)
    reference_f = calc_model_devi_f(forces.reshape(4, 3, 5, 3), relative=relative)
    for ours, theirs in zip((devi.max_devi_f, devi.min_devi_f, devi.avg_devi_f), reference_f):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(devi.devi_e, calc_model_devi_e((energies / 5)[..., None]), rtol=1e-12)
    reference_v = calc_model_devi_v(virials.reshape(4, 3, 9) / 5)
    for ours, theirs in zip((devi.max_devi_v, devi.min_devi_v, devi.avg_devi_v), reference_v):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    table = devi.table()
    assert table.shape == (3, 8) and table[:, 0].tolist() == [0, 1, 2]


def test_ragged_frames_equal_one_at_a_time():
    energies, forces, virials, offsets = _ragged_ensemble(sizes=(3, 7, 1, 4), seed=5)
    together = model_deviation(energies, forces, virials, offsets, relative=0.1, relative_v=0.2)
    for i in range(4):
        a, b = offsets[i], offsets[i + 1]
        alone = model_deviation(energies[:, i : i + 1], forces[:, a:b], virials[:, i : i + 1], [0, b - a], 0.1, 0.2)
        for key in DEVIATION_KEYS:
            np.testing.assert_allclose(getattr(together, key)[i], getattr(alone, key)[0], rtol=1e-12)


def test_bad_ensembles():
    energies, forces, virials, offsets = _ragged_ensemble(models=1)
    with pytest.raises(HydridesInputError, match='at least 2 models'):
        model_deviation(energies, forces, virials, offsets)
    energies, forces, virials, offsets = _ragged_ensemble(models=2)
    with pytest.raises(HydridesInputError, match='offsets must run'):
        model_deviation(energies, forces, virials, offsets[:-1])


# -- selection -------------------------------------------------------------------------------------------------------


def test_classify_and_shares():
    force = np.array([0.01, 0.05, 0.1, 0.29, 0.30, 1.0, np.nan, 0.02])
    status = classify_frames(force, 0.05, 0.30)
    assert status.tolist() == [
        'accurate',
        'candidate',
        'candidate',
        'candidate',
        'failed',
        'failed',
        'failed',
        'accurate',
    ]
    # a virial window: accurate needs both below lo, failed either above hi
    virial = np.array([0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.01])
    status = classify_frames(force, 0.05, 0.30, virial, 0.02, 0.4)
    assert status[0] == 'failed' and status[7] == 'accurate'
    with pytest.raises(HydridesInputError, match='0 <= f_trust_lo < f_trust_hi'):
        classify_frames(force, 0.3, 0.05)
    with pytest.raises(HydridesInputError, match='both v_trust_lo and v_trust_hi'):
        classify_frames(force, 0.05, 0.3, virial, 0.02)

    deviation = {'max_devi_f': force, 'max_devi_v': virial}
    selection = select_frames(deviation, 0.05, 0.30)
    assert selection.counts() == {'accurate': 2, 'candidate': 3, 'failed': 3}
    assert selection.shares() == {'accurate': 0.25, 'candidate': 0.375, 'failed': 0.375}
    assert selection.candidate.tolist() == [1, 2, 3] and selection.chosen.tolist() == [1, 2, 3]
    summary = selection.as_dict()
    assert summary['n_frames'] == 8 and summary['n_chosen'] == 3 and summary['n_capped'] == 0


def test_choose_candidates_is_deterministic_and_spread():
    groups = np.array(['CaH6'] * 10 + ['YH6'] * 3 + ['CaYH12'] * 1)
    candidates = np.arange(14)
    chosen = choose_candidates(candidates, 6, groups, 'spread', seed=1)
    assert len(chosen) == 6
    assert np.array_equal(chosen, choose_candidates(candidates, 6, groups, 'spread', seed=1))
    picked = groups[chosen].tolist()
    assert picked.count('CaYH12') == 1 and picked.count('YH6') == 2 and picked.count('CaH6') == 3
    assert len(choose_candidates(candidates, 6, seed=2, method='random')) == 6
    deviation = np.linspace(0, 1, 14)
    assert choose_candidates(candidates, 3, method='max_deviation', deviation=deviation).tolist() == [11, 12, 13]
    assert choose_candidates(candidates, None).tolist() == list(range(14))
    with pytest.raises(HydridesInputError, match='unknown selection'):
        choose_candidates(candidates, 3, method='best')
    # the cap in select_frames
    selection = select_frames({'max_devi_f': np.full(14, 0.1)}, 0.05, 0.3, max_candidates=4, groups=groups)
    assert len(selection.chosen) == 4 and len(selection.capped) == 10


def test_deduplicate_frames(cah6_cells):
    cell = cah6_cells[0]
    moved = cell.copy()
    moved.positions += 1e-4  # a rigid shift: the same structure
    other = cah6_cells[1]
    arrays = pack_structures([cell, moved, other, cell.repeat((2, 1, 1))])
    kept, duplicate_of = deduplicate_frames(arrays, [0, 1, 2, 3], threshold=0.001)
    assert kept.tolist() == [0, 2] and duplicate_of.tolist() == [-1, 0, -1, 0]
    kept, _ = deduplicate_frames(arrays, [0, 1, 2, 3], threshold=0.0)
    assert kept.tolist() == [0, 1, 2, 3]
    selection = select_frames(
        {'max_devi_f': np.array([0.1, 0.2, 0.1, 0.1])}, 0.05, 0.3, arrays=arrays, dedup_threshold=0.001
    )
    assert selection.chosen.tolist() == [1, 2]  # the most uncertain of the repeats is kept
    assert selection.duplicate_of.tolist() == [1, -1, -1, 1]
    assert frame_formulas(arrays).tolist() == ['CaH6', 'CaH6', 'YH6', 'CaH6']


# -- frames ----------------------------------------------------------------------------------------------------------


def test_settings_from_parameters():
    settings, options = deviation_settings_from_parameters({'f_trust_lo': 0.1, 'f_trust_hi': 0.5, 'threads': 2})
    assert settings.f_trust_hi == 0.5 and options['threads'] == 2 and options['compress'] is True
    assert set(DEVIATION_PARAMETERS) >= {'f_trust_lo', 'max_candidates', 'head', 'compress'}
    for bad, match in (
        ({'f_trust': 0.1}, 'unknown parameters'),
        ({'f_trust_lo': '0.1'}, 'must be a number'),
        ({'f_trust_lo': 0.5, 'f_trust_hi': 0.1}, 'f_trust_lo < f_trust_hi'),
        ({'selection': 'best'}, 'unknown selection'),
        ({'frames': 'all'}, 'unknown frames'),
        ({'v_trust_lo': 0.1}, 'both v_trust_lo'),
        ({'max_candidates': -1}, 'max_candidates'),
        ({'compress': 'yes'}, 'compress'),
    ):
        with pytest.raises(HydridesInputError, match=match):
            deviation_settings_from_parameters(bad)


def _samples_with_trajectory(cells):
    arrays = pack_structures(cells)
    frames = [cells[0], cells[0], cells[1]]
    trajectory = pack_structures(frames)
    for key in ('numbers', 'positions', 'cells', 'offsets'):
        arrays[f'trajectory_{key}'] = trajectory[key]
    arrays['trajectory_sample'] = np.array([0, 0, 1])
    arrays['trajectory_step'] = np.array([0, 5, 0])
    arrays['enthalpy_per_atom'] = np.array([1.0, 2.0, 3.0])
    return arrays


def test_frame_batch_of_search_samples(cah6_cells):
    arrays = _samples_with_trajectory(cah6_cells)
    structures = frame_batch(arrays, 'structures')
    assert len(structures['offsets']) == 4 and structures['frame_kind'].tolist() == ['structure'] * 3
    assert 'enthalpy_per_atom' not in structures and structures['sample_index'].tolist() == [0, 1, 2]
    trajectory = frame_batch(arrays, 'trajectory')
    assert len(trajectory['offsets']) == 4 and trajectory['frame_index'].tolist() == [0, 1, 2]
    both = frame_batch(arrays, 'both')
    assert both['frame_kind'].tolist() == ['structure'] * 3 + ['trajectory'] * 3
    assert trajectory_batch(arrays)['step'].tolist() == [0, 5, 0]
    assert both['sample_index'].tolist() == [0, 1, 2, 0, 0, 1] and both['step'].tolist() == [-1, -1, -1, 0, 5, 0]
    assert take_frames(arrays, [2])['enthalpy_per_atom'].tolist() == [3.0]  # per-structure arrays come along
    assert 'trajectory_sample' not in take_frames(arrays, [2])
    with pytest.raises(HydridesInputError, match='trajectory_every > 0'):
        frame_batch(pack_structures(cah6_cells), 'trajectory')
    merged = concatenate_batches([structures, trajectory], labels=['p150', 'p250'])
    assert merged['source'].tolist() == ['p150'] * 3 + ['p250'] * 3
    subset = take_frames(merged, [1, 4])
    assert subset['offsets'].tolist() == [0, 7, 14] and subset['source'].tolist() == ['p150', 'p250']


def test_search_keeps_trajectory_frames():
    """``trajectory_every`` keeps every k-th evaluated geometry of each relaxation, and changes nothing else."""
    from ase.calculators.emt import EMT

    from aiida_hydrides.core.lam.ase_backend import AseEvaluator
    from aiida_hydrides.core.search.engine import run_search

    common = dict(
        budget=3, population=3, max_atoms=4, pressure_gpa=10, seed=1, max_steps=12, use_prototypes=False, min_mm=2.0
    )
    plain = run_search('Cu', AseEvaluator(EMT()), **common)
    kept = run_search('Cu', AseEvaluator(EMT()), trajectory_every=5, **common)
    assert plain.enthalpy_per_atom == kept.enthalpy_per_atom
    assert not any(key.startswith('trajectory_') for key in plain.arrays())
    arrays = kept.arrays()
    steps, samples = arrays['trajectory_step'], arrays['trajectory_sample']
    assert set(steps.tolist()) <= {0, 5, 10} and 0 in steps
    for index in range(len(kept)):
        own = steps[samples == index]
        assert own.tolist() == list(range(0, kept.n_steps[index] + 1, 5))[: len(own)] and len(own) >= 1
    batch = trajectory_batch(arrays)
    first = np.flatnonzero(samples == 0)[0]
    np.testing.assert_allclose(batch['cells'][first], kept.structure(0, initial=True).cell.array, atol=1e-9)

    # the worker's samples file of two compositions: trajectory_sample indexes the samples of the file
    from aiida_hydrides.core.compositions import Composition
    from aiida_hydrides.core.search.worker import _pack_search

    samples_file, _, starts = _pack_search({0: (kept, []), 1: (kept, [])}, [Composition({'Cu': 1})] * 2)
    frames = frame_batch(samples_file, 'trajectory')
    count = len(arrays['trajectory_step'])
    assert len(frames['offsets']) == 2 * count + 1 and starts == {0: 0, 1: len(kept)}
    assert frames['sample_index'].tolist() == samples.tolist() + (samples + len(kept)).tolist()
    np.testing.assert_allclose(frames['positions'][: len(batch['positions'])], batch['positions'])
    np.testing.assert_allclose(frames['positions'][len(batch['positions']) :], batch['positions'])


# -- real evaluators -------------------------------------------------------------------------------------------------


class _Scaled(BatchEvaluator):
    """An evaluator returning another's outputs times ``factor``: a known perturbation of forces and virials."""

    def __init__(self, inner, factor):
        super().__init__()
        self.inner, self.factor, self.type_map = inner, factor, inner.type_map

    def _compute(self, numbers, positions, cells):
        raw = self.inner.compute(numbers, positions, cells)
        return RawBatch(raw.energies * self.factor, [f * self.factor for f in raw.forces], raw.virials * self.factor)


def test_ensemble_of_evaluators(tiny_evaluator, cah6_cells):
    arrays = pack_structures(cah6_cells)
    same = evaluate_deviation([tiny_evaluator, tiny_evaluator], arrays, batch_size=2)
    assert np.all(same.max_devi_f == 0) and len(same) == 3
    energies, forces, _ = ensemble_predictions([tiny_evaluator, _Scaled(tiny_evaluator, 1.1)], arrays)
    scaled = evaluate_deviation([tiny_evaluator, _Scaled(tiny_evaluator, 1.1)], arrays, batch_size=2)
    # two models F and 1.1 F: std = 0.05 |F| per atom
    norms = np.linalg.norm(forces[0], axis=1)
    for i, (a, b) in enumerate(zip(arrays['offsets'][:-1], arrays['offsets'][1:])):
        assert scaled.max_devi_f[i] == pytest.approx(0.05 * norms[a:b].max(), rel=1e-9)
    np.testing.assert_allclose(scaled.devi_e, 0.05 * np.abs(energies[0]) / np.diff(arrays['offsets']), rtol=1e-9)

    report = deviation_report(
        [tiny_evaluator, _Scaled(tiny_evaluator, 1.1)],
        arrays,
        DeviationSettings(f_trust_lo=0.0, f_trust_hi=100.0, max_candidates=2, dedup_threshold=0.0),
    )
    assert report['summary']['counts'] == {'accurate': 0, 'candidate': 3, 'failed': 0}
    assert report['summary']['n_chosen'] == 2 and set(report['summary']['formulas']) == {'CaH6', 'YH6', 'CaYH12'}
    candidates = report['candidates']
    assert len(candidates['offsets']) == 3
    assert candidates['deviation_index'].tolist() == np.flatnonzero(report['deviations']['chosen']).tolist()
    np.testing.assert_allclose(candidates['max_devi_f'], scaled.max_devi_f[candidates['deviation_index']])
    # the predictions of both models for the chosen frames, kept for the comparison with their labels
    chosen = candidates['deviation_index']
    assert candidates['model_energy'].shape == (2, 2) and candidates['model_virial'].shape == (2, 2, 3, 3)
    np.testing.assert_allclose(candidates['model_energy'][:, 0], energies[0][chosen])
    np.testing.assert_allclose(candidates['model_energy'][:, 1], 1.1 * energies[0][chosen])
    assert candidates['model_forces'].shape == (len(candidates['positions']), 2, 3)
    atoms = np.concatenate([np.arange(arrays['offsets'][i], arrays['offsets'][i + 1]) for i in chosen])
    np.testing.assert_allclose(candidates['model_forces'][:, 0], forces[0][atoms])
    # take_frames carries the per-atom forces along with their frames
    last = take_frames(candidates, [1])
    np.testing.assert_allclose(last['model_forces'], candidates['model_forces'][candidates['offsets'][1] :])
    np.testing.assert_allclose(last['model_energy'], candidates['model_energy'][1:])


def test_unknown_element(tiny_evaluator, cah6_cells):
    cells = [atoms.copy() for atoms in cah6_cells]
    cells[1][0].symbol = 'La'
    with pytest.raises(UnknownElementError, match='La'):
        evaluate_deviation([tiny_evaluator, tiny_evaluator], pack_structures(cells))


def test_worker_deviation(tmp_path, tiny_model_path, cah6_cells):
    """``hydrides-lam deviation`` in-process: files, summary, errors."""
    import shutil

    from aiida_hydrides.core.lam.worker import main

    models = []
    for name in ('a.pth', 'b.pth'):
        shutil.copy(tiny_model_path, tmp_path / name)
        models.append(str(tmp_path / name))
    np.savez(tmp_path / 'frames.npz', **pack_structures(cah6_cells))
    (tmp_path / 'p.json').write_text(json.dumps({'f_trust_lo': 0.05, 'f_trust_hi': 0.3, 'compress': False}))
    output = tmp_path / 'deviation.npz'
    args = ['deviation', '--frames', str(tmp_path / 'frames.npz'), '--models', *models, '--output', str(output)]
    assert main([*args, '--parameters', str(tmp_path / 'p.json')]) == 0
    with np.load(output) as data:
        assert data['status'].tolist() == ['accurate'] * 3 and np.all(data['max_devi_f'] == 0)
    summary = json.loads(output.with_suffix('.json').read_text())
    assert summary['shares']['accurate'] == 1.0 and summary['n_models'] == 2 and len(summary['models']) == 2
    with np.load(tmp_path / 'candidates.npz') as data:
        assert data['offsets'].tolist() == [0]

    frames = ['--frames', str(tmp_path / 'frames.npz')]
    assert main(['deviation', *frames, '--models', models[0], '--output', str(output)]) == 4
    assert 'at least 2 models' in json.loads((tmp_path / 'lam_error.json').read_text())['message']
    cells = [atoms.copy() for atoms in cah6_cells]
    cells[0][0].symbol = 'La'
    np.savez(tmp_path / 'frames.npz', **pack_structures(cells))
    assert main(args) == 3
    error = json.loads((tmp_path / 'lam_error.json').read_text())
    assert error['error'] == 'element' and 'La' in error['message'] and 'a.pth' in error['message']


def test_model_deviation_dataclass_concatenate():
    parts = [ModelDeviation(**{key: np.array([k]) for key in DEVIATION_KEYS}) for k in range(3)]
    assert ModelDeviation.concatenate(parts).max_devi_f.tolist() == [0, 1, 2]
    assert len(ModelDeviation.concatenate([])) == 0
