"""Calcfunction of the EPC batch (``hydrides.epc.batch``): its summary, stored as its output."""

from aiida import orm
from aiida.engine import calcfunction

__all__ = ('collect_epc_batch',)


@calcfunction
def collect_epc_batch(summary):
    """The summary of an EPC batch: per structure its status (done, unstable, failed, skipped), λ, ω_log, Tc, the
    imaginary modes of an unstable one, the exit status of a failed one and the wall times; plus the counts per status
    and the settings (the ``summary`` input as assembled by the work chain, stored as its output)."""
    return orm.Dict(summary.get_dict())
