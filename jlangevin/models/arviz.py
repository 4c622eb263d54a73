"""A trace of a :class:`~jlangevin.models.Model` as ArviZ data, in the model's own names.

The groups follow ArviZ's schema, so ``az.summary``, ``az.plot_*``, ``az.loo``
and ``az.waic`` read them as they read NumPyro's or PyMC's:

- ``posterior``: ``model.constrain(draws)``: latent and deterministic variables.
- ``unconstrained_posterior``: the draws the sampler made.
- ``sample_stats``: the kernel's per-draw report under ArviZ's names
  (``diverged`` -> ``diverging``, ``logdensity`` -> ``lp``, the unconstrained
  log density, Jacobian included).
- ``log_likelihood``: per observation (when the model has it).
- ``observed_data``: the model's data.

The ArviZ version is handled where the rest of jlangevin handles it
(:mod:`jlangevin.diagnostics.arviz_io`): InferenceData with ArviZ 0.x,
``xarray.DataTree`` with ArviZ >= 1.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from jlangevin.diagnostics.arviz_io import _data_array, _sample_stats, wrap_groups
from jlangevin.models._model import Model
from jlangevin.run import Trace


def _draws_of(trace: Any, model: Model) -> tuple[Any, Any]:
    """``(positions, info)``: the draws ``(chains, draws, *event)`` and the kernel info, if any."""
    if isinstance(trace, Trace):
        trace = trace.without_initial()  # a chain's start is not one of its draws
        if trace.positions is None:
            raise ValueError(
                "`trace` has no stored positions; run with store='draws' (or 'positions')."
            )
        return trace.positions, trace.info
    if trace is None:
        raise TypeError("`trace` must be a jl.Trace or draws with leaves (chains, draws, *event).")
    return trace, None


def _dataset(
    values: Mapping[str, Any],
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Any],
) -> xr.Dataset:
    arrays = {name: np.asarray(value) for name, value in values.items()}
    return xr.Dataset({n: _data_array(v, n, dims, coords) for n, v in arrays.items()})


def _observed_dataset(
    observed: Mapping[str, np.ndarray],
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Any],
) -> xr.Dataset:
    """The data (no chain or draw axes), with the same dimension names as the log likelihood."""
    variables = {}
    for name, value in observed.items():
        value = np.asarray(value)
        given = list(dims.get(name, []))
        names = given + [f"{name}_dim_{i}" for i in range(len(given), value.ndim)]
        coord_values = {}
        for dim, size in zip(names, value.shape, strict=True):
            labels = coords.get(dim)
            coord_values[dim] = np.arange(size) if labels is None else np.asarray(labels)
        variables[name] = xr.DataArray(value, dims=names, coords=coord_values, name=name)
    return xr.Dataset(variables)


def to_inference_data(
    trace: Trace | Any,
    model: Model,
    *,
    coords: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    log_likelihood: bool = True,
) -> Any:
    """ArviZ data of a run of ``model``: the constrained posterior under the model's names.

    Parameters
    ----------
    trace : a :class:`~jlangevin.run.Trace` of a run on ``model.logdensity_fn``,
        or its unconstrained draws, leaves ``(chains, draws, *event)``.
    model : the :class:`~jlangevin.models.Model` (``jl.from_numpyro(...)`` or your own).
    coords : labels of named dimensions, ``{dim: labels}``.
    dims : names of each variable's non-sample axes, ``{name: [dim, ...]}``
        (constrained, observed and log-likelihood variables alike; the
        unconstrained group uses them where the shapes agree).
    log_likelihood : compute the ``log_likelihood`` group (when the model has one).

    Returns
    -------
    arviz.InferenceData (ArviZ 0.x) or xarray.DataTree (ArviZ >= 1.0)
        Groups ``posterior``, ``unconstrained_posterior``, ``sample_stats``
        (with a Trace that has info), ``log_likelihood`` and ``observed_data``
        (when the model has them).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.models import Model, init_uniform
    >>> from jlangevin.models.arviz import to_inference_data
    >>> model = Model(
    ...     lambda p: -jnp.exp(p["log_rate"]) + p["log_rate"],  # rate ~ Exponential(1)
    ...     init_uniform({"log_rate": jnp.zeros(())}),
    ...     constrain=lambda p: {"rate": jnp.exp(p["log_rate"])},
    ... )
    >>> sampler = jl.mala(model.logdensity_fn, 0.3)
    >>> trace = jl.run(jax.random.key(0), sampler, model.init(jax.random.key(1), 2), 20)
    >>> idata = to_inference_data(trace, model)
    >>> list(idata["posterior"].data_vars), list(idata["unconstrained_posterior"].data_vars)
    (['rate'], ['log_rate'])
    """
    if not isinstance(model, Model):
        raise TypeError(
            "`model` must be a jlangevin Model (jl.from_numpyro(...) or jl.Model(...)); "
            f"got {type(model).__name__}."
        )
    positions, info = _draws_of(trace, model)
    head = model.leading_shape(positions, "trace")
    if len(head) != 2:
        raise ValueError(
            "`trace` draws must have the leading axes (chains, draws); got leading axes "
            f"{head}. For one chain use x[None]."
        )
    coords, dims = dict(coords or {}), dict(dims or {})
    known = {*model.names, *model.latent_names, *model.observed_names}
    unknown = set(dims) - known
    if unknown:
        raise ValueError(f"`dims` names unknown variables {sorted(unknown)}; have {sorted(known)}.")

    constrained = jax.device_get(model.constrain(positions))
    posterior = _dataset(constrained, dims, coords)
    posterior.attrs["inference_library"] = "jlangevin"
    groups = {"posterior": posterior}

    unconstrained = dict(
        zip(model.latent_names, jax.device_get(jax.tree.leaves(positions)), strict=True)
    )
    same_shape = {
        n: d
        for n, d in dims.items()
        if n in unconstrained and np.shape(unconstrained[n]) == np.shape(constrained.get(n))
    }
    groups["unconstrained_posterior"] = _dataset(unconstrained, same_shape, coords)

    stats = _sample_stats(info, head)
    if stats is not None:
        groups["sample_stats"] = stats
    if log_likelihood and model.has_log_likelihood:
        groups["log_likelihood"] = _dataset(
            jax.device_get(model.log_likelihood(positions)), dims, coords
        )
    if model.observed_data:
        groups["observed_data"] = _observed_dataset(model.observed_data, dims, coords)
    return wrap_groups(groups)


__all__ = ["to_inference_data"]
