"""The one move every overdamped Langevin kernel makes, and the step size it makes it with.

::

    x' = x + h * drift(x) + sqrt(2 h T) * xi,    xi ~ N(0, I)

``drift`` is the (optionally clipped) score, ``h`` a scalar, a per-coordinate
array or pytree broadcasting against ``x``, or a schedule ``count -> h``, and
``T`` a temperature. :func:`add_noise` and :func:`drift_move` are its two halves,
for kernels that take them in the other order (ULA's ``order="noise_first"``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels._checks import check_real
from jlangevin.kernels._tree import broadcast_like, check_broadcasts, is_concrete
from jlangevin.types import Array, ArrayTree, StepSize


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
    "drift_move",
    "langevin_move",
    "mean_step",
    "noise_sd",
    "step_size_at",
    "step_tree",
    "steps_ok",
]
