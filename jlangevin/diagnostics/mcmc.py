"""R-hat, ESS and MCSE per leaf and coordinate, computed by ArviZ (not re-implemented)."""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from jlangevin.diagnostics._draws import per_coordinate

MIN_DRAWS = 4  # ArviZ's split/rank estimators need at least this many draws per chain

ESS_METHODS = ("bulk", "tail", "mean", "sd", "median", "mad", "local", "quantile")
MCSE_METHODS = ("mean", "sd", "median", "quantile")


def _arviz_stat(stat: str, coords: np.ndarray, **kwargs: Any) -> np.ndarray:
    """``az.<stat>`` of ``(chains, draws, k)`` via a Dataset (the same call on ArviZ 0.x/1.x)."""
    dataset = xr.Dataset({"x": (("chain", "draw", "coordinate"), coords)})
    return np.asarray(getattr(az, stat)(dataset, **kwargs)["x"].values, dtype=float)


def _check_draws(coords: np.ndarray, what: str, min_chains: int = 1) -> None:
    chains, draws = coords.shape[:2]
    if chains < min_chains:
        raise ValueError(
            f"{what} needs at least {min_chains} chains to compare; got draws with {chains} "
            "chain(s) (shape (chains, draws, *event)). Run several chains."
        )
    if draws < MIN_DRAWS:
        raise ValueError(f"{what} needs at least {MIN_DRAWS} draws per chain; got {draws}.")


def _check_method(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ValueError(f"`method` must be one of {allowed}; got {method!r}.")


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
        With one chain (R-hat compares chains) or fewer than 4 draws per chain.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4, 500, 2))
    >>> bool(np.all(rhat(x) < 1.01))
    True
    """

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
    return _per_coordinate_stat("mcse", draws, "MCSE", method=method, prob=prob)
