"""The warm-up generic over the exact kernels (MALA, Barker, MALT): claims and bad inputs.

Every statistical check is :func:`_check`: after warm-up, 1,000 draws of each of
32 chains must have R-hat < 1.01 (so that the ESS-based MCSE means something)
and the exact means and variances within 4 MCSE; the mean acceptance of those
draws must lie within 0.05 of the kernel's target. Each claim has a broken
companion (a metric of the wrong power, no metric, no restarts, a diagonal
metric on a correlated target) that the same check, at the same budget, fails.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check
from mcmc_checks import Z_MAX, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin import _warmup
from jlangevin._warmup import warmup
from jlangevin.kernels import barker, mala, malt

DIM, CHAINS, WARMUP, DRAWS = 5, 32, 500, 1000
SD = np.geomspace(0.1, 10.0, DIM).astype(np.float32)  # condition number 1e4


FAR = 50.0 * SD  # a needle mode far out, of weight exp(-50): no moment sees it
NEEDLE_SD = 0.01 * SD


def logp_diagonal(x):
    """N(0, diag(SD²)) plus a needle of weight exp(-50) at FAR, where chains get stuck."""
    main = jnp.sum(-0.5 * (x / SD) ** 2 - jnp.log(SD))
    needle = -50.0 + jnp.sum(-0.5 * ((x - FAR) / NEEDLE_SD) ** 2 - jnp.log(NEEDLE_SD))
    return jnp.logaddexp(main, needle)


def _rotated_cov(sd, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(sd), len(sd))))
    return (q * sd**2) @ q.T


COV = _rotated_cov(SD.astype(np.float64))
PREC = jnp.asarray(np.linalg.inv(COV), jnp.float32)


def logp_correlated(x):
    return -0.5 * x @ PREC @ x


def _over_dispersed(cov, num_chains=CHAINS):
    """Three times the target's spread per coordinate (independent coordinates)."""
    sd = np.sqrt(np.diag(cov)).astype(np.float32)
    return 3.0 * sd * jax.random.normal(jax.random.key(0), (num_chains, len(sd)))


def _adapted(kernel, logp, x0, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)  # broken companions warn
        sampler, state, info = _warmup._warmup(
            jax.random.key(1), kernel, logp, x0, WARMUP, **options
        )
        trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    return trace, info


def _check(trace, cov, target):
    """``(passed, numbers)``: R-hat < 1.01, moments within Z_MAX MCSE, acceptance +- 0.05."""
    x = np.asarray(trace.positions, np.float64)
    numbers = {
        "rhat": rhat(x),
        "z_mean": float(np.max(np.abs(mean_z(x, np.zeros(DIM))))),
        "z_var": float(np.max(np.abs(var_z(x, np.zeros(DIM), np.diag(cov))))),
        "acceptance": float(np.mean(trace.info.acceptance_rate)),
    }
    passed = (
        numbers["rhat"] < 1.01
        and numbers["z_mean"] < Z_MAX
        and numbers["z_var"] < Z_MAX
        and abs(numbers["acceptance"] - target) < 0.05
    )
    return passed, numbers


DIAG_COV = np.diag(SD.astype(np.float64) ** 2)


# --------------------------------------------------------------------------- #
# Claims: each kernel, diagonal metric, anisotropic Gaussian
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("kernel", "target"),
    [(mala.sampler, 0.574), (barker.sampler, 0.574)],
    ids=["mala", "barker"],
)
def test_adapted_kernel_is_exact_and_on_target(kernel, target):
    trace, info = _adapted(kernel, logp_diagonal, _over_dispersed(DIAG_COV))
    passed, numbers = _check(trace, DIAG_COV, target)
    assert passed, numbers
    assert info.target_acceptance == target and info.num_restarted == 0
    # The learnt variances are the target's (up to warm-up noise).
    np.testing.assert_allclose(np.sqrt(info.preconditioner) / SD, 1.0, atol=0.2)
    assert info.window_acceptance_rate.shape == (len(info.segments), CHAINS)
    assert info.chain_acceptance_rate.shape == (CHAINS,)


