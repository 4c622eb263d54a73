"""KS, 1-Wasserstein and moment z-scores against exact answers."""

import jax
import numpy as np
import pytest
from _exact_draws import ar1, exact_draws
from scipy import stats

import jlangevin as jl
from jlangevin import diagnostics as dg

ALPHA = 0.05


# --------------------------------------------------------------------------- #
# KS
# --------------------------------------------------------------------------- #
def test_a_cdf_is_evaluated_in_power_of_two_batches_and_gives_its_own_values():
    """The KS test's CDF calls see a few input lengths (so a ``jax.numpy`` CDF compiles a
    few programs, not one per draw count), and the padding never reaches the result."""
    from jlangevin.diagnostics.exact import MIN_CDF_BATCH, evaluate_cdf

    target = jl.targets.quartic()
    lengths = []

    def recording(v):
        lengths.append(len(v))
        return target.cdf(v)

    rng = np.random.default_rng(0)
    for n in (1, MIN_CDF_BATCH - 1, MIN_CDF_BATCH, MIN_CDF_BATCH + 1, 3000):
        v = rng.uniform(-0.7, 1.5, n).astype(np.float32)
        got = evaluate_cdf(recording, v)
        assert got.shape == (n,) and got.dtype == np.float64
        np.testing.assert_array_equal(got, np.asarray(target.cdf(v), dtype=float))
    assert lengths == [256, 256, 256, 512, 4096]
    # Through the KS test: its draws' count (here 1,234) reaches the CDF as a power of two.
    lengths.clear()
    x = np.asarray(target.sample(jax.random.key(1), 1234))
    result = dg.ks_test(x[:, :1], recording, layout="cloud")
    assert lengths == [2048] and result.n_effective == 1234


def test_ks_level_holds_for_an_autocorrelated_chain_where_naive_ks_fails():
    """AR(1) chains (rho = 0.9) have exactly the N(0, 1) law; only correlation differs.

    Under the null, rejections at level 5% over R independent replicates are
    Binomial(R, 0.05); more than its 99.9% quantile means the level does not hold.
    """
    rng = np.random.default_rng(42)
    replicates = 300
    bound = stats.binom.ppf(0.999, replicates, ALPHA)
    thinned = naive = 0
    for _ in range(replicates):
        x = ar1(rng, 0.9, chains=4, draws=1000)
        thinned += dg.ks_test(x, stats.norm.cdf).pvalue < ALPHA
        naive += dg.ks_test(x, stats.norm.cdf, thin=None).pvalue < ALPHA
    assert thinned <= bound, (thinned, bound)
    assert naive > bound, (naive, bound)  # the plain test rejects a correct chain


def test_ks_passes_exact_draws_and_catches_shift_and_narrowness():
    target = jl.targets.quartic()
    x = exact_draws(target, seed=1)
    assert dg.ks_test(x, target).pvalue > 1e-3
    assert dg.ks_test(x + 0.1, target).pvalue < 1e-3
    narrow = target.mean + 0.8 * (x - target.mean)
    assert dg.ks_test(narrow, target).pvalue < 1e-3


def test_ks_result_fields():
    x = np.random.default_rng(3).normal(size=(4, 500))
    result = dg.ks_test(x, stats.norm.cdf, thin=5)
    assert result.n_effective == 400 and result.thin == 5
    expected = stats.kstest(x[:, ::5].ravel(), stats.norm.cdf)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)


def test_ks_bad_input():
    ellipse = jl.targets.ellipse()
    with pytest.raises(ValueError, match="no exact 1-D CDF"):
        dg.ks_test(np.zeros((2, 50)), ellipse)
    with pytest.raises(ValueError, match="one scalar coordinate"):
        dg.ks_test(np.zeros((2, 50, 2)), stats.norm.cdf)
    with pytest.raises(TypeError, match="`cdf`"):
        dg.ks_test(np.zeros((2, 50)), "normal")
    with pytest.raises(ValueError, match="`thin`"):
        dg.ks_test(np.zeros((2, 50)), stats.norm.cdf, thin=0)


# --------------------------------------------------------------------------- #
# 1-Wasserstein
# --------------------------------------------------------------------------- #
def test_w1_point_masses_exact():
    assert dg.wasserstein1(np.zeros((1, 10, 1)), np.ones((5, 1)))[0] == pytest.approx(1.0)


def test_w1_of_a_shift_is_the_shift_up_to_sampling_error():
    """Triangle inequality: |W1(z + d, P) - d| <= W1(z, P) exactly."""
    z = np.random.default_rng(4).normal(size=(2, 2000, 1))
    base = dg.wasserstein1(z, stats.norm.ppf)[0]
    for shift in (0.1, 0.5):
        w = dg.wasserstein1(z + shift, stats.norm.ppf)[0]
        assert abs(w - shift) <= base + 1e-9


def test_w1_quantiles_from_cdf_agree_with_reference_sample():
    target = jl.targets.quartic()
    x = exact_draws(target, seed=5, chains=2, draws=1000)
    quantile = dg.quantile_from_cdf(target.cdf, -0.7, 1.5)
    by_quantile = dg.wasserstein1(x, quantile)[0]
    reference = exact_draws(target, seed=6, chains=1, draws=20_000)[0]
    by_sample = dg.wasserstein1(x, reference)[0]
    # Both estimate W1(empirical, exact); they differ by at most W1(reference, exact).
    assert abs(by_quantile - by_sample) <= dg.wasserstein1(reference[None], quantile)[0] + 1e-9


def test_w1_pytree_and_bad_input():
    x = {"a": np.zeros((2, 5)), "b": np.zeros((2, 5, 2))}
    out = dg.wasserstein1(x, {"a": np.ones(7), "b": np.full((7, 2), 2.0)})
    assert out["a"] == pytest.approx(1.0) and out["b"].tolist() == pytest.approx([2.0, 2.0])
    with pytest.raises(ValueError, match="`reference`"):
        dg.wasserstein1(np.zeros((2, 5, 2)), np.zeros((7, 3)))
    with pytest.raises(ValueError, match="quantile"):
        dg.wasserstein1(np.zeros((2, 5, 2)), stats.norm.ppf)


# --------------------------------------------------------------------------- #
# Moment z-scores
# --------------------------------------------------------------------------- #
def test_zscores_pass_exact_draws_and_catch_bias():
    target = jl.targets.ellipse()
    x = exact_draws(target, seed=7)
    z = dg.moment_zscores(x, target)
    assert np.all(np.abs(z.mean) < 4) and np.all(np.abs(z.var) < 4)
    shifted = dg.moment_zscores(x + 0.1, target)
    assert np.all(np.abs(shifted.mean) > 4)
    narrow = dg.moment_zscores(0.8 * x, target)
    assert np.all(narrow.var < -4)


def test_zscores_of_a_stuck_chain_are_not_finite_passes():
    z = dg.moment_zscores(np.full((4, 100, 1), 0.3), np.zeros(1), np.ones(1))
    assert not np.all(np.abs(z.mean) <= 4) and not np.all(np.abs(z.var) <= 4)


def test_zscores_bad_shapes():
    with pytest.raises(ValueError, match="`mean` must broadcast"):
        dg.moment_zscores(np.zeros((2, 50, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="`var`"):
        dg.moment_zscores(np.zeros((2, 50, 3)), np.zeros(3), np.ones(4))
