"""The common type of every analytic target, and the checks its builders share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_int, check_key
from jlangevin.types import Array, PRNGKey


@dataclasses.dataclass(frozen=True, eq=False)
class Target:
    """A distribution on ``R^dim`` with whatever is known about it exactly.

    Positions are arrays of shape ``(dim,)``. Fields that are not known in
    closed form are ``None``; diagnostics use what is there and skip the rest.
    The fields are checked on construction (shapes against ``dim``, finite
    moments, callables), so a hand-built target fails early too.

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

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.targets import Target
    >>> Target("flat-ish", lambda x: -jnp.sum(x**4), dim=2)
    Target('flat-ish', dim=2, exact=[])
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

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`name` must be a string; got {type(self.name).__name__}.")
        dim = as_int(self.dim, "dim", minimum=1)
        object.__setattr__(self, "dim", dim)
        for field in ("logdensity", "pdf", "sample"):
            fn = getattr(self, field)
            if fn is not None and not callable(fn):
                raise TypeError(f"`{field}` must be callable; got {type(fn).__name__}.")
        if self.logdensity is None:
            raise TypeError("`logdensity` is required (a function `x -> log p(x)`).")
        for field, shape in (("mean", (dim,)), ("var", (dim,)), ("cov", (dim, dim))):
            value = getattr(self, field)
            if value is not None:
                object.__setattr__(self, field, _exact_array(value, field, shape))
        if self.var is not None and np.any(self.var < 0):
            raise ValueError(f"`var` must be non-negative; got {self.var}.")
        if self.support is not None:
            object.__setattr__(self, "support", _box(self.support, dim))
        if self.marginal_cdfs is not None:
            cdfs = tuple(self.marginal_cdfs)
            if len(cdfs) != dim or any(c is not None and not callable(c) for c in cdfs):
                raise ValueError(
                    f"`marginal_cdfs` must hold {dim} callables (or None); got {cdfs!r}."
                )
            object.__setattr__(self, "marginal_cdfs", cdfs)

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


# --------------------------------------------------------------------------- #
# Checks shared by the target builders
# --------------------------------------------------------------------------- #
def real_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a finite float64 numpy array (lists and numpy/JAX arrays alike).

    Examples
    --------
    >>> from jlangevin.targets.base import real_array
    >>> real_array([1, 2], "mean").tolist()
    [1.0, 2.0]
    """
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"`{name}` must be concrete (a target is built outside jit).")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {err}") from None
    if raw.dtype == np.bool_ or not (
        np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {raw.dtype}.")
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return arr


def real_vector(value: Any, name: str) -> np.ndarray:
    """A non-empty finite 1-D float64 vector (a scalar counts as length 1)."""
    arr = np.atleast_1d(real_array(value, name))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty vector; got shape {arr.shape}.")
    return arr


def broadcast_to(arr: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``arr`` broadcast to ``shape`` (a copy), or a ``ValueError`` naming ``name``."""
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {arr.shape} does not broadcast to shape {shape}."
        ) from None


def _exact_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr = real_array(value, name)
    if arr.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}; got {arr.shape}.")
    return arr


def _box(support: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(support, tuple | list) or len(support) != 2:
        raise ValueError(f"`support` must be a pair (low, high); got {support!r}.")
    low = broadcast_to(real_array(support[0], "support"), (dim,), "support")
    high = broadcast_to(real_array(support[1], "support"), (dim,), "support")
    if np.any(low >= high):
        raise ValueError(f"`support` needs low < high everywhere; got {low}, {high}.")
    return low, high


def float_dtype(x: Array) -> Any:
    """The floating dtype to compute in for positions ``x`` (float32 stays float32)."""
    return jnp.result_type(x, float)


def check_point(x: Any, dim: int) -> Array:
    """``x`` as an array of shape ``(dim,)`` (one position), checked at trace time."""
    x = jnp.asarray(x)
    if x.shape != (dim,):
        raise ValueError(
            f"`x` must be one position of shape ({dim},); got shape {x.shape}. "
            "(For many positions use jax.vmap, or the target's `pdf`.)"
        )
    return x.astype(float_dtype(x))


def check_points(x: Any, dim: int) -> Array:
    """``x`` as an array of positions ``(..., dim)``."""
    x = jnp.asarray(x)
    if x.ndim == 0 or x.shape[-1] != dim:
        raise ValueError(f"`x` must have a last axis of length {dim}; got shape {x.shape}.")
    return x.astype(float_dtype(x))


def checked_sampler(
    draw: Callable[[PRNGKey, int], Array],
) -> Callable[[PRNGKey, int], Array]:
    """``draw`` with its key and number of draws checked first."""

    def sample(key: PRNGKey, n: int) -> Array:
        check_key(key)
        return draw(key, as_int(n, "n", minimum=1))

    return sample


def pdf_from_logdensity(logdensity: Callable[[Array], Array], dim: int) -> Callable:
    """``x -> exp(logdensity(x))`` for positions ``(..., dim)`` (a normalized log density)."""

    def pdf(x: Array) -> Array:
        x = check_points(x, dim)
        flat = jnp.reshape(x, (-1, dim))
        return jnp.exp(jax.vmap(logdensity)(flat)).reshape(x.shape[:-1])

    return pdf
