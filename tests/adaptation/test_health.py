"""Chain health: the verdicts of :func:`chain_health`, and restarts inside the warm-up.

The warm-up claims run on the anisotropic Gaussian of ``test_warmup.py`` (5-D,
scales 0.1 to 10) with two traps of negligible mass: a needle far out (weight
``exp(-50)``), where a chain rejects every move sized for the others (stuck),
and a spike (weight 1e-4, scales 1e-9 of the target's), where a chain's log
density is far *above* the others' (collapsed). Chains started in them are
restarted before the first metric (at the first checks: reported, not
warned about). The kernel there is MALA jammed in steps 100 to 149 wherever its
first coordinate lies beyond one standard deviation (it rejects every move):
chains that wander there then cannot move, and are restarted and warned about,
in one warning that lists every reason. The run that follows (plain MALA) has
R-hat < 1.01 and the exact moments within 4 MCSE; without restarts the same
check fails.
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin.adaptation import chain_health, health
from jlangevin.kernels import mala

# --------------------------------------------------------------------------- #
# The verdicts, one by one: each just past its threshold, and just inside it
# --------------------------------------------------------------------------- #
ACCEPT = jnp.asarray([0.6, 0.55, 0.7, 0.5, 0.6, 0.65, 0.6, 0.58])
#: Close log densities: the robust spread is at its floor, 1 nat, so the lines are
#: 10 nats from the median (-10.1 with one chain far below, -10.0 with one far above).
LOGDENSITY = jnp.asarray([-10.0, -10.3, -9.8, -10.1, -10.4, -9.9, -10.0, -10.2])


def _flagged(verdicts, name):
    return np.flatnonzero(np.asarray(getattr(verdicts, name))).tolist()


def test_stuck_chains_are_found_even_when_most_accept_little():
    accept = ACCEPT.at[1].set(0.0).at[6].set(0.01)
    verdicts = chain_health(accept, LOGDENSITY)
    assert _flagged(verdicts, "stuck") == [1, 6] and _flagged(verdicts, "bad") == [1, 6]
    # Over a quarter (3 of 8) accepting nothing are still stuck chains ...
    three = chain_health(ACCEPT.at[:3].set(0.0), LOGDENSITY)
    assert _flagged(three, "stuck") == [0, 1, 2]
    # ... but when every chain accepts little, the step is the problem: nobody is stuck.
    assert not np.any(chain_health(jnp.full(8, 0.02), LOGDENSITY).stuck)
    # A tenth of the upper quartile is the line (q75 = 0.6 here: 0.06 > 0.05, so 0.05).
    assert not np.any(chain_health(ACCEPT.at[1].set(0.051), LOGDENSITY).bad)
    assert _flagged(chain_health(ACCEPT.at[1].set(0.049), LOGDENSITY), "stuck") == [1]


def test_low_chains_are_far_below_or_not_finite():
    low = chain_health(ACCEPT, LOGDENSITY.at[3].set(-1e4).at[5].set(jnp.nan))
    assert _flagged(low, "low") == [3, 5] and not np.any(low.high | low.stuck)
    assert _flagged(chain_health(ACCEPT, LOGDENSITY.at[3].set(-20.6)), "low") == [3]
    assert not np.any(chain_health(ACCEPT, LOGDENSITY.at[3].set(-19.6)).bad)
    # A chain stuck far below is reported stuck.
    both = chain_health(ACCEPT.at[3].set(0.0), LOGDENSITY.at[3].set(-1e4))
    assert _flagged(both, "stuck") == [3] and not np.any(both.low)


def test_high_chains_are_far_above_even_when_they_do_not_move():
    high = chain_health(ACCEPT, LOGDENSITY.at[2].set(900.0))
    assert _flagged(high, "high") == [2] and not np.any(high.low | high.stuck)
    assert _flagged(chain_health(ACCEPT, LOGDENSITY.at[2].set(0.5)), "high") == [2]
    assert not np.any(chain_health(ACCEPT, LOGDENSITY.at[2].set(-0.5)).bad)
    # A chain in a spike rejects the moves sized for the others: high, not stuck.
    spike = chain_health(ACCEPT.at[2].set(0.0), LOGDENSITY.at[2].set(900.0))
    assert _flagged(spike, "high") == [2] and not np.any(spike.stuck)


def test_scale_flags_a_spread_far_off_in_either_direction():
    spread = jnp.asarray([3.0, 2.5, 3.5, 3.2, 2.8, 3.0, 3.1, 2.9])
    # log spreads: MAD below the floor 0.5, so e^(±5) ~ x148 either way is the line.
    narrow = chain_health(ACCEPT, LOGDENSITY, spread.at[4].set(3e-8))
    wide = chain_health(ACCEPT, LOGDENSITY, spread.at[0].set(3e4))
    assert _flagged(narrow, "scale") == [4] and _flagged(wide, "scale") == [0]
    inside = spread.at[4].set(3.0 / 100).at[0].set(3.0 * 100)
    assert not np.any(chain_health(ACCEPT, LOGDENSITY, inside).bad)
    assert not np.any(chain_health(ACCEPT, LOGDENSITY).scale)  # no spread, no verdict
    # A chain already named for its log density is not named again for its spread.
    both = chain_health(ACCEPT, LOGDENSITY.at[4].set(900.0), spread.at[4].set(3e-8))
    assert _flagged(both, "high") == [4] and not np.any(both.scale)


def test_restart_moves_bad_chains_onto_healthy_ones_and_keeps_their_counts():
    class Chains(NamedTuple):
        position: jax.Array
        count: jax.Array

    states = Chains(jnp.arange(6.0), jnp.arange(10, 16))
    bad = jnp.asarray([False, True, False, True, True, False])
    moved = health.restart_chains(jax.random.key(0), states, bad)
    assert set(np.asarray(moved.position)[[1, 3, 4]].tolist()) <= {0.0, 2.0, 5.0}
    kept = np.asarray([0, 2, 5])
    np.testing.assert_array_equal(moved.position[kept], states.position[kept])
    np.testing.assert_array_equal(moved.count, states.count)
    # No healthy chain: nothing moves.
    same = health.restart_chains(jax.random.key(0), states, jnp.ones(6, bool))
    np.testing.assert_array_equal(same.position, states.position)


# --------------------------------------------------------------------------- #
# Restarts in the warm-up
# --------------------------------------------------------------------------- #
DIM, CHAINS, WARMUP, DRAWS = 5, 32, 500, 1000
SD = np.geomspace(0.1, 10.0, DIM).astype(np.float32)
FAR, NEEDLE_SD = 50.0 * SD, 0.01 * SD  # weight exp(-50): no moment sees it
SPIKE, SPIKE_SD = 0.5 * SD, 1e-9 * SD  # weight 1e-4: no moment sees it either


def _component(x, centre, sd, log_weight):
    return log_weight + jnp.sum(-0.5 * ((x - centre) / sd) ** 2 - jnp.log(sd))


def logp_traps(x):
    """N(0, diag(SD²)) with a far needle (chains get stuck) and a spike (chains collapse)."""
    return jax.nn.logsumexp(
        jnp.stack(
            [
                _component(x, 0.0, SD, 0.0),
                _component(x, FAR, NEEDLE_SD, -50.0),
                _component(x, SPIKE, SPIKE_SD, float(np.log(1e-4))),
            ]
        )
    )


def _trapped_start():
    """Chain 0 in the spike, chains 1-4 in the needle, the others three times over-dispersed."""
    x0 = 3.0 * SD * jax.random.normal(jax.random.key(0), (CHAINS, DIM))
    return x0.at[0].set(SPIKE).at[1:5].set(FAR)


#: Steps 100 to 149 (the second slow window): a chain beyond 1 sd in x[0] cannot move.
JAM_FROM, JAM_UNTIL, JAM_BEYOND = 100, 150, 1.0


def _jammed_step(key, state, logdensity_fn, params, *, score_fn=None, bounds=None):
    """MALA, but in steps ``JAM_FROM .. JAM_UNTIL - 1`` a chain far out in x[0] cannot move."""
    new, info, end = mala.tuning.step(
        key, state, logdensity_fn, params, score_fn=score_fn, bounds=bounds
    )
    when = (state.count >= JAM_FROM) & (state.count < JAM_UNTIL)
    jam = when & (state.position[0] > JAM_BEYOND * SD[0])
    new = jax.tree.map(lambda a, b: jnp.where(jam, a, b), state._replace(count=new.count), new)
    info = info._replace(
        acceptance_rate=jnp.where(jam, 0.0, info.acceptance_rate),
        is_accepted=info.is_accepted & ~jam,
    )
    return new, info, end


#: MALA's declaration with the jammed step (its sampler, for the run after, is plain MALA).
jammed_mala = mala.tuning._replace(step=_jammed_step)


def _warmup(**options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler, state, info = jl.adaptation.warmup(
            jax.random.key(1),
            jammed_mala,
            logp_traps,
            _trapped_start(),
            WARMUP,
            preconditioner="diagonal",
            **options,
        )
    ours = [w for w in caught if issubclass(w.category, jl.SamplingWarning)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)  # the companion's stuck chains
        trace = jl.run(jax.random.key(2), sampler, state, DRAWS)
    return trace, info, ours


def _check(trace):
    """``(passed, numbers)``: R-hat < 1.01, moments within Z_MAX MCSE, acceptance +- 0.05."""
    x = np.asarray(trace.positions, np.float64)
    numbers = {
        "rhat": rhat(x),
        "z_mean": float(np.max(np.abs(mean_z(x, np.zeros(DIM))))),
        "z_var": float(np.max(np.abs(var_z(x, np.zeros(DIM), SD.astype(np.float64) ** 2)))),
        "acceptance": float(np.mean(trace.info.acceptance_rate)),
    }
    passed = (
        numbers["rhat"] < 1.01
        and numbers["z_mean"] < Z_MAX
        and numbers["z_var"] < Z_MAX
        and abs(numbers["acceptance"] - 0.574) < 0.05
    )
    return passed, numbers


@pytest.fixture(scope="module")
def restarted():
    return _warmup()


@pytest.mark.long
def test_trapped_chains_are_restarted_and_the_run_is_exact(restarted):
    trace, info, _ = restarted
    restarts = np.asarray(info.restarted)
    # The chain in the spike is flagged high (collapsed), those in the needle stuck,
    # all at the first check.
    assert info.num_high >= 1 and restarts[0] >= 1
    assert info.num_stuck >= 4 and np.all(restarts[1:5] >= 1)
    assert info.num_restarted_at_start >= 5
    assert info.num_restarted == int(restarts.sum())
    assert info.num_restarted == info.num_stuck + info.num_outliers
    assert info.check_steps[0] == info.windows[0][0] and info.check_steps[-1] == WARMUP
    passed, numbers = _check(trace)
    assert passed, numbers


def test_chains_that_cannot_move_later_are_restarted_and_warned_once(restarted):
    _, info, caught = restarted
    # The jam: chains stuck after the initial window, restarted (and counted) too.
    late = info.num_restarted - info.num_restarted_at_start
    assert late >= 1 and info.num_stuck >= 4 + late
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert f"restarted {info.num_restarted} chain(s) of {CHAINS}" in message
    assert f"{late} after the first metric" in message
    # Every reason is listed: the early ones too.
    assert f"{info.num_stuck} stuck" in message
    assert f"{info.num_high} far above the others' log density (collapsed)" in message
    assert info.notes and info.notes[0] in message


def test_restarts_at_the_first_check_alone_are_not_warned_about():
    """Plain MALA, the same traps: every restart at the end of the initial window."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, info = jl.adaptation.warmup(
            jax.random.key(1), jl.mala, logp_traps, _trapped_start(), 100, preconditioner="diagonal"
        )
    assert info.num_restarted == info.num_restarted_at_start >= 5
    assert not [w for w in caught if issubclass(w.category, jl.SamplingWarning)]
    assert f"({info.num_restarted} before the first metric)" in str(info)


