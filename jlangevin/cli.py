"""Command line: ``jlangevin demo | sample | bench`` (also ``python -m jlangevin``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jlangevin as jl

# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
# Settings per target and kernel: (sampler factory, burn-in, kept steps, thin).
# The ULA/SGLD steps are small enough that their O(h) bias is far below the
# Monte Carlo error of these runs; MALA is exact at any step.


def noisy_gradient(target: jl.targets.Target, noise_scale: float) -> jl.gradients.GradientEstimator:
    """An unbiased but noisy gradient, ``score + noise_scale * N(0, I)``.

    It stands in for a minibatch estimate (the demo's targets have no data), so
    the demo's SGLD really is stochastic-gradient and differs from ULA.
    """
    value_and_score = jax.value_and_grad(target.logdensity)

    def estimate(key, position):
        value, score = value_and_score(position)
        return value, score + noise_scale * jax.random.normal(key, jnp.shape(score))

    return jl.gradients.GradientEstimator(estimate)


def _quartic_runs(target: jl.targets.Target) -> dict[str, Callable[[], jl.Sampler]]:
    box = target.support
    return {
        "ula": lambda: jl.ula(target.logdensity, step_size=0.002, bounds=box),
        "mala": lambda: jl.mala(target.logdensity, step_size=0.08, bounds=box),
        "sgld": lambda: jl.sgld(noisy_gradient(target, 2.0), step_size=0.002, bounds=box),
    }


def _ellipse_runs(target: jl.targets.Target) -> dict[str, Callable[[], jl.Sampler]]:
    return {
        "ula": lambda: jl.ula(target.logdensity, step_size=1e-3),
        "mala": lambda: jl.mala(target.logdensity, step_size=8e-3),
        "sgld": lambda: jl.sgld(noisy_gradient(target, 2.0), step_size=1e-3),
    }


def _timed_run(key, sampler, positions, num_steps, burnin, thin) -> tuple[jl.Trace, float]:
    """One run and its wall time, compilation included."""
    start = time.perf_counter()
    trace = jl.run(key, sampler, positions, num_steps, burnin=burnin, thin=thin)
    jax.block_until_ready(trace.positions)
    return trace, time.perf_counter() - start


def _row(name: str, trace: jl.Trace, target: jl.targets.Target, seconds: float) -> dict[str, Any]:
    from jlangevin import diagnostics as dg

    row = {
        "kernel": name,
        "rhat": float(np.max(dg.rhat(trace))),
        "ess": float(np.min(dg.ess(trace, method="bulk"))),
        "acceptance": float(np.mean(trace.info.acceptance_rate))
        if hasattr(trace.info, "acceptance_rate")
        else float("nan"),
        "diverged": trace.num_diverged_chains,
        "seconds": seconds,
    }
    if target.cdf is not None:
        ks = dg.ks_test(trace, target.cdf)
        row["ks"], row["ks_p"] = float(np.max(ks.statistic)), float(np.min(ks.pvalue))
    return row


def _print_table(title: str, rows: list[dict[str, Any]]) -> None:
    cols = [
        ("kernel", "{:<6}"),
        ("rhat", "{:>7.4f}"),
        ("ess", "{:>8.0f}"),
        ("acceptance", "{:>10.3f}"),
        ("ks", "{:>7.4f}"),
        ("ks_p", "{:>7.3f}"),
        ("diverged", "{:>8d}"),
        ("seconds", "{:>8.2f}"),
    ]
    cols = [(c, f) for c, f in cols if any(c in r for r in rows)]
    heads = {
        "rhat": "R-hat",
        "ess": "bulk ESS",
        "ks": "KS D",
        "ks_p": "KS p",
        "seconds": "wall s",
        "acceptance": "accept",
    }
    widths = [len(f.format(rows[0][c])) for c, f in cols]
    print(f"\n{title}")
    print("  ".join(heads.get(c, c).rjust(w) for (c, _), w in zip(cols, widths, strict=True)))
    for r in rows:
        cells = []
        for (c, f), w in zip(cols, widths, strict=True):
            value = r.get(c)
            nan = value is None or (isinstance(value, float) and np.isnan(value))
            cells.append("-".rjust(w) if nan else f.format(value))
        print("  ".join(cells))


def _save_panels(path: Path, items: dict[str, Any], draw: Callable[[Any, Any], Any]) -> None:
    """One panel per kernel, side by side, saved to ``path``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(items), figsize=(4.2 * len(items), 3.8))
    for ax, (name, item) in zip(axes, items.items(), strict=True):
        draw(item, ax)
        ax.set_title(f"{name.upper()}: {ax.get_title()}".rstrip(": "))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _sample_and_check(
    title: str,
    target: jl.targets.Target,
    runs: dict[str, Callable[[], jl.Sampler]],
    run_args: tuple,
    show_reports: bool,
) -> tuple[dict[str, jl.Trace], bool]:
    """Run each kernel, print the summary table and (optionally) every check report."""
    traces, rows, passed = {}, [], True
    for name, make in runs.items():
        traces[name], seconds = _timed_run(run_args[0], make(), *run_args[1:])
        rows.append(_row(name, traces[name], target, seconds))
    _print_table(title, rows)
    for name, trace in traces.items():
        report = jl.check(trace, target)
        passed &= bool(report.passed)
        if show_reports:
            print(f"\n[{name}] {report}")
    return traces, passed


