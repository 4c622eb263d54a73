"""ULA for energy models: ``temperature`` and ``order="noise_first"`` (the EBM sampling loop).

The noise-first order must reproduce the EBM texts' loop formula for formula
(noise, clip, gradient at the noised point, clipped gradient step, clip), given
the same noise draws; and on a Gaussian its stationary variance must be the
closed form of its AR(1) recursion, which the default order misses (the check
rejects it).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, var_z

import jlangevin as jl
from jlangevin.kernels import ula
from jlangevin.keys import step_keys
from jlangevin.run import chain_keys_for

SIGMA = np.array([1.0, 2.0, 0.5])
STEP = np.array([0.5, 0.8, 0.05])  # a = 1 - h / sigma^2 = 0.5, 0.8, 0.8: the orders differ


def gradient_first_var(sigma, h, temperature=1.0):
    """Default order on N(0, sigma^2): x' = a x + sqrt(2 h T) xi, variance 2hT / (1 - a^2)."""
    a = 1 - h / sigma**2
    return 2 * h * temperature / (1 - a**2)


def noise_first_var(sigma, h, noise_sd):
    """Noise first on N(0, sigma^2): x' = a (x + s xi), an AR(1) with variance a^2 s^2 / (1 - a^2).

    With ``s^2 = 2 h T`` that is ``a^2`` times the default order's variance.
    """
    a = 1 - h / sigma**2
    return a**2 * noise_sd**2 / (1 - a**2)


def _gaussian_run(seed=0, num_chains=500, num_steps=400, **settings):
    logp = lambda x: -0.5 * jnp.sum((x / SIGMA) ** 2)  # noqa: E731
    sampler = jl.ula(logp, step_size=jnp.asarray(STEP), **settings)
    x0 = jnp.asarray(np.random.default_rng(seed).normal(size=(num_chains, 3)) * 0.5, jnp.float32)
    return jl.run(jax.random.key(seed), sampler, x0, num_steps, burnin=100)


# --- the reference loop ------------------------------------------------------------------


def energy(x):
    """A per-image energy whose gradient is clipped at 0.03 in some pixels and not in others."""
    target = jnp.linspace(-1.6, 1.6, x.size).reshape(x.shape)
    return 0.01 * jnp.sum((x - target) ** 2) + 0.005 * jnp.sum(jnp.cos(3.0 * x))


def reference_loop(images, keys, step_size, noise, clip, num_steps, energy_fn=energy):
    """The EBM texts' sampler, in plain JAX on a batch (``keys[t]``: one key per image).

    ``step_size`` may be a schedule ``t -> h``. Returns the images after each step.
    """
    grad_fn = jax.jit(jax.grad(lambda xs: jnp.sum(jax.vmap(energy_fn)(xs))))
    shape, dtype = images.shape[1:], images.dtype
    out = []
    for t in range(num_steps):
        h = step_size(jnp.asarray(t, jnp.int32)) if callable(step_size) else step_size
        xi = jax.vmap(lambda k: jax.random.normal(k, shape, dtype))(keys[t])
        images = images + noise * xi
        images = jnp.clip(images, -1.0, 1.0)
        grads = grad_fn(images)
        grads = jnp.clip(grads, -clip, clip)
        images = images - h * grads
        images = jnp.clip(images, -1.0, 1.0)
        out.append(images)
    return jnp.stack(out, axis=1)


def _run_keys(key, num_chains, num_steps):
    chains = chain_keys_for(key, num_chains)
    return [step_keys(chains, jnp.full(num_chains, t, jnp.int32)) for t in range(num_steps)]


def _ebm_sampler(step_size=10.0, **settings):
    settings = {"noise_scale": 0.005, "score_clip": 0.03, **settings}
    return jl.ula(
        jl.from_energy(energy),
        step_size=step_size,
        order="noise_first",
        bounds=(-1.0, 1.0),
        boundary="clip",
        **settings,
    )


START = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, size=(16, 8, 8)), jnp.float32)


REFERENCE_KEY, REFERENCE_STEPS = jax.random.key(7), 30


@pytest.fixture(scope="module")
def reference_draws():
    keys = _run_keys(REFERENCE_KEY, START.shape[0], REFERENCE_STEPS)
    return reference_loop(START, keys, 10.0, 0.005, 0.03, REFERENCE_STEPS)


