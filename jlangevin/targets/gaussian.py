"""Gaussians and Gaussian mixtures: everything exact."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm

from jlangevin.targets.base import Target, pdf_from_logdensity
from jlangevin.types import Array, PRNGKey


def _as_vector(value, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be a finite vector; got {value!r}.")
    return arr


def gaussian(mean, cov=None, *, scale=None) -> Target:
    """``N(mean, cov)`` (full covariance) or ``N(mean, diag(scale^2))``.

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian([0.0, 1.0], scale=[1.0, 0.1])
    >>> target.var.tolist()
    [1.0, 0.010000000000000002]
    """
    mean = _as_vector(mean, "mean")
    dim = mean.size
    if cov is not None and scale is not None:
        raise ValueError("Pass `cov` or `scale`, not both.")
    if cov is None:
        scale = (
            np.ones(dim) if scale is None else np.broadcast_to(_as_vector(scale, "scale"), (dim,))
        )
        if np.any(scale <= 0):
            raise ValueError(f"`scale` must be positive; got {scale}.")
        cov = np.diag(scale**2)
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (dim, dim) or not np.allclose(cov, cov.T):
        raise ValueError(f"`cov` must be a symmetric ({dim}, {dim}) matrix; got shape {cov.shape}.")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as err:
        raise ValueError("`cov` must be positive definite.") from err
    log_norm = -0.5 * dim * math.log(2 * math.pi) - float(np.sum(np.log(np.diag(chol))))
    mean_j, chol_j = jnp.asarray(mean), jnp.asarray(chol)
    # Whitening by the precomputed inverse factor: a matrix-vector product per
    # chain, which vectorizes across chains (a batched triangular solve does not).
    inv_chol_j = jnp.asarray(np.tril(np.linalg.solve(chol, np.eye(dim))))
    sd = np.sqrt(np.diag(cov))

    def logdensity(x: Array) -> Array:
        white = inv_chol_j @ (x - mean_j)
        return log_norm - 0.5 * jnp.sum(white**2)

    def sample(key: PRNGKey, n: int) -> Array:
        return mean_j + jax.random.normal(key, (n, dim)) @ chol_j.T

    def marginal(i: int):
        return lambda v: norm.cdf((jnp.asarray(v) - mean[i]) / sd[i])

    return Target(
        name="gaussian",
        logdensity=logdensity,
        dim=dim,
        mean=mean,
        var=np.diag(cov).copy(),
        cov=cov,
        marginal_cdfs=tuple(marginal(i) for i in range(dim)),
        pdf=pdf_from_logdensity(logdensity, dim),
        sample=sample,
    )


def gaussian_mixture(weights, means, scales) -> Target:
    """``Σ_k w_k N(μ_k, diag(σ_k²))``; ``means``/``scales`` are ``(K, dim)`` (or ``(K,)``).

    Its Gaussian-noised version, needed by annealed Langevin, is again a
    mixture: see :func:`noised_mixture`.

    Examples
    --------
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian_mixture([0.5, 0.5], [[-2.0], [2.0]], [[0.5], [0.5]])
    >>> target.var.round(2).tolist()
    [4.25]
    """
    w = _as_vector(weights, "weights")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"`weights` must be non-negative with a positive sum; got {weights!r}.")
    w = w / w.sum()
    mu = np.asarray(means, dtype=float)
    mu = mu[:, None] if mu.ndim == 1 else mu
    if mu.ndim != 2 or mu.shape[0] != w.size:
        raise ValueError(f"`means` needs one row per weight ({w.size}); got shape {mu.shape}.")
    sig = np.asarray(scales, dtype=float)
    sig = sig[:, None] if sig.ndim == 1 else sig  # one scale per component
    try:
        sig = np.broadcast_to(sig, mu.shape).copy()
    except ValueError as err:
        raise ValueError(f"`scales` must broadcast to the means' shape {mu.shape}.") from err
    if np.any(sig <= 0):
        raise ValueError("`scales` must be positive.")
    dim = mu.shape[1]
    log_w, mu_j, sig_j = jnp.log(jnp.asarray(w)), jnp.asarray(mu), jnp.asarray(sig)
    log_norm = -0.5 * dim * math.log(2 * math.pi) - jnp.sum(jnp.log(sig_j), axis=1)

    def logdensity(x: Array) -> Array:
        comp = log_norm - 0.5 * jnp.sum(((x - mu_j) / sig_j) ** 2, axis=1)
        return logsumexp(log_w + comp)

    def sample(key: PRNGKey, n: int) -> Array:
        key_c, key_z = jax.random.split(key)
        comp = jax.random.categorical(key_c, log_w, shape=(n,))
        return mu_j[comp] + sig_j[comp] * jax.random.normal(key_z, (n, dim))

    def marginal(i: int):
        def cdf(v):
            v = jnp.asarray(v)[..., None]
            return jnp.sum(jnp.asarray(w) * norm.cdf((v - mu_j[:, i]) / sig_j[:, i]), axis=-1)

        return cdf

    mean = w @ mu
    var = w @ (sig**2 + mu**2) - mean**2
    second = np.einsum("k,ki,kj->ij", w, mu, mu) + np.diag(w @ sig**2)
    return Target(
        name="gaussian_mixture",
        logdensity=logdensity,
        dim=dim,
        mean=mean,
        var=var,
        cov=second - np.outer(mean, mean),
        marginal_cdfs=tuple(marginal(i) for i in range(dim)),
        pdf=pdf_from_logdensity(logdensity, dim),
        sample=sample,
    )


def noised_mixture(weights, means, scales, sigma: float) -> Target:
    """The mixture convolved with ``N(0, sigma² I)``: scales become ``sqrt(σ_k² + σ²)``.

    Its score is the exact noise-conditional score ``s(x, sigma)`` of the mixture.
    """
    sig = np.asarray(scales, dtype=float)
    return gaussian_mixture(weights, means, np.sqrt(sig**2 + float(sigma) ** 2))


def dice(scale: float = 0.2) -> Target:
    """A smoothed die: six equal Gaussian modes at 1, ..., 6 with sd ``scale``.

    Examples
    --------
    >>> import jlangevin as jl
    >>> round(float(jl.targets.dice().mean[0]), 6)
    3.5
    """
    if not (isinstance(scale, int | float) and scale > 0):
        raise ValueError(f"`scale` must be positive; got {scale!r}.")
    target = gaussian_mixture(
        np.full(6, 1 / 6), np.arange(1.0, 7.0)[:, None], np.full((6, 1), scale)
    )
    return Target(**{**target.__dict__, "name": "dice"})
