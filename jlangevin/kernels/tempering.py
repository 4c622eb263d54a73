"""Replica exchange (parallel tempering) over a ladder of inverse temperatures.

One chain of the driver is a whole ladder of ``K`` replicas, replica ``k``
sampling the tempered density ``p(x)^beta_k`` with
``1 = beta_0 > beta_1 > ... > beta_{K-1} > 0``. A step moves every replica by
one step of an exact kernel for its own tempered density (``vmap`` over the
ladder), then attempts swaps between adjacent replicas. Hot replicas cross the
barriers between modes; swaps carry what they found down to ``beta = 1``,
whose draws are the chain's draws (``state.position``). Ladders never talk to
each other: ``jl.run`` vmaps over independent ladders like over any chains.

Swaps follow the deterministic even-odd scheme (Syed et al. 2021): round ``r``
(every ``swap_every``-th step) attempts the pairs ``(i, i + 1)`` with ``i`` of
the parity of ``r``, all at once (they are disjoint), each accepted with
probability::

    min(1, exp((beta_i - beta_{i+1}) * (log p(x_{i+1}) - log p(x_i))))

which leaves the product of the tempered densities invariant; the alternation
makes the index process non-reversible, so a state crosses the ladder in
``O(K)`` rounds rather than ``O(K^2)``. The untempered ``log p`` is read from
the replicas' states (``logdensity / beta``): swaps cost no evaluation.

The within-replica kernel is ``kernel(logdensity_fn, beta) -> Sampler``,
called with the tempered log density ``x -> beta * log p(x)`` (``beta`` traced:
one compiled step serves the whole ladder), e.g.::

    kernel = lambda logp_beta, beta: jl.barker(logp_beta, step_size=0.2 / beta**0.5)

Left out, it is MALA with ``step_size / beta``: the tempered density is wider by
``1 / sqrt(beta)``, and a Langevin step is a variance. The kernel's state must be
a NamedTuple with ``position`` and ``logdensity`` (and, optionally, ``score``)
for the density it was given, as the exact kernels of this package (MALA,
Barker, MALT) have; a swap exchanges those fields between replicas, rescaled to
the new temperature, and leaves the others (the step count) in place. The
kernel must be exact: one of this package's uncorrected kernels (ULA, SGLD,
underdamped Langevin, SGHMC, MCLMC) is refused with a ``ValueError``.

References
----------
C. J. Geyer (1991). Markov chain Monte Carlo maximum likelihood. Computing
Science and Statistics: Proc. 23rd Symposium on the Interface.
S. Syed, A. Bouchard-Côté, G. Deligiannidis and A. Doucet (2021). Non-reversible
parallel tempering: a scalable highly parallel MCMC scheme. JRSS B 84(2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_int, as_number, check_concrete, describe
from jlangevin.kernels import mala
from jlangevin.kernels._checks import check_callable, check_step_size
from jlangevin.kernels._metropolis import metropolis_hastings
from jlangevin.types import Array, ArrayTree, LogDensityFn, PRNGKey, Sampler, StepSize

#: ``kernel(logdensity_fn, beta) -> Sampler``: the exact kernel for one replica.
KernelFn = Callable[[LogDensityFn, Array], Sampler]


class TemperingState(NamedTuple):
    """State of one ladder.

    Attributes
    ----------
    position : the ``beta = 1`` replica's position (the chain's draws).
    logdensity : ``log p`` there.
    ladder : the ``K`` replicas' kernel states stacked on a leading axis
        (replica ``k`` at ``betas[k]``; ``ladder.position`` has leaves ``(K, *event)``).
    count : steps taken.
    """

    position: ArrayTree
    logdensity: Array
    ladder: Any
    count: Array


class TemperingInfo(NamedTuple):
    """What one tempering step reports.

    Attributes
    ----------
    acceptance_rate : the ``beta = 1`` replica's within-replica acceptance
        probability (NaN when the kernel's info has no ``acceptance_rate``).
    diverged : some replica's step diverged (its kernel's ``info.diverged``).
    swap_attempted : ``(K - 1,)``: pair ``(i, i + 1)`` was proposed a swap.
    swapped : ``(K - 1,)``: pair ``(i, i + 1)`` swapped.
    swap_acceptance : ``(K - 1,)``: the swap probability of each attempted pair
        (0 for a pair not attempted); see :func:`swap_rates`.
    replica_info : the kernel's info of every replica, leaves ``(K, ...)``.
    """

    acceptance_rate: Array
    diverged: Array
    swap_attempted: Array
    swapped: Array
    swap_acceptance: Array
    replica_info: Any


# --------------------------------------------------------------------------- #
# The ladder
# --------------------------------------------------------------------------- #
def check_betas(betas: Any) -> np.ndarray:
    """``betas`` as a float64 array: 1-D, ``K >= 2``, ``1 = beta_0 > ... > beta_{K-1} > 0``.

    Examples
    --------
    >>> from jlangevin.kernels.tempering import check_betas
    >>> check_betas([1.0, 0.5, 0.25]).tolist()
    [1.0, 0.5, 0.25]
    """
    check_concrete(betas, "betas")
    if callable(betas) or isinstance(betas, str | bytes | dict):
        raise TypeError(f"`betas` must be a 1-D array of numbers; got {describe(betas)}.")
    try:
        arr = np.asarray(betas)
    except (TypeError, ValueError):
        raise TypeError(f"`betas` must be a 1-D array of numbers; got {describe(betas)}.") from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"`betas` must hold real numbers; got dtype {arr.dtype}.")
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(
            "`betas` must be a 1-D array of at least 2 inverse temperatures (a ladder of one "
            f"is the kernel itself); got shape {arr.shape}."
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`betas` must be positive and finite; got {arr}.")
    if arr[0] != 1.0:
        raise ValueError(f"`betas` must start at exactly 1 (the target itself); got {arr}.")
    if np.any(np.diff(arr) >= 0):
        raise ValueError(f"`betas` must be strictly decreasing; got {arr}.")
    return arr


def geometric_betas(num: int, beta_min: float) -> np.ndarray:
    """``num`` inverse temperatures from 1 down to ``beta_min``, evenly spaced in log.

    Parameters
    ----------
    num : ``K >= 2``, the number of replicas.
    beta_min : the hottest replica's inverse temperature, in ``(0, 1)``.

    Examples
    --------
    >>> from jlangevin.kernels.tempering import geometric_betas
    >>> geometric_betas(3, 0.01).tolist()
    [1.0, 0.1, 0.01]
    """
    num = as_int(num, "num", minimum=2)
    beta_min = as_number(beta_min, "beta_min", 0.0, 1.0, low_open=True, high_open=True)
    return np.power(beta_min, np.arange(num) / (num - 1))  # exactly 1 and beta_min at the ends


def tempered(logdensity_fn: LogDensityFn, beta: Array) -> LogDensityFn:
    """``x -> beta * logdensity_fn(x)`` (``beta`` cast to the log density's dtype)."""

    def logdensity(position: ArrayTree) -> Array:
        value = logdensity_fn(position)
        return jnp.asarray(beta, jnp.result_type(value)) * value

    return logdensity


def _scaled_step(step_size: StepSize, beta: Array) -> StepSize:
    """MALA's step for the density tempered by ``beta``: ``step_size / beta``."""
    if callable(step_size):
        return lambda count: jax.tree.map(lambda h: h / beta, step_size(count))
    return jax.tree.map(lambda h: h / beta, step_size)


def _times_step(step_size: StepSize, scale: Array) -> StepSize:
    """``step_size * scale`` (a rung's own scale, see :func:`sampler`'s ``rung_scales``)."""
    if callable(step_size):
        return lambda count: jax.tree.map(lambda h: h * scale, step_size(count))
    return jax.tree.map(lambda h: h * scale, step_size)


def check_rung_scales(rung_scales: Any, num_rungs: int) -> np.ndarray:
    """``rung_scales`` as a float64 array of ``num_rungs`` positive finite numbers.

    Examples
    --------
    >>> from jlangevin.kernels.tempering import check_rung_scales
    >>> check_rung_scales([1.0, 2.0], 2).tolist()
    [1.0, 2.0]
    """
    check_concrete(rung_scales, "rung_scales")
    if callable(rung_scales) or isinstance(rung_scales, str | bytes | dict):
        raise TypeError(
            f"`rung_scales` must be a 1-D array of numbers; got {describe(rung_scales)}."
        )
    try:
        arr = np.asarray(rung_scales)
    except (TypeError, ValueError):
        raise TypeError(
            f"`rung_scales` must be a 1-D array of numbers; got {describe(rung_scales)}."
        ) from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"`rung_scales` must hold real numbers; got dtype {arr.dtype}.")
    if arr.shape != (num_rungs,):
        raise ValueError(
            f"`rung_scales` must have one scale per rung, shape ({num_rungs},); got {arr.shape}."
        )
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`rung_scales` must be positive and finite; got {arr}.")
    return arr


