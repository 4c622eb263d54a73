"""The one CPU code-generation workaround: Threefry under the key 0 as a loop that carries
only the two counters.

JAX lowers its Threefry primitive on CPU as a loop of five round groups that
carries the key schedule beside the counters; a constant key is then copied
into the loop on every entry, which a small batch pays on every step. Here the
schedule's words are constants of the loop body instead. The words are the
primitive's, bit for bit (``tests/test_xla_cpu.py``); other backends keep the
primitive, which they lower unrolled. Measured in ``benchmarks/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.types import Array

#: The hash's key (``jlangevin.keys.HASH_KEY`` is this): one place for both backends' words.
KEY = (np.uint32(0), np.uint32(0))
_ROTATIONS = np.array([[13, 15, 26, 6], [17, 29, 16, 24]], np.uint32)
_SCHEDULE = np.array([*KEY, KEY[0] ^ KEY[1] ^ np.uint32(0x1BD11BDA)], np.uint32)


def threefry_zero_key(x0: Array, x1: Array) -> tuple[Array, Array]:
    """``threefry2x32((0, 0), (x0, x1))``: twenty rounds, a group of four per iteration.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jax.extend.random import threefry_2x32
    >>> from jlangevin._xla_cpu import threefry_zero_key
    >>> x = jnp.arange(4, dtype=jnp.uint32)
    >>> words = jnp.concatenate(threefry_zero_key(x[:2], x[2:]))
    >>> bool((words == threefry_2x32((jnp.uint32(0), jnp.uint32(0)), x)).all())
    True
    """

    def group(g: Array, x: tuple[Array, Array]) -> tuple[Array, Array]:
        x0, x1 = x
        rotations = jnp.asarray(_ROTATIONS)[g % 2]
        for r in range(4):
            x0 = x0 + x1
            x1 = ((x1 << rotations[r]) | (x1 >> (jnp.uint32(32) - rotations[r]))) ^ x0
        schedule = jnp.asarray(_SCHEDULE)
        x0 = x0 + schedule[(g + 1) % 3]
        x1 = x1 + schedule[(g + 2) % 3] + (g + 1).astype(jnp.uint32)
        return x0, x1

    return jax.lax.fori_loop(0, 5, group, (x0, x1))


def threefry(x0: Array, x1: Array, default: Callable) -> tuple[Array, Array]:
    """:func:`threefry_zero_key` on CPU, ``default(x0, x1)`` (the same words) elsewhere."""
    return tuple(jax.lax.platform_dependent(x0, x1, cpu=threefry_zero_key, default=default))
