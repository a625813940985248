"""Tests of the seed candidate frames, the held-out split and the deepmd/npy label pieces (pure Python)."""

import json
import pathlib

import numpy as np
import pytest

from aiida_hydrides.core import seed_configs
from aiida_hydrides.core.errors import HydridesInputError

SEED_DIR = pathlib.Path(__file__).resolve().parents[2] / 'data' / 'seed'


@pytest.fixture(scope='module')
def prototype_frames():
    """The prototype-derived frames (all but the pyxtal random structures), generated in this process."""
    return seed_configs.generate_seed_frames(include_random=False)


@pytest.fixture(scope='module')
def committed():
    """The committed candidate frames and manifest."""
    return seed_configs.read_candidates(SEED_DIR / 'candidates.extxyz'), json.loads(
        (SEED_DIR / 'manifest.json').read_text()
    )


def test_candidate_count_and_ids(committed):
    frames, _ = committed
    assert len(frames) >= 300
    ids = [frame.id for frame in frames]
    assert ids == [f'seed-{index:04d}' for index in range(1, len(frames) + 1)]
    _, manifest = committed
    rounds = {record['id']: record.get('round', 1) for record in manifest['frames']}
    seed_set = [frame for frame in frames if rounds[frame.id] <= 2]  # the seed set proper: small cells
    assert max(frame.natoms for frame in seed_set) <= 16
    assert max(frame.natoms for frame in frames) <= 28  # search minima of later rounds: the search's atom budget
    small = sum(4 <= frame.natoms <= 14 for frame in seed_set)
    assert small / len(seed_set) > 0.9
    origins = {frame.origin for frame in frames}
    assert origins == {'pristine', 'isotropic', 'shear', 'rattle', 'random', 'search-minimum'}
    assert sum(frame.origin == 'rattle' for frame in frames) > len(frames) / 2


def test_candidates_are_physical(committed):
    frames, _ = committed
    for frame in frames:
        assert seed_configs.check_distances(frame.atoms) == [], frame.id
        assert set(frame.atoms.get_chemical_symbols()) <= set(seed_configs.TYPE_MAP)
        volume = frame.atoms.get_volume() / frame.natoms
        assert 1.5 < volume < 15.0, frame.id
    hydrides = [
        f for f in frames if 'H' in f.atoms.get_chemical_symbols() and len(set(f.atoms.get_chemical_symbols())) > 1
    ]
    pressures = np.array([frame.pressure for frame in hydrides])
    assert np.median(pressures) == pytest.approx(200, abs=30)
    pristine = {round(f.pressure) for f in frames if f.origin == 'pristine'}
    assert pristine == {150, 200, 250}


def _assert_same_frames(generated, stored):
    assert [f.id for f in generated] == [f.id for f in stored]
    for first, second in zip(generated, stored):
        assert first.prototype == second.prototype and first.origin == second.origin
        assert first.atoms.get_chemical_symbols() == second.atoms.get_chemical_symbols()
        np.testing.assert_allclose(first.atoms.cell[:], second.atoms.cell[:], atol=1e-6)
        np.testing.assert_allclose(first.atoms.positions, second.atoms.positions, atol=1e-6)


def test_generation_matches_the_committed_file(prototype_frames, committed):
    stored, manifest = committed
    _assert_same_frames(prototype_frames, stored[: len(prototype_frames)])
    assert manifest['type_map'] == ['H', 'Ca', 'Y']
    assert [record['id'] for record in manifest['frames']] == [f.id for f in stored]
    again = seed_configs.generate_seed_frames(include_random=False)
    _assert_same_frames(again, prototype_frames)


def _round_frames(frames, manifest, number):
    """The frames of round ``number`` (1: the generated seed set, later: ``label extend`` rounds)."""
    rounds = {entry['round']: entry for entry in manifest.get('rounds', [])}
    if number not in rounds:
        assert number == 1 and not rounds
        return list(frames)
    first, last = (int(rounds[number][key].split('-')[1]) for key in ('first_id', 'last_id'))
    return [frame for frame in frames if first <= int(frame.id.split('-')[1]) <= last]


