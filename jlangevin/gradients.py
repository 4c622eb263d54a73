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
- :func:`svrg`: the minibatch estimate re-centred at an anchor that follows
  the chain, with a full-data pass every ``update_every`` calls (Dubey et al.
  2016). It carries state between calls (a :class:`StatefulGradientEstimator`:
  ``(key, position, state) -> (logdensity, score, state)``), which the sampler
  keeps per chain; ``jlangevin.kernels.sghmc`` takes it.
- :func:`from_energy`: ``log p = -E`` for energy-based models.

The small input checks at the end of the module (:func:`as_int`,
:func:`as_real`, :func:`as_positive`, :func:`check_key`) are shared with the
targets and the warm-up: numpy and JAX scalars count as numbers everywhere a
Python number does, and every error names the argument.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_int, check_key, describe
from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, ScoreFn

EstimateFn = Callable[[PRNGKey, ArrayTree], tuple[Array | None, ArrayTree]]


ValueAndScoreFn = Callable[[ArrayTree], tuple[Array | None, ArrayTree]]


# --------------------------------------------------------------------------- #
# Input checks (concrete values; each error names the argument)
# --------------------------------------------------------------------------- #
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


def _check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"`{name}` must be callable; got {type(fn).__name__}.")


def _check_finite_tree(tree: ArrayTree, name: str) -> None:
    """Concrete floating leaves must be finite (traced ones are skipped)."""
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.core.Tracer):
            continue
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"`{name}` holds {bad} non-finite (NaN or inf) values.")


def _float_dtype(tree: ArrayTree) -> Any:
    """The floating dtype the leaves of a position promote to."""
    return jnp.result_type(*jax.tree.leaves(tree))


def _scalar_checked(logdensity_fn: LogDensityFn, name: str = "logdensity_fn") -> LogDensityFn:
    """The same function, raising a clear error (at trace time) for a non-scalar output."""

    def checked(position: ArrayTree) -> Array:
        value = logdensity_fn(position)
        if jnp.shape(value) != ():
            raise ValueError(
                f"`{name}` must return a scalar for a single position; it returned shape "
                f"{jnp.shape(value)}. (jl.run vmaps over chains itself: write the density of one.)"
            )
        return value

    return checked


