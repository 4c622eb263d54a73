"""subsampled / find_mode: a NumPyro model's data plate as minibatch gradients.

Exact checks: the minibatch log density averaged over batches that partition
the data is the full-data log density (value and gradient), for a subsampling
plate and a plain one; its ``N / n`` scaling is NumPyro's own; the estimators
of :mod:`jlangevin.gradients` built on it are exact where they must be.
Statistical check: SGLD with control variates at the mode found by optax
recovers the exact posterior mean of a conjugate Normal model within 4 MCSE
(SGLD on a Gaussian target keeps the mean exact whatever the step). Broken
companions undo the split's scaling (NumPyro's ``N / n`` plate scale left in,
by monkeypatching ``_point_weight``) and must fail the same checks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jlangevin as jl
from jlangevin.models import Subsampled, find_mode, subsampled
from jlangevin.models import subsample as subsample_module

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

N, BATCH = 40, 8
PRIOR_SD = 0.5  # mu ~ Normal(0, PRIOR_SD); y_i ~ Normal(mu, 1)
Y = jnp.asarray(2.0 + np.random.default_rng(0).normal(size=N), jnp.float32)
PRECISION = 1 / PRIOR_SD**2 + N
EXACT_MEAN = float(jnp.sum(Y)) / PRECISION


def subsampling_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("data", len(y), subsample_size=BATCH) as idx:
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y[idx])


def plain_model(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def regression(x, y):  # a positive scale too (a Jacobian), and a covariate sliced with y
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", y.shape[0], subsample_size=5) as idx:
        numpyro.sample("y", dist.Normal(x[idx] @ beta, sigma), obs=y[idx])


X_REG = np.random.default_rng(1).normal(size=(N, 2))
Y_REG = X_REG @ np.array([0.5, -1.0]) + 0.3 * np.random.default_rng(2).normal(size=N)
POINTS = [
    {"mu": jnp.asarray(0.3)},
    {"mu": jnp.asarray(-1.1)},
]
REG_POINT = {"beta": jnp.asarray([0.2, -0.4]), "sigma": jnp.asarray(-0.5)}


@pytest.fixture(scope="module")
def parts():
    return subsampled(subsampling_model, Y)


@pytest.fixture(scope="module")
def regression_parts():
    return subsampled(regression, X_REG, Y_REG)


def _partition_average(parts: Subsampled, position, batch_size: int):
    """Mean over batches partitioning range(N) of the minibatch log density and gradient."""
    batches = jnp.arange(parts.num_data).reshape(-1, batch_size)
    value_and_grad = jax.jit(jax.value_and_grad(parts.batch_logdensity_fn))
    outs = [value_and_grad(position, batch) for batch in batches]
    return jax.tree.map(lambda *leaves: sum(leaves) / len(outs), *outs)


@pytest.mark.long
@pytest.mark.parametrize("model", [subsampling_model, plain_model], ids=["subsample", "plain"])
def test_batches_partitioning_the_data_average_to_the_full_gradient(model):
    parts = subsampled(model, Y)
    assert (parts.plate, parts.num_data) == ("data", N)
    for position in POINTS:
        value, grad = _partition_average(parts, position, BATCH)
        full_value, full_grad = jax.value_and_grad(parts.model.logdensity_fn)(position)
        np.testing.assert_allclose(value, full_value, rtol=1e-5)
        np.testing.assert_allclose(grad["mu"], full_grad["mu"], rtol=1e-5, atol=1e-4)


@pytest.mark.long
def test_with_a_jacobian_and_a_covariate(regression_parts):
    parts = regression_parts
    assert parts.plate == "obs" and parts.model.latent_names == ("beta", "sigma")
    value, grad = _partition_average(parts, REG_POINT, 5)
    full_value, full_grad = jax.value_and_grad(parts.model.logdensity_fn)(REG_POINT)
    np.testing.assert_allclose(value, full_value, rtol=1e-5)
    for name in ("beta", "sigma"):
        np.testing.assert_allclose(grad[name], full_grad[name], rtol=1e-4, atol=1e-3)


def test_the_minibatch_scaling_is_numpyros_own(regression_parts):
    from numpyro.infer.util import potential_energy

    from jlangevin.models.numpyro import set_plates

    parts = regression_parts
    batch = jnp.asarray([3, 17, 0, 25, 9])
    at_batch = set_plates(regression, {"obs": batch})
    numpyros = -potential_energy(at_batch, (jnp.asarray(X_REG), jnp.asarray(Y_REG)), {}, REG_POINT)
    np.testing.assert_allclose(parts.batch_logdensity_fn(REG_POINT, batch), numpyros, rtol=1e-5)


@pytest.mark.long
def test_the_estimators_are_exact_where_they_must_be(parts):
    position = POINTS[0]
    full_value, full_grad = jax.value_and_grad(parts.model.logdensity_fn)(position)
    value, grad = parts.minibatch(N)(jax.random.key(0), position)  # the whole data set
    np.testing.assert_allclose(value, full_value, rtol=1e-5)
    np.testing.assert_allclose(grad["mu"], full_grad["mu"], rtol=1e-5)
    cv = parts.control_variates(BATCH, position)  # at its centre: no variance
    for seed in range(3):
        value, grad = cv(jax.random.key(seed), position)
        np.testing.assert_allclose(grad["mu"], full_grad["mu"], rtol=1e-5)
    svrg = parts.svrg(BATCH, update_every=10)
    value, grad, _ = svrg(jax.random.key(0), position, svrg.init(position))  # a refresh: exact
    np.testing.assert_allclose(grad["mu"], full_grad["mu"], rtol=1e-5)


def test_broken_scaling_companion_fails_the_partition_check(monkeypatch):
    # NumPyro's N / n scale of the plate's sites left in: each point counts N times.
    monkeypatch.setattr(subsample_module, "_point_weight", lambda size, num_indices: 1.0)
    monkeypatch.setattr(subsample_module, "_check_split", lambda *args: None)
    parts = subsampled(subsampling_model, Y)
    value, _ = _partition_average(parts, POINTS[0], BATCH)
    assert not np.isclose(value, parts.model.logdensity_fn(POINTS[0]), rtol=1e-2)


def test_construction_check_catches_a_wrong_split(monkeypatch):
    monkeypatch.setattr(subsample_module, "_point_weight", lambda size, num_indices: 1.0)
    with pytest.raises(ValueError, match="does not split at the plate 'data'"):
        subsampled(subsampling_model, Y)


def test_find_mode_is_the_exact_mode(parts):
    mode = find_mode(jax.random.key(0), parts, num_steps=500, optimizer=optax.adam(0.05))
    assert set(mode) == {"mu"} and mode["mu"].shape == ()
    np.testing.assert_allclose(mode["mu"], EXACT_MEAN, atol=1e-3)  # Gaussian: mode = mean


def _sgld_z_score(parts: Subsampled) -> float:
    """(posterior mean by SGLD with control variates - exact) / MCSE."""
    mode = find_mode(jax.random.key(0), parts.model, num_steps=500, optimizer=optax.adam(0.05))
    sampler = jl.sgld(parts.control_variates(BATCH, mode), step_size=0.01)
    positions = parts.model.init(jax.random.key(1), 8)
    trace = jl.run(jax.random.key(2), sampler, positions, 2_000, burnin=200)
    mu = np.asarray(trace.positions["mu"], dtype=float)
    return (mu.mean() - EXACT_MEAN) / float(jl.diagnostics.mcse(mu))


@pytest.mark.long
def test_sgld_with_control_variates_recovers_the_posterior_mean(parts):
    z = _sgld_z_score(parts)
    assert abs(z) < 4, z


@pytest.mark.long
def test_broken_scaling_companion_misses_the_posterior_mean(monkeypatch):
    # NumPyro's N / n plate scale divided out twice: each point counts 1 / N times.
    monkeypatch.setattr(
        subsample_module, "_point_weight", lambda size, num_indices: (num_indices / size) ** 2
    )
    monkeypatch.setattr(subsample_module, "_check_split", lambda *args: None)
    z = _sgld_z_score(subsampled(subsampling_model, Y))
    assert abs(z) > 4, z


@pytest.mark.long
def test_sghmc_with_svrg_runs_finite(regression_parts):
    parts = regression_parts
    sampler = jl.sghmc(parts.svrg(5, update_every=20), step_size=1e-3, friction=5.0)
    trace = jl.run(jax.random.key(0), sampler, parts.model.init(jax.random.key(1), 2), 200)
    assert trace.num_diverged_chains == 0
    assert all(np.all(np.isfinite(np.asarray(v))) for v in trace.positions.values())


def test_from_numpyro_of_a_subsampling_model_is_the_full_data_model(parts):
    full = jl.from_numpyro(plain_model, Y)
    for position in POINTS:
        np.testing.assert_allclose(
            parts.model.logdensity_fn(position), full.logdensity_fn(position), rtol=1e-6
        )
