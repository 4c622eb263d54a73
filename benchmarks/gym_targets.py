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
item response theory and stochastic volatility were computed by long NUTS runs
and carry their Monte Carlo error).

Brownian motion is the exception: its published truth disagrees with its own
model (the observation scale's mean 0.1011 against 0.1127, 18 of its stated
standard errors), so :func:`brownian_truth` computes the truth exactly instead.
Given the two scales the model is linear and Gaussian, so the positions'
conditional moments are closed form; the two log scales are integrated on a grid
(:func:`brownian_truth`). Every sampler here agrees with that truth and not with
the published one.
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
    "middle 10 unobserved; exact truth (closed form given the scales, the scales by "
    "quadrature: brownian_truth), not the published one, which disagrees with the model",
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


def random_walk_covariance(num_steps: int) -> np.ndarray:
    """``Cov(x_s, x_t) = min(s, t) + 1`` of ``x_0 ~ N(0, 1)``, ``x_t ~ N(x_{t-1}, 1)``."""
    t = np.arange(num_steps)
    return np.minimum.outer(t, t) + 1.0


def brownian_truth(
    observed_locs: np.ndarray, prior_sd: float = 2.0, grid: int = 800, box: float = 20.0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Exact posterior means and standard deviations of Inference Gym's Brownian motion.

    The model: scales ``s_i, s_o ~ LogNormal(0, prior_sd)``, ``x_0 ~ N(0, s_i)``,
    ``x_t ~ N(x_{t-1}, s_i)``, ``y_t ~ N(x_t, s_o)`` where ``y_t`` is not NaN. Given
    the scales, ``x = s_i R`` with ``R`` the unit random walk (covariance
    :func:`random_walk_covariance` ``C``) and the observations are Gaussian with
    covariance ``s_i^2 C_oo + s_o^2 I``: the likelihood and the moments of ``x``
    given ``y`` are closed form (diagonal in the eigenbasis of ``C_oo``). The log
    scales are then integrated on a ``grid x grid`` grid over ``[-box, box]^2``
    (``box = 20`` is 10 prior standard deviations; the weight left on the grid's
    edge is checked to be negligible, and 800 points agree with 1600 to 14 digits
    on the gym's data).

    Parameters
    ----------
    observed_locs : array of shape (T,)
        The observations, NaN where missing.
    prior_sd : float
        The scales' LogNormal ``scale``.
    grid, box : int, float
        The quadrature grid.

    Returns
    -------
    dict
        ``{"innovation_noise_scale", "observation_noise_scale", "locs"}``, each
        ``(mean, sd)``.

    Examples
    --------
    >>> y = np.array([0.1, np.nan, -0.2])
    >>> truth = brownian_truth(y, grid=200)
    >>> truth["locs"][0].shape
    (3,)
    """
    y_all = np.asarray(observed_locs, np.float64)
    observed = ~np.isnan(y_all)
    cov = random_walk_covariance(y_all.size)
    eigenvalues, basis = np.linalg.eigh(cov[np.ix_(observed, observed)])
    y_rotated = basis.T @ y_all[observed]
    gain = cov[:, observed] @ basis  # Cov(x, y) in the eigenbasis, per unit s_i^2
    log_scales = np.linspace(-box, box, grid)  # the grid's axis, both scales
    log_o = log_scales
    rows = []  # one row of the grid (one innovation scale) at a time: memory O(grid T)
    for log_i in log_scales:
        var_i, var_o = np.exp(2 * log_i), np.exp(2 * log_o)[:, None]
        spread = var_i * eigenvalues + var_o  # eigenvalues of Cov(y | scales)
        log_w = -0.5 * np.sum(y_rotated**2 / spread + np.log(spread), axis=1)
        log_w -= 0.5 * (log_i**2 + log_o**2) / prior_sd**2
        mean = var_i * (y_rotated / spread) @ gain.T
        var = var_i * np.diag(cov) - var_i**2 * (1.0 / spread) @ (gain**2).T
        values = np.column_stack(
            [np.full_like(log_o, np.exp(log_i)), np.exp(log_o), mean]
        )  # s_i, s_o, E[x | y, scales]
        seconds = np.column_stack([values[:, :2] ** 2, var + mean**2])
        rows.append((log_w, values, seconds))
    best = max(float(log_w.max()) for log_w, _, _ in rows)
    weights = np.stack([np.exp(log_w - best) for log_w, _, _ in rows])
    total = weights.sum()
    edge = max(weights[[0, -1]].max(), weights[:, [0, -1]].max()) / total
    if edge > 1e-12:
        raise ValueError(f"`box` too small: {edge:.2g} of the weight sits on the grid's edge.")
    first = sum(w @ values for w, (_, values, _) in zip(weights, rows, strict=True)) / total
    second = sum(w @ sq for w, (_, _, sq) in zip(weights, rows, strict=True)) / total
    sd = np.sqrt(second - first**2)
    return {
        "innovation_noise_scale": (first[0], sd[0]),
        "observation_noise_scale": (first[1], sd[1]),
        "locs": (first[2:], sd[2:]),
    }


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
    if name == "gym-brownian_motion":
        mean, sd, se = _brownian_reference(target.model)
    reference = {
        f"x[{i + 1}]": reference_entry(m, s, e)
        for i, (m, s, e) in enumerate(zip(mean, sd, se, strict=True))
    }
    return GymTarget(model, reference, dim)


def _brownian_reference(inner: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`brownian_truth` of ``inner``'s data, flattened as the ``VectorModel`` flattens
    its ``identity`` truth (keys in sorted order: innovation, locs, observation)."""
    import sys

    data = sys.modules[type(inner).__module__].data
    observed = data.brownian_motion_missing_middle_observations()["observed_locs"]
    truth = brownian_truth(np.asarray(observed))
    parts = [truth[key] for key in sorted(truth)]
    mean = np.concatenate([np.atleast_1d(m) for m, _ in parts])
    sd = np.concatenate([np.atleast_1d(s) for _, s in parts])
    return mean, sd, np.zeros_like(mean)
