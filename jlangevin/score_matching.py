"""Score matching: learn ``s_θ(x) ≈ ∇ log p(x)`` from data, then sample it with Langevin.

Pure JAX and optax, nothing more. A score model is any function of a pytree of
parameters; the losses here take it for **one example** and ``vmap`` it over
the batch, so that the same function drives :func:`jlangevin.annealed_langevin`
(``lambda x, sigma: score_fn(params, x, sigma)``).

- :func:`dsm_loss`: denoising score matching for noise-conditional scores
  ``score_fn(params, x, sigma)`` over a ladder of noise levels (Song & Ermon 2019).
- :func:`geometric_sigmas`: the geometric ladder ``σ_1 > … > σ_L``.
- :func:`ssm_loss`: sliced score matching for unconditional scores
  ``score_fn(params, x)`` (Song et al. 2019), variance-reduced form.
- :func:`make_train_step` and :func:`fit`: one jitted optax step, and a
  compiled training loop over random minibatches.
- :func:`mlp_init` / :func:`mlp_apply`: a tiny plain-JAX MLP to start from.

Examples
--------
>>> import jax, jax.numpy as jnp, optax
>>> import jlangevin as jl
>>> from jlangevin import score_matching as sm
>>> data = 1.0 + 0.5 * jax.random.normal(jax.random.key(0), (1000, 1))
>>> sigmas = sm.geometric_sigmas(2.0, 0.1, 5)
>>> score = lambda p, x, s: sm.mlp_apply(p, jnp.append(x, jnp.log(s))) / s
>>> loss = lambda p, k, b: sm.dsm_loss(score, p, k, b, sigmas)
>>> params = sm.mlp_init(jax.random.key(1), [2, 32, 32, 1])
>>> opt = optax.adam(3e-3)
>>> fitted = sm.fit(jax.random.key(2), loss, params, data, opt, 2000, 128)  # doctest: +SKIP
>>> learned = lambda x, s: score(fitted.params, x, s)
>>> sampler = jl.annealed_langevin(learned, sigmas, 0.002, 100)
>>> samples, info = sampler(jax.random.key(3), jnp.zeros((500, 1)))  # doctest: +SKIP
>>> samples.shape  # doctest: +SKIP
(500, 1)

References
----------
P. Vincent (2011). A connection between score matching and denoising
autoencoders. Neural Computation 23(7).
Y. Song and S. Ermon (2019). Generative modeling by estimating gradients of the
data distribution. NeurIPS.
Y. Song, S. Garg, J. Shi and S. Ermon (2019). Sliced score matching: a scalable
approach to density and score estimation. UAI.
Y. Song and S. Ermon (2020). Improved techniques for training score-based
generative models. NeurIPS (NCSNv2: the output divided by ``sigma``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jlangevin._checks import as_int, as_positive, check_key, describe
from jlangevin.types import Array, ArrayTree, PRNGKey

#: ``(params, x, sigma) -> score`` for one example ``x`` and a scalar ``sigma``.
NoiseConditionalScoreFn = Callable[[ArrayTree, Array, Array], Array]
#: ``(params, x) -> score`` for one example ``x``.
UnconditionalScoreFn = Callable[[ArrayTree, Array], Array]
#: ``(params, key, batch) -> scalar loss``.
LossFn = Callable[[ArrayTree, PRNGKey, Any], Array]


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _check_callable(fn: Any, name: str, signature: str) -> None:
    if not callable(fn):
        raise TypeError(f"`{name}` must be callable `{signature}`; got {describe(fn)}.")


def _real_dtype(value: Any, name: str) -> np.dtype:
    try:
        dtype = np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be an array of real numbers; got {describe(value)}."
        ) from None
    if dtype == np.bool_ or not (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {dtype}.")
    return dtype


def _batch(x: Any, name: str = "x") -> Array:
    """A real ``(n, *event)`` array with ``n >= 1`` (lists welcome; integers become floats)."""
    dtype = _real_dtype(x, name)
    x = jnp.asarray(x)
    if not np.issubdtype(dtype, np.floating):
        x = x.astype(jnp.asarray(1.0).dtype)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a batch (n, *event) with n >= 1 (one example: x[None]); "
            f"got shape {x.shape}."
        )
    if not isinstance(x, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(x))):
        raise ValueError(f"`{name}` must be finite; got non-finite values in {describe(x)}.")
    return x


def _sigmas(sigmas: Any, dtype: Any) -> Array:
    """Positive finite 1-D noise levels, in ``dtype`` (traced ones: dtype and shape only)."""
    _real_dtype(sigmas, "sigmas")
    if isinstance(sigmas, jax.core.Tracer):
        if sigmas.ndim != 1 or sigmas.shape[0] == 0:
            raise ValueError(f"`sigmas` must be a non-empty 1-D array; got shape {sigmas.shape}.")
        return sigmas.astype(dtype)
    arr = np.asarray(sigmas, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"`sigmas` must be a non-empty 1-D array of noise levels (one level: [sigma]); "
            f"got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`sigmas` must be positive and finite; got {arr}.")
    return jnp.asarray(arr, dtype)


def _check_scores(scores: Any, like: Array, batched: bool = True) -> Array:
    """The score model's output: floating, shaped like ``like`` (the batch, or one example)."""
    if not hasattr(scores, "shape") or scores.shape != like.shape:
        event = like.shape[1:] if batched else like.shape
        got = scores.shape if hasattr(scores, "shape") else describe(scores)
        raise ValueError(
            "`score_fn` must return one score shaped like the example it is given "
            f"(event shape {event}); got {got}"
            + (" over the batch." if batched else " for one example.")
        )
    if not jnp.issubdtype(scores.dtype, jnp.floating):
        raise TypeError(f"`score_fn` must return floating-point scores; got dtype {scores.dtype}.")
    return scores