# --------------------------------------------------------------------------- #
# Exact scores
# --------------------------------------------------------------------------- #
def value_and_score_fn(
    logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> ValueAndScoreFn:
    """``position -> (logdensity or None, score)`` with one gradient evaluation.

    With ``logdensity_fn`` the score comes from ``jax.value_and_grad``. With
    ``score_fn`` alone (a learned score, say) the log density is ``None``.
    Given both, ``score_fn`` is used for the score and ``logdensity_fn`` for the
    value (for MALA's ratio).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.gradients import value_and_score_fn
    >>> value, score = value_and_score_fn(lambda x: -0.5 * jnp.sum(x**2), None)(jnp.ones(2))
    >>> float(value), score.tolist()
    (-1.0, [-1.0, -1.0])
    """
    if logdensity_fn is None and score_fn is None:
        raise ValueError("Pass `logdensity_fn` or `score_fn` (a function of the position).")
    if logdensity_fn is not None:
        _check_callable(logdensity_fn, "logdensity_fn")
    if score_fn is not None:
        _check_callable(score_fn, "score_fn")
    if score_fn is None:
        return jax.value_and_grad(_scalar_checked(logdensity_fn))
    if logdensity_fn is None:
        return lambda position: (None, score_fn(position))
    return lambda position: (logdensity_fn(position), score_fn(position))


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
    _check_callable(energy_fn, "energy_fn")
    checked = _scalar_checked(energy_fn, "energy_fn")

    def logdensity_fn(position: ArrayTree) -> Array:
        return -checked(position)

    return logdensity_fn


def full(
    logdensity_fn: LogDensityFn | None = None, *, score_fn: ScoreFn | None = None
) -> GradientEstimator:
    """The exact gradient as an estimator (ignores its key).

    The same functions give the same estimator (cached on their identity), so
    samplers built anew from one ``logdensity_fn`` share ``jl.run``'s compiled loop.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin import gradients
    >>> est = gradients.full(lambda x: -0.5 * jnp.sum(x**2))
    >>> est(jax.random.key(0), jnp.ones(2))[1]
    Array([-1., -1.], dtype=float32)
    """
    try:
        return _full_cached(logdensity_fn, score_fn)
    except TypeError as err:  # an unhashable callable: built afresh
        if "unhashable" not in str(err):
            raise
        return _full(logdensity_fn, score_fn)


def _full(logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None) -> GradientEstimator:
    value_and_score = value_and_score_fn(logdensity_fn, score_fn)
    return GradientEstimator(lambda key, position: value_and_score(position), uses_key=False)


_full_cached = functools.lru_cache(maxsize=256)(_full)


# --------------------------------------------------------------------------- #
# Data and batches
# --------------------------------------------------------------------------- #
def _as_data(data: Any) -> ArrayTree:
    """Data as a pytree of arrays; a (nested) list or tuple of numbers is one array."""
    leaves = jax.tree.leaves(data)
    if isinstance(data, list | tuple) and leaves and all(np.ndim(x) == 0 for x in leaves):
        data = np.asarray(data)
    for leaf in jax.tree.leaves(data):
        if isinstance(leaf, jax.core.Tracer):
            continue
        dtype = np.asarray(leaf).dtype
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise TypeError(f"`data` leaves must be numeric arrays; got dtype {dtype}.")
    _check_finite_tree(data, "data")
    return jax.tree.map(jnp.asarray, data)


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
    num_data = sizes.pop()
    if num_data == 0:
        raise ValueError("`data` holds no data points (its leading axis has length 0).")
    return num_data


def _check_batch(batch_size: Any, num_data: int, replace: Any) -> int:
    n = as_int(batch_size, "batch_size", minimum=1)
    if not isinstance(replace, bool | np.bool_):
        raise TypeError(f"`replace` must be True or False; got {describe(replace)}.")
    if not replace and n > num_data:
        raise ValueError(
            f"`batch_size`={n} exceeds the {num_data} data points "
            "(sampling without replacement); lower it or pass replace=True."
        )
    return n


#: Batches up to this size find repeated draws by comparing all pairs (fast for
#: small ``n``); larger ones by a sort, ``O(n log n)``.
_PAIRWISE_MAX = 128


def _repeats(draws: Array) -> Array:
    """``repeat[i]``: ``draws[i]`` equals some ``draws[k]`` with ``k < i``."""
    n = draws.shape[0]
    if n <= _PAIRWISE_MAX:
        earlier = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]
        return jnp.any((draws[:, None] == draws[None, :]) & earlier, axis=1)
    order = jnp.argsort(draws, stable=True)  # equal draws stay in index order
    ranked = draws[order]
    repeat = jnp.concatenate([jnp.zeros(1, bool), ranked[1:] == ranked[:-1]])
    return jnp.zeros(n, bool).at[order].set(repeat)


def distinct_indices(key: PRNGKey, num_data: int, batch_size: int) -> Array:
    """A uniformly random subset of ``batch_size`` indices of ``range(num_data)``.

    Floyd's algorithm (Bentley & Floyd 1987), written without its loop. For
    ``i = 0, ..., n-1`` it draws ``t_i`` uniformly in ``[0, j_i]``, ``j_i = N - n + i``,
    and keeps ``t_i``, or ``j_i`` when ``t_i`` is already kept; every ``n``-subset
    comes out with probability ``1 / C(N, n)``, so each index is in the batch
    with probability ``n / N`` and ``(N / n) Σ_batch`` is exactly unbiased, with
    the variance of sampling without replacement. "Already kept" is: ``t_i``
    equals an earlier ``t_k``, or ``t_i = j_k`` for an earlier ``k`` that was
    itself replaced by its ``j_k``; that is a chain ``i -> k`` to smaller
    indices, resolved by pointer doubling in ``ceil(log2 n)`` gathers. The cost
    is ``O(n²)`` comparisons for ``n <= 128`` (a sort beyond), independent of
    ``N``: ``jax.random.choice(..., replace=False)`` shuffles all ``N`` instead.
    The indices are distinct but not in random order (a sum does not care).

    Parameters
    ----------
    key : the key to draw with (``n`` integers from it).
    num_data : ``N >= 1``, a Python int.
    batch_size : ``n``, ``1 <= n <= N``, a Python int.

    Returns
    -------
    Array
        ``(n,)`` distinct int32 indices.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.gradients import distinct_indices
    >>> index = distinct_indices(jax.random.key(0), 10, 4)
    >>> len(set(index.tolist()))
    4
    """
    num_data = as_int(num_data, "num_data", minimum=1)
    n = as_int(batch_size, "batch_size", minimum=1)
    if n > num_data:
        raise ValueError(f"`batch_size`={n} exceeds `num_data`={num_data}.")
    top = num_data - n + jnp.arange(n)  # j_i
    return _floyd_select(jax.random.randint(key, (n,), 0, top + 1), num_data)  # t_i in [0, j_i]


