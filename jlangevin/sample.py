"""``jl.sample``: the front door. Initialise, warm up, run, and say whether it converged.

``sample(key, model)`` is what a careful user would write by hand::

    positions = model.init(key_init, num_chains)
    sampler, state, warmup = jl.adaptation.warmup(key, kernel, logdensity_fn, positions)
    trace = jl.run(key, sampler, state, num_draws)
    # ... then R-hat, nested R-hat, bulk and tail ESS and divergences

with choices made from measurements (``benchmarks/posteriordb_bench.py``): MALT
with ChEES trajectories over 64 chains, the metric dense or diagonal as the chains
show (``preconditioner="auto"``). The result is a :class:`Sampled`; ``print`` it
for a short report with the verdict. A run that did not converge warns
(:class:`~jlangevin.SamplingWarning`) naming what failed and what to try; with
``max_draws`` it keeps sampling, chunk by chunk, until the gate holds or the
budget is spent (the chunks continue the chains exactly: the draws equal one
longer run's).
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_flag, as_int, check_key, describe
from jlangevin.adaptation.metric import PRECONDITIONERS
from jlangevin.adaptation.warmup import WarmupInfo, resolve_kernel, warmup
from jlangevin.adaptation.windows import MIN_WARMUP_STEPS
from jlangevin.kernels import EXACT_KERNELS, UNADJUSTED_KERNELS, barker, mala, ula
from jlangevin.kernels._bounds import check_bounds
from jlangevin.models import Model, Subsampled
from jlangevin.models._model import check_num_chains
from jlangevin.run import SamplingWarning, Trace, run
from jlangevin.types import ArrayTree, Bounds, PRNGKey, Sampler, Tuning

#: What ``kernel="auto"`` runs (the strongest on the reference posteriors).
AUTO_KERNEL = "malt"
#: Chains by default: enough for the many-chain warm-up's pooled estimates and for
#: nested R-hat (8 superchains of 8).
DEFAULT_NUM_CHAINS = 64
#: The stochastic-gradient kernels: they run on minibatches (``batch_size``) of a
#: :func:`jlangevin.models.subsampled` model, see :func:`sample`.
SGMCMC_KERNELS = ("sgld", "sghmc")
#: The kernels by name: every exact kernel's declaration, ULA (no warm-up), and the
#: stochastic-gradient ones.
KERNELS = ("auto", *EXACT_KERNELS, *UNADJUSTED_KERNELS, "ula", *SGMCMC_KERNELS)
#: The convergence gate: every coordinate's R-hat (and nested R-hat with 16 chains or
#: more) below ``RHAT_MAX``, bulk and tail ESS at least ``ESS_MIN`` (Vehtari et al.
#: 2021: 100 per chain for four chains), and divergences at most ``DIVERGENCE_MAX`` of
#: the transitions.
RHAT_MAX = 1.01
ESS_MIN = 400
DIVERGENCE_MAX = 0.001
NESTED_MIN_CHAINS = 16


class Convergence(NamedTuple):
    """The convergence gate: measurements (worst unconstrained coordinate) and verdict.

    Attributes
    ----------
    rhat : the largest rank-normalised split R-hat.
    nested_rhat : the largest nested R-hat (``None`` under 16 chains).
    ess_bulk, ess_tail : the smallest bulk and tail ESS.
    divergences : diverged transitions after warm-up, over all chains.
    transitions : transitions after warm-up, over all chains.
    failures : what failed, one line each (empty when converged).
    """

    rhat: float
    nested_rhat: float | None
    ess_bulk: float
    ess_tail: float
    divergences: int
    transitions: int
    failures: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """Whether every check of the gate held."""
        return not self.failures


class GradientCount(NamedTuple):
    """Gradient evaluations of a :func:`sample` call, over all chains.

    Stochastic-gradient runs count full-data gradient equivalents (a float): a
    gradient over a minibatch of ``n`` of ``N`` points is ``n / N`` of one.
    """

    warmup: int
    draws: int

    @property
    def total(self) -> int:
        """Warm-up and draws together."""
        return self.warmup + self.draws


class Sampled(NamedTuple):
    """What :func:`sample` returns. ``print(result)`` is a short report with the verdict.

    Attributes
    ----------
    trace : the :class:`~jlangevin.Trace` of the kept draws (unconstrained).
    warmup : the :class:`~jlangevin.adaptation.WarmupInfo`, or ``None`` when nothing
        was adapted (ULA, or a given ``step_size``).
    sampler : the sampler that drew the trace (the adapted settings bound in).
    model : the :class:`~jlangevin.Model` sampled, or ``None`` for a plain log density.
    kernel : the kernel's name (what ``"auto"`` chose).
    convergence : the gate's :class:`Convergence`.
    num_grads : :class:`GradientCount` of the warm-up and the draws.
    seconds : wall time of the warm-up (with initialisation), the draws and the gate.
    notes : lines the report adds (a stochastic-gradient run's settings and its bias).
    step_fit : a stochastic-gradient run's :class:`StepFit` (its step's bias check), or
        ``None``.
    """

    trace: Trace
    warmup: WarmupInfo | None
    sampler: Sampler
    model: Model | None
    kernel: str
    convergence: Convergence
    num_grads: GradientCount
    seconds: dict[str, float]
    notes: tuple[str, ...] = ()
    step_fit: Any = None

    @property
    def converged(self) -> bool:
        """Whether the convergence gate held."""
        return self.convergence.converged

    @property
    def posterior(self) -> Any:
        """The draws under the model's names (``model.constrain``), else the positions."""
        if self.model is None:
            return self.trace.positions
        return self.model.constrain(self.trace.positions)

    def to_arviz(self, **kwargs: Any) -> Any:
        """ArviZ data of the run (``jl.to_arviz(trace, model=model, **kwargs)``)."""
        from jlangevin.diagnostics import to_arviz

        if self.model is not None:
            kwargs.setdefault("model", self.model)
        return to_arviz(self.trace, **kwargs)

    def summary(self, **kwargs: Any) -> Any:
        """A summary table under the model's names (``jlangevin.diagnostics.summary``)."""
        from jlangevin import diagnostics

        return diagnostics.summary(self.trace, model=self.model, **kwargs)

    def __str__(self) -> str:
        c = self.convergence
        chains, draws = _shape(self.trace)
        verdict = "converged" if c.converged else "NOT converged"
        lines = [
            f"jl.sample: {self.kernel}, {chains} chains x {draws} draws: {verdict}",
            f"  R-hat max {c.rhat:.4f}"
            + (f", nested R-hat max {c.nested_rhat:.4f}" if c.nested_rhat is not None else "")
            + f"; ESS min bulk {c.ess_bulk:.0f}, tail {c.ess_tail:.0f}; "
            f"{c.divergences} divergent of {c.transitions:,}",
            f"  gradients {self.num_grads.warmup:,.0f} warm-up + "
            f"{self.num_grads.draws:,.0f} draws; "
            f"{self.seconds['warmup']:.1f} s + {self.seconds['draws']:.1f} s",
        ]
        if self.warmup is not None:
            w = self.warmup
            line = f"  step size {float(w.step_size):.3g}, metric {w.metric_kind}"
            if w.trajectory is not None:
                line += f", trajectory {w.num_integration_steps} steps ({w.trajectory})"
            if w.num_restarted:
                line += f", {w.num_restarted} chain restart(s) in warm-up"
            lines.append(line)
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  FAILED: {failure}" for failure in c.failures]
        return "\n".join(lines)


