"""The driver: many chains, many steps, one compiled loop.

``jl.run`` vmaps a sampler's ``step`` over the leading (chain) axis of the
positions and ``lax.scan``s it over steps. It counts steps like this::

    total steps run = burnin + num_steps
    draws kept      = num_steps // thin   (num_steps must be a multiple of thin)
    draw j          = the state after burn-in step count + (j + 1) * thin

Keys (:mod:`jlangevin.keys`): step ``t`` of chain ``c`` gets a key made from ``key``,
``c`` and ``t`` alone, where
``t`` counts the chain's steps over its whole life (``state.count`` when the
state has it; :attr:`Trace.step_count` otherwise). The key depends on nothing
else, so a run split into chunks, stopped and resumed, or spread over devices
or hosts gives bit-identical draws to one uninterrupted run, and a kernel may
use its key with ``jax.random`` as it likes (:class:`~jlangevin.types.Sampler`
is the whole contract).

Many devices: the chains are split over a one-axis mesh (``"chains"``) and
everything per chain (``init``, the step loop) runs under
:func:`jax.shard_map`: each device runs the one-device program on its own
chains, so the compiled loop holds no collective and chains never
communicate. Every loop has a static trip count: no host round-trip inside a
compiled chunk; progress bars, chunking and checkpoints work between chunks.

Nothing silent: the loop counts, per chain, the steps that diverged and the
steps that moved the position (one comparison per step and chain); a run in
which a chain diverged or never moved warns once (:class:`SamplingWarning`).
Nothing lost: with ``checkpoint_dir`` the run saves itself atomically every
``checkpoint_every`` kept draws, and the same call resumes after a crash
(:mod:`jlangevin.checkpoint`).
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import types
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jlangevin import checkpoint, keys
from jlangevin._xla_cpu import unrolled_threefry
from jlangevin.types import Array, ArrayTree, PRNGKey, Sampler

STORE_MODES = ("draws", "positions", "stats")
_MAX_COUNT = np.iinfo(np.int32).max  # step counts are int32


class SamplingWarning(UserWarning):
    """A run finished, but some chains diverged or never moved: look before using the draws.

    Raised once per :func:`run` with the counts; :attr:`Trace.diverged` and
    :attr:`Trace.moves` say which chains. Silence it with
    ``warnings.simplefilter("ignore", jl.SamplingWarning)``.
    """


class RunningStats(NamedTuple):
    """Per-chain running moments of the kept draws (Welford's algorithm).

    Attributes
    ----------
    count : number of draws folded in.
    mean : per-chain mean, leaves ``(chains, *event)``.
    m2 : per-chain sum of squared deviations; ``var = m2 / count``.
    info_mean : per-chain mean of each numeric ``info`` field over kept draws.
    """

    count: Array
    mean: ArrayTree
    m2: ArrayTree
    info_mean: Any

    @property
    def var(self) -> ArrayTree:
        """Per-chain (population) variance of the kept draws."""
        return jax.tree.map(lambda m2: m2 / self.count, self.m2)


class Trace(NamedTuple):
    """What :func:`run` returns.

    Attributes
    ----------
    positions : kept draws, leaves ``(chains, draws, *event)`` (``store`` in
        ``"draws"``/``"positions"``), else ``None``.
    info : the kernel's info at each kept draw, leaves ``(chains, draws)``
        (``store="draws"``), else ``None``.
    final_state : the batched state after the last step.
    diverged : per chain, the number of diverged steps in this run, burn-in
        included (zeros when nothing went wrong or the kernel reports no
        ``diverged``).
    stats : running per-chain moments (``store="stats"``), else ``None``.
    values : what a callable ``store`` returned at each kept draw, leaves
        ``(chains, draws, ...)``, else ``None``.
    step_count : per chain, the steps taken over its whole life (earlier runs
        included). Pass the trace itself (or ``final_state``, when the state
        has a ``count``) back to :func:`run` to continue the same chains.
    moves : per chain, the number of steps in this run, burn-in included, after
        which the position differed from the one before (any leaf, any
        coordinate): an accepted move for exact kernels, any finite move for
        approximate ones. A chain with ``moves == 0`` never moved: every
        proposal was rejected, or every step diverged.
    steps : ``(draws,)`` integers: after how many steps of this run each kept draw
        was taken (``burnin + thin * (k + 1)`` for draw ``k``); ``0`` marks the
        initial positions, kept as draw 0 by ``keep_initial=True``. Frame labels
        (``t = 0, 1, ...``) come from here. ``None`` when no draws are kept.

    The properties :attr:`num_diverged_chains`, :attr:`num_diverged_steps` and
    :attr:`num_stuck_chains` summarise them; :func:`run` warns with the same
    counts (:class:`SamplingWarning`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 50)
    >>> trace.num_stuck_chains, trace.num_diverged_chains
    (0, 0)
    """

    positions: ArrayTree | None
    info: Any | None
    final_state: Any
    diverged: Array
    stats: RunningStats | None = None
    values: Any | None = None
    step_count: Array | None = None
    moves: Array | None = None
    steps: np.ndarray | None = None

    def without_initial(self) -> Trace:
        """This trace less draw 0 when that holds the initial positions (``keep_initial=True``).

        The diagnostics call it: a chain's starting point is not one of its draws.
        """
        if self.steps is None or len(self.steps) == 0 or self.steps[0] != 0:
            return self
        drop = lambda tree: None if tree is None else jax.tree.map(lambda x: x[:, 1:], tree)  # noqa: E731
        return self._replace(
            positions=drop(self.positions),
            info=drop(self.info),
            values=drop(self.values),
            steps=self.steps[1:],
        )

    @property
    def num_diverged_chains(self) -> int:
        """How many chains diverged at least once."""
        return int(np.sum(np.asarray(self.diverged) > 0))

    @property
    def num_diverged_steps(self) -> int:
        """Diverged steps over all chains."""
        return int(np.sum(np.asarray(self.diverged, np.int64)))

    @property
    def num_stuck_chains(self) -> int:
        """How many chains never moved (``moves == 0``; every chain after a run of no steps)."""
        if self.moves is None:
            return 0
        return int(np.sum(np.asarray(self.moves) == 0))

    @property
    def num_chains(self) -> int:
        return int(np.shape(self.diverged)[0])


# --------------------------------------------------------------------------- #
# Input checks: each names its argument, says what it expects and what it got
# --------------------------------------------------------------------------- #
def _check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as a Python int ``>= minimum``: ints and numpy/JAX integer scalars only."""
    expected = f"`{name}` must be an integer >= {minimum}"
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{expected}, known when jl.run is called; got a traced value (jl.run runs its "
            "own compiled loops: call it outside jax.jit / jax.vmap)."
        )
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{expected}; got the bool {value!r}.")
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        if np.ndim(value) != 0:
            raise ValueError(f"{expected}; got an array of shape {np.shape(value)}.")
        if not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(f"{expected}; got {value!r} of dtype {value.dtype}.")
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        raise ValueError(f"{expected}; got the non-integer {value!r} (pass int(...) if whole).")
    elif not isinstance(value, numbers.Integral):
        raise TypeError(f"{expected}; got {type(value).__name__} {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{expected}; got {value}.")
    return value


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False; got {type(value).__name__} {value!r}.")
    return bool(value)


def _check_key(key: Any) -> PRNGKey:
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


def _check_sampler(sampler: Any) -> Sampler:
    init, step = getattr(sampler, "init", None), getattr(sampler, "step", None)
    if isinstance(sampler, types.ModuleType) or not (callable(init) and callable(step)):
        raise TypeError(
            "`sampler` must have `init(position) -> state` and `step(key, state) -> "
            "(state, info)`, e.g. jl.mala(logdensity_fn, step_size=...) or "
            f"jl.Sampler(init=..., step=...); got {type(sampler).__name__}."
        )
    return sampler


def _check_store(store: Any) -> str | Callable:
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


def _is_state(tree: Any) -> bool:
    """A batched kernel state (it has a ``position`` field), as opposed to positions."""
    return not isinstance(tree, Trace) and hasattr(tree, "position")


class _Start(NamedTuple):
    """Where the chains start: positions, or a batched state and its step counts."""

    tree: Any
    count: Any | None
    resumed: bool


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


def _num_chains(tree: ArrayTree, name: str) -> int:
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


def _check_finite(tree: Any, num_chains: int, where: str) -> None:
    """Refuse NaN or infinite coordinates, naming the chains, before anything compiles."""
    bad = np.zeros((num_chains,), bool)
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return  # held by other processes too: the compiled start check covers it
        finite = jnp.isfinite(leaf) if isinstance(leaf, jax.Array) else np.isfinite(leaf)
        bad |= ~np.asarray(finite.reshape(num_chains, -1).all(axis=1))
    if bad.any():
        raise ValueError(
            f"`{where}` holds NaN or infinite values in {int(bad.sum())} of {num_chains} "
            f"chains (the first: chain {int(np.argmax(bad))}); start every chain at finite "
            "coordinates inside the support."
        )


def _check_count(count: Any, num_chains: int, where: str) -> Any:
    shape, dtype = np.shape(count), jnp.result_type(count)
    if shape != (num_chains,) or not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(
            f"`{where}`: the step counts must be integers of shape ({num_chains},), one per "
            f"chain; got dtype {dtype} and shape {shape}."
        )
    return count


def _start(positions: Any) -> _Start:
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
        return _Start(positions.final_state, count, True)
    if _is_state(positions):
        count = getattr(positions, "count", None)
        if count is None or callable(count):  # a NamedTuple without the field has tuple.count
            raise ValueError(
                "`positions` is a kernel state without a `count` field, so the driver cannot "
                "tell how many steps its chains have taken and would repeat their keys. Pass "
                "the Trace itself (jl.run(key, sampler, trace, ...)) to continue a run."
            )
        return _Start(positions, count, True)
    return _Start(positions, None, False)


def _check_start_tree(start: _Start) -> tuple[_Start, int]:
    """Leaves, chain axis, finiteness and step counts of the start; the number of chains."""
    where = "positions (a state)" if start.resumed else "positions"
    position = start.tree.position if start.resumed else start.tree
    _check_leaves(position, where)
    num_chains = _num_chains(position, where)
    if start.resumed:
        count = _check_count(start.count, num_chains, where)
        _num_chains(start.tree, where)  # every leaf of the state has the chain axis
        start = start._replace(count=jnp.asarray(count, jnp.int32))
    _check_finite(position, num_chains, where)
    return start, num_chains


def _same_kernel(sampler: Sampler, state: Any) -> None:
    """Refuse a state that ``sampler.init`` would not make (another kernel, other options)."""
    expected = jax.eval_shape(sampler.init, _one_chain_shapes(state.position))
    given = _one_chain_shapes(state)
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


def _check_store_fn(store: Callable, sampler: Sampler, key: PRNGKey, one_state: Any) -> None:
    """Trace a callable ``store`` on one chain's state and info, naming it if it fails."""
    try:
        info = jax.eval_shape(sampler.step, key, one_state)[1]
        jax.eval_shape(store, one_state, info)
    except Exception as err:
        raise TypeError(
            "`store`: a function store is called as store(state, info) on one chain and must "
            f"return a pytree of arrays; it raised {type(err).__name__}: {err}"
        ) from err


class _Checkpointing(NamedTuple):
    path: Path
    every: int
    writer: bool
    on_damage: str


def _check_checkpointing(
    checkpoint_dir: Any, checkpoint_every: Any, on_damage: Any
) -> _Checkpointing | None:
    on_damage = checkpoint.check_on_damage(on_damage)
    if checkpoint_dir is None:
        for name, value, default in [
            ("checkpoint_every", checkpoint_every, None),
            ("checkpoint_on_damage", on_damage, "raise"),
        ]:
            if value != default:
                raise ValueError(
                    f"`{name}` needs `checkpoint_dir` (the folder to write the "
                    f"checkpoints to); got {name}={value!r} and no folder."
                )
        return None
    if checkpoint_every is None:
        raise ValueError(
            "`checkpoint_every` (kept draws between checkpoints) is required with "
            "`checkpoint_dir`; e.g. checkpoint_every=1000."
        )
    every = _check_int(checkpoint_every, "checkpoint_every", 1)
    writer = jax.process_index() == 0
    path = checkpoint.check_dir(checkpoint_dir, writer=writer)
    return _Checkpointing(path, every, writer, on_damage)


# --------------------------------------------------------------------------- #
# Placement
# --------------------------------------------------------------------------- #
def _device_list(devices: Any) -> list:
    if isinstance(devices, jax.Device):
        devices = [devices]
    if isinstance(devices, str | bytes) or not isinstance(devices, Sequence):
        raise TypeError(
            "`devices` must be None, a non-empty sequence of jax devices or a "
            f"jax.sharding.Mesh; got {type(devices).__name__} {devices!r}."
        )
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(
            "`devices` must be None, a non-empty sequence of jax devices or a "
            f"jax.sharding.Mesh; got {devices!r}."
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"`devices` lists a device more than once; got {devices!r}.")
    return devices


def chain_sharding(
    devices: Sequence[jax.Device] | Mesh | None, num_chains: int
) -> NamedSharding | None:
    """The placement :func:`run` gives the chain axis (``None``: one device, arrays left as are).

    Parameters
    ----------
    devices : ``None`` for the default (all devices of all processes when there
        are several and ``num_chains`` divides evenly among them), a sequence of
        devices, or a mesh (the chain axis is split over all of its axes).
    num_chains : number of chains.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.run import chain_sharding
    >>> len(chain_sharding(jax.devices()[:1], 4).device_set)
    1
    """
    if devices is None:
        found = jax.devices()
        if len(found) < 2 or num_chains % len(found):
            return None
        devices = found
    mesh = devices if isinstance(devices, Mesh) else None
    if mesh is None:
        mesh = Mesh(np.asarray(_device_list(devices)), ("chains",))
    if num_chains % mesh.devices.size:
        raise ValueError(
            f"`devices`: {num_chains} chains do not split evenly over {mesh.devices.size} "
            "devices; use a multiple of the device count."
        )
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names))


