"""Structure fingerprints and near-duplicate removal.

The fingerprint is Oganov and Valle's per-element-pair radial distribution: for each pair of elements (A, B) a
histogram of the A-B distances up to ``cutoff`` (periodic images included), each distance smeared by a Gaussian of
width ``sigma`` and divided by ``4 pi r^2 dr N_A N_B / V``, minus one (so an ideal gas gives zero). The pair blocks
are weighted by ``N_A N_B / sum(N_A N_B)`` and concatenated. It is invariant to rotations, translations, atom order
and the choice of cell (a supercell has the same fingerprint). Two fingerprints are compared with the cosine distance
``(1 - cos) / 2``: 0 for identical structures, about 0.5 for unrelated ones.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import HydridesInputError

__all__ = ('FingerprintSettings', 'fingerprint', 'cosine_distance', 'cosine_distances', 'Deduplicator')


@dataclasses.dataclass(frozen=True)
class FingerprintSettings:
    """Fingerprint grid: distances up to ``cutoff`` Å in bins of ``bin_width`` Å, Gaussian smearing ``sigma`` Å."""

    cutoff: float = 6.0
    bin_width: float = 0.05
    sigma: float = 0.1

    @property
    def centres(self) -> np.ndarray:
        return (np.arange(int(round(self.cutoff / self.bin_width))) + 0.5) * self.bin_width


def fingerprint(atoms, species: list[str] | None = None, settings: FingerprintSettings | None = None) -> np.ndarray:
    """The weighted, concatenated pair fingerprint of ``atoms`` (1-D array).

    ``species`` fixes the element order (and so the block layout); by default the sorted elements of ``atoms``.
    Fingerprints are only comparable with the same ``species`` and ``settings``.
    """
    from ase.neighborlist import primitive_neighbor_list

    settings = settings or FingerprintSettings()
    symbols = np.array(atoms.get_chemical_symbols())
    species = sorted(set(symbols)) if species is None else list(species)
    volume = abs(atoms.get_volume())
    if volume < 1e-6:
        raise HydridesInputError('a fingerprint needs a periodic structure with a 3-D cell')
    index = {symbol: k for k, symbol in enumerate(species)}
    try:
        types = np.array([index[s] for s in symbols])
    except KeyError as exc:
        raise HydridesInputError(f'element {exc.args[0]} is not among the fingerprint species {species}') from None
    counts = np.bincount(types, minlength=len(species)).astype(float)
    reach = settings.cutoff + 4 * settings.sigma
    first, second, lengths = primitive_neighbor_list(
        'ijd', np.ones(3, bool), atoms.cell.array, atoms.positions, reach, self_interaction=False
    )
    centres = settings.centres
    pairs = [(a, b) for a in range(len(species)) for b in range(a, len(species))]
    ta, tb = types[first], types[second]
    keep = ta <= tb  # each unordered A-B pair once (A-A pairs appear twice, which matches N_A^2 below)
    ta, tb, lengths = ta[keep], tb[keep], lengths[keep]
    block = np.searchsorted([p[0] * len(species) + p[1] for p in pairs], ta * len(species) + tb)
    gauss = np.exp(-0.5 * ((centres[None, :] - lengths[:, None]) / settings.sigma) ** 2)
    gauss /= np.sqrt(2 * np.pi) * settings.sigma
    histograms = np.zeros((len(pairs), len(centres)))
    np.add.at(histograms, block, gauss)
    shell = 4 * np.pi * centres**2
    weights = np.zeros(len(pairs))
    for k, (a, b) in enumerate(pairs):
        density = counts[a] * counts[b] / volume
        if density > 0:
            histograms[k] = histograms[k] / (shell * density) - 1.0
        else:
            histograms[k] = 0.0
        weights[k] = counts[a] * counts[b]
    weights /= max(weights.sum(), 1e-300)
    return (np.sqrt(weights)[:, None] * histograms).ravel()


def cosine_distance(first: np.ndarray, second: np.ndarray) -> float:
    """``(1 - cos) / 2`` between two fingerprints: 0 identical, 1 opposite."""
    norm = np.linalg.norm(first) * np.linalg.norm(second)
    if norm == 0:
        return 0.0 if np.linalg.norm(first) == np.linalg.norm(second) else 0.5
    return float(0.5 * (1.0 - np.dot(first, second) / norm))


def cosine_distances(vectors: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """Cosine distances between the rows of ``vectors`` and of ``others`` (default: themselves), vectorised."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
    others = vectors if others is None else np.atleast_2d(np.asarray(others, dtype=float))
    if others.shape[0] == 0 or vectors.shape[0] == 0:
        return np.zeros((vectors.shape[0], others.shape[0]))
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-300)
    other_unit = others / np.maximum(np.linalg.norm(others, axis=1, keepdims=True), 1e-300)
    return np.clip(0.5 * (1.0 - unit @ other_unit.T), 0.0, 1.0)


