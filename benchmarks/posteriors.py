"""Real posteriors: ``jl.sample`` (MALA with warm-up) against NumPyro NUTS.

Models, all written in NumPyro and given to jlangevin through ``jl.from_numpyro``:

* **eight schools**, centred and non-centred (the classic data of Rubin 1981);
* **logistic regression** on scikit-learn's breast-cancer data (569 rows, 30
  standardised features, Normal(0, 1) priors on the weights and the intercept);
* **random effects**, radon-like: 400 observations in 20 groups simulated with
  a fixed numpy seed, centred group intercepts ``alpha_j ~ Normal(mu, tau)``,
  one slope on a 0/1 covariate, HalfNormal ``tau`` and ``sigma``.

jlangevin runs ``jl.sample`` (MALA, step size and preconditioner adapted in
the warm-up) with 8 and 128 chains and the diagonal and the dense
preconditioner; NumPyro runs NUTS, 4 chains x 1000 warm-up x 1000 draws,
``chain_method="vectorized"``. Everything is float32 (JAX's default).

Per run: max R-hat and min bulk ESS over every scalar of every constrained
variable (latent and deterministic sites), ESS per gradient evaluation (MALA:
``chains * (warmup + draws)``, one gradient per step; NUTS: the sum of its
leapfrog steps, ``num_steps``, over warm-up and draws), ESS per second of the
whole call (initialisation, warm-up, draws, compilation) and of the draw phase
alone (MALA: a compiled rerun of it; NUTS: its ``MCMC.run`` call, which
compiles), and the largest posterior-mean z-score
against NUTS, ``z = (mean_jl - mean_nuts) / sqrt(mcse_jl^2 + mcse_nuts^2)``.

Writes ``results/posteriors.{json,md,png}``. Usage: ``python benchmarks/posteriors.py``
(``--quick``: tiny sizes, prints the table, writes nothing).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from _common import device_line, environment, save

import jlangevin as jl

EIGHT_SCHOOLS_Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
EIGHT_SCHOOLS_SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
RANDOM_EFFECTS_SEED = 20240615
Z_FAIL = 4.0
RHAT_FAIL = 1.01


class Problem(NamedTuple):
    """A NumPyro model and what it is called with."""

    fn: Callable[..., None]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def eight_schools_centred(sigma: np.ndarray, y: np.ndarray | None = None) -> None:
    """Eight schools, centred: ``theta_j ~ Normal(mu, tau)`` sampled directly."""
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def eight_schools_noncentred(sigma: np.ndarray, y: np.ndarray | None = None) -> None:
    """Eight schools, non-centred: ``theta = mu + tau * theta_tilde``."""
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def logistic_regression(features: np.ndarray, y: np.ndarray | None = None) -> None:
    """Bayesian logistic regression, Normal(0, 1) priors on weights and intercept."""
    import numpyro
    import numpyro.distributions as dist

    weights = numpyro.sample(
        "weights", dist.Normal(0.0, 1.0).expand([features.shape[1]]).to_event(1)
    )
    intercept = numpyro.sample("intercept", dist.Normal(0.0, 1.0))
    with numpyro.plate("row", features.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=features @ weights + intercept), obs=y)


def random_effects(
    group: np.ndarray, x: np.ndarray, num_groups: int, y: np.ndarray | None = None
) -> None:
    """Varying intercepts (centred), one slope: ``y_i ~ Normal(alpha[g_i] + beta x_i, sigma)``."""
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0))
    with numpyro.plate("group", num_groups):
        alpha = numpyro.sample("alpha", dist.Normal(mu, tau))
    with numpyro.plate("obs", len(x)):
        numpyro.sample("y", dist.Normal(alpha[group] + beta * x, sigma), obs=y)


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's breast-cancer data: standardised features (569, 30), 0/1 labels."""
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    features = (features - features.mean(0)) / features.std(0)
    return features.astype(np.float32), labels.astype(np.float32)


def radon_like(
    num_groups: int = 20, num_obs: int = 400, seed: int = RANDOM_EFFECTS_SEED
) -> dict[str, Any]:
    """Simulated radon-like data: unbalanced groups, a 0/1 floor covariate.

    True values: ``mu = 1.5, tau = 0.5, beta = -0.7, sigma = 0.8``.
    """
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(num_groups, 2.0))
    group = rng.choice(num_groups, size=num_obs, p=weights)
    x = rng.binomial(1, 0.5, size=num_obs).astype(np.float32)
    alpha = 1.5 + 0.5 * rng.standard_normal(num_groups)
    y = alpha[group] - 0.7 * x + 0.8 * rng.standard_normal(num_obs)
    return {"group": group, "x": x, "num_groups": num_groups, "y": y.astype(np.float32)}


