"""Atomic checkpoints of a run: what :func:`jlangevin.run` saves and resumes from.

A checkpoint is a folder (``checkpoint_dir``) holding::

    checkpoint.json           the manifest: the run's fingerprint, how far it got, the files
    state-<steps>.npz         the chains' carry: states, step counts, diverged and move
                              counts, running stats (flattened leaves, in tree order)
    records-<a>-<b>.npz       the draws kept from draw a (included) to b (excluded)

Every file is written to a temporary file in the same folder, flushed and
``fsync``-ed, then renamed over its final name with :func:`os.replace` (atomic
on POSIX and Windows), and the folder is ``fsync``-ed. The manifest is written
last: a run killed at any instant leaves either the previous checkpoint or the
new one, never a mixture. A records segment is written once and never
rewritten, so a checkpoint costs the draws kept since the previous one plus the
state, not the whole history.

Why this format and not orbax-checkpoint: the run's state is a handful of
host-gathered arrays written by one process, which numpy's ``.npz`` stores
exactly (bit for bit, any shape and dtype) with no dependency beyond numpy;
orbax brings asynchronous, sharded, multi-writer machinery (and a large
dependency tree) that a checkpoint of this size does not need, and its on-disk
layout changes between versions. Reading needs nothing but numpy and ``json``.

The fingerprint (key, sampler program, store, chain count, the start's values,
steps, burn-in, thinning, the tree structure, shapes and dtypes of everything
saved) is compared field by field before anything is loaded: a checkpoint of
other settings is refused with the fields that differ, never mixed in.

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
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MANIFEST = "checkpoint.json"
FORMAT = "jlangevin-checkpoint-1"
_TMP_PREFIX = ".tmp-"
_OWN_FILES = re.compile(r"^(state|records)-\d+-\d+\.npz$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]+")


class Saved(NamedTuple):
    """What a checkpoint holds, read back onto the host.

    Attributes
    ----------
    carry : the chains' carry (numpy leaves), structured like the run's.
    records : the kept draws so far, leaves ``(chains, draws_done, ...)``, or ``None``.
    burn_done : burn-in steps done.
    draws_done : kept draws done.
    record_files : the records segments, in draw order.
    complete : the run finished (this is its final checkpoint).
    """

    carry: Any
    records: Any | None
    burn_done: int
    draws_done: int
    record_files: tuple[str, ...]
    complete: bool


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
            handle, probe = tempfile.mkstemp(prefix=_TMP_PREFIX + "probe-", dir=path)
            os.close(handle)
            os.remove(probe)
        except OSError as err:
            raise ValueError(f"`checkpoint_dir` {str(path)!r} is not writable: {err}.") from err
    return path


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens folders
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    handle, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
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


def remove_stale(path: Path, keep: set[str]) -> None:
    """Delete temporary files and this module's files that ``keep`` does not name."""
    for entry in path.iterdir():
        name = entry.name
        if name.startswith(_TMP_PREFIX) or (_OWN_FILES.match(name) and name not in keep):
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
# Save and load
# --------------------------------------------------------------------------- #
def _write_npz(target: Path, tree: Any) -> None:
    arrays = {f"leaf_{i:05d}": host_leaf(x) for i, x in enumerate(jax.tree.leaves(tree))}
    write_atomic(target, lambda file: np.savez(file, **arrays))


def _restore_leaf(arr: np.ndarray, like: Any, where: str) -> Any:
    dtype = like.dtype
    if _is_key(dtype):
        arr = jax.random.wrap_key_data(arr, impl=dtype._impl)
    elif np.dtype(dtype).isbuiltin != 1:
        arr = arr.view(dtype)
    if tuple(arr.shape) != tuple(like.shape) or arr.dtype != dtype:
        raise ValueError(
            f"`checkpoint_dir`: {where} holds a leaf of shape {tuple(arr.shape)} and dtype "
            f"{arr.dtype}; expected {tuple(like.shape)} and {dtype}. The checkpoint is damaged."
        )
    return arr


