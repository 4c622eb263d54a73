"""SG-MCMC on NumPyro models: `jl.sample(kernel="sgld" | "sghmc", batch_size=n)` vs full batch.

Problems (no downloads; data that scikit-learn ships or generated data), each a
NumPyro model with a plain data plate, split 75 / 25 into train and test:

* ``breast_cancer``: Bayesian logistic regression, 30 standardised features,
  ``w ~ N(0, I)``, intercept ``b ~ N(0, 5²)``; 426 training points.
* ``digits_2class``: the same model on scikit-learn's digits, even vs odd
  (64 pixels standardised, constant pixels dropped); 1347 training points.
* ``bnn_moons``: a Bayesian neural network, 2 inputs -> 16 tanh units -> 1 logit,
  every weight ``N(0, 1)``, on ``make_moons(2000, noise=0.2)``; 1500 training points.

Methods on the same posterior: full-batch ``jl.sample(kernel="malt")`` (the
reference), NumPyro NUTS (4 chains, 1000 + 1000), and ``jl.sample`` SGLD / SGHMC
with their defaults (control variates at the mode, Laplace whitening, a constant
step halved by the bias check until a full-data Metropolis test of its Langevin
move accepts 0.98; the table's last column gives the step, the halving and the
acceptance) plus variants that justify the defaults: plain minibatches, other
constant steps, a decreasing step. Metrics on the test set: accuracy of the
posterior predictive mean, log predictive density (mean over test points of
``log mean_s p(y | θ_s)``); against the reference: the largest error of the
posterior mean over the parameters in units of the reference's posterior sd
(logistic regressions only: a BNN's weights are not identified), and the mean
absolute difference of the predictive probabilities on the test set (all).

Gradient evaluations are full-data gradient equivalents: a gradient over ``n``
of ``N`` points counts ``n / N`` (control variates take two batch gradients a
step); NUTS and MALT count one per leapfrog step, warm-up included; the SG
runs include the mode finder (2000 full-data Adam steps) and the Hessian at
the mode (each Hessian-vector product counted as 2 gradients).

Cost per step: synthetic logistic regression (10 features), ``N`` from 10^3 to
10^6, SGLD with control variates (``n = 64``, the estimator ``jl.sample``
builds) against a full-batch MALA step, both through ``jl.run`` with 16 chains;
µs per chain-step, best of 3 timed calls after a compile call.

Writes ``results/sgmcmc.{json,md,png}``. ``--quick``: a smoke run (small
numbers, breast cancer only, N up to 10^4); its results are not saved.

Usage: ``python benchmarks/sgmcmc.py [--quick | --replot]`` (``--replot``: the figure
redrawn from the JSON).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _common import device_line, environment, save

import jlangevin as jl

BATCH = 32
NUM_CHAINS = 32
HIDDEN = 16
STEP_N = (1_000, 10_000, 100_000, 1_000_000)
STEP_BATCH = 64


# --------------------------------------------------------------------------- #
# Models and data
# --------------------------------------------------------------------------- #
def logistic(x, y):
    import numpyro
    import numpyro.distributions as dist

    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, 5.0))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=x @ w + b), obs=y)


def bnn(x, y):
    import numpyro
    import numpyro.distributions as dist

    normal = dist.Normal(0.0, 1.0)
    w1 = numpyro.sample("w1", normal.expand([x.shape[1], HIDDEN]).to_event(2))
    b1 = numpyro.sample("b1", normal.expand([HIDDEN]).to_event(1))
    w2 = numpyro.sample("w2", normal.expand([HIDDEN]).to_event(1))
    b2 = numpyro.sample("b2", normal)
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=jnp.tanh(x @ w1 + b1) @ w2 + b2), obs=y)


def logistic_logits(params: dict, x: np.ndarray) -> jax.Array:
    return x @ params["w"].T + params["b"]  # params leaves (S, ...): logits (test, S)


def bnn_logits(params: dict, x: np.ndarray) -> jax.Array:
    hidden = jnp.tanh(jnp.einsum("nd,sdh->snh", x, params["w1"]) + params["b1"][:, None, :])
    return (jnp.einsum("snh,sh->sn", hidden, params["w2"]) + params["b2"][:, None]).T


def _split(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.75 * len(y))
    train, test = order[:cut], order[cut:]
    mean, sd = x[train].mean(0), x[train].std(0)
    keep = sd > 1e-8
    x = (x[:, keep] - mean[keep]) / sd[keep]
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return f32(x[train]), f32(y[train]), f32(x[test]), f32(y[test])


def problems(quick: bool) -> dict[str, dict[str, Any]]:
    from sklearn.datasets import load_breast_cancer, load_digits, make_moons

    cancer = load_breast_cancer()
    out = {
        "breast_cancer": {
            "model": logistic,
            "logits": logistic_logits,
            "data": _split(cancer.data, cancer.target),
            "identified": True,
        }
    }
    if quick:
        return out
    digits = load_digits()
    out["digits_2class"] = {
        "model": logistic,
        "logits": logistic_logits,
        "data": _split(digits.data, digits.target % 2),
        "identified": True,
    }
    x, y = make_moons(2000, noise=0.2, random_state=0)
    out["bnn_moons"] = {
        "model": bnn,
        "logits": bnn_logits,
        "data": _split(x, y),
        "identified": False,
    }
    return out


# --------------------------------------------------------------------------- #
# Methods
# --------------------------------------------------------------------------- #
def _thin(params: dict, keep: int) -> dict:
    """At most ``keep`` draws, evenly spaced over all chains and draws (leaves (S, ...))."""
    flat = {k: np.reshape(v, (-1, *np.shape(v)[2:])) for k, v in params.items()}
    total = next(iter(flat.values())).shape[0]
    index = np.linspace(0, total - 1, min(keep, total)).astype(int)
    return {k: v[index] for k, v in flat.items()}


def run_jl(parts: Any, kernel: str, quick: bool, **options: Any) -> dict[str, Any]:
    draws = 300 if quick else (1000 if kernel == "malt" else 2000)
    warmup = 300 if quick else 1000
    chains = 64 if kernel == "malt" else NUM_CHAINS
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = jl.sample(
            jax.random.key(1),
            parts,
            kernel=kernel,
            num_chains=chains,
            num_warmup=warmup,
            num_draws=draws,
            warn=False,
            **options,
        )
        jax.block_until_ready(result.trace.positions)
    seconds = time.perf_counter() - start
    posterior = {k: np.asarray(v) for k, v in result.posterior.items()}
    return {
        "posterior": posterior,
        "grads": float(result.num_grads.total),
        "seconds": seconds,
        "converged": bool(result.converged),
        "rhat": float(result.convergence.rhat),
        "ess_bulk": float(result.convergence.ess_bulk),
        "report": str(result),
        "step": _step_line(result),
    }


def _step_line(result: Any) -> str | None:
    """The SG run's step and its bias check (``halvings``, acceptance), or ``None``."""
    fit = getattr(result, "step_fit", None)
    if fit is None:
        return None
    if callable(fit.step_size):
        return "schedule"
    return f"{float(np.mean(fit.step_size)):.3g} (÷{2**fit.halvings}, acc. {fit.acceptance:.3f})"


