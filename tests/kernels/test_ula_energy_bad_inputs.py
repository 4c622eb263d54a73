"""Bad input to ULA's energy-model settings: ``temperature``, ``order``, ``noise_scale``.

Each row must raise the given error naming the argument (``tests/bad_inputs.py``);
the last rows are the numpy/JAX scalars and lists that must be accepted.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.kernels import ula

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)
X2 = jnp.zeros(2)
NF = {"order": "noise_first"}


def _ula(**kwargs):
    return jl.ula(LOGP, step_size=0.1, **kwargs)


def _ula_step(**kwargs):
    return ula.step(KEY, ula.init(X2, LOGP), LOGP, 0.1, **kwargs)


def _ula_init(**kwargs):
    return _ula(**kwargs).init(X2)


CASES = [
    # --- temperature -------------------------------------------------------------------
    Case("ula temperature negative", lambda: _ula(temperature=-1.0), ValueError, "temperature"),
    Case("ula temperature zero", lambda: _ula(temperature=0.0), ValueError, "temperature"),
    Case("ula temperature nan", lambda: _ula(temperature=np.nan), ValueError, "temperature"),
    Case("ula temperature inf", lambda: _ula(temperature=np.inf), ValueError, "temperature"),
    Case("ula temperature string", lambda: _ula(temperature="1"), TypeError, "temperature"),
    Case("ula temperature bool", lambda: _ula(temperature=True), TypeError, "temperature"),
    Case("ula temperature complex", lambda: _ula(temperature=1j), TypeError, "temperature"),
    Case("ula temperature array", lambda: _ula(temperature=[1.0, 2.0]), ValueError, "temperature"),
    Case(
        "ula temperature callable",
        lambda: _ula(temperature=lambda t: 1.0),
        ValueError,
        "temperature",
    ),
    Case(
        "ula noise_first temperature negative",
        lambda: _ula(temperature=-0.5, **NF),
        ValueError,
        "temperature",
    ),
    Case(
        "ula.step temperature negative",
        lambda: _ula_step(temperature=-1.0),
        ValueError,
        "temperature",
    ),
    # --- order -------------------------------------------------------------------------
    Case("ula order unknown", lambda: _ula(order="noise_last"), ValueError, "order"),
    Case("ula order None", lambda: _ula(order=None), ValueError, "order"),
    Case("ula order int", lambda: _ula(order=1), ValueError, "order"),
    Case("ula.step order unknown", lambda: _ula_step(order="both"), ValueError, "order"),
    # --- noise_scale -------------------------------------------------------------------
    Case(
        "ula noise_scale negative", lambda: _ula(noise_scale=-0.1, **NF), ValueError, "noise_scale"
    ),
    Case("ula noise_scale zero", lambda: _ula(noise_scale=0.0, **NF), ValueError, "noise_scale"),
    Case("ula noise_scale nan", lambda: _ula(noise_scale=np.nan, **NF), ValueError, "noise_scale"),
    Case("ula noise_scale inf", lambda: _ula(noise_scale=np.inf, **NF), ValueError, "noise_scale"),
    Case("ula noise_scale string", lambda: _ula(noise_scale="0.1", **NF), TypeError, "noise_scale"),
    Case("ula noise_scale bool", lambda: _ula(noise_scale=True, **NF), TypeError, "noise_scale"),
    Case("ula noise_scale complex", lambda: _ula(noise_scale=0.1j, **NF), TypeError, "noise_scale"),
    Case(
        "ula noise_scale one coordinate negative",
        lambda: _ula(noise_scale=[0.1, -0.1], **NF),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula noise_scale callable",
        lambda: _ula(noise_scale=lambda t: 0.1, **NF),
        TypeError,
        "noise_scale",
    ),
    Case(
        "ula noise_scale with gradient_first",
        lambda: _ula(noise_scale=0.1),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula noise_scale with a temperature",
        lambda: _ula(noise_scale=0.1, temperature=2.0, **NF),
        ValueError,
        "temperature",
    ),
    Case(
        "ula noise_scale shape at init",
        lambda: _ula_init(noise_scale=jnp.ones(3), **NF),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula noise_scale pytree structure at init",
        lambda: _ula_init(noise_scale={"a": 0.1}, **NF),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula.step noise_scale negative",
        lambda: _ula_step(noise_scale=-0.1, **NF),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula.step noise_scale shape",
        lambda: _ula_step(noise_scale=jnp.ones((2, 2)), **NF),
        ValueError,
        "noise_scale",
    ),
    Case(
        "ula.step noise_scale with gradient_first",
        lambda: _ula_step(noise_scale=0.1),
        ValueError,
        "noise_scale",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


@pytest.mark.parametrize(
    "settings",
    [
        {"temperature": np.float32(0.5)},
        {"temperature": jnp.asarray(0.5)},
        {"temperature": 2, "order": "noise_first"},
        {"noise_scale": np.float64(0.01), **NF},
        {"noise_scale": jnp.asarray(0.01), **NF},
        {"noise_scale": [0.01, 0.02], **NF},
        {"noise_scale": 0.01, "temperature": 1.0, **NF},
    ],
)
def test_numpy_and_jax_scalars_and_lists_are_accepted(settings):
    sampler = _ula(**settings)
    state, info = sampler.step(KEY, sampler.init(X2))
    assert not bool(info.diverged) and int(state.count) == 1
