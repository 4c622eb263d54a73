"""Trajectory rules: ChEES and MEADS for kernels that declare ``"trajectory"`` (MALT).

Claims, each with a broken companion that the same check rejects:

- ``chees_gradient`` is the derivative of ``chees_criterion`` in ``log T``
  (autodiff of the criterion along the exact Hamiltonian flow of a standard
  Gaussian) and its mean is the closed form ``u T d sin(2 u T)`` within 4 MCSE;
  with the velocity's sign flipped it is neither.
- On the anisotropic Gaussian of ``test_warmup.py`` (diagonal, scales 0.1 to
  10), ChEES' adapted ``T`` lands within 20% (in ``log T``) of the first maximum
  of the exact jittered ChEES criterion of the kernel it tuned (MALT's leapfrog
  at the adapted step, ``γ = 1/T``, on the whitened target ``N(0, I)``, computed
  by propagating the covariance of the linear dynamics); the warmed-up MALT has
  R-hat < 1.01 and exact means and variances within 4 MCSE. Ascending minus the
  criterion (``chees_gradient`` sign-flipped) drives ``T`` to its floor;
  dropping the jitter (``halton`` returning ones) makes ChEES tune a different
  (unjittered) criterion; both miss the optimum. The acceptance target is 0.95
  there, so that the criterion of the dynamics without the accept step (the
  reference) is the one tuned.
- A trajectory the rule wants longer than ``max_integration_steps`` is reported
  (``info.trajectory_capped``) and warned about; an easy target is not.
- The ESS rule's ``τ`` (steps per effective sample, from the spread of the chains'
  window means) is the closed-form integrated autocorrelation time of stationary
  AR(1) chains, ``(1 + ρ)/(1 - ρ)`` less its finite-window term, within 4 MCSE;
  the ESS in place of ``τ`` misses it, and the rule's ``T = 0.4 δ τ`` with it.
- In the warm-up on a Gaussian with scales up to ``σ_max`` and no metric (so ``ε``
  is set by the smallest scale and ``T`` by the largest), MCLMC's and MAMS' ``T``
  from the ESS rule lands within a factor 2 of ``0.4 (π/2) σ_max sqrt(d)``, the
  rule's fraction of the isokinetic flow's quarter period along the widest
  direction (the speed per coordinate is ``1/sqrt(d)``); the ESS in place of ``τ``
  puts it outside.
"""

import functools
import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin.adaptation import trajectory
from jlangevin.adaptation.trajectory import (
    chees_criterion,
    chees_gradient,
    chees_init,
    chees_update,
    ess_length,
    halton,
    sampler_steps,
)
from jlangevin.kernels import malt, mams, mclmc

#: The module (``jlangevin.adaptation.warmup`` is also the name of its function).
warmup_module = importlib.import_module("jlangevin.adaptation.warmup")

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


@pytest.mark.long
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


def test_jittered_steps_follow_the_halton_points():
    eps, length = jnp.float32(0.1), jnp.float32(2.0)
    steps = np.asarray(trajectory.jittered_steps(jnp.arange(8), length, eps, True, 64))
    expected = np.ceil(np.asarray(halton(jnp.arange(8))) * 20.0 - 1e-4)
    np.testing.assert_array_equal(steps, np.clip(expected, 1, 64))
    assert int(trajectory.jittered_steps(0, length, eps, False, 64)) == 20
    assert int(trajectory.jittered_steps(0, length, eps, False, 8)) == 8  # capped
    assert int(trajectory.jittered_steps(0, jnp.float32(jnp.nan), eps, False, 8)) == 1


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
    # ChEES: L = ceil(T / (2 eps)), T clipped to [eps, max eps]; capped when T was cut.
    assert sampler_steps("chees", 2.0, 0.3, 64) == (2.0, 4, False)
    length, steps, capped = sampler_steps("chees", 100.0, 0.5, 8)
    assert (length, steps, capped) == (4.0, 4, True)
    assert sampler_steps("chees", 0.01, 0.5, 8) == (0.5, 1, False)
    # MEADS: sigma_max = 2, L = ceil(2 / 0.3) = 7; capped at max_integration_steps.
    assert sampler_steps("meads", 2.0, 0.3, 64) == (2.0, 7, False)
    length, steps, capped = sampler_steps("meads", 2.0, 0.01, 64)
    assert length == pytest.approx(0.64) and (steps, capped) == (64, True)
    assert sampler_steps("meads", float("nan"), 0.5, 8) == (0.5, 1, True)


