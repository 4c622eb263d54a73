"""Bad arguments of the warm-up and its pieces: clear errors naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin import adaptation
from jlangevin.adaptation import metric, trajectory
from jlangevin.kernels import malt

KEY = jax.random.key(0)
X0 = jnp.zeros((2, 3))


def logp(x):
    return -0.5 * jnp.sum(x**2)


def _call(kernel=jl.mala, *, key=KEY, fn=logp, positions=X0, num_steps=30, **options):
    return lambda: adaptation.warmup(key, kernel, fn, positions, num_steps, **options)


def _malt(**options):
    return _call(jl.malt, **options)


def _dynamic(num_steps, gamma):
    return lambda: malt.dynamic_step(
        KEY, malt.init(jnp.zeros(2), logp), logp, 0.1, num_steps, gamma
    )


CASES = [
    # kernel
    Case("kernel not tunable (ula)", _call(jl.ula), TypeError, "kernel"),
    Case("kernel a number", _call(3), TypeError, "kernel"),
    Case("kernel unknown name", _call("nuts"), ValueError, "kernel"),
    Case("kernel name of an approximate kernel", _call("ula"), ValueError, "kernel"),
    # key, logdensity_fn, score_fn, bounds
    Case("key an int", _call(key=0), TypeError, "key"),
    Case("logdensity_fn not callable", _call(fn=None), TypeError, "logdensity_fn"),
    Case("logdensity_fn a number", _call(fn=3.0), TypeError, "logdensity_fn"),
    Case("score_fn not callable", _call(score_fn=1.0), TypeError, "score_fn"),
    Case("bounds reversed", _call(bounds=(1.0, 0.0)), ValueError, "bounds"),
    Case(
        "positions outside bounds",
        _call(positions=X0 + 2.0, bounds=(-1.0, 1.0)),
        ValueError,
        "bounds",
    ),
    Case(
        "bounds with dense malt",
        _malt(preconditioner="dense", bounds=(-5.0, 5.0)),
        ValueError,
        "bounds",
    ),
    # num_steps
    Case("num_steps below 20", _call(num_steps=10), ValueError, "num_steps"),
    Case("num_steps float", _call(num_steps=100.0), TypeError, "num_steps"),
    Case("num_steps bool", _call(num_steps=True), TypeError, "num_steps"),
    Case("num_steps string", _call(num_steps="100"), TypeError, "num_steps"),
    Case("num_steps negative", _call(num_steps=-5), ValueError, "num_steps"),
    # positions
    Case("positions a scalar", _call(positions=jnp.zeros(())), ValueError, "positions"),
    Case(
        "positions leading axes differ",
        _call(positions={"a": jnp.zeros((2, 1)), "b": jnp.zeros((3, 1))}),
        ValueError,
        "positions",
    ),
    Case("positions no chains", _call(positions=jnp.zeros((0, 3))), ValueError, "positions"),
    Case(
        "positions integer",
        _call(positions=jnp.zeros((2, 3), jnp.int32)),
        TypeError,
        "positions",
    ),
    Case("positions NaN", _call(positions=X0.at[1, 2].set(jnp.nan)), ValueError, "positions"),
    Case("positions inf", _call(positions=X0.at[0, 0].set(jnp.inf)), ValueError, "positions"),
    Case(
        "positions where the log density is not finite",
        _call(fn=lambda x: jnp.log(x[0]), positions=jnp.zeros((2, 3))),
        ValueError,
        "position",
    ),
    # target_acceptance
    Case(
        "target_acceptance above 1", _call(target_acceptance=1.2), ValueError, "target_acceptance"
    ),
    Case("target_acceptance 1", _call(target_acceptance=1.0), ValueError, "target_acceptance"),
    Case(
        "target_acceptance zero",
        _call(target_acceptance=np.float32(0.0)),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "target_acceptance NaN",
        _call(target_acceptance=float("nan")),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "target_acceptance a list", _call(target_acceptance=[0.5]), TypeError, "target_acceptance"
    ),
    Case(
        "target_acceptance a string", _call(target_acceptance="0.5"), TypeError, "target_acceptance"
    ),
    # initial_step_size
    Case(
        "initial_step_size negative", _call(initial_step_size=-1.0), ValueError, "initial_step_size"
    ),
    Case("initial_step_size zero", _call(initial_step_size=0.0), ValueError, "initial_step_size"),
    Case("initial_step_size inf", _call(initial_step_size=np.inf), ValueError, "initial_step_size"),
    Case("initial_step_size None", _call(initial_step_size=None), TypeError, "initial_step_size"),
    # preconditioner
    Case("preconditioner unknown", _call(preconditioner="full"), ValueError, "preconditioner"),
    Case("preconditioner upper case", _call(preconditioner="Dense"), ValueError, "preconditioner"),
    Case("preconditioner not a string", _call(preconditioner=2), ValueError, "preconditioner"),
    Case("preconditioner None", _call(preconditioner=None), ValueError, "preconditioner"),
    Case(
        "preconditioner dense for a kernel without a metric",
        _call(jl.kernels.mala.tuning._replace(tunes=("step_size",)), preconditioner="dense"),
        ValueError,
        "preconditioner",
    ),
    Case(
        "preconditioner low_rank for a kernel without it (mala)",
        _call(preconditioner="low_rank"),
        ValueError,
        "preconditioner",
    ),
    Case(
        "preconditioner low_rank for a kernel without a metric",
        _call(
            jl.kernels.malt.tuning._replace(tunes=("step_size", "trajectory")),
            preconditioner="low_rank",
        ),
        ValueError,
        "preconditioner",
    ),
    Case(
        "bounds with low_rank malt",
        _malt(preconditioner="low_rank", bounds=(-5.0, 5.0)),
        ValueError,
        "bounds",
    ),
    # shrinkage
    Case(
        "shrinkage above 1", _call(preconditioner="dense", shrinkage=2.0), ValueError, "shrinkage"
    ),
    Case("shrinkage negative", _call(shrinkage=-0.1), ValueError, "shrinkage"),
    Case("shrinkage NaN", _call(shrinkage=np.nan), ValueError, "shrinkage"),
    Case("shrinkage a string", _call(shrinkage="0.1"), TypeError, "shrinkage"),
    # restart_chains
    Case("restart_chains a string", _call(restart_chains="yes"), TypeError, "restart_chains"),
    Case("restart_chains an int", _call(restart_chains=1), TypeError, "restart_chains"),
    Case("restart_chains None", _call(restart_chains=None), TypeError, "restart_chains"),
    # trajectory, max_integration_steps
    Case("trajectory for mala", _call(trajectory="chees"), ValueError, "trajectory"),
    Case("trajectory for barker", _call(jl.barker, trajectory="meads"), ValueError, "trajectory"),
    Case(
        "max_integration_steps for mala",
        _call(max_integration_steps=8),
        ValueError,
        "max_integration_steps",
    ),
    Case("trajectory unknown", _malt(trajectory="nuts"), ValueError, "trajectory"),
    Case("trajectory upper case", _malt(trajectory="ChEES"), ValueError, "trajectory"),
    Case("trajectory not a string", _malt(trajectory=1), TypeError, "trajectory"),
    Case(
        "max_integration_steps 0",
        _malt(max_integration_steps=0),
        ValueError,
        "max_integration_steps",
    ),
    Case(
        "max_integration_steps float",
        _malt(max_integration_steps=8.0),
        TypeError,
        "max_integration_steps",
    ),
    Case(
        "max_integration_steps bool",
        _malt(max_integration_steps=True),
        TypeError,
        "max_integration_steps",
    ),
    # names that are not options (adapted values, other libraries' names)
    Case("unknown option", _call(mass_matrix="dense"), TypeError, "mass_matrix"),
    Case("adapted step_size", _call(step_size=0.1), TypeError, "step_size"),
    Case(
        "adapted num_integration_steps",
        _malt(num_integration_steps=3),
        TypeError,
        "num_integration_steps",
    ),
    # MALT's traced trajectory (the step the warm-up runs)
    Case(
        "traced L not an integer",
        lambda: jax.jit(lambda n: _dynamic(n, 1.0)())(jnp.float32(3.0)),
        TypeError,
        "num_integration_steps",
    ),
    Case("static L zero", _dynamic(0, 1.0), ValueError, "num_integration_steps"),
    Case("dynamic gamma negative", _dynamic(3, -1.0), ValueError, "gamma"),
    # the pieces
    Case(
        "window_schedule negative buffer",
        lambda: adaptation.window_schedule(500, initial_buffer=-1),
        ValueError,
        "initial_buffer",
    ),
    Case(
        "window_schedule negative final buffer",
        lambda: adaptation.window_schedule(500, final_buffer=-1),
        ValueError,
        "final_buffer",
    ),
    Case(
        "window_schedule zero base window",
        lambda: adaptation.window_schedule(500, base_window=0),
        ValueError,
        "base_window",
    ),
    Case(
        "dual_averaging_init non-positive step",
        lambda: adaptation.dual_averaging_init(jnp.asarray(0.0)),
        ValueError,
        "step_size",
    ),
    Case(
        "dual_averaging_init a vector",
        lambda: adaptation.dual_averaging_init(jnp.ones(2)),
        ValueError,
        "step_size",
    ),
    Case(
        "dual_averaging_update target outside (0, 1)",
        lambda: adaptation.dual_averaging_update(
            adaptation.dual_averaging_init(jnp.asarray(1.0)), jnp.asarray(0.5), 1.5
        ),
        ValueError,
        "target",
    ),
    Case(
        "dual_averaging_update not a state",
        lambda: adaptation.dual_averaging_update((0.0, 0.0), jnp.asarray(0.5), 0.5),
        TypeError,
        "state",
    ),
    Case(
        "dual_averaging_update acceptance a vector",
        lambda: adaptation.dual_averaging_update(
            adaptation.dual_averaging_init(jnp.asarray(1.0)), jnp.ones(3), 0.5
        ),
        ValueError,
        "acceptance",
    ),
    Case(
        "welford_init dim zero",
        lambda: adaptation.welford_init(0, False, jnp.float32),
        ValueError,
        "dim",
    ),
    Case(
        "welford_init integer dtype",
        lambda: adaptation.welford_init(3, False, jnp.int32),
        TypeError,
        "dtype",
    ),
    Case(
        "welford_init dense not a bool",
        lambda: adaptation.welford_init(3, "yes", jnp.float32),
        TypeError,
        "dense",
    ),
    Case(
        "welford_update draws of the wrong width",
        lambda: adaptation.welford_update(
            adaptation.welford_init(3, False, jnp.float32), jnp.zeros((4, 2))
        ),
        ValueError,
        "draws",
    ),
    Case(
        "welford_update not sums",
        lambda: adaptation.welford_update((0.0, 0.0, 0.0), jnp.zeros((4, 3))),
        TypeError,
        "stats",
    ),
    Case(
        "regularized_covariance shrinkage negative",
        lambda: adaptation.regularized_covariance(
            adaptation.welford_init(3, True, jnp.float32), -0.1
        ),
        ValueError,
        "shrinkage",
    ),
    Case(
        "geometric_mean_metric shapes differ",
        lambda: adaptation.geometric_mean_metric(jnp.eye(3), jnp.eye(2)),
        ValueError,
        "cov_scores",
    ),
    Case(
        "geometric_mean_metric not square",
        lambda: adaptation.geometric_mean_metric(jnp.ones((3, 2)), jnp.ones((3, 2))),
        ValueError,
        "cov_draws",
    ),
    Case(
        "stable_cholesky not square",
        lambda: metric.stable_cholesky(jnp.ones((3, 2))),
        ValueError,
        "matrix",
    ),
    Case(
        "check_trajectory unknown",
        lambda: trajectory.check_trajectory("nuts"),
        ValueError,
        "trajectory",
    ),
    Case(
        "resolve_kernel a module without a declaration",
        lambda: adaptation.resolve_kernel(jl.kernels.ula),
        TypeError,
        "kernel",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