def _floyd_select(draws: Array, num_data: int) -> Array:
    """Floyd's choices for draws ``t_i`` in ``[0, N - n + i]``: ``t_i``, or ``j_i`` if taken."""
    n = draws.shape[0]
    first = num_data - n
    top = first + jnp.arange(n)
    repeat = _repeats(draws)
    # t_i = j_k (k < i) is kept iff k was replaced: follow i -> k until the chain ends.
    chained = (draws >= first) & (draws < top) & ~repeat
    link = jnp.where(chained, draws - first, jnp.arange(n))
    for _ in range(max(1, (n - 1).bit_length())):
        link = link[link]
    return jnp.where(repeat[link], top, draws)


def _draw_batch(key: PRNGKey, data: ArrayTree, num_data: int, n: int, replace: bool) -> ArrayTree:
    if not replace and n == num_data:
        return data  # the whole data set: no permutation needed
    if replace:
        index = jax.random.randint(key, (n,), 0, num_data)
    else:
        index = distinct_indices(key, num_data, n)
    return jax.tree.map(lambda leaf: jnp.take(leaf, index, axis=0), data)


def _batch_loglik(loglik: Callable, position: ArrayTree, batch: ArrayTree) -> Array:
    """``Σ_i loglik(position, x_i)``, insisting on one scalar per data point."""
    per_point = jax.vmap(loglik, in_axes=(None, 0))(position, batch)
    if jnp.ndim(per_point) != 1:
        raise ValueError(
            "`loglik_fn` must return a scalar, the log likelihood of ONE data point (it is "
            f"vmapped over the batch); it returned shape {jnp.shape(per_point)[1:]} per data "
            "point. Sum over the extra axes inside `loglik_fn` if that is what you mean."
        )
    if not jnp.issubdtype(per_point.dtype, jnp.floating):
        raise TypeError(f"`loglik_fn` must return a floating-point value; got {per_point.dtype}.")
    return jnp.sum(per_point)


def _check_call(key: PRNGKey, position: ArrayTree) -> None:
    """What the estimate needs of its arguments (dtypes and shapes: checked at trace time)."""
    check_key(key)
    check_position(position)


def _check_against_centre(
    position: ArrayTree, centre: ArrayTree, name: str = "centering_position"
) -> None:
    same_tree = jax.tree.structure(position) == jax.tree.structure(centre)
    if not same_tree or any(
        jnp.shape(p) != jnp.shape(c)
        for p, c in zip(jax.tree.leaves(position), jax.tree.leaves(centre), strict=True)
    ):
        raise ValueError(
            f"`position` and `{name}` must have the same structure and shapes; got "
            f"{jax.tree.map(jnp.shape, position)} and {jax.tree.map(jnp.shape, centre)}."
        )