# --------------------------------------------------------------------------- #
# The warm-up: short runs, then the claims on the anisotropic Gaussian
# --------------------------------------------------------------------------- #
@pytest.mark.long
def test_chees_warmup_reports_its_trajectory_and_resumes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)  # 4 steps may cap ChEES' T
        sampler, state, info = jl.adaptation.warmup(
            jax.random.key(1), jl.malt, logp, _over_dispersed(8), 120, max_integration_steps=4
        )
    assert info.trajectory == "chees" and info.kernel == "malt"  # the default rule
    steps = np.asarray(info.integration_steps_trace)
    lengths = np.asarray(info.trajectory_length_trace)
    assert steps.shape == lengths.shape == (120,) and steps.min() >= 1 and steps.max() <= 4
    assert np.all(lengths > 0) and len(np.unique(steps)) > 1  # jittered
    eps = float(info.step_size)
    assert info.num_integration_steps == int(np.ceil(info.trajectory_length / (2 * eps) - 1e-6))
    assert info.num_grads == 8 * int(steps.sum())
    trace = jl.run(jax.random.key(2), sampler, state, 10)
    assert trace.positions.shape == (8, 10, DIM)


@pytest.mark.long
@pytest.mark.parametrize("rule", ["meads", "chees"])
def test_malt_warmup_sets_trajectory_and_resumes(rule):
    """Short run, L capped at 1: MALT's own sampler comes back with L and T = ε; it resumes."""
    with pytest.warns(jl.SamplingWarning, match="max_integration_steps=1"):
        sampler, state, info = jl.adaptation.warmup(
            jax.random.key(1),
            jl.malt,
            logp,
            _over_dispersed(8),
            200,
            max_integration_steps=1,
            trajectory=rule,
            preconditioner="diagonal",
        )
    assert info.kernel == "malt" and info.num_integration_steps == 1 and info.trajectory == rule
    assert info.trajectory_capped
    assert np.all(np.asarray(info.integration_steps_trace) == 1)
    assert info.trajectory_length == pytest.approx(float(info.step_size), rel=1e-5)
    assert np.all(np.asarray(state.count) == 200) and isinstance(state, malt.MALTState)
    trace = jl.run(jax.random.key(2), sampler, state, 20)
    assert trace.positions.shape == (8, 20, DIM)


