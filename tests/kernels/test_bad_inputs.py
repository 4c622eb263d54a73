"""Bad input to the kernels and schedules: a clear error naming the argument.

Every row is a call that must raise the given error type with the argument's
name in the message (``tests/bad_inputs.py``), at construction, at ``init`` or
at the call, never from inside XLA. Faults that can only show during a run are
counted instead (``tests/kernels/test_faults.py``), which also holds the numpy
and JAX scalars and the lists that must be accepted.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin import schedules
from jlangevin.kernels import annealed, mala, sgld, ula

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
SCORE = lambda x: -x  # noqa: E731
NOISY_SCORE = lambda x, s: -x / (1.0 + s**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)
FULL = jl.gradients.full(LOGP)


def _run(sampler, positions=None, steps=3):
    positions = jnp.zeros((2, 2)) if positions is None else positions
    return jl.run(KEY, sampler, positions, steps)


def _ula_step(**kwargs):
    settings = {"step_size": 0.1, **kwargs}
    return ula.step(KEY, ula.init(X2, LOGP), LOGP, **settings)


def _mala_step(**kwargs):
    settings = {"step_size": 0.1, **kwargs}
    return mala.step(KEY, mala.init(X2, LOGP), LOGP, **settings)


def _sgld_step(**kwargs):
    settings = {"step_size": 0.1, **kwargs}
    return sgld.step(KEY, sgld.init(X2, FULL), FULL, **settings)


def _annealed(sigmas=(1.0, 0.5), step_scale=0.01, steps_per_level=5, **kwargs):
    return jl.annealed_langevin(NOISY_SCORE, sigmas, step_scale, steps_per_level, **kwargs)


def _call_annealed(score_fn, positions):
    return jl.annealed_langevin(score_fn, [1.0, 0.5], 0.01, 2)(KEY, positions)


CASES = [
    # --- ULA: step sizes -------------------------------------------------------------
    Case("ula step_size negative", lambda: jl.ula(LOGP, step_size=-0.1), ValueError, "step_size"),
    Case("ula step_size zero", lambda: jl.ula(LOGP, step_size=0.0), ValueError, "step_size"),
    Case("ula step_size nan", lambda: jl.ula(LOGP, step_size=np.nan), ValueError, "step_size"),
    Case("ula step_size inf", lambda: jl.ula(LOGP, step_size=np.inf), ValueError, "step_size"),
    Case("ula step_size missing", lambda: jl.ula(LOGP), ValueError, "step_size"),
    Case("ula step_size complex", lambda: jl.ula(LOGP, step_size=0.1 + 0j), TypeError, "step_size"),
    Case(
        "ula step_size complex array",
        lambda: jl.ula(LOGP, step_size=jnp.asarray([0.1, 0.2], jnp.complex64)),
        TypeError,
        "step_size",
    ),
    Case("ula step_size string", lambda: jl.ula(LOGP, step_size="0.1"), TypeError, "step_size"),
    Case("ula step_size bool", lambda: jl.ula(LOGP, step_size=True), TypeError, "step_size"),
    Case(
        "ula step_size one coordinate negative",
        lambda: jl.ula(LOGP, step_size=[0.1, -0.1]),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule negative at 0",
        lambda: jl.ula(LOGP, step_size=lambda t: -1.0 + 0 * t),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule turns negative",
        lambda: jl.ula(LOGP, step_size=lambda t: 0.1 - 0.01 * t),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule nan at count 5",
        lambda: jl.ula(LOGP, step_size=lambda t: jnp.where(t == 5, jnp.nan, 0.1)),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule raises",
        lambda: jl.ula(LOGP, step_size=lambda t: t.no_such_thing),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule not traceable",
        lambda: jl.ula(LOGP, step_size=lambda t: 0.1 if t < 10 else 0.05),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule complex",
        lambda: jl.ula(LOGP, step_size=lambda t: 0.1 + 0j * t),
        TypeError,
        "step_size",
    ),
    Case(
        "ula step_size shape vs position at init",
        lambda: jl.ula(LOGP, step_size=jnp.full(3, 0.1)).init(X2),
        ValueError,
        "step_size",
    ),
    Case(
        "ula step_size (2, 1) against (2,) at init",
        lambda: jl.ula(LOGP, step_size=jnp.full((2, 1), 0.1)).init(X2),
        ValueError,
        "step_size",
    ),
    Case(
        "ula step_size (2, 1) in jl.run",
        lambda: _run(jl.ula(LOGP, step_size=jnp.full((2, 1), 0.1))),
        ValueError,
        "step_size",
    ),
    Case(
        "ula schedule of the wrong shape at init",
        lambda: jl.ula(LOGP, step_size=lambda t: jnp.full(3, 0.1) + 0 * t).init(X2),
        ValueError,
        "step_size",
    ),
    Case(
        "ula step_size pytree of the wrong structure at init",
        lambda: jl.ula(LOGP, step_size={"a": 0.1, "b": 0.2}).init(X2),
        ValueError,
        "step_size",
    ),
    # --- ULA: score_clip, bounds -----------------------------------------------------
    Case("ula score_clip -1", lambda: jl.ula(LOGP, 0.1, score_clip=-1.0), ValueError, "score_clip"),
    Case("ula score_clip 0", lambda: jl.ula(LOGP, 0.1, score_clip=0), ValueError, "score_clip"),
    Case(
        "ula score_clip nan", lambda: jl.ula(LOGP, 0.1, score_clip=np.nan), ValueError, "score_clip"
    ),
    Case(
        "ula score_clip complex", lambda: jl.ula(LOGP, 0.1, score_clip=1j), TypeError, "score_clip"
    ),
    Case(
        "ula score_clip shape at init",
        lambda: jl.ula(LOGP, 0.1, score_clip=jnp.ones(3)).init(X2),
        ValueError,
        "score_clip",
    ),
    Case(
        "ula bounds shape at init",
        lambda: jl.ula(LOGP, 0.1, bounds=(-jnp.ones(3), 1.0)).init(X2),
        ValueError,
        "bounds",
    ),
    Case(
        "ula bounds shape in jl.run",
        lambda: _run(jl.ula(LOGP, 0.1, bounds=(-1.0, jnp.ones(3)))),
        ValueError,
        "bounds",
    ),
    Case("ula bounds nan", lambda: jl.ula(LOGP, 0.1, bounds=(np.nan, 1.0)), ValueError, "bounds"),
    Case("ula bounds complex", lambda: jl.ula(LOGP, 0.1, bounds=(-1j, 1.0)), TypeError, "bounds"),
    Case("ula bounds crossed", lambda: jl.ula(LOGP, 0.1, bounds=(1.0, -1.0)), ValueError, "bounds"),
    Case("ula bounds not a pair", lambda: jl.ula(LOGP, 0.1, bounds=(0.0,)), ValueError, "bounds"),
    Case(
        "ula boundary mode",
        lambda: jl.ula(LOGP, 0.1, bounds=(0.0, 1.0), boundary="wrap"),
        ValueError,
        "boundary",
    ),
    # --- ULA: the target and the start -----------------------------------------------
    Case(
        "ula integer log density",
        lambda: _run(jl.ula(lambda x: jnp.sum(x > 0).astype(jnp.int32), 0.1)),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "ula complex log density",
        lambda: ula.init(X2, lambda x: jnp.sum(x) + 0j),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "ula vector log density",
        lambda: ula.init(X2, lambda x: -(x**2)),
        ValueError,
        "logdensity_fn",
    ),
    Case("ula log density not callable", lambda: jl.ula("logp", 0.1), TypeError, "logdensity_fn"),
    Case(
        "ula score of the wrong shape",
        lambda: ula.init(X2, score_fn=lambda x: jnp.zeros(3)),
        ValueError,
        "score_fn",
    ),
    Case(
        "ula integer score",
        lambda: ula.init(X2, score_fn=lambda x: jnp.zeros(2, jnp.int32)),
        TypeError,
        "score_fn",
    ),
    Case(
        "ula NaN start with a score only",
        lambda: ula.init(jnp.full(2, jnp.nan), score_fn=SCORE),
        ValueError,
        "position",
    ),
    Case(
        "ula -inf score at the start",
        lambda: ula.init(X2, score_fn=lambda x: jnp.full_like(x, -jnp.inf)),
        ValueError,
        "position",
    ),
    Case("ula integer position", lambda: ula.init(jnp.zeros(2, int), LOGP), TypeError, "position"),
    Case(
        "ula complex position",
        lambda: ula.init(jnp.zeros(2, jnp.complex64), LOGP),
        TypeError,
        "position",
    ),
    # --- ULA: the low-level step -----------------------------------------------------
    Case("ula.step step_size negative", lambda: _ula_step(step_size=-0.1), ValueError, "step_size"),
    Case(
        "ula.step step_size shape",
        lambda: _ula_step(step_size=jnp.ones((2, 1))),
        ValueError,
        "step_size",
    ),
    Case("ula.step score_clip 0", lambda: _ula_step(score_clip=0.0), ValueError, "score_clip"),
    Case(
        "ula.step bounds shape",
        lambda: _ula_step(bounds=(jnp.full(3, -1.0), 1.0)),
        ValueError,
        "bounds",
    ),
    Case("ula.step boundary", lambda: _ula_step(boundary="torus"), ValueError, "boundary"),
    # --- MALA ------------------------------------------------------------------------
    Case("mala step_size negative", lambda: jl.mala(LOGP, -0.5), ValueError, "step_size"),
    Case("mala step_size complex", lambda: jl.mala(LOGP, 0.5j), TypeError, "step_size"),
    Case(
        "mala schedule turns zero",
        lambda: jl.mala(LOGP, lambda t: jnp.where(t < 50, 0.1, 0.0)),
        ValueError,
        "step_size",
    ),
    Case("mala score_clip 0", lambda: jl.mala(LOGP, 0.5, score_clip=0.0), ValueError, "score_clip"),
    Case(
        "mala score_clip nan",
        lambda: jl.mala(LOGP, 0.5, score_clip=float("nan")),
        ValueError,
        "score_clip",
    ),
    Case("mala without log density", lambda: jl.mala(None, 0.5), TypeError, "logdensity_fn"),
    Case(
        "mala integer log density",
        lambda: mala.init(X2, lambda x: jnp.int32(1)),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "mala complex log density in jl.run",
        lambda: _run(jl.mala(lambda x: jnp.sum(x) * (1 + 1j), 0.5)),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "mala step_size shape vs position",
        lambda: jl.mala(LOGP, jnp.full(3, 0.5)).init(X2),
        ValueError,
        "step_size",
    ),
    Case(
        "mala cholesky not lower triangular (a covariance)",
        lambda: jl.mala(LOGP, 0.5, cholesky=jnp.asarray([[2.0, 0.5], [0.5, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "mala.step cholesky upper triangular",
        lambda: _mala_step(cholesky=jnp.asarray([[1.0, 0.3], [0.0, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "mala cholesky NaN above the diagonal",
        lambda: jl.mala(LOGP, 0.5, cholesky=np.array([[1.0, np.nan], [0.2, 1.0]])),
        ValueError,
        "`cholesky` must be lower triangular",
    ),
    Case(
        "mala cholesky not square",
        lambda: jl.mala(LOGP, 0.5, cholesky=jnp.ones((2, 3))),
        ValueError,
        "cholesky",
    ),
    Case(
        "mala cholesky size vs position",
        lambda: jl.mala(LOGP, 0.5, cholesky=jnp.eye(3)).init(X2),
        ValueError,
        "cholesky",
    ),
    Case(
        "mala cholesky complex",
        lambda: jl.mala(LOGP, 0.5, cholesky=jnp.eye(2, dtype=jnp.complex64)),
        TypeError,
        "cholesky",
    ),
    Case(
        "mala cholesky with an array step",
        lambda: jl.mala(LOGP, jnp.full(2, 0.5), cholesky=jnp.eye(2)),
        ValueError,
        "step_size",
    ),
    Case(
        "mala bounds shape at init",
        lambda: jl.mala(LOGP, 0.5, bounds=(-1.0, jnp.ones(5))).init(X2),
        ValueError,
        "bounds",
    ),
    Case("mala.init without log density", lambda: mala.init(X2, None), ValueError, "logdensity_fn"),
    Case(
        "mala.init NaN start", lambda: mala.init(jnp.full(2, jnp.nan), LOGP), ValueError, "position"
    ),
    Case(
        "mala.init -inf score at the start",
        lambda: mala.init(X2, LOGP, score_fn=lambda x: jnp.full_like(x, -jnp.inf)),
        ValueError,
        "position",
    ),
    Case(
        "mala.step step_size shape",
        lambda: _mala_step(step_size=jnp.ones(4)),
        ValueError,
        "step_size",
    ),
    Case("mala.step score_clip -1", lambda: _mala_step(score_clip=-1.0), ValueError, "score_clip"),
    # --- SGLD / pSGLD ----------------------------------------------------------------
    Case("sgld step_size negative", lambda: jl.sgld(LOGP, -1e-3), ValueError, "step_size"),
    Case(
        "sgld schedule nan later",
        lambda: jl.sgld(LOGP, lambda t: jnp.where(t > 20, jnp.nan, 1e-3)),
        ValueError,
        "step_size",
    ),
    Case(
        "sgld temperature negative",
        lambda: jl.sgld(LOGP, 0.1, temperature=-1.0),
        ValueError,
        "temperature",
    ),
    Case(
        "sgld temperature nan",
        lambda: jl.sgld(LOGP, 0.1, temperature=np.nan),
        ValueError,
        "temperature",
    ),
    Case(
        "sgld temperature array",
        lambda: jl.sgld(LOGP, 0.1, temperature=jnp.ones(2)),
        ValueError,
        "temperature",
    ),
    Case(
        "sgld temperature complex",
        lambda: jl.sgld(LOGP, 0.1, temperature=1j),
        TypeError,
        "temperature",
    ),
    Case(
        "sgld score_clip -1", lambda: jl.sgld(LOGP, 0.1, score_clip=-1.0), ValueError, "score_clip"
    ),
    Case(
        "sgld preconditioner type",
        lambda: jl.sgld(LOGP, 0.1, preconditioner="rmsprop"),
        TypeError,
        "preconditioner",
    ),
    Case(
        "psgld decay 1",
        lambda: jl.sgld(LOGP, 0.1, preconditioner=jl.RMSProp(decay=1.0)),
        ValueError,
        "decay",
    ),
    Case(
        "psgld eps 0",
        lambda: jl.sgld(LOGP, 0.1, preconditioner=jl.RMSProp(eps=0.0)),
        ValueError,
        "eps",
    ),
    Case(
        "psgld freeze_after 0",
        lambda: jl.sgld(LOGP, 0.1, preconditioner=jl.RMSProp(freeze_after=0)),
        ValueError,
        "freeze_after",
    ),
    Case(
        "psgld freeze_after 2.5",
        lambda: jl.sgld(LOGP, 0.1, preconditioner=jl.RMSProp(freeze_after=2.5)),
        TypeError,
        "freeze_after",
    ),
    Case("sgld estimator not callable", lambda: jl.sgld(3.0, 0.1), TypeError, "gradient_estimator"),
    Case(
        "sgld integer log density",
        lambda: jl.sgld(lambda x: jnp.int32(0), 0.1).init(X2),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "sgld score of the wrong shape",
        lambda: jl.sgld(score_fn=lambda x: jnp.zeros(5), step_size=0.1).init(X2),
        ValueError,
        "score_fn",
    ),
    Case(
        "sgld step_size shape vs position",
        lambda: jl.sgld(LOGP, jnp.full(3, 0.1)).init(X2),
        ValueError,
        "step_size",
    ),
    Case("sgld.init without estimator", lambda: sgld.init(X2), TypeError, "gradient_estimator"),
    Case(
        "sgld.init NaN start", lambda: sgld.init(jnp.full(2, jnp.nan), FULL), ValueError, "position"
    ),
    Case(
        "sgld.step temperature 0",
        lambda: _sgld_step(temperature=0.0),
        ValueError,
        "temperature",
    ),
    Case(
        "sgld.step step_size shape",
        lambda: _sgld_step(step_size=jnp.ones((3, 2))),
        ValueError,
        "step_size",
    ),
    # --- annealed Langevin -----------------------------------------------------------
    Case("annealed sigmas increasing", lambda: _annealed([0.5, 1.0]), ValueError, "sigmas"),
    Case("annealed sigmas equal", lambda: _annealed([1.0, 1.0]), ValueError, "sigmas"),
    Case("annealed sigmas zero", lambda: _annealed([1.0, 0.0]), ValueError, "sigmas"),
    Case("annealed sigmas nan", lambda: _annealed([np.nan, 0.5]), ValueError, "sigmas"),
    Case("annealed sigmas 2-D", lambda: _annealed([[1.0, 0.5]]), ValueError, "sigmas"),
    Case("annealed sigmas empty", lambda: _annealed([]), ValueError, "sigmas"),
    Case("annealed sigmas complex", lambda: _annealed([1.0 + 1j, 0.5]), TypeError, "sigmas"),
    Case("annealed sigmas strings", lambda: _annealed(["big", "small"]), TypeError, "sigmas"),
    Case(
        "annealed step_scale negative",
        lambda: _annealed(step_scale=-0.01),
        ValueError,
        "step_scale",
    ),
    Case("annealed step_scale nan", lambda: _annealed(step_scale=np.nan), ValueError, "step_scale"),
    Case(
        "annealed step_scale complex", lambda: _annealed(step_scale=0.01j), TypeError, "step_scale"
    ),
    Case("annealed step_scale bool", lambda: _annealed(step_scale=True), TypeError, "step_scale"),
    Case(
        "annealed steps_per_level 0",
        lambda: _annealed(steps_per_level=0),
        ValueError,
        "steps_per_level",
    ),
    Case(
        "annealed steps_per_level 2.5",
        lambda: _annealed(steps_per_level=2.5),
        TypeError,
        "steps_per_level",
    ),
    Case("annealed denoise not a bool", lambda: _annealed(denoise="yes"), TypeError, "denoise"),
    Case(
        "annealed score_fn not callable",
        lambda: jl.annealed_langevin(None, [1.0, 0.5], 0.01, 10),
        TypeError,
        "score_fn",
    ),
    Case(
        "annealed positions without a particle axis",
        lambda: _annealed()(KEY, jnp.zeros(())),
        ValueError,
        "positions",
    ),
    Case(
        "annealed integer positions",
        lambda: _annealed()(KEY, jnp.zeros((3, 2), jnp.int32)),
        TypeError,
        "positions",
    ),
    Case(
        "annealed score of the wrong shape",
        lambda: _call_annealed(lambda x, s: jnp.zeros(3), jnp.zeros((4, 2))),
        ValueError,
        "score_fn",
    ),
    Case(
        "annealed complex score",
        lambda: _call_annealed(lambda x, s: x * (1 + 1j), jnp.zeros((4, 2))),
        TypeError,
        "score_fn",
    ),
    Case(
        "annealed score failing on a particle",
        lambda: _call_annealed(lambda x, s: x @ jnp.ones((5, 5)), jnp.zeros((4, 2))),
        ValueError,
        "score_fn",
    ),
    Case(
        "annealed.sample steps_per_level 0",
        lambda: annealed.sample(KEY, jnp.zeros((3, 2)), NOISY_SCORE, [1.0, 0.5], 0.01, 0),
        ValueError,
        "steps_per_level",
    ),
    Case(
        "annealed.sample sigmas increasing",
        lambda: annealed.sample(KEY, jnp.zeros((3, 2)), NOISY_SCORE, [0.5, 1.0], 0.01, 3),
        ValueError,
        "sigmas",
    ),
    # --- schedules -------------------------------------------------------------------
    Case("constant negative", lambda: schedules.constant(-1.0), ValueError, "value"),
    Case("constant nan", lambda: schedules.constant(np.nan), ValueError, "value"),
    Case("constant complex", lambda: schedules.constant(0.1j), TypeError, "value"),
    Case("constant bool", lambda: schedules.constant(True), TypeError, "value"),
    Case("constant array", lambda: schedules.constant(jnp.ones(2)), TypeError, "value"),
    Case("polynomial a zero", lambda: schedules.polynomial(0.0, 1.0, 0.55), ValueError, "`a`"),
    Case("polynomial b negative", lambda: schedules.polynomial(0.1, -1.0, 0.55), ValueError, "`b`"),
    Case(
        "polynomial gamma negative",
        lambda: schedules.polynomial(0.1, 1.0, -0.5),
        ValueError,
        "gamma",
    ),
    Case(
        "polynomial gamma nan", lambda: schedules.polynomial(0.1, 1.0, np.nan), ValueError, "gamma"
    ),
    Case(
        "polynomial gamma string", lambda: schedules.polynomial(0.1, 1.0, "1/2"), TypeError, "gamma"
    ),
    Case(
        "cyclical num_cycles above num_steps",
        lambda: schedules.cyclical_cosine(0.1, 10, 20),
        ValueError,
        "num_cycles",
    ),
    Case(
        "cyclical num_steps 0",
        lambda: schedules.cyclical_cosine(0.1, 0, 1),
        ValueError,
        "num_steps",
    ),
    Case(
        "cyclical num_steps float",
        lambda: schedules.cyclical_cosine(0.1, 10.0, 2),
        TypeError,
        "num_steps",
    ),
    Case(
        "cyclical initial inf",
        lambda: schedules.cyclical_cosine(np.inf, 10, 2),
        ValueError,
        "initial",
    ),
    Case("geometric final zero", lambda: schedules.geometric(1.0, 0.0, 10), ValueError, "final"),
    Case(
        "geometric num_steps bool",
        lambda: schedules.geometric(1.0, 0.1, True),
        TypeError,
        "num_steps",
    ),
    Case(
        "geometric initial traced",
        lambda: jax.jit(lambda a: schedules.geometric(a, 0.1, 10)(0))(1.0),
        TypeError,
        "initial",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_cholesky_factors_that_are_lower_triangular_are_accepted():
    """``np.linalg.cholesky``'s factor, and round-off above the diagonal, pass the check."""
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    lower = np.linalg.cholesky(cov)
    jl.mala(LOGP, 0.5, cholesky=lower).init(X2)
    jl.barker(LOGP, 0.5, cholesky=jnp.asarray(lower, jnp.float32)).init(X2)
    round_off = lower + np.array([[0.0, 1e-15], [0.0, 0.0]])
    jl.mala(LOGP, 0.5, cholesky=round_off).init(X2)
    # the refusal points at the entry and at the fix
    with pytest.raises(ValueError, match=r"\[0, 1\] = 0.5 .* np\.linalg\.cholesky\(M\)"):
        jl.mala(LOGP, 0.5, cholesky=cov)
