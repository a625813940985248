"""DeePMD training sets in memory: the frames of many systems, their labels, conversions to and from deepmd/npy.

A :class:`TrainingSet` is what one ``dp train`` reads: a ``type_map`` and a list of :class:`TrainingSystem`, each the
frames of one atom list (one composition, atoms in a fixed order) with their per-frame arrays in the layout of
deepmd/npy (``coord`` (nframes, 3 natoms) Å, ``box`` (nframes, 9) Å, ``energy`` (nframes,) eV, ``force``
(nframes, 3 natoms) eV/Å, ``virial`` (nframes, 9) eV, and any other label, e.g. ``tc``). Frames may carry ids (the
seed labels' ``seed-0123``), which the deterministic train/validation split hashes.

- :meth:`TrainingSet.read_npy` / :meth:`TrainingSet.write_npy`: deepmd/npy system folders (``type.raw``,
  ``type_map.raw``, ``set.*/*.npy``; every set folder is read, one ``set.000`` is written, plus ``frame_ids.raw``
  when the frames have ids, which DeePMD ignores);
- :meth:`TrainingSet.from_pieces`: the seed label pieces (``data/seed/pieces``, :mod:`aiida_hydrides.core.seed_configs`),
  merged by composition, optionally only some pieces, rounds or the training / held-out frames;
- :meth:`TrainingSet.from_frames`: labelled frames (:class:`~aiida_hydrides.core.seed_configs.LabelledFrame`, e.g. from
  pw.x calculations);
- :meth:`TrainingSet.to_arrays` / :meth:`TrainingSet.from_arrays`: flat named arrays and a JSON-able description,
  the storage of the AiiDA node ``hydrides.lam.training_set`` (a few arrays per system, not one node per frame);
- :meth:`TrainingSet.split`: a deterministic train/validation split by a hash of each frame id (:func:`split_ids`):
  a frame stays on its side when frames are added or removed.

Pure Python (numpy); never imports AiiDA.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from aiida_hydrides.core.errors import HydridesInputError

__all__ = (
    'DEFAULT_SPLIT_SALT',
    'FRAME_IDS_FILE',
    'TrainingSet',
    'TrainingSystem',
    'composition_name',
    'split_ids',
)

#: the file of frame ids written beside ``type.raw`` (one id per line, in frame order); DeePMD does not read it
FRAME_IDS_FILE = 'frame_ids.raw'
#: the salt of the hash of :func:`split_ids` unless another is given
DEFAULT_SPLIT_SALT = 'aiida-hydrides-validation'
#: per-frame arrays every system has: positions and cell
GEOMETRY_KEYS = ('coord', 'box')
#: per-frame labels of an energy model (a system may lack ``virial``)
ENERGY_KEYS = ('energy', 'force')
_KEY_PATTERN = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


def composition_name(types: Sequence[int], type_map: Sequence[str]) -> str:
    """Folder name of a system: the count of every element present, in ``type_map`` order, e.g. ``H6Ca1``."""
    types = np.asarray(types, dtype=int)
    counts = [(element, int(np.sum(types == index))) for index, element in enumerate(type_map)]
    return ''.join(f'{element}{count}' for element, count in counts if count) or 'empty'


def _hash_fraction(frame_id: str, salt: str) -> float:
    digest = hashlib.sha256(f'{salt}:{frame_id}'.encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12)


def split_ids(
    ids: Sequence[str], fraction: float, salt: str = DEFAULT_SPLIT_SALT, min_validation: int = 1
) -> tuple[list[str], list[str]]:
    """Split frame ``ids`` into (training, validation): an id goes to validation when the hash of ``salt:id`` falls
    below ``fraction``, so its side never depends on the other ids. With fewer than ``min_validation`` validation ids
    (a small set), the ids of the lowest hashes are moved over; one training id always stays."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= float(fraction) < 1.0:
        raise HydridesInputError(f'the validation fraction must be a number in [0, 1), got {fraction!r}')
    ids = [str(frame_id) for frame_id in ids]
    if len(set(ids)) != len(ids):
        duplicates = sorted({frame_id for frame_id in ids if ids.count(frame_id) > 1})
        raise HydridesInputError(f'duplicate frame ids: {duplicates[:5]}')
    scores = {frame_id: _hash_fraction(frame_id, salt) for frame_id in ids}
    validation = {frame_id for frame_id in ids if scores[frame_id] < fraction}
    if fraction > 0 and len(validation) < min_validation:
        ranked = sorted(ids, key=lambda frame_id: scores[frame_id])
        for frame_id in ranked[: min(min_validation, len(ids) - 1)]:
            validation.add(frame_id)
    if len(ids) > 1 and len(validation) == len(ids):  # keep one frame to train on
        validation.discard(max(ids, key=lambda frame_id: scores[frame_id]))
    return [i for i in ids if i not in validation], [i for i in ids if i in validation]