def _put(x: Any, sharding: NamedSharding) -> jax.Array:
    """``x`` on ``sharding``; host data (the same in every process) becomes a global array."""
    if isinstance(x, jax.Array) and (x.is_fully_addressable is False or jax.process_count() == 1):
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _place(tree: Any, sharding: NamedSharding | None) -> Any:
    """Chain-axis leaves split over ``sharding``, scalars replicated; no-op without one."""
    if sharding is None:
        return tree
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    return jax.tree.map(lambda x: _put(x, sharding if jnp.ndim(x) else replicated), tree)


def _replicated(x: Any, sharding: NamedSharding | None) -> Any:
    if sharding is None:
        return x
    return _put(x, NamedSharding(sharding.mesh, PartitionSpec()))


def _split_specs(tree: Any, mesh: Mesh) -> Any:
    """Per leaf: split along the chain axis, or replicated for a scalar."""
    split = PartitionSpec(mesh.axis_names)
    return jax.tree.map(lambda x: split if jnp.ndim(x) else PartitionSpec(), tree)


def _per_chain(
    fn: Callable, mesh: Mesh | None, shared: Any, per_chain: tuple, out_specs: Any = None
) -> Any:
    """``fn(shared, *per_chain)``; on a mesh, under ``shard_map``: each device on its own chains.

    ``shared`` is replicated to every device; leaves of ``per_chain`` with a
    leading axis are split along the chain axis (scalars replicated); outputs
    are split as ``out_specs`` says (default: every output leaf has the chain
    axis). Nothing is exchanged between devices.
    """
    if mesh is None:
        return fn(shared, *per_chain)
    if out_specs is None:
        out_specs = PartitionSpec(mesh.axis_names)
    in_specs = (PartitionSpec(), *_split_specs(per_chain, mesh))
    # check_vma=False: a kernel's init may return values that do not depend on the
    # position (a step count of 0), which the per-device type check would reject as
    # "replicated" carries of the scan; every chain-axis output is per-chain anyway.
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return mapped(shared, *per_chain)


