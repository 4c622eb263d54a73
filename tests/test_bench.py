"""The benchmarks in `benchmarks/`: their jobs and reporting (timings are never asserted)."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _runners  # noqa: E402
import compile_time  # noqa: E402
import sample_latency  # noqa: E402
import throughput  # noqa: E402

from jlangevin import cli  # noqa: E402

#: Peers and the axis order of their draws (a scan stacks them draw-major).
PEERS = {"blackjax": "blackjax", "tfp": "tensorflow_probability.substrates.jax"}


@pytest.mark.parametrize("kernel", _runners.KERNELS)
@pytest.mark.parametrize("name", ["floor", "jlangevin", "jlangevin_lp", *PEERS])
def test_every_runner_keeps_every_position(kernel, name):
    if name in PEERS:
        pytest.importorskip(PEERS[name])
    problem = _runners.make_problem(dim=3, chains=4, num_steps=6)
    run = _runners.RUNNERS[name](kernel, problem)
    if run is None:  # MALA tracks the log density anyway
        assert (name, kernel) == ("jlangevin_lp", "mala")
        return
    out = run(jax.random.key(0), problem.start())
    chain_major = name.startswith("jlangevin")  # as jl.run returns them
    assert out.shape == ((4, 6, 3) if chain_major else (6, 4, 3))
    assert np.all(np.isfinite(out))


def test_throughput_reports_rates_and_both_ratios():
    report = throughput.measure([(2, 8)], ["ula"], work=400, repeats=1, peers=False, log=None)
    (row,) = report["rows"]
    assert set(row["results"]) == {"floor", "jlangevin", "jlangevin_lp"}
    speed = {name: r["chain_steps_per_s"] for name, r in row["results"].items()}
    assert row["vs_floor"] == pytest.approx(speed["jlangevin"] / speed["floor"])
    assert row["vs_best_peer"] is None  # no peers asked for
    table = throughput.markdown_table(report)
    header = table.splitlines()[0]
    assert header == (
        "| kernel | dim | chains | steps | hand-fused floor | jlangevin "
        "| jlangevin + log density | jl / floor | jl / best peer |"
    )
    assert table.splitlines()[2].endswith(" - |")  # the missing peer ratio shows as "-"
    assert "hash" not in table
    assert "jl/floor" in throughput.format_row(row)


def test_the_log_density_column_can_be_left_out():
    report = throughput.measure(
        [(2, 8)], ["sgld"], work=400, repeats=1, peers=False, log_density=False, log=None
    )
    assert set(report["rows"][0]["results"]) == {"floor", "jlangevin"}
    assert "log density" not in throughput.markdown_table(report)


def test_a_missing_peer_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(_runners.PEER_MODULES, "tfp", "a_module_that_is_not_installed")
    found, notes = _runners.available_peers()
    assert "tfp" not in found
    assert "TFP-on-JAX skipped" in notes["tfp"]
    report = compile_time.measure(["ula"], ["jlangevin", "tfp"], processes=0, log=None)
    assert report["notes"] == [notes["tfp"]]
    assert "Note: TFP-on-JAX skipped" in compile_time.markdown_table(report)


def test_steps_per_call_follow_the_work_within_bounds():
    assert _runners.steps_for(100, 1_000, 2e7) == 200
    assert _runners.steps_for(10, 1, 2e7) == 5000  # bounded above
    assert _runners.steps_for(1000, 10**6, 2e7) == 50  # bounded below


def test_compile_time_runs_each_cell_in_a_fresh_process():
    report = compile_time.measure(["ula"], ["jlangevin"], small=(2, 4, 5), processes=1, log=None)
    (row,) = report["rows"]
    (result,) = row["results"].values()
    assert result["first_s"] > 0 and result["second_s"] > 0
    assert len(result["first_runs_s"]) == 1
    assert row["first_vs_blackjax"] is None  # no BlackJAX asked for
    lines = compile_time.markdown_table(report).splitlines()
    assert lines[0] == (
        "| kernel | dim | chains | steps | jlangevin first call (s) "
        "| jl / BlackJAX, first call | jlangevin second call (ms) |"
    )
    assert lines[2].startswith("| ula | 2 | 4 | 5 | ")
    assert "median of 1 fresh process per cell" in lines[-1]


def test_compile_time_table_reports_the_ratio():
    runs = {"jlangevin": [{"first_s": 2.0, "second_s": 1e-3}]}
    runs["blackjax"] = [{"first_s": s, "second_s": 2e-3} for s in (1.0, 9.0, 4.0)]
    row = compile_time._row("mala", (10, 64, 100), runs)
    assert row["results"]["blackjax"]["first_s"] == 4.0  # the median
    assert row["first_vs_blackjax"] == 0.5
    env = {"device": "cpu", "backend": "cpu", "cpu_count": 2, "cpu": "x", "versions": {"jax": "0"}}
    report = {"environment": env, "settings": {"processes": 3}, "notes": [], "rows": [row]}
    table = compile_time.markdown_table(report)
    assert "| mala | 10 | 64 | 100 | 2.00 | 4.00 | 0.50 | 1.00 | 2.00 |" in table


def test_a_failed_child_says_why():
    with pytest.raises(RuntimeError, match="KeyError"):
        compile_time.in_fresh_process("floor", "no_such_kernel", 2, 4, 5)


def test_cli_bench_runs_the_checkouts_script(capfd):
    assert cli.main(["bench", "--help"]) == 0
    assert "usage: jlangevin bench" in capfd.readouterr().out


def test_cli_bench_without_the_benchmarks_folder_says_where_they_are(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "BENCHMARKS", tmp_path / "benchmarks")
    assert cli.main(["bench"]) == 2
    assert "source repository" in capsys.readouterr().err


def test_sample_latency_table_gives_the_median_of_each_call():
    def run(scale):
        return [
            {
                "seconds": scale * (4 - i),
                "programs": 10 - i,
                "compile_seconds": scale,
                "converged": i != 1,
            }
            for i in range(len(sample_latency.CALLS))
        ]

    lines = sample_latency.table([run(1.0), run(3.0), run(2.0)]).splitlines()
    assert len(lines) == 2 + len(sample_latency.CALLS)
    assert lines[2] == "| first call | 8.00 | 10 | 2.00 | 3/3 |"
    assert lines[3] == "| same model, key 1 | 6.00 | 9 | 2.00 | 0/3 |"
