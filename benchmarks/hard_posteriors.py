"""Hard posteriors: jlangevin's exact kernels after warm-up against BlackJAX and NumPyro.

Targets (float32 throughout):

* **eight schools, non-centred**: the centred model through
  ``jl.models.noncentered`` (every sampler samples that model; the diagnostics
  read the original ``mu``, ``tau``, ``theta``; its NumPyro NUTS run is the
  reference of both eight-schools rows);
* **eight schools, centred** (the funnel; from ``posteriors.py``);
* **rotated Gaussian (100-D)**: a random rotation (numpy seed
  :data:`ROTATION_SEED`) of standard deviations log-spaced from 0.1 to 10
  (condition number 10^4), mean 0; exact mean and variances;
* **banana (2-D)**: ``jl.targets.banana()``, exact mean and variances;
* **random effects** (radon-like, centred intercepts; from ``posteriors.py``);
* **item response (2PL, 242-D)**: a hierarchical two-parameter logistic model,
  200 persons x 20 items simulated with numpy seed :data:`IRT_SEED`, written in
  NumPyro and given to jlangevin and BlackJAX through ``jl.from_numpyro``;
* **dice (1-D)**: ``jl.targets.dice()``, six equal modes at 1..6 (sd 0.2);
  exact mode weights 1/6.

Samplers, all in this one process:

* jlangevin MALA, Barker and MALT, each adapted by the generic warm-up
  ``jl.adaptation.warmup`` (``jlangevin/adaptation/``; step size by dual
  averaging, a diagonal or dense metric, MALT's friction and trajectory length),
  then ``jl.run``; on the dice also replica exchange
  (``jlangevin.kernels.tempering``, MALA within rungs, adapted by
  ``jl.adaptation.tempering_warmup``: per-rung steps, a diagonal metric, the
  ladder at equal swap rates);
* BlackJAX MALA with a scalar step found by dual averaging on the mean
  acceptance over chains (as in ``ess.py``); BlackJAX GHMC after MEADS
  (``blackjax.meads_adaptation``, 4 folds); BlackJAX NUTS after
  ``blackjax.window_adaptation`` (per chain, ``vmap``); NumPyro NUTS
  (``chain_method="vectorized"``, as in ``posteriors.py``).

Each target names its metric: dense for the rotated Gaussian, diagonal
elsewhere; the jlangevin warm-ups and both NUTS adapt a metric of that kind
(BlackJAX MALA has a scalar step, MEADS a diagonal metric by design).

Per run: max rank-normalised R-hat and min bulk ESS (ArviZ) over every scalar of
every constrained variable; ESS per gradient evaluation, counted honestly over
warm-up and draws (MALA, Barker, GHMC: one per chain and step; MALT: ``L`` per
step, the warm-up's per-window ``L`` included; replica exchange: one per rung
and step, warm-up included;
NUTS: the sum of its leapfrog steps); ESS per second of the compiled draw phase
and of the whole call (initialisation, warm-up, compilation, draws); agreement:
the largest |z| of the posterior means (and, for exact targets, the variances)
against the exact answer where known, else against NumPyro NUTS,
``z = (m - m_ref) / sqrt(mcse^2 + mcse_ref^2)``; for the dice the mode weights'
z against 1/6. A run **fails** when max R-hat > 1.01 or max |z| > 4.

Writes ``results/hard_posteriors.{json,md,png}`` (``--out`` for another folder).
Usage: ``python benchmarks/hard_posteriors.py`` (about 10-15 minutes on a busy
2-core CPU); ``--quick``: small sizes, a minute or two.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from _common import RESULTS, device_line, environment
from jax.flatten_util import ravel_pytree
from posteriors import (
    EIGHT_SCHOOLS_SIGMA,
    EIGHT_SCHOOLS_Y,
    RHAT_FAIL,
    Z_FAIL,
    Problem,
    diagnostics,
    eight_schools_centred,
    jl_model,
    radon_like,
    random_effects,
    summarise,
)

import jlangevin as jl
from jlangevin.kernels import tempering

ROTATION_SEED = 17
NONCENTRED = "eight schools (non-centred)"
SCHOOLS_NAMES = ("mu", "tau", "theta")
IRT_SEED = 20240617
DICE_MODES = np.arange(1, 7)


class HardTarget(NamedTuple):
    """One benchmark target on a flat ``(dim,)`` position.

    Attributes
    ----------
    name : the row label.
    logdensity : ``(dim,) -> log p`` (unconstrained).
    dim : the flat dimension.
    init : ``(key, chains) -> (chains, dim)`` starting points.
    variables : ``(chains, draws, dim) -> {name: (chains, draws, *shape)}``, the
        constrained variables the diagnostics read.
    exact : ``{name: (mean, var)}`` flat exact moments, or ``None``.
    problem : the NumPyro model (NUTS samples it directly), or ``None`` (NUTS
        samples ``logdensity`` as a potential).
    preconditioner : the metric every adapting sampler uses.
    modes : whether to report the dice's mode weights.
    names : the variables the diagnostics read (``None``: all of them); a
        reparameterised model keeps its original ones, so that it is compared
        with the original model on the same posterior.
    reference_from : the target whose NumPyro NUTS run is this target's
        reference (``None``: its own).
    """

    name: str
    logdensity: Callable[[jax.Array], jax.Array]
    dim: int
    init: Callable[[jax.Array, int], jax.Array]
    variables: Callable[[np.ndarray], dict[str, np.ndarray]]
    exact: dict[str, tuple[np.ndarray, np.ndarray]] | None
    problem: Problem | None
    preconditioner: str
    modes: bool = False
    names: tuple[str, ...] | None = None
    reference_from: str | None = None


# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #
def item_response(
    person: np.ndarray, item: np.ndarray, num_persons: int, num_items: int, y=None
) -> None:
    """Hierarchical 2PL: ``y ~ Bernoulli(logit = exp(log_a[i]) (theta[p] - b[i]))``.

    Abilities ``theta ~ Normal(0, 1)``; difficulties ``b ~ Normal(mu_b, sigma_b)``
    (centred, 200 answers each); log discriminations ``log_a ~ Normal(0, 0.5)``
    (a hierarchical scale on them, with 20 items, is a funnel that no sampler
    here got through: eight schools already measures that).
    """
    import numpyro
    import numpyro.distributions as dist

    mu_b = numpyro.sample("mu_b", dist.Normal(0.0, 2.0))
    sigma_b = numpyro.sample("sigma_b", dist.HalfNormal(1.0))
    with numpyro.plate("person", num_persons):
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
    with numpyro.plate("item", num_items):
        b = numpyro.sample("b", dist.Normal(mu_b, sigma_b))
        log_a = numpyro.sample("log_a", dist.Normal(0.0, 0.5))
    logits = jnp.exp(log_a)[item] * (theta[person] - b[item])
    with numpyro.plate("response", len(person)):
        numpyro.sample("y", dist.Bernoulli(logits=logits), obs=y)


def item_response_data(
    num_persons: int = 200, num_items: int = 20, seed: int = IRT_SEED
) -> dict[str, Any]:
    """Every person answers every item; true ``b ~ N(0, 1)``, ``log_a ~ N(0, 0.3)``."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(num_persons)
    b = rng.standard_normal(num_items)
    log_a = 0.3 * rng.standard_normal(num_items)
    person, item = (g.ravel() for g in np.meshgrid(np.arange(num_persons), np.arange(num_items)))
    logits = np.exp(log_a)[item] * (theta[person] - b[item])
    y = rng.binomial(1, 1 / (1 + np.exp(-logits))).astype(np.float32)
    return {
        "person": person,
        "item": item,
        "num_persons": num_persons,
        "num_items": num_items,
        "y": y,
    }


