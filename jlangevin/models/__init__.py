"""Models in, answers out: log densities over unconstrained pytrees, with the way back.

- :class:`Model`: ``logdensity_fn`` for the samplers, ``init(key, num_chains)``,
  ``constrain(positions)`` (to the model's own variables, any leading axes),
  ``log_likelihood(positions)`` (per observation) and ``observed_data``. Build
  one from any log density (a PyMC or Stan model, your own JAX code).
- :func:`from_numpyro`: a NumPyro model (NumPyro is imported only when called).
- :func:`noncentered`: a NumPyro model with its loc-scale latent sites decentred
  (the cure for funnels such as the centred eight schools).
- :func:`subsampled`: a NumPyro model split at its data plate into a prior and
  a per-point log likelihood, for ``jl.sgld`` / ``jl.sghmc`` with minibatch,
  control-variate or SVRG gradients; :func:`find_mode` (optax) for the centre.
- :func:`jlangevin.models.arviz.to_inference_data`: a run of a model as ArviZ
  data under the model's names (imports ArviZ, so it is not loaded here).
"""

from jlangevin.models._model import Model, init_uniform
from jlangevin.models.numpyro import from_numpyro
from jlangevin.models.reparam import noncentered
from jlangevin.models.subsample import Subsampled, find_mode, subsampled

__all__ = [
    "Model",
    "Subsampled",
    "find_mode",
    "from_numpyro",
    "init_uniform",
    "noncentered",
    "subsampled",
]
