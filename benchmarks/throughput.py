"""Chain-steps per second: jlangevin against BlackJAX, TFP-on-JAX and a hand-fused floor.

For each (dimension, chains) cell of the grid and each kernel (ULA, MALA,
SGLD with the full gradient), every implementation runs the same job (see
``_runners.py``: same target, step, start and step count, every position
kept, initialisation included) in one process, with repeats interleaved, and
the median is quoted. Peers come from the ``bench`` extra
(``pip install -e '.[bench]'``); a missing one is skipped with a note.

Writes ``results/throughput.{json,md,png}`` with the device and library versions.

Usage: ``python benchmarks/throughput.py [--work 2e7] [--repeats 7] [--no-peers]``;
other cells with ``--grid 3x5000 5x2000 --name throughput_small_dims`` (written
to ``results/<name>.*``); ``--quick`` prints the quick table of ``jlangevin
bench`` and writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
from _common import device_line, environment, save
from _runners import (
    IMPLEMENTATIONS,
    KERNELS,
    LABELS,
    PEER_MODULES,
    RUNNERS,
    Problem,
    Runner,
    available_peers,
    make_problem,
    steps_for,
)

#: (dimension, chains) cells of the full benchmark.
GRID = ((2, 10_000), (100, 1_000), (1000, 100), (10, 1))
#: Settings of the quick table (``--quick``, ``jlangevin bench``): same cells, less work.
QUICK = {"work": 2e6, "repeats": 3, "max_steps": 1000}
#: The ratio columns: row key -> what jlangevin is divided by.
RATIOS = {"vs_floor": "floor", "vs_best_peer": "best peer"}


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #
def time_interleaved(
    runners: dict[str, Runner], args: Sequence[Any], repeats: int
) -> dict[str, list[float]]:
    """Wall-clock seconds of each runner, repeats interleaved (order rotated each round).

    Every runner is called once first (compilation) and its result awaited,
    one after the other (see the comment in the body); the timed calls run one
    at a time.

    Parameters
    ----------
    runners : dict
        ``{name: run}``.
    args : sequence
        The arguments of every call, ``(key, x0)``.
    repeats : int
        Timed calls per runner.

    Returns
    -------
    dict
        ``{name: [seconds, ...]}``, one entry per timed call.
    """
    # Compiled one after the other: jlangevin's CPU lowering of the Threefry hash
    # (jlangevin/_xla_cpu.py) is in force while it compiles its own programs, and a
    # peer compiling at the same moment in another thread would pick it up too.
    for run in runners.values():
        jax.block_until_ready(run(*args))
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(runners[name](*args))
            times[name].append(time.perf_counter() - start)
    return times


def measure_cell(
    kernel: str, problem: Problem, implementations: Sequence[str], repeats: int, seed: int = 0
) -> dict[str, Any]:
    """Time every implementation on one (kernel, cell).

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem
    implementations : sequence of str
        Keys of ``RUNNERS``; one whose runner is ``None`` for this kernel is left out.
    repeats : int
    seed : int

    Returns
    -------
    dict
        The cell, ``results`` (``{name: {median_s, times_s, chain_steps_per_s}}``)
        and the ratios of :func:`ratios`.
    """
    built = {name: RUNNERS[name](kernel, problem) for name in implementations}
    runners = {name: run for name, run in built.items() if run is not None}
    times = time_interleaved(runners, (jax.random.key(seed), problem.start()), repeats)
    work = problem.chains * problem.num_steps
    results = {
        name: {
            "median_s": statistics.median(ts),
            "times_s": ts,
            "chain_steps_per_s": work / statistics.median(ts),
        }
        for name, ts in times.items()
    }
    row: dict[str, Any] = {
        "kernel": kernel,
        "dim": problem.dim,
        "chains": problem.chains,
        "num_steps": problem.num_steps,
        "step_size": problem.step_size,
        "results": results,
    }
    row.update(ratios(results))
    return row


def ratios(results: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """``jlangevin`` over the floor and over the best peer, in chain-steps per second.

    Parameters
    ----------
    results : dict
        ``{name: {"chain_steps_per_s": ...}}``.

    Returns
    -------
    dict
        ``{"vs_floor": ..., "vs_best_peer": ...}``, ``None`` where a side is missing.
    """
    speed = {name: r["chain_steps_per_s"] for name, r in results.items()}
    peers = [speed[p] for p in PEER_MODULES if p in speed]
    jl = speed.get("jlangevin")
    return {
        "vs_floor": jl / speed["floor"] if jl and "floor" in speed else None,
        "vs_best_peer": jl / max(peers) if jl and peers else None,
    }


def measure(
    grid: Sequence[tuple[int, int]],
    kernels: Sequence[str] = KERNELS,
    *,
    work: float = 2e7,
    repeats: int = 7,
    peers: bool = True,
    max_steps: int = 5000,
    log_density: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the throughput grid.

    Parameters
    ----------
    grid : sequence of (int, int)
        ``(dim, chains)`` cells.
    kernels : sequence of str
    work : float
        ``chains * dim * steps`` per call (see ``steps_for``).
    repeats : int
        Timed calls per implementation and cell.
    peers : bool
        Time BlackJAX and TFP-on-JAX where they import.
    max_steps : int
        Upper bound on the steps per call.
    log_density : bool
        Include the "jlangevin + log density" column.
    log : callable, optional
        Called with a progress line per row (``None``: silent).

    Returns
    -------
    dict
        ``{"environment", "notes", "rows"}``.
    """
    found, notes = available_peers() if peers else ([], {})
    mine = ["jlangevin", "jlangevin_lp"] if log_density else ["jlangevin"]
    implementations = ["floor", *mine, *found]
    rows = []
    for dim, chains in grid:
        problem = make_problem(dim, chains, steps_for(dim, chains, work, max_steps=max_steps))
        for kernel in kernels:
            row = measure_cell(kernel, problem, implementations, repeats)
            rows.append(row)
            if log is not None:
                log(format_row(row))
    return {"environment": environment(), "notes": list(notes.values()), "rows": rows}


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #
def _rate(value: float) -> str:
    return f"{value:.3g}"


