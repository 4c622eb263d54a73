"""Command line: ``jlangevin demo | sample | gallery | bench`` (or ``python -m jlangevin``).

Exit status: 0 when every check passed; 1 when a check printed FAILED (or
``sample`` could not save its draws where asked and saved them in the current
folder, else the temporary folder, instead); 2 for a usage error (a bad flag
or output path), reported with the flag's name before anything is sampled.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import tempfile
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


def _save_panels(
    path: Path,
    items: dict[str, Any],
    draw: Callable[[Any, Any], Any],
    caption: str | None = None,
) -> None:
    """One panel per kernel, side by side, saved to ``path`` (``caption`` above them)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(items), figsize=(4.2 * len(items), 3.8))
    for ax, (name, item) in zip(axes, items.items(), strict=True):
        draw(item, ax)
        ax.set_title(f"{name.upper()}: {ax.get_title()}".rstrip(": "))
    if caption:
        fig.suptitle(caption, fontsize="medium")
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


#: The demo's ellipse figure: particles from a broad cloud after this many steps of each kernel.
CLOUD_PARTICLES, CLOUD_STEPS, CLOUD_SCALE = 10_000, 1_000, 1.5


def ellipse_caption() -> str:
    """What the ellipse figure shows: a run of its own, not the chains of the ellipse table."""
    return (
        f"Elliptical ring, a separate run from the table's: {CLOUD_PARTICLES:,} particles "
        f"started from {CLOUD_SCALE} N(0, I), after {CLOUD_STEPS:,} steps of each kernel"
    )


def _ellipse_cloud_panel(plot: Any, ellipse: jl.targets.Target) -> Callable[[Any, Any], Any]:
    """One panel of the ellipse figure: the particles over the density, axes labelled."""

    def draw(positions: Any, ax: Any) -> None:
        plot.particles(positions, ellipse, ax=ax, size=0.5)
        ax.set_title(f"{CLOUD_PARTICLES:,} particles after {CLOUD_STEPS:,} steps")
        ax.set_xlabel("x[0]")
        ax.set_ylabel("x[1]")

    return draw


def demo(out: Path, seed: int = 0, show_reports: bool = True) -> int:
    """Sample the quartic and the ellipse with ULA, MALA and SGLD; print tables; save figures.

    Returns
    -------
    int
        0 when every ``jl.check`` report passed, 1 when one printed FAILED.
    """
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
    # The picture is a run of its own (not the chains of the table above): a particle
    # cloud shows the whole law at one step, which 64 chains cannot.
    cloud_start = CLOUD_SCALE * jax.random.normal(jax.random.fold_in(key, 2), (CLOUD_PARTICLES, 2))
    clouds = {
        name: jl.run(
            key, make(), cloud_start, CLOUD_STEPS, thin=CLOUD_STEPS, store="positions"
        ).positions
        for name, make in _ellipse_runs(ellipse).items()
    }
    _save_panels(
        out / "ellipse.png",
        clouds,
        _ellipse_cloud_panel(plot, ellipse),
        caption=ellipse_caption(),
    )

    print(f"\nFigures:\n  {out / 'quartic.png'}: the quartic runs of the first table, histograms")
    print(
        f"  {out / 'ellipse.png'}: a separate run, not the chains of the second table: "
        f"{CLOUD_PARTICLES:,} particles started from {CLOUD_SCALE} N(0, I), each moved "
        f"{CLOUD_STEPS:,} steps by each kernel (the table's step sizes), over the density"
    )
    print("All checks passed." if all_passed else "Some checks FAILED (see the reports above).")
    return 0 if all_passed else 1


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


@functools.cache
def _cached_target(name: str, x64: bool) -> jl.targets.Target:
    return TARGETS[name]()


def _target(name: str) -> jl.targets.Target:
    """One target object per name (and precision): repeated in-process runs share compiles."""
    return _cached_target(name, bool(jax.config.jax_enable_x64))


