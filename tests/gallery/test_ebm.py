"""The EBM example: quick mode passes its checks; an untrained energy and uphill chains fail them.

Training runs once (a module fixture) and is reused by the quick run, so the
test pays for one training; the companions reuse it too (uphill sampling) or
skip it (the untrained start).
"""

import numpy as np
import pytest

from jlangevin.gallery import ebm


@pytest.fixture(scope="module")
def trained():
    return ebm.train(ebm.QUICK, seed=0)


@pytest.fixture(scope="module")
def result(trained, tmp_path_factory):
    calls = []

    def train_once(config, seed=0):
        calls.append((config, seed))
        return trained

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ebm, "train", train_once)
        result = ebm.run(quick=True, out=tmp_path_factory.mktemp("ebm"), seed=0)
    assert calls == [(ebm.QUICK, 0)]  # run trains the quick configuration, once
    return result


@pytest.mark.long
def test_quick_run_passes_its_checks(result):
    assert result.name == "ebm"
    assert len(result.checks) == 5 and result.passed, result.report()


def test_training_leaves_a_finite_history_and_a_buffer_in_the_box(trained):
    assert trained.data_energy.shape == trained.sample_energy.shape == (ebm.QUICK.iterations,)
    assert np.all(np.isfinite(trained.data_energy)) and np.all(np.isfinite(trained.sample_energy))
    assert trained.buffer.shape == (ebm.QUICK.buffer_size, 64)
    x = np.asarray(trained.buffer)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_an_untrained_energy_fails_the_ranking_and_sample_checks():
    checks = ebm.evaluate(ebm.untrained(ebm.QUICK, seed=0), ebm.QUICK, seed=0).checks
    assert not any(check.passed for check in checks), [c.line() for c in checks]


def test_uphill_sampling_fails_the_energy_check(trained):
    checks = ebm.evaluate(trained, ebm.QUICK, seed=0, sign=-1.0).checks
    assert not checks[-1].passed, checks[-1].line()
    assert checks[-1].value > 1.0  # the chains ended further from the data than they started


def test_pictures_are_written_with_the_example_name(result):
    names = sorted(p.name for p in result.figures)
    assert names == ["ebm_buffer.png", "ebm_data.png", "ebm_energy.png", "ebm_fresh.png"]
    assert all(p.stat().st_size > 5_000 for p in result.figures)