def rotated_gaussian(dim: int = 100, seed: int = ROTATION_SEED) -> jl.targets.Target:
    """``N(0, R diag(s²) Rᵀ)``, ``s`` log-spaced 0.1..10, ``R`` a Haar rotation (fixed seed)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    rotation = q * np.sign(np.diag(r))
    sd = np.logspace(-1, 1, dim)
    return jl.targets.gaussian(np.zeros(dim), (rotation * sd**2) @ rotation.T)


def _uniform_init(low: float, high: float, dim: int) -> Callable[[jax.Array, int], jax.Array]:
    def init(key: jax.Array, chains: int) -> jax.Array:
        return jax.random.uniform(key, (chains, dim), jnp.float32, low, high)

    return init


def from_target(
    name: str, target: jl.targets.Target, init: Callable, preconditioner: str, modes: bool = False
) -> HardTarget:
    """An analytic target, its one variable ``x`` and its exact moments."""
    return HardTarget(
        name=name,
        logdensity=target.logdensity,
        dim=target.dim,
        init=init,
        variables=lambda draws: {"x": draws},
        exact={"x": (np.asarray(target.mean), np.asarray(target.var))},
        problem=None,
        preconditioner=preconditioner,
        modes=modes,
    )


def from_problem(
    name: str,
    problem: Problem,
    preconditioner: str,
    names: tuple[str, ...] | None = None,
    reference_from: str | None = None,
) -> HardTarget:
    """A NumPyro model on its raveled unconstrained position (``jl.from_numpyro``)."""
    model = jl_model(problem)
    prototype = jax.tree.map(lambda leaf: leaf[0], model.init(jax.random.key(0), 1))
    flat, unravel = ravel_pytree(prototype)

    def logdensity(x: jax.Array) -> jax.Array:
        return model.logdensity_fn(unravel(x))

    def init(key: jax.Array, chains: int) -> jax.Array:
        return jax.vmap(lambda p: ravel_pytree(p)[0])(model.init(key, chains))

    def variables(draws: np.ndarray) -> dict[str, np.ndarray]:
        tree = jax.vmap(jax.vmap(unravel))(jnp.asarray(draws))
        return {k: np.asarray(v) for k, v in model.constrain(tree).items()}

    return HardTarget(
        name,
        logdensity,
        flat.size,
        init,
        variables,
        None,
        problem,
        preconditioner,
        names=names,
        reference_from=reference_from,
    )


def hard_targets() -> dict[str, HardTarget]:
    """The benchmark's targets, by name (the order of the table)."""
    schools = Problem(
        eight_schools_centred,
        (EIGHT_SCHOOLS_SIGMA.astype(np.float32),),
        {"y": EIGHT_SCHOOLS_Y.astype(np.float32)},
    )
    # The same model and data through jl.models.noncentered: theta (and mu) are
    # sampled standardised; the diagnostics read the original mu, tau, theta.
    noncentred = schools._replace(fn=jl.models.noncentered(eight_schools_centred))
    radon = radon_like()
    radon_problem = Problem(
        random_effects, (radon["group"], radon["x"], radon["num_groups"]), {"y": radon["y"]}
    )
    irt = item_response_data()
    irt_problem = Problem(
        item_response,
        (irt["person"], irt["item"], irt["num_persons"], irt["num_items"]),
        {"y": irt["y"]},
    )
    out = [
        from_problem(NONCENTRED, noncentred, "diagonal", names=SCHOOLS_NAMES),
        from_problem("eight schools (centred)", schools, "diagonal", reference_from=NONCENTRED),
        from_target(
            "rotated Gaussian (100-D)", rotated_gaussian(), _uniform_init(-2, 2, 100), "dense"
        ),
        from_target("banana (2-D)", jl.targets.banana(), _uniform_init(-2, 2, 2), "diagonal"),
        from_problem("random effects (radon-like)", radon_problem, "diagonal"),
        from_problem("item response (2PL, 242-D)", irt_problem, "diagonal"),
        from_target(
            "dice (1-D, 6 modes)", jl.targets.dice(), _uniform_init(0.5, 6.5, 1), "diagonal", True
        ),
    ]
    return {t.name: t for t in out}