def demo(out: Path, seed: int = 0, show_reports: bool = True) -> int:
    """Sample the quartic and the ellipse with ULA, MALA and SGLD; print tables; save figures."""
    from jlangevin import plot

    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(seed)
    device = jax.devices()[0]
    print(f"jlangevin {jl.__version__} demo on {device.platform.upper()} ({device.device_kind})")
    all_passed = True

    # The quartic: 32 chains spread over both modes.
    quartic = jl.targets.quartic()
    traces, passed = _sample_and_check(
        "Quartic on [-0.7, 1.5]: 32 chains x 8,000 kept draws (96,000 steps, thin 12); "
        "SGLD with a noisy unbiased gradient (score + 2 N(0, 1)); wall time includes compilation",
        quartic,
        _quartic_runs(quartic),
        (key, jnp.linspace(-0.65, 1.45, 32)[:, None], 96_000, 4_000, 12),
        show_reports,
    )
    all_passed &= passed
    _save_panels(out / "quartic.png", traces, lambda t, ax: plot.histogram(t, quartic, ax=ax))

    # The ellipse: 64 chains from a broad cloud, long enough to circle the ring many times.
    ellipse = jl.targets.ellipse(radii=(1.0, 0.6))
    _, passed = _sample_and_check(
        "Elliptical ring: 64 chains x 2,000 kept draws (200,000 steps, thin 100); "
        "SGLD gradient noise as above",
        ellipse,
        _ellipse_runs(ellipse),
        (key, jax.random.normal(jax.random.fold_in(key, 1), (64, 2)), 200_000, 5_000, 100),
        show_reports,
    )
    all_passed &= passed
    # The picture: 10,000 particles from a broad cloud after 1,000 steps of each kernel.
    cloud = 1.5 * jax.random.normal(jax.random.fold_in(key, 2), (10_000, 2))
    clouds = {
        name: jl.run(key, make(), cloud, 1_000, thin=1_000, store="positions").positions
        for name, make in _ellipse_runs(ellipse).items()
    }
    _save_panels(
        out / "ellipse.png",
        clouds,
        lambda x, ax: (
            plot.particles(x, ellipse, ax=ax, size=0.5),
            ax.set_title("10,000 particles after 1,000 steps"),
        ),
    )

    print(f"\nFigures: {out / 'quartic.png'}, {out / 'ellipse.png'}")
    print("All checks passed." if all_passed else "Some checks FAILED (see the reports above).")
    return 0


# --------------------------------------------------------------------------- #
# sample
# --------------------------------------------------------------------------- #
TARGETS = {
    "quartic": jl.targets.quartic,
    "ellipse": jl.targets.ellipse,
    "banana": jl.targets.banana,
    "dice": jl.targets.dice,
    "gaussian": lambda: jl.targets.gaussian(np.zeros(2)),
}
KERNELS = {"ula": jl.ula, "mala": jl.mala, "sgld": jl.sgld}


def sample(args: argparse.Namespace) -> int:
    """Sample a named target and save the draws (``.npz``) with a check report."""
    target = TARGETS[args.target]()
    sampler = KERNELS[args.kernel](
        target.logdensity, step_size=args.step_size, bounds=target.support
    )
    key = jax.random.key(args.seed)
    if target.support is not None:
        low, high = (np.asarray(b, float) for b in target.support)
        u = jax.random.uniform(key, (args.chains, target.dim))
        x0 = jnp.asarray(low + (high - low) * (0.05 + 0.9 * np.asarray(u)), jnp.float32)
    else:
        x0 = jax.random.normal(key, (args.chains, target.dim))
    trace = jl.run(
        key, sampler, x0, args.steps, burnin=args.burnin, thin=args.thin, progress=not args.quiet
    )
    print(jl.check(trace, target))
    if args.out:
        np.savez(
            args.out, positions=np.asarray(trace.positions), diverged=np.asarray(trace.diverged)
        )
        print(f"draws saved to {args.out}")
    return 0


# --------------------------------------------------------------------------- #
# bench
# --------------------------------------------------------------------------- #
#: ``benchmarks/`` of a source checkout (or editable install): next to the package.
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def bench(argv: Sequence[str]) -> int:
    """``jlangevin bench``: run ``benchmarks/quick.py`` of the source checkout.

    The benchmarks (and their peers, BlackJAX and TFP) are not part of the
    package; they live in the repository, next to it.

    Parameters
    ----------
    argv : sequence of str
        Passed on to ``benchmarks/quick.py`` (``--help`` lists its options).

    Returns
    -------
    int
        The script's exit status, or 2 when there is no ``benchmarks/`` folder.
    """
    import subprocess

    script = BENCHMARKS / "quick.py"
    if not script.is_file():
        print(
            f"jlangevin bench: no {script}. The benchmarks live in jlangevin's source "
            "repository, not in the installed package: run `jlangevin bench` from a source "
            "checkout installed with `pip install -e '.[bench]'`, or "
            "`python benchmarks/quick.py` there.",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([sys.executable, str(script), *argv])


# --------------------------------------------------------------------------- #
# entry point
# --------------------------------------------------------------------------- #
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jlangevin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="sample the quartic and the ellipse with all three kernels")
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="folder for figures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--brief", action="store_true", help="tables only, no check reports")
    p = sub.add_parser("sample", help="sample a built-in target and report the checks")
    p.add_argument("--target", choices=sorted(TARGETS), default="quartic")
    p.add_argument("--kernel", choices=sorted(KERNELS), default="mala")
    p.add_argument("--step-size", type=float, default=0.05)
    p.add_argument("--chains", type=int, default=8)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--burnin", type=int, default=1_000)
    p.add_argument("--thin", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="save draws to this .npz file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser(
        "bench",
        help="quick throughput and first-call latency tables (source checkout; see benchmarks/)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo(args.out, args.seed, show_reports=not args.brief)
    return sample(args)


if __name__ == "__main__":
    raise SystemExit(main())
