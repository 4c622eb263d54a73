"""Denoising score matching + annealed Langevin on a 2-D mixture with known modes.

The recipe of the score-based generative modelling survey (reference 5): learn
a noise-conditional score ``s_θ(x̃, σ) ≈ ∇ log p_σ(x̃)`` by denoising score
matching on noised copies of the data, then sample with annealed Langevin,
``x_t = x_{t-1} + (ε/2) s_θ(x_{t-1}, σ_i) + sqrt(ε) z_t`` down a ladder of noise
levels (Song & Ermon 2019).

The data are draws from a three-mode Gaussian mixture in 2-D with unequal
weights, so every answer is known: the noised score of the mixture is exact
(a mixture again, see :func:`jlangevin.targets.noised_mixture`) and the same
sampler is run with it as the reference. The network is an MLP of
``(x, log σ)`` whose output is divided by ``σ`` (NCSNv2's parametrisation:
the score of a level has size ``1/σ``), trained with Adam and a cosine
schedule on the σ²-weighted DSM loss of :func:`jlangevin.score_matching.dsm_loss`
over a geometric ladder from about the data's diameter down to a fraction of
the modes' width.

Checks, for the learned score and for the exact one:

- the energy distance between the samples and (as many) data points is below
  the 0.99 quantile of its permutation distribution (an energy two-sample
  test at level 0.01; Székely & Rizzo 2004);
- the share of samples nearest each mode is within 4 binomial standard errors
  of the mode's weight.

References
----------
Y. Song and S. Ermon (2019). Generative modeling by estimating gradients of the
data distribution. NeurIPS.
Y. Song and S. Ermon (2020). Improved techniques for training score-based
generative models. NeurIPS.
G. J. Székely and M. L. Rizzo (2004). Testing for equal distributions in high
dimension. InterStat.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jlangevin as jl
from jlangevin import score_matching as sm
from jlangevin._checks import as_flag, as_int
from jlangevin.gallery._result import Check, Result, out_folder
from jlangevin.types import Array, ArrayTree, PRNGKey

#: The data law: three Gaussian modes in the plane, unequal weights.
WEIGHTS = np.array([0.5, 0.3, 0.2])
MEANS = np.array([[-4.0, -3.0], [4.0, -3.0], [0.0, 4.0]])
SCALES = np.array([[0.6, 0.6], [0.4, 0.8], [0.8, 0.4]])

#: Binomial standard errors allowed between a mode's share and its weight.
MODE_Z = 4.0
#: Level of the energy two-sample test.
ENERGY_LEVEL = 0.01


class Settings(NamedTuple):
    """Sizes of one run (:data:`FULL` or :data:`QUICK`)."""

    num_data: int
    hidden: tuple[int, ...]
    sigma_max: float
    sigma_min: float
    num_levels: int
    train_steps: int
    batch_size: int
    learning_rate: float
    num_samples: int
    steps_per_level: int
    step_ratio: float  # step_scale = step_ratio * sigma_min**2
    permutations: int


FULL = Settings(
    num_data=10_000,
    hidden=(128, 128, 128),
    sigma_max=10.0,
    sigma_min=0.05,
    num_levels=12,
    train_steps=8000,
    batch_size=512,
    learning_rate=2e-3,
    num_samples=2000,
    steps_per_level=200,
    step_ratio=0.2,
    permutations=200,
)
QUICK = Settings(
    num_data=2000,
    hidden=(64, 64),
    sigma_max=10.0,
    sigma_min=0.05,
    num_levels=8,
    train_steps=1500,
    batch_size=256,
    learning_rate=3e-3,
    num_samples=500,
    steps_per_level=100,
    step_ratio=0.2,
    permutations=200,
)


# --------------------------------------------------------------------------- #
# The data law and its exact noised score
# --------------------------------------------------------------------------- #
def data_law() -> jl.targets.Target:
    """The mixture the data are drawn from."""
    return jl.targets.gaussian_mixture(WEIGHTS, MEANS, SCALES)


def exact_score(x: Array, sigma: Array) -> Array:
    """``∇ log p_σ(x)`` of the mixture convolved with ``N(0, σ² I)``, traceable in ``σ``."""
    dtype = jnp.result_type(x)
    var = jnp.asarray(SCALES, dtype) ** 2 + sigma**2
    diff = jnp.asarray(MEANS, dtype) - x
    log_comp = -0.5 * jnp.sum(diff**2 / var + jnp.log(var), axis=1)
    resp = jax.nn.softmax(jnp.log(jnp.asarray(WEIGHTS, dtype)) + log_comp)
    return jnp.sum(resp[:, None] * diff / var, axis=0)


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #
def init_params(key: PRNGKey, settings: Settings) -> list[dict[str, Array]]:
    """MLP parameters for ``(x, log σ) -> σ s(x, σ)``."""
    return sm.mlp_init(key, [3, *settings.hidden, 2])


def model_score(params: ArrayTree, x: Array, sigma: Array) -> Array:
    """The learned ``s_θ(x, σ) = MLP(x, log σ) / σ`` for one point ``x`` of shape ``(2,)``."""
    features = jnp.concatenate([x, jnp.log(sigma)[None]])
    return sm.mlp_apply(params, features) / sigma


def train(key: PRNGKey, data: Array, sigmas: Array, settings: Settings) -> sm.FitResult:
    """DSM with Adam and a cosine-decayed learning rate."""
    key_init, key_fit = jax.random.split(key)
    schedule = optax.cosine_decay_schedule(settings.learning_rate, settings.train_steps, 0.01)
    optimizer = optax.adam(schedule)

    def loss_fn(params, key, batch):
        return sm.dsm_loss(model_score, params, key, batch, sigmas)

    params = init_params(key_init, settings)
    return sm.fit(
        key_fit, loss_fn, params, data, optimizer, settings.train_steps, settings.batch_size
    )


def sample(
    key: PRNGKey, score_fn: Callable[[Array, Array], Array], sigmas: Array, settings: Settings
) -> np.ndarray:
    """Annealed Langevin from ``N(0, σ_1² I)`` down the ladder, with the Tweedie step."""
    key_start, key_run = jax.random.split(key)
    sigma_max, sigma_min = float(sigmas[0]), float(sigmas[-1])
    start = sigma_max * jax.random.normal(key_start, (settings.num_samples, 2))
    sampler = jl.annealed_langevin(
        score_fn, np.asarray(sigmas), settings.step_ratio * sigma_min**2, settings.steps_per_level
    )
    samples, _ = sampler(key_run, start)
    return np.asarray(samples, dtype=float)


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #
def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(a, b)


def _mean_distances(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(_distances(a, b)))


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``2 E|X − Y| − E|X − X'| − E|Y − Y'|`` between two samples (V-statistics).

    Zero exactly when the laws agree; ``x`` is ``(n, d)``, ``y`` is ``(m, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> from jlangevin.gallery.dsm import energy_distance
    >>> round(energy_distance(np.zeros((3, 2)), np.ones((4, 2))), 4)
    2.8284
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    return 2 * _mean_distances(x, y) - _mean_distances(x, x) - _mean_distances(y, y)


def energy_null_quantile(
    key: PRNGKey, x: np.ndarray, y: np.ndarray, num: int, level: float = ENERGY_LEVEL
) -> float:
    """The ``1 − level`` quantile of the energy distance over ``num`` random relabellings.

    Under "``x`` and ``y`` come from the same law" the labels are exchangeable,
    so the permutation distribution is the statistic's null distribution.
    """
    pooled = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    n, total = len(x), len(pooled)
    dist = _distances(pooled, pooled)
    perms = np.asarray(
        jax.vmap(lambda k: jax.random.permutation(k, total))(jax.random.split(key, num))
    )
    labels = np.zeros((num, total))
    np.put_along_axis(labels, perms[:, :n], 1.0, axis=1)  # 1 marks the "x" group
    ones, other = labels.T, 1.0 - labels.T
    d_x, d_o = dist @ ones, dist @ other
    m = total - n
    cross = np.sum(ones * d_o, axis=0) / (n * m)
    within_x = np.sum(ones * d_x, axis=0) / n**2
    within_y = np.sum(other * d_o, axis=0) / m**2
    return float(np.quantile(2 * cross - within_x - within_y, 1 - level))


def mode_shares(samples: np.ndarray) -> np.ndarray:
    """The share of samples nearest to each mode's mean."""
    nearest = np.argmin(np.linalg.norm(samples[:, None, :] - MEANS[None], axis=-1), axis=1)
    return np.bincount(nearest, minlength=len(WEIGHTS)) / len(samples)


