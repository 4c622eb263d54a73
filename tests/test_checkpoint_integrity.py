"""Checkpoints that cannot return a wrong trace.

Every tampering a hostile sweep found (edited counters, a half-finished run
marked complete, an emptied record list, files swapped in from another run,
truncated and bit-flipped files) is a ``ValueError`` naming ``checkpoint_dir``
and the file, and changes nothing; a damaged newest file can be rewound past to
the bits of an unbroken run; a second writer is locked out; runs killed at
random moments resume to the bits of an unbroken run.
"""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import jax
import pytest
import test_checkpoint as base

import jlangevin as jl
from jlangevin import checkpoint

# The module fixtures crash after this many checkpoints: burn-in (10, 0), then 5, 10, 15 draws.
SAVES = 4
STATE = "state-0000000010-0000000015.npz"
PREVIOUS = "state-0000000010-0000000010.npz"
OLDEST = "records-0000000000-0000000005.npz"
MIDDLE = "records-0000000005-0000000010.npz"
NEWEST = "records-0000000010-0000000015.npz"


def _half_done(folder, key):
    """A run of ``key`` that crashed right after its ``SAVES``-th checkpoint, in ``folder``."""
    with pytest.MonkeyPatch.context() as patch:
        base._crash_after(patch, SAVES)
        with pytest.raises(base._Crash):
            base._call(folder, key=key)
    return folder


@pytest.fixture(scope="module")
def half_done(tmp_path_factory):
    """The half-done checkpoint of the reference run (key 0)."""
    return _half_done(tmp_path_factory.mktemp("key0"), key=0)


@pytest.fixture(scope="module")
def other_key(tmp_path_factory):
    """The same checkpoint of a run with another key: files to swap in."""
    return _half_done(tmp_path_factory.mktemp("key1"), key=1)


def _copy(source, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(source, folder)
    return folder


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _edit_manifest(folder, edit):
    path = folder / checkpoint.MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def _rehash(folder, name):
    """Record ``name``'s present bytes in the manifest: only its description can tell now."""

    def edit(manifest):
        raw = (folder / name).read_bytes()
        entries = [manifest["state"], manifest["previous_state"], *manifest["records"]]
        for entry in entries:
            if entry["file"] == name:
                entry.update(sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw))

    _edit_manifest(folder, edit)


def _truncate(folder, name):
    path = folder / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bit(folder, name, where=0.5):
    path = folder / name
    raw = bytearray(path.read_bytes())
    raw[int(len(raw) * where)] ^= 0x10
    path.write_bytes(bytes(raw))


def _swap_in(other, folder, name):
    shutil.copyfile(other / name, folder / name)


def _set(**fields):
    return lambda manifest: manifest.update(fields)


