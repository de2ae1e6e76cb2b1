"""How the package's docstrings become API pages.

- Bars: docstrings write norms as ``|x|`` in prose, which reStructuredText reads as a substitution;
  they are escaped, except in mathematics (``.. math::`` blocks and ``:math:`` roles, where ``\\|``
  is TeX's norm), in inline literals and in grid tables.
- Module constants (a float, a tuple) are described by their own comment (``#:`` before them or a
  string after them) in the module that defines them, where autodoc would show the docstring of
  their type ("Convert a string or number to a floating point number").
- Class members without a docstring of their own are left out: the class's docstring describes
  its fields, and an entry with a name and nothing else tells the reader nothing.

Use: add ``"api_docstrings"`` to ``extensions`` (with ``docs/_ext`` on ``sys.path``).
"""
from __future__ import annotations

import functools
import inspect
import re
import sys

# spans where a bar is literal: a :math: role (TeX's norm is \|) and an inline literal
LITERAL_SPAN = re.compile(r":math:`[^`]*`|``[^`]+``")

# constants whose defining module has no comment for them (the module is not the documentation's)
CONSTANT_DOCS = {
    "SCHEMES": "The parameterisation schemes ``abc_exponents`` and ``abc_network`` accept.",
    "ACTIVATIONS": "The activations ``abc_network`` accepts.",
}


def _protected_lines(lines: list[str]) -> set[int]:
    """Indices of the lines of ``.. math::`` blocks and of grid tables (which start with | or +)."""
    protected, block_indent = set(), None  # indentation of the current math directive, or None
    for k, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and line.strip() and indent <= block_indent:
            block_indent = None
        if block_indent is not None or line.lstrip().startswith((".. math::", "|", "+")):
            protected.add(k)
            if line.lstrip().startswith(".. math::"):
                block_indent = indent
    return protected


def escape_bars(app, what, name, obj, options, lines) -> None:
    protected = _protected_lines(lines)
    text = "\n".join(line if k in protected else line.replace("|", "\0") for k, line in enumerate(lines))
    # inside a span (which may run over lines) a bar stays a bar; elsewhere it is escaped
    text = LITERAL_SPAN.sub(lambda role: role.group(0).replace("\0", "|"), text)
    lines[:] = text.replace("\0", r"\|").split("\n")


def _constant_doc(obj, short: str) -> list[str] | None:
    from sphinx.pycode import ModuleAnalyzer

    for module_name, module in sorted(sys.modules.items()):
        if module_name.split(".")[0] != "intrinsic_flow" or getattr(module, short, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # a compiled module has no source to read
            continue
        if ("", short) in docs:
            return list(docs[("", short)])
    if short in CONSTANT_DOCS:
        return [CONSTANT_DOCS[short], ""]
    return None


def constant_docstrings(app, what, name, obj, options, lines) -> None:
    if what == "data" and type(obj).__module__ == "builtins":
        doc = _constant_doc(obj, name.rsplit(".", 1)[-1])
        if doc is None:
            raise RuntimeError(f"{name} has no comment: write '#: ...' above it in its module")
        lines[:] = doc


def _own_doc(name: str, obj) -> str | None:
    """The prose of a method's or property's own docstring; None for data attributes."""
    if isinstance(obj, (property, functools.cached_property)):
        return obj.__doc__ or ""
    if inspect.isroutine(obj) or isinstance(obj, (classmethod, staticmethod)):
        doc = getattr(obj, "__func__", obj).__doc__ or ""  # its own: autodoc inherits no docstring here
        if not inspect.isfunction(inspect.unwrap(getattr(obj, "__func__", obj))):
            # a compiled method's docstring starts with its signature(s)
            doc = "\n".join(line for line in doc.splitlines() if not re.match(rf"\s*(\d+\. )?{name}\(", line))
        return doc
    return None


def skip_undocumented(app, what, name, obj, skip, options):
    if what not in ("class", "exception") or skip:
        return None
    doc = _own_doc(name, obj)
    return True if doc is None or not doc.strip() else None


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars, priority=400)
    app.connect("autodoc-process-docstring", constant_docstrings, priority=300)
    app.connect("autodoc-skip-member", skip_undocumented)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
