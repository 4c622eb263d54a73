"""The driver: many chains, many steps, one compiled loop.

``jl.run`` vmaps a bound sampler's ``step`` over the leading (chain) axis of
the positions and ``lax.scan``s it over steps. It counts steps like this::

    total steps run = burnin + num_steps
    draws kept      = num_steps // thin   (num_steps must be a multiple of thin)
    draw j          = the state after burn-in step count + (j + 1) * thin

Chain ``c`` holds the key ``fold_in(key, c)`` for the whole run, and a kernel
draws the numbers of a step from that key and the chain's own step counter
(``state.count``; see :mod:`jlangevin.kernels._random`). They depend on nothing
else, so a run split into chunks, or stopped and resumed from
``trace.final_state`` with the same key, gives bit-identical draws to one
uninterrupted run; and no key is derived per step, which would cost a second
pass of the random-bit generator per chain and step.

Many devices: the chain axis is split across devices with ``jax.sharding``
(a one-axis :class:`~jax.sharding.Mesh` named ``"chains"``). The initial state
and the chain keys are placed with ``NamedSharding(mesh, PartitionSpec("chains"))``
and the same compiled loop runs SPMD (XLA's partitioner does the work; chains
never communicate). Every chain computes exactly what it computes on one
device, so the draws are the same bits; the outputs stay sharded along chains.
(Tested bit for bit on 4 emulated devices, log densities within 4 units in
the last place. XLA does not promise the same floating-point code for
different per-device shapes: a reduction such as the log density may get a
multiply-add fused on one placement and not on another, changing its last
bit, and a Metropolis test decided by that bit would then go the other way.)

Kernels with an unguarded form (ULA, SGLD: ``sampler.unguarded_step``) run
blocks of steps without their keep-or-move guard, and a block in which any
chain turned non-finite is run again, guarded, from its start (see
:func:`_blocked_loop`): the same draws and divergence counts as guarded steps,
for fewer passes over the chains per step.
"""

from __future__ import annotations

