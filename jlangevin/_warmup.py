"""Warm-up generic over the exact kernels: MALA, Barker's proposal and MALT.

:func:`warmup` adapts, across all chains at once, what a kernel needs:

- the step-size scale ``ε`` by pooled dual averaging (the mean acceptance over
  chains) toward a per-kernel target;
- a diagonal or dense metric ``M`` from the chains' draws (and, dense, their
  scores), in Stan's fast / slow (doubling) / fast windows;
- for MALT, the friction ``γ`` and the trajectory time ``T = L h``.

The windows, dual averaging, the window (co)variance estimates, the float32-safe
metric (:func:`~jlangevin.adaptation.geometric_mean_metric`,
:func:`~jlangevin.adaptation.stable_cholesky`) and the chain health checks with
restarts (:func:`~jlangevin.adaptation.chain_health`) are those of
:func:`jlangevin.adaptation.mala_warmup`; see its module for the details. What
differs is only how ``(ε, M)`` become the kernel's settings::

    kernel   diagonal M = diag(v)          dense M = L Lᵀ
    MALA     step_size = ε v               step_size = ε, cholesky = L
    Barker   step_size = ε sqrt(v) (sd)    step_size = ε, cholesky = L
    MALT     ε, inverse_mass = v           ε, cholesky = L

Default target acceptances: MALA 0.574 (Roberts & Rosenthal 1998). Barker
0.574: its proposal has MALA's ``d^(-1/3)`` scaling and the same asymptotically
optimal acceptance (Livingstone & Zanella 2022; Vogrinc, Livingstone & Zanella
2023), the default of the authors' ``rmcmc`` package too. MALT 0.65: its
trajectories have HMC's ``d^(-1/4)`` scaling, whose optimal acceptance is 0.651
(Beskos et al. 2013).

MALT's trajectory time ``T`` is set by one of two rules (``trajectory=``):

``"chees"`` (the default): ``T`` is adapted at every step by stochastic
gradient ascent of the ChEES criterion (Hoffman, Radul & Sountsov 2021)
``E[(‖z' - z̄‖² - ‖z - z̄‖²)²] / 4`` over the chains (``z`` the position in
the coordinates of the current metric, ``z̄`` the cross-chain mean), each
chain weighted by its accept probability (:func:`chees_gradient`). As in the
paper, step ``t`` runs the jittered ``L_t = ⌈u_t T / ε⌉`` (``u_t`` the base-2
Halton sequence, one ``L_t`` for all chains: MALT's trajectory of traced length,
:func:`jlangevin.kernels.malt.dynamic_step`), and Adam on ``log T`` follows
the authors' implementation (no momentum, second-moment decay 0.95, learning
rate 0.025, updates clipped to ``±0.35``, iterates averaged with weights
``t^(-1/2)``). ``T`` stays within ``[ε₀, max_integration_steps ε₀]``, ``ε₀`` the
step size each window starts from. The friction is tied to the time,
``γ = 1 / T`` (the momentum keeps ``e^(-u)`` of itself over a jittered
trajectory): a friction fixed on the target's scale (MEADS' ``1/σ_max``) makes
the criterion grow with ``T`` without bound (a longer damped trajectory always
decorrelates more), so ``T`` would run to the cap. At each metric update ChEES
restarts from MEADS' ``T = σ_max`` of the new metric: with ``γ = 1/T`` the
criterion has later maxima (near 6 and 9 ``σ_max`` on a Gaussian) nearly as
high as its first (near 3 ``σ_max``), and restarting from below keeps the
ascent at the first, the cheapest. The returned sampler is MALT with
``γ = 1/T`` and the static ``L = ⌈T / (2ε)⌉`` (the mean length of the jittered
trajectories that ``T`` was tuned for; on the 2-D banana it mixed better per
gradient than ``⌈T / ε⌉``), ``T`` the average of the last iterates
(``info.chees_trajectory_length``); ``info.trajectory_length_trace`` shows
``T`` at each step. It is the default because in
``benchmarks/hard_posteriors.py`` (64 chains, 1,000 + 1,000 steps) it gave more
ESS per gradient than ``"meads"`` on every target where both converged (1.2-3.2x:
the non-centred eight schools, the rotated 100-D Gaussian, the random effects and
the 2PL item response).

``"meads"``: the rule MALT's authors give (a trajectory time of the order of
the target's largest scale, a friction of the order of its inverse), with the
largest scale estimated across chains as in MEADS (Hoffman & Sountsov 2022):
at the end of each slow window,
``σ_max = sqrt(λ_max)``, ``λ_max`` the largest eigenvalue of the window's
covariance of the draws *in the coordinates whitened by the new metric*
(``1`` when the metric is exact; a correlation a diagonal metric cannot remove
makes it larger). Then ``γ = 1 / σ_max``, ``T = σ_max`` and
``L = ceil(T / ε)``, capped at ``max_integration_steps``. Each window runs
with a fixed ``L`` (a trajectory's length is static), so the warm-up is one
compiled loop per window (kept in a cache: a second warm-up of the same model
compiles nothing). It is crude: it gives ``L = 1`` or ``2`` on easy targets,
where the friction then does nothing. It stays the default because ChEES was
not better at equal budgets on the benchmark's 2-D banana (64 chains, 1,000 +
1,000 steps, three seeds): lower R-hat on two seeds of three and two to three
times the nominal ESS per gradient there, but on those two seeds the variance
of ``x₂`` was off by 6.5 and 8.3 of its (ESS-based) standard errors, so the
nominal ESS was not real, and the third seed was worse than MEADS.

References
----------
M. D. Hoffman, A. Radul and P. Sountsov (2021). An adaptive MCMC scheme for
setting trajectory lengths in Hamiltonian Monte Carlo. AISTATS (ChEES).
M. D. Hoffman and P. Sountsov (2022). Tuning-free generalized Hamiltonian Monte
Carlo. AISTATS (MEADS).
L. Riou-Durand and J. Vogrinc (2022). Metropolis adjusted Langevin trajectories:
a robust alternative to Hamiltonian Monte Carlo. arXiv:2202.13230.
S. Livingstone and G. Zanella (2022). The Barker proposal: combining robustness
and efficiency in gradient-based MCMC. JRSS B 84(2).
J. Vogrinc, S. Livingstone and G. Zanella (2023). Optimal design of the Barker
proposal and other locally balanced Metropolis-Hastings algorithms. Biometrika 110(3).
A. Beskos, N. Pillai, G. Roberts, J. M. Sanz-Serna and A. Stuart (2013). Optimal
tuning of the hybrid Monte Carlo algorithm. Bernoulli 19(5A).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_flag, as_int, as_positive
from jlangevin.adaptation import (
    OUTLIER_MADS,
    PRECONDITIONERS,
    STUCK_ACCEPTANCE,
    STUCK_RATIO,
    DenseStats,
    _chain_sums_init,
    _chain_sums_update,
    _check_shrinkage,
    _check_target_acceptance,
    _initial_states,
    _is_typed_key,
    _Layout,
    _num_chains,
    _pooled,
    _restart_chains,
    chain_health,
    dual_averaging_init,
    dual_averaging_update,
    geometric_mean_metric,
    regularized_covariance,
    stable_cholesky,
    window_schedule,
)
from jlangevin.kernels import barker, mala, malt
from jlangevin.kernels._bounds import check_bounds
from jlangevin.run import SamplingWarning, chain_keys_for, step_keys
from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, Sampler


class _Kernel(NamedTuple):
    name: str
    module: Any
    target: float
    options: tuple[str, ...]  # kernel-specific options of :func:`warmup`


#: The supported constructors, their default target acceptance and own options.
KERNELS = {
    mala.sampler: _Kernel("mala", mala, 0.574, ()),
    barker.sampler: _Kernel("barker", barker, 0.574, ()),
    malt.sampler: _Kernel("malt", malt, 0.65, ("max_integration_steps", "trajectory")),
}
#: Options every kernel takes.
COMMON_OPTIONS = (
    "target_acceptance",
    "preconditioner",
    "initial_step_size",
    "shrinkage",
    "score_fn",
    "bounds",
    "restart_chains",
)
#: Settings the warm-up chooses itself (passing one is a ValueError naming it).
ADAPTED = ("step_size", "inverse_mass", "cholesky", "gamma", "num_integration_steps")
MAX_INTEGRATION_STEPS = 64
INITIAL_INTEGRATION_STEPS = 8
#: MALT's trajectory rules (the ``trajectory`` option) and the default.
TRAJECTORY_RULES = ("chees", "meads")
DEFAULT_TRAJECTORY = "chees"
#: ChEES' optimiser, as the authors' implementation (TFP's
#: ``GradientBasedTrajectoryLengthAdaptation``): Adam without momentum on ``log T``
#: (learning rate 0.025, second-moment decay 0.95), each update clipped to
#: ``±0.35`` (about ``log 2 / 2``), and iterates averaged with weights ``t^(-1/2)``.
CHEES_LEARNING_RATE = 0.025
CHEES_BETA1 = 0.0
CHEES_BETA2 = 0.95
CHEES_MAX_UPDATE = 0.35
#: Accept probabilities under this weigh nothing in ChEES' gradient (as TFP).
CHEES_MIN_ACCEPTANCE = 1e-4
HALTON_BITS = 20
#: ChEES' friction, in warm-up and in the returned sampler: ``γ = CHEES_FRICTION / T``.
CHEES_FRICTION = 1.0
#: The returned sampler's static ``L = ⌈CHEES_SAMPLER_FRACTION T / ε⌉``: the mean
#: length of the jittered trajectories ChEES tuned (``u ~ U(0, 1)``).
CHEES_SAMPLER_FRACTION = 0.5


class KernelWarmupInfo(NamedTuple):
    """What :func:`warmup` found and how it got there.

    Attributes
    ----------
    kernel : ``"mala"``, ``"barker"`` or ``"malt"``.
    target_acceptance : the mean acceptance aimed at.
    step_size : the adapted scalar ``ε`` (see the module table for how it is used).
    preconditioner : ``M`` over the raveled position: variances ``(d,)``
        (diagonal) or the covariance ``(d, d)`` (dense).
    cholesky : the lower factor of ``M`` (dense), else ``None``.
    acceptance_rate : ``(num_steps,)`` mean acceptance over chains per step.
    step_size_trace : ``(num_steps,)`` the ``ε`` used at each step.
    diverged : ``(chains,)`` diverged proposals per chain.
    windows : the slow windows ``(start, end)``.
    segments : every stretch ``(start, end)``: initial fast, slow ..., final fast.
    window_acceptance_rate : ``(segments, chains)`` each chain's mean acceptance
        over each stretch.
    chain_acceptance_rate : ``(chains,)`` each chain's mean acceptance overall.
    check_steps : the steps (end excluded) at which chains were checked.
    restarted : ``(chains,)`` restarts per chain; ``num_restarted``,
        ``num_stuck``, ``num_outliers``: totals (Python ints).
    gamma, num_integration_steps, trajectory_length : MALT's friction, ``L`` and
        ``T = L ε`` of the returned sampler (``None`` for the other kernels).
    trajectory : MALT's rule, ``"chees"`` or ``"meads"`` (``None`` otherwise).
    chees_trajectory_length : ChEES' adapted ``T`` (the average of its last
        iterates; the sampler runs ``L ε ≈ T/2``), else ``None``.
    trajectory_length_trace : MALT: ``(num_steps,)`` the trajectory time in use
        at each step: ChEES' current ``T`` (before its jitter), or ``L ε`` (MEADS).
    integration_steps_trace : MALT: ``(num_steps,)`` the leapfrog steps each step
        ran (ChEES: the jittered ``L_t``); the warm-up's gradients are
        ``chains * sum(integration_steps_trace)``.
    """

    kernel: str
    target_acceptance: float
    step_size: Array
    preconditioner: Array
    cholesky: Array | None
    acceptance_rate: Array
    step_size_trace: Array
    diverged: Array
    windows: tuple[tuple[int, int], ...]
    segments: tuple[tuple[int, int], ...]
    window_acceptance_rate: Array
    chain_acceptance_rate: Array
    check_steps: tuple[int, ...]
    restarted: Array
    num_restarted: int
    num_stuck: int
    num_outliers: int
    gamma: float | None = None
    num_integration_steps: int | None = None
    trajectory_length: float | None = None
    trajectory: str | None = None
    chees_trajectory_length: float | None = None
    trajectory_length_trace: Array | None = None
    integration_steps_trace: Array | None = None


class _Settings(NamedTuple):
    """Everything static about one warm-up: the key of the compiled-segment cache."""

    kernel: str
    logdensity_fn: LogDensityFn
    score_fn: Any
    bounds: Any
    layout: _Layout
    dim: int
    dtype: Any
    dense: bool
    target: float


# --------------------------------------------------------------------------- #
# Pieces
# --------------------------------------------------------------------------- #
def _kernel_spec(kernel: Any) -> _Kernel:
    try:
        return KERNELS[kernel]
    except (KeyError, TypeError):
        pass
    supported = ", ".join(f"jlangevin.kernels.{k.name}.sampler" for k in KERNELS.values())
    raise TypeError(
        f"`kernel` must be one of the exact kernels' constructors ({supported}; "
        f"`jl.mala` is the first); got {kernel!r}."
    )


def _check_options(spec: _Kernel, options: dict[str, Any]) -> None:
    """Each option must be one this kernel takes; adapted settings are refused by name."""
    for name in options:
        if name in ADAPTED:
            raise ValueError(f"`{name}` is adapted by the warm-up; it cannot be passed to it.")
        if name in COMMON_OPTIONS or name in spec.options:
            continue
        owners = [k.name for k in KERNELS.values() if name in k.options]
        if owners:
            raise ValueError(
                f"`{name}` applies to the {', '.join(owners)} warm-up only, not to {spec.name}."
            )
        allowed = ", ".join(COMMON_OPTIONS + spec.options)
        raise ValueError(f"`{name}` is not an option of the {spec.name} warm-up ({allowed}).")


def kernel_step(
    settings: _Settings, num_integration_steps: int
) -> Callable[[PRNGKey, Any, Array, Any, Array], tuple[Any, Any]]:
    """``(key, state, ε, root, γ) -> (state, info)``: one step of the kernel for a metric root.

    ``root`` is the per-coordinate standard deviations ``(d,)`` (diagonal) or the
    pair ``(L, L⁻¹)`` (dense); ``γ`` and ``num_integration_steps`` are MALT's.
    """
    s = settings
    unravel = s.layout.unravel()
    common = {"score_fn": s.score_fn, "bounds": s.bounds}

    def one(key, state, eps, root, gamma):
        if s.kernel == "mala":
            if s.dense:
                lower, inverse = root
                return mala.step(
                    key, state, s.logdensity_fn, eps, cholesky=lower, inverse=inverse, **common
                )
            return mala.step(key, state, s.logdensity_fn, unravel(eps * root**2), **common)
        if s.kernel == "barker":
            if s.dense:
                return barker.step(key, state, s.logdensity_fn, eps, cholesky=root[0], **common)
            return barker.step(key, state, s.logdensity_fn, unravel(eps * root), **common)
        metric = {"cholesky": root[0]} if s.dense else {"inverse_mass": unravel(root**2)}
        return malt.step(
            key, state, s.logdensity_fn, eps, num_integration_steps, gamma, **metric, **common
        )

    return one


def bound_sampler(
    settings: _Settings,
    step_size: Array,
    factor: Array,
    num_integration_steps: int | None,
    gamma: float | None,
) -> Sampler:
    """The kernel's own sampler with the adapted settings (see the module table)."""
    s = settings
    unravel = s.layout.unravel()
    common = {"score_fn": s.score_fn, "bounds": s.bounds}
    if s.kernel == "malt":
        metric = {"cholesky": factor} if s.dense else {"inverse_mass": unravel(factor**2)}
        return malt.sampler(
            s.logdensity_fn, step_size, num_integration_steps, gamma, **metric, **common
        )
    module = mala if s.kernel == "mala" else barker
    if s.dense:
        return module.sampler(s.logdensity_fn, step_size, cholesky=factor, **common)
    scales = factor**2 if s.kernel == "mala" else factor  # MALA's h is a variance, Barker's σ an sd
    return module.sampler(s.logdensity_fn, unravel(step_size * scales), **common)