def sample_checks(
    key: PRNGKey, samples: np.ndarray, data: np.ndarray, label: str, permutations: int
) -> tuple[Check, ...]:
    """The energy-distance and mode-weight checks of ``samples`` against ``data``."""
    n = len(samples)
    reference = np.asarray(data, float)[:n]
    value = energy_distance(samples, reference)
    bound = energy_null_quantile(key, samples, reference, permutations)
    shares = mode_shares(samples)
    z = np.abs(shares - WEIGHTS) / np.sqrt(WEIGHTS * (1 - WEIGHTS) / n)
    worst = float(np.max(z))
    return (
        Check(
            f"{label}: energy distance to {n} data points",
            value,
            bound,
            value <= bound,
            f"0.99 quantile of {permutations} relabellings (energy test, level 0.01)",
        ),
        Check(
            f"{label}: largest |mode share - weight| in binomial SEs",
            worst,
            MODE_Z,
            worst <= MODE_Z,
            f"shares {np.round(shares, 3).tolist()} vs weights {WEIGHTS.tolist()}, n={n}",
        ),
    )


# --------------------------------------------------------------------------- #
# Figures
# --------------------------------------------------------------------------- #
def _figures(
    folder: Path,
    data: np.ndarray,
    params: ArrayTree,
    sigmas: np.ndarray,
    losses: np.ndarray,
    learned: np.ndarray,
    exact: np.ndarray,
) -> tuple[Path, ...]:
    import matplotlib

    if "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    lim = (-8.0, 8.0)

    def save(fig, name):
        path = folder / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.3, label="data")
    ax.scatter(MEANS[:, 0], MEANS[:, 1], marker="x", c="k", label="mode means")
    ax.set(xlim=lim, ylim=lim, aspect="equal", title="the data (weights 0.5, 0.3, 0.2)")
    ax.legend(loc="upper right")
    save(fig, "dsm_data.png")

    grid = np.linspace(*lim, 21)
    gx, gy = np.meshgrid(grid, grid)
    points = jnp.asarray(np.stack([gx.ravel(), gy.ravel()], axis=1))
    levels = [sigmas[0], sigmas[len(sigmas) // 2], sigmas[-1]]
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5))
    for col, sigma in enumerate(levels):
        s = jnp.asarray(sigma, points.dtype)
        rows = (
            ("learned", jax.vmap(lambda x, s=s: model_score(params, x, s))(points)),
            ("exact", jax.vmap(lambda x, s=s: exact_score(x, s))(points)),
        )
        for row, (name, field) in enumerate(rows):
            # σ s is of order one at every level: draw it, not s.
            arrows = float(sigma) * np.asarray(field)
            ax = axes[row, col]
            ax.scatter(data[:1000, 0], data[:1000, 1], s=1, alpha=0.2, c="gray")
            ax.quiver(gx, gy, arrows[:, 0].reshape(gx.shape), arrows[:, 1].reshape(gx.shape))
            ax.set(xlim=lim, ylim=lim, aspect="equal", title=f"{name} σ·s(x, σ), σ = {sigma:.3g}")
    save(fig, "dsm_score_field.png")

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5), sharex=True, sharey=True)
    shown = min(len(data), len(learned))
    for ax, (name, points_) in zip(
        axes,
        (("data", data[:shown]), ("learned score", learned), ("exact score", exact)),
        strict=True,
    ):
        ax.scatter(points_[:, 0], points_[:, 1], s=2, alpha=0.4)
        ax.set(xlim=lim, ylim=lim, aspect="equal", title=f"{name} ({len(points_)} points)")
    save(fig, "dsm_samples.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    window = max(1, len(losses) // 100)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(losses, alpha=0.3, label="minibatch")
    ax.plot(np.arange(window - 1, len(losses)), smooth, label=f"running mean ({window})")
    ax.set(xlabel="Adam step", ylabel="DSM loss", title="training", yscale="log")
    ax.legend()
    save(fig, "dsm_loss.png")
    return tuple(paths)


# --------------------------------------------------------------------------- #
# The example
# --------------------------------------------------------------------------- #
def run(*, quick: bool = False, out: str | os.PathLike | None = None, seed: int = 0) -> Result:
    """Train a noise-conditional score by DSM, sample it by annealed Langevin, check both.

    Examples
    --------
    >>> from jlangevin.gallery import dsm
    >>> dsm.run(quick=True).passed                            # doctest: +SKIP
    True
    """
    quick = as_flag(quick, "quick")
    seed = as_int(seed, "seed", minimum=0)
    folder = out_folder(out)
    settings = QUICK if quick else FULL
    keys = jax.random.split(jax.random.key(seed), 6)
    data = np.asarray(data_law().sample(keys[0], settings.num_data))
    sigmas = sm.geometric_sigmas(settings.sigma_max, settings.sigma_min, settings.num_levels)
    fitted = train(keys[1], jnp.asarray(data), sigmas, settings)
    learned = sample(keys[2], lambda x, s: model_score(fitted.params, x, s), sigmas, settings)
    exact = sample(keys[3], exact_score, sigmas, settings)
    checks = sample_checks(keys[4], learned, data, "learned score", settings.permutations)
    checks += sample_checks(keys[5], exact, data, "exact score", settings.permutations)
    figures = ()
    if folder is not None:
        figures = _figures(
            folder,
            data,
            fitted.params,
            np.asarray(sigmas),
            np.asarray(fitted.losses),
            learned,
            exact,
        )
    return Result("dsm", checks, figures)


__all__ = [
    "FULL",
    "QUICK",
    "Settings",
    "data_law",
    "energy_distance",
    "energy_null_quantile",
    "exact_score",
    "model_score",
    "mode_shares",
    "run",
    "sample",
    "sample_checks",
    "train",
]
