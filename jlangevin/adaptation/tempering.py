"""Warm-up for replica exchange: per-rung step sizes, a metric and the ladder itself.

:func:`tempering_warmup` adapts, across all ladders (chains) at once, for any exact
kernel that declares a :class:`~jlangevin.types.Tuning` (``"mala"``, ``"barker"``,
or a kernel written anywhere):

- each rung's step ``ε_k`` by dual averaging toward the kernel's target
  acceptance, on the mean acceptance of rung ``k`` over chains (the rungs'
  densities differ in width, so one scalar per rung);
- a diagonal metric ``v`` (variances) from the ``beta = 1`` replicas of all
  chains, widened by ``1 / beta`` per rung: rung ``k`` runs the kernel's declared
  step with :func:`rung_params`, the step ``ε_k`` and the metric
  ``M_k = v / beta_k`` (MALA's step ``h = ε_k v / beta_k``, Barker's scale
  ``σ = ε_k sqrt(v / beta_k)``), so ``ε_k`` is the same number on every rung of a
  Gaussian;
- the ladder, by Syed et al. (2021, Algorithm 4; :mod:`~jlangevin.adaptation.ladder`):
  from the swap rejection rates of the adjacent pairs, pooled over chains and the
  steps of a round (the Rao-Blackwellised ``1 - min(1, ratio)``), the rungs move
  to split the interpolated communication barrier into equal parts.
  ``beta_0 = 1``, ``beta_{K-1} = beta_min`` and ``K`` stay.

The steps follow Stan's windows (:func:`~jlangevin.adaptation.windows.window_schedule`):
an initial fast window tunes the step sizes on the initial (geometric) ladder;
each slow window, of doubling length, is one round of Algorithm 4 (and of the
metric); the final fast window tunes the step sizes for the final ladder and
metric, and its swap rates give the reported barrier. One compiled loop runs
every window (the ladder, the steps and the window bounds are its arguments),
so rounds reuse the program; a new ladder size compiles once more.

The ladder ends at ``beta_min > 0``, not at a proper reference at ``beta = 0`` as
in the paper: the untempered target's flat limit is no distribution, and its hot
rungs spread as ``1 / sqrt(beta)``.

Kernels whose declaration tunes a trajectory (MALT) are refused: their friction
and step count are tied to a trajectory time that would need its own rule on
every tempered density, and a fixed one would silently run untuned rungs.

References
----------
S. Syed, A. Bouchard-Côté, G. Deligiannidis and A. Doucet (2021). Non-reversible
parallel tempering: a scalable highly parallel MCMC scheme. JRSS B 84(2).
M. D. Hoffman and A. Gelman (2014). The No-U-Turn sampler. JMLR 15 (dual averaging).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_flag, as_int, as_number, as_positive, check_key, describe
from jlangevin.adaptation import dual_averaging as da_
from jlangevin.adaptation import ladder as ladder_
from jlangevin.adaptation import metric as metric_
from jlangevin.adaptation.warmup import resolve_kernel
from jlangevin.adaptation.windows import segments as make_segments
from jlangevin.adaptation.windows import window_schedule
from jlangevin.gradients import check_position
from jlangevin.kernels import tempering
from jlangevin.keys import step_keys
from jlangevin.run import chain_keys_for
from jlangevin.types import (
    Array,
    ArrayTree,
    LogDensityFn,
    MetricRoot,
    PRNGKey,
    Sampler,
    Tuning,
    TuningParams,
)

#: The kernel every rung runs unless the caller names another.
DEFAULT_KERNEL = "mala"
#: ``"diagonal"``: the ``beta = 1`` variances, ``1 / beta`` per rung; ``"identity"``: ``v = 1``.
PRECONDITIONERS = ("diagonal", "identity")


class TemperingWarmupInfo(NamedTuple):
    """What :func:`tempering_warmup` found and how it got there.

    Attributes
    ----------
    kernel : the name of the rungs' kernel (from its declaration).
    target_acceptance : the acceptance every rung aimed at.
    betas : ``(K,)`` the adapted ladder (float64), ``1 = beta_0 > ... = beta_min``.
    step_size : ``(K,)`` ``ε_k``, the scalar step of rung ``k``; the rung runs it with
        the metric ``v / beta_k`` (:func:`rung_params`): MALA's step is
        ``h_k = ε_k v / beta_k``, Barker's scale ``σ_k = ε_k sqrt(v / beta_k)``.
        On a Gaussian every rung has the same ``ε``.
    metric : ``(d,)`` the variances ``v`` at ``beta = 1`` over the raveled position.
    swap_rates : ``(K - 1,)`` the final window's mean swap probability of each pair.
    barrier : ``Λ``, the global communication barrier: the sum of the final rejection
        rates (``K - 1`` well above ``Λ`` is needed; each pair rejects ``≈ Λ / (K - 1)``).
    local_barrier : ``(K,)`` ``λ(β_k) = dΛ/dβ`` at the rungs, from the interpolant.
    cumulative_barrier : ``(K,)`` ``Λ(β_k)``, from 0 at ``beta = 1`` to ``Λ``.
    round_trip_rate : ``1 / (2 + 2 Σ r_k / (1 - r_k))``, the predicted rate of
        round trips ``beta = 1 -> beta_min -> 1`` per step and ladder (Syed et al.,
        Theorem 3; for ``swap_every = 1``).
    betas_history : ``(segments, K)`` the ladder each window ran on.
    swap_rate_history : ``(segments, K - 1)`` each window's pooled swap rates.
    step_size_history : ``(segments, K)`` each window's final ``step_size``.
    acceptance_rate : ``(segments, K)`` each window's mean acceptance per rung.
    segments : the windows ``(start, end)``; ``windows``: the slow ones (the rounds).
    diverged : ``(chains,)`` steps in which some replica diverged, per chain.
    """

    kernel: str
    target_acceptance: float
    betas: np.ndarray
    step_size: np.ndarray
    metric: np.ndarray
    swap_rates: np.ndarray
    barrier: float
    local_barrier: np.ndarray
    cumulative_barrier: np.ndarray
    round_trip_rate: float
    betas_history: np.ndarray
    swap_rate_history: np.ndarray
    step_size_history: np.ndarray
    acceptance_rate: np.ndarray
    segments: tuple[tuple[int, int], ...]
    windows: tuple[tuple[int, int], ...]
    diverged: np.ndarray


# --------------------------------------------------------------------------- #
# A rung's settings
# --------------------------------------------------------------------------- #
def rung_params(step_size: Array, sd: Array, beta: Array) -> TuningParams:
    """The :class:`~jlangevin.types.TuningParams` of the rung at ``beta``.

    The step ``ε = step_size`` and the diagonal metric root ``sd / sqrt(beta)``
    (the tempered density is wider by ``1 / sqrt(beta)``); a trajectory of one step.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation.tempering import rung_params
    >>> rung_params(jnp.float32(0.5), jnp.ones(2), jnp.float32(0.25)).metric.scale.tolist()
    [2.0, 2.0]
    """
    scale = sd / jnp.sqrt(jnp.asarray(beta, sd.dtype))
    step_size = jnp.asarray(step_size, sd.dtype)
    one = jnp.ones((), sd.dtype)
    return TuningParams(step_size, MetricRoot(scale=scale), one, jnp.ones((), jnp.int32))


class RungKernel(NamedTuple):
    """``kernel(logdensity_beta, beta) -> Sampler`` for :func:`jlangevin.tempering`.

    The declared kernel of each rung at its adapted settings (:func:`rung_params`),
    the rung found by its ``beta``. A pytree: a new warm-up of the same model gives
    an equal kernel up to its arrays, so ``jl.run`` reuses its compiled loop.

    Attributes
    ----------
    tuning : the kernel's declaration.
    log_betas : ``(K,)`` ``log beta_k`` of the ladder (to find a rung by ``beta``).
    step_size : ``(K,)`` ``ε_k``.
    sd : ``(d,)`` the metric's standard deviations at ``beta = 1``.
    position : one position (the layout the kernel's sampler unravels to).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.adaptation.tempering import RungKernel
    >>> logp = lambda x: -0.5 * jnp.sum(x**2)
    >>> kernel = RungKernel(jl.kernels.mala.tuning, jnp.log(jnp.array([1.0, 0.5])),
    ...                     jnp.array([0.5, 0.4]), jnp.ones(2), jnp.zeros(2))
    >>> pt = jl.tempering(logp, [1.0, 0.5], kernel=kernel)
    """

    tuning: Tuning
    log_betas: Array
    step_size: Array
    sd: Array
    position: ArrayTree

    def __call__(self, logdensity_fn: LogDensityFn, beta: Array) -> Sampler:
        dtype = self.sd.dtype
        rung = jnp.argmin(jnp.abs(self.log_betas - jnp.log(jnp.asarray(beta, dtype))))
        params = rung_params(self.step_size[rung], self.sd, beta)
        return self.tuning.sampler(
            logdensity_fn, params, position=self.position, score_fn=None, bounds=None
        )


# --------------------------------------------------------------------------- #
# The compiled window
# --------------------------------------------------------------------------- #
class _Settings(NamedTuple):
    """Everything static about one warm-up: the key of the compiled-window cache."""

    tuning: Tuning
    logdensity_fn: LogDensityFn
    dtype: Any
    target: float
    swap_every: int


def _build_window(settings: _Settings):
    """Jitted ``(keys, states, betas, da, metric, start, end, collect) -> ...``: one window.

    Steps ``start .. end - 1`` of all ladders (``vmap``), every replica moved by the
    declared step at :func:`rung_params`, dual averaging per rung after each, the
    swap probabilities summed per pair, the ``beta = 1`` draws' sums when
    ``collect`` (whitened by the current metric's sd).
    """
    dtype, target = settings.dtype, settings.target
    declared_step = functools.partial(settings.tuning.step, score_fn=None, bounds=None)
    da_update = jax.vmap(da_.dual_averaging_update, (0, 0, None))

    @jax.jit
    def window(chain_keys, states, betas, da, metric, start, end, collect):
        sd = jnp.sqrt(metric)

        def one(key, replica, beta, eps):
            logdensity = tempering.tempered(settings.logdensity_fn, beta)
            new, info, _ = declared_step(key, replica, logdensity, rung_params(eps, sd, beta))
            return new, info

        def ladder(key, state, eps):
            return tempering.ladder_step(key, state, betas, one, eps, settings.swap_every)

        def body(_, carry):
            states, da, stats, swaps, accept, diverged = carry
            keys = step_keys(chain_keys, states.count)
            states, info = jax.vmap(ladder, (0, 0, None))(keys, states, jnp.exp(da.log_step))
            rung_accept = jnp.mean(info.replica_info.acceptance_rate.astype(dtype), axis=0)
            da = da_update(da, rung_accept, target)
            flat = jax.vmap(lambda p: ravel_pytree(p)[0])(states.position)
            stats = jax.lax.cond(
                collect, lambda s: metric_.chain_sums_update(s, flat / sd), lambda s: s, stats
            )
            swaps = (
                swaps[0] + jnp.sum(info.swap_acceptance.astype(dtype), axis=0),
                swaps[1] + jnp.sum(info.swap_attempted.astype(dtype), axis=0),
            )
            diverged = diverged + info.diverged.astype(jnp.int32)
            return states, da, stats, swaps, accept + rung_accept, diverged

        num_chains, num = chain_keys.shape[0], betas.shape[0]
        stats = metric_.chain_sums_init(num_chains, metric.shape[0], False, dtype)
        pairs = jnp.zeros((num - 1,), dtype)
        carry = (
            states,
            da,
            stats,
            (pairs, pairs),
            jnp.zeros((num,), dtype),
            jnp.zeros((num_chains,), jnp.int32),
        )
        return jax.lax.fori_loop(start, end, body, carry)

    return window


#: Compiled window loops, one per settings (so a second warm-up compiles nothing).
cached_window = functools.lru_cache(maxsize=32)(_build_window)


def _window_fn(settings: _Settings):
    try:
        return cached_window(settings)
    except TypeError as err:  # an unhashable log density: build afresh
        if "unhashable" not in str(err):
            raise
        return _build_window(settings)


@functools.partial(jax.jit, static_argnames="shrinkage")
def _new_metric(stats: metric_.ChainSums, metric: Array, shrinkage: float) -> Array:
    healthy = jnp.ones(stats.means.shape[0], bool)
    var = metric_.regularized_covariance(metric_.pooled(stats, healthy), shrinkage)
    new = metric * var
    return jnp.where(jnp.all(jnp.isfinite(new) & (new > 0)), new, metric)


def _retemper(ladder: Any, old: Array, new: Array) -> Any:
    """Replica ``k``'s state, tempered by ``new[k]`` instead of ``old[k]`` (position kept)."""
    ratio = jnp.asarray(new / old, ladder.logdensity.dtype)

    def scale(leaf: Array) -> Array:  # leaves (chains, K, ...)
        return leaf * ratio.reshape((1, -1) + (1,) * (leaf.ndim - 2)).astype(leaf.dtype)

    fields = {"logdensity": scale(ladder.logdensity)}
    if hasattr(ladder, "score"):
        fields["score"] = jax.tree.map(scale, ladder.score)
    return ladder._replace(**fields)


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _rung_kernel(kernel: Any) -> Tuning:
    """The declaration every rung runs; a trajectory kernel is refused (see the module notes)."""
    tuning = resolve_kernel(DEFAULT_KERNEL if kernel is None else kernel)
    if "trajectory" in tuning.tunes:
        raise ValueError(
            "`kernel`: the tempering warm-up tunes a step size and a metric per rung, not a "
            f"trajectory; expected a kernel that declares no 'trajectory' (such as 'mala' or "
            f"'barker'), got {tuning.name}, which declares {tuning.tunes}."
        )
    return tuning


def _initial_ladder(num_rungs: Any, beta_min: Any, betas: Any) -> np.ndarray:
    if betas is None:
        num = ladder_.DEFAULT_NUM_RUNGS if num_rungs is None else as_int(num_rungs, "num_rungs", 2)
        low = ladder_.DEFAULT_BETA_MIN if beta_min is None else beta_min
        low = as_number(low, "beta_min", 0.0, 1.0, low_open=True, high_open=True)
        return tempering.geometric_betas(num, low)
    ladder = tempering.check_betas(betas)
    if num_rungs is not None and as_int(num_rungs, "num_rungs", 2) != ladder.size:
        raise ValueError(
            f"`num_rungs` ({num_rungs}) disagrees with the {ladder.size} rungs of `betas`; "
            "pass one of them."
        )
    if beta_min is not None and as_number(beta_min, "beta_min") != ladder[-1]:
        raise ValueError(
            f"`beta_min` ({beta_min}) disagrees with the last rung of `betas` ({ladder[-1]}); "
            "pass one of them."
        )
    return ladder


def _num_chains(positions: Any) -> int:
    leaves = jax.tree.leaves(positions)
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


def _check_positions(positions: Any, logdensity_fn: LogDensityFn) -> int:
    if isinstance(positions, tempering.TemperingState):
        raise TypeError(
            "`positions` must be plain positions (chains, *event); for a state of an earlier "
            "warm-up or run pass its `position` (the beta = 1 replicas)."
        )
    num_chains = _num_chains(positions)
    check_position(positions, "positions")
    for leaf in jax.tree.leaves(positions):
        if not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError("`positions` holds non-finite (NaN or inf) values.")
    values = np.asarray(jax.jit(jax.vmap(logdensity_fn))(positions))
    if values.shape != (num_chains,):
        raise ValueError(
            f"`logdensity_fn` must return a scalar per position; got shape {values.shape[1:]}."
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"The log density is not finite at the initial positions of {bad.size} chains "
            f"(first: {bad[:5].tolist()}); start inside the support."
        )
    return num_chains


# --------------------------------------------------------------------------- #
# The warm-up
# --------------------------------------------------------------------------- #
def tempering_warmup(
    key: PRNGKey,
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    *,
    num_rungs: int | None = None,
    beta_min: float | None = None,
    betas: Any = None,
    kernel: Any = DEFAULT_KERNEL,
    target_acceptance: float | None = None,
    preconditioner: str = "diagonal",
    initial_step_size: float = 1.0,
    shrinkage: float = 0.01,
    swap_every: int = 1,
    adapt_ladder: bool = True,
) -> tuple[Sampler, tempering.TemperingState, TemperingWarmupInfo]:
    """Adapt replica exchange across ladders: per-rung step sizes, a metric, the ladder.

    Parameters
    ----------
    key : a JAX random key; ladder ``c`` draws what ``jl.run`` with this key would.
    logdensity_fn : the untempered ``position -> log p`` of one position (any pytree).
    positions : ``(chains, *event)`` starting points; every replica of ladder ``c``
        starts at its chain's point.
    num_steps : warm-up steps, an integer >= 20 (1,000 or more is typical).
    num_rungs : ``K >= 2``, kept (default 8).
    beta_min : the hottest rung, in ``(0, 1)``, kept (default 0.01: see
        :data:`~jlangevin.adaptation.ladder.DEFAULT_BETA_MIN`). The initial ladder
        is geometric.
    betas : an initial ladder instead (its ``K`` and last rung are kept).
    kernel : the kernel of every rung: ``"mala"`` (default; ``None`` too), ``"barker"``,
        ``jl.mala``, ``jl.barker``, or any :class:`~jlangevin.types.Tuning` declaration
        that tunes no trajectory (MALT is refused, see the module notes).
    target_acceptance : every rung's, in ``(0, 1)`` (default: the kernel's declared one).
    preconditioner : ``"diagonal"`` (the ``beta = 1`` variances, ``1 / beta`` per
        rung) or ``"identity"``.
    initial_step_size : ``ε`` on every rung at the start (1.0).
    shrinkage : as in :func:`jlangevin.adaptation.warmup` (0.01); the diagonal
        estimate uses only its scale-free regularisation.
    swap_every : swaps after every ``swap_every``-th step, in warm-up and after.
    adapt_ladder : ``False`` keeps the initial ladder (steps and metric only).

    Returns
    -------
    sampler : a ready :func:`jlangevin.tempering` sampler with the adapted ladder and
        a :class:`RungKernel` running each rung at its adapted settings.
    state : the ladders' batched :class:`~jlangevin.kernels.tempering.TemperingState`
        (``count = num_steps``); pass it to ``jl.run`` to continue.
    info : :class:`TemperingWarmupInfo`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [0.5, 0.5])
    >>> sampler, state, info = jl.adaptation.tempering_warmup(
    ...     jax.random.key(0), target.logdensity, jnp.zeros((4, 1)), 200, num_rungs=4)
    >>> trace = jl.run(jax.random.key(1), sampler, state, 100)
    >>> info.betas.shape, trace.info.swapped.shape
    ((4,), (4, 100, 3))
    """
    check_key(key)
    tuning = _rung_kernel(kernel)
    if not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p`; "
            f"got {describe(logdensity_fn)}."
        )
    ladder = _initial_ladder(num_rungs, beta_min, betas)
    target = da_.check_target_acceptance(
        tuning.target_acceptance if target_acceptance is None else target_acceptance
    )
    if not isinstance(preconditioner, str) or preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {PRECONDITIONERS}; got {describe(preconditioner)}."
        )
    initial_step_size = as_positive(initial_step_size, "initial_step_size")
    shrinkage = as_number(shrinkage, "shrinkage", 0.0, 1.0)
    swap_every = as_int(swap_every, "swap_every", minimum=1)
    adapt_ladder = as_flag(adapt_ladder, "adapt_ladder")
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")
    num_chains = _check_positions(positions, logdensity_fn)
    positions = jax.tree.map(jnp.asarray, positions)

    one_position = jax.tree.map(lambda x: x[0], positions)
    flat = ravel_pytree(one_position)[0]
    dtype = flat.dtype
    settings = _Settings(tuning, logdensity_fn, dtype, target, swap_every)
    metric = jnp.ones((flat.size,), dtype)
    eps = np.full(ladder.size, initial_step_size)

    def start(position):  # every replica at the chain's point (its settings are not used)
        log_betas, steps = jnp.log(jnp.asarray(ladder, dtype)), jnp.asarray(eps, dtype)
        rungs = RungKernel(tuning, log_betas, steps, jnp.sqrt(metric), position)
        return tempering.init(position, logdensity_fn, ladder, kernel=rungs)

    states = jax.jit(jax.vmap(start))(positions)
    chain_keys = chain_keys_for(key, num_chains)
    da = jax.vmap(da_.dual_averaging_init)(jnp.asarray(eps, dtype))
    window = _window_fn(settings)

    history: dict[str, list] = {"betas": [], "rates": [], "steps": [], "accept": []}
    diverged = np.zeros(num_chains, np.int64)
    segments = make_segments(num_steps, windows)
    for begin, end, slow in segments:
        states, da, stats, swaps, accept, div = window(
            chain_keys, states, jnp.asarray(ladder, dtype), da, metric, begin, end, slow
        )
        diverged += np.asarray(div)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.asarray(swaps[0], np.float64) / np.asarray(swaps[1], np.float64)
        eps = np.exp(np.asarray(da.log_step_avg, np.float64))
        history["betas"].append(ladder)
        history["rates"].append(rates)
        history["steps"].append(eps)
        history["accept"].append(np.asarray(accept, np.float64) / (end - begin))
        if end == num_steps or not slow:
            continue
        if preconditioner == "diagonal":
            metric = _new_metric(stats, metric, shrinkage)
        if adapt_ladder and np.all(np.isfinite(rates)):
            new = ladder_.update_ladder(ladder, 1.0 - rates)  # looked up here: tests patch it
            # each rung's ε from its neighbours on the old ladder (log ε linear in log β)
            eps = np.exp(np.interp(-np.log(new), -np.log(ladder), np.log(eps)))
            states = states._replace(ladder=_retemper(states.ladder, ladder, new))
            ladder = new
        da = jax.vmap(da_.dual_averaging_init)(jnp.asarray(eps, dtype))

    metric_np = np.asarray(metric, np.float64)
    if not (np.all(np.isfinite(eps)) and np.all(np.isfinite(metric_np))):
        raise ValueError(
            f"tempering warm-up of {tuning.name} failed: the adapted step sizes ({eps}) or "
            "metric are not positive and finite. Try a smaller `initial_step_size`, more "
            "warm-up steps, starting points nearer the target, or float64."
        )
    rungs = RungKernel(
        tuning,
        jnp.asarray(np.log(ladder), dtype),
        jnp.asarray(eps, dtype),
        jnp.sqrt(jnp.asarray(metric_np, dtype)),
        one_position,
    )
    sampler = tempering.sampler(logdensity_fn, ladder, kernel=rungs, swap_every=swap_every)
    rejection = 1.0 - rates
    barrier = ladder_.barrier_interpolant(ladder, rejection)
    info = TemperingWarmupInfo(
        kernel=tuning.name,
        target_acceptance=target,
        betas=ladder,
        step_size=eps,
        metric=metric_np,
        swap_rates=rates,
        barrier=float(np.sum(rejection)),
        local_barrier=ladder_.local_barrier(ladder, rejection),
        cumulative_barrier=barrier(ladder),
        round_trip_rate=ladder_.round_trip_rate(rejection),
        betas_history=np.stack(history["betas"]),
        swap_rate_history=np.stack(history["rates"]),
        step_size_history=np.stack(history["steps"]),
        acceptance_rate=np.stack(history["accept"]),
        segments=tuple((s.start, s.end) for s in segments),
        windows=windows,
        diverged=diverged,
    )
    return sampler, states, info


__all__ = [
    "DEFAULT_KERNEL",
    "PRECONDITIONERS",
    "RungKernel",
    "TemperingWarmupInfo",
    "rung_params",
    "tempering_warmup",
]