def _site_permutation(first, second, atol=1e-5):
    """Indices ``p`` with ``first[i]`` at the place of ``second[p[i]]`` (same symbol), or ``None``."""
    symbols_a, symbols_b = first.get_chemical_symbols(), second.get_chemical_symbols()
    permutation = []
    for i, position in enumerate(first.positions):
        match = [
            j
            for j, other in enumerate(second.positions)
            if symbols_b[j] == symbols_a[i] and np.allclose(position, other, atol=atol)
        ]
        if len(match) != 1:
            return None
        permutation.append(match[0])
    return permutation if sorted(permutation) == list(range(len(second))) else None


@pytest.mark.slow
def test_full_generation_is_deterministic(committed):
    """The whole set, pyxtal random structures included (about a minute of CPU).

    pyxtal may return the sites of a random structure in another order in another process. Such a structure must
    still be the same structure (a permutation of the stored sites); its rattled copies then carry the same random
    displacements on other atoms, so each of their atoms must lie within two rattle amplitudes of its stored place.
    Every other frame must be reproduced exactly.
    """
    from ase.geometry import find_mic

    stored, manifest = committed
    stored = _round_frames(stored, manifest, 1)
    generated = seed_configs.generate_seed_frames()
    assert [f.id for f in generated] == [f.id for f in stored]
    permutations = {}
    bound = 2 * 5 * seed_configs.RATTLE_RANGE[1]
    for first, second in zip(generated, stored):
        assert first.prototype == second.prototype and first.origin == second.origin
        assert sorted(first.atoms.get_chemical_symbols()) == sorted(second.atoms.get_chemical_symbols())
        np.testing.assert_allclose(first.atoms.cell[:], second.atoms.cell[:], atol=1e-6)
        same = first.atoms.get_chemical_symbols() == second.atoms.get_chemical_symbols() and np.allclose(
            first.atoms.positions, second.atoms.positions, atol=1e-6
        )
        if first.origin == 'random':
            permutations[first.prototype] = None if same else _site_permutation(first.atoms, second.atoms)
            assert same or permutations[first.prototype] is not None, f'{first.id}: not the stored structure'
        elif first.origin == 'rattle' and permutations.get(first.prototype) is not None:
            order = permutations[first.prototype]
            assert first.atoms.get_chemical_symbols() == [second.atoms.get_chemical_symbols()[j] for j in order]
            shift, _ = find_mic(first.atoms.positions - second.atoms.positions[order], second.atoms.cell)
            assert np.linalg.norm(shift, axis=1).max() < bound, first.id
        else:
            assert same, f'{first.id} ({first.prototype}, {first.origin}) is not reproduced'


def test_another_seed_gives_other_frames():
    first = seed_configs.generate_seed_frames(seed=1, include_random=False)
    second = seed_configs.generate_seed_frames(seed=2, include_random=False)
    rattled = [i for i, frame in enumerate(first) if frame.origin == 'rattle'][0]
    assert not np.allclose(first[rattled].atoms.positions, second[rattled].atoms.positions)


def test_heldout_split_is_stable(committed):
    stored, manifest = committed
    flags = {record['id']: record['heldout'] for record in manifest['frames']}
    assert flags == {frame.id: seed_configs.is_heldout(frame.id) for frame in stored}
    fraction = sum(flags.values()) / len(flags)
    assert 0.06 < fraction < 0.14
    assert seed_configs.is_heldout('seed-0272') is True
    assert seed_configs.is_heldout('seed-0001') is False
    order = seed_configs.labelling_order(flags)
    assert sorted(order) == sorted(flags) and order[:5] != sorted(flags)[:5]


def test_volume_model_errors():
    with pytest.raises(HydridesInputError, match='positive'):
        seed_configs.target_volume(['Ca', 'H'], pressure=0)
    with pytest.raises(HydridesInputError, match='knows only'):
        seed_configs.target_volume(['La', 'H'])


def _labelled(frame_id, symbols, rng, pressure=200.0):
    natoms = len(symbols)
    cell = np.eye(3) * 3.0 + rng.normal(0, 0.05, (3, 3))
    stress = np.eye(3) * pressure + rng.normal(0, 2, (3, 3))
    return seed_configs.LabelledFrame(
        id=frame_id,
        symbols=list(symbols),
        cell=cell,
        positions=rng.uniform(0, 3, (natoms, 3)),
        energy=-100.0 * natoms + rng.normal(),
        forces=rng.normal(0, 1, (natoms, 3)),
        stress=(stress + stress.T) / 2,
    )


