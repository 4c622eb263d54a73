"""Starts so far out that the log density's rounding swamps every Metropolis test: moved in first.

A start drawn as Stan and NumPyro draw it (``Uniform(-2, 2)`` on the unconstrained
scale) can sit where ``log p`` is about ``-1e11``, as on a regression of raw
earnings on height. In float32 such a value is known only to about
``|log p| * eps ≈ 1e4`` nats, so the energy error an accept step or a step-size
rule reads is rounding noise: the step size collapses and the chains freeze
(measured on posteriordb's ``earnings-earn_height`` with MAMS). A sampler that
moves a bounded distance per step (an isokinetic one) would also need about
``6e4`` steps to get anywhere near the posterior.

:func:`approach` moves only the chains whose start has a log density rounded
worse than :data:`ROUNDING_MAX` nats, each by its own L-BFGS run (``optax``, with
its zoom line search) that stops as soon as the rounding is below the bar:
far enough for the tests to mean something, not to the mode, so the chains keep
their own starts' spread. Chains whose start is fine are not touched, and a target
in float64 is hardly ever touched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jlangevin.run.cache import MAX_PROGRAMS, ProgramCache, bind_function, split_function
from jlangevin.types import Array, ArrayTree

#: A start is moved in when ``|log p| * eps(dtype)``, the rounding of its log
#: density in nats, exceeds this.
ROUNDING_MAX = 0.01
#: L-BFGS iterations per chain at most.
MAX_ITERATIONS = 200


class Approach(NamedTuple):
    """What :func:`approach` did.

    Attributes
    ----------
    positions : the positions, moved where they needed it (leaves ``(chains, ...)``).
    moved : per chain, whether it was moved.
    num_grads : gradient evaluations in all (iterations and line-search steps).
    reached : per chain, whether its rounding is now below :data:`ROUNDING_MAX`.
    """

    positions: ArrayTree
    moved: np.ndarray
    num_grads: int
    reached: np.ndarray


def rounding(logdensity: Array) -> Array:
    """``|log p| * eps``: how many nats a log density of this size is rounded by.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.start import rounding
    >>> float(rounding(jnp.asarray(-1e11, jnp.float32))) > 1e3
    True
    """
    logdensity = jnp.asarray(logdensity)
    return jnp.abs(logdensity) * jnp.finfo(logdensity.dtype).eps


def needs_approach(logdensity: Array) -> np.ndarray:
    """Per chain: is the start's log density rounded worse than :data:`ROUNDING_MAX`?"""
    return np.asarray(rounding(logdensity) > ROUNDING_MAX)


def approach(
    logdensity_fn: Callable[[ArrayTree], Array],
    positions: ArrayTree,
    logdensity: Array,
    max_iterations: int = MAX_ITERATIONS,
) -> Approach:
    """Move the chains whose start's log density is rounded worse than :data:`ROUNDING_MAX`.

    Each such chain runs L-BFGS on ``-log p`` from its start and stops at the first
    iterate whose rounding is below the bar (or after ``max_iterations``); an
    iterate whose log density is not finite is never taken.

    Parameters
    ----------
    logdensity_fn : one position -> ``log p``.
    positions : leaves ``(chains, ...)``.
    logdensity : ``(chains,)``, ``log p`` at ``positions``.
    max_iterations : L-BFGS iterations per chain at most.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.start import approach
    >>> logp = lambda x: -0.5 * jnp.sum((x - 1e5) ** 2)
    >>> x0 = jnp.zeros((4, 2))
    >>> out = approach(logp, x0, jnp.stack([logp(x) for x in x0]))
    >>> bool(out.moved.all() and out.reached.all())
    True
    """
    moved = needs_approach(logdensity)
    if not moved.any():
        return Approach(positions, moved, 0, ~moved)
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(positions)
    leaves, treedef = jax.tree.flatten(positions)
    one_chain = (treedef, tuple((np.shape(x)[1:], jnp.result_type(x)) for x in leaves))
    template, arrays = split_function(logdensity_fn)
    solve = _compiled_lbfgs(template, one_chain, max_iterations)
    x, grads, reached = solve(arrays, flat, jnp.asarray(moved))
    new = jax.vmap(_unravel(one_chain))(x)
    return Approach(new, moved, int(np.sum(np.asarray(grads))), np.asarray(reached))


def _unravel(one_chain: tuple) -> Callable:
    """``ravel_pytree``'s inverse for one chain's position (tree structure, shapes, dtypes)."""
    treedef, avals = one_chain
    return ravel_pytree(jax.tree.unflatten(treedef, [np.zeros(s, d) for s, d in avals]))[1]


def _lbfgs(template: Any, unravel: Callable, max_iterations: int) -> Callable:
    """Jitted ``(log density's arrays, flat starts, active) -> (x, gradients, reached)``
    (:func:`~jlangevin.run.cache.split_function`: data as arguments, not constants)."""

    @jax.jit
    def solve(arrays: tuple, x: Array, active: Array) -> tuple[Array, Array, Array]:
        logdensity_fn = bind_function(template, arrays)
        return jax.vmap(functools.partial(_one, logdensity_fn, unravel, max_iterations))(x, active)

    return solve


def _one(
    logdensity_fn: Callable, unravel: Callable, max_iterations: int, x: Array, active: Array
) -> tuple[Array, Array, Array]:
    """L-BFGS on ``-log p`` of one chain from ``x`` (nothing moves when not ``active``)."""

    def loss(x: Array) -> Array:
        return -logdensity_fn(unravel(x))

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    def body(carry: tuple, _: None) -> tuple[tuple, None]:
        x, state, done, grads = carry
        value, grad = value_and_grad(x, state=state)
        updates, new_state = solver.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        trial = optax.apply_updates(x, updates)
        trial_value = loss(trial)
        ok = jnp.isfinite(trial_value) & ~done
        x = jnp.where(ok, trial, x)
        state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
        steps = optax.tree_utils.tree_get(new_state, "num_linesearch_steps")
        grads = grads + jnp.where(done, 0, 1 + steps)
        done = done | ~jnp.isfinite(trial_value) | (rounding(-trial_value) <= ROUNDING_MAX)
        return (x, state, done, grads), None

    start = (x, solver.init(x), ~active, jnp.zeros((), jnp.int32))
    x, _, _, grads = jax.lax.scan(body, start, None, length=max_iterations)[0]
    return x, grads, rounding(-loss(x)) <= ROUNDING_MAX


#: The jitted L-BFGS of a log density's template (held weakly; a partial's arrays are
#: arguments), a chain's position structure and an iteration cap: a second warm-up of the
#: same model, or of the same partial over new data of the same shapes, compiles nothing.
_compiled_lbfgs = ProgramCache(
    lambda template, one_chain, iterations: _lbfgs(template, _unravel(one_chain), iterations),
    MAX_PROGRAMS,
)


def describe(result: Approach) -> str | None:
    """A line for the warm-up's notes, or ``None`` when no chain was moved."""
    moved = int(np.sum(result.moved))
    if not moved:
        return None
    missed = int(np.sum(result.moved & ~result.reached))
    line = (
        f"{moved} chain(s) started where log p is rounded by over {ROUNDING_MAX} nats were "
        f"moved in by L-BFGS first ({result.num_grads:,} gradients)"
    )
    if missed:
        line += f"; {missed} did not get there in {MAX_ITERATIONS} iterations"
    return line


__all__ = [
    "MAX_ITERATIONS",
    "ROUNDING_MAX",
    "Approach",
    "approach",
    "describe",
    "needs_approach",
    "rounding",
]
