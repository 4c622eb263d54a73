"""``jl.models.noncentered``: the same posterior, without the funnel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.models import from_numpyro, noncentered
from jlangevin.models import reparam as reparam_module
from tests.bad_inputs import Case, case_id, check
from tests.mcmc_checks import mean_z, rhat, var_z

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0], np.float32)
Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0], np.float32)
FUNNEL_DIM = 9
FUNNEL_SCALE = 3.0


def schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("J", sigma.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def funnel():
    """Neal's funnel: ``v ~ N(0, 3^2)``, ``x_i | v ~ N(0, e^v)``; exactly ``v ~ N(0, 9)``."""
    v = numpyro.sample("v", dist.Normal(0.0, FUNNEL_SCALE))
    numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)).expand([FUNNEL_DIM]).to_event(1))


def test_the_decentred_sites_are_latent_and_the_originals_come_back():
    m = from_numpyro(noncentered(schools), SIGMA, y=Y)
    # mu's Normal is decentred too (an affine rescale); tau is HalfCauchy: left alone.
    assert m.latent_names == ("mu_decentered", "tau", "theta_decentered")
    assert set(m.deterministic_names) == {"mu", "theta"}
    position = {"mu_decentered": jnp.float32(0.5), "tau": jnp.float32(0.3)}
    position["theta_decentered"] = jnp.linspace(-1.0, 1.0, 8)
    out = m.constrain(position)
    tau = np.exp(0.3)
    np.testing.assert_allclose(out["mu"], 2.5, rtol=1e-6)
    np.testing.assert_allclose(out["theta"], 2.5 + tau * np.linspace(-1, 1, 8), rtol=1e-5)


def _log_densities(reparameterised, points):
    """Both parameterisations' log densities at the same points of (mu, log tau, z)."""
    centred = from_numpyro(schools, SIGMA, y=Y)
    decentred = from_numpyro(reparameterised, SIGMA, y=Y)
    mu, log_tau, z = points
    theta = mu[:, None] + jnp.exp(log_tau)[:, None] * z
    lp_c = jax.vmap(centred.logdensity_fn)({"mu": mu, "tau": log_tau, "theta": theta})
    lp_nc = jax.vmap(decentred.logdensity_fn)({"mu": mu, "tau": log_tau, "theta_decentered": z})
    return np.asarray(lp_c), np.asarray(lp_nc)


def _points():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    return (
        3.0 * jax.random.normal(k1, (16,)),
        jax.random.normal(k2, (16,)),
        jax.random.normal(k3, (16, 8)),
    )


@pytest.mark.long
def test_the_log_density_is_the_centred_one_times_the_jacobian():
    """``log p_nc(mu, u, z) = log p_c(mu, u, mu + e^u z) + 8 u``: the same posterior, exactly."""
    points = _points()
    lp_c, lp_nc = _log_densities(noncentered(schools, "theta"), points)
    np.testing.assert_allclose(lp_nc, lp_c + 8 * np.asarray(points[1]), rtol=1e-5, atol=1e-3)


@pytest.mark.long
def test_a_decentring_without_the_scale_fails_the_identity(monkeypatch):
    """Companion: ``theta = mu + z`` (the scale dropped) is not the same posterior."""
    from numpyro.infer.reparam import LocScaleReparam

    class NoScale(LocScaleReparam):
        def __call__(self, name, fn, obs):
            _, value = super().__call__(name, fn, obs)
            base = reparam_module._base(fn)
            return None, base.loc + (value - base.loc) / base.scale

    monkeypatch.setattr("numpyro.infer.reparam.LocScaleReparam", NoScale)
    points = _points()
    lp_c, lp_nc = _log_densities(noncentered(schools, "theta"), points)
    assert not np.allclose(lp_nc, lp_c + 8 * np.asarray(points[1]), rtol=1e-5, atol=1e-3)


def _funnel_check(model):
    """MALA through ``jl.sample``: R-hat, and z of v's mean and variance and of x's mean."""
    out = jl.sample(
        jax.random.key(3),
        from_numpyro(model),
        kernel="mala",
        num_chains=16,
        num_warmup=500,
        warn=False,
    )
    v = np.asarray(out.posterior["v"])
    x = np.asarray(out.posterior["x"])
    z = np.concatenate([mean_z(v, 0.0).ravel(), var_z(v, 0.0, FUNNEL_SCALE**2).ravel()])
    z = np.concatenate([z, mean_z(x, np.zeros(FUNNEL_DIM)).ravel()])
    return rhat(v), float(np.max(np.abs(z)))


@pytest.mark.long
def test_neals_funnel_decentred_is_sampled_exactly():
    r, z = _funnel_check(noncentered(funnel))
    assert r < 1.01, r
    assert z < 4.0, z


@pytest.mark.long
def test_neals_funnel_centred_fails_the_same_check():
    """Companion: the same sampler and budget on the centred funnel misses v's law."""
    r, z = _funnel_check(funnel)
    assert r >= 1.01 or z >= 4.0, (r, z)


def _observed_model():
    numpyro.sample("y", dist.Normal(0.0, 1.0), obs=1.0)
    numpyro.sample("s", dist.HalfNormal(1.0))


CASES = [
    Case("model-not-callable", lambda: noncentered(3), TypeError, "`model`"),
    Case("sites-not-names", lambda: noncentered(schools, [1]), TypeError, "`sites`"),
    Case("sites-empty", lambda: noncentered(schools, []), ValueError, "`sites`"),
    Case(
        "site-absent",
        lambda: from_numpyro(noncentered(schools, "nope"), SIGMA, y=Y),
        ValueError,
        "`sites` names 'nope'",
    ),
    Case(
        "site-observed",
        lambda: from_numpyro(noncentered(_observed_model, "y")),
        ValueError,
        "`sites` names 'y', an observed",
    ),
    Case(
        "site-other-family",
        lambda: from_numpyro(noncentered(schools, "tau"), SIGMA, y=Y),
        ValueError,
        "`sites` names 'tau'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
