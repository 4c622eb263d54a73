"""MAMS: exact invariance from exact draws, on a badly scaled Gaussian, a correlated one,
the banana and a walled target; the trajectory length's jitter shared by all chains.

Each check starts its chains at exact draws of the target, so any drift of the
moments (or of a marginal's law, by KS against the exact CDF) beyond the Monte
Carlo error is the kernel's fault. The broken companions the same checks
reject: the energy error with its sign flipped, a kinetic energy weighted by
``d`` instead of ``d - 1``, and walls that reflect the position without negating
the momentum. The jitter of ``n`` is a function of the step count: every check
above runs it (so it keeps the chain exact), all chains share ``n`` at a step and
``n`` spreads evenly over ``1 .. 2N - 1``; the companions, the jitter removed
(``n = N`` throughout) and ``n`` drawn per chain, fail the same check. The
warm-up from far starts on a regression keeps its step and reaches the posterior;
its companion, aiming at 0.9 from the first step, shrinks the step to nothing.
"""

import functools
import importlib
import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import _kinetic, mams
from jlangevin.types import MetricRoot, TuningParams

run_module = importlib.import_module("jlangevin.run")

SCALES = np.geomspace(0.1, 3.0, 5)  # a 30:1 spread of scales, no metric to undo it
COV2 = np.array([[1.0, 0.9], [0.9, 1.0]])
PRECOND2 = np.array([[1.5, 0.5], [0.5, 0.5]])  # a dense metric, not COV2


def _scaled_run(key=0, step_size=0.5, steps=8, **kwargs):
    target = jl.targets.gaussian(np.zeros(5), scale=SCALES)
    sampler = mams.sampler(target.logdensity, step_size, steps, **kwargs)
    start = target.sample(jax.random.key(100 + key), 200)  # exact draws: no burn-in
    return target, jl.run(jax.random.key(key), sampler, start, 200)


def _scaled_checks(target, trace):
    x = trace.positions
    z = np.concatenate([mean_z(x, np.zeros(5)), var_z(x, np.zeros(5), SCALES**2)])
    pvalues = [ks_pvalue(x[..., i], target.marginal_cdfs[i])[0] for i in (0, 4)]
    return z, min(pvalues)


@functools.lru_cache(maxsize=1)
def _reference_scaled_run():
    return _scaled_run()


@pytest.mark.long
def test_leaves_a_badly_scaled_gaussian_invariant():
    target, trace = _reference_scaled_run()
    z, pvalue = _scaled_checks(target, trace)
    assert np.all(np.abs(z) < Z_MAX), z
    assert pvalue > 1e-3, pvalue
    assert 0.5 < float(trace.info.acceptance_rate.mean()) < 0.99
    assert not np.asarray(trace.info.diverged).any()


@pytest.mark.long
def test_the_check_catches_an_energy_error_of_the_wrong_sign(monkeypatch):
    """Companion: accepting with ``exp(+Δ)`` favours the integrator's errors."""
    energy_error = mams.energy_error
    monkeypatch.setattr(mams, "energy_error", lambda a, b, k: -energy_error(a, b, k))
    z, pvalue = _scaled_checks(*_scaled_run(key=1))
    assert np.abs(z).max() > Z_MAX or pvalue < 1e-3, (z, pvalue)


@pytest.mark.slow
def test_the_check_catches_a_kinetic_energy_with_d_for_d_minus_1(monkeypatch):
    """Companion: ``d log(...)`` for ``(d - 1) log(...)`` mis-weights the sphere's Jacobian."""
    energy_error = mams.energy_error
    dims = len(SCALES)
    monkeypatch.setattr(
        mams, "energy_error", lambda a, b, k: energy_error(a, b, k * dims / (dims - 1))
    )
    z, pvalue = _scaled_checks(*_scaled_run(key=2))
    assert np.abs(z).max() > Z_MAX or pvalue < 1e-3, (z, pvalue)


