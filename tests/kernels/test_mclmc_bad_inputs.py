"""Bad input to MCLMC: a clear error naming the argument.

Rows have the shape of ``tests/bad_inputs.py``; they fail at construction, at
``init`` or at a direct ``step`` call, never inside XLA.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin.kernels import mclmc

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)


def _make(**kwargs):
    settings = {"logdensity_fn": LOGP, "step_size": 0.1, "decoherence_length": 1.0, **kwargs}
    return mclmc.sampler(**settings)


def _init(position=X2, **kwargs):
    return _make(**kwargs).init(position)


def _step(**kwargs):
    settings = {"step_size": 0.1, "decoherence_length": 1.0, **kwargs}
    return mclmc.step(KEY, mclmc.init(X2, LOGP), LOGP, **settings)


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
    Case("init without logdensity", lambda: mclmc.init(X2, None), TypeError, "logdensity_fn"),
    Case(
        "logdensity vector",
        lambda: _init(logdensity_fn=lambda x: -0.5 * x**2),
        ValueError,
        "logdensity_fn",
    ),
    Case("integer position", lambda: _init(jnp.zeros(2, jnp.int32)), TypeError, "position"),
    Case("one-dimensional position", lambda: _init(jnp.zeros(1)), ValueError, "position"),
    Case(
        "one-leaf pytree of size one",
        lambda: _init({"a": jnp.zeros(1)}, logdensity_fn=lambda p: -jnp.sum(p["a"] ** 2)),
        ValueError,
        "position",
    ),
    Case(
        "start outside support",
        lambda: _init(logdensity_fn=lambda x: -jnp.inf * jnp.sum(x**2 + 1)),
        ValueError,
        "log density",
    ),
    # --- step size ----------------------------------------------------------------
    Case("step_size missing", lambda: _make(step_size=None), ValueError, "step_size"),
    Case("step_size negative", lambda: _make(step_size=-0.1), ValueError, "step_size"),
    Case("step_size inf", lambda: _make(step_size=np.inf), ValueError, "step_size"),
    Case("step_size string", lambda: _make(step_size="0.1"), TypeError, "step_size"),
    Case("step_size per coordinate", lambda: _make(step_size=jnp.ones(2)), ValueError, "step_size"),
    Case("step step_size zero", lambda: _step(step_size=0.0), ValueError, "step_size"),
    # --- decoherence length -------------------------------------------------------
    Case(
        "L missing",
        lambda: _make(decoherence_length=None),
        ValueError,
        "decoherence_length",
    ),
    Case("L zero", lambda: _make(decoherence_length=0.0), ValueError, "decoherence_length"),
    Case("L negative", lambda: _make(decoherence_length=-1.0), ValueError, "decoherence_length"),
    Case("L inf", lambda: _make(decoherence_length=np.inf), ValueError, "decoherence_length"),
    Case("L nan", lambda: _make(decoherence_length=np.nan), ValueError, "decoherence_length"),
    Case("L string", lambda: _make(decoherence_length="1"), TypeError, "decoherence_length"),
    Case("L array", lambda: _make(decoherence_length=[1.0, 2.0]), TypeError, "decoherence_length"),
    Case("L callable", lambda: _make(decoherence_length=abs), TypeError, "decoherence_length"),
    Case("step L zero", lambda: _step(decoherence_length=0), ValueError, "decoherence_length"),
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
    """numpy and JAX scalars are numbers, lists are arrays; an integer L is a number."""
    for length in (np.float32(0.5), jnp.asarray(2.0), 3):
        _init(decoherence_length=length, step_size=np.float64(0.1), inverse_mass=[1.0, 2.0])
