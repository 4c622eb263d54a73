"""Pytree arithmetic the kernels share: selection, finiteness, sums, broadcasting, noise."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.types import Array, ArrayTree, PRNGKey


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def tree_where(pred: Array, on_true: ArrayTree, on_false: ArrayTree) -> ArrayTree:
    """Select whole pytrees with a scalar predicate (per chain under ``vmap``)."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def tree_all_finite(tree: ArrayTree) -> Array:
    """Scalar bool: every element of every floating-point leaf is finite.

    One test over all the numbers at once (the leaves raveled and joined): the
    candidate is then written once and read by the test, instead of each leaf's
    test recomputing the move that made it (``benchmarks/README.md``: ULA and
    SGLD at 2 dimensions, 10^4 chains).
    """
    leaves = [
        jnp.ravel(leaf)
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    return jnp.all(jnp.isfinite(jnp.concatenate(leaves))) if leaves else jnp.asarray(True)


def tree_sum(tree: ArrayTree) -> Array:
    """Sum of every element of every leaf."""
    return sum(jnp.sum(leaf) for leaf in jax.tree.leaves(tree))


def tree_squared_norm(tree: ArrayTree) -> Array:
    """``sum(x**2)`` over every element of every leaf."""
    return tree_sum(jax.tree.map(jnp.square, tree))


def broadcast_like(value: Any, tree: ArrayTree, name: str) -> ArrayTree:
    """``value`` as a pytree with the structure of ``tree``.

    ``value`` is either a pytree with the structure of ``tree`` (one entry per
    leaf) or a single scalar/array used for every leaf; a list that is not the
    former is read as one array (``[0.1, 0.2]`` is ``np.asarray([0.1, 0.2])``).
    """
    tree_def = jax.tree.structure(tree)
    value_def = jax.tree.structure(value)
    if value_def == tree_def:
        return value
    if isinstance(value, list):
        traced = any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves(value))
        try:  # numbers inside a compiled program (jl.run passes arrays as arguments) stay traced
            value = jnp.asarray(value) if traced else np.asarray(value)
        except (TypeError, ValueError) as err:
            raise TypeError(f"`{name}` is a list that is not an array of numbers: {err}") from err
        value_def = jax.tree.structure(value)
    if value_def.num_leaves == 1 and jax.tree.structure(0) == value_def:
        return jax.tree.map(lambda _: value, tree)
    raise ValueError(
        f"`{name}` must be a scalar, an array broadcasting against every leaf of the "
        f"position, or a pytree with the position's structure {tree_def}; got {value_def}."
    )


def check_broadcasts(values: ArrayTree, tree: ArrayTree, name: str) -> None:
    """Each leaf of ``values`` broadcasts to its leaf of ``tree`` without changing its shape.

    ``values`` has the structure of ``tree`` (see :func:`broadcast_like`); only
    shapes are read, so traced leaves are checked too.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._tree import check_broadcasts
    >>> check_broadcasts(jnp.ones(3), jnp.zeros((2, 3)), "step_size")      # fine
    >>> check_broadcasts(jnp.ones((2, 1)), jnp.zeros(2), "step_size")     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: `step_size` has shape (2, 1), which does not broadcast to ...
    """
    paths = jax.tree_util.tree_flatten_with_path(tree)[0]
    for (path, leaf), value in zip(paths, jax.tree.leaves(values), strict=True):
        want, got = tuple(jnp.shape(leaf)), tuple(jnp.shape(value))
        try:
            ok = np.broadcast_shapes(got, want) == want
        except ValueError:
            ok = False
        if not ok:
            where = f" for the position leaf {jax.tree_util.keystr(path)}" if path else ""
            raise ValueError(
                f"`{name}` has shape {got}, which does not broadcast to the position's shape "
                f"{want}{where}: expected a scalar or a shape broadcasting to {want}."
            )


def normal_like(key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Standard normals shaped and typed like every leaf of ``tree`` (``jax.random.normal``).

    One leaf draws from ``key`` itself; several leaves each from their own
    subkey of ``jax.random.split(key, num_leaves)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels._tree import normal_like
    >>> noise = normal_like(jax.random.key(0), {"a": jnp.zeros(2), "b": jnp.zeros((3, 1))})
    >>> noise["b"].shape
    (3, 1)
    """
    leaves, tree_def = jax.tree.flatten(tree)
    keys = [key] if len(leaves) == 1 else list(jax.random.split(key, len(leaves)))
    noise = [
        jax.random.normal(k, jnp.shape(leaf), jnp.result_type(leaf))
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(tree_def, noise)


__all__ = [
    "broadcast_like",
    "check_broadcasts",
    "is_concrete",
    "normal_like",
    "tree_all_finite",
    "tree_squared_norm",
    "tree_sum",
    "tree_where",
]
