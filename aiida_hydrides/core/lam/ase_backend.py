"""Any ASE calculator as a stand-in for the LAM, behind the same batch interface as the DeePMD evaluator.

Structures are evaluated one after the other with the calculator (ASE calculators are single-structure); the result
has exactly the layout of :class:`~aiida_hydrides.core.lam.model.DeepMDEvaluator`'s, so the relaxation engine and the
phonon code run unchanged with EMT, Lennard-Jones or any other calculator that provides energy, forces and stress.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .model import BatchEvaluator, RawBatch

__all__ = ('AseEvaluator',)


class AseEvaluator(BatchEvaluator):
    """Evaluate batches with an ASE calculator (an instance, or a factory called once).

    ``type_map`` (chemical symbols) restricts the elements accepted; ``None`` accepts any.
    """

    def __init__(self, calculator, type_map: Sequence[str] | None = None, name: str | None = None):
        super().__init__()
        self.calculator = (
            calculator() if isinstance(calculator, Callable) and not hasattr(calculator, 'calculate') else calculator
        )
        self.type_map = list(type_map) if type_map is not None else None
        self.description = name or f'ASE {type(self.calculator).__name__}'

    def _compute(self, numbers, positions, cells) -> RawBatch:
        from ase import Atoms
        from ase.stress import voigt_6_to_full_3x3_stress

        count = len(numbers)
        energies = np.zeros(count)
        virials = np.zeros((count, 3, 3))
        forces = []
        for index in range(count):
            atoms = Atoms(numbers=numbers[index], positions=positions[index], cell=cells[index], pbc=True)
            atoms.calc = self.calculator
            energies[index] = atoms.get_potential_energy()
            forces.append(np.array(atoms.get_forces()))
            stress = voigt_6_to_full_3x3_stress(atoms.get_stress())
            virials[index] = -stress * atoms.get_volume()
        return RawBatch(energies=energies, forces=forces, virials=virials)
