"""Inference Gym targets as ``jl.Model`` objects, with their published ground truth.

Each target comes from the ``inference_gym`` package (its JAX substrate), flattened
by its own ``VectorModel`` to one vector, and sampled on the unconstrained scale
its ``default_event_space_bijector`` defines: the log density is
``log p(b(z)) + log |det J_b(z)|``. :func:`load` returns the model (initialised as
Stan and NumPyro do, ``Uniform(-2, 2)`` on every unconstrained coordinate), and
the reference in the shape :func:`posteriordb_models.compare` reads: per
coordinate of the ``identity`` sample transformation, the ground-truth mean and
standard deviation Inference Gym ships, and as ``ess_bulk`` the number that makes
``ref_sd^2 / ref_ess`` its reported squared standard error of the mean
(``inf`` where the truth is exact: the Gaussian and the banana are closed form;
Brownian motion, item response theory and stochastic volatility were computed by
long NUTS runs and carry their Monte Carlo error).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Short name -> Inference Gym class name.
TARGETS = {
    "gym-ill_conditioned_gaussian": "IllConditionedGaussian",
    "gym-banana": "Banana",
    "gym-brownian_motion": "BrownianMotionUnknownScalesMissingMiddleObservations",
    "gym-item_response_theory": "SyntheticItemResponseTheory",
    "gym-stochastic_volatility_small": "StochasticVolatilitySP500Small",
}

#: What each row is, for the table's footnotes.
NOTES = {
    "gym-ill_conditioned_gaussian": "d=100, covariance eigenvalues drawn from a Gamma law of "
    "shape 0.5 (seed 10); exact truth",
    "gym-banana": "d=2, curvature 0.03; exact truth",
    "gym-brownian_motion": "d=32, two positive scales (log scale) and 30 latent positions, the "
    "middle 10 unobserved; truth from long NUTS runs",
    "gym-item_response_theory": "d=501, 400 students, 100 questions, 30012 answers (synthetic); "
    "truth from long NUTS runs",
    "gym-stochastic_volatility_small": "d=103, 100 days of S&P 500 returns; persistence in "
    "(0, 1) and scale > 0 mapped to R; truth from long NUTS runs",
}


class GymTarget(NamedTuple):
    """A target ready to sample: the model and its reference.

    Attributes
    ----------
    model : ``jl.Model`` over one unconstrained vector; ``constrain`` gives ``{"x": ...}``,
        the ``identity`` transformation's values.
    reference : ``{"x[i]": {"mean", "sd", "ess_bulk"}}`` (1-based, as posteriordb names them).
    dim : the number of unconstrained coordinates.
    """

    model: Any
    reference: dict[str, dict[str, float]]
    dim: int


def reference_entry(mean: float, sd: float, se: float | None) -> dict[str, float]:
    """One coordinate's truth as ``compare`` reads it: ``ess_bulk = sd^2 / se^2``, ``inf`` if exact.

    Parameters
    ----------
    mean, sd : float
        Ground-truth mean and standard deviation.
    se : float or None
        Standard error of ``mean`` (``None`` or 0 for an exact truth).

    Returns
    -------
    dict
        ``{"mean", "sd", "ess_bulk"}``.
    """
    ess = float("inf") if not se else float(sd) ** 2 / float(se) ** 2
    return {"mean": float(mean), "sd": float(sd), "ess_bulk": ess}


def load(name: str) -> GymTarget:
    """The Inference Gym target ``name`` (a key of :data:`TARGETS`) as a :class:`GymTarget`."""
    import jlangevin as jl
    from jlangevin.models import init_uniform

    if name not in TARGETS:
        raise ValueError(f"`name` must be one of {sorted(TARGETS)}; got {name!r}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from inference_gym import using_jax as gym

        target = gym.targets.VectorModel(
            getattr(gym.targets, TARGETS[name])(), flatten_sample_transformations=True
        )
    bijector = target.default_event_space_bijector
    identity = target.sample_transformations["identity"]
    dim = int(target.event_shape[0])

    def logdensity_fn(z: jax.Array) -> jax.Array:
        x = bijector.forward(z)
        return target.unnormalized_log_prob(x) + bijector.forward_log_det_jacobian(z, 1)

    def constrain(z: jax.Array) -> dict[str, jax.Array]:
        return {"x": identity(bijector.forward(z))}

    model = jl.Model(logdensity_fn, init_uniform(jnp.zeros(dim)), constrain=constrain)
    mean = np.asarray(identity.ground_truth_mean, np.float64)
    sd = np.asarray(identity.ground_truth_standard_deviation, np.float64)
    se = identity.ground_truth_mean_standard_error
    se = np.zeros_like(mean) if se is None else np.asarray(se, np.float64)
    reference = {
        f"x[{i + 1}]": reference_entry(m, s, e)
        for i, (m, s, e) in enumerate(zip(mean, sd, se, strict=True))
    }
    return GymTarget(model, reference, dim)