# --------------------------------------------------------------------------- #
# Estimators
# --------------------------------------------------------------------------- #
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
    points drawn from the step's key: by default a uniformly random subset
    (without replacement, by :func:`distinct_indices`: ``O(n²)`` work for
    ``n <= 128``, whatever ``N``), with ``replace=True`` ``n`` independent
    uniform indices (a little cheaper still; the variance is larger by about
    ``(N - 1) / (N - n)``). Both are exactly unbiased.

    Parameters
    ----------
    logprior_fn : ``position -> log prior`` (a scalar).
    loglik_fn : ``(position, x_i) -> log likelihood of one data point`` (a
        scalar; it is vmapped over the batch, so a vector output is an error).
    data : pytree whose leaves share a leading axis of ``N >= 1`` data points
        (a list of numbers is one array); floating values must be finite.
    batch_size : ``n``, points per estimate (an int, numpy or JAX integer);
        at most ``N`` unless ``replace``.
    replace : draw the batch with replacement.

    Returns
    -------
    GradientEstimator
        ``(key, position) -> (estimated log posterior, estimated score)``; the
        value has the position's floating dtype.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.minibatch(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, batch_size=10)
    >>> value, score = est(jax.random.key(0), jnp.asarray(0.0))
    """
    _check_callable(logprior_fn, "logprior_fn")
    _check_callable(loglik_fn, "loglik_fn")
    data = _as_data(data)
    num_data = _num_data(data)
    n = _check_batch(batch_size, num_data, replace)
    replace = bool(replace)
    scale = num_data / n
    logprior = _scalar_checked(logprior_fn, "logprior_fn")

    def estimate_logdensity(position: ArrayTree, batch: ArrayTree) -> Array:
        return logprior(position) + scale * _batch_loglik(loglik_fn, position, batch)

    value_and_grad = jax.value_and_grad(estimate_logdensity)

    def estimate(key: PRNGKey, position: ArrayTree) -> tuple[Array, ArrayTree]:
        _check_call(key, position)
        value, score = value_and_grad(position, _draw_batch(key, data, num_data, n, replace))
        return value.astype(_float_dtype(position)), score

    return GradientEstimator(estimate, num_data, n)


def _centre_sums(
    logprior_fn: LogDensityFn, loglik_fn: Callable, data: ArrayTree, centre: ArrayTree
) -> tuple[Array, ArrayTree]:
    """The full-data log likelihood and its gradient at the centre, checked."""
    first = jax.tree.map(lambda leaf: leaf[0], data)
    try:
        out = jax.eval_shape(loglik_fn, centre, first)
        prior = jax.eval_shape(logprior_fn, centre)
    except Exception as err:  # a shape mismatch between the centre and the model
        raise ValueError(
            "`loglik_fn`/`logprior_fn` could not be evaluated at `centering_position` (shapes "
            f"{jax.tree.map(jnp.shape, centre)}) with one data point (shapes "
            f"{jax.tree.map(jnp.shape, first)}): {type(err).__name__}: {err}"
        ) from err
    if jnp.shape(out) != ():
        raise ValueError(
            "`loglik_fn` must return a scalar, the log likelihood of ONE data point; at "
            f"`centering_position` it returned shape {jnp.shape(out)}."
        )
    if jnp.shape(prior) != ():
        raise ValueError(
            f"`logprior_fn` must return a scalar; at `centering_position` it returned shape "
            f"{jnp.shape(prior)}."
        )
    value, score = jax.jit(jax.value_and_grad(lambda p: _batch_loglik(loglik_fn, p, data)))(centre)
    if not (
        np.isfinite(np.asarray(value))
        and all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(score))
    ):
        raise ValueError(
            "The full-data log likelihood or its gradient is not finite at "
            f"`centering_position` (value {float(value)}); centre at a point of the support."
        )
    return value, score


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

    Parameters
    ----------
    logprior_fn, loglik_fn, data, batch_size, replace : as in :func:`minibatch`.
    centering_position : ``c``, a concrete position of finite floating values
        with the structure and shapes of the positions the estimate is called at.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.control_variates(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, 10, jnp.asarray(0.0))
    """
    _check_callable(logprior_fn, "logprior_fn")
    _check_callable(loglik_fn, "loglik_fn")
    data = _as_data(data)
    num_data = _num_data(data)
    n = _check_batch(batch_size, num_data, replace)
    replace = bool(replace)
    check_position(centering_position, "centering_position")
    _check_finite_tree(centering_position, "centering_position")
    centre = jax.tree.map(jnp.asarray, centering_position)
    scale = num_data / n
    full_value, full_score = _centre_sums(logprior_fn, loglik_fn, data, centre)

    def batch_value_and_grad(position: ArrayTree, batch: ArrayTree):
        return jax.value_and_grad(lambda p: _batch_loglik(loglik_fn, p, batch))(position)

    prior_value_and_grad = jax.value_and_grad(_scalar_checked(logprior_fn, "logprior_fn"))

    def estimate(key: PRNGKey, position: ArrayTree) -> tuple[Array, ArrayTree]:
        _check_call(key, position)
        _check_against_centre(position, centre)
        batch = _draw_batch(key, data, num_data, n, replace)
        value_here, score_here = batch_value_and_grad(position, batch)
        value_centre, score_centre = batch_value_and_grad(centre, batch)
        prior_value, prior_score = prior_value_and_grad(position)
        value = prior_value + full_value + scale * (value_here - value_centre)
        score = jax.tree.map(
            lambda p, f, h, c: (p + f + scale * (h - c)).astype(p.dtype),
            prior_score,
            full_score,
            score_here,
            score_centre,
        )
        return value.astype(_float_dtype(position)), score

    return GradientEstimator(estimate, num_data, n)


