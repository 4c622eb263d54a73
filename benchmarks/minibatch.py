"""Minibatch SGLD: per-step cost with and without replacement, and first-call compile time.

Model: the mean of a 10-dimensional Gaussian, ``loglik(θ, x) = -½ |x - θ|²``,
prior ``N(0, I)``, ``N`` data points, batches of ``n = 64``; SGLD with
``h = 0.1 / N`` through ``jl.run(..., store="stats")``. Three estimators:

* ``with replacement``: ``jl.gradients.minibatch(..., replace=True)``
  (``n`` independent uniform indices);
* ``without (Floyd)``: the default, ``replace=False``: a uniformly random
  subset by :func:`jlangevin.gradients.distinct_indices`, work independent of ``N``;
* ``without (choice)``: the previous default, rebuilt here as a reference:
  ``jax.random.choice(key, N, (n,), replace=False)``, which shuffles all ``N``.

Per-step cost: µs per chain-step at ``N = 1000`` and ``N = 100000``, repeats
interleaved in one process, medians; the slow reference gets fewer
chain-steps per call at ``N = 100000`` (it is still timed over many
milliseconds). First call: as in ``compile_time.py``, the wall time of the
first ``run(key, x0)`` in a fresh process (trace + compile + run; 10
dimensions, 64 chains, 100 steps, every position kept, ``N = 1000``) against
BlackJAX's ``sgld`` with the same minibatch gradient (the same index draw and
``blackjax.sgmcmc.gradients.grad_estimator``) in its jitted ``vmap`` + ``scan``
idiom; median of 3 fresh processes per cell, interleaved.

Writes ``results/minibatch.{json,md,png}``.

Usage: ``python benchmarks/minibatch.py [--repeats 7] [--processes 3]``.
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
import jax.numpy as jnp
import numpy as np
from _common import device_line, environment, save

import jlangevin as jl
from jlangevin import gradients

SCRIPT = Path(__file__).resolve()
DIM, BATCH = 10, 64
#: (N, chains, steps) of the per-step cells, and of the slow reference at large N.
STEP_CELLS = ((1_000, 64, 200), (100_000, 64, 200))
SLOW_REFERENCE = {100_000: (8, 10)}
#: The compile-time problem: (N, chains, steps).
COMPILE = (1_000, 64, 100)
SCHEMES = ("replace", "floyd", "choice")
LABELS = {
    "replace": "with replacement",
    "floyd": "without (Floyd, default)",
    "choice": "without (choice, previous)",
}
CHILD_TIMEOUT_S = 600


def logprior(theta):
    return -0.5 * jnp.sum(theta**2)


def loglik(theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2)


def make_data(num_data: int) -> jax.Array:
    return jax.random.normal(jax.random.key(7), (num_data, DIM)) + 1.0


def choice_minibatch(data: jax.Array, n: int) -> gradients.GradientEstimator:
    """The previous default: ``jax.random.choice(replace=False)``, otherwise ``minibatch``."""
    num_data = data.shape[0]

    def logpost(theta, batch):
        per_point = jax.vmap(loglik, (None, 0))(theta, batch)
        return logprior(theta) + num_data / n * jnp.sum(per_point)

    value_and_grad = jax.value_and_grad(logpost)

    def estimate(key, theta):
        index = jax.random.choice(key, num_data, (n,), replace=False)
        return value_and_grad(theta, jnp.take(data, index, axis=0))

    return gradients.GradientEstimator(estimate, num_data, n)


def estimator(scheme: str, data: jax.Array) -> gradients.GradientEstimator:
    if scheme == "choice":
        return choice_minibatch(data, BATCH)
    return gradients.minibatch(logprior, loglik, data, BATCH, replace=scheme == "replace")


def index_fn(scheme: str, num_data: int) -> Callable[[jax.Array], jax.Array]:
    """The index draw of a scheme, for BlackJAX's loop."""
    if scheme == "replace":
        return lambda key: jax.random.randint(key, (BATCH,), 0, num_data)
    if scheme == "floyd":
        return lambda key: gradients.distinct_indices(key, num_data, BATCH)
    return lambda key: jax.random.choice(key, num_data, (BATCH,), replace=False)