def format_row(row: dict[str, Any]) -> str:
    """One progress line: the rates and ratios of a row of :func:`measure_cell`."""
    rates = ", ".join(
        f"{name} {_rate(r['chain_steps_per_s'])}" for name, r in row["results"].items()
    )
    ratio_text = ", ".join(
        f"jl/{name} {row[key]:.2f}" for key, name in RATIOS.items() if row.get(key) is not None
    )
    return (
        f"{row['kernel']:5s} d={row['dim']:<5d} chains={row['chains']:<6d} "
        f"steps={row['num_steps']:<5d} {rates} | {ratio_text}"
    )


def markdown_table(report: dict[str, Any]) -> str:
    """The rows of :func:`measure` as a markdown table of chain-steps per second and ratios."""
    present = [
        name for name in IMPLEMENTATIONS if any(name in row["results"] for row in report["rows"])
    ]
    header = ["kernel", "dim", "chains", "steps", *(LABELS[n] for n in present)]
    header += [f"jl / {name}" for name in RATIOS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        cells = [row["kernel"], str(row["dim"]), str(row["chains"]), str(row["num_steps"])]
        for name in present:
            result = row["results"].get(name)
            cells.append(_rate(result["chain_steps_per_s"]) if result else "-")
        cells += [f"{row[key]:.2f}" if row.get(key) is not None else "-" for key in RATIOS]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Chain-steps per second (median of interleaved repeats); "
        f"{device_line(report['environment'])}."
    )
    lines.extend(f"Note: {note}" for note in report["notes"])
    return "\n".join(lines)


def plot(report: dict[str, Any]):
    """Speed relative to the hand-fused floor, per kernel and cell (a matplotlib figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = report["rows"]
    names = [n for n in IMPLEMENTATIONS if any(n in r["results"] for r in rows)]
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(rows)), 4.5))
    x = np.arange(len(rows))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        heights = [
            r["results"][name]["chain_steps_per_s"] / r["results"]["floor"]["chain_steps_per_s"]
            if name in r["results"]
            else np.nan
            for r in rows
        ]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, heights, width, label=LABELS[name])
    ax.axhline(0.95, color="k", ls=":", lw=1, label="0.95 x floor")
    ax.set_xticks(x, [f"{r['kernel']}\nd={r['dim']}\nn={r['chains']}" for r in rows], fontsize=8)
    ax.set_ylabel("chain-steps/s over the hand-fused floor")
    ax.set_yscale("log")
    env = report["environment"]
    ax.set_title(
        f"Throughput on {env['device']} ({env['backend']}, {env['cpu_count']} cores)", pad=50
    )
    ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def quick_table(
    kernels: Sequence[str] = KERNELS,
    *,
    work: float = QUICK["work"],
    repeats: int = QUICK["repeats"],
    peers: bool = True,
    log_density: bool = False,
) -> str:
    """The quick table of ``jlangevin bench``: the full grid with less work per call.

    Parameters
    ----------
    kernels, work, repeats, peers, log_density
        As for :func:`measure` (steps per call at most ``QUICK["max_steps"]``).

    Returns
    -------
    str
        The markdown table.
    """
    report = measure(
        GRID,
        kernels,
        work=work,
        repeats=repeats,
        peers=peers,
        max_steps=QUICK["max_steps"],
        log_density=log_density,
        log=None,
    )
    return markdown_table(report)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the grid, print the table and save it (``--quick``: print the quick table only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=float, default=None, help="chains*dim*steps per call")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--grid", nargs="+", type=_cell, default=list(GRID), help="cells DIMxCHAINS, e.g. 3x5000"
    )
    parser.add_argument("--name", default="throughput", help="results/<name>.{json,md,png}")
    parser.add_argument(
        "--quick", action="store_true", help="the quick table of `jlangevin bench`; saves nothing"
    )
    args = parser.parse_args(argv)
    if args.quick:
        quick = {k: v for k, v in (("work", args.work), ("repeats", args.repeats)) if v}
        print(quick_table(args.kernels, peers=not args.no_peers, **quick))
        return
    work, repeats = args.work or 2e7, args.repeats or 7
    report = measure(args.grid, args.kernels, work=work, repeats=repeats, peers=not args.no_peers)
    report["settings"] = {"work": work, "repeats": repeats, "grid": args.grid}
    table = markdown_table(report)
    print(table)
    save(args.name, report, table, plot(report))


def _cell(text: str) -> tuple[int, int]:
    """``"3x5000"`` -> ``(3, 5000)`` (dimension, chains)."""
    try:
        dim, chains = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a cell is DIMxCHAINS such as 3x5000; got {text!r}"
        ) from None
    if dim < 1 or chains < 1:
        raise argparse.ArgumentTypeError(f"dimension and chains must be >= 1; got {text!r}")
    return dim, chains


if __name__ == "__main__":
    main()
