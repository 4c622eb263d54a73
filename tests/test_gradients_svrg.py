"""SVRG estimates: exactly unbiased, less noisy near the anchor, refreshed every m calls."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin import gradients

N_DATA, BATCH = 50, 10
DATA = np.random.default_rng(0).normal([1.0, -2.0], 1.5, size=(N_DATA, 2))
TINY = np.array([[0.3, -1.0], [1.5, 0.2], [-0.7, 2.0], [2.2, -0.4], [0.0, 0.9]])


def logprior(theta):
    return -0.5 * jnp.sum(theta**2)


def loglik(theta, x):
    # Cauchy: a score that is not linear in θ, so the anchor's correction keeps some noise.
    return -jnp.sum(jnp.log1p((x - theta) ** 2))


def full_value_and_score(theta, data):
    """Exact ``logprior + Σ_i loglik`` over all of ``data`` and its gradient."""
    return jax.value_and_grad(
        lambda t: logprior(t) + jnp.sum(jax.vmap(loglik, (None, 0))(t, data))
    )(theta)


def anchored(estimator, anchor):
    """The estimator's state after its first call, which anchors it at ``anchor``."""
    return jax.jit(estimator.estimate)(jax.random.key(0), anchor, estimator.init(anchor))[2]


# --------------------------------------------------------------------------- #
# Unbiased: the exact expectation, by enumerating every minibatch of a tiny data set
# --------------------------------------------------------------------------- #
TINY_BATCH = 2
SUBSETS = list(itertools.combinations(range(len(TINY)), TINY_BATCH))  # all equally likely


def _svrg_over_subsets(monkeypatch, estimator, theta, state):
    """The SVRG estimate at ``theta`` for every subset: ``(len(SUBSETS), 1 + dim)``.

    The batch is forced: subset ``i`` for the key ``jax.random.key(i)`` (one compiled call).
    """
    table = jnp.asarray(SUBSETS)
    monkeypatch.setattr(
        gradients,
        "_draw_batch",
        lambda key, data, num_data, n, replace: jax.tree.map(
            lambda d: d[table[jax.random.key_data(key)[-1]]], data
        ),
    )
    keys = jax.vmap(jax.random.key)(jnp.arange(len(SUBSETS)))
    value, score, _ = jax.jit(jax.vmap(estimator.estimate, (0, None, None)))(keys, theta, state)
    return np.concatenate([np.asarray(value, float)[:, None], np.asarray(score, float)], axis=1)


def _broken_svrg_with_batch(subset, theta, anchor):
    """Companion: the correction summed over the batch without the N / n scale."""
    batch = jnp.asarray(TINY)[jnp.asarray(subset)]
    anchor_value, anchor_score = full_value_and_score(anchor, jnp.asarray(TINY))
    anchor_value -= logprior(anchor)
    anchor_score = anchor_score - jax.grad(logprior)(anchor)

    def correction(t):
        return jnp.sum(jax.vmap(loglik, (None, 0))(t, batch))

    value = logprior(theta) + anchor_value + correction(theta) - correction(anchor)
    score = (
        jax.grad(logprior)(theta)
        + anchor_score
        + jax.grad(correction)(theta)
        - jax.grad(correction)(anchor)
    )
    return np.concatenate([[float(value)], np.asarray(score, float)])


def _expectation_error(estimates, theta):
    """Largest |E[estimate] - exact| over the value and score, E over all the subsets."""
    mean = np.mean(estimates, axis=0)
    value, score = full_value_and_score(theta, jnp.asarray(TINY))
    return np.max(np.abs(mean - np.concatenate([[float(value)], np.asarray(score, float)])))


THETA, ANCHOR = (np.array([0.4, -0.6]), np.array([1.1, 0.3]))


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_the_estimate_is_exactly_unbiased(monkeypatch, x64):
    svrg = gradients.svrg(logprior, loglik, jnp.asarray(TINY), TINY_BATCH, update_every=10)
    theta, anchor = jnp.asarray(THETA), jnp.asarray(ANCHOR)
    state = anchored(svrg, anchor)

    estimates = _svrg_over_subsets(monkeypatch, svrg, theta, state)
    error = _expectation_error(estimates, theta)
    assert error < 1e-10, error
    # ... and a single batch is not exact: the check has something to do.
    exact_value, _ = full_value_and_score(theta, jnp.asarray(TINY))
    assert abs(estimates[0, 0] - float(exact_value)) > 1e-3


def test_the_unbiasedness_check_catches_a_missing_scale(x64):
    theta, anchor = jnp.asarray(THETA), jnp.asarray(ANCHOR)
    estimates = [_broken_svrg_with_batch(s, theta, anchor) for s in SUBSETS]
    error = _expectation_error(estimates, theta)
    assert error > 1e-3, error


