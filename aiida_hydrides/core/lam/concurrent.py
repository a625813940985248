"""The rules of the concurrent-learning loop (``hydrides.lam.concurrent``), without AiiDA.

One iteration explores (structure searches with model 0 of the ensemble at every pressure of a window), evaluates the
ensemble's model deviation on the frames of the current **stage**, labels the candidates with DFT and retrains the
ensemble. This module holds the decisions the work chain takes, so that they can be read and tested on their own:

- :func:`check_loop_settings`: the loop's own settings (iterations, threshold, ensemble size, stages, retraining mode);
- :func:`search_seed`, :func:`member_seed`: seeds that differ per iteration and pressure, and per ensemble member;
- :func:`stage_decision`: what an iteration does once the deviation of its stage is known (label, switch to the next
  stage, or stop as converged);
- :func:`iteration_record`, :func:`append_iteration`: the per-iteration summary (shares of accurate / candidate /
  failed frames per stage, frames labelled, pw.x hours, validation errors of every model) and the history of the run.

**Stages.** ``trajectory`` evaluates the frames along the relaxations of the searches (the model must relax random
cells correctly), ``minima`` their distinct relaxed minima (the model must rank the minima: enthalpies).
The rule: an iteration evaluates its stage; when the candidate share of that stage falls below ``candidate_threshold``
the stage is converged and the next stage is evaluated at once on the same exploration (its minima), so no
exploration is wasted; when the last stage is converged the loop stops. Otherwise the candidates of the stage being
evaluated are labelled and the ensemble retrained; the next iteration keeps that stage.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'DECISIONS',
    'RETRAIN_MODES',
    'STAGES',
    'STAGE_FRAMES',
    'STAGE_OUTPUT',
    'append_iteration',
    'check_loop_settings',
    'iteration_record',
    'member_seed',
    'search_seed',
    'source_key',
    'stage_decision',
)

#: the stages of the loop, in their usual order
STAGES = ('trajectory', 'minima')
#: the ``frames`` parameter of the deviation job of each stage
STAGE_FRAMES = {'trajectory': 'trajectory', 'minima': 'structures'}
#: the output of the search jobs a stage evaluates: every relaxation's frames are in ``samples``, the distinct
#: minima of each composition in ``minima``
STAGE_OUTPUT = {'trajectory': 'samples', 'minima': 'minima'}
#: how a member of the ensemble is retrained from its previous version (``hydrides.lam.train`` modes)
RETRAIN_MODES = ('init', 'finetune')
#: outcomes of :func:`stage_decision`
DECISIONS = ('label', 'next_stage', 'converged')
#: the smallest ensemble that gives a model deviation worth the name (DP-GEN uses 4)
MIN_ENSEMBLE = 2


def _whole(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise HydridesInputError(f'{name} must be a whole number >= {minimum}, got {value!r}')
    return int(value)


def check_loop_settings(
    max_iterations,
    candidate_threshold,
    ensemble_size,
    stages: Sequence[str],
    retrain_mode: str = 'init',
) -> dict:
    """The loop's own settings, checked: ``max_iterations`` >= 1, ``candidate_threshold`` in (0, 1],
    ``ensemble_size`` >= 2, ``stages`` a non-empty ordered subset of :data:`STAGES` without repeats, ``retrain_mode``
    one of :data:`RETRAIN_MODES`.

    :raises HydridesInputError: naming the bad setting.
    """
    max_iterations = _whole(max_iterations, 'max_iterations', 1)
    if (
        isinstance(candidate_threshold, bool)
        or not isinstance(candidate_threshold, numbers.Real)
        or not 0 < candidate_threshold <= 1
    ):
        raise HydridesInputError(
            f'candidate_threshold is a share of the frames, in (0, 1] (e.g. 0.05), got {candidate_threshold!r}'
        )
    ensemble_size = _whole(ensemble_size, 'ensemble_size', MIN_ENSEMBLE)
    stages = list(stages or [])
    if not stages:
        raise HydridesInputError(f'give at least one stage of {list(STAGES)}')
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown:
        raise HydridesInputError(f'unknown stages {unknown}; the stages are {list(STAGES)}')
    if len(set(stages)) != len(stages):
        raise HydridesInputError(f'a stage is repeated in {stages}')
    if retrain_mode not in RETRAIN_MODES:
        raise HydridesInputError(f'the retraining mode is one of {list(RETRAIN_MODES)}, got {retrain_mode!r}')
    return {
        'max_iterations': max_iterations,
        'candidate_threshold': float(candidate_threshold),
        'ensemble_size': ensemble_size,
        'stages': stages,
        'retrain_mode': retrain_mode,
    }


def search_seed(base: int, iteration: int, pressure_index: int, batch: int = 0) -> int:
    """The seed of the search of ``iteration`` at the ``pressure_index``-th pressure (batch ``batch`` of its
    compositions): different for every iteration and pressure, so that each iteration explores new structures."""
    return int(base) + 10000 * int(iteration) + 100 * int(pressure_index) + int(batch)


def member_seed(base: int, member: int, iteration: int = 0) -> int:
    """The training seed of ensemble member ``member`` at ``iteration``: the members differ only in their seeds."""
    return int(base) + int(member) + 1000 * int(iteration)


def source_key(pressure: float, batch: int, job: str | None = None) -> str:
    """The key of a batch of frames in the deviation job (a link label: letters, digits, ``_``), e.g. ``p150_b0``
    or ``p172_5_b1_iteration_02``."""
    text = f'p{float(pressure):g}'.replace('.', '_').replace('-', 'm').replace('+', '')
    key = f'{text}_b{int(batch)}'
    return f'{key}_{job}' if job else key


def stage_decision(
    stage: str, shares: Mapping | None, threshold: float, stages: Sequence[str]
) -> tuple[str, str | None]:
    """What an iteration does after the deviation of ``stage``: ``('label', stage)`` when the candidate share is at
    least ``threshold``; otherwise the stage is converged: ``('next_stage', next)`` when a stage follows it in
    ``stages``, ``('converged', None)`` after the last one. No frames at all (``shares`` empty) count as converged."""
    if stage not in stages:
        raise HydridesInputError(f'the stage {stage!r} is not one of {list(stages)}')
    candidate = float((shares or {}).get('candidate', 0.0) or 0.0)
    if math.isfinite(candidate) and candidate >= threshold:
        return 'label', stage
    position = list(stages).index(stage)
    if position + 1 < len(stages):
        return 'next_stage', stages[position + 1]
    return 'converged', None


def _stage_entry(summary: Mapping) -> dict:
    """The part of a deviation job's summary kept per stage in the iteration record."""
    entry = {
        'n_frames': int(summary.get('n_frames', 0)),
        'counts': dict(summary.get('counts', {})),
        'shares': dict(summary.get('shares', {})),
        'n_chosen': int(summary.get('n_chosen', 0)),
    }
    for key in ('n_duplicates', 'n_capped', 'max_devi_f'):
        if key in summary:
            entry[key] = summary[key]
    return entry


