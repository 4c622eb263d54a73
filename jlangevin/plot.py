"""Pictures of runs: trace and rank plots (through ArviZ), histograms and particle clouds
over the exact density, trajectories, and animated GIFs.

matplotlib (Agg backend when none is chosen) and ArviZ load with this module only,
never with ``import jlangevin``. Every function returns the matplotlib ``Figure``
(or, for :func:`animate`, writes the file and returns its path).

What cannot be drawn is refused with an error naming the argument: no chains or
draws, non-finite draws, options of the wrong type or range, a folder that is not
there. A particle cloud (one draw per chain) is drawn by :func:`histogram`,
:func:`particles` and :func:`animate`; trace and rank plots need chains of at least
two draws.

>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> target = jl.targets.quartic()
>>> draws = target.sample(jax.random.key(0), 2000).reshape(2, 1000, 1)
>>> fig = jl.plot.histogram(draws, target)
>>> fig.savefig("quartic.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")  # no display needed; choose another with MPLBACKEND

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.figure import Figure

from jlangevin.diagnostics._checks import as_int, as_number
from jlangevin.diagnostics._draws import as_draw_tree, chains_draws
from jlangevin.diagnostics.arviz_io import ARVIZ_1, figure_of, group_dataset, to_arviz
from jlangevin.run import Trace
from jlangevin.targets import Target

__all__ = ["animate", "histogram", "particles", "rank_plot", "trace_plot", "trajectories"]


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def _one_array(draws: Any, name: str = "draws") -> np.ndarray:
    """The single finite draws array ``(chains, draws, dim)`` (a scalar event gets dim 1)."""
    leaves = jax.tree.leaves(as_draw_tree(draws, name))
    if len(leaves) != 1 or leaves[0].ndim > 3:
        raise ValueError(
            f"`{name}` must be one array (chains, draws) or (chains, draws, dim); got leaves "
            f"of shapes {[leaf.shape for leaf in leaves]}."
        )
    x = leaves[0]
    return x[..., None] if x.ndim == 2 else x


def _check_dim(x: np.ndarray, dim: int, what: str) -> None:
    if x.shape[-1] != dim:
        raise ValueError(
            f"`draws`: {what} needs {dim}-D draws (chains, draws, {dim}); got {x.shape}."
        )


def _check_target(target: Any, dim: int | None = None) -> None:
    """``target`` is ``None`` or a Target of the draws' dimension."""
    if target is None:
        return
    if not isinstance(target, Target):
        raise TypeError(f"`target` must be a jl.targets.Target or None; got {target!r:.80}.")
    if dim is not None and target.dim != dim:
        raise ValueError(
            f"`target` {target.name!r} has dim={target.dim}; the draws have {dim} coordinates."
        )


def _check_path(path: Any) -> str:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"`path` must be a file name (str or os.PathLike); got {path!r}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"`path` {path!r} is a directory; expected a .gif file name.")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise ValueError(
            f"`path` {path!r}: the folder {folder!r} does not exist or is not writable."
        )
    return path


def _density(target: Target, points: np.ndarray) -> np.ndarray:
    """The target's density at ``points`` ``(..., dim)`` (normalized where ``pdf`` is known)."""
    if target.pdf is not None:
        return np.asarray(target.pdf(jnp.asarray(points)), dtype=float)
    flat = jnp.asarray(points).reshape(-1, target.dim)
    values = jnp.exp(jax.vmap(target.logdensity)(flat))
    return np.asarray(values, dtype=float).reshape(points.shape[:-1])


def _limits(values: np.ndarray, target: Target | None, axis: int, pad: float = 0.15):
    if target is not None and target.support is not None:
        return float(target.support[0][axis]), float(target.support[1][axis])
    lo, hi = np.nanpercentile(values, [0.5, 99.5])
    width = max(hi - lo, 1e-6)
    return float(lo - pad * width), float(hi + pad * width)


def _contours(ax: Any, target: Target, xlim, ylim, resolution: int = 200) -> None:
    gx, gy = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1)
    ax.contour(gx, gy, _density(target, grid), levels=8, cmap="Blues", linewidths=0.8)


