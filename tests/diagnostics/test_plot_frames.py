"""Frame strips, fixed axis limits, fast GIFs and one particle's path; bad input is refused."""

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pytest
from _exact_draws import exact_draws
from bad_inputs import Case, case_id, check
from PIL import Image

import jlangevin as jl
from jlangevin import plot

ELLIPSE, QUARTIC = jl.targets.ellipse(), jl.targets.quartic()
CLOUD2 = np.random.default_rng(0).normal(size=(300, 5, 2))  # 300 particles, 5 kept draws
CLOUD1 = np.random.default_rng(1).uniform(-0.7, 1.5, size=(300, 4, 1))


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def titles(fig):
    return [ax.get_title() for ax in fig.axes]


def test_a_2d_strip_has_one_panel_per_step_on_the_same_limits():
    fig = plot.frames(CLOUD2, steps=[0, 2, 4], steps_of_draws=np.arange(5), target=ELLIPSE)
    assert titles(fig) == ["t = 0", "t = 2", "t = 4"]
    assert len({ax.get_xlim() for ax in fig.axes}) == 1
    assert len({ax.get_ylim() for ax in fig.axes}) == 1
    offsets = [ax.collections[-1].get_offsets() for ax in fig.axes]
    np.testing.assert_allclose(offsets[1], CLOUD2[:, 2])


def test_given_limits_are_used_everywhere():
    limits = ((-3.0, 3.0), (-2.0, 2.0))
    fig = plot.frames(CLOUD2, [1, 5], limits=limits)  # steps from thin=1: 1..5
    assert titles(fig) == ["t = 1", "t = 5"]
    for ax in fig.axes:
        assert ax.get_xlim() == (-3.0, 3.0) and ax.get_ylim() == (-2.0, 2.0)
    assert plot.particles(CLOUD2, limits=limits).axes[0].get_xlim() == (-3.0, 3.0)
    assert plot.histogram(CLOUD1, QUARTIC, limits=(-1, 2)).axes[0].get_xlim() == (-1.0, 2.0)


def test_a_1d_strip_draws_histograms_over_the_exact_density_on_shared_axes():
    fig = plot.frames(CLOUD1, target=QUARTIC, steps_of_draws=[0, 10, 20, 30], ncols=2)
    assert titles(fig) == ["t = 0", "t = 10", "t = 20", "t = 30"]  # default: every kept draw
    assert {ax.get_xlim() for ax in fig.axes} == {(-0.7, 1.5)}  # the target's support
    assert len({ax.get_ylim() for ax in fig.axes}) == 1
    assert all(len(ax.lines) == 1 for ax in fig.axes)  # the exact density in each panel


def test_steps_follow_burnin_and_thin_or_the_trace():
    fig = plot.frames(CLOUD2, [30, 70], burnin=10, thin=20)
    assert titles(fig) == ["t = 30", "t = 70"]
    sampler = jl.ula(lambda x: -0.5 * jnp.sum(x**2), step_size=0.1)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((50, 2)), 6, thin=2, keep_initial=True)
    assert titles(plot.frames(trace, [0, 2, 6])) == ["t = 0", "t = 2", "t = 6"]
    np.testing.assert_allclose(plot.frames(trace, [0]).axes[0].collections[-1].get_offsets(), 0)
    assert titles(plot.frames(trace.without_initial(), [4])) == ["t = 4"]
    with pytest.raises(ValueError, match="`steps`"):
        plot.frames(trace.without_initial(), [0])


def test_trajectories_of_one_particle_along_each_axis():
    fig = plot.trajectories(CLOUD2, chains=0, steps_of_draws=np.arange(5), limits=[(-4, 4)] * 2)
    assert len(fig.axes) == 2
    for axis, ax in enumerate(fig.axes):
        (line,) = ax.lines
        np.testing.assert_allclose(line.get_xdata(), np.arange(5))
        np.testing.assert_allclose(line.get_ydata(), CLOUD2[0, :, axis])
        assert ax.get_ylim() == (-4.0, 4.0)


