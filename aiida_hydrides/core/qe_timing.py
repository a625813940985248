"""The CPU time that a Quantum ESPRESSO program prints at the end of its output.

Every QE program ends its standard output with a clock line such as ``PHONON       :   9m30.21s CPU  22m23.35s WALL``.
The CPU time is that of one MPI process; unlike the wall time it hardly grows when other jobs share the cores, so it
is the fair measure of what a protocol costs on a busy machine.
"""

from __future__ import annotations

import re

__all__ = ('QE_PROGRAMS', 'clock_seconds', 'cpu_seconds')

#: the program names of the final clock line: pw.x, ph.x, q2r.x, matdyn.x, projwfc.x
QE_PROGRAMS = ('PWSCF', 'PHONON', 'Q2R', 'MATDYN', 'PROJWFC')
_CLOCK_LINE = re.compile(rf'^\s*({"|".join(QE_PROGRAMS)})\s*:\s*(.+?)CPU\s+(.+?)WALL\s*$', re.MULTILINE)


def clock_seconds(text: str) -> float:
    """QE's clock format (``1h 2m 3.4s``, ``12m34.56s``, ``16.40s``) in seconds."""
    total = 0.0
    for value, unit in re.findall(r'([\d.]+)\s*([hms])', text):
        total += float(value) * {'h': 3600.0, 'm': 60.0, 's': 1.0}[unit]
    return total


def cpu_seconds(output: str) -> float | None:
    """The CPU seconds of the last clock line of a QE program's output, or None when it has none (a run that did not
    end normally)."""
    matches = _CLOCK_LINE.findall(output)
    return clock_seconds(matches[-1][1]) if matches else None
