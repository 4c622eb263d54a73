"""The front door's latency: ``jl.sample`` called again and again, as in a notebook.

The README's regression (a NumPyro model, 3 parameters, 50 observations), in a
fresh Python process per repeat: ``jl.sample`` three times on one model object
(keys 0, 1, 2), then once on a model built anew from the same function and data
(a notebook cell run again), then once on the model over new data of the same
shapes (simulation-based calibration, a refit). For each call: the wall time, and the XLA programs
compiled and the seconds spent compiling them (JAX's own compile events). The
first call pays for every program; what a later call compiles is what the
caches failed to keep.

Writes ``results/sample_latency.{json,md}`` with the device and library versions.

Usage: ``python benchmarks/sample_latency.py [--processes 3]``; the jlangevin it
times is the one ``import jlangevin`` finds (``PYTHONPATH=<checkout>`` times another).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import device_line, environment, save

SCRIPT = Path(__file__).resolve()
#: What each call of a process is.
CALLS = (
    "first call",
    "same model, key 1",
    "same model, key 2",
    "model built anew",
    "new data, same shapes",
)
#: Seconds a child process may take before it counts as failed.
CHILD_TIMEOUT_S = 900


def calls_in_this_process() -> list[dict[str, float]]:
    """Wall time, programs compiled and compile seconds of each of :data:`CALLS`."""
    import time

    import jax
    import numpy as np
    import numpyro
    import numpyro.distributions as dist

    import jlangevin as jl

    compiled = {"count": 0, "seconds": 0.0}

    def listen(event: str, duration: float, **_: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiled["count"] += 1
            compiled["seconds"] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)

    def regression(x, y=None):
        alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
        beta = numpyro.sample("beta", dist.Normal(0.0, 10.0))
        sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
        numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)

    x = np.linspace(0.0, 100.0, 50)
    y = 1.0 + 0.02 * x + np.random.default_rng(0).normal(0.0, 0.5, 50)
    model = jl.from_numpyro(regression, x, y=y)
    rows = []
    y_new = 3.0 - 0.01 * x + np.random.default_rng(1).normal(0.0, 0.5, 50)
    for call, seed in zip(CALLS, (0, 1, 2, 0, 0), strict=True):
        if call == "model built anew":
            model = jl.from_numpyro(regression, x, y=y)
        if call == "new data, same shapes":
            model = jl.from_numpyro(regression, x, y=y_new)
        compiled.update(count=0, seconds=0.0)
        start = time.perf_counter()
        result = jl.sample(jax.random.key(seed), model)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "call": call,
                "seconds": seconds,
                "programs": compiled["count"],
                "compile_seconds": compiled["seconds"],
                "converged": bool(result.converged),
            }
        )
    return rows


def in_fresh_process() -> list[dict[str, float]]:
    """:func:`calls_in_this_process` in a child Python (no warm JIT or persistent cache)."""
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--child"],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        env={**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"},
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(runs: list[list[dict[str, Any]]]) -> str:
    """Median per call over the processes."""
    lines = [
        "| call | wall (s) | programs compiled | compiling (s) | converged |",
        "|---|---|---|---|---|",
    ]
    for i, call in enumerate(CALLS):
        cells = [run[i] for run in runs]
        wall, programs, compiling = (
            statistics.median(c[key] for c in cells)
            for key in ("seconds", "programs", "compile_seconds")
        )
        converged = sum(c["converged"] for c in cells)
        lines.append(
            f"| {call} | {wall:.2f} | {programs:.0f} | {compiling:.2f} | {converged}/{len(cells)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes (median)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(calls_in_this_process()))
        return
    runs = [in_fresh_process() for _ in range(args.processes)]
    env = environment()
    markdown = table(runs) + "\n\n" + device_line(env)
    print(markdown)
    save("sample_latency", {"environment": env, "runs": runs}, markdown)


if __name__ == "__main__":
    main()
