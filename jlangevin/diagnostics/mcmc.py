"""R-hat, ESS and MCSE per leaf and coordinate, computed by ArviZ (not re-implemented).

Nested R-hat (for many short chains) is not in ArviZ; :func:`nested_rhat` computes it here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from jlangevin.diagnostics._checks import as_int, as_number, one_of
from jlangevin.diagnostics._draws import (
    MIN_DRAWS,
    as_draw_tree,
    chains_draws,
    check_chain_draws,
    per_coordinate,
)

__all__ = [
    "MIN_DRAWS",
    "constant_coordinates",
    "default_superchains",
    "ess",
    "mcse",
    "nested_rhat",
    "rhat",
    "superchain_ids",
]

RHAT_METHODS = ("rank", "split", "folded", "z_scale", "identity")
ESS_METHODS = ("bulk", "tail", "mean", "sd", "median", "mad", "local", "quantile")
MCSE_METHODS = ("mean", "sd", "median", "quantile")


def constant_coordinates(coords: np.ndarray) -> np.ndarray:
    """``(k,)`` bools: the coordinates of ``(chains, draws, k)`` whose draws are all equal.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 5, 2))
    >>> x[1, 3, 1] = 1.0
    >>> constant_coordinates(x).tolist()
    [True, False]
    """
    flat = coords.reshape(-1, coords.shape[-1])
    return np.all(flat == flat[:1], axis=0)


def _arviz_stat(stat: str, coords: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``az.<stat>`` of ``(chains, draws, k)`` via a Dataset (the same call on ArviZ 0.x/1.x).

    Coordinates whose draws are all equal give ``nan`` for every statistic: ArviZ
    reports their ESS as the number of draws and their MCSE as 0, which would
    read as a perfectly mixed chain.
    """
    dataset = xr.Dataset({"x": (("chain", "draw", "coordinate"), coords)})
    with np.errstate(divide="ignore", invalid="ignore"):  # constant draws: nan, not a warning
        values = np.asarray(getattr(az, stat)(dataset, **kwargs)["x"].values, dtype=float)
    return np.where(constant_coordinates(coords), np.nan, values)


def _check_draws(coords: np.ndarray, what: str, min_chains: int = 1, name: str = "draws") -> None:
    check_chain_draws(coords, what, name, min_chains=min_chains)


def _check_method(method: str, allowed: tuple[str, ...]) -> None:
    one_of(method, "method", allowed)


def _check_prob(method: str, prob: Any) -> Any:
    """``prob`` goes with ``method="quantile"`` (a number in (0, 1)) or ``"local"`` (a pair)."""
    if method not in ("quantile", "local"):
        if prob is not None:
            raise ValueError(
                f'`prob` applies to method="quantile" or "local" only; got method={method!r}.'
            )
        return None
    if method == "quantile":
        if prob is None:
            raise ValueError('`prob` is needed with method="quantile": a number in (0, 1).')
        return as_number(prob, "prob", 0.0, 1.0, low_open=True, high_open=True)
    if not (isinstance(prob, tuple | list) and len(prob) == 2):
        raise ValueError(f'`prob` must be a pair (low, high) with method="local"; got {prob!r}.')
    low, high = (as_number(p, "prob", 0.0, 1.0) for p in prob)
    if not low < high:
        raise ValueError(f"`prob` must be a pair (low, high) with low < high; got {prob!r}.")
    return (low, high)


