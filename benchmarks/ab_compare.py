"""Before/after: time the same minikd workloads under several source trees, interleaved.

How the "before -> after" figures in README.md were measured. Give it directories that each
contain a ``minikd/`` package (e.g. ``git worktree add /tmp/before <commit>``, or a copy of the
package at each optimisation stage); each run is a fresh subprocess with that directory first
on ``PYTHONPATH``, and the trees take turns (A, B, C, A, B, C, ...) so that load from other
processes hits them alike. Reported: the median over ``--repeats`` rounds, and each tree's
median speed-up over the first tree, computed per round.

Workloads (minikd only, no PyTorch):

- ``small64`` / ``small32``: 60 epochs of the target-1 loop (student [64, 32, 10], 1,203 digits
  training samples, batch 32, DistillationLoss(T=4, alpha=0.1) with labels, SGD momentum);
  the teacher is an untrained [64, 256, 256, 10] MLP here (its logits are cached; only the
  student's steps are timed, and they cost the same whatever the teacher learned).
- ``hinton``: one epoch of the target-2 loop (784-1200-1200-10 float32 student, batch 128,
  8,192 synthetic samples, cached logits of a linear teacher).

Run:  python benchmarks/ab_compare.py DIR_BEFORE DIR_AFTER [...] [--workloads small64,hinton]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
import minikd
from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer
assert minikd.__file__.startswith(sys.argv[3]), (minikd.__file__, sys.argv[3])
threadpool_limits(int(sys.argv[2]), user_api="blas")
workload = sys.argv[1]
if workload.startswith("small"):
    from minikd.datasets import load_digits, train_test_split
    dtype = np.float64 if workload == "small64" else np.float32
    X, y = load_digits()
    X, _, y, _ = train_test_split(X, y, test_size=0.33, seed=0)
    teacher, sizes, epochs, batch, lr = MLP([64, 256, 256, 10], seed=0), [64, 32, 10], 60, 32, 0.05
else:
    dtype = np.float32
    rng = np.random.default_rng(0)
    X, y = rng.random((8192, 784), dtype=np.float32), rng.integers(0, 10, 8192)
    teacher, sizes, epochs, batch, lr = MLP([784, 10], seed=0, dtype=dtype), [784, 1200, 1200, 10], 1, 128, 0.01

def run(epochs):
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    t0 = time.perf_counter()
    trainer.train(MLP(sizes, seed=1, dtype=dtype), X, y, epochs=epochs, batch_size=batch,
                  optimizer=SGD(learning_rate=lr, momentum=0.9), verbose=0)
    return time.perf_counter() - t0

run(1)  # warm up
print(run(epochs))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trees", nargs="+", help="directories that contain a minikd/ package")
    p.add_argument("--workloads", default="small64,small32,hinton")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = p.parse_args(argv)
    trees = [os.path.abspath(t) for t in args.trees]
    for t in trees:
        if not os.path.isfile(os.path.join(t, "minikd", "__init__.py")):
            p.error(f"{t} has no minikd/ package")
    print(f"load average {os.getloadavg()[0]:.1f}; BLAS threads {args.threads}; {args.repeats} interleaved rounds")
    for workload in args.workloads.split(","):
        times = {t: [] for t in trees}
        for _ in range(args.repeats):
            for t in trees:
                env = dict(os.environ, PYTHONPATH=t)
                out = subprocess.run([sys.executable, "-c", CHILD, workload, str(args.threads), t], env=env,
                                     capture_output=True, text=True, check=True, cwd=t)
                times[t].append(float(out.stdout.strip().splitlines()[-1]))
        base = times[trees[0]]
        print(f"\n{workload}")
        for t in trees:
            speedup = statistics.median(b / x for b, x in zip(base, times[t], strict=True))
            print(f"  {t:40s} median {statistics.median(times[t]):8.3f} s   speed-up vs first {speedup:5.2f}x")


if __name__ == "__main__":
    main()
