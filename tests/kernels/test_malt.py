"""MALT: exact invariance from exact draws, on a correlated Gaussian and the walled quartic.

Each check starts its chains at exact draws of the target, so any drift of the
moments (or of the law, by KS against the exact CDF) away from the truth beyond
the Monte Carlo error is the kernel's fault. Each has a broken companion that
the same check rejects: the energy error of HMC (dropping the kinetic energy
the O steps exchange), a leapfrog that is one half kick off (symplectic Euler:
volume-preserving but not reversible), and walls that reflect the position
without negating the momentum.
"""

import functools
import importlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import _kinetic, malt

loop = importlib.import_module("jlangevin.run.loop")

COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.25]])
MEAN = np.array([1.0, -2.0, 0.5])
PRECOND = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.3]])  # not COV


@pytest.fixture
def fresh_compile():
    """Compiled loops are cached on the kernel's settings: a patched kernel needs its own."""
    loop.compiled_chunk.cache_clear()
    yield
    loop.compiled_chunk.cache_clear()


def _gaussian_run(key=0, step_size=0.3, steps=5, gamma=1.0, **kwargs):
    target = jl.targets.gaussian(MEAN, COV)
    sampler = malt.sampler(target.logdensity, step_size, steps, gamma, **kwargs)
    start = target.sample(jax.random.key(100 + key), 200)  # exact draws: no burn-in
    return jl.run(jax.random.key(key), sampler, start, 200)


@functools.lru_cache(maxsize=1)
def _reference_gaussian_run():
    return _gaussian_run()


def _gaussian_z(trace):
    return np.concatenate(
        [mean_z(trace.positions, MEAN), var_z(trace.positions, MEAN, np.diag(COV))]
    )


def test_leaves_a_correlated_gaussian_invariant():
    trace = _reference_gaussian_run()
    z = _gaussian_z(trace)
    assert np.all(np.abs(z) < Z_MAX), z
    assert 0.3 < float(trace.info.acceptance_rate.mean()) < 0.99


def test_the_check_catches_the_hmc_energy_error(monkeypatch, fresh_compile):
    """Companion: H(end) - H(start), as HMC has it, counts the O steps' kinetic changes."""

    def hmc_energy(logdensity_start, logdensity_end, kinetic_before, kinetic_after):
        return logdensity_start - logdensity_end + kinetic_after[-1] - kinetic_before[0]

    monkeypatch.setattr(malt, "energy_error", hmc_energy)
    z = _gaussian_z(_gaussian_run(key=1))
    assert np.abs(z).max() > Z_MAX, z


def test_rejected_steps_return_to_the_start():
    trace = _reference_gaussian_run()
    x = np.asarray(trace.positions)
    start = jl.targets.gaussian(MEAN, COV).sample(jax.random.key(100), 200)
    before = np.concatenate([np.asarray(start)[:, None], x[:, :-1]], axis=1)
    moved = np.any(x != before, axis=-1)
    accepted = np.asarray(trace.info.is_accepted)
    np.testing.assert_array_equal(moved, accepted)
    assert 0 < accepted.mean() < 1
    np.testing.assert_allclose(
        trace.info.acceptance_rate,
        np.minimum(1.0, np.exp(-np.asarray(trace.info.energy_error, float))),
        rtol=1e-5,
    )


QUARTIC = jl.targets.quartic()


def _quartic_run(key=0):
    target = QUARTIC
    sampler = malt.sampler(target.logdensity, 0.2, 5, 1.0, bounds=target.support)
    trace = jl.run(jax.random.key(key), sampler, target.sample(jax.random.key(100 + key), 32), 2000)
    x = trace.positions[..., 0]
    pvalue, n = ks_pvalue(x, target.cdf)
    z = np.concatenate(
        [
            np.atleast_1d(mean_z(x, target.mean[0])),
            np.atleast_1d(var_z(x, target.mean[0], target.var[0])),
        ]
    )
    return trace, pvalue, n, z


def test_walled_quartic_is_sampled_exactly():
    # Mass sits against both walls of [-0.7, 1.5]: every trajectory bounces.
    trace, pvalue, n, z = _quartic_run()
    x = np.asarray(trace.positions)
    assert x.min() >= -0.7 and x.max() <= 1.5
    assert pvalue > 1e-3 and n > 500, (pvalue, n)
    assert np.all(np.abs(z) < Z_MAX), z
    assert not np.asarray(trace.info.diverged).any()


