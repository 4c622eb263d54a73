"""Summarise a posteriordb reference posterior into a small ``reference.json``.

posteriordb ships each reference posterior as 10 chains of 1,000 thinned Stan
NUTS draws (``reference_draws.json.zip``, a JSON list of chains, each a mapping
``"name[i]" -> draws`` on the constrained scale). This keeps, per parameter and
in posteriordb's order, the mean, the standard deviation (over all draws) and
the bulk effective sample size over the chains (ArviZ's rank-normalised
``ess_bulk``): what a comparison ``z = (mean - ref_mean) / sqrt(sd^2 / ess +
ref_sd^2 / ref_ess)`` needs, at a few kilobytes instead of megabytes.

Usage::

    python benchmarks/posteriordb/make_reference.py PATH/TO/posteriors/<name> [OUT_DIR]

writes ``OUT_DIR/reference.json`` (default: the folder of this script's
``<name>`` sibling, i.e. ``benchmarks/posteriordb/<name>/``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import zipfile
from typing import Any

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
DRAWS = "reference_draws.json.zip"


def read_zipped_json(path: pathlib.Path) -> Any:
    """The JSON document inside a one-file zip archive.

    Parameters
    ----------
    path : pathlib.Path
        A ``.json.zip`` file (posteriordb's format).

    Returns
    -------
    Any
        The parsed JSON.
    """
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(archive.namelist()[0]))


def summarise_draws(chains: list[dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Mean, sd and bulk ESS of every parameter of a list of chains.

    Parameters
    ----------
    chains : list of dict
        One mapping ``name -> draws`` per chain (equal lengths).

    Returns
    -------
    dict
        ``{name: {"mean", "sd", "ess_bulk"}}`` in the chains' order of names.
    """
    import arviz as az

    out = {}
    for name in chains[0]:
        draws = np.asarray([chain[name] for chain in chains], dtype=np.float64)
        out[name] = {
            "mean": float(draws.mean()),
            "sd": float(draws.std(ddof=1)),
            "ess_bulk": float(az.ess(draws, method="bulk")),
        }
    return out


def reference_summary(folder: pathlib.Path) -> dict[str, Any]:
    """The ``reference.json`` document of one posteriordb posterior folder.

    Parameters
    ----------
    folder : pathlib.Path
        A posteriordb posterior folder holding ``reference_draws.json.zip``.

    Returns
    -------
    dict
        ``name``, ``num_chains``, ``num_draws`` (per chain), ``how`` (a line
        on the method) and ``parameters`` (see :func:`summarise_draws`).
    """
    chains = read_zipped_json(folder / DRAWS)
    first = next(iter(chains[0].values()))
    return {
        "name": folder.name,
        "num_chains": len(chains),
        "num_draws": len(first),
        "how": (
            "posteriordb reference draws (Stan NUTS, constrained scale); mean and sd over all "
            "draws (sd with ddof=1), bulk ESS by arviz.ess(method='bulk') over the chains"
        ),
        "parameters": summarise_draws(chains),
    }


def main(argv: list[str] | None = None) -> pathlib.Path:
    """Write ``reference.json`` for the posteriordb folder given on the command line.

    Parameters
    ----------
    argv : list of str, optional
        ``[FOLDER, [OUT_DIR]]``; default ``sys.argv[1:]``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=pathlib.Path, help="a posteriordb posterior folder")
    parser.add_argument("out", type=pathlib.Path, nargs="?", default=None, help="output folder")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else HERE / args.folder.name
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reference.json"
    path.write_text(json.dumps(reference_summary(args.folder), indent=1) + "\n")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
