"""Targets built from traced parameters: jit, vmap and grad agree with the eager targets."""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl

T = jl.targets
KEY = jax.random.key(0)


class Spec(NamedTuple):
    """A target constructor, its parameters (Python numbers and lists) and where to look."""

    id: str
    build: Callable[[dict], Any]
    params: dict
    x: list
    batch: tuple[str, list]  # the parameter vmapped over and its values


# Parameter values are exact in float32, so numpy/JAX float32 inputs are the same numbers.
SPECS = [
    Spec(
        "gaussian cov",
        lambda p: T.gaussian(p["mean"], [[p["var"], p["rho"]], [p["rho"], 2.0]]),
        {"mean": [0.5, -1.0], "var": 1.0, "rho": 0.25},
        [0.25, -0.5],
        ("rho", [0.0, -0.5]),
    ),
    Spec(
        "gaussian scale",
        lambda p: T.gaussian(p["mean"], scale=p["scale"]),
        {"mean": [0.5, -1.0], "scale": [0.5, 2.0]},
        [0.25, -0.5],
        ("scale", [[1.0, 1.0], [0.25, 0.75]]),
    ),
    Spec(
        "gaussian_mixture",
        lambda p: T.gaussian_mixture(p["weights"], p["means"], p["scales"]),
        {"weights": [0.25, 0.75], "means": [[-1.0, 0.0], [1.0, 0.5]], "scales": [0.5, 1.0]},
        [0.25, 0.125],
        ("weights", [[0.5, 0.5], [0.875, 0.125]]),
    ),
    Spec(
        "noised_mixture",
        lambda p: T.noised_mixture(p["weights"], p["means"], p["scales"], p["sigma"]),
        {"weights": [0.25, 0.75], "means": [[-1.0], [1.5]], "scales": [0.5, 0.25], "sigma": 0.75},
        [0.25],
        ("sigma", [0.0, 1.5]),
    ),
    Spec("dice", lambda p: T.dice(p["scale"]), {"scale": 0.25}, [2.25], ("scale", [0.125, 0.5])),
    Spec(
        "ellipse",
        lambda p: T.ellipse(p["radii"], p["centre"], p["width"]),
        {"radii": [1.0, 0.5], "centre": [0.25, -0.25], "width": 0.0625},
        [0.875, 0.125],
        ("width", [0.03125, 0.5]),
    ),
    Spec(
        "banana",
        lambda p: T.banana(p["scale"], p["curvature"]),
        {"scale": 2.0, "curvature": 0.25},
        [1.0, 0.5],
        ("curvature", [0.0, -1.0]),
    ),
]
EXACT_FIELDS = ("mean", "var", "cov")


def _as_jax(params: dict) -> dict:
    return {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}


def _values(target, x) -> dict:
    """What a traced target must reproduce: log density, score, exact moments, a CDF."""
    x = jnp.asarray(x, jnp.float32)
    out = {"logdensity": target.logdensity(x), "score": target.score(x)}
    out.update({f: getattr(target, f) for f in EXACT_FIELDS})
    if target.marginal_cdfs[0] is not None:
        out["cdf"] = target.marginal_cdfs[0](x[0])
    return out


