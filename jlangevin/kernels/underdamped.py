"""Kinetic (underdamped) Langevin dynamics, discretised by a splitting.

The chain carries a position ``x`` and a momentum and follows::

    dx = M⁻¹ p dt,    dp = s(x) dt - gamma p dt + sqrt(2 gamma) M^{1/2} dW,    s = grad log p

whose stationary law is ``p(x) N(p; 0, M)``. The inverse mass ``M⁻¹ = L Lᵀ`` is
the preconditioner: unit mass by default, ``inverse_mass`` (its diagonal, an
array or pytree like the position) or ``cholesky=L`` (a dense factor over the
raveled position, as in :mod:`jlangevin.kernels.mala`). Both should resemble
the target's covariance. The momentum is stored whitened, ``u = Lᵀ p ~ N(0, I)``
(for unit mass it is the momentum itself); see :mod:`jlangevin.kernels._kinetic`.

The splitting is **BAOAB** by default (Leimkuhler & Matthews 2013): a half kick
(B), a half drift (A), the exact friction-and-noise step over the whole step
(O, ``eta = exp(-gamma h)``), a half drift and a half kick. Of the one-gradient
splittings it has the best configurational accuracy: the position's stationary
law is correct to second order and, for a Gaussian target, *exactly* (for any
``h`` with ``h / sigma_min < 2``, any friction and any metric); on
``N(0, sigma²)`` with unit mass the stationary law is exactly::

    Var x = sigma²,    Var u = 1 - h² / (4 sigma²)       (BAOAB)

``splitting="obabo"`` (half O, B, A over the whole step, B, half O: the
integrator that MALT and generalised HMC are built on) has its bias in the
position instead::

    Var x = sigma² / (1 - h² / (4 sigma²)),    Var u = 1      (OBABO)

Both take one gradient per step: the state carries the score of the current point.
The chain is not corrected (see :mod:`jlangevin.kernels.malt` for the exact
version); like ULA, a step whose candidate is not finite is refused: the chain
keeps its last finite state and ``info.diverged`` is set. A score alone is
enough (``score_fn`` without ``logdensity_fn``).

``bounds=(low, high)`` confines the position to a box by the hard-wall flow:
each drift that crosses a wall is folded back (mirror reflection) and the
momentum of that coordinate is negated, an elastic bounce. That is the exact
dynamics of a particle confined to the box, volume-preserving and reversible.
(Clipping, as ULA offers, would stop a particle at the wall with its momentum
still pointing out, and pile mass there.) Walls need a diagonal metric.

References
----------
B. Leimkuhler and C. Matthews (2013). Rational construction of stochastic
numerical methods for molecular sampling. Applied Mathematics Research eXpress 2013(1).
B. Leimkuhler and C. Matthews (2015). Molecular Dynamics. Springer (ch. 7).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin.kernels import _bounds, _kinetic, _move
from jlangevin.kernels._checks import (
    check_score_clip,
    checked_init,
    checked_value_and_score,
)
from jlangevin.kernels._tree import tree_all_finite, tree_where
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

SPLITTINGS = ("baoab", "obabo")


class UnderdampedState(NamedTuple):
    """State of one kinetic Langevin chain.

    Attributes
    ----------
    position : pytree of the current position.
    momentum : the whitened momentum ``u = Lᵀ p``, a pytree like the position
        (``N(0, I)`` at stationarity; for unit mass the momentum itself).
    logdensity : log density at ``position`` (``None`` when only a score is known).
    score : the score at ``position``.
    count : number of steps taken.
    """

    position: ArrayTree
    momentum: ArrayTree
    logdensity: Array | None
    score: ArrayTree
    count: Array


class UnderdampedInfo(NamedTuple):
    """What one step reports.

    Attributes
    ----------
    diverged : the candidate position, momentum, score or log density was not
        finite, or the step (a schedule's value) not positive and finite; the
        chain then keeps its last finite state and ``jl.run`` counts it.
    step_size : the step used.
    logdensity : log density at the state after the step (``None`` with a score only).
    """

    diverged: Array
    step_size: Array
    logdensity: Array | None


def _check_splitting(splitting: Any) -> None:
    if not isinstance(splitting, str) or splitting not in SPLITTINGS:
        raise ValueError(f"`splitting` must be one of {SPLITTINGS}; got {splitting!r}.")


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn | None = None,
    *,
    score_fn: ScoreFn | None = None,
    momentum: ArrayTree | None = None,
    step_size: StepSize | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
) -> UnderdampedState:
    """Initial state at ``position`` (one chain), momentum zero unless given.

    ``momentum`` is the whitened momentum (see :class:`UnderdampedState`). The
    settings, when given, are checked against the position's shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import underdamped
    >>> state = underdamped.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> state.momentum
    Array([0., 0.], dtype=float32)
    """
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds)
    _bounds.check_inside(position, bounds)
    value, score = checked_init(position, logdensity_fn, score_fn)
    _kinetic.make_metric(position, inverse_mass, cholesky)
    if step_size is not None:
        _kinetic.scalar_step(step_size, jnp.zeros((), jnp.int32), position)
    _move.clip_score(score, score_clip)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    u = _kinetic.initial_momentum(momentum, position)
    return UnderdampedState(position, u, value, score, jnp.zeros((), jnp.int32))


def _baoab(key, x, u, force_at, h, eta, metric, bounds, value_and_score, clip):
    u = _kinetic.kick(u, metric, force_at, h / 2)
    x, u = _kinetic.drift(x, u, metric, h / 2, bounds)
    u = _kinetic.refresh(key, u, eta)
    x, u = _kinetic.drift(x, u, metric, h / 2, bounds)
    value, score = value_and_score(x)
    u = _kinetic.kick(u, metric, _move.clip_score(score, clip), h / 2)
    return x, u, value, score


def _obabo(key, x, u, force_at, h, eta, metric, bounds, value_and_score, clip):
    key_first, key_last = jax.random.split(key)
    half_eta = jnp.sqrt(eta)  # exp(-gamma h / 2)
    u = _kinetic.refresh(key_first, u, half_eta)
    u = _kinetic.kick(u, metric, force_at, h / 2)
    x, u = _kinetic.drift(x, u, metric, h, bounds)
    value, score = value_and_score(x)
    u = _kinetic.kick(u, metric, _move.clip_score(score, clip), h / 2)
    u = _kinetic.refresh(key_last, u, half_eta)
    return x, u, value, score


def step(
    key: PRNGKey,
    state: UnderdampedState,
    logdensity_fn: LogDensityFn | None,
    step_size: StepSize,
    gamma: Any,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
    splitting: str = "baoab",
) -> tuple[UnderdampedState, UnderdampedInfo]:
    """One step of the splitting.

    Parameters
    ----------
    key : a fresh key for this chain and step (BAOAB: one normal draw;
        OBABO: two, from the halves of ``jax.random.split(key)``).
    state : current state.
    logdensity_fn : ``position -> log p`` (up to a constant), or ``None`` with ``score_fn``.
    step_size : ``h``: a positive scalar or a schedule ``count -> h``.
    gamma : the friction, positive (``eta = exp(-gamma h)`` per step).
    score_fn : ``position -> grad log p``, for when only the score is known.
    inverse_mass : diagonal of ``M⁻¹`` (array or pytree broadcasting against the position).
    cholesky : dense lower factor ``L`` of ``M⁻¹ = L Lᵀ`` over the raveled position.
    bounds : ``(low, high)`` box: drifts are reflected at its walls, the momentum negated.
    score_clip : clip each score coordinate to ``[-score_clip, score_clip]``.
    splitting : ``"baoab"`` (default) or ``"obabo"``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import underdamped
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = underdamped.init(jnp.zeros(2), logp)
    >>> state, info = underdamped.step(jax.random.key(0), state, logp, 0.5, 1.0)
    >>> bool(info.diverged)
    False
    """
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds)
    _bounds.check_bounds(bounds)
    check_score_clip(score_clip)
    _check_splitting(splitting)
    _kinetic.check_gamma(gamma, allow_zero=False)
    x = state.position
    metric = _kinetic.make_metric(x, inverse_mass, cholesky)
    h = _kinetic.scalar_step(step_size, state.count, x)
    eta = jnp.exp(-jnp.asarray(gamma, h.dtype) * h)
    force_at = _move.clip_score(state.score, score_clip)
    move = _baoab if splitting == "baoab" else _obabo
    x_new, u_new, value, score = move(
        key, x, state.momentum, force_at, h, eta, metric, bounds, value_and_score, score_clip
    )
    ok = _move.steps_ok(h) & tree_all_finite((x_new, u_new, score))
    if value is not None:
        ok = ok & jnp.isfinite(value)  # -inf: the move left the support, which it must not
    kept = tree_where(
        ok,
        (x_new, u_new, value, score),
        (x, state.momentum, state.logdensity, state.score),
    )
    new_state = UnderdampedState(*kept, state.count + 1)
    return new_state, UnderdampedInfo(~ok, h, new_state.logdensity)


def sampler(
    logdensity_fn: LogDensityFn | None = None,
    step_size: StepSize = None,
    gamma: Any = None,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
    splitting: str = "baoab",
) -> Sampler:
    """Kinetic Langevin bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`; ``step_size`` and ``gamma`` are
    required. They are checked here, while concrete, and against the position's
    shapes at ``init``. A good start: ``gamma`` about ``1 / sigma`` (``sigma`` a
    typical scale of the target in the metric's units) and ``h`` well below
    ``2 sigma_min``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import underdamped
    >>> sampler = underdamped.sampler(lambda x: -0.5 * jnp.sum(x**2), step_size=0.3, gamma=1.0)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    checked_value_and_score(logdensity_fn, score_fn)  # validates the pair early
    _kinetic.check_scalar_step_size(step_size)
    _kinetic.check_gamma(gamma, allow_zero=False)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds)
    _bounds.check_bounds(bounds)
    check_score_clip(score_clip)
    _check_splitting(splitting)
    settings = {
        "score_fn": score_fn,
        "inverse_mass": inverse_mass,
        "cholesky": cholesky,
        "bounds": bounds,
        "score_clip": score_clip,
    }
    return Sampler(
        init=functools.partial(init, logdensity_fn=logdensity_fn, step_size=step_size, **settings),
        step=functools.partial(
            step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            gamma=gamma,
            splitting=splitting,
            **settings,
        ),
    )


__all__ = ["SPLITTINGS", "UnderdampedInfo", "UnderdampedState", "init", "sampler", "step"]
