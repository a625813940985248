"""Exceptions raised by the pure-Python core on bad input.

All of them derive from :class:`HydridesInputError`, itself a :class:`ValueError`, so callers can catch one class and
show its message to the user as it is.
"""

__all__ = (
    'HydridesInputError',
    'UnknownElementError',
    'CompositionRuleError',
    'StructureReadError',
    'MissingReferenceError',
)


class HydridesInputError(ValueError):
    """Invalid user input: the message says what is wrong and, where possible, how to fix it."""


class UnknownElementError(HydridesInputError):
    """A chemical symbol that is not an element, or not part of the element space in use."""


class CompositionRuleError(HydridesInputError):
    """A composition that breaks the enumeration rules (stoichiometry or hydrogen range), or is malformed."""


class StructureReadError(HydridesInputError):
    """A structure file that is missing, unreadable, or holds an unphysical structure."""


class MissingReferenceError(HydridesInputError):
    """A convex hull that lacks a reference phase it needs, such as the elemental entry of one of its elements."""
