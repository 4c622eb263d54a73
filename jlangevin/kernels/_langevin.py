"""The machinery every Langevin kernel shares.

One move, written once::

    x' = x + h * drift(x) + sqrt(2 h T) * xi,    xi ~ N(0, I)

with ``drift`` the (optionally clipped) score, ``h`` a scalar or a per-coordinate
step (pytree broadcasting against ``x``) and ``T`` a temperature. Around it:
pytree arithmetic, step-size resolution (constant or ``count -> value``
schedule), box boundaries (reflect / clip / membership) and the input checks
that turn user mistakes into clear errors before XLA sees them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.gradients import ValueAndScoreFn, check_position
from jlangevin.types import Array, ArrayTree, Bounds, PRNGKey, StepSize

BOUNDARY_MODES = ("reflect", "clip")


class Sampler(NamedTuple):
    """A kernel bound to its target and settings: ``init`` and ``step`` only.

    Both are pure and act on a single chain; ``jax.vmap`` them over chains
    (``jl.run`` does). ``state_type`` lets the driver tell a state to resume
    from apart from a batch of positions. ``unguarded_step``, when a kernel
    has one, is ``step`` without the keep-or-move guard (``guard=False``): the
    same state, bit for bit, whenever ``step`` would not diverge, and otherwise
    a state that is not finite and stays so under further unguarded steps.
    ``jl.run`` runs blocks of steps with it and replays a block with ``step``
    when the block ends non-finite (see :func:`jlangevin.run`).
    """

    init: Callable[[ArrayTree], Any]
    step: Callable[[PRNGKey, Any], tuple[Any, Any]]
    state_type: type
    name: str
    bounds: Bounds | None = None
    unguarded_step: Callable[[PRNGKey, Any], tuple[Any, Any]] | None = None


def bind(
    init: Callable[..., Any],
    step: Callable[..., Any],
    state_type: type,
    name: str,
    bounds: Bounds | None,
    init_kwargs: dict[str, Any],
    step_kwargs: dict[str, Any],
    unguarded: bool = False,
) -> Sampler:
    """A :class:`Sampler` from a kernel's ``init``/``step`` and the settings to bind.

    ``init(position, **init_kwargs)`` after checking that the position lies in
    ``bounds``; ``step(key, state, **step_kwargs)``; with ``unguarded``, also
    ``step(key, state, guard=False, **step_kwargs)`` as ``unguarded_step``.
    """

    def init_fn(position: ArrayTree) -> Any:
        check_inside(position, bounds)
        return init(position, **init_kwargs)

    unguarded_step = functools.partial(step, guard=False, **step_kwargs) if unguarded else None
    return Sampler(
        init_fn, functools.partial(step, **step_kwargs), state_type, name, bounds, unguarded_step
    )


# --------------------------------------------------------------------------- #
# Pytree helpers
# --------------------------------------------------------------------------- #
def is_concrete(x: Any) -> bool:
    """True when ``x`` holds actual values (not a tracer inside jit/vmap)."""
    return not isinstance(x, jax.core.Tracer)


def tree_where(pred: Array, on_true: ArrayTree, on_false: ArrayTree) -> ArrayTree:
    """Select whole pytrees with a scalar predicate."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def materialize(tree: ArrayTree, *, barrier: bool = False) -> ArrayTree:
    """The identity, computed once: stored, then read by every consumer.

    A step's candidate (moved position and its score) feeds
    several consumers that each need *every* coordinate of a chain at *each*
    output element: the finiteness check, the keep-or-move ``where`` over the
    whole state, a Metropolis test. XLA fuses cheap elementwise producers into
    every consumer, so on CPU the random-normal transform, the move and the score
    were recomputed per coordinate in each of those loops (a 2-D ULA step over
    10^4 chains spent ~15% of its time there; MALA more). Two ways to stop it,
    leaf by leaf; which is faster depends on the kernel around it (measured on
    a 2-core CPU, jlangevin/bench.py cells):

    - ``barrier=False``: ``x / (x == x)``. A floating-point division counts as
      expensive to XLA's fusion heuristics, which then keep it, with everything
      before it, in one loop whose result is stored. ``x == x`` is true except
      at NaN, where ``NaN / 0`` is NaN again, and ``x / 1`` is exact. MALA uses
      this: with the barrier it ran 10-25% slower (100-1000 dims).
    - ``barrier=True``: :func:`jax.lax.optimization_barrier`. XLA's CPU
      pipeline removes barriers before it fuses, so this stores nothing: the
      fusion is left to XLA, which (jax 0.10.2) computed the candidate once
      anyway. Nor is it a plain identity: it keeps the algebraic simplifier
      from rewriting across it (without it, about half the draws differ in
      their last bit). ULA and SGLD use it: 8-18% faster than the division on
      every cell measured, the same draws as the division on multi-chain
      cells, and their guarded and unguarded forms agree bit for bit (tested).

    The values are unchanged, bit for bit (subnormals aside: XLA on CPU may
    flush them to a signed zero in any arithmetic operation, ``x * 1``
    included). Integer and ``None`` leaves pass through.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._langevin import materialize
    >>> materialize({"x": jnp.array([1.5, jnp.inf, -0.0]), "n": jnp.arange(2)})["x"]
    Array([ 1.5,  inf, -0. ], dtype=float32)
    >>> materialize(jnp.array([jnp.nan, 2.0]), barrier=True)
    Array([nan,  2.], dtype=float32)
    """
    return jax.tree.map(lambda leaf: _computed_once(leaf, barrier), tree)


