"""The low rank plus diagonal metric: its algebra, the kernels that run it, the warm-up's estimate.

``M = diag(sd) (I + U diag(f² - 1) Uᵀ) diag(sd)`` with root
``R = diag(sd) (I + U diag(f - 1) Uᵀ)``: checked against the dense matrices it
stands for on small ``d``; MALT with it is exact on a correlated Gaussian and
follows the dense root's trajectory to rounding; the warm-up finds the planted
directions of a 200-D Gaussian (a random basis, the broken companion, does not).
"""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin.adaptation import metric
from jlangevin.kernels import _kinetic, malt
from jlangevin.kernels._checks import checked_value_and_score
from jlangevin.types import MetricRoot

warmup_module = importlib.import_module("jlangevin.adaptation.warmup")


def _orthonormal(seed, dim, rank):
    rng = np.random.default_rng(seed)
    return np.linalg.qr(rng.normal(size=(dim, rank)))[0]


def _root(dim=6, seed=0):
    basis = _orthonormal(seed, dim, 2)
    sd = np.linspace(0.5, 3.0, dim)
    return MetricRoot(
        scale=jnp.asarray(sd, jnp.float32),
        basis=jnp.asarray(basis, jnp.float32),
        factors=jnp.asarray([3.0, 0.4], jnp.float32),
    )


def _dense_root(root):
    """``R`` as a (d, d) matrix, in float64."""
    sd, basis, f = (np.asarray(a, np.float64) for a in (root.scale, root.basis, root.factors))
    return np.diag(sd) @ (np.eye(sd.size) + basis @ np.diag(f - 1) @ basis.T)


# --------------------------------------------------------------------------- #
# The algebra of the root
# --------------------------------------------------------------------------- #
def test_root_stands_for_its_dense_matrix():
    root = _root()
    r = _dense_root(root)
    m = np.asarray(metric.matrix(root, dense=True), np.float64)
    np.testing.assert_allclose(r @ r.T, m, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(metric.matrix(root)), np.diag(m), rtol=1e-5)
    # R⁻¹ R = I: whiten acts on rows, whiten(Rᵀ) = Rᵀ R⁻ᵀ = (R⁻¹ R)ᵀ
    eye = np.asarray(metric.whiten(jnp.asarray(r.T, jnp.float32), root))
    np.testing.assert_allclose(eye, np.eye(6), atol=1e-5)
    x = np.random.default_rng(1).normal(size=(3, 6))
    np.testing.assert_allclose(
        np.asarray(metric.whiten(jnp.asarray(x, jnp.float32), root)),
        x @ np.linalg.inv(r).T,
        rtol=1e-4,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        np.asarray(metric.whiten_scores(jnp.asarray(x, jnp.float32), root)),
        x @ r,
        rtol=1e-4,
        atol=1e-5,
    )
    dense = metric.as_dense(root)
    np.testing.assert_allclose(np.asarray(dense.lower @ dense.lower.T), m, rtol=1e-4, atol=1e-4)


def test_unit_low_rank_root_is_the_identity():
    root = metric.unit_root(5, jnp.float32, False, rank=2)
    assert root.is_low_rank and not root.is_dense
    x = jnp.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(np.asarray(metric.whiten(x, root)), np.asarray(x))
    np.testing.assert_array_equal(np.asarray(metric.matrix(root, dense=True)), np.eye(5))


def test_kinetic_metric_matches_the_dense_root():
    root = _root()
    r = _dense_root(root)
    low = _kinetic.make_metric(jnp.zeros(6), low_rank=(root.scale, root.basis, root.factors))
    u = np.random.default_rng(2).normal(size=6)
    np.testing.assert_allclose(
        np.asarray(_kinetic.velocity(low, jnp.asarray(u, jnp.float32))), r @ u, rtol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(_kinetic.force(low, jnp.asarray(u, jnp.float32))), r.T @ u, rtol=1e-5
    )
    # the standard deviations may come as a pytree like the position
    tree = {"a": jnp.zeros(2), "b": jnp.zeros(4)}
    as_tree = _kinetic.make_metric(
        tree, low_rank=({"a": root.scale[:2], "b": root.scale[2:]}, root.basis, root.factors)
    )
    np.testing.assert_array_equal(np.asarray(as_tree.low_rank[0]), np.asarray(root.scale))


# --------------------------------------------------------------------------- #
# MALT with a low-rank metric
# --------------------------------------------------------------------------- #
def _correlated_gaussian(dim, seed, spikes):
    """``C = diag(sd) (I + Q diag(spikes) Qᵀ) diag(sd)``: ``(precision, sd, Q)``."""
    rng = np.random.default_rng(seed)
    q = _orthonormal(seed + 1, dim, len(spikes))
    sd = np.exp(rng.uniform(-1.0, 1.0, dim))
    cov = np.diag(sd) @ (np.eye(dim) + q @ np.diag(spikes) @ q.T) @ np.diag(sd)
    return np.linalg.inv(cov), sd, q, cov