def _empty_stats(settings: _Settings, num_chains: int) -> Any:
    # MALT needs the whitened draws' full covariance for its largest scale even when
    # the metric is diagonal; dense metrics need the scores as well.
    full = settings.dense or settings.kernel == "malt"
    draws = _chain_sums_init(num_chains, settings.dim, full, settings.dtype)
    if not settings.dense:
        return draws
    return DenseStats(draws, _chain_sums_init(num_chains, settings.dim, True, settings.dtype))


def _collect(stats: Any, states: Any, root: Any, dense: bool) -> Any:
    flat_x = jax.vmap(lambda p: ravel_pytree(p)[0])(states.position)
    if not dense:
        return _chain_sums_update(stats, flat_x / root)
    flat_s = jax.vmap(lambda p: ravel_pytree(p)[0])(states.score)
    # z = L⁻¹ x has score Lᵀ s(x).
    return DenseStats(
        _chain_sums_update(stats.draws, flat_x @ root[1].T),
        _chain_sums_update(stats.scores, flat_s @ root[0]),
    )


def new_metric(
    stats: Any, root: Any, healthy: Array, dense: bool, shrinkage: float, metric_power: float = 1.0
) -> tuple[Any, Array]:
    """The next root of ``M`` from one window, and ``λ_max`` of the draws whitened by it.

    ``metric_power`` is ``1`` (the metric is the covariance); any other value
    exists for the tests' broken companions (``-1``: the precision instead).
    """
    draws = stats.draws if dense else stats
    cov_z = regularized_covariance(_pooled(draws, healthy), shrinkage)
    if dense:
        cov_s = regularized_covariance(_pooled(stats.scores, healthy), shrinkage)
        metric = geometric_mean_metric(cov_z, cov_s)
        if metric_power != 1.0:
            vals, vecs = jnp.linalg.eigh(metric)
            metric = (vecs * jnp.maximum(vals, 1e-30) ** metric_power) @ vecs.T
        factor = stable_cholesky(metric)
        inv = jax.scipy.linalg.solve_triangular(
            factor, jnp.eye(factor.shape[0], dtype=factor.dtype), lower=True
        )
        white = inv @ cov_z @ inv.T
        lower = root[0] @ factor
        ok = jnp.all(jnp.isfinite(lower)) & jnp.all(jnp.diagonal(lower) > 0)
        lower = jnp.where(ok, lower, root[0])
        return (lower, mala.inverse_cholesky(lower)), jnp.max(jnp.linalg.eigvalsh(white))
    var = jnp.diagonal(cov_z) if cov_z.ndim == 2 else cov_z
    sd = jnp.sqrt(var) ** metric_power
    updated = root * sd
    ok = jnp.all(jnp.isfinite(updated)) & jnp.all(updated > 0)
    lam = jnp.asarray(1.0, var.dtype)
    if cov_z.ndim == 2:  # MALT: the largest eigenvalue of the correlation left over
        white = cov_z / jnp.outer(sd, sd)
        lam = jnp.max(jnp.linalg.eigvalsh(white))
    return jnp.where(ok, updated, root), lam