@dataclasses.dataclass
class TrainingSystem:
    """The frames of one atom list: ``types`` (natoms,) indices into the set's ``type_map``; ``data`` the per-frame
    arrays (first axis: frames) in deepmd/npy layout; ``ids`` one id per frame or ``None``."""

    name: str
    types: np.ndarray
    data: dict[str, np.ndarray]
    ids: list[str] | None = None
    nopbc: bool = False

    def __post_init__(self):
        self.types = np.asarray(self.types, dtype=np.int64).reshape(-1)
        self.data = {key: np.asarray(value) for key, value in self.data.items()}
        if self.ids is not None:
            self.ids = [str(frame_id) for frame_id in self.ids]

    @property
    def nframes(self) -> int:
        return int(self.data['coord'].shape[0]) if 'coord' in self.data else 0

    @property
    def natoms(self) -> int:
        return int(self.types.size)

    def frame_ids(self) -> list[str]:
        """The frame ids, or ``<name>/<index>`` where the frames have none."""
        if self.ids is not None:
            return list(self.ids)
        return [f'{self.name}/{index}' for index in range(self.nframes)]

    def select(self, indices: Iterable[int]) -> TrainingSystem:
        """The frames ``indices`` (in that order) as a new system."""
        indices = np.asarray(list(indices), dtype=int)
        return TrainingSystem(
            name=self.name,
            types=self.types.copy(),
            data={key: value[indices] for key, value in self.data.items()},
            ids=None if self.ids is None else [self.ids[i] for i in indices],
            nopbc=self.nopbc,
        )

    def check(self, type_map: Sequence[str]) -> None:
        """Raise :class:`HydridesInputError` naming the problem when the arrays are inconsistent."""
        where = f'system {self.name!r}'
        if self.natoms == 0:
            raise HydridesInputError(f'{where} has no atoms')
        if self.types.min() < 0 or self.types.max() >= len(type_map):
            raise HydridesInputError(
                f'{where}: atom types {sorted(set(self.types.tolist()))} outside the type map {list(type_map)}'
            )
        missing = [key for key in GEOMETRY_KEYS if key not in self.data and not (key == 'box' and self.nopbc)]
        if missing:
            raise HydridesInputError(f'{where} has no {", ".join(missing)} array')
        nframes = self.nframes
        if nframes == 0:
            raise HydridesInputError(f'{where} has no frames')
        expected = {'coord': 3 * self.natoms, 'box': 9, 'force': 3 * self.natoms, 'virial': 9, 'energy': 1}
        for key, value in self.data.items():
            if not _KEY_PATTERN.match(key):
                raise HydridesInputError(f'{where}: array name {key!r} must start with a letter (letters, digits, _)')
            if value.ndim == 0 or value.shape[0] != nframes:
                raise HydridesInputError(
                    f'{where}: {key} has {value.shape[0] if value.ndim else 0} frames, coord {nframes}'
                )
            if key in expected and int(np.prod(value.shape[1:], dtype=int)) != expected[key]:
                raise HydridesInputError(
                    f'{where}: {key} has {int(np.prod(value.shape[1:], dtype=int))} values per frame, expected {expected[key]}'
                )
            if value.dtype.kind not in 'fiu':
                raise HydridesInputError(f'{where}: {key} is not numeric ({value.dtype})')
            if not np.all(np.isfinite(value)):
                raise HydridesInputError(f'{where}: {key} has non-finite values')
        if self.ids is not None and len(self.ids) != nframes:
            raise HydridesInputError(f'{where}: {len(self.ids)} frame ids for {nframes} frames')


