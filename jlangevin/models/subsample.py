"""Stochastic-gradient sampling of NumPyro models: the data plate as minibatches.

:func:`subsampled` splits a NumPyro model's log density over the unconstrained
latent sites at its data plate (``numpyro.plate(name, N, ...)``)::

    log p(u | data) = logprior(u) + sum_{i < N} loglik(u, i)

- ``logprior``: every site outside the plate, with the log-Jacobian of the
  transforms (minus NumPyro's potential energy of the model with the plate's
  sites blocked);
- ``loglik(u, i)``: the sites inside the plate at data point ``i``, unscaled.

``data`` is ``arange(N)``, the point indices: that is the form
:mod:`jlangevin.gradients` takes (``loglik_fn(position, x_i)`` vmapped over a
batch of ``data``), so its estimators (:func:`~jlangevin.gradients.minibatch`,
:func:`~jlangevin.gradients.control_variates`,
:func:`~jlangevin.gradients.svrg`) draw the batches and apply the ``N / n``
scaling, and ``jl.sgld`` / ``jl.sghmc`` run on them unchanged.

A data point reaches the model in one of two ways:

- the plate subsamples (``numpyro.plate(name, N, subsample_size=n) as idx``,
  data indexed by ``idx`` or ``numpyro.subsample``): the plate's indices are
  set to the point's (``handlers.substitute``), and NumPyro's own ``N / n``
  scale of the plate's sites is divided out;
- a plain plate (``numpyro.plate(name, len(y))``): every argument leaf whose
  leading axis has the plate's ``N`` entries is sliced to the point.

Either way the split is checked once, at construction: ``logprior`` plus the
sum of ``loglik`` over all ``N`` points must equal the full log density.

:func:`find_mode` finds the mode of a model's unconstrained log density with
optax, for control variates and starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin import gradients
from jlangevin._checks import as_int, check_key
from jlangevin.models._model import Model
from jlangevin.models.numpyro import (
    from_numpyro,
    full_plate_indices,
    prior_trace,
    replay,
    set_plates,
)
from jlangevin.types import Array, ArrayTree, PRNGKey

#: Relative tolerance of the construction check ``logprior + sum loglik == full``.
SPLIT_RTOL = 1e-4


class Subsampled(NamedTuple):
    """A NumPyro model split at its data plate, in the form of :mod:`jlangevin.gradients`.

    Attributes
    ----------
    logprior_fn : ``position -> log p`` of everything outside the plate, log-Jacobian
        included (one unconstrained position, as ``model.logdensity_fn`` takes).
    loglik_fn : ``(position, i) -> log likelihood of data point i`` (the plate's
        sites at point ``i``, unscaled), a scalar.
    data : ``arange(N)``, the data point indices the estimators draw batches of.
    model : the full-data :class:`~jlangevin.models.Model` (``init``,
        ``constrain``, exact ``logdensity_fn``), as :func:`~jlangevin.models.from_numpyro`
        builds it.
    plate : the name of the data plate.
    num_data : ``N``, the plate's size.
    """

    logprior_fn: Callable[[ArrayTree], Array]
    loglik_fn: Callable[[ArrayTree, Array], Array]
    data: Array
    model: Model
    plate: str
    num_data: int

    def batch_logdensity_fn(self, position: ArrayTree, indices: Array) -> Array:
        """``logprior + (N / n) * sum of loglik over indices``: the minibatch log density.

        Its gradient is what :func:`jlangevin.gradients.minibatch` returns for the
        batch ``indices``; averaged over batches that partition ``range(N)`` it is
        the full-data gradient exactly.
        """
        indices = jnp.asarray(indices)
        per_point = jax.vmap(self.loglik_fn, in_axes=(None, 0))(position, indices)
        return self.logprior_fn(position) + self.num_data / indices.shape[0] * jnp.sum(per_point)

    def minibatch(self, batch_size: int, *, replace: bool = False) -> gradients.GradientEstimator:
        """:func:`jlangevin.gradients.minibatch` over the plate's data points."""
        return gradients.minibatch(
            self.logprior_fn, self.loglik_fn, self.data, batch_size, replace=replace
        )

    def control_variates(
        self, batch_size: int, centering_position: ArrayTree, *, replace: bool = False
    ) -> gradients.GradientEstimator:
        """:func:`jlangevin.gradients.control_variates` at ``centering_position`` (a mode)."""
        return gradients.control_variates(
            self.logprior_fn,
            self.loglik_fn,
            self.data,
            batch_size,
            centering_position,
            replace=replace,
        )

    def svrg(
        self, batch_size: int, update_every: int, *, replace: bool = False
    ) -> gradients.StatefulGradientEstimator:
        """:func:`jlangevin.gradients.svrg` over the plate's data points."""
        return gradients.svrg(
            self.logprior_fn,
            self.loglik_fn,
            self.data,
            batch_size,
            update_every,
            replace=replace,
        )


