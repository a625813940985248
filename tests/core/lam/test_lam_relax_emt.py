"""The batched relaxation engine against ASE's FrechetCellFilter + LBFGS/FIRE, with EMT as the model."""

import numpy as np
import pytest
from ase.calculators.emt import EMT

from aiida_hydrides.core.lam.ase_backend import AseEvaluator
from aiida_hydrides.core.lam.errors import HydridesInputError, UnknownElementError
from aiida_hydrides.core.lam.reference import ase_relax
from aiida_hydrides.core.lam.relax import BatchRelaxer, RelaxSettings, relax_structures

SETTINGS = {'pressure_gpa': 10.0, 'fmax': 0.02, 'stress_tol_gpa': 0.1, 'max_steps': 200}


@pytest.mark.parametrize('optimizer', ['lbfgs', 'fire'])
def test_batched_matches_ase_frechet(emt_cells, optimizer):
    settings = RelaxSettings(optimizer=optimizer, **SETTINGS)
    cells = emt_cells if optimizer == 'lbfgs' else emt_cells[1:]  # FIRE takes more steps: keep it short
    relaxer = BatchRelaxer(AseEvaluator(EMT()), settings)
    results = relaxer.relax(cells)
    assert relaxer.timings['model_calls'] == relaxer.timings['batch_steps']  # one model call per batch step
    for atoms, result in zip(cells, results):
        reference = ase_relax(atoms, EMT(), settings)
        assert result.flag == reference.flag == 'converged'
        assert abs(result.enthalpy_per_atom - reference.enthalpy_per_atom) < 1e-3  # eV/atom
        assert abs(result.n_steps - reference.n_steps) <= 2
        assert result.pressure_gpa == pytest.approx(10.0, abs=0.1)
        assert result.fmax < 0.02 and result.stress_residual_gpa < 0.1
        assert result.enthalpy == pytest.approx(result.energy + 10.0 / 160.21766208 * result.volume)


def test_streaming_refill_gives_the_same_results(emt_cells):
    all_at_once = relax_structures(emt_cells, AseEvaluator(EMT()), **SETTINGS)
    streamed = relax_structures(iter(emt_cells * 2), AseEvaluator(EMT()), batch_size=2, **SETTINGS)
    assert [r.index for r in streamed] == list(range(6))
    for k, result in enumerate(streamed):
        assert result.flag == 'converged'
        assert result.enthalpy_per_atom == pytest.approx(all_at_once[k % 3].enthalpy_per_atom, abs=1e-9)
        assert result.n_steps == all_at_once[k % 3].n_steps


def test_exploded_and_collapsed_cells_are_flagged(emt_cells):
    # pressures are 0-1000 GPa, so no tension: a compressed Al cell (13.7 A^3/atom) expands at 0 GPa towards EMT's
    # 16.6 A^3/atom and crosses a volume limit set below that on the way
    compressed = emt_cells[0].copy()
    compressed.set_cell(compressed.cell * (3.8 / 4.1), scale_atoms=True)
    exploded = relax_structures(
        [compressed], AseEvaluator(EMT()), pressure_gpa=0.0, max_steps=100, max_volume_per_atom=15.0, optimizer='fire'
    )
    assert exploded[0].flag == 'exploded' and exploded[0].n_steps > 0
    assert exploded[0].volume / len(exploded[0].atoms) > 15.0
    squeezed = emt_cells[1].copy()
    squeezed.positions[1] = squeezed.positions[0] + [0.2, 0.0, 0.0]
    mixed = relax_structures([squeezed, emt_cells[0]], AseEvaluator(EMT()), **SETTINGS)
    assert [r.flag for r in mixed] == ['collapsed', 'converged']
    assert mixed[0].n_steps == 0 and np.isnan(mixed[0].energy)


def test_max_steps_flag_and_fixed_cell(emt_cells):
    results = relax_structures(emt_cells, AseEvaluator(EMT()), **{**SETTINGS, 'max_steps': 2})
    assert {r.flag for r in results} == {'max_steps'}
    assert all(r.n_steps == 2 for r in results)
    fixed = relax_structures(emt_cells[:1], AseEvaluator(EMT()), relax_cell=False, pressure_gpa=10.0, fmax=0.02)
    assert fixed[0].flag == 'converged'
    np.testing.assert_allclose(fixed[0].atoms.cell, emt_cells[0].cell)


def test_bad_input_before_compute(emt_cells):
    evaluator = AseEvaluator(EMT(), type_map=['Al', 'Cu'])
    h_cell = emt_cells[0].copy()
    h_cell[0].symbol = 'H'
    with pytest.raises(UnknownElementError, match='structure 1 contains H, which the model does not know'):
        relax_structures([emt_cells[1], h_cell], evaluator)
    assert evaluator.timings['model_calls'] == 0
    with pytest.raises(HydridesInputError, match='must be a number in GPa'):
        relax_structures(emt_cells, evaluator, pressure_gpa='200 GPa')
    molecule = emt_cells[0].copy()
    molecule.pbc = False
    with pytest.raises(HydridesInputError, match='not a 3-D periodic crystal'):
        relax_structures([molecule], evaluator)
