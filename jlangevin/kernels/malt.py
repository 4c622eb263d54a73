"""Metropolis-adjusted Langevin trajectories (MALT).

Each step of MALT (Riou-Durand & Vogrinc 2022) draws a fresh momentum, runs a
Langevin trajectory of ``L`` steps and accepts or rejects the whole trajectory
once. Step ``i`` of the trajectory is (momentum whitened, ``u = Lᵀ p``; see
:mod:`jlangevin.kernels._kinetic`)::

    O:    u <- eta u + sqrt(1 - eta²) xi,     eta = exp(-gamma h)   (eta = 0 at i = 1)
    BAB:  (x, u) <- leapfrog(x, u, h)                               (one gradient)

and the trajectory's energy error is the sum of the leapfrog steps' errors
only (the O steps are exact for the momentum's law and contribute nothing)::

    Delta = sum_i [H(after leapfrog i) - H(before leapfrog i)]
          = U(x_L) - U(x_0) + sum_i [K(after i) - K(before i)],   U = -log p, K = |u|²/2

The end point is accepted with probability ``min(1, exp(-Delta))``; on
rejection the chain stays at its start (the momentum is discarded either way,
being refreshed at the next step). With ``gamma = 0`` every O after the
first is the identity and MALT is HMC with ``L`` leapfrog steps; a larger
friction makes the trajectory a discretised Langevin diffusion, robust to
the choice of ``L`` (no U-turns, no periodicities to tune around).

The leapfrog map is volume-preserving and reversible for any metric (unit,
``inverse_mass`` diagonal, or ``cholesky`` dense, as in
:mod:`jlangevin.kernels.underdamped`), and so is its hard-wall version with
``bounds``: a drift crossing a wall is folded back and the momentum of that
coordinate negated. The chain is therefore exact under every option. A
trajectory whose energy error is not finite is rejected and reported in
``info.diverged`` (an end point with ``log p = -inf``, outside the support, is an
ordinary rejection). Cost per step: ``L`` gradients; the state carries the log
density and score of the current point.

The accept step is :func:`jlangevin.kernels._metropolis.metropolis_hastings`;
the step draws its first momentum and the trajectory's noises from one half of
``jax.random.split(key)`` (split ``L`` ways) and its uniform from the other.

:func:`dynamic_step` is the same kernel with a *traced* ``L`` (a
``lax.fori_loop`` with a traced bound; the noise of leapfrog step ``i`` from
``jax.random.fold_in`` of the path key with ``i``), for warm-ups that change
``L`` at every step (ChEES' jittered trajectories): under ``vmap`` an ``L``
shared by all chains stays one loop. It also returns the end of the
trajectory (its position and momentum), which those warm-ups need. Its random
stream differs from :func:`step`'s; :func:`step` is unchanged by it.

References
----------
L. Riou-Durand and J. Vogrinc (2022). Metropolis adjusted Langevin trajectories:
a robust alternative to Hamiltonian Monte Carlo. arXiv:2202.13230.
A. M. Horowitz (1991). A generalized guided Monte Carlo algorithm. Physics Letters B 268(2).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin._checks import as_int
from jlangevin.kernels import _bounds, _kinetic, _move
from jlangevin.kernels._checks import (
    check_callable,
    checked_value_and_score,
    require_energy,
)
from jlangevin.kernels._metropolis import log_uniform, metropolis_hastings
from jlangevin.kernels._tree import tree_all_finite
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


class MALTState(NamedTuple):
    """State of one MALT chain: position, its log density and score, step count."""

    position: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class MALTInfo(NamedTuple):
    """What one MALT step reports.

    Attributes
    ----------
    acceptance_rate : ``min(1, exp(-energy_error))`` (0 where it is not finite).
    is_accepted : whether the trajectory's end point was taken.
    diverged : the trajectory could not be judged: its energy error, end point or
        end score was not finite (``log p = -inf`` at the end point excepted: an
        ordinary rejection), or the step was not positive and finite. Rejected.
    energy_error : ``Delta``, the sum of the leapfrog steps' energy errors.
    """

    acceptance_rate: Array
    is_accepted: Array
    diverged: Array
    energy_error: Array


class Trajectory(NamedTuple):
    """The end of a Langevin trajectory and the kinetic energies around each leapfrog.

    Attributes
    ----------
    position, momentum, logdensity, score : the end point.
    kinetic_before, kinetic_after : ``(L,)`` kinetic energies just before and just
        after each leapfrog step (around the O steps, which change it for free).
    """

    position: ArrayTree
    momentum: ArrayTree
    logdensity: Array
    score: ArrayTree
    kinetic_before: Array
    kinetic_after: Array


class DynamicTrajectory(NamedTuple):
    """The end of a trajectory of traced length and its summed kinetic energy change.

    Attributes
    ----------
    position, momentum, logdensity, score : the end point (``momentum`` whitened,
        ``u = Lᵀ p``: the velocity of the whitened position ``L⁻¹ x``).
    kinetic_change : ``sum_i (K_after_i - K_before_i)`` over the leapfrog steps.
    """

    position: ArrayTree
    momentum: ArrayTree
    logdensity: Array
    score: ArrayTree
    kinetic_change: Array


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn,
    *,
    score_fn: ScoreFn | None = None,
    step_size: StepSize | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> MALTState:
    """Initial state at ``position`` (one chain); settings checked against its shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import malt
    >>> state = malt.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity)
    -1.0
    """
    require_energy(logdensity_fn, "MALT")
    value, score = _kinetic.checked_start(
        position, logdensity_fn, score_fn, step_size, inverse_mass, cholesky, low_rank, bounds
    )
    return MALTState(position, value, score, jnp.zeros((), jnp.int32))


def leapfrog(
    position: ArrayTree,
    momentum: ArrayTree,
    score: ArrayTree,
    h: Array,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> tuple[ArrayTree, ArrayTree, Array, ArrayTree]:
    """B(h/2) A(h) B(h/2): one velocity-Verlet step, one gradient (at the new point)."""
    u = _kinetic.kick(momentum, metric, score, h / 2)
    x, u = _kinetic.drift(position, u, metric, h, bounds)
    value, score = value_and_score(x)
    u = _kinetic.kick(u, metric, score, h / 2)
    return x, u, value, score


def trajectory(
    key: PRNGKey,
    state: MALTState,
    h: Array,
    eta: Array,
    num_integration_steps: int,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> Trajectory:
    """``L`` steps of O then leapfrog from ``state``, the first O a full refresh.

    Starting from a zero momentum with ``eta = 0`` at the first O draws the
    fresh momentum there, so each step draws one normal per coordinate.
    """
    etas = jnp.full((num_integration_steps,), eta).at[0].set(0.0)
    keys = jax.random.split(key, num_integration_steps)
    zero = jax.tree.map(jnp.zeros_like, state.position)

    def one(carry, inputs):
        x, u, value, score = carry
        key_i, eta_i = inputs
        u = _kinetic.refresh(key_i, u, eta_i)
        before = _kinetic.kinetic_energy(u)
        x, u, value, score = leapfrog(x, u, score, h, metric, bounds, value_and_score)
        return (x, u, value, score), (before, _kinetic.kinetic_energy(u))

    start = (state.position, zero, state.logdensity, state.score)
    (x, u, value, score), (before, after) = jax.lax.scan(one, start, (keys, etas))
    return Trajectory(x, u, value, score, before, after)


def energy_error(
    logdensity_start: Array,
    logdensity_end: Array,
    kinetic_before: Array,
    kinetic_after: Array,
) -> Array:
    """``Delta = U(x_L) - U(x_0) + sum_i (K_after_i - K_before_i)``, ``U = -log p``.

    The potential terms of the leapfrog steps' errors telescope; the kinetic
    ones do not (each O step changes the momentum between them).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.malt import energy_error
    >>> float(energy_error(-1.0, -1.5, jnp.array([1.0, 2.0]), jnp.array([1.25, 1.5])))
    0.25
    """
    return (logdensity_start - logdensity_end) + jnp.sum(kinetic_after - kinetic_before)


def step(
    key: PRNGKey,
    state: MALTState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    num_integration_steps: int,
    gamma: Any,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MALTState, MALTInfo]:
    """One MALT step: fresh momentum, ``L`` O-leapfrog steps, one accept.

    Parameters
    ----------
    key : a fresh key for this chain and step.
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``h``: a positive scalar or a schedule ``count -> h``.
    num_integration_steps : ``L``, the leapfrog steps per trajectory (a static int).
    gamma : friction, ``>= 0`` (``eta = exp(-gamma h)``; ``0`` gives HMC).
    score_fn : optional exact score, used instead of ``jax.grad(logdensity_fn)``.
    inverse_mass : diagonal of ``M⁻¹`` (array or pytree broadcasting against the position).
    cholesky : dense lower factor ``L`` of ``M⁻¹ = L Lᵀ`` over the raveled position.
    low_rank : ``(sd, basis, factors)``, a low rank plus diagonal factor
        ``L = diag(sd) (I + basis diag(factors - 1) basisᵀ)`` over the raveled position
        (``sd`` ``(d,)`` or a pytree like the position, ``basis`` ``(d, k)`` orthonormal),
        applied in ``O(d k)``.
    bounds : ``(low, high)`` box: drifts reflect at the walls (the momentum negated).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import malt
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = malt.init(jnp.zeros(2), logp)
    >>> state, info = malt.step(jax.random.key(0), state, logp, 0.3, 5, 1.0)
    >>> info.is_accepted.dtype
    dtype('bool')
    """
    require_energy(logdensity_fn, "MALT")
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_bounds(bounds)
    _kinetic.check_gamma(gamma, allow_zero=True)
    num_steps = as_int(num_integration_steps, "num_integration_steps", minimum=1)
    x = state.position
    metric = _kinetic.make_metric(x, inverse_mass, cholesky, low_rank)
    h = _kinetic.scalar_step(step_size, state.count, x)
    eta = jnp.exp(-jnp.asarray(gamma, h.dtype) * h)
    key_path, key_accept = jax.random.split(key)
    path = trajectory(key_path, state, h, eta, num_steps, metric, bounds, value_and_score)
    delta = energy_error(state.logdensity, path.logdensity, path.kinetic_before, path.kinetic_after)
    return _accept(key_accept, state, path, delta, h)


def _accept(
    key: PRNGKey, state: MALTState, path: Any, delta: Array, h: Array
) -> tuple[MALTState, MALTInfo]:
    """Accept or reject the trajectory's end ``path`` with energy error ``delta``."""
    sound = _move.steps_ok(h)
    finite = jnp.isfinite(delta) & tree_all_finite((path.position, path.score))
    diverged = ~sound | (~finite & ~(path.logdensity == -jnp.inf))
    log_alpha = jnp.where(sound & finite, -delta, -jnp.inf)

    proposal = MALTState(path.position, path.logdensity, path.score, state.count + 1)
    current = MALTState(state.position, state.logdensity, state.score, state.count + 1)
    log_u = log_uniform(key, log_alpha.dtype)
    new_state, acceptance = metropolis_hastings(log_u, log_alpha, proposal, current)
    info = MALTInfo(
        acceptance_rate=acceptance.acceptance_rate,
        is_accepted=acceptance.is_accepted,
        diverged=diverged,
        energy_error=delta,
    )
    return new_state, info


