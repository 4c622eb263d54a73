"""Barker's proposal: exact on a correlated Gaussian and on the quartic, robust to big steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import barker

COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.25]])
MEAN = np.array([1.0, -2.0, 0.5])
TARGET = jl.targets.gaussian(MEAN, COV)
QUARTIC = jl.targets.quartic()


def _fresh(sampler):
    """The same sampler behind a new step function: ``jl.run`` caches compiled loops on
    the kernel's function, so a companion run with a patched module needs its own."""
    return jl.Sampler(init=sampler.init, step=lambda key, state: sampler.step(key, state))


def _gaussian_z(step_size, cholesky=None, key=0, fresh=False):
    """Mean and variance z-scores of 200 chains x 500 steps started from exact draws."""
    sampler = barker.sampler(TARGET.logdensity, step_size, cholesky=cholesky)
    sampler = _fresh(sampler) if fresh else sampler
    x0 = TARGET.sample(jax.random.key(100 + key), 200)  # exact draws: no burn-in needed
    trace = jl.run(jax.random.key(key), sampler, x0, 500)
    z = np.concatenate(
        [mean_z(trace.positions, TARGET.mean), var_z(trace.positions, TARGET.mean, TARGET.var)]
    )
    return z, float(trace.info.acceptance_rate.mean())


@pytest.mark.parametrize(
    ("step_size", "cholesky"),
    [
        (1.0, None),
        pytest.param(jnp.asarray([1.0, 1.0, 0.5]), None, marks=pytest.mark.slow),
        pytest.param(1.5, np.linalg.cholesky(COV), marks=pytest.mark.slow),
    ],
    ids=["scalar", "per-coordinate", "dense"],
)
def test_leaves_a_correlated_gaussian_invariant(step_size, cholesky):
    z, acceptance = _gaussian_z(step_size, cholesky)
    assert np.all(np.abs(z) < Z_MAX), z
    assert 0.2 < acceptance < 0.95, acceptance


def test_invariance_check_catches_a_missing_proposal_ratio(monkeypatch):
    """The check can fail: the ratio without the skew terms (a plain random-walk ratio
    for a proposal that is not symmetric) is caught at the scalar test's own step."""
    monkeypatch.setattr(barker, "proposal_logdensity", lambda *args: 0.0)
    z, _ = _gaussian_z(1.0, key=1, fresh=True)
    assert np.abs(z).max() > Z_MAX, z


def _quartic_checks(fresh=False):
    """KS p-value and mean/variance z-scores on the quartic (bounds: reject outside)."""
    sampler = barker.sampler(QUARTIC.logdensity, step_size=1.2, bounds=QUARTIC.support)
    sampler = _fresh(sampler) if fresh else sampler
    x0 = QUARTIC.sample(jax.random.key(3), 64)
    trace = jl.run(jax.random.key(11), sampler, x0, 3000)
    x = trace.positions[..., 0]
    pvalue, _ = ks_pvalue(x, QUARTIC.cdf)
    z = np.array([mean_z(x, QUARTIC.mean[0]), var_z(x, QUARTIC.mean[0], QUARTIC.var[0])])
    return pvalue, z, trace


@pytest.mark.slow
def test_samples_the_quartic_exactly():
    pvalue, z, trace = _quartic_checks()
    assert pvalue > 0.01 and np.all(np.abs(z) < Z_MAX), (pvalue, z)
    x = np.asarray(trace.positions)
    assert x.min() >= -0.7 and x.max() <= 1.5
    assert trace.num_diverged_chains == 0  # proposals beyond the walls: plain rejections


@pytest.mark.slow
def test_quartic_check_catches_a_missing_proposal_ratio(monkeypatch):
    monkeypatch.setattr(barker, "proposal_logdensity", lambda *args: 0.0)
    pvalue, z, _ = _quartic_checks(fresh=True)
    assert pvalue < 0.01 or np.abs(z).max() > Z_MAX, (pvalue, z)


# Too large a scale on N(0, 1): Barker proposes increments of size sigma and lets the
# gradient pick their sign, so a proposal lands near the mode with probability ~ 1/sigma
# (Livingstone & Zanella 2022, Sec. 3: its acceptance decays polynomially in sigma). MALA
# with the same increment size, h = sigma^2 / 2, moves by h * x and overshoots: its
# acceptance collapses exponentially. The check asks for at least 1 / sigma.
BIG_SCALES = (10.0, 30.0)


def _acceptance_at_big_scales(make):
    target = jl.targets.gaussian(np.zeros(1), scale=np.ones(1))
    x0 = target.sample(jax.random.key(1), 200)
    rates = []
    for sigma in BIG_SCALES:
        trace = jl.run(jax.random.key(0), make(target.logdensity, jnp.asarray(sigma)), x0, 200)
        rates.append(float(trace.info.acceptance_rate.mean()))
    return np.array(rates)


def _keeps_moving(rates):
    return bool(np.all(rates >= 1.0 / np.asarray(BIG_SCALES)))


