"""The warm-up, generic over exact kernels: claims, each with a broken companion.

Every statistical check is :func:`_check`: after warm-up, the draws of all
chains must have R-hat < 1.01 (so that the ESS-based MCSE means something) and
the exact means and variances within 4 MCSE; where asked, the mean acceptance
of those draws lies within 0.05 of the kernel's target. Each claim has a broken
companion (a metric of the wrong power, no metric, a kernel that ignores the
metric, the step without its correction) that the same check, at the same
budget, fails. Companions patch module functions; the compiled windows and the
jitted metric update are cleared around each patch (:func:`patched`).
"""

import functools
import importlib
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin import adaptation
from jlangevin.adaptation import metric
from jlangevin.kernels import barker, mala, malt
from jlangevin.types import MetricRoot, Sampler, Tuning

#: The module (``jlangevin.adaptation.warmup`` is also the name of its function).
warmup_module = importlib.import_module("jlangevin.adaptation.warmup")

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
    cov = (q * sd**2) @ q.T
    return 0.5 * (cov + cov.T)


COV = _rotated_cov(SD.astype(np.float64))
PREC = jnp.asarray(np.linalg.inv(COV), jnp.float32)
DIAG_COV = np.diag(SD.astype(np.float64) ** 2)


def logp_correlated(x):
    return -0.5 * x @ PREC @ x


def _over_dispersed(cov, num_chains=CHAINS):
    """Three times the target's spread per coordinate (independent coordinates)."""
    sd = np.sqrt(np.diag(cov)).astype(np.float32)
    return 3.0 * sd * jax.random.normal(jax.random.key(0), (num_chains, len(sd)))


def _adapted(kernel, logp, x0, num_steps=WARMUP, draws=DRAWS, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)  # broken companions warn
        sampler, state, info = adaptation.warmup(
            jax.random.key(1), kernel, logp, x0, num_steps, **options
        )
        trace = jl.run(jax.random.key(2), sampler, state, draws)
    return trace, info


def _check(trace, cov, target=None):
    """``(passed, numbers)``: R-hat < 1.01, moments within Z_MAX MCSE, acceptance +- 0.05."""
    x = np.asarray(trace.positions, np.float64)
    dim = x.shape[-1]
    numbers = {
        "rhat": rhat(x),
        "z_mean": float(np.max(np.abs(mean_z(x, np.zeros(dim))))),
        "z_var": float(np.max(np.abs(var_z(x, np.zeros(dim), np.diag(cov))))),
        "acceptance": float(np.mean(trace.info.acceptance_rate)),
    }
    passed = numbers["rhat"] < 1.01 and numbers["z_mean"] < Z_MAX and numbers["z_var"] < Z_MAX
    if target is not None:
        passed = passed and abs(numbers["acceptance"] - target) < 0.05
    return passed, numbers


# --------------------------------------------------------------------------- #
# Broken metrics, by patching the metric update
# --------------------------------------------------------------------------- #
_update_root = metric.update_root


def _clear_warmup_programs():
    warmup_module.cached_window.cache_clear()
    warmup_module._end_window.clear_cache()
    warmup_module._condition.clear_cache()


@pytest.fixture
def patched(monkeypatch):
    """``monkeypatch``, with the warm-up's compiled programs cleared around the patch.

    The metric update runs inside a module-level ``jax.jit``, whose traces outlive
    a patch (and its undoing) unless cleared.
    """
    _clear_warmup_programs()
    yield monkeypatch
    monkeypatch.undo()
    _clear_warmup_programs()


def precision_root(stats, root, healthy, dense, shrinkage):
    """Broken: the window's precision instead of its covariance (``M_z⁻¹``)."""
    new, lam = _update_root(stats, root, healthy, dense, shrinkage)
    if new.is_dense:
        parent = metric.as_dense(root)
        factor = parent.inverse @ new.lower  # R_z, with M_z = R_z R_zᵀ
        inv = jnp.linalg.inv(factor)
        lower = parent.lower @ jnp.linalg.cholesky(inv.T @ inv)
        return MetricRoot(lower=lower, inverse=metric.lower_inverse(lower)), lam
    return MetricRoot(scale=root.scale**2 / new.scale), lam


