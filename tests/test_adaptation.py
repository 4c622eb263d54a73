"""MALA warm-up: windows, dual averaging, Welford, and the acceptance claims."""

import functools
import itertools
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, var_z

import jlangevin as jl
from jlangevin import adaptation


def _rotated_cov(dim: int, sd: np.ndarray, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    cov = q @ np.diag(sd**2) @ q.T
    return 0.5 * (cov + cov.T)


def _rhat_ess(x: np.ndarray) -> tuple[float, float]:
    ds = az.convert_to_dataset({"x": np.asarray(x, float)})
    return float(np.max(az.rhat(ds).x.values)), float(np.min(az.ess(ds).x.values))


def _adapted_run(target, preconditioner, num_warmup, num_draws, seed=0):
    x0 = jax.random.normal(jax.random.key(seed), (4, target.dim))
    sampler, state, info = adaptation.mala_warmup(
        jax.random.key(seed + 1), target.logdensity, x0, num_warmup, preconditioner=preconditioner
    )
    trace = jl.run(jax.random.key(seed + 2), sampler, state, num_draws)
    return trace, info


def _best_scalar_min_ess(target, steps, num_draws, num_warmup):
    x0 = jax.random.normal(jax.random.key(0), (4, target.dim))
    best = 0.0
    for h in steps:
        # An array step size is an argument of the compiled loop: one compilation serves
        # every step (a Python or numpy float would be baked in, one program per value).
        sampler = jl.mala(target.logdensity, jnp.asarray(h, jnp.float32))
        with warnings.catch_warnings():  # the small-enough scalar steps reject everything
            warnings.filterwarnings("ignore", message="jl.run: .* never moved")
            trace = jl.run(jax.random.key(1), sampler, x0, num_draws, burnin=num_warmup)
        best = max(best, _rhat_ess(trace.positions)[1])
    return best


# --------------------------------------------------------------------------- #
# Pieces
# --------------------------------------------------------------------------- #
def test_window_schedule_is_stan_like():
    assert adaptation.window_schedule(1000) == (
        (75, 100),
        (100, 150),
        (150, 250),
        (250, 450),
        (450, 850),
    )
    small = adaptation.window_schedule(100)  # 15% / 75% / 10%
    assert small[0][0] == 15 and small[-1][1] == 90
    for windows in (adaptation.window_schedule(n) for n in (20, 157, 2000, 5001)):
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


def test_dual_averaging_reaches_target_on_known_curve():
    # acceptance(eps) = exp(-eps): the fixed point for target 0.574 is -log(0.574).
    da = adaptation.dual_averaging_init(jnp.asarray(5.0))
    for _ in range(3000):
        da = adaptation.dual_averaging_update(da, jnp.exp(-jnp.exp(da.log_step)), 0.574)
    np.testing.assert_allclose(np.exp(da.log_step_avg), -np.log(0.574), rtol=0.02)


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


def test_geometric_mean_metric_recovers_gaussian_covariance():
    cov = _rotated_cov(4, np.array([0.3, 1.0, 2.0, 3.0]))
    draws_cov = _rotated_cov(4, np.array([1.0, 1.0, 1.0, 0.5]), seed=3)  # any draws law
    prec = np.linalg.inv(cov)
    metric = adaptation.geometric_mean_metric(
        jnp.asarray(draws_cov), jnp.asarray(prec @ draws_cov @ prec)
    )
    np.testing.assert_allclose(metric, cov, rtol=1e-3, atol=1e-3 * np.max(cov))


# --------------------------------------------------------------------------- #
# Behaviour
# --------------------------------------------------------------------------- #
def test_adapted_diagonal_mala_fast_claims():
    """10-D, standard deviations 0.01..10: adapted MALA mixes; no scalar step does."""
    sd = np.geomspace(0.01, 10.0, 10)
    target = jl.targets.gaussian(np.zeros(10), scale=sd)
    trace, info = _adapted_run(target, "diagonal", 1000, 2000)
    rhat, ess = _rhat_ess(trace.positions)
    assert rhat < 1.01 and ess > 400, (rhat, ess)
    accept = float(np.mean(trace.info.acceptance_rate))
    assert abs(accept - 0.574) < 0.05, accept
    # Moments against the exact ones, MCSE-based.
    x = np.asarray(trace.positions, float)
    ds = az.convert_to_dataset({"x": x, "x2": x**2})
    ess_x, ess_x2 = az.ess(ds).x.values, az.ess(ds).x2.values
    flat = x.reshape(-1, 10)
    assert np.all(np.abs(flat.mean(0)) < 4 * flat.std(0) / np.sqrt(ess_x))
    second = (flat**2).mean(0)
    assert np.all(np.abs(second - sd**2) < 4 * (flat**2).std(0) / np.sqrt(ess_x2))
    # The learnt variances are those of the target (up to warm-up noise).
    np.testing.assert_allclose(info.preconditioner / sd**2, 1.0, atol=0.5)
    best_scalar = _best_scalar_min_ess(target, np.geomspace(1e-5, 1e-3, 3), 2000, 1000)
    assert best_scalar < 400, best_scalar


def test_dense_beats_diagonal_on_rotated_gaussian_fast():
    sd = np.geomspace(0.01, 10.0, 10)
    target = jl.targets.gaussian(np.zeros(10), _rotated_cov(10, sd))
    dense, _ = _adapted_run(target, "dense", 1000, 2000)
    rhat, ess = _rhat_ess(dense.positions)
    assert rhat < 1.01 and ess > 400, (rhat, ess)
    assert abs(float(np.mean(dense.info.acceptance_rate)) - 0.574) < 0.05
    diagonal, _ = _adapted_run(target, "diagonal", 1000, 2000)
    assert _rhat_ess(diagonal.positions)[1] < 400


def test_warmup_state_resumes_and_is_reproducible():
    logp = lambda p: -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 3.0) ** 2))  # noqa: E731
    positions = {"a": jnp.zeros((2, 2)), "b": jnp.ones((2, 3))}
    out1 = adaptation.mala_warmup(jax.random.key(0), logp, positions, 100)
    out2 = adaptation.mala_warmup(jax.random.key(0), logp, positions, 100)
    np.testing.assert_array_equal(out1[1].position["b"], out2[1].position["b"])
    sampler, state, info = out1
    assert np.all(np.asarray(state.count) == 100)
    assert info.acceptance_rate.shape == (100,) and info.preconditioner.shape == (5,)
    trace = jl.run(jax.random.key(1), sampler, state, 10)
    assert trace.positions["b"].shape == (2, 10, 3)
    _, _, dense_info = adaptation.mala_warmup(
        jax.random.key(0), logp, positions, 100, preconditioner="dense"
    )
    assert dense_info.cholesky.shape == (5, 5)


