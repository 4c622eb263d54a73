"""Trajectory rules: the trajectory time ``T`` of kernels that declare ``"trajectory"``.

``"chees"`` (the default of a declaration that names no rules; MAMS and MCLMC
default to ``"ess"``): ``T`` is adapted at every step by stochastic gradient
ascent of the ChEES criterion (Hoffman, Radul & Sountsov 2021)
``E[(‖z' - z̄‖² - ‖z - z̄‖²)²] / 4`` over the chains (``z`` the position in the
current metric's coordinates, ``z̄`` the cross-chain mean), each chain weighted
by its accept probability (:func:`chees_gradient`). Step ``t`` runs the jittered
``L_t = ⌈u_t T / ε⌉`` (``u_t`` the base-2 Halton sequence, one ``L_t`` for all
chains), and Adam on ``log T`` follows the authors' implementation (no momentum,
second-moment decay 0.95, learning rate 0.025, updates clipped to ``±0.35``,
iterates averaged with weights ``t^(-1/2)``). ``T`` stays within
``[ε₀, max_integration_steps ε₀]``, ``ε₀`` the step each window starts from. At
each metric update ChEES restarts from MEADS' ``T = σ_max`` of the new metric:
the criterion has later maxima nearly as high as its first, and climbing from
below keeps the ascent at the first, the cheapest. The sampler then runs the
static ``L = ⌈T / (2ε)⌉``, the mean length of the jittered trajectories ``T``
was tuned for.

``"meads"``: a trajectory time of the order of the target's largest scale,
estimated across chains as in MEADS (Hoffman & Sountsov 2022): at the end of
each slow window ``T = σ_max = sqrt(λ_max)``, ``λ_max`` the largest eigenvalue
of the window's covariance of the draws in the coordinates of the new metric,
and ``L = ⌈T / ε⌉``.

``"ess"``: the trajectory from the chains' effective sample size, as Robnik et
al. tune MCLMC's decoherence length and MAMS' trajectory (BlackJAX's
``make_adaptation_L``): ``T = ESS_L_FACTOR · δ · τ``, with ``δ`` the distance the
chains travelled per step in the window just run (``ε`` times the integration
steps the kernel reports in ``info.num_integration_steps``, one for a kernel that
does not report it) and ``τ`` its steps per effective sample, so ``T`` is a fixed
fraction of the distance travelled between independent draws. BlackJAX estimates
``τ`` from one chain's autocorrelations; with many chains :func:`steps_per_effective_sample`
reads it from the spread of the chains' window means, ``τ = n Var_c(x̄_c) / Var(x)``
(``n`` draws per chain, the chains started in equilibrium), which needs only the
sums the metric's window already keeps and is unbiased for windows shorter than
the autocorrelation time's own estimation would need. At the end of the first
slow window ``T`` starts at MEADS' ``σ_max``; every later slow window replaces it
by the rule's value, its change limited to a factor :data:`ESS_MAX_CHANGE`
(the rule is a fixed-point iteration: ``τ`` was measured with the previous ``T``);
with one chain there is no spread to read and ``T`` stays at MEADS' value.
The sampler runs ``L = ⌈T / ε⌉``; a kernel that jitters ``L`` (MAMS) is warmed up
with ``⌈u 2T / ε⌉``, ``u`` the Halton point, whose mean is the sampler's.

Either way the kernel receives ``T`` (``TuningParams.trajectory_length``) and the
steps ``L`` of this trajectory; a kernel with friction ties it to ``T`` itself
(MALT: ``γ = 1 / T``).

References
----------
M. D. Hoffman, A. Radul and P. Sountsov (2021). An adaptive MCMC scheme for
setting trajectory lengths in Hamiltonian Monte Carlo. AISTATS (ChEES).
M. D. Hoffman and P. Sountsov (2022). Tuning-free generalized Hamiltonian Monte
Carlo. AISTATS (MEADS).
J. Robnik, G. B. De Luca, E. Silverstein and U. Seljak (2023). Microcanonical
Hamiltonian Monte Carlo. Journal of Machine Learning Research 24(311) (the ESS rule).
A. Gelman and D. B. Rubin (1992). Inference from iterative simulation using multiple
sequences. Statistical Science 7(4) (the between-chain variance of the chain means).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.types import Array

#: The rules, and the default.
TRAJECTORY_RULES = ("chees", "meads", "ess")
DEFAULT_TRAJECTORY = "chees"
#: The cap on ``L`` (per trajectory) unless the caller sets one.
MAX_INTEGRATION_STEPS = 64
#: ChEES' optimiser, as the authors' implementation (TFP's
#: ``GradientBasedTrajectoryLengthAdaptation``).
CHEES_LEARNING_RATE = 0.025
CHEES_BETA1 = 0.0
CHEES_BETA2 = 0.95
CHEES_MAX_UPDATE = 0.35
#: Accept probabilities under this weigh nothing in ChEES' gradient (as TFP).
CHEES_MIN_ACCEPTANCE = 1e-4
HALTON_BITS = 20
#: The sampler's static ``L = ⌈CHEES_SAMPLER_FRACTION T / ε⌉`` after ChEES: the mean
#: length of the jittered trajectories (``u ~ U(0, 1)``) it tuned ``T`` for.
CHEES_SAMPLER_FRACTION = 0.5
#: The ESS rule's ``T = ESS_L_FACTOR · δ · τ`` (Robnik et al.'s ``Lfactor``).
ESS_L_FACTOR = 0.4
#: The most the ESS rule changes ``T`` by, up or down, at one window end.
ESS_MAX_CHANGE = 4.0


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


def check_trajectory(rule: Any) -> str:
    """One of :data:`TRAJECTORY_RULES`."""
    if not isinstance(rule, str):
        raise TypeError(
            f"`trajectory` must be one of {TRAJECTORY_RULES} (a string); got {type(rule).__name__}."
        )
    if rule not in TRAJECTORY_RULES:
        raise ValueError(f"`trajectory` must be one of {TRAJECTORY_RULES}; got {rule!r}.")
    return rule


def chees_init(trajectory_length: Array) -> ChEESState:
    """Start ChEES' optimiser at ``T = trajectory_length``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import chees_init
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
    >>> from jlangevin.adaptation import halton
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
    cross-chain mean, ``z̄'`` the one weighted by the acceptance (as in TFP).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import chees_criterion
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
    each chain contributes ``t (‖z' - z̄'‖² - ‖z - z̄‖²) (z' - z̄')·dz'/dt``.
    Chains are weighted by their accept probabilities; those under ``1e-4`` or
    not finite weigh nothing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import chees_gradient
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
    >>> from jlangevin.adaptation import chees_init, chees_update
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


