"""Low-level kernels: one module per sampler, pure ``init``/``step`` functions.

Each module has NamedTuple ``State``/``Info`` types, ``init(position, ...)``,
``step(key, state, ...)`` and ``sampler(...)``, which binds the settings into a
:class:`~jlangevin.types.Sampler` (``jl.ula``, ``jl.mala``, ``jl.sgld``, and the
kinetic family ``jl.underdamped``, ``jl.malt``, ``jl.sghmc``, ``jl.barker``; replica
exchange over any exact kernel, ``jl.tempering``). The
pieces they share live in private modules, one responsibility each: the move
(``_move``), box boundaries (``_bounds``), the Metropolis–Hastings accept step
(``_metropolis``), input checks (``_checks``), pytree arithmetic (``_tree``) and the
kinetic kernels' momentum pieces (``_kinetic``).

>>> from jlangevin.kernels import mala
>>> state = mala.init(position, logdensity_fn)                       # doctest: +SKIP
>>> state, info = mala.step(key, state, logdensity_fn, step_size)    # doctest: +SKIP
"""

from jlangevin.kernels import (
    barker,
    mala,
    malt,
    mams,
    mclmc,
    sghmc,
    sgld,
    tempering,
    ula,
    underdamped,
)
from jlangevin.types import Sampler, Tuning

#: The exact kernels a warm-up can tune, by name (``jl.sample(kernel=...)``, the CLI):
#: each module's :class:`~jlangevin.types.Tuning` declaration. The one registry of them.
EXACT_KERNELS: dict[str, Tuning] = {
    "mala": mala.tuning,
    "barker": barker.tuning,
    "malt": malt.tuning,
    "mams": mams.tuning,
}
#: Kernels a warm-up can tune that are not exact (a step-size bias remains).
UNADJUSTED_KERNELS: dict[str, Tuning] = {"mclmc": mclmc.tuning}

__all__ = [
    "EXACT_KERNELS",
    "UNADJUSTED_KERNELS",
    "Sampler",
    "barker",
    "mala",
    "malt",
    "mams",
    "mclmc",
    "sghmc",
    "sgld",
    "tempering",
    "ula",
    "underdamped",
]
