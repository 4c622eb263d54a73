"""float64: every kernel samples its exact answers under ``jax.enable_x64``, and keeps dtypes.

The statistical checks are the core ones of the float32 suite, run once in
float64 (exact stationary moments, MCSE tolerances, each with a companion that
the same check rejects). The dtype checks run in both modes: float32 inputs
keep float32 states and infos, float64 inputs get float64 ones.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, var_z

import jlangevin as jl
from jlangevin.kernels import mala

x64 = jax.enable_x64  # a context manager (jax >= 0.4.36); also `jax.experimental.enable_x64`

SIGMA = np.array([1.0, 2.0, 0.5])
COV = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.25]])
MEAN = np.array([1.0, -2.0, 0.5])


def ula_stationary_var(var, h):
    """ULA (and full-gradient SGLD at T = 1) on N(0, var) is an AR(1): var / (1 - h / (2 var))."""
    return var / (1 - h / (2 * var))


def _start(shape, scale=1.0, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float64)


def test_ula_gaussian_in_float64_has_the_exact_discretisation_bias():
    step = np.array([0.5, 0.8, 0.05])
    with x64(True):
        logp = lambda x: -0.5 * jnp.sum((x / SIGMA) ** 2)  # noqa: E731
        sampler = jl.ula(logp, step_size=jnp.asarray(step))
        trace = jl.run(jax.random.key(0), sampler, _start((400, 3), SIGMA), 300, burnin=100)
    assert trace.positions.dtype == jnp.float64 and trace.info.step_size.dtype == jnp.float64
    z = var_z(trace.positions, np.zeros(3), ula_stationary_var(SIGMA**2, step))
    assert np.all(np.abs(z) < Z_MAX), z
    # Companion: the same check rejects the unbiased variance (the bias is really seen).
    z_unbiased = var_z(trace.positions, np.zeros(3), SIGMA**2)
    assert np.abs(z_unbiased[:2]).min() > Z_MAX, z_unbiased


def _mala_float64_run(key=0):
    precision = np.linalg.inv(COV)
    with x64(True):
        prec, mean = jnp.asarray(precision), jnp.asarray(MEAN)
        logp = lambda x: -0.5 * (x - mean) @ prec @ (x - mean)  # noqa: E731
        x0 = np.random.default_rng(100 + key).multivariate_normal(MEAN, COV, size=200)
        trace = jl.run(jax.random.key(key), jl.mala(logp, step_size=0.4), jnp.asarray(x0), 400)
    assert trace.positions.dtype == jnp.float64
    assert trace.info.acceptance_rate.dtype == jnp.float64
    return np.concatenate(
        [mean_z(trace.positions, MEAN), var_z(trace.positions, MEAN, np.diag(COV))]
    )


def test_mala_leaves_a_correlated_gaussian_invariant_in_float64():
    z = _mala_float64_run()
    assert np.all(np.abs(z) < Z_MAX), z


def test_mala_float64_check_catches_a_wrong_acceptance_ratio(monkeypatch):
    monkeypatch.setattr(mala, "proposal_logdensity", lambda *args: 0.0)
    z = _mala_float64_run(key=1)
    assert np.abs(z).max() > Z_MAX, z


def test_sgld_temperature_in_float64_has_the_exact_stationary_variance():
    h, temperature = 0.4, 0.25
    with x64(True):
        sampler = jl.sgld(
            lambda x: -0.5 * jnp.sum(x**2), step_size=h, temperature=np.float64(temperature)
        )
        trace = jl.run(jax.random.key(0), sampler, _start((500, 1)), 300, burnin=100)
    assert trace.positions.dtype == jnp.float64
    assert trace.final_state.score.dtype == jnp.float64
    # Full gradient on N(0, 1): the AR(1) variance T / (1 - h / 2), exactly.
    z = var_z(trace.positions, np.zeros(1), np.array([temperature / (1 - h / 2)]))
    assert np.all(np.abs(z) < Z_MAX), z
    # Companion: the check rejects the T = 1 variance.
    z_wrong = var_z(trace.positions, np.zeros(1), np.array([1 / (1 - h / 2)]))
    assert np.abs(z_wrong).min() > Z_MAX, z_wrong


def test_psgld_frozen_preconditioner_in_float64_is_exact():
    """Frozen RMSProp: SGLD with the step h G per coordinate, exact AR(1) variance."""
    sd, h, burnin = np.array([0.5, 2.0]), 0.05, 500
    with x64(True):
        logp = lambda x: -0.5 * jnp.sum((x / sd) ** 2)  # noqa: E731
        settings = jl.RMSProp(decay=0.99, freeze_after=burnin)
        sampler = jl.sgld(logp, step_size=h, preconditioner=settings)
        trace = jl.run(jax.random.key(2), sampler, _start((256, 2), sd), 2500, burnin=burnin)
    assert trace.final_state.square_avg.dtype == jnp.float64
    g = 1.0 / (settings.eps + np.sqrt(np.asarray(trace.final_state.square_avg)))
    exact = (sd**2 / (1 - h * g / (2 * sd**2))).mean(axis=0)
    z = var_z(trace.positions[:, ::5], np.zeros(2), exact)
    assert np.all(np.abs(z) < Z_MAX), z
    z_wrong = var_z(trace.positions[:, ::5], np.zeros(2), sd**2)  # the unbiased variance
    assert np.abs(z_wrong).max() > Z_MAX, z_wrong


def test_annealed_last_level_in_float64_is_the_exact_ula_law():
    # Data N(0, 1): the noised score at level s is exact, -x / (1 + s²). After enough steps
    # at the last level the independent particles follow ULA's own stationary law there,
    # N(0, v / (1 - h / (2 v))) with v = 1 + s_L² and h = step_scale.
    sigmas, step_scale, n = np.array([3.0, 1.0, 0.5]), 0.5, 4000
    with x64(True):
        sampler = jl.annealed_langevin(
            lambda x, s: -x / (1.0 + s**2), sigmas, step_scale, 60, denoise=False
        )
        samples, info = sampler(jax.random.key(0), jnp.zeros((n, 2)))
    assert samples.dtype == jnp.float64 and info.score_norm.dtype == jnp.float64
    x = np.asarray(samples).ravel()
    v = 1.0 + sigmas[-1] ** 2
    exact = ula_stationary_var(v, step_scale)
    assert abs(x.mean()) < Z_MAX * np.sqrt(exact / x.size)
    mcse = exact * np.sqrt(2 / x.size)  # particles independent, Gaussian: var(s²) = 2 v²
    assert abs(x.var() - exact) < Z_MAX * mcse, (x.var(), exact)
    assert abs(x.var() - v) > Z_MAX * mcse  # companion: the unbiased variance is rejected


# ------------------------------------------------------------------------------------
# dtypes: float32 stays float32 (x64 on or off), float64 stays float64
# ------------------------------------------------------------------------------------
LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731


def _minibatch():
    data = jnp.asarray(np.random.default_rng(0).normal(size=(40, 2)))
    return jl.gradients.minibatch(
        lambda t: -0.5 * jnp.sum(t**2), lambda t, x: -0.5 * jnp.sum((x - t) ** 2), data, 8
    )


SAMPLERS = {
    "ula": lambda: jl.ula(LOGP, np.float64(0.1), score_clip=np.float64(3.0), bounds=(-5.0, 5.0)),
    "ula-schedule": lambda: jl.ula(
        score_fn=lambda x: -x, step_size=jl.schedules.polynomial(0.1, 1, 0.55)
    ),
    "mala": lambda: jl.mala(LOGP, step_size=np.asarray([0.2, 0.3])),
    "mala-dense": lambda: jl.mala(LOGP, step_size=0.2, cholesky=np.eye(2)),
    "sgld": lambda: jl.sgld(LOGP, 0.1, temperature=np.float64(0.5)),
    "psgld": lambda: jl.sgld(LOGP, 0.05, preconditioner=jl.RMSProp()),
    "sgld-minibatch": lambda: jl.sgld(_minibatch(), 0.01),
}


def _float_dtypes(tree):
    return {
        jax.tree_util.keystr(path): leaf.dtype
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
        if jnp.issubdtype(leaf.dtype, jnp.floating)
    }


MODES = [(False, "float32"), (True, "float32"), (True, "float64")]
# With x64 disabled JAX has no 64-bit dtypes, so "float32 stays float32" cannot fail there:
# for the kernels (one compiled loop each) that mode is slow-only. The x64-f32 mode runs the
# same samplers on the same float32 inputs where a promotion to float64 would show.
KERNEL_MODES = [
    pytest.param(False, "float32", id="f32", marks=pytest.mark.slow),
    pytest.param(True, "float32", id="x64-f32"),
    pytest.param(True, "float64", id="x64-f64"),
]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("enable, dtype", KERNEL_MODES)
def test_kernels_keep_the_position_dtype_in_state_and_info(enable, dtype, name):
    with x64(enable):
        trace = jl.run(jax.random.key(0), SAMPLERS[name](), jnp.full((2, 2), 0.5, dtype), 4)
    dtypes = _float_dtypes((trace.positions, trace.final_state, trace.info))
    assert set(dtypes.values()) == {jnp.dtype(dtype)}, dtypes
    assert trace.final_state.count.dtype == jnp.int32
    np.testing.assert_array_equal(trace.diverged, 0)


@pytest.mark.parametrize("enable, dtype", MODES, ids=["f32", "x64-f32", "x64-f64"])
def test_annealed_keeps_the_particle_dtype(enable, dtype):
    with x64(enable):
        sampler = jl.annealed_langevin(lambda x, s: -x / (1 + s**2), [1.0, 0.5], 0.01, 3)
        samples, info = sampler(jax.random.key(0), jnp.zeros((3, 2), dtype))
    assert samples.dtype == jnp.dtype(dtype)
    assert {info.sigma.dtype, info.step_size.dtype, info.score_norm.dtype} == {jnp.dtype(dtype)}
    assert info.diverged.dtype == jnp.int32
