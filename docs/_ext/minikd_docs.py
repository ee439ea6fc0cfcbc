"""The docs build's own pieces: tutorial pages, API pages, "used in" cross-links, the loop figure.

Everything here is generated from the repository at build time, so nothing in docs/ has to be edited
when a tutorial or a public name is added:

- **Tutorial pages.** Every ``tutorials/NN_*.py`` is copied to ``docs/tutorials/`` (git-ignored) and
  read by MyST-NB through :func:`read_tutorial` (jupytext, percent format), executed in a ``python3``
  kernel. A line of download links (the script, and the notebook jupytext makes of it) goes under its
  title and a list of the minikd names it uses, linked to the API, at its end.
- **API pages.** One page per public module, listing every name in that module's ``__all__``; the
  names of ``minikd.__all__`` defined elsewhere (the MLP, the optimisers, the trainers) are
  documented as ``minikd.NAME`` on two more pages. Each object is documented once, under one name:
  :data:`CANONICAL` maps it to that name.
- **Used in.** The tutorials' code is parsed with :mod:`ast`; every minikd class, function or value
  it imports or reaches by attribute (``minikd.functional.softmax``) gets a "Used in the tutorials"
  list at the end of its docstring, and each tutorial page lists what it uses.
- **Short references.** Docstrings say :class:`MLP` or :func:`load_checkpoint` from modules where the
  object is documented under another name; :func:`resolve_short_reference` finds the one documented
  object meant, so these links work without editing the docstrings.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import json
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

DOCS = Path(__file__).resolve().parents[1]
REPO = DOCS.parent
TUTORIALS = REPO / "tutorials"
GENERATED = DOCS / "_generated"          # the figure and the included lists (git-ignored)
TUTORIAL_PAGES = DOCS / "tutorials"      # NN_*.py copies (git-ignored) next to the committed index.md
NOTEBOOKS = TUTORIAL_PAGES / "notebooks"  # the .ipynb downloads (git-ignored)
API = DOCS / "api" / "generated"         # the API pages (git-ignored)

# (page, module, title) of the modules documented under their own name, in the order of the API index.
MODULE_PAGES = [
    ("strategies", "minikd.strategies", "Strategies: the losses"),
    ("teachers", "minikd.teachers", "Teachers"),
    ("checkpoint", "minikd.checkpoint", "Checkpoints"),
    ("schedules", "minikd.schedules", "Schedules"),
    ("functional", "minikd.functional", "Functional: softmax, cross-entropy, KL"),
    ("layers", "minikd.layers", "Layers"),
    ("gradcheck", "minikd.gradcheck", "Gradient checks"),
    ("interop", "minikd.interop", "Interoperability: PyTorch, Keras, torchdistill"),
    ("datasets", "minikd.datasets", "Datasets"),
]
# Pages for the names of minikd.__all__ that no module page documents, chosen by where they are defined.
# (page, title, defining-module prefixes, a public module whose other __all__ names join the page, intro)
TOP_PAGES = [
    ("models", "Models and optimisers", ("minikd.mlp", "minikd.optim"), "minikd.mlp",
     "The multilayer perceptron and the optimisers that update it in place. ``from minikd import MLP, SGD, "
     "Adam``; the caches of ``forward_train`` are in :mod:`minikd.mlp`."),
    ("training", "Training", ("minikd.trainer", "minikd._run_state", "minikd.self_distillation"), "minikd.trainer",
     "The trainers and what they return. ``train_step`` is the loop's four steps: see "
     ":doc:`/how_it_works`."),
    ("other", "Other names", ("",), None, "Names of ``minikd.__all__`` that no other page documents."),
]

CANONICAL: dict[int, str] = {}   # id(object) -> the one name it is documented under
OBJECTS: dict[str, object] = {}  # that name -> the object (keeps every id above alive and unique)
USED_IN: dict[int, list[str]] = {}  # id(object) -> tutorial stems that use it


def tutorial_paths():
    """Every tutorial, by the tests' own glob: a new ``tutorials/NN_name.py`` joins the site as it is."""
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))


def fast_mode():
    return os.environ.get("MINIKD_TUTORIAL_FAST") == "1"