def _initial_positions(key, target: jl.targets.Target, num_chains: int) -> jax.Array:
    """Chains spread over the support (a box), or standard normal draws."""
    if target.support is None:
        return jax.random.normal(key, (num_chains, target.dim))
    low, high = (np.asarray(b, float) for b in target.support)
    u = np.asarray(jax.random.uniform(key, (num_chains, target.dim)))
    return jnp.asarray(low + (high - low) * (0.05 + 0.9 * u), jnp.float32)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``path`` whole or not at all (a temporary file in its folder, then renamed)."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fallback_paths(path: Path) -> list[Path]:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{path.stem}-{stamp}-{os.getpid()}.npz"
    return [Path.cwd() / name, Path(tempfile.gettempdir()) / name]


def save_draws(path: Path, arrays: dict[str, np.ndarray]) -> tuple[Path, int]:
    """Save ``arrays`` to ``path``; when that fails, to a fallback file. Never drops them.

    The file is written whole or not at all (a temporary file, then renamed).

    Returns
    -------
    (where, status) : the file written and the exit status: 0 when it is
        ``path``, 1 when it is a fallback (the current folder, else the
        temporary folder); the reason is printed to stderr.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from jlangevin.cli import save_draws
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     where, status = save_draws(Path(folder) / "d.npz", {"x": np.zeros(3)})
    ...     print(where.name, status, np.load(where)["x"].shape)
    d.npz 0 (3,)
    """
    try:
        _write_npz(path, arrays)
        return path, 0
    except OSError as err:
        reason = err
    for fallback in _fallback_paths(path):
        try:
            _write_npz(fallback, arrays)
        except OSError:
            continue
        print(
            f"jlangevin sample: could not save the draws to {path} ({reason}); "
            f"saved them to {fallback} instead.",
            file=sys.stderr,
        )
        return fallback, 1
    raise OSError(f"could not save the draws to {path} or any fallback ({reason})")


def sample(args: argparse.Namespace) -> int:
    """Sample a named target; save the draws (``.npz``) first, then print the check report.

    Returns
    -------
    int
        0 when the report passed and the draws (if asked for) were saved where
        asked; 1 when a check failed or the draws went to a fallback file.
    """
    target = _target(args.target)
    sampler = KERNELS[args.kernel](
        target.logdensity, step_size=args.step_size, bounds=target.support
    )
    key = jax.random.key(args.seed)
    x0 = _initial_positions(key, target, args.chains)
    trace = jl.run(
        key, sampler, x0, args.steps, burnin=args.burnin, thin=args.thin, progress=not args.quiet
    )
    status = 0
    if args.out:
        arrays = {
            "positions": np.asarray(trace.positions),
            "diverged": np.asarray(trace.diverged),
        }
        where, status = save_draws(args.out, arrays)
        print(f"draws saved to {where}")
    report = jl.check(trace, target)
    print(report)
    if not report.passed:
        print("jlangevin sample: a check FAILED (exit status 1).", file=sys.stderr)
        return 1
    return status


