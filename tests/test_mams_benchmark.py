"""`benchmarks/mams_bench.py`: its truth, its z and its gradient count are right.

Pieces of the benchmark at ``--quick`` sizes: the ``z`` it reports counts the
reference's own standard error (and a shifted mean fails the check), an
Inference Gym target is the density it claims (the banana, against its closed
form) with its truth exact, and BlackJAX's MCLMC rows count the tuner's
gradients as well as the draws'.
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("numpyro")
pytest.importorskip("arviz")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gym_targets  # noqa: E402
import mams_bench  # noqa: E402
import posteriordb_models as pdb  # noqa: E402


def _draws(mean: float, seed: int = 0) -> np.ndarray:
    """``(4, 500)`` independent N(mean, 1) draws."""
    return mean + np.random.default_rng(seed).standard_normal((4, 500))


@pytest.mark.parametrize("se", [None, 0.05])
def test_z_counts_the_reference_error(se):
    draws = _draws(0.1)
    ref = {"x[1]": gym_targets.reference_entry(0.0, 1.0, se)}
    agreement = pdb.compare({"x": draws[..., None]}, ref)
    stats = pdb.parameter_stats(draws)
    expected = stats["mean"] / np.sqrt(stats["sd"] ** 2 / stats["ess_bulk"] + (se or 0.0) ** 2)
    assert agreement.max_z == pytest.approx(abs(expected), rel=1e-9)
    assert agreement.passed  # the draws are from N(0.1, 1): about 2 standard errors off


def test_a_shifted_mean_fails_the_check():
    shifted = _draws(0.5)  # ten standard errors of 2000 independent draws
    ref = {"x[1]": gym_targets.reference_entry(0.0, 1.0, None)}
    agreement = pdb.compare({"x": shifted[..., None]}, ref)
    assert agreement.max_z > pdb.Z_MAX and not agreement.passed


def test_gym_banana_is_its_closed_form_with_an_exact_truth():
    pytest.importorskip("inference_gym")
    target = gym_targets.load("gym-banana")
    assert target.dim == 2
    assert [r["ess_bulk"] for r in target.reference.values()] == [np.inf, np.inf]
    assert [r["mean"] for r in target.reference.values()] == [0.0, 0.0]

    def closed_form(x):  # x0 ~ N(0, 10^2), x1 | x0 ~ N(0.03 (x0^2 - 100), 1)
        return -0.5 * (x[0] / 10.0) ** 2 - 0.5 * (x[1] - 0.03 * (x[0] ** 2 - 100.0)) ** 2

    a, b = jnp.array([1.0, -2.0]), jnp.array([-7.0, 0.5])
    got = target.model.logdensity_fn(a) - target.model.logdensity_fn(b)
    assert float(got) == pytest.approx(float(closed_form(a) - closed_form(b)), rel=1e-5)


@pytest.mark.slow  # compiles BlackJAX's tuner: seconds of CPU, more on a loaded machine
def test_blackjax_mclmc_counts_its_tuning_gradients():
    pytest.importorskip("inference_gym")
    pytest.importorskip("blackjax")
    target = gym_targets.load("gym-banana")
    out = mams_bench.run_bjx_mclmc(jax.random.key(0), target.model, chains=2, num_steps=30)
    # mclmc_find_L_and_step_size: 10% + (10% + a third of it, for the diagonal metric) + 10%
    per_chain_tuning_steps = 3 + (3 + 1) + 3
    assert out["tuning_gradients"] == 2 * 2 * per_chain_tuning_steps
    assert out["gradients"] == out["tuning_gradients"] + 2 * 2 * 30
    assert out["samples"]["x"].shape == (2, 30, 2)
    assert np.all(np.isfinite(out["samples"]["x"]))