def test_jittered_lengths_are_uniform_around_the_mean():
    _, trace = _reference_scaled_run()
    n = np.asarray(trace.info.num_integration_steps)
    assert n.min() == 1 and n.max() == 15
    assert abs(n.mean() - 8) < 0.1
    np.testing.assert_array_equal(np.asarray(trace.info.num_grads), 2 * n)


def _shares_and_varies_n(trace) -> tuple[bool, bool]:
    """Whether all chains ran the same ``n`` at every step, and ``n`` changed over steps."""
    n = np.asarray(trace.info.num_integration_steps)  # (chains, steps)
    return bool(np.all(n == n[:1])), len(np.unique(n[0])) > 1


def test_all_chains_share_n_and_it_varies_across_steps():
    """The jitter comes from the step count: one ``n`` for all chains, spread over 1..15."""
    _, trace = _reference_scaled_run()
    shared, varies = _shares_and_varies_n(trace)
    assert shared and varies
    counts = np.bincount(np.asarray(trace.info.num_integration_steps)[0], minlength=16)[1:]
    assert counts.min() >= 200 // 15 - 1 and counts.max() <= 200 // 15 + 2, counts  # even


def test_the_n_check_catches_the_jitter_removed(monkeypatch):
    """Companion: ``n = N`` at every step (no jitter) is shared but does not vary."""
    monkeypatch.setattr(mams, "shared_steps", lambda count, mean: jnp.asarray(mean, jnp.int32))
    shared, varies = _shares_and_varies_n(_scaled_run(key=3)[1])
    assert shared and not varies


def test_per_chain_draws_of_n_are_not_shared():
    """Companion: ``n`` drawn from each chain's key (the former jitter) differs across chains."""

    def per_chain(key, state, logdensity_fn, step_size, num_integration_steps, **settings):
        key_steps, key_step = jax.random.split(key)
        n = mams.jittered_steps(key_steps, num_integration_steps)
        return mams.dynamic_step(key_step, state, logdensity_fn, step_size, n, **settings)[:2]

    target = jl.targets.gaussian(np.zeros(5), scale=SCALES)
    bound = mams.sampler(target.logdensity, 0.5, 8)
    step = functools.partial(
        per_chain, logdensity_fn=target.logdensity, step_size=0.5, num_integration_steps=8
    )
    trace = jl.run(jax.random.key(0), jl.Sampler(bound.init, step), jnp.zeros((16, 5)), 20)
    shared, varies = _shares_and_varies_n(trace)
    assert not shared and varies


@pytest.mark.slow
def test_the_shared_jitter_keeps_chunked_and_resumed_runs_identical():
    target = jl.targets.gaussian(np.zeros(5), scale=SCALES)
    sampler = mams.sampler(target.logdensity, 0.5, 8)
    start = target.sample(jax.random.key(9), 8)
    whole = jl.run(jax.random.key(1), sampler, start, 30)
    first = jl.run(jax.random.key(1), sampler, start, 10)
    rest = jl.run(jax.random.key(1), sampler, first, 20, chunk_size=10)
    resumed = np.concatenate([np.asarray(first.positions), np.asarray(rest.positions)], axis=1)
    np.testing.assert_array_equal(np.asarray(whole.positions), resumed)
    np.testing.assert_array_equal(
        np.asarray(whole.info.num_integration_steps[:, 10:]),
        np.asarray(rest.info.num_integration_steps),
    )


def test_shared_steps_spread_evenly_with_the_mean():
    for mean in (1, 2, 5, 16):
        n = np.asarray(mams.shared_steps(jnp.arange(2000), mean))
        assert n.min() == 1 and n.max() == 2 * mean - 1
        assert abs(n.mean() - mean) < 0.01 * mean + 0.01
    big = np.asarray(mams.shared_steps(jnp.asarray([2**31 - 2, 10**9], jnp.int32), 8))
    assert np.all((big >= 1) & (big <= 15))


