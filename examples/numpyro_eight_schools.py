"""Eight schools (non-centred) from NumPyro, sampled with MALA, summarised by ArviZ.

The bridge end to end: ``from_numpyro`` gives the unconstrained log density
(tau > 0 is sampled as log tau, Jacobian included), ``init`` starts each chain
at its own prior median, ``jl.run`` samples, and ``to_inference_data`` maps the
draws back to the model's names (``theta`` is a deterministic site) with the
per-school log likelihood that ``az.loo`` reads.

Run: ``python examples/numpyro_eight_schools.py`` (about 15 s on a 2-core CPU).
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import numpyro
import numpyro.distributions as dist

import jlangevin as jl
from jlangevin.models import from_numpyro
from jlangevin.models.arviz import to_inference_data

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])  # estimated effects
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])  # their standard errors


def eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)


def main() -> None:
    model = from_numpyro(eight_schools, SIGMA, y=Y)
    key_init, key_run = jax.random.split(jax.random.key(0))
    sampler = jl.mala(model.logdensity_fn, step_size=0.3)
    trace = jl.run(key_run, sampler, model.init(key_init, 8), 2_000, burnin=1_000)
    idata = to_inference_data(
        trace,
        model,
        coords={"school": list("ABCDEFGH")},
        dims={"theta": ["school"], "theta_tilde": ["school"], "obs": ["school"]},
    )
    print(f"acceptance {float(trace.info.acceptance_rate.mean()):.2f}")
    print(az.summary(idata, var_names=["mu", "tau", "theta"]))
    print(az.loo(idata))


if __name__ == "__main__":
    main()