def trajectory_settings(
    lam_max: float, step_size: float, max_integration_steps: int
) -> tuple[float, int]:
    """MALT's ``(γ, L)`` from the largest whitened variance: ``γ = 1/σ_max``, ``L = ⌈σ_max/ε⌉``.

    Examples
    --------
    >>> from jlangevin._warmup import trajectory_settings
    >>> trajectory_settings(4.0, 0.5, 64)
    (0.5, 4)
    """
    sigma = math.sqrt(max(float(lam_max), 1e-12))
    steps = math.ceil(sigma / float(step_size)) if np.isfinite(step_size) else 1
    return 1.0 / sigma, int(min(max(steps, 1), max_integration_steps))


def _check_trajectory(rule: Any) -> str:
    if not isinstance(rule, str):
        raise TypeError(
            f"`trajectory` must be one of {TRAJECTORY_RULES} (a string); got {type(rule).__name__}."
        )
    if rule not in TRAJECTORY_RULES:
        raise ValueError(f"`trajectory` must be one of {TRAJECTORY_RULES}; got {rule!r}.")
    return rule


def _segments(num_steps: int, windows: tuple[tuple[int, int], ...]) -> list[tuple[int, int, bool]]:
    """``(start, end, slow)`` for the initial fast window, the slow ones, the final fast one."""
    out = [(0, windows[0][0], False)] if windows[0][0] > 0 else []
    out += [(a, b, True) for a, b in windows]
    if windows[-1][1] < num_steps:
        out.append((windows[-1][1], num_steps, False))
    return out