def replica_sampler(
    logdensity_fn: LogDensityFn,
    beta: Array,
    kernel: KernelFn | None = None,
    step_size: StepSize | None = None,
) -> Sampler:
    """The within-replica sampler at ``beta``: ``kernel(tempered, beta)``, or MALA.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import tempering
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = tempering.replica_sampler(logp, 0.5, step_size=0.1).init(jnp.ones(2))
    >>> float(state.logdensity)
    -0.5
    """
    logdensity_beta = tempered(logdensity_fn, beta)
    if kernel is None:
        return mala.sampler(logdensity_beta, step_size=_scaled_step(step_size, beta))
    built = kernel(logdensity_beta, beta)
    if not (callable(getattr(built, "init", None)) and callable(getattr(built, "step", None))):
        raise TypeError(
            "`kernel` must return a sampler (with `init` and `step`, e.g. "
            f"jl.mala(logdensity_fn, step_size=...)); it returned {describe(built)}."
        )
    return built


def _check_ladder_state(states: Any) -> None:
    """The kernel's state has what a swap needs: ``position``, ``logdensity``, ``_replace``."""
    if not (
        hasattr(states, "position")
        and hasattr(states, "logdensity")
        and callable(getattr(states, "_replace", None))
    ):
        raise TypeError(
            "`kernel`: its sampler's state must be a NamedTuple with `position` and "
            f"`logdensity` fields (as MALA's, Barker's, MALT's); got {type(states).__name__}."
        )
    if jnp.shape(states.logdensity) != (jnp.shape(jax.tree.leaves(states.position)[0])[0],):
        raise TypeError(
            "`kernel`: its state's `logdensity` must be a scalar per replica; got shape "
            f"{jnp.shape(states.logdensity)[1:]}."
        )


