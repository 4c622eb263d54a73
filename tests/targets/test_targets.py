"""Targets: exact constants against independent quadrature, exact samplers against exact moments."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import jlangevin as jl


def test_quartic_constants():
    target = jl.targets.quartic()
    assert jl.targets.QUARTIC_NORMALIZER == pytest.approx(0.98887066, abs=1e-8)
    poly = lambda x: (x - 0.4) ** 4 - (x - 0.2) ** 2 + 0.6  # noqa: E731
    z = integrate.quad(poly, -0.7, 1.5)[0]
    mean = integrate.quad(lambda x: x * poly(x), -0.7, 1.5)[0] / z
    var = integrate.quad(lambda x: (x - mean) ** 2 * poly(x), -0.7, 1.5)[0] / z
    assert target.mean[0] == pytest.approx(0.0410720, abs=1e-7) == mean
    assert target.var[0] == pytest.approx(0.2852582, abs=1e-7) == pytest.approx(var)
    xs = np.linspace(-0.7, 1.5, 23)
    cdf_quad = [integrate.quad(poly, -0.7, x)[0] / z for x in xs]
    np.testing.assert_allclose(np.asarray(target.cdf(jnp.asarray(xs))), cdf_quad, atol=2e-6)
    assert float(target.logdensity(jnp.asarray([2.0]))) == -np.inf
    assert np.isfinite(np.asarray(target.score(jnp.asarray([2.0])))).all()


@pytest.mark.parametrize(
    "target",
    [
        jl.targets.quartic(),
        jl.targets.gaussian([1.0, -1.0], [[1.0, 0.8], [0.8, 2.0]]),
        jl.targets.gaussian_mixture([0.3, 0.7], [[-2.0, 0.0], [1.0, 1.0]], [0.5, 1.0]),
        jl.targets.dice(),
        jl.targets.ellipse(radii=(2.0, 1.0), centre=(1.0, -1.0)),
        jl.targets.banana(),
    ],
    ids=lambda t: t.name,
)
def test_exact_sampler_matches_exact_moments_and_cdfs(target):
    n = 40_000
    # Jitted (here and the CDFs below): one compiled program each instead of one per
    # primitive run eagerly.
    x = np.asarray(jax.jit(target.sample, static_argnums=1)(jax.random.key(0), n), float)
    assert x.shape == (n, target.dim)
    se_mean = x.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(x.mean(axis=0) - target.mean) < 4 * se_mean)
    sq = (x - target.mean) ** 2
    assert np.all(np.abs(sq.mean(axis=0) - target.var) < 4 * sq.std(axis=0) / np.sqrt(n))
    for i, cdf in enumerate(target.marginal_cdfs):
        if cdf is not None:
            cdf = jax.jit(cdf)
            assert stats.kstest(x[:, i], lambda v, c=cdf: np.asarray(c(v))).pvalue > 0.01


@pytest.mark.parametrize(
    "target",
    [
        jl.targets.gaussian([0.5, 0.0], scale=[1.0, 2.0]),
        jl.targets.ellipse(),
        jl.targets.banana(),
        jl.targets.gaussian_mixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], [0.4, 0.4]),
    ],
    ids=lambda t: t.name,
)
def test_two_d_densities_are_normalized(target):
    grid = np.linspace(-12, 12, 1201)
    xx, yy = np.meshgrid(grid, grid, indexing="ij")
    # Jitted: one compiled program instead of one per batched primitive run eagerly.
    p = np.asarray(jax.jit(target.pdf)(jnp.stack([xx, yy], axis=-1)), float)
    assert p.sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_noised_mixture_score_is_the_convolution():
    w, mu, sd = [0.4, 0.6], [[-1.0], [2.0]], [0.3, 0.5]
    noised = jl.targets.noised_mixture(w, mu, sd, sigma=0.7)
    x = np.linspace(-4, 5, 7)
    dens = sum(
        wk * stats.norm.pdf(x, m[0], np.hypot(s, 0.7)) for wk, m, s in zip(w, mu, sd, strict=True)
    )
    got = np.exp([float(noised.logdensity(jnp.asarray([v]))) for v in x])
    np.testing.assert_allclose(got, dens, rtol=1e-5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: jl.targets.gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
        (lambda: jl.targets.gaussian([0.0], scale=[-1.0]), "scale"),
        (lambda: jl.targets.gaussian_mixture([0.5, 0.5], [[0.0]], [1.0]), "means"),
        (lambda: jl.targets.ellipse(radii=(0.0, 1.0)), "radii"),
        (lambda: jl.targets.dice(scale=0.0), "scale"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --------------------------------------------------------------------------- #
# numpy and JAX scalars are numbers; lists and arrays are arrays
# --------------------------------------------------------------------------- #
def test_numpy_and_jax_scalars_are_numbers():
    reference = jl.targets.dice(0.2)
    for scale in (np.float32(0.2), np.float64(0.2), jnp.asarray(0.2, jnp.float32)):
        np.testing.assert_allclose(jl.targets.dice(scale).var, reference.var, rtol=1e-6)
    banana = jl.targets.banana(np.float32(2.0), jnp.asarray(0.25))
    np.testing.assert_allclose(banana.var, [4.0, 3.0], rtol=1e-6)
    ellipse = jl.targets.ellipse(jnp.asarray([1.0, 0.6]), np.array([0.0, 0.0]), np.float32(0.033))
    assert ellipse.dim == 2
    noised = jl.targets.noised_mixture([1.0], [[0.0]], [0.6], sigma=np.float32(0.8))
    np.testing.assert_allclose(noised.var, [1.0], rtol=1e-6)
    assert jl.targets.gaussian(jnp.zeros(3), scale=np.float32(2.0)).var.tolist() == [4.0] * 3


def test_positions_keep_their_dtype():
    target = jl.targets.gaussian([0.0, 1.0], [[1.0, 0.3], [0.3, 2.0]])
    x = jnp.asarray([0.2, 0.4], jnp.float32)
    assert target.logdensity(x).dtype == jnp.float32
    assert target.score(x).dtype == jnp.float32
    with jax.enable_x64(True):
        assert target.logdensity(x).dtype == jnp.float32  # float32 stays float32
        assert target.logdensity(jnp.asarray(x, jnp.float64)).dtype == jnp.float64


# --------------------------------------------------------------------------- #
# float64
# --------------------------------------------------------------------------- #
COV = np.array([[1.0, 0.8], [0.8, 2.0]])


def test_float64_logdensity_is_float64_accurate():
    x = np.array([0.3, -1.7])
    with jax.enable_x64(True):
        target = jl.targets.gaussian([1.0, -1.0], COV)
        got = float(target.logdensity(jnp.asarray(x, jnp.float64)))
    exact = stats.multivariate_normal([1.0, -1.0], COV).logpdf(x)
    assert got == pytest.approx(exact, rel=1e-13)  # float32 would be off by ~1e-7


def _float64_moment_z(target, truth) -> np.ndarray:
    """z-scores of the mean and of the variance of 40,000 float64 draws against ``truth``."""
    n = 40_000
    with jax.enable_x64(True):
        draws = target.sample(jax.random.key(3), n)
        assert draws.dtype == jnp.float64
    x = np.asarray(draws)
    z_mean = (x.mean(0) - truth.mean) / (x.std(0) / np.sqrt(n))
    sq = (x - truth.mean) ** 2
    z_var = (sq.mean(0) - truth.var) / (sq.std(0) / np.sqrt(n))
    return np.concatenate([z_mean, z_var])


def test_float64_exact_sampler_matches_exact_moments():
    target = jl.targets.gaussian([1.0, -1.0], COV)
    z = _float64_moment_z(target, target)
    assert np.all(np.abs(z) < 4), z


def test_float64_moment_check_catches_a_wrong_covariance():
    wrong = jl.targets.gaussian([1.0, -1.0], 1.1 * COV)
    z = _float64_moment_z(wrong, jl.targets.gaussian([1.0, -1.0], COV))
    assert np.any(np.abs(z) > 4), z