def jittered_steps(
    index: Array, length: Array, step_size: Array, jitter: bool, max_integration_steps: int
) -> Array:
    """``L = ⌈u T / ε⌉`` within ``[1, max]``, ``u`` the Halton point ``index`` (or 1)."""
    u = halton(index).astype(step_size.dtype) if jitter else jnp.ones((), step_size.dtype)
    wanted = jnp.ceil(u * length / step_size)
    wanted = jnp.where(jnp.isfinite(wanted), wanted, 1.0)
    return jnp.clip(wanted, 1, max_integration_steps).astype(jnp.int32)


def steps_per_effective_sample(means: Array, within: Array, count: Array, healthy: Array) -> Array:
    """``τ`` per coordinate, steps per effective sample, from the chains' window means.

    For chains that start the window in equilibrium, the mean ``x̄_c`` of ``n`` draws
    of one chain has variance ``Var(x) τ / n`` (``τ`` the integrated autocorrelation
    time), so ``τ = n Var_c(x̄_c) / Var(x)``: the between-chain variance of the means
    over the pooled variance of all draws (Gelman and Rubin's ``B / (W + B / n)``
    read as a time). ``means`` ``(chains, d)`` and ``within`` (the pooled within-chain
    sums of squares, ``(d,)``, or ``(d, d)`` whose diagonal is used) are the window's
    :class:`~jlangevin.adaptation.metric.ChainSums`; only ``healthy`` chains count.
    Its relative error is about ``sqrt(2 / (chains - 1))`` per coordinate.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.trajectory import steps_per_effective_sample
    >>> means = jnp.array([[1.0], [-1.0]])  # two chains of 4 draws, each of variance 1
    >>> float(steps_per_effective_sample(means, jnp.array([6.0]), 4.0, jnp.ones(2, bool))[0])
    4.0
    """
    weight = healthy.astype(means.dtype)
    chains = jnp.sum(weight)
    n = jnp.asarray(count, means.dtype)
    grand = weight @ means / jnp.maximum(chains, 1.0)
    between = weight @ (means - grand) ** 2  # sum over chains
    inner = jnp.diagonal(within) if within.ndim == 2 else within
    total = (inner + n * between) / jnp.maximum(n * chains - 1.0, 1.0)
    return n * between / jnp.maximum(chains - 1.0, 1.0) / total


