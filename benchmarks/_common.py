"""Shared helpers of the benchmark scripts: machine description, thread control, timing, tables.

Every script in this directory imports this module (``python benchmarks/<script>.py`` puts this
directory on ``sys.path``), and every script runs on its own. PyTorch is optional: without it the
PyTorch columns are skipped with a message.

Timing rules used by every script
---------------------------------
- Each figure is the **median** of ``--repeats`` runs (default >= 5), never the best run.
- minikd and PyTorch runs are **interleaved** (minikd, torch, minikd, torch, ...), and the ratio
  is computed per pair and then its median is reported, so a burst of load from another process
  hits both sides alike.
- Both libraries use the **same number of threads**: NumPy's BLAS through threadpoolctl,
  PyTorch through ``torch.set_num_threads``.
- Wall time (``time.perf_counter``) is the headline. CPU time of the process
  (``time.process_time``, summed over its threads) is printed next to it: on a shared machine
  it is less sensitive to being descheduled.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
try:  # an installed minikd (or one on PYTHONPATH, as ab_compare.py uses) wins
    import minikd  # noqa: F401
except ImportError:  # run from a checkout without installing minikd
    sys.path.insert(0, str(REPO))

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


# ----------------------------------------------------------------------------- command line
def parser(description: str, repeats: int = 7) -> argparse.ArgumentParser:
    """An argument parser with the options every script shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeats", type=int, default=repeats, help="timed runs per configuration (median)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both libraries (default: NumPy's BLAS thread count)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    return p


# ----------------------------------------------------------------------------- threads and torch
def blas_info() -> dict:
    """NumPy's BLAS as threadpoolctl sees it: library, version, kernel (architecture), threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"internal_api": "unknown (threadpoolctl not installed)"}
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    numpy_own = [info for info in blas if "numpy" in info.get("filepath", "")]  # numpy.libs/...
    if numpy_own or blas:
        return (numpy_own or blas)[0]
    return {"internal_api": "unknown"}


def set_threads(n: int | None, torch=None) -> int:
    """Use ``n`` threads in NumPy's BLAS (and PyTorch); return the count in use.

    ``None`` keeps NumPy's current BLAS thread count and gives PyTorch the same number.
    """
    if n is None:
        n = int(blas_info().get("num_threads", 1))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass
    if torch is not None:
        torch.set_num_threads(n)
    return n


def import_torch(disabled: bool = False):
    """``torch``, or None (with a message saying why the PyTorch column is skipped)."""
    if disabled:
        print("PyTorch comparison skipped (--no-torch).")
        return None
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: the PyTorch columns are skipped "
              "(pip install torch==2.13.0, CPU build, to get them).")
        return None
    return torch


def torch_mlp(torch, model, dtype):
    """The ``nn.Sequential`` equivalent to a minikd MLP, with the same weights (minikd.interop)."""
    from minikd.interop import to_torch_state_dict, torch_sequential_spec

    layers = [getattr(torch.nn, name)(*args) for name, *args in torch_sequential_spec(model)]
    net = torch.nn.Sequential(*layers).to(dtype)
    net.load_state_dict({k: torch.from_numpy(a) for k, a in to_torch_state_dict(model).items()})
    return net


# ----------------------------------------------------------------------------- machine
def machine_lines(torch=None, threads: int | None = None) -> list[str]:
    """A description of the machine and the libraries, for the top of every report."""
    blas = blas_info()
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    env = ", ".join(f"{k}={os.environ[k]}" for k in BLAS_ENV if k in os.environ) or "none set"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines = [
        f"machine: {cpu}, {os.cpu_count()} logical cores, load average {load} (1, 5, 15 min)",
        f"python {platform.python_version()}, numpy {np.__version__}, BLAS {blas.get('internal_api')} "
        f"{blas.get('version', '')} kernel {blas.get('architecture', '?')} "
        f"threading {blas.get('threading_layer', '?')}",
        f"BLAS environment variables: {env}",
    ]
    if torch is not None:
        lines.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads; MKL "
                     f"{torch.backends.mkl.is_available()}, oneDNN {torch.backends.mkldnn.is_available()})")
    if threads is not None:
        lines.append(f"threads used by both libraries: {threads}")
    return lines


def print_machine(torch=None, threads: int | None = None) -> None:
    for line in machine_lines(torch, threads):
        print(line)
    print()


# ----------------------------------------------------------------------------- timing
def timed(fn, *args, **kwargs) -> tuple[float, float, object]:
    """Run ``fn`` once; return (wall seconds, process CPU seconds, result)."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, result


def accumulate_time(obj, method: str) -> list:
    """Wrap ``obj.method`` so that each call adds its wall seconds to the returned ``[total]``."""
    spent = [0.0]
    inner = getattr(obj, method)

    def timed_call(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    setattr(obj, method, timed_call)
    return spent


def median(values) -> float:
    return float(statistics.median(values))


def sgemm_gflops(n: int = 1024, repeats: int = 9, dtype=np.float32) -> float:
    """Median throughput (GFLOP/s) of an n x n x n NumPy matmul: the machine's matmul ceiling."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    a @ b  # warm up (threads, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2.0 * n**3 / median(times) / 1e9


# ----------------------------------------------------------------------------- tables
def table(header: list[str], rows: list[list]) -> str:
    """A GitHub-markdown table (so it can be pasted into README.md as is)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    lines = [fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(r) for r in cells[1:]]
    return "\n".join(lines)
