"""Chemical elements and the element space of a hydride search.

The default space is hydrogen plus 28 partner elements (19 metals and 9 non-metals), which gives the 378 A-B pairs of
ternary hydride systems A-B-H. See ``docs/elements.md`` for the reasoning behind the choice.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Iterator

from .errors import UnknownElementError

__all__ = (
    'CHEMICAL_SYMBOLS',
    'HYDROGEN',
    'DEFAULT_METALS',
    'DEFAULT_NONMETALS',
    'DEFAULT_ELEMENTS',
    'ElementSpace',
    'atomic_number',
    'is_metal',
    'validate_symbol',
)

#: Symbols of the elements 1-118, in order of atomic number.
CHEMICAL_SYMBOLS: tuple[str, ...] = (
    'H',
    'He',
    'Li',
    'Be',
    'B',
    'C',
    'N',
    'O',
    'F',
    'Ne',
    'Na',
    'Mg',
    'Al',
    'Si',
    'P',
    'S',
    'Cl',
    'Ar',
    'K',
    'Ca',
    'Sc',
    'Ti',
    'V',
    'Cr',
    'Mn',
    'Fe',
    'Co',
    'Ni',
    'Cu',
    'Zn',
    'Ga',
    'Ge',
    'As',
    'Se',
    'Br',
    'Kr',
    'Rb',
    'Sr',
    'Y',
    'Zr',
    'Nb',
    'Mo',
    'Tc',
    'Ru',
    'Rh',
    'Pd',
    'Ag',
    'Cd',
    'In',
    'Sn',
    'Sb',
    'Te',
    'I',
    'Xe',
    'Cs',
    'Ba',
    'La',
    'Ce',
    'Pr',
    'Nd',
    'Pm',
    'Sm',
    'Eu',
    'Gd',
    'Tb',
    'Dy',
    'Ho',
    'Er',
    'Tm',
    'Yb',
    'Lu',
    'Hf',
    'Ta',
    'W',
    'Re',
    'Os',
    'Ir',
    'Pt',
    'Au',
    'Hg',
    'Tl',
    'Pb',
    'Bi',
    'Po',
    'At',
    'Rn',
    'Fr',
    'Ra',
    'Ac',
    'Th',
    'Pa',
    'U',
    'Np',
    'Pu',
    'Am',
    'Cm',
    'Bk',
    'Cf',
    'Es',
    'Fm',
    'Md',
    'No',
    'Lr',
    'Rf',
    'Db',
    'Sg',
    'Bh',
    'Hs',
    'Mt',
    'Ds',
    'Rg',
    'Cn',
    'Nh',
    'Fl',
    'Mc',
    'Lv',
    'Ts',
    'Og',
)
_ATOMIC_NUMBERS = {symbol: number for number, symbol in enumerate(CHEMICAL_SYMBOLS, start=1)}
_BY_LOWER = {symbol.lower(): symbol for symbol in CHEMICAL_SYMBOLS}

#: Non-metals and metalloids; every other element counts as a metal.
_NONMETALS = frozenset(
    (
        'H',
        'He',
        'B',
        'C',
        'N',
        'O',
        'F',
        'Ne',
        'Si',
        'P',
        'S',
        'Cl',
        'Ar',
        'Ge',
        'As',
        'Se',
        'Br',
        'Kr',
        'Sb',
        'Te',
        'I',
        'Xe',
        'At',
        'Rn',
        'Ts',
        'Og',
    )
)

HYDROGEN = 'H'

#: The 19 metals of the default space: those named by the 2025 ternary-hydride study plus Ba, Ti, Hf and Nb.
DEFAULT_METALS: tuple[str, ...] = (
    'Li',
    'Na',
    'K',
    'Be',
    'Mg',
    'Ca',
    'Sr',
    'Ba',
    'Sc',
    'Y',
    'La',
    'Ce',
    'Lu',
    'Th',
    'Ti',
    'Zr',
    'Hf',
    'Nb',
    'Al',
)

#: The 9 non-metals of the default space.
DEFAULT_NONMETALS: tuple[str, ...] = ('B', 'C', 'N', 'O', 'F', 'Si', 'P', 'S', 'Cl')

#: The 29 elements of the default space: H first, then the metals, then the non-metals.
DEFAULT_ELEMENTS: tuple[str, ...] = (HYDROGEN, *DEFAULT_METALS, *DEFAULT_NONMETALS)


def _suggestion(symbol: str, candidates: Iterable[str] | None = None) -> str:
    """Return a ``" (did you mean 'X'?)"`` hint for a mistyped symbol, or an empty string."""
    text = str(symbol).strip()
    exact = _BY_LOWER.get(text.lower())
    if exact is not None and (candidates is None or exact in candidates):
        return f" (did you mean '{exact}'?)"
    if candidates is not None:
        close = difflib.get_close_matches(text.capitalize(), list(candidates), n=1, cutoff=0.5)
        if close:
            return f" (did you mean '{close[0]}'?)"
    return ''


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is the symbol of a chemical element, else raise :class:`UnknownElementError`.

    Symbols are case-sensitive (``'Co'`` is cobalt, ``'CO'`` is not a symbol); the error suggests the right case.
    """
    if not isinstance(symbol, str) or symbol not in _ATOMIC_NUMBERS:
        raise UnknownElementError(f"unknown element symbol '{symbol}'{_suggestion(symbol)}")
    return symbol


