"""Parallel tempering: mode weights on multimodal targets, exactness, swap bookkeeping.

The mode-weight check: each draw is assigned to its nearest mode; the weight of
every mode must be within ``Z_MAX`` ESS-based standard errors (``mean_z`` on the
indicators) of the exact weight, and the rank R-hat of the draws across chains
below ``RHAT_MAX``. Every chain (ladder) starts at the same point, so a sampler
that cannot cross the barriers between modes fails R-hat or the weights.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, rhat, var_z

import jlangevin as jl
from jlangevin.kernels import barker, mala, tempering

RHAT_MAX = 1.01
DICE = jl.targets.dice(0.2)  # six equal modes at 1, ..., 6, sd 0.2
MIXTURE = jl.targets.gaussian_mixture([0.3, 0.7], [-4.0, 4.0], [0.5, 0.5])
QUARTIC = jl.targets.quartic()
DICE_BETAS = tempering.geometric_betas(5, 0.02)
DICE_STEP = 0.02  # MALA's h at beta = 1 (proposal sd 0.2, the modes' sd); h / beta above


def mode_weight_check(draws, modes, weights):
    """``(z, rhat)``: per-mode weight z-scores (nearest-mode indicators) and R-hat of the draws."""
    x = np.asarray(draws)[..., 0]  # (chains, draws)
    nearest = np.argmin(np.abs(x[..., None] - np.asarray(modes)), axis=-1)
    indicators = (nearest[..., None] == np.arange(len(modes))).astype(np.float64)
    return mean_z(indicators, np.asarray(weights)), rhat(x)


def _passes(z, r):
    return bool(np.all(np.abs(z) < Z_MAX) and r < RHAT_MAX)


# jl.run compiles one loop per sampler template and (chains, steps): the runs below share
# their sizes so that most tests reuse a loop; each run itself takes well under a second.
CHAINS, STEPS, DROP = 8, 2500, 300  # DROP: the first draws, left out as burn-in


def _dice_run(sampler, key, num_steps=STEPS):
    """Every chain (every replica) started at the first face."""
    trace = jl.run(jax.random.key(key), sampler, jnp.ones((CHAINS, 1)), num_steps)
    kept = trace.positions[:, DROP:]
    return trace, mode_weight_check(kept, np.arange(1.0, 7.0), np.full(6, 1 / 6))


def _dice_tempering():
    return tempering.sampler(DICE.logdensity, DICE_BETAS, DICE_STEP)


@functools.cache
def _dice_tempering_run():
    return _dice_run(_dice_tempering(), key=0)


@pytest.mark.long
def test_dice_mode_weights_are_recovered_from_one_start():
    trace, (z, r) = _dice_tempering_run()
    assert _passes(z, r), (z, r)
    rates = tempering.swap_rates(trace.info)
    assert np.all((rates > 0.3) & (rates < 1.0)), rates
    assert 0.5 < float(trace.info.acceptance_rate.mean()) < 0.99
    assert trace.num_diverged_chains == 0


def test_dice_draws_have_the_exact_mean_and_variance():
    z = _moment_z(_dice_tempering_run()[0])
    assert np.all(np.abs(z) < Z_MAX), z


def _moment_z(trace):
    kept = trace.positions[:, DROP:]
    return np.concatenate([mean_z(kept, DICE.mean), var_z(kept, DICE.mean, DICE.var)])


@pytest.mark.long
def test_dice_checks_catch_a_swap_ratio_with_the_sign_flipped(monkeypatch):
    """Both dice checks (mode weights, moments) fail when swaps favour the wrong way."""
    true_ratio = tempering.swap_log_ratio
    monkeypatch.setattr(tempering, "swap_log_ratio", lambda b, v: -true_ratio(b, v))
    trace, (z, r) = _dice_run(_dice_tempering(), key=1)
    assert not _passes(z, r), (z, r)
    moments = _moment_z(trace)
    assert np.abs(moments).max() > Z_MAX, moments


def test_dice_check_catches_plain_mala_from_the_same_start():
    """Tempering is needed: the beta = 1 kernel alone does not mix over the six faces."""
    _, (z, r) = _dice_run(jl.mala(DICE.logdensity, step_size=DICE_STEP), key=2)
    assert not _passes(z, r), (z, r)


def _mixture_run(key):
    """Barker within replicas (sigma / sqrt(beta)); ladders started at 0, between the modes."""

    def kernel(logdensity_fn, beta):
        return barker.sampler(logdensity_fn, step_size=0.5 / jnp.sqrt(beta))

    sampler = tempering.sampler(
        MIXTURE.logdensity, tempering.geometric_betas(5, 0.01), kernel=kernel
    )
    trace = jl.run(jax.random.key(key), sampler, jnp.zeros((CHAINS, 1)), STEPS)
    return trace, mode_weight_check(trace.positions[:, DROP:], [-4.0, 4.0], [0.3, 0.7])


@pytest.mark.long
def test_unequal_mixture_weights_are_recovered():
    trace, (z, r) = _mixture_run(key=0)
    assert _passes(z, r), (z, r)
    assert trace.info.replica_info.acceptance_rate.shape == (CHAINS, STEPS, 5)


@pytest.mark.long
def test_mixture_check_catches_swaps_without_the_ratio(monkeypatch):
    """Swaps always accepted: the beta = 1 replica sees every temperature's draws."""
    monkeypatch.setattr(tempering, "swap_log_ratio", lambda b, v: jnp.zeros_like(b[1:]))
    _, (z, r) = _mixture_run(key=1)
    assert not _passes(z, r), (z, r)