# --------------------------------------------------------------------------- #
# Start: the batched state, checked
# --------------------------------------------------------------------------- #
def _one_chain_shapes(tree: ArrayTree) -> ArrayTree:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[1:], jnp.result_type(x)), tree)


def _chain_is_finite(state: Any) -> Array:
    """One chain's start is usable: position, and log density and score where present, finite."""
    parts = [state.position, getattr(state, "logdensity", None), getattr(state, "score", None)]
    leaves = [
        leaf
        for leaf in jax.tree.leaves(parts)
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


class _Bound(NamedTuple):
    """A ``functools.partial`` with its array arguments taken out (hashable, comparable).

    Two partials of the same function whose arguments differ only in array
    values (a step size or metric found by warm-up) give equal ``_Bound``s, so
    they share one compiled loop: the arrays travel as arguments of the
    compiled chunk instead of being baked into it as constants.
    """

    func: Callable
    treedef: Any
    statics: tuple  # the non-array leaves of (args, keywords); None where an array was
    is_array: tuple[bool, ...]

    def bind(self, arrays: tuple) -> Callable:
        supply = iter(arrays)
        pairs = zip(self.statics, self.is_array, strict=True)
        leaves = [next(supply) if a else s for s, a in pairs]
        args, keywords = jax.tree.unflatten(self.treedef, leaves)
        return functools.partial(self.func, *args, **keywords)


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray)


