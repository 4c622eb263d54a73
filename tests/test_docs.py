"""The documentation site's structure, checked cheaply (the full build is ``make docs``).

- every page in mkdocs.yml's nav exists;
- every ``::: path`` of the API pages names an object of the package, found as the
  build finds it (griffe, statically: nothing heavy is imported);
- every public name of ``jlangevin`` (``__all__``) is documented by one of them;
- every image a page links exists (tools/gallery-page keeps the gallery's so);
- the griffe extension reads the package's docstring style as meant.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("mkdocs")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def _config() -> dict:
    # mkdocs.yml may hold `!!python/name:` tags; a loader that ignores unknown tags is enough.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    return []


def _directives() -> list[tuple[str, str]]:
    return [
        (page.name, path)
        for page in sorted((DOCS / "api").glob("*.md"))
        for path in DIRECTIVE.findall(page.read_text())
    ]


@functools.cache
def _package() -> Any:
    """jlangevin as griffe (and so mkdocstrings) reads it: statically, importing nothing."""
    griffe = pytest.importorskip("griffe")
    logging.getLogger("griffe").setLevel(logging.ERROR)
    return griffe.load("jlangevin", search_paths=[str(ROOT)])


def _resolve(path: str) -> Any:
    """The object a ``::: path`` renders (aliases followed). A submodule wins over a
    same-named attribute of its package (``jlangevin.run`` is the module), as in the build."""
    package = _package()
    obj = package if path == package.name else package[path.removeprefix(package.name + ".")]
    return obj.final_target if obj.is_alias else obj


def _rendered(obj: Any) -> set[str]:
    """Paths of what ``::: obj`` renders: itself and, for a module, its public members."""
    paths = {obj.path}
    if obj.is_module:
        names = obj.exports if obj.exports is not None else list(obj.members)
        for name in names:
            member = obj.members.get(str(name))
            if member is None or member.name.startswith("_"):
                continue
            try:
                paths.add(member.final_target.path if member.is_alias else member.path)
            except Exception:  # an alias to another library: not ours to document
                continue
    return paths


def _canonical(name: str) -> str:
    """Where ``jlangevin.<name>`` is defined, without importing the lazy names' modules."""
    import jlangevin

    if name in jlangevin._LAZY:
        module, attr = jlangevin._LAZY[name]
        if attr is None:
            return module
        # `from .summary import summary`: follow the import, not the same-named submodule.
        imported = _resolve(module).imports.get(attr)
        return _resolve(imported).path if imported else _resolve(f"{module}.{attr}").path
    value = getattr(jlangevin, name)
    if isinstance(value, ModuleType):
        return value.__name__
    return f"{value.__module__}.{value.__qualname__}"


def _documented_paths(skip: str = "") -> set[str]:
    return {p for _, path in _directives() if path != skip for p in _rendered(_resolve(path))}


def test_nav_pages_exist():
    pages = _nav_pages(_config()["nav"])
    assert len(pages) >= 20
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav that do not exist: {missing}"


def test_api_directives_resolve():
    directives = _directives()
    assert len(directives) >= 15
    failed = []
    for page, path in directives:
        try:
            _resolve(path)
        except Exception as err:
            failed.append(f"{page}: ::: {path} ({err!r})")
    assert not failed, "\n".join(failed)


def test_every_public_name_is_documented():
    import jlangevin

    documented = _documented_paths()
    undocumented = [name for name in jlangevin.__all__ if _canonical(name) not in documented]
    assert not undocumented, f"jlangevin names without an API entry: {undocumented}"


@pytest.mark.parametrize(
    "module",
    [
        "kernels",
        "kernels.ula",
        "kernels.mala",
        "kernels.sgld",
        "kernels.annealed",
        "gradients",
        "schedules",
        "adaptation",
        "targets",
        "diagnostics",
        "models",
        "plot",
        "sample",
        "run",
        "checkpoint",
        "types",
    ],
)
def test_public_module_has_a_page(module):
    documented = {path for _, path in _directives()}
    assert f"jlangevin.{module}" in documented


def test_the_coverage_check_sees_a_shadowed_function():
    """Companion: ``::: jlangevin.diagnostics`` renders the ``summary`` submodule, not the
    function; without the page's own ``::: ...summary.summary`` it is not documented."""
    summary, check = _canonical("summary"), _canonical("check")
    assert summary in _documented_paths()
    without = _documented_paths(skip="jlangevin.diagnostics.summary.summary")
    assert summary not in without
    assert check in without


def test_linked_images_exist():
    missing = []
    for page in DOCS.rglob("*.md"):
        for link in IMAGE.findall(page.read_text()):
            if "://" not in link and not (page.parent / link).is_file():
                missing.append(f"{page.relative_to(DOCS)}: {link}")
    assert not missing, "\n".join(missing)


def _extension():
    pytest.importorskip("griffe")
    sys.path.insert(0, str(DOCS / "api"))
    try:
        return importlib.import_module("_griffe_docstrings")
    finally:
        sys.path.remove(str(DOCS / "api"))


def test_griffe_extension_reads_the_repo_style():
    ext = _extension()
    doc = [
        "Parameters",
        "----------",
        "key : a fresh key.",
        "low, high : the box, as in :func:`x`.",
        "    more words.",
        "n : int",
        "    a count.",
        "",
        "Closing prose, not an item.",
        "",
        "Returns",
        "-------",
        "A function; more.",
    ]
    assert ext.fix_sections(doc) == [
        "Parameters",
        "----------",
        "key",
        "    a fresh key.",
        "low",
        "    the box, as in :func:`x`.",
        "    more words.",
        "high",
        "    the box, as in :func:`x`.",
        "    more words.",
        "n : int",
        "    a count.",
        "",
        "Notes",
        "-----",
        "Closing prose, not an item.",
        "",
        "Returns",
        "-------",
        ":",
        "    A function; more.",
    ]
    assert ext._is_type("float, optional") and ext._is_type("jax.Array | None")
    assert not ext._is_type("a fresh key.")
