"""How a model ranks the search minima of label round 3 against DFT: relative enthalpies within each composition and
cell size, at 200 GPa, from the round's own pw.x labels (single points at the seed model's relaxed geometries).

The source structures of round 3 (``data/seed/sources/round3-search-minima.extxyz``) are the distinct minima that
searches with the seed model found for CaH6, YH6 and CaYH12, and the known structures as the model relaxes them.
Their labels give the DFT enthalpy ``H = E + P V`` per atom at the target pressure at each geometry; the model gives
its own at the same geometry. Within each group (formula and number of atoms) both are taken relative to the structure
that DFT puts lowest. Reported: every structure with both values, the mean absolute error of the relative enthalpies,
and the pairs that the model orders the other way round by more than 10 meV/atom.

Each structure records whether its frame is held out (``heldout``); for a model trained on round 3 the other frames
were in its training data, so the figure is then partly in-sample.

Usage: python benchmarks/search_minima_dft.py [--model M.pth] [--pressure 200]
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--model', default=None, help='model file (default: the committed seed model)')
parser.add_argument('--pressure', type=float, default=200.0)
parser.add_argument('--round', type=int, default=3)
parser.add_argument('--name', default='search_minima_dft', help='result file name (without .json)')
args = parser.parse_args()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import pick_model, set_model_threads, write_result  # noqa: E402

set_model_threads(1)

import itertools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / 'data' / 'seed'


def main():
    from aiida_hydrides.core import seed_configs
    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.units import EV_PER_A3_IN_GPA

    model_path, model_kind = pick_model(args.model)
    manifest = json.loads((DATA / 'manifest.json').read_text())
    records = {r['id']: r for r in manifest['frames']}
    frames = {f.id: f for f in seed_configs.read_candidates(DATA / 'candidates.extxyz')}
    labels = {}
    for piece in seed_configs.list_pieces(DATA):
        labels.update(seed_configs.read_piece_manifest(piece)['frames'])
    chosen = [
        i
        for i, r in records.items()
        if r.get('round') == args.round and r['origin'] == 'search-minimum' and i in labels
    ]
    if not chosen:
        sys.exit(f'no labelled search minima in round {args.round}')
    evaluator = load_model(model_path, compress=False)
    evaluations = evaluator.evaluate([frames[i].atoms for i in chosen], pressure_gpa=args.pressure)
    rows = []
    for frame_id, evaluation in zip(chosen, evaluations):
        atoms = frames[frame_id].atoms
        volume_per_atom = atoms.get_volume() / len(atoms)
        label = labels[frame_id]
        rows.append(
            {
                'id': frame_id,
                'source': records[frame_id]['prototype'].removeprefix('search-'),
                'formula': records[frame_id]['formula'],
                'natoms': len(atoms),
                'heldout': records[frame_id]['heldout'],
                'dft_enthalpy_per_atom': label['energy_per_atom'] + args.pressure * volume_per_atom / EV_PER_A3_IN_GPA,
                'dft_pressure_gpa': label['pressure_gpa'],
                'model_enthalpy_per_atom': evaluation.enthalpy_per_atom,
                'model_pressure_gpa': evaluation.pressure_gpa,
            }
        )
    errors, inversions, groups = [], [], {}
    for row in rows:
        groups.setdefault((row['formula'], row['natoms']), []).append(row)
    for members in groups.values():
        lowest = min(members, key=lambda r: r['dft_enthalpy_per_atom'])
        for row in members:
            row['dft_relative_mev'] = round(1000 * (row['dft_enthalpy_per_atom'] - lowest['dft_enthalpy_per_atom']), 1)
            row['model_relative_mev'] = round(
                1000 * (row['model_enthalpy_per_atom'] - lowest['model_enthalpy_per_atom']), 1
            )
            if row is not lowest:
                errors.append(abs(row['dft_relative_mev'] - row['model_relative_mev']))
        for first, second in itertools.combinations(members, 2):
            dft = first['dft_relative_mev'] - second['dft_relative_mev']
            model = first['model_relative_mev'] - second['model_relative_mev']
            if dft * model < 0 and max(abs(dft), abs(model)) > 10:
                inversions.append(
                    {
                        'first': first['source'],
                        'second': second['source'],
                        'dft_first_minus_second_mev': dft,
                        'model_first_minus_second_mev': model,
                    }
                )
    for row in rows:
        print(
            f'{row["source"]:16s} {row["formula"]:9s} DFT {row["dft_relative_mev"]:7.1f}  model '
            f'{row["model_relative_mev"]:7.1f} meV/atom  (P DFT {row["dft_pressure_gpa"]:.0f} GPa)'
        )
    write_result(
        args.name,
        metric='MAE of relative enthalpies of the round-3 search minima, model vs DFT',
        value=round(float(np.mean(errors)), 1) if errors else None,
        unit='meV/atom',
        target=None,
        higher_is_better=False,
        note=(
            'diagnostic of the model against DFT on its own search minima (single points at the seed model '
            "geometries, the label set's settings); no target of its own"
        ),
        inversions_over_10_meV=inversions,
        model=model_path.name,
        model_kind=model_kind,
        pressure_GPa=args.pressure,
        label_set='seed-v1',
        structures=rows,
    )


if __name__ == '__main__':
    main()
