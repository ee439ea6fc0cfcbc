"""Target 5 -- scaling: epoch time is linear in the number of samples and in the number of batches.

Student [64, 32, 10] (float64), synthetic data with 64 features, cached logits of a linear
teacher, DistillationLoss(T=4, alpha=0.1) with labels, SGD momentum. The epoch time is
``History.epoch_time`` (the loop only: no teacher, no setup), the median of 2 x ``--repeats``
epochs; the configurations of a sweep take turns (2 epochs each), so a burst of load from
another process does not land on one configuration only.

1. N = 1k, 2k, ..., 64k at batch 32 (so the batch count grows with N): fitted exponent b of
   ``time ~ N^b`` (least squares on log-log; 1 is linear).
2. N = 16k with batch sizes 16 ... 512 (batch count 1024 ... 32): the same fit against the
   batch count, and a linear fit ``time = a + c * batches`` (c is the cost of one step beyond
   the per-sample work).

Run:  python benchmarks/bench_scaling.py [--repeats 5]
"""

from __future__ import annotations

import numpy as np
from _common import median, parser, print_machine, set_threads, table

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer


def epoch_times(X, y, teacher, batch, epochs) -> list[float]:
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    history = trainer.train(MLP([64, 32, 10], seed=1), X, y, epochs=epochs, batch_size=batch,
                            optimizer=SGD(0.01, momentum=0.9), verbose=0)
    return history.epoch_time


def sweep(configs, repeats) -> list[float]:
    """Median epoch time of each (X, y, teacher, batch) config; the configs take turns, 2 epochs each."""
    times = [[] for _ in configs]
    for _ in range(repeats):
        for k, config in enumerate(configs):
            times[k] += epoch_times(*config, epochs=2)
    return [median(t) for t in times]


def exponent(x, t) -> float:
    """Least-squares slope of log t against log x."""
    return float(np.polyfit(np.log(x), np.log(t), 1)[0])


def main(argv=None):
    args = parser(__doc__.splitlines()[0], repeats=5).parse_args(argv)
    threads = set_threads(args.threads)
    print_machine(None, threads)
    rng = np.random.default_rng(0)
    X_all = rng.random((65_536, 64))
    y_all = rng.integers(0, 10, 65_536)
    teacher = MLP([64, 10], seed=0)

    sizes = [1024 * 2**k for k in range(7)]
    times = sweep([(X_all[:n], y_all[:n], teacher, 32) for n in sizes], args.repeats)
    rows = [[f"{n:,}", -(-n // 32), f"{1e3 * t:.1f}", f"{1e6 * t / n:.2f}"] for n, t in zip(sizes, times, strict=True)]
    print(table(["N (batch 32)", "batches", "epoch ms", "µs per sample"], rows))
    print(f"\nfitted exponent of epoch time vs N: **{exponent(sizes, times):.3f}** (1 = linear)\n")

    n = 16_384
    batches = [16, 32, 64, 128, 256, 512]
    counts = [-(-n // b) for b in batches]
    times = sweep([(X_all[:n], y_all[:n], teacher, b) for b in batches], args.repeats)
    rows = [[b, c, f"{1e3 * t:.1f}", f"{1e6 * t / c:.1f}"] for b, c, t in zip(batches, counts, times, strict=True)]
    print(table([f"batch size (N = {n:,})", "batches", "epoch ms", "µs per batch"], rows))
    slope, intercept = np.polyfit(counts, times, 1)
    fitted = intercept + slope * np.array(counts)
    r2 = 1 - np.sum((np.array(times) - fitted) ** 2) / np.sum((np.array(times) - np.mean(times)) ** 2)
    print(f"\nlinear fit: epoch time = {1e3 * intercept:.1f} ms + {1e6 * slope:.1f} µs x batches (R² = {r2:.3f}): "
          "a fixed cost per step plus the per-sample work, which does not depend on how the samples are batched. "
          f"(The log-log exponent against the batch count, {exponent(counts, times):.3f}, is below 1 because of "
          "that per-sample part.)")


if __name__ == "__main__":
    main()
