"""An energy-based model of handwritten digits, trained by contrastive divergence.

The reference (Du and Mordatch 2019; Foster, *Generative Deep Learning*, 2nd ed.,
ch. 7) learns an energy ``E(x)`` whose low values are the data: each iteration
draws negative samples by short Langevin runs from a replay buffer of past
samples (5% of the starts fresh uniform noise), and lowers the energy of the
data while raising that of the samples::

    loss = mean E(data) - mean E(samples) + alpha * mean(E(data)^2 + E(samples)^2)

The Langevin loop is the reference's, with its parameters: ``K = 60`` steps of
noise ``0.005``, clip to ``[-1, 1]``, gradient clipped at ``0.03``, step
``10 * clipped gradient``, clip; in jlangevin that is ``jl.ula(jl.from_energy(E),
step_size=10.0, order="noise_first", noise_scale=0.005, score_clip=0.03,
bounds=(-1.0, 1.0), boundary="clip")``, here inside the jitted training step
(the kernel's ``step`` in a ``lax.scan``) and under :func:`jlangevin.run` for the
fresh chains of the checks. ``alpha = 0.1``, data jittered by the same noise
0.005, Adam (``b1 = 0``, as Du and Mordatch). The data are scikit-learn's 8x8
digits (1,797 images shipped with the package, no download) scaled to
``[-1, 1]``, 20% held out; the energy is a plain-JAX MLP 64-128-128-1 with
swish units (the reference's conv net is for 32x32 images). Full mode: 2,000
iterations of 128 (about a minute on two cores); quick mode: 100 iterations
of 40 Langevin steps, looser bounds.

Checks (the bounds are stated tolerances, not Monte Carlo ones: the buffer's
samples are not exact draws of ``exp(-E)``; uniform noise, the untrained
start, is far outside every bound):

1. the energy ranks held-out digits below uniform noise: ROC AUC (the
   probability that a held-out digit has lower energy than a noise image)
   at least 0.99 (quick: 0.95);
2. the buffer's samples have the data's pixel statistics: mean and standard
   deviation of all pixels within 0.05 of the held-out data's (quick: 0.1;
   noise is off by 0.39 and 0.18), and the RMS over the 64 pixels of the
   difference of mean images at most 0.1 (quick: 0.15; noise: 0.65);
3. fresh chains from uniform noise, ``K`` reference steps under ``jl.run``,
   bring their mean energy from the noise level to the held-out data's:
   ``|E(after) - E(held-out)| / |E(noise) - E(held-out)|`` at most 0.3 (quick:
   0.5); 1 is no progress at all. (Fresh chains usually end a little *below*
   the data's energy.)

Fresh chains run much longer than ``K`` steps drift away from the data into a
few saturated modes (measured here: the RMS of mean images grows from 0.2 at
60 steps to 0.5 at 1,000), as is known of EBMs trained with short runs
(Nijkamp et al. 2019): the model is a good *short-run* sampler from its buffer,
which is what the pictures show.

>>> from jlangevin.gallery import ebm
>>> ebm.run(quick=True).passed   # doctest: +SKIP
True

References
----------
Y. Du and I. Mordatch (2019). Implicit generation and modeling with
energy-based models. NeurIPS.
E. Nijkamp, M. Hill, S.-C. Zhu and Y. N. Wu (2019). Learning non-convergent
non-persistent short-run MCMC toward energy-based model. NeurIPS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jlangevin as jl
from jlangevin.gallery._result import Check, Result, out_folder
from jlangevin.types import Sampler

NAME = "ebm"
IMAGE = (8, 8)
DIM = 64
HELD_OUT = 0.2
# The reference's sampler and loss.
STEP_SIZE = 10.0
NOISE = 0.005
GRAD_CLIP = 0.03
ALPHA = 0.1
FRESH = 0.05

Params = list[tuple[jax.Array, jax.Array]]


class Config(NamedTuple):
    """Sizes of one run and the bounds its checks use."""

    iterations: int
    langevin_steps: int
    batch_size: int = 128
    buffer_size: int = 2048
    hidden: int = 128
    learning_rate: float = 1e-3
    fresh_chains: int = 256
    min_auc: float = 0.99
    max_stat_gap: float = 0.05
    max_mean_image_rms: float = 0.1
    max_energy_miss: float = 0.3


FULL = Config(iterations=2000, langevin_steps=60)
QUICK = Config(
    iterations=100,
    langevin_steps=40,
    min_auc=0.95,
    max_stat_gap=0.1,
    max_mean_image_rms=0.15,
    max_energy_miss=0.5,
)


class Trained(NamedTuple):
    """What training leaves: the energy's parameters, the buffer and the energy history.

    Attributes
    ----------
    params : the MLP's ``[(W, b), ...]``.
    buffer : the replay buffer ``(buffer_size, 64)`` of negative samples.
    data_energy, sample_energy : mean energy of the data batch and of the
        negative samples at each iteration.
    """

    params: Params
    buffer: jax.Array
    data_energy: np.ndarray
    sample_energy: np.ndarray


def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(n, 64)`` float32 in ``[-1, 1]``: (training, held-out)."""
    from sklearn.datasets import load_digits

    images = load_digits().data.astype(np.float32) / 8.0 - 1.0  # pixels 0..16
    order = np.random.default_rng(seed).permutation(len(images))
    num_held_out = int(HELD_OUT * len(images))
    return images[order[num_held_out:]], images[order[:num_held_out]]


