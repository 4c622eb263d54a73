"""Bad input to diagnostics and plots: refused, with an error that names the argument."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check
from scipy import stats

import jlangevin as jl
from jlangevin import diagnostics as dg
from jlangevin import plot

QUARTIC, ELLIPSE = jl.targets.quartic(), jl.targets.ellipse()
GAUSS = jl.targets.gaussian([0.0, 0.0])
GOOD = np.random.default_rng(0).normal(size=(4, 50, 1))  # valid draws to break one thing at a time
GOOD2 = np.random.default_rng(1).normal(size=(4, 50, 2))


def with_nan(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[1, 3, 0] = np.nan
    x[2, 7, 0] = np.inf
    return x


def no_positions() -> jl.Trace:
    """A Trace run with a ``store`` that kept no positions (built directly: no sampling here)."""
    return jl.Trace(positions=None, info=None, final_state=None, diverged=np.zeros(3, int))


CHECK_CASES = [
    Case("check trace None", lambda: jl.check(None, QUARTIC), TypeError, "`trace`"),
    Case("check trace a string", lambda: jl.check("draws", QUARTIC), TypeError, "`trace`"),
    Case(
        "check trace of objects",
        lambda: jl.check({"x": object()}, QUARTIC),
        TypeError,
        "`trace`",
    ),
    Case(
        "check trace complex",
        lambda: jl.check(GOOD.astype(complex), QUARTIC),
        TypeError,
        "`trace`",
    ),
    Case("check trace bool", lambda: jl.check(GOOD > 0, QUARTIC), TypeError, "`trace`"),
    Case("check 0 chains", lambda: jl.check(np.zeros((0, 10, 1)), QUARTIC), ValueError, "`trace`"),
    Case("check 0 draws", lambda: jl.check(np.zeros((4, 0, 1)), QUARTIC), ValueError, "`trace`"),
    Case("check 0 coordinates", lambda: jl.check(np.zeros((4, 9, 0)), GAUSS), ValueError, "trace"),
    Case("check one draw of one chain", lambda: jl.check(GOOD[:1, :1], QUARTIC), ValueError, "2"),
    Case(
        "check chains layout with one draw per chain",
        lambda: jl.check(GOOD[:, :1], QUARTIC, layout="chains"),
        ValueError,
        "`trace`",
    ),
    Case(
        "check 3 draws per chain",
        lambda: jl.check(GOOD[:, :3], QUARTIC),
        ValueError,
        "layout='cloud'",
    ),
    Case(
        "check non-finite draws counted",
        lambda: jl.check(with_nan(GOOD), QUARTIC),
        ValueError,
        "`trace` has 2 non-finite draws",
    ),
    Case("check wrong dimension", lambda: jl.check(GOOD, GAUSS), ValueError, "`trace`"),
    Case(
        "check Trace without positions",
        lambda: jl.check(no_positions(), GAUSS),
        ValueError,
        "`trace`",
    ),
    Case("check target a string", lambda: jl.check(GOOD, "quartic"), TypeError, "`target`"),
    Case(
        "check unknown layout",
        lambda: jl.check(GOOD, QUARTIC, layout="particles"),
        ValueError,
        "`layout`",
    ),
    Case(
        "check layout not a string",
        lambda: jl.check(GOOD, QUARTIC, layout=1),
        ValueError,
        "`layout`",
    ),
    Case(
        "check rhat_max below 1",
        lambda: jl.check(GOOD, QUARTIC, rhat_max=0.99),
        ValueError,
        "`rhat_max`",
    ),
    Case(
        "check ess_min negative",
        lambda: jl.check(GOOD, QUARTIC, ess_min=-1),
        ValueError,
        "`ess_min`",
    ),
    Case("check z_max zero", lambda: jl.check(GOOD, QUARTIC, z_max=0), ValueError, "`z_max`"),
    Case(
        "check ks_alpha above 1",
        lambda: jl.check(GOOD, QUARTIC, ks_alpha=1.5),
        ValueError,
        "`ks_alpha`",
    ),
    Case(
        "check ks_alpha a string",
        lambda: jl.check(GOOD, QUARTIC, ks_alpha="0.01"),
        TypeError,
        "`ks_alpha`",
    ),
    Case(
        "check w1_factor NaN",
        lambda: jl.check(GOOD, QUARTIC, w1_factor=np.nan),
        ValueError,
        "`w1_factor`",
    ),
    Case(
        "check ksd_factor negative",
        lambda: jl.check(GOOD, QUARTIC, ksd_factor=-1.0),
        ValueError,
        "`ksd_factor`",
    ),
    Case(
        "check max_diverged negative",
        lambda: jl.check(GOOD, QUARTIC, max_diverged=-1),
        ValueError,
        "`max_diverged`",
    ),
    Case(
        "check max_diverged fractional",
        lambda: jl.check(GOOD, QUARTIC, max_diverged=0.5),
        TypeError,
        "`max_diverged`",
    ),
    Case(
        "check reference_size 1",
        lambda: jl.check(GOOD, QUARTIC, reference_size=1),
        ValueError,
        "`reference_size`",
    ),
    Case(
        "check ksd_max_samples a bool",
        lambda: jl.check(GOOD, QUARTIC, ksd_max_samples=True),
        TypeError,
        "`ksd_max_samples`",
    ),
    Case("check seed negative", lambda: jl.check(GOOD, QUARTIC, seed=-1), ValueError, "`seed`"),
]

MCMC_CASES = [
    Case("rhat one chain", lambda: dg.rhat(GOOD[:1]), ValueError, "`draws`"),
    Case("rhat 3 draws", lambda: dg.rhat(GOOD[:, :3]), ValueError, "`draws`"),
    Case("ess of a cloud", lambda: dg.ess(GOOD[:, :1]), ValueError, "layout='cloud'"),
    Case("mcse 0 chains", lambda: dg.mcse(np.zeros((0, 50))), ValueError, "`draws`"),
    Case("ess 0 draws", lambda: dg.ess(np.zeros((4, 0))), ValueError, "`draws`"),
    Case("rhat a vector", lambda: dg.rhat(np.zeros(50)), ValueError, "`draws`"),
    Case("rhat a string", lambda: dg.rhat("x"), TypeError, "`draws`"),
    Case("ess non-finite", lambda: dg.ess(with_nan(GOOD)), ValueError, "`draws` has 2 non-finite"),
    Case("rhat unknown method", lambda: dg.rhat(GOOD, method="nope"), ValueError, "`method`"),
    Case("ess unknown method", lambda: dg.ess(GOOD, method="fast"), ValueError, "`method`"),
    Case(
        "ess quantile without prob", lambda: dg.ess(GOOD, method="quantile"), ValueError, "`prob`"
    ),
    Case(
        "mcse prob out of range",
        lambda: dg.mcse(GOOD, method="quantile", prob=1.5),
        ValueError,
        "`prob`",
    ),
    Case("mcse prob without quantile", lambda: dg.mcse(GOOD, prob=0.5), ValueError, "`prob`"),
    Case(
        "ess local prob not a pair",
        lambda: dg.ess(GOOD, method="local", prob=0.5),
        ValueError,
        "`prob`",
    ),
    Case("ess leaves disagree", lambda: dg.ess({"a": GOOD, "b": GOOD[:2]}), ValueError, "`draws`"),
]

EXACT_CASES = [
    Case("ks cdf a string", lambda: dg.ks_test(GOOD, "normal"), TypeError, "`cdf`"),
    Case("ks target without a 1-D CDF", lambda: dg.ks_test(GOOD, ELLIPSE), ValueError, "`cdf`"),
    Case("ks thin 0", lambda: dg.ks_test(GOOD, stats.norm.cdf, thin=0), ValueError, "`thin`"),
    Case(
        "ks thin fractional",
        lambda: dg.ks_test(GOOD, stats.norm.cdf, thin=2.5),
        ValueError,
        "`thin`",
    ),
    Case(
        "ks thin on a cloud",
        lambda: dg.ks_test(GOOD, stats.norm.cdf, thin=5, layout="cloud"),
        ValueError,
        "`thin`",
    ),
    Case(
        "ks unknown layout",
        lambda: dg.ks_test(GOOD, stats.norm.cdf, layout="iid"),
        ValueError,
        "`layout`",
    ),
    Case("ks two coordinates", lambda: dg.ks_test(GOOD2, stats.norm.cdf), ValueError, "`draws`"),
    Case(
        "ks cloud of one particle",
        lambda: dg.ks_test(GOOD[:1, :1], stats.norm.cdf),
        ValueError,
        "`draws`",
    ),
    Case(
        "ks chains layout on a cloud",
        lambda: dg.ks_test(GOOD[:, :1], stats.norm.cdf, layout="chains"),
        ValueError,
        "`draws`",
    ),
    Case(
        "ks non-finite",
        lambda: dg.ks_test(with_nan(GOOD), stats.norm.cdf),
        ValueError,
        "`draws` has 2 non-finite",
    ),
    Case(
        "zscores mean wrong shape",
        lambda: dg.moment_zscores(GOOD2, np.zeros(3)),
        ValueError,
        "`mean`",
    ),
    Case("zscores mean None", lambda: dg.moment_zscores(GOOD, None), TypeError, "`mean`"),
    Case("zscores mean a string", lambda: dg.moment_zscores(GOOD, "zero"), TypeError, "`mean`"),
    Case("zscores mean NaN", lambda: dg.moment_zscores(GOOD, np.nan), ValueError, "`mean`"),
    Case("zscores var negative", lambda: dg.moment_zscores(GOOD, 0.0, -1.0), ValueError, "`var`"),
    Case(
        "zscores chains layout on a cloud",
        lambda: dg.moment_zscores(GOOD[:, :1], 0.0, layout="chains"),
        ValueError,
        "`draws`",
    ),
    Case(
        "zscores unknown layout",
        lambda: dg.moment_zscores(GOOD, 0.0, layout="x"),
        ValueError,
        "`layout`",
    ),
    Case(
        "w1 reference wrong shape",
        lambda: dg.wasserstein1(GOOD2, np.zeros((7, 3))),
        ValueError,
        "`reference`",
    ),
    Case("w1 reference None", lambda: dg.wasserstein1(GOOD, None), TypeError, "`reference`"),
    Case(
        "w1 reference strings",
        lambda: dg.wasserstein1(GOOD, np.array([["a"]])),
        TypeError,
        "`reference`",
    ),
    Case(
        "w1 reference empty",
        lambda: dg.wasserstein1(GOOD, np.zeros((0, 1))),
        ValueError,
        "`reference`",
    ),
    Case(
        "w1 reference non-finite",
        lambda: dg.wasserstein1(GOOD, np.full((5, 1), np.nan)),
        ValueError,
        "`reference`",
    ),
    Case(
        "w1 points_per_draw 0",
        lambda: dg.wasserstein1(GOOD, stats.norm.ppf, points_per_draw=0),
        ValueError,
        "`points_per_draw`",
    ),
    Case(
        "w1 one quantile for two coordinates",
        lambda: dg.wasserstein1(GOOD2, stats.norm.ppf),
        ValueError,
        "`reference`",
    ),
    Case(
        "quantile high not above low",
        lambda: dg.quantile_from_cdf(stats.norm.cdf, 1.0, 1.0),
        ValueError,
        "`high`",
    ),
    Case(
        "quantile iterations 0",
        lambda: dg.quantile_from_cdf(stats.norm.cdf, 0.0, 1.0, iterations=0),
        ValueError,
        "`iterations`",
    ),
    Case(
        "quantile cdf not callable", lambda: dg.quantile_from_cdf(0.5, 0.0, 1.0), TypeError, "`cdf`"
    ),
]

KSD_CASES = [
    Case("ksd beta positive", lambda: dg.ksd(GOOD2, lambda v: -v, beta=0.5), ValueError, "`beta`"),
    Case(
        "ksd beta a string", lambda: dg.ksd(GOOD2, lambda v: -v, beta="-0.5"), TypeError, "`beta`"
    ),
    Case("ksd c zero", lambda: dg.ksd(GOOD2, lambda v: -v, c=0.0), ValueError, "`c`"),
    Case(
        "ksd batch_size 0",
        lambda: dg.ksd(GOOD2, lambda v: -v, batch_size=0),
        ValueError,
        "`batch_size`",
    ),
    Case(
        "ksd batch_size fractional",
        lambda: dg.ksd(GOOD2, lambda v: -v, batch_size=2.0),
        TypeError,
        "`batch_size`",
    ),
    Case("ksd score a number", lambda: dg.ksd(GOOD2, 3.0), TypeError, "`score`"),
    Case(
        "ksd score wrong shape",
        lambda: dg.ksd(GOOD2, lambda v: jnp.zeros(3)),
        ValueError,
        "`score`",
    ),
    Case("ksd score not finite", lambda: dg.ksd(GOOD2, lambda v: v / 0.0), ValueError, "`score`"),
    Case("ksd no draws", lambda: dg.ksd(np.zeros((2, 0, 2)), lambda v: -v), ValueError, "`draws`"),
    Case(
        "ksd non-finite draws", lambda: dg.ksd(with_nan(GOOD), lambda v: -v), ValueError, "`draws`"
    ),
]

ARVIZ_CASES = [
    Case(
        "to_arviz names wrong count",
        lambda: jl.to_arviz(GOOD, names=["a", "b"]),
        ValueError,
        "`names`",
    ),
    Case("to_arviz names a number", lambda: jl.to_arviz(GOOD, names=3), TypeError, "`names`"),
    Case(
        "to_arviz names neither per leaf nor per coordinate",
        lambda: jl.to_arviz(GOOD2, names=["a", "b", "c"]),
        ValueError,
        "`names` must give one string per leaf of the positions (1), or",
    ),
    Case(
        "to_arviz names per coordinate not strings",
        lambda: jl.to_arviz(GOOD2, names=["a", 2]),
        ValueError,
        "`names` must be strings",
    ),
    Case(
        "to_arviz names per coordinate repeated",
        lambda: jl.to_arviz(GOOD2, names=["a", "a"]),
        ValueError,
        "`names` must be distinct",
    ),
    Case(
        "to_arviz coords of a dimension that does not exist",
        lambda: jl.to_arviz(GOOD2, coords={"x_dim_1": ["a", "b"]}),
        ValueError,
        "`coords` names dimensions the posterior does not have: ['x_dim_1']",
    ),
    Case(
        "to_arviz names repeated",
        lambda: jl.to_arviz({"a": GOOD, "b": GOOD}, names=["u", "u"]),
        ValueError,
        "`names`",
    ),
    Case("to_arviz coords a list", lambda: jl.to_arviz(GOOD, coords=[1]), TypeError, "`coords`"),
    Case("to_arviz dims a list", lambda: jl.to_arviz(GOOD, dims=["a"]), TypeError, "`dims`"),
    Case(
        "to_arviz dims unknown variable",
        lambda: jl.to_arviz(GOOD, dims={"y": ["a"]}),
        ValueError,
        "`dims`",
    ),
    Case(
        "to_arviz coords wrong length",
        lambda: jl.to_arviz(GOOD2, dims={"x": ["axis"]}, coords={"axis": [1, 2, 3]}),
        ValueError,
        "`coords",
    ),
    Case("to_arviz 0 chains", lambda: jl.to_arviz(np.zeros((0, 5))), ValueError, "`trace`"),
    Case("to_arviz None", lambda: jl.to_arviz(None), TypeError, "`trace`"),
    Case(
        "to_arviz Trace without positions",
        lambda: jl.to_arviz(no_positions()),
        ValueError,
        "`trace`",
    ),
]

PLOT_CASES = [
    Case(
        "histogram coordinate out of range",
        lambda: plot.histogram(GOOD, coordinate=1),
        ValueError,
        "`coordinate`",
    ),
    Case(
        "histogram coordinate fractional",
        lambda: plot.histogram(GOOD, coordinate=0.5),
        TypeError,
        "`coordinate`",
    ),
    Case("histogram bins 0", lambda: plot.histogram(GOOD, bins=0), ValueError, "`bins`"),
    Case(
        "histogram target a string", lambda: plot.histogram(GOOD, "quartic"), TypeError, "`target`"
    ),
    Case(
        "histogram target of another dimension",
        lambda: plot.histogram(GOOD, ELLIPSE),
        ValueError,
        "`target`",
    ),
    Case(
        "histogram non-finite draws",
        lambda: plot.histogram(with_nan(GOOD)),
        ValueError,
        "`draws` has 2 non-finite",
    ),
    Case("histogram no chains", lambda: plot.histogram(np.zeros((0, 5, 1))), ValueError, "`draws`"),
    Case("particles 1-D draws", lambda: plot.particles(GOOD), ValueError, "`draws`"),
    Case(
        "particles step out of range", lambda: plot.particles(GOOD2, step=50), ValueError, "`step`"
    ),
    Case("particles step fractional", lambda: plot.particles(GOOD2, step=1.5), TypeError, "`step`"),
    Case("particles size negative", lambda: plot.particles(GOOD2, size=-1.0), ValueError, "`size`"),
    Case("particles 1-D target", lambda: plot.particles(GOOD2, QUARTIC), ValueError, "`target`"),
    Case(
        "trajectories chains a string",
        lambda: plot.trajectories(GOOD, chains="0"),
        TypeError,
        "`chains`",
    ),
    Case(
        "trajectories chain out of range",
        lambda: plot.trajectories(GOOD, chains=[9]),
        ValueError,
        "`chains`",
    ),
    Case("trajectories thin 0", lambda: plot.trajectories(GOOD, thin=0), ValueError, "`thin`"),
    Case(
        "trajectories burnin negative",
        lambda: plot.trajectories(GOOD, burnin=-1),
        ValueError,
        "`burnin`",
    ),
    Case(
        "animate 3-D draws",
        lambda: plot.animate(np.zeros((3, 4, 3)), "x.gif"),
        ValueError,
        "`draws`",
    ),
    Case(
        "animate folder missing",
        lambda: plot.animate(GOOD, "no/such/folder/x.gif"),
        ValueError,
        "`path`",
    ),
    Case("animate path a number", lambda: plot.animate(GOOD, 3), TypeError, "`path`"),
    Case("animate frames 0", lambda: plot.animate(GOOD, "x.gif", frames=0), ValueError, "`frames`"),
    Case("animate fps 0", lambda: plot.animate(GOOD, "x.gif", fps=0), ValueError, "`fps`"),
    Case(
        "animate dpi fractional", lambda: plot.animate(GOOD, "x.gif", dpi=40.5), TypeError, "`dpi`"
    ),
    Case(
        "animate cumulative a string",
        lambda: plot.animate(GOOD, "x.gif", cumulative="yes"),
        TypeError,
        "`cumulative`",
    ),
    Case("trace_plot of a cloud", lambda: plot.trace_plot(GOOD[:, :1]), ValueError, "`data`"),
    Case("rank_plot None", lambda: plot.rank_plot(None), TypeError, "`data`"),
    Case("rank_plot non-finite", lambda: plot.rank_plot(with_nan(GOOD)), ValueError, "`data`"),
    Case(
        "trace_plot unknown var_names",
        lambda: plot.trace_plot(GOOD, var_names=["y"]),
        ValueError,
        "`var_names`",
    ),
    Case(
        "trace_plot var_names a number",
        lambda: plot.trace_plot(GOOD, var_names=3),
        TypeError,
        "`var_names`",
    ),
]

SUMMARY_CASES = [
    Case("summary trace None", lambda: dg.summary(None), TypeError, "`trace`"),
    Case(
        "summary 3 draws per chain", lambda: dg.summary(GOOD[:, :3]), ValueError, "layout='cloud'"
    ),
    Case(
        "summary non-finite draws",
        lambda: dg.summary(with_nan(GOOD)),
        ValueError,
        "`trace` has 2 non-finite draws",
    ),
    Case(
        "summary Trace without positions", lambda: dg.summary(no_positions()), ValueError, "`trace`"
    ),
    Case("summary model a string", lambda: dg.summary(GOOD, "model"), TypeError, "`model`"),
    Case(
        "summary quantiles a number",
        lambda: dg.summary(GOOD, quantiles=0.5),
        TypeError,
        "`quantiles`",
    ),
    Case(
        "summary quantiles a string",
        lambda: dg.summary(GOOD, quantiles="5%"),
        TypeError,
        "`quantiles`",
    ),
    Case(
        "summary quantile 1",
        lambda: dg.summary(GOOD, quantiles=(0.5, 1.0)),
        ValueError,
        "`quantiles`",
    ),
    Case(
        "summary quantile NaN",
        lambda: dg.summary(GOOD, quantiles=[np.nan]),
        ValueError,
        "`quantiles`",
    ),
    Case(
        "summary quantiles empty", lambda: dg.summary(GOOD, quantiles=()), ValueError, "`quantiles`"
    ),
    Case(
        "summary quantiles repeated",
        lambda: dg.summary(GOOD, quantiles=(0.5, 0.5)),
        ValueError,
        "`quantiles`",
    ),
    Case(
        "summary quantile not a number",
        lambda: dg.summary(GOOD, quantiles=("a",)),
        TypeError,
        "`quantiles`",
    ),
    Case("summary unknown layout", lambda: dg.summary(GOOD, layout="grid"), ValueError, "`layout`"),
    Case(
        "summary superchains do not divide",
        lambda: dg.summary(GOOD, superchains=3),
        ValueError,
        "`superchains`",
    ),
    Case(
        "summary superchains a float",
        lambda: dg.summary(GOOD, superchains=2.0),
        TypeError,
        "`superchains`",
    ),
    Case(
        "summary superchain labels too few",
        lambda: dg.summary(GOOD, superchains=[0, 0, 1]),
        ValueError,
        "`superchains`",
    ),
    Case(
        "summary superchains of unequal sizes",
        lambda: dg.summary(GOOD, superchains=[0, 0, 0, 1]),
        ValueError,
        "`superchains`",
    ),
    Case(
        "summary cloud with one particle per superchain",
        lambda: dg.summary(GOOD[:, :1], superchains=4),
        ValueError,
        "`superchains`",
    ),
    Case(
        "nested_rhat one superchain", lambda: dg.nested_rhat(GOOD, 1), ValueError, "`superchains`"
    ),
    Case(
        "nested_rhat superchains bool",
        lambda: dg.nested_rhat(GOOD, True),
        TypeError,
        "`superchains`",
    ),
    Case(
        "nested_rhat float labels",
        lambda: dg.nested_rhat(GOOD, [0.0, 0.0, 1.0, 1.0]),
        TypeError,
        "`superchains`",
    ),
    Case(
        "nested_rhat one label for all chains",
        lambda: dg.nested_rhat(GOOD, [7, 7, 7, 7]),
        ValueError,
        "`superchains`",
    ),
    Case(
        "nested_rhat 3 chains make no default superchains",
        lambda: dg.nested_rhat(GOOD[:3]),
        ValueError,
        "`superchains`",
    ),
    Case(
        "nested_rhat one chain per superchain and one draw",
        lambda: dg.nested_rhat(GOOD[:, :1], 4),
        ValueError,
        "`superchains`",
    ),
    Case("nested_rhat draws a string", lambda: dg.nested_rhat("x"), TypeError, "`draws`"),
    Case("check no target, trace None", lambda: jl.check(None), TypeError, "`trace`"),
    Case(
        "check no target, 3 draws per chain",
        lambda: jl.check(GOOD[:, :3]),
        ValueError,
        "layout='cloud'",
    ),
    Case(
        "check no target, non-finite draws",
        lambda: jl.check(with_nan(GOOD)),
        ValueError,
        "`trace` has 2 non-finite draws",
    ),
    Case("check no target, no positions", lambda: jl.check(no_positions()), ValueError, "`trace`"),
    Case("check model a string", lambda: jl.check(GOOD, model="m"), TypeError, "`model`"),
    Case(
        "check target and model both",
        lambda: jl.check(GOOD, QUARTIC, model=object()),
        ValueError,
        "`model`",
    ),
    Case(
        "check max_stuck negative", lambda: jl.check(GOOD, max_stuck=-1), ValueError, "`max_stuck`"
    ),
    Case(
        "check max_stuck a float", lambda: jl.check(GOOD, max_stuck=0.5), TypeError, "`max_stuck`"
    ),
    Case(
        "check acceptance_min 1",
        lambda: jl.check(GOOD, acceptance_min=1.0),
        ValueError,
        "`acceptance_min`",
    ),
    Case(
        "check acceptance_min a string",
        lambda: jl.check(GOOD, acceptance_min="high"),
        TypeError,
        "`acceptance_min`",
    ),
    Case(
        "check no target, rhat_max below 1",
        lambda: jl.check(GOOD, rhat_max=0.9),
        ValueError,
        "`rhat_max`",
    ),
]

CASES = (
    CHECK_CASES + MCMC_CASES + EXACT_CASES + KSD_CASES + ARVIZ_CASES + PLOT_CASES + SUMMARY_CASES
)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_every_row_is_distinct():
    assert len({case.id for case in CASES}) == len(CASES)