def _split_fn(fn: Callable) -> tuple[Any, tuple]:
    """``(hashable template, array arguments)`` of one of a sampler's functions."""
    if type(fn) is not functools.partial:
        return fn, ()
    leaves, treedef = jax.tree.flatten((fn.args, fn.keywords))
    is_array = tuple(_is_array(x) for x in leaves)
    statics = tuple(None if a else x for x, a in zip(leaves, is_array, strict=True))
    arrays = tuple(x for x, a in zip(leaves, is_array, strict=True) if a)
    return _Bound(fn.func, treedef, statics, is_array), arrays


class _Template(NamedTuple):
    """A sampler less its array parameters: what a compiled loop is cached on."""

    kind: type
    parts: tuple

    def bind(self, params: tuple) -> Any:
        fields = [
            part.bind(arrays) if isinstance(part, _Bound) else part
            for part, arrays in zip(self.parts, params, strict=True)
        ]
        return self.kind(*fields)


def _split_sampler(sampler: Sampler) -> tuple[_Template, tuple]:
    """The sampler's template and its array parameters (see :class:`_Bound`).

    The built-in samplers (and warm-up's) are partials of the kernels' ``init``
    and ``step``; a new step size or metric then reuses the compiled loop.
    Other callables are kept as they are (cached by identity).
    """
    parts, params = zip(*(_split_fn(fn) for fn in sampler), strict=True)
    return _Template(type(sampler), tuple(parts)), tuple(params)


def _cached(make: Callable, template: Any, *args: Any) -> Any:
    """``make(template, *args)``, memoized when the template (and settings) hash."""
    try:
        return make(template, *args)
    except TypeError as err:  # an unhashable sampler (or setting): build it afresh
        if "unhashable" not in str(err):
            raise
        return make.__wrapped__(template, *args)


def _check_start(num_bad: Array, first_bad: Array, num_chains: int) -> None:
    """Refuse a start that is not finite (the counts come from the compiled first chunk)."""
    if int(num_bad):
        raise ValueError(
            f"The state at the initial positions of {int(num_bad)} of {num_chains} chains is "
            f"not finite (the first: chain {int(first_bad)}): start every chain inside the "
            "support, where the log density and score are finite, and never outside `bounds`."
        )


# --------------------------------------------------------------------------- #
# The compiled loop
# --------------------------------------------------------------------------- #
class _Carry(NamedTuple):
    """What the step loop carries, per chain (``stats``: only with ``store="stats"``)."""

    state: Any
    count: Array
    diverged: Array
    moves: Array
    stats: RunningStats | None


def _welford(stats: RunningStats, position: ArrayTree, info: Any) -> RunningStats:
    count = stats.count + 1
    inv = 1.0 / count.astype(jnp.result_type(float))
    delta = jax.tree.map(lambda x, m: x - m, position, stats.mean)
    mean = jax.tree.map(lambda m, d: m + d * inv.astype(d.dtype), stats.mean, delta)
    m2 = jax.tree.map(lambda s, d, x, m: s + d * (x - m), stats.m2, delta, position, mean)
    info_mean = jax.tree.map(lambda a, v: a + (v - a) * inv, stats.info_mean, _numeric(info))
    return RunningStats(count, mean, m2, info_mean)


def _numeric(info: Any) -> Any:
    return jax.tree.map(lambda v: jnp.asarray(v, jnp.result_type(float)), info)


def _empty_stats(sampler: Sampler, key: PRNGKey, state: Any) -> RunningStats:
    """Zero moments for the batched ``state``, shaped from one chain's ``info`` (abstractly)."""
    info_one = jax.eval_shape(sampler.step, key, _one_chain_shapes(state))[1]
    num_chains = _num_chains(state.position, "state")
    zeros = jax.tree.map(jnp.zeros_like, state.position)
    info_zeros = jax.tree.map(
        lambda s: jnp.zeros((num_chains, *s.shape), jnp.result_type(float)), info_one
    )
    return RunningStats(jnp.zeros((), jnp.int32), zeros, zeros, info_zeros)


def _diverged(info: Any) -> Array | None:
    """The kernel's per-chain ``diverged`` flag, when its info has one (field or key)."""
    flag = info.get("diverged") if isinstance(info, dict) else getattr(info, "diverged", None)
    if flag is None:
        return None
    flag = jnp.asarray(flag)
    return jnp.any(flag.reshape(flag.shape[0], -1), axis=1) if flag.ndim > 1 else flag


def _moved(before: ArrayTree, after: ArrayTree) -> Array:
    """Per chain: did any coordinate of the position change in this step?"""
    changed = [
        jnp.any((a != b).reshape(a.shape[0], -1), axis=1)
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    ]
    return functools.reduce(jnp.logical_or, changed)