def test_report_is_short_and_names_what_was_tuned(restarted):
    _, info, _ = restarted
    report = str(info)
    lines = report.splitlines()
    assert len(lines) < 15, report
    assert "mala" in lines[0] and f"{CHAINS} chains x {WARMUP} steps" in lines[0]
    assert f"step size {float(info.step_size):.3g}" in report
    assert "metric diagonal" in report
    assert f"restarted {info.num_restarted} chain(s)" in report and "stuck" in report


def test_without_restarts_trapped_chains_fail_the_check():
    trace, info, caught = _warmup(restart_chains=False)
    assert info.num_restarted == 0 and not np.any(np.asarray(info.restarted))
    assert info.check_steps == () and not caught
    passed, numbers = _check(trace)
    assert not passed, numbers


# --------------------------------------------------------------------------- #
# A real posterior: a radon-like random-effects model in float32
# --------------------------------------------------------------------------- #
# A NumPyro varying-intercept regression (12 groups, 300 observations simulated
# from a fixed seed, centred parametrisation), started as NumPyro's
# ``init_to_uniform`` does: every unconstrained coordinate uniform on (-2, 2).
# Some chains then start with ``log sigma_y`` near -2 and a wildly wrong
# intercept: they reject every proposal at the step size that suits the others.
# Pooled dual averaging would serve them by shrinking the step for every chain,
# and the run that follows would not have mixed; the warm-up restarts them.
NUM_GROUPS, NUM_OBS = 12, 300
RADON_WARMUP, RADON_DRAWS = 1000, 1000


