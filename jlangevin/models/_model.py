"""``Model``: a log density over an unconstrained pytree, with the way back to the model's names.

A sampler only sees ``logdensity_fn`` over an unconstrained position (one
chain, any pytree of float arrays). Everything else a model knows lives next
to it in one immutable object: where to start the chains (``init``), how to
map unconstrained draws back to the model's own variables (``constrain``,
which may add derived quantities) and the per-observation log likelihood that
ArviZ's ``loo``/``waic`` read. The object holds one-position functions; its
methods map them over any leading axes ``(chains, draws, ...)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jlangevin.run.cache import MAX_PROGRAMS, ProgramCache, bind_function, split_function
from jlangevin.run.checks import check_key as _check_key
from jlangevin.types import Array, ArrayTree, PRNGKey

Position = ArrayTree


def leaf_names(tree: Any) -> tuple[str, ...]:
    """One name per leaf: dict keys / fields / indices joined by ``_``; ``"x"`` for one array.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> leaf_names({"mu": jnp.zeros(()), "w": {"a": jnp.zeros(2), "b": jnp.zeros(3)}})
    ('mu', 'w_a', 'w_b')
    >>> leaf_names(jnp.zeros(3))
    ('x',)
    """
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
        parts = []
        for entry in path:
            for attr in ("key", "name", "idx"):
                if hasattr(entry, attr):
                    parts.append(str(getattr(entry, attr)))
                    break
        names.append("_".join(parts) if parts else "x")
    return tuple(names)


def check_num_chains(num_chains: Any) -> int:
    """``num_chains`` as a Python int >= 1 (numpy / JAX integer scalars are integers)."""
    value = num_chains
    if isinstance(value, jax.Array | np.ndarray) and value.ndim == 0:
        if jnp.issubdtype(value.dtype, jnp.integer):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"`num_chains` must be an integer >= 1; got {type(num_chains).__name__} {num_chains!r}."
        )
    if value < 1:
        raise ValueError(f"`num_chains` must be an integer >= 1; got {int(value)}.")
    return int(value)


def _float_tree(tree: Any, name: str) -> Any:
    """``tree`` with array leaves (lists become arrays); float leaves only."""
    if isinstance(tree, list | tuple) and tree and all(np.isscalar(v) for v in tree):
        tree = np.asarray(tree, dtype=float)
    leaves, treedef = jax.tree.flatten(tree)
    if not leaves:
        raise ValueError(f"`{name}` is an empty pytree; it needs at least one float array.")
    arrays = [jnp.asarray(leaf) for leaf in leaves]
    for array in arrays:
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(f"`{name}` must hold float arrays; got a leaf of dtype {array.dtype}.")
    return jax.tree.unflatten(treedef, arrays)


def init_uniform(position: Position, radius: float = 2.0) -> Callable[[PRNGKey], Position]:
    """An ``init`` for :class:`Model`: ``position`` plus ``Uniform(-radius, radius)`` jitter.

    With ``position`` all zeros this is Stan's default initialisation and
    NumPyro's ``init_to_uniform``, on the unconstrained scale.

    Parameters
    ----------
    position : one unconstrained position (a pytree of float arrays).
    radius : half-width of the jitter, > 0.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> init = init_uniform({"mu": jnp.zeros(()), "log_sigma": jnp.zeros(())}, radius=1.0)
    >>> p = init(jax.random.key(0))
    >>> bool(abs(p["mu"]) < 1.0)
    True
    """
    center = _float_tree(position, "position")
    if isinstance(radius, bool) or not np.isscalar(radius) or not 0 < float(radius) < np.inf:
        raise ValueError(f"`radius` must be a finite number > 0; got {radius!r}.")
    radius = float(radius)

    def init(key: PRNGKey) -> Position:
        leaves, treedef = jax.tree.flatten(center)
        keys = jax.random.split(key, len(leaves))
        moved = [
            leaf + jax.random.uniform(k, leaf.shape, leaf.dtype, -radius, radius)
            for k, leaf in zip(keys, leaves, strict=True)
        ]
        return jax.tree.unflatten(treedef, moved)

    return init


def _abstract(fn: Callable, args: tuple, name: str) -> Any:
    """``jax.eval_shape(fn, *args)``: the user's function traced once, without running it."""
    try:
        return jax.eval_shape(fn, *args)
    except (TypeError, ValueError, KeyError, IndexError) as err:
        raise type(err)(f"`{name}` failed on one unconstrained position: {err}") from err


