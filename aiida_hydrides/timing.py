"""What a finished process cost: the CPU time its Quantum ESPRESSO runs report (:mod:`aiida_hydrides.core.qe_timing`).

Wall times (``mtime - ctime``) grow when other jobs share the cores; the CPU times that the QE programs print do not,
so comparisons of protocols use both.
"""

from __future__ import annotations

from aiida_hydrides.core.qe_timing import cpu_seconds

__all__ = ('qe_cpu_seconds',)

#: the file the QE calculations of aiida-quantumespresso retrieve their standard output to
QE_OUTPUT_FILE = 'aiida.out'


def qe_cpu_seconds(node) -> float | None:
    """CPU seconds (per MPI process) that the QE programs run by ``node`` and its descendants print, summed; None when
    none of them printed one."""
    from aiida import orm

    calculations = [node] if isinstance(node, orm.CalcJobNode) else list(node.called_descendants)
    times = []
    for calc in calculations:
        if not isinstance(calc, orm.CalcJobNode) or 'retrieved' not in calc.outputs:
            continue
        try:
            text = calc.outputs.retrieved.base.repository.get_object_content(QE_OUTPUT_FILE)
        except (FileNotFoundError, OSError):
            continue
        seconds = cpu_seconds(text)
        if seconds is not None:
            times.append(seconds)
    return round(sum(times), 1) if times else None
