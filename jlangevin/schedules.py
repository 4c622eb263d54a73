"""Step-size schedules: plain ``count -> value`` functions, optax's where optax has them.

A schedule is any function of the integer step count, so every optax schedule
(``optax.exponential_decay``, ``optax.join_schedules``, ...) works unchanged as
a ``step_size``, and these compose with optax's (``optax.join_schedules([jl.
schedules.constant(1e-2), jl.schedules.polynomial(...)], [1000])``). Kernels
evaluate the schedule at the chain's step count inside the compiled loop.

Arguments are checked when a schedule is built: numbers may be Python, numpy
or JAX scalars (``np.float32(0.1)``, ``jnp.int32(100)``); a bool, a complex
number or an array is a ``TypeError``, a value out of range a ``ValueError``,
each naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp

from jlangevin.kernels._checks import as_int, as_positive, as_real
from jlangevin.types import Array

Schedule = Callable[[Array], Array]


def _positive(value: float, name: str) -> float:
    return as_positive(value, name)


def constant(value: float) -> Schedule:
    """``h_t = value`` (``optax.constant_schedule``).

    Examples
    --------
    >>> import jlangevin as jl
    >>> round(float(jl.schedules.constant(0.1)(7)), 6)
    0.1
    """
    import optax  # only when a schedule is built: `import jlangevin` stays light

    return optax.constant_schedule(_positive(value, "value"))


def polynomial(a: float, b: float, gamma: float) -> Schedule:
    """``h_t = a (b + t)^(-gamma)`` (Welling & Teh 2011).

    SGLD converges for ``gamma`` in ``(0.5, 1]``: the steps sum to infinity
    while their squares do not.

    Examples
    --------
    >>> import jlangevin as jl
    >>> sched = jl.schedules.polynomial(a=0.1, b=1.0, gamma=0.55)
    >>> round(float(sched(0)), 6)
    0.1
    """
    a, b = _positive(a, "a"), _positive(b, "b")
    gamma = as_real(gamma, "gamma")
    if gamma < 0:
        raise ValueError(f"`gamma` must be a non-negative number; got {gamma}.")
    return lambda count: a * (b + jnp.asarray(count, jnp.result_type(float))) ** (-gamma)


def cyclical_cosine(initial: float, num_steps: int, num_cycles: int) -> Schedule:
    """Cyclical cosine steps (Zhang et al. 2020, cSG-MCMC).

    ``h_t = initial / 2 * (cos(pi * (t mod L) / L) + 1)`` with cycle length
    ``L = ceil(num_steps / num_cycles)``: each cycle starts large (exploration)
    and shrinks towards 0 (sampling).

    Examples
    --------
    >>> import jlangevin as jl
    >>> sched = jl.schedules.cyclical_cosine(0.1, num_steps=100, num_cycles=4)
    >>> round(float(sched(0)), 6), round(float(sched(25)), 6), round(float(sched(12)), 4)
    (0.1, 0.1, 0.0531)
    """
    initial = _positive(initial, "initial")
    num_steps = as_int(num_steps, "num_steps", minimum=1)
    num_cycles = as_int(num_cycles, "num_cycles", minimum=1)
    if num_cycles > num_steps:
        raise ValueError(
            f"`num_cycles` must be an integer in [1, num_steps={num_steps}]; got {num_cycles}."
        )
    length = math.ceil(num_steps / num_cycles)

    def schedule(count: Array) -> Array:
        phase = jnp.mod(jnp.asarray(count, jnp.int32), length) / length
        return initial / 2 * (jnp.cos(jnp.pi * phase) + 1)

    return schedule


def geometric(initial: float, final: float, num_steps: int) -> Schedule:
    """Geometric annealing from ``initial`` to ``final`` over ``num_steps``, then flat.

    ``optax.exponential_decay`` with ``decay_rate = final / initial`` and
    ``end_value = final``, evaluated in floating point.

    ``h_t = initial * (final / initial)^(min(t, num_steps) / num_steps)``. Since
    the Langevin noise has scale ``sqrt(2 h)``, lowering the step lowers the
    step and the noise together (the noise as the square root of the ratio).

    Examples
    --------
    >>> import jlangevin as jl
    >>> sched = jl.schedules.geometric(1.0, 0.01, num_steps=10)
    >>> round(float(sched(5)), 4), round(float(sched(50)), 4)
    (0.1, 0.01)
    """
    initial, final = _positive(initial, "initial"), _positive(final, "final")
    num_steps = as_int(num_steps, "num_steps", minimum=1)
    import optax

    decay = optax.exponential_decay(initial, num_steps, final / initial, end_value=final)
    return lambda count: decay(jnp.asarray(count, jnp.result_type(float)))


__all__ = ["constant", "cyclical_cosine", "geometric", "polynomial"]
