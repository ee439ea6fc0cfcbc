"""Where the time of a training step goes: the four steps of ``train_step``, the divergence
check, the optimizer update and the loop around them, for the target-1 and target-2 workloads.

Each phase is timed by wrapping the method that implements it (``get_teacher_predictions`` and
``_batch_teacher_terms`` in trees that have it, ``student._forward_train``, ``strategy._compute``
(``_loss_and_gradient`` in trees before step 3 called ``_compute``), ``student._backward``,
``optimizer._step``) with ``time.perf_counter``; "grad norm + checks" is what ``train_step``
spends outside those calls (the global gradient norm, the finiteness test, the StepRecord, and
the wrappers' own overhead), and
"loop" is what ``train`` spends outside ``train_step`` (shuffling, ``X[idx]``, the epoch loss,
History). The wrappers add about a microsecond per call, which shows on the small model.
Medians over ``--repeats`` runs. ``--cprofile`` also prints the top of a cProfile run.

Run:  python benchmarks/profile_step.py [--workload small|hinton|both] [--cprofile]
"""

from __future__ import annotations

import cProfile
import math
import pstats
import time
import timeit

import numpy as np
from _common import accumulate_time, median, parser, print_machine, set_threads, table

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer
from minikd.datasets import load_digits, train_test_split

PHASES = ["1. teacher logits and terms (cache lookups)", "2. student forward", "3. loss and dlogits", "4a. backward",
          "4b. optimizer update", "grad norm + checks", "loop (shuffle, X[idx], bookkeeping)"]


def workload(name):
    if name == "small":
        X, y = load_digits()
        X, _, y, _ = train_test_split(X, y, test_size=0.33, seed=0)
        return X, y, MLP([64, 256, 256, 10], seed=0), [64, 32, 10], np.float64, 60, 32, 0.05
    rng = np.random.default_rng(0)
    X, y = rng.random((8192, 784), dtype=np.float32), rng.integers(0, 10, 8192)
    return X, y, MLP([784, 10], seed=0, dtype=np.float32), [784, 1200, 1200, 10], np.float32, 1, 128, 0.01


def timed_run(X, y, teacher, sizes, dtype, epochs, batch, lr):
    """One training run with every phase wrapped; returns {phase: seconds} and the step count."""
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
    student = MLP(sizes, seed=1, dtype=dtype)
    optimizer = SGD(learning_rate=lr, momentum=0.9)
    timers = {
        PHASES[0]: [accumulate_time(trainer, "get_teacher_predictions")],
        PHASES[1]: [accumulate_time(student, "_forward_train")],
        PHASES[2]: [accumulate_time(trainer.strategy, "_compute" if not hasattr(trainer, "_batch_teacher_terms")
                                    else "_loss_and_gradient")],
        PHASES[3]: [accumulate_time(student, "_backward")],
        PHASES[4]: [accumulate_time(optimizer, "_step")],
    }
    if hasattr(trainer, "_batch_teacher_terms"):  # minikd >= 12d55af: rows of the teacher's softened distribution
        timers[PHASES[0]].append(accumulate_time(trainer, "_batch_teacher_terms"))
    in_train_step = accumulate_time(trainer, "train_step")
    t0 = time.perf_counter()
    history = trainer.train(student, X, y, epochs=epochs, batch_size=batch, optimizer=optimizer, verbose=0)
    total = time.perf_counter() - t0
    epoch_total = sum(history.epoch_time)
    spent = {phase: sum(t[0] for t in ts) for phase, ts in timers.items()}
    spent[PHASES[5]] = in_train_step[0] - sum(spent.values())
    spent[PHASES[6]] = epoch_total - in_train_step[0]
    steps = epochs * -(-X.shape[0] // batch)
    return spent, steps, total, epoch_total


def grad_norm_cost(X, y, teacher, sizes, dtype, epochs, batch, lr) -> float:
    """Median seconds of train_step's gradient-norm expression on one batch's gradients (timeit)."""
    student = MLP(sizes, seed=1, dtype=dtype)
    logits, cache = student._forward_train(X[:batch].astype(dtype))
    strategy = DistillationLoss(temperature=4.0, alpha=0.1)
    _, dlogits, _ = strategy._loss_and_gradient(logits, teacher.forward(X[:batch]).astype(dtype), "index", y[:batch])
    grads = student._backward(dlogits, cache)
    number = 2000 if X.shape[1] < 100 else 20
    return median(timeit.repeat(lambda: math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())),
                                number=number, repeat=7)) / number


def main(argv=None):
    p = parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--workload", choices=["small", "hinton", "both"], default="both")
    p.add_argument("--cprofile", action="store_true")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    print_machine(None, threads)
    names = ["small", "hinton"] if args.workload == "both" else [args.workload]
    for name in names:
        data = workload(name)
        runs = [timed_run(*data) for _ in range(args.repeats + 1)][1:]  # the first run warms up
        steps = runs[0][1]
        epoch_total = median([r[3] for r in runs])
        rows = []
        for phase in PHASES:
            per_run = [r[0][phase] for r in runs]
            rows.append([phase, f"{1e6 * median(per_run) / steps:.1f}", f"{100 * median(per_run) / epoch_total:.0f} %"])
        rows.append(["epochs total", f"{1e6 * epoch_total / steps:.1f}", "100 %"])
        norm = grad_norm_cost(*data)
        rows.append(["(of which the grad norm alone, timeit)", f"{1e6 * norm:.1f}",
                     f"{100 * norm * steps / epoch_total:.0f} %"])
        title = ("small: [64, 32, 10] float64, digits, batch 32, 60 epochs" if name == "small" else
                 "hinton: [784, 1200, 1200, 10] float32, 8,192 samples, batch 128, 1 epoch")
        print(f"{title}; {steps} steps; medians of {args.repeats} runs")
        print(table(["phase", "µs per step", "share of the epochs"], rows))
        print("(step 1 is timed inside the epochs; the teacher's one pass to fill the cache happens before "
              "epoch 1 and is not in this table)\n")
        if args.cprofile:
            X, y, teacher, sizes, dtype, epochs, batch, lr = data
            trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0)
            profile = cProfile.Profile()
            profile.runcall(trainer.train, MLP(sizes, seed=1, dtype=dtype), X, y, epochs=epochs, batch_size=batch,
                            optimizer=SGD(learning_rate=lr, momentum=0.9), verbose=0)
            pstats.Stats(profile).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
