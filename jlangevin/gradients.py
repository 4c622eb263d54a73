"""Scores and gradient estimators.

A *gradient estimator* is a function ``(key, position) -> (logdensity, score)``
returning an (unbiased, for the minibatch ones) estimate of the log density
(or ``None``) and of its gradient. SGLD consumes one per step; the key it gets
is derived from the step's key, so the minibatch is drawn inside the compiled
loop and chunked runs reproduce one-shot runs exactly.

- :func:`full`: the exact full-data gradient (no randomness), for comparisons.
- :func:`minibatch`: ``logprior + (N / n) * sum over a random batch of loglik``.
- :func:`control_variates`: the minibatch estimate re-centred at a fixed point
  ``c`` (Baker et al. 2019), whose variance vanishes as the chain nears ``c``.
- :func:`from_energy`: ``log p = -E`` for energy-based models.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, ScoreFn

EstimateFn = Callable[[PRNGKey, ArrayTree], tuple[Array | None, ArrayTree]]


ValueAndScoreFn = Callable[[ArrayTree], tuple[Array | None, ArrayTree]]


def _scalar_checked(logdensity_fn: LogDensityFn) -> LogDensityFn:
    """The same function, raising a clear error (at trace time) for a non-scalar output."""

    def checked(position: ArrayTree) -> Array:
        value = logdensity_fn(position)
        if jnp.shape(value) != ():
            raise ValueError(
                "`logdensity_fn` must return a scalar for a single position; it returned shape "
                f"{jnp.shape(value)}. (jl.run vmaps over chains itself: write the density of one.)"
            )
        return value

    return checked


def value_and_score_fn(
    logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> ValueAndScoreFn:
    """``position -> (logdensity or None, score)`` with one gradient evaluation.

    With ``logdensity_fn`` the score comes from ``jax.value_and_grad``. With
    ``score_fn`` alone (a learned score, say) the log density is ``None``.
    Given both, ``score_fn`` is used for the score and ``logdensity_fn`` for the
    value (for MALA's ratio).
    """
    if logdensity_fn is None and score_fn is None:
        raise ValueError("Pass `logdensity_fn` or `score_fn` (a function of the position).")
    if logdensity_fn is not None and not callable(logdensity_fn):
        raise TypeError(f"`logdensity_fn` must be callable; got {type(logdensity_fn).__name__}.")
    if score_fn is not None and not callable(score_fn):
        raise TypeError(f"`score_fn` must be callable; got {type(score_fn).__name__}.")
    if score_fn is None:
        return jax.value_and_grad(_scalar_checked(logdensity_fn))
    if logdensity_fn is None:
        return lambda position: (None, score_fn(position))
    return lambda position: (logdensity_fn(position), score_fn(position))


def check_position(position: ArrayTree, name: str = "position") -> None:
    """Every leaf must be a floating-point array."""
    leaves = jax.tree.leaves(position)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree; it needs at least one array leaf.")
    for leaf in leaves:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"`{name}` leaves must be floating-point arrays; got dtype {dtype} "
                f"(use e.g. jnp.asarray(x, float))."
            )


class GradientEstimator(NamedTuple):
    """A stochastic (or exact) ``(key, position) -> (logdensity, score)`` estimate.

    Attributes
    ----------
    estimate : the function itself; calling the estimator calls it.
    num_data : size ``N`` of the full data set (``None`` for :func:`full`).
    batch_size : size ``n`` of each minibatch (``None`` for :func:`full`).
    uses_key : whether ``estimate`` draws anything from its key; SGLD skips
        splitting the step's key for one that does not (one random-number pass
        less per chain and step).
    """

    estimate: EstimateFn
    num_data: int | None = None
    batch_size: int | None = None
    uses_key: bool = True

    def __call__(self, key: PRNGKey, position: ArrayTree) -> tuple[Array | None, ArrayTree]:
        return self.estimate(key, position)


def from_energy(energy_fn: Callable[[ArrayTree], Array]) -> LogDensityFn:
    """Log density of ``p(x) ∝ exp(-E(x))``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = jl.from_energy(lambda x: 0.5 * jnp.sum(x**2))
    >>> float(logp(jnp.ones(2)))
    -1.0
    """
    if not callable(energy_fn):
        raise TypeError(f"`energy_fn` must be callable; got {type(energy_fn).__name__}.")

    def logdensity_fn(position: ArrayTree) -> Array:
        return -energy_fn(position)

    return logdensity_fn


def full(
    logdensity_fn: LogDensityFn | None = None, *, score_fn: ScoreFn | None = None
) -> GradientEstimator:
    """The exact gradient as an estimator (ignores its key).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> est(jax.random.key(0), jnp.ones(2))[1]
    Array([-1., -1.], dtype=float32)
    """
    value_and_score = value_and_score_fn(logdensity_fn, score_fn)
    return GradientEstimator(lambda key, position: value_and_score(position), uses_key=False)


def _num_data(data: ArrayTree) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("`data` is an empty pytree; it needs arrays with a leading data axis.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            "`data` leaves must share one leading axis (the data points); got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    return sizes.pop()


def _check_batch(batch_size: Any, num_data: int, replace: bool) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size!r}.")
    if not replace and batch_size > num_data:
        raise ValueError(
            f"`batch_size`={batch_size} exceeds the {num_data} data points "
            "(sampling without replacement); lower it or pass replace=True."
        )
    return batch_size


def _draw_batch(key: PRNGKey, data: ArrayTree, num_data: int, n: int, replace: bool) -> ArrayTree:
    if not replace and n == num_data:
        return data  # the whole data set: no permutation needed
    if replace:
        index = jax.random.randint(key, (n,), 0, num_data)
    else:
        index = jax.random.choice(key, num_data, (n,), replace=False)
    return jax.tree.map(lambda leaf: jnp.take(leaf, index, axis=0), data)


def _batch_loglik(loglik: Callable, position: ArrayTree, batch: ArrayTree) -> Array:
    return jnp.sum(jax.vmap(loglik, in_axes=(None, 0))(position, batch))


def minibatch(
    logprior_fn: LogDensityFn,
    loglik_fn: Callable[[ArrayTree, Any], Array],
    data: ArrayTree,
    batch_size: int,
    *,
    replace: bool = False,
) -> GradientEstimator:
    """Unbiased minibatch estimate of the log posterior and its gradient.

    ``log p(θ | data) = logprior(θ) + Σ_i loglik(θ, x_i)`` is estimated by
    ``logprior(θ) + (N / n) Σ_{i in B} loglik(θ, x_i)`` over a batch ``B`` of ``n``
    points drawn from the step's key (uniformly, without replacement by
    default: a random subset each step; ``replace=True`` is cheaper for huge N).

    Parameters
    ----------
    logprior_fn : ``position -> log prior``.
    loglik_fn : ``(position, x_i) -> log likelihood of one data point``.
    data : pytree whose leaves share a leading axis of ``N`` data points.
    batch_size : ``n``, points per estimate.
    replace : draw the batch with replacement.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.minibatch(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, batch_size=10)
    >>> value, score = est(jax.random.key(0), jnp.asarray(0.0))
    """
    if not callable(logprior_fn) or not callable(loglik_fn):
        raise TypeError("`logprior_fn` and `loglik_fn` must both be callable.")
    num_data = _num_data(data)
    n = _check_batch(batch_size, num_data, replace)
    scale = num_data / n

    def estimate_logdensity(position: ArrayTree, batch: ArrayTree) -> Array:
        return logprior_fn(position) + scale * _batch_loglik(loglik_fn, position, batch)

    value_and_grad = jax.value_and_grad(estimate_logdensity)

    def estimate(key: PRNGKey, position: ArrayTree) -> tuple[Array, ArrayTree]:
        return value_and_grad(position, _draw_batch(key, data, num_data, n, replace))

    return GradientEstimator(estimate, num_data, n)


def control_variates(
    logprior_fn: LogDensityFn,
    loglik_fn: Callable[[ArrayTree, Any], Array],
    data: ArrayTree,
    batch_size: int,
    centering_position: ArrayTree,
    *,
    replace: bool = False,
) -> GradientEstimator:
    """Minibatch estimate with a control variate at ``centering_position``.

    With ``c`` the centre (a posterior mode, typically found by optax first)::

        logprior(θ) + Σ_i ll(θ_c, x_i) + (N/n) Σ_{i in B} [ll(θ, x_i) - ll(c, x_i)]

    The full-data sums at ``c`` are computed once, here. Unbiased like
    :func:`minibatch`, with a variance that shrinks as ``θ`` nears ``c``
    (Baker, Fearnhead, Fox & Nemeth 2019, "Control variates for stochastic
    gradient MCMC"). Costs two batch gradients per step.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.control_variates(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, 10, jnp.asarray(0.0))
    """
    if not callable(logprior_fn) or not callable(loglik_fn):
        raise TypeError("`logprior_fn` and `loglik_fn` must both be callable.")
    num_data = _num_data(data)
    n = _check_batch(batch_size, num_data, replace)
    check_position(centering_position, "centering_position")
    scale = num_data / n
    centre = centering_position
    full_value, full_score = jax.jit(
        jax.value_and_grad(lambda p: _batch_loglik(loglik_fn, p, data))
    )(centre)

    def batch_value_and_grad(position: ArrayTree, batch: ArrayTree):
        return jax.value_and_grad(lambda p: _batch_loglik(loglik_fn, p, batch))(position)

    prior_value_and_grad = jax.value_and_grad(logprior_fn)

    def estimate(key: PRNGKey, position: ArrayTree) -> tuple[Array, ArrayTree]:
        batch = _draw_batch(key, data, num_data, n, replace)
        value_here, score_here = batch_value_and_grad(position, batch)
        value_centre, score_centre = batch_value_and_grad(centre, batch)
        prior_value, prior_score = prior_value_and_grad(position)
        value = prior_value + full_value + scale * (value_here - value_centre)
        score = jax.tree.map(
            lambda p, f, h, c: p + f + scale * (h - c),
            prior_score,
            full_score,
            score_here,
            score_centre,
        )
        return value, score

    return GradientEstimator(estimate, num_data, n)


__all__ = ["GradientEstimator", "control_variates", "from_energy", "full", "minibatch"]
