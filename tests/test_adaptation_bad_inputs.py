"""Bad arguments of the MALA warm-up and its pieces: clear errors naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

from jlangevin import adaptation

KEY = jax.random.key(0)
X0 = jnp.zeros((2, 3))


def logp(x):
    return -0.5 * jnp.sum(x**2)


def warmup(*, key=KEY, fn=logp, positions=X0, num_steps=30, **kwargs):
    return adaptation.mala_warmup(key, fn, positions, num_steps, **kwargs)


CASES = [
    Case("num_steps below 20", lambda: warmup(num_steps=10), ValueError, "num_steps"),
    Case("num_steps float", lambda: warmup(num_steps=100.0), TypeError, "num_steps"),
    Case("num_steps bool", lambda: warmup(num_steps=True), TypeError, "num_steps"),
    Case("num_steps string", lambda: warmup(num_steps="100"), TypeError, "num_steps"),
    Case(
        "target_acceptance above 1",
        lambda: warmup(target_acceptance=1.2),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "target_acceptance zero",
        lambda: warmup(target_acceptance=np.float32(0.0)),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "target_acceptance NaN",
        lambda: warmup(target_acceptance=float("nan")),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "target_acceptance a list",
        lambda: warmup(target_acceptance=[0.5]),
        TypeError,
        "target_acceptance",
    ),
    Case(
        "initial_step_size negative",
        lambda: warmup(initial_step_size=-1.0),
        ValueError,
        "initial_step_size",
    ),
    Case(
        "initial_step_size inf",
        lambda: warmup(initial_step_size=np.inf),
        ValueError,
        "initial_step_size",
    ),
    Case(
        "initial_step_size None",
        lambda: warmup(initial_step_size=None),
        TypeError,
        "initial_step_size",
    ),
    Case(
        "preconditioner unknown",
        lambda: warmup(preconditioner="full"),
        ValueError,
        "preconditioner",
    ),
    Case(
        "preconditioner not a string",
        lambda: warmup(preconditioner=2),
        ValueError,
        "preconditioner",
    ),
    Case(
        "shrinkage above 1",
        lambda: warmup(preconditioner="dense", shrinkage=2.0),
        ValueError,
        "shrinkage",
    ),
    Case("shrinkage NaN", lambda: warmup(shrinkage=np.nan), ValueError, "shrinkage"),
    Case("logdensity_fn not callable", lambda: warmup(fn=None), TypeError, "logdensity_fn"),
    Case("score_fn not callable", lambda: warmup(score_fn=1.0), TypeError, "score_fn"),
    Case("key an int", lambda: warmup(key=0), TypeError, "key"),
    Case("positions a scalar", lambda: warmup(positions=jnp.zeros(())), ValueError, "positions"),
    Case(
        "positions leading axes differ",
        lambda: warmup(positions={"a": jnp.zeros((2, 1)), "b": jnp.zeros((3, 1))}),
        ValueError,
        "positions",
    ),
    Case(
        "positions no chains", lambda: warmup(positions=jnp.zeros((0, 3))), ValueError, "positions"
    ),
    Case(
        "positions integer",
        lambda: warmup(positions=jnp.zeros((2, 3), jnp.int32)),
        TypeError,
        "positions",
    ),
    Case(
        "positions NaN",
        lambda: warmup(positions=X0.at[1, 2].set(jnp.nan)),
        ValueError,
        "positions",
    ),
    Case("bounds reversed", lambda: warmup(bounds=(1.0, 0.0)), ValueError, "bounds"),
    Case(
        "window_schedule negative buffer",
        lambda: adaptation.window_schedule(500, initial_buffer=-1),
        ValueError,
        "initial_buffer",
    ),
    Case(
        "window_schedule zero base window",
        lambda: adaptation.window_schedule(500, base_window=0),
        ValueError,
        "base_window",
    ),
    Case(
        "dual_averaging_init non-positive step",
        lambda: adaptation.dual_averaging_init(jnp.asarray(0.0)),
        ValueError,
        "step_size",
    ),
    Case(
        "dual_averaging_update target outside (0, 1)",
        lambda: adaptation.dual_averaging_update(
            adaptation.dual_averaging_init(jnp.asarray(1.0)), jnp.asarray(0.5), 1.5
        ),
        ValueError,
        "target",
    ),
    Case(
        "welford_init dim zero",
        lambda: adaptation.welford_init(0, False, jnp.float32),
        ValueError,
        "dim",
    ),
    Case(
        "welford_init integer dtype",
        lambda: adaptation.welford_init(3, False, jnp.int32),
        TypeError,
        "dtype",
    ),
    Case(
        "welford_update draws of the wrong width",
        lambda: adaptation.welford_update(
            adaptation.welford_init(3, False, jnp.float32), jnp.zeros((4, 2))
        ),
        ValueError,
        "draws",
    ),
    Case(
        "regularized_covariance shrinkage negative",
        lambda: adaptation.regularized_covariance(
            adaptation.welford_init(3, True, jnp.float32), -0.1
        ),
        ValueError,
        "shrinkage",
    ),
    Case(
        "geometric_mean_metric shapes differ",
        lambda: adaptation.geometric_mean_metric(jnp.eye(3), jnp.eye(2)),
        ValueError,
        "cov_scores",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
