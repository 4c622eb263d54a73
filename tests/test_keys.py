"""The counter-based keys of `jlangevin.keys`: distinct, uniform, independent, reproducible.

Every statistical check is an exact test (each bit of a uniform word is a fair
coin, each of 256 bins of the top byte has probability 1/256, two independent
uniforms are uncorrelated) with a tolerance of `Z_MAX` standard errors, and a
broken scheme (one that ignores the chain index, or the step count) fails it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry_2x32

from jlangevin import keys
from jlangevin.kernels._move import draw

#: |z| above this fails (about 1 in 10^6 per test under the null; few tests here).
Z_MAX = 5.0
CHAINS, STEPS = 512, 64


def _grid_words(chain_keys_fn=keys.chain_keys, step_keys_fn=keys.step_keys, num_words=4):
    """Words ``(chains, steps, num_words)`` drawn by each chain at each step."""
    chains = chain_keys_fn(jax.random.key(7), jnp.arange(CHAINS))

    def at_step(t):
        step = step_keys_fn(chains, jnp.full((CHAINS,), t, jnp.int32))
        return jax.vmap(lambda k: jax.random.bits(k, (num_words,), jnp.uint32))(step)

    return np.asarray(jax.vmap(at_step, out_axes=1)(jnp.arange(STEPS)))


def _uniform(words):
    return (words.astype(np.float64) + 0.5) / 2.0**32


def _correlation_z(a, b):
    """z of the sample correlation of two samples of uniforms (sd ``1/sqrt(n)`` under the null)."""
    a, b = a.ravel() - 0.5, b.ravel() - 0.5
    return np.mean(a * b) / (1.0 / 12.0) * np.sqrt(a.size)


def _neighbour_z(words):
    """z-scores of neighbouring chains, neighbouring steps and the words within a step."""
    u = _uniform(words)
    return np.array(
        [
            _correlation_z(u[1:, :, 0], u[:-1, :, 0]),  # chain c and c + 1, same step
            _correlation_z(u[:, 1:, 0], u[:, :-1, 0]),  # step t and t + 1, same chain
            _correlation_z(u[..., 0], u[..., 1]),  # the two words of one block
            _correlation_z(u[..., 1], u[..., 2]),  # neighbouring blocks
        ]
    )


def test_a_step_key_draws_the_documented_threefry_blocks():
    """Step t of chain c draws block j = threefry((K0 + t, K1 + j)) under the key 0."""
    chains = keys.chain_keys(jax.random.key(1), jnp.arange(3))
    step = keys.step_keys(chains, jnp.array([0, 5, 2**31 - 1]))
    zero = (jnp.uint32(0), jnp.uint32(0))
    for key in step:
        k0, k1, t = (jnp.uint32(w) for w in jax.random.key_data(key))
        counters = jnp.concatenate([jnp.full(3, k0 + t), k1 + jnp.arange(3, dtype=jnp.uint32)])
        blocks = threefry_2x32(zero, counters)
        expected = jnp.stack([blocks[:3], blocks[3:]], axis=-1).reshape(-1)[:5]
        np.testing.assert_array_equal(jax.random.bits(key, (5,), jnp.uint32), expected)


def test_keys_differ_across_chains_and_steps():
    chains = keys.chain_keys(jax.random.key(3), jnp.arange(CHAINS))
    data = jax.vmap(
        lambda t: jax.random.key_data(keys.step_keys(chains, jnp.full((CHAINS,), t))),
        out_axes=1,
    )(jnp.arange(STEPS))
    flat = np.asarray(data).reshape(-1, 3)
    assert len({tuple(row) for row in flat}) == CHAINS * STEPS
    words = _grid_words().reshape(-1, 4)
    assert len({tuple(row) for row in words}) == CHAINS * STEPS


def test_the_words_are_uniform():
    words = _grid_words().ravel()
    n = words.size
    bits = (words[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    z_bits = (bits.sum(axis=0) - n / 2) / np.sqrt(n / 4)  # each bit a fair coin
    p = 1.0 / 256
    counts = np.bincount(words >> 24, minlength=256)
    z_bins = (counts - n * p) / np.sqrt(n * p * (1 - p))  # the top byte uniform on 256 bins
    assert np.abs(z_bits).max() < Z_MAX, z_bits
    assert np.abs(z_bins).max() < Z_MAX, z_bins


def test_neighbouring_chains_steps_and_words_are_independent():
    z = _neighbour_z(_grid_words())
    assert np.all(np.abs(z) < Z_MAX), z


def test_a_scheme_that_ignores_the_chain_index_fails(monkeypatch):
    """The companion: every chain gets chain 0's key, so neighbouring chains draw alike."""

    def same_for_all(key, chain_ids):
        return keys.chain_keys(key, jnp.zeros_like(jnp.asarray(chain_ids)))

    z = _neighbour_z(_grid_words(chain_keys_fn=same_for_all))
    assert np.abs(z[0]) > Z_MAX, z