def test_warmup_bad_input():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.zeros((2, 3))
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_steps"):
        adaptation.mala_warmup(key, logp, x0, 10)
    with pytest.raises(ValueError, match="target_acceptance"):
        adaptation.mala_warmup(key, logp, x0, 100, target_acceptance=1.2)
    with pytest.raises(ValueError, match="preconditioner"):
        adaptation.mala_warmup(key, logp, x0, 100, preconditioner="full")
    with pytest.raises(ValueError, match="shrinkage"):
        adaptation.mala_warmup(key, logp, x0, 100, preconditioner="dense", shrinkage=2.0)
    with pytest.raises(ValueError, match="initial_step_size"):
        adaptation.mala_warmup(key, logp, x0, 100, initial_step_size=-1.0)
    with pytest.raises(ValueError, match="positions"):
        adaptation.mala_warmup(key, logp, jnp.zeros(()), 100)


def test_numpy_and_jax_scalars_are_numbers():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    assert adaptation.window_schedule(np.int32(500)) == adaptation.window_schedule(500)
    assert adaptation.window_schedule(jnp.asarray(500)) == adaptation.window_schedule(500)
    _, state, info = adaptation.mala_warmup(
        jax.random.key(0),
        logp,
        [[0.0, 0.0], [1.0, 1.0]],  # a list is an array
        np.int64(50),
        np.float32(0.6),
        preconditioner="dense",
        initial_step_size=jnp.asarray(0.5),
        shrinkage=np.float64(0.1),
    )
    assert state.position.shape == (2, 2) and info.acceptance_rate.shape == (50,)


# --------------------------------------------------------------------------- #
# float64
# --------------------------------------------------------------------------- #
SD64 = np.array([0.1, 1.0, 3.0])


@functools.cache
def _target64():
    """Made once (under x64, where the tests call it): the same log density for every
    warm-up below, so the compiled warm-up of the float64 tests is shared."""
    return jl.targets.gaussian(np.zeros(3), scale=SD64)


