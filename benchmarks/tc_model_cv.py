"""Benchmark: 4-fold cross-validated MAE of the Tc model on the project's hydride Tc dataset, against its controls.

The stable rows of ``data/tc_dataset/tc_dataset.json`` (their Tc ``--tc-key``, default Allen-Dynes at μ* = 0.10) are
split into ``--folds`` folds grouped by formula (a composition is never in training and test at once,
:func:`aiida_hydrides.core.tc_model.evaluation.grouped_folds`). Four methods are trained on each fold's training
records and tested on its test records:

* ``finetuned``: the Tc model, an ensemble of DeePMD property models whose descriptor is fine-tuned from the LAM
  (``--lam``, default the shipped seed model);
* ``scratch``: the same architecture (the LAM's descriptor) trained from random weights;
* ``mean``: the mean Tc of the training records;
* ``physics``: least squares on the hydrogen share of N(E_F) and the atomic-H fraction.

Records with elements that a LAM with a per-type descriptor (``se_e2_a``) cannot be extended to are left out for all
methods alike (reported as ``left_out``). The study's fine-tuned model reaches 20.2 ± 2.2 K.

Writes ``benchmarks/results/tc_model_cv.json`` (``value``: the fine-tuned MAE, ``std``, ``baselines`` ``{scratch,
mean, physics}`` with ``baselines_std``, the per-fold values of every method, ``n_records``) and the fine-tuned
out-of-fold predictions ``benchmarks/data/tc_model_oof.json`` (``{name: {tc_true_K, tc_mean_K, tc_spread_K}}``, read
by the selection benchmark). ``HYDRIDES_BENCHMARK_RESULTS`` redirects the results (trial runs), ``--oof`` the
predictions. With too few usable records it stops with a message and exit status 2, writing nothing.

Usage: ``.venv/bin/python benchmarks/tc_model_cv.py [--dataset FILE] [--tc-key allen_dynes_mu0_10] [--folds 4]
[--lam MODEL] [--ensemble-size 4] [--steps 2000] [--threads 2] [--work DIR] [--oof FILE]``.
"""

import argparse
import json
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
sys.path.insert(0, str(ROOT))
from aiida_hydrides.core.errors import HydridesInputError  # noqa: E402
from aiida_hydrides.core.tc_model import deepmd_data, evaluation, training  # noqa: E402
from aiida_hydrides.core.tc_model.predict import ensemble_statistics  # noqa: E402
from aiida_hydrides.core.tc_model.records import records_from_dataset_rows  # noqa: E402

from _common import RESULTS_DIR, write_result  # noqa: E402

DATASET = ROOT / 'data' / 'tc_dataset' / 'tc_dataset.json'
LAM = ROOT / 'aiida_hydrides' / 'models' / 'seed' / 'seed_se_e2_a.pth'
OOF = ROOT / 'benchmarks' / 'data' / 'tc_model_oof.json'
NAME = 'tc_model_cv'
TARGET_K = 20.2


def usable_records(records, lam: pathlib.Path):
    """(records the LAM can be fine-tuned on, names left out with the reason)."""
    descriptor, type_map, _ = training.lam_parts(training.lam_model_params(lam))
    if descriptor.get('type') in deepmd_data.TYPE_MAP_EXTENDABLE:
        return list(records), {}
    kept, left_out = [], {}
    for record in records:
        unknown = sorted(set(record.symbols) - set(type_map))
        if unknown:
            left_out[record.name] = f'elements {unknown} not in the LAM type map {type_map}'
        else:
            kept.append(record)
    return kept, left_out


