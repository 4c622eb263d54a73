"""MAMS and MCLMC: jlangevin's against BlackJAX's, MALT and NumPyro NUTS, on reference posteriors.

Targets: the Inference Gym ones that ship their ground truth (``gym_targets.py``:
an ill-conditioned Gaussian, d=100; the banana; Brownian motion; synthetic item
response theory; stochastic volatility on 100 days of returns), then the NumPyro
translations of posteriordb (``posteriordb_models.py``) against posteriordb's
Stan reference draws. By default the posteriordb rows are every other name of
the sorted list (the first, third, ...), a rule fixed before any run to bound
its length (six samplers on all 26 do not fit in half an hour of two CPU cores);
``--only`` takes any names. The posteriordb rows run first. Each target's key is the seed folded
with the target's place in the full list, so a row's numbers do not depend on
which other targets run.

Samplers, in one process, each with the same number of chains (``--chains``,
default 16) and the same initial positions (``model.init``: ``Uniform(-2, 2)``
on the unconstrained scale, from the key's first half, as ``jl.sample`` draws
them), keeping 1000 draws per chain:

* **jl MAMS / MCLMC / MALT**: ``jl.sample(key, model, kernel=..., num_chains=C)``
  with every other setting at its default (1000 warm-up steps and 1000 draws;
  MALT is what ``kernel="auto"`` runs). MCLMC is unadjusted: asymptotically
  biased, so its ``|z|`` may grow with its ESS.
* **BlackJAX adjusted MCLMC** (MAMS): per chain (``jax.vmap`` over chains of
  the whole recipe, each chain its own tuning), ``adjusted_mclmc_find_L_and_step_size``
  with the sampling book's settings (target acceptance 0.9, ``frac_tune1=0.1``,
  ``frac_tune2=0.1``, ``frac_tune3=0``, BlackJAX 1.7's defaults; ``--bjx-frac-tune3``
  adds its L stage, after which BlackJAX 1.7 still sets ``L = 2 * step_size``; its
  default diagonal preconditioning) on the random-trajectory-length kernel, then 1000
  steps of that kernel with the tuned step size, ``L / step_size`` mean integration steps
  and inverse mass. In BlackJAX 1.7 the sampling book's ``blackjax.adjusted_mclmc``
  with a random length is ``blackjax.adjusted_mclmc_dynamic``
  (``make_random_trajectory_length_fn``); ``blackjax.adjusted_mclmc`` proper takes
  a fixed integer length the tuner does not produce.
* **BlackJAX MCLMC**: per chain likewise, ``mclmc_find_L_and_step_size`` with its
  defaults (``num_steps=1000``, so 10% + 13% + 10% of it in tuning; diagonal
  preconditioning), then 1000 steps of ``blackjax.mclmc`` with the tuned values.
* **NumPyro NUTS**: ``potential_fn = -logdensity`` of the same model, C chains,
  ``chain_method="vectorized"``, 1000 warm-up + 1000 draws.

Per row: **converged** when every coordinate has R-hat < 1.01; **check** when
it has converged and every ``|z| < 4``, ``z = (mean - truth) / sqrt(sd^2 / ess +
ref_error^2)`` (bulk ESS; ``ref_error`` the reference's standard error: the
posteriordb reference's ``ref_sd / sqrt(ref_ess)``, Inference Gym's published
one, 0 for the closed-form truths); max R-hat, max ``|z|``, min bulk ESS; ESS
per gradient, tuning counted (jl: ``result.num_grads``; BlackJAX: two gradients
per step of the minimal-norm integrator, the tuners' own step counts included;
NUTS: ``num_steps`` of warm-up and draws); ESS per second of the whole call
(model building aside: initialisation, tuning, compilation and draws).

Writes ``results/mams.{json,md,png}``. Usage: ``python benchmarks/mams_bench.py``,
``--only NAME ...``, ``--samplers mams malt ...``, ``--chains C``, ``--out DIR``
(another folder), ``--isolate SECONDS`` (each target and sampler in a fresh
process, stopped after SECONDS: a row that did not finish), ``--quick`` (tiny
sizes, prints, writes nothing).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import gym_targets
import jax
import jax.numpy as jnp
import numpy as np
from _common import RESULTS, check_bars, device_line, environment, save
from jax.flatten_util import ravel_pytree
from posteriordb_bench import sample_choices
from posteriordb_models import MODELS, RHAT_MAX, Z_MAX, compare

SAMPLERS = ("mams", "mclmc", "malt", "bjx_mams", "bjx_mclmc", "nuts")
LABELS = {
    "mams": "jl MAMS",
    "mclmc": "jl MCLMC (biased)",
    "malt": "jl MALT (auto)",
    "bjx_mams": "BlackJAX adjusted MCLMC",
    "bjx_mclmc": "BlackJAX MCLMC (biased)",
    "nuts": "NumPyro NUTS",
}
JL_KERNELS = ("mams", "mclmc", "malt")
#: BlackJAX's minimal-norm (McLachlan) isokinetic integrator: two gradients a step.
GRADS_PER_INTEGRATOR_STEP = 2
#: The sampling book's target acceptance for adjusted MCLMC ("our recommendation").
BJX_TARGET_ACCEPTANCE = 0.9
#: The posteriordb rows by default: every other name in sorted order (fixed before any run).
POSTERIORDB_DEFAULT = sorted(MODELS)[::2]
TARGETS = (*gym_targets.TARGETS, *sorted(MODELS))
#: ``--only`` shorthands: the default posteriordb rows, and the Inference Gym ones.
GROUPS = {"posteriordb": POSTERIORDB_DEFAULT, "gym": list(gym_targets.TARGETS)}


# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #
def load_target(name: str) -> tuple[Any, dict[str, dict[str, float]], str]:
    """``(jl.Model, reference, note)`` of a gym target or a posteriordb posterior."""
    if name in gym_targets.TARGETS:
        target = gym_targets.load(name)
        return target.model, target.reference, gym_targets.NOTES[name]
    import posteriordb_models

    import jlangevin as jl

    model_fn, data, ref = posteriordb_models.load(name)
    return jl.from_numpyro(model_fn, **data), ref, MODELS[name].note


def flat_view(model: Any) -> tuple[Callable, Callable]:
    """``(logdensity over one flat vector, unravel)``: what BlackJAX and NUTS sample."""
    one = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), model.position_shapes)
    _, unravel = ravel_pytree(one)

    def logdensity(x: jax.Array) -> jax.Array:
        return model.logdensity_fn(unravel(x))

    return logdensity, unravel


def constrained(model: Any, unravel: Callable, draws: jax.Array) -> dict[str, np.ndarray]:
    """Flat draws ``(chains, draws, d)`` under the model's names, constrained."""
    tree = jax.vmap(jax.vmap(unravel))(jnp.asarray(draws))
    return jax.tree.map(np.asarray, dict(model.constrain(tree)))


