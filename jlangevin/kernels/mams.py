"""Metropolis-adjusted microcanonical sampler (MAMS).

MAMS (Robnik, Cohn-Gordon & Seljak 2025) is the exact form of
:mod:`jlangevin.kernels.mclmc`: each step draws a fresh direction ``u``
uniformly on the unit sphere (over the raveled, whitened position), runs
``n`` steps of the isokinetic dynamics with the minimal-norm integrator
(:func:`jlangevin.kernels.mclmc.minimal_norm`, two gradients per step) and
accepts the end point with probability ``min(1, exp(-Δ))``, where the energy
error is::

    Δ = ΔK - (log p(x_n) - log p(x_0)),
    ΔK = sum over the kicks of (d - 1) log(cosh δ + (u·e) sinh δ)

(``ΔK`` is the kinetic energy the isokinetic kicks exchange with the potential;
see :func:`~jlangevin.kernels._kinetic.isokinetic_kick`). The integrator is
reversible (negating ``u`` retraces the path) and ``exp(-ΔK)`` is the Jacobian
of its map on position × sphere, so the chain is exact for every step size,
number of steps and metric. On rejection the chain stays where it was (the
direction is discarded either way, being redrawn at the next step). A
trajectory whose energy error, end point or end score is not finite is
rejected and reported in ``info.diverged`` (an end at ``log p = -inf``, outside
the support, is an ordinary rejection).

The paper randomises the trajectory length at every step, which removes the
periodicities a fixed length resonates with. :func:`sampler` does so by
default (``jitter=True``): each step runs ``n`` steps, ``n`` spread uniformly
over ``1 .. 2N - 1`` (mean ``N = num_integration_steps``). ``n`` is a function of
the chain's step count alone (:func:`shared_steps`, a golden-ratio Weyl
sequence): every chain of a run has the same count at a step, so all chains run
the same ``n`` and a ``vmap``-ed step costs ``n``, not the longest of the chains'
own draws (per-chain draws cost the expected maximum, up to twice the mean). The
law of ``n`` over steps is the paper's uniform; only its coupling across chains
changes. The chain stays exact: it composes exact kernels in an order that does
not depend on the state, and chunked or resumed runs are bit-identical (the
count is part of the state). ``jitter=False`` runs exactly ``N`` steps, a static
loop. The paper's Langevin noise inside the trajectory (``L_proposal_factor`` in
BlackJAX) is not implemented.

The step splits its key into the direction's key and the accept key.
:func:`step` runs a static ``n`` (``lax.scan``); :func:`dynamic_step` a traced
``n`` (``lax.fori_loop``), with
the same random stream (the trajectory itself is deterministic): for the same
key and ``n`` they agree up to rounding. ``dynamic_step`` also returns the
trajectory's end, whose ``momentum`` is the velocity of the whitened position
(a unit vector), for warm-ups that tune the trajectory (ChEES).

References
----------
J. Robnik, R. Cohn-Gordon and U. Seljak (2025). Metropolis adjusted microcanonical
Hamiltonian Monte Carlo. arXiv:2503.01707.
J. Robnik, G. B. De Luca, E. Silverstein and U. Seljak (2023). Microcanonical
Hamiltonian Monte Carlo. Journal of Machine Learning Research 24(311).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin._checks import as_flag, as_int
from jlangevin.kernels import _bounds, _kinetic, _move, mclmc
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


class MAMSState(NamedTuple):
    """State of one MAMS chain: position, its log density and score, step count."""

    position: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class MAMSInfo(NamedTuple):
    """What one MAMS step reports.

    Attributes
    ----------
    acceptance_rate : ``min(1, exp(-energy_error))`` (0 where it is not finite).
    is_accepted : whether the trajectory's end point was taken.
    diverged : the trajectory could not be judged: its energy error, end point or
        end score was not finite (``log p = -inf`` at the end excepted: an ordinary
        rejection), or the step was not positive and finite. Rejected.
    energy_error : ``Δ = ΔK - Δlog p`` over the trajectory.
    num_grads : gradient evaluations made (two per integration step).
    num_integration_steps : the integration steps this trajectory ran.
    """

    acceptance_rate: Array
    is_accepted: Array
    diverged: Array
    energy_error: Array
    num_grads: Array
    num_integration_steps: Array


class Trajectory(NamedTuple):
    """The end of an isokinetic trajectory.

    Attributes
    ----------
    position, logdensity, score : the end point.
    momentum : the unit momentum there, a pytree like the position: the velocity of
        the whitened position ``R⁻¹ x``.
    kinetic_change : ``ΔK``, summed over the trajectory's kicks.
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
) -> MAMSState:
    """Initial state at ``position`` (one chain); settings checked against its shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import mams
    >>> state = mams.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity)
    -1.0
    """
    require_energy(logdensity_fn, "MAMS")
    mclmc.check_dimension(position)
    value, score = _kinetic.checked_start(
        position, logdensity_fn, score_fn, step_size, inverse_mass, cholesky, low_rank, bounds
    )
    return MAMSState(position, value, score, jnp.zeros((), jnp.int32))


