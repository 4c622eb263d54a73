"""The CPU Threefry loop gives the primitive's words, and a wrong one is caught."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

from jlangevin import _xla_cpu as _cpu

_COUNTERS = jax.random.bits(jax.random.key(0), (2, 1000), jnp.uint32)
_EDGES = jnp.array([[0, 0, 2**32 - 1, 2**31], [0, 2**32 - 1, 2**32 - 1, 1]], jnp.uint32)


def _matches_the_primitive() -> bool:
    x0, x1 = jnp.concatenate([_COUNTERS, _EDGES], axis=1)
    zero = (jnp.uint32(0), jnp.uint32(0))
    expected = threefry_2x32(zero, jnp.concatenate([x0, x1])).reshape(2, -1)
    got = jax.jit(lambda a, b: _cpu.threefry_zero_key(a, b))(x0, x1)  # traced anew
    return all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))


def test_the_loop_gives_the_primitives_words():
    assert _matches_the_primitive()


def test_a_loop_with_a_wrong_rotation_fails_that_check(monkeypatch):
    wrong = _cpu._ROTATIONS.copy()
    wrong[1, 2] = 15
    monkeypatch.setattr(_cpu, "_ROTATIONS", wrong)
    assert not _matches_the_primitive()