def start(chains: int) -> jax.Array:
    return jnp.linspace(-1.0, 1.0, chains * DIM, dtype=jnp.float32).reshape(chains, DIM)


# --------------------------------------------------------------------------- #
# Per-step cost
# --------------------------------------------------------------------------- #
def measure_steps(num_data: int, chains: int, num_steps: int, repeats: int) -> dict[str, Any]:
    """µs per chain-step of SGLD with each scheme, repeats interleaved."""
    data = make_data(num_data)
    h = 0.1 / num_data
    jobs = {}
    for scheme in SCHEMES:
        c, s = (
            SLOW_REFERENCE.get(num_data, (chains, num_steps))
            if scheme == "choice"
            else (
                chains,
                num_steps,
            )
        )
        sampler = jl.sgld(estimator(scheme, data), h)
        x0 = start(c)
        jobs[scheme] = (
            c * s,
            lambda sampler=sampler, x0=x0, s=s: jl.run(
                jax.random.key(0), sampler, x0, s, store="stats"
            ),
        )
    for _, run in jobs.values():
        jax.block_until_ready(run())
    times: dict[str, list[float]] = {name: [] for name in SCHEMES}
    for r in range(repeats):
        for name in SCHEMES[r % 3 :] + SCHEMES[: r % 3]:
            begin = time.perf_counter()
            jax.block_until_ready(jobs[name][1]())
            times[name].append(time.perf_counter() - begin)
    results = {
        name: {
            "us_per_chain_step": 1e6 * statistics.median(ts) / jobs[name][0],
            "chain_steps_per_call": jobs[name][0],
            "times_s": ts,
        }
        for name, ts in times.items()
    }
    return {"num_data": num_data, "batch_size": BATCH, "results": results}


# --------------------------------------------------------------------------- #
# First call, fresh process
# --------------------------------------------------------------------------- #
def build_runner(implementation: str, scheme: str) -> Callable[[jax.Array, jax.Array], Any]:
    num_data, chains, num_steps = COMPILE
    data = make_data(num_data)
    h = 0.1 / num_data
    if implementation == "jlangevin":
        sampler = jl.sgld(estimator(scheme, data), h)
        return lambda key, x0: jl.run(key, sampler, x0, num_steps, store="positions").positions

    import blackjax

    grad_fn = blackjax.sgmcmc.gradients.grad_estimator(logprior, loglik, num_data)
    algorithm = blackjax.sgld(grad_fn)
    draw_index = index_fn(scheme, num_data)

    def one_chain(key, x):
        key_batch, key_step = jax.random.split(key)
        batch = jnp.take(data, draw_index(key_batch), axis=0)
        return algorithm.step(key_step, x, batch, h)

    def run(key, x0):
        def body(x, step_key):
            x = jax.vmap(one_chain)(jax.random.split(step_key, chains), x)
            return x, x

        return jax.lax.scan(body, jax.vmap(algorithm.init)(x0), jax.random.split(key, num_steps))[1]

    return jax.jit(run)


def first_two_calls(implementation: str, scheme: str) -> dict[str, float]:
    jax.config.update("jax_enable_compilation_cache", False)
    key, x0 = jax.block_until_ready((jax.random.key(0), start(COMPILE[1])))
    run = build_runner(implementation, scheme)
    times = []
    for _ in range(2):
        begin = time.perf_counter()
        jax.block_until_ready(run(key, x0))
        times.append(time.perf_counter() - begin)
    return {"first_s": times[0], "second_s": times[1]}


