"""The docs build's own logic (docs/_ext/minikd_docs.py), without building the site.

The site itself is built and opened in a browser by CI (.ci/run, docs/check_site.py); these tests
check the two pieces of the extension whose mistakes a build would not show: which minikd names a
tutorial is found to use, and which bars of a docstring are escaped. They need Sphinx (the ``docs``
extra) and are skipped without it, except the check that every tutorial has the title its page needs.
"""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py"))


@pytest.fixture(scope="module")
def ext():
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location("minikd_docs", REPO / "docs" / "_ext" / "minikd_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_every_tutorial_starts_with_the_title_of_its_page(path):
    # The page's title, and where the build puts the download links: the first Markdown cell's "# # ".
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# %% [markdown]\n# # "), f"{path.name} must open with a Markdown cell and its title"


def test_names_used_follows_imports_aliases_and_attributes(ext, tmp_path):
    script = tmp_path / "99_example.py"
    script.write_text(
        "import minikd\n"
        "import minikd.functional as F\n"
        "from minikd import MLP as Net, SGD\n"
        "from minikd.strategies import HintLoss\n"
        "net = Net([2, 2])\n"
        "F.softmax(x)\n"
        "minikd.datasets.load_digits()\n"
        "other.softmax(x)\n"
    )
    used = ext._names_used(script)
    assert {"minikd.MLP", "minikd.SGD", "minikd.strategies.HintLoss", "minikd.functional.softmax",
            "minikd.datasets.load_digits"} <= used
    assert not any(name.endswith(".Net") or name.startswith("other") for name in used), used


def test_escape_bars_escapes_prose_only(ext):
    lines = [
        "The row is divided by its largest |entry|, and ``|x|^p`` stays code.",
        "A role :math:`|x|` and a reference `|x|`_ stay as they are.",
        "",
        ".. math::  L = |x|",
        "   + |y|",
        "",
        "Example::",
        "",
        "    norm = |x|",
        "",
        "=====  =====",
        "a      |x|",
        "=====  =====",
        "",
        ">>> abs(x)  # |x|",
        "After the table, |S_i| again.",
    ]
    escaped = list(lines)
    ext.escape_bars(None, "class", "name", None, {}, escaped)
    assert escaped[0] == r"The row is divided by its largest \|entry\|, and ``|x|^p`` stays code."
    assert escaped[15] == r"After the table, \|S_i\| again."
    changed = [k for k, (a, b) in enumerate(zip(lines, escaped, strict=True)) if a != b]
    assert changed == [0, 15], [escaped[k] for k in changed]


def test_every_tutorial_title_is_found_by_the_page_builder(ext):
    for path in TUTORIALS:
        title = ext.tutorial_title(path)
        assert title != path.stem and re.match(r"\d\d ", title), (path.name, title)