def problems() -> dict[str, Problem]:
    """The benchmark's models with their data, by name."""
    features, labels = breast_cancer()
    radon = radon_like()
    schools = (EIGHT_SCHOOLS_SIGMA.astype(np.float32),)
    schools_y = {"y": EIGHT_SCHOOLS_Y.astype(np.float32)}
    return {
        "eight schools (centred)": Problem(eight_schools_centred, schools, schools_y),
        "eight schools (non-centred)": Problem(eight_schools_noncentred, schools, schools_y),
        "logistic regression (breast cancer)": Problem(
            logistic_regression, (features,), {"y": labels}
        ),
        "random effects (radon-like)": Problem(
            random_effects,
            (radon["group"], radon["x"], radon["num_groups"]),
            {"y": radon["y"]},
        ),
    }


def jl_model(problem: Problem) -> jl.Model:
    """The problem as a ``jl.Model`` (``jl.from_numpyro``)."""
    return jl.from_numpyro(problem.fn, *problem.args, **problem.kwargs)


def diagnostics(draws: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """R-hat, bulk ESS, mean and its MCSE of every scalar of every variable.

    Parameters
    ----------
    draws : ``{name: (chains, draws, *event)}``.

    Returns
    -------
    dict
        ``{name: {"rhat", "ess", "mean", "mcse"}}``, each a flat float64 array.
    """
    import arviz as az

    data = {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}
    dataset = az.convert_to_dataset(data)
    stats = {
        "rhat": az.rhat(dataset),
        "ess": az.ess(dataset, method="bulk"),
        "mcse": az.mcse(dataset, method="mean"),
    }
    out = {}
    for name, value in data.items():
        out[name] = {k: np.ravel(np.asarray(s[name].values)) for k, s in stats.items()}
        out[name]["mean"] = np.ravel(value.mean(axis=(0, 1)))
    return out


def summarise(diag: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Max R-hat and min bulk ESS over all scalars, with the variable that set each."""
    rhat = {name: float(np.max(d["rhat"])) for name, d in diag.items()}
    ess = {name: float(np.min(d["ess"])) for name, d in diag.items()}
    worst_rhat, worst_ess = max(rhat, key=rhat.get), min(ess, key=ess.get)
    return {
        "max_rhat": rhat[worst_rhat],
        "max_rhat_at": worst_rhat,
        "min_ess": ess[worst_ess],
        "min_ess_at": worst_ess,
    }


def max_z(
    diag: dict[str, dict[str, np.ndarray]], reference: dict[str, dict[str, np.ndarray]]
) -> tuple[float, str]:
    """The largest |posterior-mean z-score| against the reference, and where."""
    best, where = 0.0, ""
    for name, d in diag.items():
        r = reference[name]
        z = (d["mean"] - r["mean"]) / np.sqrt(d["mcse"] ** 2 + r["mcse"] ** 2)
        i = int(np.argmax(np.abs(z)))
        if not np.isfinite(z[i]) or abs(z[i]) > best:
            best, where = float(abs(z[i])), f"{name}[{i}]" if z.size > 1 else name
            if not np.isfinite(best):
                break
    return best, where


def run_nuts(key: jax.Array, problem: Problem, chains: int, warmup: int, draws: int) -> dict:
    """NumPyro NUTS, vectorized chains: draws, leapfrog steps and wall times.

    The warm-up and the draws are two calls (``MCMC.warmup`` then ``MCMC.run``)
    so that the leapfrog steps of both are counted; ``seconds`` is both together,
    compilation included; ``draw_seconds`` is the ``run`` call alone, which
    includes NumPyro's compilation of it (it recompiles on every ``run`` call in
    vectorized mode, so a rerun would not time the compiled draws either).
    """
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(
        NUTS(problem.fn),
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.warmup(key, *problem.args, extra_fields=fields, collect_warmup=True, **problem.kwargs)
    warmup_steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    t1 = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, *problem.args, extra_fields=fields, **problem.kwargs)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    t2 = time.perf_counter()
    extra = mcmc.get_extra_fields()
    return {
        "draws": {k: np.asarray(v) for k, v in samples.items()},
        "gradients": warmup_steps + int(np.sum(extra["num_steps"])),
        "warmup_gradients": warmup_steps,
        "divergences": int(np.sum(extra["diverging"])),
        "seconds": t2 - t0,
        "draw_seconds": t2 - t1,
    }


def run_mala(
    key: jax.Array, model: jl.Model, chains: int, warmup: int, draws: int, preconditioner: str
) -> dict:
    """``jl.sample`` timed whole (initialisation, warm-up, draws, compilation).

    The draw phase is then rerun twice from the trace's end with the adapted
    sampler (``jl.run`` compiles per sampler and length): the second, compiled,
    gives ``draw_seconds``; those draws are not used.
    """
    key_sample, key_rerun = jax.random.split(key)
    t0 = time.perf_counter()
    out = jl.sample(
        key_sample,
        model,
        num_chains=chains,
        num_warmup=warmup,
        num_draws=draws,
        preconditioner=preconditioner,
    )
    jax.block_until_ready(out.trace.positions)
    seconds = time.perf_counter() - t0
    jax.block_until_ready(jl.run(key_rerun, out.sampler, out.trace, draws).positions)
    t0 = time.perf_counter()
    rerun = jl.run(jax.random.fold_in(key_rerun, 1), out.sampler, out.trace, draws)
    jax.block_until_ready(rerun.positions)
    draw_seconds = time.perf_counter() - t0
    info = out.warmup
    return {
        "draws": jax.tree.map(np.asarray, out.posterior),
        "gradients": chains * (warmup + draws),
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "step_size": float(info.step_size),
        "acceptance": float(np.mean(np.asarray(info.acceptance_rate)[-max(warmup // 4, 1) :])),
        "restarted": int(info.num_restarted),
        "divergences": int(out.trace.num_diverged_steps),
    }


def row(
    name: str, config: str, result: dict, reference: dict | None
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """One table row (convergence, efficiency, agreement with NUTS) and its diagnostics."""
    diag = diagnostics(result.pop("draws"))
    summary = summarise(diag)
    out = {"model": name, "config": config, **result, **summary}
    out["ess_per_gradient"] = summary["min_ess"] / result["gradients"]
    out["ess_per_s"] = summary["min_ess"] / result["seconds"]
    out["ess_per_s_draws"] = summary["min_ess"] / result["draw_seconds"]
    if reference is None:
        out["max_z"], out["max_z_at"] = None, None
    else:
        out["max_z"], out["max_z_at"] = max_z(diag, reference)
    out["failed"] = bool(
        summary["max_rhat"] > RHAT_FAIL or (out["max_z"] is not None and out["max_z"] > Z_FAIL)
    )
    return out, diag


def print_row(r: dict[str, Any]) -> None:
    """One line per run, as it finishes."""
    z = "" if r["max_z"] is None else f"max|z| {r['max_z']:5.2f} ({r['max_z_at']})"
    print(
        f"{r['model']:36s} {r['config']:24s} R-hat {r['max_rhat']:6.3f}  "
        f"ESS {r['min_ess']:8.0f}  ESS/grad {r['ess_per_gradient']:.2e}  "
        f"ESS/s {r['ess_per_s']:8.1f} ({r['ess_per_s_draws']:8.1f})  {z}  "
        f"{r['seconds']:.1f}s{'  FAILED' if r['failed'] else ''}",
        flush=True,
    )


def benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every model: NUTS first (the reference), then every jlangevin configuration."""
    rows = []
    key = jax.random.key(args.seed)
    for m, (name, problem) in enumerate(problems().items()):
        if args.models and not any(s in name for s in args.models):
            continue
        model_key = jax.random.fold_in(key, m)
        nuts = run_nuts(model_key, problem, args.nuts_chains, args.nuts_warmup, args.nuts_draws)
        nuts_row, reference = row(name, f"NUTS {args.nuts_chains} chains", nuts, None)
        print_row(nuts_row)
        rows.append(nuts_row)
        model = jl_model(problem)
        for c, chains in enumerate(args.chains):
            warmup, draws = sizes(args, chains)
            for p, preconditioner in enumerate(args.preconditioners):
                run_key = jax.random.fold_in(model_key, 1 + 10 * c + p)
                result = run_mala(run_key, model, chains, warmup, draws, preconditioner)
                config = f"MALA {chains} chains {preconditioner}"
                r, _ = row(name, config, result, reference)
                r.update(chains=chains, warmup=warmup, num_draws=draws)
                print_row(r)
                rows.append(r)
    return rows


def sizes(args: argparse.Namespace, chains: int) -> tuple[int, int]:
    """Warm-up steps and draws for a chain count (``--many-*`` from 128 chains on)."""
    if chains >= 128:
        return args.many_warmup, args.many_draws
    return args.warmup, args.draws


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, env: dict) -> str:
    """The results table with its footnote."""
    lines = [
        "| model | sampler | max R-hat | min bulk ESS | ESS / gradient | ESS / s (whole call) "
        "| ESS / s (draws) | max \\|z\\| vs NUTS | acceptance | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        z = "" if r["max_z"] is None else f"{r['max_z']:.2f} ({r['max_z_at']})"
        acc = f"{r['acceptance']:.2f}" if "acceptance" in r else ""
        flag = " **fails**" if r["failed"] else ""
        lines.append(
            f"| {r['model']} | {r['config']}{flag} | {r['max_rhat']:.3f} | {r['min_ess']:.0f} | "
            f"{r['ess_per_gradient']:.2e} | {r['ess_per_s']:.3g} | {r['ess_per_s_draws']:.3g} | "
            f"{z} | {acc} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        f"NUTS: NumPyro, {args.nuts_chains} chains x {args.nuts_warmup} warm-up x "
        f'{args.nuts_draws} draws, `chain_method="vectorized"`; its gradients are the sum '
        "of `num_steps` (leapfrog steps) over warm-up and draws. MALA: `jl.sample`, "
        f"{args.warmup} warm-up + {args.draws} draws per chain below 128 chains, "
        f"{args.many_warmup} + {args.many_draws} from 128 on; gradients = chains x (warm-up + "
        "draws). R-hat, bulk ESS (ArviZ) over every scalar of every constrained variable; "
        "ESS / s (whole call): over the whole call(s), warm-up and compilation included; "
        "(draws): over the draw phase alone, for MALA timed on a compiled rerun of it, "
        "for NUTS its `MCMC.run` call (NumPyro compiles it anew each call, included). "
        "z = (mean_jl - mean_nuts) / "
        "sqrt(mcse_jl^2 + mcse_nuts^2), largest over all scalars. **fails**: max R-hat > "
        f"{RHAT_FAIL} or max |z| > {Z_FAIL}. float32; acceptance = mean over the last "
        f"quarter of warm-up. {device_line(env)}.",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]]) -> Any:
    """ESS / s (whole call) and ESS / gradient bars per model and configuration, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    configs = list(dict.fromkeys(r["config"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
    x = np.arange(len(models))
    width = 0.8 / len(configs)
    for ax, key, label in (
        (axes[0], "ess_per_s", "min bulk ESS / s (whole call)"),
        (axes[1], "ess_per_gradient", "min bulk ESS / gradient"),
    ):
        for i, config in enumerate(configs):
            values = [
                next((r[key] for r in rows if r["model"] == m and r["config"] == config), np.nan)
                for m in models
            ]
            ax.bar(x + (i - (len(configs) - 1) / 2) * width, values, width, label=config)
        ax.set_xticks(x, [m.replace(" (", "\n(") for m in models], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.suptitle("jl.sample (MALA + warm-up) vs NumPyro NUTS on real posteriors (float32)")
    return fig


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line settings; ``--quick`` shrinks everything to a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[8, 128])
    parser.add_argument("--preconditioners", nargs="+", default=["diagonal", "dense"])
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--many-warmup", type=int, default=1000)
    parser.add_argument("--many-draws", type=int, default=1000)
    parser.add_argument("--nuts-chains", type=int, default=4)
    parser.add_argument("--nuts-warmup", type=int, default=1000)
    parser.add_argument("--nuts-draws", type=int, default=1000)
    parser.add_argument("--models", nargs="*", default=None, help="substrings of model names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes; writes nothing")
    args = parser.parse_args(argv)
    if args.quick:
        args.chains, args.preconditioners = [4], ["diagonal"]
        args.warmup = args.draws = args.many_warmup = args.many_draws = 40
        args.nuts_chains, args.nuts_warmup, args.nuts_draws = 2, 30, 30
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table and (unless ``--quick``) save it."""
    args = parse(argv)
    t0 = time.perf_counter()
    rows = benchmark(args)
    total = time.perf_counter() - t0
    env = environment()
    table = markdown(rows, args, env)
    print(table)
    print(f"total {total:.0f} s")
    if not args.quick:
        report = {"environment": env, "settings": vars(args), "total_seconds": total, "rows": rows}
        save("posteriors", report, table, plot(rows))
    return rows


if __name__ == "__main__":
    main()
