"""``from_numpyro``: a NumPyro model as a :class:`~jlangevin.models.Model`.

The bridge traces the model once (with its data) to find its sites, then
builds pure one-position functions from NumPyro's own machinery:

- ``logdensity_fn``: minus NumPyro's potential energy over the unconstrained
  latent sites (each continuous latent site ``z`` is sampled as
  ``u = biject_to(support).inv(z)``; the log-abs-det-Jacobian is included).
- ``init``: each chain from NumPyro's ``init_to_median`` (the median of 15
  prior draws per site, drawn with the chain's own key, so chains start apart),
  redrawn (up to 100 times, ``find_valid_initial_params``) until the log
  density and its gradient are finite.
- ``constrain``: the model replayed at the constrained values: latent sites
  and ``numpyro.deterministic`` sites.
- ``log_likelihood``: ``fn.log_prob(obs)`` per observation of every observed site.

NumPyro is imported only when :func:`from_numpyro` is called
(``pip install jlangevin[numpyro]``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jlangevin.models._model import Model
from jlangevin.types import Array, PRNGKey

#: Prior draws per site behind each chain's starting median (NumPyro's default).
MEDIAN_SAMPLES = 15


def _numpyro() -> Any:
    try:
        return importlib.import_module("numpyro")
    except ImportError as err:  # pragma: no cover - numpyro is in the dev extra
        raise ImportError(
            "jl.from_numpyro needs NumPyro: pip install 'jlangevin[numpyro]'."
        ) from err


def _prior_trace(model: Callable, args: tuple, kwargs: dict) -> dict:
    """The model's trace with prior draws at its latent sites (a fixed seed: only shapes matter)."""
    from numpyro import handlers

    try:
        return handlers.trace(handlers.seed(model, rng_seed=0)).get_trace(*args, **kwargs)
    except TypeError as err:
        raise TypeError(
            f"Calling `model` with the given arguments failed ({err}); from_numpyro(model, "
            "*args, **kwargs) calls model(*args, **kwargs)."
        ) from err


def _latent_sites(model_trace: Mapping[str, dict]) -> dict[str, dict]:
    """The continuous latent sites, in the model's order; discrete ones refused."""
    latent = {}
    for name, site in model_trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        if site["fn"].support.is_discrete:
            raise ValueError(
                f"`model` has a discrete latent site {name!r} ({type(site['fn']).__name__}); "
                "Langevin samplers need continuous latent sites: marginalise it out or observe it."
            )
        latent[name] = site
    if not latent:
        raise ValueError(
            "`model` has no latent sample sites (every sample site is observed): there is "
            "nothing to sample."
        )
    return latent


def _check_position(position: Any, shapes: Mapping[str, Any]) -> None:
    """One unconstrained position: a dict with exactly the latent sites and their shapes."""
    if not isinstance(position, Mapping) or set(position) != set(shapes):
        got = sorted(position) if isinstance(position, Mapping) else type(position).__name__
        raise ValueError(f"`position` must be a dict with the sites {sorted(shapes)}; got {got}.")
    for name, shape in shapes.items():
        if tuple(np.shape(position[name])) != tuple(shape.shape):
            raise ValueError(
                f"`position[{name!r}]` must have the unconstrained shape {tuple(shape.shape)} "
                f"(one chain); got {tuple(np.shape(position[name]))}."
            )


def _replay(fixed: Callable, args: tuple, kwargs: dict, position: Mapping[str, Array]) -> dict:
    """The model's trace with each latent site at ``biject_to(support)(position[site])``."""
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to

    def constrained(site: dict) -> Array | None:
        if site["type"] == "sample" and site["name"] in position:
            return biject_to(site["fn"].support)(position[site["name"]])
        return None

    substituted = handlers.substitute(fixed, substitute_fn=constrained)
    return handlers.trace(substituted).get_trace(*args, **kwargs)


def _logdensity_fn(fixed: Callable, args: tuple, kwargs: dict, shapes: dict) -> Callable:
    from numpyro.infer.util import potential_energy

    def logdensity_fn(position: Mapping[str, Array]) -> Array:
        _check_position(position, shapes)
        return -potential_energy(fixed, args, kwargs, dict(position))

    return logdensity_fn


