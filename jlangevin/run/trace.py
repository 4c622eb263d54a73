"""What :func:`jlangevin.run` returns: the :class:`Trace`, running moments, the warning.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import jlangevin as jl
>>> trace = jl.run(jax.random.key(0), jl.ula(lambda x: -x @ x, 0.1), jnp.zeros((2, 1)), 5)
>>> trace.positions.shape, trace.num_chains
((2, 5, 1), 2)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from jlangevin.types import Array, ArrayTree


class SamplingWarning(UserWarning):
    """A run finished, but some chains diverged or never moved: look before using the draws.

    Raised once per :func:`run` with the counts; :attr:`Trace.diverged` and
    :attr:`Trace.moves` say which chains. Silence it with
    ``warnings.simplefilter("ignore", jl.SamplingWarning)``.
    """


class RunningStats(NamedTuple):
    """Per-chain running moments of the kept draws (Welford's algorithm).

    Attributes
    ----------
    count : number of draws folded in.
    mean : per-chain mean, leaves ``(chains, *event)``.
    m2 : per-chain sum of squared deviations; ``var = m2 / count``.
    info_mean : per-chain mean of each numeric ``info`` field over kept draws.
    """

    count: Array
    mean: ArrayTree
    m2: ArrayTree
    info_mean: Any

    @property
    def var(self) -> ArrayTree:
        """Per-chain (population) variance of the kept draws."""
        return jax.tree.map(lambda m2: m2 / self.count, self.m2)


class Trace(NamedTuple):
    """What :func:`run` returns.

    Attributes
    ----------
    positions : kept draws, leaves ``(chains, draws, *event)`` (``store`` in
        ``"draws"``/``"positions"``), else ``None``.
    info : the kernel's info at each kept draw, leaves ``(chains, draws)``
        (``store="draws"``), else ``None``.
    final_state : the batched state after the last step.
    diverged : per chain, the number of diverged steps in this run, burn-in
        included (zeros when nothing went wrong or the kernel reports no
        ``diverged``).
    stats : running per-chain moments (``store="stats"``), else ``None``.
    values : what a callable ``store`` returned at each kept draw, leaves
        ``(chains, draws, ...)``, else ``None``.
    step_count : per chain, the steps taken over its whole life (earlier runs
        included). Pass the trace itself (or ``final_state``, when the state
        has a ``count``) back to :func:`run` to continue the same chains.
    moves : per chain, the number of steps in this run, burn-in included, after
        which the position differed from the one before (any leaf, any
        coordinate): an accepted move for exact kernels, any finite move for
        approximate ones. A chain with ``moves == 0`` never moved: every
        proposal was rejected, or every step diverged.
    steps : ``(draws,)`` integers: after how many steps of this run each kept draw
        was taken (``burnin + thin * (k + 1)`` for draw ``k``); ``0`` marks the
        initial positions, kept as draw 0 by ``keep_initial=True``. Frame labels
        (``t = 0, 1, ...``) come from here. ``None`` when no draws are kept.

    The properties :attr:`num_diverged_chains`, :attr:`num_diverged_steps` and
    :attr:`num_stuck_chains` summarise them; :func:`run` warns with the same
    counts (:class:`SamplingWarning`).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.5)
    >>> trace = jl.run(jax.random.key(0), sampler, jnp.zeros((4, 2)), 50)
    >>> trace.num_stuck_chains, trace.num_diverged_chains
    (0, 0)
    """

    positions: ArrayTree | None
    info: Any | None
    final_state: Any
    diverged: Array
    stats: RunningStats | None = None
    values: Any | None = None
    step_count: Array | None = None
    moves: Array | None = None
    steps: np.ndarray | None = None

    def without_initial(self) -> Trace:
        """This trace less draw 0 when that holds the initial positions (``keep_initial=True``).

        The diagnostics call it: a chain's starting point is not one of its draws.
        """
        if self.steps is None or len(self.steps) == 0 or self.steps[0] != 0:
            return self
        drop = lambda tree: None if tree is None else jax.tree.map(lambda x: x[:, 1:], tree)  # noqa: E731
        return self._replace(
            positions=drop(self.positions),
            info=drop(self.info),
            values=drop(self.values),
            steps=self.steps[1:],
        )

    @property
    def num_diverged_chains(self) -> int:
        """How many chains diverged at least once."""
        return int(np.sum(np.asarray(self.diverged) > 0))

    @property
    def num_diverged_steps(self) -> int:
        """Diverged steps over all chains."""
        return int(np.sum(np.asarray(self.diverged, np.int64)))

    @property
    def num_stuck_chains(self) -> int:
        """How many chains never moved (``moves == 0``; every chain after a run of no steps)."""
        if self.moves is None:
            return 0
        return int(np.sum(np.asarray(self.moves) == 0))

    @property
    def num_chains(self) -> int:
        """How many chains the trace holds."""
        return int(np.shape(self.diverged)[0])


__all__ = ["RunningStats", "SamplingWarning", "Trace"]
