"""Faults that used to pass silently are counted, and numbers of every kind are accepted.

Each fault (a step size a schedule turns non-positive mid-run, a chain walking
into a region where its log density or score is NaN, a point with an infinite
score) is counted in ``info.diverged`` at every step it happens, and the chain
never moves there; each check has a companion showing that it can fail (the
previous rule, or the check switched off). Then: numpy and JAX scalars are
numbers and lists are arrays, wherever the kernels and schedules take them.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin import schedules
from jlangevin.kernels import _move, mala, sgld

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
NOISY_SCORE = lambda x, s: -x / (1.0 + s**2)  # noqa: E731
KEY = jax.random.key(0)


# ------------------------------------------------------------------------------------
# Faults that used to pass silently are counted, and the chain never moves there
# ------------------------------------------------------------------------------------
def _assert_counted_and_outside(trace, inside):
    """Diverged steps counted in every chain, and no draw in the region ``inside``."""
    x = np.asarray(trace.positions)
    assert np.isfinite(x).all()
    assert not inside(x).any(), f"{inside(x).mean():.0%} of the draws lie in the bad region"
    assert np.all(np.asarray(trace.diverged) > 0), trace.diverged


def _inside_nan_region(x):
    return x[..., 0] > 1.0


# log p is NaN beyond x = 1; its gradient too. ULA/SGLD with a large step reach there fast.
NAN_BEYOND_ONE = lambda x: jnp.where(x[0] > 1.0, jnp.nan, -0.5 * x[0] ** 2)  # noqa: E731
NAN_SCORE_BEYOND_ONE = lambda x: jnp.where(x > 1.0, jnp.nan, -x)  # noqa: E731


@pytest.mark.parametrize(
    "make",
    [
        lambda: jl.sgld(NAN_BEYOND_ONE, step_size=0.5),
        lambda: jl.sgld(score_fn=NAN_SCORE_BEYOND_ONE, step_size=0.5),
        lambda: jl.sgld(NAN_BEYOND_ONE, step_size=0.1, preconditioner=jl.RMSProp()),
        lambda: jl.ula(NAN_BEYOND_ONE, step_size=0.5),
        lambda: jl.ula(score_fn=NAN_SCORE_BEYOND_ONE, step_size=0.5),
        lambda: jl.mala(NAN_BEYOND_ONE, step_size=1.0),
    ],
    ids=["sgld-logp", "sgld-score", "psgld-logp", "ula-logp", "ula-score", "mala-logp"],
)
def test_a_nan_region_is_never_entered_and_every_refusal_is_counted(make):
    # Start at 0.5 (pSGLD's first steps from a zero gradient are huge: G = 1 / eps).
    trace = jl.run(KEY, make(), jnp.full((4, 1), 0.5), 300)
    _assert_counted_and_outside(trace, _inside_nan_region)
    # Not frozen: the chains keep moving below the region.
    assert np.all(np.asarray(trace.info.diverged).mean(axis=1) < 0.5)
    assert len(np.unique(np.asarray(trace.positions))) > 4 * 150


def test_the_region_check_catches_a_chain_that_ignores_the_log_density():
    """Companion: SGLD moving with a finite score alone walks into the region unseen."""
    trace = jl.run(KEY, jl.sgld(score_fn=lambda x: -x, step_size=0.5), jnp.full((4, 1), 0.5), 300)
    with pytest.raises(AssertionError, match="bad region"):
        _assert_counted_and_outside(trace, _inside_nan_region)


def _previous_sgld_rule(estimator, step_size):
    """SGLD as it was: the estimate drawn at the current point, so only it is checked."""

    def step(key, state):
        x = state.position
        value, score = estimator(None, x)
        noise = jax.random.normal(key, x.shape)
        moved = x + step_size * score + jnp.sqrt(2 * step_size) * noise
        ok = jnp.all(jnp.isfinite(moved)) & jnp.all(jnp.isfinite(score))
        return sgld.SGLDState(jnp.where(ok, moved, x), value, score, state.count + 1), {
            "diverged": ~ok
        }

    return jl.Sampler(init=lambda x: sgld.init(x, estimator), step=step)


def test_the_region_check_catches_the_previous_sgld_rule():
    """Companion: checking the current point only, SGLD steps into the NaN region and stays."""
    sampler = _previous_sgld_rule(jl.gradients.full(score_fn=NAN_SCORE_BEYOND_ONE), 0.5)
    trace = jl.run(KEY, sampler, jnp.full((4, 1), 0.5), 300)
    with pytest.raises(AssertionError, match="bad region"):
        _assert_counted_and_outside(trace, _inside_nan_region)


def test_annealed_particles_never_enter_a_nan_score_region():
    score = lambda x, s: jnp.where(x > 1.0, jnp.nan, -x / (1.0 + s**2))  # noqa: E731
    samples, info = jl.annealed_langevin(score, [1.0, 0.5], 0.3, 50, denoise=False)(
        KEY, jnp.zeros((64, 1))
    )
    assert np.all(np.asarray(samples) <= 1.0)
    assert np.all(np.asarray(info.diverged) > 0)


SCHEDULE_TURNS_AT = 150  # after the construction check's counts 0..100


def _turning_schedule(t, late_step):
    return jnp.where(t < SCHEDULE_TURNS_AT, 0.1, late_step)


def _schedule_turning_to(late_step):
    """``t -> 0.1``, then ``late_step`` from SCHEDULE_TURNS_AT on.

    The late step is an array argument of one module-level function: ``jl.run`` then
    compiles one loop per kernel for all the late steps (a fresh lambda each would
    compile its own).
    """
    return jax.tree_util.Partial(_turning_schedule, late_step=jnp.asarray(late_step, jnp.float32))


@pytest.mark.parametrize("late_step", [-0.1, 0.0, np.nan, np.inf])
@pytest.mark.parametrize("kernel", ["ula", "mala", "sgld"])
def test_a_schedule_turning_bad_late_is_counted_every_step(kernel, late_step):
    schedule = _schedule_turning_to(late_step)
    sampler = {"ula": jl.ula, "mala": jl.mala, "sgld": jl.sgld}[kernel](LOGP, step_size=schedule)
    trace = jl.run(KEY, sampler, jnp.zeros((3, 2)), 200)
    np.testing.assert_array_equal(trace.diverged, 200 - SCHEDULE_TURNS_AT)
    x = np.asarray(trace.positions)
    assert np.isfinite(x).all()
    # From the first bad step on, the chain stays where the last good step left it.
    np.testing.assert_array_equal(x[:, SCHEDULE_TURNS_AT:], x[:, SCHEDULE_TURNS_AT - 1 : -1])


def test_a_zero_step_is_counted_only_by_the_step_check(monkeypatch):
    """Companion: without the step check, a schedule that turns 0 freezes chains silently."""
    monkeypatch.setattr(_move, "steps_ok", lambda steps: jnp.asarray(True))
    schedule = _schedule_turning_to(0.0)
    trace = jl.run(KEY, jl.ula(LOGP, step_size=schedule), jnp.zeros((3, 2)), 200)
    np.testing.assert_array_equal(trace.diverged, 0)


def test_mala_at_a_point_with_minus_inf_score_counts_every_step():
    # A state built by hand (or by a traced init) at a point whose score is -inf.
    state = mala.MALAState(jnp.ones(2), jnp.asarray(-1.0), jnp.full(2, -jnp.inf), jnp.int32(0))
    step = jax.jit(lambda k, s: mala.step(k, s, LOGP, 0.5))
    for t in range(5):
        state, info = step(jax.random.fold_in(KEY, t), state)
        assert bool(info.diverged) and not bool(info.is_accepted)
        np.testing.assert_array_equal(state.position, jnp.ones(2))


def test_mala_non_finite_proposal_inside_bounds_is_counted():
    # A NaN score at x makes a NaN proposal, which is "outside" no box: it diverged.
    state = mala.MALAState(jnp.zeros(2), jnp.asarray(0.0), jnp.full(2, jnp.nan), jnp.int32(0))
    # Jitted: one compiled program instead of one per primitive run eagerly.
    _, info = jax.jit(lambda k, s: mala.step(k, s, LOGP, 0.5, bounds=(-1.0, 1.0)))(KEY, state)
    assert bool(info.diverged) and not bool(info.is_accepted)


def test_an_ordinary_rejection_outside_the_support_is_not_a_divergence():
    target = jl.targets.quartic()
    trace = jl.run(KEY, jl.mala(target.logdensity, step_size=0.5), jnp.full((4, 1), 0.4), 200)
    np.testing.assert_array_equal(trace.diverged, 0)
    assert not np.asarray(trace.info.is_accepted).all()


# ------------------------------------------------------------------------------------
# numpy / JAX scalars are numbers, lists are arrays
# ------------------------------------------------------------------------------------
ACCEPTED = {
    "ula numpy step and clip": lambda: jl.ula(
        LOGP, step_size=np.float32(0.1), score_clip=jnp.float32(2.0)
    ),
    "ula list step": lambda: jl.ula(LOGP, step_size=[0.1, 0.2]),
    "ula integer step": lambda: jl.ula(LOGP, step_size=np.int64(1)),
    "ula list bounds": lambda: jl.ula(LOGP, 0.1, bounds=([-1.0, -2.0], [1.0, 2.0])),
    "ula one-sided bounds": lambda: jl.ula(LOGP, 0.1, bounds=(-np.inf, jnp.float32(3.0))),
    "mala jax step": lambda: jl.mala(LOGP, step_size=jnp.asarray(0.3)),
    "mala list step": lambda: jl.mala(LOGP, step_size=[0.3, 0.2], score_clip=[1.0, 2.0]),
    "sgld numpy temperature": lambda: jl.sgld(LOGP, 0.1, temperature=np.float64(0.5)),
    "psgld numpy settings": lambda: jl.sgld(
        LOGP,
        jnp.float32(1e-3),
        preconditioner=jl.RMSProp(np.float32(0.99), jnp.float32(1e-5), np.int64(10)),
    ),
    "sgld schedule from numpy": lambda: jl.sgld(
        LOGP, schedules.polynomial(np.float32(0.1), jnp.float32(1.0), np.float64(0.55))
    ),
}


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_numpy_and_jax_numbers_and_lists_are_accepted(name):
    sampler = ACCEPTED[name]()
    trace = jl.run(KEY, sampler, jnp.full((2, 2), 0.5), 5)
    assert np.isfinite(np.asarray(trace.positions)).all()
    np.testing.assert_array_equal(trace.diverged, 0)


def test_annealed_accepts_numpy_and_jax_numbers():
    sampler = jl.annealed_langevin(
        NOISY_SCORE, jnp.asarray([1.0, 0.5]), jnp.float32(0.01), np.int64(5), denoise=np.bool_(1)
    )
    samples, info = sampler(KEY, jnp.zeros((3, 2)))
    assert samples.shape == (3, 2) and info.diverged.dtype == jnp.int32
    again = jl.annealed_langevin(NOISY_SCORE, [1.0, 0.5], 0.01, jnp.int32(5))(
        KEY, jnp.zeros((3, 2))
    )
    np.testing.assert_array_equal(samples, again[0])


def test_schedules_accept_numpy_and_jax_numbers():
    np.testing.assert_allclose(schedules.constant(np.float32(0.3))(4), 0.3, rtol=1e-6)
    sched = schedules.cyclical_cosine(jnp.float32(0.1), jnp.int32(100), np.int64(4))
    np.testing.assert_allclose(sched(0), 0.1, rtol=1e-6)
    np.testing.assert_allclose(schedules.geometric(1.0, np.float64(0.01), np.int32(10))(50), 0.01)
