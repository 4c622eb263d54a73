"""The driver's bad-input table: every argument of ``jl.run`` (and ``jl.gather``,
``chain_keys_for``) refused while concrete, with the argument named."""

import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from bad_inputs import Case, case_id, check

import jlangevin as jl
from jlangevin.kernels import ula
from jlangevin.run import Trace, chain_keys_for

LOGP = lambda x: -0.5 * jnp.sum(x**2)  # noqa: E731
DICT_LOGP = lambda p: -jnp.sum(p["a"] ** 2) - jnp.sum(p["b"] ** 2)  # noqa: E731
KEY = jax.random.key(0)
X0 = jnp.zeros((2, 1))


def _run(*args, sampler=None, positions=None, num_steps=4, **kwargs):
    """``jl.run`` with good defaults; a row changes one thing."""
    key = args[0] if args else KEY
    sampler = jl.ula(LOGP, step_size=0.1) if sampler is None else sampler
    positions = X0 if positions is None else positions
    return jl.run(key, sampler, positions, num_steps, **kwargs)


def _mala_state():
    return jax.vmap(jl.mala(LOGP, step_size=0.5).init)(X0)


def _in_a_folder_with_a_file(make_dir):
    """Call ``jl.run`` with ``checkpoint_dir=make_dir(a_file)`` inside a fresh temp folder."""
    with tempfile.TemporaryDirectory() as folder:
        blocker = Path(folder) / "a-file"
        blocker.write_text("")
        return _run(checkpoint_dir=make_dir(blocker), checkpoint_every=2)


def _traced_num_steps():
    return jax.jit(lambda n: _run(num_steps=n).positions)(8)


CPU = jax.devices()[0]

