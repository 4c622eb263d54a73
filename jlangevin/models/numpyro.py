"""``from_numpyro``: a NumPyro model as a :class:`~jlangevin.models.Model`.

The bridge traces the model once (with its data) to find its sites, then
builds pure one-position functions from NumPyro's own machinery:

- ``logdensity_fn``: minus NumPyro's potential energy over the unconstrained
  latent sites (each continuous latent site ``z`` is sampled as
  ``u = biject_to(support).inv(z)``; the log-abs-det-Jacobian is included).
- ``init``: each chain from NumPyro's ``init_to_median`` (the median of 15
  prior draws per site, drawn with the chain's own key, so chains start apart),
  redrawn (up to 100 times, ``find_valid_initial_params``) until the log
  density and its gradient are finite. A site whose prior cannot be drawn
  from (a flat prior, ``dist.ImproperUniform``: a Stan parameter without a
  prior statement) starts as NumPyro's own ``init_to_median`` starts it:
  ``init_to_uniform``, uniform in (-2, 2) on the unconstrained scale.
- A plate written for SVI subsampling (``numpyro.plate(name, N,
  subsample_size=n)``) spans all its ``N`` points here: the log density is the
  full-data one (for minibatch gradients, see
  :func:`jlangevin.models.subsampled`).
- Data: NaN or inf in the model's arguments is refused with a ``ValueError``
  naming the argument, unless the model masks it (``obs_mask=``, NumPyro's
  imputation of missing observations) so that the log density stays finite.
- ``constrain``: the model replayed at the constrained values: latent sites
  and ``numpyro.deterministic`` sites.
- ``log_likelihood``: ``fn.log_prob(obs)`` per observation of every observed site.
- The same model twice: two calls whose functions trace to the same programs (the
  same operations, data and values of any globals the model reads) return the same
  :class:`~jlangevin.models.Model`, while it is alive elsewhere; everything compiled
  for it (by :func:`jlangevin.sample`, :func:`jlangevin.run`, the warm-up) is then
  reused, as when a notebook cell is run again. A changed datum or global gives a
  new model.
- New data of the same shapes: the functions are ``functools.partial``\\ s over the
  data, so the compiled programs take the data as arguments and a model over a new
  dataset reuses them (a model that needs its data's values in Python keeps them in
  closures instead, and compiles its own).

NumPyro is imported only when :func:`from_numpyro` is called
(``pip install jlangevin[numpyro]``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from jlangevin.models._model import Model
from jlangevin.run.cache import bind_function, split_function
from jlangevin.types import Array, PRNGKey

#: Prior draws per site behind each chain's starting median (NumPyro's default).
MEDIAN_SAMPLES = 15

#: Non-array argument leaves (settings) at most, for the data to be program arguments.
MAX_SETTINGS = 64
#: Argument leaves that are arrays: a shared model's functions take them as inputs.
_ARRAYS = (np.ndarray, jax.Array)
#: Argument leaves checked for NaN and inf (lists are arrays).
_NUMERIC = (float, complex, list, np.ndarray, np.generic, jax.Array)


def _numpyro() -> Any:
    try:
        return importlib.import_module("numpyro")
    except ImportError as err:  # pragma: no cover - numpyro is in the dev extra
        raise ImportError(
            "jl.from_numpyro needs NumPyro: pip install 'jlangevin[numpyro]'."
        ) from err


def prior_trace(model: Callable, args: tuple, kwargs: dict) -> dict:
    """The model's trace with a value at each latent site (a fixed seed: only shapes matter).

    The latent values come from NumPyro's ``init_to_uniform``, as in its own
    ``initialize_model``, never from a prior draw: a flat prior
    (``ImproperUniform``) cannot be drawn from.
    """
    from numpyro import handlers
    from numpyro.infer.initialization import init_to_uniform

    seeded = handlers.seed(model, rng_seed=0)
    uniform = handlers.substitute(seeded, substitute_fn=init_to_uniform)
    try:
        return handlers.trace(uniform).get_trace(*args, **kwargs)
    except TypeError as err:
        raise TypeError(
            f"Calling `model` with the given arguments failed ({err}); from_numpyro(model, "
            "*args, **kwargs) calls model(*args, **kwargs)."
        ) from err


def full_plate_indices(model_trace: Mapping[str, dict]) -> dict[str, Array]:
    """``{name: arange(size)}`` for every plate that subsamples (``subsample_size < size``)."""
    import jax.numpy as jnp

    return {
        name: jnp.arange(site["args"][0])
        for name, site in model_trace.items()
        if site["type"] == "plate" and np.shape(site["value"])[0] != site["args"][0]
    }


def set_plates(model: Callable, indices: Mapping[str, Array]) -> Callable:
    """``model`` with the plates ``indices`` names at those data indices.

    ``handlers.substitute`` of the plates' values, with each plate's
    ``subsample_size`` set to match (NumPyro warns of a mismatch otherwise).
    """
    from numpyro import handlers

    def at_indices(msg: dict) -> Array | None:
        if msg["type"] != "plate" or msg["name"] not in indices:
            return None
        chosen = indices[msg["name"]]
        msg["args"] = (msg["args"][0], np.shape(chosen)[0])
        return chosen

    return handlers.substitute(model, substitute_fn=at_indices)


def _data_leaves(model: Callable, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    """Every leaf of the model's arguments, named as the user wrote it (``y``, ``data['x']``)."""
    try:
        signature = inspect.signature(model)
        arguments = signature.bind(*args, **kwargs).arguments
    except (TypeError, ValueError):  # no signature, or it does not fit: name them by position
        signature, arguments = None, {}
    bound: dict[str, Any] = {}
    if signature is None:
        bound = {f"args[{i}]": a for i, a in enumerate(args)} | dict(kwargs)
    for name, value in arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            bound |= {f"{name}[{i}]": a for i, a in enumerate(value)}
        elif kind is inspect.Parameter.VAR_KEYWORD:
            bound |= value
        else:
            bound[name] = value
    leaves = []
    for name, value in bound.items():
        flat, _ = jax.tree_util.tree_flatten_with_path(
            value, is_leaf=lambda v: isinstance(v, list) and all(np.isscalar(e) for e in v)
        )
        leaves += [(name + jax.tree_util.keystr(path), leaf) for path, leaf in flat]
    return leaves