def energy_error(logdensity_start: Array, logdensity_end: Array, kinetic_change: Array) -> Array:
    """``Δ = ΔK - (log p(end) - log p(start))``: the step is accepted w.p. ``min(1, e^-Δ)``.

    Examples
    --------
    >>> from jlangevin.kernels.mams import energy_error
    >>> energy_error(-1.0, -1.5, 0.25)
    0.75
    """
    return kinetic_change - (logdensity_end - logdensity_start)


def trajectory(
    state: MAMSState,
    momentum: ArrayTree,
    h: Array,
    num_integration_steps: int,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> Trajectory:
    """``num_integration_steps`` minimal-norm steps from ``state`` with ``momentum`` (a scan)."""

    def one(carry, _):
        x, u, _value, score, change = carry
        x, u, value, score, kinetic = mclmc.minimal_norm(
            x, u, score, h, metric, bounds, value_and_score
        )
        return (x, u, value, score, change + kinetic), None

    start = (state.position, momentum, state.logdensity, state.score, jnp.zeros_like(h))
    end, _ = jax.lax.scan(one, start, None, length=num_integration_steps)
    return Trajectory(*end)


def dynamic_trajectory(
    state: MAMSState,
    momentum: ArrayTree,
    h: Array,
    num_integration_steps: Array,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> Trajectory:
    """:func:`trajectory` with a traced number of steps (a ``fori_loop``)."""

    def one(_, carry):
        x, u, _value, score, change = carry
        x, u, value, score, kinetic = mclmc.minimal_norm(
            x, u, score, h, metric, bounds, value_and_score
        )
        return x, u, value, score, change + kinetic

    start = (state.position, momentum, state.logdensity, state.score, jnp.zeros_like(h))
    return Trajectory(*jax.lax.fori_loop(0, num_integration_steps, one, start))


def _prepare(
    logdensity_fn, score_fn, inverse_mass, cholesky, bounds, state, step_size, low_rank=None
):
    require_energy(logdensity_fn, "MAMS")
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_bounds(bounds)
    x = state.position
    mclmc.check_dimension(x)
    metric = _kinetic.make_metric(x, inverse_mass, cholesky, low_rank)
    h = _kinetic.scalar_step(step_size, state.count, x)
    return value_and_score, metric, h


def _fresh_direction(key: PRNGKey, position: ArrayTree) -> ArrayTree:
    """A uniformly random unit momentum (the full refresh)."""
    zero = jax.tree.map(jnp.zeros_like, position)
    return _kinetic.isokinetic_refresh(key, zero, 0.0)


def step(
    key: PRNGKey,
    state: MAMSState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    num_integration_steps: int,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MAMSState, MAMSInfo]:
    """One MAMS step: a fresh direction, ``n`` isokinetic steps, one accept.

    Parameters
    ----------
    key : a fresh key for this chain and step.
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``ε``, the distance the whitened position moves per step: a positive
        scalar or a schedule ``count -> ε``.
    num_integration_steps : ``n``, the integration steps per trajectory (a static int;
        the trajectory's length is ``n ε``).
    score_fn : optional exact score, used instead of ``jax.grad(logdensity_fn)``.
    inverse_mass : the diagonal metric ``R Rᵀ`` (array or pytree like the position).
    cholesky : a dense metric root ``R`` (lower, ``R Rᵀ`` the metric) over the raveled position.
    low_rank : ``(sd, basis, factors)``, a low rank plus diagonal root
        ``R = diag(sd) (I + basis diag(factors - 1) basisᵀ)`` over the raveled position
        (``sd`` ``(d,)`` or a pytree like the position, ``basis`` ``(d, k)`` orthonormal).
    bounds : ``(low, high)`` box: drifts reflect at the walls (the momentum's coordinate negated).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mams
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mams.init(jnp.zeros(3), logp)
    >>> state, info = mams.step(jax.random.key(0), state, logp, 0.5, 4)
    >>> int(info.num_grads)
    8
    """
    value_and_score, metric, h = _prepare(
        logdensity_fn, score_fn, inverse_mass, cholesky, bounds, state, step_size, low_rank
    )
    num_steps = as_int(num_integration_steps, "num_integration_steps", minimum=1)
    key_direction, key_accept = jax.random.split(key)
    u = _fresh_direction(key_direction, state.position)
    path = trajectory(state, u, h, num_steps, metric, bounds, value_and_score)
    return _accept(key_accept, state, path, h, jnp.asarray(num_steps, jnp.int32))


def _accept(
    key: PRNGKey, state: MAMSState, path: Trajectory, h: Array, num_steps: Array
) -> tuple[MAMSState, MAMSInfo]:
    """Accept or reject the trajectory's end ``path``."""
    delta = energy_error(state.logdensity, path.logdensity, path.kinetic_change)
    sound = _move.steps_ok(h)
    finite = jnp.isfinite(delta) & tree_all_finite((path.position, path.score))
    diverged = ~sound | (~finite & ~(path.logdensity == -jnp.inf))
    log_alpha = jnp.where(sound & finite, -delta, -jnp.inf)
    proposal = MAMSState(path.position, path.logdensity, path.score, state.count + 1)
    current = MAMSState(state.position, state.logdensity, state.score, state.count + 1)
    new_state, acceptance = metropolis_hastings(
        log_uniform(key, log_alpha.dtype), log_alpha, proposal, current
    )
    num_steps = num_steps.astype(jnp.int32)
    info = MAMSInfo(
        acceptance_rate=acceptance.acceptance_rate,
        is_accepted=acceptance.is_accepted,
        diverged=diverged,
        energy_error=delta,
        num_grads=mclmc.GRADS_PER_STEP * num_steps,
        num_integration_steps=num_steps,
    )
    return new_state, info


def _steps_of_any_kind(value: Any) -> Array | int:
    """``n`` as a Python int (checked ``>= 1``) or a traced integer scalar (floored at 1)."""
    if not isinstance(value, jax.core.Tracer):
        return as_int(value, "num_integration_steps", minimum=1)
    if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.integer):
        raise TypeError(
            "`num_integration_steps` must be an integer scalar (traced or not); "
            f"got a traced {value.dtype} of shape {value.shape}."
        )
    return jnp.maximum(value, 1)


def dynamic_step(
    key: PRNGKey,
    state: MAMSState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    num_integration_steps: Array,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MAMSState, MAMSInfo, Trajectory]:
    """One MAMS step with a traced number of integration steps; also the trajectory's end.

    Parameters are those of :func:`step`, except that ``num_integration_steps``
    may be a traced integer scalar (``>= 1``; a smaller value runs one step).
    The random stream is :func:`step`'s: for the same key and ``n`` both give the
    same step, up to rounding.

    Returns
    -------
    state, info : as :func:`step`.
    path : :class:`Trajectory`, the proposal (accepted or not) and its end momentum.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mams
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mams.init(jnp.zeros(2), logp)
    >>> run = jax.jit(lambda k, s, n: mams.dynamic_step(k, s, logp, 0.3, n))
    >>> state, info, path = run(jax.random.key(0), state, jnp.int32(4))
    >>> path.momentum.shape, int(info.num_grads)
    ((2,), 8)
    """
    value_and_score, metric, h = _prepare(
        logdensity_fn, score_fn, inverse_mass, cholesky, bounds, state, step_size, low_rank
    )
    num_steps = _steps_of_any_kind(num_integration_steps)
    key_direction, key_accept = jax.random.split(key)
    u = _fresh_direction(key_direction, state.position)
    path = dynamic_trajectory(state, u, h, num_steps, metric, bounds, value_and_score)
    new_state, info = _accept(key_accept, state, path, h, jnp.asarray(num_steps))
    return new_state, info, path


#: The Weyl sequence's increment, ``2^32 / φ`` (φ the golden ratio): the points
#: ``frac(t / φ)`` of consecutive steps spread evenly over ``[0, 1)``.
WEYL_INCREMENT = 0x9E3779B9


def shared_steps(count: Array, num_integration_steps: Any) -> Array:
    """``n`` for step ``count``: ``1 + ⌊u (2N - 1)⌋``, ``u = frac((count + 1) / φ)``.

    Over steps, ``n`` is spread uniformly over ``1 .. 2N - 1`` (mean ``N``), a
    low-discrepancy sequence in place of independent draws: a function of the
    step count alone, which all chains of a run share, so they run the same ``n``.
    Computed in 32-bit integers (exact for any count).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.mams import shared_steps
    >>> ns = shared_steps(jnp.arange(700), 4)
    >>> int(ns.min()), int(ns.max()), round(float(ns.mean()), 1)
    (1, 7, 4.0)
    """
    mean = jnp.asarray(num_integration_steps, jnp.int32)
    weyl = (jnp.asarray(count).astype(jnp.uint32) + 1) * jnp.uint32(WEYL_INCREMENT)
    u = (weyl >> 8).astype(jnp.float32) / 2.0**24  # 24 bits: exact in float32
    span = 2 * mean - 1
    n = 1 + jnp.floor(u * span.astype(jnp.float32)).astype(jnp.int32)
    return jnp.clip(n, 1, span)


def jittered_steps(key: PRNGKey, num_integration_steps: Any) -> Array:
    """``n`` uniform on ``1 .. 2N - 1`` (mean ``N``) drawn from ``key``, an int32 scalar.

    A per-chain draw: under ``vmap`` the chains' trajectory loop then runs as long
    as the longest of them. :func:`jittered_step` uses :func:`shared_steps`.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.kernels.mams import jittered_steps
    >>> ns = jax.vmap(lambda k: jittered_steps(k, 4))(jax.random.split(jax.random.key(0), 1000))
    >>> int(ns.min()), int(ns.max())
    (1, 7)
    """
    mean = jnp.asarray(num_integration_steps, jnp.int32)
    return jax.random.randint(key, (), 1, 2 * mean, jnp.int32)


def jittered_step(
    key: PRNGKey,
    state: MAMSState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    num_integration_steps: int,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MAMSState, MAMSInfo]:
    """One MAMS step of ``n = shared_steps(state.count, N)`` integration steps.

    ``N = num_integration_steps`` (``>= 1``) is the mean; over steps ``n`` spreads
    uniformly over ``1 .. 2N - 1`` (the paper's law), the same for every chain at
    the same step count. The key is :func:`dynamic_step`'s. Exact: the chain
    composes exact kernels in an order that does not depend on the state.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mams
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mams.init(jnp.zeros(3), logp)
    >>> state, info = jax.jit(lambda k, s: mams.jittered_step(k, s, logp, 0.5, 4))(
    ...     jax.random.key(0), state)
    >>> 1 <= int(info.num_integration_steps) <= 7
    True
    """
    mean = _steps_of_any_kind(num_integration_steps)
    new_state, info, _ = dynamic_step(
        key,
        state,
        logdensity_fn,
        step_size,
        shared_steps(state.count, mean),
        score_fn=score_fn,
        inverse_mass=inverse_mass,
        cholesky=cholesky,
        low_rank=low_rank,
        bounds=bounds,
    )
    return new_state, info


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    num_integration_steps: int | None = None,
    *,
    jitter: bool = True,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> Sampler:
    """MAMS bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`; ``step_size`` and ``num_integration_steps``
    are required, and checked here (and against the position's shapes at ``init``).
    With ``jitter`` (the default, the paper's) ``num_integration_steps`` is the
    mean ``N`` of a length that changes at every step, the same for all chains
    (:func:`jittered_step`); without, every
    trajectory runs ``N`` steps (:func:`step`). The paper's advice: ``ε`` for an
    acceptance rate near 0.9, a trajectory length ``N ε`` of the order of
    ``sqrt(d)`` times the target's scale in the whitened coordinates.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> sampler = jl.mams(logp, step_size=0.8, num_integration_steps=3)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 3)), 100)
    >>> trace.positions.shape
    (4, 100, 3)
    """
    require_energy(logdensity_fn, "MAMS")
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
    _kinetic.check_scalar_step_size(step_size)
    if num_integration_steps is None:
        raise ValueError("`num_integration_steps` is required: an integer >= 1.")
    num_integration_steps = as_int(num_integration_steps, "num_integration_steps", minimum=1)
    jitter = as_flag(jitter, "jitter")
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
            jittered_step if jitter else step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            num_integration_steps=num_integration_steps,
            **settings,
        ),
    )