def unit_metric(stats, root, healthy, dense, shrinkage):
    """Broken: the metric never leaves ``M = I``."""
    _, lam = _update_root(stats, root, healthy, dense, shrinkage)
    return root, lam


# --------------------------------------------------------------------------- #
# Claims: each kernel, diagonal metric, anisotropic Gaussian
# --------------------------------------------------------------------------- #
@pytest.mark.long
@pytest.mark.parametrize(
    ("kernel", "target"),
    [(mala.sampler, 0.574), (barker.sampler, 0.574)],
    ids=["mala", "barker"],
)
def test_adapted_kernel_is_exact_and_on_target(kernel, target):
    x0 = _over_dispersed(DIAG_COV)
    trace, info = _adapted(kernel, logp_diagonal, x0, preconditioner="diagonal")
    passed, numbers = _check(trace, DIAG_COV, target)
    assert passed, numbers
    assert info.target_acceptance == target and info.num_restarted == 0
    assert info.metric_kind == "diagonal" and info.cholesky is None
    # The learnt variances are the target's (up to warm-up noise).
    np.testing.assert_allclose(np.sqrt(info.preconditioner) / SD, 1.0, atol=0.2)
    assert info.window_acceptance_rate.shape == (len(info.segments), CHAINS)
    assert info.chain_acceptance_rate.shape == (CHAINS,)
    assert info.num_grads == CHAINS * WARMUP


def _broken_metric_run(patched, kernel, broken, target):
    patched.setattr(metric, "update_root", broken)
    x0 = _over_dispersed(DIAG_COV)
    trace, _ = _adapted(kernel, logp_diagonal, x0, preconditioner="diagonal")
    passed, numbers = _check(trace, DIAG_COV, target)
    assert not passed, numbers


def test_broken_metric_fails_the_same_check(patched):
    _broken_metric_run(patched, mala.sampler, precision_root, 0.574)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kernel", "broken"),
    [(barker.sampler, unit_metric), (mala.sampler, unit_metric), (barker.sampler, precision_root)],
    ids=["barker-no-metric", "mala-no-metric", "barker-precision-as-metric"],
)
def test_broken_metric_fails_the_same_check_slow(patched, kernel, broken):
    _broken_metric_run(patched, kernel, broken, 0.574)


@pytest.mark.slow
@pytest.mark.parametrize("rule", ["meads", "chees"])
def test_adapted_malt_is_exact_and_on_target(rule):
    x0 = _over_dispersed(DIAG_COV)
    trace, info = _adapted(
        malt.sampler, logp_diagonal, x0, trajectory=rule, preconditioner="diagonal"
    )
    passed, numbers = _check(trace, DIAG_COV, 0.65)
    assert passed, numbers
    np.testing.assert_allclose(np.sqrt(info.preconditioner) / SD, 1.0, atol=0.2)
    assert info.trajectory == rule
    eps = float(info.step_size)
    if rule == "meads":
        # Whitened, the largest scale is ~1: T ~ 1 (gamma = 1/T ~ 1) and L = ceil(T / eps).
        assert 1 / 1.3 < info.trajectory_length < 1 / 0.7, info.trajectory_length
        assert info.num_integration_steps == int(np.ceil(info.trajectory_length / eps - 1e-6))
    else:  # L = ceil(T / (2 eps)) for ChEES' T
        assert info.num_integration_steps == int(np.ceil(info.trajectory_length / (2 * eps) - 1e-6))


@pytest.mark.slow
@pytest.mark.parametrize("broken", [precision_root, unit_metric], ids=["precision", "no-metric"])
def test_broken_malt_metric_fails_the_same_check(patched, broken):
    patched.setattr(metric, "update_root", broken)
    x0 = _over_dispersed(DIAG_COV)
    trace, _ = _adapted(malt.sampler, logp_diagonal, x0, preconditioner="diagonal")
    passed, numbers = _check(trace, DIAG_COV, 0.65)
    assert not passed, numbers


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
    assert info.cholesky.shape == (DIM, DIM) and info.metric_kind == "dense"
    # M ~ C: the target whitened by M has covariance ~ I.
    inv = np.linalg.inv(np.asarray(info.cholesky, np.float64))
    np.testing.assert_allclose(np.linalg.eigvalsh(inv @ COV @ inv.T), 1.0, atol=0.3)
    # Broken companion: a diagonal metric cannot remove the correlations at this budget.
    diagonal, _ = _adapted(kernel, logp_correlated, x0, preconditioner="diagonal")
    passed, numbers = _check(diagonal, COV, target)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# The defaults on a correlated 2-D Gaussian: preconditioner "auto" (dense here)
