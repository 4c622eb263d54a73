"""Suite-wide fixtures."""

import importlib

import pytest


@pytest.fixture(autouse=True)
def _fresh_compiled_loops_under_monkeypatch(request):
    """A test that patches a kernel's internals gets loops compiled from the patched code.

    ``jl.run`` caches its compiled loop on the sampler's functions and settings
    (not on the values of its arrays), so a broken-kernel companion that patches
    a module function would otherwise reuse the loop compiled from the correct
    one, and a later test the broken one.
    """
    if "monkeypatch" not in request.fixturenames:
        yield
        return
    caches = [
        importlib.import_module("jlangevin.run")._compiled_chunk,
        importlib.import_module("jlangevin.adaptation")._cached_warmup,
    ]
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()
