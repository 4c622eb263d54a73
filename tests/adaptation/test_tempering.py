"""The replica-exchange warm-up: the ladder update, the Gaussian optimum, mode weights.

Exact answers used here:

- the ladder update (Syed et al. 2021, Alg. 4) on a barrier linear in ``log beta``
  gives the geometric ladder exactly, and in general the interpolated barrier of
  the new rungs is split into equal parts;
- on a 2-D standard Gaussian the swap acceptance between ``beta`` and
  ``rho beta`` is exactly ``2 rho / (1 + rho)`` (the tempered ``log p`` are
  ``-E / beta`` with ``E ~ Exp(1)``); it depends on the ratio only, so the ladder
  with equal rates is the geometric one;
- a two-component mixture's mode weights (0.3, 0.7), from every chain in the
  minor mode;
- the rungs' settings: rung ``k`` runs its kernel's declared step with ``ε_k`` and
  the metric ``v / beta_k`` (MALA ``h = ε_k v / beta_k``, Barker
  ``σ = ε_k sqrt(v / beta_k)``), whatever the declaration is called.

Broken companions patch :func:`jlangevin.adaptation.ladder.update_ladder`, the
name the warm-up calls between its windows.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check
from mcmc_checks import Z_MAX, mean_z, rhat

import jlangevin as jl
from jlangevin import diagnostics as dg
from jlangevin.adaptation import ladder
from jlangevin.adaptation.tempering import RungKernel, rung_params, tempering_warmup
from jlangevin.kernels import barker, mala, tempering

RHAT_MAX = 1.01


# --------------------------------------------------------------------------- #
# The ladder update
# --------------------------------------------------------------------------- #
LADDER = np.array([1.0, 0.7, 0.2, 0.05, 0.01])


def _predicted_split_error(update, betas, rejection):
    """Largest |Λ(new β_k) - k Λ / (K - 1)| under the interpolant of the old ladder's rates."""
    new = update(betas, rejection)
    barrier = ladder.barrier_interpolant(betas, rejection)
    levels = np.sum(rejection) * np.arange(betas.size) / (betas.size - 1)
    return float(np.max(np.abs(barrier(new) - levels))), new


def test_a_barrier_linear_in_log_beta_gives_the_geometric_ladder_exactly():
    rejection = 0.3 * np.diff(-np.log(LADDER))  # λ(β) = 0.3 / β
    np.testing.assert_allclose(ladder.update_ladder(LADDER, rejection), np.geomspace(1, 0.01, 5))
    np.testing.assert_allclose(ladder.local_barrier(LADDER, rejection) * LADDER, 0.3)


def test_the_new_rungs_split_the_interpolated_barrier_equally():
    rejection = np.array([0.1, 0.5, 0.2, 0.4])  # Λ at the rungs: 0, 0.1, 0.6, 0.8, 1.2
    error, new = _predicted_split_error(ladder.update_ladder, LADDER, rejection)
    assert error < 1e-9, error
    assert new[0] == 1.0 and new[-1] == 0.01 and np.all(np.diff(new) < 0)
    assert new[2] == pytest.approx(LADDER[2], rel=1e-12)  # level 0.6 is the rung at Λ = 0.6


def test_equal_rates_are_a_fixed_point():
    np.testing.assert_allclose(ladder.update_ladder(LADDER, np.full(4, 0.3)), LADDER, rtol=1e-12)


def test_the_interpolated_barrier_is_monotone_between_the_rungs():
    rejection = np.array([0.01, 0.9, 0.02, 0.6])
    grid = np.geomspace(1.0, 0.01, 400)
    values = ladder.barrier_interpolant(LADDER, rejection)(grid)
    assert np.all(np.diff(values) >= -1e-12)
    np.testing.assert_allclose(values[[0, -1]], [0.0, rejection.sum()])


def test_split_check_catches_rungs_at_equal_quantiles_of_beta():
    def linear(betas, rejection):
        return np.linspace(1.0, betas[-1], betas.size)

    error, _ = _predicted_split_error(linear, LADDER, np.array([0.1, 0.5, 0.2, 0.4]))
    assert error > 0.05, error


def test_round_trip_rate():
    assert ladder.round_trip_rate([0.0, 0.0]) == 0.5  # every swap accepted: one trip per 2 rounds
    assert ladder.round_trip_rate([0.5] * 4) == pytest.approx(1 / 10)


