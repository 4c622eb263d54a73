"""Step sizes given as (nested) lists are arrays: the same draws as the array, the same errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl

SCALES = jnp.asarray([1.0, 2.0])
LOGP = lambda x: -0.5 * jnp.sum((x / SCALES) ** 2)  # noqa: E731
STEP = [0.05, 0.2]  # per coordinate
KEY = jax.random.key(0)
X0 = jnp.asarray([[0.5, -1.0], [-0.3, 0.8], [0.0, 0.1]])  # 3 chains in R^2


def _sgld(logp, step_size):
    return jl.sgld(jl.gradients.full(logp), step_size=step_size)


SAMPLERS = {
    "ula": lambda logp, step: jl.ula(logp, step_size=step),
    "mala": lambda logp, step: jl.mala(logp, step_size=step),
    "sgld": _sgld,
}


def _draws(make, step_size, logp=LOGP, x0=X0, steps=8):
    trace = jl.run(KEY, make(logp, step_size), x0, steps)
    return np.asarray(trace.positions)


@pytest.mark.parametrize("kernel", sorted(SAMPLERS))
def test_list_gives_the_same_draws_as_the_array(kernel):
    make = SAMPLERS[kernel]
    reference = _draws(make, jnp.asarray(STEP))
    np.testing.assert_array_equal(_draws(make, STEP), reference)


def test_lists_of_numpy_scalars_and_the_check_tells_steps_apart():
    make = SAMPLERS["ula"]
    reference = _draws(make, jnp.asarray(STEP))
    np.testing.assert_array_equal(_draws(make, [np.float32(0.05), np.float64(0.2)]), reference)
    # The comparison can fail: a per-coordinate step is used per coordinate, not as
    # its first entry.
    assert not np.array_equal(_draws(make, 0.05), reference)


def test_nested_list_gives_the_same_draws_as_the_matrix():
    make = SAMPLERS["ula"]
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.stack([X0.reshape(3, 2), -X0.reshape(3, 2)], axis=1)  # 3 chains of (2, 2)
    nested = [[0.05, 0.1], [0.2, 0.4]]
    reference = _draws(make, jnp.asarray(nested), logp, x0, steps=5)
    np.testing.assert_array_equal(_draws(make, nested, logp, x0, steps=5), reference)


def test_list_reaches_the_info_as_its_mean():
    trace = jl.run(KEY, jl.ula(LOGP, step_size=STEP), X0, 3)
    np.testing.assert_allclose(np.asarray(trace.info.step_size), np.mean(STEP), rtol=1e-6)


CASES = [
    *[
        Case(
            f"{kernel} step_size list of the wrong length at init",
            lambda make=make: make(LOGP, [0.1, 0.1, 0.1]).init(X0[0]),
            ValueError,
            "step_size",
        )
        for kernel, make in sorted(SAMPLERS.items())
    ],
    Case(
        "ula step_size list of the wrong length in jl.run",
        lambda: jl.run(KEY, jl.ula(LOGP, step_size=[0.1, 0.1, 0.1]), X0, 2),
        ValueError,
        "step_size",
    ),
    Case(
        "ula step_size nested list of the wrong shape",
        lambda: jl.ula(LOGP, step_size=[[0.1, 0.1], [0.1, 0.1]]).init(X0[0]),
        ValueError,
        "step_size",
    ),
    Case(
        "ula step_size list with a negative entry",
        lambda: jl.ula(LOGP, step_size=[0.1, -0.1]),
        ValueError,
        "step_size",
    ),
    Case(
        "mala step_size list with a NaN",
        lambda: jl.mala(LOGP, step_size=[0.1, np.nan]),
        ValueError,
        "step_size",
    ),
    Case("sgld step_size list with zero", lambda: _sgld(LOGP, [0.0, 0.1]), ValueError, "step_size"),
    Case(
        "ula step_size list of strings",
        lambda: jl.ula(LOGP, step_size=["a", "b"]),
        TypeError,
        "step_size",
    ),
    Case(
        "ula step_size list with a bool",
        lambda: jl.ula(LOGP, step_size=[True, 0.1]),
        TypeError,
        "step_size",
    ),
    Case(
        "ula step_size ragged list at init",
        lambda: jl.ula(LOGP, step_size=[[0.1], [0.1, 0.1]]).init(X0[0]),
        TypeError,
        "step_size",
    ),
    Case(
        "mala cholesky with a list step_size",
        lambda: jl.mala(LOGP, step_size=[0.1, 0.1], cholesky=jnp.eye(2)),
        ValueError,
        "step_size",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
