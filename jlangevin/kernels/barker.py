"""Barker's proposal: a gradient-skewed random walk, Metropolis–Hastings corrected.

Per coordinate ``i`` the proposal draws a symmetric increment and lets the
gradient choose its sign (Livingstone & Zanella 2022)::

    z_i ~ N(0, sigma_i^2),   b_i = +1 with probability 1 / (1 + exp(-z_i g_i(x))), else -1
    y_i = x_i + b_i z_i,     g = grad log p

so ``q(y | x) = prod_i 2 N(y_i - x_i; 0, sigma_i^2) / (1 + exp(-(y_i - x_i) g_i(x)))``.
The Gaussian factors are the same in both directions, and with ``w = y - x``
the acceptance ratio is::

    log alpha = log p(y) - log p(x) + sum_i [softplus(-w_i g_i(x)) - softplus(w_i g_i(y))]

(``softplus(t) = log(1 + e^t)``, computed stably). The gradient only skews
which way each coordinate moves, never how far, so a step far too large for
the target still proposes moves of size ``sigma``, not the ``h * g(x)``
overshoot of MALA: the acceptance rate decays slowly as ``sigma`` grows
instead of collapsing (the paper's robustness result; see the tests).

``step_size`` is ``sigma``, the standard deviation of the increment (as in
BlackJAX's ``barker``; it is not MALA's ``h``, whose increment has standard
deviation ``sqrt(2 h)``): a scalar, an array or pytree per coordinate, or a
schedule ``count -> sigma``.

Dense preconditioning: with ``cholesky=L`` (the lower Cholesky factor of a
preconditioner ``M = L Lᵀ`` over the position raveled to a vector) and a
scalar ``sigma``, the chain runs the proposal above in the coordinates
``x̃ = L⁻¹ x``, where the score is ``Lᵀ g(x)``::

    z ~ N(0, sigma^2 I),   b_i from z_i (Lᵀ g(x))_i,   y = x + L (b ⊙ z)

and the ratio uses ``w̃ = b ⊙ z`` with ``Lᵀ g`` at both ends (the Jacobian of
the linear map cancels). No inverse of ``L`` is needed: two matrix-vector
products per step besides the proposal's.

Exactness is kept under every option: with ``bounds`` a proposal outside the
box is rejected (never reflected: a reflected proposal has a different
density, which this ratio does not use); a non-finite proposal is rejected and
reported in ``info.diverged``. The accept step is
:func:`jlangevin.kernels._metropolis.metropolis_hastings`; the step draws its
normals, its sign uniforms and its accept uniform from
``jax.random.split(key, 3)``.

References
----------
S. Livingstone and G. Zanella (2022). The Barker proposal: combining robustness
and efficiency in gradient-based MCMC. JRSS B 84(2).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    check_callable,
    check_real,
    check_step_size,
    checked_init,
    checked_value_and_score,
    describe,
    require_logdensity,
)
from jlangevin.kernels._metropolis import log_uniform, metropolis_hastings
from jlangevin.kernels._tree import is_concrete, normal_like, tree_all_finite, tree_sum
from jlangevin.kernels.mala import check_cholesky
from jlangevin.types import (
    Array,
    ArrayTree,
    Bounds,
    LogDensityFn,
    PRNGKey,
    Sampler,
    ScoreFn,
    StepSize,
    Tuning,
)


class BarkerState(NamedTuple):
    """State of one Barker chain: position, its log density and score, step count."""

    position: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class BarkerInfo(NamedTuple):
    """What one Barker step reports.

    Attributes
    ----------
    acceptance_rate : ``min(1, exp(log_alpha))`` of this step's proposal (0 for a
        proposal rejected by rule: outside the bounds, or diverged).
    is_accepted : whether the proposal was accepted.
    diverged : the proposal could not be judged (its score or the ratio was not
        finite, a log density of ``-inf`` inside the bounds excepted: that is an
        ordinary rejection), or the score at the current point or the step was
        not finite and positive. It was rejected; the chain is unharmed.
    step_size : ``sigma`` used (its mean over coordinates when per-coordinate).
    logdensity : log density at the state after the step.
    """

    acceptance_rate: Array
    is_accepted: Array
    diverged: Array
    step_size: Array
    logdensity: Array


def proposal_logdensity(increment: ArrayTree, score_at_start: ArrayTree) -> Array:
    """``log q(start + increment | start)`` up to a term that cancels between directions.

    ``-sum_i softplus(-w_i g_i)`` with ``w`` the increment and ``g`` the score at
    the start; the symmetric Gaussian factor and the ``log 2`` are the same both
    ways and are dropped. The reverse move uses ``-w`` and the score at the end.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import barker
    >>> round(float(barker.proposal_logdensity(jnp.zeros(2), jnp.ones(2))), 4)  # 2 log(1/2)
    -1.3863
    """

    def term(w, g):
        return jnp.sum(jax.nn.softplus(-w * g))

    return -tree_sum(jax.tree.map(term, increment, score_at_start))


def _uniform_like(key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Uniforms on ``[0, 1)`` shaped and typed like every leaf of ``tree``."""
    leaves, tree_def = jax.tree.flatten(tree)
    keys = [key] if len(leaves) == 1 else list(jax.random.split(key, len(leaves)))
    draws = [
        jax.random.uniform(k, jnp.shape(leaf), jnp.result_type(leaf))
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(tree_def, draws)


def skewed_increment(
    scales: ArrayTree, score: ArrayTree, noise: ArrayTree, uniforms: ArrayTree
) -> ArrayTree:
    """``b ⊙ z`` with ``z = sigma ⊙ noise`` and ``b_i = +1`` where ``u_i < sigmoid(z_i g_i)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.barker import skewed_increment
    >>> # A steep score keeps the sign that climbs it: +z where g > 0, -z where g < 0.
    >>> skewed_increment(1.0, jnp.array([50.0, -50.0]), jnp.ones(2), jnp.full(2, 0.5))
    Array([ 1., -1.], dtype=float32)
    """

    def flip(sigma, g, xi, u):
        z = jnp.asarray(sigma, jnp.result_type(xi)) * xi
        return jnp.where(u < jax.nn.sigmoid(z * g), z, -z)

    if jax.tree.structure(scales) != jax.tree.structure(score):
        scales = jax.tree.map(lambda _: scales, score)  # one scale for every leaf
    return jax.tree.map(flip, scales, score, noise, uniforms)


def _scalar_step(step_size: StepSize, count: Array, position: ArrayTree) -> Array:
    """The (scalar) ``sigma`` at ``count``, typed like the raveled position."""
    value = _move.step_size_at(step_size, count)
    if callable(value) or np.ndim(value) != 0:
        raise ValueError(
            "With `cholesky`, `step_size` must be a scalar (the preconditioner carries the "
            f"per-coordinate scales); got shape {np.shape(value)}."
        )
    check_real(value, "step_size")
    return jnp.asarray(value, ravel_pytree(position)[0].dtype)


def _check_cholesky_for(cholesky: Array | None, position: ArrayTree) -> None:
    if cholesky is None:
        return
    check_cholesky(cholesky)
    size = ravel_pytree(position)[0].size
    if np.shape(cholesky) != (size, size):
        raise ValueError(
            f"`cholesky` must be ({size}, {size}) for a position of total size {size}; "
            f"got shape {np.shape(cholesky)}."
        )


def _lower(cholesky: Array, dtype: Any) -> Array:
    """The lower triangle of ``cholesky`` in ``dtype`` (a constant when concrete)."""
    if is_concrete(cholesky):
        return jnp.asarray(np.tril(np.asarray(cholesky)).astype(dtype))
    return jnp.tril(jnp.asarray(cholesky, dtype))


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn,
    *,
    score_fn: ScoreFn | None = None,
    cholesky: Array | None = None,
    bounds: Bounds | None = None,
    step_size: StepSize | None = None,
) -> BarkerState:
    """Initial state at ``position`` (one chain).

    ``cholesky``, ``step_size`` and ``bounds``, when the sampler will use them,
    are checked here against the shapes of the position.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import barker
    >>> state = barker.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity)
    -1.0
    """
    require_logdensity(logdensity_fn, "Barker")
    _bounds.check_inside(position, bounds)
    value, score = checked_init(position, logdensity_fn, score_fn)
    _check_cholesky_for(cholesky, position)
    if step_size is not None:
        if cholesky is None:
            _move.step_tree(step_size, jnp.zeros((), jnp.int32), position)
        else:
            _scalar_step(step_size, jnp.zeros((), jnp.int32), position)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    return BarkerState(position, value, score, jnp.zeros((), jnp.int32))