def test_piece_writer_produces_deepmd_npy(tmp_path):
    import dpdata

    rng = np.random.default_rng(0)
    frames = [
        _labelled('seed-0001', ['Y', 'H', 'H', 'Ca', 'H'], rng),
        _labelled('seed-0002', ['H', 'Ca', 'H', 'H', 'Y'], rng),
        _labelled('seed-0003', ['Ca', 'H', 'H'], rng),
    ]
    piece = seed_configs.write_piece(tmp_path, frames)
    assert piece.name == 'piece-001'
    assert not list((tmp_path / 'pieces').glob('.*'))
    manifest = seed_configs.read_piece_manifest(piece)
    assert manifest['systems'] == {'H2Ca1Y0': ['seed-0003'], 'H3Ca1Y1': ['seed-0001', 'seed-0002']}
    system = dpdata.LabeledSystem(str(piece / 'H3Ca1Y1'), fmt='deepmd/npy')
    assert system.get_atom_names() == ['H', 'Ca', 'Y']
    assert list(system['atom_types']) == [0, 0, 0, 1, 2]
    assert system.get_nframes() == 2
    # atoms are sorted by type, forces follow them
    order = np.argsort([seed_configs.TYPE_MAP.index(s) for s in frames[0].symbols], kind='stable')
    np.testing.assert_allclose(system['forces'][0], frames[0].forces[order])
    np.testing.assert_allclose(system['coords'][0], frames[0].positions[order])
    np.testing.assert_allclose(system['energies'], [frames[0].energy, frames[1].energy])
    # virial = V * stress (compressive positive) in eV: positive under compression
    volume = abs(np.linalg.det(frames[0].cell))
    np.testing.assert_allclose(system['virials'][0], volume * frames[0].stress / 160.21766208)
    assert np.trace(system['virials'][0]) > 0
    for name in ('box', 'coord', 'energy', 'force', 'virial'):
        assert (piece / 'H3Ca1Y1' / 'set.000' / f'{name}.npy').is_file()

    assert seed_configs.labelled_ids(tmp_path) == {'seed-0001', 'seed-0002', 'seed-0003'}
    assert seed_configs.next_piece_index(tmp_path) == 2
    second = seed_configs.write_piece(tmp_path, [_labelled('seed-0272', ['Ca'], rng)])
    assert second.name == 'piece-002'

    split = seed_configs.collect_split(tmp_path, tmp_path / 'split')
    assert split['nheldout'] == 1 and split['ntrain'] == 3  # seed-0272 is held out
    merged = dpdata.LabeledSystem(str(tmp_path / 'split' / 'train' / 'H3Ca1Y1'), fmt='deepmd/npy')
    assert merged.get_nframes() == 2
    assert split['rounds'] == [1]

    # label rounds: a model's data as it was when it was trained
    records = [
        {'id': 'seed-0001'},
        {'id': 'seed-0002', 'round': 2},
        {'id': 'seed-0003', 'round': 2},
        {'id': 'seed-0272', 'round': 3},
    ]
    (tmp_path / 'manifest.json').write_text(json.dumps({'frames': records}))
    first = seed_configs.collect_split(tmp_path, tmp_path / 'round1', rounds=[1])
    assert (first['ntrain'], first['nheldout'], first['rounds']) == (1, 0, [1])
    assert first['ids']['train'] == {'H3Ca1Y1': ['seed-0001']}
    two = seed_configs.collect_split(tmp_path, tmp_path / 'rounds12', rounds=(2, 1))
    assert (two['ntrain'], two['nheldout'], two['rounds']) == (3, 0, [1, 2])
    assert seed_configs.collect_split(tmp_path, tmp_path / 'all')['rounds'] == [1, 2, 3]
    with pytest.raises(HydridesInputError, match=r'no label round \[4\]'):
        seed_configs.collect_split(tmp_path, tmp_path / 'none', rounds=[4])


