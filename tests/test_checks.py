"""The package-wide checks of plain settings: numpy and JAX scalars are numbers, bools are not."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jlangevin import _checks


def test_numpy_and_jax_scalars_are_numbers():
    assert _checks.as_int(np.uint8(3), "n") == 3
    assert _checks.as_int(jnp.asarray(7, jnp.int32), "n", minimum=1) == 7
    assert _checks.as_real(np.float16(0.5), "x") == 0.5
    assert _checks.as_real(jnp.asarray(2), "x") == 2.0
    assert _checks.as_positive(jnp.float32(0.25), "x") == 0.25
    assert _checks.as_number(np.float64(1.0), "p", 0.0, 1.0) == 1.0
    assert _checks.as_flag(np.bool_(True), "flag") is True


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: _checks.as_int(True, "n"), TypeError),
        (lambda: _checks.as_int(2.0, "n"), TypeError),
        (lambda: _checks.as_int(np.arange(2), "n"), TypeError),
        (lambda: _checks.as_int(0, "n", minimum=1), ValueError),
        (lambda: _checks.as_int(5, "n", maximum=4), ValueError),
        (lambda: _checks.as_real("1", "n"), TypeError),
        (lambda: _checks.as_real(float("nan"), "n"), ValueError),
        (lambda: _checks.as_real(jnp.inf, "n"), ValueError),
        (lambda: _checks.as_positive(0.0, "n"), ValueError),
        (lambda: _checks.as_number(1.0, "n", 0.0, 1.0, high_open=True), ValueError),
        (lambda: _checks.as_number(1 + 2j, "n"), TypeError),
        (lambda: _checks.as_flag(1, "n"), TypeError),
        (lambda: _checks.one_of("wrap", "n", ("reflect", "clip")), ValueError),
        (lambda: _checks.check_key(np.zeros(2, np.int32), "n"), TypeError),
        (lambda: _checks.check_key(jax.random.split(jax.random.key(0)), "n"), ValueError),
    ],
)
def test_bad_settings_name_the_argument(call, error):
    with pytest.raises(error, match="`n`"):
        call()


def test_traced_settings_are_refused():
    with pytest.raises(TypeError, match="`n` must be a concrete value"):
        jax.jit(lambda x: _checks.as_int(x, "n"))(3)
