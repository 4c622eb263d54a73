"""The one move every overdamped Langevin kernel makes, and the step size it makes it with.

::

    x' = x + h * drift(x) + sqrt(2 h T) * xi,    xi ~ N(0, I)

``drift`` is the (optionally clipped) score, ``h`` a scalar, a per-coordinate
array or pytree broadcasting against ``x``, or a schedule ``count -> h``, and
``T`` a temperature.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels._tree import broadcast_like
from jlangevin.types import Array, ArrayTree, StepSize


def step_size_at(step_size: StepSize, count: Array) -> Any:
    """The step size at step ``count``: the schedule's value, or the constant itself."""
    return step_size(count) if callable(step_size) else step_size


def step_tree(step_size: StepSize, count: Array, position: ArrayTree) -> ArrayTree:
    """The step at ``count`` as a pytree matching ``position``."""
    return broadcast_like(step_size_at(step_size, count), position, "step_size")


def mean_step(steps: ArrayTree) -> Array:
    """One number summarising a (possibly per-coordinate) step, for ``info``."""
    leaves = jax.tree.leaves(steps)
    total = sum(jnp.sum(jnp.asarray(leaf, jnp.result_type(float))) for leaf in leaves)
    return total / sum(max(np.size(leaf), 1) for leaf in leaves)


def clip_score(score: ArrayTree, score_clip: Any | None) -> ArrayTree:
    """Clip each coordinate of the score to ``[-score_clip, score_clip]`` (``None``: as is)."""
    if score_clip is None:
        return score
    clip = broadcast_like(score_clip, score, "score_clip")
    return jax.tree.map(lambda s, c: jnp.clip(s, -c, c), score, clip)


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
        h = jnp.asarray(h, jnp.result_type(x))
        return x + h * d + jnp.sqrt(2 * h * temperature) * xi

    return jax.tree.map(move, position, drift, steps, noise)


__all__ = ["clip_score", "langevin_move", "mean_step", "step_size_at", "step_tree"]
