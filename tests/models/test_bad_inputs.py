"""Bad inputs to the model bridges: each names the argument, the expected and the got."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.models import Model, find_mode, from_numpyro, init_uniform, subsampled
from jlangevin.models.arviz import to_inference_data

numpyro = pytest.importorskip("numpyro")
dist = pytest.importorskip("numpyro.distributions")

Y = np.array([0.5, -1.0, 0.2])
KEY = jax.random.key(0)


def scale_model(y):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("data", len(y)):
        numpyro.sample("y", dist.Normal(0.0, sigma), obs=y)


def observed_only(y):
    numpyro.sample("y", dist.Normal(0.0, 1.0), obs=y)


def discrete_latent(y):
    k = numpyro.sample("k", dist.Poisson(3.0))
    numpyro.sample("y", dist.Normal(k, 1.0), obs=y)


def regression(x, y=None):
    beta = numpyro.sample("beta", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", len(x)):
        numpyro.sample("y", dist.Normal(beta * x, 1.0), obs=y)


def nested_data(data):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=data["y"])
    numpyro.sample("z", dist.Normal(mu, 1.0), obs=data["pair"][1])


def with_nan(values, where):
    values = np.array(values, dtype=float)
    values[list(where)] = np.nan
    return values


X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
Y_NAN = with_nan([0.5, -1.0, 0.2, 0.1, 0.4], [0, 2, 4])
Y_INF = np.array([0.5, np.inf, 0.2, -np.inf, 0.4])


def local_latent(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", len(y)):
        z = numpyro.sample("z", dist.Normal(mu, 1.0))
        numpyro.sample("y", dist.Normal(z, 1.0), obs=y)


def two_plates(y, counts):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("a", len(y)):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
    with numpyro.plate("b", len(counts)):
        numpyro.sample("counts", dist.Normal(mu, 1.0), obs=counts)


def fixed_size_plate(y):  # the plate's size is not the data's: the data cannot follow it
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    with numpyro.plate("data", 3):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


@functools.cache
def numpyro_model():
    return from_numpyro(scale_model, Y)


def gaussian():
    return Model(lambda x: -0.5 * jnp.sum(x**2), init_uniform(jnp.zeros(2)))


def draws(**shapes):
    return {name: jnp.zeros(shape) for name, shape in shapes.items()}


CASES = [
    # from_numpyro
    Case("from_numpyro model not callable", lambda: from_numpyro("model", Y), TypeError, "model"),
    Case("from_numpyro model a class", lambda: from_numpyro(dict, Y), TypeError, "model"),
    Case(
        "from_numpyro wrong model arguments", lambda: from_numpyro(scale_model), TypeError, "model"
    ),
    Case(
        "from_numpyro no latent sites", lambda: from_numpyro(observed_only, Y), ValueError, "model"
    ),
    Case("from_numpyro discrete latent", lambda: from_numpyro(discrete_latent, Y), ValueError, "k"),
    # from_numpyro: data with NaN or inf, named (not the later "initial position" message)
    Case(
        "from_numpyro NaN in positional data",
        lambda: from_numpyro(regression, X, Y_NAN),
        ValueError,
        "`y` (argument of the model) holds 3 NaN values",
    ),
    Case(
        "from_numpyro NaN in keyword data",
        lambda: from_numpyro(regression, X, y=Y_NAN),
        ValueError,
        "`y` (argument of the model) holds 3 NaN values",
    ),
    Case(
        "from_numpyro inf in data",
        lambda: from_numpyro(regression, X, y=Y_INF),
        ValueError,
        "`y` (argument of the model) holds 2 infinite values",
    ),
    Case(
        "from_numpyro NaN in a jax array",
        lambda: from_numpyro(regression, X, y=jnp.asarray(Y_NAN)),
        ValueError,
        "`y` (argument of the model) holds 3 NaN values",
    ),
    Case(
        "from_numpyro NaN in a covariate (NumPyro's validation fails first)",
        lambda: from_numpyro(regression, with_nan(X, [1]), Y),
        ValueError,
        "`x` (argument of the model) holds 1 NaN value",
    ),
    Case(
        "from_numpyro NaN in a dict of data",
        lambda: from_numpyro(nested_data, {"y": Y_NAN, "pair": (X, X)}),
        ValueError,
        "`data['y']` (argument of the model) holds 3 NaN values",
    ),
    Case(
        "from_numpyro inf in a tuple inside a dict of data",
        lambda: from_numpyro(nested_data, {"y": Y, "pair": (X, Y_INF)}),
        ValueError,
        "`data['pair'][1]` (argument of the model) holds 2 infinite values",
    ),
    # subsampled
    Case(
        "subsampled plate unknown",
        lambda: subsampled(scale_model, Y, plate="batch"),
        ValueError,
        "`plate`",
    ),
    Case(
        "subsampled plate not a string",
        lambda: subsampled(scale_model, Y, plate=0),
        TypeError,
        "`plate`",
    ),
    Case(
        "subsampled plate ambiguous",
        lambda: subsampled(two_plates, Y, np.ones(4)),
        ValueError,
        "`plate`",
    ),
    Case(
        "subsampled latent site in the data plate",
        lambda: subsampled(local_latent, Y),
        ValueError,
        "'z'",
    ),
    Case(
        "subsampled data that do not follow the plate",
        lambda: subsampled(fixed_size_plate, Y),
        ValueError,
        "`model` does not split",
    ),
    Case(
        "subsampled no argument as long as the plate",
        lambda: subsampled(fixed_size_plate, Y[:1]),
        ValueError,
        "`model`",
    ),
    Case("subsampled model not callable", lambda: subsampled("model", Y), TypeError, "`model`"),
    # find_mode
    Case(
        "find_mode model a log density", lambda: find_mode(KEY, lambda x: x), TypeError, "`model`"
    ),
    Case(
        "find_mode num_steps 0",
        lambda: find_mode(KEY, gaussian(), num_steps=0),
        ValueError,
        "num_steps",
    ),
    Case(
        "find_mode optimizer a learning rate",
        lambda: find_mode(KEY, gaussian(), optimizer=0.1),
        TypeError,
        "`optimizer`",
    ),
    Case("find_mode key an int", lambda: find_mode(0, gaussian()), TypeError, "key"),
    Case(
        "find_mode diverging optimizer",
        lambda: find_mode(KEY, gaussian(), num_steps=50, optimizer=__import__("optax").sgd(1e3)),
        ValueError,
        "optimizer",
    ),
    # init
    Case("init num_chains 0", lambda: numpyro_model().init(KEY, 0), ValueError, "num_chains"),
    Case(
        "init num_chains negative", lambda: numpyro_model().init(KEY, -2), ValueError, "num_chains"
    ),
    Case("init num_chains float", lambda: numpyro_model().init(KEY, 4.0), TypeError, "num_chains"),
    Case("init num_chains bool", lambda: numpyro_model().init(KEY, True), TypeError, "num_chains"),
    Case("init num_chains string", lambda: numpyro_model().init(KEY, "4"), TypeError, "num_chains"),
    Case(
        "init num_chains float array",
        lambda: numpyro_model().init(KEY, np.float32(2)),
        TypeError,
        "num_chains",
    ),
    Case("init key an int", lambda: numpyro_model().init(0, 4), TypeError, "key"),
    Case(
        "init key array of keys",
        lambda: numpyro_model().init(jax.random.split(KEY, 2), 4),
        ValueError,
        "key",
    ),
    # positions
    Case(
        "constrain wrong site name",
        lambda: numpyro_model().constrain(draws(scale=(2, 3))),
        ValueError,
        "positions",
    ),
    Case(
        "constrain extra site",
        lambda: numpyro_model().constrain(draws(sigma=(2, 3), y=(2, 3))),
        ValueError,
        "positions",
    ),
    Case(
        "constrain wrong event shape",
        lambda: gaussian().constrain(jnp.zeros((5,))),
        ValueError,
        "positions",
    ),
    Case(
        "constrain array instead of dict",
        lambda: numpyro_model().constrain(jnp.zeros((2, 3))),
        ValueError,
        "positions",
    ),
    Case(
        "constrain event shape of another model",
        lambda: gaussian().constrain(jnp.zeros((4, 3))),
        ValueError,
        "positions",
    ),
    Case(
        "constrain leading axes disagree",
        lambda: Model(
            lambda p: -jnp.sum(p["a"] ** 2) - jnp.sum(p["b"] ** 2),
            init_uniform({"a": jnp.zeros(()), "b": jnp.zeros(2)}),
        ).constrain({"a": jnp.zeros((4,)), "b": jnp.zeros((3, 2))}),
        ValueError,
        "positions",
    ),
    Case(
        "log_likelihood wrong site name",
        lambda: numpyro_model().log_likelihood(draws(tau=(2, 3))),
        ValueError,
        "positions",
    ),
    Case(
        "logdensity_fn wrong site name in jl.run",
        lambda: jl.run(KEY, jl.mala(numpyro_model().logdensity_fn, 0.1), draws(mu=(2,)), 1),
        ValueError,
        "position",
    ),
    Case(
        "logdensity_fn wrong shape in jl.run",
        lambda: jl.run(KEY, jl.mala(numpyro_model().logdensity_fn, 0.1), draws(sigma=(2, 3)), 1),
        ValueError,
        "position['sigma']",
    ),
    # Model built by hand
    Case(
        "Model without logdensity_fn",
        lambda: Model(init=init_uniform(jnp.zeros(2))),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "Model logdensity_fn None",
        lambda: Model(None, init_uniform(jnp.zeros(2))),
        TypeError,
        "logdensity_fn",
    ),
    Case(
        "Model logdensity_fn not scalar",
        lambda: Model(lambda x: -(x**2), init_uniform(jnp.zeros(2))),
        ValueError,
        "logdensity_fn",
    ),
    Case(
        "Model init a position, not a function",
        lambda: Model(lambda x: -jnp.sum(x**2), jnp.zeros(2)),
        TypeError,
        "init",
    ),
    Case(
        "Model init returns integers",
        lambda: Model(lambda x: -jnp.sum(x**2), lambda key: jnp.zeros(2, jnp.int32)),
        TypeError,
        "init",
    ),
    Case(
        "Model constrain not callable",
        lambda: Model(lambda x: -jnp.sum(x**2), init_uniform(jnp.zeros(2)), constrain={"x": 1}),
        TypeError,
        "constrain",
    ),
    Case(
        "Model constrain returns an array",
        lambda: Model(lambda x: -jnp.sum(x**2), init_uniform(jnp.zeros(2)), constrain=jnp.exp),
        TypeError,
        "constrain",
    ),
    Case(
        "Model log_likelihood not callable",
        lambda: Model(lambda x: -jnp.sum(x**2), init_uniform(jnp.zeros(2)), log_likelihood=1.0),
        TypeError,
        "log_likelihood",
    ),
    Case(
        "Model observed_data key not a string",
        lambda: Model(lambda x: -jnp.sum(x**2), init_uniform(jnp.zeros(2)), observed_data={0: Y}),
        TypeError,
        "observed_data",
    ),
    Case(
        "Model deterministic_names unknown",
        lambda: Model(
            lambda x: -jnp.sum(x**2), init_uniform(jnp.zeros(2)), deterministic_names=["z"]
        ),
        ValueError,
        "deterministic_names",
    ),
    Case(
        "log_likelihood of a model without one",
        lambda: gaussian().log_likelihood(jnp.zeros((2, 2))),
        ValueError,
        "log_likelihood",
    ),
    # init_uniform
    Case("init_uniform radius 0", lambda: init_uniform(jnp.zeros(2), 0.0), ValueError, "radius"),
    Case(
        "init_uniform radius inf", lambda: init_uniform(jnp.zeros(2), np.inf), ValueError, "radius"
    ),
    Case(
        "init_uniform integer position",
        lambda: init_uniform(jnp.zeros(2, jnp.int32)),
        TypeError,
        "position",
    ),
    Case("init_uniform empty position", lambda: init_uniform({}), ValueError, "position"),
    # to_inference_data
    Case(
        "to_inference_data model not a Model",
        lambda: to_inference_data(draws(sigma=(2, 3)), scale_model),
        TypeError,
        "model",
    ),
    Case(
        "to_inference_data one position, no chain/draw axes",
        lambda: to_inference_data(draws(sigma=()), numpyro_model()),
        ValueError,
        "trace",
    ),
    Case(
        "to_inference_data wrong site",
        lambda: to_inference_data(draws(tau=(2, 3)), numpyro_model()),
        ValueError,
        "trace",
    ),
    Case(
        "to_inference_data dims of an unknown variable",
        lambda: to_inference_data(draws(sigma=(2, 3)), numpyro_model(), dims={"z": ["a"]}),
        ValueError,
        "dims",
    ),
    Case(
        "to_inference_data trace without positions",
        lambda: to_inference_data(
            jl.run(
                KEY, jl.mala(gaussian().logdensity_fn, 0.1), jnp.zeros((2, 2)), 2, store="stats"
            ),
            gaussian(),
        ),
        ValueError,
        "trace",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_numpy_and_jax_integer_scalars_are_numbers_of_chains():
    model = numpyro_model()
    for num_chains in (np.int64(3), jnp.int32(3), np.array(3)):
        assert model.init(KEY, num_chains)["sigma"].shape == (3,)
