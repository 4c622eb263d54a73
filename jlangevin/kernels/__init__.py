"""Low-level kernels: one module per sampler, pure ``init``/``step`` functions.

>>> from jlangevin.kernels import mala
>>> state = mala.init(position, logdensity_fn)                       # doctest: +SKIP
>>> state, info = mala.step(key, state, logdensity_fn, step_size)    # doctest: +SKIP
"""

from jlangevin.kernels import mala, sgld, ula
from jlangevin.kernels._langevin import Sampler

__all__ = ["Sampler", "mala", "sgld", "ula"]