def test_the_quartic_check_catches_walls_that_keep_the_momentum(monkeypatch, fresh_compile):
    """Companion: reflecting the position but not the momentum breaks reversibility."""
    reflect_and_flip = _kinetic.reflect_and_flip

    def reflect_only(x, u, low, high):
        return reflect_and_flip(x, u, low, high)[0], u

    monkeypatch.setattr(_kinetic, "reflect_and_flip", reflect_only)
    _, pvalue, _, z = _quartic_run(key=1)
    assert pvalue < 1e-3 or np.abs(z).max() > Z_MAX, (pvalue, z)


@pytest.mark.slow
@pytest.mark.parametrize("gamma", [0.0, 4.0], ids=["hmc", "high-friction"])
def test_friction_extremes_stay_exact(gamma):
    z = _gaussian_z(_gaussian_run(key=2, gamma=gamma))
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_the_check_catches_a_leapfrog_off_by_a_half_kick(monkeypatch, fresh_compile):
    """Companion: B(h) A(h) (symplectic Euler) is volume-preserving but not reversible."""

    def euler(position, momentum, score, h, metric, bounds, value_and_score):
        u = _kinetic.kick(momentum, metric, score, h)
        x, u = _kinetic.drift(position, u, metric, h, bounds)
        value, score = value_and_score(x)
        return x, u, value, score

    monkeypatch.setattr(malt, "leapfrog", euler)
    z = _gaussian_z(_gaussian_run(key=3))
    assert np.abs(z).max() > Z_MAX, z


def _moments(x):
    """x (chains, draws, 3) -> x, x², x0 x1, x1 x2: functions whose means we know."""
    return np.concatenate([x, x**2, x[..., :1] * x[..., 1:2], x[..., 1:2] * x[..., 2:]], axis=-1)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cholesky", "inverse_mass"])
def test_metrics_stay_exact(metric):
    target = jl.targets.gaussian(np.zeros(3), COV)
    setting = (
        {"cholesky": jnp.linalg.cholesky(jnp.asarray(PRECOND, jnp.float32))}
        if metric == "cholesky"
        else {"inverse_mass": jnp.asarray(np.diag(PRECOND), jnp.float32)}
    )
    sampler = malt.sampler(target.logdensity, 0.25, 6, 1.0, **setting)
    trace = jl.run(jax.random.key(4), sampler, target.sample(jax.random.key(5), 128), 400)
    assert 0.3 < float(trace.info.acceptance_rate.mean()) < 0.99
    exact = np.concatenate([np.zeros(3), np.diag(COV), [COV[0, 1], COV[1, 2]]])
    z = mean_z(_moments(np.asarray(trace.positions, float)), exact)
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_float64_stays_exact():
    with jax.enable_x64(True):
        target = jl.targets.gaussian(jnp.asarray(MEAN), jnp.asarray(COV))
        sampler = malt.sampler(target.logdensity, np.float64(0.3), 5, 1.0)
        start = jnp.asarray(np.random.default_rng(6).multivariate_normal(MEAN, COV, 200))
        trace = jl.run(jax.random.key(6), sampler, start, 200)
        assert trace.positions.dtype == jnp.float64
        assert trace.info.energy_error.dtype == jnp.float64
    z = _gaussian_z(trace)
    assert np.all(np.abs(z) < Z_MAX), z


def test_dense_factor_of_a_diagonal_matches_the_diagonal_metric():
    logp = lambda x: -0.5 * jnp.sum(x**2 / jnp.asarray([0.5, 2.0, 0.1]))  # noqa: E731
    var = jnp.asarray([0.4, 3.0, 0.2])
    state = malt.init(jnp.asarray([0.3, -1.0, 0.1]), logp)

    @jax.jit
    def both(key):
        diag = malt.step(key, state, logp, 0.2, 3, 1.0, inverse_mass=var)
        dense = malt.step(key, state, logp, 0.2, 3, 1.0, cholesky=jnp.diag(var**0.5))
        return diag, dense

    (diag, info_g), (dense, info_d) = both(jax.random.key(0))
    np.testing.assert_allclose(dense.position, diag.position, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info_d.energy_error, info_g.energy_error, atol=1e-5)
    assert bool(info_g.is_accepted) == bool(info_d.is_accepted)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dtypes_follow_the_position_under_x64(dtype):
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with jax.enable_x64(True):
        sampler = malt.sampler(logp, 0.3, 2, 1.0)
        state = sampler.init(jnp.zeros(2, dtype))
        state, info = jax.eval_shape(sampler.step, jax.random.key(0), state)
    assert state.position.dtype == state.logdensity.dtype == dtype
    assert info.energy_error.dtype == info.acceptance_rate.dtype == dtype


