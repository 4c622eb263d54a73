"""Adapted MALA vs the best scalar step, and dense vs diagonal (issue 4's acceptance rows).

Targets: a 100-D Gaussian with standard deviations geometrically spaced from
0.01 to 10, and the same Gaussian after a random rotation. Every row uses
4 chains x 5,000 draws after 2,000 warm-up (or burn-in) steps; R-hat and
bulk ESS come from ArviZ. "Best scalar step" runs a grid of scalar steps and
keeps the one with the largest minimum ESS.

Run: ``python benchmarks/adaptation.py``; writes
``benchmarks/results/adaptation.json`` and ``.md``.
"""

from __future__ import annotations

import json
import pathlib
import time

import arviz as az
import jax
import numpy as np

import jlangevin as jl

DIM, CHAINS, DRAWS, WARMUP = 100, 4, 5000, 2000
SCALAR_GRID = np.geomspace(1e-5, 3e-4, 6)
OUT = pathlib.Path(__file__).parent / "results"


def rotated_cov(sd: np.ndarray, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(sd.size, sd.size)))
    cov = q @ np.diag(sd**2) @ q.T
    return 0.5 * (cov + cov.T)


def summarize(trace: jl.Trace, seconds: float, **extra) -> dict:
    ds = az.convert_to_dataset({"x": np.asarray(trace.positions, float)})
    return {
        "rhat_max": float(np.max(az.rhat(ds).x.values)),
        "ess_bulk_min": float(np.min(az.ess(ds, method="bulk").x.values)),
        "acceptance": float(np.mean(trace.info.acceptance_rate)),
        "seconds": round(seconds, 2),
        **extra,
    }


def adapted(target: jl.targets.Target, preconditioner: str) -> dict:
    start = time.perf_counter()
    x0 = jax.random.normal(jax.random.key(0), (CHAINS, DIM))
    sampler, state, info = jl.adaptation.warmup(
        jax.random.key(1), jl.mala, target.logdensity, x0, WARMUP, preconditioner=preconditioner
    )
    trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    jax.block_until_ready(trace.positions)
    return summarize(trace, time.perf_counter() - start, step_size=float(info.step_size))


def best_scalar(target: jl.targets.Target) -> dict:
    x0 = jax.random.normal(jax.random.key(0), (CHAINS, DIM))
    best = None
    for h in SCALAR_GRID:
        start = time.perf_counter()
        trace = jl.run(
            jax.random.key(2), jl.mala(target.logdensity, float(h)), x0, DRAWS, burnin=WARMUP
        )
        row = summarize(trace, time.perf_counter() - start, step_size=float(h))
        if best is None or row["ess_bulk_min"] > best["ess_bulk_min"]:
            best = row
    return best


def main() -> None:
    sd = np.geomspace(0.01, 10.0, DIM)
    diagonal_target = jl.targets.gaussian(np.zeros(DIM), scale=sd)
    rotated_target = jl.targets.gaussian(np.zeros(DIM), rotated_cov(sd))
    rows = {
        "ill-conditioned, adapted diagonal": adapted(diagonal_target, "diagonal"),
        "ill-conditioned, best scalar step": best_scalar(diagonal_target),
        "rotated, adapted dense": adapted(rotated_target, "dense"),
        "rotated, adapted diagonal": adapted(rotated_target, "diagonal"),
    }
    header = "| case | R-hat max | min bulk ESS | acceptance | step | wall s |"
    lines = [header, "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['rhat_max']:.4f} | {r['ess_bulk_min']:.0f} | {r['acceptance']:.3f} "
            f"| {r['step_size']:.3g} | {r['seconds']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    setup = (
        f"{DIM}-D Gaussian, sd 0.01..10 (geometric); {CHAINS} chains x {DRAWS} draws after "
        f"{WARMUP} warm-up/burn-in steps; scalar grid {SCALAR_GRID.tolist()}; "
        f"jax {jax.__version__}, backend {jax.default_backend()}."
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "adaptation.json").write_text(json.dumps({"setup": setup, "rows": rows}, indent=2))
    (OUT / "adaptation.md").write_text(f"# MALA adaptation\n\n{setup}\n\n{table}\n")


if __name__ == "__main__":
    main()