def _radon_model():
    numpyro = pytest.importorskip("numpyro")
    dist = pytest.importorskip("numpyro.distributions")

    def radon(group, floor, num_groups, y=None):
        mu_a = numpyro.sample("mu_a", dist.Normal(0.0, 10.0))
        sigma_a = numpyro.sample("sigma_a", dist.HalfCauchy(5.0))
        with numpyro.plate("groups", num_groups):
            a = numpyro.sample("a", dist.Normal(mu_a, sigma_a))
        b = numpyro.sample("b", dist.Normal(0.0, 10.0))
        sigma_y = numpyro.sample("sigma_y", dist.HalfCauchy(5.0))
        with numpyro.plate("obs", len(floor)):
            numpyro.sample("y", dist.Normal(a[group] + b * floor, sigma_y), obs=y)

    rng = np.random.default_rng(0)
    group = rng.integers(0, NUM_GROUPS, NUM_OBS)
    floor = rng.integers(0, 2, NUM_OBS).astype(np.float32)
    intercepts = 1.5 + 0.3 * rng.normal(size=NUM_GROUPS)
    y = intercepts[group] - 0.7 * floor + 0.75 * rng.normal(size=NUM_OBS)
    return jl.from_numpyro(
        radon, jnp.asarray(group), jnp.asarray(floor), NUM_GROUPS, y=jnp.asarray(y, jnp.float32)
    )


