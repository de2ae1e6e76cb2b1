"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build``.

The API pages are written at build time from the ``__all__`` lists of the package, so every public
name is documented and a renamed or moved name never leaves a stale page behind.
"""
from __future__ import annotations

import inspect
import os
import pathlib
import sys

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
sys.path.insert(0, str(HERE / "_ext"))
os.environ.setdefault("OMP_NUM_THREADS", "2")

project = "intrinsic-flow"
author = "the intrinsic-flow developers"
copyright = "the intrinsic-flow developers"
release = intrinsic_flow.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "offline_math",  # MathJax from _static: formulas render without a network (docs/_ext)
    "api_docstrings",  # docstrings: bars outside maths escaped, no empty member entries (docs/_ext)
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "examples", "sg_execution_times.rst",
                    "**/sg_execution_times.rst"]
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
    # its page loads jQuery and DataTables from CDNs: the documentation stays readable offline
    "write_computation_times": False,
}
try:  # the PyTorch example runs only where the torch extra (and scikit-learn) is installed
    import sklearn  # noqa: F401
    import torch  # noqa: F401
except ImportError:
    sphinx_gallery_conf["ignore_pattern"] = r"plot_conservation_monitor\.py"


# -- API pages from __all__ ------------------------------------------------------------------------

# The default backend's names by topic: one page each, and a summary table of each on the page
# intrinsic_flow. A name of __all__ in no topic (or in two) stops the build.
TOPICS = [
    ("models", "Models",
     r"The networks and maps whose parameters :math:`\theta` are lifted to :math:`z = \phi(\theta)` "
     "(:doc:`/theory/lifting`).",
     ["ReLUNet", "DAGReLUNet", "SharedReLUNet", "LinearNet", "LinearNeuralODE", "PolynomialMap"]),
    ("geometry", "Geometry of φ",
     "The lifting, its Jacobian, products with it without forming it, the metric on the lifted space, "
     "Gram matrices and path-norms; the ``_batch`` forms take a batch of thetas (:doc:`/theory/lifting`).",
     ["lift", "lift_jacobian", "lift_vjp", "lift_jvp", "metric", "metric_derivative", "lift_gram", "joint_gram",
      "path_norm", "lift_batch", "lift_jacobian_batch", "lift_vjp_batch", "lift_jvp_batch", "metric_batch",
      "lift_gram_batch"]),
    ("ranks", "Ranks",
     r"Ranks of the Jacobians of :math:`\phi` and of the known laws :math:`h`, and how sure they are "
     "(:doc:`/theory/ranks`).",
     ["rank_lift", "rank_joint", "rank_info", "rank_lift_batch", "rank_joint_batch", "numerical_rank",
      "singular_gap", "RankInfo"]),
    ("laws", "Conservation laws",
     "The known laws, their Jacobians, and the number of independent laws from the Lie algebra generated "
     r"by the gradients of :math:`\phi` (:doc:`/theory/laws`).",
     ["conserved", "conserved_jacobian", "conserved_batch", "conserved_jacobian_batch", "lie_trace",
      "count_conservation_laws", "known_laws_complete", "polynomial_laws", "LieTrace", "PolynomialLaws",
      "LIE_MAX_WORK"]),
    ("criteria", "Criteria",
     r"Whether the gradient flow of :math:`\theta` is an intrinsic flow of :math:`z` at a point "
     "(:doc:`/theory/criteria`).",
     ["criteria", "criteria_batch", "balanced_representative", "Criteria", "INCLUSION_TOL"]),
    ("flows", "Flows",
     r"Gradient flows of :math:`\theta`, the intrinsic flow of :math:`z` and their comparison "
     "(:doc:`/theory/flows`).",
     ["gradient_flow", "gradient_descent", "intrinsic_metric", "intrinsic_flow", "compare_flows", "Trajectory",
      "FlowComparison", "FlowError"]),
    ("scans", "Scans",
     r"The criteria over many draws of :math:`\theta`, in parallel, with checkpoints and summaries.",
     ["scan", "ScanResult", "ScanSummary"]),
    ("settings", "Settings and build",
     "Memory limit, threads and the compiled core in use.",
     ["config", "build_info", "set_num_threads"]),
]

# the other modules, one page each: (file, module, intro, same_as)
MODULES = [
    ("losses", intrinsic_flow.losses,
     r"Losses :math:`f(z)` whose gradient flows run in the core; any Python callable "
     "``f(z) -> (value, gradient)`` works as well, more slowly.", None),
    ("torch", intrinsic_flow.torch,
     "PyTorch models in (the ``torch`` extra): translation to a path-lifting model with shared "
     "parameters, theta back into the module, and the conservation laws along training (:doc:`/torch`).", None),
    ("parsimony", intrinsic_flow.parsimony,
     "Deep linear networks and the law of parsimony (Yaras et al., arXiv 2306.01154): training loops "
     "in the core, the invariant subspace, the compressed network, deep matrix completion and "
     "progressive separation (:doc:`/theory/parsimony`). ``intrinsic_flow.reference.parsimony`` has the "
     "same API on NumPy.", None),
    ("symmetries", intrinsic_flow.symmetries,
     "Mean-field two-layer ReLU networks (Hajjar & Chizat, arXiv 2211.08771): particle training, symmetry "
     "diagnostics, the odd-target closed form, alpha and the reduced angle dynamics "
     "(:doc:`/theory/symmetries`). ``intrinsic_flow.reference.symmetries`` has the same API in NumPy.", None),
    ("parameterizations", intrinsic_flow.parameterizations,
     "abc-parameterised deep networks (IP, IP-LLR, muP, NTK): exponents, coordinate checks and training "
     "on the C++ core (:doc:`/theory/parameterizations`).", None),
    ("reference_parameterizations", intrinsic_flow.reference.parameterizations,
     "The same functions on the NumPy network (results equal to 1e-12). Names in the table that are "
     "not documented below are the very objects of :mod:`intrinsic_flow.parameterizations`; their "
     "links lead there.", intrinsic_flow.parameterizations),
    ("datasets", intrinsic_flow.datasets,
     "Small classification data sets: scikit-learn's digits and a Gaussian mixture.", None),
]


def _documented(module, name):
    """(qualified name, object) of what the page documents for module.name: a module that is also its
    main function (intrinsic_flow.scan, intrinsic_flow.criteria) stands for that function."""
    obj = getattr(module, name)
    if inspect.ismodule(obj):
        function = getattr(obj, "__function__", None)
        if function is not None and getattr(obj, name, None) is function:
            return f"{obj.__name__}.{name}", function
        return None, obj
    return f"{module.__name__}.{name}", obj


def _directive(qualified: str, obj) -> str:
    if inspect.isclass(obj):
        return f".. autoclass:: {qualified}\n"
    if callable(obj):
        return f".. autofunction:: {qualified}\n"
    return f".. autodata:: {qualified}\n   :no-value:\n"


def _summary(names: list[str], current: str) -> list[str]:
    """An autosummary table of qualified names (relative to the current module, as autosummary
    wants them), each shown by its last component."""
    relative = [name.removeprefix(current + ".") for name in names]
    return [".. autosummary::", "   :nosignatures:", ""] + [f"   ~{name}" for name in relative] + [""]


def _entries(module, names, same_as=None):
    """(table rows, directives) of module's names; names that are the objects of same_as link there."""
    rows, directives = [], []
    for name in names:
        qualified, obj = _documented(module, name)
        if qualified is None:
            continue
        if same_as is not None and getattr(same_as, name, None) is obj:
            rows.append(_documented(same_as, name)[0])
            continue
        rows.append(qualified)
        directives.append(_directive(qualified, obj))
    return rows, directives