def _computed_once(leaf: Any, barrier: bool) -> Any:
    if leaf is None or not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
        return leaf
    if barrier:
        return jax.lax.optimization_barrier(leaf)
    return leaf / (leaf == leaf).astype(jnp.result_type(leaf))


def tree_all_finite(tree: ArrayTree) -> Array:
    """Scalar bool: every element of every leaf is finite.

    Leaves of one shape (a position and its score) are checked element-wise
    together and reduced once: on CPU each reduction is its own loop over the
    chains, and for a small step those loops cost as much as the move.
    """
    by_shape: dict[tuple[int, ...], Array] = {}
    for leaf in jax.tree.leaves(tree):
        finite = jnp.isfinite(leaf)
        seen = by_shape.get(finite.shape)
        by_shape[finite.shape] = finite if seen is None else seen & finite
    checks = [jnp.all(finite) for finite in by_shape.values()]
    return functools.reduce(jnp.logical_and, checks, jnp.asarray(True))


def poison(moved: ArrayTree, inputs: Sequence[ArrayTree], value: Array | None = None) -> ArrayTree:
    """``moved``, with NaN wherever the step's inputs were not finite.

    The unguarded form of a step (``guard=False``) has no keep-or-move test, so a
    diverged state must not be able to turn finite again in later steps (a
    clipped score, or a clipped box wall, would map an infinity back into
    range): a coordinate of the move becomes NaN when that coordinate of any
    tree in ``inputs`` (the position and the score it moves from, each shaped
    like ``moved``), or the scalar ``value`` (a log density), is not finite.
    Element-wise, so it fuses into the move; the identity, bit for bit, when
    everything is finite.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._langevin import poison
    >>> poison(jnp.array([1.0, 2.0]), [jnp.array([0.5, jnp.inf])])
    Array([ 1., nan], dtype=float32)
    """

    def one(leaf: Array, *sources: Array) -> Array:
        finite = functools.reduce(jnp.logical_and, [jnp.isfinite(x) for x in sources])
        if value is not None:
            finite = finite & jnp.isfinite(value)
        return jnp.where(finite, leaf, jnp.asarray(jnp.nan, jnp.result_type(leaf)))

    return jax.tree.map(one, moved, *inputs)


#: Leaves of at most this many elements are summed with explicit additions.
SMALL_SUM = 4


def leaf_sum(x: Array) -> Array:
    """``jnp.sum(x)``; for at most :data:`SMALL_SUM` elements, written as additions.

    Vmapped over chains, a sum over a chain's few coordinates is a row reduction
    of a ``(chains, size)`` array, which XLA on CPU (jax 0.10) hands to a library
    fusion that is slow for short rows (see benchmarks/README.md). Written out,
    it is element-wise over the chains and fuses with what surrounds it. MALA's
    proposal terms at 2-D with 10^4 chains: 0.88 -> 1.30 of the strict floor,
    4-D 0.89 -> 1.15, the same bits; at 8 elements and more the additions
    measured slower than the reduction (0.91 -> 0.81), hence the limit.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels._langevin import leaf_sum
    >>> leaf_sum(jnp.array([1.0, 2.0, 3.0])), leaf_sum(jnp.ones((3, 3)))
    (Array(6., dtype=float32), Array(9., dtype=float32))
    """
    x = jnp.asarray(x)
    if not 0 < x.size <= SMALL_SUM:
        return jnp.sum(x)
    flat = x.reshape(-1)
    return functools.reduce(jnp.add, [flat[i] for i in range(flat.size)])


