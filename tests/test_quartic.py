"""All three kernels on the normalized quartic: R-hat, exact CDF (KS) and exact mean.

ULA and SGLD are biased by O(h); with h = 0.002 the bias is far below the
Monte Carlo error of these runs, which is what the checks require.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mcmc_checks import Z_MAX, ks_pvalue, mean_z, rhat

import jlangevin as jl

TARGET = jl.targets.quartic()
RUNS = {
    "mala": (lambda: jl.mala(TARGET.logdensity, step_size=0.08, bounds=TARGET.support), 6),
    "ula": (lambda: jl.ula(TARGET.logdensity, step_size=0.002, bounds=TARGET.support), 6),
    "sgld": (lambda: jl.sgld(TARGET.logdensity, step_size=0.002, bounds=TARGET.support), 6),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_kernel_samples_the_quartic(name):
    make, thin = RUNS[name]
    x0 = jnp.linspace(-0.65, 1.45, 32)[:, None]  # spread over both modes
    trace = jl.run(jax.random.key(11), make(), x0, 8000 * thin, burnin=500 * thin, thin=thin)
    x = np.asarray(trace.positions[..., 0])
    assert trace.num_diverged_chains == 0
    assert rhat(x) < 1.01
    z = float(mean_z(x, TARGET.mean[0]))
    assert abs(z) < Z_MAX, z
    pvalue, n = ks_pvalue(x, TARGET.cdf)
    assert pvalue > 0.01, (pvalue, n)
