"""Many structures in one ``ArrayData`` node: concatenated positions and numbers, one cell per structure, offsets.

A relaxation batch of hundreds of candidate structures is one node instead of hundreds: the arrays are those of
:mod:`aiida_hydrides.core.lam.batch` (``numbers``, ``positions``, ``cells``, ``offsets``, ``pbc``), and any extra
per-structure arrays (enthalpies, flags, ...) may sit beside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from aiida import orm

from aiida_hydrides.core.lam.batch import BATCH_KEYS, check_batch_arrays, pack_structures, unpack_structures

__all__ = (
    'structures_to_array',
    'array_to_structures',
    'array_to_structure_data',
    'batch_arrays',
    'structures_at',
    'arrays_to_arraydata',
)


def _as_ase(structure):
    return structure.get_ase() if isinstance(structure, orm.StructureData) else structure


def arrays_to_arraydata(arrays: Mapping[str, np.ndarray]) -> orm.ArrayData:
    """An unstored ``ArrayData`` holding ``arrays`` (a structure batch plus optional per-structure arrays)."""
    check_batch_arrays(arrays)
    node = orm.ArrayData()
    for name, value in arrays.items():
        node.set_array(name, np.asarray(value))
    node.base.attributes.set('n_structures', int(len(arrays['offsets']) - 1))
    return node


def structures_to_array(structures: Iterable, **extra_arrays) -> orm.ArrayData:
    """Pack ``ase.Atoms`` or ``StructureData`` objects into one unstored ``ArrayData`` (``extra_arrays`` are added
    as they are, one entry per structure)."""
    arrays = pack_structures([_as_ase(s) for s in structures])
    count = len(arrays['offsets']) - 1
    for name, value in extra_arrays.items():
        value = np.asarray(value)
        if len(value) != count:
            raise ValueError(f'extra array {name!r} has {len(value)} entries for {count} structures')
        arrays[name] = value
    return arrays_to_arraydata(arrays)


def batch_arrays(node: orm.ArrayData) -> dict[str, np.ndarray]:
    """All arrays of a structure-batch node, as a dict."""
    return {name: node.get_array(name) for name in node.get_arraynames()}


def array_to_structures(node: orm.ArrayData) -> list:
    """The structures of a batch node as ``ase.Atoms`` objects."""
    arrays = batch_arrays(node)
    return unpack_structures({key: arrays[key] for key in (*BATCH_KEYS, 'pbc') if key in arrays})


def structures_at(arrays: Mapping[str, np.ndarray], indices: Iterable[int]) -> list:
    """The structures ``indices`` of batch ``arrays`` (a dict, e.g. :func:`batch_arrays`) as ``ase.Atoms``, without
    unpacking the others; positions stored in single precision come back in double."""
    from ase import Atoms

    offsets = np.asarray(arrays['offsets'])
    count = offsets.size - 1
    result = []
    for index in indices:
        index = int(index)
        if not 0 <= index < count:
            raise IndexError(f'structure {index} of a batch of {count}')
        start, stop = int(offsets[index]), int(offsets[index + 1])
        pbc = np.asarray(arrays['pbc'])[index] if 'pbc' in arrays else True
        result.append(
            Atoms(
                numbers=np.asarray(arrays['numbers'][start:stop], dtype=int),
                positions=np.asarray(arrays['positions'][start:stop], dtype=float),
                cell=np.asarray(arrays['cells'][index], dtype=float),
                pbc=pbc,
            )
        )
    return result


def array_to_structure_data(node: orm.ArrayData, index: int) -> orm.StructureData:
    """Structure ``index`` of a batch node as an unstored ``StructureData``."""
    return orm.StructureData(ase=structures_at(batch_arrays(node), [index])[0])