def _capped(logdensity, positions, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, info = jl.adaptation.warmup(
            jax.random.key(1), jl.malt, logdensity, positions, 300, **options
        )
    return info, [str(w.message) for w in caught if issubclass(w.category, jl.SamplingWarning)]


@pytest.mark.long
def test_a_capped_trajectory_is_reported_and_an_easy_one_is_not():
    # Scales 0.1..10 under a diagonal metric still ask for T ~ 3, but two steps of
    # a step sized for the narrowest direction of the correlation left over go nowhere.
    corr = 0.99 * np.ones((DIM, DIM)) + 0.01 * np.eye(DIM)
    prec = jnp.asarray(np.linalg.inv(corr), jnp.float32)
    correlated = lambda x: -0.5 * x @ prec @ x  # noqa: E731
    info, caught = _capped(
        correlated, _over_dispersed(16) / SD, preconditioner="diagonal", max_integration_steps=2
    )
    assert info.trajectory_capped, str(info)
    assert len(caught) == 1 and "max_integration_steps=2" in caught[0], caught
    assert "capped by max_integration_steps" in str(info)
    # Companion: the easy target (N(0, I)) with the default cap is not capped.
    easy, caught = _capped(lambda x: -0.5 * jnp.sum(x**2), _over_dispersed(16) / SD)
    assert not easy.trajectory_capped and not caught, (str(easy), caught)
    assert "capped" not in str(easy)


# --------------------------------------------------------------------------- #
# ChEES lands on the optimum of the criterion of the kernel it tunes
# --------------------------------------------------------------------------- #
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


def _adapted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        return jl.adaptation.warmup(
            jax.random.key(1),
            jl.malt,
            logp,
            _over_dispersed(),
            WARMUP,
            target_acceptance=0.95,
            trajectory="chees",
            preconditioner="diagonal",
        )


def _lands_on_optimum(info):
    """``(passed, numbers)``: the T ChEES adapted within 20% (log scale) of the optimum.

    The sampler's ``T`` is ChEES' average iterate (clipped to ``[ε, max ε]``, which it
    is well within here).
    """
    eps = float(info.step_size)
    optimum = chees_optimum(eps)
    adapted = info.trajectory_length
    numbers = {"eps": eps, "adapted": adapted, "optimum": optimum}
    return abs(np.log(adapted / optimum)) < np.log(1.2), numbers


@pytest.fixture
def fresh_windows():
    """The windows compile afresh around a patch of what they trace."""
    warmup_module.cached_window.cache_clear()
    yield
    warmup_module.cached_window.cache_clear()


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


def _descending(z, z_new, velocity, acceptance, time):
    return -chees_gradient(z, z_new, velocity, acceptance, time)


def _no_jitter(index, bits=trajectory.HALTON_BITS):
    return jnp.ones(jnp.shape(index), jnp.float32)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "broken"),
    [("chees_gradient", _descending), ("halton", _no_jitter)],
    ids=["descending-chees", "no-jitter"],
)
def test_broken_chees_misses_the_optimum(monkeypatch, fresh_windows, name, broken):
    monkeypatch.setattr(trajectory, name, broken)
    warmup_module.cached_window.cache_clear()
    _, _, info = _adapted()
    passed, numbers = _lands_on_optimum(info)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# The ESS rule: τ from the chains' window means, and T = 0.4 δ τ
# --------------------------------------------------------------------------- #
AR_CHAINS, AR_DRAWS, AR_DIM, AR_RHO = 256, 400, 16, 0.8


@functools.lru_cache(maxsize=1)
def _ar1_window_sums(rho=AR_RHO, seed=0):
    """Means ``(chains, d)`` and pooled within sums ``(d,)`` of stationary AR(1) chains."""
    rng = np.random.default_rng(seed)
    x = np.empty((AR_DRAWS, AR_CHAINS, AR_DIM))
    x[0] = rng.normal(size=(AR_CHAINS, AR_DIM))
    for t in range(1, AR_DRAWS):
        x[t] = rho * x[t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=(AR_CHAINS, AR_DIM))
    means = x.mean(axis=0)
    within = np.sum((x - means) ** 2, axis=(0, 1))
    return jnp.asarray(means, jnp.float32), jnp.asarray(within, jnp.float32)


def _ar1_tau(rho=AR_RHO, n=AR_DRAWS):
    """``n Var(x̄) / Var(x)`` for a stationary AR(1) window of ``n`` draws, exactly."""
    return (1 + rho) / (1 - rho) - 2 * rho * (1 - rho**n) / (n * (1 - rho) ** 2)


def _tau_z():
    means, within = _ar1_window_sums()
    healthy = jnp.ones(AR_CHAINS, bool)
    tau = np.asarray(trajectory.steps_per_effective_sample(means, within, AR_DRAWS, healthy))
    # Coordinates are independent: the MCSE of their average from their spread.
    return (tau.mean() - _ar1_tau()) / (tau.std(ddof=1) / np.sqrt(tau.size)), tau


def test_steps_per_effective_sample_is_the_ar1_autocorrelation_time():
    z, tau = _tau_z()
    assert abs(z) < Z_MAX, (z, tau.mean(), _ar1_tau())


def test_the_tau_check_catches_the_ess_in_place_of_steps_per_ess(monkeypatch):
    """Companion: the window's ESS per chain (``n / τ``) where ``τ`` belongs."""
    right = trajectory.steps_per_effective_sample
    monkeypatch.setattr(
        trajectory, "steps_per_effective_sample", lambda m, w, n, h: n / right(m, w, n, h)
    )
    z, _ = _tau_z()
    assert abs(z) > Z_MAX, z


