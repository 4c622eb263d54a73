"""Chain-steps per second: jlangevin against BlackJAX, TFP-on-JAX and a hand-fused floor.

For each (dimension, chains) cell of the grid and each kernel (ULA, MALA,
SGLD with the full gradient), every implementation runs the same job (see
:mod:`jlangevin.bench`: same target, step, start and step count, every position
kept, initialisation included) in one process, with repeats interleaved, and
the median is quoted. Peers come from the ``bench`` extra
(``pip install -e '.[bench]'``); a missing one is skipped with a note.

Two floors: the hand-fused loop drawing with ``jax.random.normal``, and the
same loop with the same numbers from the written-out Threefry hash jlangevin
uses (on CPU, JAX's own hash lowering is a loop that does not fuse).

Writes ``results/throughput.{json,md,png}`` with the device and library versions.

Usage: ``python benchmarks/throughput.py [--work 2e7] [--repeats 7] [--no-peers]``;
other cells with ``--grid 3x5000 5x2000 --name throughput_small_dims`` (written
to ``results/<name>.*``).
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import save

from jlangevin.bench import GRID, IMPLEMENTATIONS, KERNELS, LABELS, markdown_table, measure


def plot(report: dict[str, Any]):
    """Speed relative to the hand-fused floor, per kernel and cell."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=float, default=2e7, help="chains*dim*steps per call")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--grid", nargs="+", type=_cell, default=list(GRID), help="cells DIMxCHAINS, e.g. 3x5000"
    )
    parser.add_argument("--name", default="throughput", help="results/<name>.{json,md,png}")
    args = parser.parse_args(argv)
    report = measure(
        args.grid, args.kernels, work=args.work, repeats=args.repeats, peers=not args.no_peers
    )
    report["settings"] = {"work": args.work, "repeats": args.repeats, "grid": args.grid}
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
