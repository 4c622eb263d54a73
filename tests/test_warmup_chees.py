"""ChEES trajectory-length adaptation for MALT in the generic warm-up.

Claims, each with a broken companion that the same check rejects:

- ``chees_gradient`` is the derivative of ``chees_criterion`` in ``log T``
  (autodiff of the criterion along the exact Hamiltonian flow of a standard
  Gaussian) and its mean is the closed form ``u T d sin(2 u T)`` within 4 MCSE;
  with the velocity's sign flipped it is neither.
- On the anisotropic Gaussian of ``test_warmup_generic.py`` (diagonal, scales
  0.1 to 10), ChEES' adapted ``T`` lands within 20% (in ``log T``) of the first
  maximum of the exact jittered ChEES criterion of the kernel it tuned (MALT's
  leapfrog at the adapted step, ``γ = 1/T``, on the whitened target ``N(0, I)``,
  computed by propagating the covariance of the linear dynamics); the warmed-up
  MALT has R-hat < 1.01 and exact means and variances within 4 MCSE. Ascending
  minus the criterion drives ``T`` to its floor (one step); dropping the jitter
  makes ChEES tune a different (unjittered) criterion; both miss the optimum.
  The acceptance target is 0.95 there, so that the criterion of the dynamics
  without the accept step (the reference) is the one tuned.
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
from jlangevin._warmup import (
    chees_criterion,
    chees_gradient,
    chees_init,
    chees_settings,
    chees_update,
    halton,
    warmup,
)
from jlangevin.kernels import malt

DIM, CHAINS, WARMUP, DRAWS = 5, 32, 500, 1000
SD = np.geomspace(0.1, 10.0, DIM).astype(np.float32)


def logp(x):
    return jnp.sum(-0.5 * (x / SD) ** 2)


def _over_dispersed(num_chains=CHAINS):
    return 3.0 * SD * jax.random.normal(jax.random.key(0), (num_chains, DIM))


# --------------------------------------------------------------------------- #
# The gradient
# --------------------------------------------------------------------------- #
def _flow(z0, p, t):
    """The exact Hamiltonian flow of N(0, I) at time ``t``: position and velocity."""
    return z0 * jnp.cos(t) + p * jnp.sin(t), -z0 * jnp.sin(t) + p * jnp.cos(t)


def _draws(n, d=3, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    z0, p = jax.random.normal(k1, (n, d)), jax.random.normal(k2, (n, d))
    return z0, p, jax.random.uniform(k3, (n,), minval=0.2, maxval=1.0)


@pytest.mark.parametrize("length", [0.7, 1.6, 2.9])
def test_gradient_is_the_criterions_derivative_in_log_t(length):
    z0, p, accept = _draws(64)
    u = 0.8

    def weighted(log_t):
        z_new, _ = _flow(z0, p, u * jnp.exp(log_t))
        return jnp.sum(accept * chees_criterion(z0, z_new, accept)) / jnp.sum(accept)

    log_t = jnp.log(jnp.float32(length))
    z_new, velocity = _flow(z0, p, u * length)
    ours = chees_gradient(z0, z_new, velocity, accept, u * length)
    np.testing.assert_allclose(float(ours), float(jax.grad(weighted)(log_t)), rtol=1e-4)
    flipped = chees_gradient(z0, z_new, -velocity, accept, u * length)
    assert not np.isclose(float(flipped), float(jax.grad(weighted)(log_t)), rtol=1e-2)


def _closed_form_z(velocity_sign, length, u=0.8, n=20_000, d=3):
    """z-score of the gradient's mean against ``d/dlog T E[ChEES] = u T d sin(2uT)``."""
    z0, p, _ = _draws(n, d, seed=1)
    t = u * length
    z_new, velocity = _flow(z0, p, t)
    ones = jnp.ones(n)
    estimate = float(chees_gradient(z0, z_new, velocity_sign * velocity, ones, t))
    # The MCSE from the per-chain terms (the cross-chain means are ~0 at this n).
    per_chain = t * (jnp.sum(z_new**2, -1) - jnp.sum(z0**2, -1)) * jnp.sum(z_new * velocity, -1)
    mcse = float(jnp.std(per_chain)) / np.sqrt(n)
    return (estimate - t * d * np.sin(2 * t)) / mcse


@pytest.mark.parametrize("length", [0.7, 1.6, 2.9])
def test_gradient_mean_matches_the_closed_form(length):
    assert abs(_closed_form_z(1.0, length)) < Z_MAX


@pytest.mark.parametrize("length", [0.7, 1.6, 2.9])
def test_closed_form_check_catches_a_flipped_velocity(length):
    assert abs(_closed_form_z(-1.0, length)) > Z_MAX


