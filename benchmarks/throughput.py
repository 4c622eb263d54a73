"""Chain-steps per second: jlangevin against BlackJAX, TFP-on-JAX and a hand-fused floor.

For each (dimension, chains) cell of the grid and each kernel (ULA, MALA,
SGLD with the full gradient), every implementation runs the same job (see
``_runners.py``: same target, step, start and step count, every position
kept, initialisation included) in one process, with repeats interleaved, and
the median is quoted. Peers come from the ``bench`` extra
(``pip install -e '.[bench]'``); a missing one is skipped with a note.

Writes ``results/throughput.{json,md,png}`` with the device and library versions.

Usage: ``python benchmarks/throughput.py [--work 2e7] [--repeats 7] [--no-peers]``;
other cells with ``--grid 3x5000 5x2000 --name throughput_small_dims`` (written
to ``results/<name>.*``; ``--grid small`` is the few-dimensions grid, d in
{1, 3, 10} x chains in {10^3, 10^4, 10^5}); ``--quick`` prints the quick table
of ``jlangevin bench`` and writes nothing.

Key schemes, side by side in one process: ``--keys counter legacy`` adds a
jlangevin column per scheme of :data:`SCHEMES` (the library's own keys are
``counter``; ``legacy`` swaps in the per-chain ``fold_in`` keys and the split
draws of earlier releases, ``keyed`` the counter keys with the chain's offset
as Threefry's key (the hash of earlier releases), ``primitive`` the counter keys
with JAX's Threefry on CPU too (without ``jlangevin._xla_cpu``), ``counter_unrolled`` the
counter keys with their hash written out in ``jax.numpy``; by monkeypatching,
never a library flag),
and ``--ablation`` adds the floor with each scheme's per-chain keys
(``floor+<scheme>``): what the keys alone cost the hand-fused loop; and the
library's kernel without the driver (``kernel_alone``): what the kernel's guards
cost on top of the keys, and the driver on top of the kernel.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from _common import device_line, environment, save
from _runners import (
    IMPLEMENTATIONS,
    KERNELS,
    LABELS,
    PEER_MODULES,
    RUNNERS,
    Problem,
    Runner,
    available_peers,
    jl_sampler,
    make_problem,
    steps_for,
)

#: (dimension, chains) cells of the full benchmark.
GRID = ((2, 10_000), (100, 1_000), (1000, 100), (10, 1))
#: Few dimensions, many chains (``--grid small``).
SMALL_GRID = tuple((d, n) for d in (1, 3, 10) for n in (1_000, 10_000, 100_000))
#: Settings of the quick table (``--quick``, ``jlangevin bench``): same cells, less work.
QUICK = {"work": 2e6, "repeats": 3, "max_steps": 1000}
#: The ratio columns: row key -> what jlangevin is divided by.
RATIOS = {"vs_floor": "floor", "vs_best_peer": "best peer"}


# --------------------------------------------------------------------------- #
# Key schemes and the ablation (``--keys``, ``--ablation``)
# --------------------------------------------------------------------------- #
def _legacy_chain_keys(key: jax.Array, chain_ids: jax.Array) -> jax.Array:
    """Earlier releases: ``fold_in(key, c)`` per chain."""
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(chain_ids, jnp.uint32))


@functools.partial(jax.jit, static_argnames=("impl", "mesh"))
def _legacy_make_chain_keys(key: jax.Array, chain_ids: jax.Array, *, impl: str, mesh: Any) -> Any:
    """The driver's chain-key program (``jlangevin.run.loop.make_chain_keys``), legacy keys
    (one device, a typed run key)."""
    return _legacy_chain_keys(key, chain_ids)


def _legacy_step_keys(chain_keys: jax.Array, counts: jax.Array) -> jax.Array:
    """Earlier releases: ``fold_in(chain_key, t)`` per chain and step."""
    return jax.vmap(jax.random.fold_in)(chain_keys, counts)


def _legacy_draw(key: jax.Array, tree: Any, uniform_dtype: Any = None) -> tuple[Any, Any]:
    """Earlier releases: split the key (noise, uniform), one ``normal`` per leaf."""
    from jlangevin.kernels._tree import normal_like

    if uniform_dtype is None:
        return normal_like(key, tree), None
    key_noise, key_accept = jax.random.split(key)
    return normal_like(key_noise, tree), jax.random.uniform(key_accept, (), uniform_dtype)


#: Threefry-2x32's rotations (Salmon et al. 2011), four per round group.
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(key: tuple[Any, Any], x: tuple[Any, Any]) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32-20 written out in ``jax.numpy``: JAX's hash, bit for bit.

    What JAX's primitive lowers to on GPU and TPU; on CPU the primitive is a
    loop over groups of four rounds, which XLA does not fuse with its users.

    Examples
    --------
    >>> from jax.extend.random import threefry_2x32
    >>> k, x = (jnp.uint32(1), jnp.uint32(2)), jnp.arange(6, dtype=jnp.uint32)
    >>> bool((jnp.concatenate(threefry2x32(k, (x[:3], x[3:]))) == threefry_2x32(k, x)).all())
    True
    """
    k0, k1 = (jnp.asarray(k, jnp.uint32) for k in key)
    schedule = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = x[0] + schedule[0], x[1] + schedule[1]
    for group in range(5):
        for r in ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))) ^ x0
        x0 = x0 + schedule[(group + 1) % 3]
        x1 = x1 + schedule[(group + 2) % 3] + jnp.uint32(group + 1)
    return x0, x1