# --------------------------------------------------------------------------- #
# ChEES (Hoffman, Radul & Sountsov 2021)
# --------------------------------------------------------------------------- #
class ChEESState(NamedTuple):
    """Adam on ``log T`` for ChEES, and the average of its iterates.

    Attributes
    ----------
    log_length : ``log T``, the iterate in use.
    log_length_avg : the iterates averaged with weights ``t^(-1/2)`` (the final ``T``).
    moment, sq_moment : Adam's first and second moments of the gradient.
    count : updates so far.
    """

    log_length: Array
    log_length_avg: Array
    moment: Array
    sq_moment: Array
    count: Array


def chees_init(trajectory_length: Array) -> ChEESState:
    """Start ChEES' optimiser at ``T = trajectory_length``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._warmup import chees_init
    >>> float(chees_init(jnp.float32(1.0)).log_length)
    0.0
    """
    log_length = jnp.log(trajectory_length)
    zero = jnp.zeros_like(log_length)
    return ChEESState(log_length, log_length, zero, zero, jnp.zeros((), jnp.int32))


def halton(index: Array, bits: int = HALTON_BITS) -> Array:
    """The base-2 Halton (van der Corput) point ``index + 1``: evenly spread in ``(0, 1)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._warmup import halton
    >>> halton(jnp.arange(4)).tolist()
    [0.5, 0.25, 0.75, 0.125]
    """
    n = jnp.asarray(index, jnp.int32)[..., None] + 1
    powers = 2 ** jnp.arange(bits, dtype=jnp.int32)
    digits = (n // powers) % 2
    return jnp.sum(digits * (0.5 / powers.astype(jnp.float32)), axis=-1)


def _centred(z: Array, weights: Array) -> Array:
    """``z`` minus its cross-chain mean weighted by ``weights`` (non-finite rows weigh 0)."""
    ok = jnp.all(jnp.isfinite(z), axis=-1) & (weights > 0)
    w = jnp.where(ok, weights, 0.0)
    safe = jnp.where(ok[:, None], z, 0.0)
    mean = jnp.sum(w[:, None] * safe, axis=0) / (jnp.sum(w) + 1e-20)
    return z - jax.lax.stop_gradient(mean)


def chees_criterion(z: Array, z_new: Array, acceptance: Array) -> Array:
    """Each chain's ``(‖z' - z̄'‖² - ‖z - z̄‖²)² / 4`` (ChEES before its expectation).

    ``z`` ``(chains, d)`` are the current (whitened) positions, ``z_new`` the
    proposals, ``acceptance`` their accept probabilities. ``z̄`` is the plain
    cross-chain mean, ``z̄'`` the one weighted by the acceptance (as in TFP);
    both stand in for the target's mean, so no gradient flows through them.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._warmup import chees_criterion
    >>> z = jnp.array([[1.0], [-1.0]])
    >>> chees_criterion(z, 2 * z, jnp.ones(2)).tolist()
    [2.25, 2.25]
    """
    old = _centred(z, jnp.ones_like(acceptance))
    new = _centred(z_new, acceptance)
    return 0.25 * (jnp.sum(new**2, axis=-1) - jnp.sum(old**2, axis=-1)) ** 2


def chees_gradient(
    z: Array, z_new: Array, velocity: Array, acceptance: Array, time: Array
) -> Array:
    """The acceptance-weighted estimate of ``d ChEES / d log T`` from one step of all chains.

    The proposal ends at ``z'(t)``, ``t = u T`` the (jittered) trajectory time
    ``time``, moving at ``velocity = dz'/dt``; so ``dz'/d log T = t dz'/dt`` and
    each chain contributes ``t (‖z' - z̄'‖² - ‖z - z̄‖²) (z' - z̄')·dz'/dt``, the
    derivative of :func:`chees_criterion`. Chains are weighted by their accept
    probabilities; those under ``1e-4`` or not finite weigh nothing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._warmup import chees_gradient
    >>> z = jnp.array([[1.0], [-1.0]])
    >>> float(chees_gradient(z, 2 * z, z, jnp.ones(2), 0.5))  # 0.5 * 3 * 2
    3.0
    """
    acceptance = jnp.where(acceptance > CHEES_MIN_ACCEPTANCE, acceptance, 0.0)
    old = _centred(z, jnp.ones_like(acceptance))
    new = _centred(z_new, acceptance)
    change = jnp.sum(new**2, axis=-1) - jnp.sum(old**2, axis=-1)
    per_chain = time * change * jnp.sum(new * velocity, axis=-1)
    use = (acceptance > 0) & jnp.isfinite(per_chain)
    weights = jnp.where(use, acceptance, 0.0)
    total = jnp.sum(jnp.where(use, weights * per_chain, 0.0))
    return total / (jnp.sum(weights) + 1e-20)


def chees_update(state: ChEESState, gradient: Array, log_low: Array, log_high: Array) -> ChEESState:
    """One Adam ascent step on ``log T`` (clipped to ``±0.35`` and to ``[log_low, log_high]``).

    A non-finite gradient leaves the state as it was.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._warmup import chees_init, chees_update
    >>> state = chees_update(chees_init(jnp.float32(1.0)), jnp.float32(5.0), -9.0, 9.0)
    >>> round(float(state.log_length), 3)  # one step of the learning rate, up
    0.025
    """
    ok = jnp.isfinite(gradient)
    g = jnp.where(ok, gradient, 0.0)
    count = state.count + 1
    t = count.astype(g.dtype)
    moment = CHEES_BETA1 * state.moment + (1 - CHEES_BETA1) * g
    sq_moment = CHEES_BETA2 * state.sq_moment + (1 - CHEES_BETA2) * g**2
    scale = jnp.sqrt(sq_moment / (1 - CHEES_BETA2**t)) + 1e-20
    step = CHEES_LEARNING_RATE * moment / (1 - CHEES_BETA1**t) / scale
    step = jnp.clip(step, -CHEES_MAX_UPDATE, CHEES_MAX_UPDATE)
    log_length = jnp.clip(state.log_length + step, log_low, log_high)
    weight = t**-0.5
    log_avg = weight * log_length + (1 - weight) * state.log_length_avg
    new = ChEESState(log_length, log_avg, moment, sq_moment, count)
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, state)


