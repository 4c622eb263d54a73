"""The quartic example: the annealed, clipped cloud matches its chain's law; wrong runs do not."""

import jax
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.gallery import quartic


@pytest.fixture(scope="module")
def law():
    return quartic.reference_law()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("quartic")


@pytest.fixture(scope="module")
def result(folder):
    return quartic.run(quick=True, out=folder)


@pytest.mark.long
def test_quick_run_passes_its_checks(result):
    assert [check.passed for check in result.checks] == [True, True], result.report()


def test_the_propagated_law_is_a_probability_law_with_wall_atoms(law):
    total = law.atom_low + law.cells.sum() + law.atom_high
    assert total == pytest.approx(1.0, abs=1e-9)
    assert 0 < law.atom_low < 0.05 and 0 < law.atom_high < 0.05
    assert law.cdf(np.array([quartic.LOW]))[0] == pytest.approx(law.atom_low)


@pytest.mark.long
def test_annealing_ten_times_too_fast_fails_the_chain_law_check(law):
    """The step falls by 0.001 over 50 steps instead of 500 (then stays at 1e-4).

    The wrong schedule moves the cloud's CDF by about 0.03-0.04 (KS distance). At the
    quick run's 2,000 particles that is near the check's resolution (the check caught it
    for 1 of 4 keys, measured); at 10,000 its p-value is below 1e-8 for every key tried
    (6 of 6), so the companion runs there: it must fail for the schedule, not its key.
    """
    wrong = jl.schedules.geometric(quartic.INITIAL_STEP, quartic.INITIAL_STEP * 1e-3, 50)
    draws, _ = quartic.simulate(jax.random.key(0), 10_000, step_size=wrong)
    checks = quartic.checks(draws[:, -1], law)
    assert not checks[1].passed, checks[1].line()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::jlangevin.SamplingWarning")
def test_without_the_clamp_the_full_run_fails_the_chain_law_check(law):
    """No bounds: moves out of the support are refused (the chain stays), not clipped."""
    draws, _ = quartic.simulate(jax.random.key(0), 5_000, clamp=False)
    checks = quartic.checks(draws[:, -1], law)
    assert not checks[1].passed, checks[1].line()


def test_pictures_are_written_with_the_example_name(result):
    assert sorted(p.name for p in result.figures) == ["quartic.gif", "quartic_frames.png"]
    assert all(p.stat().st_size > 5_000 for p in result.figures)