def init_params(key: jax.Array, hidden: int) -> Params:
    """An MLP 64-hidden-hidden-1, LeCun-normal weights, zero biases."""
    sizes = (DIM, hidden, hidden, 1)
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        (jax.random.normal(k, (n_in, n_out)) / np.sqrt(n_in), jnp.zeros(n_out))
        for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def energy(params: Params, x: jax.Array) -> jax.Array:
    """``E(x)`` of one flattened image (a scalar)."""
    for w, b in params[:-1]:
        x = jax.nn.swish(x @ w + b)
    w, b = params[-1]
    return (x @ w + b)[0]


def sampler(params: Params, sign: float = 1.0) -> Sampler:
    """The reference's Langevin loop on ``exp(-sign * E)`` (``sign = -1``: a broken, uphill one)."""
    return jl.ula(
        jl.from_energy(lambda x: sign * energy(params, x)),
        step_size=STEP_SIZE,
        order="noise_first",
        noise_scale=NOISE,
        score_clip=GRAD_CLIP,
        bounds=(-1.0, 1.0),
        boundary="clip",
    )


def langevin(params: Params, key: jax.Array, start: jax.Array, num_steps: int) -> jax.Array:
    """``num_steps`` reference steps of every row of ``start`` (traceable, for training)."""
    kernel = sampler(params)

    def one_chain(chain_key: jax.Array, x: jax.Array) -> jax.Array:
        def body(state: Any, t: jax.Array) -> tuple[Any, None]:
            return kernel.step(jax.random.fold_in(chain_key, t), state)[0], None

        state, _ = jax.lax.scan(body, kernel.init(x), jnp.arange(num_steps))
        return state.position

    return jax.vmap(one_chain)(jax.random.split(key, start.shape[0]), start)


def cd_loss(params: Params, data: jax.Array, samples: jax.Array) -> tuple[jax.Array, tuple]:
    """The contrastive-divergence loss with the reference's ``alpha`` regulariser."""
    e_data = jax.vmap(energy, (None, 0))(params, data)
    e_samples = jax.vmap(energy, (None, 0))(params, jax.lax.stop_gradient(samples))
    loss = jnp.mean(e_data) - jnp.mean(e_samples)
    loss = loss + ALPHA * jnp.mean(e_data**2 + e_samples**2)
    return loss, (jnp.mean(e_data), jnp.mean(e_samples))


def _uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)