# --------------------------------------------------------------------------- #
# Tuning declaration: what a warm-up may adapt
# --------------------------------------------------------------------------- #
def _tuned_init(position, logdensity_fn, *, score_fn=None, bounds=None) -> MAMSState:
    return init(position, logdensity_fn, score_fn=score_fn, bounds=bounds)


def _tuned_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """MAMS over ``params.num_integration_steps`` (traced) steps of ``params.step_size``."""
    return dynamic_step(
        key,
        state,
        logdensity_fn,
        params.step_size,
        params.num_integration_steps,
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, state.position),
    )


def _tuned_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None) -> Sampler:
    mean = int(params.num_integration_steps)
    tuned = sampler(
        logdensity_fn,
        params.step_size,
        mean,
        jitter=True,
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, position),
    )
    return _kinetic.tuned_steps(tuned, mean)  # the same draws as a static mean


#: MAMS's tuning declaration: step size, metric and trajectory (``n`` integration
#: steps of ``ε``; sampling jitters ``n`` around its tuned mean). Target 0.9, the
#: paper's (before its first metric the warm-up aims at no more than
#: ``adaptation.warmup.EARLY_TARGET``, 0.65: far out, 0.9 is out of reach).
#: Trajectory rules: the chains' effective sample size (``"ess"``, the paper's
#: rule and the default: the step reports ``num_integration_steps``, so the
#: rule knows the distance it travelled), ChEES (the step returns its end) and MEADS.
#: The ESS rule is the default because it matched or beat ChEES in sampling
#: efficiency on every target with the adapted metric that ``benchmarks/mams_L_rule.py``
#: measures (see ``benchmarks/README.md``). The
#: step size is a distance in the whitened coordinates (the speed is one), so it
#: is ``sqrt(d)`` times HMC's at the same accuracy. Walls reflect
#: coordinate by coordinate, so a box needs a diagonal metric.
tuning = Tuning(
    "mams",
    _tuned_init,
    _tuned_step,
    _tuned_sampler,
    0.9,
    tunes=("step_size", "metric", "trajectory"),
    metrics=("diagonal", "dense", "low_rank"),
    metrics_with_bounds=("diagonal",),
    trajectory_rules=("ess", "chees", "meads"),
)
sampler.tuning = tuning

__all__ = [
    "MAMSInfo",
    "MAMSState",
    "Trajectory",
    "dynamic_step",
    "dynamic_trajectory",
    "energy_error",
    "init",
    "jittered_step",
    "jittered_steps",
    "sampler",
    "shared_steps",
    "step",
    "trajectory",
    "tuning",
]
