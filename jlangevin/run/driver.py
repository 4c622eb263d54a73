"""``jl.run``: the driver, in layers.

:func:`run` checks its arguments (:mod:`~jlangevin.run.checks`), places the
chains (:mod:`~jlangevin.run.placement`), fetches the compiled loop
(:mod:`~jlangevin.run.loop`, cached as :mod:`~jlangevin.run.cache` says), and
then does what FunMC's ``trace`` does: calls the loop over the plan of chunks
(one chunk unless chunking, progress or checkpoints ask for more), saving a
checkpoint between chunks when asked (:mod:`jlangevin.checkpoint`). It reads
the device once at the end (:mod:`~jlangevin.run.faults`: unusable starts,
diverged and stuck chains) and returns the :class:`~jlangevin.run.trace.Trace`.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> trace = jl.run(jax.random.key(0), jl.ula(lambda x: -x @ x, 0.1), jnp.zeros((2, 1)), 5)
>>> trace.steps.tolist()
[1, 2, 3, 4, 5]
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from jlangevin import checkpoint
from jlangevin.run import checks, faults
from jlangevin.run.cache import Template, held, split_sampler
from jlangevin.run.loop import (
    Carry,
    abstract_init,
    assemble,
    compiled_chunk,
    make_chain_keys,
    plan,
    with_initial,
)
from jlangevin.run.placement import chain_sharding, gather, place, replicated
from jlangevin.run.trace import Trace
from jlangevin.types import Array, ArrayTree, PRNGKey, Sampler


class _Settings(NamedTuple):
    """``jl.run``'s settings, checked."""

    key: PRNGKey
    sampler: Sampler
    num_steps: int
    burnin: int
    thin: int
    store: str | Callable
    keep_initial: bool
    chunk_size: int | None
    progress: bool
    policy: checkpoint.Policy | None

    @property
    def num_draws(self) -> int:
        return self.num_steps // self.thin


