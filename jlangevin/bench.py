"""Throughput of jlangevin's kernels against peers and a hand-fused floor.

``jlangevin bench`` (or ``python -m jlangevin.bench``) prints a quick version
of the table in ``benchmarks/throughput.py``: chain-steps per second of
jlangevin ULA, MALA and SGLD (through :func:`jlangevin.run`), of BlackJAX and
TFP-on-JAX where installed (the ``bench`` extra), and of a *hand-fused floor*:
one jitted ``lax.scan`` of the same update written inline for a
``(chains, dim)`` array with one shared key (no pytrees, no per-chain keys,
no checks), drawing its normals with ``jax.random.normal``. A second floor,
the same loop with the normals made by jlangevin's written-out Threefry hash
(the same bits; JAX lowers its own hash on CPU to a loop that does not fuse),
is the least any library can pay for the same work. ULA and SGLD are given the
score alone, like the peers; a second jlangevin column gives them the log
density instead, which they then also evaluate, check and report (ArviZ's
``lp``) at every step: the price of that bookkeeping, shown rather than hidden.

Every implementation runs the same job: ``num_steps`` steps of the same kernel
(same update, same step ``h``) on the same target from the same start, keeping
every position, in one compiled call (initialisation included); timings are
wall-clock medians of repeats interleaved across implementations in one
process, so the ratios are measured side by side.

The target is an anisotropic Gaussian, ``log p(x) = -½ Σᵢ (xᵢ / σᵢ)²`` with
``σᵢ`` evenly spaced in ``[0.5, 2]``: cheap, so what is measured is each
library's own overhead (random numbers, bookkeeping, storage) rather than the
gradient. Conventions differ: BlackJAX uses ``x + h ∇log p + sqrt(2h) ξ`` like
jlangevin; TFP uses ``x + (ε/2) ∇log p + sqrt(ε) ξ``, so it is given ``ε = 2h``.

This module is not imported by ``import jlangevin``; it imports the peers
lazily and skips (with a note) any that is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp

KERNELS = ("ula", "mala", "sgld")
#: (dimension, chains) cells of the full benchmark.
GRID = ((2, 10_000), (100, 1_000), (1000, 100), (10, 1))
#: Implementations in table order; peers that are not installed are skipped.
IMPLEMENTATIONS = ("floor", "floor_hash", "jlangevin", "jlangevin_lp", "blackjax", "tfp")
LABELS = {
    "floor": "hand-fused floor",
    "floor_hash": "floor, written-out hash",
    "jlangevin": "jlangevin",
    "jlangevin_lp": "jlangevin + log density",
    "blackjax": "BlackJAX",
    "tfp": "TFP-on-JAX",
}

Runner = Callable[[jax.Array, jax.Array], Any]


# --------------------------------------------------------------------------- #
# The job
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark cell: a Gaussian target, a start, a step and a step count.

    Attributes
    ----------
    dim : dimension of the position.
    chains : number of chains.
    num_steps : steps per timed call.
    step_size : ``h`` in ``x + h ∇log p + sqrt(2h) ξ`` (MALA near its optimal rate).
    """

    dim: int
    chains: int
    num_steps: int
    step_size: float

    @property
    def scales(self) -> jax.Array:
        return jnp.linspace(0.5, 2.0, self.dim, dtype=jnp.float32)

    def logdensity(self) -> Callable[[jax.Array], jax.Array]:
        """Log density of one position ``(dim,)``."""
        scales = self.scales

        def logdensity_fn(x: jax.Array) -> jax.Array:
            return -0.5 * jnp.sum((x / scales) ** 2)

        return logdensity_fn

    def start(self) -> jax.Array:
        """Initial positions ``(chains, dim)``, spread deterministically."""
        grid = jnp.linspace(-1.0, 1.0, self.chains * self.dim, dtype=jnp.float32)
        return grid.reshape(self.chains, self.dim)


def make_problem(dim: int, chains: int, num_steps: int) -> Problem:
    """A cell with a step ``h = 0.5 σ_min² d^(-1/3)`` (MALA acceptance about 0.6-0.9)."""
    return Problem(dim, chains, num_steps, 0.5 * 0.25 * dim ** (-1.0 / 3.0))


