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

The package, one module per layer (each imports only those above it):

- :mod:`~jlangevin.run.trace`: what a run returns (:class:`Trace`, :class:`RunningStats`,
  :class:`SamplingWarning`);
- :mod:`~jlangevin.run.checks`: the input checks;
- :mod:`~jlangevin.run.placement`: which devices hold which chains, :func:`gather`;
- :mod:`~jlangevin.run.cache`: the compile cache and what it is keyed on;
- :mod:`~jlangevin.run.loop`: the compiled loop;
- :mod:`~jlangevin.run.faults`: the counts read after a run, and the warning;
- :mod:`~jlangevin.run.driver`: :func:`run` on top; the checkpoint policy is
  :mod:`jlangevin.checkpoint`'s.
"""

from jlangevin.run.driver import chain_keys_for, run
from jlangevin.run.placement import chain_sharding, gather
from jlangevin.run.trace import RunningStats, SamplingWarning, Trace

__all__ = [
    "RunningStats",
    "SamplingWarning",
    "Trace",
    "chain_keys_for",
    "chain_sharding",
    "gather",
    "run",
]
