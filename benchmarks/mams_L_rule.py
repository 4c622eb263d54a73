"""The trajectory rules of MCLMC and MAMS, and the cost of MAMS' length jitter (issue 25).

1. **Rules.** The warm-up tunes MCLMC's decoherence length and MAMS' trajectory by
   one of the rules the kernel declares: MEADS (the chains' largest scale), ChEES
   (MAMS only: its step returns the trajectory's end) or the chains' effective
   sample size (``"ess"``). Each row is 64 chains, 1,000 warm-up steps, then 1,000
   draws; ``ESS/grad`` is the smallest bulk ESS (ArviZ) over the coordinates of
   ``x`` and ``x²``, divided by all the gradients spent, warm-up included. The
   ``var bias`` is the mean over coordinates of ``v̂ / v - 1`` against the exact
   variances, with its Monte Carlo standard error from the spread over chains
   (MCLMC is biased by its step; MAMS is exact, a check). Three seeds per row
   (0, 1, 2; the same for every rule), reported as their median and range.

   Targets with exact answers: a 100-D Gaussian with standard deviations
   geometrically spaced from 0.1 to 10, with the default metric (``"auto"``) and
   with no metric (the declaration without ``"metric"``: the rule alone faces the
   100:1 scales); the banana (``jl.targets.banana``); and a logistic-regression-like
   posterior: ``x = A z``, ``z`` 20 independent standard logistic variables
   (log density ``-Σ softplus(z) + softplus(-z)``, the terms of a logistic
   likelihood), ``A`` a fixed random rotation times scales from 0.3 to 3, so
   ``Cov x = A Aᵀ π² / 3`` exactly.

2. **Jitter.** MAMS with ``ε = 0.3``, ``N = 16`` (so ``n`` over ``1 .. 31``), 64
   chains, 500 steps on the 100-D Gaussian: wall time per gradient spent, the
   per-chain draw of ``n`` (each chain its own ``n``; the ``vmap``-ed loop runs to
   the largest) against the shared ``n`` of the step count (the sampler's), timed
   alternately. Both runs' means and variances are checked against the exact
   ones (largest |z|, z from the MCSE over chains).

Run: ``python benchmarks/mams_L_rule.py`` (``--quick``: one seed, shorter runs;
``--jitter-only``: redo the jitter rows, keeping the saved rule rows);
writes ``benchmarks/results/mams_L_rule.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from _common import RESULTS, device_line, environment, save

import jlangevin as jl
from jlangevin.kernels import mams, mclmc

CHAINS, WARMUP, DRAWS, SEEDS = 64, 1000, 1000, (0, 1, 2)
RULES = {"mclmc": ("meads", "ess"), "mams": ("chees", "meads", "ess")}
JITTER_STEP, JITTER_MEAN, JITTER_STEPS = 0.3, 16, 500


# --------------------------------------------------------------------------- #
# Targets: (name, logdensity, dim, exact variances, start sampler, metric tuned)
# --------------------------------------------------------------------------- #
def gaussian_target():
    sd = np.geomspace(0.1, 10.0, 100)
    target = jl.targets.gaussian(np.zeros(100), scale=sd)
    return target.logdensity, 100, sd**2


def banana_target():
    target = jl.targets.banana()
    return target.logdensity, 2, np.asarray(target.var, float)


def logistic_target(dim: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    a = q @ np.diag(np.geomspace(0.3, 3.0, dim))
    a_inv = jnp.asarray(np.linalg.inv(a), jnp.float32)

    def logdensity(x):
        z = a_inv @ x
        return -jnp.sum(jax.nn.softplus(z) + jax.nn.softplus(-z))

    return logdensity, dim, np.diag(a @ a.T) * np.pi**2 / 3


TARGETS = {
    "gaussian100": (gaussian_target, True),
    "gaussian100-nometric": (gaussian_target, False),
    "banana": (banana_target, True),
    "logistic20": (logistic_target, True),
}


def kernel_tuning(kernel: str, metric: bool):
    tuning = {"mclmc": mclmc.tuning, "mams": mams.tuning}[kernel]
    if metric:
        return tuning
    return tuning._replace(tunes=tuple(t for t in tuning.tunes if t != "metric"))


# --------------------------------------------------------------------------- #
# One row: warm-up with a rule, draws, ESS per gradient and variance bias
# --------------------------------------------------------------------------- #
def min_ess(x: np.ndarray) -> float:
    """Smallest bulk ESS over the coordinates of ``x`` and ``x²``; ``x`` (chains, draws, d)."""
    both = np.concatenate([x, x**2], axis=-1)
    ds = az.convert_to_dataset({"x": both})
    return float(np.min(az.ess(ds, method="bulk").x.values))


def variance_bias(x: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """Mean over coordinates of ``v̂ / v - 1`` and its MCSE (the spread over chains)."""
    per_chain = np.mean(np.mean(x**2, axis=1) / var - 1.0, axis=-1)  # exact mean 0
    return float(per_chain.mean()), float(per_chain.std(ddof=1) / np.sqrt(per_chain.size))


def one_row(target: str, kernel: str, rule: str, seed: int, warmup: int, draws: int) -> dict:
    make, metric = TARGETS[target]
    logdensity, dim, var = make()
    tuning = kernel_tuning(kernel, metric)
    start = 2.0 * jax.random.normal(jax.random.key(1000 + seed), (CHAINS, dim))
    if not metric:
        start = start * jnp.sqrt(jnp.asarray(var, jnp.float32))
    clock = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler, state, info = jl.adaptation.warmup(
            jax.random.key(seed), tuning, logdensity, start, warmup, trajectory=rule
        )
        trace = jl.run(jax.random.key(seed), sampler, state, draws)
    seconds = time.perf_counter() - clock
    x = np.asarray(trace.positions, np.float64)
    grads = info.num_grads + int(np.sum(np.asarray(trace.info.num_grads)))
    ess = min_ess(x)
    bias, bias_se = variance_bias(x, var)
    return {
        "target": target,
        "kernel": kernel,
        "rule": rule,
        "seed": seed,
        "metric": info.metric_kind,
        "step_size": float(info.step_size),
        "trajectory_length": float(info.trajectory_length),
        "num_integration_steps": int(info.num_integration_steps),
        "warmup_grads": int(info.num_grads),
        "grads": grads,
        "min_ess": ess,
        "ess_per_grad": ess / grads,
        "var_bias": bias,
        "var_bias_mcse": bias_se,
        "warnings": [str(w.message)[:120] for w in caught],
        "seconds": seconds,
    }


# --------------------------------------------------------------------------- #
# The jitter's cost
# --------------------------------------------------------------------------- #
def per_chain_jitter_step(key, state, logdensity_fn, step_size, num_integration_steps):
    """The former sampler's step: each chain draws its own ``n`` from its key."""
    key_steps, key_step = jax.random.split(key)
    n = mams.jittered_steps(key_steps, num_integration_steps)
    new_state, info, _ = mams.dynamic_step(key_step, state, logdensity_fn, step_size, n)
    return new_state, info


