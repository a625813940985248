"""How a relaxation trajectory amplifies rounding: the batched engine against the ASE loop on one structure, stopped
after k steps, for growing k.

The throughput benchmark (``lam_throughput.py``) finds all but one of the structures that converge in both methods
at the same enthalpy to 1e-8 meV/atom; this script follows the exception (structure 9 of the default 64: a floppy
CaYH19 cell) step by step. Both runs are the same algorithm, so the difference starts at the level of rounding
(different but equivalent orders of floating-point operations: the batched model call, the engine's own matrix
exponential) and grows by about a factor of ten every five steps until the runs fall into different minima.
Writes ``results/lam_trajectory_divergence.json`` (largest position and enthalpy difference after each k).

Usage: python benchmarks/lam_trajectory_divergence.py [--index 9] [--steps 10,20,40,60,80,100,120]
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
parser.add_argument('--index', type=int, default=9, help='structure of the throughput benchmark (seed 2024)')
parser.add_argument('--steps', default='10,20,40,60,80,100,120')
parser.add_argument('--threads', type=int, default=1)
parser.add_argument('--model', default=None)
args = parser.parse_args()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import pick_model, set_model_threads, write_result  # noqa: E402

set_model_threads(args.threads)

import numpy as np  # noqa: E402


def main():
    from deepmd.calculator import DP
    from lam_throughput import random_cells

    from aiida_hydrides.core.lam.model import load_model
    from aiida_hydrides.core.lam.reference import ase_relax
    from aiida_hydrides.core.lam.relax import BatchRelaxer, RelaxSettings

    model_path, model_kind = pick_model(args.model)
    atoms = random_cells(args.index + 1, 2024)[args.index]
    evaluator = load_model(model_path, compress=True)
    calculator = DP(model=str(evaluator.path))
    rows = []
    for steps in (int(k) for k in args.steps.split(',')):
        settings = RelaxSettings(pressure_gpa=200.0, fmax=0.05, stress_tol_gpa=0.5, max_steps=steps, optimizer='lbfgs')
        batched = BatchRelaxer(evaluator, settings).relax([atoms])[0]
        reference = ase_relax(atoms, calculator, settings, index=args.index)
        rows.append(
            {
                'steps': steps,
                'batched_steps': batched.n_steps,
                'ase_steps': reference.n_steps,
                'max_position_difference_A': float(np.abs(batched.atoms.positions - reference.atoms.positions).max()),
                'enthalpy_difference_mev_per_atom': float(
                    abs(batched.enthalpy_per_atom - reference.enthalpy_per_atom) * 1000
                ),
            }
        )
        print(rows[-1], flush=True)
    write_result(
        'lam_trajectory_divergence',
        metric='enthalpy difference after the last step checked',
        value=rows[-1]['enthalpy_difference_mev_per_atom'],
        unit='meV/atom',
        target=None,
        higher_is_better=False,
        structure=atoms.get_chemical_formula(mode='metal'),
        index=args.index,
        model=model_path.name,
        model_kind=model_kind,
        model_compressed=bool(evaluator.compressed),
        note='diagnostic of lam_throughput agreement; no target of its own',
        steps=rows,
    )


if __name__ == '__main__':
    main()