def _propose(
    key: PRNGKey, x: ArrayTree, score: ArrayTree, step_size: StepSize, count: Array, lower: Any
) -> tuple[ArrayTree, ArrayTree, Array, ArrayTree, Array]:
    """``(y, w, steps_ok, white score at x, mean sigma)``: the increment ``w`` in the
    coordinates the proposal is made in (``x̃ = L⁻¹ x`` with ``cholesky``)."""
    key_noise, key_flip = jax.random.split(key)
    if lower is None:
        steps = _move.step_tree(step_size, count, x)
        noise, uniforms = normal_like(key_noise, x), _uniform_like(key_flip, x)
        w = skewed_increment(steps, score, noise, uniforms)
        y = jax.tree.map(lambda a, b: a + b, x, w)
        return y, w, _move.steps_ok(steps), score, _move.mean_step(steps, x)
    flat_x, unravel = ravel_pytree(x)
    sigma = _scalar_step(step_size, count, x)
    white_score = lower.T @ ravel_pytree(score)[0]
    noise = jax.random.normal(key_noise, flat_x.shape, flat_x.dtype)
    uniforms = jax.random.uniform(key_flip, flat_x.shape, flat_x.dtype)
    w = skewed_increment(sigma, white_score, noise, uniforms)
    return unravel(flat_x + lower @ w), w, _move.steps_ok(sigma), white_score, sigma


