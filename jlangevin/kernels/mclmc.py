"""Microcanonical Langevin Monte Carlo (MCLMC), unadjusted.

MCLMC (Robnik, De Luca, Silverstein & Seljak 2023; Robnik & Seljak 2024) moves
the position at a *fixed speed*: the momentum ``u`` is a unit vector over the
raveled, whitened position (``z = R⁻¹ x`` for a metric root ``R``, see
:mod:`jlangevin.kernels._kinetic`) and follows the isokinetic (ESH) dynamics::

    dz/dt = u,    du/dt = (I - u uᵀ) g / (d - 1),    g = Rᵀ ∇log p(x)

whose stationary law has the target ``p(x)`` as its position marginal, with
``u`` uniform on the sphere. Langevin noise makes it ergodic: before each step
of length ``ε`` the direction is partly refreshed (an O step that leaves the
uniform law on the sphere invariant exactly)::

    O:  u <- (c u + sqrt((1 - c²) / d) ξ) / |·|,    c = exp(-ε / L),  ξ ~ N(0, I_d)

so the momentum decorrelates over a distance ``L``, the decoherence length.
One step is O then one step of the **minimal-norm** integrator (McLachlan 1995;
Omelyan, Mryglod & Folk 2003)::

    B(λ ε) A(ε/2) B((1 - 2λ) ε) A(ε/2) B(λ ε),    λ = 0.1931833275037836

(B the exact isokinetic kick :func:`~jlangevin.kernels._kinetic.isokinetic_kick`,
A a drift): two gradients per step, second order, with the smallest error
constant of the two-gradient palindromic splittings; it is the integrator
the papers recommend and BlackJAX's default. The chain is not corrected (see
:mod:`jlangevin.kernels.mams` for the exact version): its position law is
biased by ``O(ε²)``.

Each step reports its energy change ``ΔE = ΔK - Δlog p`` (zero for the exact
flow). The papers tune ``ε`` so that ``Var[ΔE] / d ≈ 5e-4``. To let a
warm-up that steers a mean acceptance rate tune MCLMC like an exact kernel,
``info.acceptance_rate`` holds the bounded statistic::

    a = exp(-ΔE² / (d ξ)),    ξ = ENERGY_VARIANCE_PER_DIM = 5e-4

which decreases with ``ε``. For a centred normal ``ΔE`` of variance ``v d``,
``E[a] = (1 + 2 v / ξ)^(-1/2)``: the papers' criterion ``v = ξ`` is
``E[a] = 3^(-1/2) ≈ 0.577`` (:data:`TARGET_ACCEPTANCE`), which is also where
``E[a]`` is most sensitive to ``log v``. Being bounded, the mean of ``a`` is
not dragged by the rare large energy errors that inflate a sample variance.

A step whose end (position, momentum, log density, score or energy change) is
not finite is refused: the chain keeps its last finite position, its momentum
is redrawn (a uniformly random direction), and ``info.diverged`` is set.
``init`` starts with a zero momentum: the first refresh turns it into a
uniformly random direction.

References
----------
J. Robnik, G. B. De Luca, E. Silverstein and U. Seljak (2023). Microcanonical
Hamiltonian Monte Carlo. Journal of Machine Learning Research 24(311).
J. Robnik and U. Seljak (2024). Fluctuation without dissipation: Microcanonical
Langevin Monte Carlo. Proceedings of Machine Learning Research 253 (AABI 2024).
I. P. Omelyan, I. M. Mryglod and R. Folk (2003). Symplectic analytically integrable
decomposition algorithms. Computer Physics Communications 151(3).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels import _bounds, _kinetic, _move
from jlangevin.kernels._checks import (
    check_callable,
    check_real,
    checked_value_and_score,
    describe,
    require_energy,
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
    Tuning,
)

#: The minimal-norm integrator's kick fraction (Omelyan et al. 2003).
LAMBDA = 0.1931833275037836
#: ``ξ``, the papers' target energy-error variance per dimension.
ENERGY_VARIANCE_PER_DIM = 5e-4
#: ``E[exp(-ΔE² / (d ξ))]`` when ``Var[ΔE] / d = ξ`` (a normal ``ΔE``): ``1 / sqrt(3)``.
TARGET_ACCEPTANCE = 1 / math.sqrt(3)
#: Gradients per step of the minimal-norm integrator.
GRADS_PER_STEP = 2


class MCLMCState(NamedTuple):
    """State of one MCLMC chain.

    Attributes
    ----------
    position : the position (any pytree).
    momentum : the unit momentum, a pytree like the position (zero before the first step).
    logdensity, score : at ``position``.
    count : steps taken.
    """

    position: ArrayTree
    momentum: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class MCLMCInfo(NamedTuple):
    """What one MCLMC step reports.

    Attributes
    ----------
    acceptance_rate : ``exp(-ΔE² / (d ξ))``, a tuning statistic (no step is rejected;
        0 on a diverged step). Its mean is :data:`TARGET_ACCEPTANCE` when
        ``Var[ΔE] / d = ξ``.
    energy_change : ``ΔE = ΔK - Δlog p`` over the step (the integrator's energy error).
    diverged : the step's end was not finite, or the step size not positive and
        finite; the chain kept its position.
    num_grads : gradient evaluations made (2).
    """

    acceptance_rate: Array
    energy_change: Array
    diverged: Array
    num_grads: Array


def check_dimension(position: ArrayTree) -> int:
    """``d``, the raveled size of ``position``: at least 2 (the dynamics divide by ``d - 1``)."""
    size = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(position))
    if size < 2:
        raise ValueError(
            "Isokinetic kernels (MCLMC, MAMS) need a `position` of total size >= 2 (the "
            f"momentum lives on the unit sphere of dimension d - 1); got size {size}."
        )
    return size


def check_decoherence_length(value: Any) -> None:
    """``L``: a positive finite real scalar (traced values: dtype and shape only)."""
    if value is None or callable(value) or np.ndim(value) != 0:
        raise TypeError(
            f"`decoherence_length` (L) must be a positive finite scalar; got {describe(value)}."
        )
    check_real(value, "decoherence_length")


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
) -> MCLMCState:
    """Initial state at ``position`` (one chain), with a zero momentum; settings checked.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import mclmc
    >>> state = mclmc.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity), state.momentum.tolist()
    (-1.0, [0.0, 0.0])
    """
    require_energy(logdensity_fn, "MCLMC")
    check_dimension(position)
    value, score = _kinetic.checked_start(
        position, logdensity_fn, score_fn, step_size, inverse_mass, cholesky, low_rank, bounds
    )
    momentum = jax.tree.map(jnp.zeros_like, position)
    return MCLMCState(position, momentum, value, score, jnp.zeros((), jnp.int32))


def minimal_norm(
    position: ArrayTree,
    momentum: ArrayTree,
    score: ArrayTree,
    h: Array,
    metric: _kinetic.Metric,
    bounds: Bounds | None,
    value_and_score: Any,
) -> tuple[ArrayTree, ArrayTree, Array, ArrayTree, Array]:
    """``B(λh) A(h/2) B((1-2λ)h) A(h/2) B(λh)``: one isokinetic step, two gradients.

    Returns the new position, unit momentum, log density, score and the kinetic
    energy change ``ΔK`` (the sum of the kicks').
    """
    u, k1 = _kinetic.isokinetic_kick(momentum, metric, score, LAMBDA * h)
    x, u = _kinetic.drift(position, u, metric, h / 2, bounds)
    _, score = value_and_score(x)
    u, k2 = _kinetic.isokinetic_kick(u, metric, score, (1 - 2 * LAMBDA) * h)
    x, u = _kinetic.drift(x, u, metric, h / 2, bounds)
    value, score = value_and_score(x)
    u, k3 = _kinetic.isokinetic_kick(u, metric, score, LAMBDA * h)
    return x, u, value, score, k1 + k2 + k3


def acceptance_statistic(energy_change: Array, dims: int) -> Array:
    """``exp(-ΔE² / (d ξ))``, ``ξ = ENERGY_VARIANCE_PER_DIM`` (see the module docstring).

    Examples
    --------
    >>> from jlangevin.kernels.mclmc import acceptance_statistic
    >>> round(float(acceptance_statistic(0.0, 10)), 3)
    1.0
    """
    de = jnp.asarray(energy_change)
    return jnp.exp(-(de**2) / (dims * ENERGY_VARIANCE_PER_DIM))


def step(
    key: PRNGKey,
    state: MCLMCState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    decoherence_length: Any,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> tuple[MCLMCState, MCLMCInfo]:
    """One MCLMC step: a partial refresh of the direction, then one minimal-norm step.

    Parameters
    ----------
    key : a fresh key for this chain and step (one normal draw per coordinate).
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``ε``, the distance the whitened position moves per step: a positive
        scalar or a schedule ``count -> ε``.
    decoherence_length : ``L`` (the papers' ``L``), positive: the momentum keeps
        ``c = exp(-ε / L)`` of itself per step. A few times the target's scale in the
        whitened coordinates (the papers start from ``sqrt(d)`` there).
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
    >>> from jlangevin.kernels import mclmc
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mclmc.init(jnp.zeros(3), logp)
    >>> state, info = mclmc.step(jax.random.key(0), state, logp, 0.5, 2.0)
    >>> round(float(jnp.sum(state.momentum**2)), 5), int(info.num_grads)
    (1.0, 2)
    """
    require_energy(logdensity_fn, "MCLMC")
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _kinetic.check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_bounds(bounds)
    check_decoherence_length(decoherence_length)
    x = state.position
    dims = check_dimension(x)
    metric = _kinetic.make_metric(x, inverse_mass, cholesky, low_rank)
    h = _kinetic.scalar_step(step_size, state.count, x)
    c = jnp.exp(-h / jnp.asarray(decoherence_length, h.dtype))
    u = _kinetic.isokinetic_refresh(key, state.momentum, c)
    x_new, u_new, value, score, kinetic = minimal_norm(
        x, u, state.score, h, metric, bounds, value_and_score
    )
    change = kinetic - (value - state.logdensity)
    ok = (
        _move.steps_ok(h)
        & tree_all_finite((x_new, u_new, score))
        & jnp.isfinite(value)
        & jnp.isfinite(change)
    )
    redrawn = _kinetic.isokinetic_refresh(key, state.momentum, jnp.zeros((), h.dtype))
    moved = MCLMCState(x_new, u_new, value, score, state.count + 1)
    kept = MCLMCState(x, redrawn, state.logdensity, state.score, state.count + 1)
    info = MCLMCInfo(
        acceptance_rate=jnp.where(ok, acceptance_statistic(change, dims), 0.0).astype(h.dtype),
        energy_change=change,
        diverged=~ok,
        num_grads=jnp.asarray(GRADS_PER_STEP, jnp.int32),
    )
    return tree_where(ok, moved, kept), info


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    decoherence_length: Any = None,
    *,
    score_fn: ScoreFn | None = None,
    inverse_mass: Any | None = None,
    cholesky: Array | None = None,
    low_rank: Any | None = None,
    bounds: Bounds | None = None,
) -> Sampler:
    """MCLMC bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    Parameters are those of :func:`step`; ``step_size`` and ``decoherence_length``
    are required, and checked here (and against the position's shapes at
    ``init``). The papers' advice: ``ε`` such that ``Var[ΔE] / d ≈ 5e-4``
    (``info.acceptance_rate`` near :data:`TARGET_ACCEPTANCE`), ``L`` of the order of
    ``sqrt(d)`` times the target's scale.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> sampler = jl.mclmc(logp, step_size=0.8, decoherence_length=2.0)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 3)), 100)
    >>> trace.positions.shape
    (4, 100, 3)
    """
    require_energy(logdensity_fn, "MCLMC")
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
    _kinetic.check_scalar_step_size(step_size)
    if decoherence_length is None:
        raise ValueError("`decoherence_length` (L) is required: a positive finite scalar.")
    check_decoherence_length(decoherence_length)
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
            decoherence_length=decoherence_length,
            **settings,
        ),
    )


# --------------------------------------------------------------------------- #
# Tuning declaration: what a warm-up may adapt
# --------------------------------------------------------------------------- #
def _tuned_init(position, logdensity_fn, *, score_fn=None, bounds=None) -> MCLMCState:
    return init(position, logdensity_fn, score_fn=score_fn, bounds=bounds)


def _tuned_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """One MCLMC step with ``L = params.trajectory_length``; no proposal end (``None``)."""
    new_state, info = step(
        key,
        state,
        logdensity_fn,
        params.step_size,
        params.trajectory_length,
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, state.position),
    )
    return new_state, info, None


def _tuned_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None) -> Sampler:
    return sampler(
        logdensity_fn,
        params.step_size,
        params.trajectory_length,  # an array: one compiled loop for every tuned value
        score_fn=score_fn,
        bounds=bounds,
        **_kinetic.root_settings(params.metric, position),
    )


#: MCLMC's tuning declaration. MCLMC is approximate: it is not in
#: ``EXACT_KERNELS``. ``acceptance_rate`` is the energy statistic of the module
#: docstring, aimed at :data:`TARGET_ACCEPTANCE` (the papers' ``Var[ΔE] / d = 5e-4``).
#: "trajectory" is the decoherence length ``L = params.trajectory_length``;
#: ``params.num_integration_steps`` is unused (a step is one integrator step) and the
#: step returns no proposal end, so ChEES does not apply. The rules: the papers' rule
#: from the chains' effective sample size (``"ess"``, the default: ``L = 0.4 ε τ``,
#: ``τ`` the steps per effective sample; a step travels one ``ε``) and MEADS (the
#: chains' largest scale, which is not scaled by ``sqrt(d)`` for the unit speed and
#: so leaves ``L`` short where a metric has not whitened the target; see
#: ``benchmarks/mams_L_rule.py``).
tuning = Tuning(
    "mclmc",
    _tuned_init,
    _tuned_step,
    _tuned_sampler,
    TARGET_ACCEPTANCE,
    tunes=("step_size", "metric", "trajectory"),
    metrics=("diagonal", "dense", "low_rank"),
    metrics_with_bounds=("diagonal",),
    trajectory_rules=("ess", "meads"),  # its step returns no trajectory end for ChEES
)
sampler.tuning = tuning

__all__ = [
    "ENERGY_VARIANCE_PER_DIM",
    "GRADS_PER_STEP",
    "LAMBDA",
    "MCLMCInfo",
    "MCLMCState",
    "TARGET_ACCEPTANCE",
    "acceptance_statistic",
    "check_decoherence_length",
    "check_dimension",
    "init",
    "minimal_norm",
    "sampler",
    "step",
    "tuning",
]