# --------------------------------------------------------------------------- #
# A 2-D Gaussian: the optimal ladder is geometric
# --------------------------------------------------------------------------- #
GAUSS_RUNGS, GAUSS_BETA_MIN, GAUSS_CHAINS = 6, 0.01, 16
GAUSS_WARMUP, GAUSS_CHECK = 2000, 1000  # the check run is as long as the last round (1000)
GAUSS_START = np.linspace(1.0, GAUSS_BETA_MIN, GAUSS_RUNGS)  # far from geometric


def gauss_logp(x):
    return -0.5 * jnp.sum(x**2)


def gauss_acceptance(spacing):
    """Exact swap acceptance of a pair ``log(beta_k / beta_{k+1}) = spacing`` apart (2-D)."""
    rho = np.exp(-np.asarray(spacing, np.float64))
    return 2 * rho / (1 + rho)


def pair_mcse(info):
    """Per pair: the mean swap probability over its attempts, and its ESS-based MCSE."""
    acceptance = np.asarray(info.swap_acceptance, np.float64)  # (chains, steps, pairs)
    attempted = np.asarray(info.swap_attempted)[0]  # the same steps on every chain
    per_pair = [acceptance[:, attempted[:, k], k] for k in range(acceptance.shape[-1])]
    size = min(p.shape[1] for p in per_pair)
    stacked = np.stack([p[:, :size] for p in per_pair], axis=-1)
    return stacked.mean(axis=(0, 1)), np.asarray(dg.mcse(stacked))


def geometric_check(betas, info):
    """``(z_ladder, z_rates)`` against the geometric ladder's exact rate.

    ``z_ladder``: the exact rate of each adapted pair against the geometric one,
    over ``sqrt(2)`` MCSEs: the adapted ladder is placed from the last round's
    rates, about as noisy as the check run's (same chains and length), and a
    pair's rate error is its own estimate's plus the shared normalisation's.
    ``z_rates``: the measured rates, with one MCSE more for the measurement.
    """
    spacing = np.diff(-np.log(betas))
    exact = gauss_acceptance(-np.log(GAUSS_BETA_MIN) / (GAUSS_RUNGS - 1))
    rates, mcse = pair_mcse(info)
    z_ladder = (gauss_acceptance(spacing) - exact) / (np.sqrt(2) * mcse)
    z_rates = (rates - exact) / (np.sqrt(3) * mcse)
    return z_ladder, z_rates


def _passes(*zs):
    return all(bool(np.all(np.abs(z) < Z_MAX)) for z in zs)


def _gauss_warmup():
    x0 = jnp.zeros((GAUSS_CHAINS, 2))
    sampler, state, info = tempering_warmup(
        jax.random.key(0), gauss_logp, x0, GAUSS_WARMUP, betas=GAUSS_START
    )
    trace = jl.run(jax.random.key(1), sampler, state, GAUSS_CHECK)
    return info, trace


@functools.cache
def _gauss_run():
    return _gauss_warmup()


@pytest.mark.long
def test_gaussian_ladder_is_geometric_and_the_swap_rates_equal():
    info, trace = _gauss_run()
    z_ladder, z_rates = geometric_check(info.betas, trace.info)
    assert _passes(z_ladder, z_rates), (info.betas, z_ladder, z_rates)
    assert info.betas[0] == 1.0 and info.betas[-1] == GAUSS_BETA_MIN
    # λ(β) = 1 / (2 β) exactly in the limit of a fine ladder: Λ = log(100) / 2 = 2.30; the
    # coarse ladder's rejection tanh(Δu / 2) is below Δu / 2 by a known amount.
    spacing = -np.log(GAUSS_BETA_MIN) / (GAUSS_RUNGS - 1)
    coarse = (GAUSS_RUNGS - 1) * (1 - gauss_acceptance(spacing))
    _, mcse = pair_mcse(trace.info)
    assert abs(info.barrier - coarse) < Z_MAX * np.sqrt(np.sum(3 * mcse**2)), info.barrier


