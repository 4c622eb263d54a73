"""The driver: many chains, many steps, one compiled loop.

``jl.run`` vmaps a sampler's ``step`` over the leading (chain) axis of the
positions and ``lax.scan``s it over steps. It counts steps like this::

    total steps run = burnin + num_steps
    draws kept      = num_steps // thin   (num_steps must be a multiple of thin)
    draw j          = the state after burn-in step count + (j + 1) * thin

Keys: step ``t`` of chain ``c`` gets ``fold_in(fold_in(key, c), t)``, where
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
compiled chunk; progress bars and chunking work between chunks.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jlangevin._xla_cpu import unrolled_threefry
from jlangevin.types import Array, ArrayTree, PRNGKey, Sampler

STORE_MODES = ("draws", "positions", "stats")


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
    diverged : per chain, the number of diverged steps over the whole run,
        burn-in included (zeros when nothing went wrong or the kernel reports no
        ``diverged``).
    stats : running per-chain moments (``store="stats"``), else ``None``.
    values : what a callable ``store`` returned at each kept draw, leaves
        ``(chains, draws, ...)``, else ``None``.
    step_count : per chain, the steps taken over its whole life (earlier runs
        included). Pass the trace itself (or ``final_state``, when the state
        has a ``count``) back to :func:`run` to continue the same chains.
    """

    positions: ArrayTree | None
    info: Any | None
    final_state: Any
    diverged: Array
    stats: RunningStats | None = None
    values: Any | None = None
    step_count: Array | None = None

    @property
    def num_diverged_chains(self) -> int:
        """How many chains diverged at least once."""
        return int(np.sum(np.asarray(self.diverged) > 0))

    @property
    def num_chains(self) -> int:
        return int(np.shape(self.diverged)[0])


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #
def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, jax.Array | np.ndarray) and value.ndim == 0:
        if jnp.issubdtype(value.dtype, jnp.integer):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _num_chains(tree: ArrayTree, name: str) -> int:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        raise ValueError(
            f"Every leaf of `{name}` needs the same leading chain axis (chains, *event); got "
            f"shapes {[jnp.shape(leaf) for leaf in leaves]}. For one chain use x[None]."
        )
    return sizes.pop()