CASES = [
    # key
    Case("key an int", lambda: _run(0), TypeError, "key"),
    Case("key None", lambda: _run(None), TypeError, "key"),
    Case("key float array", lambda: _run(jnp.zeros(2)), TypeError, "key"),
    Case("key uint32 of shape (3,)", lambda: _run(jnp.zeros(3, jnp.uint32)), TypeError, "key"),
    Case("key array of keys", lambda: _run(jax.random.split(KEY, 2)), ValueError, "key"),
    # sampler
    Case("sampler a module", lambda: _run(sampler=ula), TypeError, "sampler"),
    Case("sampler a log density", lambda: _run(sampler=LOGP), TypeError, "sampler"),
    Case(
        "sampler init not callable",
        lambda: _run(sampler=jl.Sampler(init=1.0, step=lambda k, s: (s, {}))),
        TypeError,
        "sampler",
    ),
    # positions
    Case("positions None", lambda: jl.run(KEY, jl.ula(LOGP, 0.1), None, 4), TypeError, "positions"),
    Case("positions a string", lambda: _run(positions="x0"), TypeError, "positions"),
    Case("positions a scalar", lambda: _run(positions=jnp.asarray(1.0)), ValueError, "positions"),
    Case("positions no chains", lambda: _run(positions=jnp.zeros((0, 2))), ValueError, "positions"),
    Case(
        "positions leaves of unequal chains",
        lambda: _run(
            sampler=jl.ula(DICT_LOGP, 0.1),
            positions={"a": jnp.zeros((4, 2)), "b": jnp.zeros((3, 2))},
        ),
        ValueError,
        "positions",
    ),
    Case(
        "positions ragged list",
        lambda: _run(positions=[[0.0], [1.0, 2.0]]),
        ValueError,
        "positions",
    ),
    Case(
        "positions int32",
        lambda: _run(positions=jnp.zeros((2, 1), jnp.int32)),
        TypeError,
        "positions",
    ),
    Case("positions int list", lambda: _run(positions=[[0], [1]]), TypeError, "positions"),
    Case("positions bool", lambda: _run(positions=jnp.zeros((2, 1), bool)), TypeError, "positions"),
    Case(
        "positions complex",
        lambda: _run(positions=jnp.zeros((2, 1), jnp.complex64)),
        TypeError,
        "positions",
    ),
    Case(
        "positions a string leaf",
        lambda: _run(sampler=jl.ula(DICT_LOGP, 0.1), positions={"a": jnp.zeros((2, 1)), "b": "x"}),
        TypeError,
        "positions",
    ),
    Case(
        "positions NaN",
        lambda: _run(positions=jnp.asarray([[0.0], [jnp.nan]])),
        ValueError,
        "positions",
    ),
    Case(
        "positions inf in a dict leaf",
        lambda: _run(
            sampler=jl.ula(DICT_LOGP, 0.1),
            positions={"a": jnp.zeros((2, 1)), "b": jnp.asarray([[jnp.inf], [0.0]])},
        ),
        ValueError,
        "positions",
    ),
    Case(
        "positions a MALA state given to SGLD",
        lambda: _run(sampler=jl.sgld(LOGP, step_size=0.1), positions=_mala_state()),
        ValueError,
        "positions",
    ),
    Case(
        "positions a MALA state of another event shape",
        lambda: _run(
            sampler=jl.mala(LOGP, step_size=0.5),
            positions=_mala_state()._replace(score=jnp.zeros((2, 3))),
        ),
        ValueError,
        "positions",
    ),
    Case(
        "positions a state with one count for all chains",
        lambda: _run(sampler=jl.mala(LOGP, 0.5), positions=_mala_state()._replace(count=0)),
        ValueError,
        "positions",
    ),
    Case(
        "positions a state with float counts",
        lambda: _run(
            sampler=jl.mala(LOGP, 0.5), positions=_mala_state()._replace(count=jnp.zeros(2))
        ),
        ValueError,
        "positions",
    ),
    Case(
        "positions a Trace without step counts",
        lambda: _run(positions=Trace(None, None, jl.Sampler(None, None), jnp.zeros(2, jnp.int32))),
        ValueError,
        "positions",
    ),
    # num_steps, burnin, thin
    Case("num_steps negative", lambda: _run(num_steps=-1), ValueError, "num_steps"),
    Case("num_steps 8.0", lambda: _run(num_steps=8.0), ValueError, "num_steps"),
    Case("num_steps True", lambda: _run(num_steps=True), ValueError, "num_steps"),
    Case("num_steps a string", lambda: _run(num_steps="8"), TypeError, "num_steps"),
    Case("num_steps None", lambda: _run(num_steps=None), TypeError, "num_steps"),
    Case("num_steps np.float32", lambda: _run(num_steps=np.float32(8)), ValueError, "num_steps"),
    Case("num_steps JAX float", lambda: _run(num_steps=jnp.float32(8)), ValueError, "num_steps"),
    Case("num_steps an array", lambda: _run(num_steps=jnp.asarray([8])), ValueError, "num_steps"),
    Case("num_steps traced", _traced_num_steps, TypeError, "num_steps"),
    Case("num_steps overflows int32", lambda: _run(num_steps=2**31), ValueError, "num_steps"),
    Case("burnin negative", lambda: _run(burnin=-5), ValueError, "burnin"),
    Case("burnin 2.5", lambda: _run(burnin=2.5), ValueError, "burnin"),
    Case("burnin np.bool_", lambda: _run(burnin=np.bool_(True)), ValueError, "burnin"),
    Case("thin 0", lambda: _run(thin=0), ValueError, "thin"),
    Case("thin False", lambda: _run(thin=False), ValueError, "thin"),
    Case("thin not dividing num_steps", lambda: _run(num_steps=10, thin=3), ValueError, "thin"),
    # store
    Case("store unknown", lambda: _run(store="everything"), ValueError, "store"),
    Case("store a number", lambda: _run(store=3), TypeError, "store"),
    Case("store function of one argument", lambda: _run(store=lambda s: s), TypeError, "store"),
    Case("store function returning text", lambda: _run(store=lambda s, i: "x"), TypeError, "store"),
    # chunk_size, progress
    Case("chunk_size 0", lambda: _run(chunk_size=0), ValueError, "chunk_size"),
    Case("chunk_size 2.5", lambda: _run(chunk_size=2.5), ValueError, "chunk_size"),
    Case("chunk_size a string", lambda: _run(chunk_size="10"), TypeError, "chunk_size"),
    Case("progress a string", lambda: _run(progress="yes"), TypeError, "progress"),
    Case("progress 1", lambda: _run(progress=1), TypeError, "progress"),
    # devices
    Case("devices names", lambda: _run(devices=["cpu"]), TypeError, "devices"),
    Case("devices a string", lambda: _run(devices="cpu"), TypeError, "devices"),
    Case("devices empty", lambda: _run(devices=[]), TypeError, "devices"),
    Case("devices a number", lambda: _run(devices=3), TypeError, "devices"),
    Case("devices repeated", lambda: _run(devices=[CPU, CPU]), ValueError, "devices"),
    # checkpoints
    Case(
        "checkpoint_every without checkpoint_dir",
        lambda: _run(checkpoint_every=2),
        ValueError,
        "checkpoint_dir",
    ),
    Case(
        "checkpoint_dir without checkpoint_every",
        lambda: _run(checkpoint_dir=tempfile.gettempdir()),
        ValueError,
        "checkpoint_every",
    ),
    Case(
        "checkpoint_every 0",
        lambda: _run(checkpoint_dir=tempfile.gettempdir(), checkpoint_every=0),
        ValueError,
        "checkpoint_every",
    ),
    Case(
        "checkpoint_every 2.0",
        lambda: _run(checkpoint_dir=tempfile.gettempdir(), checkpoint_every=2.0),
        ValueError,
        "checkpoint_every",
    ),
    Case(
        "checkpoint_every True",
        lambda: _run(checkpoint_dir=tempfile.gettempdir(), checkpoint_every=True),
        ValueError,
        "checkpoint_every",
    ),
    Case(
        "checkpoint_dir a number",
        lambda: _run(checkpoint_dir=3, checkpoint_every=2),
        TypeError,
        "checkpoint_dir",
    ),
    Case(
        "checkpoint_dir empty",
        lambda: _run(checkpoint_dir="", checkpoint_every=2),
        TypeError,
        "checkpoint_dir",
    ),
    Case(
        "checkpoint_dir a file",
        lambda: _in_a_folder_with_a_file(lambda f: f),
        ValueError,
        "checkpoint_dir",
    ),
    Case(
        "checkpoint_dir below a file",
        lambda: _in_a_folder_with_a_file(lambda f: str(f / "sub")),
        ValueError,
        "checkpoint_dir",
    ),
    # gather, chain_keys_for
    Case("gather a function", lambda: jl.gather({"f": LOGP}), TypeError, "tree"),
    Case("gather text", lambda: jl.gather(["positions"]), TypeError, "tree"),
    Case("chain_keys_for 0 chains", lambda: chain_keys_for(KEY, 0), ValueError, "num_chains"),
    Case("chain_keys_for 2.0 chains", lambda: chain_keys_for(KEY, 2.0), ValueError, "num_chains"),
    Case("chain_keys_for an int key", lambda: chain_keys_for(0, 2), TypeError, "key"),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_bad_input(case):
    check(case)


def test_the_table_has_distinct_rows():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 35
