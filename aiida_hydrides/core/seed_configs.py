"""Seed configurations of the Ca–Y–H DeePMD model: deterministic candidate frames at 150–250 GPa.

The seed label set is built from small cells (1–14 atoms) so that every frame can be labelled by Quantum ESPRESSO
in seconds to minutes on a laptop-class machine:

* known prototypes of the Ca–Y–H system near 200 GPa: the sodalite-like MH6 (Im-3m, 7-atom primitive cell), its
  ordered Ca/Y variants in 2-metal supercells (CaYH12 Pm-3m and the other ordering with 14 atoms), MH4 (I4/mmm,
  5-atom primitive cell) with its ordered CaYH8 variant, YH3 (Fm-3m), MH10 (LaH10-type Fm-3m, 11-atom primitive
  cell) and the compressed metals;
* each prototype at three target pressures (150, 200, 250 GPa), isotropically strained (±4 %, ±8 % on the lattice
  parameters), sheared, and rattled (Gaussian displacements of 0.05–0.15 Å on top of a small random strain);
* random symmetric structures from pyxtal (seeded), scaled to a 200 GPa-like volume, accepted only if H–H ≥ 0.8 Å,
  metal–H ≥ 1.4 Å and metal–metal ≥ 1.9 Å.

Cell volumes come from an additive volume model fitted to CaYH12 (a = 3.45 Å at 204 GPa with the seed DFT settings)
and a power-law equation of state, ``V(P) = V(200 GPa) (P / 200 GPa)^-0.3``. The pressure recorded for each frame is
the estimate of that model, not a label: the DFT stress is the label.

Everything is derived from one integer seed. Each prototype draws from its own random stream (seed + name), so adding
a prototype never changes the frames of another; frame ids (``seed-0001``, ...) follow the generation order and are
stable as long as the recipe list is unchanged. The candidate frames are written once to an extended-XYZ file and
the labelling reads that file, so labels always refer to the stored geometry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

import numpy as np

from .errors import HydridesInputError
from .units import check_pressure, gpa_to_ev_per_a3

__all__ = (
    'DEFAULT_SEED',
    'HELDOUT_FRACTION',
    'MIN_DISTANCES',
    'TYPE_MAP',
    'SeedFrame',
    'build_manifest',
    'check_distances',
    'estimate_pressure',
    'random_stream',
    'generate_seed_frames',
    'generate_extension_frames',
    'EXTENSION_ROUNDS',
    'is_heldout',
    'labelling_order',
    'read_candidates',
    'target_volume',
    'write_candidates',
    'write_manifest',
    'LabelledFrame',
    'collect_split',
    'frame_rounds',
    'labelled_ids',
    'list_pieces',
    'next_piece_index',
    'read_piece_manifest',
    'system_name',
    'write_piece',
    'heldout_metrics',
    'parse_neighbor_stat',
    'selection_from_neighbors',
    'model_selection',
    'model_type_one_side',
    'model_precision',
    'float64_copy_input',
    'training_input',
)

#: the seed of the committed candidate set
DEFAULT_SEED = 20260607
#: element order of every DeePMD file of the project (data, model, inference)
TYPE_MAP = ('H', 'Ca', 'Y')
#: fraction of frames held out of training (chosen by a hash of the frame id, before any training)
HELDOUT_FRACTION = 0.10
HELDOUT_SALT = 'aiida-hydrides-seed-heldout'
#: minimum interatomic distances (Angstrom) accepted in a candidate frame
MIN_DISTANCES = {'HH': 0.8, 'MH': 1.4, 'MM': 1.9}
# frozen: the committed seed label set was generated with these values; the search uses core/search/volumes.py
#: volume per atom (Angstrom^3) at 200 GPa in hydrides; fitted to CaYH12 (41.06 A^3 for 14 atoms at 204 GPa)
HYDRIDE_VOLUMES = {'H': 2.3, 'Ca': 6.3, 'Y': 7.1}
#: volume per atom (Angstrom^3) at 200 GPa of the elements on their own
ELEMENT_VOLUMES = {'H': 2.8, 'Ca': 10.5, 'Y': 11.5}
#: exponent of the equation of state V/V200 = (P/200 GPa)^-EOS_EXPONENT
EOS_EXPONENT = 0.3
REFERENCE_PRESSURE = 200.0
TARGET_PRESSURES = (150.0, 200.0, 250.0)
ISOTROPIC_STRAINS = (-0.08, -0.04, 0.04, 0.08)
RATTLE_RANGE = (0.05, 0.15)
RATTLE_STRAIN = 0.02
SHEAR_STRAIN = 0.05

METALS = ('Ca', 'Y')


@dataclasses.dataclass
class SeedFrame:
    """One candidate frame: a stable id, the structure and where it comes from."""

    id: str
    atoms: object  # ase.Atoms
    prototype: str
    origin: str  # pristine | isotropic | shear | rattle | random
    pressure: float  # GPa, estimate of the volume model

    @property
    def formula(self) -> str:
        return self.atoms.get_chemical_formula(mode='metal')

    @property
    def natoms(self) -> int:
        return len(self.atoms)

    def record(self) -> dict:
        """The manifest entry of the frame (JSON-serialisable)."""
        return {
            'id': self.id,
            'formula': self.formula,
            'natoms': self.natoms,
            'prototype': self.prototype,
            'origin': self.origin,
            'pressure_gpa': round(float(self.pressure), 1),
            'volume_per_atom': round(float(self.atoms.get_volume() / len(self.atoms)), 4),
        }


# --------------------------------------------------------------------------------------------------------------------
# volumes and pressures


def target_volume(symbols, pressure: float = REFERENCE_PRESSURE) -> float:
    """Cell volume (Angstrom^3) of ``symbols`` at ``pressure`` (GPa) in the additive volume model."""
    symbols = list(symbols)
    if check_pressure(pressure) <= 0:  # the power law needs P > 0
        raise HydridesInputError(f'the target pressure must be positive, got {pressure} GPa')
    unknown = sorted(set(symbols) - set(TYPE_MAP))
    if unknown:
        raise HydridesInputError(f'the seed volume model knows only {TYPE_MAP}, not {unknown}')
    table = ELEMENT_VOLUMES if len(set(symbols)) == 1 else HYDRIDE_VOLUMES
    v200 = sum(table[symbol] for symbol in symbols)
    return v200 * (pressure / REFERENCE_PRESSURE) ** (-EOS_EXPONENT)


def estimate_pressure(atoms, volume_scale: float = 1.0) -> float:
    """Pressure (GPa) that the volume model (times ``volume_scale``) assigns to the volume of ``atoms``."""
    v200 = target_volume(atoms.get_chemical_symbols()) * volume_scale
    return REFERENCE_PRESSURE * (atoms.get_volume() / v200) ** (-1.0 / EOS_EXPONENT)


def _scale_to_volume(atoms, volume: float):
    scaled = atoms.copy()
    factor = (volume / atoms.get_volume()) ** (1.0 / 3.0)
    scaled.set_cell(atoms.cell[:] * factor, scale_atoms=True)
    return scaled


# --------------------------------------------------------------------------------------------------------------------
# distances


def _pair_kind(a: str, b: str) -> str:
    metals = (a in METALS) + (b in METALS)
    return ('HH', 'MH', 'MM')[metals]


def _pair_distances(atoms, cutoff: float):
    """``(i, j, d)`` of every pair ``i <= j`` closer than ``cutoff``, periodic images included (``i == j``: images)."""
    cell = np.asarray(atoms.cell[:], dtype=float)
    volume = abs(np.linalg.det(cell))
    heights = [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)]
    reach = [int(np.ceil(cutoff / height)) for height in heights]
    shifts = (
        np.array(
            [
                (a, b, c)
                for a in range(-reach[0], reach[0] + 1)
                for b in range(-reach[1], reach[1] + 1)
                for c in range(-reach[2], reach[2] + 1)
            ],
            dtype=float,
        )
        @ cell
    )
    positions = atoms.positions
    vectors = positions[None, :, None, :] + shifts[None, None, :, :] - positions[:, None, None, :]
    distances = np.linalg.norm(vectors, axis=-1)  # (i, j, shift)
    first, second, _ = np.nonzero((distances < cutoff) & (distances > 1e-8))
    keep = first <= second
    first, second = first[keep], second[keep]
    return first, second, distances.min(axis=2, where=distances > 1e-8, initial=np.inf)[first, second]


def check_distances(atoms, minimum: dict | None = None) -> list[str]:
    """Pairs of ``atoms`` closer than the minimum distances (periodic images included); empty when acceptable."""
    minimum = minimum or MIN_DISTANCES
    first, second, distance = _pair_distances(atoms, max(minimum.values()))
    symbols = atoms.get_chemical_symbols()
    problems = set()
    for i, j, d in zip(first, second, distance):
        kind = _pair_kind(symbols[i], symbols[j])
        if d < minimum[kind]:
            problems.add(f'{symbols[i]}{i}-{symbols[j]}{j} {d:.3f} A < {minimum[kind]} A')
    return sorted(problems)


# --------------------------------------------------------------------------------------------------------------------
# prototypes


def _crystal(symbols, basis, spacegroup, cellpar, primitive=True):
    from ase.spacegroup import crystal

    return crystal(symbols, basis=basis, spacegroup=spacegroup, cellpar=cellpar, primitive_cell=primitive)


def _sodalite(metal: str):
    """MH6 Im-3m (CaH6 type): metal 2a, H 12d; 7-atom primitive cell."""
    return _crystal([metal, 'H'], [(0, 0, 0), (0.25, 0, 0.5)], 229, [3.45, 3.45, 3.45, 90, 90, 90])


def _sodalite_conventional():
    """The conventional (2-metal) cubic cell of the sodalite MH6 type, both metal sites labelled Ca."""
    return _crystal(['Ca', 'H'], [(0, 0, 0), (0.25, 0, 0.5)], 229, [3.45, 3.45, 3.45, 90, 90, 90], primitive=False)


def _ordered_sodalite(kind: str):
    """CaYH12 orderings of the sodalite type in 2-metal (14-atom) cells.

    ``'B2'``: Ca at the cube corner and Y at the body centre (Pm-3m). ``'layered'``: the bcc metal lattice doubled along
    a primitive vector, i.e. Ca and Y alternate in (110) planes of the cubic cell (Pmmm-like, 14 atoms).
    """
    if kind == 'B2':
        atoms = _sodalite_conventional()
        metals = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s != 'H']
        body = [i for i in metals if np.allclose(atoms.get_scaled_positions()[i], 0.5)]
        atoms.symbols[body[0]] = 'Y'
        return atoms
    if kind == 'layered':
        from ase.build import make_supercell

        primitive = _sodalite('Ca')
        atoms = make_supercell(primitive, np.diag([2, 1, 1]))
        metals = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s != 'H']
        second = max(metals, key=lambda i: atoms.get_scaled_positions()[i][0])
        atoms.symbols[second] = 'Y'
        return atoms
    raise HydridesInputError(f'unknown CaYH12 ordering {kind!r}')


def _tetragonal_mh4(metal: str, ordered: bool = False):
    """MH4 I4/mmm (ThCr2Si2 type, 5-atom primitive cell); ``ordered`` gives CaYH8 (Ca corner, Y centre, 10 atoms)."""
    cellpar = [2.55, 2.55, 4.85, 90, 90, 90]
    basis = [(0, 0, 0), (0, 0.5, 0.25), (0, 0, 0.38)]
    if not ordered:
        return _crystal([metal, 'H', 'H'], basis, 139, cellpar)
    atoms = _crystal(['Ca', 'H', 'H'], basis, 139, cellpar, primitive=False)
    body = [
        i
        for i, s in enumerate(atoms.get_chemical_symbols())
        if s != 'H' and np.allclose(atoms.get_scaled_positions()[i], 0.5)
    ]
    atoms.symbols[body[0]] = 'Y'
    return atoms


def _fluorite_yh3():
    """YH3 Fm-3m (BiF3 type): Y 4a, H 8c and 4b; 4-atom primitive cell."""
    return _crystal(['Y', 'H', 'H'], [(0, 0, 0), (0.25, 0.25, 0.25), (0.5, 0.5, 0.5)], 225, [3.8] * 3 + [90] * 3)


def _clathrate_mh10(metal: str):
    """MH10 Fm-3m (LaH10 type): metal 4a, H 32f (x = 0.38) and 8c; 11-atom primitive cell."""
    return _crystal([metal, 'H', 'H'], [(0, 0, 0), (0.38, 0.38, 0.38), (0.25, 0.25, 0.25)], 225, [4.95] * 3 + [90] * 3)


def _metal(metal: str):
    """Compressed metal: bcc Ca or fcc Y, 1-atom primitive cell."""
    from ase.build import bulk

    return bulk(metal, 'bcc' if metal == 'Ca' else 'fcc', a=3.0, cubic=False)


# frozen: the committed seed label set was generated with these cells; the search uses core/prototypes.py
#: name -> (builder, pristine/iso/shear/rattle counts); the order is the generation order of the frame ids
PROTOTYPES = (
    ('CaH6-Im-3m', lambda: _sodalite('Ca'), dict(iso=4, shear=2, rattle=30)),
    ('YH6-Im-3m', lambda: _sodalite('Y'), dict(iso=4, shear=2, rattle=30)),
    ('CaYH12-Pm-3m', lambda: _ordered_sodalite('B2'), dict(iso=4, shear=2, rattle=20)),
    ('CaYH12-layered', lambda: _ordered_sodalite('layered'), dict(iso=2, shear=1, rattle=10)),
    ('CaH4-I4/mmm', lambda: _tetragonal_mh4('Ca'), dict(iso=4, shear=2, rattle=22)),
    ('YH4-I4/mmm', lambda: _tetragonal_mh4('Y'), dict(iso=4, shear=2, rattle=22)),
    ('CaYH8-P4/mmm', lambda: _tetragonal_mh4('Ca', ordered=True), dict(iso=2, shear=2, rattle=16)),
    ('YH3-Fm-3m', _fluorite_yh3, dict(iso=2, shear=2, rattle=14)),
    ('YH10-Fm-3m', lambda: _clathrate_mh10('Y'), dict(iso=2, shear=2, rattle=18)),
    ('CaH10-Fm-3m', lambda: _clathrate_mh10('Ca'), dict(iso=2, shear=1, rattle=10)),
    ('Ca-bcc', lambda: _metal('Ca'), dict(iso=2, shear=2, rattle=0)),
    ('Y-fcc', lambda: _metal('Y'), dict(iso=2, shear=2, rattle=0)),
)

#: volume factors of the prototypes on top of the additive model, from pw.x pressures (seed label settings) of each
#: pristine prototype at its model volume: factor = (P_dft / P_model)^EOS_EXPONENT. Measured: CaH6 183 GPa, YH6 226,
#: CaH4 253, YH4 323, YH3 351 at a 150 GPa model volume, bcc Ca 122 at 150; CaYH8 is the mean of CaH4 and YH4, the
#: clathrates MH10 take the MH6 factors, CaYH12 the mean of both (a = 3.45 A gives 204 GPa).
VOLUME_CALIBRATION = {
    'CaH6-Im-3m': 0.973,
    'YH6-Im-3m': 1.038,
    'CaYH12-Pm-3m': 1.005,
    'CaYH12-layered': 1.005,
    'CaH4-I4/mmm': 1.073,
    'YH4-I4/mmm': 1.155,
    'CaYH8-P4/mmm': 1.114,
    'YH3-Fm-3m': 1.290,
    'YH10-Fm-3m': 1.038,
    'CaH10-Fm-3m': 0.973,
    'Ca-bcc': 0.939,
}

#: compositions of the random symmetric structures (primitive cell contents), each with its number of structures
RANDOM_COMPOSITIONS = (
    ({'Ca': 1, 'H': 6}, 2),
    ({'Y': 1, 'H': 6}, 2),
    ({'Y': 1, 'H': 9}, 4),
    ({'Ca': 1, 'H': 8}, 2),
    ({'Y': 1, 'H': 7}, 2),
    ({'Ca': 1, 'H': 10}, 1),
    ({'Y': 1, 'H': 4}, 1),
    ({'Ca': 1, 'Y': 1, 'H': 10}, 2),
    ({'Ca': 1, 'Y': 1, 'H': 12}, 1),
    ({'H': 8}, 2),
)
RANDOM_RATTLES = 3
#: space groups tried for the random structures (all with a centre of inversion or high symmetry)
RANDOM_GROUPS = (229, 225, 221, 223, 217, 194, 191, 187, 166, 164, 160, 139, 129, 123, 71, 65, 63, 12)


# --------------------------------------------------------------------------------------------------------------------
# transformations


def random_stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream for ``name``, derived from ``seed``."""
    digest = hashlib.sha256(f'{seed}:{name}'.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], 'little'))


