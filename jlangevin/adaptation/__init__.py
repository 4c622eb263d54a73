"""Warm-up: one adaptation, generic over kernels, in small pieces.

- :mod:`~jlangevin.adaptation.warmup`: :func:`warmup`, which tunes any exact
  kernel from its :class:`~jlangevin.types.Tuning` declaration;
- :mod:`~jlangevin.adaptation.dual_averaging`: the step size;
- :mod:`~jlangevin.adaptation.metric`: window statistics and the metric root
  (diagonal, dense, or chosen from the chains);
- :mod:`~jlangevin.adaptation.windows`: Stan's fast / slow / fast windows;
- :mod:`~jlangevin.adaptation.health`: stuck and outlying chains, restarts;
- :mod:`~jlangevin.adaptation.trajectory`: the trajectory rules (ChEES, MEADS);
- :mod:`~jlangevin.adaptation.ladder` and :mod:`~jlangevin.adaptation.tempering`:
  replica exchange's ladder and its warm-up.

>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> logp = lambda x: -0.5 * jnp.sum(x**2)
>>> sampler, state, info = jl.adaptation.warmup(
...     jax.random.key(0), jl.malt, logp, jnp.ones((8, 3)), 200)
>>> trace = jl.run(jax.random.key(0), sampler, state, 100)
"""

from jlangevin.adaptation.dual_averaging import (
    DualAveraging,
    dual_averaging_init,
    dual_averaging_update,
)
from jlangevin.adaptation.health import Health, chain_health
from jlangevin.adaptation.ladder import (
    barrier_interpolant,
    barrier_knots,
    local_barrier,
    round_trip_rate,
    update_ladder,
)
from jlangevin.adaptation.metric import (
    PRECONDITIONERS,
    ChainSums,
    Welford,
    geometric_mean_metric,
    regularized_covariance,
    stable_cholesky,
    unit_root,
    welford_init,
    welford_update,
)
from jlangevin.adaptation.tempering import TemperingWarmupInfo, tempering_warmup
from jlangevin.adaptation.trajectory import (
    ChEESState,
    chees_criterion,
    chees_gradient,
    chees_init,
    chees_update,
    halton,
    sampler_steps,
)
from jlangevin.adaptation.warmup import WarmupInfo, resolve_kernel, warmup
from jlangevin.adaptation.windows import MIN_WARMUP_STEPS, Segment, segments, window_schedule

__all__ = [
    "MIN_WARMUP_STEPS",
    "PRECONDITIONERS",
    "ChEESState",
    "ChainSums",
    "DualAveraging",
    "Health",
    "Segment",
    "TemperingWarmupInfo",
    "WarmupInfo",
    "Welford",
    "barrier_interpolant",
    "barrier_knots",
    "chain_health",
    "chees_criterion",
    "chees_gradient",
    "chees_init",
    "chees_update",
    "dual_averaging_init",
    "dual_averaging_update",
    "geometric_mean_metric",
    "halton",
    "local_barrier",
    "regularized_covariance",
    "resolve_kernel",
    "round_trip_rate",
    "sampler_steps",
    "segments",
    "stable_cholesky",
    "tempering_warmup",
    "unit_root",
    "update_ladder",
    "warmup",
    "welford_init",
    "welford_update",
    "window_schedule",
]
