"""Helpers the benchmark scripts share: the environment on record, where results go."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import pathlib
import platform
import subprocess
from typing import Any

import jax

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

__all__ = ["RESULTS", "check_bars", "environment", "save"]


def environment() -> dict[str, Any]:
    """Device, host and library versions, for the record.

    Returns
    -------
    dict
        Date, JAX backend and device, device count, CPU name and core count,
        platform, the versions of Python, JAX, jlangevin, the peers and NumPy
        (``None`` for a library that does not import), and the checkout's
        revision (see :func:`git_revision`).
    """
    versions = {"python": platform.python_version(), "jax": jax.__version__}
    for name in ("jaxlib", "jlangevin", "blackjax", "tensorflow_probability", "numpy"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:
            versions[name] = None
    device = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "num_devices": jax.device_count(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
        "git": git_revision(),
    }


def git_revision() -> str | None:
    """The repository's commit, with ``+dirty`` when the tracked files differ from it.

    Returns
    -------
    str or None
        ``None`` outside a git checkout (or without git).
    """
    here = pathlib.Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def device_line(env: dict[str, Any]) -> str:
    """``"device: cpu (cpu, 2 cores: AMD EPYC); jax 0.10.2; checkout <commit>"``, for footers.

    Parameters
    ----------
    env : dict
        What :func:`environment` returned.

    Returns
    -------
    str
        The device, backend, host cores, JAX version and (where known) the
        checkout's revision in one phrase.
    """
    line = (
        f"device: {env['device']} ({env['backend']}, {env['cpu_count']} cores: {env['cpu']}); "
        f"jax {env['versions']['jax']}"
    )
    return line + (f"; checkout {env['git']}" if env.get("git") else "")


def save(name: str, report: dict[str, Any], markdown: str, figure: Any | None = None) -> None:
    """Write ``results/<name>.json``, ``.md`` and (given a matplotlib figure) ``.png``.

    Parameters
    ----------
    name : str
        The files' stem inside ``benchmarks/results/``.
    report : dict
        What was measured; written as JSON.
    markdown : str
        The table; written as ``<name>.md``.
    figure : matplotlib.figure.Figure, optional
        Saved as ``<name>.png`` when given.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=120, bbox_inches="tight")
    print(f"wrote {RESULTS / name}.{{json,md{',png' if figure is not None else ''}}}")


def check_bars(
    rows: list[dict[str, Any]],
    group: str,
    value: str,
    labels: dict[str, str],
    ylabel: str,
    title: str,
) -> Any:
    """Per ``row[group]``, one bar of ``row[value]`` per sampler (log axis); x marks a failure.

    A row with ``"crash"`` gets no bar and an x at the axis' foot; a row whose
    ``passed`` is false gets an x on its bar. ``labels`` names the samplers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(dict.fromkeys(r[group] for r in rows))
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    by_key = {(r[group], r["sampler"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(names) + 2), 5))
    x = np.arange(len(names))
    width = 0.8 / max(len(samplers), 1)
    for i, sampler in enumerate(samplers):
        offset = x + (i - (len(samplers) - 1) / 2) * width
        found = [by_key.get((n, sampler)) for n in names]
        values = [np.nan if r is None or "crash" in r else r[value] for r in found]
        ax.bar(offset, values, width, label=labels[sampler])
        for xi, r, v in zip(offset, found, values, strict=True):
            if r is not None and "crash" in r:  # no bar: the marker at the axis' foot
                ax.plot(xi, 0.03, "kx", ms=7, transform=ax.get_xaxis_transform())
            elif r is not None and not r["passed"]:
                ax.plot(xi, v, "kx", ms=7)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_xticks(x, names, rotation=70, ha="right", fontsize=7)
    ax.legend(
        title="x: fails R-hat < 1.01 or |z| < 4\n(or crashed)",
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    ax.set_title(title)
    return fig