def _init_fn(fixed: Callable, args: tuple, kwargs: dict, prototype: dict) -> Callable:
    from numpyro.infer.initialization import init_to_median
    from numpyro.infer.util import find_valid_initial_params

    def init(key: PRNGKey) -> dict[str, Array]:
        (params, _, _), _ = find_valid_initial_params(
            key,
            fixed,
            init_strategy=init_to_median(num_samples=MEDIAN_SAMPLES),
            model_args=args,
            model_kwargs=kwargs,
            prototype_params=prototype,
        )
        return {name: params[name] for name in prototype}

    return init


def _constrain_fn(fixed: Callable, args: tuple, kwargs: dict, names: tuple) -> Callable:
    def constrain(position: Mapping[str, Array]) -> dict[str, Array]:
        model_trace = _replay(fixed, args, kwargs, position)
        return {name: model_trace[name]["value"] for name in names}

    return constrain


def _log_likelihood_fn(fixed: Callable, args: tuple, kwargs: dict, observed: tuple) -> Callable:
    def log_likelihood(position: Mapping[str, Array]) -> dict[str, Array]:
        model_trace = _replay(fixed, args, kwargs, position)
        return {
            name: model_trace[name]["fn"].log_prob(model_trace[name]["value"]) for name in observed
        }

    return log_likelihood


def from_numpyro(model: Callable, *args: Any, **kwargs: Any) -> Model:
    """A NumPyro model, with its data, as a :class:`~jlangevin.models.Model`.

    Parameters
    ----------
    model : a NumPyro model function (``numpyro.sample`` statements with
        continuous latent sites; observed sites via ``obs=``).
    *args, **kwargs : what ``model`` is called with (its data).

    Returns
    -------
    Model
        ``logdensity_fn`` over the dict of unconstrained latent sites (one
        chain); ``init(key, num_chains)`` from each chain's prior median;
        ``constrain`` to the latent and deterministic sites; per-observation
        ``log_likelihood``; ``observed_data``. ``numpyro.param`` sites are held
        at their initial values.

    Examples
    --------
    >>> import jax, numpyro, numpyro.distributions as dist
    >>> import jlangevin as jl
    >>> from jlangevin.models import from_numpyro
    >>> def model(y):
    ...     sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    ...     numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)
    >>> m = from_numpyro(model, jax.numpy.array([0.5, -1.0, 0.2]))
    >>> m.names, m.observed_names
    (('sigma',), ('y',))
    >>> sampler = jl.mala(m.logdensity_fn, step_size=0.2)
    >>> positions = m.init(jax.random.key(0), 4)  # doctest: +SKIP
    >>> trace = jl.run(jax.random.key(1), sampler, positions, 100)  # doctest: +SKIP
    >>> m.constrain(trace.positions)["sigma"].shape  # doctest: +SKIP
    (4, 100)
    """
    if not callable(model) or isinstance(model, type):
        raise TypeError(
            "`model` must be a NumPyro model function (a callable with numpyro.sample "
            f"statements); got {type(model).__name__}."
        )
    _numpyro()
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to

    model_trace = _prior_trace(model, args, kwargs)
    latent = _latent_sites(model_trace)
    # numpyro.param sites are held at their initial values, as NumPyro's MCMC does.
    params = {k: s["value"] for k, s in model_trace.items() if s["type"] in ("param", "mutable")}
    fixed = handlers.substitute(model, data=params) if params else model
    prototype = {
        name: biject_to(site["fn"].support).inv(site["value"]) for name, site in latent.items()
    }
    shapes = {name: jax.ShapeDtypeStruct(np.shape(v), v.dtype) for name, v in prototype.items()}
    deterministic = tuple(k for k, s in model_trace.items() if s["type"] == "deterministic")
    observed = {
        k: np.asarray(s["value"])
        for k, s in model_trace.items()
        if s["type"] == "sample" and s["is_observed"]
    }
    log_likelihood = _log_likelihood_fn(fixed, args, kwargs, tuple(observed)) if observed else None
    return Model(
        _logdensity_fn(fixed, args, kwargs, shapes),
        _init_fn(fixed, args, kwargs, prototype),
        constrain=_constrain_fn(fixed, args, kwargs, (*latent, *deterministic)),
        log_likelihood=log_likelihood,
        observed_data=observed,
        deterministic_names=deterministic,
    )


__all__ = ["MEDIAN_SAMPLES", "from_numpyro"]
