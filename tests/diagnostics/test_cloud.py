"""Particle clouds (many chains, one draw each) are checked as independent draws.

Exact draws pass; a uniform sample on the quartic's support fails in both layouts;
a shifted or too-narrow Gaussian cloud fails. Every threshold is ``jl.check``'s
default (p-value and z thresholds from the statistics' null distributions).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exact_draws import exact_draws
from scipy import stats

import jlangevin as jl
from jlangevin import diagnostics as dg

QUARTIC = jl.targets.quartic()
GAUSS = jl.targets.gaussian([1.0, -1.0], scale=[1.0, 0.5])
CLOUD_NOTE = "independent draws (particle cloud); chain diagnostics not applicable"
LOW, HIGH = -0.7, 1.5  # the quartic's support


def statuses(report, name):
    return {row.status for row in report[name]}


def ran(report):
    return {row.name for row in report.rows if row.status != "skip"}


# --------------------------------------------------------------------------- #
# The quartic
# --------------------------------------------------------------------------- #
def test_exact_quartic_cloud_passes_and_says_how_it_was_checked():
    cloud = exact_draws(QUARTIC, seed=20, chains=4000, draws=1)
    report = jl.check(cloud, QUARTIC)
    assert report.passed, str(report)
    assert report.layout == "cloud"
    assert f"checked as 4000 {CLOUD_NOTE}" in str(report)
    assert ran(report) == {"n_independent", "mean_z", "var_z", "ks_pvalue", "w1"}
    for name in ("rhat", "ess_bulk", "ess_tail"):
        assert statuses(report, name) == {"skip"}
        assert "chain diagnostics not applicable" in report[name][0].note
    assert report["ks_pvalue"][0].note == "4000 independent draws"


@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((4000, 1, 1), "auto"),
        ((4000, 1, 1), "cloud"),
        ((4, 1000, 1), "auto"),
        ((4, 1000, 1), "chains"),
    ],
)
def test_uniform_on_the_support_fails_the_quartic_in_both_layouts(shape, layout):
    """Uniform on [-0.7, 1.5] has mean 0.4 and variance 0.403 (exact: 0.041, 0.285)."""
    x = np.random.default_rng(21).uniform(LOW, HIGH, size=shape)
    report = jl.check(x, QUARTIC, layout=layout)
    assert not report.passed
    assert report.layout == ("cloud" if shape[1] == 1 else "chains")
    for name in ("mean_z", "var_z", "ks_pvalue", "w1"):
        assert statuses(report, name) == {"fail"}, (name, str(report))


def test_few_particles_fail_for_too_little_information():
    """The hostile case: 4 chains x 1 draw no longer PASSES (4 independent draws < ess_min)."""
    report = jl.check(exact_draws(QUARTIC, seed=22, chains=4, draws=1), QUARTIC)
    assert not report.passed
    assert [row.status for row in report["n_independent"]] == ["fail"]
    assert report["n_independent"][0].value == 4


# --------------------------------------------------------------------------- #
# A Gaussian cloud (KSD runs: unbounded support)
# --------------------------------------------------------------------------- #
def test_exact_gaussian_cloud_passes_every_check_that_applies():
    report = jl.check(exact_draws(GAUSS, seed=23, chains=3000, draws=1), GAUSS)
    assert report.passed, str(report)
    assert ran(report) == {"n_independent", "mean_z", "var_z", "ks_pvalue", "w1", "ksd"}


def test_shifted_gaussian_cloud_fails_mean_ks_w1_and_ksd():
    report = jl.check(exact_draws(GAUSS, seed=24, chains=3000, draws=1) + 0.15, GAUSS)
    assert not report.passed
    for name in ("mean_z", "ks_pvalue", "w1", "ksd"):
        assert statuses(report, name) == {"fail"}, (name, str(report))


def test_too_narrow_gaussian_cloud_fails_variance_ks_and_w1():
    x = exact_draws(GAUSS, seed=25, chains=3000, draws=1)
    report = jl.check(GAUSS.mean + 0.8 * (x - GAUSS.mean), GAUSS)
    for name in ("var_z", "ks_pvalue", "w1"):
        assert statuses(report, name) == {"fail"}, (name, str(report))
    assert statuses(report, "mean_z") == {"pass"}


# --------------------------------------------------------------------------- #
# Layout: auto, explicit, and what a cloud of several kept draws uses
# --------------------------------------------------------------------------- #
def test_explicit_cloud_uses_the_last_kept_draw_of_each_chain():
    x = exact_draws(GAUSS, seed=26, chains=2000, draws=5)
    x[:, :-1] = 0.0  # every earlier draw is wrong: only the last one is a sample of GAUSS
    report = jl.check(x, GAUSS, layout="cloud")
    assert report.passed, str(report)
    assert "the last of the 5 kept draws of each chain" in report.sample
    assert not jl.check(x, GAUSS, layout="chains").passed


def test_chains_layout_refuses_a_cloud_and_points_to_the_cloud_layout():
    cloud = exact_draws(GAUSS, seed=27, chains=500, draws=1)
    with pytest.raises(ValueError, match=r"`trace`.*layout='cloud'"):
        jl.check(cloud, GAUSS, layout="chains")
    assert jl.check(cloud, GAUSS).layout == "cloud"  # auto


def test_cloud_statistics_are_the_iid_ones():
    """KS on the cloud is scipy's KS on the sample; z = (mean - mu) / (sd / sqrt(n))."""
    x = np.random.default_rng(28).normal(size=(800, 1, 1))
    result = dg.ks_test(x, stats.norm.cdf)
    expected = stats.kstest(x[:, 0, 0], stats.norm.cdf)
    assert (result.n_effective, result.thin) == (800, 1)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-12)
    z = dg.moment_zscores(x, 0.0, 1.0)
    sample = x[:, 0, 0]
    z_mean = sample.mean() / (sample.std(ddof=1) / np.sqrt(800))
    z_var = (np.mean(sample**2) - 1.0) / (np.std(sample**2, ddof=1) / np.sqrt(800))
    assert float(z.mean[0]) == pytest.approx(z_mean, rel=1e-12)
    assert float(z.var[0]) == pytest.approx(z_var, rel=1e-12)