def tree_sum(tree: ArrayTree) -> Array:
    """Sum of every element of every leaf (:func:`leaf_sum` per leaf)."""
    return sum(leaf_sum(leaf) for leaf in jax.tree.leaves(tree))


def broadcast_like(value: Any, tree: ArrayTree, name: str) -> ArrayTree:
    """Return ``value`` as a pytree with the structure of ``tree``.

    ``value`` is either a pytree with the structure of ``tree`` (one entry per
    leaf) or a single scalar/array that is used for every leaf.
    """
    tree_def = jax.tree.structure(tree)
    value_def = jax.tree.structure(value)
    if value_def == tree_def:
        return value
    if value_def.num_leaves == 1 and jax.tree.structure(0) == value_def:
        return jax.tree.map(lambda _: value, tree)
    raise ValueError(
        f"`{name}` must be a scalar, an array broadcasting against every leaf of the "
        f"position, or a pytree with the position's structure {tree_def}; got {value_def}."
    )


# --------------------------------------------------------------------------- #
# Step sizes
# --------------------------------------------------------------------------- #
def resolve_step_size(step_size: StepSize, count: Array) -> Any:
    """Value of the step size at step ``count`` (constant or schedule)."""
    return step_size(count) if callable(step_size) else step_size


def step_tree(step_size: StepSize, count: Array, position: ArrayTree) -> ArrayTree:
    """The step at ``count`` as a pytree matching ``position``."""
    value = resolve_step_size(step_size, count)
    return broadcast_like(value, position, "step_size")


def mean_step(steps: ArrayTree) -> Array:
    """One number summarising a (possibly per-coordinate) step, for ``info``."""
    leaves = jax.tree.leaves(steps)
    total = sum(jnp.sum(jnp.asarray(leaf, jnp.result_type(float))) for leaf in leaves)
    return total / sum(max(np.size(leaf), 1) for leaf in leaves)


def check_step_size(step_size: StepSize, name: str = "step_size") -> None:
    """Reject a concrete step size that is not positive and finite."""
    if step_size is None:
        raise ValueError(f"`{name}` is required: a positive scalar, array, pytree or schedule.")
    if callable(step_size):
        try:
            value = step_size(jnp.asarray(0, jnp.int32))
        except Exception as err:  # a schedule that cannot be evaluated is a user error
            raise ValueError(
                f"`{name}` is callable but could not be evaluated at count 0 "
                f"(a schedule must map an integer step count to a step size): {err}"
            ) from err
    else:
        value = step_size
    for leaf in jax.tree.leaves(value):
        if not is_concrete(leaf):
            continue
        arr = np.asarray(leaf)
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"`{name}` must be numeric; got dtype {arr.dtype}.")
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"`{name}` must be positive and finite; got {arr}.")


# --------------------------------------------------------------------------- #
# Bounds
# --------------------------------------------------------------------------- #
def check_bounds(bounds: Bounds | None, boundary: str = "reflect") -> None:
    if boundary not in BOUNDARY_MODES:
        raise ValueError(f"`boundary` must be one of {BOUNDARY_MODES}; got {boundary!r}.")
    if bounds is None:
        return
    if not isinstance(bounds, tuple | list) or len(bounds) != 2:
        raise ValueError(f"`bounds` must be a pair (low, high); got {bounds!r}.")
    low, high = bounds
    for lo, hi in zip(jax.tree.leaves(low), jax.tree.leaves(high), strict=False):
        if is_concrete(lo) and is_concrete(hi) and np.any(np.asarray(lo) >= np.asarray(hi)):
            raise ValueError(f"`bounds` must have low < high everywhere; got low={lo}, high={hi}.")


def _bound_trees(bounds: Bounds, position: ArrayTree) -> tuple[ArrayTree, ArrayTree]:
    low, high = bounds
    return broadcast_like(low, position, "bounds[0]"), broadcast_like(high, position, "bounds[1]")


