"""Unadjusted Langevin algorithm (ULA).

One step moves a position ``x`` (any pytree of float arrays) with::

    x' = x + h * s(x) + sqrt(2 h) * xi,   xi ~ N(0, I),   s = grad log p

No Metropolis correction: the chain is cheap (one gradient per step, no
log density needed, so a learned score is enough) but its stationary law is
biased by O(h). On N(0, sigma^2) the stationary variance is exactly
``sigma^2 / (1 - h / (2 sigma^2))``.

Texts that write ``x + (eps/2) grad log p + sqrt(eps) xi`` use ``h = eps / 2``.

References
----------
G. O. Roberts and R. L. Tweedie (1996). Exponential convergence of Langevin
distributions and their discrete approximations. Bernoulli 2(4).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax.numpy as jnp

from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    check_score_clip,
    check_step_size,
    checked_init,
    checked_value_and_score,
)
from jlangevin.kernels._tree import normal_like, tree_all_finite, tree_where
from jlangevin.types import (
    Array,
    ArrayTree,
    Bounds,
    LogDensityFn,
    PRNGKey,
    Sampler,
    ScoreFn,
    StepSize,
)


class ULAState(NamedTuple):
    """State of one ULA chain.

    Attributes
    ----------
    position : pytree of the current position.
    logdensity : log density at ``position`` (``None`` when only a score is known).
    score : the score at ``position`` (what the next step needs: one gradient a step).
    count : number of steps taken (drives schedules; :func:`jlangevin.run` derives
        each step's key from it).
    """

    position: ArrayTree
    logdensity: Array | None
    score: ArrayTree
    count: Array


class ULAInfo(NamedTuple):
    """What one ULA step reports.

    Attributes
    ----------
    diverged : the move produced a non-finite position, score or log density, or the
        step (a schedule's value) was not positive and finite; the chain then stays
        where it was (nothing sampled is lost) and ``jl.run`` counts it.
    step_size : the step used (its mean over coordinates when per-coordinate).
    logdensity : log density at the new position (``None`` with a score only).
    """

    diverged: Array
    step_size: Array
    logdensity: Array | None


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn | None = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    step_size: StepSize | None = None,
    score_clip: Any | None = None,
) -> ULAState:
    """Initial state at ``position`` (one chain).

    Raises, naming the argument, for a position that is not floating-point, a
    target returning the wrong shape or dtype, a concrete start that is not
    finite or lies outside ``bounds``; ``step_size``, ``score_clip`` and
    ``bounds``, when given, are checked against the position's shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import ula
    >>> state = ula.init(jnp.zeros(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> state.score
    Array([-0., -0.], dtype=float32)
    """
    _bounds.check_inside(position, bounds)
    value, score = checked_init(position, logdensity_fn, score_fn)
    if step_size is not None:
        _move.step_tree(step_size, jnp.zeros((), jnp.int32), position)
    _move.clip_score(score, score_clip)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    return ULAState(position, value, score, jnp.zeros((), jnp.int32))


def step(
    key: PRNGKey,
    state: ULAState,
    logdensity_fn: LogDensityFn | None,
    step_size: StepSize,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> tuple[ULAState, ULAInfo]:
    """One ULA step.

    Parameters
    ----------
    key : a fresh key for this chain and step (the noise is ``jax.random.normal`` of it).
    state : current state.
    logdensity_fn : ``position -> log p`` (up to a constant), or ``None`` with ``score_fn``.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    score_fn : ``position -> grad log p``, for when only the score is known.
    bounds : ``(low, high)`` box; moves leaving it are reflected (or clipped).
    boundary : ``"reflect"`` (default) or ``"clip"``.
    score_clip : clip each score coordinate to ``[-score_clip, score_clip]``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import ula
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = ula.init(jnp.zeros(2), logp)
    >>> state, info = ula.step(jax.random.key(0), state, logp, 0.1)
    >>> bool(info.diverged)
    False
    """
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _bounds.check_bounds(bounds, boundary)
    check_score_clip(score_clip)
    steps = _move.step_tree(step_size, state.count, state.position)
    noise = normal_like(key, state.position)
    drift = _move.clip_score(state.score, score_clip)
    moved = _move.langevin_move(state.position, drift, steps, noise)
    moved = _bounds.apply_bounds(moved, bounds, boundary)
    value, score = value_and_score(moved)
    # A bad step (a schedule turned non-positive) would freeze the chain or make NaNs.
    ok = _move.steps_ok(steps) & tree_all_finite((moved, score))
    if value is not None:
        # -inf is allowed only if the user meant "outside the support"; a move there diverged.
        ok = ok & jnp.isfinite(value)
    position, value, score = tree_where(
        ok, (moved, value, score), (state.position, state.logdensity, state.score)
    )
    new_state = ULAState(position, value, score, state.count + 1)
    return new_state, ULAInfo(~ok, _move.mean_step(steps, state.position), value)


def sampler(
    logdensity_fn: LogDensityFn | None = None,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> Sampler:
    """ULA bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`. They are checked here, while concrete:
    ``step_size`` real, positive and finite (a schedule at the counts 0 to 100
    too), ``score_clip`` positive and finite, ``bounds`` real with ``low < high``;
    their shapes against the position at ``init``. A step whose move, score or
    log density is not finite, or whose step a schedule made non-positive, is
    refused and counted in ``info.diverged``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.ula(score_fn=lambda x: -x, step_size=0.05)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    checked_value_and_score(logdensity_fn, score_fn)  # validates the pair early
    check_step_size(step_size)
    _bounds.check_bounds(bounds, boundary)
    check_score_clip(score_clip)
    return Sampler(
        init=functools.partial(
            init,
            logdensity_fn=logdensity_fn,
            score_fn=score_fn,
            bounds=bounds,
            step_size=step_size,
            score_clip=score_clip,
        ),
        step=functools.partial(
            step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            score_fn=score_fn,
            bounds=bounds,
            boundary=boundary,
            score_clip=score_clip,
        ),
    )


__all__ = ["ULAInfo", "ULAState", "init", "sampler", "step"]