def test_rejected_steps_return_to_the_start():
    target, trace = _reference_scaled_run()
    x = np.asarray(trace.positions)
    start = np.asarray(target.sample(jax.random.key(100), 200))
    before = np.concatenate([start[:, None], x[:, :-1]], axis=1)
    moved = np.any(x != before, axis=-1)
    accepted = np.asarray(trace.info.is_accepted)
    np.testing.assert_array_equal(moved, accepted)
    assert 0 < accepted.mean() < 1
    np.testing.assert_allclose(
        trace.info.acceptance_rate,
        np.minimum(1.0, np.exp(-np.asarray(trace.info.energy_error, float))),
        rtol=1e-5,
    )


def _correlated_checks(x):
    """z-scores of the means, variances and covariance, and KS of x0: ``x`` (chains, draws, 2)."""
    target = jl.targets.gaussian(np.zeros(2), COV2)
    z = np.concatenate([mean_z(x, np.zeros(2)), var_z(x, np.zeros(2), np.diag(COV2))])
    z = np.append(z, mean_z(x[..., 0] * x[..., 1], COV2[0, 1]))
    return z, ks_pvalue(x[..., 0], target.marginal_cdfs[0])[0]


def test_leaves_a_correlated_gaussian_invariant_under_a_dense_metric():
    target = jl.targets.gaussian(np.zeros(2), COV2)
    root = jnp.linalg.cholesky(jnp.asarray(PRECOND2, jnp.float32))
    sampler = mams.sampler(target.logdensity, 0.6, 4, cholesky=root)
    trace = jl.run(jax.random.key(2), sampler, target.sample(jax.random.key(102), 200), 200)
    z, pvalue = _correlated_checks(trace.positions)
    assert np.all(np.abs(z) < Z_MAX), z
    assert pvalue > 1e-3, pvalue
    assert 0.5 < float(trace.info.acceptance_rate.mean()) < 0.99


def _banana_run(key=0):
    target = jl.targets.banana()
    sampler = mams.sampler(target.logdensity, 1.5, 3)
    trace = jl.run(jax.random.key(key), sampler, target.sample(jax.random.key(100 + key), 200), 300)
    x = trace.positions
    z = np.concatenate([mean_z(x, target.mean), var_z(x, target.mean, np.asarray(target.var))])
    return trace, z, ks_pvalue(x[..., 0], target.marginal_cdfs[0])[0]


@pytest.mark.long
def test_the_banana_is_sampled_exactly():
    trace, z, pvalue = _banana_run()
    assert np.all(np.abs(z) < Z_MAX), z
    assert pvalue > 1e-3, pvalue
    assert 0.5 < float(trace.info.acceptance_rate.mean()) < 0.99


@pytest.mark.slow
def test_the_banana_check_catches_an_energy_error_of_the_wrong_sign(monkeypatch):
    energy_error = mams.energy_error
    monkeypatch.setattr(mams, "energy_error", lambda a, b, k: -energy_error(a, b, k))
    _, z, pvalue = _banana_run(key=1)
    assert np.abs(z).max() > Z_MAX or pvalue < 1e-3, (z, pvalue)


# --------------------------------------------------------------------------- #
# Walls: the quartic on [-0.7, 1.5] in x0, a standard normal in x1
# --------------------------------------------------------------------------- #
QUARTIC = jl.targets.quartic()
WALLS = (jnp.asarray([-0.7, -jnp.inf]), jnp.asarray([1.5, jnp.inf]))


def _walled_logp(x):
    return QUARTIC.logdensity(x[:1]) - 0.5 * x[1] ** 2


def _walled_run(key=0):
    sampler = mams.sampler(_walled_logp, 0.3, 5, bounds=WALLS)
    start = jnp.concatenate(
        [
            QUARTIC.sample(jax.random.key(100 + key), 64),
            jax.random.normal(jax.random.key(key), (64, 1)),
        ],
        axis=1,
    )
    trace = jl.run(jax.random.key(key), sampler, start, 1000)
    x0 = trace.positions[..., 0]
    z = np.concatenate(
        [
            np.atleast_1d(mean_z(x0, QUARTIC.mean[0])),
            np.atleast_1d(var_z(x0, QUARTIC.mean[0], QUARTIC.var[0])),
        ]
    )
    return trace, ks_pvalue(x0, QUARTIC.cdf)[0], z


