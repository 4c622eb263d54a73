"""Pictures of runs: trace and rank plots (through ArviZ), histograms and particle clouds
over the exact density, frame strips, trajectories, and animated GIFs.

matplotlib (Agg backend when none is chosen) and ArviZ load with this module only,
never with ``import jlangevin``. Every function returns the matplotlib ``Figure``
(or, for :func:`animate`, writes the file and returns its path).

What cannot be drawn is refused with an error naming the argument: no chains or
draws, non-finite draws, options of the wrong type or range, a folder that is not
there. A particle cloud (one draw per chain) is drawn by :func:`histogram`,
:func:`particles`, :func:`frames` and :func:`animate`, always on fixed axes (``limits=``,
else computed once for the whole figure or animation); frames are labelled by step
(``Trace.steps``: a run with ``keep_initial=True`` shows its start as ``t = 0``). Trace
and rank plots need chains of at least two draws.

>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> target = jl.targets.quartic()
>>> draws = target.sample(jax.random.key(0), 2000).reshape(2, 1000, 1)
>>> fig = jl.plot.histogram(draws, target)
>>> fig.savefig("quartic.png")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
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
from matplotlib.figure import Figure

from jlangevin.diagnostics._checks import as_int, as_number
from jlangevin.diagnostics._draws import as_draw_tree, chains_draws
from jlangevin.diagnostics.arviz_io import ARVIZ_1, figure_of, group_dataset, to_arviz
from jlangevin.run import Trace
from jlangevin.targets import Target

__all__ = [
    "animate",
    "frames",
    "histogram",
    "particles",
    "rank_plot",
    "trace_plot",
    "trajectories",
]


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


@functools.lru_cache(maxsize=8)
def _contour_grid(target: Target, xlim: tuple, ylim: tuple, resolution: int = 200):
    """The target's density on a grid over the limits (cached: a strip's panels share it)."""
    gx, gy = np.linspace(*xlim, resolution), np.linspace(*ylim, resolution)
    return gx, gy, _density(target, np.stack(np.meshgrid(gx, gy), axis=-1))


def _contours(ax: Any, target: Target, xlim, ylim) -> None:
    gx, gy, density = _contour_grid(target, tuple(xlim), tuple(ylim))
    ax.contour(gx, gy, density, levels=8, cmap="Blues", linewidths=0.8)


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


def _step_label(index: Any, thin: int, burnin: int) -> Any:
    """Sampler step count of kept draw ``index`` (as ``jl.run`` counts without the initial)."""
    return burnin + (np.asarray(index) + 1) * thin


def _kept_steps(
    draws: Any, num_draws: int, steps_of_draws: Any, thin: Any, burnin: Any
) -> np.ndarray:
    """The step number of each kept draw, an int array ``(num_draws,)``.

    From ``steps_of_draws`` when given, else from ``Trace.steps`` (a run with
    ``keep_initial=True`` puts the start there as step 0), else
    ``burnin + thin * (k + 1)`` for kept draw ``k``.
    """
    thin = as_int(thin, "thin", minimum=1)
    burnin = as_int(burnin, "burnin", minimum=0)
    if steps_of_draws is None and isinstance(draws, Trace):
        steps_of_draws = getattr(draws, "steps", None)
    if steps_of_draws is None:
        return _step_label(np.arange(num_draws), thin, burnin).astype(np.int64)
    steps = np.asarray(steps_of_draws)
    if steps.ndim == 2 and steps.shape[-1] == num_draws:
        steps = steps[0]  # per chain: every chain keeps the same steps
    if steps.shape != (num_draws,) or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(
            f"`steps_of_draws` must be an integer array ({num_draws},), one step number per "
            f"kept draw; got {steps.dtype} of shape {steps.shape}."
        )
    if np.any(np.diff(steps) <= 0) or np.any(steps < 0):
        raise ValueError(
            f"`steps_of_draws` must be increasing, non-negative step numbers; got {steps}."
        )
    return steps.astype(np.int64)


def _draw_indices(requested: Any, kept: np.ndarray, default: int = 6) -> np.ndarray:
    """Indices of the kept draws at the ``requested`` step numbers (default: spread evenly)."""
    if requested is None:
        count = min(default, kept.size)
        return np.unique(np.linspace(0, kept.size - 1, count).round().astype(int))
    if isinstance(requested, str) or np.ndim(requested) > 1:
        raise TypeError(f"`steps` must be a sequence of step numbers; got {requested!r:.80}.")
    values = np.atleast_1d(np.asarray(requested))
    if values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"`steps` must be a non-empty sequence of integer step numbers; got {requested!r:.80}."
        )
    missing = [int(v) for v in values if v not in kept]
    if missing:
        shown = (
            kept.tolist() if kept.size <= 12 else f"{kept[:3].tolist()} ... {kept[-3:].tolist()}"
        )
        raise ValueError(
            f"`steps` {missing} are not among the kept steps {shown} (a run keeps the start as "
            "step 0 only with keep_initial=True)."
        )
    return np.searchsorted(kept, values)


def _check_limits(limits: Any, dim: int) -> list[tuple[float, float]] | None:
    """``limits`` as one ``(lo, hi)`` pair per axis: ``(lo, hi)`` in 1-D, else a pair of pairs."""
    if limits is None:
        return None
    expected = "(lo, hi)" if dim == 1 else "((xmin, xmax), (ymin, ymax))"
    try:
        pairs = np.asarray(limits, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`limits` must be numbers {expected}; got {limits!r:.80}.") from None
    if dim == 1 and pairs.shape == (2,):
        pairs = pairs[None]
    if pairs.shape != (dim, 2):
        raise ValueError(f"`limits` must be {expected}; got {limits!r:.80}.")
    if not np.all(np.isfinite(pairs)) or np.any(pairs[:, 0] >= pairs[:, 1]):
        raise ValueError(f"`limits` must be finite with lo < hi on each axis; got {limits!r:.80}.")
    return [(float(lo), float(hi)) for lo, hi in pairs]


def _axes_limits(
    x: np.ndarray, target: Target | None, limits: Any, axes: Sequence[int]
) -> list[tuple[float, float]]:
    """Fixed limits for ``axes`` of the draws ``x`` (..., dim): given, or from the target/draws."""
    given = _check_limits(limits, len(axes))
    if given is not None:
        return given
    return [_limits(x[..., axis], target, axis) for axis in axes]


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
    limits: tuple[float, float] | None = None,
    ax: Any = None,
) -> Figure:
    """Histogram of one coordinate's draws (all chains) over the exact density of a 1-D target.

    ``limits=(lo, hi)`` fixes the range (default: the target's support, else the draws').

    Examples
    --------
    >>> fig = histogram(trace, jl.targets.quartic(), limits=(-1, 2))  # doctest: +SKIP
    """
    x = _one_array(draws)
    coordinate = as_int(coordinate, "coordinate", minimum=0, maximum=x.shape[-1] - 1)
    bins = as_int(bins, "bins", minimum=1)
    _check_target(target, x.shape[-1])
    ((lo, hi),) = _axes_limits(x, target, limits, [coordinate])
    x = x[..., coordinate].ravel()
    fig, ax = plt.subplots(figsize=(6, 3.5)) if ax is None else (ax.figure, ax)
    edges, curve = np.linspace(lo, hi, bins + 1), _density_curve(target, lo, hi)
    _histogram_panel(ax, x, edges, label=f"{x.size} draws", curve=curve)
    ax.set(xlabel=f"x[{coordinate}]", ylabel="density", xlim=(lo, hi))
    ax.legend(frameon=False)
    return fig


def _histogram_panel(ax: Any, x: np.ndarray, edges: np.ndarray, label: str, curve: Any = None):
    """Histogram of ``x`` on ``edges`` and the exact density ``curve = (grid, values)``."""
    ax.hist(x, bins=edges, density=True, color="C0", alpha=0.6, label=label)
    if curve is not None:
        ax.plot(*curve, color="k", lw=1.5, label="exact density")


def _histogram_top(top: float, curve: Any) -> float:
    """A shared histogram height: the tallest bar, but at most 3x the exact density's peak
    (a start at one point or a wall atom would otherwise flatten every other frame)."""
    if curve is None:
        return top
    peak = float(np.max(curve[1]))
    return float(min(max(top, 1.1 * peak), 3.0 * peak))


def _density_curve(target: Target | None, lo: float, hi: float) -> Any:
    """``(grid, density)`` of a 1-D target on ``[lo, hi]`` (evaluated once per figure)."""
    if target is None or target.dim != 1:
        return None
    grid = np.linspace(lo, hi, 400)
    return grid, _density(target, grid[:, None])


def particles(
    draws: Any,
    target: Target | None = None,
    *,
    step: int = -1,
    limits: Any = None,
    ax: Any = None,
    size: float = 1.0,
) -> Figure:
    """2-D particles (one per chain) at kept draw ``step`` over the target's density contours.

    The axis limits are fixed by ``limits=((xmin, xmax), (ymin, ymax))``, or computed from
    all kept draws (not just this one), so pictures of different steps line up.

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
    xlim, ylim = _axes_limits(x, target, limits, [0, 1])
    fig, ax = plt.subplots(figsize=(4.5, 4.5)) if ax is None else (ax.figure, ax)
    _cloud_panel(ax, x[:, step], target, xlim, ylim, size)
    index = step % x.shape[1]
    ax.set_title(f"draw {index + 1} of {x.shape[1]}")
    return fig


