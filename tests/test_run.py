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
