"""The metric: pooled window statistics of the chains, and the root ``R`` of ``M = R Rᵀ``.

Each window works in the coordinates whitened by the previous window's metric
(``z = R⁻¹ x``, ``R = I`` at first; a score there is ``Rᵀ s(x)``) and
regularises its estimates there as Stan does in raw coordinates (``n`` = pooled
draws in the window)::

    Σ ← n/(n+5) Σ + 1e-3 · 5/(n+5) · I

so the regularisation is scale-free, and the new root is ``R ← R R_z``.

- diagonal: ``M_z`` is the variance of the draws, per coordinate;
- dense: the covariances of the draws ``Σ_x`` and of the scores ``Σ_s`` are
  shrunk toward their diagonals (``(1-λ) Σ + λ diag(Σ)``; a window of ``n ≤ d``
  draws gives a singular sample covariance), and ``M_z`` is their geometric mean,
  the ``M`` with ``M Σ_s M = Σ_x`` (Seyboldt et al. 2024): the covariance at
  stationarity on a Gaussian, and exactly so even from draws that have not
  explored it yet (``Σ_s = C⁻¹ Σ_x C⁻¹``). A covariance of the draws alone grows
  an under-scaled direction only diffusively, window by window.

- low rank plus diagonal (large ``d``): the diagonal as above, and ``M_z = I + U
  diag(λ - 1) Uᵀ`` in the coordinates whitened by it (:func:`low_rank_estimate`,
  after Nutpie's low-rank mass matrix, Seyboldt et al. 2024). The window keeps the
  last draws and scores of every chain in a fixed buffer (:class:`LowRankBuffer`,
  never a ``(d, d)`` matrix); the leading singular directions of both (the draws'
  widest, the scores' narrowest) span a ``2k``-dimensional subspace, where the
  geometric mean of the two covariances is taken; its ``k`` eigenvalues farthest
  from 1 are kept, those within ``[1/1.5, 1.5]`` set to 1 (they add nothing).

Statistics keep each chain's mean (:class:`ChainSums`), so a window end can pool
the healthy chains only: a chain stuck far away would otherwise enter the
covariance through its mean. They stay finite in float32: eigenvalues are
floored relative to the largest (``10 eps``), the geometric mean is taken after
a diagonal rescaling, the Cholesky factor falls back to the diagonal, and an
unusable window keeps the previous root.

References
----------
B. Carpenter et al. (2017). Stan: a probabilistic programming language. JSS 76.
A. Seyboldt, E. Carlson and B. Carpenter (2024). Preconditioning for Hamiltonian
Monte Carlo with Fisher divergence (the geometric-mean metric).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_int, as_real
from jlangevin.types import Array, MetricRoot

#: The metric forms a warm-up can run; ``"auto"`` picks one of the others.
PRECONDITIONERS = ("auto", "diagonal", "dense", "low_rank")
#: ``"auto"`` picks dense at or below this dimension: a (d, d) product costs no more
#: than a gradient of any model worth sampling there.
DENSE_SMALL_DIM = 64
#: ``"auto"`` picks dense above ``DENSE_SMALL_DIM`` when the chains' correlation
#: matrix (of the first slow window) has a condition number at least this ...
DENSE_MIN_CONDITION = 10.0
#: ... up to this dimension (a dense metric's (d, d) memory and products per step);
#: above it ``"auto"`` picks low rank plus diagonal where the kernel runs it.
DENSE_MAX_DIM = 2048
#: The rank ``k`` of a low rank plus diagonal metric (at most ``d // 2``).
LOW_RANK_RANK = 8
#: Eigenvalues within ``[1 / LOW_RANK_CUTOFF, LOW_RANK_CUTOFF]`` add nothing: factor 1.
LOW_RANK_CUTOFF = 1.5
#: Rows (steps x chains, at least ``4 k``) of the buffer a low-rank window estimate reads.
LOW_RANK_ROWS = 256


class Welford(NamedTuple):
    """Pooled running mean and (co)variance sums of whitened draws."""

    count: Array
    mean: Array
    m2: Array


class ChainSums(NamedTuple):
    """Per-chain Welford means and the pooled within-chain sums of one window.

    Attributes
    ----------
    count : draws per chain so far.
    means : ``(chains, d)`` each chain's mean.
    within : the within-chain sums of squares pooled over chains: ``(d,)`` or ``(d, d)``.
    chain_within : ``(chains,)`` each chain's within sum of squares over all coordinates
        (its total spread: a chain collapsed onto a spike has almost none).
    """

    count: Array
    means: Array
    within: Array
    chain_within: Array


class LowRankBuffer(NamedTuple):
    """The last ``n`` draws and scores of every chain, ``(n, chains, d)``, whitened by the
    diagonal part of the root; ``count``: the draws written (slot ``count % n`` next)."""

    draws: Array
    scores: Array
    count: Array


class MetricStats(NamedTuple):
    """A window's sums: of the whitened draws, and (dense estimates) of the whitened scores;
    ``buffer``, the last draws and scores for a low-rank estimate (else ``None``)."""

    draws: ChainSums
    scores: ChainSums | None
    buffer: LowRankBuffer | None = None


def welford_init(dim: int, dense: bool, dtype: Any) -> Welford:
    """Empty sums for draws of ``dim`` coordinates (a ``(dim, dim)`` ``m2`` when ``dense``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import welford_init
    >>> welford_init(3, True, jnp.float32).m2.shape
    (3, 3)
    """
    dim = as_int(dim, "dim", minimum=1)
    if not isinstance(dense, bool | np.bool_):
        raise TypeError(f"`dense` must be True or False; got {dense!r}.")
    try:
        floating = jnp.issubdtype(dtype, jnp.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"`dtype` must be a floating-point dtype; got {dtype!r}.")
    m2 = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return Welford(jnp.zeros((), dtype), jnp.zeros((dim,), dtype), m2)


def welford_update(stats: Welford, draws: Array) -> Welford:
    """Fold a batch of draws ``(chains, d)`` into the pooled sums (Chan et al.).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import welford_init, welford_update
    >>> stats = welford_update(welford_init(2, False, jnp.float32), jnp.ones((4, 2)))
    >>> float(stats.count), stats.mean.tolist()
    (4.0, [1.0, 1.0])
    """
    if not isinstance(stats, Welford):
        raise TypeError(f"`stats` must be Welford sums; got {type(stats).__name__}.")
    dim = stats.mean.shape[0]
    if jnp.ndim(draws) != 2 or jnp.shape(draws)[1] != dim:
        raise ValueError(f"`draws` must have shape (chains, {dim}); got {jnp.shape(draws)}.")
    draws = jnp.asarray(draws, stats.mean.dtype)
    batch = jnp.asarray(draws.shape[0], stats.count.dtype)
    count = stats.count + batch
    batch_mean = jnp.mean(draws, axis=0)
    centred = draws - batch_mean
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch / count
    cross = stats.count * batch / count
    if stats.m2.ndim == 2:
        m2 = stats.m2 + centred.T @ centred + cross * jnp.outer(delta, delta)
    else:
        m2 = stats.m2 + jnp.sum(centred**2, axis=0) + cross * delta**2
    return Welford(count, mean, m2)


def chain_sums_init(num_chains: int, dim: int, dense: bool, dtype: Any) -> ChainSums:
    """Empty per-chain sums (``dense``: a ``(d, d)`` pooled within-chain matrix)."""
    within = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return ChainSums(
        jnp.zeros((), dtype),
        jnp.zeros((num_chains, dim), dtype),
        within,
        jnp.zeros((num_chains,), dtype),
    )


def chain_sums_update(sums: ChainSums, draws: Array) -> ChainSums:
    """Fold one draw per chain, ``(chains, d)``, into the sums (Welford, chain by chain)."""
    count = sums.count + 1.0
    delta = draws - sums.means
    means = sums.means + delta / count
    after = draws - means
    if sums.within.ndim == 2:
        within = sums.within + 0.5 * (delta.T @ after + after.T @ delta)
    else:
        within = sums.within + jnp.sum(delta * after, axis=0)
    return ChainSums(count, means, within, sums.chain_within + jnp.sum(delta * after, axis=1))


def pooled(sums: ChainSums, healthy: Array) -> Welford:
    """Pooled Welford sums of the window, the chains' means taken over ``healthy`` only."""
    num_chains = sums.means.shape[0]
    weight = healthy.astype(sums.means.dtype)
    mean = weight @ sums.means / jnp.maximum(jnp.sum(weight), 1.0)
    dev = (sums.means - mean) * jnp.sqrt(weight)[:, None]
    between = dev.T @ dev if sums.within.ndim == 2 else jnp.sum(dev**2, axis=0)
    return Welford(sums.count * num_chains, mean, sums.within + sums.count * between)


def chain_spread(sums: ChainSums) -> Array:
    """``(chains,)`` each chain's total within-window variance over all coordinates."""
    return sums.chain_within / jnp.maximum(sums.count - 1.0, 1.0)


def check_shrinkage(value: Any) -> float:
    """``λ`` in ``[0, 1]`` as a Python float."""
    number = as_real(value, "shrinkage")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"`shrinkage` must lie in [0, 1]; got {number}.")
    return number


