"""The pslibrary parameter table: for each element and kind (``us``/``paw``) everything ld1.x needs.

The table ``pslibrary_1.0.0_pbe.json`` is derived from the pslibrary 1.0.0 inputs by
``scripts/derive_pslibrary_table.py``; the package needs no other file to generate its pseudopotentials.
"""

from __future__ import annotations

import functools
import json
import pathlib

#: the default table shipped with the package
DEFAULT_TABLE = pathlib.Path(__file__).with_name('pslibrary_1.0.0_pbe.json')

#: pseudopotential kinds and the pslibrary name of each
KINDS = {'us': 'rrkjus', 'paw': 'kjpaw'}


class PseudoTableError(KeyError):
    """An element or kind that the parameter table does not hold."""

    def __str__(self):  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ''


def check_kind(kind: str) -> str:
    """Return ``kind`` lower-cased, or raise ``ValueError`` if it is not ``us`` or ``paw``."""
    normalized = str(kind).lower()
    if normalized not in KINDS:
        raise ValueError(f'unknown pseudopotential kind {kind!r}; choose one of {sorted(KINDS)}')
    return normalized


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict:
    return json.loads(pathlib.Path(path).read_text())


def load_table(path: str | pathlib.Path | None = None) -> dict:
    """Load a parameter table (the packaged pslibrary 1.0.0 PBE table by default); the result is shared, do not mutate."""
    return _load(str(path or DEFAULT_TABLE))


def available_elements(kind: str = 'us', table: dict | None = None) -> list[str]:
    """Elements for which the table holds a pseudopotential of ``kind``."""
    kind = check_kind(kind)
    table = table if table is not None else load_table()
    return sorted(element for element, entries in table['elements'].items() if kind in entries)


def get_entry(element: str, kind: str = 'us', table: dict | None = None) -> dict:
    """The table entry (``name``, ``input``, ``inputp``, ``wavefunctions``, ...) of ``element`` for ``kind``."""
    kind = check_kind(kind)
    table = table if table is not None else load_table()
    entries = table['elements'].get(element)
    if not entries or kind not in entries:
        excluded = table.get('excluded', {}).get(element)
        reason = f': {excluded}' if excluded else ''
        raise PseudoTableError(
            f'the pseudopotential table {table.get("name", "")!r} has no {kind.upper()} entry for {element!r}{reason}'
        )
    return entries[kind]
