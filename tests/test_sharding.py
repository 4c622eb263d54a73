"""Many devices: the chain axis split over 4 (emulated CPU) devices gives the same bits.

With the same chains per device everything is the same bits; with another number of
chains per device (``split-rounding``) what sums compute agrees to rounding and the
positions, decisions and counts are the same bits: what docs/guide.md claims.

The check runs in a subprocess because the device count is fixed when JAX
starts (``XLA_FLAGS=--xla_force_host_platform_device_count=4``).
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

import jlangevin as jl

HEAD = """
    import importlib
    import jax, jax.numpy as jnp, numpy as np
    import jlangevin as jl

    assert jax.device_count() == 4, jax.devices()
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
    x0 = jnp.linspace(-1.0, 1.0, 8 * 3).reshape(8, 3)
    one = [jax.devices()[0]]
    samplers = (
        jl.mala(logp, step_size=0.3), jl.ula(logp, step_size=0.05), jl.sgld(logp, step_size=0.05)
    )
    # What a sum over coordinates computes may round differently on another number of
    # chains per device (XLA compiles the sum for the batch a device holds); the guide
    # claims these equal to rounding and every other leaf of a trace the same bits.
    ROUNDING = {"logdensity", "acceptance_rate", "energy_error"}

    def assert_same(out, ref, what=""):
        names = set()
        flat = jax.tree_util.tree_flatten_with_path(out)[0]
        for (path, a), b in zip(flat, jax.tree.leaves(ref), strict=True):
            a, b, name = np.asarray(a), np.asarray(b), jax.tree_util.keystr(path)
            names.add(name)
            if name.rsplit(".", 1)[-1] in ROUNDING:
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=what + name)
            else:
                np.testing.assert_array_equal(a, b, err_msg=what + name)
        return names
"""

SPLIT = """
    # 4,096 chains: 1,024 per device against 4,096 on one. XLA compiles a sum over the
    # coordinates for the batch a device holds and may add in another order for another
    # batch size, so what a sum computes agrees to rounding; the rest is the same bits
    # (the guide's "Benchmarks and many devices" says which is which).
    x4096 = np.linspace(-1.0, 1.0, 4096 * 3, dtype=np.float32).reshape(4096, 3)
    kernels = {
        "mala": jl.mala(logp, step_size=0.3),
        "barker": jl.barker(logp, step_size=0.3),
        "malt": jl.malt(logp, step_size=0.3, num_integration_steps=3, gamma=1.0),
        "ula": jl.ula(logp, step_size=0.05),
    }

    def exact(out, ref):
        flat = jax.tree_util.tree_flatten_with_path(out)[0]
        for (path, a), b in zip(flat, jax.tree.leaves(ref), strict=True):
            name = jax.tree_util.keystr(path)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=kernel + name)
        return {jax.tree_util.keystr(path) for path, _ in flat}

    for kernel, sampler in kernels.items():
        out = jl.run(jax.random.key(0), sampler, x4096, 20)
        ref = jl.run(jax.random.key(0), sampler, x4096, 20, devices=one)
        assert len(out.positions.sharding.device_set) == 4
        names = assert_same(out, ref, kernel)
        assert {".positions", ".final_state.position", ".moves", ".step_count"} <= names
        assert ".info.is_accepted" in names or kernel == "ula", names
"""

#: Extra XLA flags of a part (its own process).
NO_YNNPACK = "--xla_cpu_experimental_ynn_fusion_type="
PART_FLAGS = {"split-exact-without-ynnpack": NO_YNNPACK}

PARTS = {
    "draws": """
    for sampler in samplers:
        # Every kernel one-shot; the first also with running stats and in chunks (the
        # driver's paths do not depend on the kernel).
        first_kernel = sampler is samplers[0]
        for store in ("draws", "stats") if first_kernel else ("draws",):
            kw = dict(burnin=5, thin=2, store=store)
            ref = jl.run(jax.random.key(3), sampler, x0, 24, devices=one, **kw)
            for chunk in (None, 5) if first_kernel else (None,):
                out = jl.run(jax.random.key(3), sampler, x0, 24, chunk_size=chunk, **kw)
                # Draws, scores, counts and accept decisions the same bits; log densities
                # and acceptance probabilities equal to rounding (2 chains per device here).
                assert_same(out, ref)
                leaf = out.positions if store == "draws" else out.stats.mean
                assert len(leaf.sharding.device_set) == 4, leaf.sharding
                assert len(out.final_state.position.sharding.device_set) == 4
                shard_rows = {s.data.shape[0] for s in leaf.addressable_shards}
                assert shard_rows == {2}, shard_rows
        # Resuming a sharded run continues the same chains.
        first = jl.run(jax.random.key(4), sampler, x0, 10)
        second = jl.run(jax.random.key(4), sampler, first.final_state, 10)
        whole = jl.run(jax.random.key(4), sampler, x0, 20, devices=one)
        np.testing.assert_array_equal(
            np.concatenate([first.positions, second.positions], axis=1), whole.positions
        )
    # 6 chains do not split over 4 devices: the default stays on one device...
    six = jl.run(jax.random.key(0), jl.ula(logp, step_size=0.05), x0[:6], 4)
    assert len(six.positions.sharding.device_set) == 1
    # ...and asking for all four is an error that names the argument.
    try:
        jl.run(jax.random.key(0), jl.ula(logp, step_size=0.05), x0[:6], 4, devices=jax.devices())
    except ValueError as err:
        assert "`devices`" in str(err)
    else:
        raise AssertionError("expected a ValueError")
