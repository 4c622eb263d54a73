"""The job the speed benchmarks time, and each implementation's way of running it.

Every implementation runs the same job: ``num_steps`` steps of the same kernel
(ULA, MALA, or SGLD with the full gradient; same update, same step ``h``) on
the same target from the same start, keeping every position, in one compiled
call (initialisation included). A runner is ``run(key, x0) -> positions`` (in
whatever layout the implementation stores them).

The target is an anisotropic Gaussian, ``log p(x) = -½ Σᵢ (xᵢ / σᵢ)²`` with
``σᵢ`` evenly spaced in ``[0.5, 2]``: cheap, so what is measured is each
library's own overhead (random numbers, bookkeeping, storage, compilation)
rather than the gradient.

Implementations:

* ``floor``, the *hand-fused floor*: one jitted ``lax.scan`` of the update
  written inline for a ``(chains, dim)`` array with one shared key (no
  pytrees, no per-chain keys, no checks), drawing with ``jax.random.normal``;
* ``jlangevin``: :func:`jlangevin.run` with ``store="positions"``; ULA and SGLD
  get the score alone (``score_fn=jax.grad(logp)``), like the peers;
* ``jlangevin_lp``: ULA and SGLD given the log density instead, which they then
  also evaluate, check and report (ArviZ's ``lp``) at every step;
* ``blackjax`` and ``tfp`` (the ``bench`` extra; imported lazily). Conventions
  differ: BlackJAX uses ``x + h ∇log p + sqrt(2h) ξ`` like jlangevin; TFP uses
  ``x + (ε/2) ∇log p + sqrt(ε) ξ``, so it is given ``ε = 2h``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

KERNELS = ("ula", "mala", "sgld")
#: Implementations in table order.
IMPLEMENTATIONS = ("floor", "jlangevin", "jlangevin_lp", "blackjax", "tfp")
LABELS = {
    "floor": "hand-fused floor",
    "jlangevin": "jlangevin",
    "jlangevin_lp": "jlangevin + log density",
    "blackjax": "BlackJAX",
    "tfp": "TFP-on-JAX",
}
#: The peers and the module each needs; a missing one is skipped with a note.
PEER_MODULES = {"blackjax": "blackjax", "tfp": "tensorflow_probability.substrates.jax"}

Runner = Callable[[jax.Array, jax.Array], Any]


# --------------------------------------------------------------------------- #
# The job
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark cell: a Gaussian target, a start, a step and a step count.

    Attributes
    ----------
    dim : int
        Dimension of the position.
    chains : int
        Number of chains.
    num_steps : int
        Steps per timed call.
    step_size : float
        ``h`` in ``x + h ∇log p + sqrt(2h) ξ``.
    """

    dim: int
    chains: int
    num_steps: int
    step_size: float

    @property
    def scales(self) -> jax.Array:
        """The standard deviations ``σᵢ``, evenly spaced in ``[0.5, 2]``."""
        return jnp.linspace(0.5, 2.0, self.dim, dtype=jnp.float32)

    def logdensity(self) -> Callable[[jax.Array], jax.Array]:
        """Log density of one position ``(dim,)``, up to a constant."""
        scales = self.scales

        def logdensity_fn(x: jax.Array) -> jax.Array:
            return -0.5 * jnp.sum((x / scales) ** 2)

        return logdensity_fn

    def start(self) -> jax.Array:
        """Initial positions ``(chains, dim)``, spread deterministically over ``[-1, 1]``."""
        grid = jnp.linspace(-1.0, 1.0, self.chains * self.dim, dtype=jnp.float32)
        return grid.reshape(self.chains, self.dim)


def make_problem(dim: int, chains: int, num_steps: int) -> Problem:
    """A cell whose step ``h = 0.5 σ_min² d^(-1/3)`` keeps MALA's acceptance about 0.6-0.9.

    Parameters
    ----------
    dim, chains, num_steps : int
        The cell's dimension, number of chains and steps per call.

    Returns
    -------
    Problem
    """
    return Problem(dim, chains, num_steps, 0.5 * 0.25 * dim ** (-1.0 / 3.0))


