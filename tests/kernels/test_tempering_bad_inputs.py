"""Bad inputs to parallel tempering: each raises at construction and names its argument."""

import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.kernels import tempering

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
BETAS = [1.0, 0.5, 0.1]


def pt(**kwargs):
    settings = {"betas": BETAS, "step_size": 0.1, **kwargs}
    return lambda: tempering.sampler(LOGP, **settings)


def _init_with(kernel):
    return lambda: tempering.sampler(LOGP, BETAS, kernel=kernel).init(jnp.zeros(2))


class _NoLogDensity(tuple):
    position = property(lambda self: self[0])


CASES = [
    Case(
        "logdensity_fn not callable",
        lambda: tempering.sampler(1.0, BETAS, 0.1),
        TypeError,
        "logdensity_fn",
    ),
    Case("betas scalar", pt(betas=1.0), ValueError, "betas"),
    Case("betas 2-D", pt(betas=[[1.0, 0.5]]), ValueError, "betas"),
    Case("betas one rung", pt(betas=[1.0]), ValueError, "betas"),
    Case("betas not starting at 1", pt(betas=[0.9, 0.5]), ValueError, "betas"),
    Case("betas increasing", pt(betas=[1.0, 0.5, 0.7]), ValueError, "betas"),
    Case("betas repeated", pt(betas=[1.0, 0.5, 0.5]), ValueError, "betas"),
    Case("betas zero", pt(betas=[1.0, 0.0]), ValueError, "betas"),
    Case("betas negative", pt(betas=[1.0, -0.5]), ValueError, "betas"),
    Case("betas nan", pt(betas=[1.0, np.nan]), ValueError, "betas"),
    Case("betas inf", pt(betas=np.array([np.inf, 1.0])), ValueError, "betas"),
    Case("betas bool", pt(betas=[True, False]), TypeError, "betas"),
    Case("betas complex", pt(betas=np.array([1.0, 0.5j])), TypeError, "betas"),
    Case("betas strings", pt(betas=["1", "0.5"]), TypeError, "betas"),
    Case("betas callable", pt(betas=lambda: [1.0, 0.5]), TypeError, "betas"),
    Case("betas None", pt(betas=None), TypeError, "betas"),
    Case("step_size missing", pt(step_size=None), ValueError, "step_size"),
    Case("step_size negative", pt(step_size=-0.1), ValueError, "step_size"),
    Case("step_size nan", pt(step_size=np.nan), ValueError, "step_size"),
    Case(
        "step_size with kernel",
        pt(kernel=lambda f, b: jl.mala(f, step_size=0.1)),
        ValueError,
        "step_size",
    ),
    Case("kernel not callable", pt(step_size=None, kernel="mala"), TypeError, "kernel"),
    # uncorrected kernels of the package: swaps between biased replicas are not exact
    Case(
        "kernel ULA (inexact)",
        pt(step_size=None, kernel=lambda f, b: jl.ula(f, step_size=0.1 / b)),
        ValueError,
        "`kernel` must build an exact",
    ),
    Case(
        "kernel SGLD (inexact)",
        pt(step_size=None, kernel=lambda f, b: jl.sgld(jl.gradients.full(f), step_size=0.1)),
        ValueError,
        "`kernel` must build an exact",
    ),
    Case(
        "kernel underdamped (inexact)",
        pt(step_size=None, kernel=lambda f, b: jl.underdamped(f, step_size=0.1, gamma=1.0)),
        ValueError,
        "`kernel` must build an exact",
    ),
    Case(
        "kernel MCLMC (inexact)",
        pt(
            step_size=None,
            kernel=lambda f, b: jl.kernels.mclmc.sampler(f, 0.1, decoherence_length=1.0),
        ),
        ValueError,
        "`kernel` must build an exact",
    ),
    Case("kernel a bare constructor", pt(step_size=None, kernel=jl.mala), TypeError, "kernel"),
    Case(
        "kernel returns no sampler", pt(step_size=None, kernel=lambda f, b: f), TypeError, "kernel"
    ),
    Case(
        "kernel state without logdensity",
        _init_with(
            lambda f, b: jl.Sampler(init=lambda x: _NoLogDensity((x,)), step=lambda k, s: (s, ()))
        ),
        TypeError,
        "kernel",
    ),
    Case("rung_scales wrong length", pt(rung_scales=[1.0, 2.0]), ValueError, "rung_scales"),
    Case("rung_scales negative", pt(rung_scales=[1.0, -2.0, 10.0]), ValueError, "rung_scales"),
    Case("rung_scales nan", pt(rung_scales=[1.0, np.nan, 10.0]), ValueError, "rung_scales"),
    Case("rung_scales strings", pt(rung_scales=["1", "2", "3"]), TypeError, "rung_scales"),
    Case(
        "rung_scales with kernel",
        pt(step_size=None, kernel=lambda f, b: jl.mala(f, step_size=0.1), rung_scales=[1, 2, 3]),
        ValueError,
        "rung_scales",
    ),
    Case("swap_every zero", pt(swap_every=0), ValueError, "swap_every"),
    Case("swap_every float", pt(swap_every=2.0), TypeError, "swap_every"),
    Case("swap_every bool", pt(swap_every=True), TypeError, "swap_every"),
    Case("geometric_betas num 1", lambda: tempering.geometric_betas(1, 0.1), ValueError, "num"),
    Case(
        "geometric_betas num float", lambda: tempering.geometric_betas(4.0, 0.1), TypeError, "num"
    ),
    Case(
        "geometric_betas beta_min 0",
        lambda: tempering.geometric_betas(4, 0.0),
        ValueError,
        "beta_min",
    ),
    Case(
        "geometric_betas beta_min 1",
        lambda: tempering.geometric_betas(4, 1.0),
        ValueError,
        "beta_min",
    ),
    Case(
        "geometric_betas beta_min nan",
        lambda: tempering.geometric_betas(4, np.nan),
        ValueError,
        "beta_min",
    ),
    Case(
        "geometric_betas beta_min str",
        lambda: tempering.geometric_betas(4, "0.1"),
        TypeError,
        "beta_min",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


@pytest.mark.parametrize(
    "betas", [np.array([1.0, 0.5]), [1, 0.5], (1.0, np.float32(0.25)), jnp.asarray([1.0, 0.1])]
)
def test_good_ladders_are_accepted(betas):
    assert tempering.check_betas(betas).dtype == np.float64


@pytest.mark.parametrize(
    "kernel",
    [
        lambda f, b: jl.mala(f, step_size=0.1 / b),
        lambda f, b: jl.barker(f, step_size=0.5),
        lambda f, b: jl.malt(f, step_size=0.1, num_integration_steps=2, gamma=1.0),
        lambda f, b: jl.kernels.mams.sampler(f, 0.1, num_integration_steps=2),
    ],
    ids=["mala", "barker", "malt", "mams"],
)
def test_exact_kernels_of_the_package_are_accepted(kernel):
    state = tempering.sampler(LOGP, BETAS, kernel=kernel).init(jnp.zeros(2))
    assert state.ladder.logdensity.shape == (3,)


def test_a_kernel_from_outside_the_package_is_trusted():
    """A wrapper defined here (not recognisable as inexact) is accepted, as documented."""

    def outside(f, beta):
        inner = jl.mala(f, step_size=0.1 / beta)
        return jl.Sampler(init=inner.init, step=lambda key, state: inner.step(key, state))

    assert tempering.sampler(LOGP, BETAS, kernel=outside).init(jnp.zeros(2)).count == 0
