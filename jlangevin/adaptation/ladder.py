"""The replica-exchange ladder: the communication barrier and the rungs that split it equally.

From the swap rejection rates ``r_k`` of the adjacent pairs ``(k, k + 1)`` the
cumulative communication barrier ``Λ_k = r_0 + ... + r_{k-1}`` is interpolated
monotonically (Fritsch-Carlson PCHIP), and the new rungs split ``Λ`` into
``K - 1`` equal parts, so every pair is predicted to reject equally often
(Syed et al. 2021, Algorithm 4 / Section 5.1). ``beta_0 = 1``,
``beta_{K-1} = beta_min`` and ``K`` stay.

``Λ`` is interpolated in ``-log beta`` rather than in ``beta``: for any target with
Gaussian-like tails the local barrier is ``λ(β) ≈ c / β`` (exactly so for a Gaussian
in any dimension), so ``Λ`` is linear in ``log β``, where the interpolant is exact
and one round from a poor ladder already lands near the geometric optimum. Both
interpolants have the same fixed point (equal rates).

Everything here runs on the host in float64 (``K`` numbers).

References
----------
S. Syed, A. Bouchard-Côté, G. Deligiannidis and A. Doucet (2021). Non-reversible
parallel tempering: a scalable highly parallel MCMC scheme. JRSS B 84(2).
F. N. Fritsch and R. E. Carlson (1980). Monotone piecewise cubic interpolation.
SIAM J. Numer. Anal. 17(2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from jlangevin.kernels.tempering import check_betas

#: ``K``, the rungs of the initial geometric ladder, unless the caller sets it.
DEFAULT_NUM_RUNGS = 8
#: ``beta_min`` default: a rung at ``beta`` crosses an energy barrier of ``ΔV`` nats
#: about as often as ``exp(-beta ΔV)``, so 0.01 crosses barriers up to ~100 nats at
#: ``beta = 1``; its replica is 10x wider than the target, not so wide that the hot
#: rungs wander far into the tails (every halving of ``beta_min`` adds ``Λ`` there).
DEFAULT_BETA_MIN = 0.01
#: Rejection-rate floor: keeps the interpolated barrier strictly increasing.
MIN_REJECTION = 1e-6


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes of the monotone cubic through ``(x, y)`` (``x`` increasing).

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.adaptation.ladder import pchip_slopes
    >>> pchip_slopes(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0])).tolist()
    [1.0, 1.0, 1.0]
    """
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    if x.size == 2:
        return np.full(2, delta[0])
    m = np.zeros_like(x)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = delta[:-1] * delta[1:] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
    m[1:-1] = np.where(same, harmonic, 0.0)

    def end(h0: float, h1: float, d0: float, d1: float) -> float:  # shape-preserving 3 points
        slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(slope) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(slope) > 3 * abs(d0):
            return 3 * d0
        return slope

    m[0] = end(h[0], h[1], delta[0], delta[1])
    m[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return m


def hermite(x: np.ndarray, y: np.ndarray, m: np.ndarray, j: np.ndarray, t: np.ndarray) -> Any:
    """The cubic Hermite interpolant with slopes ``m``, on segment ``j`` at fraction ``t``.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.adaptation.ladder import hermite
    >>> x, y = np.array([0.0, 2.0]), np.array([0.0, 2.0])
    >>> float(hermite(x, y, np.ones(2), np.array(0), np.array(0.25)))
    0.5
    """
    h = x[j + 1] - x[j]
    t2, t3 = t * t, t * t * t
    return (
        (2 * t3 - 3 * t2 + 1) * y[j]
        + (t3 - 2 * t2 + t) * h * m[j]
        + (-2 * t3 + 3 * t2) * y[j + 1]
        + (t3 - t2) * h * m[j + 1]
    )


def barrier_knots(betas: Any, rejection: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(u, Λ)``: the knots of the barrier interpolant, ``u = -log β`` and the cumulative rates.

    Parameters
    ----------
    betas : ``(K,)`` the ladder, ``1 = beta_0 > ... > beta_{K-1} > 0``.
    rejection : ``(K - 1,)`` the swap rejection rate of each adjacent pair (floored
        at :data:`MIN_REJECTION`, capped at 1).

    Examples
    --------
    >>> from jlangevin.adaptation.ladder import barrier_knots
    >>> u, lam = barrier_knots([1.0, 0.5], [0.25])
    >>> lam.tolist()
    [0.0, 0.25]
    """
    betas = check_betas(betas)
    rejection = np.clip(np.asarray(rejection, np.float64), MIN_REJECTION, 1.0)
    if rejection.shape != (betas.size - 1,):
        raise ValueError(
            f"`rejection` must have one rate per adjacent pair, shape ({betas.size - 1},); "
            f"got {rejection.shape}."
        )
    return -np.log(betas), np.concatenate([[0.0], np.cumsum(rejection)])


def barrier_interpolant(betas: Any, rejection: Any) -> Callable[[Any], np.ndarray]:
    """``β -> Λ(β)``: the monotone interpolant of the cumulative rejection rates.

    ``Λ(β_k) = r_0 + ... + r_{k-1}`` (0 at ``beta = 1``), interpolated by PCHIP
    in ``-log β`` between the rungs.

    Examples
    --------
    >>> from jlangevin.adaptation.ladder import barrier_interpolant
    >>> barrier = barrier_interpolant([1.0, 0.1, 0.01], [0.3, 0.3])
    >>> round(float(barrier(10 ** -0.5)), 6)  # Λ linear in log β here
    0.15
    """
    u, lam = barrier_knots(betas, rejection)
    m = pchip_slopes(u, lam)

    def barrier(beta: Any) -> np.ndarray:
        x = -np.log(np.asarray(beta, np.float64))
        j = np.clip(np.searchsorted(u, x, side="right") - 1, 0, u.size - 2)
        return hermite(u, lam, m, j, (x - u[j]) / (u[j + 1] - u[j]))

    return barrier


def local_barrier(betas: Any, rejection: Any) -> np.ndarray:
    """``(K,)``: ``λ(β_k) = |dΛ/dβ|`` at the rungs (Syed et al.'s local barrier).

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.adaptation.ladder import local_barrier
    >>> betas = np.array([1.0, 0.1, 0.01])
    >>> np.round(local_barrier(betas, [0.3, 0.3]) * betas, 6).tolist()  # λ ∝ 1 / β
    [0.130288, 0.130288, 0.130288]
    """
    u, lam = barrier_knots(betas, rejection)
    return pchip_slopes(u, lam) * np.exp(u)  # dΛ/dβ = dΛ/du · du/dβ, |du/dβ| = 1 / β


def update_ladder(betas: Any, rejection: Any) -> np.ndarray:
    """The ladder that splits the interpolated barrier ``Λ`` into equal parts.

    Parameters
    ----------
    betas : ``(K,)`` the current ladder, ``1 = beta_0 > ... > beta_{K-1} > 0``.
    rejection : ``(K - 1,)`` the estimated swap rejection rate of each pair
        ``(k, k + 1)`` (floored at :data:`MIN_REJECTION`).

    Returns
    -------
    ``(K,)`` float64: ``beta_0 = 1`` and ``beta_{K-1}`` kept; rung ``k`` where the
    interpolant reaches ``k Λ / (K - 1)`` (Syed et al. 2021, Algorithm 4).

    Examples
    --------
    >>> from jlangevin.adaptation.ladder import update_ladder
    >>> update_ladder([1.0, 0.5, 0.01], [0.1, 0.5]).round(4).tolist()
    [1.0, 0.1134, 0.01]
    """
    u, lam = barrier_knots(betas, rejection)
    m = pchip_slopes(u, lam)
    levels = lam[-1] * np.arange(1, u.size - 1) / (u.size - 1)
    j = np.clip(np.searchsorted(lam, levels, side="right") - 1, 0, u.size - 2)
    low, high = np.zeros_like(levels), np.ones_like(levels)
    for _ in range(60):  # bisection: the interpolant is monotone on every segment
        mid = 0.5 * (low + high)
        below = hermite(u, lam, m, j, mid) < levels
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    inner = u[j] + 0.5 * (low + high) * (u[j + 1] - u[j])
    new = np.exp(-np.concatenate([[0.0], inner, [u[-1]]]))
    new[0], new[-1] = 1.0, check_betas(betas)[-1]
    return new


def round_trip_rate(rejection: Any) -> float:
    """``1 / (2 + 2 Σ r / (1 - r))``: round trips per step of the even-odd scheme.

    The predicted rate of round trips ``beta = 1 -> beta_min -> 1`` per step and
    ladder (Syed et al. 2021, Theorem 3; swaps after every step).

    Examples
    --------
    >>> from jlangevin.adaptation.ladder import round_trip_rate
    >>> round_trip_rate([0.5, 0.5])
    0.16666666666666666
    """
    r = np.clip(np.asarray(rejection, np.float64), 0.0, 1.0 - 1e-12)
    return float(1.0 / (2.0 + 2.0 * np.sum(r / (1.0 - r))))


__all__ = [
    "DEFAULT_BETA_MIN",
    "DEFAULT_NUM_RUNGS",
    "MIN_REJECTION",
    "barrier_interpolant",
    "barrier_knots",
    "hermite",
    "local_barrier",
    "pchip_slopes",
    "round_trip_rate",
    "update_ladder",
]
