"""Atomic, hashed, locked checkpoints of a run: what :func:`jlangevin.run` saves and resumes from.

A checkpoint is a folder (``checkpoint_dir``) holding::

    checkpoint.json           the manifest: the run's fingerprint, how far it got, and
                              each file's SHA-256, size, shapes and draw range
    checkpoint.lock           locked (``flock``) by the process writing the run
    state-<burn>-<draws>.npz  the chains' carry after ``burn`` burn-in steps and ``draws``
                              kept draws (flattened leaves, in tree order); the previous
                              checkpoint's state file is kept too
    records-<a>-<b>.npz       the draws kept from draw a (included) to b (excluded)

Writing. Every file is written to a temporary file of the writing process
(``.tmp-<pid>-<random>``) in the same folder, flushed and ``fsync``-ed, then
renamed over its final name with :func:`os.replace` (atomic on POSIX and
Windows), and the folder is ``fsync``-ed. The manifest is written last, after
the files it names: a run killed at any instant leaves either the previous
checkpoint or the new one, never a mixture. A records segment is written once
and never rewritten, so a checkpoint costs the draws kept since the previous
one plus the state, not the whole history. The writing process holds an
exclusive lock on ``checkpoint.lock`` for the life of the run: a second
process that tries to write the same folder is refused at once and changes
nothing.

Reading. Nothing is trusted. The fingerprint (key, sampler program, store,
chain count, the start's values, steps, burn-in, thinning, the tree structure,
shapes and dtypes of everything saved) is compared field by field: a
checkpoint of other settings is refused with the fields that differ. The
manifest's counters are checked against the run's totals, its state file and
its segments (contiguous from draw 0 to the draw counter). Every file's bytes
are hashed and compared with the manifest, and every file carries its own
description (the fingerprint's digest and its counters or draw range), which
must match too: a file from another run, a truncated or bit-flipped file, an
edited manifest are each a ``ValueError`` naming ``checkpoint_dir``, the file
and what is wrong, never a wrong trace. With ``jl.run(...,
checkpoint_on_damage="rewind")`` a damaged newest segment or state file is
dropped and the run resumes from the previous checkpoint, whose state file is
kept for that.

Why this format and not orbax-checkpoint: the run's state is a handful of
host-gathered arrays written by one process, which numpy's ``.npz`` stores
exactly (bit for bit, any shape and dtype) with no dependency beyond numpy;
orbax brings asynchronous, sharded, multi-writer machinery (and a large
dependency tree) that a checkpoint of this size does not need, and its on-disk
layout changes between versions. Reading needs nothing but numpy, ``json`` and
``hashlib``.

Examples
--------
>>> import tempfile, jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
>>> folder = tempfile.mkdtemp()
>>> a = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 40,
...            checkpoint_dir=folder, checkpoint_every=10)
>>> b = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 40,
...            checkpoint_dir=folder, checkpoint_every=10)  # finished: loaded, not rerun
>>> bool((a.positions == b.positions).all())
True
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin._checks import as_count

try:  # POSIX; elsewhere the folder is not locked (see `locked`)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

MANIFEST = "checkpoint.json"
LOCK = "checkpoint.lock"
FORMAT = "jlangevin-checkpoint-2"
ON_DAMAGE = ("raise", "rewind")
_TMP_PREFIX = ".tmp-"
_TMP_OWNER = re.compile(r"^\.tmp-(\d+)-")
_OWN_FILES = re.compile(r"^(state|records)-\d+-\d+\.npz$")
_STATE_NAME = "state-{:010d}-{:010d}.npz"
_RECORDS_NAME = "records-{:010d}-{:010d}.npz"
_META = "meta"  # the npz entry holding a file's own description (JSON, as uint8)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]+")


class Files(NamedTuple):
    """The files a checkpoint's manifest lists: what the next checkpoint builds on.

    Attributes
    ----------
    state : the state file's manifest entry (name, SHA-256, size, counters), or ``None``.
    previous_state : the previous checkpoint's state entry (kept for rewinding), or ``None``.
    records : the records segments' entries, in draw order.
    """

    state: dict | None = None
    previous_state: dict | None = None
    records: tuple[dict, ...] = ()


class Saved(NamedTuple):
    """What a checkpoint holds, verified and read back onto the host.

    Attributes
    ----------
    carry : the chains' carry (numpy leaves), structured like the run's.
    records : the kept draws so far, leaves ``(chains, draws_done, ...)``, or ``None``.
    burn_done : burn-in steps done.
    draws_done : kept draws done.
    files : the files it was read from (pass them to the next :func:`save`).
    complete : the run finished (this is its final checkpoint).
    """

    carry: Any
    records: Any | None
    burn_done: int
    draws_done: int
    files: Files
    complete: bool


class _Damaged(ValueError):
    """A file that does not match the manifest (rewinding past it may help)."""

    def __init__(self, message: str, file: str) -> None:
        super().__init__(message)
        self.file = file


def _at(path: Path, name: str) -> str:
    return f"`checkpoint_dir` {str(path)!r}: {name}"


# --------------------------------------------------------------------------- #
# The folder
# --------------------------------------------------------------------------- #
def check_dir(checkpoint_dir: Any, *, writer: bool = True) -> Path:
    """``checkpoint_dir`` as a folder that exists and (for the writing process) takes files.

    Raises a ``TypeError``/``ValueError`` naming ``checkpoint_dir`` before anything
    is sampled, so that a run never computes what it cannot keep.

    Examples
    --------
    >>> import tempfile
    >>> from jlangevin.checkpoint import check_dir
    >>> check_dir(tempfile.mkdtemp()).is_dir()
    True
    """
    if isinstance(checkpoint_dir, bytes):
        checkpoint_dir = os.fsdecode(checkpoint_dir)
    if not isinstance(checkpoint_dir, str | os.PathLike) or str(checkpoint_dir) == "":
        raise TypeError(
            "`checkpoint_dir` must be a path (a str or os.PathLike) of a folder; got "
            f"{checkpoint_dir!r}."
        )
    path = Path(checkpoint_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"`checkpoint_dir` must be a folder; {str(path)!r} is a file.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"`checkpoint_dir` {str(path)!r} cannot be created: {err}.") from err
    if writer:
        try:
            handle, probe = tempfile.mkstemp(prefix=_tmp_prefix() + "probe-", dir=path)
            os.close(handle)
        except OSError as err:
            raise ValueError(f"`checkpoint_dir` {str(path)!r} is not writable: {err}.") from err
        with contextlib.suppress(OSError):
            os.remove(probe)
    return path


def check_on_damage(on_damage: Any) -> str:
    """``on_damage`` as one of :data:`ON_DAMAGE`, else a ``ValueError`` naming it.

    Examples
    --------
    >>> from jlangevin.checkpoint import check_on_damage
    >>> check_on_damage("rewind")
    'rewind'
    """
    if not isinstance(on_damage, str) or on_damage not in ON_DAMAGE:
        raise ValueError(
            f"`checkpoint_on_damage` must be one of {ON_DAMAGE!r}; got {on_damage!r:.60}."
        )
    return on_damage


def _holder(handle: int) -> str:
    """Who holds the lock, as its holder wrote it (best effort)."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = os.pread(handle, 200, 0).decode().strip()
        if text:
            return text
    return "unknown"