def _strained(atoms, strain):
    """``atoms`` with the cell deformed by the symmetric strain tensor ``strain`` (positions follow the cell)."""
    deformed = atoms.copy()
    deformed.set_cell(atoms.cell[:] @ (np.eye(3) + strain), scale_atoms=True)
    return deformed


def _random_shear(rng, amplitude: float) -> np.ndarray:
    off = rng.uniform(-amplitude, amplitude, 3)
    diagonal = rng.uniform(-amplitude / 2, amplitude / 2, 3)
    diagonal -= diagonal.mean()  # volume-preserving to first order
    return np.array([[diagonal[0], off[2], off[1]], [off[2], diagonal[1], off[0]], [off[1], off[0], diagonal[2]]])


def _rattled(atoms, rng, sigma: float, attempts: int = 50):
    """``atoms`` with Gaussian displacements of standard deviation ``sigma`` that respect the minimum distances."""
    for _ in range(attempts):
        moved = atoms.copy()
        moved.positions += rng.normal(0.0, sigma, moved.positions.shape)
        moved.wrap()
        if not check_distances(moved):
            return moved
        sigma *= 0.9
    raise HydridesInputError(f'could not rattle {atoms.get_chemical_formula(mode="metal")} within the distance limits')


def _prototype_frames(name, builder, counts, seed):
    rng = random_stream(seed, name)
    base = builder()
    base.wrap()
    symbols = base.get_chemical_symbols()
    scale = VOLUME_CALIBRATION.get(name, 1.0)
    at200 = _scale_to_volume(base, target_volume(symbols) * scale)
    frames = []
    for pressure in TARGET_PRESSURES:
        frames.append((_scale_to_volume(base, target_volume(symbols, pressure) * scale), 'pristine'))
    strains = ISOTROPIC_STRAINS if counts['iso'] >= len(ISOTROPIC_STRAINS) else ISOTROPIC_STRAINS[1:3][: counts['iso']]
    for strain in strains:
        frames.append((_strained(at200, strain * np.eye(3)), 'isotropic'))
    for _ in range(counts['shear']):
        frames.append((_strained(at200, _random_shear(rng, SHEAR_STRAIN)), 'shear'))
    for _ in range(counts['rattle']):
        pressure = TARGET_PRESSURES[rng.integers(len(TARGET_PRESSURES))]
        volume = target_volume(symbols, pressure) * scale
        cell = _strained(_scale_to_volume(base, volume), _random_shear(rng, RATTLE_STRAIN))
        frames.append((_rattled(cell, rng, rng.uniform(*RATTLE_RANGE)), 'rattle'))
    return frames