def test_gradient_ignores_rejected_and_non_finite_chains():
    z0, p, _ = _draws(6)
    z_new, velocity = _flow(z0, p, 1.0)
    accept = jnp.array([1.0, 0.5, 0.0, 1e-6, 1.0, 1.0])
    bad = z_new.at[2].set(jnp.nan).at[3].set(jnp.inf)
    other = z_new.at[2].set(100.0).at[3].set(-7.0)
    ours = float(chees_gradient(z0, bad, velocity, accept, 1.0))
    assert np.isfinite(ours)
    # Chains 2 and 3 weigh nothing: what they proposed does not matter.
    assert ours == pytest.approx(float(chees_gradient(z0, other, velocity, accept, 1.0)), rel=1e-5)
    assert ours != pytest.approx(float(chees_gradient(z0, z_new, velocity, jnp.ones(6), 1.0)))


# --------------------------------------------------------------------------- #
# The optimiser, the jitter, the sampler's settings
# --------------------------------------------------------------------------- #
def test_halton_points_are_evenly_spread():
    u = np.asarray(halton(jnp.arange(1023)))
    assert u.min() > 0 and u.max() < 1
    np.testing.assert_allclose(np.sort(u), np.arange(1, 1024) / 1024, atol=1e-6)


def test_adam_ascends_and_clips():
    state = chees_init(jnp.float32(1.0))
    for _ in range(40):
        state = chees_update(state, jnp.float32(3.0), jnp.log(0.1), jnp.log(2.0))
    assert float(jnp.exp(state.log_length)) == pytest.approx(2.0)  # capped
    assert 1.0 < float(jnp.exp(state.log_length_avg)) <= 2.0
    down = chees_update(state, jnp.float32(-3.0), jnp.log(0.1), jnp.log(2.0))
    assert float(down.log_length) < float(state.log_length)
    same = chees_update(state, jnp.float32(jnp.nan), jnp.log(0.1), jnp.log(2.0))
    assert float(same.log_length) == float(state.log_length) and int(same.count) == 40


def test_sampler_settings_rule():
    # gamma = 1/T, L = ceil(T / (2 eps)), T clipped to [eps, max eps].
    assert chees_settings(2.0, 0.3, 64) == (0.5, 4, 2.0)
    gamma, steps, length = chees_settings(100.0, 0.5, 8)
    assert (steps, length) == (4, 4.0) and gamma == pytest.approx(0.25)
    assert chees_settings(0.01, 0.5, 8)[1:] == (1, 0.5)


# --------------------------------------------------------------------------- #
# The warm-up: a short run, then the claims on the anisotropic Gaussian
# --------------------------------------------------------------------------- #
def test_chees_warmup_reports_its_trajectory_and_resumes():
    sampler, state, info = warmup(
        jax.random.key(1),
        malt.sampler,
        logp,
        _over_dispersed(8),
        120,
        max_integration_steps=4,
        trajectory="chees",
    )
    assert info.trajectory == "chees" and info.kernel == "malt"
    steps = np.asarray(info.integration_steps_trace)
    lengths = np.asarray(info.trajectory_length_trace)
    assert steps.shape == lengths.shape == (120,) and steps.min() >= 1 and steps.max() <= 4
    assert np.all(lengths > 0) and len(np.unique(steps)) > 1  # jittered
    assert info.gamma == pytest.approx(1.0 / info.chees_trajectory_length, rel=1e-5)
    assert info.trajectory_length == pytest.approx(
        info.num_integration_steps * float(info.step_size), rel=1e-5
    )
    trace = jl.run(jax.random.key(2), sampler, state, 10)
    assert trace.positions.shape == (8, 10, DIM)


def _leapfrog_langevin_criterion(length, eps, gamma, d, u):
    """The exact jittered ChEES of MALT (no accept step) on N(0, I_d) at friction ``gamma``.

    Per coordinate ``(z_0, z, v)`` is Gaussian; its covariance is propagated
    through each O step and leapfrog. With ``s² = var z_L`` and ``c = cov(z_0, z_L)``,
    ``E[(|z_L|² - |z_0|²)²] = d (3 s⁴ + 3 - 2 s² - 4 c²) + d (d - 1) (s² - 1)²``.
    """
    steps = np.clip(np.ceil(u * length / eps), 1, None).astype(int)
    eta = np.exp(-gamma * eps)
    leap = np.eye(3)
    leap[1:, 1:] = [[1 - eps**2 / 2, eps], [-eps * (1 - eps**2 / 4), 1 - eps**2 / 2]]
    cov = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    value = {}
    for n in range(1, steps.max() + 1):
        e = 0.0 if n == 1 else eta
        o = np.diag([1.0, 1.0, e])
        cov = o @ cov @ o.T
        cov[2, 2] += 1 - e**2
        cov = leap @ cov @ leap.T
        s2, c = cov[1, 1], cov[0, 1]
        value[n] = 0.25 * (d * (3 * s2**2 + 3 - 2 * s2 - 4 * c**2) + d * (d - 1) * (s2 - 1) ** 2)
    return np.mean([value[n] for n in steps])


