"""R-hat, ESS and MCSE per leaf and coordinate, computed by ArviZ (not re-implemented)."""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from jlangevin.diagnostics._checks import as_number, one_of
from jlangevin.diagnostics._draws import MIN_DRAWS, check_chain_draws, per_coordinate

__all__ = ["MIN_DRAWS", "ess", "mcse", "rhat"]

RHAT_METHODS = ("rank", "split", "folded", "z_scale", "identity")
ESS_METHODS = ("bulk", "tail", "mean", "sd", "median", "mad", "local", "quantile")
MCSE_METHODS = ("mean", "sd", "median", "quantile")


def _arviz_stat(stat: str, coords: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``az.<stat>`` of ``(chains, draws, k)`` via a Dataset (the same call on ArviZ 0.x/1.x)."""
    dataset = xr.Dataset({"x": (("chain", "draw", "coordinate"), coords)})
    return np.asarray(getattr(az, stat)(dataset, **kwargs)["x"].values, dtype=float)


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
    """
    _check_method(method, MCSE_METHODS)
    prob = _check_prob(method, prob)
    return _per_coordinate_stat("mcse", draws, "MCSE", method=method, prob=prob)