def _random_structure(composition: dict, rng, attempts: int = 60):
    """A pyxtal random structure of ``composition`` (primitive cell) scaled to its 200 GPa volume; ``None`` if none
    passes the distance limits."""
    from pyxtal import pyxtal
    from pyxtal.tolerance import Tol_matrix

    species = list(composition)
    counts = [composition[s] for s in species]
    symbols = [s for s in species for _ in range(composition[s])]
    volume = target_volume(symbols)
    tolerance = Tol_matrix(prototype='atomic')
    for pair, distance in (
        (('H', 'H'), 1.0),
        (('Ca', 'H'), 1.6),
        (('Y', 'H'), 1.6),
        (('Ca', 'Ca'), 2.2),
        (('Y', 'Y'), 2.2),
        (('Ca', 'Y'), 2.2),
    ):
        tolerance.set_tol(*pair, distance)
    for _ in range(attempts):
        group = int(RANDOM_GROUPS[rng.integers(len(RANDOM_GROUPS))])
        crystal = pyxtal()
        try:
            crystal.from_random(
                3,
                group,
                species,
                counts,
                factor=1.0,
                conventional=False,
                tm=tolerance,
                random_state=int(rng.integers(2**31)),
                max_count=20,
            )
        except Exception:  # noqa: BLE001 - pyxtal raises various errors for incompatible Wyckoff combinations
            continue
        if not crystal.valid:
            continue
        atoms = crystal.to_ase(resort=True)
        if len(atoms) != len(symbols):
            continue
        atoms = _scale_to_volume(atoms, volume)
        atoms.wrap()
        if not check_distances(atoms):
            return atoms, group
    return None, None


