"""The driver's input checks: each names its argument, says what it expects and what it got.

Everything here runs on the host before anything compiles, and reads no device
value: whether the chains start at finite points is checked inside the compiled
program (:mod:`jlangevin.run.loop`) and read back with the run's other counts
(:func:`start_error` words it).

Examples
--------
>>> import numpy as np
>>> from jlangevin.run.checks import check_int  # jlangevin._checks.as_count
>>> check_int(np.int64(3), "thin", 1)
3
"""

from __future__ import annotations

import numbers
import types
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_count as check_int
from jlangevin.run.trace import Trace
from jlangevin.types import ArrayTree, PRNGKey, Sampler

#: What ``store=`` takes besides a function ``(state, info) -> pytree``.
STORE_MODES = ("draws", "positions", "stats")
#: The most steps a chain may take over its life (step counts are int32).
MAX_COUNT = int(np.iinfo(np.int32).max)


def check_bool(value: Any, name: str) -> bool:
    """``True``/``False`` (numpy booleans too), else a ``TypeError`` naming ``name``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False; got {type(value).__name__} {value!r}.")
    return bool(value)


def check_key(key: Any) -> PRNGKey:
    """A single typed key (a legacy uint32 ``(2,)`` key is wrapped as one)."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`key` must be a single key; got a key array of shape {key.shape}.")
        return key
    arr = jnp.asarray(key) if isinstance(key, jax.Array | np.ndarray) else None
    if arr is None or arr.dtype != jnp.uint32 or arr.shape != (2,):
        got = type(key).__name__
        if arr is not None:
            got = f"an array of dtype {arr.dtype} and shape {arr.shape}"
        raise TypeError(
            "`key` must be a JAX random key: jax.random.key(seed) (or a legacy "
            f"jax.random.PRNGKey, uint32 of shape (2,)); got {got}."
        )
    return jax.random.wrap_key_data(arr)


def check_sampler(sampler: Any) -> Sampler:
    """Anything with callable ``init`` and ``step`` (the kernel contract)."""
    init, step = getattr(sampler, "init", None), getattr(sampler, "step", None)
    if isinstance(sampler, types.ModuleType) or not (callable(init) and callable(step)):
        raise TypeError(
            "`sampler` must have `init(position) -> state` and `step(key, state) -> "
            "(state, info)`, e.g. jl.mala(logdensity_fn, step_size=...) or "
            f"jl.Sampler(init=..., step=...); got {type(sampler).__name__}."
        )
    return sampler


def check_store(store: Any) -> str | Callable:
    """One of :data:`STORE_MODES`, or a function."""
    if callable(store):
        return store
    if not isinstance(store, str):
        raise TypeError(
            f"`store` must be one of {STORE_MODES} or a function (state, info) -> pytree; "
            f"got {type(store).__name__} {store!r}."
        )
    if store not in STORE_MODES:
        raise ValueError(f"`store` must be one of {STORE_MODES} or a function; got {store!r}.")
    return store


class Start(NamedTuple):
    """Where the chains start: positions, or a batched state and its step counts.

    Attributes
    ----------
    tree : the positions (``resumed=False``) or the batched kernel state.
    count : per chain, the steps taken so far (``None`` for fresh positions).
    resumed : whether ``tree`` is a state to continue.
    """

    tree: Any
    count: Any | None
    resumed: bool


def _is_state(tree: Any) -> bool:
    """A batched kernel state (it has a ``position`` field), as opposed to positions."""
    return not isinstance(tree, Trace) and hasattr(tree, "position")


def _as_array_positions(positions: Any) -> Any:
    """Nested lists of numbers become one array (lists are arrays); pytrees stay as they are."""
    if positions is None or isinstance(positions, str | bytes):
        raise TypeError(
            "`positions` must be the initial positions, every leaf an array (chains, *event), "
            f"or a Trace / kernel state to continue; got {type(positions).__name__}."
        )
    if isinstance(positions, list):
        leaves = jax.tree.leaves(positions)
        if leaves and all(isinstance(x, numbers.Number) for x in leaves):
            try:
                return np.asarray(positions)
            except ValueError as err:
                raise ValueError(
                    f"`positions`: a nested list must be rectangular (chains, *event); {err}"
                ) from err
    return positions


def _check_leaves(tree: Any, where: str) -> None:
    """Every leaf an array of floats."""
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        at = f"`{where}`{jax.tree_util.keystr(path)}"
        if not isinstance(leaf, jax.Array | np.ndarray | np.generic | numbers.Number):
            raise TypeError(f"{at} must be an array of floats; got {type(leaf).__name__}.")
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"{at} must hold floating-point numbers (positions are continuous); got dtype "
                f"{dtype}. Convert it, e.g. x.astype(jnp.float32)."
            )