# --------------------------------------------------------------------------- #
COV2 = np.array([[1.0, 0.9], [0.9, 1.0]])
PREC2 = jnp.asarray(np.linalg.inv(COV2), jnp.float32)


def logp_2d(x):
    return -0.5 * x @ PREC2 @ x


@functools.cache
def _defaults_run(name):
    """``warmup(key, kernel, logp, positions)`` with every default; 16 chains, 1000 draws."""
    return _adapted(getattr(jl, name), logp_2d, _over_dispersed(COV2, 16), num_steps=1000)


@pytest.mark.long
@pytest.mark.parametrize("name", ["mala", "malt"])
def test_defaults_on_a_correlated_gaussian(name):
    trace, info = _defaults_run(name)
    passed, numbers = _check(trace, COV2)
    assert passed, numbers
    assert info.metric_kind == "dense" and info.metric_reason.startswith("auto: dimension 2")
    assert info.acceptance_rate.shape == (1000,) and info.num_restarted == 0


@pytest.mark.parametrize(
    "name", ["mala", pytest.param("malt", marks=pytest.mark.slow)], ids=["mala", "malt"]
)
def test_defaults_check_catches_the_precision_as_metric(patched, name):
    patched.setattr(metric, "update_root", precision_root)
    trace, _ = _adapted(getattr(jl, name), logp_2d, _over_dispersed(COV2, 16), num_steps=1000)
    passed, numbers = _check(trace, COV2)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# A kernel written here, not in the package, is tunable by its declaration alone
# --------------------------------------------------------------------------- #
class MyState(NamedTuple):
    position: jax.Array
    logdensity: jax.Array
    score: jax.Array
    count: jax.Array


class MyInfo(NamedTuple):
    acceptance_rate: jax.Array
    diverged: jax.Array


def my_init(position, logdensity_fn, *, score_fn=None, bounds=None):
    value, score = jax.value_and_grad(logdensity_fn)(position)
    return MyState(position, value, score, jnp.zeros((), jnp.int32))


def _metric_times(root, v):
    """``M v`` with ``M = R Rᵀ``."""
    return root.lower @ (root.lower.T @ v) if root.is_dense else root.scale**2 * v


def _root_times(root, v):
    return root.lower @ v if root.is_dense else root.scale * v


def _root_solve(root, v):
    return root.inverse @ v if root.is_dense else v / root.scale


def my_mala_step(key, state, logdensity_fn, step_size, root):
    """MALA from scratch: ``y = x + ε M s(x) + sqrt(2ε) R ξ``, Metropolis–Hastings."""
    key_noise, key_accept = jax.random.split(key)
    x, eps = state.position, step_size
    noise = jax.random.normal(key_noise, x.shape, x.dtype)
    y = x + eps * _metric_times(root, state.score) + jnp.sqrt(2 * eps) * _root_times(root, noise)
    value, score = jax.value_and_grad(logdensity_fn)(y)

    def log_q(to, frm, frm_score):  # log q(to | frm), up to a constant
        r = _root_solve(root, to - frm - eps * _metric_times(root, frm_score))
        return -jnp.sum(r**2) / (4 * eps)

    log_ratio = value - state.logdensity + log_q(x, y, score) - log_q(y, x, state.score)
    log_ratio = jnp.where(jnp.isfinite(log_ratio), log_ratio, -jnp.inf)
    accept = jnp.log(jax.random.uniform(key_accept, dtype=x.dtype)) < log_ratio
    new = MyState(
        jnp.where(accept, y, x),
        jnp.where(accept, value, state.logdensity),
        jnp.where(accept, score, state.score),
        state.count + 1,
    )
    return new, MyInfo(jnp.minimum(1.0, jnp.exp(log_ratio)), ~jnp.isfinite(value))


def my_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    new, info = my_mala_step(key, state, logdensity_fn, params.step_size, params.metric)
    return new, info, None


