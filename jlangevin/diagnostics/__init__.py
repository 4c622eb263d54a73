"""Convergence diagnostics: ArviZ round trip, exact checks, KSD, one report, one summary.

Everything takes a :class:`~jlangevin.run.Trace`, a draws array
``(chains, draws, *event)`` or a pytree of them, and answers per coordinate.

>>> import jax
>>> import jlangevin as jl
>>> target = jl.targets.quartic()
>>> draws = target.sample(jax.random.key(0), 4000).reshape(4, 1000, 1)
>>> jl.diagnostics.ks_test(draws, target).pvalue > 0.001
True
"""

from jlangevin.diagnostics.arviz_io import ARVIZ_1, SAMPLE_STATS_NAMES, to_arviz
from jlangevin.diagnostics.exact import (
    KSResult,
    MomentZScores,
    ks_test,
    moment_zscores,
    quantile_from_cdf,
    wasserstein1,
)
from jlangevin.diagnostics.ksd import KSDResult, ksd
from jlangevin.diagnostics.mcmc import ess, mcse, nested_rhat, rhat
from jlangevin.diagnostics.report import Report, Row, check
from jlangevin.diagnostics.summary import Summary, summary

__all__ = [
    "ARVIZ_1",
    "KSDResult",
    "KSResult",
    "MomentZScores",
    "Report",
    "Row",
    "SAMPLE_STATS_NAMES",
    "Summary",
    "check",
    "ess",
    "ksd",
    "ks_test",
    "mcse",
    "moment_zscores",
    "nested_rhat",
    "quantile_from_cdf",
    "rhat",
    "summary",
    "to_arviz",
    "wasserstein1",
]
