"""Bad inputs to the gradient estimators: each fails at construction or at the call, named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin import gradients

KEY = jax.random.key(0)
DATA = jnp.asarray(np.random.default_rng(0).normal(size=(50, 2)), jnp.float32)
THETA = jnp.zeros(2)


def logprior(theta):
    return -0.5 * jnp.sum(theta**2)


def loglik(theta, x):
    return -0.5 * jnp.sum((x - theta) ** 2)


def per_coordinate_loglik(theta, x):
    return -0.5 * (x - theta) ** 2  # a vector per data point: must not be summed silently


def mb(*, data=DATA, batch_size=10, prior=logprior, lik=loglik, **kwargs):
    return gradients.minibatch(prior, lik, data, batch_size, **kwargs)


def cv(centre=THETA, *, data=DATA, batch_size=10, lik=loglik, **kwargs):
    return gradients.control_variates(logprior, lik, data, batch_size, centre, **kwargs)


CASES = [
    Case("minibatch logprior not callable", lambda: mb(prior=3.0), TypeError, "logprior_fn"),
    Case("minibatch loglik not callable", lambda: mb(lik="f"), TypeError, "loglik_fn"),
    Case(
        "minibatch loglik returns a vector",
        lambda: mb(lik=per_coordinate_loglik)(KEY, THETA),
        ValueError,
        "loglik_fn",
    ),
    Case(
        "minibatch logprior returns a vector",
        lambda: mb(prior=lambda t: -0.5 * t**2)(KEY, THETA),
        ValueError,
        "logprior_fn",
    ),
    Case(
        "minibatch loglik returns an integer",
        lambda: mb(lik=lambda t, x: jnp.int32(1))(KEY, THETA),
        TypeError,
        "loglik_fn",
    ),
    Case("batch_size zero", lambda: mb(batch_size=0), ValueError, "batch_size"),
    Case(
        "batch_size negative numpy", lambda: mb(batch_size=np.int64(-3)), ValueError, "batch_size"
    ),
    Case("batch_size float", lambda: mb(batch_size=5.0), TypeError, "batch_size"),
    Case("batch_size bool", lambda: mb(batch_size=True), TypeError, "batch_size"),
    Case("batch_size array", lambda: mb(batch_size=np.array([5])), TypeError, "batch_size"),
    Case("batch_size above N", lambda: mb(batch_size=51), ValueError, "batch_size"),
    Case("replace not a bool", lambda: mb(replace="yes"), TypeError, "replace"),
    Case(
        "data leading axes differ",
        lambda: mb(data={"x": jnp.zeros((5, 2)), "y": jnp.zeros(4)}, batch_size=2),
        ValueError,
        "data",
    ),
    Case("data a scalar", lambda: mb(data=jnp.asarray(1.0), batch_size=1), ValueError, "data"),
    Case("data empty pytree", lambda: mb(data={}), ValueError, "data"),
    Case("data no points", lambda: mb(data=jnp.zeros((0, 2)), batch_size=1), ValueError, "data"),
    Case(
        "data with NaN",
        lambda: mb(data=DATA.at[3, 1].set(jnp.nan)),
        ValueError,
        "data",
    ),
    Case("data of strings", lambda: mb(data=np.array(["a", "b"]), batch_size=1), TypeError, "data"),
    Case("estimate key missing", lambda: mb()(None, THETA), TypeError, "`key`"),
    Case("estimate key array", lambda: mb()(jax.random.split(KEY, 3), THETA), ValueError, "`key`"),
    Case(
        "estimate integer position",
        lambda: mb()(KEY, jnp.zeros(2, jnp.int32)),
        TypeError,
        "`position`",
    ),
    Case(
        "cv centre of the wrong shape", lambda: cv(jnp.zeros(3)), ValueError, "centering_position"
    ),
    Case(
        "cv centre broadcasting against the position",
        lambda: cv(jnp.zeros(()))(KEY, THETA),
        ValueError,
        "centering_position",
    ),
    Case(
        "cv centre with NaN",
        lambda: cv(jnp.asarray([0.0, jnp.nan])),
        ValueError,
        "centering_position",
    ),
    Case("cv centre integer", lambda: cv(jnp.zeros(2, jnp.int32)), TypeError, "centering_position"),
    Case("cv centre empty", lambda: cv({}), ValueError, "centering_position"),
    Case(
        "cv loglik returns a vector",
        lambda: cv(lik=per_coordinate_loglik),
        ValueError,
        "loglik_fn",
    ),
    Case(
        "cv loglik infinite at the centre",
        lambda: cv(lik=lambda t, x: jnp.log(t[0]) + 0.0 * jnp.sum(x)),
        ValueError,
        "centering_position",
    ),
    Case("cv batch_size above N", lambda: cv(batch_size=60), ValueError, "batch_size"),
    Case("full nothing to differentiate", lambda: gradients.full(), ValueError, "logdensity_fn"),
    Case("full logdensity not callable", lambda: gradients.full(1.0), TypeError, "logdensity_fn"),
    Case(
        "full score not callable",
        lambda: gradients.full(score_fn=np.zeros(2)),
        TypeError,
        "score_fn",
    ),
    Case("from_energy not callable", lambda: gradients.from_energy(None), TypeError, "energy_fn"),
    Case(
        "from_energy vector energy",
        lambda: gradients.from_energy(lambda x: x**2)(THETA),
        ValueError,
        "energy_fn",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
