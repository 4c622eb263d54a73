"""The shared machinery of the Langevin kernels (``jlangevin.kernels._langevin``)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jlangevin.kernels import _langevin as lg

SPECIALS = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 3.4e38]


def _bits(x):
    return np.asarray(jax.lax.bitcast_convert_type(x, {2: jnp.uint16, 4: jnp.uint32}[x.itemsize]))


BARRIER = pytest.mark.parametrize("barrier", [False, True], ids=["divide", "barrier"])


@BARRIER
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_materialize_is_the_identity_bit_for_bit(dtype, barrier):
    tiniest = float(jnp.finfo(dtype).smallest_subnormal)
    x = jnp.asarray([*SPECIALS, 3 * tiniest, -tiniest], dtype)
    subnormal = np.arange(x.size) >= len(SPECIALS)
    fn = functools.partial(lg.materialize, barrier=barrier)
    for out in (fn(x), jax.jit(fn)(x), jax.vmap(fn)(x)):
        assert out.dtype == x.dtype
        np.testing.assert_array_equal(_bits(out)[~subnormal], _bits(x)[~subnormal])
        # XLA on CPU may flush subnormals to zero in any arithmetic (x * 1 included):
        # then a signed zero, else the value itself.
        flushed = jnp.where(jnp.signbit(x), -0.0, 0.0).astype(dtype)
        kept = (_bits(out) == _bits(x)) | (_bits(out) == _bits(flushed))
        assert kept[subnormal].all()


@BARRIER
def test_materialize_keeps_structure_and_passes_non_float_leaves(barrier):
    tree = {"x": jnp.arange(3.0), "n": jnp.arange(3), "none": None, "flag": jnp.array(True)}
    out = lg.materialize(tree, barrier=barrier)
    assert jax.tree.structure(out) == jax.tree.structure(tree)
    assert out["n"] is tree["n"] and out["flag"] is tree["flag"]
    np.testing.assert_array_equal(out["x"], tree["x"])


@BARRIER
def test_materialize_gradient_is_the_identity(barrier):
    grad = jax.grad(lambda x: jnp.sum(lg.materialize(x, barrier=barrier) ** 2))(
        jnp.array([1.0, -2.0])
    )
    np.testing.assert_allclose(grad, [2.0, -4.0])


@pytest.mark.parametrize(
    "bad", [("a", 0), ("b", 1), ("c", 0), ("c", 2)], ids=["a0", "b1", "c0", "c2"]
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_tree_all_finite_finds_any_bad_element_in_leaves_of_mixed_shapes(bad, value):
    tree = {"a": jnp.ones(3), "b": jnp.ones(3), "c": jnp.ones((2, 2))}
    assert bool(lg.tree_all_finite(tree))
    name, index = bad
    tree[name] = tree[name].reshape(-1).at[index].set(value).reshape(tree[name].shape)
    assert not bool(lg.tree_all_finite(tree))
    assert not bool(jax.jit(lg.tree_all_finite)(tree))


def test_tree_all_finite_of_an_empty_tree_is_true():
    assert bool(lg.tree_all_finite({}))


def test_poison_is_the_identity_on_finite_inputs_and_nan_elsewhere():
    moved = {"a": jnp.asarray([1.0, -0.0, 2.0, 4.0]), "b": jnp.asarray([[3.0]])}
    position = {"a": jnp.asarray([0.0, 1.0, jnp.inf, 1.0]), "b": jnp.asarray([[1.0]])}
    score = {"a": jnp.asarray([jnp.nan, 1.0, 1.0, 1.0]), "b": jnp.asarray([[-1.0]])}
    out = jax.tree.map(np.asarray, lg.poison(moved, [position, score]))
    assert np.isnan(out["a"][[0, 2]]).all()
    # Where everything is finite the move passes unchanged, bit for bit (-0.0 included).
    np.testing.assert_array_equal(_bits(out["a"][1::2]), _bits(moved["a"][1::2]))
    np.testing.assert_array_equal(_bits(out["b"]), _bits(moved["b"]))
    # A non-finite log density poisons every coordinate.
    out = lg.poison(moved, [position], jnp.float32(-jnp.inf))
    assert all(np.isnan(leaf).all() for leaf in jax.tree.leaves(out))


@pytest.mark.parametrize("shape", [(), (1,), (2,), (3,), (2, 2), (5,), (3, 3), (0,)])
def test_leaf_sum_is_the_sum(shape):
    x = jnp.asarray(np.random.default_rng(0).normal(size=shape), jnp.float32)
    out = lg.leaf_sum(x)
    assert out.shape == () and out.dtype == x.dtype
    np.testing.assert_allclose(out, np.sum(np.asarray(x, np.float64)), rtol=1e-6, atol=1e-6)
    if 0 < x.size <= lg.SMALL_SUM:  # written out, in order, under vmap too
        flat = np.asarray(x).reshape(-1)
        expected = flat[0]
        for v in flat[1:]:
            expected = np.float32(expected + v)
        assert out == expected
        batch = jnp.stack([x, -x, 2 * x])
        np.testing.assert_array_equal(jax.vmap(lg.leaf_sum)(batch), [out, -out, 2 * out])
