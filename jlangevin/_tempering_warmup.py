"""Warm-up for replica exchange: per-rung step sizes, a metric and the ladder itself.

:func:`tempering_warmup` adapts, across all ladders (chains) at once:

- each rung's step-size scale ``ε_k`` by dual averaging toward the kernel's
  target acceptance, on the mean acceptance of rung ``k`` over chains (the
  rungs' densities differ in width, so one scalar per rung);
- a diagonal metric ``v`` (variances) from the ``beta = 1`` replicas of all
  chains, scaled by ``1 / beta`` per rung: rung ``k`` runs MALA with the step
  ``ε_k v / beta_k`` (Barker: ``ε_k sqrt(v / beta_k)``, a standard deviation),
  so ``ε_k`` is the same number on every rung of a Gaussian;
- the ladder, by Syed et al. (2021, Algorithm 4 / Section 5.1): from the swap
  rejection rates ``r_k`` of the pairs ``(k, k + 1)``, pooled over chains and
  the steps of a round (the Rao-Blackwellised ``1 - min(1, ratio)``), the
  cumulative communication barrier ``Λ_k = r_0 + ... + r_{k-1}`` is
  interpolated monotonically (Fritsch-Carlson PCHIP) and the new rungs split
  ``Λ`` into ``K - 1`` equal parts, so every pair is predicted to reject
  equally often. ``beta_0 = 1``, ``beta_{K-1} = beta_min`` and ``K`` stay.

The steps follow Stan's windows (:func:`jlangevin.adaptation.window_schedule`):
an initial fast window tunes the step sizes on the initial (geometric) ladder;
each slow window, of doubling length, is one round of Algorithm 4 (and of the
metric); the final fast window tunes the step sizes for the final ladder and
metric, and its swap rates give the reported barrier. One compiled loop runs
every window (the ladder, the steps and the window bounds are its arguments),
so rounds reuse the program; a new ladder size compiles once more.

Two choices differ from the paper. The ladder ends at ``beta_min > 0``, not at
a proper reference at ``beta = 0``: the untempered target's flat limit is no
distribution, and its hot rungs spread as ``1 / sqrt(beta)``. ``Λ`` is
interpolated in ``-log beta`` rather than in ``beta``: for any target with
Gaussian-like tails the local barrier is ``λ(β) ≈ c / β`` (exactly so for a
Gaussian in any dimension), so ``Λ`` is linear in ``log β``, where the
interpolant is exact and one round from a poor ladder already lands near the
geometric optimum. Both interpolants have the same fixed point (equal rates).

References
----------
S. Syed, A. Bouchard-Côté, G. Deligiannidis and A. Doucet (2021). Non-reversible
parallel tempering: a scalable highly parallel MCMC scheme. JRSS B 84(2).
F. N. Fritsch and R. E. Carlson (1980). Monotone piecewise cubic interpolation.
SIAM J. Numer. Anal. 17(2).
M. D. Hoffman and A. Gelman (2014). The No-U-Turn sampler. JMLR 15 (dual averaging).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_flag, as_int, as_number, as_positive, describe
from jlangevin._warmup import _segments
from jlangevin.adaptation import (
    _chain_sums_init,
    _chain_sums_update,
    _check_target_acceptance,
    _num_chains,
    _pooled,
    dual_averaging_init,
    dual_averaging_update,
    regularized_covariance,
    window_schedule,
)
from jlangevin.gradients import check_position
from jlangevin.kernels import barker, mala, tempering
from jlangevin.run import chain_keys_for, step_keys
from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, Sampler

#: The kernels a rung may run, with their default target acceptance (see ``_warmup``).
KERNELS = {mala.sampler: ("mala", 0.574), barker.sampler: ("barker", 0.574)}
PRECONDITIONERS = ("diagonal", "identity")
DEFAULT_NUM_RUNGS = 8
#: ``beta_min`` default: a rung at ``beta`` crosses an energy barrier of ``ΔV`` nats
#: about as often as ``exp(-beta ΔV)``, so 0.01 crosses barriers up to ~100 nats at
#: ``beta = 1``; its replica is 10x wider than the target, not so wide that the hot
#: rungs wander far into the tails (every halving of ``beta_min`` adds ``Λ`` there).
DEFAULT_BETA_MIN = 0.01
#: Rejection-rate floor: keeps the interpolated barrier strictly increasing.
MIN_REJECTION = 1e-6


class TemperingWarmupInfo(NamedTuple):
    """What :func:`tempering_warmup` found and how it got there.

    Attributes
    ----------
    kernel : ``"mala"`` or ``"barker"``.
    target_acceptance : the acceptance every rung aimed at.
    betas : ``(K,)`` the adapted ladder (float64), ``1 = beta_0 > ... = beta_min``.
    step_size : ``(K,)`` rung ``k``'s scalar step: MALA's ``h_k = step_size[k] * metric``,
        Barker's ``σ_k = step_size[k] * sqrt(metric)`` (``ε_k / beta_k`` and
        ``ε_k / sqrt(beta_k)``).
    metric : ``(d,)`` the variances ``v`` at ``beta = 1`` over the raveled position.
    swap_rates : ``(K - 1,)`` the final window's mean swap probability of each pair.
    barrier : ``Λ``, the global communication barrier: the sum of the final rejection
        rates (``K - 1`` well above ``Λ`` is needed; each pair rejects ``≈ Λ / (K - 1)``).
    local_barrier : ``(K,)`` ``λ(β_k) = dΛ/dβ`` at the rungs, from the interpolant.
    cumulative_barrier : ``(K,)`` ``Λ(β_k)``, from 0 at ``beta = 1`` to ``Λ``.
    round_trip_rate : ``1 / (2 + 2 Σ r_k / (1 - r_k))``, the predicted rate of
        round trips ``beta = 1 -> beta_min -> 1`` per step and ladder (Syed et al.,
        Theorem 3; for ``swap_every = 1``).
    betas_history : ``(segments, K)`` the ladder each window ran on.
    swap_rate_history : ``(segments, K - 1)`` each window's pooled swap rates.
    step_size_history : ``(segments, K)`` each window's final ``step_size``.
    acceptance_rate : ``(segments, K)`` each window's mean acceptance per rung.
    segments : the windows ``(start, end)``; ``windows``: the slow ones (the rounds).
    diverged : ``(chains,)`` steps in which some replica diverged, per chain.
    """

    kernel: str
    target_acceptance: float
    betas: np.ndarray
    step_size: np.ndarray
    metric: np.ndarray
    swap_rates: np.ndarray
    barrier: float
    local_barrier: np.ndarray
    cumulative_barrier: np.ndarray
    round_trip_rate: float
    betas_history: np.ndarray
    swap_rate_history: np.ndarray
    step_size_history: np.ndarray
    acceptance_rate: np.ndarray
    segments: tuple[tuple[int, int], ...]
    windows: tuple[tuple[int, int], ...]
    diverged: np.ndarray


# --------------------------------------------------------------------------- #
# The ladder update (host side, float64: K numbers)
# --------------------------------------------------------------------------- #
def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes of the monotone cubic through ``(x, y)`` (``x`` increasing)."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if x.size == 2:
        return np.full(2, delta[0])
    m = np.zeros_like(x)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    m[1:-1] = np.where(same, harmonic, 0.0)

    def end(h0: float, h1: float, d0: float, d1: float) -> float:  # shape-preserving 3 points
        slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(slope) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(slope) > 3 * abs(d0):
            return 3 * d0
        return slope

    m[0] = end(h[0], h[1], delta[0], delta[1])
    m[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return m


def _hermite(x: np.ndarray, y: np.ndarray, m: np.ndarray, j: np.ndarray, t: np.ndarray):
    """The cubic Hermite interpolant on segment ``j`` at fraction ``t``."""
    h = x[j + 1] - x[j]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * y[j]
        + (t3 - 2 * t2 + t) * h * m[j]
        + (-2 * t3 + 3 * t2) * y[j + 1]
        + (t3 - t2) * h * m[j + 1]
    )


def barrier_interpolant(betas: Any, rejection: Any) -> Callable[[Any], np.ndarray]:
    """``β -> Λ(β)``: the monotone interpolant of the cumulative rejection rates.

    ``Λ(β_k) = r_0 + ... + r_{k-1}`` (0 at ``beta = 1``), interpolated by PCHIP
    in ``-log β`` between the rungs.

    Examples
    --------
    >>> from jlangevin._tempering_warmup import barrier_interpolant
    >>> barrier = barrier_interpolant([1.0, 0.1, 0.01], [0.3, 0.3])
    >>> round(float(barrier(10 ** -0.5)), 6)  # Λ linear in log β here
    0.15
    """
    u, lam = _knots(betas, rejection)
    m = _pchip_slopes(u, lam)

    def barrier(beta: Any) -> np.ndarray:
        x = -np.log(np.asarray(beta, np.float64))
        j = np.clip(np.searchsorted(u, x, side="right") - 1, 0, u.size - 2)
        return _hermite(u, lam, m, j, (x - u[j]) / (u[j + 1] - u[j]))

    return barrier


def _knots(betas: Any, rejection: Any) -> tuple[np.ndarray, np.ndarray]:
    betas = tempering.check_betas(betas)
    rejection = np.clip(np.asarray(rejection, np.float64), MIN_REJECTION, 1.0)
    if rejection.shape != (betas.size - 1,):
        raise ValueError(
            f"`rejection` must have one rate per adjacent pair, shape ({betas.size - 1},); "
            f"got {rejection.shape}."
        )
    return -np.log(betas), np.concatenate([[0.0], np.cumsum(rejection)])


def local_barrier(betas: Any, rejection: Any) -> np.ndarray:
    """``(K,)``: ``λ(β_k) = |dΛ/dβ|`` at the rungs (Syed et al.'s local barrier).

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin._tempering_warmup import local_barrier
    >>> betas = np.array([1.0, 0.1, 0.01])
    >>> np.round(local_barrier(betas, [0.3, 0.3]) * betas, 6).tolist()  # λ ∝ 1 / β
    [0.130288, 0.130288, 0.130288]
    """
    u, lam = _knots(betas, rejection)
    return _pchip_slopes(u, lam) * np.exp(u)  # dΛ/dβ = dΛ/du · du/dβ, |du/dβ| = 1 / β


def update_ladder(betas: Any, rejection: Any) -> np.ndarray:
    """The ladder that splits the interpolated barrier ``Λ`` into equal parts.

    Parameters
    ----------
    betas : ``(K,)`` the current ladder, ``1 = beta_0 > ... > beta_{K-1} > 0``.
    rejection : ``(K - 1,)`` the estimated swap rejection rate of each pair
        ``(k, k + 1)`` (floored at ``1e-6``).

    Returns
    -------
    ``(K,)`` float64: ``beta_0 = 1`` and ``beta_{K-1}`` kept; rung ``k`` where the
    interpolant reaches ``k Λ / (K - 1)`` (Syed et al. 2021, Algorithm 4).

    Examples
    --------
    >>> from jlangevin._tempering_warmup import update_ladder
    >>> update_ladder([1.0, 0.5, 0.01], [0.1, 0.5]).round(4).tolist()
    [1.0, 0.1134, 0.01]
    """
    u, lam = _knots(betas, rejection)
    m = _pchip_slopes(u, lam)
    levels = lam[-1] * np.arange(1, u.size - 1) / (u.size - 1)
    j = np.clip(np.searchsorted(lam, levels, side="right") - 1, 0, u.size - 2)
    low, high = np.zeros_like(levels), np.ones_like(levels)
    for _ in range(60):  # bisection: the interpolant is monotone on every segment
        mid = 0.5 * (low + high)
        below = _hermite(u, lam, m, j, mid) < levels
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    inner = u[j] + 0.5 * (low + high) * (u[j + 1] - u[j])
    new = np.exp(-np.concatenate([[0.0], inner, [u[-1]]]))
    new[0], new[-1] = 1.0, tempering.check_betas(betas)[-1]
    return new


def round_trip_rate(rejection: Any) -> float:
    """``1 / (2 + 2 Σ r / (1 - r))``: round trips per step of the even-odd scheme.

    Examples
    --------
    >>> from jlangevin._tempering_warmup import round_trip_rate
    >>> round_trip_rate([0.5, 0.5])
    0.16666666666666666
    """
    r = np.clip(np.asarray(rejection, np.float64), 0.0, 1.0 - 1e-12)
    return float(1.0 / (2.0 + 2.0 * np.sum(r / (1.0 - r))))


# --------------------------------------------------------------------------- #
# The compiled window
# --------------------------------------------------------------------------- #
class _Settings(NamedTuple):
    """Everything static about one warm-up: the key of the compiled-window cache."""

    kernel: str
    logdensity_fn: LogDensityFn
    treedef: Any
    shapes: tuple
    dtype: Any
    target: float
    swap_every: int


def _unravel(settings: _Settings) -> Callable[[Array], ArrayTree]:
    sizes = [int(np.prod(shape)) for shape in settings.shapes]
    splits = np.cumsum(sizes)[:-1].tolist()

    def unravel(flat: Array) -> ArrayTree:
        parts = jnp.split(flat, splits) if splits else [flat]
        leaves = [p.reshape(shape) for p, shape in zip(parts, settings.shapes, strict=True)]
        return jax.tree.unflatten(settings.treedef, leaves)

    return unravel


def _rung_step(settings: _Settings, scale: Array, metric: Array) -> ArrayTree:
    """A rung's step: MALA ``scale * v``, Barker ``scale * sqrt(v)`` (an sd)."""
    per_coordinate = metric if settings.kernel == "mala" else jnp.sqrt(metric)
    return _unravel(settings)(scale * per_coordinate)


def _replica_step(settings: _Settings, metric: Array):
    module = mala if settings.kernel == "mala" else barker

    def one(key, replica, beta, scale):
        logdensity = tempering.tempered(settings.logdensity_fn, beta)
        h = _rung_step(settings, scale, metric)
        return module.step(key, replica, logdensity, h)

    return one


def _scale(settings: _Settings, eps: Array, betas: Array) -> Array:
    """``step_size`` per rung from ``ε``: ``ε / β`` (MALA, a variance), ``ε / sqrt β`` (Barker)."""
    return eps / betas if settings.kernel == "mala" else eps / jnp.sqrt(betas)


def _build_window(settings: _Settings):
    """Jitted ``(keys, states, betas, da, metric, start, end, collect) -> ...``: one window.

    Steps ``start .. end - 1`` of all ladders (``vmap``), dual averaging per rung
    after each, the swap probabilities summed per pair, the ``beta = 1`` draws'
    sums when ``collect`` (whitened by the current metric's sd).
    """
    dtype, target = settings.dtype, settings.target
    da_update = jax.vmap(dual_averaging_update, (0, 0, None))

    @jax.jit
    def window(chain_keys, states, betas, da, metric, start, end, collect):
        one = _replica_step(settings, metric)
        sd = jnp.sqrt(metric)

        def ladder(key, state, scales):
            return tempering.ladder_step(key, state, betas, one, scales, settings.swap_every)

        def body(_, carry):
            states, da, stats, swaps, accept, diverged = carry
            scales = _scale(settings, jnp.exp(da.log_step), betas)
            keys = step_keys(chain_keys, states.count)
            states, info = jax.vmap(ladder, (0, 0, None))(keys, states, scales)
            rung_accept = jnp.mean(info.replica_info.acceptance_rate.astype(dtype), axis=0)
            da = da_update(da, rung_accept, target)
            flat = jax.vmap(lambda p: ravel_pytree(p)[0])(states.position)
            stats = jax.lax.cond(
                collect, lambda s: _chain_sums_update(s, flat / sd), lambda s: s, stats
            )
            swaps = (
                swaps[0] + jnp.sum(info.swap_acceptance.astype(dtype), axis=0),
                swaps[1] + jnp.sum(info.swap_attempted.astype(dtype), axis=0),
            )
            diverged = diverged + info.diverged.astype(jnp.int32)
            return states, da, stats, swaps, accept + rung_accept, diverged

        num_chains, num = chain_keys.shape[0], betas.shape[0]
        stats = _chain_sums_init(num_chains, metric.shape[0], False, dtype)
        pairs = jnp.zeros((num - 1,), dtype)
        carry = (
            states,
            da,
            stats,
            (pairs, pairs),
            jnp.zeros((num,), dtype),
            jnp.zeros((num_chains,), jnp.int32),
        )
        return jax.lax.fori_loop(start, end, body, carry)

    return window


_cached_window = functools.lru_cache(maxsize=32)(_build_window)


def _window_fn(settings: _Settings):
    try:
        return _cached_window(settings)
    except TypeError as err:  # an unhashable log density: build afresh
        if "unhashable" not in str(err):
            raise
        return _build_window(settings)


@functools.partial(jax.jit, static_argnames="shrinkage")
def _new_metric(stats, metric, shrinkage):
    var = regularized_covariance(_pooled(stats, jnp.ones(stats.means.shape[0], bool)), shrinkage)
    new = metric * var
    return jnp.where(jnp.all(jnp.isfinite(new) & (new > 0)), new, metric)


def _retemper(ladder: Any, old: Array, new: Array) -> Any:
    """Replica ``k``'s state, tempered by ``new[k]`` instead of ``old[k]`` (position kept)."""
    ratio = jnp.asarray(new / old, ladder.logdensity.dtype)

    def scale(leaf: Array) -> Array:  # leaves (chains, K, ...)
        return leaf * ratio.reshape((1, -1) + (1,) * (leaf.ndim - 2)).astype(leaf.dtype)

    fields = {"logdensity": scale(ladder.logdensity)}
    if hasattr(ladder, "score"):
        fields["score"] = jax.tree.map(scale, ladder.score)
    return ladder._replace(**fields)


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _kernel_spec(kernel: Any) -> tuple[str, float]:
    if kernel is None:
        return KERNELS[mala.sampler]
    try:
        return KERNELS[kernel]
    except (KeyError, TypeError):
        pass
    raise TypeError(
        "`kernel` must be None (MALA), jl.mala (jlangevin.kernels.mala.sampler) or "
        "jlangevin.kernels.barker.sampler, the constructor whose step the warm-up adapts "
        f"per rung; got {describe(kernel)}."
    )


def _initial_ladder(num_rungs: Any, beta_min: Any, betas: Any) -> np.ndarray:
    if betas is None:
        num = DEFAULT_NUM_RUNGS if num_rungs is None else as_int(num_rungs, "num_rungs", 2)
        low = DEFAULT_BETA_MIN if beta_min is None else beta_min
        low = as_number(low, "beta_min", 0.0, 1.0, low_open=True, high_open=True)
        return tempering.geometric_betas(num, low)
    ladder = tempering.check_betas(betas)
    if num_rungs is not None and as_int(num_rungs, "num_rungs", 2) != ladder.size:
        raise ValueError(
            f"`num_rungs` ({num_rungs}) disagrees with the {ladder.size} rungs of `betas`; "
            "pass one of them."
        )
    if beta_min is not None and as_number(beta_min, "beta_min") != ladder[-1]:
        raise ValueError(
            f"`beta_min` ({beta_min}) disagrees with the last rung of `betas` ({ladder[-1]}); "
            "pass one of them."
        )
    return ladder


def _check_positions(positions: Any, logdensity_fn: LogDensityFn) -> int:
    if isinstance(positions, tempering.TemperingState):
        raise TypeError(
            "`positions` must be plain positions (chains, *event); for a state of an earlier "
            "warm-up or run pass its `position` (the beta = 1 replicas)."
        )
    num_chains = _num_chains(positions)
    check_position(positions, "positions")
    for leaf in jax.tree.leaves(positions):
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError("`positions` holds non-finite (NaN or inf) values.")
    values = np.asarray(jax.jit(jax.vmap(logdensity_fn))(positions))
    bad = np.flatnonzero(~np.isfinite(values))
    if values.shape != (num_chains,):
        raise ValueError(
            f"`logdensity_fn` must return a scalar per position; got shape {values.shape[1:]}."
        )
    if bad.size:
        raise ValueError(
            f"The log density is not finite at the initial positions of {bad.size} chains "
            f"(first: {bad[:5].tolist()}); start inside the support."
        )
    return num_chains


# --------------------------------------------------------------------------- #
# The warm-up
# --------------------------------------------------------------------------- #
def tempering_warmup(
    key: PRNGKey,
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    *,
    num_rungs: int | None = None,
    beta_min: float | None = None,
    betas: Any = None,
    kernel: Callable[..., Sampler] | None = None,
    target_acceptance: float | None = None,
    preconditioner: str = "diagonal",
    initial_step_size: float = 1.0,
    shrinkage: float = 0.01,
    swap_every: int = 1,
    adapt_ladder: bool = True,
) -> tuple[Sampler, tempering.TemperingState, TemperingWarmupInfo]:
    """Adapt replica exchange across ladders: per-rung step sizes, a metric, the ladder.

    Parameters
    ----------
    key : a JAX random key; ladder ``c`` draws what ``jl.run`` with this key would.
    logdensity_fn : the untempered ``position -> log p`` of one position (any pytree).
    positions : ``(chains, *event)`` starting points; every replica of ladder ``c``
        starts at its chain's point.
    num_steps : warm-up steps, an integer >= 20 (1,000 or more is typical).
    num_rungs : ``K >= 2``, kept (default 8).
    beta_min : the hottest rung, in ``(0, 1)``, kept (default 0.01: see
        :data:`DEFAULT_BETA_MIN`). The initial ladder is geometric.
    betas : an initial ladder instead (its ``K`` and last rung are kept).
    kernel : ``None`` or ``jl.mala`` (MALA in every rung), or
        ``jlangevin.kernels.barker.sampler``.
    target_acceptance : every rung's, in ``(0, 1)`` (default 0.574 for both kernels).
    preconditioner : ``"diagonal"`` (the ``beta = 1`` variances, ``1 / beta`` per
        rung) or ``"identity"``.
    initial_step_size : ``ε`` on every rung at the start (1.0).
    shrinkage : as in :func:`jlangevin.adaptation.warmup` (0.01); the diagonal
        estimate uses only its scale-free regularisation.
    swap_every : swaps after every ``swap_every``-th step, in warm-up and after.
    adapt_ladder : ``False`` keeps the initial ladder (steps and metric only).

    Returns
    -------
    sampler : a ready :func:`jlangevin.tempering` sampler with the adapted ladder and steps.
    state : the ladders' batched :class:`~jlangevin.kernels.tempering.TemperingState`
        (``count = num_steps``); pass it to ``jl.run`` to continue.
    info : :class:`TemperingWarmupInfo`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin._tempering_warmup import tempering_warmup
    >>> target = jl.targets.gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [0.5, 0.5])
    >>> sampler, state, info = tempering_warmup(
    ...     jax.random.key(0), target.logdensity, jnp.zeros((4, 1)), 200, num_rungs=4)
    >>> trace = jl.run(jax.random.key(1), sampler, state, 100)
    >>> info.betas.shape, trace.info.swapped.shape
    ((4,), (4, 100, 3))
    """
    return _tempering_warmup(
        key,
        logdensity_fn,
        positions,
        num_steps,
        num_rungs=num_rungs,
        beta_min=beta_min,
        betas=betas,
        kernel=kernel,
        target_acceptance=target_acceptance,
        preconditioner=preconditioner,
        initial_step_size=initial_step_size,
        shrinkage=shrinkage,
        swap_every=swap_every,
        adapt_ladder=adapt_ladder,
    )


def _tempering_warmup(
    key: PRNGKey,
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    *,
    num_rungs: Any,
    beta_min: Any,
    betas: Any,
    kernel: Any,
    target_acceptance: Any,
    preconditioner: Any,
    initial_step_size: Any,
    shrinkage: Any,
    swap_every: Any,
    adapt_ladder: Any,
    ladder_update: Callable[[np.ndarray, np.ndarray], np.ndarray] = update_ladder,
) -> tuple[Sampler, tempering.TemperingState, TemperingWarmupInfo]:
    """:func:`tempering_warmup`, plus ``ladder_update`` for the tests' broken companions."""
    name, default_target = _kernel_spec(kernel)
    if not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p`; "
            f"got {describe(logdensity_fn)}."
        )
    ladder = _initial_ladder(num_rungs, beta_min, betas)
    target = _check_target_acceptance(
        default_target if target_acceptance is None else target_acceptance
    )
    if not isinstance(preconditioner, str) or preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {PRECONDITIONERS}; got {describe(preconditioner)}."
        )
    initial_step_size = as_positive(initial_step_size, "initial_step_size")
    shrinkage = as_number(shrinkage, "shrinkage", 0.0, 1.0)
    swap_every = as_int(swap_every, "swap_every", minimum=1)
    adapt_ladder = as_flag(adapt_ladder, "adapt_ladder")
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")
    num_chains = _check_positions(positions, logdensity_fn)
    positions = jax.tree.map(jnp.asarray, positions)

    one_position = jax.tree.map(lambda x: x[0], positions)
    flat = ravel_pytree(one_position)[0]
    dtype = flat.dtype
    leaves = jax.tree.leaves(one_position)
    settings = _Settings(
        name,
        logdensity_fn,
        jax.tree.structure(one_position),
        tuple(np.shape(x) for x in leaves),
        dtype,
        target,
        swap_every,
    )
    metric = jnp.ones((flat.size,), dtype)
    module = mala if name == "mala" else barker

    def start(position):  # every replica at the chain's point (the step size is not used)
        return tempering.init(
            position, logdensity_fn, ladder, kernel=lambda f, b: module.sampler(f, step_size=1.0)
        )

    states = jax.jit(jax.vmap(start))(positions)
    chain_keys = chain_keys_for(key, num_chains)
    eps = np.full(ladder.size, initial_step_size)
    da = jax.vmap(dual_averaging_init)(jnp.asarray(eps, dtype))
    window = _window_fn(settings)

    history: dict[str, list] = {"betas": [], "rates": [], "steps": [], "accept": []}
    diverged = np.zeros(num_chains, np.int64)
    segments = _segments(num_steps, windows)
    for begin, end, slow in segments:
        betas_now = jnp.asarray(ladder, dtype)
        states, da, stats, swaps, accept, div = window(
            chain_keys, states, betas_now, da, metric, begin, end, slow
        )
        diverged += np.asarray(div)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.asarray(swaps[0], np.float64) / np.asarray(swaps[1], np.float64)
        eps = np.exp(np.asarray(da.log_step_avg, np.float64))
        history["betas"].append(ladder)
        history["rates"].append(rates)
        history["steps"].append(np.asarray(_scale(settings, eps, ladder)))
        history["accept"].append(np.asarray(accept, np.float64) / (end - begin))
        if end == num_steps or not slow:
            continue
        if preconditioner == "diagonal":
            metric = _new_metric(stats, metric, shrinkage)
        if adapt_ladder and np.all(np.isfinite(rates)):
            new = ladder_update(ladder, 1.0 - rates)
            # each rung's ε from its neighbours on the old ladder (log ε linear in log β)
            eps = np.exp(np.interp(-np.log(new), -np.log(ladder), np.log(eps)))
            states = states._replace(ladder=_retemper(states.ladder, ladder, new))
            ladder = new
        da = jax.vmap(dual_averaging_init)(jnp.asarray(eps, dtype))

    step_size = np.asarray(_scale(settings, eps, ladder), np.float64)
    metric_np = np.asarray(metric, np.float64)
    if not (np.all(np.isfinite(step_size)) and np.all(np.isfinite(metric_np))):
        raise ValueError(
            f"tempering warm-up failed: the adapted step sizes ({step_size}) or metric are not "
            "positive and finite. Try a smaller `initial_step_size`, more warm-up steps, "
            "starting points nearer the target, or float64."
        )
    sampler = bound_sampler(settings, ladder, step_size, metric_np)
    rejection = 1.0 - rates
    lam = barrier_interpolant(ladder, rejection)
    info = TemperingWarmupInfo(
        kernel=name,
        target_acceptance=target,
        betas=ladder,
        step_size=step_size,
        metric=metric_np,
        swap_rates=rates,
        barrier=float(np.sum(rejection)),
        local_barrier=local_barrier(ladder, rejection),
        cumulative_barrier=lam(ladder),
        round_trip_rate=round_trip_rate(rejection),
        betas_history=np.stack(history["betas"]),
        swap_rate_history=np.stack(history["rates"]),
        step_size_history=np.stack(history["steps"]),
        acceptance_rate=np.stack(history["accept"]),
        segments=tuple((a, b) for a, b, _ in segments),
        windows=windows,
        diverged=diverged,
    )
    return sampler, states, info


def bound_sampler(
    settings: _Settings, betas: np.ndarray, step_size: np.ndarray, metric: np.ndarray
) -> Sampler:
    """The ``jl.tempering`` sampler with rung ``k`` at ``step_size[k]`` times the metric.

    MALA: ``step_size=v`` (the per-coordinate part) and ``rung_scales=step_size``,
    so a new warm-up of the same model reuses ``jl.run``'s compiled loop. Barker:
    a kernel that looks its rung's step up by ``beta``.
    """
    unravel = _unravel(settings)
    fn, swap_every = settings.logdensity_fn, settings.swap_every
    if settings.kernel == "mala":
        per_coordinate = unravel(jnp.asarray(metric, settings.dtype))
        return tempering.sampler(
            fn, betas, per_coordinate, rung_scales=step_size, swap_every=swap_every
        )
    sds = np.sqrt(metric)[None, :] * step_size[:, None]  # (K, d)
    table = jnp.asarray(sds, settings.dtype)
    log_betas = jnp.asarray(np.log(betas), settings.dtype)

    def kernel(logdensity_beta: LogDensityFn, beta: Array) -> Sampler:
        rung = jnp.argmin(jnp.abs(log_betas - jnp.log(beta)))
        return barker.sampler(logdensity_beta, step_size=unravel(table[rung]))

    return tempering.sampler(fn, betas, kernel=kernel, swap_every=swap_every)


__all__ = [
    "TemperingWarmupInfo",
    "barrier_interpolant",
    "local_barrier",
    "round_trip_rate",
    "tempering_warmup",
    "update_ladder",
]
