"""Kinetic Langevin: the exact stationary law of each splitting on Gaussians, walls, faults.

On a Gaussian target the splittings are linear recursions ``z' = A z + b xi`` in
``z = (x, u)``, whose stationary covariance solves the discrete Lyapunov equation
``S = A S Aᵀ + b bᵀ``: :func:`stationary_cov` builds ``A`` and ``b`` from the
B, A, O pieces and solves it, the closed form every check compares against. In
1-D (and, whitened, for any metric) it is, with ``w = h / sigma``::

    BAOAB:  Var x = sigma²,                Var u = 1 - w² / 4
    OBABO:  Var x = sigma² / (1 - w²/4),   Var u = 1

(:func:`test_lyapunov_matches_the_analytic_forms`).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import _kinetic, underdamped

loop = importlib.import_module("jlangevin.run.loop")

SIGMA = np.array([1.0, 2.0, 0.5])
H, GAMMA = 0.8, 1.0  # h / sigma_min = 1.6 < 2: stable, with a large, visible bias
COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.25]])
PRECOND = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.3]])  # not COV


@pytest.fixture
def fresh_compile():
    """Compiled loops are cached on the kernel's settings: a patched kernel needs its own."""
    loop.compiled_chunk.cache_clear()
    yield
    loop.compiled_chunk.cache_clear()


def stationary_cov(precision, lower, h, gamma, splitting="baoab"):
    """Exact stationary covariance of ``(x, u)`` for the target ``N(0, precision⁻¹)``."""
    d = len(precision)
    eye, zero = np.eye(d), np.zeros((d, d))

    def kick(t):
        return np.block([[eye, zero], [-t * lower.T @ precision, eye]]), np.zeros((2 * d, d))

    def drift(t):
        return np.block([[eye, t * lower], [zero, eye]]), np.zeros((2 * d, d))

    def ou(eta):
        return np.block([[eye, zero], [zero, eta * eye]]), np.vstack(
            [zero, np.sqrt(1 - eta**2) * eye]
        )

    eta = np.exp(-gamma * h)
    if splitting == "baoab":
        ops = [kick(h / 2), drift(h / 2), ou(eta), drift(h / 2), kick(h / 2)]
    else:
        ops = [ou(eta**0.5), kick(h / 2), drift(h), kick(h / 2), ou(eta**0.5)]
    a, q = np.eye(2 * d), np.zeros((2 * d, 2 * d))
    for m, b in ops:
        a, q = m @ a, m @ q @ m.T + b @ b.T
    vec = np.linalg.solve(np.eye(4 * d * d) - np.kron(a, a), q.reshape(-1))
    return vec.reshape(2 * d, 2 * d)


def _diag_case(splitting="baoab", h=H):
    s = stationary_cov(np.diag(SIGMA**-2.0), np.eye(3), h, GAMMA, splitting)
    return np.diag(s)[:3], np.diag(s)[3:]


def position_and_momentum(state, info):
    return {"x": state.position, "u": state.momentum, "diverged": info.diverged}


def _gaussian_run(key=0, splitting="baoab", h=H, chains=400, steps=400, **kwargs):
    logp = lambda x: -0.5 * jnp.sum((x / SIGMA) ** 2)  # noqa: E731
    sampler = underdamped.sampler(logp, h, GAMMA, splitting=splitting, **kwargs)
    x0 = jnp.asarray(np.random.default_rng(key).normal(size=(chains, 3)) * SIGMA, jnp.float32)
    trace = jl.run(jax.random.key(key), sampler, x0, steps, burnin=100, store=position_and_momentum)
    return trace.values["x"], trace.values["u"]


def _z(x, u, var_x, var_u):
    return np.concatenate([var_z(x, np.zeros(3), var_x), var_z(u, np.zeros(3), var_u)])


def test_lyapunov_matches_the_analytic_forms():
    w2 = (H / SIGMA) ** 2
    var_x, var_u = _diag_case("baoab")
    np.testing.assert_allclose(var_x, SIGMA**2, rtol=1e-10)
    np.testing.assert_allclose(var_u, 1 - w2 / 4, rtol=1e-10)
    var_x, var_u = _diag_case("obabo")
    np.testing.assert_allclose(var_x, SIGMA**2 / (1 - w2 / 4), rtol=1e-10)
    np.testing.assert_allclose(var_u, 1.0, rtol=1e-10)