def _random_frames(seed, compositions=RANDOM_COMPOSITIONS, rattles: int = RANDOM_RATTLES, stream: str = 'random'):
    """Random symmetric structures of ``compositions`` (each with its number of structures), each followed by
    ``rattles`` rattled copies; one random stream per composition, named ``<stream>:<label>``."""
    frames = []
    for composition, number in compositions:
        label = ''.join(f'{s}{n if n > 1 else ""}' for s, n in composition.items())
        rng = random_stream(seed, f'{stream}:{label}')
        for _ in range(number):
            atoms, group = _random_structure(composition, rng)
            if atoms is None:
                continue
            prototype = f'random-{label}-sg{group}'
            frames.append((prototype, atoms, 'random'))
            for _ in range(rattles):
                frames.append((prototype, _rattled(atoms, rng, rng.uniform(*RATTLE_RANGE)), 'rattle'))
    return frames


#: later rounds of candidate frames, appended to the committed set with new ids (``aiida-hydrides label extend``):
#: random symmetric structures of the families the seed model fits worst (random CaH6 and pure-hydrogen cells carry
#: most of its energy error), each with ``rattles`` rattled copies, and more compressed phases of the metals
EXTENSION_ROUNDS = {
    2: {
        'random': (
            ({'Ca': 1, 'H': 6}, 3),
            ({'Y': 1, 'H': 6}, 2),
            ({'H': 8}, 2),
            ({'H': 6}, 2),
            ({'Ca': 1, 'H': 8}, 2),
            ({'Y': 1, 'H': 9}, 2),
            ({'Y': 1, 'H': 7}, 1),
            ({'Ca': 1, 'H': 10}, 1),
            ({'Ca': 1, 'Y': 1, 'H': 10}, 2),
            ({'Ca': 1, 'Y': 1, 'H': 12}, 1),
            ({'Ca': 1, 'H': 4}, 1),
            ({'Y': 1, 'H': 4}, 1),
        ),
        'rattles': 2,
        'metals': (('Ca-fcc', 'Ca', 'fcc'), ('Ca-sc', 'Ca', 'sc'), ('Y-bcc', 'Y', 'bcc'), ('Y-hcp', 'Y', 'hcp')),
    },
    # a concurrent-learning round: the distinct minima that searches with the seed model find (and the known
    # structures as the model relaxes them), written by scripts/search_minima_sources.py; each with rattled copies
    3: {
        'sources': 'sources/round3-search-minima.extxyz',
        'rattles': 2,
    },
}


def _extension_metal(symbol: str, lattice: str):
    from ase.build import bulk

    if lattice == 'hcp':
        return bulk(symbol, 'hcp', a=3.0, c=3.0 * 1.6)
    return bulk(symbol, lattice, a=3.0)


def _source_frames(path, rattles: int, stream: str, seed: int):
    """The structures of an extended-XYZ source file (a search's minima), each followed by ``rattles`` rattled
    copies; one random stream per structure, named ``<stream>:<source>``."""
    import ase.io
    from ase import Atoms

    path = pathlib.Path(path)
    if not path.is_file():
        raise HydridesInputError(f'the source structures of this round are missing: {path}')
    frames = []
    for number, atoms in enumerate(ase.io.read(path, index=':', format='extxyz'), start=1):
        name = str(atoms.info.get('source', f'source-{number:02d}'))
        atoms = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        atoms.wrap()
        violations = check_distances(atoms)
        if violations:
            raise HydridesInputError(f'source structure {name} of {path} breaks the distance limits: {violations[0]}')
        rng = random_stream(seed, f'{stream}:{name}')
        prototype = f'search-{name}'
        frames.append((prototype, atoms, 'search-minimum'))
        for _ in range(rattles):
            frames.append((prototype, _rattled(atoms, rng, rng.uniform(*RATTLE_RANGE)), 'rattle'))
    return frames


def generate_extension_frames(
    round_number: int, first_index: int, seed: int = DEFAULT_SEED, data_dir=None
) -> list[SeedFrame]:
    """The candidate frames of extension round ``round_number`` (:data:`EXTENSION_ROUNDS`), with ids from
    ``seed-<first_index>`` on; deterministic for a given ``seed`` (random streams of their own, named by the round).
    A round of source structures reads them from ``data_dir`` (the label set's folder)."""
    if round_number not in EXTENSION_ROUNDS:
        raise HydridesInputError(f'unknown extension round {round_number!r}; defined: {sorted(EXTENSION_ROUNDS)}')
    recipe = EXTENSION_ROUNDS[round_number]
    raw = _random_frames(seed, recipe.get('random', ()), recipe['rattles'], stream=f'round{round_number}:random')
    if 'sources' in recipe:
        if data_dir is None:
            raise HydridesInputError(f'round {round_number} reads source structures: give the label set folder')
        raw += _source_frames(
            pathlib.Path(data_dir) / recipe['sources'], recipe['rattles'], f'round{round_number}:source', seed
        )
    for name, symbol, lattice in recipe.get('metals', ()):
        base = _extension_metal(symbol, lattice)
        scale = VOLUME_CALIBRATION.get('Ca-bcc', 1.0) if symbol == 'Ca' else 1.0
        for pressure in TARGET_PRESSURES:
            volume = target_volume(base.get_chemical_symbols(), pressure) * scale
            raw.append((name, _scale_to_volume(base, volume), 'pristine'))
    frames = []
    for index, (prototype, atoms, origin) in enumerate(raw, start=first_index):
        atoms.pbc = True
        scale = VOLUME_CALIBRATION.get('Ca-bcc', 1.0) if set(atoms.get_chemical_symbols()) == {'Ca'} else 1.0
        frames.append(SeedFrame(f'seed-{index:04d}', atoms, prototype, origin, estimate_pressure(atoms, scale)))
    return frames


