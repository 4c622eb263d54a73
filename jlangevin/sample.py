"""``jl.sample``: initialise, warm up and run many chains in one call.

``sample(key, model, ...)`` is the three lines a user would write anyway::

    positions = model.init(key_init, num_chains)                  # or your own positions
    sampler, state, warmup = mala_warmup(key, logdensity_fn, positions, num_warmup)
    trace = jl.run(key, sampler, state, num_draws * thin, thin=thin)

and returns them together as a :class:`Sampled`, which knows the model and so
converts itself to ArviZ data and summaries under the model's own names.

Kernels: ``"mala"`` (the default) is adapted by :func:`jlangevin.adaptation.mala_warmup`
unless a ``step_size`` is given, in which case the ``num_warmup`` steps are plain
burn-in. ``"ula"`` has no Metropolis correction and so no acceptance to adapt
to: it needs a ``step_size`` and uses ``num_warmup`` as burn-in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from jlangevin._checks import as_flag, as_int, one_of
from jlangevin.adaptation import MIN_WARMUP_STEPS, PRECONDITIONERS, WarmupInfo, mala_warmup
from jlangevin.kernels import mala as mala_kernel
from jlangevin.kernels import ula as ula_kernel
from jlangevin.models import Model
from jlangevin.models._model import check_num_chains
from jlangevin.run import Trace, _check_key, run
from jlangevin.types import ArrayTree, PRNGKey, Sampler

KERNELS = ("mala", "ula")
DEFAULT_NUM_CHAINS = 4


class Sampled(NamedTuple):
    """What :func:`sample` returns.

    Attributes
    ----------
    trace : the :class:`~jlangevin.Trace` of the kept draws (unconstrained).
    warmup : the :class:`~jlangevin.adaptation.WarmupInfo` of the MALA
        warm-up, or ``None`` when nothing was adapted.
    sampler : the sampler that drew the trace (adapted step size bound in).
    model : the :class:`~jlangevin.Model` sampled, or ``None`` for a plain log density.
    """

    trace: Trace
    warmup: WarmupInfo | None
    sampler: Sampler
    model: Model | None

    @property
    def posterior(self) -> Any:
        """The draws under the model's names (``model.constrain``), else the positions."""
        if self.model is None:
            return self.trace.positions
        return self.model.constrain(self.trace.positions)

    def to_arviz(self, **kwargs: Any) -> Any:
        """ArviZ data of the run (``jl.to_arviz(trace, model=model, **kwargs)``)."""
        from jlangevin.diagnostics import to_arviz

        if self.model is not None:
            kwargs.setdefault("model", self.model)
        return to_arviz(self.trace, **kwargs)

    def summary(self, **kwargs: Any) -> Any:
        """A summary table: ``jlangevin.diagnostics.summary`` if present, else ``az.summary``."""
        from jlangevin import diagnostics

        summary = getattr(diagnostics, "summary", None)
        if summary is not None:
            return summary(self.trace, model=self.model, **kwargs)
        import arviz as az

        return az.summary(self.to_arviz(), **kwargs)


def _check_target(model: Any) -> tuple[Any, Model | None]:
    if isinstance(model, Model):
        return model.logdensity_fn, model
    if callable(model) and not isinstance(model, type):
        return model, None
    raise TypeError(
        "`model` must be a jl.Model (e.g. jl.from_numpyro(...)) or a log density "
        f"`position -> log p`; got {type(model).__name__}."
    )


def _check_positions(positions: Any, model: Model | None, num_chains: Any) -> Any:
    if positions is None:
        if model is None:
            raise ValueError(
                "`positions` is required when `model` is a plain log density (a jl.Model "
                "knows its own init): pass initial positions with a leading chain axis."
            )
        return None
    if model is not None:
        head = model.leading_shape(positions, "positions")
        if len(head) != 1:
            raise ValueError(
                f"`positions` needs one leading chain axis on every leaf; got leading axes {head}."
            )
        got = head[0]
    else:
        leaves = jax.tree.leaves(positions)
        if not leaves or any(jax.numpy.ndim(leaf) == 0 for leaf in leaves):
            raise ValueError(
                "`positions` needs a leading chain axis on every leaf (chains, *event)."
            )
        got = jax.numpy.shape(leaves[0])[0]
    if num_chains is not None and check_num_chains(num_chains) != got:
        raise ValueError(
            f"`num_chains` ({num_chains}) differs from the chains in `positions` ({got}); "
            "leave `num_chains` out when giving positions."
        )
    return positions


