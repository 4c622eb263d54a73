"""Bad input to SGHMC / SGNHT: a clear error naming the argument, before XLA sees it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.kernels import sghmc

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
FULL = jl.gradients.full(LOGP)
KEY = jax.random.key(0)
X2 = jnp.zeros(2)


def _sampler(**kwargs):
    settings = {"step_size": 0.1, **kwargs}
    return sghmc.sampler(FULL, **settings)


def _step(**kwargs):
    settings = {"step_size": 0.1, **kwargs}
    return sghmc.step(KEY, sghmc.init(X2, FULL), FULL, **settings)


CASES = [
    Case("sghmc step_size missing", lambda: sghmc.sampler(FULL), ValueError, "step_size"),
    Case("sghmc step_size negative", lambda: _sampler(step_size=-0.1), ValueError, "step_size"),
    Case("sghmc step_size nan", lambda: _sampler(step_size=np.nan), ValueError, "step_size"),
    Case("sghmc step_size string", lambda: _sampler(step_size="0.1"), TypeError, "step_size"),
    Case(
        "sghmc schedule turning negative",
        lambda: _sampler(step_size=lambda t: 0.1 - 0.01 * t),
        ValueError,
        "step_size",
    ),
    Case(
        "sghmc step_size shape mismatch at init",
        lambda: _sampler(step_size=jnp.ones(3)).init(X2),
        ValueError,
        "step_size",
    ),
    Case(
        "sghmc per-coordinate step with the thermostat",
        lambda: _sampler(step_size=[0.1, 0.2], thermostat=True),
        ValueError,
        "step_size",
    ),
    Case("sghmc friction zero", lambda: _sampler(friction=0.0), ValueError, "friction"),
    Case("sghmc friction negative", lambda: _sampler(friction=-1.0), ValueError, "friction"),
    Case("sghmc friction nan", lambda: _sampler(friction=np.nan), ValueError, "friction"),
    Case("sghmc friction array", lambda: _sampler(friction=jnp.ones(2)), TypeError, "friction"),
    Case("sghmc friction string", lambda: _sampler(friction="1"), TypeError, "friction"),
    Case(
        "sghmc noise_estimate negative",
        lambda: _sampler(noise_estimate=-0.1),
        ValueError,
        "noise_estimate",
    ),
    Case(
        "sghmc noise_estimate not below friction",
        lambda: _sampler(friction=1.0, noise_estimate=1.0),
        ValueError,
        "noise_estimate",
    ),
    Case("sghmc thermostat not a bool", lambda: _sampler(thermostat=1), TypeError, "thermostat"),
    Case("sghmc temperature zero", lambda: _sampler(temperature=0.0), ValueError, "temperature"),
    Case(
        "sghmc temperature array",
        lambda: _sampler(temperature=jnp.ones(2)),
        ValueError,
        "temperature",
    ),
    Case(
        "sghmc estimator not callable",
        lambda: sghmc.sampler(3.0, 0.1),
        TypeError,
        "gradient_estimator",
    ),
    Case(
        "sghmc estimator and logdensity_fn",
        lambda: sghmc.sampler(FULL, 0.1, logdensity_fn=LOGP),
        ValueError,
        "logdensity_fn",
    ),
    Case("sghmc nothing to sample", lambda: sghmc.sampler(None, 0.1), ValueError, "logdensity_fn"),
    Case(
        "sghmc init without an estimator",
        lambda: sghmc.init(X2, LOGP),
        TypeError,
        "gradient_estimator",
    ),
    Case(
        "sghmc estimator returns a wrong shape",
        lambda: sghmc.init(X2, jl.gradients.full(score_fn=lambda x: jnp.zeros(3))),
        ValueError,
        "gradient_estimator",
    ),
    Case(
        "sghmc estimator returns a vector log density",
        lambda: sghmc.init(
            X2, jl.gradients.GradientEstimator(lambda k, x: (x, -x), uses_key=False)
        ),
        TypeError,
        "gradient_estimator",
    ),
    Case(
        "sghmc integer position",
        lambda: _sampler().init(jnp.zeros(2, jnp.int32)),
        TypeError,
        "position",
    ),
    Case(
        "sghmc start not finite",
        lambda: _sampler().init(jnp.asarray([jnp.inf, 0.0])),
        ValueError,
        "position",
    ),
    Case("sghmc step friction negative", lambda: _step(friction=-1.0), ValueError, "friction"),
    Case(
        "sghmc step temperature nan", lambda: _step(temperature=np.nan), ValueError, "temperature"
    ),
    Case("sghmc step step_size zero", lambda: _step(step_size=0.0), ValueError, "step_size"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