def _check_optimizer(optimizer: Any) -> None:
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            "`optimizer` must be an optax GradientTransformation (with `init` and "
            f"`update`, e.g. optax.adam(1e-3)); got {describe(optimizer)}."
        )


def _event_sum(a: Array) -> Array:
    """Sum over every axis but the first (the batch axis)."""
    return jnp.sum(a, axis=tuple(range(1, a.ndim)))


# --------------------------------------------------------------------------- #
# Noise ladder
# --------------------------------------------------------------------------- #
def geometric_sigmas(sigma_max: float, sigma_min: float, num: int) -> Array:
    """The geometric noise ladder ``σ_1 = sigma_max > … > σ_L = sigma_min``, ``L = num``.

    Song & Ermon (2019) take ``sigma_max`` about the largest distance between
    two data points (so the first level mixes every mode) and ``sigma_min``
    small against the data's finest scale. Returns a JAX array in the default
    float dtype (float64 under ``jax_enable_x64``), ready for :func:`dsm_loss`
    and :func:`jlangevin.annealed_langevin`.

    Examples
    --------
    >>> from jlangevin.score_matching import geometric_sigmas
    >>> [round(float(s), 4) for s in geometric_sigmas(10.0, 0.1, 3)]
    [10.0, 1.0, 0.1]
    """
    high = as_positive(sigma_max, "sigma_max")
    low = as_positive(sigma_min, "sigma_min")
    num = as_int(num, "num", minimum=2)
    if low >= high:
        raise ValueError(
            f"`sigma_min` must be below `sigma_max` (a decreasing ladder); got "
            f"sigma_max={high}, sigma_min={low}."
        )
    return jnp.asarray(np.geomspace(high, low, num))