def _quartic_checks(key):
    """KS and moment z-scores of the beta = 1 draws on the quartic (-inf outside its walls)."""
    sampler = tempering.sampler(QUARTIC.logdensity, [1.0, 0.4, 0.15], 0.05)
    x0 = QUARTIC.sample(jax.random.key(100 + key), CHAINS)  # exact draws: no burn-in
    trace = jl.run(jax.random.key(key), sampler, x0, 4 * STEPS)
    pvalue, _ = ks_pvalue(trace.positions[..., 0], QUARTIC.marginal_cdfs[0])
    z = np.concatenate(
        [
            mean_z(trace.positions, QUARTIC.mean),
            var_z(trace.positions, QUARTIC.mean, QUARTIC.var),
        ]
    )
    return pvalue, z


@pytest.mark.slow
def test_beta_one_replica_is_exact_on_the_quartic():
    pvalue, z = _quartic_checks(key=0)
    assert pvalue > 0.01 and np.all(np.abs(z) < Z_MAX), (pvalue, z)


@pytest.mark.slow
def test_quartic_check_catches_a_swap_ratio_with_the_sign_flipped(monkeypatch):
    true_ratio = tempering.swap_log_ratio
    monkeypatch.setattr(tempering, "swap_log_ratio", lambda b, v: -true_ratio(b, v))
    pvalue, z = _quartic_checks(key=1)
    assert pvalue < 0.01 or np.abs(z).max() > Z_MAX, (pvalue, z)


def swap_probabilities(info, betas, sign=1.0):
    """The swap probability of every pair at every draw, from the replicas' log densities.

    ``replica_info.logdensity`` is each replica's tempered log density after its move,
    before the swaps: what the swap ratio is computed from.
    """
    untempered = np.asarray(info.replica_info.logdensity, np.float64) / betas
    log_alpha = sign * (betas[:-1] - betas[1:]) * np.diff(untempered, axis=-1)
    return np.exp(np.minimum(log_alpha, 0.0))


def swap_flag_z(info, prob):
    """Per pair: (rate of swaps among attempts - mean probability ``prob`` there) / its SE.

    Given the probabilities, the flags are independent Bernoulli draws (one uniform
    each), so the SE is ``sqrt(sum p (1 - p)) / n`` exactly.
    """
    attempted = np.asarray(info.swap_attempted)
    flags = np.where(attempted, np.asarray(info.swapped, np.float64), 0.0)
    prob = np.where(attempted, prob, 0.0)
    n = attempted.sum(axis=(0, 1))
    se = np.sqrt(np.sum(prob * (1 - prob), axis=(0, 1))) / n
    return (flags.sum(axis=(0, 1)) - prob.sum(axis=(0, 1))) / n / se


