"""Checks against exact answers: KS against a CDF, 1-Wasserstein, moment z-scores.

Autocorrelated draws make textbook tests reject far too often. The KS test
here thins each chain to roughly independent draws (every ``ceil(2 n / ESS)``-th
draw), and the z-scores divide by the ESS-based Monte Carlo standard error,
so their nominal levels hold for a correct MCMC sampler.

A particle cloud (many chains, one draw each; ``layout="cloud"``) is a sample of
independent draws: the KS test takes it as is and the z-scores divide by the
i.i.d. standard error ``sd / sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from scipy import stats

from jlangevin.diagnostics._checks import as_int, as_number
from jlangevin.diagnostics._draws import (
    as_coordinates,
    as_draw_tree,
    cloud_of,
    per_coordinate,
    resolve_layout,
)
from jlangevin.diagnostics.mcmc import _arviz_stat, _check_draws
from jlangevin.targets import Target

#: Thin to every ceil(THIN_FACTOR * n / ESS)-th draw. Thinning to exactly the
#: ESS (factor 1) leaves lag correlation rho^tau between kept draws (for an
#: AR(1) with rho = 0.5: 0.125) and the KS level drifts to about 10% at a
#: nominal 5%; twice that spacing leaves rho^(2 tau) (0.016) and the level holds.
THIN_FACTOR = 2.0


class KSResult(NamedTuple):
    """Kolmogorov–Smirnov test of draws against an exact CDF.

    Attributes
    ----------
    statistic : sup-distance between the empirical CDF of the kept draws and ``cdf``.
    pvalue : exact (two-sided) p-value for ``n_effective`` independent draws.
    n_effective : draws kept after thinning (the sample size of the test).
    thin : the thinning step used per chain (1 for a particle cloud).
    ess : the bulk ESS of all draws (``nan`` when ``thin`` was given or for a cloud).
    """

    statistic: float
    pvalue: float
    n_effective: int
    thin: int
    ess: float


class MomentZScores(NamedTuple):
    """``(estimate - truth) / standard error`` per coordinate; ``var`` is ``None`` when not asked.

    The standard error is the ESS-based MCSE for chains, ``sd / sqrt(n)`` for a cloud.
    """

    mean: Any
    var: Any


def _single_coordinate(draws: Any, name: str) -> np.ndarray:
    leaves = jax.tree.leaves(as_draw_tree(draws, name))
    if len(leaves) != 1 or as_coordinates(leaves[0]).shape[-1] != 1:
        shapes = [leaf.shape for leaf in leaves]
        raise ValueError(
            f"`{name}` must hold one scalar coordinate, shape (chains, draws) or "
            f"(chains, draws, 1); got leaves of shapes {shapes}. Select one, e.g. x[..., i]."
        )
    return as_coordinates(leaves[0])[..., 0]


def _resolve_cdf(cdf: Callable | Target) -> Callable:
    if isinstance(cdf, Target):
        if cdf.cdf is None:
            raise ValueError(
                f"`cdf`: target {cdf.name!r} (dim={cdf.dim}) has no exact 1-D CDF; pass "
                "target.marginal_cdfs[i] for a coordinate that has one."
            )
        return cdf.cdf
    if not callable(cdf):
        raise TypeError(f"`cdf` must be a callable CDF or a 1-D Target; got {type(cdf).__name__}.")
    return cdf


def thin_step(draws: np.ndarray, factor: float = THIN_FACTOR) -> tuple[int, float]:
    """Thinning step ``ceil(factor * n / ESS_bulk)`` for ``(chains, draws)``, and the ESS."""
    _check_draws(draws[..., None], "Thinning to the ESS (thin='ess')")
    ess_bulk = float(_arviz_stat("ess", draws[..., None], method="bulk")[0])
    if not np.isfinite(ess_bulk) or ess_bulk <= 0:
        return draws.shape[1], ess_bulk  # no information: one draw per chain
    return max(1, math.ceil(factor * draws.size / ess_bulk)), ess_bulk


def _thin_of(thin: Any) -> int | str | None:
    if thin is None or (isinstance(thin, str) and thin == "ess"):
        return thin
    try:
        return as_int(thin, "thin", minimum=1)
    except (TypeError, ValueError):
        raise ValueError(f'`thin` must be "ess", None or an integer >= 1; got {thin!r}.') from None


#: The fewest values a CDF is evaluated on at once (see :func:`evaluate_cdf`).
MIN_CDF_BATCH = 256


def evaluate_cdf(cdf: Callable, values: np.ndarray) -> np.ndarray:
    """``cdf(values)`` as floats, for 1-D ``values``, evaluated in a batch of a power-of-two size.

    A target's CDF is written in ``jax.numpy`` (it stays traceable), so each new
    input length compiles its operations afresh; the draws a KS test keeps have
    a different count on almost every call. Padding them (with their first
    value) to a power of two, at least :data:`MIN_CDF_BATCH`, lets a few
    compiled programs serve every call. A CDF acts elementwise, so the values
    returned are those of ``cdf(values)``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from jlangevin.diagnostics.exact import evaluate_cdf
    >>> evaluate_cdf(stats.norm.cdf, np.array([0.0, 1.0])).round(4).tolist()
    [0.5, 0.8413]
    """
    values = np.asarray(values)
    n = values.shape[0]
    size = max(MIN_CDF_BATCH, 1 << max(n - 1, 0).bit_length())
    fill = values[:1] if n else np.zeros(1, values.dtype)
    padded = np.concatenate([values, np.broadcast_to(fill, (size - n,))])
    return np.asarray(cdf(padded), dtype=float)[:n]


def ks_test(
    draws: Any,
    cdf: Callable | Target,
    *,
    thin: int | str | None = "ess",
    layout: str = "auto",
) -> KSResult:
    """Kolmogorov–Smirnov test of one coordinate's draws against an exact CDF.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws)`` or ``(chains, draws, 1)``.
    cdf : the exact CDF (vectorised callable), or a 1-D Target with one.
    thin : ``"ess"`` (default): keep every ``ceil(2 n / ESS)``-th draw of each
        chain so the kept draws are about independent and the level holds; an
        integer: that step; ``None``: no thinning (only for independent draws).
        Chains only: a cloud is tested as it is.
    layout : ``"chains"`` (Markov chains, thinned as above), ``"cloud"`` (the last
        draw of each chain, tested as independent draws) or ``"auto"`` (default:
        a cloud when there is one draw per chain).

    Returns
    -------
    KSResult
        ``statistic``, ``pvalue``, ``n_effective`` (draws tested), ``thin``, ``ess``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> result = ks_test(x, stats.norm.cdf)
    >>> result.pvalue > 0.01, result.n_effective < 4000
    (True, True)
    >>> cloud = np.random.default_rng(1).normal(size=(2000, 1))  # 2000 particles, one draw
    >>> ks_test(cloud, stats.norm.cdf).n_effective
    2000
    """
    x = _single_coordinate(draws, "draws")
    cdf = _resolve_cdf(cdf)
    thin = _thin_of(thin)
    ess_bulk = float("nan")
    if resolve_layout(layout, x[..., None]) == "cloud":
        if thin not in ("ess", None):
            raise ValueError(
                f"`thin` thins chains; a particle cloud (layout='cloud') is tested as "
                f"independent draws; got thin={thin!r}."
            )
        kept, step = cloud_of(x), 1
    else:
        if thin == "ess":
            step, ess_bulk = thin_step(x)
        else:
            step = 1 if thin is None else thin
        kept = x[:, ::step].ravel()
    result = stats.kstest(kept, lambda v: evaluate_cdf(cdf, v))
    return KSResult(float(result.statistic), float(result.pvalue), kept.size, step, ess_bulk)


def quantile_from_cdf(
    cdf: Callable, low: float, high: float, *, iterations: int = 60
) -> Callable[[np.ndarray], np.ndarray]:
    """The quantile function of a continuous CDF on ``[low, high]``, by vectorised bisection.

    Examples
    --------
    >>> from scipy import stats
    >>> q = quantile_from_cdf(stats.norm.cdf, -10.0, 10.0)
    >>> round(float(q(0.975)), 4)
    1.96
    """

    if not callable(cdf):
        raise TypeError(f"`cdf` must be a callable CDF; got {type(cdf).__name__}.")
    low = as_number(low, "low")
    high = as_number(high, "high")
    if not low < high:
        raise ValueError(f"`high` must be above `low`; got low={low!r}, high={high!r}.")
    iterations = as_int(iterations, "iterations", minimum=1)

    def quantile(u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        lo, hi = np.full(u.shape, float(low)), np.full(u.shape, float(high))
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            below = np.asarray(cdf(mid), dtype=float) < u
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    return quantile


def _w1_to_quantile(sample: np.ndarray, quantile: Callable, points_per_draw: int) -> float:
    """``∫_0^1 |Q_n(u) - Q(u)| du`` by the midpoint rule, ``points_per_draw`` nodes per draw."""
    x = np.sort(sample)
    m = x.size * points_per_draw
    u = (np.arange(m) + 0.5) / m
    exact = np.asarray(quantile(u), dtype=float)
    return float(np.mean(np.abs(np.repeat(x, points_per_draw) - exact)))


def _reference_columns(reference: Any, leaf: np.ndarray, name: str) -> np.ndarray:
    kind = np.asarray(reference).dtype.kind if hasattr(reference, "dtype") else None
    try:
        ref = np.asarray(reference, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be a sample (n, *event) of real numbers or quantile functions; "
            f"got {type(reference).__name__}."
        ) from err
    if kind not in (None, "i", "u", "f") or (kind is None and ref.ndim == 0):
        raise TypeError(
            f"`{name}` must be a sample (n, *event) of real numbers or quantile functions; "
            f"got {reference!r:.80}."
        )
    event = leaf.shape[2:]
    if ref.shape[1:] != event and not (event == () and ref.ndim == 1):
        raise ValueError(
            f"`{name}` must be a sample of shape (n, *event) = (n, {', '.join(map(str, event))})"
            f" matching the draws; got shape {ref.shape}."
        )
    if ref.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty sample (shape {ref.shape}); expected n >= 1 draws.")
    if not np.all(np.isfinite(ref)):
        bad = int(np.sum(~np.isfinite(ref).reshape(ref.shape[0], -1).all(axis=1)))
        raise ValueError(f"`{name}` has {bad} non-finite draws (NaN or inf); expected finite.")
    return ref.reshape(ref.shape[0], -1)


def wasserstein1(
    draws: Any,
    reference: Any,
    *,
    points_per_draw: int = 4,
) -> Any:
    """1-Wasserstein distance per coordinate between the draws and the exact law.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them
        (all chains and draws pooled).
    reference : the exact law, as either
        - a reference sample ``(n, *event)`` (a pytree of them for a pytree), e.g.
          exact i.i.d. draws from ``target.sample``; or
        - exact quantile functions ``u -> x``: one callable (scalar event) or a
          sequence with one per coordinate (see :func:`quantile_from_cdf`).
    points_per_draw : midpoint nodes per draw for the quantile integral.

    Returns
    -------
    numpy array of the event shape (a pytree of them for a pytree).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> x = np.random.default_rng(0).normal(size=(2, 2000, 1)) + 0.5
    >>> round(float(wasserstein1(x, stats.norm.ppf)[0]), 1)   # a shift by 0.5
    0.5
    """
    points_per_draw = as_int(points_per_draw, "points_per_draw", minimum=1)
    if reference is None or isinstance(reference, str | bytes):
        raise TypeError(
            f"`reference` must be a sample (n, *event) or quantile functions; got {reference!r}."
        )
    if callable(reference) or (
        isinstance(reference, Sequence) and reference and all(map(callable, reference))
    ):
        quantiles = [reference] if callable(reference) else list(reference)
        tree = as_draw_tree(draws, "draws")
        leaves = jax.tree.leaves(tree)
        if len(leaves) != 1 or as_coordinates(leaves[0]).shape[-1] != len(quantiles):
            raise ValueError(
                f"`reference`: {len(quantiles)} quantile function(s) for draws of shapes "
                f"{[leaf.shape for leaf in leaves]}; give one per coordinate."
            )

        def by_quantile(coords: np.ndarray) -> np.ndarray:
            flat = coords.reshape(-1, coords.shape[-1])
            return np.array(
                [_w1_to_quantile(flat[:, i], q, points_per_draw) for i, q in enumerate(quantiles)]
            )

        return per_coordinate(by_quantile, tree)

    tree = as_draw_tree(draws, "draws")
    try:
        refs = jax.tree.map(
            lambda leaf, ref: _reference_columns(ref, leaf, "reference"), tree, reference
        )
    except ValueError as err:
        if "reference" in str(err):
            raise
        raise ValueError(
            "`reference` must be a sample (n, *event) with the same pytree structure as the "
            f"draws ({jax.tree.structure(tree)})."
        ) from err

    def by_sample(leaf: np.ndarray, ref: np.ndarray) -> np.ndarray:
        flat = leaf.reshape(-1, ref.shape[-1])
        w1 = [stats.wasserstein_distance(flat[:, i], ref[:, i]) for i in range(ref.shape[-1])]
        return np.asarray(w1).reshape(leaf.shape[2:])

    return jax.tree.map(by_sample, tree, refs)


def w1_noise_scale(reference: np.ndarray, n_draws: float, n_reference: float) -> float:
    """Upper bound on ``E W1`` between two independent samples from the same 1-D law.

    ``E|F_n - G_m|(x) <= sqrt(F(1-F) (1/n + 1/m))``, integrated over ``x``, with
    ``F`` estimated by the reference sample. Use ``n_draws = ESS`` for MCMC draws.
    """
    x = np.sort(np.asarray(reference, dtype=float).ravel())
    frac = np.arange(1, x.size) / x.size
    spread = float(np.sum(np.diff(x) * np.sqrt(frac * (1 - frac))))
    return spread * math.sqrt(1.0 / n_draws + 1.0 / n_reference)


def _truth_like(truth: Any, tree: Any, name: str, nonnegative: bool = False) -> Any:
    def one(leaf: np.ndarray, value: Any) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError) as err:
            raise TypeError(f"`{name}` must hold real numbers; got {value!r:.80}.") from err
        try:
            out = np.broadcast_to(arr, leaf.shape[2:])
        except ValueError as err:
            raise ValueError(
                f"`{name}` must broadcast to the event shape {leaf.shape[2:]} of the draws; "
                f"got shape {arr.shape}."
            ) from err
        if not np.all(np.isfinite(out)) or (nonnegative and np.any(out < 0)):
            what = "finite and >= 0" if nonnegative else "finite"
            raise ValueError(f"`{name}` must be {what}; got {value!r:.80}.")
        return out

    if truth is None:
        raise TypeError(f"`{name}` must be the exact value (an array or a pytree); got None.")
    try:
        return jax.tree.map(one, tree, truth)
    except (TypeError, ValueError) as err:
        if f"`{name}`" in str(err):
            raise
        raise ValueError(
            f"`{name}` must have the pytree structure of the draws ({jax.tree.structure(tree)})."
        ) from err


def _iid_zscore(values: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(mean - truth) / (sd / sqrt(n))`` over the first axis: the i.i.d. z-score."""
    n = values.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):  # all particles equal: sd 0
        return (values.mean(axis=0) - truth) / (values.std(axis=0, ddof=1) / math.sqrt(n))


