"""Langevin on an elliptical ring: 10,000 particles, ten steps, five settings.

The reference moves a cloud of particles started from ``N(0, I)`` for ten steps of

    x <- x + eta * score(x) + sqrt(2 eta) * xi,   xi ~ N(0, I)

on ``log p = -(r - 1)^2 / 0.033``, ``r = |(x - c) / radii|``, with one step size per
axis (``eta`` a vector). In jlangevin that is ``jl.ula(target.logdensity,
step_size=eta)`` run with ``jl.run``. Its parts:

(b) ``radii = (1.5, 1.5)``, centre ``(0, 0)``, ``eta = (1e-2, 1e-2)``;
(c) ``radii = (1, 2.5)``; (d) as (c) with ``eta = (1e-2, 1e-1)``;
(e) ``radii = (1.5, 1.5)`` centred at ``(1, 1)``; (f) as (e) started from
``1.5 N(0, I) + (1, 1)``.

Ten steps do not reach the ring's stationary law, so the check compares each part's
cloud at ``t = 10`` with an independent plain-numpy run of the reference loop (its
own random numbers): two-sample Kolmogorov–Smirnov tests of ``x``, ``y`` and the
ring radius ``r`` (where a wrong noise scale shows), 15 tests in all, each at level
``0.01 / 15`` (Bonferroni: the family errs with probability at most 0.01).

>>> from jlangevin.gallery import ellipse
>>> ellipse.run(quick=True).passed   # doctest: +SKIP
True
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jlangevin as jl
from jlangevin.gallery._result import Check, Result, out_folder

NAME = "ellipse"
WIDTH = 0.033
NUM_STEPS = 10
FAMILY_LEVEL = 0.01


class Part(NamedTuple):
    """One setting of the reference: the ring, the step per axis and the start."""

    label: str
    radii: tuple[float, float]
    centre: tuple[float, float]
    eta: tuple[float, float]
    start_scale: float = 1.0
    start_shift: tuple[float, float] = (0.0, 0.0)


PARTS = (
    Part("b", (1.5, 1.5), (0.0, 0.0), (1e-2, 1e-2)),
    Part("c", (1.0, 2.5), (0.0, 0.0), (1e-2, 1e-2)),
    Part("d", (1.0, 2.5), (0.0, 0.0), (1e-2, 1e-1)),
    Part("e", (1.5, 1.5), (1.0, 1.0), (1e-2, 1e-2)),
    Part("f", (1.5, 1.5), (1.0, 1.0), (1e-2, 1e-2), 1.5, (1.0, 1.0)),
)


def target_of(part: Part) -> jl.targets.Target:
    """The part's ring as a jlangevin target."""
    return jl.targets.ellipse(radii=part.radii, centre=part.centre, width=WIDTH)


def jlangevin_run(parts: tuple[Part, ...], key: jax.Array, num_particles: int) -> np.ndarray:
    """All parts in one jlangevin run: draws ``(particles, 1 + NUM_STEPS, parts, 2)``.

    The parts are independent, so they run side by side as one product target
    (position ``(parts, 2)``, log density the sum, ``eta`` one row per part): the same
    update per part as separate runs, compiled once.
    """
    targets = [target_of(part) for part in parts]

    def logdensity(x):
        return sum(target.logdensity(x[i]) for i, target in enumerate(targets))

    eta = [list(part.eta) for part in parts]  # one row of per-axis steps per part
    scale = jnp.asarray([[part.start_scale] for part in parts])
    shift = jnp.asarray([part.start_shift for part in parts])
    key_start, key_run = jax.random.split(key)
    start = scale * jax.random.normal(key_start, (num_particles, len(parts), 2)) + shift
    trace = jl.run(key_run, jl.ula(logdensity, step_size=eta), start, NUM_STEPS, keep_initial=True)
    return np.asarray(trace.positions)  # draw 0 is the start (t = 0)


