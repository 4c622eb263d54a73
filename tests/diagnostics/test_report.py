"""jl.check: exact draws pass everything; each kind of wrong sample fails what should catch it."""

import functools
import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exact_draws import exact_draws

import jlangevin as jl

QUARTIC, ELLIPSE = jl.targets.quartic(), jl.targets.ellipse()
GAUSS = jl.targets.gaussian([1.0, -1.0], scale=[1.0, 0.5])


def statuses(report, name):
    return {row.status for row in report[name]}


@pytest.mark.parametrize(("target", "seed"), [(QUARTIC, 0), (ELLIPSE, 1), (GAUSS, 2)])
def test_exact_iid_draws_pass_every_check(target, seed):
    report = jl.check(exact_draws(target, seed), target)
    assert report.passed, str(report)
    ran = {row.name for row in report.rows if row.status != "skip"}
    expected = {"rhat", "ess_bulk", "ess_tail", "mean_z", "var_z", "w1"}
    expected |= {"ks_pvalue"} if target.marginal_cdfs[0] is not None else set()
    expected |= {"ksd"} if target.support is None else set()
    assert ran == expected


def test_what_applies_is_decided_by_the_target():
    quartic = jl.check(exact_draws(QUARTIC, 3), QUARTIC)
    assert statuses(quartic, "ksd") == {"skip"}  # bounded support
    ellipse = jl.check(exact_draws(ELLIPSE, 3), ELLIPSE)
    assert statuses(ellipse, "ks_pvalue") == {"skip"}  # no marginal CDFs
    assert "no exact marginal CDF" in str(ellipse)


def test_shifted_draws_fail_mean_ks_w1_and_ksd():
    report = jl.check(exact_draws(GAUSS, 4) + 0.15, GAUSS)
    assert not report.passed
    for name in ("mean_z", "ks_pvalue", "w1", "ksd"):
        assert statuses(report, name) == {"fail"}, name
    assert statuses(report, "rhat") == {"pass"}  # chains agree with each other


def test_too_narrow_draws_fail_variance_ks_and_w1():
    x = exact_draws(GAUSS, 5)
    narrow = GAUSS.mean + 0.8 * (x - GAUSS.mean)
    report = jl.check(narrow, GAUSS)
    for name in ("var_z", "ks_pvalue", "w1"):
        assert statuses(report, name) == {"fail"}, name
    assert statuses(report, "mean_z") == {"pass"}


def test_a_stuck_chain_fails_rhat():
    x = exact_draws(ELLIPSE, 6)
    x[0] = x[0, 0]  # chain 0 never moves
    report = jl.check(x, ELLIPSE)
    assert statuses(report, "rhat") == {"fail"}
    assert not report.passed


def test_one_chain_skips_rhat_clearly_and_runs_the_rest():
    report = jl.check(exact_draws(QUARTIC, 7, chains=1, draws=4000), QUARTIC)
    assert statuses(report, "rhat") == {"skip"}
    assert "one chain" in report["rhat"][0].note
    assert report.passed


def test_report_table_and_rows():
    report = jl.check(exact_draws(QUARTIC, 8), QUARTIC)
    text = str(report)
    for piece in ("check", "threshold", "rhat", "ks_pvalue", "PASS", "SKIP", "PASSED"):
        assert piece in text
    row = report["mean_z"][0]
    assert row.coordinate == "x[0]" and row.passed is True and row.op == "|.|<="
    assert report["ksd"][0].passed is None


def test_thresholds_are_arguments():
    x = exact_draws(QUARTIC, 9)
    assert not jl.check(x, QUARTIC, ess_min=1e6).passed
    assert jl.check(x + 0.02, QUARTIC, z_max=1e6, w1_factor=1e6, ks_alpha=0.0).passed


@pytest.mark.long
def test_trace_input_reports_divergences():
    sampler = jl.mala(GAUSS.logdensity, step_size=0.2)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 200)
    report = jl.check(trace, GAUSS)
    assert report["diverged"][0].value == 0 and report["diverged"][0].passed


def test_bad_input():
    with pytest.raises(ValueError, match="`trace` positions must be one array"):
        jl.check(np.zeros((4, 100, 3)), GAUSS)
    with pytest.raises(ValueError, match="`trace` positions"):
        jl.check({"a": np.zeros((4, 100, 2)), "b": np.zeros((4, 100, 2))}, GAUSS)
    with pytest.raises(TypeError, match="`target`"):
        jl.check(np.zeros((4, 100, 2)), "gaussian")


