"""Checkpoints: a run killed mid-way resumes, by the same call, to the bits of an unbroken run."""

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin import checkpoint

driver_module = importlib.import_module("jlangevin.run.driver")

LOGP = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)  # noqa: E731
X0 = jnp.linspace(-1.0, 1.0, 6 * 2).reshape(6, 2)
SETTINGS = dict(num_steps=60, burnin=10, thin=2)  # 30 kept draws
# One sampler object for the whole file: its compiled chunks are shared between tests.
SAMPLER = jl.mala(LOGP, step_size=0.3)
SQUARED_NORM = lambda state, info: jnp.sum(state.position**2)  # noqa: E731
_REFERENCES = {}


def _call(folder, sampler=SAMPLER, x0=X0, key=0, **changes):
    kwargs = {**SETTINGS, "checkpoint_every": 5, **changes}
    num_steps = kwargs.pop("num_steps")
    return jl.run(jax.random.key(key), sampler, x0, num_steps, checkpoint_dir=folder, **kwargs)


def _reference(store="draws"):
    """The uninterrupted run without checkpoints, computed once per store mode: in one call
    for ``"draws"``; for the other modes in the chunks the checkpointed runs use (chunked
    and one-call runs are bit-identical, ``tests/run/test_driver.py``), which saves compilations."""
    if store not in _REFERENCES:
        kwargs = dict(SETTINGS, store=store, chunk_size=None if store == "draws" else 5)
        num_steps = kwargs.pop("num_steps")
        _REFERENCES[store] = jl.run(jax.random.key(0), SAMPLER, X0, num_steps, **kwargs)
    return _REFERENCES[store]


def _assert_same_run(got, want):
    for name in ("positions", "info", "final_state", "diverged", "step_count", "moves", "stats"):
        a, b = getattr(got, name), getattr(want, name)
        chex.assert_trees_all_equal(a, b)
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)
    chex.assert_trees_all_equal(got.values, want.values)


class _Crash(Exception):
    pass


def _crash_after(monkeypatch, num_saves):
    """Make the run die (an exception) right after its ``num_saves``-th checkpoint."""
    real, done = checkpoint.save, []

    def save(*args, **kwargs):
        out = real(*args, **kwargs)
        done.append(kwargs["draws_done"])
        if len(done) == num_saves:
            raise _Crash
        return out

    monkeypatch.setattr(checkpoint, "save", save)
    return done


def _spy_load(monkeypatch):
    real, seen = checkpoint.load, []

    def load(*args, **kwargs):
        saved = real(*args, **kwargs)
        seen.append(saved)
        return saved

    monkeypatch.setattr(checkpoint, "load", load)
    return seen


# --------------------------------------------------------------------------- #
# SIGKILL in the middle of a checkpoint write; the same call resumes
# --------------------------------------------------------------------------- #
CHILD = textwrap.dedent(
    """
    import os, pathlib, sys, tempfile, time
    import jax, jax.numpy as jnp
    import jlangevin as jl
    from jlangevin import checkpoint

    folder, flag = sys.argv[1], pathlib.Path(sys.argv[2])
    real_save, real_write = checkpoint.save, checkpoint.write_atomic
    state = {"saves": 0, "writes_after": 0}

    def save(*args, **kwargs):
        out = real_save(*args, **kwargs)
        state["saves"] += 1
        return out

    def write_atomic(target, write):
        if state["saves"] >= 2:
            state["writes_after"] += 1
            if state["writes_after"] == 2:
                # The third checkpoint: its records segment is written, the state file is
                # half written when the process is killed (no manifest names either).
                prefix = checkpoint._tmp_prefix()  # this writer's: removed once it is dead
                handle, tmp = tempfile.mkstemp(prefix=prefix, dir=target.parent)
                os.write(handle, b"PK half a file")
                os.fsync(handle)
                flag.write_text("killed while writing " + target.name)
                time.sleep(600)
        return real_write(target, write)

    checkpoint.save, checkpoint.write_atomic = save, write_atomic
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
    x0 = jnp.linspace(-1.0, 1.0, 6 * 2).reshape(6, 2)
    jl.run(jax.random.key(0), jl.mala(logp, step_size=0.3), x0, 60, burnin=10, thin=2,
           checkpoint_dir=folder, checkpoint_every=5)
    print("FINISHED")
    """
)


def _wait_for(path, proc, deadline_s):
    deadline = time.monotonic() + deadline_s
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the child ended (rc {proc.returncode}) first:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {path.name} after {deadline_s} s")
        time.sleep(0.05)


@pytest.mark.long
def test_a_killed_run_resumes_to_the_bits_of_an_unbroken_run(tmp_path, monkeypatch):
    folder, flag, script = tmp_path / "ckpt", tmp_path / "flag", tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, str(script), str(folder), str(flag)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(flag, proc, deadline_s=180)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    # Killed mid-run: the last whole checkpoint is the second (burn-in, then 5 draws).
    assert (manifest["burn_done"], manifest["draws_done"], manifest["complete"]) == (10, 5, False)
    leftovers = {p.name for p in folder.iterdir()}
    assert any(name.startswith(".tmp-") for name in leftovers), leftovers  # the half file
    assert "records-0000000005-0000000010.npz" in leftovers  # written, named by no manifest

    seen = _spy_load(monkeypatch)
    resumed = _call(folder)
    assert [(s.burn_done, s.draws_done) for s in seen] == [(10, 5)]  # it did resume
    _assert_same_run(resumed, _reference())
    names = {p.name for p in folder.iterdir()}
    assert not any(name.startswith(".tmp-") for name in names), names
    assert json.loads((folder / checkpoint.MANIFEST).read_text())["complete"]