# --------------------------------------------------------------------------- #
# Stateful estimators: SVRG
# --------------------------------------------------------------------------- #
class SVRGState(NamedTuple):
    """What an SVRG estimate carries from one call to the next (one chain).

    Attributes
    ----------
    anchor : ``θ̃``, the point of the last full-data pass.
    anchor_value : ``Σ_i loglik(θ̃, x_i)`` over all the data.
    anchor_score : ``Σ_i ∇ loglik(θ̃, x_i)`` over all the data.
    count : estimates made so far; the call with ``count % update_every == 0``
        moves the anchor to its position first.
    """

    anchor: ArrayTree
    anchor_value: Array
    anchor_score: ArrayTree
    count: Array


class StatefulGradientEstimator(NamedTuple):
    """An estimate that carries state between calls: ``(key, position, state) -> (v, g, state)``.

    The sampler keeps ``state`` in its own state (one per chain), starts it with
    ``init(position)`` and passes back the state each call returns; a step the
    sampler refuses (diverged) keeps the state it had. :func:`svrg` is one.

    Attributes
    ----------
    init : ``position -> state``, with no data pass (the first call makes it).
    estimate : ``(key, position, state) -> (logdensity, score, new state)``.
    num_data, batch_size, uses_key : as in :class:`GradientEstimator`.
    """

    init: Callable[[ArrayTree], Any]
    estimate: Callable[[PRNGKey, ArrayTree, Any], tuple[Array | None, ArrayTree, Any]]
    num_data: int | None = None
    batch_size: int | None = None
    uses_key: bool = True

    def __call__(
        self, key: PRNGKey, position: ArrayTree, state: Any
    ) -> tuple[Array | None, ArrayTree, Any]:
        return self.estimate(key, position, state)


