"""Peak memory of ``store="stats"`` against full traces, up to a million chains.

Every configuration runs in a fresh Python process, which reports its peak
resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: host memory,
which on CPU is where the arrays live). A baseline process does everything but
the run (imports, the sampler, the initial positions), and the table gives the
peak above that baseline next to the size of what is stored. On an accelerator
the same script reports the device's ``peak_bytes_in_use`` when the backend
keeps memory statistics.

Two sweeps on MALA for a 2-D Gaussian:

* chains: 10^3 ... 10^6 at a fixed number of draws (``stats`` up to 10^6;
  ``draws`` as far as memory and time allow);
* draws: 100 ... 3000 at 10^4 chains: ``stats`` stays flat, ``draws`` grows
  linearly (positions and the info fields of every draw).

``--draws-peak LABEL`` measures one row more closely instead: the peak of
``store="draws"`` at 10^5 chains (``--chains``) x 100 draws as a multiple of what it stores,
above the baseline and above a ``store="stats"`` run of the same size (which
compiles and holds the same state, so the difference is what keeping the
draws costs); medians of ``--repeats`` fresh processes each. The rows are
merged into ``results/memory.json`` under ``draws_peak`` and LABEL (say
``before`` and ``after`` a change), the other rows kept.

Usage: ``python benchmarks/memory.py [--quick | --draws-peak LABEL [--repeats 3] [--chains N]]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from _common import RESULTS, environment, save

DIM = 2
#: Bytes kept per draw and chain with store="draws": the float32 position, three
#: float32 info fields (acceptance_rate, step_size, logdensity) and two bools.
BYTES_PER_DRAW = 4 * (DIM + 3) + 2

CHILD = r"""
import json, resource, sys
import jax, jax.numpy as jnp
import jlangevin as jl
cfg = json.loads(sys.argv[1])
sampler = jl.mala(lambda x: -0.5 * jnp.sum(x ** 2), step_size=0.5)
x0 = jnp.linspace(-1.0, 1.0, cfg["chains"] * cfg["dim"]).reshape(cfg["chains"], cfg["dim"])
jax.block_until_ready(x0)
if cfg["draws"]:
    trace = jl.run(jax.random.key(0), sampler, x0, cfg["draws"], store=cfg["store"],
                   chunk_size=cfg.get("chunk_size"))
    jax.block_until_ready(trace)