def _as_idata(data: Any) -> Any:
    """ArviZ data of chains (finite, at least 2 draws each): what trace and rank plots show."""
    source = data
    if isinstance(data, Trace) and data.positions is None and data.values is not None:
        source = data.values  # what to_arviz shows for a run with a `store` function
    tree = as_draw_tree(source, "data")  # refuses empty, non-finite and non-numeric data
    draws = chains_draws(tree)[1]
    if draws < 2:
        raise ValueError(
            f"`data` has {draws} draw per chain (a particle cloud): trace and rank plots need "
            "chains of at least 2 draws; show a cloud with histogram() or particles()."
        )
    if hasattr(data, "posterior") or hasattr(data, "children"):
        return data  # already an InferenceData / DataTree
    return to_arviz(data)


def _check_var_names(idata: Any, var_names: Any) -> list[str] | None:
    if var_names is None:
        return None
    names = [var_names] if isinstance(var_names, str) else var_names
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"`var_names` must be a string or a sequence of strings; got {var_names!r}."
        )
    have = [str(v) for v in group_dataset(idata, "posterior").data_vars]
    unknown = [n for n in names if n not in have]
    if unknown or not names:
        raise ValueError(f"`var_names` {list(names)} must name posterior variables {have}.")
    return list(names)


def _step_label(index: int, thin: int, burnin: int) -> int:
    """Sampler step count of kept draw ``index`` (as ``jl.run`` counts)."""
    return burnin + (index + 1) * thin


# --------------------------------------------------------------------------- #
# Through ArviZ
# --------------------------------------------------------------------------- #
def trace_plot(data: Any, var_names: Sequence[str] | None = None, **kwargs: Any) -> Figure:
    """ArviZ trace plot (marginal density and draws per chain) of a trace.

    Parameters
    ----------
    data : a Trace, draws array, pytree, or what :func:`jlangevin.to_arviz` returned.
    var_names : variables to show (default all).
    **kwargs : passed to ``az.plot_trace`` (ArviZ 0.x) / ``az.plot_trace_dist`` (ArviZ 1.x).

    Examples
    --------
    >>> fig = trace_plot(trace)  # doctest: +SKIP
    """
    return _arviz_figure("plot_trace", "plot_trace_dist", data, var_names, kwargs)


def rank_plot(data: Any, var_names: Sequence[str] | None = None, **kwargs: Any) -> Figure:
    """ArviZ rank plot: ranks of each chain's draws among all (flat when chains agree).

    Examples
    --------
    >>> fig = rank_plot(trace)  # doctest: +SKIP
    """
    return _arviz_figure("plot_rank", "plot_rank", data, var_names, kwargs)


def _arviz_figure(
    legacy: str, modern: str, data: Any, var_names: Sequence[str] | None, kwargs: dict[str, Any]
) -> Figure:
    """Call ArviZ's ``legacy`` (0.x) or ``modern`` (1.x) plot function on matplotlib."""
    import arviz as az

    idata = _as_idata(data)
    var_names = _check_var_names(idata, var_names)
    if ARVIZ_1:
        plotted = getattr(az, modern)(idata, var_names=var_names, backend="matplotlib", **kwargs)
    else:
        plotted = getattr(az, legacy)(idata, var_names=var_names, show=False, **kwargs)
    return figure_of(plotted)


# --------------------------------------------------------------------------- #
# Draws over the exact target
# --------------------------------------------------------------------------- #
def histogram(
    draws: Any,
    target: Target | None = None,
    *,
    coordinate: int = 0,
    bins: int = 60,
    ax: Any = None,
) -> Figure:
    """Histogram of one coordinate's draws (all chains) over the exact density of a 1-D target.

    Examples
    --------
    >>> fig = histogram(trace, jl.targets.quartic())  # doctest: +SKIP
    """
    x = _one_array(draws)
    coordinate = as_int(coordinate, "coordinate", minimum=0, maximum=x.shape[-1] - 1)
    bins = as_int(bins, "bins", minimum=1)
    _check_target(target, x.shape[-1])
    x = x[..., coordinate].ravel()
    fig, ax = plt.subplots(figsize=(6, 3.5)) if ax is None else (ax.figure, ax)
    lo, hi = _limits(x, target, coordinate)
    ax.hist(
        x,
        bins=np.linspace(lo, hi, bins + 1),
        density=True,
        color="C0",
        alpha=0.6,
        label=f"{x.size} draws",
    )
    if target is not None and target.dim == 1:
        grid = np.linspace(lo, hi, 400)
        ax.plot(grid, _density(target, grid[:, None]), color="k", lw=1.5, label="exact density")
    ax.set(xlabel=f"x[{coordinate}]", ylabel="density", xlim=(lo, hi))
    ax.legend(frameon=False)
    return fig