def _unrolled_hash(key: jax.Array, first: Any, second: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The counter keys' hash written out (:func:`threefry2x32`), fused by XLA with its users."""
    first, second = jnp.broadcast_arrays(key[0] + jnp.asarray(first, jnp.uint32), key[1] + second)
    return threefry2x32((0, 0), (first, second))


def _keyed_hash(key: jax.Array, first: Any, second: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The counter keys as they were: ``threefry(K_c, (first, second))``, a key per chain."""
    from jax.extend.random import threefry2x32_p

    first, second = jnp.broadcast_arrays(jnp.asarray(first, jnp.uint32), second)
    return tuple(threefry2x32_p.bind(key[0], key[1], first, second))


def _primitive_hash(key: jax.Array, first: Any, second: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The counter keys with JAX's Threefry on every platform (no ``jlangevin._xla_cpu`` loop)."""
    from jax.extend.random import threefry2x32_p

    first, second = jnp.broadcast_arrays(key[0] + jnp.asarray(first, jnp.uint32), key[1] + second)
    zero = jnp.uint32(0)
    return tuple(threefry2x32_p.bind(zero, zero, first, second))


#: Key schemes: ``{name: {(module, attribute): replacement}}`` (``{}``: the library's own).
SCHEMES: dict[str, dict[tuple[str, str], Callable]] = {
    "counter": {},
    "counter_unrolled": {("jlangevin.keys", "_hash"): _unrolled_hash},
    "keyed": {("jlangevin.keys", "_hash"): _keyed_hash},
    "primitive": {("jlangevin.keys", "_hash"): _primitive_hash},
    "legacy": {
        ("jlangevin.keys", "chain_keys"): _legacy_chain_keys,
        ("jlangevin.run.driver", "make_chain_keys"): _legacy_make_chain_keys,
        ("jlangevin.keys", "step_keys"): _legacy_step_keys,
        ("jlangevin.kernels._move", "draw"): _legacy_draw,
    },
}


@contextlib.contextmanager
def key_scheme(name: str) -> Iterator[None]:
    """Within the block, jlangevin derives its keys and draws as scheme ``name`` does."""
    import importlib

    patches = [
        (importlib.import_module(module), attr, new)
        for (module, attr), new in SCHEMES[name].items()
    ]
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in patches]
    try:
        for module, attr, new in patches:
            setattr(module, attr, new)
        yield
    finally:
        for module, attr, old in saved:
            setattr(module, attr, old)


def scheme_runner(scheme: str) -> Callable[[str, Problem], Runner]:
    """jlangevin's runner (``_runners.jlangevin_runner``) under a key scheme.

    The sampler's step is wrapped in a function of its own, so the driver's
    cache of compiled loops (keyed on the sampler) holds one program per
    scheme; the scheme is in force while that program is traced (first call).
    """

    def build(kernel: str, problem: Problem) -> Runner:
        import jlangevin as jl

        inner = jl_sampler(kernel, problem)
        sampler = jl.Sampler(init=inner.init, step=lambda k, s: inner.step(k, s))

        def run(key: jax.Array, x0: jax.Array) -> jax.Array:
            with key_scheme(scheme):
                return jl.run(key, sampler, x0, problem.num_steps, store="positions").positions

        return run

    return build


def floor_keys_runner(scheme: str) -> Callable[[str, Problem], Runner | None]:
    """The floor of ULA or MALA with jlangevin's per-chain keys of ``scheme`` (the ablation).

    The update is the floor's, on one ``(chains, dim)`` array; only the random
    numbers change: each chain draws from its own step key (``step_keys`` of
    ``chain_keys``) with the scheme's ``draw``, under ``vmap``.
    """

    def build(kernel: str, problem: Problem) -> Runner | None:
        if kernel not in ("ula", "mala"):
            return None
        from jlangevin import keys
        from jlangevin.kernels import _move

        functions = {
            (k.__name__, attr): getattr(k, attr)
            for k, attr in ((keys, "chain_keys"), (keys, "step_keys"), (_move, "draw"))
        }
        functions.update(SCHEMES[scheme])
        chain_keys = functions[("jlangevin.keys", "chain_keys")]
        step_keys = functions[("jlangevin.keys", "step_keys")]
        draw = functions[("jlangevin.kernels._move", "draw")]
        logp_batch = jax.vmap(problem.logdensity())
        h, n = problem.step_size, problem.num_steps
        sqrt_2h = math.sqrt(2.0 * h)
        uniform_dtype = jnp.float32 if kernel == "mala" else None

        def grad(x):
            return jax.grad(lambda x: jnp.sum(logp_batch(x)))(x)

        def run(key, x0):
            chains = chain_keys(key, jnp.arange(x0.shape[0]))

            def body(carry, t):
                x, lx, gx = carry
                counts = jnp.full((x.shape[0],), t, jnp.int32)
                xi, u = jax.vmap(lambda k, row: draw(k, row, uniform_dtype))(
                    step_keys(chains, counts), x
                )
                y = x + h * gx + sqrt_2h * xi
                ly, gy = logp_batch(y), grad(y)
                if kernel == "ula":
                    return (y, ly, gy), y
                log_q_forward = -0.5 * jnp.sum(xi**2, axis=-1)
                log_q_backward = -jnp.sum((x - y - h * gy) ** 2, axis=-1) / (4 * h)
                log_alpha = ly - lx + log_q_backward - log_q_forward
                accept = jnp.log1p(-u) < log_alpha
                x = jnp.where(accept[:, None], y, x)
                lx = jnp.where(accept, ly, lx)
                gx = jnp.where(accept[:, None], gy, gx)
                return (x, lx, gx), x

            init = (x0, logp_batch(x0), grad(x0))
            return jax.lax.scan(body, init, jnp.arange(n))[1]

        compiled = jax.jit(run)

        def call(key: jax.Array, x0: jax.Array) -> jax.Array:
            # The scheme's inner patches (the hash) act where ``random_bits`` is lowered,
            # at the first call's compile: in force for the whole call.
            with key_scheme(scheme):
                return compiled(key, x0)

        return call

    return build


def kernel_alone_runner(kernel: str, problem: Problem) -> Runner:
    """The library's kernel without the driver (the ablation's middle column).

    ``vmap(sampler.step)`` with the library's counter keys in a bare ``lax.scan``,
    positions stacked step-major as the floor stacks them: no fault counts, no
    chain-major buffer, no checks of the start. Between ``floor+counter`` and
    ``jlangevin`` it splits what the kernel's own guards cost (finiteness test and
    select, the state it carries) from what the driver costs.
    """
    from jlangevin import keys

    sampler = jl_sampler(kernel, problem)

    def run(key: jax.Array, x0: jax.Array) -> jax.Array:
        chain_keys = keys.chain_keys(key, jnp.arange(x0.shape[0]))

        def body(carry, _):
            state, count = carry
            state = jax.vmap(sampler.step)(keys.step_keys(chain_keys, count), state)[0]
            return (state, count + 1), state.position

        start = (jax.vmap(sampler.init)(x0), jnp.zeros(x0.shape[0], jnp.int32))
        return jax.lax.scan(body, start, None, length=problem.num_steps)[1]

    return jax.jit(run)


def implementations_for(schemes: Sequence[str], ablation: bool) -> tuple[dict, dict]:
    """Runners and labels of the scheme columns (``jlangevin[<scheme>]``) and the ablation."""
    runners: dict[str, Callable] = {}
    labels: dict[str, str] = {}
    for scheme in schemes:
        if scheme != "counter":
            runners[f"jlangevin[{scheme}]"] = scheme_runner(scheme)
            labels[f"jlangevin[{scheme}]"] = f"jlangevin, {scheme} keys"
        if ablation:
            runners[f"floor+{scheme}"] = floor_keys_runner(scheme)
            labels[f"floor+{scheme}"] = f"floor + {scheme} keys"
    if ablation:
        runners["kernel_alone"] = kernel_alone_runner
        labels["kernel_alone"] = "jlangevin kernel, no driver"
    return runners, labels


# --------------------------------------------------------------------------- #
# Timing
# --------------------------------------------------------------------------- #
def time_interleaved(
    runners: dict[str, Runner], args: Sequence[Any], repeats: int
) -> dict[str, list[float]]:
    """Wall-clock seconds of each runner, repeats interleaved (order rotated each round).

    Every runner is called once first (compilation) and its result awaited,
    one after the other (see the comment in the body); the timed calls run one
    at a time.

    Parameters
    ----------
    runners : dict
        ``{name: run}``.
    args : sequence
        The arguments of every call, ``(key, x0)``.
    repeats : int
        Timed calls per runner.

    Returns
    -------
    dict
        ``{name: [seconds, ...]}``, one entry per timed call.
    """
    # Compiled one after the other, before any timing, so that no timed call compiles.
    for run in runners.values():
        jax.block_until_ready(run(*args))
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            jax.block_until_ready(runners[name](*args))
            times[name].append(time.perf_counter() - start)
    return times


def measure_cell(
    kernel: str,
    problem: Problem,
    implementations: Sequence[str],
    repeats: int,
    seed: int = 0,
    extra: dict[str, Callable] | None = None,
) -> dict[str, Any]:
    """Time every implementation on one (kernel, cell).

    Parameters
    ----------
    kernel : {"ula", "mala", "sgld"}
    problem : Problem
    implementations : sequence of str
        Keys of ``RUNNERS`` or of ``extra``; one whose runner is ``None`` for
        this kernel is left out.
    repeats : int
    seed : int
    extra : dict, optional
        More ``{name: build(kernel, problem)}`` (see :func:`implementations_for`).

    Returns
    -------
    dict
        The cell, ``results`` (``{name: {median_s, times_s, chain_steps_per_s}}``)
        and the ratios of :func:`ratios`.
    """
    builders = {**RUNNERS, **(extra or {})}
    built = {name: builders[name](kernel, problem) for name in implementations}
    runners = {name: run for name, run in built.items() if run is not None}
    times = time_interleaved(runners, (jax.random.key(seed), problem.start()), repeats)
    work = problem.chains * problem.num_steps
    results = {
        name: {
            "median_s": statistics.median(ts),
            "times_s": ts,
            "chain_steps_per_s": work / statistics.median(ts),
        }
        for name, ts in times.items()
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
    """``jlangevin`` over the floor and over the best peer, in chain-steps per second.

    A scheme column ``jlangevin[<scheme>]`` (``--keys``) gets its own pair,
    ``vs_floor[<scheme>]`` and ``vs_best_peer[<scheme>]``.

    Parameters
    ----------
    results : dict
        ``{name: {"chain_steps_per_s": ...}}``.

    Returns
    -------
    dict
        ``{"vs_floor": ..., "vs_best_peer": ...}``, ``None`` where a side is missing.

    Examples
    --------
    >>> ratios({"floor": {"chain_steps_per_s": 2.0}, "jlangevin": {"chain_steps_per_s": 1.0}})
    {'vs_floor': 0.5, 'vs_best_peer': None}
    """
    speed = {name: r["chain_steps_per_s"] for name, r in results.items()}
    peers = [speed[p] for p in PEER_MODULES if p in speed]
    out: dict[str, float | None] = {}
    for name in [n for n in speed if n == "jlangevin" or n.startswith("jlangevin[")]:
        suffix = name[len("jlangevin") :]
        jl = speed[name]
        out["vs_floor" + suffix] = jl / speed["floor"] if "floor" in speed else None
        out["vs_best_peer" + suffix] = jl / max(peers) if peers else None
    return out or {"vs_floor": None, "vs_best_peer": None}


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
    schemes: Sequence[str] = ("counter",),
    ablation: bool = False,
) -> dict[str, Any]:
    """Run the throughput grid.

    Parameters
    ----------
    grid : sequence of (int, int)
        ``(dim, chains)`` cells.
    kernels : sequence of str
    work : float
        ``chains * dim * steps`` per call (see ``steps_for``).
    repeats : int
        Timed calls per implementation and cell.
    peers : bool
        Time BlackJAX and TFP-on-JAX where they import.
    max_steps : int
        Upper bound on the steps per call.
    log_density : bool
        Include the "jlangevin + log density" column.
    log : callable, optional
        Called with a progress line per row (``None``: silent).
    schemes : sequence of str
        Key schemes (:data:`SCHEMES`) timed as columns of their own besides
        the library's (``counter``).
    ablation : bool
        Also time the floor with each scheme's per-chain keys (ULA, MALA) and the
        library's kernel without the driver.

    Returns
    -------
    dict
        ``{"environment", "notes", "rows"}``.
    """
    found, notes = available_peers() if peers else ([], {})
    mine = ["jlangevin", "jlangevin_lp"] if log_density else ["jlangevin"]
    extra, labels = implementations_for(schemes, ablation)
    implementations = ["floor", *mine, *extra, *found]
    rows = []
    for dim, chains in grid:
        problem = make_problem(dim, chains, steps_for(dim, chains, work, max_steps=max_steps))
        for kernel in kernels:
            row = measure_cell(kernel, problem, implementations, repeats, extra=extra)
            row["labels"] = labels
            rows.append(row)
            if log is not None:
                log(format_row(row))
    return {"environment": environment(), "notes": list(notes.values()), "rows": rows}


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #
def _rate(value: float) -> str:
    return f"{value:.3g}"


def format_row(row: dict[str, Any]) -> str:
    """One progress line: the rates and ratios of a row of :func:`measure_cell`."""
    rates = ", ".join(
        f"{name} {_rate(r['chain_steps_per_s'])}" for name, r in row["results"].items()
    )
    ratio_text = ", ".join(
        f"{_ratio_label(key).replace(' / ', '/')} {value:.2f}"
        for key, value in _ratio_items(row)
        if value is not None
    )
    return (
        f"{row['kernel']:5s} d={row['dim']:<5d} chains={row['chains']:<6d} "
        f"steps={row['num_steps']:<5d} {rates} | {ratio_text}"
    )


def _ratio_items(row: dict[str, Any]) -> list[tuple[str, float | None]]:
    """The row's ratio entries (``vs_floor``, ``vs_best_peer``, and per scheme), in order."""
    return [(k, v) for k, v in row.items() if k.startswith(tuple(RATIOS))]


def _ratio_label(key: str) -> str:
    """``"vs_floor[legacy]"`` -> ``"jl[legacy] / floor"``."""
    base = next(b for b in sorted(RATIOS, key=len, reverse=True) if key.startswith(b))
    return f"jl{key[len(base) :]} / {RATIOS[base]}"


def _labels(report: dict[str, Any]) -> dict[str, str]:
    labels = dict(LABELS)
    for row in report["rows"]:
        labels.update(row.get("labels", {}))
    return labels


def _present(report: dict[str, Any]) -> list[str]:
    """The implementations of the report, in table order (the library's, then the extras)."""
    names = [n for row in report["rows"] for n in row["results"]]
    order = [*IMPLEMENTATIONS[:3], *dict.fromkeys(n for n in names if n not in IMPLEMENTATIONS)]
    order += IMPLEMENTATIONS[3:]
    return [n for n in order if n in names]


def markdown_table(report: dict[str, Any]) -> str:
    """The rows of :func:`measure` as a markdown table of chain-steps per second and ratios."""
    present, labels = _present(report), _labels(report)
    ratio_keys = list(dict.fromkeys(k for row in report["rows"] for k, _ in _ratio_items(row)))
    header = ["kernel", "dim", "chains", "steps", *(labels[n] for n in present)]
    header += [_ratio_label(key) for key in ratio_keys]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        cells = [row["kernel"], str(row["dim"]), str(row["chains"]), str(row["num_steps"])]
        for name in present:
            result = row["results"].get(name)
            cells.append(_rate(result["chain_steps_per_s"]) if result else "-")
        cells += [f"{row[key]:.2f}" if row.get(key) is not None else "-" for key in ratio_keys]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Chain-steps per second (median of interleaved repeats); "
        f"{device_line(report['environment'])}."
    )
    lines.extend(f"Note: {note}" for note in report["notes"])
    return "\n".join(lines)