# --------------------------------------------------------------------------- #
# Variance and refresh
# --------------------------------------------------------------------------- #
@pytest.mark.long
def test_variance_near_the_anchor_is_far_below_the_plain_minibatch():
    svrg = gradients.svrg(logprior, loglik, jnp.asarray(DATA), BATCH, update_every=1000)
    plain = gradients.minibatch(logprior, loglik, jnp.asarray(DATA), BATCH)
    anchor = jnp.asarray([0.7, -1.1])
    state = anchored(svrg, anchor)
    theta = anchor + 0.05
    keys = jax.random.split(jax.random.key(2), 500)
    reduced = jax.jit(jax.vmap(lambda k: svrg(k, theta, state)[1]))(keys)
    noisy = jax.jit(jax.vmap(lambda k: plain(k, theta)[1]))(keys)
    assert float(reduced.var(axis=0).max()) < 0.05 * float(noisy.var(axis=0).min())


def test_refreshed_every_m_calls_and_exact_at_a_refresh():
    m = 3
    svrg = gradients.svrg(logprior, loglik, jnp.asarray(DATA), BATCH, update_every=m)
    call = jax.jit(svrg.estimate)
    positions = jnp.asarray(np.random.default_rng(1).normal(size=(8, 2)), jnp.float32)
    state = svrg.init(positions[0])
    for t in range(8):
        value, score, state = call(jax.random.key(t), positions[t], state)
        last_refresh = (t // m) * m  # calls 0, 3, 6 move the anchor
        np.testing.assert_array_equal(state.anchor, positions[last_refresh])
        assert int(state.count) == t + 1
        if t % m == 0:  # at a refresh the batch terms cancel: the full-data estimate
            exact_value, exact_score = full_value_and_score(positions[t], jnp.asarray(DATA))
            np.testing.assert_allclose(score, exact_score, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(value, exact_value, rtol=1e-5)


def test_dtypes_are_kept_under_x64():
    with jax.enable_x64(True):
        for dtype in (jnp.float32, jnp.float64):
            theta = jnp.asarray([0.3, -0.2], dtype)
            svrg = gradients.svrg(logprior, loglik, jnp.asarray(DATA, dtype), BATCH, 5)
            value, score, state = svrg(jax.random.key(0), theta, svrg.init(theta))
            assert value.dtype == dtype and score.dtype == dtype
            assert state.anchor_value.dtype == dtype and state.anchor_score.dtype == dtype


def test_numpy_and_jax_integers_are_accepted():
    svrg = gradients.svrg(logprior, loglik, DATA.tolist(), np.int64(BATCH), jnp.asarray(4))
    assert svrg.batch_size == BATCH and svrg.num_data == N_DATA


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
SVRG = gradients.svrg(logprior, loglik, jnp.asarray(DATA), BATCH, 5)
X2 = jnp.zeros(2)


def _svrg(**kwargs):
    settings = {
        "logprior_fn": logprior,
        "loglik_fn": loglik,
        "data": jnp.asarray(DATA),
        "batch_size": BATCH,
        "update_every": 5,
        **kwargs,
    }
    return gradients.svrg(**settings)


CASES = [
    Case("svrg update_every zero", lambda: _svrg(update_every=0), ValueError, "update_every"),
    Case("svrg update_every negative", lambda: _svrg(update_every=-3), ValueError, "update_every"),
    Case("svrg update_every float", lambda: _svrg(update_every=2.5), TypeError, "update_every"),
    Case("svrg update_every bool", lambda: _svrg(update_every=True), TypeError, "update_every"),
    Case("svrg update_every missing", lambda: _svrg(update_every=None), TypeError, "update_every"),
    Case(
        "svrg batch_size too large", lambda: _svrg(batch_size=N_DATA + 1), ValueError, "batch_size"
    ),
    Case("svrg batch_size zero", lambda: _svrg(batch_size=0), ValueError, "batch_size"),
    Case("svrg replace not a bool", lambda: _svrg(replace="yes"), TypeError, "replace"),
    Case("svrg loglik not callable", lambda: _svrg(loglik_fn=3.0), TypeError, "loglik_fn"),
    Case("svrg logprior not callable", lambda: _svrg(logprior_fn=None), TypeError, "logprior_fn"),
    Case(
        "svrg data with NaN",
        lambda: _svrg(data=np.where(np.arange(N_DATA)[:, None] == 3, np.nan, DATA)),
        ValueError,
        "data",
    ),
    Case("svrg data empty", lambda: _svrg(data=np.zeros((0, 2))), ValueError, "data"),
    Case("svrg data strings", lambda: _svrg(data=np.array(["a", "b"])), TypeError, "data"),
    Case(
        "svrg init integer position",
        lambda: SVRG.init(jnp.zeros(2, jnp.int32)),
        TypeError,
        "position",
    ),
    Case(
        "svrg state not an SVRGState",
        lambda: SVRG(jax.random.key(0), X2, (X2,)),
        TypeError,
        "state",
    ),
    Case(
        "svrg position unlike the anchor",
        lambda: SVRG(jax.random.key(0), jnp.zeros(3), SVRG.init(X2)),
        ValueError,
        "anchor",
    ),
    Case("svrg key not a key", lambda: SVRG(0, X2, SVRG.init(X2)), TypeError, "key"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
