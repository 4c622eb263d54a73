"""Suite-wide fixtures."""

import importlib
import types

import pytest

#: Patches of these never reach a compiled loop: they run on the host, between or
#: around the compiled chunks (checkpoint files, the CLI, the public entry points the
#: CLI tests wrap, the gallery's runner, the host-side call of each compiled chunk,
#: the tempering warm-up's ladder update between its windows).
#: Patching them keeps the compiled loops: no recompilation in every later test.
_HOST_SIDE_MODULES = frozenset({"jlangevin.checkpoint", "jlangevin.cli"})
_HOST_SIDE_NAMES = frozenset(
    {
        ("jlangevin.run.driver", "run_chunk"),
        ("jlangevin", "run"),
        ("jlangevin", "check"),
        ("jlangevin.gallery", "run"),
        ("jlangevin.adaptation.ladder", "update_ladder"),
    }
)


def _clear_compiled_loops() -> None:
    importlib.import_module("jlangevin.run.cache").clear_all()  # the driver's caches
    for module, cache in (
        ("jlangevin.adaptation.tempering", "cached_window"),
        ("jlangevin.adaptation.warmup", "_end_window"),  # module-level jits
        ("jlangevin.adaptation.warmup", "_condition"),
    ):
        held = getattr(importlib.import_module(module), cache)
        (held.cache_clear if hasattr(held, "cache_clear") else held.clear_cache)()


def _patched_where(target, name) -> tuple[str | None, str | None]:
    """``(module name, attribute)`` that a ``setattr``/``delattr`` patch changes."""
    if isinstance(target, str):  # monkeypatch.setattr("package.module.name", value)
        module, _, attribute = target.rpartition(".")
        return module, attribute
    if isinstance(target, types.ModuleType):
        return target.__name__, name if isinstance(name, str) else None
    return None, None


def _is_host_side(method: str, args: tuple) -> bool:
    if method not in ("setattr", "delattr") or not args:
        return False  # items of dicts, environment: cleared, to be safe
    module, attribute = _patched_where(args[0], args[1] if len(args) > 1 else None)
    return module in _HOST_SIDE_MODULES or (module, attribute) in _HOST_SIDE_NAMES


@pytest.fixture(autouse=True)
def _fresh_compiled_loops_under_monkeypatch(request):
    """A test that patches a kernel's internals gets loops compiled from the patched code.

    ``jl.run`` caches its compiled loop on the sampler's functions and settings
    (not on the values of its arrays), so a broken-kernel companion that patches
    a module function would otherwise reuse the loop compiled from the correct
    one, and a later test the broken one. The caches are emptied when such a
    patch is made (or undone) and after the test; a test that asks for
    ``monkeypatch`` but patches nothing a compiled loop could hold keeps them.
    """
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    patch = request.getfixturevalue("monkeypatch")
    patched = []

    def clearing(method):
        real = getattr(patch, method)

        def call(*args, **kwargs):
            if not _is_host_side(method, args):
                _clear_compiled_loops()
                patched.append(method)
            return real(*args, **kwargs)

        return call

    for method in ("setattr", "delattr", "setitem", "delitem"):
        setattr(patch, method, clearing(method))
    real_undo = patch.undo

    def undo():
        real_undo()
        if patched:
            _clear_compiled_loops()

    patch.undo = undo
    yield
    if patched:
        _clear_compiled_loops()
