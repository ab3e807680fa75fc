"""Sphinx configuration of the skrbm documentation.

Build (from the repository root)::

    pip install -r doc/requirements.txt        # or: pip install ".[doc]"
    python -m sphinx -W -b html doc doc/_build/html

Environment variables:

``SKRBM_DOC_QUICK=1``
    Reduced mode for CI: examples read it (``os.environ.get("SKRBM_DOC_QUICK")``) and
    shrink their data, epochs and sampling; sphinx-gallery also stops on the first failing
    example.
``SKRBM_DOC_INTERSPHINX=1``
    Link to the numpy / scipy / scikit-learn / matplotlib / joblib docs (needs network
    access at build time; off by default so an offline ``-W`` build succeeds).

``-D plot_gallery=0`` skips running the examples altogether (pages without figures).
"""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the package is normally installed (editable); fall back to the source tree
sys.path.insert(0, str(ROOT))

import skrbm  # noqa: E402

QUICK = os.environ.get("SKRBM_DOC_QUICK", "") not in ("", "0")

# -- project ----------------------------------------------------------------------------
project = "skrbm"
author = "the skrbm developers"
copyright = "2025, the skrbm developers"
release = skrbm.__version__
version = ".".join(release.split(".")[:2])

# -- general ----------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
if os.environ.get("SKRBM_DOC_INTERSPHINX"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "matplotlib": ("https://matplotlib.org/stable/", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable/", None),
    }

templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "**.ipynb_checkpoints",
                    "requirements.txt"]
root_doc = "index"
default_role = "literal"
nitpicky = False
# a missing link target is not an error (nitpicky is off), but everything else that
# Sphinx reports is, so the build runs with -W

# -- autodoc / autosummary / numpydoc -------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # only plot_*.py scripts are executed; the others are rendered as code
    "filename_pattern": r"[\\/]plot_",
    "ignore_pattern": r"__init__\.py|[\\/]_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "doc_module": ("skrbm",),
    "backreferences_dir": "generated/backreferences",
    "reference_url": {"skrbm": None},
    "abort_on_example_error": QUICK,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "show_memory": False,
}

# -- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skrbm {release}"
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = ["_static"]
html_show_sourcelink = False

# matplotlib inside the build (examples and doctested snippets) never opens a window
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")


# -- plain-text math in docstrings ----------------------------------------------------------
# The docstrings write formulas in plain text (``|q^T W|``, ``P(v_i | v_-i)``,
# ``(n_features_in_,)``).  In reStructuredText ``|x|`` is a substitution and ``name_`` a
# hyperlink reference, so rendered as they are they raise docutils errors.  This hook,
# run after numpydoc (priority 900 > numpydoc's 500), escapes ``|`` and a trailing ``_``
# outside inline literals, roles, strong text, doctest blocks, literal blocks and
# directives.  It changes nothing else.
import re  # noqa: E402

_PROTECTED = re.compile(r"(``.+?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2}|\*\*[^*]+\*\*)",
                        re.DOTALL)
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=$|[^\w])", re.MULTILINE)
_BAR = re.compile(r"(?<!\\)\|")


def _escape_plain(text):
    parts = _PROTECTED.split(text)
    for k in range(0, len(parts), 2):  # even parts are outside protected markup
        parts[k] = _BAR.sub(r"\\|", _TRAILING_UNDERSCORE.sub(r"\\_", parts[k]))
    return "".join(parts)


def _escape_docstring_math(app, what, name, obj, options, lines):
    # mark the lines of prose: not doctest, literal-block or directive lines
    prose = [False] * len(lines)
    block_indent = None  # indentation of the line that opened a literal block/directive
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            in_doctest = False
            continue
        if block_indent is not None:
            if indent > block_indent:
                continue
            block_indent = None
        if in_doctest or stripped.startswith(">>>"):
            in_doctest = True
            continue
        if stripped.startswith(".. "):  # a directive: leave it and its content alone
            block_indent = indent
            continue
        if stripped.endswith("::"):
            block_indent = indent
        prose[i] = True
    # escape runs of consecutive prose lines together (inline literals may span lines)
    i = 0
    while i < len(lines):
        if not prose[i]:
            i += 1
            continue
        j = i
        while j < len(lines) and prose[j]:
            j += 1
        text = _escape_plain("\n".join(lines[i:j]))
        lines[i:j] = text.split("\n")
        i = j


# -- scikit-learn's own cross-references in inherited docstrings -------------------------------
# Methods inherited from scikit-learn (set_output, set_fit_request, ...) refer to labels and
# glossary terms of the scikit-learn documentation; point them there instead of leaving
# dangling references (which -W would turn into errors).
_SKLEARN = "https://scikit-learn.org/stable/"
_SKLEARN_TARGETS = {
    ("ref", "metadata_routing"): "metadata_routing.html",
    ("ref", "df_output_transform"):
        "auto_examples/miscellaneous/plot_set_output.html",
    ("ref", "sphx_glr_auto_examples_miscellaneous_plot_set_output.py"):
        "auto_examples/miscellaneous/plot_set_output.html",
    ("term", "meta-estimator"): "glossary.html#term-meta-estimator",
}


def _sklearn_reference(app, env, node, contnode):
    target = _SKLEARN_TARGETS.get((node.get("reftype"), node.get("reftarget", "").lower()))
    if target is None:
        return None
    from docutils import nodes

    ref = nodes.reference("", "", internal=False, refuri=_SKLEARN + target)
    ref += contnode.deepcopy()
    return ref


def setup(app):
    app.connect("autodoc-process-docstring", _escape_docstring_math, priority=900)
    app.connect("missing-reference", _sklearn_reference)