def _per_coordinate_stat(
    stat: str, draws: Any, what: str, min_chains: int = 1, **kwargs: Any
) -> Any:
    """ArviZ's ``stat`` for every coordinate of every leaf, after checking the draws."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}

    def one(coords: np.ndarray) -> np.ndarray:
        _check_draws(coords, what, min_chains=min_chains)
        return _arviz_stat(stat, coords, **kwargs)

    return per_coordinate(one, draws)


def rhat(draws: Any, method: str = "rank") -> Any:
    """Potential scale reduction R-hat (rank-normalized split R-hat by default), per coordinate.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them.
    method : ArviZ's R-hat method: ``"rank"`` (default), ``"split"``, ``"folded"``,
        ``"z_scale"``, ``"identity"``.

    Returns
    -------
    numpy array of the event shape (a pytree of them for a pytree).

    Raises
    ------
    ValueError
        With one chain (R-hat compares chains) or fewer than 4 draws per chain
        (a particle cloud of one draw per chain has no chains to compare).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 500, 2))
    >>> bool(np.all(rhat(x) < 1.01))
    True
    """
    _check_method(method, RHAT_METHODS)
    return _per_coordinate_stat("rhat", draws, "R-hat", min_chains=2, method=method)


def ess(draws: Any, method: str = "bulk", *, prob: float | None = None) -> Any:
    """Effective sample size per coordinate (bulk by default; ``"tail"`` for the 5%/95% tails).

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them.
    method : ``"bulk"``, ``"tail"`` or another ArviZ ESS method (``"mean"``, ``"sd"``,
        ``"quantile"`` with ``prob``, ...).
    prob : the quantile for ``method="quantile"``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 500))[..., None]
    >>> bool(ess(x, method="tail")[0] > 1000)
    True

    Constant draws have no effective size: ``nan``, never the number of draws.

    >>> ess(np.ones((4, 500, 1)))
    array([nan])
    """
    _check_method(method, ESS_METHODS)
    prob = _check_prob(method, prob)
    return _per_coordinate_stat("ess", draws, "ESS", method=method, prob=prob)


def mcse(draws: Any, method: str = "mean", *, prob: float | None = None) -> Any:
    """Monte Carlo standard error per coordinate (of the mean by default), ESS-based.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them.
    method : ``"mean"``, ``"sd"``, ``"median"`` or ``"quantile"`` (with ``prob``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 2500, 1))
    >>> round(float(mcse(x)[0]), 2)  # about 1 / sqrt(10000)
    0.01

    Constant draws give ``nan`` (not 0: nothing was learnt about the error).
    """
    _check_method(method, MCSE_METHODS)
    prob = _check_prob(method, prob)
    return _per_coordinate_stat("mcse", draws, "MCSE", method=method, prob=prob)


# --------------------------------------------------------------------------- #
# Nested R-hat (Margossian et al. 2024): not in ArviZ
# --------------------------------------------------------------------------- #
def default_superchains(num_chains: int) -> int:
    """The default number of superchains: the largest divisor of ``num_chains`` up to its root.

    64 chains make 8 superchains of 8, 16 make 4 of 4, 8 make 2 of 4, 4 make 2 of 2;
    a prime number of chains (or 1, 2, 3) makes 1, too few for nested R-hat.

    Examples
    --------
    >>> default_superchains(64), default_superchains(12), default_superchains(7)
    (8, 3, 1)
    """
    return max(k for k in range(1, math.isqrt(num_chains) + 1) if num_chains % k == 0)


def superchain_ids(superchains: Any, num_chains: int, name: str = "superchains") -> np.ndarray:
    """Superchain index ``0 .. K-1`` of every chain, from ``superchains`` (checked).

    ``superchains`` is ``None`` (:func:`default_superchains` groups of consecutive
    chains), a number ``K`` of groups of consecutive chains (``K`` divides the chains),
    or one label per chain (integers; every label on the same number of chains).
    At least 2 superchains are needed.
    """
    if superchains is None:
        superchains = default_superchains(num_chains)
        if superchains < 2:
            raise ValueError(
                f"`{name}`: {num_chains} chains cannot be split into 2 or more superchains of "
                "equal size; give one label per chain, or run a number of chains with a divisor."
            )
    if not isinstance(superchains, str | bytes) and np.ndim(superchains) != 0:
        return _labels_to_ids(np.asarray(superchains), num_chains, name)
    k = as_int(superchains, name, minimum=2)
    if num_chains % k:
        raise ValueError(
            f"`{name}` = {k} superchains must divide the {num_chains} chains into groups of "
            "equal size."
        )
    return np.repeat(np.arange(k), num_chains // k)


def _labels_to_ids(labels: np.ndarray, num_chains: int, name: str) -> np.ndarray:
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"`{name}` labels must be integers, one per chain; got dtype {labels.dtype}."
        )
    if labels.shape != (num_chains,):
        raise ValueError(
            f"`{name}` must give one label per chain ({num_chains}); got shape {labels.shape}."
        )
    unique, ids, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if unique.size < 2:
        raise ValueError(f"`{name}` must name at least 2 superchains; got {unique.size}.")
    if counts.min() != counts.max():
        sizes = dict(zip(unique.tolist(), counts.tolist(), strict=True))
        raise ValueError(
            f"`{name}`: every superchain needs the same number of chains; got sizes {sizes}."
        )
    return ids


def _nested_rhat(coords: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Nested R-hat of ``(chains, draws, k)`` by superchain ``ids`` (equal sizes), per column."""
    k = int(ids.max()) + 1
    order = np.argsort(ids, kind="stable")
    grouped = coords[order].reshape(k, -1, *coords.shape[1:])  # (K, M, N, k)
    m, n = grouped.shape[1:3]
    chain_mean = grouped.mean(axis=2)  # (K, M, k)
    superchain_mean = chain_mean.mean(axis=1)  # (K, k)
    between_superchains = superchain_mean.var(axis=0, ddof=1)  # B_nu
    between_chains = chain_mean.var(axis=1, ddof=1) if m > 1 else np.zeros_like(superchain_mean)
    within_chains = grouped.var(axis=2, ddof=1).mean(axis=1) if n > 1 else 0.0 * between_chains
    within_superchains = (between_chains + within_chains).mean(axis=0)  # W_nu
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(1.0 + between_superchains / within_superchains)


