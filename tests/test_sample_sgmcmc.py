"""``jl.sample(kernel="sgld" | "sghmc", batch_size=n)``: SG-MCMC on a NumPyro model's data plate.

Exact check: a conjugate Normal model, ``mu ~ N(0, 10²)``, ``y_i ~ N(mu, 1)``,
whose posterior is Gaussian. In the Laplace-whitened coordinate the posterior
is exactly ``N(0, 1)``, and control variates at the mode make the gradient
exact (it is linear), so SGLD with step ``h`` is the autoregression
``z' = (1 - h) z + sqrt(2h) xi``: its stationary mean is the exact posterior
mean and its variance ``1 / (1 - h / 2)`` times the exact one (the documented
bias). Both are checked within 4 Monte Carlo standard errors. The broken
companion weighs every data point twice (the plate's scaling, monkeypatched),
and must fail the same check. The bias check of the default step is checked on
``log p = -θ²/2 - N θ⁴/2`` (curvature 1 at the mode, about 50 one sd away):
``E θ²`` against quadrature within 4 MCSE; without the check the default step
throws chains out and the same check fails. A slow check compares SGLD and SGHMC on a
logistic regression with full-batch MALT.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.models import subsample as subsample_module
from jlangevin.sample import SG_ACCEPT_MIN, SG_CHECK_PROPOSALS, SGHMC_STEP, SGLD_STEP

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

N, BATCH, PRIOR_SD = 200, 20, 10.0
Y = np.asarray(1.0 + np.random.default_rng(0).normal(size=N), np.float32)
PRECISION = 1 / PRIOR_SD**2 + N
EXACT_MEAN = float(np.sum(Y, dtype=np.float64)) / PRECISION
EXACT_VAR = 1 / PRECISION
CHAINS, WARMUP, DRAWS = 16, 200, 2_000


def normal_model(y):  # a subsampling plate: NumPyro's N / n scale is divided out per point
    mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("data", len(y), subsample_size=BATCH) as idx:
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y[idx])


def _mean_and_variance_z(result) -> tuple[float, float]:
    """z-scores of the posterior mean against the exact one, and of the variance against
    the documented ``exact / (1 - h / 2)``, each over its Monte Carlo standard error."""
    mu = np.asarray(result.posterior["mu"], np.float64)
    mean_z = (mu.mean() - EXACT_MEAN) / float(jl.diagnostics.mcse(mu))
    squares = (mu - EXACT_MEAN) ** 2
    expected = EXACT_VAR / (1 - SGLD_STEP / 2)
    var_z = (squares.mean() - expected) / float(jl.diagnostics.mcse(squares))
    return float(mean_z), float(var_z)


@pytest.fixture(scope="module")
def parts():
    return jl.models.subsampled(normal_model, Y)


def _three_line_run(parts=None):
    parts = jl.models.subsampled(normal_model, Y) if parts is None else parts
    return jl.sample(
        jax.random.key(0),
        parts,
        kernel="sgld",
        batch_size=BATCH,
        num_chains=CHAINS,
        num_warmup=WARMUP,
        num_draws=DRAWS,
        warn=False,
    )


@pytest.fixture(scope="module")
def sgld_result(parts):
    return _three_line_run(parts)


@pytest.mark.long
def test_sgld_matches_the_exact_posterior_within_mcse_and_the_documented_bias(sgld_result):
    mean_z, var_z = _mean_and_variance_z(sgld_result)
    assert abs(mean_z) < 4, mean_z
    assert abs(var_z) < 4, var_z


@pytest.mark.long
def test_broken_companion_with_each_point_counted_twice_fails(monkeypatch):
    monkeypatch.setattr(
        subsample_module, "_point_weight", lambda size, num_indices: 2 * num_indices / size
    )
    monkeypatch.setattr(subsample_module, "_check_split", lambda *args: None)
    mean_z, var_z = _mean_and_variance_z(_three_line_run())
    assert abs(mean_z) > 4 or abs(var_z) > 4, (mean_z, var_z)


def test_the_result_is_a_sampled_with_its_report_counts_and_arviz(sgld_result):
    result = sgld_result
    assert result.kernel == "sgld" and result.warmup is None
    assert result.trace.positions["mu"].shape == (CHAINS, DRAWS)
    report = str(result)
    assert "asymptotically biased" in report and "control variates" in report
    assert f"batches of {BATCH} of {N}" in report
    # full-data gradient equivalents: 2 batch gradients a step (control variates)
    steps = CHAINS * (WARMUP + DRAWS)
    assert result.num_grads.draws == pytest.approx(steps * 2 * BATCH / N)
    # mode, Hessian, the centre, then the bias check's steps and full-data checks
    fit = result.step_fit
    assert fit.halvings == 0 and fit.acceptance >= SG_ACCEPT_MIN  # a Gaussian: no halving
    checks = fit.checks * (1 + SG_CHECK_PROPOSALS) * CHAINS
    expected = 2_000 + 2 * 1 + 1 + checks + fit.steps * CHAINS * 2 * BATCH / N
    assert result.num_grads.warmup == pytest.approx(expected)
    idata = result.to_arviz()
    assert "mu" in idata.posterior
    assert idata.log_likelihood["y"].shape == (CHAINS, DRAWS, N)


@pytest.mark.slow
def test_sghmc_recovers_the_posterior_mean(parts):
    result = jl.sample(
        jax.random.key(1),
        parts,
        kernel="sghmc",
        batch_size=BATCH,
        num_chains=CHAINS,
        num_warmup=WARMUP,
        num_draws=DRAWS,
        warn=False,
    )
    mu = np.asarray(result.posterior["mu"], np.float64)
    z = (mu.mean() - EXACT_MEAN) / float(jl.diagnostics.mcse(mu))
    assert abs(z) < 4, z
    squares = (mu - EXACT_MEAN) ** 2  # the variance: within 4 MCSE plus an O(h) bias, h <= 0.1
    ratio_se = float(jl.diagnostics.mcse(squares)) / EXACT_VAR
    assert abs(squares.mean() / EXACT_VAR - 1) < 4 * ratio_se + SGHMC_STEP


@pytest.mark.long
@pytest.mark.parametrize("estimator", ["minibatch", pytest.param("svrg", marks=pytest.mark.slow)])
def test_other_estimators_and_given_positions(parts, estimator):
    positions = {"mu": jnp.full((4,), 0.5)}
    result = jl.sample(
        jax.random.key(2),
        parts,
        kernel="sgld",
        batch_size=BATCH,
        estimator=estimator,
        positions=positions,
        num_warmup=50,
        num_draws=100,
        warn=False,
    )
    assert result.trace.positions["mu"].shape == (4, 100)
    assert estimator in str(result)
    assert np.all(np.isfinite(np.asarray(result.trace.positions["mu"])))


@pytest.mark.long
def test_a_checkpointed_run_resumes_to_the_same_draws(parts, tmp_path):
    settings = dict(
        kernel="sgld",
        batch_size=BATCH,
        num_chains=4,
        num_warmup=20,
        num_draws=60,
        checkpoint_dir=tmp_path / "ckpt",
        checkpoint_every=20,
    )
    first = jl.sample(jax.random.key(3), parts, warn=False, **settings)
    assert any((tmp_path / "ckpt").iterdir())
    resumed = jl.sample(jax.random.key(3), parts, warn=False, **settings)
    np.testing.assert_array_equal(first.trace.positions["mu"], resumed.trace.positions["mu"])


def test_other_kernels_run_a_subsampled_model_on_its_full_data(parts):
    result = jl.sample(
        jax.random.key(4),
        parts,
        kernel="mala",
        step_size=0.01,
        num_chains=4,
        num_warmup=0,
        num_draws=50,
        warn=False,
    )
    assert result.model is parts.model and result.kernel == "mala"
    assert result.trace.positions["mu"].shape == (4, 50) and not result.notes


# --------------------------------------------------------------------------- #
# Bad inputs: each names the argument, the expected and the got
# --------------------------------------------------------------------------- #
def no_plate_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ValueError, r"`batch_size` must be an integer >= 1; got 0"),
        ({"batch_size": 2.5}, TypeError, r"`batch_size` must be an integer"),
        ({"batch_size": True}, TypeError, r"`batch_size` must be an integer"),
        ({"batch_size": N + 1}, ValueError, rf"at most the {N} data points .* got {N + 1}"),
        ({}, ValueError, r"`batch_size` is required with kernel 'sgld'"),
        (
            {"batch_size": BATCH, "estimator": "exact"},
            ValueError,
            r"`estimator` must be one of .*got 'exact'",
        ),
        (
            {"batch_size": BATCH, "preconditioner": "low_rank"},
            ValueError,
            r"`preconditioner` must be 'auto', 'dense' or 'diagonal' .*got 'low_rank'",
        ),
        (
            {"batch_size": BATCH, "bounds": (0.0, 1.0)},
            ValueError,
            r"`bounds` does not apply to kernel 'sgld'",
        ),
    ],
    ids=["zero", "float", "bool", "over N", "missing", "estimator", "low rank", "bounds"],
)
def test_bad_sgmcmc_arguments(parts, kwargs, error, match):
    with pytest.raises(error, match=match):
        jl.sample(jax.random.key(0), parts, kernel="sgld", **kwargs)


def test_batch_size_with_a_kernel_that_does_not_subsample(parts):
    with pytest.raises(ValueError, match=r"`batch_size` applies to .*got kernel 'malt'"):
        jl.sample(jax.random.key(0), parts, kernel="malt", batch_size=BATCH)


@pytest.mark.parametrize("which", ["model", "logdensity"])
def test_sg_kernels_need_a_model_with_a_data_plate(which):
    full = jl.from_numpyro(no_plate_model, Y)
    target = full if which == "model" else full.logdensity_fn
    with pytest.raises(ValueError, match=r"kernel 'sghmc' needs a model split at its data plate"):
        jl.sample(jax.random.key(0), target, kernel="sghmc", batch_size=BATCH)


def test_a_model_with_no_data_plate_cannot_be_subsampled():
    with pytest.raises(ValueError, match="`plate` is needed"):
        jl.models.subsampled(no_plate_model, Y)


# --------------------------------------------------------------------------- #
# Logistic regression against full-batch MALT (slow)
# --------------------------------------------------------------------------- #
def logistic(x, y):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=x @ w), obs=y)


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["sgld", "sghmc"])
def test_logistic_regression_matches_full_batch_malt(kernel):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2_000, 3)).astype(np.float32)
    y = (rng.random(2_000) < 1 / (1 + np.exp(-x @ np.array([1.0, -0.5, 0.25])))).astype(np.float32)
    parts = jl.models.subsampled(logistic, x, y)
    reference = jl.sample(jax.random.key(0), parts, num_draws=1000, warn=False)
    result = jl.sample(
        jax.random.key(1), parts, kernel=kernel, batch_size=50, num_draws=2000, warn=False
    )
    ref = np.asarray(reference.posterior["w"], np.float64)
    got = np.asarray(result.posterior["w"], np.float64)
    se = np.sqrt(
        np.asarray(jl.diagnostics.mcse(got)) ** 2 + np.asarray(jl.diagnostics.mcse(ref)) ** 2
    )
    sd = ref.std(axis=(0, 1))
    # 4 MCSE, plus the documented O(h) bias: h <= 0.1 in whitened units, a tenth of an sd
    assert np.all(np.abs(got.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))) < 4 * se + 0.1 * sd)
    assert np.all(np.abs(got.std(axis=(0, 1)) / sd - 1) < 0.15)


# --------------------------------------------------------------------------- #
# The bias check: a posterior stiffer away from its mode than at it
# --------------------------------------------------------------------------- #
STIFF_N = 100


def stiff_model(y):
    """``θ ~ N(0, 1)``, ``y_i ~ N(θ², 1)`` at ``y = 0``: ``log p = -θ²/2 - N θ⁴/2``, whose
    curvature is 1 at the mode and about 50 one posterior sd away."""
    theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", y.shape[0]):
        numpyro.sample("y", dist.Normal(theta**2, 1.0), obs=y)


def _stiff_check(**options) -> tuple[float, float]:
    """z-score of the SGLD run's ``E θ²`` against the exact value (quadrature), over its
    MCSE; and that MCSE over the exact value (the check's resolution: a run too noisy to
    tell a 40% error passes nothing)."""
    grid = np.linspace(-2.0, 2.0, 200_001)
    log_p = -(grid**2) / 2 - STIFF_N * grid**4 / 2
    weights = np.exp(log_p - log_p.max())
    exact = float(np.sum(weights * grid**2) / np.sum(weights))
    parts = jl.models.subsampled(stiff_model, np.zeros(STIFF_N, np.float32))
    result = jl.sample(
        jax.random.key(0), parts, kernel="sgld", batch_size=20, num_chains=16,
        num_warmup=500, num_draws=1000, warn=False, **options,
    )  # fmt: skip
    squares = np.asarray(result.posterior["theta"], np.float64) ** 2
    mcse = float(jl.diagnostics.mcse(squares))
    return float((squares.mean() - exact) / mcse), mcse / exact


def _passes(z: float, resolution: float) -> bool:
    return abs(z) < 4 and resolution < 0.1


@pytest.mark.long
def test_the_bias_check_halves_a_step_too_large_away_from_the_mode_and_the_law_is_right():
    z, resolution = _stiff_check()
    assert _passes(z, resolution), (z, resolution)


@pytest.mark.long
def test_broken_companion_without_the_bias_check_fails_the_same_check(monkeypatch):
    monkeypatch.setattr(sys.modules["jlangevin.sample"], "SG_ACCEPT_MIN", 0.0)
    z, resolution = _stiff_check()  # the default step throws chains out (E θ² ~ 1e16)
    assert not _passes(z, resolution), (z, resolution)