def _nonfinite_data(model: Callable, args: tuple, kwargs: dict) -> list[str]:
    """``"`y` (argument of the model) holds 3 NaN values"`` per float data leaf not finite."""
    found = []
    for name, leaf in _data_leaves(model, args, kwargs):
        if isinstance(leaf, jax.core.Tracer) or not isinstance(leaf, _NUMERIC):
            continue  # a traced argument cannot be looked at; other objects are not data
        leaf = np.asarray(leaf)
        if leaf.dtype.kind not in "fc":  # integers and booleans are always finite
            continue
        counts = {"NaN": int(np.isnan(leaf).sum()), "infinite": int(np.isinf(leaf).sum())}
        parts = [f"{n} {kind} value{'s' * (n != 1)}" for kind, n in counts.items() if n]
        if parts:
            found.append(f"`{name}` (argument of the model) holds {' and '.join(parts)}")
    return found


def _nonfinite_data_error(found: list[str], consequence: str) -> ValueError:
    return ValueError(
        f"{'; '.join(found)}: the model's data must be finite ({consequence}). Drop or "
        "impute the missing entries, or let NumPyro impute them with "
        "`numpyro.sample(name, fn, obs=y, obs_mask=~jnp.isnan(y))`."
    )


def _check_finite_data(found: list[str], logdensity_fn: Callable, position: dict) -> None:
    """Refuse data with NaN or inf entries, unless the model masks them (``obs_mask=``).

    A model may hold NaN for missing observations and impute them
    (``numpyro.sample(..., obs=y, obs_mask=~jnp.isnan(y))``): NumPyro samples
    such a model, and so does this bridge. The data are refused only when the
    log density or its gradient at ``position`` is not finite with them.
    """
    if not found:
        return
    with warnings.catch_warnings():  # NumPyro's out-of-support warnings: the error says it all
        warnings.simplefilter("ignore")
        value, grad = jax.value_and_grad(logdensity_fn)(position)
    leaves = [value, *jax.tree.leaves(grad)]
    if not all(np.all(np.isfinite(leaf)) for leaf in leaves):
        raise _nonfinite_data_error(found, f"with them its log density is {float(value)}")


