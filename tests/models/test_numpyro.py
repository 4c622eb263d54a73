"""from_numpyro: eight schools end to end, and a conjugate model with an exact posterior.

The exact test samples a Normal mean (real line) and a Poisson rate with a
Gamma prior (positive: sampled as its log, so the Jacobian matters) with MALA
through the bridge, and compares the constrained posterior means and variances
with the closed form within 4 Monte Carlo standard errors (ESS-based). Its
broken companion drops the log-Jacobian and must fail the same check.
"""

import gc
import importlib
import subprocess
import sys

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jlangevin as jl
from jlangevin.diagnostics.arviz_io import ARVIZ_1, group_dataset
from jlangevin.models import from_numpyro
from jlangevin.models.arviz import to_inference_data
from jlangevin.run.cache import split_function

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

# The classic eight schools data (Rubin 1981).
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
CHAINS, DRAWS = 8, 500


def eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


@pytest.fixture(scope="module")
def schools():
    model = from_numpyro(eight_schools, SIGMA, y=Y)
    key_init, key_run = jax.random.split(jax.random.key(0))
    sampler = jl.mala(model.logdensity_fn, step_size=0.3)
    trace = jl.run(key_run, sampler, model.init(key_init, CHAINS), DRAWS, burnin=500)
    return model, trace