def generate_seed_frames(seed: int = DEFAULT_SEED, include_random: bool = True) -> list[SeedFrame]:
    """All candidate frames of the seed set, in id order (``seed-0001``, ...); deterministic for a given ``seed``."""
    raw = []
    for name, builder, counts in PROTOTYPES:
        raw.extend((name, atoms, origin) for atoms, origin in _prototype_frames(name, builder, counts, seed))
    if include_random:
        raw.extend(_random_frames(seed))
    frames = []
    for index, (prototype, atoms, origin) in enumerate(raw, start=1):
        atoms.pbc = True
        pressure = estimate_pressure(atoms, VOLUME_CALIBRATION.get(prototype, 1.0))
        frames.append(SeedFrame(f'seed-{index:04d}', atoms, prototype, origin, pressure))
    return frames


# --------------------------------------------------------------------------------------------------------------------
# split, order, manifest


def _hash_fraction(frame_id: str, salt: str) -> float:
    digest = hashlib.sha256(f'{salt}:{frame_id}'.encode()).digest()
    return int.from_bytes(digest[:8], 'little') / 2**64


def is_heldout(frame_id: str, fraction: float = HELDOUT_FRACTION, salt: str = HELDOUT_SALT) -> bool:
    """Whether ``frame_id`` belongs to the held-out test set: a seeded hash of the id, independent of the labels."""
    return _hash_fraction(frame_id, salt) < fraction


def labelling_order(frame_ids) -> list[str]:
    """The ids in labelling order: a fixed pseudo-random mix, so that any prefix of the run covers every prototype."""
    return sorted(frame_ids, key=lambda frame_id: _hash_fraction(frame_id, 'aiida-hydrides-seed-order'))


def build_manifest(frames, seed: int = DEFAULT_SEED) -> dict:
    """The JSON manifest of the candidate frames, with the held-out flag of each frame."""
    records = []
    for frame in frames:
        record = frame.record()
        record['heldout'] = is_heldout(frame.id)
        records.append(record)
    return {
        'name': 'aiida-hydrides seed set (Ca-Y-H, 150-250 GPa)',
        'seed': seed,
        'type_map': list(TYPE_MAP),
        'heldout_fraction': HELDOUT_FRACTION,
        'heldout_salt': HELDOUT_SALT,
        'frames': records,
    }


# --------------------------------------------------------------------------------------------------------------------
# storage


def write_candidates(frames, path) -> pathlib.Path:
    """Write ``frames`` to an extended-XYZ file (id, prototype, origin, pressure in each frame's info)."""
    from ase.io import write

    path = pathlib.Path(path)
    images = []
    for frame in frames:
        atoms = frame.atoms.copy()
        atoms.info = {
            'frame_id': frame.id,
            'prototype': frame.prototype,
            'origin': frame.origin,
            'pressure_gpa': round(float(frame.pressure), 1),
        }
        images.append(atoms)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + '.tmp')
    write(temporary, images, format='extxyz')
    temporary.replace(path)
    return path


def read_candidates(path) -> list[SeedFrame]:
    """Read the frames written by :func:`write_candidates`."""
    from ase.io import read

    path = pathlib.Path(path)
    if not path.is_file():
        raise HydridesInputError(f'the candidate file {path} does not exist; run `aiida-hydrides label generate`')
    frames = []
    for atoms in read(path, index=':', format='extxyz'):
        info = dict(atoms.info)
        atoms.info = {}
        atoms.pbc = True
        frames.append(
            SeedFrame(
                str(info['frame_id']), atoms, str(info['prototype']), str(info['origin']), float(info['pressure_gpa'])
            )
        )
    return frames


def write_manifest(manifest: dict, path) -> pathlib.Path:
    """Write the manifest as indented JSON, atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_text(json.dumps(manifest, indent=1) + '\n')
    temporary.replace(path)
    return path


# --------------------------------------------------------------------------------------------------------------------
# label pieces: deepmd/npy systems + a manifest of the frame ids, written atomically

PIECES_DIR = 'pieces'
PIECE_MANIFEST = 'manifest.json'


@dataclasses.dataclass
class LabelledFrame:
    """One labelled frame: the geometry as sent to DFT and its labels (eV, eV/Angstrom, GPa)."""

    id: str
    symbols: list
    cell: np.ndarray  # (3, 3) Angstrom
    positions: np.ndarray  # (natoms, 3) Angstrom
    energy: float  # eV
    forces: np.ndarray  # (natoms, 3) eV/Angstrom
    stress: np.ndarray  # (3, 3) GPa, compressive positive (the sign pw.x prints: P = trace / 3)
    uuid: str | None = None

    @property
    def virial(self) -> np.ndarray:
        """DeePMD virial (eV): V * stress with pw.x's compressive-positive sign, i.e. -V * sigma_tensile."""
        volume = abs(np.linalg.det(self.cell))
        return gpa_to_ev_per_a3(volume * np.asarray(self.stress))

    @property
    def pressure(self) -> float:
        """Pressure in GPa (trace of the stress / 3)."""
        return float(np.trace(self.stress) / 3.0)


def system_name(symbols) -> str:
    """Folder name of the deepmd/npy system of a composition, in :data:`TYPE_MAP` order, e.g. ``H6Ca1Y0``."""
    return ''.join(f'{element}{list(symbols).count(element)}' for element in TYPE_MAP)


def _check_labelled(frame: LabelledFrame):
    natoms = len(frame.symbols)
    unknown = sorted(set(frame.symbols) - set(TYPE_MAP))
    if unknown:
        raise HydridesInputError(f'frame {frame.id}: elements {unknown} are not in the type map {TYPE_MAP}')
    shapes = {'cell': (3, 3), 'positions': (natoms, 3), 'forces': (natoms, 3), 'stress': (3, 3)}
    for name, shape in shapes.items():
        value = np.asarray(getattr(frame, name), dtype=float)
        if value.shape != shape:
            raise HydridesInputError(f'frame {frame.id}: {name} has shape {value.shape}, expected {shape}')
        if not np.all(np.isfinite(value)):
            raise HydridesInputError(f'frame {frame.id}: {name} is not finite')
    if not np.isfinite(frame.energy):
        raise HydridesInputError(f'frame {frame.id}: the energy is not finite')