def moment_zscores(
    draws: Any, mean: Any, var: Any = None, *, layout: str = "auto"
) -> MomentZScores:
    """z-scores ``(estimate - truth) / standard error`` of the mean and (optionally) the variance.

    The variance estimate is the average of ``(x - mean)^2`` about the *true*
    mean, and its standard error is that of that average. Under a correct
    sampler each z is about standard normal: ``|z| > 4`` happens with probability
    ``6e-5``.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them.
    mean : the exact mean (broadcasting to the event shape; a pytree for a
        pytree), or a Target (its ``mean`` and ``var`` are used).
    var : the exact marginal variances, or ``None`` to skip.
    layout : ``"chains"`` (standard error: the ESS-based MCSE), ``"cloud"`` (the
        last draw of each chain as independent draws, standard error
        ``sd / sqrt(n)``) or ``"auto"`` (default: a cloud when there is one draw
        per chain).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 1000, 2))
    >>> z = moment_zscores(x, np.zeros(2), np.ones(2))
    >>> bool(np.all(np.abs(z.mean) < 4) and np.all(np.abs(z.var) < 4))
    True
    """
    if isinstance(mean, Target):
        mean, var = mean.mean, mean.var if var is None else var
        if mean is None:
            raise ValueError("`mean`: the target has no exact mean.")
    tree = as_draw_tree(draws, "draws")
    cloud = resolve_layout(layout, tree) == "cloud"
    mean = _truth_like(mean, tree, "mean")
    if var is not None:
        var = _truth_like(var, tree, "var", nonnegative=True)

    def mcse_of(values: np.ndarray) -> np.ndarray:
        coords = as_coordinates(values)
        _check_draws(coords, "MCSE")
        return _arviz_stat("mcse", coords, method="mean").reshape(values.shape[2:])

    def z_mean(leaf: np.ndarray, mu: np.ndarray) -> np.ndarray:
        if cloud:
            return _iid_zscore(cloud_of(leaf), mu)
        se = mcse_of(leaf)
        with np.errstate(divide="ignore", invalid="ignore"):  # a stuck chain: MCSE 0
            return (leaf.mean(axis=(0, 1)) - mu) / se

    def z_var(leaf: np.ndarray, mu: np.ndarray, v: np.ndarray) -> np.ndarray:
        if cloud:
            return _iid_zscore((cloud_of(leaf) - mu) ** 2, v)
        squares = (leaf - mu) ** 2
        se = mcse_of(squares)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (squares.mean(axis=(0, 1)) - v) / se

    z_mean_tree = jax.tree.map(z_mean, tree, mean)
    z_var_tree = None if var is None else jax.tree.map(z_var, tree, mean, var)
    return MomentZScores(z_mean_tree, z_var_tree)