def test_import_jlangevin_does_not_import_numpyro():
    code = (
        "import sys, jlangevin, jlangevin.models; "
        "assert 'numpyro' not in sys.modules, 'numpyro'; assert 'arviz' not in sys.modules, 'arviz'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.long
def test_names_and_init_shapes(schools):
    model, _ = schools
    assert model.latent_names == ("mu", "tau", "theta_tilde")
    assert set(model.names) == {"mu", "tau", "theta_tilde", "theta"}
    assert model.deterministic_names == ("theta",)
    assert model.observed_names == ("obs",)
    np.testing.assert_array_equal(model.observed_data["obs"], Y)
    positions = model.init(jax.random.key(4), CHAINS)
    assert {k: v.shape for k, v in positions.items()} == {
        "mu": (CHAINS,),
        "tau": (CHAINS,),
        "theta_tilde": (CHAINS, 8),
    }
    assert len(np.unique(np.asarray(positions["mu"]))) == CHAINS  # chains start apart
    log_p = jax.jit(jax.vmap(model.logdensity_fn))(positions)
    assert log_p.shape == (CHAINS,) and np.all(np.isfinite(log_p))


def test_run_mixes(schools):
    _, trace = schools
    acceptance = float(trace.info.acceptance_rate.mean())
    assert 0.4 < acceptance < 0.95
    assert trace.num_diverged_chains == 0


def test_constrain_maps_back_to_the_model(schools):
    model, trace = schools
    draws = model.constrain(trace.positions)
    assert draws["tau"].shape == (CHAINS, DRAWS)
    assert draws["theta"].shape == (CHAINS, DRAWS, 8)
    log_tau = np.asarray(trace.positions["tau"])
    assert np.all(np.asarray(draws["tau"]) > 0) and np.any(log_tau < 0)
    np.testing.assert_allclose(draws["tau"], np.exp(log_tau), rtol=1e-5)
    expected_theta = draws["mu"][..., None] + draws["tau"][..., None] * draws["theta_tilde"]
    np.testing.assert_allclose(draws["theta"], expected_theta, rtol=1e-5, atol=1e-5)


def test_log_likelihood_per_school(schools):
    model, trace = schools
    ll = model.log_likelihood(trace.positions)["obs"]
    assert ll.shape == (CHAINS, DRAWS, 8)
    theta = np.asarray(model.constrain(trace.positions)["theta"])
    np.testing.assert_allclose(ll, stats.norm.logpdf(Y, theta, SIGMA), rtol=1e-4)


@pytest.mark.filterwarnings("ignore:Estimated shape parameter of Pareto")  # a noisy k is not a bug
def test_inference_data_and_loo(schools):
    model, trace = schools
    coords = {"school": [f"s{i}" for i in range(8)]}
    dims = {"theta": ["school"], "theta_tilde": ["school"], "obs": ["school"]}
    idata = to_inference_data(trace, model, coords=coords, dims=dims)
    posterior = group_dataset(idata, "posterior")
    assert posterior["theta"].dims == ("chain", "draw", "school")
    assert posterior["tau"].shape == (CHAINS, DRAWS) and float(posterior["tau"].min()) > 0
    assert list(posterior["theta"].coords["school"].values) == coords["school"]
    unconstrained = group_dataset(idata, "unconstrained_posterior")
    assert set(unconstrained.data_vars) == {"mu", "tau", "theta_tilde"}
    assert float(unconstrained["tau"].min()) < 0  # log tau
    stats_ = group_dataset(idata, "sample_stats")
    assert {"lp", "diverging", "acceptance_rate", "is_accepted", "step_size"} <= set(stats_)
    assert group_dataset(idata, "log_likelihood")["obs"].dims == ("chain", "draw", "school")
    assert group_dataset(idata, "observed_data")["obs"].dims == ("school",)
    loo = az.loo(idata)
    elpd = loo.elpd if ARVIZ_1 else loo.elpd_loo  # ArviZ 1.x renamed the field
    assert np.isfinite(elpd) and loo.n_data_points == 8
    assert az.summary(idata, var_names=["mu", "tau"]).shape[0] == 2


def test_to_arviz_with_a_model_is_the_constrained_posterior(schools):
    model, trace = schools
    idata = jl.to_arviz(trace, model=model)
    posterior = group_dataset(idata, "posterior")
    assert {"mu", "tau", "theta", "theta_tilde"} <= set(posterior.data_vars)
    assert float(posterior["tau"].min()) > 0
    assert float(group_dataset(idata, "unconstrained_posterior")["tau"].min()) < 0
    with pytest.raises(ValueError, match="names"):
        jl.to_arviz(trace, names=["a"], model=model)


# --------------------------------------------------------------------------- #
# An exact answer: conjugate Normal mean and Gamma-Poisson rate.
# --------------------------------------------------------------------------- #
Y_NORMAL = np.array([0.3, -0.5, 1.2, 0.8, 0.1])  # y_i ~ Normal(mu, 1), mu ~ Normal(0, 2)
COUNTS = np.array([1.0, 0.0, 2.0, 1.0, 2.0])  # k_i ~ Poisson(lam), lam ~ Gamma(2, rate 1)
PRIOR_SD, SHAPE, RATE = 2.0, 2.0, 1.0

_precision = 1 / PRIOR_SD**2 + len(Y_NORMAL)
_shape, _rate = SHAPE + COUNTS.sum(), RATE + len(COUNTS)
EXACT = {  # name: (posterior mean, posterior variance)
    "mu": (Y_NORMAL.sum() / _precision, 1 / _precision),
    "lam": (_shape / _rate, _shape / _rate**2),
}


def conjugate(y, counts):
    mu = numpyro.sample("mu", dist.Normal(0.0, PRIOR_SD))
    lam = numpyro.sample("lam", dist.Gamma(SHAPE, RATE))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
        numpyro.sample("counts", dist.Poisson(lam), obs=counts)


@pytest.fixture(scope="module")
def conjugate_model():
    return from_numpyro(conjugate, Y_NORMAL, COUNTS)


def _z_scores(model, logdensity_fn):
    """(estimate - exact) / MCSE for each posterior mean and variance, constrained scale."""
    key_init, key_run = jax.random.split(jax.random.key(1))
    sampler = jl.mala(logdensity_fn, step_size=0.15)
    trace = jl.run(key_run, sampler, model.init(key_init, 8), 2_000, burnin=300)
    draws = jax.device_get(model.constrain(trace.positions))
    z = {}
    for name, (mean, var) in EXACT.items():
        x = np.asarray(draws[name], dtype=float)
        z[f"{name} mean"] = (x.mean() - mean) / float(jl.diagnostics.mcse(x))
        squares = (x - mean) ** 2  # its expectation is the exact variance
        z[f"{name} var"] = (squares.mean() - var) / float(jl.diagnostics.mcse(squares))
    return z


def test_logdensity_is_the_closed_form_with_jacobian(conjugate_model):
    def closed_form(mu, log_lam):
        lam = np.exp(log_lam)
        return (
            stats.norm.logpdf(mu, 0.0, PRIOR_SD)
            + stats.norm.logpdf(Y_NORMAL, mu, 1.0).sum()
            + stats.gamma.logpdf(lam, SHAPE, scale=1 / RATE)
            + stats.poisson.logpmf(COUNTS, lam).sum()
            + log_lam  # d lam / d log lam
        )

    for mu, log_lam in [(0.0, 0.0), (0.7, -0.4), (-1.2, 1.3)]:
        got = conjugate_model.logdensity_fn({"mu": jnp.asarray(mu), "lam": jnp.asarray(log_lam)})
        np.testing.assert_allclose(got, closed_form(mu, log_lam), rtol=1e-5)


@pytest.mark.long
def test_posterior_moments_match_the_exact_posterior(conjugate_model):
    z = _z_scores(conjugate_model, conjugate_model.logdensity_fn)
    assert all(abs(v) < 4 for v in z.values()), z


@pytest.mark.long
def test_broken_companion_without_jacobian_fails(conjugate_model):
    from numpyro.infer.util import log_density

    def no_jacobian(position):  # the log density at the constrained values, Jacobian forgotten
        values = {"mu": position["mu"], "lam": jnp.exp(position["lam"])}
        return log_density(conjugate, (Y_NORMAL, COUNTS), {}, values)[0]

    z = _z_scores(conjugate_model, no_jacobian)
    assert abs(z["lam mean"]) > 4, z  # lam ~ Gamma(shape - 1, rate): mean off by 1 / rate
    assert max(abs(z["mu mean"]), abs(z["mu var"])) < 4, z  # mu has no transform


# --------------------------------------------------------------------------- #
# Flat priors (dist.ImproperUniform: a Stan parameter without a prior statement)
# cannot be drawn from; NumPyro's MCMC starts them with init_to_uniform.
# --------------------------------------------------------------------------- #
def _regression_data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 2))
    return x, x @ np.array([1.0, -2.0]) + 0.5 * rng.normal(size=30)


