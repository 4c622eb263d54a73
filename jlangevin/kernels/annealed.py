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
``t``. Each particle carries the score at its position: a step evaluates the
score at the point it moves to (once more at the start of each level, for the
new ``σ``), so a move to a point where the score is not finite is refused
before it is made: the particle stays where it was and ``info.diverged``
counts the step, at every step it fails. The final Tweedie step reuses the
last score and leaves a particle whose score there is not finite as it is.

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

from jlangevin import keys
from jlangevin._checks import check_key
from jlangevin.gradients import check_position
from jlangevin.kernels._checks import (
    as_flag,
    as_int,
    as_positive,
    check_callable,
    check_like_position,
    check_score_like,
    describe,
)
from jlangevin.kernels._move import langevin_move
from jlangevin.kernels._tree import normal_like, tree_all_finite, tree_squared_norm, tree_where
from jlangevin.types import Array, ArrayTree, PRNGKey

NoiseScoreFn = Callable[[ArrayTree, Array], ArrayTree]


class AnnealedInfo(NamedTuple):
    """Per-level summary, every field of shape ``(L,)``.

    Attributes
    ----------
    sigma : the noise level ``σ_i``.
    step_size : ``h_i = step_scale σ_i² / σ_L²``.
    score_norm : mean over particles and steps of the score's Euclidean norm.
    diverged : number of (particle, step) moves refused because the move or the
        score at the point moved to was not finite (int32).
    """

    sigma: Array
    step_size: Array
    score_norm: Array
    diverged: Array