def regularized_covariance(stats: Welford, shrinkage: float) -> Array:
    """Sample (co)variance of whitened draws, shrunk and regularised (see the module notes).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import regularized_covariance, welford_init
    >>> regularized_covariance(welford_init(2, False, jnp.float32), 0.01).tolist()  # no draws
    [0.0010000000474974513, 0.0010000000474974513]
    """
    if not isinstance(stats, Welford):
        raise TypeError(f"`stats` must be Welford sums; got {type(stats).__name__}.")
    shrinkage = check_shrinkage(shrinkage)
    n = stats.count
    cov = stats.m2 / jnp.maximum(n - 1.0, 1.0)
    if cov.ndim == 2:
        dim = cov.shape[0]
        cov = (1.0 - shrinkage) * cov + shrinkage * jnp.diag(jnp.diag(cov))
        eye = jnp.eye(dim, dtype=cov.dtype)
    else:
        eye = jnp.ones_like(cov)
    return (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * eye


def eig_floor(dtype: Any) -> float:
    """Relative eigenvalue floor: ``10 eps`` (1.2e-6 in float32, 2.2e-15 in float64).

    Eigenvalues below ``eps · λ_max`` are rounding noise in ``eigh``; flooring them
    relative to the largest keeps every derived root finite and well conditioned.
    """
    return 10.0 * float(jnp.finfo(dtype).eps)


def symmetric_power(matrix: Array, power: float) -> Array:
    """``matrix**power`` of a symmetric PSD matrix by ``eigh`` of ``matrix / max|diag|``."""
    dtype = matrix.dtype
    tiny = jnp.finfo(dtype).tiny
    sym = 0.5 * (matrix + matrix.T)
    scale = jnp.maximum(jnp.max(jnp.abs(jnp.diag(sym))), tiny)
    vals, vecs = jnp.linalg.eigh(sym / scale)
    vals = jnp.maximum(vals, eig_floor(dtype) * jnp.maximum(jnp.max(vals), tiny))
    return (vecs * vals**power) @ vecs.T * scale**power


def correlation(matrix: Array) -> tuple[Array, Array, Array]:
    """``(d, V, w)``: ``matrix = d dᵀ ⊙ R``, ``R = V diag(w) Vᵀ`` (unit diagonal, ``w`` floored)."""
    dtype = matrix.dtype
    tiny = jnp.finfo(dtype).tiny
    sym = 0.5 * (matrix + matrix.T)
    diag = jnp.diag(sym)
    diag = jnp.maximum(diag, eig_floor(dtype) * jnp.maximum(jnp.max(diag), tiny))
    scale = jnp.sqrt(jnp.maximum(diag, tiny))
    corr = sym / jnp.outer(scale, scale)
    vals, vecs = jnp.linalg.eigh(corr)
    vals = jnp.maximum(vals, eig_floor(dtype) * jnp.maximum(jnp.max(vals), tiny))
    return scale, vecs, vals


def sqrtm_psd(matrix: Array) -> tuple[Array, Array]:
    """Symmetric square root and inverse square root of a positive semi-definite matrix.

    Both from ``eigh`` with eigenvalues floored relative to the largest
    (:func:`eig_floor`). The inverse root is the root of ``matrix⁻¹`` formed through
    the correlation matrix (``matrix = D R D``): the small eigenvalues of an
    ill-scaled matrix, lost to rounding in ``eigh(matrix)``, are the large ones of
    ``D⁻¹ R⁻¹ D⁻¹``.
    """
    scale, vecs, vals = correlation(matrix)
    inverse = ((vecs / vals) @ vecs.T) / jnp.outer(scale, scale)
    return symmetric_power(matrix, 0.5), symmetric_power(inverse, 0.5)


def stable_cholesky(matrix: Array) -> Array:
    """A lower Cholesky factor of a symmetric PSD ``matrix`` that is never NaN.

    The matrix is rescaled to its correlation matrix, whose eigenvalues are
    floored at ``10 eps`` of the largest before the factorisation; should the
    factorisation still fail, the diagonal factor ``sqrt(diag)`` is returned.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import stable_cholesky
    >>> bool(jnp.all(jnp.isfinite(stable_cholesky(jnp.ones((3, 3))))))  # singular
    True
    """
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"`matrix` must be a square matrix; got shape {matrix.shape}.")
    scale, vecs, vals = correlation(matrix)
    corr = (vecs * vals) @ vecs.T
    corr = 0.5 * (corr + corr.T)
    lower = jnp.linalg.cholesky(corr)
    diagonal = jnp.diag(jnp.sqrt(jnp.maximum(jnp.diag(corr), jnp.finfo(matrix.dtype).tiny)))
    lower = jnp.where(jnp.all(jnp.isfinite(lower)), lower, diagonal)
    return scale[:, None] * lower


