"""Metropolis-adjusted Langevin algorithm (MALA).

The Langevin move is used as a proposal::

    y = x + h * s(x) + sqrt(2 h) * xi,   xi ~ N(0, I),   s = grad log p

and accepted with probability ``min(1, p(y) q(x | y) / (p(x) q(y | x)))``, where
``q(y | x) = N(y; x + h s(x), 2 h)`` uses the same (possibly per-coordinate)
step ``h`` as the move, so a diagonal preconditioner keeps the chain exact.
Everything is computed in log space. The state carries the log density and
score of the current point: one ``value_and_grad`` per step.

Exactness is kept under every option: with ``bounds`` a proposal outside the
box is rejected (never reflected); with ``score_clip`` the clipped drift enters
both proposal densities; a non-finite proposal is rejected and reported in
``info.diverged``.

Dense preconditioning: with ``cholesky=L`` (the lower Cholesky factor of a
preconditioner ``M = L Lᵀ``, acting on the position raveled to a vector by
:func:`jax.flatten_util.ravel_pytree`) and a scalar step ``h``, the proposal is::

    y = x + h M s(x) + sqrt(2 h) L xi,   q(y | x) = N(y; x + h M s(x), 2 h M)

and both directions of the ratio use that ``q``. Choosing ``M`` close to the
target's covariance removes correlations no diagonal step can (see
:func:`jlangevin.adaptation.warmup`). The cost per step is one
``value_and_grad`` and three matrix-vector products: the reverse density
whitens with ``L⁻¹``, computed once (in float64, on the host) when ``L`` is
concrete, as when the sampler is built, rather than by a triangular solve per
chain and step (batched over chains, that solve is many times slower on CPU
than a product). A traced ``L`` (a metric being adapted in warm-up) is inverted
in the traced code, one ``solve_triangular(L, I)`` per step, outside the
per-chain ``vmap`` when ``L`` is shared by the chains.

The accept step is :func:`jlangevin.kernels._metropolis.metropolis_hastings`,
shared with every exact kernel; the step draws its normals and its uniform in
one ``jax.random.bits`` call on its key (:func:`jlangevin.kernels._move.draw`).

References
----------
G. O. Roberts and R. L. Tweedie (1996). Exponential convergence of Langevin
distributions and their discrete approximations. Bernoulli 2(4).
M. Girolami and B. Calderhead (2011). Riemann manifold Langevin and Hamiltonian
Monte Carlo methods. JRSS B 73(2) (the constant-metric case used here).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    check_callable,
    check_real,
    check_score_clip,
    check_step_size,
    checked_init,
    checked_value_and_score,
    require_logdensity,
)
from jlangevin.kernels._metropolis import log_uniform_of, metropolis_hastings
from jlangevin.kernels._tree import (
    is_concrete,
    tree_all_finite,
    tree_squared_norm,
    tree_sum,
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
    Tuning,
)


class MALAState(NamedTuple):
    """State of one MALA chain: position, its log density and score, step count."""

    position: ArrayTree
    logdensity: Array
    score: ArrayTree
    count: Array


class MALAInfo(NamedTuple):
    """What one MALA step reports.

    Attributes
    ----------
    acceptance_rate : ``min(1, exp(log_alpha))``, the Metropolis–Hastings acceptance
        probability of this step's proposal (0 for a rejected-by-rule proposal).
    is_accepted : whether the proposal was accepted.
    diverged : the proposal could not be judged: its position, its score or the
        acceptance ratio was non-finite (a log density of NaN or ``+inf`` included;
        ``-inf`` at a finite point inside the bounds is an ordinary rejection), or
        the step was not positive and finite. It was rejected; the chain is unharmed.
    step_size : the step used (its mean over coordinates when per-coordinate).
    logdensity : log density at the state after the step.
    """

    acceptance_rate: Array
    is_accepted: Array
    diverged: Array
    step_size: Array
    logdensity: Array


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn,
    *,
    score_fn: ScoreFn | None = None,
    cholesky: Array | None = None,
    bounds: Bounds | None = None,
    step_size: StepSize | None = None,
    score_clip: Any | None = None,
) -> MALAState:
    """Initial state at ``position`` (one chain).

    ``cholesky``, ``step_size``, ``score_clip`` and ``bounds``, when the sampler
    will use them, are checked here against the shapes of the position.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import mala
    >>> state = mala.init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2))
    >>> float(state.logdensity)
    -1.0
    """
    require_logdensity(logdensity_fn, "MALA")
    _bounds.check_inside(position, bounds)
    value, score = checked_init(position, logdensity_fn, score_fn)
    if cholesky is not None:
        check_cholesky(cholesky)
        size = ravel_pytree(position)[0].size
        if np.shape(cholesky) != (size, size):
            raise ValueError(
                f"`cholesky` must be ({size}, {size}) for a position of total size {size}; "
                f"got shape {np.shape(cholesky)}."
            )
    if step_size is not None:
        if cholesky is None:
            _move.step_tree(step_size, jnp.zeros((), jnp.int32), position)
        else:
            _scalar_step(step_size, jnp.zeros((), jnp.int32), position)
    _move.clip_score(score, score_clip)
    value, score = _bounds.mask_outside(position, bounds, value, score)
    return MALAState(position, value, score, jnp.zeros((), jnp.int32))


def proposal_logdensity(
    to: ArrayTree, start: ArrayTree, drift_at_start: ArrayTree, steps: ArrayTree
) -> Array:
    """``log q(to | start)`` up to a constant that cancels between directions.

    ``q(to | start) = N(to; start + h * drift(start), 2 h)`` coordinate-wise; the
    normalising ``-0.5 log(4 pi h)`` is the same both ways and is dropped.
    """

    def term(y, x, d, h):
        return jnp.sum((y - x - h * d) ** 2 / (4 * h))

    return -tree_sum(jax.tree.map(term, to, start, drift_at_start, steps))


def _scalar_step(step_size: StepSize, count: Array, position: ArrayTree) -> Array:
    """The (scalar) step at ``count``, typed like the raveled position."""
    value = _move.step_size_at(step_size, count)
    if callable(value) or np.ndim(value) != 0:
        raise ValueError(
            "With `cholesky`, `step_size` must be a scalar (the preconditioner carries the "
            f"per-coordinate scales); got shape {np.shape(value)}."
        )
    check_real(value, "step_size")
    return jnp.asarray(value, ravel_pytree(position)[0].dtype)


def _dense_move(
    x: ArrayTree, drift: ArrayTree, h: Array, lower: Array, noise: ArrayTree
) -> ArrayTree:
    """``x + h L Lᵀ drift + sqrt(2 h) L xi`` on the raveled position (``lower`` = ``L``)."""
    flat_x, unravel = ravel_pytree(x)
    flat_drift, flat_noise = ravel_pytree(drift)[0], ravel_pytree(noise)[0]
    flat_y = flat_x + h * (lower @ (lower.T @ flat_drift)) + jnp.sqrt(2 * h) * (lower @ flat_noise)
    return unravel(flat_y)


def inverse_cholesky(cholesky: Array) -> Array:
    """``L⁻¹`` for the lower triangle ``L`` of ``cholesky``, itself lower triangular.

    A concrete factor is inverted once on the host in float64 (a numpy array
    comes back; cast it to the position's dtype to use it), so no triangular
    solve reaches the compiled step. A traced one (a metric adapted inside a
    compiled warm-up) is inverted in the traced code by one
    ``solve_triangular(L, I)``; under ``vmap`` over chains with ``L`` shared,
    that solve is not batched.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.kernels import mala
    >>> mala.inverse_cholesky(np.array([[2.0, 0.0], [1.0, 4.0]])).tolist()
    [[0.5, 0.0], [-0.125, 0.25]]
    """
    check_cholesky(cholesky)
    if is_concrete(cholesky):
        lower = np.tril(np.asarray(cholesky, np.float64))
        return np.tril(np.linalg.solve(lower, np.eye(lower.shape[0])))
    lower = jnp.tril(cholesky)
    eye = jnp.eye(lower.shape[0], dtype=lower.dtype)
    return jax.scipy.linalg.solve_triangular(lower, eye, lower=True)


def _dense_factors(cholesky: Array, inverse: Array | None, dtype: Any) -> tuple[Array, Array]:
    """``(L, L⁻¹)`` in ``dtype``: host arrays made constants when ``cholesky`` is concrete."""
    if inverse is None:
        inverse = inverse_cholesky(cholesky)
    if is_concrete(cholesky):
        lower = np.tril(np.asarray(cholesky)).astype(dtype)
    else:
        lower = jnp.tril(jnp.asarray(cholesky, dtype))
    return jnp.asarray(lower, dtype), jnp.asarray(inverse, dtype)


def dense_proposal_logdensity(
    to: ArrayTree,
    start: ArrayTree,
    drift_at_start: ArrayTree,
    step_size: Array,
    cholesky: Array,
    inverse: Array | None = None,
) -> Array:
    """``log q(to | start)`` for ``q = N(start + h M drift(start), 2 h M)``, ``M = L Lᵀ``.

    Up to the normalising constant, the same in both directions. Whitened:
    ``L⁻¹(to - start - h M d) = L⁻¹(to - start) - h Lᵀ d``: two matrix-vector
    products given ``inverse`` (``L⁻¹``, e.g. from :func:`inverse_cholesky`),
    else a triangular solve and a product.
    """
    flat_to, _ = ravel_pytree(to)
    flat_start = ravel_pytree(start)[0]
    flat_drift = ravel_pytree(drift_at_start)[0]
    lower = jnp.tril(jnp.asarray(cholesky, flat_to.dtype))
    if inverse is None:
        white = jax.scipy.linalg.solve_triangular(lower, flat_to - flat_start, lower=True)
    else:
        white = jnp.asarray(inverse, flat_to.dtype) @ (flat_to - flat_start)
    white = white - step_size * (lower.T @ flat_drift)
    return -jnp.sum(white**2) / (4 * step_size)


def check_cholesky(cholesky: Any, name: str = "cholesky") -> None:
    """Reject a factor that is not a lower-triangular square matrix with a positive finite diagonal.

    A concrete matrix with a non-zero entry above its diagonal is refused (not
    cut to its lower triangle: a covariance passed where its factor belongs
    would otherwise sample the wrong metric without a word). Entries above the
    diagonal up to ``64 · eps · max |L|`` are round-off and allowed. A traced
    factor is checked for its shape only.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.kernels.mala import check_cholesky
    >>> check_cholesky(np.array([[2.0, 0.0], [1.0, 1.0]]))  # lower triangular: fine
    >>> check_cholesky(np.array([[2.0, 1.0], [1.0, 1.0]]))
    Traceback (most recent call last):
    ...
    ValueError: `cholesky` must be lower triangular (a Cholesky factor L, M = L Lᵀ); got a non-zero entry above the diagonal: [0, 1] = 1 (the largest of 1). For a dense matrix M pass np.linalg.cholesky(M).
    """  # noqa: E501
    if cholesky is None:
        return
    shape = np.shape(cholesky)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise ValueError(f"`{name}` must be a square (d, d) matrix; got shape {shape}.")
    if is_concrete(cholesky):
        arr = np.asarray(cholesky)
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"`{name}` must be a floating-point matrix; got dtype {arr.dtype}.")
        lower = np.tril(arr)
        if not np.all(np.isfinite(lower)) or np.any(np.diag(lower) <= 0):
            raise ValueError(
                f"`{name}` must be a lower Cholesky factor: finite, with a positive diagonal."
            )
        upper = np.abs(np.triu(arr, 1))
        tolerance = 64 * np.finfo(arr.dtype).eps * float(np.max(np.abs(lower)))
        if not np.all(upper <= tolerance):  # NaN above the diagonal is refused too
            i, j = np.unravel_index(np.argmax(np.where(np.isnan(upper), np.inf, upper)), shape)
            count = int(np.sum(~(upper <= tolerance)))
            raise ValueError(
                f"`{name}` must be lower triangular (a Cholesky factor L, M = L Lᵀ); got a "
                f"non-zero entry above the diagonal: [{i}, {j}] = {arr[i, j]:.4g} (the largest "
                f"of {count}). For a dense matrix M pass np.linalg.cholesky(M)."
            )


def step(
    key: PRNGKey,
    state: MALAState,
    logdensity_fn: LogDensityFn,
    step_size: StepSize,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
    cholesky: Array | None = None,
    inverse: Array | None = None,
) -> tuple[MALAState, MALAInfo]:
    """One MALA step.

    Parameters
    ----------
    key : a fresh key for this chain and step (one draw: the normals' words, then the uniform's).
    state : current state.
    logdensity_fn : ``position -> log p`` up to a constant.
    step_size : ``h``: scalar, per-coordinate array/pytree, or ``count -> h`` schedule.
    score_fn : optional exact score, used instead of ``jax.grad(logdensity_fn)``.
    bounds : ``(low, high)``: proposals outside the box are rejected.
    score_clip : clip each drift coordinate to ``[-score_clip, score_clip]``.
    cholesky : optional lower-triangular ``(d, d)`` factor ``L`` of a dense
        preconditioner ``M = L Lᵀ`` over the raveled position (``d`` = its total
        size); ``step_size`` must then be a scalar (or a scalar schedule). Only
        the lower triangle is read.
    inverse : optional ``L⁻¹`` (:func:`inverse_cholesky`; :func:`sampler` passes
        it, computed once). Left out, it is computed here: on the host when
        ``cholesky`` is concrete, by one triangular solve when it is traced.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mala
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = mala.init(jnp.zeros(2), logp)
    >>> state, info = mala.step(jax.random.key(0), state, logp, 0.5)
    >>> info.is_accepted.dtype
    dtype('bool')
    >>> chol = jnp.array([[1.0, 0.0], [0.5, 0.8]])
    >>> state, info = mala.step(jax.random.key(1), state, logp, 0.5, cholesky=chol)
    """
    value_and_score = checked_value_and_score(logdensity_fn, score_fn)
    _bounds.check_bounds(bounds)
    check_score_clip(score_clip)
    check_cholesky(cholesky)
    if inverse is not None and cholesky is None:
        raise ValueError("`inverse` (of a Cholesky factor) needs `cholesky` as well.")
    if inverse is not None and np.shape(inverse) != np.shape(cholesky):
        raise ValueError(
            f"`inverse` must have the shape of `cholesky`, {np.shape(cholesky)}; "
            f"got {np.shape(inverse)}."
        )
    x = state.position
    drift_x = _move.clip_score(state.score, score_clip)
    # One draw from the key: the noise's words, then the uniform's (no split, see keys.py).
    uniform_dtype = jnp.result_type(state.logdensity, *jax.tree.leaves(x))
    noise, uniform = _move.draw(key, x, uniform_dtype)
    if cholesky is None:
        steps = _move.step_tree(step_size, state.count, x)
        y = _move.langevin_move(x, drift_x, steps, noise)
        mean_step = _move.mean_step(steps, x)
    else:
        h = _scalar_step(step_size, state.count, x)
        lower, inverse = _dense_factors(cholesky, inverse, h.dtype)
        y = _dense_move(x, drift_x, h, lower, noise)
        steps = h
        mean_step = h
    value_y, score_y = value_and_score(y)
    drift_y = _move.clip_score(score_y, score_clip)
    # log q(y|x) = -|xi|^2/2 exactly; computing it from xi avoids cancellation.
    log_q_forward = -0.5 * tree_squared_norm(noise)
    if cholesky is None:
        log_q_backward = proposal_logdensity(x, y, drift_y, steps)
    else:
        log_q_backward = dense_proposal_logdensity(x, y, drift_y, h, lower, inverse)
    log_alpha = value_y - state.logdensity + log_q_backward - log_q_forward

    # A move with a non-finite drift (the score at x, say -inf) or a bad step (a schedule
    # gone non-positive) is no proposal at all: it diverged (checking the drift rather than
    # y keeps the fusion, and so the bits, of the normal step). So did a proposal whose
    # score or ratio is not finite, except at log p = -inf (an honest rejection, outside
    # the support); a clipped drift hides an infinite score from log_alpha, so the score
    # itself is checked.
    sound = _move.steps_ok(steps) & tree_all_finite(drift_x)
    inside = _bounds.within_bounds(y, bounds)
    finite = jnp.isfinite(log_alpha) & tree_all_finite(score_y)
    diverged = ~sound | (inside & ~finite & ~(value_y == -jnp.inf))
    log_alpha = jnp.where(sound & inside & finite, log_alpha, -jnp.inf)

    proposal = MALAState(y, value_y, score_y, state.count + 1)
    current = MALAState(x, state.logdensity, state.score, state.count + 1)
    log_u = log_uniform_of(uniform)
    new_state, acceptance = metropolis_hastings(log_u, log_alpha, proposal, current)
    info = MALAInfo(
        acceptance_rate=acceptance.acceptance_rate,
        is_accepted=acceptance.is_accepted,
        diverged=diverged,
        step_size=mean_step,
        logdensity=new_state.logdensity,
    )
    return new_state, info


def sampler(
    logdensity_fn: LogDensityFn,
    step_size: StepSize = None,
    *,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
    score_clip: Any | None = None,
    cholesky: Array | None = None,
) -> Sampler:
    """MALA bound to a target: ``sampler.init(position)``, ``sampler.step(key, state)``.

    ``cholesky=L`` turns on the dense preconditioner ``M = L Lᵀ`` (see
    :func:`step`); ``step_size`` is then a scalar. A concrete ``L`` is inverted
    here, once (:func:`inverse_cholesky`). Leaving it out keeps the
    scalar / per-coordinate step exactly as before. The settings are checked
    here as in :func:`jlangevin.kernels.ula.sampler`, and against the position's
    shapes at ``init``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> state = sampler.init(jnp.zeros(3))
    >>> state, info = jax.jit(sampler.step)(jax.random.key(0), state)
    >>> dense = jl.mala(lambda x: -0.5 * jnp.sum(x**2), 0.5, cholesky=jnp.eye(3))
    """
    if logdensity_fn is None or not callable(logdensity_fn):
        raise TypeError("`logdensity_fn` must be a callable `position -> log p` for MALA.")
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
    check_step_size(step_size)
    _bounds.check_bounds(bounds)
    check_score_clip(score_clip)
    check_cholesky(cholesky)
    if cholesky is not None and not callable(step_size) and np.ndim(step_size) != 0:
        raise ValueError(
            "With `cholesky`, `step_size` must be a scalar (the preconditioner carries the "
            f"per-coordinate scales); got shape {np.shape(step_size)}."
        )
    # Inverted once here, so that the compiled step holds matrix products only.
    inverse = None if cholesky is None else inverse_cholesky(cholesky)

    return Sampler(
        init=functools.partial(
            init,
            logdensity_fn=logdensity_fn,
            score_fn=score_fn,
            cholesky=cholesky,
            bounds=bounds,
            step_size=step_size,
            score_clip=score_clip,
        ),
        step=functools.partial(
            step,
            logdensity_fn=logdensity_fn,
            step_size=step_size,
            score_fn=score_fn,
            bounds=bounds,
            score_clip=score_clip,
            cholesky=cholesky,
            inverse=inverse,
        ),
    )


# --------------------------------------------------------------------------- #
# Tuning declaration: what jlangevin.adaptation.warmup may adapt
# --------------------------------------------------------------------------- #
def _tuned_init(position, logdensity_fn, *, score_fn=None, bounds=None) -> MALAState:
    return init(position, logdensity_fn, score_fn=score_fn, bounds=bounds)


def _tuned_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """MALA with ``h = ε M``: ``h_i = ε scale_i²`` (diagonal) or ``cholesky = R`` (dense)."""
    metric = params.metric
    if metric.is_dense:
        new, info = step(
            key,
            state,
            logdensity_fn,
            params.step_size,
            score_fn=score_fn,
            bounds=bounds,
            cholesky=metric.lower,
            inverse=metric.inverse,
        )
    else:
        steps = ravel_pytree(state.position)[1](params.step_size * metric.scale**2)
        new, info = step(key, state, logdensity_fn, steps, score_fn=score_fn, bounds=bounds)
    return new, info, None


def _tuned_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None) -> Sampler:
    metric = params.metric
    if metric.is_dense:
        return sampler(
            logdensity_fn, params.step_size, score_fn=score_fn, bounds=bounds, cholesky=metric.lower
        )
    steps = ravel_pytree(position)[1](params.step_size * metric.scale**2)
    return sampler(logdensity_fn, steps, score_fn=score_fn, bounds=bounds)


#: MALA's tuning declaration: step size and metric; target acceptance 0.574, optimal
#: in high dimension (Roberts & Rosenthal 1998).
tuning = Tuning("mala", _tuned_init, _tuned_step, _tuned_sampler, 0.574)
sampler.tuning = tuning

__all__ = [
    "tuning",
    "MALAInfo",
    "MALAState",
    "check_cholesky",
    "dense_proposal_logdensity",
    "init",
    "inverse_cholesky",
    "proposal_logdensity",
    "sampler",
    "step",
]
