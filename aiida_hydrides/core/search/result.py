"""The record of a structure search: every relaxed structure with its enthalpy, outcome, generation and origin.

Structures are kept compactly (one numbers/positions/cell array per relaxation, initial and relaxed);
:meth:`SearchResult.arrays` exports them in the batch layout of :mod:`aiida_hydrides.core.lam.batch`
(``numbers``, ``positions``, ``cells``, ``offsets``) plus one entry per relaxation for every per-structure field.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..compositions import Composition
from ..errors import HydridesInputError

__all__ = ('ORIGINS', 'USABLE_FLAGS', 'Minimum', 'SearchResult')

ORIGINS = ('random', 'prototype', 'ordering', 'pso', 'heredity', 'mutation')
#: Relaxation outcomes whose enthalpies count (a structure that ran out of steps is still a sensible minimum guess).
USABLE_FLAGS = ('converged', 'max_steps')


@dataclasses.dataclass
class Minimum:
    """A distinct low-enthalpy structure of a search."""

    index: int
    enthalpy_per_atom: float
    relative_mev: float
    space_group_number: int
    space_group_symbol: str
    formula: str
    natoms: int
    generation: int
    origin: str
    flag: str
    duplicates: int
    atoms: object = dataclasses.field(repr=False)

    def as_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.pop('atoms')
        return data


class SearchResult:
    """Everything a search relaxed, in order (index = relaxation number)."""

    def __init__(self, formula_unit: dict, settings=None):
        self.formula_unit = dict(formula_unit)
        self.settings = settings
        self._numbers: list[np.ndarray] = []
        self._positions: list[np.ndarray] = []
        self._cells: list[np.ndarray] = []
        self._initial_positions: list[np.ndarray] = []
        self._initial_cells: list[np.ndarray] = []
        self.enthalpy_per_atom: list[float] = []
        self.energy: list[float] = []
        self.volume: list[float] = []
        self.flags: list[str] = []
        self.generations: list[int] = []
        self.origins: list[str] = []
        self.n_steps: list[int] = []
        self.duplicate_of: list[int] = []
        self.generation_sizes: list[int] = []
        #: why the search stopped before its budget was spent (``'stagnated'``), or ``None``
        self.stop_reason: str | None = None
        #: frames along the relaxations (``SearchSettings.trajectory_every`` > 0): per relaxation ``None`` or the
        #: :attr:`~aiida_hydrides.core.lam.relax.RelaxResult.trajectory` of its relaxation
        self.keep_trajectories = bool(getattr(settings, 'trajectory_every', 0))
        self._trajectories: list = []

    def __len__(self) -> int:
        return len(self.flags)

    @property
    def formula(self) -> str:
        return Composition(self.formula_unit).formula

    def add(self, initial, relaxed, generation: int, origin: str, duplicate_of: int = -1) -> int:
        """Record one relaxation (``relaxed`` is a :class:`~aiida_hydrides.core.lam.relax.RelaxResult`)."""
        if origin not in ORIGINS:
            raise HydridesInputError(f'unknown origin {origin!r}; choose one of {ORIGINS}')
        atoms = relaxed.atoms
        self._numbers.append(np.asarray(atoms.numbers, dtype=np.int64).copy())
        self._positions.append(np.asarray(atoms.positions, dtype=float).copy())
        self._cells.append(np.asarray(atoms.cell.array, dtype=float).copy())
        self._initial_positions.append(np.asarray(initial.positions, dtype=float).copy())
        self._initial_cells.append(np.asarray(initial.cell.array, dtype=float).copy())
        self.enthalpy_per_atom.append(float(relaxed.enthalpy_per_atom))
        self.energy.append(float(relaxed.energy))
        self.volume.append(float(relaxed.volume))
        self.flags.append(str(relaxed.flag))
        self.generations.append(int(generation))
        self.origins.append(origin)
        self.n_steps.append(int(relaxed.n_steps))
        self.duplicate_of.append(int(duplicate_of))
        self._trajectories.append(getattr(relaxed, 'trajectory', None) if self.keep_trajectories else None)
        return len(self) - 1

    def structure(self, index: int, initial: bool = False):
        """The relaxed (or the initial) structure of relaxation ``index`` as ASE ``Atoms``."""
        from ase import Atoms

        positions = self._initial_positions[index] if initial else self._positions[index]
        cell = self._initial_cells[index] if initial else self._cells[index]
        return Atoms(numbers=self._numbers[index], positions=positions, cell=cell, pbc=True)

    def usable(self) -> np.ndarray:
        """Mask of the relaxations with a usable outcome and a finite enthalpy."""
        flags = np.array(self.flags, dtype=object)
        return np.isin(flags, USABLE_FLAGS) & np.isfinite(np.array(self.enthalpy_per_atom, dtype=float))

    @property
    def best_index(self) -> int | None:
        """Index of the lowest enthalpy per atom among the usable relaxations (``None`` if there is none)."""
        usable = self.usable()
        if not usable.any():
            return None
        enthalpies = np.where(usable, np.array(self.enthalpy_per_atom), np.inf)
        return int(np.argmin(enthalpies))

    @property
    def best_enthalpy_per_atom(self) -> float:
        index = self.best_index
        return float('nan') if index is None else self.enthalpy_per_atom[index]

    def best(self):
        """The relaxed structure with the lowest enthalpy per atom."""
        index = self.best_index
        if index is None:
            raise HydridesInputError('the search has no usable relaxation')
        return self.structure(index)

    def counts(self, field: str = 'origins') -> dict[str, int]:
        """Number of relaxations per value of ``'origins'`` or ``'flags'``."""
        values = getattr(self, field)
        return {value: values.count(value) for value in dict.fromkeys(values)}

    def distinct(self, converged_only: bool = False) -> dict[int, list[int]]:
        """Clusters of usable relaxations: lowest-enthalpy member -> all members (the first one found and its
        duplicates), ordered by enthalpy per atom."""
        usable = self.usable()
        if converged_only:
            usable &= np.array(self.flags, dtype=object) == 'converged'
        clusters: dict[int, list[int]] = {}
        for index in np.flatnonzero(usable):
            head = self.duplicate_of[index] if self.duplicate_of[index] >= 0 else int(index)
            clusters.setdefault(head, []).append(int(index))
        enthalpies = self.enthalpy_per_atom
        best = {min(members, key=lambda i: (enthalpies[i], i)): members for members in clusters.values()}
        return dict(sorted(best.items(), key=lambda item: (enthalpies[item[0]], item[0])))

    def minima(self, window_mev: float = 100.0, converged_only: bool = False, symprec: float = 0.1) -> list[Minimum]:
        """Distinct minima within ``window_mev`` meV/atom of the best enthalpy per atom, lowest first; each
        reported by the lowest-enthalpy member of its cluster of duplicates."""
        from ..descriptors import space_group

        if not window_mev >= 0:
            raise HydridesInputError(f'the window must be >= 0 meV/atom, got {window_mev!r}')
        clusters = self.distinct(converged_only)
        if not clusters:
            return []
        best = self.enthalpy_per_atom[next(iter(clusters))]
        minima = []
        for index, members in clusters.items():
            relative = 1000.0 * (self.enthalpy_per_atom[index] - best)
            if relative > window_mev:
                break
            atoms = self.structure(index)
            try:
                number, symbol = space_group(atoms, symprec=symprec)
            except HydridesInputError:
                number, symbol = 1, 'P1'
            minima.append(
                Minimum(
                    index=index,
                    enthalpy_per_atom=float(self.enthalpy_per_atom[index]),
                    relative_mev=float(relative),
                    space_group_number=number,
                    space_group_symbol=symbol,
                    formula=atoms.get_chemical_formula(mode='metal'),
                    natoms=len(atoms),
                    generation=self.generations[index],
                    origin=self.origins[index],
                    flag=self.flags[index],
                    duplicates=len(members) - 1,
                    atoms=atoms,
                )
            )
        return minima

    def first_hit(self, reference_atoms, matcher=None, usable_only: bool = True) -> int | None:
        """Index of the first relaxation whose structure matches ``reference_atoms`` (pymatgen
        ``StructureMatcher``, default tolerances, volumes scaled), or ``None``."""
        from pymatgen.analysis.structure_matcher import StructureMatcher
        from pymatgen.io.ase import AseAtomsAdaptor

        matcher = matcher or StructureMatcher()
        reference = AseAtomsAdaptor.get_structure(reference_atoms)
        target = reference.composition.reduced_formula
        usable = self.usable()
        for index in range(len(self)):
            if usable_only and not usable[index]:
                continue
            candidate = AseAtomsAdaptor.get_structure(self.structure(index))
            if candidate.composition.reduced_formula != target:
                continue
            if matcher.fit(reference, candidate):
                return index
        return None

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything as numpy arrays: the relaxed structures in the batch layout (``numbers``, ``positions``,
        ``cells``, ``offsets``), ``initial_positions``, ``initial_cells`` and one entry per relaxation of
        ``enthalpy_per_atom``, ``energy``, ``volume``, ``flag``, ``generation``, ``origin``, ``n_steps``,
        ``duplicate_of`` (-1: distinct or unusable) and ``natoms``.

        With ``trajectory_every`` > 0 in the settings, also the frames along the relaxations as a second batch:
        ``trajectory_numbers`` (M,), ``trajectory_positions`` (M, 3), ``trajectory_cells`` (F, 3, 3),
        ``trajectory_offsets`` (F+1,), ``trajectory_sample`` (F,: the relaxation a frame belongs to) and
        ``trajectory_step`` (F,: its optimizer step); see
        :func:`aiida_hydrides.core.lam.deviation.trajectory_batch`."""
        natoms = np.array([len(n) for n in self._numbers], dtype=np.int64)
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(natoms)

        def stack(parts, shape):
            return np.concatenate(parts) if parts else np.zeros(shape)

        return {
            'numbers': stack(self._numbers, (0,)).astype(np.int64),
            'positions': stack(self._positions, (0, 3)),
            'cells': np.array(self._cells).reshape(-1, 3, 3),
            'offsets': offsets,
            'initial_positions': stack(self._initial_positions, (0, 3)),
            'initial_cells': np.array(self._initial_cells).reshape(-1, 3, 3),
            'enthalpy_per_atom': np.array(self.enthalpy_per_atom, dtype=float),
            'energy': np.array(self.energy, dtype=float),
            'volume': np.array(self.volume, dtype=float),
            'flag': np.array(self.flags, dtype='U16'),
            'generation': np.array(self.generations, dtype=np.int64),
            'origin': np.array(self.origins, dtype='U16'),
            'n_steps': np.array(self.n_steps, dtype=np.int64),
            'duplicate_of': np.array(self.duplicate_of, dtype=np.int64),
            'natoms': natoms,
            **(self.trajectory_arrays() if self.keep_trajectories else {}),
        }

    def trajectory_arrays(self) -> dict[str, np.ndarray]:
        """The frames along the relaxations (see :meth:`arrays`); empty arrays when none were kept."""
        numbers, positions, cells, samples, steps, counts = [], [], [], [], [], []
        for index, trajectory in enumerate(self._trajectories):
            if not trajectory or not len(trajectory['steps']):
                continue
            frames, natoms = trajectory['positions'].shape[:2]
            numbers.append(np.tile(self._numbers[index], frames))
            positions.append(trajectory['positions'].reshape(-1, 3))
            cells.append(trajectory['cells'])
            samples.append(np.full(frames, index, dtype=np.int64))
            steps.append(np.asarray(trajectory['steps'], dtype=np.int64))
            counts.append(np.full(frames, natoms, dtype=np.int64))
        offsets = np.zeros(sum(len(part) for part in steps) + 1, dtype=np.int64)
        if counts:
            offsets[1:] = np.cumsum(np.concatenate(counts))
        return {
            'trajectory_numbers': np.concatenate(numbers) if numbers else np.zeros(0, np.int64),
            'trajectory_positions': np.concatenate(positions) if positions else np.zeros((0, 3)),
            'trajectory_cells': np.concatenate(cells) if cells else np.zeros((0, 3, 3)),
            'trajectory_offsets': offsets,
            'trajectory_sample': np.concatenate(samples) if samples else np.zeros(0, np.int64),
            'trajectory_step': np.concatenate(steps) if steps else np.zeros(0, np.int64),
        }

    def save(self, path) -> None:
        """Write :meth:`arrays` to a compressed ``.npz`` file."""
        np.savez_compressed(path, **self.arrays())
