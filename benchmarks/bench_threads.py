"""BLAS threads: where a second thread pays, and what minikd's one-thread rule does end to end.

Three parts (``--parts sweep,cli,hinton``, default all):

- ``sweep``: the threshold of ``minikd._threads.SMALL_MATMUL``. Students ``[64, H, H, 10]``
  (float32, batch 32 and 128) and the Hinton-size ``[784, 1200, 1200, 10]`` at batch 128,
  trained in this process on synthetic data with cached logits of a linear teacher, with
  BLAS limited to 1 thread and to NumPy's default count in turn (``threadpoolctl``;
  ``MINIKD_BLAS_THREADS=off`` so minikd's own rule stays out of it). Reported per
  configuration: the largest matmul of a step (multiply-adds, N x fan_in x fan_out), the
  median step time on each thread count, and their ratio (> 1: the threads pay).
- ``cli``: ``python -m minikd --quiet`` in fresh subprocesses, three environments taking turns
  in every round: minikd's rule switched off (``MINIKD_BLAS_THREADS=off``, i.e. the code before
  the change, NumPy's default threads), the rule on (the default), and one thread forced with
  ``OPENBLAS_NUM_THREADS=1``; idle, then with two busy background processes.
- ``hinton``: one epoch of the Hinton-size student (4,096 random samples, batch 128) in fresh
  subprocesses, the same three environments: the rule must leave it on NumPy's default threads.

Busy rounds: two ``python -c`` loops that spin for at most ``--busy-limit`` seconds (so they end
even if this script dies) are started before the busy rounds and killed after them. Every table
gives the 1-minute load averages (``os.getloadavg``) seen at its measurements: other people's
work on a shared machine shows there. Figures are medians over rounds; ratios are taken per
round (same round, interleaved) and then their median. The BLAS variables
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` are passed on as found (printed at the top).

Run:  python benchmarks/bench_threads.py [--parts sweep,cli,hinton] [--repeats 5]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
from _common import REPO, median, parser, print_machine, table

CLEAN = ("MINIKD_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
ENVS = {  # label -> extra environment of the child process
    "rule off (before), default threads": {"MINIKD_BLAS_THREADS": "off"},
    "rule on (after), default threads": {},
    "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"},
}

HINTON_CHILD = r"""
import time
import numpy as np
from threadpoolctl import threadpool_info
from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer
seen = []  # BLAS threads in force inside train(), seen by a callback
blas = lambda: max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
rng = np.random.default_rng(0)
X, y = rng.random((4096, 784), dtype=np.float32), rng.integers(0, 10, 4096)
teacher = MLP([784, 10], seed=0, dtype=np.float32)
def epoch():
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    t0 = time.perf_counter()
    trainer.train(MLP([784, 1200, 1200, 10], seed=1, dtype=np.float32), X, y, epochs=1, batch_size=128,
                  optimizer=SGD(learning_rate=0.01, momentum=0.9), verbose=0,
                  callbacks=[lambda epoch, logs: seen.append(blas())])
    return time.perf_counter() - t0
