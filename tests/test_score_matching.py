"""Score matching losses against exact answers on Gaussian data, and training with them.

Every statistical check uses independent per-example terms, so its Monte Carlo
standard error is the sample standard deviation over ``sqrt(n)``; each has a
companion with a deliberately wrong loss that the same check rejects.
"""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from bad_inputs import Case, case_id, check
from jax.flatten_util import ravel_pytree

from jlangevin import score_matching as sm

Z_MAX = 4.0
KEY = jax.random.key(0)

# --------------------------------------------------------------------------- #
# DSM on N(M, S^2): the exact noise-conditional score is -(x - M) / (S^2 + sigma^2)
# --------------------------------------------------------------------------- #
M, S = 1.0, 0.5
SIGMAS = sm.geometric_sigmas(2.0, 0.1, 6)
EXACT_THETA = jnp.array([-1.0, M])


def linear_score(theta, x, sigma):
    """``(a x + b) / (S² + σ²)``: the exact noised score at ``(a, b) = (-1, M)``."""
    return (theta[0] * x + theta[1]) / (S**2 + sigma**2)


def broken_dsm_loss(score_fn, params, key, x, sigmas):
    """DSM regressing ``s`` onto ``-z`` instead of ``-z/σ`` (the missing 1/σ bug)."""
    n = x.shape[0]
    key_level, key_noise = jax.random.split(key)
    sigma = sigmas[jax.random.randint(key_level, (n,), 0, sigmas.shape[0])]
    z = jax.random.normal(key_noise, x.shape, x.dtype)
    noisy = x + sigma[:, None] * z
    scores = jax.vmap(lambda xi, si: score_fn(params, xi, si))(noisy, sigma)
    return 0.5 * jnp.mean(jnp.sum((scores + z) ** 2, axis=1))


def gaussian_data(key, n):
    return M + S * jax.random.normal(key, (n, 1))


def per_example(fn, key, n):
    """``fn(key_i, x_i[None])`` for ``n`` independent data points and keys."""
    key_x, key_loss = jax.random.split(key)
    x = gaussian_data(key_x, n)
    return jax.jit(jax.vmap(lambda k, xi: fn(k, xi[None])))(jax.random.split(key_loss, n), x)


def z_of(values):
    values = np.asarray(values, float)
    return values.mean(axis=0) / (values.std(axis=0, ddof=1) / np.sqrt(len(values)))


def gradient_z(loss, n=20_000):
    """z-scores of the expected loss's gradient at the exact score (0 for a right loss)."""
    grad = jax.grad(lambda th, k, xb: loss(linear_score, th, k, xb, SIGMAS))
    return z_of(per_example(lambda k, xb: grad(EXACT_THETA, k, xb), KEY, n))


def smallest_margin_z(loss, n=20_000, delta=0.1):
    """min over ±delta perturbations of a parameter of z(loss(perturbed) - loss(exact)).

    The per-example differences are paired (same data and noise), so their
    standard error is small; a right loss has every margin clearly positive.
    """
    steps = delta * jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    value = lambda th, k, xb: loss(linear_score, th, k, xb, SIGMAS)  # noqa: E731

    def margins(k, xb):
        exact = value(EXACT_THETA, k, xb)
        return jax.vmap(lambda step: value(EXACT_THETA + step, k, xb) - exact)(steps)

    return float(np.min(z_of(per_example(margins, KEY, n))))


def test_dsm_expected_loss_at_the_exact_score_is_its_closed_form():
    # sigma s* + z = (S² z - sigma S eps) / (S² + sigma²): E ½|.|² = ½ S² / (S² + sigma²).
    exact = 0.5 * np.mean(S**2 / (S**2 + np.asarray(SIGMAS, float) ** 2))
    values = per_example(
        lambda k, xb: sm.dsm_loss(linear_score, EXACT_THETA, k, xb, SIGMAS), KEY, 20_000
    )
    assert abs(z_of(np.asarray(values) - exact)) < Z_MAX


def test_dsm_gradient_vanishes_at_the_exact_score_and_the_broken_loss_does_not():
    assert np.max(np.abs(gradient_z(sm.dsm_loss))) < Z_MAX
    assert np.max(np.abs(gradient_z(broken_dsm_loss))) > Z_MAX