X_REG, Y_REG = _regression_data()


def flat_regression(x, y):
    beta = numpyro.sample("beta", dist.ImproperUniform(dist.constraints.real, (), (2,)))
    sigma = numpyro.sample("sigma", dist.ImproperUniform(dist.constraints.positive, (), ()))
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


@pytest.fixture(scope="module")
def flat_model():
    return from_numpyro(flat_regression, X_REG, Y_REG)


def test_flat_priors_initialise_uniformly_per_chain(flat_model):
    assert flat_model.latent_names == ("beta", "sigma")
    positions = flat_model.init(jax.random.key(2), CHAINS)
    assert positions["beta"].shape == (CHAINS, 2) and positions["sigma"].shape == (CHAINS,)
    for leaf in positions.values():  # init_to_uniform: U(-2, 2) on the unconstrained scale
        assert np.all(np.abs(np.asarray(leaf)) < 2.0)
    assert len(np.unique(np.asarray(positions["sigma"]))) == CHAINS  # one draw per chain key
    again = flat_model.init(jax.random.key(2), CHAINS)
    np.testing.assert_array_equal(positions["beta"], again["beta"])
    assert np.all(np.isfinite(jax.vmap(flat_model.logdensity_fn)(positions)))


def test_flat_prior_logdensity_is_numpyros_potential_energy(flat_model):
    from numpyro.infer.util import potential_energy

    rng = np.random.default_rng(0)
    for _ in range(4):
        beta, log_sigma = rng.normal(size=2), rng.normal()
        point = {"beta": jnp.asarray(beta, jnp.float32), "sigma": jnp.asarray(log_sigma)}
        got = flat_model.logdensity_fn(point)
        numpyro_value = -potential_energy(flat_regression, (X_REG, Y_REG), {}, point)
        np.testing.assert_allclose(got, numpyro_value, rtol=1e-6)
        # flat priors add nothing; log |d sigma / d log sigma| = log sigma
        exact = stats.norm.logpdf(Y_REG, X_REG @ beta, np.exp(log_sigma)).sum() + log_sigma
        np.testing.assert_allclose(got, exact, rtol=1e-4)


