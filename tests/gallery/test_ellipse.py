"""The ellipse example: the clouds match an independent numpy loop; a broken loop does not."""

import numpy as np
import pytest

from jlangevin.gallery import ellipse


def half_noise_loop(part, rng, num_particles):
    """The reference loop with ``sqrt(eta)`` noise instead of ``sqrt(2 eta)`` (a wrong loop)."""
    radii, centre, eta = (np.asarray(v, dtype=float) for v in (part.radii, part.centre, part.eta))
    x = part.start_scale * rng.standard_normal((num_particles, 2)) + np.asarray(part.start_shift)
    for _ in range(ellipse.NUM_STEPS):
        u = (x - centre) / radii
        r = np.sqrt(np.sum(u**2, axis=1, keepdims=True))
        score = -2.0 * (r - 1.0) / ellipse.WIDTH * u / (r * radii)
        x = x + eta * score + np.sqrt(eta) * rng.standard_normal(x.shape)
    return x


@pytest.fixture(scope="module")
def result():
    return ellipse.run(quick=True)


def test_quick_run_passes_its_checks(result):
    assert result.name == "ellipse"
    assert len(result.checks) == len(ellipse.PARTS)
    assert result.passed, result.report()


def test_a_loop_with_half_the_noise_fails_every_part(monkeypatch):
    monkeypatch.setattr(ellipse, "numpy_loop", half_noise_loop)
    broken = ellipse.run(quick=True)
    assert not any(check.passed for check in broken.checks), broken.report()


def test_pictures_are_written_with_the_example_name(tmp_path):
    cloud = np.random.default_rng(0).normal(size=(500, ellipse.NUM_STEPS + 1, 2))
    paths = ellipse._pictures(ellipse.PARTS[0], cloud, tmp_path)
    names = sorted(path.name for path in paths)
    assert names == ["ellipse_b.gif", "ellipse_b_frames.png", "ellipse_b_trajectory.png"]
    assert all(path.stat().st_size > 5_000 for path in paths)