# --------------------------------------------------------------------------- #
# dtypes, input kinds, numpy / JAX scalars
# --------------------------------------------------------------------------- #
def mala_gauss_trace(chains=4, steps=2000):
    sampler = jl.mala(GAUSS.logdensity, step_size=0.25)
    start = jnp.asarray(GAUSS.mean, dtype=jnp.result_type(float)) * jnp.ones((chains, 1))
    return jl.run(jax.random.key(12), sampler, start, steps)


@pytest.mark.long
def test_float64_trace_is_checked_in_float64():
    with jax.enable_x64(True):
        trace = mala_gauss_trace()
        assert trace.positions.dtype == jnp.float64
        report = jl.check(trace, GAUSS)
        ksd = jl.diagnostics.ksd(trace, GAUSS)
    assert report.passed, str(report)
    assert {"rhat", "ks_pvalue", "ksd"} <= {r.name for r in report.rows if r.status == "pass"}
    assert np.isfinite(ksd.ksd)
    # outside the x64 context the same draws give the same verdicts; exact CDFs and the
    # KSD score then run in float32 (values agree to float32 precision) and the W1
    # reference sample is drawn in float32 (other exact draws)
    outside = jl.check(trace, GAUSS)
    assert [r.status for r in outside.rows] == [r.status for r in report.rows]
    same = [i for i, r in enumerate(report.rows) if r.name != "w1"]
    np.testing.assert_allclose(
        [outside.rows[i].value for i in same], [report.rows[i].value for i in same], rtol=1e-4
    )


def test_float32_trace():
    trace = mala_gauss_trace()
    assert trace.positions.dtype == jnp.float32
    report = jl.check(trace, GAUSS)
    assert report.passed, str(report)
    assert jl.to_arviz(trace)["posterior"]["x"].shape == (4, 2000, 2)


def test_float64_and_float32_clouds():
    x = exact_draws(GAUSS, 13, chains=2000, draws=1)
    with jax.enable_x64(True):
        in64 = jl.check(jnp.asarray(x, dtype=jnp.float64), GAUSS)
    in32 = jl.check(np.asarray(x, dtype=np.float32), GAUSS)
    assert in64.passed and in32.passed and in64.layout == in32.layout == "cloud"


def test_arviz_data_and_nested_lists_are_draws():
    x = exact_draws(GAUSS, 14)
    from_arviz = jl.check(jl.to_arviz(x), GAUSS)
    assert from_arviz.rows == jl.check(x, GAUSS).rows
    assert jl.diagnostics.ess(x[:, :50, 0].tolist()).shape == ()


def test_numpy_and_jax_scalars_are_numbers():
    x = exact_draws(QUARTIC, 15)
    plain = jl.check(x, QUARTIC)
    scalars = jl.check(
        x,
        QUARTIC,
        rhat_max=np.float32(1.01),
        ess_min=jnp.asarray(400.0),
        z_max=np.int64(4),
        ks_alpha=jnp.float32(1e-3),
        max_diverged=np.int32(0),
        reference_size=jnp.asarray(20_000),
        ksd_max_samples=np.uint16(2000),
        seed=np.int64(0),
    )
    assert [r.status for r in scalars.rows] == [r.status for r in plain.rows]
    assert jl.diagnostics.ks_test(x, QUARTIC, thin=np.int64(4)).thin == 4
    assert jl.diagnostics.ksd(x[:1, :100], lambda v: -v, batch_size=jnp.asarray(32)).n == 100


def test_check_refuses_what_it_cannot_judge():
    with pytest.raises(ValueError, match="`trace` has 0 chains"):
        jl.check(np.zeros((0, 100, 1)), QUARTIC)
    with pytest.raises(ValueError, match="`trace` has 4 chains and 0 draws"):
        jl.check(np.zeros((4, 0, 1)), QUARTIC)
    x = exact_draws(QUARTIC, 16)
    x[2, 10] = np.nan
    with pytest.raises(ValueError, match=r"`trace` has 1 non-finite draws .* in 1 of 4 chains"):
        jl.check(x, QUARTIC)


# --------------------------------------------------------------------------- #
# what the KSD row judges: a subsample spread over chains and along the draws
# --------------------------------------------------------------------------- #
REPORT = importlib.import_module("jlangevin.diagnostics.report")
SUMMARY = importlib.import_module("jlangevin.diagnostics.summary")


