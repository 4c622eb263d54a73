"""Draw the pictures of docs/diagnostics.md into docs/img/ from real jlangevin runs.

    python examples/make_figures.py            # writes docs/img/*.png and *.gif

Runs on CPU in a minute or two; every run has a fixed key.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp

import jlangevin as jl
from jlangevin import plot

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "img"


def quartic_run():
    """MALA on the quartic: 8 chains for the diagnostics, 2,000 particles for the GIF."""
    target = jl.targets.quartic()
    sampler = jl.mala(target.logdensity, step_size=0.05, bounds=target.support)
    chains = jl.run(jax.random.key(0), sampler, jnp.full((8, 1), 0.4), 40_000, burnin=1000, thin=10)
    start = jax.random.uniform(jax.random.key(1), (2000, 1), minval=-0.6, maxval=-0.4)
    cloud = jl.run(jax.random.key(2), sampler, start, 300, thin=3)
    return target, chains, cloud


def ellipse_run():
    """MALA on the elliptical ring: 10,000 particles from a uniform square onto the ellipse."""
    target = jl.targets.ellipse()
    sampler = jl.mala(target.logdensity, step_size=0.001)
    start = jax.random.uniform(jax.random.key(3), (10_000, 2), minval=-1.5, maxval=1.5)
    return target, jl.run(jax.random.key(4), sampler, start, 300, thin=2)


def save(fig, name: str) -> None:
    fig.savefig(OUT / name, dpi=90, bbox_inches="tight")
    print("wrote", OUT / name)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    quartic, chains, cloud = quartic_run()
    print(jl.check(chains, quartic))
    save(plot.trace_plot(chains), "quartic_trace.png")
    save(plot.rank_plot(chains), "quartic_rank.png")
    save(plot.histogram(chains, quartic), "quartic_histogram.png")
    save(plot.trajectories(chains, chains=[0, 1], thin=10, burnin=1000), "quartic_trajectories.png")
    print("wrote", plot.animate(cloud, OUT / "quartic.gif", quartic, frames=50, thin=3))

    ellipse, particles = ellipse_run()
    # As chains, the last 50 draws of each particle fail R-hat (no particle has gone round
    # the ring yet); as a cloud, the 10,000 final positions are checked as independent draws.
    print(jl.check(particles.positions[:, -50:], ellipse))
    print(jl.check(particles, ellipse, layout="cloud"))
    save(plot.particles(particles, ellipse, step=0), "ellipse_particles_early.png")
    save(plot.particles(particles, ellipse, step=-1), "ellipse_particles.png")
    save(plot.trajectories(particles, chains=[0, 1, 2], thin=2), "ellipse_trajectories.png")
    print("wrote", plot.animate(particles, OUT / "ellipse.gif", ellipse, frames=50, thin=2))


if __name__ == "__main__":
    main()