@pytest.mark.long
def test_flat_prior_mala_run_stays_finite(flat_model):
    # U(-2, 2) starts can be far out (log sigma = -2: a gradient of 1e4), hence the small step.
    key_init, key_run = jax.random.split(jax.random.key(5))
    positions = flat_model.init(key_init, 4)
    sampler = jl.mala(flat_model.logdensity_fn, step_size=1e-4)
    trace = jl.run(key_run, sampler, positions, 500)
    assert trace.num_diverged_chains == 0 and np.all(np.asarray(trace.moves) > 0)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in trace.positions.values())
    last = jax.tree.map(lambda x: x[:, -1], trace.positions)
    log_p = jax.vmap(flat_model.logdensity_fn)
    assert np.all(np.asarray(log_p(last)) > np.asarray(log_p(positions)))  # towards the bulk


def flat_location_only():
    mu = numpyro.sample("mu", dist.ImproperUniform(dist.constraints.real, (), ()))
    numpyro.factor("quadratic", -0.5 * mu**2)


def test_a_model_with_only_a_flat_site_and_a_factor():
    model = from_numpyro(flat_location_only)
    for mu in (-1.5, 0.0, 2.5):
        assert float(model.logdensity_fn({"mu": jnp.asarray(mu)})) == pytest.approx(-0.5 * mu**2)
    assert np.all(np.abs(np.asarray(model.init(jax.random.key(0), 8)["mu"])) < 2.0)


def flat_and_proper(x, y):
    beta = numpyro.sample("beta", dist.ImproperUniform(dist.constraints.real, (), (2,)))
    sigma = numpyro.sample("sigma", dist.LogNormal(3.0, 0.01))  # median e^3 ~ 20
    with numpyro.plate("data", x.shape[0]):
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


def test_proper_sites_keep_the_prior_median_beside_flat_ones():
    model = from_numpyro(flat_and_proper, X_REG, Y_REG)
    positions = model.init(jax.random.key(1), CHAINS)
    log_sigma = np.asarray(positions["sigma"])  # the prior median, not U(-2, 2)
    np.testing.assert_allclose(log_sigma, 3.0, atol=0.02)
    assert np.all(np.abs(np.asarray(positions["beta"])) < 2.0)


# --------------------------------------------------------------------------- #
# Data with NaN: refused (tests/models/test_bad_inputs.py) unless the model masks it.
# --------------------------------------------------------------------------- #
def imputing(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y, obs_mask=~np.isnan(y))


@pytest.mark.long
def test_missing_observations_masked_by_the_model_are_accepted():
    model = from_numpyro(imputing, np.array([0.3, np.nan, -0.2]))
    assert model.latent_names == ("mu", "y_unobserved")
    positions = model.init(jax.random.key(0), 4)
    assert np.all(np.isfinite(jax.vmap(model.logdensity_fn)(positions)))


def test_integer_and_non_array_arguments_are_fine():
    def counts_model(counts, label="a", scale=None):
        lam = numpyro.sample("lam", dist.Gamma(2.0, 1.0))
        numpyro.sample("counts", dist.Poisson(lam), obs=counts)

    model = from_numpyro(counts_model, np.array([1, 0, 3]), label="b", scale=None)
    assert model.latent_names == ("lam",)


# --------------------------------------------------------------------------- #
# The same model twice: one Model, while it lives
# --------------------------------------------------------------------------- #
_SETTINGS = {"scale": 5.0, "offset": 0.0}  # globals a model reads


def scaled(y):
    sigma = numpyro.sample("sigma", dist.HalfNormal(_SETTINGS["scale"]))
    numpyro.deterministic("shifted", sigma + _SETTINGS["offset"])
    numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)


