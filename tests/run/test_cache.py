"""The compile cache (jlangevin.run.cache): what shares a compiled loop, and what it keeps alive."""

import functools
import gc
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.run.cache import ProgramCache, Weak, held, split_sampler
from jlangevin.run.loop import compiled_chunk

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731


def _misses():
    return compiled_chunk.cache_info().misses


@pytest.mark.long
def test_a_new_step_size_reuses_the_compiled_loop():
    """Warm-up makes a new sampler each time; only its arrays differ, so nothing recompiles."""
    x0 = jnp.zeros((4, 3))
    before = _misses()
    traces = [
        jl.run(jax.random.key(0), jl.mala(LOGP, step_size=jnp.full(3, h)), x0, 20)
        for h in (0.31, 0.47)
    ]
    assert _misses() - before == 1
    # Each sampler's own numbers: the same as through a sampler the cache cannot share.
    for h, trace in zip((0.31, 0.47), traces, strict=True):
        sampler = jl.mala(LOGP, step_size=jnp.full(3, h))
        opaque = jl.Sampler(
            init=lambda x, s=sampler: s.init(x), step=lambda k, st, s=sampler: s.step(k, st)
        )
        np.testing.assert_allclose(
            jl.run(jax.random.key(0), opaque, x0, 20).positions, trace.positions, rtol=1e-6
        )
    assert not np.allclose(traces[0].positions, traces[1].positions)


def _closing_over(data):
    return lambda x: -0.5 * jnp.sum((x - data) ** 2)


def test_a_cached_loop_keeps_no_closed_over_array_alive():
    """The loop compiled for a log density that closes over data holds the data as constants;
    once the user lets go of the sampler, the cache lets go of the loop and the data."""
    logp = _closing_over(jnp.linspace(-1.0, 1.0, 3))
    alive = weakref.ref(logp.__closure__[0].cell_contents)
    sampler = jl.ula(logp, step_size=0.1)
    before = _misses()
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((2, 3)), 5)
    jl.run(jax.random.key(1), sampler, jnp.zeros((2, 3)), 5)
    assert _misses() - before == 1  # the second call reused the loop
    entries = compiled_chunk.cache_info().currsize
    del logp, sampler, trace
    gc.collect()
    assert alive() is None, "the compile cache kept the closed-over array alive"
    assert compiled_chunk.cache_info().currsize <= entries - 1  # its entry went (others may)


def test_a_lambda_made_per_call_recompiles_and_one_made_once_does_not():
    x0 = jnp.zeros((2, 1))

    def fresh():
        return jl.Sampler(init=lambda x: jl.mala(LOGP, 0.3).init(x), step=jl.mala(LOGP, 0.3).step)

    before = _misses()
    for _ in range(2):
        jl.run(jax.random.key(0), fresh(), x0, 3)
    assert _misses() - before == 2  # a new lambda each call: a new program each call
    once = fresh()
    before = _misses()
    for _ in range(2):
        jl.run(jax.random.key(0), once, x0, 3)
    assert _misses() - before == 1


def test_samplers_that_differ_in_arrays_only_share_a_template():
    a, _ = split_sampler(jl.mala(LOGP, step_size=jnp.asarray(0.1)))
    b, params_b = split_sampler(jl.mala(LOGP, step_size=jnp.asarray(0.2)))
    c, _ = split_sampler(jl.mala(lambda x: LOGP(x), step_size=jnp.asarray(0.1)))
    assert a == b and hash(a) == hash(b)
    assert a != c  # another log density (by identity)
    assert all(np.all(np.asarray(x) == np.float32(0.2)) for x in jax.tree.leaves(params_b))


def _shifted(x, data):
    return -0.5 * jnp.sum((x - jnp.mean(data)) ** 2)


def test_a_partial_log_density_passes_its_data_to_the_loop():
    """A new dataset of the same shapes, through ``functools.partial``, reuses the loop:
    the data are arguments of the program, not constants of it, and each run sees its
    own (as a closure over it does)."""
    sampler = lambda data: jl.mala(  # noqa: E731
        functools.partial(_shifted, data=data), step_size=jnp.asarray(0.1)
    )
    ones, zeros = np.ones(5, np.float32), np.zeros(5, np.float32)
    first, _ = split_sampler(sampler(ones))
    second, second_params = split_sampler(sampler(zeros))
    assert first == second
    assert any(x is zeros for x in jax.tree.leaves(second_params))
    assert first.bind(second_params).step.keywords["logdensity_fn"].keywords["data"] is zeros
    x0 = jnp.zeros((4, 2))
    jl.run(jax.random.key(0), sampler(ones), x0, 20)
    before = _misses()
    shared = jl.run(jax.random.key(0), sampler(zeros), x0, 20)
    assert _misses() == before
    closure = jl.mala(lambda x: _shifted(x, zeros), step_size=jnp.asarray(0.1))
    own = jl.run(jax.random.key(0), closure, x0, 20)
    np.testing.assert_allclose(shared.positions, own.positions, rtol=1e-6, atol=1e-6)


def test_weak_handles_compare_by_identity_while_alive():
    def f(x):
        return x

    def g(x):
        return x

    assert Weak(f) == Weak(f) and Weak(f) != Weak(g)
    assert held(3.0) == 3.0 and held("draws") == "draws" and held(int) is int
    handle = Weak(g)
    del g
    gc.collect()
    assert handle() is None and handle != handle


def test_an_entry_goes_with_its_function_and_an_unhashable_key_is_not_kept():
    built = []
    cache = ProgramCache(lambda f, extra: built.append(f) or len(built), maxsize=2)

    def f(x):
        return x

    assert cache(held(f), 1) == 1 and cache(held(f), 1) == 1
    assert cache.cache_info().currsize == 1
    built.clear()  # the builder's own list held f
    del f
    gc.collect()
    assert cache.cache_info().currsize == 0
    assert cache(None, [1]) == 1 and cache.cache_info().currsize == 0  # a list: unhashable
    for extra in range(3):  # least recently used out beyond maxsize
        cache(None, extra)
    assert cache.cache_info().currsize == 2


class _Model:
    """A user's model whose sampler is made of bound methods, read afresh for every call."""

    def init(self, x):
        return jl.mala(LOGP, 0.3).init(x)

    def step(self, key, state):
        return jl.mala(LOGP, 0.3).step(key, state)


def test_bound_methods_of_one_object_share_a_loop_and_do_not_keep_it_alive():
    model = _Model()
    alive = weakref.ref(model)
    before = _misses()
    for _ in range(2):
        jl.run(
            jax.random.key(0), jl.Sampler(init=model.init, step=model.step), jnp.zeros((2, 1)), 3
        )
    assert _misses() - before == 1
    del model
    gc.collect()
    assert alive() is None