def geometric_mean_metric(cov_draws: Array, cov_scores: Array) -> Array:
    """``M`` solving ``M Σ_s M = Σ_x``: the geometric mean of ``Σ_x`` and ``Σ_s⁻¹``.

    For a Gaussian target ``Σ_s = C⁻¹ Σ_x C⁻¹`` whatever the law of the draws,
    so ``M = C`` exactly even from draws that have not yet explored the target.
    The mean is congruence-invariant (``(DAD) # (DBD) = D (A # B) D``), so it is
    computed after the diagonal rescaling ``D = diag(Σ_x / Σ_s)^(1/4)`` that
    solves the problem coordinate by coordinate: what is left is well scaled
    even when the target's scales span many orders of magnitude (float32).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import geometric_mean_metric
    >>> geometric_mean_metric(4.0 * jnp.eye(2), jnp.eye(2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    for name, matrix in (("cov_draws", cov_draws), ("cov_scores", cov_scores)):
        shape = jnp.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1] or shape != jnp.shape(cov_draws):
            raise ValueError(
                f"`{name}` must be a square matrix shaped like `cov_draws` "
                f"{jnp.shape(cov_draws)}; got shape {shape}."
            )
    cov_draws, cov_scores = jnp.asarray(cov_draws), jnp.asarray(cov_scores)
    tiny = jnp.finfo(cov_draws.dtype).tiny
    var_draws = jnp.maximum(jnp.diag(cov_draws), tiny)
    var_scores = jnp.maximum(jnp.diag(cov_scores), tiny)
    d = (var_draws / var_scores) ** 0.25
    scores = cov_scores * jnp.outer(d, d)
    draws = cov_draws / jnp.outer(d, d)
    root, inv_root = sqrtm_psd(scores)
    inner = symmetric_power(root @ draws @ root, 0.5)
    metric = (inv_root @ inner @ inv_root) * jnp.outer(d, d)
    return 0.5 * (metric + metric.T)


# --------------------------------------------------------------------------- #
# The root R and the window statistics in its coordinates
# --------------------------------------------------------------------------- #
def lower_inverse(lower: Array) -> Array:
    """``R⁻¹`` of a lower-triangular ``R`` (one triangular solve, made once per metric)."""
    eye = jnp.eye(lower.shape[0], dtype=lower.dtype)
    return jax.scipy.linalg.solve_triangular(lower, eye, lower=True)


def low_rank_dim(dim: int, rank: int = LOW_RANK_RANK) -> int:
    """The rank a low-rank metric of ``dim`` coordinates uses: ``min(rank, d // 2)``, at least 1."""
    return max(1, min(int(rank), int(dim) // 2))


def low_rank_steps(num_chains: int, rank: int) -> int:
    """Steps a low-rank window buffer keeps: ``LOW_RANK_ROWS`` rows, and at least ``4 k``."""
    rows = max(LOW_RANK_ROWS, 4 * int(rank))
    return max(2, -(-rows // int(num_chains)))


def unit_root(dim: int, dtype: Any, dense: bool, rank: int = 0) -> MetricRoot:
    """The identity metric in the diagonal or the dense form (low rank plus diagonal: ``rank > 0``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import unit_root
    >>> unit_root(2, jnp.float32, True).lower.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> unit_root(4, jnp.float32, False, rank=2).basis.shape
    (4, 2)
    """
    # Built on the host and put on the device: jnp.eye, jnp.ones (and jnp.asarray of a
    # host array) would each compile a small program.
    if dense:
        eye = _host(np.eye(dim), dtype)
        return MetricRoot(lower=eye, inverse=eye)
    if rank:
        return MetricRoot(
            scale=_host(np.ones((dim,)), dtype),
            basis=_host(np.eye(dim, rank), dtype),
            factors=_host(np.ones((rank,)), dtype),
        )
    return MetricRoot(scale=_host(np.ones((dim,)), dtype))


def _host(values: np.ndarray, dtype: Any) -> Array:
    """Exact host values (ones and zeros) as a device array of ``dtype``."""
    return jax.device_put(values.astype(jnp.dtype(dtype)))


def as_dense(root: MetricRoot) -> MetricRoot:
    """The same metric in the dense form (a diagonal root becomes a diagonal ``lower``)."""
    if root.is_dense:
        return root
    if root.is_low_rank:
        lower = stable_cholesky(matrix(root, dense=True))
        return MetricRoot(lower=lower, inverse=lower_inverse(lower))
    return MetricRoot(lower=jnp.diag(root.scale), inverse=jnp.diag(1.0 / root.scale))


def _along(rows: Array, basis: Array, factors: Array) -> Array:
    """Rows ``(n, d)`` times ``I + basis diag(factors - 1) basisᵀ``, in ``O(n d k)``."""
    return rows + ((rows @ basis) * (factors - 1)) @ basis.T


def whiten(flat_x: Array, root: MetricRoot) -> Array:
    """Positions ``(chains, d)`` in the metric's coordinates, ``R⁻¹ x``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.metric import unit_root, whiten
    >>> whiten(jnp.ones((1, 2)), unit_root(2, jnp.float32, False)).tolist()
    [[1.0, 1.0]]
    """
    if root.is_dense:
        return flat_x @ root.inverse.T
    if root.is_low_rank:
        return _along(flat_x / root.scale, root.basis, 1.0 / root.factors)
    return flat_x / root.scale


def whiten_scores(flat_s: Array, root: MetricRoot) -> Array:
    """Scores ``(chains, d)`` in the metric's coordinates, ``Rᵀ s``."""
    if root.is_dense:
        return flat_s @ root.lower
    if root.is_low_rank:
        return _along(flat_s * root.scale, root.basis, root.factors)
    return flat_s * root.scale


def matrix(root: MetricRoot, dense: bool = False) -> Array:
    """``M = R Rᵀ``: the variances ``(d,)`` (diagonal) or the ``(d, d)`` matrix (dense).

    A low rank plus diagonal root gives the diagonal of ``M``, ``(d,)``, or with
    ``dense=True`` the whole ``(d, d)`` (``d²`` memory: for checks at small ``d``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.metric import matrix, unit_root
    >>> matrix(unit_root(4, jnp.float32, False, rank=2)).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if root.is_dense:
        return root.lower @ root.lower.T
    if root.is_low_rank:
        if dense:
            inner = jnp.eye(root.scale.shape[0], dtype=root.scale.dtype)
            inner = inner + (root.basis * (root.factors**2 - 1)) @ root.basis.T
            return inner * jnp.outer(root.scale, root.scale)
        along = jnp.sum(root.basis**2 * (root.factors**2 - 1), axis=1)
        return root.scale**2 * (1.0 + along)
    return jnp.diag(root.scale**2) if dense else root.scale**2


def stats_init(
    num_chains: int, dim: int, dtype: Any, full: bool, scores: bool, buffer_steps: int = 0
) -> MetricStats:
    """Empty window sums: the draws' full covariance when ``full``; the scores' when ``scores``;
    a buffer of the last ``buffer_steps`` draws and scores (a low-rank estimate) when positive."""
    draws = chain_sums_init(num_chains, dim, full, dtype)
    buffer = None
    if buffer_steps:
        empty = jnp.zeros((buffer_steps, num_chains, dim), dtype)
        buffer = LowRankBuffer(empty, empty, jnp.zeros((), jnp.int32))
    score_sums = chain_sums_init(num_chains, dim, True, dtype) if scores else None
    return MetricStats(draws, score_sums, buffer)


def _diagonal_part(root: MetricRoot) -> MetricRoot:
    return MetricRoot(scale=root.scale) if root.is_low_rank else root


def stats_update(stats: MetricStats, flat_x: Array, flat_s: Array, root: MetricRoot) -> MetricStats:
    """Fold the chains' current draws (and scores), whitened by ``root``, into the sums.

    A low rank plus diagonal root whitens by its diagonal only: the window
    re-estimates the diagonal and the low-rank part from scratch.
    """
    root = _diagonal_part(root)
    zx = whiten(flat_x, root)
    draws = chain_sums_update(stats.draws, zx)
    buffer = stats.buffer
    if buffer is not None:
        slot = buffer.count % buffer.draws.shape[0]
        buffer = LowRankBuffer(
            buffer.draws.at[slot].set(zx),
            buffer.scores.at[slot].set(whiten_scores(flat_s, root).astype(zx.dtype)),
            buffer.count + 1,
        )
    if stats.scores is None:
        return MetricStats(draws, None, buffer)
    scores = chain_sums_update(stats.scores, whiten_scores(flat_s, root))
    return MetricStats(draws, scores, buffer)


def low_rank_estimate(
    buffer: LowRankBuffer, healthy: Array, sd: Array, rank: int
) -> tuple[Array, Array, Array]:
    """``(basis, factors, λ_max)``: the low-rank part of ``M`` from a window's buffer.

    The buffered draws and scores are whitened by the new diagonal (``z / sd``,
    ``g · sd``) and centred over the filled rows of the ``healthy`` chains. The
    ``rank`` leading right singular vectors of each (the draws' widest directions,
    the scores' narrowest) span a subspace ``Q`` of ``2 rank`` dimensions, where
    the two covariances are regularised and their geometric mean taken (exact on
    a Gaussian whose leading directions ``Q`` holds). Its ``rank`` eigenvalues
    ``λ`` farthest from 1 (in ``|log λ|``) give the basis ``Q V`` and factors
    ``sqrt(λ)``, 1 where ``λ`` lies within ``[1/1.5, 1.5]``. No ``(d, d)`` matrix is
    formed: ``O(rows² d)`` for the two SVDs, ``O(rows d k)`` for the rest.
    ``λ_max`` is the largest variance left in ``Q`` after whitening by the result
    (at least 1): MEADS' trajectory scale.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.adaptation.metric import LowRankBuffer, low_rank_estimate
    >>> x = jax.random.normal(jax.random.key(0), (64, 2, 6))
    >>> x = x.at[..., 0].multiply(4.0)
    >>> basis, factors, _ = low_rank_estimate(
    ...     LowRankBuffer(x, -x / 16.0, jnp.int32(64)), jnp.ones(2, bool), jnp.ones(6), 2)
    >>> basis.shape, bool(factors.max() > 2.0)
    ((6, 2), True)
    """
    steps, chains, dim = buffer.draws.shape
    dtype = buffer.draws.dtype
    filled = jnp.arange(steps) < jnp.minimum(buffer.count, steps)
    weight = (filled[:, None] & healthy[None, :]).astype(dtype).reshape(-1)
    rows = jnp.maximum(jnp.sum(weight), 2.0)

    def centred(z):
        z = z.reshape(steps * chains, dim)
        return (z - weight @ z / rows) * weight[:, None]

    cx = centred(buffer.draws / sd)
    cs = centred(buffer.scores * sd)
    lead_x = jnp.linalg.svd(cx, full_matrices=False)[2][:rank]
    lead_s = jnp.linalg.svd(cs, full_matrices=False)[2][:rank]
    q = jnp.linalg.qr(jnp.concatenate([lead_x, lead_s]).T)[0]  # (d, 2k) orthonormal
    eye = jnp.eye(q.shape[1], dtype=dtype)

    def covariance(c):
        cov = (c @ q).T @ (c @ q) / (rows - 1.0)
        return (rows / (rows + 5.0)) * cov + 1e-3 * (5.0 / (rows + 5.0)) * eye

    inner = geometric_mean_metric(covariance(cx), covariance(cs))
    vals, vecs = jnp.linalg.eigh(0.5 * (inner + inner.T))
    tiny = jnp.finfo(dtype).tiny
    vals = jnp.maximum(vals, eig_floor(dtype) * jnp.maximum(jnp.max(vals), tiny))
    order = jnp.argsort(-jnp.abs(jnp.log(vals)))[:rank]
    lam, basis = vals[order], q @ vecs[:, order]
    keep = (lam > LOW_RANK_CUTOFF) | (lam < 1.0 / LOW_RANK_CUTOFF)
    factors = jnp.where(keep, jnp.sqrt(lam), 1.0).astype(dtype)
    left = _along(cx, basis, 1.0 / factors) @ q
    lam_max = jnp.maximum(top_eigenvalue(left.T @ left / (rows - 1.0)), 1.0)
    return basis, factors, lam_max


def window_estimate(stats: MetricStats, healthy: Array, shrinkage: float) -> Array:
    """``M_z`` of one window in the current coordinates: ``(d,)`` or ``(d, d)`` (with scores)."""
    cov_z = regularized_covariance(pooled(stats.draws, healthy), shrinkage)
    if stats.scores is None:
        return cov_z
    cov_s = regularized_covariance(pooled(stats.scores, healthy), shrinkage)
    return geometric_mean_metric(cov_z, cov_s)


def correlation_condition(estimate: Array) -> Array:
    """The condition number of the correlation matrix of a ``(d, d)`` estimate (1 if diagonal)."""
    if estimate.ndim == 1:
        return jnp.ones((), estimate.dtype)
    _, _, vals = correlation(estimate)
    return jnp.max(vals) / jnp.min(vals)


def update_root(
    stats: MetricStats, root: MetricRoot, healthy: Array, dense: bool, shrinkage: float
) -> tuple[MetricRoot, Array]:
    """The next root from one window, and ``λ_max`` of the draws whitened by it.

    ``λ_max`` (the largest eigenvalue of the window's covariance of the draws in
    the new coordinates; ``1`` when the metric is exact and known only with full
    statistics, else ``1``) gives MEADS' trajectory time ``T = sqrt(λ_max)``.
    A window whose estimate is not finite keeps the previous root. A low rank plus
    diagonal ``root`` (stats with a buffer) gives one of that form again
    (:func:`low_rank_estimate`), whatever ``dense`` says.
    """
    estimate = window_estimate(stats, healthy, shrinkage)
    if root.is_low_rank:
        return _update_low_rank(stats, root, healthy, estimate)
    cov_z = regularized_covariance(pooled(stats.draws, healthy), shrinkage)
    if dense:
        if estimate.ndim == 1:
            estimate = jnp.diag(estimate)
        factor = stable_cholesky(estimate)
        inv = lower_inverse(factor)
        parent = as_dense(root)
        lower = parent.lower @ factor
        ok = jnp.all(jnp.isfinite(lower)) & jnp.all(jnp.diagonal(lower) > 0)
        lower = jnp.where(ok, lower, parent.lower)
        inverse = jnp.where(ok, inv @ parent.inverse, parent.inverse)
        if cov_z.ndim == 1:
            cov_z = jnp.diag(cov_z)
        return MetricRoot(lower=lower, inverse=inverse), top_eigenvalue(inv @ cov_z @ inv.T)
    var = jnp.diagonal(estimate) if estimate.ndim == 2 else estimate
    sd = jnp.sqrt(var)
    scale = root.scale * sd
    ok = jnp.all(jnp.isfinite(scale)) & jnp.all(scale > 0)
    lam = jnp.ones((), var.dtype)
    if cov_z.ndim == 2:  # the correlation a diagonal metric leaves over
        lam = top_eigenvalue(cov_z / jnp.outer(sd, sd))
    return MetricRoot(scale=jnp.where(ok, scale, root.scale)), lam


def _update_low_rank(
    stats: MetricStats, root: MetricRoot, healthy: Array, var: Array
) -> tuple[MetricRoot, Array]:
    """The low rank plus diagonal root from one window (``var``: the diagonal estimate)."""
    sd = jnp.sqrt(var)
    scale = root.scale * sd
    basis, factors, lam = low_rank_estimate(stats.buffer, healthy, sd, root.basis.shape[1])
    ok = (
        jnp.all(jnp.isfinite(scale))
        & jnp.all(scale > 0)
        & jnp.all(jnp.isfinite(basis))
        & jnp.all(jnp.isfinite(factors))
        & jnp.all(factors > 0)
    )
    new = MetricRoot(
        scale=jnp.where(ok, scale, root.scale),
        basis=jnp.where(ok, basis, root.basis),
        factors=jnp.where(ok, factors, root.factors),
    )
    return new, jnp.where(ok, lam, 1.0).astype(var.dtype)


def top_eigenvalue(matrix: Array) -> Array:
    """The largest eigenvalue of a symmetric matrix."""
    return jnp.max(jnp.linalg.eigvalsh(0.5 * (matrix + matrix.T)))


__all__ = [
    "DENSE_MAX_DIM",
    "DENSE_MIN_CONDITION",
    "DENSE_SMALL_DIM",
    "LOW_RANK_CUTOFF",
    "LOW_RANK_RANK",
    "LOW_RANK_ROWS",
    "PRECONDITIONERS",
    "ChainSums",
    "LowRankBuffer",
    "MetricStats",
    "Welford",
    "as_dense",
    "chain_spread",
    "chain_sums_init",
    "chain_sums_update",
    "check_shrinkage",
    "correlation_condition",
    "geometric_mean_metric",
    "low_rank_dim",
    "low_rank_estimate",
    "low_rank_steps",
    "lower_inverse",
    "matrix",
    "pooled",
    "regularized_covariance",
    "stable_cholesky",
    "stats_init",
    "stats_update",
    "unit_root",
    "update_root",
    "welford_init",
    "welford_update",
    "whiten",
    "whiten_scores",
    "window_estimate",
]