# --------------------------------------------------------------------------- #
# Losses
# --------------------------------------------------------------------------- #
def dsm_loss(
    score_fn: NoiseConditionalScoreFn,
    params: ArrayTree,
    key: PRNGKey,
    x: Any,
    sigmas: Any,
) -> Array:
    """Denoising score matching loss over a ladder of noise levels (σ²-weighted).

    For each example ``x_i`` of the batch, draw a level ``σ_i`` uniformly from
    ``sigmas`` and ``z_i ~ N(0, I)``, perturb ``x̃_i = x_i + σ_i z_i`` and regress
    the score onto the denoising target ``∇ log N(x̃_i; x_i, σ_i²) = -z_i / σ_i``
    with Song & Ermon's weight ``λ(σ) = σ²``::

        loss = mean_i  ½ ‖σ_i s_θ(x̃_i, σ_i) + z_i‖²

    Its expectation is, up to a constant free of ``θ``, the σ²-weighted Fisher
    divergence ``½ E_σ σ² E ‖s_θ(x̃, σ) − ∇ log p_σ(x̃)‖²`` to the score of the
    data law convolved with ``N(0, σ² I)`` (Vincent 2011): it is minimised by
    the exact noise-conditional score, and its minimum is not zero. The weight
    makes every level contribute ``O(1)`` (``σ s`` is of order one).

    Parameters
    ----------
    score_fn : ``(params, x, sigma) -> score`` for **one** example ``x`` (shape
        ``event``) and a scalar ``sigma``; it is ``vmap``-ed over the batch and
        must return an array shaped like ``x``.
    params : the model's parameters, any pytree (what ``jax.grad`` differentiates).
    key : a JAX random key (the levels and the noise are drawn from it).
    x : the clean batch, an array ``(n, *event)``; lists are arrays, integers
        become floats. The loss is computed in ``x``'s dtype.
    sigmas : the noise levels, positive and finite, 1-D (any order; usually
        :func:`geometric_sigmas`).

    Returns
    -------
    The scalar loss (differentiable in ``params``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.score_matching import dsm_loss
    >>> exact = lambda p, x, s: -x / (1.0 + s**2)            # data N(0, I)
    >>> x = jax.random.normal(jax.random.key(0), (4000, 2))
    >>> loss = dsm_loss(exact, None, jax.random.key(1), x, jnp.array([1.0]))
    >>> round(float(loss), 1)                                 # ½ · dim · 1 / (1 + σ²)
    0.5
    """
    _check_callable(score_fn, "score_fn", "(params, x, sigma) -> score")
    check_key(key)
    x = _batch(x)
    sig = _sigmas(sigmas, x.dtype)
    n = x.shape[0]
    key_level, key_noise = jax.random.split(key)
    sigma = sig[jax.random.randint(key_level, (n,), 0, sig.shape[0])]
    z = jax.random.normal(key_noise, x.shape, x.dtype)
    per_example = sigma.reshape((n,) + (1,) * (x.ndim - 1))
    noisy = x + per_example * z
    scores = _check_scores(jax.vmap(lambda xi, si: score_fn(params, xi, si))(noisy, sigma), x)
    residual = per_example * scores.astype(x.dtype) + z
    return 0.5 * jnp.mean(_event_sum(residual**2))


