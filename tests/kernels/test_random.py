"""A step's random numbers: distribution, independence, reproducibility, every key kind."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32
from scipy import stats

import jlangevin as jl
from jlangevin.kernels import _random
from jlangevin.kernels._random import draw
from jlangevin.run import chain_keys_for

LEVEL = 0.01


def _noise_over_steps(key, num_steps, dim, **kwargs):
    counts = jnp.arange(num_steps, dtype=jnp.int32)
    return jax.vmap(lambda t: draw(key, t, jnp.zeros(dim), **kwargs))(counts)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_normals_and_uniforms_have_the_right_law(impl):
    d = _noise_over_steps(jax.random.key(0, impl=impl), 20_000, 3, log_uniform=True)
    z = np.asarray(d.noise).ravel()
    assert stats.kstest(z, "norm").pvalue > LEVEL
    u = np.exp(np.asarray(d.log_uniform, np.float64))
    assert np.all((u > 0) & (u <= 1))
    assert stats.kstest(u, "uniform").pvalue > LEVEL


def test_successive_steps_and_chains_are_uncorrelated():
    n = 20_000
    noise = np.asarray(_noise_over_steps(jax.random.key(1), n, 2).noise)
    bound = 4 / np.sqrt(n)  # |r| of independent draws exceeds this with probability ~6e-5
    assert abs(np.corrcoef(noise[:-1, 0], noise[1:, 0])[0, 1]) < bound  # count t vs t + 1
    assert abs(np.corrcoef(noise[:, 0], noise[:, 1])[0, 1]) < bound  # coordinates
    keys = chain_keys_for(jax.random.key(1), n)
    per_chain = np.asarray(jax.vmap(lambda k: draw(k, jnp.int32(0), jnp.zeros(1)).noise)(keys))
    assert abs(np.corrcoef(per_chain[:-1, 0], per_chain[1:, 0])[0, 1]) < bound  # chain c vs c + 1


def test_a_correlated_generator_fails_the_independence_check(monkeypatch):
    """The check above can fail: reusing the numbers of every other step is caught."""
    words = _random._words
    monkeypatch.setattr(_random, "_words", lambda k, c, n, s: words(k, c // 2, n, s))
    noise = np.asarray(_noise_over_steps(jax.random.key(1), 20_000, 1).noise)
    assert abs(np.corrcoef(noise[:-1, 0], noise[1:, 0])[0, 1]) > 4 / np.sqrt(20_000)


def test_threefry_is_jax_threefry_bit_for_bit():
    """The written-out hash is JAX's primitive: random keys and counters, odd and even sizes."""
    rng = np.random.default_rng(0)
    for size in (1, 2, 7, 1000):
        key = rng.integers(0, 2**32, 2, dtype=np.uint32)
        counters = rng.integers(0, 2**32, 2 * size, dtype=np.uint32)
        high, low = jax.jit(_random.threefry2x32)(key[0], key[1], counters[:size], counters[size:])
        np.testing.assert_array_equal(np.concatenate([high, low]), threefry_2x32(key, counters))
    keys = rng.integers(0, 2**32, (500, 2), dtype=np.uint32)  # one key per chain, as jl.run has
    counters = rng.integers(0, 2**32, (500, 2), dtype=np.uint32)
    high, low = _random.threefry2x32(keys[:, :1], keys[:, 1:], counters[:, :1], counters[:, 1:])
    expected = jax.vmap(threefry_2x32)(keys, counters)
    np.testing.assert_array_equal(np.concatenate([high, low], axis=1), expected)


def test_a_step_draws_the_words_of_its_counters():
    """Word ``i`` of step ``count``: JAX's threefry of ``(count, i)``, its halves xor-ed."""
    key, num_words = jax.random.key(6), 6  # five normals and a uniform
    for count in (0, 11):
        counters = jnp.concatenate(
            [jnp.full(num_words, count, jnp.uint32), jnp.arange(num_words, dtype=jnp.uint32)]
        )
        halves = threefry_2x32(jax.random.key_data(key), counters)
        words = halves[:num_words] ^ halves[num_words:]
        d = draw(key, jnp.int32(count), jnp.zeros(5), log_uniform=True)
        np.testing.assert_array_equal(
            d.noise, _random._normal(_random._unit_interval(words[:5], 1))
        )
        unit = _random._unit_interval(words[5:], 1)[0]
        np.testing.assert_array_equal(d.log_uniform, jnp.log1p(-unit))
    if jax.config.jax_threefry_partitionable:  # JAX's default: then count 0 is jax.random itself
        d = draw(key, jnp.int32(0), jnp.zeros(5))
        np.testing.assert_array_equal(d.noise, jax.random.normal(key, (5,)))


def test_numbers_are_made_from_words_exactly_as_jax_random_makes_them():
    key = jax.random.key(3)
    words = jax.random.bits(key, (1000,), jnp.uint32)
    unit = _random._unit_interval(words, 1)
    np.testing.assert_array_equal(_random._normal(unit), jax.random.normal(key, (1000,)))
    np.testing.assert_array_equal(unit, jax.random.uniform(key, (1000,)))


