"""Starts whose log density is rounded worse than the Metropolis tests can read: moved in first.

Exact check: a Gaussian centred at 3e4 (scales 1 and 10), started from
``Uniform(-2, 2)``, where ``log p ≈ -5e8`` is known in float32 only to about 50
nats. ``jl.sample(kernel="mams")`` with its defaults must give the exact means
and variances within 4 Monte Carlo standard errors. The broken companion never
moves a start (the bar at infinity): MAMS' warm-up then reads rounding noise as
energy error, collapses its step and the same check fails.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.adaptation import start

SHIFT = 3e4
SCALE = np.array([1.0, 10.0], np.float32)


def far_gaussian(x):
    return -0.5 * jnp.sum(((x - SHIFT) / SCALE) ** 2)


STARTS = jax.random.uniform(jax.random.key(1), (16, 2), minval=-2.0, maxval=2.0)


def test_only_the_chains_that_need_it_are_moved_and_they_get_there():
    near = jnp.full((2, 2), SHIFT)
    positions = jnp.concatenate([STARTS[:2], near])
    logdensity = jax.vmap(far_gaussian)(positions)
    out = start.approach(far_gaussian, positions, logdensity)
    assert out.moved.tolist() == [True, True, False, False]
    assert out.reached.all() and out.num_grads > 0
    np.testing.assert_array_equal(np.asarray(out.positions[2:]), np.asarray(near))
    rounded = start.rounding(jax.vmap(far_gaussian)(out.positions))
    assert np.all(np.asarray(rounded) <= start.ROUNDING_MAX)
    assert "2 chain(s)" in start.describe(out)
    assert start.describe(start.approach(far_gaussian, near, jax.vmap(far_gaussian)(near))) is None


def _z_scores() -> np.ndarray:
    """Means and variances of the standardised draws against 0 and 1, over their MCSE."""
    result = jl.sample(
        jax.random.key(0), far_gaussian, kernel="mams", positions=STARTS,
        num_warmup=600, num_draws=600, warn=False,
    )  # fmt: skip
    u = (np.asarray(result.trace.positions, np.float64) - SHIFT) / SCALE
    z = []
    for k in range(2):
        z.append(u[..., k].mean() / float(jl.diagnostics.mcse(u[..., k])))
        square = u[..., k] ** 2
        z.append((square.mean() - 1.0) / float(jl.diagnostics.mcse(square)))
    return np.asarray(z)


@pytest.mark.long
def test_mams_from_far_starts_is_exact():
    z = _z_scores()
    assert np.all(np.abs(z) < 4), z


@pytest.mark.long
def test_broken_companion_that_never_moves_a_start_fails_the_same_check(monkeypatch):
    monkeypatch.setattr(start, "ROUNDING_MAX", float("inf"))
    z = _z_scores()
    assert not np.all(np.abs(z) < 4), z


def test_rounding_is_the_size_times_the_dtype_epsilon():
    value = jnp.asarray(-1e6, jnp.float32)
    assert float(start.rounding(value)) == pytest.approx(1e6 * float(jnp.finfo(jnp.float32).eps))


@pytest.mark.long  # three L-BFGS programs, about 5 s
def test_a_second_approach_of_the_same_log_density_compiles_nothing():
    """The L-BFGS program is cached on the log density (weakly), the chain's position
    structure and the iteration cap: a second warm-up of one model reuses it; another
    log density, or another position shape, compiles its own."""
    far = lambda x: -0.5 * jnp.sum((x - 1e5) ** 2)  # noqa: E731
    start._compiled_lbfgs.cache_clear()
    x0 = jnp.zeros((4, 2))
    first = start.approach(far, x0, jax.vmap(far)(x0))
    again = start.approach(far, x0 + 1.0, jax.vmap(far)(x0 + 1.0))
    assert first.reached.all() and again.reached.all()
    assert start._compiled_lbfgs.cache_info()[:2] == (1, 1)  # (hits, misses)
    other = lambda x: -0.5 * jnp.sum((x + 1e5) ** 2)  # noqa: E731
    start.approach(other, x0, jax.vmap(other)(x0))
    start.approach(far, jnp.zeros((4, 3)), jax.vmap(far)(jnp.zeros((4, 3))))
    assert start._compiled_lbfgs.cache_info()[:2] == (1, 3)
