"""Kernel Stein discrepancy with the inverse multi-quadric kernel (Gorham & Mackey, 2017).

For draws ``x_1..x_N`` and the target's score ``s = ∇ log p`` only (no
normalizing constant, no exact sampler), the squared KSD is the V-statistic

    KSD² = (1/N²) Σ_ij k_p(x_i, x_j),

with the Stein kernel of ``k(x, y) = (c² + |x - y|²)^β``, ``r = x - y``,
``q = c² + |r|²``, ``d`` the dimension:

    k_p(x, y) = s(x)·s(y) q^β + 2β (s(y) - s(x))·r q^(β-1)
                - 2β d q^(β-1) - 4β(β-1) |r|² q^(β-2).

``E_p k_p(x, y) = 0`` for independent ``x, y ~ p`` when ``p`` vanishes at the
edge of its support (the Stein identity), so ``E KSD² = E k_p(x, x) / N`` for
exact i.i.d. draws, and KSD stays away from 0 for any other law (it detects
non-convergence for ``-1 < β < 0``). Every term is a dot product, so a block of
``B`` rows against all ``N`` columns costs ``B x N`` memory, not ``B x N x d``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.diagnostics._checks import as_int, as_number
from jlangevin.diagnostics._draws import as_draw_tree
from jlangevin.types import Array


class KSDResult(NamedTuple):
    """Kernel Stein discrepancy of a sample.

    Attributes
    ----------
    ksd : the discrepancy ``sqrt(KSD²)`` (V-statistic, never negative).
    ksd2 : ``KSD²``.
    diagonal : mean of ``k_p(x_i, x_i)``: ``E KSD² = diagonal / N`` for exact i.i.d. draws.
    n : number of draws used.
    """

    ksd: float
    ksd2: float
    diagonal: float
    n: int


def _flat_samples(draws: Any) -> tuple[Array, Callable[[Array], Any]]:
    """``(N, d)`` rows (chains and draws pooled, each sample raveled) and the unravel map."""
    tree = as_draw_tree(draws, "draws")
    leaves, treedef = jax.tree.flatten(tree)
    event_shapes = [leaf.shape[2:] for leaf in leaves]
    sizes = [int(np.prod(shape)) for shape in event_shapes]
    rows = np.concatenate(
        [leaf.reshape(-1, size) for leaf, size in zip(leaves, sizes, strict=True)], axis=1
    )

    def unravel(row: Array) -> Any:
        parts = jnp.split(row, np.cumsum(sizes)[:-1])
        return jax.tree.unflatten(
            treedef, [p.reshape(shape) for p, shape in zip(parts, event_shapes, strict=True)]
        )

    return jnp.asarray(rows, dtype=jnp.result_type(float)), unravel


def _score_rows(score_fn: Callable, rows: Array, unravel: Callable, batch_size: int) -> Array:
    def one(row: Array) -> Array:
        score = score_fn(unravel(row))
        return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(score)])

    return jax.lax.map(one, rows, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=("batch_size",))
def stein_kernel_sum(
    x: Array, s: Array, c: float, beta: float, *, batch_size: int = 512
) -> tuple[Array, Array]:
    """``Σ_ij k_p(x_i, x_j)`` and ``Σ_i k_p(x_i, x_i)`` over blocks of ``batch_size`` rows.

    ``x`` and ``s`` are ``(N, d)``: samples and their scores.
    """
    n, d = x.shape
    x = x - jnp.mean(x, axis=0)  # the kernel is translation invariant; this limits cancellation
    num_blocks = -(-n // batch_size)
    pad = num_blocks * batch_size - n
    xb = jnp.pad(x, ((0, pad), (0, 0))).reshape(num_blocks, batch_size, d)
    sb = jnp.pad(s, ((0, pad), (0, 0))).reshape(num_blocks, batch_size, d)
    valid = (jnp.arange(num_blocks * batch_size) < n).reshape(num_blocks, batch_size)
    sq_x, s_dot_x = jnp.sum(x * x, axis=1), jnp.sum(s * x, axis=1)

    def block(args):
        xi, si, mask = args
        r2 = jnp.maximum(jnp.sum(xi * xi, axis=1)[:, None] + sq_x[None, :] - 2 * xi @ x.T, 0.0)
        q = c**2 + r2
        # (s_j - s_i)·(x_i - x_j) = s_j·x_i - s_j·x_j - s_i·x_i + s_i·x_j
        cross = xi @ s.T - s_dot_x[None, :] - jnp.sum(si * xi, axis=1)[:, None] + si @ x.T
        kp = (
            (si @ s.T) * q**beta
            + 2 * beta * cross * q ** (beta - 1)
            - 2 * beta * d * q ** (beta - 1)
            - 4 * beta * (beta - 1) * r2 * q ** (beta - 2)
        )
        return jnp.sum(jnp.where(mask[:, None], kp, 0.0))

    total = jnp.sum(jax.lax.map(block, (xb, sb, valid)))
    diagonal = jnp.sum(
        jnp.sum(s * s, axis=1) * c ** (2 * beta) - 2 * beta * d * c ** (2 * beta - 2)
    )
    return total, diagonal


def _resolve_score(score: Any) -> Callable:
    if hasattr(score, "score") and callable(score.score):
        return score.score
    if callable(score):
        return score
    raise TypeError(
        f"`score` must be a score function x -> ∇log p(x) or a Target; got {type(score).__name__}."
    )


def ksd(
    draws: Any,
    score: Callable | Any,
    *,
    c: float = 1.0,
    beta: float = -0.5,
    batch_size: int = 512,
) -> KSDResult:
    """Kernel Stein discrepancy (IMQ kernel) of the draws against a score.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them;
        all chains and draws are pooled (``N = chains * draws``; cost ``O(N²)``,
        memory ``O(batch_size * N)``). For a plain sample ``(n, *event)`` pass
        ``x[None]``.
    score : ``position -> ∇ log p(position)`` on one position (same pytree as a
        draw), or a Target (its ``score``).
    c, beta : the IMQ kernel ``(c² + |x - y|²)^β``, ``c > 0``, ``-1 < β < 0``.
    batch_size : rows per compiled block.

    Returns
    -------
    KSDResult
        ``ksd``, ``ksd2``, ``diagonal`` (so ``N * ksd2 / diagonal`` is about 1
        for exact i.i.d. draws) and ``n``.

    Examples
    --------
    >>> import jax
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian([0.0, 0.0])
    >>> exact = target.sample(jax.random.key(0), 2000)[None]
    >>> shifted = exact + 1.0
    >>> ksd(exact, target).ksd < ksd(shifted, target).ksd
    True
    """
    c = as_number(c, "c", 0.0, low_open=True)
    beta = as_number(beta, "beta", -1.0, 0.0, low_open=True, high_open=True)
    batch_size = as_int(batch_size, "batch_size", minimum=1)
    score_fn = _resolve_score(score)
    rows, unravel = _flat_samples(draws)
    n = rows.shape[0]
    batch_size = min(batch_size, n)
    scores = _score_rows(score_fn, rows, unravel, batch_size)
    if scores.shape != rows.shape:
        raise ValueError(
            f"`score` must return a gradient shaped like a position ({rows.shape[1]} numbers); "
            f"got {scores.shape[1:]}."
        )
    finite = np.isfinite(np.asarray(scores)).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"`score` is not finite at {int(np.sum(~finite))} of {n} draws (e.g. outside the "
            "support); KSD needs a finite score at every draw."
        )
    total, diagonal = stein_kernel_sum(rows, scores, float(c), float(beta), batch_size=batch_size)
    ksd2 = max(float(total) / n**2, 0.0)
    return KSDResult(float(np.sqrt(ksd2)), ksd2, float(diagonal) / n, int(n))
