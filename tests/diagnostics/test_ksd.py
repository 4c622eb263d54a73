"""Kernel Stein discrepancy: closed form, batching, and ordering with the shift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _exact_draws import exact_draws

import jlangevin as jl
from jlangevin import diagnostics as dg


def dense_stein_sum(x, s, c=1.0, beta=-0.5):
    """Σ_ij k_p(x_i, x_j) with the full (N, N, d) difference tensor, in numpy."""
    r = x[:, None, :] - x[None, :, :]
    r2 = np.sum(r**2, axis=-1)
    q = c**2 + r2
    d = x.shape[1]
    ss = s @ s.T
    cross = np.einsum("jk,ijk->ij", s, r) - np.einsum("ik,ijk->ij", s, r)
    kp = (
        ss * q**beta
        + 2 * beta * cross * q ** (beta - 1)
        - 2 * beta * d * q ** (beta - 1)
        - 4 * beta * (beta - 1) * r2 * q ** (beta - 2)
    )
    return kp.sum()


def test_single_point_closed_form():
    # One draw x = (1, 2) of N(0, I): KSD² = k_p(x, x) = |s|² c^(2β) - 2βd c^(2β-2) = 5 + 2.
    result = dg.ksd(np.array([[[1.0, 2.0]]]), lambda x: -x)
    assert result.ksd2 == pytest.approx(7.0, rel=1e-6)
    assert result.n == 1


def test_blocks_agree_with_dense_sum_on_a_pytree():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 100, 1)), rng.normal(size=(3, 100, 2)) + 1.0
    precision = np.array([1.0, 2.0, 0.5])

    def score(position):
        return {"a": -precision[0] * position["a"], "b": -precision[1:] * position["b"]}

    x = np.concatenate([a, b], axis=-1).reshape(-1, 3)
    s = -precision * x
    expected = dense_stein_sum(x, s, c=0.7, beta=-0.3) / x.shape[0] ** 2
    result = dg.ksd({"a": a, "b": b}, score, c=0.7, beta=-0.3, batch_size=64)  # 300 = 4*64 + 44
    assert result.ksd2 == pytest.approx(expected, rel=1e-4)


def test_exact_draws_beat_shifted_ones_and_ksd_grows_with_the_shift():
    target = jl.targets.gaussian([0.0, 0.0], scale=[1.0, 2.0])
    x = exact_draws(target, seed=1, chains=1, draws=2000)
    values = [dg.ksd(x + shift, target).ksd for shift in (0.0, 0.25, 0.5, 1.0)]
    assert values == sorted(values) and values[0] < values[1]
    exact = dg.ksd(x, target)
    # For exact i.i.d. draws E[KSD²] = mean k_p(x, x) / N; N KSD² / diag is a
    # weighted chi-square with mean 1 (weights summing to 1): 10 is far in its tail.
    assert exact.n * exact.ksd2 / exact.diagonal < 10


@pytest.mark.long
def test_ten_thousand_draws_fit():
    target = jl.targets.ellipse()
    x = exact_draws(target, seed=2, chains=10, draws=1000)
    result = dg.ksd(x, target, batch_size=256)
    assert result.n == 10_000 and np.isfinite(result.ksd)
    assert result.n * result.ksd2 / result.diagonal < 10


def test_accepts_a_trace():
    sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 50)
    assert dg.ksd(trace, lambda x: -x).n == 200


def test_bad_input():
    x = np.zeros((1, 10, 2))
    with pytest.raises(ValueError, match="`beta`"):
        dg.ksd(x, lambda v: -v, beta=0.5)
    with pytest.raises(ValueError, match="`c`"):
        dg.ksd(x, lambda v: -v, c=0.0)
    with pytest.raises(TypeError, match="`score`"):
        dg.ksd(x, 3.0)
    with pytest.raises(ValueError, match="`score` must return"):
        dg.ksd(x, lambda v: jnp.zeros(3))