@pytest.mark.long
def test_gaussian_rungs_share_one_scale_invariant_step():
    """Every rung is N(0, I / beta): the same ε = step_size on every rung, the metric ~ I."""
    info, trace = _gauss_run()
    eps = info.step_size
    assert np.ptp(eps) / np.mean(eps) < 0.15, eps  # dual averaging's spread, 16 chains
    np.testing.assert_allclose(info.metric, 1.0, rtol=0.1)
    assert trace.num_diverged_chains == 0
    assert info.betas_history.shape == (len(info.segments), GAUSS_RUNGS)
    np.testing.assert_array_equal(info.betas_history[0], GAUSS_START)
    assert np.all(np.asarray(trace.final_state.count) == GAUSS_WARMUP + GAUSS_CHECK)


def test_gaussian_check_catches_rungs_at_equal_quantiles_of_beta(monkeypatch):
    def linear(betas, rejection):
        return np.linspace(1.0, betas[-1], betas.size)

    monkeypatch.setattr(ladder, "update_ladder", linear)
    info, trace = _gauss_warmup()
    z_ladder, z_rates = geometric_check(info.betas, trace.info)
    assert not _passes(z_ladder, z_rates), (z_ladder, z_rates)


# --------------------------------------------------------------------------- #
# A well-separated mixture from one mode
# --------------------------------------------------------------------------- #
MIXTURE = jl.targets.gaussian_mixture([0.3, 0.7], [-4.0, 4.0], [0.25, 0.25])  # barrier 128 nats
MIX_CHAINS, MIX_RUNGS, MIX_WARMUP, MIX_DRAWS = 16, 8, 1000, 2500


def _mixture_run(key, adapt_ladder=True):
    """Every ladder (every replica) starts in the minor mode, at -4."""
    x0 = jnp.full((MIX_CHAINS, 1), -4.0)
    sampler, state, info = tempering_warmup(
        jax.random.key(key),
        MIXTURE.logdensity,
        x0,
        MIX_WARMUP,
        num_rungs=MIX_RUNGS,
        adapt_ladder=adapt_ladder,
    )
    trace = jl.run(jax.random.key(key + 100), sampler, state, MIX_DRAWS)
    return info, trace


def mode_weight_check(trace):
    """``(z, rhat)``: the major mode's weight z-score (ESS-based) and R-hat of the draws."""
    x = np.asarray(trace.positions)[..., 0]
    return mean_z((x > 0).astype(np.float64), 0.7), rhat(x)


def equal_rates_z(info):
    """Per pair: (rate - mean rate) over ``sqrt(3)`` MCSEs (see :func:`geometric_check`)."""
    rates, mcse = pair_mcse(info)
    return (rates - rates.mean()) / (np.sqrt(3) * mcse)


@functools.cache
def _mixture_default():
    return _mixture_run(key=0)


@pytest.mark.slow
def test_mixture_weights_are_recovered_after_the_warmup():
    info, trace = _mixture_default()
    z, r = mode_weight_check(trace)
    assert abs(z) < Z_MAX and r < RHAT_MAX, (z, r)
    assert info.betas[-1] == ladder.DEFAULT_BETA_MIN


def _unpinned_update(betas, rejection):
    """Broken: the levels ``k Λ / K`` for rungs ``1 .. K - 1``, the hottest rung not kept."""
    u, lam = ladder.barrier_knots(betas, rejection)
    levels = lam[-1] * np.arange(1, u.size) / u.size
    return np.concatenate([[1.0], np.exp(-np.interp(levels, lam, u))])


@pytest.mark.slow
def test_mixture_check_catches_a_ladder_update_that_lets_the_hottest_rung_drift(monkeypatch):
    monkeypatch.setattr(ladder, "update_ladder", _unpinned_update)
    info, trace = _mixture_run(key=1)
    z, r = mode_weight_check(trace)
    assert not (abs(z) < Z_MAX and r < RHAT_MAX), (info.betas, z, r)


@pytest.mark.slow
def test_mixture_swap_rates_are_equalised():
    _, trace = _mixture_default()
    z = equal_rates_z(trace.info)
    assert np.all(np.abs(z) < Z_MAX), z


@pytest.mark.slow
def test_equal_rate_check_catches_acceptance_in_place_of_rejection(monkeypatch):
    """Rungs spaced by the swap *acceptance*: crowded where swaps are easy, a gap where hard."""
    real = ladder.update_ladder
    monkeypatch.setattr(ladder, "update_ladder", lambda b, r: real(b, 1.0 - r))
    _, trace = _mixture_run(key=0)
    z = equal_rates_z(trace.info)
    assert np.abs(z).max() > Z_MAX, z