def init(
    position: ArrayTree,
    logdensity_fn: LogDensityFn,
    betas: Array,
    *,
    kernel: KernelFn | None = None,
    step_size: StepSize | None = None,
) -> TemperingState:
    """A ladder with every replica at ``position`` (one chain).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import tempering
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = tempering.init(jnp.ones(2), logp, [1.0, 0.5], step_size=0.1)
    >>> state.ladder.position.shape, state.ladder.logdensity.tolist()
    ((2, 2), [-1.0, -0.5])
    """
    betas = jnp.asarray(betas)

    def one(beta: Array) -> Any:
        return replica_sampler(logdensity_fn, beta, kernel, step_size).init(position)

    ladder = jax.vmap(one)(betas)
    _check_ladder_state(ladder)
    top = jax.tree.map(lambda leaf: leaf[0], ladder.position)
    return TemperingState(top, ladder.logdensity[0], ladder, jnp.zeros((), jnp.int32))


# --------------------------------------------------------------------------- #
# Swaps
# --------------------------------------------------------------------------- #
def swap_log_ratio(betas: Array, logdensities: Array) -> Array:
    """``(K - 1,)``: ``log`` of the swap ratio of each adjacent pair ``(i, i + 1)``.

    ``(beta_i - beta_{i+1}) * (log p(x_{i+1}) - log p(x_i))``, with the
    untempered ``log p`` of each replica's current point.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels.tempering import swap_log_ratio
    >>> swap_log_ratio(jnp.array([1.0, 0.5]), jnp.array([-3.0, -1.0])).tolist()
    [1.0]
    """
    return (betas[:-1] - betas[1:]) * (logdensities[1:] - logdensities[:-1])


