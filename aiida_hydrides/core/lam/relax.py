"""Batched variable-cell relaxation at a target pressure: many structures, one model call per step.

Each structure is relaxed in the generalized coordinates of ASE's ``FrechetCellFilter``: the atomic positions mapped
back to the reference cell, ``x_i = r_i F^-T``, plus ``N log(F)`` for the deformation gradient ``F`` of the cell
(``cell = cell_0 F^T``). The matching generalized forces are ``f_i F`` for the atoms and
``L(log(F)^T, W F^-T) / N`` for the cell, with ``W = virial - P V 1`` the enthalpy-consistent virial and ``L`` the
Fréchet derivative of the matrix exponential. Minimising in these coordinates minimises the enthalpy ``H = E + PV``, so
results mean exactly what an ASE ``FrechetCellFilter(atoms, scalar_pressure=P)`` relaxation means.

The optimizers are vectorised re-implementations of ASE's ``LBFGS`` (the default: memory 100, alpha 70, maxstep
0.2 Å, no line search) and ``FIRE``, with per-structure state kept in padded numpy arrays: rows 0-2 hold the cell
coordinates and rows ``3:3+N`` the atoms, padding rows stay zero and so never contribute.

A structure leaves the batch when it converges (largest atomic force < ``fmax`` in eV/Å and every component of
``stress + P`` below ``stress_tol_gpa`` in GPa), reaches ``max_steps``, or fails a sanity check: ``exploded`` (volume
per atom above ``max_volume_per_atom``, or non-finite model outputs) or ``collapsed`` (volume per atom below
``min_volume_per_atom``, or two atoms closer than ``min_distance`` Å). A caller that knows what is worth relaxing
(the structure search knows the best enthalpy of the composition so far) may give each structure a ceiling: after
``hopeless_after`` steps a structure whose enthalpy per atom is still above its ceiling stops as ``hopeless``. Freed slots are refilled from the remaining
input (streaming), up to ``batch_size`` structures in flight.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..settings import field_defaults, field_names, split_parameters
from ..units import EV_PER_A3_IN_GPA, check_pressure
from .compress import COMPRESS_BY_DEFAULT
from .errors import HydridesInputError
from .model import BatchEvaluator

__all__ = (
    'OPTIMIZERS',
    'FLAGS',
    'RelaxSettings',
    'RelaxResult',
    'RELAX_FIELDS',
    'RELAX_WORKER_PARAMETERS',
    'RELAX_PARAMETERS',
    'RELAX_PARAMETER_DEFAULTS',
    'relax_settings_from_parameters',
    'BatchRelaxer',
    'relax_structures',
    'min_interatomic_distance',
    'expm_batch',
)

OPTIMIZERS = ('lbfgs', 'fire')
#: Per-structure outcome flags.
FLAGS = ('converged', 'max_steps', 'exploded', 'collapsed', 'hopeless')


@dataclasses.dataclass
class RelaxSettings:
    """Settings of a batched relaxation; pressures in GPa, forces in eV/Å, lengths in Å."""

    pressure_gpa: float = 0.0
    fmax: float = 0.05
    stress_tol_gpa: float = 0.5
    max_steps: int = 300
    optimizer: str = 'lbfgs'
    relax_cell: bool = True
    batch_size: int | None = None
    maxstep: float = 0.2
    lbfgs_memory: int = 100
    lbfgs_alpha: float = 70.0
    lbfgs_damping: float = 1.0
    fire_dt: float = 0.1
    fire_dtmax: float = 1.0
    min_volume_per_atom: float = 0.5
    max_volume_per_atom: float = 100.0
    min_distance: float = 0.4
    #: steps after which a structure above its enthalpy ceiling (see :meth:`BatchRelaxer.relax`) stops as ``hopeless``
    hopeless_after: int = 10

    def validated(self) -> RelaxSettings:
        """A copy with the pressure checked and every setting range-checked; raises ``HydridesInputError``.

        The one place the relaxation settings are validated: the engine below trusts them.
        """
        pressure = check_pressure(self.pressure_gpa, 'pressure_gpa')
        optimizer = str(self.optimizer).lower()
        if optimizer not in OPTIMIZERS:
            raise HydridesInputError(f'unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}')
        for name in ('fmax', 'stress_tol_gpa', 'maxstep', 'min_volume_per_atom', 'max_volume_per_atom'):
            value = getattr(self, name)
            if isinstance(value, (str, bytes, bool)) or not np.isfinite(float(value)) or float(value) <= 0:
                raise HydridesInputError(f'{name} must be a positive number, got {value!r}')
        for name in ('max_steps', 'hopeless_after'):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise HydridesInputError(f'{name} must be a non-negative integer, got {value!r}')
        if self.batch_size is not None and (int(self.batch_size) < 1):
            raise HydridesInputError(f'batch_size must be at least 1, got {self.batch_size!r}')
        if self.min_volume_per_atom >= self.max_volume_per_atom:
            raise HydridesInputError('min_volume_per_atom must be below max_volume_per_atom')
        return dataclasses.replace(self, pressure_gpa=pressure, optimizer=optimizer, max_steps=int(self.max_steps))


#: The fields of :class:`RelaxSettings`, in order (derived from the dataclass).
RELAX_FIELDS = field_names(RelaxSettings)
#: Parameters of ``hydrides-lam relax`` that are not :class:`RelaxSettings` fields: the head of a multi-head model,
#: the model's threads, and whether to evaluate the compressed copy of a frozen ``.pth`` model.
RELAX_WORKER_PARAMETERS = ('head', 'threads', 'compress')
#: Every parameter ``hydrides-lam relax`` accepts (its ``--parameters`` JSON; ``LamRelaxCalculation``'s ``parameters``).
RELAX_PARAMETERS = RELAX_FIELDS + RELAX_WORKER_PARAMETERS
#: The defaults of :data:`RELAX_PARAMETERS` in the worker.
RELAX_PARAMETER_DEFAULTS = {
    **field_defaults(RelaxSettings),
    'head': None,
    'threads': None,
    'compress': COMPRESS_BY_DEFAULT,
}


def relax_settings_from_parameters(parameters: dict | None) -> tuple[RelaxSettings, dict]:
    """Split ``parameters`` (names of :data:`RELAX_PARAMETERS`) into validated :class:`RelaxSettings` and the worker
    options ``head``, ``threads`` and ``compress`` (each present, with its default when not given).

    :raises HydridesInputError: unknown names or bad values (``InvalidPressureError`` for the pressure).
    """
    fields, options = split_parameters(RelaxSettings, parameters, RELAX_WORKER_PARAMETERS, unchecked=('pressure_gpa',))
    settings = RelaxSettings(**fields).validated()
    options = {
        name: RELAX_PARAMETER_DEFAULTS[name] if options.get(name) is None else options[name]
        for name in RELAX_WORKER_PARAMETERS
    }
    if options['head'] is not None and not isinstance(options['head'], str):
        raise HydridesInputError(f'head must be the name of a model head, got {options["head"]!r}')
    threads = options['threads']
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise HydridesInputError(f'threads must be a whole number >= 1, got {threads!r}')
    if not isinstance(options['compress'], bool):
        raise HydridesInputError(f'compress must be true or false, got {options["compress"]!r}')
    return settings, options


@dataclasses.dataclass
class RelaxResult:
    """Outcome of one relaxation. Energies in eV, volume in Å³, pressures and stresses in GPa."""

    index: int
    atoms: object
    flag: str
    n_steps: int
    energy: float
    enthalpy: float
    enthalpy_per_atom: float
    volume: float
    pressure_gpa: float
    fmax: float
    stress_residual_gpa: float
    target_pressure_gpa: float
    #: frames along the relaxation when it was asked for (``trajectory_every``): ``positions`` (T, N, 3) Å,
    #: ``cells`` (T, 3, 3) Å and ``steps`` (T,), the geometries the model was evaluated at; ``None`` otherwise
    trajectory: dict | None = dataclasses.field(default=None, repr=False)

    @property
    def converged(self) -> bool:
        return self.flag == 'converged'

    @property
    def natoms(self) -> int:
        return len(self.atoms)

    @property
    def volume_per_atom(self) -> float:
        return self.volume / len(self.atoms)

    def as_dict(self) -> dict:
        """A JSON-friendly summary (without the structure)."""
        data = {
            key: getattr(self, key)
            for key in (
                'index',
                'flag',
                'n_steps',
                'energy',
                'enthalpy',
                'enthalpy_per_atom',
                'volume',
                'pressure_gpa',
                'fmax',
                'stress_residual_gpa',
                'target_pressure_gpa',
            )
        }
        data['formula'] = self.atoms.get_chemical_formula(mode='metal')
        data['natoms'] = len(self.atoms)
        return {
            key: (None if isinstance(value, float) and not np.isfinite(value) else value) for key, value in data.items()
        }


def min_interatomic_distance(positions: np.ndarray, cell: np.ndarray) -> float:
    """Shortest distance between two atoms (periodic images included), exact below the smallest cell height."""
    positions = np.asarray(positions, dtype=float)
    cell = np.asarray(cell, dtype=float)
    frac = np.linalg.solve(cell.T, positions.T).T
    frac -= np.floor(frac)
    cart = frac @ cell
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float) @ cell
    delta = cart[None, :, None, :] - cart[None, None, :, :] + shifts[:, None, None, :]
    distances = np.sqrt((delta**2).sum(-1))
    distances[13][np.diag_indices(len(positions))] = np.inf  # the zero shift: an atom and itself
    return float(distances.min())


def _cell_heights(cells: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of each cell, shape (S, 3)."""
    volume = np.abs(np.linalg.det(cells))
    cross = np.stack(
        [np.cross(cells[:, 1], cells[:, 2]), np.cross(cells[:, 2], cells[:, 0]), np.cross(cells[:, 0], cells[:, 1])],
        axis=1,
    )
    return volume[:, None] / np.linalg.norm(cross, axis=2)