def test_a_scheme_that_ignores_the_count_fails():
    """The companion: every step of a chain gets the chain key, so steps repeat."""
    z = _neighbour_z(_grid_words(step_keys_fn=lambda chains, counts: chains))
    assert np.abs(z[1]) > Z_MAX, z


def test_a_kernel_that_splits_gets_independent_streams():
    chains = keys.chain_keys(jax.random.key(5), jnp.arange(4096))
    step = keys.step_keys(chains, jnp.full((4096,), 3, jnp.int32))

    def words(key):
        a, b = jax.random.split(key)
        own = jax.random.bits(key, (), jnp.uint32)
        return jnp.stack([own, jax.random.bits(a, (), jnp.uint32), jax.random.bits(b, ())])

    u = _uniform(np.asarray(jax.vmap(words)(step)))
    z = [_correlation_z(u[:, i], u[:, j]) for i, j in ((0, 1), (0, 2), (1, 2))]
    assert np.all(np.abs(z) < Z_MAX), z
    folded = jax.vmap(lambda k: jax.random.key_data(jax.random.fold_in(k, 1)))(step)
    second = jax.vmap(lambda k: jax.random.key_data(jax.random.split(k)[1]))(step)
    np.testing.assert_array_equal(folded, second)  # fold_in(k, j) is split(k)[j], as in JAX


def test_a_chains_keys_do_not_depend_on_the_other_chains():
    """What sharded runs rely on: chain c's key is the same whoever else is in the chunk."""
    run_key = jax.random.key(11)
    every = jax.random.key_data(keys.chain_keys(run_key, jnp.arange(10)))
    some = jax.random.key_data(keys.chain_keys(run_key, jnp.array([7, 2])))
    np.testing.assert_array_equal(some, every[jnp.array([7, 2])])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16])
def test_draw_maps_words_as_jax_random_does(dtype):
    step = keys.step_keys(keys.chain_keys(jax.random.key(2), jnp.arange(3)), jnp.arange(3))
    for key in (step[1], jax.random.key(4)):
        noise, _ = draw(key, jnp.zeros((5, 2), dtype))
        np.testing.assert_array_equal(noise, jax.random.normal(key, (5, 2), dtype))
    _, u = draw(step[0], jnp.zeros(3), jnp.float32)
    words = jax.random.bits(step[0], (4,), jnp.uint32)
    assert np.float32(u) == _u32(words[3])  # the uniform takes the word after the noise's


def _u32(word):
    """``jax.random.uniform``'s map of one 32-bit word to a float32 in ``[0, 1)``."""
    bits = (np.uint32(word) >> np.uint32(9)) | np.float32(1.0).view(np.uint32)
    return np.asarray(bits, np.uint32).view(np.float32) - np.float32(1.0)


def test_draw_gives_standard_normals_and_uniforms():
    step = keys.step_keys(keys.chain_keys(jax.random.key(9), jnp.arange(20000)), jnp.arange(20000))
    noise, u = jax.vmap(lambda k: draw(k, jnp.zeros(3), jnp.float32))(step)
    x = np.asarray(noise, np.float64)
    n = x.size
    z = [np.mean(x) * np.sqrt(n), (np.mean(x**2) - 1) / np.sqrt(2 / n)]
    uu = np.asarray(u, np.float64)
    z.append((np.mean(uu) - 0.5) / np.sqrt(1 / 12 / uu.size))
    z.append(_correlation_z(uu, np.asarray(jax.scipy.stats.norm.cdf(noise[:, 2]), np.float64)))
    assert np.all(np.abs(z) < Z_MAX), z
