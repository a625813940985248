"""Symmetry-constrained random structures of one composition, made with PyXtal.

One structure is drawn in four steps:

1. the number of formula units ``z`` per primitive cell, uniformly among those that fit the atom budget
   (``z * atoms per formula unit <= max_atoms``), are allowed by ``formula_units`` (default: all) and have at least
   one compatible space group;
2. the space group, among those whose Wyckoff multiplicities can hold the atoms of the conventional cell (PyXtal's
   ``Group.check_compatible``), with the weighting ``'crystal_system'`` (default: uniform over the crystal systems
   that have a compatible group, then uniform over their compatible groups; this favours high symmetry compared with
   uniform groups, as cubic, hexagonal and trigonal groups are few), ``'uniform'`` (uniform over the compatible
   groups) or ``'high_symmetry'`` (proportional to the number of point operations of the group);
3. the volume from the additive model of :mod:`.volumes` at the target pressure, times a uniform factor in
   ``[1 - volume_jitter, 1 + volume_jitter]``;
4. PyXtal places the atoms on Wyckoff positions with the minimum distances of :class:`.DistanceLimits` as its
   ``Tol_matrix``; the cell is reduced to the primitive cell (spglib) and Niggli-reduced, and the distances are
   checked again.

Space group 1 is left out by default (``space_groups=range(2, 231)``): P1 placement is slow and P-1 covers it.
Every random draw comes from the ``numpy.random.Generator`` passed in, so a seeded generator gives the same
structures (PyXtal >= 1.0 takes the generator as ``random_state``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from ..compositions import Composition, parse_formula
from ..errors import HydridesInputError
from ..units import check_pressure
from .distances import DistanceLimits, satisfies_limits
from .volumes import estimate_volume

__all__ = ('WEIGHTINGS', 'CRYSTAL_SYSTEMS', 'formula_unit', 'crystal_system', 'RandomStructureGenerator')

WEIGHTINGS = ('crystal_system', 'uniform', 'high_symmetry')

#: Crystal system -> range of space-group numbers.
CRYSTAL_SYSTEMS = {
    'triclinic': range(1, 3),
    'monoclinic': range(3, 16),
    'orthorhombic': range(16, 75),
    'tetragonal': range(75, 143),
    'trigonal': range(143, 168),
    'hexagonal': range(168, 195),
    'cubic': range(195, 231),
}

_GROUPS: dict = {}
_QUICK_CRYSTAL = []
#: whether space group ``number`` can hold ``numbers`` atoms per species in its conventional cell, by
#: ``(number, numbers)``: PyXtal's Wyckoff check, the same for every composition with these counts (see
#: :func:`compatible_groups`)
_COMPATIBLE: dict[tuple[int, tuple[int, ...]], bool] = {}
#: PyXtal's own retry counts (40 lattices x 10 placements) can take a minute for a hard draw; a failed draw is
#: cheaper to replace with a fresh space group.
LATTICE_ATTEMPTS = 4
PLACEMENT_ATTEMPTS = 4


def _share_default_tolerances() -> None:
    """Make PyXtal build its default tolerance matrix once instead of on every image check.

    ``pyxtal.operations.check_images`` builds a fresh ``Tol_matrix(prototype='atomic')`` (a Python loop over all
    element pairs, several milliseconds) whenever it is called without one, even when it is given a plain distance
    ``tol`` and never reads the matrix, and PyXtal's Wyckoff merging calls it for every trial position: at 200 GPa
    densities, where most placements are retried, this was 95 % of the time of a search of an element (214 of 222 s for
    24 relaxations of Y). Within ``pyxtal.operations`` the matrix is only read, so one shared instance per
    (prototype, factor) gives the same structures. ``HYDRIDES_PYXTAL_TOLERANCES=per-call`` keeps PyXtal's own
    behaviour (for comparisons).
    """
    import os

    import pyxtal.operations as operations

    if os.environ.get('HYDRIDES_PYXTAL_TOLERANCES') == 'per-call':
        return
    if getattr(operations.Tol_matrix, 'shared_defaults', False):
        return
    original = operations.Tol_matrix
    shared: dict = {}

    def tolerance_matrix(*tuples, prototype='atomic', factor=1.0):
        if tuples:
            return original(*tuples, prototype=prototype, factor=factor)
        key = (prototype, factor)
        if key not in shared:
            shared[key] = original(prototype=prototype, factor=factor)
        return shared[key]

    tolerance_matrix.shared_defaults = True
    operations.Tol_matrix = tolerance_matrix


def _quick_crystal_class():
    """PyXtal's ``random_crystal`` with fewer internal retries (built on first use, PyXtal imported lazily)."""
    if not _QUICK_CRYSTAL:
        from pyxtal.crystal import random_crystal

        _share_default_tolerances()

        class QuickCrystal(random_crystal):
            """``random_crystal`` that gives up after LATTICE_ATTEMPTS x PLACEMENT_ATTEMPTS placements."""

            def set_crystal(self):
                self.numattempts = 0
                for cycle1 in range(LATTICE_ATTEMPTS):
                    self.set_volume()
                    self.set_lattice(self.lattice0)
                    self.cycle1 = cycle1
                    for cycle2 in range(PLACEMENT_ATTEMPTS):
                        self.cycle2 = cycle2
                        output = self._set_coords()
                        if output:
                            self.atom_sites = output
                            return
                    self.lattice.reset_matrix()

        _QUICK_CRYSTAL.append(QuickCrystal)
    return _QUICK_CRYSTAL[0]