def test_baoab_has_its_exact_stationary_law():
    x, u = _gaussian_run()
    z = _z(x, u, *_diag_case("baoab"))
    assert np.all(np.abs(z) < Z_MAX), z
    # ...and the momentum's bias is really seen: N(0, 1) is rejected where h / sigma is large.
    z_unbiased = var_z(u, np.zeros(3), np.ones(3))
    assert abs(z_unbiased[2]) > Z_MAX, z_unbiased


@pytest.mark.slow
def test_obabo_has_its_own_law_and_the_check_tells_the_splittings_apart():
    """Companion: OBABO's draws pass against OBABO's closed form and fail BAOAB's."""
    x, u = _gaussian_run(key=1, splitting="obabo")
    z = _z(x, u, *_diag_case("obabo"))
    assert np.all(np.abs(z) < Z_MAX), z
    z_wrong = _z(x, u, *_diag_case("baoab"))
    assert np.abs(z_wrong).max() > Z_MAX, z_wrong


def test_the_check_catches_a_wrong_noise_coefficient(monkeypatch, fresh_compile):
    """Companion: an O step with noise sqrt(1 - eta) instead of sqrt(1 - eta²) is caught."""

    def broken_refresh(key, momentum, eta):
        noise = _kinetic.normal_like(key, momentum)
        return jax.tree.map(lambda u, xi: eta * u + jnp.sqrt(1 - eta) * xi, momentum, noise)

    monkeypatch.setattr(_kinetic, "refresh", broken_refresh)
    x, u = _gaussian_run(key=2)
    z = _z(x, u, *_diag_case("baoab"))
    assert np.abs(z).max() > Z_MAX, z


@pytest.mark.slow
def test_diagonal_metric_whitens_the_target():
    # inverse_mass = sigma² makes every coordinate a unit Gaussian in whitened units:
    # Var x = sigma² still (BAOAB), Var u = 1 - h² / 4 for every coordinate.
    x, u = _gaussian_run(key=3, h=1.2, inverse_mass=jnp.asarray(SIGMA**2))
    z = _z(x, u, SIGMA**2, np.full(3, 1 - 1.2**2 / 4))
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_dense_metric_on_a_correlated_gaussian():
    # BAOAB is exact in the position for a Gaussian under any metric: Cov x = COV, and
    # Cov u = I - (h² / 4) Lᵀ P L, with P = COV⁻¹ (the Lyapunov solution says the same).
    precision, lower, h = np.linalg.inv(COV), np.linalg.cholesky(PRECOND), 0.5
    s = stationary_cov(precision, lower, h, GAMMA)
    np.testing.assert_allclose(s[:3, :3], COV, atol=1e-10)
    np.testing.assert_allclose(s[3:, 3:], np.eye(3) - h**2 / 4 * lower.T @ precision @ lower)
    target = jl.targets.gaussian(np.zeros(3), COV)
    sampler = underdamped.sampler(target.logdensity, h, GAMMA, cholesky=jnp.asarray(lower))
    start = target.sample(jax.random.key(0), 200)
    trace = jl.run(jax.random.key(1), sampler, start, 400, burnin=100, store=position_and_momentum)
    x, u = np.asarray(trace.values["x"], float), np.asarray(trace.values["u"], float)
    # second moments x_i x_j and u_i u_j, all pairs, against the exact covariance
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    z = []
    for values, cov in ((x, s[:3, :3]), (u, s[3:, 3:])):
        products = np.stack([values[..., i] * values[..., j] for i, j in pairs], axis=-1)
        z.append(mean_z(products, [cov[i, j] for i, j in pairs]))
    z = np.concatenate(z)
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_pytree_positions_with_a_per_leaf_metric():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    metric = {"a": jnp.ones(2), "b": jnp.asarray([4.0])}
    sampler = underdamped.sampler(logp, 0.9, GAMMA, inverse_mass=metric)
    positions = {"a": jnp.zeros((300, 2)), "b": jnp.zeros((300, 1))}
    trace = jl.run(
        jax.random.key(0), sampler, positions, 300, burnin=100, store=position_and_momentum
    )
    x, u = trace.values["x"], trace.values["u"]
    assert x["a"].shape == (300, 300, 2) and u["b"].shape == (300, 300, 1)
    # whitened, every coordinate is a unit Gaussian with step 0.9
    z = np.concatenate(
        [
            var_z(x["a"], np.zeros(2), np.ones(2)),
            var_z(x["b"], np.zeros(1), np.full(1, 4.0)),
            var_z(u["a"], np.zeros(2), np.full(2, 1 - 0.9**2 / 4)),
            var_z(u["b"], np.zeros(1), np.full(1, 1 - 0.9**2 / 4)),
        ]
    )
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_float64_keeps_dtypes_and_the_exact_law():
    with jax.enable_x64(True):
        logp = lambda x: -0.5 * jnp.sum((x / jnp.asarray(SIGMA)) ** 2)  # noqa: E731
        sampler = underdamped.sampler(logp, np.float64(H), GAMMA)
        x0 = jnp.asarray(np.random.default_rng(4).normal(size=(300, 3)) * SIGMA)
        trace = jl.run(jax.random.key(4), sampler, x0, 300, burnin=100, store=position_and_momentum)
        assert trace.values["x"].dtype == jnp.float64 and trace.values["u"].dtype == jnp.float64
        state = sampler.init(jnp.zeros(3))
        _, info = sampler.step(jax.random.key(0), state)
        assert info.step_size.dtype == jnp.float64 and info.logdensity.dtype == jnp.float64
    z = _z(trace.values["x"], trace.values["u"], *_diag_case("baoab"))
    assert np.all(np.abs(z) < Z_MAX), z


