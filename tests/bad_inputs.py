"""The shape of every bad-input table in the suite.

Each area of the package keeps its own table, in the test file that mirrors it
(``tests/kernels/test_bad_inputs.py``, ``tests/diagnostics/test_bad_inputs.py``,
...). A row is a :class:`Case`: a call that must fail, the error type it must
raise and the name of the argument (or CLI flag) its message must contain.
``pytest --collect-only -q -k bad_input`` counts the rows of all the tables.

    CASES = [
        Case("ula step_size negative", lambda: jl.ula(LOGP, step_size=-1.0),
             ValueError, "step_size"),
        ...
    ]

    @pytest.mark.parametrize("case", CASES, ids=case_id)
    def test_bad_input(case):
        check(case)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest


class Case(NamedTuple):
    """One bad input: ``call()`` must raise ``error`` with ``names`` in its message."""

    id: str
    call: Callable[[], Any]
    error: type[BaseException]
    names: str


def case_id(case: Case) -> str:
    return case.id


def check(case: Case) -> str:
    """Run ``case.call``; assert the error type and that the message names the argument."""
    with pytest.raises(case.error) as caught:
        case.call()
    message = str(caught.value)
    assert re.search(re.escape(case.names), message), (
        f"{case.id}: the {case.error.__name__} does not name {case.names!r}: {message!r}"
    )
    return message
