"""No host round-trip inside a compiled chunk, on every backend.

A chunk is lowered for CUDA and TPU (lowering needs no hardware) and every
``while`` loop in it must have a static trip count: a counter that starts at a
constant, is compared (``LT``) with a constant and grows by a constant. A loop
whose condition depends on data would make the host wait on the device once per
iteration on GPU.
"""

import importlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin import keys

cache = importlib.import_module("jlangevin.run.cache")
loop = importlib.import_module("jlangevin.run.loop")

SAMPLERS = {
    "ula": lambda: jl.ula(lambda x: -0.5 * jnp.sum(x**2), 0.1),
    "mala": lambda: jl.mala(lambda x: -0.5 * jnp.sum(x**2), 0.3, bounds=(-3.0, 3.0)),
    "sgld": lambda: jl.sgld(
        jl.gradients.minibatch(
            lambda m: -0.5 * jnp.sum(m**2),
            lambda m, x: -0.5 * jnp.sum((x - m) ** 2),
            jnp.ones((20, 3)),
            batch_size=5,
        ),
        1e-3,
    ),
}

WHILE = re.compile(r"stablehlo\.while\((?P<args>[^)]*)\)")


def _while_loops(text: str):
    """``(init of each loop variable, cond block, body block)`` for every while loop."""
    for match in WHILE.finditer(text):
        inits = dict(re.findall(r"(%iterArg\w*) = (%[\w#]+)", match.group("args")))
        cond_start = text.index("cond {", match.end())
        body_start = text.index("} do {", cond_start)
        yield inits, text[cond_start:body_start], text[body_start : body_start + 4000]


def _static_trip_count(inits, cond, body) -> bool:
    compare = re.search(r"stablehlo\.compare\s+LT, (%iterArg\w*), (%c\w*)", cond)
    if compare is None or "stablehlo.constant" not in cond:
        return False
    counter = compare.group(1)
    start_is_constant = inits.get(counter, "").startswith("%c")
    steps_by_constant = re.search(rf"stablehlo\.add {counter}, %c\w*", body) is not None
    return start_is_constant and steps_by_constant


def _lowered_chunk(name: str, platform: str, store: str, thin: int) -> str:
    """One whole run (init, burn-in, draws) as ``jl.run`` compiles it when not chunked."""
    sampler = SAMPLERS[name]()
    counts = np.zeros((8,), np.int32)
    template, params = cache.split_sampler(sampler)
    chunk = loop.compiled_chunk(template, thin, store, None)
    chains = keys.chain_keys(jax.random.key(0), np.arange(8, dtype=np.uint32))
    traced = chunk.trace(
        chains,
        loop.Carry(jnp.zeros((8, 3)), counts, counts, counts, None),
        params,
        init=True,
        burn=4,
        draws=5,
    )
    return traced.lower(lowering_platforms=(platform,)).as_text()


@pytest.mark.parametrize("platform", ["cuda", "tpu"])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize(("store", "thin"), [("draws", 1), ("stats", 3)])
def test_every_loop_of_a_chunk_has_a_static_trip_count(platform, name, store, thin):
    text = _lowered_chunk(name, platform, store, thin)
    loops = list(_while_loops(text))
    assert loops, "the chunk should hold its scan over draws"
    for inits, cond, body in loops:
        assert _static_trip_count(inits, cond, body), cond


def test_the_check_catches_a_loop_that_waits_on_data():
    """The companion: a while loop whose condition is data is not taken for static."""

    def wait_for_data(x):
        return jax.lax.while_loop(lambda c: c[1] > 0.5, lambda c: (c[0] + 1, c[1] / 2), (0, x))

    text = jax.jit(wait_for_data).trace(3.0).lower(lowering_platforms=("cuda",)).as_text()
    loops = list(_while_loops(text))
    assert loops and not all(_static_trip_count(*loop) for loop in loops)