def test_piece_writer_rejects_bad_frames(tmp_path):
    rng = np.random.default_rng(1)
    good = _labelled('seed-0001', ['Ca', 'H'], rng)
    with pytest.raises(HydridesInputError, match='at least one'):
        seed_configs.write_piece(tmp_path, [])
    with pytest.raises(HydridesInputError, match='duplicate'):
        seed_configs.write_piece(tmp_path, [good, good])
    bad = _labelled('seed-0002', ['La', 'H'], rng)
    with pytest.raises(HydridesInputError, match='type map'):
        seed_configs.write_piece(tmp_path, [bad])
    broken = _labelled('seed-0003', ['Ca', 'H'], rng)
    broken.forces = broken.forces[:1]
    with pytest.raises(HydridesInputError, match='forces has shape'):
        seed_configs.write_piece(tmp_path, [broken])
    assert seed_configs.list_pieces(tmp_path) == []


def test_training_input_and_neighbor_stat():
    text = 'DEEPMD INFO    max_nbor_size: [186  20  18]\n'
    sel = seed_configs.parse_neighbor_stat(text)
    assert sel == [186, 20, 18]
    config = seed_configs.training_input(['a/train/H6Ca1Y0'], ['a/heldout/H6Ca1Y0'], sel, steps=100)
    assert config['model']['type_map'] == ['H', 'Ca', 'Y']
    descriptor = config['model']['descriptor']
    assert descriptor['type'] == 'se_e2_a' and descriptor['precision'] == 'float32'
    assert config['model']['fitting_net']['precision'] == 'float32'
    wide = seed_configs.training_input(['t'], ['h'], sel, precision='float64')
    assert wide['model']['descriptor']['precision'] == wide['model']['fitting_net']['precision'] == 'float64'
    with pytest.raises(HydridesInputError, match="'float32' or 'float64'"):
        seed_configs.training_input(['t'], ['h'], sel, precision='half')
    copy = seed_configs.float64_copy_input(config)
    assert copy['model']['descriptor']['precision'] == copy['model']['fitting_net']['precision'] == 'float64'
    assert copy['training']['numb_steps'] == 1 and copy['learning_rate']['start_lr'] <= 1e-20
    assert copy['model']['descriptor']['sel'] == descriptor['sel'] and descriptor['precision'] == 'float32'
    assert copy['training']['training_data'] == config['training']['training_data']
    assert all(s >= 1.2 * n for s, n in zip(descriptor['sel'], sel))
    assert config['training']['numb_steps'] == 100
    with pytest.raises(HydridesInputError, match='max_nbor_size'):
        seed_configs.parse_neighbor_stat('nothing here')


def test_training_input_architectures():
    """``fast``: a shorter cut-off and a narrower embedding than ``standard``; an unknown name is refused by name."""
    standard = seed_configs.training_input(['t'], ['h'], [186, 20, 18])
    fast = seed_configs.training_input(['t'], ['h'], [120, 12, 12], architecture='fast')
    assert standard['model']['descriptor']['rcut'] == seed_configs.SEED_RCUT == 5.0
    assert standard['_architecture'] == 'standard' and fast['_architecture'] == 'fast'
    assert fast['model']['descriptor']['rcut'] < standard['model']['descriptor']['rcut']
    assert fast['model']['descriptor']['neuron'][-1] < standard['model']['descriptor']['neuron'][-1]
    assert fast['model']['descriptor']['sel'] == seed_configs.selection_from_neighbors([120, 12, 12])
    with pytest.raises(HydridesInputError, match='standard, fast'):
        seed_configs.training_input(['t'], ['h'], [186, 20, 18], architecture='huge')


def test_energy_stage_training_input():
    scratch = seed_configs.training_input(['t'], ['h'], [186, 20, 18], steps=4000)
    energy = seed_configs.training_input(['t'], ['h'], [186, 20, 18], steps=4000, stage='energy')
    assert energy['model'] == scratch['model']  # same network: a further stage starts from the first's weights
    assert energy['loss']['start_pref_e'] > scratch['loss']['start_pref_e']
    assert energy['loss']['start_pref_f'] < scratch['loss']['start_pref_f']
    assert energy['learning_rate']['start_lr'] < scratch['learning_rate']['start_lr']
    # from scratch the energy weight grows as the learning rate decays, to the same limit as the further stage's
    assert scratch['loss']['limit_pref_e'] > 10 * scratch['loss']['start_pref_e']
    assert scratch['loss']['limit_pref_v'] <= scratch['loss']['limit_pref_e'] / 10
    assert energy['training']['training_data']['systems'] == ['t'] and energy['_heldout'] == ['h']
    with pytest.raises(HydridesInputError, match='scratch, energy, continue'):
        seed_configs.training_input(['t'], ['h'], [186, 20, 18], stage='both')


