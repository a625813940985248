"""Tc records as DeePMD property data: deepmd/npy systems whose label is ``set.000/tc.npy``.

A DeePMD property model reads the same deepmd/npy folders as an energy model, with one label per frame, the property
(here ``tc``, shape ``(nframes, 1)``, in K) instead of energies and forces. Records (:class:`~.records.TcRecord`) are
grouped into one system per atom-type sequence: every record's atoms are sorted by their index in the type map, and
records with the same sorted sequence (the same composition per cell) become frames of one system. The record names
are the frame ids (``frame_ids.raw`` beside ``type.raw``, which DeePMD ignores), so that every prediction can be
traced back to its record.

The type map of a model fine-tuned from a LAM starts with the LAM's type map, in its order (the descriptor's
per-type weights are indexed by it); elements of the records that the LAM does not know are appended, sorted by
atomic number (:func:`tc_type_map`), which only a descriptor that can change its type map (the mixed-type ``dpa*``
and ``se_atten*`` descriptors) accepts.

Pure Python (numpy); never imports AiiDA or deepmd-kit.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np

from ..errors import HydridesInputError
from ..lam.dataset import TrainingSet, TrainingSystem, composition_name
from .records import TcRecord

__all__ = (
    'PROPERTY_NAME',
    'TYPE_MAP_EXTENDABLE',
    'record_elements',
    'records_to_training_set',
    'tc_type_map',
    'write_tc_systems',
)

#: the property name of the fitting net and of the label file (``set.*/tc.npy``)
PROPERTY_NAME = 'tc'
#: descriptor types whose type map DeePMD can extend when fine-tuning (mixed types); ``se_e2_a`` and the other
#: per-type ``se_*`` descriptors cannot (DeePMD raises ``NotImplementedError``)
TYPE_MAP_EXTENDABLE = ('dpa1', 'dpa2', 'dpa3', 'se_atten', 'se_atten_v2')


def record_elements(records: Sequence[TcRecord]) -> list[str]:
    """The elements of ``records``, sorted by atomic number."""
    from ase.data import atomic_numbers

    elements = {symbol for record in records for symbol in record.symbols}
    unknown = sorted(symbol for symbol in elements if symbol not in atomic_numbers)
    if unknown:
        raise HydridesInputError(f'records have symbols {unknown} that are not chemical elements')
    return sorted(elements, key=lambda symbol: atomic_numbers[symbol])


def tc_type_map(
    records: Sequence[TcRecord],
    base_type_map: Sequence[str] | None = None,
    descriptor_type: str | None = None,
) -> list[str]:
    """The type map of a Tc model of ``records``.

    :param base_type_map: the LAM's type map (fine-tuning): kept as it is, in its order, with the records' other
        elements appended (by atomic number); ``None``: the records' elements by atomic number (a model from scratch).
    :param descriptor_type: the LAM's descriptor type; when it is not in :data:`TYPE_MAP_EXTENDABLE`, elements outside
        ``base_type_map`` are refused.
    :raises HydridesInputError: an element that the LAM cannot be extended to, naming it.
    """
    elements = record_elements(records)
    if base_type_map is None:
        return elements
    base = [str(element) for element in base_type_map]
    extra = [element for element in elements if element not in base]
    if extra and descriptor_type is not None and descriptor_type not in TYPE_MAP_EXTENDABLE:
        raise HydridesInputError(
            f'the records have elements {extra} that the LAM (descriptor {descriptor_type}, type map {base}) does not '
            f'know, and a {descriptor_type} descriptor cannot be extended to new elements when fine-tuning; leave those '
            'records out, fine-tune a LAM that knows them, or train from scratch'
        )
    return base + extra


def records_to_training_set(
    records: Sequence[TcRecord],
    type_map: Sequence[str],
    require_labels: bool = True,
    missing_label: float = 0.0,
) -> TrainingSet:
    """The records as DeePMD systems with ``coord``, ``box`` and ``tc`` (K, shape ``(nframes, 1)``): one system per
    atom-type sequence (atoms sorted by type), frames in record order, record names as frame ids.

    :param require_labels: refuse records without Tc (training data); else their label is ``missing_label`` (data to
        predict: DeePMD's readers want the label file).
    """
    records = list(records)
    if not records:
        raise HydridesInputError('no records to write')
    names = [record.name for record in records]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise HydridesInputError(f'record names repeat: {duplicates[:5]}')
    type_map = [str(element) for element in type_map]
    groups: dict[tuple, list] = {}
    for record in records:
        unknown = sorted(set(record.symbols) - set(type_map))
        if unknown:
            raise HydridesInputError(f'record {record.name!r}: elements {unknown} are not in the type map {type_map}')
        if record.tc_k is None and require_labels:
            raise HydridesInputError(f'record {record.name!r} has no Tc label to train on')
        indices = np.array([type_map.index(symbol) for symbol in record.symbols])
        order = np.argsort(indices, kind='stable')
        key = tuple(int(t) for t in indices[order])
        positions = np.asarray(record.positions, dtype=float)[order].reshape(-1)
        cell = np.asarray(record.cell, dtype=float).reshape(9)
        label = float(record.tc_k) if record.tc_k is not None else float(missing_label)
        groups.setdefault(key, []).append((record.name, positions, cell, label))
    systems = []
    for types, frames in groups.items():
        data = {
            'coord': np.array([frame[1] for frame in frames]),
            'box': np.array([frame[2] for frame in frames]),
            PROPERTY_NAME: np.array([[frame[3]] for frame in frames]),
        }
        name = composition_name(types, type_map)
        systems.append(TrainingSystem(name, np.array(types), data, [frame[0] for frame in frames]))
    result = TrainingSet(type_map, systems, label_set='tc')
    result.check()
    return result


def write_tc_systems(
    records: Sequence[TcRecord],
    folder: str | os.PathLike,
    type_map: Sequence[str],
    require_labels: bool = True,
) -> list[pathlib.Path]:
    """Write ``records`` as deepmd/npy systems under ``folder`` (:func:`records_to_training_set`); returns the system
    folders."""
    return records_to_training_set(records, type_map, require_labels=require_labels).write_npy(folder)
