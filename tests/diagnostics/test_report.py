"""jl.check: exact draws pass everything; each kind of wrong sample fails what should catch it."""

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
