"""The compiled loop: one chunk of a run (make the states, burn in, keep draws) as one program.

A chunk is ``lax.scan``/``fori_loop`` over steps of the ``vmap``-ed ``step``,
every loop with a static trip count (no host round-trip inside). The kept
draws are written chain-major, ``(chains, draws, ...)``, into a buffer the loop
carries and updates in place: no draw-major stack and no transpose copy, so
the draws' peak is about their own size. The program also returns a small
``health`` array: whether the chains' start is finite, and their diverged and
moved step counts; the driver reads it once (:mod:`jlangevin.run.faults`).

:data:`compiled_chunk` holds the compiled programs (see :mod:`jlangevin.run.cache`
for what a program is keyed on).

Examples
--------
>>> from jlangevin.run.loop import plan
>>> plan(burn=10, draws=6, chunk_size=4, thin=2)
[(8, 0), (2, 0), (0, 4), (0, 2)]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from jlangevin import keys
from jlangevin.run.cache import MAX_PROGRAMS, ProgramCache, Template, unheld
from jlangevin.run.faults import summary
from jlangevin.run.placement import per_chain
from jlangevin.run.trace import RunningStats, Trace
from jlangevin.types import Array, ArrayTree, PRNGKey, Sampler


class Carry(NamedTuple):
    """What the step loop carries, per chain (``stats``: only with ``store="stats"``).

    Attributes
    ----------
    state : the batched kernel state (positions, before a chunk that makes the states).
    count : per chain, the steps taken over its life (the key's step index).
    diverged : per chain, diverged steps in this run.
    moves : per chain, steps in this run after which the position changed.
    stats : running moments of the kept draws, or ``None``.
    """

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
    one_state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), state)
    info_one = jax.eval_shape(sampler.step, key, one_state)[1]
    num_chains = jax.tree.leaves(state.position)[0].shape[0]
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


def _all_finite(trees: list) -> Array:
    """Per chain: every inexact leaf of ``trees`` (batched) finite."""
    leaves = [x for x in jax.tree.leaves(trees) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return functools.reduce(
        jnp.logical_and, [jnp.all(jnp.isfinite(x).reshape(x.shape[0], -1), axis=1) for x in leaves]
    )


def _health(start: Any, made: bool, positions: ArrayTree, end: Carry) -> Array:
    """The chunk's ``health`` (:data:`~jlangevin.run.faults.HEALTH_ROWS`): its start
    checked, its end counted, per chain."""
    positions_ok = _all_finite([positions])
    state_ok = positions_ok
    if made:  # the log density and score of the states made here, too
        parts = [start.position, getattr(start, "logdensity", None), getattr(start, "score", None)]
        state_ok = _all_finite(parts)
    rows = (positions_ok, state_ok, end.diverged, end.moves)
    return jnp.stack([jnp.asarray(row, jnp.int32) for row in rows])


def _chain_major(draw: Callable, carry: Carry, draws: int) -> tuple[Carry, Any]:
    """``draws`` calls of ``draw(carry) -> (carry, record)``, records ``(chains, draws, ...)``.

    Each record is written in place into a buffer the loop carries, so the
    kept draws never exist twice (a scan would stack them draw-major and the
    trace's layout would need a transposed copy).
    """
    record_like = jax.eval_shape(lambda c: draw(c)[1], carry)
    if any(jnp.issubdtype(r.dtype, jax.dtypes.extended) for r in jax.tree.leaves(record_like)):
        carry, records = jax.lax.scan(lambda c, _: draw(c), carry, None, length=draws)
        return carry, jax.tree.map(lambda r: jnp.swapaxes(r, 0, 1), records)
    buffers = jax.tree.map(
        lambda r: jnp.zeros((r.shape[0], draws, *r.shape[1:]), r.dtype), record_like
    )

    def body(j: Array, loop: tuple[Carry, Any]) -> tuple[Carry, Any]:
        carry, record = draw(loop[0])
        write = lambda buf, r: jax.lax.dynamic_update_index_in_dim(buf, r, j, axis=1)  # noqa: E731
        return carry, jax.tree.map(write, loop[1], record)

    return jax.lax.fori_loop(0, draws, body, (carry, buffers))


def chunk_body(sampler, thin, store, init, burn, draws, chain_keys, carry):
    """One device's part of a chunk: make the states (``init``), burn in, keep ``draws``.

    ``chain_keys`` are the chains' keys (:func:`make_chain_keys`). Returns
    the carry, the records (chain-major; ``None`` without draws or with
    ``store="stats"``) and the chunk's per-chain ``health``
    (:data:`~jlangevin.run.faults.HEALTH_ROWS`).
    """

    def one_step(chain_keys: Array, carry: Carry) -> tuple[Carry, Any]:
        state, info = jax.vmap(sampler.step)(keys.step_keys(chain_keys, carry.count), carry.state)
        diverged = carry.diverged
        flag = _diverged(info)
        if flag is not None:
            diverged = diverged + flag.astype(diverged.dtype)
        moves = carry.moves + _moved(carry.state.position, state.position).astype(jnp.int32)
        return Carry(state, carry.count + 1, diverged, moves, carry.stats), info

    def kept_draw(chain_keys: Array, carry: Carry) -> tuple[Carry, Any]:
        if thin == 1:
            carry, info = one_step(chain_keys, carry)
        else:  # one copy of the step in the program (compile time), its last info kept
            info = jax.tree.map(
                lambda s: jnp.zeros(s.shape, s.dtype),
                jax.eval_shape(lambda c: one_step(chain_keys, c)[1], carry),
            )
            carry, info = jax.lax.fori_loop(
                0, thin, lambda _, c: one_step(chain_keys, c[0]), (carry, info)
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

    positions = carry.state if init else carry.state.position
    if init:  # the carry holds positions: make the states
        carry = carry._replace(state=jax.vmap(sampler.init)(carry.state))
    start = carry.state
    if store == "stats" and carry.stats is None:
        carry = carry._replace(stats=_empty_stats(sampler, chain_keys[0], carry.state))
    if burn:  # advance without recording (thin does not apply)
        burn_step = lambda c, _: (one_step(chain_keys, c)[0], None)  # noqa: E731
        carry = jax.lax.scan(burn_step, carry, None, length=burn)[0]
    records = None
    if draws and store == "stats":
        draw = lambda c, _: kept_draw(chain_keys, c)  # noqa: E731
        carry = jax.lax.scan(draw, carry, None, length=draws)[0]
    elif draws:
        carry, records = _chain_major(lambda c: kept_draw(chain_keys, c), carry, draws)
    return carry, records, _health(start, init, positions, carry)


def _build_chunk(template: Template, thin: int, store: Any, mesh: Mesh | None) -> Callable:
    """Jitted ``(chain keys, carry, params) -> (carry, records, health)``."""

    def local(init, burn, draws, params, chain_keys, carry):
        sampler = template.bind(params)  # the arrays are this program's arguments
        args = (init, burn, draws, chain_keys, carry)
        return chunk_body(sampler, thin, unheld(store), *args)

    @functools.partial(jax.jit, static_argnames=("init", "burn", "draws"))
    def chunk(chain_keys, carry, params, *, init, burn, draws):
        fn = functools.partial(local, init, burn, draws)
        out_specs = None
        if mesh is not None:
            split, shared = PartitionSpec(mesh.axis_names), PartitionSpec()
            stats_specs = RunningStats(shared, split, split, split) if store == "stats" else split
            rows = PartitionSpec(None, mesh.axis_names)  # health: (rows, chains)
            out_specs = (Carry(split, split, split, split, stats_specs), split, rows)
        carry, records, health = per_chain(fn, mesh, params, (chain_keys, carry), out_specs)
        if mesh is None:  # one device: the counts themselves (never a collective on a mesh)
            health = summary(health)
        return carry, records, health

    return chunk


#: ``compiled_chunk(template, thin, store, mesh)``: the jitted chunk of a sampler's
#: :class:`~jlangevin.run.cache.Template` (``store`` as :func:`~jlangevin.run.cache.held`
#: gives it), called as ``chunk(chain_keys, carry, params, *, init, burn, draws)``
#: (``chain_keys`` from :func:`make_chain_keys`). One call makes, in one compiled
#: program: the initial states (``init=True``: the carry then holds positions), ``burn``
#: steps unrecorded, then ``draws`` kept draws; a run that is not chunked is one call,
#: so one compilation.
compiled_chunk = ProgramCache(_build_chunk, MAX_PROGRAMS)


@functools.partial(jax.jit, static_argnames=("impl", "mesh"))
def make_chain_keys(key_data: Array, chain_ids: Array, *, impl: str, mesh: Mesh | None) -> Array:
    """:func:`jlangevin.keys.chain_keys` of chains ``chain_ids`` under the run key
    ``key_data`` (typed, or its data, of the ``impl`` named); on a mesh each device
    makes its own chains' keys.

    A program of its own, shared by every sampler (it depends on the run key's
    implementation and the chains' count and placement only), called once per
    run: hashed inside each sampler's loop instead, the keys cost every loop about
    a quarter of its compile time.

    Examples
    --------
    >>> import jax, numpy as np
    >>> from jlangevin.run.loop import make_chain_keys
    >>> ids = np.arange(2, dtype=np.uint32)
    >>> make_chain_keys(jax.random.key(0), ids, impl="threefry2x32", mesh=None).shape
    (2,)
    """

    def local(key_data: Array, ids: Array) -> Array:
        key = key_data
        if not jnp.issubdtype(key_data.dtype, jax.dtypes.prng_key):
            key = jax.random.wrap_key_data(key_data, impl=impl)
        return keys.chain_keys(key, ids)

    return per_chain(local, mesh, key_data, (chain_ids,))


def _avals(tree: Any, drop: int = 0) -> tuple:
    """A hashable description of ``tree``'s structure, shapes (less ``drop`` leading axes)
    and dtypes."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((np.shape(x)[drop:], jnp.result_type(x)) for x in leaves)


_init_shapes = ProgramCache(lambda *key: None, 4 * MAX_PROGRAMS)


def abstract_init(sampler: Sampler, template: Template, params: tuple, positions: Any) -> Any:
    """``jax.eval_shape`` of ``sampler.init`` on one chain of ``positions``, traced once per
    program and shapes (the cache's key needs no tracing).

    Errors in the user's functions (shapes, a non-scalar log density) surface
    here, naming the argument, instead of from inside ``vmap``.
    """

    def make() -> Any:
        one = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x)[1:], jnp.result_type(x)), positions
        )
        return jax.eval_shape(sampler.init, one)

    return _init_shapes.get((template, _avals(params), _avals(positions, drop=1)), make)