# Each: (how the folder is damaged, the file the error must name, what the error must say).
TAMPERED = {
    "draw counter up": (lambda f, o: _edit_manifest(f, _set(draws_done=20)), "checkpoint.json"),
    "draw counter down": (lambda f, o: _edit_manifest(f, _set(draws_done=10)), "checkpoint.json"),
    "draw counter up, segment list too": (
        lambda f, o: _edit_manifest(
            f, lambda m: m.update(draws_done=20, records=[*m["records"], m["records"][-1]])
        ),
        "checkpoint.json",
    ),
    "half-finished marked complete": (
        lambda f, o: _edit_manifest(f, _set(complete=True)),
        "checkpoint.json",
    ),
    "half-finished marked complete at the end": (
        lambda f, o: _edit_manifest(f, _set(complete=True, draws_done=30)),
        "checkpoint.json",
    ),
    "record list emptied": (lambda f, o: _edit_manifest(f, _set(records=[])), "checkpoint.json"),
    "burn-in counter down": (lambda f, o: _edit_manifest(f, _set(burn_done=8)), "checkpoint.json"),
    "burn-in counter up": (lambda f, o: _edit_manifest(f, _set(burn_done=12)), "checkpoint.json"),
    "counter not a number": (
        lambda f, o: _edit_manifest(f, _set(draws_done="15")),
        "checkpoint.json",
    ),
    "state entry missing": (
        lambda f, o: _edit_manifest(f, lambda m: m.pop("state")),
        "checkpoint.json",
    ),
    "segment of another key": (lambda f, o: _swap_in(o, f, MIDDLE), MIDDLE),
    "segment of another key, rehashed": (
        lambda f, o: (_swap_in(o, f, MIDDLE), _rehash(f, MIDDLE)),
        MIDDLE,
    ),
    "state of another key": (lambda f, o: _swap_in(o, f, STATE), STATE),
    "state of another key, rehashed": (
        lambda f, o: (_swap_in(o, f, STATE), _rehash(f, STATE)),
        STATE,
    ),
    "segment under another name": (
        lambda f, o: shutil.copyfile(f / OLDEST, f / MIDDLE),
        MIDDLE,
    ),
    "truncated segment": (lambda f, o: _truncate(f, OLDEST), OLDEST),
    "truncated segment, rehashed": (
        lambda f, o: (_truncate(f, OLDEST), _rehash(f, OLDEST)),
        OLDEST,
    ),
    "truncated state": (lambda f, o: _truncate(f, STATE), STATE),
    "bit-flipped segment": (lambda f, o: _flip_bit(f, MIDDLE), MIDDLE),
    "bit-flipped segment, rehashed": (
        lambda f, o: (_flip_bit(f, MIDDLE), _rehash(f, MIDDLE)),
        MIDDLE,
    ),
    "bit-flipped state": (lambda f, o: _flip_bit(f, STATE, 0.1), STATE),
    "bit-flipped state, rehashed": (
        lambda f, o: (_flip_bit(f, STATE, 0.1), _rehash(f, STATE)),
        STATE,
    ),
    "segment deleted": (lambda f, o: (f / NEWEST).unlink(), NEWEST),
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_a_tampered_checkpoint_is_refused_naming_the_file(half_done, other_key, tmp_path, case):
    folder = _copy(half_done, tmp_path)
    tamper, named = TAMPERED[case]
    tamper(folder, other_key)
    before = _files(folder)
    with pytest.raises(ValueError) as caught:  # never BadZipFile, KeyError or a wrong trace
        base._call(folder)
    message = str(caught.value)
    assert "checkpoint_dir" in message and str(folder) in message, message
    assert named in message, message
    assert _files(folder) == before  # nothing written, nothing removed


def test_the_untampered_copy_resumes_to_the_unbroken_run(half_done, tmp_path, monkeypatch):
    """The companion of the tampering cases: the same copy, left alone, is accepted."""
    seen = base._spy_load(monkeypatch)
    resumed = base._call(_copy(half_done, tmp_path))
    assert [(s.burn_done, s.draws_done) for s in seen] == [(10, 15)]
    base._assert_same_run(resumed, base._reference())


def test_every_file_is_hashed_in_the_manifest(half_done):
    manifest = json.loads((half_done / checkpoint.MANIFEST).read_text())
    entries = [manifest["state"], manifest["previous_state"], *manifest["records"]]
    assert [e["file"] for e in entries] == [STATE, PREVIOUS, OLDEST, MIDDLE, NEWEST]
    for entry in entries:
        raw = (half_done / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(raw).hexdigest()
        assert entry["bytes"] == len(raw)
    assert [(r["first"], r["end"]) for r in manifest["records"]] == [(0, 5), (5, 10), (10, 15)]
    # positions (chains, draws, event) and the info leaves, as saved
    assert manifest["records"][0]["leaves"][0] == [[6, 5, 2], "float32"]
    assert manifest["fingerprint_sha256"] == checkpoint.fingerprint_digest(manifest["fingerprint"])


# --------------------------------------------------------------------------- #
# Rewinding past a damaged newest file
# --------------------------------------------------------------------------- #
def _rewind(folder):
    return base._call(folder, checkpoint_on_damage="rewind")


@pytest.mark.parametrize("damaged", [NEWEST, STATE], ids=["newest segment", "state file"])
def test_rewinding_past_a_damaged_newest_file_gives_the_unbroken_run(half_done, tmp_path, damaged):
    folder = _copy(half_done, tmp_path)
    _flip_bit(folder, damaged)
    with pytest.raises(ValueError, match="checkpoint_on_damage='rewind'") as caught:
        base._call(folder)  # the default: raise
    assert damaged in str(caught.value)
    with pytest.warns(UserWarning, match=f"{damaged}.*Rewinding to the previous checkpoint"):
        resumed = _rewind(folder)
    base._assert_same_run(resumed, base._reference())
    manifest = json.loads((folder / checkpoint.MANIFEST).read_text())
    assert manifest["complete"] and manifest["draws_done"] == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten checkpoint verifies: no more rewinding
        base._assert_same_run(base._call(folder), resumed)


def test_rewinding_does_not_pass_over_an_older_damaged_file(half_done, tmp_path):
    folder = _copy(half_done, tmp_path)
    _flip_bit(folder, OLDEST)
    before = _files(folder)
    with pytest.raises(ValueError, match=f"{OLDEST}.*not the newest file"):
        _rewind(folder)
    assert _files(folder) == before


def test_rewinding_does_not_pass_over_an_edited_manifest(half_done, tmp_path):
    folder = _copy(half_done, tmp_path)
    _edit_manifest(folder, _set(draws_done=10))
    with pytest.raises(ValueError, match=r"checkpoint\.json"):
        _rewind(folder)


def test_rewinding_the_first_checkpoint_starts_afresh(tmp_path, monkeypatch):
    base._crash_after(monkeypatch, 1)
    with pytest.raises(base._Crash):
        base._call(tmp_path)
    monkeypatch.undo()
    _flip_bit(tmp_path, "state-0000000010-0000000000.npz")
    with pytest.raises(ValueError, match="from the start"):
        base._call(tmp_path)
    with pytest.warns(UserWarning, match="starts afresh"):
        resumed = _rewind(tmp_path)
    base._assert_same_run(resumed, base._reference())


def test_on_damage_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"`checkpoint_on_damage` must be one of.*'skip'"):
        base._call(tmp_path, checkpoint_on_damage="skip")
    with pytest.raises(ValueError, match="`checkpoint_on_damage` needs `checkpoint_dir`"):
        jl.run(jax.random.key(0), base.SAMPLER, base.X0, 4, checkpoint_on_damage="rewind")


# --------------------------------------------------------------------------- #
# One writer at a time; no writer deletes another's files
# --------------------------------------------------------------------------- #
def test_a_locked_folder_is_refused_and_left_alone(half_done, tmp_path):
    folder = _copy(half_done, tmp_path)
    before = _files(folder)
    with checkpoint.locked(folder), pytest.raises(ValueError) as caught:
        base._call(folder)
    message = str(caught.value)
    assert "checkpoint_dir" in message and "checkpoint.lock" in message, message
    assert f"held by this process (pid {os.getpid()} " in message, message
    assert _files(folder) == before
    base._assert_same_run(base._call(folder), base._reference())  # released: it runs now


def test_temporary_files_of_live_writers_are_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        "live": f".tmp-{os.getppid()}-0a1b2c3d-abc",
        "mine": f".tmp-{os.getpid()}-0a1b2c3d-abc",
        "dead": f".tmp-{dead.pid}-0a1b2c3d-abc",
        "old style": ".tmp-abc",
        "kept": "records-0000000000-0000000005.npz",
        "not listed": "records-0000000005-0000000010.npz",
        "not ours": "notes.txt",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    checkpoint.remove_stale(tmp_path, {names["kept"]})
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {names["live"], names["kept"], names["not ours"]}


WRITER = textwrap.dedent(
    """
    import pathlib, sys, time
    import jax, jax.numpy as jnp
    import jlangevin as jl
    from jlangevin import checkpoint

    folder, flag, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    real_save, saves = checkpoint.save, []

    def save(*args, **kwargs):
        out = real_save(*args, **kwargs)
        saves.append(1)
        if len(saves) == 2:  # mid-run, holding the lock: tell the test, wait for it
            flag.write_text("paused")
            deadline = time.monotonic() + 300
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return out

    checkpoint.save = save
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
    x0 = jnp.linspace(-1.0, 1.0, 6 * 2).reshape(6, 2)
    jl.run(jax.random.key(0), jl.mala(logp, step_size=0.3), x0, 60, burnin=10, thin=2,
           checkpoint_dir=folder, checkpoint_every=5)
    print("FINISHED")
    """
)


def _child(script, *args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, str(script), *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_writer_is_refused_at_once_and_the_first_finishes(tmp_path, monkeypatch):
    folder, flag, go, script = (tmp_path / n for n in ("ckpt", "flag", "go", "writer.py"))
    script.write_text(WRITER)
    first = _child(script, folder, flag, go)
    try:
        base._wait_for(flag, first, deadline_s=180)
        before = _files(folder)
        started = time.monotonic()
        with pytest.raises(ValueError) as caught:
            base._call(folder)  # this process: the second writer
        refused_after = time.monotonic() - started
        message = str(caught.value)
        assert "checkpoint_dir" in message and "held by another process" in message, message
        assert f"pid {first.pid} " in message, message
        assert refused_after < 30, refused_after  # before any sampling
        assert _files(folder) == before  # touched nothing
        go.write_text("go")
        out, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0 and "FINISHED" in out, err

    def no_sampling(*args, **kwargs):
        raise AssertionError("the first writer finished the run: it must load, not sample")

    monkeypatch.setattr(base.driver_module, "run_chunk", no_sampling)
    base._assert_same_run(base._call(folder), base._reference())


# --------------------------------------------------------------------------- #
# SIGKILL at random moments; the same call resumes to the bits of an unbroken run
# --------------------------------------------------------------------------- #
KILLED = textwrap.dedent(
    """
    import os, pathlib, sys, time
    import jax, jax.numpy as jnp
    import jlangevin as jl
    from jlangevin import checkpoint

    folder, flag = sys.argv[1], pathlib.Path(sys.argv[2])
    real_save, real_fsync = checkpoint.save, os.fsync

    def save(*args, **kwargs):
        flag.touch()  # compiled, sampling: the test kills from now on
        return real_save(*args, **kwargs)

    def slow_fsync(fd):  # widens each write, so that kills land inside them too
        time.sleep(0.004)
        real_fsync(fd)

    checkpoint.save, os.fsync = save, slow_fsync
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
    x0 = jnp.linspace(-1.0, 1.0, 6 * 2).reshape(6, 2)
    jl.run(jax.random.key(0), jl.mala(logp, step_size=0.3), x0, 60, burnin=10, thin=2,
           checkpoint_dir=folder, checkpoint_every=1)
    print("FINISHED")
    """
)


def _kill_at_random_moments(tmp_path, monkeypatch, seed, num_kills, window_s):
    """Start the run, SIGKILL it a random time after it began sampling; ``num_kills`` times,
    each start resuming the last; then resume it here: the bits of the unbroken run."""
    rng = random.Random(seed)
    folder, flag, script = tmp_path / "ckpt", tmp_path / "flag", tmp_path / "killed.py"
    script.write_text(KILLED)
    moments, killed = [], 0
    for _ in range(num_kills):
        flag.unlink(missing_ok=True)
        proc = _child(script, folder, flag)
        try:
            base._wait_for(flag, proc, deadline_s=180)
            moments.append(round(rng.uniform(0.0, window_s), 3))
            time.sleep(moments[-1])
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        killed += proc.returncode == -signal.SIGKILL  # else it had finished the run
    where = f"seed {seed}: killed {killed} times, {moments} s after sampling began"
    # The first start has ~35 checkpoints of slowed writes ahead: the kill lands mid-run.
    assert killed >= 1, where
    seen = base._spy_load(monkeypatch)
    resumed = base._call(folder)  # checkpoint_every 5 here: not a setting of the run
    try:
        base._assert_same_run(resumed, base._reference())
    except AssertionError as err:
        raise AssertionError(where) from err
    if (
        seen[0] is None or not seen[0].complete
    ):  # it wrote checkpoints: the killed writers' leftovers are gone
        names = {p.name for p in folder.iterdir()}
        assert not any(name.startswith(".tmp-") for name in names), (names, where)
    assert json.loads((folder / checkpoint.MANIFEST).read_text())["complete"], where


@pytest.mark.long
def test_runs_killed_at_random_moments_resume_to_the_unbroken_run(tmp_path, monkeypatch):
    _kill_at_random_moments(tmp_path, monkeypatch, seed=20261207, num_kills=2, window_s=0.6)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_killed_at_many_random_moments_resume_to_the_unbroken_run(tmp_path, monkeypatch, seed):
    _kill_at_random_moments(tmp_path, monkeypatch, seed=seed, num_kills=6, window_s=0.4)
