"""The compiled loop (jlangevin.run.loop): chain-major draws, the plan of chunks."""

import jax
import jax.numpy as jnp
import numpy as np

import jlangevin as jl
from jlangevin import keys
from jlangevin.run.loop import plan

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731


def test_draws_are_chain_major_and_equal_a_stacked_scan_transposed():
    """The buffer the loop writes in place holds what a scan's stack, transposed, holds."""
    sampler = jl.mala(LOGP, step_size=0.5)
    x0 = jnp.linspace(-1.0, 1.0, 6).reshape(3, 2)
    trace = jl.run(jax.random.key(0), sampler, x0, 8)
    chains = keys.chain_keys(jax.random.key(0), jnp.arange(3, dtype=jnp.uint32))

    def body(state, t):
        step_keys = keys.step_keys(chains, jnp.full((3,), t, jnp.int32))
        state, info = jax.vmap(sampler.step)(step_keys, state)
        return state, (state.position, info.is_accepted)

    start = jax.vmap(sampler.init)(x0)
    positions, accepted = jax.lax.scan(body, start, jnp.arange(8, dtype=jnp.int32))[1]
    np.testing.assert_array_equal(trace.positions, np.swapaxes(positions, 0, 1))
    np.testing.assert_array_equal(trace.info.is_accepted, np.swapaxes(accepted, 0, 1))


def test_the_plan_splits_burn_in_and_draws_into_chunks():
    assert plan(10, 6, None, 2) == [(10, 6)]
    assert plan(0, 0, None, 1) == []
    assert plan(10, 6, 4, 2) == [(8, 0), (2, 0), (0, 4), (0, 2)]