def _shape(trace: Trace) -> tuple[int, int]:
    leaf = jax.tree.leaves(trace.positions)[0]
    return int(leaf.shape[0]), int(leaf.shape[1])


# --------------------------------------------------------------------------- #
# The convergence gate
# --------------------------------------------------------------------------- #
def _flat_draws(positions: ArrayTree) -> np.ndarray:
    """``(chains, draws, k)``: every scalar coordinate of every leaf."""
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(positions)]
    return np.concatenate([x.reshape(x.shape[0], x.shape[1], -1) for x in leaves], axis=-1)


def _worst(values: np.ndarray, pick: Any) -> float:
    """The worst value by ``pick`` (``np.max`` or ``np.min``), NaN counting as worst."""
    bad = np.inf if pick is np.max else -np.inf
    if values.size == 0:
        return -bad
    return float(pick(np.where(np.isnan(values), bad, values)))


def convergence(trace: Trace, divergences: int | None = None) -> Convergence:
    """Judge a trace: R-hat, nested R-hat (16 chains or more), bulk and tail ESS, divergences.

    Constant coordinates (a chain that never moves) count as not converged.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.8)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((8, 2)), 2000)
    >>> from jlangevin.sample import convergence
    >>> convergence(trace).converged
    True
    """
    from jlangevin.diagnostics import ess, nested_rhat, rhat

    draws = _flat_draws(trace.positions)
    chains, num_draws, _ = draws.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = np.asarray(rhat(draws), np.float64)
        bulk = np.asarray(ess(draws, method="bulk"), np.float64)
        tail = np.asarray(ess(draws, method="tail"), np.float64)
        nested = None
        if chains >= NESTED_MIN_CHAINS:
            nested = np.asarray(nested_rhat(draws), np.float64)
    moving = np.ptp(draws, axis=(0, 1)) > 0  # constant coordinates are reported apart
    constant = int(np.sum(~moving))
    r_max, bulk_min, tail_min = (
        _worst(x[moving], f) for x, f in ((r, np.max), (bulk, np.min), (tail, np.min))
    )
    nested_max = None if nested is None else _worst(nested[moving], np.max)
    if divergences is None:
        divergences = int(np.sum(np.asarray(trace.diverged)))
    transitions = chains * num_draws
    failures = []
    if constant:
        failures.append(
            f"{constant} coordinate(s) never changed in any chain (R-hat and ESS undefined)"
        )
    if not r_max < RHAT_MAX:
        failures.append(f"R-hat {r_max:.4f} >= {RHAT_MAX} (chains disagree)")
    if nested_max is not None and not nested_max < RHAT_MAX:
        failures.append(f"nested R-hat {nested_max:.4f} >= {RHAT_MAX} (superchains disagree)")
    if not bulk_min >= ESS_MIN:
        failures.append(f"bulk ESS {bulk_min:.0f} < {ESS_MIN}")
    if not tail_min >= ESS_MIN:
        failures.append(f"tail ESS {tail_min:.0f} < {ESS_MIN}")
    if divergences > DIVERGENCE_MAX * transitions:
        failures.append(
            f"{divergences} divergent transitions of {transitions:,} (over {DIVERGENCE_MAX:.1%})"
        )
    return Convergence(
        r_max, nested_max, bulk_min, tail_min, divergences, transitions, tuple(failures)
    )


