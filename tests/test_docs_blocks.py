"""Every Python block of README.md and docs/ runs as it stands.

The convention the pages follow (and state where it matters):

- the ```python blocks of one page run in order in one namespace, as in one Python
  session: a block may use what the blocks above it on the same page defined;
- a block that cannot run here says so just above it, visibly, with
  ``<!-- no-run: reason -->`` (a sketch for software the suite does not install,
  a script that runs once per host); a reason is required.

Each page is one test, run in a fresh temporary folder (the blocks write files),
with matplotlib off-screen. The blocks are found anew on every run: nothing here
lists them.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
NO_RUN = re.compile(r"<!--\s*no-run:((?:(?!-->).)*)-->\s*\Z", re.S)
PYTHON = {"python", "py"}


def python_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """``(line, code, no_run_reason)`` of every top-level ```python block of a page."""
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1).lower() not in PYTHON:
            continue
        line = text.count("\n", 0, match.start()) + 1
        marker = NO_RUN.search(text[: match.start()])
        reason = marker.group(1).strip() if marker else None
        blocks.append((line, match.group(2), reason))
    return blocks


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def run_page(page: Path, text: str | None = None) -> list[tuple[int, float]]:
    """Run the page's blocks in order in one namespace; ``(line, seconds)`` per block."""
    text = page.read_text() if text is None else text
    namespace: dict = {"__name__": "__main__"}
    timings = []
    for line, code, reason in python_blocks(text):
        if reason is not None:
            continue
        start = time.perf_counter()
        try:
            exec(compile(code, f"{_page_id(page)}:{line}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(
                f"the block at {_page_id(page)}:{line} failed: {type(err).__name__}: {err}"
            ) from err
        timings.append((line, time.perf_counter() - start))
    return timings


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page.read_text())]


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A fresh working folder and an off-screen matplotlib; figures closed after.
    (No ``monkeypatch.setenv``: a patched item would empty the compiled-loop caches.)"""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.mark.long
@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=_page_id)
def test_page_blocks_run(page, sandbox, capsys):
    pytest.importorskip("numpyro")  # pages use the NumPyro bridge (the dev extra has it)
    timings = run_page(page)
    with capsys.disabled():
        slowest = max(timings, key=lambda t: t[1], default=(0, 0.0))
        print(
            f"\n{_page_id(page)}: {len(timings)} blocks, slowest line {slowest[0]} "
            f"({slowest[1]:.1f} s)",
            end="",
        )


def test_blocks_are_found():
    """The pages hold code and the parser finds it: a page the glob missed, or a fence
    style the pattern missed, would otherwise pass unnoticed."""
    ids = {_page_id(page) for page in PAGES_WITH_CODE}
    assert {"README.md", "docs/getting-started.md", "docs/guide.md"} <= ids
    total = sum(len(python_blocks(page.read_text())) for page in PAGES)
    # Any python fence, indented ones too (a block in a list item would be missed).
    fences = sum(len(re.findall(r"```(?:python|py)\b", page.read_text())) for page in PAGES)
    assert total == fences, (total, fences)


def test_no_run_markers_are_rare_and_say_why():
    skipped = [
        (_page_id(page), line, reason)
        for page in PAGES
        for line, _, reason in python_blocks(page.read_text())
        if reason is not None
    ]
    assert all(reason for _, _, reason in skipped), skipped
    # A marker that is not right above a block would silently mark nothing.
    markers = sum(len(re.findall(r"<!--\s*no-run", page.read_text())) for page in PAGES)
    assert markers == len(skipped), "a no-run marker that is not right above a python block"
    total = sum(len(python_blocks(page.read_text())) for page in PAGES)
    assert len(skipped) <= total // 5, f"too many blocks that do not run: {skipped}"


def test_a_failing_block_fails_its_page(tmp_path):
    """Companion: a block that raises fails the page, naming the page and line; a
    marked block is skipped; the blocks of one page share their names."""
    page = tmp_path / "page.md"
    good = "```python\nx = 1\n```\n\n<!-- no-run: a sketch -->\n```python\nraise SystemError\n```\n"
    page.write_text(good + "\n```python\nassert x == 1\n```\n")
    assert [line for line, _ in run_page(page)] == [1, 10]
    # Each marker belongs to the block right under it, and its reason ends at its `-->`.
    two = "<!-- no-run: one -->\n```python\n1\n```\n<!-- no-run: two -->\n```python\n2\n```\n"
    assert [reason for *_, reason in python_blocks(two + "```python\n3\n```\n")] == [
        "one",
        "two",
        None,
    ]
    page.write_text(good + "\n```python\nundefined_name\n```\n")
    with pytest.raises(AssertionError, match=r"page\.md:10 failed: NameError"):
        run_page(page)
