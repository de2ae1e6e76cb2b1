"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build``.

The API pages are written at build time from the ``__all__`` lists of the package, so every public
name is documented and a renamed or moved name never leaves a stale page behind.
"""
from __future__ import annotations

import inspect
import os
import pathlib

import intrinsic_flow
import intrinsic_flow.losses
import intrinsic_flow.parsimony
import intrinsic_flow.reference
import intrinsic_flow.torch
import intrinsic_flow.datasets
import intrinsic_flow.parameterizations
import intrinsic_flow.reference.parameterizations
import intrinsic_flow.symmetries

HERE = pathlib.Path(__file__).resolve().parent
os.environ.setdefault("OMP_NUM_THREADS", "2")

project = "intrinsic-flow"
author = "the intrinsic-flow developers"
copyright = "the intrinsic-flow developers"
release = intrinsic_flow.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples"]
myst_enable_extensions = ["dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = "intrinsic-flow"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# The docstrings are prose with shapes and formulas; numpydoc renders its sections where they
# exist and leaves the rest alone.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()
numpydoc_xref_param_type = False
autodoc_default_options = {"members": True, "undoc-members": False, "member-order": "bysource",
                           "inherited-members": "object,BaseException,Exception,list,tuple,dict"}
autodoc_typehints = "none"
autodoc_inherit_docstrings = False

sphinx_gallery_conf = {
    "examples_dirs": ["examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "within_subsection_order": "FileNameSortKey",
}
try:  # the PyTorch example runs only where the torch extra (and scikit-learn) is installed
    import sklearn  # noqa: F401
    import torch  # noqa: F401
except ImportError:
    sphinx_gallery_conf["ignore_pattern"] = r"plot_conservation_monitor\.py"


# -- API pages from __all__ ------------------------------------------------------------------------

def _directive(qualified: str, obj) -> str:
    if inspect.isclass(obj):
        return f".. autoclass:: {qualified}\n"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj) and not inspect.ismodule(obj):
        return f".. autofunction:: {qualified}\n"
    return f".. autodata:: {qualified}\n   :annotation:\n"


def _module_page(title: str, module, intro: str, same_as=None) -> str:
    lines = [title, "=" * len(title), "", f".. module:: {module.__name__}", "   :no-index:", "", intro, ""]
    names = list(dict.fromkeys(module.__all__))
    shared = []
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            # a module that is also its main function (intrinsic_flow.scan, intrinsic_flow.criteria):
            # document the function, which the module holds under its own name
            function = getattr(obj, "__function__", None)
            if function is not None and getattr(obj, name, None) is function:
                lines += [_directive(f"{obj.__name__}.{name}", function)]
            continue
        if same_as is not None and getattr(same_as, name, None) is obj:
            shared.append(name)
            continue
        lines += [_directive(f"{module.__name__}.{name}", obj)]
    if shared:
        links = ", ".join(f":obj:`~{same_as.__name__}.{name}`" for name in shared)
        lines += ["Shared with the default backend (the same objects): " + links + ".", ""]
    return "\n".join(lines) + "\n"


def write_api_pages(app=None) -> None:
    out = HERE / "api" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    pages = {
        "intrinsic_flow.rst": _module_page(
            "intrinsic_flow", intrinsic_flow,
            "The default backend: models, geometry of phi, conservation laws, criteria, scans and flows "
            "on the C++ core."),
        "reference.rst": _module_page(
            "intrinsic_flow.reference", intrinsic_flow.reference,
            "The NumPy reference backend: the same names, signatures and results (to 1e-12) in plain "
            "NumPy, without compiled code.", same_as=intrinsic_flow),
        "losses.rst": _module_page(
            "intrinsic_flow.losses", intrinsic_flow.losses,
            "Losses f(z) whose gradient flows run in the core; any Python callable "
            "``f(z) -> (value, gradient)`` works as well, more slowly."),
        "parsimony.rst": _module_page(
            "intrinsic_flow.parsimony", intrinsic_flow.parsimony,
            "Deep linear networks and the law of parsimony (Yaras et al., arXiv 2306.01154): training loops "
            "in the core, the invariant subspace, the compressed network, deep matrix completion and "
            "progressive separation. ``intrinsic_flow.reference.parsimony`` has the same API on NumPy."),
        "torch.rst": _module_page(
            "intrinsic_flow.torch", intrinsic_flow.torch,
            "PyTorch models in (the ``torch`` extra): translation to a path-lifting model with shared "
            "parameters, theta back into the module, and the conservation laws along training "
            "(:doc:`/torch`)."),
        "parameterizations.rst": _module_page(
            "intrinsic_flow.parameterizations", intrinsic_flow.parameterizations,
            "abc-parameterised deep networks (IP, IP-LLR, muP, NTK): exponents, coordinate checks and training "
            "on the C++ core; :doc:`/theory/parameterizations` states the mathematics."),
        "reference_parameterizations.rst": _module_page(
            "intrinsic_flow.reference.parameterizations", intrinsic_flow.reference.parameterizations,
            "The same functions on the NumPy network (results equal to 1e-12).",
            same_as=intrinsic_flow.parameterizations),
        "datasets.rst": _module_page(
            "intrinsic_flow.datasets", intrinsic_flow.datasets,
            "Small classification data sets: scikit-learn's digits and a Gaussian mixture."),
        "symmetries.rst": _module_page(
            "intrinsic_flow.symmetries", intrinsic_flow.symmetries,
            "Mean-field two-layer ReLU networks (Hajjar & Chizat, arXiv 2211.08771): particle training, symmetry "
            "diagnostics, the odd-target closed form, alpha and the reduced angle dynamics "
            "(:doc:`/theory/symmetries`). ``intrinsic_flow.reference.symmetries`` has the same API in NumPy."),
    }
    for name, text in pages.items():
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


write_api_pages()


# -- docstrings ------------------------------------------------------------------------------------

def escape_bars(app, what, name, obj, options, lines) -> None:
    """Docstrings write norms as |x|, which reStructuredText reads as a substitution: escape the
    bars (lines of a grid table, which start with | or +, are left alone)."""
    for k, line in enumerate(lines):
        if not line.lstrip().startswith(("|", "+")):
            lines[k] = line.replace("|", r"\|")


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars, priority=400)