def initial_positions(key: jax.Array, model: Any, chains: int) -> jax.Array:
    """Flat ``(chains, d)`` starts: ``model.init`` with ``jl.sample``'s init key."""
    key_init, _ = jax.random.split(key)
    positions = model.init(key_init, chains)
    return jax.vmap(lambda p: ravel_pytree(p)[0])(positions)


# --------------------------------------------------------------------------- #
# Runners: each returns constrained draws and its costs
# --------------------------------------------------------------------------- #
def run_jl(key: jax.Array, model: Any, kernel: str, chains: int, **settings: Any) -> dict:
    """``jl.sample(key, model, kernel=kernel, num_chains=chains)``, timed whole."""
    import jlangevin as jl

    t0 = time.perf_counter()
    result = jl.sample(key, model, kernel=kernel, num_chains=chains, warn=False, **settings)
    jax.block_until_ready(result.trace.final_state)
    seconds = time.perf_counter() - t0
    return {
        "samples": jax.tree.map(np.asarray, dict(result.posterior)),
        "gradients": int(result.num_grads.total),
        "tuning_gradients": int(result.num_grads.warmup),
        "seconds": seconds,
        "divergences": int(result.trace.num_diverged_steps),
        "chains": int(result.trace.num_chains),
        "choices": sample_choices(result),
    }


