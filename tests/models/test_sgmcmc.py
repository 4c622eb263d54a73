"""The pieces of an SG run (Laplace whitening, estimators over it) and the batched log likelihood.

Exact checks: the Hessian of a Gaussian log density is its precision; the dense
whitening turns it into the identity and inverts exactly; an estimator over the
whole data set is the full-data gradient by the chain rule (``Wᵀ ∇ log p``).
The per-observation log likelihood of a long trace with many observations is
computed a few positions per compiled call and equals the one-call result; a
companion that forgets the transpose of the chain rule fails the gradient check.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jlangevin as jl
from jlangevin.models import sgmcmc

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

N = 60
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, 2)).astype(np.float32)
Y = (RNG.random(N) < 1 / (1 + np.exp(-X @ np.array([1.0, -1.0])))).astype(np.float32)


def logistic(x, y):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    b = numpyro.sample("b", dist.Normal(0.0, 2.0))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=x @ w + b), obs=y)


@pytest.fixture(scope="module")
def parts():
    return jl.models.subsampled(logistic, X, Y)


A = jnp.asarray([[3.0, 1.0], [1.0, 2.0]])


def gaussian(position):
    x = position["x"]
    return -0.5 * x @ A @ x


def test_precision_of_a_gaussian_is_its_precision_matrix():
    precision = sgmcmc.precision_at(gaussian, {"x": jnp.asarray([0.3, -0.2])})
    np.testing.assert_allclose(precision, A, rtol=1e-6)


@pytest.mark.parametrize("kind", ["dense", "diagonal"])
def test_whitening_maps_back_exactly(kind):
    centre = {"x": jnp.asarray([0.5, 1.0])}
    w = sgmcmc.laplace_whitening(A, centre, kind)
    point = {"x": jnp.asarray([-0.2, 0.7])}
    np.testing.assert_allclose(w.position(w.whiten(point))["x"], point["x"], rtol=1e-5)
    factor = np.asarray(w.factor)
    matrix = factor if factor.ndim == 2 else np.diag(factor)
    whitened = matrix.T @ np.asarray(A) @ matrix
    if kind == "dense":
        np.testing.assert_allclose(whitened, np.eye(2), atol=1e-5)
        assert w.stiffness == 1.0
    else:
        np.testing.assert_allclose(np.diag(whitened), 1.0, rtol=1e-5)
        assert w.stiffness == pytest.approx(np.max(np.linalg.eigvalsh(whitened)), rel=1e-5)


def test_a_flat_or_negative_direction_is_floored_not_inverted():
    w = sgmcmc.laplace_whitening(np.diag([4.0, 0.0, -1.0]), jnp.zeros(3), "diagonal")
    assert np.all(np.isfinite(np.asarray(w.factor)))
    with pytest.raises(ValueError, match="Hessian at the mode is not finite"):
        sgmcmc.laplace_whitening(np.diag([1.0, np.nan]), jnp.zeros(2), "dense")


def _full_batch_gradient_check(parts) -> float:
    """Largest |estimate over all N points - Wᵀ ∇ log p| in z, relative."""
    mode = {"w": jnp.asarray([0.8, -0.9]), "b": jnp.asarray(0.1)}
    w = sgmcmc.laplace_whitening(sgmcmc.precision_at(parts.model.logdensity_fn, mode), mode)
    z = jnp.asarray([0.3, -0.5, 0.2])
    estimator = sgmcmc.estimator(parts, w, N, "minibatch")
    _, estimate = jax.jit(lambda key, z: estimator(key, z))(jax.random.key(0), z)
    grad = jax.jit(jax.grad(parts.model.logdensity_fn))(w.position(z))
    flat, _ = ravel_pytree(grad)
    expected = np.asarray(w.factor).T @ np.asarray(flat)
    return float(np.max(np.abs(np.asarray(estimate) - expected)) / np.max(np.abs(expected)))


@pytest.mark.long
def test_an_estimator_over_all_points_is_the_chain_rule_gradient(parts):
    assert _full_batch_gradient_check(parts) < 1e-4


def test_broken_companion_without_the_transpose_fails(parts, monkeypatch):
    def untransposed(self, z):  # W z -> Wᵀ z: the chain rule breaks for a non-symmetric W
        moved = self.factor.T @ z if self.factor.ndim == 2 else self.factor * z
        return self.unravel(self.centre + moved)

    monkeypatch.setattr(sgmcmc.Whitening, "position", untransposed)
    assert _full_batch_gradient_check(parts) > 1e-2


def test_gradients_per_step_counts_point_gradients():
    assert sgmcmc.gradients_per_step("minibatch", 10, 100) == pytest.approx(0.1)
    assert sgmcmc.gradients_per_step("control_variates", 10, 100) == pytest.approx(0.2)
    assert sgmcmc.gradients_per_step("svrg", 10, 100) == pytest.approx(0.2 + 0.1)


# --------------------------------------------------------------------------- #
# The per-observation log likelihood, in batches
# --------------------------------------------------------------------------- #
@pytest.mark.long
def test_log_likelihood_is_computed_in_batches_and_equals_one_call(parts, monkeypatch):
    model = parts.model
    positions = model.init(jax.random.key(1), 3)
    positions = jax.tree.map(lambda x: jnp.stack([x + 0.1 * k for k in range(7)], 1), positions)
    whole = np.asarray(model.log_likelihood(positions)["y"])  # (3, 7, N) in one call
    assert whole.shape == (3, 7, N)
    assert model.positions_per_call("log_likelihood") == jl.Model.batch_size

    seen = []
    compiled = jl.Model._compiled

    def spy(self, which):
        fn = compiled(self, which)

        def call(flat):
            seen.append(jax.tree.leaves(flat)[0].shape[0])
            return fn(flat)

        return call

    monkeypatch.setattr(jl.Model, "output_budget", 4 * N)  # four positions' outputs a call
    monkeypatch.setattr(jl.Model, "_compiled", spy)
    assert model.positions_per_call("log_likelihood") == 4
    batched = np.asarray(model.log_likelihood(positions)["y"])
    assert seen and max(seen) == 4 and len(seen) == 6  # 21 positions: 6 calls, the last padded
    np.testing.assert_allclose(batched, whole, rtol=1e-6)
    trace = jax.tree.map(lambda x: x[:, :5], positions)
    idata = jl.to_arviz(trace, model=model)
    np.testing.assert_allclose(idata.log_likelihood["y"].values, whole[:, :5], rtol=1e-6)


# --------------------------------------------------------------------------- #
# The bias check: full-data Metropolis acceptance of the Langevin move
# --------------------------------------------------------------------------- #
def _exact_acceptance(h: float, scale: float = 1.0) -> float:
    """E min(1, α) of MALA on N(0, scale²) at h, x ~ N(0, 1) and ξ ~ N(0, 1), by quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    weights = weights / weights.sum()
    x, xi = np.meshgrid(nodes, nodes, indexing="ij")
    grad = lambda v: -v / scale**2  # noqa: E731
    y = x + h * grad(x) + np.sqrt(2 * h) * xi
    log_alpha = -0.5 * (y**2 - x**2) / scale**2 - (x - y - h * grad(y)) ** 2 / (4 * h) + 0.5 * xi**2
    return float(np.sum(np.outer(weights, weights) * np.minimum(1.0, np.exp(log_alpha))))


