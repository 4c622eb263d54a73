"""Several hosts: 2 processes x 2 CPU devices through ``jax.distributed`` on 127.0.0.1.

- The guide's recipe, as written: its ``multihost.py`` block and the launch lines
  under it (``timeout -k``), on a free port instead of the page's 12345; what process
  0 saves equals, bit for bit, the same file run in one process on four devices.
- A worker that checks more (two kernels, running stats, checkpoints written by
  process 0 and loaded in every process), compared with a run in this (one-device)
  process: draws, counts and running means bit for bit, log densities to rounding
  (another number of chains per device: docs/guide.md, many devices).

Every process is bounded by a timeout that kills it: a runtime that waits for a
peer that died would otherwise hang (it catches SIGTERM).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_docs_blocks import python_blocks

import jlangevin as jl

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"

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


@pytest.mark.long
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
        # A sum (the log density) may round differently on 2 chains per device than on 8
        # on one (docs/guide.md, many devices): equal to rounding, the rest the same bits.
        np.testing.assert_allclose(
            gathered[name + "_logdensity"], ref.info.logdensity, rtol=1e-5, atol=1e-5
        )
        np.testing.assert_array_equal(gathered[name + "_diverged"], ref.diverged)
        stats = jl.run(jax.random.key(3), sampler, x0, 24, store="stats")
        np.testing.assert_array_equal(gathered[name + "_mean"], stats.stats.mean)


def _guide_recipe() -> tuple[str, str]:
    """The guide's ``multihost.py`` block and the bash block that launches it."""
    text = GUIDE.read_text()
    recipes = [code for _, code, _ in python_blocks(text) if "jax.distributed.initialize" in code]
    assert len(recipes) == 1, "the guide should hold one multi-host recipe"
    after = text[text.index(recipes[0]) + len(recipes[0]) :]
    launch = re.search(r"^```bash\n(.*?)^```", after, re.S | re.M)
    assert launch and "multihost.py" in launch.group(1), "no launch lines after the recipe"
    return recipes[0], launch.group(1)


def _run_bounded(command: list[str], log: Path, timeout: float, **kwargs) -> int | None:
    """Run a command in its own process group, output into ``log``; SIGKILL the whole
    group past ``timeout`` (the status is then ``None``)."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.long
def test_the_guides_recipe_runs_as_written(tmp_path):
    recipe, launch = _guide_recipe()
    port = str(_free_port())
    assert recipe.count('"127.0.0.1:12345"') == 1
    hosts, one = tmp_path / "hosts", tmp_path / "one"
    hosts.mkdir()
    one.mkdir()
    (hosts / "multihost.py").write_text(recipe.replace("12345", port))
    (one / "multihost.py").write_text(recipe)
    bin_dir = str(Path(sys.executable).parent)  # `python` in the launch lines: this one
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("XLA_FLAGS", None)
    status = _run_bounded(["bash", "-c", launch], hosts / "log.txt", 150, cwd=hosts, env=env)
    text = (hosts / "log.txt").read_text()
    assert status == 0, text
    assert "PASSED" in text, text
    saved = np.load(hosts / "positions.npy")

    # The same file in one process on four devices: jax.distributed is not started.
    single = (
        "import sys, jax\n"
        "jax.distributed.initialize = lambda **kwargs: None\n"
        "sys.argv = ['multihost.py', '0']\n"
        "exec(compile(open('multihost.py').read(), 'multihost.py', 'exec'))\n"
    )
    env1 = dict(env, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    status = _run_bounded([sys.executable, "-c", single], one / "log.txt", 150, cwd=one, env=env1)
    assert status == 0, (one / "log.txt").read_text()
    np.testing.assert_array_equal(saved, np.load(one / "positions.npy"))
