"""Cost per chain on 1 and on 4 devices: the chains split over devices never communicate.

Runs MALA on ``jl.targets.gaussian`` (a dense covariance: a matrix-vector
product per chain) and on an isotropic Gaussian, 4096 chains x 200 steps,
``store="stats"``, once with ``devices=[one]`` and once over all devices, in a
process started with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``
(emulated CPU devices share this machine's cores: the figure that matters is
that 4 devices cost no more than 1, not a speed-up). Median of 5 calls after a
compiling call. Writes ``results/devices.{json,md}``.

Usage: ``python benchmarks/devices.py``.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time

NUM_CHAINS, NUM_STEPS, REPEATS = 4096, 200, 5


def measure() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jlangevin as jl

    dim = 3
    dense = jl.targets.gaussian(np.zeros(dim), cov=np.eye(dim) + 0.5)
    targets = {
        "gaussian, dense covariance": dense.logdensity,
        "isotropic Gaussian": lambda x: -0.5 * jnp.sum(x**2),
    }
    x0 = jnp.zeros((NUM_CHAINS, dim))
    rows = []
    for name, logp in targets.items():
        sampler = jl.mala(logp, step_size=0.3)
        row = {"target": name}
        for label, devices in (("1 device", jax.devices()[:1]), ("4 devices", jax.devices())):
            run = functools.partial(
                jl.run, jax.random.key(0), sampler, x0, NUM_STEPS, store="stats", devices=devices
            )
            jax.block_until_ready(run())
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                jax.block_until_ready(run())
                times.append(time.perf_counter() - start)
            row[label] = statistics.median(times)
        rows.append(row)
    return {"rows": rows, "chains": NUM_CHAINS, "steps": NUM_STEPS, "devices": jax.device_count()}


def main() -> None:
    if os.environ.get("_JL_DEVICES_CHILD") != "1":
        env = dict(os.environ, _JL_DEVICES_CHILD="1", JAX_PLATFORMS="cpu")
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
        ).strip()
        raise SystemExit(subprocess.call([sys.executable, __file__], env=env))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import environment, save

    report = measure()
    report["environment"] = environment()
    lines = [
        "| target | 1 device (s) | 4 devices (s) | 4 / 1 |",
        "|---|---|---|---|",
    ]
    for row in report["rows"]:
        ratio = row["4 devices"] / row["1 device"]
        lines.append(
            f"| {row['target']} | {row['1 device']:.3f} | {row['4 devices']:.3f} | {ratio:.2f} |"
        )
    env = report["environment"]
    lines.append("")
    lines.append(
        f"MALA, {NUM_CHAINS} chains x {NUM_STEPS} steps, store='stats', median of {REPEATS}; "
        f"4 emulated CPU devices on {env.get('cpu_count')} cores ({env.get('cpu')}); "
        f"jax {env['versions']['jax']}."
    )
    table = "\n".join(lines)
    print(table)
    save("devices", report, table)


if __name__ == "__main__":
    main()
