"""ULA: the exact stationary law on a Gaussian, boundaries, divergence, score-only use."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, var_z

import jlangevin as jl
from jlangevin.kernels import _bounds, _move, ula
from jlangevin.kernels._tree import normal_like


def ula_stationary_var(sigma, h):
    """ULA on N(0, sigma^2) is an AR(1) with stationary variance sigma^2 / (1 - h / (2 sigma^2))."""
    return sigma**2 / (1 - h / (2 * sigma**2))


SIGMA = np.array([1.0, 2.0, 0.5])
STEP = np.array([0.5, 0.8, 0.05])  # per coordinate: large steps, so the O(h) bias is visible


def _gaussian_run(step_size, key=0):
    logp = lambda x: -0.5 * jnp.sum((x / SIGMA) ** 2)  # noqa: E731
    sampler = jl.ula(logp, step_size=step_size)
    x0 = jnp.asarray(np.random.default_rng(key).normal(size=(500, 3)) * SIGMA, jnp.float32)
    return jl.run(jax.random.key(key), sampler, x0, 400, burnin=100)


def test_stationary_variance_is_exactly_the_ula_bias_per_coordinate():
    trace = _gaussian_run(jnp.asarray(STEP))
    exact = ula_stationary_var(SIGMA, STEP)
    z = var_z(trace.positions, np.zeros(3), exact)
    assert np.all(np.abs(z) < Z_MAX), z
    # ...and the biased variance is really distinguishable from sigma^2 itself.
    z_unbiased = var_z(trace.positions, np.zeros(3), SIGMA**2)
    assert np.abs(z_unbiased[:2]).min() > Z_MAX, z_unbiased


def test_scalar_step_variance():
    trace = _gaussian_run(0.2)
    z = var_z(trace.positions, np.zeros(3), ula_stationary_var(SIGMA, 0.2))
    assert np.all(np.abs(z) < Z_MAX), z


def test_variance_check_catches_a_wrong_noise_scale(monkeypatch):
    """The check above must be able to fail: noise sqrt(h) instead of sqrt(2h) is caught."""

    def broken_move(position, drift, steps, noise, temperature=1.0):
        return jax.tree.map(
            lambda x, d, h, xi: x + h * d + jnp.sqrt(h * temperature) * xi,
            position,
            drift,
            steps,
            noise,
        )

    monkeypatch.setattr(_move, "langevin_move", broken_move)
    trace = _gaussian_run(jnp.asarray(STEP), key=1)
    z = var_z(trace.positions, np.zeros(3), ula_stationary_var(SIGMA, STEP))
    assert np.abs(z).max() > Z_MAX, z


def test_score_only_matches_logdensity_bit_for_bit():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.ones((4, 2))
    a = jl.run(jax.random.key(3), jl.ula(logp, step_size=0.1), x0, 50)
    b = jl.run(jax.random.key(3), jl.ula(score_fn=lambda x: -x, step_size=0.1), x0, 50)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert b.info.logdensity is None and b.final_state.logdensity is None


def test_from_energy():
    sampler = jl.ula(jl.from_energy(lambda x: 0.5 * jnp.sum(x**2)), step_size=0.1)
    state = sampler.init(jnp.ones(2))
    np.testing.assert_allclose(state.score, -np.ones(2))
    assert float(state.logdensity) == pytest.approx(-1.0)


@pytest.mark.parametrize("boundary", ["reflect", "clip"])
def test_bounds_keep_every_draw_inside(boundary):
    # A flat density on the box: huge steps cross the walls all the time.
    sampler = jl.ula(
        score_fn=lambda x: jnp.zeros_like(x),
        step_size=0.5,
        bounds=(-1.0, jnp.asarray([1.0, 3.0])),
        boundary=boundary,
    )
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((8, 2)), 500)
    x = np.asarray(trace.positions)
    assert x[..., 0].min() >= -1 and x[..., 0].max() <= 1
    assert x[..., 1].min() >= -1 and x[..., 1].max() <= 3
    if boundary == "reflect":
        # Reflection leaves the uniform law on the box invariant: mean is the centre.
        assert abs(x[..., 0].mean()) < 0.1 and abs(x[..., 1].mean() - 1.0) < 0.2


def test_reflection_folds_long_overshoots_exactly():
    x = jnp.asarray([1.5, -1.2, 3.7, -5.1, 0.3])
    out = _bounds.reflect(x, jnp.asarray(-1.0), jnp.asarray(1.0))
    np.testing.assert_allclose(out, [0.5, -0.8, -0.3, -0.9, 0.3], atol=1e-6)
    one_sided = _bounds.reflect(jnp.asarray([-0.5, 2.0]), jnp.asarray(0.0), jnp.asarray(jnp.inf))
    np.testing.assert_allclose(one_sided, [0.5, 2.0])


def test_divergence_is_reported_and_nothing_is_lost():
    # A quartic well with a step far too large: the chain blows up.
    logp = lambda x: -jnp.sum(x**4)  # noqa: E731
    sampler = jl.ula(logp, step_size=1.0)
    x0 = jnp.asarray([[0.1], [3.0], [0.2]])
    trace = jl.run(jax.random.key(0), sampler, x0, 20)
    assert trace.num_diverged_chains >= 1
    assert np.all(np.isfinite(np.asarray(trace.positions)))
    diverged = np.asarray(trace.info.diverged)
    # after a diverged step the chain keeps its last finite position
    c, d = np.argwhere(diverged)[0]
    if d > 0:
        np.testing.assert_array_equal(trace.positions[c, d], trace.positions[c, d - 1])


def test_score_clip_bounds_the_drift():
    state = ula.init(jnp.asarray([10.0, -10.0, 0.1]), score_fn=lambda x: -100 * x)
    steps = jnp.asarray(1e-3)
    # With zero noise the move is x + h * clip(score).
    new, _ = ula.step(
        jax.random.key(0), state, None, steps, score_fn=lambda x: -100 * x, score_clip=1.0
    )
    noise = normal_like(jax.random.key(0), state.position)
    expected = (
        state.position + 1e-3 * jnp.clip(-100 * state.position, -1, 1) + jnp.sqrt(2e-3) * noise
    )
    np.testing.assert_allclose(new.position, expected, rtol=1e-6)


def test_pytree_positions():
    logp = lambda p: -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 2) ** 2))  # noqa: E731
    sampler = jl.ula(logp, step_size={"a": 0.2, "b": 0.4})
    x0 = {"a": jnp.zeros((300, 2)), "b": jnp.zeros((300,))}
    trace = jl.run(jax.random.key(1), sampler, x0, 300, burnin=100)
    assert trace.positions["a"].shape == (300, 300, 2)
    assert trace.positions["b"].shape == (300, 300)
    z_a = var_z(trace.positions["a"], np.zeros(2), ula_stationary_var(np.ones(2), 0.2))
    z_b = var_z(trace.positions["b"], 0.0, ula_stationary_var(2.0, 0.4))
    assert np.all(np.abs(z_a) < Z_MAX) and abs(float(z_b)) < Z_MAX