def steps_for(
    dim: int, chains: int, work: float, min_steps: int = 50, max_steps: int = 5000
) -> int:
    """Steps per timed call so that ``chains * dim * steps`` is about ``work``.

    Small cells are bounded by ``max_steps`` (there the per-step overhead, not
    the arithmetic, is what is measured).
    """
    steps = int(work / (chains * max(dim, 10)))
    return int(min(max(steps, min_steps), max_steps))


# --------------------------------------------------------------------------- #
# Implementations: each returns ``run(key, x0) -> positions`` (any layout)
# --------------------------------------------------------------------------- #
def jlangevin_runner(kernel: str, problem: Problem, track_logdensity: bool = False) -> Runner:
    """``jl.run(..., store="positions")``, the everyday entry point, timed whole.

    ULA and SGLD get the score alone (``score_fn=jax.grad(logp)``), as the peers
    and the floor do; with ``track_logdensity`` they get ``logp`` instead and
    also compute, check and carry the log density (``info.logdensity``, ArviZ's
    ``lp``), which the others do not. MALA always needs the log density.
    """
    import jlangevin as jl

    logp, h = problem.logdensity(), problem.step_size
    if kernel == "mala":
        sampler = jl.mala(logp, h)
    elif track_logdensity:
        sampler = {"ula": jl.ula, "sgld": jl.sgld}[kernel](logp, h)
    else:
        sampler = {"ula": jl.ula, "sgld": jl.sgld}[kernel](score_fn=jax.grad(logp), step_size=h)

    def run(key: jax.Array, x0: jax.Array) -> jax.Array:
        return jl.run(key, sampler, x0, problem.num_steps, store="positions").positions

    return run


