"""``check(trace, target)``: every diagnostic that applies to the target, as one Report.

Without a target (a real model has no exact answers), ``check(trace)`` and
``check(trace, model=m)`` run the chain-based checks only: R-hat, bulk and tail
ESS, divergences, stuck chains and per-chain acceptance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jlangevin.diagnostics._checks import as_int, as_number
from jlangevin.diagnostics._draws import as_draw_tree, check_chain_draws, resolve_layout
from jlangevin.diagnostics.exact import ks_test, moment_zscores, w1_noise_scale
from jlangevin.diagnostics.ksd import ksd
from jlangevin.diagnostics.mcmc import ess, rhat
from jlangevin.diagnostics.summary import RunFacts, labelled_draws, run_facts
from jlangevin.run import Trace
from jlangevin.targets import Target

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    ">=": lambda v, t: v >= t,
    "|.|<=": lambda v, t: abs(v) <= t,
    ">": lambda v, t: v > t,
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


def _number_text(value: float) -> str:
    """Counts as integers (``10000``, not ``1e+04``), other values to 4 significant digits."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _skip(name: str, coordinate: str, note: str) -> Row:
    return Row(name, coordinate, math.nan, math.nan, "", "skip", note)


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of :func:`check`: rows of checks, and whether all that ran passed.

    Attributes
    ----------
    target : the target's name; ``""`` when there was none (chain-based checks only).
    rows : one :class:`Row` per check and coordinate.
    layout : ``"chains"`` (Markov chains: R-hat, ESS, ESS-based errors) or
        ``"cloud"`` (a particle cloud checked as independent draws).
    sample : what was checked, in words (``"checked as 4 chains x 1000 draws"``).

    Examples
    --------
    >>> report = Report("quartic", (Row("rhat", "x[0]", 1.002, 1.01, "<=", "pass"),))
    >>> report.passed
    True
    """

    target: str
    rows: tuple[Row, ...]
    layout: str = "chains"
    sample: str = ""

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
            value = "" if row.status == "skip" else _number_text(row.value)
            lines.append((row.name, row.coordinate, value, threshold, row.status.upper(), row.note))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        out = [
            f"jl.check on target {self.target!r}"
            if self.target
            else "jl.check without a target: no exact answers were available, "
            "chain-based checks only"
        ]
        if self.sample:
            out.append(self.sample)
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
    if len(leaves) == 1 and leaves[0].ndim == 2 and target.dim == 1:
        return leaves[0][..., None]  # (chains, draws) of a 1-D target
    if len(leaves) != 1 or leaves[0].ndim != 3 or leaves[0].shape[2] != target.dim:
        raise ValueError(
            f"`trace` positions must be one array (chains, draws, {target.dim}) for target "
            f"{target.name!r} (dim={target.dim}); got leaves of shapes "
            f"{[leaf.shape for leaf in leaves]}."
        )
    return leaves[0]


#: Offsets of the draws taken from successive chains (the golden ratio's fractional part:
#: consecutive chains land far apart along the draws, and every stretch of draws is hit).
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def ksd_subsample(x: np.ndarray, max_samples: int) -> np.ndarray:
    """At most ``max_samples`` draws ``(n, dim)`` spread over the chains *and* along them.

    With at least as many samples as chains, every chain gives ``max_samples //
    chains`` evenly spaced draws; with fewer, the samples come from chains evenly
    spaced among all of them. Either way chain ``j``'s draws start at offset
    ``frac(j · 0.618...)`` of its spacing, so the sample covers the whole length
    of the kept draws, not the same draw of every chain (thousands of short
    chains thinned along each chain would all give their first draw, the one
    nearest their start).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(2000 * 50, dtype=float).reshape(2000, 50, 1) % 50  # value = draw index
    >>> sub = ksd_subsample(x, 2000)
    >>> sub.shape, len(np.unique(sub)) == 50
    ((2000, 1), True)
    """
    chains, draws = x.shape[:2]
    if chains * draws <= max_samples:
        return x.reshape(chains * draws, *x.shape[2:])
    used = min(chains, max_samples)
    per_chain = min(draws, max_samples // used)
    chain_ids = (np.arange(used) * chains) // used
    offsets = np.modf(np.arange(used) * _GOLDEN)[0]  # in [0, 1), one per chain used
    slots = (np.arange(per_chain)[None, :] + offsets[:, None]) * (draws / per_chain)
    draw_ids = np.minimum(slots.astype(int), draws - 1)
    return x[chain_ids[:, None], draw_ids].reshape(used * per_chain, *x.shape[2:])


class _Options(NamedTuple):
    rhat_max: float
    ess_min: float
    z_max: float
    ks_alpha: float
    w1_factor: float
    ksd_factor: float
    max_diverged: int
    reference_size: int
    ksd_max_samples: int
    seed: int
    max_stuck: int
    acceptance_min: float


def _options(**given: Any) -> _Options:
    """Every threshold checked (numpy and JAX scalars are numbers); ``inf`` turns a check off."""
    return _Options(
        rhat_max=as_number(given["rhat_max"], "rhat_max", 1.0, allow_inf=True),
        ess_min=as_number(given["ess_min"], "ess_min", 0.0),
        z_max=as_number(given["z_max"], "z_max", 0.0, low_open=True, allow_inf=True),
        ks_alpha=as_number(given["ks_alpha"], "ks_alpha", 0.0, 1.0, high_open=True),
        w1_factor=as_number(given["w1_factor"], "w1_factor", 0.0, low_open=True, allow_inf=True),
        ksd_factor=as_number(given["ksd_factor"], "ksd_factor", 0.0, low_open=True, allow_inf=True),
        max_diverged=as_int(given["max_diverged"], "max_diverged", minimum=0),
        reference_size=as_int(given["reference_size"], "reference_size", minimum=2),
        ksd_max_samples=as_int(given["ksd_max_samples"], "ksd_max_samples", minimum=2),
        seed=as_int(given["seed"], "seed", minimum=0),
        max_stuck=as_int(given["max_stuck"], "max_stuck", minimum=0),
        acceptance_min=as_number(
            given["acceptance_min"], "acceptance_min", 0.0, 1.0, high_open=True
        ),
    )


def check(
    trace: Trace | Any,
    target: Target | None = None,
    *,
    model: Any | None = None,
    layout: str = "auto",
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
    max_stuck: int = 0,
    acceptance_min: float = 0.0,
) -> Report:
    """Run every diagnostic that applies to ``target`` on the draws of ``trace``.

    Parameters
    ----------
    trace : a Trace (positions ``(chains, draws, dim)``), such a draws array
        (``(chains, draws)`` for a 1-D target), or ArviZ data with one posterior
        variable. Finite draws only: a NaN or inf is refused, with the count.
    target : a :class:`~jlangevin.targets.Target`; what it knows decides what runs.
        Without one (``jl.check(trace)``, a real model has no exact answers) only the
        chain-based checks run: divergences, stuck chains, acceptance, R-hat, bulk and
        tail ESS, per coordinate of any pytree; the report says so, and ``passed``
        rests on those checks.
    model : the :class:`~jlangevin.models.Model` the trace sampled (no ``target``
        then): the checks run on ``model.constrain(positions)``, the constrained and
        deterministic variables, under the model's names (rows ``tau``, ``theta[0]``).
    layout : how the draws are judged.

        - ``"chains"``: Markov chains. R-hat, bulk and tail ESS, and errors from
          the ESS; at least 4 draws per chain.
        - ``"cloud"``: a particle cloud. The last draw of each chain (one per
          particle) is checked as independent draws: KS, moment z-scores with
          i.i.d. standard errors, W1 and KSD against ``n`` draws; R-hat and ESS
          do not apply (listed as skipped), ``n`` must reach ``ess_min``.
        - ``"auto"`` (default): a cloud when there is one draw per chain, else chains.
    rhat_max : rank-normalized split R-hat per coordinate must be at most this
        (skipped with one chain).
    ess_min : bulk and tail ESS per coordinate (a cloud: its number of
        particles) must be at least this.
    z_max : ``|mean - truth| / MCSE`` and the same for the variance (about the true
        mean) must be at most this (where the target knows ``mean`` / ``var``).
        ``4`` means a correct sampler fails with probability ``6e-5`` per z-score.
    ks_alpha : the KS test (draws thinned to ``ceil(2 n / ESS)``) against each
        coordinate's exact marginal CDF must have a p-value of at least this
        (in ``[0, 1)``).
    w1_factor : the 1-Wasserstein distance per coordinate to ``reference_size``
        exact draws (``target.sample``) must be at most ``w1_factor`` times the
        bound on its expected value for ``ESS`` independent draws,
        ``∫ sqrt(F (1 - F)) dx · sqrt(1 / ESS + 1 / reference_size)``.
    ksd_factor : the kernel Stein discrepancy (IMQ, on at most
        ``ksd_max_samples`` draws spread over the chains and along the kept draws,
        see :func:`ksd_subsample`) must satisfy
        ``KSD² <= ksd_factor · mean k_p(x, x) / n_eff``, ``n_eff`` the smaller of
        the draws used and the smallest bulk ESS; for exact i.i.d. draws
        ``E KSD² = mean k_p(x, x) / n``. Skipped for targets with a bounded
        support, where the Stein identity need not hold.
    max_diverged : at most this many diverged steps in the whole run (Trace only).
    reference_size : exact draws for the W1 reference.
    ksd_max_samples : cap on the draws the ``O(n²)`` KSD uses.
    seed : seed of the exact reference draws.
    max_stuck : at most this many chains that never moved (``trace.moves == 0``;
        a Trace that recorded its moves).
    acceptance_min : every chain's acceptance (a Trace whose ``info`` has
        ``acceptance_rate`` or ``is_accepted``) must exceed this, in ``[0, 1)``; the
        default 0 fails a chain that accepted nothing. It is the mean acceptance over
        the kept draws, or, for a thinned trace (whose info holds one step in
        ``thin``), the share of the run's steps that moved the chain
        (``trace.moves``, burn-in included); the row's note says which.

    Returns
    -------
    Report
        ``report.passed``; ``print(report)`` shows what was checked and the table;
        ``report.rows``; ``report.layout``.

    Raises
    ------
    TypeError
        ``trace`` is not draws, ``target`` not a Target, ``model`` not a Model, or a
        threshold not a number.
    ValueError
        No chains or draws, non-finite draws, draws too short for chain diagnostics
        (``layout="chains"`` with fewer than 4 draws per chain), a cloud of one
        particle, the wrong dimension, a threshold out of range, or both ``target``
        and ``model``.

    Notes
    -----
    ``rhat_max``, ``z_max``, ``w1_factor`` and ``ksd_factor`` may be ``inf`` (the
    check always passes); every threshold is a number (numpy and JAX scalars too).

    Examples
    --------
    >>> import jax
    >>> import jlangevin as jl
    >>> target = jl.targets.gaussian([0.0])
    >>> draws = target.sample(jax.random.key(1), 4000).reshape(4, 1000, 1)
    >>> jl.check(draws, target).passed
    True
    >>> cloud = jl.check(draws.reshape(4000, 1, 1), target)  # 4000 particles, one draw each
    >>> cloud.layout, cloud.passed
    ('cloud', True)
    >>> chain_only = jl.check(draws)  # no target: R-hat and ESS only
    >>> chain_only.target, chain_only.passed, sorted({row.name for row in chain_only.rows})
    ('', True, ['ess_bulk', 'ess_tail', 'rhat'])
    """
    trace = trace.without_initial() if isinstance(trace, Trace) else trace
    if target is not None and not isinstance(target, Target):
        raise TypeError(f"`target` must be a jl.targets.Target; got {type(target).__name__}.")
    if target is not None and model is not None:
        raise ValueError(
            "`model` applies without a `target` only: a target's exact answers are about the "
            "sampled positions themselves; pass one of them."
        )
    opts = _options(
        rhat_max=rhat_max,
        ess_min=ess_min,
        z_max=z_max,
        ks_alpha=ks_alpha,
        w1_factor=w1_factor,
        ksd_factor=ksd_factor,
        max_diverged=max_diverged,
        reference_size=reference_size,
        ksd_max_samples=ksd_max_samples,
        seed=seed,
        max_stuck=max_stuck,
        acceptance_min=acceptance_min,
    )
    if target is None:
        return _check_chains_only(trace, model, layout, opts)
    x = _draws_for(trace, target)
    layout = resolve_layout(layout, x, "trace")
    coords = [f"x[{i}]" for i in range(target.dim)]
    rows: list[Row] = []

    rows += _run_rows(run_facts(trace), opts)
    chains, draws = x.shape[:2]
    if layout == "cloud":
        x = x[:, -1:]  # one particle per chain: the last kept draw
        sample = (
            f"checked as {chains} independent draws (particle cloud); chain diagnostics "
            "not applicable"
            + (f"; the last of the {draws} kept draws of each chain" if draws > 1 else "")
        )
        skip_note = "particle cloud: chain diagnostics not applicable"
        rows += [_skip(n, "all", skip_note) for n in ("rhat", "ess_bulk", "ess_tail")]
        note = "independent draws: ESS = n"
        rows.append(_row("n_independent", "all", chains, opts.ess_min, ">=", note))
        n_eff = np.full(target.dim, float(chains))
    else:
        check_chain_draws(x, "jl.check (R-hat, ESS, MCSE)", "trace")
        sample = f"checked as {chains} chains x {draws} draws"
        rows += _rhat_rows(x, coords, opts.rhat_max)
        n_eff = np.asarray(ess(x, method="bulk"), dtype=float)
        ess_tail = ess(x, method="tail")
        for name, values in (("ess_bulk", n_eff), ("ess_tail", ess_tail)):
            rows += [
                _row(name, c, v, opts.ess_min, ">=") for c, v in zip(coords, values, strict=True)
            ]

    rows += _moment_rows(x, target, coords, opts.z_max, layout)
    rows += _ks_rows(x, target, coords, opts.ks_alpha, layout)
    rows += _w1_rows(x, target, coords, n_eff, opts.w1_factor, opts.reference_size, opts.seed)
    rows += _ksd_rows(x, target, n_eff, opts.ksd_factor, opts.ksd_max_samples, layout)
    return Report(target.name, tuple(rows), layout, sample)


def _rhat_rows(x: np.ndarray, coords: list[str], rhat_max: float) -> list[Row]:
    if x.shape[0] < 2:
        return [_skip("rhat", c, "one chain: R-hat compares chains") for c in coords]
    return [_row("rhat", c, v, rhat_max, "<=") for c, v in zip(coords, rhat(x), strict=True)]


def _moment_rows(
    x: np.ndarray, target: Target, coords: list[str], z_max: float, layout: str
) -> list[Row]:
    if target.mean is None:
        return [_skip(n, c, "no exact mean") for n in ("mean_z", "var_z") for c in coords]
    z = moment_zscores(x, target.mean, target.var, layout=layout)
    note = "i.i.d. standard error" if layout == "cloud" else ""
    rows = [_row("mean_z", c, v, z_max, "|.|<=", note) for c, v in zip(coords, z.mean, strict=True)]
    if z.var is None:
        return rows + [_skip("var_z", c, "no exact variance") for c in coords]
    return rows + [
        _row("var_z", c, v, z_max, "|.|<=", note) for c, v in zip(coords, z.var, strict=True)
    ]


def _ks_rows(
    x: np.ndarray, target: Target, coords: list[str], alpha: float, layout: str
) -> list[Row]:
    cdfs = target.marginal_cdfs or (None,) * target.dim
    rows = []
    for i, (c, cdf) in enumerate(zip(coords, cdfs, strict=True)):
        if cdf is None:
            rows.append(_skip("ks_pvalue", c, "no exact marginal CDF"))
            continue
        result = ks_test(x[..., i], cdf, layout=layout)
        if layout == "cloud":
            note = f"{result.n_effective} independent draws"
        else:
            note = f"{result.n_effective} draws, thinned by {result.thin}"
        rows.append(_row("ks_pvalue", c, result.pvalue, alpha, ">=", note))
    return rows


def _w1_rows(
    x: np.ndarray,
    target: Target,
    coords: list[str],
    n_eff: np.ndarray,
    factor: float,
    reference_size: int,
    seed: int,
) -> list[Row]:
    if target.sample is None:
        return [_skip("w1", c, "no exact sampler for a reference") for c in coords]
    from scipy import stats

    reference = np.asarray(target.sample(jax.random.key(seed), reference_size), dtype=float)
    flat = x.reshape(-1, target.dim)
    rows = []
    for i, c in enumerate(coords):
        n = min(float(n_eff[i]), flat.shape[0]) if np.isfinite(n_eff[i]) else 1.0
        bound = w1_noise_scale(reference[:, i], max(n, 1.0), reference_size)
        value = stats.wasserstein_distance(flat[:, i], reference[:, i])
        rows.append(_row("w1", c, value, factor * bound, "<=", f"vs {reference_size} exact draws"))
    return rows


def _ksd_rows(
    x: np.ndarray,
    target: Target,
    n_eff: np.ndarray,
    factor: float,
    max_samples: int,
    layout: str,
) -> list[Row]:
    if target.support is not None:
        return [_skip("ksd", "all", "bounded support: Stein identity needs p = 0 at the edge")]
    # a cloud (n, 1, dim) is subsampled across its particles, chains across and along them
    kept = ksd_subsample(np.swapaxes(x, 0, 1) if layout == "cloud" else x, max_samples)
    result = ksd(kept[None], target)
    finite = n_eff[np.isfinite(n_eff)]
    n = min(result.n, float(finite.min())) if finite.size else 1.0
    threshold = math.sqrt(factor * result.diagonal / max(n, 1.0))
    return [_row("ksd", "all", result.ksd, threshold, "<=", f"IMQ, {result.n} draws")]


def _run_rows(facts: RunFacts | None, opts: _Options) -> list[Row]:
    """Divergences, stuck chains and per-chain acceptance of a Trace (nothing for draws)."""
    if facts is None:
        return []
    n = facts.num_chains
    total = int(np.sum(facts.diverged, dtype=np.int64))
    note = f"{int(np.sum(facts.diverged > 0))} of {n} chains"
    rows = [_row("diverged", "all", total, opts.max_diverged, "<=", note)]
    if facts.stuck is None:
        rows.append(_skip("stuck", "all", "not recorded (trace.moves is None)"))
    else:
        shown = ", ".join(map(str, facts.stuck[:10])) + (", ..." if facts.stuck.size > 10 else "")
        note = f"{facts.stuck.size} of {n} chains never moved" + (f": {shown}" if shown else "")
        rows.append(_row("stuck", "all", facts.stuck.size, opts.max_stuck, "<=", note))
    if facts.acceptance is not None:
        low, mid, high = np.quantile(facts.acceptance, [0.0, 0.5, 1.0])
        note = f"lowest chain; median {mid:.3g}, max {high:.3g}; {facts.acceptance_what}"
        rows.append(_row("acceptance", "all", low, opts.acceptance_min, ">", note))
    return rows


def _check_chains_only(trace: Any, model: Any, layout: str, opts: _Options) -> Report:
    """The report without exact answers: run facts, R-hat and ESS per named coordinate."""
    labels, x = labelled_draws(trace, model, "trace")
    layout = resolve_layout(layout, {"x": x}, "trace")
    rows = _run_rows(run_facts(trace), opts)
    chains, draws = x.shape[:2]
    if layout == "cloud":
        sample = f"{chains} independent draws (particle cloud): chain diagnostics not applicable"
        skip_note = "particle cloud: chain diagnostics not applicable"
        rows += [_skip(n, "all", skip_note) for n in ("rhat", "ess_bulk", "ess_tail")]
    else:
        check_chain_draws(x, "jl.check (R-hat, ESS)", "trace")
        sample = f"checked as {chains} chains x {draws} draws"
        rows += _rhat_rows(x, labels, opts.rhat_max)
        for name in ("ess_bulk", "ess_tail"):
            values = ess(x, method=name[4:])
            rows += [
                _row(name, c, v, opts.ess_min, ">=") for c, v in zip(labels, values, strict=True)
            ]
    return Report("", tuple(rows), layout, sample)