def _advice(result: Sampled) -> str:
    """What to try, from what failed."""
    tips = []
    c, w = result.convergence, result.warmup
    if c.rhat >= RHAT_MAX or (c.nested_rhat or 0.0) >= RHAT_MAX:
        tips.append("a longer warm-up (num_warmup)")
        if w is not None and w.metric_kind == "diagonal":
            tips.append("preconditioner='dense'")
        if result.model is not None:
            tips.append(
                "jl.models.noncentered(model) if it is hierarchical (a funnel defeats every "
                "sampler in centred coordinates)"
            )
    if c.ess_bulk < ESS_MIN or c.ess_tail < ESS_MIN:
        tips.append("more draws (num_draws, or max_draws to keep sampling until converged)")
    if c.divergences:
        tips.append(
            "a reparameterisation or float64 (divergences mark regions the step cannot cross)"
        )
    return "; ".join(dict.fromkeys(tips))


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _check_target(model: Any) -> tuple[Any, Model | None]:
    if isinstance(model, Subsampled):  # the full-data model (minibatches only for SG kernels)
        model = model.model
    if isinstance(model, Model):
        return model.logdensity_fn, model
    if callable(model) and not isinstance(model, type):
        return model, None
    raise TypeError(
        "`model` must be a jl.Model (e.g. jl.from_numpyro(...)) or a log density "
        f"`position -> log p`; got {type(model).__name__}."
    )


def _check_kernel(kernel: Any) -> tuple[str, Tuning | None]:
    """``(name, declaration)``: ``None`` for ULA and the SG kernels (no warm-up)."""
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ValueError(f"`kernel` must be one of {KERNELS} or a jl.Tuning; got {kernel!r}.")
        if kernel in ("ula", *SGMCMC_KERNELS):
            return kernel, None
        kernel = AUTO_KERNEL if kernel == "auto" else kernel
    try:
        tuning = resolve_kernel(kernel)
    except TypeError:
        raise TypeError(
            f"`kernel` must be one of {KERNELS}, a tunable constructor such as jl.malt, or a "
            f"jl.Tuning; got {describe(kernel)}."
        ) from None
    return tuning.name, tuning


def _check_positions(positions: Any, model: Model | None, num_chains: Any) -> Any:
    if positions is None:
        if model is None:
            raise ValueError(
                "`positions` is required when `model` is a plain log density (a jl.Model "
                "knows its own init): pass initial positions with a leading chain axis."
            )
        return None
    if model is not None:
        head = model.leading_shape(positions, "positions")
        if len(head) != 1:
            raise ValueError(
                f"`positions` needs one leading chain axis on every leaf; got leading axes {head}."
            )
        got = head[0]
    else:
        leaves = jax.tree.leaves(positions)
        if not leaves or any(jax.numpy.ndim(leaf) == 0 for leaf in leaves):
            raise ValueError(
                "`positions` needs a leading chain axis on every leaf (chains, *event)."
            )
        got = jax.numpy.shape(leaves[0])[0]
    if num_chains is not None and check_num_chains(num_chains) != got:
        raise ValueError(
            f"`num_chains` ({num_chains}) differs from the chains in `positions` ({got}); "
            "leave `num_chains` out when giving positions."
        )
    return positions


#: Kernels whose only setting is a step size: a given ``step_size`` runs them unadapted.
STEP_SIZE_ONLY = {"mala": mala.sampler, "barker": barker.sampler, "ula": ula.sampler}


def _fixed_sampler(name: str, logdensity_fn: Any, step_size: Any, bounds: Any) -> Sampler:
    """The sampler for a given ``step_size`` (no warm-up)."""
    if step_size is None:
        raise ValueError(
            "`step_size` is required with kernel='ula' (ULA has no acceptance to adapt "
            "to); use an exact kernel (the default) for an adapted step size."
        )
    if name not in STEP_SIZE_ONLY:
        raise ValueError(
            f"`step_size` skips the warm-up only for kernel {tuple(STEP_SIZE_ONLY)} (a "
            f"single step size is all they need); {name!r} has more settings: leave "
            "`step_size` out and let the warm-up adapt them."
        )
    return STEP_SIZE_ONLY[name](logdensity_fn, step_size, bounds=bounds)


