"""DeePMD training sets in memory (``aiida_hydrides.core.lam.dataset``): the seed pieces, deepmd/npy round trips, flat
arrays, labelled frames and the deterministic train/validation split."""

import pathlib

import numpy as np
import pytest

from aiida_hydrides.core import seed_configs
from aiida_hydrides.core.errors import HydridesInputError
from aiida_hydrides.core.lam.dataset import TrainingSet, TrainingSystem, composition_name, split_ids

SEED_DATA = pathlib.Path(__file__).resolve().parents[3] / 'data' / 'seed'
PIECES = ('piece-001', 'piece-002')


@pytest.fixture(scope='module')
def seed_subset():
    return TrainingSet.from_pieces(SEED_DATA, pieces=PIECES)


def _assert_same(a: TrainingSet, b: TrainingSet):
    assert a.type_map == b.type_map
    assert [s.name for s in a.systems] == [s.name for s in b.systems]
    for x, y in zip(a.systems, b.systems):
        assert x.types.tolist() == y.types.tolist() and x.ids == y.ids
        assert sorted(x.data) == sorted(y.data)
        for key in x.data:
            np.testing.assert_array_equal(x.data[key], y.data[key])


def test_from_pieces(seed_subset):
    manifests = [seed_configs.read_piece_manifest(SEED_DATA / 'pieces' / name) for name in PIECES]
    ids = [frame_id for manifest in manifests for members in manifest['systems'].values() for frame_id in members]
    assert seed_subset.nframes == len(ids) == sum(manifest['nframes'] for manifest in manifests)
    assert sorted(seed_subset.frame_ids()) == sorted(ids)
    assert seed_subset.type_map == ['H', 'Ca', 'Y']
    # one system per composition: the compositions of both pieces are merged
    names = [system.name for system in seed_subset.systems]
    assert len(names) == len(set(names)) == len({n for m in manifests for n in m['systems']})
    cah6 = next(system for system in seed_subset.systems if system.name == 'H6Ca1Y0')
    assert cah6.types.tolist() == [0] * 6 + [1]
    assert cah6.data['coord'].shape == (cah6.nframes, 21) and cah6.data['virial'].shape == (cah6.nframes, 9)
    assert cah6.data['energy'].shape == (cah6.nframes,)
    # the labels are those of the piece files, frame by frame
    first = cah6.ids[0]
    piece, manifest = next((SEED_DATA / 'pieces' / n, m) for n, m in zip(PIECES, manifests) if first in m['frames'])
    energy = manifest['frames'][first]['energy_per_atom'] * 7
    assert cah6.data['energy'][0] == pytest.approx(energy, abs=1e-4)
    assert np.load(piece / 'H6Ca1Y0' / 'set.000' / 'energy.npy')[0] == cah6.data['energy'][0]


def test_from_pieces_selections(seed_subset):
    training = TrainingSet.from_pieces(SEED_DATA, pieces=PIECES, heldout=False)
    heldout = TrainingSet.from_pieces(SEED_DATA, pieces=PIECES, heldout=True)
    assert training.nframes + heldout.nframes == seed_subset.nframes
    assert all(seed_configs.is_heldout(i) for i in heldout.frame_ids())
    assert not any(seed_configs.is_heldout(i) for i in training.frame_ids())
    with pytest.raises(HydridesInputError, match="no piece \\['piece-999'\\]"):
        TrainingSet.from_pieces(SEED_DATA, pieces=['piece-999'])
    with pytest.raises(HydridesInputError, match='no frame'):
        TrainingSet.from_pieces(SEED_DATA, pieces=PIECES, rounds=[3])


def test_npy_round_trip(seed_subset, tmp_path):
    paths = seed_subset.write_npy(tmp_path / 'data')
    assert [p.name for p in paths] == [s.name for s in seed_subset.systems]
    one = paths[0]
    assert (one / 'type.raw').is_file() and (one / 'type_map.raw').read_text().split() == ['H', 'Ca', 'Y']
    assert sorted(p.name for p in (one / 'set.000').iterdir()) == [
        'box.npy',
        'coord.npy',
        'energy.npy',
        'force.npy',
        'virial.npy',
    ]
    back = TrainingSet.read_npy(tmp_path / 'data')
    by_name = {s.name: s for s in back.systems}
    back.systems = [by_name[s.name] for s in seed_subset.systems]
    _assert_same(seed_subset, back)

    # DeePMD's own reader (dpdata) sees the same frames
    import dpdata

    system = dpdata.LabeledSystem(str(one), fmt='deepmd/npy')
    np.testing.assert_allclose(system['energies'], seed_subset.systems[0].data['energy'])
    np.testing.assert_allclose(system['forces'].reshape(len(system), -1), seed_subset.systems[0].data['force'])


def test_read_npy_maps_the_type_map(seed_subset, tmp_path):
    seed_subset.write_npy(tmp_path)
    reordered = TrainingSet.read_npy(tmp_path, type_map=['Y', 'Ca', 'H', 'La'])
    assert reordered.type_map == ['Y', 'Ca', 'H', 'La']
    system = next(s for s in reordered.systems if s.name == 'H6Ca1Y0')
    assert [reordered.type_map[t] for t in system.types] == ['H'] * 6 + ['Ca']
    with pytest.raises(HydridesInputError, match="elements \\['Y'\\] are not in the type map"):
        TrainingSet.read_npy(tmp_path / 'H3Ca0Y1', type_map=['H', 'Ca'])
    with pytest.raises(HydridesInputError, match='no deepmd/npy system'):
        TrainingSet.read_npy(tmp_path / 'H3Ca0Y1' / 'set.000')


