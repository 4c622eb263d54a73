"""One warm-up for every exact kernel: step size, metric and trajectory, across all chains.

:func:`warmup` reads a kernel's :class:`~jlangevin.types.Tuning` declaration and
adapts what it declares, across all chains at once (``vmap``), in Stan's windows
(:mod:`~jlangevin.adaptation.windows`):

- the step ``ε`` by pooled dual averaging toward the kernel's target acceptance
  (:mod:`~jlangevin.adaptation.dual_averaging`), at most :data:`EARLY_TARGET`
  before the first metric (see there);
- the metric ``M = R Rᵀ`` (diagonal, dense, low rank plus diagonal, or chosen
  from the chains) at the end of each slow window (:mod:`~jlangevin.adaptation.metric`);
- the trajectory time ``T`` by ChEES, MEADS or the chains' effective sample size
  (:mod:`~jlangevin.adaptation.trajectory`);
- chain health at every window end, bad chains restarted from healthy ones
  (:mod:`~jlangevin.adaptation.health`).

The kernel sees only :class:`~jlangevin.types.TuningParams`; nothing here names
a kernel. Each window is one compiled loop (its bounds are traced, so every
window of a warm-up, and every warm-up of the same model and settings, runs the
same program); the few decisions between windows are made on the host.

Keys are those of :func:`jlangevin.run`: chain ``c`` holds ``fold_in(key, c)``
and draws step ``t`` from it and its step count ``t``. The returned state has
``count = num_steps``, so ``jl.run`` with the same key continues with fresh numbers.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_flag, as_int, as_positive, check_key, describe
from jlangevin.adaptation import dual_averaging as da_
from jlangevin.adaptation import health as health_
from jlangevin.adaptation import metric as metric_
from jlangevin.adaptation import start as start_
from jlangevin.adaptation import trajectory as traj_
from jlangevin.adaptation.windows import segments as make_segments
from jlangevin.adaptation.windows import window_schedule
from jlangevin.gradients import check_position
from jlangevin.kernels import EXACT_KERNELS, UNADJUSTED_KERNELS
from jlangevin.kernels._bounds import check_bounds, check_inside
from jlangevin.kernels._checks import check_finite_start
from jlangevin.keys import step_keys
from jlangevin.run import SamplingWarning, chain_keys_for
from jlangevin.run.cache import MAX_PROGRAMS, ProgramCache, bind_function, split_function
from jlangevin.types import (
    Array,
    ArrayTree,
    Bounds,
    LogDensityFn,
    MetricRoot,
    PRNGKey,
    Sampler,
    ScoreFn,
    Tuning,
    TuningParams,
)

#: The most the step aims at before the first metric. There the chains are still
#: finding the posterior, and the pooled mean acceptance is capped below a high
#: target at every step size by the chains far out: float32 holds a log density
#: of ``-1e6`` to about a tenth of a nat, and an energy error made of rounding
#: does not shrink with ``ε``. A target the chains cannot reach drives dual
#: averaging's ``log ε`` down without end (restarts resume from its average), the
#: chains stop where they are and the first metric is measured on them. A kernel
#: aiming higher (MAMS, 0.9) aims at this value until the first metric, its own
#: target after; at or below it (MALA, Barker, MALT) nothing changes.
EARLY_TARGET = 0.65


class WarmupInfo(NamedTuple):
    """What :func:`warmup` found and how it got there. ``print(info)`` gives a short report.

    Attributes
    ----------
    kernel : the kernel's name (from its declaration).
    target_acceptance : the mean acceptance aimed at.
    step_size : the adapted scalar ``ε``.
    metric_kind : ``"diagonal"``, ``"dense"`` or ``"low_rank"``; ``metric_reason`` says
        why (for ``preconditioner="auto"``: the dimension or the chains' correlation).
    preconditioner : ``M`` over the raveled position: variances ``(d,)`` or ``(d, d)``;
        for ``"low_rank"`` the diagonal of ``M``, ``(d,)`` (its pieces are in
        ``metric_root``; ``jl.adaptation.metric.matrix(root, dense=True)`` forms ``M``).
    cholesky : the dense lower root ``R`` of ``M``, else ``None``.
    metric_root : the :class:`~jlangevin.types.MetricRoot` the sampler runs.
    correlation_condition : the condition number of the chains' correlation matrix
        in the first slow window (``"auto"`` with dense statistics), else ``None``.
    acceptance_rate : ``(num_steps,)`` mean acceptance over chains per step.
    step_size_trace : ``(num_steps,)`` the ``ε`` used at each step.
    diverged : ``(chains,)`` diverged proposals per chain.
    windows : the slow windows ``(start, end)``; ``segments``: every stretch.
    window_acceptance_rate : ``(segments, chains)`` each chain's mean acceptance per stretch.
    chain_acceptance_rate : ``(chains,)`` each chain's mean acceptance overall.
    check_steps : the steps (end excluded) at which chains were checked.
    restarted : ``(chains,)`` restarts per chain.
    num_restarted : restarts over all chains and checks; by reason: ``num_stuck``,
        ``num_low`` (far below the others' log density), ``num_high`` (far above:
        collapsed into a spike), ``num_scale`` (spread far off the others');
        ``num_outliers = num_low + num_high + num_scale``.
    num_stuck_at_end : chains that did not move in the final window (restarted).
    num_restarted_at_start : the restarts before the first metric (at the ends of the
        initial fast window and of the first slow window): chains that had not found
        the posterior from their starts on the unit metric, an ordinary part of a
        warm-up from rough starts on a badly scaled target (reported, not warned about).
    trajectory : the trajectory rule (``"chees"``/``"meads"``/``"ess"``), else ``None``.
    trajectory_length : the sampler's ``T`` (``None`` without a trajectory).
    num_integration_steps : the sampler's ``L`` (``None`` without a trajectory).
    trajectory_capped : the rule wanted longer trajectories than
        ``max_integration_steps`` allows.
    trajectory_length_trace : ``(num_steps,)`` ``T`` at each step (trajectory kernels).
    integration_steps_trace : ``(num_steps,)`` the steps each trajectory ran (1 otherwise).
    num_grads : gradient evaluations of the warm-up over all chains (with the approach).
    notes : what the warm-up warned about, one line each.
    num_approached : chains whose start's log density was rounded by more than
        :data:`~jlangevin.adaptation.start.ROUNDING_MAX` nats, moved in by L-BFGS before
        the first step (:mod:`jlangevin.adaptation.start`).
    """

    kernel: str
    target_acceptance: float
    step_size: Array
    metric_kind: str
    metric_reason: str
    preconditioner: Array
    cholesky: Array | None
    metric_root: MetricRoot
    correlation_condition: float | None
    acceptance_rate: Array
    step_size_trace: Array
    diverged: Array
    windows: tuple[tuple[int, int], ...]
    segments: tuple[tuple[int, int], ...]
    window_acceptance_rate: Array
    chain_acceptance_rate: Array
    check_steps: tuple[int, ...]
    restarted: Array
    num_restarted: int
    num_stuck: int
    num_low: int
    num_high: int
    num_scale: int
    num_stuck_at_end: int
    num_restarted_at_start: int
    trajectory: str | None
    trajectory_length: float | None
    num_integration_steps: int | None
    trajectory_capped: bool
    trajectory_length_trace: Array
    integration_steps_trace: Array
    num_grads: int
    notes: tuple[str, ...]
    num_approached: int = 0

    @property
    def num_outliers(self) -> int:
        """Restarts for a log density or spread far from the others'."""
        return self.num_low + self.num_high + self.num_scale

    def __str__(self) -> str:
        chains = int(self.diverged.shape[0])
        steps = int(self.acceptance_rate.shape[0])
        tail = max(1, steps // 10)
        recent = float(np.mean(np.asarray(self.acceptance_rate[-tail:])))
        lines = [
            f"warm-up of {self.kernel}: {chains} chains x {steps} steps, "
            f"{self.num_grads:,} gradients",
            f"  step size {float(self.step_size):.3g}; acceptance {recent:.2f} "
            f"over the last {tail} steps (target {self.target_acceptance:.2f})",
            f"  metric {self.metric_kind} ({self.metric_reason})",
        ]
        if self.trajectory is not None:
            capped = " (capped by max_integration_steps)" if self.trajectory_capped else ""
            lines.append(
                f"  trajectory {self.trajectory}: T = {self.trajectory_length:.3g}, "
                f"L = {self.num_integration_steps} steps{capped}"
            )
        if self.num_approached:
            lines.append(
                f"  {self.num_approached} chain(s) moved in by L-BFGS from starts where log p "
                f"is rounded by over {start_.ROUNDING_MAX} nats"
            )
        if self.num_restarted:
            early = self.num_restarted_at_start
            when = f" ({early} before the first metric)" if early else ""
            lines.append(
                f"  restarted {self.num_restarted} chain(s){when}: {_restart_reasons(self)}"
            )
        divs = int(np.sum(np.asarray(self.diverged)))
        if divs:
            lines.append(f"  {divs} diverged proposal(s)")
        return "\n".join(lines)


def _restart_reasons(info: WarmupInfo) -> str:
    parts = [
        (info.num_stuck, "stuck"),
        (info.num_low, "far below the others' log density"),
        (info.num_high, "far above the others' log density (collapsed)"),
        (info.num_scale, "spread far from the others'"),
    ]
    text = ", ".join(f"{n} {why}" for n, why in parts if n)
    if info.num_stuck_at_end:
        text += f"; {info.num_stuck_at_end} of them had not moved in the final window"
    return text


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #
def resolve_kernel(kernel: Any) -> Tuning:
    """The :class:`~jlangevin.types.Tuning` of ``kernel``: a declaration, a name in
    :data:`jlangevin.kernels.EXACT_KERNELS` or ``UNADJUSTED_KERNELS``, or anything with
    a ``tuning`` attribute (``jl.malt``, the module ``jl.kernels.malt``).

    Examples
    --------
    >>> import jlangevin as jl
    >>> from jlangevin.adaptation import resolve_kernel
    >>> resolve_kernel(jl.malt).name, resolve_kernel("mala").name
    ('malt', 'mala')
    """
    if isinstance(kernel, Tuning):
        return kernel
    if isinstance(kernel, str):
        named = {**EXACT_KERNELS, **UNADJUSTED_KERNELS}
        if kernel in named:
            return named[kernel]
        raise ValueError(f"`kernel` must be one of {tuple(named)}; got {kernel!r}.")
    tuning = getattr(kernel, "tuning", None)
    if isinstance(tuning, Tuning):
        return tuning
    raise TypeError(
        "`kernel` must be a tunable kernel: a name in "
        f"{tuple(EXACT_KERNELS)}, a constructor such as jl.malt, or a jl.Tuning "
        f"declaration; got {describe(kernel)}."
    )


class _Layout(NamedTuple):
    """One chain's position as a hashable key: the tree and its leaves' shapes and dtypes."""

    tree: Any
    leaves: tuple[tuple[tuple[int, ...], Any], ...]


class _Settings(NamedTuple):
    """Everything static about one window's program: the key of the compiled-loop cache."""

    tuning: Tuning
    logdensity_fn: LogDensityFn
    score_fn: Any
    bounds: Any
    layout: _Layout
    dtype: Any
    target: float
    dense: bool  # the root's form
    full_stats: bool  # the draws' full covariance
    score_stats: bool  # the scores' covariance (geometric-mean dense estimate)
    rule: str | None  # "chees", "meads", "ess" or None (no trajectory)
    max_integration_steps: int
    buffer_steps: int = 0  # the last draws kept for a low-rank estimate (0: none)
    early_target: float | None = None  # the target before the first metric (None: ``target``)


def _flat(tree: ArrayTree) -> Array:
    return jax.vmap(lambda p: ravel_pytree(p)[0])(tree)


def _build_window(s: _Settings):
    """Jitted ``(keys, states, dual averaging, ChEES, root, T, start, end, collect, traces)``.

    Steps ``start .. end - 1`` of all chains: the kernel's declared step with the
    current ``TuningParams``, dual averaging on the mean acceptance, ChEES on
    ``log T`` (``rule="chees"``), the window's sums when ``collect``, the
    per-step traces, and the distance the chains travelled (the ESS rule's ``δ``).
    """
    dtype = s.dtype

    @jax.jit
    def window(
        arrays, chain_keys, states, da, chees, root, length, start, end, collect, traces, free
    ):
        # The target and its score from their templates (split_function): data as arguments.
        logdensity_fn, score_fn = _bind_target((s.logdensity_fn, s.score_fn), arrays)
        step = functools.partial(s.tuning.step, score_fn=score_fn, bounds=s.bounds)
        step_all = jax.vmap(
            lambda key, state, params: step(key, state, logdensity_fn, params), (0, 0, None)
        )
        num_chains = chain_keys.shape[0]
        eps_start = jnp.exp(da.log_step_avg)
        log_cap = jnp.log(s.max_integration_steps * eps_start)

        def body(i, carry):
            states, da, chees, stats, accept_sum, diverged, capped, grads, moved, traces = carry
            eps = jnp.exp(da.log_step)
            if s.rule == "chees":  # one-step trajectories until ``free``
                length_now = jnp.where(free, jnp.exp(chees.log_length), eps)
                num_l = traj_.jittered_steps(i, length_now, eps, True, s.max_integration_steps)
            elif s.rule == "meads":
                length_now = jnp.where(free, length, eps)
                num_l = traj_.jittered_steps(i, length_now, eps, False, s.max_integration_steps)
            elif s.rule == "ess":  # jittered around T / ε, as a jittering sampler runs it
                length_now = jnp.where(free, length, eps)
                num_l = traj_.jittered_steps(i, 2 * length_now, eps, True, s.max_integration_steps)
            else:
                length_now, num_l = jnp.ones((), dtype), jnp.ones((), jnp.int32)
            params = TuningParams(eps, root, length_now.astype(dtype), num_l)
            keys = step_keys(chain_keys, states.count)
            new, infos, end_point = step_all(keys, states, params)
            chain_accept = jnp.asarray(infos.acceptance_rate, dtype)
            if s.rule == "chees":
                z = metric_.whiten(_flat(states.position), root)
                z_new = metric_.whiten(_flat(end_point.position), root)
                velocity = _flat(end_point.momentum)
                grad = traj_.chees_gradient(z, z_new, velocity, chain_accept, num_l * eps)
                updated = traj_.chees_update(chees, grad, jnp.log(eps_start), log_cap)
                chees = jax.tree.map(lambda a, b: jnp.where(free, a, b), updated, chees)
                capped = capped + (free & (chees.log_length >= log_cap - 1e-3)).astype(jnp.int32)
            elif s.rule in ("meads", "ess"):
                wanted = jnp.ceil(length / eps)
                capped = capped + (free & (wanted > s.max_integration_steps)).astype(jnp.int32)
            mean_accept = jnp.mean(chain_accept)
            updated = da_.dual_averaging_update(da, mean_accept, s.target)
            if s.early_target is not None:  # a lower target until the first metric
                early = da_.dual_averaging_update(da, mean_accept, s.early_target)
                updated = jax.tree.map(lambda a, b: jnp.where(free, a, b), updated, early)
            da = updated
            stats = jax.lax.cond(
                collect,
                lambda st: metric_.stats_update(st, _flat(new.position), _flat(new.score), root),
                lambda st: st,
                stats,
            )
            diverged = diverged + jnp.asarray(infos.diverged, jnp.int32)
            # Kernels that report their gradients are counted exactly; else L per chain.
            spent = getattr(infos, "num_grads", None)
            spent = num_l * num_chains if spent is None else jnp.sum(spent)
            grads = grads + jnp.asarray(spent, jnp.int32)
            # The distance travelled: ε per integration step the kernel reports (one if none).
            ran = getattr(infos, "num_integration_steps", None)
            ran = jnp.ones((), dtype) if ran is None else jnp.mean(jnp.asarray(ran, dtype))
            moved = moved + eps * ran
            accept_trace, eps_trace, length_trace, steps_trace = traces
            traces = (
                accept_trace.at[i].set(jnp.mean(chain_accept)),
                eps_trace.at[i].set(eps),
                length_trace.at[i].set(length_now.astype(dtype)),
                steps_trace.at[i].set(num_l),
            )
            carry = (new, da, chees, stats, accept_sum + chain_accept, diverged, capped, grads)
            return (*carry, moved, traces)

        dim = root.lower.shape[0] if root.is_dense else root.scale.shape[0]
        stats = metric_.stats_init(
            num_chains, dim, dtype, s.full_stats, s.score_stats, s.buffer_steps
        )
        zeros = jnp.zeros((num_chains,), dtype)
        carry = (
            states,
            da,
            chees,
            stats,
            zeros,
            jnp.zeros((num_chains,), jnp.int32),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), dtype),
            traces,
        )
        return jax.lax.fori_loop(start, end, body, carry)

    return window


#: Compiled window loops, one per settings (so a second warm-up compiles nothing); the
#: settings' functions held weakly (:mod:`jlangevin.run.cache`): an entry goes with its
#: target, and with it the data the target closes over.
cached_window = ProgramCache(_build_window, MAX_PROGRAMS)


def _split_target(logdensity_fn: Any, score_fn: Any) -> tuple[tuple, tuple]:
    """The target's and the score's templates and arrays (:func:`split_function`): the
    templates key a compiled program, the arrays are its arguments."""
    (logdensity_t, logdensity_arrays), (score_t, score_arrays) = map(
        split_function, (logdensity_fn, score_fn)
    )
    return (logdensity_t, score_t), (logdensity_arrays, score_arrays)


def _bind_target(templates: tuple, arrays: tuple) -> tuple:
    """``(logdensity_fn, score_fn)`` again, inside a compiled program."""
    return tuple(bind_function(t, a) for t, a in zip(templates, arrays, strict=True))


def _window_fn(settings: _Settings):
    """The compiled window of ``settings``, its target's and score's arrays bound."""
    (logdensity_t, score_t), arrays = _split_target(settings.logdensity_fn, settings.score_fn)
    window = cached_window(settings._replace(logdensity_fn=logdensity_t, score_fn=score_t))
    return functools.partial(window, arrays)


@functools.partial(jax.jit, static_argnames=("dense", "shrinkage"))
def _end_window(stats, root, healthy, *, dense, shrinkage):
    return metric_.update_root(stats, root, healthy, dense, shrinkage)


@functools.partial(jax.jit, static_argnames=("shrinkage",))
def _condition(stats, healthy, *, shrinkage):
    return metric_.correlation_condition(metric_.window_estimate(stats, healthy, shrinkage))


@jax.jit
def _judge_chains(
    accept_sum: Array,
    length: int,
    logdensity: Array,
    count: Array,
    chain_within: Array,
    slow: bool,
) -> tuple[Array, health_.Health, Array]:
    """One program for every window end: ``(acceptance, health, bad)``.

    The chains' mean acceptance over the window's ``length`` steps, the verdicts of
    :func:`~jlangevin.adaptation.health.chain_health` (the spread, from the window's
    ``count`` and ``chain_within`` sums, judged in a ``slow`` window only), and the
    bad chains (none when none is healthy).
    """
    accept = accept_sum / length
    spread = metric_.chain_spread(metric_.ChainSums(count, None, None, chain_within))
    health = health_.chain_health(accept, logdensity, spread)
    health = health._replace(scale=health.scale & slow)
    return accept, health, health.bad & (jnp.sum(~health.bad) > 0)


@jax.jit
def _restart_key(key: PRNGKey) -> PRNGKey:
    """The key of the restarts: no chain uses it (theirs are ``fold_in(key, c)``)."""
    typed = key if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(key)
    return jax.random.split(typed)[1]


@jax.jit
def _restart(restart_key: PRNGKey, end: int, states: Any, bad: Array) -> Any:
    """The states with each ``bad`` chain restarted from ``fold_in(restart_key, end - 1)``."""
    return health_.restart_chains(jax.random.fold_in(restart_key, end - 1), states, bad)


def _acceptance_rates(
    window_accept: list[Array], segments: Any, num_steps: int
) -> tuple[Array, Array]:
    """``(segments, chains)`` each stretch's acceptance; ``(chains,)`` the overall mean.

    Stacked, weighted and summed on the host (numpy's products and sums round as
    XLA's do, where one program could fuse a product and a sum into one rounding);
    divided by XLA (whose division differs from numpy's in the last bit).
    """
    rates = [np.asarray(w) for w in window_accept]
    total = sum(w * (s.end - s.start) for w, s in zip(rates, segments, strict=True))
    return jax.device_put(np.stack(rates)), jax.device_put(total) / num_steps


def _num_chains(tree: Any) -> int:
    leaves = jax.tree.leaves(tree)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError(
            "`positions` needs a leading chain axis on every leaf (chains, *event); "
            "for one chain use x[None]."
        )
    sizes = {jnp.shape(leaf)[0] for leaf in leaves}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            "Every leaf of `positions` needs the same, non-zero leading chain axis; got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    return sizes.pop()


def _is_state(value: Any) -> bool:
    return isinstance(value, tuple) and all(
        hasattr(value, f) for f in ("position", "logdensity", "score", "count")
    )


def _first_chain(tree: Any) -> Any:
    """Chain 0 of every leaf: on the host for concrete leaves (no program to compile)."""

    def first(x: Any) -> Any:
        return x[0] if isinstance(x, jax.core.Tracer) else np.asarray(x)[0]

    return jax.tree.map(first, tree)


def _build_init(tuning: Tuning, logdensity_t: Any, score_t: Any, bounds: Any):
    """The jitted batched ``init`` of the kernel: ``(arrays, positions) -> states``, the
    arrays those of the target's and the score's templates (:func:`split_function`)."""

    @jax.jit
    def init(arrays: tuple, positions: Any) -> Any:
        logdensity_fn, score_fn = _bind_target((logdensity_t, score_t), arrays)
        init_one = functools.partial(tuning.init, score_fn=score_fn, bounds=bounds)
        return jax.vmap(lambda p: init_one(p, logdensity_fn))(positions)

    return init


#: Compiled batched inits, one per kernel and target template (a second warm-up, or one of
#: the same partial over new data of the same shapes, compiles nothing); functions held
#: weakly (:mod:`jlangevin.run.cache`): an entry goes with its target.
cached_init = ProgramCache(_build_init, MAX_PROGRAMS)


def _init_fn(tuning: Tuning, logdensity_fn: LogDensityFn, score_fn: Any, bounds: Any):
    (logdensity_t, score_t), arrays = _split_target(logdensity_fn, score_fn)
    return functools.partial(cached_init(tuning, logdensity_t, score_t, bounds), arrays)


def initial_states(
    tuning: Tuning,
    positions: Any,
    logdensity_fn: LogDensityFn,
    score_fn: ScoreFn | None,
    bounds: Bounds | None,
) -> Any:
    """Batched states of the kernel at ``positions`` (or a batched state passed through).

    The positions are checked as :func:`jlangevin.run` checks them; a log density
    that is not finite at some start is a ``ValueError`` naming the chains.
    """
    if _is_state(positions):
        check_position(positions.position, "positions")
        return positions
    leaves = jax.tree.leaves(positions)
    if isinstance(positions, list | tuple) and leaves and all(np.ndim(x) == 0 for x in leaves):
        positions = jnp.asarray(positions)  # a nested list of numbers is one array
    check_position(positions, "positions")
    _num_chains(positions)
    for leaf in jax.tree.leaves(positions):
        if not isinstance(leaf, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError("`positions` holds non-finite (NaN or inf) values.")
    first = _first_chain(positions)
    check_inside(first, bounds)
    # Shape and dtype errors are raised while tracing; chain 0's values are then
    # checked as its own ``init`` checks a concrete start, without running it eagerly.
    states = _init_fn(tuning, logdensity_fn, score_fn, bounds)(positions)
    check_finite_start(first, _first_chain(states.logdensity), _first_chain(states.score))
    bad = np.flatnonzero(~np.isfinite(np.asarray(states.logdensity)))
    if bad.size:
        raise ValueError(
            f"The log density is not finite at the initial positions of {bad.size} chains "
            f"(first: {bad[:5].tolist()}); start inside the support."
        )
    return states


def _check_options(
    tuning: Tuning,
    preconditioner: Any,
    trajectory: Any,
    max_integration_steps: Any,
    bounds: Any,
) -> tuple[str, str | None, int]:
    if not isinstance(preconditioner, str) or preconditioner not in metric_.PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {metric_.PRECONDITIONERS}; got {preconditioner!r}."
        )
    if preconditioner != "diagonal" and "metric" not in tuning.tunes:
        if preconditioner in ("dense", "low_rank"):
            raise ValueError(
                f"`preconditioner`: the {tuning.name} kernel does not tune a metric "
                f"(its declaration tunes {tuning.tunes}); got {preconditioner!r}."
            )
        preconditioner = "diagonal"
    if preconditioner == "low_rank" and "low_rank" not in tuning.metrics:
        raise ValueError(
            f"`preconditioner`: the {tuning.name} kernel runs the metrics {tuning.metrics} "
            "(its declaration's `metrics`); got 'low_rank'."
        )
    if bounds is not None and "dense" not in tuning.metrics_with_bounds:
        if preconditioner == "dense":
            raise ValueError(
                f"`preconditioner='dense'` cannot be combined with `bounds` for {tuning.name} "
                f"(inside a box it runs {tuning.metrics_with_bounds} metrics only)."
            )
        preconditioner = "diagonal" if preconditioner == "auto" else preconditioner
    if (
        bounds is not None
        and preconditioner == "low_rank"
        and "low_rank" not in tuning.metrics_with_bounds
    ):
        raise ValueError(
            f"`preconditioner='low_rank'` cannot be combined with `bounds` for {tuning.name} "
            f"(inside a box it runs {tuning.metrics_with_bounds} metrics only)."
        )
    has_trajectory = "trajectory" in tuning.tunes
    if not has_trajectory:
        for name, value in (
            ("trajectory", trajectory),
            ("max_integration_steps", max_integration_steps),
        ):
            if value is not None:
                raise ValueError(
                    f"`{name}` applies to kernels that tune a trajectory; {tuning.name} "
                    f"declares {tuning.tunes}. Got {name}={value!r}."
                )
        return preconditioner, None, 1
    rule = traj_.check_trajectory(tuning.trajectory_rules[0] if trajectory is None else trajectory)
    if rule not in tuning.trajectory_rules:
        raise ValueError(
            f"`trajectory`: {tuning.name} declares the rules {tuning.trajectory_rules}; "
            f"got {rule!r}."
        )
    max_steps = as_int(
        traj_.MAX_INTEGRATION_STEPS if max_integration_steps is None else max_integration_steps,
        "max_integration_steps",
        minimum=1,
    )
    return preconditioner, rule, max_steps


# --------------------------------------------------------------------------- #
# The warm-up
# --------------------------------------------------------------------------- #
def warmup(
    key: PRNGKey,
    kernel: Any,
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int = 1000,
    *,
    target_acceptance: float | None = None,
    preconditioner: str = "auto",
    trajectory: str | None = None,
    max_integration_steps: int | None = None,
    initial_step_size: float = 1.0,
    shrinkage: float = 0.01,
    restart_chains: bool = True,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
) -> tuple[Sampler, Any, WarmupInfo]:
    """Adapt an exact kernel's step size, metric and trajectory across all chains at once.

    Parameters
    ----------
    key : a JAX random key; chain ``c`` draws what ``jl.run`` with this key would.
    kernel : what to tune: ``jl.mala``, ``jl.barker``, ``jl.malt`` (or their names
        ``"mala"``, ...), or any :class:`~jlangevin.types.Tuning` declaration.
    logdensity_fn : ``position -> log p`` of one position (any pytree).
    positions : initial positions with a leading chain axis (``(chains, *event)``
        leaves), or a batched state of the kernel (an earlier warm-up's).
    num_steps : warm-up steps, at least 20 (default 1000).
    target_acceptance : the mean acceptance aimed at, in ``(0, 1)``; default the
        kernel's (MALA and Barker 0.574, MALT 0.65, MAMS 0.9). Before the first
        metric the step aims at no more than :data:`EARLY_TARGET` (0.65).
    preconditioner : ``"auto"`` (default: dense at small dimension or when the
        chains' correlation matrix in the first slow window is ill-conditioned,
        else diagonal; above ``metric.DENSE_MAX_DIM`` dimensions low rank plus
        diagonal where the kernel runs it (``tuning.metrics``), else diagonal;
        ``info.metric_reason`` says which and why), ``"diagonal"``, ``"dense"``, or
        ``"low_rank"``: ``M = D^½ (I + U diag(λ - 1) Uᵀ) D^½``, the variances ``D`` and
        the ``k`` (``metric.LOW_RANK_RANK``) directions ``U`` of the diagonally
        whitened draws and scores whose variances ``λ`` lie farthest from 1 (as
        Nutpie's low-rank mass matrix); ``O(d k)`` memory and products per step.
    trajectory : for kernels that tune a trajectory: ``"chees"``, ``"meads"`` or
        ``"ess"`` (see :mod:`jlangevin.adaptation.trajectory`); default the first of
        the kernel's ``tuning.trajectory_rules``.
    max_integration_steps : the cap on a trajectory's steps (default 64).
    initial_step_size : ``ε`` to start dual averaging from (with ``M = I``).
    shrinkage : ``λ`` in ``[0, 1]``, how far dense estimates are shrunk toward
        their diagonals in each window.
    restart_chains : judge the chains at every window end and restart the bad
        ones from healthy chains (see :mod:`jlangevin.adaptation.health`).
    score_fn, bounds : as in the kernels (an exact score; a box support).

    Returns
    -------
    sampler : the kernel's sampler bound with the adapted settings, for ``jl.run``.
    state : the chains' batched states after warm-up (``count = num_steps``).
    info : :class:`WarmupInfo` (``print(info)`` for a short report).

    Notes
    -----
    One :class:`~jlangevin.SamplingWarning` says, once and plainly, what the
    warm-up hit: chains restarted (and why), chains that had not moved by its
    end, a trajectory capped by ``max_integration_steps``. Every bad argument is
    a ``ValueError``/``TypeError`` naming it, before anything is compiled.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * jnp.sum((x / jnp.array([0.1, 10.0])) ** 2)
    >>> sampler, state, info = jl.adaptation.warmup(
    ...     jax.random.key(0), jl.mala, logp, jnp.ones((8, 2)), 300)
    >>> trace = jl.run(jax.random.key(0), sampler, state, 200)
    >>> info.kernel, info.metric_kind
    ('mala', 'dense')
    """
    check_key(key)
    tuning = resolve_kernel(kernel)
    if not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p`; "
            f"got {type(logdensity_fn).__name__}."
        )
    if score_fn is not None and not callable(score_fn):
        raise TypeError(f"`score_fn` must be callable or None; got {type(score_fn).__name__}.")
    check_bounds(bounds)
    asked = preconditioner
    preconditioner, rule, max_steps = _check_options(
        tuning, preconditioner, trajectory, max_integration_steps, bounds
    )
    target = da_.check_target_acceptance(
        tuning.target_acceptance if target_acceptance is None else target_acceptance
    )
    initial_step_size = as_positive(initial_step_size, "initial_step_size")
    shrinkage = metric_.check_shrinkage(shrinkage)
    restart = as_flag(restart_chains, "restart_chains")
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")

    states = initial_states(tuning, positions, logdensity_fn, score_fn, bounds)
    approached = None
    if bounds is None and states.logdensity is not None and not _is_state(positions):
        # Starts whose log density float rounding swamps the accept tests: moved in first.
        approached = start_.approach(logdensity_fn, states.position, states.logdensity)
        if approached.moved.any():
            states = initial_states(tuning, approached.positions, logdensity_fn, score_fn, bounds)
    num_chains = _num_chains(states.position)
    chain_keys = chain_keys_for(key, num_chains)
    restart_key = _restart_key(key)

    one_position = jax.tree.map(lambda x: x[0], states.position)
    flat = jax.eval_shape(lambda p: ravel_pytree(p)[0], one_position)  # no program
    dim, dtype = flat.size, flat.dtype
    layout = _Layout(
        jax.tree.structure(one_position),
        tuple((np.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(one_position)),
    )
    kind, reason = _initial_kind(preconditioner, dim, tuning)
    if asked == "auto" and preconditioner == "diagonal":
        where = "inside a box (bounds)" if bounds is not None else "(it tunes no metric)"
        reason = f"auto: {tuning.name} runs only a diagonal metric {where}"
    rank = metric_.low_rank_dim(dim) if kind == "low_rank" else 0
    root = metric_.unit_root(dim, dtype, kind == "dense", rank=rank)
    buffer_steps = metric_.low_rank_steps(num_chains, rank) if rank else 0
    da = da_.dual_averaging_init(np.asarray(initial_step_size, dtype))
    # Trajectories start one step long: before the first metric, long ones are waste
    # (dual averaging shrinks ε while T stays, so L = T / ε would run to the cap).
    chees = traj_.chees_init(np.asarray(initial_step_size, dtype))
    length = np.asarray(initial_step_size, dtype)
    condition = None

    # Host-side glue is numpy (the window programs take numpy arguments as they are):
    # an eager jax.numpy op would compile a program of its own.
    traces = (
        np.zeros((num_steps,), dtype),
        np.zeros((num_steps,), dtype),
        np.zeros((num_steps,), dtype),
        np.zeros((num_steps,), np.int32),
    )
    window_accept, checks = [], []
    diverged = np.zeros((num_chains,), np.int32)
    restarted = np.zeros(num_chains, np.int64)
    counts = {"stuck": 0, "low": 0, "high": 0, "scale": 0}
    stuck_at_end = restarted_at_start = 0
    num_grads = 0 if approached is None else approached.num_grads
    capped_final = 0
    segments = make_segments(num_steps, windows)
    for seg in segments:
        undecided = kind == "auto"
        settings = _Settings(
            tuning,
            logdensity_fn,
            score_fn,
            bounds,
            layout,
            dtype,
            target,
            root.is_dense,
            full_stats=kind == "dense"
            or undecided
            or (rule is not None and kind != "low_rank" and dim <= metric_.DENSE_MAX_DIM),
            score_stats=kind == "dense" or undecided,
            rule=rule,
            max_integration_steps=max_steps,
            buffer_steps=buffer_steps,
            early_target=EARLY_TARGET if target > EARLY_TARGET else None,
        )
        run_window = _window_fn(settings)
        # The trajectory rule starts with the first metric: before it, in the raw
        # coordinates, ε is set by the narrowest scale and T by the widest, so ChEES'
        # trajectories would be long and cost more than the exploration they buy.
        states, da, chees, stats, accept_sum, div, capped, grads, moved, traces = run_window(
            chain_keys,
            states,
            da,
            chees,
            root,
            length,
            seg.start,
            seg.end,
            seg.slow,
            traces,
            seg.start >= windows[0][1],
        )
        diverged = diverged + np.asarray(div)
        num_grads += int(grads)
        last = seg.end == num_steps
        if last:
            capped_final = int(capped)
        bad = np.zeros((num_chains,), bool)
        if not restart:
            window_accept.append(accept_sum / (seg.end - seg.start))
        else:
            checks.append(seg.end)
            chain_accept, health, bad = _judge_chains(
                accept_sum,
                seg.end - seg.start,
                states.logdensity,
                stats.draws.count,
                stats.draws.chain_within,
                seg.slow,
            )
            window_accept.append(chain_accept)
            health, bad = jax.device_get((health, bad))
            if bool(np.any(bad)):
                states = _restart(restart_key, seg.end, states, bad)
                restarted += bad
                for name in counts:
                    counts[name] += int(np.sum(bad & getattr(health, name)))
                if last:
                    stuck_at_end = int(np.sum(bad & health.stuck))
                if seg.end <= windows[0][1]:  # before the first metric
                    restarted_at_start += int(np.sum(bad))
        if last:
            break
        if seg.slow:
            if undecided:
                condition = float(_condition(stats, ~bad, shrinkage=shrinkage))
                kind, reason = _decide_kind(condition)
                if kind == "dense":
                    root = metric_.as_dense(root)
            new_root, lam = _end_window(
                stats, root, ~bad, dense=kind == "dense", shrinkage=shrinkage
            )
            if "metric" in tuning.tunes:  # else M = I throughout, as the kernel declared
                root = new_root
            sigma = np.sqrt(np.maximum(np.asarray(lam), 1e-12)).astype(dtype)
            if rule == "chees":  # a new time scale: climb again from MEADS' T = σ_max
                chees = traj_.chees_init(sigma)
            elif rule == "meads" or (rule == "ess" and seg.end <= windows[0][1]):
                length = sigma  # the ESS rule starts from MEADS' T at the first metric
            elif rule == "ess":  # τ measured with the T and metric of this window
                tau = traj_.steps_per_effective_sample(
                    stats.draws.means, stats.draws.within, stats.draws.count, ~bad
                )
                length = traj_.ess_length(length, tau, moved / (seg.end - seg.start))
        if seg.slow or bool(np.any(bad)):
            da = da_.restart(da)

    window_rates, chain_rates = _acceptance_rates(window_accept, segments, num_steps)
    step_size = jnp.exp(da.log_step_avg)
    eps = float(step_size)
    factor = root.lower if root.is_dense else root.scale
    if not np.isfinite(eps) or eps <= 0 or not np.all(np.isfinite(np.asarray(factor))):
        raise ValueError(
            f"warm-up of {tuning.name} failed: the adapted step size ({eps}) or metric is not "
            "positive and finite. Try a smaller `initial_step_size`, more warm-up steps, "
            "starting points nearer the posterior, or float64."
        )
    total_length, num_l, capped_rule = 1.0, 1, False
    if rule is not None:
        final = float(jnp.exp(chees.log_length_avg)) if rule == "chees" else float(length)
        total_length, num_l, capped_rule = traj_.sampler_steps(rule, final, eps, max_steps)
    final_len = num_steps - segments[-1].start
    trajectory_capped = rule is not None and (capped_rule or capped_final > 0.1 * final_len)
    params = TuningParams(step_size, root, jnp.asarray(total_length, dtype), num_l)
    sampler = tuning.sampler(
        logdensity_fn, params, position=one_position, score_fn=score_fn, bounds=bounds
    )
    info = WarmupInfo(
        kernel=tuning.name,
        target_acceptance=target,
        step_size=step_size,
        metric_kind=kind,
        metric_reason=reason,
        preconditioner=metric_.matrix(root),
        cholesky=root.lower if root.is_dense else None,
        metric_root=root,
        correlation_condition=condition,
        acceptance_rate=traces[0],
        step_size_trace=traces[1],
        diverged=jax.device_put(diverged),
        windows=windows,
        segments=tuple((s.start, s.end) for s in segments),
        window_acceptance_rate=window_rates,
        chain_acceptance_rate=chain_rates,
        check_steps=tuple(checks),
        restarted=jax.device_put(restarted.astype(np.int32)),
        num_restarted=sum(counts.values()),
        num_stuck=counts["stuck"],
        num_low=counts["low"],
        num_high=counts["high"],
        num_scale=counts["scale"],
        num_stuck_at_end=stuck_at_end,
        num_restarted_at_start=restarted_at_start,
        trajectory=rule,
        trajectory_length=total_length if rule is not None else None,
        num_integration_steps=num_l if rule is not None else None,
        trajectory_capped=bool(trajectory_capped),
        trajectory_length_trace=traces[2],
        integration_steps_trace=traces[3],
        num_grads=num_grads,
        notes=(),
        num_approached=0 if approached is None else int(np.sum(approached.moved)),
    )
    notes = _notes(info, max_steps)
    if notes:
        warnings.warn(
            f"warm-up of {tuning.name}: " + " ".join(notes), SamplingWarning, stacklevel=2
        )
    return sampler, states, info._replace(notes=tuple(notes))


def _initial_kind(preconditioner: str, dim: int, tuning: Tuning) -> tuple[str, str]:
    """The metric's form before any window, and why (``"auto"``: still undecided)."""
    if preconditioner != "auto":
        return preconditioner, "as asked"
    if dim <= metric_.DENSE_SMALL_DIM:
        return "dense", f"auto: dimension {dim} <= {metric_.DENSE_SMALL_DIM}"
    if dim > metric_.DENSE_MAX_DIM:
        if "low_rank" in tuning.metrics:
            return "low_rank", (
                f"auto: dimension {dim} > {metric_.DENSE_MAX_DIM}, low rank plus diagonal"
            )
        return "diagonal", f"auto: dimension {dim} > {metric_.DENSE_MAX_DIM}"
    return "auto", ""


def _decide_kind(condition: float) -> tuple[str, str]:
    """``"auto"`` above the small dimensions: dense when the chains are strongly correlated."""
    if not math.isfinite(condition) or condition >= metric_.DENSE_MIN_CONDITION:
        return "dense", (
            f"auto: the chains' correlation matrix has condition number {condition:.3g} "
            f">= {metric_.DENSE_MIN_CONDITION:g}"
        )
    return "diagonal", (
        f"auto: the chains' correlation matrix has condition number {condition:.3g} "
        f"< {metric_.DENSE_MIN_CONDITION:g}"
    )


def _notes(info: WarmupInfo, max_steps: int) -> list[str]:
    """What the warm-up hit, in plain words (empty when nothing)."""
    chains = int(info.diverged.shape[0])
    notes = []
    if info.num_restarted > info.num_restarted_at_start:
        notes.append(
            f"restarted {info.num_restarted} chain(s) of {chains} from healthy ones "
            f"({_restart_reasons(info)}), {info.num_restarted - info.num_restarted_at_start} "
            "after the first metric; `info.restarted` says which. Restarts there mean "
            "chains stuck, collapsed or wandering apart: a multimodal or badly scaled target."
        )
    if info.trajectory_capped:
        notes.append(
            f"the {info.trajectory} rule wanted trajectories longer than "
            f"max_integration_steps={max_steps} steps of size {float(info.step_size):.3g}: the "
            "posterior is strongly correlated or badly scaled for this metric; try "
            "preconditioner='dense', a larger max_integration_steps, or a reparameterisation."
        )
    return notes


__all__ = ["EARLY_TARGET", "WarmupInfo", "initial_states", "resolve_kernel", "warmup"]
