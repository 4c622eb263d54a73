"""The number and option checks of the diagnostics: the package-wide ones."""

from jlangevin._checks import as_int, as_number, one_of

__all__ = ["as_int", "as_number", "one_of"]