@pytest.mark.long
def test_chunked_runs_on_pytree_positions_are_bit_identical():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    sampler = malt.sampler(logp, 0.4, 3, 1.0, inverse_mass={"a": 1.0, "b": jnp.asarray([4.0])})
    x0 = {"a": jnp.linspace(-1.0, 1.0, 8).reshape(4, 2), "b": jnp.ones((4, 1))}
    whole = jl.run(jax.random.key(5), sampler, x0, 40)
    chunked = jl.run(jax.random.key(5), sampler, x0, 40, chunk_size=20)
    assert whole.positions["a"].shape == (4, 40, 2) and whole.positions["b"].shape == (4, 40, 1)
    for leaf in ("a", "b"):
        np.testing.assert_array_equal(whole.positions[leaf], chunked.positions[leaf])
    np.testing.assert_array_equal(whole.info.energy_error, chunked.info.energy_error)
    assert np.isfinite(whole.info.energy_error).all() and whole.info.is_accepted.any()


def test_non_finite_trajectory_is_rejected_and_reported():
    # log p is NaN beyond x = 1: trajectories ending there are rejected and flagged.
    logp = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * x[0] ** 2)  # noqa: E731
    sampler = malt.sampler(logp, 0.8, 2, 1.0)
    diverged, accepted = [], []
    state = sampler.init(jnp.zeros(1))
    step = jax.jit(sampler.step)
    for i in range(40):
        state, info = step(jax.random.key(i), state)
        assert float(state.position[0]) <= 1.0 and np.isfinite(float(state.logdensity))
        diverged.append(bool(info.diverged))
        accepted.append(bool(info.is_accepted))
    assert any(diverged) and not any(a and d for a, d in zip(accepted, diverged, strict=True))


def test_minus_inf_at_the_end_is_a_plain_rejection():
    # The quartic without walls: trajectories leaving the support end at log p = -inf.
    sampler = malt.sampler(QUARTIC.logdensity, 0.5, 2, 1.0)
    state = sampler.init(jnp.full(1, 1.4))
    step = jax.jit(sampler.step)
    rejected = 0
    for i in range(30):
        state, info = step(jax.random.key(i), state)
        assert not bool(info.diverged)
        rejected += not bool(info.is_accepted)
    assert rejected > 0


def test_num_integration_steps_gradients_per_step():
    calls = {"n": 0}

    def logp(x):
        calls["n"] += 1  # counts traces: the scan body traces the gradient once
        return -0.5 * jnp.sum(x**2)

    state = malt.init(jnp.zeros(2), logp)
    calls["n"] = 0
    jaxpr = jax.make_jaxpr(lambda k, s: malt.step(k, s, logp, 0.1, 7, 1.0))(
        jax.random.key(0), state
    )
    assert calls["n"] == 1  # one gradient, inside a scan of length 7
    assert "length=7" in str(jaxpr)


# --------------------------------------------------------------------------- #
# The trajectory of traced length (the warm-up's jittered MALT)
# --------------------------------------------------------------------------- #
def _dynamic_gaussian_z(key, num_chains=200, num_steps=200):
    """Exact draws, then ``num_steps`` dynamic steps whose ``L`` cycles 1..6 (shared)."""
    target = jl.targets.gaussian(MEAN, COV)
    logp = target.logdensity
    start = target.sample(jax.random.key(100 + key), num_chains)
    states = jax.vmap(lambda x: malt.init(x, logp))(start)
    step = jax.vmap(lambda k, s, n: malt.dynamic_step(k, s, logp, 0.3, n, 1.0)[:2], (0, 0, None))

    @jax.jit
    def run(states):
        def body(states, t):
            keys = jax.random.split(jax.random.fold_in(jax.random.key(key), t), num_chains)
            states, info = step(keys, states, 1 + t % 6)
            return states, (states.position, info.acceptance_rate)

        return jax.lax.scan(body, states, jnp.arange(num_steps))[1]

    positions, accept = run(states)
    x = np.swapaxes(np.asarray(positions), 0, 1)  # (chains, draws, 3)
    z = np.concatenate([mean_z(x, MEAN), var_z(x, MEAN, np.diag(COV))])
    return z, float(np.mean(accept))


def test_dynamic_steps_leave_a_correlated_gaussian_invariant():
    z, accept = _dynamic_gaussian_z(0)
    assert np.all(np.abs(z) < Z_MAX), z
    assert 0.3 < accept < 0.99


