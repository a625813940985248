"""Cross-validation of Tc models: grouped k-fold splits, the two baselines and the errors over folds.

- :func:`grouped_folds`: ``k`` folds (4 by default) grouped by formula, so that the structures of one composition are
  never split between training and test; deterministic (a hash of each formula orders them, then each formula goes
  to the fold with the fewest records so far), so a fold does not depend on the order of the records;
- the baselines, each a training callable like a model's: :func:`mean_predictor` (the mean Tc of the training
  records) and :func:`physics_baseline` (least squares of Tc on the hydrogen share of N(E_F),
  ``hydrogen_share_of_dos_ef``, and the atomic-H fraction, ``hydrogen_fraction``; on the H fraction only when some
  record lacks the share, which the result says);
- :func:`cross_validate`: runs a model's training callable and the baselines over the same folds and returns the
  MAE of every fold, their mean and standard deviation (``np.std``, over folds, population) and the out-of-fold
  prediction of every record, by name.

A training callable is ``train_fn(train_records, test_records) -> predictions``: one prediction per test record, a
number (Tc, K) or a pair ``(tc_mean_K, tc_spread_K)`` (an ensemble), so that the driver runs without deepmd-kit in
tests and with a real ensemble in ``benchmarks/tc_model_cv.py``.

Pure Python (numpy); never imports AiiDA or deepmd-kit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import HydridesInputError
from .records import TcRecord

__all__ = (
    'DEFAULT_FOLDS',
    'CrossValidationResult',
    'MethodResult',
    'cross_validate',
    'grouped_folds',
    'mae',
    'mean_predictor',
    'physics_baseline',
    'physics_features',
)

#: folds of the cross-validation unless given
DEFAULT_FOLDS = 4
#: the feature keys of the physics baseline, in order
PHYSICS_FEATURES = ('hydrogen_share_of_dos_ef', 'hydrogen_fraction')
_SALT = 'aiida-hydrides-tc-folds'

TrainFn = Callable[[Sequence[TcRecord], Sequence[TcRecord]], Sequence]


def _labelled(records: Sequence[TcRecord]) -> list[TcRecord]:
    records = list(records)
    missing = [record.name for record in records if record.tc_k is None]
    if missing:
        raise HydridesInputError(f'records without a Tc label cannot be evaluated: {missing[:5]}')
    names = [record.name for record in records]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise HydridesInputError(f'record names repeat: {duplicates[:5]}')
    return records


def grouped_folds(records: Sequence[TcRecord], n_folds: int = DEFAULT_FOLDS, salt: str = _SALT) -> list[list[int]]:
    """The test indices of each of ``n_folds`` folds; the formulas of the folds never overlap.

    :raises HydridesInputError: fewer distinct formulas than folds, or fewer than 2 folds.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2:
        raise HydridesInputError(f'the number of folds must be an integer >= 2, got {n_folds!r}')
    by_formula: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_formula.setdefault(record.formula, []).append(index)
    if len(by_formula) < n_folds:
        raise HydridesInputError(
            f'{n_folds}-fold cross-validation grouped by formula needs at least {n_folds} distinct formulas; the '
            f'{len(records)} records have {len(by_formula)} ({", ".join(sorted(by_formula)) or "none"})'
        )

    def order(formula):
        return hashlib.sha256(f'{salt}:{formula}'.encode()).hexdigest()

    # largest groups first (balanced folds), ties by hash; each to the fold with the fewest records, then the lowest
    formulas = sorted(by_formula, key=lambda formula: (-len(by_formula[formula]), order(formula)))
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for position, formula in enumerate(formulas):
        if position < n_folds:  # every fold gets one formula first
            target = position
        else:
            target = min(range(n_folds), key=lambda fold: (len(folds[fold]), fold))
        folds[target].extend(by_formula[formula])
    return [sorted(fold) for fold in folds]


def mae(true: Sequence[float], predicted: Sequence[float]) -> float:
    """Mean absolute error."""
    true, predicted = np.asarray(true, dtype=float), np.asarray(predicted, dtype=float)
    if true.shape != predicted.shape or true.size == 0:
        raise HydridesInputError(f'MAE of {true.size} labels and {predicted.size} predictions')
    return float(np.mean(np.abs(true - predicted)))


def mean_predictor(train: Sequence[TcRecord], test: Sequence[TcRecord]) -> list[float]:
    """The mean Tc of the training records, for every test record."""
    labels = [record.tc_k for record in train]
    if not labels:
        raise HydridesInputError('the mean predictor needs training records')
    return [float(np.mean(labels))] * len(test)


def physics_features(records: Sequence[TcRecord]) -> tuple[str, ...]:
    """The features the physics baseline uses for ``records``: both of :data:`PHYSICS_FEATURES` when every record has
    ``hydrogen_share_of_dos_ef``, else ``('hydrogen_fraction',)``."""
    if all(_share(record) is not None for record in records):
        return PHYSICS_FEATURES
    return ('hydrogen_fraction',)


def _share(record: TcRecord):
    value = record.features.get('hydrogen_share_of_dos_ef')
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _feature(record: TcRecord, key: str) -> float:
    if key == 'hydrogen_fraction':
        return float(record.features.get('hydrogen_fraction', record.hydrogen_fraction))
    return float(record.features[key])


