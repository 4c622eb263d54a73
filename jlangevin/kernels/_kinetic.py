"""Pieces the kinetic (position + momentum) kernels share: the metric and the O, B, A steps.

The momentum is kept *whitened*. With an inverse mass ``M⁻¹ = L Lᵀ`` (a
preconditioner that should resemble the target's covariance), the physical
momentum ``p ~ N(0, M)`` is stored as ``u = Lᵀ p ~ N(0, I)``, so that::

    dx = L u dt,    du = Lᵀ s(x) dt - gamma u dt + sqrt(2 gamma) dW,    K(u) = |u|² / 2

and no inverse of ``L`` is ever needed. ``L`` is ``1`` (unit mass),
``sqrt(inverse_mass)`` leaf by leaf (a diagonal metric), a dense lower
factor acting on the raveled position (:func:`jax.flatten_util.ravel_pytree`),
or a low rank plus diagonal root ``L = diag(sd) (I + U diag(f - 1) Uᵀ)`` on the
raveled position (``U`` a ``(d, k)`` orthonormal basis), applied in ``O(d k)``.
Each step below is one of the three pieces every splitting is made of:

- O: ``u <- eta u + sqrt(1 - eta²) xi`` (exact Ornstein–Uhlenbeck, ``eta = exp(-gamma t)``);
- B: ``u <- u + t Lᵀ s(x)`` (a kick);
- A: ``x <- x + t L u`` (a drift), reflected at the walls of a box with the
  momentum of each reflected coordinate negated: the hard-wall (billiard)
  flow, volume-preserving and reversible, so exact kernels stay exact.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin.kernels import _bounds, _move
from jlangevin.kernels._checks import (
    check_like_position,
    check_real,
    check_step_size,
    checked_init,
    describe,
)
from jlangevin.kernels._tree import (
    broadcast_like,
    check_broadcasts,
    normal_like,
    tree_squared_norm,
)
from jlangevin.kernels.mala import check_cholesky
from jlangevin.types import Array, ArrayTree, Bounds, PRNGKey, Sampler, StepSize


class Metric(NamedTuple):
    """The factor ``L`` of the inverse mass ``M⁻¹ = L Lᵀ``.

    Attributes
    ----------
    scale : ``sqrt(inverse_mass)`` as a pytree like the position (diagonal), or ``None``.
    lower : the dense lower factor over the raveled position, or ``None``.
    low_rank : ``(sd, basis, factors)`` over the raveled position, ``(d,)``, ``(d, k)``
        and ``(k,)``: ``L = diag(sd) (I + basis diag(factors - 1) basisᵀ)``; or ``None``.
    All ``None``: unit mass.
    """

    scale: ArrayTree | None = None
    lower: Array | None = None
    low_rank: tuple[Array, Array, Array] | None = None


def check_gamma(gamma: Any, *, allow_zero: bool) -> None:
    """Friction: a real finite scalar, positive (``>= 0`` with ``allow_zero``)."""
    want = "a non-negative" if allow_zero else "a positive"
    if gamma is None or callable(gamma) or np.ndim(gamma) != 0:
        raise TypeError(f"`gamma` (friction) must be {want} finite scalar; got {describe(gamma)}.")
    check_real(gamma, "gamma", positive=not allow_zero)
    if allow_zero and not isinstance(gamma, jax.core.Tracer) and float(gamma) < 0:
        raise ValueError(f"`gamma` (friction) must be {want} finite scalar; got {gamma}.")


def check_scalar_step_size(step_size: StepSize) -> None:
    """A positive finite scalar step, or a schedule of them (checked as in ``check_step_size``)."""
    check_step_size(step_size)
    if not callable(step_size) and np.ndim(step_size) != 0:
        raise ValueError(
            "`step_size` must be a scalar (or a schedule of scalars): per-coordinate scales "
            f"go in `inverse_mass` or `cholesky`; got shape {np.shape(step_size)}."
        )


def scalar_step(step_size: StepSize, count: Array, position: ArrayTree) -> Array:
    """The scalar step at ``count``, typed like the position."""
    value = _move.step_size_at(step_size, count)
    if callable(value) or np.ndim(value) != 0:
        raise ValueError(
            "`step_size` must be a scalar (or a schedule of scalars): per-coordinate scales "
            f"go in `inverse_mass` or `cholesky`; got shape {np.shape(value)}."
        )
    check_real(value, "step_size")
    return jnp.asarray(value, jnp.result_type(*jax.tree.leaves(position)))


def check_metric_settings(
    inverse_mass: Any, cholesky: Any, bounds: Bounds | None = None, low_rank: Any = None
) -> None:
    """Values of a metric, before any position is known (shapes come at :func:`make_metric`)."""
    if inverse_mass is not None and cholesky is not None:
        raise ValueError(
            "Pass either `inverse_mass` (a diagonal metric) or `cholesky` (a dense one), not both."
        )
    if low_rank is not None:
        check_low_rank(low_rank)
        if inverse_mass is not None or cholesky is not None:
            given = "inverse_mass" if inverse_mass is not None else "cholesky"
            raise ValueError(
                f"Pass one metric: `low_rank` (low rank plus diagonal) or `{given}`, not both."
            )
        if bounds is not None:
            raise ValueError(
                "`bounds` cannot be combined with `low_rank`: reflecting at a wall flips the "
                "momentum coordinate by coordinate, which needs a diagonal metric (`inverse_mass`)."
            )
    if inverse_mass is not None:
        if callable(inverse_mass):
            raise TypeError(
                f"`inverse_mass` must be an array or pytree; got {describe(inverse_mass)}."
            )
        check_real(inverse_mass, "inverse_mass")
    check_cholesky(cholesky)
    if cholesky is not None and bounds is not None:
        raise ValueError(
            "`bounds` cannot be combined with `cholesky`: reflecting at a wall flips the "
            "momentum coordinate by coordinate, which needs a diagonal metric (`inverse_mass`)."
        )


def check_low_rank(low_rank: Any) -> None:
    """``(sd, basis, factors)``: a triple of real arrays, ``basis`` 2-D and ``factors`` 1-D."""
    if not isinstance(low_rank, tuple | list) or len(low_rank) != 3:
        raise TypeError(
            "`low_rank` must be a triple (sd, basis, factors): standard deviations (d,) or a "
            f"pytree like the position, an orthonormal (d, k) basis and (k,) factors; got "
            f"{describe(low_rank)}."
        )
    sd, basis, factors = low_rank
    for name, value in (("sd", sd), ("basis", basis), ("factors", factors)):
        if value is None or callable(value):
            raise TypeError(f"`low_rank` {name} must be an array; got {describe(value)}.")
        check_real(value, f"low_rank {name}", positive=name != "basis")
    if np.ndim(basis) != 2 or np.ndim(factors) != 1 or np.shape(basis)[1] != np.shape(factors)[0]:
        raise ValueError(
            "`low_rank` must hold a (d, k) basis and (k,) factors; got shapes "
            f"{np.shape(basis)} and {np.shape(factors)}."
        )


def _low_rank_metric(position: ArrayTree, low_rank: Any) -> Metric:
    flat = ravel_pytree(position)[0]
    size = flat.size
    sd, basis, factors = low_rank
    if np.ndim(sd) == 1 and np.shape(sd) == (size,):
        sd_flat = jnp.asarray(sd, flat.dtype)
    else:
        tree = broadcast_like(sd, position, "low_rank sd")
        check_broadcasts(tree, position, "low_rank sd")
        typed = jax.tree.map(lambda c, x: jnp.asarray(c, x.dtype), tree, position)
        sd_flat = ravel_pytree(typed)[0]
    if np.shape(basis)[0] != size:
        raise ValueError(
            f"`low_rank` basis must be ({size}, k) for a position of total size {size}; "
            f"got shape {np.shape(basis)}."
        )
    return Metric(
        low_rank=(sd_flat, jnp.asarray(basis, flat.dtype), jnp.asarray(factors, flat.dtype))
    )


def make_metric(
    position: ArrayTree, inverse_mass: Any = None, cholesky: Any = None, low_rank: Any = None
) -> Metric:
    """The :class:`Metric` for ``position``, shape-checked and in its dtypes."""
    check_metric_settings(inverse_mass, cholesky, low_rank=low_rank)
    if low_rank is not None:
        return _low_rank_metric(position, low_rank)
    if inverse_mass is not None:
        tree = broadcast_like(inverse_mass, position, "inverse_mass")
        check_broadcasts(tree, position, "inverse_mass")
        scale = jax.tree.map(
            lambda c, x: jnp.sqrt(jnp.asarray(c, jnp.result_type(x))), tree, position
        )
        return Metric(scale=scale)
    if cholesky is not None:
        flat = ravel_pytree(position)[0]
        size = flat.size
        if np.shape(cholesky) != (size, size):
            raise ValueError(
                f"`cholesky` must be ({size}, {size}) for a position of total size {size}; "
                f"got shape {np.shape(cholesky)}."
            )
        return Metric(lower=jnp.tril(jnp.asarray(cholesky, flat.dtype)))
    return Metric()


def root_settings(metric: Any, position: ArrayTree) -> dict[str, Any]:
    """A warm-up's :class:`~jlangevin.types.MetricRoot` as the kinetic kernels' keywords:
    ``inverse_mass`` (diagonal, unravelled like ``position``), ``cholesky`` or ``low_rank``."""
    if getattr(metric, "is_low_rank", False):
        return {"low_rank": (metric.scale, metric.basis, metric.factors)}
    if metric.is_dense:
        return {"cholesky": metric.lower}
    return {"inverse_mass": ravel_pytree(position)[1](metric.scale**2)}


def tuned_steps(
    sampler: Sampler, num_integration_steps: Any, step: Callable | None = None
) -> Sampler:
    """A tuned sampler whose ``L`` is an ``int32`` array (and its step ``step``, one that
    takes a traced ``L``), so that one compiled loop serves every tuned ``L``.

    ``sampler`` is the kernel's own, built (and checked) with ``L`` as an integer:
    a static ``L`` is compiled into the loop, one program per tuned value.
    """
    bound = sampler.step
    keywords = {
        **bound.keywords,
        "num_integration_steps": jnp.asarray(num_integration_steps, jnp.int32),
    }
    return sampler._replace(step=functools.partial(step or bound.func, *bound.args, **keywords))


def checked_start(
    position: ArrayTree,
    logdensity_fn: Any,
    score_fn: Any,
    step_size: StepSize | None,
    inverse_mass: Any,
    cholesky: Any,
    low_rank: Any,
    bounds: Bounds | None,
) -> tuple[Array, ArrayTree]:
    """``(log p, score)`` at a kinetic kernel's start, every setting checked against it.

    The metric, the box and the step are checked against the position's shapes
    (the ``init`` of MALT, MAMS and MCLMC); outside ``bounds`` the value is ``-inf``.
    """
    check_metric_settings(inverse_mass, cholesky, bounds, low_rank)
    _bounds.check_inside(position, bounds)
    value, score = checked_init(position, logdensity_fn, score_fn)
    make_metric(position, inverse_mass, cholesky, low_rank)
    if step_size is not None:
        scalar_step(step_size, jnp.zeros((), jnp.int32), position)
    return _bounds.mask_outside(position, bounds, value, score)


def _dense(vector_fn: Any, tree: ArrayTree) -> ArrayTree:
    flat, unravel = ravel_pytree(tree)
    return unravel(vector_fn(flat))


def _along(basis: Array, factors: Array, v: Array) -> Array:
    """``(I + basis diag(factors - 1) basisᵀ) v`` in ``O(d k)``."""
    return v + basis @ ((factors - 1) * (basis.T @ v))


def velocity(metric: Metric, momentum: ArrayTree) -> ArrayTree:
    """``L u``: the position's rate of change."""
    if metric.scale is not None:
        return jax.tree.map(jnp.multiply, metric.scale, momentum)
    if metric.lower is not None:
        return _dense(lambda u: metric.lower @ u, momentum)
    if metric.low_rank is not None:
        sd, basis, factors = metric.low_rank
        return _dense(lambda u: sd * _along(basis, factors, u), momentum)
    return momentum