def make_train_fn(mode, settings, lam, work: pathlib.Path, threads, log):
    """A training callable of :func:`evaluation.cross_validate`: an ensemble trained in its own folder per fold."""
    counter = {'fold': 0}

    def train_fn(train, test):
        fold = counter['fold']
        counter['fold'] += 1
        folder = work / f'{mode}_fold{fold}'
        start = time.time()
        training.write_training_folder(folder, train, settings.replace(mode=mode), lam, predict_records=test)
        predictions = training.run_training_folder(folder, threads=threads)
        import numpy as np

        values = np.array([predictions[record.name] for record in test], dtype=float).T
        mean, spread = ensemble_statistics(values)
        log(f'{mode} fold {fold}: {len(train)} training, {len(test)} test records, {time.time() - start:.0f} s')
        return [(float(m), float(s)) for m, s in zip(mean, spread)]

    return train_fn


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', type=pathlib.Path, default=DATASET)
    parser.add_argument('--tc-key', default='allen_dynes_mu0_10', help='which Tc of a row is the label')
    parser.add_argument('--folds', type=int, default=evaluation.DEFAULT_FOLDS)
    parser.add_argument('--lam', type=pathlib.Path, default=LAM)
    parser.add_argument('--ensemble-size', type=int, default=4)
    parser.add_argument('--steps', type=int, default=2000)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work', type=pathlib.Path, default=None, help='training folders (default: a temporary one)')
    parser.add_argument('--oof', type=pathlib.Path, default=OOF, help='where the out-of-fold predictions go')
    args = parser.parse_args(argv)

    def log(message):
        print(message, flush=True)

    try:
        rows = json.loads(args.dataset.read_text())['rows']
        records = records_from_dataset_rows(rows, args.tc_key, source=f'dataset:{args.dataset.name}')
        records, left_out = usable_records(records, args.lam)
        formulas = sorted({record.formula for record in records})
        if len(formulas) < args.folds:
            print(
                f'tc_model_cv: {len(records)} usable stable records with {len(formulas)} distinct formulas in '
                f'{args.dataset} ({len(left_out)} left out: elements the LAM does not know); {args.folds}-fold '
                f'cross-validation grouped by formula needs at least {args.folds} formulas (2 per fold or more to '
                'mean anything). Grow the dataset first; nothing was written.',
                file=sys.stderr,
            )
            return 2
        settings = training.TcModelSettings(ensemble_size=args.ensemble_size, steps=args.steps, threads=args.threads)
        log(f'{len(records)} records, {len(formulas)} formulas, {args.folds} folds; {len(left_out)} left out')
        with tempfile.TemporaryDirectory(prefix='tc_model_cv_') as temporary:
            work = args.work or pathlib.Path(temporary)
            result = evaluation.cross_validate(
                records,
                make_train_fn('finetune', settings, args.lam, work, args.threads, log),
                n_folds=args.folds,
                others={'scratch': make_train_fn('scratch', settings, args.lam, work, args.threads, log)},
                name='finetuned',
                progress=log,
            )
    except HydridesInputError as exc:
        print(f'tc_model_cv: {exc}', file=sys.stderr)
        return 2

    methods = result.methods
    lam = args.lam.resolve()
    finetuned = methods['finetuned']
    path = write_result(
        NAME,
        metric=f'{args.folds}-fold grouped cross-validated MAE of Tc ({args.tc_key}), fine-tuned Tc model',
        value=round(finetuned.mae, 3),
        unit='K',
        target=TARGET_K,
        higher_is_better=False,
        std=round(finetuned.std, 3),
        baselines={name: round(methods[name].mae, 3) for name in ('scratch', 'mean', 'physics')},
        baselines_std={name: round(methods[name].std, 3) for name in ('scratch', 'mean', 'physics')},
        fold_mae={name: [round(v, 3) for v in method.fold_mae] for name, method in methods.items()},
        beats_baselines=all(finetuned.mae < methods[name].mae for name in ('scratch', 'mean', 'physics')),
        n_records=len(records),
        n_formulas=len(formulas),
        folds=result.folds,
        left_out=left_out,
        notes=result.notes,
        tc_key=args.tc_key,
        lam=str(lam.relative_to(ROOT) if lam.is_relative_to(ROOT) else lam),
        settings=settings.to_dict(),
    )
    oof = {
        name: {
            'tc_true_K': result.labels[name],
            'tc_mean_K': mean,
            'tc_spread_K': spread,
        }
        for name, (mean, spread) in finetuned.predictions.items()
    }
    args.oof.parent.mkdir(parents=True, exist_ok=True)
    args.oof.write_text(json.dumps(oof, indent=2) + '\n')
    log(
        f'fine-tuned {finetuned.mae:.1f} ± {finetuned.std:.1f} K; '
        + ', '.join(
            f'{name} {methods[name].mae:.1f} ± {methods[name].std:.1f} K' for name in ('scratch', 'mean', 'physics')
        )
    )
    log(f'wrote {path} and {args.oof} (results folder {RESULTS_DIR})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