def chees_optimum(eps, d=DIM):
    """The first ``T`` where the criterion is maximal in ``T`` at the friction ``1/T``.

    ChEES' gradient moves ``T`` at a fixed friction (it differentiates the
    trajectory, not ``γ``), so its fixed point is where the derivative of the
    criterion at fixed ``γ = 1/T`` turns negative: a central difference over
    ``±ε`` (the criterion steps with ``⌈uT/ε⌉``), on a grid from ``2ε``.
    """
    u = (np.arange(1024) + 0.5) / 1024
    grid = np.linspace(2 * eps, 8.0, 400)

    def slope(t):
        up = _leapfrog_langevin_criterion(t + eps, eps, 1.0 / t, d, u)
        return up - _leapfrog_langevin_criterion(t - eps, eps, 1.0 / t, d, u)

    slopes = np.array([slope(t) for t in grid])
    return float(grid[np.argmax((slopes[:-1] > 0) & (slopes[1:] <= 0))])


def test_the_reference_optimum_matches_the_continuous_limit():
    # As eps -> 0 the first maximum tends to that of E_u[1 - rho(uT)^2], with rho the
    # autocorrelation of Langevin dynamics at gamma = 1/T: T = 3.04.
    assert chees_optimum(0.05, 2) == pytest.approx(3.04, abs=0.1)


def _adapted(**broken):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        sampler, state, info = _warmup._warmup(
            jax.random.key(1),
            malt.sampler,
            logp,
            _over_dispersed(),
            WARMUP,
            target_acceptance=0.95,
            trajectory="chees",
            **broken,
        )
    return sampler, state, info


def _lands_on_optimum(info):
    """``(passed, numbers)``: ChEES' adapted T within 20% (log scale) of the optimum."""
    eps = float(info.step_size)
    optimum = chees_optimum(eps)
    adapted = info.chees_trajectory_length
    numbers = {"eps": eps, "adapted": adapted, "optimum": optimum}
    return abs(np.log(adapted / optimum)) < np.log(1.2), numbers


@pytest.mark.slow
def test_adapted_t_is_the_chees_optimum_and_malt_is_exact():
    sampler, state, info = _adapted()
    passed, numbers = _lands_on_optimum(info)
    assert passed, numbers
    trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    x = np.asarray(trace.positions, np.float64)
    assert rhat(x) < 1.01
    assert np.all(np.abs(mean_z(x, np.zeros(DIM))) < Z_MAX)
    assert np.all(np.abs(var_z(x, np.zeros(DIM), SD.astype(np.float64) ** 2)) < Z_MAX)


@pytest.mark.slow
@pytest.mark.parametrize(
    "broken",
    [{"chees_sign": -1.0}, {"chees_jitter": False}],
    ids=["descending-chees", "no-jitter"],
)
def test_broken_chees_misses_the_optimum(broken):
    _, _, info = _adapted(**broken)
    passed, numbers = _lands_on_optimum(info)
    assert not passed, numbers


@pytest.mark.slow
def test_chees_is_the_default():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        _, _, info = warmup(jax.random.key(1), malt.sampler, logp, _over_dispersed(), WARMUP)
    assert info.trajectory == "chees" and info.chees_trajectory_length is not None
    assert info.gamma == pytest.approx(1.0 / info.chees_trajectory_length, rel=1e-5)


# --------------------------------------------------------------------------- #
# Bad input
# --------------------------------------------------------------------------- #
X0 = jnp.ones((4, DIM))
KEY = jax.random.key(0)


def _call(kernel=malt.sampler, **options):
    return lambda: warmup(KEY, kernel, logp, X0, 100, **options)


CASES = [
    Case("trajectory unknown", _call(trajectory="nuts"), ValueError, "trajectory"),
    Case("trajectory upper case", _call(trajectory="ChEES"), ValueError, "trajectory"),
    Case("trajectory not a string", _call(trajectory=1), TypeError, "trajectory"),
    Case("trajectory None", _call(trajectory=None), TypeError, "trajectory"),
    Case(
        "trajectory for mala", _call(kernel=jl.mala, trajectory="chees"), ValueError, "trajectory"
    ),
    Case(
        "chees max_integration_steps 0",
        _call(trajectory="chees", max_integration_steps=0),
        ValueError,
        "max_integration_steps",
    ),
    Case(
        "traced L not an integer",
        lambda: jax.jit(
            lambda n: malt.dynamic_step(KEY, malt.init(jnp.zeros(2), logp2), logp2, 0.1, n, 1.0)
        )(jnp.float32(3.0)),
        TypeError,
        "num_integration_steps",
    ),
    Case(
        "static L zero",
        lambda: malt.dynamic_step(KEY, malt.init(jnp.zeros(2), logp2), logp2, 0.1, 0, 1.0),
        ValueError,
        "num_integration_steps",
    ),
    Case(
        "dynamic gamma negative",
        lambda: malt.dynamic_step(KEY, malt.init(jnp.zeros(2), logp2), logp2, 0.1, 3, -1.0),
        ValueError,
        "gamma",
    ),
]


def logp2(x):
    return -0.5 * jnp.sum(x**2)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
