"""jlangevin: Langevin-type MCMC as pure, composable JAX functions.

>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> target = jl.targets.quartic()
>>> sampler = jl.mala(target.logdensity, step_size=0.05, bounds=target.support)
>>> trace = jl.run(jax.random.key(0), sampler, jnp.full((4, 1), 0.4), 1000)

The import is light: matplotlib and arviz load only with ``jlangevin.plot``
and the ArviZ-based diagnostics.
"""

from jlangevin import gradients, kernels, models, schedules, targets
from jlangevin.gradients import from_energy
from jlangevin.kernels.barker import sampler as barker
from jlangevin.kernels.mala import sampler as mala
from jlangevin.kernels.malt import sampler as malt
from jlangevin.kernels.mams import sampler as mams
from jlangevin.kernels.mclmc import sampler as mclmc
from jlangevin.kernels.sghmc import sampler as sghmc
from jlangevin.kernels.sgld import RMSProp
from jlangevin.kernels.sgld import sampler as sgld
from jlangevin.kernels.tempering import sampler as tempering
from jlangevin.kernels.ula import sampler as ula
from jlangevin.kernels.underdamped import sampler as underdamped
from jlangevin.models import Model, from_numpyro
from jlangevin.run import RunningStats, SamplingWarning, Trace, gather, run
from jlangevin.sample import Sampled, sample
from jlangevin.types import Sampler

__version__ = "0.1.0"

# ArviZ- and matplotlib-backed names load on first use, so `import jlangevin`
# stays light for accelerator jobs.
_LAZY = {
    "diagnostics": ("jlangevin.diagnostics", None),
    "plot": ("jlangevin.plot", None),
    "to_arviz": ("jlangevin.diagnostics", "to_arviz"),
    "check": ("jlangevin.diagnostics", "check"),
    "summary": ("jlangevin.diagnostics", "summary"),
    "Report": ("jlangevin.diagnostics", "Report"),
    "adaptation": ("jlangevin.adaptation", None),
    "annealed_langevin": ("jlangevin.kernels.annealed", "annealed_langevin"),
    "score_matching": ("jlangevin.score_matching", None),
    "gallery": ("jlangevin.gallery", None),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'jlangevin' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


__all__ = [
    "Report",
    "RMSProp",
    "Model",
    "RunningStats",
    "Sampled",
    "SamplingWarning",
    "Sampler",
    "Trace",
    "adaptation",
    "annealed_langevin",
    "barker",
    "check",
    "diagnostics",
    "from_energy",
    "from_numpyro",
    "gallery",
    "gather",
    "gradients",
    "kernels",
    "mala",
    "malt",
    "mams",
    "mclmc",
    "models",
    "plot",
    "run",
    "sample",
    "schedules",
    "score_matching",
    "sghmc",
    "sgld",
    "summary",
    "targets",
    "tempering",
    "to_arviz",
    "ula",
    "underdamped",
]