def physics_baseline(
    train: Sequence[TcRecord], test: Sequence[TcRecord], features: Sequence[str] | None = None
) -> list[float]:
    """A linear model of Tc, least squares on ``features`` with an intercept (default :func:`physics_features` of
    train and test together); predictions are clipped at 0 K. Singular systems get the minimum-norm solution."""
    features = tuple(features or physics_features([*train, *test]))

    def design(records):
        return np.array([[1.0, *(_feature(record, key) for key in features)] for record in records])

    if not train:
        raise HydridesInputError('the physics baseline needs training records')
    coefficients, *_ = np.linalg.lstsq(design(train), np.array([r.tc_k for r in train], dtype=float), rcond=None)
    return [max(0.0, float(value)) for value in design(test) @ coefficients] if test else []


@dataclasses.dataclass
class MethodResult:
    """The cross-validation of one method: the MAE of each fold and the out-of-fold predictions by record name
    (``(tc_mean_K, tc_spread_K)``, spread ``None`` for a single model)."""

    name: str
    fold_mae: list[float]
    predictions: dict[str, tuple[float, float | None]]

    @property
    def mae(self) -> float:
        """Mean of the fold MAEs (K)."""
        return float(np.mean(self.fold_mae))

    @property
    def std(self) -> float:
        """Standard deviation of the fold MAEs (K, population, ``np.std``)."""
        return float(np.std(self.fold_mae))


@dataclasses.dataclass
class CrossValidationResult:
    """The folds (test record names of each), one :class:`MethodResult` per method, and notes (e.g. the physics
    baseline's fallback to the H fraction)."""

    folds: list[list[str]]
    methods: dict[str, MethodResult]
    notes: list[str]
    labels: dict[str, float]

    def summary(self) -> dict:
        """A JSON-able summary: ``{method: {mae, std, fold_mae}}``, the folds and the notes."""
        return {
            'n_folds': len(self.folds),
            'n_records': len(self.labels),
            'folds': [list(fold) for fold in self.folds],
            'methods': {
                name: {'mae': result.mae, 'std': result.std, 'fold_mae': list(result.fold_mae)}
                for name, result in self.methods.items()
            },
            'notes': list(self.notes),
        }


def _as_pair(value) -> tuple[float, float | None]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        mean, spread = value
        return float(mean), (None if spread is None else float(spread))
    return float(value), None


def cross_validate(
    records: Sequence[TcRecord],
    train_fn: TrainFn | None,
    n_folds: int = DEFAULT_FOLDS,
    others: Mapping[str, TrainFn] | None = None,
    baselines: bool = True,
    name: str = 'model',
    progress: Callable[[str], None] | None = None,
) -> CrossValidationResult:
    """Grouped k-fold cross-validation of ``train_fn`` (method ``name``), of ``others`` (e.g. ``{'scratch': ...}``)
    and, with ``baselines``, of the mean predictor (``mean``) and the physics baseline (``physics``), all on the same
    folds (:func:`grouped_folds`).

    :param train_fn: ``train_fn(train_records, test_records)`` -> one prediction per test record (a number or a
        ``(mean, spread)`` pair); ``None`` runs only ``others`` and the baselines.
    :param progress: called with one line per fold and method.
    :raises HydridesInputError: unlabelled or repeated records, too few formulas, or a callable that returns the
        wrong number of predictions or non-finite ones.
    """
    records = _labelled(records)
    folds = grouped_folds(records, n_folds)
    methods: dict[str, TrainFn] = {}
    if train_fn is not None:
        methods[name] = train_fn
    methods.update(others or {})
    notes = []
    if baselines:
        features = physics_features(records)
        if features != PHYSICS_FEATURES:
            lacking = [r.name for r in records if _share(r) is None]
            notes.append(
                f'physics baseline on hydrogen_fraction only: {len(lacking)} records lack hydrogen_share_of_dos_ef '
                f'(e.g. {", ".join(lacking[:3])})'
            )
        methods['mean'] = mean_predictor
        methods['physics'] = lambda train, test: physics_baseline(train, test, features)
    if not methods:
        raise HydridesInputError('nothing to cross-validate: no train_fn, others or baselines')

    results = {method: MethodResult(method, [], {}) for method in methods}
    for fold, test_indices in enumerate(folds):
        chosen = set(test_indices)
        train = [record for index, record in enumerate(records) if index not in chosen]
        test = [records[index] for index in test_indices]
        for method, function in methods.items():
            predictions = [_as_pair(value) for value in function(train, test)]
            if len(predictions) != len(test):
                raise HydridesInputError(
                    f'{method} returned {len(predictions)} predictions for the {len(test)} test records of fold {fold}'
                )
            if not all(math.isfinite(mean) for mean, _ in predictions):
                raise HydridesInputError(f'{method} returned non-finite predictions in fold {fold}')
            error = mae([record.tc_k for record in test], [mean for mean, _ in predictions])
            results[method].fold_mae.append(error)
            for record, prediction in zip(test, predictions):
                results[method].predictions[record.name] = prediction
            if progress is not None:
                progress(f'fold {fold + 1}/{len(folds)}: {method} MAE {error:.2f} K on {len(test)} records')
    return CrossValidationResult(
        folds=[[records[index].name for index in fold] for fold in folds],
        methods=results,
        notes=notes,
        labels={record.name: float(record.tc_k) for record in records},
    )