def numpy_loop(part: Part, rng: np.random.Generator, num_particles: int) -> np.ndarray:
    """The reference loop in plain numpy (float64, its own generator): the cloud at t = 10."""
    radii, centre, eta = (np.asarray(v, dtype=float) for v in (part.radii, part.centre, part.eta))
    x = part.start_scale * rng.standard_normal((num_particles, 2)) + np.asarray(part.start_shift)
    for _ in range(NUM_STEPS):
        u = (x - centre) / radii
        r = np.sqrt(np.sum(u**2, axis=1, keepdims=True))
        score = -2.0 * (r - 1.0) / WIDTH * u / (r * radii)
        x = x + eta * score + np.sqrt(2.0 * eta) * rng.standard_normal(x.shape)
    return x


def ring_coordinates(part: Part, cloud: np.ndarray) -> np.ndarray:
    """``x``, ``y`` and the ring radius ``r = |(x - c) / radii|`` of each particle, ``(n, 3)``.

    The radius is the coordinate the dynamics acts on (the ring's width is set by the
    noise), so it is compared too.
    """
    r = np.linalg.norm((cloud - np.asarray(part.centre)) / np.asarray(part.radii), axis=1)
    return np.column_stack([cloud, r])


def compare(part: Part, cloud: np.ndarray, reference: np.ndarray, num_tests: int) -> Check:
    """Two-sample KS of ``x``, ``y`` and ``r`` between the two clouds; the smallest p-value
    must clear ``FAMILY_LEVEL / num_tests``."""
    from scipy import stats

    ours, theirs = ring_coordinates(part, cloud), ring_coordinates(part, reference)
    pvalue = min(stats.ks_2samp(ours[:, i], theirs[:, i]).pvalue for i in range(3))
    bound = FAMILY_LEVEL / num_tests
    return Check(
        name=f"part ({part.label}): two-sample KS p at t = {NUM_STEPS}, min over x, y, r",
        value=float(pvalue),
        bound=bound,
        passed=bool(pvalue >= bound),
        detail=f"vs a numpy loop; Bonferroni over {num_tests} tests, family level {FAMILY_LEVEL}",
    )


def run(*, quick: bool = False, out: str | os.PathLike | None = None, seed: int = 0) -> Result:
    """Reproduce the five parts, draw them into ``out`` and compare each with numpy.

    Examples
    --------
    >>> from jlangevin.gallery import ellipse
    >>> print(ellipse.run(quick=True).report())   # doctest: +SKIP
    """
    folder = out_folder(out)
    num_particles = 2_000 if quick else 10_000
    rng = np.random.default_rng([seed, 2024])
    num_tests = 3 * len(PARTS)
    checks, figures = [], []
    draws = jlangevin_run(PARTS, jax.random.key(seed), num_particles)
    for i, part in enumerate(PARTS):
        reference = numpy_loop(part, rng, num_particles)
        checks.append(compare(part, draws[:, -1, i], reference, num_tests))
        if folder is not None:
            figures += _pictures(part, draws[:, :, i], folder)
    return Result(NAME, tuple(checks), tuple(figures))


def _pictures(part: Part, draws: np.ndarray, folder) -> list:
    """Frame strip t = 0..10, a GIF and one particle's x(t), y(t) for one part."""
    import matplotlib.pyplot as plt

    from jlangevin import plot

    target = target_of(part)
    steps = np.arange(NUM_STEPS + 1)
    centre, reach = np.asarray(part.centre), 1.6 * max(part.radii) + 0.4
    limits = [(c - reach, c + reach) for c in centre]
    paths = []
    fig = plot.frames(draws, steps=steps, steps_of_draws=steps, limits=limits, target=target)
    paths.append(folder / f"{NAME}_{part.label}_frames.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    paths.append(folder / f"{NAME}_{part.label}.gif")
    plot.animate(draws, paths[-1], target, steps_of_draws=steps, limits=limits, fps=10)
    fig = plot.trajectories(draws, chains=0, steps_of_draws=steps)
    paths.append(folder / f"{NAME}_{part.label}_trajectory.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    return paths
