"""Gaussians and Gaussian mixtures: everything exact.

Every parameter may be traced (a target built inside ``jit``/``vmap``/``grad``,
e.g. ``noised_mixture(w, m, s, sigma)`` in a noise-conditional score): the log
density, score, moments, CDFs and exact sampler are then functions of it. Value
checks (positive scales, a positive definite covariance, ...) apply to the
concrete parameters only.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
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
    real_vector,
)
from jlangevin.types import Array, PRNGKey


def _covariance(cov: Any, scale: Any, dim: int) -> Any:
    """The checked ``(dim, dim)`` covariance from ``cov`` or from ``scale`` (values if concrete)."""
    if cov is not None and scale is not None:
        raise ValueError("Pass `cov` or `scale`, not both.")
    if cov is None:
        sd = np.ones(dim) if scale is None else real_array(scale, "scale")
        sd = broadcast_to(sd, (dim,), "scale")
        if not is_traced(sd) and np.any(sd <= 0):
            raise ValueError(f"`scale` must be positive; got {sd}.")
        return array_module(sd).diag(sd**2)
    cov = real_array(cov, "cov")
    if cov.shape != (dim, dim):
        raise ValueError(
            f"`cov` must be a ({dim}, {dim}) matrix (the mean has {dim} entries); "
            f"got shape {cov.shape}."
        )
    if is_traced(cov):
        return cov
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(cov))):
        raise ValueError("`cov` must be symmetric.")
    return cov


def _cholesky(cov: Any) -> Any:
    """The lower Cholesky factor; a traced ``cov`` that is not positive definite gives NaN."""
    if is_traced(cov):
        return jnp.linalg.cholesky(cov)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        chol = None
    if chol is None or not np.all(np.diag(chol) > 0):
        eigenvalues = np.linalg.eigvalsh(cov)
        raise ValueError(
            f"`cov` must be positive definite; its smallest eigenvalue is {eigenvalues[0]:.3g}."
        )
    return chol


def gaussian(mean, cov=None, *, scale=None) -> Target:
    """``N(mean, cov)`` (full covariance) or ``N(mean, diag(scale^2))``.

    Parameters
    ----------
    mean : the mean, a finite non-empty vector (a list, numpy or JAX array).
    cov : a symmetric positive definite ``(dim, dim)`` covariance.
    scale : standard deviations instead of ``cov``: positive, a scalar or ``(dim,)``.

    Any of them may be traced; a traced ``cov`` is not checked for symmetry or
    definiteness (only its lower triangle is read).

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian([0.0, 1.0], scale=[1.0, 0.1])
    >>> target.var.tolist()
    [1.0, 0.010000000000000002]
    """
    mean = real_vector(mean, "mean")
    dim = mean.size
    cov = _covariance(cov, scale, dim)
    chol = _cholesky(cov)
    xp = array_module(chol)
    log_norm = -0.5 * dim * math.log(2 * math.pi) - xp.sum(xp.log(xp.diag(chol)))
    # Whitening by the precomputed inverse factor: a matrix-vector product per
    # chain, which vectorizes across chains (a batched triangular solve does not).
    # Concrete constants stay float64 numpy arrays, cast to the position's dtype.
    inv_chol = xp.tril(xp.linalg.solve(chol, xp.eye(dim)))
    sd = xp.sqrt(xp.diag(cov))

    def logdensity(x: Array) -> Array:
        x = check_point(x, dim)
        white = jnp.asarray(inv_chol, x.dtype) @ (x - jnp.asarray(mean, x.dtype))
        return jnp.asarray(log_norm, x.dtype) - 0.5 * jnp.sum(white**2)

    def sample(key: PRNGKey, n: int) -> Array:
        z = jax.random.normal(key, (n, dim))
        return jnp.asarray(mean, z.dtype) + z @ jnp.asarray(chol, z.dtype).T

    def marginal(i: int):
        def cdf(v):
            v = jnp.asarray(v)
            dt = jnp.result_type(v, float)  # float32 values stay float32
            centre, spread = jnp.asarray(mean[i], dt), jnp.asarray(sd[i], dt)
            return norm.cdf((v.astype(dt) - centre) / spread)

        return cdf

    return Target(
        name="gaussian",
        logdensity=logdensity,
        dim=dim,
        mean=mean,
        var=xp.diag(cov).copy(),
        cov=cov,
        marginal_cdfs=tuple(marginal(i) for i in range(dim)),
        pdf=pdf_from_logdensity(logdensity, dim),
        sample=checked_sampler(sample),
    )


def _mixture_parameters(weights, means, scales) -> tuple[Any, Any, Any]:
    """Checked ``(w, mu, sigma)``: normalized weights ``(K,)``, means and scales ``(K, dim)``.

    Shapes are checked always, values where concrete.
    """
    w = real_vector(weights, "weights")
    if not is_traced(w) and (np.any(w < 0) or w.sum() <= 0):
        raise ValueError(f"`weights` must be non-negative with a positive sum; got {weights!r}.")
    mu = real_array(means, "means")
    mu = mu[:, None] if mu.ndim == 1 else mu
    if mu.ndim != 2 or mu.shape[0] != w.size or mu.shape[1] == 0:
        raise ValueError(
            f"`means` needs one row per weight ({w.size} rows, (K, dim) or (K,)); "
            f"got shape {mu.shape}."
        )
    sig = real_array(scales, "scales")
    sig = sig[:, None] if sig.ndim == 1 else sig  # one scale per component
    sig = broadcast_to(sig, mu.shape, "scales")
    if not is_traced(sig) and np.any(sig <= 0):
        raise ValueError(f"`scales` must be positive; got {scales!r}.")
    return w / w.sum(), mu, sig


def gaussian_mixture(weights, means, scales) -> Target:
    """``Σ_k w_k N(μ_k, diag(σ_k²))``; ``means``/``scales`` are ``(K, dim)`` (or ``(K,)``).

    Its Gaussian-noised version, needed by annealed Langevin, is again a
    mixture: see :func:`noised_mixture`.

    Parameters
    ----------
    weights : ``(K,)`` non-negative, finite, with a positive sum (normalized here).
    means : ``(K, dim)`` finite component means (``(K,)`` for ``dim = 1``).
    scales : positive standard deviations broadcasting to ``(K, dim)``; ``(K,)``
        is one scale per component.

    Lists and numpy/JAX arrays alike; any of them may be traced (their values
    are then not checked).

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian_mixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]])
    >>> target.var.round(2).tolist()
    [4.25]
    """
    w, mu, sig = _mixture_parameters(weights, means, scales)
    dim = mu.shape[1]
    xw, xs, xp = array_module(w), array_module(sig), array_module(w, mu, sig)
    log_w = xw.log(xw.where(w > 0, w, 1.0)) + xw.where(w > 0, 0.0, -np.inf)
    log_norm = -0.5 * dim * math.log(2 * math.pi) - xs.sum(xs.log(sig), axis=1)

    def logdensity(x: Array) -> Array:
        x = check_point(x, dim)
        mu_x, sig_x = jnp.asarray(mu, x.dtype), jnp.asarray(sig, x.dtype)
        comp = jnp.asarray(log_norm, x.dtype) - 0.5 * jnp.sum(((x - mu_x) / sig_x) ** 2, axis=1)
        return logsumexp(jnp.asarray(log_w, x.dtype) + comp)

    def sample(key: PRNGKey, n: int) -> Array:
        key_c, key_z = jax.random.split(key)
        comp = jax.random.categorical(key_c, jnp.asarray(log_w), shape=(n,))
        z = jax.random.normal(key_z, (n, dim))
        return jnp.asarray(mu, z.dtype)[comp] + jnp.asarray(sig, z.dtype)[comp] * z

    def marginal(i: int):
        def cdf(v):
            v = jnp.asarray(v)
            dt = jnp.result_type(v, float)
            v = v.astype(dt)[..., None]
            mu_i, sig_i = jnp.asarray(mu[:, i], dt), jnp.asarray(sig[:, i], dt)
            return jnp.sum(jnp.asarray(w, dt) * norm.cdf((v - mu_i) / sig_i), axis=-1)

        return cdf

    mean = xp.matmul(w, mu)
    var = xp.matmul(w, sig**2 + mu**2) - mean**2
    second = xp.einsum("k,ki,kj->ij", w, mu, mu) + xp.diag(xp.matmul(w, sig**2))
    return Target(
        name="gaussian_mixture",
        logdensity=logdensity,
        dim=dim,
        mean=mean,
        var=xp.maximum(var, 0.0),
        cov=second - xp.outer(mean, mean),
        marginal_cdfs=tuple(marginal(i) for i in range(dim)),
        pdf=pdf_from_logdensity(logdensity, dim),
        sample=checked_sampler(sample),
    )


def _non_negative(value: Any, name: str) -> float:
    number = as_real(value, name)
    if number < 0:
        raise ValueError(f"`{name}` must be >= 0; got {number}.")
    return number


def noised_mixture(weights, means, scales, sigma: float) -> Target:
    """The mixture convolved with ``N(0, sigma² I)``: scales become ``sqrt(σ_k² + σ²)``.

    Its score is the exact noise-conditional score ``s(x, sigma)`` of the mixture.
    ``sigma`` is a finite number ``>= 0`` (``0``: the mixture itself); it may be
    traced, so the target can be built inside a score function under ``jit``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> jl.targets.noised_mixture([1.0], [[0.0]], [0.6], sigma=0.8).var.round(6).tolist()
    [1.0]
    >>> score = lambda x, s: jl.targets.noised_mixture([1.0], [[0.0]], [0.6], s).score(x)
    >>> jax.jit(score)(jnp.array([1.0]), 0.8)
    Array([-1.], dtype=float32)
    """
    sigma = real_scalar(sigma, "sigma", _non_negative)
    sig = real_array(scales, "scales")
    if not is_traced(sig) and np.any(sig <= 0):
        raise ValueError(f"`scales` must be positive; got {scales!r}.")
    xp = array_module(sig, sigma)
    return gaussian_mixture(weights, means, xp.sqrt(xp.square(sig) + xp.square(sigma)))


def dice(scale: float = 0.2) -> Target:
    """A smoothed die: six equal Gaussian modes at 1, ..., 6 with sd ``scale``.

    ``scale`` is a positive finite number (Python, numpy or JAX scalar), or traced.

    Examples
    --------
    >>> import jlangevin as jl
    >>> round(float(jl.targets.dice().mean[0]), 6)
    3.5
    """
    scale = real_scalar(scale, "scale", as_positive)
    xp = array_module(scale)
    target = gaussian_mixture(
        np.full(6, 1 / 6), np.arange(1.0, 7.0)[:, None], xp.full((6, 1), scale)
    )
    return dataclasses.replace(target, name="dice")