def source_fingerprint(kernel_env):
    """What executed outputs depend on besides a tutorial's own code: minikd's sources, FAST mode and the
    kernels' environment (a dict)."""
    digest = hashlib.sha256(json.dumps([fast_mode(), sorted(kernel_env.items())]).encode())
    for path in sorted((REPO / "minikd").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".npz"):
            digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------- tutorials
def read_tutorial(text):
    """MyST-NB's reader for ``.py`` pages: a jupytext percent-format script -> a notebook."""
    import jupytext

    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _write_if_changed(path, data: bytes):
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def sync_tutorials():
    """Copy each tutorial into docs/tutorials/ and write its notebook download; drop stale copies."""
    import jupytext

    keep = set()
    for path in tutorial_paths():
        keep.add(path.stem)
        _write_if_changed(TUTORIAL_PAGES / path.name, path.read_bytes())
        notebook = read_tutorial(path.read_text(encoding="utf-8"))
        _write_if_changed(NOTEBOOKS / f"{path.stem}.ipynb", jupytext.writes(notebook, fmt="ipynb").encode())
    for stale in [*TUTORIAL_PAGES.glob("[0-9][0-9]_*.py"), *NOTEBOOKS.glob("*.ipynb")]:
        if stale.stem not in keep:
            stale.unlink()