def expm_batch(matrices: np.ndarray) -> np.ndarray:
    """Matrix exponential of a batch of small matrices, shape (..., n, n): scaling and squaring with a degree-18
    Taylor polynomial (error below 1e-17 relative), vectorised over the batch."""
    matrices = np.asarray(matrices, dtype=float)
    norms = np.abs(matrices).sum(axis=-2).max(axis=-1)
    squarings = np.maximum(0, np.ceil(np.log2(np.maximum(norms, 1e-300) / 0.5))).astype(int)
    scaled = matrices / (2.0**squarings)[..., None, None]
    identity = np.broadcast_to(np.eye(matrices.shape[-1]), matrices.shape)
    result = identity.copy()
    term = identity.copy()
    for order in range(1, 19):
        term = term @ scaled / order
        result = result + term
    for level in range(int(squarings.max(initial=0))):
        square = result @ result
        result = np.where((squarings > level)[..., None, None], square, result)
    return result


def _expm_frechet_adjoint(log_f: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """``L(A^T, G)`` for a batch: the gradient with respect to ``A`` of ``<expm(A), G>``-like terms, i.e. the
    ``FrechetCellFilter`` cell force ``sum_ij <L(A, E_ij), G> E_ij``, from one 6x6 block exponential per structure."""
    count = len(log_f)
    block = np.zeros((count, 6, 6))
    transposed = np.transpose(log_f, (0, 2, 1))
    block[:, :3, :3] = transposed
    block[:, 3:, 3:] = transposed
    block[:, :3, 3:] = gradient
    return expm_batch(block)[:, :3, 3:]


class BatchRelaxer:
    """Relax many structures together with one evaluator call per step (see the module docstring).

    ``callback(step, active, finished)`` is called after each step with the batch step number and the counts of
    structures in flight and done.

    ``trajectory_every`` (:meth:`relax`): with ``k > 0`` every structure keeps the geometry of every ``k``-th of its
    optimizer steps at which the model was evaluated (step 0, the start, included) in
    :attr:`RelaxResult.trajectory`; frames for concurrent learning (:mod:`aiida_hydrides.core.lam.deviation`). 0 (the
    default) keeps nothing.
    """

    def __init__(self, evaluator: BatchEvaluator, settings: RelaxSettings | None = None, **kwargs):
        settings = dataclasses.replace(settings or RelaxSettings(), **kwargs)
        self.settings = settings.validated()
        self.evaluator = evaluator
        self.timings: dict[str, float] = {}

    # -- state ----------------------------------------------------------------------------------------------------
    def _allocate(self, capacity: int, rows: int) -> None:
        memory = self.settings.lbfgs_memory if self.settings.optimizer == 'lbfgs' else 1
        self.capacity, self.rows = capacity, rows
        self.active = np.zeros(capacity, bool)
        self.index = np.full(capacity, -1)
        self.natoms = np.zeros(capacity, dtype=np.int64)
        self.numbers: list = [None] * capacity
        self.pbc: list = [None] * capacity
        self.orig_cell = np.tile(np.eye(3), (capacity, 1, 1))
        self.steps = np.zeros(capacity, dtype=np.int64)
        self.x = np.zeros((capacity, rows, 3))
        # L-BFGS: ring buffers of s and y (newest at head - 1), rho, previous position and gradient.
        self.hist_s = np.zeros((capacity, memory, rows, 3))
        self.hist_y = np.zeros((capacity, memory, rows, 3))
        self.hist_rho = np.zeros((capacity, memory))
        self.hist_head = np.zeros(capacity, dtype=np.int64)
        self.hist_count = np.zeros(capacity, dtype=np.int64)
        self.prev_x = np.zeros((capacity, rows, 3))
        self.prev_g = np.zeros((capacity, rows, 3))
        # FIRE
        self.velocity = np.zeros((capacity, rows, 3))
        self.fire_dt = np.full(capacity, self.settings.fire_dt)
        self.fire_a = np.full(capacity, 0.1)
        self.fire_n = np.zeros(capacity, dtype=np.int64)
        self.frames: list = [None] * capacity

    def _grow_rows(self, rows: int) -> None:
        extra = rows - self.rows
        for name in ('x', 'prev_x', 'prev_g', 'velocity'):
            setattr(self, name, np.pad(getattr(self, name), ((0, 0), (0, extra), (0, 0))))
        for name in ('hist_s', 'hist_y'):
            setattr(self, name, np.pad(getattr(self, name), ((0, 0), (0, 0), (0, extra), (0, 0))))
        self.rows = rows

    def _admit(self, slot: int, index: int, atoms) -> None:
        n = len(atoms)
        if n + 3 > self.rows:
            self._grow_rows(n + 3)
        self.active[slot] = True
        self.index[slot] = index
        self.natoms[slot] = n
        self.numbers[slot] = np.asarray(atoms.numbers).copy()
        self.pbc[slot] = np.asarray(atoms.pbc).copy()
        self.orig_cell[slot] = np.asarray(atoms.cell, dtype=float)
        self.steps[slot] = 0
        self.x[slot] = 0.0
        self.x[slot, 3 : 3 + n] = np.asarray(atoms.positions, dtype=float)
        for name in ('hist_s', 'hist_y', 'hist_rho', 'prev_x', 'prev_g', 'velocity'):
            getattr(self, name)[slot] = 0.0
        self.hist_head[slot] = 0
        self.hist_count[slot] = 0
        self.fire_dt[slot] = self.settings.fire_dt
        self.fire_a[slot] = 0.1
        self.fire_n[slot] = 0
        self.frames[slot] = [] if self.trajectory_every else None

    # -- geometry -------------------------------------------------------------------------------------------------
    def _deformation(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log(F)`` and ``F`` of the given slots."""
        log_f = self.x[slots, :3] / self.natoms[slots, None, None]
        return log_f, expm_batch(log_f)

    # -- optimizer steps --------------------------------------------------------------------------------------------
    def _step_lbfgs(self, slots: np.ndarray, gradient: np.ndarray) -> None:
        s = self.settings
        x = self.x[slots]
        has_prev = self.steps[slots] > 0
        if np.any(has_prev):
            upd = slots[has_prev]
            ds = x[has_prev] - self.prev_x[upd]
            dy = gradient[has_prev] - self.prev_g[upd]
            with np.errstate(divide='ignore', invalid='ignore'):
                rho = 1.0 / np.einsum('bij,bij->b', dy, ds)
            rho[~np.isfinite(rho)] = 0.0
            head = self.hist_head[upd]
            self.hist_s[upd, head] = ds
            self.hist_y[upd, head] = dy
            self.hist_rho[upd, head] = rho
            self.hist_head[upd] = (head + 1) % s.lbfgs_memory
            self.hist_count[upd] = np.minimum(self.hist_count[upd] + 1, s.lbfgs_memory)
        count = self.hist_count[slots]
        depth = int(count.max()) if len(count) else 0
        q = gradient.copy()
        alphas = np.zeros((len(slots), depth))
        order = [(self.hist_head[slots] - 1 - k) % s.lbfgs_memory for k in range(depth)]  # newest first
        for k in range(depth):
            valid = k < count
            hs = self.hist_s[slots, order[k]]
            hy = self.hist_y[slots, order[k]]
            rho = np.where(valid, self.hist_rho[slots, order[k]], 0.0)
            alphas[:, k] = rho * np.einsum('bij,bij->b', hs, q)
            q -= alphas[:, k, None, None] * hy
        z = q / s.lbfgs_alpha
        for k in range(depth - 1, -1, -1):
            valid = k < count
            hs = self.hist_s[slots, order[k]]
            hy = self.hist_y[slots, order[k]]
            rho = np.where(valid, self.hist_rho[slots, order[k]], 0.0)
            beta = rho * np.einsum('bij,bij->b', hy, z)
            z += hs * (alphas[:, k] - beta)[:, None, None]
        step = -z
        longest = np.linalg.norm(step, axis=2).max(axis=1)
        scale = np.where(longest >= s.maxstep, s.maxstep / np.where(longest > 0, longest, 1.0), 1.0)
        step *= (scale * s.lbfgs_damping)[:, None, None]
        self.prev_x[slots] = x
        self.prev_g[slots] = gradient
        self.x[slots] = x + step

    def _step_fire(self, slots: np.ndarray, gradient: np.ndarray) -> None:
        s = self.settings
        force = -gradient
        velocity = self.velocity[slots]
        started = self.steps[slots] > 0
        vf = np.einsum('bij,bij->b', force, velocity)
        ff = np.einsum('bij,bij->b', force, force)
        vv = np.einsum('bij,bij->b', velocity, velocity)
        a, dt, nfire = self.fire_a[slots], self.fire_dt[slots], self.fire_n[slots]
        uphill = started & ~(vf > 0.0)
        downhill = started & (vf > 0.0)
        with np.errstate(divide='ignore', invalid='ignore'):
            mixed = (1.0 - a)[:, None, None] * velocity + (a * np.sqrt(vv) / np.sqrt(ff))[:, None, None] * force
        velocity = np.where(downhill[:, None, None], mixed, velocity)
        accelerate = downhill & (nfire > 5)
        dt = np.where(accelerate, np.minimum(dt * 1.1, s.fire_dtmax), dt)
        a = np.where(accelerate, a * 0.99, a)
        nfire = np.where(downhill, nfire + 1, nfire)
        velocity = np.where(uphill[:, None, None], 0.0, velocity)
        a = np.where(uphill, 0.1, a)
        dt = np.where(uphill, dt * 0.5, dt)
        nfire = np.where(uphill, 0, nfire)
        velocity = velocity + dt[:, None, None] * force
        step = dt[:, None, None] * velocity
        norm = np.sqrt(np.einsum('bij,bij->b', step, step))
        scale = np.where(norm > s.maxstep, s.maxstep / np.where(norm > 0, norm, 1.0), 1.0)
        self.velocity[slots] = velocity
        self.fire_a[slots], self.fire_dt[slots], self.fire_n[slots] = a, dt, nfire
        self.x[slots] = self.x[slots] + step * scale[:, None, None]

    # -- main loop ------------------------------------------------------------------------------------------------
    def relax(
        self,
        structures: Iterable,
        callback: Callable | None = None,
        ceilings: Sequence[float] | None = None,
        trajectory_every: int = 0,
    ) -> list[RelaxResult]:
        """Relax ``structures`` (``ase.Atoms``); returns one :class:`RelaxResult` per input, in input order.

        ``ceilings``: an enthalpy per atom (eV) per structure, in input order (``inf``: none); a structure still above
        its ceiling after ``hopeless_after`` steps stops with the flag ``hopeless``.

        ``trajectory_every``: keep every ``k``-th evaluated geometry of each structure (see the class docstring).

        A sequence is checked completely (elements against the model's type map, cells) before any compute; an
        iterator is consumed lazily and each structure is checked when it joins the batch.
        """
        s = self.settings
        if isinstance(trajectory_every, bool) or int(trajectory_every) != trajectory_every or trajectory_every < 0:
            raise HydridesInputError(f'trajectory_every must be a whole number >= 0 (0: off), got {trajectory_every!r}')
        self.trajectory_every = int(trajectory_every)
        start_total = time.perf_counter()
        self.timings = {
            'model_s': 0.0,
            'optimizer_s': 0.0,
            'checks_s': 0.0,
            'total_s': 0.0,
            'model_calls': 0,
            'batch_steps': 0,
            'frames': 0,
        }
        if isinstance(structures, Sequence):
            structures = list(structures)
            self._check(structures)
            capacity = min(len(structures), s.batch_size or len(structures)) or 1
            rows = max((len(a) for a in structures), default=1) + 3
        else:
            capacity = s.batch_size or 64
            rows = 4
        source = enumerate(iter(structures))
        self._allocate(capacity, rows)
        results: dict[int, RelaxResult] = {}
        exhausted = False
        pressure_ev = s.pressure_gpa / EV_PER_A3_IN_GPA
        batch_step = 0

        while True:
            # refill free slots (streaming)
            if not exhausted:
                for slot in np.flatnonzero(~self.active):
                    try:
                        index, atoms = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    self._check([atoms], first_index=index)
                    self._admit(int(slot), index, atoms)
            slots = np.flatnonzero(self.active)
            if len(slots) == 0:
                break

            tick = time.perf_counter()
            log_f, deform = self._deformation(slots)
            cells = self.orig_cell[slots] @ np.transpose(deform, (0, 2, 1))
            cart_rows = self.x[slots, 3:] @ np.transpose(deform, (0, 2, 1))
            positions = [cart_rows[k, : self.natoms[slot]] for k, slot in enumerate(slots)]
            volumes = np.abs(np.linalg.det(cells))
            self.timings['optimizer_s'] += time.perf_counter() - tick

            # sanity checks on the geometry, before the model sees it
            tick = time.perf_counter()
            per_atom = volumes / self.natoms[slots]
            heights = _cell_heights(cells).min(axis=1)
            bad = np.zeros(len(slots), dtype=object)
            bad[:] = ''
            for k in range(len(slots)):
                if not np.isfinite(per_atom[k]) or per_atom[k] > s.max_volume_per_atom:
                    bad[k] = 'exploded'
                elif per_atom[k] < s.min_volume_per_atom or heights[k] < s.min_distance:
                    bad[k] = 'collapsed'
                elif min_interatomic_distance(positions[k], cells[k]) < s.min_distance:
                    bad[k] = 'collapsed'
            self.timings['checks_s'] += time.perf_counter() - tick
            for k in np.flatnonzero(bad != ''):
                self._finish(results, slots[k], bad[k], positions[k], cells[k], None)
            keep = bad == ''
            slots, log_f, deform, cells, volumes = slots[keep], log_f[keep], deform[keep], cells[keep], volumes[keep]
            positions = [p for p, ok in zip(positions, keep) if ok]
            if len(slots) == 0:
                continue

            # one model call for the whole batch
            tick = time.perf_counter()
            raw = self.evaluator.compute([self.numbers[slot] for slot in slots], positions, list(cells))
            self.timings['model_s'] += time.perf_counter() - tick
            self.timings['model_calls'] += 1
            self.timings['frames'] += len(slots)
            if self.trajectory_every:
                for k, slot in enumerate(slots):
                    if self.steps[slot] % self.trajectory_every == 0:
                        self.frames[slot].append((int(self.steps[slot]), positions[k].copy(), cells[k].copy()))

            tick = time.perf_counter()
            natoms = self.natoms[slots]
            forces = np.zeros((len(slots), self.rows - 3, 3))
            for k, f in enumerate(raw.forces):
                forces[k, : natoms[k]] = f
            virial_eff = raw.virials - (pressure_ev * volumes)[:, None, None] * np.eye(3)
            residual = -virial_eff / volumes[:, None, None] * EV_PER_A3_IN_GPA
            fmax = np.linalg.norm(forces, axis=2).max(axis=1)
            stress_res = np.abs(residual).max(axis=(1, 2)) if s.relax_cell else np.zeros(len(slots))
            finite = np.isfinite(raw.energies) & np.isfinite(fmax) & np.isfinite(stress_res)
            converged = finite & (fmax < s.fmax) & (stress_res < s.stress_tol_gpa)
            out_of_steps = finite & ~converged & (self.steps[slots] >= s.max_steps)
            hopeless = np.zeros(len(slots), dtype=bool)
            if ceilings is not None:
                limit = np.array([ceilings[int(self.index[slot])] for slot in slots], dtype=float)
                per_atom_enthalpy = (raw.energies + pressure_ev * volumes) / natoms
                hopeless = finite & ~converged & (self.steps[slots] >= s.hopeless_after) & (per_atom_enthalpy > limit)
            done = ~finite | converged | out_of_steps | hopeless
            for k in np.flatnonzero(done):
                flag = (
                    'exploded'
                    if not finite[k]
                    else ('converged' if converged[k] else ('hopeless' if hopeless[k] else 'max_steps'))
                )
                pressure = float(np.trace(raw.virials[k]) / (3 * volumes[k]) * EV_PER_A3_IN_GPA)
                self._finish(
                    results,
                    slots[k],
                    flag,
                    positions[k],
                    cells[k],
                    (float(raw.energies[k]), float(volumes[k]), pressure, float(fmax[k]), float(stress_res[k])),
                )

            go = np.flatnonzero(~done)
            if len(go):
                move = slots[go]
                gradient = np.zeros((len(go), self.rows, 3))
                gradient[:, 3:] = -(forces[go] @ deform[go])
                if s.relax_cell:
                    cell_gradient = virial_eff[go] @ np.linalg.inv(np.transpose(deform[go], (0, 2, 1)))
                    gradient[:, :3] = -_expm_frechet_adjoint(log_f[go], cell_gradient) / natoms[go, None, None]
                if s.optimizer == 'lbfgs':
                    self._step_lbfgs(move, gradient)
                else:
                    self._step_fire(move, gradient)
                self.steps[move] += 1
            self.timings['optimizer_s'] += time.perf_counter() - tick
            batch_step += 1
            self.timings['batch_steps'] = batch_step
            if callback is not None:
                callback(batch_step, int(self.active.sum()), len(results))

        self.timings['total_s'] = time.perf_counter() - start_total
        return [results[i] for i in sorted(results)]

    def _check(self, structures: Sequence, first_index: int = 0) -> None:
        for offset, atoms in enumerate(structures):
            where = f'structure {first_index + offset}'
            if len(atoms) == 0:
                raise HydridesInputError(f'{where} has no atoms')
            if not np.all(atoms.pbc) or abs(np.linalg.det(np.asarray(atoms.cell))) < 1e-6:
                raise HydridesInputError(f'{where} is not a 3-D periodic crystal (pbc or cell missing)')
            if not np.all(np.isfinite(atoms.positions)):
                raise HydridesInputError(f'{where} has non-finite positions')
        try:
            self.evaluator.check_numbers([atoms.numbers for atoms in structures])
        except HydridesInputError as exc:
            if first_index:
                raise type(exc)(f'{exc} (input offset {first_index})') from exc
            raise

    def _finish(self, results, slot, flag, positions, cell, values) -> None:
        from ase import Atoms

        atoms = Atoms(numbers=self.numbers[slot], positions=positions, cell=cell, pbc=self.pbc[slot])
        n = len(atoms)
        if values is None:
            energy, volume, pressure, fmax, stress_res = np.nan, abs(np.linalg.det(cell)), np.nan, np.nan, np.nan
        else:
            energy, volume, pressure, fmax, stress_res = values
        enthalpy = energy + self.settings.pressure_gpa / EV_PER_A3_IN_GPA * volume
        trajectory = None
        frames = self.frames[slot]
        if frames is not None:
            trajectory = {
                'steps': np.array([frame[0] for frame in frames], dtype=np.int64),
                'positions': np.array([frame[1] for frame in frames], dtype=float).reshape(-1, n, 3),
                'cells': np.array([frame[2] for frame in frames], dtype=float).reshape(-1, 3, 3),
            }
            self.frames[slot] = None
        results[int(self.index[slot])] = RelaxResult(
            index=int(self.index[slot]),
            atoms=atoms,
            flag=flag,
            n_steps=int(self.steps[slot]),
            energy=energy,
            enthalpy=enthalpy,
            enthalpy_per_atom=enthalpy / n,
            volume=float(volume),
            pressure_gpa=pressure,
            fmax=fmax,
            stress_residual_gpa=stress_res,
            target_pressure_gpa=self.settings.pressure_gpa,
            trajectory=trajectory,
        )
        self.active[slot] = False


def relax_structures(
    structures: Iterable,
    evaluator: BatchEvaluator,
    pressure_gpa: float = 0.0,
    callback: Callable | None = None,
    **settings,
) -> list[RelaxResult]:
    """Relax ``structures`` at ``pressure_gpa`` (GPa) with ``evaluator``; keyword arguments are
    :class:`RelaxSettings` fields (``fmax``, ``stress_tol_gpa``, ``max_steps``, ``optimizer``, ``batch_size``, ...),
    ``ceilings`` and ``trajectory_every`` (see :meth:`BatchRelaxer.relax`)."""
    ceilings = settings.pop('ceilings', None)
    trajectory_every = settings.pop('trajectory_every', 0)
    relaxer = BatchRelaxer(evaluator, RelaxSettings(pressure_gpa=pressure_gpa, **settings))
    return relaxer.relax(structures, callback=callback, ceilings=ceilings, trajectory_every=trajectory_every)
