"""The LAM layer: energy, forces, stress and enthalpy of many structures at once from a DeePMD model.

:class:`DeepMDEvaluator` wraps one ``deepmd.infer.DeepPot`` (frozen ``.pth``, checkpoint ``.pt`` or TensorFlow ``.pb``;
multi-head models with a chosen head) and evaluates a whole batch of structures per call: frames with equal atom counts
go to the model together, compositions mixed (``mixed_type``). :func:`load_model` keeps one evaluator per model file and
head in the process, since loading a model costs seconds.

Every evaluator (also :class:`~aiida_hydrides.core.lam.ase_backend.AseEvaluator`, which runs any ASE calculator)
offers the same two levels:

- :meth:`BatchEvaluator.evaluate`: a list of :class:`ase.Atoms` and a pressure in GPa -> a list of :class:`Evaluation`
  (energy, forces, stress in GPa, pressure, volume, enthalpy per atom ``H = E + PV``);
- :meth:`BatchEvaluator.compute`: plain arrays -> energies, forces and virials, the fast path of the relaxation engine.

Inputs are checked before any compute: the pressure must be a plain number in GPa, every element must be in the
model's type map, and the model file must really be a DeePMD model.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import pathlib
import time
import zipfile
from collections.abc import Sequence

import numpy as np

from ..units import EV_PER_A3_IN_GPA, check_pressure
from .errors import LamModelError, UnknownElementError
from .threads import configure_threads

__all__ = (
    'Evaluation',
    'RawBatch',
    'BatchEvaluator',
    'DeepMDEvaluator',
    'MODEL_SUFFIXES',
    'configure_threads',
    'load_model',
    'check_model_file',
    'model_type_map',
)

#: Environment variable choosing DeePMD's neighbour-list builder (``auto``, the default: the O(N) cell list of
#: vesin, a dependency; ``native``: DeePMD's dense all-pairs builder, several times slower on small periodic cells at
#: pressure, where a cell has hundreds of periodic images within the cut-off). For comparisons and diagnosis.
NLIST_BACKEND_VARIABLE = 'HYDRIDES_NLIST_BACKEND'

#: The model-file suffixes DeePMD reads: frozen PyTorch, PyTorch checkpoint, frozen TensorFlow.
MODEL_SUFFIXES = ('.pth', '.pt', '.pb')


@dataclasses.dataclass
class Evaluation:
    """Model outputs for one structure at a target pressure.

    ``stress_gpa`` is the 3x3 Cauchy stress in GPa with the ASE sign (tensile positive); ``pressure_gpa`` is
    ``-trace(stress)/3``, the pressure the structure exerts; ``enthalpy_per_atom`` is ``(E + P_target V) / N`` in eV.
    """

    energy: float
    forces: np.ndarray
    stress_gpa: np.ndarray
    pressure_gpa: float
    volume: float
    natoms: int
    target_pressure_gpa: float
    enthalpy: float
    enthalpy_per_atom: float

    @property
    def energy_per_atom(self) -> float:
        return self.energy / self.natoms

    @property
    def fmax(self) -> float:
        """Largest atomic force norm (eV/Å)."""
        return float(np.linalg.norm(self.forces, axis=1).max()) if self.natoms else 0.0


@dataclasses.dataclass
class RawBatch:
    """Raw outputs for a batch: ``energies`` (S,) eV, ``forces`` list of (n_i, 3) eV/Å, ``virials`` (S, 3, 3) eV.

    The virial is ``-V * stress`` (positive under compression), as DeePMD returns it.
    """

    energies: np.ndarray
    forces: list
    virials: np.ndarray


class BatchEvaluator(abc.ABC):
    """Energy, forces and virial of many periodic structures per call."""

    #: Chemical symbols the model knows (``None``: any element).
    type_map: list[str] | None = None
    #: A short description for logs and results.
    description: str = ''

    def __init__(self):
        self.timings = {'model_s': 0.0, 'model_calls': 0, 'frames': 0}

    # -- checks ------------------------------------------------------------------------------------------------
    def check_numbers(self, numbers_list: Sequence[np.ndarray]) -> None:
        """Raise :class:`UnknownElementError` if a structure has an element outside :attr:`type_map`."""
        if self.type_map is None:
            return
        from ase.data import chemical_symbols

        known = set(self.type_map)
        for index, numbers in enumerate(numbers_list):
            unknown = sorted({chemical_symbols[int(z)] for z in np.unique(numbers)} - known)
            if unknown:
                raise UnknownElementError(
                    f'structure {index} contains {", ".join(unknown)}, which the model does not know; '
                    f'its type map is {self.type_map}'
                )

    def check_structures(self, structures: Sequence) -> None:
        """Raise :class:`UnknownElementError` if any structure has an element outside :attr:`type_map`."""
        self.check_numbers([atoms.numbers for atoms in structures])

    # -- computing ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _compute(
        self, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray], cells: Sequence[np.ndarray]
    ) -> RawBatch:
        """Evaluate the structures (already checked)."""

    def compute(
        self, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray], cells: Sequence[np.ndarray]
    ) -> RawBatch:
        """Energies, forces and virials of the structures given as arrays (one call of the model per batch)."""
        start = time.perf_counter()
        result = self._compute(numbers, positions, cells)
        self.timings['model_s'] += time.perf_counter() - start
        self.timings['model_calls'] += 1
        self.timings['frames'] += len(numbers)
        return result

    def evaluate(self, structures: Sequence, pressure_gpa: float = 0.0) -> list[Evaluation]:
        """Evaluate :class:`ase.Atoms` objects at the target pressure ``pressure_gpa`` (GPa).

        A public entry point that takes a raw pressure, so it checks it once with
        :func:`~aiida_hydrides.core.units.check_pressure`; the relaxation engine calls :meth:`compute` instead, with
        the pressure its validated settings hold.
        """
        pressure = check_pressure(pressure_gpa, 'pressure_gpa')
        structures = list(structures)
        self.check_structures(structures)
        if not structures:
            return []
        raw = self.compute(
            [a.numbers for a in structures], [a.positions for a in structures], [np.asarray(a.cell) for a in structures]
        )
        results = []
        for atoms, energy, forces, virial in zip(structures, raw.energies, raw.forces, raw.virials):
            volume = abs(float(np.linalg.det(np.asarray(atoms.cell))))
            stress = -virial / volume * EV_PER_A3_IN_GPA
            enthalpy = float(energy) + pressure / EV_PER_A3_IN_GPA * volume
            results.append(
                Evaluation(
                    energy=float(energy),
                    forces=np.asarray(forces),
                    stress_gpa=stress,
                    pressure_gpa=float(-np.trace(stress) / 3),
                    volume=volume,
                    natoms=len(atoms),
                    target_pressure_gpa=pressure,
                    enthalpy=enthalpy,
                    enthalpy_per_atom=enthalpy / len(atoms),
                )
            )
        return results


def quiet_torch_logs() -> None:
    """Silence torch and deepmd start-up warnings (no Triton on CPU, default batch size) so that command output stays machine-readable."""
    import logging

    for name in ('torch._library.triton', 'torch._inductor', 'torch.utils.cpp_extension', 'deepmd.utils.batch_size'):
        logging.getLogger(name).setLevel(logging.ERROR)


def check_model_file(path: str | os.PathLike) -> pathlib.Path:
    """Return ``path`` if it looks like a DeePMD model file, else raise :class:`LamModelError` (no model loaded)."""
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES and not path.is_dir():
        raise LamModelError(
            f'{path} is not a DeePMD model file: the name must end in {", ".join(MODEL_SUFFIXES)} '
            '(frozen PyTorch .pth, checkpoint .pt, frozen TensorFlow .pb)'
        )
    if not path.exists():
        raise LamModelError(f'model file not found: {path}')
    if path.is_dir():
        raise LamModelError(f'{path} is a directory, not a DeePMD model file')
    if path.stat().st_size == 0:
        raise LamModelError(f'the model file {path} is empty')
    if suffix in ('.pth', '.pt') and not zipfile.is_zipfile(path):
        raise LamModelError(
            f'{path} is not a DeePMD model: PyTorch model files are zip archives and this one is not '
            '(a truncated download, or another kind of file renamed?)'
        )
    if suffix == '.pb':
        import importlib.util

        if importlib.util.find_spec('tensorflow') is None:
            raise LamModelError(
                f'{path} is a TensorFlow model (.pb) but TensorFlow is not installed; convert it with '
                '`dp convert-backend model.pb model.pth` where TensorFlow is available, or install tensorflow'
            )
    return path


def model_type_map(model: str | os.PathLike, head: str | None = None) -> list[str]:
    """The type map of the DeePMD model file ``model``, checking that it is one, as a command checks it before it
    launches jobs: a frozen ``.pth`` whose model definition holds one type map is read without loading torch or
    deepmd; any other file (a checkpoint, a ``.pb``, a multi-head model, a zip archive without a DeePMD model
    definition) is loaded with deepmd (a few seconds).

    :raises LamModelError: a file that is not a DeePMD model (or lacks ``head``), with the reason.
    """
    path = check_model_file(model)
    if head is None:
        from .model_definition import stored_list_values

        found = stored_list_values(path, 'type_map')
        if found and len(found) == 1:
            return [str(symbol) for symbol in found[0]]
    return list(DeepMDEvaluator(path, head=head).type_map)


class _DevicePinned:
    """Stands in for the model module of a DeePMD PyTorch ``DeepEval``: ``.to(device)`` returns the module at once.

    DeePMD moves the model to its device on every ``eval`` call, a walk over all submodules that costs several
    milliseconds per call (a third of a compressed model's call on a small cell); the model already lives on that
    device, so the walk is skipped. Everything else goes to the module itself.
    """

    def __init__(self, module):
        object.__setattr__(self, 'module', module)

    def to(self, *args, **kwargs):  # noqa: ARG002 - the module is on its device since loading
        return self.module

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)

    def __setattr__(self, name, value):
        setattr(self.module, name, value)


def _trim_pytorch_call_overhead(deep_pot) -> bool:
    """Cut the fixed cost of each ``eval`` call of a PyTorch-backend ``DeepPot``; ``False`` for other backends.

    - DeePMD's per-call ``model.to(device)`` is skipped (see :class:`_DevicePinned`);
    - TorchScript runs without the profiling graph executor: it re-specialises a scripted model for new input shapes
      and the first calls at a new shape run several times slower, while the relaxation engine's batches change
      shape as structures converge and its workers are short-lived processes. The plain executor runs the same graph
      at a steady speed, as fast or faster here.
    """
    deep_eval = getattr(deep_pot, 'deep_eval', None)
    module = getattr(deep_eval, 'dp', None)
    if module is None or not type(deep_eval).__module__.startswith('deepmd.pt') or not hasattr(module, 'to'):
        return False
    deep_eval.dp = _DevicePinned(module)
    import torch

    setter = getattr(torch._C, '_set_graph_executor_optimize', None)  # noqa: SLF001 - no public switch exists
    if setter is not None:
        setter(False)
    return True


class DeepMDEvaluator(BatchEvaluator):
    """A DeePMD model (``deepmd.infer.DeepPot``) evaluating batches of structures.

    Frames of similar size go to the model together: each group is one ``DeepPot.eval`` call with per-frame atom
    types (``mixed_type``), smaller frames padded with phantom atoms (type -1, which DeePMD's PyTorch backend masks
    out of neighbour lists, energies and forces). ``max_padding`` bounds the padded share of a call (0 groups by
    exact atom count); the default 0.25 turns the 33 sizes of an 8-40 atom batch into 6 calls.
    """

    def __init__(
        self, model: str | os.PathLike, head: str | None = None, threads: int | None = None, max_padding: float = 0.25
    ):
        super().__init__()
        self.max_padding = float(max_padding)
        path = check_model_file(model)
        configure_threads(threads)
        quiet_torch_logs()
        try:
            from deepmd.infer import DeepPot
        except ImportError as exc:  # pragma: no cover - deepmd-kit is a dependency
            raise LamModelError(f'deepmd-kit cannot be imported ({exc}); install deepmd-kit 3.x') from exc
        kwargs = {'head': head} if head is not None else {}
        backend = os.environ.get(NLIST_BACKEND_VARIABLE)
        if backend:
            kwargs['nlist_backend'] = backend
        try:
            self.dp = DeepPot(str(path), **kwargs)
        except Exception as exc:  # noqa: BLE001 - deepmd raises many kinds on a bad file or head
            text = f'{type(exc).__name__}: {exc}'.strip()
            if 'head' in text.lower() or 'branch' in text.lower():
                hint = f' (head={head!r}); choose one of the model heads, e.g. from `dp --pt show {path} model-branch`'
            else:
                hint = ''
            raise LamModelError(f'cannot load {path} as a DeePMD model{hint}: {text[:500]}') from exc
        if getattr(self.dp, 'deep_eval', None) is not None and 'Property' in type(self.dp).__name__:
            raise LamModelError(f'{path} is not an energy model')
        self.device_pinned = _trim_pytorch_call_overhead(self.dp)
        self.path = path
        self.source_model = path
        self.compressed = False
        self.precision = 'float64'
        self.head = head
        self.timings['nlist_s'] = 0.0
        self._time_neighbour_lists()
        self.type_map = list(self.dp.get_type_map())
        self.rcut = float(self.dp.get_rcut())
        self._type_index = {symbol: i for i, symbol in enumerate(self.type_map)}
        self.description = f'DeePMD {path.name}' + (f' head {head}' if head else '')
        from ase.data import chemical_symbols

        self._z_to_type = np.full(len(chemical_symbols), -1, dtype=np.int64)
        for symbol, index in self._type_index.items():
            if symbol in chemical_symbols:
                self._z_to_type[chemical_symbols.index(symbol)] = index

    def _time_neighbour_lists(self) -> None:
        """Count the seconds DeePMD spends building neighbour lists when it builds them outside the model
        (the O(N) vesin strategy of the PyTorch backend); with the in-model builder they stay part of the model call."""
        builder = getattr(getattr(self.dp, 'deep_eval', None), '_nlist_builder', None)
        if builder is None or not hasattr(builder, 'build'):
            self.timings.pop('nlist_s', None)
            return
        original = builder.build
        timings = self.timings

        def timed_build(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timings['nlist_s'] += time.perf_counter() - start

        builder.build = timed_build

    def buckets(self, sizes: Sequence[int]) -> list[tuple[int, list[int]]]:
        """Group frame indices into model calls: ``(padded atom count, members)`` per call.

        Frames are taken largest first; a frame joins the current call while it needs at most
        ``max_padding`` (a fraction of the call's atom count) phantom atoms, else it opens a new call.
        """
        groups: list[tuple[int, list[int]]] = []
        for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
            if groups and sizes[index] >= (1.0 - self.max_padding) * groups[-1][0]:
                groups[-1][1].append(index)
            else:
                groups.append((sizes[index], [index]))
        return groups

    def _compute(self, numbers, positions, cells) -> RawBatch:
        count = len(numbers)
        energies = np.zeros(count)
        virials = np.zeros((count, 3, 3))
        forces: list = [None] * count
        sizes = [len(z) for z in numbers]
        for natoms, members in self.buckets(sizes):
            frames = len(members)
            coords = np.zeros((frames, natoms, 3))
            types = np.full((frames, natoms), -1, dtype=np.int64)  # -1: phantom atom (padding)
            for k, i in enumerate(members):
                coords[k, : sizes[i]] = positions[i]
                types[k, : sizes[i]] = self._z_to_type[np.asarray(numbers[i])]
            boxes = np.array([cells[i] for i in members], dtype=float).reshape(frames, 9)
            energy, force, virial = self.dp.eval(coords.reshape(frames, natoms * 3), boxes, types, mixed_type=True)[:3]
            energy = np.asarray(energy).reshape(frames)
            force = np.asarray(force).reshape(frames, natoms, 3)
            virial = np.asarray(virial).reshape(frames, 3, 3)
            for k, i in enumerate(members):
                energies[i] = energy[k]
                forces[i] = force[k, : sizes[i]]
                virials[i] = virial[k]
        return RawBatch(energies=energies, forces=forces, virials=virials)


_MODEL_CACHE: dict[tuple, DeepMDEvaluator] = {}


def load_model(
    model: str | os.PathLike,
    head: str | None = None,
    threads: int | None = None,
    compress: bool = False,
    precision: str = 'float64',
) -> DeepMDEvaluator:
    """The process-wide :class:`DeepMDEvaluator` for ``model`` (and ``head``), loaded on first use.

    ``compress``: evaluate the compressed copy of a frozen ``.pth`` model (``dp --pt compress``, made once and cached,
    see :mod:`.compress`): same results, several times faster; other models are used as they are. ``precision``
    ``'float32'``: evaluate a float32 copy of a frozen single-head ``.pth`` model (see :mod:`.compress`).
    """
    path = check_model_file(model).resolve()
    key = (str(path), path.stat().st_mtime_ns, head, bool(compress), precision)
    if key not in _MODEL_CACHE:
        source = path
        if head is None and (compress or precision != 'float64'):
            from .compress import inference_model

            source = inference_model(path, compress=compress, precision=precision)
        evaluator = DeepMDEvaluator(source, head=head, threads=threads)
        evaluator.source_model = path
        evaluator.compressed = compress and source != path
        evaluator.precision = precision if source != path else 'float64'
        notes = [note for note, on in (('compressed', evaluator.compressed), (precision, precision != 'float64')) if on]
        if source != path and notes:
            evaluator.description = f'DeePMD {path.name} ({", ".join(notes)})'
        _MODEL_CACHE[key] = evaluator
    return _MODEL_CACHE[key]