@pytest.mark.parametrize("dim", [1, 2])
def test_gif_has_the_frame_count_and_rate(dim, tmp_path):
    target = QUARTIC if dim == 1 else ELLIPSE
    x = exact_draws(target, 1, chains=2000, draws=12)
    path = plot.animate(x, tmp_path / "cloud.gif", target, frames=12, limits=None)
    with Image.open(path) as gif:
        assert gif.n_frames == 12
        assert gif.info["duration"] == 100  # 10 frames a second by default
        assert gif.size == (360, 360) if dim == 2 else True


def test_gif_frames_keep_fixed_limits(tmp_path):
    """The particles move out of view rather than the axes rescaling: frames differ only there."""
    x = np.zeros((500, 3, 2))
    x[:, 1] = 0.5
    x[:, 2] = 50.0  # outside the fixed limits: nothing of it is drawn
    path = plot.animate(x, tmp_path / "fixed.gif", limits=((-1, 1), (-1, 1)), dpi=40)
    with Image.open(path) as gif:
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB"), dtype=int))
    # the title (step counter) changes; the axes frame and ticks do not
    assert gif.n_frames == 3
    assert np.array_equal(frames[0][-40:], frames[1][-40:])


def test_frame_strip_saves(tmp_path):
    fig = plot.frames(CLOUD2, steps_of_draws=np.arange(5), target=ELLIPSE)
    fig.savefig(tmp_path / "strip.png", dpi=50)
    assert (tmp_path / "strip.png").stat().st_size > 5_000


CASES = [
    Case("frames step not kept", lambda: plot.frames(CLOUD2, [7]), ValueError, "`steps`"),
    Case("frames steps a string", lambda: plot.frames(CLOUD2, "1"), TypeError, "`steps`"),
    Case("frames steps empty", lambda: plot.frames(CLOUD2, []), ValueError, "`steps`"),
    Case("frames steps floats", lambda: plot.frames(CLOUD2, [1.5]), ValueError, "`steps`"),
    Case("frames 3-D draws", lambda: plot.frames(np.zeros((3, 2, 3))), ValueError, "`draws`"),
    Case(
        "frames steps_of_draws wrong length",
        lambda: plot.frames(CLOUD2, steps_of_draws=[0, 1]),
        ValueError,
        "`steps_of_draws`",
    ),
    Case(
        "frames steps_of_draws decreasing",
        lambda: plot.frames(CLOUD2, steps_of_draws=[4, 3, 2, 1, 0]),
        ValueError,
        "`steps_of_draws`",
    ),
    Case(
        "frames limits 1-D pair for 2-D",
        lambda: plot.frames(CLOUD2, limits=(0, 1)),
        ValueError,
        "`limits`",
    ),
    Case(
        "frames limits crossed",
        lambda: plot.frames(CLOUD2, limits=((1, 0), (0, 1))),
        ValueError,
        "`limits`",
    ),
    Case(
        "frames limits text", lambda: plot.frames(CLOUD1, limits=("a", "b")), TypeError, "`limits`"
    ),
    Case("frames target dim", lambda: plot.frames(CLOUD1, target=ELLIPSE), ValueError, "`target`"),
    Case("frames ncols zero", lambda: plot.frames(CLOUD2, ncols=0), ValueError, "`ncols`"),
    Case(
        "particles limits nan",
        lambda: plot.particles(CLOUD2, limits=((0, np.nan), (0, 1))),
        ValueError,
        "`limits`",
    ),
    Case(
        "histogram limits shape",
        lambda: plot.histogram(CLOUD1, limits=(0, 1, 2)),
        ValueError,
        "`limits`",
    ),
    Case(
        "trajectories limits per axis",
        lambda: plot.trajectories(CLOUD2, limits=(0, 1)),
        ValueError,
        "`limits`",
    ),
    Case(
        "trajectories chains text",
        lambda: plot.trajectories(CLOUD2, chains="0"),
        TypeError,
        "`chains`",
    ),
    Case(
        "animate fps zero",
        lambda: plot.animate(CLOUD2, "x.gif", fps=0),
        ValueError,
        "`fps`",
    ),
    Case(
        "animate limits crossed",
        lambda: plot.animate(CLOUD1, "x.gif", limits=(1, 0)),
        ValueError,
        "`limits`",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
