"""The common type of every analytic target."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True, eq=False)
class Target:
    """A distribution on ``R^dim`` with whatever is known about it exactly.

    Positions are arrays of shape ``(dim,)``. Fields that are not known in
    closed form are ``None``; diagnostics use what is there and skip the rest.

    Attributes
    ----------
    name : short identifier.
    logdensity : ``x -> log p(x)`` (normalized where the constant is known).
    dim : dimension of the position.
    support : ``(low, high)`` arrays of shape ``(dim,)`` for a box support, or ``None``.
    mean, var : exact mean and marginal variances, shape ``(dim,)``.
    cov : exact covariance ``(dim, dim)`` where known.
    marginal_cdfs : per coordinate, the exact marginal CDF (a vectorised
        function of that coordinate's values) or ``None``.
    pdf : normalized density ``x -> p(x)`` for positions ``(..., dim)``, where known.
    sample : ``(key, n) -> (n, dim)`` exact i.i.d. draws, where possible.
    """

    name: str
    logdensity: Callable[[Array], Array]
    dim: int
    support: tuple[np.ndarray, np.ndarray] | None = None
    mean: np.ndarray | None = None
    var: np.ndarray | None = None
    cov: np.ndarray | None = None
    marginal_cdfs: tuple[Callable | None, ...] | None = None
    pdf: Callable[[Array], Array] | None = None
    sample: Callable[[PRNGKey, int], Array] | None = None

    @property
    def score(self) -> Callable[[Array], Array]:
        """``x -> grad log p(x)`` by automatic differentiation."""
        return jax.grad(self.logdensity)

    @property
    def cdf(self) -> Callable | None:
        """The exact CDF of a 1-D target (``None`` otherwise or when unknown)."""
        if self.dim != 1 or not self.marginal_cdfs:
            return None
        return self.marginal_cdfs[0]

    def __repr__(self) -> str:
        known = [
            f
            for f in ("mean", "var", "cov", "marginal_cdfs", "pdf", "sample")
            if getattr(self, f) is not None
        ]
        return f"Target({self.name!r}, dim={self.dim}, exact={known})"


def pdf_from_logdensity(logdensity: Callable[[Array], Array], dim: int) -> Callable:
    """``x -> exp(logdensity(x))`` for positions ``(..., dim)`` (a normalized log density)."""

    def pdf(x: Array) -> Array:
        x = jnp.asarray(x)
        flat = jnp.reshape(x, (-1, dim))
        return jnp.exp(jax.vmap(logdensity)(flat)).reshape(x.shape[:-1])

    return pdf
