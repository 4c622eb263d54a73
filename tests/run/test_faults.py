"""The counts read after a run (jlangevin.run.faults): one read of the device per call."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.run import faults

driver = importlib.import_module("jlangevin.run.driver")

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
SAMPLER = jl.mala(LOGP, step_size=0.5)


def _counting_reads(monkeypatch):
    calls = []
    real = faults.read

    def read(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(faults, "read", read)
    return calls


def test_a_plain_run_reads_the_device_once_and_nothing_implicitly(monkeypatch):
    x0 = jnp.zeros((4, 2))
    jl.run(jax.random.key(0), SAMPLER, x0, 20)  # compiled first
    calls = _counting_reads(monkeypatch)
    # Any np.asarray / int() of a device array would be an implicit transfer: refused here.
    with jax.transfer_guard_device_to_host("disallow"):
        trace = jl.run(jax.random.key(1), SAMPLER, x0, 20)
    assert len(calls) == 1
    assert trace.positions.shape == (4, 20, 2)


def test_a_chunked_run_checks_its_start_before_the_next_chunk(monkeypatch):
    calls = _counting_reads(monkeypatch)
    with pytest.raises(ValueError, match="positions"):
        jl.run(
            jax.random.key(0), SAMPLER, jnp.asarray([[0.0, 1.0], [np.nan, 0.0]]), 4, chunk_size=2
        )
    assert len(calls) == 1  # raised after the first chunk


def test_summaries_and_rows_give_the_same_counts():
    rows = np.array([[1, 0, 1], [1, 0, 0], [0, 3, 1], [4, 0, 0]], np.int32)
    summary = np.asarray(faults.summary(jnp.asarray(rows)))
    from_rows = faults.read(rows, rows, None)
    assert faults.read(summary, summary, None) == from_rows
    assert from_rows.start == faults.BadStart(1, 1, 2, 1)
    assert from_rows.faults == faults.Faults(2, 4, 2)


def test_the_warning_names_the_counts():
    with pytest.warns(jl.SamplingWarning, match="1 of 3 chains diverged"):
        faults.warn(faults.Faults(1, 5, 0), 3, 10)
