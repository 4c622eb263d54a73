"""Bad input to Barker's proposal: a clear error naming the argument, before XLA sees it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin.kernels import barker

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)


def _sampler(**kwargs):
    settings = {"step_size": 0.5, **kwargs}
    return barker.sampler(LOGP, **settings)


def _init(position=X2, **kwargs):
    return _sampler(**kwargs).init(position)


def _step(**kwargs):
    settings = {"step_size": 0.5, **kwargs}
    return barker.step(KEY, barker.init(X2, LOGP), LOGP, **settings)


CASES = [
    Case("barker step_size missing", lambda: barker.sampler(LOGP), ValueError, "step_size"),
    Case("barker step_size negative", lambda: _sampler(step_size=-1.0), ValueError, "step_size"),
    Case("barker step_size zero", lambda: _sampler(step_size=0.0), ValueError, "step_size"),
    Case("barker step_size nan", lambda: _sampler(step_size=np.nan), ValueError, "step_size"),
    Case("barker step_size inf", lambda: _sampler(step_size=np.inf), ValueError, "step_size"),
    Case("barker step_size string", lambda: _sampler(step_size="1"), TypeError, "step_size"),
    Case("barker step_size bool", lambda: _sampler(step_size=True), TypeError, "step_size"),
    Case("barker step_size complex", lambda: _sampler(step_size=1j), TypeError, "step_size"),
    Case(
        "barker step_size one coordinate negative",
        lambda: _sampler(step_size=[0.5, -0.5]),
        ValueError,
        "step_size",
    ),
    Case(
        "barker step_size shape mismatch at init",
        lambda: _init(step_size=jnp.ones(3)),
        ValueError,
        "step_size",
    ),
    Case(
        "barker schedule negative",
        lambda: _sampler(step_size=lambda t: 0.5 - 0.01 * t),
        ValueError,
        "step_size",
    ),
    Case(
        "barker schedule not traceable",
        lambda: _sampler(step_size=lambda t: 0.5 if t < 3 else 0.1),
        ValueError,
        "step_size",
    ),
    Case(
        "barker logdensity missing", lambda: barker.sampler(None, 0.5), TypeError, "logdensity_fn"
    ),
    Case(
        "barker logdensity not callable",
        lambda: barker.sampler(3.0, 0.5),
        TypeError,
        "logdensity_fn",
    ),
    Case("barker score_fn not callable", lambda: _sampler(score_fn=1.0), TypeError, "score_fn"),
    Case(
        "barker logdensity returns a vector",
        lambda: barker.init(X2, lambda x: -0.5 * x**2),
        ValueError,
        "logdensity_fn",
    ),
    Case(
        "barker logdensity returns an integer",
        lambda: barker.init(X2, lambda x: jnp.sum(x).astype(jnp.int32)),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "barker score_fn wrong shape",
        lambda: _init(score_fn=lambda x: jnp.zeros(3)),
        ValueError,
        "score_fn",
    ),
    Case("barker integer position", lambda: _init(jnp.zeros(2, jnp.int32)), TypeError, "position"),
    Case(
        "barker start not finite",
        lambda: _init(jnp.asarray([jnp.nan, 0.0])),
        ValueError,
        "position",
    ),
    Case("barker bounds not a pair", lambda: _sampler(bounds=(0.0,)), ValueError, "bounds"),
    Case("barker bounds crossed", lambda: _sampler(bounds=(1.0, -1.0)), ValueError, "bounds"),
    Case("barker bounds nan", lambda: _sampler(bounds=(np.nan, 1.0)), ValueError, "bounds"),
    Case(
        "barker start outside bounds",
        lambda: _init(jnp.full(2, 2.0), bounds=(-1.0, 1.0)),
        ValueError,
        "bounds",
    ),
    Case(
        "barker cholesky not lower triangular (a covariance)",
        lambda: _sampler(cholesky=jnp.asarray([[2.0, 0.5], [0.5, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "barker.step cholesky not lower triangular",
        lambda: _step(cholesky=jnp.asarray([[2.0, 0.5], [0.5, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "barker cholesky not square",
        lambda: _sampler(cholesky=jnp.ones((2, 3))),
        ValueError,
        "cholesky",
    ),
    Case(
        "barker cholesky zero diagonal",
        lambda: _sampler(cholesky=jnp.asarray([[1.0, 0.0], [0.5, 0.0]])),
        ValueError,
        "cholesky",
    ),
    Case(
        "barker cholesky integer",
        lambda: _sampler(cholesky=np.eye(2, dtype=int)),
        TypeError,
        "cholesky",
    ),
    Case(
        "barker cholesky wrong size at init",
        lambda: _init(cholesky=jnp.eye(3)),
        ValueError,
        "cholesky",
    ),
    Case(
        "barker cholesky with a per-coordinate step",
        lambda: _sampler(step_size=[0.5, 0.5], cholesky=jnp.eye(2)),
        ValueError,
        "step_size",
    ),
    Case(
        "barker step negative at the call", lambda: _step(step_size=-0.5), ValueError, "step_size"
    ),
    Case("barker step bounds crossed", lambda: _step(bounds=(1.0, 0.0)), ValueError, "bounds"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