def test_dsm_exact_score_beats_perturbed_scores_and_the_broken_loss_does_not():
    assert smallest_margin_z(sm.dsm_loss) > Z_MAX
    assert smallest_margin_z(broken_dsm_loss) < Z_MAX


def test_dsm_keeps_the_dtype_of_the_data():
    x = gaussian_data(KEY, 6)
    loss = sm.dsm_loss(linear_score, EXACT_THETA, KEY, x, SIGMAS)
    assert loss.shape == () and loss.dtype == jnp.float32
    with jax.enable_x64(True):
        theta = jnp.asarray(EXACT_THETA, jnp.float64)
        loss64 = jax.jit(lambda th, xb: sm.dsm_loss(linear_score, th, KEY, xb, SIGMAS))(
            theta, np.asarray(x, np.float64)
        )
        assert loss64.dtype == jnp.float64 and np.isfinite(loss64)


# --------------------------------------------------------------------------- #
# SSM on N(MEAN, COV): the linear score W x + b is exact at W = -P, b = P MEAN
# --------------------------------------------------------------------------- #
MEAN = np.array([1.0, -0.5])
COV = np.array([[1.0, 0.6], [0.6, 2.0]])
PRECISION = np.linalg.inv(COV)
CHOL = np.linalg.cholesky(COV)


def affine_score(params, x):
    return params["w"] @ x + params["b"]


def broken_ssm_loss(score_fn, params, key, x, num_projections=1):
    """SSM with the sign of the trace term flipped."""
    v = jax.random.normal(key, (x.shape[0], num_projections, x.shape[1]), x.dtype)

    def one(xi, vi):
        s = score_fn(params, xi)
        jv = jax.vmap(lambda u: jax.jvp(lambda y: score_fn(params, y), (xi,), (u,))[1])(vi)
        return 0.5 * jnp.sum(s**2) - jnp.mean(jnp.sum(vi * jv, axis=1))

    return jnp.mean(jax.vmap(one)(x, v))


def gaussian2(key, n):
    return jnp.asarray(MEAN) + jax.random.normal(key, (n, 2)) @ jnp.asarray(CHOL).T


def ssm_minimiser(loss, key, n=4000, num_projections=1):
    """The exact minimiser of the (quadratic) loss on one data set and one key: a Newton step."""
    key_x, key_v = jax.random.split(key)
    x = gaussian2(key_x, n)
    start = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
    flat, unravel = ravel_pytree(start)
    objective = lambda th: loss(affine_score, unravel(th), key_v, x, num_projections)  # noqa: E731
    # The loss is quadratic in theta: its gradient is affine, H e_j = g(e_j) - g(0).
    points = jnp.concatenate([flat[None], jnp.eye(flat.size)])
    grads = jax.vmap(jax.grad(objective))(points)
    hessian = (grads[1:] - grads[0]).T
    return -jnp.linalg.solve(hessian, grads[0])


def ssm_recovery_z(loss, reps=64):
    """z-scores of the replicated minimisers against ``(-P, P MEAN)``."""
    solve = jax.jit(jax.vmap(lambda k: ssm_minimiser(loss, k)))
    thetas = np.asarray(solve(jax.random.split(KEY, reps)))
    truth = np.concatenate([PRECISION @ MEAN, -PRECISION.ravel()])  # ravel order: b, w
    return z_of(thetas - truth)


@pytest.mark.long
def test_ssm_minimiser_recovers_precision_and_mean_and_the_broken_loss_does_not():
    assert np.max(np.abs(ssm_recovery_z(sm.ssm_loss))) < Z_MAX
    assert np.max(np.abs(ssm_recovery_z(broken_ssm_loss))) > Z_MAX


@pytest.mark.parametrize("num_projections", [1, 3])
def test_ssm_expected_loss_is_the_closed_form(num_projections):
    # E ½|W x + b|² + tr W  with x ~ N(MEAN, COV).
    w = np.array([[-0.5, 0.2], [0.1, -1.5]])
    b = np.array([0.3, -0.2])
    params = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
    exact = 0.5 * (np.trace(w @ COV @ w.T) + np.sum((w @ MEAN + b) ** 2)) + np.trace(w)
    key_x, key_v = jax.random.split(KEY)
    x = gaussian2(key_x, 20_000)
    keys = jax.random.split(key_v, x.shape[0])

    def values(loss):
        one = lambda k, xi: loss(affine_score, params, k, xi[None], num_projections)  # noqa: E731
        return np.asarray(jax.jit(jax.vmap(one))(keys, x)) - exact

    assert abs(z_of(values(sm.ssm_loss))) < Z_MAX
    assert abs(z_of(values(broken_ssm_loss))) > Z_MAX