def train(config: Config, seed: int = 0) -> Trained:
    """Contrastive divergence with a replay buffer, ``config.iterations`` Adam steps."""
    train_images, _ = load_data(seed)
    data = jnp.asarray(train_images)
    optimizer = optax.adam(config.learning_rate, b1=0.0, b2=0.999)
    batch = config.batch_size

    def iteration(carry: tuple, key: jax.Array) -> tuple[tuple, tuple]:
        params, opt_state, buffer = carry
        k_data, k_jitter, k_pick, k_fresh, k_noise, k_run = jax.random.split(key, 6)
        real = data[jax.random.randint(k_data, (batch,), 0, data.shape[0])]
        real = jnp.clip(real + NOISE * jax.random.normal(k_jitter, real.shape), -1.0, 1.0)
        picked = jax.random.randint(k_pick, (batch,), 0, config.buffer_size)
        fresh = jax.random.bernoulli(k_fresh, FRESH, (batch, 1))
        start = jnp.where(fresh, _uniform(k_noise, (batch, DIM)), buffer[picked])
        samples = langevin(params, k_run, start, config.langevin_steps)
        buffer = buffer.at[picked].set(samples)
        grads, energies = jax.grad(cd_loss, has_aux=True)(params, real, samples)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, buffer), energies

    key_params, key_buffer, key_train = jax.random.split(jax.random.key(seed), 3)
    params = init_params(key_params, config.hidden)
    carry = (params, optimizer.init(params), _uniform(key_buffer, (config.buffer_size, DIM)))
    keys = jax.random.split(key_train, config.iterations)
    (params, _, buffer), (e_data, e_samples) = jax.jit(lambda c, k: jax.lax.scan(iteration, c, k))(
        carry, keys
    )
    return Trained(params, buffer, np.asarray(e_data), np.asarray(e_samples))


def untrained(config: Config, seed: int = 0) -> Trained:
    """The start of :func:`train` (a broken companion: random energy, noise buffer)."""
    key_params, key_buffer, _ = jax.random.split(jax.random.key(seed), 3)
    params = init_params(key_params, config.hidden)
    buffer = _uniform(key_buffer, (config.buffer_size, DIM))
    return Trained(params, buffer, np.zeros(0), np.zeros(0))


class Evaluation(NamedTuple):
    """The checks and what the pictures show."""

    checks: tuple[Check, ...]
    fresh: np.ndarray  # (chains, 64): the fresh chains' final images
    fresh_energy: np.ndarray  # (steps,): their mean energy along the run
    held_out: np.ndarray


def _auc(low: np.ndarray, high: np.ndarray) -> float:
    """P(a draw of ``low`` < a draw of ``high``), ties counted half (Mann-Whitney)."""
    less = np.mean(low[:, None] < high[None, :])
    ties = np.mean(low[:, None] == high[None, :])
    return float(less + 0.5 * ties)


def evaluate(trained: Trained, config: Config, seed: int = 0, sign: float = 1.0) -> Evaluation:
    """The three checks of the module docstring (``sign = -1``: fresh chains run uphill)."""
    _, held_out = load_data(seed)
    key_noise, key_start, key_run = jax.random.split(jax.random.fold_in(jax.random.key(seed), 1), 3)
    energies = jax.jit(jax.vmap(energy, (None, 0)))
    noise = _uniform(key_noise, (1000, DIM))
    e_held, e_noise = (np.asarray(energies(trained.params, x)) for x in (held_out, noise))
    auc = _auc(e_held, e_noise)

    samples = np.asarray(trained.buffer)
    mean_gap = abs(float(samples.mean() - held_out.mean()))
    sd_gap = abs(float(samples.std() - held_out.std()))
    rms = float(np.sqrt(np.mean((samples.mean(0) - held_out.mean(0)) ** 2)))

    start = _uniform(key_start, (config.fresh_chains, DIM))
    trace = jl.run(key_run, sampler(trained.params, sign), start, config.langevin_steps)
    fresh = np.asarray(trace.positions[:, -1])
    e_start = float(np.mean(energies(trained.params, start)))
    e_end = float(np.mean(energies(trained.params, jnp.asarray(fresh))))
    e_data_mean = float(np.mean(e_held))
    miss = abs(e_end - e_data_mean) / abs(e_start - e_data_mean)
    fresh_energy = -sign * np.asarray(trace.info.logdensity).mean(axis=0)

    gap, quick = config.max_stat_gap, config != FULL
    mode = " (quick mode)" if quick else ""
    checks = (
        Check(
            "energy ranks held-out digits below uniform noise: ROC AUC",
            auc,
            config.min_auc,
            bool(auc >= config.min_auc),
            f">= bound{mode}; {len(e_held)} held-out digits vs {len(e_noise)} noise images",
        ),
        Check(
            "buffer samples' pixel mean vs held-out data's: |difference|",
            mean_gap,
            gap,
            bool(mean_gap <= gap),
            f"<= bound{mode}; data {held_out.mean():.3f}, samples {samples.mean():.3f}, "
            "uniform noise 0",
        ),
        Check(
            "buffer samples' pixel sd vs held-out data's: |difference|",
            sd_gap,
            gap,
            bool(sd_gap <= gap),
            f"<= bound{mode}; data {held_out.std():.3f}, samples {samples.std():.3f}, "
            "uniform noise 0.577",
        ),
        Check(
            "RMS over pixels of (mean sample image - mean held-out image)",
            rms,
            config.max_mean_image_rms,
            bool(rms <= config.max_mean_image_rms),
            f"<= bound{mode}; uniform noise {float(np.sqrt(np.mean(held_out.mean(0) ** 2))):.3f}",
        ),
        Check(
            f"fresh chains ({config.langevin_steps} steps from noise): |E after - E data| "
            "/ |E start - E data|",
            miss,
            config.max_energy_miss,
            bool(miss <= config.max_energy_miss),
            f"<= bound{mode}; mean energies: start (noise) {e_start:.3g}, held-out data "
            f"{e_data_mean:.3g}, after {e_end:.3g}",
        ),
    )
    return Evaluation(checks, fresh, fresh_energy, held_out)


