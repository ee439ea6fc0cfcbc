"""What hidden-layer and relational losses, dropout and augmentation cost per epoch, against plain KD.

One digits epoch (1,203 training samples, batch 32, student [64, 32, 10], teacher [64, 256, 256, 10]
whose logits and requested hidden layers are cached at the start of each ``train`` call), for each
configuration below, trained in this process. The configurations take turns in every round (KD,
KD + hint, ..., KD, KD + hint, ...), so load from other processes hits them alike; each figure is the
median over ``--repeats`` rounds of the per-epoch time of a 4-epoch run (``History.epoch_time``,
epochs 2-4), and each ratio is taken per round against that round's plain-KD epoch, then its median.
The rest of each ``train`` call (argument checks, the teacher's cache) is reported apart, as "setup".

- ``KD``: ``DistillationLoss(4.0, 0.1)`` alone (the baseline);
- ``KD + hint``: plus ``HintLoss`` from the student's hidden layer (32) to the teacher's last (256)
  through the trained regressor;
- ``KD + cosine (logits)``: plus ``CosineHintLoss`` on the logits (its widths must be equal, and the
  hidden layers of this student and teacher differ: 32 and 256);
- ``KD + SP``, ``KD + PKT``: relational losses on the hidden layers (N x N Gram matrices);
- ``KD + RKD``: distance and angle terms on the logits (N^3 triplets);
- ``KD, dropout``: the student with ``dropout=0.2, input_dropout=0.1``;
- ``KD, augment``: ``augment=shift_digits`` (the teacher then runs on every batch: no cache).

BLAS is limited to one thread (minikd's own rule for a model this small). ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` are left as found.

Run:  python benchmarks/bench_features.py [--repeats 7]
"""

from __future__ import annotations

import os
import time

from _common import median, parser, print_machine, table

from minikd import MLP, SGD, CompositeStrategy, DistillationLoss, KnowledgeDistillationTrainer
from minikd.datasets import load_digits, shift_digits, train_test_split
from minikd.strategies import CosineHintLoss, HintLoss, PKTLoss, RKDLoss, SimilarityPreservingLoss


def configurations():
    kd = DistillationLoss(4.0, 0.1)

    def with_(term, w=1.0):
        return CompositeStrategy([(1.0, DistillationLoss(4.0, 0.1)), (w, term)])

    return {
        "KD": (kd, {}, {}),
        "KD + hint": (with_(HintLoss(student_layer=-1, teacher_layer=-1, seed=0), 0.5), {}, {}),
        "KD + cosine (logits)": (with_(CosineHintLoss("logits", "logits"), 0.5), {}, {}),
        "KD + SP": (with_(SimilarityPreservingLoss(), 3000.0), {}, {}),
        "KD + PKT": (with_(PKTLoss()), {}, {}),
        "KD + RKD": (with_(RKDLoss()), {}, {}),
        "KD, dropout": (kd, {"dropout": 0.2, "input_dropout": 0.1}, {}),
        "KD, augment": (kd, {}, {"augment": shift_digits}),
    }


def main(argv=None):
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    from threadpoolctl import threadpool_limits

    print_machine(threads=1)
    X, y = load_digits()
    X, _, y, _ = train_test_split(X, y, test_size=0.33, seed=0)
    teacher = MLP([64, 256, 256, 10], seed=0)
    configs = configurations()
    times = {name: [] for name in configs}
    loads = []
    with threadpool_limits(1, user_api="blas"):
        for _ in range(args.repeats):
            loads.append(os.getloadavg()[0])
            for name, (strategy, student_args, train_args) in configs.items():
                trainer = KnowledgeDistillationTrainer(teacher, strategy, seed=0)
                student = MLP([64, 32, 10], seed=1, **student_args)
                t0 = time.perf_counter()
                history = trainer.train(student, X, y, epochs=4, batch_size=32,
                                        optimizer=SGD(0.05, momentum=0.9), verbose=0, **train_args)
                total = time.perf_counter() - t0
                times[name].append((median(history.epoch_time[1:]), total - sum(history.epoch_time)))
    rows = []
    for name, ts in times.items():
        ratios = [t[0] / base[0] for t, base in zip(ts, times["KD"], strict=True)]
        rows.append([name, f"{median([t[0] for t in ts]) * 1e3:.1f} ms", f"{median(ratios):.2f}x",
                     f"{median([t[1] for t in ts]) * 1e3:.1f} ms"])
    print(f"{args.repeats} interleaved rounds; 1-minute load average {min(loads):.1f}-{max(loads):.1f}")
    print("epoch: one epoch of 1,203 digits (38 steps), History.epoch_time, median of epochs 2-4; setup: the")
    print("rest of the train call (checks, the teacher cache of logits and hidden layers), once per call")
    print(table(["configuration", "epoch (median)", "epoch vs KD (median of per-round ratios)", "setup"], rows))


if __name__ == "__main__":
    main()