# --------------------------------------------------------------------------- #
# Training a network
# --------------------------------------------------------------------------- #
TRAIN_STEPS, BATCH = 1000, 128
#: Largest allowed σ²-weighted Fisher divergence to the exact noised score.
FISHER_BOUND = 0.01


def exact_noised_score(x, sigma):
    return -(x - M) / (S**2 + sigma**2)


def weighted_fisher(score_fn, key, n=4000):
    """½ E_σ σ² E |s(x̃, σ) - s*(x̃, σ)|² on fresh noised data: the DSM loss's excess."""
    key_x, key_s, key_z = jax.random.split(key, 3)
    x = gaussian_data(key_x, n)
    sigma = SIGMAS[jax.random.randint(key_s, (n,), 0, SIGMAS.shape[0])]
    noisy = x + sigma[:, None] * jax.random.normal(key_z, x.shape)
    diff = jax.vmap(score_fn)(noisy, sigma) - exact_noised_score(noisy, sigma[:, None])
    return float(0.5 * jnp.mean(sigma**2 * jnp.sum(diff**2, axis=1)))


def mlp_score(params, x, sigma):
    return sm.mlp_apply(params, jnp.append(x, jnp.log(sigma))) / sigma


def train(loss, score_fn, params):
    data = gaussian_data(jax.random.key(1), 4000)
    optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, TRAIN_STEPS, 0.05))
    loss_fn = lambda p, k, b: loss(score_fn, p, k, b, SIGMAS)  # noqa: E731
    return sm.fit(jax.random.key(2), loss_fn, params, data, optimizer, TRAIN_STEPS, BATCH)


@pytest.fixture(scope="module")
def mlp_init():
    return sm.mlp_init(jax.random.key(3), [2, 32, 32, 1])


@pytest.mark.long
def test_a_plain_jax_mlp_learns_the_noised_score(mlp_init):
    fitted = train(sm.dsm_loss, mlp_score, mlp_init)
    assert fitted.losses.shape == (TRAIN_STEPS,) and np.all(np.isfinite(fitted.losses))
    learned = lambda x, s: mlp_score(fitted.params, x, s)  # noqa: E731
    assert weighted_fisher(learned, jax.random.key(4)) < FISHER_BOUND
    untrained = lambda x, s: mlp_score(mlp_init, x, s)  # noqa: E731
    assert weighted_fisher(untrained, jax.random.key(4)) > FISHER_BOUND


@pytest.mark.slow
def test_the_broken_loss_trains_a_wrong_score(mlp_init):
    fitted = train(broken_dsm_loss, mlp_score, mlp_init)
    learned = lambda x, s: mlp_score(fitted.params, x, s)  # noqa: E731
    assert weighted_fisher(learned, jax.random.key(4)) > FISHER_BOUND


@pytest.mark.long
def test_an_equinox_mlp_trains_with_fit():
    eqx = pytest.importorskip("equinox")
    model = eqx.nn.MLP(2, 1, 32, 2, activation=jax.nn.silu, key=jax.random.key(3))
    params, static = eqx.partition(model, eqx.is_array)

    def score(p, x, sigma):
        return eqx.combine(p, static)(jnp.append(x, jnp.log(sigma))) / sigma

    fitted = train(sm.dsm_loss, score, params)
    learned = lambda x, s: score(fitted.params, x, s)  # noqa: E731
    assert weighted_fisher(learned, jax.random.key(4)) < FISHER_BOUND