def _read_npz(path: Path, like: Any) -> Any:
    leaves_like, treedef = jax.tree.flatten(like)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = sorted(data.files)
            if len(names) != len(leaves_like):
                raise ValueError(
                    f"`checkpoint_dir`: {path.name} holds {len(names)} arrays; expected "
                    f"{len(leaves_like)}. The checkpoint is damaged."
                )
            leaves = [
                _restore_leaf(data[n], x, path.name)
                for n, x in zip(names, leaves_like, strict=True)
            ]
    except (OSError, EOFError) as err:
        raise ValueError(f"`checkpoint_dir`: cannot read {path.name}: {err}.") from err
    return jax.tree.unflatten(treedef, leaves)


def _with_draws(like: Any, num_draws: int) -> jax.ShapeDtypeStruct:
    """``like`` (chains, 1, ...) as a segment of ``num_draws`` draws."""
    return jax.ShapeDtypeStruct((like.shape[0], num_draws, *like.shape[2:]), like.dtype)


def read_manifest(path: Path) -> dict | None:
    """The manifest in ``path``, or ``None`` when there is no checkpoint there."""
    target = path / MANIFEST
    if not target.exists():
        return None
    try:
        manifest = json.loads(target.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(
            f"`checkpoint_dir`: {str(target)!r} is not a readable jlangevin checkpoint: {err}."
        ) from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(
            f"`checkpoint_dir`: {str(target)!r} is not a {FORMAT} manifest; use another folder."
        )
    return manifest


def load(path: Path, fingerprint: dict, carry_like: Any, record_like: Any) -> Saved | None:
    """The checkpoint in ``path`` of the run ``fingerprint`` describes, or ``None`` if none.

    ``carry_like`` is the carry's tree of ``ShapeDtypeStruct``; ``record_like`` one
    kept draw's record ``(chains, 1, ...)`` (``None`` when nothing is recorded).
    A checkpoint of another run raises a ``ValueError`` listing what differs.
    """
    manifest = read_manifest(path)
    if manifest is None:
        return None
    differs = mismatches(manifest.get("fingerprint", {}), fingerprint)
    if differs:
        raise ValueError(
            f"`checkpoint_dir` {str(path)!r} holds a checkpoint of a different run; it differs "
            f"in: {'; '.join(differs)}. Make the same call as the one that wrote it, or use "
            "another (or an emptied) `checkpoint_dir` to start afresh."
        )
    state_file, files = manifest["state_file"], tuple(manifest["record_files"])
    if not all(_OWN_FILES.match(name) for name in (state_file, *files)):
        raise ValueError(f"`checkpoint_dir`: {str(path)!r} has a damaged manifest.")
    carry = _read_npz(path / state_file, carry_like)
    draws_done = int(manifest["draws_done"])
    records = None
    if record_like is not None and files:
        parts = []
        for name in files:
            first, end = (int(v) for v in name[len("records-") : -len(".npz")].split("-"))
            like = jax.tree.map(lambda x, n=end - first: _with_draws(x, n), record_like)
            parts.append(_read_npz(path / name, like))
        records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts)
    return Saved(
        carry,
        records,
        int(manifest["burn_done"]),
        draws_done,
        files,
        bool(manifest["complete"]),
    )


def save(
    path: Path,
    fingerprint: dict,
    carry: Any,
    new_records: Any | None,
    *,
    burn_done: int,
    draws_from: int,
    draws_done: int,
    record_files: tuple[str, ...],
    complete: bool,
) -> tuple[str, ...]:
    """Write one checkpoint (host arrays); return the records segments it lists.

    ``new_records`` are the draws ``draws_from`` to ``draws_done`` (leaves
    ``(chains, draws_done - draws_from, ...)``), or ``None``. The manifest is
    replaced last, then files no manifest names are removed.
    """
    files = tuple(record_files)
    if new_records is not None and draws_done > draws_from:
        name = f"records-{draws_from:010d}-{draws_done:010d}.npz"
        _write_npz(path / name, new_records)
        files = (*files, name)
    state_file = f"state-{burn_done:010d}-{draws_done:010d}.npz"
    _write_npz(path / state_file, carry)
    manifest = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "burn_done": burn_done,
        "draws_done": draws_done,
        "complete": complete,
        "state_file": state_file,
        "record_files": list(files),
    }
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    write_atomic(path / MANIFEST, lambda file: file.write(text))
    remove_stale(path, {state_file, *files})
    return files


__all__ = [
    "MANIFEST",
    "Saved",
    "check_dir",
    "digest",
    "load",
    "mismatches",
    "program_digest",
    "read_manifest",
    "remove_stale",
    "save",
    "structure",
    "write_atomic",
]
