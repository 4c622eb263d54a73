"""Annealed Langevin on a Gaussian mixture whose noised score is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import logsumexp

import jlangevin as jl
from jlangevin.kernels import annealed

WEIGHTS = np.array([0.2, 0.8])
MEANS = np.array([-4.0, 4.0])
SCALES = np.array([0.5, 0.5])


def noised_logdensity(x, sigma):
    """log of the mixture convolved with N(0, sigma²): scales sqrt(s² + sigma²)."""
    var = SCALES**2 + sigma**2
    comp = -0.5 * jnp.log(2 * jnp.pi * var) - 0.5 * (x[0] - MEANS) ** 2 / var
    return logsumexp(jnp.log(WEIGHTS) + comp)


noised_score = jax.grad(noised_logdensity)


def test_closed_form_score_matches_noised_mixture_target():
    target = jl.targets.noised_mixture(WEIGHTS, MEANS[:, None], SCALES[:, None], 1.3)
    for x in (-5.0, -0.3, 2.0):
        point = jnp.array([x])
        np.testing.assert_allclose(noised_score(point, 1.3), target.score(point), rtol=1e-5)


def test_mode_weights_and_shapes_match_the_mixture():
    n = 2000
    sigmas = np.geomspace(10.0, 0.05, 12)
    sampler = jl.annealed_langevin(noised_score, sigmas, 0.1 * 0.05**2, 800)
    start = 10.0 * jax.random.normal(jax.random.key(0), (n, 1))
    samples, info = sampler(jax.random.key(1), start)
    x = np.asarray(samples, float)[:, 0]
    right = x > 0
    # Particles are independent: the weight's MCSE is binomial.
    weight = right.mean()
    assert abs(weight - WEIGHTS[1]) < 4 * np.sqrt(WEIGHTS[0] * WEIGHTS[1] / n), weight
    for k, mask in enumerate((~right, right)):
        m = mask.sum()
        assert abs(x[mask].mean() - MEANS[k]) < 4 * SCALES[k] / np.sqrt(m)
        # Sample variance MCSE ≈ var sqrt(2 / m) for a Gaussian mode.
        assert abs(x[mask].var() / SCALES[k] ** 2 - 1) < 4 * np.sqrt(2 / m)
    np.testing.assert_allclose(info.step_size, 0.1 * 0.05**2 * sigmas**2 / 0.05**2, rtol=1e-5)
    np.testing.assert_allclose(info.sigma, sigmas, rtol=1e-6)
    assert info.score_norm.shape == (12,) and np.all(np.asarray(info.diverged) == 0)


def test_denoise_is_one_tweedie_step_and_runs_are_reproducible():
    score = lambda x, s: -x / (1.0 + s**2)  # noqa: E731  data N(0, 1)
    sigmas = jnp.array([2.0, 0.5])
    start = jnp.ones((5, 3))
    raw, _ = annealed.sample(jax.random.key(3), start, score, sigmas, 0.01, 10, denoise=False)
    den, _ = annealed.sample(jax.random.key(3), start, score, sigmas, 0.01, 10, denoise=True)
    np.testing.assert_allclose(den, raw + 0.25 * score(raw, 0.5), rtol=1e-6)
    again, _ = annealed.sample(jax.random.key(3), start, score, sigmas, 0.01, 10, denoise=True)
    np.testing.assert_array_equal(den, again)


def test_pytree_particles_and_divergence_count():
    def score(p, s):
        return {"a": -p["a"] / (1.0 + s**2), "b": jnp.where(p["b"] > 1e3, jnp.nan, -p["b"])}

    sampler = jl.annealed_langevin(score, [1.0, 0.1], 0.005, 5)
    positions = {"a": jnp.zeros((3, 2)), "b": jnp.array([[0.0], [0.0], [1e4]])}
    out, info = sampler(jax.random.key(0), positions)
    assert out["a"].shape == (3, 2) and out["b"].shape == (3, 1)
    assert int(info.diverged[0]) == 5  # particle 2 never moves: one rejected move per step
    assert np.all(np.isfinite(np.asarray(out["a"])))


def test_bad_input():
    score = lambda x, s: -x  # noqa: E731
    with pytest.raises(ValueError, match="sigmas"):
        jl.annealed_langevin(score, [1.0, 2.0], 0.01, 10)
    with pytest.raises(ValueError, match="sigmas"):
        jl.annealed_langevin(score, [1.0, 0.0], 0.01, 10)
    with pytest.raises(ValueError, match="sigmas"):
        jl.annealed_langevin(score, [[1.0]], 0.01, 10)
    with pytest.raises(ValueError, match="step_scale"):
        jl.annealed_langevin(score, [1.0, 0.5], -0.01, 10)
    with pytest.raises(ValueError, match="steps_per_level"):
        jl.annealed_langevin(score, [1.0, 0.5], 0.01, 0)
    with pytest.raises(TypeError, match="score_fn"):
        jl.annealed_langevin(None, [1.0, 0.5], 0.01, 10)
    with pytest.raises(ValueError, match="positions"):
        jl.annealed_langevin(score, [1.0, 0.5], 0.01, 10)(jax.random.key(0), jnp.zeros(()))


# ------------------------------------------------------------------------------------
# numpy / JAX scalars are numbers, the ladder may be a list or an array, and both the
# ladder and the step scale may be traced
# ------------------------------------------------------------------------------------
SCORE = lambda x, s: -x / (1.0 + s**2)  # noqa: E731  data N(0, 1)
START = jnp.linspace(-2.0, 2.0, 6).reshape(3, 2)


def _draws(sigmas=(1.0, 0.5), step_scale=2e-5, steps=4):
    return jl.annealed_langevin(SCORE, sigmas, step_scale, steps)(jax.random.key(5), START)[0]


def test_numpy_and_jax_scalar_step_scale_give_the_same_draws_as_the_python_float():
    reference = _draws(step_scale=2e-5)
    for scale in (jnp.float32(2e-5), np.float64(2e-5)):
        np.testing.assert_array_equal(_draws(step_scale=scale), reference)
    assert not np.array_equal(_draws(step_scale=4e-5), reference)  # the check can fail


def test_ladder_as_list_or_array():
    reference = _draws(sigmas=[1.0, 0.5])
    np.testing.assert_array_equal(_draws(sigmas=jnp.array([1.0, 0.5])), reference)
    np.testing.assert_array_equal(_draws(sigmas=[jnp.float32(1.0), np.float64(0.5)]), reference)


def test_traced_step_scale_and_ladder_under_jit_and_vmap():
    reference = _draws(step_scale=0.01)
    np.testing.assert_allclose(jax.jit(lambda h: _draws(step_scale=h))(0.01), reference)
    np.testing.assert_allclose(
        jax.jit(lambda s: _draws(sigmas=s, step_scale=0.01))(jnp.array([1.0, 0.5])), reference
    )
    np.testing.assert_allclose(
        jax.jit(lambda top: _draws(sigmas=[top, 0.5], step_scale=0.01))(1.0), reference
    )
    batched = jax.vmap(lambda h: _draws(step_scale=h))(jnp.array([0.01, 0.02]))
    np.testing.assert_allclose(batched[0], reference, rtol=1e-6)  # vmapped: a few ulp
    np.testing.assert_allclose(batched[1], _draws(step_scale=0.02), rtol=1e-6)


def test_traced_bad_shapes_are_still_refused():
    with pytest.raises(TypeError, match="step_scale"):
        jax.jit(lambda h: _draws(step_scale=h))(jnp.ones(2))
    with pytest.raises(ValueError, match="sigmas"):
        jax.jit(lambda s: _draws(sigmas=s))(jnp.ones((2, 2)))
    with pytest.raises(TypeError, match="steps_per_level"):
        jax.jit(lambda n: _draws(steps=n))(3)