@pytest.mark.long
def test_noise_first_is_the_reference_ebm_loop(reference_draws):
    trace = jl.run(REFERENCE_KEY, _ebm_sampler(), START, REFERENCE_STEPS)
    expected = reference_draws
    # Same formulas, same draws: equal up to float rounding (XLA may fuse differently).
    np.testing.assert_allclose(trace.positions, expected, rtol=0, atol=2e-6)
    # Both clips were active: some gradients clipped at the start, some pixels at the walls.
    grads = jax.vmap(jax.grad(energy))(START)
    assert 0.05 < float(jnp.mean(jnp.abs(grads) > 0.03)) < 0.95
    assert 0.05 < float(jnp.mean(jnp.abs(expected[:, -1]) == 1.0)) < 0.95


@pytest.mark.slow
def test_noise_first_with_a_schedule_is_the_reference_ebm_loop():
    key, num_steps, schedule = jax.random.key(8), 20, lambda t: 10.0 / (1.0 + 0.1 * t)
    trace = jl.run(key, _ebm_sampler(schedule), START, num_steps)
    keys = _run_keys(key, START.shape[0], num_steps)
    expected = reference_loop(START, keys, schedule, 0.005, 0.03, num_steps)
    np.testing.assert_allclose(trace.positions, expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(trace.info.step_size[0], 10.0 / (1.0 + 0.1 * np.arange(20)))


def test_reference_check_catches_the_gradient_first_order(reference_draws):
    """Companion: the default order (gradient, then noise) is not the reference loop."""
    wrong = jl.ula(
        jl.from_energy(energy),
        step_size=10.0,
        temperature=0.005**2 / 20.0,  # the same noise level, sqrt(2 h T) = 0.005
        score_clip=0.03,
        bounds=(-1.0, 1.0),
        boundary="clip",
    )
    trace = jl.run(REFERENCE_KEY, wrong, START, REFERENCE_STEPS)
    assert float(jnp.max(jnp.abs(trace.positions - reference_draws))) > 1e-3


@pytest.mark.slow
def test_noise_sd_defaults_to_sqrt_2hT():
    """Without ``noise_scale`` the noise-first noise is sqrt(2 h T): equal to passing it."""
    key, temperature = jax.random.key(3), 2.5e-7
    a = jl.run(key, _ebm_sampler(noise_scale=None, temperature=temperature), START, 10)
    b = jl.run(key, _ebm_sampler(noise_scale=float(np.sqrt(2 * 10.0 * temperature))), START, 10)
    np.testing.assert_allclose(a.positions, b.positions, rtol=0, atol=1e-6)


@pytest.mark.long
def test_noise_first_chunked_and_resumed_runs_are_bit_identical():
    key, sampler = jax.random.key(5), _ebm_sampler()
    whole = jl.run(key, sampler, START, 20)
    chunked = jl.run(key, sampler, START, 20, chunk_size=10)
    first = jl.run(key, sampler, START, 10)
    resumed = jl.run(key, sampler, first, 10)
    np.testing.assert_array_equal(whole.positions, chunked.positions)
    np.testing.assert_array_equal(whole.positions[:, 10:], resumed.positions)
    np.testing.assert_array_equal(whole.final_state.score, resumed.final_state.score)


def test_noise_first_state_carries_the_score_at_the_noised_point():
    state = ula.init(jnp.zeros(3), score_fn=lambda x: -x)
    key = jax.random.key(0)
    new, info = ula.step(key, state, None, 0.1, score_fn=lambda x: -x, order="noise_first")
    xi = jax.random.normal(key, (3,))
    shaken = jnp.sqrt(2 * 0.1) * xi
    np.testing.assert_allclose(new.score, -shaken, rtol=1e-6)
    np.testing.assert_allclose(new.position, shaken - 0.1 * shaken, rtol=1e-6)
    assert int(new.count) == 1 and not bool(info.diverged)


@pytest.mark.slow
def test_noise_first_divergence_keeps_the_last_finite_state():
    logp = lambda x: -jnp.sum(x**4)  # noqa: E731
    sampler = jl.ula(logp, step_size=1.0, order="noise_first", noise_scale=0.5)
    with pytest.warns(jl.SamplingWarning):
        trace = jl.run(jax.random.key(0), sampler, jnp.asarray([[3.0], [4.0]]), 10)
    assert trace.num_diverged_chains >= 1
    assert np.all(np.isfinite(np.asarray(trace.positions)))


# --- the stationary law on a Gaussian ----------------------------------------------------


def test_noise_first_stationary_variance_is_the_ar1_closed_form():
    trace = _gaussian_run(order="noise_first")
    exact = noise_first_var(SIGMA, STEP, np.sqrt(2 * STEP))
    z = var_z(trace.positions, np.zeros(3), exact)
    assert np.all(np.abs(z) < Z_MAX), z


def test_noise_first_variance_check_catches_the_gradient_first_order():
    """Companion: the default order's variance is 1 / a^2 (4x, 1.56x) the noise-first one."""
    trace = _gaussian_run(seed=1)
    z = var_z(trace.positions, np.zeros(3), noise_first_var(SIGMA, STEP, np.sqrt(2 * STEP)))
    assert np.abs(z[:2]).min() > Z_MAX, z


@pytest.mark.slow
def test_noise_first_with_a_noise_scale_and_a_pytree():
    """A per-leaf noise scale on a pytree position: each leaf has its AR(1) variance."""
    sigma_a, sigma_b, h = np.array([1.0, 1.5]), 2.0, {"a": 0.5, "b": 1.6}
    logp = lambda p: -0.5 * (jnp.sum((p["a"] / sigma_a) ** 2) + (p["b"] / sigma_b) ** 2)  # noqa: E731
    noise = {"a": jnp.asarray([0.3, 0.1]), "b": 1.0}
    sampler = jl.ula(logp, step_size=h, order="noise_first", noise_scale=noise)
    x0 = {"a": jnp.zeros((400, 2)), "b": jnp.zeros(400)}
    trace = jl.run(jax.random.key(2), sampler, x0, 400, burnin=100)
    var_a = noise_first_var(sigma_a, h["a"], np.asarray(noise["a"]))
    var_b = noise_first_var(sigma_b, h["b"], 1.0)
    z_a = var_z(trace.positions["a"], np.zeros(2), var_a)
    z_b = var_z(trace.positions["b"], 0.0, var_b)
    assert np.all(np.abs(z_a) < Z_MAX) and abs(float(z_b)) < Z_MAX, (z_a, z_b)
    # Companion: the noise scale ignored (sqrt(2h) used) is rejected by the same check.
    z_wrong = var_z(trace.positions["a"], np.zeros(2), noise_first_var(sigma_a, 0.5, 1.0))
    assert np.abs(z_wrong).min() > Z_MAX, z_wrong


@pytest.mark.slow
def test_temperature_scales_the_gradient_first_variance():
    trace = _gaussian_run(temperature=0.25)
    z = var_z(trace.positions, np.zeros(3), gradient_first_var(SIGMA, STEP, 0.25))
    assert np.all(np.abs(z) < Z_MAX), z
    # Companion: the same check rejects a chain run at T = 1 (temperature ignored).
    hot = _gaussian_run(seed=1)
    z_hot = var_z(hot.positions, np.zeros(3), gradient_first_var(SIGMA, STEP, 0.25))
    assert np.abs(z_hot).min() > Z_MAX, z_hot


@pytest.mark.slow
def test_temperature_one_is_the_plain_ula_bit_for_bit():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.ones((4, 2))
    a = jl.run(jax.random.key(3), jl.ula(logp, step_size=0.1), x0, 30)
    b = jl.run(jax.random.key(3), jl.ula(logp, step_size=0.1, temperature=np.float32(1)), x0, 30)
    np.testing.assert_array_equal(a.positions, b.positions)


# --- dtypes, bounds ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("order", ula.ORDERS)
def test_both_orders_keep_float64(order):
    with jax.enable_x64(True):
        sampler = jl.ula(
            jl.from_energy(energy),
            step_size=lambda t: 1.0 / (1.0 + t),
            temperature=jnp.float64(0.5),
            order=order,
            score_clip=0.5,
            bounds=(-1.0, 1.0),
            boundary="reflect",
        )
        x0 = jnp.zeros((3, 4, 4), jnp.float64)
        trace = jl.run(jax.random.key(0), sampler, x0, 20)
    assert trace.positions.dtype == jnp.float64
    assert trace.final_state.score.dtype == jnp.float64
    assert trace.info.step_size.dtype == jnp.float64
    x = np.asarray(trace.positions)
    assert x.min() >= -1.0 and x.max() <= 1.0 and len(np.unique(x)) > 100


@pytest.mark.slow
def test_noise_first_float64_matches_the_reference_loop():
    """In float64 too, and the state, info and draws stay float64."""
    with jax.enable_x64(True):
        start = jnp.asarray(START, jnp.float64)
        key = jax.random.key(11)
        trace = jl.run(key, _ebm_sampler(), start, 15)
        expected = reference_loop(start, _run_keys(key, 16, 15), 10.0, 0.005, 0.03, 15)
    assert trace.positions.dtype == jnp.float64
    assert trace.final_state.score.dtype == jnp.float64
    assert trace.info.step_size.dtype == jnp.float64
    np.testing.assert_allclose(trace.positions, expected, rtol=0, atol=1e-12)
