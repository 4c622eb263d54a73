"""Bad parameters and calls of the analytic targets: each a clear error naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.targets import Target

T = jl.targets
GAUSS = T.gaussian([0.0, 1.0], scale=[1.0, 2.0])
KEY = jax.random.key(0)

CASES = [
    Case("gaussian mean NaN", lambda: T.gaussian([0.0, np.nan]), ValueError, "mean"),
    Case("gaussian mean inf", lambda: T.gaussian(np.array([np.inf])), ValueError, "mean"),
    Case("gaussian mean empty", lambda: T.gaussian([]), ValueError, "mean"),
    Case("gaussian mean a matrix", lambda: T.gaussian(np.zeros((2, 2))), ValueError, "mean"),
    Case("gaussian mean strings", lambda: T.gaussian(["a", "b"]), TypeError, "mean"),
    Case("gaussian mean ragged", lambda: T.gaussian([[0.0], [1.0, 2.0]]), ValueError, "mean"),
    Case(
        "gaussian cov not positive definite",
        lambda: T.gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]),
        ValueError,
        "cov",
    ),
    Case(
        "gaussian cov singular",
        lambda: T.gaussian([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]]),
        ValueError,
        "cov",
    ),
    Case("gaussian cov wrong shape", lambda: T.gaussian([0.0, 0.0], np.eye(3)), ValueError, "cov"),
    Case(
        "gaussian cov not symmetric",
        lambda: T.gaussian([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]),
        ValueError,
        "cov",
    ),
    Case("gaussian cov NaN", lambda: T.gaussian([0.0], [[np.nan]]), ValueError, "cov"),
    Case("gaussian scale negative", lambda: T.gaussian([0.0], scale=[-1.0]), ValueError, "scale"),
    Case("gaussian scale zero", lambda: T.gaussian([0.0, 0.0], scale=0.0), ValueError, "scale"),
    Case(
        "gaussian scale wrong length",
        lambda: T.gaussian([0.0, 0.0], scale=[1.0, 2.0, 3.0]),
        ValueError,
        "scale",
    ),
    Case(
        "gaussian cov and scale", lambda: T.gaussian([0.0], [[1.0]], scale=1.0), ValueError, "scale"
    ),
    Case(
        "mixture weights negative",
        lambda: T.gaussian_mixture([-0.5, 1.5], [[0.0], [1.0]], [1.0, 1.0]),
        ValueError,
        "weights",
    ),
    Case(
        "mixture weights NaN",
        lambda: T.gaussian_mixture([np.nan, 1.0], [[0.0], [1.0]], [1.0, 1.0]),
        ValueError,
        "weights",
    ),
    Case(
        "mixture means rows",
        lambda: T.gaussian_mixture([0.5, 0.5], [[0.0]], [1.0]),
        ValueError,
        "means",
    ),
    Case(
        "mixture means inf",
        lambda: T.gaussian_mixture([0.5, 0.5], [[0.0], [np.inf]], [1.0, 1.0]),
        ValueError,
        "means",
    ),
    Case(
        "mixture scales shape",
        lambda: T.gaussian_mixture([0.5, 0.5], [[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0, 1.0]]),
        ValueError,
        "scales",
    ),
    Case(
        "mixture scales zero",
        lambda: T.gaussian_mixture([0.5, 0.5], [[0.0], [1.0]], [1.0, 0.0]),
        ValueError,
        "scales",
    ),
    Case(
        "noised mixture sigma negative",
        lambda: T.noised_mixture([1.0], [[0.0]], [1.0], sigma=-0.1),
        ValueError,
        "sigma",
    ),
    Case(
        "noised mixture sigma a string",
        lambda: T.noised_mixture([1.0], [[0.0]], [1.0], sigma="0.1"),
        TypeError,
        "sigma",
    ),
    Case("dice scale zero", lambda: T.dice(scale=0.0), ValueError, "scale"),
    Case("dice scale NaN", lambda: T.dice(np.float32(np.nan)), ValueError, "scale"),
    Case("dice scale a list", lambda: T.dice([0.2]), TypeError, "scale"),
    Case("dice scale a bool", lambda: T.dice(True), TypeError, "scale"),
    Case("ellipse radii zero", lambda: T.ellipse(radii=(0.0, 1.0)), ValueError, "radii"),
    Case("ellipse radii three", lambda: T.ellipse(radii=(1.0, 1.0, 1.0)), ValueError, "radii"),
    Case("ellipse centre NaN", lambda: T.ellipse(centre=(np.nan, 0.0)), ValueError, "centre"),
    Case("ellipse width negative", lambda: T.ellipse(width=-0.1), ValueError, "width"),
    Case("banana scale inf", lambda: T.banana(scale=np.inf), ValueError, "scale"),
    Case("banana curvature NaN", lambda: T.banana(curvature=float("nan")), ValueError, "curvature"),
    Case("logdensity wrong shape", lambda: GAUSS.logdensity(jnp.zeros(3)), ValueError, "`x`"),
    Case("logdensity batch", lambda: GAUSS.logdensity(jnp.zeros((2, 2))), ValueError, "`x`"),
    Case(
        "quartic logdensity two coordinates",
        lambda: T.quartic().logdensity(jnp.zeros(2)),
        ValueError,
        "`x`",
    ),
    Case("pdf wrong last axis", lambda: GAUSS.pdf(jnp.zeros((5, 3))), ValueError, "`x`"),
    Case("sample n zero", lambda: GAUSS.sample(KEY, 0), ValueError, "`n`"),
    Case("sample n float", lambda: GAUSS.sample(KEY, 10.0), TypeError, "`n`"),
    Case("sample key an int", lambda: GAUSS.sample(0, 10), TypeError, "`key`"),
    Case("Target dim zero", lambda: Target("t", lambda x: 0.0, dim=0), ValueError, "dim"),
    Case(
        "Target mean wrong shape",
        lambda: Target("t", lambda x: 0.0, dim=2, mean=np.zeros(3)),
        ValueError,
        "mean",
    ),
    Case(
        "Target logdensity not callable",
        lambda: Target("t", 1.0, dim=1),
        TypeError,
        "logdensity",
    ),
    Case(
        "Target support reversed",
        lambda: Target("t", lambda x: 0.0, dim=1, support=(1.0, 0.0)),
        ValueError,
        "support",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
