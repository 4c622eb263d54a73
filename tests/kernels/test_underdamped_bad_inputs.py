"""Bad input to the kinetic Langevin kernel: a clear error naming the argument.

Rows have the shape of ``tests/bad_inputs.py``; they fail at construction, at
``init`` or at a direct ``step`` call, never inside XLA.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin.kernels import underdamped

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)


def _make(**kwargs):
    settings = {"logdensity_fn": LOGP, "step_size": 0.1, "gamma": 1.0, **kwargs}
    return underdamped.sampler(**settings)


def _init(position=X2, **kwargs):
    return _make(**kwargs).init(position)


def _step(**kwargs):
    settings = {"step_size": 0.1, "gamma": 1.0, **kwargs}
    return underdamped.step(KEY, underdamped.init(X2, LOGP), LOGP, **settings)


CASES = [
    # --- the target ---------------------------------------------------------------
    Case(
        "no target",
        lambda: underdamped.sampler(step_size=0.1, gamma=1.0),
        ValueError,
        "logdensity_fn",
    ),
    Case("logdensity not callable", lambda: _make(logdensity_fn=3.0), TypeError, "logdensity_fn"),
    Case(
        "score not callable", lambda: _make(logdensity_fn=None, score_fn="s"), TypeError, "score_fn"
    ),
    Case(
        "score wrong shape",
        lambda: _init(logdensity_fn=None, score_fn=lambda x: jnp.zeros(3)),
        ValueError,
        "score_fn",
    ),
    Case(
        "logdensity not scalar",
        lambda: _init(logdensity_fn=lambda x: x),
        ValueError,
        "logdensity_fn",
    ),
    Case("integer position", lambda: _init(jnp.zeros(2, jnp.int32)), TypeError, "position"),
    Case("nan position", lambda: _init(jnp.asarray([0.0, np.nan])), ValueError, "position"),
    # --- step size ----------------------------------------------------------------
    Case("step_size missing", lambda: _make(step_size=None), ValueError, "step_size"),
    Case("step_size negative", lambda: _make(step_size=-0.1), ValueError, "step_size"),
    Case("step_size zero", lambda: _make(step_size=0.0), ValueError, "step_size"),
    Case("step_size nan", lambda: _make(step_size=np.nan), ValueError, "step_size"),
    Case("step_size inf", lambda: _make(step_size=np.inf), ValueError, "step_size"),
    Case("step_size string", lambda: _make(step_size="0.1"), TypeError, "step_size"),
    Case("step_size bool", lambda: _make(step_size=True), TypeError, "step_size"),
    Case("step_size complex", lambda: _make(step_size=0.1 + 0j), TypeError, "step_size"),
    Case("step_size per coordinate", lambda: _make(step_size=[0.1, 0.2]), ValueError, "step_size"),
    Case(
        "schedule negative",
        lambda: _make(step_size=lambda t: 0.1 - 0.01 * t),
        ValueError,
        "step_size",
    ),
    Case(
        "schedule of arrays",
        lambda: _init(step_size=lambda t: jnp.full(2, 0.1)),
        ValueError,
        "step_size",
    ),
    Case(
        "step step_size per coordinate",
        lambda: _step(step_size=jnp.ones(2)),
        ValueError,
        "step_size",
    ),
    # --- friction -----------------------------------------------------------------
    Case("gamma missing", lambda: _make(gamma=None), TypeError, "gamma"),
    Case("gamma zero", lambda: _make(gamma=0.0), ValueError, "gamma"),
    Case("gamma negative", lambda: _make(gamma=-1.0), ValueError, "gamma"),
    Case("gamma nan", lambda: _make(gamma=np.nan), ValueError, "gamma"),
    Case("gamma inf", lambda: _make(gamma=np.inf), ValueError, "gamma"),
    Case("gamma string", lambda: _make(gamma="1"), TypeError, "gamma"),
    Case("gamma bool", lambda: _make(gamma=True), TypeError, "gamma"),
    Case("gamma array", lambda: _make(gamma=jnp.ones(2)), TypeError, "gamma"),
    Case("gamma callable", lambda: _make(gamma=lambda t: 1.0), TypeError, "gamma"),
    Case("step gamma zero", lambda: _step(gamma=0.0), ValueError, "gamma"),
    # --- metric -------------------------------------------------------------------
    Case(
        "inverse_mass negative", lambda: _make(inverse_mass=[1.0, -1.0]), ValueError, "inverse_mass"
    ),
    Case("inverse_mass nan", lambda: _make(inverse_mass=np.nan), ValueError, "inverse_mass"),
    Case("inverse_mass string", lambda: _make(inverse_mass="1"), TypeError, "inverse_mass"),
    Case("inverse_mass callable", lambda: _make(inverse_mass=abs), TypeError, "inverse_mass"),
    Case(
        "inverse_mass wrong shape",
        lambda: _init(inverse_mass=jnp.ones(3)),
        ValueError,
        "inverse_mass",
    ),
    Case(
        "inverse_mass wrong tree",
        lambda: _init({"a": X2}, logdensity_fn=lambda p: LOGP(p["a"]), inverse_mass={"b": 1.0}),
        ValueError,
        "inverse_mass",
    ),
    Case(
        "cholesky not lower triangular (a covariance)",
        lambda: _make(cholesky=jnp.asarray([[2.0, 0.5], [0.5, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "step cholesky not lower triangular",
        lambda: _step(cholesky=jnp.asarray([[2.0, 0.5], [0.5, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case("cholesky not square", lambda: _make(cholesky=jnp.ones((2, 3))), ValueError, "cholesky"),
    Case("cholesky negative diagonal", lambda: _make(cholesky=-jnp.eye(2)), ValueError, "cholesky"),
    Case("cholesky integer", lambda: _make(cholesky=np.eye(2, dtype=int)), TypeError, "cholesky"),
    Case("cholesky wrong size", lambda: _init(cholesky=jnp.eye(3)), ValueError, "cholesky"),
    Case(
        "both metrics",
        lambda: _make(inverse_mass=1.0, cholesky=jnp.eye(2)),
        ValueError,
        "inverse_mass",
    ),
    Case(
        "bounds with cholesky",
        lambda: _make(cholesky=jnp.eye(2), bounds=(-1.0, 1.0)),
        ValueError,
        "bounds",
    ),
    # --- bounds, clipping, momentum, splitting ------------------------------------
    Case("bounds crossed", lambda: _make(bounds=(1.0, -1.0)), ValueError, "bounds"),
    Case("bounds not a pair", lambda: _make(bounds=(0.0,)), ValueError, "bounds"),
    Case("bounds nan", lambda: _make(bounds=(np.nan, 1.0)), ValueError, "bounds"),
    Case("bounds wrong shape", lambda: _init(bounds=(-jnp.ones(3), 1.0)), ValueError, "bounds"),
    Case(
        "start outside bounds",
        lambda: _init(jnp.full(2, 2.0), bounds=(-1.0, 1.0)),
        ValueError,
        "bounds",
    ),
    Case("score_clip negative", lambda: _make(score_clip=-1.0), ValueError, "score_clip"),
    Case("score_clip callable", lambda: _make(score_clip=abs), TypeError, "score_clip"),
    Case("score_clip wrong shape", lambda: _init(score_clip=jnp.ones(3)), ValueError, "score_clip"),
    Case(
        "momentum wrong shape",
        lambda: underdamped.init(X2, LOGP, momentum=jnp.zeros(3)),
        ValueError,
        "momentum",
    ),
    Case(
        "momentum integer",
        lambda: underdamped.init(X2, LOGP, momentum=jnp.zeros(2, jnp.int32)),
        TypeError,
        "momentum",
    ),
    Case("splitting unknown", lambda: _make(splitting="abo"), ValueError, "splitting"),
    Case("step splitting unknown", lambda: _step(splitting=None), ValueError, "splitting"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_good_inputs_of_every_kind_are_accepted():
    """numpy and JAX scalars are numbers, lists are arrays (the table's mirror image)."""
    for gamma in (np.float32(1.0), jnp.asarray(2.0), 3):
        _init(
            gamma=gamma,
            step_size=np.float64(0.1),
            inverse_mass=[1.0, 2.0],
            bounds=([-1.0, -2.0], 2),
        )