def test_dense_factor_of_a_diagonal_matches_the_diagonal_metric():
    logp = lambda x: -0.5 * jnp.sum((x / jnp.asarray(SIGMA, jnp.float32)) ** 2)  # noqa: E731
    var = jnp.asarray([0.5, 3.0, 0.2])
    state = underdamped.init(jnp.asarray([0.3, -1.0, 0.1]), logp, momentum=jnp.ones(3))

    @jax.jit
    def both(key):
        diag, _ = underdamped.step(key, state, logp, 0.3, 1.0, inverse_mass=var)
        dense, _ = underdamped.step(key, state, logp, 0.3, 1.0, cholesky=jnp.diag(var**0.5))
        return diag, dense

    diag, dense = both(jax.random.key(0))
    np.testing.assert_allclose(dense.position, diag.position, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense.momentum, diag.momentum, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dtypes_follow_the_position_under_x64(dtype):
    with jax.enable_x64(True):
        sampler = underdamped.sampler(lambda x: -0.5 * jnp.sum(x**2), 0.5, 1.0)
        state = sampler.init(jnp.zeros(2, dtype))
        state, info = jax.eval_shape(sampler.step, jax.random.key(0), state)
    assert state.position.dtype == state.momentum.dtype == dtype
    assert info.step_size.dtype == info.logdensity.dtype == dtype


def _pytree_case():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2.0) ** 2))

    metric = {"a": 1.0, "b": jnp.asarray([4.0])}
    sampler = underdamped.sampler(logp, 0.4, 2.0, inverse_mass=metric)
    x0 = {"a": jnp.linspace(-1.0, 1.0, 8).reshape(4, 2), "b": jnp.ones((4, 1))}
    whole = jl.run(jax.random.key(5), sampler, x0, 40, store=position_and_momentum)
    return sampler, x0, whole


@pytest.mark.long
def test_chunked_runs_on_pytree_positions_are_bit_identical():
    sampler, x0, whole = _pytree_case()
    chunked = jl.run(jax.random.key(5), sampler, x0, 40, chunk_size=20, store=position_and_momentum)
    assert whole.values["u"]["a"].shape == (4, 40, 2) and whole.values["u"]["b"].shape == (4, 40, 1)
    for leaf in ("a", "b"):
        np.testing.assert_array_equal(whole.values["x"][leaf], chunked.values["x"][leaf])
        np.testing.assert_array_equal(whole.values["u"][leaf], chunked.values["u"][leaf])


@pytest.mark.slow
def test_a_run_resumed_from_its_final_state_continues_the_chain():
    sampler, x0, whole = _pytree_case()  # the final state carries the momentum
    first = jl.run(jax.random.key(5), sampler, x0, 20, store=position_and_momentum)
    rest = jl.run(jax.random.key(5), sampler, first.final_state, 20, store=position_and_momentum)
    for leaf in ("a", "b"):
        np.testing.assert_array_equal(whole.values["x"][leaf][:, 20:], rest.values["x"][leaf])
        np.testing.assert_array_equal(whole.values["u"][leaf][:, 20:], rest.values["u"][leaf])