def _point_weight(plate_size: int, num_indices: int) -> float:
    """What undoes NumPyro's ``size / len(indices)`` scale of a subsampling plate's sites."""
    return num_indices / plate_size


def _in_plate(site: Mapping[str, Any], plate: str) -> bool:
    return any(frame.name == plate for frame in site.get("cond_indep_stack", ()))


def _plates(model_trace: Mapping[str, dict]) -> dict[str, dict]:
    return {name: site for name, site in model_trace.items() if site["type"] == "plate"}


def _choose_plate(model_trace: Mapping[str, dict], plate: str | None) -> str:
    """The data plate: ``plate``, or the model's one subsampling plate, or its one plate
    holding every observed site."""
    plates = _plates(model_trace)
    if plate is not None:
        if not isinstance(plate, str):
            raise TypeError(f"`plate` must be a plate's name (a str); got {type(plate).__name__}.")
        if plate not in plates:
            raise ValueError(
                f"`plate` must name a plate of the model {sorted(plates)}; got {plate!r}."
            )
        return plate
    subsampling = [n for n, s in plates.items() if np.shape(s["value"])[0] != s["args"][0]]
    if len(subsampling) == 1:
        return subsampling[0]
    observed = [s for s in model_trace.values() if s["type"] == "sample" and s["is_observed"]]
    holding = [n for n in plates if observed and all(_in_plate(s, n) for s in observed)]
    if len(holding) == 1:
        return holding[0]
    raise ValueError(
        f"`plate` is needed: the model has the plates {sorted(plates)}, and not exactly one "
        "that subsamples or holds every observed site; pass plate='<the data plate>'."
    )


def _check_no_local_latents(model_trace: Mapping[str, dict], plate: str) -> None:
    local = [
        name
        for name, site in model_trace.items()
        if site["type"] == "sample" and not site["is_observed"] and _in_plate(site, plate)
    ]
    if local:
        raise ValueError(
            f"`model` has latent sites {local} inside the data plate {plate!r}: one latent "
            "value per data point cannot be subsampled. Marginalise them out, or move them "
            "out of the plate."
        )


def _slicer(args: tuple, kwargs: dict, num_data: int, plate: str) -> Callable:
    """``indices -> (args, kwargs)`` with every leaf of leading length ``N`` taken at indices."""

    def is_data(leaf: Any) -> bool:
        return (
            isinstance(leaf, np.ndarray | jax.Array)
            and leaf.ndim >= 1
            and (leaf.shape[0] == num_data)
        )

    leaves = jax.tree.leaves((args, kwargs))
    if not any(is_data(leaf) for leaf in leaves):
        raise ValueError(
            f"`model`'s data plate {plate!r} has {num_data} points, but none of its arguments "
            f"has a leading axis of {num_data}: pass the data as arrays, or subsample in it "
            f"(numpyro.plate({plate!r}, N, subsample_size=n) as idx: ... y[idx])."
        )

    def sliced(indices: Array) -> tuple[tuple, dict]:
        return jax.tree.map(
            lambda leaf: jnp.take(leaf, indices, axis=0) if is_data(leaf) else leaf,
            (args, kwargs),
        )

    return sliced


