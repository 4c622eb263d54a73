"""Checks of the plain settings every public function takes (numbers, flags, keys, options).

Each check turns a Python, numpy or 0-d JAX value into a Python value, or
raises a ``TypeError`` (wrong kind) / ``ValueError`` (right kind, bad value)
whose message names the argument, says what was expected and shows what came.
numpy and JAX scalars are numbers; bools are not. This module imports only
jax and numpy, so every other module can use it.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def describe(value: Any) -> str:
    """``float32[3]``-style summary of an array, else the type and a short repr."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{value.dtype}{list(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def is_bool(value: Any) -> bool:
    """A Python/numpy bool or a boolean array (never a number here)."""
    dtype = getattr(value, "dtype", None)
    return isinstance(value, bool | np.bool_) or (dtype is not None and dtype == np.bool_)


def check_concrete(value: Any, name: str) -> None:
    """Settings are static: a value traced under jit/vmap/grad is a ``TypeError``."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"`{name}` must be a concrete value (a static setting), not one traced under "
            "jit/vmap/grad; pass it as a Python, numpy or JAX number."
        )


def _range_text(low: Any, high: Any, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def as_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python ``int`` in ``[minimum, maximum]`` from an int, a numpy integer or a 0-d array.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin._checks import as_int
    >>> as_int(np.int64(5), "batch_size", minimum=1)
    5
    """
    check_concrete(value, name)
    bounds = _range_text(minimum, maximum)
    if is_bool(value) or np.ndim(value) != 0:
        raise TypeError(f"`{name}` must be an integer{bounds}; got {describe(value)}.")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an integer{bounds}; got {describe(value)}.") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"`{name}` must be an integer{bounds}; got {number}.")
    return number


def as_count(value: Any, name: str, minimum: int) -> int:
    """A Python ``int >= minimum`` for ``jl.run``'s counts (steps, thinning, chunks).

    Ints and numpy/JAX integer scalars only; a traced value is a ``TypeError``
    (the driver runs its own compiled loops), a float, even whole, or a bool a
    ``ValueError`` saying so.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin._checks import as_count
    >>> as_count(np.int32(4), "thin", 1)
    4
    """
    expected = f"`{name}` must be an integer >= {minimum}"
    if isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{expected}, known when jl.run is called; got a traced value (jl.run runs its "
            "own compiled loops: call it outside jax.jit / jax.vmap)."
        )
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{expected}; got the bool {value!r}.")
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        if np.ndim(value) != 0:
            raise ValueError(f"{expected}; got an array of shape {np.shape(value)}.")
        if not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(f"{expected}; got {value!r} of dtype {value.dtype}.")
        value = int(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        raise ValueError(f"{expected}; got the non-integer {value!r} (pass int(...) if whole).")
    elif not isinstance(value, numbers.Integral):
        raise TypeError(f"{expected}; got {type(value).__name__} {value!r}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{expected}; got {value}.")
    return value


def as_number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """A real Python ``float`` (from Python, numpy or 0-d JAX) in the given range; NaN never.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._checks import as_number
    >>> as_number(jnp.float32(0.5), "prob", 0.0, 1.0, low_open=True, high_open=True)
    0.5
    """
    check_concrete(value, name)
    bounds = _range_text(low, high, low_open, high_open)
    dtype = getattr(value, "dtype", None)
    real = isinstance(value, numbers.Real) or (
        dtype is not None
        and (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))
    )
    if is_bool(value) or not real or np.ndim(value) != 0:
        raise TypeError(f"`{name}` must be a real number{bounds}; got {describe(value)}.")
    number = float(value)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if math.isnan(number) or (math.isinf(number) and not allow_inf) or below or above:
        finite = "" if allow_inf else "finite "
        raise ValueError(f"`{name}` must be a {finite}number{bounds}; got {number}.")
    return number


def as_real(value: Any, name: str) -> float:
    """A finite Python ``float`` from any real number (Python, numpy, 0-d JAX).

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin._checks import as_real
    >>> as_real(np.int64(2), "gamma")
    2.0
    """
    return as_number(value, name)


def as_positive(value: Any, name: str) -> float:
    """A positive, finite Python ``float`` (see :func:`as_real`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin._checks import as_positive
    >>> as_positive(jnp.float32(0.5), "step_scale")
    0.5
    """
    number = as_real(value, name)
    if number <= 0:
        raise ValueError(f"`{name}` must be positive and finite; got {number}.")
    return number


def as_flag(value: Any, name: str) -> bool:
    """``True``/``False`` (numpy booleans too); anything else is a ``TypeError``."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"`{name}` must be True or False; got {describe(value)}.")
    return bool(value)


def one_of(value: Any, name: str, allowed: Sequence[str]) -> str:
    """One of the ``allowed`` option strings."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {tuple(allowed)}; got {value!r}.")
    return value


def check_key(key: Any, name: str = "key") -> None:
    """A single JAX random key: typed (``jax.random.key``) or legacy uint32 ``(2,)``.

    Only the dtype and shape are looked at, so traced keys are checked too.
    """
    dtype, shape = getattr(key, "dtype", None), getattr(key, "shape", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"`{name}` must be a single key; got a key array of shape {shape}.")
        return
    if dtype != jnp.uint32 or tuple(shape or ()) != (2,):
        raise TypeError(
            f"`{name}` must be a JAX random key (jax.random.key(seed)); got {describe(key)}."
        )


__all__ = [
    "as_count",
    "as_flag",
    "as_int",
    "as_number",
    "as_positive",
    "as_real",
    "check_concrete",
    "check_key",
    "describe",
    "is_bool",
    "one_of",
]
