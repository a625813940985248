"""Two-stage selection of candidates for electron-phonon calculations, replayed on the hydride Tc dataset.

The stable rows of ``data/tc_dataset/tc_dataset.json`` are the candidates; their out-of-fold Tc predictions
(``benchmarks/data/tc_model_oof.json``, ``{name: {tc_true_K, tc_mean_K, tc_spread_K}}``, written by the Tc model's
cross-validation benchmark: each prediction comes from models that did not see the structure) stand in for the model
of stage 2. With a budget of half the structures, stage 1 (priority rules: H share of N(E_F), symmetry, few atoms)
picks half the budget and stage 2 (predicted Tc, mean + kappa * spread) the other half
(:func:`aiida_hydrides.core.tc_model.selection.replay`).

Figure: the share of the structures with the top-10 % Tc (the truth: ``tc_true_K`` of the predictions, else the
dataset's ``--tc-key``) that the two-stage selection finds. The bar is uniform random choice of the same budget, whose
expected share is budget / n exactly (reported with the hypergeometric probability that random choice finds at least
as many); stage-1 rules alone and stage 2 alone are reported beside it.

Missing files, too few records (``--min-records``) or records without a prediction stop the script with a message and
exit status 1. Result: ``results/tc_selection.json`` (``HYDRIDES_BENCHMARK_RESULTS`` redirects it).

Usage: python benchmarks/tc_selection.py [--dataset data/tc_dataset/tc_dataset.json]
       [--predictions benchmarks/data/tc_model_oof.json] [--budget-fraction 0.5] [--stage1-fraction 0.5]
       [--kappa 0] [--top-fraction 0.1] [--tc-key allen_dynes_mu0_10] [--min-records 10]
"""

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from aiida_hydrides.core.errors import HydridesInputError  # noqa: E402
from aiida_hydrides.core.tc_model.records import records_from_dataset_rows  # noqa: E402
from aiida_hydrides.core.tc_model.selection import Stage1Rules, replay  # noqa: E402

from _common import load_json, run_reporting_input_errors, write_result  # noqa: E402

RESULT_NAME = 'tc_selection'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default=str(ROOT / 'data' / 'tc_dataset' / 'tc_dataset.json'))
    parser.add_argument('--predictions', default=str(HERE / 'data' / 'tc_model_oof.json'))
    parser.add_argument('--budget-fraction', type=float, default=0.5, help='budget as a share of the structures')
    parser.add_argument('--stage1-fraction', type=float, default=0.5, help='share of the budget picked by stage 1')
    parser.add_argument('--kappa', type=float, default=0.0, help='stage 2 score: mean + kappa * spread')
    parser.add_argument('--top-fraction', type=float, default=0.1, help='the top share of Tc to find')
    parser.add_argument('--tc-key', default='allen_dynes_mu0_10', help="the dataset's Tc label (a key of tc_K)")
    parser.add_argument('--min-records', type=int, default=10, help='fewest labelled records to run on')
    parser.add_argument('--random-draws', type=int, default=10000, help='seeded random draws besides the exact share')
    return parser.parse_args(argv)


def run(args) -> pathlib.Path:
    dataset = load_json(pathlib.Path(args.dataset), 'dataset')
    predictions = load_json(pathlib.Path(args.predictions), 'out-of-fold predictions')
    if not isinstance(dataset, dict) or not isinstance(dataset.get('rows'), list):
        raise HydridesInputError(f'{args.dataset} has no `rows` list (a tc_dataset.json)')
    if not isinstance(predictions, dict) or not all(isinstance(value, dict) for value in predictions.values()):
        raise HydridesInputError(f'{args.predictions} must map names to {{tc_true_K, tc_mean_K, tc_spread_K}}')
    records = records_from_dataset_rows(dataset['rows'], tc_key=args.tc_key, source=f'dataset:{args.dataset}')
    predicted = [record for record in records if record.name in predictions]
    without = sorted(record.name for record in records if record.name not in predictions)
    if len(predicted) < args.min_records:
        raise HydridesInputError(
            f'{len(predicted)} stable records with an out-of-fold prediction ({len(records)} stable in the dataset, '
            f'{len(predictions)} predictions); the replay needs at least {args.min_records}: grow the dataset '
            '(`aiida-hydrides dataset run`) and rerun the Tc model cross-validation'
        )
    n = len(predicted)
    budget = max(1, round(n * args.budget_fraction))
    result = replay(
        predicted,
        predictions,
        budget,
        stage1_fraction=args.stage1_fraction,
        kappa=args.kappa,
        top_fraction=args.top_fraction,
        rules=Stage1Rules(),
        random_draws=args.random_draws,
    )
    random_share = result['random']['expected_share']
    top_percent = f'{args.top_fraction * 100:g} %'
    return write_result(
        RESULT_NAME,
        metric=f'share of the top-{top_percent} Tc found by the two-stage selection with a budget of '
        f'{args.budget_fraction:g} of the structures',
        value=result['two_stage']['share'],
        unit='fraction',
        target=random_share,
        target_note=f'the bar is uniform random choice of the same budget: its expected share is budget / n = '
        f'{budget} / {n} = {random_share:.3f} exactly; the selection is useful when it finds more',
        higher_is_better=True,
        random=result['random'],
        stage1_only=result['stage1_only']['share'],
        stage2_only=result['stage2_only']['share'],
        best_possible=result['best_possible_share'],
        n_records=n,
        records_without_prediction=without,
        budget=budget,
        stage1_budget=result['stage1_budget'],
        kappa=args.kappa,
        tc_key=args.tc_key,
        top=result['top'],
        rules=result['rules'],
        two_stage=result['two_stage'],
        stage1_only_picks=result['stage1_only']['picks'],
        stage2_only_picks=result['stage2_only']['picks'],
        dataset=str(args.dataset),
        predictions=str(args.predictions),
    )


def main(argv=None) -> int:
    return run_reporting_input_errors(
        run,
        parse_args(argv),
        lambda path, content: (
            f'{path}: two-stage {content["value"]:.3f}, stage 1 only {content["stage1_only"]:.3f}, '
            f'random {content["target"]:.3f} (top {content["top"]["count"]} of {content["n_records"]}, '
            f'budget {content["budget"]})'
        ),
    )


if __name__ == '__main__':
    sys.exit(main())