def sample(
    key: PRNGKey,
    model: Model | Any,
    *,
    num_chains: int | None = None,
    num_warmup: int = 1000,
    num_draws: int = 1000,
    kernel: str = "mala",
    preconditioner: str = "diagonal",
    thin: int = 1,
    positions: ArrayTree | None = None,
    step_size: Any = None,
    target_acceptance: float = 0.574,
    initial_step_size: float = 1.0,
    progress: bool = False,
    chunk_size: int | None = None,
) -> Sampled:
    """Sample a model in one call: initialise, warm up (MALA), run.

    Parameters
    ----------
    key : a JAX random key. ``split(key)`` gives the init key and the chains' key;
        the warm-up and the run share the chains' key, so the run continues the
        warmed-up chains with fresh numbers (as :func:`jlangevin.run` does).
    model : a :class:`~jlangevin.Model` (``jl.from_numpyro(...)``), or a plain
        log density ``position -> log p`` (then ``positions`` is required).
    num_chains : chains to run (default 4, or the chains of ``positions``).
    num_warmup : warm-up steps (default 1000): MALA adaptation (>= 20 steps),
        else burn-in.
    num_draws : draws kept per chain (default 1000); ``num_draws * thin`` steps run.
    kernel : ``"mala"`` (adapted: step size by dual averaging and a
        ``preconditioner``) or ``"ula"`` (needs ``step_size``; no adaptation).
    preconditioner : ``"diagonal"`` or ``"dense"`` (MALA warm-up).
    thin : keep every ``thin``-th step (default 1).
    positions : initial positions, leaves ``(chains, *event)``; default
        ``model.init``.
    step_size : a fixed step size (any ``jl.mala``/``jl.ula`` step): skips the
        adaptation, ``num_warmup`` steps become burn-in. Required for ``"ula"``.
    target_acceptance, initial_step_size : of the MALA warm-up.
    progress, chunk_size : of :func:`jlangevin.run`.

    Returns
    -------
    Sampled
        ``trace``, ``warmup`` (``None`` when not adapted), ``sampler``, ``model``;
        ``.posterior`` (constrained draws), ``.to_arviz()`` and ``.summary()``.

    Notes
    -----
    Integer arguments take Python ints and numpy/JAX integer scalars. Every bad
    argument is a ``ValueError``/``TypeError`` naming it, before anything runs.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.sample import sample
    >>> out = sample(jax.random.key(0), lambda x: -0.5 * jnp.sum(x**2),
    ...              positions=jnp.zeros((2, 3)), num_warmup=100, num_draws=50)
    >>> out.trace.positions.shape
    (2, 50, 3)
    """
    key = _check_key(key)
    logdensity_fn, the_model = _check_target(model)
    kernel = one_of(kernel, "kernel", KERNELS)
    preconditioner = one_of(preconditioner, "preconditioner", PRECONDITIONERS)
    num_warmup = as_int(num_warmup, "num_warmup", minimum=0)
    num_draws = as_int(num_draws, "num_draws", minimum=1)
    thin = as_int(thin, "thin", minimum=1)
    progress = as_flag(progress, "progress")
    if num_chains is not None:
        num_chains = check_num_chains(num_chains)
    adapt = kernel == "mala" and step_size is None
    if kernel == "ula" and step_size is None:
        raise ValueError(
            "`step_size` is required with kernel='ula' (ULA has no acceptance to adapt "
            "to); use kernel='mala' for an adapted step size."
        )
    if adapt and num_warmup < MIN_WARMUP_STEPS:
        raise ValueError(
            f"`num_warmup` must be >= {MIN_WARMUP_STEPS} for the MALA warm-up; got "
            f"{num_warmup} (give a `step_size` to skip the adaptation)."
        )
    # Built now so a bad step size or setting is named before anything runs.
    bound = None
    if not adapt:
        make = mala_kernel.sampler if kernel == "mala" else ula_kernel.sampler
        bound = make(logdensity_fn, step_size)
    positions = _check_positions(positions, the_model, num_chains)

    key_init, key_chains = jax.random.split(key)
    if positions is None:
        positions = the_model.init(key_init, num_chains or DEFAULT_NUM_CHAINS)
    warmup = None
    if adapt:
        bound, start, warmup = mala_warmup(
            key_chains,
            logdensity_fn,
            positions,
            num_warmup,
            target_acceptance,
            preconditioner=preconditioner,
            initial_step_size=initial_step_size,
        )
        burnin = 0
    else:
        start, burnin = positions, num_warmup
    trace = run(
        key_chains,
        bound,
        start,
        num_draws * thin,
        burnin=burnin,
        thin=thin,
        progress=progress,
        chunk_size=chunk_size,
    )
    return Sampled(trace, warmup, bound, the_model)


__all__ = ["KERNELS", "Sampled", "sample"]