def subsampled(model: Callable, *args: Any, plate: str | None = None, **kwargs: Any) -> Subsampled:
    """A NumPyro model's log density split at its data plate, for minibatch gradients.

    Parameters
    ----------
    model : a NumPyro model function whose observations sit in one plate: either
        ``numpyro.plate(name, N, subsample_size=n)`` with the data indexed by
        the plate's indices (NumPyro's SVI idiom), or a plain
        ``numpyro.plate(name, N)`` whose data are arguments with a leading axis
        of ``N``. Latent sites inside the plate are refused.
    *args, **kwargs : what ``model`` is called with (its data).
    plate : the data plate's name; default: the model's one subsampling plate,
        or else its one plate holding every observed site.

    Returns
    -------
    Subsampled
        ``logprior_fn``, ``loglik_fn(position, i)`` and ``data`` (the point
        indices) as :mod:`jlangevin.gradients` takes them, the full-data
        ``model``, and the estimators ``minibatch(n)``,
        ``control_variates(n, mode)`` and ``svrg(n, update_every)``.

    Raises
    ------
    ValueError
        When the plate is unknown or ambiguous, holds latent sites, or when
        ``logprior`` plus the sum of ``loglik`` over all points is not the
        full-data log density (data that do not follow the plate).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist
    >>> import jlangevin as jl
    >>> def model(y):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     with numpyro.plate("data", len(y), subsample_size=10) as idx:
    ...         numpyro.sample("y", dist.Normal(mu, 1.0), obs=y[idx])
    >>> parts = jl.models.subsampled(model, jnp.linspace(0.0, 2.0, 100))
    >>> parts.num_data, parts.plate
    (100, 'data')
    >>> sampler = jl.sgld(parts.minibatch(10), step_size=1e-3)
    >>> trace = jl.run(jax.random.key(1), sampler, parts.model.init(jax.random.key(0), 2), 100)
    """
    # numpy data become JAX arrays: the model indexes them with traced indices
    args, kwargs = jax.tree.map(
        lambda leaf: jnp.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf, (args, kwargs)
    )
    full = from_numpyro(model, *args, **kwargs)  # checks the model, its data and its sites
    from numpyro import handlers
    from numpyro.infer.util import potential_energy

    model_trace = prior_trace(model, args, kwargs)
    name = _choose_plate(model_trace, plate)
    _check_no_local_latents(model_trace, name)
    plate_site = _plates(model_trace)[name]
    num_data = int(plate_site["args"][0])
    others = {k: v for k, v in full_plate_indices(model_trace).items() if k != name}
    subsamples = np.shape(plate_site["value"])[0] != num_data
    if subsamples:  # the model indexes its data by the plate's indices: set them

        def at(indices: Array) -> tuple[Callable, tuple, dict]:
            return set_plates(model, {**others, name: indices}), args, kwargs
    else:  # a plain plate: slice the data arguments
        sliced = _slicer(args, kwargs, num_data, name)
        base = set_plates(model, others) if others else model

        def at(indices: Array) -> tuple[Callable, tuple, dict]:
            point_args, point_kwargs = sliced(indices)
            return base, point_args, point_kwargs

    def logprior_fn(position: ArrayTree) -> Array:
        fn, point_args, point_kwargs = at(jnp.zeros(1, jnp.int32))  # any point: it is blocked
        outside = handlers.block(fn, hide_fn=lambda site: _in_plate(site, name))
        return -potential_energy(outside, point_args, point_kwargs, dict(position))

    def loglik_fn(position: ArrayTree, index: Array) -> Array:
        indices = jnp.reshape(jnp.asarray(index, jnp.int32), (1,))
        fn, point_args, point_kwargs = at(indices)
        point_trace = replay(fn, point_args, point_kwargs, position)
        plate_site = _plates(point_trace)[name]  # NumPyro scaled its sites by size / len(value)
        weight = _point_weight(int(plate_site["args"][0]), np.shape(plate_site["value"])[0])
        total = jnp.zeros(())
        for site in point_trace.values():
            if site["type"] != "sample" or not _in_plate(site, name):
                continue
            log_prob = jnp.sum(site["fn"].log_prob(site["value"]))
            scale = 1.0 if site["scale"] is None else site["scale"]
            total = total + scale * weight * log_prob
        return total

    data = jnp.arange(num_data, dtype=jnp.int32)
    _check_split(full, logprior_fn, loglik_fn, data, name)
    return Subsampled(logprior_fn, loglik_fn, data, full, name, num_data)