def num_chains_of(tree: ArrayTree, name: str) -> int:
    """The common leading (chain) axis of every leaf of ``tree``, at least 1."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree; it needs at least one array.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            f"Every leaf of `{name}` needs the same leading chain axis (chains, *event); got "
            f"shapes {[jnp.shape(leaf) for leaf in leaves]}. For one chain use x[None]."
        )
    num_chains = sizes.pop()
    if num_chains == 0:
        raise ValueError(f"`{name}` has 0 chains (leading axis of length 0); it needs at least 1.")
    return num_chains


def _check_count(count: Any, num_chains: int, where: str) -> Any:
    shape, dtype = np.shape(count), jnp.result_type(count)
    if shape != (num_chains,) or not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(
            f"`{where}`: the step counts must be integers of shape ({num_chains},), one per "
            f"chain; got dtype {dtype} and shape {shape}."
        )
    return count


def _start(positions: Any) -> Start:
    """What the user passed: positions, a :class:`Trace`, or a batched state with ``count``."""
    positions = _as_array_positions(positions)
    if isinstance(positions, Trace):
        count = positions.step_count
        if count is None:
            count = getattr(positions.final_state, "count", None)
        if count is None or callable(count):
            raise ValueError(
                "`positions` is a Trace without `step_count` (and its final_state has no "
                "`count`), so the driver cannot tell how many steps its chains have taken."
            )
        return Start(positions.final_state, count, True)
    if _is_state(positions):
        count = getattr(positions, "count", None)
        if count is None or callable(count):  # a NamedTuple without the field has tuple.count
            raise ValueError(
                "`positions` is a kernel state without a `count` field, so the driver cannot "
                "tell how many steps its chains have taken and would repeat their keys. Pass "
                "the Trace itself (jl.run(key, sampler, trace, ...)) to continue a run."
            )
        return Start(positions, count, True)
    return Start(positions, None, False)


def check_start(positions: Any) -> tuple[Start, int]:
    """The start (positions, a :class:`Trace` or a state) checked; and the number of chains.

    Leaves, chain axis and step counts are checked here; finiteness in the
    compiled program (see :func:`start_error`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.run.checks import check_start
    >>> start, num_chains = check_start(jnp.zeros((4, 2)))
    >>> start.resumed, num_chains
    (False, 4)
    """
    start = _start(positions)
    where = "positions (a state)" if start.resumed else "positions"
    position = start.tree.position if start.resumed else start.tree
    _check_leaves(position, where)
    num_chains = num_chains_of(position, where)
    if start.resumed:
        count = _check_count(start.count, num_chains, where)
        num_chains_of(start.tree, where)  # every leaf of the state has the chain axis
        start = start._replace(count=jnp.asarray(count, jnp.int32))
    return start, num_chains


def check_steps(first_count: int, burnin: int, num_steps: int) -> None:
    """Refuse a run whose step counts would overflow int32."""
    if first_count + burnin + num_steps > MAX_COUNT:
        raise ValueError(
            f"`num_steps`: {first_count} + burnin {burnin} + num_steps {num_steps} steps "
            f"overflow the int32 step counts (at most {MAX_COUNT})."
        )


def one_chain_shapes(tree: ArrayTree) -> ArrayTree:
    """``ShapeDtypeStruct``\\ s of one chain's slice of every leaf (the chain axis dropped)."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[1:], jnp.result_type(x)), tree)


def same_kernel(expected: Any, state: Any) -> None:
    """Refuse a state unlike ``expected`` (what this sampler's ``init`` makes for one chain)."""
    given = one_chain_shapes(state)
    expected_def, given_def = jax.tree.structure(expected), jax.tree.structure(given)
    if expected_def != given_def:
        raise ValueError(
            "`positions` is a state of another kernel (or of other kernel options): this "
            f"sampler's init makes {expected_def}, got {given_def}. Continue a run with the "
            "sampler that made it, or pass plain positions (trace.final_state.position)."
        )
    flat = jax.tree_util.tree_flatten_with_path(expected)[0]
    for (path, want), got in zip(flat, jax.tree.leaves(given), strict=True):
        if want.shape != got.shape or want.dtype != got.dtype:
            raise ValueError(
                f"`positions` (a state){jax.tree_util.keystr(path)}: this sampler's init makes "
                f"per-chain shape {want.shape} and dtype {want.dtype}; got {got.shape} and "
                f"{got.dtype}."
            )


def check_store_fn(store: Callable, sampler: Sampler, key: PRNGKey, one_state: Any) -> None:
    """Trace a callable ``store`` on one chain's state and info, naming it if it fails."""
    try:
        info = jax.eval_shape(sampler.step, key, one_state)[1]
        jax.eval_shape(store, one_state, info)
    except Exception as err:
        raise TypeError(
            "`store`: a function store is called as store(state, info) on one chain and must "
            f"return a pytree of arrays; it raised {type(err).__name__}: {err}"
        ) from err


def start_error(
    num_bad: int, first_bad: int, num_chains: int, *, positions: bool, resumed: bool
) -> ValueError:
    """The error for a start that is not finite (counted in the compiled program).

    ``positions``: the positions themselves hold NaN or infinities (else the log
    density or score at them does).
    """
    if positions:
        where = "positions (a state)" if resumed else "positions"
        return ValueError(
            f"`{where}` holds NaN or infinite values in {num_bad} of {num_chains} chains "
            f"(the first: chain {first_bad}); start every chain at finite coordinates inside "
            "the support."
        )
    return ValueError(
        f"The state at the initial positions of {num_bad} of {num_chains} chains is not finite "
        f"(the first: chain {first_bad}): start every chain inside the support, where the log "
        "density and score are finite, and never outside `bounds`."
    )


__all__ = [
    "MAX_COUNT",
    "STORE_MODES",
    "Start",
    "check_bool",
    "check_int",
    "check_key",
    "check_sampler",
    "check_start",
    "check_steps",
    "check_store",
    "check_store_fn",
    "num_chains_of",
    "one_chain_shapes",
    "same_kernel",
    "start_error",
]