def _group(number: int):
    """PyXtal's ``Group`` of a space-group number, built once per process."""
    if number not in _GROUPS:
        from pyxtal.symmetry import Group

        _GROUPS[number] = Group(number)
    return _GROUPS[number]


def crystal_system(number: int) -> str:
    """The crystal system of space group ``number``."""
    for name, numbers in CRYSTAL_SYSTEMS.items():
        if number in numbers:
            return name
    raise HydridesInputError(f'space group numbers run from 1 to 230, got {number!r}')


def formula_unit(composition: Composition | Mapping[str, int] | str) -> dict[str, int]:
    """The reduced formula unit of ``composition`` (a formula, a mapping or a :class:`Composition`), H last."""
    if isinstance(composition, str):
        composition = parse_formula(composition)
    elif not isinstance(composition, Composition):
        if not isinstance(composition, Mapping):
            raise HydridesInputError(f'a composition is a formula or an element -> count mapping, got {composition!r}')
        composition = Composition(composition)
    return composition.reduced().counts


def check_formula_units(formula_units) -> tuple[int, ...] | None:
    """The allowed numbers of formula units per primitive cell (one number or several) as a sorted tuple
    (``None``: any number)."""
    if formula_units is None:
        return None
    if isinstance(formula_units, (int, np.integer)) and not isinstance(formula_units, bool):
        formula_units = (formula_units,)
    try:
        values = sorted({int(value) for value in formula_units})
        if any(isinstance(value, bool) or int(value) != value for value in formula_units):
            raise ValueError
    except (TypeError, ValueError):
        raise HydridesInputError(f'formula_units must be whole numbers >= 1, got {formula_units!r}') from None
    if not values or values[0] < 1:
        raise HydridesInputError(f'formula_units must be whole numbers >= 1, got {formula_units!r}')
    return tuple(values)


def wyckoff_cache_dir():
    """Folder of the on-disk Wyckoff compatibility cache: ``$XDG_CACHE_HOME/aiida-hydrides/wyckoff`` (default
    ``~/.cache``)."""
    import os
    import pathlib

    return pathlib.Path(os.environ.get('XDG_CACHE_HOME', '~/.cache')).expanduser() / 'aiida-hydrides' / 'wyckoff'


def compatible_groups(counts: Iterable[int], groups: Iterable[int]) -> list[int]:
    """The space groups of ``groups`` whose Wyckoff positions can hold ``counts`` atoms per species in a primitive
    cell (PyXtal's ``Group.check_compatible`` on the conventional cell).

    The answer depends on the counts only, not on the elements, and costs seconds for cells of tens of atoms (every
    group, every split of the counts over its Wyckoff positions): a campaign asks it again for every pair of metals.
    So it is kept in this process and in a file per counts under :func:`wyckoff_cache_dir` (written atomically; a
    folder that cannot be written leaves the process cache alone).
    """
    import json
    import os
    import tempfile

    counts = tuple(int(count) for count in counts)
    groups = [int(number) for number in groups]
    path = wyckoff_cache_dir() / f'{"-".join(map(str, counts))}.json'
    missing = [number for number in groups if (number, counts) not in _COMPATIBLE]
    if missing and path.is_file():
        try:
            stored = json.loads(path.read_text())
            for number, fits in stored.items():
                _COMPATIBLE[(int(number), counts)] = bool(fits)
        except (OSError, ValueError, AttributeError):
            pass  # a broken cache file is computed again and rewritten
        missing = [number for number in groups if (number, counts) not in _COMPATIBLE]
    if missing:
        for number in missing:
            group = _group(number)
            numbers = [count * group.cellsize() for count in counts]
            _COMPATIBLE[(number, counts)] = bool(group.check_compatible(numbers)[0])
        known = {str(number): fits for (number, key), fits in _COMPATIBLE.items() if key == counts}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile('w', dir=path.parent, suffix='.tmp', delete=False) as handle:
                json.dump(known, handle)
            os.replace(handle.name, path)
        except OSError:
            pass
    return [number for number in groups if _COMPATIBLE[(number, counts)]]