def _steps_of_any_kind(value: Any) -> Array | int:
    """``L`` as a Python int (checked ``>= 1``) or a traced integer scalar (floored at 1)."""
    if not isinstance(value, jax.core.Tracer):
        return as_int(value, "num_integration_steps", minimum=1)
    if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.integer):
        raise TypeError(
            "`num_integration_steps` must be an integer scalar (traced or not); "
            f"got a traced {value.dtype} of shape {value.shape}."
        )
    return jnp.maximum(value, 1)


def dynamic_trajectory(
    key: PRNGKey,
    state: MALTState,
    h: Array,
    eta: Array,
    num_integration_steps: Array,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> DynamicTrajectory:
    """:func:`trajectory` with a traced ``L`` (a ``fori_loop``; noise ``i`` from ``fold_in``).

    Under ``vmap`` keep ``num_integration_steps`` unbatched (one value for all
    chains): the loop then runs ``L`` times for all of them.
    """
    zero = jax.tree.map(jnp.zeros_like, state.position)

    def one(i, carry):
        x, u, value, score, change = carry
        u = _kinetic.refresh(jax.random.fold_in(key, i), u, jnp.where(i == 0, 0.0, eta))
        before = _kinetic.kinetic_energy(u)
        x, u, value, score = leapfrog(x, u, score, h, metric, bounds, value_and_score)
        return x, u, value, score, change + (_kinetic.kinetic_energy(u) - before)

    start = (state.position, zero, state.logdensity, state.score, jnp.zeros_like(h))
    x, u, value, score, change = jax.lax.fori_loop(0, num_integration_steps, one, start)
    return DynamicTrajectory(x, u, value, score, change)


def dynamic_step(
    key: PRNGKey,
    state: MALTState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    num_integration_steps: Array,
    gamma: Any,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MALTState, MALTInfo, DynamicTrajectory]:
    """One MALT step with a traced number of leapfrog steps; also the trajectory's end.

    Parameters are those of :func:`step`, except that ``num_integration_steps``
    may be a traced integer scalar (``>= 1``; a smaller value runs one step) and
    ``gamma`` a traced scalar. The chain is exact for every ``L``, as
    :func:`step` is; the noises come from ``fold_in`` rather than ``split``, so
    the draws differ from :func:`step`'s for the same key.

    Returns
    -------
    state, info : as :func:`step`.
    path : :class:`DynamicTrajectory`, the proposal (accepted or not) and its
        end momentum.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import malt
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = malt.init(jnp.zeros(2), logp)
    >>> run = jax.jit(lambda k, s, n: malt.dynamic_step(k, s, logp, 0.3, n, 1.0))
    >>> state, info, path = run(jax.random.key(0), state, jnp.int32(4))
    >>> path.momentum.shape
    (2,)
    """
    require_energy(logdensity_fn, "MALT")
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_bounds(bounds)
    _kinetic.check_gamma(gamma, allow_zero=True)
    num_steps = _steps_of_any_kind(num_integration_steps)
    x = state.position
    metric = _kinetic.make_metric(x, inverse_mass, cholesky, low_rank)
    h = _kinetic.scalar_step(step_size, state.count, x)
    eta = jnp.exp(-jnp.asarray(gamma, h.dtype) * h)
    key_path, key_accept = jax.random.split(key)
    path = dynamic_trajectory(key_path, state, h, eta, num_steps, metric, bounds, value_and_score)
    delta = energy_error(state.logdensity, path.logdensity, 0.0, path.kinetic_change)
    new_state, info = _accept(key_accept, state, path, delta, h)
    return new_state, info, path


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    num_integration_steps: int | None = None,
    gamma: Any = None,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> Sampler:
    """MALT bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`; ``step_size``, ``num_integration_steps``
    and ``gamma`` are required, and checked here (and against the position's
    shapes at ``init``). The paper's advice: a trajectory time ``L h`` of the
    order of the target's largest scale and ``gamma`` of the order of its
    inverse; ``h`` as in HMC.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import malt
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> sampler = malt.sampler(logp, step_size=0.3, num_integration_steps=5, gamma=1.0)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    """
    require_energy(logdensity_fn, "MALT")
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
    _kinetic.check_scalar_step_size(step_size)
    if num_integration_steps is None:
        raise ValueError("`num_integration_steps` is required: an integer >= 1.")
    num_integration_steps = as_int(num_integration_steps, "num_integration_steps", minimum=1)
    _kinetic.check_gamma(gamma, allow_zero=True)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_bounds(bounds)
    settings = {
        "score_fn": score_fn,
        "inverse_mass": inverse_mass,
        "cholesky": cholesky,
        "low_rank": low_rank,
        "bounds": bounds,
    }
    return Sampler(
        init=functools.partial(init, logdensity_fn=logdensity_fn, step_size=step_size, **settings),
        step=functools.partial(
            step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            num_integration_steps=num_integration_steps,
            gamma=gamma,
            **settings,
        ),
    )


# --------------------------------------------------------------------------- #
# Tuning declaration: what jlangevin.adaptation.warmup may adapt
# --------------------------------------------------------------------------- #
def _tuned_init(position, logdensity_fn, *, score_fn=None, bounds=None) -> MALTState:
    return init(position, logdensity_fn, score_fn=score_fn, bounds=bounds)


def _tuned_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """MALT over ``num_integration_steps`` (traced) with friction ``γ = 1 / T``."""
    return dynamic_step(
        key,
        state,
        logdensity_fn,
        params.step_size,
        params.num_integration_steps,
        1.0 / params.trajectory_length,
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, state.position),
    )