def run(*, quick: bool = False, out: str | os.PathLike | None = None, seed: int = 0) -> Result:
    """Train the EBM, check it and draw digits, samples and energies into ``out``.

    Examples
    --------
    >>> from jlangevin.gallery import ebm
    >>> print(ebm.run(quick=True).report())   # doctest: +SKIP
    """
    folder = out_folder(out)
    config = QUICK if quick else FULL
    trained = train(config, seed)
    evaluation = evaluate(trained, config, seed)
    figures = () if folder is None else _pictures(trained, evaluation, folder)
    return Result(NAME, evaluation.checks, figures)


def _grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile flattened 8x8 images into one picture, one-pixel gaps."""
    rows = -(-len(images) // columns)
    tiles = np.full((rows * columns, IMAGE[0] + 1, IMAGE[1] + 1), np.nan)
    tiles[: len(images), :-1, :-1] = np.asarray(images).reshape(-1, *IMAGE)
    tiles = tiles.reshape(rows, columns, IMAGE[0] + 1, IMAGE[1] + 1)
    return tiles.transpose(0, 2, 1, 3).reshape(rows * (IMAGE[0] + 1), columns * (IMAGE[1] + 1))


def _image_figure(images: np.ndarray, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.8))
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(_grid(images[:64]), cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _pictures(trained: Trained, evaluation: Evaluation, folder: Path) -> tuple[Path, ...]:
    import matplotlib.pyplot as plt

    paths = (
        _image_figure(evaluation.held_out, "held-out digits", folder / f"{NAME}_data.png"),
        _image_figure(
            np.asarray(trained.buffer), "replay-buffer samples", folder / f"{NAME}_buffer.png"
        ),
        _image_figure(
            evaluation.fresh,
            f"fresh chains: {len(evaluation.fresh_energy)} steps from noise",
            folder / f"{NAME}_fresh.png",
        ),
        folder / f"{NAME}_energy.png",
    )
    fig, (ax_train, ax_chain) = plt.subplots(1, 2, figsize=(9, 3.5))
    iterations = np.arange(1, len(trained.data_energy) + 1)
    ax_train.plot(iterations, trained.data_energy, label="data")
    ax_train.plot(iterations, trained.sample_energy, label="negative samples")
    ax_train.set_xscale("log")
    ax_train.set(xlabel="training iteration", ylabel="mean energy", title="training")
    ax_train.legend()
    ax_chain.plot(np.arange(1, len(evaluation.fresh_energy) + 1), evaluation.fresh_energy)
    ax_chain.set(xlabel="Langevin step", ylabel="mean energy", title="fresh chains from noise")
    fig.tight_layout()
    fig.savefig(paths[3], dpi=90)
    plt.close(fig)
    return paths


__all__ = [
    "FULL",
    "QUICK",
    "Config",
    "Evaluation",
    "Trained",
    "cd_loss",
    "energy",
    "evaluate",
    "init_params",
    "langevin",
    "load_data",
    "run",
    "sampler",
    "train",
    "untrained",
]
