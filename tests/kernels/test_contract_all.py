"""Every built-in kernel through the driver on pytree positions: chunked and resumed runs
are bit-identical to one-shot runs (the engine's promise, kernel by kernel)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl


def logp(p):
    return -0.5 * (jnp.sum(p["a"] ** 2) + 4.0 * jnp.sum(p["b"] ** 2))


SAMPLERS = {
    "ula": lambda: jl.ula(logp, step_size=0.05),
    "mala": lambda: jl.mala(logp, step_size=0.2),
    "sgld": lambda: jl.sgld(logp, step_size=0.05),
    "underdamped": lambda: jl.underdamped(logp, step_size=0.2, gamma=1.0),
    "malt": lambda: jl.malt(logp, step_size=0.2, num_integration_steps=3, gamma=1.0),
    "mams": lambda: jl.mams(logp, step_size=0.4, num_integration_steps=3),
    "mclmc": lambda: jl.mclmc(logp, step_size=0.4, decoherence_length=1.0),
    "barker": lambda: jl.barker(logp, step_size=0.5),
    "sghmc": lambda: jl.sghmc(logp, step_size=0.05, friction=2.0),
    "tempering": lambda: jl.tempering(logp, betas=[1.0, 0.5], step_size=0.2),
}


def start():
    return {"a": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.full((3,), 0.3)}


# Tempering's three compiled loops are the largest here; its chunked and resumed runs are
# checked bit for bit in CI's suite (marked `long`) by
# tests/kernels/test_tempering.py::test_chunked_and_resumed_runs_are_bit_identical, so its
# pytree case here is slow-only.
NAMES = [
    pytest.param(name, marks=pytest.mark.slow) if name == "tempering" else name
    for name in sorted(SAMPLERS)
]


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_chunked_and_resumed_runs_are_bit_identical(name):
    # Three compiled programs per kernel: 12 steps from the start, 4 from the start, and
    # 4 continuing; the chunked and resumed runs are made of the last two.
    sampler = SAMPLERS[name]()
    key = jax.random.key(7)
    one = jl.run(key, sampler, start(), 12)
    chunked = jl.run(key, sampler, start(), 12, chunk_size=4)
    chex.assert_trees_all_equal(one.positions, chunked.positions)
    chex.assert_trees_all_equal(one.final_state, chunked.final_state)
    first = jl.run(key, sampler, start(), 4)
    second = jl.run(key, sampler, first, 8, chunk_size=4)
    for leaf in ("a", "b"):
        resumed = np.concatenate([first.positions[leaf], second.positions[leaf]], axis=1)
        np.testing.assert_array_equal(one.positions[leaf], resumed)
    chex.assert_trees_all_equal(one.final_state, second.final_state)
    assert one.num_diverged_chains == 0
