"""to_arviz: shapes, names, dims and sample stats survive the trip (ArviZ 0.x and 1.x)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jlangevin as jl
from jlangevin.diagnostics.arviz_io import ARVIZ_1, group_dataset


@pytest.fixture(scope="module")
def mala_trace():
    target = jl.targets.gaussian([0.0, 1.0], scale=[1.0, 0.5])
    sampler = jl.mala(target.logdensity, step_size=0.3)
    return jl.run(jax.random.key(0), sampler, jnp.zeros((3, 2)), 40)


def test_object_type_matches_arviz_version(mala_trace):
    idata = jl.to_arviz(mala_trace)
    expected = "DataTree" if ARVIZ_1 else "InferenceData"
    assert type(idata).__name__ == expected


def test_posterior_shapes_names_and_values(mala_trace):
    posterior = group_dataset(jl.to_arviz(mala_trace), "posterior")
    assert list(posterior.data_vars) == ["x"]
    assert posterior["x"].dims == ("chain", "draw", "x_dim_0")
    np.testing.assert_array_equal(posterior["x"].values, np.asarray(mala_trace.positions))


def test_sample_stats_carry_the_kernel_report(mala_trace):
    stats = group_dataset(jl.to_arviz(mala_trace), "sample_stats")
    assert set(stats.data_vars) == {
        "acceptance_rate",
        "is_accepted",
        "diverging",
        "step_size",
        "lp",
    }
    info = mala_trace.info
    for name, field in [
        ("acceptance_rate", "acceptance_rate"),
        ("diverging", "diverged"),
        ("lp", "logdensity"),
        ("is_accepted", "is_accepted"),
    ]:
        assert stats[name].dims == ("chain", "draw")
        np.testing.assert_array_equal(stats[name].values, np.asarray(getattr(info, field)))


def test_score_only_ula_has_no_log_density():
    sampler = jl.ula(score_fn=lambda x: -x, step_size=0.1)
    trace = jl.run(jax.random.key(1), sampler, jnp.zeros((2, 1)), 10)
    stats = group_dataset(jl.to_arviz(trace), "sample_stats")
    assert "lp" not in stats and "diverging" in stats and "step_size" in stats


def test_pytree_names_dims_and_coords():
    positions = {"a": np.zeros((2, 5)), "b": np.ones((2, 5, 2, 3))}
    idata = jl.to_arviz(positions, dims={"b": ["row", "col"]}, coords={"col": ["u", "v", "w"]})
    posterior = group_dataset(idata, "posterior")
    assert posterior["a"].dims == ("chain", "draw")
    assert posterior["b"].dims == ("chain", "draw", "row", "col")
    assert list(posterior["col"].values) == ["u", "v", "w"]
    renamed = group_dataset(jl.to_arviz(positions, names=["alpha", "beta"]), "posterior")
    assert list(renamed.data_vars) == ["alpha", "beta"]
    assert "sample_stats" not in list(getattr(idata, "children", None) or idata.groups())


def test_tuple_positions_get_indexed_names():
    posterior = group_dataset(jl.to_arviz((np.zeros((2, 4)), np.zeros((2, 4, 2)))), "posterior")
    assert list(posterior.data_vars) == ["x_0", "x_1"]


def test_plain_array_coordinates_are_a_labelled_dimension(mala_trace):
    posterior = group_dataset(jl.to_arviz(mala_trace), "posterior")
    assert list(posterior["x_dim_0"].values) == [0, 1]  # ArviZ labels them x[0], x[1]
    labelled = jl.to_arviz(mala_trace, coords={"x_dim_0": ["mu", "log_sigma"]})
    assert list(group_dataset(labelled, "posterior")["x_dim_0"].values) == ["mu", "log_sigma"]


def test_names_one_per_coordinate_of_a_plain_array(mala_trace):
    idata = jl.to_arviz(mala_trace, names=["mu", "log_sigma"])
    posterior = group_dataset(idata, "posterior")
    assert list(posterior.data_vars) == ["mu", "log_sigma"]  # the order given, not sorted
    positions = np.asarray(mala_trace.positions)
    for i, name in enumerate(["mu", "log_sigma"]):
        assert posterior[name].dims == ("chain", "draw")
        np.testing.assert_array_equal(posterior[name].values, positions[..., i])
    assert "diverging" in group_dataset(idata, "sample_stats")  # the run's report stays
    reversed_names = group_dataset(jl.to_arviz(mala_trace, names=["b", "a"]), "posterior")
    assert list(reversed_names.data_vars) == ["b", "a"]
    np.testing.assert_array_equal(reversed_names["a"].values, positions[..., 1])
    # one name still names the one variable
    assert list(group_dataset(jl.to_arviz(mala_trace, names="z"), "posterior").data_vars) == ["z"]


def test_names_label_a_pair_plot(mala_trace):
    """The pair plot's axes say the names, not ``x`` over a coordinate index (``"x\\n1"``)."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jlangevin.diagnostics.arviz_io import figure_of

    if ARVIZ_1:
        pytest.skip("ArviZ >= 1.0 draws pair plots with another API")

    def axis_labels(idata):
        figure = figure_of(az.plot_pair(idata))
        labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in figure.axes]
        plt.close(figure)
        return labels

    assert axis_labels(jl.to_arviz(mala_trace, names=["mu", "log_sigma"])) == [("mu", "log_sigma")]
    assert axis_labels(jl.to_arviz(mala_trace)) == [("x\n0", "x\n1")]  # ArviZ's var + label


def test_bad_input_names_the_argument(mala_trace):
    with pytest.raises(ValueError, match=r"`names` must give one string per leaf .* coordinate"):
        jl.to_arviz(mala_trace, names=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`coords` names dimensions .* \['axis'\]"):
        jl.to_arviz(mala_trace, coords={"axis": ["a", "b"]})
    with pytest.raises(ValueError, match="coords"):
        jl.to_arviz(mala_trace, dims={"x": ["axis"]}, coords={"axis": [1, 2, 3]})
    with pytest.raises(ValueError, match="`dims"):
        jl.to_arviz(mala_trace, dims={"x": ["a", "b"]})
    with pytest.raises(ValueError, match="same \\(chains, draws\\)"):
        jl.to_arviz({"a": np.zeros((2, 5)), "b": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="x\\[None\\]"):
        jl.to_arviz(np.zeros(5))
    no_draws = mala_trace._replace(positions=None, info=None)
    with pytest.raises(ValueError, match="store='draws'"):
        jl.to_arviz(no_draws)