def particles(
    draws: Any,
    target: Target | None = None,
    *,
    step: int = -1,
    ax: Any = None,
    size: float = 1.0,
) -> Figure:
    """2-D particles (one per chain) at kept draw ``step`` over the target's density contours.

    Examples
    --------
    >>> fig = particles(trace, jl.targets.ellipse(), step=-1)  # doctest: +SKIP
    """
    x = _one_array(draws)
    _check_dim(x, 2, "particles()")
    _check_target(target, 2)
    step = as_int(step, "step")
    size = as_number(size, "size", 0.0, low_open=True)
    if not -x.shape[1] <= step < x.shape[1]:
        raise ValueError(f"`step` must index one of the {x.shape[1]} kept draws; got {step}.")
    cloud = x[:, step]
    fig, ax = plt.subplots(figsize=(4.5, 4.5)) if ax is None else (ax.figure, ax)
    xlim, ylim = _limits(x[..., 0], target, 0), _limits(x[..., 1], target, 1)
    if target is not None:
        _contours(ax, target, xlim, ylim)
    ax.scatter(cloud[:, 0], cloud[:, 1], s=size, color="C3", alpha=0.6, linewidths=0)
    index = step % x.shape[1]
    ax.set(xlim=xlim, ylim=ylim, aspect="equal", title=f"draw {index + 1} of {x.shape[1]}")
    return fig