def test_swap_statistics_are_reported_consistently():
    info = _dice_tempering_run()[0].info
    acceptance = np.asarray(info.swap_acceptance)
    attempted, swapped = np.asarray(info.swap_attempted), np.asarray(info.swapped)
    assert acceptance.shape == swapped.shape == (CHAINS, STEPS, DICE_BETAS.size - 1)
    assert np.all((acceptance >= 0) & (acceptance <= 1))
    assert not np.any(swapped & ~attempted) and not np.any(acceptance[~attempted])
    # even pairs after steps 1, 3, ..., odd pairs after steps 2, 4, ... (every chain alike)
    pairs = jax.vmap(lambda t: tempering.swap_pairs(t, DICE_BETAS.size - 1))(jnp.arange(STEPS))
    np.testing.assert_array_equal(attempted, np.broadcast_to(pairs, attempted.shape))
    # the reported probability is the swap formula's, and the flags follow it
    exact = swap_probabilities(info, DICE_BETAS)
    np.testing.assert_allclose(acceptance[attempted], exact[attempted], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(tempering.swap_rates(info), exact.mean(axis=(0, 1), where=attempted))
    z = swap_flag_z(info, acceptance)
    assert np.all(np.abs(z) < Z_MAX), z


def test_swap_flag_check_catches_a_probability_with_the_sign_flipped():
    """The same flags against the probabilities of the flipped ratio: caught."""
    info = _dice_tempering_run()[0].info
    z = swap_flag_z(info, swap_probabilities(info, DICE_BETAS, sign=-1.0))
    assert np.abs(z).max() > Z_MAX, z


def test_swap_every_spaces_the_rounds_and_keeps_alternating():
    attempted = np.asarray(jax.vmap(lambda t: tempering.swap_pairs(t, 4, 3))(jnp.arange(12)))
    rounds = np.flatnonzero(attempted.any(axis=1))
    np.testing.assert_array_equal(rounds, [2, 5, 8, 11])  # after steps 3, 6, 9, 12
    np.testing.assert_array_equal(attempted[rounds], [[1, 0, 1, 0], [0, 1, 0, 1]] * 2)


def test_swap_moves_points_and_rescales_what_travels_with_them():
    # replicas of N(0, 1) at x = 1, 2, 3, tempered by 1, 1/2, 1/4
    betas = jnp.asarray([1.0, 0.5, 0.25])
    points = jnp.asarray([[1.0], [2.0], [3.0]])
    value, score = betas * -0.5 * points[:, 0] ** 2, betas[:, None] * -points
    ladder = mala.MALAState(points, value, score, jnp.asarray([7, 7, 7]))
    swapped = tempering.swap(ladder, betas, jnp.asarray([False, True]))
    np.testing.assert_array_equal(swapped.position, [[1.0], [3.0], [2.0]])
    np.testing.assert_allclose(swapped.logdensity, [-0.5, -0.5 * 0.5 * 9, -0.25 * 0.5 * 4])
    np.testing.assert_allclose(swapped.score, [[-1.0], [-1.5], [-0.5]])
    np.testing.assert_array_equal(swapped.count, ladder.count)  # stays with the replica


def test_state_and_info_shapes_and_the_beta_one_replica_is_the_position():
    trace, _ = _dice_tempering_run()
    state = trace.final_state
    assert state.ladder.position.shape == (CHAINS, DICE_BETAS.size, 1)
    np.testing.assert_array_equal(state.position, state.ladder.position[:, 0])
    np.testing.assert_array_equal(state.logdensity, state.ladder.logdensity[:, 0])
    np.testing.assert_array_equal(trace.positions[:, -1], state.position)
    assert trace.info.diverged.shape == (CHAINS, STEPS)
    assert np.all(np.asarray(state.count) == STEPS)
    assert trace.positions.dtype == jnp.float32  # float64 betas do not promote
    assert trace.info.swap_acceptance.dtype == jnp.float32


@pytest.mark.long
def test_chunked_and_resumed_runs_are_bit_identical():
    whole, _ = _dice_tempering_run()
    x0, half = jnp.ones((CHAINS, 1)), STEPS // 2
    chunked = jl.run(jax.random.key(0), _dice_tempering(), x0, STEPS, chunk_size=half)
    first = jl.run(jax.random.key(0), _dice_tempering(), x0, half)  # the chunks' loops again
    rest = jl.run(jax.random.key(0), _dice_tempering(), first.final_state, half)
    np.testing.assert_array_equal(whole.positions, chunked.positions)
    np.testing.assert_array_equal(whole.info.swapped, chunked.info.swapped)
    np.testing.assert_array_equal(whole.positions[:, half:], rest.positions)
    for a, b in zip(
        jax.tree.leaves(whole.final_state), jax.tree.leaves(rest.final_state), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def _few_steps(logdensity_fn, betas, step_size, position, num_steps):
    """``num_steps`` steps from ``position`` in one small jitted program (no ``jl.run`` loop)."""
    sampler = tempering.sampler(logdensity_fn, betas, step_size)

    @jax.jit
    def run(position):
        keys = jax.random.split(jax.random.key(0), num_steps)
        return jax.lax.scan(lambda s, k: sampler.step(k, s), sampler.init(position), keys)

    return run(position)


def test_a_divergence_in_a_hot_replica_is_reported():
    # log p is NaN beyond 3: the hot replica's long proposals (sd 2) from 2.9 get there.
    logp = lambda x: jnp.where(x[0] > 3.0, jnp.nan, -0.5 * (x[0] - 2.9) ** 2)  # noqa: E731
    state, info = _few_steps(logp, [1.0, 0.01], 0.02, jnp.full((1,), 2.9), 6)
    replicas = np.asarray(info.replica_info.diverged)
    assert replicas[:, 1].any()
    np.testing.assert_array_equal(info.diverged, replicas.any(axis=1))
    assert np.isfinite(np.asarray(state.ladder.position)).all()
    assert np.all(np.asarray(state.ladder.position) <= 3.0)


def test_float64_keeps_float64():
    with jax.enable_x64(True):
        x0 = jnp.ones((1,), jnp.float64)
        state, info = _few_steps(DICE.logdensity, DICE_BETAS, DICE_STEP, x0, 2)
    assert state.position.dtype == state.ladder.logdensity.dtype == jnp.float64
    assert info.swap_acceptance.dtype == info.replica_info.acceptance_rate.dtype == jnp.float64


def test_geometric_betas():
    betas = tempering.geometric_betas(5, 1e-4)
    assert betas[0] == 1.0 and betas[-1] == 1e-4
    np.testing.assert_allclose(betas[1:] / betas[:-1], 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("key", [10, 11, 12])
def test_dice_mode_weights_at_other_seeds(key):
    _, (z, r) = _dice_run(_dice_tempering(), key=key, num_steps=10_000)
    assert _passes(z, r), (z, r)