def svrg(
    logprior_fn: LogDensityFn,
    loglik_fn: Callable[[ArrayTree, Any], Array],
    data: ArrayTree,
    batch_size: int,
    update_every: int,
    *,
    replace: bool = False,
) -> StatefulGradientEstimator:
    """Stochastic variance-reduced gradient (SVRG) estimate of the log posterior.

    Every ``update_every`` calls the anchor ``θ̃`` moves to the current position
    and the full-data sums there are computed (one pass over all ``N`` points);
    in between, with ``B`` a minibatch of ``n`` points drawn as in :func:`minibatch`::

        logprior(θ) + Σ_i ll(θ̃, x_i) + (N/n) Σ_{i in B} [ll(θ, x_i) - ll(θ̃, x_i)]

    and the same for the gradient (Dubey, Reddi, Williamson, Póczos, Smola &
    Xing 2016, "Variance reduction in stochastic gradient Langevin dynamics").
    Exactly unbiased; the variance shrinks as ``θ`` nears the anchor, and at a
    refresh the estimate is the exact full-data one. Unlike
    :func:`control_variates` the centre follows the chain, so no mode is
    needed in advance. Two batch gradients per call, plus the full pass at a
    refresh. Under ``vmap`` over chains (as :func:`jlangevin.run` does) the
    refresh's ``lax.cond`` becomes a select and the full pass is computed at
    every call (the estimates are the same; the saving is lost): SVRG saves
    work on few chains, or where a minibatch's noise, not its cost, is the issue.

    Parameters
    ----------
    logprior_fn, loglik_fn, data, batch_size, replace : as in :func:`minibatch`.
    update_every : ``m >= 1``, calls between full-data passes (the epoch length).

    Returns
    -------
    StatefulGradientEstimator
        ``init(position)`` starts the state; ``(key, position, state) ->
        (estimated log posterior, estimated score, new state)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> data = jnp.linspace(-1.0, 1.0, 100)
    >>> est = jl.gradients.svrg(
    ...     lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, 10, update_every=50)
    >>> state = est.init(jnp.asarray(0.0))
    >>> value, score, state = est(jax.random.key(0), jnp.asarray(0.0), state)
    >>> int(state.count)
    1
    """
    _check_callable(logprior_fn, "logprior_fn")
    _check_callable(loglik_fn, "loglik_fn")
    data = _as_data(data)
    num_data = _num_data(data)
    n = _check_batch(batch_size, num_data, replace)
    replace = bool(replace)
    every = as_int(update_every, "update_every", minimum=1)
    scale = num_data / n
    prior_value_and_grad = jax.value_and_grad(_scalar_checked(logprior_fn, "logprior_fn"))

    def batch_value_and_grad(position: ArrayTree, batch: ArrayTree) -> tuple[Array, ArrayTree]:
        return jax.value_and_grad(lambda p: _batch_loglik(loglik_fn, p, batch))(position)

    def init(position: ArrayTree) -> SVRGState:
        check_position(position)
        dtype = _float_dtype(position)
        zeros = jax.tree.map(jnp.zeros_like, position)
        return SVRGState(position, jnp.zeros((), dtype), zeros, jnp.zeros((), jnp.int32))

    def refreshed(position: ArrayTree, state: SVRGState) -> SVRGState:
        value, score = batch_value_and_grad(position, data)
        dtype = _float_dtype(position)
        score = jax.tree.map(lambda g, p: g.astype(jnp.result_type(p)), score, position)
        return SVRGState(position, value.astype(dtype), score, state.count)

    def estimate(
        key: PRNGKey, position: ArrayTree, state: SVRGState
    ) -> tuple[Array, ArrayTree, SVRGState]:
        _check_call(key, position)
        if not isinstance(state, SVRGState):
            raise TypeError(
                "`state` must be the SVRGState from `init` or from the last call; got "
                f"{describe(state)}."
            )
        _check_against_centre(position, state.anchor, "anchor")
        state = jax.lax.cond(state.count % every == 0, refreshed, lambda p, s: s, position, state)
        batch = _draw_batch(key, data, num_data, n, replace)
        value_here, score_here = batch_value_and_grad(position, batch)
        value_anchor, score_anchor = batch_value_and_grad(state.anchor, batch)
        prior_value, prior_score = prior_value_and_grad(position)
        value = prior_value + state.anchor_value + scale * (value_here - value_anchor)
        score = jax.tree.map(
            lambda p, f, h, c: (p + f + scale * (h - c)).astype(p.dtype),
            prior_score,
            state.anchor_score,
            score_here,
            score_anchor,
        )
        new_state = state._replace(count=state.count + 1)
        return value.astype(_float_dtype(position)), score, new_state

    return StatefulGradientEstimator(init, estimate, num_data, n)


__all__ = [
    "GradientEstimator",
    "SVRGState",
    "StatefulGradientEstimator",
    "control_variates",
    "distinct_indices",
    "from_energy",
    "full",
    "minibatch",
    "svrg",
]
