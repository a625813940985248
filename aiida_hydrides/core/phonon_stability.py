"""Dynamical stability from ph.x output: read the phonon frequencies of each q-point and flag imaginary modes.

ph.x prints imaginary frequencies as negative numbers, both in the dynamical-matrix files (``fildyn1..N``) and in its
standard output (``Diagonalizing the dynamical matrix`` blocks). matdyn.x later sets the el-ph linewidth of such modes to
zero, which hides them from α²F; they must therefore be caught on the ph.x frequencies themselves.

A mode counts as imaginary when ω < −``threshold_cm`` (default 20 cm⁻¹) at a q-point farther than ``gamma_radius``
(default 0.05, in units of 2π/alat, as ph.x prints q) from Γ. Near Γ, small negative acoustic frequencies are numerical
noise of the acoustic sum rule and are ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable

from .units import BOHR_TO_ANGSTROM

__all__ = (
    'CM_TO_THZ',
    'BOHR_TO_ANGSTROM',
    'QPointModes',
    'ImaginaryMode',
    'parse_dyn_file',
    'parse_ph_stdout',
    'find_imaginary_modes',
    'stability_summary',
)

#: 1 cm⁻¹ in THz.
CM_TO_THZ = 0.0299792458
#: 1 bohr in Å.

DEFAULT_THRESHOLD_CM = 20.0
DEFAULT_GAMMA_RADIUS = 0.05

_Q_LINE = re.compile(r'q\s*=\s*\(\s*([-+\d.eEdD]+)\s+([-+\d.eEdD]+)\s+([-+\d.eEdD]+)\s*\)')
_FREQ_LINE = re.compile(r'(?:freq|omega)\s*\(\s*(\d+)\s*\)\s*=\s*(\S+)\s*\[THz\]\s*=\s*(\S+)\s*\[cm-1\]')


@dataclasses.dataclass(frozen=True)
class QPointModes:
    """The phonon frequencies of one q-point.

    ``q_cart`` is in Cartesian units of 2π/alat (as ph.x prints it); ``alat_angstrom`` is ph.x's alat when known.
    Unreadable frequencies (Fortran overflow ``*****``) are NaN.
    """

    q_cart: tuple[float, float, float]
    frequencies_cm: tuple[float, ...]
    frequencies_thz: tuple[float, ...]
    alat_angstrom: float | None = None
    label: str | None = None

    @property
    def q_norm(self) -> float:
        """``|q|`` in units of 2π/alat."""
        return math.sqrt(sum(x * x for x in self.q_cart))

    @property
    def q_norm_inv_angstrom(self) -> float | None:
        """``|q|`` in 1/Å, when alat is known."""
        if not self.alat_angstrom:
            return None
        return self.q_norm * 2.0 * math.pi / self.alat_angstrom

    @property
    def min_frequency_cm(self) -> float:
        """The lowest frequency in cm⁻¹ (NaN when a frequency could not be read)."""
        if any(math.isnan(f) for f in self.frequencies_cm):
            return math.nan
        return min(self.frequencies_cm) if self.frequencies_cm else math.nan


@dataclasses.dataclass(frozen=True)
class ImaginaryMode:
    """One mode found dynamically unstable."""

    q_index: int
    q_cart: tuple[float, float, float]
    mode: int
    frequency_cm: float
    frequency_thz: float
    label: str | None = None

    def describe(self) -> str:
        """A one-line human-readable description, naming the q-point and the frequency."""
        q = ', '.join(f'{x:.4f}' for x in self.q_cart)
        where = f' ({self.label})' if self.label else ''
        if math.isnan(self.frequency_cm):
            return f'unreadable frequency of mode {self.mode} at q #{self.q_index} = ({q}) 2pi/alat{where}'
        return (
            f'omega = {self.frequency_cm:.1f} cm^-1 ({self.frequency_thz:.3f} THz), mode {self.mode}, '
            f'at q #{self.q_index} = ({q}) 2pi/alat{where}'
        )


def _to_float(text: str) -> float:
    try:
        return float(text.replace('D', 'E').replace('d', 'e'))
    except ValueError:
        return math.nan


def _read_text(path_or_text) -> str:
    text = str(path_or_text)
    if '\n' not in text:
        import pathlib

        path = pathlib.Path(text)
        if path.is_file():
            return path.read_text()
    return text


def _diagonalized_blocks(lines: list[str]) -> list[tuple[tuple[float, float, float], list[tuple[int, float, float]]]]:
    """Return (q, [(mode, THz, cm-1), ...]) for every 'Diagonalizing the dynamical matrix' block of ``lines``."""
    blocks = []
    index = 0
    while index < len(lines):
        if 'Diagonalizing the dynamical matrix' not in lines[index]:
            index += 1
            continue
        q = None
        modes = []
        index += 1
        while index < len(lines):
            line = lines[index]
            if q is None:
                match = _Q_LINE.search(line)
                if match:
                    q = tuple(_to_float(match.group(i)) for i in (1, 2, 3))
            match = _FREQ_LINE.search(line)
            if match:
                modes.append((int(match.group(1)), _to_float(match.group(2)), _to_float(match.group(3))))
            elif modes and line.strip().startswith('*' * 10):
                break
            elif 'Diagonalizing the dynamical matrix' in line:
                index -= 1
                break
            index += 1
        if q is None or not modes:
            raise ValueError('a "Diagonalizing the dynamical matrix" block without q-point or frequencies')
        blocks.append((q, modes))
        index += 1
    return blocks


def _alat_from_dyn_header(lines: list[str]) -> float | None:
    """alat in Å from the third line of a dynamical-matrix file (``ntyp nat ibrav celldm(1..6)``)."""
    if len(lines) < 3:
        return None
    fields = lines[2].split()
    if len(fields) < 4:
        return None
    celldm1 = _to_float(fields[3])
    return celldm1 * BOHR_TO_ANGSTROM if celldm1 and not math.isnan(celldm1) else None


def parse_dyn_file(path_or_text, label: str | None = None) -> QPointModes:
    """Parse a ph.x dynamical-matrix file (``fildyn<N>``, N ≥ 1) into its q-point and frequencies.

    :param path_or_text: a file path, or the file content.
    :raises ValueError: if the content holds no diagonalized dynamical matrix (e.g. the ``fildyn0`` q-point list).
    """
    lines = _read_text(path_or_text).splitlines()
    if not lines or 'Dynamical matrix file' not in lines[0]:
        raise ValueError('not a ph.x dynamical-matrix file: the first line is not "Dynamical matrix file"')
    blocks = _diagonalized_blocks(lines)
    if not blocks:
        raise ValueError('the dynamical-matrix file has no "Diagonalizing the dynamical matrix" block')
    q, modes = blocks[0]
    return QPointModes(
        q_cart=q,
        frequencies_cm=tuple(m[2] for m in modes),
        frequencies_thz=tuple(m[1] for m in modes),
        alat_angstrom=_alat_from_dyn_header(lines),
        label=label,
    )


def parse_ph_stdout(path_or_text) -> list[QPointModes]:
    """Parse every diagonalized dynamical matrix of a ph.x standard output, one entry per computed q-point."""
    text = _read_text(path_or_text)
    alat = None
    match = re.search(r'lattice parameter \(alat\)\s*=\s*([\d.]+)\s*a\.u\.', text)
    if match:
        alat = float(match.group(1)) * BOHR_TO_ANGSTROM
    result = []
    for number, (q, modes) in enumerate(_diagonalized_blocks(text.splitlines()), start=1):
        result.append(
            QPointModes(
                q_cart=q,
                frequencies_cm=tuple(m[2] for m in modes),
                frequencies_thz=tuple(m[1] for m in modes),
                alat_angstrom=alat,
                label=f'q-point {number} of ph.x output',
            )
        )
    return result


def find_imaginary_modes(
    qpoints: Iterable[QPointModes],
    threshold_cm: float = DEFAULT_THRESHOLD_CM,
    gamma_radius: float = DEFAULT_GAMMA_RADIUS,
) -> list[ImaginaryMode]:
    """Return the modes with ω < −``threshold_cm`` at q-points with ``|q|`` ≥ ``gamma_radius`` (2π/alat).

    Unreadable (NaN) frequencies are returned as well: they cannot be shown to be stable.
    """
    if threshold_cm < 0:
        raise ValueError(f'threshold_cm must be >= 0, got {threshold_cm}')
    found = []
    for q_index, qpoint in enumerate(qpoints, start=1):
        if qpoint.q_norm < gamma_radius:
            continue
        for mode, (freq_cm, freq_thz) in enumerate(zip(qpoint.frequencies_cm, qpoint.frequencies_thz), start=1):
            if math.isnan(freq_cm) or freq_cm < -threshold_cm:
                found.append(ImaginaryMode(q_index, qpoint.q_cart, mode, freq_cm, freq_thz, qpoint.label))
    return found


def stability_summary(
    qpoints: Iterable[QPointModes],
    threshold_cm: float = DEFAULT_THRESHOLD_CM,
    gamma_radius: float = DEFAULT_GAMMA_RADIUS,
) -> dict:
    """A JSON-serialisable verdict: ``stable``, the lowest frequency per q-point and the imaginary modes found."""
    qpoints = list(qpoints)
    imaginary = find_imaginary_modes(qpoints, threshold_cm, gamma_radius)
    finite = [q.min_frequency_cm for q in qpoints if not math.isnan(q.min_frequency_cm)]
    return {
        'stable': not imaginary,
        'threshold_cm': threshold_cm,
        'gamma_radius_2pi_over_alat': gamma_radius,
        'number_of_qpoints': len(qpoints),
        'min_frequency_cm': min(finite) if finite else None,
        'qpoints_2pi_over_alat': [list(q.q_cart) for q in qpoints],
        'min_frequency_cm_per_qpoint': [
            None if math.isnan(q.min_frequency_cm) else q.min_frequency_cm for q in qpoints
        ],
        'imaginary_modes': [
            {
                'q_index': m.q_index,
                'q_2pi_over_alat': list(m.q_cart),
                'mode': m.mode,
                'frequency_cm': None if math.isnan(m.frequency_cm) else m.frequency_cm,
                'frequency_thz': None if math.isnan(m.frequency_thz) else m.frequency_thz,
                'description': m.describe(),
            }
            for m in imaginary
        ],
    }