def run_bjx_mclmc(key: jax.Array, model: Any, chains: int, num_steps: int) -> dict:
    """BlackJAX MCLMC: per chain, ``mclmc_find_L_and_step_size`` then ``num_steps`` draws."""
    import blackjax
    from blackjax.util import run_inference_algorithm

    logdensity, unravel = flat_view(model)
    x0 = initial_positions(key, model, chains)
    kernel = blackjax.mcmc.mclmc.build_kernel()

    def one_chain(chain_key: jax.Array, position: jax.Array) -> tuple:
        init_key, tune_key, run_key = jax.random.split(chain_key, 3)
        state = blackjax.mcmc.mclmc.init(position, logdensity, init_key)
        state, params, tuning_steps = blackjax.mclmc_find_L_and_step_size(
            mclmc_kernel=kernel,
            num_steps=num_steps,
            state=state,
            rng_key=tune_key,
            logdensity_fn=logdensity,
        )
        algorithm = blackjax.mclmc(
            logdensity,
            L=params.L,
            step_size=params.step_size,
            inverse_mass_matrix=params.inverse_mass_matrix,
        )
        _, (draws, nonans) = run_inference_algorithm(
            rng_key=run_key,
            initial_state=state,
            inference_algorithm=algorithm,
            num_steps=num_steps,
            transform=lambda s, info: (s.position, info.nonans),
        )
        return draws, jnp.sum(~nonans), tuning_steps, params

    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.split(key)[1], chains)
    draws, divergent, tuning_steps, params = jax.jit(jax.vmap(one_chain))(keys, x0)
    draws = jax.block_until_ready(draws)
    seconds = time.perf_counter() - t0
    tuning = int(np.sum(tuning_steps)) * GRADS_PER_INTEGRATOR_STEP
    return {
        "samples": constrained(model, unravel, draws),
        "gradients": tuning + chains * num_steps * GRADS_PER_INTEGRATOR_STEP,
        "tuning_gradients": tuning,
        "seconds": seconds,
        "divergences": int(np.sum(divergent)),
        "chains": chains,
        "choices": {
            "L": float(np.median(params.L)),
            "step_size": float(np.median(params.step_size)),
        },
    }


def run_bjx_mams(
    key: jax.Array, model: Any, chains: int, num_steps: int, frac_tune3: float = 0.0
) -> dict:
    """BlackJAX adjusted MCLMC: per chain, ``adjusted_mclmc_find_L_and_step_size``, then draws.

    ``frac_tune3 > 0`` adds BlackJAX's L stage (an ESS-based L, then a new step-size
    search); BlackJAX 1.7 then pins ``L = target_num_integration_steps * step_size``
    (2 steps) whatever that stage found, so it costs gradients and moves the step only.
    """
    import blackjax
    from blackjax.mcmc import adjusted_mclmc_dynamic
    from blackjax.util import run_inference_algorithm

    logdensity, unravel = flat_view(model)
    x0 = initial_positions(key, model, chains)
    steps_fn = adjusted_mclmc_dynamic.make_random_trajectory_length_fn(True)
    kernel = adjusted_mclmc_dynamic.build_kernel(integration_steps_fn=steps_fn)

    def one_chain(chain_key: jax.Array, position: jax.Array) -> tuple:
        init_key, tune_key, run_key = jax.random.split(chain_key, 3)
        state = adjusted_mclmc_dynamic.init(position, logdensity, init_key)
        state, params, tuning_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
            mclmc_kernel=kernel,
            logdensity_fn=logdensity,
            num_steps=num_steps,
            state=state,
            rng_key=tune_key,
            target=BJX_TARGET_ACCEPTANCE,
            frac_tune1=0.1,
            frac_tune2=0.1,
            frac_tune3=frac_tune3,
        )
        algorithm = blackjax.adjusted_mclmc_dynamic(
            logdensity,
            step_size=params.step_size,
            inverse_mass_matrix=params.inverse_mass_matrix,
            integration_steps_fn=steps_fn,
            integration_steps_params=(params.L / params.step_size,),
        )
        _, (draws, steps, divergent) = run_inference_algorithm(
            rng_key=run_key,
            initial_state=state,
            inference_algorithm=algorithm,
            num_steps=num_steps,
            transform=lambda s, info: (s.position, info.num_integration_steps, info.is_divergent),
        )
        return draws, jnp.sum(steps), jnp.sum(divergent), tuning_steps, params

    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.split(key)[1], chains)
    draws, steps, divergent, tuning_steps, params = jax.jit(jax.vmap(one_chain))(keys, x0)
    draws = jax.block_until_ready(draws)
    seconds = time.perf_counter() - t0
    tuning = int(np.sum(tuning_steps)) * GRADS_PER_INTEGRATOR_STEP
    return {
        "samples": constrained(model, unravel, draws),
        "gradients": tuning + int(np.sum(steps)) * GRADS_PER_INTEGRATOR_STEP,
        "tuning_gradients": tuning,
        "seconds": seconds,
        "divergences": int(np.sum(divergent)),
        "chains": chains,
        "choices": {
            "integration_steps": float(np.median(params.L / params.step_size)),
            "step_size": float(np.median(params.step_size)),
        },
    }