def jitter_sampler(kind: str):
    logdensity, _, _ = gaussian_target()
    sampler = mams.sampler(logdensity, JITTER_STEP, JITTER_MEAN)
    if kind == "shared":
        return sampler
    step = functools.partial(
        per_chain_jitter_step,
        logdensity_fn=logdensity,
        step_size=JITTER_STEP,
        num_integration_steps=JITTER_MEAN,
    )
    return jl.Sampler(init=sampler.init, step=step)


def jitter_rows(steps: int, repeats: int = 7) -> list[dict]:
    """Both jitters, compiled first, then timed alternately (``repeats`` each, the best kept).

    Alternating keeps a busy host's slow spells from landing on one variant only;
    ``ratio`` is the median over the pairs of per-chain over shared time per gradient.
    """
    _, dim, var = gaussian_target()
    sd = jnp.sqrt(jnp.asarray(var, jnp.float32))
    start = sd * jax.random.normal(jax.random.key(5), (CHAINS, dim))  # exact draws
    kinds = ("per-chain", "shared")
    samplers = {kind: jitter_sampler(kind) for kind in kinds}
    traces = {}
    for kind in kinds:  # compile
        traces[kind] = jl.run(jax.random.key(6), samplers[kind], start, steps)
        jax.block_until_ready(traces[kind].positions)
    seconds = {kind: [] for kind in kinds}
    for _ in range(repeats):
        for kind in kinds:
            clock = time.perf_counter()
            trace = jl.run(jax.random.key(6), samplers[kind], start, steps)
            jax.block_until_ready(trace.positions)
            seconds[kind].append(time.perf_counter() - clock)
    rows = []
    for kind in kinds:
        trace = traces[kind]
        grads = int(np.sum(np.asarray(trace.info.num_grads)))
        n = np.asarray(trace.info.num_integration_steps)
        x = np.asarray(trace.positions, np.float64)
        chain_means, chain_vars = x.mean(axis=1), (x**2).mean(axis=1)
        z_mean = chain_means.mean(0) / (chain_means.std(0, ddof=1) / np.sqrt(CHAINS))
        z_var = (chain_vars.mean(0) - var) / (chain_vars.std(0, ddof=1) / np.sqrt(CHAINS))
        best = min(seconds[kind])
        rows.append(
            {
                "jitter": kind,
                "seconds": best,
                "seconds_all": seconds[kind],
                "grads": grads,
                "us_per_grad": 1e6 * best / grads,
                "mean_n": float(n.mean()),
                "max_n_per_step_mean": float(n.max(axis=0).mean()),
                "acceptance": float(np.mean(np.asarray(trace.info.acceptance_rate))),
                "max_abs_z": float(max(np.abs(z_mean).max(), np.abs(z_var).max())),
            }
        )
    per_grad = {r["jitter"]: np.asarray(r["seconds_all"]) / r["grads"] for r in rows}
    ratio = float(np.median(per_grad["per-chain"] / per_grad["shared"]))
    for r in rows:
        r["ratio_per_chain_over_shared"] = ratio
    return rows


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["target"], r["kernel"], r["rule"]), []).append(r)
    out = []
    for (target, kernel, rule), rs in groups.items():
        epg = np.array([r["ess_per_grad"] for r in rs])
        out.append(
            {
                "target": target,
                "kernel": kernel,
                "rule": rule,
                "ess_per_grad_median": float(np.median(epg)),
                "ess_per_grad_min": float(epg.min()),
                "ess_per_grad_max": float(epg.max()),
                "T_median": float(np.median([r["trajectory_length"] for r in rs])),
                "eps_median": float(np.median([r["step_size"] for r in rs])),
                "L_median": float(np.median([r["num_integration_steps"] for r in rs])),
                "warmup_share": float(np.median([r["warmup_grads"] / r["grads"] for r in rs])),
                "var_bias_median": float(np.median([r["var_bias"] for r in rs])),
                "var_bias_mcse": float(np.median([r["var_bias_mcse"] for r in rs])),
            }
        )
    return out


