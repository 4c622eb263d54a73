"""Dual averaging of ``log ε``: it reaches the target on a known acceptance curve."""

import jax.numpy as jnp
import numpy as np

from jlangevin.adaptation import dual_averaging as da


def _fixed_point(update):
    # acceptance(eps) = exp(-eps): the fixed point for target 0.574 is -log(0.574).
    state = da.dual_averaging_init(jnp.asarray(5.0))
    for _ in range(3000):
        state = update(state, jnp.exp(-jnp.exp(state.log_step)), 0.574)
    return float(state.log_step_avg)


def test_dual_averaging_reaches_target_on_known_curve():
    step = np.exp(_fixed_point(da.dual_averaging_update))
    np.testing.assert_allclose(step, -np.log(0.574), rtol=0.02)


def test_known_curve_catches_an_update_of_the_wrong_sign():
    # Broken companion: the error fed with the wrong sign drives the step away.
    def wrong_sign(state, acceptance, target):
        return da.dual_averaging_update(state, 2 * target - acceptance, target)

    assert abs(_fixed_point(wrong_sign) - np.log(-np.log(0.574))) > np.log(1.02)


def test_restart_starts_from_the_average_step():
    state = da.dual_averaging_init(jnp.float32(1.0))
    for acceptance in (0.1, 0.9, 0.3):
        state = da.dual_averaging_update(state, jnp.float32(acceptance), 0.574)
    fresh = da.restart(state)
    assert float(fresh.log_step) == float(state.log_step_avg) and int(fresh.count) == 0
    assert float(fresh.mu) == float(np.log(10.0) + state.log_step_avg)
