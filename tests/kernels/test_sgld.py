"""SGLD: minibatch posterior mean on a conjugate model, temperature, estimators, schedules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import sgld

# Conjugate model: x_i ~ N(theta, 1), theta ~ N(0, 10^2) (two independent coordinates).
N_DATA, PRIOR_SD = 200, 10.0
DATA = np.random.default_rng(0).normal([1.5, -0.5], 1.0, size=(N_DATA, 2)).astype(np.float32)
POST_VAR = 1.0 / (N_DATA + 1 / PRIOR_SD**2)
POST_MEAN = POST_VAR * DATA.sum(axis=0)


def logprior(theta):
    return -0.5 * jnp.sum((theta / PRIOR_SD) ** 2)


def loglik(theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2)


@pytest.mark.long
@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_posterior_mean_is_exact(replace):
    # For a Gaussian posterior the SGLD recursion is linear with an unbiased
    # gradient, so the stationary mean is exactly the posterior mean (the
    # variance is inflated by the step and the minibatch noise; not tested).
    est = jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), 20, replace=replace)
    sampler = jl.sgld(est, step_size=1e-3)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((64, 2)), 1000, burnin=200)
    z = mean_z(trace.positions, POST_MEAN)
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.long
def test_control_variates_posterior_mean_and_lower_noise():
    est_cv = jl.gradients.control_variates(
        logprior, loglik, jnp.asarray(DATA), 20, jnp.asarray(POST_MEAN, jnp.float32)
    )
    trace = jl.run(
        jax.random.key(1), jl.sgld(est_cv, step_size=1e-3), jnp.zeros((64, 2)), 1000, burnin=200
    )
    z = mean_z(trace.positions, POST_MEAN)
    assert np.all(np.abs(z) < Z_MAX), z
    # Near the centre the control-variate gradient noise is far smaller.
    est = jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), 20)
    theta = jnp.asarray(POST_MEAN + 0.05, jnp.float32)
    keys = jax.random.split(jax.random.key(2), 500)
    # Jitted: one compiled program each instead of one per primitive run eagerly.
    plain = jax.jit(jax.vmap(lambda k: est(k, theta)[1]))(keys)
    cv = jax.jit(jax.vmap(lambda k: est_cv(k, theta)[1]))(keys)
    assert float(cv.var(axis=0).max()) < 0.05 * float(plain.var(axis=0).min())


@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_estimate_is_unbiased(replace):
    est = jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), 10, replace=replace)
    theta = jnp.asarray([0.3, 0.7])
    full_value, full_score = jax.jit(
        jax.value_and_grad(
            lambda t: logprior(t) + jnp.sum(jax.vmap(loglik, (None, 0))(t, jnp.asarray(DATA)))
        )
    )(theta)
    keys = jax.random.split(jax.random.key(0), 4000)
    values, scores = jax.jit(jax.vmap(lambda k: est(k, theta)))(keys)
    for estimate, truth in [(values, full_value), (scores[:, 0], full_score[0])]:
        estimate = np.asarray(estimate, float)
        z = (estimate.mean() - float(truth)) / (estimate.std() / np.sqrt(estimate.size))
        assert abs(z) < Z_MAX, z


def test_whole_data_batch_is_the_full_gradient():
    est = jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), N_DATA)
    full = jl.gradients.full(
        lambda t: logprior(t) + jnp.sum(jax.vmap(loglik, (None, 0))(t, jnp.asarray(DATA)))
    )
    theta = jnp.asarray([0.3, 0.7])
    np.testing.assert_allclose(est(jax.random.key(0), theta)[1], full(None, theta)[1], rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.25])
def test_temperature_scales_the_stationary_variance(temperature):
    # Full gradient on N(0, 1): stationary var = T / (1 - h / 2), exactly (an AR(1)).
    h = 0.4
    sampler = jl.sgld(lambda x: -0.5 * jnp.sum(x**2), step_size=h, temperature=temperature)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((500, 1)), 300, burnin=100)
    z = var_z(trace.positions, np.zeros(1), np.array([temperature / (1 - h / 2)]))
    assert np.all(np.abs(z) < Z_MAX), z


def test_schedule_drives_the_step():
    schedule = jl.schedules.polynomial(a=0.1, b=1.0, gamma=0.55)
    sampler = jl.sgld(lambda x: -0.5 * jnp.sum(x**2), step_size=schedule)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((2, 1)), 20, burnin=5)
    expected = 0.1 * (1.0 + np.arange(5, 25)) ** -0.55
    np.testing.assert_allclose(trace.info.step_size[0], expected, rtol=1e-5)


def test_score_only_and_divergence():
    # Score of N(0, 1) with a step that makes the linear recursion explode (|1 - h| > 1).
    sampler = jl.sgld(score_fn=lambda x: -x, step_size=3.0)
    trace = jl.run(jax.random.key(0), sampler, jnp.ones((2, 1)), 200)
    assert trace.info.logdensity is None
    assert trace.num_diverged_chains == 2
    assert np.isfinite(np.asarray(trace.positions)).all()


def test_estimator_argument_checks():
    with pytest.raises(ValueError, match="batch_size"):
        jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), N_DATA + 1)
    with pytest.raises(ValueError, match="batch_size"):
        jl.gradients.minibatch(logprior, loglik, jnp.asarray(DATA), 0)
    with pytest.raises(ValueError, match="leading axis"):
        jl.gradients.minibatch(logprior, loglik, {"a": jnp.zeros(3), "b": jnp.zeros(4)}, 2)
    with pytest.raises(TypeError, match="gradient_estimator"):
        jl.sgld(3.0, step_size=0.1)
    with pytest.raises(ValueError, match="temperature"):
        jl.sgld(logprior, step_size=0.1, temperature=-1.0)


def test_state_fields():
    # The state carries the estimate at its position: the next step moves with it.
    state = sgld.init(jnp.ones(3), jl.gradients.full(logprior))
    assert state.square_avg is None and int(state.count) == 0
    np.testing.assert_allclose(state.score, -np.ones(3) / PRIOR_SD**2, rtol=1e-6)
    np.testing.assert_allclose(state.logdensity, -1.5 / PRIOR_SD**2, rtol=1e-6)


# Conjugate model: x_i ~ N(theta, 1), theta ~ N(0, 10^2); SVRG's estimate is unbiased and
# the SGLD recursion is linear in theta, so the stationary mean is the posterior mean.
SVRG_DATA = np.random.default_rng(1).normal([1.5, -0.5], 1.0, size=(200, 2)).astype(np.float32)
SVRG_POST_MEAN = SVRG_DATA.sum(axis=0) / (200 + 1e-2)


def _svrg_mean_z(loglik):
    logprior = lambda t: -0.5 * jnp.sum((t / 10.0) ** 2)  # noqa: E731
    est = jl.gradients.svrg(logprior, loglik, jnp.asarray(SVRG_DATA), 20, update_every=50)
    trace = jl.run(
        jax.random.key(0), jl.sgld(est, step_size=1e-3), jnp.zeros((32, 2)), 600, burnin=200
    )
    assert trace.final_state.estimator_state is not None
    return mean_z(trace.positions, SVRG_POST_MEAN)


@pytest.mark.long
def test_sgld_with_svrg_has_the_posterior_mean():
    z = _svrg_mean_z(lambda t, x: -0.5 * jnp.sum((x - t) ** 2))
    assert np.all(np.abs(z) < Z_MAX), z


def test_the_svrg_mean_check_catches_a_biased_likelihood():
    """Companion: a likelihood centred 0.05 off moves the stationary mean by 0.05."""
    z = _svrg_mean_z(lambda t, x: -0.5 * jnp.sum((x + 0.05 - t) ** 2))
    assert np.any(np.abs(z) > Z_MAX), z