@pytest.mark.long
def test_walled_target_is_sampled_exactly():
    trace, pvalue, z = _walled_run()
    x = np.asarray(trace.positions)
    assert x[..., 0].min() >= -0.7 and x[..., 0].max() <= 1.5
    assert pvalue > 1e-3, pvalue
    assert np.all(np.abs(z) < Z_MAX), z
    assert not np.asarray(trace.info.diverged).any()


@pytest.mark.slow
def test_the_wall_check_catches_walls_that_keep_the_momentum(monkeypatch):
    reflect_and_flip = _kinetic.reflect_and_flip

    def reflect_only(x, u, low, high):
        return reflect_and_flip(x, u, low, high)[0], u

    monkeypatch.setattr(_kinetic, "reflect_and_flip", reflect_only)
    _, pvalue, z = _walled_run(key=1)
    assert pvalue < 1e-3 or np.abs(z).max() > Z_MAX, (pvalue, z)


# --------------------------------------------------------------------------- #
# The static, dynamic and jittered steps
# --------------------------------------------------------------------------- #
LOGP = lambda x: -0.5 * jnp.sum(x**2 / jnp.asarray([0.5, 2.0, 0.1]))  # noqa: E731


def test_static_and_dynamic_steps_agree_for_the_same_key():
    state = mams.init(jnp.asarray([0.3, -1.0, 0.1]), LOGP)
    key = jax.random.key(3)
    static, info_s = jax.jit(lambda k: mams.step(k, state, LOGP, 0.4, 5))(key)
    dynamic, info_d, path = jax.jit(lambda k, n: mams.dynamic_step(k, state, LOGP, 0.4, n))(
        key, jnp.int32(5)
    )
    np.testing.assert_allclose(dynamic.position, static.position, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info_d.energy_error, info_s.energy_error, rtol=1e-4, atol=1e-6)
    assert int(info_d.num_grads) == int(info_s.num_grads) == 10
    np.testing.assert_allclose(float(jnp.sum(path.momentum**2)), 1.0, rtol=1e-5)


def test_dynamic_step_runs_a_while_loop_of_the_traced_length():
    state = mams.init(jnp.ones(3), LOGP)
    run = jax.jit(lambda n: mams.dynamic_step(jax.random.key(0), state, LOGP, 0.2, n))
    assert "while" in str(jax.make_jaxpr(run)(jnp.int32(3)))
    ends = [np.asarray(run(jnp.int32(n))[2].position) for n in (1, 2, 3)]
    assert not np.allclose(ends[0], ends[1]) and not np.allclose(ends[1], ends[2])
    assert int(run(jnp.int32(0))[1].num_integration_steps) == 1  # floored at one


def test_dense_root_of_a_diagonal_matches_the_diagonal_metric():
    var = jnp.asarray([0.4, 3.0, 0.2])
    state = mams.init(jnp.asarray([0.3, -1.0, 0.1]), LOGP)

    @jax.jit
    def both(key):
        diag = mams.step(key, state, LOGP, 0.3, 3, inverse_mass=var)
        dense = mams.step(key, state, LOGP, 0.3, 3, cholesky=jnp.diag(var**0.5))
        return diag, dense

    (diag, info_g), (dense, info_d) = both(jax.random.key(0))
    np.testing.assert_allclose(dense.position, diag.position, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info_d.energy_error, info_g.energy_error, atol=1e-5)


