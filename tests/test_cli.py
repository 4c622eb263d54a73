"""The command line: `sample` end to end (the demo itself is `make demo`)."""

import numpy as np

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
