"""MALA: exact invariance on correlated Gaussians and on the quartic; rejection rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import mala

COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.25]])
MEAN = np.array([1.0, -2.0, 0.5])


def _invariance_run(step_size, key=0, score_clip=None):
    target = jl.targets.gaussian(MEAN, COV)
    sampler = jl.mala(target.logdensity, step_size=step_size, score_clip=score_clip)
    x0 = target.sample(jax.random.key(100 + key), 200)  # exact draws: no burn-in needed
    return target, jl.run(jax.random.key(key), sampler, x0, 500)


def _assert_invariant(target, trace):
    z_mean = mean_z(trace.positions, target.mean)
    z_var = var_z(trace.positions, target.mean, target.var)
    assert np.all(np.abs(z_mean) < Z_MAX), z_mean
    assert np.all(np.abs(z_var) < Z_MAX), z_var


@pytest.mark.parametrize("step_size", [0.15, jnp.asarray([0.3, 0.3, 0.06])], ids=["scalar", "diag"])
def test_leaves_correlated_gaussian_invariant(step_size):
    target, trace = _invariance_run(step_size)
    _assert_invariant(target, trace)
    acc = float(trace.info.acceptance_rate.mean())
    assert 0.2 < acc < 0.99


def test_invariance_check_catches_a_wrong_acceptance_ratio(monkeypatch):
    """The check must be able to fail: dropping the reverse proposal density is caught."""
    monkeypatch.setattr(mala, "proposal_logdensity", lambda *args: 0.0)
    target, trace = _invariance_run(0.4, key=1)
    z = np.concatenate(
        [mean_z(trace.positions, target.mean), var_z(trace.positions, target.mean, target.var)]
    )
    assert np.abs(z).max() > Z_MAX, z


def test_score_clip_stays_exact():
    # Clipping the drift changes the proposal but both densities use it: still exact.
    target, trace = _invariance_run(0.4, key=2, score_clip=0.5)
    _assert_invariant(target, trace)


def test_quartic_ks_catches_a_wrong_acceptance_ratio(monkeypatch):
    monkeypatch.setattr(mala, "proposal_logdensity", lambda *args: 0.0)
    target = jl.targets.quartic()
    sampler = jl.mala(target.logdensity, step_size=0.3, bounds=target.support)
    trace = jl.run(jax.random.key(0), sampler, jnp.linspace(-0.6, 1.4, 16)[:, None], 10_000)
    pvalue, _ = ks_pvalue(trace.positions[..., 0], target.cdf)
    z = float(mean_z(trace.positions[..., 0], target.mean[0]))
    assert pvalue < 0.01 or abs(z) > Z_MAX


def test_proposals_outside_bounds_are_rejected_not_moved():
    # Flat density: every proposal inside the box is accepted, every one outside rejected.
    sampler = jl.mala(lambda x: jnp.zeros(()), step_size=0.5, bounds=(0.0, 1.0))
    trace = jl.run(jax.random.key(0), sampler, jnp.full((4, 1), 0.5), 300)
    x = np.asarray(trace.positions)
    assert x.min() >= 0 and x.max() <= 1
    acc = np.asarray(trace.info.is_accepted)
    start = np.full((4, 1), 0.5)
    moved = np.diff(np.concatenate([start, x[..., 0]], axis=1), axis=1) != 0
    np.testing.assert_array_equal(acc, moved)
    assert 0.1 < acc.mean() < 0.9
    np.testing.assert_array_equal(np.asarray(trace.info.acceptance_rate)[~acc], 0.0)


def test_non_finite_proposal_is_rejected_and_reported():
    # log p is NaN for x > 1: proposals there are rejected and flagged as diverged.
    logp = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * x[0] ** 2)  # noqa: E731
    trace = jl.run(jax.random.key(0), jl.mala(logp, step_size=1.0), jnp.zeros((4, 1)), 200)
    x = np.asarray(trace.positions)
    assert x.max() <= 1.0 and np.isfinite(x).all()
    assert np.asarray(trace.info.diverged).any()
    assert not np.asarray(trace.info.is_accepted)[np.asarray(trace.info.diverged)].any()


def test_minus_inf_outside_support_is_a_plain_rejection():
    target = jl.targets.quartic()
    trace = jl.run(
        jax.random.key(0), jl.mala(target.logdensity, step_size=0.5), jnp.full((4, 1), 0.4), 200
    )
    assert not np.asarray(trace.info.diverged).any()
    assert trace.num_diverged_chains == 0


def test_one_gradient_per_step():
    calls = {"n": 0}

    def logp(x):
        calls["n"] += 1  # counts traces, i.e. evaluations in the compiled step
        return -0.5 * jnp.sum(x**2)

    state = mala.init(jnp.zeros(2), logp)
    calls["n"] = 0
    jax.make_jaxpr(lambda k, s: mala.step(k, s, logp, 0.1))(jax.random.key(0), state)
    assert calls["n"] == 1


@pytest.mark.parametrize("score_clip", [None, 0.5])
@pytest.mark.parametrize("cholesky", [None, jnp.asarray([[1.0, 0.0], [0.6, 0.8]])])
def test_infinite_score_at_the_proposal_is_a_divergence(score_clip, cholesky):
    # log p is finite everywhere but the score is infinite beyond x0 > 1 (or NaN below
    # x0 < -1): such proposals are rejected and flagged, clipped drift or not.
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    edge = jnp.asarray([jnp.inf, 0.0])

    def score(x):
        return jnp.where(x[0] > 1.0, edge, jnp.where(x[0] < -1.0, jnp.nan, -x))

    sampler = jl.mala(logp, 1.0, score_fn=score, score_clip=score_clip, cholesky=cholesky)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 200)
    x = np.asarray(trace.positions)
    assert x[..., 0].max() <= 1.0 and x[..., 0].min() >= -1.0
    diverged = np.asarray(trace.info.diverged)
    assert diverged.any() and not np.asarray(trace.info.is_accepted)[diverged].any()


def test_the_step_draws_its_noise_and_uniform_in_one_call(monkeypatch):
    """One `jax.random.bits` call of the words needed (3 normals, 1 uniform), no split."""
    from jlangevin import keys

    key = keys.step_keys(keys.chain_keys(jax.random.key(0), jnp.arange(1)), jnp.zeros(1))[0]
    calls = []
    bits = jax.random.bits

    def counted(key, shape, *args):
        calls.append(shape)
        return bits(key, shape, *args)

    monkeypatch.setattr(jax.random, "bits", counted)
    monkeypatch.setattr(jax.random, "split", lambda *a, **k: pytest.fail("the step split its key"))
    logp = jl.targets.gaussian(MEAN, COV).logdensity
    state = mala.init(jnp.zeros(3), logp)
    new, info = mala.step(key, state, logp, 0.1)
    assert calls == [(4,)]
    # The proposal's noise is the first three words through jax.random.normal's map.
    proposal = state.position + 0.1 * state.score + np.sqrt(0.2) * jax.random.normal(key, (3,))
    expected = proposal if bool(info.is_accepted) else state.position
    np.testing.assert_allclose(new.position, expected, rtol=1e-6, atol=1e-6)