def _is_traced(value: Any) -> bool:
    """``value``, or an entry of a list/tuple of them, is traced under jit/vmap/grad."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def _is_real(dtype: Any) -> bool:
    return dtype != np.bool_ and (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    )


def check_sigmas(sigmas: Any) -> np.ndarray:
    """Concrete, 1-D, positive, finite, strictly decreasing noise levels (lists welcome).

    A list or array of Python, numpy or JAX numbers; see :func:`ladder` for a
    traced ladder.

    Examples
    --------
    >>> from jlangevin.kernels.annealed import check_sigmas
    >>> check_sigmas([1.0, 0.5, 0.1]).tolist()
    [1.0, 0.5, 0.1]
    """
    if _is_traced(sigmas):
        raise TypeError(
            "`sigmas` must be concrete (numbers, a list or an array), not traced under jit."
        )
    try:
        raw = np.asarray(sigmas)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`sigmas` must be a 1-D array of numbers; got {sigmas!r}.") from err
    if not _is_real(raw.dtype):
        raise TypeError(f"`sigmas` must hold real numbers; got dtype {raw.dtype}.")
    arr = raw.astype(float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`sigmas` must be a non-empty 1-D array; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`sigmas` must be positive and finite; got {arr}.")
    if np.any(np.diff(arr) >= 0):
        raise ValueError(f"`sigmas` must be strictly decreasing (σ_1 > … > σ_L); got {arr}.")
    return arr


def ladder(sigmas: Any) -> np.ndarray | Array:
    """The noise levels: :func:`check_sigmas` when concrete; a traced ladder is kept.

    A traced ladder (or a list holding traced levels) must be a non-empty 1-D
    real array; its values cannot be checked (a level that is not positive
    gives non-finite steps, counted as diverged).

    Examples
    --------
    >>> import jax
    >>> from jlangevin.kernels.annealed import ladder
    >>> ladder((1.0, 0.5)).tolist()
    [1.0, 0.5]
    >>> jax.jit(lambda s: ladder([s, 0.5]))(1.0).tolist()
    [1.0, 0.5]
    """
    if not _is_traced(sigmas):
        return check_sigmas(sigmas)
    try:
        arr = jnp.asarray(sigmas)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`sigmas` must be a 1-D array of numbers; got {sigmas!r}.") from err
    if not _is_real(arr.dtype):
        raise TypeError(f"`sigmas` must hold real numbers; got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"`sigmas` must be a non-empty 1-D array; got shape {arr.shape}.")
    return arr.astype(jnp.result_type(arr.dtype, float))


def check_step_scale(step_scale: Any) -> float | Array:
    """A positive finite number (Python, numpy or JAX scalar), or a traced real scalar.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.annealed import check_step_scale
    >>> check_step_scale(jnp.float32(0.5))
    0.5
    """
    if not isinstance(step_scale, jax.core.Tracer):
        return as_positive(step_scale, "step_scale")
    if jnp.ndim(step_scale) != 0 or not _is_real(step_scale.dtype):
        raise TypeError(f"`step_scale` must be a real number; got {describe(step_scale)}.")
    return step_scale


def step_sizes(sigmas: Any, step_scale: float) -> Array:
    """``h_i = step_scale * σ_i² / σ_L²`` for each level."""
    sig = jnp.asarray(sigmas)
    return step_scale * sig**2 / sig[-1] ** 2


def _norm(tree: ArrayTree) -> Array:
    return jnp.sqrt(tree_squared_norm(tree))


def _particle_score(score_fn: NoiseScoreFn, x: ArrayTree, sigma: Array) -> ArrayTree:
    """``score_fn(x, sigma)``, checked (at trace time) to be shaped and typed like ``x``."""
    return check_score_like(score_fn(x, sigma), x)


def _particle_step(
    score_fn: NoiseScoreFn,
    key: PRNGKey,
    count: Array,
    x: ArrayTree,
    score: ArrayTree,
    sigma: Array,
    h: Array,
) -> tuple[ArrayTree, ArrayTree, Array, Array]:
    """One ULA move at level ``sigma`` with the carried score at ``x``.

    Returns the new position and its score, the norm of the score moved with
    (0 for a refused move) and the diverged flag.
    """
    noise = normal_like(jax.random.fold_in(key, count), x)
    moved = langevin_move(x, score, jax.tree.map(lambda _: h, x), noise)
    moved_score = _particle_score(score_fn, moved, sigma)
    ok = tree_all_finite((moved, moved_score))
    norm = jnp.where(ok, _norm(score), jnp.zeros((), h.dtype))
    x, score = tree_where(ok, (moved, moved_score), (x, score))
    return x, score, norm, ~ok


def _check_particles(positions: ArrayTree, name: str = "positions") -> int:
    """Floating leaves sharing a leading particle axis; returns the number of particles."""
    check_position(positions, name)
    leaves = jax.tree.leaves(positions)
    if (
        any(jnp.ndim(leaf) == 0 for leaf in leaves)
        or len({jnp.shape(leaf)[0] for leaf in leaves}) != 1
    ):
        raise ValueError(
            f"`{name}` needs the same leading particle axis on every leaf "
            "(particles, *event); for one particle use x[None]; got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    return jnp.shape(leaves[0])[0]


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
    static; see :func:`annealed_langevin` for the parameters. ``sigmas`` and
    ``step_scale`` may be traced; concrete ones are checked here too.

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
    check_callable(score_fn, "score_fn")
    num_particles = _check_particles(positions)
    steps_per_level = as_int(steps_per_level, "steps_per_level", minimum=1)
    denoise = as_flag(denoise, "denoise")
    sigmas = ladder(sigmas)
    step_scale = check_step_scale(step_scale)
    dtype = jnp.result_type(*jax.tree.leaves(positions))
    sig = jnp.asarray(sigmas, dtype)
    hs = step_sizes(sig, step_scale).astype(dtype)
    check_key(key)
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)  # a legacy uint32 key
    particle_keys = keys.chain_keys(key, jnp.arange(num_particles, dtype=jnp.uint32))
    move = jax.vmap(
        lambda k, t, x, g, s, h: _particle_step(score_fn, k, t, x, g, s, h),
        (0, None, 0, 0, None, None),
    )
    scores_at = jax.vmap(lambda x, s: _particle_score(score_fn, x, s), (0, None))

    def level(carry, inputs):
        x, _, count = carry
        sigma, h = inputs
        score = scores_at(x, sigma)  # the new level's score at the particles' positions

        def one_step(step_carry, _):
            x, score, count, norm_sum, diverged = step_carry
            x, score, norms, bad = move(particle_keys, count, x, score, sigma, h)
            diverged = diverged + jnp.sum(bad, dtype=jnp.int32)
            return (x, score, count + 1, norm_sum + jnp.mean(norms), diverged), None

        init = (x, score, count, jnp.zeros((), dtype), jnp.zeros((), jnp.int32))
        (x, score, count, norm_sum, diverged), _ = jax.lax.scan(
            one_step, init, None, length=steps_per_level
        )
        return (x, score, count), (norm_sum / steps_per_level, diverged)

    start = (positions, jax.tree.map(jnp.zeros_like, positions), jnp.zeros((), jnp.int32))
    (x, score, _), (score_norm, diverged) = jax.lax.scan(level, start, (sig, hs))
    if denoise:
        last = sig[-1]
        ok = jax.vmap(tree_all_finite)(score)
        denoised = jax.tree.map(lambda p, s: p + last**2 * s, x, score)
        x = jax.vmap(tree_where)(ok, denoised, x)
    return x, AnnealedInfo(sig, hs, score_norm, diverged)


#: :func:`sample` compiled once per score function, level length and ``denoise``
#: (and shapes): the ladder and the step scale are arguments, so a new ladder or
#: scale, or a new sampler of the same score, reuses the program.
_jitted_sample = jax.jit(sample, static_argnames=("score_fn", "steps_per_level", "denoise"))


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
    sigmas : the ladder ``σ_1 > … > σ_L > 0``: a 1-D list or array of Python,
        numpy or JAX numbers. It may be traced (a sampler built inside ``jit``
        or ``vmap``); only concrete levels are checked.
    step_scale : ``h_L``, the step at the last level; level ``i`` uses
        ``step_scale σ_i² / σ_L²``. Keep it below about ``σ_L²`` so that every
        level is stable (``h_i / σ_i² = step_scale / σ_L²``). A Python, numpy
        or JAX number, or traced (then unchecked).
    steps_per_level : ULA steps at each level (a concrete integer: a loop length).
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
        raise TypeError(
            f"`score_fn` must be callable `(x, sigma) -> score`; got {describe(score_fn)}."
        )
    sig = ladder(sigmas)
    scale = check_step_scale(step_scale)
    steps = as_int(steps_per_level, "steps_per_level", minimum=1)
    denoise = as_flag(denoise, "denoise")

    def sampler(key: PRNGKey, positions: ArrayTree) -> tuple[ArrayTree, AnnealedInfo]:
        _check_particles(positions)
        positions = jax.tree.map(jnp.asarray, positions)
        one = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype), positions)
        sigma = jax.ShapeDtypeStruct((), jnp.result_type(*jax.tree.leaves(positions)))
        try:
            out = jax.eval_shape(score_fn, one, sigma)
        except (TypeError, ValueError) as err:
            raise ValueError(
                "`score_fn` could not be evaluated at one particle (shapes "
                f"{jax.tree.map(lambda a: a.shape, one)}) and a scalar sigma: "
                f"{type(err).__name__}: {err}"
            ) from err
        check_like_position(out, one)
        return _jitted_sample(key, positions, score_fn, sig, scale, steps, denoise)

    return sampler


__all__ = [
    "AnnealedInfo",
    "annealed_langevin",
    "check_sigmas",
    "check_step_scale",
    "ladder",
    "sample",
    "step_sizes",
]