def step(
    key: PRNGKey,
    state: BarkerState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    cholesky: Array | None = None,
) -> tuple[BarkerState, BarkerInfo]:
    """One Barker step.

    Parameters
    ----------
    key : a fresh key for this chain and step (split in three: the increments,
        their signs, the accept uniform).
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``sigma``, the increments' standard deviation: scalar,
        per-coordinate array/pytree, or ``count -> sigma`` schedule.
    score_fn : optional exact score, used instead of ``jax.grad(logdensity_fn)``.
    bounds : ``(low, high)``: proposals outside the box are rejected.
    cholesky : optional lower-triangular ``(d, d)`` factor ``L`` of a dense
        preconditioner over the raveled position (``d`` its total size); the
        proposal is made in the coordinates ``L⁻¹ x`` and ``step_size`` must be
        a scalar (or a scalar schedule). Only the lower triangle is read.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import barker
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = barker.init(jnp.zeros(2), logp)
    >>> state, info = barker.step(jax.random.key(0), state, logp, 1.0)
    >>> info.is_accepted.dtype
    dtype('bool')
    >>> chol = jnp.array([[1.0, 0.0], [0.5, 0.8]])
    >>> state, info = barker.step(jax.random.key(1), state, logp, 1.0, cholesky=chol)
    """
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _bounds.check_bounds(bounds)
    check_cholesky(cholesky)
    x = state.position
    dtype = ravel_pytree(x)[0].dtype
    lower = None if cholesky is None else _lower(cholesky, dtype)
    key_propose, key_accept = jax.random.split(key)
    y, w, steps_ok, white_x, mean_step = _propose(
        key_propose, x, state.score, step_size, state.count, lower
    )
    value_y, score_y = value_and_score(y)
    white_y = score_y if lower is None else lower.T @ ravel_pytree(score_y)[0]
    log_q_forward = proposal_logdensity(w, white_x)
    log_q_backward = proposal_logdensity(jax.tree.map(jnp.negative, w), white_y)
    log_alpha = value_y - state.logdensity + log_q_backward - log_q_forward

    # As in MALA: a non-finite score at x or a bad step is no proposal at all (diverged);
    # a proposal whose score or ratio is not finite diverged too, except log p(y) = -inf
    # inside the bounds, an honest rejection outside the support.
    sound = steps_ok & tree_all_finite(state.score)
    inside = _bounds.within_bounds(y, bounds)
    finite = jnp.isfinite(log_alpha) & tree_all_finite(score_y)
    diverged = ~sound | (inside & ~finite & ~(value_y == -jnp.inf))
    log_alpha = jnp.where(sound & inside & finite, log_alpha, -jnp.inf)

    proposal = BarkerState(y, value_y, score_y, state.count + 1)
    current = BarkerState(x, state.logdensity, state.score, state.count + 1)
    log_u = log_uniform(key_accept, log_alpha.dtype)
    new_state, acceptance = metropolis_hastings(log_u, log_alpha, proposal, current)
    info = BarkerInfo(
        acceptance_rate=acceptance.acceptance_rate,
        is_accepted=acceptance.is_accepted,
        diverged=diverged,
        step_size=jnp.asarray(mean_step, dtype),
        logdensity=new_state.logdensity,
    )
    return new_state, info


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    cholesky: Array | None = None,
) -> Sampler:
    """Barker's proposal bound to a target: ``sampler.init(x)``, ``sampler.step(key, state)``.

    ``step_size`` is ``sigma``, the standard deviation of each coordinate's
    increment (scalar, per-coordinate array/pytree, or schedule). With
    ``cholesky=L`` the proposal is made in the coordinates ``L⁻¹ x`` and
    ``step_size`` is a scalar. The settings are checked here, and against the
    position's shapes at ``init``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import barker
    >>> sampler = barker.sampler(lambda x: -0.5 * jnp.sum(x**2), step_size=1.0)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    if logdensity_fn is None or not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p` for Barker's proposal; "
            f"got {describe(logdensity_fn)}."
        )
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
    check_step_size(step_size)
    _bounds.check_bounds(bounds)
    check_cholesky(cholesky)
    if cholesky is not None and not callable(step_size) and np.ndim(step_size) != 0:
        raise ValueError(
            "With `cholesky`, `step_size` must be a scalar (the preconditioner carries the "
            f"per-coordinate scales); got shape {np.shape(step_size)}."
        )
    settings = {"score_fn": score_fn, "bounds": bounds, "cholesky": cholesky}
    return Sampler(
        init=functools.partial(init, logdensity_fn=logdensity_fn, step_size=step_size, **settings),
        step=functools.partial(step, logdensity_fn=logdensity_fn, step_size=step_size, **settings),
    )


# --------------------------------------------------------------------------- #
# Tuning declaration: what jlangevin.adaptation.warmup may adapt
# --------------------------------------------------------------------------- #
def _tuned_init(position, logdensity_fn, *, score_fn=None, bounds=None) -> BarkerState:
    return init(position, logdensity_fn, score_fn=score_fn, bounds=bounds)


def _tuned_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """Barker with ``σ = ε scale`` (a standard deviation; diagonal) or ``cholesky = R`` (dense)."""
    metric = params.metric
    if metric.is_dense:
        new, info = step(
            key,
            state,
            logdensity_fn,
            params.step_size,
            score_fn=score_fn,
            bounds=bounds,
            cholesky=metric.lower,
        )
    else:
        sigma = ravel_pytree(state.position)[1](params.step_size * metric.scale)
        new, info = step(key, state, logdensity_fn, sigma, score_fn=score_fn, bounds=bounds)
    return new, info, None


def _tuned_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None) -> Sampler:
    metric = params.metric
    if metric.is_dense:
        return sampler(
            logdensity_fn, params.step_size, score_fn=score_fn, bounds=bounds, cholesky=metric.lower
        )
    sigma = ravel_pytree(position)[1](params.step_size * metric.scale)
    return sampler(logdensity_fn, sigma, score_fn=score_fn, bounds=bounds)


#: Barker's tuning declaration: step size and metric. Target 0.574: the proposal has
#: MALA's ``d^(-1/3)`` scaling and the same optimal acceptance (Vogrinc, Livingstone
#: & Zanella 2023), the default of the authors' ``rmcmc`` package too.
tuning = Tuning("barker", _tuned_init, _tuned_step, _tuned_sampler, 0.574)
sampler.tuning = tuning

__all__ = [
    "tuning",
    "BarkerInfo",
    "BarkerState",
    "init",
    "proposal_logdensity",
    "sampler",
    "skewed_increment",
    "step",
]
