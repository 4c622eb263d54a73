"""The randomness of a run: which key step ``t`` of chain ``c`` gets, and what it draws.

Step ``t`` of chain ``c`` gets a key that depends on the run key, ``c`` and
``t`` alone (``t`` counts the chain's steps over its whole life), so a run
split into chunks, stopped and resumed, or spread over devices or hosts gives
bit-identical draws to one uninterrupted run. The driver, the warm-up and the
annealed sampler all derive their keys here, in two stages: :func:`chain_keys`
once per run (a small program of its own), :func:`step_keys` once per step.

The keys are counter-based (Random123's design, with JAX's Threefry-2x32-20
hash). :func:`chain_keys` hashes the run key and ``c`` into a random 64-bit
offset ``K_c = (K0, K1)``, once per run. The key of step ``t`` is ``(K_c, t)``
itself, made without hashing; it draws its words from the blocks
``threefry((K0 + t, K1 + j))``, ``j = 0, 1, ...``, each block giving two 32-bit
words (sums modulo ``2**32``), so a step hashes only the blocks of the words it
asks for (a block per word, as JAX's default draw spends: see :func:`_words`).
``split`` and ``fold_in`` of such a key hash ``(K0 + t + 2**31, K1 + j)``
(counters no step draws from) into a fresh offset ``(K', 0)``, so a kernel that
splits its key still gets independent streams, and ``fold_in(k, j)`` is
``split(k, n)[j]``, as in JAX. A key's data (``jax.random.key_data``) is three
words, ``(K0, K1, t)``.

The hash's own key is the constant :data:`HASH_KEY` (zeros): the randomness is
in the counter, which starts at the chain's random offset. Threefry under a
fixed key is a pseudo-random permutation of 64-bit blocks, the same use JAX's
own draw makes of it (one key, counters ``0, 1, ...``). A key that varied by
chain would be an array of the batch's size that the hash carries through
all its twenty rounds; a constant one is not per chain. On CPU the hash runs as
:func:`jlangevin._xla_cpu.threefry_zero_key`, a loop that carries only the counters
(the same words as JAX's primitive, which other backends use); what both gain is
measured in ``benchmarks/README.md``.

What this relies on: distinct counters give independent-looking words. Within
a chain no two steps, words or derived keys share a counter. Two chains share
one only if their offsets lie within the run's steps and words of each other
in both halves, about ``2 C**2 T W / 2**64`` times in a run of ``C`` chains,
``T`` steps and ``W`` words per step (about 1e-4 for 10^5 chains, 10^4 steps
and 10 words); JAX's ``fold_in`` keys, which collide as 64-bit hashes,
repeat about ``(C T)**2 / 2**65`` times.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from jlangevin.keys import chain_keys, step_keys
>>> chains = chain_keys(jax.random.key(0), jnp.arange(3))
>>> step_keys(chains, jnp.zeros(3, jnp.int32)).shape
(3,)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl, threefry2x32_p

from jlangevin import _xla_cpu
from jlangevin.types import Array, PRNGKey

#: The key of the hash: the same for every chain, so the program holds it as a constant.
HASH_KEY = _xla_cpu.KEY
#: The counter bit no step's words use; derived keys (``split``, ``fold_in``) set it.
DERIVED = np.uint32(2**31)
#: The most 32-bit words one key draws in one call (word ``i`` counted in 32 bits).
MAX_WORDS = 2**32


def _primitive(x0: Array, x1: Array) -> tuple[Array, Array]:
    return tuple(threefry2x32_p.bind(*HASH_KEY, x0, x1))


def _hash(key: Array, first: Array, second: Array) -> tuple[Array, Array]:
    """The two words of ``threefry((key[0] + first, key[1] + second))``, broadcast."""
    first, second = jnp.broadcast_arrays(key[0] + jnp.asarray(first, jnp.uint32), key[1] + second)
    return _xla_cpu.threefry(first, second, default=_primitive)


def _words(key: Array, num: int) -> Array:
    """The first ``num`` 32-bit words of ``key``'s stream: block ``j`` gives words ``2j, 2j+1``."""
    if num > MAX_WORDS:
        raise ValueError(f"a counter key draws at most 2**32 words per call; asked for {num}.")
    # Each word hashes its own block (the two words of a block hash it twice), so the
    # words come out of the hash in their own shape, as JAX's threefry draws do. The
    # cheaper stack-reshape-slice of ``ceil(num / 2)`` blocks let XLA:CPU fuse the
    # draw's users differently for other batch sizes and round them 1 ulp apart.
    word = jax.lax.iota(jnp.uint32, num)
    low, high = _hash(key, key[2], word >> 1)
    return jnp.where((word & 1) == 0, low, high)