def test_cloud_zscore_level_holds_and_a_small_shift_is_caught():
    """Over R exact clouds, |z| > 1.96 is Binomial(R, 0.05); beyond its 99.9% quantile the
    standard error would be wrong. A shift of 0.3 sd (z about 0.3 sqrt(200) = 4.2) must
    exceed it."""
    rng = np.random.default_rng(29)
    replicates, alpha = 400, 0.05
    bound = stats.binom.ppf(0.999, replicates, alpha)
    exact = shifted = 0
    for _ in range(replicates):
        x = rng.normal(size=(200, 1, 1))
        exact += abs(float(dg.moment_zscores(x, 0.0).mean[0])) > 1.96
        shifted += abs(float(dg.moment_zscores(x + 0.3, 0.0).mean[0])) > 1.96
    assert exact <= bound, (exact, bound)
    assert shifted > bound, (shifted, bound)


# --------------------------------------------------------------------------- #
# Clouds from the driver
# --------------------------------------------------------------------------- #
def cloud_run(sampler, start, steps, seed=0):
    """``start.shape[0]`` particles, ``steps`` steps, only the last position kept."""
    return jl.run(jax.random.key(seed), sampler, jnp.asarray(start), 1, burnin=steps - 1)


@pytest.mark.long
def test_a_mala_cloud_stays_exact_and_a_biased_ula_cloud_fails():
    """MALA keeps exact particles exact. ULA with step h on N(mu, sigma²) has the stationary
    variance sigma² / (1 - h / (2 sigma²)): with h = 0.1 and sigma = 0.5 that is 0.3125,
    not 0.25; after 30 steps (contraction 1 - h / sigma² = 0.6 per step) the cloud sits
    there, and its variance z-score is about 0.0625 / (sqrt(2) 0.3125 / sqrt(3000)) = 7.7."""
    start = exact_draws(GAUSS, seed=30, chains=3000, draws=1)[:, 0]
    mala = cloud_run(jl.mala(GAUSS.logdensity, step_size=0.1), start, 30)
    assert mala.positions.shape == (3000, 1, 2)
    report = jl.check(mala, GAUSS)
    assert report.passed, str(report)
    assert report["diverged"][0].passed
    ula = cloud_run(jl.ula(GAUSS.logdensity, step_size=0.1), start, 30)
    biased = jl.check(ula, GAUSS)
    assert biased["var_z"][1].status == "fail" and not biased.passed
