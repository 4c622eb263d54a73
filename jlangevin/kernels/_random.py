"""Everything a step draws, from its key and the chain's step count.

A kernel's ``step(key, state)`` draws its random numbers as a function of
``(key, state.count)``: the same key and state give the same move, and a
chain that keeps one key for its whole life still gets fresh numbers at every
step, because its count advances. :func:`jlangevin.run` relies on this: each
chain holds one key for the whole run (no per-step key derivation), and a run
split into chunks or resumed from its final state draws the same numbers.

With the default threefry keys, word ``i`` of a step is one call of the
Threefry-2x32 counter hash on the counter pair ``(count, i)`` under the
chain's key, its two output halves xor-ed: how ``jax.random`` makes words
from a key (its default, "partitionable" threefry), with the step count in
place of a derived step key. Deriving a step key first (``fold_in(key,
count)``, then ``jax.random.normal``) costs one more hash per chain and step,
half as many again in 2-D. Other key implementations (``rbg``,
``unsafe_rbg``, user-defined) take that generic route, with the same
contract.

The hash is :func:`threefry2x32` below, the 20 rounds written out: the same
function as JAX's ``threefry2x32`` primitive, bit for bit (tested), which
JAX lowers on CPU to a loop of five iterations. With one key per chain that
loop carries and copies the key schedule, three arrays the size of the chain
axis, at every iteration, and cannot fuse with the step around it. Written
out and one word per hash, the words are an element-wise function of
``(key, count, i)`` that XLA fuses into the step and vectorizes. (Using both
halves of each hash for two words halves the hashing but needs a
concatenation, which XLA on CPU emits element by element: measured on a
2-core CPU, the normals of 1000 chains x 100 dims took 67 ms for 50 steps
that way, 21 ms with JAX's loop, 14 ms one word per hash; on 10^4 chains x 2
dims 12.7, 7.0 and 2.6 ms.)

Words become numbers exactly as ``jax.random`` makes them: the top mantissa
bits of each word give a uniform on ``[0, 1)`` (two words per value for
64-bit floats); normals are ``sqrt(2) erfinv(v)`` with ``v`` uniform on
``(-1, 1)``. Normals for 16-bit leaves are made in float32 and rounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels._langevin import materialize
from jlangevin.types import Array, ArrayTree, PRNGKey

_THREEFRY = "threefry2x32"


class Draws(NamedTuple):
    """The random numbers of one step.

    Attributes
    ----------
    noise : standard normals shaped and typed like the position.
    log_uniform : ``log u`` with ``u`` uniform on ``(0, 1]`` (``None`` unless asked for).
    key : a fresh key for a consumer that wants one, such as a minibatch
        estimator (``None`` unless asked for).
    """

    noise: ArrayTree
    log_uniform: Array | None
    key: PRNGKey | None


def draw(
    key: PRNGKey,
    count: Array,
    like: ArrayTree,
    *,
    log_uniform: bool = False,
    subkey: bool = False,
    barrier: bool = False,
) -> Draws:
    """The random numbers of the step at ``count`` under ``key``, from one generator call.

    Parameters
    ----------
    key : the chain's key (typed, or legacy ``uint32[2]``).
    count : the chain's step count (``state.count``).
    like : pytree the normals are shaped and typed like.
    log_uniform : also draw ``log u``, ``u ~ U(0, 1]`` (a Metropolis test).
    subkey : also return an independent key (a minibatch draw).
    barrier : pass the uniforms and normals through the optimization barrier
        instead of storing them with the division (see
        :func:`jlangevin.kernels._langevin.materialize`): the kernel's choice,
        the faster one for it.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels._random import draw
    >>> d = draw(jax.random.key(0), jnp.int32(3), jnp.zeros(4), log_uniform=True)
    >>> d.noise.shape, bool(d.log_uniform <= 0)
    ((4,), True)
    """
    key = _typed(key)
    leaves, tree_def = jax.tree.flatten(like)
    float_dtype = jnp.result_type(*leaves) if leaves else jnp.result_type(float)
    widths = [_words_per_value(leaf) for leaf in leaves]
    sizes = [math.prod(jnp.shape(leaf)) * w for leaf, w in zip(leaves, widths, strict=True)]
    uniform_words = _words_per_value(jnp.zeros((), float_dtype)) if log_uniform else 0
    fast = _is_threefry(key)
    key_words = 2 if (subkey and fast) else 0
    num_words = sum(sizes) + uniform_words + key_words
    if fast and STORED_WORDS[0] <= max(sizes, default=0) <= STORED_WORDS[1]:
        # On CPU, the hash fused with the inverse error function into one loop over
        # (chains, numbers) vectorizes badly for rows of 3-10 numbers: stored first,
        # the words are hashed in one loop and transformed in another (see _stored).
        words = _stored(lambda: _words(key, count, num_words, subkey)[0], count)
        new_key = None
    else:
        words, new_key = _words(key, count, num_words, subkey)

    noise, start = [], 0
    for leaf, size, width in zip(leaves, sizes, widths, strict=True):
        # Each stored once (see materialize): otherwise XLA recomputes the hash in
        # every consumer of the uniforms and the normals, which on CPU it does when it
        # splits the inverse error function over several loops (one chain, 100-1000
        # dimensions: 1.5-2x slower).
        unit = materialize(_unit_interval(words[start : start + size], width), barrier=barrier)
        normal = materialize(_normal(unit), barrier=barrier)
        noise.append(normal.reshape(jnp.shape(leaf)).astype(jnp.result_type(leaf)))
        start += size
    log_u = None
    if log_uniform:
        unit = _unit_interval(words[start : start + uniform_words], uniform_words)[0]
        log_u = jnp.log1p(-unit).astype(float_dtype)  # 1 - u lies in (0, 1]
        start += uniform_words
    if subkey and fast:
        new_key = jax.random.wrap_key_data(words[start : start + 2], impl=_THREEFRY)
    return Draws(jax.tree.unflatten(tree_def, noise), log_u, new_key)


#: Leaf sizes (in words) whose words :func:`draw` stores before transforming them.
STORED_WORDS = (3, 12)


def _stored(compute: Callable[[], Array], count: Array) -> Array:
    """``compute()``; on CPU, computed in a loop of its own so that it is stored.

    XLA fuses the hash into the loop that turns words into normals. On CPU
    that loop runs over ``(chains, numbers)`` and, vmapped with per-chain keys
    and counts, vectorizes erratically in the row length: measured (2 cores,
    jax 0.10.2, jl / written-out-hash floor), 3 numbers per chain ran at 0.96
    (ULA) and 0.53 (MALA), 5 at 0.96 and 0.42. XLA keeps a while loop whose
    trip count it cannot see (``count | 1`` is never 0) as a boundary: the
    words are hashed and stored in one loop, turned into normals in the next,
    which reads no per-chain operand. Same numbers. 3 numbers (5000 chains):
    ULA 0.95 -> 3.15, MALA 0.58 -> 1.24, SGLD 0.91 -> 3.56; 5 (2000): 1.00 ->
    1.16, 0.44 -> 0.86, 1.00 -> 1.18; 10 (1000): 0.99 -> 1.05, 0.39 -> 0.43,
    1.00 -> 1.15; one chain of 10: 1.78 -> 2.03 (ULA). Outside
    :data:`STORED_WORDS` the fused loop measured as fast or faster: 2 numbers
    0.56 -> 0.50 with the boundary, 16-64 within noise with many chains, one
    chain of 16-100 numbers 30-50% slower (a loop per step). Other platforms
    get ``compute()`` as it is: a loop there would synchronize with the host.
    """

    def looped() -> Array:
        shape = jax.eval_shape(compute)
        trips = ((jnp.asarray(count) | 1) != 0).astype(jnp.int32)  # 1
        init = (jnp.int32(0), jnp.zeros(shape.shape, shape.dtype))
        body = lambda c: (c[0] + 1, compute())  # noqa: E731
        return jax.lax.while_loop(lambda c: c[0] < trips, body, init)[1]

    return jax.lax.platform_dependent(cpu=looped, default=compute)


def _typed(key: PRNGKey) -> PRNGKey:
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)  # a legacy uint32 key, of the default implementation


def _is_threefry(key: PRNGKey) -> bool:
    return str(jax.random.key_impl(key)) == _THREEFRY


def _words_per_value(leaf: ArrayTree) -> int:
    return 2 if jnp.dtype(jnp.result_type(leaf)).itemsize == 8 else 1


def _words(
    key: PRNGKey, count: Array, num_words: int, subkey: bool
) -> tuple[Array, PRNGKey | None]:
    """``num_words`` random uint32 words for step ``count`` (and a subkey on the generic route)."""
    if _is_threefry(key):
        step = jnp.full((num_words,), jnp.asarray(count).astype(jnp.uint32))
        data = jax.random.key_data(key)
        high, low = threefry2x32(data[0], data[1], step, jnp.arange(num_words, dtype=jnp.uint32))
        return high ^ low, None
    step_key = jax.random.fold_in(key, count)
    new_key = None
    if subkey:
        step_key, new_key = jax.random.split(step_key)
    return jax.random.bits(step_key, (num_words,), jnp.uint32), new_key


#: Rotation distances of the Threefry-2x32 rounds, alternating by group of four.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32(key0: Array, key1: Array, x0: Array, x1: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 hash (20 rounds) of the counter pairs ``(x0, x1)`` under a key.

    The function JAX's ``threefry2x32`` primitive computes (Salmon et al.,
    SC 2011), written out so that XLA fuses it into its consumer rather than
    running JAX's CPU lowering, a five-iteration loop (see the module notes).

    Parameters
    ----------
    key0, key1 : the two uint32 words of the key (arrays broadcast against the counters).
    x0, x1 : uint32 counters, the two halves of each pair.

    Returns
    -------
    The two uint32 output words of each pair.

    Examples
    --------
    >>> import numpy as np
    >>> from jax.extend.random import threefry_2x32
    >>> from jlangevin.kernels._random import threefry2x32
    >>> k, x = np.uint32([0, 42]), np.uint32([7, 0, 1, 2])
    >>> high, low = threefry2x32(k[0], k[1], x[:2], x[2:])
    >>> bool((np.concatenate([high, low]) == threefry_2x32(k, x)).all())
    True
    """
    keys = (key0, key1, key0 ^ key1 ^ _PARITY)
    x0, x1 = x0 + keys[0], x1 + keys[1]
    for i in range(5):
        for distance in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << np.uint32(distance)) | (x1 >> np.uint32(32 - distance)))
        x0 = x0 + keys[(i + 1) % 3]
        x1 = x1 + keys[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _unit_interval(words: Array, width: int) -> Array:
    """Uniforms on ``[0, 1)`` from words, as ``jax.random.uniform`` makes them."""
    if width == 2:
        pairs = words.reshape(-1, 2).astype(jnp.uint64)
        bits = (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]
        one = np.uint64(0x3FF0000000000000)
        return jax.lax.bitcast_convert_type((bits >> np.uint64(12)) | one, jnp.float64) - 1.0
    one = np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type((words >> np.uint32(9)) | one, jnp.float32) - 1.0


def _normal(unit: Array) -> Array:
    """Standard normals from uniforms on ``[0, 1)``, as ``jax.random.normal`` makes them."""
    dtype = unit.dtype
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    v = jnp.maximum(low, unit * (np.array(1.0, dtype) - low) + low)
    return np.sqrt(2.0).astype(dtype) * jax.lax.erf_inv(v)


__all__ = ["Draws", "draw", "threefry2x32"]
