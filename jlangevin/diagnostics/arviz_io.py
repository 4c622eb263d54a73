"""The ArviZ round trip, and the one place that knows which ArviZ is installed.

ArviZ 0.x keeps groups in an ``InferenceData``; ArviZ >= 1.0 in an
``xarray.DataTree``. Both hold the same ``xarray.Dataset`` per group with
``chain``/``draw`` dimensions, and both take a ``Dataset`` in ``az.rhat``,
``az.ess`` and ``az.mcse``. So jlangevin builds the datasets itself and only
the final wrapping (and pulling a matplotlib figure out of a plot) differs:
see :func:`wrap_groups`, :func:`group_dataset` and :func:`figure_of`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import jax
import numpy as np
import xarray as xr

from jlangevin.diagnostics._draws import as_draw_tree, leaf_paths
from jlangevin.run import Trace

#: True with ArviZ >= 1.0 (DataTree), False with ArviZ 0.x (InferenceData).
ARVIZ_1 = int(az.__version__.split(".")[0]) >= 1

#: Info field -> ArviZ ``sample_stats`` name (ArviZ's conventions, so its plots
#: find divergences and log densities). Other fields keep their own names.
SAMPLE_STATS_NAMES = {
    "acceptance_rate": "acceptance_rate",
    "is_accepted": "is_accepted",
    "diverged": "diverging",
    "step_size": "step_size",
    "logdensity": "lp",
}


def wrap_groups(groups: Mapping[str, xr.Dataset]) -> Any:
    """``InferenceData`` (ArviZ 0.x) or ``DataTree`` (ArviZ >= 1.0) holding ``groups``."""
    if ARVIZ_1:
        return xr.DataTree.from_dict(dict(groups))
    return az.InferenceData(**groups)


def group_dataset(data: Any, group: str = "posterior") -> xr.Dataset:
    """The ``xarray.Dataset`` of one group of an InferenceData / DataTree (or a Dataset as is)."""
    if isinstance(data, xr.Dataset):
        return data
    node = data[group]
    return node.to_dataset() if hasattr(node, "to_dataset") else node


def figure_of(plotted: Any) -> Any:
    """The matplotlib Figure behind an ArviZ plot (axes, array of axes, PlotCollection)."""
    if hasattr(plotted, "viz"):  # ArviZ >= 1.0: a PlotCollection
        viz = plotted.viz
        for key in ("figure", "chart"):
            if key in getattr(viz, "data_vars", {}) or key in getattr(viz, "children", {}):
                return viz[key].item()
        raise RuntimeError("Could not find the figure of an ArviZ PlotCollection.")
    first = np.ravel(np.asarray(plotted, dtype=object))[0]
    return first.get_figure() if hasattr(first, "get_figure") else first.figure


def _named_variables(tree: Any, names: Any) -> tuple[list[str], list[np.ndarray]]:
    """``(names, arrays)`` of the posterior variables, in order.

    One array ``(chains, draws, k)`` with ``k >= 2`` names becomes ``k`` scalar
    variables; otherwise ``names`` names the pytree's leaves (:func:`_variable_names`).
    """
    leaves = jax.tree.leaves(tree)
    per_coordinate = (
        isinstance(names, Sequence)
        and not isinstance(names, str | bytes)
        and len(leaves) == 1
        and leaves[0].ndim == 3
        and leaves[0].shape[2] >= 2
        and len(names) == leaves[0].shape[2]
    )
    if not per_coordinate:
        return _variable_names(tree, names), leaves
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"`names` must be strings, one per coordinate; got {names!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"`names` must be distinct; got {names!r}.")
    return names, [leaves[0][..., i] for i in range(len(names))]


def _variable_names(tree: Any, names: str | Sequence[str] | None) -> list[str]:
    num_leaves = len(jax.tree.leaves(tree))
    if names is None:
        out = []
        for path in leaf_paths(tree):
            name = path.replace("[", "_").replace("]", "").replace(".", "_")
            out.append("x" if not name else (f"x{name}" if name.startswith("_") else name))
        return out
    if not isinstance(names, str | Sequence):
        raise TypeError(
            f"`names` must be a string or a sequence of strings; got {type(names).__name__}."
        )
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != num_leaves or not all(isinstance(n, str) for n in names):
        leaves = jax.tree.leaves(tree)
        per_coordinate = (
            f", or, for one array (chains, draws, k), one per coordinate ({leaves[0].shape[2]})"
            if num_leaves == 1 and leaves[0].ndim == 3
            else ""
        )
        raise ValueError(
            f"`names` must give one string per leaf of the positions ({num_leaves})"
            f"{per_coordinate}; got {names!r}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"`names` must be distinct; got {names!r}.")
    return names


def _data_array(
    values: np.ndarray,
    name: str,
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Any],
) -> xr.DataArray:
    event_ndim = values.ndim - 2
    event_dims = list(dims.get(name, [f"{name}_dim_{i}" for i in range(event_ndim)]))
    if len(event_dims) != event_ndim:
        raise ValueError(
            f"`dims[{name!r}]` must name the {event_ndim} event axes of shape "
            f"{values.shape[2:]}; got {event_dims}."
        )
    all_dims = ["chain", "draw", *event_dims]
    coord_values = {"chain": np.arange(values.shape[0]), "draw": np.arange(values.shape[1])}
    for dim, size in zip(event_dims, values.shape[2:], strict=True):
        coord_values[dim] = np.arange(size)  # ArviZ 1.x plots index every dimension
        if dim in coords:
            labels = np.asarray(coords[dim])
            if labels.shape != (size,):
                raise ValueError(
                    f"`coords[{dim!r}]` must have {size} labels for axis {dim!r}; "
                    f"got shape {labels.shape}."
                )
            coord_values[dim] = labels
    return xr.DataArray(values, dims=all_dims, coords=coord_values, name=name)


def _info_fields(info: Any) -> dict[str, Any]:
    if info is None:
        return {}
    if hasattr(info, "_asdict"):
        return {k: v for k, v in info._asdict().items() if v is not None}
    if isinstance(info, Mapping):
        return {k: v for k, v in info.items() if v is not None}
    return {
        path or "info": leaf
        for path, leaf in zip(leaf_paths(info), jax.tree.leaves(info), strict=True)
    }


def _sample_stats(info: Any, chains_draws: tuple[int, int]) -> xr.Dataset | None:
    variables = {}
    for field, value in _info_fields(info).items():
        if not hasattr(value, "shape") and not np.isscalar(value):
            continue  # a nested structure: not a per-draw statistic
        arr = np.asarray(value)
        if arr.shape[:2] != chains_draws:
            continue  # not per draw (e.g. a constant), nothing to plot against draws
        if arr.dtype.kind not in "biuf":
            continue
        name = SAMPLE_STATS_NAMES.get(field, field)
        variables[name] = _data_array(arr, name, {}, {})
    return xr.Dataset(variables) if variables else None


def to_arviz(
    trace: Trace | Any,
    names: str | Sequence[str] | None = None,
    coords: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    *,
    model: Any | None = None,
) -> Any:
    """Convert a trace (or draws) to ArviZ's data object.

    Parameters
    ----------
    trace : a :class:`~jlangevin.run.Trace` (its positions, or its ``values``
        when only a ``store`` function was recorded), a draws array
        ``(chains, draws, *event)``, or a pytree of such arrays; at least one
        chain and one draw (a particle cloud is ``(particles, 1, *event)``).
        Non-finite draws are converted as they are.
    names : one variable name per pytree leaf (leaf order), or one string for a
        single array. For one array ``(chains, draws, k)`` (a plain-array position),
        ``k >= 2`` names make one scalar variable per coordinate
        (``names=["mu", "log_sigma"]``). Default: dict keys / attribute names,
        ``"x"`` for one array, whose coordinates are then the dimension ``x_dim_0``
        labelled ``0 .. k-1`` (ArviZ's labels ``x[0]``, ``x[1]``, ...).
    coords : labels for named event dimensions, ``{dim: labels}``, e.g.
        ``{"x_dim_0": ["mu", "log_sigma"]}``; every key must be one of the event
        dimensions.
    dims : names of the event axes per variable, ``{name: [dim, ...]}``;
        default ``{name}_dim_0, {name}_dim_1, ...``.
    model : the :class:`~jlangevin.models.Model` the trace sampled (for example
        ``jl.from_numpyro(...)``): the posterior is then the *constrained* one
        under the model's names, with ``unconstrained_posterior``,
        ``log_likelihood`` (per observation, for ``az.loo``) and
        ``observed_data`` groups (see :func:`jlangevin.models.arviz.to_inference_data`).
        ``names`` does not apply then.

    Returns
    -------
    arviz.InferenceData (ArviZ 0.x) or xarray.DataTree (ArviZ >= 1.0)
        ``posterior``: one variable per leaf, dims ``(chain, draw, *event)``.
        ``sample_stats`` (when the trace has ``info``): the kernel's per-draw
        report under ArviZ's names, see :data:`SAMPLE_STATS_NAMES`
        (``diverged`` -> ``diverging``, ``logdensity`` -> ``lp``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 200)
    >>> idata = jl.to_arviz(trace, dims={"x": ["axis"]}, coords={"axis": ["a", "b"]})
    >>> dict(idata["posterior"]["x"].sizes)
    {'chain': 4, 'draw': 200, 'axis': 2}
    >>> list(jl.to_arviz(trace, names=["a", "b"])["posterior"].data_vars)  # one per coordinate
    ['a', 'b']
    """
    trace = trace.without_initial() if isinstance(trace, Trace) else trace
    if model is not None:
        if names is not None:
            raise ValueError("`names` does not apply with `model` (the model names its sites).")
        from jlangevin.models.arviz import to_inference_data

        return to_inference_data(trace, model, coords=coords, dims=dims)
    source = trace
    info = None
    if isinstance(trace, Trace):
        info = trace.info
        if trace.positions is None and trace.values is not None:
            source = trace.values
    tree = as_draw_tree(source, "trace", finite=False)  # a conversion: NaN stays visible
    var_names, leaves = _named_variables(tree, names)
    for arg, value in (("coords", coords), ("dims", dims)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"`{arg}` must be a mapping; got {type(value).__name__}.")
    coords, dims = dict(coords or {}), dict(dims or {})
    unknown = set(dims) - set(var_names)
    if unknown:
        raise ValueError(f"`dims` names unknown variables {sorted(unknown)}; have {var_names}.")
    posterior = xr.Dataset(
        {n: _data_array(v, n, dims, coords) for n, v in zip(var_names, leaves, strict=True)}
    )
    unused = set(coords) - set(posterior.dims) - {"chain", "draw"}
    if unused:
        event_dims = sorted(set(posterior.dims) - {"chain", "draw"})
        raise ValueError(
            f"`coords` names dimensions the posterior does not have: {sorted(unused)}; its "
            f"event dimensions are {event_dims} (rename them with `dims`)."
        )
    posterior.attrs["inference_library"] = "jlangevin"
    groups = {"posterior": posterior}
    stats = _sample_stats(info, leaves[0].shape[:2])
    if stats is not None:
        groups["sample_stats"] = stats
    return wrap_groups(groups)
