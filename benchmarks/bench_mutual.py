"""What one epoch of mutual learning costs, against training the same students alone or by distillation.

One digits epoch (1,203 training samples, batch 32) for each configuration below, trained in this
process; the configurations take turns in every round, so load from other processes hits them alike.
Each figure is the median over ``--repeats`` rounds of the per-epoch time of a 4-epoch run
(``History.epoch_time``, epochs 2-4); each ratio is taken per round against that round's
"2 students alone" (two ``SupervisedTrainer`` epochs, one per student, summed), then its median.

- ``2 students alone``: two [64, 32, 10] students, one ``SupervisedTrainer`` epoch each (the baseline);
- ``2 students, KD``: each distilled from a [64, 256, 256, 10] teacher (its logits cached once per
  ``train`` call, so an epoch does not run the teacher);
- ``mutual, K=2``: ``MutualLearningTrainer`` (simultaneous), the two students together: per batch two
  peer forward passes (no dropout) besides the two training steps;
- ``mutual, K=2, sequential``: Algorithm 1, one more forward pass per student per batch;
- ``mutual, K=3``: three students (the baseline is then scaled by 3/2 for the ratio: per student).

BLAS is limited to one thread (minikd's own rule for a model this small). ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` are left as found.

Run:  python benchmarks/bench_mutual.py [--repeats 7]
"""

from __future__ import annotations

import os

from _common import median, parser, print_machine, table

from minikd import (
    MLP,
    SGD,
    DistillationLoss,
    KnowledgeDistillationTrainer,
    MutualLearningTrainer,
    SupervisedTrainer,
)
from minikd.datasets import load_digits, train_test_split

EPOCHS, BATCH = 4, 32


def _students(k):
    return [MLP([64, 32, 10], seed=1 + i) for i in range(k)]


def _epoch(histories):
    """The per-epoch time of a run (median of epochs 2-4); for separate runs, their sum."""
    return sum(median(h.epoch_time[1:]) for h in histories)


def main(argv=None):
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    from threadpoolctl import threadpool_limits

    print_machine(threads=1)
    X, y = load_digits()
    X, _, y, _ = train_test_split(X, y, test_size=0.33, seed=0)
    teacher = MLP([64, 256, 256, 10], seed=0)
    strategy = DistillationLoss(temperature=1.0, alpha=0.5)
    kw = dict(epochs=EPOCHS, batch_size=BATCH, verbose=0)

    def alone():
        return [SupervisedTrainer(seed=0).train(s, X, y, optimizer=SGD(0.05, momentum=0.9), **kw)
                for s in _students(2)]

    def kd():
        return [KnowledgeDistillationTrainer(teacher, strategy, seed=0).train(s, X, y, optimizer=SGD(0.05, 0.9), **kw)
                for s in _students(2)]

    def mutual(k, update="simultaneous"):
        return lambda: MutualLearningTrainer(strategy, update=update, seed=0).train(
            _students(k), X, y, optimizer=lambda: SGD(0.05, momentum=0.9), **kw)

    configs = {"2 students alone": (alone, 2), "2 students, KD": (kd, 2), "mutual, K=2": (mutual(2), 2),
               "mutual, K=2, sequential": (mutual(2, "sequential"), 2), "mutual, K=3": (mutual(3), 3)}
    times = {name: [] for name in configs}
    loads = []
    with threadpool_limits(1, user_api="blas"):
        for _ in range(args.repeats):
            loads.append(os.getloadavg()[0])
            for name, (fn, _) in configs.items():
                histories = fn()
                # a cohort's students share one epoch: its time is in every history (count it once)
                times[name].append(median(histories[0].epoch_time[1:]) if name.startswith("mutual")
                                   else _epoch(histories))
    rows = []
    for name, ts in times.items():
        k = configs[name][1]
        ratios = [t / (base * k / 2) for t, base in zip(ts, times["2 students alone"], strict=True)]
        rows.append([name, f"{median(ts) * 1e3:.1f} ms", f"{median(ratios):.2f}x"])
    print(f"{args.repeats} interleaved rounds; 1-minute load average {min(loads):.1f}-{max(loads):.1f}")
    print("epoch: one epoch of 1,203 digits (38 steps per student), History.epoch_time, median of epochs 2-4")
    print(table(["configuration", "epoch, all students (median)", "per student vs alone (median of ratios)"], rows))


if __name__ == "__main__":
    main()
