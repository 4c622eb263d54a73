"""The dice example: six equal faces of the right width; a wrong-sign score fails both checks."""

import jax
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.gallery import dice


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return dice.run(quick=True, out=tmp_path_factory.mktemp("dice"))


@pytest.mark.long
def test_quick_run_passes_its_checks(result):
    assert [check.passed for check in result.checks] == [True, True], result.report()


def test_exact_basins_have_equal_mass():
    mass, sd = dice.basin_truth()
    np.testing.assert_allclose(mass, 1 / 6, atol=1e-12)
    assert np.all((sd > 0.19) & (sd < 0.2))


@pytest.mark.filterwarnings("ignore::jlangevin.SamplingWarning")
def test_a_wrong_sign_score_fails_both_checks():
    grad = jax.grad(jl.targets.dice(dice.SCALE).logdensity)
    wrong = jl.ula(score_fn=lambda x: -grad(x), step_size=dice.STEP)
    draws, _ = dice.simulate(jax.random.key(0), 4_000, wrong)
    checks = dice.checks(draws[:, -1])
    assert not any(check.passed for check in checks), [c.line() for c in checks]


def test_pictures_are_written_with_the_example_name(result):
    names = sorted(p.name for p in result.figures)
    assert names == ["dice.gif", "dice_frames.png", "dice_histogram.png"]
    assert all(p.stat().st_size > 5_000 for p in result.figures)
