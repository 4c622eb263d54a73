"""MCLMC: an approximate kernel whose error has the order the theory gives.

- At a small step, chains started at exact draws keep the target's moments and
  marginal law (the ``O(ε²)`` bias is far below the Monte Carlo error); with the
  momentum refresh switched off (deterministic isokinetic dynamics, not ergodic)
  the same check fails.
- The integrator is second order: the energy change of one step from the
  stationary law shrinks 8-fold when ``ε`` halves (a local error ``O(ε³)``), 4-fold
  for a first-order companion.
- The bias of the position's variance shrinks 4-fold when ``ε`` halves (slow),
  and not for the first-order companion.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin import diagnostics as dg
from jlangevin.gradients import value_and_score_fn
from jlangevin.kernels import _kinetic, mclmc
from jlangevin.types import MetricRoot, TuningParams

SCALES = np.asarray([0.5, 1.0, 2.0])


def _symplectic_euler(position, momentum, score, h, metric, bounds, value_and_score):
    """B(h) A(h): a first-order isokinetic step (the broken companion's integrator)."""
    u, kinetic = _kinetic.isokinetic_kick(momentum, metric, score, h)
    x, u = _kinetic.drift(position, u, metric, h, bounds)
    value, score = value_and_score(x)
    return x, u, value, score, kinetic


def _gaussian_run(key=0, step_size=0.4, decoherence_length=2.0):
    target = jl.targets.gaussian(np.zeros(3), scale=SCALES)
    sampler = mclmc.sampler(target.logdensity, step_size, decoherence_length)
    start = target.sample(jax.random.key(100 + key), 200)  # exact draws: no burn-in
    trace = jl.run(jax.random.key(key), sampler, start, 300)
    x = trace.positions
    z = np.concatenate([mean_z(x, np.zeros(3)), var_z(x, np.zeros(3), SCALES**2)])
    return trace, z, ks_pvalue(x[..., 2], target.marginal_cdfs[2])[0]


@pytest.mark.long
def test_keeps_a_gaussian_at_a_small_step():
    trace, z, pvalue = _gaussian_run()
    assert np.all(np.abs(z) < Z_MAX), z
    assert pvalue > 1e-3, pvalue
    assert not np.asarray(trace.info.diverged).any()
    momentum_norms = np.sum(np.asarray(trace.final_state.momentum) ** 2, axis=-1)
    np.testing.assert_allclose(momentum_norms, 1.0, rtol=1e-5)


def test_the_check_catches_a_switched_off_refresh(monkeypatch):
    """Companion: without the Langevin noise the isokinetic flow is not ergodic."""
    monkeypatch.setattr(_kinetic, "isokinetic_refresh", lambda key, momentum, c: momentum)
    _, z, pvalue = _gaussian_run(key=1)
    assert np.abs(z).max() > Z_MAX or pvalue < 1e-3, (z, pvalue)


def _energy_change_ratio(step_size):
    """rms ΔE of one step at ``ε`` over rms ΔE at ``ε / 2``, from 2000 stationary (x, u)."""
    target = jl.targets.gaussian(np.zeros(3), scale=SCALES)
    value_and_score = value_and_score_fn(target.logdensity, None)
    xs = target.sample(jax.random.key(1), 2000)
    keys = jax.random.split(jax.random.key(2), 2000)
    us = jax.vmap(lambda k: _kinetic.isokinetic_refresh(k, jnp.zeros(3), 0.0))(keys)

    def change(x, u, h):
        value, score = value_and_score(x)
        _, _, new_value, _, kinetic = mclmc.minimal_norm(
            x, u, score, h, _kinetic.Metric(), None, value_and_score
        )
        return kinetic - (new_value - value)

    @jax.jit
    def rms(h):
        return jnp.sqrt(jnp.mean(jax.vmap(change, (0, 0, None))(xs, us, h) ** 2))

    return float(rms(jnp.float32(step_size)) / rms(jnp.float32(step_size / 2)))


def test_the_energy_error_of_a_step_is_third_order():
    # Local error O(ε³): halving ε divides it by 8 (4 for a first-order scheme).
    assert 7.0 < _energy_change_ratio(0.1) < 9.0


def test_the_order_check_catches_a_first_order_integrator(monkeypatch):
    monkeypatch.setattr(mclmc, "minimal_norm", _symplectic_euler)
    assert not 7.0 < _energy_change_ratio(0.1) < 9.0


def _variance_bias(step_size, key):
    """Mean over coordinates of Var x / σ² - 1 on N(0, I_2), and its MCSE."""
    target = jl.targets.gaussian(np.zeros(2), scale=np.ones(2))
    sampler = mclmc.sampler(target.logdensity, step_size, 1.5)
    start = target.sample(jax.random.key(100 + key), 2000)
    trace = jl.run(jax.random.key(key), sampler, start, 600)
    excess = np.mean(np.asarray(trace.positions, float) ** 2 - 1.0, axis=-1)  # (chains, draws)
    ess = float(np.min(np.asarray(dg.ess(excess[..., None]))))
    return excess.mean(), excess.std() / math.sqrt(ess)


def _second_order_z():
    """z-score of ``bias(ε) - 4 bias(ε/2)`` (zero for an O(ε²) bias), and bias(ε)'s z."""
    big, big_se = _variance_bias(2.0, key=0)
    small, small_se = _variance_bias(1.0, key=1)
    return (big - 4 * small) / math.hypot(big_se, 4 * small_se), big / big_se


@pytest.mark.slow
def test_the_variance_bias_is_second_order_in_the_step():
    z_order, z_bias = _second_order_z()
    assert z_bias < -Z_MAX, z_bias  # a real bias at ε = 2 (the variance shrinks) ...
    assert abs(z_order) < Z_MAX, z_order  # ... that shrinks 4-fold at ε = 1


@pytest.mark.slow
def test_the_bias_check_catches_a_first_order_integrator(monkeypatch):
    monkeypatch.setattr(mclmc, "minimal_norm", _symplectic_euler)
    z_order, z_bias = _second_order_z()
    assert abs(z_order) > Z_MAX or abs(z_bias) < Z_MAX, (z_order, z_bias)


# --------------------------------------------------------------------------- #
# The acceptance statistic
# --------------------------------------------------------------------------- #
def test_the_statistic_meets_its_target_at_the_papers_energy_variance():
    """For ΔE ~ N(0, ξ d): E[exp(-ΔE² / (d ξ))] = 1 / sqrt(3) (exact here by quadrature)."""
    dims = 50
    sd = math.sqrt(mclmc.ENERGY_VARIANCE_PER_DIM * dims)
    grid = np.linspace(-12 * sd, 12 * sd, 20001)
    density = np.exp(-0.5 * (grid / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    stat = np.asarray(mclmc.acceptance_statistic(jnp.asarray(grid), dims), float)
    mean = np.sum(stat * density) * (grid[1] - grid[0])
    np.testing.assert_allclose(mean, mclmc.TARGET_ACCEPTANCE, rtol=1e-4)
    assert mclmc.tuning.target_acceptance == mclmc.TARGET_ACCEPTANCE


def test_the_statistic_decreases_with_the_step():
    target = jl.targets.gaussian(np.zeros(3), scale=SCALES)
    logp = target.logdensity
    states = jax.vmap(lambda x: mclmc.init(x, logp))(target.sample(jax.random.key(3), 64))
    keys = jax.random.split(jax.random.key(4), 100 * 64).reshape(100, 64)

    @jax.jit
    def infos(step_size):  # one compiled loop for every step size
        step = jax.vmap(lambda k, s: mclmc.step(k, s, logp, step_size, 2.0))
        return jax.lax.scan(lambda s, k: step(k, s), states, keys)[1]

    means = []
    for step_size in (0.3, 0.6, 1.2):
        info = infos(jnp.float32(step_size))
        rate = np.asarray(info.acceptance_rate)
        assert ((rate >= 0) & (rate <= 1)).all()
        means.append(rate.mean())
    assert means[0] > means[1] > means[2], means
    change = np.asarray(info.energy_change, float)
    np.testing.assert_allclose(rate, np.exp(-(change**2) / (3 * 5e-4)), rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------------- #
# Divergences, metrics, pytrees, dtypes
# --------------------------------------------------------------------------- #
def test_non_finite_steps_keep_the_last_finite_position():
    logp = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * jnp.sum(x**2))  # noqa: E731
    sampler = mclmc.sampler(logp, 0.8, 1.0)
    state = sampler.init(jnp.zeros(2))
    step = jax.jit(sampler.step)
    diverged = 0
    for i in range(60):
        before = state
        state, info = step(jax.random.key(i), state)
        assert float(state.position[0]) <= 1.0 and np.isfinite(float(state.logdensity))
        np.testing.assert_allclose(float(jnp.sum(state.momentum**2)), 1.0, rtol=1e-5)
        if bool(info.diverged):
            diverged += 1
            np.testing.assert_array_equal(state.position, before.position)
            assert float(info.acceptance_rate) == 0.0
    assert diverged > 0
    assert int(state.count) == 60


def test_dense_root_of_a_diagonal_matches_the_diagonal_metric():
    logp = lambda x: -0.5 * jnp.sum(x**2 / jnp.asarray([0.5, 2.0, 0.1]))  # noqa: E731
    var = jnp.asarray([0.4, 3.0, 0.2])
    state = mclmc.init(jnp.asarray([0.3, -1.0, 0.1]), logp)

    @jax.jit
    def both(key):
        diag = mclmc.step(key, state, logp, 0.3, 1.0, inverse_mass=var)
        dense = mclmc.step(key, state, logp, 0.3, 1.0, cholesky=jnp.diag(var**0.5))
        return diag, dense

    (diag, info_g), (dense, info_d) = both(jax.random.key(0))
    np.testing.assert_allclose(dense.position, diag.position, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense.momentum, diag.momentum, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info_d.energy_change, info_g.energy_change, atol=1e-5)


def test_a_diagonal_metric_keeps_the_gaussian():
    target = jl.targets.gaussian(np.zeros(3), scale=SCALES)
    sampler = mclmc.sampler(target.logdensity, 0.3, 1.5, inverse_mass=jnp.asarray(SCALES**2))
    trace = jl.run(jax.random.key(5), sampler, target.sample(jax.random.key(6), 200), 200)
    x = trace.positions
    z = np.concatenate([mean_z(x, np.zeros(3)), var_z(x, np.zeros(3), SCALES**2)])
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dtypes_follow_the_position_under_x64(dtype):
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with jax.enable_x64(True):
        sampler = mclmc.sampler(logp, 0.3, 2.0)
        state = sampler.init(jnp.zeros(2, dtype))
        state, info = jax.eval_shape(sampler.step, jax.random.key(0), state)
    assert state.position.dtype == state.momentum.dtype == state.logdensity.dtype == dtype
    assert info.energy_change.dtype == info.acceptance_rate.dtype == dtype


def test_pytree_positions_have_a_unit_momentum_over_all_leaves():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    sampler = mclmc.sampler(logp, 0.4, 2.0, inverse_mass={"a": 1.0, "b": jnp.asarray([4.0])})
    x0 = {"a": jnp.linspace(-1.0, 1.0, 8).reshape(4, 2), "b": jnp.ones((4, 1))}
    trace = jl.run(jax.random.key(5), sampler, x0, 20)
    u = trace.final_state.momentum
    norms = np.sum(np.asarray(u["a"]) ** 2, -1) + np.sum(np.asarray(u["b"]) ** 2, -1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert int(np.asarray(trace.info.num_grads).sum()) == 2 * 4 * 20


# --------------------------------------------------------------------------- #
# The tuning declaration
# --------------------------------------------------------------------------- #
def test_tuning_declaration_steps_and_binds():
    tuning = mclmc.tuning
    assert tuning.name == "mclmc" and "mclmc" not in jl.kernels.EXACT_KERNELS
    assert tuning.trajectory_rules == ("ess", "meads")  # no ChEES: the step has no end
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    params = TuningParams(
        step_size=jnp.float32(0.5),
        metric=MetricRoot(scale=jnp.asarray([1.0, 2.0])),
        trajectory_length=jnp.float32(2.0),
        num_integration_steps=jnp.int32(4),
    )
    state = tuning.init(jnp.ones(2), logp)
    state, info, end = jax.jit(lambda k, s, p: tuning.step(k, s, logp, p))(
        jax.random.key(0), state, params
    )
    assert end is None and 0.0 <= float(info.acceptance_rate) <= 1.0
    sampler = tuning.sampler(logp, params, position=jnp.ones(2))
    trace = jl.run(jax.random.key(0), sampler, jnp.ones((3, 2)), 10)
    assert trace.positions.shape == (3, 10, 2)
    # L stays an array: another tuned L reuses the compiled loop (a float would not).
    from jlangevin.run.cache import split_sampler

    longer = tuning.sampler(
        logp, params._replace(trajectory_length=jnp.float32(3.0)), position=jnp.ones(2)
    )
    assert split_sampler(longer)[0] == split_sampler(sampler)[0]
