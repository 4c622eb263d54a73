"""Schedules: their formulas, composition with optax, and driving SGLD's step."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlangevin as jl
from jlangevin import schedules

COUNTS = np.array([0, 1, 7, 100, 12345])


def test_constant():
    np.testing.assert_allclose([schedules.constant(0.3)(t) for t in COUNTS], 0.3, rtol=1e-7)


def test_polynomial_formula():
    sched = schedules.polynomial(a=0.2, b=3.0, gamma=0.55)
    expected = 0.2 * (3.0 + COUNTS) ** -0.55
    np.testing.assert_allclose([sched(t) for t in COUNTS], expected, rtol=1e-5)


def test_cyclical_cosine_formula():
    sched = schedules.cyclical_cosine(0.1, num_steps=1000, num_cycles=3)
    length = math.ceil(1000 / 3)
    counts = np.arange(0, 1000, 37)
    expected = 0.05 * (np.cos(np.pi * (counts % length) / length) + 1)
    np.testing.assert_allclose([sched(t) for t in counts], expected, rtol=1e-5, atol=1e-8)
    assert float(sched(length)) == pytest.approx(0.1)


def test_geometric_formula_then_flat():
    sched = schedules.geometric(1.0, 1e-3, num_steps=200)
    counts = np.array([0, 50, 100, 200, 500])
    expected = 1.0 * (1e-3) ** (np.minimum(counts, 200) / 200)
    np.testing.assert_allclose([sched(t) for t in counts], expected, rtol=1e-5)


def test_composes_with_optax_and_jits():
    joined = optax.join_schedules(
        [schedules.constant(0.01), schedules.polynomial(0.01, 1.0, 0.6)], boundaries=[100]
    )
    np.testing.assert_allclose(joined(50), 0.01, rtol=1e-6)
    # optax passes `count - boundary` to the second schedule.
    np.testing.assert_allclose(joined(150), 0.01 * (1.0 + 50) ** -0.6, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(joined)(jnp.asarray(150)), joined(150), rtol=1e-6)


def test_schedule_drives_sgld_step_size_along_a_run():
    sched = schedules.polynomial(0.05, 1.0, 0.55)
    sampler = jl.sgld(lambda x: -0.5 * jnp.sum(x**2), step_size=sched)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((2, 1)), 40, burnin=10, thin=2)
    # Draw j is the state after step 10 + 2(j + 1); its info is of the step with count 11 + 2j.
    counts = 10 + 2 * np.arange(20) + 1
    np.testing.assert_allclose(trace.info.step_size[0], 0.05 * (1.0 + counts) ** -0.55, rtol=1e-5)
    np.testing.assert_allclose(trace.info.step_size[1], trace.info.step_size[0])


def test_bad_input():
    with pytest.raises(ValueError, match="value"):
        schedules.constant(-1.0)
    with pytest.raises(ValueError, match="gamma"):
        schedules.polynomial(0.1, 1.0, -0.5)
    with pytest.raises(ValueError, match="num_cycles"):
        schedules.cyclical_cosine(0.1, 10, 20)
    with pytest.raises(ValueError, match="final"):
        schedules.geometric(1.0, 0.0, 10)