def written_normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``jax.random.normal(key, shape)``, bit for bit, from the written-out Threefry hash.

    Word ``i`` is the hash of the counter ``(0, i)`` with its halves xor-ed, as
    JAX makes words (its default, partitionable threefry; up to ``2**32``
    words). The same numbers, without JAX's CPU lowering of the hash (a loop
    that does not fuse with the step around it).

    Examples
    --------
    >>> import jax
    >>> from jlangevin.bench import written_normal
    >>> key = jax.random.key(0)
    >>> bool((written_normal(key, (3, 2)) == jax.random.normal(key, (3, 2))).all())
    True
    """
    from jlangevin.kernels._random import _normal, _unit_interval, _words

    # A step's words at count 0 are JAX's words of the key itself.
    words, _ = _words(key, jnp.uint32(0), math.prod(shape), subkey=False)
    return _normal(_unit_interval(words, 1)).reshape(shape)


def floor_runner(kernel: str, problem: Problem, normal: Callable = jax.random.normal) -> Runner:
    """The same update written inline: one ``(chains, dim)`` array, one key per step.

    ``normal(key, shape)`` draws the noise: ``jax.random.normal``, or
    :func:`written_normal` for :func:`floor_hash_runner`.
    """
    logp_batch = jax.vmap(problem.logdensity())
    h, n = problem.step_size, problem.num_steps
    sqrt_2h = math.sqrt(2.0 * h)

    def grad(x):
        return jax.grad(lambda x: jnp.sum(logp_batch(x)))(x)

    def ula(key, x0):
        def body(carry, _):
            x, g, key = carry
            key, sub = jax.random.split(key)
            x = x + h * g + sqrt_2h * normal(sub, x.shape)
            return (x, grad(x), key), x

        return jax.lax.scan(body, (x0, grad(x0), key), None, length=n)[1]

    def sgld(key, x0):  # the score is estimated afresh at each step (here: the full one)
        def body(carry, _):
            x, key = carry
            key, sub = jax.random.split(key)
            x = x + h * grad(x) + sqrt_2h * normal(sub, x.shape)
            return (x, key), x

        return jax.lax.scan(body, (x0, key), None, length=n)[1]

    def mala(key, x0):
        value_and_grad = jax.value_and_grad(lambda x: jnp.sum(logp_batch(x)))

        def body(carry, _):
            x, lx, gx, key = carry
            key, k_move, k_accept = jax.random.split(key, 3)
            xi = normal(k_move, x.shape)
            y = x + h * gx + sqrt_2h * xi
            ly = logp_batch(y)
            gy = value_and_grad(y)[1]
            log_q_forward = -0.5 * jnp.sum(xi**2, axis=-1)
            log_q_backward = -jnp.sum((x - y - h * gy) ** 2, axis=-1) / (4 * h)
            log_alpha = ly - lx + log_q_backward - log_q_forward
            accept = jnp.log(jax.random.uniform(k_accept, lx.shape)) < log_alpha
            x = jnp.where(accept[:, None], y, x)
            lx = jnp.where(accept, ly, lx)
            gx = jnp.where(accept[:, None], gy, gx)
            return (x, lx, gx, key), x

        return jax.lax.scan(body, (x0, logp_batch(x0), grad(x0), key), None, length=n)[1]

    return jax.jit({"ula": ula, "sgld": sgld, "mala": mala}[kernel])


def floor_hash_runner(kernel: str, problem: Problem) -> Runner:
    """The floor with its normals from :func:`written_normal` (the same numbers)."""
    return floor_runner(kernel, problem, normal=written_normal)


def blackjax_runner(kernel: str, problem: Problem) -> Runner:
    """BlackJAX's idiom: ``vmap`` the step over chains, split a key per chain per step.

    MALA is ``blackjax.mala``; ULA and SGLD are ``blackjax.sgld`` with the full
    gradient as its estimator (BlackJAX has no separate ULA; it is the same update).
    """
    import blackjax

    logp, h, n = problem.logdensity(), problem.step_size, problem.num_steps
    chains = problem.chains

    if kernel == "mala":
        algorithm = blackjax.mala(logp, h)

        def run(key, x0):
            def body(state, step_key):
                keys = jax.random.split(step_key, chains)
                state, _ = jax.vmap(algorithm.step)(keys, state)
                return state, state.position

            state = jax.vmap(algorithm.init)(x0)
            return jax.lax.scan(body, state, jax.random.split(key, n))[1]

    else:
        algorithm = blackjax.sgld(lambda position, minibatch: jax.grad(logp)(position))

        def run(key, x0):
            def body(x, step_key):
                keys = jax.random.split(step_key, chains)
                x = jax.vmap(lambda k, p: algorithm.step(k, p, None, h))(keys, x)
                return x, x

            return jax.lax.scan(body, jax.vmap(algorithm.init)(x0), jax.random.split(key, n))[1]

    return jax.jit(run)


def tfp_runner(kernel: str, problem: Problem) -> Runner:
    """TFP-on-JAX's idiom: a batched ``target_log_prob_fn`` and ``sample_chain``.

    MALA is ``MetropolisAdjustedLangevinAlgorithm``; ULA and SGLD (full gradient)
    are ``UncalibratedLangevin``. TFP's step ``ε`` is ``2h`` (see the module notes).
    """
    from tensorflow_probability.substrates import jax as tfp

    logp_batch = jax.vmap(problem.logdensity())
    epsilon = 2.0 * problem.step_size
    if kernel == "mala":
        mcmc_kernel = tfp.mcmc.MetropolisAdjustedLangevinAlgorithm(logp_batch, epsilon)
    else:
        mcmc_kernel = tfp.mcmc.UncalibratedLangevin(logp_batch, epsilon, compute_acceptance=False)

    def run(key, x0):
        with warnings.catch_warnings():  # "not calibrated": true of ULA, and known
            warnings.simplefilter("ignore", UserWarning)
            return tfp.mcmc.sample_chain(
                problem.num_steps,
                x0,
                kernel=mcmc_kernel,
                num_burnin_steps=0,
                trace_fn=None,
                seed=jax.random.key_data(key),
            )

    return jax.jit(run)


def jlangevin_lp_runner(kernel: str, problem: Problem) -> Runner | None:
    """ULA and SGLD given ``logp`` (the log density tracked); ``None`` for MALA (same as above)."""
    return None if kernel == "mala" else jlangevin_runner(kernel, problem, track_logdensity=True)


RUNNERS: dict[str, Callable[[str, Problem], Runner | None]] = {
    "floor": floor_runner,
    "floor_hash": floor_hash_runner,
    "jlangevin": jlangevin_runner,
    "jlangevin_lp": jlangevin_lp_runner,
    "blackjax": blackjax_runner,
    "tfp": tfp_runner,
}
PEER_MODULES = {"blackjax": "blackjax", "tfp": "tensorflow_probability.substrates.jax"}


def available_peers() -> tuple[list[str], dict[str, str]]:
    """Peers that import, and a note for each one that does not."""
    found, notes = [], {}
    for name, module in PEER_MODULES.items():
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or a peer broken against this jax
            notes[name] = f"{LABELS[name]} skipped: {type(err).__name__}: {err}"
        else:
            found.append(name)
    return found, notes


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #
def time_interleaved(
    runners: dict[str, Runner], args: Sequence[Any], repeats: int
) -> dict[str, list[float]]:
    """Wall-clock seconds of each runner, repeats interleaved (order rotated each round).

    Every runner is called once first (compilation) and its result awaited;
    those first calls run in a thread pool, one thread per core (XLA compiles
    without holding the GIL), which only shortens the wait: the timed calls
    run one at a time.
    """
    with ThreadPoolExecutor(max_workers=max(1, min(len(runners), os.cpu_count() or 1))) as pool:
        for done in pool.map(lambda run: jax.block_until_ready(run(*args)), runners.values()):
            del done
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(runners[name](*args))
            times[name].append(time.perf_counter() - start)
    return times


def measure_cell(
    kernel: str, problem: Problem, implementations: Sequence[str], repeats: int, seed: int = 0
) -> dict[str, Any]:
    """Time every implementation on one (kernel, cell); return one result row."""
    built = {name: RUNNERS[name](kernel, problem) for name in implementations}
    runners = {name: run for name, run in built.items() if run is not None}
    times = time_interleaved(runners, (jax.random.key(seed), problem.start()), repeats)
    work = problem.chains * problem.num_steps
    results = {}
    for name, ts in times.items():
        median = statistics.median(ts)
        results[name] = {
            "median_s": median,
            "times_s": ts,
            "chain_steps_per_s": work / median,
        }
    row: dict[str, Any] = {
        "kernel": kernel,
        "dim": problem.dim,
        "chains": problem.chains,
        "num_steps": problem.num_steps,
        "step_size": problem.step_size,
        "results": results,
    }
    row.update(ratios(results))
    return row


def ratios(results: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """``jlangevin`` over each floor and over the best peer, in chain-steps per second."""
    speed = {name: r["chain_steps_per_s"] for name, r in results.items()}
    peers = [speed[p] for p in PEER_MODULES if p in speed]
    jl = speed.get("jlangevin")
    return {
        "vs_floor": jl / speed["floor"] if jl and "floor" in speed else None,
        "vs_floor_hash": jl / speed["floor_hash"] if jl and "floor_hash" in speed else None,
        "vs_best_peer": jl / max(peers) if jl and peers else None,
    }


def measure(
    grid: Sequence[tuple[int, int]],
    kernels: Sequence[str] = KERNELS,
    *,
    work: float = 2e7,
    repeats: int = 7,
    peers: bool = True,
    max_steps: int = 5000,
    log_density: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict[str, Any]:
    """Run the throughput grid; return ``{"environment", "notes", "rows"}``.

    ``log_density=False`` leaves out the "jlangevin + log density" column.
    """
    found, notes = available_peers() if peers else ([], {})
    mine = ["jlangevin", "jlangevin_lp"] if log_density else ["jlangevin"]
    implementations = ["floor", "floor_hash", *mine, *found]
    rows = []
    for dim, chains in grid:
        problem = make_problem(dim, chains, steps_for(dim, chains, work, max_steps=max_steps))
        for kernel in kernels:
            row = measure_cell(kernel, problem, implementations, repeats)
            rows.append(row)
            if log is not None:
                log(format_row(row))
    return {"environment": environment(), "notes": list(notes.values()), "rows": rows}


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #
def environment() -> dict[str, Any]:
    """Device, host and library versions, for the record."""
    versions = {"python": platform.python_version(), "jax": jax.__version__}
    for name in ("jaxlib", "jlangevin", "blackjax", "tensorflow_probability", "numpy"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:
            versions[name] = None
    device = jax.devices()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "num_devices": jax.device_count(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: The ratio columns: row key -> what jlangevin is divided by.
RATIOS = {"vs_floor": "floor", "vs_floor_hash": "floor (hash)", "vs_best_peer": "best peer"}


def _rate(value: float) -> str:
    return f"{value:.3g}"


def format_row(row: dict[str, Any]) -> str:
    """One progress line: the rates and ratios of a row."""
    rates = ", ".join(
        f"{name} {_rate(r['chain_steps_per_s'])}" for name, r in row["results"].items()
    )
    ratios = ", ".join(
        f"jl/{name} {row[key]:.2f}" for key, name in RATIOS.items() if row.get(key) is not None
    )
    return (
        f"{row['kernel']:5s} d={row['dim']:<5d} chains={row['chains']:<6d} "
        f"steps={row['num_steps']:<5d} {rates} | {ratios}"
    )


def markdown_table(report: dict[str, Any]) -> str:
    """The rows as a markdown table of chain-steps per second and ratios."""
    present = [
        name for name in IMPLEMENTATIONS if any(name in row["results"] for row in report["rows"])
    ]
    header = ["kernel", "dim", "chains", "steps", *(LABELS[n] for n in present)]
    header += [f"jl / {name}" for name in RATIOS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        cells = [row["kernel"], str(row["dim"]), str(row["chains"]), str(row["num_steps"])]
        for name in present:
            result = row["results"].get(name)
            cells.append(_rate(result["chain_steps_per_s"]) if result else "-")
        cells += [f"{row[key]:.2f}" if row.get(key) is not None else "-" for key in RATIOS]
        lines.append("| " + " | ".join(cells) + " |")
    env = report["environment"]
    lines.append("")
    lines.append(
        f"Chain-steps per second (median of interleaved repeats); device: {env['device']} "
        f"({env['backend']}, {env['cpu_count']} cores: {env['cpu']}); jax {env['versions']['jax']}."
    )
    lines.extend(f"Note: {note}" for note in report["notes"])
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
#: The quick grid of ``jlangevin bench``: same cells, less work per call.
QUICK = {"work": 2e6, "repeats": 3, "max_steps": 1000}


def main(argv: Sequence[str] | None = None) -> int:
    """``jlangevin bench``: print the quick throughput table (under a minute on a laptop CPU).

    Parameters
    ----------
    argv : command-line arguments (default: ``sys.argv[1:]``); ``--help`` lists them.

    Returns
    -------
    int
        The exit status (0).
    """
    parser = argparse.ArgumentParser(
        prog="jlangevin bench",
        description="Chain-steps per second of jlangevin against peers and a hand-fused floor.",
    )
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--work", type=float, default=QUICK["work"], help="chains*dim*steps")
    parser.add_argument("--repeats", type=int, default=QUICK["repeats"])
    parser.add_argument("--no-peers", action="store_true", help="floor and jlangevin only")
    parser.add_argument(
        "--log-density",
        action="store_true",
        help="add the 'jlangevin + log density' column (more to compile)",
    )
    args = parser.parse_args(list(argv) if argv is not None else sys.argv[1:])
    start = time.perf_counter()
    report = measure(
        GRID,
        args.kernels,
        work=args.work,
        repeats=args.repeats,
        peers=not args.no_peers,
        max_steps=QUICK["max_steps"],
        log_density=args.log_density,
        log=None,
    )
    print(markdown_table(report))
    print(f"\n({time.perf_counter() - start:.0f} s; full benchmark: benchmarks/throughput.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
