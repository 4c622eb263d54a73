"""The metric's pieces: pooled Welford sums, the geometric mean, stable roots in float32."""

import jax.numpy as jnp
import numpy as np
import pytest

from jlangevin import adaptation
from jlangevin.adaptation import metric


def _rotated_cov(dim: int, sd: np.ndarray, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    cov = q @ np.diag(sd**2) @ q.T
    return 0.5 * (cov + cov.T)


@pytest.mark.parametrize("dense", [False, True])
def test_welford_pooled_matches_numpy(dense):
    draws = np.random.default_rng(0).normal(size=(7, 4, 3)) * [1.0, 2.0, 0.5]
    stats = adaptation.welford_init(3, dense, jnp.float32)
    for batch in draws:
        stats = adaptation.welford_update(stats, jnp.asarray(batch, jnp.float32))
    flat = draws.reshape(-1, 3)
    expected = np.cov(flat.T) if dense else flat.var(axis=0, ddof=1)
    np.testing.assert_allclose(stats.m2 / (stats.count - 1), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.mean, flat.mean(axis=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dense", [False, True])
def test_chain_sums_pool_the_healthy_chains_only(dense):
    draws = np.random.default_rng(1).normal(size=(50, 4, 3)) * [1.0, 2.0, 0.5]
    draws[:, 3] += 100.0  # a chain stuck far away
    sums = metric.chain_sums_init(4, 3, dense, jnp.float32)
    for batch in draws:
        sums = metric.chain_sums_update(sums, jnp.asarray(batch, jnp.float32))
    healthy = jnp.asarray([True, True, True, False])
    pooled = metric.pooled(sums, healthy)
    flat = draws[:, :3].reshape(-1, 3)
    cov = np.cov(flat.T) if dense else flat.var(axis=0, ddof=1)
    # Within-chain sums of all four chains, between-chain spread of the healthy three.
    within = sum(
        np.cov(draws[:, c].T, ddof=0) * 50 if dense else draws[:, c].var(0) * 50 for c in range(4)
    )
    means = draws[:, :3].mean(0)
    dev = means - means.mean(0)
    between = 50 * (dev.T @ dev if dense else np.sum(dev**2, 0))
    np.testing.assert_allclose(pooled.m2, within + between, rtol=1e-4)
    spread = metric.chain_spread(sums)
    np.testing.assert_allclose(spread, draws.var(0, ddof=1).sum(-1), rtol=1e-4)
    # Broken companion: all four chains pooled see the stuck chain's mean.
    everyone = metric.pooled(sums, jnp.ones(4, bool))
    assert np.max(np.abs(everyone.m2 / (everyone.count - 1))) > 100 * np.max(np.abs(cov))


def test_geometric_mean_metric_recovers_gaussian_covariance():
    cov = _rotated_cov(4, np.array([0.3, 1.0, 2.0, 3.0]))
    draws_cov = _rotated_cov(4, np.array([1.0, 1.0, 1.0, 0.5]), seed=3)  # any draws law
    prec = np.linalg.inv(cov)
    got = adaptation.geometric_mean_metric(
        jnp.asarray(draws_cov), jnp.asarray(prec @ draws_cov @ prec)
    )
    np.testing.assert_allclose(got, cov, rtol=1e-3, atol=1e-3 * np.max(cov))
    # Broken companion: the covariance of the draws alone is not the target's.
    assert not np.allclose(draws_cov, cov, rtol=1e-1, atol=1e-1 * np.max(cov))


def _window(root, draws, scores):
    stats = metric.stats_init(draws.shape[1], draws.shape[2], jnp.float32, full=True, scores=True)
    for x, s in zip(draws, scores, strict=True):
        stats = metric.stats_update(stats, jnp.asarray(x), jnp.asarray(s), root)
    return stats


def test_update_root_whitens_a_gaussian_window():
    """Windows of exact draws and scores of N(0, C): the root R has R Rᵀ ~ C.

    The shrinkage toward the diagonal biases the first window, made in the raw
    coordinates (``C⁻¹`` has condition 1e4 there); the second, made in the
    coordinates the first whitened, lands on ``C``.
    """
    cov = _rotated_cov(3, np.array([0.1, 1.0, 10.0]))
    rng = np.random.default_rng(2)
    draws = rng.multivariate_normal(np.zeros(3), cov, size=(400, 8)).astype(np.float32)
    scores = -draws @ np.linalg.inv(cov).astype(np.float32)
    healthy = jnp.ones(8, bool)
    root = adaptation.unit_root(3, jnp.float32, True)
    exact, _ = metric.update_root(_window(root, draws, scores), root, healthy, True, 0.0)
    np.testing.assert_allclose(metric.matrix(exact), cov, rtol=0.05, atol=0.05 * np.max(cov))
    first, _ = metric.update_root(_window(root, draws, scores), root, healthy, True, 0.01)
    second, lam = metric.update_root(_window(first, draws, scores), first, healthy, True, 0.01)
    np.testing.assert_allclose(metric.matrix(second), cov, rtol=0.05, atol=0.05 * np.max(cov))
    np.testing.assert_allclose(second.inverse @ second.lower, np.eye(3), atol=1e-3)
    assert 0.8 < float(lam) < 1.3  # the draws whitened by R have unit scale
    # Broken companion: the precision instead of the covariance is far off.
    assert not np.allclose(np.linalg.inv(metric.matrix(second)), cov, rtol=0.05, atol=4.4)


# --------------------------------------------------------------------------- #
# float32 numerics of the dense metric
# --------------------------------------------------------------------------- #
def _graded_spd() -> np.ndarray:
    """SPD, condition ~1e8: a well-conditioned correlation matrix under scales 1e-2..1e2."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))
    corr = q @ np.diag(np.geomspace(0.3, 3.0, 6)) @ q.T
    corr /= np.sqrt(np.outer(np.diag(corr), np.diag(corr)))
    scale = np.geomspace(1e-2, 1e2, 6)[[3, 0, 5, 1, 4, 2]]
    return scale[:, None] * corr * scale[None, :]


def _exact_roots(matrix):
    vals, vecs = np.linalg.eigh(matrix)
    return (vecs * np.sqrt(vals)) @ vecs.T, (vecs / np.sqrt(vals)) @ vecs.T


def _rel_err(got, exact):
    return np.linalg.norm(np.asarray(got, float) - exact, 2) / np.linalg.norm(exact, 2)


def unstable_sqrtm_psd(matrix):
    """The former roots: ``eigh`` of the matrix itself, eigenvalues floored at ``tiny``."""
    vals, vecs = jnp.linalg.eigh(0.5 * (matrix + matrix.T))
    vals = jnp.maximum(vals, jnp.finfo(matrix.dtype).tiny)
    return (vecs * jnp.sqrt(vals)) @ vecs.T, (vecs / jnp.sqrt(vals)) @ vecs.T


def unstable_geometric_mean(cov_draws, cov_scores):
    """The former geometric mean: no diagonal rescaling, the former roots."""
    root, inv_root = unstable_sqrtm_psd(cov_scores)
    inner, _ = unstable_sqrtm_psd(root @ cov_draws @ root)
    mean = inv_root @ inner @ inv_root
    return 0.5 * (mean + mean.T)


def test_sqrtm_psd_float32_condition_1e8_matches_float64():
    matrix = _graded_spd()
    assert np.linalg.cond(matrix) > 1e8
    root, inv_root = metric.sqrtm_psd(jnp.asarray(matrix, jnp.float32))
    exact_root, exact_inv = _exact_roots(matrix)
    # Floor 10 eps relative: root errors are at most sqrt(1.2e-6) ~ 1.1e-3 of the norm.
    assert _rel_err(root, exact_root) < 2e-3 and _rel_err(inv_root, exact_inv) < 2e-3
    # Broken companion: the former absolute floor loses the inverse root.
    _, old_inv = unstable_sqrtm_psd(jnp.asarray(matrix, jnp.float32))
    assert _rel_err(old_inv, exact_inv) > 1e-2


def test_sqrtm_and_cholesky_stay_finite_on_singular_matrices():
    singular = jnp.ones((4, 4), jnp.float32)
    root, inv_root = metric.sqrtm_psd(singular)
    assert np.all(np.isfinite(root)) and np.all(np.isfinite(inv_root))
    assert np.max(np.abs(inv_root)) < 1e4  # bounded by the relative floor
    np.testing.assert_allclose(root @ root, singular, atol=1e-3)
    chol = adaptation.stable_cholesky(singular)
    assert np.all(np.isfinite(chol)) and np.all(np.diag(chol) > 0)
    np.testing.assert_allclose(chol @ chol.T, singular, atol=1e-4)
    indefinite = singular - 1e-3 * jnp.eye(4)  # a rounding-sized negative eigenvalue
    assert np.any(np.isnan(jnp.linalg.cholesky(indefinite)))  # the plain factor goes NaN
    assert np.all(np.isfinite(adaptation.stable_cholesky(indefinite)))
    # Broken companion: the former inverse root is unbounded on the singular matrix.
    _, old_inv = unstable_sqrtm_psd(singular)
    assert not (np.all(np.isfinite(old_inv)) and np.max(np.abs(old_inv)) < 1e4)


def test_geometric_mean_metric_float32_on_graded_gaussian():
    cov = _graded_spd()
    draws = np.diag(np.diag(cov)) * 0.7
    prec = np.linalg.inv(cov)
    args = (jnp.asarray(draws, jnp.float32), jnp.asarray(prec @ draws @ prec, jnp.float32))
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    got = adaptation.geometric_mean_metric(*args)
    assert np.max(np.abs(np.asarray(got, float) - cov) / scale) < 1e-3
    # Broken companion: the former geometric mean (no rescaling, absolute floor).
    old = unstable_geometric_mean(*args)
    assert not np.max(np.abs(np.asarray(old, float) - cov) / scale) < 1e-3
