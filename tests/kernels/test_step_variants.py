"""Every kernel's step is a pure function: the same state with and without ``jit``."""

import chex
import jax
import jax.numpy as jnp

import jlangevin as jl

LOGP = lambda p: -0.5 * jnp.sum(p["w"] ** 2) - jnp.sum(p["b"] ** 2)  # noqa: E731
SAMPLERS = {
    "ula": lambda: jl.ula(LOGP, step_size={"w": 0.1, "b": 0.05}, score_clip=5.0),
    "mala": lambda: jl.mala(LOGP, step_size=0.3, bounds=(-4.0, 4.0)),
    "sgld": lambda: jl.sgld(LOGP, step_size=jl.schedules.polynomial(0.1, 1.0, 0.55)),
}
START = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.asarray([0.5, -0.25])}


class StepVariants(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_three_steps_of_every_kernel(self):
        for name, make in SAMPLERS.items():
            sampler = make()
            state = sampler.init(START)
            reference = state
            step = self.variant(sampler.step)
            for t in range(3):
                key = jax.random.fold_in(jax.random.key(0), t)
                state, _ = step(key, state)
                reference, _ = jax.jit(sampler.step)(key, reference)
                chex.assert_trees_all_close(state, reference, rtol=1e-6, atol=1e-7)
                chex.assert_tree_all_finite(state.position)
            chex.assert_trees_all_equal_shapes_and_dtypes(state.position, START)
            assert int(state.count) == 3, name