@dataclasses.dataclass
class TrainingSet:
    """A DeePMD training (or validation) set: ``type_map`` and the systems; ``label_set`` names the labels' source
    (e.g. the DFT settings ``seed-v1``)."""

    type_map: list[str]
    systems: list[TrainingSystem]
    label_set: str | None = None

    def __post_init__(self):
        self.type_map = [str(element) for element in self.type_map]
        self.systems = list(self.systems)

    # ---------------------------------------------------------------------------------------------------------------
    # properties

    @property
    def nframes(self) -> int:
        return sum(system.nframes for system in self.systems)

    @property
    def frame_counts(self) -> dict[str, int]:
        return {system.name: system.nframes for system in self.systems}

    def frame_ids(self) -> list[str]:
        """Every frame id, system by system."""
        return [frame_id for system in self.systems for frame_id in system.frame_ids()]

    def elements(self) -> list[str]:
        """The elements present in some frame, in ``type_map`` order."""
        present = set()
        for system in self.systems:
            present.update(int(t) for t in np.unique(system.types))
        return [element for index, element in enumerate(self.type_map) if index in present]

    def keys(self) -> list[str]:
        """The per-frame arrays that every system has."""
        common = None
        for system in self.systems:
            common = set(system.data) if common is None else common & set(system.data)
        return sorted(common or ())

    def check(self) -> None:
        """Raise :class:`HydridesInputError` naming the problem when the set is inconsistent."""
        if not self.type_map:
            raise HydridesInputError('the training set has an empty type map')
        if len(set(self.type_map)) != len(self.type_map):
            raise HydridesInputError(f'the type map {self.type_map} repeats an element')
        if not self.systems:
            raise HydridesInputError('the training set has no systems')
        names = [system.name for system in self.systems]
        if len(set(names)) != len(names):
            raise HydridesInputError(f'system names repeat: {sorted({n for n in names if names.count(n) > 1})}')
        for system in self.systems:
            if not _KEY_PATTERN.match(system.name.replace('-', '_')):
                raise HydridesInputError(f'system name {system.name!r}: letters, digits, - and _ only')
            system.check(self.type_map)
        ids = self.frame_ids()
        if len(set(ids)) != len(ids):
            raise HydridesInputError(f'frame ids repeat: {sorted({i for i in ids if ids.count(i) > 1})[:5]}')

    # ---------------------------------------------------------------------------------------------------------------
    # selections

    def select(self, keep: Callable[[str], bool]) -> TrainingSet:
        """The frames whose id passes ``keep`` (systems left empty are dropped)."""
        systems = []
        for system in self.systems:
            indices = [index for index, frame_id in enumerate(system.frame_ids()) if keep(frame_id)]
            if indices:
                systems.append(system.select(indices))
        return TrainingSet(self.type_map, systems, self.label_set)

    def split(
        self, fraction: float = 0.1, salt: str = DEFAULT_SPLIT_SALT, min_validation: int = 1
    ) -> tuple[TrainingSet, TrainingSet]:
        """(training, validation) sets: deterministic, by a hash of every frame id (:func:`split_ids`)."""
        if self.nframes < 2:
            raise HydridesInputError(f'a set of {self.nframes} frame(s) cannot be split into training and validation')
        _, validation = split_ids(self.frame_ids(), fraction, salt, min_validation)
        chosen = set(validation)
        return self.select(lambda i: i not in chosen), self.select(lambda i: i in chosen)

    @classmethod
    def merge(cls, sets: Sequence[TrainingSet], label_set: str | None = None) -> TrainingSet:
        """One set of the frames of ``sets`` (same type map), systems with the same atom list merged."""
        sets = list(sets)
        if not sets:
            raise HydridesInputError('nothing to merge')
        type_map = sets[0].type_map
        for other in sets[1:]:
            if other.type_map != type_map:
                raise HydridesInputError(f'type maps differ: {type_map} and {other.type_map}')
        systems = [system for one in sets for system in one.systems]
        labels = {one.label_set for one in sets if one.label_set}
        return cls(type_map, _merge_systems(systems), label_set or (labels.pop() if len(labels) == 1 else None))

    # ---------------------------------------------------------------------------------------------------------------
    # flat arrays (the AiiDA node's storage)

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """Flat named arrays (``s000_types``, ``s000_coord``, ... one group per system; ``s000_ids`` where there are
        frame ids) and a JSON-able description (``type_map``, ``label_set``, ``nframes``, ``systems``: name,
        nframes, natoms, keys, nopbc)."""
        self.check()
        arrays, systems = {}, []
        for index, system in enumerate(self.systems):
            prefix = f's{index:03d}_'
            arrays[prefix + 'types'] = system.types
            for key, value in system.data.items():
                arrays[prefix + key] = value
            if system.ids is not None:
                arrays[prefix + 'ids'] = np.array(system.ids, dtype=str)
            systems.append(
                {
                    'name': system.name,
                    'nframes': system.nframes,
                    'natoms': system.natoms,
                    'keys': sorted(system.data),
                    'nopbc': bool(system.nopbc),
                }
            )
        meta = {
            'type_map': list(self.type_map),
            'label_set': self.label_set,
            'nframes': self.nframes,
            'systems': systems,
        }
        return arrays, meta

    @classmethod
    def from_arrays(
        cls, get_array: Callable[[str], np.ndarray] | Mapping[str, np.ndarray], meta: Mapping
    ) -> TrainingSet:
        """The set described by ``meta`` (:meth:`to_arrays`), its arrays read by ``get_array(name)`` (or a mapping)."""
        getter = get_array.__getitem__ if isinstance(get_array, Mapping) else get_array
        systems = []
        for index, record in enumerate(meta['systems']):
            prefix = f's{index:03d}_'
            try:
                ids = [str(i) for i in getter(prefix + 'ids')]
            except (KeyError, AttributeError, OSError):
                ids = None
            systems.append(
                TrainingSystem(
                    name=record['name'],
                    types=getter(prefix + 'types'),
                    data={key: getter(prefix + key) for key in record['keys']},
                    ids=ids,
                    nopbc=bool(record.get('nopbc', False)),
                )
            )
        result = cls(list(meta['type_map']), systems, meta.get('label_set'))
        result.check()
        return result

    # ---------------------------------------------------------------------------------------------------------------
    # deepmd/npy

    def write_npy(self, folder: str | os.PathLike) -> list[pathlib.Path]:
        """Write every system to ``folder/<name>/`` in deepmd/npy (one ``set.000``); returns the system folders."""
        self.check()
        folder = pathlib.Path(folder)
        paths = []
        for system in self.systems:
            path = folder / system.name
            (path / 'set.000').mkdir(parents=True, exist_ok=True)
            (path / 'type.raw').write_text(''.join(f'{int(t)}\n' for t in system.types))
            (path / 'type_map.raw').write_text(''.join(f'{element}\n' for element in self.type_map))
            if system.nopbc:
                (path / 'nopbc').write_text('')
            if system.ids is not None:
                (path / FRAME_IDS_FILE).write_text(''.join(f'{frame_id}\n' for frame_id in system.ids))
            for key, value in system.data.items():
                np.save(path / 'set.000' / f'{key}.npy', value)
            paths.append(path)
        return paths

    @classmethod
    def read_npy(
        cls,
        paths: str | os.PathLike | Iterable[str | os.PathLike],
        type_map: Sequence[str] | None = None,
        label_set: str | None = None,
    ) -> TrainingSet:
        """Read deepmd/npy systems: folders holding ``type.raw``, or folders searched recursively for them.

        ``type_map``: the set's type map (default: the first system's ``type_map.raw``); every system's
        ``type_map.raw`` is mapped onto it (an element missing from it is an error), and a system without one must
        use its indices."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        folders = []
        for path in map(pathlib.Path, paths):
            if (path / 'type.raw').is_file():
                folders.append(path)
            elif path.is_dir():
                folders.extend(sorted(p.parent for p in path.rglob('type.raw')))
            else:
                raise HydridesInputError(f'{path} is not a deepmd/npy system folder')
        if not folders:
            raise HydridesInputError(f'no deepmd/npy system (type.raw) under {", ".join(map(str, paths))}')
        systems = []
        for folder in folders:
            names = None
            if (folder / 'type_map.raw').is_file():
                names = (folder / 'type_map.raw').read_text().split()
            if type_map is None:
                if names is None:
                    raise HydridesInputError(f'{folder} has no type_map.raw: give the type map')
                type_map = list(names)
            systems.append(_read_system(folder, names, list(type_map)))
        used = {}
        for system in systems:  # same folder names in different parents: keep them apart
            count = used.get(system.name, 0)
            used[system.name] = count + 1
            if count:
                system.name = f'{system.name}-{count + 1}'
        result = cls(list(type_map), systems, label_set)
        result.check()
        return result

    # ---------------------------------------------------------------------------------------------------------------
    # other sources

    @classmethod
    def from_frames(cls, frames: Iterable, type_map: Sequence[str], label_set: str | None = None) -> TrainingSet:
        """A set of labelled frames (objects with ``id``, ``symbols``, ``cell``, ``positions``, ``energy``,
        ``forces`` and ``virial``, e.g. :class:`~aiida_hydrides.core.seed_configs.LabelledFrame`), grouped by
        composition, atoms sorted by type."""
        type_map = list(type_map)
        systems = []
        for frame in frames:
            unknown = sorted(set(frame.symbols) - set(type_map))
            if unknown:
                raise HydridesInputError(f'frame {frame.id}: elements {unknown} are not in the type map {type_map}')
            indices = np.array([type_map.index(symbol) for symbol in frame.symbols])
            order = np.argsort(indices, kind='stable')
            types = indices[order]
            data = {
                'coord': np.asarray(frame.positions, dtype=float)[order].reshape(1, -1),
                'box': np.asarray(frame.cell, dtype=float).reshape(1, 9),
                'energy': np.array([float(frame.energy)]),
                'force': np.asarray(frame.forces, dtype=float)[order].reshape(1, -1),
                'virial': np.asarray(frame.virial, dtype=float).reshape(1, 9),
            }
            systems.append(TrainingSystem(composition_name(types, type_map), types, data, [str(frame.id)]))
        if not systems:
            raise HydridesInputError('no labelled frames')
        result = cls(type_map, _merge_systems(systems), label_set)
        result.check()
        return result

    @classmethod
    def from_pieces(
        cls,
        data_dir: str | os.PathLike,
        pieces: Iterable[str] | None = None,
        rounds: Iterable[int] | None = None,
        heldout: bool | None = None,
        label_set: str | None = None,
    ) -> TrainingSet:
        """The seed labels of ``data_dir`` (``pieces/piece-XXX``, see :mod:`aiida_hydrides.core.seed_configs`),
        merged by composition, frame ids from the piece manifests.

        :param pieces: only these pieces (names, e.g. ``['piece-001']``); default all.
        :param rounds: only the frames of these label rounds.
        :param heldout: ``False`` drops the held-out frames (:func:`~aiida_hydrides.core.seed_configs.is_heldout`),
            ``True`` keeps only them, ``None`` keeps every frame.
        :param label_set: recorded on the set (default: the ``label_set`` of ``data_dir/manifest.json``, if any).
        """
        from aiida_hydrides.core import seed_configs

        data_dir = pathlib.Path(data_dir)
        available = seed_configs.list_pieces(data_dir)
        if pieces is not None:
            wanted = [str(name) for name in pieces]
            unknown = sorted(set(wanted) - {p.name for p in available})
            if unknown:
                raise HydridesInputError(f'no piece {unknown} in {data_dir}; there are {len(available)} pieces')
            available = [p for p in available if p.name in wanted]
        if not available:
            raise HydridesInputError(f'no label pieces in {data_dir / seed_configs.PIECES_DIR}')
        round_of = seed_configs.frame_rounds(data_dir)
        rounds = None if rounds is None else {int(r) for r in rounds}
        if label_set is None and (data_dir / 'manifest.json').is_file():
            label_set = json.loads((data_dir / 'manifest.json').read_text()).get('label_set')
        type_map = list(seed_configs.TYPE_MAP)
        systems = []
        for piece in available:
            manifest = seed_configs.read_piece_manifest(piece)
            for name, ids in manifest['systems'].items():
                system = _read_system(
                    piece / name, type_map if not (piece / name / 'type_map.raw').is_file() else None, type_map
                )
                if len(ids) != system.nframes:
                    raise HydridesInputError(f'{piece.name}/{name}: {len(ids)} ids for {system.nframes} frames')
                system.ids = list(ids)
                systems.append(system)
        result = cls(type_map, _merge_systems(systems), label_set)

        def keep(frame_id: str) -> bool:
            if rounds is not None and round_of.get(frame_id, 1) not in rounds:
                return False
            return heldout is None or seed_configs.is_heldout(frame_id) == heldout

        result = result.select(keep)
        if not result.systems:
            raise HydridesInputError(f'no frame of {data_dir} is left after the selection')
        result.check()
        return result


def _read_system(folder: pathlib.Path, names: Sequence[str] | None, type_map: list[str]) -> TrainingSystem:
    """One deepmd/npy system folder, its types mapped from ``names`` (its ``type_map.raw``) onto ``type_map``."""
    if names is None and (folder / 'type_map.raw').is_file():
        names = (folder / 'type_map.raw').read_text().split()
    raw = np.loadtxt(folder / 'type.raw', dtype=int, ndmin=1)
    if names is not None:
        unknown = sorted({names[t] for t in raw if t < len(names)} - set(type_map))
        if unknown or raw.max(initial=0) >= len(names):
            raise HydridesInputError(
                f'{folder}: elements {unknown or "beyond type_map.raw"} are not in the type map {type_map}'
            )
        types = np.array([type_map.index(names[t]) for t in raw], dtype=np.int64)
    else:
        types = raw.astype(np.int64)
    sets = sorted(p for p in folder.glob('set.*') if p.is_dir())
    if not sets:
        raise HydridesInputError(f'{folder} has no set.* folder')
    pieces: dict[str, list[np.ndarray]] = {}
    for set_dir in sets:
        coord = np.load(set_dir / 'coord.npy')
        nframes = coord.size // (3 * types.size)
        for path in sorted(set_dir.glob('*.npy')):
            value = np.load(path, allow_pickle=False)
            # one row per frame; the energy as a vector (DeePMD and dpdata write (nframes,) or (nframes, 1))
            value = value.reshape(nframes) if path.stem == 'energy' else value.reshape(nframes, -1)
            pieces.setdefault(path.stem, []).append(value)
    data = {key: np.concatenate(values) for key, values in pieces.items() if len(values) == len(sets)}
    ids = None
    if (folder / FRAME_IDS_FILE).is_file():
        ids = (folder / FRAME_IDS_FILE).read_text().split()
    return TrainingSystem(folder.name, types, data, ids, nopbc=(folder / 'nopbc').is_file())


def _merge_systems(systems: Sequence[TrainingSystem]) -> list[TrainingSystem]:
    """Systems with the same atom list (types in order), array keys and periodicity joined into one, in order of
    first appearance; the merged system keeps the first one's name (another name is made unique)."""
    groups: dict[tuple, list[TrainingSystem]] = {}
    for system in systems:
        key = (tuple(system.types.tolist()), tuple(sorted(system.data)), system.nopbc)
        groups.setdefault(key, []).append(system)
    merged, names = [], {}
    for members in groups.values():
        first = members[0]
        ids = None
        if all(member.ids is not None for member in members):
            ids = [frame_id for member in members for frame_id in member.ids]
        elif len(members) > 1 and any(member.ids is not None for member in members):
            ids = [frame_id for member in members for frame_id in member.frame_ids()]
        data = {key: np.concatenate([member.data[key] for member in members]) for key in first.data}
        name = first.name
        count = names.get(name, 0)
        names[name] = count + 1
        if count:
            name = f'{name}-{count + 1}'
        merged.append(TrainingSystem(name, first.types.copy(), data, ids, first.nopbc))
    return merged
