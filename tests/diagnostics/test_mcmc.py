"""R-hat, ESS and MCSE: the same numbers as ArviZ, per coordinate and per leaf."""

import arviz as az
import numpy as np
import pytest
import xarray as xr

from jlangevin import diagnostics as dg


@pytest.fixture(scope="module")
def draws():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 300, 2, 3)).cumsum(axis=1) * 0.1 + rng.normal(size=(4, 300, 2, 3))


@pytest.mark.parametrize(
    ("fn", "kwargs", "reference"),
    [
        (dg.rhat, {}, lambda x: az.rhat(x)),
        (dg.ess, {"method": "bulk"}, lambda x: az.ess(x, method="bulk")),
        (dg.ess, {"method": "tail"}, lambda x: az.ess(x, method="tail")),
        (dg.mcse, {"method": "mean"}, lambda x: az.mcse(x, method="mean")),
    ],
)
def test_matches_arviz_coordinate_by_coordinate(draws, fn, kwargs, reference):
    out = fn(draws, **kwargs)
    assert out.shape == (2, 3)

    def one(i, j):  # ArviZ on one coordinate at a time
        dataset = xr.Dataset({"v": (("chain", "draw"), draws[:, :, i, j])})
        return float(reference(dataset)["v"])

    expected = np.array([[one(i, j) for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(out, expected, rtol=1e-10)


def test_pytree_in_pytree_out(draws):
    out = dg.ess({"a": draws[..., 0, 0], "b": draws[..., 0, :]})
    assert out["a"].shape == () and out["b"].shape == (3,)
    np.testing.assert_allclose(out["b"][0], out["a"])


def test_rhat_detects_chains_that_disagree():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 500, 1))
    assert dg.rhat(x)[0] < 1.01
    x[0] += 1.0  # one chain of four sits one sd away
    # Split R-hat: 8 half-chains with means (1, 1, 0, ..., 0): between-half variance
    # 0.214, within 1, so R-hat = sqrt(1 + 0.214) = 1.10 (half-chain means have sd 0.06).
    assert dg.rhat(x, method="split")[0] == pytest.approx(1.10, abs=0.03)
    assert dg.rhat(x)[0] > 1.01  # the rank-normalized default fails the usual threshold


def test_mcse_of_iid_draws_is_about_sd_over_sqrt_n():
    x = np.random.default_rng(2).normal(size=(4, 2500, 1)) * 3.0
    # ESS of i.i.d. draws is estimated within a few percent at n = 10^4.
    np.testing.assert_allclose(dg.mcse(x)[0], 3.0 / 100.0, rtol=0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="at least 2 chains"):
        dg.rhat(np.zeros((1, 100, 2)))
    with pytest.raises(ValueError, match="at least 4 draws"):
        dg.ess(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="`method`"):
        dg.ess(np.zeros((4, 10)), method="fast")
    with pytest.raises(ValueError, match=r"\(chains, draws, \*event\)"):
        dg.mcse(np.zeros(10))