# --------------------------------------------------------------------------- #
# Every store mode, chunking and progress; a finished run; a resumed trace
# --------------------------------------------------------------------------- #
@pytest.mark.long
@pytest.mark.parametrize(
    "store, chunk_size, progress",
    [
        ("stats", None, False),
        ("positions", 3, True),
        (SQUARED_NORM, None, True),
    ],
    ids=["stats", "positions-chunk3-progress", "function-progress"],
)
def test_a_crashed_run_resumes_for_every_store(tmp_path, monkeypatch, store, chunk_size, progress):
    changes = dict(store=store, chunk_size=chunk_size, progress=progress)
    done = _crash_after(monkeypatch, 2)
    with pytest.raises(_Crash):
        _call(tmp_path, **changes)
    assert done[-1] < SETTINGS["num_steps"] // SETTINGS["thin"]
    monkeypatch.undo()
    seen = _spy_load(monkeypatch)
    resumed = _call(tmp_path, **changes)
    assert seen[0] is not None and seen[0].draws_done == done[-1]
    _assert_same_run(resumed, _reference(store=store))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A checkpointed run that went to the end: its folder and its trace."""
    folder = tmp_path_factory.mktemp("finished")
    return folder, _call(folder)


def test_a_finished_run_is_loaded_not_rerun(finished, monkeypatch):
    folder, first = finished
    _assert_same_run(first, _reference())

    def no_sampling(*args, **kwargs):
        raise AssertionError("a finished run must not sample again")

    monkeypatch.setattr(driver_module, "run_chunk", no_sampling)  # called per chunk
    again = _call(folder, chunk_size=4, progress=True)  # chunking and progress: not settings
    _assert_same_run(again, first)


@pytest.mark.long
def test_continuing_a_trace_with_checkpoints(tmp_path, monkeypatch):
    sampler = SAMPLER
    first = jl.run(jax.random.key(0), sampler, X0, 10)
    whole = jl.run(jax.random.key(0), sampler, first, 40, thin=2)
    _crash_after(monkeypatch, 2)
    with pytest.raises(_Crash):
        _call(tmp_path, sampler=sampler, x0=first, num_steps=40, burnin=0, checkpoint_every=4)
    monkeypatch.undo()
    resumed = _call(tmp_path, sampler=sampler, x0=first, num_steps=40, burnin=0, checkpoint_every=4)
    _assert_same_run(resumed, whole)


# --------------------------------------------------------------------------- #
# A checkpoint of other settings is refused, naming what differs, and left alone
# --------------------------------------------------------------------------- #
CHANGED = {
    "key": (dict(key=1), "key"),
    "num_steps": (dict(num_steps=80), "num_steps"),
    "burnin": (dict(burnin=12), "burnin"),
    "thin": (dict(thin=3, num_steps=60), "thin"),
    "store": (dict(store="stats"), "store"),
    "store function": (dict(store=lambda s, i: s.position), "store"),
    "step size": (dict(sampler=jl.mala(LOGP, step_size=0.31)), "sampler"),
    "kernel": (dict(sampler=jl.ula(LOGP, step_size=0.3)), "sampler"),
    "target": (dict(sampler=jl.mala(lambda x: -jnp.sum(x**2), step_size=0.3)), "sampler"),
    "positions": (dict(x0=X0 + 1.0), "positions"),
    "num_chains": (dict(x0=jnp.zeros((4, 2))), "num_chains"),
    "event shape": (dict(x0=jnp.zeros((6, 3))), "state structure"),
}


@pytest.mark.parametrize("change", sorted(CHANGED))
def test_a_checkpoint_of_other_settings_is_refused(finished, change):
    finished = finished[0]
    before = {p.name: p.read_bytes() for p in finished.iterdir()}
    kwargs, named = CHANGED[change]
    with pytest.raises(ValueError, match="different run") as caught:
        _call(finished, **kwargs)
    assert named in str(caught.value), str(caught.value)
    assert "checkpoint_dir" in str(caught.value)
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before  # never mixed in


def test_a_damaged_checkpoint_is_refused(tmp_path, finished):
    for name in ("checkpoint.json", "state-0000000010-0000000030.npz"):
        (tmp_path / name).write_bytes((finished[0] / name).read_bytes())
    with pytest.raises(ValueError, match=r"records-0000000000-0000000005\.npz"):
        _call(tmp_path)  # a segment is missing
    (tmp_path / checkpoint.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _call(tmp_path)


def test_the_folder_is_checked_before_sampling(tmp_path, monkeypatch):
    def no_sampling(*args, **kwargs):
        raise AssertionError("nothing may be sampled before the folder is checked")

    monkeypatch.setattr(driver_module, "run_chunk", no_sampling)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for bad in (blocker, blocker / "below"):
        with pytest.raises(ValueError, match="checkpoint_dir"):
            _call(bad)
