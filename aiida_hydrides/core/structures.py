"""Reading and validating crystal structures, with clear errors.

Any format ASE reads works; the format is guessed from the file name for the usual ones (CIF, POSCAR/CONTCAR,
extended XYZ, Quantum ESPRESSO input and output). The structure is then checked: it must have atoms of known
elements, a 3-D cell of non-zero volume and no overlapping atoms.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from .elements import CHEMICAL_SYMBOLS
from .errors import HydridesInputError, StructureReadError

__all__ = ('MIN_INTERATOMIC_DISTANCE', 'guess_format', 'read_structure', 'validate_structure', 'primitive_cell')

#: Atoms closer than this (Angstrom) are taken as overlapping, i.e. a broken structure.
MIN_INTERATOMIC_DISTANCE = 0.3

_FORMAT_BY_SUFFIX = {
    '.cif': 'cif',
    '.xyz': 'extxyz',
    '.extxyz': 'extxyz',
    '.in': 'espresso-in',
    '.pwi': 'espresso-in',
    '.pwo': 'espresso-out',
    '.vasp': 'vasp',
    '.poscar': 'vasp',
    '.traj': 'traj',
    '.json': 'json',
}
_QE_OUTPUT_MARKER = b'Program PWSCF'


def guess_format(path: str | os.PathLike) -> str | None:
    """The ASE format name for ``path`` from its name (and, for ``.out``/``.log``, its first bytes), or ``None``."""
    path = pathlib.Path(path)
    name = path.name.upper()
    if 'POSCAR' in name or 'CONTCAR' in name:
        return 'vasp'
    suffix = path.suffix.lower()
    if suffix in _FORMAT_BY_SUFFIX:
        return _FORMAT_BY_SUFFIX[suffix]
    if suffix in ('.out', '.log'):
        try:
            with path.open('rb') as handle:
                head = handle.read(65536)
        except OSError:
            return None
        if _QE_OUTPUT_MARKER in head:
            return 'espresso-out'
    return None


def read_structure(
    path: str | os.PathLike,
    format: str | None = None,  # noqa: A002 - the name ASE users know
    index: int = -1,
    validate: bool = True,
    min_distance: float = MIN_INTERATOMIC_DISTANCE,
):
    """Read one structure (the last one of a trajectory or QE output unless ``index`` says otherwise) as
    :class:`ase.Atoms`, and validate it unless ``validate`` is false.

    Raises :class:`StructureReadError` with a message naming the file and the problem.
    """
    import ase.io
    from ase.io.formats import UnknownFileTypeError

    path = pathlib.Path(path)
    if not path.exists():
        raise StructureReadError(f'structure file not found: {path}')
    if path.is_dir():
        raise StructureReadError(f'{path} is a directory, not a structure file')
    if path.stat().st_size == 0:
        raise StructureReadError(f'the structure file {path} is empty')
    fmt = format or guess_format(path)
    described = f"as '{fmt}'" if fmt else '(format guessed by ASE)'
    try:
        atoms = ase.io.read(str(path), index=index, format=fmt)
    except UnknownFileTypeError as exc:
        raise StructureReadError(
            f"cannot tell the format of {path} ({exc}); pass a format such as 'cif', 'vasp', 'espresso-in', "
            "'espresso-out' or 'extxyz'"
        ) from exc
    except PermissionError as exc:
        raise StructureReadError(f'cannot open {path}: permission denied') from exc
    except KeyError as exc:
        key = exc.args[0] if exc.args else ''
        if isinstance(key, str) and key not in CHEMICAL_SYMBOLS and key.isalpha() and len(key) <= 3:
            raise StructureReadError(f"could not read {path} {described}: unknown element '{key}'") from exc
        raise StructureReadError(f'could not read {path} {described}: {_describe(exc)}') from exc
    except Exception as exc:  # noqa: BLE001 - ASE readers raise anything on malformed content
        raise StructureReadError(f'could not read {path} {described}: {_describe(exc)}') from exc
    if isinstance(atoms, list):
        if not atoms:
            raise StructureReadError(f'{path} holds no structure')
        atoms = atoms[-1]
    if validate:
        validate_structure(atoms, min_distance=min_distance, source=str(path))
    return atoms


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f'{type(exc).__name__}: {text}' if text else f'{type(exc).__name__} (malformed or truncated content)'


def validate_structure(atoms, min_distance: float = MIN_INTERATOMIC_DISTANCE, source: str | None = None):
    """Return ``atoms`` if it is a sound crystal structure, else raise :class:`StructureReadError`.

    Checks: at least one atom, only known elements, a periodic 3-D cell with non-zero volume, and no two atoms
    (periodic images included) closer than ``min_distance`` Angstrom.
    """
    from .descriptors import nearest_neighbour_distances

    where = f' in {source}' if source else ''
    if len(atoms) == 0:
        raise StructureReadError(f'the structure{where} has no atoms')
    numbers = np.asarray(atoms.numbers)
    unknown = np.flatnonzero((numbers < 1) | (numbers > len(CHEMICAL_SYMBOLS)))
    if len(unknown):
        raise StructureReadError(
            f'the structure{where} has atoms of unknown element (atom {int(unknown[0])}, '
            f"symbol '{atoms.get_chemical_symbols()[unknown[0]]}')"
        )
    if not np.all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6:
        raise StructureReadError(
            f'the structure{where} has no 3-D periodic cell (zero-volume cell or missing lattice vectors)'
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise StructureReadError(f'the structure{where} has non-finite atomic positions')
    try:
        indices, distances = nearest_neighbour_distances(atoms)
    except HydridesInputError as exc:
        raise StructureReadError(f'the structure{where} is invalid: {exc}') from exc
    closest = int(np.argmin(distances))
    if distances[closest] < min_distance:
        symbols = atoms.get_chemical_symbols()
        other = int(indices[closest])
        raise StructureReadError(
            f'the structure{where} has overlapping atoms: {symbols[closest]} (atom {closest}) and {symbols[other]} '
            f'(atom {other}) are {distances[closest]:.3f} A apart, below {min_distance} A'
        )
    return atoms


def primitive_cell(atoms, symprec: float = 1e-3):
    """The standardized primitive cell of ``atoms`` found by spglib at ``symprec`` (Angstrom), idealized to its space
    group (exact symmetry: a DFT code then finds every operation), or ``atoms`` itself if spglib finds no symmetry."""
    import ase
    import spglib

    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    reduced = spglib.standardize_cell(cell, to_primitive=True, symprec=symprec)
    if reduced is None:
        return atoms
    lattice, positions, numbers = reduced
    return ase.Atoms(numbers=numbers, cell=lattice, scaled_positions=positions, pbc=True)