@functools.lru_cache(maxsize=64)
def _compiled_chunk(template: _Template, thin: int, store: Any, mesh: Mesh | None) -> Callable:
    """Jitted ``(key data, chain ids, carry, params) -> (carry, records, start check)``.

    One call makes, in one compiled program: the initial states (``init=True``:
    the carry then holds positions), ``burn`` steps unrecorded, then ``draws``
    kept draws. A run that is not chunked is one call, so one compilation.
    ``params`` are the sampler's array parameters (see :func:`_split_sampler`).
    """

    def local(impl, init, burn, draws, shared, chain_ids, carry):
        key_data, params = shared
        sampler = template.bind(params)  # the arrays are this program's arguments
        args = (impl, init, burn, draws, key_data, chain_ids, carry)
        return _chunk_body(sampler, thin, store, *args)

    @functools.partial(jax.jit, static_argnames=("impl", "init", "burn", "draws"))
    def chunk(key_data, chain_ids, carry, params, *, impl, init, burn, draws):
        fn = functools.partial(local, impl, init, burn, draws)
        out_specs = None
        if mesh is not None:
            split, shared = PartitionSpec(mesh.axis_names), PartitionSpec()
            stats_specs = RunningStats(shared, split, split, split) if store == "stats" else split
            out_specs = (_Carry(split, split, split, split, stats_specs), split, split)
        carry, records, finite = _per_chain(
            fn, mesh, (key_data, params), (chain_ids, carry), out_specs
        )
        start_check = None
        if finite is not None:
            # Reduced outside the per-chain part: replicated, readable in every process.
            bad = ~finite
            start_check = (jnp.sum(bad), jnp.argmax(bad))
        return carry, records, start_check

    return chunk


def _chunk_body(sampler, thin, store, impl, init, burn, draws, key_data, chain_ids, carry):
    """One device's part of a chunk: make the states (``init``), burn in, keep ``draws``."""

    def one_step(chain_keys: Array, carry: _Carry) -> tuple[_Carry, Any]:
        state, info = jax.vmap(sampler.step)(keys.step_keys(chain_keys, carry.count), carry.state)
        diverged = carry.diverged
        flag = _diverged(info)
        if flag is not None:
            diverged = diverged + flag.astype(diverged.dtype)
        moves = carry.moves + _moved(carry.state.position, state.position).astype(jnp.int32)
        return _Carry(state, carry.count + 1, diverged, moves, carry.stats), info

    def kept_draw(chain_keys: Array, carry: _Carry) -> tuple[_Carry, Any]:
        carry, info = one_step(chain_keys, carry)
        if thin > 1:
            carry, info = jax.lax.fori_loop(
                1, thin, lambda _, c: one_step(chain_keys, c[0]), (carry, info)
            )
        state = carry.state
        if store == "stats":
            return carry._replace(stats=_welford(carry.stats, state.position, info)), None
        if store == "draws":
            record = (state.position, info)
        elif store == "positions":
            record = state.position
        else:
            record = jax.vmap(store)(state, info)  # the user writes it for one chain
        return carry, record

    key = jax.random.wrap_key_data(key_data, impl=impl)
    finite = None
    if init:  # the carry holds positions: make the states, and say which are usable
        state = jax.vmap(sampler.init)(carry.state)
        finite = jax.vmap(_chain_is_finite)(state)
        carry = carry._replace(state=state)
    if store == "stats" and carry.stats is None:
        carry = carry._replace(stats=_empty_stats(sampler, key, carry.state))
    chain_keys = keys.chain_keys(key, chain_ids)
    if burn:  # advance without recording (thin does not apply)
        burn_step = lambda c, _: (one_step(chain_keys, c)[0], None)  # noqa: E731
        carry = jax.lax.scan(burn_step, carry, None, length=burn)[0]
    records = None
    if draws:
        draw = lambda c, _: kept_draw(chain_keys, c)  # noqa: E731
        carry, records = jax.lax.scan(draw, carry, None, length=draws)
        # Draw-major from the scan; the trace is chain-major (chains, draws, ...).
        records = jax.tree.map(lambda r: jnp.swapaxes(r, 0, 1), records)
    return carry, records, finite


def _with_params(chunk: Callable, params: tuple) -> Callable:
    """``chunk(carry, **static)`` with the sampler's array parameters passed along."""

    def call(carry: _Carry, **static: Any) -> Any:
        return chunk(carry, params, **static)

    return call