@pytest.mark.parametrize(
    ("kernel", "broken"),
    [(mala.sampler, {"metric_power": -1.0}), (barker.sampler, {"adapt_metric": False})],
    ids=["mala-precision-as-metric", "barker-no-metric"],
)
def test_broken_metric_fails_the_same_check(kernel, broken):
    trace, _ = _adapted(kernel, logp_diagonal, _over_dispersed(DIAG_COV), **broken)
    passed, numbers = _check(trace, DIAG_COV, 0.574)
    assert not passed, numbers


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kernel", "broken"),
    [(mala.sampler, {"adapt_metric": False}), (barker.sampler, {"metric_power": -1.0})],
    ids=["mala-no-metric", "barker-precision-as-metric"],
)
def test_broken_metric_fails_the_same_check_slow(kernel, broken):
    test_broken_metric_fails_the_same_check(kernel, broken)


@pytest.mark.slow
@pytest.mark.parametrize("trajectory", ["meads", "chees"])
def test_adapted_malt_is_exact_and_on_target(trajectory):
    trace, info = _adapted(
        malt.sampler, logp_diagonal, _over_dispersed(DIAG_COV), trajectory=trajectory
    )
    passed, numbers = _check(trace, DIAG_COV, 0.65)
    assert passed, numbers
    np.testing.assert_allclose(np.sqrt(info.preconditioner) / SD, 1.0, atol=0.2)
    assert info.trajectory == trajectory
    if trajectory == "meads":
        # Whitened, the largest scale is ~1: gamma ~ 1 and T = L eps ~ 1 (one step, rounded up).
        assert 0.7 < info.gamma < 1.3, info.gamma
        assert info.num_integration_steps == int(np.ceil(1.0 / info.gamma / float(info.step_size)))
    else:  # gamma = 1/T, L = ceil(T / (2 eps)) for ChEES' T
        assert info.gamma == pytest.approx(1.0 / info.chees_trajectory_length, rel=1e-5)
        assert info.num_integration_steps == int(
            np.ceil(info.chees_trajectory_length / (2 * float(info.step_size)) - 1e-6)
        )


@pytest.mark.slow
@pytest.mark.parametrize("broken", [{"metric_power": -1.0}, {"adapt_metric": False}])
def test_broken_malt_metric_fails_the_same_check(broken):
    trace, _ = _adapted(malt.sampler, logp_diagonal, _over_dispersed(DIAG_COV), **broken)
    passed, numbers = _check(trace, DIAG_COV, 0.65)
    assert not passed, numbers


@pytest.mark.parametrize("trajectory", ["meads", "chees"])
def test_malt_warmup_sets_trajectory_and_resumes(trajectory):
    """Short run (L capped at 1): MALT's own sampler comes back with L, gamma, T; it resumes."""
    x0 = _over_dispersed(DIAG_COV, 8)
    sampler, state, info = warmup(
        jax.random.key(1),
        malt.sampler,
        logp_diagonal,
        x0,
        200,
        max_integration_steps=1,
        trajectory=trajectory,
    )
    assert info.kernel == "malt" and info.gamma > 0 and info.num_integration_steps == 1
    assert info.trajectory == trajectory
    assert np.all(np.asarray(info.integration_steps_trace) == 1)
    assert info.trajectory_length == pytest.approx(
        info.num_integration_steps * float(info.step_size), rel=1e-5
    )
    assert np.all(np.asarray(state.count) == 200) and isinstance(state, malt.MALTState)
    trace = jl.run(jax.random.key(2), sampler, state, 20)
    assert trace.positions.shape == (8, 20, DIM)


def test_trajectory_settings_rule():
    # sigma_max = 2: gamma = 1/2, L = ceil(2 / 0.3) = 7; capped at max_integration_steps.
    assert _warmup.trajectory_settings(4.0, 0.3, 64) == (0.5, 7)
    assert _warmup.trajectory_settings(4.0, 0.01, 64) == (0.5, 64)


