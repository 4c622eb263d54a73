"""``jlangevin bench``: the quick throughput table and the quick first-call latency table.

``jlangevin bench [options]`` runs ``python benchmarks/quick.py [options]``
from a source checkout. Prints both tables (under a minute on a 2-core CPU)
and writes nothing; the full runs are ``throughput.py`` and ``compile_time.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import compile_time
import throughput
from _runners import KERNELS


def main(argv: Sequence[str] | None = None) -> int:
    """Print the quick tables.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``); ``--help`` lists them.

    Returns
    -------
    int
        The exit status (0).
    """
    parser = argparse.ArgumentParser(
        prog="jlangevin bench",
        description="Chain-steps per second of jlangevin against peers and a hand-fused floor, "
        "and the first call's latency (trace + compile + run) against BlackJAX's.",
    )
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument(
        "--work", type=float, default=throughput.QUICK["work"], help="chains*dim*steps per call"
    )
    parser.add_argument("--repeats", type=int, default=throughput.QUICK["repeats"])
    parser.add_argument("--no-peers", action="store_true", help="floor and jlangevin only")
    parser.add_argument(
        "--log-density",
        action="store_true",
        help="add the 'jlangevin + log density' column (more to compile)",
    )
    parser.add_argument(
        "--no-compile-time", action="store_true", help="leave out the first-call latency table"
    )
    args = parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    start = time.perf_counter()
    peers = not args.no_peers
    print("Throughput\n")
    print(
        throughput.quick_table(
            args.kernels,
            work=args.work,
            repeats=args.repeats,
            peers=peers,
            log_density=args.log_density,
        ),
        flush=True,
    )
    if not args.no_compile_time:
        print("\nFirst-call latency\n")
        print(compile_time.quick_table(args.kernels, peers=peers))
    print(
        f"\n({time.perf_counter() - start:.0f} s; full runs: benchmarks/throughput.py, "
        "benchmarks/compile_time.py)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