@pytest.mark.slow
def test_equal_rate_check_catches_the_geometric_ladder_on_the_mixture():
    """Not a bug but the reason for the warm-up: geometric is not optimal off Gaussians."""
    _, trace = _mixture_run(key=0, adapt_ladder=False)
    z = equal_rates_z(trace.info)
    assert np.abs(z).max() > Z_MAX, z


# --------------------------------------------------------------------------- #
# Barker in the rungs, pytrees, float64
# --------------------------------------------------------------------------- #
@pytest.mark.slow  # two more compiled warm-ups (Barker on a pytree; float64)
def test_barker_rungs_and_pytree_positions():
    def logp(p):
        return -0.5 * (jnp.sum(p["a"] ** 2) + 4.0 * p["b"] ** 2)

    x0 = {"a": jnp.zeros((4, 2)), "b": jnp.zeros((4,))}
    sampler, state, info = tempering_warmup(
        jax.random.key(0), logp, x0, 100, num_rungs=3, kernel=barker.sampler
    )
    trace = jl.run(jax.random.key(1), sampler, state, 20)
    assert info.kernel == "barker" and info.metric.shape == (3,)
    assert trace.positions["a"].shape == (4, 20, 2)
    assert isinstance(state.ladder, barker.BarkerState)


@pytest.mark.slow
def test_float64_keeps_float64():
    with jax.enable_x64(True):
        x0 = jnp.zeros((2, 1), jnp.float64)
        sampler, state, _ = tempering_warmup(jax.random.key(0), gauss_logp, x0, 20, num_rungs=3)
        assert state.position.dtype == state.ladder.logdensity.dtype == jnp.float64
        trace = jl.run(jax.random.key(1), sampler, state, 2)
        assert trace.positions.dtype == jnp.float64


# --------------------------------------------------------------------------- #
# The rungs run the kernel's declaration, whatever it is called
# --------------------------------------------------------------------------- #
RUNG_BETAS = jnp.array([1.0, 0.25, 0.04])
RUNG_EPS = jnp.array([0.5, 0.4, 0.3])
RUNG_SD = jnp.array([1.0, 2.0])


@pytest.mark.parametrize(
    ("module", "per_rung"),
    [
        (mala, lambda eps, beta: eps * RUNG_SD**2 / beta),  # h = ε v / β
        (barker, lambda eps, beta: eps * RUNG_SD / jnp.sqrt(beta)),  # σ = ε sqrt(v / β)
    ],
    ids=["mala", "barker"],
)
def test_each_rung_runs_its_step_with_the_metric_widened_by_one_over_beta(module, per_rung):
    kernel = RungKernel(module.tuning, jnp.log(RUNG_BETAS), RUNG_EPS, RUNG_SD, jnp.zeros(2))
    x = jnp.array([0.3, -1.2])
    for k in range(RUNG_BETAS.size):
        logp_k = tempering.tempered(gauss_logp, RUNG_BETAS[k])
        built = kernel(logp_k, RUNG_BETAS[k])
        direct = module.sampler(logp_k, step_size=per_rung(RUNG_EPS[k], RUNG_BETAS[k]))
        key = jax.random.key(k)
        new, _ = built.step(key, built.init(x))
        expected, _ = direct.step(key, direct.init(x))
        np.testing.assert_allclose(new.position, expected.position, rtol=1e-5, atol=1e-6)
    params = rung_params(RUNG_EPS[2], RUNG_SD, RUNG_BETAS[2])
    np.testing.assert_allclose(params.metric.scale, RUNG_SD / 0.2, rtol=1e-6)


def test_a_declaration_under_another_name_warms_up_alike():
    """Nothing branches on the kernel's name: MALA's declaration renamed gives MALA's numbers."""
    renamed = mala.tuning._replace(name="my_langevin")
    x0 = jnp.zeros((2, 1))
    runs = [
        tempering_warmup(jax.random.key(0), gauss_logp, x0, 20, num_rungs=3, kernel=kernel)
        for kernel in ("mala", renamed)
    ]
    (_, state, info), (_, state_renamed, info_renamed) = runs
    assert (info.kernel, info_renamed.kernel) == ("mala", "my_langevin")
    np.testing.assert_array_equal(info.step_size, info_renamed.step_size)
    np.testing.assert_array_equal(state.ladder.position, state_renamed.ladder.position)


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
X0 = jnp.zeros((2, 1))


