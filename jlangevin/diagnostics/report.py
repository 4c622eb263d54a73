"""``check(trace, target)``: every diagnostic that applies to the target, as one Report."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jlangevin.diagnostics._draws import as_draw_tree
from jlangevin.diagnostics.exact import ks_test, moment_zscores, w1_noise_scale
from jlangevin.diagnostics.ksd import ksd
from jlangevin.diagnostics.mcmc import ess, rhat
from jlangevin.run import Trace
from jlangevin.targets import Target

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    ">=": lambda v, t: v >= t,
    "|.|<=": lambda v, t: abs(v) <= t,
}


class Row(NamedTuple):
    """One line of a :class:`Report`.

    Attributes
    ----------
    name : the check (``"rhat"``, ``"ess_bulk"``, ``"mean_z"``, ``"ks_pvalue"``, ...).
    coordinate : which coordinate (``"x[0]"``), or ``"all"``.
    value : what was measured (``nan`` for a skip).
    threshold : the bound it is compared with (``nan`` for a skip).
    op : how: ``"<="``, ``">="`` or ``"|.|<="`` (absolute value at most).
    status : ``"pass"``, ``"fail"`` or ``"skip"``.
    note : why a check was skipped, or what the value means.
    """

    name: str
    coordinate: str
    value: float
    threshold: float
    op: str
    status: str
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """``True``/``False``, or ``None`` for a skipped check."""
        return None if self.status == "skip" else self.status == "pass"


def _row(
    name: str, coordinate: str, value: float, threshold: float, op: str, note: str = ""
) -> Row:
    value = float(value)
    ok = bool(np.isfinite(value)) and _OPS[op](value, threshold)
    return Row(name, coordinate, value, float(threshold), op, "pass" if ok else "fail", note)


def _skip(name: str, coordinate: str, note: str) -> Row:
    return Row(name, coordinate, math.nan, math.nan, "", "skip", note)


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of :func:`check`: rows of checks, and whether all that ran passed.

    Examples
    --------
    >>> report = Report("quartic", (Row("rhat", "x[0]", 1.002, 1.01, "<=", "pass"),))
    >>> report.passed
    True
    """

    target: str
    rows: tuple[Row, ...]

    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check that ran passed."""
        ran = [row for row in self.rows if row.status != "skip"]
        return bool(ran) and all(row.status == "pass" for row in ran)

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.status == "fail")

    @property
    def skipped(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.status == "skip")

    def __getitem__(self, name: str) -> tuple[Row, ...]:
        """All rows of one check, e.g. ``report["rhat"]``."""
        return tuple(row for row in self.rows if row.name == name)

    def __str__(self) -> str:
        header = ("check", "coord", "value", "threshold", "result", "note")
        lines = [header]
        for row in self.rows:
            threshold = (
                ""
                if row.status == "skip"
                else f"{row.op.replace('|.|<=', '|x| <=')} {row.threshold:.4g}"
            )
            value = "" if row.status == "skip" else f"{row.value:.4g}"
            lines.append((row.name, row.coordinate, value, threshold, row.status.upper(), row.note))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        out = [f"jl.check on target {self.target!r}"]
        for i, line in enumerate(lines):
            cells = [cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)]
            out.append("  ".join([*cells, line[-1]]).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths))
        verdict = "PASSED" if self.passed else "FAILED"
        counts = {s: sum(r.status == s for r in self.rows) for s in ("pass", "fail", "skip")}
        out.append(
            f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        )
        return "\n".join(out)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython
        printer.text(str(self))


def _draws_for(trace: Any, target: Target) -> np.ndarray:
    tree = as_draw_tree(trace, "trace")
    leaves = jax.tree.leaves(tree)
    if len(leaves) != 1 or leaves[0].ndim != 3 or leaves[0].shape[2] != target.dim:
        raise ValueError(
            f"`trace` positions must be one array (chains, draws, {target.dim}) for target "
            f"{target.name!r} (dim={target.dim}); got leaves of shapes "
            f"{[leaf.shape for leaf in leaves]}."
        )
    return leaves[0]


def _guarded(name: str, coords: list[str], fn: Callable[[], list[Row]]) -> list[Row]:
    """Run one family of checks; a ValueError (too few chains/draws...) becomes skipped rows."""
    try:
        return fn()
    except ValueError as err:
        return [_skip(name, c, str(err).split(". ")[0]) for c in coords]


def _thinned(x: np.ndarray, max_samples: int) -> np.ndarray:
    """At most ``max_samples`` draws, evenly spaced along each chain (chains kept)."""
    chains, draws = x.shape[:2]
    step = max(1, math.ceil(chains * draws / max_samples))
    kept = x[:, ::step]
    return (
        kept
        if kept.shape[0] * kept.shape[1] <= max_samples
        else kept[: max_samples // kept.shape[1] or 1]
    )


def check(
    trace: Trace | Any,
    target: Target,
    *,
    rhat_max: float = 1.01,
    ess_min: float = 400.0,
    z_max: float = 4.0,
    ks_alpha: float = 1e-3,
    w1_factor: float = 4.0,
    ksd_factor: float = 10.0,
    max_diverged: int = 0,
    reference_size: int = 20_000,
    ksd_max_samples: int = 2_000,
    seed: int = 0,
) -> Report:
    """Run every diagnostic that applies to ``target`` on the draws of ``trace``.

    Parameters
    ----------
    trace : a Trace (positions ``(chains, draws, dim)``) or such a draws array.
    target : a :class:`~jlangevin.targets.Target`; what it knows decides what runs.
    rhat_max : rank-normalized split R-hat per coordinate must be at most this
        (skipped with one chain).
    ess_min : bulk and tail ESS per coordinate must be at least this.
    z_max : ``|mean - truth| / MCSE`` and the same for the variance (about the true
        mean) must be at most this (where the target knows ``mean`` / ``var``).
        ``4`` means a correct sampler fails with probability ``6e-5`` per z-score.
    ks_alpha : the KS test (draws thinned to ``ceil(2 n / ESS)``) against each
        coordinate's exact marginal CDF must have a p-value of at least this.
    w1_factor : the 1-Wasserstein distance per coordinate to ``reference_size``
        exact draws (``target.sample``) must be at most ``w1_factor`` times the
        bound on its expected value for ``ESS`` independent draws,
        ``∫ sqrt(F (1 - F)) dx · sqrt(1 / ESS + 1 / reference_size)``.
    ksd_factor : the kernel Stein discrepancy (IMQ, on at most
        ``ksd_max_samples`` evenly thinned draws) must satisfy
        ``KSD² <= ksd_factor · mean k_p(x, x) / n_eff``, ``n_eff`` the smaller of
        the draws used and the smallest bulk ESS; for exact i.i.d. draws
        ``E KSD² = mean k_p(x, x) / n``. Skipped for targets with a bounded
        support, where the Stein identity need not hold.
    max_diverged : at most this many diverged steps in the whole run (Trace only).
    reference_size : exact draws for the W1 reference.
    ksd_max_samples : cap on the draws the ``O(n²)`` KSD uses.
    seed : seed of the exact reference draws.

    Returns
    -------
    Report
        ``report.passed``; ``print(report)`` shows the table; ``report.rows``.

    Examples
    --------
    >>> import jax
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian([0.0])
    >>> draws = target.sample(jax.random.key(1), 4000).reshape(4, 1000, 1)
    >>> jl.check(draws, target).passed
    True
    """
    if not isinstance(target, Target):
        raise TypeError(f"`target` must be a jl.targets.Target; got {type(target).__name__}.")
    x = _draws_for(trace, target)
    coords = [f"x[{i}]" for i in range(target.dim)]
    rows: list[Row] = []

    if isinstance(trace, Trace):
        total = int(np.sum(np.asarray(trace.diverged)))
        note = f"{trace.num_diverged_chains} of {trace.num_chains} chains"
        rows.append(_row("diverged", "all", total, max_diverged, "<=", note))

    def rhat_rows() -> list[Row]:
        if x.shape[0] < 2:
            return [_skip("rhat", c, "one chain: R-hat compares chains") for c in coords]
        return [_row("rhat", c, v, rhat_max, "<=") for c, v in zip(coords, rhat(x), strict=True)]

    rows += _guarded("rhat", coords, rhat_rows)
    ess_bulk = np.full(target.dim, np.nan)
    try:
        ess_bulk = ess(x, method="bulk")
        ess_tail = ess(x, method="tail")
        rows += [
            _row("ess_bulk", c, v, ess_min, ">=") for c, v in zip(coords, ess_bulk, strict=True)
        ]
        rows += [
            _row("ess_tail", c, v, ess_min, ">=") for c, v in zip(coords, ess_tail, strict=True)
        ]
    except ValueError as err:
        rows += [_skip(n, c, str(err)) for n in ("ess_bulk", "ess_tail") for c in coords]

    rows += _guarded("mean_z", coords, lambda: _moment_rows(x, target, coords, z_max))
    rows += _guarded("ks_pvalue", coords, lambda: _ks_rows(x, target, coords, ks_alpha))
    rows += _guarded(
        "w1",
        coords,
        lambda: _w1_rows(x, target, coords, ess_bulk, w1_factor, reference_size, seed),
    )
    rows += _guarded(
        "ksd", ["all"], lambda: _ksd_rows(x, target, ess_bulk, ksd_factor, ksd_max_samples)
    )
    return Report(target.name, tuple(rows))


def _moment_rows(x: np.ndarray, target: Target, coords: list[str], z_max: float) -> list[Row]:
    if target.mean is None:
        return [_skip(n, c, "no exact mean") for n in ("mean_z", "var_z") for c in coords]
    z = moment_zscores(x, target.mean, target.var)
    rows = [_row("mean_z", c, v, z_max, "|.|<=") for c, v in zip(coords, z.mean, strict=True)]
    if z.var is None:
        return rows + [_skip("var_z", c, "no exact variance") for c in coords]
    return rows + [_row("var_z", c, v, z_max, "|.|<=") for c, v in zip(coords, z.var, strict=True)]


def _ks_rows(x: np.ndarray, target: Target, coords: list[str], alpha: float) -> list[Row]:
    cdfs = target.marginal_cdfs or (None,) * target.dim
    rows = []
    for i, (c, cdf) in enumerate(zip(coords, cdfs, strict=True)):
        if cdf is None:
            rows.append(_skip("ks_pvalue", c, "no exact marginal CDF"))
            continue
        result = ks_test(x[..., i], cdf)
        note = f"{result.n_effective} draws, thinned by {result.thin}"
        rows.append(_row("ks_pvalue", c, result.pvalue, alpha, ">=", note))
    return rows


def _w1_rows(
    x: np.ndarray,
    target: Target,
    coords: list[str],
    ess_bulk: np.ndarray,
    factor: float,
    reference_size: int,
    seed: int,
) -> list[Row]:
    if target.sample is None:
        return [_skip("w1", c, "no exact sampler for a reference") for c in coords]
    reference = np.asarray(target.sample(jax.random.key(seed), reference_size), dtype=float)
    rows = []
    flat = x.reshape(-1, target.dim)
    from scipy import stats

    for i, c in enumerate(coords):
        n_eff = min(float(ess_bulk[i]), flat.shape[0]) if np.isfinite(ess_bulk[i]) else 1.0
        bound = w1_noise_scale(reference[:, i], max(n_eff, 1.0), reference_size)
        value = stats.wasserstein_distance(flat[:, i], reference[:, i])
        rows.append(_row("w1", c, value, factor * bound, "<=", f"vs {reference_size} exact draws"))
    return rows


def _ksd_rows(
    x: np.ndarray, target: Target, ess_bulk: np.ndarray, factor: float, max_samples: int
) -> list[Row]:
    if target.support is not None:
        return [_skip("ksd", "all", "bounded support: Stein identity needs p = 0 at the edge")]
    kept = _thinned(x, max_samples)
    result = ksd(kept, target)
    finite = ess_bulk[np.isfinite(ess_bulk)]
    n_eff = min(result.n, float(finite.min())) if finite.size else 1.0
    threshold = math.sqrt(factor * result.diagonal / max(n_eff, 1.0))
    return [_row("ksd", "all", result.ksd, threshold, "<=", f"IMQ, {result.n} draws")]