import collections
import functools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jlangevin.kernels._langevin import Sampler, within_bounds
from jlangevin.types import Array, ArrayTree, PRNGKey

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
    final_state : the batched state after the last step: pass it back to
        :func:`run` as ``positions`` to continue the same chains.
    diverged : per chain, the number of diverged steps over the whole run,
        burn-in included (all zeros when nothing went wrong).
    stats : running per-chain moments (``store="stats"``), else ``None``.
    values : what a callable ``store`` returned at each kept draw, leaves
        ``(chains, draws, ...)``, else ``None``.
    """

    positions: ArrayTree | None
    info: Any | None
    final_state: Any
    diverged: Array
    stats: RunningStats | None = None
    values: Any | None = None

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


def _make_batched_init(sampler: Sampler) -> Callable:
    """Compiled ``positions -> (state, inside bounds)`` for all chains at once."""

    def init_all(positions: ArrayTree) -> tuple[Any, Array | None]:
        state = jax.vmap(sampler.init)(positions)
        inside = None
        if sampler.bounds is not None:
            inside = jax.vmap(lambda p: within_bounds(p, sampler.bounds))(positions)
        return state, inside

    return jax.jit(init_all)


#: Compiled functions per sampler, keyed by its identity (each entry keeps its
#: sampler alive, so an id is never reused while its entry exists).
_PER_SAMPLER: collections.OrderedDict = collections.OrderedDict()
_PER_SAMPLER_LOCK = threading.Lock()


def _per_sampler(kind: str, sampler: Sampler, args: tuple, make: Callable) -> Any:
    """``make(sampler, *args)``, memoized by the sampler's identity (LRU, 64 entries).

    Samplers are built once and run many times; rebuilding ``jit(vmap(init))`` or
    the chunk loop on every call would recompile every time, a fixed cost that
    dominated short runs. Identity is the right key: two samplers built from the
    same settings hold different closures anyway, and array settings are unhashable.
    """
    key = (kind, id(sampler), *args)
    with _PER_SAMPLER_LOCK:  # runs from several threads share the cache
        hit = _PER_SAMPLER.get(key)
        if hit is not None and hit[0] is sampler:
            _PER_SAMPLER.move_to_end(key)
            return hit[1]
    value = make(sampler, *args)  # outside the lock: tracing may take a while
    with _PER_SAMPLER_LOCK:
        _PER_SAMPLER[key] = (sampler, value)
        while len(_PER_SAMPLER) > 64:
            _PER_SAMPLER.popitem(last=False)
    return value


def _batched_init(sampler: Sampler) -> Callable:
    return _per_sampler("init", sampler, (), _make_batched_init)


def _one_chain_shapes(tree: ArrayTree) -> ArrayTree:
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x)[1:], jnp.result_type(x)), tree)


def _check_init_shapes(sampler: Sampler, shapes: ArrayTree) -> None:
    """Trace one chain's ``init`` abstractly, once per (sampler, shapes).

    Errors in the user's functions (shapes, a non-scalar log density) then name
    the argument instead of surfacing from inside vmap; tracing again on every
    call would cost short runs in a long-lived process.
    """
    leaves, tree_def = jax.tree.flatten(shapes)
    signature = (tree_def, tuple((leaf.shape, leaf.dtype) for leaf in leaves))
    _per_sampler("init-shapes", sampler, (signature,), lambda s, _: jax.eval_shape(s.init, shapes))


def _initial_state(sampler: Sampler, positions: Any) -> Any:
    """Batched state from positions (or a state to resume), with concrete checks."""
    if isinstance(positions, sampler.state_type):
        _num_chains(positions, "positions (a state)")
        return positions
    num_chains = _num_chains(positions, "positions")
    # Trace one chain's init abstractly first, so shape/dtype/scalar errors name the
    # argument instead of surfacing from inside vmap; the value checks follow, for
    # every chain at once, on the batched result.
    _check_init_shapes(sampler, _one_chain_shapes(positions))
    state, inside = _batched_init(sampler)(positions)
    if inside is not None:
        inside = np.asarray(inside)
        if not inside.all():
            raise ValueError(
                f"{int((~inside).sum())} of {num_chains} initial positions lie outside `bounds` "
                f"{sampler.bounds} (first: {np.flatnonzero(~inside)[:5].tolist()})."
            )
    logdensity = getattr(state, "logdensity", None)
    if logdensity is not None:
        bad = np.flatnonzero(~np.isfinite(np.asarray(logdensity)))
        if bad.size:
            raise ValueError(
                f"The log density is not finite at the initial positions of {bad.size} of "
                f"{num_chains} chains (first: {bad[:5].tolist()}); start inside the support."
            )
    return state


# --------------------------------------------------------------------------- #
# The compiled loop
# --------------------------------------------------------------------------- #
def _welford(stats: RunningStats, position: ArrayTree, info: Any) -> RunningStats:
    count = stats.count + 1
    # Multiply by 1/count, written out: XLA may rewrite a division by a broadcast
    # scalar into this on one device but not in the partitioned program, and the
    # last bit would then depend on how the chains are placed.
    inv = 1.0 / count.astype(jnp.result_type(float))
    delta = jax.tree.map(lambda x, m: x - m, position, stats.mean)
    mean = jax.tree.map(lambda m, d: m + d * inv.astype(d.dtype), stats.mean, delta)
    m2 = jax.tree.map(lambda s, d, x, m: s + d * (x - m), stats.m2, delta, position, mean)
    info_mean = jax.tree.map(lambda a, v: a + (v - a) * inv, stats.info_mean, _numeric(info))
    return RunningStats(count, mean, m2, info_mean)


def _numeric(info: Any) -> Any:
    return jax.tree.map(lambda v: jnp.asarray(v, jnp.result_type(float)), info)


def _empty_stats(state: Any, info_shape: Any) -> RunningStats:
    zeros = jax.tree.map(jnp.zeros_like, state.position)
    info_zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, jnp.result_type(float)), info_shape)
    return RunningStats(jnp.zeros((), jnp.int32), zeros, zeros, info_zeros)


def _make_chunk(sampler: Sampler, thin: int, store: Any) -> Callable:
    """Compiled function advancing all chains by ``num_draws * thin`` steps."""

    def one_step(chain_keys, carry, guarded):
        state, diverged, stats = carry
        step = sampler.step if guarded else sampler.unguarded_step
        state, info = jax.vmap(step)(chain_keys, state)
        if guarded:  # an unguarded step never diverges (a block that did is replayed)
            diverged = diverged + info.diverged.astype(diverged.dtype)
        return (state, diverged, stats), info

    def kept_draw(chain_keys, carry, guarded):
        carry, info = one_step(chain_keys, carry, guarded)
        if thin > 1:
            carry, info = jax.lax.fori_loop(
                1, thin, lambda _, c: one_step(chain_keys, c[0], guarded), (carry, info)
            )
        state, diverged, stats = carry
        if store == "stats":
            return (state, diverged, _welford(stats, state.position, info)), None
        if store == "draws":
            record = (state.position, info)
        elif store == "positions":
            record = state.position
        else:
            record = jax.vmap(store)(state, info)  # the user writes it for one chain
        return carry, record

    speculate = sampler.unguarded_step is not None

    @functools.partial(jax.jit, static_argnames=("num_draws", "keep"))
    def chunk(chain_keys, carry, num_draws: int, keep: bool):
        if not keep:  # burn-in: advance without recording (thin does not apply)

            def burn(c, guarded):
                return one_step(chain_keys, c, guarded)[0], None

            return _blocked_loop(burn, carry, num_draws, None, speculate)
        draw = functools.partial(kept_draw, chain_keys)
        shapes = jax.eval_shape(lambda c: draw(c, True)[1], carry)
        # Draws go straight into chain-major buffers (chains, draws, ...), a block at a time.
        buffers = jax.tree.map(
            lambda s: jnp.zeros((s.shape[0], num_draws, *s.shape[1:]), s.dtype), shapes
        )
        return _blocked_loop(draw, carry, num_draws, buffers, speculate)

    return chunk


#: Kept draws per inner loop of :func:`_blocked_loop`.
BLOCK = 8


def _blocked_loop(
    draw: Callable, carry: Any, num_draws: int, buffers: Any, speculate: bool = False
) -> tuple[Any, Any]:
    """Run ``draw`` ``num_draws`` times; write its records into chain-major ``buffers``.

    ``draw(carry, guarded)`` makes one kept draw; ``carry`` is ``(state,
    diverged, stats)``. The loop is a scan over blocks of :data:`BLOCK` draws,
    each an inner scan that writes its records draw-major into a ``(block,
    chains, ...)`` scratch buffer, copied into the ``(chains, draws, ...)``
    buffers in one transposing slice per block (one chain, 10-D ULA on CPU:
    ~2x faster than writing every draw into the output directly); the scratch
    buffer is allocated once and reused, and a block write touches each
    chain's row once per block rather than once per draw. ``buffers`` is
    ``None`` when nothing is recorded.

    With ``speculate`` (the sampler has an unguarded step), a block first runs
    unguarded: no keep-or-move test, no divergence counting, which on a small
    problem are several passes over the chains per step. If every chain's state
    is finite at the end, no step of the block diverged (the unguarded step
    keeps a diverged state non-finite) and the block is exactly what the
    guarded steps give; otherwise the block is run again, guarded, from its
    start. After a block that diverged, blocks run guarded until one does not,
    so a run that keeps diverging pays for the guarded steps only.
    """
    size = max(min(BLOCK, num_draws), 1)

    def steps(carry: Any, scratch: Any, length: int, guarded: bool) -> tuple[Any, Any]:
        def step(c: tuple[Any, Any], j: Any) -> tuple[tuple[Any, Any], None]:
            carry, scratch = c
            carry, record = draw(carry, guarded)
            if scratch is not None:
                scratch = jax.tree.map(
                    lambda s, r: jax.lax.dynamic_update_index_in_dim(s, r, j, 0), scratch, record
                )
            return (carry, scratch), None

        return jax.lax.scan(step, (carry, scratch), jnp.arange(length))[0]

    def at_most_once(run: Any, times: Array, carry: Any, scratch: Any) -> tuple[Any, Any]:
        """``run(scratch)`` if ``times`` is 1, else ``(carry, scratch)``, as a while loop.

        A loop rather than ``lax.cond``: XLA updates a loop's carry in place,
        where a conditional on CPU copied the whole scratch block in and out.
        """

        def body(c: tuple[Array, Any, Any]) -> tuple[Array, Any, Any]:
            return (c[0] + 1, *run(c[2]))

        out = jax.lax.while_loop(lambda c: c[0] < times, body, (jnp.int32(0), carry, scratch))
        return out[1], out[2]

    def block(c: tuple[Any, ...], start: Any, length: int, guarded: bool) -> tuple[Any, ...]:
        carry, scratch, buffers, fast = c
        if not guarded:
            start_carry = carry
            carry, scratch = at_most_once(
                lambda s: steps(start_carry, s, length, False),
                fast.astype(jnp.int32),
                carry,
                scratch,
            )
            replay = ~fast | ~_all_finite(carry[0])
            carry, scratch = at_most_once(
                lambda s: steps(start_carry, s, length, True),
                replay.astype(jnp.int32),
                carry,
                scratch,
            )
            fast = ~replay | jnp.all(carry[1] == start_carry[1])
        else:
            carry, scratch = steps(carry, scratch, length, True)
        if buffers is not None:
            buffers = jax.tree.map(
                lambda b, s: jax.lax.dynamic_update_slice_in_dim(
                    b, jnp.swapaxes(s[:length], 0, 1), start, axis=1
                ),
                buffers,
                scratch,
            )
        return carry, scratch, buffers, fast

    scratch = None
    if buffers is not None:
        scratch = jax.tree.map(
            lambda b: jnp.zeros((size, b.shape[0], *b.shape[2:]), b.dtype), buffers
        )
    num_blocks, rest = divmod(num_draws, size)
    state, _ = jax.lax.scan(
        lambda c, b: (block(c, b * size, size, not speculate), None),
        (carry, scratch, buffers, jnp.asarray(True)),
        jnp.arange(num_blocks),
    )
    if rest:  # fewer than BLOCK draws, once: guarded (half the code to compile)
        state = block(state, num_blocks * size, rest, True)
    carry, _, buffers, _ = state
    return carry, buffers


def _all_finite(state: Any) -> Array:
    """Scalar bool: every floating-point element of the (batched) state is finite."""
    leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return functools.reduce(jnp.logical_and, [jnp.all(jnp.isfinite(x)) for x in leaves])


def _chunk_fn(sampler: Sampler, thin: int, store: Any) -> Callable:
    return _per_sampler("chunk", sampler, (thin, store), _make_chunk)


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
    sampler : a bound sampler (``jl.ula(...)``, ``jl.mala(...)``, ``jl.sgld(...)``).
    positions : initial positions, every leaf with a leading chain axis
        ``(chains, *event)``; or a batched state (``trace.final_state``) to resume.
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
    progress : show a tqdm progress bar, updated between chunks (no host
        round-trip inside the compiled loop).
    devices : where the chains run. ``None`` (default): split the chains over
        all local devices (all devices of all processes after
        ``jax.distributed.initialize()``) when there are several and the
        number of chains divides evenly among them, else run where the inputs
        are (one device). A sequence of devices or a
        :class:`~jax.sharding.Mesh` (the chain axis is split over all of its
        axes) forces that placement; the chains must then divide evenly.
        Placement does not change the draws in any test (see the module
        notes for what XLA does not promise).

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
    """
    key = _check_key(key)
    if not isinstance(sampler, Sampler):
        raise TypeError(
            "`sampler` must be a bound sampler such as jl.mala(logdensity_fn, step_size=...); "
            f"got {type(sampler).__name__}."
        )
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

    sharding = chain_sharding(devices, _num_chains(positions, "positions"))
    positions = _place(positions, sharding)
    state = _initial_state(sampler, positions)
    num_chains = _num_chains(state.position, "positions")
    chain_keys = _place(chain_keys_for(key, num_chains), sharding)
    diverged = _place(jnp.zeros((num_chains,), jnp.int32), sharding)
    stats = None
    if store == "stats":
        # One chain's info, abstractly (cached by jax per sampler), with the chain axis added.
        info_one = jax.eval_shape(sampler.step, key, _one_chain_shapes(state))[1]
        info_shape = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct((num_chains, *s.shape), s.dtype), info_one
        )
        stats = _place(_empty_stats(state, info_shape), sharding)
    chunk = _chunk_fn(sampler, thin, store)

    bar = None
    if progress:
        from tqdm.auto import tqdm  # only when asked for

        bar = tqdm(total=burnin + num_steps, desc=f"{sampler.name} x{num_chains}", unit="step")

    carry = (state, diverged, stats)
    burn_chunk = burnin if chunk_size is None else chunk_size * thin
    for size in _chunk_sizes(burnin, max(burn_chunk, 1)):
        carry, _ = chunk(chain_keys, carry, num_draws=size, keep=False)
        if bar is not None:
            jax.block_until_ready(carry[1])
            bar.update(size)
    records = []
    for size in _chunk_sizes(num_draws, chunk_size or max(num_draws, 1)):
        carry, record = chunk(chain_keys, carry, num_draws=size, keep=True)
        records.append(record)
        if bar is not None:
            jax.block_until_ready(carry[1])
            bar.update(size * thin)
    if bar is not None:
        bar.close()

    state, diverged, stats = carry
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
    return Trace(positions_out, info_out, state, diverged, stats, values_out)


