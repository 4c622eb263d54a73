"""The driver: counts, layouts, chunking/resume/jit/vmap equivalence, storage modes."""

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX

import jlangevin as jl
import jlangevin.keys as keys_module
from jlangevin.keys import step_keys
from jlangevin.run import SamplingWarning, chain_keys_for

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
SAMPLERS = {
    "ula": lambda: jl.ula(LOGP, step_size=0.1),
    "mala": lambda: jl.mala(LOGP, step_size=0.5),
    "sgld": lambda: jl.sgld(LOGP, step_size=0.1),
}


# Compilations are the cost of this file: the tests share a few run layouts, so that
# ``jl.run``'s compiled loops (cached on the sampler's functions and static settings,
# the layout of the chains and the steps of each chunk) serve several tests. Most runs
# are 3 chains in 2-D; "30 steps after 7 of burn-in, every 3rd kept" and its chunked
# forms, the same without thinning, and 20 steps from the start.
X0 = jnp.zeros((3, 2))
STEPS, BURNIN, THIN = 30, 7, 3


def _tree_equal(a, b):
    chex.assert_trees_all_equal(a, b)


def test_counts_and_layout():
    trace = jl.run(jax.random.key(0), SAMPLERS["mala"](), X0, STEPS, burnin=BURNIN, thin=THIN)
    assert trace.positions.shape == (3, 10, 2)
    assert trace.info.acceptance_rate.shape == (3, 10)
    assert trace.final_state.position.shape == (3, 2)
    np.testing.assert_array_equal(trace.final_state.count, 37)
    np.testing.assert_array_equal(trace.diverged, 0)
    assert trace.num_chains == 3


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_thin_keeps_every_thin_th_state(name):
    sampler = SAMPLERS[name]()
    full = jl.run(jax.random.key(1), sampler, X0, STEPS, burnin=BURNIN)
    thinned = jl.run(jax.random.key(1), sampler, X0, STEPS, burnin=BURNIN, thin=THIN)
    np.testing.assert_array_equal(thinned.positions, full.positions[:, 2::3])


# MALA here (burn-in, thinning, chunks of one draw and uneven chunks); every kernel is
# chunked and resumed in tests/kernels/test_contract_all.py, so ULA and SGLD are slow-only.
@pytest.mark.long
@pytest.mark.parametrize(
    "name",
    [
        "mala",
        pytest.param("ula", marks=pytest.mark.slow),
        pytest.param("sgld", marks=pytest.mark.slow),
    ],
)
def test_chunked_runs_are_bit_identical(name):
    sampler = SAMPLERS[name]()
    x0 = jnp.linspace(-1, 1, 6).reshape(3, 2)
    one = jl.run(jax.random.key(2), sampler, x0, STEPS, burnin=BURNIN, thin=THIN)
    for chunk in (1, 4):  # one draw per call; uneven chunks with a remainder
        chunked = jl.run(
            jax.random.key(2), sampler, x0, STEPS, burnin=BURNIN, thin=THIN, chunk_size=chunk
        )
        _tree_equal(one.positions, chunked.positions)
        _tree_equal(one.info, chunked.info)
        _tree_equal(one.final_state, chunked.final_state)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_resume_continues_the_same_chains(name):
    sampler = SAMPLERS[name]()
    whole = jl.run(jax.random.key(3), sampler, X0, STEPS, burnin=BURNIN)
    first = jl.run(jax.random.key(3), sampler, X0, 10, burnin=BURNIN)
    second = jl.run(jax.random.key(3), sampler, first.final_state, STEPS - 10)
    resumed = np.concatenate([first.positions, second.positions], axis=1)
    np.testing.assert_array_equal(whole.positions, resumed)


def test_run_equals_a_hand_written_jit_vmap_scan():
    sampler = SAMPLERS["mala"]()
    x0 = jnp.ones((3, 2))
    trace = jl.run(jax.random.key(4), sampler, x0, 20)
    keys = chain_keys_for(jax.random.key(4), 3)

    @jax.jit
    def manual(state):
        def body(s, _):
            s, _ = jax.vmap(sampler.step)(step_keys(keys, s.count), s)
            return s, s.position

        return jax.lax.scan(body, state, None, length=20)[1]

    draws = manual(jax.vmap(sampler.init)(x0))
    np.testing.assert_array_equal(trace.positions, jnp.swapaxes(draws, 0, 1))