def force(metric: Metric, score: ArrayTree) -> ArrayTree:
    """``Lᵀ s``: the momentum's rate of change from the score."""
    if metric.scale is not None:
        return jax.tree.map(jnp.multiply, metric.scale, score)
    if metric.lower is not None:
        return _dense(lambda s: metric.lower.T @ s, score)
    if metric.low_rank is not None:
        sd, basis, factors = metric.low_rank
        return _dense(lambda s: _along(basis, factors, sd * s), score)
    return score


def refresh(key: PRNGKey, momentum: ArrayTree, eta: Array) -> ArrayTree:
    """O: ``eta u + sqrt(1 - eta²) xi``; ``eta = exp(-gamma t)`` (0: a fresh draw).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import _kinetic
    >>> _kinetic.refresh(jax.random.key(0), jnp.ones(2), jnp.asarray(1.0))
    Array([1., 1.], dtype=float32)
    """
    noise = normal_like(key, momentum)

    def ou(u, xi):
        e = jnp.asarray(eta, jnp.result_type(u))
        return e * u + jnp.sqrt(1 - e**2) * xi

    return jax.tree.map(ou, momentum, noise)


def kick(momentum: ArrayTree, metric: Metric, score: ArrayTree, t: Array) -> ArrayTree:
    """B: ``u + t Lᵀ s``."""
    return jax.tree.map(lambda u, f: u + t * f, momentum, force(metric, score))


