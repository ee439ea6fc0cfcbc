"""Every tutorial runs as a plain script (small settings) and its own assertions hold.

Each tutorial reads ``MINIKD_TUTORIAL_FAST=1`` and shrinks its epochs, seeds and sweeps; the
claims it makes are asserted inside the tutorial, so a tutorial whose claim stops being true
fails here. RuntimeWarnings are errors, as in the rest of the suite.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parent.parent / "tutorials").glob("[0-9][0-9]_*.py"))


def test_tutorials_exist_and_are_listed():
    assert len(TUTORIALS) >= 9
    index = (TUTORIALS[0].parent / "README.md").read_text()
    for path in TUTORIALS:
        assert path.name in index, f"{path.name} is not listed in tutorials/README.md"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    # One BLAS thread: the tutorials multiply small matrices, where a second OpenBLAS thread only
    # adds hand-off cost (and, on a busy 2-core machine, made them up to 20x slower).
    env = {**os.environ, "MINIKD_TUTORIAL_FAST": "1", "MPLBACKEND": "Agg", "MINIKD_BREAK": "0",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, (
        f"{path.name} failed:\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )
