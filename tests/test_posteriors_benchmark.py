"""`benchmarks/posteriors.py`: its models build and a tiny run reports every column."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

pytest.importorskip("numpyro")
pytest.importorskip("sklearn")
pytest.importorskip("arviz")

# Checks of a benchmark script, not of the package: run with the long tests (`make slow`).
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import posteriors  # noqa: E402


@pytest.mark.parametrize("name", list(posteriors.problems()))
def test_every_model_gives_a_finite_log_density_at_its_init(name):
    model = posteriors.jl_model(posteriors.problems()[name])
    positions = model.init(jax.random.key(0), 2)
    first = jax.tree.map(lambda leaf: leaf[0], positions)
    value, grad = jax.value_and_grad(model.logdensity_fn)(first)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad))


def test_the_data_are_the_benchmark_s():
    features, labels = posteriors.breast_cancer()
    assert features.shape == (569, 30) and set(np.unique(labels)) == {0.0, 1.0}
    np.testing.assert_allclose(features.mean(0), 0.0, atol=1e-5)
    radon = posteriors.radon_like()
    assert radon["y"].shape == (400,) and radon["group"].max() < radon["num_groups"] == 20
    np.testing.assert_array_equal(radon["y"], posteriors.radon_like()["y"])  # fixed seed


def test_quick_run_reports_every_column(capsys):
    rows = posteriors.main(["--quick", "--models", "non-centred"])
    assert [r["config"] for r in rows] == ["NUTS 2 chains", "MALA 4 chains diagonal"]
    nuts, mala = rows
    assert nuts["max_z"] is None and np.isfinite(mala["max_z"])
    assert mala["gradients"] == 4 * (40 + 40) and nuts["gradients"] > 0
    for r in rows:
        for key in ("max_rhat", "min_ess", "ess_per_gradient", "ess_per_s", "ess_per_s_draws"):
            assert np.isfinite(r[key]) and r[key] > 0
    assert "| eight schools (non-centred) | MALA 4 chains diagonal" in capsys.readouterr().out