def _friction(trajectory_length: Array) -> Array:
    """``γ = 1 / T`` as an array (a Python float would be compiled into the sampler's
    loop: one program per tuned value), rounded once from the float64 quotient."""
    return jnp.asarray(1.0 / float(trajectory_length), jnp.result_type(trajectory_length))


def _sampling_step(key, state, logdensity_fn, step_size, num_integration_steps, gamma, **settings):
    """:func:`dynamic_step` less its trajectory: a tuned sampler's step (``L`` traced)."""
    return dynamic_step(
        key, state, logdensity_fn, step_size, num_integration_steps, gamma, **settings
    )[:2]


def _tuned_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None) -> Sampler:
    num_steps = int(params.num_integration_steps)
    tuned = sampler(
        logdensity_fn,
        params.step_size,
        num_steps,
        _friction(params.trajectory_length),
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, position),
    )
    return _kinetic.tuned_steps(tuned, num_steps, _sampling_step)


#: MALT's tuning declaration: step size, metric and trajectory (``L`` steps, the
#: friction tied to the trajectory time, ``γ = 1 / T``). Target 0.65: trajectories
#: have HMC's ``d^(-1/4)`` scaling, whose optimal acceptance is 0.651 (Beskos et al.
#: 2013). Walls reflect coordinate by coordinate, so a box needs a diagonal metric.
tuning = Tuning(
    "malt",
    _tuned_init,
    _tuned_step,
    _tuned_sampler,
    0.65,
    tunes=("step_size", "metric", "trajectory"),
    metrics=("diagonal", "dense", "low_rank"),
    metrics_with_bounds=("diagonal",),
)
sampler.tuning = tuning

__all__ = [
    "tuning",
    "DynamicTrajectory",
    "MALTInfo",
    "MALTState",
    "Trajectory",
    "dynamic_step",
    "dynamic_trajectory",
    "energy_error",
    "init",
    "leapfrog",
    "sampler",
    "step",
    "trajectory",
]
