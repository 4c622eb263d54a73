"""Turning what users pass (a Trace, an array, a pytree, ArviZ data) into numpy draws.

Every array-level diagnostic reads draws as ``(chains, draws, *event)``. This
module checks that shape once (at least one chain, one draw and one coordinate;
real numbers; finite unless told otherwise), flattens the event axes to one
coordinate axis ``(chains, draws, k)`` for the statistics, and puts the
per-coordinate result back into the event shape (and the pytree) afterwards.

It also decides the *layout*: ``"chains"`` (Markov chains, judged with R-hat,
ESS and ESS-based errors) or ``"cloud"`` (a particle cloud: the last draw of
each chain, judged as independent draws). ``"auto"`` takes one draw per chain
for a cloud.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from jlangevin.diagnostics._checks import one_of
from jlangevin.run import Trace

LAYOUTS = ("auto", "chains", "cloud")

#: ArviZ's split/rank estimators (R-hat, ESS, MCSE) need at least this many draws per chain.
MIN_DRAWS = 4

#: A particle cloud needs two particles for a standard error.
MIN_PARTICLES = 2


def _is_xarray_like(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] in ("arviz", "xarray", "arviz_base")


def _from_arviz(data: Any, name: str) -> dict[str, np.ndarray]:
    """The posterior variables of an InferenceData / DataTree / Dataset / DataArray."""
    import xarray as xr

    from jlangevin.diagnostics.arviz_io import group_dataset

    if isinstance(data, xr.DataArray):
        dataset = data.to_dataset(name=str(data.name or "x"))
    else:
        try:
            dataset = group_dataset(data, "posterior")
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"`{name}` is ArviZ data without a 'posterior' group.") from err
    out = {}
    for var, array in dataset.data_vars.items():
        if "chain" not in array.dims or "draw" not in array.dims:
            raise ValueError(
                f"`{name}`: posterior variable {var!r} needs 'chain' and 'draw' dimensions; "
                f"got dims {array.dims}."
            )
        out[str(var)] = np.asarray(array.transpose("chain", "draw", ...).values)
    return out


def positions_of(draws: Any, name: str = "draws") -> Any:
    """The draws pytree held by ``draws`` (a Trace, ArviZ data, or the draws themselves)."""
    if isinstance(draws, Trace):
        if draws.positions is None:
            raise ValueError(
                f"`{name}` is a Trace without stored positions; run with store='draws' or "
                "store='positions' to keep the draws."
            )
        return draws.positions
    if draws is None or isinstance(draws, str | bytes):
        raise TypeError(
            f"`{name}` must be a Trace, an array (chains, draws, *event), a pytree of them or "
            f"ArviZ data; got {draws!r}."
        )
    if _is_xarray_like(draws):
        return _from_arviz(draws, name)
    if isinstance(draws, list | tuple) and draws:
        leaves = jax.tree.leaves(draws)
        if leaves and all(isinstance(v, int | float) and not isinstance(v, bool) for v in leaves):
            return np.asarray(draws)  # a nested list of numbers is an array
    return draws


def _as_real_array(leaf: Any, name: str) -> np.ndarray:
    if isinstance(leaf, int | float) and not isinstance(leaf, bool):
        leaf = np.asarray(leaf)  # a number: a 0-d array (its shape is refused next)
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        kind = type(leaf).__name__
        raise TypeError(
            f"`{name}` must be a Trace, an array (chains, draws, *event), a pytree of them or "
            f"ArviZ data; got a leaf of type {kind}: {leaf!r:.80}."
        )
    if np.dtype(leaf.dtype).kind not in "iuf":
        raise TypeError(f"`{name}` must hold real numbers; got a leaf of dtype {leaf.dtype}.")
    return np.asarray(leaf, dtype=float)


def _check_finite(arrays: list[np.ndarray], name: str) -> None:
    chains, draws = arrays[0].shape[:2]
    bad = np.zeros((chains, draws), dtype=bool)
    for arr in arrays:
        bad |= ~np.isfinite(arr.reshape(chains, draws, -1)).all(axis=-1)
    if bad.any():
        bad_chains = np.flatnonzero(bad.any(axis=1))
        shown = ", ".join(map(str, bad_chains[:10])) + (", ..." if bad_chains.size > 10 else "")
        raise ValueError(
            f"`{name}` has {int(bad.sum())} non-finite draws (NaN or inf) of "
            f"{chains * draws}, in {bad_chains.size} of {chains} chains ({shown}); "
            "diagnostics need finite draws: drop or rerun those chains."
        )


def as_draw_tree(draws: Any, name: str = "draws", *, finite: bool = True) -> Any:
    """Numpy float leaves of shape ``(chains, draws, *event)``, all sharing chains and draws.

    Raises
    ------
    TypeError
        When ``draws`` is not a Trace, an array, a pytree of arrays or ArviZ data,
        or holds no real numbers.
    ValueError
        When a leaf has fewer than two axes, no chains, draws or coordinates, the
        leaves disagree on ``(chains, draws)``, or (``finite=True``) a draw is not finite.
    """
    tree = positions_of(draws, name)
    leaves, treedef = jax.tree.flatten(tree)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree; expected arrays (chains, draws, *event).")
    arrays = [_as_real_array(leaf, name) for leaf in leaves]
    for arr in arrays:
        if arr.ndim < 2:
            raise ValueError(
                f"`{name}` leaves must have shape (chains, draws, *event); got shape {arr.shape}. "
                "For one chain of draws x use x[None]; for a cloud of particles x use x[:, None]."
            )
    heads = {arr.shape[:2] for arr in arrays}
    if len(heads) != 1:
        raise ValueError(
            f"Every leaf of `{name}` needs the same (chains, draws); got shapes "
            f"{[arr.shape for arr in arrays]}."
        )
    chains, num_draws = arrays[0].shape[:2]
    if chains == 0 or num_draws == 0:
        raise ValueError(
            f"`{name}` has {chains} chains and {num_draws} draws per chain (shape "
            f"{arrays[0].shape}); expected at least one chain and one draw."
        )
    for arr in arrays:
        if arr.size == 0:
            raise ValueError(
                f"`{name}` has a leaf with no coordinates (shape {arr.shape}); expected an "
                "event of at least one number."
            )
    if finite:
        _check_finite(arrays, name)
    return jax.tree.unflatten(treedef, arrays)


def chains_draws(tree: Any) -> tuple[int, int]:
    """``(chains, draws)`` of a tree from :func:`as_draw_tree`."""
    return tuple(jax.tree.leaves(tree)[0].shape[:2])


def resolve_layout(layout: Any, tree: Any, name: str = "draws") -> str:
    """``"chains"`` or ``"cloud"`` for draws ``tree`` (``"auto"``: one draw per chain is a cloud).

    A cloud needs at least :data:`MIN_PARTICLES` chains (its independent draws).
    """
    layout = one_of(layout, "layout", LAYOUTS)
    chains, num_draws = chains_draws(tree)
    if layout == "auto":
        layout = "cloud" if num_draws == 1 else "chains"
    if layout == "cloud" and chains < MIN_PARTICLES:
        raise ValueError(
            f"`{name}` as a particle cloud has {chains} particle (chain); checking independent "
            f"draws needs at least {MIN_PARTICLES}."
        )
    return layout


def cloud_of(leaf: np.ndarray) -> np.ndarray:
    """The particle cloud ``(chains, *event)``: the last kept draw of every chain."""
    return leaf[:, -1]


def check_chain_draws(coords: np.ndarray, what: str, name: str = "draws", min_chains: int = 1):
    """Refuse draws too short (or too few chains) for ArviZ's chain estimators."""
    chains, draws = coords.shape[:2]
    if chains < min_chains:
        raise ValueError(
            f"`{name}`: {what} needs at least {min_chains} chains to compare; got {chains} "
            f"chain(s) (shape (chains, draws, *event) = {coords.shape}). Run several chains."
        )
    if draws < MIN_DRAWS:
        hint = (
            " A particle cloud (one draw per chain) has no chains to diagnose: check it as "
            "independent draws with layout='cloud' (jl.check, ks_test, moment_zscores)."
            if chains >= MIN_PARTICLES
            else ""
        )
        raise ValueError(
            f"`{name}`: {what} needs at least {MIN_DRAWS} draws per chain; got {draws} "
            f"(shape (chains, draws, *event) = {coords.shape}).{hint}"
        )


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
