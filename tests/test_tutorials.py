"""Every tutorial runs as a plain script and as a notebook (small settings), and its own assertions hold.

Each tutorial reads ``MINIKD_TUTORIAL_FAST=1`` and shrinks its epochs, seeds and sweeps; the
claims it makes are asserted inside the tutorial, so a tutorial whose claim stops being true
fails here. RuntimeWarnings are errors, as in the rest of the suite.

Each tutorial runs twice: as a script (``python tutorials/NN_name.py``) and as a notebook (converted
with jupytext, executed cell by cell in a ``python3`` Jupyter kernel by nbclient, as
``jupyter nbconvert --execute`` would). Both run in a temporary directory with
``MINIKD_TUTORIAL_OUTPUT`` pointing into it, so the test suite writes no figure or notebook into
``tutorials/`` (``test_running_tutorials_leaves_the_tutorials_folder_unchanged``). The notebook tests
are skipped only if jupytext, nbclient, nbformat or ipykernel is missing (all four are in the ``test``
extra).
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every tutorial, as a script and as a notebook: ~35 s

REPO = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in TUTORIALS]
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# The first cell of every notebook under test: RuntimeWarnings become errors (the script test's
# `-W error::RuntimeWarning`), and the kernel must import the minikd of this checkout.
SETUP_CELL = f"""\
import warnings
warnings.simplefilter("error", RuntimeWarning)
import pathlib, minikd
assert pathlib.Path(minikd.__file__).resolve().is_relative_to({str(REPO)!r}), minikd.__file__
"""


def tutorial_env(output_dir):
    """The environment of a tutorial under test: FAST settings, no plot windows, no debugger stops."""
    # One BLAS thread: the tutorials multiply small matrices, where a second OpenBLAS thread only
    # adds hand-off cost (and, on a busy 2-core machine, made them up to 20x slower).
    # PYTHONPATH: the script and the kernel import the minikd of this checkout, not an installed one.
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "MINIKD_TUTORIAL_FAST": "1", "MPLBACKEND": "Agg", "MINIKD_BREAK": "0",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MINIKD_TUTORIAL_OUTPUT": str(output_dir), "PYTHONPATH": pythonpath}


def run_as_script(path, workdir):
    """Run ``python tutorials/NN_name.py`` in ``workdir``; figures go to ``workdir / "output"``."""
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(path)],
        cwd=workdir, env=tutorial_env(workdir / "output"), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"{path.name} failed:\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )


def run_as_notebook(path, workdir):
    """Convert ``path`` to ``workdir / NN_name.ipynb`` with jupytext and execute it there with nbclient."""
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")  # provides the python3 kernel

    ipynb = workdir / f"{path.stem}.ipynb"
    jupytext.write(jupytext.read(path), ipynb, fmt="ipynb")   # = jupytext --to ipynb NN_name.py
    notebook = nbformat.read(ipynb, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(SETUP_CELL))
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(workdir)}})  # the kernel's cwd
    error = None
    try:
        client.execute(env=tutorial_env(workdir / "output"))
    except nbclient.exceptions.CellExecutionError as exc:  # its message: the cell and its traceback
        error = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # without the traceback's terminal colours
    if error is not None:
        pytest.fail(f"{path.name} failed as a notebook:\n{error[-6000:]}", pytrace=False)
    return notebook


def assert_figures_written(path, workdir):
    """A tutorial that saves figures saved them under MINIKD_TUTORIAL_OUTPUT (if matplotlib is there)."""
    if HAVE_MATPLOTLIB and "savefig(" in path.read_text():
        output = workdir / "output"
        figures = sorted(p.name for p in output.glob("*.png"))
        assert figures and all(name.startswith(path.stem) for name in figures), (
            f"{path.name} saved no figure named after it in MINIKD_TUTORIAL_OUTPUT={output}: {figures}")


def test_tutorials_exist_and_are_listed():
    assert len(TUTORIALS) >= 9
    index = (TUTORIALS[0].parent / "README.md").read_text()
    for path in TUTORIALS:
        assert path.name in index, f"{path.name} is not listed in tutorials/README.md"


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_names_source_files_instead_of_linking_them(path):
    """A Markdown link to ../minikd/... works on GitHub but is a missing cross-reference on the docs site
    (a -W build fails): name the file in backticks; the site links the names it finds to the API."""
    links = re.findall(r"\]\((\.\./[^)]*)\)", path.read_text())
    assert not links, f"relative links {links}: write `Name` (`minikd/...py`) instead"


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_follows_the_output_convention(path):
    # A notebook has no __file__: a tutorial may use it only behind the guard of the convention, and
    # names its figures after a STEM that must match its file name.
    text = path.read_text()
    uses = [line for line in text.splitlines() if "__file__" in line and not line.lstrip().startswith("#")]
    assert all('if "__file__" in globals() else' in line for line in uses), uses
    if "savefig(" in text:
        assert 'os.environ.get("MINIKD_TUTORIAL_OUTPUT")' in text
        assert f'STEM = "{path.stem}"' in text


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_runs(path, tmp_path):
    run_as_script(path, tmp_path)
    assert_figures_written(path, tmp_path)


def assert_figures_shown(path, notebook):
    """Each figure a tutorial saves is also an image in the executed notebook (what the docs site shows)."""
    saved = path.read_text().count("savefig(")
    if HAVE_MATPLOTLIB and saved:
        shown = sum("image/png" in output.get("data", {})
                    for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", ()))
        assert shown >= saved, (
            f"{path.name} saves {saved} figure(s) but shows {shown} in the notebook: after savefig, display the PNG "
            "when run in IPython, as the other tutorials do (tutorials/README.md, Where figures go)")


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_runs_as_notebook(path, tmp_path):
    notebook = run_as_notebook(path, tmp_path)
    assert_figures_written(path, tmp_path)
    assert_figures_shown(path, notebook)


def snapshot(folder):
    """Every file under ``folder`` with its size and modification time (an overwritten figure shows)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_running_tutorials_leaves_the_tutorials_folder_unchanged(tmp_path):
    # `git status --ignored` would not see a figure that is overwritten (it is ignored before and after),
    # hence sizes and modification times. Tutorial 01 writes a figure and is among the quickest.
    path = TUTORIALS[0]
    before = snapshot(path.parent)
    run_as_script(path, tmp_path)
    if all(importlib.util.find_spec(name) for name in ("jupytext", "nbformat", "nbclient", "ipykernel")):
        run_as_notebook(path, tmp_path)
    assert snapshot(path.parent) == before
