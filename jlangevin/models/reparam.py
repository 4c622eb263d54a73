"""``noncentered``: a NumPyro model's loc-scale latent sites, decentred.

A hierarchical site ``theta ~ Normal(mu, tau)`` makes a funnel: as ``tau``
shrinks, ``theta`` is squeezed into a neck no fixed step size can both enter
and cross (Neal 2003; Betancourt & Girolami 2015). The centred eight schools
defeats every sampler this package benchmarks against, NUTS included. The
cure is not a better sampler but a better coordinate system: sample the
standardised ``theta_decentered ~ Normal(0, 1)`` and set
``theta = mu + tau * theta_decentered``, which has the same law and no funnel
(Papaspiliopoulos, Roberts & Sköld 2007; Gorinova, Moore & Hoffman 2020).

:func:`noncentered` applies NumPyro's own
:class:`~numpyro.infer.reparam.LocScaleReparam` (``centered=0``) to the chosen
sites, so the reparameterised model is an ordinary NumPyro model. Through
:func:`~jlangevin.models.from_numpyro` its latent sites are the
``<name>_decentered`` ones and the original ``<name>`` comes back as a
deterministic site: :meth:`~jlangevin.models.Model.constrain`, ``jl.summary``
and ArviZ see the model's own variables, on the original posterior.

Decentring is not free: when the data pin a group's parameters down far more
tightly than the prior does, the centred form mixes better. Pass ``sites=`` to
choose; the default decentres every latent site whose distribution is a
loc-scale family with real support.

References
----------
O. Papaspiliopoulos, G. O. Roberts and M. Sköld (2007). A general framework for
the parametrization of hierarchical models. Statistical Science 22(1).
M. Betancourt and M. Girolami (2015). Hamiltonian Monte Carlo for hierarchical
models. In Current Trends in Bayesian Methodology with Applications.
M. Gorinova, D. Moore and M. D. Hoffman (2020). Automatic reparameterisation of
probabilistic programs. ICML.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from jlangevin.models.numpyro import _numpyro

#: What a decentred site's latent is called: ``theta`` -> ``theta_decentered`` (NumPyro's name).
SUFFIX = "_decentered"

#: Loc-scale families :func:`noncentered` decentres, with the extra parameters
#: each copies unchanged (StudentT's degrees of freedom).
FAMILIES: dict[str, tuple[str, ...]] = {
    "Normal": (),
    "Laplace": (),
    "Cauchy": (),
    "Logistic": (),
    "Gumbel": (),
    "StudentT": ("df",),
}


def _base(fn: Any) -> Any:
    """The distribution under NumPyro's ``Independent`` / ``ExpandedDistribution`` wrappers."""
    from numpyro.distributions import ExpandedDistribution, Independent

    while isinstance(fn, (Independent, ExpandedDistribution)):
        fn = fn.base_dist
    return fn


def family(fn: Any) -> str | None:
    """The :data:`FAMILIES` name of a NumPyro distribution (wrappers looked through), else ``None``.

    Examples
    --------
    >>> import numpyro.distributions as dist
    >>> from jlangevin.models.reparam import family
    >>> family(dist.Normal(0.0, 1.0).expand([3]).to_event(1)), family(dist.HalfCauchy(1.0))
    ('Normal', None)
    """
    name = type(_base(fn)).__name__
    return name if name in FAMILIES else None


def _check_sites(sites: Any) -> frozenset[str] | None:
    if sites is None:
        return None
    if isinstance(sites, str):
        sites = (sites,)
    if not isinstance(sites, Iterable) or not all(isinstance(s, str) for s in sites):
        raise TypeError(
            f"`sites` must be None or site names (a str or a sequence of str); got {sites!r}."
        )
    sites = frozenset(sites)
    if not sites:
        raise ValueError("`sites` must name at least one site (or be None for every eligible one).")
    return sites


def noncentered(model: Callable, sites: str | Iterable[str] | None = None) -> Callable:
    """``model`` with its loc-scale latent sites decentred (a NumPyro model).

    Parameters
    ----------
    model : a NumPyro model function.
    sites : the latent sites to decentre, by name; ``None`` (default): every
        latent site whose distribution is one of :data:`FAMILIES` (possibly
        expanded or made an event) with real support. A named site that is
        observed, absent or of another family raises a ``ValueError`` when the
        model is first traced (:func:`~jlangevin.models.from_numpyro` does that).

    Returns
    -------
    callable
        A NumPyro model with the same arguments. Site ``name`` becomes the latent
        ``name_decentered`` (standardised: ``loc = 0``, ``scale = 1``) and the
        deterministic ``name = loc + scale * name_decentered``.

    Examples
    --------
    >>> import jax.numpy as jnp, numpyro, numpyro.distributions as dist
    >>> from jlangevin.models import from_numpyro, noncentered
    >>> def schools(sigma, y=None):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    ...     tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    ...     with numpyro.plate("J", sigma.shape[0]):
    ...         theta = numpyro.sample("theta", dist.Normal(mu, tau))
    ...         numpyro.sample("y", dist.Normal(theta, sigma), obs=y)
    >>> m = from_numpyro(noncentered(schools, "theta"), jnp.ones(8), y=jnp.zeros(8))
    >>> m.latent_names, m.deterministic_names
    (('mu', 'tau', 'theta_decentered'), ('theta',))
    """
    if not callable(model) or isinstance(model, type):
        raise TypeError(
            "`model` must be a NumPyro model function (a callable with numpyro.sample "
            f"statements); got {type(model).__name__}."
        )
    chosen = _check_sites(sites)
    _numpyro()
    from numpyro import handlers
    from numpyro.infer.reparam import LocScaleReparam

    @functools.wraps(model)
    def reparameterised(*args: Any, **kwargs: Any) -> Any:
        seen: dict[str, str] = {}

        def config(msg: dict) -> Any:
            name = msg["name"]
            if msg["type"] != "sample" or (chosen is not None and name not in chosen):
                return None
            if name.endswith(SUFFIX) and name[: -len(SUFFIX)] in seen:
                return None  # the standardised site a decentring just made
            kind = family(msg["fn"])
            eligible = kind is not None and not msg["is_observed"]
            seen[name] = "ok" if eligible else ("observed" if msg["is_observed"] else "family")
            return LocScaleReparam(0, shape_params=FAMILIES[kind]) if eligible else None

        out = handlers.reparam(model, config=config)(*args, **kwargs)
        if chosen is not None:
            _check_seen(chosen, seen)
        return out

    return reparameterised


def _check_seen(chosen: frozenset[str], seen: dict[str, str]) -> None:
    for name in sorted(chosen):
        why = seen.get(name, "absent")
        if why == "absent":
            raise ValueError(f"`sites` names {name!r}, which is not a sample site of the model.")
        if why == "observed":
            raise ValueError(
                f"`sites` names {name!r}, an observed site: only latent sites can be decentred."
            )
        if why == "family":
            raise ValueError(
                f"`sites` names {name!r}, whose distribution is not a loc-scale family "
                f"noncentered knows ({', '.join(FAMILIES)})."
            )


__all__ = ["FAMILIES", "SUFFIX", "family", "noncentered"]
