"""Langevin on a die: six equal modes at the faces 1, ..., 6 (``jl.targets.dice(0.2)``).

The reference moves many particles by Langevin steps on a smoothed die, a mixture
of six ``N(k, 0.2²)``, until their histogram shows six equal faces. Here 10,000
particles start from ``N(3.5, 1)`` (crowded on the middle faces: a quarter of them
must cross to the outer faces) and take 1,000 MALA steps of ``h = 0.01``
(``jl.mala(target.logdensity, step_size=0.01)`` and ``jl.run``). Crossing the valleys
between faces takes about one time unit (Kramers rate about 0.8 per unit), so
ten time units (1,000 steps) leave the start far behind.

Each particle is an independent chain and its final position one exact-law draw,
so the checks are plain binomial statistics of the final cloud, over the six
basins ``(k - 0.5, k + 0.5]`` (the outer ones open-ended):

1. each basin's share of particles is within 3.5 binomial MCSE of its exact mass
   (``1/6`` to 1e-12, from the mixture's CDF);
2. each basin's within-mode standard deviation is within 3.5 standard errors
   (delta method, from the sample's fourth moment) of the exact one (about 0.196:
   the mode's sd 0.2, truncated at the basin walls, plus its neighbours' tails).

Six z-scores per check at 3.5: each check errs with probability at most about 0.003.

>>> from jlangevin.gallery import dice
>>> dice.run(quick=True).passed   # doctest: +SKIP
True
"""

from __future__ import annotations

import itertools
import os

import jax
import numpy as np

import jlangevin as jl
from jlangevin.gallery._result import Check, Result, out_folder
from jlangevin.types import Sampler

NAME = "dice"
SCALE = 0.2
STEP = 0.01
NUM_STEPS = 1_000
KEEP_EVERY = 20
START_MEAN, START_SD = 3.5, 1.0
Z_BOUND = 3.5
FACES = np.arange(1, 7)
WALLS = np.array([-np.inf, 1.5, 2.5, 3.5, 4.5, 5.5, np.inf])


def sampler() -> Sampler:
    """The reference kernel: MALA on the die."""
    return jl.mala(jl.targets.dice(SCALE).logdensity, step_size=STEP)


def simulate(
    key: jax.Array, num_particles: int, kernel: Sampler | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(particles, 1 + 1000 / 20, 1)`` from t = 0 and their step numbers."""
    key_start, key_run = jax.random.split(key)
    start = START_MEAN + START_SD * jax.random.normal(key_start, (num_particles, 1))
    kernel = sampler() if kernel is None else kernel
    trace = jl.run(key_run, kernel, start, NUM_STEPS, thin=KEEP_EVERY, keep_initial=True)
    return np.asarray(trace.positions), np.asarray(trace.steps)  # draw 0: t = 0


def basin_truth() -> tuple[np.ndarray, np.ndarray]:
    """Exact mass and within-basin sd of each face's basin (CDF; quadrature for the sd)."""
    from scipy.special import ndtr

    cdf = np.mean(ndtr((WALLS[:, None] - FACES[None, :]) / SCALE), axis=1)  # the mixture's
    mass = np.diff(cdf)
    x = np.linspace(-1.0, 8.0, 360_001)
    pdf = sum(np.exp(-0.5 * ((x - k) / SCALE) ** 2) for k in FACES)
    sds = []
    for lo, hi in itertools.pairwise(WALLS):
        w = pdf * ((x > lo) & (x <= hi))
        mean = np.sum(w * x) / np.sum(w)
        sds.append(np.sqrt(np.sum(w * (x - mean) ** 2) / np.sum(w)))
    return mass, np.array(sds)


def checks(cloud: np.ndarray) -> tuple[Check, ...]:
    """Basin shares and within-basin sds of the final cloud against the exact ones."""
    x = np.asarray(cloud, dtype=float).ravel()
    n = x.size
    mass, sd_exact = basin_truth()
    face = np.searchsorted(WALLS, x, side="left") - 1  # basin index 0..5 of (lo, hi]
    counts = np.bincount(np.clip(face, 0, 5), minlength=6)
    share_z = (counts / n - mass) / np.sqrt(mass * (1 - mass) / n)
    sd_z = np.full(6, np.inf)
    for k in range(6):
        inside = x[face == k]
        if inside.size > 10:
            centred = inside - inside.mean()
            s2 = np.mean(centred**2)
            se = np.sqrt((np.mean(centred**4) - s2**2) / inside.size) / (2 * np.sqrt(s2))
            sd_z[k] = (np.sqrt(s2) - sd_exact[k]) / se
    shares = ", ".join(f"{c / n:.3f}" for c in counts)
    return (
        Check(
            name="face shares: max |z| over the six faces",
            value=float(np.max(np.abs(share_z))),
            bound=Z_BOUND,
            passed=bool(np.max(np.abs(share_z)) <= Z_BOUND),
            detail=f"binomial MCSE of mass {mass[0]:.6f}, n = {n}; shares {shares}",
        ),
        Check(
            name="within-face sd: max |z| over the six faces",
            value=float(np.max(np.abs(sd_z))),
            bound=Z_BOUND,
            passed=bool(np.max(np.abs(sd_z)) <= Z_BOUND),
            detail=f"delta-method SE; exact sd {sd_exact[2]:.4f} (inner faces)",
        ),
    )


def run(*, quick: bool = False, out: str | os.PathLike | None = None, seed: int = 0) -> Result:
    """Run the particles, check the six faces and draw them into ``out``.

    Examples
    --------
    >>> from jlangevin.gallery import dice
    >>> print(dice.run(quick=True).report())   # doctest: +SKIP
    """
    folder = out_folder(out)
    draws, steps = simulate(jax.random.key(seed), 4_000 if quick else 10_000)
    figures = () if folder is None else _pictures(draws, steps, folder)
    return Result(NAME, checks(draws[:, -1]), figures)


def _pictures(draws: np.ndarray, steps: np.ndarray, folder) -> tuple:
    import matplotlib.pyplot as plt

    from jlangevin import plot

    target = jl.targets.dice(SCALE)
    limits = (0.0, 7.0)
    paths = (
        folder / f"{NAME}_histogram.png",
        folder / f"{NAME}_frames.png",
        folder / f"{NAME}.gif",
    )
    fig = plot.histogram(draws[:, -1:], target, bins=140, limits=limits)
    fig.savefig(paths[0], dpi=90)
    plt.close(fig)
    shown = [0, 20, 100, 200, 500, 1000]
    fig = plot.frames(
        draws, shown, steps_of_draws=steps, target=target, limits=limits, ncols=3, bins=140
    )
    fig.savefig(paths[1], dpi=90)
    plt.close(fig)
    plot.animate(
        draws,
        paths[2],
        target,
        steps_of_draws=steps,
        limits=limits,
        bins=140,
        cumulative=False,
        frames=51,
    )
    return paths