class Deduplicator:
    """Keeps distinct structures: a new one is a duplicate of a kept one when their fingerprint distance is below
    ``threshold`` and, when both enthalpies are known, the enthalpies per atom differ by less than
    ``enthalpy_tol`` (eV/atom)."""

    def __init__(
        self,
        species: list[str],
        threshold: float = 0.01,
        enthalpy_tol: float = 0.005,
        settings: FingerprintSettings | None = None,
    ):
        if not 0 <= threshold < 1:
            raise HydridesInputError(f'the fingerprint threshold must be in [0, 1), got {threshold!r}')
        if not enthalpy_tol >= 0:
            raise HydridesInputError(f'the enthalpy tolerance must be >= 0 eV/atom, got {enthalpy_tol!r}')
        self.species = list(species)
        self.threshold = float(threshold)
        self.enthalpy_tol = float(enthalpy_tol)
        self.settings = settings or FingerprintSettings()
        self._vectors: list[np.ndarray] = []
        self._enthalpies: list[float] = []
        self.labels: list = []

    def __len__(self) -> int:
        return len(self._vectors)

    def fingerprint(self, atoms) -> np.ndarray:
        return fingerprint(atoms, self.species, self.settings)

    def match(self, vector: np.ndarray, enthalpy: float | None = None) -> int | None:
        """Position (among the kept structures) of the first duplicate of ``vector``, or ``None``."""
        if not self._vectors:
            return None
        distances = cosine_distances(vector[None, :], np.array(self._vectors))[0]
        close = distances < self.threshold
        if enthalpy is not None and np.isfinite(enthalpy):
            kept = np.array(self._enthalpies)
            close &= ~np.isfinite(kept) | (np.abs(kept - enthalpy) < self.enthalpy_tol)
        hits = np.flatnonzero(close)
        return int(hits[0]) if len(hits) else None

    def add(self, vector: np.ndarray, enthalpy: float | None = None, label=None) -> None:
        """Keep ``vector`` (without checking it)."""
        self._vectors.append(np.asarray(vector, dtype=float))
        self._enthalpies.append(np.nan if enthalpy is None else float(enthalpy))
        self.labels.append(label)

    def check_and_add(self, atoms, enthalpy: float | None = None, label=None):
        """Label of the kept duplicate of ``atoms`` (``None`` when it is new, and then it is kept)."""
        vector = self.fingerprint(atoms)
        found = self.match(vector, enthalpy)
        if found is not None:
            return self.labels[found]
        self.add(vector, enthalpy, label)
        return None

    def unique(self, structures, enthalpies=None) -> list[int]:
        """Indices of the structures that are new (each kept as it passes); the others are duplicates."""
        kept = []
        for k, atoms in enumerate(structures):
            enthalpy = None if enthalpies is None else enthalpies[k]
            if self.check_and_add(atoms, enthalpy, label=k) is None:
                kept.append(k)
        return kept
