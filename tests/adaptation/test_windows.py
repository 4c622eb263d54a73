"""Stan's warm-up windows and the stretches the warm-up runs."""

import itertools

import jax.numpy as jnp
import numpy as np

from jlangevin import adaptation


def test_window_schedule_is_stan_like():
    assert adaptation.window_schedule(1000) == (
        (75, 100),
        (100, 150),
        (150, 250),
        (250, 450),
        (450, 850),
    )
    small = adaptation.window_schedule(100)  # 15% / 75% / 10%
    assert small[0][0] == 15 and small[-1][1] == 90
    for windows in (adaptation.window_schedule(n) for n in (20, 157, 2000, 5001)):
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


def test_segments_cover_every_step_once():
    for num_steps in (20, 100, 157, 500, 1000, 5001):
        stretches = adaptation.segments(num_steps, adaptation.window_schedule(num_steps))
        assert stretches[0].start == 0 and stretches[-1].end == num_steps
        assert all(a.end == b.start for a, b in itertools.pairwise(stretches))
        slow = [(s.start, s.end) for s in stretches if s.slow]
        assert tuple(slow) == adaptation.window_schedule(num_steps)


def test_numpy_and_jax_scalars_are_numbers():
    assert adaptation.window_schedule(np.int32(500)) == adaptation.window_schedule(500)
    assert adaptation.window_schedule(jnp.asarray(500)) == adaptation.window_schedule(500)