def write_piece(data_dir, frames, index: int | None = None, extra: dict | None = None) -> pathlib.Path:
    """Write ``frames`` (:class:`LabelledFrame`) as a new piece ``<data_dir>/pieces/piece-XXX/``.

    Frames are grouped by composition into deepmd/npy systems (atoms sorted by type, ``type_map`` = :data:`TYPE_MAP`);
    the piece manifest lists the frame ids of every system in file order. The piece is written to a temporary folder
    and renamed at the end, so a piece either exists completely or not at all.
    """
    import dpdata

    frames = list(frames)
    if not frames:
        raise HydridesInputError('a piece needs at least one labelled frame')
    for frame in frames:
        _check_labelled(frame)
    ids = [frame.id for frame in frames]
    if len(set(ids)) != len(ids):
        raise HydridesInputError('duplicate frame ids in one piece')
    pieces = pathlib.Path(data_dir) / PIECES_DIR
    pieces.mkdir(parents=True, exist_ok=True)
    if index is None:
        index = next_piece_index(data_dir)
    name = f'piece-{index:03d}'
    target = pieces / name
    if target.exists():
        raise HydridesInputError(f'the piece {target} exists already')
    temporary = pieces / f'.{name}.tmp'
    if temporary.exists():
        import shutil

        shutil.rmtree(temporary)
    temporary.mkdir()

    groups: dict[str, list] = {}
    for frame in frames:
        groups.setdefault(system_name(frame.symbols), []).append(frame)
    systems = {}
    for sysname, members in sorted(groups.items()):
        order = np.argsort([TYPE_MAP.index(s) for s in members[0].symbols], kind='stable')
        types = np.array([TYPE_MAP.index(s) for s in members[0].symbols])[order]
        arrays = {'cells': [], 'coords': [], 'energies': [], 'forces': [], 'virials': []}
        for frame in members:
            frame_order = np.argsort([TYPE_MAP.index(s) for s in frame.symbols], kind='stable')
            arrays['cells'].append(np.asarray(frame.cell, dtype=float))
            arrays['coords'].append(np.asarray(frame.positions, dtype=float)[frame_order])
            arrays['energies'].append(float(frame.energy))
            arrays['forces'].append(np.asarray(frame.forces, dtype=float)[frame_order])
            arrays['virials'].append(frame.virial)
        system = dpdata.LabeledSystem(
            data={
                'atom_names': list(TYPE_MAP),
                'atom_numbs': [int(np.sum(types == i)) for i in range(len(TYPE_MAP))],
                'atom_types': types,
                'orig': np.zeros(3),
                'cells': np.array(arrays['cells']),
                'coords': np.array(arrays['coords']),
                'energies': np.array(arrays['energies']),
                'forces': np.array(arrays['forces']),
                'virials': np.array(arrays['virials']),
                'nopbc': False,
            }
        )
        system.to('deepmd/npy', str(temporary / sysname))
        systems[sysname] = [frame.id for frame in members]

    manifest = {
        'piece': name,
        'type_map': list(TYPE_MAP),
        'units': {'energy': 'eV', 'force': 'eV/Angstrom', 'virial': 'eV', 'pressure': 'GPa'},
        'nframes': len(frames),
        'systems': systems,
        'frames': {
            frame.id: {
                'uuid': frame.uuid,
                'pressure_gpa': round(frame.pressure, 2),
                'energy_per_atom': round(float(frame.energy) / len(frame.symbols), 6),
            }
            for frame in frames
        },
    }
    manifest.update(extra or {})
    (temporary / PIECE_MANIFEST).write_text(json.dumps(manifest, indent=1) + '\n')
    temporary.rename(target)
    return target


def list_pieces(data_dir) -> list[pathlib.Path]:
    """The complete pieces of ``data_dir`` (folders with a manifest), in index order."""
    pieces = pathlib.Path(data_dir) / PIECES_DIR
    if not pieces.is_dir():
        return []
    return sorted(p for p in pieces.glob('piece-*') if p.is_dir() and (p / PIECE_MANIFEST).is_file())


def next_piece_index(data_dir) -> int:
    """One more than the highest piece index of ``data_dir`` (1 for the first piece)."""
    pieces = pathlib.Path(data_dir) / PIECES_DIR
    indices = [int(p.name.split('-')[1].split('.')[0]) for p in pieces.glob('piece-*')] if pieces.is_dir() else []
    return max(indices, default=0) + 1


def read_piece_manifest(piece) -> dict:
    """The manifest of one piece folder."""
    return json.loads((pathlib.Path(piece) / PIECE_MANIFEST).read_text())


def labelled_ids(data_dir) -> set[str]:
    """Ids of every frame already stored in a piece of ``data_dir``."""
    ids = set()
    for piece in list_pieces(data_dir):
        for members in read_piece_manifest(piece)['systems'].values():
            ids.update(members)
    return ids


def frame_rounds(data_dir) -> dict[str, int]:
    """The label round of every frame id of ``data_dir`` (from its manifest; frames without one, or a folder without
    a manifest, are round 1)."""
    path = pathlib.Path(data_dir) / 'manifest.json'
    if not path.is_file():
        return {}
    manifest = json.loads(path.read_text())
    return {record['id']: int(record.get('round', 1)) for record in manifest['frames']}


def collect_split(
    data_dir, output_dir, fraction: float = HELDOUT_FRACTION, salt: str = HELDOUT_SALT, rounds=None
) -> dict:
    """Merge every piece of ``data_dir`` into ``output_dir/{train,heldout}/<system>`` deepmd/npy systems.

    The split is :func:`is_heldout` of each frame id, so it never depends on the labels nor on the pieces present.
    ``rounds`` (label rounds, e.g. ``(1, 2)``) keeps only the frames of those rounds: a model's data and held-out set
    as they were when it was trained. Returns ``{'train': [system dirs], 'heldout': [...], 'ntrain': n,
    'nheldout': n, 'ids': {...}, 'rounds': [...]}``.
    """
    import dpdata

    output_dir = pathlib.Path(output_dir)
    round_of = frame_rounds(data_dir)
    if rounds is not None:
        rounds = sorted({int(r) for r in rounds})
        unknown = sorted(set(rounds) - set(round_of.values() or [1]))
        if unknown:
            raise HydridesInputError(
                f'no label round {unknown} in {data_dir}; its rounds are {sorted(set(round_of.values() or [1]))}'
            )
    merged = {'train': {}, 'heldout': {}}
    ids = {'train': {}, 'heldout': {}}
    for piece in list_pieces(data_dir):
        manifest = read_piece_manifest(piece)
        for sysname, members in manifest['systems'].items():
            system = dpdata.LabeledSystem(str(piece / sysname), fmt='deepmd/npy', type_map=list(TYPE_MAP))
            for position, frame_id in enumerate(members):
                if rounds is not None and round_of.get(frame_id, 1) not in rounds:
                    continue
                split = 'heldout' if is_heldout(frame_id, fraction, salt) else 'train'
                sub = system.sub_system([position])
                if sysname in merged[split]:
                    merged[split][sysname].append(sub)
                else:
                    merged[split][sysname] = sub
                ids[split].setdefault(sysname, []).append(frame_id)
    used = {frame_id for split_ids in ids.values() for members in split_ids.values() for frame_id in members}
    result = {'train': [], 'heldout': [], 'ids': ids, 'rounds': sorted({round_of.get(i, 1) for i in used})}
    for split, systems in merged.items():
        for sysname, system in sorted(systems.items()):
            path = output_dir / split / sysname
            system.to('deepmd/npy', str(path))
            result[split].append(str(path))
        result[f'n{split}'] = sum(len(members) for members in ids[split].values())
    (output_dir / 'split.json').write_text(json.dumps(result, indent=1) + '\n')
    return result