@pytest.fixture(scope="module")
def radon_model():
    return _radon_model()


def _uniform_init(model, num_chains):
    """NumPyro's init_to_uniform: U(-2, 2) on every unconstrained coordinate."""
    shapes = model.position_shapes
    keys = jax.random.split(jax.random.key(0), len(shapes))
    return {
        name: jax.random.uniform(k, (num_chains, *s.shape), s.dtype, -2.0, 2.0)
        for k, (name, s) in zip(keys, shapes.items(), strict=True)
    }


def _radon(model, num_chains, preconditioner, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler, state, info = jl.adaptation.warmup(
            jax.random.key(1),
            jl.mala,
            model.logdensity_fn,
            _uniform_init(model, num_chains),
            RADON_WARMUP,
            preconditioner=preconditioner,
            **options,
        )
    restart_warnings = [w for w in caught if "restarted" in str(w.message)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        trace = jl.run(jax.random.key(2), sampler, state, RADON_DRAWS)
    rhat = jl.diagnostics.rhat(trace)
    return (
        state,
        info,
        restart_warnings,
        trace,
        max(float(np.max(v)) for v in jax.tree.leaves(rhat)),
    )


def _check_healthy(info, trace, rhat):
    assert np.isfinite(float(info.step_size)) and float(info.step_size) > 0
    assert np.all(np.isfinite(np.asarray(info.preconditioner)))
    accept = float(np.mean(np.asarray(trace.info.acceptance_rate)))
    assert abs(accept - 0.574) < 0.07, accept
    assert trace.num_stuck_chains == 0
    assert rhat < 1.05, rhat


@pytest.mark.slow  # the 128-chain reproduction and its broken companion run in CI (`long`)
@pytest.mark.parametrize("preconditioner", ["diagonal", "dense"])
def test_radon_like_8_chains_float32(radon_model, preconditioner):
    state, info, _, trace, rhat = _radon(radon_model, 8, preconditioner)
    assert state.position["a"].dtype == jnp.float32
    assert info.chain_acceptance_rate.shape == (8,)
    assert info.window_acceptance_rate.shape == (len(info.check_steps), 8)
    _check_healthy(info, trace, rhat)


@pytest.mark.long
def test_radon_like_128_chains_restarts_stuck_chains(radon_model):
    _, info, caught, trace, rhat = _radon(radon_model, 128, "diagonal")
    # Chains that started with a tiny sigma_y accept nothing at first: restarted, once warned.
    assert info.num_stuck > 0 and info.num_restarted == info.num_stuck + info.num_outliers
    assert int(np.sum(info.restarted)) == info.num_restarted
    # Warned once when any restart came after the initial window, else only reported.
    late = info.num_restarted > info.num_restarted_at_start
    assert len(caught) == int(late), [str(w.message) for w in caught]
    if late:
        assert f"restarted {info.num_restarted} chain" in str(caught[0].message)
    assert f"restarted {info.num_restarted} chain(s)" in str(info)
    assert float(np.min(info.chain_acceptance_rate)) > 0.05
    _check_healthy(info, trace, rhat)


@pytest.mark.long
def test_radon_like_128_chains_without_restarts_is_broken(radon_model):
    # Broken companion: the warm-up without restarts.
    _, info, caught, trace, rhat = _radon(radon_model, 128, "diagonal", restart_chains=False)
    assert info.num_restarted == 0 and not caught
    assert float(np.min(info.chain_acceptance_rate)) < 0.01  # some chains never moved
    assert trace.num_stuck_chains > 0 and rhat > 1.5, (trace.num_stuck_chains, rhat)


@pytest.mark.slow
def test_radon_like_128_chains_dense(radon_model):
    _, info, _, trace, rhat = _radon(radon_model, 128, "dense")
    _check_healthy(info, trace, rhat)