def reflect_and_flip(x: Array, u: Array, low: Array, high: Array) -> tuple[Array, Array]:
    """Fold ``x`` into ``[low, high]`` (as :func:`_bounds.reflect`) and negate ``u`` where
    the fold leaves it moving the other way (an odd number of reflections).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._kinetic import reflect_and_flip
    >>> x, u = reflect_and_flip(jnp.array([1.5, 3.5, 0.25]), jnp.ones(3), -1.0, 1.0)
    >>> x.tolist(), u.tolist()
    ([0.5, -0.5, 0.25], [-1.0, 1.0, 1.0])
    """
    low, high = jnp.asarray(low, x.dtype), jnp.asarray(high, x.dtype)
    folded = _bounds.reflect(x, low, high)
    both = jnp.isfinite(low) & jnp.isfinite(high)
    width = jnp.where(both, high - low, 1.0)
    phase = jnp.mod(x - jnp.where(both, low, 0.0), 2 * width)
    one_sided = jnp.where(jnp.isfinite(low), x < low, x > high)
    flip = jnp.where(both, phase > width, one_sided)
    return folded, jnp.where(flip, -u, u).astype(u.dtype)


def drift(
    position: ArrayTree, momentum: ArrayTree, metric: Metric, t: Array, bounds: Bounds | None
) -> tuple[ArrayTree, ArrayTree]:
    """A: ``x + t L u``, reflected into ``bounds`` with the momentum flipped there."""
    moved = jax.tree.map(lambda x, v: x + t * v, position, velocity(metric, momentum))
    if bounds is None:
        return moved, momentum
    low, high = _bounds.bound_trees(bounds, position)
    pairs = jax.tree.map(reflect_and_flip, moved, momentum, low, high)
    return jax.tree.transpose(jax.tree.structure(position), jax.tree.structure((0, 0)), pairs)