def my_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None):
    step_size, root = params.step_size, params.metric
    return Sampler(
        init=lambda x: my_init(x, logdensity_fn),
        step=lambda key, state: my_mala_step(key, state, logdensity_fn, step_size, root),
    )


my_tuning = Tuning("my-mala", my_init, my_step, my_sampler, 0.574)


def _blind(root):
    dim = root.lower.shape[0] if root.is_dense else root.scale.shape[0]
    return MetricRoot(scale=jnp.ones((dim,), (root.lower if root.is_dense else root.scale).dtype))


def blind_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """Broken: the declared step ignores the metric it is given."""
    new, info = my_mala_step(key, state, logdensity_fn, params.step_size, _blind(params.metric))
    return new, info, None


def blind_sampler(logdensity_fn, params, *, position, score_fn=None, bounds=None):
    return my_sampler(
        logdensity_fn, params._replace(metric=_blind(params.metric)), position=position
    )


blind_tuning = Tuning("blind-mala", my_init, blind_step, blind_sampler, 0.574)

SD3 = np.array([0.1, 1.0, 10.0])
COV3 = _rotated_cov(SD3, seed=1)  # scales 0.1 to 10, rotated: correlations too
PREC3 = jnp.asarray(np.linalg.inv(COV3), jnp.float32)


def logp_3d(x):
    return -0.5 * x @ PREC3 @ x