def tutorial_title(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return path.stem


def write_tutorial_table():
    """The table of the tutorials index: number, page, and "what you learn" from tutorials/README.md."""
    learn = {}
    row = re.compile(r"^\|\s*\d+\s*\|\s*\[`(?P<name>\d\d_[^`]+)\.py`\]\([^)]*\)\s*\|\s*(?P<text>.*?)\s*\|\s*$")
    for line in (TUTORIALS / "README.md").read_text(encoding="utf-8").splitlines():
        match = row.match(line)
        if match:
            learn[match["name"]] = match["text"]
    lines = ["| # | tutorial | what you learn |", "|---|---|---|"]
    for path in tutorial_paths():
        lines.append(f"| {int(path.stem[:2])} | {{doc}}`{path.stem}` | {learn.get(path.stem, '')} |")
    _write_if_changed(GENERATED / "tutorial_table.md", ("\n".join(lines) + "\n").encode())


def _inject(app, docname, source):
    """``source-read``: the download links under a tutorial's title, the names it uses at its end."""
    match = re.fullmatch(r"tutorials/(\d\d_\w+)", docname)
    if not match or not (TUTORIALS / f"{match[1]}.py").exists():
        return
    stem = match[1]
    links = [f"# {{download}}`{stem}.py` (the script) · {{download}}`{stem}.ipynb <notebooks/{stem}.ipynb>` "
             "(the notebook `jupytext --to ipynb` makes of it, without outputs)"]
    if fast_mode():
        links += ["#", "# ```{note}",
                  "# This page was built with `MINIKD_TUTORIAL_FAST=1` (the small settings of the test suite):",
                  "# the printed numbers differ from those in the text, which are from a full run.", "# ```"]
    text = source[0]
    title = re.search(r"^# # .*$", text, flags=re.M)
    if title:
        text = text[:title.end()] + "\n#\n" + "\n".join(links) + text[title.end():]
    used = sorted({CANONICAL[key] for key, stems in USED_IN.items() if stem in stems})
    if used:
        text = text.rstrip("\n") + "\n\n# %% [markdown]\n# ## minikd in this tutorial\n#\n# " + ", ".join(
            f"{{py:obj}}`~{name}`" for name in used) + "\n"
    source[0] = text


# ---------------------------------------------------------------------------------------- API pages
def _public(module_name):
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def _is_namedtuple(obj):
    return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _entry(name, obj):
    """The autodoc directive for one object, by its kind."""
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return [f".. autoexception:: {name}", ""]
    if inspect.isclass(obj):
        lines = [f".. autoclass:: {name}", "   :members:"]
        if any(base.__name__.startswith("_") for base in obj.__mro__[1:]):  # e.g. MLP's _ParamsAndConfig
            lines.append("   :inherited-members:")  # public methods that live in a private base class
        if _is_namedtuple(obj):  # its fields are its docstring's Attributes; its properties are members
            lines.append(f"   :exclude-members: {', '.join(obj._fields)}")
        elif obj.__bases__ != (object,) and not getattr(obj, "_is_protocol", False):
            lines.append("   :show-inheritance:")
        if "__call__" in obj.__dict__ and obj.__call__.__doc__:
            lines.append("   :special-members: __call__")
        return lines + [""]
    if callable(obj):
        return [f".. autofunction:: {name}", ""]
    return [f".. autodata:: {name}", "   :no-value:", ""]


def _register(full_name, obj):
    if id(obj) in CANONICAL:
        raise RuntimeError(f"{full_name} is documented twice (also as {CANONICAL[id(obj)]})")
    CANONICAL[id(obj)] = full_name
    OBJECTS[full_name] = obj


def _summary(obj):
    doc = inspect.getdoc(obj) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + " ..."


def write_api_pages():
    """Write api/generated/*.rst and register every documented object's name in CANONICAL."""
    CANONICAL.clear()
    OBJECTS.clear()
    module_pages = []  # (page, lines), listed after the top-level pages
    for page, module_name, title in MODULE_PAGES:
        heading = f"``{module_name}``: {title}"
        lines = [heading, "=" * len(heading), "", f".. automodule:: {module_name}", "", ".. rubric:: Contents",
                 "", f".. currentmodule:: {module_name}", ""]
        entries = []
        for name, obj in _public(module_name):
            _register(f"{module_name}.{name}", obj)
            entries += _entry(name, obj)
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name, _ in _public(module_name)] + [""] + entries
        module_pages.append((page, lines))
    pages = []

    import minikd

    top = [(name, getattr(minikd, name)) for name in minikd.__all__
           if name != "__version__" and not inspect.ismodule(getattr(minikd, name))]
    for page, title, prefixes, extra_module, intro in TOP_PAGES:
        names = [(n, o) for n, o in top if id(o) not in CANONICAL
                 and any(getattr(o, "__module__", "").startswith(p) for p in prefixes)]
        extra = [(n, o) for n, o in _public(extra_module) if id(o) not in CANONICAL
                 and all(o is not t for _, t in names)] if extra_module else []
        if not names and not extra:
            continue
        lines = [title, "=" * len(title), "", intro, "", ".. currentmodule:: minikd", ""]
        for name, obj in names:
            _register(f"minikd.{name}", obj)
        lines += [".. autosummary::", "   :nosignatures:", ""] + [f"   {n}" for n, _ in names] + [""]
        for name, obj in names:
            lines += _entry(name, obj)
        if extra:
            lines += [f"More of ``{extra_module}``", "-" * (len(extra_module) + 12), "",
                      f".. py:module:: {extra_module}", "", f".. currentmodule:: {extra_module}", ""]
            for name, obj in extra:
                _register(f"{extra_module}.{name}", obj)
                lines += _entry(name, obj)
        pages.append((page, lines))
    pages += module_pages

    API.mkdir(parents=True, exist_ok=True)
    for page, lines in pages:
        _write_if_changed(API / f"{page}.rst", ("\n".join(lines) + "\n").encode())
    for stale in API.glob("*.rst"):
        if stale.stem not in {page for page, _ in pages}:
            stale.unlink()

    # The top-level namespace (api/index.md includes this): every name of minikd.__all__, linked.
    rows = []
    for name, obj in top:
        target = CANONICAL[id(obj)]
        rows.append(f"| {{py:obj}}`minikd.{name} <{target}>` | {_md_escape(_summary(obj))} |")
    toctree = ["```{toctree}", ":maxdepth: 1", ""] + [f"generated/{page}" for page, _ in pages] + ["```"]
    table = ["| name | what it is |", "|---|---|", *rows]
    _write_if_changed(GENERATED / "api_contents.md", ("\n".join(toctree + [""] + table) + "\n").encode())


