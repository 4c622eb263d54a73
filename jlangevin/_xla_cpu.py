"""One XLA:CPU code-generation workaround: jlangevin's programs hash with Threefry unrolled.

JAX lowers its ``threefry2x32`` hash on CPU as a loop of five rounds
(elsewhere it is written out). With one key per chain, as ``jl.run`` gives
every chain and step, that loop carries broadcast copies of the key schedule
through every round and does not fuse with the step around it. While jlangevin
compiles its own programs, :func:`unrolled_threefry` gives the CPU the
lowering every other platform has: the same numbers, bit for bit (its measured
throughput and compile times, and where it loses, are in ``benchmarks/README.md``).
Other programs of the process, and other platforms, are not touched. If JAX's
internals move, it does nothing.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator

_LOCK = threading.Lock()


@functools.cache
def _rules() -> tuple | None:
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        unrolled = mlir.lower_fun(
            functools.partial(threefry._threefry2x32_lowering, use_rolled_loops=False),
            multiple_results=True,
        )
        return mlir, threefry.threefry2x32_p, unrolled
    except (ImportError, AttributeError):  # internals moved: keep JAX's lowering
        return None


@contextlib.contextmanager
def unrolled_threefry() -> Iterator[None]:
    """Within the block, programs lowered for CPU write the Threefry rounds out."""
    rules = _rules()
    if rules is None:
        yield
        return
    mlir, primitive, unrolled = rules
    with _LOCK:
        table = mlir._platform_specific_lowerings["cpu"]
        previous = table.get(primitive)
        mlir.register_lowering(primitive, unrolled, platform="cpu")
        try:
            yield
        finally:
            if previous is None:
                table.pop(primitive, None)
            else:
                table[primitive] = previous