def test_continue_stage_goes_on_from_the_end_of_the_scratch_stage():
    """A continuation keeps the network and the prefactors the scratch stage ends with, at a smaller learning rate."""
    scratch = seed_configs.training_input(['t'], ['h'], [186, 20, 18], steps=4000)
    more = seed_configs.training_input(['t'], ['h'], [186, 20, 18], steps=1000, stage='continue')
    assert more['model'] == scratch['model']
    for term in ('e', 'f', 'v'):
        assert (
            more['loss'][f'start_pref_{term}']
            == more['loss'][f'limit_pref_{term}']
            == scratch['loss'][f'limit_pref_{term}']
        )
    assert (
        scratch['learning_rate']['stop_lr'] < more['learning_rate']['start_lr'] < scratch['learning_rate']['start_lr']
    )
    assert more['learning_rate']['stop_lr'] < more['learning_rate']['start_lr']
    assert more['training']['numb_steps'] == 1000 and 'continuation' in more['_stage']


def test_second_stage_keeps_the_descriptor_of_its_initial_model(tmp_path):
    """The second stage takes ``sel`` from the model it starts from (a frozen .pth), not from the new data."""
    tiny = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'lam' / 'tiny_se_e2_a.pth'
    sel = seed_configs.model_selection(tiny)
    assert isinstance(sel, list) and len(sel) == 3 and all(n > 0 for n in sel)
    seed = pathlib.Path(__file__).resolve().parents[2] / 'aiida_hydrides' / 'models' / 'seed' / 'seed_se_e2_a.pth'
    committed_input = json.loads((seed.parent / 'input.json').read_text())
    assert seed_configs.model_selection(seed) == committed_input['model']['descriptor']['sel']
    (tmp_path / 'not-a-model.pth').write_text('x')
    assert seed_configs.model_selection(tmp_path / 'not-a-model.pth') is None
    descriptor = committed_input['model']['descriptor']
    assert seed_configs.model_type_one_side(seed) is descriptor['type_one_side']
    assert seed_configs.model_type_one_side(tmp_path / 'not-a-model.pth') is None
    # the first stage trained in float32 and shipped its float64 copy; the continuation from it is float64 throughout
    first = json.loads((seed.parent / 'stage1-input.json').read_text())['model']['descriptor']
    assert first['precision'] == 'float32' and first['sel'] == descriptor['sel']
    assert descriptor['precision'] == 'float64' == seed_configs.model_precision(seed)
    assert seed_configs.model_precision(tmp_path / 'not-a-model.pth') is None
    both_sides = seed_configs.training_input(['t'], ['h'], [200, 50, 50], stage='energy', type_one_side=False)
    assert both_sides['model']['descriptor']['type_one_side'] is False
    config = seed_configs.training_input(['t'], ['h'], [200, 50, 50], stage='energy', sel=[264, 76, 68])
    assert config['model']['descriptor']['sel'] == [264, 76, 68]
    with pytest.raises(HydridesInputError, match='train the first stage again'):
        seed_configs.training_input(['t'], ['h'], [200, 80, 50], stage='energy', sel=[264, 76, 68])


