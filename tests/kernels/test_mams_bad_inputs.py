"""Bad input to MAMS: a clear error naming the argument.

Rows have the shape of ``tests/bad_inputs.py``; they fail at construction, at
``init`` or at a direct ``step`` call, never inside XLA.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin.kernels import mams

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)


def _make(**kwargs):
    settings = {"logdensity_fn": LOGP, "step_size": 0.1, "num_integration_steps": 3, **kwargs}
    return mams.sampler(**settings)


def _init(position=X2, **kwargs):
    return _make(**kwargs).init(position)


def _step(**kwargs):
    settings = {"step_size": 0.1, "num_integration_steps": 3, **kwargs}
    return mams.step(KEY, mams.init(X2, LOGP), LOGP, **settings)


def _dynamic(num_integration_steps):
    state = mams.init(X2, LOGP)
    return jax.jit(lambda n: mams.dynamic_step(KEY, state, LOGP, 0.1, n))(num_integration_steps)


CASES = [
    # --- the target ---------------------------------------------------------------
    Case("no logdensity", lambda: _make(logdensity_fn=None), TypeError, "logdensity_fn"),
    Case(
        "score only",
        lambda: _make(logdensity_fn=None, score_fn=lambda x: -x),
        TypeError,
        "logdensity_fn",
    ),
    Case("logdensity not callable", lambda: _make(logdensity_fn=1.0), TypeError, "logdensity_fn"),
    Case("score not callable", lambda: _make(score_fn=2.0), TypeError, "score_fn"),
    Case("init without logdensity", lambda: mams.init(X2, None), TypeError, "logdensity_fn"),
    Case(
        "logdensity complex",
        lambda: _init(logdensity_fn=lambda x: jnp.sum(x) + 0j),
        TypeError,
        "logdensity_fn",
    ),
    Case("integer position", lambda: _init(jnp.zeros(2, jnp.int32)), TypeError, "position"),
    Case("one-dimensional position", lambda: _init(jnp.zeros(1)), ValueError, "position"),
    Case("scalar position", lambda: _init(jnp.zeros(())), ValueError, "position"),
    Case(
        "start outside support",
        lambda: _init(logdensity_fn=lambda x: -jnp.inf * jnp.sum(x**2 + 1)),
        ValueError,
        "log density",
    ),
    # --- step size ----------------------------------------------------------------
    Case("step_size missing", lambda: _make(step_size=None), ValueError, "step_size"),
    Case("step_size negative", lambda: _make(step_size=-0.1), ValueError, "step_size"),
    Case("step_size nan", lambda: _make(step_size=np.nan), ValueError, "step_size"),
    Case("step_size string", lambda: _make(step_size="0.1"), TypeError, "step_size"),
    Case("step_size per coordinate", lambda: _make(step_size=jnp.ones(2)), ValueError, "step_size"),
    Case("step step_size zero", lambda: _step(step_size=0.0), ValueError, "step_size"),
    # --- trajectory length --------------------------------------------------------
    Case(
        "steps missing",
        lambda: _make(num_integration_steps=None),
        ValueError,
        "num_integration_steps",
    ),
    Case("steps zero", lambda: _make(num_integration_steps=0), ValueError, "num_integration_steps"),
    Case(
        "steps float", lambda: _make(num_integration_steps=3.0), TypeError, "num_integration_steps"
    ),
    Case(
        "steps bool", lambda: _make(num_integration_steps=True), TypeError, "num_integration_steps"
    ),
    Case(
        "steps array",
        lambda: _make(num_integration_steps=np.ones(2, int)),
        TypeError,
        "num_integration_steps",
    ),
    Case(
        "step steps zero",
        lambda: _step(num_integration_steps=0),
        ValueError,
        "num_integration_steps",
    ),
    Case(
        "dynamic steps traced float",
        lambda: _dynamic(jnp.float32(3.0)),
        TypeError,
        "num_integration_steps",
    ),
    Case(
        "dynamic steps traced vector",
        lambda: _dynamic(jnp.ones(2, jnp.int32)),
        TypeError,
        "num_integration_steps",
    ),
    Case("jitter not a flag", lambda: _make(jitter=1), TypeError, "jitter"),
    # --- metric and bounds --------------------------------------------------------
    Case("inverse_mass zero", lambda: _make(inverse_mass=[1.0, 0.0]), ValueError, "inverse_mass"),
    Case(
        "inverse_mass wrong shape",
        lambda: _init(inverse_mass=jnp.ones(3)),
        ValueError,
        "inverse_mass",
    ),
    Case("cholesky not square", lambda: _make(cholesky=jnp.ones((2, 3))), ValueError, "cholesky"),
    Case("cholesky wrong size", lambda: _init(cholesky=jnp.eye(3)), ValueError, "cholesky"),
    Case(
        "both metrics", lambda: _make(inverse_mass=1.0, cholesky=jnp.eye(2)), ValueError, "cholesky"
    ),
    Case(
        "bounds with cholesky",
        lambda: _make(cholesky=jnp.eye(2), bounds=(0.0, 1.0)),
        ValueError,
        "bounds",
    ),
    # --- the low rank plus diagonal metric ------------------------------------------
    Case("low_rank not a triple", lambda: _make(low_rank=jnp.ones(2)), TypeError, "low_rank"),
    Case("step low_rank a pair", lambda: _step(low_rank=(1.0, 2.0)), TypeError, "low_rank"),
    Case(
        "low_rank basis 1-D",
        lambda: _make(low_rank=(jnp.ones(2), jnp.ones(2), jnp.ones(1))),
        ValueError,
        "low_rank",
    ),
    Case(
        "low_rank factors zero",
        lambda: _make(low_rank=(jnp.ones(2), jnp.eye(2)[:, :1], jnp.zeros(1))),
        ValueError,
        "low_rank factors",
    ),
    Case(
        "low_rank sd negative",
        lambda: _make(low_rank=(-jnp.ones(2), jnp.eye(2)[:, :1], jnp.ones(1))),
        ValueError,
        "low_rank sd",
    ),
    Case(
        "low_rank basis wrong size",
        lambda: _init(low_rank=(jnp.ones(2), jnp.eye(3)[:, :1], jnp.ones(1))),
        ValueError,
        "low_rank",
    ),
    Case(
        "low_rank sd wrong size",
        lambda: _init(low_rank=(jnp.ones(3), jnp.eye(2)[:, :1], jnp.ones(1))),
        ValueError,
        "low_rank sd",
    ),
    Case(
        "low_rank with inverse_mass",
        lambda: _make(inverse_mass=1.0, low_rank=(jnp.ones(2), jnp.eye(2)[:, :1], jnp.ones(1))),
        ValueError,
        "low_rank",
    ),
    Case(
        "bounds with low_rank",
        lambda: _make(low_rank=(jnp.ones(2), jnp.eye(2)[:, :1], jnp.ones(1)), bounds=(0.0, 1.0)),
        ValueError,
        "bounds",
    ),
    Case("bounds crossed", lambda: _make(bounds=(1.0, 0.0)), ValueError, "bounds"),
    Case("bounds wrong shape", lambda: _init(bounds=(-jnp.ones(3), 1.0)), ValueError, "bounds"),
    Case(
        "start outside bounds",
        lambda: _init(jnp.full(2, 2.0), bounds=(-1.0, 1.0)),
        ValueError,
        "bounds",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_good_inputs_of_every_kind_are_accepted():
    """numpy and JAX scalars are numbers, lists are arrays."""
    for steps, jitter in ((np.int64(2), np.bool_(True)), (jnp.asarray(3), False), (1, True)):
        _init(
            num_integration_steps=steps,
            jitter=jitter,
            step_size=np.float64(0.1),
            inverse_mass=[1.0, 2.0],
        )