def markdown(summary: list[dict], jitter: list[dict], env: dict, settings: str) -> str:
    lines = [
        "# MCLMC and MAMS: trajectory rules, and MAMS' length jitter",
        "",
        settings,
        "",
        "| target | kernel | rule | ESS/grad ×1e3 (median [min, max]) | T | ε | L | "
        "warm-up share | var bias (± MCSE) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['target']} | {s['kernel']} | {s['rule']} | "
            f"{1e3 * s['ess_per_grad_median']:.3f} [{1e3 * s['ess_per_grad_min']:.3f}, "
            f"{1e3 * s['ess_per_grad_max']:.3f}] | {s['T_median']:.3g} | {s['eps_median']:.3g} | "
            f"{s['L_median']:.0f} | {s['warmup_share']:.2f} | "
            f"{s['var_bias_median']:+.4f} (± {s['var_bias_mcse']:.4f}) |"
        )
    lines += [
        "",
        f"MAMS jitter, {CHAINS} chains, ε = {JITTER_STEP}, N = {JITTER_MEAN}, "
        f"100-D Gaussian, {JITTER_STEPS} steps (best of 7 timed runs each, alternated, "
        "after compiling); per-chain over shared time per gradient, median of the pairs: "
        f"{jitter[0].get('ratio_per_chain_over_shared', float('nan')):.2f}x",
        "",
        "| n drawn | µs per gradient | mean n | mean over steps of the largest n | "
        "acceptance | largest abs(z) of means and variances |",
        "|---|---|---|---|---|---|",
    ]
    for j in jitter:
        lines.append(
            f"| {j['jitter']} | {j['us_per_grad']:.3f} | {j['mean_n']:.2f} | "
            f"{j['max_n_per_step_mean']:.2f} | {j['acceptance']:.3f} | {j['max_abs_z']:.2f} |"
        )
    lines += ["", device_line(env)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 400 + 400 steps")
    parser.add_argument("--targets", nargs="*", default=list(TARGETS))
    parser.add_argument(
        "--jitter-only", action="store_true", help="redo the jitter rows, keep the saved rules"
    )
    args = parser.parse_args()
    if args.jitter_only:
        report = json.loads((RESULTS / "mams_L_rule.json").read_text())
        jitter = jitter_rows(JITTER_STEPS)
        for j in jitter:
            print(j, flush=True)
        env = environment()
        report["jitter"], report["jitter_environment"] = jitter, env
        text = markdown(report["summary"], jitter, env, report["settings"])
        save("mams_L_rule", report, text)
        return
    seeds = (0,) if args.quick else SEEDS
    warmup, draws = (400, 400) if args.quick else (WARMUP, DRAWS)
    rows = []
    for target in args.targets:
        for kernel, rules in RULES.items():
            for rule in rules:
                for seed in seeds:
                    row = one_row(target, kernel, rule, seed, warmup, draws)
                    rows.append(row)
                    print(
                        f"{target:22s} {kernel:6s} {rule:6s} seed {seed}: "
                        f"ESS/grad {1e3 * row['ess_per_grad']:.3f}e-3, "
                        f"T {row['trajectory_length']:.3g}, "
                        f"eps {row['step_size']:.3g}, L {row['num_integration_steps']}, "
                        f"bias {row['var_bias']:+.4f}±{row['var_bias_mcse']:.4f} "
                        f"({row['seconds']:.0f} s)",
                        flush=True,
                    )
    jitter_steps = 200 if args.quick else JITTER_STEPS
    jitter = jitter_rows(jitter_steps)
    for j in jitter:
        print(j, flush=True)
    env = environment()
    summary = summarise(rows)
    settings = (
        f"{CHAINS} chains, {warmup} warm-up steps, {draws} draws, seeds {list(seeds)}; "
        "ESS/grad: the smallest bulk ESS over x and x², over all gradients (warm-up included)."
    )
    report = {
        "environment": env,
        "settings": settings,
        "rows": rows,
        "summary": summary,
        "jitter": jitter,
    }
    save("mams_L_rule", report, markdown(summary, jitter, env, settings))


if __name__ == "__main__":
    main()
