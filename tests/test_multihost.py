"""Several hosts: 2 processes x 2 CPU devices through ``jax.distributed`` on 127.0.0.1.

Each process runs the README's multi-host recipe (the same global positions in
every process, ``jl.run``, then ``jl.gather``); process 0 saves what it gathered
and the test compares it, bit for bit, with a run in this (one-device) process.
Every process is bounded by a timeout that kills it: a runtime that waits for a
peer that died would otherwise hang (it catches SIGTERM).
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

import jlangevin as jl

WORKER = textwrap.dedent(
    """
    import sys
    import jax

    process_id, port, out, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=60,
    )
    import jax.numpy as jnp
    import numpy as np
    import jlangevin as jl

    assert jax.device_count() == 4 and jax.local_device_count() == 2, jax.devices()
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)
    x0 = np.linspace(-1.0, 1.0, 8 * 3, dtype=np.float32).reshape(8, 3)  # the same everywhere
    saved = {}
    for name, sampler in [("mala", jl.mala(logp, 0.3)), ("ula", jl.ula(logp, 0.05))]:
        trace = jl.run(jax.random.key(3), sampler, x0, 24, burnin=5, thin=2)
        assert len(trace.positions.sharding.device_set) == 4
        trace = jl.gather(trace)  # whole numpy arrays, in every process
        saved[name + "_positions"] = trace.positions
        saved[name + "_logdensity"] = trace.info.logdensity
        saved[name + "_diverged"] = trace.diverged
        stats = jl.gather(jl.run(jax.random.key(3), sampler, x0, 24, store="stats"))
        saved[name + "_mean"] = stats.stats.mean
        # A gathered trace is an ordinary one: diagnostics work on it.
        assert trace.num_chains == 8
    # Checkpoints: every process gathers, process 0 writes; the same call then loads the
    # finished run in every process and returns the same draws.
    kw = dict(burnin=5, thin=2, checkpoint_dir=folder, checkpoint_every=4)
    written = jl.gather(jl.run(jax.random.key(3), jl.mala(logp, 0.3), x0, 24, **kw))
    loaded = jl.gather(jl.run(jax.random.key(3), jl.mala(logp, 0.3), x0, 24, **kw))
    np.testing.assert_array_equal(written.positions, saved["mala_positions"])
    np.testing.assert_array_equal(loaded.positions, saved["mala_positions"])
    np.testing.assert_array_equal(loaded.moves, written.moves)
    if process_id == 0:
        np.savez(out, **saved)
    print("MULTIHOST-OK", process_id)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_draws_of_one(tmp_path):
    script, out = tmp_path / "worker.py", tmp_path / "gathered.npz"
    script.write_text(WORKER)
    env = dict(os.environ)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    env["JAX_PLATFORMS"] = "cpu"
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), port, str(out), str(tmp_path / "ckpt")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    logs = []
    try:
        for proc in procs:
            logs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:  # SIGKILL: the runtime catches SIGTERM and may keep waiting
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log
        assert "MULTIHOST-OK" in log, log

    gathered = np.load(out)
    logp = lambda x: -0.5 * jnp.sum(x**2) - 0.1 * jnp.sum(x**4)  # noqa: E731
    x0 = np.linspace(-1.0, 1.0, 8 * 3, dtype=np.float32).reshape(8, 3)
    assert jax.device_count() == 1  # the reference: this process, one device
    for name, sampler in [("mala", jl.mala(logp, 0.3)), ("ula", jl.ula(logp, 0.05))]:
        ref = jl.run(jax.random.key(3), sampler, x0, 24, burnin=5, thin=2)
        np.testing.assert_array_equal(gathered[name + "_positions"], ref.positions)
        np.testing.assert_array_equal(gathered[name + "_logdensity"], ref.info.logdensity)
        np.testing.assert_array_equal(gathered[name + "_diverged"], ref.diverged)
        stats = jl.run(jax.random.key(3), sampler, x0, 24, store="stats")
        np.testing.assert_array_equal(gathered[name + "_mean"], stats.stats.mean)
