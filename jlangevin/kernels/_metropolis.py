"""The Metropolis–Hastings accept step every exact kernel shares.

It takes the log-uniform already drawn (as FunMC's does), so a kernel draws
all of its random numbers in one place and the test itself is deterministic.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jlangevin.kernels._tree import tree_where
from jlangevin.types import Array, PRNGKey


class Acceptance(NamedTuple):
    """What the accept step decided.

    Attributes
    ----------
    is_accepted : the proposal was taken.
    acceptance_rate : ``min(1, exp(log_alpha))``, 0 where ``log_alpha`` is not finite.
    """

    is_accepted: Array
    acceptance_rate: Array


def log_uniform(key: PRNGKey, dtype: Any = float) -> Array:
    """``log u`` with ``u`` uniform on ``(0, 1]`` (never ``-inf``)."""
    return log_uniform_of(jax.random.uniform(key, (), jnp.result_type(dtype)))


def log_uniform_of(uniform: Array) -> Array:
    """``log(1 - u)`` of a uniform ``u`` on ``[0, 1)``: a log-uniform, never ``-inf``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._metropolis import log_uniform_of
    >>> float(log_uniform_of(jnp.float32(0.5)))
    -0.6931471824645996
    """
    return jnp.log1p(-uniform)


def metropolis_hastings(
    log_u: Array, log_alpha: Array, proposal: Any, current: Any
) -> tuple[Any, Acceptance]:
    """Keep ``proposal`` if ``log_u < log_alpha``, else ``current`` (whole pytrees).

    A ``log_alpha`` that is NaN or ``+inf`` is rejected like ``-inf``: a
    non-finite ratio means the proposal, or its density, is not a number the
    chain can trust; callers count it as a divergence where it is one.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._metropolis import metropolis_hastings
    >>> state, acc = metropolis_hastings(jnp.log(0.5), jnp.log(0.6), 1.0, 0.0)
    >>> float(state), bool(acc.is_accepted)
    (1.0, True)
    """
    log_alpha = jnp.where(jnp.isfinite(log_alpha), log_alpha, -jnp.inf)
    accepted = log_u.astype(log_alpha.dtype) < log_alpha
    rate = jnp.exp(jnp.minimum(log_alpha, 0.0))
    return tree_where(accepted, proposal, current), Acceptance(accepted, rate)


__all__ = ["Acceptance", "log_uniform", "log_uniform_of", "metropolis_hastings"]