def _concat(first: Trace, more: Trace) -> Trace:
    """Two consecutive traces of the same chains as one (draws appended, counts summed)."""

    def cat(a: Any, b: Any) -> Any:
        if a is None:
            return None
        return jax.tree.map(lambda x, y: jax.numpy.concatenate([x, y], axis=1), a, b)

    steps = None
    if first.steps is not None and more.steps is not None:
        offset = int(first.steps[-1]) if len(first.steps) else 0
        steps = np.concatenate([first.steps, np.asarray(more.steps) + offset])
    return more._replace(
        positions=cat(first.positions, more.positions),
        info=cat(first.info, more.info),
        diverged=first.diverged + more.diverged,
        moves=None if first.moves is None else first.moves + more.moves,
        steps=steps,
    )


# --------------------------------------------------------------------------- #
# Stochastic-gradient runs (kernel="sgld" | "sghmc", batch_size=n)
# --------------------------------------------------------------------------- #
#: Full-data optimiser steps (``optax.adam(1e-2)``) of the mode finder before an SG run.
SG_MODE_STEPS = 2_000
#: Default steps in the whitened coordinates (the posterior about ``N(0, I)`` at
#: the mode), divided by the whitening's stiffness (SGLD) or its square root
#: (SGHMC): the constant steps with the smallest posterior-mean error at equal
#: cost in the step sweep of ``benchmarks/sgmcmc.py`` (a smaller step trades
#: bias for slower mixing).
SGLD_STEP = 0.03
SGHMC_STEP = 0.03
#: The step's bias check (:func:`jlangevin.models.sgmcmc.langevin_acceptance`): the
#: default step is halved until the full-data Metropolis test of its Langevin move,
#: at the chains' positions, accepts at least this share. The Laplace map fits the
#: mode; where the curvature away from it is larger (a neural network's), the step
#: that suits the mode leaves a large bias (measured in ``benchmarks/sgmcmc.py``).
SG_ACCEPT_MIN = 0.98
#: Rounds of the check, each after this many steps of the kernel (before burn-in).
SG_FIT_ROUNDS = 3
SG_FIT_STEPS = 100
#: Halvings of the step at most (then the run goes on with the smallest, and says so).
SG_MAX_HALVINGS = 12
#: Metropolis proposals per chain in one check (each a full-data gradient).
SG_CHECK_PROPOSALS = 2
#: SGHMC's friction in the whitened coordinates (unit curvature: underdamped).
SGHMC_FRICTION = 1.0
#: The gradient estimator by default: control variates at the mode (measured in
#: ``benchmarks/sgmcmc.py`` against plain minibatches).
SG_ESTIMATOR = "control_variates"
#: ``preconditioner="auto"`` whitens densely up to this many dimensions, diagonally above.
SG_DENSE_MAX_DIM = 2_000
#: A Hessian-vector product (forward over reverse) counted as this many gradients.
HVP_GRADIENTS = 2


class SGSetup(NamedTuple):
    """What an SG run is built from: the sampler over whitened ``z`` and the way back."""

    sampler: Sampler
    start: Any
    whitening: Any
    estimator: str
    warmup_grads: float
    grads_per_step: float
    fit: StepFit


def _check_sgmcmc(
    name: str,
    model: Any,
    batch_size: Any,
    estimator: Any,
    preconditioner: str,
    bounds: Any,
    target_acceptance: Any,
) -> tuple[Subsampled | None, int | None, str | None]:
    """``(parts, batch_size, estimator)`` of an SG run, or ``(None, None, None)`` for any other.

    Every error names the argument, the expected and the got.
    """
    from jlangevin.models.sgmcmc import check_estimator_name

    if name not in SGMCMC_KERNELS:
        for arg, value in (("batch_size", batch_size), ("estimator", estimator)):
            if value is not None:
                raise ValueError(
                    f"`{arg}` applies to the kernels that subsample, {SGMCMC_KERNELS}; got "
                    f"kernel {name!r} (it uses every data point): leave `{arg}` out."
                )
        return None, None, None
    if not isinstance(model, Subsampled):
        raise ValueError(
            f"kernel {name!r} needs a model split at its data plate, "
            "jl.models.subsampled(numpyro_model, *data); got "
            f"{'a jl.Model' if isinstance(model, Model) else describe(model)} (no data plate)."
        )
    if batch_size is None:
        raise ValueError(
            f"`batch_size` is required with kernel {name!r}: the data points per gradient "
            f"estimate, an integer in [1, {model.num_data}]."
        )
    batch_size = as_int(batch_size, "batch_size", minimum=1)
    if batch_size > model.num_data:
        raise ValueError(
            f"`batch_size` must be at most the {model.num_data} data points of the plate "
            f"{model.plate!r}; got {batch_size}."
        )
    estimator = check_estimator_name(SG_ESTIMATOR if estimator is None else estimator)
    if preconditioner not in ("auto", "dense", "diagonal"):
        raise ValueError(
            f"`preconditioner` must be 'auto', 'dense' or 'diagonal' with kernel {name!r} "
            f"(a Laplace whitening at the mode); got {preconditioner!r}."
        )
    for arg, value in (("bounds", bounds), ("target_acceptance", target_acceptance)):
        if value is not None:
            raise ValueError(
                f"`{arg}` does not apply to kernel {name!r} (no accept step; a model maps its "
                f"constraints away); got {describe(value)}."
            )
    return model, batch_size, estimator


