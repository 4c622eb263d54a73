"""Stochastic-gradient runs of a subsampled model: a Laplace whitening at the mode, the estimator.

``jl.sample(key, parts, kernel="sgld" | "sghmc", batch_size=n)`` composes these
pieces (each usable alone):

1. :func:`~jlangevin.models.find_mode`: the mode ``m`` of the unconstrained
   log density (full-data gradients, optax).
2. :func:`precision_at`: ``P = -∇² log p(m)``, from ``d`` Hessian-vector
   products of the full data.
3. :func:`laplace_whitening`: ``θ = m + W z`` with ``W Wᵀ ≈ P⁻¹``, dense (an
   eigendecomposition, ``|λ|`` floored) or diagonal. In ``z`` the posterior is
   close to ``N(0, I)`` near the mode, so one scalar step fits every direction:
   a constant preconditioner, so SGLD and SGHMC need no correction term.
4. :func:`whitened`: the prior and the per-point log likelihood over ``z``,
   the form :mod:`jlangevin.gradients` takes; :func:`estimator` builds the
   minibatch, control-variate (centred at ``z = 0``, the mode) or SVRG
   estimate on it.
5. :func:`langevin_acceptance`: the bias check of a step. The Laplace map is
   exact only at the mode; away from it the curvature in ``z`` can be far
   larger (a neural network's is), and a step fit for the mode is then far too
   big. The full-data Metropolis test of the Langevin move, at the chains'
   positions, measures how far the step's discretisation is from exact: a
   mean acceptance near 1 means a small bias. It costs a few full-data
   gradients a chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin import gradients
from jlangevin._checks import as_int, as_positive
from jlangevin.models.subsample import Subsampled
from jlangevin.types import Array, ArrayTree

#: Eigenvalues (dense) or diagonal entries of the precision are floored at this
#: fraction of the largest: a flat or negative direction at the mode is treated
#: as a stiff one (a smaller step there), never as an infinitely soft one.
PRECISION_FLOOR = 1e-8
#: Hessian-vector products per compiled batch in :func:`precision_at`.
HVP_BATCH = 32
#: The estimators :func:`estimator` builds by name.
ESTIMATORS = ("control_variates", "minibatch", "svrg")


class Whitening(NamedTuple):
    """``θ = centre + W z``: the Laplace approximation's affine map to whitened coordinates.

    Attributes
    ----------
    centre : ``(d,)``, the mode, flattened.
    factor : ``W``, ``(d, d)`` (dense) or ``(d,)`` (diagonal).
    unravel : ``(d,) -> position`` (the model's pytree).
    stiffness : the largest eigenvalue of ``Wᵀ P W`` (1 for the dense map): the
        stiffest curvature the step must respect, in ``z``.
    kind : ``"dense"`` or ``"diagonal"``.
    """

    centre: Array
    factor: Array
    unravel: Callable[[Array], ArrayTree]
    stiffness: float
    kind: str

    def position(self, z: Array) -> ArrayTree:
        """The model's position at one whitened ``z`` of shape ``(d,)``."""
        moved = self.factor @ z if self.factor.ndim == 2 else self.factor * z
        return self.unravel(self.centre + moved)

    def whiten(self, position: ArrayTree) -> Array:
        """``z`` of one model position (the inverse of :meth:`position`)."""
        flat, _ = ravel_pytree(position)
        offset = flat - self.centre
        if self.factor.ndim == 1:
            return offset / self.factor
        return jnp.linalg.solve(self.factor, offset)

    def positions(self, zs: Array) -> ArrayTree:
        """Model positions of ``zs`` ``(*leading, d)``, leaves ``(*leading, *event)``."""
        head = zs.shape[:-1]
        flat = jnp.reshape(zs, (-1, zs.shape[-1]))
        out = jax.jit(jax.vmap(self.position))(flat)
        return jax.tree.map(lambda x: jnp.reshape(x, (*head, *x.shape[1:])), out)


def precision_at(logdensity_fn: Callable[[ArrayTree], Array], position: ArrayTree) -> Array:
    """``-∇² log p`` at ``position``, flattened to ``(d, d)`` and symmetrised.

    ``d`` Hessian-vector products (forward over reverse), :data:`HVP_BATCH` per
    compiled batch, so memory holds a few full-data gradients at a time.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.models.sgmcmc import precision_at
    >>> precision_at(lambda p: -jnp.sum(p["a"] ** 2), {"a": jnp.ones(2)}).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    flat, unravel = ravel_pytree(position)
    score = jax.grad(lambda v: logdensity_fn(unravel(v)))

    @jax.jit
    def hessian(point: Array) -> Array:
        def hvp(direction: Array) -> Array:
            return jax.jvp(score, (point,), (direction,))[1]

        basis = jnp.eye(point.shape[0], dtype=point.dtype)
        return jax.lax.map(hvp, basis, batch_size=HVP_BATCH)

    h = hessian(flat)
    return -0.5 * (h + h.T)


def _floored(values: Array) -> Array:
    size = jnp.abs(values)
    return jnp.maximum(size, PRECISION_FLOOR * jnp.max(size))


def laplace_whitening(precision: Array, position: ArrayTree, kind: str = "dense") -> Whitening:
    """The whitening ``θ = position + W z`` with ``W Wᵀ ≈ precision⁻¹``.

    Parameters
    ----------
    precision : ``(d, d)``, from :func:`precision_at` at ``position``.
    position : the centre (the mode), one position.
    kind : ``"dense"`` (``W = V diag(λ)^(-1/2)`` from the eigendecomposition,
        ``|λ|`` floored at :data:`PRECISION_FLOOR` of the largest) or
        ``"diagonal"`` (``W = diag(P)^(-1/2)``, floored alike).

    Raises
    ------
    ValueError
        When the precision is not finite (the mode is not a finite point).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.models.sgmcmc import laplace_whitening
    >>> w = laplace_whitening(jnp.diag(jnp.array([4.0, 1.0])), jnp.zeros(2), "diagonal")
    >>> w.factor.tolist(), w.stiffness
    ([0.5, 1.0], 1.0)
    """
    flat, unravel = ravel_pytree(position)
    precision = np.asarray(precision, np.float64)
    if not np.all(np.isfinite(precision)):
        raise ValueError(
            "The log density's Hessian at the mode is not finite: the mode finder did not "
            "end at a point of the support (check the model, or pass `positions`)."
        )
    if kind == "dense":
        values, vectors = np.linalg.eigh(precision)
        factor = vectors / np.sqrt(np.asarray(_floored(values)))
        stiffness = 1.0
    elif kind == "diagonal":
        factor = 1.0 / np.sqrt(np.asarray(_floored(np.diag(precision))))
        scaled = precision * factor[:, None] * factor[None, :]
        stiffness = max(float(np.max(np.linalg.eigvalsh(scaled))), 1.0)
    else:
        raise ValueError(f"`kind` must be 'dense' or 'diagonal'; got {kind!r}.")
    return Whitening(flat, jnp.asarray(factor, flat.dtype), unravel, stiffness, kind)


def whitened(parts: Subsampled, whitening: Whitening) -> tuple[Callable, Callable]:
    """``(logprior_fn, loglik_fn)`` of ``parts`` over whitened ``z`` (``θ = m + W z``).

    The map is affine, so its log-Jacobian is a constant and is left out.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.models.sgmcmc import laplace_whitening, whitened
    >>> w = laplace_whitening(jnp.eye(1) * 4.0, {"mu": jnp.zeros(1)}, "diagonal")
    >>> # logprior_z, loglik_z = whitened(parts, w)  # parts from jl.models.subsampled
    """

    def logprior_fn(z: Array) -> Array:
        return parts.logprior_fn(whitening.position(z))

    def loglik_fn(z: Array, index: Array) -> Array:
        return parts.loglik_fn(whitening.position(z), index)

    return logprior_fn, loglik_fn


def estimator(
    parts: Subsampled, whitening: Whitening, batch_size: int, kind: str = "control_variates"
) -> gradients.GradientEstimator | gradients.StatefulGradientEstimator:
    """The gradient estimator over whitened ``z``: ``kind`` in :data:`ESTIMATORS`.

    ``"control_variates"`` is centred at ``z = 0`` (the mode); ``"svrg"``
    refreshes its anchor once an epoch (every ``N // batch_size`` steps).

    Examples
    --------
    >>> from jlangevin.models.sgmcmc import ESTIMATORS
    >>> ESTIMATORS
    ('control_variates', 'minibatch', 'svrg')
    """
    logprior_fn, loglik_fn = whitened(parts, whitening)
    if kind == "minibatch":
        return gradients.minibatch(logprior_fn, loglik_fn, parts.data, batch_size)
    if kind == "control_variates":
        centre = jnp.zeros_like(whitening.centre)
        return gradients.control_variates(logprior_fn, loglik_fn, parts.data, batch_size, centre)
    if kind == "svrg":
        every = max(parts.num_data // batch_size, 1)
        return gradients.svrg(logprior_fn, loglik_fn, parts.data, batch_size, every)
    raise ValueError(f"`estimator` must be one of {ESTIMATORS}; got {kind!r}.")


def langevin_acceptance(
    logdensity_fn: Callable[[Array], Array],
    positions: Array,
    step_size: float,
    key: Array,
    proposals: int = 2,
) -> float:
    """Mean full-data Metropolis acceptance of the Langevin move of ``step_size`` at ``positions``.

    For each position ``x`` (rows of ``positions``, ``(chains, d)``) and each of
    ``proposals`` normals ``ξ``: the move ``y = x + h ∇log p(x) + sqrt(2h) ξ`` and
    ``min(1, α)`` with MALA's ratio ``α``, over the full log density (no
    minibatch noise: this measures the step's discretisation alone). A ratio that
    is not finite counts as a rejection.

    Parameters
    ----------
    logdensity_fn : ``(d,) -> log p``, the full-data log density (over ``z``).
    positions : ``(chains, d)``.
    step_size : ``h``.
    key : the proposals' key.
    proposals : moves tried per position.

    Raises
    ------
    ValueError
        For a step that is not a positive finite number, ``positions`` not 2-D, or
        ``proposals`` below 1.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.models.sgmcmc import langevin_acceptance
    >>> logp = lambda z: -0.5 * jnp.sum(z**2)
    >>> zs = jax.random.normal(jax.random.key(0), (64, 4))
    >>> small = langevin_acceptance(logp, zs, 0.01, jax.random.key(1))
    >>> large = langevin_acceptance(logp, zs, 1.0, jax.random.key(1))
    >>> small > 0.99 > large
    True
    """
    step_size = as_positive(step_size, "step_size")
    if np.ndim(positions) != 2:
        raise ValueError(
            f"`positions` must be (chains, d), one flat position a row; got shape "
            f"{np.shape(positions)}."
        )
    check = acceptance_fn(logdensity_fn, as_int(proposals, "proposals", minimum=1))
    return float(check(positions, jnp.asarray(step_size), key))


def acceptance_fn(logdensity_fn: Callable[[Array], Array], proposals: int = 2) -> Callable:
    """:func:`langevin_acceptance` as one jitted ``(positions, h, key) -> mean acceptance``.

    Build it once and call it for several steps or positions: one compilation
    per shape (a new one per call of :func:`langevin_acceptance`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.models.sgmcmc import acceptance_fn
    >>> check = acceptance_fn(lambda z: -0.5 * jnp.sum(z**2))
    >>> float(check(jnp.zeros((8, 2)), jnp.asarray(1e-4), jax.random.key(0))) > 0.99
    True
    """
    value_and_grad = jax.vmap(jax.value_and_grad(logdensity_fn))

    @jax.jit
    def mean_acceptance(x: Array, h: Array, key: Array) -> Array:
        h = h.astype(x.dtype)
        lx, gx = value_and_grad(x)

        def one(k: Array) -> Array:
            xi = jax.random.normal(k, x.shape, x.dtype)
            y = x + h * gx + jnp.sqrt(2 * h) * xi
            ly, gy = value_and_grad(y)
            forward = -0.5 * jnp.sum(xi**2, axis=1)
            backward = -jnp.sum((x - y - h * gy) ** 2, axis=1) / (4 * h)
            log_alpha = ly - lx + backward - forward
            accept = jnp.exp(jnp.minimum(log_alpha, 0.0))
            return jnp.where(jnp.isfinite(log_alpha), accept, 0.0)

        return jnp.mean(jax.lax.map(one, jax.random.split(key, proposals)))

    return mean_acceptance


def gradients_per_step(kind: str, batch_size: int, num_data: int) -> float:
    """Full-data gradient equivalents one step costs (``n`` point gradients = ``n / N``).

    Control variates and SVRG take two batch gradients a step (at the point and
    at the centre or anchor); SVRG adds one full gradient an epoch.

    Examples
    --------
    >>> from jlangevin.models.sgmcmc import gradients_per_step
    >>> gradients_per_step("minibatch", 10, 1000), gradients_per_step("control_variates", 10, 1000)
    (0.01, 0.02)
    """
    share = batch_size / num_data
    if kind == "minibatch":
        return share
    if kind == "control_variates":
        return 2 * share
    return 2 * share + 1 / max(num_data // batch_size, 1)


def check_estimator_name(value: Any) -> str:
    """``value`` if it names an estimator of :data:`ESTIMATORS`, else a ``ValueError``."""
    if not isinstance(value, str) or value not in ESTIMATORS:
        raise ValueError(f"`estimator` must be one of {ESTIMATORS}; got {value!r}.")
    return value


__all__ = [
    "ESTIMATORS",
    "HVP_BATCH",
    "PRECISION_FLOOR",
    "Whitening",
    "acceptance_fn",
    "check_estimator_name",
    "estimator",
    "gradients_per_step",
    "langevin_acceptance",
    "laplace_whitening",
    "precision_at",
    "whitened",
]