def test_train_step_is_one_optax_update_and_fit_continues():
    loss_fn = lambda p, k, b: jnp.mean((b - p["m"]) ** 2)  # noqa: E731
    optimizer = optax.sgd(0.25)
    params = {"m": jnp.zeros(())}
    step = sm.make_train_step(loss_fn, optimizer)
    batch = jnp.array([1.0, 3.0])
    new, _, loss = step(params, optimizer.init(params), KEY, batch)
    assert float(loss) == 5.0  # the loss before the update
    np.testing.assert_allclose(new["m"], 0.25 * 4.0)  # m - lr * d/dm mean((b - m)^2)
    data = jnp.arange(10.0)
    first = sm.fit(KEY, loss_fn, params, data, optimizer, 5, 10)
    # Step t's minibatch is drawn from fold_in(KEY, t): the losses are reproducible by hand.
    index = jax.random.randint(jax.random.split(jax.random.fold_in(KEY, 0))[0], (10,), 0, 10)
    np.testing.assert_allclose(first.losses[0], jnp.mean(data[index] ** 2), rtol=1e-6)
    more = sm.fit(
        jax.random.key(9), loss_fn, first.params, data, optimizer, 50, 10, opt_state=first.opt_state
    )
    assert abs(float(more.params["m"]) - 4.5) < 1.0


@pytest.mark.slow
def test_the_user_guide_example_finds_the_mode_weight(capsys):
    guide = Path(__file__).resolve().parents[1] / "docs" / "score_matching.md"
    code = re.search(r"```python\n(.*?)```", guide.read_text(), re.S).group(1)
    exec(compile(code, "docs/score_matching.md", "exec"), {})
    share = float(capsys.readouterr().out)
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 2000)  # binomial SE of 2000 samples


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
X = jnp.zeros((4, 2))
SCORE = lambda p, x, s: -x  # noqa: E731
USCORE = lambda p, x: -x  # noqa: E731
SIG = [1.0, 0.5]
LOSS = lambda p, k, b: jnp.mean(b) * p  # noqa: E731

