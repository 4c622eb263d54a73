"""The one backend workaround (``jlangevin/_xla_cpu.py``): same numbers, scoped, restored."""

import jax
import numpy as np

from jlangevin import _xla_cpu


def _draws(key):
    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, np.arange(64, dtype=np.uint32))
    return jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 3), (5,)))(keys)


def test_the_unrolled_hash_gives_the_same_numbers_and_is_undone():
    rules = _xla_cpu._rules()
    assert rules is not None, "JAX's internals moved: the workaround is inactive"
    mlir, primitive, unrolled = rules
    before = mlir._platform_specific_lowerings["cpu"].get(primitive)
    key = jax.random.key(42)
    plain = jax.jit(_draws).lower(key).compile()
    with _xla_cpu.unrolled_threefry():
        assert mlir._platform_specific_lowerings["cpu"][primitive].rule is unrolled
        written_out = jax.jit(lambda k: _draws(k) + 0.0).lower(key).compile()
    assert mlir._platform_specific_lowerings["cpu"].get(primitive) is before
    np.testing.assert_array_equal(plain(key), written_out(key))
    # Lowered inside the block, the hash is straight-line code: no loop over rounds.
    assert "while" in plain.as_text() and "while" not in written_out.as_text()
