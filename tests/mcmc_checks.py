"""Statistical checks shared by the kernel tests.

Every tolerance here comes from the Monte Carlo standard error of the draws
(ESS-based, through ArviZ), so a check fails when the sampler is wrong by more
than its own noise explains, and holds at a known level when it is right.
"""

from __future__ import annotations

import arviz as az
import numpy as np
from scipy import stats

Z_MAX = 4.0  # |z| > 4 has probability ~6e-5 under a correct sampler


def _chains(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x if x.ndim == 2 else x.reshape(x.shape[0], x.shape[1], -1)


def mean_z(draws, truth) -> np.ndarray:
    """``(mean - truth) / MCSE`` per coordinate; ``draws`` is (chains, draws[, dim])."""
    x = _chains(draws)
    if x.ndim == 2:
        return np.asarray((x.mean() - truth) / az.mcse(x, method="mean"))
    return np.array(
        [
            (x[..., i].mean() - truth[i]) / az.mcse(x[..., i], method="mean")
            for i in range(x.shape[-1])
        ]
    )


def var_z(draws, truth_mean, truth_var) -> np.ndarray:
    """z-score of the variance: mean of ``(x - mu)^2`` against ``truth_var``, MCSE by ESS."""
    x = _chains(draws)
    sq = (x - np.asarray(truth_mean)) ** 2
    if sq.ndim == 2:
        return np.asarray((sq.mean() - truth_var) / az.mcse(sq, method="mean"))
    return np.array(
        [
            (sq[..., i].mean() - truth_var[i]) / az.mcse(sq[..., i], method="mean")
            for i in range(sq.shape[-1])
        ]
    )


def ks_pvalue(draws, cdf) -> tuple[float, int]:
    """KS p-value against an exact CDF after thinning each chain to its ESS.

    Autocorrelated draws make the plain KS test reject far too often; keeping
    every ``ceil(n / ESS)``-th draw leaves roughly independent ones.
    """
    x = _chains(draws)
    ess = float(az.ess(x, method="bulk"))
    step = max(1, int(np.ceil(x.size / ess)))
    kept = x[:, ::step].ravel()
    result = stats.kstest(kept, lambda v: np.asarray(cdf(v), dtype=float))
    return float(result.pvalue), kept.size


def rhat(draws) -> float:
    return float(az.rhat(_chains(draws)))
