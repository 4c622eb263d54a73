"""Bad flags of ``jlangevin``: exit status 2, a message naming the flag, no traceback.

Nothing here samples: every row fails while the arguments are parsed and checked.
"""

from collections.abc import Callable
from pathlib import Path

import pytest
from bad_inputs import Case, case_id

import jlangevin as jl
from jlangevin import cli

HERE = Path(__file__).resolve().parent
MISSING = HERE / "no-such-folder" / "draws.npz"


def sample(*flags: str) -> Callable[[], int]:
    return lambda: cli.main(["sample", "--quiet", *flags])


CASES = [
    Case("steps negative", sample("--steps", "-5"), SystemExit, "--steps"),
    Case("steps zero", sample("--steps", "0"), SystemExit, "--steps"),
    Case("steps a word", sample("--steps", "many"), SystemExit, "--steps"),
    Case("steps a float", sample("--steps", "1.5"), SystemExit, "--steps"),
    Case(
        "steps not a multiple of thin", sample("--steps", "10", "--thin", "3"), SystemExit, "--thin"
    ),
    Case("step-size nan", sample("--step-size", "nan"), SystemExit, "--step-size"),
    Case("step-size inf", sample("--step-size", "inf"), SystemExit, "--step-size"),
    Case("step-size negative", sample("--step-size", "-0.1"), SystemExit, "--step-size"),
    Case("step-size zero", sample("--step-size", "0"), SystemExit, "--step-size"),
    Case("step-size a word", sample("--step-size", "small"), SystemExit, "--step-size"),
    Case("chains zero", sample("--chains", "0"), SystemExit, "--chains"),
    Case("chains negative", sample("--chains", "-3"), SystemExit, "--chains"),
    Case("chains a float", sample("--chains", "2.0"), SystemExit, "--chains"),
    Case("thin zero", sample("--thin", "0"), SystemExit, "--thin"),
    Case("burnin negative", sample("--burnin", "-1"), SystemExit, "--burnin"),
    Case("seed negative", sample("--seed", "-1"), SystemExit, "--seed"),
    Case("seed beyond 64 bits", sample("--seed", str(2**64)), SystemExit, "--seed"),
    Case("target unknown", sample("--target", "donut"), SystemExit, "--target"),
    Case("kernel unknown", sample("--kernel", "hmc"), SystemExit, "--kernel"),
    Case("out in a missing folder", sample("--out", str(MISSING)), SystemExit, "--out"),
    Case("out is a folder", sample("--out", str(HERE)), SystemExit, "--out"),
    Case("out under a file", sample("--out", f"{__file__}/draws.npz"), SystemExit, "--out"),
    Case("out empty", sample("--out", ""), SystemExit, "argument --out: must name a file"),
    Case("demo seed negative", lambda: cli.main(["demo", "--seed", "-2"]), SystemExit, "--seed"),
    Case(
        "demo out empty (not the current folder)",
        lambda: cli.main(["demo", "--out", ""]),
        SystemExit,
        "argument --out: must name a folder; got an empty string",
    ),
    Case(
        "gallery out empty",
        lambda: cli.main(["gallery", "dice", "--out", ""]),
        SystemExit,
        "argument --out: must name a folder",
    ),
    Case("demo out is a file", lambda: cli.main(["demo", "--out", __file__]), SystemExit, "--out"),
    Case(
        "demo out in a missing folder",
        lambda: cli.main(["demo", "--out", str(MISSING.parent / "figures")]),
        SystemExit,
        "--out",
    ),
    Case(
        "bench repeats zero", lambda: cli.main(["bench", "--repeats", "0"]), SystemExit, "--repeats"
    ),
    Case("bench work nan", lambda: cli.main(["bench", "--work", "nan"]), SystemExit, "--work"),
    Case("gallery unknown", lambda: cli.main(["gallery", "nope"]), SystemExit, "name"),
    Case("gallery no name", lambda: cli.main(["gallery"]), SystemExit, "name"),
    Case(
        "gallery seed negative",
        lambda: cli.main(["gallery", "dice", "--seed", "-1"]),
        SystemExit,
        "--seed",
    ),
    Case(
        "gallery out in a missing folder",
        lambda: cli.main(["gallery", "dice", "--out", str(MISSING)]),
        SystemExit,
        "--out",
    ),
]


@pytest.fixture
def no_sampling(monkeypatch):
    """Fail the test if anything is sampled: every row must stop before ``jl.run``."""

    def refuse(*args, **kwargs):
        raise AssertionError("jl.run was called: the bad flag was not caught first")

    monkeypatch.setattr(jl, "run", refuse)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case, capsys, no_sampling):
    with pytest.raises(SystemExit) as caught:
        case.call()
    err = capsys.readouterr().err
    assert caught.value.code == 2, (case.id, caught.value.code, err)
    assert case.names in err, f"{case.id}: stderr does not name {case.names!r}: {err!r}"
    assert "Traceback" not in err
    assert not MISSING.parent.exists()
