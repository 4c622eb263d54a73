"""What a gallery example returns: its checks and the pictures it wrote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple


class Check(NamedTuple):
    """One quantitative check of a gallery example.

    Attributes
    ----------
    name : what was measured (``"KS distance to the exact CDF"``).
    value : the measured number.
    bound : the bound it must meet.
    passed : whether it met it (the example decides the direction: ``<=`` for
        distances, ``>=`` for p-values).
    detail : how the bound was set (``"3 binomial MCSE"``, ``"p >= 0.001"``).
    """

    name: str
    value: float
    bound: float
    passed: bool
    detail: str = ""

    def line(self) -> str:
        """One printable line: ``PASS name: value (bound; detail)``."""
        mark = "PASS" if self.passed else "FAIL"
        extra = f"; {self.detail}" if self.detail else ""
        return f"{mark}  {self.name}: {self.value:.4g} (bound {self.bound:.4g}{extra})"


class Result(NamedTuple):
    """What a gallery example's ``run`` returns.

    Attributes
    ----------
    name : the example's name (one of ``jlangevin.gallery.NAMES``).
    checks : its quantitative checks.
    figures : paths of the pictures written (empty when ``out`` was ``None``).
    """

    name: str
    checks: tuple[Check, ...]
    figures: tuple[Path, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)

    def report(self) -> str:
        """The checks and figures as printable text."""
        lines = [f"gallery {self.name}: {'PASSED' if self.passed else 'FAILED'}"]
        lines += ["  " + check.line() for check in self.checks]
        lines += [f"  wrote {path}" for path in self.figures]
        return "\n".join(lines)


def out_folder(out: str | os.PathLike | None) -> Path | None:
    """``out`` as a folder that exists (created when missing), or ``None``."""
    if out is None:
        return None
    if not isinstance(out, str | os.PathLike):
        raise TypeError(f"`out` must be a folder path or None; got {out!r:.80}.")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"`out` must be a folder; {str(path)!r} is a file.")
    path.mkdir(parents=True, exist_ok=True)
    return path
