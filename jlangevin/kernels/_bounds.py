"""Box supports: reflect or clip a move back into ``[low, high]``, or test membership."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.kernels._checks import check_real, describe
from jlangevin.kernels._tree import broadcast_like, check_broadcasts, is_concrete, tree_where
from jlangevin.types import Array, ArrayTree, Bounds

BOUNDARY_MODES = ("reflect", "clip")


def _as_array(leaf: Any) -> Any:
    return np.asarray(leaf) if isinstance(leaf, list) else leaf


def check_bounds(bounds: Bounds | None, boundary: str = "reflect") -> None:
    """Reject a ``boundary`` mode that does not exist or ``bounds`` that are not ``low < high``.

    ``bounds`` is a pair ``(low, high)`` of real scalars, arrays (lists too) or
    pytrees; ``±inf`` leaves a side open, NaN is an error.
    """
    if not isinstance(boundary, str) or boundary not in BOUNDARY_MODES:
        raise ValueError(f"`boundary` must be one of {BOUNDARY_MODES}; got {boundary!r}.")
    if bounds is None:
        return
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(f"`bounds` must be a pair (low, high); got {describe(bounds)}.")
    low, high = (_as_array(side) for side in bounds)
    for side, name in ((low, "bounds[0] (low)"), (high, "bounds[1] (high)")):
        if side is None or callable(side):
            raise TypeError(f"`{name}` must be a number or an array; got {describe(side)}.")
        check_real(side, name, positive=False, allow_inf=True)
    for lo, hi in zip(jax.tree.leaves(low), jax.tree.leaves(high), strict=False):
        if not (is_concrete(lo) and is_concrete(hi)):
            continue
        try:
            crossed = np.any(np.asarray(lo) >= np.asarray(hi))
        except ValueError as err:  # shapes that do not broadcast against each other
            raise ValueError(
                f"`bounds` low and high do not broadcast together: shapes {np.shape(lo)} and "
                f"{np.shape(hi)}."
            ) from err
        if crossed:
            raise ValueError(f"`bounds` must have low < high everywhere; got low={lo}, high={hi}.")


def bound_trees(bounds: Bounds, position: ArrayTree) -> tuple[ArrayTree, ArrayTree]:
    """``(low, high)`` as pytrees like ``position``, shape-checked and in its dtypes."""
    trees = []
    for side, name in zip(bounds, ("bounds[0]", "bounds[1]"), strict=True):
        tree = broadcast_like(side, position, name)
        check_broadcasts(tree, position, name)
        trees.append(jax.tree.map(lambda b, x: jnp.asarray(b, jnp.result_type(x)), tree, position))
    return trees[0], trees[1]


def reflect(x: Array, low: Array, high: Array) -> Array:
    """Fold ``x`` back into ``[low, high]`` by mirror reflection at the walls.

    Exact for any overshoot (a path that crosses the box several times folds
    back correctly); one-sided boxes (an infinite wall) reflect at the finite one.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._bounds import reflect
    >>> reflect(jnp.array([1.5, -3.5]), jnp.asarray(-1.0), jnp.asarray(1.0))
    Array([0.5, 0.5], dtype=float32)
    """
    width = high - low
    both = jnp.isfinite(low) & jnp.isfinite(high)
    safe_width = jnp.where(both, width, 1.0)
    folded = jnp.mod(x - jnp.where(both, low, 0.0), 2 * safe_width)
    folded = jnp.where(folded > safe_width, 2 * safe_width - folded, folded) + low
    from_low = jnp.where(x < low, 2 * low - x, x)
    from_high = jnp.where(x > high, 2 * high - x, x)
    one_sided = jnp.where(jnp.isfinite(low), from_low, from_high)
    reflected = jnp.where(both, folded, one_sided).astype(jnp.result_type(x))
    # A point inside the box stays bit for bit (the fold would round it by an ulp).
    return jnp.where((x >= low) & (x <= high), x, reflected)


def apply_bounds(position: ArrayTree, bounds: Bounds | None, boundary: str) -> ArrayTree:
    """Bring a moved position back into the box (``reflect`` or ``clip``)."""
    if bounds is None:
        return position
    low, high = bound_trees(bounds, position)
    if boundary == "clip":
        return jax.tree.map(
            lambda x, lo, hi: jnp.clip(x, lo, hi).astype(jnp.result_type(x)), position, low, high
        )
    return jax.tree.map(reflect, position, low, high)


def within_bounds(position: ArrayTree, bounds: Bounds | None) -> Array:
    """Scalar bool: the position lies in the closed box (always true without bounds)."""
    if bounds is None:
        return jnp.asarray(True)
    low, high = bound_trees(bounds, position)
    inside = jax.tree.map(lambda x, lo, hi: jnp.all((x >= lo) & (x <= hi)), position, low, high)
    return jnp.all(jnp.stack(jax.tree.leaves(inside)))


def check_inside(position: ArrayTree, bounds: Bounds | None) -> None:
    """Reject an initial position outside the box (when values are concrete).

    Shapes are checked against the position either way.
    """
    if bounds is None:
        return
    inside = within_bounds(position, bounds)
    if is_concrete(inside) and not bool(inside):
        raise ValueError(
            f"The initial `position` lies outside `bounds` {bounds}; start inside the box."
        )


def mask_outside(
    position: ArrayTree, bounds: Bounds | None, value: Array | None, score: ArrayTree
) -> tuple[Array | None, ArrayTree]:
    """Outside ``bounds`` the target is zero: log density ``-inf``, score NaN.

    A batched start outside the box is so caught by :func:`jlangevin.run`'s
    finiteness check (a concrete single start raises in :func:`check_inside`).
    """
    if bounds is None:
        return value, score
    inside = within_bounds(position, bounds)
    if value is not None:
        value = jnp.where(inside, value, -jnp.inf)
    nan = jax.tree.map(lambda s: jnp.full_like(s, jnp.nan), score)
    return value, tree_where(inside, score, nan)


__all__ = [
    "BOUNDARY_MODES",
    "apply_bounds",
    "check_bounds",
    "check_inside",
    "mask_outside",
    "reflect",
    "within_bounds",
]
