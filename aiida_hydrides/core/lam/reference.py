"""The plain one-structure-at-a-time ASE relaxation the batched engine is checked and benchmarked against.

``FrechetCellFilter(atoms, scalar_pressure=P)`` with ASE's ``LBFGS`` or ``FIRE``, stopped by the same per-structure
criterion as :class:`~aiida_hydrides.core.lam.relax.BatchRelaxer` (atomic fmax in eV/Å and stress residual in GPa).
"""

from __future__ import annotations

import time

import numpy as np

from ..units import EV_PER_A3_IN_GPA
from .relax import RelaxResult, RelaxSettings

__all__ = ('TimedCalculator', 'ase_relax')


class TimedCalculator:
    """Wrap an ASE calculator instance so that the seconds spent in its ``calculate`` are counted in :attr:`seconds`."""

    def __init__(self, calculator):
        self.calculator = calculator
        self.seconds = 0.0
        self.calls = 0
        original = calculator.calculate

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        calculator.calculate = timed


def ase_relax(atoms, calculator, settings: RelaxSettings | None = None, index: int = 0, **kwargs) -> RelaxResult:
    """Relax a copy of ``atoms`` with ``calculator`` in an ASE ``FrechetCellFilter``; returns a :class:`RelaxResult`.

    The optimizer (``lbfgs`` or ``fire``), its ``maxstep``/memory/alpha/dt, the tolerances and ``max_steps`` are
    taken from ``settings`` (plus keyword overrides), so the run matches the batched engine's one for one.
    """
    import dataclasses

    from ase import units
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE, LBFGS

    s = dataclasses.replace(settings or RelaxSettings(), **kwargs).validated()
    atoms = atoms.copy()
    atoms.calc = calculator
    pressure_ev = s.pressure_gpa * units.GPa
    target = FrechetCellFilter(atoms, scalar_pressure=pressure_ev) if s.relax_cell else atoms
    if s.optimizer == 'lbfgs':
        optimizer = LBFGS(
            target, logfile=None, maxstep=s.maxstep, memory=s.lbfgs_memory, alpha=s.lbfgs_alpha, damping=s.lbfgs_damping
        )
    else:
        optimizer = FIRE(target, logfile=None, maxstep=s.maxstep, dt=s.fire_dt, dtmax=s.fire_dtmax)

    flag = 'max_steps'
    fmax = stress_res = np.nan
    for _ in optimizer.irun(fmax=0.0, steps=s.max_steps):
        forces = atoms.get_forces()
        fmax = float(np.linalg.norm(forces, axis=1).max())
        stress = atoms.get_stress(voigt=False) / units.GPa
        stress_res = float(np.abs(stress + s.pressure_gpa * np.eye(3)).max()) if s.relax_cell else 0.0
        if not (np.isfinite(fmax) and np.isfinite(stress_res)):
            flag = 'exploded'
            break
        if fmax < s.fmax and stress_res < s.stress_tol_gpa:
            flag = 'converged'
            break
    energy = float(atoms.get_potential_energy())
    volume = float(atoms.get_volume())
    pressure = float(-np.trace(atoms.get_stress(voigt=False)) / 3 / units.GPa)
    enthalpy = energy + s.pressure_gpa / EV_PER_A3_IN_GPA * volume
    final = atoms.copy()
    final.calc = None
    return RelaxResult(
        index=index,
        atoms=final,
        flag=flag,
        n_steps=int(optimizer.nsteps),
        energy=energy,
        enthalpy=enthalpy,
        enthalpy_per_atom=enthalpy / len(atoms),
        volume=volume,
        pressure_gpa=pressure,
        fmax=fmax,
        stress_residual_gpa=stress_res,
        target_pressure_gpa=s.pressure_gpa,
    )