def nested_rhat(draws: Any, superchains: int | Sequence[int] | None = None) -> Any:
    """Nested R-hat for many short chains grouped in superchains, per coordinate.

    The chains are grouped into ``K`` superchains of ``M`` chains each (of ``N``
    draws); the chains of a superchain are meant to start from one point. With
    chain means ``m_{mk}``, superchain means ``m_k`` and their mean ``m``,

    .. math::

        \\hat B_\\nu = \\frac{1}{K - 1} \\sum_k (m_k - m)^2, \\qquad
        \\hat W_\\nu = \\frac{1}{K} \\sum_k (\\tilde B_k + \\tilde W_k), \\qquad
        \\hat R_\\nu = \\sqrt{1 + \\hat B_\\nu / \\hat W_\\nu},

    where ``B~_k`` is the variance (``ddof=1``) of the chain means within superchain
    ``k`` (0 when ``M = 1``) and ``W~_k`` the mean within-chain variance (``ddof=1``;
    0 when ``N = 1``). It stays meaningful for very short chains, even one draw per
    chain, where split R-hat does not: it asks whether the superchains agree.
    Values near 1 (below 1.01, the usual R-hat threshold) say they do.
    Constant draws give ``nan``.

    Parameters
    ----------
    draws : a Trace, an array ``(chains, draws, *event)`` or a pytree of them.
    superchains : how the chains group, see :func:`superchain_ids`: ``None``
        (default, :func:`default_superchains` groups of consecutive chains), a
        number ``K`` of groups of consecutive chains, or one integer label per
        chain; every superchain holds the same number of chains, at least 2
        superchains.

    Returns
    -------
    numpy array of the event shape (a pytree of them for a pytree).

    Raises
    ------
    TypeError
        ``superchains`` is not an integer or integer labels.
    ValueError
        Fewer than 2 superchains, groups of unequal sizes, a wrong number of
        labels, or one chain per superchain with one draw per chain.

    References
    ----------
    C. C. Margossian, M. D. Hoffman, P. Sountsov, L. Riou-Durand, A. Vehtari and
    A. Gelman (2024). Nested R-hat: assessing the convergence of Markov chain
    Monte Carlo when running many short chains. *Bayesian Analysis*.
    doi:10.1214/24-BA1453

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(64, 20, 1))  # 8 superchains of 8 chains
    >>> bool(nested_rhat(x, superchains=8)[0] < 1.01)
    True
    >>> x[:8] += 1.0  # one superchain elsewhere
    >>> bool(nested_rhat(x, superchains=8)[0] > 1.01)
    True
    """
    tree = as_draw_tree(draws, "draws")
    chains, num_draws = chains_draws(tree)
    ids = superchain_ids(superchains, chains)
    if chains == int(ids.max()) + 1 and num_draws == 1:
        raise ValueError(
            "`superchains`: with one chain per superchain and one draw per chain there is no "
            "within-superchain variance; put several chains in each superchain."
        )
    return per_coordinate(lambda coords: _nested_rhat(coords, ids), tree)