def _chunk_sizes(total: int, chunk: int) -> list[int]:
    sizes = [chunk] * (total // chunk)
    if total % chunk:
        sizes.append(total % chunk)
    return sizes


def _plan(burn: int, draws: int, chunk_size: int | None, thin: int) -> list[tuple[int, int]]:
    """``(burn-in steps, kept draws)`` per compiled call; unchunked, one call in all."""
    if chunk_size is None:
        return [(burn, draws)] if burn or draws else []
    plan = [(size, 0) for size in _chunk_sizes(burn, chunk_size * thin)]
    return plan + [(0, size) for size in _chunk_sizes(draws, chunk_size)]


def _concat(records: list) -> Any:
    if not records:
        return None
    if len(records) == 1:
        return records[0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *records)


def _trace(carry: _Carry, stacked: Any, store: Any, num_draws: int) -> Trace:
    positions = info = values = None
    if store == "draws" and stacked is not None:
        positions, info = stacked
    elif store == "positions":
        positions = stacked
    elif callable(store):
        values = stacked
    if store in ("draws", "positions") and num_draws == 0:
        positions = jax.tree.map(lambda x: x[:, None][:, :0], carry.state.position)
    return Trace(
        positions, info, carry.state, carry.diverged, carry.stats, values, carry.count, carry.moves
    )


def _with_initial(trace: Trace, initial: ArrayTree, store: str) -> Trace:
    """The trace with ``initial`` (leaves ``(chains, *event)``) as draw 0; its info zeros."""
    first = lambda x, y: jnp.concatenate([jnp.asarray(x, y.dtype)[:, None], y], axis=1)  # noqa: E731
    positions = jax.tree.map(first, initial, trace.positions)
    info = trace.info
    if store == "draws" and info is not None:
        info = jax.tree.map(lambda y: first(jnp.zeros_like(y[:, 0]), y), info)
    return trace._replace(positions=positions, info=info)


# --------------------------------------------------------------------------- #
# Faults: said once, with the counts
# --------------------------------------------------------------------------- #
class _Faults(NamedTuple):
    diverged_chains: int
    diverged_steps: int
    stuck_chains: int


def _fault_counts(diverged: Array, moves: Array) -> tuple[Array, Array, Array]:
    return jnp.sum(diverged > 0), jnp.sum(diverged), jnp.sum(moves == 0)


@functools.lru_cache(maxsize=8)
def _fault_counter(shared: NamedSharding) -> Callable:
    """One jitted reduction per mesh, so that repeated runs do not recompile it."""
    return jax.jit(_fault_counts, out_shardings=shared)


def _faults(diverged: Array, moves: Array, sharding: NamedSharding | None) -> _Faults:
    """The counts, readable in every process (reduced in a program of its own, not the loop)."""
    if jax.process_count() > 1 and sharding is not None:
        shared = NamedSharding(sharding.mesh, PartitionSpec())
        counts = _fault_counter(shared)(diverged, moves)
        return _Faults(*(int(c) for c in counts))
    d, m = np.asarray(diverged, np.int64), np.asarray(moves)
    return _Faults(int(np.sum(d > 0)), int(np.sum(d)), int(np.sum(m == 0)))


def _warn_faults(faults: _Faults, num_chains: int, num_steps: int) -> None:
    parts = []
    if faults.diverged_chains:
        parts.append(
            f"{faults.diverged_chains} of {num_chains} chains diverged "
            f"({faults.diverged_steps} diverged steps in all; see trace.diverged)"
        )
    if faults.stuck_chains and num_steps:
        parts.append(
            f"{faults.stuck_chains} of {num_chains} chains never moved in {num_steps} steps "
            "(every proposal rejected or every step diverged; see trace.moves)"
        )
    if parts:
        message = "jl.run: " + "; ".join(parts) + ". Check the step size and the start."
        warnings.warn(message, SamplingWarning, stacklevel=3)


# --------------------------------------------------------------------------- #
# Checkpoints
# --------------------------------------------------------------------------- #
def _fingerprint(
    key: PRNGKey,
    sampler: Sampler,
    store: Any,
    start: _Start,
    settings: dict,
    carry_like: _Carry,
    record_like: Any,
) -> dict:
    """What must be equal for a checkpoint to belong to this call (see jlangevin.checkpoint)."""
    one_state = _one_chain_shapes(carry_like.state)
    store_id = store
    if callable(store):
        info = jax.eval_shape(sampler.step, key, one_state)[1]
        store_id = "function " + checkpoint.program_digest(store, one_state, info)
    return {
        **settings,
        "key": checkpoint.digest(jax.random.key_data(key)),
        "key_impl": str(jax.random.key_impl(key)),
        "sampler": checkpoint.program_digest(sampler.step, key, one_state),
        "sampler init": checkpoint.program_digest(sampler.init, one_state.position),
        "store": store_id,
        "positions": checkpoint.digest((start.tree, start.count)),
        "state structure": checkpoint.structure(carry_like),
        "draw structure": checkpoint.structure(record_like),
    }


def _to_host(tree: Any) -> Any:
    return gather(tree)


def _from_host(tree: Any, sharding: NamedSharding | None) -> Any:
    if sharding is None:
        return jax.device_put(tree)
    return _place(tree, sharding)


def _save(
    ckpt: _Checkpointing,
    fingerprint: dict,
    carry: _Carry,
    new_records: list,
    *,
    burn_done: int,
    draws_from: int,
    draws_done: int,
    files: checkpoint.Files,
    complete: bool,
) -> checkpoint.Files:
    """Gather to the host (every process takes part), then process 0 writes."""
    host_carry = _to_host(carry)
    host_records = None
    if new_records:
        parts = [_to_host(r) for r in new_records]
        host_records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts)
    if ckpt.writer:
        files = checkpoint.save(
            ckpt.path,
            fingerprint,
            host_carry,
            host_records,
            burn_done=burn_done,
            draws_from=draws_from,
            draws_done=draws_done,
            files=files,
            complete=complete,
        )
    if jax.process_count() > 1:
        # Every process waits for the write: a later call then reads the same checkpoint
        # in every process (the folder is shared), so all of them resume from the same point.
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jlangevin checkpoint written")
    return files


