"""Small helpers for the text that commands and reports print."""

from __future__ import annotations

__all__ = ('count',)

#: irregular plurals of the nouns that messages count
_PLURALS = {
    'minimum': 'minima',
    'process': 'processes',
    'sub-process': 'sub-processes',
    'active process': 'active processes',
}


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun`` in the right number: ``count(1, 'minimum')`` is ``'1 minimum'``, ``count(2,
    'minimum')`` is ``'2 minima'``, ``count(0, 'job')`` is ``'0 jobs'``."""
    if number == 1:
        return f'{number} {noun}'
    return f'{number} {plural or _PLURALS.get(noun, noun + "s")}'
