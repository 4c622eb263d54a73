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

from typing import Any, NamedTuple

import jax.numpy as jnp

from jlangevin.gradients import value_and_score_fn
from jlangevin.kernels import _langevin as lg
from jlangevin.kernels._random import draw
from jlangevin.types import Array, ArrayTree, Bounds, LogDensityFn, PRNGKey, ScoreFn, StepSize


class ULAState(NamedTuple):
    """State of one ULA chain.

    Attributes
    ----------
    position : pytree of the current position.
    logdensity : log density at ``position`` (``None`` when only a score is known).
    score : the score at ``position`` (what the next step needs: one gradient a step).
    count : number of steps taken (drives schedules and the run's key stream).
    """

    position: ArrayTree
    logdensity: Array | None
    score: ArrayTree
    count: Array


class ULAInfo(NamedTuple):
    """What one ULA step reports.

    Attributes
    ----------
    diverged : the move produced a non-finite position or score; the chain then
        stays where it was (nothing sampled is lost) and ``jl.run`` counts it.
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
) -> ULAState:
    """Initial state at ``position`` (one chain).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import ula
    >>> state = ula.init(jnp.zeros(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> state.score
    Array([-0., -0.], dtype=float32)
    """
    value_and_score = value_and_score_fn(logdensity_fn, score_fn)
    value, score = lg.checked_init(position, value_and_score)
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
    guard: bool = True,
) -> tuple[ULAState, ULAInfo]:
    """One ULA step.

    Parameters
    ----------
    key : the chain's random key; the step's numbers are drawn from ``(key, state.count)``,
        so one key serves a chain's whole life (see :mod:`jlangevin.kernels._random`).
    state : current state.
    logdensity_fn : ``position -> log p`` (up to a constant), or ``None`` with ``score_fn``.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    score_fn : ``position -> grad log p``, for when only the score is known.
    bounds : ``(low, high)`` box; moves leaving it are reflected (or clipped).
    boundary : ``"reflect"`` (default) or ``"clip"``.
    score_clip : clip each score coordinate to ``[-score_clip, score_clip]``.
    guard : keep the chain where it is when the move diverges (default). With
        ``False`` the move is taken regardless and ``info.diverged`` is false:
        the same state, bit for bit, when the guarded step would not diverge,
        else a non-finite state that stays non-finite in later unguarded steps
        (see :func:`jlangevin.kernels._langevin.poison`). ``jl.run`` checks
        blocks of such steps and replays a block that ends non-finite guarded.

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
    value_and_score = value_and_score_fn(logdensity_fn, score_fn)
    steps = lg.step_tree(step_size, state.count, state.position)
    noise = draw(key, state.count, state.position, barrier=True).noise
    drift = lg.clip_score(state.score, score_clip)
    moved = lg.apply_bounds(lg.langevin_move(state.position, drift, steps, noise), bounds, boundary)
    # The same candidate with or without the guard (the poison is the identity on a
    # finite state), each part stored once in both forms, so both give the same bits.
    moved = lg.materialize(
        lg.poison(moved, [state.position, state.score], state.logdensity), barrier=True
    )
    value, score = lg.materialize(value_and_score(moved), barrier=True)
    if not guard:
        info = ULAInfo(jnp.asarray(False), lg.mean_step(steps), value)
        return ULAState(moved, value, score, state.count + 1), info

    ok = lg.tree_all_finite((moved, score))
    if value is not None:
        # -inf is allowed only if the user meant "outside the support"; a move there diverged.
        ok = ok & jnp.isfinite(value)
    position, value, score = lg.tree_where(
        ok, (moved, value, score), (state.position, state.logdensity, state.score)
    )
    new_state = ULAState(position, value, score, state.count + 1)
    info = ULAInfo(~ok, lg.mean_step(steps), value)
    return new_state, info


def sampler(
    logdensity_fn: LogDensityFn | None = None,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> lg.Sampler:
    """ULA bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.ula(score_fn=lambda x: -x, step_size=0.05)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    value_and_score_fn(logdensity_fn, score_fn)  # validates the pair early
    lg.check_step_size(step_size)
    lg.check_bounds(bounds, boundary)

    return lg.bind(
        init,
        step,
        ULAState,
        "ula",
        bounds,
        init_kwargs={"logdensity_fn": logdensity_fn, "score_fn": score_fn},
        step_kwargs={
            "logdensity_fn": logdensity_fn,
            "step_size": step_size,
            "score_fn": score_fn,
            "bounds": bounds,
            "boundary": boundary,
            "score_clip": score_clip,
        },
        unguarded=True,
    )


__all__ = ["ULAInfo", "ULAState", "init", "sampler", "step"]