# --------------------------------------------------------------------------------------------------------------------
# training set-up of the seed model (used by scripts/train_seed_model.sh)

#: Sizes of the seed model's se_e2_a descriptor and fitting net, by name: ``standard`` (cut-off 5 Å, embedding
#: 16-32-64, fitting 64-64-64) and ``fast``, for the model calls of a search at 100-300 GPa: a cut-off of 4 Å (at
#: 200 GPa, about 2 Å³ per hydrogen atom, it still holds the first two coordination shells of every atom) and an
#: embedding of half the width (8-16-32), so that the tabulated embedding of the compressed model (most of a model
#: call) handles half as many neighbours with half as many outputs each.
SEED_ARCHITECTURES = {
    'standard': {'rcut': 5.0, 'neuron': [16, 32, 64], 'axis_neuron': 8, 'fitting_net': [64, 64, 64]},
    'fast': {'rcut': 4.0, 'neuron': [8, 16, 32], 'axis_neuron': 8, 'fitting_net': [64, 64, 64]},
}
#: cut-off radius (Angstrom) of the seed model's se_e2_a descriptor (``standard`` architecture)
SEED_RCUT = SEED_ARCHITECTURES['standard']['rcut']
#: relative margin added to the largest neighbour counts of the data to set ``sel``
SEL_MARGIN = 0.25


def parse_neighbor_stat(text: str) -> list[int]:
    """The ``max_nbor_size`` list printed by ``dp --pt neighbor-stat``."""
    import re

    match = re.search(r'max_nbor_size:\s*\[([^\]]*)\]', text)
    if not match:
        raise HydridesInputError('no max_nbor_size in the output of `dp --pt neighbor-stat`')
    return [int(value) for value in match.group(1).replace(',', ' ').split()]


def selection_from_neighbors(max_neighbors, margin: float = SEL_MARGIN) -> list[int]:
    """``sel`` of the descriptor: the largest neighbour count of each type plus ``margin``, rounded up to 4."""
    import math

    return [max(4, int(math.ceil(n * (1.0 + margin) / 4.0) * 4)) for n in max_neighbors]


def model_selection(path) -> list[int] | None:
    """The descriptor ``sel`` of a frozen DeePMD PyTorch model (``.pth``), read from its stored model definition;
    ``None`` when it cannot be read that way. A second training stage must keep the ``sel`` of its initial model."""
    from .lam.model_definition import stored_list_values

    found = stored_list_values(path, 'sel')
    if not found:
        return None
    return [int(value) for value in found[0]]


def model_type_one_side(path) -> bool | None:
    """The descriptor's ``type_one_side`` of a frozen DeePMD PyTorch model (``.pth``); ``None`` when it cannot be
    read. A second training stage keeps it, like ``sel``."""
    from .lam.model_definition import stored_values

    found = [value for value in (stored_values(path, 'type_one_side') or []) if isinstance(value, bool)]
    return found[0] if len(found) == 1 else None


def model_precision(path) -> str | None:
    """The precision (``'float32'`` or ``'float64'``) of a frozen DeePMD PyTorch model's descriptor; ``None`` when
    it cannot be read. A second training stage keeps it, like ``sel``."""
    from .lam.model_definition import stored_values

    found = {value for value in (stored_values(path, 'precision') or []) if value in ('float32', 'float64')}
    return found.pop() if len(found) == 1 else None


#: The seed model's embedding: one net per neighbour type (``type_one_side`` true) or per pair of centre and
#: neighbour types (false).
SEED_TYPE_ONE_SIDE = True


#: Floating-point precision of the seed model's networks. float32 trains about 1.7x faster per step on the CPU than
#: float64, and in the same time reaches lower energy and force errors (more steps, same data).
SEED_PRECISION = 'float32'

#: Loss and learning rate of training from scratch (``stage='scratch'``): forces lead at first (``pref_f`` 100), and
#: the energy prefactor grows to 20 as the learning rate decays, so the end of the run fits the energies of whole
#: structure families, which forces alone leave at an offset. The virial weight stays small (see below).
SCRATCH_STAGE = {
    'learning_rate': {'type': 'exp', 'start_lr': 1.0e-3, 'stop_lr': 1.0e-5},
    'loss': {
        'type': 'ener',
        'start_pref_e': 0.2,
        'limit_pref_e': 20.0,
        'start_pref_f': 100.0,
        'limit_pref_f': 1.0,
        'start_pref_v': 0.02,
        'limit_pref_v': 0.2,
    },
}

#: Loss and learning rate of the energy-weighted second stage (``stage='energy'``), started from the first stage's
#: model: forces already fit, so the energy prefactor leads from the start and grows as the learning rate decays. The
#: virial weight is small: under 200 GPa the virials are large (V*P, about 12 eV per atom) and a virial term of weight
#: 1 outweighs the energy term (legacy 1/N normalisation) while adding little once energies and forces fit.
ENERGY_STAGE = {
    'learning_rate': {'type': 'exp', 'start_lr': 3.0e-4, 'stop_lr': 3.0e-6},
    'loss': {
        'type': 'ener',
        'start_pref_e': 2.0,
        'limit_pref_e': 20.0,
        'start_pref_f': 4.0,
        'limit_pref_f': 1.0,
        'start_pref_v': 0.02,
        'limit_pref_v': 0.02,
    },
}