def _latent_sites(model_trace: Mapping[str, dict]) -> dict[str, dict]:
    """The continuous latent sites, in the model's order; discrete ones refused."""
    latent = {}
    for name, site in model_trace.items():
        if site["type"] != "sample" or site["is_observed"]:
            continue
        if site["fn"].support.is_discrete:
            raise ValueError(
                f"`model` has a discrete latent site {name!r} ({type(site['fn']).__name__}); "
                "Langevin samplers need continuous latent sites: marginalise it out or observe it."
            )
        latent[name] = site
    if not latent:
        raise ValueError(
            "`model` has no latent sample sites (every sample site is observed): there is "
            "nothing to sample."
        )
    return latent


def _check_position(position: Any, shapes: Mapping[str, Any]) -> None:
    """One unconstrained position: a dict with exactly the latent sites and their shapes."""
    if not isinstance(position, Mapping) or set(position) != set(shapes):
        got = sorted(position) if isinstance(position, Mapping) else type(position).__name__
        raise ValueError(f"`position` must be a dict with the sites {sorted(shapes)}; got {got}.")
    for name, shape in shapes.items():
        if tuple(np.shape(position[name])) != tuple(shape.shape):
            raise ValueError(
                f"`position[{name!r}]` must have the unconstrained shape {tuple(shape.shape)} "
                f"(one chain); got {tuple(np.shape(position[name]))}."
            )


def replay(fixed: Callable, args: tuple, kwargs: dict, position: Mapping[str, Array]) -> dict:
    """The model's trace with each latent site at ``biject_to(support)(position[site])``."""
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to

    def constrained(site: dict) -> Array | None:
        if site["type"] == "sample" and site["name"] in position:
            return biject_to(site["fn"].support)(position[site["name"]])
        return None

    substituted = handlers.substitute(fixed, substitute_fn=constrained)
    return handlers.trace(substituted).get_trace(*args, **kwargs)


class _Spec:
    """What a model's functions need besides its data (the model with its parameters
    held, the latent shapes, the sites), and, once known, the digest of the programs
    they trace to with the data as inputs.

    Two specs with that digest are equal: their functions compute the same thing of
    any data of those shapes, so the compile caches (keyed on a function's template,
    :func:`jlangevin.run.cache.split_function`, which holds the spec) give one
    model's programs to the other. Without a digest a spec equals itself alone.
    """

    __slots__ = ("digest", "fixed", "names", "observed", "prototype", "shapes")

    def __init__(
        self, fixed: Callable, shapes: dict, prototype: dict, names: tuple, observed: tuple
    ) -> None:
        self.fixed, self.shapes, self.prototype = fixed, shapes, prototype
        self.names, self.observed = names, observed
        self.digest: str | None = None

    def __eq__(self, other: object) -> bool:
        if self.digest is None:
            return other is self
        return isinstance(other, _Spec) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest) if self.digest is not None else id(self)

    def __repr__(self) -> str:
        return f"_Spec(sites={self.names}, digest={self.digest})"


def _logdensity(spec: _Spec, args: tuple, kwargs: dict, position: Mapping[str, Array]) -> Array:
    from numpyro.infer.util import potential_energy

    _check_position(position, spec.shapes)
    return -potential_energy(spec.fixed, args, kwargs, dict(position))


def _init(spec: _Spec, args: tuple, kwargs: dict, key: PRNGKey) -> dict[str, Array]:
    from numpyro.infer.initialization import init_to_median
    from numpyro.infer.util import find_valid_initial_params

    (params, _, _), _ = find_valid_initial_params(
        key,
        spec.fixed,
        init_strategy=init_to_median(num_samples=MEDIAN_SAMPLES),
        model_args=args,
        model_kwargs=kwargs,
        prototype_params=spec.prototype,
    )
    return {name: params[name] for name in spec.prototype}


def _constrain(spec: _Spec, args: tuple, kwargs: dict, position: Mapping[str, Array]) -> dict:
    model_trace = replay(spec.fixed, args, kwargs, position)
    return {name: model_trace[name]["value"] for name in spec.names}


def _log_likelihood(spec: _Spec, args: tuple, kwargs: dict, position: Mapping[str, Array]) -> dict:
    model_trace = replay(spec.fixed, args, kwargs, position)
    return {
        name: model_trace[name]["fn"].log_prob(model_trace[name]["value"]) for name in spec.observed
    }