def _my_run(tuning):
    positions = _over_dispersed(COV3, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        sampler, state, info = adaptation.warmup(
            jax.random.key(1), tuning, logp_3d, positions, 1000
        )
        trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    return trace, info


@pytest.mark.long
def test_a_kernel_written_outside_the_package_is_tuned_by_its_declaration():
    trace, info = _my_run(my_tuning)
    passed, numbers = _check(trace, COV3, 0.574)
    assert passed, numbers
    assert info.kernel == "my-mala" and info.metric_kind == "dense"
    assert isinstance(trace.final_state, MyState)
    # The learnt metric is the target's covariance: whitened, the target is ~ N(0, I).
    inv = np.linalg.inv(np.asarray(info.cholesky, np.float64))
    np.testing.assert_allclose(np.linalg.eigvalsh(inv @ COV3 @ inv.T), 1.0, atol=0.3)


@pytest.mark.long
def test_the_same_check_catches_a_declared_step_that_ignores_the_metric():
    trace, _ = _my_run(blind_tuning)
    passed, numbers = _check(trace, COV3, 0.574)
    assert not passed, numbers


def test_a_kernel_that_declares_no_metric_runs_with_the_unit_metric():
    step_only = my_tuning._replace(name="step-only", tunes=("step_size",))
    _, _, info = adaptation.warmup(
        jax.random.key(1), step_only, logp_3d, _over_dispersed(COV3, 4), 100
    )
    assert info.metric_kind == "diagonal" and info.cholesky is None
    np.testing.assert_array_equal(np.asarray(info.preconditioner), np.ones(3))
    # Companion: the same kernel declaring the metric gets one.
    _, _, tuned = adaptation.warmup(
        jax.random.key(1),
        my_tuning,
        logp_3d,
        _over_dispersed(COV3, 4),
        100,
        preconditioner="diagonal",
    )
    assert not np.allclose(np.asarray(tuned.preconditioner), 1.0)


# --------------------------------------------------------------------------- #
# preconditioner="auto": dense at small dimension, else from the chains' correlation
# --------------------------------------------------------------------------- #
DIM100 = 100
SD100 = np.geomspace(0.1, 10.0, DIM100).astype(np.float32)
COV100 = _rotated_cov(SD100.astype(np.float64), seed=2)
PREC100 = jnp.asarray(np.linalg.inv(COV100), jnp.float32)


def logp_independent_100(x):
    return jnp.sum(-0.5 * (x / SD100) ** 2)


def logp_correlated_100(x):
    return -0.5 * x @ PREC100 @ x


def _auto_kind(logp, cov):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        _, _, info = adaptation.warmup(
            jax.random.key(1), jl.mala, logp, _over_dispersed(cov, 32) / 3.0, 150
        )
    return info


@pytest.mark.long
def test_auto_is_diagonal_on_independent_coordinates_of_unequal_scales():
    info = _auto_kind(logp_independent_100, np.diag(SD100.astype(np.float64) ** 2))
    assert info.metric_kind == "diagonal", (info.metric_reason, info.correlation_condition)
    assert info.correlation_condition < adaptation.metric.DENSE_MIN_CONDITION
    assert "condition number" in info.metric_reason and "< 10" in info.metric_reason
    assert info.preconditioner.shape == (DIM100,)


@pytest.mark.long
def test_auto_is_dense_on_strongly_correlated_coordinates():
    info = _auto_kind(logp_correlated_100, COV100)
    assert info.metric_kind == "dense", (info.metric_reason, info.correlation_condition)
    assert info.correlation_condition >= adaptation.metric.DENSE_MIN_CONDITION
    assert "condition number" in info.metric_reason and ">= 10" in info.metric_reason
    assert info.cholesky.shape == (DIM100, DIM100)


# --------------------------------------------------------------------------- #
# MALA: scalar steps cannot, adapted metrics can (the former mala_warmup claims)
# --------------------------------------------------------------------------- #
def _rhat_ess(x):
    x = np.asarray(x, float)
    return rhat(x), float(np.min(jl.diagnostics.ess(x)))


def _mala_run(target, preconditioner, num_warmup, num_draws, seed=0):
    x0 = jax.random.normal(jax.random.key(seed), (4, target.dim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)  # a laggard of 4 may be restarted
        sampler, state, info = adaptation.warmup(
            jax.random.key(seed + 1),
            jl.mala,
            target.logdensity,
            x0,
            num_warmup,
            preconditioner=preconditioner,
        )
    trace = jl.run(jax.random.key(seed + 2), sampler, state, num_draws)
    return trace, info


def _best_scalar_min_ess(target, steps, num_draws, num_warmup):
    x0 = jax.random.normal(jax.random.key(0), (4, target.dim))
    best = 0.0
    for h in steps:
        # An array step size is an argument of the compiled loop: one compilation serves
        # every step (a Python or numpy float would be baked in, one program per value).
        sampler = jl.mala(target.logdensity, jnp.asarray(h, jnp.float32))
        with warnings.catch_warnings():  # the small-enough scalar steps reject everything
            warnings.filterwarnings("ignore", message="jl.run: .* never moved")
            trace = jl.run(jax.random.key(1), sampler, x0, num_draws, burnin=num_warmup)
        best = max(best, _rhat_ess(trace.positions)[1])
    return best


@pytest.mark.slow  # MALA's diagonal warm-up is checked exact in CI's suite (above, `long`)
def test_adapted_diagonal_mala_fast_claims():
    """10-D, standard deviations 0.01..10: adapted MALA mixes; no scalar step does."""
    sd = np.geomspace(0.01, 10.0, 10)
    target = jl.targets.gaussian(np.zeros(10), scale=sd)
    trace, info = _mala_run(target, "diagonal", 1000, 2000)
    r, ess = _rhat_ess(trace.positions)
    assert r < 1.01 and ess > 400, (r, ess)
    accept = float(np.mean(trace.info.acceptance_rate))
    assert abs(accept - 0.574) < 0.05, accept
    # Moments against the exact ones, MCSE-based.
    x = np.asarray(trace.positions, float)
    assert np.all(np.abs(mean_z(x, np.zeros(10))) < Z_MAX)
    assert np.all(np.abs(var_z(x, np.zeros(10), sd**2)) < Z_MAX)
    # The learnt variances are those of the target (up to warm-up noise).
    np.testing.assert_allclose(info.preconditioner / sd**2, 1.0, atol=0.5)
    best_scalar = _best_scalar_min_ess(target, np.geomspace(1e-5, 1e-3, 3), 2000, 1000)
    assert best_scalar < 400, best_scalar


@pytest.mark.slow
def test_dense_beats_diagonal_on_rotated_gaussian():
    sd = np.geomspace(0.01, 10.0, 10)
    target = jl.targets.gaussian(np.zeros(10), _rotated_cov(sd))
    dense, _ = _mala_run(target, "dense", 1000, 2000)
    r, ess = _rhat_ess(dense.positions)
    assert r < 1.01 and ess > 400, (r, ess)
    assert abs(float(np.mean(dense.info.acceptance_rate)) - 0.574) < 0.05
    diagonal, _ = _mala_run(target, "diagonal", 1000, 2000)
    assert _rhat_ess(diagonal.positions)[1] < 400


@pytest.mark.slow
def test_acceptance_claims_100d():
    sd = np.geomspace(0.01, 10.0, 100)
    target = jl.targets.gaussian(np.zeros(100), scale=sd)
    trace, _ = _mala_run(target, "diagonal", 2000, 5000)
    r, ess = _rhat_ess(trace.positions)
    accept = float(np.mean(trace.info.acceptance_rate))
    assert r < 1.01 and ess > 400 and abs(accept - 0.574) < 0.05, (r, ess, accept)
    best = _best_scalar_min_ess(target, np.geomspace(1e-5, 3e-4, 6), 5000, 2000)
    assert best < 400, best
    rotated = jl.targets.gaussian(np.zeros(100), _rotated_cov(sd))
    dense, _ = _mala_run(rotated, "dense", 2000, 5000)
    r_d, ess_d = _rhat_ess(dense.positions)
    accept_d = float(np.mean(dense.info.acceptance_rate))
    assert r_d < 1.01 and ess_d > 400 and abs(accept_d - 0.574) < 0.05, (r_d, ess_d, accept_d)
    diag, _ = _mala_run(rotated, "diagonal", 2000, 5000)
    r_g, ess_g = _rhat_ess(diag.positions)
    assert not (r_g < 1.01 and ess_g > 400), (r_g, ess_g)


# --------------------------------------------------------------------------- #
# The returned state, keys, dtypes and the compiled windows
# --------------------------------------------------------------------------- #
@pytest.mark.long
def test_warmup_state_resumes_and_is_reproducible():
    logp = lambda p: -0.5 * (jnp.sum(p["a"] ** 2) + jnp.sum((p["b"] / 3.0) ** 2))  # noqa: E731
    positions = {"a": jnp.zeros((2, 2)), "b": jnp.ones((2, 3))}
    out1 = adaptation.warmup(jax.random.key(0), jl.mala, logp, positions, 100)
    out2 = adaptation.warmup(jax.random.key(0), jl.mala, logp, positions, 100)
    np.testing.assert_array_equal(out1[1].position["b"], out2[1].position["b"])
    sampler, state, info = out1
    assert np.all(np.asarray(state.count) == 100)
    assert info.acceptance_rate.shape == (100,) and info.preconditioner.shape == (5, 5)
    trace = jl.run(jax.random.key(1), sampler, state, 10)
    assert trace.positions["b"].shape == (2, 10, 3)
    _, _, diag_info = adaptation.warmup(
        jax.random.key(0), jl.mala, logp, positions, 100, preconditioner="diagonal"
    )
    assert diag_info.preconditioner.shape == (5,) and diag_info.cholesky is None
    # An earlier warm-up's state is a start too.
    _, again, _ = adaptation.warmup(jax.random.key(3), jl.mala, logp, state, 100)
    assert again.position["a"].shape == (2, 2)


def test_numpy_and_jax_scalars_are_numbers():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    _, state, info = adaptation.warmup(
        jax.random.key(0),
        jl.mala,
        logp,
        [[0.0, 0.0], [1.0, 1.0]],  # a list is an array
        np.int64(50),
        target_acceptance=np.float32(0.6),
        preconditioner="dense",
        initial_step_size=jnp.asarray(0.5),
        shrinkage=np.float64(0.1),
        restart_chains=np.bool_(True),
    )
    assert state.position.shape == (2, 2) and info.acceptance_rate.shape == (50,)
    assert info.target_acceptance == pytest.approx(0.6)


@pytest.mark.long
def test_the_same_model_and_settings_reuse_the_compiled_windows():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.zeros((4, 3))
    cache = warmup_module.cached_window
    before = cache.cache_info()
    adaptation.warmup(jax.random.key(0), jl.mala, logp, x0, 30, restart_chains=False)
    adaptation.warmup(jax.random.key(1), jl.mala, logp, x0 + 0.1, 30, restart_chains=False)
    after = cache.cache_info()
    # Every window of both warm-ups runs one program (its bounds are traced).
    assert after.misses - before.misses == 1 and after.hits - before.hits >= 1
    # Another position layout is another program.
    adaptation.warmup(jax.random.key(0), jl.mala, logp, jnp.zeros((4, 2)), 30, restart_chains=False)
    assert cache.cache_info().misses - after.misses == 1


@pytest.mark.slow  # the float32 roots and factors are checked directly in test_metric.py
def test_a_short_dense_warmup_on_a_small_neural_network_works_in_float32():
    """30 dense warm-up steps on a network's posterior once ended in "`cholesky` must be
    a lower Cholesky factor"; the metric stays a factor."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = np.sin(x @ np.array([1.0, -0.5, 0.3])).astype(np.float32)

    def logp(p):
        pred = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        prior = -0.5 * sum(jnp.sum(v**2) for v in jax.tree.leaves(p))
        return prior - 0.5 * jnp.sum((y - pred) ** 2) / 0.1**2

    keys = jax.random.split(jax.random.key(0), 8)
    positions = jax.vmap(
        lambda k: {
            "w1": 0.5 * jax.random.normal(jax.random.fold_in(k, 1), (3, 16)),
            "b1": jnp.zeros(16),
            "w2": 0.5 * jax.random.normal(jax.random.fold_in(k, 2), (16,)),
            "b2": jnp.zeros(()),
        }
    )(keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        sampler, state, info = adaptation.warmup(
            jax.random.key(1), jl.mala, logp, positions, 30, preconditioner="dense"
        )
    assert np.isfinite(float(info.step_size)) and float(info.step_size) > 0
    trace = jl.run(jax.random.key(2), sampler, state, 20)
    assert trace.num_diverged_chains == 0
    assert float(np.mean(trace.info.acceptance_rate)) > 0.2
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(trace.positions))


# --------------------------------------------------------------------------- #
# float64
# --------------------------------------------------------------------------- #
SD64 = np.array([0.1, 1.0, 3.0])


@functools.cache
def _target64():
    """Made once (under x64, where the tests call it): one log density for every
    warm-up below, so their compiled windows are shared."""
    return jl.targets.gaussian(np.zeros(3), scale=SD64)


@functools.cache
def _warmup_float64(dtype):
    x0 = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), dtype)
    return adaptation.warmup(
        jax.random.key(1), jl.mala, _target64().logdensity, x0, 300, preconditioner="diagonal"
    )


def _moment_z(trace) -> np.ndarray:
    x = trace.positions
    return np.concatenate([mean_z(x, np.zeros(3)), var_z(x, np.zeros(3), SD64**2)])


@pytest.mark.long
def test_warmup_keeps_float32_under_x64():
    with jax.enable_x64(True):
        sampler, state, info = _warmup_float64(jnp.float32)
        trace = jl.run(jax.random.key(2), sampler, state, 10)
    assert state.position.dtype == jnp.float32 and info.step_size.dtype == jnp.float32
    assert info.preconditioner.dtype == jnp.float32 and trace.positions.dtype == jnp.float32


@pytest.mark.long
def test_float64_adapted_mala_has_the_exact_moments():
    with jax.enable_x64(True):
        sampler, state, info = _warmup_float64(jnp.float64)
        trace = jl.run(jax.random.key(2), sampler, state, 2000)
        z = _moment_z(trace)
    assert info.step_size.dtype == jnp.float64 and info.preconditioner.dtype == jnp.float64
    assert state.position.dtype == jnp.float64 and trace.positions.dtype == jnp.float64
    assert np.all(np.abs(z) < Z_MAX), z
    accept = float(np.mean(np.asarray(trace.info.acceptance_rate)))
    assert abs(accept - 0.574) < 0.1, accept


@pytest.mark.long
def test_float64_moment_check_catches_the_uncorrected_step():
    # Broken companion: the adapted step without the Metropolis correction (ULA)
    # inflates the variances by 1 / (1 - ε/2) on this Gaussian.
    with jax.enable_x64(True):
        _, state, info = _warmup_float64(jnp.float64)
        ula = jl.ula(
            lambda x: -0.5 * jnp.sum((x / SD64) ** 2), info.step_size * info.preconditioner
        )
        trace = jl.run(jax.random.key(2), ula, state.position, 2000)
        z = _moment_z(trace)
    assert np.any(np.abs(z) > Z_MAX), z
