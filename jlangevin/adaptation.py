"""MALA warm-up: step size by dual averaging, diagonal or dense preconditioner.

:func:`mala_warmup` runs all chains (``vmap``) through every warm-up step in
one compiled ``lax.scan`` and returns a ready :func:`jlangevin.mala` sampler and
the batched state to continue from with :func:`jlangevin.run`.

Windows follow Stan's (Carpenter et al. 2017)::

    | fast | slow 1 | slow 2 (x2) | slow 3 (x4) | ... | fast |
      step   step size and (co)variance of the       step
      size   draws of all chains pooled (Welford)    size

- the step-size scale ``ε`` is adapted throughout by dual averaging (Hoffman &
  Gelman 2014, ``γ = 0.05, t0 = 10, κ = 0.75``) on ``log ε`` toward the target
  acceptance, using the mean acceptance probability over chains;
- in each slow window the (co)variance of the draws of all chains is
  accumulated with Welford's algorithm; at the window's end it becomes the
  preconditioner ``M``, the accumulator is reset and dual averaging restarts
  from the current ``ε`` (``μ = log 10ε``);
- the last, fast window tunes ``ε`` for the final ``M``; the returned ``ε`` is
  the dual-averaging average of that window.

The MALA proposal is ``x + h M s(x) + sqrt(2h) M^(1/2) ξ`` with ``h = ε``: for
``preconditioner="diagonal"`` it is MALA's per-coordinate step ``h_i = ε M_ii``;
for ``"dense"`` it is MALA's ``cholesky=L`` option with ``M = L Lᵀ``.

Each window works in the coordinates whitened by the previous window's
preconditioner (``z = L⁻¹ x``, with ``L = I`` at first; a score there is
``Lᵀ s(x)``), and regularises its estimates there as Stan does in raw
coordinates (``n`` = pooled draws in the window)::

    Σ ← n/(n+5) Σ + 1e-3 · 5/(n+5) · I

so the regularisation is scale-free, and the new preconditioner is
``M = L M_z Lᵀ`` (``L ← L chol(M_z)``).

- ``"diagonal"``: ``M_z`` is the variance of the draws, per coordinate.
- ``"dense"``: first, both the covariance of the draws ``Σ_x`` and that of
  the scores ``Σ_s`` are shrunk toward their diagonals,
  ``(1-λ) Σ + λ diag(Σ)`` (``λ = shrinkage``, 0.01 by default): a window of
  ``n ≤ d`` draws gives a singular sample covariance. Then ``M_z`` is the
  matrix geometric mean of ``Σ_x`` and ``Σ_s⁻¹``, the ``M`` with
  ``M Σ_s M = Σ_x`` (Seyboldt et al. 2024). Both are the covariance ``C`` at
  stationarity on a Gaussian; the mean is exactly ``C`` on a Gaussian even
  from draws that have not explored the target yet (``Σ_s = C⁻¹ Σ_x C⁻¹``).
  This matters: MALA explores a direction that the preconditioner
  under-scales by a factor ``r`` only diffusively, so a covariance of the
  draws alone grows ``M`` there by ``O(εT)`` per window of ``T`` steps and
  needs far more warm-up on correlated, ill-conditioned targets (100-D
  rotated Gaussian with condition number ``10⁶``: no usable ``M`` after
  4,000 steps from draws alone; 2,000 steps suffice with the scores).

Keys are those of :func:`jlangevin.run`: chain ``c`` holds ``fold_in(key, c)``
and draws step ``t`` from it and its step count ``t``. The state returned has
``count = num_steps``, so ``jl.run`` with the same key continues with fresh
numbers.

References
----------
M. D. Hoffman and A. Gelman (2014). The No-U-Turn sampler: adaptively setting
path lengths in Hamiltonian Monte Carlo. JMLR 15 (dual averaging, sec. 3.2.1).
B. Carpenter et al. (2017). Stan: a probabilistic programming language. JSS 76
(and the Stan reference manual, "HMC algorithm parameters": adaptation windows).
G. O. Roberts and J. S. Rosenthal (1998). Optimal scaling of discrete
approximations to Langevin diffusions. JRSS B 60 (the 0.574 target).
A. Seyboldt, E. Carlson and B. Carpenter (2024). Preconditioning for
Hamiltonian Monte Carlo with Fisher divergence (the geometric-mean metric).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_int, as_positive, as_real
from jlangevin.gradients import check_position
from jlangevin.kernels import mala
from jlangevin.kernels._bounds import check_bounds, check_inside
from jlangevin.run import chain_keys_for, step_keys
from jlangevin.types import Array, ArrayTree, Bounds, LogDensityFn, PRNGKey, Sampler, ScoreFn

PRECONDITIONERS = ("diagonal", "dense")
MIN_WARMUP_STEPS = 20

# Dual averaging constants of Hoffman & Gelman (2014).
DA_GAMMA = 0.05
DA_T0 = 10.0
DA_KAPPA = 0.75


class WarmupInfo(NamedTuple):
    """What :func:`mala_warmup` found and how it got there.

    Attributes
    ----------
    step_size : the adapted scalar ``ε``.
    preconditioner : ``M`` over the raveled position: variances ``(d,)`` for
        ``"diagonal"``, the covariance ``(d, d)`` for ``"dense"``.
    cholesky : lower factor ``L`` of ``M`` (``"dense"``), else ``None``.
    acceptance_rate : ``(num_steps,)`` mean acceptance probability over chains
        at each warm-up step.
    step_size_trace : ``(num_steps,)`` the ``ε`` used at each warm-up step.
    diverged : ``(chains,)`` number of diverged (rejected non-finite) proposals.
    windows : the slow windows ``(start, end)`` in steps, end excluded.
    """

    step_size: Array
    preconditioner: Array
    cholesky: Array | None
    acceptance_rate: Array
    step_size_trace: Array
    diverged: Array
    windows: tuple[tuple[int, int], ...]


class DualAveraging(NamedTuple):
    """Dual-averaging state on ``log ε`` (Hoffman & Gelman 2014, Alg. 5)."""

    log_step: Array
    log_step_avg: Array
    error_avg: Array
    mu: Array
    count: Array


class Welford(NamedTuple):
    """Pooled running mean and (co)variance sums of whitened draws."""

    count: Array
    mean: Array
    m2: Array


class DenseStats(NamedTuple):
    """Window sums for the dense estimate: whitened draws and whitened scores."""

    draws: Welford
    scores: Welford


# --------------------------------------------------------------------------- #
# Pieces (pure, small)
# --------------------------------------------------------------------------- #
def window_schedule(
    num_steps: int,
    initial_buffer: int = 75,
    final_buffer: int = 150,
    base_window: int = 25,
) -> tuple[tuple[int, int], ...]:
    """Stan's slow windows ``(start, end)`` for ``num_steps`` warm-up steps.

    When the three defaults do not fit, they become 15% / 75% / 10% of
    ``num_steps``. The final fast window is 150 steps rather than Stan's 50:
    the mean acceptance of a few MALA chains is a noisy signal, and the
    dual-averaging average needs the longer window to land near the target.
    Each slow window doubles the previous one; a window whose successor would
    not fit before the final buffer extends to it.

    Examples
    --------
    >>> from jlangevin.adaptation import window_schedule
    >>> window_schedule(500)
    ((75, 100), (100, 150), (150, 350))
    """
    num_steps = as_int(num_steps, "num_steps")
    if num_steps < MIN_WARMUP_STEPS:
        raise ValueError(
            f"`num_steps` must be >= {MIN_WARMUP_STEPS} for the warm-up windows (an initial "
            f"fast window, at least one slow window and a final fast window); got {num_steps}."
        )
    initial_buffer = as_int(initial_buffer, "initial_buffer", minimum=0)
    final_buffer = as_int(final_buffer, "final_buffer", minimum=0)
    base_window = as_int(base_window, "base_window", minimum=1)
    if initial_buffer + base_window + final_buffer > num_steps:
        initial_buffer = int(0.15 * num_steps)
        final_buffer = int(0.1 * num_steps)
        base_window = num_steps - initial_buffer - final_buffer
    end_slow = num_steps - final_buffer
    windows = []
    start, size = initial_buffer, base_window
    while start < end_slow:
        end = start + size
        if end + 2 * size > end_slow:
            end = end_slow
        windows.append((start, end))
        start, size = end, 2 * size
    return tuple(windows)


def dual_averaging_init(step_size: Array) -> DualAveraging:
    """Start dual averaging at ``step_size`` with ``μ = log(10 ε)``.

    ``step_size`` is a positive finite scalar; its dtype (float32, or float64
    under ``jax_enable_x64``) is kept by the whole state.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import dual_averaging_init
    >>> float(dual_averaging_init(jnp.float32(1.0)).mu)  # log 10
    2.302585...
    """
    _check_scalar_array(step_size, "step_size", positive=True)
    log_step = jnp.log(step_size)
    zero = jnp.zeros_like(log_step)
    return DualAveraging(log_step, log_step, zero, jnp.log(10.0) + log_step, zero)


def dual_averaging_update(state: DualAveraging, acceptance: Array, target: float) -> DualAveraging:
    """One update of ``log ε`` toward ``target`` mean acceptance.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import dual_averaging_init, dual_averaging_update
    >>> state = dual_averaging_init(jnp.float32(1.0))
    >>> low = dual_averaging_update(state, jnp.float32(0.1), 0.574)  # too few accepted
    >>> high = dual_averaging_update(state, jnp.float32(0.9), 0.574)
    >>> bool(low.log_step < high.log_step)
    True
    """
    if not isinstance(state, DualAveraging):
        raise TypeError(f"`state` must be a DualAveraging state; got {type(state).__name__}.")
    _check_scalar_array(acceptance, "acceptance")
    target = _check_target_acceptance(target, "target")
    count = state.count + 1
    weight = 1.0 / (count + DA_T0)
    error_avg = (1.0 - weight) * state.error_avg + weight * (target - acceptance)
    log_step = state.mu - jnp.sqrt(count) / DA_GAMMA * error_avg
    eta = count ** (-DA_KAPPA)
    log_step_avg = eta * log_step + (1.0 - eta) * state.log_step_avg
    return DualAveraging(log_step, log_step_avg, error_avg, state.mu, count)


def welford_init(dim: int, dense: bool, dtype: Any) -> Welford:
    """Empty sums for draws of ``dim`` coordinates (a ``(dim, dim)`` ``m2`` when ``dense``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import welford_init
    >>> welford_init(3, True, jnp.float32).m2.shape
    (3, 3)
    """
    dim = as_int(dim, "dim", minimum=1)
    if not isinstance(dense, bool | np.bool_):
        raise TypeError(f"`dense` must be True or False; got {dense!r}.")
    try:
        floating = jnp.issubdtype(dtype, jnp.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"`dtype` must be a floating-point dtype; got {dtype!r}.")
    m2 = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return Welford(jnp.zeros((), dtype), jnp.zeros((dim,), dtype), m2)


def welford_update(stats: Welford, draws: Array) -> Welford:
    """Fold a batch of draws ``(chains, d)`` into the pooled sums (Chan et al.).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import welford_init, welford_update
    >>> stats = welford_update(welford_init(2, False, jnp.float32), jnp.ones((4, 2)))
    >>> float(stats.count), stats.mean.tolist()
    (4.0, [1.0, 1.0])
    """
    if not isinstance(stats, Welford):
        raise TypeError(f"`stats` must be Welford sums; got {type(stats).__name__}.")
    dim = stats.mean.shape[0]
    if jnp.ndim(draws) != 2 or jnp.shape(draws)[1] != dim:
        raise ValueError(f"`draws` must have shape (chains, {dim}); got {jnp.shape(draws)}.")
    draws = jnp.asarray(draws, stats.mean.dtype)
    batch = jnp.asarray(draws.shape[0], stats.count.dtype)
    count = stats.count + batch
    batch_mean = jnp.mean(draws, axis=0)
    centred = draws - batch_mean
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch / count
    cross = stats.count * batch / count
    if stats.m2.ndim == 2:
        m2 = stats.m2 + centred.T @ centred + cross * jnp.outer(delta, delta)
    else:
        m2 = stats.m2 + jnp.sum(centred**2, axis=0) + cross * delta**2
    return Welford(count, mean, m2)


def regularized_covariance(stats: Welford, shrinkage: float) -> Array:
    """Sample (co)variance of whitened draws, shrunk and regularised (see module doc).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import regularized_covariance, welford_init
    >>> regularized_covariance(welford_init(2, False, jnp.float32), 0.01).tolist()  # no draws
    [0.0010000000474974513, 0.0010000000474974513]
    """
    if not isinstance(stats, Welford):
        raise TypeError(f"`stats` must be Welford sums; got {type(stats).__name__}.")
    shrinkage = _check_shrinkage(shrinkage)
    n = stats.count
    cov = stats.m2 / jnp.maximum(n - 1.0, 1.0)
    if cov.ndim == 2:
        dim = cov.shape[0]
        cov = (1.0 - shrinkage) * cov + shrinkage * jnp.diag(jnp.diag(cov))
        eye = jnp.eye(dim, dtype=cov.dtype)
    else:
        eye = jnp.ones_like(cov)
    return (n / (n + 5.0)) * cov + 1e-3 * (5.0 / (n + 5.0)) * eye


def _sqrtm_psd(matrix: Array) -> tuple[Array, Array]:
    """Symmetric square root and inverse square root of a positive definite matrix."""
    vals, vecs = jnp.linalg.eigh(0.5 * (matrix + matrix.T))
    vals = jnp.maximum(vals, jnp.finfo(matrix.dtype).tiny)
    return (vecs * jnp.sqrt(vals)) @ vecs.T, (vecs / jnp.sqrt(vals)) @ vecs.T


def geometric_mean_metric(cov_draws: Array, cov_scores: Array) -> Array:
    """``M`` solving ``M Σ_s M = Σ_x``: the geometric mean of ``Σ_x`` and ``Σ_s⁻¹``.

    For a Gaussian target ``Σ_s = C⁻¹ Σ_x C⁻¹`` whatever the law of the draws,
    so ``M = C`` exactly even from draws that have not yet explored the target.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import geometric_mean_metric
    >>> geometric_mean_metric(4.0 * jnp.eye(2), jnp.eye(2)).tolist()
    [[2.0, 0.0], [0.0, 2.0]]
    """
    for name, matrix in (("cov_draws", cov_draws), ("cov_scores", cov_scores)):
        shape = jnp.shape(matrix)
        if len(shape) != 2 or shape[0] != shape[1] or shape != jnp.shape(cov_draws):
            raise ValueError(
                f"`{name}` must be a square matrix shaped like `cov_draws` "
                f"{jnp.shape(cov_draws)}; got shape {shape}."
            )
    root, inv_root = _sqrtm_psd(cov_scores)
    inner, _ = _sqrtm_psd(root @ cov_draws @ root)
    metric = inv_root @ inner @ inv_root
    return 0.5 * (metric + metric.T)


def _check_scalar_array(value: Any, name: str, positive: bool = False) -> None:
    """A 0-d real value; when concrete, finite (and positive if asked)."""
    if jnp.ndim(value) != 0 or not jnp.issubdtype(jnp.result_type(value), jnp.number):
        raise ValueError(f"`{name}` must be a real scalar; got shape {jnp.shape(value)}.")
    if isinstance(value, jax.core.Tracer):
        return
    number = float(value)
    if not np.isfinite(number) or (positive and number <= 0):
        kind = "positive and finite" if positive else "finite"
        raise ValueError(f"`{name}` must be {kind}; got {number}.")


def _check_target_acceptance(value: Any, name: str = "target_acceptance") -> float:
    number = as_real(value, name)
    if not 0.0 < number < 1.0:
        raise ValueError(f"`{name}` must lie in (0, 1); got {number}.")
    return number


def _check_shrinkage(value: Any) -> float:
    number = as_real(value, "shrinkage")
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"`shrinkage` must lie in [0, 1]; got {number}.")
    return number


def _num_chains(positions: Any) -> int:
    """The shared leading chain axis of ``positions`` (or of a batched state's position)."""
    tree = positions.position if isinstance(positions, mala.MALAState) else positions
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


def _initial_states(
    positions: Any, logdensity_fn: LogDensityFn, score_fn: ScoreFn | None, bounds: Bounds | None
) -> mala.MALAState:
    """Batched MALA states, with the concrete checks of ``jl.run``."""
    if isinstance(positions, mala.MALAState):
        check_position(positions.position, "positions")
        return positions
    check_position(positions, "positions")
    for leaf in jax.tree.leaves(positions):
        if not isinstance(leaf, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(leaf))):
            raise ValueError("`positions` holds non-finite (NaN or inf) values.")
    first = jax.tree.map(lambda x: x[0], positions)
    check_inside(first, bounds)
    mala.init(first, logdensity_fn, score_fn=score_fn)  # concrete errors name the argument
    states = jax.jit(
        jax.vmap(lambda p: mala.init(p, logdensity_fn, score_fn=score_fn, bounds=bounds))
    )(positions)
    bad = np.flatnonzero(~np.isfinite(np.asarray(states.logdensity)))
    if bad.size:
        raise ValueError(
            f"The log density is not finite at the initial positions of {bad.size} chains "
            f"(first: {bad[:5].tolist()}); start inside the support."
        )
    return states


def _step_flags(num_steps: int, windows: tuple[tuple[int, int], ...]) -> tuple[Array, Array]:
    collect = np.zeros(num_steps, bool)
    window_end = np.zeros(num_steps, bool)
    for start, end in windows:
        collect[start:end] = True
        window_end[end - 1] = True
    return jnp.asarray(collect), jnp.asarray(window_end)


# --------------------------------------------------------------------------- #
# The warm-up
# --------------------------------------------------------------------------- #
def mala_warmup(
    key: PRNGKey,
    logdensity_fn: LogDensityFn,
    positions: ArrayTree,
    num_steps: int,
    target_acceptance: float = 0.574,
    *,
    preconditioner: str = "diagonal",
    initial_step_size: float = 1.0,
    shrinkage: float = 0.01,
    score_fn: ScoreFn | None = None,
    bounds: Bounds | None = None,
) -> tuple[Sampler, mala.MALAState, WarmupInfo]:
    """Adapt MALA's step size and preconditioner across all chains at once.

    Parameters
    ----------
    key : a JAX random key; chain ``c`` draws what ``jl.run`` with this key would.
    logdensity_fn : ``position -> log p`` of one position (any pytree).
    positions : initial positions with a leading chain axis (``(chains, *event)``
        leaves), or a batched ``MALAState``.
    num_steps : warm-up steps, an integer >= 20 (the windows take their default
        sizes 75 / 25, 50, ... / 150 from 250 steps on; 1,000 or more is typical).
    target_acceptance : mean acceptance probability aimed at, in ``(0, 1)``;
        0.574 is optimal for MALA in high dimension (Roberts & Rosenthal 1998).
    preconditioner : ``"diagonal"`` (per-coordinate step ``ε · var_i``) or
        ``"dense"`` (full covariance through its Cholesky factor: for moderate
        dimensions, up to a few thousand, with correlated targets).
    initial_step_size : ``ε`` to start dual averaging from (with ``M = I``).
    shrinkage : ``λ`` in ``[0, 1]``, how far the dense estimates are shrunk toward
        their diagonals in each window (whitened coordinates).
    score_fn, bounds : as in :func:`jlangevin.mala`.

    Numbers may be Python, numpy or 0-d JAX scalars; the positions must be
    finite floating-point arrays. Every bad argument is a ``ValueError`` or
    ``TypeError`` naming it, raised before anything is compiled. Under
    ``jax_enable_x64`` float64 positions adapt in float64 (step size,
    preconditioner and state); float32 positions stay float32.

    Returns
    -------
    sampler : ``jl.mala(...)`` bound with the adapted step (``ε · var`` as a
        per-coordinate pytree, or ``ε`` with ``cholesky=L``).
    state : the batched ``MALAState`` after warm-up; pass it to ``jl.run``.
    info : :class:`WarmupInfo`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * jnp.sum((x / jnp.array([0.1, 10.0])) ** 2)
    >>> sampler, state, info = jl.adaptation.mala_warmup(
    ...     jax.random.key(0), logp, jnp.ones((4, 2)), num_steps=300)
    >>> trace = jl.run(jax.random.key(0), sampler, state, 1000)
    """
    if not callable(logdensity_fn):
        raise TypeError(
            "`logdensity_fn` must be a callable `position -> log p`; "
            f"got {type(logdensity_fn).__name__}."
        )
    if score_fn is not None and not callable(score_fn):
        raise TypeError(f"`score_fn` must be callable or None; got {type(score_fn).__name__}.")
    if not isinstance(preconditioner, str) or preconditioner not in PRECONDITIONERS:
        raise ValueError(
            f"`preconditioner` must be one of {PRECONDITIONERS}; got {preconditioner!r}."
        )
    target = _check_target_acceptance(target_acceptance)
    initial_step_size = as_positive(initial_step_size, "initial_step_size")
    shrinkage = _check_shrinkage(shrinkage)
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")
    check_bounds(bounds)
    leaves = jax.tree.leaves(positions)
    if isinstance(positions, list | tuple) and leaves and all(np.ndim(x) == 0 for x in leaves):
        positions = jnp.asarray(positions)  # a nested list of numbers is one array
    chain_keys = chain_keys_for(key, _num_chains(positions))

    states = _initial_states(positions, logdensity_fn, score_fn, bounds)
    one_position = jax.tree.map(lambda x: x[0], states.position)
    flat, unravel = ravel_pytree(one_position)
    dim, dtype = flat.size, flat.dtype
    dense = preconditioner == "dense"
    collect, window_end = _step_flags(num_steps, windows)

    run_warmup = _build_warmup(
        logdensity_fn, score_fn, bounds, unravel, dim, dtype, dense, target, shrinkage
    )
    states, (step_size, factor, accept, eps_trace, diverged) = run_warmup(
        chain_keys, states, jnp.asarray(initial_step_size, dtype), collect, window_end
    )

    if dense:
        cholesky = factor
        precond = factor @ factor.T
        sampler = mala.sampler(
            logdensity_fn,
            step_size,
            score_fn=score_fn,
            bounds=bounds,
            cholesky=cholesky,
        )
    else:
        cholesky = None
        precond = factor**2
        sampler = mala.sampler(
            logdensity_fn, unravel(step_size * precond), score_fn=score_fn, bounds=bounds
        )
    info = WarmupInfo(step_size, precond, cholesky, accept, eps_trace, diverged, windows)
    return sampler, states, info


def _build_warmup(
    logdensity_fn: LogDensityFn,
    score_fn: ScoreFn | None,
    bounds: Bounds | None,
    unravel: Any,
    dim: int,
    dtype: Any,
    dense: bool,
    target: float,
    shrinkage: float,
):
    """The jitted warm-up loop for these (static) settings.

    The preconditioner is carried as its square root ``L`` (a lower factor
    ``(d, d)`` when dense, per-coordinate standard deviations ``(d,)`` when
    diagonal), so whitening is ``L⁻¹ x`` in both cases.
    """

    def mala_step(key, state, eps, root):
        if dense:
            return mala.step(
                key, state, logdensity_fn, eps, score_fn=score_fn, bounds=bounds, cholesky=root
            )
        return mala.step(
            key, state, logdensity_fn, unravel(eps * root**2), score_fn=score_fn, bounds=bounds
        )

    def whiten(flat_positions, root):
        if dense:
            return jax.scipy.linalg.solve_triangular(root, flat_positions.T, lower=True).T
        return flat_positions / root

    def empty_stats():
        if dense:
            return DenseStats(welford_init(dim, True, dtype), welford_init(dim, True, dtype))
        return welford_init(dim, False, dtype)

    def collect_stats(stats, states, root):
        flat_positions = jax.vmap(lambda p: ravel_pytree(p)[0])(states.position)
        if not dense:
            return welford_update(stats, whiten(flat_positions, root))
        # The score of z = L⁻¹ x is Lᵀ s(x).
        flat_scores = jax.vmap(lambda p: ravel_pytree(p)[0])(states.score)
        return DenseStats(
            welford_update(stats.draws, whiten(flat_positions, root)),
            welford_update(stats.scores, flat_scores @ root),
        )

    def new_root(stats, root):
        if dense:
            cov_draws = regularized_covariance(stats.draws, shrinkage)
            cov_scores = regularized_covariance(stats.scores, shrinkage)
            metric = geometric_mean_metric(cov_draws, cov_scores)
            return root @ jnp.linalg.cholesky(metric)
        return root * jnp.sqrt(regularized_covariance(stats, shrinkage))

    def body(carry, flags):
        states, da, stats, root, diverged, chain_keys = carry
        collect, window_end = flags
        eps = jnp.exp(da.log_step)
        keys = step_keys(chain_keys, states.count)
        states, infos = jax.vmap(mala_step, (0, 0, None, None))(keys, states, eps, root)
        acceptance = jnp.mean(infos.acceptance_rate)
        da = dual_averaging_update(da, acceptance.astype(dtype), target)
        stats = jax.lax.cond(collect, lambda s: collect_stats(s, states, root), lambda s: s, stats)

        def end_window(args):
            da, stats, root = args
            restart = dual_averaging_init(jnp.exp(da.log_step_avg))
            return restart, empty_stats(), new_root(stats, root)

        da, stats, root = jax.lax.cond(window_end, end_window, lambda a: a, (da, stats, root))
        diverged = diverged + infos.diverged.astype(diverged.dtype)
        return (states, da, stats, root, diverged, chain_keys), (acceptance, eps)

    @jax.jit
    def run_warmup(chain_keys, states, initial_step, collect, window_end):
        num_chains = chain_keys.shape[0]
        root = jnp.eye(dim, dtype=dtype) if dense else jnp.ones((dim,), dtype)
        carry = (
            states,
            dual_averaging_init(initial_step),
            empty_stats(),
            root,
            jnp.zeros((num_chains,), jnp.int32),
            chain_keys,
        )
        carry, (accept, eps_trace) = jax.lax.scan(body, carry, (collect, window_end))
        states, da, _, root, diverged, _ = carry
        return states, (jnp.exp(da.log_step_avg), root, accept, eps_trace, diverged)

    return run_warmup


__all__ = [
    "PRECONDITIONERS",
    "DenseStats",
    "DualAveraging",
    "WarmupInfo",
    "Welford",
    "dual_averaging_init",
    "dual_averaging_update",
    "geometric_mean_metric",
    "mala_warmup",
    "regularized_covariance",
    "welford_init",
    "welford_update",
    "window_schedule",
]