def run_nuts(model: Callable, x: np.ndarray, y: np.ndarray, quick: bool) -> dict[str, Any]:
    from numpyro.infer import MCMC, NUTS

    num = 300 if quick else 1000
    mcmc = MCMC(
        NUTS(model),
        num_warmup=num,
        num_samples=num,
        num_chains=4,
        chain_method="sequential",
        progress_bar=False,
    )
    start = time.perf_counter()
    key = jax.random.key(2)
    mcmc.warmup(key, x, y, extra_fields=("num_steps",), collect_warmup=True)
    warm_steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    mcmc.run(mcmc.post_warmup_state.rng_key, x, y, extra_fields=("num_steps",))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    seconds = time.perf_counter() - start
    steps = warm_steps + int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    posterior = {k: np.asarray(v) for k, v in samples.items()}
    from jlangevin.diagnostics import rhat

    worst = max(
        float(np.max(rhat(v.reshape(v.shape[0], v.shape[1], -1)))) for v in posterior.values()
    )
    return {
        "posterior": posterior,
        "grads": float(steps),
        "seconds": seconds,
        "converged": None,
        "rhat": worst,
        "ess_bulk": None,
        "report": "",
        "step": None,
    }


def variants(quick: bool, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, kernel, options)`` of the SG runs of one problem."""
    rows = [
        ("SGLD (default: 0.03, bias-checked)", "sgld", {}),
        ("SGHMC (default: 0.03, bias-checked)", "sghmc", {}),
        ("SGLD, plain minibatch", "sgld", {"estimator": "minibatch"}),
    ]
    if quick:
        return rows
    rows.append(("SGHMC, plain minibatch", "sghmc", {"estimator": "minibatch"}))
    if name == "breast_cancer":  # what the defaults were chosen from
        rows += [
            ("SGLD, step 0.1", "sgld", {"step_size": 0.1}),
            ("SGLD, step 0.3", "sgld", {"step_size": 0.3}),
            (
                "SGLD, decreasing 0.3 (1 + t/100)^-0.55",
                "sgld",
                {"step_size": lambda t: 0.3 * (1.0 + t / 100.0) ** -0.55},
            ),
            ("SGHMC, step 0.1", "sghmc", {"step_size": 0.1}),
            ("SGHMC, step 0.3", "sghmc", {"step_size": 0.3}),
            ("SGLD, SVRG", "sgld", {"estimator": "svrg"}),
        ]
    return rows


# --------------------------------------------------------------------------- #
# Metrics
# --------------------------------------------------------------------------- #
def predictive(logits_fn: Callable, posterior: dict, x: np.ndarray) -> np.ndarray:
    """``(test, S)`` probabilities of class 1 at up to 1000 posterior draws."""
    draws = {k: jnp.asarray(v) for k, v in _thin(posterior, 1000).items()}
    return np.asarray(jax.nn.sigmoid(logits_fn(draws, jnp.asarray(x))), np.float64)


def metrics(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    likelihood = np.where(y[:, None] == 1, probs, 1 - probs)
    mean_prob = probs.mean(1)
    return {
        "accuracy": float(np.mean((mean_prob > 0.5) == (y == 1))),
        "lpd": float(np.mean(np.log(np.mean(likelihood, axis=1)))),
    }


def mean_errors(posterior: dict, reference: dict) -> np.ndarray:
    """|posterior mean - reference mean| / reference sd, every parameter."""
    errors = []
    for name, ref in reference.items():
        ref = ref.reshape(-1, *ref.shape[2:])
        got = posterior[name].reshape(-1, *posterior[name].shape[2:])
        errors.append(np.ravel(np.abs(got.mean(0) - ref.mean(0)) / ref.std(0)))
    return np.concatenate(errors)


def sd_ratio(posterior: dict, reference: dict) -> float:
    """Median over the parameters of posterior sd / reference sd."""
    ratios = []
    for name, ref in reference.items():
        ref = ref.reshape(-1, *ref.shape[2:])
        got = posterior[name].reshape(-1, *posterior[name].shape[2:])
        ratios.append(np.ravel(got.std(0) / ref.std(0)))
    return float(np.median(np.concatenate(ratios)))


def compare(name: str, problem: dict[str, Any], quick: bool) -> list[dict[str, Any]]:
    x, y, x_test, y_test = problem["data"]
    parts = jl.models.subsampled(problem["model"], x, y)
    rows = []
    runs = [("MALT, full batch (reference)", lambda: run_jl(parts, "malt", quick))]
    runs.append(("NumPyro NUTS, full batch", lambda: run_nuts(problem["model"], x, y, quick)))
    for label, kernel, options in variants(quick, name):
        runs.append(
            (
                label,
                lambda k=kernel, o=options: run_jl(parts, k, quick, batch_size=BATCH, **o),
            )
        )
    reference, ref_probs = None, None
    for label, go in runs:
        out = go()
        probs = predictive(problem["logits"], out["posterior"], x_test)
        if reference is None:
            reference, ref_probs = out["posterior"], probs
        errors = mean_errors(out["posterior"], reference) if problem["identified"] else None
        row = {
            "problem": name,
            "method": label,
            "num_data": len(y),
            **metrics(probs, y_test),
            "prob_error": float(np.mean(np.abs(probs.mean(1) - ref_probs.mean(1)))),
            "mean_error_sd": float(np.max(errors)) if errors is not None else None,
            "median_mean_error_sd": float(np.median(errors)) if errors is not None else None,
            "sd_ratio": sd_ratio(out["posterior"], reference) if problem["identified"] else None,
            "grads": out["grads"],
            "point_grads": out["grads"] * len(y),
            "seconds": out["seconds"],
            "rhat": out["rhat"],
            "converged": out["converged"],
            "report": out["report"],
            "step": out["step"],
        }
        print(
            f"{name:14s} {label:40s} acc {row['accuracy']:.3f} lpd {row['lpd']:.4f} "
            f"mean err {row['mean_error_sd']} grads {row['grads']:.0f} {row['seconds']:.1f} s",
            flush=True,
        )
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- #
# Cost per step against N
# --------------------------------------------------------------------------- #
def synthetic(num_data: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(num_data, 10)).astype(np.float32)
    logits = x @ np.linspace(-1.0, 1.0, 10) + 0.5
    y = (rng.random(num_data) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    return x, y


def _best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    jax.block_until_ready(fn())  # compile
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def step_cost(num_data: int, chains: int = 16) -> dict[str, Any]:
    """µs per chain-step: SGLD with control variates (n = 64) and a full-batch MALA step."""
    x, y = synthetic(num_data)
    parts = jl.models.subsampled(logistic, x, y)
    centre = jax.tree.map(lambda v: jnp.zeros_like(v), parts.model.init(jax.random.key(0), 1))
    centre = jax.tree.map(lambda v: v[0], centre)
    step = 0.1 / num_data  # the posterior sd is about 1 / sqrt(N): steps that move
    sg = jl.sgld(parts.control_variates(STEP_BATCH, centre), step_size=step)
    full = jl.mala(parts.model.logdensity_fn, step_size=step)
    start = parts.model.init(jax.random.key(1), chains)
    sg_steps, full_steps = 200, max(2, min(200, 2_000_000 // num_data))
    key = jax.random.key(2)
    sg_s = _best_time(lambda: jl.run(key, sg, start, sg_steps, store="stats").stats)
    full_s = _best_time(lambda: jl.run(key, full, start, full_steps, store="stats").stats)
    row = {
        "num_data": num_data,
        "sgld_us": 1e6 * sg_s / (chains * sg_steps),
        "full_us": 1e6 * full_s / (chains * full_steps),
    }
    print(
        f"N={num_data:>9,}  SGLD {row['sgld_us']:.1f} µs   full {row['full_us']:.1f} µs", flush=True
    )
    return row


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def markdown_table(report: dict[str, Any]) -> str:
    lines = [
        "Posterior quality on held-out data (test 25%), against full-batch MALT:",
        "",
        "| problem | N | method | accuracy | log pred. density | pred. prob. error | "
        "mean error (ref. sd): max / median | median sd ratio | full-data grads | wall (s) "
        "| R-hat max | SG step (bias check) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["compare"]:
        lines.append(
            f"| {r['problem']} | {r['num_data']} | {r['method']} | {r['accuracy']:.3f} | "
            f"{r['lpd']:.4f} | {r['prob_error']:.4f} | {_fmt(r['mean_error_sd'], '.2f')} / "
            f"{_fmt(r['median_mean_error_sd'], '.2f')} | "
            f"{_fmt(r['sd_ratio'], '.2f')} | {r['grads']:,.0f} | {r['seconds']:.1f} | "
            f"{r['rhat']:.3f} | {r.get('step') or '–'} |"
        )
    lines += [
        "",
        f"Cost per chain-step against N (synthetic logistic, 10 features, 16 chains; "
        f"SGLD with control variates, n = {STEP_BATCH}):",
        "",
        "| N | SGLD (µs) | full-batch MALA (µs) | full / SGLD |",
        "|---|---|---|---|",
    ]
    for r in report["steps"]:
        lines.append(
            f"| {r['num_data']:,} | {r['sgld_us']:.1f} | {r['full_us']:.1f} | "
            f"{r['full_us'] / r['sgld_us']:.1f} |"
        )
    s = report["settings"]
    lines += [
        "",
        f"SG runs: {NUM_CHAINS} chains, batches of {BATCH}, {s['warmup']} burn-in + "
        f"{s['draws_sg']} draws; MALT: 64 chains, {s['warmup']} warm-up + {s['draws_malt']} "
        f"draws; NUTS: 4 chains, {s['nuts']} + {s['nuts']}. Gradients in full-data "
        "equivalents (n of N points = n / N). Peers SGMCMCJax and jax-sgmc: "
        f"{report['peers']}. {device_line(report['environment'])}.",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = report["steps"]
    n = [r["num_data"] for r in steps]
    left.loglog(n, [r["sgld_us"] for r in steps], "o-", label=f"SGLD, n={STEP_BATCH}")
    left.loglog(n, [r["full_us"] for r in steps], "s-", label="full-batch MALA")
    left.set_xlabel("N (data points)")
    left.set_ylabel("µs per chain-step")
    left.set_title("Cost per step")
    left.legend()
    rows = [r for r in report["compare"] if r["problem"] == "breast_cancer"]
    colours = plt.get_cmap("tab20").colors
    for i, r in enumerate(rows):
        marker = "s" if "full batch" in r["method"] else "o"
        right.scatter(r["grads"], r["lpd"], color=colours[i % 20], marker=marker, label=r["method"])
    right.set_xscale("log")
    right.set_xlabel("full-data gradient equivalents")
    right.set_ylabel("held-out log predictive density")
    right.set_title("breast cancer, logistic regression")
    right.legend(fontsize=6)
    return fig


#: What installing the peers gave with the JAX this was run with (they are not
#: dependencies; the script tries to import them each run).
PEER_NOTE = (
    "both install but fail to import under JAX 0.10 (SGMCMCJax 0.2.13 needs the removed "
    "jax.experimental.host_callback, jax-sgmc 0.1.5 the removed jax.tree_unflatten), so "
    "neither is compared"
)


def peers_status() -> str:
    found = [PEER_NOTE]
    for module in ("sgmcmcjax", "jax_sgmc"):
        try:
            __import__(module)
            found.append(f"{module} imports")
        except Exception as err:  # not installed, or broken under this JAX
            found.append(f"{module} not run ({type(err).__name__})")
    return "; ".join(found)


def replot() -> None:
    """Redraw ``results/sgmcmc.png`` from ``results/sgmcmc.json`` (no measurement)."""
    import json

    from _common import RESULTS

    report = json.loads((RESULTS / "sgmcmc.json").read_text())
    plot(report).savefig(RESULTS / "sgmcmc.png", dpi=120, bbox_inches="tight")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run; nothing saved")
    parser.add_argument("--replot", action="store_true", help="redraw the figure from the JSON")
    args = parser.parse_args(argv)
    if args.replot:
        replot()
        return
    quick = args.quick
    report = {
        "environment": environment(),
        "settings": {
            "batch_size": BATCH,
            "chains_sg": NUM_CHAINS,
            "warmup": 300 if quick else 1000,
            "draws_sg": 300 if quick else 2000,
            "draws_malt": 300 if quick else 1000,
            "nuts": 300 if quick else 1000,
            "quick": quick,
        },
        "peers": peers_status(),
        "compare": [],
        "steps": [step_cost(n) for n in (STEP_N[:2] if quick else STEP_N)],
    }
    for name, problem in problems(quick).items():
        report["compare"] += compare(name, problem, quick)
        if not quick:  # saved after each problem: a long run keeps what it measured
            save("sgmcmc", report, markdown_table(report), plot(report))
    print(markdown_table(report))


if __name__ == "__main__":
    main()
