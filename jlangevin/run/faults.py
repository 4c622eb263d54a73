"""Faults, said once with the counts: unusable starts, diverged and stuck chains.

Each compiled chunk returns a small ``health`` array: per chain (rows
:data:`HEALTH_ROWS`), whether its start is finite, and its diverged and moved
step counts; on one device the chunk reduces it to the counts themselves
(:func:`summary`, seven numbers). After a run the driver reads it in one
transfer and says what must be said: a start that is not finite is an error,
diverged or stuck chains a :class:`~jlangevin.run.trace.SamplingWarning`.
Over several devices the rows are reduced on the host, or, over several
processes, on the devices (a small program of their own, never the step
loop), so every process reads the same numbers.

Examples
--------
>>> import numpy as np
>>> from jlangevin.run.faults import read
>>> health = np.array([[1, 1], [1, 1], [0, 2], [5, 0]])  # chain 1: 2 diverged steps, stuck
>>> read(None, health, None).faults
Faults(diverged_chains=1, diverged_steps=2, stuck_chains=1)
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jlangevin.run.trace import SamplingWarning
from jlangevin.types import Array

#: The rows of a chunk's per-chain ``health`` (int32, ``(4, chains)``): whether the
#: chain's start has finite positions, and a finite state (1) or not (0), then its
#: diverged and moved step counts at the chunk's end.
HEALTH_ROWS = ("positions_ok", "state_ok", "diverged", "moves")


class Faults(NamedTuple):
    """Chains that diverged (and their diverged steps), and chains that never moved."""

    diverged_chains: int
    diverged_steps: int
    stuck_chains: int


class BadStart(NamedTuple):
    """Chains whose start is not finite: positions, then states (how many, and the first)."""

    bad_positions: int
    first_bad_position: int
    bad_states: int
    first_bad_state: int


class Report(NamedTuple):
    """What one read gives: the start's counts and the faults (``None`` where not asked)."""

    start: BadStart | None
    faults: Faults | None


def health_of(diverged: Array, moves: Array) -> Array:
    """A ``health`` array for a run that compiled nothing (its counts, starts taken as fine)."""
    ones = jnp.ones_like(diverged)
    return jnp.stack([ones, ones, jnp.asarray(diverged, jnp.int32), jnp.asarray(moves, jnp.int32)])


def _counts(start: Any, end: Any, xp: Any) -> list:
    """The numbers of a :class:`Report` from per-chain ``health`` rows (``xp``: numpy on the
    host, jax.numpy on devices)."""
    out = []
    if start is not None:
        for row in (0, 1):
            bad = xp.asarray(start)[row] == 0
            out += [xp.sum(bad), xp.argmax(bad)]
    if end is not None:
        diverged, moves = xp.asarray(end)[2], xp.asarray(end)[3]
        out += [xp.sum(diverged > 0), xp.sum(diverged), xp.sum(moves == 0)]
    return out


def summary(health: Array) -> Array:
    """The seven counts of a per-chain ``health`` (a :class:`BadStart`, then :class:`Faults`),
    computed where ``health`` is (inside a one-device chunk)."""
    return jnp.stack(_counts(health, health, jnp)).astype(jnp.int32)


@functools.lru_cache(maxsize=8)
def _on_devices(shared: NamedSharding) -> Any:
    """One jitted reduction per mesh (the same in every process), compiled once."""
    return jax.jit(lambda start, end: jnp.stack(_counts(start, end, jnp)), out_shardings=shared)


def _spans_processes(x: Any) -> bool:
    return isinstance(x, jax.Array) and not x.is_fully_addressable


def read(start: Array | None, end: Array | None, sharding: NamedSharding | None) -> Report:
    """The start's and the faults' counts from ``health`` arrays, in one transfer.

    Parameters
    ----------
    start : the first chunk's ``health`` (its start is read), or ``None``.
    end : the last chunk's ``health`` (its counts are read), or ``None``; for a
        run of one chunk, the same array as ``start``.
    sharding : the chains' placement (``None``: one device).
    """
    if sharding is not None and (_spans_processes(start) or _spans_processes(end)):
        shared = NamedSharding(sharding.mesh, PartitionSpec())
        numbers = np.asarray(_on_devices(shared)(start, end)).tolist()
        return _report(numbers, start is not None, end is not None)
    host_start = host_end = None
    if start is end or start is None or end is None:  # one array: one transfer
        host_start = None if start is None else np.asarray(start)
        host_end = host_start if start is end else None if end is None else np.asarray(end)
    else:
        host_start, host_end = jax.device_get((start, end))
    numbers = []  # per chunk: its summary (one device), else its per-chain rows
    if host_start is not None:
        rows = host_start.ndim == 2
        numbers.extend(_counts(host_start, None, np) if rows else host_start[:4].tolist())
    if host_end is not None:
        rows = host_end.ndim == 2
        numbers.extend(_counts(None, host_end, np) if rows else host_end[4:].tolist())
    return _report([int(n) for n in numbers], start is not None, end is not None)


def _report(numbers: list, has_start: bool, has_end: bool) -> Report:
    bad_start = BadStart(*numbers[:4]) if has_start else None
    faults = Faults(*numbers[-3:]) if has_end else None
    return Report(bad_start, faults)


def warn(faults: Faults, num_chains: int, num_steps: int) -> None:
    """One :class:`~jlangevin.run.trace.SamplingWarning` with the counts, if any."""
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


__all__ = ["HEALTH_ROWS", "BadStart", "Faults", "Report", "health_of", "read", "summary", "warn"]
