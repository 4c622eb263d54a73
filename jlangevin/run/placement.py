"""Placement: which devices hold which chains, and gathering a trace back whole.

Over several devices the chains are split over a one-axis mesh (``"chains"``)
and everything per chain runs under :func:`jax.shard_map` (:func:`per_chain`):
each device runs the one-device program on its own chains, so the compiled
loop holds no collective and chains never communicate.

Examples
--------
>>> import jax
>>> from jlangevin.run.placement import chain_sharding
>>> chain_sharding(None, 3) is None or len(jax.devices()) > 1
True
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def _device_list(devices: Any) -> list:
    if isinstance(devices, jax.Device):
        devices = [devices]
    if isinstance(devices, str | bytes) or not isinstance(devices, Sequence):
        raise TypeError(
            "`devices` must be None, a non-empty sequence of jax devices or a "
            f"jax.sharding.Mesh; got {type(devices).__name__} {devices!r}."
        )
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise TypeError(
            "`devices` must be None, a non-empty sequence of jax devices or a "
            f"jax.sharding.Mesh; got {devices!r}."
        )
    if len(set(devices)) != len(devices):
        raise ValueError(f"`devices` lists a device more than once; got {devices!r}.")
    return devices


def chain_sharding(
    devices: Sequence[jax.Device] | Mesh | None, num_chains: int
) -> NamedSharding | None:
    """The placement :func:`run` gives the chain axis (``None``: one device, arrays left as are).

    Parameters
    ----------
    devices : ``None`` for the default (all devices of all processes when there
        are several and ``num_chains`` divides evenly among them), a sequence of
        devices, or a mesh (the chain axis is split over all of its axes).
    num_chains : number of chains.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.run import chain_sharding
    >>> len(chain_sharding(jax.devices()[:1], 4).device_set)
    1
    """
    if devices is None:
        found = jax.devices()
        if len(found) < 2 or num_chains % len(found):
            return None
        devices = found
    mesh = devices if isinstance(devices, Mesh) else None
    if mesh is None:
        mesh = Mesh(np.asarray(_device_list(devices)), ("chains",))
    if num_chains % mesh.devices.size:
        raise ValueError(
            f"`devices`: {num_chains} chains do not split evenly over {mesh.devices.size} "
            "devices; use a multiple of the device count."
        )
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names))


def put(x: Any, sharding: NamedSharding) -> jax.Array:
    """``x`` on ``sharding``; host data (the same in every process) becomes a global array."""
    if isinstance(x, jax.Array) and (x.is_fully_addressable is False or jax.process_count() == 1):
        return jax.device_put(x, sharding)
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place(tree: Any, sharding: NamedSharding | None) -> Any:
    """Chain-axis leaves split over ``sharding``, scalars replicated; no-op without one."""
    if sharding is None:
        return tree
    whole = NamedSharding(sharding.mesh, PartitionSpec())
    return jax.tree.map(lambda x: put(x, sharding if jnp.ndim(x) else whole), tree)


def replicated(x: Any, sharding: NamedSharding | None) -> Any:
    """``x`` whole on every device of ``sharding``'s mesh; no-op without one."""
    if sharding is None:
        return x
    return put(x, NamedSharding(sharding.mesh, PartitionSpec()))


def _split_specs(tree: Any, mesh: Mesh) -> Any:
    """Per leaf: split along the chain axis, or replicated for a scalar."""
    split = PartitionSpec(mesh.axis_names)
    return jax.tree.map(lambda x: split if jnp.ndim(x) else PartitionSpec(), tree)


def per_chain(
    fn: Callable, mesh: Mesh | None, shared: Any, per_chain: tuple, out_specs: Any = None
) -> Any:
    """``fn(shared, *per_chain)``; on a mesh, under ``shard_map``: each device on its own chains.

    ``shared`` is replicated to every device; leaves of ``per_chain`` with a
    leading axis are split along the chain axis (scalars replicated); outputs
    are split as ``out_specs`` says (default: every output leaf has the chain
    axis). Nothing is exchanged between devices.
    """
    if mesh is None:
        return fn(shared, *per_chain)
    if out_specs is None:
        out_specs = PartitionSpec(mesh.axis_names)
    in_specs = (PartitionSpec(), *_split_specs(per_chain, mesh))
    # check_vma=False: a kernel's init may return values that do not depend on the
    # position (a step count of 0), which the per-device type check would reject as
    # "replicated" carries of the scan; every chain-axis output is per-chain anyway.
    mapped = jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    return mapped(shared, *per_chain)


def gather(tree: Any) -> Any:
    """Every array of ``tree`` (a :class:`Trace`, say) whole, as numpy, in every process.

    After a multi-host run the trace's arrays span devices of several processes
    and no process can read them directly; ``gather`` assembles each one (an
    all-gather across processes) so that ``jl.to_arviz`` and ``jl.check`` can use
    it. In one process it is :func:`jax.device_get`. Every leaf must be an array
    or a number.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> trace = jl.run(jax.random.key(0), jl.ula(lambda x: -x @ x, 0.1), jnp.zeros((2, 1)), 5)
    >>> type(jl.gather(trace).positions).__name__
    'ndarray'
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.core.Tracer) or not isinstance(
            leaf, jax.Array | np.ndarray | np.generic | numbers.Number
        ):
            raise TypeError(
                f"`tree`{jax.tree_util.keystr(path)}: jl.gather takes a pytree of concrete "
                f"arrays (a Trace, say); got {type(leaf).__name__}."
            )
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    def one(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(one, tree)


__all__ = ["chain_sharding", "gather", "per_chain", "place", "put", "replicated"]