def steps_for(
    dim: int, chains: int, work: float, min_steps: int = 50, max_steps: int = 5000
) -> int:
    """Steps per timed call so that ``chains * max(dim, 10) * steps`` is about ``work``.

    Parameters
    ----------
    dim, chains : int
        The cell.
    work : float
        Numbers to move per call.
    min_steps, max_steps : int
        Bounds on the result; small cells hit ``max_steps`` (there the
        per-step overhead, not the arithmetic, is what is measured).

    Returns
    -------
    int
    """
    steps = int(work / (chains * max(dim, 10)))
    return int(min(max(steps, min_steps), max_steps))


# --------------------------------------------------------------------------- #
# Implementations
# --------------------------------------------------------------------------- #
def jl_sampler(kernel: str, problem: Problem, track_logdensity: bool = False) -> Any:
    """The jlangevin sampler of the job: MALA with ``logp``; ULA and SGLD with its score
    alone (as the peers get it), or with ``logp`` when ``track_logdensity``."""
    import jlangevin as jl

    logp, h = problem.logdensity(), problem.step_size
    if kernel == "mala":
        return jl.mala(logp, h)
    if track_logdensity:
        return {"ula": jl.ula, "sgld": jl.sgld}[kernel](logp, h)
    return {"ula": jl.ula, "sgld": jl.sgld}[kernel](score_fn=jax.grad(logp), step_size=h)


def jlangevin_runner(kernel: str, problem: Problem, track_logdensity: bool = False) -> Runner:
    """``jl.run(..., store="positions")``, the everyday entry point, timed whole.

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem
    track_logdensity : bool
        Give ULA and SGLD ``logp`` rather than its score, so that they also
        compute, check and carry the log density. MALA always needs it.

    Returns
    -------
    Runner
        ``run(key, x0) -> positions`` of shape ``(chains, num_steps, dim)``.
    """
    import jlangevin as jl

    sampler = jl_sampler(kernel, problem, track_logdensity)

    def run(key: jax.Array, x0: jax.Array) -> jax.Array:
        return jl.run(key, sampler, x0, problem.num_steps, store="positions").positions

    return run


def jlangevin_lp_runner(kernel: str, problem: Problem) -> Runner | None:
    """:func:`jlangevin_runner` tracking the log density; ``None`` for MALA (no difference)."""
    return None if kernel == "mala" else jlangevin_runner(kernel, problem, track_logdensity=True)


def floor_runner(kernel: str, problem: Problem) -> Runner:
    """The same update written inline: one ``(chains, dim)`` array, one key per step.

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem

    Returns
    -------
    Runner
        A jitted ``run(key, x0) -> positions`` of shape ``(num_steps, chains, dim)``.
    """
    logp_batch = jax.vmap(problem.logdensity())
    h, n = problem.step_size, problem.num_steps
    sqrt_2h = math.sqrt(2.0 * h)

    def grad(x):
        return jax.grad(lambda x: jnp.sum(logp_batch(x)))(x)

    def ula(key, x0):
        def body(carry, _):
            x, g, key = carry
            key, sub = jax.random.split(key)
            x = x + h * g + sqrt_2h * jax.random.normal(sub, x.shape)
            return (x, grad(x), key), x

        return jax.lax.scan(body, (x0, grad(x0), key), None, length=n)[1]

    def sgld(key, x0):  # the score is estimated afresh at each step (here: the full one)
        def body(carry, _):
            x, key = carry
            key, sub = jax.random.split(key)
            x = x + h * grad(x) + sqrt_2h * jax.random.normal(sub, x.shape)
            return (x, key), x

        return jax.lax.scan(body, (x0, key), None, length=n)[1]

    def mala(key, x0):
        def body(carry, _):
            x, lx, gx, key = carry
            key, k_move, k_accept = jax.random.split(key, 3)
            xi = jax.random.normal(k_move, x.shape)
            y = x + h * gx + sqrt_2h * xi
            ly, gy = logp_batch(y), grad(y)
            log_q_forward = -0.5 * jnp.sum(xi**2, axis=-1)
            log_q_backward = -jnp.sum((x - y - h * gy) ** 2, axis=-1) / (4 * h)
            log_alpha = ly - lx + log_q_backward - log_q_forward
            accept = jnp.log(jax.random.uniform(k_accept, lx.shape)) < log_alpha
            x = jnp.where(accept[:, None], y, x)
            lx = jnp.where(accept, ly, lx)
            gx = jnp.where(accept[:, None], gy, gx)
            return (x, lx, gx, key), x

        return jax.lax.scan(body, (x0, logp_batch(x0), grad(x0), key), None, length=n)[1]

    return jax.jit({"ula": ula, "sgld": sgld, "mala": mala}[kernel])


