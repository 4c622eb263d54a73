"""Every bad input named in the design gets a clear error naming the argument."""

import jax
import jax.numpy as jnp
import pytest

import jlangevin as jl
from jlangevin.kernels import mala, ula

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
KEY = jax.random.key(0)


@pytest.mark.parametrize("factory", [jl.ula, jl.mala, jl.sgld])
@pytest.mark.parametrize(
    "step", [0.0, -0.1, jnp.asarray([0.1, -0.1]), float("nan"), lambda t: -1.0]
)
def test_non_positive_step_size(factory, step):
    with pytest.raises(ValueError, match="step_size"):
        factory(LOGP, step_size=step)


@pytest.mark.parametrize("factory", [jl.ula, jl.mala, jl.sgld])
def test_missing_step_size(factory):
    with pytest.raises(ValueError, match="step_size"):
        factory(LOGP)


@pytest.mark.parametrize(
    "bounds", [(1.0, 0.0), (0.0, 0.0), (jnp.asarray([0.0, 2.0]), 1.0), (0.0,), "box"]
)
def test_bad_bounds(bounds):
    with pytest.raises(ValueError, match="bounds"):
        jl.mala(LOGP, step_size=0.1, bounds=bounds)


def test_bad_boundary_mode():
    with pytest.raises(ValueError, match="boundary"):
        jl.ula(LOGP, step_size=0.1, bounds=(0.0, 1.0), boundary="wrap")


def test_non_scalar_logdensity():
    sampler = jl.mala(lambda x: -0.5 * x**2, step_size=0.1)
    with pytest.raises(ValueError, match="scalar"):
        jl.run(KEY, sampler, jnp.zeros((4, 3)), 10)


def test_score_of_the_wrong_shape():
    sampler = jl.ula(score_fn=lambda x: jnp.zeros(5), step_size=0.1)
    with pytest.raises(ValueError, match="score_fn"):
        sampler.init(jnp.zeros(3))


def test_non_finite_initial_logdensity():
    target = jl.targets.quartic()
    sampler = jl.mala(target.logdensity, step_size=0.1)
    with pytest.raises(ValueError, match="initial position"):
        jl.run(KEY, sampler, jnp.asarray([[0.0], [3.0]]), 10)
    with pytest.raises(ValueError, match="initial `position`"):
        mala.init(jnp.asarray([3.0]), target.logdensity)


def test_initial_position_outside_bounds():
    sampler = jl.ula(LOGP, step_size=0.1, bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="outside `bounds`"):
        jl.run(KEY, sampler, jnp.asarray([[0.5], [0.7], [1.5]]), 10)


def test_positions_without_a_common_chain_axis():
    sampler = jl.ula(lambda p: -jnp.sum(p["a"] ** 2) - jnp.sum(p["b"] ** 2), step_size=0.1)
    with pytest.raises(ValueError, match="leading chain axis"):
        jl.run(KEY, sampler, {"a": jnp.zeros((4, 2)), "b": jnp.zeros((3, 2))}, 10)
    with pytest.raises(ValueError, match="leading chain axis"):
        jl.run(KEY, jl.ula(LOGP, step_size=0.1), jnp.asarray(1.0), 10)


def test_integer_positions():
    with pytest.raises(TypeError, match="floating-point"):
        ula.init(jnp.zeros(3, jnp.int32), LOGP)


def test_step_size_pytree_of_the_wrong_structure():
    sampler = jl.ula(LOGP, step_size={"a": 0.1, "b": 0.2})
    with pytest.raises(ValueError, match="step_size"):
        jl.run(KEY, sampler, jnp.zeros((2, 3)), 10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_steps": -1}, "num_steps"),
        ({"num_steps": 10, "thin": 3}, "multiple of `thin`"),
        ({"num_steps": 10, "thin": 0}, "thin"),
        ({"num_steps": 10, "burnin": -5}, "burnin"),
        ({"num_steps": 10.5}, "num_steps"),
        ({"num_steps": 10, "store": "everything"}, "store"),
        ({"num_steps": 10, "chunk_size": 0}, "chunk_size"),
    ],
)
def test_run_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jl.run(KEY, jl.ula(LOGP, step_size=0.1), jnp.zeros((2, 1)), **kwargs)


def test_bad_key_and_sampler():
    with pytest.raises(TypeError, match="key"):
        jl.run(0, jl.ula(LOGP, step_size=0.1), jnp.zeros((2, 1)), 10)
    with pytest.raises(TypeError, match="sampler"):
        jl.run(KEY, ula, jnp.zeros((2, 1)), 10)


def test_missing_density_functions():
    with pytest.raises(ValueError, match="logdensity_fn"):
        jl.ula(step_size=0.1)
    with pytest.raises(TypeError, match="logdensity_fn"):
        jl.mala(None, step_size=0.1)
    with pytest.raises(TypeError, match="logdensity_fn"):
        jl.ula("not a function", step_size=0.1)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, jlangevin; heavy = [m for m in ('matplotlib', 'arviz', 'scipy', 'tqdm') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", out.stdout
