"""The hydride Tc dataset in figures: how many structures, how many dynamically stable, what an EPC costs by cell
size, the published values beside ours, and the screening protocol's error on the reference subset.

Reads ``data/tc_dataset/tc_dataset.json`` (written by ``aiida-hydrides dataset run``; nothing is computed here):

* ``value``: the number of structures with a result (target: 40, the issue's figure);
* ``stable`` / ``unstable``: dynamically stable or not (an unstable row is a result, with its imaginary modes);
* ``epc_wall_s_by_natoms``: the median and largest wall time of the EPC (and of the relaxation) per number of atoms,
  and the CPU time its QE programs printed (``epc_cpu``); the times are those of the machines that computed the rows
  (2 MPI processes on 2 cores unless said otherwise);
* ``literature``: every row whose compound has a published value (``aiida_hydrides.core.tc_dataset.LITERATURE``),
  our Tc with the publication's formula and μ* beside it, and λ and ω_log where published;
* ``reference``: the rows computed again with the ``moderate`` protocol (target: at least 5) and the screening rows'
  relative errors against them (λ, ω_log, Allen-Dynes Tc at μ* 0.10 and 0.13) and wall-time ratios.

Result: ``results/tc_dataset.json`` (``HYDRIDES_BENCHMARK_RESULTS`` redirects it); a missing or unreadable dataset
stops the script with a message and exit status 1.

Usage: python benchmarks/tc_dataset.py [--dataset data/tc_dataset/tc_dataset.json]
"""

import argparse
import pathlib
import sys
from collections import defaultdict
from statistics import median

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from aiida_hydrides.core.elements import DEFAULT_METALS  # noqa: E402
from aiida_hydrides.core.errors import HydridesInputError  # noqa: E402
from aiida_hydrides.core.tc_dataset import DATASET_ENTRIES, compare_protocols, compare_with_literature  # noqa: E402

from _common import load_json, run_reporting_input_errors, write_result  # noqa: E402

RESULT_NAME = 'tc_dataset'
#: the issue's figures
TARGET_STRUCTURES = 40
TARGET_REFERENCE = 5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', default=str(ROOT / 'data' / 'tc_dataset' / 'tc_dataset.json'))
    return parser.parse_args(argv)


def _load(path: pathlib.Path) -> dict:
    content = load_json(path, 'dataset')
    if not isinstance(content, dict) or not isinstance(content.get('rows'), list):
        raise HydridesInputError(f'{path} has no `rows` list (a tc_dataset.json): run `aiida-hydrides dataset run`')
    return content


def _times_by_natoms(rows: list[dict]) -> dict:
    keys = {'epc': 'epc_wall_s', 'epc_cpu': 'epc_cpu_s', 'relax': 'relax_wall_s'}
    grouped: dict = defaultdict(lambda: {name: [] for name in keys})
    for row in rows:
        for name, key in keys.items():
            if row.get(key):
                grouped[row['natoms']][name].append(row[key])
    figures = {}
    for natoms, times in sorted(grouped.items()):
        figures[str(natoms)] = {'rows': len(times['epc'])}
        for name, values in times.items():
            figures[str(natoms)][f'{name}_median_s'] = round(median(values), 1) if values else None
            figures[str(natoms)][f'{name}_max_s'] = round(max(values), 1) if values else None
    return figures


def run(args) -> pathlib.Path:
    content = _load(pathlib.Path(args.dataset))
    rows = content['rows']
    reference_rows = (content.get('reference') or {}).get('rows', [])
    metals = sorted({symbol for row in rows for symbol in row['structure']['symbols']} & set(DEFAULT_METALS))
    comparison = compare_protocols(rows, reference_rows)
    return write_result(
        RESULT_NAME,
        metric='structures of the hydride Tc dataset with an EPC result (screening protocol)',
        value=len(rows),
        unit='structures',
        target=TARGET_STRUCTURES,
        higher_is_better=True,
        entries=len(DATASET_ENTRIES),
        pending=len(DATASET_ENTRIES) - len(rows),
        stable=sum(row['status'] == 'stable' for row in rows),
        unstable=sum(row['status'] == 'unstable' for row in rows),
        formulas=len({row['formula'] for row in rows}),
        ternaries=sum(len(set(row['structure']['symbols'])) == 3 for row in rows),
        metals=metals,
        protocol=content.get('protocol'),
        epc_wall_s_by_natoms=_times_by_natoms(rows),
        wall_time_note='wall times of the machines that computed the rows (2 MPI processes with 2 k-point pools); '
        'a row computed while other jobs ran on the same cores is slower; epc_cpu: the CPU seconds (per MPI process) '
        "the EPC's QE programs printed, which sharing the cores hardly changes",
        literature=compare_with_literature(rows),
        reference={
            'protocol': (content.get('reference') or {}).get('protocol'),
            'rows': len(reference_rows),
            'target_rows': TARGET_REFERENCE,
            'names': [row['name'] for row in reference_rows],
            'summary': comparison['summary'],
            'entries': comparison['entries'],
        },
        dataset=str(args.dataset),
    )


def main(argv=None) -> int:
    return run_reporting_input_errors(
        run,
        parse_args(argv),
        lambda path, result: (
            f'{path}: {result["value"]} of {result["entries"]} structures ({result["stable"]} stable), '
            f'{result["reference"]["rows"]} computed again with {result["reference"]["protocol"]!r}'
        ),
    )


if __name__ == '__main__':
    sys.exit(main())
