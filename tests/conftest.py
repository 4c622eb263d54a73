"""Suite-wide fixtures."""

import importlib
import os
import shutil
import sys
import tempfile
import types

import pytest

#: Where the suite's workers share their compiled programs (see ``pytest_configure``).
_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_CACHE_SETTINGS = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}


def pytest_configure(config):
    """One JAX compilation cache for the whole run, shared by its worker processes.

    The suite's time is mostly XLA compiling, and the workers of ``pytest -n``
    compile many of the same programs (the same targets, kernels and shapes in
    different test files). With a persistent cache in a fresh temporary folder,
    a program compiled by one worker is loaded by the others: the same
    executable, so no result changes, and a patched kernel traces to another
    program with another cache key. A folder the caller set is left alone.
    """
    if hasattr(config, "workerinput") or os.environ.get(_CACHE_ENV):
        return  # a worker (it inherits the controller's folder), or the caller's own cache
    folder = tempfile.mkdtemp(prefix="jlangevin-tests-xla-")
    config._jlangevin_cache = folder
    os.environ.update({_CACHE_ENV: folder, **_CACHE_SETTINGS})
    if "jax" in sys.modules:  # imported already (a plugin): its config read the environment
        jax = sys.modules["jax"]
        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


#: Docstring examples (doctest items) longer than about 3 s on one core: `long`, like the
#: tests marked so (a docstring cannot carry a mark).
LONG_DOCTESTS = frozenset(
    {
        "jlangevin.sample.sample",
        "jlangevin.adaptation",
        "jlangevin.adaptation.tempering.tempering_warmup",
        "jlangevin.kernels.tempering.ladder_step",
        "jlangevin.models.subsample.subsampled",
    }
)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in LONG_DOCTESTS:
            item.add_marker(pytest.mark.long)


def pytest_unconfigure(config):
    folder = getattr(config, "_jlangevin_cache", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


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
    if "jlangevin.models.numpyro" in sys.modules:  # live models found again by fingerprint
        sys.modules["jlangevin.models.numpyro"]._MODELS.clear()
    for module, cache in (
        ("jlangevin.adaptation.tempering", "cached_window"),
        ("jlangevin.adaptation.warmup", "_end_window"),  # module-level jits
        ("jlangevin.adaptation.warmup", "_condition"),
        ("jlangevin.run.loop", "make_chain_keys"),  # a patched jlangevin.keys hashes anew
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