def _data_are_arguments(args: tuple, kwargs: dict) -> bool:
    """Whether the data can be arguments of compiled programs: numeric arrays, and few
    other leaves (settings; data given as long Python lists stay in the programs)."""
    leaves = jax.tree.leaves((args, kwargs))
    arrays = [leaf for leaf in leaves if isinstance(leaf, _ARRAYS)]
    traced = any(isinstance(a, jax.core.Tracer) for a in arrays)  # from_numpyro under jit
    few_others = len(leaves) - len(arrays) <= MAX_SETTINGS
    return few_others and not traced and all(a.dtype.kind in "biufc" for a in arrays)


def _functions(spec: _Spec, args: tuple, kwargs: dict, shared: bool) -> dict[str, Callable]:
    """The model's one-position functions: ``functools.partial``\\ s over its data (the
    compile caches then pass the data to their programs as arguments), or, with
    ``shared=False``, plain closures (the data compiled into each model's programs)."""

    def closed(fn: Callable) -> Callable:
        def one_position(x: Any) -> Any:
            return fn(spec, args, kwargs, x)

        return one_position

    make = (lambda fn: functools.partial(fn, spec, args, kwargs)) if shared else closed
    functions = {
        "logdensity_fn": make(_logdensity),
        "init": make(_init),
        "constrain": make(_constrain),
    }
    functions["log_likelihood"] = make(_log_likelihood) if spec.observed else None
    return functions


#: Live models by their programs and data (see :func:`_model_key`).
_MODELS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_MODELS_LOCK = threading.Lock()


def _fingerprint(functions: Mapping[str, tuple[Callable | None, Any]], extra: Any) -> str | None:
    """A digest of each function's jaxpr at its example argument, with its constants.

    A jaxpr is the program the function traces to: its operations and literals (a
    Python number a model reads from a global is one) and its constants (arrays a
    model reads; the data too, unless the function is a partial over them, whose
    arrays are then inputs, as the compile caches pass them:
    :func:`jlangevin.run.cache.split_function`). Equal digests mean the functions
    compute the same thing (of the same inputs), so one model's compiled programs
    serve the other. ``None`` when a function does not trace so (a model that needs
    its data's values, or a host callback).
    """
    digest = hashlib.blake2b(repr(extra).encode())
    try:
        for name, (fn, example) in functions.items():
            digest.update(name.encode())
            if fn is None:
                continue
            template, arrays = split_function(fn)

            def bound(arrays: tuple, x: Any, template: Any = template) -> Any:
                return bind_function(template, arrays)(x)

            closed = jax.make_jaxpr(bound)(arrays, example)
            digest.update(str(closed.jaxpr).encode())
            for const in closed.consts:
                const = np.asarray(const)
                digest.update(f"{const.dtype}{const.shape}".encode())
                digest.update(np.ascontiguousarray(const).tobytes())
    except Exception:  # e.g. a host callback: the model is built anew, as it would be
        return None
    return digest.hexdigest()


def _model_key(structure: str, leaves: list) -> str:
    """What one live model is found by: its programs' digest (the structure) and the
    values of its data (the programs of a shared model take them as inputs, so the
    structure alone does not tell two datasets apart; the observations follow from
    the two: they are the data, or computed from them or from the programs' constants)."""
    data = [np.asarray(leaf) for leaf in leaves if isinstance(leaf, _ARRAYS)]
    values = [(a.dtype, a.shape, np.ascontiguousarray(a).tobytes()) for a in data]
    return hashlib.blake2b(repr((structure, values)).encode()).hexdigest()


