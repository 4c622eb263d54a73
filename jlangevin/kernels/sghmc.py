"""Stochastic-gradient Hamiltonian Monte Carlo (SGHMC), optionally with a Nosé–Hoover thermostat.

Position ``x`` and momentum ``r`` (unit mass) move with a gradient estimate
``ĝ`` (unbiased for ``grad log p``), friction ``γ`` and step ``h``
(Chen, Fox & Guestrin 2014, their Algorithm 2 with ``M = I``, ``C = γ``)::

    r' = r + h ĝ(x) - h γ r + sqrt(2 (γ - B̂) h T) xi,   xi ~ N(0, I)
    x' = x + h r'

``B̂`` (``noise_estimate``) is the user's estimate of the gradient noise the
move already injects: the minibatch noise adds about ``h² V`` to the momentum
variance per step (``V`` the variance of ``ĝ``), so ``B̂ = h V / 2`` removes it
from the injected noise; ``B̂ = 0`` (the default) is what most practice uses,
exact as ``h → 0``. Texts in the "SGD with momentum" form ``v' = (1 - α) v - η
∇U + N(0, 2 (α - β̂) η)``, ``x' = x + v'`` use ``v = h r``, ``η = h²``,
``α = h γ``, ``β̂ = h B̂``. ``T`` is a temperature, as in SGLD.

With ``thermostat=True`` the friction is a scalar ``ξ`` the chain carries,
started at ``γ`` and driven towards the kinetic temperature ``T`` (the
stochastic-gradient Nosé–Hoover thermostat, SGNHT, of Ding et al. 2014; ``γ``
plays their injected noise ``A``)::

    r' = r + h ĝ(x) - h ξ r + sqrt(2 γ h T) xi,   x' = x + h r',
    ξ' = ξ + h (|r'|² / d - T)

so an unknown gradient noise is absorbed by ``ξ`` instead of heating the
chain. ``d`` is the total size of the position; the step must be a scalar.

The state carries the gradient estimate at its position, as
:mod:`jlangevin.kernels.sgld` does: each step moves with it and draws the next
one at the point it moves to. A candidate whose position, momentum,
thermostat or estimate is not finite is not taken: the step counts as
diverged and the chain keeps its state. Estimators are those of
:mod:`jlangevin.gradients`; a :class:`~jlangevin.gradients.StatefulGradientEstimator`
(:func:`jlangevin.gradients.svrg`) keeps its state in ``estimator_state``.

The momentum starts at zero (``init`` has no key); burn-in brings it to its
stationary law within a few ``1 / γ`` time units.

References
----------
T. Chen, E. B. Fox and C. Guestrin (2014). Stochastic gradient Hamiltonian Monte
Carlo. ICML.
N. Ding, Y. Fang, R. Babbush, C. Chen, R. D. Skeel and H. Neven (2014). Bayesian
sampling using stochastic gradient thermostats. NeurIPS.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.gradients import (
    check_position,
)
from jlangevin.kernels import _move
from jlangevin.kernels._checks import (
    as_flag,
    as_real,
    check_finite_start,
    check_step_size,
    check_temperature,
    describe,
    float_dtype,
)
from jlangevin.kernels._tree import normal_like, tree_all_finite, tree_squared_norm, tree_where
from jlangevin.kernels.sgld import (
    Estimator,
    as_estimator,
    check_estimator,
    estimate,
    initial_estimate,
)
from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, Sampler, ScoreFn, StepSize


class SGHMCState(NamedTuple):
    """State of one SGHMC chain.

    Attributes
    ----------
    position : current position.
    momentum : current momentum, shaped like the position.
    logdensity : the estimator's estimate of ``log p`` at ``position`` (``None``
        when it gives scores only).
    score : the gradient estimate at ``position`` that the next step moves with.
    count : number of steps taken (drives a schedule and the driver's keys).
    thermostat : SGNHT's friction ``ξ`` (``None`` without the thermostat).
    estimator_state : a stateful estimator's state (``None`` for a plain one).
    """

    position: ArrayTree
    momentum: ArrayTree
    logdensity: Array | None
    score: ArrayTree
    count: Array
    thermostat: Array | None = None
    estimator_state: Any = None


class SGHMCInfo(NamedTuple):
    """What one SGHMC step reports.

    Attributes
    ----------
    diverged : the candidate (position, momentum, thermostat, or the estimate at
        the new position) was not finite, or the step was not positive and
        finite; the chain kept its state.
    step_size : the step used (its mean over coordinates when per-coordinate).
    logdensity : the estimate of ``log p`` after the step (``None`` for scores only).
    """

    diverged: Array
    step_size: Array
    logdensity: Array | None


def noise_scale(step: Any, friction: Any, noise_estimate: Any, temperature: Any) -> Any:
    """``sqrt(2 (γ - B̂) h T)``: the standard deviation of the noise the momentum receives.

    Examples
    --------
    >>> from jlangevin.kernels.sghmc import noise_scale
    >>> round(float(noise_scale(0.5, 1.0, 0.0, 1.0)), 6)
    1.0
    """
    return jnp.sqrt(2 * (friction - noise_estimate) * step * temperature)


def thermostat_update(
    thermostat: Array, momentum: ArrayTree, step: Array, temperature: Any
) -> Array:
    """``ξ + h (|r|² / d - T)``: SGNHT's friction, raised while the chain runs hot.

    ``d`` is the total size of the momentum. Summed over a run the increments
    telescope, so the kinetic temperature ``|r|² / d`` averages to ``T`` exactly
    for any ``h`` once ``ξ`` is stationary (what the tests check).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.sghmc import thermostat_update
    >>> round(float(thermostat_update(jnp.asarray(1.0), jnp.full(4, 2.0), 0.1, 1.0)), 6)
    1.3
    """
    size = sum(np.size(leaf) for leaf in jax.tree.leaves(momentum))
    kinetic = tree_squared_norm(momentum) / size
    dtype = jnp.result_type(thermostat)
    return thermostat + jnp.asarray(step, dtype) * (kinetic - jnp.asarray(temperature, dtype))


def check_friction(friction: Any, noise_estimate: Any = 0.0) -> tuple[float, float]:
    """``γ`` a positive finite number and ``0 <= B̂ < γ``; returned as Python floats."""
    gamma = as_real(friction, "friction")
    if gamma <= 0:
        raise ValueError(f"`friction` must be positive and finite; got {gamma}.")
    b_hat = as_real(noise_estimate, "noise_estimate")
    if not 0.0 <= b_hat < gamma:
        raise ValueError(
            f"`noise_estimate` must lie in [0, friction) = [0, {gamma}): the injected noise "
            f"has variance 2 (friction - noise_estimate) h T; got {b_hat}."
        )
    return gamma, b_hat


def _check_thermostat_step(step_size: StepSize) -> None:
    """With the thermostat the step must be one number (it scales the scalar ``ξ`` too)."""
    value = _move.step_size_at(step_size, jnp.zeros((), jnp.int32))
    if np.ndim(value) != 0 or len(jax.tree.leaves(value)) != 1:
        raise ValueError(
            "With `thermostat=True`, `step_size` must be a scalar (or a scalar schedule); "
            f"got {describe(value)}."
        )


def init(
    position: ArrayTree,
    gradient_estimator: Estimator | None = None,
    *,
    friction: Any = 1.0,
    thermostat: bool = False,
    step_size: StepSize | None = None,
) -> SGHMCState:
    """Initial state at ``position`` (one chain): zero momentum and the first estimate.

    The estimate is drawn with ``jax.random.key(INIT_KEY_SEED)`` (``init`` has
    no key), as in SGLD; a concrete start where it is not finite raises. With
    ``thermostat`` the friction ``ξ`` starts at ``friction``. ``step_size``,
    when given, is checked against the position's shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> from jlangevin.kernels import sghmc
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> state = sghmc.init(jnp.ones(2), est)
    >>> state.score, state.momentum
    (Array([-1., -1.], dtype=float32), Array([0., 0.], dtype=float32))
    """
    check_estimator(gradient_estimator)
    check_position(position)
    thermostat = as_flag(thermostat, "thermostat")
    gamma = as_real(friction, "friction")
    value, score, estimator_state = initial_estimate(gradient_estimator, position)
    check_finite_start(position, value, score)
    if step_size is not None:
        _move.step_tree(step_size, jnp.zeros((), jnp.int32), position)
        if thermostat:
            _check_thermostat_step(step_size)
    momentum = jax.tree.map(jnp.zeros_like, position)
    xi = jnp.asarray(gamma, float_dtype(position)) if thermostat else None
    count = jnp.zeros((), jnp.int32)
    return SGHMCState(position, momentum, value, score, count, xi, estimator_state)


def step(
    key: PRNGKey,
    state: SGHMCState,
    gradient_estimator: Estimator,
    step_size: StepSize,
    *,
    friction: Any = 1.0,
    noise_estimate: Any = 0.0,
    temperature: Any = 1.0,
) -> tuple[SGHMCState, SGHMCInfo]:
    """One SGHMC (or SGNHT, when ``state.thermostat`` is set) step.

    Parameters
    ----------
    key : a fresh key for this chain and step (split in two when the estimator
        draws a minibatch: the noise, then the batch of the next estimate).
    state : current state (from :func:`init`; ``thermostat=True`` there turns SGNHT on).
    gradient_estimator : a :class:`~jlangevin.gradients.GradientEstimator` or
        :class:`~jlangevin.gradients.StatefulGradientEstimator`.
    step_size : ``h``: scalar, per-coordinate array/pytree (not with the
        thermostat), or ``count -> h`` schedule.
    friction : ``γ > 0``, a scalar (SGNHT: the injected noise ``A``).
    noise_estimate : ``B̂`` in ``[0, γ)``, subtracted from the injected noise.
    temperature : ``T`` (a positive scalar).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> from jlangevin.kernels import sghmc
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> state, info = sghmc.step(jax.random.key(0), sghmc.init(jnp.zeros(2), est), est, 0.1)
    >>> bool(info.diverged)
    False
    """
    gamma, b_hat = check_friction(friction, noise_estimate)
    check_temperature(temperature)
    x, r = state.position, state.momentum
    if gradient_estimator.uses_key:  # a minibatch: its own half of the key
        key, key_batch = jax.random.split(key)
    else:
        key_batch = None
    noise = normal_like(key, x)
    steps = _move.step_tree(step_size, state.count, x)
    thermostat = state.thermostat
    drag = gamma if thermostat is None else thermostat

    def kick(r, g, h, xi):
        dtype = jnp.result_type(r)
        h = jnp.asarray(h, dtype)
        scale = noise_scale(h, jnp.asarray(gamma, dtype), b_hat, jnp.asarray(temperature, dtype))
        return r + h * g - h * jnp.asarray(drag, dtype) * r + scale * xi

    momentum = jax.tree.map(kick, r, state.score, steps, noise)
    moved = jax.tree.map(
        lambda x, h, p: x + jnp.asarray(h, jnp.result_type(x)) * p, x, steps, momentum
    )
    mean_step = _move.mean_step(steps, x)
    if thermostat is not None:
        thermostat = thermostat_update(thermostat, momentum, mean_step, temperature)
    value, score, estimator_state = estimate(
        gradient_estimator, key_batch, moved, state.estimator_state
    )
    ok = _move.steps_ok(steps) & tree_all_finite((moved, momentum, score, thermostat))
    if value is not None:
        ok = ok & jnp.isfinite(value)
    candidate = SGHMCState(
        moved, momentum, value, score, state.count + 1, thermostat, estimator_state
    )
    current = state._replace(count=state.count + 1)
    new_state = tree_where(ok, candidate, current)
    return new_state, SGHMCInfo(~ok, mean_step, new_state.logdensity)


def sampler(
    gradient_estimator: Estimator | LogDensityFn | None = None,
    step_size: StepSize = None,
    *,
    friction: Any = 1.0,
    noise_estimate: Any = 0.0,
    thermostat: bool = False,
    temperature: Any = 1.0,
    logdensity_fn: LogDensityFn | None = None,
    score_fn: ScoreFn | None = None,
) -> Sampler:
    """SGHMC bound to a gradient estimator: ``sampler.init(x)``, ``sampler.step(key, state)``.

    ``gradient_estimator`` is a :class:`~jlangevin.gradients.GradientEstimator`,
    a :class:`~jlangevin.gradients.StatefulGradientEstimator` (``svrg``), or a
    plain log density (the full gradient); ``score_fn=`` alone works too.
    ``thermostat=True`` gives SGNHT. The settings are checked here (``friction``
    positive, ``0 <= noise_estimate < friction``, ``temperature`` positive, the
    step as in SGLD; a scalar step with the thermostat) and against the
    position at ``init``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.kernels import sghmc
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.minibatch(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, batch_size=10)
    >>> sampler = sghmc.sampler(est, step_size=0.05, friction=2.0, thermostat=True)
    >>> state, info = sampler.step(jax.random.key(0), sampler.init(jnp.asarray(0.0)))
    """
    estimator = as_estimator(gradient_estimator, logdensity_fn, score_fn)
    check_step_size(step_size)
    gamma, b_hat = check_friction(friction, noise_estimate)
    thermostat = as_flag(thermostat, "thermostat")
    if thermostat:
        _check_thermostat_step(step_size)
    check_temperature(temperature)
    return Sampler(
        init=functools.partial(
            init,
            gradient_estimator=estimator,
            friction=gamma,
            thermostat=thermostat,
            step_size=step_size,
        ),
        step=functools.partial(
            step,
            gradient_estimator=estimator,
            step_size=step_size,
            friction=gamma,
            noise_estimate=b_hat,
            temperature=temperature,
        ),
    )


__all__ = [
    "SGHMCInfo",
    "SGHMCState",
    "check_friction",
    "init",
    "noise_scale",
    "sampler",
    "step",
    "thermostat_update",
]
