"""Effective samples per second and per gradient: jlangevin MALA against BlackJAX MALA.

Targets: the quartic on ``[-0.7, 1.5]`` (1-D, bimodal), an ill-conditioned
10-D Gaussian (scales from 0.01 to 1, condition number 10^4) and the 2-D
banana. jlangevin runs :func:`jlangevin.adaptation.warmup` of MALA (step size by
dual averaging toward acceptance 0.574, plus its diagonal preconditioner) and
then ``jl.run``; BlackJAX runs ``blackjax.mala`` with a *scalar* step found by
the same acceptance search (the same dual-averaging recursion, on the mean
acceptance over chains, for the same number of warm-up steps) and then the
same number of draws. Both start from the same positions.

ESS is ArviZ's bulk ESS (``arviz.ess``) of every coordinate over all chains;
the table quotes the worst coordinate, median over the repeated sampling runs
(fresh keys each; one warm-up): on the banana one run's value moves by a
factor of 2-5 between keys. Per second counts the wall-clock time
of the sampling phase once compiled (median of repeats); per gradient counts
its ``chains * draws`` gradient evaluations (both kernels take one
``value_and_grad`` per step). The warm-up is timed separately, once,
compilation included.

Writes ``results/ess.{json,md,png}``. Usage: ``python benchmarks/ess.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import environment, save

import jlangevin as jl

TARGET_ACCEPTANCE = 0.574


def targets() -> dict[str, jl.targets.Target]:
    return {
        "quartic": jl.targets.quartic(),
        "ill-conditioned Gaussian (10-D)": jl.targets.gaussian(
            np.zeros(10), scale=np.logspace(-2, 0, 10)
        ),
        "banana (2-D)": jl.targets.banana(),
    }


def start(target: jl.targets.Target, chains: int) -> jax.Array:
    """Deterministic starts inside the support, near the bulk."""
    u = jnp.linspace(0.1, 0.9, chains)[:, None] * jnp.ones((1, target.dim))
    if target.support is not None:
        low, high = (jnp.asarray(b) for b in target.support)
        return low + u * (high - low)
    return (u - 0.5) * jnp.sqrt(jnp.asarray(target.var))


def jlangevin_job(target, chains: int, warmup: int, draws: int) -> tuple[Callable, Callable]:
    def adapt(key, x0):
        sampler, state, info = jl.adaptation.warmup(
            key,
            jl.mala,
            target.logdensity,
            x0,
            warmup,
            target_acceptance=TARGET_ACCEPTANCE,
            preconditioner="diagonal",
            bounds=target.support,
        )
        return (sampler, state), float(np.mean(info.acceptance_rate[-warmup // 4 :]))

    def sample(key, adapted):
        sampler, state = adapted
        return jl.run(key, sampler, state, draws, store="positions").positions

    return adapt, sample


def blackjax_job(target, chains: int, warmup: int, draws: int) -> tuple[Callable, Callable]:
    import blackjax

    from jlangevin.adaptation import dual_averaging_init, dual_averaging_update

    logp = target.logdensity

    @jax.jit
    def adapt(key, x0):
        states = jax.vmap(blackjax.mala.init, (0, None))(x0, logp)

        def body(carry, step_key):
            states, da = carry
            step = jnp.exp(da.log_step)
            keys = jax.random.split(step_key, chains)
            kernel = blackjax.mala.build_kernel()
            states, info = jax.vmap(lambda k, s: kernel(k, s, logp, step))(keys, states)
            acceptance = jnp.mean(info.acceptance_rate)
            return (states, dual_averaging_update(da, acceptance, TARGET_ACCEPTANCE)), acceptance

        da = dual_averaging_init(jnp.asarray(1.0))
        (states, da), acc = jax.lax.scan(body, (states, da), jax.random.split(key, warmup))
        return states, jnp.exp(da.log_step_avg), acc

    @jax.jit
    def sample(key, states, step):
        kernel = blackjax.mala.build_kernel()

        def body(states, step_key):
            keys = jax.random.split(step_key, chains)
            states, _ = jax.vmap(lambda k, s: kernel(k, s, logp, step))(keys, states)
            return states, states.position

        return jax.lax.scan(body, states, jax.random.split(key, draws))[1]

    def adapt_blackjax(key, x0):
        states, step, acc = adapt(key, x0)
        return (states, step), float(np.mean(acc[-warmup // 4 :]))

    def sample_blackjax(key, adapted):
        return jnp.swapaxes(sample(key, *adapted), 0, 1)

    return adapt_blackjax, sample_blackjax


def run_job(job: tuple[Callable, Callable], x0: jax.Array, repeats: int) -> dict[str, Any]:
    """Warm up once (timed whole, compilation included), then time the sampling.

    The sampling runs once untimed (compilation), then ``repeats`` times with
    fresh keys; the worst coordinate's ESS is computed for every run and the
    median quoted (all of them are kept in ``min_ess_runs``).
    """
    import arviz

    adapt, sample = job
    key_warm, key_run = jax.random.split(jax.random.key(0))
    t0 = time.perf_counter()
    adapted, acceptance = adapt(key_warm, x0)
    jax.block_until_ready(adapted)
    warmup_seconds = time.perf_counter() - t0
    jax.block_until_ready(sample(key_run, adapted))
    times, min_ess, mean_ess = [], [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        positions = jax.block_until_ready(sample(jax.random.fold_in(key_run, r), adapted))
        times.append(time.perf_counter() - t0)
        draws = np.asarray(positions, dtype=np.float64)  # (chains, draws, dim)
        ess = [arviz.ess(draws[..., i], method="bulk") for i in range(draws.shape[-1])]
        min_ess.append(float(np.min(ess)))
        mean_ess.append(float(np.mean(ess)))
    return {
        "seconds": statistics.median(times),
        "warmup_seconds_with_compile": warmup_seconds,
        "min_ess": statistics.median(min_ess),
        "min_ess_runs": min_ess,
        "mean_ess": statistics.median(mean_ess),
        "acceptance": acceptance,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    jobs = {"jlangevin": jlangevin_job}
    notes = []
    try:
        import blackjax  # noqa: F401

        jobs["BlackJAX"] = blackjax_job
    except ImportError as err:
        notes.append(f"BlackJAX skipped: {err}")
    rows = []
    grads = args.chains * args.draws
    for name, target in targets().items():
        x0 = start(target, args.chains)
        for library, make in jobs.items():
            result = run_job(make(target, args.chains, args.warmup, args.draws), x0, args.repeats)
            result.update(
                target=name,
                library=library,
                ess_per_s=result["min_ess"] / result["seconds"],
                ess_per_grad=result["min_ess"] / grads,
            )
            rows.append(result)
            print(
                f"{name:32s} {library:9s} min ESS {result['min_ess']:8.0f}  "
                f"ESS/s {result['ess_per_s']:9.0f}  ESS/grad {result['ess_per_grad']:.2e}  "
                f"accept {result['acceptance']:.2f}",
                flush=True,
            )
    report = {"environment": environment(), "settings": vars(args), "notes": notes, "rows": rows}
    lines = [
        "| target | library | min bulk ESS | ESS / s | ESS / gradient | acceptance | warm-up s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['target']} | {r['library']} | {r['min_ess']:.0f} | {r['ess_per_s']:.3g} | "
            f"{r['ess_per_grad']:.2e} | {r['acceptance']:.2f} | "
            f"{r['warmup_seconds_with_compile']:.1f} |"
        )
    env = report["environment"]
    lines += [
        "",
        f"{args.chains} chains, {args.warmup} warm-up steps, {args.draws} draws; bulk ESS of "
        f"the worst coordinate, median of {args.repeats} sampling runs; ESS / s and "
        f"ESS / gradient over the sampling phase (compiled, "
        f"median of {args.repeats}); acceptance = mean over the last quarter of warm-up; "
        f"warm-up s = one warm-up call, compilation included; device: {env['device']} "
        f"({env['backend']}).",
        *(f"Note: {n}" for n in notes),
    ]
    save("ess", report, "\n".join(lines), plot(rows))


def plot(rows: list[dict[str, Any]]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target_names = list(dict.fromkeys(r["target"] for r in rows))
    libraries = list(dict.fromkeys(r["library"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    x = np.arange(len(target_names))
    width = 0.8 / len(libraries)
    for ax, key, label in (
        (axes[0], "ess_per_s", "min ESS / s"),
        (axes[1], "ess_per_grad", "min ESS / gradient"),
    ):
        for i, lib in enumerate(libraries):
            values = [
                next((r[key] for r in rows if r["target"] == t and r["library"] == lib), np.nan)
                for t in target_names
            ]
            ax.bar(x + (i - (len(libraries) - 1) / 2) * width, values, width, label=lib)
        ax.set_xticks(x, target_names, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle("MALA after warm-up: jlangevin (diagonal) vs BlackJAX (scalar step)")
    return fig


if __name__ == "__main__":
    main()
