"""`benchmarks/hard_posteriors.py`: a `--quick` run reports every column and writes its files."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numpyro")
pytest.importorskip("blackjax")
pytest.importorskip("arviz")
pytest.importorskip("matplotlib")

# Checks of a benchmark script, not of the package: run with the long tests (`make slow`).
pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import hard_posteriors  # noqa: E402


def test_quick_run_reports_every_column_and_writes_its_files(tmp_path, capsys):
    rows = hard_posteriors.main(["--quick", "--out", str(tmp_path)])
    assert not [r for r in rows if "error" in r]
    targets = {r["target"] for r in rows}
    assert targets == {hard_posteriors.NONCENTRED, "eight schools (centred)", "dice (1-D, 6 modes)"}
    for target in targets:
        samplers = [r["sampler"] for r in rows if r["target"] == target]
        expected = [*reversed(hard_posteriors.PEERS), *hard_posteriors.JL_KERNELS]
        assert samplers[: len(expected)] == expected
    assert [r["sampler"] for r in rows if r["sampler"] == "tempering"] == ["tempering"]
    for r in rows:
        for key in ("max_rhat", "min_ess", "ess_per_gradient", "ess_per_s", "ess_per_s_draws"):
            assert np.isfinite(r[key]) and r[key] > 0, (r["label"], key)
        assert r["draw_seconds"] <= r["seconds"] + 1e-9 or r["sampler"] == "numpyro-nuts"
    by = {(r["target"], r["sampler"]): r for r in rows}
    schools = "eight schools (centred)"
    # The reference is NumPyro NUTS on the non-centred model (the same mu, tau, theta).
    assert by[hard_posteriors.NONCENTRED, "numpyro-nuts"]["max_z"] is None  # the reference itself
    assert by[schools, "numpyro-nuts"]["z_against"] == "NumPyro NUTS"
    # Only the original variables are compared, not the decentred ones.
    assert (
        by[hard_posteriors.NONCENTRED, "mala"]["max_z_at"].split("[")[0]
        in hard_posteriors.SCHOOLS_NAMES
    )
    assert by[schools, "mala"]["z_against"] == "NumPyro NUTS"
    assert by[schools, "mala"]["gradients"] == 16 * (150 + 100)
    for kernel in ("malt", "malt-chees"):  # L per step, the warm-up's own included
        malt = by[schools, kernel]
        assert sum(b - a for a, b in malt["warmup_segments"]) == 150
        warm = malt["warmup_integration_steps"]
        assert len(warm) == 150 and min(warm) >= 1
        assert malt["gradients"] == 16 * sum(warm) + 16 * 100 * malt["integration_steps"]
    dice = by["dice (1-D, 6 modes)", "tempering"]
    assert dice["z_against"] == "exact" and len(dice["mode_weights"]) == 6
    assert np.isclose(sum(dice["mode_weights"]), 1.0)
    assert dice["gradients"] == 16 * 4 * (150 + 20 + 100)  # every rung, warm-up included
    report = json.loads((tmp_path / "hard_posteriors.json").read_text())
    assert len(report["rows"]) == len(rows) and report["environment"]["versions"]["jax"]
    assert (tmp_path / "hard_posteriors.png").stat().st_size > 0
    table = (tmp_path / "hard_posteriors.md").read_text()
    assert "| dice (1-D, 6 modes) | jl replica exchange" in table
    assert "| eight schools (centred) | BlackJAX GHMC (MEADS)" in capsys.readouterr().out