def _random_bits(key: Array, bit_width: int, shape: tuple[int, ...]) -> Array:
    """``bit_width``-bit unsigned integers of ``shape``: one word each, two for 64 bits."""
    size = math.prod(shape)
    if bit_width == 64:
        pairs = _words(key, 2 * size).reshape(size, 2).astype(jnp.uint64)
        bits = (pairs[:, 0] << jnp.uint64(32)) | pairs[:, 1]
    else:
        bits = _words(key, size).astype(jnp.dtype(f"uint{bit_width}"))
    return bits.reshape(shape)


def _derived(key: Array, index: Array) -> Array:
    """The key data ``(threefry((K0 + t + 2**31, K1 + index)), 0)`` of a key ``(K, t)``."""
    low, high = _hash(key, key[2] | DERIVED, jnp.asarray(index, jnp.uint32))
    return jnp.stack([low, high, jnp.zeros_like(low)], axis=-1)


def _split(key: Array, shape: tuple[int, ...]) -> Array:
    """``prod(shape)`` derived keys, the ``j``-th being ``fold_in(key, j)`` (as in JAX)."""
    index = jax.lax.iota(jnp.uint32, math.prod(shape))
    return _derived(key, index).reshape(*shape, 3)


def _fold_in(key: Array, data: Array) -> Array:
    """The derived key of ``data`` (a uint32 scalar)."""
    return _derived(key, data)


def _seed(seed: Array) -> Array:
    """``(K, 0)`` with ``K`` JAX's Threefry key of ``seed``."""
    key = jax.random.key_data(jax.random.key(seed, impl="threefry2x32"))
    return jnp.concatenate([key, jnp.zeros((1,), jnp.uint32)])


#: The key implementation of step keys: data ``(K0, K1, t)`` (uint32), an offset and a count.
COUNTER_IMPL = define_prng_impl(
    key_shape=(3,),
    seed=_seed,
    split=_split,
    random_bits=_random_bits,
    fold_in=_fold_in,
    name="jlangevin_counter",
    tag="jlc",
)


def chain_keys(key: PRNGKey, chain_ids: Array) -> Array:
    """The per-chain keys ``(K_c, 0)``, ``K_c`` two words drawn from ``fold_in(key, c)``.

    Works for a run key of any implementation; the result is a key array of
    :data:`COUNTER_IMPL`, one key per entry of ``chain_ids``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.keys import chain_keys
    >>> jax.random.key_data(chain_keys(jax.random.key(0), jnp.arange(2))).shape
    (2, 3)
    """

    def threefry_key(chain: Array) -> Array:
        return jax.random.bits(jax.random.fold_in(key, chain), (2,), jnp.uint32)

    words = jax.vmap(threefry_key)(jnp.asarray(chain_ids, jnp.uint32))
    data = jnp.concatenate([words, jnp.zeros((words.shape[0], 1), jnp.uint32)], axis=1)
    return jax.random.wrap_key_data(data, impl=COUNTER_IMPL)


def step_keys(chain_keys: Array, counts: Array) -> Array:
    """The keys of the chains' next steps: ``(K_c, count)`` for each chain, no hashing.

    ``counts`` are the chains' step counts (non-negative, below ``2**31``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.keys import chain_keys, step_keys
    >>> keys = step_keys(chain_keys(jax.random.key(0), jnp.arange(2)), jnp.array([0, 7]))
    >>> jax.random.key_data(keys)[:, 2].tolist()
    [0, 7]
    """
    data = jax.random.key_data(chain_keys)
    data = data.at[..., 2].set(jnp.asarray(counts).astype(jnp.uint32))
    return jax.random.wrap_key_data(data, impl=COUNTER_IMPL)


__all__ = ["COUNTER_IMPL", "chain_keys", "step_keys"]