# --------------------------------------------------------------------------- #
# Dense metric on a correlated Gaussian
# --------------------------------------------------------------------------- #
@pytest.mark.slow
@pytest.mark.parametrize(
    ("kernel", "target"),
    [(mala.sampler, 0.574), (barker.sampler, 0.574), (malt.sampler, 0.65)],
    ids=["mala", "barker", "malt"],
)
def test_dense_metric_on_correlated_gaussian(kernel, target):
    x0 = _over_dispersed(COV)
    trace, info = _adapted(kernel, logp_correlated, x0, preconditioner="dense")
    passed, numbers = _check(trace, COV, target)
    assert passed, numbers
    assert info.cholesky.shape == (DIM, DIM)
    # M ~ C: the target whitened by M has covariance ~ I.
    inv = np.linalg.inv(np.asarray(info.cholesky, np.float64))
    np.testing.assert_allclose(np.linalg.eigvalsh(inv @ COV @ inv.T), 1.0, atol=0.3)
    # Broken companion: a diagonal metric cannot remove the correlations at this budget.
    diagonal, _ = _adapted(kernel, logp_correlated, x0)
    passed, numbers = _check(diagonal, COV, target)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# Stuck chains
# --------------------------------------------------------------------------- #
def _stuck_start():
    """Four of 32 chains start in the needle: steps fit for the main mode reject everything."""
    return _over_dispersed(DIAG_COV).at[:4].set(FAR)


def test_stuck_chains_are_restarted():
    with pytest.warns(jl.SamplingWarning, match="restarted"):
        sampler, state, info = warmup(
            jax.random.key(1), mala.sampler, logp_diagonal, _stuck_start(), WARMUP
        )
    assert info.num_restarted >= 4 and np.all(np.asarray(info.restarted[:4]) >= 1)
    assert info.check_steps[0] == info.windows[0][0]
    trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    passed, numbers = _check(trace, DIAG_COV, 0.574)
    assert passed, numbers


def test_without_restarts_stuck_chains_fail_the_check():
    trace, info = _adapted(mala.sampler, logp_diagonal, _stuck_start(), restart_chains=False)
    assert info.num_restarted == 0
    passed, numbers = _check(trace, DIAG_COV, 0.574)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
X0 = jnp.ones((4, DIM))
KEY = jax.random.key(0)


def _call(kernel=mala.sampler, logp=logp_diagonal, positions=X0, num_steps=100, **options):
    return lambda: warmup(KEY, kernel, logp, positions, num_steps, **options)


CASES = [
    Case("kernel not a constructor", _call(kernel="mala"), TypeError, "kernel"),
    Case("kernel ula", _call(kernel=jl.ula), TypeError, "kernel"),
    Case("kernel a module", _call(kernel=mala), TypeError, "kernel"),
    Case(
        "malt option for mala", _call(max_integration_steps=8), ValueError, "max_integration_steps"
    ),
    Case("unknown option", _call(mass_matrix="dense"), ValueError, "mass_matrix"),
    Case("adapted step_size", _call(step_size=0.1), ValueError, "step_size"),
    Case("adapted gamma", _call(kernel=malt.sampler, gamma=1.0), ValueError, "gamma"),
    Case(
        "adapted num_integration_steps",
        _call(kernel=malt.sampler, num_integration_steps=3),
        ValueError,
        "num_integration_steps",
    ),
    Case("preconditioner", _call(preconditioner="full"), ValueError, "preconditioner"),
    Case("target_acceptance 1", _call(target_acceptance=1.0), ValueError, "target_acceptance"),
    Case("initial_step_size", _call(initial_step_size=-1.0), ValueError, "initial_step_size"),
    Case("shrinkage", _call(shrinkage=2.0), ValueError, "shrinkage"),
    Case("restart_chains", _call(restart_chains="yes"), TypeError, "restart_chains"),
    Case(
        "max_integration_steps 0",
        _call(kernel=malt.sampler, max_integration_steps=0),
        ValueError,
        "max_integration_steps",
    ),
    Case(
        "malt dense with bounds",
        _call(kernel=malt.sampler, preconditioner="dense", bounds=(-5.0, 5.0)),
        ValueError,
        "bounds",
    ),
    Case("num_steps small", _call(num_steps=10), ValueError, "num_steps"),
    Case("logdensity_fn", _call(logp=3.0), TypeError, "logdensity_fn"),
    Case("score_fn", _call(score_fn=1.0), TypeError, "score_fn"),
    Case("positions no chain axis", _call(positions=jnp.float32(1.0)), ValueError, "positions"),
    Case(
        "positions non-finite",
        _call(positions=X0.at[0, 0].set(jnp.nan)),
        ValueError,
        "positions",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