def _check_split(
    full: Model, logprior_fn: Callable, loglik_fn: Callable, data: Array, plate: str
) -> None:
    """``logprior + sum_i loglik(i) == full log density`` at one start (one full pass)."""
    position = jax.tree.map(lambda x: x[0], full.init(jax.random.key(0), 1))

    @jax.jit
    def both(position: ArrayTree) -> tuple[Array, Array]:
        per_point = jax.vmap(loglik_fn, in_axes=(None, 0))(position, data)
        return logprior_fn(position) + jnp.sum(per_point), full.logdensity_fn(position)

    split, exact = (float(v) for v in both(position))
    if not np.isclose(split, exact, rtol=SPLIT_RTOL, atol=SPLIT_RTOL):
        raise ValueError(
            f"`model` does not split at the plate {plate!r} into a prior and a sum over its "
            f"{data.shape[0]} points: logprior + sum of loglik = {split}, the full log density "
            f"= {exact}. Every observation must sit in the plate, its data indexed by the "
            f"plate's indices (numpyro.plate({plate!r}, N, subsample_size=n) as idx: ... "
            "y[idx]) or passed as arguments with a leading axis of N."
        )


def find_mode(
    key: PRNGKey,
    model: Model | Subsampled,
    *,
    num_steps: int = 2_000,
    optimizer: Any = None,
) -> ArrayTree:
    """The mode of a model's unconstrained log density, by optax from the model's start.

    Parameters
    ----------
    key : the key of the start (``model.init(key, 1)``).
    model : a :class:`~jlangevin.models.Model` (e.g. from
        :func:`~jlangevin.models.from_numpyro`) or a :class:`Subsampled`
        (its full-data ``model``).
    num_steps : optimiser steps (full-data gradients), an int >= 1.
    optimizer : an ``optax.GradientTransformation`` minimising minus the log
        density; default ``optax.adam(1e-2)``.

    Returns
    -------
    position
        One unconstrained position (the structure of ``model.position_shapes``):
        the mode of the density the samplers sample, log-Jacobian included
        (so not the MAP of the constrained parameters). Use it as the centre of
        control variates and as a start.

    Raises
    ------
    ValueError
        When the log density or the position is not finite at the end.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax
    >>> import jlangevin as jl
    >>> from jlangevin.models import Model, init_uniform, find_mode
    >>> model = Model(lambda p: -0.5 * jnp.sum((p - 3.0) ** 2), init_uniform(jnp.zeros(2)))
    >>> mode = find_mode(jax.random.key(0), model, num_steps=500, optimizer=optax.adam(0.1))
    >>> [round(float(v), 2) for v in mode]
    [3.0, 3.0]
    """
    import optax

    check_key(key)
    if isinstance(model, Subsampled):
        model = model.model
    if not isinstance(model, Model):
        raise TypeError(
            "`model` must be a jlangevin.models.Model (e.g. from jl.from_numpyro) or a "
            f"Subsampled (from jl.models.subsampled); got {type(model).__name__}."
        )
    num_steps = as_int(num_steps, "num_steps", minimum=1)
    if optimizer is None:
        optimizer = optax.adam(1e-2)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            "`optimizer` must be an optax.GradientTransformation (e.g. optax.adam(1e-2)); "
            f"got {type(optimizer).__name__}."
        )
    start = jax.tree.map(lambda x: x[0], model.init(key, 1))
    loss = jax.value_and_grad(lambda p: -model.logdensity_fn(p))

    @jax.jit
    def optimise(position: ArrayTree) -> tuple[ArrayTree, Array]:
        def step(carry: tuple, _: None) -> tuple[tuple, None]:
            position, opt_state = carry
            _, grad = loss(position)
            updates, opt_state = optimizer.update(grad, opt_state, position)
            return (optax.apply_updates(position, updates), opt_state), None

        (position, _), _ = jax.lax.scan(
            step, (position, optimizer.init(position)), None, length=num_steps
        )
        return position, -loss(position)[0]

    mode, value = optimise(start)
    finite = np.isfinite(float(value)) and all(
        np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(mode)
    )
    if not finite:
        raise ValueError(
            f"find_mode did not end at a finite point (log density {float(value)}): lower the "
            "optimiser's learning rate (`optimizer`) or check the model."
        )
    return mode


__all__ = ["Subsampled", "find_mode", "subsampled"]
