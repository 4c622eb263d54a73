"""Input checks that turn user mistakes into clear errors before XLA sees them.

Every check names the argument, what was expected and what came. Values are
checked where they are concrete (at construction, at an eager call, at trace
time for settings closed over by a jitted step); shapes and dtypes are checked
at trace time too, where they cost nothing at run time. numpy and JAX scalars
are numbers wherever a Python number is, and lists are arrays.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_flag, as_int, as_positive, as_real, describe, is_bool
from jlangevin.gradients import ValueAndScoreFn, check_position, value_and_score_fn
from jlangevin.kernels._tree import is_concrete
from jlangevin.types import Array, ArrayTree, LogDensityFn, ScoreFn, StepSize

#: A schedule is evaluated at the counts ``0 .. SCHEDULE_CHECK_COUNTS - 1`` when a
#: sampler is built; a bad step at a later count is a diverged step in the run.
SCHEDULE_CHECK_COUNTS = 101


def require_logdensity(logdensity_fn: Any, kernel: str) -> None:
    """A Metropolis-adjusted kernel's ``logdensity_fn``: present (a score alone cannot accept)."""
    if logdensity_fn is None:
        raise ValueError(
            f"{kernel} needs `logdensity_fn` for its acceptance ratio (a score alone is not "
            "enough; use ULA or SGLD with `score_fn`)."
        )


def require_energy(logdensity_fn: Any, kernel: str) -> None:
    """A trajectory kernel's ``logdensity_fn``: a callable (its energy needs ``log p``)."""
    if logdensity_fn is None or not callable(logdensity_fn):
        raise TypeError(
            f"`logdensity_fn` must be a callable `position -> log p` for {kernel} (its energy "
            "error needs the log density; a score alone is not enough)."
        )


def check_callable(fn: Any, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"`{name}` must be callable; got {type(fn).__name__}.")


def check_real(
    tree: ArrayTree, name: str, *, positive: bool = True, allow_inf: bool = False, at: str = ""
) -> None:
    """Every leaf is a real (integer or floating) array; concrete ones positive and finite.

    ``positive=False`` checks only that the values are not NaN (and finite unless
    ``allow_inf``). Dtypes are checked on traced leaves too; values only on concrete ones.
    """
    for leaf in jax.tree.leaves(tree):
        try:
            dtype = jnp.result_type(leaf) if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
        except (TypeError, ValueError):
            raise TypeError(f"`{name}` must be numeric; got {describe(leaf)}.") from None
        if dtype == np.bool_ or not (
            np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
        ):
            kind = "complex" if np.issubdtype(dtype, np.complexfloating) else "non-numeric"
            raise TypeError(
                f"`{name}` must hold real numbers (integer or floating); got {kind} dtype "
                f"{dtype}{at}."
            )
        if not is_concrete(leaf):
            continue
        arr = np.asarray(leaf)
        bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
        if positive:
            bad = bad | (arr <= 0)
        if np.any(bad):
            want = (
                "be positive and finite" if positive else "not be NaN" if allow_inf else "be finite"
            )
            shown = arr if arr.size <= 8 else arr[bad][:8]
            raise ValueError(f"`{name}` must {want}; got {shown}{at}.")


def _list_as_array(step_size: list, name: str) -> Any:
    """A (nested) list of numbers as the array it stands for, as the kernels read it.

    A list that is not rectangular is left as it is: it can only be a pytree of
    steps, one per leaf of a list-shaped position (checked against it at
    ``init``). Bools are not numbers, inside a list either.
    """
    leaves = jax.tree.leaves(step_size)
    if any(is_bool(leaf) for leaf in leaves):
        raise TypeError(f"`{name}` must hold real numbers; got {describe(step_size)}.")
    if not all(is_concrete(leaf) for leaf in leaves):
        return step_size
    try:
        arr = np.asarray(step_size)
    except (TypeError, ValueError):  # ragged: a pytree of per-leaf steps
        return step_size
    return step_size if arr.dtype == object else arr