CASES = [
    Case(
        "dsm score_fn not callable",
        lambda: sm.dsm_loss(1.0, None, KEY, X, SIG),
        TypeError,
        "score_fn",
    ),
    Case("dsm key an int", lambda: sm.dsm_loss(SCORE, None, 0, X, SIG), TypeError, "key"),
    Case("dsm x a scalar", lambda: sm.dsm_loss(SCORE, None, KEY, 1.0, SIG), ValueError, "`x`"),
    Case(
        "dsm x empty",
        lambda: sm.dsm_loss(SCORE, None, KEY, jnp.zeros((0, 2)), SIG),
        ValueError,
        "`x`",
    ),
    Case("dsm x strings", lambda: sm.dsm_loss(SCORE, None, KEY, ["a"], SIG), TypeError, "`x`"),
    Case(
        "dsm x NaN",
        lambda: sm.dsm_loss(SCORE, None, KEY, X.at[0, 0].set(jnp.nan), SIG),
        ValueError,
        "`x`",
    ),
    Case(
        "dsm sigmas negative",
        lambda: sm.dsm_loss(SCORE, None, KEY, X, [1.0, -0.1]),
        ValueError,
        "sigmas",
    ),
    Case("dsm sigmas zero", lambda: sm.dsm_loss(SCORE, None, KEY, X, [0.0]), ValueError, "sigmas"),
    Case(
        "dsm sigmas NaN", lambda: sm.dsm_loss(SCORE, None, KEY, X, [np.nan]), ValueError, "sigmas"
    ),
    Case(
        "dsm sigmas a scalar", lambda: sm.dsm_loss(SCORE, None, KEY, X, 0.5), ValueError, "sigmas"
    ),
    Case(
        "dsm sigmas 2-D",
        lambda: sm.dsm_loss(SCORE, None, KEY, X, [[1.0, 0.5]]),
        ValueError,
        "sigmas",
    ),
    Case("dsm sigmas empty", lambda: sm.dsm_loss(SCORE, None, KEY, X, []), ValueError, "sigmas"),
    Case("dsm sigmas complex", lambda: sm.dsm_loss(SCORE, None, KEY, X, [1j]), TypeError, "sigmas"),
    Case(
        "dsm score of the wrong shape",
        lambda: sm.dsm_loss(lambda p, x, s: x[:1], None, KEY, X, SIG),
        ValueError,
        "score_fn",
    ),
    Case(
        "dsm score of ints",
        lambda: sm.dsm_loss(lambda p, x, s: jnp.ones(2, int), None, KEY, X, SIG),
        TypeError,
        "score_fn",
    ),
    Case(
        "ssm num_projections 0",
        lambda: sm.ssm_loss(USCORE, None, KEY, X, 0),
        ValueError,
        "num_projections",
    ),
    Case(
        "ssm num_projections 1.5",
        lambda: sm.ssm_loss(USCORE, None, KEY, X, 1.5),
        TypeError,
        "num_projections",
    ),
    Case(
        "ssm num_projections True",
        lambda: sm.ssm_loss(USCORE, None, KEY, X, True),
        TypeError,
        "num_projections",
    ),
    Case(
        "ssm score of the wrong shape",
        lambda: sm.ssm_loss(lambda p, x: jnp.sum(x), None, KEY, X),
        ValueError,
        "score_fn",
    ),
    Case(
        "ssm score_fn not callable", lambda: sm.ssm_loss("s", None, KEY, X), TypeError, "score_fn"
    ),
    Case("ssm x a scalar", lambda: sm.ssm_loss(USCORE, None, KEY, 2.0), ValueError, "`x`"),
    Case(
        "sigmas sigma_max negative",
        lambda: sm.geometric_sigmas(-1.0, 0.1, 5),
        ValueError,
        "sigma_max",
    ),
    Case(
        "sigmas sigma_max inf", lambda: sm.geometric_sigmas(np.inf, 0.1, 5), ValueError, "sigma_max"
    ),
    Case(
        "sigmas sigma_min zero", lambda: sm.geometric_sigmas(1.0, 0.0, 5), ValueError, "sigma_min"
    ),
    Case(
        "sigmas sigma_min above sigma_max",
        lambda: sm.geometric_sigmas(1.0, 2.0, 5),
        ValueError,
        "sigma_min",
    ),
    Case("sigmas num 1", lambda: sm.geometric_sigmas(1.0, 0.1, 1), ValueError, "num"),
    Case("sigmas num a float", lambda: sm.geometric_sigmas(1.0, 0.1, 5.0), TypeError, "num"),
    Case(
        "train step loss_fn not callable",
        lambda: sm.make_train_step(None, optax.sgd(0.1)),
        TypeError,
        "loss_fn",
    ),
    Case(
        "train step optimizer a function",
        lambda: sm.make_train_step(LOSS, optax.sgd),
        TypeError,
        "optimizer",
    ),
    Case(
        "fit num_steps 0",
        lambda: sm.fit(KEY, LOSS, 0.0, X, optax.sgd(0.1), 0, 2),
        ValueError,
        "num_steps",
    ),
    Case(
        "fit batch_size above the data",
        lambda: sm.fit(KEY, LOSS, 0.0, X, optax.sgd(0.1), 1, 5),
        ValueError,
        "batch_size",
    ),
    Case(
        "fit batch_size 0",
        lambda: sm.fit(KEY, LOSS, 0.0, X, optax.sgd(0.1), 1, 0),
        ValueError,
        "batch_size",
    ),
    Case(
        "fit data a scalar",
        lambda: sm.fit(KEY, LOSS, 0.0, 1.0, optax.sgd(0.1), 1, 1),
        ValueError,
        "data",
    ),
    Case(
        "fit data leaves of different lengths",
        lambda: sm.fit(KEY, LOSS, 0.0, (X, jnp.zeros(3)), optax.sgd(0.1), 1, 1),
        ValueError,
        "data",
    ),
    Case(
        "fit key a list",
        lambda: sm.fit([0, 1], LOSS, 0.0, X, optax.sgd(0.1), 1, 1),
        TypeError,
        "key",
    ),
    Case(
        "fit optimizer None", lambda: sm.fit(KEY, LOSS, 0.0, X, None, 1, 1), TypeError, "optimizer"
    ),
    Case("mlp sizes one width", lambda: sm.mlp_init(KEY, [3]), TypeError, "sizes"),
    Case("mlp sizes a string", lambda: sm.mlp_init(KEY, "32"), TypeError, "sizes"),
    Case("mlp sizes a zero width", lambda: sm.mlp_init(KEY, [3, 0, 1]), ValueError, "sizes"),
    Case("mlp sizes a float width", lambda: sm.mlp_init(KEY, [3, 2.5, 1]), TypeError, "sizes"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)
