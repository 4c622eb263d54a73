"""Unadjusted Langevin algorithm (ULA).

One step moves a position ``x`` (any pytree of float arrays) with::

    x' = x + h * s(x) + sqrt(2 h T) * xi,   xi ~ N(0, I),   s = grad log p

No Metropolis correction: the chain is cheap (one gradient per step, no
log density needed, so a learned score is enough) but its stationary law is
biased by O(h). On N(0, sigma^2) (``T = 1``) the stationary variance is exactly
``sigma^2 / (1 - h / (2 sigma^2))``; with a temperature ``T`` it is ``T`` times that.

Texts that write ``x + (eps/2) grad log p + sqrt(eps) xi`` use ``h = eps / 2``.

Energy-based models
-------------------
``order="noise_first"`` is the loop used to sample EBMs ``p ∝ exp(-E)`` in
contrastive-divergence training (Du and Mordatch 2019; Foster 2023, ch. 7).
Each step first shakes, then descends, evaluating the score once, at the
shaken point::

    y  = bound(x + sigma * xi)                     # noise, then bounds
    x' = bound(y + h * clip(s(y)))                 # score at y, clipped, then bounds

with ``sigma = noise_scale`` when given (the EBM texts' independent noise
level), else ``sigma = sqrt(2 h T)``. ``bound`` is the box ``bounds`` (with
``boundary="clip"`` the texts' ``clip(x, -1, 1)``), ``clip`` is ``score_clip``.
So the texts' loop, in energy terms ::

    x = clip(x + noise * randn, -1, 1)
    x = clip(x - step_size * clip(grad E(x), -c, c), -1, 1)

is, formula for formula, ``jl.ula(jl.from_energy(E), step_size=step_size,
order="noise_first", noise_scale=noise, score_clip=c, bounds=(-1.0, 1.0),
boundary="clip")`` (``h * clip(-g)`` is ``-(h * clip(g))`` exactly in floating
point; given the same draws the two agree to rounding, as the tests check).
In this order ``state.score`` and ``state.logdensity`` (and
``info.logdensity``) are those at the shaken point ``y`` the last move
started from (at :func:`init`: at the position itself), since that is where
the step's one gradient is taken. On N(0, sigma_p^2) (no clipping active)
the chain is the AR(1) ``x' = a (x + sigma xi)`` with ``a = 1 - h / sigma_p^2``:
its stationary variance is ``a^2 sigma^2 / (1 - a^2)``, ``a^2`` times that of
the default order at the same ``sigma``.

References
----------
G. O. Roberts and R. L. Tweedie (1996). Exponential convergence of Langevin
distributions and their discrete approximations. Bernoulli 2(4).
Y. Du and I. Mordatch (2019). Implicit generation and modeling with
energy-based models. NeurIPS.
D. Foster (2023). Generative Deep Learning, 2nd ed., ch. 7 (energy-based models).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax.numpy as jnp

from jlangevin._checks import one_of
from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    check_real,
    check_score_clip,
    check_step_size,
    check_temperature,
    checked_init,
    checked_value_and_score,
    describe,
)
from jlangevin.kernels._tree import (
    broadcast_like,
    check_broadcasts,
    is_concrete,
    tree_all_finite,
    tree_where,
)
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

#: The two orders of a step: the default move, or noise first as in EBM training.
ORDERS = ("gradient_first", "noise_first")


class ULAState(NamedTuple):
    """State of one ULA chain.

    Attributes
    ----------
    position : pytree of the current position.
    logdensity : log density at ``position`` (``None`` when only a score is known);
        with ``order="noise_first"``, at the shaken point the last move started from.
    score : the score at ``position`` (what the next step needs: one gradient a step);
        with ``order="noise_first"``, at the shaken point the last move started from.
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
    logdensity : log density at the new position (``None`` with a score only); with
        ``order="noise_first"``, at the shaken point where the step took its gradient.
    """

    diverged: Array
    step_size: Array
    logdensity: Array | None


def check_order(order: Any) -> str:
    """``"gradient_first"`` or ``"noise_first"`` (see the module docstring)."""
    return one_of(order, "order", ORDERS)


def check_noise_scale(noise_scale: Any, order: str, temperature: Any = 1.0) -> None:
    """``None``, or positive finite numbers (scalar, array or pytree) with ``noise_first``.

    The noise scale replaces ``sqrt(2 h T)``, so it goes with neither the
    default order (whose noise is tied to the step) nor a temperature other than 1.
    """
    if noise_scale is None:
        return
    if callable(noise_scale):
        raise TypeError(f"`noise_scale` must be a number or array; got {describe(noise_scale)}.")
    check_real(noise_scale, "noise_scale")
    if order != "noise_first":
        raise ValueError(
            "`noise_scale` is used only with `order='noise_first'` (the default order's "
            f"noise is sqrt(2 h T)); got order {order!r}."
        )
    if is_concrete(temperature) and float(temperature) != 1.0:
        raise ValueError(
            "`noise_scale` replaces sqrt(2 h T): pass either `noise_scale` or `temperature`, "
            f"not both; got temperature {temperature}."
        )


def _noise_tree(noise_scale: Any, position: ArrayTree) -> ArrayTree:
    """``noise_scale`` as a pytree matching ``position`` (shapes checked)."""
    scales = broadcast_like(noise_scale, position, "noise_scale")
    check_broadcasts(scales, position, "noise_scale")
    return scales


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn | None = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    step_size: StepSize | None = None,
    score_clip: Any | None = None,
    noise_scale: Any | None = None,
) -> ULAState:
    """Initial state at ``position`` (one chain).

    Raises, naming the argument, for a position that is not floating-point, a
    target returning the wrong shape or dtype, a concrete start that is not
    finite or lies outside ``bounds``; ``step_size``, ``score_clip``,
    ``noise_scale`` and ``bounds``, when given, are checked against the
    position's shapes. The score and log density are those at ``position``,
    in either order.

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
    if noise_scale is not None:
        _noise_tree(noise_scale, position)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    return ULAState(position, value, score, jnp.zeros((), jnp.int32))