def test_ess_length_is_the_rules_fraction_of_the_distance_per_effective_sample():
    _, tau = _tau_z()
    delta = 0.5
    length = float(ess_length(jnp.float32(1.0), jnp.asarray(tau), delta))
    se = 0.4 * delta * tau.std(ddof=1) / np.sqrt(tau.size)
    assert abs(length - 0.4 * delta * _ar1_tau()) < Z_MAX * se
    # Limited to a factor ESS_MAX_CHANGE per window end; kept when no tau is finite.
    assert float(ess_length(1.0, jnp.array([1e6]), 1.0)) == trajectory.ESS_MAX_CHANGE
    assert float(ess_length(1.0, jnp.array([1e-6]), 1.0)) == 1 / trajectory.ESS_MAX_CHANGE
    assert float(ess_length(2.0, jnp.array([jnp.nan, -1.0]), 1.0)) == 2.0
    assert float(ess_length(2.0, jnp.array([jnp.nan, 10.0]), 1.0)) == pytest.approx(4.0)


def test_the_healthy_mask_leaves_chains_out():
    means, within = _ar1_window_sums()
    far = means.at[0].set(50.0)  # one chain far off: the others' tau is unchanged
    mask = jnp.ones(AR_CHAINS, bool).at[0].set(False)
    base = trajectory.steps_per_effective_sample(means[1:], within, AR_DRAWS, mask[1:])
    masked = trajectory.steps_per_effective_sample(far, within, AR_DRAWS, mask)
    spoiled = trajectory.steps_per_effective_sample(far, within, AR_DRAWS, ~mask | mask)
    # ``within`` still counts chain 0's draws (as the warm-up's sums do): a small change.
    np.testing.assert_allclose(np.asarray(masked), np.asarray(base), rtol=0.05)
    assert np.all(np.asarray(spoiled) > 10 * np.asarray(base))


SCALED_DIM = 10
SCALED_SD = 3.0 * np.geomspace(0.1, 1.0, SCALED_DIM).astype(np.float32)


def _scaled_logp(x):
    return jnp.sum(-0.5 * (x / SCALED_SD) ** 2)


def _ess_rule_ratio(tuning):
    """The ESS rule's ``T`` over ``0.4 (π/2) σ_max sqrt(d)``, with no metric."""
    no_metric = tuning._replace(tunes=("step_size", "trajectory"))
    start = SCALED_SD * jax.random.normal(jax.random.key(3), (16, SCALED_DIM))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        _, _, info = jl.adaptation.warmup(
            jax.random.key(4), no_metric, _scaled_logp, start, 400, trajectory="ess"
        )
    assert info.trajectory == "ess"
    quarter = 0.4 * (np.pi / 2) * SCALED_SD.max() * np.sqrt(SCALED_DIM)
    return info.trajectory_length / quarter, info


@pytest.mark.long
@pytest.mark.parametrize("kernel", [mclmc, mams], ids=["mclmc", "mams"])
def test_the_ess_rule_sets_t_by_the_largest_scale(kernel):
    ratio, info = _ess_rule_ratio(kernel.tuning)
    assert 0.5 < ratio < 2.0, (ratio, str(info))
    assert info.trajectory_length > 2 * float(info.step_size)  # not at its floor


@pytest.mark.long
@pytest.mark.parametrize("kernel", [mclmc, mams], ids=["mclmc", "mams"])
def test_the_scale_check_catches_the_ess_in_place_of_steps_per_ess(monkeypatch, kernel):
    right = trajectory.steps_per_effective_sample
    monkeypatch.setattr(
        trajectory, "steps_per_effective_sample", lambda m, w, n, h: n / right(m, w, n, h)
    )
    ratio, info = _ess_rule_ratio(kernel.tuning)
    assert not 0.5 < ratio < 2.0, (ratio, str(info))


def test_malt_does_not_declare_the_ess_rule():
    with pytest.raises(ValueError, match="declares the rules"):
        jl.adaptation.warmup(
            jax.random.key(0), jl.malt, logp, _over_dispersed(4), 50, trajectory="ess"
        )