def chees_settings(
    trajectory_length: float, step_size: float, max_integration_steps: int
) -> tuple[float, int, float]:
    """The sampler's ``(γ, L, T)`` from ChEES' averaged ``T``: ``γ = 1/T``, ``L = ⌈T / (2ε)⌉``.

    ``T`` is kept within ``[ε, max_integration_steps ε]`` first. ``L ε ≈ T/2``
    is the mean length of the jittered trajectories (``u T``, ``u ~ U(0, 1)``)
    that ChEES tuned ``T`` for.

    Examples
    --------
    >>> from jlangevin._warmup import chees_settings
    >>> chees_settings(2.0, 0.3, 64)
    (0.5, 4, 2.0)
    """
    eps = float(step_size)
    length = min(max(float(trajectory_length), eps), max_integration_steps * eps)
    steps = math.ceil(CHEES_SAMPLER_FRACTION * length / eps - 1e-6)
    steps = min(max(steps, 1), max_integration_steps)
    return CHEES_FRICTION / length, int(steps), length


def _flat(tree: ArrayTree) -> Array:
    return jax.vmap(lambda p: ravel_pytree(p)[0])(tree)


def _whiten(flat_x: Array, root: Any, dense: bool) -> Array:
    """Positions in the metric's coordinates (``L⁻¹ x``), where the momentum is the velocity."""
    return flat_x @ root[1].T if dense else flat_x / root


# --------------------------------------------------------------------------- #
# The compiled segment
# --------------------------------------------------------------------------- #
def _build_segment(settings: _Settings, num_integration_steps: int):
    """Jitted ``(keys, states, dual averaging, root, γ, start, end, collect, traces) -> ...``.

    One window: steps ``start .. end - 1`` of all chains (``vmap``), dual
    averaging after each, the window's sums when ``collect``; the per-step mean
    acceptance and ``ε`` are written into the ``(num_steps,)`` traces. The bounds
    are traced, so every window of a warm-up (and every warm-up of the same
    settings) runs the one compiled loop; the loop stays on the device.
    """
    one = kernel_step(settings, num_integration_steps)
    dense, dtype = settings.dense, settings.dtype
    is_malt = settings.kernel == "malt"

    @jax.jit
    def segment(chain_keys, states, da, root, gamma, start, end, collect, traces):
        def body(i, carry):
            states, da, stats, accept_sum, diverged, (accept_trace, eps_trace, *rest) = carry
            eps = jnp.exp(da.log_step)
            keys = step_keys(chain_keys, states.count)
            states, infos = jax.vmap(one, (0, 0, None, None, None))(keys, states, eps, root, gamma)
            chain_accept = infos.acceptance_rate.astype(dtype)
            acceptance = jnp.mean(chain_accept)
            da = dual_averaging_update(da, acceptance, settings.target)
            stats = jax.lax.cond(
                collect, lambda s: _collect(s, states, root, dense), lambda s: s, stats
            )
            diverged = diverged + infos.diverged.astype(jnp.int32)
            traces = (accept_trace.at[i].set(acceptance), eps_trace.at[i].set(eps))
            if is_malt:  # the trajectory time and length in use
                length_trace, steps_trace = rest
                time = (num_integration_steps * eps).astype(dtype)
                traces += (
                    length_trace.at[i].set(time),
                    steps_trace.at[i].set(num_integration_steps),
                )
            return states, da, stats, accept_sum + chain_accept, diverged, traces

        num_chains = chain_keys.shape[0]
        zeros = jnp.zeros((num_chains,), dtype)
        stats = _empty_stats(settings, num_chains)
        carry = (states, da, stats, zeros, jnp.zeros((num_chains,), jnp.int32), traces)
        return jax.lax.fori_loop(start, end, body, carry)

    return segment


