"""Exact i.i.d. draws shaped like MCMC output, shared by the diagnostics tests."""

from __future__ import annotations

import jax
import numpy as np

import jlangevin as jl


def exact_draws(target: jl.targets.Target, seed: int, chains: int = 4, draws: int = 1000):
    """``chains x draws`` exact i.i.d. draws from ``target``, shape ``(chains, draws, dim)``."""
    sample = target.sample(jax.random.key(seed), chains * draws)
    return np.asarray(sample, dtype=float).reshape(chains, draws, target.dim)


def ar1(rng: np.random.Generator, rho: float, chains: int, draws: int) -> np.ndarray:
    """Stationary Gaussian AR(1) chains ``x_t = rho x_{t-1} + sqrt(1 - rho²) e_t``: law N(0, 1)."""
    from scipy import signal

    noise = rng.normal(size=(chains, draws))
    noise[:, 1:] *= np.sqrt(1 - rho**2)  # x_0 = e_0 ~ N(0, 1): stationary from the start
    return signal.lfilter([1.0], [1.0, -rho], noise, axis=1)