def _sgmcmc_setup(
    key: PRNGKey,
    parts: Subsampled,
    name: str,
    batch_size: int,
    estimator: str,
    preconditioner: str,
    step_size: Any,
    positions: Any,
    num_chains: int,
) -> SGSetup:
    """Mode, Laplace whitening, estimator and sampler of an SG run; starts in ``z``."""
    from jlangevin.kernels import sghmc, sgld
    from jlangevin.models import find_mode
    from jlangevin.models.sgmcmc import (
        acceptance_fn,
        gradients_per_step,
        laplace_whitening,
        precision_at,
    )
    from jlangevin.models.sgmcmc import (
        estimator as build_estimator,
    )

    key_mode, key_start, key_fit = jax.random.split(key, 3)
    mode = find_mode(key_mode, parts, num_steps=SG_MODE_STEPS)
    precision = precision_at(parts.model.logdensity_fn, mode)
    dim = precision.shape[0]
    kind = preconditioner
    if kind == "auto":
        kind = "dense" if dim <= SG_DENSE_MAX_DIM else "diagonal"
    whitening = laplace_whitening(precision, mode, kind)
    gradient = build_estimator(parts, whitening, batch_size, estimator)
    dtype = whitening.centre.dtype

    def step_at(stiffness: float) -> Any:
        if step_size is not None:
            return step_size
        default = SGLD_STEP / stiffness if name == "sgld" else SGHMC_STEP / stiffness**0.5
        return jnp.asarray(default, dtype)

    def sampler_of(step: Any) -> Sampler:
        if name == "sgld":
            return sgld.sampler(gradient, step_size=step)
        return sghmc.sampler(gradient, step_size=step, friction=SGHMC_FRICTION)

    if positions is None:
        start = jax.random.normal(key_start, (num_chains, dim), dtype)
    else:
        start = jax.vmap(whitening.whiten)(positions)
    warmup_grads = SG_MODE_STEPS + HVP_GRADIENTS * dim + (estimator == "control_variates")
    per_step = gradients_per_step(estimator, batch_size, parts.num_data)
    check = acceptance_fn(
        lambda z: parts.model.logdensity_fn(whitening.position(z)), SG_CHECK_PROPOSALS
    )
    langevin = functools.partial(_langevin_step, name)
    adjust = step_size is None
    fit = _fit_step(
        key_fit, check, sampler_of, step_at, langevin, whitening.stiffness, start, adjust
    )
    grads = warmup_grads + fit.checks * (1 + SG_CHECK_PROPOSALS) * num_chains
    grads += fit.steps * num_chains * per_step
    sampler = sampler_of(fit.step_size)
    return SGSetup(sampler, fit.positions, whitening, estimator, grads, per_step, fit)


class StepFit(NamedTuple):
    """The SG step's bias check: where it ended and what it measured.

    Attributes
    ----------
    positions : the chains' positions (in ``z``) after the check's rounds.
    stiffness : the stiffness the step is set by: the Laplace map's, times
        2 per halving.
    step_size : the step the run goes on with (in ``z``).
    acceptance : the last check's mean acceptance (the step's, at ``positions``).
    halvings : times the step was halved.
    steps, checks : kernel steps run and checks made (each check ``1 +
        SG_CHECK_PROPOSALS`` full-data gradients a chain).
    """

    positions: Any
    stiffness: float
    step_size: Any
    acceptance: float
    halvings: int
    steps: int
    checks: int


def _langevin_step(name: str, step: Any) -> float | None:
    """The Langevin step the bias check tries for a kernel's ``step``; ``None`` for a schedule.

    SGLD's step is one; SGHMC's ``ε`` maps to ``SGLD_STEP (ε / SGHMC_STEP)²``, the
    correspondence the defaults keep (``SGLD_STEP / s`` against ``SGHMC_STEP / √s``).
    """
    if callable(step):
        return None
    step = float(np.mean(np.asarray(step)))
    return step if name == "sgld" else SGLD_STEP * (step / SGHMC_STEP) ** 2


