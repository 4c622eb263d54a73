"""`benchmarks/mams_bench.py`: its truth, its z and its gradient count are right.

Pieces of the benchmark at ``--quick`` sizes: the ``z`` it reports counts the
reference's own standard error (and a shifted mean fails the check), an
Inference Gym target is the density it claims (the banana, against its closed
form) with its truth exact, the Brownian motion truth computed by quadrature is
the posterior's (against importance sampling from the prior, with a companion
whose random walk forgets its first step), and BlackJAX's MCLMC rows count the
tuner's gradients as well as the draws'.
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


#: A small Brownian motion: 6 steps, the middle two unobserved.
SMALL_WALK = np.array([0.3, 0.1, np.nan, np.nan, -0.4, -0.2])


def _importance_check(truth: dict, num: int = 200_000, seed: int = 1) -> float:
    """Largest ``|z|`` of the truth's means against self-normalised importance sampling.

    Proposal: the scales' prior (LogNormal(0, 2) each); weight: the likelihood of
    the observed steps, a dense multivariate normal built here from the model's
    definition (``x_t = s_i (e_0 + ... + e_t)``), not from the module's algebra. The
    positions' conditional means come from the same dense Gaussian conditioning.
    """
    rng = np.random.default_rng(seed)
    scales = np.exp(2.0 * rng.standard_normal((num, 2)))
    steps = SMALL_WALK.size
    seen = ~np.isnan(SMALL_WALK)
    walk = np.tril(np.ones((steps, steps)))  # x = s_i * walk @ e
    cov = walk @ walk.T
    y = SMALL_WALK[seen]
    var_i, var_o = scales[:, :1, None] ** 2, scales[:, 1:, None] ** 2
    cov_y = var_i * cov[np.ix_(seen, seen)] + var_o * np.eye(seen.sum())
    solved = np.linalg.solve(cov_y, np.broadcast_to(y, (num, y.size))[..., None])[..., 0]
    log_w = -0.5 * np.einsum("ni,ni->n", solved, y[None]) - 0.5 * np.linalg.slogdet(cov_y)[1]
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    locs = var_i[:, :, 0] * solved @ cov[seen, :]  # E[x | y, scales]
    values = np.column_stack([scales, locs])
    mean = w @ values
    se = np.sqrt(w**2 @ (values - mean) ** 2)  # the ratio estimator's standard error
    exact = np.concatenate(
        [
            [truth["innovation_noise_scale"][0], truth["observation_noise_scale"][0]],
            truth["locs"][0],
        ]
    )
    return float(np.max(np.abs(mean - exact) / se))


def test_brownian_truth_is_the_posterior():
    truth = gym_targets.brownian_truth(SMALL_WALK)
    assert _importance_check(truth) < 4.0


def test_brownian_truth_with_a_walk_that_forgets_its_first_step_fails(monkeypatch):
    def without_first(num_steps):  # Cov = min(s, t): x_0 = 0 instead of N(0, s_i)
        t = np.arange(num_steps)
        return np.minimum.outer(t, t).astype(float) + 1e-9

    monkeypatch.setattr(gym_targets, "random_walk_covariance", without_first)
    assert _importance_check(gym_targets.brownian_truth(SMALL_WALK)) > 4.0


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


def test_an_isolated_run_past_its_limit_is_a_row_that_did_not_finish():
    args = mams_bench.parse(["--only", "gym-banana", "--samplers", "mams", "--isolate", "0.01"])
    row = mams_bench.isolated_row("gym-banana", "mams", args)
    assert row["timed_out_seconds"] == 0.01 and not row["passed"]
    assert "did not finish" in mams_bench.table_line(row)
