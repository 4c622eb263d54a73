"""Type aliases shared across jlangevin.

Positions are arbitrary pytrees of floating-point arrays (a single array, a
dict of arrays, a NamedTuple of parameters, ...). These aliases document intent
in signatures; they are not enforced at runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias

import jax

Array: TypeAlias = jax.Array
#: Any pytree whose leaves are arrays (the position of a chain, a score, ...).
ArrayTree: TypeAlias = Any
#: A JAX random key: typed (``jax.random.key``) or legacy uint32 (``PRNGKey``).
PRNGKey: TypeAlias = jax.Array
#: ``position -> scalar`` log density, up to an additive constant.
LogDensityFn: TypeAlias = Callable[[ArrayTree], Array]
#: ``position -> pytree like position``: the score ``grad log p``.
ScoreFn: TypeAlias = Callable[[ArrayTree], ArrayTree]
#: ``count -> step size``: a schedule (any optax schedule qualifies).
Schedule: TypeAlias = Callable[[Array], Any]
#: A scalar, an array or pytree broadcasting against the position (one step
#: per coordinate), or a schedule returning either.
StepSize: TypeAlias = float | Array | ArrayTree | Schedule
#: ``(low, high)`` bounds of a box support, scalars or arrays broadcasting
#: against each leaf of the position.
Bounds: TypeAlias = tuple[Any, Any]


class Sampler(NamedTuple):
    """A kernel as two pure functions of one chain: the whole contract :func:`jlangevin.run` needs.

    - ``init(position) -> state``: the state of one chain at ``position`` (any
      pytree), a NamedTuple (or any pytree) with a ``position`` field; states
      that also carry ``count`` (the steps the chain has taken) resume
      anywhere, see below.
    - ``step(key, state) -> (state, info)``: one step, pure; ``key`` is fresh
      for this chain and this step, and the kernel draws every random number
      it needs from it with ``jax.random``. ``info`` is any pytree of per-step
      values; when it has a ``diverged`` field (or key) the driver counts it,
      and needs nothing else.

    The driver gives step ``t`` of chain ``c`` a key made from the run key,
    ``c`` and ``t`` alone (:mod:`jlangevin.keys`), so chunked, resumed and sharded runs
    draw the same numbers as one uninterrupted run.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from typing import NamedTuple
    >>> import jlangevin as jl
    >>> class State(NamedTuple):
    ...     position: jax.Array
    >>> def step(key, state):  # AR(1): x' = 0.5 x + sqrt(0.75) xi, stationary N(0, 1)
    ...     xi = jax.random.normal(key, state.position.shape)
    ...     return State(0.5 * state.position + 0.75**0.5 * xi), {}
    >>> ar1 = jl.Sampler(init=State, step=step)
    >>> trace = jl.run(jax.random.key(0), ar1, jnp.zeros((4, 1)), 100)
    >>> trace.positions.shape
    (4, 100, 1)
    """

    init: Callable[[ArrayTree], Any]
    step: Callable[[PRNGKey, Any], tuple[Any, Any]]


class MetricRoot(NamedTuple):
    """A root ``R`` of a preconditioner ``M = R Rᵀ`` over the raveled position.

    ``M`` stands for the target's covariance: a kernel run with it sees the
    whitened position ``z = R⁻¹ x``. Exactly one form is set:

    - diagonal: ``scale``, the ``(d,)`` standard deviations (``R = diag(scale)``);
    - dense: ``lower``, a ``(d, d)`` lower-triangular ``R``, with ``inverse = R⁻¹``
      (made once per metric, so no step solves a triangular system);
    - low rank plus diagonal: ``scale`` with ``basis``, a ``(d, k)`` orthonormal ``U``,
      and ``factors``, the ``(k,)`` positive ``f``:
      ``R = diag(scale) (I + U diag(f - 1) Uᵀ)``, so
      ``M = diag(scale) (I + U diag(f² - 1) Uᵀ) diag(scale)`` (``f²`` are the
      variances along ``U`` of the position whitened by ``scale``; ``f = 1`` adds
      nothing). ``R``, ``Rᵀ`` and ``R⁻¹ = (I + U diag(1/f - 1) Uᵀ) diag(1/scale)``
      apply in ``O(d k)``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.types import MetricRoot
    >>> MetricRoot(scale=jnp.ones(3)).is_dense
    False
    >>> MetricRoot(scale=jnp.ones(3), basis=jnp.eye(3)[:, :1], factors=jnp.ones(1)).is_low_rank
    True
    """

    scale: Array | None = None
    lower: Array | None = None
    inverse: Array | None = None
    basis: Array | None = None
    factors: Array | None = None

    @property
    def is_dense(self) -> bool:
        """Whether this is the dense form (``lower``/``inverse``)."""
        return self.lower is not None

    @property
    def is_low_rank(self) -> bool:
        """Whether this is the low rank plus diagonal form (``scale``/``basis``/``factors``)."""
        return self.basis is not None


class TuningParams(NamedTuple):
    """The values a warm-up adapts, in a kernel-agnostic form (one step's settings).

    Attributes
    ----------
    step_size : ``ε``, a positive scalar: the step of the whitened position.
    metric : the :class:`MetricRoot` in use.
    trajectory_length : ``T``, the trajectory time (kernels that tune "trajectory").
    num_integration_steps : the integration steps this step runs, an integer
        scalar (traced inside a warm-up, where it changes from step to step).
    """

    step_size: Array
    metric: MetricRoot
    trajectory_length: Array
    num_integration_steps: Array


class Tuning(NamedTuple):
    """What an exact kernel lets a warm-up adapt, and how to use what it adapted.

    A kernel module declares one beside its ``init``/``step`` (``jl.kernels.mala.tuning``);
    :func:`jlangevin.adaptation.warmup` reads it and nothing else, so a kernel written
    anywhere becomes tunable by declaring one.

    Attributes
    ----------
    name : the kernel's name, for reports.
    init : ``(position, logdensity_fn, *, score_fn, bounds) -> state``; the state has
        ``position``, ``logdensity``, ``score`` and ``count`` fields.
    step : ``(key, state, logdensity_fn, params, *, score_fn, bounds) -> (state, info, end)``
        with ``params`` a :class:`TuningParams` whose fields may be traced. ``info``
        has ``acceptance_rate`` and ``diverged``; ``end`` is ``None``, or for a
        trajectory kernel the proposal's end: a pytree with ``position`` (like the
        state's) and ``momentum``, the velocity of the whitened position ``R⁻¹ x``
        there (ChEES differentiates through it).
    sampler : ``(logdensity_fn, params, *, position, score_fn, bounds) -> Sampler`` for
        ``jl.run``, from concrete adapted ``params`` (``num_integration_steps`` a Python
        int); ``position`` is one chain's position (to unravel a per-coordinate metric).
    target_acceptance : the mean acceptance probability the step size aims at.
    tunes : what may be adapted: ``"step_size"``, ``"metric"`` and, for kernels whose
        step runs a trajectory of ``num_integration_steps``, ``"trajectory"``.
    metrics_with_bounds : the metric forms (``"diagonal"``, ``"dense"``) the kernel
        can run inside a box (``bounds``).
    trajectory_rules : the rules that may set its trajectory, the first the default:
        ``"chees"`` needs the step's ``end``; ``"meads"`` (the chains' largest scale)
        needs nothing from the kernel.
    metrics : the metric forms the kernel can run: ``"diagonal"``, ``"dense"`` and
        ``"low_rank"`` (a :class:`MetricRoot` with ``basis``/``factors``).

    Examples
    --------
    >>> import jlangevin as jl
    >>> jl.kernels.malt.tuning.tunes
    ('step_size', 'metric', 'trajectory')
    """

    name: str
    init: Callable[..., Any]
    step: Callable[..., tuple[Any, Any, Any]]
    sampler: Callable[..., Sampler]
    target_acceptance: float
    tunes: tuple[str, ...] = ("step_size", "metric")
    metrics_with_bounds: tuple[str, ...] = ("diagonal", "dense")
    trajectory_rules: tuple[str, ...] = ("chees", "meads")
    metrics: tuple[str, ...] = ("diagonal", "dense")


__all__ = [
    "Array",
    "ArrayTree",
    "Bounds",
    "LogDensityFn",
    "MetricRoot",
    "PRNGKey",
    "Sampler",
    "Schedule",
    "ScoreFn",
    "StepSize",
    "Tuning",
    "TuningParams",
]