# --------------------------------------------------------------------------- #
# jlangevin
# --------------------------------------------------------------------------- #
def warmup_function() -> tuple[Callable, str]:
    """``jl.adaptation.warmup`` and its name."""
    return jl.adaptation.warmup, "jl.adaptation.warmup"


def warmup_gradients(info: Any, chains: int) -> int:
    """Gradients of a warm-up over all chains (``info.num_grads``: each step's ``L``)."""
    return int(info.num_grads)


def run_timed(
    key: jax.Array,
    sampler: Any,
    state: Any,
    draws: int,
    *,
    burnin: int = 0,
    store: str = "positions",
) -> tuple[Any, float, float]:
    """``jl.run`` in four chunks, the draw phase's compiled time, and the rerun's wall time.

    The compiled time is a rerun of one chunk's length from the trace's end (the
    same compiled program as the first call's later chunks, so nothing compiles)
    times the number of chunks; its draws are not used.
    """
    chunk = draws // 4 if draws % 4 == 0 else draws
    trace = jl.run(key, sampler, state, draws, burnin=burnin, chunk_size=chunk, store=store)
    jax.block_until_ready(trace.positions)
    t0 = time.perf_counter()
    rerun = jl.run(jax.random.fold_in(key, 1), sampler, trace, chunk, chunk_size=chunk, store=store)
    jax.block_until_ready(rerun.positions)
    rerun_seconds = time.perf_counter() - t0
    return trace, rerun_seconds * (draws // chunk), rerun_seconds


def run_jlangevin(
    key: jax.Array,
    target: HardTarget,
    kernel: str,
    chains: int,
    warmup: int,
    draws: int,
    max_integration_steps: int = 16,
) -> dict[str, Any]:
    """Generic warm-up of ``jl.<kernel>`` then ``jl.run``; the rerun times the draws."""
    adapt, _ = warmup_function()
    constructor = {"mala": jl.mala, "barker": jl.barker, "malt": jl.malt}[kernel.split("-")[0]]
    key_init, key_warm, key_run = jax.random.split(key, 3)
    x0 = target.init(key_init, chains)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", jl.SamplingWarning)
        extra = {}
        if kernel.startswith("malt"):
            extra = {"max_integration_steps": max_integration_steps}
            extra["trajectory"] = "chees" if kernel == "malt-chees" else "meads"
        sampler, state, info = adapt(
            key_warm,
            constructor,
            target.logdensity,
            x0,
            warmup,
            preconditioner=target.preconditioner,
            **extra,
        )
        trace, draw_seconds, rerun_seconds = run_timed(key_run, sampler, state, draws)
        positions = np.asarray(trace.positions)
    seconds = time.perf_counter() - t0 - rerun_seconds
    per_step = info.num_integration_steps or 1
    return {
        "draws": np.asarray(positions),
        "gradients": warmup_gradients(info, chains) + chains * draws * per_step,
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "acceptance": float(np.mean(np.asarray(info.acceptance_rate)[-max(warmup // 4, 1) :])),
        "step_size": float(info.step_size),
        "integration_steps": info.num_integration_steps,
        "warmup_integration_steps": (
            [int(n) for n in np.asarray(info.integration_steps_trace)]
            if info.integration_steps_trace is not None
            else None
        ),
        "warmup_segments": [list(seg) for seg in info.segments],
        "restarted": int(info.num_restarted),
        "divergences": int(np.sum(np.asarray(trace.diverged))),
        "warnings": [str(w.message)[:200] for w in caught],
    }


def run_tempering(
    key: jax.Array,
    target: HardTarget,
    chains: int,
    warmup: int,
    draws: int,
    rungs: int,
    beta_min: float,
    burnin: int,
) -> dict[str, Any]:
    """Replica exchange, MALA in every rung, after ``jl.adaptation.tempering_warmup``.

    The warm-up adapts every rung's step, a diagonal metric and the ladder
    (equal swap rates between ``1`` and ``beta_min``); then ``burnin`` ladder
    steps run before the draws. Every rung costs one gradient per step, in the
    warm-up as after it.
    """
    key_init, key_warm, key_run = jax.random.split(key, 3)
    x0 = target.init(key_init, chains)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", jl.SamplingWarning)
        sampler, state, info = jl.adaptation.tempering_warmup(
            key_warm, target.logdensity, x0, warmup, num_rungs=rungs, beta_min=beta_min
        )
        trace, draw_seconds, rerun_seconds = run_timed(
            key_run, sampler, state, draws, burnin=burnin, store="draws"
        )
        positions = np.asarray(trace.positions)
    seconds = time.perf_counter() - t0 - rerun_seconds
    return {
        "draws": np.asarray(positions),
        "gradients": chains * rungs * (warmup + burnin + draws),
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "acceptance": float(np.mean(np.asarray(trace.info.acceptance_rate))),
        "step_size": float(np.ravel(np.asarray(info.step_size))[0]),
        "betas": [float(b) for b in np.asarray(info.betas)],
        "swap_rates": [float(r) for r in tempering.swap_rates(trace.info)],
        "barrier": float(info.barrier),
        "burnin": burnin,
        "divergences": int(np.sum(np.asarray(trace.diverged))),
        "warnings": [str(w.message)[:200] for w in caught],
    }


# --------------------------------------------------------------------------- #
# Peers
# --------------------------------------------------------------------------- #
def _aot(fn: Callable, *args: Any) -> Any:
    """``jax.jit(fn)`` compiled ahead of time for ``args``."""
    return jax.jit(fn).lower(*args).compile()


def _run_peer(
    adapt: Callable,
    sample: Callable,
    key_warm: jax.Array,
    key_run: jax.Array,
    x0: jax.Array,
    chains: int,
    warmup: int,
    draws: int,
) -> tuple[dict[str, Any], Any]:
    """A one-gradient-per-step peer timed as jlangevin is: warm-up, compiled draws, a rerun.

    ``adapt(key, x0) -> (states, settings, acceptance per step)`` and
    ``sample(key, states, settings) -> (positions (draws, chains, ...), acceptance)``.
    """
    t0 = time.perf_counter()
    states, settings, acc = jax.jit(adapt)(key_warm, x0)
    compiled = _aot(sample, key_run, states, settings)
    positions, _ = jax.block_until_ready(compiled(key_run, states, settings))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.fold_in(key_run, 1), states, settings))
    draw_seconds = time.perf_counter() - t1
    out = {
        "draws": np.swapaxes(np.asarray(positions), 0, 1),
        "gradients": chains * (warmup + draws),
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "acceptance": float(np.mean(np.asarray(acc)[-max(warmup // 4, 1) :])),
    }
    return out, settings


def run_blackjax_mala(
    key: jax.Array, target: HardTarget, chains: int, warmup: int, draws: int
) -> dict[str, Any]:
    """BlackJAX MALA with one scalar step, dual averaging on the mean acceptance (``ess.py``)."""
    import blackjax

    from jlangevin.adaptation import dual_averaging_init, dual_averaging_update

    logp = target.logdensity
    kernel = blackjax.mala.build_kernel()
    key_init, key_warm, key_run = jax.random.split(key, 3)
    x0 = target.init(key_init, chains)

    def adapt(key, x0):
        states = jax.vmap(blackjax.mala.init, (0, None))(x0, logp)

        def body(carry, step_key):
            states, da = carry
            keys = jax.random.split(step_key, chains)
            step = jnp.exp(da.log_step)
            states, info = jax.vmap(lambda k, s: kernel(k, s, logp, step))(keys, states)
            acceptance = jnp.mean(info.acceptance_rate)
            return (states, dual_averaging_update(da, acceptance, 0.574)), acceptance

        da = dual_averaging_init(jnp.asarray(1.0))
        (states, da), acc = jax.lax.scan(body, (states, da), jax.random.split(key, warmup))
        return states, jnp.exp(da.log_step_avg), acc

    def sample(key, states, step):
        def body(states, step_key):
            keys = jax.random.split(step_key, chains)
            states, info = jax.vmap(lambda k, s: kernel(k, s, logp, step))(keys, states)
            return states, (states.position, info.acceptance_rate)

        return jax.lax.scan(body, states, jax.random.split(key, draws))[1]

    out, step = _run_peer(adapt, sample, key_warm, key_run, x0, chains, warmup, draws)
    return {**out, "step_size": float(step)}


def run_meads(
    key: jax.Array, target: HardTarget, chains: int, warmup: int, draws: int
) -> dict[str, Any]:
    """``blackjax.meads_adaptation`` (4 folds, diagonal) then ``blackjax.ghmc`` on all chains."""
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    logp = target.logdensity
    key_init, key_warm, key_run = jax.random.split(key, 3)
    x0 = target.init(key_init, chains)
    meads = blackjax.meads_adaptation(
        logp, chains, adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"acceptance_rate"})
    )

    def adapt(key, x0):
        (states, params), info = meads.run(key, x0, warmup)
        return states, params, info.info.acceptance_rate

    def sample(key, states, params):
        ghmc = blackjax.ghmc(logp, **params)

        def body(states, step_key):
            keys = jax.random.split(step_key, chains)
            states, info = jax.vmap(ghmc.step)(keys, states)
            return states, (states.position, info.acceptance_rate)

        return jax.lax.scan(body, states, jax.random.split(key, draws))[1]

    out, params = _run_peer(adapt, sample, key_warm, key_run, x0, chains, warmup, draws)
    return {**out, "step_size": float(params["step_size"])}


def run_blackjax_nuts(
    key: jax.Array, target: HardTarget, chains: int, warmup: int, draws: int
) -> dict[str, Any]:
    """``blackjax.window_adaptation`` per chain (``vmap``), then NUTS with each chain's own."""
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    logp = target.logdensity
    key_init, key_warm, key_run = jax.random.split(key, 3)
    x0 = target.init(key_init, chains)
    window = blackjax.window_adaptation(
        blackjax.nuts,
        logp,
        is_mass_matrix_diagonal=target.preconditioner == "diagonal",
        adaptation_info_fn=get_filter_adapt_info_fn(
            info_keys={"num_integration_steps", "acceptance_rate"}
        ),
    )

    def adapt(keys, x0):
        def one(key, x):
            (state, params), info = window.run(key, x, num_steps=warmup)
            return state, params, info.info.num_integration_steps, info.info.acceptance_rate

        return jax.vmap(one)(keys, x0)

    def sample(key, states, params):
        def one_step(key, state, params):
            return blackjax.nuts(logp, **params).step(key, state)

        def body(states, step_key):
            keys = jax.random.split(step_key, chains)
            states, info = jax.vmap(one_step)(keys, states, params)
            return states, (states.position, info.num_integration_steps, info.is_divergent)

        return jax.lax.scan(body, states, jax.random.split(key, draws))[1]

    t0 = time.perf_counter()
    states, params, warm_steps, acc = jax.jit(adapt)(jax.random.split(key_warm, chains), x0)
    compiled = _aot(sample, key_run, states, params)
    positions, steps, divergent = jax.block_until_ready(compiled(key_run, states, params))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(jax.random.fold_in(key_run, 1), states, params))
    draw_seconds = time.perf_counter() - t1
    return {
        "draws": np.swapaxes(np.asarray(positions), 0, 1),
        "gradients": int(np.sum(np.asarray(warm_steps))) + int(np.sum(np.asarray(steps))),
        "warmup_gradients": int(np.sum(np.asarray(warm_steps))),
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "acceptance": float(np.mean(np.asarray(acc)[:, -max(warmup // 4, 1) :])),
        "step_size": float(np.mean(np.asarray(params["step_size"]))),
        "divergences": int(np.sum(np.asarray(divergent))),
    }


def run_numpyro_nuts(
    key: jax.Array, target: HardTarget, chains: int, warmup: int, draws: int
) -> dict[str, Any]:
    """NumPyro NUTS (vectorized chains): the model itself, or the log density as a potential.

    ``draw_seconds`` is its ``MCMC.run`` call, which compiles anew (see ``posteriors.py``).
    """
    from numpyro.infer import MCMC, NUTS

    dense = target.preconditioner == "dense"
    if target.problem is not None:
        kernel, args, kwargs = NUTS(target.problem.fn, dense_mass=dense), target.problem.args, {}
        kwargs = dict(target.problem.kwargs)
    else:
        kernel = NUTS(potential_fn=lambda x: -target.logdensity(x), dense_mass=dense)
        args, kwargs = (), {"init_params": target.init(jax.random.fold_in(key, 7), chains)}
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.warmup(key, *args, extra_fields=fields, collect_warmup=True, **kwargs)
    warmup_steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    t1 = time.perf_counter()
    kwargs.pop("init_params", None)
    mcmc.run(mcmc.post_warmup_state.rng_key, *args, extra_fields=fields, **kwargs)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    t2 = time.perf_counter()
    extra = mcmc.get_extra_fields()
    if target.problem is None:
        samples = {"x": np.asarray(samples)}
    return {
        "variables": {k: np.asarray(v) for k, v in samples.items()},
        "gradients": warmup_steps + int(np.sum(extra["num_steps"])),
        "warmup_gradients": warmup_steps,
        "divergences": int(np.sum(extra["diverging"])),
        "seconds": t2 - t0,
        "draw_seconds": t2 - t1,
    }


# --------------------------------------------------------------------------- #
# Agreement
# --------------------------------------------------------------------------- #
def _ratio(diff: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(diff) / se
    return np.where(np.abs(diff) == 0, 0.0, np.where(np.isfinite(z), z, np.inf))


def _worst(z: np.ndarray, label: str) -> tuple[float, str]:
    i = int(np.argmax(z))
    return float(z[i]), f"{label}[{i}]" if z.size > 1 else label


def exact_z(
    variables: dict[str, np.ndarray], exact: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[float, str]:
    """Largest |z| of the means and variances against the exact ones.

    The MCSEs are ArviZ's of ``x`` and of ``(x - m)²``.
    """
    import arviz as az

    best, where = 0.0, ""
    for name, (mean, var) in exact.items():
        x = np.asarray(variables[name], np.float64)
        flat = x.reshape(*x.shape[:2], -1)
        sq = (flat - mean) ** 2
        mcse_m = np.asarray(az.mcse(az.convert_to_dataset({"m": flat}), method="mean")["m"])
        mcse_v = np.asarray(az.mcse(az.convert_to_dataset({"v": sq}), method="mean")["v"])
        for z, label in (
            (_ratio(flat.mean((0, 1)) - mean, mcse_m), f"mean {name}"),
            (_ratio(sq.mean((0, 1)) - var, mcse_v), f"var {name}"),
        ):
            value, at = _worst(z, label)
            if value > best or not where:
                best, where = value, at
    return best, where


def reference_z(
    diag: dict[str, dict[str, np.ndarray]], reference: dict[str, dict[str, np.ndarray]]
) -> tuple[float, str]:
    """Largest |z| of the posterior means against NumPyro NUTS's."""
    best, where = 0.0, ""
    for name, d in diag.items():
        r = reference[name]
        value, at = _worst(
            _ratio(d["mean"] - r["mean"], np.sqrt(d["mcse"] ** 2 + r["mcse"] ** 2)), name
        )
        if value > best or not where:
            best, where = value, at
    return best, where


def mode_weights(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of draws nearest each of the dice's modes, and their MCSEs."""
    import arviz as az

    nearest = np.clip(np.rint(np.asarray(x)[..., 0]), 1, 6)
    indicators = np.stack([(nearest == k).astype(np.float64) for k in DICE_MODES], axis=-1)
    mcse = np.asarray(az.mcse(az.convert_to_dataset({"w": indicators}), method="mean")["w"])
    return indicators.mean((0, 1)), mcse


# --------------------------------------------------------------------------- #
# The benchmark
# --------------------------------------------------------------------------- #
JL_KERNELS = ("mala", "barker", "malt", "malt-chees")
PEERS = ("blackjax-mala", "meads-ghmc", "blackjax-nuts", "numpyro-nuts")
LABELS = {
    "mala": "jl MALA",
    "barker": "jl Barker",
    "malt": "jl MALT",
    "malt-chees": "jl MALT (ChEES)",
    "tempering": "jl replica exchange",
    "blackjax-mala": "BlackJAX MALA",
    "meads-ghmc": "BlackJAX GHMC (MEADS)",
    "blackjax-nuts": "BlackJAX NUTS",
    "numpyro-nuts": "NumPyro NUTS",
}


def make_row(
    target: HardTarget, sampler: str, chains: int, result: dict[str, Any], reference: Any
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Convergence, efficiency and agreement of one run (and its diagnostics)."""
    variables = result.pop("variables", None)
    draws = result.pop("draws", None)
    if variables is None:
        variables = target.variables(draws)
    if target.names is not None:
        variables = {k: variables[k] for k in target.names}
    diag = diagnostics(variables)
    summary = summarise(diag)
    out = {"target": target.name, "sampler": sampler, "label": LABELS[sampler], "chains": chains}
    out.update(result, **summary)
    out["ess_per_gradient"] = summary["min_ess"] / result["gradients"]
    out["ess_per_s"] = summary["min_ess"] / result["seconds"]
    out["ess_per_s_draws"] = summary["min_ess"] / result["draw_seconds"]
    out["z_against"] = None
    out["max_z"], out["max_z_at"] = None, None
    if target.exact is not None:
        out["max_z"], out["max_z_at"] = exact_z(variables, target.exact)
        out["z_against"] = "exact"
    elif reference is not None:
        out["max_z"], out["max_z_at"] = reference_z(diag, reference)
        out["z_against"] = "NumPyro NUTS"
    if target.modes:
        weights, mcse = mode_weights(variables["x"])
        z_w = _ratio(weights - 1 / 6, mcse)
        out["mode_weights"] = [float(w) for w in weights]
        out["mode_weight_max_z"] = float(np.max(z_w))
        out["mode_weight_max_error"] = float(np.max(np.abs(weights - 1 / 6)))
        out["max_z"] = max(out["max_z"], out["mode_weight_max_z"])
        if out["max_z"] == out["mode_weight_max_z"]:
            out["max_z_at"] = f"weight[{int(np.argmax(z_w)) + 1}]"
    out["failed"] = bool(
        not summary["max_rhat"] <= RHAT_FAIL or (out["max_z"] is not None and out["max_z"] > Z_FAIL)
    )
    return out, diag


def print_row(r: dict[str, Any]) -> None:
    """One line per run, as it finishes."""
    z = "" if r["max_z"] is None else f"|z| {r['max_z']:6.2f} ({r['max_z_at']})"
    print(
        f"{r['target']:28s} {r['label']:22s} R-hat {r['max_rhat']:7.3f}  "
        f"ESS {r['min_ess']:8.0f}  ESS/grad {r['ess_per_gradient']:.2e}  "
        f"ESS/s {r['ess_per_s']:8.1f} ({r['ess_per_s_draws']:9.1f})  {z}  "
        f"{r['seconds']:.1f}s{'  FAILED' if r['failed'] else ''}",
        flush=True,
    )


def benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every target: NumPyro NUTS first (the reference), the other peers, then jlangevin."""
    rows = []
    references: dict[str, Any] = {}
    key = jax.random.key(args.seed)
    for t, (name, target) in enumerate(hard_targets().items()):
        if args.targets and not any(s in name for s in args.targets):
            continue
        if args.preconditioner != "auto":
            target = target._replace(preconditioner=args.preconditioner)
        target_key = jax.random.fold_in(key, t)
        reference = references.get(target.reference_from)
        for s, sampler in enumerate(args.samplers):
            run_key = jax.random.fold_in(target_key, s)
            chains = args.nuts_chains if sampler.endswith("nuts") else args.chains
            if sampler.endswith("nuts"):
                warmup, draws = args.nuts_warmup, args.nuts_draws
            else:
                warmup, draws = args.warmup, args.draws
            try:
                if sampler in JL_KERNELS:
                    result = run_jlangevin(
                        run_key, target, sampler, chains, warmup, draws, args.malt_max_steps
                    )
                elif sampler == "tempering":
                    if not target.modes:
                        continue
                    result = run_tempering(
                        run_key,
                        target,
                        chains,
                        warmup,
                        draws,
                        args.rungs,
                        args.beta_min,
                        args.tempering_burnin,
                    )
                else:
                    runner = {
                        "blackjax-mala": run_blackjax_mala,
                        "meads-ghmc": run_meads,
                        "blackjax-nuts": run_blackjax_nuts,
                        "numpyro-nuts": run_numpyro_nuts,
                    }[sampler]
                    result = runner(run_key, target, chains, warmup, draws)
            except Exception as err:  # a run that breaks is a result too
                print(f"{name:28s} {LABELS[sampler]:22s} ERROR {type(err).__name__}: {err}")
                rows.append(
                    {
                        "target": name,
                        "sampler": sampler,
                        "label": LABELS[sampler],
                        "error": f"{type(err).__name__}: {str(err)[:300]}",
                        "failed": True,
                    }
                )
                continue
            r, diag = make_row(target, sampler, chains, result, reference)
            r.update(warmup=warmup, num_draws=draws, preconditioner=target.preconditioner)
            if sampler == "numpyro-nuts" and target.reference_from is None:
                reference = references[name] = diag
            print_row(r)
            rows.append(r)
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per target, the issue's three tests on the runs that passed R-hat and agreement.

    ``converged``: some jlangevin run has R-hat <= 1.01 and |z| <= 4.
    ``per_gradient``: the best such run's ESS / gradient against the best NUTS
    run's (any NUTS run, passing or not). ``per_second``: the best passing
    jlangevin run's ESS / s (draws, and whole call) against every peer's best.
    """
    out = []
    for name in dict.fromkeys(r["target"] for r in rows):
        runs = [r for r in rows if r["target"] == name and "error" not in r]
        jl_ok = [r for r in runs if r["sampler"] in (*JL_KERNELS, "tempering") and not r["failed"]]
        peers = [r for r in runs if r["sampler"] in PEERS]
        nuts = [r for r in peers if r["sampler"].endswith("nuts")]

        def best(group, key):
            return max((r[key] for r in group), default=float("nan"))

        v = {"target": name, "converged": bool(jl_ok)}
        v["best_jl"] = max(jl_ok, key=lambda r: r["ess_per_gradient"])["label"] if jl_ok else None
        v["per_gradient_ratio"] = best(jl_ok, "ess_per_gradient") / best(nuts, "ess_per_gradient")
        v["per_second_ratio"] = best(jl_ok, "ess_per_s_draws") / best(peers, "ess_per_s_draws")
        v["per_second_whole_ratio"] = best(jl_ok, "ess_per_s") / best(peers, "ess_per_s")
        out.append(v)
    return out


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, env: dict, total: float) -> str:
    """The results table, the verdicts and the footnote."""
    lines = [
        "| target | sampler | chains | max R-hat | min bulk ESS | ESS / gradient | ESS / s (draws) "
        "| ESS / s (whole call) | max \\|z\\| (against) | acceptance | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['target']} | {r['label']} **error** | | {r['error'][:80]} |||||||")
            continue
        z = "" if r["max_z"] is None else f"{r['max_z']:.2f} ({r['max_z_at']}; {r['z_against']})"
        extra = ""
        if r.get("integration_steps"):
            extra = f", L={r['integration_steps']}"
        if r.get("swap_rates"):
            extra = f", {len(r['betas'])} rungs"
        acc = f"{r['acceptance']:.2f}" if "acceptance" in r else ""
        flag = " **fails**" if r["failed"] else ""
        lines.append(
            f"| {r['target']} | {r['label']}{extra}{flag} | {r['chains']} | {r['max_rhat']:.3f} | "
            f"{r['min_ess']:.0f} | {r['ess_per_gradient']:.2e} | {r['ess_per_s_draws']:.3g} | "
            f"{r['ess_per_s']:.3g} | {z} | {acc} | {r['seconds']:.1f} |"
        )
    dice = [r for r in rows if "mode_weights" in r]
    if dice:
        lines += ["", "Dice mode weights (exact 1/6 = 0.167 each):", ""]
        lines += [
            "| sampler | weights of modes 1..6 | max \\|w - 1/6\\| | max z |",
            "|---|---|---|---|",
        ]
        for r in dice:
            w = " ".join(f"{x:.3f}" for x in r["mode_weights"])
            lines.append(
                f"| {r['label']} | {w} | {r['mode_weight_max_error']:.3f} | "
                f"{r['mode_weight_max_z']:.2f} |"
            )
        for r in dice:
            if r.get("swap_rates"):
                rates = " ".join(f"{x:.2f}" for x in r["swap_rates"])
                betas = " ".join(f"{b:.3g}" for b in r["betas"])
                lines.append(f"\nReplica exchange: betas {betas}; swap rates {rates}.")
    lines += [
        "",
        "Against the issue's aim, per target (jlangevin runs that pass R-hat <= 1.01 and "
        "|z| <= 4 only; ratio = best such jlangevin run / best peer run):",
        "",
        "| target | a jlangevin run passes | best (per gradient) | ESS/grad vs best NUTS "
        "| ESS/s (draws) vs best peer | ESS/s (whole call) vs best peer |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts(rows):
        lines.append(
            f"| {v['target']} | {'yes' if v['converged'] else '**no**'} | {v['best_jl'] or ''} | "
            f"{v['per_gradient_ratio']:.2f} | {v['per_second_ratio']:.2f} | "
            f"{v['per_second_whole_ratio']:.2f} |"
        )
    _, how = warmup_function()
    lines += [
        "",
        f"jlangevin and BlackJAX MALA / GHMC: {args.chains} chains x {args.warmup} warm-up + "
        f"{args.draws} draws; both NUTS: {args.nuts_chains} chains x {args.nuts_warmup} + "
        f"{args.nuts_draws}. Replica exchange: {args.rungs} rungs, beta_min {args.beta_min}, "
        f"jl.adaptation.tempering_warmup for {args.warmup} steps (per-rung steps, diagonal "
        f"metric, ladder at equal swap rates), then {args.tempering_burnin} ladder "
        f"steps of burn-in and {args.draws} draws. jlangevin warm-up: {how}. Metric: dense on "
        "the rotated Gaussian, diagonal elsewhere (jlangevin and both NUTS; BlackJAX MALA: "
        "scalar step; MEADS: diagonal). Gradients: MALA, Barker, GHMC one per chain and step; "
        "MALT L per step (in warm-up each step's own L: a window's under MEADS, jittered "
        "under ChEES; "
        f"L capped at {args.malt_max_steps}); replica exchange one per rung and "
        "step (warm-up included); NUTS the sum of its leapfrog steps (vmapped BlackJAX NUTS "
        "pays the longest chain's tree at every step; not counted). ESS / s (draws): a "
        "compiled rerun of the draw phase (jlangevin: a quarter of it, from the trace's end, "
        "x4; NumPyro: its `MCMC.run` call, which compiles anew); (whole call): "
        "initialisation, warm-up, compilation and draws. z against the exact mean and variance "
        "(analytic targets) or NumPyro NUTS's means (models; the centred eight schools against "
        "NumPyro NUTS on the non-centred one, the same posterior of mu, tau and theta); dice: "
        "also the mode weights. The non-centred eight schools is the centred model through "
        "`jl.models.noncentered` (mu and theta sampled standardised; every sampler, NUTS "
        "included, samples that model; the diagnostics read mu, tau and theta). MEADS runs "
        "with BlackJAX's defaults: its step size is 0.5 / sqrt of the largest eigenvalue of "
        "the preconditioned scores' second moment within a fold, so a few chains still far in "
        "the tails set it for all (on the random effects, with 1000 warm-up steps, 5 of 64 "
        "chains end at log densities of -5e3 to -8e5 with scores up to 2e6, and the step at "
        "0.00095); it has no restarts. "
        f"**fails**: max R-hat > {RHAT_FAIL} or max |z| > {Z_FAIL}. float32. Seed {args.seed}, "
        f"one run each; total {total:.0f} s. {device_line(env)}.",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]]) -> Any:
    """Max R-hat, ESS / gradient and ESS / s (draws) per target and sampler, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if "error" not in r]
    names = list(dict.fromkeys(r["target"] for r in rows))
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig, axes = plt.subplots(3, 1, figsize=(13, 11), sharex=True)
    x = np.arange(len(names))
    width = 0.8 / len(labels)
    panels = (
        ("max_rhat", "max R-hat - 1"),
        ("ess_per_gradient", "min bulk ESS / gradient"),
        ("ess_per_s_draws", "min bulk ESS / s (draws)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        for i, label in enumerate(labels):
            values = [
                next((r[key] for r in rows if r["target"] == n and r["label"] == label), np.nan)
                for n in names
            ]
            values = np.asarray(values, float) - (1.0 if key == "max_rhat" else 0.0)
            ax.bar(x + (i - (len(labels) - 1) / 2) * width, values, width, label=label)
        ax.set_yscale("log")
        ax.set_ylabel(title)
    axes[0].axhline(RHAT_FAIL - 1, color="k", lw=0.8, ls="--")
    axes[-1].set_xticks(x, [n.replace(" (", "\n(") for n in names], fontsize=8)
    axes[0].legend(fontsize=7, ncol=4)
    fig.suptitle("jlangevin exact kernels after warm-up vs BlackJAX and NumPyro (float32)")
    return fig


def save(out: pathlib.Path, report: dict[str, Any], table: str, figure: Any) -> None:
    """``hard_posteriors.{json,md,png}`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "hard_posteriors.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (out / "hard_posteriors.md").write_text(table + "\n")
    figure.savefig(out / "hard_posteriors.png", dpi=110, bbox_inches="tight")
    print(f"wrote {out / 'hard_posteriors'}.{{json,md,png}}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line settings; ``--quick`` shrinks everything to a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=64, help="a multiple of 4 (MEADS folds)")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--nuts-chains", type=int, default=4)
    parser.add_argument("--nuts-warmup", type=int, default=1000)
    parser.add_argument("--nuts-draws", type=int, default=1000)
    parser.add_argument("--malt-max-steps", type=int, default=16, help="MALT's cap on L")
    parser.add_argument("--rungs", type=int, default=8)
    parser.add_argument("--beta-min", type=float, default=0.02)
    parser.add_argument("--tempering-burnin", type=int, default=200)
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=[*reversed(PEERS), *JL_KERNELS, "tempering"],
        choices=[*PEERS, *JL_KERNELS, "tempering"],
    )
    parser.add_argument("--targets", nargs="*", default=None, help="substrings of target names")
    parser.add_argument("--preconditioner", default="auto", choices=["auto", "diagonal", "dense"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="results folder")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.chains, args.warmup, args.draws = 16, 150, 100
        args.nuts_chains, args.nuts_warmup, args.nuts_draws = 2, 60, 60
        args.tempering_burnin, args.rungs = 20, 4
        args.targets = args.targets or ["eight schools", "dice"]
    if args.chains % 4:
        parser.error(f"--chains must be a multiple of 4 (MEADS's folds); got {args.chains}")
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table, save it."""
    args = parse(argv)
    t0 = time.perf_counter()
    rows = benchmark(args)
    total = time.perf_counter() - t0
    env = environment()
    table = markdown(rows, args, env, total)
    print(table)
    settings = dict(vars(args), out=args.out.name)  # the folder's name only, no host path
    report = {
        "environment": env,
        "settings": settings,
        "warmup": warmup_function()[1],
        "total_seconds": total,
        "rows": rows,
        "verdicts": verdicts(rows),
    }
    save(args.out, report, table, plot(rows))
    return rows


if __name__ == "__main__":
    main()
