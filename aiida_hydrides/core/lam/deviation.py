"""Model deviation of an ensemble of DeePMD models, and the choice of the frames to label (concurrent learning).

An ensemble of models that differ only in their seeds agrees where the training data are dense and disagrees where
they are not. The deviation of frame ``i`` is measured as DP-GEN and ``dp model-devi`` measure it
(``deepmd.infer.model_devi``: ``calc_model_devi_f``, ``calc_model_devi_e``, ``calc_model_devi_v``), with ``M``
models, standard deviations over the models (``ddof=0``):

- forces: per atom ``d_j = |std_m(F_mj)|`` (the norm of the 3 standard deviations, eV/Å); ``max_devi_f``,
  ``min_devi_f`` and ``avg_devi_f`` are the largest, smallest and mean ``d_j`` of the frame. With ``relative=r``,
  ``d_j / (|mean_m(F_mj)| + r)`` (DeePMD-kit v2 paper, eq. 71);
- energy: ``devi_e = std_m(E_m / N)`` (eV/atom);
- virial: the 9 components of ``W_m / N`` (eV/atom), ``s = std_m``; ``max_devi_v = max(s)``, ``min_devi_v = min(s)``,
  ``avg_devi_v = |s| / 3``. With ``relative_v=r``, ``s / (|mean_m(W_m / N)| + r)``.

Frames of different sizes and compositions are handled together (the atoms of all frames are concatenated, as in
the structure batches of :mod:`aiida_hydrides.core.lam.batch`); ``tests/core/lam/test_lam_deviation.py`` checks the numbers against
deepmd-kit's own functions.

**Selection** (DP-GEN's trust window on ``max_devi_f``, optionally with one on ``max_devi_v``):

- ``accurate``: ``max_devi_f < f_trust_lo`` (and ``max_devi_v < v_trust_lo``): the ensemble already knows the frame;
- ``failed``: ``max_devi_f >= f_trust_hi`` (or ``max_devi_v >= v_trust_hi``), or a non-finite deviation: too far
  from the training data to be trusted as a DFT starting point (often unphysical);
- ``candidate``: the rest, to be labelled with DFT.

The shares of the three among all frames are what DP-GEN reports per iteration; a loop stops when the candidate
share is small. Candidates that repeat each other (fingerprint distance of :mod:`aiida_hydrides.core.search.fingerprint`
below ``dedup_threshold``, same composition) are dropped, the most uncertain of each cluster kept; at most
``max_candidates`` are then chosen, deterministically (:data:`SELECTION_METHODS`):

- ``spread`` (default): in turns over the groups (composition, and source: one search job per pressure), each group's
  candidates in a random order drawn from ``seed``, so that every composition and pressure gets its share;
- ``random``: a random subset drawn from ``seed`` (DP-GEN's ``fp_task_max``);
- ``max_deviation``: the most uncertain first.

Frames come as structure batches (:mod:`aiida_hydrides.core.lam.batch`). The arrays of a search job (``samples`` of
``hydrides.search``) give two kinds of frames: the relaxed structures themselves and, when the search ran with
``trajectory_every`` > 0, the frames along the relaxations (``trajectory_*`` arrays, :func:`trajectory_batch`).
:func:`frame_batch` takes either or both.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import HydridesInputError
from .batch import BATCH_KEYS, check_batch_arrays

__all__ = (
    'DEVIATION_KEYS',
    'PER_ATOM_KEYS',
    'PREDICTION_KEYS',
    'STATUSES',
    'SELECTION_METHODS',
    'FRAME_SOURCES',
    'ModelDeviation',
    'Selection',
    'DeviationSettings',
    'DEVIATION_FIELDS',
    'DEVIATION_WORKER_PARAMETERS',
    'DEVIATION_PARAMETERS',
    'deviation_settings_from_parameters',
    'force_deviation',
    'energy_deviation',
    'virial_deviation',
    'model_deviation',
    'ensemble_predictions',
    'evaluate_deviation',
    'classify_frames',
    'deduplicate_frames',
    'choose_candidates',
    'select_frames',
    'frame_formulas',
    'trajectory_batch',
    'frame_batch',
    'concatenate_batches',
    'take_frames',
    'frame_groups',
    'deviation_report',
)

#: the per-frame deviations, in the column order of ``dp model-devi`` (after ``step``)
DEVIATION_KEYS = ('max_devi_v', 'min_devi_v', 'avg_devi_v', 'max_devi_f', 'min_devi_f', 'avg_devi_f', 'devi_e')
#: the classes of a frame, by its deviation against the trust window
STATUSES = ('accurate', 'candidate', 'failed')
#: ways of choosing at most ``max_candidates`` candidates
SELECTION_METHODS = ('spread', 'random', 'max_deviation')
#: which frames of a search's arrays to evaluate: the relaxed structures, the frames along the relaxations, or both
FRAME_SOURCES = ('structures', 'trajectory', 'both')
#: the trajectory arrays of a search's samples (see :meth:`aiida_hydrides.core.search.result.SearchResult.arrays`)
TRAJECTORY_KEYS = ('trajectory_numbers', 'trajectory_positions', 'trajectory_cells', 'trajectory_offsets')
#: arrays of a search's samples that are not one entry per structure (besides ``trajectory_*`` and ``initial_*``)
NOT_PER_FRAME = ('composition_formulas',)
#: arrays of a structure batch with one entry per atom besides ``numbers`` and ``positions``
#: (:func:`take_frames` takes them along by atom): the forces each model of the ensemble predicts for the candidates
PER_ATOM_KEYS = ('model_forces',)
#: the predictions of every model stored with the candidates (:func:`deviation_report`), so that their error can be
#: measured once the frames are labelled (:mod:`aiida_hydrides.core.lam.calibration`): energies (frames, models) eV,
#: forces (atoms, models, 3) eV/Å, virials (frames, models, 3, 3) eV
PREDICTION_KEYS = ('model_energy', 'model_forces', 'model_virial')


# -- the deviation ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ModelDeviation:
    """Per-frame model deviations (arrays of one entry per frame): forces in eV/Å (or relative), energy and virial
    per atom in eV (see the module docstring)."""

    max_devi_v: np.ndarray
    min_devi_v: np.ndarray
    avg_devi_v: np.ndarray
    max_devi_f: np.ndarray
    min_devi_f: np.ndarray
    avg_devi_f: np.ndarray
    devi_e: np.ndarray

    def __len__(self) -> int:
        return len(self.max_devi_f)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The deviations by name (:data:`DEVIATION_KEYS`)."""
        return {key: np.asarray(getattr(self, key), dtype=float) for key in DEVIATION_KEYS}

    def table(self) -> np.ndarray:
        """The ``dp model-devi`` table: ``step`` (the frame index) and the 7 columns of :data:`DEVIATION_KEYS`."""
        return np.column_stack([np.arange(len(self), dtype=float), *(getattr(self, key) for key in DEVIATION_KEYS)])

    @classmethod
    def concatenate(cls, parts: Sequence[ModelDeviation]) -> ModelDeviation:
        """The deviations of several chunks of frames, in order."""
        return cls(
            **{key: np.concatenate([getattr(part, key) for part in parts] or [np.zeros(0)]) for key in DEVIATION_KEYS}
        )