def _warmup_float64(dtype):
    x0 = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), dtype)
    return adaptation.mala_warmup(jax.random.key(1), _target64().logdensity, x0, 300)


def _moment_z(trace) -> np.ndarray:
    x = trace.positions
    return np.concatenate([mean_z(x, np.zeros(3)), var_z(x, np.zeros(3), SD64**2)])


def test_warmup_keeps_float32_under_x64():
    with jax.enable_x64(True):
        sampler, state, info = _warmup_float64(jnp.float32)
        trace = jl.run(jax.random.key(2), sampler, state, 10)
    assert state.position.dtype == jnp.float32 and info.step_size.dtype == jnp.float32
    assert info.preconditioner.dtype == jnp.float32 and trace.positions.dtype == jnp.float32


def test_float64_adapted_mala_has_the_exact_moments():
    with jax.enable_x64(True):
        sampler, state, info = _warmup_float64(jnp.float64)
        trace = jl.run(jax.random.key(2), sampler, state, 2000)
        z = _moment_z(trace)
    assert info.step_size.dtype == jnp.float64 and info.preconditioner.dtype == jnp.float64
    assert state.position.dtype == jnp.float64 and trace.positions.dtype == jnp.float64
    assert np.all(np.abs(z) < Z_MAX), z
    accept = float(np.mean(np.asarray(trace.info.acceptance_rate)))
    assert abs(accept - 0.574) < 0.1, accept


def test_float64_moment_check_catches_the_uncorrected_step():
    # Broken companion: the adapted step without the Metropolis correction (ULA)
    # inflates the variances by 1 / (1 - ε/2) on this Gaussian.
    with jax.enable_x64(True):
        _, state, info = _warmup_float64(jnp.float64)
        ula = jl.ula(
            lambda x: -0.5 * jnp.sum((x / SD64) ** 2), info.step_size * info.preconditioner
        )
        trace = jl.run(jax.random.key(2), ula, state.position, 2000)
        z = _moment_z(trace)
    assert np.any(np.abs(z) > Z_MAX), z


# --------------------------------------------------------------------------- #
# The acceptance claims, full size
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_acceptance_claims_100d():
    sd = np.geomspace(0.01, 10.0, 100)
    target = jl.targets.gaussian(np.zeros(100), scale=sd)
    trace, _ = _adapted_run(target, "diagonal", 2000, 5000)
    rhat, ess = _rhat_ess(trace.positions)
    accept = float(np.mean(trace.info.acceptance_rate))
    print(f"\nadapted diagonal: R-hat {rhat:.4f}, min ESS {ess:.0f}, acceptance {accept:.3f}")
    assert rhat < 1.01 and ess > 400 and abs(accept - 0.574) < 0.05
    best = _best_scalar_min_ess(target, np.geomspace(1e-5, 3e-4, 6), 5000, 2000)
    print(f"best scalar step: min ESS {best:.0f}")
    assert best < 400
    rotated = jl.targets.gaussian(np.zeros(100), _rotated_cov(100, sd))
    dense, _ = _adapted_run(rotated, "dense", 2000, 5000)
    rhat_d, ess_d = _rhat_ess(dense.positions)
    accept_d = float(np.mean(dense.info.acceptance_rate))
    print(f"rotated, dense: R-hat {rhat_d:.4f}, min ESS {ess_d:.0f}, acceptance {accept_d:.3f}")
    assert rhat_d < 1.01 and ess_d > 400 and abs(accept_d - 0.574) < 0.05
    diag, _ = _adapted_run(rotated, "diagonal", 2000, 5000)
    rhat_g, ess_g = _rhat_ess(diag.positions)
    print(f"rotated, diagonal: R-hat {rhat_g:.4f}, min ESS {ess_g:.0f}")
    assert not (rhat_g < 1.01 and ess_g > 400)


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


def test_sqrtm_psd_float32_condition_1e8_matches_float64():
    matrix = _graded_spd()
    assert np.linalg.cond(matrix) > 1e8
    root, inv_root = adaptation._sqrtm_psd(jnp.asarray(matrix, jnp.float32))
    exact_root, exact_inv = _exact_roots(matrix)
    # Floor 10 eps relative: root errors are at most sqrt(1.2e-6) ~ 1.1e-3 of the norm.
    assert _rel_err(root, exact_root) < 2e-3 and _rel_err(inv_root, exact_inv) < 2e-3
    # Broken companion: the former absolute floor loses the inverse root.
    _, old_inv = adaptation._sqrtm_psd(jnp.asarray(matrix, jnp.float32), stable=False)
    assert _rel_err(old_inv, exact_inv) > 1e-2