# --------------------------------------------------------------------------- #
# The driver
# --------------------------------------------------------------------------- #
def run(
    key: PRNGKey,
    sampler: Sampler,
    positions: ArrayTree,
    num_steps: int,
    *,
    burnin: int = 0,
    thin: int = 1,
    store: str | Callable[[Any, Any], Any] = "draws",
    keep_initial: bool = False,
    chunk_size: int | None = None,
    progress: bool = False,
    devices: Sequence[jax.Device] | Mesh | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    checkpoint_on_damage: str = "raise",
) -> Trace:
    """Run many chains of ``sampler`` in one compiled loop.

    Parameters
    ----------
    key : a JAX random key (typed ``jax.random.key`` or legacy uint32).
    sampler : anything with ``init(position) -> state`` and ``step(key, state) ->
        (state, info)`` for one chain (``jl.ula(...)``, ``jl.mala(...)``,
        ``jl.sgld(...)``, or ``jl.Sampler(init=..., step=...)`` of your own).
    positions : initial positions, every leaf a float array with a leading chain
        axis ``(chains, *event)`` (finite); or a :class:`Trace`, or a batched state
        with a ``count`` field (``trace.final_state`` of the built-in kernels) made
        by this sampler, to continue.
    num_steps : steps after burn-in; ``num_steps // thin`` draws are kept. Integer
        arguments take Python ints and numpy/JAX integer scalars.
    burnin : steps run first and discarded (default 0).
    thin : keep every ``thin``-th step (``num_steps`` must be a multiple).
    store : what to keep per draw: ``"draws"`` (positions and info, default),
        ``"positions"``, ``"stats"`` (running per-chain mean/variance only:
        memory independent of the number of draws), or a function
        ``(state, info) -> pytree`` of one chain's state and info, whose outputs
        are stacked into ``trace.values``.
    keep_initial : keep the positions this run starts from as draw 0 (default
        ``False``), before the burn-in: for pictures of particles over time
        (``t = 0, 1, ...``). With ``store="draws"``, draw 0's info is zeros (no
        step was taken); ``trace.steps[0] == 0`` marks it, and :func:`jl.check
        <jlangevin.diagnostics.check>` and :func:`jl.to_arviz
        <jlangevin.diagnostics.to_arviz>` leave it out. Needs ``store="draws"``
        or ``"positions"``.
    chunk_size : kept draws per compiled call (burn-in uses ``chunk_size * thin``
        steps per call). Chunking bounds peak memory per call and drives the
        progress bar and checkpoints; the draws are the same whatever the chunking.
        Default: one call, or ``checkpoint_every`` when checkpointing.
    progress : show a tqdm progress bar, updated between chunks.
    devices : where the chains run. ``None`` (default): split the chains over
        all devices (of all processes after ``jax.distributed.initialize()``)
        when there are several and the number of chains divides evenly among
        them, else run where the inputs are. A sequence of devices or a
        :class:`~jax.sharding.Mesh` forces that placement; the chains must then
        divide evenly. The draws do not depend on the placement.
    checkpoint_dir : a folder (created if missing; checked writable before
        anything runs) to save the run in. The same call after a crash resumes
        from the last checkpoint and returns the trace of an uninterrupted run,
        bit for bit; once the run has finished, the same call loads its trace
        without sampling again. A checkpoint of other settings (key, sampler,
        positions, steps, burn-in, thinning, store) is refused with a
        ``ValueError`` saying what differs; every file is verified against its
        hash and the manifest (a damaged or mixed checkpoint is a ``ValueError``
        naming the file); a second process writing the same folder is refused
        (a lock). See ``docs/checkpoints.md``.
    checkpoint_every : kept draws between checkpoints (burn-in: every
        ``checkpoint_every * thin`` steps); required with ``checkpoint_dir``.
    checkpoint_on_damage : ``"raise"`` (default): a damaged checkpoint file is a
        ``ValueError``. ``"rewind"``: when the damaged file is the newest (the
        state, or the segment the last checkpoint added), drop it with a warning
        and resume from the previous checkpoint; the trace is the same.

    Returns
    -------
    Trace
        positions ``(chains, draws, *event)``, info ``(chains, draws)``, the final
        state, per-chain diverged and moved step counts and, for
        ``store="stats"``, moments. When a chain diverged or never moved, a
        :class:`SamplingWarning` says so once, with the counts.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 100, burnin=50)
    >>> trace.positions.shape
    (4, 100, 2)
    >>> more = jl.run(jax.random.key(0), sampler, trace, 100)  # the same chains, continued
    """
    key = _check_key(key)
    sampler = _check_sampler(sampler)
    num_steps = _check_int(num_steps, "num_steps", 0)
    burnin = _check_int(burnin, "burnin", 0)
    thin = _check_int(thin, "thin", 1)
    if num_steps % thin:
        raise ValueError(f"`num_steps` ({num_steps}) must be a multiple of `thin` ({thin}).")
    store = _check_store(store)
    keep_initial = _check_bool(keep_initial, "keep_initial")
    if keep_initial and store not in ("draws", "positions"):
        raise ValueError(
            f'`keep_initial=True` needs store="draws" or "positions"; got store={store!r:.60}.'
        )
    progress = _check_bool(progress, "progress")
    if chunk_size is not None:
        chunk_size = _check_int(chunk_size, "chunk_size", 1)
    ckpt = _check_checkpointing(checkpoint_dir, checkpoint_every, checkpoint_on_damage)
    num_draws = num_steps // thin
    if chunk_size is None and ckpt is not None:
        chunk_size = ckpt.every
    elif chunk_size is None and progress:
        chunk_size = max(1, math.ceil(num_draws / 50))

    start, num_chains = _check_start_tree(_start(positions))
    sharding = chain_sharding(devices, num_chains)
    mesh = None if sharding is None else sharding.mesh
    if start.resumed:
        _same_kernel(sampler, start.tree)
        one_state = _one_chain_shapes(start.tree)
    else:
        # One chain's init traced abstractly first: errors in the user's functions (shapes,
        # a non-scalar log density) then name the argument instead of surfacing from vmap.
        one_state = jax.eval_shape(sampler.init, _one_chain_shapes(start.tree))
    if callable(store):
        _check_store_fn(store, sampler, key, one_state)
    count = start.count if start.resumed else np.zeros((num_chains,), np.int32)
    first_count = 0  # the largest step count so far, where this process can read it
    if start.resumed and not (isinstance(count, jax.Array) and not count.is_fully_addressable):
        first_count = int(np.max(np.asarray(count)))
    if first_count + burnin + num_steps > _MAX_COUNT:
        raise ValueError(
            f"`num_steps`: {first_count} + burnin {burnin} + num_steps {num_steps} steps "
            f"overflow the int32 step counts (at most {_MAX_COUNT})."
        )

    zeros = np.zeros((num_chains,), np.int32)
    carry = _place(_Carry(start.tree, count, zeros, zeros, None), sharding)
    initial = carry.state.position if start.resumed else carry.state
    chain_ids = _place(np.arange(num_chains, dtype=np.uint32), sharding)
    key_data = _replicated(np.asarray(jax.random.key_data(key)), sharding)
    template, params = _split_sampler(sampler)
    params = jax.tree.map(lambda x: _replicated(x, sharding), params)
    compiled = _cached(_compiled_chunk, template, thin, store, mesh)
    chunk = functools.partial(compiled, key_data, chain_ids, impl=str(jax.random.key_impl(key)))
    chunk = _with_params(chunk, params)

    first_init = not start.resumed
    burn_done = draws_done = 0
    records: list = []
    files = checkpoint.Files()
    fingerprint = None
    complete = False
    # The writing process holds the folder's lock from before it reads the checkpoint to
    # after it writes the last one: a second writer is refused and changes nothing.
    with checkpoint.locked(ckpt.path if ckpt is not None and ckpt.writer else None):
        if ckpt is not None:
            carry_like, record_like, _ = jax.eval_shape(
                functools.partial(chunk, init=first_init, burn=0, draws=1), carry
            )
            settings = {"num_chains": num_chains, "num_steps": num_steps, "burnin": burnin}
            settings["thin"] = thin
            fingerprint = _fingerprint(
                key, sampler, store, start, settings, carry_like, record_like
            )
            saved = checkpoint.load(
                ckpt.path,
                fingerprint,
                carry_like,
                record_like,
                burnin=burnin,
                num_draws=num_draws,
                on_damage=ckpt.on_damage,
            )
            if saved is not None:
                carry = _from_host(saved.carry, sharding)
                if saved.records is not None:
                    records.append(_from_host(saved.records, sharding))
                burn_done, draws_done = saved.burn_done, saved.draws_done
                files, complete, first_init = saved.files, saved.complete, False

        plan = (
            [] if complete else _plan(burnin - burn_done, num_draws - draws_done, chunk_size, thin)
        )
        if not plan and not complete and (first_init or ckpt is not None):
            plan = [(0, 0)]  # make the states (and the final checkpoint) all the same

        bar = None
        if progress:
            from tqdm.auto import tqdm  # only when asked for

            done = burn_done + draws_done * thin
            total = burnin + num_steps
            bar = tqdm(total=total, initial=done, desc=f"jl.run x{num_chains}", unit="step")

        unsaved, draws_saved, since_save = len(records), draws_done, 0
        for index, (burn, draws) in enumerate(plan):
            init = index == 0 and first_init
            with unrolled_threefry():  # compiles the chunk on its first call (see _xla_cpu)
                carry, record, start_check = chunk(carry, init=init, burn=burn, draws=draws)
            if init:
                _check_start(*start_check, num_chains)
            if record is not None:
                records.append(record)
            burn_done, draws_done = burn_done + burn, draws_done + draws
            since_save += burn + draws * thin
            last = index == len(plan) - 1
            if ckpt is not None and (last or since_save >= ckpt.every * thin):
                files = _save(
                    ckpt,
                    fingerprint,
                    carry,
                    records[unsaved:],
                    burn_done=burn_done,
                    draws_from=draws_saved,
                    draws_done=draws_done,
                    files=files,
                    complete=last,
                )
                unsaved, draws_saved, since_save = len(records), draws_done, 0
            if bar is not None:
                jax.block_until_ready(carry.count)
                bar.update(burn + draws * thin)
        if bar is not None:
            bar.close()

    trace = _trace(carry, _concat(records), store, num_draws)
    steps = burnin + thin * np.arange(1, num_draws + 1)
    if keep_initial:
        trace = _with_initial(trace, initial, store)
        steps = np.concatenate([[0], steps])
    if store in ("draws", "positions") or callable(store):
        trace = trace._replace(steps=steps)
    _warn_faults(_faults(carry.diverged, carry.moves, sharding), num_chains, burnin + num_steps)
    return trace