#: H100 SXM (HBM3) memory bandwidth in bytes per second (``--bandwidth``'s default on a GPU).
H100_BANDWIDTH = 3.35e12


def bytes_per_chain_step(kernel: str, dim: int, itemsize: int = 4) -> int:
    """Bytes an ideal fused step moves per chain: its state in and out, and the kept draw.

    ULA and MALA carry the position and the score (read and written: ``4 d``
    numbers) and store the position (``d``); MALA also carries the log
    density (2 numbers); SGLD carries the position alone (``2 d + d``). The
    random numbers are made in registers (counter-based) and move nothing.

    Examples
    --------
    >>> bytes_per_chain_step("mala", 3)
    68
    """
    numbers = {"ula": 5 * dim, "mala": 5 * dim + 2, "sgld": 3 * dim}[kernel]
    return numbers * itemsize


def bandwidth_table(report: dict[str, Any], bandwidth: float) -> str:
    """Each rate of the report as a fraction of ``bandwidth / bytes_per_chain_step``.

    Parameters
    ----------
    report : dict
        From :func:`measure`.
    bandwidth : float
        The device's memory bandwidth in bytes per second.

    Returns
    -------
    str
        A markdown table, one row per row of the report.
    """
    present, labels = _present(report), _labels(report)
    header = ["kernel", "dim", "chains", "bytes / chain-step", "bound (chain-steps/s)"]
    header += [labels[n] for n in present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in report["rows"]:
        moved = bytes_per_chain_step(row["kernel"], row["dim"])
        bound = bandwidth / moved
        cells = [row["kernel"], str(row["dim"]), str(row["chains"]), str(moved), _rate(bound)]
        for name in present:
            result = row["results"].get(name)
            cells.append(f"{result['chain_steps_per_s'] / bound:.3g}" if result else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Fraction of the memory-bandwidth bound at {bandwidth / 1e9:.0f} GB/s "
        "(bytes moved per chain-step: see `bytes_per_chain_step`)."
    )
    return "\n".join(lines)


def plot(report: dict[str, Any]):
    """Speed relative to the hand-fused floor, per kernel and cell (a matplotlib figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = report["rows"]
    names, labels = _present(report), _labels(report)
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(rows)), 4.5))
    x = np.arange(len(rows))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        heights = [
            r["results"][name]["chain_steps_per_s"] / r["results"]["floor"]["chain_steps_per_s"]
            if name in r["results"]
            else np.nan
            for r in rows
        ]
        ax.bar(x + (i - (len(names) - 1) / 2) * width, heights, width, label=labels[name])
    ax.axhline(0.95, color="k", ls=":", lw=1, label="0.95 x floor")
    ax.set_xticks(x, [f"{r['kernel']}\nd={r['dim']}\nn={r['chains']}" for r in rows], fontsize=8)
    ax.set_ylabel("chain-steps/s over the hand-fused floor")
    ax.set_yscale("log")
    env = report["environment"]
    ax.set_title(
        f"Throughput on {env['device']} ({env['backend']}, {env['cpu_count']} cores)", pad=50
    )
    ax.legend(fontsize=8, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def quick_table(
    kernels: Sequence[str] = KERNELS,
    *,
    work: float = QUICK["work"],
    repeats: int = QUICK["repeats"],
    peers: bool = True,
    log_density: bool = False,
) -> str:
    """The quick table of ``jlangevin bench``: the full grid with less work per call.

    Parameters
    ----------
    kernels, work, repeats, peers, log_density
        As for :func:`measure` (steps per call at most ``QUICK["max_steps"]``).

    Returns
    -------
    str
        The markdown table.
    """
    report = measure(
        GRID,
        kernels,
        work=work,
        repeats=repeats,
        peers=peers,
        max_steps=QUICK["max_steps"],
        log_density=log_density,
        log=None,
    )
    return markdown_table(report)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the grid, print the table and save it (``--quick``: print the quick table only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=float, default=None, help="chains*dim*steps per call")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--kernels", nargs="+", choices=KERNELS, default=list(KERNELS))
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--grid",
        nargs="+",
        type=_cell,
        default=[GRID],
        help="cells DIMxCHAINS, e.g. 3x5000; `small`: d in {1, 3, 10} x chains in 1e3..1e5",
    )
    parser.add_argument(
        "--keys",
        nargs="+",
        choices=list(SCHEMES),
        default=["counter"],
        help="key schemes timed side by side (a jlangevin column each)",
    )
    parser.add_argument(
        "--ablation", action="store_true", help="also the floor with each scheme's per-chain keys"
    )
    parser.add_argument(
        "--bandwidth",
        type=float,
        default=None,
        help=f"bytes/s: also each rate over the bandwidth bound (H100: {H100_BANDWIDTH:g})",
    )
    parser.add_argument("--name", default="throughput", help="results/<name>.{json,md,png}")
    parser.add_argument(
        "--quick", action="store_true", help="the quick table of `jlangevin bench`; saves nothing"
    )
    args = parser.parse_args(argv)
    args.grid = [cell for cells in args.grid for cell in cells]
    if args.quick:
        quick = {k: v for k, v in (("work", args.work), ("repeats", args.repeats)) if v}
        print(quick_table(args.kernels, peers=not args.no_peers, **quick))
        return
    work, repeats = args.work or 2e7, args.repeats or 7
    report = measure(
        args.grid,
        args.kernels,
        work=work,
        repeats=repeats,
        peers=not args.no_peers,
        schemes=args.keys,
        ablation=args.ablation,
    )
    report["settings"] = {
        "work": work,
        "repeats": repeats,
        "grid": args.grid,
        "keys": args.keys,
        "ablation": args.ablation,
    }
    table = markdown_table(report)
    if args.bandwidth:
        report["settings"]["bandwidth"] = args.bandwidth
        table += "\n\n" + bandwidth_table(report, args.bandwidth)
    print(table)
    save(args.name, report, table, plot(report))


def _cell(text: str) -> tuple[tuple[int, int], ...]:
    """``"3x5000"`` -> ``((3, 5000),)`` (dimension, chains); ``"small"`` -> :data:`SMALL_GRID`."""
    if text.lower() == "small":
        return SMALL_GRID
    try:
        dim, chains = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a cell is DIMxCHAINS such as 3x5000; got {text!r}"
        ) from None
    if dim < 1 or chains < 1:
        raise argparse.ArgumentTypeError(f"dimension and chains must be >= 1; got {text!r}")
    return ((dim, chains),)


if __name__ == "__main__":
    main()
