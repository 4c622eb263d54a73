"""``jl.sample`` with its defaults on a real posterior agrees with Stan's reference draws.

The posterior is posteriordb's ``kidiq_with_mom_work-kidscore_mom_work`` (a
regression on a four-level factor, flat priors), shipped with its reference
summary in ``benchmarks/posteriordb/``; the NumPyro translation and the check
(every parameter: R-hat < 1.01 and ``|z| < 4``, ``z`` counting the reference's
own Monte Carlo error) are the benchmark's own (``benchmarks/posteriordb_models.py``).
The broken companion shifts the response by one posterior standard deviation of
the intercept: the same check must catch it, at the intercept.
"""

import sys
from pathlib import Path

import jax
import pytest

pytest.importorskip("numpyro")
pytest.importorskip("arviz")

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import posteriordb_models as pdb  # noqa: E402

import jlangevin as jl  # noqa: E402

NAME = "kidiq_with_mom_work-kidscore_mom_work"


@pytest.fixture(scope="module")
def posterior():
    return pdb.load(NAME)


def sample_and_check(model, data, reference) -> pdb.Agreement:
    """``jl.sample`` with its defaults, every parameter checked against the reference."""
    result = jl.sample(jax.random.key(0), jl.from_numpyro(model, **data))
    return pdb.compare(result.posterior, reference)


def describe(agreement: pdb.Agreement) -> str:
    return (
        f"max R-hat {agreement.max_rhat:.4f} ({agreement.max_rhat_at}), "
        f"max |z| {agreement.max_z:.2f} ({agreement.max_z_at}), "
        f"min bulk ESS {agreement.min_ess:.0f} ({agreement.min_ess_at})"
    )


def test_the_shipped_posterior_is_complete(posterior):
    _, data, reference = posterior
    assert set(data) == {"N", "kid_score", "mom_work"}
    assert data["kid_score"].shape == (data["N"],) and data["mom_work"].dtype.kind == "i"
    assert list(reference) == ["beta[1]", "beta[2]", "beta[3]", "beta[4]", "sigma"]
    assert all(r["ess_bulk"] > 5000 and r["sd"] > 0 for r in reference.values())


@pytest.mark.long
def test_jl_sample_agrees_with_the_stan_reference(posterior):
    agreement = sample_and_check(*posterior)
    assert agreement.passed, describe(agreement)


@pytest.mark.long
def test_a_response_shifted_by_one_posterior_sd_fails_the_same_check(posterior):
    model, data, reference = posterior
    shift = reference["beta[1]"]["sd"]
    shifted = dict(data, kid_score=data["kid_score"] + shift)
    agreement = sample_and_check(model, shifted, reference)
    assert not agreement.passed, describe(agreement)
    assert agreement.max_z_at == "beta[1]" and agreement.max_z > pdb.Z_MAX, describe(agreement)