def chain_sharding(
    devices: Sequence[jax.Device] | Mesh | None, num_chains: int
) -> NamedSharding | None:
    """The placement :func:`run` gives the chain axis (``None``: leave arrays where they are).

    Parameters
    ----------
    devices : ``None`` for the default (all devices when there are several and
        ``num_chains`` divides evenly among them), a sequence of devices, or a mesh.
    num_chains : number of chains.
    """
    if devices is None:
        found = jax.devices() if jax.process_count() > 1 else jax.local_devices()
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


def _place(tree: Any, sharding: NamedSharding | None) -> Any:
    """Put chain-axis leaves on ``sharding`` (scalars replicated); no-op without one."""
    if sharding is None:
        return tree
    replicated = NamedSharding(sharding.mesh, PartitionSpec())
    return jax.tree.map(lambda x: jax.device_put(x, sharding if jnp.ndim(x) else replicated), tree)


def chain_keys_for(key: PRNGKey, num_chains: int) -> Array:
    """The per-chain keys :func:`run` derives from ``key`` (for reproducing a step by hand)."""
    return _chain_keys(_check_key(key), num_chains)


@functools.partial(jax.jit, static_argnums=1)
def _chain_keys(key: PRNGKey, num_chains: int) -> Array:
    # Compiled once per chain count: run eagerly, the vmap re-traced on every call.
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(num_chains))


__all__ = ["RunningStats", "Trace", "chain_keys_for", "chain_sharding", "run"]
