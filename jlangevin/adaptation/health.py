"""Chain health during warm-up: which chains are stuck or outliers, and restarting them.

At each check (the end of the initial fast window, of every slow window, and of
the warm-up) the chains are judged over the stretch since the last check:

- **stuck**: mean acceptance below ``min(0.05, 0.1 q75)`` (``q75`` the chains'
  upper quartile), so a stuck minority is found even when most chains accept
  little; when three quarters or more accept nothing, the step size is the
  problem and nothing is called stuck;
- **low**: log density more than 10 robust standard deviations (``1.4826 MAD``,
  at least 1 nat) below the median, or not finite: a chain left in the tails;
- **high**: log density more than 10 robust standard deviations above the
  median: a chain collapsed into a spike (a mixture component whose scale went
  to zero), which looks *better* than the others to its log density (such a
  chain rejects the moves sized for the others, and is reported high, not stuck);
- **scale**: within the window, the chain's total variance (over all whitened
  coordinates) more than 10 robust standard deviations of ``log`` spread away
  from the median, in either direction: a chain frozen onto a point or one
  wandering far wider than the rest.

A bad chain takes the state of a healthy chain drawn at random (its own step
count kept), and its draws are left out of the window's metric.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jlangevin.types import Array, PRNGKey

#: A chain is stuck when its mean acceptance is below ``min(STUCK_ACCEPTANCE,
#: STUCK_RATIO * q75)``, ``q75`` the chains' upper quartile.
STUCK_ACCEPTANCE = 0.05
STUCK_RATIO = 0.1
#: A chain is an outlier more than ``OUTLIER_MADS`` robust standard deviations
#: (``1.4826 MAD``) from the chains' median log density (at least
#: ``OUTLIER_MIN_SCALE`` nats) or log spread (at least ``SPREAD_MIN_SCALE``).
OUTLIER_MADS = 10.0
OUTLIER_MIN_SCALE = 1.0
SPREAD_MIN_SCALE = 0.5


class Health(NamedTuple):
    """Per-chain verdicts of one check (each ``(chains,)`` booleans)."""

    stuck: Array
    low: Array
    high: Array
    scale: Array

    @property
    def bad(self) -> Array:
        """Chains with any fault."""
        return self.stuck | self.low | self.high | self.scale


def _robust_outliers(values: Array, min_scale: float) -> tuple[Array, Array]:
    """``(below, above)``: more than ``OUTLIER_MADS`` robust sds from the median."""
    finite = jnp.isfinite(values)
    safe = jnp.where(finite, values, jnp.nanmedian(jnp.where(finite, values, jnp.nan)))
    median = jnp.median(safe)
    spread = jnp.maximum(1.4826 * jnp.median(jnp.abs(safe - median)), min_scale)
    return safe < median - OUTLIER_MADS * spread, safe > median + OUTLIER_MADS * spread


def chain_health(acceptance: Array, logdensity: Array, spread: Array | None = None) -> Health:
    """Judge each chain from one stretch of warm-up (see the module notes).

    Parameters
    ----------
    acceptance : ``(chains,)`` each chain's mean acceptance over the stretch.
    logdensity : ``(chains,)`` each chain's current log density.
    spread : ``(chains,)`` each chain's total within-stretch variance, or ``None``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import chain_health
    >>> health = chain_health(jnp.array([0.6, 0.0, 0.5, 0.7, 0.6, 0.6]),
    ...                       jnp.array([-3.0, -2.0, -500.0, -2.5, -4.0, 900.0]))
    >>> int(health.stuck.argmax()), int(health.low.argmax()), int(health.high.argmax())
    (1, 2, 5)
    """
    acceptance, logdensity = jnp.asarray(acceptance), jnp.asarray(logdensity)
    reference = jnp.quantile(acceptance, 0.75)
    below, above = _robust_outliers(logdensity, OUTLIER_MIN_SCALE)
    # A chain in a spike rejects every move sized for the others: "high" names why.
    high = above
    stuck = (acceptance < jnp.minimum(STUCK_ACCEPTANCE, STUCK_RATIO * reference)) & ~high
    low = (below | ~jnp.isfinite(logdensity)) & ~stuck
    if spread is None:
        scale = jnp.zeros_like(stuck)
    else:
        log_spread = jnp.log(jnp.maximum(jnp.asarray(spread), jnp.finfo(logdensity.dtype).tiny))
        narrow, wide = _robust_outliers(log_spread, SPREAD_MIN_SCALE)
        scale = (narrow | wide) & ~(stuck | low | high)
    return Health(stuck, low, high, scale)


def restart_chains(key: PRNGKey, states, bad: Array):
    """Each ``bad`` chain takes the state of a healthy chain drawn from ``key`` (own count kept).

    Nothing moves when no chain is healthy.
    """
    num_chains = bad.shape[0]
    healthy = ~bad
    num_healthy = jnp.sum(healthy)
    healthy_ids = jnp.nonzero(healthy, size=num_chains, fill_value=0)[0]
    pick = jax.random.randint(key, (num_chains,), 0, jnp.maximum(num_healthy, 1))
    source = jnp.where(bad & (num_healthy > 0), healthy_ids[pick], jnp.arange(num_chains))
    moved = jax.tree.map(lambda x: x[source], states)
    return moved._replace(count=states.count)


__all__ = [
    "OUTLIER_MADS",
    "OUTLIER_MIN_SCALE",
    "SPREAD_MIN_SCALE",
    "STUCK_ACCEPTANCE",
    "STUCK_RATIO",
    "Health",
    "chain_health",
    "restart_chains",
]