def test_malt_trajectory_follows_the_dense_root():
    """Given the same root ``R`` as a dense factor, the leapfrog path agrees to rounding."""
    root = _root()
    r = _dense_root(root)
    precision, *_ = _correlated_gaussian(6, 3, [20.0, -0.9])
    prec = jnp.asarray(precision, jnp.float32)

    def logp(x):
        return -0.5 * x @ prec @ x

    state = malt.init(jnp.ones(6), logp)
    value_and_score = checked_value_and_score(logp, None)
    paths = [
        malt.trajectory(jax.random.key(4), state, 0.2, 0.8, 7, m, None, value_and_score)
        for m in (
            _kinetic.Metric(lower=jnp.asarray(r, jnp.float32)),
            _kinetic.make_metric(state.position, low_rank=(root.scale, root.basis, root.factors)),
        )
    ]
    for a, b in zip(jax.tree.leaves(paths[0]), jax.tree.leaves(paths[1]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.long
def test_malt_step_equals_the_dense_kernel_for_an_axis_basis():
    """A basis of coordinate axes makes ``R`` diagonal: ``cholesky=R`` is the same kernel."""
    sd = jnp.asarray([1.0, 2.0, 0.5, 3.0])
    basis, factors = jnp.eye(4)[:, :2], jnp.asarray([2.0, 0.5])
    lower = jnp.diag(sd * jnp.asarray([2.0, 0.5, 1.0, 1.0]))

    def logp(x):
        return -0.5 * jnp.sum((x / jnp.diag(lower)) ** 2) - 0.1 * jnp.sum(x**4)

    runs = [
        jl.run(
            jax.random.key(5),
            malt.sampler(logp, 0.3, 4, 1.0, **settings),
            jnp.ones((2, 4)),
            50,
        ).positions
        for settings in ({"cholesky": lower}, {"low_rank": (sd, basis, factors)})
    ]
    np.testing.assert_allclose(np.asarray(runs[0]), np.asarray(runs[1]), rtol=1e-5, atol=1e-5)


def test_malt_with_a_low_rank_metric_is_exact():
    """Moments of a correlated 12-D Gaussian within 4 MCSE, from a rough low-rank metric."""
    dim = 12
    precision, sd, q, cov = _correlated_gaussian(dim, 6, [30.0, 8.0, -0.9])
    prec = jnp.asarray(precision, jnp.float32)

    def logp(x):
        return -0.5 * x @ prec @ x

    # a metric near the truth but not it: the kernel must still be exact
    low_rank = (1.2 * sd, q, np.sqrt([31.0, 9.0, 0.1]) * [0.8, 1.2, 1.5])
    sampler = malt.sampler(logp, 0.35, 6, 0.5, low_rank=low_rank)
    start = jax.random.normal(jax.random.key(7), (8, dim)) * sd
    trace = jl.run(jax.random.key(8), sampler, start, 2500, burnin=200)
    x = np.asarray(trace.positions)
    assert np.max(np.abs(mean_z(x, np.zeros(dim)))) < Z_MAX
    assert np.max(np.abs(var_z(x, np.zeros(dim), np.diag(cov)))) < Z_MAX
    along = (x / sd) @ q  # the planted directions: variances 1 + spike
    assert np.max(np.abs(var_z(along, np.zeros(3), [31.0, 9.0, 0.1]))) < Z_MAX


# --------------------------------------------------------------------------- #
# The warm-up's estimate
# --------------------------------------------------------------------------- #
SPIKES = [99.0, 24.0, -0.95]


@functools.cache  # one log density: the warm-ups below share their compiled windows
def _planted(dim=200):
    precision, sd, q, cov = _correlated_gaussian(dim, 0, SPIKES)
    prec = jnp.asarray(precision, jnp.float32)

    def logp(x):
        return -0.5 * x @ prec @ x

    return logp, sd, q, cov


def _captured(root, cov):
    """For each planted direction: ``|cos|`` of its angle to the span of the basis.

    The planted directions of ``cov`` whitened by the adapted ``scale`` are its
    eigenvectors farthest from 1 (in ``|log λ|``); the basis lives in those coordinates.
    """
    scale = np.asarray(root.scale, np.float64)
    vals, vecs = np.linalg.eigh(cov / np.outer(scale, scale))
    extreme = vecs[:, np.argsort(-np.abs(np.log(vals)))[: len(SPIKES)]]
    basis = np.asarray(root.basis, np.float64)
    return np.linalg.norm(basis.T @ extreme, axis=0)


def _warmup(logp, dim, num_steps=600):
    start = jax.random.normal(jax.random.key(1), (4, dim))
    return jl.adaptation.warmup(
        jax.random.key(0), jl.malt, logp, start, num_steps, preconditioner="low_rank"
    )


@pytest.mark.long
def test_warmup_finds_the_planted_directions_and_samples():
    dim = 200
    logp, sd, q, cov = _planted(dim)
    sampler, state, info = _warmup(logp, dim)
    assert info.metric_kind == "low_rank" and info.metric_reason == "as asked"
    root = info.metric_root
    assert root.is_low_rank and info.cholesky is None
    assert info.preconditioner.shape == (dim,)
    np.testing.assert_allclose(np.asarray(info.preconditioner), np.asarray(metric.matrix(root)))
    assert np.min(_captured(root, cov)) > 0.9
    assert np.sum(np.asarray(root.factors) != 1.0) >= len(SPIKES)
    x = np.asarray(jl.run(jax.random.key(2), sampler, state, 2000).positions)
    assert rhat(x) < 1.01
    # every mean (a Bonferroni bound over 200 coordinates) and the planted variances
    assert np.max(np.abs(mean_z(x, np.zeros(dim)))) < Z_MAX + 0.5
    along = (x / sd) @ q
    assert np.max(np.abs(var_z(along, np.zeros(3), 1.0 + np.asarray(SPIKES)))) < Z_MAX


# --------------------------------------------------------------------------- #
# "auto" above DENSE_MAX_DIM, the broken companion, kernels without the form
# --------------------------------------------------------------------------- #
@pytest.mark.long
def test_auto_picks_low_rank_above_dense_max_dim_where_the_kernel_runs_it():
    logp, _, _, cov = _planted(200)
    start = jax.random.normal(jax.random.key(1), (4, 200))
    # DENSE_MAX_DIM is read on the host, before the windows, and what it decides is
    # part of each window's settings (their cache key): patching it needs no fresh
    # compilation, so the windows compiled for the explicit "low_rank" run above serve.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metric, "DENSE_MAX_DIM", 100)
        _, _, info = jl.adaptation.warmup(jax.random.key(0), jl.malt, logp, start, 600)
        kind, reason = warmup_module._initial_kind("auto", 200, jl.mala.tuning)
        kind_between = warmup_module._initial_kind("auto", 80, jl.malt.tuning)[0]
    assert info.metric_kind == "low_rank"
    assert "low rank" in info.metric_reason and "200 > 100" in info.metric_reason
    assert np.min(_captured(info.metric_root, cov)) > 0.9
    assert kind == "diagonal" and "200 > 100" in reason
    # between the small dimensions and DENSE_MAX_DIM "auto" is still decided by the chains
    assert kind_between == "auto"


def test_broken_estimate_misses_the_directions():
    """Companion: a random orthonormal basis in place of the estimate fails the check."""
    dim = 200
    logp, _, _, cov = _planted(dim)
    real = metric.low_rank_estimate

    def random_basis(buffer, healthy, sd, rank):
        basis, factors, lam = real(buffer, healthy, sd, rank)
        noise = jax.random.normal(jax.random.key(9), basis.shape, basis.dtype)
        return jnp.linalg.qr(noise)[0], factors, lam

    # The estimate runs only in the window-end step (compiled once per shape): that
    # step is traced again, patched, and cleared after; the sampling windows, which
    # never call it, keep the programs compiled for the runs above.
    warmup_module._end_window.clear_cache()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(metric, "low_rank_estimate", random_basis)
            _, _, info = _warmup(logp, dim)
    finally:
        warmup_module._end_window.clear_cache()
    assert np.min(_captured(info.metric_root, cov)) < 0.9


def test_kernels_declare_the_low_rank_form():
    for kernel in (jl.malt, jl.mams, jl.mclmc):
        assert "low_rank" in kernel.tuning.metrics
    for kernel in (jl.mala, jl.barker):
        assert "low_rank" not in kernel.tuning.metrics
    assert "low_rank" in metric.PRECONDITIONERS


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["mams", "mclmc"])
def test_other_kinetic_kernels_run_the_adapted_low_rank_metric(kernel):
    dim = 200
    logp, _, _, cov = _planted(dim)
    start = jax.random.normal(jax.random.key(1), (4, dim))
    sampler, state, info = jl.adaptation.warmup(
        jax.random.key(0), kernel, logp, start, 600, preconditioner="low_rank"
    )
    assert info.metric_kind == "low_rank"
    assert np.min(_captured(info.metric_root, cov)) > 0.9
    x = np.asarray(jl.run(jax.random.key(2), sampler, state, 400).positions)
    assert np.all(np.isfinite(x))


def _scaled(x):
    return -0.5 * jnp.sum((x / jnp.arange(1.0, 11.0)) ** 2)


def test_sample_refuses_low_rank_for_a_kernel_without_it():
    with pytest.raises(ValueError, match="preconditioner"):
        jl.sample(
            jax.random.key(0),
            _scaled,
            kernel="mala",
            preconditioner="low_rank",
            positions=jnp.ones((4, 10)),
        )


@pytest.mark.slow
def test_sample_passes_low_rank_through():
    result = jl.sample(
        jax.random.key(0),
        _scaled,
        kernel="malt",
        preconditioner="low_rank",
        positions=jnp.ones((4, 10)),
        num_warmup=100,
        num_draws=50,
        warn=False,
    )
    assert result.warmup.metric_kind == "low_rank"