def blackjax_runner(kernel: str, problem: Problem) -> Runner:
    """BlackJAX's idiom: ``vmap`` the step over chains, split a key per chain per step.

    MALA is ``blackjax.mala``; ULA and SGLD are ``blackjax.sgld`` with the full
    gradient as its estimator (BlackJAX has no separate ULA; it is the same update).

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem

    Returns
    -------
    Runner
        A jitted ``run(key, x0) -> positions`` of shape ``(num_steps, chains, dim)``.
    """
    import blackjax

    logp, h, n = problem.logdensity(), problem.step_size, problem.num_steps
    chains = problem.chains

    if kernel == "mala":
        algorithm = blackjax.mala(logp, h)

        def run(key, x0):
            def body(state, step_key):
                keys = jax.random.split(step_key, chains)
                state, _ = jax.vmap(algorithm.step)(keys, state)
                return state, state.position

            state = jax.vmap(algorithm.init)(x0)
            return jax.lax.scan(body, state, jax.random.split(key, n))[1]

    else:
        algorithm = blackjax.sgld(lambda position, minibatch: jax.grad(logp)(position))

        def run(key, x0):
            def body(x, step_key):
                keys = jax.random.split(step_key, chains)
                x = jax.vmap(lambda k, p: algorithm.step(k, p, None, h))(keys, x)
                return x, x

            return jax.lax.scan(body, jax.vmap(algorithm.init)(x0), jax.random.split(key, n))[1]

    return jax.jit(run)


def tfp_runner(kernel: str, problem: Problem) -> Runner:
    """TFP-on-JAX's idiom: a batched ``target_log_prob_fn`` and ``sample_chain``.

    MALA is ``MetropolisAdjustedLangevinAlgorithm``; ULA and SGLD (full gradient)
    are ``UncalibratedLangevin``. TFP's step ``ε`` is ``2h`` (see the module notes).

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem

    Returns
    -------
    Runner
        A jitted ``run(key, x0) -> positions`` of shape ``(num_steps, chains, dim)``.
    """
    from tensorflow_probability.substrates import jax as tfp

    logp_batch = jax.vmap(problem.logdensity())
    epsilon = 2.0 * problem.step_size
    if kernel == "mala":
        mcmc_kernel = tfp.mcmc.MetropolisAdjustedLangevinAlgorithm(logp_batch, epsilon)
    else:
        mcmc_kernel = tfp.mcmc.UncalibratedLangevin(logp_batch, epsilon, compute_acceptance=False)

    def run(key, x0):
        with warnings.catch_warnings():  # "not calibrated": true of ULA, and known
            warnings.simplefilter("ignore", UserWarning)
            return tfp.mcmc.sample_chain(
                problem.num_steps,
                x0,
                kernel=mcmc_kernel,
                num_burnin_steps=0,
                trace_fn=None,
                seed=jax.random.key_data(key),
            )

    return jax.jit(run)


RUNNERS: dict[str, Callable[[str, Problem], Runner | None]] = {
    "floor": floor_runner,
    "jlangevin": jlangevin_runner,
    "jlangevin_lp": jlangevin_lp_runner,
    "blackjax": blackjax_runner,
    "tfp": tfp_runner,
}


def available_peers(names: tuple[str, ...] | None = None) -> tuple[list[str], dict[str, str]]:
    """The peers that import, and a note for each one that does not.

    Parameters
    ----------
    names : tuple of str, optional
        Peers to try (keys of :data:`PEER_MODULES`); all of them by default.

    Returns
    -------
    found : list of str
        The peers that imported, in :data:`PEER_MODULES` order.
    notes : dict
        ``{peer: "<label> skipped: <error>"}`` for the others.
    """
    found, notes = [], {}
    for name, module in PEER_MODULES.items():
        if names is not None and name not in names:
            continue
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or a peer broken against this jax
            notes[name] = f"{LABELS[name]} skipped: {type(err).__name__}: {err}"
        else:
            found.append(name)
    return found, notes