@pytest.mark.filterwarnings("ignore:jl.run.*never moved")
def test_too_large_a_scale_keeps_a_non_trivial_acceptance():
    rates = _acceptance_at_big_scales(lambda logp, sigma: barker.sampler(logp, sigma))
    assert _keeps_moving(rates), rates


@pytest.mark.filterwarnings("ignore:jl.run.*never moved")
def test_the_robustness_check_fails_for_mala():
    """Companion: MALA at the same increment size fails the same check (and collapses)."""
    rates = _acceptance_at_big_scales(lambda logp, sigma: jl.mala(logp, sigma**2 / 2))
    assert not _keeps_moving(rates), rates
    assert rates[0] < 0.02, rates


def test_proposals_outside_bounds_are_rejected_not_moved():
    # Flat density: every proposal inside the box is accepted, every one outside rejected.
    sampler = barker.sampler(lambda x: jnp.zeros(()), step_size=0.5, bounds=(0.0, 1.0))
    trace = jl.run(jax.random.key(0), sampler, jnp.full((4, 1), 0.5), 300)
    x = np.asarray(trace.positions)
    assert x.min() >= 0 and x.max() <= 1
    acc = np.asarray(trace.info.is_accepted)
    moved = np.diff(np.concatenate([np.full((4, 1), 0.5), x[..., 0]], axis=1), axis=1) != 0
    np.testing.assert_array_equal(acc, moved)
    assert 0.1 < acc.mean() < 0.9
    assert not np.asarray(trace.info.diverged).any()


def test_non_finite_proposal_is_rejected_and_reported():
    # log p is NaN for x > 1: proposals there are rejected and flagged as diverged.
    logp = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * x[0] ** 2)  # noqa: E731
    trace = jl.run(jax.random.key(0), barker.sampler(logp, 1.5), jnp.zeros((4, 1)), 200)
    x = np.asarray(trace.positions)
    assert x.max() <= 1.0 and np.isfinite(x).all()
    diverged = np.asarray(trace.info.diverged)
    assert diverged.any() and not np.asarray(trace.info.is_accepted)[diverged].any()


def test_a_non_finite_score_at_the_state_is_a_divergence():
    state = barker.BarkerState(jnp.ones(2), jnp.asarray(-1.0), jnp.full(2, jnp.nan), jnp.int32(0))
    step = jax.jit(lambda k, s: barker.step(k, s, lambda x: -0.5 * jnp.sum(x**2), 0.5))
    new, info = step(jax.random.key(0), state)
    assert bool(info.diverged) and not bool(info.is_accepted)
    np.testing.assert_array_equal(new.position, state.position)


def test_sign_follows_the_gradient():
    # The increment's sign is +1 with probability sigmoid(z g): exact for a fixed z.
    g, z = 0.7, 1.3
    keys = jax.random.split(jax.random.key(0), 20000)
    u = jax.vmap(lambda k: jax.random.uniform(k, (1,)))(keys)
    w = jax.vmap(lambda u: barker.skewed_increment(1.0, jnp.full(1, g), jnp.full(1, z), u))(u)
    p = 1 / (1 + np.exp(-z * g))
    frac = float((np.asarray(w) > 0).mean())
    assert abs(frac - p) < Z_MAX * np.sqrt(p * (1 - p) / keys.shape[0]), (frac, p)


@pytest.mark.slow
def test_pytree_positions_and_per_leaf_scales():
    logp = lambda p: -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum(p["b"] ** 2) / 0.01)  # noqa: E731
    sampler = barker.sampler(logp, step_size={"a": 1.0, "b": jnp.asarray(0.1)})
    x0 = {"a": jnp.zeros((8, 2)), "b": jnp.zeros((8, 3))}
    trace = jl.run(jax.random.key(0), sampler, x0, 50)
    assert trace.positions["b"].shape == (8, 50, 3)
    assert 0.2 < float(trace.info.acceptance_rate.mean()) < 0.99


def test_one_gradient_per_step():
    calls = {"n": 0}

    def logp(x):
        calls["n"] += 1  # counts traces, i.e. evaluations in the compiled step
        return -0.5 * jnp.sum(x**2)

    state = barker.init(jnp.zeros(2), logp)
    calls["n"] = 0
    jax.make_jaxpr(lambda k, s: barker.step(k, s, logp, 0.5))(jax.random.key(0), state)
    assert calls["n"] == 1


def test_float64_under_x64():
    with jax.enable_x64(True):
        logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
        dense = jax.jit(lambda k, s: barker.step(k, s, logp, 1.0, cholesky=np.eye(2)))
        new, info = dense(jax.random.key(0), barker.init(jnp.zeros(2, jnp.float64), logp))
        assert new.position.dtype == jnp.float64 and info.step_size.dtype == jnp.float64
        state32 = barker.init(jnp.zeros(2, jnp.float32), logp)
        new32, _ = jax.jit(lambda k, s: barker.step(k, s, logp, 1.0))(jax.random.key(0), state32)
        assert new32.position.dtype == jnp.float32 and new32.logdensity.dtype == jnp.float32
