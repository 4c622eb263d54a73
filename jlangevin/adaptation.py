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

Real posteriors: at the end of the initial fast window and of each slow window
the chains are checked (:func:`chain_health`); a chain that is stuck (accepted
almost nothing over the stretch) or far below the others in log density is
restarted from a healthy chain's state, and its mean is left out of the
window's (co)variance, so pooled dual averaging does not shrink every chain's
step to serve chains that cannot move. The dense estimates stay finite in
float32: eigenvalues are floored relative to the largest (``10 eps``), the
geometric mean is taken after a diagonal rescaling, the Cholesky factor falls
back to the diagonal, and an unusable window keeps the previous preconditioner.

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

import functools
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jlangevin._checks import as_flag, as_int, as_positive, as_real
from jlangevin.gradients import check_position
from jlangevin.kernels import mala
from jlangevin.kernels._bounds import check_bounds, check_inside
from jlangevin.run import SamplingWarning, chain_keys_for, step_keys
from jlangevin.types import Array, ArrayTree, Bounds, LogDensityFn, PRNGKey, Sampler, ScoreFn

PRECONDITIONERS = ("diagonal", "dense")
MIN_WARMUP_STEPS = 20

# Dual averaging constants of Hoffman & Gelman (2014).
DA_GAMMA = 0.05
DA_T0 = 10.0
DA_KAPPA = 0.75

