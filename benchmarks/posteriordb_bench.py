"""posteriordb: ``jl.sample`` with its defaults against NumPyro NUTS, both checked against Stan.

Posteriors: the NumPyro translations of ``posteriordb_models.py`` (Stan posterior
database programs and data, shipped in ``posteriordb/``), each compared with
posteriordb's reference draws (10 long Stan NUTS chains, summarised in
``posteriordb/<name>/reference.json``).

Samplers, in one process, per posterior:

* **jlangevin**: ``jl.sample(key, jl.from_numpyro(model, **data))`` with every
  default (the front door as a user meets it; whatever kernel, metric, chains
  and lengths it picks). A call that raises is a ``crash`` row with the error.
* **NumPyro NUTS**: 4 chains x 1000 warm-up + 1000 draws,
  ``chain_method="vectorized"``.

Per row: **pass** when every parameter has R-hat < 1.01 and ``|z| < 4`` with
``z = (mean - ref_mean) / sqrt(sd^2 / ess + ref_sd^2 / ref_ess)`` (bulk ESS;
the reference's own Monte Carlo error counted); max R-hat, max ``|z|``, min
bulk ESS; ESS per gradient (jlangevin: ``result.num_grads`` over warm-up and
draws where the result reports it, else chains x steps, marked ``~``; NUTS: the
sum of ``num_steps`` over warm-up and draws); ESS per second of the whole call
(model building, initialisation, warm-up, compilation, draws) and of the draw
phase (jlangevin: a second, compiled ``jl.run`` of the same length from the
trace's final state; NUTS: its ``MCMC.run`` after ``MCMC.warmup``, which
compiles); and what ``jl.sample`` chose where its result says.

Writes ``results/posteriordb.{json,md,png}``. Usage:
``python benchmarks/posteriordb_bench.py`` (all posteriors), ``--only NAME ...``,
``--samplers nuts`` (the translations' check alone), ``--quick`` (tiny sizes,
prints, writes nothing).
"""

from __future__ import annotations

import argparse
import inspect
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from _common import check_bars, device_line, environment, save
from posteriordb_models import MODELS, RHAT_MAX, Z_MAX, Agreement, compare, load

SAMPLERS = ("jl", "nuts")
LABELS = {"jl": "jl.sample (defaults)", "nuts": "NumPyro NUTS"}
#: What ``jl.sample``'s result may say it chose: label -> attribute paths, first found wins
#: (the names are being settled, so several are tried).
CHOICES = {
    "kernel": (("kernel",), ("warmup", "kernel")),
    "metric": (("warmup", "metric_kind"), ("warmup", "preconditioner_kind")),
    "trajectory": (("warmup", "trajectory"),),
    "integration_steps": (("warmup", "num_integration_steps"),),
    "step_size": (("warmup", "step_size"),),
    "restarts": (("warmup", "num_restarted"),),
    "converged": (("converged",),),
}


# --------------------------------------------------------------------------- #
# Runners: each returns the constrained draws and its costs
# --------------------------------------------------------------------------- #
def run_nuts(
    key: jax.Array, model: Callable, data: dict[str, Any], chains: int, warmup: int, draws: int
) -> dict[str, Any]:
    """NumPyro NUTS: draws, leapfrog steps of warm-up and draws, wall times.

    Parameters
    ----------
    key : jax.Array
        The run's key.
    model : callable
        The NumPyro model.
    data : dict
        Its keyword arguments.
    chains, warmup, draws : int
        Vectorized chains, warm-up and kept draws per chain.

    Returns
    -------
    dict
        ``samples`` (``{site: (chains, draws, ...)}``), ``gradients``,
        ``seconds`` (both calls, compilation included), ``draw_seconds`` (the
        ``run`` call), ``divergences``.
    """
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(
        NUTS(model),
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.warmup(key, extra_fields=fields, collect_warmup=True, **data)
    warmup_steps = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    t1 = time.perf_counter()
    mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields, **data)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    t2 = time.perf_counter()
    extra = mcmc.get_extra_fields()
    return {
        "samples": samples,
        "gradients": warmup_steps + int(np.sum(extra["num_steps"])),
        "gradients_estimated": False,
        "seconds": t2 - t0,
        "draw_seconds": t2 - t1,
        "divergences": int(np.sum(extra["diverging"])),
        "chains": chains,
    }