stats = jax.devices()[0].memory_stats() or {}
print(json.dumps({"max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "device_peak_bytes": stats.get("peak_bytes_in_use")}))
"""


def measure(chains: int, draws: int, store: str, chunk_size: int | None = None) -> dict[str, Any]:
    """Peak memory of one run in a fresh process (``draws=0``: the baseline)."""
    cfg = {"chains": chains, "draws": draws, "store": store, "dim": DIM, "chunk_size": chunk_size}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg)], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**cfg, "peak_mib": result["max_rss_kib"] / 1024, **result}


def sweep(configs: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
    """Measure each (chains, draws, store), subtracting a per-chain-count baseline."""
    baselines: dict[int, float] = {}
    rows = []
    for chains, draws, store in configs:
        if chains not in baselines:
            baselines[chains] = measure(chains, 0, "stats")["peak_mib"]
        row = measure(chains, draws, store)
        row["baseline_mib"] = baselines[chains]
        row["above_baseline_mib"] = row["peak_mib"] - baselines[chains]
        stored = chains * draws * BYTES_PER_DRAW if store == "draws" else chains * DIM * 8
        row["stored_mib"] = stored / 2**20
        rows.append(row)
        print(
            f"{store:6s} chains={chains:<8d} draws={draws:<5d} peak {row['peak_mib']:8.0f} MiB, "
            f"above baseline {row['above_baseline_mib']:8.1f} MiB, "
            f"stored {row['stored_mib']:8.1f} MiB",
            flush=True,
        )
    return rows


def draws_peak(chains: int, draws: int, repeats: int) -> dict[str, Any]:
    """Peak of ``store="draws"`` over what it stores (see the module docstring); medians."""

    def median_peak(num_draws: int, store: str) -> float:
        return statistics.median(
            measure(chains, num_draws, store)["peak_mib"] for _ in range(repeats)
        )

    baseline = median_peak(0, "stats")
    stats = median_peak(draws, "stats")
    peak = median_peak(draws, "draws")
    stored = chains * draws * BYTES_PER_DRAW / 2**20
    row = {
        "chains": chains,
        "draws": draws,
        "repeats": repeats,
        "baseline_mib": baseline,
        "stats_peak_mib": stats,
        "draws_peak_mib": peak,
        "stored_mib": stored,
        "above_baseline_over_stored": (peak - baseline) / stored,
        "above_stats_over_stored": (peak - stats) / stored,
    }
    print(json.dumps(row, indent=1), flush=True)
    return row


def draws_peak_markdown(rows: dict[str, Any]) -> list[str]:
    lines = [
        '### Peak of store="draws" over what it stores',
        "",
        "| checkout | chains | draws | processes | stored (MiB) | peak above baseline (MiB) "
        '| / stored | peak above store="stats" (MiB) | / stored |',
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['chains']} | {r['draws']} | {r['repeats']} | {r['stored_mib']:.1f} | "
            f"{r['draws_peak_mib'] - r['baseline_mib']:.1f} | "
            f"{r['above_baseline_over_stored']:.2f} | "
            f"{r['draws_peak_mib'] - r['stats_peak_mib']:.1f} | "
            f"{r['above_stats_over_stored']:.2f} |"
        )
    lines += [
        "",
        'Medians of fresh processes. The store="stats" run of the same size compiles '
        "and holds the same chains' state, so the last column is what keeping the draws "
        "costs at its peak.",
        "",
    ]
    return lines


def markdown(report: dict[str, Any]) -> str:
    lines = []
    for title, key in (("Growth with chains", "chains"), ("Growth with draws", "draws")):
        lines += [
            f"### {title}",
            "",
            "| store | chains | draws | peak RSS (MiB) | above baseline (MiB) | stored (MiB) |",
            "|---|---|---|---|---|---|",
        ]
        for r in report[key]:
            lines.append(
                f"| {r['store']} | {r['chains']} | {r['draws']} | {r['peak_mib']:.0f} | "
                f"{r['above_baseline_mib']:.1f} | {r['stored_mib']:.1f} |"
            )
        lines.append("")
    if report.get("draws_peak"):
        lines += draws_peak_markdown(report["draws_peak"])
    env = report["environment"]
    lines.append(
        f"MALA, {DIM}-D Gaussian, float32. Peak resident set size of a fresh process per row "
        f"(host memory; device: {env['device']}, {env['backend']}); baseline = the same "
        "process without the run. 'stored' = positions and info of every draw for `draws`, "
        "the running mean and M2 for `stats`."
    )
    return "\n".join(lines)


def plot(report: dict[str, Any]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, xlabel in ((axes[0], "chains", "chains"), (axes[1], "draws", "draws")):
        for store, marker in (("stats", "o"), ("draws", "s")):
            rows = [r for r in report[key] if r["store"] == store]
            ax.plot(
                [r[xlabel] for r in rows],
                [max(r["above_baseline_mib"], 0.1) for r in rows],
                marker=marker,
                label=f'store="{store}"',
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("peak memory above baseline (MiB)")
        ax.legend()
    axes[0].set_title("growth with chains (100 draws)")
    axes[1].set_title("growth with draws (10^4 chains)")
    fig.suptitle("jl.run peak memory, MALA on a 2-D Gaussian")
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sweep (seconds)")
    parser.add_argument("--draws-peak", metavar="LABEL", help="only the draws' peak row")
    parser.add_argument("--repeats", type=int, default=3, help="processes per draws-peak cell")
    parser.add_argument("--chains", type=int, default=10**5, help="chains of the draws-peak row")
    args = parser.parse_args(argv)
    if args.draws_peak:
        report = json.loads((RESULTS / "memory.json").read_text())
        row = draws_peak(args.chains, 100, args.repeats)
        row["environment"] = environment()
        report.setdefault("draws_peak", {})[args.draws_peak] = row
        save("memory", report, markdown(report), plot(report))
        return
    if args.quick:
        by_chains = [(c, 20, s) for c in (10**3, 10**4) for s in ("stats", "draws")]
        by_draws = [(10**3, d, s) for d in (20, 200) for s in ("stats", "draws")]
    else:
        by_chains = [(c, 100, "stats") for c in (10**3, 10**4, 10**5, 10**6)]
        by_chains += [(c, 100, "draws") for c in (10**3, 10**4, 10**5, 10**6)]
        by_draws = [(10**4, d, s) for d in (100, 1000, 3000) for s in ("stats", "draws")]
    report = {"environment": environment(), "chains": sweep(by_chains), "draws": sweep(by_draws)}
    save("memory", report, markdown(report), plot(report))


if __name__ == "__main__":
    main()