def test_score_only_matches_logdensity_bit_for_bit():
    x0 = jnp.ones((4, 2))
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    a = jl.run(jax.random.key(3), underdamped.sampler(logp, 0.3, 1.0), x0, 40)
    score_only = underdamped.sampler(score_fn=lambda x: -x, step_size=0.3, gamma=1.0)
    b = jl.run(jax.random.key(3), score_only, x0, 40)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_array_equal(a.final_state.momentum, b.final_state.momentum)
    assert b.info.logdensity is None and b.final_state.logdensity is None


BOX = (-1.0, 2.0)


def _box_run():
    # Flat density on the box: the billiard flow with refreshed momentum leaves the
    # uniform law exactly invariant, for any step.
    sampler = underdamped.sampler(score_fn=jnp.zeros_like, step_size=0.7, gamma=0.5, bounds=BOX)
    x0 = jnp.asarray(np.random.default_rng(6).uniform(*BOX, size=(64, 1)), jnp.float32)
    return jl.run(jax.random.key(6), sampler, x0, 1000)


def _uniform_cdf(x):
    return np.clip((np.asarray(x) - BOX[0]) / (BOX[1] - BOX[0]), 0.0, 1.0)


def test_walls_reflect_and_leave_the_uniform_law_invariant():
    trace = _box_run()
    x = np.asarray(trace.positions[..., 0])
    assert x.min() >= BOX[0] and x.max() <= BOX[1]
    pvalue, n = ks_pvalue(x, _uniform_cdf)
    assert pvalue > 1e-3 and n > 500, (pvalue, n)


def test_the_wall_check_catches_clipping(monkeypatch, fresh_compile):
    """Companion: clipping at the wall (momentum kept) piles mass there; KS sees it."""

    def clip_keep(x, u, low, high):
        return jnp.clip(x, low, high), u

    monkeypatch.setattr(_kinetic, "reflect_and_flip", clip_keep)
    x = np.asarray(_box_run().positions[..., 0])
    pvalue, _ = ks_pvalue(x, _uniform_cdf)
    assert pvalue < 1e-3, pvalue


def test_reflection_flips_exactly_the_reflected_coordinates():
    x, u = _kinetic.reflect_and_flip(
        jnp.asarray([2.5, 5.5, -1.5, 0.5]), jnp.ones(4), jnp.asarray(-1.0), jnp.asarray(2.0)
    )
    np.testing.assert_allclose(x, [1.5, -0.5, -0.5, 0.5])
    np.testing.assert_array_equal(u, [-1.0, 1.0, -1.0, 1.0])
    x, u = _kinetic.reflect_and_flip(jnp.asarray([-0.5, 3.0]), jnp.ones(2), 0.0, jnp.inf)
    np.testing.assert_allclose(x, [0.5, 3.0])
    np.testing.assert_array_equal(u, [-1.0, 1.0])


def test_divergence_keeps_the_last_finite_state():
    logp = lambda x: -jnp.sum(x**4)  # noqa: E731
    sampler = underdamped.sampler(logp, 1.0, 1.0)
    with pytest.warns(jl.SamplingWarning, match="diverged"):
        trace = jl.run(
            jax.random.key(0),
            sampler,
            jnp.asarray([[0.1], [3.0], [0.2]]),
            20,
            store=position_and_momentum,
        )
    assert trace.num_diverged_chains >= 1
    x, u = np.asarray(trace.values["x"]), np.asarray(trace.values["u"])
    assert np.isfinite(x).all() and np.isfinite(u).all()
    c, d = np.argwhere(np.asarray(trace.values["diverged"]))[0]
    if d > 0:
        np.testing.assert_array_equal(x[c, d], x[c, d - 1])
        np.testing.assert_array_equal(u[c, d], u[c, d - 1])


@pytest.mark.parametrize("splitting", ["baoab", "obabo"])
def test_one_gradient_per_step(splitting):
    calls = {"n": 0}

    def logp(x):
        calls["n"] += 1  # counts traces, i.e. evaluations in the compiled step
        return -0.5 * jnp.sum(x**2)

    state = underdamped.init(jnp.zeros(2), logp)
    calls["n"] = 0
    jax.make_jaxpr(lambda k, s: underdamped.step(k, s, logp, 0.1, 1.0, splitting=splitting))(
        jax.random.key(0), state
    )
    assert calls["n"] == 1
