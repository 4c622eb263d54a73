"""The randomness of a run: which key step ``t`` of chain ``c`` gets.

Step ``t`` of chain ``c`` gets a key that depends on the run key, ``c`` and
``t`` alone (``t`` counts the chain's steps over its whole life), so a run
split into chunks, stopped and resumed, or spread over devices or hosts gives
bit-identical draws to one uninterrupted run. The driver, the warm-up and the
annealed sampler all derive their keys here, in two stages: :func:`chain_keys`
once per compiled chunk, :func:`step_keys` once per step.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from jlangevin.keys import chain_keys, step_keys
>>> chains = chain_keys(jax.random.key(0), jnp.arange(3))
>>> step_keys(chains, jnp.zeros(3, jnp.int32)).shape
(3,)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jlangevin.types import Array, PRNGKey


def chain_keys(key: PRNGKey, chain_ids: Array) -> Array:
    """The per-chain keys ``fold_in(key, c)`` for each chain index ``c`` of ``chain_ids``."""
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(chain_ids, jnp.uint32))


def step_keys(chain_keys: Array, counts: Array) -> Array:
    """The keys of the chains' next steps: ``fold_in(chain_key, count)`` for each chain."""
    return jax.vmap(jax.random.fold_in)(chain_keys, counts)


__all__ = ["chain_keys", "step_keys"]
