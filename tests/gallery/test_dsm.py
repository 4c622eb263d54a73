"""The DSM gallery example: its quick run passes, and its checks catch a broken score or sampler."""

import jax
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin import score_matching as sm
from jlangevin.gallery import dsm

SETTINGS = dsm.QUICK
SIGMAS = sm.geometric_sigmas(SETTINGS.sigma_max, SETTINGS.sigma_min, SETTINGS.num_levels)


@pytest.fixture(scope="module")
def data():
    return np.asarray(dsm.data_law().sample(jax.random.key(0), SETTINGS.num_data))


def failed(checks):
    return {check.name.split(": ")[1].split(" ")[0] for check in checks if not check.passed}


@pytest.mark.long
def test_quick_run_passes_its_checks_and_draws_its_figures(tmp_path):
    result = dsm.run(quick=True, out=tmp_path)
    assert result.passed, result.report()
    assert len(result.checks) == 4
    names = sorted(path.name for path in result.figures)
    assert names == ["dsm_data.png", "dsm_loss.png", "dsm_samples.png", "dsm_score_field.png"]
    assert all(path.stat().st_size > 0 for path in result.figures)


def test_exact_score_agrees_with_the_noised_mixture_target():
    for sigma in (0.0, 0.3, 4.0):
        target = jl.targets.noised_mixture(dsm.WEIGHTS, dsm.MEANS, dsm.SCALES, sigma)
        for point in ([0.5, -1.0], [-4.0, -2.5], [3.0, 3.0]):
            x = np.asarray(point, np.float32)
            np.testing.assert_allclose(
                dsm.exact_score(x, np.float32(sigma)), target.score(x), rtol=1e-4, atol=1e-6
            )


@pytest.mark.long
def test_an_untrained_network_fails_the_energy_check(data):
    params = dsm.init_params(jax.random.key(1), SETTINGS)
    samples = dsm.sample(
        jax.random.key(2), lambda x, s: dsm.model_score(params, x, s), SIGMAS, SETTINGS
    )
    checks = dsm.sample_checks(jax.random.key(3), samples, data, "untrained", 200)
    assert "energy" in failed(checks)


def test_langevin_without_annealing_fails_the_mode_weight_check(data):
    # The exact score, but only the last level: particles stay in the mode whose
    # basin they start in, so the shares follow the start, not the weights.
    one_level = SETTINGS._replace(steps_per_level=SETTINGS.steps_per_level * SETTINGS.num_levels)
    samples = dsm.sample(jax.random.key(2), dsm.exact_score, SIGMAS[-1:], one_level)
    checks = dsm.sample_checks(jax.random.key(3), samples, data, "no annealing", 200)
    assert "largest" in failed(checks)


CASES = [
    Case("run seed a float", lambda: dsm.run(seed=1.5), TypeError, "seed"),
    Case("run seed negative", lambda: dsm.run(seed=-1), ValueError, "seed"),
    Case("run quick an int", lambda: dsm.run(quick=1), TypeError, "quick"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