def iteration_record(
    iteration: int,
    stage: str,
    deviations: Mapping[str, Mapping],
    decisions: Mapping[str, str],
    labels: Mapping | None = None,
    training: Mapping[str, Mapping] | None = None,
    validation: Mapping[str, Mapping] | None = None,
    threshold: float | None = None,
    calibration: Mapping | None = None,
) -> dict:
    """The summary of one iteration.

    :param iteration: its number (1, 2, ... continuing over runs that continue one another).
    :param stage: the stage whose candidates were labelled (the last one evaluated).
    :param deviations: the summary of the deviation job of each stage evaluated (``{'trajectory': {...}}``).
    :param decisions: :func:`stage_decision`'s outcome for each stage evaluated.
    :param labels: ``n_candidates``, ``n_labelled``, ``n_failed``, ``failed`` (frame id -> reason), ``pw_wall_hours``.
    :param training: the summary of each member's training job (``{'m0': {...}}``).
    :param validation: the validation errors of each member (``dp test``; meV/atom, meV/Å).
    :param threshold: the candidate share below which a stage is converged.
    :param calibration: the deviation of the labelled frames against the error of the ensemble that chose them
        (:func:`aiida_hydrides.core.lam.calibration.calibration_summary`, with its ``records``).
    """
    stages = {name: {**_stage_entry(summary), 'decision': decisions.get(name)} for name, summary in deviations.items()}
    models = {}
    for key in sorted(set(training or {}) | set(validation or {})):
        info = dict((training or {}).get(key, {}))
        entry = {
            'steps': info.get('steps'),
            'mode': info.get('mode'),
            'training_frames': info.get('training_frames'),
            'validation_frames': info.get('validation_frames'),
            'training_wall_s': info.get('training_wall_s'),
        }
        final = info.get('final') or {}
        for column in ('rmse_e_trn', 'rmse_f_trn', 'rmse_e_val', 'rmse_f_val'):
            if column in final:
                entry[f'final_{column}'] = final[column]
        if validation and key in validation:
            entry['validation'] = dict(validation[key])
        models[key] = entry
    labels = dict(labels or {})
    last = decisions.get(stage)
    return {
        'iteration': int(iteration),
        'stage': stage,
        'threshold': threshold,
        'stages': stages,
        'converged': last == 'converged',
        'labelled': int(labels.get('n_labelled', 0)),
        'label_failures': int(labels.get('n_failed', 0)),
        'labels': labels,
        'models': models,
        **({'deviation_vs_error': dict(calibration)} if calibration else {}),
    }


def append_iteration(previous: Mapping | None, record: Mapping, next_stage: str | None) -> dict:
    """The summary of a run after ``record``: the history of iterations (those of ``previous``, the summary of the
    run continued, first), the last iteration number, the stage of the next iteration (``None`` when converged) and
    whether the loop converged."""
    history = list((previous or {}).get('iterations', []))
    history.append(dict(record))
    return {
        'iteration': int(record['iteration']),
        'stage': next_stage,
        'converged': bool(record.get('converged')),
        'iterations': history,
        'shares': {
            str(entry['iteration']): {name: stage.get('shares', {}) for name, stage in entry.get('stages', {}).items()}
            for entry in history
        },
    }
