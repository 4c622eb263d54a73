"""Helpers the benchmark scripts share: where results go and how they are written."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from jlangevin.bench import environment

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

__all__ = ["RESULTS", "environment", "save"]


def save(name: str, report: dict[str, Any], markdown: str, figure: Any | None = None) -> None:
    """Write ``results/<name>.json``, ``.md`` and (given a matplotlib figure) ``.png``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=120, bbox_inches="tight")
    print(f"wrote {RESULTS / name}.{{json,md{',png' if figure is not None else ''}}}")