def test_the_dynamic_check_catches_a_leapfrog_off_by_a_half_kick(monkeypatch):
    """Companion: symplectic Euler inside the traced-length loop breaks reversibility."""

    def euler(position, momentum, score, h, metric, bounds, value_and_score):
        u = _kinetic.kick(momentum, metric, score, h)
        x, u = _kinetic.drift(position, u, metric, h, bounds)
        value, score = value_and_score(x)
        return x, u, value, score

    monkeypatch.setattr(malt, "leapfrog", euler)
    z, _ = _dynamic_gaussian_z(1)
    assert np.abs(z).max() > Z_MAX, z


def test_dynamic_step_runs_the_traced_number_of_gradients():
    """A while loop of ``n`` leapfrog steps after one momentum draw (``gamma = 0``: HMC)."""
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    state = malt.init(jnp.zeros(2), logp)
    run = jax.jit(lambda n: malt.dynamic_step(jax.random.key(0), state, logp, 0.3, n, 0.0))
    jaxpr = str(jax.make_jaxpr(run)(jnp.int32(3)))
    assert "while" in jaxpr  # a loop with a traced bound, not an unrolled scan
    # gamma = 0: HMC. The momentum is drawn from fold_in(path key, 0), then n leapfrogs.
    key_path = jax.random.split(jax.random.key(0))[0]
    for n in (1, 2, 5):
        _, info, path = run(jnp.int32(n))
        x, u = jnp.zeros(2), jax.random.normal(jax.random.fold_in(key_path, 0), (2,))
        u0 = u
        for _ in range(n):
            u = u + 0.15 * (-x)
            x = x + 0.3 * u
            u = u + 0.15 * (-x)
        np.testing.assert_allclose(path.position, x, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(path.momentum, u, rtol=1e-5, atol=1e-6)
        hmc_error = -logp(x) + logp(jnp.zeros(2)) + 0.5 * jnp.sum(u**2) - 0.5 * jnp.sum(u0**2)
        np.testing.assert_allclose(info.energy_error, hmc_error, rtol=1e-4, atol=1e-6)


def test_dynamic_step_under_vmap_shares_one_loop_bound():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    states = jax.vmap(lambda x: malt.init(x, logp))(jnp.ones((4, 2)))
    keys = jax.random.split(jax.random.key(0), 4)
    step = jax.vmap(lambda k, s, n: malt.dynamic_step(k, s, logp, 0.3, n, 1.0), (0, 0, None))
    new, info, path = jax.jit(step)(keys, states, jnp.int32(3))
    assert new.position.shape == path.momentum.shape == (4, 2)
    assert info.acceptance_rate.shape == (4,)
    # The static path is untouched: same key, same L, its own stream (split, not fold_in).
    static, _ = malt.step(keys[0], malt.init(jnp.ones(2), logp), logp, 0.3, 3, 1.0)
    assert static.position.shape == (2,)


def test_tuned_samplers_differing_in_t_and_l_share_one_compiled_loop():
    """A tuned sampler's friction ``1 / T`` and its ``L`` are arrays (Python numbers
    would be compiled into the loop, one program per tuned value): ``1 / T`` the float64
    quotient rounded once, as the float it replaces was; ``L`` an int32 that the step
    (:func:`malt.dynamic_step`) takes traced."""
    from jlangevin.run.cache import split_sampler
    from jlangevin.types import MetricRoot, TuningParams

    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731

    def tuned(t, n):
        params = TuningParams(
            jnp.float32(0.3), MetricRoot(scale=jnp.ones(2)), jnp.float32(t), jnp.int32(n)
        )
        return malt.tuning.sampler(logp, params, position=jnp.ones(2))

    a, b = tuned(0.7, 3), tuned(1.9, 5)
    gamma, steps = a.step.keywords["gamma"], a.step.keywords["num_integration_steps"]
    assert isinstance(gamma, jax.Array) and gamma.dtype == jnp.float32
    assert float(gamma) == float(np.float32(1.0 / float(np.float32(0.7))))
    assert isinstance(steps, jax.Array) and steps.dtype == jnp.int32 and int(steps) == 3
    assert split_sampler(a)[0] == split_sampler(b)[0]
    # The step is dynamic_step's: the same key gives its state and info.
    state = a.init(jnp.ones(2))
    key = jax.random.key(3)
    mine = jax.jit(a.step)(key, state)
    theirs = jax.jit(
        lambda k, s: malt.dynamic_step(
            k, s, logp, jnp.float32(0.3), jnp.int32(3), gamma, inverse_mass=jnp.ones(2)
        )[:2]
    )(key, state)
    chex.assert_trees_all_equal(mine, theirs)
