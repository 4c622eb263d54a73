"""Stochastic-gradient Langevin dynamics (SGLD), optionally preconditioned.

One step draws a gradient estimate ``ĝ(x)`` (a minibatch estimate of the
score, unbiased for ``grad log p``) and moves::

    x' = x + h_t * ĝ(x) + sqrt(2 h_t T) * xi,   xi ~ N(0, I)

with ``h_t`` usually decreasing (a schedule ``count -> h``) and temperature
``T`` (``T = 1`` targets the posterior, ``T < 1`` sharpens it, as in cold
posteriors). One gradient estimate per step, and the minibatch stays inside
the compiled loop: each step moves with the estimate the state carries (at
its position) and draws the next one at the point it moves to, from its own
key (the first at :func:`init`, from a fixed key). So a candidate where the
estimate (or the log density it reports) is not finite is seen before the
chain goes there: the step is counted as diverged and the chain stays, with
the estimate it had.

With ``preconditioner=RMSProp()`` the step becomes pSGLD (Li et al. 2016)::

    V_t = a V_{t-1} + (1 - a) ĝ ⊙ ĝ,   G = 1 / (eps + sqrt(V_t))
    x'  = x + h_t G ⊙ ĝ + sqrt(2 h_t T G) ⊙ xi

Here ``ĝ`` is the estimate of the full score (prior plus ``N/n`` times the
batch log-likelihood gradients); Li et al. average the squares of the mean
per-datum gradient instead, which scales ``G`` by about ``N`` and is
absorbed by the step size.

The correction term ``Γ(x) = Σ_j ∂G_ij/∂x_j`` is *omitted*, as Li et al. do in
their experiments: ``G`` depends on the path of past gradients, not on ``x``
through a closed form, and computing it would need second derivatives per
step. Li et al. argue its effect is ``O(1 - a)``. That holds only while the
average's memory, about ``1 / (1 - a)`` steps, is long compared with the
time the chain takes to cross the target. When it is not, ``V`` follows
``ĝ(x)²`` and the chain samples about ``p / G`` instead of ``p``. On a
Gaussian that inflates the variance by up to a factor 2, and a *smaller*
step makes it worse (the chain moves less during the average's memory), so
a decreasing step does not remove this bias. Measured on ``N(0, diag(0.1²,
1, 4²))`` with ``h = 2e-3``: variance ratios 1.2 / 1.6 / 1.8 for ``a = 0.99``,
1.01 / 1.08 / 1.18 for ``a = 0.9999``. The remedy is
``RMSProp(freeze_after=burnin)``: adapt ``G`` during burn-in, then hold it, so
that ``G`` no longer depends on the path, Γ is exactly zero, and the chain is
plain SGLD with the per-coordinate step ``h G`` (exact as ``h → 0``; on a
Gaussian its stationary variance is exactly ``σ² / (1 - h G / (2σ²))``, which
the tests check).

Texts that write ``x + (eps/2) ĝ + sqrt(eps) xi`` use ``h = eps / 2``.

References
----------
M. Welling and Y. W. Teh (2011). Bayesian learning via stochastic gradient
Langevin dynamics. ICML.
C. Li, C. Chen, D. Carlson and L. Carin (2016). Preconditioned stochastic
gradient Langevin dynamics for deep neural networks. AAAI.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.gradients import (
    GradientEstimator,
    StatefulGradientEstimator,
    check_position,
    full,
)
from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    as_int,
    as_positive,
    check_finite_start,
    check_score_clip,
    check_score_like,
    check_step_size,
    check_temperature,
    checked_fns,
    describe,
    float_dtype,
)
from jlangevin.kernels._tree import is_concrete, normal_like, tree_all_finite, tree_where
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


class RMSProp(NamedTuple):
    """pSGLD's diagonal preconditioner settings.

    Attributes
    ----------
    decay : ``a``, the exponential-average factor of squared gradients.
    eps : ``λ``, keeps ``G = 1 / (λ + sqrt(V))`` finite when gradients vanish.
    freeze_after : stop updating ``V`` after this many steps (``None``: never).
        With ``V`` frozen, ``G`` is a constant diagonal preconditioner, the Γ
        term is exactly zero, and the chain is plain SGLD with a per-coordinate
        step ``h G``: set it to the burn-in length to remove the bias that the
        omitted Γ leaves while ``V`` still tracks the position.
    """

    decay: float = 0.99
    eps: float = 1e-5
    freeze_after: int | None = None


class SGLDState(NamedTuple):
    """State of one SGLD chain.

    Attributes
    ----------
    position : current position.
    logdensity : the estimator's estimate of ``log p`` at ``position`` (``None``
        when it gives scores only).
    score : the gradient estimate at ``position`` that the next step moves with.
    count : number of steps taken (drives the schedule; :func:`jlangevin.run` derives
        each step's key from it).
    square_avg : pSGLD's running average of squared gradients (``None`` without
        a preconditioner).
    estimator_state : a stateful estimator's state (SVRG's anchor and its full
        gradient, :func:`jlangevin.gradients.svrg`); ``None`` for a plain one.
    """

    position: ArrayTree
    logdensity: Array | None
    score: ArrayTree
    count: Array
    square_avg: ArrayTree | None = None
    estimator_state: Any = None


class SGLDInfo(NamedTuple):
    """What one SGLD step reports.

    Attributes
    ----------
    diverged : the move, or the gradient estimate (or log density estimate) at
        the point moved to, was non-finite, or the step was not positive and
        finite; the chain stays where it was and ``jl.run`` counts it.
    step_size : the step used (its mean over coordinates when per-coordinate).
    logdensity : the estimate of ``log p`` at the position after the step
        (``None`` when the estimator gives scores only).
    """

    diverged: Array
    step_size: Array
    logdensity: Array | None


#: The key of the first gradient estimate, drawn at :func:`init` (which has no
#: key of its own): every chain's first minibatch is the same one.
INIT_KEY_SEED = 0


#: What the stochastic-gradient kernels (SGLD, SGHMC) take: a plain estimator
#: ``(key, x) -> (value, score)`` or a stateful one (SVRG's anchor) that also
#: takes and returns its state.
Estimator = GradientEstimator | StatefulGradientEstimator


def estimate(
    estimator: Estimator, key: PRNGKey | None, position: ArrayTree, estimator_state: Any = None
) -> tuple[Array | None, ArrayTree, Any]:
    """The estimate at ``position`` (score checked like it, value a scalar) and the new state.

    Shared by :mod:`~jlangevin.kernels.sgld` and :mod:`~jlangevin.kernels.sghmc`;
    a plain estimator's state is ``None`` throughout.
    """
    if isinstance(estimator, StatefulGradientEstimator):
        value, score, estimator_state = estimator(key, position, estimator_state)
    else:
        value, score = estimator(key, position)
    score = check_score_like(score, position, "gradient_estimator")
    if value is not None:
        if jnp.shape(value) != () or not jnp.issubdtype(jnp.result_type(value), jnp.floating):
            raise TypeError(
                "`gradient_estimator` must return a real floating-point scalar log density "
                f"(or None); got {describe(jnp.asarray(value))}."
            )
        value = jnp.asarray(value, float_dtype(position))
    return value, score, estimator_state


def check_estimator(gradient_estimator: Any) -> None:
    """Refuse anything that is not a (stateful) gradient estimator, naming the argument."""
    if not isinstance(gradient_estimator, GradientEstimator | StatefulGradientEstimator):
        raise TypeError(
            "`gradient_estimator` must be a GradientEstimator or StatefulGradientEstimator "
            "(jl.gradients.full(logp), jl.gradients.minibatch(...), jl.gradients.svrg(...)); "
            f"got {describe(gradient_estimator)}."
        )


def initial_estimate(
    gradient_estimator: Estimator, position: ArrayTree
) -> tuple[Array | None, ArrayTree, Any]:
    """The first estimate, at ``init`` (drawn with ``key(INIT_KEY_SEED)``), and its state."""
    key = jax.random.key(INIT_KEY_SEED) if gradient_estimator.uses_key else None
    estimator_state = None
    if isinstance(gradient_estimator, StatefulGradientEstimator):
        estimator_state = gradient_estimator.init(position)
    return estimate(gradient_estimator, key, position, estimator_state)


def init(
    position: ArrayTree,
    gradient_estimator: Estimator | None = None,
    *,
    preconditioner: RMSProp | None = None,
    bounds: Bounds | None = None,
    step_size: StepSize | None = None,
    score_clip: Any | None = None,
) -> SGLDState:
    """Initial state at ``position`` (one chain), with the first gradient estimate.

    The estimate is drawn with ``jax.random.key(INIT_KEY_SEED)`` (``init`` has
    no key); a concrete start where it is not finite raises, as does one
    outside ``bounds``; traced (in :func:`jlangevin.run`), such a start is
    refused by the driver. ``step_size`` and ``score_clip``, when given, are
    checked against the position's shapes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> from jlangevin.kernels import sgld
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> sgld.init(jnp.ones(2), est).score
    Array([-1., -1.], dtype=float32)
    """
    check_estimator(gradient_estimator)
    check_position(position)
    _bounds.check_inside(position, bounds)
    value, score, estimator_state = initial_estimate(gradient_estimator, position)
    check_finite_start(position, value, score)
    if step_size is not None:
        _move.step_tree(step_size, jnp.zeros((), jnp.int32), position)
    _move.clip_score(score, score_clip)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    square_avg = None
    if preconditioner is not None:
        check_preconditioner(preconditioner)
        square_avg = jax.tree.map(jnp.zeros_like, position)
    return SGLDState(position, value, score, jnp.zeros((), jnp.int32), square_avg, estimator_state)


def check_preconditioner(preconditioner: Any) -> RMSProp | None:
    """``None`` or an :class:`RMSProp` with ``0 <= decay < 1``, ``eps > 0``, ``freeze_after >= 1``.

    Returns the settings with numpy/JAX scalars made Python numbers.
    """
    if preconditioner is None:
        return None
    if not isinstance(preconditioner, RMSProp):
        raise TypeError(
            f"`preconditioner` must be None or sgld.RMSProp(...); got {describe(preconditioner)}."
        )
    decay, eps, freeze_after = preconditioner
    for value, name in ((decay, "decay"), (eps, "eps")):
        if not is_concrete(value) or isinstance(value, bool | np.bool_) or np.ndim(value) != 0:
            raise TypeError(f"RMSProp `{name}` must be a real number; got {describe(value)}.")
    if not 0.0 <= float(decay) < 1.0:
        raise ValueError(f"RMSProp `decay` must lie in [0, 1); got {decay}.")
    eps = as_positive(eps, "eps")
    if freeze_after is not None:
        freeze_after = as_int(freeze_after, "freeze_after", minimum=1)
    return RMSProp(float(decay), eps, freeze_after)


def _rmsprop_update(
    square_avg: ArrayTree, score: ArrayTree, count: Array, settings: RMSProp
) -> tuple[ArrayTree, ArrayTree]:
    """New running average and the preconditioner ``G`` it gives.

    At the first step the average starts at ``ĝ²`` itself rather than at
    zero, so the first moves are not inflated by ``1 / sqrt(1 - a)``.
    Squares are capped at the dtype's largest finite value: a huge (finite)
    gradient would otherwise make ``V = inf`` for good, ``G = 0`` and freeze
    the chain. With the cap ``G`` stays finite and positive: at least
    ``1 / (λ + sqrt(max))`` and at most ``1 / λ`` (zero gradients).
    """

    def update(v, g):
        big = jnp.finfo(jnp.result_type(g)).max
        g2 = jnp.minimum(jnp.square(g), big)
        avg = jnp.minimum(settings.decay * v + (1 - settings.decay) * g2, big)
        avg = jnp.where(count == 0, g2, avg)
        if settings.freeze_after is not None:
            avg = jnp.where(count < settings.freeze_after, avg, v)
        return avg

    new_avg = jax.tree.map(update, square_avg, score)
    precond = jax.tree.map(lambda v: 1.0 / (settings.eps + jnp.sqrt(v)), new_avg)
    return new_avg, precond


def step(
    key: PRNGKey,
    state: SGLDState,
    gradient_estimator: Estimator,
    step_size: StepSize,
    *,
    temperature: Any = 1.0,
    preconditioner: RMSProp | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> tuple[SGLDState, SGLDInfo]:
    """One SGLD (or pSGLD) step.

    The move uses the estimate ``state.score`` (at ``state.position``); the
    estimate at the point moved to is drawn here, for the next step. Where it,
    the log density estimate or the move is not finite, the chain stays with
    its estimate and the step counts as diverged.

    Parameters
    ----------
    key : a fresh key for this chain and step (split in two when the estimator draws
        a minibatch: the noise, then the batch of the next estimate).
    state : current state.
    gradient_estimator : ``(key, position) -> (logdensity or None, score)``,
        e.g. :func:`jlangevin.gradients.minibatch`.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    temperature : ``T`` scaling the noise variance (a positive scalar).
    preconditioner : ``RMSProp(...)`` for pSGLD, ``None`` for plain SGLD.
    bounds, boundary : box support; moves leaving it are reflected (or clipped).
    score_clip : clip each estimated score coordinate to ``[-score_clip, score_clip]``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> from jlangevin.kernels import sgld
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> state, info = sgld.step(jax.random.key(0), sgld.init(jnp.zeros(2), est), est, 0.01)
    >>> bool(info.diverged)
    False
    """
    check_temperature(temperature)
    _bounds.check_bounds(bounds, boundary)
    check_score_clip(score_clip)
    x = state.position
    if getattr(gradient_estimator, "uses_key", True):  # a minibatch: its own half of the key
        key, key_batch = jax.random.split(key)
    else:
        key_batch = None
    noise = normal_like(key, x)
    score = _move.clip_score(state.score, score_clip)
    base_steps = _move.step_tree(step_size, state.count, x)
    steps = base_steps
    square_avg = state.square_avg
    if preconditioner is not None:
        square_avg, precond = _rmsprop_update(state.square_avg, score, state.count, preconditioner)
        steps = jax.tree.map(lambda h, g: h * g, steps, precond)
    moved = _move.langevin_move(x, score, steps, noise, temperature)
    moved = _bounds.apply_bounds(moved, bounds, boundary)
    value, new_score, estimator_state = estimate(
        gradient_estimator, key_batch, moved, state.estimator_state
    )
    ok = _move.steps_ok(base_steps) & tree_all_finite((moved, new_score))
    if value is not None:
        ok = ok & jnp.isfinite(value)
    position, value, new_score, estimator_state = tree_where(
        ok,
        (moved, value, new_score, estimator_state),
        (x, state.logdensity, state.score, state.estimator_state),
    )
    if square_avg is not None:
        square_avg = tree_where(ok, square_avg, state.square_avg)
    new_state = SGLDState(position, value, new_score, state.count + 1, square_avg, estimator_state)
    return new_state, SGLDInfo(~ok, _move.mean_step(base_steps, x), value)


def as_estimator(
    gradient_estimator: Any, logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> Estimator:
    """The estimator a sampler binds: the one given, or ``full`` of a log density / score."""
    if isinstance(gradient_estimator, GradientEstimator | StatefulGradientEstimator):
        if logdensity_fn is not None or score_fn is not None:
            raise ValueError("Pass either a gradient estimator or `logdensity_fn`/`score_fn`.")
        return gradient_estimator
    if gradient_estimator is not None:
        if not callable(gradient_estimator):
            raise TypeError(
                "`gradient_estimator` must be a GradientEstimator (jl.gradients.minibatch, "
                f"...) or a log density function; got {type(gradient_estimator).__name__}."
            )
        if logdensity_fn is not None:
            raise ValueError("`logdensity_fn` given twice (positionally and by keyword).")
        logdensity_fn = gradient_estimator  # a plain function: the full-data log density
    logdensity_fn, score_fn = checked_fns(logdensity_fn, score_fn)
    return full(logdensity_fn, score_fn=score_fn)


def sampler(
    gradient_estimator: Estimator | LogDensityFn | None = None,
    step_size: StepSize = None,
    *,
    logdensity_fn: LogDensityFn | None = None,
    score_fn: ScoreFn | None = None,
    temperature: Any = 1.0,
    preconditioner: RMSProp | None = None,
    bounds: Bounds | None = None,
    boundary: str = "reflect",
    score_clip: Any | None = None,
) -> Sampler:
    """SGLD bound to a gradient estimator: ``sampler.init(x)``, ``sampler.step(key, state)``.

    ``gradient_estimator`` is a :class:`~jlangevin.gradients.GradientEstimator`
    (``jl.gradients.minibatch(...)``), or a plain log density (full gradient);
    ``score_fn=`` alone works too. The other parameters are those of
    :func:`step`, checked here (``temperature`` a positive finite scalar, the
    ``RMSProp`` settings in range, the rest as in
    :func:`jlangevin.kernels.ula.sampler`) and against the position at ``init``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.minibatch(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, batch_size=10)
    >>> sampler = jl.sgld(est, step_size=jl.schedules.polynomial(1e-3, 1.0, 0.55))
    >>> state, info = sampler.step(jax.random.key(0), sampler.init(jnp.asarray(0.0)))
    """
    estimator = as_estimator(gradient_estimator, logdensity_fn, score_fn)
    check_step_size(step_size)
    _bounds.check_bounds(bounds, boundary)
    check_temperature(temperature)
    check_score_clip(score_clip)
    preconditioner = check_preconditioner(preconditioner)

    return Sampler(
        init=functools.partial(
            init,
            gradient_estimator=estimator,
            preconditioner=preconditioner,
            bounds=bounds,
            step_size=step_size,
            score_clip=score_clip,
        ),
        step=functools.partial(
            step,
            gradient_estimator=estimator,
            step_size=step_size,
            temperature=temperature,
            preconditioner=preconditioner,
            bounds=bounds,
            boundary=boundary,
            score_clip=score_clip,
        ),
    )


__all__ = [
    "INIT_KEY_SEED",
    "RMSProp",
    "SGLDInfo",
    "SGLDState",
    "check_preconditioner",
    "init",
    "sampler",
    "step",
]