def warm(**kwargs):
    settings = {"positions": X0, "num_steps": 20, **kwargs}
    positions, num_steps = settings.pop("positions"), settings.pop("num_steps")
    return lambda: tempering_warmup(jax.random.key(0), gauss_logp, positions, num_steps, **settings)


CASES = [
    Case(
        "logdensity_fn not callable",
        lambda: tempering_warmup(jax.random.key(0), 1.0, X0, 20),
        TypeError,
        "logdensity_fn",
    ),
    Case("num_steps too few", warm(num_steps=10), ValueError, "num_steps"),
    Case("num_steps float", warm(num_steps=100.0), TypeError, "num_steps"),
    Case("num_rungs 1", warm(num_rungs=1), ValueError, "num_rungs"),
    Case("num_rungs float", warm(num_rungs=4.0), TypeError, "num_rungs"),
    Case("num_rungs bool", warm(num_rungs=True), TypeError, "num_rungs"),
    Case("beta_min 0", warm(beta_min=0.0), ValueError, "beta_min"),
    Case("beta_min 1", warm(beta_min=1.0), ValueError, "beta_min"),
    Case("beta_min nan", warm(beta_min=np.nan), ValueError, "beta_min"),
    Case("beta_min string", warm(beta_min="0.01"), TypeError, "beta_min"),
    Case("betas not starting at 1", warm(betas=[0.9, 0.1]), ValueError, "betas"),
    Case("betas increasing", warm(betas=[1.0, 0.1, 0.5]), ValueError, "betas"),
    Case(
        "betas and num_rungs disagree", warm(betas=[1.0, 0.1], num_rungs=3), ValueError, "num_rungs"
    ),
    Case(
        "betas and beta_min disagree", warm(betas=[1.0, 0.1], beta_min=0.01), ValueError, "beta_min"
    ),
    Case("kernel malt (tunes a trajectory)", warm(kernel=jl.malt), ValueError, "kernel"),
    Case("kernel unknown name", warm(kernel="nuts"), ValueError, "kernel"),
    Case(
        "kernel a lambda", warm(kernel=lambda f, b: jl.mala(f, step_size=0.1)), TypeError, "kernel"
    ),
    Case("target_acceptance 1", warm(target_acceptance=1.0), ValueError, "target_acceptance"),
    Case("target_acceptance string", warm(target_acceptance="0.6"), TypeError, "target_acceptance"),
    Case("preconditioner dense", warm(preconditioner="dense"), ValueError, "preconditioner"),
    Case("initial_step_size 0", warm(initial_step_size=0.0), ValueError, "initial_step_size"),
    Case("shrinkage 2", warm(shrinkage=2.0), ValueError, "shrinkage"),
    Case("swap_every 0", warm(swap_every=0), ValueError, "swap_every"),
    Case("adapt_ladder int", warm(adapt_ladder=1), TypeError, "adapt_ladder"),
    Case("positions scalar", warm(positions=jnp.float32(0.0)), ValueError, "positions"),
    Case("positions nan", warm(positions=jnp.full((2, 1), jnp.nan)), ValueError, "positions"),
    Case(
        "positions a tempering state",
        lambda: tempering_warmup(
            jax.random.key(0),
            gauss_logp,
            jax.vmap(tempering.sampler(gauss_logp, [1.0, 0.5], 0.1).init)(X0),
            20,
        ),
        TypeError,
        "positions",
    ),
    Case(
        "positions outside the support",
        lambda: tempering_warmup(jax.random.key(0), lambda x: jnp.log(x[0]), -jnp.ones((2, 1)), 20),
        ValueError,
        "initial positions",
    ),
    Case(
        "update_ladder rejection wrong length",
        lambda: ladder.update_ladder([1.0, 0.5, 0.1], [0.2]),
        ValueError,
        "rejection",
    ),
    Case(
        "update_ladder bad betas",
        lambda: ladder.update_ladder([1.0, 2.0], [0.2]),
        ValueError,
        "betas",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
