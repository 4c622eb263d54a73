"""Annealed Langevin dynamics for noise-conditional score models.

Given a score ``s(x, σ) ≈ ∇ log p_σ(x)`` of the data law convolved with
``N(0, σ² I)`` (Song & Ermon 2019), run ULA at each noise level of a
decreasing ladder ``σ_1 > … > σ_L`` for ``steps_per_level`` steps::

    h_i = step_scale * σ_i² / σ_L²
    x  ← x + h_i s(x, σ_i) + sqrt(2 h_i) ξ,    ξ ~ N(0, I)

then, optionally, denoise once with Tweedie's formula ``x + σ_L² s(x, σ_L)``
(the posterior mean of the clean point given the noisy one). Large levels
move particles between modes with the right proportions; small levels
refine them. Song & Ermon's ``x + (α_i/2) s + sqrt(α_i) z`` with
``α_i = ε σ_i² / σ_L²`` is ``step_scale = ε / 2`` here.

Keys follow :func:`jlangevin.run`: particle ``p`` holds ``fold_in(key, p)`` and
draws the noise of step ``t`` (counted over all levels) from that key and
``t``. A particle whose move is non-finite stays where it was;
``info.diverged`` counts such moves per level.

References
----------
Y. Song and S. Ermon (2019). Generative modeling by estimating gradients of the
data distribution. NeurIPS.
B. Efron (2011). Tweedie's formula and selection bias. JASA 106.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.gradients import check_position
from jlangevin.kernels._checks import check_step_size
from jlangevin.kernels._move import langevin_move
from jlangevin.kernels._tree import normal_like, tree_all_finite, tree_squared_norm, tree_where
from jlangevin.run import chain_keys_for
from jlangevin.types import Array, ArrayTree, PRNGKey

NoiseScoreFn = Callable[[ArrayTree, Array], ArrayTree]


class AnnealedInfo(NamedTuple):
    """Per-level summary, every field of shape ``(L,)``.

    Attributes
    ----------
    sigma : the noise level ``σ_i``.
    step_size : ``h_i = step_scale σ_i² / σ_L²``.
    score_norm : mean over particles and steps of the score's Euclidean norm.
    diverged : number of (particle, step) moves that were non-finite (rejected).
    """

    sigma: Array
    step_size: Array
    score_norm: Array
    diverged: Array


def check_sigmas(sigmas: Any) -> np.ndarray:
    """Concrete, 1-D, positive, finite, strictly decreasing noise levels."""
    try:
        arr = np.asarray(sigmas, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`sigmas` must be a 1-D array of numbers; got {sigmas!r}.") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`sigmas` must be a non-empty 1-D array; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`sigmas` must be positive and finite; got {arr}.")
    if np.any(np.diff(arr) >= 0):
        raise ValueError(f"`sigmas` must be strictly decreasing (σ_1 > … > σ_L); got {arr}.")
    return arr


def step_sizes(sigmas: Any, step_scale: float) -> Array:
    """``h_i = step_scale * σ_i² / σ_L²`` for each level."""
    sig = jnp.asarray(sigmas)
    return step_scale * sig**2 / sig[-1] ** 2


def _norm(tree: ArrayTree) -> Array:
    return jnp.sqrt(tree_squared_norm(tree))


def _particle_step(
    score_fn: NoiseScoreFn, key: PRNGKey, count: Array, x: ArrayTree, sigma: Array, h: Array
) -> tuple[ArrayTree, Array, Array]:
    """One ULA move at level ``sigma``: new position, score norm, diverged flag."""
    score = score_fn(x, sigma)
    noise = normal_like(jax.random.fold_in(key, count), x)
    moved = langevin_move(x, score, jax.tree.map(lambda _: h, x), noise)
    ok = tree_all_finite((moved, score))
    return tree_where(ok, moved, x), jnp.where(ok, _norm(score), 0.0), ~ok


def sample(
    key: PRNGKey,
    positions: ArrayTree,
    score_fn: NoiseScoreFn,
    sigmas: Any,
    step_scale: float,
    steps_per_level: int,
    denoise: bool = True,
) -> tuple[ArrayTree, AnnealedInfo]:
    """Anneal a batch of particles (leading axis on every leaf) down the ladder.

    Pure and jit-able with ``score_fn``, ``steps_per_level`` and ``denoise``
    static; see :func:`annealed_langevin` for the parameters.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import annealed
    >>> score = lambda x, s: -x / (1.0 + s**2)          # data N(0, 1)
    >>> x, info = annealed.sample(jax.random.key(0), jnp.zeros((8, 2)), score,
    ...                           jnp.array([3.0, 1.0, 0.3]), 0.05, 20)
    >>> info.step_size.shape
    (3,)
    """
    sig = jnp.asarray(sigmas, jnp.result_type(*jax.tree.leaves(positions)))
    hs = step_sizes(sig, step_scale).astype(sig.dtype)
    num_particles = jax.tree.leaves(positions)[0].shape[0]
    particle_keys = chain_keys_for(key, num_particles)
    move = jax.vmap(
        lambda k, t, x, s, h: _particle_step(score_fn, k, t, x, s, h), (0, None, 0, None, None)
    )

    def level(carry, inputs):
        x, count = carry
        sigma, h = inputs

        def one_step(step_carry, _):
            x, count, norm_sum, diverged = step_carry
            x, norms, bad = move(particle_keys, count, x, sigma, h)
            return (x, count + 1, norm_sum + jnp.mean(norms), diverged + jnp.sum(bad)), None

        init = (x, count, jnp.zeros((), sig.dtype), jnp.zeros((), jnp.int32))
        (x, count, norm_sum, diverged), _ = jax.lax.scan(
            one_step, init, None, length=steps_per_level
        )
        return (x, count), (norm_sum / steps_per_level, diverged)

    (x, _), (score_norm, diverged) = jax.lax.scan(
        level, (positions, jnp.zeros((), jnp.int32)), (sig, hs)
    )
    if denoise:
        last = sig[-1]
        score = jax.vmap(score_fn, (0, None))(x, last)
        x = jax.tree.map(lambda p, s: p + last**2 * s, x, score)
    return x, AnnealedInfo(sig, hs, score_norm, diverged)


def annealed_langevin(
    score_fn: NoiseScoreFn,
    sigmas: Any,
    step_scale: float,
    steps_per_level: int,
    denoise: bool = True,
) -> Callable[[PRNGKey, ArrayTree], tuple[ArrayTree, AnnealedInfo]]:
    """Annealed Langevin sampler for a noise-conditional score (Song & Ermon 2019).

    Parameters
    ----------
    score_fn : ``(x, sigma) -> ∇ log p_σ(x)`` for one particle ``x`` (any
        pytree) and a scalar ``sigma``.
    sigmas : the ladder ``σ_1 > … > σ_L > 0`` (1-D, concrete).
    step_scale : ``h_L``, the step at the last level; level ``i`` uses
        ``step_scale σ_i² / σ_L²``. Keep it below about ``σ_L²`` so that every
        level is stable (``h_i / σ_i² = step_scale / σ_L²``).
    steps_per_level : ULA steps at each level.
    denoise : add the final Tweedie step ``x + σ_L² s(x, σ_L)``.

    Returns
    -------
    A jitted function ``(key, positions) -> (samples, info)``: ``positions`` and
    ``samples`` have a leading particle axis on every leaf; ``info`` is an
    :class:`AnnealedInfo` with one entry per level.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> score = lambda x, s: -x / (1.0 + s**2)          # data N(0, 1)
    >>> sampler = jl.annealed_langevin(score, jnp.geomspace(5.0, 0.1, 8), 0.001, 50)
    >>> samples, info = sampler(jax.random.key(0), jnp.zeros((100, 2)))
    >>> samples.shape
    (100, 2)
    """
    if not callable(score_fn):
        raise TypeError(f"`score_fn` must be callable `(x, sigma) -> score`; got {score_fn!r}.")
    sig = check_sigmas(sigmas)
    if isinstance(step_scale, bool) or not isinstance(step_scale, int | float | np.floating):
        raise TypeError(f"`step_scale` must be a number; got {type(step_scale).__name__}.")
    check_step_size(float(step_scale), "step_scale")
    if (
        isinstance(steps_per_level, bool)
        or not isinstance(steps_per_level, int | np.integer)
        or steps_per_level < 1
    ):
        raise ValueError(f"`steps_per_level` must be an integer >= 1; got {steps_per_level!r}.")
    if not isinstance(denoise, bool):
        raise TypeError(f"`denoise` must be True or False; got {denoise!r}.")
    scale, steps = float(step_scale), int(steps_per_level)

    @jax.jit
    def run(key: PRNGKey, positions: ArrayTree) -> tuple[ArrayTree, AnnealedInfo]:
        return sample(key, positions, score_fn, sig, scale, steps, denoise)

    def sampler(key: PRNGKey, positions: ArrayTree) -> tuple[ArrayTree, AnnealedInfo]:
        check_position(positions, "positions")
        leaves = jax.tree.leaves(positions)
        if (
            any(jnp.ndim(leaf) == 0 for leaf in leaves)
            or len({jnp.shape(leaf)[0] for leaf in leaves}) != 1
        ):
            raise ValueError(
                "`positions` needs the same leading particle axis on every leaf "
                "(particles, *event); for one particle use x[None]."
            )
        return run(key, positions)

    return sampler


__all__ = ["AnnealedInfo", "annealed_langevin", "check_sigmas", "sample", "step_sizes"]
