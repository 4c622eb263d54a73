"""pSGLD (SGLD with an RMSProp preconditioner)."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

import jlangevin as jl
from jlangevin.kernels import sgld

DEFAULTS = jl.RMSProp()


def _preconditioner_after(scores, settings=DEFAULTS):
    avg = jnp.zeros(2)
    for count, score in enumerate(scores):
        avg, precond = sgld._rmsprop_update(avg, jnp.asarray(score), jnp.asarray(count), settings)
    return np.asarray(avg), np.asarray(precond)


def test_preconditioner_finite_and_positive_for_zero_and_huge_gradients():
    zero = [[0.0, 0.0]] * 5
    huge = [[1e30, -3e38]] * 5
    for scores in (zero, huge, zero + huge, huge + zero):
        avg, precond = _preconditioner_after(scores)
        assert np.all(np.isfinite(avg)) and np.all(np.isfinite(precond)), scores
        assert np.all(precond > 0), precond
    _, precond = _preconditioner_after(zero)
    np.testing.assert_allclose(precond, 1 / jl.RMSProp().eps, rtol=1e-6)


def test_huge_gradients_do_not_freeze_the_chain():
    big = lambda x: 1e30 * jnp.ones_like(x)  # noqa: E731
    sampler = jl.sgld(score_fn=big, step_size=1e-3, preconditioner=jl.RMSProp())
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((2, 2)), 20)
    x = np.asarray(trace.positions)
    assert np.all(np.isfinite(x)) and trace.num_diverged_chains == 0
    assert np.all(np.abs(np.diff(x, axis=1)) > 0)  # still moving
    assert np.all(np.isfinite(np.asarray(trace.final_state.square_avg)))


def test_psgld_gaussian_with_very_different_scales():
    """Mean exact (by symmetry, Γ omitted or not); variances between exact and the
    ``p / G`` limit (a factor 2 on a Gaussian) that the omitted Γ can reach."""
    sd = np.array([0.1, 1.0, 4.0])
    target = jl.targets.gaussian(np.zeros(3), scale=sd)
    sampler = jl.sgld(target.logdensity, step_size=2e-3, preconditioner=jl.RMSProp(0.9999))
    start = target.sample(jax.random.key(0), 32)
    trace = jl.run(jax.random.key(1), sampler, start, 40000, burnin=10000, thin=10)
    x = np.asarray(trace.positions, float)
    ds = az.convert_to_dataset({"x": x, "x2": x**2})
    ess = az.ess(ds)
    flat = x.reshape(-1, 3)
    mcse_mean = flat.std(0) / np.sqrt(ess.x.values)
    assert np.all(np.abs(flat.mean(0)) < 4 * mcse_mean), flat.mean(0) / mcse_mean
    ratio = (flat**2).mean(0) / sd**2
    mcse_ratio = (flat**2).std(0) / np.sqrt(ess.x2.values) / sd**2
    assert np.all(ratio > 1 - 4 * mcse_ratio) and np.all(ratio < 2 + 4 * mcse_ratio), ratio
    # The smallest scale, which mixes within the average's memory, is nearly exact
    # (ULA's own bias there is h G / (2 s²) ≈ h / (2 s) = 1%).
    assert abs(ratio[0] - 1) < 0.01 + 4 * mcse_ratio[0], ratio


def _frozen_run(freeze_after):
    sd = np.array([0.1, 1.0, 4.0])
    target = jl.targets.gaussian(np.zeros(3), scale=sd)
    h, burnin = 0.02, 2_000
    settings = jl.RMSProp(decay=0.99, freeze_after=freeze_after)
    sampler = jl.sgld(target.logdensity, step_size=h, preconditioner=settings)
    start = target.sample(jax.random.key(0), 32)
    trace = jl.run(jax.random.key(1), sampler, start, 20_000, burnin=burnin, thin=10)
    # With V frozen each chain is SGLD with the constant step h * G_c: on a Gaussian its
    # stationary variance is exactly s^2 / (1 - h G_c / (2 s^2)); average over chains.
    g = 1.0 / (settings.eps + np.sqrt(np.asarray(trace.final_state.square_avg, float)))
    exact = (sd**2 / (1 - h * g / (2 * sd**2))).mean(axis=0)
    z = jl.diagnostics.moment_zscores(np.asarray(trace.positions), np.zeros(3), exact)
    return np.asarray(z.mean), np.asarray(z.var)


def test_frozen_preconditioner_is_exact_sgld_with_a_per_coordinate_step():
    z_mean, z_var = _frozen_run(freeze_after=2_000)
    assert np.all(np.abs(z_mean) < 4), z_mean
    assert np.all(np.abs(z_var) < 4), z_var


def test_unfrozen_preconditioner_misses_that_variance():
    """The same check catches the bias of the omitted Γ while V keeps adapting."""
    _, z_var = _frozen_run(freeze_after=None)
    assert np.abs(z_var).max() > 4, z_var


def test_freeze_after_must_be_positive():
    import pytest

    with pytest.raises(ValueError, match="freeze_after"):
        jl.sgld(lambda x: -jnp.sum(x**2), step_size=0.1, preconditioner=jl.RMSProp(freeze_after=0))