def test_the_same_model_and_data_give_one_model_and_any_change_another():
    """Equal data in new arrays give the same Model (so nothing compiles again); other
    data, or a changed global, whether the log density or only `constrain` reads it,
    give another, which computes with the new value."""
    y = np.array([0.5, -1.0, 0.2])
    first = from_numpyro(scaled, y)
    assert from_numpyro(scaled, y.copy()) is first
    assert from_numpyro(scaled, y + 1.0) is not first
    origin = {"sigma": jnp.zeros(())}
    before = float(first.logdensity_fn(origin))
    shifted_before = first.constrain({"sigma": jnp.zeros((1,))})["shifted"]
    try:
        _SETTINGS["scale"] = 2.0  # read by the log density
        rescaled = from_numpyro(scaled, y)
        assert rescaled is not first
        assert float(rescaled.logdensity_fn(origin)) != before
        _SETTINGS.update(scale=5.0, offset=1.0)  # read by `constrain` alone
        shifted = from_numpyro(scaled, y)
        assert shifted is not first
        moved = shifted.constrain({"sigma": jnp.zeros((1,))})["shifted"]
        np.testing.assert_allclose(moved - shifted_before, 1.0)
    finally:
        _SETTINGS.update(scale=5.0, offset=0.0)
    assert from_numpyro(scaled, y) is first


def test_a_model_key_blind_to_the_data_fails_that_check(monkeypatch):
    """The companion: finding live models by their programs alone (which take the data
    as inputs), not by the data's values too, hands one dataset's model to another."""
    bridge = importlib.import_module("jlangevin.models.numpyro")
    monkeypatch.setattr(bridge, "_model_key", lambda structure, leaves: structure)
    monkeypatch.setattr(bridge, "_MODELS", type(bridge._MODELS)())
    with pytest.raises(AssertionError):
        test_the_same_model_and_data_give_one_model_and_any_change_another()


def test_models_over_data_of_one_shape_share_their_programs_a_changed_global_does_not():
    """The functions are partials over the data: equal templates (so one compiled
    program each, the data its arguments) for two datasets of one shape, and
    different ones when a global the model reads differs."""
    first = from_numpyro(scaled, np.array([0.5, -1.0, 0.2]))
    other = from_numpyro(scaled, np.array([2.0, 0.1, -0.3]))
    assert other is not first
    template, arrays = split_function(first.logdensity_fn)
    assert split_function(other.logdensity_fn)[0] == template
    np.testing.assert_array_equal(arrays[0], [0.5, -1.0, 0.2])
    assert first._compiled("init").func is other._compiled("init").func  # one program
    try:
        _SETTINGS["scale"] = 2.0
        rescaled = from_numpyro(scaled, np.array([2.0, 0.1, -0.3]))
    finally:
        _SETTINGS.update(scale=5.0, offset=0.0)
    assert split_function(rescaled.logdensity_fn)[0] != template


def needs_values(group, y):  # plain numpy on the data: cannot take them as inputs
    num_groups = int(np.max(group)) + 1
    with numpyro.plate("groups", num_groups):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu[group], 1.0), obs=y)


def test_a_model_that_needs_its_datas_values_keeps_them_in_its_programs():
    group, y = np.array([0, 1, 1, 2]), np.array([0.1, -0.2, 0.3, 1.0])
    model = from_numpyro(needs_values, group, y)
    assert model.position_shapes["mu"].shape == (3,)
    _, arrays = split_function(model.logdensity_fn)
    assert arrays == ()  # a closure: its data compiled in, held by identity
    position = {"mu": jnp.array([0.1, 0.2, 0.3])}
    expected = (
        stats.norm.logpdf(position["mu"]).sum()
        + stats.norm.logpdf(y, np.asarray(position["mu"])[group]).sum()
    )
    np.testing.assert_allclose(model.logdensity_fn(position), expected, rtol=1e-5)
    assert from_numpyro(needs_values, group.copy(), y.copy()) is model


def test_a_model_nobody_holds_is_not_kept():
    bridge = importlib.import_module("jlangevin.models.numpyro")
    model = from_numpyro(scaled, np.array([3.7, 1.1]))
    gc.collect()  # models of earlier tests held only by reference cycles
    live = len(bridge._MODELS)
    del model
    gc.collect()
    assert len(bridge._MODELS) == live - 1