def _fit_step(
    key: PRNGKey,
    check: Any,
    sampler_of: Any,
    step_at: Any,
    langevin: Any,
    stiffness: float,
    start: Any,
    adjust: bool,
) -> StepFit:
    """Rounds of ``SG_FIT_STEPS`` kernel steps, each followed by the bias check.

    With ``adjust`` (no step given), a round the check refuses is run again from its
    start with the step halved (a step too large can throw the chains far out, where
    no step passes), until the check accepts ``SG_ACCEPT_MIN``; a round with no
    halving after the first ends the fit. Without it, one round measures the given
    step (none for a schedule: the acceptance is then NaN).
    """
    positions, halvings, steps, checks, acceptance = start, 0, 0, 0, float("nan")
    for index, round_key in enumerate(jax.random.split(key, SG_FIT_ROUNDS if adjust else 1)):
        run_key, check_key = jax.random.split(round_key)
        before = halvings
        while True:  # a round that fails the check is run again, halved, from its start
            step = step_at(stiffness * 2.0**halvings)
            with warnings.catch_warnings():  # a hot step's faults are what the check measures
                warnings.simplefilter("ignore", SamplingWarning)
                trace = run(run_key, sampler_of(step), positions, 0, burnin=SG_FIT_STEPS)
            steps += SG_FIT_STEPS
            if langevin(step) is None:
                break
            h = jnp.asarray(langevin(step))
            acceptance = float(check(trace.final_state.position, h, check_key))
            checks += 1
            if not adjust or acceptance >= SG_ACCEPT_MIN or halvings >= SG_MAX_HALVINGS:
                break
            halvings += 1
        positions = trace.final_state.position
        if index and halvings == before:
            break
    stiffness = stiffness * 2.0**halvings
    return StepFit(positions, stiffness, step_at(stiffness), acceptance, halvings, steps, checks)


def _sg_notes(name: str, setup: SGSetup, parts: Subsampled, batch_size: int) -> tuple[str, ...]:
    """The report's lines on an SG run: its settings and its bias."""
    fit = setup.fit
    step = "a schedule" if callable(fit.step_size) else f"{float(np.mean(fit.step_size)):.3g}"
    halved = f", halved {fit.halvings}x by the bias check" if fit.halvings else ""
    if np.isnan(fit.acceptance):
        check = "bias check: not run (a step schedule)"
    else:
        check = (
            f"bias check: a full-data Metropolis test of the step's Langevin move accepts "
            f"{fit.acceptance:.3f} at the chains after {fit.steps} steps"
        )
    if fit.acceptance < SG_ACCEPT_MIN:
        check += f" (under {SG_ACCEPT_MIN}: expect a visible bias; try a smaller step_size)"
    return (
        f"{name}: {setup.estimator.replace('_', ' ')}, batches of {batch_size} of "
        f"{parts.num_data:,} ({parts.plate!r}); step {step}{halved}, {setup.whitening.kind} "
        f"Laplace whitening (stiffness {setup.whitening.stiffness:.3g})",
        check,
        "asymptotically biased (no accept step): an O(step) error in the stationary law "
        "plus minibatch noise; the gate judges mixing, not this bias",
    )