def from_numpyro(model: Callable, *args: Any, **kwargs: Any) -> Model:
    """A NumPyro model, with its data, as a :class:`~jlangevin.models.Model`.

    Parameters
    ----------
    model : a NumPyro model function (``numpyro.sample`` statements with
        continuous latent sites; observed sites via ``obs=``).
    *args, **kwargs : what ``model`` is called with (its data).

    Returns
    -------
    Model
        ``logdensity_fn`` over the dict of unconstrained latent sites (one
        chain); ``init(key, num_chains)`` from each chain's prior median
        (uniform in (-2, 2) on the unconstrained scale at flat-prior sites);
        ``constrain`` to the latent and deterministic sites; per-observation
        ``log_likelihood``; ``observed_data``. ``numpyro.param`` sites are held
        at their initial values.

    Raises
    ------
    TypeError
        When ``model`` is not a function or fails on the given arguments.
    ValueError
        When the model has no or discrete latent sites, or its data hold NaN
        or inf values that reach the log density (the message names the
        argument, e.g. ``y`` or ``data['x']``).

    Examples
    --------
    >>> import jax, numpyro, numpyro.distributions as dist
    >>> import jlangevin as jl
    >>> from jlangevin.models import from_numpyro
    >>> def model(y):
    ...     sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    ...     numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)
    >>> m = from_numpyro(model, jax.numpy.array([0.5, -1.0, 0.2]))
    >>> m.names, m.observed_names
    (('sigma',), ('y',))
    >>> sampler = jl.mala(m.logdensity_fn, step_size=0.2)
    >>> positions = m.init(jax.random.key(0), 4)  # doctest: +SKIP
    >>> trace = jl.run(jax.random.key(1), sampler, positions, 100)  # doctest: +SKIP
    >>> m.constrain(trace.positions)["sigma"].shape  # doctest: +SKIP
    (4, 100)
    """
    if not callable(model) or isinstance(model, type):
        raise TypeError(
            "`model` must be a NumPyro model function (a callable with numpyro.sample "
            f"statements); got {type(model).__name__}."
        )
    _numpyro()
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to

    nonfinite = _nonfinite_data(model, args, kwargs)
    try:
        model_trace = prior_trace(model, args, kwargs)
    except Exception as err:  # e.g. NumPyro's argument validation, on the NaN
        if nonfinite and not isinstance(err, TypeError):  # TypeError: the wrong arguments
            failure = f"the model fails with them: {str(err).rstrip('.')}"
            raise _nonfinite_data_error(nonfinite, failure) from err
        raise
    full_plates = full_plate_indices(model_trace)
    if full_plates:  # a plate written for SVI subsampling: here it spans all its data
        model = set_plates(model, full_plates)
        model_trace = prior_trace(model, args, kwargs)
    latent = _latent_sites(model_trace)
    # numpyro.param sites are held at their initial values, as NumPyro's MCMC does.
    params = {k: s["value"] for k, s in model_trace.items() if s["type"] in ("param", "mutable")}
    fixed = handlers.substitute(model, data=params) if params else model
    prototype = {
        name: biject_to(site["fn"].support).inv(site["value"]) for name, site in latent.items()
    }
    shapes = {name: jax.ShapeDtypeStruct(np.shape(v), v.dtype) for name, v in prototype.items()}
    deterministic = tuple(k for k, s in model_trace.items() if s["type"] == "deterministic")
    observed = {
        k: np.asarray(s["value"])
        for k, s in model_trace.items()
        if s["type"] == "sample" and s["is_observed"]
    }
    spec = _Spec(fixed, shapes, prototype, (*latent, *deterministic), tuple(observed))
    leaves, treedef = jax.tree.flatten((args, kwargs))
    statics = [repr(leaf) for leaf in leaves if not isinstance(leaf, _ARRAYS)]
    examples = {"logdensity_fn": shapes, "init": jax.random.key(0)}
    examples |= {"constrain": shapes, "log_likelihood": shapes}
    tries = (True, False) if _data_are_arguments(args, kwargs) else (False,)
    for shared in tries:  # the data as inputs of the programs, if the functions trace so
        functions = _functions(spec, args, kwargs, shared)
        traced = {name: (fn, examples[name]) for name, fn in functions.items()}
        structure = _fingerprint(traced, (deterministic, tuple(observed), str(treedef), statics))
        if structure is not None:
            break
    spec.digest = structure if shared else None
    _check_finite_data(nonfinite, functions["logdensity_fn"], prototype)
    fingerprint = _model_key(structure, leaves) if structure is not None else None
    with _MODELS_LOCK:
        found = _MODELS.get(fingerprint) if fingerprint is not None else None
    if found is not None:
        return found
    built = Model(
        functions["logdensity_fn"],
        functions["init"],
        constrain=functions["constrain"],
        log_likelihood=functions["log_likelihood"],
        observed_data=observed,
        deterministic_names=deterministic,
    )
    if fingerprint is not None:
        with _MODELS_LOCK:
            built = _MODELS.setdefault(fingerprint, built)
    return built


__all__ = ["MEDIAN_SAMPLES", "from_numpyro"]