def _check_key(key: Any) -> PRNGKey:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"`key` must be a single key; got a key array of shape {key.shape}.")
        return key
    arr = jnp.asarray(key) if isinstance(key, jax.Array | np.ndarray) else None
    if arr is None or arr.dtype != jnp.uint32 or arr.shape != (2,):
        raise TypeError(
            "`key` must be a JAX random key: jax.random.key(seed) (or a legacy "
            f"jax.random.PRNGKey); got {type(key).__name__}."
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


def _is_state(tree: Any) -> bool:
    """A batched kernel state (it has a ``position`` field), as opposed to positions."""
    return not isinstance(tree, Trace) and hasattr(tree, "position")


def _start(positions: Any) -> tuple[Any, Array | None, bool]:
    """``(positions or state, step counts or None, is a state)`` from what the user passed."""
    if isinstance(positions, Trace):
        return positions.final_state, positions.step_count, True
    if _is_state(positions):
        count = getattr(positions, "count", None)
        if count is None or callable(count):  # a NamedTuple without the field has tuple.count
            raise ValueError(
                "`positions` is a kernel state without a `count` field, so the driver cannot "
                "tell how many steps its chains have taken and would repeat their keys. Pass "
                "the Trace itself (jl.run(key, sampler, trace, ...)) to continue a run."
            )
        return positions, jnp.asarray(count, jnp.int32), True
    return positions, None, False


# --------------------------------------------------------------------------- #
# Placement
# --------------------------------------------------------------------------- #
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
    """
    if devices is None:
        found = jax.devices()
        if len(found) < 2 or num_chains % len(found):
            return None
        devices = found
    if isinstance(devices, Mesh):
        mesh = devices
    else:
        devices = list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise TypeError(
                "`devices` must be None, a non-empty sequence of jax devices or a "
                f"jax.sharding.Mesh; got {devices!r}."
            )
        mesh = Mesh(np.asarray(devices), ("chains",))
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


def _cached(make: Callable, sampler: Sampler, *args: Any) -> Any:
    """``make(sampler, *args)``, memoized when the sampler (a NamedTuple of functions) hashes."""
    try:
        return make(sampler, *args)
    except TypeError as err:  # an unhashable sampler (or setting): build it afresh
        if "unhashable" not in str(err):
            raise
        return make.__wrapped__(sampler, *args)


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


def step_keys(chain_keys: Array, counts: Array) -> Array:
    """The keys of the chains' next steps: ``fold_in(chain_key, count)`` for each chain."""
    return jax.vmap(jax.random.fold_in)(chain_keys, counts)


@functools.lru_cache(maxsize=64)
def _compiled_chunk(sampler: Sampler, thin: int, store: Any, mesh: Mesh | None) -> Callable:
    """Jitted ``(key data, chain ids, carry) -> (carry, records, start check)``.

    One call makes, in one compiled program: the initial states (``init=True``:
    the carry then holds positions), ``burn`` steps unrecorded, then ``draws``
    kept draws. A run that is not chunked is one call, so one compilation.
    """

    def one_step(chain_keys: Array, carry: tuple) -> tuple[tuple, Any]:
        state, count, diverged, stats = carry
        state, info = jax.vmap(sampler.step)(step_keys(chain_keys, count), state)
        flag = _diverged(info)
        if flag is not None:
            diverged = diverged + flag.astype(diverged.dtype)
        return (state, count + 1, diverged, stats), info

    def kept_draw(chain_keys: Array, carry: tuple) -> tuple[tuple, Any]:
        carry, info = one_step(chain_keys, carry)
        if thin > 1:
            carry, info = jax.lax.fori_loop(
                1, thin, lambda _, c: one_step(chain_keys, c[0]), (carry, info)
            )
        state, count, diverged, stats = carry
        if store == "stats":
            return (state, count, diverged, _welford(stats, state.position, info)), None
        if store == "draws":
            record = (state.position, info)
        elif store == "positions":
            record = state.position
        else:
            record = jax.vmap(store)(state, info)  # the user writes it for one chain
        return carry, record

    def local(impl, init, burn, draws, key_data, chain_ids, carry):
        key = jax.random.wrap_key_data(key_data, impl=impl)
        finite = None
        if init:  # the carry holds positions: make the states, and say which are usable
            positions, count, diverged, stats = carry
            state = jax.vmap(sampler.init)(positions)
            finite = jax.vmap(_chain_is_finite)(state)
            carry = (state, count, diverged, stats)
        if store == "stats" and carry[3] is None:
            carry = (*carry[:3], _empty_stats(sampler, key, carry[0]))
        chain_keys = jax.vmap(jax.random.fold_in, (None, 0))(key, chain_ids)
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

    @functools.partial(jax.jit, static_argnames=("impl", "init", "burn", "draws"))
    def chunk(key_data, chain_ids, carry, *, impl, init, burn, draws):
        fn = functools.partial(local, impl, init, burn, draws)
        out_specs = None
        if mesh is not None:
            split, shared = PartitionSpec(mesh.axis_names), PartitionSpec()
            stats_specs = RunningStats(shared, split, split, split) if store == "stats" else split
            out_specs = ((split, split, split, stats_specs), split, split)
        carry, records, finite = _per_chain(fn, mesh, key_data, (chain_ids, carry), out_specs)
        start_check = None
        if finite is not None:
            # Reduced outside the per-chain part: replicated, readable in every process.
            bad = ~finite
            start_check = (jnp.sum(bad), jnp.argmax(bad))
        return carry, records, start_check

    return chunk


def _chunk_sizes(total: int, chunk: int) -> list[int]:
    sizes = [chunk] * (total // chunk)
    if total % chunk:
        sizes.append(total % chunk)
    return sizes


def run(
    key: PRNGKey,
    sampler: Sampler,
    positions: ArrayTree,
    num_steps: int,
    *,
    burnin: int = 0,
    thin: int = 1,
    store: str | Callable[[Any, Any], Any] = "draws",
    chunk_size: int | None = None,
    progress: bool = False,
    devices: Sequence[jax.Device] | Mesh | None = None,
) -> Trace:
    """Run many chains of ``sampler`` in one compiled loop.

    Parameters
    ----------
    key : a JAX random key (typed ``jax.random.key`` or legacy uint32).
    sampler : anything with ``init(position) -> state`` and ``step(key, state) ->
        (state, info)`` for one chain (``jl.ula(...)``, ``jl.mala(...)``,
        ``jl.sgld(...)``, or ``jl.Sampler(init=..., step=...)`` of your own).
    positions : initial positions, every leaf with a leading chain axis
        ``(chains, *event)``; or a :class:`Trace`, or a batched state with a
        ``count`` field (``trace.final_state`` of the built-in kernels), to continue.
    num_steps : steps after burn-in; ``num_steps // thin`` draws are kept.
    burnin : steps run first and discarded (default 0).
    thin : keep every ``thin``-th step (``num_steps`` must be a multiple).
    store : what to keep per draw: ``"draws"`` (positions and info, default),
        ``"positions"``, ``"stats"`` (running per-chain mean/variance only:
        memory independent of the number of draws), or a function
        ``(state, info) -> pytree`` of one chain's state and info, whose outputs
        are stacked into ``trace.values``.
    chunk_size : kept draws per compiled call (burn-in uses ``chunk_size * thin``
        steps per call). Chunking bounds peak memory per call and drives the
        progress bar; the draws are the same whatever the chunking.
    progress : show a tqdm progress bar, updated between chunks.
    devices : where the chains run. ``None`` (default): split the chains over
        all devices (of all processes after ``jax.distributed.initialize()``)
        when there are several and the number of chains divides evenly among
        them, else run where the inputs are. A sequence of devices or a
        :class:`~jax.sharding.Mesh` forces that placement; the chains must then
        divide evenly. The draws do not depend on the placement.

    Returns
    -------
    Trace
        positions ``(chains, draws, *event)``, info ``(chains, draws)``, the final
        state, per-chain diverged step counts and, for ``store="stats"``, moments.

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
    if not callable(store) and store not in STORE_MODES:
        raise ValueError(f"`store` must be one of {STORE_MODES} or a function; got {store!r}.")
    num_draws = num_steps // thin
    if chunk_size is not None:
        chunk_size = _check_int(chunk_size, "chunk_size", 1)
    elif progress:
        chunk_size = max(1, math.ceil(num_draws / 50))

    start, count, resumed = _start(positions)
    where = "positions (a state)" if resumed else "positions"
    num_chains = _num_chains(start.position if resumed else start, where)
    sharding = chain_sharding(devices, num_chains)
    mesh = None if sharding is None else sharding.mesh
    if not resumed:
        # One chain's init traced abstractly first: errors in the user's functions (shapes,
        # a non-scalar log density) then name the argument instead of surfacing from vmap.
        jax.eval_shape(sampler.init, _one_chain_shapes(start))
    if count is None:
        count = np.zeros((num_chains,), np.int32)
    carry = _place((start, count, np.zeros((num_chains,), np.int32), None), sharding)
    chain_ids = _place(np.arange(num_chains, dtype=np.uint32), sharding)
    key_data = _replicated(np.asarray(jax.random.key_data(key)), sharding)
    compiled = _cached(_compiled_chunk, sampler, thin, store, mesh)
    chunk = functools.partial(compiled, key_data, chain_ids, impl=str(jax.random.key_impl(key)))

    bar = None
    if progress:
        from tqdm.auto import tqdm  # only when asked for

        bar = tqdm(total=burnin + num_steps, desc=f"jl.run x{num_chains}", unit="step")

    # Chunks as (burn-in steps, kept draws) per compiled call; unchunked, one call in all.
    if chunk_size is None:
        plan = [(burnin, num_draws)]
    else:
        plan = [(size, 0) for size in _chunk_sizes(burnin, chunk_size * thin)]
        plan += [(0, size) for size in _chunk_sizes(num_draws, chunk_size)]
    records = []
    for index, (burn, draws) in enumerate(plan or [(0, 0)]):
        init = index == 0 and not resumed
        with unrolled_threefry():  # compiles the chunk on its first call (see _xla_cpu)
            carry, record, start_check = chunk(carry, init=init, burn=burn, draws=draws)
        if init:
            _check_start(*start_check, num_chains)
        if record is not None:
            records.append(record)
        if bar is not None:
            jax.block_until_ready(carry[1])
            bar.update(burn + draws * thin)
    if bar is not None:
        bar.close()

    state, count, diverged, stats = carry
    stacked = None
    if records and records[0] is not None:
        stacked = (
            records[0]
            if len(records) == 1
            else jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *records)
        )
    positions_out = info_out = values_out = None
    if store == "draws" and stacked is not None:
        positions_out, info_out = stacked
    elif store == "positions":
        positions_out = stacked
    elif callable(store):
        values_out = stacked
    if store in ("draws", "positions") and num_draws == 0:
        positions_out = jax.tree.map(lambda x: x[:, None][:, :0], state.position)
    return Trace(positions_out, info_out, state, diverged, stats, values_out, count)


def gather(tree: Any) -> Any:
    """Every array of ``tree`` (a :class:`Trace`, say) whole, as numpy, in every process.

    After a multi-host run the trace's arrays span devices of several processes
    and no process can read them directly; ``gather`` assembles each one (an
    all-gather across processes) so that ``jl.to_arviz`` and ``jl.check`` can use
    it. In one process it is :func:`jax.device_get`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> trace = jl.run(jax.random.key(0), jl.ula(lambda x: -x @ x, 0.1), jnp.zeros((2, 1)), 5)
    >>> type(jl.gather(trace).positions).__name__
    'ndarray'
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


def chain_keys_for(key: PRNGKey, num_chains: int) -> Array:
    """The per-chain keys ``fold_in(key, c)`` of :func:`run` (step ``t`` folds in ``t`` next)."""
    key = _check_key(key)
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(num_chains, dtype=jnp.uint32))


__all__ = [
    "RunningStats",
    "Trace",
    "chain_keys_for",
    "chain_sharding",
    "gather",
    "run",
    "step_keys",
]