def gather(tree: Any) -> Any:
    """Every array of ``tree`` (a :class:`Trace`, say) whole, as numpy, in every process.

    After a multi-host run the trace's arrays span devices of several processes
    and no process can read them directly; ``gather`` assembles each one (an
    all-gather across processes) so that ``jl.to_arviz`` and ``jl.check`` can use
    it. In one process it is :func:`jax.device_get`. Every leaf must be an array
    or a number.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> trace = jl.run(jax.random.key(0), jl.ula(lambda x: -x @ x, 0.1), jnp.zeros((2, 1)), 5)
    >>> type(jl.gather(trace).positions).__name__
    'ndarray'
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.core.Tracer) or not isinstance(
            leaf, jax.Array | np.ndarray | np.generic | numbers.Number
        ):
            raise TypeError(
                f"`tree`{jax.tree_util.keystr(path)}: jl.gather takes a pytree of concrete "
                f"arrays (a Trace, say); got {type(leaf).__name__}."
            )
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def chain_keys_for(key: PRNGKey, num_chains: int) -> Array:
    """The per-chain keys ``fold_in(key, c)`` of :func:`run` (step ``t`` folds in ``t`` next).

    Examples
    --------
    >>> import jax
    >>> from jlangevin.run import chain_keys_for
    >>> chain_keys_for(jax.random.key(0), 3).shape
    (3,)
    """
    key = _check_key(key)
    num_chains = _check_int(num_chains, "num_chains", 1)
    return keys.chain_keys(key, jnp.arange(num_chains, dtype=jnp.uint32))


__all__ = [
    "RunningStats",
    "SamplingWarning",
    "Trace",
    "chain_keys_for",
    "chain_sharding",
    "gather",
    "run",
]
