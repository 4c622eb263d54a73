"""Analytic targets with exact answers (moments, CDFs, exact samplers) where known.

Every target is a :class:`Target`; positions have shape ``(dim,)``.
"""

from jlangevin.targets.base import Target
from jlangevin.targets.gaussian import dice, gaussian, gaussian_mixture, noised_mixture
from jlangevin.targets.quartic import NORMALIZER as QUARTIC_NORMALIZER
from jlangevin.targets.quartic import quartic
from jlangevin.targets.shapes import banana, ellipse

__all__ = [
    "QUARTIC_NORMALIZER",
    "Target",
    "banana",
    "dice",
    "ellipse",
    "gaussian",
    "gaussian_mixture",
    "noised_mixture",
    "quartic",
]