def test_legacy_uint32_key_is_accepted():
    sampler = SAMPLERS["ula"]()
    a = jl.run(jax.random.PRNGKey(5), sampler, X0, STEPS, burnin=BURNIN)
    b = jl.run(jax.random.wrap_key_data(jax.random.PRNGKey(5)), sampler, X0, STEPS, burnin=BURNIN)
    np.testing.assert_array_equal(a.positions, b.positions)


def test_store_stats_matches_the_draws():
    sampler = SAMPLERS["mala"]()
    kw = dict(burnin=BURNIN, thin=THIN)
    draws = jl.run(jax.random.key(6), sampler, X0, STEPS, **kw)
    # Two chunks of 5 draws: the running moments are carried from one chunk to the next.
    stats = jl.run(jax.random.key(6), sampler, X0, STEPS, **kw, store="stats", chunk_size=5)
    assert stats.positions is None and stats.info is None
    assert int(stats.stats.count) == 10
    np.testing.assert_allclose(stats.stats.mean, draws.positions.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(stats.stats.var, draws.positions.var(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        stats.stats.info_mean.acceptance_rate, draws.info.acceptance_rate.mean(axis=1), atol=1e-5
    )
    _tree_equal(stats.final_state, draws.final_state)


def test_store_positions_and_callable():
    sampler = SAMPLERS["mala"]()
    ref = jl.run(jax.random.key(7), sampler, X0, 20)
    only = jl.run(jax.random.key(7), sampler, X0, 20, store="positions")
    np.testing.assert_array_equal(only.positions, ref.positions)
    assert only.info is None
    norms = jl.run(
        jax.random.key(7), sampler, X0, 20, store=lambda state, info: jnp.sum(state.position**2)
    )
    np.testing.assert_allclose(norms.values, jnp.sum(ref.positions**2, axis=-1), rtol=1e-6)


def test_progress_bar_gives_the_same_draws(capsys):
    sampler = SAMPLERS["ula"]()
    ref = jl.run(jax.random.key(8), sampler, X0, STEPS, burnin=BURNIN)
    shown = jl.run(jax.random.key(8), sampler, X0, STEPS, burnin=BURNIN, progress=True)
    np.testing.assert_array_equal(shown.positions, ref.positions)


def test_vmapped_and_jitted_sampler_step():
    sampler = SAMPLERS["ula"]()
    states = jax.vmap(sampler.init)(jnp.zeros((3, 2)))
    keys = jax.random.split(jax.random.key(0), 3)
    a, _ = jax.jit(jax.vmap(sampler.step))(keys, states)
    b, _ = jax.vmap(sampler.step)(keys, states)
    np.testing.assert_allclose(a.position, b.position, rtol=1e-6)


def test_zero_kept_draws():
    # The burn-in alone: the first chunk of the chunked runs above (chunk_size=4).
    trace = jl.run(jax.random.key(0), SAMPLERS["mala"](), X0, 0, burnin=BURNIN, thin=THIN)
    assert trace.positions.shape == (3, 0, 2)
    np.testing.assert_array_equal(trace.final_state.count, BURNIN)


@pytest.mark.long
def test_float64_when_x64_is_enabled():
    import subprocess
    import sys

    code = (
        "import jax; jax.config.update('jax_enable_x64', True)\n"
        "import jax.numpy as jnp, jlangevin as jl\n"
        "s = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)\n"
        "t = jl.run(jax.random.key(0), s, jnp.zeros((2, 2)), 10)\n"
        "print(t.positions.dtype, t.info.acceptance_rate.dtype, t.info.logdensity.dtype)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["float64", "float64", "float64"]


# --------------------------------------------------------------------------- #
# The open kernel contract: any init/step pair, keys fresh per chain and step
# --------------------------------------------------------------------------- #
class AR1State(NamedTuple):
    position: jax.Array


def _ar1_sampler(rho=0.5):
    """A user kernel written the BlackJAX way: ``x' = rho x + sqrt(1 - rho^2) xi``, N(0, 1)."""

    def step(key, state):
        xi = jax.random.normal(key, state.position.shape)
        return AR1State(rho * state.position + jnp.sqrt(1 - rho**2) * xi), {"noise": xi}

    return jl.Sampler(init=AR1State, step=step)


AR1 = _ar1_sampler()  # one sampler for the file: its compiled loops are shared between tests


def _ar1_checks(trace, rho=0.5):
    """z-scores: stationary variance 1, innovations of variance 1 with no lag-1 correlation."""
    x = np.asarray(trace.positions[..., 0], np.float64)  # (chains, draws)
    n = x.shape[0]
    # The last draw of each chain: independent across chains, exactly N(0, 1) after
    # 60 steps from N(0, 1) starts; the sample variance has sd sqrt(2 / n).
    z_var = (np.mean(x[:, -1] ** 2) - 1.0) / np.sqrt(2.0 / n)
    innovations = (x[:, 1:] - rho * x[:, :-1]) / np.sqrt(1 - rho**2)
    z_innovation = (np.mean(innovations[:, -1] ** 2) - 1.0) / np.sqrt(2.0 / n)
    # Fresh noise at every step: consecutive innovations uncorrelated (sd 1/sqrt(n)).
    z_lag = np.mean(innovations[:, -1] * innovations[:, -2]) * np.sqrt(n)
    return np.array([z_var, z_innovation, z_lag])


def test_a_user_kernel_gets_fresh_noise_and_its_exact_stationary_law():
    x0 = jax.random.normal(jax.random.key(10), (4000, 1))
    trace = jl.run(jax.random.key(11), AR1, x0, 60)
    z = _ar1_checks(trace)
    assert np.all(np.abs(z) < Z_MAX), z
    np.testing.assert_array_equal(trace.diverged, 0)  # no `diverged` in its info: none counted
    np.testing.assert_array_equal(trace.step_count, 60)
    # The key of step t of chain c is step_keys(chain_keys(key, c), t), as documented.
    keys = step_keys(chain_keys_for(jax.random.key(11), 4000), jnp.full((4000,), 5))
    noise = jax.vmap(lambda k: jax.random.normal(k, (1,)))(keys)
    np.testing.assert_array_equal(trace.info["noise"][:, 5], noise)


def test_the_contract_check_fails_when_every_step_reuses_the_chain_key(monkeypatch):
    """The companion: a driver that hands a chain the same key at every step is caught."""
    monkeypatch.setattr(keys_module, "step_keys", lambda keys, counts: keys)
    x0 = jax.random.normal(jax.random.key(10), (4000, 1))
    trace = jl.run(jax.random.key(11), AR1, x0, 60)
    assert np.abs(_ar1_checks(trace)).max() > Z_MAX


@pytest.mark.long
def test_a_user_kernel_is_chunked_and_resumed_bit_identically():
    sampler = AR1
    x0 = jnp.linspace(-1.0, 1.0, 6)[:, None]
    whole = jl.run(jax.random.key(12), sampler, x0, 30, burnin=4)
    _tree_equal(whole, jl.run(jax.random.key(12), sampler, x0, 30, burnin=4, chunk_size=7))
    first = jl.run(jax.random.key(12), sampler, x0, 10, burnin=4)
    second = jl.run(jax.random.key(12), sampler, first, 20)  # the trace carries the counts
    np.testing.assert_array_equal(
        np.concatenate([first.positions, second.positions], axis=1), whole.positions
    )
    np.testing.assert_array_equal(second.step_count, 34)
    # A bare state without `count` cannot say how far its chains got: refused.
    with pytest.raises(ValueError, match="count"):
        jl.run(jax.random.key(12), sampler, first.final_state, 20)


def test_diverged_is_counted_from_a_field_or_a_key_of_info():
    def step(key, state):
        bad = state.position[0] > 0.0
        return state, {"diverged": bad}

    sampler = jl.Sampler(init=AR1State, step=step)
    trace = jl.run(jax.random.key(0), sampler, jnp.asarray([[1.0], [-1.0]]), 7, burnin=3)
    np.testing.assert_array_equal(trace.diverged, [10, 0])
    mala_trace = jl.run(jax.random.key(0), SAMPLERS["mala"](), X0, 20)
    np.testing.assert_array_equal(mala_trace.diverged, 0)


def test_every_step_is_guarded_per_chain():
    """One chain walking into a region of infinite score stays put; the others are untouched."""

    def score(x):
        return jnp.where(jnp.abs(x) > 2.0, -jnp.sign(x) * jnp.inf, -x)

    sampler = jl.ula(score_fn=score, step_size=0.2)
    x0 = jnp.asarray([[1.9], [0.0]])
    trace = jl.run(jax.random.key(6), sampler, x0, 200)
    assert int(trace.diverged[0]) > 0
    assert np.isfinite(np.asarray(trace.positions)).all()
    alone = jl.run(jax.random.key(6), sampler, x0, 200)
    _tree_equal(trace, alone)


@pytest.mark.long
def test_runs_from_several_threads_give_what_one_thread_gives():
    # The compiled-function cache is shared: threads that run the same samplers at
    # once (a thread pool warming up benchmarks) must neither corrupt it nor mix up
    # each other's loops.
    from concurrent.futures import ThreadPoolExecutor

    samplers = [SAMPLERS[name]() for name in sorted(SAMPLERS)]
    jobs = [(s, n) for s in samplers for n in (5, 9)] * 2

    def go(job):
        sampler, steps = job
        return jl.run(jax.random.key(steps), sampler, jnp.zeros((3, 2)), steps, burnin=2)

    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(go, jobs))
    for job, trace in zip(jobs, together, strict=True):
        _tree_equal(trace, go(job))


# --------------------------------------------------------------------------- #
# Faults: moves counted per chain, one warning with the counts
# --------------------------------------------------------------------------- #
def _half_stuck_sampler():
    """Chains starting above 0 never move; those above 1.5 also diverge at every step."""

    def step(key, state):
        x = state.position
        return AR1State(jnp.where(x[0] > 0.0, x, x - 0.1)), {"diverged": x[0] > 1.5}

    return jl.Sampler(init=AR1State, step=step)


def test_stuck_and_diverged_chains_are_counted_and_warned_about_once():
    x0 = jnp.asarray([[2.0], [1.0], [-1.0]])
    with pytest.warns(SamplingWarning) as caught:
        trace = jl.run(jax.random.key(0), _half_stuck_sampler(), x0, 6, burnin=4, chunk_size=2)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "1 of 3 chains diverged (10 diverged steps" in message, message
    assert "2 of 3 chains never moved in 10 steps" in message, message
    np.testing.assert_array_equal(trace.moves, [0, 0, 10])
    np.testing.assert_array_equal(trace.diverged, [10, 0, 0])
    assert (trace.num_stuck_chains, trace.num_diverged_chains) == (2, 1)
    assert trace.num_diverged_steps == 10
    assert trace.moves.dtype == jnp.int32


def test_moves_are_the_accepted_proposals_and_a_healthy_run_is_silent():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        trace = jl.run(jax.random.key(1), SAMPLERS["mala"](), X0, 20)
    # MALA moves exactly when it accepts (an accepted proposal equal to the current
    # point has probability 0), so the kernel-agnostic count equals the kernel's own.
    np.testing.assert_array_equal(trace.moves, np.sum(trace.info.is_accepted, axis=1))
    assert 0 < int(np.min(trace.moves)) < 20
    assert trace.num_stuck_chains == 0


def test_numpy_and_jax_integer_scalars_are_integers():
    # MALA in the chunks of test_chunked_runs_are_bit_identical: the loops are compiled once.
    sampler = SAMPLERS["mala"]()
    x0 = X0
    ref = jl.run(jax.random.key(0), sampler, x0, STEPS, burnin=BURNIN, thin=THIN, chunk_size=4)
    for kind in (jnp.int32, np.int64, np.int16, np.asarray):
        got = jl.run(
            jax.random.key(0),
            sampler,
            x0,
            kind(STEPS),
            burnin=kind(BURNIN),
            thin=kind(THIN),
            chunk_size=kind(4),
        )
        _tree_equal(got, ref)
    keys = chain_keys_for(jax.random.key(0), np.int64(3))
    np.testing.assert_array_equal(
        jax.random.key_data(keys), jax.random.key_data(chain_keys_for(jax.random.key(0), 3))
    )


def test_nested_lists_are_positions():
    sampler = SAMPLERS["ula"]()
    nested = [[0.5, 0.0], [-0.5, 1.0], [0.0, 2.0]]
    ref = jl.run(jax.random.key(0), sampler, jnp.asarray(nested), STEPS, burnin=BURNIN)
    _tree_equal(jl.run(jax.random.key(0), sampler, nested, STEPS, burnin=BURNIN), ref)


@pytest.mark.long
def test_ula_under_x64_keeps_its_dtypes_and_its_exact_discretisation_bias():
    """ULA on N(0, 1) with step h is the AR(1) x' = (1 - h) x + sqrt(2h) xi: its stationary
    variance is 2 / (2 - h), not 1. From stationary starts the last draws of 4000 chains are
    exactly N(0, 2 / (2 - h)); the companion (the target's variance, 1) must be rejected."""
    h, n = 0.5, 4000
    exact_var = 2.0 / (2.0 - h)
    with jax.enable_x64(True):
        sampler = jl.ula(LOGP, step_size=h)
        x0 = jnp.sqrt(exact_var) * jax.random.normal(jax.random.key(20), (n, 1), jnp.float64)
        trace = jl.run(jax.random.key(21), sampler, x0, 20)
        assert trace.positions.dtype == jnp.float64
        assert trace.final_state.position.dtype == jnp.float64
        assert trace.final_state.score.dtype == jnp.float64
        assert trace.step_count.dtype == jnp.int32 and trace.moves.dtype == jnp.int32
        single = jl.run(jax.random.key(21), sampler, x0.astype(jnp.float32), 4, store="stats")
        assert single.final_state.position.dtype == jnp.float32
        assert single.stats.mean.dtype == jnp.float32
    last = np.asarray(trace.positions[:, -1, 0])
    assert last.dtype == np.float64

    def z(var):
        return (np.mean(last**2) - var) / (var * np.sqrt(2.0 / n))

    assert abs(z(exact_var)) < Z_MAX, z(exact_var)
    assert abs(z(1.0)) > Z_MAX, z(1.0)  # the broken claim: ULA is not exact


def test_keep_initial_puts_the_start_first_and_steps_label_every_draw():
    x0 = jnp.arange(6.0).reshape(3, 2)
    sampler = SAMPLERS["mala"]()
    kw = dict(burnin=BURNIN, thin=THIN)
    plain = jl.run(jax.random.key(0), sampler, x0, STEPS, **kw)
    kept = jl.run(jax.random.key(0), sampler, x0, STEPS, **kw, keep_initial=True)
    np.testing.assert_array_equal(plain.steps, [10, 13, 16, 19, 22, 25, 28, 31, 34, 37])
    np.testing.assert_array_equal(kept.steps, [0, 10, 13, 16, 19, 22, 25, 28, 31, 34, 37])
    np.testing.assert_array_equal(kept.positions[:, 0], x0)
    np.testing.assert_array_equal(kept.positions[:, 1:], plain.positions)
    np.testing.assert_array_equal(kept.info.acceptance_rate[:, 0], 0.0)  # no step taken
    np.testing.assert_array_equal(kept.info.acceptance_rate[:, 1:], plain.info.acceptance_rate)
    _tree_equal(kept.without_initial(), plain)
    _tree_equal(plain.without_initial(), plain)
    # Chunked, and continued from a trace: draw 0 is where this call starts.
    chunked = jl.run(jax.random.key(0), sampler, x0, STEPS, **kw, keep_initial=True, chunk_size=4)
    _tree_equal(chunked, kept)
    more = jl.run(jax.random.key(1), sampler, kept, 3, keep_initial=True, store="positions")
    np.testing.assert_array_equal(more.positions[:, 0], kept.final_state.position)
    np.testing.assert_array_equal(more.steps, [0, 1, 2, 3])


def test_the_diagnostics_leave_the_initial_positions_out():
    x0 = jnp.full((3, 2), 30.0)  # far out: with the start kept, R-hat and the mean would show it
    sampler = SAMPLERS["mala"]()
    plain = jl.run(jax.random.key(0), sampler, X0, 20)
    kept = plain._replace(
        positions=jnp.concatenate([x0[:, None], plain.positions], axis=1),
        info=jax.tree.map(lambda y: jnp.concatenate([y[:, :1] * 0, y], axis=1), plain.info),
        steps=np.arange(21),
    )
    assert np.allclose(jl.summary(kept)["mean"], jl.summary(plain)["mean"])
    assert jl.to_arviz(kept).posterior.sizes["draw"] == 20
    broken = kept._replace(steps=np.arange(1, 22))  # draw 0 not marked as the start
    assert jl.to_arviz(broken).posterior.sizes["draw"] == 21


def test_keep_initial_needs_stored_positions():
    with pytest.raises(ValueError, match="keep_initial"):
        jl.run(
            jax.random.key(0),
            SAMPLERS["ula"](),
            X0,
            4,
            keep_initial=True,
            store="stats",
        )