def kinetic_energy(momentum: ArrayTree) -> Array:
    """``|u|² / 2`` (the whitened momentum's kinetic energy)."""
    return 0.5 * tree_squared_norm(momentum)


def initial_momentum(momentum: ArrayTree | None, position: ArrayTree) -> ArrayTree:
    """Zeros like ``position``, or ``momentum`` checked to be shaped and typed like it."""
    if momentum is None:
        return jax.tree.map(jnp.zeros_like, position)
    momentum = jax.tree.map(jnp.asarray, momentum)
    check_like_position(momentum, position, "momentum")
    return jax.tree.map(lambda u, x: u.astype(jnp.result_type(x)), momentum, position)


# --------------------------------------------------------------------------- #
# Isokinetic (ESH) pieces: the momentum is a unit vector, the speed is fixed
# --------------------------------------------------------------------------- #
def _log_cosh_plus(delta: Array, cosine: Array) -> Array:
    """``log(cosh δ + c sinh δ)`` for ``|c| <= 1``, accurate for small and large ``δ``."""
    small = jnp.abs(delta) < 1
    ds = jnp.where(small, delta, 0.0)
    near = jnp.log1p(2 * jnp.sinh(ds / 2) ** 2 + cosine * jnp.sinh(ds))
    a = jnp.abs(delta)
    c = jnp.sign(delta) * cosine
    z2 = jnp.exp(-2 * a)
    far = a - jnp.log(2.0).astype(a.dtype) + jnp.log((1 + c) * -jnp.expm1(-2 * a) + 2 * z2)
    return jnp.where(small, near, far)