@pytest.mark.slow
def test_committed_extension_round_is_reproduced(committed):
    """The committed round-2 frames are those of ``generate_extension_frames`` (random sites may be listed in
    another order by pyxtal in another process: same cells, same element counts)."""
    stored, manifest = committed
    rounds = {entry['round']: entry for entry in manifest.get('rounds', [])}
    if 2 not in rounds:
        pytest.skip('no extension round in the committed candidates')
    frames = _round_frames(stored, manifest, 2)
    generated = seed_configs.generate_extension_frames(2, int(rounds[2]['first_id'].split('-')[1]))
    assert [f.id for f in generated] == [f.id for f in frames] and len(frames) == rounds[2]['frames']
    for first, second in zip(generated, frames):
        assert (first.prototype, first.origin) == (second.prototype, second.origin)
        assert sorted(first.atoms.get_chemical_symbols()) == sorted(second.atoms.get_chemical_symbols())
        np.testing.assert_allclose(first.atoms.cell[:], second.atoms.cell[:], atol=1e-6)
    records = {record['id']: record for record in manifest['frames']}
    assert all(records[f.id]['round'] == 2 for f in frames)


def test_committed_source_round_is_reproduced(committed):
    """The committed round-3 frames (search minima and their rattled copies) are those of
    ``generate_extension_frames`` on the committed source file, to the last digit."""
    stored, manifest = committed
    rounds = {entry['round']: entry for entry in manifest.get('rounds', [])}
    if 3 not in rounds:
        pytest.skip('no round 3 in the committed candidates')
    frames = _round_frames(stored, manifest, 3)
    first = int(rounds[3]['first_id'].split('-')[1])
    generated = seed_configs.generate_extension_frames(3, first, data_dir=SEED_DIR)
    assert [f.id for f in generated] == [f.id for f in frames] and len(frames) == rounds[3]['frames']
    for first, second in zip(generated, frames):
        assert (first.prototype, first.origin) == (second.prototype, second.origin)
        assert first.atoms.get_chemical_symbols() == second.atoms.get_chemical_symbols()
        np.testing.assert_allclose(first.atoms.positions, second.atoms.positions, atol=1e-6)
    assert {f.origin for f in frames} == {'search-minimum', 'rattle'}


def test_extend_candidates_appends_a_round_once(tmp_path, monkeypatch):
    """``extend_candidates`` appends new ids after the last one, keeps the old frames and flags, refuses a repeat."""
    from ase import Atoms

    from aiida_hydrides.labelling import extend_candidates

    monkeypatch.setitem(
        seed_configs.EXTENSION_ROUNDS, 9, {'random': (({'H': 8}, 1),), 'rattles': 1, 'metals': (('Y-bcc', 'Y', 'bcc'),)}
    )
    old = [
        seed_configs.SeedFrame(
            f'seed-{i:04d}',
            Atoms('H2', positions=[(0, 0, 0), (0.9, 0.9, 0.9)], cell=np.eye(3) * 1.8, pbc=True),
            'test-H2',
            'pristine',
            300.0,
        )
        for i in (1, 2)
    ]
    seed_configs.write_candidates(old, tmp_path / 'candidates.extxyz')
    seed_configs.write_manifest(seed_configs.build_manifest(old), tmp_path / 'manifest.json')

    summary = extend_candidates(tmp_path, 9)
    assert summary['added'] == 5 and (summary['first_id'], summary['last_id']) == ('seed-0003', 'seed-0007')
    frames = seed_configs.read_candidates(tmp_path / 'candidates.extxyz')
    assert [f.id for f in frames] == [f'seed-{i:04d}' for i in range(1, 8)]
    np.testing.assert_allclose(frames[1].atoms.positions, old[1].atoms.positions)
    assert [f.origin for f in frames[2:]] == ['random', 'rattle', 'pristine', 'pristine', 'pristine']
    assert all(seed_configs.check_distances(f.atoms) == [] for f in frames[2:])
    manifest = json.loads((tmp_path / 'manifest.json').read_text())
    assert [r['round'] for r in manifest['rounds']] == [1, 9]
    assert [r['heldout'] for r in manifest['frames']] == [seed_configs.is_heldout(f.id) for f in frames]
    assert [r.get('round') for r in manifest['frames']] == [None, None, 9, 9, 9, 9, 9]
    with pytest.raises(HydridesInputError, match='round 9 is already part'):
        extend_candidates(tmp_path, 9)
    with pytest.raises(HydridesInputError, match='unknown extension round'):
        extend_candidates(tmp_path, 8)
    assert len(seed_configs.read_candidates(tmp_path / 'candidates.extxyz')) == 7


