"""Turning what users pass (a Trace, an array, a pytree) into per-coordinate numpy draws.

Every array-level diagnostic reads draws as ``(chains, draws, *event)``. This
module checks that shape once, flattens the event axes to one coordinate axis
``(chains, draws, k)`` for the statistics, and puts the per-coordinate result
back into the event shape (and the pytree) afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jlangevin.run import Trace


def positions_of(draws: Any, name: str = "draws") -> Any:
    """The draws pytree held by ``draws`` (a :class:`~jlangevin.run.Trace` or the draws itself)."""
    if isinstance(draws, Trace):
        if draws.positions is None:
            raise ValueError(
                f"`{name}` is a Trace without stored positions; run with store='draws' or "
                "store='positions' to keep the draws."
            )
        return draws.positions
    if draws is None:
        raise TypeError(f"`{name}` must be a Trace, an array (chains, draws, *event) or a pytree.")
    return draws


def as_draw_tree(draws: Any, name: str = "draws") -> Any:
    """Numpy float leaves of shape ``(chains, draws, *event)``, all sharing chains and draws.

    Raises
    ------
    ValueError
        When a leaf has fewer than two axes or the leaves disagree on ``(chains, draws)``.
    """
    tree = positions_of(draws, name)
    leaves, treedef = jax.tree.flatten(tree)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree.")
    arrays = [np.asarray(leaf, dtype=float) for leaf in leaves]
    for arr in arrays:
        if arr.ndim < 2:
            raise ValueError(
                f"`{name}` leaves must have shape (chains, draws, *event); got shape {arr.shape}. "
                "For one chain of draws x use x[None]."
            )
    heads = {arr.shape[:2] for arr in arrays}
    if len(heads) != 1:
        raise ValueError(
            f"Every leaf of `{name}` needs the same (chains, draws); got shapes "
            f"{[arr.shape for arr in arrays]}."
        )
    return jax.tree.unflatten(treedef, arrays)


def as_coordinates(leaf: np.ndarray) -> np.ndarray:
    """``(chains, draws, *event)`` -> ``(chains, draws, k)`` with ``k = prod(event)``."""
    return leaf.reshape(leaf.shape[0], leaf.shape[1], -1)


def per_coordinate(fn: Callable[[np.ndarray], np.ndarray], draws: Any, name: str = "draws") -> Any:
    """Apply ``fn: (chains, draws, k) -> (k,)`` to each leaf; results take the event shape.

    A bare array in gives a numpy array of its event shape out; a pytree gives
    the same pytree of such arrays.
    """
    tree = as_draw_tree(draws, name)

    def one(leaf: np.ndarray) -> np.ndarray:
        return np.asarray(fn(as_coordinates(leaf)), dtype=float).reshape(leaf.shape[2:])

    return jax.tree.map(one, tree)


def leaf_paths(tree: Any) -> list[str]:
    """A readable name per leaf: dict keys and attribute names joined by dots, indices as [i]."""
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    names = []
    for path, _ in flat:
        parts = []
        for entry in path:
            if isinstance(entry, jax.tree_util.DictKey):
                parts.append(str(entry.key))
            elif isinstance(entry, jax.tree_util.GetAttrKey):
                parts.append(entry.name)
            elif isinstance(entry, jax.tree_util.SequenceKey):
                parts.append(f"[{entry.idx}]")
            else:
                parts.append(str(entry))
        names.append(".".join(parts).replace(".[", "["))
    return names
