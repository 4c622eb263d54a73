"""Type aliases shared across jlangevin.

Positions are arbitrary pytrees of floating-point arrays (a single array, a
dict of arrays, a NamedTuple of parameters, ...). These aliases document intent
in signatures; they are not enforced at runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

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

__all__ = [
    "Array",
    "ArrayTree",
    "Bounds",
    "LogDensityFn",
    "PRNGKey",
    "Schedule",
    "ScoreFn",
    "StepSize",
]
