"""``jl.sample``: one call from a model to a checked run, and its bad inputs."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.sample import Sampled, sample

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

KEY = jax.random.key(0)


def eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(mu + tau * theta_tilde, sigma), obs=y)


Y8 = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA8 = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def test_eight_schools_in_one_call():
    model = jl.from_numpyro(eight_schools, SIGMA8, y=Y8)
    out = sample(KEY, model, num_chains=4, num_warmup=1000, num_draws=2000)
    assert isinstance(out, Sampled) and out.model is model
    assert out.warmup is not None and out.warmup.chain_acceptance_rate.shape == (4,)
    posterior = out.posterior
    assert set(posterior) == {"mu", "tau", "theta_tilde", "theta"}
    assert posterior["theta"].shape == (4, 2000, 8) and np.all(posterior["tau"] > 0)
    rhat = jl.diagnostics.rhat(out.trace)
    assert max(float(np.max(v)) for v in rhat.values()) < 1.05, rhat
    idata = out.to_arviz()
    assert "theta" in idata.posterior and "tau" in idata.posterior
    assert out.summary() is not None


# Conjugate: y_i ~ N(mu, 1), mu ~ N(0, 1): mu | y ~ N(sum(y) / (n + 1), 1 / (n + 1)).
Y = np.random.default_rng(0).normal(2.0, 1.0, size=10).astype(np.float32)
EXACT_MEAN = float(np.sum(Y, dtype=np.float64) / (len(Y) + 1))


def conjugate(x):
    return -0.5 * jnp.sum(x**2) - 0.5 * jnp.sum((Y - x[0]) ** 2)


def no_prior(x):  # the broken companion: the prior dropped
    return -0.5 * jnp.sum((Y - x[0]) ** 2)


def _mean_z(logdensity_fn):
    out = sample(KEY, logdensity_fn, positions=jnp.zeros((4, 1)), num_warmup=500, num_draws=2000)
    mean = float(np.mean(out.trace.positions))
    mcse = float(jl.diagnostics.mcse(out.trace.positions)[0])
    return (mean - EXACT_MEAN) / mcse


def test_conjugate_normal_mean_within_4_mcse():
    z = _mean_z(conjugate)
    assert abs(z) < 4, z


def test_conjugate_check_catches_the_dropped_prior():
    z = _mean_z(no_prior)
    assert abs(z) > 4, z


def test_fixed_step_ula_and_mala_and_thinning():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.zeros((2, 3))
    ula = sample(
        KEY,
        logp,
        kernel="ula",
        step_size=0.1,
        positions=x0,
        num_warmup=10,
        num_draws=20,
        thin=np.int32(2),
    )
    assert ula.warmup is None and ula.trace.positions.shape == (2, 20, 3)
    assert np.all(np.asarray(ula.trace.step_count) == 10 + 40)
    fixed = sample(KEY, logp, step_size=0.5, positions=x0, num_warmup=0, num_draws=jnp.asarray(5))
    assert fixed.warmup is None and fixed.trace.positions.shape == (2, 5, 3)


def test_same_key_same_draws():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        a = sample(KEY, logp, positions=jnp.zeros((2, 2)), num_warmup=50, num_draws=10)
        b = sample(KEY, logp, positions=jnp.zeros((2, 2)), num_warmup=50, num_draws=10)
    np.testing.assert_array_equal(a.trace.positions, b.trace.positions)


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
def logp(x):
    return -0.5 * jnp.sum(x**2)


X0 = jnp.zeros((2, 3))
SMALL_MODEL = jl.Model(
    lambda p: -0.5 * jnp.sum(p["x"] ** 2), jl.models.init_uniform({"x": jnp.zeros(2)})
)


def call(model=logp, *, key=KEY, positions=X0, **kwargs):
    kwargs.setdefault("num_warmup", 30)
    kwargs.setdefault("num_draws", 5)
    return sample(key, model, positions=positions, **kwargs)


CASES = [
    Case("key an int", lambda: call(key=0), TypeError, "key"),
    Case("model not callable", lambda: call(model=3.0), TypeError, "model"),
    Case("model a class", lambda: call(model=dict), TypeError, "model"),
    Case(
        "plain log density without positions", lambda: call(positions=None), ValueError, "positions"
    ),
    Case("kernel unknown", lambda: call(kernel="hmc"), ValueError, "kernel"),
    Case(
        "preconditioner unknown", lambda: call(preconditioner="full"), ValueError, "preconditioner"
    ),
    Case(
        "num_warmup below 20 for MALA warm-up",
        lambda: call(num_warmup=10),
        ValueError,
        "num_warmup",
    ),
    Case(
        "num_warmup negative", lambda: call(num_warmup=-1, step_size=0.1), ValueError, "num_warmup"
    ),
    Case("num_warmup float", lambda: call(num_warmup=100.0), TypeError, "num_warmup"),
    Case("num_draws zero", lambda: call(num_draws=0), ValueError, "num_draws"),
    Case("num_draws bool", lambda: call(num_draws=True), TypeError, "num_draws"),
    Case("thin zero", lambda: call(thin=0), ValueError, "thin"),
    Case(
        "num_chains zero",
        lambda: call(model=SMALL_MODEL, positions=None, num_chains=0),
        ValueError,
        "num_chains",
    ),
    Case(
        "num_chains a float",
        lambda: call(model=SMALL_MODEL, positions=None, num_chains=2.0),
        TypeError,
        "num_chains",
    ),
    Case("num_chains differs from positions", lambda: call(num_chains=3), ValueError, "num_chains"),
    Case("ula without step_size", lambda: call(kernel="ula"), ValueError, "step_size"),
    Case("step_size negative", lambda: call(step_size=-0.1), ValueError, "step_size"),
    Case("progress not a bool", lambda: call(progress="yes"), TypeError, "progress"),
    Case(
        "target_acceptance above 1",
        lambda: call(target_acceptance=1.5),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "initial_step_size zero",
        lambda: call(initial_step_size=0.0),
        ValueError,
        "initial_step_size",
    ),
    Case(
        "model positions missing a site",
        lambda: call(model=SMALL_MODEL, positions={"y": jnp.zeros((2, 2))}),
        ValueError,
        "positions",
    ),
    Case(
        "model positions wrong event shape",
        lambda: call(model=SMALL_MODEL, positions={"x": jnp.zeros((2, 3))}),
        ValueError,
        "positions",
    ),
    Case("positions a scalar", lambda: call(positions=jnp.zeros(())), ValueError, "positions"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
