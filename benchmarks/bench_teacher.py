"""Target 3 -- teacher cost: with caching, the teacher runs once per training sample per run.

Counts what a teacher is asked to do during ``KnowledgeDistillationTrainer.train`` on the
target-1 workload (digits training split, 1,203 samples, batch 32, 60 epochs, with a
validation set of 594 samples), with ``cache_teacher_logits`` True (the default) and False,
and times the two runs. The teacher is the [64, 256, 256, 10] MLP of the tutorials, wrapped in
a counter. The cache is filled at the start of ``train`` in fixed chunks of
``teacher_chunk_size`` (1,024) rows in data-set order, which keeps resuming bit-exact.

Run:  python benchmarks/bench_teacher.py [--repeats 5]
"""

from __future__ import annotations

from _common import median, parser, print_machine, set_threads, table, timed

from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer
from minikd.datasets import load_digits, train_test_split

EPOCHS, BATCH = 60, 32


class CountingTeacher:
    """A teacher (callable X -> logits) that counts its calls and the rows it is given."""

    def __init__(self, model):
        self.model, self.calls, self.rows = model, 0, 0

    def __call__(self, X):
        self.calls += 1
        self.rows += X.shape[0]
        return self.model.forward(X)


def main(argv=None):
    args = parser(__doc__.splitlines()[0], repeats=5).parse_args(argv)
    threads = set_threads(args.threads)
    print_machine(None, threads)
    X, y = load_digits()
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.33, seed=0)
    n, n_val = X_train.shape[0], X_val.shape[0]
    n_batches = -(-n // BATCH)
    print(f"{n} training and {n_val} validation samples, batch {BATCH} ({n_batches} batches), {EPOCHS} epochs\n")

    rows = []
    for cache in (True, False):
        times = []
        for _ in range(args.repeats):
            teacher = CountingTeacher(MLP([64, 256, 256, 10], seed=0))
            trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=4.0, alpha=0.1), seed=0,
                                                   cache_teacher_logits=cache)
            wall, _, _ = timed(trainer.train, MLP([64, 32, 10], seed=1), X_train, y_train, epochs=EPOCHS,
                               batch_size=BATCH, optimizer=SGD(0.05, momentum=0.9),
                               validation_data=(X_val, y_val), verbose=0)
            times.append(wall)
        # The validation set's logits are computed once per run. Without the cache, train() also
        # asks a plain-callable teacher for one sample's logits up front, to learn its number of
        # classes (with the cache, filling it tells).
        probe = 0 if cache else 1
        train_rows = teacher.rows - n_val - probe
        rows.append([
            "on (default)" if cache else "off", teacher.calls, f"{teacher.rows:,}",
            f"{train_rows / n:.2f}", f"{median(times):.2f}",
        ])
    print(table(["cache_teacher_logits", "teacher calls", "teacher rows",
                 "teacher passes per training sample per run", "train() s (median)"], rows))
    print(f"\nWith the cache: {-(-n // 1024)} calls (1,024-row chunks) over the {n} training samples, plus one call "
          f"on the {n_val} validation samples; without it, one call per batch per epoch "
          f"({EPOCHS} x {n_batches} = {EPOCHS * n_batches}) plus the validation call and a one-sample call "
          "that tells train() the teacher's number of classes.")


if __name__ == "__main__":
    main()