def test_extension_round_from_source_structures(tmp_path, monkeypatch):
    """A round of source structures (a search's minima) adds each structure and its rattled copies, deterministic;
    a missing source file or one that breaks the distance limits is refused before anything is written."""
    import ase.io
    from ase.build import bulk

    from aiida_hydrides.labelling import extend_candidates

    monkeypatch.setitem(seed_configs.EXTENSION_ROUNDS, 9, {'sources': 'sources/minima.extxyz', 'rattles': 2})
    old = [seed_configs.SeedFrame('seed-0001', bulk('Y', 'fcc', a=3.2), 'Y-fcc', 'pristine', 200.0)]
    seed_configs.write_candidates(old, tmp_path / 'candidates.extxyz')
    seed_configs.write_manifest(seed_configs.build_manifest(old), tmp_path / 'manifest.json')
    with pytest.raises(HydridesInputError, match='source structures of this round are missing'):
        extend_candidates(tmp_path, 9)

    source = tmp_path / 'sources' / 'minima.extxyz'
    source.parent.mkdir()
    too_close = bulk('Ca', 'bcc', a=1.5, cubic=True)
    too_close.info['source'] = 'Ca-too-close'
    ase.io.write(source, [too_close], format='extxyz')
    with pytest.raises(HydridesInputError, match='Ca-too-close .* breaks the distance limits'):
        extend_candidates(tmp_path, 9)
    assert len(seed_configs.read_candidates(tmp_path / 'candidates.extxyz')) == 1

    minima = []
    for name, metal in (('CaH2-01', 'Ca'), ('YH2-01', 'Y')):
        atoms = bulk(metal, 'fcc', a=4.2) + bulk('H', 'sc', a=1.0)  # metal at the origin, H in the middle
        atoms.positions[1] = [1.05, 1.05, 1.05]
        atoms += bulk('H', 'sc', a=1.0)
        atoms.positions[2] = [-1.05, -1.05, -1.05]
        atoms.info['source'] = name
        minima.append(atoms)
    ase.io.write(source, minima, format='extxyz')
    summary = extend_candidates(tmp_path, 9)
    assert summary['added'] == 6 and (summary['first_id'], summary['last_id']) == ('seed-0002', 'seed-0007')
    frames = seed_configs.read_candidates(tmp_path / 'candidates.extxyz')[1:]
    assert [f.origin for f in frames] == ['search-minimum', 'rattle', 'rattle'] * 2
    assert [f.prototype for f in frames] == ['search-CaH2-01'] * 3 + ['search-YH2-01'] * 3
    np.testing.assert_allclose(frames[0].atoms.cell[:], minima[0].cell[:])
    from ase.geometry import find_mic

    shift, _ = find_mic(frames[1].atoms.positions - frames[0].atoms.positions, frames[0].atoms.cell, pbc=True)
    assert 0 < np.abs(shift).max() < 1.0
    assert all(seed_configs.check_distances(f.atoms) == [] for f in frames)
    again = seed_configs.generate_extension_frames(9, 2, data_dir=tmp_path)
    for first, second in zip(again, frames):
        np.testing.assert_allclose(first.atoms.positions, second.atoms.positions, atol=1e-6)


def test_label_split_cli_rejects_bad_rounds(tmp_path):
    """``label split --rounds`` refuses a value that is not round numbers, and a round the label set lacks."""
    from click.testing import CliRunner

    from aiida_hydrides.cli import cli

    seed_configs.write_piece(tmp_path, [_labelled('seed-0001', ['Ca', 'H', 'H'], np.random.default_rng(2))])
    runner = CliRunner()
    result = runner.invoke(cli, ['label', 'split', str(tmp_path / 'out'), '--data-dir', str(tmp_path), '--rounds', 'x'])
    assert result.exit_code == 1 and 'round numbers separated by commas' in result.output
    result = runner.invoke(cli, ['label', 'split', str(tmp_path / 'out'), '--data-dir', str(tmp_path), '--rounds', '4'])
    assert result.exit_code == 1 and 'no label round [4]' in result.output
    result = runner.invoke(cli, ['label', 'split', str(tmp_path / 'out'), '--data-dir', str(tmp_path), '--rounds', '1'])
    assert result.exit_code == 0 and json.loads(result.output)['rounds'] == [1]
