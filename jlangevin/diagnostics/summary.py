"""``summary(trace)``: a NumPyro ``print_summary``-style table, with nested R-hat and run facts.

Per variable and coordinate: mean, sd, quantiles, the MCSE of the mean, bulk and
tail ESS, rank-normalized split R-hat (ArviZ's estimators) and nested R-hat for
many short chains (:func:`~jlangevin.diagnostics.mcmc.nested_rhat`). Under the
table: divergences, stuck chains and per-chain acceptance, where the trace has them.
With a :class:`~jlangevin.models.Model` the rows are the model's constrained
variables under its own names.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from jlangevin.diagnostics._checks import as_number
from jlangevin.diagnostics._draws import (
    as_coordinates,
    as_draw_tree,
    check_chain_draws,
    positions_of,
    resolve_layout,
)
from jlangevin.diagnostics.arviz_io import _info_fields, _variable_names
from jlangevin.diagnostics.mcmc import (
    _nested_rhat,
    constant_coordinates,
    default_superchains,
    ess,
    mcse,
    rhat,
    superchain_ids,
)
from jlangevin.run import Trace

__all__ = ["RunFacts", "Summary", "labelled_draws", "run_facts", "summary"]

CHAIN_COLUMNS = ("mcse_mean", "ess_bulk", "ess_tail", "r_hat", "nested_r_hat")


def _coordinate_labels(name: str, event_shape: tuple[int, ...]) -> list[str]:
    """``"tau"`` for a scalar, ``"theta[0]"``, ``"w[0, 1]"`` (ArviZ's labels) otherwise."""
    if not event_shape:
        return [name]
    return [f"{name}[{', '.join(map(str, idx))}]" for idx in np.ndindex(*event_shape)]


def labelled_draws(trace: Any, model: Any = None, name: str = "trace") -> tuple[list[str], Any]:
    """``(labels, coordinates)``: one label per coordinate and the draws ``(chains, draws, k)``.

    With ``model`` the draws are ``model.constrain(positions)`` under the model's
    names (constrained and deterministic variables); without, one variable per
    pytree leaf, named as :func:`~jlangevin.diagnostics.to_arviz` names them.
    """
    if model is not None:
        tree = _constrained(trace, model, name)
        variables = [(n, tree[n]) for n in model.names]
    else:
        tree = as_draw_tree(trace, name)
        leaves = jax.tree.leaves(tree)
        variables = list(zip(_variable_names(tree, None), leaves, strict=True))
    labels: list[str] = []
    for var, leaf in variables:
        labels += _coordinate_labels(var, leaf.shape[2:])
    coords = np.concatenate([as_coordinates(leaf) for _, leaf in variables], axis=2)
    return labels, coords


def _constrained(trace: Any, model: Any, name: str) -> dict[str, np.ndarray]:
    from jlangevin.models import Model

    if not isinstance(model, Model):
        raise TypeError(
            "`model` must be a jlangevin Model (jl.from_numpyro(...) or jl.Model(...)); "
            f"got {type(model).__name__}."
        )
    positions = positions_of(trace, name)
    head = model.leading_shape(positions, name)
    if len(head) != 2:
        raise ValueError(
            f"`{name}` draws must have the leading axes (chains, draws); got leading axes "
            f"{head}. For one chain use x[None]."
        )
    constrained = jax.device_get(model.constrain(positions))
    return as_draw_tree({n: constrained[n] for n in model.names}, name)


@dataclasses.dataclass(frozen=True)
class RunFacts:
    """What a :class:`~jlangevin.run.Trace` knows beyond its draws (``None``: not recorded).

    Attributes
    ----------
    num_chains : chains in the run.
    diverged : per chain, diverged steps (burn-in included).
    stuck : indices of the chains that never moved (``moves == 0``), or ``None``.
    acceptance : per chain, the acceptance of the run, or ``None`` when the
        kernel reports none (``info`` without ``acceptance_rate`` or
        ``is_accepted``). Where the info holds every step after burn-in, the mean
        acceptance over the kept draws; where it holds one step in ``thin``
        (a thinned trace), the share of this run's steps that moved the chain
        (``trace.moves / steps``, burn-in included) when the trace recorded its
        moves, else the mean over the kept steps alone. ``acceptance_what`` says which.
    acceptance_what : what ``acceptance`` measures, in words (``""`` without it).
    """

    num_chains: int
    diverged: np.ndarray | None = None
    stuck: np.ndarray | None = None
    acceptance: np.ndarray | None = None
    acceptance_what: str = ""


def _is_thinned(steps: np.ndarray | None) -> bool:
    """Whether the kept draws skip steps after burn-in (their info misses those steps)."""
    if steps is None or len(steps) == 0:
        return False
    if len(steps) == 1:
        return int(steps[0]) > 1  # one kept draw after many steps: one step's info
    return bool(np.any(np.diff(np.asarray(steps)) > 1))


def _chain_acceptance(trace: Trace, per_step: np.ndarray) -> tuple[np.ndarray, str]:
    """Per chain acceptance of the run, and what it measures (see :class:`RunFacts`)."""
    kept = per_step.shape[1]
    if not _is_thinned(trace.steps):
        return per_step.mean(axis=1), f"mean acceptance over the {kept} kept steps"
    total = int(trace.steps[-1])
    if trace.moves is not None and total > 0:
        moved = np.asarray(trace.moves, dtype=float) / total
        what = (
            f"share of the {total} steps that moved the chain (trace.moves, burn-in "
            f"included; the info holds only the {kept} kept steps of a thinned run)"
        )
        return moved, what
    what = (
        f"mean acceptance probability at the {kept} kept steps only (a thinned run: "
        f"the other {total - kept} steps are not recorded)"
    )
    return per_step.mean(axis=1), what


def run_facts(trace: Any) -> RunFacts | None:
    """The divergences, stuck chains and acceptance of a Trace; ``None`` for plain draws."""
    if not isinstance(trace, Trace):
        return None
    stuck = None if trace.moves is None else np.flatnonzero(np.asarray(trace.moves) == 0)
    acceptance, what = None, ""
    fields = _info_fields(trace.info)
    for field in ("acceptance_rate", "is_accepted"):
        value = fields.get(field)
        if value is not None and np.ndim(value) == 2:
            acceptance, what = _chain_acceptance(trace, np.asarray(value, dtype=float))
            break
    return RunFacts(trace.num_chains, np.asarray(trace.diverged), stuck, acceptance, what)


def _footer(facts: RunFacts | None) -> list[str]:
    if facts is None:
        return ["divergences, stuck chains, acceptance: not recorded (draws, not a Trace)"]
    n = facts.num_chains
    total, chains = int(np.sum(facts.diverged, dtype=np.int64)), int(np.sum(facts.diverged > 0))
    lines = [f"divergences: {total} ({chains} of {n} chains)"]
    if facts.stuck is None:
        lines.append("stuck chains: not recorded")
    else:
        shown = ", ".join(map(str, facts.stuck[:10])) + (", ..." if facts.stuck.size > 10 else "")
        which = f": {shown}" if facts.stuck.size else ""
        lines.append(f"stuck chains (never moved): {facts.stuck.size} of {n}{which}")
    if facts.acceptance is not None:
        low, mid, high = np.quantile(facts.acceptance, [0.0, 0.5, 1.0])
        lines.append(
            f"acceptance per chain: min {low:.3f}, median {mid:.3f}, max {high:.3f} "
            f"({facts.acceptance_what})"
        )
    return lines


def _check_quantiles(quantiles: Any) -> tuple[float, ...]:
    if isinstance(quantiles, str | bytes) or not isinstance(quantiles, Sequence | np.ndarray):
        raise TypeError(
            f"`quantiles` must be a sequence of numbers in (0, 1); got {type(quantiles).__name__}."
        )
    values = tuple(
        as_number(q, "quantiles", 0.0, 1.0, low_open=True, high_open=True) for q in quantiles
    )
    if not values or len(set(values)) != len(values):
        raise ValueError(
            f"`quantiles` must be distinct numbers in (0, 1), at least one; got {quantiles!r}."
        )
    return values


def _quantile_label(q: float) -> str:
    return f"{100 * q:.10g}%"


def _number_text(column: str, value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if column.startswith("ess"):
        return f"{value:.0f}"
    if column.endswith("r_hat"):
        return f"{value:.3f}"
    return f"{value:.4g}"


@dataclasses.dataclass(frozen=True)
class Summary:
    """The table of :func:`summary`: ``print(s)`` shows it; ``s["mean"]`` is one column.

    Attributes
    ----------
    names : one label per row (``"tau"``, ``"theta[0]"``, ``"w[0, 1]"``).
    columns : ``mean``, ``sd``, the quantiles (``"5%"``, ...), then for chains
        ``mcse_mean``, ``ess_bulk``, ``ess_tail``, ``r_hat`` and ``nested_r_hat``.
    values : float array ``(len(names), len(columns))``; ``nan`` where a column
        does not apply (R-hat of one chain).
    layout : ``"chains"`` or ``"cloud"`` (independent draws: no chain columns).
    num_chains, num_draws : the shape of what was summarised.
    superchains : ``(K, M)``, the superchains of nested R-hat, or ``None``.
    facts : divergences, stuck chains and acceptance of a Trace, or ``None``.
    notes : what the table does not show, and why.

    Examples
    --------
    >>> import numpy as np
    >>> s = summary(np.random.default_rng(0).normal(size=(8, 100, 2)))
    >>> s.names, s.columns[:5]
    (('x[0]', 'x[1]'), ('mean', 'sd', '5%', '50%', '95%'))
    >>> s.row("x[1]")["ess_bulk"] > 400
    True
    """

    names: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray
    layout: str
    num_chains: int
    num_draws: int
    superchains: tuple[int, int] | None = None
    facts: RunFacts | None = None
    notes: tuple[str, ...] = ()

    def __getitem__(self, column: str) -> np.ndarray:
        """One column, one value per row, e.g. ``s["r_hat"]``."""
        if column not in self.columns:
            raise KeyError(f"no column {column!r}; have {list(self.columns)}.")
        return self.values[:, self.columns.index(column)]

    def row(self, name: str) -> dict[str, float]:
        """One row as ``{column: value}``, e.g. ``s.row("tau")``."""
        if name not in self.names:
            raise KeyError(f"no row {name!r}; have {list(self.names)}.")
        values = self.values[self.names.index(name)]
        return {c: float(v) for c, v in zip(self.columns, values, strict=True)}

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{row name: {column: value}}``."""
        return {name: self.row(name) for name in self.names}

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of the table (pandas is imported here, only)."""
        import pandas as pd

        return pd.DataFrame(self.values, index=list(self.names), columns=list(self.columns))

    def __str__(self) -> str:
        if self.layout == "cloud":
            title = f"jl.summary of {self.num_chains} independent draws (particle cloud)"
        else:
            title = f"jl.summary of {self.num_chains} chains x {self.num_draws} draws"
        cells = [["", *self.columns]]
        for name, values in zip(self.names, self.values, strict=True):
            cells.append(
                [
                    name,
                    *(_number_text(c, float(v)) for c, v in zip(self.columns, values, strict=True)),
                ]
            )
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        lines = [title, ""]
        for row in cells:
            parts = [row[0].rjust(widths[0])]
            parts += [cell.rjust(max(w, 7)) for cell, w in zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(parts))
        lines.append("")
        if self.superchains is not None:
            k, m = self.superchains
            lines.append(f"nested R-hat: {k} superchains of {m} chains")
        lines += list(self.notes)
        lines += _footer(self.facts)
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython
        printer.text(str(self))


def summary(
    trace: Trace | Any,
    model: Any | None = None,
    *,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    superchains: int | Sequence[int] | None = None,
    layout: str = "auto",
) -> Summary:
    """Per variable and coordinate: mean, sd, quantiles, MCSE, ESS, R-hat and nested R-hat.

    Like NumPyro's ``print_summary``: ``print(jl.summary(trace))`` shows the table,
    with divergences, stuck chains and per-chain acceptance (min / median / max)
    under it when ``trace`` is a :class:`~jlangevin.run.Trace` that has them.

    Parameters
    ----------
    trace : a Trace, a draws array ``(chains, draws, *event)``, a pytree of them
        (one variable per leaf, named as :func:`~jlangevin.diagnostics.to_arviz`
        names them), or ArviZ data. Finite draws only.
    model : the :class:`~jlangevin.models.Model` the trace sampled
        (``jl.from_numpyro(...)``): the rows are then ``model.constrain(positions)``,
        the constrained and deterministic variables under the model's names.
    quantiles : the quantiles shown, numbers in (0, 1) (over all draws pooled).
    superchains : the grouping of the chains for nested R-hat
        (:func:`~jlangevin.diagnostics.nested_rhat`): a number of groups of
        consecutive chains, or one integer label per chain. Default: the largest
        divisor of the chains up to their square root (64 chains: 8 superchains
        of 8); with a prime number of chains the column is ``nan``.
    layout : ``"chains"``, ``"cloud"`` or ``"auto"`` (one draw per chain is a cloud),
        as in :func:`~jlangevin.diagnostics.check`. A cloud (the last draw of each
        chain, as independent draws) shows mean, sd and quantiles only: chain
        diagnostics do not apply (nested R-hat is shown when ``superchains`` is
        given: chains of one superchain started from one point).

    Returns
    -------
    Summary
        ``print(s)``; ``s["r_hat"]`` (a column), ``s.row("tau")``,
        ``s.to_dict()``, ``s.to_pandas()``.

    Raises
    ------
    TypeError
        ``trace`` is not draws, ``model`` not a Model, ``quantiles`` or
        ``superchains`` of the wrong type.
    ValueError
        Chains with fewer than 4 draws (not a cloud), non-finite draws, a
        quantile outside (0, 1), superchains that do not divide the chains.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda p: -0.5 * jnp.sum(p["w"] ** 2) - 2 * p["b"] ** 2, 0.3)
    >>> start = {"w": jnp.zeros((8, 2)), "b": jnp.zeros(8)}
    >>> s = jl.diagnostics.summary(jl.run(jax.random.key(0), sampler, start, 500))
    >>> s.names
    ('b', 'w[0]', 'w[1]')
    >>> bool(s["r_hat"].max() < 1.05), s.superchains
    (True, (2, 4))
    """
    qs = _check_quantiles(quantiles)
    trace = trace.without_initial() if isinstance(trace, Trace) else trace
    labels, coords = labelled_draws(trace, model, "trace")
    layout = resolve_layout(layout, {"x": coords}, "trace")
    chains, draws = coords.shape[:2]
    ids = None
    if superchains is not None or (layout == "chains" and default_superchains(chains) >= 2):
        ids = superchain_ids(superchains, chains)
    notes = []
    facts = run_facts(trace)
    if layout == "cloud":
        sample = coords[:, -1]
        columns = ["mean", "sd", *map(_quantile_label, qs)]
        table = [sample.mean(axis=0), sample.std(axis=0, ddof=1), *np.quantile(sample, qs, axis=0)]
        last = f"the last of {draws} draws of each chain" if draws > 1 else "one per chain"
        notes.append(
            f"particle cloud: {chains} independent draws ({last}); chain diagnostics "
            "(MCSE, ESS, R-hat) not applicable"
        )
        if ids is not None:
            columns.append("nested_r_hat")
            table.append(_nested(sample[:, None], ids))
    else:
        check_chain_draws(coords, "jl.summary (MCSE, ESS, R-hat)", "trace")
        flat = coords.reshape(-1, coords.shape[2])
        columns = ["mean", "sd", *map(_quantile_label, qs), *CHAIN_COLUMNS]
        r_hat = rhat(coords) if chains >= 2 else np.full(coords.shape[2], np.nan)
        if chains < 2:
            notes.append("one chain: R-hat and nested R-hat compare chains (nan)")
        if ids is None and chains > 1:
            notes.append(
                f"nested R-hat: {chains} chains do not split into 2 or more superchains of "
                "equal size (nan); pass superchains= labels"
            )
        table = [
            flat.mean(axis=0),
            flat.std(axis=0, ddof=1),
            *np.quantile(flat, qs, axis=0),
            mcse(coords),
            ess(coords, method="bulk"),
            ess(coords, method="tail"),
            r_hat,
            np.full(coords.shape[2], np.nan) if ids is None else _nested(coords, ids),
        ]
        constant = [
            label for label, c in zip(labels, constant_coordinates(coords), strict=True) if c
        ]
        if constant:
            notes.append(
                f"constant draws (every draw equal) in {', '.join(constant)}: MCSE, ESS and "
                "R-hat are undefined (nan)"
            )
    grouping = None if ids is None else (int(ids.max()) + 1, int(np.sum(ids == 0)))
    values = np.stack([np.asarray(column, dtype=float) for column in table], axis=1)
    return Summary(
        tuple(labels),
        tuple(columns),
        values,
        layout,
        chains,
        1 if layout == "cloud" else draws,
        grouping,
        facts,
        tuple(notes),
    )


def _nested(coords: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if coords.shape[1] == 1 and np.all(np.bincount(ids) == 1):
        raise ValueError(
            "`superchains`: with one chain per superchain and one draw per chain there is no "
            "within-superchain variance; put several chains in each superchain."
        )
    return _nested_rhat(coords, ids)