def test_sqrtm_and_cholesky_stay_finite_on_singular_matrices():
    singular = jnp.ones((4, 4), jnp.float32)
    root, inv_root = adaptation._sqrtm_psd(singular)
    assert np.all(np.isfinite(root)) and np.all(np.isfinite(inv_root))
    assert np.max(np.abs(inv_root)) < 1e4  # bounded by the relative floor
    np.testing.assert_allclose(root @ root, singular, atol=1e-3)
    chol = adaptation.stable_cholesky(singular)
    assert np.all(np.isfinite(chol)) and np.all(np.diag(chol) > 0)
    np.testing.assert_allclose(chol @ chol.T, singular, atol=1e-4)
    indefinite = singular - 1e-3 * jnp.eye(4)  # a rounding-sized negative eigenvalue
    assert np.any(np.isnan(jnp.linalg.cholesky(indefinite)))  # the plain factor goes NaN
    assert np.all(np.isfinite(adaptation.stable_cholesky(indefinite)))


def test_geometric_mean_metric_float32_on_graded_gaussian():
    cov = _graded_spd()
    draws = np.diag(np.diag(cov)) * 0.7
    prec = np.linalg.inv(cov)
    metric = adaptation.geometric_mean_metric(
        jnp.asarray(draws, jnp.float32), jnp.asarray(prec @ draws @ prec, jnp.float32)
    )
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.max(np.abs(np.asarray(metric, float) - cov) / scale) < 1e-3


def test_chain_health_flags_stuck_and_outlying_chains():
    accept = jnp.asarray([0.6, 0.0, 0.55, 0.7, 0.5, 0.6, 0.01, 0.65])
    logdensity = jnp.asarray([-10.0, -11.0, -9.0, -1e4, -10.5, -12.0, -9.5, -10.0])
    stuck, outlier = adaptation.chain_health(accept, logdensity)
    assert np.flatnonzero(stuck).tolist() == [1, 6]
    assert np.flatnonzero(outlier).tolist() == [3]
    # All chains accepting little: the step is the problem, nobody is called stuck.
    stuck, _ = adaptation.chain_health(jnp.full(8, 0.02), logdensity)
    assert not np.any(stuck)


def test_the_same_model_and_settings_reuse_the_compiled_warmup():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.zeros((4, 3))
    before = adaptation._cached_warmup.cache_info()
    jl.adaptation.mala_warmup(jax.random.key(0), logp, x0, 30)
    jl.adaptation.mala_warmup(jax.random.key(1), logp, x0 + 0.1, 30)
    after = adaptation._cached_warmup.cache_info()
    assert after.misses - before.misses == 1 and after.hits - before.hits == 1
    # Another position layout is another program.
    jl.adaptation.mala_warmup(jax.random.key(0), logp, jnp.zeros((4, 2)), 30)
    assert adaptation._cached_warmup.cache_info().misses - after.misses == 1


def test_a_short_dense_warmup_on_a_small_neural_network_works_in_float32():
    """The issue's case: 30 dense warm-up steps on a network's posterior once ended in
    "`cholesky` must be a lower Cholesky factor"; now the metric stays a factor."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = np.sin(x @ np.array([1.0, -0.5, 0.3])).astype(np.float32)

    def logp(p):
        pred = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        prior = -0.5 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))
        return prior - 0.5 * jnp.sum((y - pred) ** 2) / 0.1**2

    keys = jax.random.split(jax.random.key(0), 8)
    positions = jax.vmap(
        lambda k: {
            "w1": 0.5 * jax.random.normal(jax.random.fold_in(k, 1), (3, 16)),
            "b1": jnp.zeros(16),
            "w2": 0.5 * jax.random.normal(jax.random.fold_in(k, 2), (16,)),
            "b2": jnp.zeros(()),
        }
    )(keys)
    sampler, state, info = jl.adaptation.mala_warmup(
        jax.random.key(1), logp, positions, 30, preconditioner="dense"
    )
    assert np.isfinite(float(info.step_size)) and float(info.step_size) > 0
    trace = jl.run(jax.random.key(2), sampler, state, 20)
    assert trace.num_diverged_chains == 0
    assert float(np.mean(trace.info.acceptance_rate)) > 0.2
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(trace.positions))
