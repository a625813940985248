"""Crystal-structure search (CALYPSO-like) for one composition under pressure. Pure Python, no AiiDA.

Modules: :mod:`.generator` (symmetric random structures with PyXtal), :mod:`.volumes` (additive volume model),
:mod:`.distances` (minimum-distance limits), :mod:`.fingerprint` (fingerprints and deduplication),
:mod:`.evolution` (PSO, heredity and mutations), :mod:`.seeding` (prototype seeds), :mod:`.orderings` (ordered
derivatives of a prototype, with icet), :mod:`.result` (the record of a search) and :mod:`.engine`
(:class:`SearchSettings` and :func:`run_search`). See ``docs/search.md``.

The main names are available lazily from this package, so importing it loads neither PyXtal, icet nor the LAM.
"""

import importlib

_LAZY = {
    'SearchSettings': 'engine',
    'run_search': 'engine',
    'SearchResult': 'result',
    'Minimum': 'result',
    'RandomStructureGenerator': 'generator',
    'formula_unit': 'generator',
    'DistanceLimits': 'distances',
    'fingerprint': 'fingerprint',
    'cosine_distance': 'fingerprint',
    'Deduplicator': 'fingerprint',
    'make_offspring': 'evolution',
    'prototype_seeds': 'seeding',
    'enumerate_orderings': 'orderings',
    'estimate_volume': 'volumes',
}

__all__ = tuple(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
