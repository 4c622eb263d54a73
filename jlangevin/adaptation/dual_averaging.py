"""Dual averaging of ``log ε`` toward a target mean acceptance (Hoffman & Gelman 2014).

The warm-up pools the signal over chains: each step feeds the mean acceptance
probability of all chains, so every chain runs the same ``ε``.

References
----------
M. D. Hoffman and A. Gelman (2014). The No-U-Turn sampler: adaptively setting
path lengths in Hamiltonian Monte Carlo. JMLR 15 (dual averaging, sec. 3.2.1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_real
from jlangevin.types import Array

#: Dual averaging constants of Hoffman & Gelman (2014).
DA_GAMMA = 0.05
DA_T0 = 10.0
DA_KAPPA = 0.75


class DualAveraging(NamedTuple):
    """Dual-averaging state on ``log ε`` (Hoffman & Gelman 2014, Alg. 5)."""

    log_step: Array
    log_step_avg: Array
    error_avg: Array
    mu: Array
    count: Array


def check_scalar(value: Any, name: str, positive: bool = False) -> None:
    """A 0-d real value; when concrete, finite (and positive if asked)."""
    if jnp.ndim(value) != 0 or not jnp.issubdtype(jnp.result_type(value), jnp.number):
        raise ValueError(f"`{name}` must be a real scalar; got shape {jnp.shape(value)}.")
    if isinstance(value, jax.core.Tracer):
        return
    number = float(value)
    if not np.isfinite(number) or (positive and number <= 0):
        kind = "positive and finite" if positive else "finite"
        raise ValueError(f"`{name}` must be {kind}; got {number}.")


def check_target_acceptance(value: Any, name: str = "target_acceptance") -> float:
    """A target acceptance probability in ``(0, 1)``, as a Python float."""
    number = as_real(value, name)
    if not 0.0 < number < 1.0:
        raise ValueError(f"`{name}` must lie in (0, 1); got {number}.")
    return number


def dual_averaging_init(step_size: Array) -> DualAveraging:
    """Start dual averaging at ``step_size`` with ``μ = log(10 ε)``.

    ``step_size`` is a positive finite scalar; its dtype (float32, or float64
    under ``jax_enable_x64``) is kept by the whole state.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import dual_averaging_init
    >>> float(dual_averaging_init(jnp.float32(1.0)).mu)  # log 10
    2.302585...
    """
    check_scalar(step_size, "step_size", positive=True)
    log_step = jnp.log(step_size)
    zero = jnp.zeros_like(log_step)
    return DualAveraging(log_step, log_step, zero, jnp.log(10.0) + log_step, zero)


def dual_averaging_update(state: DualAveraging, acceptance: Array, target: float) -> DualAveraging:
    """One update of ``log ε`` toward ``target`` mean acceptance.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import dual_averaging_init, dual_averaging_update
    >>> state = dual_averaging_init(jnp.float32(1.0))
    >>> low = dual_averaging_update(state, jnp.float32(0.1), 0.574)  # too few accepted
    >>> high = dual_averaging_update(state, jnp.float32(0.9), 0.574)
    >>> bool(low.log_step < high.log_step)
    True
    """
    if not isinstance(state, DualAveraging):
        raise TypeError(f"`state` must be a DualAveraging state; got {type(state).__name__}.")
    check_scalar(acceptance, "acceptance")
    target = check_target_acceptance(target, "target")
    count = state.count + 1
    weight = 1.0 / (count + DA_T0)
    error_avg = (1.0 - weight) * state.error_avg + weight * (target - acceptance)
    log_step = state.mu - jnp.sqrt(count) / DA_GAMMA * error_avg
    eta = count ** (-DA_KAPPA)
    log_step_avg = eta * log_step + (1.0 - eta) * state.log_step_avg
    return DualAveraging(log_step, log_step_avg, error_avg, state.mu, count)


def restart(state: DualAveraging) -> DualAveraging:
    """A fresh dual averaging from the current average step (a new window or metric)."""
    return dual_averaging_init(jnp.exp(state.log_step_avg))


__all__ = [
    "DA_GAMMA",
    "DA_KAPPA",
    "DA_T0",
    "DualAveraging",
    "check_scalar",
    "check_target_acceptance",
    "dual_averaging_init",
    "dual_averaging_update",
    "restart",
]
