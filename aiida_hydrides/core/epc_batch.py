"""Pure logic of the EPC batch (``hydrides.epc.batch``): the fingerprint of its settings, the statuses of its
structures and their counts. No AiiDA here: the work chain (:mod:`aiida_hydrides.workflows.epc.batch`) uses it.

A structure of a batch ends in one of four statuses:

``done``
    relaxed (unless the batch does not relax) and λ, ω_log and Tc computed;
``unstable``
    ``hydrides.epc`` stopped with ``ERROR_DYNAMICALLY_UNSTABLE`` (410): a result, not a failure; the imaginary modes are
    recorded;
``failed``
    the relaxation or the EPC failed otherwise (its exit status and message are recorded), or the structure could not
    be prepared (not a 3D crystal, an element the pseudopotential family lacks);
``skipped``
    an earlier batch with the same settings already computed it (``done`` or ``unstable``): its result is reused.

The fingerprint (:func:`settings_hash`) is the SHA-256 of the settings that change the result (pressure, relaxation on
or off, protocols and their overrides, pseudopotential family, cutoffs), written as canonical JSON, so that two batches
with the same settings find each other's results and a change of any of them computes anew. Codes, resources and
``max_concurrent`` change how a result is computed, not what it is, and are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

__all__ = (
    'FINISHED_STATUSES',
    'REUSABLE_STATUSES',
    'STATUSES',
    'count_statuses',
    'epc_settings',
    'relax_settings',
    'settings_hash',
)

#: every status a structure of a batch can end in
STATUSES = ('done', 'unstable', 'failed', 'skipped')
#: the statuses of an earlier EPC that a later batch with the same settings reuses instead of computing again
REUSABLE_STATUSES = ('done', 'unstable')
#: the statuses that count as a result (the batch exits 0 when at least one structure ends in one of them)
FINISHED_STATUSES = ('done', 'unstable', 'skipped')


def _canonical(value):
    """``value`` with string keys and tuples as lists, ready for canonical JSON."""
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def settings_hash(settings: dict) -> str:
    """A 16-character hexadecimal fingerprint of ``settings`` (SHA-256 of their canonical JSON: sorted keys)."""
    text = json.dumps(_canonical(settings), sort_keys=True, separators=(',', ':'), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def relax_settings(
    pressure_gpa: float,
    protocol: str,
    overrides: dict | None,
    pseudo_family: str,
    cutoffs: Iterable[float] | None,
) -> dict:
    """The settings that decide a relaxed structure: pressure (GPa), relaxation protocol and overrides, family and
    explicit cutoffs (Ry)."""
    return {
        'pressure_gpa': float(pressure_gpa),
        'protocol': protocol,
        'overrides': dict(overrides or {}),
        'pseudo_family': pseudo_family,
        'cutoffs': None if cutoffs is None else [float(value) for value in cutoffs],
    }


def epc_settings(relax: dict | None, protocol: str, overrides: dict | None, pseudo_family: str, cutoffs) -> dict:
    """The settings that decide an EPC result of a batch: those of the relaxation (``None`` when the batch does not
    relax) and the EPC protocol, overrides, family and cutoffs."""
    return {
        'relax': relax,
        'epc': {
            'protocol': protocol,
            'overrides': dict(overrides or {}),
            'pseudo_family': pseudo_family,
            'cutoffs': None if cutoffs is None else [float(value) for value in cutoffs],
        },
    }


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """How many structures ended in each status, every status of :data:`STATUSES` present.

    :raises ValueError: for an unknown status.
    """
    counts = dict.fromkeys(STATUSES, 0)
    for status in statuses:
        if status not in counts:
            raise ValueError(f'unknown batch status {status!r}; one of {", ".join(STATUSES)}')
        counts[status] += 1
    return counts
