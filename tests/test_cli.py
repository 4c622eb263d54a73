"""The command line: `sample` end to end (the demo itself is `make demo`)."""

import numpy as np
import pytest

import jlangevin as jl
from jlangevin import cli


def test_sample_writes_draws_and_reports(tmp_path, capsys):
    out = tmp_path / "draws.npz"
    code = cli.main(
        [
            "sample",
            "--target",
            "quartic",
            "--kernel",
            "mala",
            "--steps",
            "2000",
            "--chains",
            "4",
            "--burnin",
            "100",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    saved = np.load(out)
    assert saved["positions"].shape == (4, 2000, 1)
    assert "draws saved" in capsys.readouterr().out


SMALL = ["sample", "--steps", "20", "--chains", "2", "--burnin", "0", "--quiet"]


def test_out_in_a_missing_folder_fails_before_sampling(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("sampled before checking --out")

    monkeypatch.setattr(jl, "run", refuse)
    with pytest.raises(SystemExit) as caught:
        cli.main([*SMALL, "--out", str(tmp_path / "missing_dir" / "x.npz")])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and "missing_dir" in err and "does not exist" in err
    assert not (tmp_path / "missing_dir").exists()


def test_out_without_suffix_is_saved_where_it_says(tmp_path, capsys):
    assert cli.main([*SMALL, "--out", str(tmp_path / "draws")]) == 0
    assert f"draws saved to {tmp_path / 'draws.npz'}" in capsys.readouterr().out
    assert np.load(tmp_path / "draws.npz")["positions"].shape == (2, 20, 1)


def test_draws_are_never_lost_when_saving_fails(tmp_path, monkeypatch, capsys):
    """The folder vanishes while sampling: the draws go to the current folder instead."""
    folder, cwd = tmp_path / "out", tmp_path / "cwd"
    folder.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    real_run = jl.run

    def run_then_remove_folder(*args, **kwargs):
        trace = real_run(*args, **kwargs)
        folder.rmdir()
        return trace

    monkeypatch.setattr(jl, "run", run_then_remove_folder)
    code = cli.main([*SMALL, "--out", str(folder / "draws.npz")])
    captured = capsys.readouterr()
    (saved,) = cwd.glob("draws-*.npz")
    assert code == 1
    assert str(saved) in captured.err and str(folder / "draws.npz") in captured.err
    assert f"draws saved to {saved}" in captured.out
    draws = np.load(saved)
    assert draws["positions"].shape == (2, 20, 1) and np.isfinite(draws["positions"]).all()


def test_draws_are_saved_before_the_report(tmp_path, monkeypatch):
    def broken_check(*args, **kwargs):
        raise RuntimeError("report failed")

    monkeypatch.setattr(jl, "check", broken_check)
    out = tmp_path / "draws.npz"
    with pytest.raises(RuntimeError, match="report failed"):
        cli.main([*SMALL, "--out", str(out)])
    assert np.load(out)["positions"].shape == (2, 20, 1)
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_flag_validators_accept_what_argparse_int_and_float_do():
    assert cli.positive_int("1_000") == 1000
    assert cli.nonnegative_int("0") == 0
    assert cli.finite_positive_float("1e-3") == 1e-3


def test_gallery_names_are_the_packages():
    from jlangevin import gallery

    assert cli.GALLERY_NAMES == gallery.NAMES


@pytest.mark.slow  # the dice's quick run itself is tests/gallery/test_dice.py
def test_gallery_runs_an_example_and_reports_its_checks(tmp_path, capsys):
    assert cli.main(["gallery", "dice", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "gallery dice: PASSED" in out and "PASS " in out
    assert sorted(p.name for p in tmp_path.iterdir())  # the pictures are there


def test_a_failing_gallery_check_exits_1(tmp_path, monkeypatch, capsys):
    from jlangevin import gallery

    failed = gallery.Result("dice", (gallery.Check("x", 1.0, 0.5, False),))
    monkeypatch.setattr(gallery, "run", lambda *a, **k: failed)
    assert cli.main(["gallery", "dice", "--out", str(tmp_path)]) == 1
    assert "FAILED: dice" in capsys.readouterr().out


def test_gallery_prints_each_result_and_exits_0_when_all_pass(tmp_path, monkeypatch, capsys):
    from jlangevin import gallery

    seen = []

    def fake_run(name, **kwargs):
        seen.append((name, kwargs))
        return gallery.Result(name, (gallery.Check("x", 0.1, 0.5, True),))

    monkeypatch.setattr(gallery, "run", fake_run)
    assert cli.main(["gallery", "all", "--quick", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert [name for name, _ in seen] == list(gallery.NAMES)
    assert all(kw == {"quick": True, "out": tmp_path, "seed": 3} for _, kw in seen)
    out = capsys.readouterr().out
    assert all(f"gallery {name}: PASSED" in out for name in gallery.NAMES)
