"""``TrainingSetData`` (entry point ``hydrides.lam.training_set``): a whole DeePMD training set in one node.

All frames of a set are kept in a few arrays per system (one system: the frames of one atom list, as in deepmd/npy):
``s000_types`` (natoms,), ``s000_coord`` (nframes, 3 natoms) Å, ``s000_box`` (nframes, 9) Å, ``s000_energy``
(nframes,) eV, ``s000_force`` (nframes, 3 natoms) eV/Å, ``s000_virial`` (nframes, 9) eV, ``s000_ids`` (frame ids),
then ``s001_...``; the attributes say what is inside: ``type_map``, ``label_set``, ``nframes``, ``frame_counts``
(frames per system name), ``elements`` and ``systems`` (name, nframes, natoms, array keys per system). A set of the
477 seed frames is one node of about 90 arrays, not 477 nodes.

The conversions are those of :class:`aiida_hydrides.core.lam.dataset.TrainingSet` (deepmd/npy folders, the seed label
pieces, labelled frames); this module adds the node and two sources that need AiiDA: the seed pieces with the label
set's name (:func:`training_set_from_pieces`) and finished pw.x calculations (:func:`training_set_from_calculations`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Sequence

from aiida import orm

from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.dataset import TrainingSet

__all__ = ('TrainingSetData', 'training_set_from_calculations', 'training_set_from_pieces')


class TrainingSetData(orm.ArrayData):
    """A DeePMD training set: a few arrays per system, its description in the attributes."""

    #: attribute keys of the description (see :meth:`TrainingSet.to_arrays`)
    _META_KEYS = ('type_map', 'label_set', 'nframes', 'systems')

    def __init__(self, training_set: TrainingSet | None = None, **kwargs):
        super().__init__(**kwargs)
        if training_set is not None:
            self.set_training_set(training_set)

    def set_training_set(self, training_set: TrainingSet) -> None:
        """Store ``training_set`` (checked first: a bad set raises :class:`HydridesInputError` naming the problem)."""
        arrays, meta = training_set.to_arrays()
        for name in list(self.get_arraynames()):
            self.delete_array(name)
        for name, value in arrays.items():
            self.set_array(name, value)
        for key in self._META_KEYS:
            self.base.attributes.set(key, meta[key])
        self.base.attributes.set('frame_counts', training_set.frame_counts)
        self.base.attributes.set('elements', training_set.elements())

    @classmethod
    def from_npy(cls, paths, type_map: Sequence[str] | None = None, label_set: str | None = None) -> TrainingSetData:
        """An unstored node of deepmd/npy systems (folders, or folders searched for them)."""
        return cls(TrainingSet.read_npy(paths, type_map=type_map, label_set=label_set))

    def get_training_set(self) -> TrainingSet:
        """The set as a :class:`TrainingSet` (arrays read from the repository)."""
        meta = {key: self.base.attributes.get(key, None) for key in self._META_KEYS}
        if not meta['systems']:
            raise HydridesInputError(f'the training-set node {self.pk or "(unstored)"} holds no systems')
        names = set(self.get_arraynames())

        def get_array(name):
            if name not in names:
                raise KeyError(name)
            return self.get_array(name)

        return TrainingSet.from_arrays(get_array, meta)

    def write_npy(self, folder: str | os.PathLike) -> list[pathlib.Path]:
        """Write the set as deepmd/npy systems under ``folder``; returns the system folders."""
        return self.get_training_set().write_npy(folder)

    @property
    def type_map(self) -> list[str]:
        return list(self.base.attributes.get('type_map'))

    @property
    def label_set(self) -> str | None:
        return self.base.attributes.get('label_set', None)

    @property
    def nframes(self) -> int:
        return int(self.base.attributes.get('nframes', 0))

    @property
    def frame_counts(self) -> dict[str, int]:
        return dict(self.base.attributes.get('frame_counts', {}))

    @property
    def elements(self) -> list[str]:
        return list(self.base.attributes.get('elements', []))

    @property
    def systems(self) -> list[dict]:
        return list(self.base.attributes.get('systems', []))

    def system_keys(self) -> list[set]:
        """The array keys of every system (``coord``, ``box``, ``energy``, ...)."""
        return [set(record['keys']) for record in self.systems]


def training_set_from_pieces(
    data_dir: str | os.PathLike | None = None,
    pieces: Iterable[str] | None = None,
    rounds: Iterable[int] | None = None,
    heldout: bool | None = None,
) -> TrainingSetData:
    """An unstored node of the seed label pieces (:meth:`TrainingSet.from_pieces`; default ``data/seed``), labelled
    with the label set of the DFT settings (``labels.yaml``, e.g. ``seed-v1``)."""
    from aiida_hydrides.labelling import default_data_dir, load_label_settings

    data_dir = pathlib.Path(data_dir) if data_dir is not None else default_data_dir()
    label_set = load_label_settings().get('label_set')
    return TrainingSetData(
        TrainingSet.from_pieces(data_dir, pieces=pieces, rounds=rounds, heldout=heldout, label_set=label_set)
    )


def training_set_from_calculations(
    calculations: Iterable, type_map: Sequence[str] | None = None, label_set: str | None = None
) -> TrainingSetData:
    """An unstored node of the labels of finished pw.x calculations (``PwCalculation`` nodes with forces and stress:
    their input geometry, energy, forces and virial, :func:`aiida_hydrides.labelling.frame_from_calculation`).

    The frame ids are the calculations' label ids (extra ``hydrides.label_id``) or their UUIDs; ``type_map`` defaults
    to the elements found, sorted by atomic number. The UUIDs of the calculations are kept in the attribute
    ``source_calculations``.
    """
    from ase.data import atomic_numbers

    from aiida_hydrides.labelling import LABEL_EXTRA, frame_from_calculation

    calculations = list(calculations)
    if not calculations:
        raise HydridesInputError('no calculations given')
    frames = []
    for node in calculations:
        if not isinstance(node, orm.CalcJobNode):
            raise HydridesInputError(f'{node!r} is not a calculation node')
        frame_id = node.base.extras.get(LABEL_EXTRA, {}).get('label_id') or node.uuid
        frames.append(frame_from_calculation(node, frame_id))
    if type_map is None:
        elements = {symbol for frame in frames for symbol in frame.symbols}
        type_map = sorted(elements, key=lambda symbol: atomic_numbers[symbol])
    node = TrainingSetData(TrainingSet.from_frames(frames, type_map, label_set=label_set))
    node.base.attributes.set('source_calculations', [calc.uuid for calc in calculations])
    return node