def test_same_key_and_count_reproduce_and_a_new_count_refreshes():
    key, x = jax.random.key(4), {"a": jnp.zeros((2, 3)), "b": jnp.zeros(())}
    a = draw(key, jnp.int32(7), x, log_uniform=True, subkey=True)
    b = draw(key, jnp.int32(7), x, log_uniform=True, subkey=True)
    c = draw(key, jnp.int32(8), x, log_uniform=True, subkey=True)
    for name in ("a", "b"):
        np.testing.assert_array_equal(a.noise[name], b.noise[name])
    assert a.log_uniform == b.log_uniform
    np.testing.assert_array_equal(jax.random.key_data(a.key), jax.random.key_data(b.key))
    assert not np.any(np.asarray(a.noise["a"]) == np.asarray(c.noise["a"]))
    assert a.log_uniform != c.log_uniform
    assert not np.array_equal(jax.random.key_data(a.key), jax.random.key_data(c.key))


def test_subkey_is_independent_of_the_noise():
    d = _noise_over_steps(jax.random.key(5), 20_000, 1, subkey=True)
    from_key = np.asarray(jax.vmap(lambda k: jax.random.normal(k))(d.key))
    noise = np.asarray(d.noise)[:, 0]
    assert abs(np.corrcoef(noise, from_key)[0, 1]) < 4 / np.sqrt(20_000)
    assert stats.kstest(from_key, "norm").pvalue > LEVEL


def test_pytree_shapes_and_dtypes_are_kept():
    x = {"w": jnp.zeros((4, 5), jnp.bfloat16), "b": jnp.zeros(3, jnp.float16), "s": jnp.zeros(())}
    d = draw(jax.random.key(6), jnp.int32(0), x)
    assert jax.tree.map(lambda a: (a.shape, a.dtype), d.noise) == jax.tree.map(
        lambda a: (a.shape, a.dtype), x
    )
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(d.noise))


def test_legacy_uint32_keys_draw_like_their_typed_form():
    a = draw(jax.random.PRNGKey(7), jnp.int32(2), jnp.zeros(4)).noise
    b = draw(jax.random.key(7), jnp.int32(2), jnp.zeros(4)).noise
    np.testing.assert_array_equal(a, b)


def test_float64_values_use_two_words_and_keep_their_law():
    with jax.enable_x64(True):
        counts = jnp.arange(20_000, dtype=jnp.int32)
        d = jax.vmap(
            lambda t: draw(jax.random.key(8), t, jnp.zeros(2, jnp.float64), log_uniform=True)
        )(counts)
        assert d.noise.dtype == jnp.float64 and d.log_uniform.dtype == jnp.float64
        assert stats.kstest(np.asarray(d.noise).ravel(), "norm").pvalue > LEVEL
        # 52 random mantissa bits: far more distinct values than float32's 23 allow.
        assert np.unique(np.asarray(d.noise)).size == d.noise.size


def test_run_accepts_other_key_implementations():
    sampler = jl.ula(lambda x: -0.5 * jnp.sum(x**2), step_size=0.1)
    trace = jl.run(jax.random.key(9, impl="rbg"), sampler, jnp.zeros((3, 2)), 50)
    assert trace.positions.shape == (3, 50, 2)
    assert not np.array_equal(trace.positions[0], trace.positions[1])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 12, 13, 100])
def test_stored_words_are_the_fused_words(size, monkeypatch):
    """Where draw() stores its words first (a loop on CPU), the numbers do not change."""
    keys = chain_keys_for(jax.random.key(2), 16)
    counts = jnp.arange(16, dtype=jnp.int32) * 7

    def draws(k, c):
        d = draw(k, c, jnp.zeros(size), log_uniform=True, subkey=True)
        return d.noise, d.log_uniform, jax.random.key_data(d.key)

    stored = jax.jit(jax.vmap(draws))(keys, counts)
    looped = "while" in str(jax.make_jaxpr(jax.vmap(draws))(keys, counts))
    assert looped == (_random.STORED_WORDS[0] <= size <= _random.STORED_WORDS[1])
    monkeypatch.setattr(_random, "_stored", lambda compute, count: compute())
    fused = jax.jit(jax.vmap(lambda k, c: draws(k, c)))(keys, counts)
    for a, b in zip(stored, fused, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_step_with_stored_words_can_be_differentiated():
    """The loop that stores the words takes no float input: reverse mode passes over it."""
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    sampler = jl.ula(logp, step_size=0.1)

    def moved_norm(x0):
        state, _ = sampler.step(jax.random.key(0), sampler.init(x0))
        return jnp.sum(state.position**2)

    x0 = jnp.ones(3)  # 3 words: stored
    noise = draw(jax.random.key(0), jnp.int32(0), x0).noise
    expected = 2 * (0.9 * x0 + jnp.sqrt(0.2) * noise) * 0.9  # d/dx0 of |x0 - 0.1 x0 + ...|^2
    np.testing.assert_allclose(jax.grad(moved_norm)(x0), expected, rtol=1e-5)