_cached_segment = functools.lru_cache(maxsize=64)(_build_segment)


def _segment_fn(settings: _Settings, num_integration_steps: int):
    try:
        return _cached_segment(settings, num_integration_steps)
    except TypeError as err:  # unhashable settings (array bounds, say): build afresh
        if "unhashable" not in str(err):
            raise
        return _build_segment(settings, num_integration_steps)


def _build_chees_segment(
    settings: _Settings, max_integration_steps: int, jitter: bool, sign: float
):
    """Jitted ``(keys, states, dual averaging, ChEES, root, start, end, collect, traces) -> ...``.

    MALT with ChEES: step ``i`` of all chains runs ``L_i = ⌈u_i T / ε⌉`` leapfrog
    steps (``u_i`` the Halton point ``i``; ``1`` without ``jitter``), one ``L_i``
    for all chains (:func:`jlangevin.kernels.malt.dynamic_step`), friction
    ``γ = 1 / T``; then dual averaging on ``ε`` and one Adam step on ``log T``
    along ChEES' gradient (times ``sign``: ``-1`` exists for the tests' broken
    companion). One compiled loop serves every window.
    """
    s = settings
    unravel = s.layout.unravel()
    dense, dtype = s.dense, s.dtype

    def one(key, state, eps, root, gamma, num_l):
        metric = {"cholesky": root[0]} if dense else {"inverse_mass": unravel(root**2)}
        return malt.dynamic_step(
            key,
            state,
            s.logdensity_fn,
            eps,
            num_l,
            gamma,
            score_fn=s.score_fn,
            bounds=s.bounds,
            **metric,
        )

    step_all = jax.vmap(one, (0, 0, None, None, None, None))

    @jax.jit
    def segment(chain_keys, states, da, chees, root, start, end, collect, traces):
        eps_start = jnp.exp(da.log_step_avg)

        def body(i, carry):
            states, da, chees, stats, accept_sum, diverged, traces = carry
            eps = jnp.exp(da.log_step)
            length = jnp.exp(chees.log_length)
            u = halton(i).astype(dtype) if jitter else jnp.ones((), dtype)
            wanted = jnp.ceil(u * length / eps)
            wanted = jnp.where(jnp.isfinite(wanted), wanted, 1.0)
            num_l = jnp.clip(wanted, 1, max_integration_steps).astype(jnp.int32)
            keys = step_keys(chain_keys, states.count)
            new, infos, paths = step_all(keys, states, eps, root, CHEES_FRICTION / length, num_l)
            chain_accept = infos.acceptance_rate.astype(dtype)
            z = _whiten(_flat(states.position), root, dense)
            z_new = _whiten(_flat(paths.position), root, dense)
            grad = chees_gradient(z, z_new, _flat(paths.momentum), chain_accept, num_l * eps)
            # T within [ε₀, max_integration_steps ε₀], ε₀ the step the window started
            # from: dual averaging's first steps of a window explore up to 10 ε₀.
            log_cap = jnp.log(max_integration_steps * eps_start)
            chees = chees_update(chees, sign * grad, jnp.log(eps_start), log_cap)
            acceptance = jnp.mean(chain_accept)
            da = dual_averaging_update(da, acceptance, s.target)
            stats = jax.lax.cond(
                collect, lambda st: _collect(st, new, root, dense), lambda st: st, stats
            )
            diverged = diverged + infos.diverged.astype(jnp.int32)
            accept_trace, eps_trace, length_trace, steps_trace = traces
            traces = (
                accept_trace.at[i].set(acceptance),
                eps_trace.at[i].set(eps),
                length_trace.at[i].set(length),
                steps_trace.at[i].set(num_l),
            )
            return new, da, chees, stats, accept_sum + chain_accept, diverged, traces

        num_chains = chain_keys.shape[0]
        zeros = jnp.zeros((num_chains,), dtype)
        stats = _empty_stats(s, num_chains)
        carry = (states, da, chees, stats, zeros, jnp.zeros((num_chains,), jnp.int32), traces)
        return jax.lax.fori_loop(start, end, body, carry)

    return segment


_cached_chees_segment = functools.lru_cache(maxsize=64)(_build_chees_segment)


def _chees_segment_fn(settings: _Settings, max_integration_steps: int, jitter: bool, sign: float):
    try:
        return _cached_chees_segment(settings, max_integration_steps, jitter, sign)
    except TypeError as err:  # unhashable settings (array bounds, say): build afresh
        if "unhashable" not in str(err):
            raise
        return _build_chees_segment(settings, max_integration_steps, jitter, sign)


@functools.partial(jax.jit, static_argnames=("dense", "shrinkage", "metric_power"))
def _end_window(stats, root, healthy, *, dense, shrinkage, metric_power):
    return new_metric(stats, root, healthy, dense, shrinkage, metric_power)


