"""Gradient estimators: numpy/JAX scalars accepted, dtypes kept, unbiased in float64 too."""

import collections
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX
from scipy import stats

from jlangevin import gradients

N_DATA, BATCH = 50, 10
DATA = np.random.default_rng(0).normal([1.0, -2.0], 1.5, size=(N_DATA, 2))


def logprior(theta):
    return -0.5 * jnp.sum(theta**2)


def loglik(theta, x):
    # Cauchy: a score that is not linear in θ, so control variates keep some noise.
    return -jnp.sum(jnp.log1p((x - theta) ** 2))


def exact_score(theta: np.ndarray) -> np.ndarray:
    """Of ``logprior + Σ_i loglik``: ``-θ + Σ_i 2 r_i / (1 + r_i²)``, ``r_i = x_i - θ``."""
    r = DATA - theta
    return -theta + (2 * r / (1 + r**2)).sum(axis=0)


def score_z(estimator, theta, num_keys: int = 4000) -> np.ndarray:
    """z-scores of the mean estimated score against the exact one (independent keys)."""
    keys = jax.random.split(jax.random.key(1), num_keys)
    scores = np.asarray(jax.vmap(lambda k: estimator(k, theta)[1])(keys), float)
    se = scores.std(axis=0, ddof=1) / np.sqrt(num_keys)
    return (scores.mean(axis=0) - exact_score(np.asarray(theta, float))) / se


