"""Compositions of ternary hydrides A_mB_nH_x: the value object, formula and system parsing, enumeration rules,
enumeration of a system or of a whole element space, and the reference phases a convex hull of a system needs.

The default rules are those of the 2025 deep-learning search for ternary hydrides: 1 <= m, n <= 4 and
3(m+n) <= x <= 10(m+n). They give 576 (m, n, x) per A-B pair, of which 473 are distinct reduced formulas.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from functools import reduce

from .elements import CHEMICAL_SYMBOLS, HYDROGEN, ElementSpace, validate_symbol
from .errors import CompositionRuleError, UnknownElementError

__all__ = (
    'Composition',
    'CompositionRules',
    'ReferenceRules',
    'ReferencePhases',
    'DEFAULT_RULES',
    'DEFAULT_REFERENCE_RULES',
    'parse_formula',
    'parse_system',
    'system_label',
    'iter_compositions',
    'enumerate_compositions',
    'count_compositions',
    'iter_space_compositions',
    'count_space_compositions',
    'reference_compositions',
)

_FORMULA_RE = re.compile(r'(?:[A-Z][a-z]?\d*)+')
_TOKEN_RE = re.compile(r'([A-Z][a-z]?)(\d*)')


class Composition:
    """An immutable chemical composition with integer counts, written with hydrogen last.

    >>> comp = Composition.from_formula('Ca2Y2H24')
    >>> comp.formula, comp.reduced_formula, comp.m, comp.n, comp.x, comp.num_atoms
    ('Ca2Y2H24', 'CaYH12', 2, 2, 24, 28)

    ``m`` and ``n`` are the counts of the first and second non-hydrogen element (0 when absent) and ``x`` the number
    of hydrogen atoms. Equality and hashing ignore the order of the elements.
    """

    __slots__ = ('_counts',)

    def __init__(self, counts: Mapping[str, int] | Iterable[tuple[str, int]]):
        items = counts.items() if isinstance(counts, Mapping) else counts
        merged: dict[str, int] = {}
        for symbol, count in items:
            validate_symbol(symbol)
            count = _whole_count(symbol, count)
            if count < 0:
                raise CompositionRuleError(f'the count of {symbol} must not be negative, got {count}')
            if count:
                merged[symbol] = merged.get(symbol, 0) + count
        if not merged:
            raise CompositionRuleError('a composition needs at least one atom')
        ordered = {symbol: count for symbol, count in merged.items() if symbol != HYDROGEN}
        if HYDROGEN in merged:
            ordered[HYDROGEN] = merged[HYDROGEN]
        self._counts = ordered

    @classmethod
    def from_formula(cls, formula: str) -> Composition:
        """Parse a formula such as ``'CaYH12'`` or ``'Ca3YH24'``; see :func:`parse_formula`."""
        return parse_formula(formula)

    @classmethod
    def ternary(cls, a: str, b: str, m: int, n: int, x: int, rules: CompositionRules | None = None) -> Composition:
        """Return A_mB_nH_x after checking it against ``rules`` (default :data:`DEFAULT_RULES`)."""
        a, b = _check_pair(a, b)
        (rules or DEFAULT_RULES).check(m, n, x)
        return cls(((a, m), (b, n), (HYDROGEN, x)))

    @property
    def counts(self) -> dict[str, int]:
        """Element -> number of atoms (a copy), hydrogen last."""
        return dict(self._counts)

    @property
    def elements(self) -> tuple[str, ...]:
        """The elements, hydrogen last."""
        return tuple(self._counts)

    @property
    def partners(self) -> tuple[str, ...]:
        """The elements other than hydrogen."""
        return tuple(symbol for symbol in self._counts if symbol != HYDROGEN)

    @property
    def m(self) -> int:
        """Count of the first non-hydrogen element (0 if there is none)."""
        partners = self.partners
        return self._counts[partners[0]] if partners else 0

    @property
    def n(self) -> int:
        """Count of the second non-hydrogen element (0 if there is none)."""
        partners = self.partners
        return self._counts[partners[1]] if len(partners) > 1 else 0

    @property
    def x(self) -> int:
        """Number of hydrogen atoms."""
        return self._counts.get(HYDROGEN, 0)

    @property
    def num_atoms(self) -> int:
        """Total number of atoms."""
        return sum(self._counts.values())

    @property
    def hydrogen_share(self) -> float:
        """Share of hydrogen atoms, N_H / N (not the atomic-H fraction of a structure)."""
        return self.x / self.num_atoms

    @property
    def factor(self) -> int:
        """Greatest common divisor of the counts: the number of formula units of the reduced formula."""
        return reduce(math.gcd, self._counts.values())

    def reduced(self) -> Composition:
        """The composition divided by :attr:`factor`."""
        factor = self.factor
        return Composition({symbol: count // factor for symbol, count in self._counts.items()})

    @property
    def formula(self) -> str:
        """Formula with counts of 1 omitted, e.g. ``'Ca2Y2H24'``."""
        return ''.join(f'{symbol}{count if count != 1 else ""}' for symbol, count in self._counts.items())

    @property
    def reduced_formula(self) -> str:
        """Formula of the reduced composition, e.g. ``'CaYH12'``."""
        return self.reduced().formula

    def fraction(self, symbol: str) -> float:
        """Atomic fraction of ``symbol`` (0 when absent)."""
        return self._counts.get(symbol, 0) / self.num_atoms

    def as_dict(self) -> dict:
        """A JSON-serialisable summary."""
        return {
            'formula': self.formula,
            'reduced_formula': self.reduced_formula,
            'counts': self.counts,
            'm': self.m,
            'n': self.n,
            'x': self.x,
            'num_atoms': self.num_atoms,
            'hydrogen_share': self.hydrogen_share,
        }

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Composition):
            return self._counts == other._counts
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._counts.items()))

    def __str__(self) -> str:
        return self.formula

    def __repr__(self) -> str:
        return f"Composition('{self.formula}')"


def parse_formula(formula: str) -> Composition:
    """Parse a chemical formula without brackets, such as ``'CaYH12'``, ``'Ca3YH24'`` or ``'H'``.

    Raises :class:`CompositionRuleError` for malformed text and :class:`UnknownElementError` for unknown symbols.
    """
    if isinstance(formula, Composition):
        return formula
    text = str(formula).strip().replace(' ', '')
    if not text or not _FORMULA_RE.fullmatch(text):
        raise CompositionRuleError(
            f"cannot parse the formula '{formula}': write element symbols with their counts, e.g. 'CaYH12'"
        )
    counts: list[tuple[str, int]] = []
    for symbol, digits in _TOKEN_RE.findall(text):
        if symbol not in _KNOWN:
            raise UnknownElementError(_unknown_in_formula(symbol, formula))
        count = int(digits) if digits else 1
        if count == 0:
            raise CompositionRuleError(f"the formula '{formula}' has a zero count for {symbol}")
        counts.append((symbol, count))
    return Composition(counts)


def _unknown_in_formula(symbol: str, formula: str) -> str:
    try:
        validate_symbol(symbol)
    except UnknownElementError as exc:
        return f"{exc} in the formula '{formula}'"
    return f"unknown element symbol '{symbol}' in the formula '{formula}'"  # pragma: no cover


def _whole_count(symbol: str, count) -> int:
    """Return ``count`` as an int if it is a whole number, else raise :class:`CompositionRuleError`."""
    try:
        value = int(count)
        whole = not isinstance(count, bool | str) and value == count
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise CompositionRuleError(f'the count of {symbol} must be a whole number, got {count!r}')
    return value


_KNOWN = frozenset(CHEMICAL_SYMBOLS)


def _check_pair(a: str, b: str, space: ElementSpace | None = None) -> tuple[str, str]:
    """Validate the two partner elements of a ternary system."""
    for symbol in (a, b):
        if space is not None:
            space.validate(symbol)
        else:
            validate_symbol(symbol)
        if symbol == HYDROGEN:
            raise CompositionRuleError('the partner elements A and B of an A-B-H system must not be hydrogen')
    if a == b:
        raise CompositionRuleError(f"the system needs two different elements, got '{a}' twice")
    return a, b


def parse_system(system: str | Iterable[str], space: ElementSpace | None = None) -> tuple[str, str]:
    """Return the partner elements (A, B) of a ternary system written ``'Ca-Y'``, ``'CaY'``, ``'Ca Y'``, ``'Ca,Y'``
    or ``'Ca-Y-H'`` (or given as a pair of symbols), in the order given.

    With ``space``, both elements must belong to it.
    """
    if isinstance(system, str):
        text = system.strip()
        if any(char.isdigit() for char in text):
            raise CompositionRuleError(
                f"'{system}' looks like a formula, not a system: give the two partner elements, e.g. 'Ca-Y'"
            )
        parts = [part for part in re.split(r'[\s,;/_\-]+', text) if part]
        if len(parts) == 1:
            parts = re.findall(r'[A-Z][a-z]*|[a-z]+', text)
            if ''.join(parts) != text:
                raise CompositionRuleError(f"cannot parse the system '{system}': write it as 'A-B', e.g. 'Ca-Y'")
    else:
        parts = [str(part).strip() for part in system]
    if len(parts) == 3 and HYDROGEN in parts:
        parts = [part for part in parts if part != HYDROGEN] if parts.count(HYDROGEN) == 1 else parts
    if len(parts) != 2:
        raise CompositionRuleError(
            f"the system '{system}' must name exactly two elements besides hydrogen, e.g. 'Ca-Y' (got {len(parts)})"
        )
    return _check_pair(parts[0], parts[1], space)


def system_label(a: str, b: str) -> str:
    """The label ``'A-B'`` of a system."""
    return f'{a}-{b}'


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CompositionRuleError(f'{name} must be a whole number >= 1, got {value!r}')
    return value


def _ratio(name: str, value) -> Fraction:
    try:
        ratio = Fraction(value).limit_denominator(1000)
    except (TypeError, ValueError):
        raise CompositionRuleError(f'{name} must be a number, got {value!r}') from None
    if ratio < 0:
        raise CompositionRuleError(f'{name} must not be negative, got {value!r}')
    return ratio


@dataclasses.dataclass(frozen=True)
class CompositionRules:
    """Rules of the enumeration of A_mB_nH_x: ``1 <= m <= max_m``, ``1 <= n <= max_n`` and
    ``min_h_ratio * (m+n) <= x <= max_h_ratio * (m+n)``.
    """

    max_m: int = 4
    max_n: int = 4
    min_h_ratio: float = 3
    max_h_ratio: float = 10

    def __post_init__(self):
        _positive_int('max_m', self.max_m)
        _positive_int('max_n', self.max_n)
        low, high = _ratio('min_h_ratio', self.min_h_ratio), _ratio('max_h_ratio', self.max_h_ratio)
        if low > high:
            raise CompositionRuleError(
                f'min_h_ratio ({self.min_h_ratio}) must not exceed max_h_ratio ({self.max_h_ratio})'
            )

    def x_range(self, m: int, n: int) -> range:
        """The allowed numbers of hydrogen atoms for given ``m`` and ``n``."""
        metals = m + n
        low = math.ceil(_ratio('min_h_ratio', self.min_h_ratio) * metals)
        high = math.floor(_ratio('max_h_ratio', self.max_h_ratio) * metals)
        return range(max(low, 1), high + 1)

    def check(self, m: int, n: int, x: int) -> None:
        """Raise :class:`CompositionRuleError` unless A_mB_nH_x obeys the rules."""
        for name, value, limit in (('m', m, self.max_m), ('n', n, self.max_n)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise CompositionRuleError(f'{name} must be a whole number, got {value!r}')
            if not 1 <= value <= limit:
                raise CompositionRuleError(f'{name}={value} is outside the rules: 1 <= {name} <= {limit}')
        if isinstance(x, bool) or not isinstance(x, int):
            raise CompositionRuleError(f'x must be a whole number, got {x!r}')
        allowed = self.x_range(m, n)
        if x not in allowed:
            raise CompositionRuleError(
                f'x={x} is outside the hydrogen range for m={m}, n={n}: {allowed.start} <= x <= {allowed.stop - 1} '
                f'({self.min_h_ratio:g}(m+n) <= x <= {self.max_h_ratio:g}(m+n))'
            )

    def check_composition(self, composition: Composition | str) -> Composition:
        """Return ``composition`` if it is a ternary hydride A_mB_nH_x that obeys the rules (as written, unreduced)."""
        composition = parse_formula(composition)
        if len(composition.partners) != 2 or composition.x == 0:
            raise CompositionRuleError(
                f"'{composition.formula}' is not a ternary hydride A_mB_nH_x (two elements besides hydrogen)"
            )
        self.check(composition.m, composition.n, composition.x)
        return composition

    def triples(self) -> Iterator[tuple[int, int, int]]:
        """Yield every allowed (m, n, x), m then n then x ascending."""
        for m in range(1, self.max_m + 1):
            for n in range(1, self.max_n + 1):
                for x in self.x_range(m, n):
                    yield m, n, x

    def count(self, distinct: bool = False) -> int:
        """Number of compositions per A-B pair; with ``distinct``, of distinct reduced formulas."""
        if not distinct:
            return sum(len(self.x_range(m, n)) for m in range(1, self.max_m + 1) for n in range(1, self.max_n + 1))
        return len({_reduce_triple(*triple) for triple in self.triples()})

    def as_dict(self) -> dict:
        """The rules as a JSON-serialisable dictionary."""
        return dataclasses.asdict(self)


def _reduce_triple(m: int, n: int, x: int) -> tuple[int, int, int]:
    factor = math.gcd(m, n, x)
    return m // factor, n // factor, x // factor


@dataclasses.dataclass(frozen=True)
class ReferenceRules:
    """Rules for the reference phases of the hull of an A-B-H system.

    Binary hydrides A_kH_y: ``1 <= k <= max_hydride_k`` and ``min_hydride_ratio <= y/k <= max_hydride_ratio``.
    Alloys A_kB_l: ``1 <= k, l <= max_alloy_k``. All as distinct reduced formulas. The defaults give 55 hydrides per
    element (from AH to AH10, e.g. A3H8, A4H15) and 11 alloys per pair.
    """

    max_hydride_k: int = 4
    min_hydride_ratio: float = 1
    max_hydride_ratio: float = 10
    max_alloy_k: int = 4
    include_alloys: bool = True

    def __post_init__(self):
        _positive_int('max_hydride_k', self.max_hydride_k)
        _positive_int('max_alloy_k', self.max_alloy_k)
        low, high = self._bounds()
        if low > high:
            raise CompositionRuleError(
                f'min_hydride_ratio ({self.min_hydride_ratio}) must not exceed max_hydride_ratio '
                f'({self.max_hydride_ratio})'
            )

    def _bounds(self) -> tuple[Fraction, Fraction]:
        return _ratio('min_hydride_ratio', self.min_hydride_ratio), _ratio('max_hydride_ratio', self.max_hydride_ratio)

    def hydrides(self, element: str) -> list[Composition]:
        """Distinct reduced binary hydrides of ``element``, by increasing hydrogen content."""
        low, high = self._bounds()
        ratios = set()
        for k in range(1, self.max_hydride_k + 1):
            for y in range(max(math.ceil(low * k), 1), math.floor(high * k) + 1):
                ratios.add(Fraction(y, k))
        return [Composition(((element, r.denominator), (HYDROGEN, r.numerator))) for r in sorted(ratios)]

    def alloys(self, a: str, b: str) -> list[Composition]:
        """Distinct reduced alloys A_kB_l, by increasing share of B."""
        if not self.include_alloys:
            return []
        ratios = {Fraction(j, k + j) for k in range(1, self.max_alloy_k + 1) for j in range(1, self.max_alloy_k + 1)}
        result = []
        for share in sorted(ratios):
            k, j = share.denominator - share.numerator, share.numerator
            result.append(Composition(((a, k), (b, j))))
        return result

    def as_dict(self) -> dict:
        """The rules as a JSON-serialisable dictionary."""
        return dataclasses.asdict(self)


#: The enumeration rules of the 2025 ternary-hydride study.
DEFAULT_RULES = CompositionRules()

#: Default rules for the reference phases of a hull.
DEFAULT_REFERENCE_RULES = ReferenceRules()


@dataclasses.dataclass(frozen=True)
class ReferencePhases:
    """The compositions, besides the ternaries, that the convex hull of an A-B-H system needs."""

    system: tuple[str, str]
    elements: tuple[Composition, ...]
    hydrides: tuple[Composition, ...]
    alloys: tuple[Composition, ...]

    def all(self) -> list[Composition]:
        """Elements, then binary hydrides, then alloys."""
        return [*self.elements, *self.hydrides, *self.alloys]

    def __len__(self) -> int:
        return len(self.elements) + len(self.hydrides) + len(self.alloys)

    def as_dict(self) -> dict:
        """Formulas by kind, JSON-serialisable."""
        return {
            'system': system_label(*self.system),
            'elements': [comp.formula for comp in self.elements],
            'hydrides': [comp.formula for comp in self.hydrides],
            'alloys': [comp.formula for comp in self.alloys],
        }


def _resolve(system, rules):
    pair = parse_system(system)
    return pair, rules if rules is not None else DEFAULT_RULES


def iter_compositions(
    system: str | Iterable[str], rules: CompositionRules | None = None, distinct: bool = False
) -> Iterator[Composition]:
    """Yield the ternary compositions A_mB_nH_x of ``system`` (e.g. ``'Ca-Y'``), m then n then x ascending.

    With ``distinct``, yield each reduced formula once, reduced, at its first occurrence.
    """
    (a, b), rules = _resolve(system, rules)
    seen: set[tuple[int, int, int]] = set()
    for m, n, x in rules.triples():
        if distinct:
            key = _reduce_triple(m, n, x)
            if key in seen:
                continue
            seen.add(key)
            m, n, x = key
        yield Composition(((a, m), (b, n), (HYDROGEN, x)))


def enumerate_compositions(
    system: str | Iterable[str], rules: CompositionRules | None = None, distinct: bool = False
) -> list[Composition]:
    """List the ternary compositions of ``system``; see :func:`iter_compositions`."""
    return list(iter_compositions(system, rules, distinct))


def count_compositions(
    system: str | Iterable[str] | None = None, rules: CompositionRules | None = None, distinct: bool = False
) -> int:
    """Number of ternary compositions per system (576 with the default rules; 473 distinct reduced formulas)."""
    if system is not None:
        parse_system(system)
    return (rules or DEFAULT_RULES).count(distinct)


def iter_space_compositions(
    space: ElementSpace | None = None, rules: CompositionRules | None = None, distinct: bool = False
) -> Iterator[Composition]:
    """Lazily yield the ternary compositions of every A-B pair of ``space`` (default: the 29-element space)."""
    space = space or ElementSpace.default()
    for pair in space.iter_pairs():
        yield from iter_compositions(pair, rules, distinct)


def count_space_compositions(
    space: ElementSpace | None = None, rules: CompositionRules | None = None, distinct: bool = False
) -> int:
    """Number of ternary compositions of the whole space, without enumerating them (217728 by default)."""
    space = space or ElementSpace.default()
    return space.num_pairs * (rules or DEFAULT_RULES).count(distinct)


def reference_compositions(system: str | Iterable[str], rules: ReferenceRules | None = None) -> ReferencePhases:
    """The reference phases of the hull of an A-B-H system: the elements A, B and H, the binary hydrides of A and
    of B, and the A-B alloys, following ``rules`` (default :data:`DEFAULT_REFERENCE_RULES`).
    """
    a, b = parse_system(system)
    rules = rules or DEFAULT_REFERENCE_RULES
    return ReferencePhases(
        system=(a, b),
        elements=tuple(Composition({symbol: 1}) for symbol in (a, b, HYDROGEN)),
        hydrides=(*rules.hydrides(a), *rules.hydrides(b)),
        alloys=tuple(rules.alloys(a, b)),
    )
