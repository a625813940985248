"""LAM phonons: phonopy finite displacements, all displaced supercells evaluated in batches by the model.

The pass/fail rule of the filter cascade is "no imaginary mode beyond ``imaginary_threshold_thz`` (3 THz)" over a
q-point mesh: a structure passes when the most negative frequency on the mesh is above ``-imaginary_threshold_thz``.
phonopy reports imaginary frequencies as negative numbers; :attr:`LamPhononResult.max_imaginary_thz` is the magnitude
of the most negative one (0 when there is none).

Supercell rule (``supercell='auto'``, :func:`supercell_for`): the diagonal supercell ``(n1, n2, n3)`` with the
fewest repetitions such that each supercell lattice vector's perpendicular width, ``n_i * d_i`` with ``d_i = V /
|a_j x a_k|`` the spacing of the lattice planes spanned by the two other vectors, is at least ``min_length``
(default :data:`DEFAULT_SUPERCELL_MIN_LENGTH`, 6 Å). Each ``n_i`` depends only on its own direction, so
``n_i = ceil(min_length / d_i)``: an elongated cell is repeated along its short directions only. The width is the
right measure for a skewed cell: it is the distance between an atom and its nearest periodic images across the
faces of the supercell, which the lengths of the lattice vectors overestimate.

The force constants are stored with the structure they belong to (:meth:`LamPhononResult.force_constant_arrays`):
the unit cell, the supercell and primitive matrices and the compact force constants, enough to rebuild a
``phonopy.Phonopy`` object (or an aiida-phonopy ``ForceConstantsData``) that gives the same frequencies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from .errors import HydridesInputError
from .model import BatchEvaluator

__all__ = (
    'LamPhononResult',
    'PhononError',
    'lam_phonons',
    'supercell_for',
    'DEFAULT_IMAGINARY_THRESHOLD_THZ',
    'DEFAULT_SUPERCELL_MIN_LENGTH',
)

DEFAULT_IMAGINARY_THRESHOLD_THZ = 3.0

#: Smallest perpendicular width (Å) of the supercells chosen by :func:`supercell_for`. It is larger than the
#: cut-off radius of the seed model (``rcut`` = 5.0 Å in ``aiida_hydrides/models/seed/input.json``): no atom of the
#: supercell lies within the cut-off sphere of its own periodic image, so the displaced atom never moves part of its
#: own environment, and the nearest-neighbour and second-shell force constants, which dominate the zone-boundary
#: instabilities the imaginary-mode filter looks for, are those of distinct atoms. The model's force constants reach
#: further (a displacement changes the environments within ``rcut``, whose atoms feel forces up to ``2 * rcut``
#: away), so frequencies converged to a fraction of a THz need a larger ``min_length`` (about ``2 * rcut`` = 10 Å);
#: 6 Å keeps the supercells of the search cells (a few to a few tens of atoms) at about two hundred atoms or fewer,
#: as the screening of many candidates requires, and its errors are small against the 3 THz tolerance of the filter.
DEFAULT_SUPERCELL_MIN_LENGTH = 6.0


class PhononError(HydridesInputError):
    """Phonons that cannot be computed for a structure: non-finite forces or frequencies (an exploded model)."""


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
    primitive_matrix: list | None = None

    def force_constant_arrays(self) -> dict:
        """The arrays that rebuild the phonons (from :attr:`phonopy`): ``numbers``, ``positions`` (Å), ``cell`` (Å,
        rows are lattice vectors) and ``masses`` of the unit cell, ``supercell_matrix``, ``primitive_matrix``,
        ``force_constants`` in phonopy's compact form (n_primitive_atoms, n_supercell_atoms, 3, 3) in eV/Å², and
        ``symprec``.

        ``phonopy.Phonopy(unitcell, supercell_matrix=..., primitive_matrix=..., symprec=...)`` with these arrays and
        ``force_constants`` set gives the frequencies of this result.
        """
        from phonopy.harmonic.force_constants import full_fc_to_compact_fc

        phonon = self.phonopy
        if phonon is None or phonon.force_constants is None:
            raise ValueError('this result holds no phonopy object with force constants')
        constants = np.asarray(phonon.force_constants)
        natoms = len(phonon.supercell)
        if constants.shape[:2] == (natoms, natoms):
            constants = full_fc_to_compact_fc(phonon.primitive, constants)
        unitcell = phonon.unitcell
        return {
            'numbers': np.asarray(unitcell.numbers, dtype=np.int64),
            'positions': np.asarray(unitcell.positions, dtype=float),
            'cell': np.asarray(unitcell.cell, dtype=float),
            'masses': np.asarray(unitcell.masses, dtype=float),
            'supercell_matrix': np.asarray(phonon.supercell_matrix, dtype=np.int64),
            'primitive_matrix': np.asarray(phonon.primitive_matrix, dtype=float),
            'force_constants': np.asarray(constants, dtype=float),
            'symprec': np.float64(phonon.symmetry.tolerance),
        }

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


def _widths(cell) -> np.ndarray:
    """Perpendicular widths of a cell (Å): the spacing of the lattice planes spanned by each pair of vectors."""
    cell = np.asarray(cell, dtype=float)
    volume = abs(float(np.linalg.det(cell)))
    areas = np.linalg.norm([np.cross(cell[1], cell[2]), np.cross(cell[2], cell[0]), np.cross(cell[0], cell[1])], axis=1)
    if volume < 1e-6 or not np.all(areas > 0):
        raise HydridesInputError('the cell has no volume; a supercell needs three independent lattice vectors')
    return volume / areas


def supercell_for(atoms, min_length: float = DEFAULT_SUPERCELL_MIN_LENGTH) -> tuple[int, int, int]:
    """The diagonal supercell ``(n1, n2, n3)`` with the fewest repetitions whose perpendicular widths are all at
    least ``min_length`` Å (see the module docstring).

    :param atoms: an :class:`ase.Atoms` (or anything with a ``cell``) or a 3x3 cell, rows are lattice vectors.
    :param min_length: the smallest width in Å (default :data:`DEFAULT_SUPERCELL_MIN_LENGTH`).
    :raises HydridesInputError: a non-positive ``min_length`` or a cell without volume.
    """
    if isinstance(min_length, (str, bytes, bool)) or not float(min_length) > 0:
        raise HydridesInputError(f'supercell_min_length must be a positive length in Å, got {min_length!r}')
    cell = getattr(atoms, 'cell', atoms)
    widths = _widths(np.asarray(cell, dtype=float).reshape(3, 3))
    # a width that is min_length up to rounding counts as reaching it
    return tuple(max(1, int(np.ceil(float(min_length) / width - 1e-8))) for width in widths)


def lam_phonons(
    atoms,
    evaluator: BatchEvaluator,
    supercell: Sequence | str = (2, 2, 2),
    mesh: Sequence[int] = (8, 8, 8),
    displacement: float = 0.01,
    imaginary_threshold_thz: float = DEFAULT_IMAGINARY_THRESHOLD_THZ,
    batch_size: int = 64,
    symprec: float = 1e-5,
    supercell_min_length: float = DEFAULT_SUPERCELL_MIN_LENGTH,
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
    if isinstance(supercell, str):
        if supercell != 'auto':
            raise HydridesInputError(f"supercell must be 3 integers, a 3x3 integer matrix or 'auto', got {supercell!r}")
        supercell = supercell_for(atoms, supercell_min_length)
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
    if not all(np.all(np.isfinite(f)) for f in forces):
        raise PhononError('the model gave non-finite forces for the displaced supercells')
    residual = np.asarray(forces[0])
    phonon.forces = np.array([np.asarray(f) - residual for f in forces[1:]])
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    phonon.run_mesh(mesh, with_eigenvectors=False, is_gamma_center=True)
    data = phonon.get_mesh_dict()
    frequencies = np.asarray(data['frequencies'])
    qpoints = np.asarray(data['qpoints'])
    if not np.all(np.isfinite(frequencies)):
        raise PhononError('the phonon frequencies are not finite')
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
        primitive_matrix=np.asarray(phonon.primitive_matrix, dtype=float).tolist(),
    )