epoch()  # warm up
print(seen[-1], epoch())
"""


inside: dict = {}  # label -> BLAS thread counts the child saw inside train() (Hinton part)


def child_env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def load1() -> float:
    return os.getloadavg()[0]


@contextmanager
def busy(n: int, limit: float):
    """``n`` background processes that spin for at most ``limit`` seconds; killed on exit."""
    code = f"import time\nend = time.time() + {limit}\nwhile time.time() < end: pass"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        time.sleep(2.0)  # let them take their cores
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(timeout=30)


# ----------------------------------------------------------------------------- sweep
def sweep(repeats: int) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    import minikd._threads as threads
    from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer

    os.environ["MINIKD_BLAS_THREADS"] = "off"  # this part sets the thread count itself
    default = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    configs = [([64, h, h, 10], 32) for h in (128, 256, 512, 768, 1024, 1536)]
    configs += [([64, h, h, 10], 128) for h in (64, 128, 256, 384, 512, 640, 768, 1024)]
    configs.append(([784, 1200, 1200, 10], 128))
    rng = np.random.default_rng(0)
    rows, loads = [], []
    for sizes, batch in configs:
        student = MLP(sizes, seed=1, dtype=np.float32)
        macs = threads.largest_matmul(student, batch)
        steps = int(np.clip(0.25 / (100e-6 + 6 * macs / 60e9), 8, 400))  # ~0.25 s per timing
        X = rng.random((steps * batch, sizes[0]), dtype=np.float32)
        y = rng.integers(0, sizes[-1], steps * batch)
        teacher = MLP([sizes[0], sizes[-1]], seed=0, dtype=np.float32)
        times = {1: [], default: []}
        for r in range(repeats + 1):  # round 0 warms up
            for n in times:
                trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
                with threadpool_limits(limits=n, user_api="blas"):
                    history = trainer.train(student.copy(), X, y, epochs=1, batch_size=batch,
                                            optimizer=SGD(learning_rate=0.01, momentum=0.9), verbose=0)
                if r:
                    times[n].append(history.epoch_time[-1] / steps)
            loads.append(load1())
        ratio = median(a / b for a, b in zip(times[1], times[default], strict=True))
        rows.append([str(sizes), batch, f"{macs:,}", f"{1e6 * median(times[1]):.0f}",
                     f"{1e6 * median(times[default]):.0f}", f"**{ratio:.2f}x**" if ratio > 1 else f"{ratio:.2f}x",
                     "1 thread" if macs < threads.SMALL_MATMUL else "default"])
    print(f"### sweep: step time, 1 vs {default} BLAS threads ({repeats} interleaved rounds; "
          f"load average (1 min) {min(loads):.1f}–{max(loads):.1f})\n")
    print(table(["student", "batch", "largest matmul (mult-adds)", "1 thread µs/step", f"{default} threads µs/step",
                 f"speed-up of {default} threads", f"rule (SMALL_MATMUL = {threads.SMALL_MATMUL:,})"], rows))
    print()


# ----------------------------------------------------------------------------- subprocess parts
def rounds(command: list[str], repeats: int, parse) -> tuple[dict, list]:
    """Run ``command`` under each of ENVS in turn, ``repeats`` rounds; return times and loads."""
    times, loads = {label: [] for label in ENVS}, []
    inside.clear()
    for _ in range(repeats):
        for label, extra in ENVS.items():
            loads.append(load1())
            t0 = time.perf_counter()
            out = subprocess.run(command, env=child_env(extra), capture_output=True, text=True, check=True,
                                 cwd=REPO, timeout=600)
            times[label].append(parse(out.stdout, time.perf_counter() - t0))
            if len(out.stdout.split()) == 2:  # the Hinton child prints "threads seconds"
                inside.setdefault(label, []).append(out.stdout.split()[0])
    return times, loads


def report(title: str, times: dict, loads: list) -> None:
    base = times["OPENBLAS_NUM_THREADS=1"]
    rows = [[label, f"{median(v):.2f}", f"{min(v):.2f}–{max(v):.2f}",
             f"{median(a / b for a, b in zip(v, base, strict=True)):.2f}x"] for label, v in times.items()]
    header = ["environment", "median s", "range s", "time / one-thread time (median of rounds)"]
    if inside:
        header.append("BLAS threads inside train()")
        for row, label in zip(rows, times, strict=True):
            row.append(", ".join(sorted(set(inside[label]))))
    print(f"### {title} ({len(base)} interleaved rounds; load average (1 min) at the runs "
          f"{min(loads):.1f}–{max(loads):.1f})\n")
    print(table(header, rows))
    print()


def cli(repeats: int, busy_limit: float) -> None:
    command = [sys.executable, "-m", "minikd", "--quiet"]
    wall = lambda stdout, seconds: seconds  # noqa: E731 (the whole process, as a user sees it)
    subprocess.run(command, env=child_env({}), capture_output=True, check=True, cwd=REPO)  # warm the file cache
    report("`python -m minikd --quiet`, idle (no load of ours)", *rounds(command, repeats, wall))
    with busy(2, busy_limit):
        times, loads = rounds(command, repeats, wall)
    report("`python -m minikd --quiet`, two busy background processes", times, loads)


def hinton(repeats: int, busy_limit: float, with_busy: bool) -> None:
    command = [sys.executable, "-c", HINTON_CHILD]
    inner = lambda stdout, seconds: float(stdout.split()[-1])  # noqa: E731 (the timed epoch)
    report("Hinton-size epoch (784-1200-1200-10 float32, batch 128, 4,096 samples), idle",
           *rounds(command, repeats, inner))
    if with_busy:
        with busy(2, busy_limit):
            times, loads = rounds(command, repeats, inner)
        report("Hinton-size epoch, two busy background processes", times, loads)


def main(argv=None):
    p = parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--parts", default="sweep,cli,hinton")
    p.add_argument("--busy-limit", type=float, default=900.0,
                   help="seconds after which the busy background processes stop on their own")
    p.add_argument("--hinton-busy", action="store_true", help="also time the Hinton epoch under load")
    args = p.parse_args(argv)
    print_machine()
    parts = args.parts.split(",")
    if "sweep" in parts:
        sweep(args.repeats)
    if "cli" in parts:
        cli(args.repeats, args.busy_limit)
    if "hinton" in parts:
        hinton(args.repeats, args.busy_limit, args.hinton_busy)


if __name__ == "__main__":
    main()