def swap_pairs(count: Array, num_pairs: int, swap_every: int = 1) -> Array:
    """``(num_pairs,)`` bools: the pairs attempted after step ``count`` (0-based).

    Every ``swap_every``-th step is a swap round; rounds alternate between the
    even pairs ``(0, 1), (2, 3), ...`` and the odd pairs ``(1, 2), (3, 4), ...``.

    Examples
    --------
    >>> from jlangevin.kernels.tempering import swap_pairs
    >>> swap_pairs(0, 3).tolist(), swap_pairs(1, 3).tolist()
    ([True, False, True], [False, True, False])
    """
    done = jnp.asarray(count, jnp.int32) + 1
    is_round = done % swap_every == 0
    parity = (done // swap_every - 1) % 2
    return is_round & (jnp.arange(num_pairs) % 2 == parity)


def _gather(tree: ArrayTree, index: Array) -> ArrayTree:
    return jax.tree.map(lambda leaf: leaf[index], tree)


def swap(ladder: Any, betas: Array, swapped: Array) -> Any:
    """``ladder`` with the positions of each swapped pair exchanged.

    ``logdensity`` and ``score`` (when the state has one) travel with the
    position, rescaled from the temperature they come from to the one they go
    to (``beta_to / beta_from``); replicas not swapped keep their bits.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.kernels import tempering
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> state = tempering.init(jnp.ones(1), logp, [1.0, 0.5], step_size=0.1)
    >>> ladder = state.ladder._replace(position=jnp.array([[1.0], [2.0]]))
    >>> tempering.swap(ladder, jnp.array([1.0, 0.5]), jnp.array([True])).position.tolist()
    [[2.0], [1.0]]
    """
    up = jnp.concatenate([swapped, jnp.zeros((1,), bool)])  # k takes k + 1's point
    down = jnp.concatenate([jnp.zeros((1,), bool), swapped])  # k takes k - 1's point
    source = jnp.arange(up.size) + up.astype(jnp.int32) - down.astype(jnp.int32)
    moved = up | down
    betas = jnp.asarray(betas, jnp.result_type(ladder.logdensity))
    ratio = betas / betas[source]

    def select(new: Array, old: Array) -> Array:
        return jnp.where(moved.reshape((-1,) + (1,) * (old.ndim - 1)), new, old)

    def rescaled(tree: ArrayTree) -> ArrayTree:
        def one(leaf: Array) -> Array:
            scale = ratio.reshape((-1,) + (1,) * (leaf.ndim - 1)).astype(leaf.dtype)
            return select(leaf[source] * scale, leaf)

        return jax.tree.map(one, tree)

    fields = {
        "position": jax.tree.map(select, _gather(ladder.position, source), ladder.position),
        "logdensity": rescaled(ladder.logdensity),
    }
    if hasattr(ladder, "score"):
        fields["score"] = rescaled(ladder.score)
    return ladder._replace(**fields)


def _swap_round(
    key: PRNGKey, ladder: Any, betas: Array, count: Array, swap_every: int
) -> tuple[Any, Array, Array, Array]:
    """Attempt this round's pairs: ``(ladder, attempted, swapped, acceptance)``."""
    value = ladder.logdensity
    betas = jnp.asarray(betas, value.dtype)
    num_pairs = betas.shape[0] - 1
    attempted = swap_pairs(count, num_pairs, swap_every)
    log_alpha = swap_log_ratio(betas, value / betas)
    log_alpha = jnp.where(attempted, log_alpha, -jnp.inf)
    log_u = jnp.log1p(-jax.random.uniform(key, (num_pairs,), value.dtype))
    _, acceptance = metropolis_hastings(log_u, log_alpha, None, None)
    return swap(ladder, betas, acceptance.is_accepted), attempted, *acceptance


# --------------------------------------------------------------------------- #
# The step
# --------------------------------------------------------------------------- #
def _field(info: Any, name: str, default: Any) -> Any:
    value = info.get(name) if isinstance(info, dict) else getattr(info, name, None)
    return default if value is None else value


def step(
    key: PRNGKey,
    state: TemperingState,
    logdensity_fn: LogDensityFn,
    betas: Array,
    *,
    kernel: KernelFn | None = None,
    step_size: StepSize | None = None,
    swap_every: int = 1,
    rung_scales: Array | None = None,
) -> tuple[TemperingState, TemperingInfo]:
    """One step of every replica, then a swap round.

    Parameters
    ----------
    key : a fresh key for this chain and step (split: one key per replica, one for swaps).
    state : current state.
    logdensity_fn : the untempered ``position -> log p``.
    betas : ``(K,)`` inverse temperatures, ``1 = beta_0 > ... > beta_{K-1} > 0``.
    kernel : ``kernel(logdensity_fn, beta) -> Sampler``; ``None``: MALA with
        ``step_size / beta``.
    step_size : MALA's step at ``beta = 1`` (only without ``kernel``).
    swap_every : attempt swaps after every ``swap_every``-th step.
    rung_scales : ``(K,)`` or ``None``: replica ``k``'s MALA step is
        ``step_size * rung_scales[k]`` instead of ``step_size / betas[k]``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import tempering
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> betas = [1.0, 0.3, 0.1]
    >>> state = tempering.init(jnp.zeros(2), logp, betas, step_size=0.5)
    >>> step = jax.jit(lambda key, s: tempering.step(key, s, logp, betas, step_size=0.5))
    >>> state, info = step(jax.random.key(0), state)
    >>> info.swapped.shape, state.ladder.position.shape
    ((2,), (3, 2))
    """
    if rung_scales is None:

        def one(key: PRNGKey, replica: Any, beta: Array, _: Any) -> tuple[Any, Any]:
            return replica_sampler(logdensity_fn, beta, kernel, step_size).step(key, replica)

    else:

        def one(key: PRNGKey, replica: Any, beta: Array, scale: Array) -> tuple[Any, Any]:
            logdensity_beta = tempered(logdensity_fn, beta)
            step = _times_step(step_size, scale)
            return mala.sampler(logdensity_beta, step_size=step).step(key, replica)

        rung_scales = jnp.asarray(rung_scales, jnp.result_type(state.logdensity))
    return ladder_step(key, state, betas, one, rung_scales, swap_every)


def ladder_step(
    key: PRNGKey,
    state: TemperingState,
    betas: Array,
    replica_step: Callable[[PRNGKey, Any, Array, Any], tuple[Any, Any]],
    rung_args: Any = None,
    swap_every: int = 1,
) -> tuple[TemperingState, TemperingInfo]:
    """One move of every replica by ``replica_step``, then a swap round (:func:`step`'s core).

    ``replica_step(key, replica, beta, args) -> (replica, info)`` is ``vmap``-ed
    over the ladder with ``rung_args`` (a pytree with a leading ``(K,)`` axis, or
    ``None``): a warm-up passes each rung's traced step size there.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.kernels import mala, tempering
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> def move(key, replica, beta, h):
    ...     return mala.step(key, replica, tempering.tempered(logp, beta), h)
    >>> state = tempering.init(jnp.zeros(2), logp, [1.0, 0.5], step_size=0.1)
    >>> state, info = tempering.ladder_step(
    ...     jax.random.key(0), state, jnp.array([1.0, 0.5]), move, jnp.array([0.1, 0.2]))
    >>> info.replica_info.acceptance_rate.shape
    (2,)
    """
    betas = jnp.asarray(betas, jnp.result_type(state.logdensity))
    num = betas.shape[0]
    key_moves, key_swap = jax.random.split(key)
    keys = jax.random.split(key_moves, num)
    ladder, replica_info = jax.vmap(replica_step)(keys, state.ladder, betas, rung_args)
    ladder, attempted, swapped, acceptance = _swap_round(
        key_swap, ladder, betas, state.count, swap_every
    )
    top = jax.tree.map(lambda leaf: leaf[0], ladder.position)
    nan = jnp.full((num,), jnp.nan, betas.dtype)
    info = TemperingInfo(
        acceptance_rate=jnp.asarray(_field(replica_info, "acceptance_rate", nan))[0],
        diverged=jnp.any(jnp.asarray(_field(replica_info, "diverged", False))),
        swap_attempted=attempted,
        swapped=swapped,
        swap_acceptance=jnp.where(attempted, acceptance, 0.0),
        replica_info=replica_info,
    )
    return TemperingState(top, ladder.logdensity[0], ladder, state.count + 1), info


def _check_kernel(kernel: Any) -> None:
    """A callable; not a bare constructor (``jl.mala`` would take beta for its step)."""
    check_callable(kernel, "kernel")
    module = getattr(kernel, "__module__", None) or ""
    if getattr(kernel, "__name__", None) == "sampler" and module.startswith("jlangevin.kernels."):
        raise TypeError(
            "`kernel` must be a function (logdensity_fn, beta) -> Sampler, e.g. lambda f, beta: "
            f"jl.mala(f, step_size=0.1 / beta); got the constructor {module}.sampler itself, "
            "which would take beta for its step size."
        )


def _step_module(built: Sampler) -> str:
    """The module that defines ``built.step`` (through ``functools.partial`` wrappers)."""
    step = built.step
    while isinstance(step, functools.partial):
        step = step.func
    return getattr(step, "__module__", None) or ""


def _check_exact(built: Sampler) -> None:
    """Refuse a replica sampler recognised as one of this package's uncorrected kernels.

    A kernel of ``jlangevin.kernels`` is exact when it is registered in
    :data:`jlangevin.kernels.EXACT_KERNELS` (tempering itself is exact over an
    exact kernel); any other kernel of the package (ULA, SGLD, underdamped
    Langevin, SGHMC, MCLMC) samples a biased law, and swaps between biased
    replicas would not leave the tempered product invariant. A kernel from
    outside the package cannot be recognised and is taken as exact.
    """
    from jlangevin.kernels import EXACT_KERNELS  # here: that package imports this module

    module = _step_module(built)
    prefix = "jlangevin.kernels."
    if not module.startswith(prefix):
        return
    name = module[len(prefix) :]
    if name.startswith("_") or name in EXACT_KERNELS or name == "tempering":
        return
    raise ValueError(
        "`kernel` must build an exact (Metropolis-corrected) kernel for each replica: "
        "swaps leave the tempered densities invariant only when every replica samples its "
        f"own exactly; got a sampler of jlangevin.kernels.{name}, which is not corrected "
        f"(its draws are biased by the step). Use one of {sorted(EXACT_KERNELS)}, e.g. "
        "kernel=lambda f, beta: jl.mala(f, step_size=0.1 / beta)."
    )


def sampler(
    logdensity_fn: LogDensityFn,
    betas: Any,
    step_size: StepSize | None = None,
    *,
    kernel: KernelFn | None = None,
    swap_every: int = 1,
    rung_scales: Any = None,
) -> Sampler:
    """Parallel tempering bound to a target: one chain of ``jl.run`` is one ladder.

    Parameters
    ----------
    logdensity_fn : the untempered ``position -> log p`` (up to a constant).
    betas : ``(K,)`` inverse temperatures, ``K >= 2``, starting at exactly 1 and
        strictly decreasing to a positive value (:func:`geometric_betas`).
    step_size : without ``kernel``: MALA's step at ``beta = 1`` (scalar,
        per-coordinate array/pytree or schedule); replica ``k`` uses
        ``step_size / betas[k]``.
    kernel : ``kernel(logdensity_fn, beta) -> Sampler``, the exact kernel of one
        replica, called with its tempered log density (``beta`` is traced, so
        use ``jnp`` on it); its state needs ``position`` and ``logdensity``
        fields (see the module docstring). Pass ``step_size`` inside it. A
        kernel of this package that is not exact (not in
        :data:`jlangevin.kernels.EXACT_KERNELS`: ``jl.ula``, ``jl.sgld``,
        ``jl.underdamped``, ``jl.sghmc``, ``jl.mclmc``) is refused with a
        ``ValueError``; a kernel from elsewhere cannot be recognised and is
        trusted to be exact.
    swap_every : attempt swaps after every ``swap_every``-th step (an int >= 1).
    rung_scales : without ``kernel`` only: ``(K,)`` positive numbers, replica
        ``k``'s step is ``step_size * rung_scales[k]`` rather than
        ``step_size / betas[k]`` (a warm-up's per-rung steps; ``step_size`` is
        then the shared per-coordinate part, a metric).

    ``jl.run(key, sampler, positions, n)`` takes positions ``(chains, *event)``
    and starts every replica of a ladder at its chain's point; the draws are the
    ``beta = 1`` replica's, and the whole ladder is in ``trace.final_state.ladder``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.kernels import tempering
    >>> target = jl.targets.gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [0.5, 0.5])
    >>> pt = tempering.sampler(target.logdensity, tempering.geometric_betas(4, 0.05), 0.1)
    >>> trace = jl.run(jax.random.key(0), pt, jnp.zeros((2, 1)), 100)
    >>> trace.positions.shape, trace.info.swapped.shape
    ((2, 100, 1), (2, 100, 3))
    """
    check_callable(logdensity_fn, "logdensity_fn")
    betas = check_betas(betas)
    if kernel is None:
        check_step_size(step_size)
    else:
        _check_kernel(kernel)
        if step_size is not None:
            raise ValueError(
                "`step_size` is MALA's (the default kernel's); with `kernel`, set the step "
                f"inside it; got step_size={describe(step_size)} and a kernel."
            )
        # it builds a sampler (checked there) of an exact kernel
        _check_exact(replica_sampler(logdensity_fn, 1.0, kernel))
    swap_every = as_int(swap_every, "swap_every", minimum=1)
    settings = {"betas": betas, "kernel": kernel, "step_size": step_size}
    extra = {}
    if rung_scales is not None:
        if kernel is not None:
            raise ValueError(
                "`rung_scales` scales MALA's (the default kernel's) step; with `kernel`, set "
                "each rung's step inside it."
            )
        extra["rung_scales"] = check_rung_scales(rung_scales, betas.size)
    return Sampler(
        init=functools.partial(init, logdensity_fn=logdensity_fn, **settings),
        step=functools.partial(
            step, logdensity_fn=logdensity_fn, swap_every=swap_every, **settings, **extra
        ),
    )


def swap_rates(info: TemperingInfo) -> np.ndarray:
    """``(K - 1,)``: the mean swap probability of each pair over the steps it was attempted.

    ``info`` is a trace's (leaves ``(chains, draws, K - 1)``) or any stack of
    :class:`TemperingInfo`; a pair never attempted gives NaN. A rate near 0
    marks a gap in the ladder (add a rung there); Syed et al. suggest spacing
    the rungs for equal rates.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.kernels.tempering import TemperingInfo, swap_rates
    >>> info = TemperingInfo(0.5, False, np.array([[True], [False]]), np.array([[True], [False]]),
    ...                      np.array([[0.8], [0.0]]), ())
    >>> swap_rates(info).tolist()
    [0.8]
    """
    attempted = np.asarray(info.swap_attempted).reshape(-1, np.shape(info.swap_attempted)[-1])
    acceptance = np.asarray(info.swap_acceptance, np.float64).reshape(attempted.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return acceptance.sum(axis=0) / attempted.sum(axis=0)


__all__ = [
    "KernelFn",
    "TemperingInfo",
    "TemperingState",
    "check_betas",
    "check_rung_scales",
    "geometric_betas",
    "init",
    "ladder_step",
    "replica_sampler",
    "sampler",
    "step",
    "swap",
    "swap_log_ratio",
    "swap_pairs",
    "swap_rates",
    "tempered",
]
