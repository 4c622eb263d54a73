"""First-call latency: jl.run's trace + compile + run, cold, against BlackJAX's jitted loop.

For ULA, MALA and SGLD on a small problem (10 dimensions, 64 chains, 100
steps, every position kept), each implementation's runner (the same code the
throughput benchmark times, ``_runners.py``) is called twice in a *fresh*
Python process: the first call's wall time is what a user waits for before
the first draw (tracing, XLA compilation, the run itself), the second is the
steady state, for reference. One process per (implementation, kernel) and
repeat, so that no JIT cache is warm (JAX's persistent compilation cache is
turned off in the child); imports and building the sampler happen before the
clock starts. Medians over the fresh processes are quoted (3 by default),
repeats interleaved across cells.

Writes ``results/compile_time.{json,md}`` with the device and library versions.

Usage: ``python benchmarks/compile_time.py [--processes 3] [--kernels ula mala]
[--implementations jlangevin blackjax floor tfp] [--dim 10 --chains 64 --steps 100]``;
``--quick`` runs one process per cell and writes nothing (the table ``jlangevin
bench`` prints).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
from _common import device_line, environment, save
from _runners import KERNELS, LABELS, PEER_MODULES, RUNNERS, available_peers, make_problem

SCRIPT = Path(__file__).resolve()
#: Implementations that can be timed here (``jlangevin_lp`` is not: MALA has none).
CHOICES = ("jlangevin", "blackjax", "floor", "tfp")
DEFAULT_IMPLEMENTATIONS = ("jlangevin", "blackjax")
#: The small problem: (dimension, chains, steps).
SMALL = (10, 64, 100)
#: Seconds a child process may take before it counts as failed.
CHILD_TIMEOUT_S = 600


# --------------------------------------------------------------------------- #
# One measurement (in the child process)
# --------------------------------------------------------------------------- #
def first_two_calls(
    implementation: str, kernel: str, dim: int, chains: int, num_steps: int
) -> dict[str, float]:
    """Wall time of the first and the second call of a runner, in this process.

    Meant for a fresh process (see :func:`in_fresh_process`): the start, the
    key and the runner are built first, then the clock runs over
    ``run(key, x0)`` until its result is ready, twice.

    Parameters
    ----------
    implementation : str
        A key of ``RUNNERS``.
    kernel : {"ula", "mala", "sgld"}
    dim, chains, num_steps : int
        The problem.

    Returns
    -------
    dict
        ``{"first_s": ..., "second_s": ...}``.
    """
    jax.config.update("jax_enable_compilation_cache", False)
    problem = make_problem(dim, chains, num_steps)
    key, x0 = jax.block_until_ready((jax.random.key(0), problem.start()))
    run = RUNNERS[implementation](kernel, problem)
    times = []
    for _ in range(2):
        start = time.perf_counter()
        jax.block_until_ready(run(key, x0))
        times.append(time.perf_counter() - start)
    return {"first_s": times[0], "second_s": times[1]}


def in_fresh_process(
    implementation: str, kernel: str, dim: int, chains: int, num_steps: int
) -> dict[str, float]:
    """:func:`first_two_calls` in a new Python process (every cache cold).

    Parameters
    ----------
    implementation, kernel, dim, chains, num_steps
        As for :func:`first_two_calls`.

    Returns
    -------
    dict
        ``{"first_s": ..., "second_s": ...}``.

    Raises
    ------
    RuntimeError
        If the child fails or takes longer than ``CHILD_TIMEOUT_S``; the message
        ends with the last line of its error output.
    """
    command = [sys.executable, str(SCRIPT), "--one", implementation, kernel]
    command += ["--dim", str(dim), "--chains", str(chains), "--steps", str(num_steps)]
    env = {**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"}
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"no result within {CHILD_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise RuntimeError(f"exit status {proc.returncode}: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- #
# The table
# --------------------------------------------------------------------------- #
def measure(
    kernels: Sequence[str] = KERNELS,
    implementations: Sequence[str] = DEFAULT_IMPLEMENTATIONS,
    *,
    small: tuple[int, int, int] = SMALL,
    processes: int = 3,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Time the first and second calls of every (kernel, implementation), each cold.

    Parameters
    ----------
    kernels : sequence of str
    implementations : sequence of str
        From ``CHOICES``; a peer that does not import is skipped with a note.
    small : (int, int, int)
        ``(dim, chains, num_steps)``.
    processes : int
        Fresh processes per cell; their median is quoted.
    log : callable, optional
        Called with a progress line per process (``None``: silent).

    Returns
    -------
    dict
        ``{"environment", "settings", "notes", "rows"}``; a row holds the kernel,
        the problem, ``results`` (``{name: {first_s, second_s, first_runs_s,
        second_runs_s}}``, medians and every run) and ``first_vs_blackjax``.
    """
    peers = tuple(name for name in implementations if name in PEER_MODULES)
    found, skipped = available_peers(peers) if peers else ([], {})
    names = [name for name in implementations if name not in PEER_MODULES or name in found]
    notes = list(skipped.values())
    runs: dict[tuple[str, str], list[dict[str, float]]] = {
        (kernel, name): [] for kernel in kernels for name in names
    }
    failed: set[tuple[str, str]] = set()
    for _ in range(processes):
        for cell in runs:
            if cell in failed:
                continue
            try:
                runs[cell].append(in_fresh_process(cell[1], cell[0], *small))
            except RuntimeError as err:
                failed.add(cell)
                notes.append(f"{LABELS[cell[1]]} {cell[0]} failed: {err}")
                continue
            if log is not None:
                log(f"{cell[0]:5s} {cell[1]:10s} {_seconds(runs[cell][-1])}")
    rows = [_row(kernel, small, {n: runs[kernel, n] for n in names}) for kernel in kernels]
    settings = {"dim": small[0], "chains": small[1], "num_steps": small[2]}
    settings["processes"] = processes
    return {"environment": environment(), "settings": settings, "notes": notes, "rows": rows}


