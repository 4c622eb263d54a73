"""Pytree helpers and the accept step the kernels share (``_tree``, ``_metropolis``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jlangevin.kernels import _tree as tree_ops
from jlangevin.kernels._metropolis import log_uniform, metropolis_hastings


@pytest.mark.parametrize(
    "bad", [("a", 0), ("b", 1), ("c", 0), ("c", 2)], ids=["a0", "b1", "c0", "c2"]
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_tree_all_finite_finds_any_bad_element_in_leaves_of_mixed_shapes(bad, value):
    tree = {"a": jnp.ones(3), "b": jnp.ones(3), "c": jnp.ones((2, 2))}
    assert bool(tree_ops.tree_all_finite(tree))
    name, index = bad
    tree[name] = tree[name].reshape(-1).at[index].set(value).reshape(tree[name].shape)
    assert not bool(tree_ops.tree_all_finite(tree))
    assert not bool(jax.jit(tree_ops.tree_all_finite)(tree))


def test_tree_all_finite_of_an_empty_tree_is_true():
    assert bool(tree_ops.tree_all_finite({}))


def test_tree_all_finite_ignores_integer_leaves():
    assert bool(tree_ops.tree_all_finite({"x": jnp.ones(2), "count": jnp.int32(3)}))


def test_normal_like_is_jax_random_normal_per_leaf():
    key = jax.random.key(7)
    one = tree_ops.normal_like(key, jnp.zeros((3, 2)))
    np.testing.assert_array_equal(one, jax.random.normal(key, (3, 2)))
    tree = {"a": jnp.zeros(2, jnp.float16), "b": jnp.zeros((4,))}
    noise = tree_ops.normal_like(key, tree)
    ka, kb = jax.random.split(key)
    np.testing.assert_array_equal(noise["a"], jax.random.normal(ka, (2,), jnp.float16))
    np.testing.assert_array_equal(noise["b"], jax.random.normal(kb, (4,)))


def test_metropolis_hastings_rejects_non_finite_ratios():
    current, proposal = jnp.zeros(2), jnp.ones(2)
    for bad in (jnp.nan, jnp.inf, -jnp.inf):
        state, acc = metropolis_hastings(jnp.float32(-50.0), jnp.float32(bad), proposal, current)
        np.testing.assert_array_equal(state, current)
        assert not acc.is_accepted and float(acc.acceptance_rate) == 0.0
    state, acc = metropolis_hastings(jnp.float32(-0.1), jnp.float32(0.3), proposal, current)
    np.testing.assert_array_equal(state, proposal)
    assert float(acc.acceptance_rate) == 1.0


def test_log_uniform_is_never_minus_infinity_and_uniform():
    keys = jax.random.split(jax.random.key(0), 20_000)
    u = np.exp(np.asarray(jax.vmap(log_uniform)(keys)))
    assert np.all(u > 0) and np.all(u <= 1)
    # The mean of U(0, 1] is 1/2, its standard error sqrt(1/12 / n).
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / u.size)
