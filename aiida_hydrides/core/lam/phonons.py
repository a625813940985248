"""LAM phonons: phonopy finite displacements, all displaced supercells evaluated in batches by the model.

The pass/fail rule of the filter cascade is "no imaginary mode beyond ``imaginary_threshold_thz`` (3 THz)" over a
q-point mesh: a structure passes when the most negative frequency on the mesh is above ``-imaginary_threshold_thz``.
phonopy reports imaginary frequencies as negative numbers; :attr:`LamPhononResult.max_imaginary_thz` is the magnitude
of the most negative one (0 when there is none).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .errors import HydridesInputError
from .model import BatchEvaluator

__all__ = ('LamPhononResult', 'lam_phonons', 'DEFAULT_IMAGINARY_THRESHOLD_THZ')

DEFAULT_IMAGINARY_THRESHOLD_THZ = 3.0


@dataclasses.dataclass
class LamPhononResult:
    """Phonons of one structure on a q-mesh; frequencies in THz."""

    max_imaginary_thz: float
    min_frequency_thz: float
    max_frequency_thz: float
    imaginary_threshold_thz: float
    passed: bool
    mesh: tuple
    supercell_matrix: list
    n_displacements: int
    n_imaginary_qpoints: int
    qpoints: np.ndarray = dataclasses.field(repr=False)
    frequencies: np.ndarray = dataclasses.field(repr=False)
    phonopy: object = dataclasses.field(default=None, repr=False)

    def as_dict(self) -> dict:
        """A JSON-friendly summary."""
        return {
            'max_imaginary_thz': self.max_imaginary_thz,
            'min_frequency_thz': self.min_frequency_thz,
            'max_frequency_thz': self.max_frequency_thz,
            'imaginary_threshold_thz': self.imaginary_threshold_thz,
            'passed': self.passed,
            'mesh': list(self.mesh),
            'supercell_matrix': self.supercell_matrix,
            'n_displacements': self.n_displacements,
            'n_imaginary_qpoints': self.n_imaginary_qpoints,
        }


def _supercell_matrix(supercell) -> np.ndarray:
    matrix = np.asarray(supercell, dtype=int)
    if matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or abs(round(np.linalg.det(matrix))) < 1:
        raise HydridesInputError(
            f'supercell must be 3 integers or a 3x3 integer matrix with non-zero determinant, got {supercell!r}'
        )
    return matrix


def lam_phonons(
    atoms,
    evaluator: BatchEvaluator,
    supercell: Sequence = (2, 2, 2),
    mesh: Sequence[int] = (8, 8, 8),
    displacement: float = 0.01,
    imaginary_threshold_thz: float = DEFAULT_IMAGINARY_THRESHOLD_THZ,
    batch_size: int = 64,
    symprec: float = 1e-5,
) -> LamPhononResult:
    """Finite-displacement phonons of ``atoms`` with ``evaluator``; returns a :class:`LamPhononResult`.

    The displaced supercells (phonopy's symmetry-reduced set, ± displacements as phonopy chooses) are evaluated
    ``batch_size`` at a time. Residual forces of the undisplaced supercell are subtracted, so a structure that is not
    perfectly relaxed still gives its harmonic frequencies.
    """
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    if isinstance(imaginary_threshold_thz, (str, bytes, bool)) or not float(imaginary_threshold_thz) >= 0:
        raise HydridesInputError(
            f'imaginary_threshold_thz must be a non-negative number in THz, got {imaginary_threshold_thz!r}'
        )
    mesh = tuple(int(m) for m in mesh)
    if len(mesh) != 3 or min(mesh) < 1:
        raise HydridesInputError(f'mesh must be three positive integers, got {mesh!r}')
    if not np.all(atoms.pbc) or abs(atoms.get_volume()) < 1e-6:
        raise HydridesInputError('phonons need a 3-D periodic crystal')
    evaluator.check_structures([atoms])
    matrix = _supercell_matrix(supercell)

    unitcell = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), cell=np.asarray(atoms.cell), scaled_positions=atoms.get_scaled_positions()
    )
    phonon = Phonopy(unitcell, supercell_matrix=matrix, primitive_matrix='auto', symprec=symprec)
    phonon.generate_displacements(distance=displacement)
    supercells = [phonon.supercell] + list(phonon.supercells_with_displacements)
    numbers = [np.asarray(cell.numbers) for cell in supercells]
    positions = [np.asarray(cell.positions) for cell in supercells]
    cells = [np.asarray(cell.cell) for cell in supercells]
    forces = []
    for start in range(0, len(supercells), max(1, int(batch_size))):
        stop = start + max(1, int(batch_size))
        forces.extend(evaluator.compute(numbers[start:stop], positions[start:stop], cells[start:stop]).forces)
    residual = np.asarray(forces[0])
    phonon.forces = np.array([np.asarray(f) - residual for f in forces[1:]])
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    phonon.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    data = phonon.get_mesh_dict()
    frequencies = np.asarray(data['frequencies'])
    qpoints = np.asarray(data['qpoints'])
    minimum = float(frequencies.min())
    max_imaginary = max(0.0, -minimum)
    threshold = float(imaginary_threshold_thz)
    return LamPhononResult(
        max_imaginary_thz=max_imaginary,
        min_frequency_thz=minimum,
        max_frequency_thz=float(frequencies.max()),
        imaginary_threshold_thz=threshold,
        passed=bool(max_imaginary <= threshold),
        mesh=mesh,
        supercell_matrix=matrix.tolist(),
        n_displacements=len(supercells) - 1,
        n_imaginary_qpoints=int((frequencies.min(axis=1) < -threshold).sum()),
        qpoints=qpoints,
        frequencies=frequencies,
        phonopy=phonon,
    )