def _check_mapping_out(out: Any, name: str) -> tuple[str, ...]:
    if not isinstance(out, Mapping) or not all(isinstance(k, str) for k in out):
        got = f"an array of shape {out.shape}" if hasattr(out, "shape") else type(out).__name__
        raise TypeError(
            f"`{name}` must return a dict of variable name -> array for one position; got {got}."
        )
    return tuple(out)


class Model:
    """A log density over unconstrained positions, with initialisation and the way back.

    Parameters
    ----------
    logdensity_fn : ``position -> log p`` (a scalar) for one unconstrained
        position, Jacobian of the transforms included: what a sampler samples.
    init : ``key -> position`` for one chain (see :func:`init_uniform`).
    constrain : optional ``position -> {name: value}`` for one position: the
        model's own variables (and any derived ones). Default: the position's
        leaves under their names (dict keys; ``"x"`` for a single array).
    log_likelihood : optional ``position -> {observed name: per-observation log
        likelihood}`` for one position (for ``az.loo``/``az.waic``).
    observed_data : optional ``{observed name: array}``.
    deterministic_names : names among ``constrain``'s outputs that are derived
        quantities, not parameters (informational).

    Attributes
    ----------
    logdensity_fn : the one-position log density (pass it to ``jl.mala`` etc.).
    position_shapes : one position's structure, leaves :class:`jax.ShapeDtypeStruct`.
    latent_names : names of the unconstrained position's leaves.
    names : names of ``constrain``'s outputs (the constrained posterior).
    deterministic_names, observed_names : as above; ``observed_names`` are
        ``log_likelihood``'s outputs (or the ``observed_data`` keys).
    observed_data : read-only mapping of numpy arrays.

    Examples
    --------
    A positive scale sampled on the log scale (``sigma = exp(u)``, Jacobian ``+u``):

    >>> import jax, jax.numpy as jnp
    >>> import jlangevin as jl
    >>> from jlangevin.models import Model, init_uniform
    >>> def logdensity(p):  # sigma ~ Exponential(1), on u = log sigma
    ...     return -jnp.exp(p["log_sigma"]) + p["log_sigma"]
    >>> model = Model(
    ...     logdensity, init_uniform({"log_sigma": jnp.zeros(())}),
    ...     constrain=lambda p: {"sigma": jnp.exp(p["log_sigma"])},
    ... )
    >>> positions = model.init(jax.random.key(0), 4)
    >>> positions["log_sigma"].shape
    (4,)
    >>> trace = jl.run(jax.random.key(1), jl.mala(model.logdensity_fn, 0.3), positions, 50)
    >>> model.constrain(trace.positions)["sigma"].shape
    (4, 50)
    """

    __slots__ = (
        "__weakref__",  # from_numpyro finds a live model again (models.numpyro._MODELS)
        "_constrain_fn",
        "_init_fn",
        "_log_likelihood_fn",
        "_mapped",
        "deterministic_names",
        "latent_names",
        "logdensity_fn",
        "names",
        "observed_data",
        "observed_names",
        "position_shapes",
    )

    def __init__(
        self,
        logdensity_fn: Callable[[Position], Array],
        init: Callable[[PRNGKey], Position],
        *,
        constrain: Callable[[Position], Mapping[str, Array]] | None = None,
        log_likelihood: Callable[[Position], Mapping[str, Array]] | None = None,
        observed_data: Mapping[str, Any] | None = None,
        deterministic_names: tuple[str, ...] | list[str] = (),
    ) -> None:
        if not callable(logdensity_fn):
            raise TypeError(
                "`logdensity_fn` must be a callable `position -> log density` over one "
                f"unconstrained position; got {type(logdensity_fn).__name__}."
            )
        if not callable(init):
            raise TypeError(
                "`init` must be a callable `key -> position` for one chain (e.g. "
                f"jlangevin.models.init_uniform(position)); got {type(init).__name__}."
            )
        for arg, fn in (("constrain", constrain), ("log_likelihood", log_likelihood)):
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"`{arg}` must be None or a callable over one position; "
                    f"got {type(fn).__name__}."
                )
        shapes = _abstract(init, (jax.random.key(0),), "init")
        leaves = jax.tree.leaves(shapes)
        if not leaves or not all(jnp.issubdtype(s.dtype, jnp.floating) for s in leaves):
            raise TypeError(
                "`init` must return one position: a non-empty pytree of float arrays; got "
                f"{jax.tree.map(lambda s: f'{s.dtype}{list(s.shape)}', shapes)}."
            )
        out = _abstract(logdensity_fn, (shapes,), "logdensity_fn")
        scalar = hasattr(out, "shape") and out.shape == ()
        if not scalar or not jnp.issubdtype(out.dtype, jnp.floating):
            kind = getattr(out, "dtype", type(out).__name__)
            got = f"{kind} of shape {getattr(out, 'shape', '?')}"
            raise ValueError(
                f"`logdensity_fn` must return a float scalar for one position; got {got}."
            )
        latent_names = leaf_names(shapes)
        if constrain is None:
            constrain = _identity_constrain(latent_names)
        names = _check_mapping_out(_abstract(constrain, (shapes,), "constrain"), "constrain")
        observed = {}
        for key, value in dict(observed_data or {}).items():
            if not isinstance(key, str):
                raise TypeError(f"`observed_data` keys must be strings; got {key!r}.")
            observed[key] = np.asarray(value)
        observed_names = tuple(observed)
        if log_likelihood is not None:
            ll = _abstract(log_likelihood, (shapes,), "log_likelihood")
            observed_names = _check_mapping_out(ll, "log_likelihood")
        deterministic_names = tuple(deterministic_names)
        unknown = set(deterministic_names) - set(names)
        if unknown:
            raise ValueError(
                f"`deterministic_names` {sorted(unknown)} are not outputs of `constrain` {names}."
            )
        values = {
            "logdensity_fn": logdensity_fn,
            "_init_fn": init,
            "_constrain_fn": constrain,
            "_log_likelihood_fn": log_likelihood,
            "_mapped": {},
            "position_shapes": shapes,
            "latent_names": latent_names,
            "names": names,
            "deterministic_names": deterministic_names,
            "observed_names": observed_names,
            "observed_data": MappingProxyType(observed),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Model is immutable: cannot set {name!r}; build a new Model.")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Model is immutable: cannot delete {name!r}.")

    def __repr__(self) -> str:
        return (
            f"Model(latent_names={self.latent_names}, names={self.names}, "
            f"observed_names={self.observed_names})"
        )

    # ----------------------------------------------------------------------- #
    def _compiled(self, which: str) -> Callable:
        """The jitted, vmapped one-position function ``which``: one program per template
        of the function (:func:`~jlangevin.run.cache.split_function`), so models that are
        partials of one function over data of the same shapes share it."""
        if which not in self._mapped:
            fn = {
                "init": self._init_fn,
                "constrain": self._constrain_fn,
                "log_likelihood": self._log_likelihood_fn,
            }[which]
            template, arrays = split_function(fn)
            arrays = tuple(jnp.asarray(a) for a in arrays)  # on the device once
            self._mapped[which] = functools.partial(_mapped_program(template), arrays)
        return self._mapped[which]

    def init(self, key: PRNGKey, num_chains: int) -> Position:
        """Initial positions of ``num_chains`` chains, every leaf ``(num_chains, *event)``.

        Chain ``c`` starts from ``init(split(key, num_chains)[c])``.
        """
        key = _check_key(key)
        num_chains = check_num_chains(num_chains)
        return self._compiled("init")(jax.random.split(key, num_chains))

    def leading_shape(self, positions: Position, name: str = "positions") -> tuple[int, ...]:
        """The leading (batch) axes shared by every leaf of ``positions``.

        Raises
        ------
        ValueError
            When the structure (site names) or the trailing event shapes differ
            from one position of this model, or the leaves disagree on the
            leading axes.
        """
        expected = jax.tree.structure(self.position_shapes)
        got = jax.tree.structure(positions)
        if got != expected:
            if isinstance(self.position_shapes, Mapping) and not isinstance(positions, Mapping):
                raise ValueError(
                    f"`{name}` must be a dict with the sites {list(self.latent_names)}; got "
                    f"{type(positions).__name__}."
                )
            if isinstance(positions, Mapping) and isinstance(self.position_shapes, Mapping):
                missing = sorted(set(self.position_shapes) - set(positions), key=str)
                extra = sorted(set(positions) - set(self.position_shapes), key=str)
                raise ValueError(
                    f"`{name}` must have the sites {list(self.latent_names)}; missing "
                    f"{missing}, unexpected {extra}."
                )
            raise ValueError(
                f"`{name}` must have the structure of one position, {expected}; got {got}."
            )
        heads = set()
        for site, leaf, shape in zip(
            self.latent_names,
            jax.tree.leaves(positions),
            jax.tree.leaves(self.position_shapes),
            strict=True,
        ):
            leaf_shape = tuple(np.shape(leaf))
            event = tuple(shape.shape)
            batch_ndim = len(leaf_shape) - len(event)
            if batch_ndim < 0 or leaf_shape[batch_ndim:] != event:
                raise ValueError(
                    f"`{name}[{site!r}]` must have shape (..., {', '.join(map(str, event))}) "
                    f"(leading axes, then the event shape {event}); got {leaf_shape}."
                )
            heads.add(leaf_shape[:batch_ndim])
        if len(heads) != 1:
            raise ValueError(
                f"Every leaf of `{name}` needs the same leading axes; got {sorted(heads)}."
            )
        return heads.pop()

    #: Positions mapped per compiled call: a long trace is done in batches of this
    #: many (the last padded, so one program serves), each brought to the host,
    #: so device memory holds one batch of outputs, not all of them.
    batch_size: int = 65536
    #: Output values one compiled call may produce: with a large output per position
    #: (the per-observation log likelihood of ``N`` points) a batch holds
    #: ``output_budget // outputs per position`` positions (at least one), so
    #: ``draws x N`` never sits in one program.
    output_budget: int = 2**24

    def positions_per_call(self, which: str) -> int:
        """Positions one compiled call of ``which`` maps: :attr:`batch_size`, or fewer
        when each position's output is large (:attr:`output_budget` values in all).

        ``which`` is ``"constrain"`` or ``"log_likelihood"``.
        """
        size_key = f"{which}_size"
        if size_key not in self._mapped:  # one abstract trace per model and function
            fn = self._constrain_fn if which == "constrain" else self._log_likelihood_fn
            out = jax.eval_shape(fn, self.position_shapes)
            leaves = jax.tree.leaves(out)
            self._mapped[size_key] = sum(int(np.prod(leaf.shape, dtype=int)) for leaf in leaves)
        per_position = self._mapped[size_key]
        return max(1, min(self.batch_size, self.output_budget // max(per_position, 1)))

    def _map(self, which: str, positions: Position) -> dict[str, Array]:
        head = self.leading_shape(positions)
        size = int(np.prod(head, dtype=int))
        flat = jax.tree.map(lambda x: jnp.reshape(x, (size, *jnp.shape(x)[len(head) :])), positions)
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(flat))
        per_call = self.positions_per_call(which)
        if size <= per_call or traced:
            out = self._compiled(which)(flat)
        else:
            out = self._batched(which, flat, size, per_call)
        return {k: jnp.reshape(v, (*head, *jnp.shape(v)[1:])) for k, v in out.items()}

    def _batched(self, which: str, flat: Position, size: int, n: int) -> dict[str, np.ndarray]:
        """``which`` over ``size`` positions, ``n`` at a time, gathered on the host."""
        parts = []
        for start in range(0, size, n):
            batch = jax.tree.map(lambda x, s=start: x[s : s + n], flat)
            short = n - min(n, size - start)
            if short:  # pad with the last position: the same shapes, the same program
                batch = jax.tree.map(
                    lambda x, k=short: jnp.concatenate([x, jnp.repeat(x[-1:], k, 0)]), batch
                )
            out = jax.device_get(self._compiled(which)(batch))
            parts.append({k: v[: n - short] for k, v in out.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def constrain(self, positions: Position) -> dict[str, Array]:
        """The model's variables at unconstrained ``positions`` (any leading axes, kept).

        Parameters
        ----------
        positions : leaves ``(*leading, *event)``, e.g. ``trace.positions``
            ``(chains, draws, *event)``, or one position.

        Returns
        -------
        dict
            ``{name: (*leading, *shape)}`` for every name in :attr:`names`.
        """
        return self._map("constrain", positions)

    def log_likelihood(self, positions: Position) -> dict[str, Array]:
        """Per-observation log likelihood, ``{observed name: (*leading, *obs)}`` (leading kept)."""
        if self._log_likelihood_fn is None:
            raise ValueError(
                "This model has no `log_likelihood`: build it with "
                "Model(..., log_likelihood=position -> {name: per-observation log lik})."
            )
        return self._map("log_likelihood", positions)

    @property
    def has_log_likelihood(self) -> bool:
        """Whether :meth:`log_likelihood` is available."""
        return self._log_likelihood_fn is not None


def _vmapped(template: Any) -> Callable:
    """``(arrays, batch) -> vmap(fn)(batch)``, jitted, ``fn`` the template's function with
    ``arrays`` put back (as arguments of the program, not constants)."""

    def program(arrays: tuple, batch: Any) -> Any:
        return jax.vmap(bind_function(template, arrays))(batch)

    return jax.jit(program)


#: One compiled, vmapped program per function template (models over data of one shape share).
_mapped_program = ProgramCache(_vmapped, MAX_PROGRAMS)


def _identity_constrain(names: tuple[str, ...]) -> Callable[[Position], dict[str, Array]]:
    def constrain(position: Position) -> dict[str, Array]:
        return dict(zip(names, jax.tree.leaves(position), strict=True))

    return constrain


__all__ = ["Model", "check_num_chains", "init_uniform", "leaf_names"]
