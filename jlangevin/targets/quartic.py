"""The normalized quartic on [-0.7, 1.5]."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.targets.base import Target, check_point, check_points, checked_sampler
from jlangevin.types import Array, PRNGKey

LOW, HIGH = -0.7, 1.5


def _poly() -> np.polynomial.Polynomial:
    x = np.polynomial.Polynomial([0.0, 1.0])
    return (x - 0.4) ** 4 - (x - 0.2) ** 2 + 0.6


def _moment(k: int) -> float:
    poly = _poly() * np.polynomial.Polynomial([0.0] * k + [1.0])
    antiderivative = poly.integ()
    return float(antiderivative(HIGH) - antiderivative(LOW))


#: ∫_{-0.7}^{1.5} ((x-0.4)^4 - (x-0.2)^2 + 0.6) dx = 0.98887066...
NORMALIZER = _moment(0)


def quartic() -> Target:
    """``p(x) = ((x-0.4)^4 - (x-0.2)^2 + 0.6) / Z`` on ``[-0.7, 1.5]``.

    Highest at the left wall (``p(-0.7) = 1.268``), a local maximum near
    ``x = 0.178``, a deep trough near ``x = 1.191`` (where ``p`` drops to about
    0.0095) and a second rise to ``p(1.5) = 0.378``: mass sits against both walls,
    so boundary handling matters. Everything
    is exact: ``Z = 0.98887066...``, mean ``0.0410720``, variance ``0.2852582``,
    the CDF is the integrated polynomial, and exact draws come from inverting it.

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.quartic()
    >>> round(float(target.mean[0]), 7), round(float(target.var[0]), 7)
    (0.041072, 0.2852582)
    """
    z = NORMALIZER
    mean = _moment(1) / z
    var = _moment(2) / z - mean**2

    def density_1d(x: Array) -> Array:
        inside = (x >= LOW) & (x <= HIGH)
        value = ((x - 0.4) ** 4 - (x - 0.2) ** 2 + 0.6) / z
        return jnp.where(inside, value, 0.0)

    def logdensity(x: Array) -> Array:
        x = check_point(x, 1)[0]  # position shape (1,)
        inside = (x >= LOW) & (x <= HIGH)
        safe = jnp.where(inside, x, 0.4)  # keep log() and its gradient finite outside
        value = jnp.log((safe - 0.4) ** 4 - (safe - 0.2) ** 2 + 0.6) - jnp.log(z)
        return jnp.where(inside, value, -jnp.inf)

    def cdf(x: Array) -> Array:
        c = jnp.clip(jnp.asarray(x), LOW, HIGH)
        antiderivative = (c - 0.4) ** 5 / 5 - (c - 0.2) ** 3 / 3 + 0.6 * c
        at_low = (LOW - 0.4) ** 5 / 5 - (LOW - 0.2) ** 3 / 3 + 0.6 * LOW
        return jnp.clip((antiderivative - at_low) / z, 0.0, 1.0)

    def pdf(x: Array) -> Array:
        return density_1d(check_points(x, 1)[..., 0])

    def sample(key: PRNGKey, n: int) -> Array:
        """Inverse-CDF draws by bisection (the CDF is monotone on the support)."""
        u = jax.random.uniform(key, (n,))

        def bisect(_, bracket):
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < u
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        bracket = (jnp.full((n,), LOW, u.dtype), jnp.full((n,), HIGH, u.dtype))
        lo, hi = jax.lax.fori_loop(0, 60, bisect, bracket)
        return (0.5 * (lo + hi))[:, None]

    return Target(
        name="quartic",
        logdensity=logdensity,
        dim=1,
        support=(np.array([LOW]), np.array([HIGH])),
        mean=np.array([mean]),
        var=np.array([var]),
        cov=np.array([[var]]),
        marginal_cdfs=(cdf,),
        pdf=pdf,
        sample=checked_sampler(sample),
    )