def first_draw_of_each_chain(x, max_samples):
    """The subsample before the fix: thinned along each chain, so draw 0 of 2,000 chains."""
    chains, draws = x.shape[:2]
    kept = x[:, :: max(1, math.ceil(chains * draws / max_samples))]
    if kept.shape[0] * kept.shape[1] > max_samples:
        kept = kept[: max_samples // kept.shape[1] or 1]
    return kept.reshape(-1, x.shape[2])


def many_chains_with_a_start_transient(seed):
    """2,000 short chains of exact draws whose first kept draw is still 1 sd off (a transient)."""
    x = exact_draws(GAUSS, seed, chains=2000, draws=50)
    x[:, 0] += np.array([1.0, 0.5])
    return x


def test_ksd_subsample_covers_chains_and_draws():
    x = np.broadcast_to(np.arange(50.0)[None, :, None], (2000, 50, 1))  # value = draw index
    sub = REPORT.ksd_subsample(x, 2000)
    assert sub.shape == (2000, 1)
    counts = np.bincount(sub[:, 0].astype(int), minlength=50)
    assert counts.min() >= 30 and counts.max() <= 50  # every draw index, about 40 times each
    chains = np.broadcast_to(np.arange(8.0)[:, None, None], (8, 1000, 1))  # value = chain
    assert np.array_equal(
        np.bincount(REPORT.ksd_subsample(chains, 2000)[:, 0].astype(int)), [250] * 8
    )


def test_ksd_of_many_chains_is_not_decided_by_their_first_draw():
    x = many_chains_with_a_start_transient(20)
    (row,) = jl.check(x, GAUSS)["ksd"]
    assert row.status == "pass", row
    # spreading did not blind it: the same chains shifted throughout still fail
    (shifted,) = jl.check(exact_draws(GAUSS, 21, chains=2000, draws=50) + 0.15, GAUSS)["ksd"]
    assert shifted.status == "fail", shifted


def test_ksd_on_the_first_draw_of_each_chain_judges_the_transient(monkeypatch):
    """Broken companion: the old subsample (draw 0 of every chain) fails the same draws."""
    monkeypatch.setattr(REPORT, "ksd_subsample", first_draw_of_each_chain)
    (row,) = jl.check(many_chains_with_a_start_transient(20), GAUSS)["ksd"]
    assert row.status == "fail", row


# --------------------------------------------------------------------------- #
# the acceptance row of a thinned trace: the moves it made, said so
# --------------------------------------------------------------------------- #
@functools.cache  # one run for the row's test and its broken companion (a host-side patch)
def thinned_mala_trace():
    sampler = jl.mala(GAUSS.logdensity, step_size=0.25)
    start = jnp.asarray(GAUSS.mean, jnp.float32) * jnp.ones((4, 1))
    return jl.run(jax.random.key(30), sampler, start, 2000, burnin=200, thin=100)


def assert_acceptance_row_counts_the_moves(trace, report):
    (row,) = report["acceptance"]
    total = int(trace.steps[-1])
    assert total == 2200
    assert row.value == pytest.approx(np.min(np.asarray(trace.moves)) / total)
    assert f"share of the {total} steps that moved the chain" in row.note
    assert "20 kept steps" in row.note


def test_thinned_acceptance_is_the_share_of_steps_that_moved():
    trace = thinned_mala_trace()
    report = jl.check(trace, GAUSS)
    assert_acceptance_row_counts_the_moves(trace, report)
    # one kept step's acceptance probability can be anything; the moves say what happened
    unlucky = trace._replace(info=trace.info._replace(acceptance_rate=jnp.full((4, 20), 6e-12)))
    (row,) = jl.check(unlucky, GAUSS, acceptance_min=0.3)["acceptance"]
    assert row.value > 0.3 and row.passed
    assert "acceptance per chain" in str(jl.summary(trace)) and "moved" in str(jl.summary(trace))


def test_thinned_acceptance_from_the_kept_steps_alone_is_caught(monkeypatch):
    """Broken companion: averaging the kept steps' info (the old row) fails the test's check."""

    def kept_steps_only(trace, per_step):
        return per_step.mean(axis=1), f"mean acceptance over the {per_step.shape[1]} kept steps"

    monkeypatch.setattr(SUMMARY, "_chain_acceptance", kept_steps_only)
    trace = thinned_mala_trace()
    with pytest.raises(AssertionError):
        assert_acceptance_row_counts_the_moves(trace, jl.check(trace, GAUSS))


@pytest.mark.long
def test_unthinned_acceptance_is_the_mean_over_the_kept_steps():
    trace = mala_gauss_trace(steps=300)
    (row,) = jl.check(trace, GAUSS)["acceptance"]
    expected = np.asarray(trace.info.acceptance_rate, float).mean(axis=1).min()
    assert row.value == pytest.approx(expected)
    assert "mean acceptance over the 300 kept steps" in row.note