def _cloud_panel(ax: Any, cloud: np.ndarray, target: Target | None, xlim, ylim, size: float):
    """Particles ``cloud`` (n, 2) over the target's contours, on fixed limits."""
    if target is not None:
        _contours(ax, target, xlim, ylim)
    scatter = ax.scatter(cloud[:, 0], cloud[:, 1], s=size, color="C3", alpha=0.6, linewidths=0)
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    return scatter


def trajectories(
    draws: Any,
    *,
    chains: int | Sequence[int] = (0, 1, 2),
    thin: int = 1,
    burnin: int = 0,
    steps_of_draws: Any = None,
    limits: Any = None,
) -> Figure:
    """Paths of chosen chains (particles) along each axis, against the step count.

    One panel per coordinate: ``trajectories(trace, chains=0)`` draws ``x(t)`` and
    ``y(t)`` of one particle. Steps come from ``steps_of_draws``, else ``Trace.steps``,
    else ``burnin + thin * (k + 1)``. ``limits`` fixes each panel's vertical range
    (``(lo, hi)`` in 1-D, one pair per coordinate otherwise).

    Examples
    --------
    >>> fig = trajectories(trace, chains=[0, 5])  # doctest: +SKIP
    """
    x = _one_array(draws)
    if isinstance(chains, int | np.integer) and not isinstance(chains, bool):
        chains = [chains]
    if isinstance(chains, str) or not isinstance(chains, Sequence | np.ndarray):
        raise TypeError(f"`chains` must be a chain index or a sequence of them; got {chains!r}.")
    chains = [as_int(c, "chains", minimum=0) for c in chains]
    bad = [c for c in chains if not 0 <= c < x.shape[0]]
    if bad or not chains:
        raise ValueError(f"`chains` must index the {x.shape[0]} chains; got {chains}.")
    steps = _kept_steps(draws, x.shape[1], steps_of_draws, thin, burnin)
    dim = x.shape[-1]
    ylims = _check_limits(limits, dim)
    fig, axes = plt.subplots(dim, 1, figsize=(7, 1.8 * dim + 0.6), sharex=True, squeeze=False)
    for axis, ax in enumerate(axes[:, 0]):
        for c in chains:
            ax.plot(
                steps,
                x[c, :, axis],
                lw=0.9,
                marker="." if steps.size <= 50 else None,
                label=f"chain {c}",
            )
        ax.set_ylabel(f"x[{axis}]")
        if ylims is not None:
            ax.set_ylim(ylims[axis])
    axes[0, 0].legend(frameon=False, fontsize="small", ncols=min(len(chains), 4))
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Frame strips
# --------------------------------------------------------------------------- #
def frames(
    draws: Any,
    steps: Sequence[int] | None = None,
    *,
    limits: Any = None,
    target: Target | None = None,
    steps_of_draws: Any = None,
    thin: int = 1,
    burnin: int = 0,
    ncols: int | None = None,
    bins: int = 40,
    size: float = 1.0,
    panel_size: float = 2.4,
) -> Figure:
    """A strip of particle clouds, one panel per requested step, all on the same axes.

    2-D draws: a scatter of the particles (over the target's contours). 1-D draws:
    a histogram of the particles over the exact density when ``target`` is given.
    Each panel is titled ``"t = k"``.

    Parameters
    ----------
    draws : a Trace or an array ``(chains, draws[, dim])``, dim 1 or 2: one particle
        per chain.
    steps : step numbers to show (default: six spread over the kept draws). Each must
        be a kept step (see ``steps_of_draws``); others are refused.
    limits : ``((xmin, xmax), (ymin, ymax))`` (2-D) or ``(lo, hi)`` (1-D); default:
        the target's support, else computed once from all shown frames.
    target : drawn under every panel.
    steps_of_draws : step number of each kept draw, ``(draws,)``; default
        ``Trace.steps`` when the trace has it (``keep_initial=True`` keeps the start as
        step 0), else ``burnin + thin * (k + 1)``.
    thin, burnin : how the run kept its draws, when there is no step record.
    ncols : panels per row (default: all in one row, up to 6).
    bins : histogram bins (1-D).
    size : marker size (2-D).
    panel_size : width of one panel in inches.

    Returns
    -------
    Figure

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin import plot
    >>> x = np.random.default_rng(0).normal(size=(500, 3, 2))  # 500 particles, 3 draws
    >>> fig = plot.frames(x, steps=[0, 2], steps_of_draws=[0, 1, 2])
    >>> [ax.get_title() for ax in fig.axes]
    ['t = 0', 't = 2']
    """
    x = _one_array(draws)
    dim = x.shape[-1]
    if dim not in (1, 2):
        raise ValueError(f"`draws`: frames() shows 1-D or 2-D draws; got shape {x.shape}.")
    _check_target(target, dim)
    kept = _kept_steps(draws, x.shape[1], steps_of_draws, thin, burnin)
    indices = _draw_indices(steps, kept)
    bins = as_int(bins, "bins", minimum=1)
    size = as_number(size, "size", 0.0, low_open=True)
    panel_size = as_number(panel_size, "panel_size", 0.0, low_open=True)
    ncols = min(indices.size, 6) if ncols is None else as_int(ncols, "ncols", minimum=1)
    ncols = min(ncols, indices.size)
    nrows = -(-indices.size // ncols)
    shown = x[:, indices]
    bounds = _axes_limits(shown, target, limits, list(range(dim)))
    height = panel_size if dim == 2 else 0.75 * panel_size
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols, height * nrows + 0.3),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    if dim == 2:
        for ax, k in zip(axes.flat, range(indices.size), strict=False):
            _cloud_panel(ax, shown[:, k], target, bounds[0], bounds[1], size)
    else:
        edges, curve = np.linspace(*bounds[0], bins + 1), _density_curve(target, *bounds[0])
        top = 0.0
        for ax, k in zip(axes.flat, range(indices.size), strict=False):
            _histogram_panel(ax, shown[:, k, 0], edges, f"{x.shape[0]} particles", curve)
            top = max(top, ax.get_ylim()[1])
        for ax in axes.flat:
            ax.set(xlim=bounds[0], ylim=(0.0, _histogram_top(top, curve)))
    for ax, index in zip(axes.flat, indices, strict=False):
        ax.set_title(f"t = {kept[index]}", fontsize="medium")
    for ax in axes.flat[indices.size :]:
        ax.remove()
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
    steps_of_draws: Any = None,
    limits: Any = None,
    cumulative: bool | None = None,
    bins: int = 50,
    size: float = 1.0,
    dpi: int = 80,
) -> str:
    """Write an animated GIF of the particle cloud through time, with a step counter.

    2-D draws: particles (one per chain) over the density contours. 1-D draws:
    a histogram over the exact density, either of the particles at that draw or,
    with ``cumulative=True`` (the default with fewer than 1000 chains), of all
    draws so far, so it fills in. The axes are fixed for the whole animation
    (``limits``, else computed once from all draws), and only the particles and
    the counter are redrawn each frame (blitting onto one rendered background,
    one shared GIF palette): 10,000 particles write at well over 10 frames a second.

    Parameters
    ----------
    draws : a Trace or draws array ``(chains, draws[, dim])`` with dim 1 or 2.
    path : the ``.gif`` to write.
    target : drawn underneath (density curve or contours).
    frames : number of frames, spread evenly over the kept draws.
    fps : frames per second of the GIF.
    thin, burnin, steps_of_draws : how the run kept its draws, to label frames by
        step (``Trace.steps`` when the trace has it; see :func:`frames`).
    limits : ``((xmin, xmax), (ymin, ymax))`` (2-D) or ``(lo, hi)`` (1-D).
    cumulative : 1-D only: histogram all draws so far instead of the current cloud.
    bins, size : histogram bins (1-D), marker size (2-D).
    dpi : resolution of the frames.

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
    fps = as_int(fps, "fps", minimum=1, maximum=100)
    kept = _kept_steps(draws, x.shape[1], steps_of_draws, thin, burnin)
    bounds = _axes_limits(x, target, limits, list(range(x.shape[-1])))
    bins = as_int(bins, "bins", minimum=1)
    dpi = as_int(dpi, "dpi", minimum=1)
    size = as_number(size, "size", 0.0, low_open=True)
    if cumulative is not None and not isinstance(cumulative, bool | np.bool_):
        raise TypeError(f"`cumulative` must be True, False or None; got {cumulative!r}.")
    indices = np.unique(np.linspace(0, x.shape[1] - 1, min(frames, x.shape[1])).astype(int))
    if x.shape[-1] == 2:
        fig, artists, update = _cloud_frames(x, target, bounds, size)
    else:
        cumulative = x.shape[0] < 1000 if cumulative is None else bool(cumulative)
        fig, artists, update = _histogram_frames(x, target, bounds[0], bins, cumulative, indices)
    fig.set_dpi(dpi)
    try:
        _write_gif(fig, artists, lambda i: update(i, int(kept[i])), indices, path, fps)
    finally:
        plt.close(fig)
    return str(path)


def _write_gif(fig: Figure, artists: Sequence[Any], update: Any, indices: Any, path: str, fps: int):
    """Render ``fig`` once without ``artists``, then per frame blit them and keep the pixels.

    The frames share one palette (taken from the first, middle and last frames), so
    GIF encoding is a lookup, not a per-frame colour quantization.
    """
    from PIL import Image

    for artist in artists:
        artist.set_animated(True)
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    pixels = []
    for index in indices:
        update(index)
        canvas.restore_region(background)
        for artist in artists:
            fig.draw_artist(artist)
        pixels.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    sample = np.concatenate([pixels[0], pixels[len(pixels) // 2], pixels[-1]], axis=0)
    palette = Image.fromarray(sample).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    images = [
        Image.fromarray(p).quantize(palette=palette, dither=Image.Dither.NONE) for p in pixels
    ]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(round(1000 / fps), 10),
        loop=0,
    )


def _cloud_frames(x: np.ndarray, target: Target | None, bounds: list, size: float):
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    scatter = _cloud_panel(ax, x[:, 0], target, bounds[0], bounds[1], size)
    label = ax.set_title(f"t = {10**6}, {x.shape[0]} particles")
    fig.tight_layout()

    def update(index: int, step: int):
        scatter.set_offsets(x[:, index])
        label.set_text(f"t = {step}, {x.shape[0]} particles")

    return fig, (scatter, label), update


def _histogram_frames(
    x: np.ndarray,
    target: Target | None,
    bounds: tuple[float, float],
    bins: int,
    cumulative: bool,
    indices: np.ndarray,
):
    """A stairs histogram whose heights (all precomputed, fixing the y-range) change per frame."""
    edges = np.linspace(*bounds, bins + 1)
    values = x[..., 0]
    heights = {}
    for index in indices:
        shown = values[:, : index + 1] if cumulative else values[:, index]
        heights[index] = np.histogram(shown.ravel(), bins=edges, density=True)[0]
    top = max(float(np.max(h)) for h in heights.values())
    fig, ax = plt.subplots(figsize=(6, 3.5))
    curve = _density_curve(target, *bounds)
    if curve is not None:
        ax.plot(*curve, color="k", lw=1.5, label="exact density")
    stairs = ax.stairs(heights[indices[0]], edges, fill=True, color="C0", alpha=0.6)
    ax.set(xlim=bounds, ylim=(0, _histogram_top(1.1 * top, curve)), xlabel="x", ylabel="density")
    label = ax.set_title(f"t = {10**6}, {x.size} draws")
    fig.tight_layout()

    def update(index: int, step: int):
        stairs.set_data(values=heights[index])
        what = f"{x.shape[0] * (index + 1)} draws" if cumulative else f"{x.shape[0]} particles"
        label.set_text(f"t = {step}, {what}")

    return fig, (stairs, label), update