def _ensemble(values, name: str, minimum_ndim: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim < minimum_ndim:
        raise HydridesInputError(f'{name} must have one row per model, got shape {values.shape}')
    if values.shape[0] < 2:
        raise HydridesInputError(f'a model deviation needs an ensemble of at least 2 models, got {values.shape[0]}')
    return values


def _check_offsets(offsets, atoms: int) -> np.ndarray:
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != atoms:
        raise HydridesInputError(
            f'offsets must run from 0 to the number of atoms ({atoms}), got {offsets.tolist()[:8]}'
        )
    if np.any(np.diff(offsets) < 1):
        raise HydridesInputError('every frame needs at least one atom (offsets must increase)')
    return offsets


def force_deviation(forces, offsets, relative: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``max_devi_f``, ``min_devi_f``, ``avg_devi_f`` per frame from ``forces`` of shape (models, atoms, 3), the atoms
    of all frames concatenated (frame ``i`` is ``offsets[i]:offsets[i+1]``)."""
    forces = _ensemble(forces, 'forces', 3)
    offsets = _check_offsets(offsets, forces.shape[1])
    if offsets.size == 1:
        empty = np.zeros(0)
        return empty, empty.copy(), empty.copy()
    per_atom = np.linalg.norm(np.std(forces, axis=0), axis=-1)
    if relative is not None:
        per_atom = per_atom / (np.linalg.norm(np.mean(forces, axis=0), axis=-1) + relative)
    starts = offsets[:-1]
    counts = np.diff(offsets)
    return (
        np.maximum.reduceat(per_atom, starts),
        np.minimum.reduceat(per_atom, starts),
        np.add.reduceat(per_atom, starts) / counts,
    )


def energy_deviation(energies, natoms) -> np.ndarray:
    """``devi_e`` per frame: the standard deviation over the models of the energy per atom; ``energies`` (models,
    frames) in eV."""
    energies = _ensemble(energies, 'energies', 2)
    return np.std(energies / np.asarray(natoms, dtype=float), axis=0)


def virial_deviation(virials, natoms, relative: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``max_devi_v``, ``min_devi_v``, ``avg_devi_v`` per frame; ``virials`` (models, frames, 3, 3) or (models,
    frames, 9) in eV."""
    virials = _ensemble(virials, 'virials', 3)
    per_atom = virials.reshape(virials.shape[0], virials.shape[1], 9) / np.asarray(natoms, dtype=float)[:, None]
    spread = np.std(per_atom, axis=0)
    if relative is not None:
        spread = spread / (np.linalg.norm(np.mean(per_atom, axis=0), axis=-1) + relative)[:, None]
    return (
        spread.max(axis=-1, initial=-np.inf),
        spread.min(axis=-1, initial=np.inf),
        np.linalg.norm(spread, axis=-1) / 3,
    )


def model_deviation(
    energies, forces, virials, offsets, relative: float | None = None, relative_v: float | None = None
) -> ModelDeviation:
    """The :class:`ModelDeviation` of frames from the predictions of an ensemble: ``energies`` (models, frames) eV,
    ``forces`` (models, atoms, 3) eV/Å with the atoms of all frames concatenated, ``virials`` (models, frames, 3, 3)
    eV, ``offsets`` (frames + 1) the first atom of each frame."""
    offsets = np.asarray(offsets, dtype=np.int64)
    natoms = np.diff(offsets)
    max_f, min_f, avg_f = force_deviation(forces, offsets, relative)
    max_v, min_v, avg_v = virial_deviation(virials, natoms, relative_v)
    return ModelDeviation(
        max_devi_v=max_v,
        min_devi_v=min_v,
        avg_devi_v=avg_v,
        max_devi_f=max_f,
        min_devi_f=min_f,
        avg_devi_f=avg_f,
        devi_e=energy_deviation(energies, natoms),
    )


def _frames_of(arrays: Mapping[str, np.ndarray]) -> tuple[list, list, list, np.ndarray]:
    check_batch_arrays(arrays)
    offsets = np.asarray(arrays['offsets'], dtype=np.int64)
    if np.any(np.diff(offsets) < 1):
        raise HydridesInputError('every frame needs at least one atom')
    numbers = np.asarray(arrays['numbers'], dtype=np.int64)
    positions = np.asarray(arrays['positions'], dtype=float)
    cells = np.asarray(arrays['cells'], dtype=float)
    starts, stops = offsets[:-1], offsets[1:]
    return (
        [numbers[a:b] for a, b in zip(starts, stops)],
        [positions[a:b] for a, b in zip(starts, stops)],
        list(cells),
        offsets,
    )


def ensemble_predictions(
    evaluators: Sequence, arrays: Mapping[str, np.ndarray], batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energies (models, frames), forces (models, atoms, 3) and virials (models, frames, 3, 3) of the frames of the
    structure batch ``arrays`` for each evaluator (a :class:`~.model.BatchEvaluator`: DeePMD or ASE), ``batch_size``
    frames per call (``None``: all at once)."""
    if len(evaluators) < 2:
        raise HydridesInputError(f'a model deviation needs an ensemble of at least 2 models, got {len(evaluators)}')
    numbers, positions, cells, offsets = _frames_of(arrays)
    for evaluator in evaluators:
        evaluator.check_numbers(numbers)
    count = len(numbers)
    step = count if not batch_size else int(batch_size)
    energies = np.zeros((len(evaluators), count))
    forces = np.zeros((len(evaluators), int(offsets[-1]), 3))
    virials = np.zeros((len(evaluators), count, 3, 3))
    for start in range(0, count, max(step, 1)):
        stop = min(start + step, count)
        for m, evaluator in enumerate(evaluators):
            raw = evaluator.compute(numbers[start:stop], positions[start:stop], cells[start:stop])
            energies[m, start:stop] = raw.energies
            virials[m, start:stop] = np.asarray(raw.virials).reshape(-1, 3, 3)
            forces[m, offsets[start] : offsets[stop]] = np.concatenate(
                [np.asarray(f).reshape(-1, 3) for f in raw.forces]
            )
    return energies, forces, virials


def evaluate_deviation(
    evaluators: Sequence,
    arrays: Mapping[str, np.ndarray],
    relative: float | None = None,
    relative_v: float | None = None,
    batch_size: int | None = 256,
) -> ModelDeviation:
    """The :class:`ModelDeviation` of the frames of the structure batch ``arrays`` for an ensemble of evaluators
    (at least 2; DP-GEN uses 4 models that differ in their seeds). Frames are evaluated ``batch_size`` at a time, so
    the forces of all models are never held for all frames at once."""
    if len(evaluators) < 2:
        raise HydridesInputError(f'a model deviation needs an ensemble of at least 2 models, got {len(evaluators)}')
    check_batch_arrays(arrays)
    offsets = np.asarray(arrays['offsets'], dtype=np.int64)
    count = offsets.size - 1
    step = count if not batch_size else int(batch_size)
    parts = []
    for start in range(0, count, max(step, 1)):
        stop = min(start + step, count)
        chunk = take_frames(arrays, np.arange(start, stop))
        energies, forces, virials = ensemble_predictions(evaluators, chunk)
        parts.append(model_deviation(energies, forces, virials, chunk['offsets'], relative, relative_v))
    return ModelDeviation.concatenate(parts)


# -- selection -------------------------------------------------------------------------------------------------------


def _window(name: str, lo, hi) -> tuple[float, float]:
    for label, value in ((f'{name}_lo', lo), (f'{name}_hi', hi)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or math.isnan(value):
            raise HydridesInputError(f'{label} must be a number, got {value!r}')
    if not 0 <= lo < hi:
        raise HydridesInputError(f'the trust window needs 0 <= {name}_lo < {name}_hi, got {lo!r} and {hi!r}')
    return float(lo), float(hi)


def classify_frames(
    max_devi_f,
    f_trust_lo: float,
    f_trust_hi: float,
    max_devi_v=None,
    v_trust_lo: float | None = None,
    v_trust_hi: float | None = None,
) -> np.ndarray:
    """The status of each frame (:data:`STATUSES`) by the trust window on ``max_devi_f`` (and, when ``v_trust_lo``
    and ``v_trust_hi`` are given, on ``max_devi_v``); see the module docstring."""
    f_lo, f_hi = _window('f_trust', f_trust_lo, f_trust_hi)
    force = np.asarray(max_devi_f, dtype=float)
    failed = ~np.isfinite(force) | (force >= f_hi)
    accurate = np.isfinite(force) & (force < f_lo)
    if (v_trust_lo is None) != (v_trust_hi is None):
        raise HydridesInputError('give both v_trust_lo and v_trust_hi, or neither')
    if v_trust_lo is not None:
        v_lo, v_hi = _window('v_trust', v_trust_lo, v_trust_hi)
        if max_devi_v is None:
            raise HydridesInputError('a trust window on the virial needs max_devi_v')
        virial = np.asarray(max_devi_v, dtype=float)
        if virial.shape != force.shape:
            raise HydridesInputError(f'max_devi_v has shape {virial.shape}, max_devi_f {force.shape}')
        failed |= ~np.isfinite(virial) | (virial >= v_hi)
        accurate &= np.isfinite(virial) & (virial < v_lo)
    status = np.full(force.shape, 'candidate', dtype='U9')
    status[accurate] = 'accurate'
    status[failed] = 'failed'
    return status


def deduplicate_frames(
    arrays: Mapping[str, np.ndarray], indices, threshold: float, groups=None, order=None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``indices`` of the batch ``arrays`` without near-repeats: returns ``(kept, duplicate_of)`` where
    ``duplicate_of[k]`` is the kept frame that ``indices[k]`` repeats (-1 for the kept ones).

    Two frames repeat each other when they are in the same group (``groups``: one label per frame of ``arrays``;
    default the reduced formula) and their fingerprint distance (:mod:`aiida_hydrides.core.search.fingerprint`, 0 to
    1) is below ``threshold`` (0: keep all). Frames are taken in the order ``order`` (a permutation of ``indices``;
    default as given), so the first of each cluster is kept.
    """
    from ..search.fingerprint import Deduplicator
    from .batch import unpack_structures

    indices = np.asarray(indices, dtype=np.int64)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < 1:
        raise HydridesInputError(f'dedup_threshold must be a number in [0, 1) (0: off), got {threshold!r}')
    duplicate_of = np.full(len(indices), -1, dtype=np.int64)
    if threshold == 0 or len(indices) < 2:
        return indices.copy(), duplicate_of
    groups = frame_formulas(arrays) if groups is None else np.asarray(groups)
    position = {int(index): k for k, index in enumerate(indices)}
    sequence = indices if order is None else np.asarray(order, dtype=np.int64)
    if sorted(sequence.tolist()) != sorted(indices.tolist()):
        raise HydridesInputError('order must be a permutation of indices')
    frames = unpack_structures(take_frames(arrays, sequence))
    keepers: dict[str, Deduplicator] = {}
    for index, atoms in zip(sequence, frames):
        group = str(groups[int(index)])
        if group not in keepers:
            keepers[group] = Deduplicator(
                sorted(set(atoms.get_chemical_symbols())), threshold=threshold, enthalpy_tol=0
            )
        found = keepers[group].check_and_add(atoms, None, label=int(index))
        if found is not None:
            duplicate_of[position[int(index)]] = int(found)
    return indices[duplicate_of < 0], duplicate_of


def choose_candidates(
    candidates, limit: int | None, groups=None, method: str = 'spread', seed: int = 0, deviation=None
) -> np.ndarray:
    """At most ``limit`` of the frame indices ``candidates`` (``None``: all), chosen by ``method``
    (:data:`SELECTION_METHODS`, see the module docstring); deterministic for a given ``seed``. ``groups`` (one label
    per frame, indexed by frame) drives ``spread``; ``deviation`` (``max_devi_f`` per frame, indexed by frame)
    ``max_deviation``. The chosen indices come back sorted."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if method not in SELECTION_METHODS:
        raise HydridesInputError(f'unknown selection {method!r}; choose one of {SELECTION_METHODS}')
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 0):
        raise HydridesInputError(f'max_candidates must be a whole number >= 0 or None, got {limit!r}')
    if limit is None or len(candidates) <= limit:
        return np.sort(candidates)
    limit = int(limit)
    rng = np.random.default_rng(seed)
    if method == 'random':
        chosen = rng.permutation(candidates)[:limit]
    elif method == 'max_deviation':
        if deviation is None:
            raise HydridesInputError("the selection 'max_deviation' needs the deviations")
        values = np.asarray(deviation, dtype=float)[candidates]
        chosen = candidates[np.lexsort((candidates, -np.nan_to_num(values, nan=-np.inf)))][:limit]
    else:
        labels = np.full(len(candidates), '', dtype=object) if groups is None else np.asarray(groups)[candidates]
        queues = {}
        for label in sorted({str(label) for label in labels}):
            members = candidates[np.array([str(item) == label for item in labels])]
            queues[label] = list(rng.permutation(members))
        chosen = []
        while len(chosen) < limit:
            for label in list(queues):
                if len(chosen) == limit:
                    break
                if queues[label]:
                    chosen.append(queues[label].pop(0))
                else:
                    del queues[label]
        chosen = np.array(chosen, dtype=np.int64)
    return np.sort(chosen)


@dataclasses.dataclass
class Selection:
    """The frames of one deviation evaluation by status, and the candidates chosen for labelling.

    ``status`` (one of :data:`STATUSES` per frame); ``chosen``: the frame indices to label; ``duplicate_of``: per frame
    the candidate it repeats (-1 otherwise); ``capped``: candidates left out by ``max_candidates``.
    """

    status: np.ndarray
    chosen: np.ndarray
    duplicate_of: np.ndarray
    capped: np.ndarray

    def indices(self, status: str) -> np.ndarray:
        """The frame indices of one status."""
        if status not in STATUSES:
            raise HydridesInputError(f'unknown status {status!r}; choose one of {STATUSES}')
        return np.flatnonzero(self.status == status)

    @property
    def accurate(self) -> np.ndarray:
        return self.indices('accurate')

    @property
    def candidate(self) -> np.ndarray:
        return self.indices('candidate')

    @property
    def failed(self) -> np.ndarray:
        return self.indices('failed')

    def counts(self) -> dict[str, int]:
        """Frames per status."""
        return {status: int(np.count_nonzero(self.status == status)) for status in STATUSES}

    def shares(self) -> dict[str, float]:
        """The share of all frames per status (DP-GEN's accurate / candidate / failed ratios); 0 without frames."""
        total = len(self.status)
        return {status: (count / total if total else 0.0) for status, count in self.counts().items()}

    def as_dict(self) -> dict:
        """Counts, shares and the numbers chosen, duplicated and capped (JSON-friendly)."""
        return {
            'n_frames': int(len(self.status)),
            'counts': self.counts(),
            'shares': self.shares(),
            'n_chosen': int(len(self.chosen)),
            'n_duplicates': int(np.count_nonzero(self.duplicate_of >= 0)),
            'n_capped': int(len(self.capped)),
        }


def select_frames(
    deviation: ModelDeviation | Mapping[str, np.ndarray],
    f_trust_lo: float,
    f_trust_hi: float,
    v_trust_lo: float | None = None,
    v_trust_hi: float | None = None,
    max_candidates: int | None = None,
    selection: str = 'spread',
    seed: int = 0,
    groups=None,
    arrays: Mapping[str, np.ndarray] | None = None,
    dedup_threshold: float = 0.0,
) -> Selection:
    """Classify the frames by the trust window, drop repeated candidates and choose at most ``max_candidates``.

    ``deviation``: a :class:`ModelDeviation` or its arrays. ``groups``: one label per frame for the ``spread``
    choice and the repeats (default: the reduced formula when ``arrays`` are given, else one group).
    ``arrays``: the structure batch of the frames, needed when ``dedup_threshold`` > 0.
    """
    values = deviation.as_arrays() if isinstance(deviation, ModelDeviation) else dict(deviation)
    force = np.asarray(values['max_devi_f'], dtype=float)
    status = classify_frames(force, f_trust_lo, f_trust_hi, values.get('max_devi_v'), v_trust_lo, v_trust_hi)
    if groups is None and arrays is not None:
        groups = frame_formulas(arrays)
    candidates = np.flatnonzero(status == 'candidate')
    duplicate_of = np.full(len(force), -1, dtype=np.int64)
    if dedup_threshold and len(candidates) > 1:
        if arrays is None:
            raise HydridesInputError('removing repeated candidates (dedup_threshold > 0) needs the frames')
        order = candidates[np.lexsort((candidates, -force[candidates]))]  # the most uncertain of a cluster is kept
        candidates, repeats = deduplicate_frames(arrays, candidates, dedup_threshold, groups, order)
        duplicate_of[np.flatnonzero(status == 'candidate')] = repeats
    chosen = choose_candidates(candidates, max_candidates, groups, selection, seed, force)
    capped = np.setdiff1d(candidates, chosen)
    return Selection(status=status, chosen=chosen, duplicate_of=duplicate_of, capped=capped)


# -- settings of the worker ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class DeviationSettings:
    """Settings of ``hydrides-lam deviation``: the trust windows (eV/Å for forces, eV/atom for the virial; relative
    units with ``relative`` / ``relative_v``), the choice of candidates and which frames to evaluate.

    Defaults: ``f_trust_lo=0.05``, ``f_trust_hi=0.30`` (DP-GEN's examples use 0.05 / 0.15; forces are large at 200
    GPa, so a higher ``hi`` keeps fewer frames out as failed, see ``docs/concurrent_learning.md``), no virial window,
    every candidate kept (``max_candidates=None``), ``selection='spread'``, ``seed=0``, repeats removed below a
    fingerprint distance of ``dedup_threshold=0.001``, ``frames='structures'``, 256 frames per model call.
    """

    f_trust_lo: float = 0.05
    f_trust_hi: float = 0.30
    v_trust_lo: float | None = None
    v_trust_hi: float | None = None
    relative: float | None = None
    relative_v: float | None = None
    max_candidates: int | None = None
    selection: str = 'spread'
    seed: int = 0
    dedup_threshold: float = 0.001
    frames: str = 'structures'
    batch_size: int = 256

    def validated(self) -> DeviationSettings:
        """Check the settings; raises :class:`HydridesInputError` naming the bad one."""
        _window('f_trust', self.f_trust_lo, self.f_trust_hi)
        if (self.v_trust_lo is None) != (self.v_trust_hi is None):
            raise HydridesInputError('give both v_trust_lo and v_trust_hi, or neither')
        if self.v_trust_lo is not None:
            _window('v_trust', self.v_trust_lo, self.v_trust_hi)
        for name in ('relative', 'relative_v'):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise HydridesInputError(f'{name} must be a positive number (eV/Å level) or None, got {value!r}')
        if self.max_candidates is not None and self.max_candidates < 0:
            raise HydridesInputError(f'max_candidates must be a whole number >= 0 or None, got {self.max_candidates!r}')
        if self.selection not in SELECTION_METHODS:
            raise HydridesInputError(f'unknown selection {self.selection!r}; choose one of {SELECTION_METHODS}')
        if self.frames not in FRAME_SOURCES:
            raise HydridesInputError(f'unknown frames {self.frames!r}; choose one of {FRAME_SOURCES}')
        if not 0 <= self.dedup_threshold < 1:
            raise HydridesInputError(
                f'dedup_threshold must be a number in [0, 1) (0: off), got {self.dedup_threshold!r}'
            )
        if self.batch_size < 1:
            raise HydridesInputError(f'batch_size must be a whole number >= 1, got {self.batch_size!r}')
        return self


#: the fields of :class:`DeviationSettings`, in order
DEVIATION_FIELDS = tuple(field.name for field in dataclasses.fields(DeviationSettings))
#: parameters of ``hydrides-lam deviation`` that are not :class:`DeviationSettings` fields
DEVIATION_WORKER_PARAMETERS = ('head', 'threads', 'compress')
#: every parameter ``hydrides-lam deviation`` accepts (``LamDeviationCalculation``'s ``parameters``)
DEVIATION_PARAMETERS = DEVIATION_FIELDS + DEVIATION_WORKER_PARAMETERS


def deviation_settings_from_parameters(parameters: Mapping | None) -> tuple[DeviationSettings, dict]:
    """Split ``parameters`` (names of :data:`DEVIATION_PARAMETERS`) into validated :class:`DeviationSettings` and the
    worker options ``head`` (a head of multi-head models, the same for every model), ``threads`` and ``compress``
    (evaluate the compressed copies of frozen ``.pth`` models: the same numbers, faster).

    :raises HydridesInputError: unknown names or bad values.
    """
    from ..settings import split_parameters
    from .compress import COMPRESS_BY_DEFAULT

    if parameters is not None and not isinstance(parameters, Mapping):
        raise HydridesInputError(f'the deviation parameters must be a JSON object, got {parameters!r}')
    fields, options = split_parameters(DeviationSettings, parameters, DEVIATION_WORKER_PARAMETERS)
    settings = DeviationSettings(**fields).validated()
    head, threads = options.get('head'), options.get('threads')
    if head is not None and not isinstance(head, str):
        raise HydridesInputError(f'head must be the name of a model head, got {head!r}')
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise HydridesInputError(f'threads must be a whole number >= 1, got {threads!r}')
    compress = options.get('compress')
    compress = COMPRESS_BY_DEFAULT if compress is None else compress
    if not isinstance(compress, bool):
        raise HydridesInputError(f'compress must be true or false, got {compress!r}')
    return settings, {'head': head, 'threads': threads, 'compress': compress}


# -- frames ----------------------------------------------------------------------------------------------------------


def frame_formulas(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The reduced formula of every frame of a structure batch (``'CaH6'`` for 7 and for 14 atoms of CaH6)."""
    from ase.data import chemical_symbols

    from ..compositions import Composition

    check_batch_arrays(arrays)
    offsets = np.asarray(arrays['offsets'], dtype=np.int64)
    numbers = np.asarray(arrays['numbers'], dtype=np.int64)
    cache: dict[tuple, str] = {}
    formulas = []
    for start, stop in zip(offsets[:-1], offsets[1:]):
        values, counts = np.unique(numbers[start:stop], return_counts=True)
        key = tuple(zip(values.tolist(), counts.tolist()))
        if key not in cache:
            cache[key] = Composition({chemical_symbols[z]: c for z, c in key}).reduced_formula
        formulas.append(cache[key])
    return np.array(formulas, dtype=str) if formulas else np.zeros(0, dtype='U1')


def take_frames(arrays: Mapping[str, np.ndarray], indices) -> dict[str, np.ndarray]:
    """The frames ``indices`` of a structure batch as a new batch (``numbers``, ``positions``, ``cells``,
    ``offsets``, ``pbc``), with every other array of one entry per frame taken along (not those of a search's samples
    that are not per structure: ``trajectory_*``, ``initial_*``, ``composition_formulas``)."""
    check_batch_arrays(arrays)
    indices = np.asarray(indices, dtype=np.int64)
    offsets = np.asarray(arrays['offsets'], dtype=np.int64)
    count = offsets.size - 1
    if indices.size and (indices.min() < 0 or indices.max() >= count):
        raise HydridesInputError(f'frame indices must lie in [0, {count}), got {indices.min()}..{indices.max()}')
    starts, stops = offsets[indices], offsets[indices + 1]
    atoms = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) if indices.size else np.zeros(0, np.int64)
    result = {
        'numbers': np.asarray(arrays['numbers'], dtype=np.int64)[atoms],
        'positions': np.asarray(arrays['positions'], dtype=float)[atoms].reshape(-1, 3),
        'cells': np.asarray(arrays['cells'], dtype=float)[indices].reshape(-1, 3, 3),
        'offsets': np.concatenate([[0], np.cumsum(stops - starts)]).astype(np.int64),
        'pbc': np.asarray(arrays['pbc'], dtype=bool)[indices] if 'pbc' in arrays else np.ones((len(indices), 3), bool),
    }
    for name in PER_ATOM_KEYS:
        if name in arrays:
            result[name] = np.asarray(arrays[name])[atoms]
    for name, value in arrays.items():
        if (
            name in result
            or name in BATCH_KEYS
            or name in NOT_PER_FRAME
            or name.startswith(('trajectory_', 'initial_'))
        ):
            continue
        value = np.asarray(value)
        if value.ndim >= 1 and len(value) == count:
            result[name] = value[indices]
    return result


def trajectory_batch(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The frames along the relaxations of a search's samples (``trajectory_*`` arrays) as a structure batch, with
    ``sample_index`` (the relaxation each frame belongs to) and ``step`` (its optimizer step).

    :raises HydridesInputError: the arrays have no trajectory frames (a search without ``trajectory_every``).
    """
    missing = [key for key in TRAJECTORY_KEYS if key not in arrays]
    if missing:
        raise HydridesInputError(
            'these structures hold no frames along their relaxations (no trajectory_* arrays): run the search with '
            "trajectory_every > 0, or evaluate the relaxed structures (frames='structures')"
        )
    batch = {
        'numbers': np.asarray(arrays['trajectory_numbers'], dtype=np.int64),
        'positions': np.asarray(arrays['trajectory_positions'], dtype=float).reshape(-1, 3),
        'cells': np.asarray(arrays['trajectory_cells'], dtype=float).reshape(-1, 3, 3),
        'offsets': np.asarray(arrays['trajectory_offsets'], dtype=np.int64),
    }
    check_batch_arrays(batch)
    count = len(batch['cells'])
    batch['pbc'] = np.ones((count, 3), bool)
    batch['sample_index'] = np.asarray(arrays.get('trajectory_sample', np.full(count, -1)), dtype=np.int64)
    batch['step'] = np.asarray(arrays.get('trajectory_step', np.full(count, -1)), dtype=np.int64)
    return batch


def frame_batch(arrays: Mapping[str, np.ndarray], frames: str = 'structures') -> dict[str, np.ndarray]:
    """The frames to evaluate from a structure batch or a search's samples: ``'structures'`` (the structures
    themselves), ``'trajectory'`` (the frames along the relaxations, :func:`trajectory_batch`) or ``'both'``.

    The result is a structure batch with, per frame, ``frame_kind`` (``structure`` or ``trajectory``),
    ``frame_index`` (the index of the frame among those of its kind in ``arrays``), ``sample_index`` (the structure of
    ``arrays`` it is, or whose relaxation it comes from) and ``step`` (the optimizer step: a structure's ``n_steps``
    where ``arrays`` has them, else -1). An empty batch of samples (a search that found nothing) gives no frames of
    either kind.
    """
    if frames not in FRAME_SOURCES:
        raise HydridesInputError(f'unknown frames {frames!r}; choose one of {FRAME_SOURCES}')
    check_batch_arrays(arrays)
    parts = []
    if frames in ('structures', 'both'):
        count = len(arrays['offsets']) - 1
        part = {key: np.asarray(arrays[key]) for key in (*BATCH_KEYS, 'pbc') if key in arrays}
        part['frame_kind'] = np.full(count, 'structure', dtype='U10')
        part['frame_index'] = np.arange(count, dtype=np.int64)
        part['sample_index'] = np.arange(count, dtype=np.int64)
        steps = np.asarray(arrays.get('n_steps', np.full(count, -1)))
        part['step'] = steps.astype(np.int64) if steps.shape == (count,) else np.full(count, -1, dtype=np.int64)
        parts.append(part)
    if frames in ('trajectory', 'both'):
        if len(arrays['offsets']) == 1 and 'trajectory_offsets' not in arrays:
            part = {'numbers': np.zeros(0, np.int64), 'positions': np.zeros((0, 3)), 'cells': np.zeros((0, 3, 3))}
            part.update(offsets=np.zeros(1, np.int64), sample_index=np.zeros(0, np.int64), step=np.zeros(0, np.int64))
        else:
            part = trajectory_batch(arrays)
        count = len(part['offsets']) - 1
        part = {key: part[key] for key in (*BATCH_KEYS, 'pbc', 'sample_index', 'step') if key in part}
        part['frame_kind'] = np.full(count, 'trajectory', dtype='U10')
        part['frame_index'] = np.arange(count, dtype=np.int64)
        parts.append(part)
    return concatenate_batches(parts)


def concatenate_batches(batches: Sequence[Mapping[str, np.ndarray]], labels: Sequence[str] | None = None) -> dict:
    """One structure batch of several (``numbers``, ``positions``, ``cells``, ``offsets``, ``pbc`` and the
    per-frame arrays that all of them have); with ``labels``, a per-frame array ``source`` naming the batch each frame
    came from."""
    if labels is not None and len(labels) != len(batches):
        raise HydridesInputError(f'{len(labels)} labels for {len(batches)} batches')
    batches = [take_frames(batch, np.arange(len(batch['offsets']) - 1)) for batch in batches]
    if not batches:
        return {
            'numbers': np.zeros(0, np.int64),
            'positions': np.zeros((0, 3)),
            'cells': np.zeros((0, 3, 3)),
            'offsets': np.zeros(1, np.int64),
            'pbc': np.zeros((0, 3), bool),
        }
    common = set.intersection(*(set(batch) for batch in batches)) - {'offsets'}
    result = {key: np.concatenate([batch[key] for batch in batches]) for key in sorted(common)}
    sizes = np.concatenate([np.diff(batch['offsets']) for batch in batches])
    result['offsets'] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    result['cells'] = result['cells'].reshape(-1, 3, 3)
    result['positions'] = result['positions'].reshape(-1, 3)
    if labels is not None:
        width = max([len(str(label)) for label in labels] + [1])
        result['source'] = np.concatenate(
            [np.full(len(batch['offsets']) - 1, str(label), dtype=f'U{width}') for batch, label in zip(batches, labels)]
        )
    return result


# -- one evaluation, as the worker runs it ---------------------------------------------------------------------------


def frame_groups(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """The group of each frame for the ``spread`` choice and the repeats: its reduced formula, prefixed by its
    ``source`` (``'<source>/<formula>'``) when the batch has one (frames of several search jobs, e.g. pressures)."""
    formulas = frame_formulas(arrays)
    if 'source' not in arrays:
        return formulas
    return np.array([f'{source}/{formula}' for source, formula in zip(np.asarray(arrays['source']).tolist(), formulas)])


def _predictions(evaluators: Sequence, candidates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The predictions of every model for the chosen frames (:data:`PREDICTION_KEYS`): the frames are few, so they
    are evaluated again rather than kept for every frame."""
    count = len(candidates['offsets']) - 1
    models = len(evaluators)
    if count == 0:
        return {
            'model_energy': np.zeros((0, models)),
            'model_forces': np.zeros((0, models, 3)),
            'model_virial': np.zeros((0, models, 3, 3)),
        }
    energies, forces, virials = ensemble_predictions(evaluators, candidates)
    return {
        'model_energy': energies.T.copy(),
        'model_forces': np.transpose(forces, (1, 0, 2)).copy(),
        'model_virial': np.transpose(virials, (1, 0, 2, 3)).copy(),
    }


def deviation_report(evaluators: Sequence, arrays: Mapping[str, np.ndarray], settings: DeviationSettings) -> dict:
    """Evaluate the ensemble on the frames of ``arrays`` and select the candidates, as ``hydrides-lam deviation``
    does: returns ``deviations`` (per frame: :data:`DEVIATION_KEYS`, ``status``, ``chosen``, ``duplicate_of``,
    ``natoms``, ``formula`` and the per-frame arrays of ``arrays`` such as ``source``, ``frame_kind``,
    ``frame_index``), ``candidates`` (the chosen frames as a structure batch with
    the same per-frame arrays, ``deviation_index``, their index in ``deviations``, and the predictions of every model,
    :data:`PREDICTION_KEYS`) and ``summary`` (counts, shares
    per status overall and per source and formula, the settings).

    ``arrays`` is a structure batch; without a ``frame_kind`` array it is first turned into frames by
    :func:`frame_batch` with ``settings.frames`` (so a search's samples can be given as they are).
    """
    settings = settings.validated()
    if 'frame_kind' not in arrays:
        arrays = frame_batch(arrays, settings.frames)
    else:
        arrays = take_frames(arrays, np.arange(len(arrays['offsets']) - 1))
    count = len(arrays['offsets']) - 1
    if count == 0:
        raise HydridesInputError('there are no frames to evaluate')
    deviation = evaluate_deviation(evaluators, arrays, settings.relative, settings.relative_v, settings.batch_size)
    groups = frame_groups(arrays)
    selection = select_frames(
        deviation,
        settings.f_trust_lo,
        settings.f_trust_hi,
        settings.v_trust_lo,
        settings.v_trust_hi,
        max_candidates=settings.max_candidates,
        selection=settings.selection,
        seed=settings.seed,
        groups=groups,
        arrays=arrays,
        dedup_threshold=settings.dedup_threshold,
    )
    formulas = frame_formulas(arrays)
    per_frame = {key: value for key, value in arrays.items() if key not in (*BATCH_KEYS, 'pbc')}
    chosen_mask = np.zeros(count, dtype=bool)
    chosen_mask[selection.chosen] = True
    deviations = {
        **deviation.as_arrays(),
        'status': selection.status,
        'chosen': chosen_mask,
        'duplicate_of': selection.duplicate_of,
        'natoms': np.diff(arrays['offsets']).astype(np.int64),
        'formula': formulas,
        **per_frame,
    }
    candidates = take_frames({**arrays, **deviations}, selection.chosen)
    candidates['deviation_index'] = selection.chosen.astype(np.int64)
    candidates.pop('chosen', None)
    candidates.pop('duplicate_of', None)
    candidates.update(_predictions(evaluators, candidates))

    def breakdown(labels) -> dict:
        table = {}
        for label in sorted({str(item) for item in labels}):
            mask = np.asarray(labels) == label
            part = Selection(selection.status[mask], selection.chosen[mask[selection.chosen]], np.zeros(0), np.zeros(0))
            entry = part.as_dict()
            entry.pop('n_duplicates')
            entry.pop('n_capped')
            entry['max_devi_f_max'] = float(np.nanmax(deviation.max_devi_f[mask])) if mask.any() else None
            table[label] = entry
        return table

    finite = deviation.max_devi_f[np.isfinite(deviation.max_devi_f)]
    summary = {
        **selection.as_dict(),
        'settings': dataclasses.asdict(settings),
        'n_models': len(evaluators),
        'max_devi_f': {
            'mean': float(finite.mean()) if finite.size else None,
            'median': float(np.median(finite)) if finite.size else None,
            'max': float(finite.max()) if finite.size else None,
        },
        'formulas': breakdown(formulas),
    }
    if 'source' in arrays:
        summary['sources'] = breakdown(arrays['source'])
    if 'frame_kind' in arrays:
        summary['frame_kinds'] = breakdown(arrays['frame_kind'])
    return {'deviations': deviations, 'candidates': candidates, 'summary': summary}
