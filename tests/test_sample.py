"""``jl.sample``: one call from a model to a checked run, and its bad inputs."""

import functools
import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.sample import DEFAULT_NUM_CHAINS, Sampled, sample

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

KEY = jax.random.key(0)


def eight_schools(sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", len(sigma)):
        theta_tilde = numpyro.sample("theta_tilde", dist.Normal(0.0, 1.0))
        numpyro.deterministic("theta", mu + tau * theta_tilde)
        numpyro.sample("obs", dist.Normal(mu + tau * theta_tilde, sigma), obs=y)


Y8 = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA8 = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


@pytest.mark.long
def test_eight_schools_in_one_call():
    model = jl.from_numpyro(eight_schools, SIGMA8, y=Y8)
    out = sample(KEY, model, num_warmup=500, num_draws=500)
    assert isinstance(out, Sampled) and out.model is model
    assert out.kernel == "malt" and out.warmup.kernel == "malt"
    assert out.warmup.chain_acceptance_rate.shape == (DEFAULT_NUM_CHAINS,)
    assert out.converged, str(out)
    posterior = out.posterior
    assert set(posterior) == {"mu", "tau", "theta_tilde", "theta"}
    assert posterior["theta"].shape == (64, 500, 8) and np.all(posterior["tau"] > 0)
    assert out.num_grads.warmup == out.warmup.num_grads > 0
    assert out.num_grads.draws == 64 * 500 * out.warmup.num_integration_steps
    idata = out.to_arviz()
    assert "theta" in idata.posterior and "tau" in idata.posterior
    report = str(out)
    assert "converged" in report and "malt" in report and len(report.splitlines()) < 10


# Conjugate: y_i ~ N(mu, 1), mu ~ N(0, 1): mu | y ~ N(sum(y) / (n + 1), 1 / (n + 1)).
Y = np.random.default_rng(0).normal(2.0, 1.0, size=10).astype(np.float32)
EXACT_MEAN = float(np.sum(Y, dtype=np.float64) / (len(Y) + 1))


def conjugate(x):
    return -0.5 * jnp.sum(x**2) - 0.5 * jnp.sum((Y - x[0]) ** 2)


def no_prior(x):  # the broken companion: the prior dropped
    return -0.5 * jnp.sum((Y - x[0]) ** 2)


def _mean_z(logdensity_fn, kernel="auto"):
    start = jnp.zeros((16, 1))
    out = sample(KEY, logdensity_fn, kernel=kernel, positions=start, num_warmup=300)
    mean = float(np.mean(out.trace.positions))
    mcse = float(jl.diagnostics.mcse(out.trace.positions)[0])
    return (mean - EXACT_MEAN) / mcse


@pytest.mark.long
@pytest.mark.parametrize("kernel", ["auto", "mala", "barker"])
def test_conjugate_normal_mean_within_4_mcse(kernel):
    z = _mean_z(conjugate, kernel)
    assert abs(z) < 4, z


@pytest.mark.long
def test_conjugate_check_catches_the_dropped_prior():
    z = _mean_z(no_prior)
    assert abs(z) > 4, z


# The user's own correlated 2-D Gaussian (correlation 0.9): the defaults must get it right.
RHO = 0.9


def correlated(rho):
    precision = jnp.linalg.inv(jnp.array([[1.0, rho], [rho, 1.0]]))
    return lambda x: -0.5 * x @ precision @ x


def _moment_z(rho_sampled):
    start = jax.random.normal(jax.random.key(1), (64, 2)) * 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        out = sample(KEY, correlated(rho_sampled), positions=start)
    x = np.asarray(out.trace.positions, np.float64)
    products = {"x0 x1": x[..., 0] * x[..., 1], "x0^2": x[..., 0] ** 2, "x1": x[..., 1]}
    exact = {"x0 x1": RHO, "x0^2": 1.0, "x1": 0.0}
    z = {
        k: (float(v.mean()) - exact[k]) / float(jl.diagnostics.mcse(v[..., None])[0])
        for k, v in products.items()
    }
    return out, z


@pytest.mark.long
def test_correlated_gaussian_passes_with_the_defaults():
    out, z = _moment_z(RHO)
    assert out.converged and out.convergence.rhat < 1.01, str(out)
    assert out.warmup.metric_kind == "dense"
    assert all(abs(v) < 4 for v in z.values()), z


@pytest.mark.long
def test_correlated_gaussian_check_catches_a_wrong_correlation():
    _, z = _moment_z(0.8)  # sampled with 0.8, judged against 0.9
    assert abs(z["x0 x1"]) > 4, z


# --------------------------------------------------------------------------- #
# The convergence gate
# --------------------------------------------------------------------------- #
def bimodal(x):  # two modes 20 sd apart: chains started in each never meet
    return jnp.logaddexp(-0.5 * jnp.sum((x - 10.0) ** 2), -0.5 * jnp.sum((x + 10.0) ** 2))


@pytest.mark.long
def test_gate_warns_naming_what_failed():
    start = jnp.concatenate([jnp.full((8, 1), 10.0), jnp.full((8, 1), -10.0)])
    with pytest.warns(jl.SamplingWarning, match="did not converge: R-hat") as caught:
        out = sample(KEY, bimodal, kernel="mala", positions=start, num_warmup=200, num_draws=200)
    assert not out.converged and out.convergence.rhat > 1.5
    assert any("nested R-hat" in f for f in out.convergence.failures)
    message = str(caught[0].message)
    assert "num_warmup" in message and "print(result)" in message
    assert "NOT converged" in str(out) and "FAILED: R-hat" in str(out)


@pytest.mark.long
def test_gate_passes_a_good_run_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error", jl.SamplingWarning)
        out = sample(KEY, correlated(0.0), positions=jnp.zeros((16, 2)), num_warmup=300)
    assert out.converged and out.convergence.failures == ()


@pytest.mark.long
def test_max_draws_keeps_sampling_until_converged_and_equals_one_long_run():
    start = jnp.zeros((16, 2))
    logp = correlated(0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        short = sample(KEY, logp, kernel="mala", positions=start, num_warmup=200, num_draws=10)
        grown = sample(
            KEY, logp, kernel="mala", positions=start, num_warmup=200, num_draws=10, max_draws=400
        )
    assert not short.converged and any("ESS" in f for f in short.convergence.failures)
    assert grown.converged, str(grown)
    total = grown.trace.positions.shape[1]
    assert 10 < total <= 400 and total % 10 == 0
    once = sample(KEY, logp, kernel="mala", positions=start, num_warmup=200, num_draws=total)
    np.testing.assert_array_equal(grown.trace.positions, once.trace.positions)
    np.testing.assert_array_equal(grown.trace.steps, once.trace.steps)
    assert grown.num_grads.draws == 16 * total


@pytest.mark.long
def test_kernels_by_name_constructor_and_declaration():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    start = jnp.zeros((4, 2))
    for kernel, name in [
        ("malt", "malt"),
        (jl.malt, "malt"),
        (jl.kernels.barker.tuning, "barker"),
        ("mala", "mala"),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jl.SamplingWarning)
            out = sample(KEY, logp, kernel=kernel, positions=start, num_warmup=50, num_draws=5)
        assert out.kernel == name and out.warmup.kernel == name


def test_fixed_step_ula_and_mala_and_thinning():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    x0 = jnp.zeros((2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        ula = sample(
            KEY,
            logp,
            kernel="ula",
            step_size=0.1,
            positions=x0,
            num_warmup=10,
            num_draws=20,
            thin=np.int32(2),
        )
        fixed = sample(
            KEY, logp, kernel="mala", step_size=0.5, positions=x0, num_warmup=0, num_draws=5
        )
    assert ula.warmup is None and ula.trace.positions.shape == (2, 20, 3)
    assert np.all(np.asarray(ula.trace.step_count) == 10 + 40)
    assert ula.num_grads == (0, 2 * 50)
    assert fixed.warmup is None and fixed.trace.positions.shape == (2, 5, 3)


@pytest.mark.long
def test_same_key_same_draws():
    logp = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        a = sample(KEY, logp, positions=jnp.zeros((2, 2)), num_warmup=50, num_draws=10)
        b = sample(KEY, logp, positions=jnp.zeros((2, 2)), num_warmup=50, num_draws=10)
    np.testing.assert_array_equal(a.trace.positions, b.trace.positions)


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #
def logp(x):
    return -0.5 * jnp.sum(x**2)


X0 = jnp.zeros((2, 3))
SMALL_MODEL = jl.Model(
    lambda p: -0.5 * jnp.sum(p["x"] ** 2), jl.models.init_uniform({"x": jnp.zeros(2)})
)


def call(model=logp, *, key=KEY, positions=X0, **kwargs):
    kwargs.setdefault("num_warmup", 30)
    kwargs.setdefault("num_draws", 5)
    return sample(key, model, positions=positions, **kwargs)


CASES = [
    Case("key an int", lambda: call(key=0), TypeError, "key"),
    Case("model not callable", lambda: call(model=3.0), TypeError, "model"),
    Case("model a class", lambda: call(model=dict), TypeError, "model"),
    Case(
        "plain log density without positions", lambda: call(positions=None), ValueError, "positions"
    ),
    Case("kernel unknown", lambda: call(kernel="hmc"), ValueError, "kernel"),
    Case(
        "preconditioner unknown", lambda: call(preconditioner="full"), ValueError, "preconditioner"
    ),
    Case(
        "num_warmup below 20 for MALA warm-up",
        lambda: call(num_warmup=10),
        ValueError,
        "num_warmup",
    ),
    Case(
        "num_warmup negative",
        lambda: call(num_warmup=-1, kernel="mala", step_size=0.1),
        ValueError,
        "num_warmup",
    ),
    Case("num_warmup float", lambda: call(num_warmup=100.0), TypeError, "num_warmup"),
    Case("num_draws zero", lambda: call(num_draws=0), ValueError, "num_draws"),
    Case("num_draws bool", lambda: call(num_draws=True), TypeError, "num_draws"),
    Case("thin zero", lambda: call(thin=0), ValueError, "thin"),
    Case(
        "num_chains zero",
        lambda: call(model=SMALL_MODEL, positions=None, num_chains=0),
        ValueError,
        "num_chains",
    ),
    Case(
        "num_chains a float",
        lambda: call(model=SMALL_MODEL, positions=None, num_chains=2.0),
        TypeError,
        "num_chains",
    ),
    Case("num_chains differs from positions", lambda: call(num_chains=3), ValueError, "num_chains"),
    Case("ula without step_size", lambda: call(kernel="ula"), ValueError, "step_size"),
    Case(
        "step_size negative", lambda: call(kernel="mala", step_size=-0.1), ValueError, "step_size"
    ),
    Case("step_size with malt", lambda: call(step_size=0.1), ValueError, "step_size"),
    Case("kernel not tunable", lambda: call(kernel=jl.sgld), TypeError, "kernel"),
    Case("kernel a number", lambda: call(kernel=3), TypeError, "kernel"),
    Case("max_draws below num_draws", lambda: call(max_draws=2), ValueError, "max_draws"),
    Case("max_draws a float", lambda: call(max_draws=10.0), TypeError, "max_draws"),
    Case("warn not a bool", lambda: call(warn="no"), TypeError, "warn"),
    Case("bounds not a pair", lambda: call(bounds=(0.0,)), ValueError, "bounds"),
    Case("bounds low above high", lambda: call(bounds=(1.0, -1.0)), ValueError, "bounds"),
    Case("progress not a bool", lambda: call(progress="yes"), TypeError, "progress"),
    Case(
        "target_acceptance above 1",
        lambda: call(target_acceptance=1.5),
        ValueError,
        "target_acceptance",
    ),
    Case(
        "model positions missing a site",
        lambda: call(model=SMALL_MODEL, positions={"y": jnp.zeros((2, 2))}),
        ValueError,
        "positions",
    ),
    Case(
        "model positions wrong event shape",
        lambda: call(model=SMALL_MODEL, positions={"x": jnp.zeros((2, 3))}),
        ValueError,
        "positions",
    ),
    Case("positions a scalar", lambda: call(positions=jnp.zeros(())), ValueError, "positions"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


@pytest.mark.long
def test_a_box_support_through_bounds_passes_the_exact_checks():
    """The quartic on [-0.7, 1.5] with the defaults and its box: jl.check against the exact law."""
    target = jl.targets.quartic()
    start = jnp.linspace(-0.6, 1.4, 64)[:, None]
    out = sample(KEY, target.logdensity, positions=start, bounds=target.support)
    assert out.converged, str(out)
    assert out.warmup.metric_kind == "diagonal" and "box" in out.warmup.metric_reason
    report = jl.check(out.trace, target)
    assert report.passed, str(report)


@pytest.mark.long
def test_a_box_support_without_bounds_fails_the_same_checks():
    """Companion: without `bounds`, trajectories step out and are rejected; chains stick."""
    target = jl.targets.quartic()
    start = jnp.linspace(-0.6, 1.4, 64)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jl.SamplingWarning)
        out = sample(KEY, target.logdensity, positions=start)
    assert not (out.converged and jl.check(out.trace, target).passed)


def test_gate_names_coordinates_that_never_changed():
    from jlangevin.sample import convergence

    sampler = jl.mala(lambda x: -0.5 * jnp.sum(x**2), step_size=0.8)
    trace = jl.run(KEY, sampler, jnp.zeros((8, 2)), 2000)
    assert convergence(trace).converged
    frozen = convergence(trace._replace(positions=trace.positions.at[..., 1].set(0.0)))
    assert not frozen.converged
    assert frozen.failures == (
        "1 coordinate(s) never changed in any chain (R-hat and ESS undefined)",
    )


def _regression(x, y=None):  # the README's: badly scaled, so far starts and L-BFGS
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 10.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 10.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(5.0))
    numpyro.sample("y", dist.Normal(alpha + beta * x, sigma), obs=y)


@pytest.mark.long
def test_sampling_the_same_model_again_compiles_nothing(caplog):
    """A notebook cell run again: the model built anew from the same data, another key
    (so the warm-up may tune another L). Nothing is compiled: not the L-BFGS approach,
    the warm-up, the model's init, the initial states nor the sampling loop."""
    x = np.linspace(0.0, 100.0, 50)
    y = 1.0 + 0.02 * x + np.random.default_rng(0).normal(0.0, 0.5, 50)
    first = jl.sample(jax.random.key(0), jl.from_numpyro(_regression, x, y=y))
    assert first.warmup.num_approached > 0  # the approach ran, and is cached too
    with jax.log_compiles(True), caplog.at_level("WARNING", logger="jax"):
        again = jl.sample(jax.random.key(1), jl.from_numpyro(_regression, x.copy(), y=y.copy()))
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert compiled == [], compiled
    assert again.model is first.model and again.converged


@pytest.mark.long
def test_a_model_rebuilt_without_its_fingerprint_fails_that_check(caplog, monkeypatch):
    """The companion: with no fingerprint (each model new), the rebuilt model's
    programs compile again and the check above names them."""
    bridge = importlib.import_module("jlangevin.models.numpyro")
    monkeypatch.setattr(bridge, "_fingerprint", lambda functions, extra: None)
    with pytest.raises(AssertionError, match="Compiling"):
        test_sampling_the_same_model_again_compiles_nothing(caplog)


def _sample_each(caplog, targets, **options):
    """``jl.sample`` of each target (key i for the i-th); the results, and the programs
    the last call compiled."""
    runs = []
    for i, target in enumerate(targets):
        with jax.log_compiles(True), caplog.at_level("WARNING", logger="jax"):
            caplog.clear()
            runs.append(jl.sample(jax.random.key(i), target, **options))
        compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    return runs, compiled


def _keep_first_arrays(monkeypatch, functions):
    """Break the compile caches as a cache keyed on a function with its data baked in
    would be: a partial of one of ``functions`` gets the arrays its template first had."""
    cache = importlib.import_module("jlangevin.run.cache")
    split, first = cache._split_fn, {}

    def stale(fn):  # only these partials go stale: the warm-up's own stay fresh
        template, arrays = split(fn)
        if getattr(fn, "func", None) in functions:
            arrays = first.setdefault(template, arrays)
        return template, arrays

    monkeypatch.setattr(cache, "_split_fn", stale)


def _mean_model(y):  # conjugate: mu | y ~ N(sum(y) / (n + 1/100), 1 / (n + 1/100))
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def _sample_numpyro_datasets(caplog):
    """jl.sample on one NumPyro model over two datasets of one shape; the datasets,
    the runs and what the second one compiled."""
    datasets = [np.random.default_rng(s).normal(loc, 1.0, 50) for s, loc in ((0, 3), (1, -2))]
    runs, compiled = _sample_each(caplog, [jl.from_numpyro(_mean_model, y) for y in datasets])
    return datasets, runs, compiled


def _assert_each_samples_its_exact_posterior(datasets, runs):
    for y, run in zip(datasets, runs, strict=True):
        assert run.converged
        draws = np.asarray(run.trace.positions["mu"], np.float64)
        exact = y.sum() / (len(y) + 1 / 100)
        z = (draws.mean() - exact) / float(jl.diagnostics.mcse(draws))
        assert abs(z) < 4, f"z = {z}"


@pytest.mark.long
def test_a_numpyro_model_over_new_data_of_the_same_shapes_compiles_nothing(caplog):
    """from_numpyro's functions are partials over the data, so a second dataset of the
    same shapes compiles nothing (the model's init, the warm-up, the loop), and each
    run samples its own exact posterior."""
    datasets, runs, compiled = _sample_numpyro_datasets(caplog)
    assert compiled == [], compiled
    assert runs[1].model is not runs[0].model
    _assert_each_samples_its_exact_posterior(datasets, runs)


@pytest.mark.long
def test_numpyro_programs_that_keep_the_first_dataset_fail_that_check(caplog, monkeypatch):
    """The companion: the model's data kept from the first dataset (the programs keyed
    on the model, the data baked in) sample the first posterior for the second."""
    bridge = importlib.import_module("jlangevin.models.numpyro")
    functions = (bridge._logdensity, bridge._init, bridge._constrain, bridge._log_likelihood)
    _keep_first_arrays(monkeypatch, functions)
    datasets, runs, _ = _sample_numpyro_datasets(caplog)
    with pytest.raises(AssertionError, match="z = "):
        _assert_each_samples_its_exact_posterior(datasets, runs)


def _far_mean(x, data):  # the data's mean, far from the starts: L-BFGS moves them first
    return -0.5 * jnp.sum((x - jnp.mean(data, axis=0)) ** 2 / 0.01)


def _sample_datasets(caplog):
    """jl.sample over two datasets of one shape, the log density a partial over each;
    the datasets, the runs and what the second one compiled."""
    datasets = [1000.0 + jax.random.normal(jax.random.key(s), (100, 2)) for s in range(2)]
    targets = [functools.partial(_far_mean, data=data) for data in datasets]
    runs, compiled = _sample_each(caplog, targets, positions=jnp.zeros((64, 2)))
    return datasets, runs, compiled


def _assert_each_samples_its_own_posterior(datasets, runs):
    for data, run in zip(datasets, runs, strict=True):
        assert run.converged and run.warmup.num_approached == 64
        draws = np.asarray(run.trace.positions, np.float64)  # float32 sums of 1000s drift
        mcse = np.asarray(jl.diagnostics.mcse(draws))
        z = (draws.mean(axis=(0, 1)) - np.asarray(data, np.float64).mean(axis=0)) / mcse
        assert np.all(np.abs(z) < 4), f"z = {z}"


@pytest.mark.long
def test_a_partial_over_new_data_of_the_same_shapes_compiles_nothing(caplog):
    """Simulation-based calibration: jl.sample over datasets, the log density a
    functools.partial over each. The data are arguments of every program (L-BFGS, the
    warm-up's initial states and windows, the sampling loop), so the second dataset
    compiles nothing, and each run samples its own posterior."""
    datasets, runs, compiled = _sample_datasets(caplog)
    assert compiled == [], compiled  # the second dataset's
    _assert_each_samples_its_own_posterior(datasets, runs)


@pytest.mark.long
def test_programs_that_keep_the_first_dataset_fail_that_check(caplog, monkeypatch):
    """The companion: a cache that gave a partial's template the arrays it first saw
    (programs keyed on the function, the data baked in) samples the first dataset's
    posterior for the second, about 50 MCSE from the second's mean."""
    _keep_first_arrays(monkeypatch, (_far_mean,))
    datasets, runs, _ = _sample_datasets(caplog)
    with pytest.raises(AssertionError, match="z = "):
        _assert_each_samples_its_own_posterior(datasets, runs)
