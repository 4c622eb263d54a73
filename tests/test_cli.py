"""The command line: `sample` end to end, exit statuses, help (the demo itself is `make demo`)."""

import argparse
import dataclasses

import numpy as np
import pytest

import jlangevin as jl
from jlangevin import cli
from jlangevin.diagnostics import Report, Row

PASSING = Report("quartic", (Row("rhat", "x[0]", 1.0, 1.01, "<=", "pass"),))
FAILING = Report("quartic", (Row("ess_tail", "x[0]", 240.0, 400.0, ">=", "fail"),))


@pytest.fixture
def checks_pass(monkeypatch):
    """``jl.check`` reports a pass: tests of saving draws run too few steps to pass it."""
    monkeypatch.setattr(jl, "check", lambda *args, **kwargs: PASSING)


def test_sample_writes_draws_and_reports(tmp_path, capsys, checks_pass):
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


def test_out_without_suffix_is_saved_where_it_says(tmp_path, capsys, checks_pass):
    assert cli.main([*SMALL, "--out", str(tmp_path / "draws")]) == 0
    assert f"draws saved to {tmp_path / 'draws.npz'}" in capsys.readouterr().out
    assert np.load(tmp_path / "draws.npz")["positions"].shape == (2, 20, 1)


def test_draws_are_never_lost_when_saving_fails(tmp_path, monkeypatch, capsys, checks_pass):
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


# --------------------------------------------------------------------------- #
# exit statuses: 1 when a check printed FAILED
# --------------------------------------------------------------------------- #
def test_the_default_sample_passes_its_own_checks(capsys):
    """``jlangevin sample`` as shipped: long enough for its tail-ESS row (MALA is exact)."""
    assert cli.main(["sample", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "checked as 16 chains x 40000 draws" in out and "\nPASSED" in out


def test_the_default_sample_of_a_wrong_density_fails_and_exits_1(monkeypatch, capsys):
    """Broken companion: the same run on a tempered quartic (p^0.7) fails and exits 1."""
    quartic = jl.targets.quartic()
    tempered = dataclasses.replace(quartic, logdensity=lambda x: 0.7 * quartic.logdensity(x))
    monkeypatch.setattr(cli, "_target", lambda name: tempered)
    assert cli.main(["sample", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "\nFAILED" in captured.out and "a check FAILED (exit status 1)" in captured.err


def test_sample_exits_1_when_a_check_fails_and_still_saves(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(jl, "check", lambda *args, **kwargs: FAILING)
    out = tmp_path / "draws.npz"
    assert cli.main([*SMALL, "--out", str(out)]) == 1
    assert np.load(out)["positions"].shape == (2, 20, 1)
    assert "FAILED" in capsys.readouterr().out


def fake_demo_runs(monkeypatch, passed):
    """The demo with its tables' runs replaced (``passed`` is their verdict), clouds of zeros."""
    saved = {}

    def run(key, sampler, positions, num_steps, **kwargs):
        assert num_steps == kwargs["thin"] == cli.CLOUD_STEPS
        return jl.Trace(np.asarray(positions)[:, None], None, None, np.zeros(len(positions)))

    def sample_and_check(title, target, runs, run_args, show_reports):
        return {}, passed

    def save_panels(path, items, draw, caption=None):
        saved[path.name] = (items, draw, caption)

    monkeypatch.setattr(cli, "_sample_and_check", sample_and_check)
    monkeypatch.setattr(cli, "_save_panels", save_panels)
    monkeypatch.setattr(cli, "CLOUD_PARTICLES", 8)
    monkeypatch.setattr(cli, "CLOUD_STEPS", 2)
    monkeypatch.setattr(jl, "run", run)
    return saved


@pytest.mark.parametrize(("passed", "status"), [(True, 0), (False, 1)])
def test_demo_exits_1_when_a_check_fails(tmp_path, monkeypatch, capsys, passed, status):
    fake_demo_runs(monkeypatch, passed)
    assert cli.main(["demo", "--out", str(tmp_path)]) == status
    out = capsys.readouterr().out
    assert ("Some checks FAILED" in out) is not passed


def test_demo_ellipse_figure_is_labelled_and_its_caption_says_which_run(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = fake_demo_runs(monkeypatch, True)
    cli.main(["demo", "--out", str(tmp_path)])
    clouds, draw, caption = saved["ellipse.png"]
    assert "separate run from the table's" in caption and "after 2 steps" in caption
    assert "8 particles" in caption
    assert all(np.shape(x) == (8, 1, 2) for x in clouds.values())
    fig, ax = plt.subplots()
    draw(clouds["mala"], ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x[0]", "x[1]")
    assert ax.get_title() == "8 particles after 2 steps"
    plt.close(fig)


# --------------------------------------------------------------------------- #
# help
# --------------------------------------------------------------------------- #
def test_top_level_help_lists_every_command_and_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "sample", "gallery", "bench"):
        assert f"\n    {command} " in out, command
    assert "Exit status: 0 when every check passed; 1 when a check printed FAILED" in out


@pytest.mark.parametrize("command", ["demo", "sample", "gallery"])
def test_every_flag_has_help_showing_its_default(command, capsys):
    _, commands = cli._parser()
    parser = commands[command]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, (command, action.dest)
        assert "default" in action.help, (command, action.dest, action.help)
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 when every check passed; 1 when" in text
    assert "2 for a usage error" in text
    if command == "sample":
        for shown in ("(default: quartic)", "(default: mala)", "(default: 0.05)", "(default: 16)"):
            assert shown in text, shown
