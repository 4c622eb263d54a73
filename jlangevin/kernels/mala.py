"""Metropolis-adjusted Langevin algorithm (MALA).

The Langevin move is used as a proposal::

    y = x + h * s(x) + sqrt(2 h) * xi,   xi ~ N(0, I),   s = grad log p

and accepted with probability ``min(1, p(y) q(x | y) / (p(x) q(y | x)))``, where
``q(y | x) = N(y; x + h s(x), 2 h)`` uses the same (possibly per-coordinate)
step ``h`` as the move, so a diagonal preconditioner keeps the chain exact.
Everything is computed in log space. The state carries the log density and
score of the current point: one ``value_and_grad`` per step.

Exactness is kept under every option: with ``bounds`` a proposal outside the
box is rejected (never reflected); with ``score_clip`` the clipped drift enters
both proposal densities; a non-finite proposal is rejected and reported in
``info.diverged``.

References
----------
G. O. Roberts and R. L. Tweedie (1996). Exponential convergence of Langevin
distributions and their discrete approximations. Bernoulli 2(4).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin.gradients import value_and_score_fn
from jlangevin.kernels import _langevin as lg
from jlangevin.types import Array, ArrayTree, Bounds, LogDensityFn, PRNGKey, ScoreFn, StepSize


class MALAState(NamedTuple):
    """State of one MALA chain: position, its log density and score, step count."""

    position: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class MALAInfo(NamedTuple):
    """What one MALA step reports.

    Attributes
    ----------
    acceptance_rate : ``min(1, exp(log_alpha))``, the Metropolis–Hastings acceptance
        probability of this step's proposal (0 for a rejected-by-rule proposal).
    is_accepted : whether the proposal was accepted.
    diverged : the proposal's log density or score was non-finite inside the
        bounds (it was rejected; the chain is unharmed).
    step_size : the step used (its mean over coordinates when per-coordinate).
    logdensity : log density at the state after the step.
    """

    acceptance_rate: Array
    is_accepted: Array
    diverged: Array
    step_size: Array
    logdensity: Array


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn,
    *,
    score_fn: ScoreFn | None = None,
) -> MALAState:
    """Initial state at ``position`` (one chain).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import mala
    >>> state = mala.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity)
    -1.0
    """
    if logdensity_fn is None:
        raise ValueError(
            "MALA needs `logdensity_fn` for its acceptance ratio (a score alone is "
            "not enough; use ULA or SGLD with `score_fn`)."
        )
    value, score = lg.checked_init(position, value_and_score_fn(logdensity_fn, score_fn))
    return MALAState(position, value, score, jnp.zeros((), jnp.int32))


def proposal_logdensity(
    to: ArrayTree, frm: ArrayTree, drift_frm: ArrayTree, steps: ArrayTree
) -> Array:
    """``log q(to | frm)`` up to a constant that cancels between directions.

    ``q(to | frm) = N(to; frm + h * drift(frm), 2 h)`` coordinate-wise; the
    normalising ``-0.5 log(4 pi h)`` is the same both ways and is dropped.
    """

    def term(y, x, d, h):
        return jnp.sum((y - x - h * d) ** 2 / (4 * h))

    return -lg.tree_sum(jax.tree.map(term, to, frm, drift_frm, steps))


def step(
    key: PRNGKey,
    state: MALAState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
) -> tuple[MALAState, MALAInfo]:
    """One MALA step.

    Parameters
    ----------
    key : random key for this step (one normal draw and one uniform are made).
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    score_fn : optional exact score, used instead of ``jax.grad(logdensity_fn)``.
    bounds : ``(low, high)``: proposals outside the box are rejected.
    score_clip : clip each drift coordinate to ``[-score_clip, score_clip]``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mala
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mala.init(jnp.zeros(2), logp)
    >>> state, info = mala.step(jax.random.key(0), state, logp, 0.5)
    >>> info.is_accepted.dtype
    dtype('bool')
    """
    value_and_score = value_and_score_fn(logdensity_fn, score_fn)
    key_move, key_accept = lg.split_move_key(key)
    x = state.position
    steps = lg.step_tree(step_size, state.count, x)
    drift_x = lg.clip_score(state.score, score_clip)
    noise = lg.normal_like(key_move, x)
    y = lg.langevin_move(x, drift_x, steps, noise)
    value_y, score_y = value_and_score(y)
    drift_y = lg.clip_score(score_y, score_clip)

    # log q(y|x) = -|xi|^2/2 exactly; computing it from xi avoids cancellation.
    log_q_forward = -0.5 * lg.tree_sum(jax.tree.map(jnp.square, noise))
    log_q_backward = proposal_logdensity(x, y, drift_y, steps)
    log_alpha = value_y - state.logdensity + log_q_backward - log_q_forward

    inside = lg.within_bounds(y, bounds)
    finite = jnp.isfinite(log_alpha) & lg.tree_all_finite(score_y)
    # A proposal at log p = -inf is an honest rejection (outside the support), not a divergence.
    diverged = inside & ~finite & ~(value_y == -jnp.inf)
    log_alpha = jnp.where(inside & finite, log_alpha, -jnp.inf)
    log_u = jnp.log(jax.random.uniform(key_accept, (), jnp.result_type(log_alpha)))
    accepted = log_u < log_alpha

    proposal = MALAState(y, value_y, score_y, state.count + 1)
    current = MALAState(x, state.logdensity, state.score, state.count + 1)
    new_state = lg.tree_where(accepted, proposal, current)
    info = MALAInfo(
        acceptance_rate=jnp.exp(jnp.minimum(log_alpha, 0.0)),
        is_accepted=accepted,
        diverged=diverged,
        step_size=lg.mean_step(steps),
        logdensity=new_state.logdensity,
    )
    return new_state, info


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
) -> lg.Sampler:
    """MALA bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    if logdensity_fn is None or not callable(logdensity_fn):
        raise TypeError("`logdensity_fn` must be a callable `position -> log p` for MALA.")
    lg.check_step_size(step_size)
    lg.check_bounds(bounds)

    def init_fn(position: ArrayTree) -> MALAState:
        lg.check_inside(position, bounds)
        return init(position, logdensity_fn, score_fn=score_fn)

    def step_fn(key: PRNGKey, state: MALAState) -> tuple[MALAState, MALAInfo]:
        return step(
            key,
            state,
            logdensity_fn,
            step_size,
            score_fn=score_fn,
            bounds=bounds,
            score_clip=score_clip,
        )

    return lg.Sampler(init_fn, step_fn, MALAState, "mala", bounds)


__all__ = ["MALAInfo", "MALAState", "init", "proposal_logdensity", "sampler", "step"]