def _warn_restarts(num_stuck: int, num_outliers: int, num_chains: int, kernel: str) -> None:
    reasons = []
    if num_stuck:
        reasons.append(
            f"{num_stuck} stuck (mean acceptance under min({STUCK_ACCEPTANCE}, "
            f"{STUCK_RATIO} x the chains' upper quartile) over a window)"
        )
    if num_outliers:
        reasons.append(
            f"{num_outliers} far below the others' log density (over {OUTLIER_MADS:g} robust "
            "standard deviations under the median)"
        )
    warnings.warn(
        f"warmup ({kernel}): restarted {num_stuck + num_outliers} chain(s) of {num_chains} at "
        f"window ends from healthy chains: {'; '.join(reasons)}. The draws are fine to use; "
        "restarts usually mean starting points far from the posterior or a multimodal "
        "target. `info.restarted` says which chains.",
        SamplingWarning,
        stacklevel=4,
    )


# --------------------------------------------------------------------------- #
# The warm-up
# --------------------------------------------------------------------------- #
def warmup(
    key: PRNGKey,
    kernel: Callable[..., Sampler],
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    **options: Any,
) -> tuple[Sampler, Any, KernelWarmupInfo]:
    """Adapt an exact kernel's step size, metric (and MALT's trajectory) across chains.

    Parameters
    ----------
    key : a JAX random key; chain ``c`` draws what ``jl.run`` with this key would.
    kernel : the constructor to adapt: ``jl.mala`` (``jlangevin.kernels.mala.sampler``),
        ``jlangevin.kernels.barker.sampler`` or ``jlangevin.kernels.malt.sampler``.
    logdensity_fn : ``position -> log p`` of one position (any pytree).
    positions : initial positions with a leading chain axis, or a batched state
        of the kernel (the ``state`` of an earlier warm-up).
    num_steps : warm-up steps, an integer >= 20 (1,000 or more is typical).
    **options : for every kernel:

        - ``target_acceptance``: in ``(0, 1)``; default MALA 0.574, Barker 0.574,
          MALT 0.65 (see the module notes).
        - ``preconditioner``: ``"diagonal"`` (default) or ``"dense"``.
        - ``initial_step_size`` (1.0), ``shrinkage`` (0.01), ``score_fn``,
          ``bounds``, ``restart_chains`` (True): as in
          :func:`jlangevin.adaptation.mala_warmup`.

        for MALT only: ``max_integration_steps`` (64), the cap on ``L``;
        ``trajectory``: ``"chees"`` (default) or ``"meads"``, the rule for the
        trajectory time and friction (see the module notes).
        Any other option, or one of another kernel, is a ``ValueError`` naming it.

    Returns
    -------
    sampler : the kernel's sampler bound with the adapted settings, for ``jl.run``.
    state : the chains' batched states after warm-up (``count = num_steps``);
        pass them to ``jl.run`` as the positions to continue from.
    info : :class:`KernelWarmupInfo`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin._warmup import warmup
    >>> logp = lambda x: -0.5 * jnp.sum((x / jnp.array([0.1, 10.0])) ** 2)
    >>> sampler, state, info = warmup(jax.random.key(0), jl.mala, logp, jnp.ones((4, 2)), 200)
    >>> trace = jl.run(jax.random.key(1), sampler, state, 100)
    >>> info.kernel, info.chain_acceptance_rate.shape
    ('mala', (4,))
    """
    return _warmup(key, kernel, logdensity_fn, positions, num_steps, **options)