def atomic_number(symbol: str) -> int:
    """Return the atomic number of the element ``symbol``."""
    return _ATOMIC_NUMBERS[validate_symbol(symbol)]


def is_metal(symbol: str) -> bool:
    """Return whether ``symbol`` is a metal (metalloids such as B, Si, Ge count as non-metals)."""
    return validate_symbol(symbol) not in _NONMETALS


class ElementSpace:
    """An ordered set of elements that always contains hydrogen; its A-B pairs define the ternary systems A-B-H.

    >>> space = ElementSpace.default()
    >>> len(space), space.num_pairs
    (29, 378)
    >>> ElementSpace(['Ca', 'Y', 'La']).pairs()
    [('Ca', 'Y'), ('Ca', 'La'), ('Y', 'La')]
    """

    def __init__(self, symbols: Iterable[str]):
        if isinstance(symbols, str):
            symbols = [part for part in symbols.replace(',', ' ').split() if part]
        ordered: list[str] = [HYDROGEN]
        for symbol in symbols:
            symbol = validate_symbol(symbol.strip() if isinstance(symbol, str) else symbol)
            if symbol not in ordered:
                ordered.append(symbol)
        if len(ordered) < 2:
            raise UnknownElementError('an element space needs at least one element besides hydrogen')
        self._elements = tuple(ordered)

    @classmethod
    def default(cls) -> ElementSpace:
        """The default 29-element space (H, 19 metals, 9 non-metals)."""
        return cls(DEFAULT_ELEMENTS)

    @property
    def elements(self) -> tuple[str, ...]:
        """All elements, hydrogen first."""
        return self._elements

    @property
    def partners(self) -> tuple[str, ...]:
        """The elements other than hydrogen, in the order given."""
        return self._elements[1:]

    @property
    def metals(self) -> tuple[str, ...]:
        """The partner elements that are metals."""
        return tuple(symbol for symbol in self.partners if is_metal(symbol))

    @property
    def nonmetals(self) -> tuple[str, ...]:
        """The partner elements that are non-metals or metalloids."""
        return tuple(symbol for symbol in self.partners if not is_metal(symbol))

    @property
    def num_pairs(self) -> int:
        """Number of unordered A-B pairs of partner elements."""
        count = len(self.partners)
        return count * (count - 1) // 2

    def iter_pairs(self) -> Iterator[tuple[str, str]]:
        """Yield every unordered A-B pair, A before B in the order of the space."""
        return itertools.combinations(self.partners, 2)

    def pairs(self) -> list[tuple[str, str]]:
        """List every unordered A-B pair, A before B in the order of the space."""
        return list(self.iter_pairs())

    def validate(self, symbol: str) -> str:
        """Return ``symbol`` if it belongs to the space, else raise :class:`UnknownElementError`."""
        text = symbol if isinstance(symbol, str) else str(symbol)
        if text in self._elements:
            return text
        validate_symbol(text)
        raise UnknownElementError(
            f"element '{text}' is not in the element space ({len(self)} elements: "
            f'{", ".join(self._elements)}){_suggestion(text, self._elements)}'
        )

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._elements

    def __iter__(self) -> Iterator[str]:
        return iter(self._elements)

    def __len__(self) -> int:
        return len(self._elements)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ElementSpace) and set(self._elements) == set(other._elements)

    def __hash__(self) -> int:
        return hash(frozenset(self._elements))

    def __repr__(self) -> str:
        return f'ElementSpace({" ".join(self._elements)})'
