"""NumPyro translations of posteriordb reference posteriors, and the check against them.

Each function below translates one Stan program of ``posteriordb/<name>/model.stan``
(the Stan posterior database, BSD 3-Clause: ``posteriordb/LICENCE.md``) line by
line: the same priors, constraints and parameterisation. A Stan parameter with
no prior statement has a flat prior, written as NumPyro users do with
``ImproperUniform(support, (), event_shape)``; ``target += lpdf(...)`` on a
transformed or constrained value becomes ``numpyro.factor``. Every function
takes the Stan ``data`` block as keyword arguments under the same names
(``int`` scalars as Python ints, integer arrays as JAX ``int32`` arrays, real
scalars as Python floats, vectors and arrays of reals as JAX float arrays).

:data:`MODELS` maps a posteriordb name to its :class:`Translation`;
:func:`load` gives ``(model_fn, data_kwargs, reference)`` from the files shipped
in ``benchmarks/posteriordb/<name>/`` (``reference.json``: the mean, sd and bulk
ESS of each parameter over posteriordb's 10 reference chains, written by
``posteriordb/make_reference.py``). :func:`compare` is the agreement check the
benchmark and the tests share: per parameter on the constrained scale, R-hat
below :data:`RHAT_MAX` and ``|z| < Z_MAX`` with ``z = (mean - ref_mean) /
sqrt(sd^2 / ess + ref_sd^2 / ref_ess)`` (the reference has its own Monte Carlo
error).

Posteriordb's parameter names are Stan's: ``beta[1]``, 1-based, matrices row
by row; :func:`flat_draws` writes NumPyro's sites under those names.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import zipfile
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NamedTuple, get_type_hints

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints

HERE = pathlib.Path(__file__).resolve().parent / "posteriordb"
RHAT_MAX = 1.01
Z_MAX = 4.0
#: RK4 steps between consecutive output times of the ODE models (see :func:`rk4_solve`).
RK4_SUBSTEPS = 20

#: Stan ``vector``/``array[] real`` data: a JAX float array (float32 unless x64).
FloatData = Annotated[jax.Array, "float"]
#: Stan ``array[] int`` data: a JAX int32 array.
IntData = Annotated[jax.Array, "int"]


class Translation(NamedTuple):
    """A registry entry: the NumPyro model and what running it needs.

    Attributes
    ----------
    model : the NumPyro model function (Stan data as keyword arguments).
    x64 : whether it needs ``jax_enable_x64`` (no translation here does).
    note : what a user should know (an ODE solver's cost, a known difficulty).
    """

    model: Callable[..., None]
    x64: bool = False
    note: str = ""


# --------------------------------------------------------------------------- #
# Pieces shared by several programs
# --------------------------------------------------------------------------- #
def flat(name: str, support: constraints.Constraint, shape: tuple[int, ...] = ()) -> jax.Array:
    """A parameter with Stan's flat prior on ``support`` (no ``~`` statement in the program).

    Parameters
    ----------
    name : str
        The site's name.
    support : numpyro.distributions.constraints.Constraint
        The Stan declaration's constraint (``real``, ``positive``, ``simplex``...).
    shape : tuple of int
        The event shape (``()`` for a scalar).

    Returns
    -------
    jax.Array
        The site's value.
    """
    return numpyro.sample(name, dist.ImproperUniform(support, (), shape))


def linear_regression(y: jax.Array, columns: list[jax.Array]) -> None:
    """``y ~ normal(beta[1] + sum_k beta[k + 1] * columns[k], sigma)``, flat priors.

    The shape of most posteriordb regressions: ``vector[K] beta; real<lower=0>
    sigma;`` and no prior statement on either.

    Parameters
    ----------
    y : jax.Array
        The response, ``(N,)``.
    columns : list of jax.Array
        The predictors after Stan's ``transformed data``, each ``(N,)``.
    """
    beta = flat("beta", constraints.real, (len(columns) + 1,))
    sigma = flat("sigma", constraints.positive)
    mean = beta[0] + sum(b * x for b, x in zip(beta[1:], columns, strict=True))
    numpyro.sample("y", dist.Normal(mean, sigma), obs=y)


def sample_sd(x: jax.Array) -> jax.Array:
    """Stan's ``sd``: the standard deviation with ``N - 1`` in the denominator."""
    return jnp.std(x, ddof=1)


def hmm_forward(log_emission: jax.Array, transition: jax.Array) -> jax.Array:
    """The forward algorithm of posteriordb's HMM programs: ``log p(y_1..N)``.

    As in the Stan code: ``gamma[1, k] = log_emission[1, k]`` (no initial
    distribution), ``gamma[t, k] = log_sum_exp_j(gamma[t - 1, j] + log
    theta[j, k]) + log_emission[t, k]``, and the result ``log_sum_exp(gamma[N])``.

    Parameters
    ----------
    log_emission : jax.Array
        ``(N, K)`` log densities of each observation under each state.
    transition : jax.Array
        ``(K, K)`` transition probabilities, ``theta[j, k] = p(k | j)``.

    Returns
    -------
    jax.Array
        The scalar log marginal likelihood.
    """
    log_theta = jnp.log(transition)

    def step(gamma: jax.Array, emission: jax.Array) -> tuple[jax.Array, None]:
        return logsumexp(gamma[:, None] + log_theta, axis=0) + emission, None

    gamma, _ = jax.lax.scan(step, log_emission[0], log_emission[1:])
    return logsumexp(gamma)


def rk4_solve(
    rhs: Callable[[jax.Array, jax.Array], jax.Array],
    y0: jax.Array,
    t0: float,
    times: jax.Array,
    substeps: int = RK4_SUBSTEPS,
) -> jax.Array:
    """Classical fixed-step Runge-Kutta 4 from ``t0``, the state at each of ``times``.

    ``substeps`` equal steps between consecutive output times: a ``lax.scan``
    that reverse-mode differentiates (Stan's ``integrate_ode_rk45`` / ``_bdf``
    are adaptive; at the posteriors' parameters 20 steps per interval agree
    with an adaptive solver at tight tolerances to well below float32's
    resolution of the data's noise).

    Parameters
    ----------
    rhs : callable
        ``(t, y) -> dy/dt``.
    y0 : jax.Array
        The state at ``t0``.
    t0 : float
        The initial time.
    times : jax.Array
        Increasing output times, all after ``t0``.
    substeps : int
        RK4 steps per interval.

    Returns
    -------
    jax.Array
        ``(len(times), *y0.shape)``.
    """

    def rk4_step(t: jax.Array, y: jax.Array, h: jax.Array) -> jax.Array:
        k1 = rhs(t, y)
        k2 = rhs(t + h / 2, y + h / 2 * k1)
        k3 = rhs(t + h / 2, y + h / 2 * k2)
        k4 = rhs(t + h, y + h * k3)
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    def interval(y: jax.Array, bounds: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        start, end = bounds
        h = (end - start) / substeps

        def sub(i: int, y: jax.Array) -> jax.Array:
            return rk4_step(start + i * h, y, h)

        y = jax.lax.fori_loop(0, substeps, sub, y)
        return y, y

    starts = jnp.concatenate([jnp.asarray([t0], times.dtype), times[:-1]])
    _, ys = jax.lax.scan(interval, y0, (starts, times))
    return ys


# --------------------------------------------------------------------------- #
# Regressions (flat priors unless the program says otherwise)
# --------------------------------------------------------------------------- #
def earn_height(N: int, earn: FloatData, height: FloatData) -> None:
    """earnings-earn_height: ``earn ~ normal(beta[1] + beta[2] * height, sigma)``."""
    linear_regression(earn, [height])


def log10earn_height(N: int, earn: FloatData, height: FloatData) -> None:
    """earnings-log10earn_height: ``log10(earn) ~ normal(beta[1] + beta[2] * height, sigma)``."""
    linear_regression(jnp.log10(earn), [height])


def logearn_height(N: int, earn: FloatData, height: FloatData) -> None:
    """earnings-logearn_height: ``log(earn) ~ normal(beta[1] + beta[2] * height, sigma)``."""
    linear_regression(jnp.log(earn), [height])


def logearn_height_male(N: int, earn: FloatData, height: FloatData, male: FloatData) -> None:
    """earnings-logearn_height_male: ``log(earn)`` on ``height`` and ``male``."""
    linear_regression(jnp.log(earn), [height, male])


def logearn_interaction(N: int, earn: FloatData, height: FloatData, male: FloatData) -> None:
    """earnings-logearn_interaction: ``log(earn)`` on height, male and ``height .* male``."""
    linear_regression(jnp.log(earn), [height, male, height * male])


def logearn_interaction_z(N: int, earn: FloatData, height: FloatData, male: FloatData) -> None:
    """earnings-logearn_interaction_z: as above with height standardised (sd with N - 1)."""
    z_height = (height - jnp.mean(height)) / sample_sd(height)
    linear_regression(jnp.log(earn), [z_height, male, z_height * male])


def logearn_logheight_male(N: int, earn: FloatData, height: FloatData, male: FloatData) -> None:
    """earnings-logearn_logheight_male: ``log(earn)`` on ``log(height)`` and ``male``."""
    linear_regression(jnp.log(earn), [jnp.log(height), male])


def kidscore_mom_work(N: int, kid_score: FloatData, mom_work: IntData) -> None:
    """kidiq_with_mom_work-kidscore_mom_work: dummies for ``mom_work`` = 2, 3, 4."""
    dummies = [(mom_work == level).astype(kid_score.dtype) for level in (2, 3, 4)]
    linear_regression(kid_score, dummies)


def kidscore_interaction_c(
    N: int, kid_score: FloatData, mom_hs: FloatData, mom_iq: FloatData
) -> None:
    """kidiq_with_mom_work-kidscore_interaction_c: centred predictors and their product."""
    c_hs, c_iq = mom_hs - jnp.mean(mom_hs), mom_iq - jnp.mean(mom_iq)
    linear_regression(kid_score, [c_hs, c_iq, c_hs * c_iq])


def kidscore_interaction_c2(
    N: int, kid_score: FloatData, mom_hs: FloatData, mom_iq: FloatData
) -> None:
    """kidiq_with_mom_work-kidscore_interaction_c2: centred on 0.5 and 100, and the product."""
    c_hs, c_iq = mom_hs - 0.5, mom_iq - 100.0
    linear_regression(kid_score, [c_hs, c_iq, c_hs * c_iq])


def kidscore_interaction_z(
    N: int, kid_score: FloatData, mom_hs: FloatData, mom_iq: FloatData
) -> None:
    """kidiq_with_mom_work-kidscore_interaction_z: ``(x - mean) / (2 sd)`` and the product."""
    z_hs = (mom_hs - jnp.mean(mom_hs)) / (2 * sample_sd(mom_hs))
    z_iq = (mom_iq - jnp.mean(mom_iq)) / (2 * sample_sd(mom_iq))
    linear_regression(kid_score, [z_hs, z_iq, z_hs * z_iq])


def mesquite(
    N: int,
    weight: FloatData,
    diam1: FloatData,
    diam2: FloatData,
    canopy_height: FloatData,
    total_height: FloatData,
    density: FloatData,
    group: FloatData,
) -> None:
    """mesquite-mesquite: ``weight`` on the six raw measurements (badly scaled)."""
    linear_regression(weight, [diam1, diam2, canopy_height, total_height, density, group])


def logmesquite(
    N: int,
    weight: FloatData,
    diam1: FloatData,
    diam2: FloatData,
    canopy_height: FloatData,
    total_height: FloatData,
    density: FloatData,
    group: FloatData,
) -> None:
    """mesquite-logmesquite: ``log(weight)`` on the logs of five measurements and ``group``."""
    logs = [jnp.log(x) for x in (diam1, diam2, canopy_height, total_height, density)]
    linear_regression(jnp.log(weight), [*logs, group])


def logmesquite_logvolume(
    N: int, weight: FloatData, diam1: FloatData, diam2: FloatData, canopy_height: FloatData
) -> None:
    """mesquite-logmesquite_logvolume: ``log(weight)`` on the log canopy volume."""
    linear_regression(jnp.log(weight), [jnp.log(diam1 * diam2 * canopy_height)])


def logmesquite_logva(
    N: int,
    weight: FloatData,
    diam1: FloatData,
    diam2: FloatData,
    canopy_height: FloatData,
    group: FloatData,
) -> None:
    """mesquite-logmesquite_logva: log canopy volume and area, and ``group``."""
    volume, area = jnp.log(diam1 * diam2 * canopy_height), jnp.log(diam1 * diam2)
    linear_regression(jnp.log(weight), [volume, area, group])


def logmesquite_logvas(
    N: int,
    weight: FloatData,
    diam1: FloatData,
    diam2: FloatData,
    canopy_height: FloatData,
    total_height: FloatData,
    density: FloatData,
    group: FloatData,
) -> None:
    """mesquite-logmesquite_logvas: log volume, area, shape, total height, density; group."""
    columns = [
        jnp.log(diam1 * diam2 * canopy_height),
        jnp.log(diam1 * diam2),
        jnp.log(diam1 / diam2),
        jnp.log(total_height),
        jnp.log(density),
        group,
    ]
    linear_regression(jnp.log(weight), columns)


def logmesquite_logvash(
    N: int,
    weight: FloatData,
    diam1: FloatData,
    diam2: FloatData,
    canopy_height: FloatData,
    total_height: FloatData,
    group: FloatData,
) -> None:
    """mesquite-logmesquite_logvash: log volume, area, shape, total height; group."""
    columns = [
        jnp.log(diam1 * diam2 * canopy_height),
        jnp.log(diam1 * diam2),
        jnp.log(diam1 / diam2),
        jnp.log(total_height),
        group,
    ]
    linear_regression(jnp.log(weight), columns)


def nes(
    N: int,
    partyid7: FloatData,
    real_ideo: FloatData,
    race_adj: FloatData,
    educ1: FloatData,
    gender: FloatData,
    income: FloatData,
    age_discrete: IntData,
) -> None:
    """nes1972-nes, nes2000-nes: a *linear* regression of ``partyid7`` (age as a factor)."""
    ages = [(age_discrete == level).astype(partyid7.dtype) for level in (2, 3, 4)]
    columns = [real_ideo, race_adj, *ages, educ1, gender, income]
    linear_regression(partyid7, columns)


def diamonds(N: int, Y: FloatData, K: int, X: FloatData, prior_only: int) -> None:
    """diamonds-diamonds (brms): centred design, ``b ~ normal(0, 1)``, Student-t priors.

    ``Intercept ~ student_t(3, 8, 10)``; ``sigma ~ student_t(3, 0, 10)`` truncated
    at 0 (Stan's ``- student_t_lccdf(0 | 3, 0, 10)``); ``Y ~ normal(Intercept +
    Xc b, sigma)`` with ``Xc`` the columns 2..K of ``X`` minus their means.
    """
    xc = X[:, 1:] - jnp.mean(X[:, 1:], axis=0)
    b = numpyro.sample("b", dist.Normal(0.0, 1.0).expand([K - 1]).to_event(1))
    intercept = numpyro.sample("Intercept", dist.StudentT(3.0, 8.0, 10.0))
    sigma = numpyro.sample("sigma", dist.LeftTruncatedDistribution(dist.StudentT(3.0, 0.0, 10.0)))
    if not prior_only:
        numpyro.sample("Y", dist.Normal(intercept + xc @ b, sigma), obs=Y)


# --------------------------------------------------------------------------- #
# Time series and hidden Markov models
# --------------------------------------------------------------------------- #
def arma11(T: int, y: FloatData) -> None:
    """arma-arma11: ARMA(1, 1) with ``err[0] = 0``, ``err ~ normal(0, sigma)``.

    Priors ``mu ~ normal(0, 10)``, ``phi, theta ~ normal(0, 2)``, ``sigma ~
    cauchy(0, 2.5)`` on ``sigma > 0`` (a half-Cauchy).
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    phi = numpyro.sample("phi", dist.Normal(0.0, 2.0))
    theta = numpyro.sample("theta", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    first = y[0] - (mu + phi * mu)

    def step(err: jax.Array, ys: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        y_prev, y_now = ys
        err = y_now - (mu + phi * y_prev + theta * err)
        return err, err

    _, rest = jax.lax.scan(step, first, (y[:-1], y[1:]))
    err = jnp.concatenate([first[None], rest])
    numpyro.factor("err", jnp.sum(dist.Normal(0.0, sigma).log_prob(err)))


def transition_rows(K: int, prior: jax.Array | None = None) -> jax.Array:
    """``theta1`` and ``theta2`` (simplexes) stacked as the ``(K, K)`` transition matrix.

    Parameters
    ----------
    K : int
        The number of states (the programs assign ``theta[1]`` and ``theta[2]``
        only, so ``K`` is 2).
    prior : jax.Array, optional
        ``(K, K)`` Dirichlet concentrations of the rows (``dirichlet_lpdf(theta[k] |
        alpha[k, :]')``); ``None``: flat simplexes (no prior statement).

    Returns
    -------
    jax.Array
        ``(K, K)``, row ``j`` the distribution of the next state from ``j``.
    """
    rows = []
    for k, name in enumerate(("theta1", "theta2")):
        if prior is None:
            rows.append(flat(name, constraints.simplex, (K,)))
        else:
            rows.append(numpyro.sample(name, dist.Dirichlet(prior[k])))
    return jnp.stack(rows)


def ordered_with_priors(
    name: str, support: constraints.Constraint, K: int, locs: tuple[float, float]
) -> jax.Array:
    """An ordered vector with ``target += normal_lpdf(x[k] | locs[k], 1)`` per element."""
    x = flat(name, support, (K,))
    numpyro.factor(f"{name}_prior", jnp.sum(dist.Normal(jnp.asarray(locs), 1.0).log_prob(x)))
    return x


def hmm_example(N: int, K: int, y: FloatData) -> None:
    """hmm_example-hmm_example: 2 states, ``y[t] ~ normal(mu[state], 1)``.

    Flat simplex rows ``theta1``, ``theta2``; ``positive_ordered[K] mu`` with
    ``mu[1] ~ normal(3, 1)``, ``mu[2] ~ normal(10, 1)`` (as ``target +=``).
    """
    transition = transition_rows(K)
    mu = ordered_with_priors("mu", constraints.positive_ordered_vector, K, (3.0, 10.0))
    log_emission = dist.Normal(mu, 1.0).log_prob(y[:, None])
    numpyro.factor("forward", hmm_forward(log_emission, transition))


def hmm_drive_0(N: int, K: int, u: FloatData, v: FloatData, alpha: FloatData) -> None:
    """bball_drive_event_0-hmm_drive_0: exponential emissions of ``u`` and ``v``.

    Rows ``theta1``, ``theta2`` ~ Dirichlet(``alpha[k, :]``); ``positive_ordered``
    rates ``phi`` and ``lambda`` with ``normal(0, 1)``, ``normal(3, 1)`` priors.
    """
    transition = transition_rows(K, alpha)
    phi = ordered_with_priors("phi", constraints.positive_ordered_vector, K, (0.0, 3.0))
    lam = ordered_with_priors("lambda", constraints.positive_ordered_vector, K, (0.0, 3.0))
    log_emission = dist.Exponential(phi).log_prob(u[:, None]) + dist.Exponential(lam).log_prob(
        v[:, None]
    )
    numpyro.factor("forward", hmm_forward(log_emission, transition))


def hmm_drive_1(
    N: int, K: int, u: FloatData, v: FloatData, alpha: FloatData, tau: float, rho: float
) -> None:
    """bball_drive_event_1-hmm_drive_1: normal emissions (sds ``tau``, ``rho``), ordered means."""
    transition = transition_rows(K, alpha)
    phi = ordered_with_priors("phi", constraints.ordered_vector, K, (0.0, 3.0))
    lam = ordered_with_priors("lambda", constraints.ordered_vector, K, (0.0, 3.0))
    log_emission = dist.Normal(phi, tau).log_prob(u[:, None]) + dist.Normal(lam, rho).log_prob(
        v[:, None]
    )
    numpyro.factor("forward", hmm_forward(log_emission, transition))


# --------------------------------------------------------------------------- #
# ODE models
# --------------------------------------------------------------------------- #
def lotka_volterra(N: int, ts: FloatData, y_init: FloatData, y: FloatData) -> None:
    """hudson_lynx_hare-lotka_volterra: predator-prey ODE, lognormal measurements.

    ``theta[1], theta[3] ~ normal(1, 0.5)`` and ``theta[2], theta[4] ~
    normal(0.05, 0.05)``, all on ``theta > 0``; ``z_init ~ lognormal(log 10,
    1)``; ``sigma ~ lognormal(-1, 1)``; ``y_init[k] ~ lognormal(log z_init[k],
    sigma[k])``, ``y[:, k] ~ lognormal(log z[:, k], sigma[k])`` with ``z`` the
    ODE's solution at ``ts`` from ``z_init`` at 0 (:func:`rk4_solve`).
    """
    theta = flat("theta", constraints.positive, (4,))
    locs, scales = jnp.asarray([1.0, 0.05, 1.0, 0.05]), jnp.asarray([0.5, 0.05, 0.5, 0.05])
    numpyro.factor("theta_prior", jnp.sum(dist.Normal(locs, scales).log_prob(theta)))
    z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10.0), 1.0).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]).to_event(1))
    alpha, beta, gamma, delta = theta

    def rhs(t: jax.Array, z: jax.Array) -> jax.Array:
        prey, predator = z
        return jnp.stack([(alpha - beta * predator) * prey, (-gamma + delta * prey) * predator])

    z = rk4_solve(rhs, z_init, 0.0, ts)
    numpyro.sample("y_init", dist.LogNormal(jnp.log(z_init), sigma).to_event(1), obs=y_init)
    numpyro.sample("y", dist.LogNormal(jnp.log(z), sigma).to_event(2), obs=y)


def one_comp_mm_elim_abs(
    t0: float, D: float, V: float, N_t: int, times: FloatData, C_hat: FloatData
) -> None:
    """one_comp_mm_elim_abs: one compartment, first-order absorption, Michaelis-Menten elimination.

    ``dC/dt = exp(-k_a t) D k_a / V - (V_m / V) C / (K_m + C)`` from ``C(t0) =
    0``; ``k_a, K_m, V_m, sigma ~ cauchy(0, 1)`` on the positive half-line;
    ``C_hat[n] ~ lognormal(log C(times[n]), sigma)``. Stan's right-hand side sets
    the dose term to 0 at ``t = 0`` exactly; a value at one instant does not
    change the ODE's solution, and leaving it out spares RK4's first stage a
    spurious zero (an O(h) error).
    """
    k_a = numpyro.sample("k_a", dist.HalfCauchy(1.0))
    K_m = numpyro.sample("K_m", dist.HalfCauchy(1.0))
    V_m = numpyro.sample("V_m", dist.HalfCauchy(1.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(1.0))

    def rhs(t: jax.Array, c: jax.Array) -> jax.Array:
        dose = jnp.exp(-k_a * t) * D * k_a / V
        return dose - (V_m / V) * c / (K_m + c)

    concentration = rk4_solve(rhs, jnp.zeros((), times.dtype), t0, times)
    numpyro.sample("C_hat", dist.LogNormal(jnp.log(concentration), sigma), obs=C_hat)


_ODE_NOTE = (
    "fixed-step RK4 (20 steps between output times) in a lax.scan: each log density "
    "and gradient integrates the ODE, the costliest posteriors here per gradient"
)

MODELS: dict[str, Translation] = {
    "arma-arma11": Translation(arma11),
    "bball_drive_event_0-hmm_drive_0": Translation(hmm_drive_0),
    "bball_drive_event_1-hmm_drive_1": Translation(hmm_drive_1),
    "diamonds-diamonds": Translation(
        diamonds, note="24 strongly correlated coefficients; NUTS needs long trajectories"
    ),
    "earnings-earn_height": Translation(earn_height),
    "earnings-log10earn_height": Translation(log10earn_height),
    "earnings-logearn_height": Translation(logearn_height),
    "earnings-logearn_height_male": Translation(logearn_height_male),
    "earnings-logearn_interaction": Translation(logearn_interaction),
    "earnings-logearn_interaction_z": Translation(logearn_interaction_z),
    "earnings-logearn_logheight_male": Translation(logearn_logheight_male),
    "hmm_example-hmm_example": Translation(hmm_example),
    "hudson_lynx_hare-lotka_volterra": Translation(lotka_volterra, note=_ODE_NOTE),
    "kidiq_with_mom_work-kidscore_interaction_c": Translation(kidscore_interaction_c),
    "kidiq_with_mom_work-kidscore_interaction_c2": Translation(kidscore_interaction_c2),
    "kidiq_with_mom_work-kidscore_interaction_z": Translation(kidscore_interaction_z),
    "kidiq_with_mom_work-kidscore_mom_work": Translation(kidscore_mom_work),
    "mesquite-logmesquite": Translation(logmesquite),
    "mesquite-logmesquite_logva": Translation(logmesquite_logva),
    "mesquite-logmesquite_logvas": Translation(logmesquite_logvas),
    "mesquite-logmesquite_logvash": Translation(logmesquite_logvash),
    "mesquite-logmesquite_logvolume": Translation(logmesquite_logvolume),
    "mesquite-mesquite": Translation(mesquite),
    "nes1972-nes": Translation(nes),
    "nes2000-nes": Translation(nes),
    "one_comp_mm_elim_abs-one_comp_mm_elim_abs": Translation(one_comp_mm_elim_abs, note=_ODE_NOTE),
}


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #
def read_zipped_json(path: pathlib.Path) -> Any:
    """The JSON document inside a one-file zip archive (posteriordb's ``.json.zip``)."""
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(archive.namelist()[0]))


def _as_data(value: Any, kind: Any) -> Any:
    """One data value as its annotation says: int, float, or a JAX int / float array."""
    if kind is int:
        return int(value)
    if kind is float:
        return float(value)
    if getattr(kind, "__metadata__", ()) == ("int",):
        return jnp.asarray(np.asarray(value), dtype=int)
    return jnp.asarray(np.asarray(value, dtype=np.float64), dtype=float)


def model_data(model: Callable[..., None], data: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``model`` from posteriordb's data, typed by its annotations.

    posteriordb's data files hold every variable of a data set; each program
    reads only those of its ``data`` block (the model's parameters).

    Parameters
    ----------
    model : callable
        A translation (parameters annotated ``int``, ``float``, :data:`IntData`
        or :data:`FloatData`).
    data : mapping
        The parsed ``data.json``.

    Returns
    -------
    dict
        ``{parameter: value}`` for every parameter of ``model``.
    """
    hints = get_type_hints(model, include_extras=True)
    names = inspect.signature(model).parameters
    return {name: _as_data(data[name], hints[name]) for name in names}


def reference(name: str) -> dict[str, dict[str, float]]:
    """``{"param[i]": {"mean", "sd", "ess_bulk"}}`` of a shipped posterior (posteriordb's order)."""
    return json.loads((HERE / name / "reference.json").read_text())["parameters"]


def load(name: str) -> tuple[Callable[..., None], dict[str, Any], dict[str, dict[str, float]]]:
    """A shipped posterior: ``(model_fn, data_kwargs, reference)``.

    Call it after setting ``jax_enable_x64`` when the entry's ``x64`` asks for
    it: float data are made at the default float precision of the moment.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.

    Returns
    -------
    tuple
        The NumPyro model, its data as keyword arguments, and the reference
        summary (see :func:`reference`).
    """
    if name not in MODELS:
        raise ValueError(f"`name` must be one of {sorted(MODELS)}; got {name!r}.")
    model = MODELS[name].model
    data = read_zipped_json(HERE / name / "data.json.zip")
    return model, model_data(model, data), reference(name)


# --------------------------------------------------------------------------- #
# The check against the reference
# --------------------------------------------------------------------------- #
def stan_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Stan's names of the scalars of a variable, row-major and 1-based: ``b[1, 2]``.

    posteriordb writes ``b[1,2]`` with no space; so does this.
    """
    if not shape:
        return [name]
    return [f"{name}[{','.join(str(i + 1) for i in idx)}]" for idx in np.ndindex(*shape)]


def flat_draws(samples: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``{site: (chains, draws, *shape)}`` as ``{"site[i]": (chains, draws)}``, Stan's names."""
    out = {}
    for site, value in samples.items():
        value = np.asarray(value, dtype=np.float64)
        flat_value = value.reshape(*value.shape[:2], -1)
        for i, label in enumerate(stan_names(site, value.shape[2:])):
            out[label] = flat_value[..., i]
    return out


class Agreement(NamedTuple):
    """The check of one sampler's draws against a reference posterior.

    Attributes
    ----------
    passed : every parameter has R-hat < :data:`RHAT_MAX` and ``|z| <`` :data:`Z_MAX`.
    max_rhat, max_rhat_at : the largest R-hat and its parameter.
    max_z, max_z_at : the largest ``|z|`` and its parameter.
    min_ess, min_ess_at : the smallest bulk ESS and its parameter.
    per_parameter : ``{name: {"mean", "sd", "ess_bulk", "rhat", "z"}}``.
    """

    passed: bool
    max_rhat: float
    max_rhat_at: str
    max_z: float
    max_z_at: str
    min_ess: float
    min_ess_at: str
    per_parameter: dict[str, dict[str, float]]


def parameter_stats(draws: np.ndarray) -> dict[str, float]:
    """Mean, sd (all draws, ddof=1), bulk ESS and rank-normalised R-hat of ``(chains, draws)``."""
    import arviz as az

    return {
        "mean": float(draws.mean()),
        "sd": float(draws.std(ddof=1)),
        "ess_bulk": float(az.ess(draws, method="bulk")),
        "rhat": float(az.rhat(draws)),
    }


def z_score(stats: Mapping[str, float], ref: Mapping[str, float]) -> float:
    """``(mean - ref_mean) / sqrt(sd^2 / ess + ref_sd^2 / ref_ess)``."""
    se2 = stats["sd"] ** 2 / stats["ess_bulk"] + ref["sd"] ** 2 / ref["ess_bulk"]
    return float((stats["mean"] - ref["mean"]) / np.sqrt(se2))


def compare(samples: Mapping[str, Any], ref: Mapping[str, Mapping[str, float]]) -> Agreement:
    """Every reference parameter of ``samples`` against the reference.

    Parameters
    ----------
    samples : mapping
        ``{site: (chains, draws, *shape)}`` on the constrained scale (NumPyro's
        ``get_samples(group_by_chain=True)``, ``jl.sample(...).posterior``);
        sites the reference lacks (deterministic ones) are ignored.
    ref : mapping
        :func:`reference`'s summary.

    Returns
    -------
    Agreement
        The verdict, the worst R-hat, ``|z|`` and ESS, and every parameter's numbers.
        A non-finite statistic fails (and counts as the worst).
    """
    draws = flat_draws(samples)
    missing = [name for name in ref if name not in draws]
    if missing:
        raise ValueError(f"the samples lack the reference's parameters {missing}.")
    table = {}
    for name, r in ref.items():
        stats = parameter_stats(draws[name])
        stats["z"] = z_score(stats, r)
        table[name] = stats

    at_rhat = max(table, key=lambda n: _badness(table[n]["rhat"]))
    at_z = max(table, key=lambda n: _badness(abs(table[n]["z"])))
    at_ess = max(table, key=lambda n: _badness(-table[n]["ess_bulk"]))
    return Agreement(
        passed=all(s["rhat"] < RHAT_MAX and abs(s["z"]) < Z_MAX for s in table.values()),
        max_rhat=table[at_rhat]["rhat"],
        max_rhat_at=at_rhat,
        max_z=abs(table[at_z]["z"]),
        max_z_at=at_z,
        min_ess=table[at_ess]["ess_bulk"],
        min_ess_at=at_ess,
        per_parameter=table,
    )


def _badness(value: float) -> float:
    """``value``, NaN counting as +inf: a non-finite statistic is the worst."""
    return float("inf") if not np.isfinite(value) else value