def ssm_loss(
    score_fn: UnconditionalScoreFn,
    params: ArrayTree,
    key: PRNGKey,
    x: Any,
    num_projections: int = 1,
) -> Array:
    """Sliced score matching loss, variance-reduced (SSM-VR, Song et al. 2019).

    Hyvärinen's objective ``E ½‖s_θ(x)‖² + tr ∇ₓ s_θ(x)`` with the trace
    replaced by its Hutchinson estimate along Gaussian projections
    ``v ~ N(0, I)``, and the ``½ (vᵀ s)²`` term by its exact average ``½‖s‖²``::

        loss = mean_i [ ½ ‖s_θ(x_i)‖² + mean_j v_ijᵀ ∇ₓ(v_ijᵀ s_θ)(x_i) ]

    Each ``vᵀ J v`` is one forward-mode product (``jax.linearize`` once per
    example, then one ``jvp`` per projection), so the cost does not grow with
    the dimension. Its expectation equals the Fisher divergence
    ``½ E ‖s_θ − ∇ log p‖²`` up to a constant free of ``θ``.

    Parameters
    ----------
    score_fn : ``(params, x) -> score`` for **one** example ``x`` (shape
        ``event``), returning an array shaped like ``x``; it must be
        differentiable in ``x`` (``vmap``-ed over the batch).
    params : any pytree of parameters.
    key : a JAX random key (the projections are drawn from it).
    x : the batch, an array ``(n, *event)`` (lists are arrays).
    num_projections : projections per example (an integer ``>= 1``).

    Returns
    -------
    The scalar loss.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.score_matching import ssm_loss
    >>> linear = lambda w, x: w * x                           # s(x) = w x
    >>> x = jax.random.normal(jax.random.key(0), (4000, 1))   # data N(0, 1): w* = -1
    >>> loss = lambda w: ssm_loss(linear, w, jax.random.key(1), x, num_projections=4)
    >>> bool(loss(-1.0) < loss(-0.5)) and bool(loss(-1.0) < loss(-2.0))
    True
    """
    _check_callable(score_fn, "score_fn", "(params, x) -> score")
    check_key(key)
    x = _batch(x)
    num_projections = as_int(num_projections, "num_projections", minimum=1)
    v = jax.random.normal(key, (x.shape[0], num_projections, *x.shape[1:]), x.dtype)

    def one(xi: Array, vi: Array) -> tuple[Array, Array]:
        score, jvp_fn = jax.linearize(lambda y: score_fn(params, y), xi)
        _check_scores(score, xi, batched=False)
        jv = jax.vmap(jvp_fn)(vi)
        return score.astype(x.dtype), jnp.mean(_event_sum(vi * jv))

    scores, trace = jax.vmap(one)(x, v)
    return jnp.mean(0.5 * _event_sum(scores**2) + trace)


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #
def _update(loss_fn: LossFn, optimizer: optax.GradientTransformation) -> Callable:
    def update(params, opt_state, key, batch):
        loss, grads = jax.value_and_grad(loss_fn)(params, key, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return update


def make_train_step(
    loss_fn: LossFn, optimizer: optax.GradientTransformation
) -> Callable[[ArrayTree, Any, PRNGKey, Any], tuple[ArrayTree, Any, Array]]:
    """One jitted optax step ``(params, opt_state, key, batch) -> (params, opt_state, loss)``.

    Parameters
    ----------
    loss_fn : ``(params, key, batch) -> scalar``, e.g.
        ``lambda p, k, b: dsm_loss(score_fn, p, k, b, sigmas)``.
    optimizer : an optax ``GradientTransformation``; start from
        ``opt_state = optimizer.init(params)``.

    Returns
    -------
    A pure, jitted function; ``loss`` is the loss at the parameters before the
    update. Wrap ``optimizer`` in ``optax.apply_if_finite`` to skip updates
    whose loss or gradient is not finite.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax
    >>> from jlangevin.score_matching import make_train_step
    >>> loss_fn = lambda p, k, b: jnp.mean((b - p) ** 2)
    >>> step = make_train_step(loss_fn, optax.sgd(0.5))
    >>> params, state, loss = step(0.0, optax.sgd(0.5).init(0.0), jax.random.key(0), jnp.ones(3))
    >>> float(params), float(loss)
    (1.0, 1.0)
    """
    _check_callable(loss_fn, "loss_fn", "(params, key, batch) -> loss")
    _check_optimizer(optimizer)
    return jax.jit(_update(loss_fn, optimizer))


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes
    ----------
    params : the trained parameters.
    opt_state : the optimizer's state after the last step (to continue training).
    losses : the minibatch loss of every step, ``(num_steps,)``.
    """

    params: ArrayTree
    opt_state: Any
    losses: Array


def _num_examples(data: Any) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError(
            "`data` must be an array (or pytree of arrays) with a leading example axis; "
            f"got {describe(data)}."
        )
    sizes = {jnp.shape(leaf)[0] for leaf in leaves}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            "`data` needs the same non-empty leading example axis on every leaf; got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    return sizes.pop()


def fit(
    key: PRNGKey,
    loss_fn: LossFn,
    params: ArrayTree,
    data: Any,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    batch_size: int,
    *,
    opt_state: Any = None,
) -> FitResult:
    """Train ``params`` by ``num_steps`` optax steps on random minibatches of ``data``.

    The whole loop is one compiled ``lax.scan``. Step ``t`` draws its
    minibatch (``batch_size`` examples, uniformly with replacement) and the
    loss's key from ``fold_in(key, t)``, so a run is reproducible from
    ``key``; to continue a run pass ``opt_state`` and a new ``key``.

    Parameters
    ----------
    key : a JAX random key.
    loss_fn : ``(params, key, batch) -> scalar`` (see :func:`make_train_step`).
    params : the initial parameters, any pytree.
    data : an array, or pytree of arrays, with a leading example axis ``N``.
    optimizer : an optax ``GradientTransformation`` (a schedule inside it
        counts the steps of this call and of the ``opt_state`` passed in).
    num_steps : the number of steps, ``>= 1``.
    batch_size : examples per step, in ``[1, N]``.
    opt_state : the optimizer state to continue from (default: ``optimizer.init(params)``).

    Returns
    -------
    A :class:`FitResult` ``(params, opt_state, losses)``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp, optax
    >>> from jlangevin.score_matching import fit
    >>> data = 3.0 + jax.random.normal(jax.random.key(0), (500,))
    >>> loss_fn = lambda p, k, b: jnp.mean((b - p) ** 2)
    >>> result = fit(jax.random.key(1), loss_fn, 0.0, data, optax.adam(0.1), 300, 50)
    >>> round(float(result.params))
    3
    """
    check_key(key)
    _check_callable(loss_fn, "loss_fn", "(params, key, batch) -> loss")
    _check_optimizer(optimizer)
    num_steps = as_int(num_steps, "num_steps", minimum=1)
    data = jax.tree.map(jnp.asarray, data)
    n = _num_examples(data)
    batch_size = as_int(batch_size, "batch_size", minimum=1, maximum=n)
    if opt_state is None:
        opt_state = optimizer.init(params)
    update = _update(loss_fn, optimizer)

    @jax.jit
    def loop(key, params, opt_state, data):
        def body(carry, t):
            params, opt_state = carry
            key_batch, key_loss = jax.random.split(jax.random.fold_in(key, t))
            index = jax.random.randint(key_batch, (batch_size,), 0, n)
            batch = jax.tree.map(lambda leaf: leaf[index], data)
            params, opt_state, loss = update(params, opt_state, key_loss, batch)
            return (params, opt_state), loss

        steps = jnp.arange(num_steps, dtype=jnp.int32)
        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), steps)
        return params, opt_state, losses

    return FitResult(*loop(key, params, opt_state, data))


# --------------------------------------------------------------------------- #
# A tiny MLP
# --------------------------------------------------------------------------- #
def mlp_init(key: PRNGKey, sizes: Sequence[int]) -> list[dict[str, Array]]:
    """Parameters of a dense MLP with layer widths ``sizes`` (input first, output last).

    Weights are ``N(0, 1/fan_in)`` (LeCun normal), biases zero, in the default
    float dtype. Returns a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}``.

    Examples
    --------
    >>> import jax
    >>> from jlangevin.score_matching import mlp_init
    >>> [p["w"].shape for p in mlp_init(jax.random.key(0), [3, 16, 2])]
    [(3, 16), (16, 2)]
    """
    check_key(key)
    if isinstance(sizes, str) or not isinstance(sizes, Sequence | np.ndarray) or len(sizes) < 2:
        raise TypeError(
            "`sizes` must be a sequence of at least two layer widths (input, ..., output); "
            f"got {describe(sizes)}."
        )
    widths = [as_int(size, "sizes", minimum=1) for size in sizes]
    dtype = jnp.asarray(1.0).dtype
    keys = jax.random.split(key, len(widths) - 1)
    return [
        {
            "w": jax.random.normal(k, (fan_in, fan_out), dtype) / np.sqrt(fan_in),
            "b": jnp.zeros((fan_out,), dtype),
        }
        for k, fan_in, fan_out in zip(keys, widths[:-1], widths[1:], strict=True)
    ]


def mlp_apply(
    params: Sequence[dict[str, Array]],
    x: Array,
    activation: Callable[[Array], Array] = jax.nn.silu,
) -> Array:
    """The MLP of :func:`mlp_init` at ``x`` (``(..., fan_in)``): ``activation`` between layers.

    The last layer is linear. Shapes are checked by ``jnp.dot`` at trace time.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from jlangevin.score_matching import mlp_apply, mlp_init
    >>> params = mlp_init(jax.random.key(0), [3, 16, 2])
    >>> mlp_apply(params, jnp.ones(3)).shape
    (2,)
    """
    *hidden, last = params
    for layer in hidden:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ last["w"] + last["b"]


__all__ = [
    "FitResult",
    "dsm_loss",
    "fit",
    "geometric_sigmas",
    "make_train_step",
    "mlp_apply",
    "mlp_init",
    "ssm_loss",
]