def test_arrays_round_trip(seed_subset):
    arrays, meta = seed_subset.to_arrays()
    assert meta['nframes'] == seed_subset.nframes and meta['type_map'] == ['H', 'Ca', 'Y']
    assert len(arrays) == 7 * len(seed_subset.systems)  # types, coord, box, energy, force, virial, ids
    assert arrays['s000_ids'].dtype.kind == 'U'
    _assert_same(seed_subset, TrainingSet.from_arrays(arrays, meta))


def test_split_is_deterministic_and_stable(seed_subset):
    train, validation = seed_subset.split(0.2)
    assert train.nframes + validation.nframes == seed_subset.nframes
    assert not set(train.frame_ids()) & set(validation.frame_ids())
    again_train, again_validation = seed_subset.split(0.2)
    assert validation.frame_ids() == again_validation.frame_ids()
    # a frame keeps its side when other frames are removed: split a subset, compare
    half = seed_subset.select(lambda frame_id: frame_id < 'seed-0200')
    _, half_validation = half.split(0.2)
    assert set(half_validation.frame_ids()) == {i for i in validation.frame_ids() if i < 'seed-0200'}
    # another salt gives another split
    assert seed_subset.split(0.2, salt='other')[1].frame_ids() != validation.frame_ids()


def test_split_ids_edges():
    ids = [f'frame-{k}' for k in range(5)]
    train, validation = split_ids(ids, 0.01)  # almost nothing falls below 1 %: one frame is moved over
    assert len(validation) == 1 and len(train) == 4
    assert split_ids(ids, 0.0) == (ids, [])
    assert split_ids(['a', 'b'], 0.99)[0]  # one training frame always stays
    for bad in (1.0, -0.1, '0.1', True):
        with pytest.raises(HydridesInputError, match='validation fraction'):
            split_ids(ids, bad)
    with pytest.raises(HydridesInputError, match='duplicate frame ids'):
        split_ids(['a', 'a'], 0.5)
    one = TrainingSet(
        ['H'], [TrainingSystem('H2', [0, 0], {'coord': np.zeros((1, 6)), 'box': np.eye(3).reshape(1, 9)})]
    )
    with pytest.raises(HydridesInputError, match='cannot be split'):
        one.split(0.5)


def test_from_frames():
    frames = []
    for index, (symbols, energy) in enumerate((('HCaH', -10.0), ('CaHH', -11.0), ('YH', -5.0))):
        natoms = len(symbols) if symbols != 'YH' else 2
        parsed = {'HCaH': ['H', 'Ca', 'H'], 'CaHH': ['Ca', 'H', 'H'], 'YH': ['Y', 'H']}[symbols]
        frames.append(
            seed_configs.LabelledFrame(
                id=f'f{index}',
                symbols=parsed,
                cell=np.eye(3) * 3.0,
                positions=np.arange(natoms * 3, dtype=float).reshape(natoms, 3) * 0.1,
                energy=energy,
                forces=np.arange(natoms * 3, dtype=float).reshape(natoms, 3),
                stress=np.eye(3) * 100.0,
            )
        )
    result = TrainingSet.from_frames(frames, ['H', 'Ca', 'Y'], label_set='toy')
    assert [s.name for s in result.systems] == ['H2Ca1', 'H1Y1'] and result.label_set == 'toy'
    cah2 = result.systems[0]
    assert cah2.ids == ['f0', 'f1'] and cah2.types.tolist() == [0, 0, 1]
    # atoms sorted by type: frame f0 (H Ca H) -> H H Ca, forces follow their atoms
    assert cah2.data['force'][0].reshape(3, 3)[:, 0].tolist() == [0.0, 6.0, 3.0]
    assert cah2.data['virial'][0].reshape(3, 3)[0, 0] == pytest.approx(frames[0].virial[0, 0])
    assert composition_name([0, 0, 2], ['H', 'Ca', 'Y']) == 'H2Y1'
    with pytest.raises(HydridesInputError, match="frame f2: elements \\['Y'\\] are not in the type map"):
        TrainingSet.from_frames(frames, ['H', 'Ca'])


@pytest.mark.parametrize(
    'data, match',
    [
        ({'coord': np.zeros((2, 6))}, 'has no box'),
        ({'coord': np.zeros((2, 6)), 'box': np.zeros((1, 9))}, 'box has 1 frames, coord 2'),
        (
            {'coord': np.zeros((2, 6)), 'box': np.zeros((2, 9)), 'force': np.zeros((2, 3))},
            'force has 3 values per frame',
        ),
        ({'coord': np.full((2, 6), np.nan), 'box': np.zeros((2, 9))}, 'coord has non-finite values'),
        ({'coord': np.zeros((2, 6)), 'box': np.zeros((2, 9)), '1bad': np.zeros(2)}, "array name '1bad'"),
    ],
)
def test_check_names_the_problem(data, match):
    with pytest.raises(HydridesInputError, match=match):
        TrainingSet(['H'], [TrainingSystem('H2', [0, 0], data)]).check()
    with pytest.raises(HydridesInputError, match='outside the type map'):
        TrainingSet(['H'], [TrainingSystem('H2', [0, 3], {'coord': np.zeros((1, 6)), 'box': np.zeros((1, 9))})]).check()
