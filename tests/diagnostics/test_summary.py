"""jl.summary and nested R-hat; jl.check without a target.

Nested R-hat is checked three ways: a hand-computed example (the formula exactly),
its null distribution on i.i.d. normal draws (built from chi-square variables,
independently of the implementation) and a broken companion whose superchains
disagree. The summary's numbers are ArviZ's own.
"""

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from scipy import stats

import jlangevin as jl
from jlangevin.diagnostics import nested_rhat, summary

GAUSS = jl.targets.gaussian([1.0, -1.0], scale=[1.0, 0.5])
K, M, N = 8, 8, 20  # superchains, chains per superchain, draws per chain


# --------------------------------------------------------------------------- #
# nested R-hat
# --------------------------------------------------------------------------- #
def test_nested_rhat_by_hand():
    # superchain 0: chains [0, 1, 2], [2, 3, 4] (means 1, 3; variances 1, 1)
    # superchain 1: chains [4, 6, 8], [6, 8, 10] (means 6, 8; variances 4, 4)
    x = np.array([[0, 1, 2], [2, 3, 4], [4, 6, 8], [6, 8, 10]], dtype=float)[..., None]
    # B = var(2, 7) = 12.5; W = ((var(1, 3) + 1) + (var(6, 8) + 4)) / 2 = (3 + 6) / 2 = 4.5
    np.testing.assert_allclose(nested_rhat(x, superchains=2), [np.sqrt(1 + 12.5 / 4.5)])
    # the same grouping as labels, chains interleaved
    interleaved = x[[0, 2, 1, 3]]
    np.testing.assert_allclose(
        nested_rhat(interleaved, superchains=[5, 9, 5, 9]), [np.sqrt(34 / 9)], rtol=1e-12
    )
    # one chain per superchain: B = var(1, 3, 6, 8) = 29 / 3, W = mean variance = 2.5
    np.testing.assert_allclose(nested_rhat(x, superchains=4), [np.sqrt(1 + 29 / 3 / 2.5)])
    # one draw per chain (the chain means): W = mean of var(1, 3) and var(6, 8) = 2
    means = x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(nested_rhat(means, superchains=2), [np.sqrt(1 + 12.5 / 2)])


def null_nested_rhat(rng: np.random.Generator, size: int) -> np.ndarray:
    """Nested R-hat of i.i.d. N(0, 1) draws, (K M) chains x N draws, from chi-squares.

    For normal draws the superchain means, the chain means about them and the
    draws about their chain means are independent, so B = chi2(K-1) / ((K-1) M N)
    and W = chi2(K(M-1)) / (K(M-1) N) + chi2(KM(N-1)) / (KM(N-1)).
    """
    b = rng.chisquare(K - 1, size) / ((K - 1) * M * N)
    w = rng.chisquare(K * (M - 1), size) / (K * (M - 1) * N)
    w += rng.chisquare(K * M * (N - 1), size) / (K * M * (N - 1))
    return np.sqrt(1 + b / w)


def test_nested_rhat_of_iid_draws_follows_its_null_distribution():
    rng = np.random.default_rng(0)
    null = null_nested_rhat(rng, 100_000)
    limit = np.quantile(null, 0.999)  # 1.0104 at this size: about the paper's 1.01
    assert 1.005 < limit < 1.02
    # 64 chains x 20 draws, 8 superchains of 8, every coordinate a fresh replicate
    values = nested_rhat(rng.normal(size=(K * M, N, 400)), superchains=K)
    assert stats.ks_2samp(values, null).pvalue > 1e-3
    one = nested_rhat(rng.normal(size=(K * M, N, 1)), superchains=K)[0]
    assert 1.0 <= one < limit