class RandomStructureGenerator:
    """Random symmetric structures of one composition (see the module docstring for the procedure)."""

    def __init__(
        self,
        composition,
        pressure_gpa: float = 200.0,
        max_atoms: int = 40,
        limits: DistanceLimits | None = None,
        space_groups: Iterable[int] = range(2, 231),
        weighting: str = 'crystal_system',
        volume_jitter: float = 0.1,
        max_attempts: int = 40,
        formula_units: Iterable[int] | None = None,
    ):
        self.formula_unit = formula_unit(composition)
        self.species = list(self.formula_unit)
        self.atoms_per_formula_unit = sum(self.formula_unit.values())
        if isinstance(max_atoms, bool) or not isinstance(max_atoms, (int, np.integer)) or max_atoms < 1:
            raise HydridesInputError(f'max_atoms must be a whole number >= 1, got {max_atoms!r}')
        if max_atoms < self.atoms_per_formula_unit:
            formula = Composition(self.formula_unit).formula
            raise HydridesInputError(
                f'the atom budget max_atoms={max_atoms} is smaller than one formula unit of {formula} '
                f'({self.atoms_per_formula_unit} atoms)'
            )
        if weighting not in WEIGHTINGS:
            raise HydridesInputError(f'unknown space-group weighting {weighting!r}; choose one of {WEIGHTINGS}')
        if not 0 <= volume_jitter < 1:
            raise HydridesInputError(f'volume_jitter must be in [0, 1), got {volume_jitter!r}')
        groups = sorted(set(int(n) for n in space_groups))
        if not groups or groups[0] < 1 or groups[-1] > 230:
            raise HydridesInputError('space_groups must be a non-empty set of numbers from 1 to 230')
        self.formula_units = check_formula_units(formula_units)
        if self.formula_units is not None and min(self.formula_units) * self.atoms_per_formula_unit > max_atoms:
            formula = Composition(self.formula_unit).formula
            raise HydridesInputError(
                f'none of formula_units={list(self.formula_units)} of {formula} ({self.atoms_per_formula_unit} atoms '
                f'each) fits the atom budget max_atoms={max_atoms}'
            )
        self.pressure_gpa = check_pressure(pressure_gpa, 'pressure_gpa')
        self.volume_per_formula_unit = estimate_volume(self.formula_unit, self.pressure_gpa)
        self.max_atoms = int(max_atoms)
        self.limits = limits or DistanceLimits()
        self.weighting = weighting
        self.volume_jitter = float(volume_jitter)
        self.max_attempts = int(max_attempts)
        self.compatible = self._compatible_groups(groups)
        if not self.compatible:
            raise HydridesInputError(
                f'no space group of {groups[0]}-{groups[-1]} fits {Composition(self.formula_unit).formula} within '
                f'{self.max_atoms} atoms'
            )
        self._tolerances = None

    def _compatible_groups(self, groups: list[int]) -> dict[int, list[int]]:
        """Formula units per primitive cell -> the space groups whose Wyckoff positions can hold them."""
        counts = np.array(list(self.formula_unit.values()))
        compatible = {}
        for units in range(1, self.max_atoms // self.atoms_per_formula_unit + 1):
            if self.formula_units is not None and units not in self.formula_units:
                continue
            fitting = compatible_groups(counts * units, groups)
            if fitting:
                compatible[units] = fitting
        return compatible

    def _group_weights(self, groups: list[int]) -> np.ndarray:
        if self.weighting == 'uniform':
            weights = np.ones(len(groups))
        elif self.weighting == 'high_symmetry':
            weights = np.array([len(_group(n)[0]) / _group(n).cellsize() for n in groups], dtype=float)
        else:
            systems = [crystal_system(n) for n in groups]
            present = {name: systems.count(name) for name in set(systems)}
            weights = np.array([1.0 / (len(present) * present[name]) for name in systems])
        return weights / weights.sum()

    def choose(self, rng: np.random.Generator) -> tuple[int, int]:
        """Draw ``(formula units per primitive cell, space-group number)``."""
        options = sorted(self.compatible)
        units = options[int(rng.integers(len(options)))]
        groups = self.compatible[units]
        number = groups[int(rng.choice(len(groups), p=self._group_weights(groups)))]
        return units, number

    def _tolerance_matrix(self):
        if self._tolerances is None:
            from pyxtal.tolerance import Tol_matrix

            self._tolerances = Tol_matrix(*self.limits.tuples(self.species), prototype='atomic')
        return self._tolerances

    def attempt(self, units: int, number: int, rng: np.random.Generator):
        """One PyXtal attempt at ``units`` formula units in space group ``number``: ASE ``Atoms`` or ``None``."""
        from ase import Atoms
        from pyxtal.lattice import Lattice

        group = _group(number)
        cellsize = group.cellsize()
        scale = 1.0 + self.volume_jitter * (2.0 * rng.random() - 1.0)
        volume = self.volume_per_formula_unit * units * cellsize * scale
        numbers = [count * units * cellsize for count in self.formula_unit.values()]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try:
                lattice = Lattice(group.lattice_type, volume=volume, random_state=rng)
                crystal = _quick_crystal_class()(
                    dim=3,
                    group=group,
                    species=self.species,
                    numIons=numbers,
                    lattice=lattice,
                    tm=self._tolerance_matrix(),
                    random_state=rng,
                )
            except Exception:  # PyXtal signals an unplaceable composition or a bad lattice in several ways
                return None
        if not crystal.valid:
            return None
        scaled = np.concatenate([np.asarray(site.coords, dtype=float) for site in crystal.atom_sites])
        symbols = [site.specie for site in crystal.atom_sites for _ in range(len(site.coords))]
        atoms = Atoms(symbols, scaled_positions=scaled - np.floor(scaled), cell=crystal.lattice.matrix, pbc=True)
        atoms = self._primitive(atoms, cellsize)
        if atoms is None or len(atoms) > self.max_atoms or not satisfies_limits(atoms, self.limits):
            return None
        atoms.info.update(space_group=number, formula_units=len(atoms) // self.atoms_per_formula_unit, origin='random')
        return atoms

    @staticmethod
    def _primitive(atoms, cellsize: int):
        """The primitive cell (spglib, tight tolerance) of a generated conventional cell, Niggli-reduced."""
        import spglib
        from ase import Atoms
        from ase.build import niggli_reduce

        if cellsize > 1:
            cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
            reduced = spglib.standardize_cell(cell, to_primitive=True, no_idealize=True, symprec=1e-3)
            if reduced is None:
                return None
            lattice, scaled, numbers = reduced
            atoms = Atoms(numbers=numbers, scaled_positions=scaled, cell=lattice, pbc=True)
        atoms = atoms.copy()
        atoms.pbc = True
        niggli_reduce(atoms)
        atoms.wrap()
        order = np.argsort(atoms.numbers == 1, kind='stable')  # hydrogen last
        return atoms[order]

    def generate(self, rng: np.random.Generator):
        """One random structure (ASE ``Atoms``); ``info`` holds ``space_group``, ``formula_units``, ``origin``.

        Raises :class:`HydridesInputError` after ``max_attempts`` failed draws.
        """
        for _ in range(self.max_attempts):
            units, number = self.choose(rng)
            atoms = self.attempt(units, number, rng)
            if atoms is not None:
                return atoms
        raise HydridesInputError(
            f'no random structure of {Composition(self.formula_unit).formula} satisfied the distance limits in '
            f'{self.max_attempts} attempts; loosen the limits or raise the volume'
        )

    def generate_many(self, count: int, rng: np.random.Generator) -> list:
        """``count`` random structures."""
        return [self.generate(rng) for _ in range(int(count))]

    def volume_range(self, units: int) -> tuple[float, float]:
        """Smallest and largest primitive-cell volume (Å³) drawn for ``units`` formula units."""
        volume = self.volume_per_formula_unit * units
        return volume * (1 - self.volume_jitter), volume * (1 + self.volume_jitter)
