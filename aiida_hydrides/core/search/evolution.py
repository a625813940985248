"""Learning operators: new candidates made from the best structures found so far.

- :func:`pso_move` (CALYPSO-style particle swarm step): a structure moves towards a better one ("global best").
  Both cells are Niggli-reduced; atoms of each element are paired with the guide's by a minimum-cost assignment
  of periodic fractional displacements (over the origin shifts that put an atom on an atom); each atom moves by
  ``c * r`` of its displacement (``r`` uniform in [0, 1) per atom) plus a random "velocity" of ``inertia`` Å, and
  the cell moves by ``c * r`` towards the guide's cell. Particles are not tracked across generations: a relaxed
  structure is its own personal best.
- :func:`heredity` (cut and splice): a slab of random thickness (30-70 %) along a random lattice direction comes
  from one parent, the rest from the other (both randomly translated first); the cell is the matching weighted
  mean of the parents' reduced cells; surplus atoms of an element are removed at random and missing ones are
  taken from the unused parts of the parents, so the composition is the parents'.
- mutations: :func:`strain_mutation` (random symmetric strain, volume kept), :func:`permutation_mutation` (swaps
  of atoms of two different non-hydrogen elements) and :func:`rattle_mutation` (Gaussian displacements, full
  amplitude for hydrogen, half for heavier atoms).

:func:`make_offspring` applies an operator, pushes apart atoms that end up too close (:func:`.repair_distances`),
retries a few times and returns ``None`` when no offspring satisfies the distance limits.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import HydridesInputError
from .distances import DistanceLimits, repair_distances, satisfies_limits

__all__ = (
    'OPERATORS',
    'same_composition',
    'pso_move',
    'heredity',
    'strain_mutation',
    'permutation_mutation',
    'rattle_mutation',
    'make_offspring',
)

OPERATORS = ('pso', 'heredity', 'mutation')


def same_composition(first, second) -> bool:
    """Whether two structures hold exactly the same atoms (element counts)."""
    return Counter(first.get_chemical_symbols()) == Counter(second.get_chemical_symbols())


def _reduced(atoms):
    from ase.build import niggli_reduce

    atoms = atoms.copy()
    atoms.pbc = True
    niggli_reduce(atoms)
    atoms.wrap()
    return atoms


def _build(symbols, scaled, cell):
    from ase import Atoms

    scaled = np.asarray(scaled, dtype=float)
    return Atoms(list(symbols), scaled_positions=scaled - np.floor(scaled), cell=cell, pbc=True)


def _sorted_hydrogen_last(atoms):
    order = np.argsort(atoms.numbers == 1, kind='stable')
    return atoms[order]


def _match(current, guide) -> np.ndarray:
    """Fractional displacements (current -> paired guide atom), wrapped into [-0.5, 0.5), for each atom of
    ``current``; pairing per element by minimum total distance over a few origin shifts."""
    from scipy.optimize import linear_sum_assignment

    cell = current.cell.array
    mine, theirs = current.get_scaled_positions(), guide.get_scaled_positions()
    symbols, guide_symbols = np.array(current.get_chemical_symbols()), np.array(guide.get_chemical_symbols())
    anchor_element = min(set(symbols), key=lambda s: (np.sum(symbols == s), s))
    anchor = np.flatnonzero(symbols == anchor_element)[0]
    best, best_cost = None, np.inf
    for target in np.flatnonzero(guide_symbols == anchor_element):
        shift = theirs[target] - mine[anchor]
        displacement = np.zeros_like(mine)
        cost = 0.0
        for element in set(symbols):
            a, b = np.flatnonzero(symbols == element), np.flatnonzero(guide_symbols == element)
            delta = theirs[b][None, :, :] - shift - mine[a][:, None, :]
            delta -= np.round(delta)
            lengths = np.linalg.norm(delta @ cell, axis=-1)
            rows, cols = linear_sum_assignment(lengths)
            displacement[a[rows]] = delta[rows, cols]
            cost += lengths[rows, cols].sum()
        if cost < best_cost:
            best, best_cost = displacement, cost
    return best


def pso_move(current, guide, rng: np.random.Generator, c: float = 2.0, inertia: float = 0.1):
    """Move ``current`` towards ``guide`` (same composition) by a particle-swarm step; see the module docstring."""
    if not same_composition(current, guide):
        raise HydridesInputError('a PSO move needs two structures with the same atoms')
    current, guide = _reduced(current), _reduced(guide)
    cell = current.cell.array
    displacement = _match(current, guide)
    step = np.minimum(c * rng.random((len(current), 1)), 1.0)
    velocity = rng.normal(0.0, inertia, (len(current), 3)) @ np.linalg.inv(cell)
    scaled = current.get_scaled_positions() + step * displacement + velocity
    towards = min(c * rng.random(), 1.0)
    new_cell = cell + towards * (guide.cell.array - cell)
    if abs(np.linalg.det(new_cell)) < 0.3 * abs(np.linalg.det(cell)):
        new_cell = cell
    volume = (1 - towards) * current.get_volume() + towards * guide.get_volume()
    new_cell *= (volume / abs(np.linalg.det(new_cell))) ** (1 / 3)
    return _build(current.get_chemical_symbols(), scaled, new_cell)


def heredity(first, second, rng: np.random.Generator):
    """Cut-and-splice child of two parents with the same atoms; see the module docstring."""
    if not same_composition(first, second):
        raise HydridesInputError('heredity needs two parents with the same atoms')
    first, second = _reduced(first), _reduced(second)
    fraction = rng.uniform(0.3, 0.7)
    axis = int(rng.integers(3))
    cut = rng.random()
    cell = fraction * first.cell.array + (1 - fraction) * second.cell.array
    if abs(np.linalg.det(cell)) < 0.3 * min(first.get_volume(), second.get_volume()):
        cell = first.cell.array.copy()
    volume = fraction * first.get_volume() + (1 - fraction) * second.get_volume()
    cell *= (volume / abs(np.linalg.det(cell))) ** (1 / 3)
    parts = []
    for parent, inside in ((first, True), (second, False)):
        scaled = parent.get_scaled_positions() + rng.random(3)
        scaled -= np.floor(scaled)
        in_slab = np.mod(scaled[:, axis] - cut, 1.0) < fraction
        parts.append((np.array(parent.get_chemical_symbols()), scaled, in_slab if inside else ~in_slab))
    target = Counter(first.get_chemical_symbols())
    symbols, positions = [], []
    for element, count in target.items():
        chosen, spare = [], []
        for elements, scaled, taken in parts:
            mask = elements == element
            chosen.extend(scaled[mask & taken])
            spare.extend(scaled[mask & ~taken])
        chosen, spare = np.array(chosen).reshape(-1, 3), np.array(spare).reshape(-1, 3)
        if len(chosen) > count:
            chosen = chosen[np.sort(rng.choice(len(chosen), count, replace=False))]
        elif len(chosen) < count:
            extra = spare[rng.choice(len(spare), count - len(chosen), replace=False)]
            chosen = np.concatenate([chosen, extra])
        symbols += [element] * count
        positions.append(chosen)
    return _sorted_hydrogen_last(_build(symbols, np.concatenate(positions), cell))


def strain_mutation(atoms, rng: np.random.Generator, sigma: float = 0.1):
    """Apply a random symmetric strain (components ~ N(0, sigma)) and restore the volume."""
    strain = rng.normal(0.0, sigma, (3, 3))
    strain = 0.5 * (strain + strain.T)
    child = atoms.copy()
    cell = child.cell.array @ (np.eye(3) + strain)
    if np.linalg.det(cell) * np.linalg.det(child.cell.array) <= 0:
        return None
    cell *= (atoms.get_volume() / abs(np.linalg.det(cell))) ** (1 / 3)
    child.set_cell(cell, scale_atoms=True)
    return child


def permutation_mutation(atoms, rng: np.random.Generator, swaps: int | None = None):
    """Swap ``swaps`` (default 1-3) pairs of atoms of two different non-hydrogen elements; ``None`` when there
    are fewer than two such elements."""
    symbols = np.array(atoms.get_chemical_symbols())
    heavy = sorted(set(symbols) - {'H'})
    if len(heavy) < 2:
        return None
    child = atoms.copy()
    numbers = child.numbers.copy()
    for _ in range(swaps or int(rng.integers(1, 4))):
        a, b = rng.choice(len(heavy), 2, replace=False)
        i = rng.choice(np.flatnonzero(symbols == heavy[a]))
        j = rng.choice(np.flatnonzero(symbols == heavy[b]))
        numbers[i], numbers[j] = numbers[j], numbers[i]
        symbols[i], symbols[j] = symbols[j], symbols[i]
    child.numbers = numbers
    return child


def rattle_mutation(atoms, rng: np.random.Generator, amplitude: float = 0.3):
    """Displace every atom by Gaussian noise of ``amplitude`` Å (hydrogen) or ``amplitude / 2`` (other elements)."""
    child = atoms.copy()
    scale = np.where(child.numbers == 1, amplitude, 0.5 * amplitude)[:, None]
    child.positions += scale * rng.normal(size=child.positions.shape)
    child.wrap()
    return child


def make_offspring(
    operator: str, parents: list, rng: np.random.Generator, limits: DistanceLimits | None = None, attempts: int = 5
):
    """Apply ``operator`` (``'pso'``: parents = [current, guide]; ``'heredity'``: two parents; ``'mutation'``: one
    parent, strain + permutation or rattle at random) until the child satisfies ``limits``; ``None`` if none does.

    The child's ``info['origin']`` names the operator (``'mutation'`` children also get ``info['mutation']``).
    """
    if operator not in OPERATORS:
        raise HydridesInputError(f'unknown operator {operator!r}; choose one of {OPERATORS}')
    limits = limits or DistanceLimits()
    reference = Counter(parents[0].get_chemical_symbols())
    for _ in range(attempts):
        kind = None
        if operator == 'pso':
            child = pso_move(parents[0], parents[1], rng)
        elif operator == 'heredity':
            child = heredity(parents[0], parents[1], rng)
        else:
            kinds = ['strain', 'rattle'] + (['permutation'] if len(set(parents[0].numbers) - {1}) > 1 else [])
            kind = kinds[int(rng.integers(len(kinds)))]
            if kind == 'strain':
                child = strain_mutation(parents[0], rng)
                child = None if child is None else rattle_mutation(child, rng, amplitude=0.1)
            elif kind == 'rattle':
                child = rattle_mutation(parents[0], rng)
            else:
                child = permutation_mutation(parents[0], rng)
        if child is None:
            continue
        if not satisfies_limits(child, limits):
            child = repair_distances(child, limits)
            if child is None:
                continue
        child.wrap()
        if Counter(child.get_chemical_symbols()) != reference:  # pragma: no cover - the operators keep counts
            continue
        child.info = {'origin': operator}
        if kind:
            child.info['mutation'] = kind
        return child
    return None