# --------------------------------------------------------------------------- #
# The front door
# --------------------------------------------------------------------------- #
def sample(
    key: PRNGKey,
    model: Model | Any,
    *,
    kernel: str | Any = "auto",
    num_chains: int | None = None,
    num_warmup: int = 1000,
    num_draws: int = 1000,
    max_draws: int | None = None,
    preconditioner: str = "auto",
    thin: int = 1,
    positions: ArrayTree | None = None,
    step_size: Any = None,
    target_acceptance: float | None = None,
    bounds: Bounds | None = None,
    warn: bool = True,
    progress: bool = False,
    chunk_size: int | None = None,
    batch_size: int | None = None,
    estimator: str | None = None,
    checkpoint_dir: Any = None,
    checkpoint_every: int | None = None,
) -> Sampled:
    """Sample a model in one call: initialise, warm up, run, judge convergence.

    Parameters
    ----------
    key : a JAX random key. ``split(key)`` gives the init key and the chains' key;
        the warm-up and the run share the chains' key (as :func:`jlangevin.run` does).
    model : a :class:`~jlangevin.Model` (``jl.from_numpyro(...)``), a
        :class:`~jlangevin.models.Subsampled` (``jl.models.subsampled(...)``: the
        SG kernels subsample it, the others run on its full-data model), or a
        plain log density ``position -> log p`` (then ``positions`` is required).
    kernel : ``"auto"`` (default: MALT, the strongest on the reference posteriors),
        an exact kernel by name (``"mala"``, ``"barker"``, ``"malt"``, ...), any
        tunable kernel (``jl.malt``, a :class:`~jlangevin.types.Tuning`), or
        ``"ula"`` (needs ``step_size``; no warm-up, asymptotically biased), or
        ``"sgld"`` / ``"sghmc"`` (stochastic gradients on minibatches of a
        ``Subsampled`` model, needs ``batch_size``; asymptotically biased, see Notes).
    num_chains : chains (default 64, or the chains of ``positions``).
    num_warmup : warm-up steps (default 1000; at least 20 when adapting).
    num_draws : draws kept per chain (default 1000); ``num_draws * thin`` steps run.
    max_draws : keep sampling, ``num_draws`` at a time, until the convergence gate
        holds or this many draws per chain are kept (default: one run of ``num_draws``).
    preconditioner : ``"auto"`` (default: dense or diagonal as the chains show, low rank
        plus diagonal above ``DENSE_MAX_DIM`` dimensions where the kernel runs it; the
        warm-up info says which and why), ``"diagonal"``, ``"dense"`` or ``"low_rank"``
        (for ``"malt"``, ``"mams"`` and ``"mclmc"``; see :func:`jlangevin.adaptation.warmup`).
    thin : keep every ``thin``-th step (default 1).
    positions : initial positions, leaves ``(chains, *event)``; default ``model.init``.
    step_size : a fixed step size for ``"mala"``, ``"barker"`` or ``"ula"``: skips the
        warm-up (``num_warmup`` steps become burn-in). For ``"sgld"``/``"sghmc"``: the
        step (a number or a schedule ``count -> h``) in the whitened coordinates
        (see Notes); default ``SGLD_STEP`` / ``SGHMC_STEP`` over the stiffness, halved by
        the bias check as needed.
    target_acceptance : of the warm-up (default: the kernel's).
    bounds : ``(low, high)``, a box the log density lives in (as the kernels take it):
        the kernels reflect or reject at its walls rather than step out and be
        rejected. A :class:`~jlangevin.Model` maps constraints away instead.
    warn : warn (:class:`~jlangevin.SamplingWarning`) when the gate fails (default True).
    progress, chunk_size : of :func:`jlangevin.run`.
    batch_size : data points per gradient estimate, for ``"sgld"``/``"sghmc"`` only:
        an integer in ``[1, N]``.
    estimator : for ``"sgld"``/``"sghmc"``: ``"control_variates"`` (default: at the
        mode), ``"minibatch"`` or ``"svrg"`` (anchor refreshed once an epoch).
    checkpoint_dir, checkpoint_every : of :func:`jlangevin.run`, for the draws (a
        resumed call repeats the warm-up, then continues the saved run).

    Returns
    -------
    Sampled
        ``trace``, ``warmup``, ``sampler``, ``model``, ``kernel``, ``convergence``,
        ``num_grads``, ``seconds``; ``.converged``, ``.posterior`` (constrained draws),
        ``.to_arviz()``, ``.summary()``; ``print(result)`` for a report.

    Notes
    -----
    The gate (:class:`Convergence`): every coordinate's rank-normalised split R-hat
    below 1.01, nested R-hat too with 16 chains or more (superchains of consecutive
    chains), bulk and tail ESS at least 400, divergences at most 0.1% of the
    transitions. Every bad argument is a ``ValueError``/``TypeError`` naming it,
    before anything runs.

    Stochastic-gradient runs (``kernel="sgld"`` or ``"sghmc"`` with ``batch_size``):
    the mode by :func:`jlangevin.models.find_mode` (``SG_MODE_STEPS`` full-data
    Adam steps), the Hessian there (``d`` full-data Hessian-vector products), and
    the Laplace whitening ``θ = mode + W z`` (``W Wᵀ`` the inverse Hessian, dense up
    to ``SG_DENSE_MAX_DIM`` dimensions, else diagonal;
    ``preconditioner="dense"``/``"diagonal"`` forces one). The chains run in ``z``,
    started from ``N(0, I)`` (the Laplace approximation), with one scalar step there
    (a constant preconditioner: no correction term is missing) and the gradient
    estimator over ``z``. The default step is then checked (``SG_FIT_STEPS`` steps,
    then a full-data Metropolis test of its Langevin move at the chains,
    :func:`jlangevin.models.sgmcmc.langevin_acceptance`) and halved until the test
    accepts ``SG_ACCEPT_MIN`` (``result.step_fit``); ``num_warmup`` steps are burn-in.
    The trace holds the model's unconstrained positions (``trace.final_state`` and
    ``sampler`` stay in ``z``). ``num_grads`` counts full-data gradient equivalents (``n`` point
    gradients are ``n / N`` of one; a Hessian-vector product counts 2).

    SG-MCMC is asymptotically biased: there is no accept step, so a constant step
    ``h`` leaves an ``O(h)`` error in the stationary law (on a Gaussian target the
    variance along a direction of whitened curvature ``λ`` is inflated by
    ``1 / (1 - h λ / 2)`` for SGLD, the mean exact), and the minibatch noise adds its
    own share (small with control variates near the mode). A decreasing schedule
    (``jl.schedules.polynomial``) removes it in the limit, at the cost of mixing. The
    convergence gate judges mixing (R-hat, ESS), not this bias; the report says so.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * (x[0] ** 2 + (x[1] / 10.0) ** 2)
    >>> result = jl.sample(jax.random.key(0), logp, positions=jnp.ones((16, 2)),
    ...                    num_warmup=300, num_draws=300, warn=False)
    >>> result.trace.positions.shape, result.kernel
    ((16, 300, 2), 'malt')

    Stochastic gradients on a NumPyro model's data plate:

    >>> import numpyro, numpyro.distributions as dist
    >>> def model(y):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     with numpyro.plate("data", len(y)):
    ...         numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
    >>> parts = jl.models.subsampled(model, jnp.linspace(0.0, 2.0, 1000))
    >>> result = jl.sample(jax.random.key(0), parts, kernel="sgld", batch_size=50,
    ...                    num_chains=8, num_warmup=100, num_draws=200, warn=False)
    >>> result.posterior["mu"].shape
    (8, 200)
    """
    check_key(key)
    logdensity_fn, the_model = _check_target(model)
    name, tuning = _check_kernel(kernel)
    parts, batch_size, estimator = _check_sgmcmc(
        name, model, batch_size, estimator, preconditioner, bounds, target_acceptance
    )
    if not isinstance(preconditioner, str) or preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {PRECONDITIONERS}; got {describe(preconditioner)}."
        )
    num_warmup = as_int(num_warmup, "num_warmup", minimum=0)
    num_draws = as_int(num_draws, "num_draws", minimum=1)
    thin = as_int(thin, "thin", minimum=1)
    if max_draws is not None:
        max_draws = as_int(max_draws, "max_draws", minimum=num_draws)
    progress = as_flag(progress, "progress")
    warn = as_flag(warn, "warn")
    if num_chains is not None:
        num_chains = check_num_chains(num_chains)
    adapt = tuning is not None and step_size is None and parts is None
    if adapt and num_warmup < MIN_WARMUP_STEPS:
        raise ValueError(
            f"`num_warmup` must be >= {MIN_WARMUP_STEPS} for the warm-up; got {num_warmup} "
            "(give a `step_size` to kernel 'mala' or 'barker' to skip the adaptation)."
        )
    check_bounds(bounds)
    fixed = None if adapt or parts else _fixed_sampler(name, logdensity_fn, step_size, bounds)
    positions = _check_positions(positions, the_model, num_chains)

    start_time = time.perf_counter()
    key_init, key_chains = jax.random.split(key)
    if positions is None and parts is None:
        positions = the_model.init(key_init, num_chains or DEFAULT_NUM_CHAINS)
    info, setup, notes = None, None, ()
    if parts is not None:
        setup = _sgmcmc_setup(
            key_init,
            parts,
            name,
            batch_size,
            estimator,
            preconditioner,
            step_size,
            None if positions is None else positions,
            num_chains or DEFAULT_NUM_CHAINS,
        )
        sampler, start, burnin = setup.sampler, setup.start, num_warmup
        notes = _sg_notes(name, setup, parts, batch_size)
    elif adapt:
        sampler, start, info = warmup(
            key_chains,
            tuning,
            logdensity_fn,
            positions,
            num_warmup,
            target_acceptance=target_acceptance,
            bounds=bounds,
            preconditioner=preconditioner,
        )
        burnin = 0
    else:
        sampler, start, burnin = fixed, positions, num_warmup
    jax.block_until_ready(start)
    warmup_seconds = time.perf_counter() - start_time

    start_time = time.perf_counter()
    trace = run(
        key_chains,
        sampler,
        start,
        num_draws * thin,
        burnin=burnin,
        thin=thin,
        progress=progress,
        chunk_size=chunk_size,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
    )
    chains, _ = _shape(trace)
    draws_seconds = time.perf_counter() - start_time
    gate_start = time.perf_counter()

    def in_model_coordinates(trace: Trace) -> Trace:  # an SG run's draws are in z
        if setup is None:
            return trace
        return trace._replace(positions=setup.whitening.positions(trace.positions))

    verdict = convergence(in_model_coordinates(trace))
    while not verdict.converged and max_draws is not None and _shape(trace)[1] < max_draws:
        more = min(num_draws, max_draws - _shape(trace)[1])
        start_time = time.perf_counter()
        extra = run(
            key_chains,
            sampler,
            trace.final_state,
            more * thin,
            thin=thin,
            progress=progress,
            chunk_size=chunk_size,
        )
        trace = _concat(trace, extra)
        draws_seconds += time.perf_counter() - start_time
        verdict = convergence(in_model_coordinates(trace))
    steps = (_shape(trace)[1] * thin + burnin) * chains
    reported = getattr(trace.info, "num_grads", None)
    warmup_grads = 0 if info is None else info.num_grads
    if setup is not None:  # full-data gradient equivalents
        draw_grads, warmup_grads = steps * setup.grads_per_step, setup.warmup_grads
    elif reported is not None and thin == 1 and burnin == 0:  # exact: the kernel counts them
        draw_grads = int(np.sum(np.asarray(reported, np.int64)))
    else:
        per_step = (info.num_integration_steps if info is not None else None) or 1
        draw_grads = steps * per_step
    result = Sampled(
        trace=in_model_coordinates(trace),
        warmup=info,
        sampler=sampler,
        model=the_model,
        kernel=name,
        convergence=verdict,
        num_grads=GradientCount(warmup_grads, draw_grads),
        seconds={
            "warmup": warmup_seconds,
            "draws": draws_seconds,
            "gate": time.perf_counter() - gate_start,
        },
        notes=notes,
        step_fit=None if setup is None else setup.fit,
    )
    if warn and not verdict.converged:
        warnings.warn(
            f"jl.sample ({name}) did not converge: {'; '.join(verdict.failures)}. "
            f"Try {_advice(result)}. print(result) shows the report.",
            SamplingWarning,
            stacklevel=2,
        )
    return result


__all__ = [
    "AUTO_KERNEL",
    "DEFAULT_NUM_CHAINS",
    "KERNELS",
    "SGMCMC_KERNELS",
    "Convergence",
    "GradientCount",
    "Sampled",
    "StepFit",
    "convergence",
    "sample",
]