_Moved = tuple[ArrayTree, Array | None, ArrayTree, Array]


def _gradient_first(
    key: PRNGKey,
    state: ULAState,
    value_and_score: Any,
    steps: ArrayTree,
    temperature: Any,
    bounds: Bounds | None,
    boundary: str,
    clip: Any | None,
) -> _Moved:
    """``x' = bound(x + h clip(s(x)) + sqrt(2 h T) xi)``; the score at ``x'`` for next time."""
    noise = _move.draw(key, state.position)[0]
    drift = _move.clip_score(state.score, clip)
    moved = _move.langevin_move(state.position, drift, steps, noise, temperature)
    moved = _bounds.apply_bounds(moved, bounds, boundary)
    value, score = value_and_score(moved)
    return moved, value, score, tree_all_finite((moved, score))


def _noise_first(
    key: PRNGKey,
    state: ULAState,
    value_and_score: Any,
    steps: ArrayTree,
    scales: ArrayTree,
    bounds: Bounds | None,
    boundary: str,
    clip: Any | None,
) -> _Moved:
    """``y = bound(x + sigma xi)``, ``x' = bound(y + h clip(s(y)))``: one score, at ``y``."""
    noise = _move.draw(key, state.position)[0]
    shaken = _bounds.apply_bounds(_move.add_noise(state.position, scales, noise), bounds, boundary)
    value, score = value_and_score(shaken)
    moved = _move.drift_move(shaken, _move.clip_score(score, clip), steps)
    moved = _bounds.apply_bounds(moved, bounds, boundary)
    return moved, value, score, tree_all_finite((shaken, moved, score))