def _warmup(
    key: PRNGKey,
    kernel: Callable[..., Sampler],
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    *,
    metric_power: float = 1.0,
    adapt_metric: bool = True,
    chees_sign: float = 1.0,
    chees_jitter: bool = True,
    **options: Any,
) -> tuple[Sampler, Any, KernelWarmupInfo]:
    """:func:`warmup`, plus knobs for the tests' broken companions.

    ``metric_power`` (see :func:`new_metric`), ``adapt_metric=False`` (keep the
    unit metric), ``chees_sign=-1`` (descend ChEES instead of ascending it),
    ``chees_jitter=False`` (ChEES on trajectories of the full ``T``).
    """
    spec = _kernel_spec(kernel)
    _check_options(spec, options)
    if not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p`; "
            f"got {type(logdensity_fn).__name__}."
        )
    score_fn = options.get("score_fn")
    if score_fn is not None and not callable(score_fn):
        raise TypeError(f"`score_fn` must be callable or None; got {type(score_fn).__name__}.")
    preconditioner = options.get("preconditioner", "diagonal")
    if not isinstance(preconditioner, str) or preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {PRECONDITIONERS}; got {preconditioner!r}."
        )
    dense = preconditioner == "dense"
    target = _check_target_acceptance(options.get("target_acceptance", spec.target))
    initial_step_size = as_positive(options.get("initial_step_size", 1.0), "initial_step_size")
    shrinkage = _check_shrinkage(options.get("shrinkage", 0.01))
    restart = as_flag(options.get("restart_chains", True), "restart_chains")
    max_steps = as_int(
        options.get("max_integration_steps", MAX_INTEGRATION_STEPS), "max_integration_steps", 1
    )
    rule = _check_trajectory(options.get("trajectory", DEFAULT_TRAJECTORY))
    bounds = options.get("bounds")
    check_bounds(bounds)
    if spec.name == "malt" and dense and bounds is not None:
        raise ValueError(
            "`bounds` cannot be combined with preconditioner='dense' for MALT (its walls "
            "reflect coordinate by coordinate, which needs a diagonal metric)."
        )
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")

    if isinstance(positions, mala.MALAState | barker.BarkerState | malt.MALTState):
        positions = mala.MALAState(*positions)
    leaves = jax.tree.leaves(positions)
    if isinstance(positions, list | tuple) and leaves and all(np.ndim(x) == 0 for x in leaves):
        positions = jnp.asarray(positions)  # a nested list of numbers is one array
    num_chains = _num_chains(positions)
    chain_keys = chain_keys_for(key, num_chains)
    typed = key if _is_typed_key(key) else jax.random.wrap_key_data(key)
    restart_key = jax.random.split(typed)[1]  # no chain uses it: theirs are fold_in(key, c)
    states = _initial_states(positions, logdensity_fn, score_fn, bounds)
    state_type = {"mala": mala.MALAState, "barker": barker.BarkerState, "malt": malt.MALTState}
    states = state_type[spec.name](*states)

    one_position = jax.tree.map(lambda x: x[0], states.position)
    flat = ravel_pytree(one_position)[0]
    layout = _Layout(
        jax.tree.structure(one_position),
        tuple((np.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(one_position)),
    )
    settings = _Settings(
        spec.name, logdensity_fn, score_fn, bounds, layout, flat.size, flat.dtype, dense, target
    )
    dim, dtype = flat.size, flat.dtype
    eye = jnp.eye(dim, dtype=dtype)
    root = (eye, eye) if dense else jnp.ones((dim,), dtype)
    da = dual_averaging_init(jnp.asarray(initial_step_size, dtype))
    is_malt = spec.name == "malt"
    use_chees = is_malt and rule == "chees"
    num_l = min(INITIAL_INTEGRATION_STEPS, max_steps)
    gamma, lam = 1.0, None
    chees = chees_init(jnp.asarray(initial_step_size, dtype))

    traces = (jnp.zeros((num_steps,), dtype), jnp.zeros((num_steps,), dtype))
    if is_malt:  # the trajectory time and the leapfrog steps of each step
        traces += (jnp.zeros((num_steps,), dtype), jnp.zeros((num_steps,), jnp.int32))
    window_accept, checks = [], []
    diverged = jnp.zeros((num_chains,), jnp.int32)
    restarted = np.zeros(num_chains, np.int64)
    num_stuck = num_outliers = 0
    segments = _segments(num_steps, windows)
    for start, end, slow in segments:
        if use_chees:
            run = _chees_segment_fn(settings, max_steps, bool(chees_jitter), float(chees_sign))
            states, da, chees, stats, accept_sum, div, traces = run(
                chain_keys, states, da, chees, root, start, end, slow, traces
            )
        else:
            # MALT: L rounded up to a power of two in warm-up, so few loops are compiled.
            run = _segment_fn(settings, 2 ** math.ceil(math.log2(num_l)) if is_malt else 1)
            states, da, stats, accept_sum, div, traces = run(
                chain_keys, states, da, root, jnp.asarray(gamma, dtype), start, end, slow, traces
            )
        diverged = diverged + div
        chain_accept = accept_sum / (end - start)
        window_accept.append(chain_accept)
        if end == num_steps:
            break
        bad = jnp.zeros((num_chains,), bool)
        if restart:
            checks.append(end)
            stuck, outlier = chain_health(chain_accept, states.logdensity)
            bad = (stuck | outlier) & (jnp.sum(~(stuck | outlier)) > 0)
            if bool(jnp.any(bad)):
                states = _restart_chains(jax.random.fold_in(restart_key, end - 1), states, bad)
                restarted += np.asarray(bad)
                num_stuck += int(jnp.sum(bad & stuck))
                num_outliers += int(jnp.sum(bad & outlier))
        if slow and adapt_metric:
            root, lam = _end_window(
                stats, root, ~bad, dense=dense, shrinkage=shrinkage, metric_power=metric_power
            )
            if use_chees:  # a new time scale: climb again from MEADS' T = σ_max
                chees = chees_init(jnp.sqrt(jnp.maximum(lam, 1e-12)).astype(dtype))
            elif is_malt:
                lam = float(lam)
                gamma, num_l = trajectory_settings(lam, float(jnp.exp(da.log_step_avg)), max_steps)
        if slow or bool(jnp.any(bad)):
            da = dual_averaging_init(jnp.exp(da.log_step_avg))

    step_size = jnp.exp(da.log_step_avg)
    eps = float(step_size)
    factor = root[0] if dense else root
    if not np.isfinite(eps) or eps <= 0 or not np.all(np.isfinite(np.asarray(factor))):
        raise ValueError(
            f"warm-up of {spec.name} failed: the adapted step size ({eps}) or metric is not "
            "positive and finite. Try a smaller `initial_step_size`, more warm-up steps, "
            "starting points nearer the posterior, or float64."
        )
    trajectory = chees_length = None
    if use_chees:
        gamma, num_l, chees_length = chees_settings(
            float(jnp.exp(chees.log_length_avg)), eps, max_steps
        )
        trajectory = num_l * eps
    elif is_malt:
        if lam is not None:  # L for the final step size, the trajectory time kept
            gamma, num_l = trajectory_settings(lam, eps, max_steps)
        trajectory = num_l * eps
    if num_stuck + num_outliers:
        _warn_restarts(num_stuck, num_outliers, num_chains, spec.name)
    sampler = bound_sampler(
        settings, step_size, factor, num_l if is_malt else None, gamma if is_malt else None
    )
    info = KernelWarmupInfo(
        kernel=spec.name,
        target_acceptance=target,
        step_size=step_size,
        preconditioner=factor @ factor.T if dense else factor**2,
        cholesky=factor if dense else None,
        acceptance_rate=traces[0],
        step_size_trace=traces[1],
        diverged=diverged,
        windows=windows,
        segments=tuple((a, b) for a, b, _ in segments),
        window_acceptance_rate=jnp.stack(window_accept),
        chain_acceptance_rate=jnp.sum(
            jnp.stack([w * (b - a) for w, (a, b, _) in zip(window_accept, segments, strict=True)]),
            axis=0,
        )
        / num_steps,
        check_steps=tuple(checks),
        restarted=jnp.asarray(restarted, jnp.int32),
        num_restarted=num_stuck + num_outliers,
        num_stuck=num_stuck,
        num_outliers=num_outliers,
        gamma=gamma if is_malt else None,
        num_integration_steps=num_l if is_malt else None,
        trajectory_length=trajectory,
        trajectory=rule if is_malt else None,
        chees_trajectory_length=chees_length,
        trajectory_length_trace=traces[2] if is_malt else None,
        integration_steps_trace=traces[3] if is_malt else None,
    )
    return sampler, states, info


__all__ = [
    "KERNELS",
    "ChEESState",
    "KernelWarmupInfo",
    "chees_criterion",
    "chees_gradient",
    "chees_init",
    "chees_settings",
    "chees_update",
    "halton",
    "trajectory_settings",
    "warmup",
]