def isokinetic_kick(
    momentum: ArrayTree, metric: Metric, score: ArrayTree, t: Array
) -> tuple[ArrayTree, Array]:
    """Isokinetic B: the exact ESH momentum flow for time ``t`` under a constant force.

    The momentum ``u`` is a unit vector over the raveled position (a pytree like
    it; the velocity of the whitened position), moved by::

        du/dt = (I - u uᵀ) g / (d - 1),    g = Lᵀ s  (the whitened force)

    whose solution along ``e = g / |g|``, with ``δ = t |g| / (d - 1)``, ``ζ = exp(-δ)``, is
    ``u' ∝ e (1 - ζ)(1 + ζ + (u·e)(1 - ζ)) + 2 ζ u``. The kinetic energy it
    exchanges with the potential (``ΔK = ∫ g·u dt``, so that ``-log p + K`` is
    conserved by the continuous flow) is ``(d - 1) log(cosh δ + (u·e) sinh δ)``.

    Returns
    -------
    momentum : the new unit momentum, a pytree like ``momentum``.
    kinetic_change : ``ΔK``, a scalar.

    References
    ----------
    G. Ver Steeg and A. Galstyan (2021). Hamiltonian dynamics with non-Newtonian
    momentum for rapid sampling. NeurIPS 2021.
    J. Robnik, G. B. De Luca, E. Silverstein and U. Seljak (2023). Microcanonical
    Hamiltonian Monte Carlo. JMLR 24(311).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._kinetic import Metric, isokinetic_kick
    >>> # moving along the force, the momentum keeps its direction and gains t |g|
    >>> u, dk = isokinetic_kick(jnp.array([0.0, 1.0]), Metric(), jnp.array([0.0, 3.0]), 0.5)
    >>> u.tolist(), round(float(dk), 5)
    ([0.0, 1.0], 1.5)
    """
    u, unravel = ravel_pytree(momentum)
    g = ravel_pytree(force(metric, score))[0].astype(u.dtype)
    dims = u.size
    norm = jnp.sqrt(jnp.sum(g**2))
    e = g / jnp.where(norm > 0, norm, 1.0)
    cosine = jnp.dot(u, e)
    delta = jnp.asarray(t, u.dtype) * norm / (dims - 1)
    zeta = jnp.exp(-delta)
    one_minus = -jnp.expm1(-delta)
    raw = e * one_minus * (1 + zeta + cosine * one_minus) + 2 * zeta * u
    new = raw / jnp.sqrt(jnp.sum(raw**2))
    return unravel(new), (dims - 1) * _log_cosh_plus(delta, cosine)


def isokinetic_refresh(key: PRNGKey, momentum: ArrayTree, c: Array) -> ArrayTree:
    """Isokinetic O: ``u <- (c u + sqrt((1 - c²) / d) ξ) / |·|``, ``ξ ~ N(0, I_d)``.

    The partial refresh of a unit momentum (``c = exp(-ε / L)`` per step of
    length ``ε`` for a decoherence length ``L``; ``c = 0``: a uniformly random
    direction, also from a zero momentum). It leaves the uniform law on the
    sphere invariant exactly, for every ``c``: ``c u + ν ξ`` is isotropic when
    ``u`` is uniform.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels._kinetic import isokinetic_refresh
    >>> u = isokinetic_refresh(jax.random.key(0), jnp.zeros(3), 0.0)
    >>> round(float(jnp.sum(u**2)), 6)
    1.0
    """
    u, unravel = ravel_pytree(momentum)
    xi = jax.random.normal(key, u.shape, u.dtype)
    c = jnp.asarray(c, u.dtype)
    v = c * u + jnp.sqrt((1 - c**2) / u.size) * xi
    return unravel(v / jnp.sqrt(jnp.sum(v**2)))


__all__ = [
    "Metric",
    "check_gamma",
    "check_low_rank",
    "check_metric_settings",
    "checked_start",
    "root_settings",
    "check_scalar_step_size",
    "drift",
    "force",
    "initial_momentum",
    "isokinetic_kick",
    "isokinetic_refresh",
    "kick",
    "kinetic_energy",
    "make_metric",
    "reflect_and_flip",
    "refresh",
    "scalar_step",
    "velocity",
]
