"""Type aliases shared across jlangevin.

Positions are arbitrary pytrees of floating-point arrays (a single array, a
dict of arrays, a NamedTuple of parameters, ...). These aliases document intent
in signatures; they are not enforced at runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

import jax

Array: TypeAlias = jax.Array
#: Any pytree whose leaves are arrays (the position of a chain, a score, ...).
ArrayTree: TypeAlias = Any
#: A JAX random key: typed (``jax.random.key``) or legacy uint32 (``PRNGKey``).
PRNGKey: TypeAlias = jax.Array
#: ``position -> scalar`` log density, up to an additive constant.
LogDensityFn: TypeAlias = Callable[[ArrayTree], Array]
#: ``position -> pytree like position``: the score ``grad log p``.
ScoreFn: TypeAlias = Callable[[ArrayTree], ArrayTree]
#: ``count -> step size``: a schedule (any optax schedule qualifies).
Schedule: TypeAlias = Callable[[Array], Any]
#: A scalar, an array or pytree broadcasting against the position (one step
#: per coordinate), or a schedule returning either.
StepSize: TypeAlias = float | Array | ArrayTree | Schedule
#: ``(low, high)`` bounds of a box support, scalars or arrays broadcasting
#: against each leaf of the position.
Bounds: TypeAlias = tuple[Any, Any]


class Sampler(NamedTuple):
    """A kernel as two pure functions of one chain: the whole contract :func:`jlangevin.run` needs.

    - ``init(position) -> state``: the state of one chain at ``position`` (any
      pytree), a NamedTuple (or any pytree) with a ``position`` field; states
      that also carry ``count`` (the steps the chain has taken) resume
      anywhere, see below.
    - ``step(key, state) -> (state, info)``: one step, pure; ``key`` is fresh
      for this chain and this step, and the kernel draws every random number
      it needs from it with ``jax.random``. ``info`` is any pytree of per-step
      values; when it has a ``diverged`` field (or key) the driver counts it,
      and needs nothing else.

    The driver gives step ``t`` of chain ``c`` the key
    ``fold_in(fold_in(key, c), t)``, so chunked, resumed and sharded runs
    draw the same numbers as one uninterrupted run.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from typing import NamedTuple
    >>> import jlangevin as jl
    >>> class State(NamedTuple):
    ...     position: jax.Array
    >>> def step(key, state):  # AR(1): x' = 0.5 x + sqrt(0.75) xi, stationary N(0, 1)
    ...     xi = jax.random.normal(key, state.position.shape)
    ...     return State(0.5 * state.position + 0.75**0.5 * xi), {}
    >>> ar1 = jl.Sampler(init=State, step=step)
    >>> trace = jl.run(jax.random.key(0), ar1, jnp.zeros((4, 1)), 100)
    >>> trace.positions.shape
    (4, 100, 1)
    """

    init: Callable[[ArrayTree], Any]
    step: Callable[[PRNGKey, Any], tuple[Any, Any]]


__all__ = [
    "Array",
    "ArrayTree",
    "Bounds",
    "LogDensityFn",
    "PRNGKey",
    "Sampler",
    "Schedule",
    "ScoreFn",
    "StepSize",
]
