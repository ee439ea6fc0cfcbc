"""Target 4 -- memory: peak RSS of ``python -m minikd``, and no per-epoch copies of the data set.

Three measurements:

1. **Peak resident memory** (``ru_maxrss``) of fresh processes: ``import numpy``, ``import
   minikd``, and the demo ``python -m minikd --quiet`` with its defaults. Each command runs
   under its own small parent process, so ``RUSAGE_CHILDREN`` sees that command alone. Also
   checks that minikd never imports torch. Target: the demo under 100 MB.
2. **Allocations during training** (``tracemalloc``, which NumPy reports its buffers to):
   a 65,536 x 64 float64 data set (32 MiB), student [64, 32, 10], batch 32, 3 epochs. For every
   epoch, the peak of the memory allocated *during that epoch* above what was allocated when
   it started; a copy of the data set would show up as >= 32 MiB. Also what ``train()``
   allocates before its first epoch (the teacher-logit cache, N x C, and, for a float32
   student given float64 data, one float32 copy of X).
3. **Page faults per epoch** of the Hinton-size float32 model (784-1200-1200-10, 8,192 samples,
   batch 128): fresh arrays from every matmul could cost page faults if the allocator returned
   them to the OS; 0 minor faults means the allocator recycles them, so preallocated output
   buffers (``out=``) would buy nothing.

Run:  python benchmarks/bench_memory.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tracemalloc

import numpy as np
from _common import REPO, parser, print_machine, set_threads, table

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer

MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mb(command: list[str]) -> float:
    """Peak resident set size (MB) of ``command`` run in a fresh process (Linux: ru_maxrss in KiB)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True,
                         cwd=REPO)
    return int(out.stdout.strip()) / 1024


def rss_table() -> str:
    py = sys.executable
    rows = []
    for label, cmd in (("python -c 'import numpy'", [py, "-c", "import numpy"]),
                       ("python -c 'import minikd'", [py, "-c", "import minikd"]),
                       ("python -m minikd --quiet (the demo, defaults)", [py, "-m", "minikd", "--quiet"])):
        rows.append([label, f"{peak_rss_mb(cmd):.1f}"])
    check = subprocess.run([py, "-c", "import sys, minikd.__main__ as demo; "
                            "demo.main(['--quiet', '--epochs', '2', '--seeds', '1']); print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True, cwd=REPO)
    imported = check.stdout.strip().splitlines()[-1]
    return table(["command", "peak RSS (MB)"], rows) + f"\n\ntorch imported by minikd (demo run): {imported}"


def allocation_table() -> str:
    rng = np.random.default_rng(0)
    n, d = 65_536, 64
    X = rng.random((n, d))  # float64, 32 MiB
    y = rng.integers(0, 10, n)
    teacher = MLP([d, 10], seed=0)
    rows = []
    for dtype in (np.float64, np.float32):

        class Probe:
            """Callback: memory allocated by train() before epoch 1, and the peak during every epoch."""

            def __init__(self):
                self.per_epoch = []

            def on_train_begin(self, trainer, logs):
                self.start = tracemalloc.get_traced_memory()[1]  # peak so far: train()'s setup
                tracemalloc.reset_peak()
                self.base = tracemalloc.get_traced_memory()[0]

            def on_epoch_end(self, epoch, logs):
                self.per_epoch.append(tracemalloc.get_traced_memory()[1] - self.base)
                tracemalloc.reset_peak()
                self.base = tracemalloc.get_traced_memory()[0]

        probe = Probe()
        trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
        student = MLP([d, 32, 10], seed=1, dtype=dtype)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        trainer.train(student, X, y, epochs=3, batch_size=32, optimizer=SGD(0.05, momentum=0.9),
                      callbacks=[probe], verbose=0)
        tracemalloc.stop()
        setup = probe.start - before
        rows.append([f"{np.dtype(dtype).name} student, float64 X ({X.nbytes / 2**20:.0f} MiB)",
                     f"{setup / 2**20:.2f}", ", ".join(f"{b / 2**20:.2f}" for b in probe.per_epoch)])
    return table(["run", "peak allocated by train() before epoch 1 (MiB)",
                  "peak allocated during each epoch (MiB)"], rows)


def page_fault_line() -> str:
    rng = np.random.default_rng(0)
    X = rng.random((8192, 784), dtype=np.float32)
    y = rng.integers(0, 10, 8192)
    trainer = KnowledgeDistillationTrainer(MLP([784, 10], seed=0, dtype=np.float32),
                                           DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    student = MLP([784, 1200, 1200, 10], seed=1, dtype=np.float32)
    optimizer = SGD(0.01, momentum=0.9)
    trainer.train(student, X, y, epochs=1, batch_size=128, optimizer=optimizer, verbose=0)  # warm up
    faults = []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        trainer.train(student, X, y, epochs=1, batch_size=128, optimizer=optimizer, verbose=0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return (f"minor page faults per epoch, 784-1200-1200-10 float32, 64 batches of 128 (3 epochs): {faults} "
            "(each train() call also rebuilds its teacher cache, 8192 x 10)")


def main(argv=None):
    args = parser(__doc__.splitlines()[0], repeats=1).parse_args(argv)
    threads = set_threads(args.threads)
    print_machine(None, threads)
    print(rss_table())
    print()
    print(allocation_table())
    print()
    print(page_fault_line())


if __name__ == "__main__":
    main()