def _check_settings(
    key, sampler, num_steps, burnin, thin, store, keep_initial, chunk_size, progress, ckpt
) -> _Settings:
    """Every argument but the positions and devices, checked in the order of the signature."""
    key = checks.check_key(key)
    sampler = checks.check_sampler(sampler)
    num_steps = checks.check_int(num_steps, "num_steps", 0)
    burnin = checks.check_int(burnin, "burnin", 0)
    thin = checks.check_int(thin, "thin", 1)
    if num_steps % thin:
        raise ValueError(f"`num_steps` ({num_steps}) must be a multiple of `thin` ({thin}).")
    store = checks.check_store(store)
    keep_initial = checks.check_bool(keep_initial, "keep_initial")
    if keep_initial and store not in ("draws", "positions"):
        raise ValueError(
            f'`keep_initial=True` needs store="draws" or "positions"; got store={store!r:.60}.'
        )
    progress = checks.check_bool(progress, "progress")
    if chunk_size is not None:
        chunk_size = checks.check_int(chunk_size, "chunk_size", 1)
    policy = checkpoint.policy(*ckpt)
    if chunk_size is None and policy is not None:
        chunk_size = policy.every
    elif chunk_size is None and progress:
        chunk_size = max(1, math.ceil(num_steps // thin / 50))
    return _Settings(
        key, sampler, num_steps, burnin, thin, store, keep_initial, chunk_size, progress, policy
    )


def _one_state(s: _Settings, start: checks.Start, template: Template, params: tuple) -> Any:
    """One chain's abstract state; a state to continue must be one this sampler makes."""
    position = start.tree.position if start.resumed else start.tree
    expected = abstract_init(s.sampler, template, params, position)
    if start.resumed:
        checks.same_kernel(expected, start.tree)
        return checks.one_chain_shapes(start.tree)
    return expected


def _first_count(start: checks.Start) -> int:
    """The largest step count so far, where this process can read it (0 for new chains)."""
    count = start.count
    if not start.resumed or (isinstance(count, jax.Array) and not count.is_fully_addressable):
        return 0
    return int(np.max(np.asarray(count)))


@functools.lru_cache(maxsize=16)
def _chain_ids(num_chains: int) -> Array:
    """The chains' indices on the default device, made once per chain count."""
    return jnp.arange(num_chains, dtype=jnp.uint32)


@functools.lru_cache(maxsize=16)
def _zeros(num_chains: int) -> Array:
    """Per-chain int32 zeros on the default device (arrays are immutable: shared)."""
    return jnp.zeros((num_chains,), jnp.int32)


class _Chunk(NamedTuple):
    """The compiled loop with this run's chain keys and parameters bound."""

    compiled: Callable
    chain_keys: Array
    params: tuple

    def __call__(self, carry: Carry, *, init: bool, burn: int, draws: int) -> Any:
        args = (self.chain_keys, carry, self.params)
        return self.compiled(*args, init=init, burn=burn, draws=draws)


def _chunk(s: _Settings, template: Template, params: tuple, num_chains: int, sharding) -> _Chunk:
    """The compiled loop of this sampler and these settings, fetched from the cache."""
    mesh = None if sharding is None else sharding.mesh
    compiled = compiled_chunk(template, s.thin, held(s.store), mesh)
    ids = _chain_ids(num_chains) if sharding is None else np.arange(num_chains, dtype=np.uint32)
    # One device: the typed key itself; over a mesh its data (placed like host data).
    key = s.key if sharding is None else replicated(jax.random.key_data(s.key), sharding)
    impl = str(jax.random.key_impl(s.key))
    chains = make_chain_keys(key, place(ids, sharding), impl=impl, mesh=mesh)
    params = jax.tree.map(lambda x: replicated(x, sharding), params)
    return _Chunk(compiled, chains, params)


def run_chunk(chunk: _Chunk, carry: Carry, *, init: bool, burn: int, draws: int) -> Any:
    """One call of the compiled loop (compiling it on its first call with these statics)."""
    return chunk(carry, init=init, burn=burn, draws=draws)


class _Progress(NamedTuple):
    """Where a run stands: its carry, its records so far, and the counters."""

    carry: Carry
    records: list
    burn_done: int = 0
    draws_done: int = 0
    first_init: bool = True
    complete: bool = False
    files: checkpoint.Files = checkpoint.Files()
    health: Array | None = None  # the last chunk's (see jlangevin.run.faults)


def _fingerprint(
    s: _Settings, start: checks.Start, chunk: _Chunk, now: _Progress
) -> tuple[dict, tuple]:
    """The run's checkpoint fingerprint, and the structures of its carry and of one draw."""
    carry_like, record_like, _ = jax.eval_shape(
        functools.partial(chunk, init=now.first_init, burn=0, draws=1), now.carry
    )
    settings = {"num_chains": int(now.carry.count.shape[0]), "num_steps": s.num_steps}
    settings.update(burnin=s.burnin, thin=s.thin)
    return checkpoint.run_fingerprint(
        s.key, s.sampler, s.store, (start.tree, start.count), settings, carry_like, record_like
    ), (carry_like, record_like)


def _resume(s: _Settings, fingerprint: dict, likes: tuple, now: _Progress, sharding) -> _Progress:
    """The checkpointed progress of this run, if its folder holds one (verified)."""
    saved = checkpoint.load(
        s.policy.path,
        fingerprint,
        *likes,
        burnin=s.burnin,
        num_draws=s.num_draws,
        on_damage=s.policy.on_damage,
    )
    if saved is None:
        return now
    to_devices = functools.partial(place, sharding=sharding) if sharding else jax.device_put
    records = [] if saved.records is None else [to_devices(saved.records)]
    return _Progress(
        to_devices(saved.carry),
        records,
        saved.burn_done,
        saved.draws_done,
        False,
        saved.complete,
        saved.files,
    )


def _save(
    s: _Settings, fingerprint: dict, now: _Progress, unsaved: int, draws_from: int, last: bool
) -> _Progress:
    """Gather to the host (every process takes part), then process 0 writes."""
    new = [gather(r) for r in now.records[unsaved:]]
    host_records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *new) if new else None
    files = checkpoint.write(
        s.policy,
        fingerprint,
        gather(now.carry),
        host_records,
        burn_done=now.burn_done,
        draws_from=draws_from,
        draws_done=now.draws_done,
        files=now.files,
        complete=last,
    )
    return now._replace(files=files)


def _raise_bad_start(bad: faults.BadStart, num_chains: int, init: bool, resumed: bool) -> None:
    """Refuse a start that is not finite: its positions, else (``init``) the states made."""
    if bad.bad_positions:
        where = dict(positions=True, resumed=resumed)
        raise checks.start_error(bad.bad_positions, bad.first_bad_position, num_chains, **where)
    if init and bad.bad_states:
        where = dict(positions=False, resumed=resumed)
        raise checks.start_error(bad.bad_states, bad.first_bad_state, num_chains, **where)


def _progress_bar(s: _Settings, now: _Progress, num_chains: int) -> Any:
    """A tqdm bar when ``progress=True`` (tqdm imported only then)."""
    if not s.progress:
        return None
    from tqdm.auto import tqdm  # only when asked for

    done = now.burn_done + now.draws_done * s.thin
    total = s.burnin + s.num_steps
    return tqdm(total=total, initial=done, desc=f"jl.run x{num_chains}", unit="step")


def _sample(
    s: _Settings, chunk: _Chunk, now: _Progress, fingerprint: dict | None, resumed: bool, sharding
) -> tuple[_Progress, tuple | None]:
    """FunMC's ``trace``, in chunks: call the loop per chunk of the plan, checkpoint between.

    Returns the progress and, when the start's check was left for the final
    read (a run of one chunk, unsaved), that chunk's health and whether it made
    the states.
    """
    chunks = []
    if not now.complete:
        burn, draws = s.burnin - now.burn_done, s.num_draws - now.draws_done
        chunks = plan(burn, draws, s.chunk_size, s.thin)
    if not chunks and not now.complete and (now.first_init or s.policy is not None):
        chunks = [(0, 0)]  # make the states (and the final checkpoint) all the same
    num_chains = int(now.carry.count.shape[0])
    check_at_once = len(chunks) > 1 or s.policy is not None  # before more work, or a save
    pending = None
    bar = _progress_bar(s, now, num_chains)
    unsaved, draws_saved, since_save = len(now.records), now.draws_done, 0
    for index, (burn, draws) in enumerate(chunks):
        init = index == 0 and now.first_init
        carry, record, health = run_chunk(chunk, now.carry, init=init, burn=burn, draws=draws)
        if index == 0 and check_at_once:
            _raise_bad_start(faults.read(health, None, sharding).start, num_chains, init, resumed)
        elif index == 0:
            pending = (health, init)
        now = now._replace(
            carry=carry,
            health=health,
            records=now.records if record is None else [*now.records, record],
            burn_done=now.burn_done + burn,
            draws_done=now.draws_done + draws,
        )
        since_save += burn + draws * s.thin
        last = index == len(chunks) - 1
        if s.policy is not None and s.policy.due(since_save, s.thin, last):
            now = _save(s, fingerprint, now, unsaved, draws_saved, last)
            unsaved, draws_saved, since_save = len(now.records), now.draws_done, 0
        if bar is not None:
            jax.block_until_ready(carry.count)
            bar.update(burn + draws * s.thin)
    if bar is not None:
        bar.close()
    return now, pending


def _finish(
    s: _Settings, now: _Progress, pending: tuple | None, initial: Any, resumed: bool, sharding
) -> tuple[Trace, faults.Faults]:
    """The trace, after the one read of the device: the start (if still unread) and faults."""
    num_chains = int(now.carry.count.shape[0])
    start, init = pending if pending is not None else (None, False)
    end = now.health
    if end is None:  # nothing compiled (a finished checkpoint, or no steps)
        end = faults.health_of(now.carry.diverged, now.carry.moves)
    report = faults.read(start, end, sharding)
    if report.start is not None:
        _raise_bad_start(report.start, num_chains, init, resumed)
    trace = assemble(now.carry, now.records, s.store, s.num_draws)
    steps = s.burnin + s.thin * np.arange(1, s.num_draws + 1)
    if s.keep_initial:
        trace = with_initial(trace, initial, s.store)
        steps = np.concatenate([[0], steps])
    if s.store in ("draws", "positions") or callable(s.store):
        trace = trace._replace(steps=steps)
    return trace, report.faults


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
    ckpt = (checkpoint_dir, checkpoint_every, checkpoint_on_damage)
    s = _check_settings(
        key, sampler, num_steps, burnin, thin, store, keep_initial, chunk_size, progress, ckpt
    )
    start, num_chains = checks.check_start(positions)
    sharding: NamedSharding | None = chain_sharding(devices, num_chains)
    template, params = split_sampler(s.sampler)
    one_state = _one_state(s, start, template, params)
    if callable(s.store):
        checks.check_store_fn(s.store, s.sampler, s.key, one_state)
    checks.check_steps(_first_count(start), s.burnin, s.num_steps)

    chunk = _chunk(s, template, params, num_chains, sharding)
    zeros = np.zeros((num_chains,), np.int32) if sharding else _zeros(num_chains)
    count = start.count if start.resumed else zeros
    carry = place(Carry(start.tree, count, zeros, zeros, None), sharding)
    initial = carry.state.position if start.resumed else carry.state
    now, fingerprint = _Progress(carry, [], first_init=not start.resumed), None
    # The writing process holds the folder's lock from before it reads the checkpoint to
    # after it writes the last one: a second writer is refused and changes nothing.
    writer = s.policy is not None and s.policy.writer
    with checkpoint.locked(s.policy.path if writer else None):
        if s.policy is not None:
            fingerprint, likes = _fingerprint(s, start, chunk, now)
            now = _resume(s, fingerprint, likes, now, sharding)
        now, pending = _sample(s, chunk, now, fingerprint, start.resumed, sharding)
    trace, found = _finish(s, now, pending, initial, start.resumed, sharding)
    faults.warn(found, num_chains, s.burnin + s.num_steps)
    return trace


def chain_keys_for(key: PRNGKey, num_chains: int) -> Array:
    """The per-chain keys ``fold_in(key, c)`` of :func:`run` (step ``t`` folds in ``t`` next).

    Examples
    --------
    >>> import jax
    >>> from jlangevin.run import chain_keys_for
    >>> chain_keys_for(jax.random.key(0), 3).shape
    (3,)
    """
    key = checks.check_key(key)
    num_chains = checks.check_int(num_chains, "num_chains", 1)
    impl = str(jax.random.key_impl(key))
    return make_chain_keys(key, _chain_ids(num_chains), impl=impl, mesh=None)


__all__ = ["chain_keys_for", "run"]
