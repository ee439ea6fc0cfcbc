"""The optimizer update of a Hinton-size student: whole arrays against cache-sized row blocks.

``minikd.optim`` updates a parameter larger than ``BLOCK_BYTES`` (256 KiB) block by block
(``_row_blocks``), so that the update's passes (``v *= m``, ``v += g``, ``lr * v``, ``W -= ...``)
after the first find the block still in the L2 cache. This script measures what that buys on
the target-2 workload (one epoch of a 784-1200-1200-10 float32 student, batch 128, 8,192
samples, SGD with momentum 0.9), for several block sizes and for no blocking at all
(``BLOCK_BYTES`` = 10^12: every array is one block). Configurations are interleaved in each
round; reported are the medians of the epoch time and of the time spent in ``optimizer._step``,
and the speed-up of each over no blocking, per round then median.

Run:  python benchmarks/bench_update.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import time

import numpy as np
from _common import accumulate_time, median, parser, print_machine, set_threads, table

import minikd.optim
from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer

NO_BLOCKING = 10**12
BLOCK_SIZES = [NO_BLOCKING, 64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024]


def epoch(X, y, teacher, block_bytes):
    """One training epoch with ``BLOCK_BYTES = block_bytes``: (epoch seconds, update seconds)."""
    minikd.optim.BLOCK_BYTES = block_bytes
    optimizer = SGD(learning_rate=0.01, momentum=0.9)
    spent = accumulate_time(optimizer, "_step")  # seconds inside optimizer._step
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    t0 = time.perf_counter()
    trainer.train(MLP([784, 1200, 1200, 10], seed=1, dtype=np.float32), X, y, epochs=1, batch_size=128,
                  optimizer=optimizer, verbose=0)
    return time.perf_counter() - t0, spent[0]


def main(argv=None):
    args = parser(__doc__.splitlines()[0], repeats=5).parse_args(argv)
    threads = set_threads(args.threads)
    print_machine(None, threads)
    rng = np.random.default_rng(0)
    X, y = rng.random((8192, 784), dtype=np.float32), rng.integers(0, 10, 8192)
    teacher = MLP([784, 10], seed=0, dtype=np.float32)
    default = minikd.optim.BLOCK_BYTES
    results = {b: [] for b in BLOCK_SIZES}
    try:
        for round_ in range(args.repeats + 1):  # round 0 warms up and is not counted
            for block_bytes in BLOCK_SIZES:
                result = epoch(X, y, teacher, block_bytes)
                if round_:
                    results[block_bytes].append(result)
    finally:
        minikd.optim.BLOCK_BYTES = default
    base = results[NO_BLOCKING]
    rows = []
    for block_bytes, runs in results.items():
        label = "no blocking" if block_bytes == NO_BLOCKING else f"{block_bytes // 1024} KiB"
        if block_bytes == default:
            label += " (minikd's default)"
        rows.append([
            label, f"{median([r[0] for r in runs]):.3f}", f"{1e3 * median([r[1] for r in runs]) / 64:.2f}",
            f"{median([b[1] / r[1] for b, r in zip(base, runs, strict=True)]):.2f}x",
            f"{median([b[0] / r[0] for b, r in zip(base, runs, strict=True)]):.2f}x",
        ])
    print(f"784-1200-1200-10 float32 student, 1 epoch (64 steps of batch 128), SGD momentum 0.9; "
          f"{args.repeats} interleaved rounds\n")
    print(table(["block size", "epoch s", "update ms/step", "update speed-up", "epoch speed-up"], rows))


if __name__ == "__main__":
    main()
