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

    @jax.jit  # both steps in one compiled program, not one per primitive run eagerly
    def both(key, state):
        dense = mala.step(key, state, target.logdensity, h, cholesky=jnp.diag(var**0.5))
        return dense, mala.step(key, state, target.logdensity, h * var)

    for i in range(20):
        (dense, info_d), (diag, info_g) = both(jax.random.key(i), state)
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


def test_moment_check_catches_a_dense_ratio_without_the_reverse_density(monkeypatch):
    """The invariance check must be able to fail: a ratio missing log q(x | y) is caught."""
    monkeypatch.setattr(mala, "dense_proposal_logdensity", lambda *args: jnp.zeros(()))
    target = jl.targets.gaussian(np.zeros(3), COV)
    sampler = jl.mala(target.logdensity, 0.15, cholesky=jnp.linalg.cholesky(PRECOND))
    trace = jl.run(jax.random.key(1), sampler, target.sample(jax.random.key(0), 64), 1000)
    exact = np.concatenate([np.zeros(3), np.diag(COV), [COV[0, 1]]])
    z = _z_scores(_moments(np.asarray(trace.positions, float)), exact)
    assert np.any(np.abs(z) >= 4.0), z


def _solve_ops(fn, *args) -> list[str]:
    """Triangular solves in ``fn``'s jaxpr and in its lowering (CPU: a LAPACK ``trsm`` call)."""
    jaxpr = str(jax.make_jaxpr(fn)(*args))
    lowered = jax.jit(fn).lower(*args).as_text()
    found = ["jaxpr"] if "triangular_solve" in jaxpr else []
    return found + [name for name in ("triangular_solve", "trsm") if name in lowered]


def _chains_and_keys(chains: int = 8):
    target = jl.targets.gaussian(np.zeros(3), COV)
    keys = jax.random.split(jax.random.key(0), chains)
    return target, keys, target.sample(jax.random.key(1), chains)


def test_concrete_factor_gives_a_step_without_triangular_solve():
    target, keys, start = _chains_and_keys()
    sampler = jl.mala(target.logdensity, 0.15, cholesky=np.linalg.cholesky(PRECOND))
    states = jax.vmap(sampler.init)(start)
    assert _solve_ops(jax.vmap(sampler.step), keys, states) == []
    # a direct call of the low-level step with a concrete factor: the same
    step = lambda k, s: mala.step(  # noqa: E731
        k, s, target.logdensity, 0.15, cholesky=np.linalg.cholesky(PRECOND)
    )
    assert _solve_ops(jax.vmap(step), keys, states) == []


def test_solve_check_sees_the_solve_of_a_traced_factor():
    """Companion: with ``L`` an argument of the compiled step, the solve is there to be seen."""
    target, keys, start = _chains_and_keys()
    states = jax.vmap(mala.init, (0, None))(start, target.logdensity)

    def step(k, s, chol):
        return mala.step(k, s, target.logdensity, 0.15, cholesky=chol)

    chol = jnp.linalg.cholesky(jnp.asarray(PRECOND, jnp.float32))
    found = _solve_ops(jax.vmap(step, (0, 0, None)), keys, states, chol)
    assert "jaxpr" in found and len(found) >= 2, found
    # ...and the old formulation (a solve per chain inside the reverse density) too
    old = jax.vmap(lambda x, y, d: mala.dense_proposal_logdensity(x, y, d, 0.15, chol))
    assert "jaxpr" in _solve_ops(old, start, start, start)


def test_traced_factor_matches_concrete_factor():
    """Warm-up passes a traced ``L``: one ``solve_triangular(L, I)``, the same step."""
    target, keys, start = _chains_and_keys()
    chol = np.linalg.cholesky(PRECOND).astype(np.float32)
    concrete = jl.mala(target.logdensity, 0.15, cholesky=chol)
    states = jax.vmap(concrete.init)(start)

    def step(k, s, c):
        return mala.step(k, s, target.logdensity, 0.15, cholesky=c)

    # Jitted once, outside the loop: a fresh jit(vmap(...)) per iteration compiles anew.
    concrete_step = jax.jit(jax.vmap(concrete.step))
    traced_step = jax.jit(jax.vmap(step, (0, 0, None)))
    for i in range(5):
        keys = jax.random.split(jax.random.key(10 + i), len(keys))
        a, info_a = concrete_step(keys, states)
        b, info_b = traced_step(keys, states, jnp.asarray(chol))
        np.testing.assert_allclose(a.position, b.position, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(info_a.acceptance_rate, info_b.acceptance_rate, atol=1e-5)
        states = a


def test_inverse_cholesky_is_the_inverse():
    chol = np.linalg.cholesky(PRECOND)
    inv = mala.inverse_cholesky(chol)
    np.testing.assert_allclose(inv @ chol, np.eye(3), atol=1e-12)
    assert np.all(np.triu(inv, 1) == 0.0)
    traced = jax.jit(mala.inverse_cholesky)(jnp.asarray(chol, jnp.float32))
    np.testing.assert_allclose(traced, inv, rtol=1e-5, atol=1e-6)


def test_inverse_argument_is_checked():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    state = mala.init(jnp.zeros(2), logp)
    with pytest.raises(ValueError, match="inverse"):
        mala.step(jax.random.key(0), state, logp, 0.1, inverse=jnp.eye(2))
    with pytest.raises(ValueError, match="inverse"):
        mala.step(jax.random.key(0), state, logp, 0.1, cholesky=jnp.eye(2), inverse=jnp.eye(3))