def run_nuts(key: jax.Array, model: Any, chains: int, warmup: int, draws: int) -> dict:
    """NumPyro NUTS on ``potential_fn = -logdensity``: warm-up and draws, leapfrog steps counted."""
    from numpyro.infer import MCMC, NUTS

    logdensity, unravel = flat_view(model)
    x0 = initial_positions(key, model, chains)
    mcmc = MCMC(
        NUTS(potential_fn=lambda x: -logdensity(x)),
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.warmup(jax.random.split(key)[1], init_params=x0, extra_fields=fields, collect_warmup=True)
    tuning = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=fields)
    samples = jax.block_until_ready(mcmc.get_samples(group_by_chain=True))
    seconds = time.perf_counter() - t0
    extra = mcmc.get_extra_fields()
    return {
        "samples": constrained(model, unravel, samples),
        "gradients": tuning + int(np.sum(extra["num_steps"])),
        "tuning_gradients": tuning,
        "seconds": seconds,
        "divergences": int(np.sum(extra["diverging"])),
        "chains": chains,
    }


def run_sampler(key: jax.Array, model: Any, sampler: str, args: argparse.Namespace) -> dict:
    """One sampler on one model with the run's sizes."""
    if sampler in JL_KERNELS:
        return run_jl(key, model, sampler, args.chains, **args.jl_settings)
    if sampler == "bjx_mams":
        return run_bjx_mams(key, model, args.chains, args.draws, args.bjx_frac_tune3)
    if sampler == "bjx_mclmc":
        return run_bjx_mclmc(key, model, args.chains, args.draws)
    return run_nuts(key, model, args.chains, args.warmup, args.draws)


# --------------------------------------------------------------------------- #
# Rows
# --------------------------------------------------------------------------- #
def make_row(name: str, sampler: str, result: dict[str, Any], ref: dict) -> dict[str, Any]:
    """One table row: the check against the truth and the costs."""
    agreement = compare(result.pop("samples"), ref)
    ess = agreement.min_ess
    return {
        "target": name,
        "sampler": sampler,
        "label": LABELS[sampler],
        "dim": len(ref),
        "converged": bool(agreement.max_rhat < RHAT_MAX),
        "passed": agreement.passed,
        "max_rhat": agreement.max_rhat,
        "max_rhat_at": agreement.max_rhat_at,
        "max_z": agreement.max_z,
        "max_z_at": agreement.max_z_at,
        "min_ess": ess,
        "min_ess_at": agreement.min_ess_at,
        "ess_per_gradient": ess / result["gradients"],
        "ess_per_s": ess / result["seconds"],
        **result,
    }


def crash_row(name: str, sampler: str, err: BaseException) -> dict[str, Any]:
    """A run that raised: its error, and no numbers."""
    tail = traceback.format_exception_only(type(err), err)[-1].strip()
    return {
        "target": name,
        "sampler": sampler,
        "label": LABELS[sampler],
        "crash": tail[:400],
        "converged": False,
        "passed": False,
    }


def isolated_row(name: str, sampler: str, args: argparse.Namespace) -> dict[str, Any]:
    """One sampler on one target in a fresh process, stopped after ``args.isolate`` seconds.

    Each run then starts from a cold JAX cache, as a user's would, and one sampler
    that does not finish (a tuner collapsing its step) costs its time limit, not
    the table. A run stopped at the limit is a row that did not finish.
    """
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            str(pathlib.Path(__file__).resolve()),
            *("--only", name, "--samplers", sampler, "--out", out),
            *("--chains", str(args.chains), "--warmup", str(args.warmup)),
            *("--draws", str(args.draws), "--seed", str(args.seed)),
            *("--bjx-frac-tune3", str(args.bjx_frac_tune3), "--name", "mams"),
        ]
        try:
            subprocess.run(command, timeout=args.isolate, capture_output=True, check=True)
        except subprocess.TimeoutExpired:
            return {
                "target": name,
                "sampler": sampler,
                "label": LABELS[sampler],
                "crash": f"did not finish in {args.isolate:g} s (stopped)",
                "timed_out_seconds": args.isolate,
                "converged": False,
                "passed": False,
            }
        except subprocess.CalledProcessError as err:
            tail = err.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            return crash_row(name, sampler, RuntimeError(tail[0]))
        return json.loads(pathlib.Path(out, "mams.json").read_text())["rows"][0]


