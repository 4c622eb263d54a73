"""The five reference examples jlangevin grew from, each runnable in a few lines.

Every example module has ``run(*, quick=False, out=None, seed=0) -> Result``: it
reproduces its reference with the reference's parameters, draws the reference's
pictures into ``out`` (a folder; nothing is drawn when ``out`` is ``None``) and
prints a quantitative check. ``quick=True`` is a smaller version of the same
run, used by the test suite. From a shell: ``jlangevin gallery NAME``.

>>> from jlangevin import gallery
>>> gallery.NAMES
('ebm', 'ellipse', 'quartic', 'dice', 'dsm')
>>> result = gallery.run("quartic", quick=True)      # doctest: +SKIP
>>> result.passed                                     # doctest: +SKIP
True

The modules load on first use; ``import jlangevin`` does not import them.
"""

from __future__ import annotations

import importlib
import os

from jlangevin.gallery._result import Check, Result

NAMES = ("ebm", "ellipse", "quartic", "dice", "dsm")

__all__ = ["NAMES", "Check", "Result", "run"]


def run(
    name: str, *, quick: bool = False, out: str | os.PathLike | None = None, seed: int = 0
) -> Result:
    """Run gallery example ``name`` (one of :data:`NAMES`) and return its :class:`Result`.

    Examples
    --------
    >>> from jlangevin import gallery
    >>> gallery.run("dice", quick=True).passed   # doctest: +SKIP
    True
    """
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"`name` must be one of {NAMES}; got {name!r}.")
    module = importlib.import_module(f"jlangevin.gallery.{name}")
    return module.run(quick=quick, out=out, seed=seed)