def in_fresh_process(implementation: str, scheme: str) -> dict[str, float]:
    command = [sys.executable, str(SCRIPT), "--one", implementation, scheme]
    env = {**os.environ, "JAX_ENABLE_COMPILATION_CACHE": "false"}
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise RuntimeError(f"{implementation} {scheme}: exit status {proc.returncode}: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_compile(processes: int) -> list[dict[str, Any]]:
    cells = [(impl, scheme) for scheme in SCHEMES for impl in ("jlangevin", "blackjax")]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {cell: [] for cell in cells}
    for _ in range(processes):
        for cell in cells:
            runs[cell].append(in_fresh_process(*cell))
            print(cell, runs[cell][-1])
    rows = []
    for scheme in SCHEMES:
        got = {
            impl: {
                "first_s": statistics.median(r["first_s"] for r in runs[impl, scheme]),
                "second_s": statistics.median(r["second_s"] for r in runs[impl, scheme]),
                "runs": runs[impl, scheme],
            }
            for impl in ("jlangevin", "blackjax")
        }
        ratio = got["jlangevin"]["first_s"] / got["blackjax"]["first_s"]
        rows.append({"scheme": scheme, "results": got, "first_vs_blackjax": ratio})
    return rows


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def markdown_table(report: dict[str, Any]) -> str:
    header = ["N", "n"] + [f"{LABELS[s]} (µs)" for s in SCHEMES]
    header += ["Floyd / with repl.", "choice / Floyd"]
    lines = ["Per chain-step:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["steps"]:
        us = {s: row["results"][s]["us_per_chain_step"] for s in SCHEMES}
        cells = [str(row["num_data"]), str(row["batch_size"])]
        cells += [f"{us[s]:.2f}" for s in SCHEMES]
        cells += [f"{us['floyd'] / us['replace']:.2f}", f"{us['choice'] / us['floyd']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    num_data, chains, num_steps = COMPILE
    lines += [
        "",
        f"First call (N={num_data}, n={BATCH}, dim {DIM}, {chains} chains, {num_steps} steps):",
        "",
        "| batch | jlangevin first call (s) | BlackJAX first call (s) | jl / BlackJAX | "
        "jlangevin second call (ms) | BlackJAX second call (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["compile"]:
        jl_, bj = row["results"]["jlangevin"], row["results"]["blackjax"]
        lines.append(
            f"| {LABELS[row['scheme']]} | {jl_['first_s']:.2f} | {bj['first_s']:.2f} | "
            f"{row['first_vs_blackjax']:.2f} | {1e3 * jl_['second_s']:.1f} | "
            f"{1e3 * bj['second_s']:.1f} |"
        )
    settings = report["settings"]
    lines += [
        "",
        f'Per-step: `jl.run(..., store="stats")`, median of {settings["repeats"]} interleaved '
        f"repeats. First call: median of {settings['processes']} fresh processes per cell "
        f"(compilation cache off). {device_line(report['environment'])}.",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    rows = report["steps"]
    width = 0.8 / len(SCHEMES)
    for i, scheme in enumerate(SCHEMES):
        values = [row["results"][scheme]["us_per_chain_step"] for row in rows]
        left.bar(np.arange(len(rows)) + i * width, values, width, label=LABELS[scheme])
    left.set_xticks(np.arange(len(rows)) + width, [f"N={r['num_data']}" for r in rows])
    left.set_yscale("log")
    left.set_ylabel("µs per chain-step")
    left.set_title(f"SGLD step, n={BATCH}")
    left.legend(fontsize=8)
    rows = report["compile"]
    for i, impl in enumerate(("jlangevin", "blackjax")):
        values = [row["results"][impl]["first_s"] for row in rows]
        right.bar(np.arange(len(rows)) + i * 0.4, values, 0.4, label=impl)
    right.set_xticks(np.arange(len(rows)) + 0.2, [LABELS[r["scheme"]] for r in rows], fontsize=8)
    right.set_ylabel("first call (s)")
    right.set_title("First call, fresh process")
    right.legend(fontsize=8)
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument(
        "--one", nargs=2, metavar=("IMPLEMENTATION", "SCHEME"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(first_two_calls(*args.one)))
        return
    steps = [measure_steps(n, c, s, args.repeats) for n, c, s in STEP_CELLS]
    for row in steps:
        print(
            row["num_data"],
            {k: round(v["us_per_chain_step"], 2) for k, v in row["results"].items()},
        )
    report = {
        "environment": environment(),
        "settings": {"repeats": args.repeats, "processes": args.processes},
        "steps": steps,
        "compile": measure_compile(args.processes),
    }
    table = markdown_table(report)
    print(table)
    save("minibatch", report, table, plot(report))


if __name__ == "__main__":
    main()