# Chain health at each check (the end of the initial fast window and of each slow window).
#: A chain is stuck when its mean acceptance over the stretch is below
#: ``min(STUCK_ACCEPTANCE, STUCK_RATIO * q75)``, ``q75`` the chains' upper quartile.
STUCK_ACCEPTANCE = 0.05
STUCK_RATIO = 0.1
#: A chain is a far outlier when its log density is more than ``OUTLIER_MADS``
#: robust standard deviations (``1.4826 MAD``, at least ``OUTLIER_MIN_SCALE`` nats)
#: below the chains' median.
OUTLIER_MADS = 10.0
OUTLIER_MIN_SCALE = 1.0


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
    chain_acceptance_rate : ``(chains,)`` each chain's mean acceptance
        probability over the whole warm-up.
    window_acceptance_rate : ``(checks, chains)`` each chain's mean acceptance
        probability over each stretch between checks (the initial fast window,
        then each slow window); the rows end at :attr:`check_steps`.
    check_steps : the steps (end excluded) at which chains were checked.
    restarted : ``(chains,)`` how many times each chain was restarted from a
        healthy one (see :func:`mala_warmup`).
    num_restarted : restarts over all chains and checks (a Python int).
    num_stuck, num_outliers : how many of those restarts were for a stuck chain
        and for a far outlier in log density.
    """

    step_size: Array
    preconditioner: Array
    cholesky: Array | None
    acceptance_rate: Array
    step_size_trace: Array
    diverged: Array
    windows: tuple[tuple[int, int], ...]
    chain_acceptance_rate: Array | None = None
    window_acceptance_rate: Array | None = None
    check_steps: tuple[int, ...] = ()
    restarted: Array | None = None
    num_restarted: int = 0
    num_stuck: int = 0
    num_outliers: int = 0


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


def _eig_floor(dtype: Any) -> float:
    """Relative eigenvalue floor: ``10 eps`` (1.2e-6 in float32, 2.2e-15 in float64).

    Eigenvalues below ``eps · λ_max`` are rounding noise in ``eigh``; flooring them
    relative to the largest keeps every derived root finite and well conditioned.
    """
    return 10.0 * float(jnp.finfo(dtype).eps)


def _symmetric_power(matrix: Array, power: float) -> Array:
    """``matrix**power`` of a symmetric PSD matrix by ``eigh`` of ``matrix / max|diag|``."""
    dtype = matrix.dtype
    tiny = jnp.finfo(dtype).tiny
    sym = 0.5 * (matrix + matrix.T)
    scale = jnp.maximum(jnp.max(jnp.abs(jnp.diag(sym))), tiny)
    vals, vecs = jnp.linalg.eigh(sym / scale)
    vals = jnp.maximum(vals, _eig_floor(dtype) * jnp.maximum(jnp.max(vals), tiny))
    return (vecs * vals**power) @ vecs.T * scale**power


def _correlation(matrix: Array) -> tuple[Array, Array, Array]:
    """``(d, V, w)``: ``matrix = d dᵀ ⊙ R``, ``R = V diag(w) Vᵀ`` (unit diagonal, ``w`` floored)."""
    dtype = matrix.dtype
    tiny = jnp.finfo(dtype).tiny
    sym = 0.5 * (matrix + matrix.T)
    diag = jnp.diag(sym)
    diag = jnp.maximum(diag, _eig_floor(dtype) * jnp.maximum(jnp.max(diag), tiny))
    scale = jnp.sqrt(jnp.maximum(diag, tiny))
    corr = sym / jnp.outer(scale, scale)
    vals, vecs = jnp.linalg.eigh(corr)
    vals = jnp.maximum(vals, _eig_floor(dtype) * jnp.maximum(jnp.max(vals), tiny))
    return scale, vecs, vals


def _sqrtm_psd(matrix: Array, stable: bool = True) -> tuple[Array, Array]:
    """Symmetric square root and inverse square root of a positive semi-definite matrix.

    Both come from ``eigh`` with eigenvalues floored relative to the largest
    (:func:`_eig_floor`). The root is that of ``matrix``; the inverse root is the
    root of ``matrix⁻¹``, itself formed through the correlation matrix
    (``matrix = D R D``): the small eigenvalues of an ill-scaled matrix, lost to
    rounding in ``eigh(matrix)`` (float32: ``eps · λ_max``), are the large ones
    of ``D⁻¹ R⁻¹ D⁻¹``. ``stable=False`` is the former version (an absolute floor
    at ``finfo.tiny``), kept for the tests' broken companion.
    """
    if not stable:
        vals, vecs = jnp.linalg.eigh(0.5 * (matrix + matrix.T))
        vals = jnp.maximum(vals, jnp.finfo(matrix.dtype).tiny)
        return (vecs * jnp.sqrt(vals)) @ vecs.T, (vecs / jnp.sqrt(vals)) @ vecs.T
    scale, vecs, vals = _correlation(matrix)
    inverse = ((vecs / vals) @ vecs.T) / jnp.outer(scale, scale)
    return _symmetric_power(matrix, 0.5), _symmetric_power(inverse, 0.5)


def stable_cholesky(matrix: Array) -> Array:
    """A lower Cholesky factor of a symmetric PSD ``matrix`` that is never NaN.

    The matrix is rescaled to its correlation matrix, whose eigenvalues are
    floored at ``10 eps`` of the largest before the factorisation (so
    ``L Lᵀ`` is the nearest such positive definite matrix); should the
    factorisation still fail, the diagonal factor ``sqrt(diag)`` is returned.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import stable_cholesky
    >>> bool(jnp.all(jnp.isfinite(stable_cholesky(jnp.ones((3, 3))))))  # singular
    True
    """
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"`matrix` must be a square matrix; got shape {matrix.shape}.")
    scale, vecs, vals = _correlation(matrix)
    corr = (vecs * vals) @ vecs.T
    corr = 0.5 * (corr + corr.T)
    lower = jnp.linalg.cholesky(corr)
    diagonal = jnp.diag(jnp.sqrt(jnp.maximum(jnp.diag(corr), jnp.finfo(matrix.dtype).tiny)))
    lower = jnp.where(jnp.all(jnp.isfinite(lower)), lower, diagonal)
    return scale[:, None] * lower


def geometric_mean_metric(cov_draws: Array, cov_scores: Array, *, stable: bool = True) -> Array:
    """``M`` solving ``M Σ_s M = Σ_x``: the geometric mean of ``Σ_x`` and ``Σ_s⁻¹``.

    For a Gaussian target ``Σ_s = C⁻¹ Σ_x C⁻¹`` whatever the law of the draws,
    so ``M = C`` exactly even from draws that have not yet explored the target.

    The mean is congruence-invariant (``(DAD) # (DBD) = D (A # B) D``), so it is
    computed after the diagonal rescaling ``D = diag(Σ_x / Σ_s)^(1/4)`` that
    solves the problem coordinate by coordinate: what is left is well scaled
    even when the target's scales span many orders of magnitude (float32).

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
    cov_draws, cov_scores = jnp.asarray(cov_draws), jnp.asarray(cov_scores)
    if not stable:
        root, inv_root = _sqrtm_psd(cov_scores, stable=False)
        inner, _ = _sqrtm_psd(root @ cov_draws @ root, stable=False)
        metric = inv_root @ inner @ inv_root
        return 0.5 * (metric + metric.T)
    tiny = jnp.finfo(cov_draws.dtype).tiny
    var_draws = jnp.maximum(jnp.diag(cov_draws), tiny)
    var_scores = jnp.maximum(jnp.diag(cov_scores), tiny)
    d = (var_draws / var_scores) ** 0.25
    scores = cov_scores * jnp.outer(d, d)
    draws = cov_draws / jnp.outer(d, d)
    root, inv_root = _sqrtm_psd(scores)
    inner = _symmetric_power(root @ draws @ root, 0.5)
    metric = (inv_root @ inner @ inv_root) * jnp.outer(d, d)
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


def _step_flags(
    num_steps: int, windows: tuple[tuple[int, int], ...]
) -> tuple[Array, Array, Array, tuple[int, ...]]:
    """Per-step flags: collect draws, end a slow window, check the chains; the check steps."""
    collect = np.zeros(num_steps, bool)
    window_end = np.zeros(num_steps, bool)
    for start, end in windows:
        collect[start:end] = True
        window_end[end - 1] = True
    check = window_end.copy()
    if windows and windows[0][0] > 0:
        check[windows[0][0] - 1] = True  # the end of the initial fast window
    checks = tuple(int(i) + 1 for i in np.flatnonzero(check))
    return jnp.asarray(collect), jnp.asarray(window_end), jnp.asarray(check), checks


class ChainSums(NamedTuple):
    """Per-chain Welford means and the pooled within-chain sums of one window.

    Keeping each chain's mean lets a window end pool only the healthy chains:
    a chain stuck far away would otherwise enter the (co)variance through its
    mean (it adds nothing within-chain, since it does not move).
    """

    count: Array
    means: Array
    within: Array


def _chain_sums_init(num_chains: int, dim: int, dense: bool, dtype: Any) -> ChainSums:
    within = jnp.zeros((dim, dim) if dense else (dim,), dtype)
    return ChainSums(jnp.zeros((), dtype), jnp.zeros((num_chains, dim), dtype), within)


def _chain_sums_update(sums: ChainSums, draws: Array) -> ChainSums:
    count = sums.count + 1.0
    delta = draws - sums.means
    means = sums.means + delta / count
    after = draws - means
    if sums.within.ndim == 2:
        within = sums.within + 0.5 * (delta.T @ after + after.T @ delta)
    else:
        within = sums.within + jnp.sum(delta * after, axis=0)
    return ChainSums(count, means, within)


def _pooled(sums: ChainSums, healthy: Array) -> Welford:
    """Pooled Welford sums of the window, the chains' means taken over ``healthy`` only."""
    num_chains = sums.means.shape[0]
    weight = healthy.astype(sums.means.dtype)
    mean = weight @ sums.means / jnp.maximum(jnp.sum(weight), 1.0)
    dev = (sums.means - mean) * jnp.sqrt(weight)[:, None]
    between = dev.T @ dev if sums.within.ndim == 2 else jnp.sum(dev**2, axis=0)
    return Welford(sums.count * num_chains, mean, sums.within + sums.count * between)


def chain_health(acceptance: Array, logdensity: Array) -> tuple[Array, Array]:
    """Which chains are stuck and which are far outliers, from one stretch of warm-up.

    ``stuck``: mean acceptance below ``min(0.05, 0.1 q75)`` (``q75`` the upper
    quartile over chains), so a stuck minority is found even when most chains
    accept little. ``outlier``: log density more than 10 robust standard
    deviations (``1.4826 MAD``, at least 1 nat) below the median, or not finite.
    When more than a quarter of the chains accept nothing, ``q75`` is small and
    nothing is called stuck: the step size is then the problem, not the chains.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jlangevin.adaptation import chain_health
    >>> stuck, outlier = chain_health(jnp.array([0.6, 0.0, 0.5, 0.7, 0.6]),
    ...                               jnp.array([-3.0, -2.0, -500.0, -2.5, -4.0]))
    >>> stuck.tolist(), outlier.tolist()
    ([False, True, False, False, False], [False, False, True, False, False])
    """
    acceptance, logdensity = jnp.asarray(acceptance), jnp.asarray(logdensity)
    reference = jnp.quantile(acceptance, 0.75)
    stuck = acceptance < jnp.minimum(STUCK_ACCEPTANCE, STUCK_RATIO * reference)
    finite = jnp.isfinite(logdensity)
    safe = jnp.where(finite, logdensity, jnp.nanmin(jnp.where(finite, logdensity, jnp.nan)))
    median = jnp.median(safe)
    spread = jnp.maximum(1.4826 * jnp.median(jnp.abs(safe - median)), OUTLIER_MIN_SCALE)
    outlier = (~finite | (safe < median - OUTLIER_MADS * spread)) & ~stuck
    return stuck, outlier


def _restart_chains(key: PRNGKey, states: mala.MALAState, bad: Array) -> mala.MALAState:
    """Each ``bad`` chain takes the state of a healthy chain drawn from ``key`` (own count kept)."""
    num_chains = bad.shape[0]
    healthy = ~bad
    num_healthy = jnp.sum(healthy)
    healthy_ids = jnp.nonzero(healthy, size=num_chains, fill_value=0)[0]
    pick = jax.random.randint(key, (num_chains,), 0, jnp.maximum(num_healthy, 1))
    source = jnp.where(bad & (num_healthy > 0), healthy_ids[pick], jnp.arange(num_chains))
    moved = jax.tree.map(lambda x: x[source], states)
    return moved._replace(count=states.count)


def _warn_restarts(num_restarted: int, num_stuck: int, num_outliers: int, num_chains: int):
    reasons = []
    if num_stuck:
        reasons.append(
            f"{num_stuck} stuck (mean acceptance under min({STUCK_ACCEPTANCE}, "
            f"{STUCK_RATIO} x the chains' upper quartile) over a window)"
        )
    if num_outliers:
        reasons.append(
            f"{num_outliers} far below the others' log density (over {OUTLIER_MADS:g} robust "
            "standard deviations under the median)"
        )
    warnings.warn(
        f"mala_warmup: restarted {num_restarted} chain(s) of {num_chains} at warm-up window ends "
        f"from healthy chains: {'; '.join(reasons)}. The draws are fine to use; restarts "
        "usually mean starting points far from the posterior (try starting nearer it, e.g. "
        "the model's own init) or a multimodal target. `info.restarted` says which chains.",
        SamplingWarning,
        stacklevel=4,
    )


def _check_adapted(step_size: Array, factor: Array, dense: bool) -> None:
    """The adapted step and preconditioner are usable, else a ValueError naming warm-up."""
    eps = float(step_size)
    hint = (
        "Try a smaller `initial_step_size`, preconditioner='diagonal', more warm-up steps, "
        "starting points nearer the posterior, or float64 (jax.config.update("
        "'jax_enable_x64', True) with float64 positions)."
    )
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(
            f"MALA warm-up failed: the adapted step size is {eps}, not positive and finite "
            f"(the chains' acceptance never settled). {hint}"
        )
    if not np.all(np.isfinite(np.asarray(factor))):
        kind = "Cholesky factor" if dense else "per-coordinate scales"
        raise ValueError(f"MALA warm-up failed: the adapted {kind} is not finite. {hint}")


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
    restart_chains: bool = True,
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
    restart_chains : check the chains at the end of the initial fast window and
        of every slow window (default ``True``). A chain that is stuck (accepted
        almost nothing over the stretch) or a far outlier (log density far below
        the others', see :func:`chain_health`) is restarted from the current
        state of a healthy chain, drawn from ``key``; its mean is left out of
        the window's (co)variance. Pooled dual averaging would otherwise shrink
        the step for every chain to serve the stuck ones, which stay stuck.
        One :class:`~jlangevin.SamplingWarning` gives the counts;
        :class:`WarmupInfo` records them and the per-chain acceptance.

    Returns
    -------
    sampler : ``jl.mala(...)`` bound with the adapted step (``ε · var`` as a
        per-coordinate pytree, or ``ε`` with ``cholesky=L``).
    state : the batched ``MALAState`` after warm-up; pass it to ``jl.run``.
    info : :class:`WarmupInfo`.

    Notes
    -----
    Numbers may be Python, numpy or 0-d JAX scalars; the positions must be
    finite floating-point arrays. Every bad argument is a ``ValueError`` or
    ``TypeError`` naming it, raised before anything is compiled. Under
    ``jax_enable_x64`` float64 positions adapt in float64 (step size,
    preconditioner and state); float32 positions stay float32. The dense
    estimates are formed in rescaled coordinates with eigenvalues floored
    relative to the largest and a Cholesky that falls back to the diagonal, so
    they stay finite in float32; an adapted step size that is still not
    positive and finite is a ``ValueError`` saying what to try.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> logp = lambda x: -0.5 * jnp.sum((x / jnp.array([0.1, 10.0])) ** 2)
    >>> sampler, state, info = jl.adaptation.mala_warmup(
    ...     jax.random.key(0), logp, jnp.ones((4, 2)), num_steps=300)
    >>> trace = jl.run(jax.random.key(0), sampler, state, 1000)
    >>> info.chain_acceptance_rate.shape, info.num_restarted
    ((4,), 0)
    """
    return _mala_warmup(
        key,
        logdensity_fn,
        positions,
        num_steps,
        target_acceptance,
        preconditioner=preconditioner,
        initial_step_size=initial_step_size,
        shrinkage=shrinkage,
        score_fn=score_fn,
        bounds=bounds,
        restart_chains=restart_chains,
    )


def _mala_warmup(
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
    restart_chains: bool = True,
    stable_metric: bool = True,
    check_result: bool = True,
) -> tuple[Sampler, mala.MALAState, WarmupInfo]:
    """:func:`mala_warmup`, plus the former numerics (``stable_metric=False``: absolute
    eigenvalue floor, plain Cholesky) and no final check, for the tests' broken companions."""
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
    restart_chains = as_flag(restart_chains, "restart_chains")
    windows = window_schedule(num_steps)
    num_steps = as_int(num_steps, "num_steps")
    check_bounds(bounds)
    leaves = jax.tree.leaves(positions)
    if isinstance(positions, list | tuple) and leaves and all(np.ndim(x) == 0 for x in leaves):
        positions = jnp.asarray(positions)  # a nested list of numbers is one array
    num_chains = _num_chains(positions)
    chain_keys = chain_keys_for(key, num_chains)
    # Not a key any chain uses: chain keys are fold_in(key, c).
    restart_key = jax.random.split(key if _is_typed_key(key) else jax.random.wrap_key_data(key))[1]

    states = _initial_states(positions, logdensity_fn, score_fn, bounds)
    one_position = jax.tree.map(lambda x: x[0], states.position)
    flat, unravel = ravel_pytree(one_position)
    dim, dtype = flat.size, flat.dtype
    dense = preconditioner == "dense"
    collect, window_end, check, _ = _step_flags(num_steps, windows)
    check = check & restart_chains

    layout = _Layout(
        jax.tree.structure(one_position),
        tuple((np.shape(x), jnp.result_type(x)) for x in jax.tree.leaves(one_position)),
    )
    settings = (logdensity_fn, score_fn, bounds, layout, dim, dtype, dense, target, shrinkage)
    try:  # the same model and settings again: the compiled warm-up is reused
        run_warmup = _cached_warmup(*settings, stable_metric)
    except TypeError as err:  # unhashable settings (array bounds, say): build it afresh
        if "unhashable" not in str(err):
            raise
        run_warmup = _build_warmup(*settings, stable_metric)
    states, out = run_warmup(
        chain_keys,
        restart_key,
        states,
        jnp.asarray(initial_step_size, dtype),
        (collect, window_end, check),
    )
    step_size, factor, accept, eps_trace, diverged, health = out
    chain_accept, window_accept, restarted, num_stuck, num_outliers = health
    if check_result:
        _check_adapted(step_size, factor, dense)
    num_stuck, num_outliers = int(num_stuck), int(num_outliers)
    num_restarted = num_stuck + num_outliers
    if num_restarted:
        _warn_restarts(num_restarted, num_stuck, num_outliers, num_chains)
    checked = np.asarray(check)
    window_accept = window_accept[np.flatnonzero(checked)]
    check_steps = tuple(int(i) + 1 for i in np.flatnonzero(checked))

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
    info = WarmupInfo(
        step_size,
        precond,
        cholesky,
        accept,
        eps_trace,
        diverged,
        windows,
        chain_acceptance_rate=chain_accept,
        window_acceptance_rate=window_accept,
        check_steps=check_steps,
        restarted=restarted,
        num_restarted=num_restarted,
        num_stuck=num_stuck,
        num_outliers=num_outliers,
    )
    return sampler, states, info


def _is_typed_key(key: Any) -> bool:
    dtype = getattr(key, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


class _Layout(NamedTuple):
    """One chain's position as a hashable key: the tree and its leaves' shapes and dtypes."""

    tree: Any
    leaves: tuple[tuple[tuple[int, ...], Any], ...]

    def unravel(self) -> Callable[[Array], ArrayTree]:
        zeros = [jnp.zeros(shape, dtype) for shape, dtype in self.leaves]
        return ravel_pytree(jax.tree.unflatten(self.tree, zeros))[1]


def _build_warmup(
    logdensity_fn: LogDensityFn,
    score_fn: ScoreFn | None,
    bounds: Bounds | None,
    layout: _Layout,
    dim: int,
    dtype: Any,
    dense: bool,
    target: float,
    shrinkage: float,
    stable_metric: bool = True,
):
    """The jitted warm-up loop for these (static) settings.

    Built once per model and settings (:data:`_cached_warmup`). The preconditioner is
    carried as its square root ``L`` (a lower factor
    ``(d, d)`` when dense, per-coordinate standard deviations ``(d,)`` when
    diagonal), so whitening is ``L⁻¹ x`` in both cases. Dense: the pair
    ``(L, L⁻¹)``, the inverse made once per window, so no step solves with ``L``.
    """

    unravel = layout.unravel()

    def mala_step(key, state, eps, root):
        if dense:
            lower, inverse = root
            return mala.step(
                key,
                state,
                logdensity_fn,
                eps,
                score_fn=score_fn,
                bounds=bounds,
                cholesky=lower,
                inverse=inverse,
            )
        return mala.step(
            key, state, logdensity_fn, unravel(eps * root**2), score_fn=score_fn, bounds=bounds
        )

    def whiten(flat_positions, root):
        if dense:
            return flat_positions @ root[1].T
        return flat_positions / root

    def empty_stats(num_chains):
        if dense:
            return DenseStats(
                _chain_sums_init(num_chains, dim, True, dtype),
                _chain_sums_init(num_chains, dim, True, dtype),
            )
        return _chain_sums_init(num_chains, dim, False, dtype)

    def collect_stats(stats, states, root):
        flat_positions = jax.vmap(lambda p: ravel_pytree(p)[0])(states.position)
        if not dense:
            return _chain_sums_update(stats, whiten(flat_positions, root))
        # The score of z = L⁻¹ x is Lᵀ s(x).
        flat_scores = jax.vmap(lambda p: ravel_pytree(p)[0])(states.score)
        return DenseStats(
            _chain_sums_update(stats.draws, whiten(flat_positions, root)),
            _chain_sums_update(stats.scores, flat_scores @ root[0]),
        )

    def new_root(stats, root, healthy):
        if dense:
            cov_draws = regularized_covariance(_pooled(stats.draws, healthy), shrinkage)
            cov_scores = regularized_covariance(_pooled(stats.scores, healthy), shrinkage)
            metric = geometric_mean_metric(cov_draws, cov_scores, stable=stable_metric)
            factor = stable_cholesky(metric) if stable_metric else jnp.linalg.cholesky(metric)
            updated = root[0] @ factor
        else:
            updated = root * jnp.sqrt(regularized_covariance(_pooled(stats, healthy), shrinkage))
        if not stable_metric:
            return (updated, mala.inverse_cholesky(updated)) if dense else updated
        # A window whose estimate is unusable keeps the previous preconditioner.
        ok = jnp.all(jnp.isfinite(updated)) & jnp.all(
            jnp.diagonal(updated) > 0 if dense else updated > 0
        )
        if dense:
            lower = jnp.where(ok, updated, root[0])
            return lower, mala.inverse_cholesky(lower)
        return jnp.where(ok, updated, root)

    def body(carry, flags):
        states, da, stats, root, diverged, accept_sum, window_sum, window_len, health = carry
        restarted, num_stuck, num_outliers, chain_keys, restart_key = health
        step, (collect, window_end, check) = flags
        eps = jnp.exp(da.log_step)
        keys = step_keys(chain_keys, states.count)
        states, infos = jax.vmap(mala_step, (0, 0, None, None))(keys, states, eps, root)
        chain_accept = infos.acceptance_rate.astype(dtype)
        acceptance = jnp.mean(chain_accept)
        accept_sum = accept_sum + chain_accept
        window_sum = window_sum + chain_accept
        window_len = window_len + 1.0
        da = dual_averaging_update(da, acceptance, target)
        stats = jax.lax.cond(collect, lambda s: collect_stats(s, states, root), lambda s: s, stats)

        window_accept = window_sum / window_len
        stuck, outlier = chain_health(window_accept, states.logdensity)
        bad = (stuck | outlier) & check & (jnp.sum(~(stuck | outlier)) > 0)
        healthy = ~bad

        def end_window(args):
            da, stats, root = args
            restart = dual_averaging_init(jnp.exp(da.log_step_avg))
            return restart, empty_stats(chain_keys.shape[0]), new_root(stats, root, healthy)

        da, stats, root = jax.lax.cond(window_end, end_window, lambda a: a, (da, stats, root))
        any_bad = jnp.any(bad)
        # Restarted chains at the initial window's end: dual averaging restarts too.
        da = jax.lax.cond(
            any_bad & ~window_end,
            lambda d: dual_averaging_init(jnp.exp(d.log_step_avg)),
            lambda d: d,
            da,
        )
        states = jax.lax.cond(
            any_bad,
            lambda s: _restart_chains(jax.random.fold_in(restart_key, step), s, bad),
            lambda s: s,
            states,
        )
        restarted = restarted + bad.astype(restarted.dtype)
        num_stuck = num_stuck + jnp.sum(bad & stuck, dtype=jnp.int32)
        num_outliers = num_outliers + jnp.sum(bad & outlier, dtype=jnp.int32)
        reset = check | window_end
        window_sum = jnp.where(reset, jnp.zeros_like(window_sum), window_sum)
        window_len = jnp.where(reset, jnp.zeros_like(window_len), window_len)
        diverged = diverged + infos.diverged.astype(diverged.dtype)
        health = (restarted, num_stuck, num_outliers, chain_keys, restart_key)
        carry = (states, da, stats, root, diverged, accept_sum, window_sum, window_len, health)
        return carry, (acceptance, eps, window_accept)

    @jax.jit
    def run_warmup(chain_keys, restart_key, states, initial_step, flags):
        num_chains = chain_keys.shape[0]
        num_steps = flags[0].shape[0]
        eye = jnp.eye(dim, dtype=dtype)
        root = (eye, eye) if dense else jnp.ones((dim,), dtype)
        zeros = jnp.zeros((num_chains,), dtype)
        counts = jnp.zeros((num_chains,), jnp.int32)
        health = (
            counts,
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32),
            chain_keys,
            restart_key,
        )
        carry = (
            states,
            dual_averaging_init(initial_step),
            empty_stats(num_chains),
            root,
            counts,
            zeros,
            zeros,
            jnp.zeros((), dtype),
            health,
        )
        steps = jnp.arange(num_steps, dtype=jnp.uint32)
        carry, (accept, eps_trace, window_accept) = jax.lax.scan(body, carry, (steps, flags))
        states, da, _, root, diverged, accept_sum, _, _, health = carry
        root = root[0] if dense else root
        restarted, num_stuck, num_outliers, _, _ = health
        summary = (accept_sum / num_steps, window_accept, restarted, num_stuck, num_outliers)
        return states, (jnp.exp(da.log_step_avg), root, accept, eps_trace, diverged, summary)

    return run_warmup


_cached_warmup = functools.lru_cache(maxsize=32)(_build_warmup)


__all__ = [
    "PRECONDITIONERS",
    "DenseStats",
    "DualAveraging",
    "ChainSums",
    "WarmupInfo",
    "Welford",
    "chain_health",
    "dual_averaging_init",
    "dual_averaging_update",
    "KernelWarmupInfo",  # noqa: F822 (loaded on first use, see __getattr__)
    "TemperingWarmupInfo",  # noqa: F822
    "geometric_mean_metric",
    "mala_warmup",
    "regularized_covariance",
    "stable_cholesky",
    "tempering_warmup",  # noqa: F822
    "welford_init",
    "warmup",  # noqa: F822
    "welford_update",
    "window_schedule",
]


def __getattr__(name: str):
    # The generic warm-up (jlangevin._warmup) builds on this module's pieces, so it
    # is loaded on first use rather than imported here (no import cycle).
    if name in ("warmup", "KernelWarmupInfo"):
        from jlangevin import _warmup

        return getattr(_warmup, name)
    if name in ("tempering_warmup", "TemperingWarmupInfo"):
        from jlangevin import _tempering_warmup

        return getattr(_tempering_warmup, name)
    raise AttributeError(f"module 'jlangevin.adaptation' has no attribute {name!r}")