def test_nested_rhat_fails_when_superchains_disagree():
    # broken companion: half the superchains sit 0.5 sd away. (One superchain offset
    # by 0.5 sd is caught only ~93% of the time with 64 x 20 draws; half of them:
    # none of 20,000 replicates stayed below the 99.9% null quantile.)
    rng = np.random.default_rng(1)
    limit = np.quantile(null_nested_rhat(rng, 100_000), 0.999)
    x = rng.normal(size=(K * M, N, 50))
    x[: K * M // 2] += 0.5
    values = nested_rhat(x, superchains=K)
    assert np.all(values > limit) and np.all(values > 1.01), values.min()
    # the same draws grouped so that every superchain holds 4 chains of each half agree
    mixed = np.arange(K * M) % K
    assert np.all(nested_rhat(x, superchains=mixed) < limit)


def test_nested_rhat_pytree_and_default_grouping():
    x = np.random.default_rng(2).normal(size=(16, 10, 3))
    out = nested_rhat({"a": x[..., 0], "b": x[..., 1:]})
    assert out["a"].shape == () and out["b"].shape == (2,)
    np.testing.assert_allclose(out["b"], nested_rhat(x[..., 1:], superchains=4))  # 16 -> 4 x 4


# --------------------------------------------------------------------------- #
# jl.summary
# --------------------------------------------------------------------------- #
def test_summary_numbers_are_arvizs():
    x = np.random.default_rng(3).normal(size=(4, 300, 3)) * [1.0, 2.0, 0.5]
    s = summary(x)
    dataset = xr.Dataset({"x": (("chain", "draw", "c"), x)})
    reference = az.summary(dataset, round_to="none")
    for column in ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"):
        np.testing.assert_allclose(s[column], reference[column].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(s["r_hat"], az.rhat(dataset, method="rank")["x"].values)
    np.testing.assert_allclose(
        [s["5%"], s["50%"], s["95%"]], np.quantile(x.reshape(-1, 3), [0.05, 0.5, 0.95], axis=0)
    )
    np.testing.assert_allclose(s["nested_r_hat"], nested_rhat(x, superchains=2))
    assert s.names == ("x[0]", "x[1]", "x[2]") and s.superchains == (2, 2)


def test_summary_names_per_leaf_and_a_table():
    rng = np.random.default_rng(4)
    draws = {"w": rng.normal(size=(4, 50, 2, 2)), "b": rng.normal(size=(4, 50))}
    s = summary(draws, quantiles=(0.1, 0.9))
    assert s.names == ("b", "w[0, 0]", "w[0, 1]", "w[1, 0]", "w[1, 1]")
    assert s.columns[:4] == ("mean", "sd", "10%", "90%")
    assert s.row("w[1, 0]")["mean"] == pytest.approx(draws["w"][..., 1, 0].mean())
    text = str(s)
    for piece in ("4 chains x 50 draws", "ess_bulk", "nested_r_hat", "w[0, 1]", "not recorded"):
        assert piece in text
    assert set(s.to_dict()) == set(s.names)
    pd = pytest.importorskip("pandas")
    assert isinstance(s.to_pandas(), pd.DataFrame)


def test_summary_of_a_cloud_shows_moments_only_and_says_so():
    x = np.random.default_rng(5).normal(size=(2000, 1, 2))
    s = summary(x)
    assert s.layout == "cloud" and s.columns == ("mean", "sd", "5%", "50%", "95%")
    np.testing.assert_allclose(s["sd"], x[:, 0].std(axis=0, ddof=1))
    assert "chain diagnostics (MCSE, ESS, R-hat) not applicable" in str(s)
    # superchains given: chains of one superchain started together, nested R-hat applies
    assert "nested_r_hat" in summary(x, superchains=20).columns


def test_summary_of_one_chain_has_no_rhat():
    s = summary(np.random.default_rng(6).normal(size=(1, 200, 1)))
    assert np.isnan(s["r_hat"][0]) and np.isnan(s["nested_r_hat"][0])
    assert "one chain" in str(s)


def test_summary_footer_reports_the_run():
    sampler = jl.mala(GAUSS.logdensity, step_size=0.25)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 300)
    text = str(summary(trace))
    assert "divergences: 0 (0 of 4 chains)" in text
    assert "stuck chains (never moved): 0 of 4" in text
    low = trace.info.acceptance_rate.mean(axis=1).min()
    assert f"acceptance per chain: min {low:.3f}" in text
    assert "(mean acceptance over the 300 kept steps)" in text


def constant_and_moving_chains():
    """8 chains x 100 draws: coordinate 0 never changes (every draw 1.5), coordinate 1 moves."""
    x = np.random.default_rng(7).normal(size=(8, 100, 2))
    x[..., 0] = 1.5
    return x


def assert_constant_coordinate_has_no_ess(s):
    """The constant coordinate's ESS, MCSE and R-hat are nan, and the table says why."""
    for column in ("ess_bulk", "ess_tail", "mcse_mean", "r_hat", "nested_r_hat"):
        assert np.isnan(s.row("x[0]")[column]), (column, s.row("x[0]"))
    assert 400 < s.row("x[1]")["ess_bulk"] < 2000  # the moving coordinate is untouched
    assert "constant draws (every draw equal) in x[0]" in str(s)


def test_constant_chains_have_no_effective_sample_size():
    s = summary(constant_and_moving_chains())
    assert s.row("x[0]")["mean"] == 1.5 and s.row("x[0]")["sd"] == 0.0
    assert_constant_coordinate_has_no_ess(s)
    x = constant_and_moving_chains()
    assert np.isnan(jl.diagnostics.ess(x)[0]) and np.isnan(jl.diagnostics.mcse(x)[0])
    assert np.isnan(jl.diagnostics.ess(x, method="tail")[0])
    (row,) = jl.check(x[..., :1], jl.targets.gaussian([1.5]))["ess_bulk"]
    assert row.status == "fail" and np.isnan(row.value)


def test_constant_chains_reported_with_arvizs_ess_are_caught(monkeypatch):
    """Broken companion: without the constant-draw rule ArviZ's ESS is the draw count (800)."""
    from jlangevin.diagnostics import mcmc

    monkeypatch.setattr(
        mcmc, "constant_coordinates", lambda coords: np.zeros(coords.shape[-1], bool)
    )
    s = summary(constant_and_moving_chains())
    assert s.row("x[0]")["ess_bulk"] == 800
    with pytest.raises(AssertionError):
        assert_constant_coordinate_has_no_ess(s)


# --------------------------------------------------------------------------- #
# jl.check without a target
# --------------------------------------------------------------------------- #
def test_check_without_target_passes_a_healthy_run():
    sampler = jl.mala(GAUSS.logdensity, step_size=0.25)
    start = jnp.asarray(GAUSS.mean) * jnp.ones((4, 1))
    report = jl.check(jl.run(jax.random.key(12), sampler, start, 2000))
    assert report.passed, str(report)
    assert report.target == "" and "no exact answers were available" in str(report)
    names = {row.name for row in report.rows}
    assert names == {"diverged", "stuck", "acceptance", "rhat", "ess_bulk", "ess_tail"}


def test_check_without_target_fails_chains_started_apart_and_run_briefly():
    sampler = jl.mala(GAUSS.logdensity, step_size=0.01)
    start = jnp.array([[-20.0, -20.0], [20.0, 20.0], [-20.0, 20.0], [20.0, -20.0]])
    report = jl.check(jl.run(jax.random.key(1), sampler, start, 100))
    assert not report.passed
    assert {row.status for row in report["rhat"]} == {"fail"}
    assert min(row.value for row in report["rhat"]) > 1.5


def test_check_without_target_reports_stuck_chains():
    sampler = jl.mala(GAUSS.logdensity, step_size=1e4)  # never accepts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        trace = jl.run(jax.random.key(2), sampler, jnp.zeros((4, 2)), 200)
    assert trace.num_stuck_chains == 4
    report = jl.check(trace)
    assert not report.passed
    (stuck,) = report["stuck"]
    assert stuck.status == "fail" and stuck.value == 4 and "0, 1, 2, 3" in stuck.note
    assert report["acceptance"][0].status == "fail"
    assert "stuck chains (never moved): 4 of 4: 0, 1, 2, 3" in str(summary(trace))


# --------------------------------------------------------------------------- #
# a NumPyro model: constrained names
# --------------------------------------------------------------------------- #
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools(sigma, y=None):
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


@pytest.mark.long
def test_summary_and_check_of_a_numpyro_model_use_constrained_names():
    pytest.importorskip("numpyro")
    model = jl.from_numpyro(eight_schools, SIGMA, y=Y)
    sampler = jl.mala(model.logdensity_fn, step_size=0.3)
    trace = jl.run(jax.random.key(0), sampler, model.init(jax.random.key(1), 4), 200)
    s = summary(trace, model)
    assert {"mu", "tau", "theta[0]", "theta[7]", "theta_tilde[3]"} <= set(s.names)
    assert "log_tau" not in " ".join(s.names)
    constrained = model.constrain(trace.positions)
    assert s.row("tau")["mean"] == pytest.approx(float(np.mean(constrained["tau"])), rel=1e-5)
    assert s.row("tau")["5%"] > 0  # the constrained scale
    report = jl.check(trace, model=model)
    assert "tau" in {row.coordinate for row in report["rhat"]}
    assert "theta[7]" in {row.coordinate for row in report["ess_bulk"]}
