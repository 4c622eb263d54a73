"""A griffe extension that reads jlangevin's docstrings as they are written.

The package's numpydoc sections list items as ``name : what it is`` (a
description where numpydoc puts a type), may close an items section with a
paragraph of prose, and cross-reference with Sphinx roles (:func:`run`). Read
literally, griffe would show the description as a type, parse the prose as more
items, and print the roles as text. This extension rewrites each docstring's
text once, after the package is loaded and before any docstring is parsed:

- ``name : text`` where ``text`` is not a type becomes ``name`` with ``text`` as
  the first line of its description (real types, ``int``, ``jax.Array``,
  ``float, optional``, ``Trace``, are left alone);
- ``a, b : text`` becomes one item per name (griffe would give both the
  first one's type);
- a return value described in words (no name, no type) keeps its words;
- prose after the items of a section becomes a ``Notes`` section;
- ``:role:`target``` becomes a link to ``target`` when it is documented on the
  site (an optional cross-reference: never a warning), else inline code;
- ``text::`` before a literal block becomes ``text:`` (the block stays code).

It is loaded by mkdocs.yml (mkdocstrings ``extensions``) and never shipped.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ITEM_SECTIONS = {
    "parameters",
    "params",
    "arguments",
    "args",
    "other parameters",
    "attributes",
    "returns",
    "yields",
    "receives",
    "raises",
    "warns",
}
RETURN_SECTIONS = {"returns", "yields", "receives"}

_NAMES = r"\*{0,2}[A-Za-z_]\w*(?:,\s*\*{0,2}[A-Za-z_]\w*)*"
_ITEM = re.compile(rf"^(?P<names>{_NAMES})\s+:\s+(?P<rest>.*)$")
_BARE = re.compile(rf"^{_NAMES}$")
_TYPE_WORDS = re.compile(r",\s*optional$|\s+or\s+|\s*\|\s*|,\s+")
_TYPE = re.compile(r"^[\w.\[\]*]+$")
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|obj|exc|const):`(~?)([^`<>]+)`")


def _is_dash_line(line: str) -> bool:
    return bool(line.strip()) and set(line.strip()) == {"-"}


def _is_type(text: str) -> bool:
    """``int``, ``jax.Array``, ``float, optional``, ``int or None``: a type, not words."""
    return bool(_TYPE.match(_TYPE_WORDS.sub("", text.strip())))


def _item_end(lines: list[str], start: int) -> int:
    """The index after an item's continuation lines (indented or blank) from ``start``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" ")):
        end += 1
    return end


def fix_sections(lines: list[str]) -> list[str]:
    """Rewrite the items sections of a dedented docstring (see the module docstring)."""
    out: list[str] = []
    section: str | None = None
    first_item = False
    fenced = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        header = (
            not fenced
            and line.strip()
            and not line.startswith(" ")
            and i + 1 < len(lines)
            and _is_dash_line(lines[i + 1])
        )
        if header:
            section = line.strip().lower()
            section = section if section in ITEM_SECTIONS else None
            first_item = True
            out += [line, lines[i + 1]]
            i += 2
            continue
        if section is None or fenced or not line.strip() or line.startswith(" "):
            out.append(line)
            i += 1
            continue
        item = _ITEM.match(line)
        if item and section not in RETURN_SECTIONS and "," in item["names"]:
            end = _item_end(lines, i + 1)
            rest = item["rest"]
            body = ["    " + rest] if not _is_type(rest) else []
            body += lines[i + 1 : end]
            while body and not body[-1].strip():
                body.pop()
            for name in re.split(r",\s*", item["names"]):  # one item per name, same words
                out.append(name if not _is_type(rest) else f"{name} : {rest}")
                out += body
            out += [""] * (end > i + 1 and not lines[end - 1].strip())
            first_item = False
            i = end
            continue
        if item and not _is_type(item["rest"]):
            out += [item["names"], "    " + item["rest"]]
        elif item or _BARE.match(line) or _is_type(line):
            out.append(line)
        elif section in RETURN_SECTIONS and first_item:
            out += [":", "    " + line]  # a return value described in words only
        else:  # prose closing the section: a Notes section of its own
            if out and out[-1].strip():
                out.append("")
            out += ["Notes", "-----", line]
            section = None
        first_item = False
        i += 1
    return out


def _literal_colons(lines: list[str]) -> list[str]:
    """``text::`` + blank line + indented block: Markdown needs only ``text:``."""
    out = list(lines)
    for i, line in enumerate(lines[:-2]):
        if line.rstrip().endswith("::") and not lines[i + 1].strip():
            if lines[i + 2].startswith("    "):
                out[i] = line.rstrip()[:-1]
    return out


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """The documented path of ``target`` as written in ``obj``'s docstring, if any."""
    root = obj.package
    candidates = []
    if target.startswith(root.name + "."):
        candidates.append(target[len(root.name) + 1 :])
    scope: Any = obj
    while scope is not None:
        prefix = scope.path[len(root.name) + 1 :] if scope is not root else ""
        candidates.append(f"{prefix}.{target}" if prefix else target)
        scope = scope.parent
    for path in candidates:
        try:
            found = root[path]
            return found.final_target.path if found.is_alias else found.path
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError, ValueError):
            continue
    return None


def _roles(obj: griffe.Object, text: str) -> str:
    def link(match: re.Match) -> str:
        short, target = match[1] == "~", match[2].strip()
        label = target.rsplit(".", 1)[-1] if short else target
        path = _resolve(obj, target.lstrip("."))
        code = f"<code>{label}</code>"
        return f'<autoref identifier="{path}" optional>{code}</autoref>' if path else code

    return _ROLE.sub(link, text)


def rewrite(obj: griffe.Object, text: str) -> str:
    """The docstring ``text`` of ``obj`` in the form griffe and Markdown read as meant."""
    lines = _literal_colons(fix_sections(text.split("\n")))
    return _roles(obj, "\n".join(lines))


class RepoDocstrings(griffe.Extension):
    """Rewrite every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()

        def walk(obj: griffe.Object) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj, obj.docstring.value)
            for member in obj.members.values():
                if not member.is_alias:
                    walk(member)

        walk(pkg)
