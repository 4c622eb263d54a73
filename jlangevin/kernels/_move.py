"""The one move every overdamped Langevin kernel makes, and the step size it makes it with.

::

    x' = x + h * drift(x) + sqrt(2 h T) * xi,    xi ~ N(0, I)

``drift`` is the (optionally clipped) score, ``h`` a scalar, a per-coordinate
array or pytree broadcasting against ``x``, or a schedule ``count -> h``, and
``T`` a temperature. :func:`add_noise` and :func:`drift_move` are its two halves,
for kernels that take them in the other order (ULA's ``order="noise_first"``).
:func:`draw` makes the step's random numbers, noise and (for an exact kernel)
the accept step's uniform, from one ``jax.random.bits`` call on the step's key.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels._checks import check_real
from jlangevin.kernels._tree import broadcast_like, check_broadcasts, is_concrete
from jlangevin.types import Array, ArrayTree, PRNGKey, StepSize


def step_size_at(step_size: StepSize, count: Array) -> Any:
    """The step size at step ``count``: the schedule's value, or the constant itself."""
    return step_size(count) if callable(step_size) else step_size


def step_tree(step_size: StepSize, count: Array, position: ArrayTree) -> ArrayTree:
    """The step at ``count`` as a pytree matching ``position``, typed like its leaves.

    Checks (at trace time, or on concrete values) that the step is real, that
    each leaf broadcasts to its position leaf without changing its shape and,
    where concrete, that it is positive and finite; every error names ``step_size``.
    """
    value = step_size_at(step_size, count)
    scheduled = callable(step_size) and is_concrete(count)
    at = f" at count {int(count)} (a schedule)" if scheduled else ""
    check_real(value, "step_size", at=at)
    steps = broadcast_like(value, position, "step_size")
    check_broadcasts(steps, position, "step_size")
    return jax.tree.map(_typed_like, steps, position)


def _typed_like(h: Any, x: Any) -> Any:
    """An array step in ``x``'s dtype; a Python number stays one (JAX's weak type does it)."""
    if isinstance(h, int | float) and not isinstance(h, bool):
        return h
    return jnp.asarray(h, jnp.result_type(x))


def steps_ok(steps: ArrayTree) -> Array:
    """Scalar bool: every step is positive and finite (a schedule may turn bad mid-run)."""
    checks = [jnp.all((h > 0) & (h < jnp.inf)) for h in jax.tree.leaves(steps)]
    return jnp.all(jnp.stack(checks))


def mean_step(steps: ArrayTree, position: ArrayTree) -> Array:
    """One number summarising a (possibly per-coordinate) step, for ``info``.

    In the position's floating dtype (float32 positions report float32 steps
    under ``jax_enable_x64`` too).
    """
    leaves = jax.tree.leaves(steps)
    dtype = jnp.result_type(*jax.tree.leaves(position))
    total = sum(jnp.sum(jnp.asarray(leaf, dtype)) for leaf in leaves)
    return total / sum(max(np.size(leaf), 1) for leaf in leaves)


def clip_score(score: ArrayTree, score_clip: Any | None) -> ArrayTree:
    """Clip each coordinate of the score to ``[-score_clip, score_clip]`` (``None``: as is)."""
    if score_clip is None:
        return score
    clip = broadcast_like(score_clip, score, "score_clip")
    check_broadcasts(clip, score, "score_clip")
    return jax.tree.map(
        lambda s, c: jnp.clip(s, -jnp.asarray(c, s.dtype), jnp.asarray(c, s.dtype)), score, clip
    )


def _uint(bits: int) -> Any:
    return jnp.dtype(f"uint{bits}")


def _widths(dtype: Any) -> tuple[int, int, int]:
    """``(value bits, random bits, mantissa bits)`` of a float dtype, as ``jax.random`` has them."""
    finfo = jnp.finfo(dtype)
    return finfo.bits, (8 if finfo.nmant < 8 else finfo.bits), finfo.nmant


def words_per_value(dtype: Any) -> int:
    """32-bit words one uniform or normal of ``dtype`` takes: 2 for 64-bit floats, else 1."""
    return 2 if _widths(dtype)[1] == 64 else 1


def uniform_from_bits(words: Array, dtype: Any) -> Array:
    """Uniforms on ``[0, 1)`` of ``dtype`` from 32-bit words, by ``jax.random.uniform``'s map.

    A 64-bit float takes words ``2i`` (high) and ``2i + 1`` (low), as a key's
    64-bit random bits do; narrower floats take the low bits of one word each.
    Given a key's words, the result equals ``jax.random.uniform`` of that key.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import uniform_from_bits
    >>> uniform_from_bits(jnp.array([0, 2**31], jnp.uint32), jnp.float32)
    Array([0. , 0.5], dtype=float32)
    """
    nbits, rng_bits, nmant = _widths(dtype)
    if rng_bits == 64:
        pairs = words.reshape(-1, 2).astype(jnp.uint64)
        bits = (pairs[:, 0] << jnp.uint64(32)) | pairs[:, 1]
    else:
        bits = words.astype(_uint(rng_bits)).astype(_uint(nbits))
    one = jnp.asarray(np.array(1.0, dtype).view(_uint(nbits)), _uint(nbits))
    mantissa = jax.lax.shift_right_logical(bits, jnp.asarray(rng_bits - nmant, _uint(nbits)))
    return jax.lax.bitcast_convert_type(mantissa | one, dtype) - jnp.asarray(1.0, dtype)