def step(
    key: PRNGKey,
    state: ULAState,
    logdensity_fn: LogDensityFn | None,
    step_size: StepSize,
    *,
    score_fn: ScoreFn | None = None,
    temperature: Any = 1.0,
    order: str = "gradient_first",
    noise_scale: Any | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> tuple[ULAState, ULAInfo]:
    """One ULA step.

    Parameters
    ----------
    key : a fresh key for this chain and step (the noise is drawn from it in one call, see
        :func:`jlangevin.kernels._move.draw`; one leaf: ``jax.random.normal`` of it).
    state : current state.
    logdensity_fn : ``position -> log p`` (up to a constant), or ``None`` with ``score_fn``.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    score_fn : ``position -> grad log p``, for when only the score is known.
    temperature : ``T`` scaling the noise variance ``2 h T`` (a positive scalar).
    order : ``"gradient_first"`` (default: ``x + h s(x) + sqrt(2 h T) xi``) or
        ``"noise_first"`` (noise, bounds, score at the shaken point, move, bounds:
        the EBM sampling loop; see the module docstring).
    noise_scale : with ``"noise_first"`` only, the noise standard deviation
        ``sigma`` (scalar, per-coordinate array or pytree) in place of
        ``sqrt(2 h T)``, independent of the step, as in EBM training.
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
    >>> state, info = ula.step(jax.random.key(1), state, logp, 0.1, order="noise_first",
    ...                        noise_scale=0.01, bounds=(-1.0, 1.0), boundary="clip")
    """
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    check_temperature(temperature)
    order = check_order(order)
    check_noise_scale(noise_scale, order, temperature)
    _bounds.check_bounds(bounds, boundary)
    check_score_clip(score_clip)
    x = state.position
    steps = _move.step_tree(step_size, state.count, x)
    if order == "noise_first":
        scales = (
            _move.noise_sd(steps, x, temperature)
            if noise_scale is None
            else _noise_tree(noise_scale, x)
        )
        moved, value, score, ok = _noise_first(
            key, state, value_and_score, steps, scales, bounds, boundary, score_clip
        )
    else:
        moved, value, score, ok = _gradient_first(
            key, state, value_and_score, steps, temperature, bounds, boundary, score_clip
        )
    # A bad step (a schedule turned non-positive) would freeze the chain or make NaNs.
    ok = ok & _move.steps_ok(steps)
    if value is not None:
        # -inf is allowed only if the user meant "outside the support"; a move there diverged.
        ok = ok & jnp.isfinite(value)
    position, value, score = tree_where(
        ok, (moved, value, score), (x, state.logdensity, state.score)
    )
    new_state = ULAState(position, value, score, state.count + 1)
    return new_state, ULAInfo(~ok, _move.mean_step(steps, x), value)


def sampler(
    logdensity_fn: LogDensityFn | None = None,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    temperature: Any = 1.0,
    order: str = "gradient_first",
    noise_scale: Any | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> Sampler:
    """ULA bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`. They are checked here, while concrete:
    ``step_size`` real, positive and finite (a schedule at the counts 0 to 100
    too), ``temperature`` a positive finite scalar, ``order`` one of
    :data:`ORDERS`, ``noise_scale`` positive and finite (``noise_first`` only,
    and not with a temperature), ``score_clip`` positive and finite, ``bounds``
    real with ``low < high``; their shapes against the position at ``init``.
    A step whose move, score or log density is not finite, or whose step a
    schedule made non-positive, is refused and counted in ``info.diverged``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.ula(score_fn=lambda x: -x, step_size=0.05)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)

    The EBM loop (noise, clip, clipped gradient step, clip) on images in [-1, 1]:

    >>> energy = lambda x: 0.5 * jnp.sum(x**2)
    >>> ebm = jl.ula(jl.from_energy(energy), step_size=10.0, order="noise_first",
    ...              noise_scale=0.005, score_clip=0.03, bounds=(-1.0, 1.0), boundary="clip")
    >>> trace = jl.run(jax.random.key(0), ebm, jnp.zeros((4, 8, 8)), 60)
    """
    checked_value_and_score(logdensity_fn, score_fn)  # validates the pair early
    check_step_size(step_size)
    check_temperature(temperature)
    order = check_order(order)
    check_noise_scale(noise_scale, order, temperature)
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
            noise_scale=noise_scale,
        ),
        step=functools.partial(
            step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            score_fn=score_fn,
            temperature=temperature,
            order=order,
            noise_scale=noise_scale,
            bounds=bounds,
            boundary=boundary,
            score_clip=score_clip,
        ),
    )


__all__ = [
    "ORDERS",
    "ULAInfo",
    "ULAState",
    "check_noise_scale",
    "check_order",
    "init",
    "sampler",
    "step",
]