def _attribute(obj: Any, path: tuple[str, ...]) -> Any:
    """``obj.a.b`` for ``path = ("a", "b")``, or ``None`` where any link is missing."""
    for name in path:
        obj = getattr(obj, name, None)
    return obj


def _plain(value: Any) -> Any:
    """A JSON-friendly copy: scalars as numbers, small arrays as lists, else the ``repr``."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "biuf":
        return array.item() if array.size == 1 else array.tolist() if array.size <= 8 else None
    return repr(value)[:80]


def sample_choices(result: Any) -> dict[str, Any]:
    """What ``jl.sample`` says it chose and concluded (missing names are left out)."""
    out = {}
    for label, paths in CHOICES.items():
        value = next((v for v in (_attribute(result, p) for p in paths) if v is not None), None)
        if value is not None:
            out[label] = _plain(value)
    return out


def jl_gradients(result: Any, num_warmup: int) -> tuple[int, bool]:
    """Gradient evaluations of a ``jl.sample`` call, and whether they are an estimate.

    ``result.num_grads.warmup + result.num_grads.draws`` where the result has
    them; else chains x (``num_warmup`` + the run's steps).
    """
    counted = getattr(result, "num_grads", None)
    if counted is not None:
        return int(np.sum(counted.warmup) + np.sum(counted.draws)), False
    trace = result.trace
    steps = int(np.asarray(trace.steps)[-1]) if trace.steps is not None else 0
    return trace.num_chains * (num_warmup + steps), True


def _default(function: Callable, name: str, fallback: int) -> int:
    """A keyword's default in ``function``'s signature (``fallback`` where it has none)."""
    parameter = inspect.signature(function).parameters.get(name)
    if parameter is None or not isinstance(parameter.default, int):
        return fallback
    return parameter.default


def run_jl(
    key: jax.Array, model: Callable, data: dict[str, Any], **settings: Any
) -> dict[str, Any]:
    """``jl.sample`` with its defaults, timed whole; then a compiled rerun of its draw phase.

    ``settings`` go to ``jl.sample`` (``--quick`` only: fewer steps).

    The rerun continues from the trace's final state for as many steps (and
    the same thinning) as the call's draws: once to compile, once timed. Its
    draws are not used.
    """
    import jlangevin as jl

    key_sample, key_rerun = jax.random.split(key)
    t0 = time.perf_counter()
    result = jl.sample(key_sample, jl.from_numpyro(model, **data), **settings)
    jax.block_until_ready(result.trace.final_state)
    seconds = time.perf_counter() - t0
    samples = jax.tree.map(np.asarray, result.posterior)
    steps = np.asarray(result.trace.steps)
    thin = int(steps[1] - steps[0]) if steps.size > 1 else 1
    num_steps = steps.size * thin
    draw_seconds = _timed_rerun(jl.run, key_rerun, result, num_steps, thin)
    num_warmup = settings.get("num_warmup", _default(jl.sample, "num_warmup", 1000))
    gradients, estimated = jl_gradients(result, num_warmup)
    return {
        "samples": samples,
        "gradients": gradients,
        "gradients_estimated": estimated,
        "seconds": seconds,
        "draw_seconds": draw_seconds,
        "divergences": result.trace.num_diverged_steps,
        "chains": result.trace.num_chains,
        "choices": sample_choices(result),
    }


def _timed_rerun(run: Callable, key: jax.Array, result: Any, num_steps: int, thin: int) -> float:
    """Seconds of a compiled ``run(key, sampler, final_state, num_steps)`` (the second call)."""

    def once() -> None:
        trace = run(key, result.sampler, result.trace.final_state, num_steps, thin=thin)
        jax.block_until_ready(trace.final_state)

    once()
    t0 = time.perf_counter()
    once()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- #
# Rows
# --------------------------------------------------------------------------- #
def make_row(name: str, sampler: str, result: dict[str, Any], ref: dict) -> dict[str, Any]:
    """One table row: the check against the reference and the costs."""
    agreement: Agreement = compare(result.pop("samples"), ref)
    ess = agreement.min_ess
    return {
        "posterior": name,
        "sampler": sampler,
        "label": LABELS[sampler],
        "dim": len(ref),
        "passed": agreement.passed,
        "max_rhat": agreement.max_rhat,
        "max_rhat_at": agreement.max_rhat_at,
        "max_z": agreement.max_z,
        "max_z_at": agreement.max_z_at,
        "min_ess": ess,
        "min_ess_at": agreement.min_ess_at,
        "ess_per_gradient": ess / result["gradients"],
        "ess_per_s": ess / result["seconds"],
        "ess_per_s_draws": ess / result["draw_seconds"],
        **result,
        "per_parameter": agreement.per_parameter,
    }


def crash_row(name: str, sampler: str, err: BaseException) -> dict[str, Any]:
    """A run that raised: its error, and no numbers."""
    tail = traceback.format_exception_only(type(err), err)[-1].strip()
    return {
        "posterior": name,
        "sampler": sampler,
        "label": LABELS[sampler],
        "crash": tail[:400],
        "passed": False,
    }


def print_row(r: dict[str, Any]) -> None:
    """One line per run, as it finishes."""
    if "crash" in r:
        print(f"{r['posterior']:44s} {r['label']:22s} CRASH {r['crash'][:160]}", flush=True)
        return
    mark = "~" if r["gradients_estimated"] else ""
    print(
        f"{r['posterior']:44s} {r['label']:22s} {'pass' if r['passed'] else 'FAIL'}  "
        f"R-hat {r['max_rhat']:.3f} ({r['max_rhat_at']})  max|z| {r['max_z']:5.2f} "
        f"({r['max_z_at']})  ESS {r['min_ess']:7.0f}  ESS/grad {mark}{r['ess_per_gradient']:.2e}  "
        f"ESS/s {r['ess_per_s']:8.1f} ({r['ess_per_s_draws']:8.1f})  {r['seconds']:.1f}s",
        flush=True,
    )


def run_one(key: jax.Array, name: str, sampler: str, args: argparse.Namespace) -> dict[str, Any]:
    """One sampler on one posterior, as a row (a crash row when it raises)."""
    model, data, ref = load(name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if sampler == "jl":
                result = run_jl(key, model, data, **args.jl_settings)
            else:
                result = run_nuts(key, model, data, args.chains, args.warmup, args.draws)
            return make_row(name, sampler, result, ref)
    except Exception as err:  # a run that breaks is a result too
        return crash_row(name, sampler, err)


def benchmark(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every chosen posterior and sampler, in order; prints each row as it comes."""
    rows = []
    key = jax.random.key(args.seed)
    for i, name in enumerate(args.only):
        if MODELS[name].x64:
            jax.config.update("jax_enable_x64", True)
        for sampler in args.samplers:
            r = run_one(jax.random.fold_in(key, i), name, sampler, args)
            print_row(r)
            rows.append(r)
        jax.config.update("jax_enable_x64", False)
    return rows


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def _short(value: Any) -> str:
    """A choice for the table: floats to 3 significant figures."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table_line(r: dict[str, Any]) -> str:
    """One markdown row."""
    if "crash" in r:
        return f"| {r['posterior']} | {r['label']} | **crash** | {r['crash'][:120]} |||||||||"
    mark = "~" if r["gradients_estimated"] else ""
    chose = ", ".join(f"{k}={_short(v)}" for k, v in r.get("choices", {}).items() if v is not None)
    return (
        f"| {r['posterior']} | {r['label']} | {'pass' if r['passed'] else '**fail**'} | "
        f"{r['dim']} | {r['max_rhat']:.3f} | {r['max_z']:.2f} ({r['max_z_at']}) | "
        f"{r['min_ess']:.0f} | {mark}{r['ess_per_gradient']:.2e} | {r['ess_per_s']:.3g} | "
        f"{r['ess_per_s_draws']:.3g} | {r['seconds']:.1f} | {chose} |"
    )


def _except(settings: dict[str, Any]) -> str:
    """`` but num_warmup=100`` for the settings ``--quick`` overrides, else nothing."""
    return " but " + ", ".join(f"{k}={v}" for k, v in settings.items()) if settings else ""


def markdown(rows: list[dict[str, Any]], args: argparse.Namespace, env: dict, total: float) -> str:
    """The results table and its footnote."""
    lines = [
        "| posterior | sampler | check | dim | max R-hat | max \\|z\\| (at) | min bulk ESS "
        "| ESS / gradient | ESS / s (whole call) | ESS / s (draws) | wall s | jl.sample chose |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(table_line(r) for r in rows),
    ]
    notes = {name: MODELS[name].note for name in args.only if MODELS[name].note}
    if notes:
        lines += ["", *(f"- {name}: {note}." for name, note in notes.items())]
    lines += [
        "",
        f"check: **pass** when every parameter has R-hat < {RHAT_MAX} and |z| < {Z_MAX:g}, "
        "z = (mean - ref_mean) / sqrt(sd^2 / ess + ref_sd^2 / ref_ess) against posteriordb's "
        "reference (10 Stan NUTS chains x 1000 thinned draws; bulk ESS). jl.sample: every "
        f"default{_except(args.jl_settings)} (one call, model building included). NumPyro NUTS: "
        f"{args.chains} chains x {args.warmup} warm-up + {args.draws} draws, vectorized. "
        "ESS / gradient: min bulk ESS over warm-up and draw gradients (NUTS: its leapfrog "
        "steps; jl: result.num_grads, or chains x steps where marked ~). ESS / s (whole "
        "call): compilation included; (draws): jl a compiled rerun of its draw phase, NUTS "
        "its MCMC.run call (which compiles). float32 throughout. "
        f"Seed {args.seed}; total {total:.0f} s. {device_line(env)}.",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]]) -> Any:
    """Per posterior, ESS / s of the whole call by sampler (log axis); x marks a failed check."""
    return check_bars(
        rows,
        "posterior",
        "ess_per_s",
        LABELS,
        "min bulk ESS / s (whole call)",
        "posteriordb: jl.sample (defaults) vs NumPyro NUTS, float32",
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line settings; ``--quick`` shrinks NUTS and the posteriors to a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--chains", type=int, default=4, help="NUTS chains")
    parser.add_argument("--warmup", type=int, default=1000, help="NUTS warm-up")
    parser.add_argument("--draws", type=int, default=1000, help="NUTS draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, print, write nothing")
    args = parser.parse_args(argv)
    args.jl_settings = {}
    if args.quick:
        args.chains, args.warmup, args.draws = 2, 100, 100
        args.jl_settings = {"num_warmup": 100, "num_draws": 100}
        if args.only == list(MODELS):
            args.only = ["kidiq_with_mom_work-kidscore_mom_work"]
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run, print the table; save it (not with ``--quick``)."""
    args = parse(argv)
    t0 = time.perf_counter()
    rows = benchmark(args)
    total = time.perf_counter() - t0
    env = environment()
    table = markdown(rows, args, env, total)
    print(table)
    if not args.quick:
        report = {"environment": env, "settings": vars(args), "total_seconds": total, "rows": rows}
        save("posteriordb", report, table, plot(rows))
    return rows


if __name__ == "__main__":
    main()