def _header(title: str, module, intro: str) -> list[str]:
    return [title, "=" * len(title), "", f".. currentmodule:: {module.__name__}", "", intro, ""]


def _module_page(title: str, module, intro: str, same_as=None) -> str:
    rows, directives = _entries(module, list(dict.fromkeys(module.__all__)), same_as)
    return "\n".join(_header(title, module, intro) + _summary(rows, module.__name__) + directives) + "\n"


def _check_topics(module) -> None:
    listed = [name for _, _, _, names in TOPICS for name in names]
    public = [name for name in module.__all__ if _documented(module, name)[0] is not None]
    doubled = sorted({name for name in listed if listed.count(name) > 1})
    missing = sorted(set(public) - set(listed))
    unknown = sorted(set(listed) - set(module.__all__))
    if doubled or missing or unknown:
        raise RuntimeError(f"docs/conf.py TOPICS: missing {missing}, listed twice {doubled}, "
                           f"not in __all__ {unknown}")


def _topic_pages() -> dict[str, str]:
    """The page intrinsic_flow (a table per topic) and one page per topic."""
    _check_topics(intrinsic_flow)
    intro = (r"The default backend: models, geometry of :math:`\phi`, conservation laws, criteria, flows and "
             "scans on the "
             "C++ core. Every name below is importable from ``intrinsic_flow``; the submodules have pages of "
             "their own (:doc:`losses`, :doc:`torch`, ...).")
    index = _header("intrinsic_flow", intrinsic_flow, intro)
    index += [".. toctree::", "   :hidden:", ""] + [f"   intrinsic_flow/{key}" for key, *_ in TOPICS] + [""]
    pages = {}
    for key, title, text, names in TOPICS:
        rows, directives = _entries(intrinsic_flow, names)
        index += [title, "-" * len(title), "", f":doc:`intrinsic_flow/{key}`: {text}", ""] + _summary(rows, "intrinsic_flow")
        pages[f"intrinsic_flow/{key}.rst"] = "\n".join(
            _header(title, intrinsic_flow, text) + _summary(rows, "intrinsic_flow") + directives) + "\n"
    pages["intrinsic_flow.rst"] = "\n".join(index) + "\n"
    return pages


def _reference_page() -> str:
    """intrinsic_flow.reference by the same topics; names shared with the default backend link there."""
    reference = intrinsic_flow.reference
    intro = ("The NumPy reference backend: the same names, signatures and results (to 1e-12) in plain NumPy, "
             "without compiled code. Names in the tables that are not documented on this page are the very "
             "objects of :doc:`intrinsic_flow` (the models and result types); their links lead there.")
    lines = _header("intrinsic_flow.reference", reference, intro)
    names = list(reference.__all__)
    for _, title, _, topic in TOPICS:
        chosen = [name for name in topic if name in names]
        if not chosen:
            continue
        rows, directives = _entries(reference, chosen, same_as=intrinsic_flow)
        lines += [title, "-" * len(title), ""] + _summary(rows, reference.__name__) + directives
    left = sorted(set(names) - {name for *_, topic in TOPICS for name in topic})
    if left:
        raise RuntimeError(f"docs/conf.py TOPICS: intrinsic_flow.reference names in no topic: {left}")
    return "\n".join(lines) + "\n"


def write_api_pages() -> None:
    out = HERE / "api" / "generated"
    pages = _topic_pages()
    pages["reference.rst"] = _reference_page()
    for name, module, intro, same_as in MODULES:
        pages[f"{name}.rst"] = _module_page(module.__name__, module, intro, same_as)
    for name, text in pages.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for stale in out.rglob("*.rst"):  # a page of a topic or module since removed
        if stale.relative_to(out).as_posix() not in pages:
            stale.unlink()


write_api_pages()