def normal_from_bits(words: Array, dtype: Any) -> Array:
    """Standard normals of ``dtype`` from 32-bit words, by ``jax.random.normal``'s map.

    ``sqrt(2) erfinv(u)`` with ``u`` uniform on ``(-1, 1)``; given a key's
    words, the result equals ``jax.random.normal`` of that key.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import normal_from_bits
    >>> z = normal_from_bits(jnp.array([0, 2**31], jnp.uint32), jnp.float32)
    >>> float(z[0]) < -5, abs(float(z[1])) < 1e-6
    (True, True)
    """
    low = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
    high = np.array(1.0, dtype)
    u = jnp.maximum(low, uniform_from_bits(words, dtype) * (high - low) + low)
    return jnp.asarray(np.sqrt(2), dtype) * jax.lax.erf_inv(u)


def draw(key: PRNGKey, tree: ArrayTree, uniform_dtype: Any | None = None) -> tuple[Any, Any]:
    """Standard normals like every leaf of ``tree`` and, optionally, one uniform on ``[0, 1)``.

    All from one ``jax.random.bits`` call on ``key``, so a counter-based key
    (:mod:`jlangevin.keys`) hashes exactly the words the step needs: the
    leaves' words in order, then the uniform's. For one leaf and no uniform,
    the noise is ``jax.random.normal(key, shape, dtype)`` bit for bit.

    Parameters
    ----------
    key : PRNGKey
        The step's key.
    tree : pytree of arrays
        The noise takes each leaf's shape and floating dtype.
    uniform_dtype : dtype, optional
        The uniform's dtype; ``None`` draws no uniform.

    Returns
    -------
    noise : pytree
        Like ``tree``.
    uniform : Array or None
        A scalar, or ``None`` without ``uniform_dtype``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels._move import draw
    >>> noise, u = draw(jax.random.key(0), {"a": jnp.zeros(2), "b": jnp.zeros(())}, jnp.float32)
    >>> noise["a"].shape, u.shape
    ((2,), ())
    """
    leaves, tree_def = jax.tree.flatten(tree)
    dtypes = [jnp.result_type(leaf) for leaf in leaves]
    counts = [np.size(leaf) * words_per_value(d) for leaf, d in zip(leaves, dtypes, strict=True)]
    extra = 0 if uniform_dtype is None else words_per_value(uniform_dtype)
    words = jax.random.bits(key, (sum(counts) + extra,), jnp.uint32)
    ends = np.cumsum(counts)
    noise = [
        normal_from_bits(words[end - count : end], d).reshape(jnp.shape(leaf))
        for leaf, d, count, end in zip(leaves, dtypes, counts, ends, strict=True)
    ]
    uniform = None
    if uniform_dtype is not None:
        uniform = uniform_from_bits(words[sum(counts) :], uniform_dtype)[0]
    return jax.tree.unflatten(tree_def, noise), uniform


def langevin_move(
    position: ArrayTree,
    drift: ArrayTree,
    steps: ArrayTree,
    noise: ArrayTree,
    temperature: Any = 1.0,
) -> ArrayTree:
    """``x + h * drift + sqrt(2 h T) * noise``, leaf by leaf, in the position's dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import langevin_move
    >>> langevin_move(jnp.zeros(2), jnp.ones(2), jnp.full(2, 0.5), jnp.array([0.0, 1.0]))
    Array([0.5, 1.5], dtype=float32)
    """

    def move(x, d, h, xi):
        dtype = jnp.result_type(x)
        h = jnp.asarray(h, dtype)
        return x + h * d + jnp.sqrt(2 * h * jnp.asarray(temperature, dtype)) * xi

    return jax.tree.map(move, position, drift, steps, noise)


def noise_sd(steps: ArrayTree, position: ArrayTree, temperature: Any = 1.0) -> ArrayTree:
    """``sqrt(2 h T)`` leaf by leaf, in the position's dtypes: the Langevin noise scale.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import noise_sd
    >>> noise_sd(0.5, jnp.zeros(2), 4.0)
    Array(2., dtype=float32)
    """

    def sd(h, x):
        dtype = jnp.result_type(x)
        return jnp.sqrt(2 * jnp.asarray(h, dtype) * jnp.asarray(temperature, dtype))

    return jax.tree.map(sd, steps, position)


def add_noise(position: ArrayTree, scale: ArrayTree, noise: ArrayTree) -> ArrayTree:
    """``x + scale * noise``, leaf by leaf, in the position's dtype.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import add_noise
    >>> add_noise(jnp.zeros(2), 0.5, jnp.array([1.0, -2.0]))
    Array([ 0.5, -1. ], dtype=float32)
    """

    def shake(x, s, xi):
        return x + jnp.asarray(s, jnp.result_type(x)) * xi

    return jax.tree.map(shake, position, broadcast_like(scale, position, "noise_scale"), noise)


def drift_move(position: ArrayTree, drift: ArrayTree, steps: ArrayTree) -> ArrayTree:
    """``x + h * drift``, leaf by leaf, in the position's dtype (the move without noise).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._move import drift_move
    >>> drift_move(jnp.zeros(2), jnp.ones(2), jnp.full(2, 0.5))
    Array([0.5, 0.5], dtype=float32)
    """

    def move(x, d, h):
        return x + jnp.asarray(h, jnp.result_type(x)) * d

    return jax.tree.map(move, position, drift, steps)


__all__ = [
    "add_noise",
    "clip_score",
    "draw",
    "drift_move",
    "langevin_move",
    "mean_step",
    "noise_sd",
    "normal_from_bits",
    "step_size_at",
    "step_tree",
    "steps_ok",
    "uniform_from_bits",
    "words_per_value",
]