def _seconds(run: dict[str, float]) -> str:
    return f"first {run['first_s']:.3f} s, second {1e3 * run['second_s']:.2f} ms"


def _row(
    kernel: str, small: tuple[int, int, int], runs: dict[str, list[dict[str, float]]]
) -> dict[str, Any]:
    """One kernel's row: medians and every run per implementation, and the ratio."""
    results = {
        name: {
            "first_s": statistics.median(r["first_s"] for r in these),
            "second_s": statistics.median(r["second_s"] for r in these),
            "first_runs_s": [r["first_s"] for r in these],
            "second_runs_s": [r["second_s"] for r in these],
        }
        for name, these in runs.items()
        if these
    }
    both = "jlangevin" in results and "blackjax" in results
    ratio = results["jlangevin"]["first_s"] / results["blackjax"]["first_s"] if both else None
    dim, chains, num_steps = small
    return {
        "kernel": kernel,
        "dim": dim,
        "chains": chains,
        "num_steps": num_steps,
        "results": results,
        "first_vs_blackjax": ratio,
    }


def markdown_table(report: dict[str, Any]) -> str:
    """The rows of :func:`measure`: first calls (s), their ratio, second calls (ms)."""
    present = [n for n in CHOICES if any(n in row["results"] for row in report["rows"])]
    header = ["kernel", "dim", "chains", "steps"]
    header += [f"{LABELS[n]} first call (s)" for n in present]
    header += ["jl / BlackJAX, first call"]
    header += [f"{LABELS[n]} second call (ms)" for n in present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        cells = [row["kernel"], str(row["dim"]), str(row["chains"]), str(row["num_steps"])]
        got = row["results"]
        cells += [f"{got[n]['first_s']:.2f}" if n in got else "-" for n in present]
        ratio = row["first_vs_blackjax"]
        cells.append(f"{ratio:.2f}" if ratio is not None else "-")
        cells += [f"{1e3 * got[n]['second_s']:.2f}" if n in got else "-" for n in present]
        lines.append("| " + " | ".join(cells) + " |")
    processes = report["settings"]["processes"]
    lines.append("")
    lines.append(
        "First call: wall time of the first `run(key, x0)` in a fresh process (trace, "
        "compile and run; imports and sampler built before the clock starts, JAX's "
        f"compilation cache off), median of {processes} fresh process"
        f"{'es' if processes != 1 else ''} per cell; second call: the same call again "
        f"(steady state). {device_line(report['environment'])}."
    )
    lines.extend(f"Note: {note}" for note in report["notes"])
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def quick_table(kernels: Sequence[str] = KERNELS, *, peers: bool = True) -> str:
    """The table of ``jlangevin bench``: one fresh process per cell, jlangevin and BlackJAX.

    Parameters
    ----------
    kernels : sequence of str
    peers : bool
        Include BlackJAX (where it imports).

    Returns
    -------
    str
        The markdown table.
    """
    implementations = DEFAULT_IMPLEMENTATIONS if peers else ("jlangevin",)
    return markdown_table(measure(kernels, implementations, processes=1, log=None))


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print the table and save it (``--quick``: one process per cell, not saved)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument(
        "--implementations", nargs="+", choices=CHOICES, default=list(DEFAULT_IMPLEMENTATIONS)
    )
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per cell")
    parser.add_argument("--dim", type=int, default=SMALL[0])
    parser.add_argument("--chains", type=int, default=SMALL[1])
    parser.add_argument("--steps", type=int, default=SMALL[2])
    parser.add_argument("--quick", action="store_true", help="one process per cell; saves nothing")
    parser.add_argument(
        "--one", nargs=2, metavar=("IMPLEMENTATION", "KERNEL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    small = (args.dim, args.chains, args.steps)
    if args.one:  # the child of in_fresh_process: one JSON line
        print(json.dumps(first_two_calls(*args.one, *small)))
        return
    processes = 1 if args.quick else args.processes
    report = measure(args.kernels, args.implementations, small=small, processes=processes)
    table = markdown_table(report)
    print(table)
    if not args.quick:
        save("compile_time", report, table)


if __name__ == "__main__":
    main()