# --------------------------------------------------------------------------- #
# bench
# --------------------------------------------------------------------------- #
#: ``benchmarks/`` of a source checkout (or editable install): next to the package.
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench_precheck(argv: Sequence[str]) -> None:
    """Reject bad values of the numeric ``bench`` flags here, before a subprocess starts."""
    parser = argparse.ArgumentParser(prog="jlangevin bench", add_help=False)
    parser.add_argument("--work", type=finite_positive_float)
    parser.add_argument("--repeats", type=positive_int)
    parser.parse_known_args(list(argv))


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

    _bench_precheck(argv)
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
def _integer(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
    if value > MAX_INT:
        raise argparse.ArgumentTypeError(f"must be at most 2**63 - 1; got {text!r}")
    return value


#: Largest integer flag value (seeds are 64-bit signed integers).
MAX_INT = 2**63 - 1


def positive_int(text: str) -> int:
    """argparse ``type=``: an integer ``>= 1``.

    Examples
    --------
    >>> from jlangevin.cli import positive_int
    >>> positive_int("8")
    8
    """
    return _integer(text, 1, "a positive integer")


def nonnegative_int(text: str) -> int:
    """argparse ``type=``: an integer ``>= 0``.

    Examples
    --------
    >>> from jlangevin.cli import nonnegative_int
    >>> nonnegative_int("0")
    0
    """
    return _integer(text, 0, "an integer >= 0")


def finite_positive_float(text: str) -> float:
    """argparse ``type=``: a finite number ``> 0`` (``nan``, ``inf`` and ``0`` are refused).

    Examples
    --------
    >>> from jlangevin.cli import finite_positive_float
    >>> finite_positive_float("0.05")
    0.05
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text!r}")
    return value


def _npz_path(out: Path) -> Path:
    """Where ``np.savez`` would write ``out``: ``.npz`` appended when missing."""
    return out if out.suffix == ".npz" else out.with_name(out.name + ".npz")


def _writable_folder(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (``None`` when they can)."""
    if not folder.exists():
        return f"the folder {str(folder)!r} does not exist (create it first)"
    if not folder.is_dir():
        return f"{str(folder)!r} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return f"cannot write in the folder {str(folder)!r} ({err.strerror or err})"
    return None


def _check_out_file(parser: argparse.ArgumentParser, out: Path) -> Path:
    """The ``.npz`` file ``sample --out`` will write, checked before any sampling."""
    if out.is_dir() or not out.name:
        parser.error(f"argument --out: {str(out)!r} is a folder; give a file name (draws.npz)")
    path = _npz_path(out)
    if path.is_dir():
        parser.error(f"argument --out: {str(path)!r} is a folder; give a file name (draws.npz)")
    problem = _writable_folder(path.parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = f"the file {str(path)!r} exists and is read-only"
    if problem:
        parser.error(f"argument --out: {problem}")
    return path


def _check_out_folder(parser: argparse.ArgumentParser, out: Path) -> Path:
    """``demo --out``: an existing folder, or a new one in an existing folder."""
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {str(out)!r} exists and is not a folder")
    if not out.exists():
        problem = _writable_folder(out.absolute().parent)
        if problem:
            parser.error(f"argument --out: cannot create {str(out)!r}: {problem}")
        try:
            out.mkdir()
        except OSError as err:
            parser.error(f"argument --out: cannot create {str(out)!r} ({err.strerror or err})")
    problem = _writable_folder(out)
    if problem:
        parser.error(f"argument --out: {problem}")
    return out


#: The gallery's examples (``jlangevin.gallery.NAMES``, loaded only when run).
GALLERY_NAMES = ("ebm", "ellipse", "quartic", "dice", "dsm")


def gallery(name: str, out: Path, quick: bool = False, seed: int = 0) -> int:
    """Run one gallery example (or ``"all"``), print its checks; 0 when every check passed."""
    from jlangevin import gallery as examples

    names = examples.NAMES if name == "all" else (name,)
    failed = []
    for one in names:
        start = time.perf_counter()
        result = examples.run(one, quick=quick, out=out, seed=seed)
        print(result.report())
        print(f"  ({time.perf_counter() - start:.1f} s)\n", flush=True)
        if not result.passed:
            failed.append(one)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


def folder_arg(text: str) -> Path:
    """argparse ``type=``: a folder; ``''`` is refused (``Path('')`` would be the current folder).

    Examples
    --------
    >>> from jlangevin.cli import folder_arg
    >>> folder_arg("figures").name
    'figures'
    """
    if not text:
        raise argparse.ArgumentTypeError(
            "must name a folder; got an empty string (for the current folder, pass '.')"
        )
    return Path(text)


def file_arg(text: str) -> Path:
    """argparse ``type=``: a file name; ``''`` is refused.

    Examples
    --------
    >>> from jlangevin.cli import file_arg
    >>> file_arg("draws.npz").name
    'draws.npz'
    """
    if not text:
        raise argparse.ArgumentTypeError("must name a file (draws.npz); got an empty string")
    return Path(text)


#: Exit statuses, shown by every ``--help`` (``{failed}``: what exits 1).
EXIT_STATUS = (
    "Exit status: 0 when every check passed; 1 when {failed}; 2 for a usage error "
    "(a bad flag or output path), before anything is sampled."
)


def _subparser(
    sub: Any, name: str, summary: str, description: str, failed: str
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=summary, description=description, epilog=EXIT_STATUS.format(failed=failed)
    )


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="jlangevin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = demo_parser = _subparser(
        sub,
        "demo",
        "sample the quartic and the ellipse with ULA, MALA and SGLD; tables, checks, figures",
        "Sample the quartic and the elliptical ring with ULA, MALA and SGLD, print a table "
        "and the jl.check report of every run, and save two figures.",
        "a check printed FAILED",
    )
    p.add_argument(
        "--out",
        type=folder_arg,
        default=Path("demo-output"),
        help="folder for the figures, created if missing; its parent must exist "
        "(default: %(default)s)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--brief",
        action="store_true",
        help="tables only, no check reports (default: off, the reports are printed)",
    )
    p = sample_parser = _subparser(
        sub,
        "sample",
        "sample a built-in target and report the checks",
        "Sample a built-in target with a Langevin kernel, save the draws if asked, and "
        "print the jl.check report against the target's exact answers.",
        "a check printed FAILED, or the draws could not be saved where asked and went to "
        "a fallback file",
    )
    p.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default="quartic",
        help="the target density (default: %(default)s)",
    )
    p.add_argument(
        "--kernel",
        choices=sorted(KERNELS),
        default="mala",
        help="the kernel (default: %(default)s)",
    )
    p.add_argument(
        "--step-size",
        type=finite_positive_float,
        default=0.05,
        help="the step size h of x' = x + h grad log p(x) + sqrt(2h) xi (default: %(default)s)",
    )
    # 16 chains x 40,000 steps: the quartic's rare mode switches make tail ESS its slowest
    # row. 8 x 10,000 gave tail ESS 64 to 620 over 6 seeds (ess_min is 400), 16 x 40,000
    # gave 990 to 2,150 over 20 seeds (the run takes a few seconds).
    p.add_argument(
        "--chains",
        type=positive_int,
        default=16,
        help="independent chains, started spread over the support (default: %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=40_000,
        help="steps after burn-in, a multiple of --thin (default: %(default)s)",
    )
    p.add_argument(
        "--burnin",
        type=nonnegative_int,
        default=1_000,
        help="steps run and dropped before --steps (default: %(default)s)",
    )
    p.add_argument(
        "--thin",
        type=positive_int,
        default=1,
        help="keep every THIN-th step; --steps must be a multiple (default: %(default)s)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--out",
        type=file_arg,
        default=None,
        help="save the draws to this .npz file; its folder must exist, checked before "
        "sampling (default: not saved)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (default: off, a progress bar)"
    )
    p = gallery_parser = _subparser(
        sub,
        "gallery",
        "run the reference examples: their pictures and quantitative checks",
        "Run one reference example (or all of them): save its pictures and print its "
        "quantitative checks.",
        "a check of an example FAILED",
    )
    p.add_argument(
        "name",
        choices=[*GALLERY_NAMES, "all"],
        help="an example, or all of them (required; no default)",
    )
    p.add_argument(
        "--out",
        type=folder_arg,
        default=Path("gallery-output"),
        help="folder for the pictures, created if missing; its parent must exist "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="the small version the tests run (default: off, the full version)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default: 0)")
    sub.add_parser(
        "bench",
        help="quick throughput and first-call latency tables (source checkout; see "
        "benchmarks/; `jlangevin bench --help` lists its flags)",
        add_help=False,
    )
    commands = {"demo": demo_parser, "sample": sample_parser, "gallery": gallery_parser}
    return parser, commands


def _checked_sample_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks across flags, and of the output file, before anything runs."""
    if args.steps % args.thin:
        parser.error(
            f"argument --steps: must be a multiple of --thin ({args.thin}); got {args.steps}"
        )
    if args.out is not None:
        args.out = _check_out_file(parser, args.out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jlangevin`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Bad flags raise ``SystemExit(2)`` with a message naming the flag.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    parser, commands = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        out = _check_out_folder(commands["demo"], args.out)
        return demo(out, args.seed, show_reports=not args.brief)
    if args.command == "gallery":
        out = _check_out_folder(commands["gallery"], args.out)
        return gallery(args.name, out, quick=args.quick, seed=args.seed)
    _checked_sample_args(commands["sample"], args)
    return sample(args)


if __name__ == "__main__":
    raise SystemExit(main())