def _assert_close(got: dict, want: dict, **tol) -> None:
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(np.asarray(got[name]), np.asarray(want[name]), **tol)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_jit_of_a_target_built_from_traced_parameters_equals_the_eager_target(spec):
    eager = _values(spec.build(spec.params), spec.x)
    traced = jax.jit(lambda p, x: _values(spec.build(p), x))(_as_jax(spec.params), spec.x)
    _assert_close(traced, eager, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_vmap_over_a_parameter_equals_a_loop(spec):
    name, values = spec.batch

    def at(value):
        return _values(spec.build({**spec.params, name: value}), spec.x)

    # Jitted: one compiled program instead of one per batched primitive run eagerly.
    batched = jax.jit(jax.vmap(at))(jnp.asarray(values, jnp.float32))
    # The loop, each value a constant of the compiled function (the host-side target).
    looped = jax.jit(lambda: [at(value) for value in values])()
    for i, one in enumerate(looped):
        _assert_close(jax.tree.map(lambda leaf, i=i: leaf[i], batched), one, rtol=2e-6)


def _finite_difference(spec, name: str, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the log density in each entry of ``name``, all in float64."""
    base = np.asarray(spec.params[name], float)
    grad = np.zeros_like(base)
    with jax.enable_x64(True):
        x = jnp.asarray(spec.x, jnp.float64)
        for i in np.ndindex(base.shape):
            step = np.zeros_like(base)
            step[i] = eps
            up = spec.build({**spec.params, name: (base + step).tolist()}).logdensity(x)
            down = spec.build({**spec.params, name: (base - step).tolist()}).logdensity(x)
            grad[i] = (float(up) - float(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_grad_in_the_parameters_matches_finite_differences(spec):
    logdensity = lambda p: spec.build(p).logdensity(jnp.asarray(spec.x))  # noqa: E731
    grads = jax.jit(jax.grad(logdensity))(_as_jax(spec.params))
    for name in spec.params:
        exact = _finite_difference(spec, name)
        np.testing.assert_allclose(grads[name], exact, rtol=1e-4, atol=1e-4, err_msg=name)


def test_the_gradient_check_can_fail():
    # Companion: the derivative in sigma of the *un-noised* mixture's scales is wrong,
    # and the same comparison sees it.
    spec = SPECS[3]
    wrong = spec._replace(
        build=lambda p: T.gaussian_mixture(
            p["weights"], p["means"], np.hypot(p["scales"], 0.9 * np.asarray(p["sigma"]))
        )
    )
    got = jax.grad(
        lambda s: spec.build({**spec.params, "sigma": s}).logdensity(jnp.asarray(spec.x))
    )
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(got(0.75), _finite_difference(wrong, "sigma"), rtol=1e-4)


# --------------------------------------------------------------------------- #
# numpy and JAX scalars are numbers; lists and arrays are arrays
# --------------------------------------------------------------------------- #
def _kinds(params: dict) -> dict:
    """The same parameters as numpy float64/float32, JAX arrays/scalars and lists of them."""
    np64 = {k: np.asarray(v) if isinstance(v, list) else np.float64(v) for k, v in params.items()}
    np32 = {k: np.asarray(v, np.float32) for k, v in params.items()}
    jax_ = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    lists_of_scalars = {
        k: [jnp.float32(e) for e in v] if isinstance(v, list) and np.ndim(v) == 1 else v
        for k, v in params.items()
    }
    return {"numpy64": np64, "numpy32": np32, "jax": jax_, "lists of jax": lists_of_scalars}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_numpy_jax_and_list_inputs_give_the_same_target(spec):
    reference = spec.build(spec.params)
    want = _values(reference, spec.x)
    for kind, params in _kinds(spec.params).items():
        target = spec.build(params)
        assert target.dim == reference.dim, kind
        _assert_close(_values(target, spec.x), want, rtol=1e-7, err_msg=kind)
        for field in EXACT_FIELDS:  # concrete parameters give float64 numpy moments
            assert isinstance(getattr(target, field), np.ndarray), (kind, field)


def test_exact_samplers_work_with_traced_parameters():
    # Traced parameters against the same parameters as constants of the compiled function.
    def draws(scale, radii, centre):
        return T.dice(scale).sample(KEY, 4), T.ellipse(radii, centre, 0.0625).sample(KEY, 4)

    params = (0.25, [1.0, 0.5], [0.25, -0.25])
    got = jax.jit(draws)(*jax.tree.map(jnp.asarray, params, is_leaf=lambda v: isinstance(v, list)))
    want = jax.jit(lambda: draws(*params))()
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_ellipse_moments_are_the_closed_form_of_the_radial_integral():
    # E[r²] under r exp(-(r-1)²/w) by brute-force quadrature, against the closed form.
    for width in (0.0625, 2.0):
        r = np.linspace(0.0, 1.0 + 40.0 * np.sqrt(width), 400_001)
        radial = r * np.exp(-((r - 1.0) ** 2) / width)
        second = np.trapezoid(r**2 * radial, r) / np.trapezoid(radial, r)
        target = T.ellipse((2.0, 1.0), (0.0, 0.0), width)
        np.testing.assert_allclose(target.var, np.array([4.0, 1.0]) * second / 2, rtol=1e-8)


# --------------------------------------------------------------------------- #
# The noise-conditional score, traced inside annealed Langevin
# --------------------------------------------------------------------------- #
W, M, S = [0.25, 0.75], [[-2.0], [2.0]], [0.5, 0.5]


def test_noised_mixture_score_runs_inside_annealed_langevin():
    def target_score(x, sigma):
        return T.noised_mixture(W, M, S, sigma).score(x)

    def closed_form_score(x, sigma):
        var = jnp.square(jnp.asarray(S)) + sigma**2
        log_comp = -0.5 * jnp.log(var) - 0.5 * (x[0] - jnp.ravel(jnp.asarray(M))) ** 2 / var
        resp = jax.nn.softmax(jnp.log(jnp.asarray(W)) + log_comp)
        return jnp.atleast_1d(jnp.sum(resp * (jnp.ravel(jnp.asarray(M)) - x[0]) / var))

    start = jnp.linspace(-3.0, 3.0, 16)[:, None]
    args = ([2.0, 0.5], 0.01, 5)
    got, info = jl.annealed_langevin(target_score, *args)(KEY, start)
    want, _ = jl.annealed_langevin(closed_form_score, *args)(KEY, start)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert int(np.sum(info.diverged)) == 0


def test_noised_mixture_in_a_jitted_loss_has_a_gradient_in_the_means():
    # A denoising loss whose "model" is the exact noised score: d loss / d means is finite
    # and matches finite differences.
    x = jnp.asarray([[0.5], [-1.0], [2.5]])
    sigma = jnp.asarray(0.7)

    @jax.jit
    def loss(means):
        score = jax.vmap(lambda y: T.noised_mixture(W, means, S, sigma).score(y))(x)
        return jnp.sum(score**2)

    g = jax.grad(loss)(jnp.asarray(M))
    eps = 1e-2
    for k in range(2):
        bump = jnp.zeros((2, 1)).at[k, 0].set(eps)
        fd = (loss(jnp.asarray(M) + bump) - loss(jnp.asarray(M) - bump)) / (2 * eps)
        np.testing.assert_allclose(g[k, 0], fd, rtol=2e-2)


# --------------------------------------------------------------------------- #
# Bad traced parameters: the shapes and dtypes are still checked
# --------------------------------------------------------------------------- #
X1 = jnp.zeros(1)


def _jit(fn, *args):
    return jax.jit(fn)(*args)


CASES = [
    Case(
        "noised mixture traced sigma a vector",
        lambda: _jit(
            lambda s: T.noised_mixture([1.0], [[0.0]], [1.0], s).logdensity(X1), jnp.ones(2)
        ),
        TypeError,
        "sigma",
    ),
    Case(
        "noised mixture traced sigma complex",
        lambda: _jit(lambda s: T.noised_mixture([1.0], [[0.0]], [1.0], s).logdensity(X1), 1j),
        TypeError,
        "sigma",
    ),
    Case(
        "dice traced scale a bool", lambda: _jit(lambda s: T.dice(s).mean, True), TypeError, "scale"
    ),
    Case(
        "mixture traced means with too many rows",
        lambda: _jit(
            lambda m: T.gaussian_mixture([0.5, 0.5], m, [1.0, 1.0]).mean, jnp.zeros((3, 1))
        ),
        ValueError,
        "means",
    ),
    Case(
        "mixture traced scales of the wrong shape",
        lambda: _jit(
            lambda s: T.gaussian_mixture([0.5, 0.5], [[0.0], [1.0]], s).mean, jnp.ones((2, 3))
        ),
        ValueError,
        "scales",
    ),
    Case(
        "gaussian traced cov of the wrong shape",
        lambda: _jit(lambda c: T.gaussian([0.0, 0.0], c).mean, jnp.eye(3)),
        ValueError,
        "cov",
    ),
    Case(
        "gaussian traced complex mean",
        lambda: _jit(lambda m: T.gaussian(m).mean, jnp.zeros(2, jnp.complex64)),
        TypeError,
        "mean",
    ),
    Case(
        "gaussian traced mean a matrix",
        lambda: _jit(lambda m: T.gaussian(m).mean, jnp.zeros((2, 2))),
        ValueError,
        "mean",
    ),
    Case(
        "ellipse traced radii of length three",
        lambda: _jit(lambda r: T.ellipse(r).mean, jnp.ones(3)),
        ValueError,
        "radii",
    ),
    Case(
        "ellipse sampler with a traced width",
        lambda: _jit(lambda w: T.ellipse(width=w).sample(KEY, 3), 0.05),
        TypeError,
        "width",
    ),
    Case(
        "banana traced curvature a vector",
        lambda: _jit(lambda b: T.banana(2.0, b).mean, jnp.ones(2)),
        TypeError,
        "curvature",
    ),
    Case(
        "noised mixture sigma a list",
        lambda: T.noised_mixture([1.0], [[0.0]], [1.0], sigma=[0.5]),
        TypeError,
        "sigma",
    ),
    Case(
        "noised mixture sigma a numpy NaN",
        lambda: T.noised_mixture([1.0], [[0.0]], [1.0], sigma=np.float32(np.nan)),
        ValueError,
        "sigma",
    ),
    Case(
        "mixture weights a list with a negative JAX scalar",
        lambda: T.gaussian_mixture([jnp.float32(-0.5), 1.5], [[0.0], [1.0]], [1.0, 1.0]),
        ValueError,
        "weights",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
