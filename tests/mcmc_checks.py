"""Statistical checks shared by the kernel tests, on top of ``jl.diagnostics``.

Every tolerance comes from the Monte Carlo standard error of the draws
(ESS-based, through ArviZ), so a check fails when the sampler is wrong by more
than its own noise explains, and holds at a known level when it is right.
"""

from __future__ import annotations

import numpy as np

from jlangevin import diagnostics as dg

Z_MAX = 4.0  # |z| > 4 has probability ~6e-5 under a correct sampler


def mean_z(draws, truth) -> np.ndarray:
    """``(mean - truth) / MCSE`` per coordinate; ``draws`` is (chains, draws[, dim])."""
    return np.asarray(dg.moment_zscores(np.asarray(draws), np.asarray(truth)).mean)


def var_z(draws, truth_mean, truth_var) -> np.ndarray:
    """z-score of the mean of ``(x - mu)^2`` against the exact variance."""
    z = dg.moment_zscores(np.asarray(draws), np.asarray(truth_mean), np.asarray(truth_var))
    return np.asarray(z.var)


def ks_pvalue(draws, cdf) -> tuple[float, int]:
    """KS p-value against an exact CDF, thinned for autocorrelation (see ``ks_test``)."""
    result = dg.ks_test(np.asarray(draws), cdf)
    return float(np.min(result.pvalue)), int(np.min(result.n_effective))


def rhat(draws) -> float:
    return float(np.max(dg.rhat(np.asarray(draws))))
