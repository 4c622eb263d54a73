"""Every plot writes a non-trivial file; bad input is refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exact_draws import exact_draws
from PIL import Image

import jlangevin as jl
from jlangevin import plot

ELLIPSE, QUARTIC = jl.targets.ellipse(), jl.targets.quartic()


@pytest.fixture(scope="module")
def trace():
    sampler = jl.mala(QUARTIC.logdensity, step_size=0.05, bounds=QUARTIC.support)
    return jl.run(jax.random.key(0), sampler, jnp.full((3, 1), 0.4), 100)


def saved(fig, path):
    fig.savefig(path, dpi=60)
    assert path.stat().st_size > 5_000
    return path


@pytest.mark.parametrize("fn", [plot.trace_plot, plot.rank_plot])
def test_arviz_plots(fn, trace, tmp_path):
    saved(fn(trace), tmp_path / "arviz.png")


def test_histogram_over_exact_density(trace, tmp_path):
    saved(plot.histogram(trace, QUARTIC), tmp_path / "hist.png")


def test_particles_and_trajectories(tmp_path):
    x = exact_draws(ELLIPSE, 0, chains=500, draws=3)
    saved(plot.particles(x, ELLIPSE, step=1), tmp_path / "particles.png")
    saved(plot.trajectories(x, chains=[0, 1]), tmp_path / "paths.png")


@pytest.mark.parametrize("dim", [1, 2])
def test_animate_writes_a_gif_with_frames(dim, tmp_path):
    target = QUARTIC if dim == 1 else ELLIPSE
    x = exact_draws(target, 1, chains=200, draws=6)
    path = plot.animate(x, tmp_path / "cloud.gif", target, frames=4, dpi=40)
    with Image.open(path) as gif:
        assert gif.n_frames == 4
    assert (tmp_path / "cloud.gif").stat().st_size > 5_000


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="2-D draws"):
        plot.particles(np.zeros((3, 4, 1)))
    with pytest.raises(ValueError, match="`step`"):
        plot.particles(np.zeros((3, 4, 2)), step=9)
    with pytest.raises(ValueError, match="`chains`"):
        plot.trajectories(np.zeros((3, 4, 2)), chains=[5])
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plot.animate(np.zeros((3, 4, 3)), tmp_path / "x.gif")


def test_a_particle_cloud_draws_as_histogram_and_particles(tmp_path):
    """One draw per chain: histograms and particle plots apply; trace/rank plots refuse."""
    cloud2 = exact_draws(ELLIPSE, 2, chains=1000, draws=1)
    saved(plot.particles(cloud2, ELLIPSE), tmp_path / "cloud.png")
    cloud1 = exact_draws(QUARTIC, 3, chains=1000, draws=1)
    saved(plot.histogram(cloud1, QUARTIC, bins=np.int64(30)), tmp_path / "cloud_hist.png")
    with pytest.raises(ValueError, match="`data` has 1 draw per chain"):
        plot.rank_plot(cloud1)


def test_arviz_data_plots_and_is_checked(trace, tmp_path):
    idata = jl.to_arviz(trace)
    saved(plot.trace_plot(idata, var_names="x"), tmp_path / "idata.png")