def _md_escape(text):
    # a docstring's first sentence in a Markdown table cell: reST roles and literals become Markdown code
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`").replace("|", r"\|")


# ---------------------------------------------------------------------------------------- used in
def _names_used(path):
    """Dotted minikd paths a tutorial imports or reaches by attribute (``from minikd import MLP`` ...)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases = {}  # local name -> dotted minikd path
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "minikd":
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else "minikd"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "minikd":
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                used.add(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):  # minikd.functional.softmax, F.softmax, MLP.forward ...
            chain = []
            inner = node
            while isinstance(inner, ast.Attribute):
                chain.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in aliases:
                parts = [aliases[inner.id], *reversed(chain)]
                for k in range(1, len(parts) + 1):
                    used.add(".".join(parts[:k]))
    return used


def _locate(dotted):
    """The object at a dotted path (importing modules on the way), or None."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        try:
            for attr in parts[k:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def collect_usage():
    USED_IN.clear()
    for path in tutorial_paths():
        for dotted in sorted(_names_used(path)):
            obj = _locate(dotted)
            if obj is not None and id(obj) in CANONICAL and path.stem not in USED_IN.setdefault(id(obj), []):
                USED_IN[id(obj)].append(path.stem)


def _append_used_in(app, what, name, obj, options, lines):
    """``autodoc-process-docstring`` (after numpydoc): the tutorials that use this object."""
    stems = USED_IN.get(id(obj))
    if stems and CANONICAL.get(id(obj)) == name:
        lines += ["", ".. rubric:: Used in the tutorials", ""]
        lines += [f"- :doc:`/tutorials/{stem}`" for stem in sorted(stems)] + [""]


# ---------------------------------------------------------------------------------------- references
def resolve_short_reference(app, env, node, contnode):
    """``missing-reference``: :class:`MLP`, :func:`minikd.checkpoint.files.load_checkpoint` ... -> the
    one documented object meant. A public path to an object documented under another name resolves
    to that name; a short name resolves if exactly one documented object ends with it (nearest
    class first). Anything else stays unresolved, and ``nitpicky`` reports it."""
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    typ = node["reftype"]
    candidates = []
    parts = target.split(".")
    if parts[0] == "minikd":
        for k in range(len(parts), 0, -1):
            obj = _locate(".".join(parts[:k]))
            if obj is not None and id(obj) in CANONICAL:
                candidates = [".".join([CANONICAL[id(obj)], *parts[k:]])]
                break
    else:
        matches = domain.find_obj(env, node.get("py:module"), node.get("py:class"), target, typ, 1)
        names = sorted({name for name, _ in matches})
        if len(names) > 1 and node.get("py:class"):  # :meth:`forward` inside a class: that class's
            own = [n for n in names if n.endswith(f"{node.get('py:class')}.{target}")]
            names = own or names
        if len(names) == 1:
            candidates = names
    if not candidates and typ == "mod" and parts[0] == "minikd":
        # a module of a package documented as one page (minikd.checkpoint.config): the package's page
        for k in range(len(parts) - 1, 0, -1):
            if ".".join(parts[:k]) in domain.modules:
                candidates = [".".join(parts[:k])]
                break
    if not candidates and typ in ("attr", "obj"):
        # an attribute that its class's docstring documents under Attributes (a NamedTuple field, an
        # attribute set in __init__) has no entry of its own: link to the class
        owner = ".".join(parts[:-1]) if len(parts) > 1 else node.get("py:class")
        if owner:
            found = resolve_short_reference(app, env, _retarget(node, owner, "class"), contnode)
            if found is not None:
                return found
    for name in candidates:
        if name in domain.objects or name in domain.modules:
            for role in (typ, "obj"):  # the role's own type first (:meth: on a method), then any type
                ref = domain.resolve_xref(env, node["refdoc"], app.builder, role, name, node, contnode)
                if ref is not None:
                    return ref
    return None


def _retarget(node, target, typ):
    copy = node.deepcopy()
    copy["reftarget"], copy["reftype"] = target, typ
    return copy


# ---------------------------------------------------------------------------------------- |x| in prose
_BORDER = re.compile(r"^\s*=+(\s+=+)*\s*$")
_INLINE = re.compile(r"(``.+?``|:[\w:.+-]+:`[^`]*`|`[^`]*`_{0,2})")


def escape_bars(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: minikd's docstrings are plain text first (the math is read in the
    code, STYLE.md) and write absolute values and norms as ``|x|``; reST would read ``|x|`` as a
    substitution. Bars in prose become ``\\|`` (rendered as ``|``); code, roles, math, literal blocks,
    doctests and tables are left as they are."""
    block_indent = None  # the indent of the line that opened a literal block or directive
    in_table = False
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if _BORDER.match(line):
            following = lines[k + 1] if k + 1 < len(lines) else ""
            in_table = not (in_table and not following.strip())
            continue
        if in_table or stripped.startswith((".. ", ">>>", "... ", "|", "+-")):
            if stripped.startswith(".. ") and "::" in stripped:
                block_indent = indent
            continue
        if stripped.endswith("::"):
            block_indent = indent
        if "|" in line:
            lines[k] = "".join(part if _INLINE.fullmatch(part) else re.sub(r"(?<!\\)\|", r"\\|", part)
                               for part in _INLINE.split(line))


# ---------------------------------------------------------------------------------------- Attributes
def keep_attribute_descriptions():
    """Keep what a class's *Attributes* section says about a property, and link the property.

    numpydoc replaces that text with the first sentence of the property's own docstring (which autodoc
    documents just below anyway); minikd's class docstrings hold the fuller description (shapes, what
    is shared, what is copied), which would then appear nowhere. numpydoc offers no setting for this,
    so its ``_process_param`` is wrapped; if a numpydoc release renames it, the build keeps numpydoc's
    behaviour."""
    from numpydoc.docscrape_sphinx import SphinxDocString

    original = getattr(SphinxDocString, "_process_param", None)
    if original is None or getattr(original, "_minikd", False):
        return

    def process_param(self, param, desc, fake_autosummary):
        display, summary = original(self, param, desc, fake_autosummary)
        return display, (desc if any(line.strip() for line in desc) else summary)

    process_param._minikd = True
    SphinxDocString._process_param = process_param


# ---------------------------------------------------------------------------------------- the build
def _generate(app, config):
    """``config-inited``: everything generated, before Sphinx looks for source files."""
    sys.path.insert(0, str(DOCS))
    import draw_loop

    draw_loop.write_svg(GENERATED / "loop.svg")
    sync_tutorials()
    write_tutorial_table()
    write_api_pages()
    collect_usage()


def _copy_mathjax(app, exception):
    """``build-finished``: MathJax from the django-static-mathjax package into _static/mathjax (no CDN)."""
    if exception is not None or app.builder.format != "html" or not app.config.minikd_mathjax_dir:
        return
    source = Path(app.config.minikd_mathjax_dir)
    unused = shutil.ignore_patterns("*-full*", "*svg*", "node-main.js", "mml-chtml.js", "tex-chtml.js")
    shutil.copytree(source, Path(app.outdir) / "_static" / "mathjax", ignore=unused, dirs_exist_ok=True)


def _report_times(app, exception):
    """``build-finished``: how long each tutorial took to execute (or took, when it came from the cache)."""
    if exception is not None:
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    rows = []
    for path in tutorial_paths():
        data = NbMetadataCollector.get_exec_data(app.env, f"tutorials/{path.stem}") or {}
        rows.append({"tutorial": path.stem, "seconds": data.get("runtime"), "method": data.get("method"),
                     "succeeded": data.get("succeeded")})
    report = Path(app.outdir).parent / "tutorial_times.json"
    report.write_text(json.dumps({"fast": fast_mode(), "tutorials": rows}, indent=1) + "\n")
    total = sum(row["seconds"] or 0 for row in rows)
    lines = [f"  {row['tutorial']:<45} {row['seconds'] or 0:6.1f} s" for row in rows]
    logger.info(textwrap.dedent(f"""
        minikd tutorials executed ({'FAST' if fast_mode() else 'full'} mode; a cached output keeps the time
        of the run that made it), {total:.1f} s in all; written to {report}:""") + "\n" + "\n".join(lines))


def setup(app):
    keep_attribute_descriptions()
    app.add_config_value("minikd_mathjax_dir", None, "html")
    # a changed extension changes what every page holds: Sphinx then reads them all again
    app.add_config_value("minikd_docs_extension", hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), "env")
    app.connect("config-inited", _generate)
    app.connect("source-read", _inject)
    app.connect("autodoc-process-docstring", escape_bars, priority=800)      # after numpydoc (500)
    app.connect("autodoc-process-docstring", _append_used_in, priority=900)
    app.connect("missing-reference", resolve_short_reference)
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _report_times)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
