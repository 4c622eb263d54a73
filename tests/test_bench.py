"""The throughput benchmark's jobs and reporting (timings themselves are never asserted)."""

import jax
import numpy as np
import pytest

from jlangevin import bench


@pytest.mark.skipif(
    not jax.config.jax_threefry_partitionable, reason="JAX's words differ in its legacy mode"
)
@pytest.mark.parametrize("shape", [(1,), (3, 2), (1000,), (7, 5, 3)])
def test_written_normal_is_jax_random_normal(shape):
    key = jax.random.key(11)
    np.testing.assert_array_equal(bench.written_normal(key, shape), jax.random.normal(key, shape))


@pytest.mark.parametrize("kernel", bench.KERNELS)
def test_both_floors_run_the_same_update_with_the_same_numbers(kernel):
    problem = bench.make_problem(dim=3, chains=4, num_steps=6)
    args = (jax.random.key(0), problem.start())
    plain = bench.floor_runner(kernel, problem)(*args)
    hashed = bench.floor_hash_runner(kernel, problem)(*args)
    assert plain.shape == (6, 4, 3)  # draw-major, as a scan stacks them
    np.testing.assert_array_equal(plain, hashed)


@pytest.mark.parametrize("kernel", bench.KERNELS)
def test_jlangevin_runner_keeps_every_position(kernel):
    problem = bench.make_problem(dim=3, chains=4, num_steps=6)
    out = bench.jlangevin_runner(kernel, problem)(jax.random.key(0), problem.start())
    assert out.shape == (4, 6, 3)  # chain-major, as jl.run returns them
    assert np.all(np.isfinite(out))


def test_measure_reports_rates_and_every_ratio():
    report = bench.measure([(2, 8)], ["ula"], work=400, repeats=1, peers=False, log=None)
    (row,) = report["rows"]
    assert set(row["results"]) == {"floor", "floor_hash", "jlangevin", "jlangevin_lp"}
    speed = {name: r["chain_steps_per_s"] for name, r in row["results"].items()}
    assert row["vs_floor"] == pytest.approx(speed["jlangevin"] / speed["floor"])
    assert row["vs_floor_hash"] == pytest.approx(speed["jlangevin"] / speed["floor_hash"])
    assert row["vs_best_peer"] is None  # no peers asked for
    table = bench.markdown_table(report)
    assert "| jl / floor | jl / floor (hash) | jl / best peer |" in table
    assert table.splitlines()[2].endswith(" - |")  # the missing peer ratio shows as "-"
    assert "jl/floor (hash)" in bench.format_row(row)


def test_the_log_density_column_can_be_left_out():
    report = bench.measure(
        [(2, 8)], ["sgld"], work=400, repeats=1, peers=False, log_density=False, log=None
    )
    assert set(report["rows"][0]["results"]) == {"floor", "floor_hash", "jlangevin"}
    assert "log density" not in bench.markdown_table(report)


def test_a_missing_peer_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(bench.PEER_MODULES, "tfp", "a_module_that_is_not_installed")
    found, notes = bench.available_peers()
    assert "tfp" not in found
    assert "TFP-on-JAX skipped" in notes["tfp"]


def test_steps_per_call_follow_the_work_within_bounds():
    assert bench.steps_for(100, 1_000, 2e7) == 200
    assert bench.steps_for(10, 1, 2e7) == 5000  # bounded above
    assert bench.steps_for(1000, 10**6, 2e7) == 50  # bounded below
