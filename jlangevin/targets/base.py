"""The common type of every analytic target, and the checks its builders share.

Parameters may be traced (a target built inside ``jit``/``vmap``/``grad``):
their shapes and dtypes are checked as usual, their values only where they are
concrete. A concrete parameter becomes a float64 numpy array (so the target's
constants keep float64 accuracy), a traced one a floating JAX array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_int, check_key, describe, is_bool
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
        The exact arrays are float64 numpy arrays, or JAX arrays when the
        target was built from traced parameters.
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
        if self.var is not None and not is_traced(self.var) and np.any(self.var < 0):
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
def is_traced(value: Any) -> bool:
    """True when ``value`` (or any entry of a list/tuple of them) is traced under jit/vmap/grad.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.targets.base import is_traced
    >>> seen = []
    >>> _ = jax.jit(lambda s: seen.append(is_traced([s, 1.0])) or s)(0.5)
    >>> is_traced([1.0, 2.0]), seen
    (False, [True])
    """
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def array_module(*values: Any) -> Any:
    """``jax.numpy`` when any of ``values`` is traced, else ``numpy`` (float64 on the host)."""
    return jnp if any(is_traced(v) for v in values) else np


def _is_real_dtype(dtype: Any) -> bool:
    return dtype != np.bool_ and (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    )


def _traced_real_array(value: Any, name: str) -> Array:
    """A traced ``value`` as a floating JAX array: its dtype checked, not its values."""
    try:
        arr = jnp.asarray(value)
    except (TypeError, ValueError) as err:  # ragged or non-numeric lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {err}") from None
    if not _is_real_dtype(arr.dtype):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {arr.dtype}.")
    return arr.astype(jnp.result_type(arr.dtype, float))


def real_array(value: Any, name: str) -> np.ndarray | Array:
    """``value`` as a finite float64 numpy array (lists and numpy/JAX arrays alike).

    A traced ``value`` (or a list holding traced entries) becomes a floating
    JAX array instead: its dtype is checked, its values cannot be.

    Examples
    --------
    >>> from jlangevin.targets.base import real_array
    >>> real_array([1, 2], "mean").tolist()
    [1.0, 2.0]
    """
    if is_traced(value):
        return _traced_real_array(value, name)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {err}") from None
    if not _is_real_dtype(raw.dtype):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {raw.dtype}.")
    arr = raw.astype(float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return arr


def real_vector(value: Any, name: str) -> np.ndarray | Array:
    """A non-empty finite 1-D float vector (a scalar counts as length 1); see :func:`real_array`."""
    arr = real_array(value, name)
    arr = array_module(arr).atleast_1d(arr)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`{name}` must be a non-empty vector; got shape {arr.shape}.")
    return arr


def real_scalar(value: Any, name: str, check: Callable[[Any, str], float]) -> float | Array:
    """A real number: ``check(value, name)`` (a Python float) when concrete.

    A traced ``value`` must be a 0-d real array; it comes back as a floating
    JAX scalar, its value unchecked (``check`` needs a concrete number).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from jlangevin._checks import as_positive
    >>> from jlangevin.targets.base import real_scalar
    >>> real_scalar(np.float32(0.5), "scale", as_positive)
    0.5
    >>> float(jax.jit(lambda s: real_scalar(s, "scale", as_positive) * 2)(0.5))
    1.0
    """
    if not isinstance(value, jax.core.Tracer):
        return check(value, name)
    if is_bool(value) or jnp.ndim(value) != 0 or not _is_real_dtype(value.dtype):
        raise TypeError(f"`{name}` must be a real number; got {describe(value)}.")
    return value.astype(jnp.result_type(value.dtype, float))


def broadcast_to(arr: Any, shape: tuple[int, ...], name: str) -> np.ndarray | Array:
    """``arr`` broadcast to ``shape`` (a copy), or a ``ValueError`` naming ``name``."""
    try:
        if is_traced(arr):
            return jnp.broadcast_to(arr, shape)
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {np.shape(arr)} does not broadcast to shape {shape}."
        ) from None


def require_concrete(value: Any, name: str, what: str) -> None:
    """``what`` needs a concrete ``name``: a ``TypeError`` when it was traced."""
    if is_traced(value):
        raise TypeError(
            f"{what} needs a concrete `{name}`, but the target was built with `{name}` traced "
            "under jit/vmap/grad (its log density and score work there; build the target "
            "outside the transformation for this)."
        )


def _exact_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray | Array:
    arr = real_array(value, name)
    if arr.shape != shape:
        raise ValueError(f"`{name}` must have shape {shape}; got {arr.shape}.")
    return arr


def _box(support: Any, dim: int) -> tuple[Any, Any]:
    if not isinstance(support, tuple | list) or len(support) != 2:
        raise ValueError(f"`support` must be a pair (low, high); got {support!r}.")
    low = broadcast_to(real_array(support[0], "support"), (dim,), "support")
    high = broadcast_to(real_array(support[1], "support"), (dim,), "support")
    if not is_traced((low, high)) and np.any(low >= high):
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