""",
    "checkpoint": """
    # Checkpoints on 4 devices: a run that dies after a checkpoint resumes, by the same call,
    # to a one-device run (as assert_same says), and its trace is split over the 4 devices again.
    import tempfile
    from jlangevin import checkpoint

    real_save = checkpoint.save

    class Crash(Exception):
        pass

    def crashing_save(*args, **kwargs):
        real_save(*args, **kwargs)
        raise Crash

    kw = dict(burnin=5, thin=2, checkpoint_dir=tempfile.mkdtemp(), checkpoint_every=3)
    checkpoint.save = crashing_save
    try:
        jl.run(jax.random.key(3), samplers[0], x0, 24, **kw)
        raise AssertionError("expected the crash")
    except Crash:
        pass
    finally:
        checkpoint.save = real_save
    resumed = jl.run(jax.random.key(3), samplers[0], x0, 24, **kw)
    ref = jl.run(jax.random.key(3), samplers[0], x0, 24, burnin=5, thin=2, devices=one)
    assert_same(resumed, ref)
    assert len(resumed.positions.sharding.device_set) == 4
    assert len(resumed.final_state.position.sharding.device_set) == 4
""",
    "split-rounding": SPLIT,
    # Why: XLA:CPU hands a reduction over 2,048 rows or more to YNNPACK, which adds in
    # its own order. Without those fusions every leaf is the same bits.
    "split-exact-without-ynnpack": SPLIT.replace(
        "assert_same(out, ref, kernel)", "exact(out, ref)"
    ),
    "no-collectives": """
    # The compiled step loop holds no collective: chains never communicate.
    run_module = importlib.import_module("jlangevin.run")
    from jlangevin.run import cache, loop, placement
    sharding = run_module.chain_sharding(None, 8)
    gaussian = jl.targets.gaussian(np.zeros(3), cov=np.eye(3) + 0.5)
    for sampler in (*samplers, jl.mala(gaussian.logdensity, 0.3)):
        # A resumed chunk (init=False): the step loop alone, on the chains' states.
        state = jl.run(jax.random.key(0), sampler, x0, 0).final_state
        counts = placement.place(np.zeros(8, np.int32), sharding)
        carry = loop.Carry(state, counts, counts, counts, None)
        template, params = cache.split_sampler(sampler)
        params = jax.tree.map(lambda x: placement.replicated(x, sharding), params)
        chunk = loop.compiled_chunk(template, 2, "draws", sharding.mesh)
        key_data = placement.replicated(
            np.asarray(jax.random.key_data(jax.random.key(0))), sharding
        )
        ids = placement.place(np.arange(8, dtype=np.uint32), sharding)
        chains = loop.make_chain_keys(key_data, ids, impl="threefry2x32", mesh=sharding.mesh)
        # The chains' keys, made by a program of their own, hold no collective either.
        made = loop.make_chain_keys.lower(
            key_data, ids, impl="threefry2x32", mesh=sharding.mesh
        ).compile().as_text()
        assert len(chains.sharding.device_set) == 4
        lowered = chunk.lower(chains, carry, params, init=False, burn=3, draws=6)
        for hlo in (lowered.compile().as_text(), made):
            for op in ("all-reduce", "all-gather", "collective-permute", "all-to-all"):
                assert op not in hlo, op
            assert "reduce-scatter" not in hlo
""",
}


@pytest.mark.long
@pytest.mark.parametrize("part", sorted(PARTS))
def test_four_devices_give_the_same_draws_as_one(part):
    """Each part in its own 4-device process (so the parts run side by side under xdist)."""
    env = dict(os.environ)
    flags = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    env["XLA_FLAGS"] = f"{flags} {PART_FLAGS.get(part, '')}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    script = textwrap.dedent(HEAD) + textwrap.dedent(PARTS[part]) + '\nprint("SHARDING-OK")\n'
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    if part in PART_FLAGS and "Unknown flag in XLA_FLAGS" in result.stderr:
        pytest.skip(f"this XLA has no {PART_FLAGS[part]}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHARDING-OK" in result.stdout


def test_devices_argument_is_checked():
    sampler = jl.ula(lambda x: -0.5 * jnp.sum(x**2), step_size=0.1)
    with pytest.raises(TypeError, match="devices"):
        jl.run(jax.random.key(0), sampler, jnp.zeros((2, 1)), 3, devices=["cpu"])
    trace = jl.run(jax.random.key(0), sampler, jnp.zeros((2, 1)), 3, devices=jax.devices()[:1])
    assert trace.positions.shape == (2, 3, 1)