def first_half_minibatch(data):
    """A broken companion: batches drawn from the first half of the data only."""

    def estimate(key, theta):
        index = jax.random.randint(key, (BATCH,), 0, N_DATA // 2)
        batch = data[index]

        def logpost(t):
            return logprior(t) + N_DATA / BATCH * jnp.sum(jax.vmap(loglik, (None, 0))(t, batch))

        return jax.value_and_grad(logpost)(theta)

    return gradients.GradientEstimator(estimate, N_DATA, BATCH)


@pytest.mark.parametrize("batch_size", [np.int64(BATCH), np.int32(BATCH), jnp.asarray(BATCH)])
def test_numpy_and_jax_integer_batch_sizes_are_accepted(batch_size):
    est = gradients.minibatch(logprior, loglik, jnp.asarray(DATA), batch_size)
    assert est.batch_size == BATCH and type(est.batch_size) is int
    cv = gradients.control_variates(
        logprior, loglik, jnp.asarray(DATA), batch_size, jnp.zeros(2), replace=np.bool_(True)
    )
    assert cv.batch_size == BATCH


def test_a_list_of_numbers_is_one_data_array():
    data = [0.5, -1.0, 2.0, 0.0]
    est = gradients.minibatch(lambda m: -0.5 * m**2, lambda m, x: -0.5 * (x - m) ** 2, data, 4)
    _, score = est(jax.random.key(0), jnp.asarray(0.0))
    assert est.num_data == 4
    np.testing.assert_allclose(score, sum(data), rtol=1e-6)  # whole data set: exact


@pytest.mark.parametrize("make", ["minibatch", "control_variates"])
def test_float32_stays_float32_under_x64(make):
    with jax.enable_x64(True):
        theta = jnp.asarray([0.3, -0.2], jnp.float32)
        data = jnp.asarray(DATA, jnp.float32)
        if make == "minibatch":
            est = gradients.minibatch(logprior, loglik, data, BATCH)
        else:
            est = gradients.control_variates(logprior, loglik, data, BATCH, theta)
        value, score = est(jax.random.key(0), theta)
        assert value.dtype == jnp.float32 and score.dtype == jnp.float32


@pytest.mark.long
@pytest.mark.parametrize("make", ["minibatch", "control_variates"])
def test_float64_estimators_are_unbiased(make):
    """Exact full-data score against the mean of 4,000 estimates, in float64."""
    with jax.enable_x64(True):
        data = jnp.asarray(DATA, jnp.float64)
        theta = jnp.asarray([0.4, -1.5], jnp.float64)
        if make == "minibatch":
            est = gradients.minibatch(logprior, loglik, data, BATCH)
        else:
            est = gradients.control_variates(logprior, loglik, data, BATCH, theta + 0.3)
        value, score = est(jax.random.key(0), theta)
        assert value.dtype == jnp.float64 and score.dtype == jnp.float64
        z = score_z(est, theta)
    assert np.all(np.abs(z) < Z_MAX), z


def test_float64_unbiasedness_check_catches_a_biased_batch():
    with jax.enable_x64(True):
        theta = jnp.asarray([0.4, -1.5], jnp.float64)
        z = score_z(first_half_minibatch(jnp.asarray(DATA, jnp.float64)), theta)
    assert np.any(np.abs(z) > Z_MAX), z


def test_control_variates_is_exact_at_its_centre():
    # At θ = c the batch terms cancel: the estimate is the full-data score for every key.
    centre = jnp.asarray([0.7, -1.1])
    est = gradients.control_variates(logprior, loglik, jnp.asarray(DATA), BATCH, centre)
    keys = jax.random.split(jax.random.key(0), 5)
    scores = jax.vmap(lambda k: est(k, centre)[1])(keys)
    np.testing.assert_allclose(
        scores, np.broadcast_to(exact_score(np.asarray(centre)), (5, 2)), rtol=1e-5, atol=1e-3
    )


# --------------------------------------------------------------------------- #
# Batches without replacement (Floyd's algorithm)
# --------------------------------------------------------------------------- #
def _affine_indices(key, num_data, n):
    """A broken companion: ``(a i + b) mod N``, ``a`` a unit mod ``N``, ``b`` uniform.

    Every index is included with probability ``n / N`` (so the estimate is
    unbiased), but the batches are arithmetic progressions: not all subsets.
    """
    units = np.array([a for a in range(1, num_data) if math.gcd(a, num_data) == 1])
    key_a, key_b = jax.random.split(key)
    a = jax.random.choice(key_a, jnp.asarray(units))
    b = jax.random.randint(key_b, (), 0, num_data)
    return (a * jnp.arange(n) + b) % num_data


@pytest.mark.long
@pytest.mark.parametrize("pairwise_max", [gradients._PAIRWISE_MAX, 0], ids=["pairs", "sort"])
@pytest.mark.parametrize(("num_data", "n"), [(7, 4), (6, 1), (5, 5), (6, 3)])
def test_floyd_gives_every_subset_equally_often_exactly(monkeypatch, pairwise_max, num_data, n):
    """Over all equally likely draws t_i in [0, N-n+i], each n-subset comes out n! times."""
    monkeypatch.setattr(gradients, "_PAIRWISE_MAX", pairwise_max)
    ranges = [range(num_data - n + i + 1) for i in range(n)]
    draws = jnp.asarray(list(itertools.product(*ranges)), jnp.int32)
    chosen = np.asarray(jax.vmap(lambda t: gradients._floyd_select(t, num_data))(draws))
    counts = collections.Counter(tuple(sorted(row)) for row in chosen.tolist())
    assert all(len(set(row)) == n for row in chosen.tolist())
    assert len(counts) == math.comb(num_data, n)
    assert set(counts.values()) == {math.factorial(n)}


def _subset_chi2_pvalue(draw, num_data=6, n=3, num_keys=20000):
    keys = jax.random.split(jax.random.key(3), num_keys)
    rows = np.sort(np.asarray(jax.vmap(lambda k: draw(k, num_data, n))(keys)), axis=1)
    counts = collections.Counter(map(tuple, rows.tolist()))
    observed = np.array([counts.get(s, 0) for s in itertools.combinations(range(num_data), n)])
    expected = num_keys / math.comb(num_data, n)
    return stats.chi2.sf(np.sum((observed - expected) ** 2 / expected), len(observed) - 1)


def test_distinct_indices_draw_every_subset_uniformly():
    assert _subset_chi2_pvalue(gradients.distinct_indices) > 1e-3


def test_subset_check_catches_arithmetic_progressions():
    assert _subset_chi2_pvalue(_affine_indices) < 1e-6


def _inclusion_chi2_pvalue(draw, num_data, n, num_keys=4000):
    """Inclusion counts against n/N each; without replacement the counts have covariance
    ``M p (1 - p) N / (N - 1) (I - 1 1ᵀ / N)``: the scaled statistic is chi-square(N - 1)."""
    keys = jax.random.split(jax.random.key(4), num_keys)
    index = np.asarray(jax.vmap(lambda k: draw(k, num_data, n))(keys))
    assert all(len(set(row)) == n for row in index.tolist())  # distinct within each batch
    counts = np.bincount(index.ravel(), minlength=num_data)
    p = n / num_data
    scale = num_keys * p * (1 - p) * num_data / (num_data - 1)
    return stats.chi2.sf(np.sum((counts - num_keys * p) ** 2) / scale, num_data - 1)


@pytest.mark.parametrize(("num_data", "n"), [(1000, 64), (1000, 200), (37, 36)])
def test_distinct_indices_include_every_point_equally_often(num_data, n):
    assert _inclusion_chi2_pvalue(gradients.distinct_indices, num_data, n) > 1e-3


def test_inclusion_check_catches_a_point_never_drawn():
    def skip_last(key, num_data, n):  # a uniform subset of all points but the last
        return gradients.distinct_indices(key, num_data - 1, n)

    assert _inclusion_chi2_pvalue(skip_last, 1000, 64) < 1e-3


@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_is_unbiased_with_and_without_replacement(replace):
    est = gradients.minibatch(logprior, loglik, jnp.asarray(DATA), BATCH, replace=replace)
    z = score_z(est, jnp.asarray([0.4, -1.5]))
    assert np.all(np.abs(z) < Z_MAX), z


def test_distinct_indices_bad_input():
    with pytest.raises(ValueError, match="batch_size"):
        gradients.distinct_indices(jax.random.key(0), 5, 6)
    with pytest.raises(ValueError, match="num_data"):
        gradients.distinct_indices(jax.random.key(0), 0, 1)