#: Loss and learning rate of a continuation of the scratch run (``stage='continue'``), started from its model: the
#: prefactors the scratch stage ends with (energy 20, forces 1, virial 0.2) and a learning rate that goes on from
#: where it stopped (3e-5 -> 3e-6), for more steps of the same fit without disturbing it first.
CONTINUE_STAGE = {
    'learning_rate': {'type': 'exp', 'start_lr': 3.0e-5, 'stop_lr': 3.0e-6},
    'loss': {
        'type': 'ener',
        'start_pref_e': 20.0,
        'limit_pref_e': 20.0,
        'start_pref_f': 1.0,
        'limit_pref_f': 1.0,
        'start_pref_v': 0.2,
        'limit_pref_v': 0.2,
    },
}

#: The stages that start from a trained model: their loss and learning rate, and how ``input.json`` names them.
_FURTHER_STAGES = {
    'energy': (ENERGY_STAGE, 'energy-weighted second stage'),
    'continue': (CONTINUE_STAGE, 'continuation of the scratch stage'),
}

#: The training stages :func:`training_input` knows.
TRAINING_STAGES = ('scratch', *_FURTHER_STAGES)


def training_input(
    train_systems,
    heldout_systems,
    max_neighbors,
    steps: int = 60000,
    seed: int = 1,
    stage: str = 'scratch',
    sel=None,
    type_one_side: bool = SEED_TYPE_ONE_SIDE,
    precision: str = SEED_PRECISION,
    architecture: str = 'standard',
) -> dict:
    """The DeePMD (PyTorch) input of the seed model: small se_e2_a, ``type_map`` = :data:`TYPE_MAP`.

    ``stage``: ``'scratch'`` (training from scratch, :data:`SCRATCH_STAGE`), ``'energy'`` (an energy-weighted further
    stage, :data:`ENERGY_STAGE`) or ``'continue'`` (more steps of the scratch stage's end, :data:`CONTINUE_STAGE`);
    the last two start from a trained model with ``dp --pt train --init-frz-model``. ``heldout_systems`` are only
    recorded (``_heldout``); they are never used for training or validation. ``sel`` (the initial model's, for a
    further stage) replaces the one derived from ``max_neighbors``; it must hold them. ``type_one_side``: one
    embedding net per neighbour type (``True``) or per pair of centre and neighbour types. ``precision``: ``'float32'``
    or ``'float64'`` (a further stage must keep the initial model's). ``architecture``: the sizes of the descriptor
    and fitting net, a key of :data:`SEED_ARCHITECTURES` (a further stage must keep the initial model's; ``sel`` is
    counted within its cut-off).
    """
    if architecture not in SEED_ARCHITECTURES:
        raise HydridesInputError(f'the architecture is one of {", ".join(SEED_ARCHITECTURES)}, got {architecture!r}')
    sizes = SEED_ARCHITECTURES[architecture]
    if stage not in TRAINING_STAGES:
        raise HydridesInputError(f'the training stage is one of {", ".join(TRAINING_STAGES)}, got {stage!r}')
    if precision not in ('float32', 'float64'):
        raise HydridesInputError(f"the precision is 'float32' or 'float64', got {precision!r}")
    if steps < 1:
        raise HydridesInputError(f'the number of training steps must be positive, got {steps}')
    if len(max_neighbors) != len(TYPE_MAP):
        raise HydridesInputError(f'expected {len(TYPE_MAP)} neighbour counts (one per type), got {max_neighbors}')
    selection = selection_from_neighbors(max_neighbors)
    if sel is not None:
        selection = [int(value) for value in sel]
        if len(selection) != len(TYPE_MAP) or any(a < b for a, b in zip(selection, max_neighbors)):
            raise HydridesInputError(
                f'sel={selection} of the initial model does not hold the largest neighbour counts {list(max_neighbors)} '
                f'of the training data; train the first stage again'
            )
    config = {
        '_comment': 'aiida-hydrides seed model (Ca-Y-H, 150-250 GPa); generated by scripts/train_seed_model.sh',
        '_architecture': architecture,
        '_heldout': list(heldout_systems),
        'model': {
            'type_map': list(TYPE_MAP),
            'descriptor': {
                'type': 'se_e2_a',
                'sel': selection,
                'rcut': sizes['rcut'],
                'rcut_smth': 0.5,
                'neuron': list(sizes['neuron']),
                'axis_neuron': sizes['axis_neuron'],
                'type_one_side': bool(type_one_side),
                'precision': precision,
                'seed': seed,
            },
            'fitting_net': {
                'neuron': list(sizes['fitting_net']),
                'resnet_dt': True,
                'precision': precision,
                'seed': seed,
            },
        },
        'learning_rate': {**SCRATCH_STAGE['learning_rate'], 'decay_steps': max(steps // 60, 1)},
        'loss': dict(SCRATCH_STAGE['loss']),
        'training': {
            'training_data': {'systems': list(train_systems), 'batch_size': 'auto'},
            'numb_steps': int(steps),
            'seed': seed,
            'disp_file': 'lcurve.out',
            'disp_freq': max(steps // 200, 1),
            'save_freq': max(steps // 20, 1),
        },
    }
    if stage != 'scratch':
        further, label = _FURTHER_STAGES[stage]
        config['_stage'] = f'{label}, from a trained model (--init-frz-model)'
        config['learning_rate'] = {**further['learning_rate'], 'decay_steps': max(steps // 20, 1)}
        config['loss'] = dict(further['loss'])
    return config


def float64_copy_input(config: dict) -> dict:
    """The input of a one-step run (learning rate 1e-30) that, with ``dp --pt train --init-frz-model``, turns a model
    trained in float32 into the same model in float64 (energies within float32 rounding, 1e-5 eV/atom). The seed model
    is trained in float32 for speed and shipped in float64, so that relaxations of the same structure alone or in a
    batch follow the same trajectory (float32 rounding depends on the batch and sends floppy cells to other minima)."""
    import copy

    copied = copy.deepcopy(config)
    copied['model']['descriptor']['precision'] = 'float64'
    copied['model']['fitting_net']['precision'] = 'float64'
    copied['learning_rate'] = {'type': 'exp', 'start_lr': 1.0e-30, 'stop_lr': 1.0e-31, 'decay_steps': 1}
    copied['training'].update(numb_steps=1, disp_freq=1, save_freq=1)
    copied['_stage'] = 'float64 copy of the float32-trained model (one step at learning rate 1e-30, --init-frz-model)'
    return copied


def heldout_metrics(detail_prefix) -> dict:
    """Energy (meV/atom) and force (meV/Angstrom) MAE/RMSE from the detail files of ``dp --pt test -d PREFIX``
    (:func:`aiida_hydrides.core.lam.training.test_metrics` without the virial errors)."""
    from .lam.training import test_metrics

    return {key: value for key, value in test_metrics(detail_prefix).items() if not key.startswith('virial_')}
