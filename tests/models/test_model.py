"""Model: one-position functions, mapped over any leading axes; init; the ArviZ groups."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.diagnostics.arviz_io import ARVIZ_1, group_dataset
from jlangevin.models import Model, init_uniform
from jlangevin.models.arviz import to_inference_data

COUNTS = np.array([3.0, 1.0, 4.0, 1.0, 5.0])


def _logdensity(p):
    """rate ~ Exponential(1), counts ~ Poisson(rate), on u = log rate (Jacobian + u)."""
    rate = jnp.exp(p["log_rate"])
    return -rate + p["log_rate"] + jnp.sum(COUNTS * p["log_rate"] - rate)


def _log_likelihood(p):
    rate = jnp.exp(p["log_rate"])
    return {"counts": COUNTS * p["log_rate"] - rate - jax.scipy.special.gammaln(COUNTS + 1)}


def _constrain(p):
    rate = jnp.exp(p["log_rate"])
    return {"rate": rate, "rate_squared": rate**2}


@pytest.fixture(scope="module")
def poisson_model():
    return Model(
        _logdensity,
        init_uniform({"log_rate": jnp.zeros(())}),
        constrain=_constrain,
        log_likelihood=_log_likelihood,
        observed_data={"counts": COUNTS},
        deterministic_names=("rate_squared",),
    )


@pytest.fixture(scope="module")
def poisson_trace(poisson_model):
    sampler = jl.mala(poisson_model.logdensity_fn, step_size=0.05)
    positions = poisson_model.init(jax.random.key(0), 4)
    return jl.run(jax.random.key(1), sampler, positions, 200, burnin=100)


def test_names_and_shapes(poisson_model):
    m = poisson_model
    assert m.latent_names == ("log_rate",)
    assert set(m.names) == {"rate", "rate_squared"}
    assert m.deterministic_names == ("rate_squared",)
    assert m.observed_names == ("counts",)
    assert m.position_shapes["log_rate"].shape == ()
    np.testing.assert_array_equal(m.observed_data["counts"], COUNTS)


def test_init_has_a_chain_axis_and_chains_differ(poisson_model):
    positions = poisson_model.init(jax.random.key(3), 6)
    assert positions["log_rate"].shape == (6,)
    assert len(np.unique(np.asarray(positions["log_rate"]))) == 6
    assert np.all(np.abs(np.asarray(positions["log_rate"])) < 2.0)
    again = poisson_model.init(jax.random.key(3), np.int64(6))  # numpy and JAX integers count
    np.testing.assert_array_equal(again["log_rate"], positions["log_rate"])
    assert poisson_model.init(jax.random.PRNGKey(3), jnp.int32(2))["log_rate"].shape == (2,)


def test_constrain_keeps_any_leading_axes(poisson_model):
    u = jnp.linspace(-1.0, 1.0, 24).reshape(2, 3, 4)
    out = poisson_model.constrain({"log_rate": u})
    assert out["rate"].shape == (2, 3, 4)
    np.testing.assert_allclose(out["rate"], np.exp(u), rtol=1e-6)
    np.testing.assert_allclose(out["rate_squared"], np.exp(2 * u), rtol=1e-5)
    one = poisson_model.constrain({"log_rate": jnp.asarray(0.5)})
    assert one["rate"].shape == ()


def test_log_likelihood_is_per_observation(poisson_model):
    u = jnp.zeros((3, 5))
    ll = poisson_model.log_likelihood({"log_rate": u})
    assert ll["counts"].shape == (3, 5, len(COUNTS))
    from scipy import stats

    np.testing.assert_allclose(ll["counts"][0, 0], stats.poisson.logpmf(COUNTS, 1.0), rtol=1e-5)


def test_model_is_immutable(poisson_model):
    with pytest.raises(AttributeError, match="immutable"):
        poisson_model.logdensity_fn = None
    with pytest.raises(TypeError):
        poisson_model.observed_data["counts"] = COUNTS


def test_array_positions_and_identity_constrain():
    model = Model(lambda x: -0.5 * jnp.sum(x**2), init_uniform(jnp.zeros(3), radius=0.5))
    assert model.latent_names == ("x",) and model.names == ("x",)
    assert not model.has_log_likelihood
    positions = model.init(jax.random.key(0), 2)
    assert positions.shape == (2, 3)
    np.testing.assert_array_equal(model.constrain(positions)["x"], positions)


def test_init_uniform_is_reproducible_and_inside_the_radius():
    init = init_uniform({"a": jnp.ones(4), "b": jnp.zeros((2, 2))}, radius=0.25)
    p, q = init(jax.random.key(5)), init(jax.random.key(5))
    np.testing.assert_array_equal(p["a"], q["a"])
    assert np.all(np.abs(np.asarray(p["a"]) - 1.0) < 0.25)
    assert np.all(np.abs(np.asarray(p["b"])) < 0.25)


def test_inference_data_groups(poisson_model, poisson_trace):
    idata = to_inference_data(poisson_trace, poisson_model, dims={"counts": ["obs"]})
    assert type(idata).__name__ == ("DataTree" if ARVIZ_1 else "InferenceData")
    posterior = group_dataset(idata, "posterior")
    assert set(posterior.data_vars) == {"rate", "rate_squared"}
    assert posterior["rate"].dims == ("chain", "draw")
    np.testing.assert_allclose(
        posterior["rate"].values, np.exp(np.asarray(poisson_trace.positions["log_rate"])), rtol=1e-6
    )
    unconstrained = group_dataset(idata, "unconstrained_posterior")
    np.testing.assert_array_equal(
        unconstrained["log_rate"].values, np.asarray(poisson_trace.positions["log_rate"])
    )
    stats = group_dataset(idata, "sample_stats")
    assert {"lp", "diverging", "acceptance_rate", "step_size"} <= set(stats.data_vars)
    np.testing.assert_array_equal(stats["lp"].values, np.asarray(poisson_trace.info.logdensity))
    ll = group_dataset(idata, "log_likelihood")
    assert ll["counts"].dims == ("chain", "draw", "obs")
    assert ll["counts"].shape == (4, 200, len(COUNTS))
    observed = group_dataset(idata, "observed_data")
    assert observed["counts"].dims == ("obs",)
    np.testing.assert_array_equal(observed["counts"].values, COUNTS)


def test_inference_data_from_bare_draws(poisson_model, poisson_trace):
    idata = to_inference_data(poisson_trace.positions, poisson_model, log_likelihood=False)
    groups = set(idata.children) if ARVIZ_1 else set(idata.groups())
    assert groups == {"posterior", "unconstrained_posterior", "observed_data"}


def test_a_long_trace_is_constrained_in_batches(poisson_model, monkeypatch):
    positions = poisson_model.init(jax.random.key(3), 30)
    positions = jax.tree.map(lambda x: jnp.stack([x, 2 * x, 3 * x]), positions)  # (3, 30, ...)
    whole = poisson_model.constrain(positions)
    whole_ll = poisson_model.log_likelihood(positions)
    monkeypatch.setattr(jl.Model, "batch_size", 7)  # 90 positions: 13 batches, the last padded
    batched = poisson_model.constrain(positions)
    for name in whole:
        assert batched[name].shape == whole[name].shape
        np.testing.assert_allclose(batched[name], whole[name], rtol=1e-6)
    np.testing.assert_allclose(
        poisson_model.log_likelihood(positions)["counts"], whole_ll["counts"], rtol=1e-6
    )