def print_row(r: dict[str, Any]) -> None:
    """One line per run, as it finishes."""
    if "crash" in r:
        print(f"{r['target']:44s} {r['label']:24s} CRASH {r['crash'][:160]}", flush=True)
        return
    print(
        f"{r['target']:44s} {r['label']:24s} {'pass' if r['passed'] else 'FAIL'}  "
        f"R-hat {r['max_rhat']:.3f}  max|z| {r['max_z']:6.2f} ({r['max_z_at']})  "
        f"ESS {r['min_ess']:7.0f}  ESS/grad {r['ess_per_gradient']:.2e}  "
        f"ESS/s {r['ess_per_s']:8.1f}  {r['seconds']:.1f}s",
        flush=True,
    )


def benchmark(
    args: argparse.Namespace, after_target: Callable[[list, dict], None] | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every chosen target and sampler, in order; prints each row as it comes.

    ``after_target(rows, notes)`` runs after each target (the script saves what it
    has then, so a run cut short still leaves its finished targets on file).
    """
    rows, notes = [], {}
    key = jax.random.key(args.seed)
    for name in args.only:
        target_key = jax.random.fold_in(key, TARGETS.index(name))  # the same in any order
        model, ref, note = load_target(name)
        if note:
            notes[name] = note
        for sampler in args.samplers:
            if args.isolate:
                row = isolated_row(name, sampler, args)
                print_row(row)
                rows.append(row)
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = run_sampler(target_key, model, sampler, args)
                    row = make_row(name, sampler, result, ref)
            except Exception as err:  # a run that breaks is a result too
                row = crash_row(name, sampler, err)
            print_row(row)
            rows.append(row)
        if after_target is not None:
            after_target(rows, notes)
    return rows, notes


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #
def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def table_line(r: dict[str, Any]) -> str:
    """One markdown row."""
    if "timed_out_seconds" in r:
        return (
            f"| {r['target']} | {r['label']} | **did not finish** | "
            f"stopped after {r['timed_out_seconds']:g} s ||||||||"
        )
    if "crash" in r:
        return f"| {r['target']} | {r['label']} | **crash** | {r['crash'][:120]} ||||||||"
    chose = ", ".join(f"{k}={_short(v)}" for k, v in r.get("choices", {}).items())
    return (
        f"| {r['target']} | {r['label']} | {'pass' if r['passed'] else '**fail**'} | "
        f"{'yes' if r['converged'] else '**no**'} | {r['max_rhat']:.3f} | "
        f"{r['max_z']:.2f} ({r['max_z_at']}) | {r['min_ess']:.0f} | "
        f"{r['ess_per_gradient']:.2e} | {r['tuning_gradients'] / r['gradients']:.0%} | "
        f"{r['ess_per_s']:.3g} | {r['seconds']:.1f} | {r['divergences']} | {chose} |"
    )


def markdown(
    rows: list[dict[str, Any]],
    notes: dict[str, str],
    args: argparse.Namespace,
    env: dict,
    total: float,
) -> str:
    """The results table and its footnote."""
    lines = [
        "| target | sampler | check | R-hat < 1.01 | max R-hat | max \\|z\\| (at) | min bulk ESS "
        "| ESS / gradient | tuning share of gradients | ESS / s (whole call) | wall s "
        "| divergences | tuned |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(table_line(r) for r in rows),
        "",
        *(f"- {name}: {note}." for name, note in notes.items()),
        "",
        f"check: **pass** when every coordinate has R-hat < {RHAT_MAX} and |z| < {Z_MAX:g}, "
        "z = (mean - truth) / sqrt(sd^2 / ess + ref_error^2) (bulk ESS; ref_error the "
        "reference's standard error: posteriordb's ref_sd / sqrt(ref_ess), Inference Gym's "
        f"published one, 0 for closed forms). Every sampler: {args.chains} chains from the "
        f"same Uniform(-2, 2) starts, {args.draws} draws per chain kept. jl.sample: "
        f"kernel=..., num_chains={args.chains}, every other default"
        + (f" but {args.jl_settings}" if args.jl_settings else "")
        + ". BlackJAX: the whole recipe vmapped over chains, each chain tuned on its own "
        f"(adjusted: target acceptance {BJX_TARGET_ACCEPTANCE}, frac_tune "
        f"0.1/0.1/{args.bjx_frac_tune3:g}, random "
        "trajectory length; MCLMC: mclmc_find_L_and_step_size defaults; both diagonal "
        f"preconditioning, num_steps={args.draws}). NUTS: {args.warmup} warm-up + "
        f"{args.draws} draws, vectorized, diagonal mass. ESS / gradient: min bulk ESS over "
        "every gradient, tuning included (BlackJAX: 2 per integrator step; NUTS: leapfrog "
        "steps). ESS / s: the whole call, compilation included. MCLMC rows are "
        f"asymptotically biased samplers. float32. Seed {args.seed}; total {total:.0f} s. "
        f"{device_line(env)}.",
    ]
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]]) -> Any:
    """Per target, ESS per gradient by sampler (log axis); x marks a failed check or a crash."""
    return check_bars(
        rows,
        "target",
        "ess_per_gradient",
        LABELS,
        "min bulk ESS / gradient (tuning included)",
        "MAMS / MCLMC: jlangevin vs BlackJAX, MALT and NUTS (same chains), float32",
    )


def save_to(
    folder: pathlib.Path, report: dict, table: str, figure: Any | None, name: str = "mams"
) -> None:
    """``<name>.{json,md,png}`` in ``folder`` (``_common.save`` for ``results/``)."""
    if folder.resolve() == RESULTS.resolve():
        save(name, report, table, figure)
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (folder / f"{name}.md").write_text(table + "\n")
    if figure is not None:
        figure.savefig(folder / f"{name}.png", dpi=120, bbox_inches="tight")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Command-line settings; ``--quick`` shrinks everything to a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=[*TARGETS, *GROUPS],
        metavar="NAME",
        help="targets, or a group: " + ", ".join(GROUPS),
    )
    parser.add_argument("--name", default="mams", help="<out>/<name>.{json,md,png}")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--chains", type=int, default=16, help="chains, every sampler")
    parser.add_argument("--warmup", type=int, default=1000, help="NUTS warm-up")
    parser.add_argument("--draws", type=int, default=1000, help="BlackJAX and NUTS draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--bjx-frac-tune3",
        type=float,
        default=0.0,
        help="BlackJAX adjusted tuner's L stage (its default and the sampling book's: 0)",
    )
    parser.add_argument(
        "--isolate",
        type=float,
        default=None,
        metavar="SECONDS",
        help="each (target, sampler) in a fresh process, stopped after SECONDS",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, print, write nothing")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    args.jl_settings = {}
    if args.quick and args.isolate:
        parser.error("--isolate runs full sizes in fresh processes; --quick prints in this one")
    if args.quick:
        args.chains, args.warmup, args.draws = 4, 60, 60
        args.jl_settings = {"num_warmup": 60, "num_draws": 60}
        args.only = args.only or ["gym-banana"]
    args.only = args.only or [*POSTERIORDB_DEFAULT, *gym_targets.TARGETS]
    args.only = [n for name in args.only for n in GROUPS.get(name, [name])]
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run, print the table; save it (not with ``--quick``)."""
    args = parse(argv)
    t0 = time.perf_counter()

    def write(rows: list[dict[str, Any]], notes: dict[str, str], final: bool = False) -> None:
        total = time.perf_counter() - t0
        env = environment()
        table = markdown(rows, notes, args, env, total)
        done = len({r["target"] for r in rows})
        if not final:  # a run cut short leaves this on file
            table += f"\n\n**Partial**: {done} of {len(args.only)} targets so far."
        report = {
            "environment": env,
            "settings": dict(vars(args), out=args.out.name),  # the folder's name, no host path
            "total_seconds": total,
            "complete": final,
            "rows": rows,
        }
        save_to(args.out, report, table, plot(rows) if final else None, args.name)
        if final:
            print(table)

    rows, notes = benchmark(args, None if args.quick else write)
    if args.quick:
        print(markdown(rows, notes, args, environment(), time.perf_counter() - t0))
    else:
        write(rows, notes, final=True)
    return rows


if __name__ == "__main__":
    main()