def test_non_finite_trajectory_is_rejected_and_reported():
    # log p is NaN beyond x0 = 1: trajectories ending there are rejected and flagged.
    logp = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * jnp.sum(x**2))  # noqa: E731
    sampler = mams.sampler(logp, 1.0, 2)
    state = sampler.init(jnp.zeros(2))
    step = jax.jit(sampler.step)
    diverged, accepted = [], []
    for i in range(40):
        state, info = step(jax.random.key(i), state)
        assert float(state.position[0]) <= 1.0 and np.isfinite(float(state.logdensity))
        diverged.append(bool(info.diverged))
        accepted.append(bool(info.is_accepted))
    assert any(diverged) and not any(a and d for a, d in zip(accepted, diverged, strict=True))


def test_minus_inf_at_the_end_is_a_plain_rejection():
    logp = lambda x: jnp.where(x[0] > 0.5, -jnp.inf, -0.5 * jnp.sum(x**2))  # noqa: E731
    sampler = mams.sampler(logp, 0.8, 2)
    state = sampler.init(jnp.asarray([0.4, 0.0]))
    step = jax.jit(sampler.step)
    rejected = 0
    for i in range(30):
        state, info = step(jax.random.key(i), state)
        assert not bool(info.diverged)
        rejected += not bool(info.is_accepted)
    assert rejected > 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dtypes_follow_the_position_under_x64(dtype):
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with jax.enable_x64(True):
        sampler = mams.sampler(logp, 0.3, 2)
        state = sampler.init(jnp.zeros(2, dtype))
        state, info = jax.eval_shape(sampler.step, jax.random.key(0), state)
    assert state.position.dtype == state.logdensity.dtype == dtype
    assert info.energy_error.dtype == info.acceptance_rate.dtype == dtype


def test_pytree_positions_keep_a_unit_momentum():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    x = {"a": jnp.ones(2), "b": jnp.ones(1)}
    state = mams.init(x, logp)
    metric = {"inverse_mass": {"a": 1.0, "b": jnp.asarray([4.0])}}
    run = jax.jit(lambda k, n: mams.dynamic_step(k, state, logp, 0.4, n, **metric))
    _, info, path = run(jax.random.key(0), jnp.int32(3))
    norm = sum(float(jnp.sum(leaf**2)) for leaf in jax.tree.leaves(path.momentum))
    np.testing.assert_allclose(norm, 1.0, rtol=1e-5)
    assert path.position["b"].shape == (1,) and np.isfinite(float(info.energy_error))


# --------------------------------------------------------------------------- #
# The tuning declaration
# --------------------------------------------------------------------------- #
def test_tuning_declaration():
    tuning = mams.tuning
    assert tuning.name == "mams" and tuning.target_acceptance == 0.9
    assert tuning.tunes == ("step_size", "metric", "trajectory")
    assert tuning.trajectory_rules == ("ess", "chees", "meads")  # ESS first: the default
    assert jl.kernels.EXACT_KERNELS["mams"] is tuning and jl.mams.tuning is tuning


def _params(step_size, steps, metric):
    return TuningParams(
        step_size=jnp.float32(step_size),
        metric=metric,
        trajectory_length=jnp.float32(step_size * steps),
        num_integration_steps=steps,
    )


@pytest.mark.long
def test_the_declared_step_is_exact_with_a_changing_traced_length():
    """All chains share one traced ``n`` cycling 1..6, as a jittered warm-up runs them."""
    target = jl.targets.gaussian(np.zeros(2), COV2)
    root = jnp.linalg.cholesky(jnp.asarray(PRECOND2, jnp.float32))
    metric = MetricRoot(lower=root, inverse=jnp.linalg.inv(root))
    logp = target.logdensity
    states = jax.vmap(lambda x: mams.tuning.init(x, logp))(target.sample(jax.random.key(7), 200))

    def one(key, state, n):
        return mams.tuning.step(key, state, logp, _params(0.6, n, metric))

    step = jax.vmap(one, (0, 0, None))

    @jax.jit
    def run(states):
        def body(states, t):
            keys = jax.random.split(jax.random.fold_in(jax.random.key(8), t), 200)
            states, _, end = step(keys, states, 1 + t % 6)
            return states, (states.position, end.momentum)

        return jax.lax.scan(body, states, jnp.arange(200))[1]

    positions, momenta = run(states)
    np.testing.assert_allclose(np.sum(np.asarray(momenta) ** 2, -1), 1.0, rtol=1e-4)
    z, pvalue = _correlated_checks(np.swapaxes(np.asarray(positions), 0, 1))
    assert np.all(np.abs(z) < Z_MAX), z
    assert pvalue > 1e-3, pvalue