def check_step_size(step_size: StepSize, name: str = "step_size") -> None:
    """Reject a step size that is missing, not real, or not positive and finite.

    A list (or nested list) of numbers is an array: ``[1e-2, 1e-2]`` is a
    per-coordinate step, like ``jnp.array([1e-2, 1e-2])``; its shape is checked
    against the position at ``init``.

    A schedule (a callable) is evaluated at count 0, then, vectorised, at the
    counts ``0 .. 100``: it must be JAX-traceable (the count is traced in the
    compiled loop) and give positive finite steps there. A schedule that turns
    bad later is caught in the run, where each such step counts as diverged.

    Examples
    --------
    >>> from jlangevin.kernels._checks import check_step_size
    >>> check_step_size(lambda t: 0.1 - 0.02 * t)                  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: `step_size` (a schedule) gives ... at count 6: ...
    """
    if step_size is None:
        raise ValueError(f"`{name}` is required: a positive scalar, array, pytree or schedule.")
    if not callable(step_size):
        if isinstance(step_size, list):
            step_size = _list_as_array(step_size, name)
        check_real(step_size, name)
        return
    try:
        first = step_size(jnp.asarray(0, jnp.int32))
    except Exception as err:  # a schedule that cannot be evaluated is a user error
        raise ValueError(
            f"`{name}` is callable but could not be evaluated at count 0 "
            f"(a schedule must map an integer step count to a step size): {err}"
        ) from err
    check_real(first, name, at=" at count 0 (a schedule)")
    counts = jnp.arange(SCHEDULE_CHECK_COUNTS, dtype=jnp.int32)
    try:
        values = jax.vmap(step_size)(counts)
    except Exception as err:
        raise ValueError(
            f"`{name}` (a schedule) must be a JAX-traceable function of the step count: the "
            f"count is a traced int32 inside the compiled loop (use jnp.where, not `if`): {err}"
        ) from err
    for leaf in jax.tree.leaves(values):
        arr = np.asarray(leaf).reshape(SCHEDULE_CHECK_COUNTS, -1)
        bad = ~(np.isfinite(arr) & (arr > 0)).all(axis=1)
        if bad.any():
            t = int(np.argmax(bad))
            raise ValueError(
                f"`{name}` (a schedule) gives {arr[t].squeeze()} at count {t}: a step must be "
                "positive and finite at every step (a schedule that turns bad after count "
                f"{SCHEDULE_CHECK_COUNTS - 1} makes those steps count as diverged in the run)."
            )


def check_score_clip(score_clip: Any) -> None:
    """``None`` (no clipping) or positive finite real numbers (scalar, array or pytree)."""
    if score_clip is None:
        return
    if callable(score_clip):
        raise TypeError(f"`score_clip` must be a number or array; got {describe(score_clip)}.")
    check_real(score_clip, "score_clip")


def check_temperature(temperature: Any) -> None:
    """A real, positive, finite scalar (traced values: the shape and dtype only)."""
    if callable(temperature) or np.ndim(temperature) != 0:
        raise ValueError(f"`temperature` must be a scalar; got {describe(temperature)}.")
    check_real(temperature, "temperature")


def float_dtype(tree: ArrayTree) -> Any:
    """The floating dtype the leaves of a position promote to."""
    return jnp.result_type(*jax.tree.leaves(tree))


def _checked_logdensity(logdensity_fn: LogDensityFn) -> LogDensityFn:
    """The same function, checking at trace time that it returns one real float."""

    def logdensity(position: ArrayTree) -> Array:
        value = logdensity_fn(position)
        dtype = jnp.result_type(value)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"`logdensity_fn` must return a real floating-point scalar; it returned dtype "
                f"{dtype} (use e.g. jnp.asarray(value, float); a log density is never complex)."
            )
        if jnp.shape(value) != ():
            raise ValueError(
                "`logdensity_fn` must return a scalar for a single position; it returned shape "
                f"{jnp.shape(value)}. (jl.run vmaps over chains itself: write the density of one.)"
            )
        return jnp.asarray(value, float_dtype(position))

    return logdensity