def trajectories(
    draws: Any,
    *,
    chains: Sequence[int] = (0, 1, 2),
    thin: int = 1,
    burnin: int = 0,
) -> Figure:
    """Paths of chosen chains (particles) along each axis, against the step count.

    Examples
    --------
    >>> fig = trajectories(trace, chains=[0, 5])  # doctest: +SKIP
    """
    x = _one_array(draws)
    if isinstance(chains, str) or not isinstance(chains, Sequence | np.ndarray):
        raise TypeError(f"`chains` must be a sequence of chain indices; got {chains!r}.")
    chains = [as_int(c, "chains", minimum=0) for c in chains]
    bad = [c for c in chains if not 0 <= c < x.shape[0]]
    if bad or not chains:
        raise ValueError(f"`chains` must index the {x.shape[0]} chains; got {chains}.")
    thin = as_int(thin, "thin", minimum=1)
    burnin = as_int(burnin, "burnin", minimum=0)
    steps = _step_label(np.arange(x.shape[1]), thin, burnin)
    dim = x.shape[-1]
    fig, axes = plt.subplots(dim, 1, figsize=(7, 1.8 * dim + 0.6), sharex=True, squeeze=False)
    for axis, ax in enumerate(axes[:, 0]):
        for c in chains:
            ax.plot(steps, x[c, :, axis], lw=0.7, label=f"chain {c}")
        ax.set_ylabel(f"x[{axis}]")
    axes[0, 0].legend(frameon=False, fontsize="small", ncols=min(len(chains), 4))
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Animation
# --------------------------------------------------------------------------- #
def animate(
    draws: Any,
    path: str | os.PathLike,
    target: Target | None = None,
    *,
    frames: int = 50,
    fps: int = 10,
    thin: int = 1,
    burnin: int = 0,
    cumulative: bool | None = None,
    bins: int = 50,
    size: float = 1.0,
    dpi: int = 80,
) -> str:
    """Write an animated GIF of the particle cloud through time, with a step counter.

    2-D draws: particles (one per chain) over the density contours. 1-D draws:
    a histogram over the exact density, either of the particles at that draw or,
    with ``cumulative=True`` (the default with fewer than 1000 chains), of all
    draws so far, so it fills in.

    Parameters
    ----------
    draws : a Trace or draws array ``(chains, draws[, dim])`` with dim 1 or 2.
    path : the ``.gif`` to write.
    target : drawn underneath (density curve or contours).
    frames : number of frames, spread evenly over the kept draws.
    fps : frames per second.
    thin, burnin : how the run kept its draws, to label frames by sampler step.

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> animate(trace, "ellipse.gif", jl.targets.ellipse())  # doctest: +SKIP
    'ellipse.gif'
    """
    x = _one_array(draws)
    if x.shape[-1] not in (1, 2):
        raise ValueError(f"`draws`: animate() shows 1-D or 2-D draws; got shape {x.shape}.")
    path = _check_path(path)
    _check_target(target, x.shape[-1])
    frames = as_int(frames, "frames", minimum=1)
    fps = as_int(fps, "fps", minimum=1)
    thin = as_int(thin, "thin", minimum=1)
    burnin = as_int(burnin, "burnin", minimum=0)
    bins = as_int(bins, "bins", minimum=1)
    dpi = as_int(dpi, "dpi", minimum=1)
    size = as_number(size, "size", 0.0, low_open=True)
    if cumulative is not None and not isinstance(cumulative, bool | np.bool_):
        raise TypeError(f"`cumulative` must be True, False or None; got {cumulative!r}.")
    indices = np.unique(np.linspace(0, x.shape[1] - 1, min(frames, x.shape[1])).astype(int))
    if x.shape[-1] == 2:
        fig, update = _cloud_frames(x, target, size)
    else:
        cumulative = x.shape[0] < 1000 if cumulative is None else cumulative
        fig, update = _histogram_frames(x, target, bins, cumulative)

    def draw(index: int):
        return update(index, _step_label(index, thin, burnin))

    animation = FuncAnimation(fig, draw, frames=indices, blit=False)
    animation.save(str(path), writer=PillowWriter(fps=fps), dpi=dpi)
    plt.close(fig)
    return str(path)


def _cloud_frames(x: np.ndarray, target: Target | None, size: float):
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    xlim, ylim = _limits(x[..., 0], target, 0), _limits(x[..., 1], target, 1)
    if target is not None:
        _contours(ax, target, xlim, ylim)
    scatter = ax.scatter(x[:, 0, 0], x[:, 0, 1], s=size, color="C3", alpha=0.6, linewidths=0)
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    label = ax.set_title("")
    fig.tight_layout()

    def update(index: int, step: int):
        scatter.set_offsets(x[:, index])
        label.set_text(f"{x.shape[0]} particles, step {step}")
        return scatter, label

    return fig, update


def _histogram_frames(x: np.ndarray, target: Target | None, bins: int, cumulative: bool):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lo, hi = _limits(x[..., 0], target, 0)
    edges = np.linspace(lo, hi, bins + 1)
    top = 1.0
    if target is not None and target.dim == 1:
        grid = np.linspace(lo, hi, 400)
        density = _density(target, grid[:, None])
        ax.plot(grid, density, color="k", lw=1.5, label="exact density")
        top = float(density.max())
    bars = ax.bar(
        edges[:-1], np.zeros(bins), width=np.diff(edges), align="edge", color="C0", alpha=0.6
    )
    ax.set(xlim=(lo, hi), ylim=(0, 1.6 * top), xlabel="x", ylabel="density")
    label = ax.set_title("")
    fig.tight_layout()

    def update(index: int, step: int):
        values = x[:, : index + 1, 0] if cumulative else x[:, index, 0]
        heights, _ = np.histogram(values.ravel(), bins=edges, density=True)
        for bar, h in zip(bars, heights, strict=True):
            bar.set_height(h)
        what = f"{values.size} draws" if cumulative else f"{x.shape[0]} particles"
        label.set_text(f"{what}, step {step}")
        return (*bars, label)

    return fig, update
