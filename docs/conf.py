"""Sphinx configuration of the minikd site (docs/README.md says how it is built and why so).

Build: ``python -m sphinx -W -b html docs docs/_build/html`` from the repository root.
``MINIKD_TUTORIAL_FAST=1`` executes the tutorials with the test suite's small settings (what CI does).
"""

import importlib.util
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO))            # autodoc documents this checkout's minikd, whatever else is installed
sys.path.insert(0, str(DOCS / "_ext"))

import minikd_docs  # noqa: E402

import minikd  # noqa: E402

# The kernels that execute the tutorials inherit this environment, set up as the tests set it up
# (tests/test_tutorials.py): this checkout's minikd; figures saved in the kernel's temporary folder, never
# in tutorials/ (each page shows its figures, and prints no path of the build machine); no debugger stops;
# one BLAS thread (the tutorials multiply small matrices, where a second OpenBLAS thread only adds hand-off
# cost). MINIKD_TUTORIAL_FAST passes through as it is set.
KERNEL_ENV = {
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    "MINIKD_TUTORIAL_OUTPUT": "figures",
    "MINIKD_BREAK": "0",
    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
    "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
}
os.environ.update(KERNEL_ENV)

project = "minikd"
author = "the minikd authors"
copyright = "the minikd authors, MIT licence"
version = release = minikd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",   # the "Contents" table of each API page (no stub pages are generated)
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "minikd_docs",
]

# Sources: Markdown and reST pages, and the tutorials (copied into tutorials/ by minikd_docs). The top-level
# *.py are this build's own scripts, not pages.
exclude_patterns = ["_build", "_generated", "_ext", "README.md", "*.py", "tutorials/notebooks",
                    "**.ipynb_checkpoints"]

# ---------------------------------------------------------------------------------------- tutorials
# MyST-NB reads each tutorials/NN_*.py with jupytext (percent format: `# %% [markdown]` cells are the prose,
# `# %%` cells the code), executes it in a python3 kernel and renders prose, code, printed output and figures.
nb_custom_formats = {".py": ["minikd_docs.read_tutorial", {}, False]}
nb_execution_mode = "cache"        # jupyter-cache: a tutorial runs again only when its code changes ...
# ... or minikd's code, FAST mode or KERNEL_ENV does: the cache lives in a folder named after all three.
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache" / minikd_docs.source_fingerprint(KERNEL_ENV))
nb_execution_in_temp = True        # each kernel starts in a fresh temporary directory
nb_execution_timeout = 600         # seconds per cell (a full run of the longest tutorial takes about 10 s)
nb_execution_raise_on_error = True  # a tutorial that fails (an assertion is a claim) fails the build
nb_execution_show_tb = True
nb_merge_streams = True            # stdout printed in pieces shows as one block
myst_enable_extensions = ["dollarmath", "amsmath"]  # the tutorials' $...$ and $$...$$
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# ---------------------------------------------------------------------------------------- API
autodoc_typehints = "none"          # numpydoc docstrings state every type; signatures stay as the code reads
autodoc_member_order = "bysource"
autodoc_default_options = {}
autosummary_generate = False
numpydoc_show_class_members = False  # autodoc's :members: documents the methods; no second table of them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False     # "ndarray of shape (N, C)" is prose, not a cross-reference

# Every cross-reference must resolve (minikd_docs resolves short names such as :class:`MLP`), except these,
# which have no page to link to here (each with the reason):
nitpicky = True
nitpick_ignore_regex = [
    # no intersphinx: the build runs offline, so Python's, NumPy's and PyTorch's docs are not linked
    (r"py:.*", r"(numpy|np|torch|abc|importlib|pickle|pickletools|fcntl|os|pathlib|threadpoolctl)(\..*)?"),
    # private modules and names (a leading underscore): the docstrings name them for readers of the code
    (r"py:.*", r"(.*\.)?_[A-Za-z].*"),
    # the internals of the checkpoint and trainer packages that their docstrings name (the index, lock and
    # file-name classes a manager uses, the trainers' resume mixin): not public, so not documented
    (r"py:.*", r"minikd\.checkpoint\.(index|lock|names)\..*"),
    (r"py:class", r"minikd\.trainer\.(resume\.RunStateMixin|evaluation\.EvaluationMixin)"),
    # the mixin behind the optimizers' and strategies' scheduled hyperparameters: their properties document it
    (r"py:class", r"minikd\.schedules\.ScheduledHyperparameters"),
]

# ---------------------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"minikd {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_favicon = "_static/favicon.svg"  # browsers ask for one; without it every site check logs a 404
html_show_sourcelink = True
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_sidebars = {"index": [], "how_it_works": []}  # pages without a section to navigate

# MathJax from the django-static-mathjax package (the docs extra), copied into _static/mathjax: the site and
# its check work offline and load nothing from a CDN. Without the package, Sphinx's default CDN copy is used.
_mathjax = importlib.util.find_spec("mathjax")
if _mathjax is not None and _mathjax.submodule_search_locations:
    minikd_mathjax_dir = str(Path(list(_mathjax.submodule_search_locations)[0]) / "static" / "mathjax" / "es5")
    mathjax_path = "mathjax/tex-mml-chtml.js"