def check_like_position(score: ArrayTree, position: ArrayTree, name: str = "score_fn") -> None:
    """``score`` must be a pytree shaped like ``position`` with real floating leaves.

    Only shapes and dtypes are read (arrays, tracers or ``jax.ShapeDtypeStruct``).
    """
    if jax.tree.structure(score) != jax.tree.structure(position) or any(
        jnp.shape(s) != jnp.shape(p)
        for s, p in zip(jax.tree.leaves(score), jax.tree.leaves(position), strict=True)
    ):
        raise ValueError(
            f"`{name}` must return a pytree shaped like the position; got "
            f"{jax.tree.map(jnp.shape, score)} for a position shaped "
            f"{jax.tree.map(jnp.shape, position)}."
        )
    for leaf in jax.tree.leaves(score):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"`{name}` must return real floating-point arrays; got dtype {leaf.dtype}."
            )


def check_score_like(score: ArrayTree, position: ArrayTree, name: str = "score_fn") -> ArrayTree:
    """:func:`check_like_position`, then ``score`` in the position's leaf dtypes."""
    score = jax.tree.map(jnp.asarray, score)
    check_like_position(score, position, name)
    return jax.tree.map(lambda s, p: s.astype(jnp.result_type(p)), score, position)


def _checked_score(score_fn: ScoreFn) -> ScoreFn:
    def score(position: ArrayTree) -> ArrayTree:
        return check_score_like(score_fn(position), position)

    return score


def checked_fns(
    logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> tuple[LogDensityFn | None, ScoreFn | None]:
    """The user's functions, checking what they return when traced (free per step).

    The log density must be a real floating-point scalar (returned in the
    position's floating dtype); the score a pytree shaped like the position with
    floating leaves (returned in its dtypes). Errors name the function.
    """
    if logdensity_fn is not None:
        check_callable(logdensity_fn, "logdensity_fn")
        logdensity_fn = _checked_logdensity(logdensity_fn)
    if score_fn is not None:
        check_callable(score_fn, "score_fn")
        score_fn = _checked_score(score_fn)
    return logdensity_fn, score_fn


def checked_value_and_score(
    logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> ValueAndScoreFn:
    """:func:`jlangevin.gradients.value_and_score_fn` of the :func:`checked_fns`."""
    return value_and_score_fn(*checked_fns(logdensity_fn, score_fn))


def _all_finite(tree: ArrayTree) -> bool:
    return all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(tree))


def check_finite_start(position: ArrayTree, value: Array | None, score: ArrayTree) -> None:
    """A concrete start must have a finite position, log density and score."""
    leaves = jax.tree.leaves((position, value, score))
    if not all(is_concrete(leaf) for leaf in leaves):
        return  # traced (under jl.run): the driver refuses non-finite starts by chain
    if not _all_finite(position):
        raise ValueError("The initial `position` holds NaN or infinite values.")
    if value is not None and not np.isfinite(np.asarray(value)):
        raise ValueError(
            f"The log density at the initial `position` is {float(value)}: start every chain "
            "where the log density is finite (inside the support)."
        )
    if not _all_finite(score):
        raise ValueError(
            "The score at the initial `position` is not finite (NaN or infinite): start where "
            "the score (gradient of the log density) is finite."
        )


def checked_init(
    position: ArrayTree, logdensity_fn: LogDensityFn | None, score_fn: ScoreFn | None
) -> tuple[Array | None, ArrayTree]:
    """The log density and score at an initial position, checking what the target returns.

    Raises for a concrete start that is not finite; a traced start (in
    :func:`jlangevin.run`) is refused by the driver's own finiteness check.
    """
    check_position(position)
    value, score = checked_value_and_score(logdensity_fn, score_fn)(position)
    check_finite_start(position, value, score)
    return value, score


__all__ = [
    "SCHEDULE_CHECK_COUNTS",
    "as_int",
    "as_flag",
    "as_positive",
    "as_real",
    "check_callable",
    "check_finite_start",
    "check_like_position",
    "check_real",
    "check_score_clip",
    "check_score_like",
    "check_step_size",
    "check_temperature",
    "checked_fns",
    "checked_init",
    "checked_value_and_score",
    "describe",
    "float_dtype",
]