def ess_length(previous: Array, tau: Array, distance_per_step: Array) -> Array:
    """The ESS rule's ``T = ESS_L_FACTOR · δ · mean(τ)``, within ``ESS_MAX_CHANGE`` of ``previous``.

    ``tau`` is :func:`steps_per_effective_sample`'s (coordinates whose ``τ`` is not
    finite are left out); ``distance_per_step`` is ``δ``, the distance each chain
    travelled per step while ``tau`` was measured. ``previous`` is kept where no
    coordinate gives a finite ``τ``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.trajectory import ess_length
    >>> float(ess_length(1.0, jnp.array([10.0, 20.0]), 0.5))  # 0.4 * 0.5 * 15
    3.0
    """
    previous = jnp.asarray(previous)
    ok = jnp.isfinite(tau) & (tau > 0)
    mean_tau = jnp.sum(jnp.where(ok, tau, 0.0)) / jnp.maximum(jnp.sum(ok), 1)
    wanted = ESS_L_FACTOR * distance_per_step * mean_tau
    low, high = previous / ESS_MAX_CHANGE, previous * ESS_MAX_CHANGE
    new = jnp.clip(wanted, low, high)
    return jnp.where(jnp.any(ok) & jnp.isfinite(new), new, previous).astype(previous.dtype)


def sampler_steps(
    rule: str, trajectory_length: float, step_size: float, max_integration_steps: int
) -> tuple[float, int, bool]:
    """The returned sampler's ``(T, L, capped)`` for a rule's final ``T`` and ``ε``.

    ``T`` is kept within ``[ε, max_integration_steps ε]``; ChEES runs ``L = ⌈T/(2ε)⌉``
    (its jitter's mean), MEADS and the ESS rule ``L = ⌈T/ε⌉``. ``capped``: ``L`` wanted more than
    ``max_integration_steps`` (the trajectory is shorter than the rule asked).

    Examples
    --------
    >>> from jlangevin.adaptation import sampler_steps
    >>> sampler_steps("chees", 2.0, 0.3, 64)
    (2.0, 4, False)
    """
    eps = float(step_size)
    length = float(trajectory_length)
    capped = not np.isfinite(length) or length > max_integration_steps * eps * (1 + 1e-6)
    length = min(max(length, eps), max_integration_steps * eps) if np.isfinite(length) else eps
    fraction = CHEES_SAMPLER_FRACTION if rule == "chees" else 1.0
    steps = math.ceil(fraction * length / eps - 1e-6)
    return length, int(min(max(steps, 1), max_integration_steps)), capped


__all__ = [
    "CHEES_SAMPLER_FRACTION",
    "DEFAULT_TRAJECTORY",
    "ESS_L_FACTOR",
    "ESS_MAX_CHANGE",
    "MAX_INTEGRATION_STEPS",
    "TRAJECTORY_RULES",
    "ChEESState",
    "check_trajectory",
    "chees_criterion",
    "chees_gradient",
    "chees_init",
    "chees_update",
    "ess_length",
    "halton",
    "jittered_steps",
    "sampler_steps",
    "steps_per_effective_sample",
]
