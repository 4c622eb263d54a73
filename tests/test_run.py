"""The driver: counts, layouts, chunking/resume/jit/vmap equivalence, storage modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.run import chain_keys_for

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
SAMPLERS = {
    "ula": lambda: jl.ula(LOGP, step_size=0.1),
    "mala": lambda: jl.mala(LOGP, step_size=0.5),
    "sgld": lambda: jl.sgld(LOGP, step_size=0.1),
}


def _tree_equal(a, b):
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_counts_and_layout():
    trace = jl.run(jax.random.key(0), SAMPLERS["mala"](), jnp.zeros((3, 2)), 40, burnin=10, thin=4)
    assert trace.positions.shape == (3, 10, 2)
    assert trace.info.acceptance_rate.shape == (3, 10)
    assert trace.final_state.position.shape == (3, 2)
    np.testing.assert_array_equal(trace.final_state.count, 50)
    np.testing.assert_array_equal(trace.diverged, 0)
    assert trace.num_chains == 3


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_thin_keeps_every_thin_th_state(name):
    sampler = SAMPLERS[name]()
    full = jl.run(jax.random.key(1), sampler, jnp.zeros((2, 2)), 12, burnin=3)
    thinned = jl.run(jax.random.key(1), sampler, jnp.zeros((2, 2)), 12, burnin=3, thin=3)
    np.testing.assert_array_equal(thinned.positions, full.positions[:, 2::3])


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_chunked_runs_are_bit_identical(name):
    sampler = SAMPLERS[name]()
    x0 = jnp.linspace(-1, 1, 6).reshape(3, 2)
    one = jl.run(jax.random.key(2), sampler, x0, 30, burnin=7, thin=3)
    for chunk in (1, 4, 7):
        chunked = jl.run(jax.random.key(2), sampler, x0, 30, burnin=7, thin=3, chunk_size=chunk)
        _tree_equal(one.positions, chunked.positions)
        _tree_equal(one.info, chunked.info)
        _tree_equal(one.final_state, chunked.final_state)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_resume_continues_the_same_chains(name):
    sampler = SAMPLERS[name]()
    x0 = jnp.zeros((3, 2))
    whole = jl.run(jax.random.key(3), sampler, x0, 40, burnin=5)
    first = jl.run(jax.random.key(3), sampler, x0, 15, burnin=5)
    second = jl.run(jax.random.key(3), sampler, first.final_state, 25)
    resumed = np.concatenate([first.positions, second.positions], axis=1)
    np.testing.assert_array_equal(whole.positions, resumed)


def test_run_equals_a_hand_written_jit_vmap_scan():
    sampler = SAMPLERS["mala"]()
    x0 = jnp.ones((4, 2))
    trace = jl.run(jax.random.key(4), sampler, x0, 20)
    keys = chain_keys_for(jax.random.key(4), 4)

    @jax.jit
    def manual(state):
        def body(s, _):
            s, _ = jax.vmap(sampler.step)(keys, s)
            return s, s.position

        return jax.lax.scan(body, state, None, length=20)[1]

    draws = manual(jax.vmap(sampler.init)(x0))
    np.testing.assert_array_equal(trace.positions, jnp.swapaxes(draws, 0, 1))


def test_legacy_uint32_key_is_accepted():
    sampler = SAMPLERS["ula"]()
    a = jl.run(jax.random.PRNGKey(5), sampler, jnp.zeros((2, 1)), 10)
    b = jl.run(jax.random.wrap_key_data(jax.random.PRNGKey(5)), sampler, jnp.zeros((2, 1)), 10)
    np.testing.assert_array_equal(a.positions, b.positions)


def test_store_stats_matches_the_draws():
    sampler = SAMPLERS["mala"]()
    x0 = jnp.zeros((5, 3))
    draws = jl.run(jax.random.key(6), sampler, x0, 200, burnin=20, thin=2)
    stats = jl.run(
        jax.random.key(6), sampler, x0, 200, burnin=20, thin=2, store="stats", chunk_size=30
    )
    assert stats.positions is None and stats.info is None
    assert int(stats.stats.count) == 100
    np.testing.assert_allclose(stats.stats.mean, draws.positions.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(stats.stats.var, draws.positions.var(axis=1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        stats.stats.info_mean.acceptance_rate, draws.info.acceptance_rate.mean(axis=1), atol=1e-5
    )
    _tree_equal(stats.final_state, draws.final_state)


def test_store_positions_and_callable():
    sampler = SAMPLERS["mala"]()
    x0 = jnp.zeros((2, 2))
    ref = jl.run(jax.random.key(7), sampler, x0, 10)
    only = jl.run(jax.random.key(7), sampler, x0, 10, store="positions")
    np.testing.assert_array_equal(only.positions, ref.positions)
    assert only.info is None
    norms = jl.run(
        jax.random.key(7), sampler, x0, 10, store=lambda state, info: jnp.sum(state.position**2)
    )
    np.testing.assert_allclose(norms.values, jnp.sum(ref.positions**2, axis=-1), rtol=1e-6)


def test_progress_bar_gives_the_same_draws(capsys):
    sampler = SAMPLERS["ula"]()
    ref = jl.run(jax.random.key(8), sampler, jnp.zeros((2, 1)), 100, burnin=10)
    shown = jl.run(jax.random.key(8), sampler, jnp.zeros((2, 1)), 100, burnin=10, progress=True)
    np.testing.assert_array_equal(shown.positions, ref.positions)


def test_vmapped_and_jitted_sampler_step():
    sampler = SAMPLERS["ula"]()
    states = jax.vmap(sampler.init)(jnp.zeros((3, 2)))
    keys = jax.random.split(jax.random.key(0), 3)
    a, _ = jax.jit(jax.vmap(sampler.step))(keys, states)
    b, _ = jax.vmap(sampler.step)(keys, states)
    np.testing.assert_allclose(a.position, b.position, rtol=1e-6)


def test_zero_kept_draws():
    trace = jl.run(jax.random.key(0), SAMPLERS["ula"](), jnp.zeros((2, 3)), 0, burnin=5)
    assert trace.positions.shape == (2, 0, 3)
    np.testing.assert_array_equal(trace.final_state.count, 5)


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
# Speculative blocks: unguarded steps, replayed guarded when a block diverges
# --------------------------------------------------------------------------- #
def _edge_score(x):
    """Score of N(0, 1), infinite (pointing back in) beyond |x| = 2."""
    return jnp.where(jnp.abs(x) > 2.0, -jnp.sign(x) * jnp.inf, -x)


EDGE = {
    # ULA: a move beyond the edge has an infinite score, so it is refused.
    "ula": lambda: jl.ula(score_fn=_edge_score, step_size=0.2),
    # The same with the drift clipped: unguarded, the clipped drift would bring a
    # diverged chain back inside unless the kernel poisons it.
    "ula-clip": lambda: jl.ula(score_fn=_edge_score, step_size=0.2, score_clip=1.0),
    # ULA tracking a log density that is -inf beyond the edge (the score is not).
    "ula-lp": lambda: jl.ula(
        lambda x: jnp.where(jnp.abs(x) > 2.0, -jnp.inf, -0.5 * x**2).sum(),
        score_fn=lambda x: -x,
        step_size=0.2,
    ),
    # SGLD checks the score where a move starts: a chain that moved out keeps
    # diverging there. Unguarded, the clipped wall would turn the infinite move
    # into a finite one unless the kernel poisons it.
    "sgld": lambda: jl.sgld(
        score_fn=_edge_score, step_size=0.2, bounds=(-3.0, 3.0), boundary="clip"
    ),
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_speculative_blocks_give_what_guarded_steps_give(name):
    sampler = EDGE[name]()
    assert sampler.unguarded_step is not None
    guarded = sampler._replace(unguarded_step=None)  # every step guarded, no speculation
    # Few chains, rare divergences: a block often holds one divergence only, which an
    # unguarded step that let a diverged chain turn finite again would hide.
    x0 = jnp.asarray([[-1.0, 0.5], [0.3, 1.0]])
    for kw in (
        dict(burnin=5),
        dict(burnin=7, thin=3, chunk_size=4),
        dict(store="stats"),
        dict(store="positions", chunk_size=3),
    ):
        fast = jl.run(jax.random.key(6), sampler, x0, 120, **kw)
        slow = jl.run(jax.random.key(6), guarded, x0, 120, **kw)
        _tree_equal(fast, slow)
        assert np.asarray(fast.diverged).sum() > 0  # the replays really happened
        if fast.positions is not None:
            assert np.isfinite(np.asarray(fast.positions)).all()


def test_speculative_runs_are_bit_identical_across_chunkings_with_divergences():
    sampler = EDGE["ula"]()
    x0 = jnp.linspace(-1.0, 1.0, 8 * 2).reshape(8, 2)
    one = jl.run(jax.random.key(7), sampler, x0, 50, burnin=3)
    assert np.asarray(one.diverged).sum() > 0
    for chunk in (1, 5, 13):
        _tree_equal(one, jl.run(jax.random.key(7), sampler, x0, 50, burnin=3, chunk_size=chunk))


def test_mala_runs_every_step_guarded():
    # MALA's accept test already decides per chain; it has no unguarded form.
    assert jl.mala(LOGP, step_size=0.5).unguarded_step is None


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