@contextlib.contextmanager
def locked(path: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s :data:`LOCK` file (nothing when ``path`` is None).

    A second holder, in another process or this one, is refused at once with a
    ``ValueError`` naming ``checkpoint_dir`` and the holder; it changes nothing in
    the folder. The lock is ``fcntl.flock`` (POSIX): the operating system drops it
    when its holder dies, so a killed run never leaves the folder locked. Where
    the filesystem cannot lock, a warning says so and the run goes on unlocked.

    Parameters
    ----------
    path : the checkpoint folder, or ``None`` (a process that does not write).

    Raises
    ------
    ValueError
        The lock is held (naming ``checkpoint_dir`` and the holder's pid, host
        and start), or the lock file cannot be opened.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from jlangevin.checkpoint import locked
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with locked(folder):
    ...     with locked(folder):
    ...         pass
    Traceback (most recent call last):
    ...
    ValueError: `checkpoint_dir` ...: checkpoint.lock is held by this process (pid ...
    """
    if path is None or fcntl is None:
        yield
        return
    target = path / LOCK
    try:
        handle = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ValueError(f"{_at(path, LOCK)} cannot be opened to lock the folder: {err}.") from err
    try:
        held = _lock(path, handle)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(OSError):
                    os.ftruncate(handle, 0)
    finally:
        os.close(handle)  # releases the lock


def _lock(path: Path, handle: int) -> bool:
    """Lock ``handle`` (the folder's lock file) or raise; ``False`` where locks do not work."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(handle)
        who = "this process" if holder.startswith(f"pid {os.getpid()} ") else "another process"
        raise ValueError(
            f"{_at(path, LOCK)} is held by {who} ({holder}), which is writing a run there. "
            "Only one run may write a checkpoint folder at a time: wait for it to finish, or "
            "use another `checkpoint_dir`. Nothing was changed."
        ) from None
    except OSError as err:  # a filesystem without locks (some network mounts)
        warnings.warn(
            f"{_at(path, LOCK)} cannot be locked ({err}); a second process writing the same "
            "folder would not be kept out.",
            RuntimeWarning,
            stacklevel=5,
        )
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    note = f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n"
    with contextlib.suppress(OSError):  # the note only helps the message of a refused writer
        os.ftruncate(handle, 0)
        os.pwrite(handle, note.encode(), 0)
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tmp_prefix() -> str:
    """This writer's prefix for temporary files: its pid and a random word."""
    return f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"


def write_atomic(target: Path, write: Callable[[Any], None]) -> None:
    """``write(file)`` into a temporary file beside ``target``, fsync it, rename it over.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from jlangevin.checkpoint import write_atomic
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> write_atomic(target, lambda f: f.write(b"done"))
    >>> target.read_bytes()
    b'done'
    """
    handle, tmp = tempfile.mkstemp(prefix=_tmp_prefix(), dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_dir(target.parent)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


def remove_stale(path: Path, keep: set[str]) -> None:
    """Delete this module's files that ``keep`` does not name, and temporary files left by
    this process or by processes no longer running (never a live writer's)."""
    for entry in path.iterdir():
        name = entry.name
        if name.startswith(_TMP_PREFIX):
            owner = _TMP_OWNER.match(name)
            pid = int(owner.group(1)) if owner else None
            stale = pid is None or pid == os.getpid() or not _is_running(pid)
        else:
            stale = bool(_OWN_FILES.match(name)) and name not in keep
        if stale:
            with contextlib.suppress(OSError):
                entry.unlink()


# --------------------------------------------------------------------------- #
# Fingerprints
# --------------------------------------------------------------------------- #
def _is_key(dtype: Any) -> bool:
    return jnp.issubdtype(dtype, jax.dtypes.prng_key)


def structure(tree: Any) -> dict:
    """Tree structure, shapes and dtypes of ``tree`` (arrays or ``ShapeDtypeStruct``\\ s)."""
    leaves, treedef = jax.tree.flatten(tree)
    return {
        "tree": _ADDRESS.sub("", str(treedef)),
        "leaves": [[list(np.shape(x)), str(x.dtype)] for x in leaves],
    }


def host_leaf(x: Any) -> np.ndarray:
    """A leaf as a numpy array of a numpy-native dtype (key data for typed keys, raw bits for
    dtypes numpy does not know, such as bfloat16)."""
    if _is_key(x.dtype):
        x = jax.random.key_data(x)
    x = np.asarray(x)
    if x.dtype.isbuiltin != 1:  # 2: a dtype numpy does not know (bfloat16, float8, ...)
        x = x.view(np.dtype(f"u{x.dtype.itemsize}"))
    return x


def digest(tree: Any) -> str:
    """sha256 of the values of ``tree``'s leaves (shape, dtype and bytes of each)."""
    sha = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            # Another process holds part of it: its shape and dtype only, the same everywhere.
            sha.update(repr((leaf.shape, str(leaf.dtype))).encode())
            continue
        arr = host_leaf(leaf)
        sha.update(repr((arr.shape, str(arr.dtype))).encode())
        sha.update(np.ascontiguousarray(arr).tobytes())
    return sha.hexdigest()


def program_digest(fn: Callable, *args: Any) -> str:
    """sha256 of the traced program of ``fn(*args)``: its jaxpr text and its constants.

    Two samplers of different kernels or settings (a step size, a target) trace to
    different programs; the same code traces to the same text in every process.
    """
    closed = jax.make_jaxpr(fn)(*args)
    sha = hashlib.sha256(_ADDRESS.sub("", str(closed)).encode())
    sha.update(digest(list(closed.consts)).encode())
    return sha.hexdigest()


def fingerprint_digest(fingerprint: dict) -> str:
    """sha256 of a fingerprint (its canonical JSON): the id every file of the run carries.

    Examples
    --------
    >>> from jlangevin.checkpoint import fingerprint_digest
    >>> fingerprint_digest({"a": 1, "b": [2]}) == fingerprint_digest({"b": [2], "a": 1})
    True
    """
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def mismatches(saved: dict, now: dict) -> list[str]:
    """The fields where two fingerprints differ, each as a short sentence."""
    out = []
    for name in sorted(set(saved) | set(now)):
        a, b = saved.get(name), now.get(name)
        if a == b:
            continue
        small = all(isinstance(v, int | str | None) and len(str(v)) <= 40 for v in (a, b))
        is_hash = all(isinstance(v, str) and len(v) == 64 for v in (a, b))
        if small and not is_hash:
            out.append(f"{name} (saved {a!r}, now {b!r})")
        else:
            out.append(f"{name} (differs)")
    return out


# --------------------------------------------------------------------------- #
# One file: written with its description and hash, read back verified
# --------------------------------------------------------------------------- #
def _leaf_shapes(arrays: list[np.ndarray]) -> list:
    return [[list(a.shape), str(a.dtype)] for a in arrays]


def _write_file(path: Path, name: str, tree: Any, meta: dict) -> dict:
    """Write ``tree``'s leaves and ``meta`` to ``path / name``; its manifest entry."""
    arrays = [host_leaf(x) for x in jax.tree.leaves(tree)]
    entries = {f"leaf_{i:05d}": a for i, a in enumerate(arrays)}
    entries[_META] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    raw = buffer.getvalue()
    write_atomic(path / name, lambda file: file.write(raw))
    sha = hashlib.sha256(raw).hexdigest()
    return {"file": name, "sha256": sha, "bytes": len(raw), "leaves": _leaf_shapes(arrays)}


def _restore_leaf(arr: np.ndarray, like: Any) -> Any:
    dtype = like.dtype
    if _is_key(dtype):
        arr = jax.random.wrap_key_data(arr, impl=dtype._impl)
    elif np.dtype(dtype).isbuiltin != 1:
        arr = arr.view(dtype)
    if tuple(arr.shape) != tuple(like.shape) or arr.dtype != dtype:
        raise ValueError(
            f"a leaf of shape {tuple(arr.shape)} and dtype {arr.dtype}; expected "
            f"{tuple(like.shape)} and {dtype}"
        )
    return arr


def _parse_npz(raw: bytes) -> tuple[dict, list[np.ndarray]]:
    """The description and the leaves of an npz file's bytes (any failure: ValueError)."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        names = sorted(data.files)
        if _META not in names:
            raise ValueError("no description entry")
        meta = json.loads(bytes(data[_META]).decode())
        leaves = [data[n] for n in names if n != _META]
    if not isinstance(meta, dict):
        raise ValueError("a description that is not a JSON object")
    return meta, leaves


def _read_file(path: Path, entry: dict, like: Any, meta: dict) -> Any:
    """The tree of ``like``'s structure in the file ``entry`` names, verified: its size and
    SHA-256 against ``entry``, its description against ``meta``, its leaves against ``like``
    and ``entry``. Anything else raises :class:`_Damaged` naming the file."""
    name = entry["file"]

    def damaged(what: str) -> _Damaged:
        return _Damaged(f"{_at(path, name)} {what}.", name)

    try:
        raw = (path / name).read_bytes()
    except FileNotFoundError:
        raise damaged("is missing (the manifest lists it)") from None
    except OSError as err:
        raise damaged(f"cannot be read: {err}") from err
    if len(raw) != entry["bytes"]:
        raise damaged(
            f"holds {len(raw)} bytes; the manifest records {entry['bytes']} (truncated, "
            "extended or replaced since it was written)"
        )
    sha = hashlib.sha256(raw).hexdigest()
    if sha != entry["sha256"]:
        raise damaged(
            f"has SHA-256 {sha[:16]}...; the manifest records {entry['sha256'][:16]}... (its "
            "bytes changed since it was written: a bit flip, or a file copied from elsewhere)"
        )
    try:
        saved_meta, arrays = _parse_npz(raw)
    except Exception as err:  # zipfile, zlib, numpy, json: any failure here means damage
        raise damaged(f"is not a readable checkpoint file ({type(err).__name__}: {err})") from err
    for field in sorted(meta):
        if saved_meta.get(field) != meta[field]:
            whose = (
                "belongs to another run (its fingerprint differs from this run's)"
                if field == "fingerprint_sha256"
                else f"describes itself with {field}={saved_meta.get(field)!r}; the manifest "
                f"says {meta[field]!r}"
            )
            raise damaged(whose)
    if _leaf_shapes(arrays) != entry["leaves"]:
        raise damaged(
            f"holds arrays of shapes and dtypes {_leaf_shapes(arrays)}; the manifest records "
            f"{entry['leaves']}"
        )
    leaves_like, treedef = jax.tree.flatten(like)
    if len(arrays) != len(leaves_like):
        raise damaged(f"holds {len(arrays)} arrays; this run saves {len(leaves_like)}")
    try:
        leaves = [_restore_leaf(a, x) for a, x in zip(arrays, leaves_like, strict=True)]
    except ValueError as err:
        raise damaged(f"holds {err}") from None
    return jax.tree.unflatten(treedef, leaves)


def _with_draws(like: Any, num_draws: int) -> jax.ShapeDtypeStruct:
    """``like`` (chains, 1, ...) as a segment of ``num_draws`` draws."""
    return jax.ShapeDtypeStruct((like.shape[0], num_draws, *like.shape[2:]), like.dtype)


# --------------------------------------------------------------------------- #
# The manifest: read, checked in itself and against the run
# --------------------------------------------------------------------------- #
def read_manifest(path: Path) -> dict | None:
    """The manifest in ``path`` (a dict of the current format), or ``None`` when there is none."""
    target = path / MANIFEST
    if not target.exists():
        return None
    try:
        manifest = json.loads(target.read_bytes())
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{_at(path, MANIFEST)} is not a readable jlangevin checkpoint manifest: {err}. "
            "Use another (or an emptied) `checkpoint_dir` to start afresh."
        ) from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(
            f"{_at(path, MANIFEST)} is not a {FORMAT} manifest (got format {got!r}); a "
            "checkpoint of another format cannot be verified. Use another (or an emptied) "
            "`checkpoint_dir`."
        )
    return manifest


class _Manifest(NamedTuple):
    burn_done: int
    draws_done: int
    complete: bool
    files: Files


def _field(obj: Any, name: str, kind: str, where: str) -> Any:
    """``obj[name]`` checked to be of ``kind``, else a ValueError saying so (``where``)."""
    value = obj.get(name) if isinstance(obj, dict) else None
    ok = {
        "count": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "bool": isinstance(value, bool),
        "sha256": isinstance(value, str) and bool(_SHA256.match(value)),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
        "str": isinstance(value, str),
    }[kind]
    if not ok:
        expected = {"count": "non-negative integer", "sha256": "SHA-256 in hex"}.get(kind, kind)
        raise ValueError(f"{where}: `{name}` must be a {expected}; got {value!r:.80}")
    return value


def _entry(raw: Any, where: str, records: bool) -> dict:
    """A file's manifest entry, its fields checked; its name must say what it holds."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object; got {raw!r:.80}")
    entry = {
        "file": _field(raw, "file", "str", where),
        "sha256": _field(raw, "sha256", "sha256", where),
        "bytes": _field(raw, "bytes", "count", where),
        "leaves": _field(raw, "leaves", "list", where),
    }
    if records:
        entry["first"] = _field(raw, "first", "count", where)
        entry["end"] = _field(raw, "end", "count", where)
        if entry["end"] <= entry["first"]:
            raise ValueError(f"{where}: draws {entry['first']} to {entry['end']} is no range")
        name = _RECORDS_NAME.format(entry["first"], entry["end"])
    else:
        for field in ("burn_done", "draws_done"):
            entry[field] = _field(raw, field, "count", where)
        entry["complete"] = _field(raw, "complete", "bool", where)
        name = _STATE_NAME.format(entry["burn_done"], entry["draws_done"])
    if entry["file"] != name:
        raise ValueError(f"{where}: the file is named {entry['file']!r}; expected {name!r}")
    return entry


def _parse_manifest(manifest: dict, burnin: int, num_draws: int, keeps_records: bool) -> _Manifest:
    """The manifest's counters and files, checked in themselves, against each other and
    against the run's totals (a ValueError without the folder's name: the caller adds it)."""
    burn = _field(manifest, "burn_done", "count", "the manifest")
    draws = _field(manifest, "draws_done", "count", "the manifest")
    complete = _field(manifest, "complete", "bool", "the manifest")
    state = _entry(manifest.get("state"), "its `state` entry", records=False)
    previous = manifest.get("previous_state")
    if previous is not None:
        previous = _entry(previous, "its `previous_state` entry", records=False)
    listed = _field(manifest, "records", "list", "the manifest")
    segments = tuple(
        _entry(r, f"its `records` entry {i}", records=True) for i, r in enumerate(listed)
    )

    if burn > burnin or draws > num_draws:
        raise ValueError(
            f"it counts {burn} burn-in steps and {draws} draws done; this run has only "
            f"{burnin} and {num_draws}"
        )
    if draws > 0 and burn != burnin:
        raise ValueError(
            f"it counts {draws} draws done after only {burn} of the {burnin} burn-in steps; "
            "draws are kept only after the burn-in"
        )
    if complete and (burn, draws) != (burnin, num_draws):
        raise ValueError(
            f"it is marked complete after {burn} of {burnin} burn-in steps and {draws} of "
            f"{num_draws} draws"
        )
    if (state["burn_done"], state["draws_done"], state["complete"]) != (burn, draws, complete):
        raise ValueError(
            f"it counts {burn} burn-in steps, {draws} draws, complete={complete}, but its state "
            f"file is of {state['burn_done']} burn-in steps, {state['draws_done']} draws, "
            f"complete={state['complete']}"
        )
    if previous is not None and not (
        previous["burn_done"] <= burn
        and previous["draws_done"] <= draws
        and previous["file"] != state["file"]
        and not previous["complete"]
    ):
        raise ValueError(
            f"its previous state ({previous['file']}) is not of an earlier point of the run "
            f"than its state ({state['file']})"
        )
    if not keeps_records and segments:
        raise ValueError(f"it lists {len(segments)} records segments; this run keeps no draws")
    if keeps_records:
        covered = 0
        for segment in segments:
            if segment["first"] != covered:
                raise ValueError(
                    f"its records segments do not follow on: {segment['file']} starts at draw "
                    f"{segment['first']}, expected {covered}"
                )
            covered = segment["end"]
        if covered != draws:
            raise ValueError(
                f"its records segments hold draws 0 to {covered} ({len(segments)} segments); "
                f"it counts {draws} draws done"
            )
        boundaries = {0, *(segment["end"] for segment in segments)}
        if previous is not None and previous["draws_done"] not in boundaries:
            raise ValueError(
                f"its previous state ({previous['file']}) is of {previous['draws_done']} draws, "
                "where no records segment ends"
            )
    return _Manifest(burn, draws, complete, Files(state, previous, segments))


# --------------------------------------------------------------------------- #
# The run's policy: whether and where it checkpoints, what identifies it, writing
# --------------------------------------------------------------------------- #
class Policy(NamedTuple):
    """How a run checkpoints (see :func:`policy`).

    Attributes
    ----------
    path : the checked folder.
    every : kept draws between checkpoints (burn-in: ``every * thin`` steps).
    writer : whether this process writes (process 0; the others only read).
    on_damage : one of :data:`ON_DAMAGE`.
    """

    path: Path
    every: int
    writer: bool
    on_damage: str

    def due(self, steps_since_save: int, thin: int, last: bool) -> bool:
        """Whether to checkpoint now: after the last chunk, or ``every`` draws since the last."""
        return last or steps_since_save >= self.every * thin


def policy(checkpoint_dir: Any, checkpoint_every: Any, on_damage: Any) -> Policy | None:
    """The run's checkpoint :class:`Policy` from ``jl.run``'s arguments (``None``: none).

    Each argument is checked, naming it; the folder is checked writable before
    anything is sampled.

    Examples
    --------
    >>> import tempfile
    >>> from jlangevin.checkpoint import policy
    >>> policy(tempfile.mkdtemp(), 10, "raise").every
    10
    """
    on_damage = check_on_damage(on_damage)
    if checkpoint_dir is None:
        for name, value, default in [
            ("checkpoint_every", checkpoint_every, None),
            ("checkpoint_on_damage", on_damage, "raise"),
        ]:
            if value != default:
                raise ValueError(
                    f"`{name}` needs `checkpoint_dir` (the folder to write the "
                    f"checkpoints to); got {name}={value!r} and no folder."
                )
        return None
    if checkpoint_every is None:
        raise ValueError(
            "`checkpoint_every` (kept draws between checkpoints) is required with "
            "`checkpoint_dir`; e.g. checkpoint_every=1000."
        )
    every = as_count(checkpoint_every, "checkpoint_every", 1)
    writer = jax.process_index() == 0
    return Policy(check_dir(checkpoint_dir, writer=writer), every, writer, on_damage)


def run_fingerprint(
    key: Any,
    sampler: Any,
    store: Any,
    start: tuple,
    settings: dict,
    carry_like: Any,
    record_like: Any,
) -> dict:
    """What must be equal for a checkpoint to belong to a ``jl.run`` call.

    Parameters
    ----------
    key : the run's (typed) key.
    sampler : the sampler (``init``, ``step``): their traced programs are hashed.
    store : the store mode, or the store function (its traced program is hashed).
    start : ``(positions or state, step counts or None)`` the run starts from.
    settings : the run's numbers (chains, steps, burn-in, thinning).
    carry_like, record_like : the structures of the carry and of one kept draw.
    """
    one_state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), carry_like.state)
    store_id = store
    if callable(store):
        info = jax.eval_shape(sampler.step, key, one_state)[1]
        store_id = "function " + program_digest(store, one_state, info)
    return {
        **settings,
        "key": digest(jax.random.key_data(key)),
        "key_impl": str(jax.random.key_impl(key)),
        "sampler": program_digest(sampler.step, key, one_state),
        "sampler init": program_digest(sampler.init, one_state.position),
        "store": store_id,
        "positions": digest(start),
        "state structure": structure(carry_like),
        "draw structure": structure(record_like),
    }


def write(
    run_policy: Policy,
    fingerprint: dict,
    host_carry: Any,
    host_records: Any | None,
    *,
    burn_done: int,
    draws_from: int,
    draws_done: int,
    files: Files,
    complete: bool,
) -> Files:
    """Process 0 writes one checkpoint (:func:`save`) of host arrays; every process waits.

    Every process calls it (with the carry and records gathered to the host):
    a later call then reads the same checkpoint in every process (the folder
    is shared), so all of them resume from the same point.
    """
    if run_policy.writer:
        files = save(
            run_policy.path,
            fingerprint,
            host_carry,
            host_records,
            burn_done=burn_done,
            draws_from=draws_from,
            draws_done=draws_done,
            files=files,
            complete=complete,
        )
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("jlangevin checkpoint written")
    return files


# --------------------------------------------------------------------------- #
# Save and load
# --------------------------------------------------------------------------- #
def _load_files(
    path: Path, fp: str, files: Files, carry_like: Any, record_like: Any
) -> tuple[Any, Any]:
    """The carry and the records of ``files``, every file verified (:class:`_Damaged`)."""
    state = files.state
    meta = {"kind": "state", "fingerprint_sha256": fp}
    meta.update({k: state[k] for k in ("burn_done", "draws_done", "complete")})
    carry = _read_file(path, state, carry_like, meta)
    records = None
    if record_like is not None and files.records:
        parts = []
        for segment in files.records:
            first, end = segment["first"], segment["end"]
            like = jax.tree.map(lambda x, n=end - first: _with_draws(x, n), record_like)
            meta = {"kind": "records", "fingerprint_sha256": fp, "first": first, "end": end}
            parts.append(_read_file(path, segment, like, meta))
        records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts)
    return carry, records


def _rewound(files: Files) -> Files | None:
    """The previous checkpoint's files (its state and the segments it covers), or None."""
    previous = files.previous_state
    if previous is None:
        return None
    kept = tuple(r for r in files.records if r["end"] <= previous["draws_done"])
    return Files(previous, None, kept)


def load(
    path: Path,
    fingerprint: dict,
    carry_like: Any,
    record_like: Any,
    *,
    burnin: int,
    num_draws: int,
    on_damage: str = "raise",
) -> Saved | None:
    """The checkpoint in ``path`` of the run ``fingerprint`` describes, verified, or ``None``.

    Parameters
    ----------
    path : the checkpoint folder (see :func:`check_dir`).
    fingerprint : what must be equal for the checkpoint to belong to this run.
    carry_like : the carry's tree of ``ShapeDtypeStruct``.
    record_like : one kept draw's record ``(chains, 1, ...)``, or ``None`` when
        nothing is recorded.
    burnin, num_draws : the run's totals, which the counters may not exceed.
    on_damage : ``"raise"``, or ``"rewind"``: a damaged newest file (the state
        file, or the segment the last checkpoint added) is passed over and the
        previous checkpoint loaded instead, with a warning (``None``, start
        afresh, when there is none).

    Returns
    -------
    Saved or None
        The verified checkpoint; ``None`` when the folder holds none.

    Raises
    ------
    ValueError
        A checkpoint of another run (naming the fields that differ), an
        inconsistent manifest or a damaged file, naming ``checkpoint_dir``, the
        file and what is wrong.
    """
    manifest = read_manifest(path)
    if manifest is None:
        return None
    saved_fingerprint = manifest.get("fingerprint")
    differs = mismatches(
        saved_fingerprint if isinstance(saved_fingerprint, dict) else {}, fingerprint
    )
    if differs:
        raise ValueError(
            f"`checkpoint_dir` {str(path)!r} holds a checkpoint of a different run; it differs "
            f"in: {'; '.join(differs)}. Make the same call as the one that wrote it, or use "
            "another (or an emptied) `checkpoint_dir` to start afresh."
        )
    fp = fingerprint_digest(fingerprint)
    try:
        if manifest.get("fingerprint_sha256") != fp:
            raise ValueError("its `fingerprint_sha256` is not the digest of its fingerprint")
        parsed = _parse_manifest(manifest, burnin, num_draws, record_like is not None)
    except ValueError as err:
        raise ValueError(
            f"{_at(path, MANIFEST)} is damaged or was edited: {err}. Nothing was loaded; use "
            "another (or an emptied) `checkpoint_dir` to start afresh."
        ) from None
    try:
        carry, records = _load_files(path, fp, parsed.files, carry_like, record_like)
    except _Damaged as err:
        return _rewind_past(err, path, fp, parsed.files, carry_like, record_like, on_damage)
    return Saved(carry, records, parsed.burn_done, parsed.draws_done, parsed.files, parsed.complete)


def _rewind_past(
    err: _Damaged,
    path: Path,
    fp: str,
    files: Files,
    carry_like: Any,
    record_like: Any,
    on_damage: str,
) -> Saved | None:
    """The previous checkpoint when ``err`` is about a newest file and rewinding is asked
    for (``None``: start afresh); else the ValueError saying what can be done."""
    rewound = _rewound(files)
    newest = {files.state["file"]}
    newest.update(r["file"] for r in files.records[len(rewound.records if rewound else ()) :])
    if err.file not in newest:
        raise ValueError(
            f"{err} It is not the newest file: rewinding cannot pass over it. Restore it, "
            "or use another (or an emptied) `checkpoint_dir` to start afresh."
        ) from err
    back = "the previous checkpoint" if rewound else "the start (no earlier checkpoint is kept)"
    if on_damage != "rewind":
        raise ValueError(
            f"{err} Pass checkpoint_on_damage='rewind' to drop it and resume from {back}; the "
            "trace is the same."
        ) from err
    if rewound is None:
        warnings.warn(f"{err} Rewinding: the run starts afresh.", stacklevel=4)
        return None
    try:
        carry, records = _load_files(path, fp, rewound, carry_like, record_like)
    except _Damaged as again:
        raise ValueError(f"{again} Rewinding past {err.file} found this damaged too.") from again
    state = rewound.state
    warnings.warn(
        f"{err} Rewinding to the previous checkpoint ({state['file']}: "
        f"{state['burn_done']} burn-in steps, {state['draws_done']} draws).",
        stacklevel=4,
    )
    return Saved(carry, records, state["burn_done"], state["draws_done"], rewound, False)


def save(
    path: Path,
    fingerprint: dict,
    carry: Any,
    new_records: Any | None,
    *,
    burn_done: int,
    draws_from: int,
    draws_done: int,
    files: Files,
    complete: bool,
) -> Files:
    """Write one checkpoint (host arrays); return the files its manifest lists.

    The new segment and the state file are written first, each with its
    description, and hashed; the manifest is replaced last; then files no
    manifest names are removed. The caller holds :func:`locked`.

    Parameters
    ----------
    path : the checkpoint folder.
    fingerprint : the run's fingerprint (as :func:`load` takes it).
    carry : the chains' carry, on the host.
    new_records : the draws ``draws_from`` to ``draws_done`` (leaves
        ``(chains, draws_done - draws_from, ...)``), or ``None``.
    burn_done, draws_done : burn-in steps and kept draws done.
    draws_from : the first of the new draws (the end of the last segment).
    files : those of the previous checkpoint (:attr:`Saved.files`, or ``Files()``
        for the first).
    complete : the run has finished.

    Returns
    -------
    Files
        The files the new manifest lists: pass them to the next ``save``.
    """
    fp = fingerprint_digest(fingerprint)
    records = files.records
    if new_records is not None and draws_done > draws_from:
        covered = records[-1]["end"] if records else 0
        if draws_from != covered:
            raise ValueError(
                f"`draws_from` must be {covered} (the end of the last segment); got {draws_from}."
            )
        name = _RECORDS_NAME.format(draws_from, draws_done)
        meta = {"kind": "records", "fingerprint_sha256": fp, "first": draws_from, "end": draws_done}
        entry = _write_file(path, name, new_records, meta)
        records = (*records, {**entry, "first": draws_from, "end": draws_done})
    name = _STATE_NAME.format(burn_done, draws_done)
    counters = {"burn_done": burn_done, "draws_done": draws_done, "complete": complete}
    state = {
        **_write_file(path, name, carry, {"kind": "state", "fingerprint_sha256": fp, **counters}),
        **counters,
    }
    # The previous checkpoint's state is kept, so that a damaged newest file can be rewound.
    previous = files.state
    if previous is None or previous["file"] == name:
        previous = files.previous_state
    new = Files(state, previous, records)
    manifest = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "fingerprint_sha256": fp,
        **counters,
        "state": state,
        "previous_state": previous,
        "records": list(records),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    write_atomic(path / MANIFEST, lambda file: file.write(text))
    keep = {state["file"], *(r["file"] for r in records)}
    if previous is not None:
        keep.add(previous["file"])
    remove_stale(path, keep)
    return new


__all__ = [
    "LOCK",
    "MANIFEST",
    "ON_DAMAGE",
    "Files",
    "Policy",
    "Saved",
    "check_dir",
    "check_on_damage",
    "digest",
    "fingerprint_digest",
    "load",
    "locked",
    "mismatches",
    "policy",
    "program_digest",
    "read_manifest",
    "remove_stale",
    "run_fingerprint",
    "save",
    "structure",
    "write",
    "write_atomic",
]
