"""Input checks that turn user mistakes into clear errors before XLA sees them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.gradients import ValueAndScoreFn, check_position
from jlangevin.kernels._bounds import check_inside, within_bounds
from jlangevin.kernels._tree import is_concrete, tree_where
from jlangevin.types import Array, ArrayTree, Bounds, StepSize


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


def _check_outputs(position: ArrayTree, value_and_score: ValueAndScoreFn) -> None:
    """The log density must be a scalar and the score shaped like the position."""
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


def checked_init(
    position: ArrayTree, value_and_score: ValueAndScoreFn, bounds: Bounds | None = None
) -> tuple[Array | None, ArrayTree]:
    """The log density and score at an initial position, checking what the target returns.

    Outside ``bounds`` the target is zero: the log density is ``-inf`` and the
    score NaN there, so a batched start outside the box is caught by
    :func:`jlangevin.run`'s finiteness check; a concrete single start raises here.
    """
    check_position(position)
    check_inside(position, bounds)
    _check_outputs(position, value_and_score)
    value, score = value_and_score(position)
    if value is not None and is_concrete(value) and not np.isfinite(np.asarray(value)):
        raise ValueError(
            f"The log density at the initial `position` is {float(value)}: start every chain "
            "where the log density is finite (inside the support)."
        )
    if bounds is not None:
        inside = within_bounds(position, bounds)
        if value is not None:
            value = jnp.where(inside, value, -jnp.inf)
        score = tree_where(inside, score, jax.tree.map(lambda s: jnp.full_like(s, jnp.nan), score))
    return value, score


__all__ = ["check_step_size", "checked_init"]
