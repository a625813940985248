"""The DeePMD LAM layer with the tiny se_e2_a test model: loading, type-map checks, batched evaluation, and the
batched relaxation against ASE's FrechetCellFilter + LBFGS with the DeePMD ASE calculator."""

import numpy as np
import pytest

from aiida_hydrides.core.lam.errors import InvalidPressureError, LamModelError, UnknownElementError
from aiida_hydrides.core.lam.model import DeepMDEvaluator, load_model
from aiida_hydrides.core.lam.reference import ase_relax
from aiida_hydrides.core.lam.relax import RelaxSettings, relax_structures


def test_model_metadata(tiny_evaluator, tiny_model_path):
    assert tiny_evaluator.type_map == ['H', 'Ca', 'Y']
    assert tiny_evaluator.rcut == pytest.approx(4.0)
    assert load_model(tiny_model_path) is tiny_evaluator  # one DeepPot per process


def test_batched_evaluation_matches_single_frames(tiny_evaluator, cah6_cells):
    batch = tiny_evaluator.evaluate(cah6_cells, pressure_gpa=200.0)
    for atoms, result in zip(cah6_cells, batch):
        single = tiny_evaluator.evaluate([atoms], pressure_gpa=200.0)[0]
        assert result.energy == pytest.approx(single.energy, abs=1e-8)
        np.testing.assert_allclose(result.forces, single.forces, atol=1e-8)
        assert result.enthalpy_per_atom == pytest.approx(
            (result.energy + 200.0 / 160.21766208 * atoms.get_volume()) / len(atoms)
        )
        assert result.pressure_gpa == pytest.approx(-np.trace(result.stress_gpa) / 3)


def test_phantom_padding_is_exact(tiny_evaluator, cah6_cells):
    """7-atom frames padded with phantom atoms into one 14-atom call give the unpadded results."""
    saved = tiny_evaluator.max_padding
    try:
        tiny_evaluator.max_padding = 0.0
        assert len(tiny_evaluator.buckets([len(a) for a in cah6_cells])) == 2
        exact = tiny_evaluator.compute(
            [a.numbers for a in cah6_cells], [a.positions for a in cah6_cells], [a.cell[:] for a in cah6_cells]
        )
        tiny_evaluator.max_padding = 0.6
        assert len(tiny_evaluator.buckets([len(a) for a in cah6_cells])) == 1
        padded = tiny_evaluator.compute(
            [a.numbers for a in cah6_cells], [a.positions for a in cah6_cells], [a.cell[:] for a in cah6_cells]
        )
    finally:
        tiny_evaluator.max_padding = saved
    np.testing.assert_allclose(padded.energies, exact.energies, atol=1e-8)
    np.testing.assert_allclose(padded.virials, exact.virials, atol=1e-8)
    for f_pad, f_exact in zip(padded.forces, exact.forces):
        np.testing.assert_allclose(f_pad, f_exact, atol=1e-8)


def test_stress_is_the_volume_derivative(tiny_evaluator, cah6_cells):
    """p = -dE/dV: compare the model pressure with a finite difference of the energy under isotropic strain."""
    atoms = cah6_cells[0]
    energies = []
    for eps in (-1e-4, 1e-4):
        strained = atoms.copy()
        strained.set_cell(atoms.cell * (1 + eps), scale_atoms=True)
        energies.append((tiny_evaluator.evaluate([strained])[0].energy, strained.get_volume()))
    (e1, v1), (e2, v2) = energies
    pressure = -(e2 - e1) / (v2 - v1) * 160.21766208
    assert tiny_evaluator.evaluate([atoms])[0].pressure_gpa == pytest.approx(pressure, rel=1e-3, abs=0.05)


def test_bad_inputs(tiny_evaluator, cah6_cells, tmp_path):
    foreign = cah6_cells[0].copy()
    foreign[0].symbol = 'La'
    with pytest.raises(UnknownElementError, match=r"La, which the model does not know; its type map is \['H', 'Ca'"):
        tiny_evaluator.evaluate([cah6_cells[1], foreign])
    with pytest.raises(InvalidPressureError, match='must be a number in GPa'):
        tiny_evaluator.evaluate(cah6_cells, pressure_gpa='200 GPa')
    not_a_model = tmp_path / 'model.pth'
    not_a_model.write_text('these are not the weights you are looking for')
    with pytest.raises(LamModelError, match='is not a DeePMD model'):
        DeepMDEvaluator(not_a_model)
    with pytest.raises(LamModelError, match='must end in .pth, .pt, .pb'):
        DeepMDEvaluator(tmp_path / 'model.txt').__class__  # noqa: B018
    with pytest.raises(LamModelError, match='model file not found'):
        load_model(tmp_path / 'missing.pth')
    zipped = tmp_path / 'archive.pth'
    import zipfile

    with zipfile.ZipFile(zipped, 'w') as archive:
        archive.writestr('data.txt', 'hello')
    with pytest.raises(LamModelError, match='cannot load'):
        DeepMDEvaluator(zipped)


def test_batched_relaxation_matches_ase_with_deepmd(tiny_model_path, tiny_evaluator, cah6_cells):
    from deepmd.calculator import DP

    settings = RelaxSettings(pressure_gpa=200.0, fmax=0.03, stress_tol_gpa=0.3, max_steps=300)
    results = relax_structures(cah6_cells, tiny_evaluator, **vars(settings))
    calculator = DP(model=str(tiny_model_path))
    compared = 0
    for atoms, result in zip(cah6_cells, results):
        assert result.flag == 'converged'
        assert result.pressure_gpa == pytest.approx(200.0, abs=0.3)
        reference = ase_relax(atoms, calculator, settings)
        if reference.flag == 'converged':
            assert abs(result.enthalpy_per_atom - reference.enthalpy_per_atom) < 1e-3
            compared += 1
    assert compared == len(cah6_cells)
