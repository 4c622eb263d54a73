"""Dense-preconditioned MALA with many chains: µs per chain-step, dense vs diagonal.

For each (chains, dim) cell, three MALA samplers run the same job (``jl.run``,
``store="stats"``, same target, start, step and key) in one process, repeats
interleaved, medians quoted:

* ``dense``: ``jl.mala(logp, h, cholesky=L)``, whose reverse proposal density
  whitens with ``L⁻¹`` computed once when the sampler is built (matrix-vector
  products only in the step);
* ``dense, solve per step``: the formulation before that change, rebuilt here
  as a reference: the same step, with ``L⁻¹(x - y)`` found by a triangular
  solve per chain and step (batched over chains by ``vmap``);
* ``diagonal``: ``jl.mala(logp, h / diag(P))``, per-coordinate steps (the
  conditional variances; ``h * diag(M)`` would be far too large here).

The target is a correlated Gaussian ``log p(x) = -½ xᵀ P x`` (one
matrix-vector product per gradient) and ``M = L Lᵀ`` its covariance, so the
dense samplers see a whitened target.

Writes ``results/dense_mala.{json,md,png}``.

Usage: ``python benchmarks/dense_mala.py [--repeats 7] [--grid 128x31 1024x31 128x100]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import device_line, environment, save

import jlangevin as jl
from jlangevin.kernels import _move, mala
from jlangevin.kernels._metropolis import log_uniform, metropolis_hastings
from jlangevin.kernels._tree import normal_like, tree_all_finite, tree_squared_norm

#: (chains, dim) cells.
GRID = ((128, 31), (1024, 31), (128, 100))
#: Chain-steps per timed call (steps = WORK / chains).
WORK = 51_200
NAMES = ("dense", "dense_solve", "diagonal")
LABELS = {"dense": "dense", "dense_solve": "dense, solve per step", "diagonal": "diagonal"}


def make_target(dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A covariance with correlations (eigenvalues 0.1 to 10) and its precision."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    cov = (basis * np.geomspace(0.1, 10.0, dim)) @ basis.T
    return cov, np.linalg.inv(cov)


def solve_step(key: jax.Array, state: mala.MALAState, logdensity_fn, h: float, chol: np.ndarray):
    """The dense step as it was: the reverse density by a triangular solve, per chain."""
    x = state.position
    key_noise, key_accept = jax.random.split(key)
    noise = normal_like(key_noise, x)
    h = jnp.asarray(h, x.dtype)
    lower = jnp.tril(jnp.asarray(chol, x.dtype))
    y = x + h * (lower @ (lower.T @ state.score)) + jnp.sqrt(2 * h) * (lower @ noise)
    value_y, score_y = jax.value_and_grad(logdensity_fn)(y)
    log_q_forward = -0.5 * tree_squared_norm(noise)
    log_q_backward = mala.dense_proposal_logdensity(x, y, score_y, h, lower)  # solve
    log_alpha = value_y - state.logdensity + log_q_backward - log_q_forward
    sound = _move.steps_ok(h) & tree_all_finite(state.score)
    finite = jnp.isfinite(log_alpha) & tree_all_finite(score_y)
    diverged = ~sound | (~finite & ~(value_y == -jnp.inf))
    log_alpha = jnp.where(sound & finite, log_alpha, -jnp.inf)
    proposal = mala.MALAState(y, value_y, score_y, state.count + 1)
    current = mala.MALAState(x, state.logdensity, state.score, state.count + 1)
    new_state, acc = metropolis_hastings(
        log_uniform(key_accept, x.dtype), log_alpha, proposal, current
    )
    info = mala.MALAInfo(acc.acceptance_rate, acc.is_accepted, diverged, h, new_state.logdensity)
    return new_state, info


def samplers(dim: int) -> dict[str, jl.Sampler]:
    """The three samplers of one cell."""
    cov, precision = make_target(dim)
    precision = jnp.asarray(precision, jnp.float32)

    def logp(x):
        return -0.5 * x @ (precision @ x)

    chol = np.linalg.cholesky(cov).astype(np.float32)
    h = 0.6 * dim ** (-1.0 / 3.0)
    old = mala.sampler(logp, h, cholesky=chol)
    return {
        "dense": jl.mala(logp, h, cholesky=chol),
        "dense_solve": jl.Sampler(
            init=old.init, step=lambda key, state: solve_step(key, state, logp, h, chol)
        ),
        # the diagonal metric that fits a correlated target: the conditional variances
        "diagonal": jl.mala(logp, jnp.asarray(h / np.diag(precision), jnp.float32)),
    }


def measure_cell(chains: int, dim: int, repeats: int) -> dict[str, Any]:
    """µs per chain-step (medians and every repeat) and acceptance of each sampler."""
    num_steps = max(WORK // chains, 20)
    built = samplers(dim)
    cov, _ = make_target(dim)
    start = jax.random.multivariate_normal(
        jax.random.key(1), jnp.zeros(dim), jnp.asarray(cov, jnp.float32), (chains,)
    )
    key = jax.random.key(0)

    def runner(sampler: jl.Sampler) -> Callable[[], Any]:
        return lambda: jl.run(key, sampler, start, num_steps, store="stats")

    runners = {name: runner(s) for name, s in built.items()}
    acceptance = {}
    for name, run in runners.items():  # compile, one after the other
        trace = jax.block_until_ready(run())
        acceptance[name] = float(np.mean(trace.moves)) / num_steps  # accepted fraction
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(repeats):
        for name in NAMES[r % 3 :] + NAMES[: r % 3]:
            begin = time.perf_counter()
            jax.block_until_ready(runners[name]())
            times[name].append(time.perf_counter() - begin)
    work = chains * num_steps
    results = {
        name: {
            "us_per_chain_step": 1e6 * statistics.median(ts) / work,
            "times_s": ts,
            "acceptance": acceptance[name],
        }
        for name, ts in times.items()
    }
    return {"chains": chains, "dim": dim, "num_steps": num_steps, "results": results}


def markdown_table(report: dict[str, Any]) -> str:
    """µs per chain-step per sampler, the old/new ratio, and acceptance."""
    header = ["chains", "dim", "steps"] + [f"{LABELS[n]} (µs)" for n in NAMES]
    header += ["solve / dense", "dense / diagonal", "acceptance dense (solve)", "diagonal acc."]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        got = row["results"]
        us = {n: got[n]["us_per_chain_step"] for n in NAMES}
        cells = [str(row["chains"]), str(row["dim"]), str(row["num_steps"])]
        cells += [f"{us[n]:.2f}" for n in NAMES]
        cells += [f"{us['dense_solve'] / us['dense']:.2f}", f"{us['dense'] / us['diagonal']:.2f}"]
        cells.append(f"{got['dense']['acceptance']:.3f} ({got['dense_solve']['acceptance']:.3f})")
        cells.append(f"{got['diagonal']['acceptance']:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f'`jl.run(..., store="stats")`, {WORK} chain-steps per call, median of '
        f"{report['settings']['repeats']} interleaved repeats; acceptance: the fraction of "
        f"steps that moved. {device_line(report['environment'])}.",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any]):
    """Grouped bars: µs per chain-step per cell and sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(NAMES)
    for i, name in enumerate(NAMES):
        values = [row["results"][name]["us_per_chain_step"] for row in rows]
        ax.bar(np.arange(len(rows)) + i * width, values, width, label=LABELS[name])
    ax.set_xticks(np.arange(len(rows)) + width, [f"{r['chains']} x {r['dim']}" for r in rows])
    ax.set_xlabel("chains x dim")
    ax.set_ylabel("µs per chain-step")
    ax.set_title("Dense vs diagonal MALA")
    ax.legend()
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    """Measure every cell, print the table, save the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--grid", nargs="+", default=[f"{c}x{d}" for c, d in GRID])
    args = parser.parse_args(argv)
    cells = [tuple(int(v) for v in cell.split("x")) for cell in args.grid]
    rows = []
    for chains, dim in cells:
        rows.append(measure_cell(chains, dim, args.repeats))
        print({n: round(r["us_per_chain_step"], 2) for n, r in rows[-1]["results"].items()})
    report = {"environment": environment(), "settings": {"repeats": args.repeats}, "rows": rows}
    table = markdown_table(report)
    print(table)
    save("dense_mala", report, table, plot(report))


if __name__ == "__main__":
    main()