def _reflect(x: Array, low: Array, high: Array) -> Array:
    """Fold ``x`` back into ``[low, high]`` by mirror reflection at the walls.

    Exact for any overshoot (a path that crosses the box several times folds
    back correctly); one-sided boxes (an infinite wall) reflect at the finite one.
    """
    width = high - low
    both = jnp.isfinite(low) & jnp.isfinite(high)
    safe_width = jnp.where(both, width, 1.0)
    folded = jnp.mod(x - jnp.where(both, low, 0.0), 2 * safe_width)
    folded = jnp.where(folded > safe_width, 2 * safe_width - folded, folded) + low
    from_low = jnp.where(x < low, 2 * low - x, x)
    from_high = jnp.where(x > high, 2 * high - x, x)
    one_sided = jnp.where(jnp.isfinite(low), from_low, from_high)
    return jnp.where(both, folded, one_sided).astype(jnp.result_type(x))


def apply_bounds(position: ArrayTree, bounds: Bounds | None, boundary: str) -> ArrayTree:
    """Bring a moved position back into the box (``reflect`` or ``clip``)."""
    if bounds is None:
        return position
    low, high = _bound_trees(bounds, position)
    if boundary == "clip":
        return jax.tree.map(
            lambda x, lo, hi: jnp.clip(x, lo, hi).astype(jnp.result_type(x)), position, low, high
        )
    return jax.tree.map(_reflect, position, low, high)


def within_bounds(position: ArrayTree, bounds: Bounds | None) -> Array:
    """Scalar bool: the position lies in the closed box (always true without bounds)."""
    if bounds is None:
        return jnp.asarray(True)
    low, high = _bound_trees(bounds, position)
    inside = jax.tree.map(lambda x, lo, hi: jnp.all((x >= lo) & (x <= hi)), position, low, high)
    return jnp.all(jnp.stack(jax.tree.leaves(inside)))


# --------------------------------------------------------------------------- #
# The move
# --------------------------------------------------------------------------- #
def clip_score(score: ArrayTree, score_clip: Any | None) -> ArrayTree:
    """Clip each coordinate of the score to ``[-score_clip, score_clip]``."""
    if score_clip is None:
        return score
    clip = broadcast_like(score_clip, score, "score_clip")
    return jax.tree.map(lambda s, c: jnp.clip(s, -c, c), score, clip)


def langevin_move(
    position: ArrayTree,
    drift: ArrayTree,
    steps: ArrayTree,
    noise: ArrayTree,
    temperature: Any = 1.0,
) -> ArrayTree:
    """``x + h * drift + sqrt(2 h T) * noise``, leaf by leaf."""

    def move(x, d, h, xi):
        h = jnp.asarray(h, jnp.result_type(x))
        return x + h * d + jnp.sqrt(2 * h * temperature) * xi

    return jax.tree.map(move, position, drift, steps, noise)


# --------------------------------------------------------------------------- #
# Log density and score
# --------------------------------------------------------------------------- #
def checked_init(
    position: ArrayTree, value_and_score: ValueAndScoreFn
) -> tuple[Array | None, ArrayTree]:
    """Evaluate the target at the initial position, checking what it returns."""
    check_position(position)
    out_value, out_score = jax.eval_shape(value_and_score, position)
    if out_value is not None and out_value.shape != ():
        raise ValueError(
            "`logdensity_fn` must return a scalar for a single position; it returned shape "
            f"{out_value.shape}. (jl.run vmaps over chains itself: write the density of one.)"
        )
    if jax.tree.structure(out_score) != jax.tree.structure(position) or any(
        s.shape != jnp.shape(p)
        for s, p in zip(jax.tree.leaves(out_score), jax.tree.leaves(position), strict=True)
    ):
        raise ValueError(
            "`score_fn` must return a pytree shaped like the position; got "
            f"{jax.tree.map(lambda s: s.shape, out_score)} for a position shaped "
            f"{jax.tree.map(jnp.shape, position)}."
        )
    value, score = value_and_score(position)
    if value is not None and is_concrete(value) and not np.isfinite(np.asarray(value)):
        raise ValueError(
            f"The log density at the initial `position` is {float(value)}: start every chain "
            "where the log density is finite (inside the support)."
        )
    return value, score


def check_inside(position: ArrayTree, bounds: Bounds | None) -> None:
    """Reject an initial position outside the box (when values are concrete)."""
    if bounds is None or not all(is_concrete(leaf) for leaf in jax.tree.leaves(position)):
        return
    if not bool(within_bounds(position, bounds)):
        raise ValueError(
            f"The initial `position` lies outside `bounds` {bounds}; start inside the box."
        )
