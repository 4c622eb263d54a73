"""Dense-preconditioned MALA (``cholesky=``): exactness and agreement with the diagonal path."""

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.kernels import mala

COV = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.1], [0.2, 0.1, 0.5]])
# A preconditioner that is *not* the target covariance, so the ratio matters.
PRECOND = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.3]])


def _z_scores(values: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(estimate - exact) / MCSE per column; values (chains, draws, k)."""
    ds = az.convert_to_dataset({"f": values})
    ess = az.ess(ds).f.values
    flat = values.reshape(-1, values.shape[-1])
    mcse = flat.std(axis=0) / np.sqrt(ess)
    return (flat.mean(axis=0) - exact) / mcse


def _moments(x: np.ndarray) -> np.ndarray:
    """x (chains, draws, 3) -> the functions whose means we know: x, x², x0 x1."""
    return np.concatenate([x, x**2, x[..., :1] * x[..., 1:2]], axis=-1)


def test_dense_mala_leaves_correlated_gaussian_invariant():
    target = jl.targets.gaussian(np.zeros(3), COV)
    sampler = jl.mala(target.logdensity, 0.15, cholesky=jnp.linalg.cholesky(PRECOND))
    start = target.sample(jax.random.key(0), 64)  # exact draws: no burn-in needed
    trace = jl.run(jax.random.key(1), sampler, start, 1000)
    accept = float(np.mean(trace.info.acceptance_rate))
    assert 0.2 < accept < 0.95  # the ratio is exercised (neither always nor never accepting)
    exact = np.concatenate([np.zeros(3), np.diag(COV), [COV[0, 1]]])
    z = _z_scores(_moments(np.asarray(trace.positions, float)), exact)
    assert np.all(np.abs(z) < 4.0), z


def test_dense_matches_diagonal_path_for_diagonal_factor():
    target = jl.targets.gaussian(np.zeros(4), scale=[0.1, 1.0, 3.0, 0.5])
    var = jnp.array([0.02, 1.5, 8.0, 0.2])
    h = 0.3
    state = mala.init(jnp.array([0.05, -1.0, 2.0, 0.3]), target.logdensity)
    for i in range(20):
        key = jax.random.key(i)
        dense, info_d = mala.step(key, state, target.logdensity, h, cholesky=jnp.diag(var**0.5))
        diag, info_g = mala.step(key, state, target.logdensity, h * var)
        np.testing.assert_allclose(dense.position, diag.position, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(info_d.acceptance_rate, info_g.acceptance_rate, rtol=1e-4)
        assert bool(info_d.is_accepted) == bool(info_g.is_accepted)
        state = diag


def test_dense_on_pytree_position():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    sampler = jl.mala(logp, 0.5, cholesky=jnp.diag(jnp.array([1.0, 1.0, 2.0])))
    positions = {"a": jnp.zeros((4, 2)), "b": jnp.ones((4, 1))}
    trace = jl.run(jax.random.key(0), sampler, positions, 50)
    assert trace.positions["a"].shape == (4, 50, 2)
    assert trace.positions["b"].shape == (4, 50, 1)
    assert np.all(np.isfinite(trace.info.acceptance_rate))


def test_dense_bad_input():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with pytest.raises(ValueError, match="cholesky"):
        jl.mala(logp, 0.1, cholesky=jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="cholesky"):
        jl.mala(logp, 0.1, cholesky=-jnp.eye(2))
    with pytest.raises(ValueError, match="step_size"):
        jl.mala(logp, jnp.ones(2), cholesky=jnp.eye(2))
    with pytest.raises(TypeError, match="cholesky"):
        jl.mala(logp, 0.1, cholesky=np.eye(2, dtype=int))
    with pytest.raises(ValueError, match="cholesky"):
        jl.mala(logp, 0.1, cholesky=jnp.eye(2)).init(jnp.zeros(3))
