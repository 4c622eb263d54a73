"""Two-dimensional shapes: the elliptical ring and the banana.

Their parameters may be traced (a target built inside ``jit``/``vmap``/``grad``):
the log density, score and moments follow them. Only the ellipse's exact
sampler, which inverts a radial CDF tabulated on the host, needs a concrete
``width``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from jlangevin._checks import as_positive, as_real
from jlangevin.targets.base import (
    Target,
    array_module,
    broadcast_to,
    check_point,
    checked_sampler,
    is_traced,
    pdf_from_logdensity,
    real_array,
    real_scalar,
    require_concrete,
)
from jlangevin.types import Array, PRNGKey


def _pair(value, name: str) -> Any:
    """A finite length-2 vector (a scalar is used for both coordinates)."""
    return broadcast_to(real_array(value, name), (2,), name)


def _radial_moments(width: Any) -> tuple[Any, Any]:
    """``M = ∫_0^∞ r exp(-(r-1)²/w) dr`` and ``E[r²]`` under ``r exp(-(r-1)²/w) / M``.

    In closed form (``t = r - 1``; the Gaussian moments on ``(-1, ∞)``), so
    they are traceable in the width ``w``.
    """
    if is_traced(width):
        exp, sqrt, erf = jnp.exp, jnp.sqrt, jax.scipy.special.erf
    else:
        exp, sqrt, erf = math.exp, math.sqrt, math.erf
    tail = 0.5 * width * exp(-1.0 / width)  # ∫ t e^{-t²/w} dt
    body = 0.5 * sqrt(math.pi * width) * (1.0 + erf(1.0 / sqrt(width)))  # ∫ e^{-t²/w} dt
    mass = tail + body
    third = tail + width * tail + (1.0 + 1.5 * width) * body  # ∫ (t + 1)³ e^{-t²/w} dt
    return mass, third / mass


def _radial_cdf_grid(width: float) -> tuple[np.ndarray, np.ndarray]:
    """The radial CDF on a fine grid of ``r`` (trapezoid rule), for inverse-CDF draws."""
    r = np.linspace(0.0, 1.0 + 12.0 * math.sqrt(width), 200_001)
    radial = r * np.exp(-((r - 1.0) ** 2) / width)
    dr = r[1] - r[0]
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (radial[1:] + radial[:-1]) * dr)])
    return r, cum / cum[-1]


def ellipse(radii=(1.0, 0.6), centre=(0.0, 0.0), width: float = 0.033) -> Target:
    """Elliptical ring ``log p = -(r - 1)^2 / width``, ``r = |(x - centre) / radii|``.

    Mass concentrates on the ellipse with the given semi-axes. Its normalizer,
    mean (the centre) and variances ``radii² E[r²] / 2`` come from the radial
    integral in closed form; exact draws invert the radial CDF on a fine grid
    and take a uniform angle.

    Every parameter may be traced; the log density, score and moments follow
    it. The exact sampler tabulates the radial CDF on the host, so it needs a
    concrete ``width`` (a ``TypeError`` otherwise).

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.ellipse(radii=(2.0, 1.0))
    >>> target.mean.tolist()
    [0.0, 0.0]
    """
    radii, centre = _pair(radii, "radii"), _pair(centre, "centre")
    if not is_traced(radii) and np.any(radii <= 0):
        raise ValueError(f"`radii` must be positive; got {radii}.")
    width = real_scalar(width, "width", as_positive)
    # Radial law of u = (x - c) / radii: density ∝ r exp(-(r-1)^2 / width) on r > 0.
    mass, second = _radial_moments(width)
    xp = array_module(radii, width)
    log_z = xp.log(2 * math.pi * mass * xp.prod(radii))
    grid = None if is_traced(width) else _radial_cdf_grid(width)

    def logdensity(x: Array) -> Array:
        x = check_point(x, 2)
        white = (x - jnp.asarray(centre, x.dtype)) / jnp.asarray(radii, x.dtype)
        rho = jnp.sqrt(jnp.sum(white**2) + 1e-30)
        w, log_norm = jnp.asarray(width, x.dtype), jnp.asarray(log_z, x.dtype)
        return -((rho - 1.0) ** 2) / w - log_norm

    def sample(key: PRNGKey, n: int) -> Array:
        require_concrete(width, "width", "The ellipse's exact sampler")
        r, cdf_grid = grid
        key_r, key_a = jax.random.split(key)
        u = jax.random.uniform(key_r, (n,))
        rho = jnp.interp(u, jnp.asarray(cdf_grid, u.dtype), jnp.asarray(r, u.dtype))
        angle = jax.random.uniform(key_a, (n,), maxval=2 * jnp.pi)
        unit = jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
        return jnp.asarray(centre, u.dtype) + jnp.asarray(radii, u.dtype) * rho[:, None] * unit

    var = radii**2 * second / 2
    return Target(
        name="ellipse",
        logdensity=logdensity,
        dim=2,
        mean=centre,
        var=var,
        cov=array_module(var).diag(var),
        marginal_cdfs=(None, None),
        pdf=pdf_from_logdensity(logdensity, 2),
        sample=checked_sampler(sample),
    )


def banana(scale: float = 2.0, curvature: float = 0.25) -> Target:
    """Twisted Gaussian: ``x1 ~ N(0, scale²)``, ``x2 | x1 ~ N(curvature (x1² - scale²), 1)``.

    Exact normalizer, mean ``(0, 0)``, variances ``(s², 1 + 2 b² s⁴)``, the
    exact marginal CDF of ``x1`` and exact draws; ``scale`` and ``curvature``
    may be traced.

    Examples
    --------
    >>> import jlangevin as jl
    >>> jl.targets.banana(scale=2.0, curvature=0.25).var.tolist()
    [4.0, 3.0]
    """
    s = real_scalar(scale, "scale", as_positive)
    b = real_scalar(curvature, "curvature", as_real)
    xp = array_module(s, b)
    log_norm = -math.log(2 * math.pi) - xp.log(s)

    def logdensity(x: Array) -> Array:
        x1, x2 = check_point(x, 2)
        s_x, b_x = jnp.asarray(s, x1.dtype), jnp.asarray(b, x1.dtype)
        bend = x2 - b_x * (x1**2 - s_x**2)
        return jnp.asarray(log_norm, x1.dtype) - 0.5 * (x1 / s_x) ** 2 - 0.5 * bend**2

    def sample(key: PRNGKey, n: int) -> Array:
        z = jax.random.normal(key, (n, 2))
        x1 = jnp.asarray(s, z.dtype) * z[:, 0]
        bend = jnp.asarray(b, z.dtype) * (x1**2 - jnp.asarray(s, z.dtype) ** 2)
        return jnp.stack([x1, z[:, 1] + bend], axis=-1)

    def cdf_1(v: Array) -> Array:
        v = jnp.asarray(v)
        dt = jnp.result_type(v, float)
        return norm.cdf(v.astype(dt) / jnp.asarray(s, dt))

    var = xp.stack([xp.square(s), 1 + 2 * xp.square(b) * s**4])
    return Target(
        name="banana",
        logdensity=logdensity,
        dim=2,
        mean=np.zeros(2),
        var=var,
        cov=xp.diag(var),
        marginal_cdfs=(cdf_1, None),
        pdf=pdf_from_logdensity(logdensity, 2),
        sample=checked_sampler(sample),
    )