def _chunk_sizes(total: int, chunk: int) -> list[int]:
    sizes = [chunk] * (total // chunk)
    if total % chunk:
        sizes.append(total % chunk)
    return sizes


def plan(burn: int, draws: int, chunk_size: int | None, thin: int) -> list[tuple[int, int]]:
    """``(burn-in steps, kept draws)`` per compiled call; unchunked, one call in all."""
    if chunk_size is None:
        return [(burn, draws)] if burn or draws else []
    chunks = [(size, 0) for size in _chunk_sizes(burn, chunk_size * thin)]
    return chunks + [(0, size) for size in _chunk_sizes(draws, chunk_size)]


def _concat(records: list) -> Any:
    if not records:
        return None
    if len(records) == 1:
        return records[0]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=1), *records)


def assemble(carry: Carry, records: list, store: Any, num_draws: int) -> Trace:
    """The :class:`Trace` of the final carry and the chunks' records (``steps`` unset)."""
    stacked = _concat(records)
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


def with_initial(trace: Trace, initial: ArrayTree, store: str) -> Trace:
    """The trace with ``initial`` (leaves ``(chains, *event)``) as draw 0; its info zeros."""
    first = lambda x, y: jnp.concatenate([jnp.asarray(x, y.dtype)[:, None], y], axis=1)  # noqa: E731
    positions = jax.tree.map(first, initial, trace.positions)
    info = trace.info
    if store == "draws" and info is not None:
        info = jax.tree.map(lambda y: first(jnp.zeros_like(y[:, 0]), y), info)
    return trace._replace(positions=positions, info=info)


__all__ = [
    "Carry",
    "abstract_init",
    "assemble",
    "chunk_body",
    "compiled_chunk",
    "make_chain_keys",
    "plan",
    "with_initial",
]
