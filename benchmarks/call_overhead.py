"""Second-call latency: what ``jl.run`` costs per call once compiled, against BlackJAX's loop.

A small problem (10 dimensions, 4 chains, 100 steps) where the arithmetic is
tiny and what is measured is the driver: input checks, placement, the call
into the compiled program, assembling the trace and the host round-trips. Both
implementations are called once to compile, then timed in one process, the
calls interleaved (``jl.run`` with ``store="draws"``, ``jl.run`` with
``store="positions"``, BlackJAX's jitted ``scan`` of ``vmap``-ed steps, in
turn) so that a busy machine slows them alike; medians over the repeats are
quoted, with the ratio to BlackJAX's.

Writes ``results/call_overhead.{json,md}`` with the device and library versions
(``--label`` names the row set, so that rows measured on two checkouts can sit
side by side in one file; rows of other labels are kept).

Usage: ``python benchmarks/call_overhead.py [--repeats 300] [--kernels mala ula]
[--label after]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
from _common import RESULTS, device_line, environment, save
from _runners import blackjax_runner, make_problem

#: The problem: (dimension, chains, steps).
SMALL = (10, 4, 100)


def jlangevin_call(kernel: str, problem: Any, store: str) -> Callable[[Any, Any], Any]:
    """``jl.run(key, sampler, x0, steps, store=store)``, the sampler built once."""
    import jlangevin as jl

    logp, h = problem.logdensity(), problem.step_size
    sampler = jl.mala(logp, h) if kernel == "mala" else jl.ula(logp, h)

    def call(key: Any, x0: Any) -> Any:
        return jl.run(key, sampler, x0, problem.num_steps, store=store)

    return call


def time_calls(calls: dict[str, Callable], key: Any, x0: Any, repeats: int) -> dict[str, list]:
    """Seconds per call of each entry, interleaved; every call compiled (called) first."""
    for call in calls.values():
        jax.block_until_ready(call(key, x0))
    times: dict[str, list] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(call(key, x0))
            times[name].append(time.perf_counter() - start)
    return times


def measure(kernel: str, repeats: int) -> list[dict[str, Any]]:
    """Median milliseconds per second call of each implementation for ``kernel``."""
    dim, chains, steps = SMALL
    problem = make_problem(dim, chains, steps)
    key, x0 = jax.block_until_ready((jax.random.key(0), problem.start()))
    calls = {
        'jl.run store="draws"': jlangevin_call(kernel, problem, "draws"),
        'jl.run store="positions"': jlangevin_call(kernel, problem, "positions"),
        "BlackJAX loop": blackjax_runner(kernel, problem),
    }
    times = time_calls(calls, key, x0, repeats)
    peer = statistics.median(times["BlackJAX loop"])
    rows = []
    for name, seconds in times.items():
        median = statistics.median(seconds)
        quartiles = statistics.quantiles(seconds, n=4)
        rows.append(
            {
                "kernel": kernel,
                "implementation": name,
                "median_ms": 1e3 * median,
                "q1_ms": 1e3 * quartiles[0],
                "q3_ms": 1e3 * quartiles[2],
                "ratio_to_blackjax": median / peer,
                "repeats": repeats,
            }
        )
        print(f"{kernel:5s} {name:26s} {1e3 * median:7.3f} ms  x{median / peer:.2f}", flush=True)
    return rows


def markdown(report: dict[str, Any]) -> str:
    dim, chains, steps = report["problem"]
    lines = [
        f"### Second call, {chains} chains x {steps} steps, d={dim} (medians)",
        "",
        "| checkout | kernel | implementation | median (ms) | quartiles (ms) | / BlackJAX |",
        "|---|---|---|---|---|---|",
    ]
    for label, entry in report["runs"].items():
        for r in entry["rows"]:
            lines.append(
                f"| {label} | {r['kernel']} | {r['implementation']} | {r['median_ms']:.3f} | "
                f"{r['q1_ms']:.3f}-{r['q3_ms']:.3f} | {r['ratio_to_blackjax']:.2f} |"
            )
    lines.append("")
    for label, entry in report["runs"].items():
        lines.append(f"{label}: {device_line(entry['environment'])}.")
    lines.append(
        "\nEach call compiled first; then the calls of the three implementations are "
        "interleaved in one process and timed to `block_until_ready` of the result."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--kernels", nargs="+", default=["mala", "ula"])
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args(argv)
    rows = [row for kernel in args.kernels for row in measure(kernel, args.repeats)]
    path = RESULTS / "call_overhead.json"
    report = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    report["problem"] = list(SMALL)
    report["runs"][args.label] = {"environment": environment(), "rows": rows}
    save("call_overhead", report, markdown(report))


if __name__ == "__main__":
    main()