def _acceptance_z(logdensity_fn) -> float:
    """z-score of the check's estimate on N(0, 1) positions against the exact value at h = 0.8."""
    h, chains, proposals = 0.8, 4096, 8
    positions = jax.random.normal(jax.random.key(0), (chains, 1))
    key = jax.random.key(1)
    check = sgmcmc.acceptance_fn(logdensity_fn, proposals)
    got = float(check(positions, jnp.asarray(h), key))
    # the Monte Carlo error of the mean of min(1, α), from the per-proposal values
    values = [
        float(sgmcmc.acceptance_fn(logdensity_fn, 1)(positions, jnp.asarray(h), k))
        for k in jax.random.split(key, 8)
    ]
    se = np.std(values, ddof=1) / np.sqrt(len(values))
    return (got - _exact_acceptance(h)) / max(se, 1e-4)


def test_the_acceptance_check_equals_the_exact_mala_acceptance_on_a_gaussian():
    assert 0.5 < _exact_acceptance(0.8) < 0.95  # a step the check must resolve
    z = _acceptance_z(lambda z: -0.5 * jnp.sum(z**2))
    assert abs(z) < 4, z


def test_broken_companion_with_a_target_20_percent_too_wide_fails_the_same_check():
    z = _acceptance_z(lambda z: -0.5 * jnp.sum((z / 1.2) ** 2))
    assert abs(z) > 4, z


def test_the_acceptance_falls_with_the_step_and_counts_a_non_finite_move_as_rejected():
    logp = lambda z: -0.5 * jnp.sum(z**2)  # noqa: E731
    zs = jax.random.normal(jax.random.key(0), (256, 3))
    values = [sgmcmc.langevin_acceptance(logp, zs, h, jax.random.key(1)) for h in (0.01, 0.3, 3.0)]
    assert values[0] > values[1] > values[2]
    nowhere = lambda z: jnp.where(jnp.sum(z) > 1e6, 0.0, -jnp.inf) + 0.0 * jnp.sum(z)  # noqa: E731
    assert sgmcmc.langevin_acceptance(nowhere, zs, 0.1, jax.random.key(1)) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step_size": -0.1}, "step_size"),
        ({"step_size": float("nan")}, "step_size"),
        ({"positions": jnp.zeros(3)}, "positions"),
        ({"proposals": 0}, "proposals"),
    ],
)
def test_the_acceptance_check_names_a_bad_argument(kwargs, message):
    args = {"positions": jnp.zeros((4, 3)), "step_size": 0.1, "proposals": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        sgmcmc.langevin_acceptance(
            lambda z: -0.5 * jnp.sum(z**2), args["positions"], args["step_size"],
            jax.random.key(0), args["proposals"],
        )  # fmt: skip