def test_the_declared_sampler_binds_the_tuned_values():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    params = _params(0.5, 4, MetricRoot(scale=jnp.asarray([1.0, 2.0, 0.5])))
    sampler = mams.tuning.sampler(logp, params, position=jnp.zeros(3))
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 3)), 20)
    n = np.asarray(trace.info.num_integration_steps)
    assert n.min() >= 1 and n.max() <= 7 and trace.positions.shape == (4, 20, 3)
    # The mean N is an int32 array: another tuned N reuses the compiled loop, and the
    # draws are those of the sampler with N static.
    from jlangevin.run.cache import split_sampler

    other = mams.tuning.sampler(
        logp, params._replace(num_integration_steps=jnp.int32(6)), position=jnp.zeros(3)
    )
    assert split_sampler(other)[0] == split_sampler(sampler)[0]
    static = jl.mams(logp, params.step_size, 4, inverse_mass=params.metric.scale**2)
    again = jl.run(jax.random.key(0), static, jnp.zeros((4, 3)), 20)
    chex.assert_trees_all_equal(again.positions, trace.positions)


def _far_regression(early_target, monkeypatch):
    """MAMS' warm-up of a 400-point regression (``y ~ 100``) from ``U(-2, 2)`` starts.

    There ``log p`` is ``-1e5 .. -1e8``: float32 rounds it to a tenth of a nat or
    more, the chains' pooled acceptance stays below MAMS' 0.9 at every step size,
    and dual averaging toward 0.9 shrinks ``ε`` until the chains stop short of the
    posterior (``log p`` about ``-1400``). The warm-up's first move for such starts
    (L-BFGS, :mod:`jlangevin.adaptation.start`) is switched off here, so that the
    early target is tested on its own (``tests/adaptation/test_start.py`` tests that).
    """
    warmup_module = importlib.import_module("jlangevin.adaptation.warmup")
    monkeypatch.setattr(warmup_module, "EARLY_TARGET", early_target)
    start_module = importlib.import_module("jlangevin.adaptation.start")
    monkeypatch.setattr(start_module, "ROUNDING_MAX", float("inf"))
    rng = np.random.default_rng(0)
    z = rng.normal(size=400).astype(np.float32)
    y = jnp.asarray(100.0 * (1.0 + 0.1 * z + 0.2 * rng.normal(size=400)), jnp.float32)
    z = jnp.asarray(z)

    def logp(x):  # (intercept, slope, log sigma), flat priors
        return jnp.sum(-0.5 * ((y - x[0] - x[1] * z) * jnp.exp(-x[2])) ** 2 - x[2])

    starts = jax.random.uniform(jax.random.key(0), (16, 3), minval=-2.0, maxval=2.0)
    with warnings.catch_warnings():  # the collapsed warm-up warns of a capped trajectory
        warnings.simplefilter("ignore", jl.SamplingWarning)
        _, state, info = jl.adaptation.warmup(jax.random.key(1), "mams", logp, starts, 300)
    return float(info.step_size), float(jnp.median(state.logdensity))


@pytest.mark.long
def test_warmup_from_far_starts_keeps_its_step(monkeypatch):
    step_size, logdensity = _far_regression(0.65, monkeypatch)  # the default
    assert step_size > 0.05 and logdensity > -2000.0, (step_size, logdensity)


@pytest.mark.long
def test_broken_warmup_aiming_at_0_9_from_the_start_collapses(monkeypatch):
    step_size, logdensity = _far_regression(1.0, monkeypatch)  # no early target
    assert step_size < 1e-3 and logdensity < -1e4, (step_size, logdensity)
